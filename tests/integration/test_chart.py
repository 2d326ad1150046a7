"""The Helm chart against the real kube-apiserver: what it renders is accepted (server-side
dry run), and its ValidatingAdmissionPolicy, really applied, refuses look-alike run Pods
while admitting the Pods the controller creates."""

import copy
import json
import os
import subprocess
import uuid

import pytest
import yaml

import kube

CHART = os.path.join(kube.REPO, "helm", "coderun")
ALL_VALUES = os.path.join(CHART, "ci", "all-values.yaml")
RELEASE_NS = "coderun-system"


@pytest.fixture(scope="session")
def helm():
    return kube.find_helm()


def template(helm, *args, release="coderun"):
    """`helm template` of the chart against this apiserver's version; returns the text."""
    version = json.loads(kube.kubectl("version", "-o", "json").stdout)["serverVersion"]
    proc = subprocess.run(
        [helm, "template", release, CHART, "--namespace", RELEASE_NS,
         "--kube-version", version["gitVersion"], *args],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def server_dry_run(text):
    """Server-side apply as a dry run: every object through validation and admission."""
    proc = kube.kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server",
                        "--field-manager", "coderun-chart-test", "-f", "-", input=text,
                        check=False)
    assert proc.returncode == 0, f"apiserver refused the rendered chart:\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("variant", ["default", "namespaced", "everything"])
def test_rendered_chart_accepted_by_apiserver(cluster, helm, namespace, variant):
    args = ["--set", "admissionPolicy.enabled=true",
            "--set", "metrics.serviceMonitor.enabled=false"]
    if variant == "namespaced":
        args += ["--set", f"namespaces={{{namespace}}}"]
    if variant == "everything":
        # Everything on but the ServiceMonitor and the PrometheusRule (no
        # prometheus-operator CRDs here), serving namespaces that exist, the dashboard's
        # ConfigMap in one of them.
        args = ["-f", ALL_VALUES, *args, "--set", f"namespaces={{{namespace}}}",
                "--set", "metrics.prometheusRule.enabled=false",
                "--set", f"grafana.dashboards.namespace={namespace}"]
    text = template(helm, *args)
    objs = docs(text)
    kinds = {o["kind"] for o in objs}
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount", "Service",
            "PodDisruptionBudget", "Role", "RoleBinding", "ClusterRole",
            "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= kinds, kinds
    out = server_dry_run(text)
    assert out.count("(server dry run)") == len(objs), out


# --- the admission policy, for real --------------------------------------------------------

