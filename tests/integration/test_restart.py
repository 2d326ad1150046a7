"""The controller SIGKILLed and restarted while 50 CodeRuns are in flight: no run ever has
two Pods at once, no two live Pods share a UID, every run's result comes from the Pod its
status records, and every run still finishes.

A Pod the killed process created but had not yet recorded in status.podUID cannot be told
from one an `edit` user planted under the run's name (docs/security.md): the new process
deletes it unread and the run gets a new Pod. Only Pods that existed at the kill can be
replaced that way, each at most once."""

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
            return phases[kube.ENDED[0]] == RUNS or None
        wait_for(all_succeeded, 240, f"all {RUNS} CodeRuns ended",
                 objects=[("coderuns", None, namespace)], interval=0.3)
        assert not problems, problems[:10]

        # Per the watch stream: one Pod per run, or two where the first was created before
        # the kill and replaced unread; the status names the last.
        crs = items("coderuns", namespace)
        streamed = watcher.snapshot()
        replaced = 0
        for cr in crs:
            uid = cr["metadata"]["uid"]
            pods = streamed.get(uid, [])
            assert 1 <= len(pods) <= 2, f"{cr['metadata']['name']}: watch saw Pods {pods}"
            replaced += len(pods) - 1
            assert cr["status"]["podName"] == kube.pod_name_for(cr)
            assert cr["status"]["podUID"] in seen[uid], cr["status"]
            assert cr["status"]["reason"] == kube.ENDED[1]
        assert replaced <= pods_at_kill, (replaced, pods_at_kill)
        print(f"killed with {pods_at_kill}/{RUNS} Pods created; {len(played)} played; "
              f"{replaced} unrecorded Pods replaced")
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
