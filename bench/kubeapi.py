"""The apiserver access the benchmarks share: the admin client certificate of the local
cluster, the server from .cluster/kubeconfig (127.0.0.1 for the control plane alone, the
node's veth address for the single-node cluster), keep-alive calls and streamed watches."""

import http.client
import json
import os
import re
import ssl
import threading
import time
from urllib.parse import urlparse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PKI = os.path.join(REPO, ".cluster", "pki")


def _server():
    try:
        with open(os.path.join(REPO, ".cluster", "kubeconfig")) as f:
            m = re.search(r"^\s*server:\s*(\S+)", f.read(), re.M)
        u = urlparse(m.group(1))
        return u.hostname, u.port or 443
    except (OSError, AttributeError):
        return "127.0.0.1", 6443


HOST, PORT = _server()
CR = "/apis/coderun.dev/v1alpha1/namespaces/{ns}/coderuns"


def context():
    ctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.crt"))
    ctx.load_cert_chain(os.path.join(PKI, "admin.crt"), os.path.join(PKI, "admin.key"))
    return ctx


class Api:
    """One keep-alive connection per thread."""

    def __init__(self):
        self.local = threading.local()
        self.ctx = context()

    def conn(self):
        if not hasattr(self.local, "c"):
            self.local.c = http.client.HTTPSConnection(HOST, PORT, context=self.ctx, timeout=60)
        return self.local.c

    def call(self, method, path, body=None, ctype="application/json"):
        for attempt in range(3):
            try:
                c = self.conn()
                c.request(method, path, body=None if body is None else json.dumps(body),
                          headers={"Content-Type": ctype, "Accept": "application/json"})
                r = c.getresponse()
                data = r.read()
                if r.status >= 300:
                    raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
                return json.loads(data) if data else None
            except (http.client.HTTPException, ConnectionError):
                del self.local.c
                if attempt == 2:
                    raise


def watch(path, on_event, stop):
    """Streams a watch in a thread; on_event(type, obj, arrival_time)."""
    def run():
        c = http.client.HTTPSConnection(HOST, PORT, context=context(), timeout=600)
        c.request("GET", path)
        r = c.getresponse()
        while not stop.is_set():
            line = r.readline()
            if not line:
                break
            ev = json.loads(line)
            on_event(ev["type"], ev["object"], time.monotonic())
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def ms(x):
    return f"{x * 1000:.1f} ms"


def make_namespace(api, ns):
    api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": ns}})
    # Pod admission needs the default ServiceAccount; kube-controller-manager creates it.
    deadline = time.monotonic() + 60
    while True:
        try:
            api.call("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/default")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
