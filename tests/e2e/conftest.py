"""pytest fixtures for the end-to-end tests: the single-node cluster of
`tests/cluster/up` (node mode: a real kubelet, containerd, runc, kube-proxy and
kube-router in the network namespace coderun-node) with its controller running as a host
process, and a fresh PSA-restricted namespace per test module.

Every wait that times out prints the controller's log tail, the namespace's events and
`kubectl describe` of the objects involved (kube.Diagnostics)."""

import os
import re
import subprocess
import sys
import urllib.request
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import kube  # noqa: E402

CONTROLLER_HTTP = "127.0.0.1:18080"
CONTROLLER_LOG = os.path.join(kube.CLUSTER, "logs", "coderun-controller.log")
NODE_IP = "10.213.0.2"
RUNNER_IMAGE = "localhost/coderun/runner:dev"


class ClusterController:
    """The controller `tests/cluster/up` runs (all namespaces); only its log and
    /metrics are read here."""

    log_path = CONTROLLER_LOG

    def log_tail(self, n=80):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except FileNotFoundError:
            return "(no controller log)"

    def metrics_text(self):
        with urllib.request.urlopen(f"http://{CONTROLLER_HTTP}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        return kube.parse_metric(self.metrics_text(), name, labels)


def _mode():
    try:
        with open(os.path.join(kube.CLUSTER, "mode")) as f:
            return f.read().strip()
    except OSError:
        return None


def _controller_ready():
    try:
        with urllib.request.urlopen(f"http://{CONTROLLER_HTTP}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def node_cluster():
    """The single-node cluster, brought up (idempotently) if it is not the one running."""
    if _mode() != "node" or not kube.readyz() or not _controller_ready():
        subprocess.run(["bash", os.path.join(kube.REPO, "tests", "cluster", "up")],
                       check=True, timeout=3600)
        kube.APISERVER = kube._admin_server()
    kube.wait_for(kube.readyz, 60, "kube-apiserver /readyz")
    kube.wait_for(_controller_ready, 60, "the cluster's controller /readyz")
    kube.DIAG.controller = ClusterController()
    return kube.APISERVER


@pytest.fixture(scope="session")
def controller(node_cluster):
    return kube.DIAG.controller


def make_namespace(prefix):
    return kube.make_namespace(f"e2e-{prefix}-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def namespace(node_cluster, request):
    base = re.sub(r"[^a-z0-9-]+", "-", request.module.__name__.lower()).strip("-")[-30:]
    ns = make_namespace(base.strip("-"))
    kube.DIAG.namespace = ns
    yield ns
    kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def plain_pod(name, labels=None, command=None, args=None):
    """A Pod that is not a run (no runner as PID 1, no seccomp filter of ours) in the
    restricted shape, running the runner image's own Python or entrypoint."""
    container = {"name": "main", "image": RUNNER_IMAGE, "imagePullPolicy": "Never",
                 "securityContext": {"allowPrivilegeEscalation": False,
                                     "readOnlyRootFilesystem": True,
                                     "capabilities": {"drop": ["ALL"]}}}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [container]}}


def wait_pod_ended(ns, name, timeout=90):
    """Waits for a plain Pod to end; returns it."""
    def ended():
        pod = kube.get("pod", name, ns)
        return pod if pod and pod["status"].get("phase") in ("Succeeded", "Failed") else None
    return kube.wait_for(ended, timeout, f"Pod {ns}/{name} to end", objects=[("pod", name, ns)])


TERMINAL = ("Succeeded", "Failed")


def run(ns, name, code, timeout=90, **spec):
    """Creates a CodeRun and waits for a terminal phase; returns (CodeRun, status)."""
    cr = kube.create(kube.coderun(name, code, **spec), ns)
    st = wait_terminal(ns, name, timeout)
    return cr, st


def wait_terminal(ns, name, timeout=90):
    def check():
        st = kube.status_of(name, ns)
        return st if st.get("phase") in TERMINAL else None
    return kube.wait_for(check, timeout, f"CodeRun {ns}/{name} to finish",
                         objects=[("coderun", name, ns), ("pods", None, ns)], interval=0.1)


def expect(st, phase, reason, what=""):
    """Asserts phase and reason, showing the whole status otherwise."""
    assert (st.get("phase"), st.get("reason")) == (phase, reason), \
        f"{what}: expected {phase}/{reason}, got status {st!r}\n" + kube.DIAG.dump()
