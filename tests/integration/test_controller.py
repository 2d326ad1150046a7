"""The controller against the real kube-apiserver, with the test playing the kubelet
through pods/status. Each test starts its own controller (ServiceAccount token, the
RBAC of manifests/rbac.yaml) watching only that test's PSA-restricted namespace."""

import base64
import json
import re
import signal
import subprocess
import time
from fractions import Fraction

import pytest

import kube
from kube import (MANAGED_BY, MANAGED_SELECTOR, POLICY_NAME, UID_LABEL, coderun, create,
                  get, holds_for, items, pod_name_for, pods_of, wait_for, wait_phase,
                  wait_pod)

IMAGE = "coderun.test/runner:it"
FLAGS = ["--runner-image", IMAGE, "--workers", "4"]
MARKER = "SECRET_TEST_CASE_7f3a"  # appears in code/stdin/args; must never reach argv/env


# --- helpers ---------------------------------------------------------------------

_SUFFIX = {"": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(q):
    """Kubernetes quantity -> exact Fraction (enough of the grammar for these tests)."""
    m = re.fullmatch(r"([+-]?[0-9.]+)([a-zA-Z]*)", str(q))
    assert m and m.group(2) in _SUFFIX, f"unparsable quantity {q!r}"
    return Fraction(m.group(1)) * _SUFFIX[m.group(2)]


def finished_condition(status):
    return next((c for c in status.get("conditions", []) if c["type"] == "Finished"), None)


def assert_terminal(status, phase, reason):
    assert (status["phase"], status["reason"]) == (phase, reason), status
    cond = finished_condition(status)
    assert cond and cond["status"] == "True" and cond.get("lastTransitionTime"), status
    assert status.get("completionTime"), status
    assert status.get("observedGeneration") == 1, status


def start_run(start_controller, namespace, name="run", *flags, **spec):
    """Starts a controller and creates one CodeRun; returns (controller, cr, pod)."""
    ctl = start_controller(*FLAGS, *flags)
    cr = create(coderun(name, **spec), namespace)
    return ctl, cr, wait_pod(cr, namespace)


def wait_gone(kind, name, ns, timeout=30):
    wait_for(lambda: get(kind, name, ns) is None, timeout, f"{kind} {ns}/{name} to be deleted",
             objects=[(kind, name, ns)])


def restricted_pod(name, labels, owner_refs=None):
    """A Pod that passes PSA restricted (for the stranger-Pod test)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "labels": labels, **({"ownerReferences": owner_refs} if owner_refs else {})},
        "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{"name": "c", "image": "stranger:1", "securityContext": {
                     "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}


def assert_deny_all(policy):
    assert policy["metadata"]["labels"].get(MANAGED_BY) == kube.CONTROLLER_NAME, policy
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {MANAGED_BY: kube.CONTROLLER_NAME}}, spec
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"], spec
    assert not spec.get("ingress") and not spec.get("egress"), spec


def is_deny_all(policy):
    try:
        assert_deny_all(policy)
        return True
    except (AssertionError, KeyError, TypeError):
        return False


# --- the Pod, the Secret and the NetworkPolicy -------------------------------------

def test_coderun_gets_exactly_one_pod_with_every_designed_field(start_controller, namespace):
    ctl = start_controller(*FLAGS, "--uid-range", "310000-310099", "--tmp-size", "32Mi",
                           "--cpu-request-ratio", "0.5")
    cr = create(coderun("shape", code=f"print('{MARKER}')", stdin=f"{MARKER}\n",
                        args=[MARKER, "2"],
                        limits={"timeoutSeconds": 7, "cpu": "1500m", "memory": "300Mi"}),
                namespace)
    uid = cr["metadata"]["uid"]
    pod = wait_pod(cr, namespace)
    meta, spec = pod["metadata"], pod["spec"]

    assert meta["name"] == pod_name_for(cr)
    assert meta["labels"][MANAGED_BY] == "coderun-controller"
    assert meta["labels"][UID_LABEL] == uid
    assert meta["ownerReferences"] == [{
        "apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun", "name": "shape", "uid": uid,
        "controller": True, "blockOwnerDeletion": True}]

    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 7 + 30
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(host), host

    psc = spec["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert 310000 <= psc["runAsUser"] <= 310099
    assert psc["runAsGroup"] == psc["runAsUser"] and psc["fsGroup"] == psc["runAsUser"]
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}

    (c,) = spec["containers"]
    assert not spec.get("initContainers")
    assert c["name"] == "runner"
    assert c["image"] == IMAGE and c["imagePullPolicy"] == "IfNotPresent"
    csc = c["securityContext"]
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["runAsNonRoot"] is True
    limits, requests = c["resources"]["limits"], c["resources"]["requests"]
    assert quantity(limits["cpu"]) == Fraction(3, 2)
    assert quantity(limits["memory"]) == 300 * 2**20
    assert quantity(requests["memory"]) == quantity(limits["memory"])
    assert quantity(requests["cpu"]) == Fraction(3, 4)  # limit x --cpu-request-ratio 0.5

    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["input"]["mountPath"] == "/coderun/input" and mounts["input"]["readOnly"]
    assert mounts["tmp"]["mountPath"] == "/tmp"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["input"]["secret"]["secretName"] == meta["name"]
    assert volumes["tmp"]["emptyDir"]["medium"] == "Memory"
    assert quantity(volumes["tmp"]["emptyDir"]["sizeLimit"]) == 32 * 2**20
    # Code, stdin and args never travel in argv or env.
    exposed = json.dumps([c.get("command"), c.get("args"), c.get("env"), c.get("envFrom")])
    assert MARKER not in exposed, exposed

    secret = get("secret", meta["name"], namespace)
    assert secret is not None, "the run's Secret does not exist"
    assert secret["metadata"]["labels"][UID_LABEL] == uid
    assert secret["metadata"]["labels"][MANAGED_BY] == "coderun-controller"
    assert [(o["kind"], o["uid"]) for o in secret["metadata"]["ownerReferences"]] == \
        [("CodeRun", uid)]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["code"] == f"print('{MARKER}')"
    assert data["stdin"] == f"{MARKER}\n"
    assert json.loads(data["args.json"]) == [MARKER, "2"]

    assert len(pods_of(uid, namespace)) == 1
    st = wait_for(lambda: kube.status_of("shape", namespace).get("podName"), 15,
                  "status.podName")
    assert st == meta["name"]
    assert ctl.alive()


def test_pod_uses_cpu_request_equal_to_limit_by_default(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace, limits={"cpu": "2"})
    res = pod["spec"]["containers"][0]["resources"]
    assert quantity(res["requests"]["cpu"]) == quantity(res["limits"]["cpu"]) == 2
    assert 200000 <= pod["spec"]["securityContext"]["runAsUser"] <= 265535


def test_pod_name_is_truncated_prefix_plus_uid_hash(start_controller, namespace):
    long_name = "a" * 51 + "-" + "b" * 20  # cut at 52 leaves a trailing "-"
    _, cr, pod = start_run(start_controller, namespace, long_name)
    assert pod["metadata"]["name"] == "a" * 51 + "-" + pod_name_for(cr).rsplit("-", 1)[1]
    assert len(pod["metadata"]["name"]) <= 63


def test_namespace_gets_deny_all_policy_before_the_pod(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace)
    policy = get("networkpolicy", POLICY_NAME, namespace)
    assert policy is not None, "Pod exists but the deny-all NetworkPolicy does not"
    assert_deny_all(policy)
    assert kube.parse_time(policy["metadata"]["creationTimestamp"]) <= \
        kube.parse_time(pod["metadata"]["creationTimestamp"])
    if policy["metadata"].get("generation") == 1:  # never updated: RV is its creation RV
        assert int(policy["metadata"]["resourceVersion"]) < int(pod["metadata"]["resourceVersion"])


def test_run_pods_are_admitted_under_pod_security_restricted(start_controller, namespace):
    ns = get("namespace", namespace)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # The namespace really enforces: a root Pod is refused there.
    probe = restricted_pod("probe", {})
    probe["spec"]["securityContext"] = {}
    proc = kube.kubectl("create", "-n", namespace, "--dry-run=server", "-f", "-",
                        input=json.dumps(probe), check=False)
    assert proc.returncode != 0 and "PodSecurity" in proc.stderr, proc.stderr
    _, cr, pod = start_run(start_controller, namespace)
    assert pod["metadata"]["uid"]


# --- playing the kubelet -------------------------------------------------------------

def test_unscheduled_pod_leaves_the_run_pending(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace)
    st = wait_for(lambda: kube.status_of("run", namespace).get("phase") == "Pending"
                  and kube.status_of("run", namespace), 15, "phase Pending")
    assert st["reason"] in ("PodPending", "Unschedulable"), st
    assert st["podName"] == pod["metadata"]["name"]
    cond = finished_condition(st)
    assert cond is None or cond["status"] == "False", st


def test_unschedulable_pod_is_pending_with_the_cause(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace)
    msg = "0/1 nodes are available: 1 Insufficient memory."
    kube.patch("pod", pod["metadata"]["name"], namespace, {"status": {"phase": "Pending",
               "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                               "message": msg, "lastTransitionTime": kube.now_rfc3339()}]}},
               subresource="status")
    st = wait_phase("run", namespace, "Pending", "Unschedulable")
    assert "Insufficient memory" in st.get("message", ""), st


def test_run_pending_past_max_pending_seconds_fails(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace, "run", "--max-pending-seconds", "3")
    st = wait_phase("run", namespace, "Failed", "PodFailed", timeout=30)
    assert_terminal(st, "Failed", "PodFailed")
    assert re.search(r"pending|start", st.get("message", ""), re.I), st


def test_running_pod_makes_the_run_running(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace)
    kube.play_running(pod["metadata"]["name"], namespace)
    st = wait_phase("run", namespace, "Running", "Running")
    assert st.get("startTime"), st
    cond = finished_condition(st)
    assert cond is None or cond["status"] == "False", st


def test_exit_0_without_a_runner_report_is_never_success_and_cleans_up(start_controller,
                                                                      namespace):
    _, cr, pod = start_run(start_controller, namespace)
    name = pod["metadata"]["name"]
    kube.play_running(name, namespace)
    wait_phase("run", namespace, "Running")
    kube.play_terminated(name, namespace, 0)
    st = wait_phase("run", namespace, *kube.ENDED)
    assert_terminal(st, *kube.ENDED)
    assert "runner report" in st["message"] and "exited with code 0" in st["message"], st
    assert "exitCode" not in st and st["podName"] == name, st
    assert st["podUID"] == pod["metadata"]["uid"], st
    wait_gone("pod", name, namespace)
    wait_gone("secret", name, namespace)


def test_exit_1_without_a_runner_report_does_not_pose_as_the_programs(start_controller,
                                                                      namespace):
    _, cr, pod = start_run(start_controller, namespace)
    kube.play_terminated(pod["metadata"]["name"], namespace, 1)
    st = wait_phase("run", namespace, *kube.ENDED)
    assert_terminal(st, *kube.ENDED)
    assert "exitCode" not in st and "exited with code 1" in st["message"], st


def test_oomkilled_fails_with_memory_limit_exceeded(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace)
    kube.play_terminated(pod["metadata"]["name"], namespace, 137, reason="OOMKilled")
    st = wait_phase("run", namespace, "Failed", "MemoryLimitExceeded")
    assert_terminal(st, "Failed", "MemoryLimitExceeded")


def test_deadline_exceeded_pod_fails_with_pod_failed(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace)
    name = pod["metadata"]["name"]
    kube.play_running(name, namespace)
    kube.play_pod_failed(name, namespace, "DeadlineExceeded",
                         "Pod was active on the node longer than the specified deadline")
    st = wait_phase("run", namespace, "Failed", "PodFailed")
    assert_terminal(st, "Failed", "PodFailed")
    assert "deadline" in st.get("message", "").lower(), st


def test_evicted_pod_fails_with_pod_failed(start_controller, namespace):
    _, cr, pod = start_run(start_controller, namespace)
    name = pod["metadata"]["name"]
    kube.play_running(name, namespace)
    kube.play_pod_failed(name, namespace, "Evicted",
                         "The node was low on resource: memory. Threshold quantity: 100Mi, "
                         "available: 50Mi.")
    st = wait_phase("run", namespace, "Failed", "PodFailed")
    assert_terminal(st, "Failed", "PodFailed")
    assert re.search(r"evict", st.get("message", ""), re.I), st


@pytest.mark.parametrize("pod_phase", ["Pending", "Running"])
def test_pod_deleted_by_someone_else_fails_with_pod_failed(start_controller, namespace,
                                                            pod_phase):
    _, cr, pod = start_run(start_controller, namespace)
    name = pod["metadata"]["name"]
    if pod_phase == "Running":
        kube.play_running(name, namespace)
        wait_phase("run", namespace, "Running")
    kube.delete("pod", name, namespace, wait=True)
    st = wait_phase("run", namespace, "Failed", "PodFailed")
    assert_terminal(st, "Failed", "PodFailed")
    assert "delet" in st.get("message", "").lower(), st
    # Failed for good: no replacement Pod.
    holds_for(lambda: not pods_of(cr["metadata"]["uid"], namespace), 2,
              "no replacement Pod after the run failed")


@pytest.mark.parametrize("exit_code,phase,reason", [(0, *kube.ENDED), (1, *kube.ENDED)])
def test_terminal_status_is_never_rewritten(start_controller, namespace, exit_code, phase,
                                            reason):
    _, cr, pod = start_run(start_controller, namespace)
    name = pod["metadata"]["name"]
    kube.play_terminated(name, namespace, exit_code)
    final = wait_phase("run", namespace, phase, reason)
    # The controller's own cleanup removes the Pod: that must not read as "Pod deleted".
    wait_gone("pod", name, namespace)
    # Poke the CodeRun (metadata change -> watch event -> reconcile), and prove the
    # controller has processed later events by waiting for a sentinel run's Pod.
    kube.patch("coderun", "run", namespace, {"metadata": {"labels": {"poked": "yes"}}})
    wait_pod(create(coderun("sentinel"), namespace), namespace)
    holds_for(lambda: kube.status_of("run", namespace) == final, 3,
              "terminal status stays byte-for-byte identical")


# --- platform maxima -------------------------------------------------------------------

MAXIMA = ["--max-timeout-seconds", "60", "--max-memory", "512Mi", "--max-cpu", "2",
          "--max-pids", "100", "--max-output-bytes", "131072"]


@pytest.mark.parametrize("field,value", [
    ("timeoutSeconds", 61), ("memory", "513Mi"), ("memory", "1Gi"), ("cpu", "2001m"),
    ("cpu", 3), ("pids", 101), ("outputBytes", 131073)])
def test_spec_over_controller_maxima_is_invalid_spec_without_pod(start_controller, namespace,
                                                                  field, value):
    start_controller(*FLAGS, *MAXIMA)
    cr = create(coderun("too-big", limits={field: value}), namespace)
    st = wait_phase("too-big", namespace, "Failed", "InvalidSpec")
    assert_terminal(st, "Failed", "InvalidSpec")
    assert f"limits.{field}" in st.get("message", ""), st
    assert not pods_of(cr["metadata"]["uid"], namespace)
    assert get("pod", pod_name_for(cr), namespace) is None
    assert get("secret", pod_name_for(cr), namespace) is None


def test_every_metric_the_charts_alerts_and_dashboard_read_is_on_the_controllers_metrics(
        start_controller, namespace):
    """The chart's PrometheusRule and Grafana dashboard read only series the running
    controller exports (once it has reconciled and finished a run: labelled families show
    with their first child)."""
    ctl = start_controller(*FLAGS, *MAXIMA)
    create(coderun("too-big", limits={"pids": 101}), namespace)
    wait_phase("too-big", namespace, "Failed", "InvalidSpec")
    rule = kube.render_chart("templates/prometheusrule.yaml",
                             "--set", "metrics.prometheusRule.enabled=true")
    dashboard = kube.render_chart("templates/grafana-dashboard.yaml",
                                  "--set", "grafana.dashboards.enabled=true")
    metric = r"\b((?:coderun|process)_[a-z_]+)"
    alerts, panels = set(re.findall(metric, rule)), set(re.findall(metric, dashboard))
    assert {"coderun_ready", "coderun_leader", "coderun_reconcile_total",
            "coderun_runs_finished_total"} <= alerts, alerts
    assert {"coderun_run_latency_seconds_bucket", "process_resident_memory_bytes"} <= panels
    text = ctl.metrics_text()
    exported = set(re.findall(r"^([a-z_:]+)(?:\{| )", text, re.M))  # every series' name
    exported |= {n[:-len("_bucket")] for n in exported if n.endswith("_bucket")}  # families
    missing = (alerts | panels) - exported
    assert not missing, f"the chart reads series the controller does not export: {sorted(missing)}"
    assert ctl.metric("coderun_ready") == 1


def test_spec_at_controller_maxima_gets_a_pod(start_controller, namespace):
    start_controller(*FLAGS, *MAXIMA)
    cr = create(coderun("at-max", limits={"timeoutSeconds": 60, "memory": "512Mi",
                                          "cpu": "2", "pids": 100, "outputBytes": 131072}),
                namespace)
    wait_pod(cr, namespace)
    assert kube.status_of("at-max", namespace).get("phase") != "Failed"


# --- the NetworkPolicy -----------------------------------------------------------------

def test_deleted_network_policy_comes_back(start_controller, namespace):
    start_run(start_controller, namespace)
    old = get("networkpolicy", POLICY_NAME, namespace)
    kube.delete("networkpolicy", POLICY_NAME, namespace, wait=True)
    back = wait_for(lambda: (p := get("networkpolicy", POLICY_NAME, namespace)) and
                    p["metadata"]["uid"] != old["metadata"]["uid"] and p, 30,
                    "the deny-all NetworkPolicy to be recreated",
                    objects=[("networkpolicy", None, namespace)])
    assert_deny_all(back)


@pytest.mark.parametrize("change", [
    {"spec": {"ingress": [{}]}},
    {"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}},
    {"spec": {"policyTypes": ["Ingress"]}},
    {"spec": {"podSelector": {"matchLabels": {"app": "nothing"}}}},
], ids=["allow-ingress", "allow-egress", "drop-egress-type", "other-selector"])
def test_altered_network_policy_is_restored(start_controller, namespace, change):
    start_run(start_controller, namespace)
    kube.patch("networkpolicy", POLICY_NAME, namespace, change)
    wait_for(lambda: is_deny_all(get("networkpolicy", POLICY_NAME, namespace)), 30,
             f"the NetworkPolicy to be restored after {change}",
             objects=[("networkpolicy", POLICY_NAME, namespace)])


def _policy(name, selector, types, **rules):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name},
            "spec": {"podSelector": selector, "policyTypes": types, **rules}}


@pytest.mark.parametrize("policy", [
    _policy("allow-all-ingress", {}, ["Ingress"], ingress=[{}]),
    _policy("runs-may-call-out", {"matchLabels": {MANAGED_BY: "coderun-controller"}},
            ["Egress"], egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]),
], ids=lambda p: p["metadata"]["name"])
def test_allowing_network_policy_blocks_new_runs_until_removed(start_controller, namespace,
                                                               policy):
    create(policy, namespace)
    start_controller(*FLAGS)
    cr = create(coderun("blocked"), namespace)
    st = wait_phase("blocked", namespace, "Pending", "NetworkPolicyConflict")
    assert policy["metadata"]["name"] in st.get("message", ""), st
    holds_for(lambda: not pods_of(cr["metadata"]["uid"], namespace), 2,
              "no Pod while an allowing policy selects run Pods")
    kube.delete("networkpolicy", policy["metadata"]["name"], namespace, wait=True)
    wait_pod(cr, namespace, timeout=60)


@pytest.mark.parametrize("policy", [
    _policy("web-allow-all", {"matchLabels": {"app": "web"}}, ["Ingress"], ingress=[{}]),
    _policy("deny-ingress-everywhere", {}, ["Ingress"]),
], ids=lambda p: p["metadata"]["name"])
def test_policy_that_does_not_open_run_pods_is_no_conflict(start_controller, namespace, policy):
    create(policy, namespace)
    start_controller(*FLAGS)
    wait_pod(create(coderun("fine"), namespace), namespace)


# --- ownership and identity --------------------------------------------------------------

def _run_with_strangers(start_controller, namespace):
    """A CodeRun whose UID-labelled strangers exist before the controller starts."""
    cr = create(coderun("owned"), namespace)
    uid = cr["metadata"]["uid"]
    labels = {MANAGED_BY: "coderun-controller", UID_LABEL: uid}
    # A live owner, so that the garbage collector keeps the stranger.
    other = create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}},
                   namespace)
    strangers = [
        create(restricted_pod("stranger-unowned", labels), namespace),
        create(restricted_pod("stranger-other-owner", labels, [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "other",
            "uid": other["metadata"]["uid"], "controller": True}]), namespace),
    ]
    start_controller(*FLAGS)
    return cr, strangers


def test_prelabelled_pod_with_another_owner_is_never_taken_for_the_run(start_controller,
                                                                       namespace):
    cr, strangers = _run_with_strangers(start_controller, namespace)
    own = wait_pod(cr, namespace)
    assert own["metadata"]["ownerReferences"][0]["uid"] == cr["metadata"]["uid"]
    st = wait_for(lambda: kube.status_of("owned", namespace).get("podName"), 15, "podName")
    assert st == own["metadata"]["name"]
    kube.play_terminated(own["metadata"]["name"], namespace, 0)
    wait_phase("owned", namespace, *kube.ENDED)
    wait_gone("pod", own["metadata"]["name"], namespace)
    for s in strangers:  # left alone: not deleted, not modified
        now = get("pod", s["metadata"]["name"], namespace)
        assert now is not None, f"{s['metadata']['name']} was deleted"
        assert now["metadata"]["resourceVersion"] == s["metadata"]["resourceVersion"]


def test_prelabelled_stranger_pod_is_reported_with_a_warning_event(start_controller, namespace):
    cr, strangers = _run_with_strangers(start_controller, namespace)
    wait_pod(cr, namespace)

    def warned():
        evs = items("events", namespace)
        return [e for e in evs if e.get("type") == "Warning"
                and e["involvedObject"].get("uid") == cr["metadata"]["uid"]
                and "stranger-" in e.get("message", "")]
    wait_for(warned, 30, "a Warning event on the CodeRun naming the stranger Pod")


def test_stranger_holding_the_runs_pod_name_fails_the_run_and_is_left_alone(start_controller,
                                                                           namespace):
    cr = create(coderun("squatted"), namespace)
    labels = {MANAGED_BY: "coderun-controller", UID_LABEL: cr["metadata"]["uid"]}
    squatter = create(restricted_pod(pod_name_for(cr), labels), namespace)
    start_controller(*FLAGS)
    st = wait_phase("squatted", namespace, "Failed", "PodFailed")
    assert pod_name_for(cr) in st.get("message", ""), st
    now = get("pod", pod_name_for(cr), namespace)
    assert now is not None and \
        now["metadata"]["resourceVersion"] == squatter["metadata"]["resourceVersion"]


def test_recreated_coderun_of_same_name_gets_a_fresh_pod(start_controller, namespace):
    _, first, pod1 = start_run(start_controller, namespace, "again")
    kube.delete("coderun", "again", namespace, wait=True)
    second = create(coderun("again"), namespace)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    pod2 = wait_pod(second, namespace)
    assert pod2["metadata"]["name"] != pod1["metadata"]["name"]
    assert [o["uid"] for o in pod2["metadata"]["ownerReferences"]] == [second["metadata"]["uid"]]
    st = wait_for(lambda: kube.status_of("again", namespace).get("podName"), 15, "podName")
    assert st == pod2["metadata"]["name"]


# --- TTL ---------------------------------------------------------------------------------

def _finish_and_time_deletion(name, namespace, timeout=30):
    """Plays exit 0 for the run's Pod; returns seconds from completionTime to deletion."""
    cr = get("coderun", name, namespace)
    kube.play_terminated(wait_pod(cr, namespace)["metadata"]["name"], namespace, 0)
    st = wait_phase(name, namespace, kube.ENDED[0])
    done = kube.parse_time(st["completionTime"]).timestamp()
    wait_gone("coderun", name, namespace, timeout=timeout)
    return time.time() - done


def test_ttl_seconds_after_finished_deletes_the_run(start_controller, namespace):
    start_controller(*FLAGS)
    create(coderun("short", ttlSecondsAfterFinished=2), namespace)
    create(coderun("keeper"), namespace)  # default TTL (86400 s): stays
    elapsed = _finish_and_time_deletion("short", namespace)
    assert 2 <= elapsed <= 15, f"deleted {elapsed:.1f}s after completionTime"
    assert get("coderun", "keeper", namespace) is not None


def test_default_ttl_applies_when_unset(start_controller, namespace):
    start_controller(*FLAGS, "--default-ttl", "3")
    create(coderun("defaulted"), namespace)
    create(coderun("explicit", ttlSecondsAfterFinished=3600), namespace)
    cr = get("coderun", "explicit", namespace)
    kube.play_terminated(wait_pod(cr, namespace)["metadata"]["name"], namespace, 0)
    wait_phase("explicit", namespace, kube.ENDED[0])
    elapsed = _finish_and_time_deletion("defaulted", namespace)
    assert 3 <= elapsed <= 15, f"deleted {elapsed:.1f}s after completionTime"
    assert get("coderun", "explicit", namespace) is not None


# --- the process -------------------------------------------------------------------------

def test_sigterm_stops_the_controller_cleanly_and_promptly(start_controller, namespace):
    ctl = start_controller(*FLAGS)
    wait_pod(create(coderun("x"), namespace), namespace)
    t0 = time.monotonic()
    try:
        rc = ctl.kill(signal.SIGTERM, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 15s after SIGTERM\n{ctl.log_tail(20)}")
    elapsed = time.monotonic() - t0
    assert rc == 0, f"exit code {rc}\n{ctl.log_tail(20)}"
    assert elapsed < 5, f"took {elapsed:.1f}s to stop after SIGTERM\n{ctl.log_tail(20)}"
