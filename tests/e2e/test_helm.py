"""The platform team's install, end to end on the single-node cluster: `helm install` of
helm/coderun with the locally built controller image, runs through the in-cluster
controller (two replicas, leader election), failover with runs in flight, /metrics, the
admission policy, RBAC proven minimal by the apiserver's audit log and `kubectl auth
can-i`, the built-in `edit` and `view` roles gaining the CodeRun verbs by aggregation,
`helm upgrade`, and `helm uninstall` keeping the CRD and CodeRuns.

The cluster's host-process controller is stopped for this module (two controllers must
not serve the same namespaces) and started again by `tests/cluster/up` afterwards."""

import collections
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import expect, make_namespace, run, wait_terminal
import kube
from test_rbac import can as may  # kubectl auth can-i ... --as=USER: True on "yes"

RELEASE, RELEASE_NS = "e2e", "coderun-e2e"
NAME = f"{RELEASE}-coderun-controller"      # the chart's <release>-coderun-controller
SA_USER = f"system:serviceaccount:{RELEASE_NS}:{NAME}"
HELM = os.path.join(kube.CLUSTER, "bin", "helm")
CHART = os.path.join(kube.REPO, "helm", "coderun")
CRD = "customresourcedefinitions/coderuns.coderun.dev"
CRDS = (CRD, "customresourcedefinitions/coderunpools.coderun.dev")
AUDIT_LOG = os.path.join(kube.CLUSTER, "logs", "audit.log")
VALUES = ["--set", "image.repository=localhost/coderun/controller", "--set", "image.tag=dev",
          "--set", "runner.images.python=localhost/coderun/runner:dev",
          "--set-json", "runs.cpuRequestRatio=0.02", "--set", "admissionPolicy.enabled=true"]


def helm(*args, check=True, timeout=300):
    proc = subprocess.run([HELM, "--kubeconfig", kube.ADMIN_KUBECONFIG, *args],
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}\n" + kube.DIAG.dump(
                                 [("pods", None, RELEASE_NS)]))
    return proc


def host_controller(action):
    if action == "stop":
        subprocess.run(["bash", "-c", 'source tests/cluster/lib.sh && stop_daemon coderun-controller 10'],
                       cwd=kube.REPO, check=True, timeout=60)
    else:
        subprocess.run(["bash", "tests/cluster/up"], cwd=kube.REPO, check=True, timeout=1800)


def controller_pods():
    return [p for p in kube.items("pods", RELEASE_NS, selector="app.kubernetes.io/instance=" + RELEASE)
            if not p["metadata"].get("deletionTimestamp")]


def leader_pod():
    lease = kube.get("lease", NAME, RELEASE_NS) or {}
    holder = lease.get("spec", {}).get("holderIdentity") or ""
    return holder.rsplit("_", 1)[0] if holder else None


def metrics_of(pod):
    return kube.kubectl("get", "--raw",
                        f"/api/v1/namespaces/{RELEASE_NS}/pods/{pod}:8080/proxy/metrics").stdout


