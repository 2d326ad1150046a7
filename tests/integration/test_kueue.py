"""Kueue admission against the real apiserver and the real Kueue (v0.17.1, built from its
module and run by tests/cluster/kueue; the tests play the kubelet): runs labelled with a
LocalQueue get one Workload each and a Pod only once Kueue admits it, so a ClusterQueue
with a quota of 2 cores runs them two at a time, whatever the controller's own
--max-starting-runs says; each ended run finishes its Workload, which hands the quota to
the next; a Workload Kueue evicts (deactivated) while its Pod lives ends the run
PodFailed and deletes the Pod; unlabelled runs keep the controller's own admission; a
Workload planted under a run's name in a roomier LocalQueue (by someone allowed to create
Workloads next to the runs) never starts the run.

Outcomes only (which objects existed together, how runs ended); no timing decides a
test."""

import json

import pytest

import kube
from kube import MANAGED_SELECTOR, QUEUE_LABEL, items, wait_for

FLAGS = ["--runner-image", "coderun.test/runner:it", "--kueue"]


@pytest.fixture(scope="module")
def kueue(cluster):
    kube.kueue_up()
    kube.grant_kueue_rbac()
    kube.wait_for(lambda: kube.kubectl("get", "workloads.kueue.x-k8s.io", "-A",
                                       check=False).returncode == 0, 60, "Workloads served")


@pytest.fixture
def queues(kueue, namespace):
    """A ClusterQueue of 2 cores for this namespace only, LocalQueue `team`."""
    cq = kube.make_kueue_queues(namespace, cpu=2)
    yield cq
    kube.kubectl("delete", "clusterqueue", cq, "--wait=false", check=False)


def create_runs(ns, names, queue="team"):
    runs = []
    for n in names:
        r = kube.coderun(n, limits={"cpu": "1", "memory": "256Mi"})
        if queue:
            r["metadata"]["labels"] = {QUEUE_LABEL: queue}
        runs.append(r)
    kube.kubectl("create", "-n", ns, "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": runs}))


def live_pods(ns):
    return [p for p in items("pods", ns, selector=MANAGED_SELECTOR)
            if "deletionTimestamp" not in p["metadata"]
            and p["status"].get("phase", "Pending") in ("Pending", "Running")]


def test_a_small_cluster_queue_admits_runs_two_at_a_time_and_every_one_finishes(
        start_controller, namespace, queues):
    runs = 6
    # The controller's own bound is 1: Kueue's runs do not count against it.
    start_controller(*FLAGS, "--max-starting-runs", "1")
    create_runs(namespace, [f"team-{i}" for i in range(runs)])
    objects = [("coderuns", None, namespace), ("workloads.kueue.x-k8s.io", None, namespace)]

    # Nobody plays the kubelet yet: Kueue admits two (2 cores, 1 each); the other four wait
    # Queued with their Workload and without Pod or Secret.
    def two_started():
        pods = live_pods(namespace)
        queued = [c for c in items("coderuns", namespace)
                  if c.get("status", {}).get("reason") == "Queued"]
        return (pods, queued) if len(pods) == 2 and len(queued) == runs - 2 else None
    pods, queued = wait_for(two_started, 90, "2 Pods and 4 runs Queued", objects=objects)
    for c in queued:
        assert "waiting for Kueue to admit Workload" in c["status"]["message"], c["status"]
        assert "podName" not in c["status"], c["status"]
    workloads = items("workloads.kueue.x-k8s.io", namespace)
    assert len(workloads) == runs, [w["metadata"]["name"] for w in workloads]
    for w in workloads:
        assert w["spec"]["queueName"] == "team"
        (owner,) = w["metadata"]["ownerReferences"]
        assert owner["kind"] == "CodeRun" and owner["controller"] is True
    admitted = [w for w in workloads if kube.workload_condition(w, "Admitted") == "True"]
    assert sorted(w["metadata"]["name"] for w in admitted) == \
        sorted(p["metadata"]["name"] for p in pods), "Pods exist exactly for the admitted"
    assert len(items("secrets", namespace, selector=MANAGED_SELECTOR)) == 2
    kube.holds_for(lambda: len(live_pods(namespace)) <= 2, 3, "no third Pod while the quota is full",
                   objects=objects)

    # Play the kubelet: end each Pod as it appears; never more than two live at once.
    most = 0

    def step():
        nonlocal most
        pods = live_pods(namespace)
        most = max(most, len(pods))
        for p in pods:
            kube.play_terminated(p["metadata"]["name"], namespace, 0)
        ended = [c for c in items("coderuns", namespace)
                 if c.get("status", {}).get("phase") in ("Succeeded", "Failed")]
        return ended if len(ended) == runs else None
    ended = wait_for(step, 180, f"all {runs} runs ended", objects=objects, interval=0.5)
    assert most <= 2, most
    for c in ended:
        assert (c["status"]["phase"], c["status"]["reason"]) == kube.ENDED, c["status"]

    # Every Workload is Finished (the quota went back each time), and nothing is left behind.
    def all_finished():
        ws = items("workloads.kueue.x-k8s.io", namespace)
        return ws if all(kube.workload_condition(w, "Finished") == "True" for w in ws) else None
    assert len(wait_for(all_finished, 60, "every Workload Finished", objects=objects)) == runs
    wait_for(lambda: not items("pods", namespace, selector=MANAGED_SELECTOR), 60,
             "run Pods deleted", objects=objects)