def hardened_pod(name, labels):
    """A Pod in the shape controller/reconcile/pod.cc builds (placement aside)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostNetwork": False, "hostPID": False, "hostIPC": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 200123,
                                "runAsGroup": 200123, "fsGroup": 200123,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "runner", "image": "coderun/runner:test",
                "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                                    "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                    "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
            "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}],
        }}


def _container(p):
    return p["spec"]["containers"][0]


def _csc(p):
    return _container(p)["securityContext"]


def _privileged(p):
    _csc(p)["privileged"] = True
    # The API itself refuses privileged together with allowPrivilegeEscalation false.
    del _csc(p)["allowPrivilegeEscalation"]


def _root(p):
    del _csc(p)["runAsNonRoot"]
    p["spec"]["securityContext"]["runAsNonRoot"] = False


def _init_privileged(p):
    init = copy.deepcopy(_container(p))
    init["name"] = "init"
    init["securityContext"] = {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    p["spec"]["initContainers"] = [init]


def _host_path(p):
    p["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    _container(p)["volumeMounts"].append({"name": "host", "mountPath": "/host"})


DEVIATIONS = {
    "privileged": _privileged,
    "root": _root,
    "uid-0": lambda p: _csc(p).update(runAsUser=0),
    "privilege-escalation": lambda p: _csc(p).update(allowPrivilegeEscalation=True),
    "writable-root": lambda p: _csc(p).update(readOnlyRootFilesystem=False),
    "caps-kept": lambda p: _csc(p).update(capabilities={"drop": ["NET_RAW"]}),
    "caps-added": lambda p: _csc(p).update(capabilities={"drop": ["ALL"], "add": ["NET_ADMIN"]}),
    "seccomp-unconfined": lambda p: _csc(p).update(seccompProfile={"type": "Unconfined"}),
    "seccomp-missing": lambda p: p["spec"]["securityContext"].pop("seccompProfile"),
    "token-mounted": lambda p: p["spec"].update(automountServiceAccountToken=True),
    "token-default": lambda p: p["spec"].pop("automountServiceAccountToken"),
    "host-network": lambda p: p["spec"].update(hostNetwork=True),
    "host-pid": lambda p: p["spec"].update(hostPID=True),
    "host-ipc": lambda p: p["spec"].update(hostIPC=True),
    "host-path": _host_path,
    "init-container-privileged": _init_privileged,
}


def dry_create(obj, ns):
    proc = kube.kubectl("create", "-n", ns, "--dry-run=server", "-f", "-", "-o", "json",
                        input=json.dumps(obj), check=False)
    return proc.returncode == 0, proc.stderr


@pytest.fixture
def open_namespace(cluster, request):
    """A namespace whose Pod Security level is `privileged`: only the policy can refuse."""
    ns = f"it-chart-open-{uuid.uuid4().hex[:6]}"
    try:
        kube.make_namespace(ns, enforce="privileged", labels={"coderun.dev/test": "integration"})
        yield ns
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def admission_policy(helm, open_namespace):
    """The chart's policy and binding, applied for real, bound to open_namespace only
    (other tests' look-alike Pods elsewhere stay untouched). Deleted at teardown."""
    release = f"it-vap-{uuid.uuid4().hex[:6]}"
    selector = {"matchLabels": {"kubernetes.io/metadata.name": open_namespace}}
    text = template(helm, "--show-only", "templates/admission-policy.yaml",
                    "--set", "admissionPolicy.enabled=true",
                    "--set-json", "admissionPolicy.namespaceSelector=" + json.dumps(selector),
                    release=release)
    objs = docs(text)
    kube.kubectl("apply", "-f", "-", input=text)
    try:
        yield next(o for o in objs if o["kind"] == "ValidatingAdmissionPolicy")["metadata"]["name"]
    finally:
        for o in objs:
            kube.delete(o["kind"].lower(), o["metadata"]["name"], check=False)


def test_admission_policy_refuses_lookalikes_and_admits_the_controllers_pods(
        admission_policy, open_namespace, start_controller):
    ns, policy = open_namespace, admission_policy
    labels = {kube.MANAGED_BY: kube.CONTROLLER_NAME, kube.UID_LABEL: str(uuid.uuid4())}

    # A hand-made privileged Pod with the run Pods' label: refused once the policy is live
    # (the admission plugin picks policies up asynchronously).
    bad = hardened_pod("lookalike", labels)
    _privileged(bad)
    bad["spec"]["automountServiceAccountToken"] = True
    bad["spec"]["hostPID"] = True
    kube.wait_for(lambda: not dry_create(bad, ns)[0], 60, f"policy {policy} to be enforced")
    created, err = kube.try_create(bad, ns)
    assert created is None, "a privileged look-alike run Pod was admitted"
    assert policy in err and "denied" in err, err

    # The same Pod without the label is admitted: the namespace allows it, the policy is
    # what refused it.
    unlabeled = copy.deepcopy(bad)
    unlabeled["metadata"]["labels"] = {"app": "not-a-run"}
    ok, err = dry_create(unlabeled, ns)
    assert ok, err

    # The hardened shape passes; each single step away from it is refused by the policy.
    ok, err = dry_create(hardened_pod("shape", labels), ns)
    assert ok, err
    for what, mutate in DEVIATIONS.items():
        pod = hardened_pod(f"dev-{what}", labels)
        mutate(pod)
        ok, err = dry_create(pod, ns)
        assert not ok, f"{what}: admitted"
        assert policy in err, f"{what}: refused, but not by the policy: {err}"

    # The controller's own Pod for a CodeRun is admitted.
    start_controller(namespaces=[ns])
    cr = kube.create(kube.coderun("vap-hello"), ns)
    pod = kube.wait_pod(cr, ns)
    assert pod["metadata"]["labels"][kube.MANAGED_BY] == kube.CONTROLLER_NAME
    status = kube.wait_for(lambda: kube.status_of("vap-hello", ns).get("podName") and
                           kube.status_of("vap-hello", ns), 30,
                           "the CodeRun's status to name its Pod",
                           objects=[("coderun", "vap-hello", ns)])
    # Admitted: whatever happens to the Pod next (with a kubelet it may even run), its
    # creation was not refused.
    assert "refused" not in status.get("message", ""), status

    # The policy's expressions type-check against the Pod schema without warnings.
    vap = kube.get("validatingadmissionpolicy", policy)
    assert not vap.get("status", {}).get("typeChecking", {}).get("expressionWarnings"), \
        vap["status"]


def test_helm_install_dry_run_prints_first_run(cluster, helm, namespace):
    """`helm install --dry-run=server` against this apiserver (its real version meets the
    chart's kubeVersion) renders, validates against the server's schemas, and prints NOTES
    telling how to run a first CodeRun. A release of its own, in the test's namespace and
    without the CRD, so nothing collides with the objects the fixtures applied."""
    release = f"it-{uuid.uuid4().hex[:6]}"
    proc = subprocess.run(
        [helm, "install", release, CHART, "--namespace", namespace,
         "--kubeconfig", kube.ADMIN_KUBECONFIG, "--dry-run=server",
         "--set", "crds.enabled=false", "--set", "admissionPolicy.enabled=true",
         "--set", f"namespaces={{{namespace}}}"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "NOTES:" in proc.stdout
    assert "kubectl get coderun hello -o jsonpath=" in proc.stdout
    assert f"rollout status deployment/{release}-coderun-controller" in proc.stdout
    assert kube.get("deployment", f"{release}-coderun-controller", namespace) is None