class ReleaseLogs:
    """What a failed wait prints here: the release's controller Pods' logs."""

    log_path = f"kubectl logs -n {RELEASE_NS} -l app.kubernetes.io/instance={RELEASE}"

    def log_tail(self, n=80):
        proc = kube.kubectl("logs", "-n", RELEASE_NS, "-l", f"app.kubernetes.io/instance={RELEASE}",
                            "--tail", str(n), "--prefix", check=False)
        return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def release(node_cluster):
    host_controller("stop")
    # The host controller's ownership policy (manifests/) lets only its ServiceAccount create
    # run Pods; the release brings its own, for its own ServiceAccount. One at a time, as two
    # installations never serve the same namespaces.
    kube.kubectl("delete", "validatingadmissionpolicybinding", "coderun-run-objects",
                 "--ignore-not-found")
    cluster_controller, kube.DIAG.controller = kube.DIAG.controller, ReleaseLogs()
    # The CRDs are already installed (tests/cluster/up applies crds/); let the release adopt
    # them.
    for crd in CRDS:
        kube.kubectl("annotate", crd, f"meta.helm.sh/release-name={RELEASE}",
                     f"meta.helm.sh/release-namespace={RELEASE_NS}", "--overwrite")
        kube.kubectl("label", crd, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    try:
        helm("install", RELEASE, CHART, "-n", RELEASE_NS, "--create-namespace", *VALUES,
             "--wait", "--timeout", "180s")
        yield
    finally:
        helm("uninstall", RELEASE, "-n", RELEASE_NS, "--wait", check=False)
        for crd in CRDS:
            kube.kubectl("annotate", crd, "meta.helm.sh/release-name-",
                         "meta.helm.sh/release-namespace-", check=False)
            kube.kubectl("label", crd, "app.kubernetes.io/managed-by-", check=False)
        kube.kubectl("delete", "namespace", RELEASE_NS, "--wait=false", check=False)
        kube.DIAG.controller = cluster_controller
        kube.apply_path(os.path.join(kube.REPO, "manifests", "admission-policy.yaml"))
        host_controller("start")


@pytest.fixture(scope="module")
def runs_ns(release):
    ns = make_namespace("helm-runs")
    kube.DIAG.namespace = ns
    yield ns
    kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_installed_controller_runs_as_its_service_account_and_runs_hello(runs_ns):
    pods = controller_pods()
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    for p in pods:
        assert p["spec"]["serviceAccountName"] == NAME
        assert p["spec"]["containers"][0]["image"] == "localhost/coderun/controller:dev"
        # The image starts and answers its probes.
        health = kube.kubectl("get", "--raw", f"/api/v1/namespaces/{RELEASE_NS}/pods/"
                              f"{p['metadata']['name']}:8080/proxy/healthz").stdout
        assert health.strip() == "ok", health
    kube.wait_for(leader_pod, 30, "a leader in Lease " + NAME)
    _, st = run(runs_ns, "hello", 'print("Hello, World!")')
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == "Hello, World!\n"


def test_metrics_counters_move_during_a_run(runs_ns):
    leader = kube.wait_for(leader_pod, 30, "a leader")
    before = metrics_of(leader)
    _, st = run(runs_ns, "metrics", "print(42)")
    expect(st, "Succeeded", "Completed")
    after = metrics_of(leader)
    finished = lambda text: kube.parse_metric(text, "coderun_runs_finished_total",
                                              {"phase": "Succeeded", "reason": "Completed"})
    assert finished(after) == finished(before) + 1, after
    creates = lambda text: kube.parse_metric(text, "coderun_api_requests_total",
                                             {"verb": "create", "code": "201"})
    assert creates(after) > creates(before), after
    assert kube.parse_metric(after, "coderun_leader", {}) == 1.0
    assert "coderun_run_duration_seconds_count" in after


class LiveRunPods:
    """Polls the run Pods of a namespace in a thread (kube.check_run_pods on each
    listing); stop() returns every problem seen, plus any CodeRun that ever had two Pods."""

    def __init__(self, ns):
        self.ns, self.problems = ns, []
        self.pods_by_run = collections.defaultdict(set)
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop_flag.is_set():
            try:
                pods = kube.items("pods", self.ns, selector=kube.MANAGED_SELECTOR)
            except Exception:   # an apiserver hiccup is not a finding; poll again
                time.sleep(0.3)
                continue
            kube.check_run_pods(pods, self.pods_by_run, self.problems)
            time.sleep(0.3)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)
        self.problems += [f"CodeRun {r} had Pods {p}" for r, p in self.pods_by_run.items()
                          if len(p) > 1]
        return self.problems


