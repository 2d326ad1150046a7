"""Bursts on the real node, with the controller's pending deadline shortened to 20 s and at
most 10 runs starting at once: a burst the node cannot start within 20 s still ends with
every run Succeeded (none PodFailed); two namespaces submitting 200 and 20 runs at once both
make progress from the start; a controller killed and restarted in the middle of a burst
loses and duplicates nothing.

Outcomes only (phases, reasons, Pod counts, the order runs finished in); no timing decides
a test."""

import collections
import json
import os
import signal
import subprocess

import pytest

import kube
from conftest import make_namespace

RESTART = os.path.join(kube.REPO, "tests", "cluster", "restart-controller")
CONTROLLER_PID = os.path.join(kube.CLUSTER, "run", "coderun-controller.pid")
FLAGS = ["--max-pending-seconds", "20", "--max-starting-runs", "10"]


@pytest.fixture(scope="module", autouse=True)
def admission_flags(node_cluster):
    subprocess.run(["bash", RESTART, *FLAGS], check=True, timeout=300)
    yield
    subprocess.run(["bash", RESTART], check=True, timeout=300)


def create_runs(ns, names):
    runs = [kube.coderun(n, 'print("hello")') for n in names]
    kube.kubectl("create", "-n", ns, "-f", "-",
                 input=json.dumps({"apiVersion": "v1", "kind": "List", "items": runs}),
                 timeout=300)


def outcomes(ns):
    return collections.Counter((c.get("status", {}).get("phase"), c.get("status", {}).get("reason"))
                               for c in kube.items("coderuns", ns))


def finished(ns):
    return sum(n for (phase, _), n in outcomes(ns).items() if phase in ("Succeeded", "Failed"))


def wait_all_finished(ns, count, timeout):
    kube.wait_for(lambda: finished(ns) == count or None, timeout,
                  f"all {count} runs of {ns} finished", objects=[("coderuns", None, ns)],
                  interval=1)
    return outcomes(ns)


def test_a_burst_beyond_the_pending_deadline_all_succeeds():
    ns = make_namespace("burst")
    try:
        runs = 150   # the node starts a few per second: the last would wait far beyond 20 s
        create_runs(ns, [f"hello-{i:03d}" for i in range(runs)])
        got = wait_all_finished(ns, runs, 900)
        assert got == {("Succeeded", "Completed"): runs}, got
    finally:
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_a_small_namespace_is_not_behind_a_big_one():
    big, small = make_namespace("big"), make_namespace("small")
    try:
        create_runs(big, [f"big-{i:03d}" for i in range(200)])
        create_runs(small, [f"small-{i:02d}" for i in range(20)])
        wait_all_finished(small, 20, 600)
        big_done = finished(big)
        print(f"when the small namespace's 20 runs had finished, the big one had {big_done}")
        # Round-robin: the small namespace's 20 runs are admitted within about the first 40.
        assert big_done < 100, big_done
        assert outcomes(small) == {("Succeeded", "Completed"): 20}, outcomes(small)
        got = wait_all_finished(big, 200, 900)
        assert got == {("Succeeded", "Completed"): 200}, got
    finally:
        for ns in (big, small):
            kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_a_restart_mid_burst_loses_and_duplicates_nothing():
    ns = make_namespace("restart")
    watcher = kube.PodWatcher(ns)
    try:
        runs = 60
        create_runs(ns, [f"hello-{i:02d}" for i in range(runs)])
        kube.wait_for(lambda: finished(ns) >= 15 or None, 300, "15 runs finished",
                      objects=[("coderuns", None, ns)], interval=0.5)
        with open(CONTROLLER_PID) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
        subprocess.run(["bash", RESTART, *FLAGS], check=True, timeout=300)
        got = wait_all_finished(ns, runs, 900)
        assert got == {("Succeeded", "Completed"): runs}, got
        streamed = watcher.snapshot()
        for cr in kube.items("coderuns", ns):
            pods = streamed.get(cr["metadata"]["uid"], set())
            # One Pod, or two where the first was created just before the kill and not yet
            # recorded (replaced unread: docs/security.md).
            assert 1 <= len(pods) <= 2, (cr["metadata"]["name"], pods)
    finally:
        watcher.stop()
        kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)
