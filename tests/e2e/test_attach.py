"""pods/attach through kube::Client::AttachStdin (the test tool coderun-attach) on the real
node, as warm pools deliver a run's request: the bytes reach a container's stdin whole, then
EOF; a refused attach is one line and exit 1, whoever the caller (client certificate or
bearer token)."""

import hashlib
import os
import subprocess

import pytest

import kube
from conftest import plain_pod, wait_pod_ended

ATTACH = os.environ.get("CODERUN_ATTACH") or os.path.join(kube.REPO, "build", "controller",
                                                          "kube", "coderun-attach")

# Reads all of stdin (so it ends only at EOF) and prints its length and hash.
READER = """import hashlib, sys
data = sys.stdin.buffer.read()
print(len(data), hashlib.sha256(data).hexdigest())
"""


@pytest.fixture(scope="module", autouse=True)
def tool():
    assert os.access(ATTACH, os.X_OK), \
        f"build it first: cmake --build build --target coderun-attach ({ATTACH})"


def start_reader(ns, name):
    """A plain Pod whose python3 reads its stdin (stdin and stdinOnce, as a warm Pod's
    runner), once its container runs."""
    pod = plain_pod(name, command=["python3", "-c", READER])
    pod["spec"]["containers"][0].update(stdin=True, stdinOnce=True)
    kube.create(pod, ns)
    kube.wait_for(lambda: (kube.get("pod", name, ns) or {}).get("status", {}).get("phase")
                  == "Running", 90, f"Pod {ns}/{name} to run", objects=[("pod", name, ns)])


def attach(ns, pod, data, container="main", kubeconfig=kube.ADMIN_KUBECONFIG):
    return subprocess.run([ATTACH, f"--kubeconfig={kubeconfig}", ns, pod, container],
                          input=data, capture_output=True, timeout=60)


def expect_read(ns, name, data):
    """The Pod's program read exactly `data`, saw EOF and exited 0."""
    pod = wait_pod_ended(ns, name)
    log = kube.kubectl("logs", name, "-n", ns).stdout
    assert pod["status"]["phase"] == "Succeeded", \
        f"{pod['status']}\nlog: {log}\n" + kube.DIAG.dump([("pod", name, ns)])
    assert log.split() == [str(len(data)), hashlib.sha256(data).hexdigest()], log


def expect_one_line_error(proc, *parts):
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, err)
    assert err.startswith("coderun-attach: ") and err.count("\n") == 1 and err.endswith("\n"), err
    for part in parts:
        assert part in err, err


def test_a_mebibyte_reaches_stdin_whole_and_then_eof(namespace):
    start_reader(namespace, "reader")
    data = os.urandom(1 << 20)
    proc = attach(namespace, "reader", data)
    assert proc.returncode == 0, proc.stderr.decode() + kube.DIAG.dump([("pod", "reader",
                                                                         namespace)])
    assert (proc.stdout, proc.stderr) == (b"", b"")
    expect_read(namespace, "reader", data)


def test_attaching_to_a_missing_pod_is_one_line_not_found(namespace):
    proc = attach(namespace, "no-such-pod", b"x")
    expect_one_line_error(proc, 'pods "no-such-pod" not found', "HTTP 404", "NotFound")


def test_attaching_to_a_missing_container_is_one_line_bad_request(namespace):
    start_reader(namespace, "reader-2")
    expect_one_line_error(attach(namespace, "reader-2", b"x", container="nope"),
                          "container nope is not valid for pod reader-2", "HTTP 400")
    data = b"still unused\n"
    assert attach(namespace, "reader-2", data).returncode == 0
    expect_read(namespace, "reader-2", data)


def test_a_bearer_token_goes_with_the_upgrade(namespace, tmp_path):
    """A ServiceAccount allowed pods/attach (get: the WebSocket's GET on 1.34; create too from
    1.35) gets through with its token; one without is refused, in one line."""
    kube.kubectl("create", "role", "attacher", "--verb=get,create", "--resource=pods/attach",
                 "-n", namespace)
    for account in ("attacher", "stranger"):
        kube.kubectl("create", "serviceaccount", account, "-n", namespace)
    kube.kubectl("create", "rolebinding", "attacher", "--role=attacher",
                 f"--serviceaccount={namespace}:attacher", "-n", namespace)
    allowed = kube.service_account_kubeconfig(tmp_path / "attacher", "attacher", namespace)
    refused = kube.service_account_kubeconfig(tmp_path / "stranger", "stranger", namespace)
    kube.wait_for(lambda: kube.kubectl("auth", "can-i", "get", "pods", "--subresource=attach",
                                       "-n", namespace, kubeconfig=allowed,
                                       check=False).stdout.strip() == "yes",
                  60, "the attacher role to take effect")
    start_reader(namespace, "reader-3")
    expect_one_line_error(attach(namespace, "reader-3", b"x", kubeconfig=refused), "HTTP 403",
                          "system:serviceaccount:" + namespace + ":stranger",
                          'cannot get resource "pods/attach"')
    data = os.urandom(100_000)
    proc = attach(namespace, "reader-3", data, kubeconfig=allowed)
    assert proc.returncode == 0, proc.stderr.decode()
    expect_read(namespace, "reader-3", data)