def test_failover_with_50_runs_in_flight(runs_ns):
    old_leader = kube.wait_for(leader_pod, 30, "a leader")
    watcher = LiveRunPods(runs_ns)
    names = [f"fo-{i:02d}" for i in range(50)]
    for name in names:
        kube.create(kube.coderun(name, "import time\ntime.sleep(3)\nprint('done')"), runs_ns)
    kube.wait_for(lambda: len(kube.items("pods", runs_ns, selector=kube.MANAGED_SELECTOR)) >= 10,
                  60, "runs in flight")
    t0 = time.monotonic()
    kube.kubectl("delete", "pod", old_leader, "-n", RELEASE_NS, "--wait=false")
    new_leader = kube.wait_for(lambda: (lambda l: l if l and l != old_leader else None)(leader_pod()),
                               20, "another replica to take the Lease over")
    took = time.monotonic() - t0
    for name in names:
        st = wait_terminal(runs_ns, name, timeout=300)
        expect(st, "Succeeded", "Completed", name)
        assert st["stdout"] == "done\n"
    problems = watcher.stop()
    assert problems == [], problems
    print(f"leader {old_leader} deleted; {new_leader} took over in {took:.1f} s")
    # The Deployment replaces the deleted Pod; two replicas again.
    kube.wait_for(lambda: len([p for p in controller_pods()
                               if p["status"].get("phase") == "Running"]) == 2, 120,
                  "two controller replicas again")


def test_admission_policy_refuses_a_privileged_pod_with_the_managed_label(runs_ns):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "impostor", "labels": {kube.MANAGED_BY: kube.CONTROLLER_NAME}},
           "spec": {"containers": [{"name": "c", "image": "localhost/coderun/runner:dev",
                                    "securityContext": {"privileged": True}}]}}
    ns = make_namespace("helm-vap")
    try:
        kube.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=privileged",
                     "--overwrite")
        proc = kube.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(pod), check=False)
        assert proc.returncode != 0 and "ValidatingAdmissionPolicy" in proc.stderr, proc.stderr
        del pod["metadata"]["labels"]
        kube.kubectl("create", "--dry-run=server", "-n", ns, "-f", "-", input=json.dumps(pod))
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def rules_of_release():
    """(apiGroup, resource, verb) triples the release grants its ServiceAccount."""
    granted = set()
    for kind in ("clusterrole", "role"):
        ns = RELEASE_NS if kind == "role" else None
        for obj in kube.items(kind, ns, selector="app.kubernetes.io/instance=" + RELEASE):
            if obj["metadata"]["name"].endswith(("-edit", "-view")):
                continue   # the people's roles, not the controller's
            for r in obj.get("rules", []):
                for g in r.get("apiGroups", []):
                    for res in r.get("resources", []):
                        for v in r.get("verbs", []):
                            granted.add((g, res, v))
    return granted


def audited_requests():
    """(apiGroup, resource, verb) of the release's requests that were allowed, and of
    those refused (403)."""
    used, denied = set(), set()
    with open(AUDIT_LOG) as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("user", {}).get("username") != SA_USER or ev.get("stage") != "ResponseComplete":
                continue
            ref = ev.get("objectRef", {})
            res = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
            verb = ev["verb"]
            key = (ref.get("apiGroup", ""), res, verb)
            (denied if ev.get("responseStatus", {}).get("code") == 403 else used).add(key)
    return used, denied


