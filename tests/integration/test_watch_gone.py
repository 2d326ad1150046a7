"""A compacted etcd and a restarted kube-apiserver make the controller's resumed watch
answer 410 Gone: the controller must relist (and say so in its log and metrics), then
keep working. Restarts the shared apiserver, so it runs serially (ctest RUN_SERIAL)."""

import json
import os
import subprocess

import kube
from kube import MANAGED_SELECTOR, coderun, create, items, wait_for, wait_phase, wait_pod

FLAGS = ["--runner-image", "coderun.test/runner:it", "--workers", "2"]
CHURN = 300  # objects created and deleted to move etcd's revision well past ours


def cluster_script(name):
    subprocess.run(["bash", os.path.join(kube.REPO, "tests", "cluster", name)], check=True,
                   timeout=300)


def churn(ns, n):
    """Creates and deletes n ConfigMaps (in batches) to advance etcd's revision."""
    for start in range(0, n, 50):
        batch = [{"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"churn-{i}"}, "data": {"i": str(i)}}
                 for i in range(start, min(n, start + 50))]
        kube.kubectl("create", "-n", ns, "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List", "items": batch}))
        kube.kubectl("delete", "configmaps", "--all", "-n", ns, "--wait=false")


def relist_lines(log):
    return [line for line in log.splitlines()
            if "relist" in line and "reason=Gone" in line]


def test_compacted_watch_gets_410_gone_and_the_controller_relists(start_controller, namespace):
    ctl = start_controller(*FLAGS)
    # Runs flowing: one finished, one waiting for its Pod's fate.
    first = create(coderun("before"), namespace)
    kube.play_terminated(wait_pod(first, namespace)["metadata"]["name"], namespace, 0)
    wait_phase("before", namespace, kube.ENDED[0])
    pending = create(coderun("in-flight"), namespace)
    wait_pod(pending, namespace)

    gone_before = ctl.metric("coderun_informer_relists_total", resource="coderuns",
                             reason="gone")
    lines_before = len(relist_lines(ctl.log()))

    churn(namespace, CHURN)
    cluster_script("etcd-compact")
    cluster_script("restart-apiserver")
    wait_for(kube.readyz, 120, "kube-apiserver ready after restart")

    wait_for(lambda: len(relist_lines(ctl.log())) > lines_before, 120,
             "a log line with 'relist' and 'reason=Gone'")
    wait_for(lambda: ctl.metric("coderun_informer_relists_total", resource="coderuns",
                                reason="gone") > gone_before, 60,
             'coderun_informer_relists_total{resource="coderuns",reason="gone"} to increase')
    assert ctl.alive()

    # Still working after the relist: the in-flight run finishes, a new run gets its Pod.
    kube.play_terminated(kube.pod_name_for(pending), namespace, 0)
    wait_phase("in-flight", namespace, *kube.ENDED, timeout=60)
    after = create(coderun("after"), namespace)
    kube.play_terminated(wait_pod(after, namespace, timeout=60)["metadata"]["name"],
                         namespace, 0)
    st = wait_phase("after", namespace, *kube.ENDED, timeout=60)
    assert "exited with code 0" in st["message"], st
    for cr in items("coderuns", namespace):
        assert len(kube.pods_of(cr["metadata"]["uid"], namespace)) <= 1
    assert all(p["metadata"]["labels"].get(kube.UID_LABEL)
               for p in items("pods", namespace, selector=MANAGED_SELECTOR))
