"""Kueue on the real node: Kueue v0.17.1 (built from its module, run by tests/cluster/kueue
beside the cluster) admits CodeRuns labelled with a LocalQueue whose ClusterQueue has a
memory quota of 256Mi; runs asking for 128Mi each (memory requests equal limits; the
local cluster's controller requests only a twentieth of each cpu limit) run two at a time,
and every one finishes Succeeded with its own output, each Workload Finished at the end.

Outcomes only (phases, outputs, how many run Pods were ever seen live together); no timing
decides a test."""

import json
import os
import subprocess

import pytest

import kube

RESTART = os.path.join(kube.REPO, "tests", "cluster", "restart-controller")


@pytest.fixture(scope="module", autouse=True)
def kueue_controller(node_cluster):
    kube.kueue_up()
    kube.grant_kueue_rbac()
    subprocess.run(["bash", RESTART, "--kueue"], check=True, timeout=300)
    yield
    subprocess.run(["bash", RESTART], check=True, timeout=300)


def test_a_cluster_queue_of_256mi_runs_128mi_runs_two_at_a_time_and_all_succeed(namespace):
    cq = kube.make_kueue_queues(namespace, cpu=10, memory="256Mi")
    try:
        runs = 8
        manifests = []
        for i in range(runs):
            r = kube.coderun(f"team-{i}", f'print("case", {i})',
                             limits={"cpu": "500m", "memory": "128Mi"})
            r["metadata"]["labels"] = {kube.QUEUE_LABEL: "team"}
            manifests.append(r)
        kube.kubectl("create", "-n", namespace, "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
        objects = [("coderuns", None, namespace), ("workloads.kueue.x-k8s.io", None, namespace)]
        most = 0

        def all_done():
            nonlocal most
            pods = [p for p in kube.items("pods", namespace, selector=kube.MANAGED_SELECTOR)
                    if p["status"].get("phase", "Pending") in ("Pending", "Running")
                    and "deletionTimestamp" not in p["metadata"]]
            most = max(most, len(pods))
            crs = kube.items("coderuns", namespace)
            done = [c for c in crs if c.get("status", {}).get("phase") in ("Succeeded", "Failed")]
            return crs if len(done) == runs else None
        crs = kube.wait_for(all_done, 300, f"all {runs} runs finished", objects=objects,
                            interval=0.3)
        assert 1 <= most <= 2, most
        for c in crs:
            st = c["status"]
            assert (st["phase"], st["reason"]) == ("Succeeded", "Completed"), st
            i = int(c["metadata"]["name"].split("-")[1])
            assert st["stdout"] == f"case {i}\n", st
        workloads = kube.items("workloads.kueue.x-k8s.io", namespace)
        assert len(workloads) == runs
        kube.wait_for(lambda: all(kube.workload_condition(w, "Finished") == "True"
                                  for w in kube.items("workloads.kueue.x-k8s.io", namespace)),
                      60, "every Workload Finished", objects=objects)
    finally:
        kube.kubectl("delete", "clusterqueue", cq, "--wait=false", check=False)
