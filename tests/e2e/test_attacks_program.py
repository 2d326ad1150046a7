"""Attacks by the program itself, each run as a real CodeRun on the local node, each
asserting the safe outcome: the run's real verdict, its real CPU usage, bounded node disk,
and walls (seccomp, Landlock, a non-dumpable PID 1) that hold.

Forged stop signals (SIGIO, rt_sigqueueinfo), CPU hidden in auto-reaped children and
writes to /dev/termination-log got through on main before issue 9; the rest are classic
sandbox attacks that test_isolation.py does not already cover."""

import json
import os
import threading
import time

import pytest

from conftest import expect, run, wait_terminal
import kube

NODE_KUBELET_PODS = os.path.join(kube.CLUSTER, "node", "kubelet", "pods")
RUNNER_CONTAINER = "runner"

# Sends SIGTERM to PID 1 (the runner) so that the kernel leaves si_pid 0, then lives on and
# exits 3: the run must end Failed/NonZeroExit with exit code 3, not PodFailed.
FORGE_SIGIO = """
import fcntl, os, signal, time
r, w = os.pipe()
try:
    fcntl.fcntl(r, fcntl.F_SETOWN, 1)
    fcntl.fcntl(r, 10, signal.SIGTERM)  # F_SETSIG
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
    os.write(w, b'x')
except OSError as e:
    print('refused', e.errno)
time.sleep(3)
print('still here')
raise SystemExit(3)
"""

FORGE_SIGQUEUEINFO = """
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
info = (ctypes.c_int * 32)()
info[0], info[2] = signal.SIGTERM, -1   # si_signo; si_code = SI_QUEUE; si_pid stays 0
for _ in range(3):
    libc.syscall(129, 1, signal.SIGTERM, info)   # rt_sigqueueinfo(1, SIGTERM, &info)
time.sleep(3)
print('still here')
raise SystemExit(3)
"""


@pytest.mark.parametrize("name,code", [("sigio", FORGE_SIGIO),
                                       ("sigqueueinfo", FORGE_SIGQUEUEINFO)])
def test_forged_stop_signal_does_not_turn_the_run_into_a_platform_failure(namespace, name,
                                                                           code):
    _, st = run(namespace, f"forge-stop-{name}", code)
    expect(st, "Failed", "NonZeroExit", name)
    assert st["exitCode"] == 3, st
    assert st["stdout"].endswith("still here\n"), st


def test_signals_to_pid1_do_not_end_the_run(namespace):
    # kill, tgkill, pidfd_send_signal and kill(-1): refused (Landlock's signal scope) or
    # delivered and ignored (a signal from inside the namespace never stops the runner).
    code = """
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
            signal.SIGKILL, signal.SIGSTOP):
    try:
        os.kill(1, sig)
    except PermissionError:
        pass
libc.syscall(234, 1, 1, signal.SIGTERM)            # tgkill(1, 1, SIGTERM)
pidfd = libc.syscall(434, 1, 0)                    # pidfd_open(1, 0)
if pidfd >= 0:
    libc.syscall(424, pidfd, signal.SIGTERM, None, 0)   # pidfd_send_signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
try:
    os.kill(-1, signal.SIGTERM)
except OSError:
    pass
time.sleep(2)
print('still here')
raise SystemExit(7)
"""
    _, st = run(namespace, "signal-pid1-all", code)
    expect(st, "Failed", "NonZeroExit")
    assert st["exitCode"] == 7, st
    assert st["stdout"] == "still here\n", st


def test_cpu_of_children_reaped_by_the_kernel_is_counted(namespace):
    # SIGCHLD ignored: the kernel reaps the children itself, so no wait status carries their
    # CPU; only the cgroup sees it.
    code = """
import os, signal, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for _ in range(2):
    if os.fork() == 0:
        end = time.process_time() + 1.0
        while time.process_time() < end:
            pass
        os._exit(0)
try:
    os.waitpid(-1, 0)   # ECHILD once both are gone
except ChildProcessError:
    pass
print('done')
"""
    _, st = run(namespace, "hidden-cpu", code, limits={"timeoutSeconds": 20})
    expect(st, "Succeeded", "Completed")
    assert st["usage"]["cpuMillis"] >= 1500, st["usage"]


def _node_files_of(pod_uid, container):
    """Sizes of the kubelet's files for one container (its termination-log files) on the
    node's disk."""
    d = os.path.join(NODE_KUBELET_PODS, pod_uid, "containers", container)
    sizes = {}
    try:
        for f in os.listdir(d):
            try:
                sizes[f] = os.stat(os.path.join(d, f)).st_size
            except OSError:
                pass
    except OSError:
        pass
    return sizes