def test_rbac_every_rule_used_and_nothing_denied(runs_ns):
    # Exercise the rules a short run does not: the TTL delete, a NetworkPolicy put back,
    # a repeated (patched) Event.
    # (It may be finished and deleted between two polls: wait for it to be gone.)
    kube.create(kube.coderun("ttl", "print(1)", ttlSecondsAfterFinished=1), runs_ns)
    kube.wait_for(lambda: kube.get("coderun", "ttl", runs_ns) is None, 90, "TTL deletion",
                  objects=[("coderun", "ttl", runs_ns)])
    # A warm pool and a run that claims from it: the pool's ledger (status patch), the
    # request through pods/attach.
    kube.create({"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRunPool",
                 "metadata": {"name": "rbac-pool"}, "spec": {"size": 1}}, runs_ns)
    kube.wait_for(lambda: (kube.get("coderunpool", "rbac-pool", runs_ns) or {})
                  .get("status", {}).get("ready", 0) >= 1, 120, "the warm pool to be ready",
                  objects=[("coderunpool", "rbac-pool", runs_ns), ("pods", None, runs_ns)])
    kube.create(kube.coderun("warm", "print('warm')"), runs_ns)
    warm = kube.wait_for(lambda: (lambda st: st if st.get("phase") in ("Succeeded", "Failed")
                                  else None)(kube.status_of("warm", runs_ns)), 90, "the warm run")
    assert warm.get("warmPool") == "rbac-pool" and warm.get("stdout") == "warm\n", warm
    kube.patch("networkpolicy", kube.POLICY_NAME, runs_ns,
               {"spec": {"podSelector": {"matchLabels": {"tampered": "yes"}}}})
    kube.wait_for(lambda: kube.get("networkpolicy", kube.POLICY_NAME, runs_ns)["spec"]
                  ["podSelector"]["matchLabels"].get(kube.MANAGED_BY) == kube.CONTROLLER_NAME,
                  30, "the deny-all policy put back")
    time.sleep(2)   # audit events are written in batches
    granted = rules_of_release()
    used, denied = audited_requests()
    # A refusal is a missing rule unless the same request was allowed later: right after
    # the install the authorizer may not have seen the new RoleBinding yet.
    assert denied - used == set(), f"requests refused to the controller: {denied - used}"
    assert used, f"no audited request of {SA_USER} in {AUDIT_LOG}"
    # Every request is covered by a rule (nothing works by accident) ...
    uncovered = {u for u in used if u not in granted}
    assert uncovered == set(), uncovered
    # ... and every rule was used, except three that a short run need not show:
    # coderuns/finalizers `update` is only an authorization check when a Pod with
    # blockOwnerDeletion is created; an Event is patched only when the same Event repeats;
    # a Pod is read with `get` only when a run's status names a Pod the cache does not hold
    # (informer lag, Reconciler::PodMissing) or a create finds the name taken.
    never = {(g, r, v) for g, r, v in granted if (g, r, v) not in used}
    allowed_unseen = {("coderun.dev", "coderuns/finalizers", "update"), ("", "events", "patch"),
                      ("", "pods", "get"), ("coderun.dev", "coderunpools/finalizers", "update"),
                      # the attach upgrade is authorized as get up to 1.34, create from 1.35
                      ("", "pods/attach", "create"), ("", "pods/attach", "get")}
    assert never - allowed_unseen == set(), f"rules never used: {sorted(never - allowed_unseen)}"


@pytest.mark.parametrize("verb,resource,sub,ns", [
    ("get", "secrets", None, None), ("list", "secrets", None, None),
    ("watch", "secrets", None, None), ("create", "pods", "exec", None),
    ("get", "pods", "exec", None), ("update", "pods", None, None),
    ("update", "coderuns.coderun.dev", None, None), ("delete", "namespaces", None, ""),
    ("create", "clusterroles", None, ""),
])
def test_controller_cannot(runs_ns, verb, resource, sub, ns):
    args = ["auth", "can-i", verb, resource, "--as", SA_USER]
    args += ["-n", runs_ns] if ns is None else []
    args += [f"--subresource={sub}"] if sub else []
    proc = kube.kubectl(*args, check=False)
    assert proc.stdout.strip() == "no", (verb, resource, proc.stdout, proc.stderr)


