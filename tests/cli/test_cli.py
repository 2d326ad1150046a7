"""The controller binary's behaviour on bad input, without a cluster: a malformed
kubeconfig or unreadable CA exits 2 with one line naming the file; an unreachable
apiserver means retries with capped backoff, /readyz false, no log flood, and SIGTERM
still stops it at once."""

import base64
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

BINARY = os.environ.get("CODERUN_CONTROLLER", "")
pytestmark = pytest.mark.skipif(not os.path.exists(BINARY), reason="CODERUN_CONTROLLER not built")

# A syntactically valid self-signed CA (never used to verify anything here).
CA_PEM = subprocess.run(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null",
     "-subj", "/CN=test-ca", "-days", "1"], capture_output=True, text=True, check=True).stdout


def kubeconfig(server="https://127.0.0.1:1", cluster_extra=None, user=None):
    cluster = cluster_extra or f"certificate-authority-data: {base64.b64encode(CA_PEM.encode()).decode()}"
    user = user or "token: abc"
    return f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: {server}
    {cluster}
users:
- name: u
  user:
    {user}
contexts:
- name: x
  context: {{cluster: c, user: u}}
current-context: x
"""


def run(args, timeout=20):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.mark.parametrize("name,content,expect", [
    ("bad-yaml", "clusters: [\n  - {", "invalid YAML"),
    ("no-context", kubeconfig().replace("current-context: x", "current-context: nope"), "nope"),
    ("bad-base64", kubeconfig(cluster_extra="certificate-authority-data: '%%%not base64'"),
     "base64"),
    ("ca-not-pem", kubeconfig(cluster_extra="certificate-authority-data: "
                              + base64.b64encode(b"hello").decode()), "PEM"),
    ("missing-ca-file", kubeconfig(cluster_extra="certificate-authority: /nonexistent/ca.crt"),
     "/nonexistent/ca.crt"),
])
def test_bad_kubeconfig_exits_2_with_one_line_naming_the_file(name, content, expect):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(tmp, name, content)
        proc = run(["--kubeconfig", path])
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert path in lines[0] and expect in lines[0], lines[0]


def test_missing_kubeconfig_file_exits_2():
    proc = run(["--kubeconfig", "/nonexistent/kubeconfig"])
    assert proc.returncode == 2
    assert "/nonexistent/kubeconfig" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_flag_exits_2_and_help_exits_0():
    assert run(["--workers", "0"]).returncode == 2
    assert run(["--uid-range", "5-1"]).returncode == 2
    assert run(["--max-memory", "lots"]).returncode == 2
    help_ = run(["--help"])
    assert help_.returncode == 0 and "--max-pending-seconds" in help_.stdout
    for flag in ("--runtime-class-name", "--image-pull-secret", "--node-selector",
                 "--tolerations", "--priority-class-name"):
        assert flag in help_.stdout


@pytest.mark.parametrize("args,expect", [
    (["--node-selector", "pool"], "KEY=VALUE"),
    (["--node-selector", "pool=a b"], "label value"),
    (["--tolerations", "[{"], "not valid JSON"),
    (["--tolerations", '{"key": "a"}'], "JSON array"),
    (["--tolerations", '[{"key": "a", "operator": "Maybe"}]'], "operator"),
    (["--priority-class-name", "Low Priority"], "not a valid name"),
])
def test_bad_placement_flag_exits_2_with_one_line(args, expect):
    proc = run(args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert args[0] in lines[0] and expect in lines[0], lines[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_unreachable_apiserver_retries_quietly_is_not_ready_and_stops_on_sigterm():
    dead = free_port()  # nothing listens there
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = write(tmp, "kubeconfig", kubeconfig(server=f"https://127.0.0.1:{dead}"))
        log_path = os.path.join(tmp, "log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([BINARY, "--kubeconfig", path, "--http-address",
                                     f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if http_status(port, "/healthz") == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            assert http_status(port, "/healthz") == 200
            time.sleep(8)
            assert proc.poll() is None, "it must keep retrying, not exit"
            assert http_status(port, "/readyz") == 503
            with open(log_path) as f:
                lines = f.read().splitlines()
            # Three informers and the API probe, each backing off from 100 ms towards 30 s:
            # a few dozen lines in 8 s at most, never a flood.
            assert 3 <= len(lines) <= 80, "\n".join(lines[-20:])
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert time.monotonic() - started < 5
        finally:
            if proc.poll() is None:
                proc.kill()