def test_termination_log_cannot_fill_the_node_disk(namespace):
    # 64 MiB (RLIMIT_FSIZE) to the kubelet's world-writable termination log, directly, via a
    # symlink planted in /tmp and via /proc/self/root; then the program waits while the test
    # measures the file on the node's disk.
    code = """
import errno, os, time
os.symlink('/dev/termination-log', '/tmp/tl')
block = b'x' * (1 << 20)
for path in ('/dev/termination-log', '/tmp/tl', '/proc/self/root/dev/termination-log'):
    written = 0
    try:
        with open(path, 'ab', buffering=0) as f:
            for _ in range(64):
                written += f.write(block)
        print(path, 'wrote', written)
    except OSError as e:
        print(path, errno.errorcode[e.errno], written)
print('waiting', flush=True)
time.sleep(8)
"""
    cr = kube.create(kube.coderun("termination-log", code, limits={"timeoutSeconds": 20}),
                     namespace)
    pod_name = kube.pod_name_for(cr)
    largest = {"bytes": 0, "samples": 0, "files": 0}

    def measure():
        pod = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pod = pod or kube.get("pod", pod_name, namespace)
            st = kube.status_of("termination-log", namespace)
            if pod:
                sizes = _node_files_of(pod["metadata"]["uid"], RUNNER_CONTAINER)
                if sizes:
                    largest["samples"] += 1
                    largest["files"] = max(largest["files"], len(sizes))
                    largest["bytes"] = max(largest["bytes"], max(sizes.values()))
            if st.get("phase") in ("Succeeded", "Failed"):
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=measure)
    watcher.start()
    st = wait_terminal(namespace, "termination-log", timeout=90)
    watcher.join()
    expect(st, "Succeeded", "Completed")
    lines = st["stdout"].splitlines()
    assert lines[-1] == "waiting", st
    for line in lines[:-1]:
        path, outcome, written = line.split()
        assert outcome != "wrote" and int(written) == 0, st["stdout"]
    # The run was measured while it waited, and nothing of size landed on the node.
    assert largest["samples"] >= 5 and largest["files"] >= 1, largest
    assert largest["bytes"] <= 4096, largest


def test_sockets_of_every_family_but_unix_are_refused(namespace):
    code = """
import socket, json
made, pairs = [], []
for family in range(0, 46):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET):
        try:
            socket.socket(family, kind).close()
            made.append(family)
        except OSError:
            pass
        try:
            a, b = socket.socketpair(family, kind)
            a.close(); b.close()
            pairs.append(family)
        except OSError:
            pass
print(json.dumps({'made': sorted(set(made)), 'pairs': sorted(set(pairs))}))
"""
    _, st = run(namespace, "socket-families", code)
    expect(st, "Succeeded", "Completed")
    got = json.loads(st["stdout"])
    assert got == {"made": [1], "pairs": [1]}, got   # AF_UNIX only


def test_kernel_attack_surface_syscalls_fail(namespace):
    code = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    rc = libc.syscall(nr, *args)
    return 'ok' if rc >= 0 else os.strerror(ctypes.get_errno())
params = ctypes.create_string_buffer(120)
ns = os.open('/proc/self/ns/uts', os.O_RDONLY)
print(json.dumps({
    'io_uring_setup': call(425, 8, params),
    'x32_getpid': call(39 | 0x40000000),
    'x32_socket': call(41 | 0x40000000, 2, 1, 0),
    'ptrace_traceme': call(101, 0, 0, 0, 0),
    'ptrace_attach_1': call(101, 16, 1, 0, 0),
    'unshare_user': call(272, 0x10000000),
    'unshare_net': call(272, 0x40000000),
    'setns_uts': call(308, ns, 0),
}))
"""
    _, st = run(namespace, "syscalls", code)
    expect(st, "Succeeded", "Completed")
    got = json.loads(st["stdout"])
    assert all(v != "ok" for v in got.values()), got
    assert len(got) == 8, got


def test_proc_of_pid1_is_closed_even_through_tmp_symlinks(namespace):
    code = """
import errno, json, os
os.symlink('/proc/1/mem', '/tmp/mem')
os.symlink('/proc/1/environ', '/tmp/environ')
def attempt(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
def write_mem(path):
    with open(path, 'r+b', buffering=0) as f:
        f.seek(0x400000)
        f.write(b'\\xcc')
print(json.dumps({
    'environ': attempt(lambda: open('/proc/1/environ', 'rb').read()),
    'environ_via_tmp': attempt(lambda: open('/tmp/environ', 'rb').read()),
    'fd_list': attempt(lambda: os.listdir('/proc/1/fd')),
    'mem_read': attempt(lambda: open('/proc/1/mem', 'rb').read(1)),
    'mem_write': attempt(lambda: write_mem('/proc/1/mem')),
    'mem_write_via_tmp': attempt(lambda: write_mem('/tmp/mem')),
    'root': attempt(lambda: os.listdir('/proc/1/root/')),
    'cwd': attempt(lambda: os.listdir('/proc/1/cwd/')),
}))
"""
    _, st = run(namespace, "proc-pid1", code)
    expect(st, "Succeeded", "Completed")
    got = json.loads(st["stdout"])
    assert len(got) == 8 and all(v in ("EACCES", "EPERM") for v in got.values()), got


@pytest.mark.parametrize("name,how", [
    ("close", "os.close(1); os.close(2)"),
    ("devnull", "n = os.open(os.devnull, os.O_WRONLY); os.dup2(n, 1); os.dup2(n, 2)"),
])
def test_program_that_drops_its_own_output_still_gets_its_report(namespace, name, how):
    code = ("import os, sys\n"
            "print('kept', flush=True)\n"
            "sys.stderr.write('kept too\\n'); sys.stderr.flush()\n"
            f"{how}\n"
            "os._exit(0)\n")
    _, st = run(namespace, f"drop-output-{name}", code)
    expect(st, "Succeeded", "Completed", name)
    assert st["exitCode"] == 0
    assert st["stdout"] == "kept\n" and st["stderr"] == "kept too\n", st
