"""A TCP proxy between one controller and the apiserver that can be frozen: while frozen,
every byte in either direction is swallowed (connections stay open, nothing arrives), which
is what a leader sees of a hung apiserver or a partitioned network. Listens on 127.0.0.1
only; forwards to the local cluster's apiserver address only."""

import select
import socket
import threading


class FreezableProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.frozen = threading.Event()
        self.closing = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.swallowed = 0          # bytes dropped while frozen
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def freeze(self):
        self.frozen.set()

    def thaw(self):
        self.frozen.clear()

    def close(self):
        self.closing.set()
        self.listener.close()

    def _accept(self):
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            t = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            t.start()

    def _pump(self, a, b):
        peer = {a: b, b: a}
        try:
            while not self.closing.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.frozen.is_set():
                        with self.lock:
                            self.swallowed += len(data)
                        continue
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()
