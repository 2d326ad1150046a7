"""Isolation on a real node, each wall proven on its own: the deny-all NetworkPolicy
(enforced by kube-router), the runner's seccomp filter, no credentials, a non-root UID,
no capabilities, a read-only root filesystem, and a report the program cannot forge."""

import json

import pytest

from conftest import NODE_IP, expect, plain_pod, run, wait_pod_ended
import kube

# Tries TCP connections to the apiserver and the kubelet on the node's address, after a
# pause that lets kube-router program the Pod's firewall chains.
PROBE = f"""
import socket, time
time.sleep(8)
for port in (6443, 10250):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(("{NODE_IP}", port))
        print(port, "open", flush=True)
    except OSError as e:
        print(port, "blocked", type(e).__name__, flush=True)
    finally:
        s.close()
"""


def probe_pod(name, labels):
    return plain_pod(name, labels, command=["python3", "-c", PROBE])


def pod_output(ns, name):
    wait_pod_ended(ns, name)
    return kube.kubectl("logs", name, "-n", ns).stdout


def test_network_policy_walls_off_labelled_pods_only(namespace):
    # A first run makes the controller install the deny-all policy in the namespace.
    _, st = run(namespace, "policy-first", "print('ok')")
    expect(st, "Succeeded", "Completed")
    assert kube.get("networkpolicy", kube.POLICY_NAME, namespace)
    kube.create(probe_pod("probe-managed", {kube.MANAGED_BY: kube.CONTROLLER_NAME}), namespace)
    kube.create(probe_pod("probe-plain", {"app": "probe"}), namespace)
    managed = pod_output(namespace, "probe-managed")
    plain = pod_output(namespace, "probe-plain")
    # Without the label the same Pod reaches both: the policy, not the routing, is the wall.
    assert plain.splitlines() == ["6443 open", "10250 open"], plain
    lines = managed.splitlines()
    assert [l.split()[:2] for l in lines] == [["6443", "blocked"], ["10250", "blocked"]], managed


def test_seccomp_refuses_inet_sockets(namespace):
    code = ("import socket, errno\n"
            "for fam in (socket.AF_INET, socket.AF_INET6):\n"
            "    try:\n"
            "        socket.socket(fam, socket.SOCK_STREAM)\n"
            "        print(fam.name, 'created')\n"
            "    except OSError as e:\n"
            "        print(fam.name, errno.errorcode[e.errno])\n"
            "socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()\n"
            "print('unix ok')")
    _, st = run(namespace, "seccomp", code)
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == "AF_INET EPERM\nAF_INET6 EPERM\nunix ok\n"


def test_no_credentials_no_root_no_capabilities_read_only_root(namespace):
    code = ("import os, errno, json\n"
            "caps = {l.split(':')[0]: int(l.split()[1], 16) for l in open('/proc/self/status')\n"
            "        if l.startswith('Cap')}\n"
            "def try_write(path):\n"
            "    try:\n"
            "        open(path, 'w').close()\n"
            "        return 'written'\n"
            "    except OSError as e:\n"
            "        return errno.errorcode[e.errno]\n"
            "print(json.dumps({\n"
            "  'token': os.path.exists('/var/run/secrets/kubernetes.io/serviceaccount'),\n"
            "  'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(),\n"
            "  'caps': caps,\n"
            "  'root_write': try_write('/coderun-test'),\n"
            "  'usr_write': try_write('/usr/local/bin/x'),\n"
            "  'tmp_write': try_write('/tmp/x'),\n"
            "  'env_token': [k for k in os.environ if 'TOKEN' in k or 'KUBERNETES' in k],\n"
            "}))")
    _, st = run(namespace, "walls", code)
    expect(st, "Succeeded", "Completed")
    got = json.loads(st["stdout"])
    assert got["token"] is False
    assert got["uid"] != 0 and got["euid"] != 0 and got["gid"] != 0, got
    assert got["caps"]["CapEff"] == 0 and got["caps"]["CapPrm"] == 0, got
    assert got["caps"]["CapBnd"] == 0 and got["caps"]["CapAmb"] == 0, got
    assert got["root_write"] == "EROFS" and got["usr_write"] == "EROFS", got
    assert got["tmp_write"] == "written", got
    assert got["env_token"] == [], got


def forged_frame(stdout="FORGED\n"):
    doc = json.dumps({"exitCode": 0, "stdout": stdout, "stderr": "", "reason": "Completed"})
    return f"coderun-report/v1 {len(doc)}\n{doc}\ncoderun-report-end\n"


@pytest.mark.parametrize("name,code,want_exit,want_stdout", [
    # A look-alike frame printed to stdout and stderr is output, nothing more.
    ("printed", f"import sys\nsys.stdout.write({forged_frame()!r})\n"
                f"sys.stderr.write({forged_frame()!r})\nsys.exit(3)", 3, forged_frame()),
    # The runner is not dumpable: its fds are not the program's to open.
    ("proc-fd", "import errno\n"
                "for fd in (1, 2):\n"
                "    try:\n"
                f"        open(f'/proc/1/fd/{{fd}}', 'w').write({forged_frame()!r})\n"
                "        print(fd, 'written')\n"
                "    except OSError as e:\n"
                "        print(fd, errno.errorcode[e.errno])\n"
                "import sys; sys.exit(5)", 5, "1 EACCES\n2 EACCES\n"),
    # SIGTERM (and SIGKILL, which the kernel never delivers to a namespace's init from
    # inside) do not stop the runner; with Landlock ABI >= 6 the kill() itself is refused.
    ("signal-pid1", "import os, signal, time\n"
                    "for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL):\n"
                    "    try:\n"
                    "        os.kill(1, sig)\n"
                    "    except PermissionError:\n"
                    "        pass\n"
                    "time.sleep(1)\n"
                    "print('still here')\n"
                    "raise SystemExit(7)", 7, "still here\n"),
    # A setsid child that outlives the program and writes a frame later is killed first.
    ("setsid-child", "import os, sys, time\n"
                     "if os.fork() == 0:\n"
                     "    os.setsid()\n"
                     "    time.sleep(1)\n"
                     f"    sys.stdout.write({forged_frame()!r})\n"
                     "    sys.stdout.flush()\n"
                     "    try:\n"
                     f"        open('/proc/1/fd/1', 'w').write({forged_frame()!r})\n"
                     "    except OSError:\n"
                     "        pass\n"
                     "    os._exit(0)\n"
                     "print('parent done', flush=True)\n"
                     "os._exit(9)", 9, "parent done\n"),
])
def test_report_cannot_be_forged(namespace, name, code, want_exit, want_stdout):
    _, st = run(namespace, f"forge-{name}", code)
    expect(st, "Failed", "NonZeroExit", name)
    assert st["exitCode"] == want_exit
    assert st["stdout"] == want_stdout