def test_unlabelled_runs_keep_the_controllers_own_admission(start_controller, namespace, queues):
    start_controller(*FLAGS, "--max-starting-runs", "1")
    create_runs(namespace, ["plain-0", "plain-1"], queue=None)
    wait_for(lambda: len(live_pods(namespace)) == 1 and
             any(c.get("status", {}).get("reason") == "Queued"
                 for c in items("coderuns", namespace)),
             60, "one Pod, one run Queued by the controller", objects=[("coderuns", None, namespace)])
    assert not items("workloads.kueue.x-k8s.io", namespace)


def test_a_workload_evicted_while_its_pod_lives_ends_the_run_and_frees_the_quota(
        start_controller, namespace, queues):
    start_controller(*FLAGS)
    create_runs(namespace, ["first", "second", "third"])
    objects = [("coderuns", None, namespace), ("workloads.kueue.x-k8s.io", None, namespace)]
    pods = wait_for(lambda: len(live_pods(namespace)) == 2 and live_pods(namespace), 90,
                    "two runs admitted", objects=objects)
    victim = pods[0]["metadata"]["name"]  # Workloads are named like their run's Pod
    # An admin deactivates the Workload: Kueue evicts it (reason Deactivated).
    kube.patch("workloads.kueue.x-k8s.io", victim, namespace, {"spec": {"active": False}})
    owner = pods[0]["metadata"]["ownerReferences"][0]["name"]
    st = kube.wait_phase(owner, namespace, "Failed", "PodFailed", timeout=60)
    assert "Kueue evicted" in st["message"], st
    wait_for(lambda: victim not in [p["metadata"]["name"] for p in live_pods(namespace)], 60,
             "the evicted run's Pod deleted", objects=objects)
    # Its quota went back: the third run gets a Pod.
    wait_for(lambda: len(live_pods(namespace)) == 2 and
             victim not in [p["metadata"]["name"] for p in live_pods(namespace)],
             90, "the third run admitted in the freed quota", objects=objects)


def test_a_workload_planted_in_a_roomier_queue_never_starts_the_run(
        start_controller, namespace, kueue):
    """The attack: someone who may create Workloads in the namespace queues a run's Workload
    (named and owned as the controller would) in a LocalQueue with room, while the run's own
    queue has none. Without the controller's check, Kueue admits the planted one and the
    controller starts the run outside its team's quota."""
    full = kube.make_kueue_queues(namespace, cpu=0, local_queue="team")
    roomy = kube.make_kueue_queues(namespace, cpu=10, local_queue="roomy")
    try:
        create_runs(namespace, ["victim"])
        cr = kube.get("coderun", "victim", namespace)
        name = kube.pod_name_for(cr)
        # The run's Workload as the controller builds it, but in the roomy queue.
        planted = {
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": name, "labels": {kube.MANAGED_BY: kube.CONTROLLER_NAME,
                                                  kube.UID_LABEL: cr["metadata"]["uid"]},
                         "ownerReferences": [{"apiVersion": "coderun.dev/v1alpha1",
                                              "kind": "CodeRun", "name": "victim",
                                              "uid": cr["metadata"]["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {"queueName": "roomy", "podSets": [{"name": "main", "count": 1, "template": {
                "spec": {"restartPolicy": "Never", "containers": [{
                    "name": "runner", "image": "coderun.test/runner:it",
                    "resources": {"limits": {"cpu": "1", "memory": "268435456"},
                                  "requests": {"cpu": "1", "memory": "268435456"}}}]}}}]}}
        kube.create(planted, namespace)
        wait_for(lambda: kube.workload_condition(
                     kube.get("workloads.kueue.x-k8s.io", name, namespace), "Admitted") == "True",
                 60, "Kueue admits the planted Workload")
        start_controller(*FLAGS)
        objects = [("coderun", "victim", namespace), ("workloads.kueue.x-k8s.io", None, namespace)]
        w = wait_for(lambda: (lambda w: w if w and w["spec"]["queueName"] == "team" else None)(
                         (items("workloads.kueue.x-k8s.io", namespace) or [None])[0]),
                     60, "the run's Workload replaced by one in its own queue", objects=objects)
        assert w["metadata"]["name"] == name
        kube.holds_for(lambda: not items("pods", namespace, selector=MANAGED_SELECTOR)
                       and kube.status_of("victim", namespace).get("reason") == "Queued",
                       3, "no Pod: the run waits in its own (full) queue", objects=objects)
        events = kube.kubectl("get", "events", "-n", namespace,
                              "--field-selector", "reason=ForeignWorkload").stdout
        assert "roomy" in events, events
    finally:
        for cq in (full, roomy):
            kube.kubectl("delete", "clusterqueue", cq, "--wait=false", check=False)
