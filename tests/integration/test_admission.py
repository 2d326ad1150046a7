"""Admission against the real apiserver (the tests play the kubelet): a burst waits as
Pending/Queued with no Pod and no Secret, never more than --max-starting-runs Pods wait to
start, two namespaces take turns, a restart in the middle loses and duplicates nothing, and
--max-queued-seconds ends a run as QueueTimeout, and spec.priority orders a namespace's
queue.

Outcomes only: which objects existed, in which order Pods appeared, how runs ended; no
timing decides a test."""

import collections
import json
import signal
import uuid

import kube
from kube import MANAGED_SELECTOR, coderun, items, wait_for

FLAGS = ["--runner-image", "coderun.test/runner:it"]


def create_runs(ns, names):
    runs = [coderun(n) for n in names]
    kube.kubectl("create", "-n", ns, "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": runs}))


class Kubelet:
    """Plays the kubelet for the run Pods of some namespaces: each Pod seen Pending is
    ended (exit 0). Records the order in which Pods first appeared and the largest number
    of Pods ever seen waiting to start at once."""

    def __init__(self, namespaces):
        self.namespaces = namespaces
        self.played = set()
        self.order = []           # (namespace, coderun uid) as Pods first appear
        self.most_waiting = 0
        self.seen = collections.defaultdict(set)  # coderun uid -> Pod uids
        self.problems = []

    def step(self):
        waiting = []
        for ns in self.namespaces:
            pods = items("pods", ns, selector=MANAGED_SELECTOR)
            kube.check_run_pods(pods, self.seen, self.problems)
            waiting += [p for p in pods if p["metadata"]["uid"] not in self.played
                        and p["status"].get("phase", "Pending") == "Pending"]
        self.most_waiting = max(self.most_waiting, len(waiting))
        for p in sorted(waiting, key=lambda p: p["metadata"]["creationTimestamp"]):
            self.order.append((p["metadata"]["namespace"], p["metadata"]["labels"][kube.UID_LABEL]))
            kube.play_terminated(p["metadata"]["name"], p["metadata"]["namespace"], 0)
            self.played.add(p["metadata"]["uid"])


def ended_count(ns):
    return sum(1 for c in items("coderuns", ns)
               if c.get("status", {}).get("phase") in ("Succeeded", "Failed"))


def test_a_burst_waits_queued_without_pods_and_every_run_ends(start_controller, namespace):
    runs = 40
    start_controller(*FLAGS, "--max-starting-runs", "4")
    create_runs(namespace, [f"run-{i:02d}" for i in range(runs)])

    # Nobody plays the kubelet yet: four Pods, and the rest queued with their place.
    def queued():
        crs = items("coderuns", namespace)
        q = [c for c in crs if c.get("status", {}).get("reason") == "Queued"]
        return q if len(q) == runs - 4 else None
    q = wait_for(queued, 60, f"{runs - 4} runs Queued", objects=[("coderuns", None, namespace)])
    assert len(items("pods", namespace, selector=MANAGED_SELECTOR)) == 4
    secrets = [s["metadata"]["name"] for s in items("secrets", namespace,
                                                     selector=MANAGED_SELECTOR)]
    assert len(secrets) == 4, secrets
    positions = sorted(c["status"]["queuePosition"] for c in q)
    assert positions == list(range(1, runs - 4 + 1)), positions
    for c in q:
        assert c["status"]["phase"] == "Pending"
        assert "podName" not in c["status"], c["status"]
    table = kube.kubectl("get", "crun", "-n", namespace).stdout
    assert "Queued" in table, table

    kubelet = Kubelet([namespace])

    def all_ended():
        kubelet.step()
        return ended_count(namespace) == runs or None
    wait_for(all_ended, 240, f"all {runs} runs ended", objects=[("coderuns", None, namespace)],
             interval=0.3)
    assert not kubelet.problems, kubelet.problems[:10]
    assert kubelet.most_waiting <= 4, kubelet.most_waiting
    for c in items("coderuns", namespace):
        st = c["status"]
        # Ended by the played Pod (no log without a kubelet), never by a deadline.
        assert (st["phase"], st["reason"]) == kube.ENDED, st
        assert "did not start" not in st.get("message", ""), st
        assert "queuePosition" not in st, st


def test_two_namespaces_take_turns(start_controller, namespace):
    small = f"it-admission-small-{uuid.uuid4().hex[:6]}"
    kube.make_namespace(small, labels={"coderun.dev/test": "integration"})
    try:
        start_controller(*FLAGS, "--max-starting-runs", "2", namespaces=[namespace, small])
        create_runs(namespace, [f"big-{i:03d}" for i in range(100)])
        create_runs(small, [f"small-{i:02d}" for i in range(10)])
        kubelet = Kubelet([namespace, small])

        def small_done():
            kubelet.step()
            return ended_count(small) == 10 or None
        wait_for(small_done, 240, "the small namespace's 10 runs ended",
                 objects=[("coderuns", None, small)], interval=0.3)
        firsts = [ns for ns, _ in kubelet.order]
        big_before = firsts.index(small) if small in firsts else len(firsts)
        last_small = len(firsts) - 1 - firsts[::-1].index(small)
        big_meanwhile = firsts[:last_small + 1].count(namespace)
        print(f"Pods in order: {''.join('s' if ns == small else 'B' for ns in firsts)}")
        # The small namespace's first Pod comes within the first round (2 slots were taken
        # by big before small's runs existed), and its tenth after about ten of big's.
        assert big_before <= 2 + 2, firsts
        assert big_meanwhile <= 10 + 2 + 2, firsts
        assert not kubelet.problems, kubelet.problems[:10]
    finally:
        kube.kubectl("delete", "namespace", small, "--wait=false", check=False)


