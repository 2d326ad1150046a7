"""pytest fixtures: a running control plane with crds/ and manifests/ applied, a
kubeconfig holding the controller ServiceAccount's token (so the controller runs with
exactly the RBAC of manifests/rbac.yaml), a fresh PSA-restricted namespace per test,
and the controller binary started per test (scoped to that namespace)."""

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import kube  # noqa: E402


def _mode():
    try:
        with open(os.path.join(kube.CLUSTER, "mode")) as f:
            return f.read().strip()
    except OSError:
        return "control-plane"   # what tests/cluster/up --control-plane-only left before modes


@pytest.fixture(scope="session")
def cluster():
    """Ensures the control plane is up and the CodeRun API and RBAC are installed."""
    # These tests play the kubelet: they need the control plane without a node (a real
    # kubelet would run their Pods and write their status too).
    if _mode() != "control-plane" or not kube.readyz():
        subprocess.run(["bash", os.path.join(kube.REPO, "tests", "cluster", "up"),
                        "--control-plane-only"], check=True, timeout=3600)
        kube.APISERVER = kube._admin_server()
        kube.wait_for(kube.readyz, 120, "kube-apiserver /readyz")
    kube.apply_path(os.path.join(kube.REPO, "crds"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                 "crd/coderuns.coderun.dev")
    # The namespace and RBAC only: manifests/controller.yaml (the controller Deployment)
    # stays out, since the tests run the controller binary themselves.
    for name in ("namespace.yaml", "rbac.yaml"):
        kube.apply_path(os.path.join(kube.REPO, "manifests", name))
    # Discovery and OpenAPI publishing lag behind Established a little.
    kube.wait_for(lambda: kube.kubectl("get", "crun", "-A", check=False).returncode == 0, 60,
                  "kubectl get crun to work")
    return kube.APISERVER


@pytest.fixture(scope="session")
def controller_kubeconfig(cluster, tmp_path_factory):
    """A kubeconfig for the coderun-controller ServiceAccount (token, CA data)."""
    path = tmp_path_factory.mktemp("controller") / "kubeconfig"
    return kube.service_account_kubeconfig(path, "coderun-controller", "coderun-system")


def _cleanup_namespace(ns):
    """Deletes the namespace; kube-controller-manager's namespace controller empties it."""
    kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def namespace(cluster, request):
    """A fresh namespace enforcing Pod Security `restricted`, once its `default`
    ServiceAccount exists (kube-controller-manager creates it; Pod admission needs it)."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    ns = f"it-{base}-{uuid.uuid4().hex[:6]}"
    try:
        kube.make_namespace(ns, labels={"coderun.dev/test": "integration"})
        kube.DIAG.namespace = ns
        yield ns
    finally:
        kube.DIAG.namespace = None
        _cleanup_namespace(ns)


@pytest.fixture(scope="session")
def controller_binary():
    path = os.environ.get("CODERUN_CONTROLLER", "")
    if not path or not os.access(path, os.X_OK):
        pytest.skip(f"controller binary not available (CODERUN_CONTROLLER={path!r})")
    return path


@pytest.fixture
def start_controller(controller_binary, controller_kubeconfig, namespace, tmp_path):
    """Factory: start_controller(*flags) starts the controller watching only this
    test's namespace and returns its kube.Controller. Stopped (by PID) at teardown."""
    started = []

    def start(*flags, namespaces=None, kubeconfig=None):
        ns_flags = []
        for ns in namespaces or [namespace]:
            ns_flags += ["--namespace", ns]
        workdir = tmp_path / f"controller-{len(started)}"
        workdir.mkdir()
        c = kube.Controller(controller_binary, kubeconfig or controller_kubeconfig,
                            [*ns_flags, *flags], str(workdir))
        started.append(c)
        kube.DIAG.controller = c
        return c.start()

    yield start
    for c in started:
        c.stop()
    kube.DIAG.controller = None