def test_scoped_install_cannot_touch_other_namespaces(runs_ns):
    """The chart with `namespaces` set: Roles in those namespaces only."""
    other = make_namespace("helm-other")
    scoped = "scoped"
    try:
        rendered = helm("template", scoped, CHART, "-n", RELEASE_NS, "--set", f"namespaces={{{runs_ns}}}",
                        "--set", "crds.enabled=false", "--show-only", "templates/rbac.yaml",
                        "--kube-version", "1.34.4").stdout
        kube.kubectl("apply", "-f", "-", input=rendered)
        user = f"system:serviceaccount:{RELEASE_NS}:{scoped}-coderun-controller"
        can = lambda verb, res, ns: kube.kubectl("auth", "can-i", verb, res, "-n", ns, "--as", user,
                                                 check=False).stdout.strip()
        assert can("create", "pods", runs_ns) == "yes"
        assert can("watch", "coderuns.coderun.dev", runs_ns) == "yes"
        for verb, res in (("create", "pods"), ("list", "coderuns.coderun.dev"),
                          ("create", "secrets"), ("update", "networkpolicies")):
            assert can(verb, res, other) == "no", (verb, res)
        assert can("get", "secrets", runs_ns) == "no"
    finally:
        kube.kubectl("delete", "-f", "-", "--ignore-not-found", input=rendered, check=False)
        kube.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_builtin_edit_and_view_roles_gain_the_coderun_verbs(runs_ns):
    """kube-controller-manager's clusterrole-aggregation controller copies the rules of the
    chart's <release>-coderun-edit and -view into the built-in `edit` and `view`, which is
    how most users get CodeRun access. A user bound to `edit` submits and deletes runs but
    never writes their status; one bound to `view` reads them only."""
    ns = make_namespace("helm-aggregate")
    editor, viewer = "coderun-e2e-editor", "coderun-e2e-viewer"
    try:
        for user, role in ((editor, "edit"), (viewer, "view")):
            kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                         "metadata": {"name": f"builtin-{role}"},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                     "kind": "ClusterRole", "name": role},
                         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                       "name": user}]}, ns)
        granted = [(editor, verb) for verb in ("create", "get", "list", "watch", "delete")]
        granted += [(viewer, verb) for verb in ("get", "list", "watch")]
        # Aggregation (and the authorizer's view of the new bindings) is asynchronous.
        kube.wait_for(lambda: all(may(user, verb, "coderuns.coderun.dev", ns)
                                  for user, verb in granted),
                      60, "the built-in edit and view ClusterRoles to grant the CodeRun verbs",
                      objects=[("clusterrole", "edit", None), ("clusterrole", "view", None),
                               ("clusterrole", f"{NAME.removesuffix('-controller')}-edit", None)])
        for verb in ("update", "patch"):
            assert not may(editor, verb, "coderuns.coderun.dev", ns, "status"), verb
        for verb in ("create", "update", "delete"):
            assert not may(viewer, verb, "coderuns.coderun.dev", ns), verb
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_upgrade_changing_a_value_rolls_out_and_still_works(runs_ns):
    before = {p["metadata"]["name"] for p in controller_pods()}
    helm("upgrade", RELEASE, CHART, "-n", RELEASE_NS, *VALUES, "--set", "controller.logFormat=text",
         "--wait", "--timeout", "180s")
    kube.kubectl("rollout", "status", f"deployment/{NAME}", "-n", RELEASE_NS, "--timeout=180s")
    pods = controller_pods()
    assert {p["metadata"]["name"] for p in pods}.isdisjoint(before), "no new Pods rolled out"
    assert all("--log-format=text" in p["spec"]["containers"][0]["args"] for p in pods), \
        [p["spec"]["containers"][0]["args"] for p in pods]
    kube.wait_for(leader_pod, 30, "a leader after the upgrade")
    _, st = run(runs_ns, "after-upgrade", 'print("still works")')
    expect(st, "Succeeded", "Completed")
    assert st["stdout"] == "still works\n"


def test_uninstall_removes_the_controller_keeps_crd_and_coderuns(runs_ns):
    helm("uninstall", RELEASE, "-n", RELEASE_NS, "--wait", "--timeout", "120s")
    kube.wait_for(lambda: not controller_pods(), 60, "controller Pods gone")
    assert kube.get("deployment", NAME, RELEASE_NS) is None
    assert kube.get("clusterrole", NAME) is None
    assert kube.get("crd", "coderuns.coderun.dev"), "the CRD must be kept"
    st = kube.status_of("hello", runs_ns)
    assert st.get("phase") == "Succeeded", "CodeRuns must be kept"
