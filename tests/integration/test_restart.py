"""The controller SIGKILLed and restarted while 50 CodeRuns are in flight: no run ever
gets a second Pod (nor a deleted-and-recreated one), no two live Pods share a UID, and
every run still finishes."""

import collections
import json
import signal

import kube
from kube import MANAGED_SELECTOR, coderun, items, wait_for

RUNS = 50
KILL_AFTER_PODS = 20
# Slow client side so that the kill lands mid-way through creating the Pods.
FLAGS = ["--runner-image", "coderun.test/runner:it", "--workers", "4", "--qps", "20",
         "--burst", "5"]


def test_sigkill_mid_flight_creates_no_second_pod_and_all_runs_finish(start_controller,
                                                                      namespace):
    watcher = kube.PodWatcher(namespace)
    try:
        ctl = start_controller(*FLAGS)
        runs = [coderun(f"run-{i:02d}") for i in range(RUNS)]
        kube.kubectl("create", "-n", namespace, "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List", "items": runs}))
        seen = collections.defaultdict(set)
        problems = []

        def enough_pods():
            pods = items("pods", namespace, selector=MANAGED_SELECTOR)
            kube.check_run_pods(pods, seen, problems)
            return len(pods) >= KILL_AFTER_PODS
        wait_for(enough_pods, 60, f"{KILL_AFTER_PODS} Pods before the kill")
        ctl.kill(signal.SIGKILL)
        pods_at_kill = len(items("pods", namespace, selector=MANAGED_SELECTOR))
        ctl.start()

        played = set()

        def all_succeeded():
            pods = items("pods", namespace, selector=MANAGED_SELECTOR)
            kube.check_run_pods(pods, seen, problems)
            for p in pods:
                if p["metadata"]["uid"] not in played and p["status"].get("phase") == "Pending":
                    kube.play_terminated(p["metadata"]["name"], namespace, 0)
                    played.add(p["metadata"]["uid"])
            phases = collections.Counter(
                c.get("status", {}).get("phase") for c in items("coderuns", namespace))
            return phases["Succeeded"] == RUNS or None
        wait_for(all_succeeded, 240, f"all {RUNS} CodeRuns Succeeded",
                 objects=[("coderuns", None, namespace)], interval=0.3)
        assert not problems, problems[:10]

        # Every run had exactly one Pod over the whole test, per the watch stream too.
        crs = items("coderuns", namespace)
        streamed = watcher.snapshot()
        for cr in crs:
            uid = cr["metadata"]["uid"]
            assert len(seen[uid]) == 1, f"{cr['metadata']['name']}: Pods {seen[uid]}"
            assert len(streamed.get(uid, ())) == 1, \
                f"{cr['metadata']['name']}: watch saw Pods {streamed.get(uid)}"
            assert cr["status"]["podName"] == kube.pod_name_for(cr)
            assert cr["status"]["reason"] == "Completed"
        print(f"killed with {pods_at_kill}/{RUNS} Pods created; {len(played)} played")
    finally:
        watcher.stop()


def test_uids_are_unique_among_live_pods_after_restart(start_controller, namespace):
    """After a restart the UID allocator is rebuilt from existing Pods: Pods created
    before and after the restart never share a runAsUser."""
    ctl = start_controller(*FLAGS, "--uid-range", "320000-320063")
    kube.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [coderun(f"a-{i}") for i in range(10)]}))
    wait_for(lambda: len(items("pods", namespace, selector=MANAGED_SELECTOR)) == 10, 60,
             "10 Pods before the restart")
    ctl.kill(signal.SIGKILL)
    ctl.start()
    kube.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [coderun(f"b-{i}") for i in range(10)]}))
    pods = wait_for(lambda: (p := items("pods", namespace, selector=MANAGED_SELECTOR))
                    and len(p) == 20 and p, 60, "20 Pods after the restart")
    users = [p["spec"]["securityContext"]["runAsUser"] for p in pods]
    assert len(set(users)) == 20, sorted(users)
    assert all(320000 <= u <= 320063 for u in users), users