def test_priority_orders_a_namespaces_queue(start_controller, namespace):
    start_controller(*FLAGS, "--max-starting-runs", "1")
    runs = [coderun(f"low-{i}") for i in range(3)] + \
        [coderun(f"high-{i}", priority=10) for i in range(2)]
    kube.kubectl("create", "-n", namespace, "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": runs}))
    names = {c["metadata"]["uid"]: c["metadata"]["name"] for c in items("coderuns", namespace)}
    kubelet = Kubelet([namespace])

    def all_ended():
        kubelet.step()
        return ended_count(namespace) == 5 or None
    wait_for(all_ended, 120, "all 5 runs ended", objects=[("coderuns", None, namespace)],
             interval=0.3)
    order = [names[uid] for _, uid in kubelet.order]
    # The first run took the free slot on arrival; of the rest, the high-priority ones (in
    # creation order) start before the older low-priority ones.
    rest = order[1:]
    assert [n for n in rest if n.startswith("high")] == ["high-0", "high-1"], order
    assert rest[:2] == ["high-0", "high-1"], order
    assert not kubelet.problems, kubelet.problems[:10]


def test_a_restart_mid_burst_loses_and_duplicates_nothing(start_controller, namespace):
    runs = 30
    watcher = kube.PodWatcher(namespace)
    try:
        ctl = start_controller(*FLAGS, "--max-starting-runs", "3")
        create_runs(namespace, [f"run-{i:02d}" for i in range(runs)])
        kubelet = Kubelet([namespace])

        def some_played():
            kubelet.step()
            return len(kubelet.played) >= 10 or None
        wait_for(some_played, 120, "10 Pods played", interval=0.3)
        ctl.kill(signal.SIGKILL)
        pods_at_kill = len(items("pods", namespace, selector=MANAGED_SELECTOR))
        ctl.start()

        def all_ended():
            kubelet.step()
            return ended_count(namespace) == runs or None
        wait_for(all_ended, 240, f"all {runs} runs ended",
                 objects=[("coderuns", None, namespace)], interval=0.3)
        assert not kubelet.problems, kubelet.problems[:10]
        assert kubelet.most_waiting <= 3, kubelet.most_waiting
        streamed = watcher.snapshot()
        replaced = 0
        for cr in items("coderuns", namespace):
            pods = streamed.get(cr["metadata"]["uid"], set())
            # One Pod per run, or two where the first was created just before the kill and
            # not yet recorded (replaced unread, as test_restart explains).
            assert 1 <= len(pods) <= 2, (cr["metadata"]["name"], pods)
            replaced += len(pods) - 1
            assert (cr["status"]["phase"], cr["status"]["reason"]) == kube.ENDED, cr["status"]
        assert replaced <= pods_at_kill, (replaced, pods_at_kill)
    finally:
        watcher.stop()


def test_max_queued_seconds_ends_a_waiting_run_as_queue_timeout(start_controller, namespace):
    start_controller(*FLAGS, "--max-starting-runs", "1", "--max-queued-seconds", "3")
    create_runs(namespace, ["first"])
    kube.wait_phase("first", namespace, "Pending", reason="PodPending", timeout=30)
    create_runs(namespace, ["second"])
    st = kube.wait_phase("second", namespace, "Failed", reason="QueueTimeout", timeout=60)
    assert "--max-queued-seconds" in st["message"], st
    assert "podName" not in st, st
    # The admitted run is not affected by the queue's deadline.
    assert kube.status_of("first", namespace)["reason"] == "PodPending"
    assert len(items("pods", namespace, selector=MANAGED_SELECTOR)) == 1


def test_pods_planted_under_the_controllers_label_take_no_slot(start_controller, namespace):
    # An `edit` user ends two runs at once (InvalidSpec) and then makes, for each, a Pod
    # labelled and owned as that run's (under another name: one under the run's own Pod name
    # the controller deletes as it cleans up) that never starts. Counted as starting, they
    # would fill the start slots of every namespace for good.
    ctl = start_controller(*FLAGS, "--max-starting-runs", "2", "--max-timeout-seconds", "60")
    victim = kube.create(coderun("victim"), namespace)
    victim_pod = kube.pod_name_for(victim)
    kube.wait_for(lambda: kube.get("pod", victim_pod, namespace), 30, "the victim run's Pod")
    for i in range(2):
        bad = kube.create(coderun(f"bad-{i}", limits={"timeoutSeconds": 3600}), namespace)
        kube.wait_phase(f"bad-{i}", namespace, "Failed", reason="InvalidSpec")
        uid = bad["metadata"]["uid"]
        kube.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"planted-{i}",
                         "labels": {kube.MANAGED_BY: kube.CONTROLLER_NAME, kube.UID_LABEL: uid},
                         "ownerReferences": [{"apiVersion": "coderun.dev/v1alpha1",
                                              "kind": "CodeRun", "name": f"bad-{i}", "uid": uid,
                                              "controller": True}]},
            "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "c", "image": "planted.test/never:1",
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}}}]}},
            namespace)
    # The victim's own Pod starts. Its event follows the planted Pods' on the controller's one
    # Pod watch, so once the controller counts it running it has seen them all.
    kube.play_running(victim_pod, namespace)
    wait_for(lambda: ctl.metric("coderun_admission_runs", state="running") == 1, 30,
             "the controller to count the victim's Pod running")
    assert ctl.metric("coderun_admission_runs", state="starting") == 0
    # Both slots are free, planted Pods or not: the next run gets its Pod at once.
    create_runs(namespace, ["next"])
    kube.wait_phase("next", namespace, "Pending", reason="PodPending", timeout=30)
