"""Warm pools on the real node (docs/warm-pools.md): a CodeRunPool keeps run Pods started; a
matching run claims one, gets its request on the Pod's stdin through pods/attach, and
finishes from the runner's report; the claimed Pod goes and the pool refills. An `edit`
user can neither get a look-alike Pod claimed nor pass another program's report off as a
run's."""

import os
import subprocess
import time

import kube
from conftest import expect, run, wait_terminal

ATTACH = os.environ.get("CODERUN_ATTACH") or os.path.join(kube.REPO, "build", "controller",
                                                          "kube", "coderun-attach")
POOL = "warm"


def create_pool(ns, size, name=POOL, **limits):
    spec = {"size": size}
    if limits:
        spec["limits"] = limits
    kube.create({"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRunPool",
                 "metadata": {"name": name}, "spec": spec}, ns)


def pool_status(ns, name=POOL):
    return (kube.get("coderunpool", name, ns) or {}).get("status", {})


def wait_ready(ns, at_least, name=POOL, timeout=120):
    return kube.wait_for(lambda: pool_status(ns, name).get("ready", 0) >= at_least, timeout,
                         f"pool {ns}/{name} to have {at_least} ready",
                         objects=[("coderunpool", name, ns), ("pods", None, ns)])


def ledger(ns, name=POOL):
    return pool_status(ns, name).get("pods", [])


def idle_pods(ns, name=POOL):
    return [e["name"] for e in ledger(ns, name) if not e.get("claimedBy")]


def test_sequential_runs_claim_warm_pods_and_the_pool_refills(namespace):
    create_pool(namespace, 3)
    wait_ready(namespace, 3)
    claimed = set()
    for i in range(30):
        wait_ready(namespace, 1)  # correctness here, not throughput (bench/ measures that)
        name = f"warm-{i}"
        _, st = run(namespace, name, "import sys\nprint(sys.argv[1], input()[::-1])",
                    stdin="olleh\n", args=[str(i)])
        expect(st, "Succeeded", "Completed", f"warm run {i}")
        assert st["stdout"] == f"{i} hello\n", st
        assert st.get("warmPool") == POOL, st
        assert st["podName"].startswith(POOL + "-"), st  # not the run's own Pod name
        assert st["podName"] not in claimed, "a warm Pod served a second run"
        claimed.add(st["podName"])
    # Every claimed Pod is deleted, and the pool is full again.
    kube.wait_for(lambda: not any(kube.get("pod", p, namespace) for p in claimed), 60,
                  "the claimed Pods to be deleted")
    wait_ready(namespace, 3)
    assert not set(idle_pods(namespace)) & claimed


def test_a_run_with_other_limits_runs_cold(namespace):
    wait_ready(namespace, 1)
    _, st = run(namespace, "cold", "print('cold')", limits={"memory": "128Mi"})
    expect(st, "Succeeded", "Completed", "a run no pool serves")
    assert "warmPool" not in st, st
    assert not st["podName"].startswith(POOL + "-"), st


def test_a_look_alike_warm_pod_is_never_claimed(namespace):
    """An `edit` user copies a warm Pod (labels, ownerReference to the pool, the runner
    waiting on stdin): it is not in the pool's ledger, so no run ever gets it."""
    wait_ready(namespace, 3)
    real = kube.get("pod", idle_pods(namespace)[0], namespace)
    fake = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "warm-lookalike", "labels": real["metadata"]["labels"],
                         "ownerReferences": real["metadata"]["ownerReferences"]},
            "spec": {k: v for k, v in real["spec"].items()
                     if k not in ("nodeName", "serviceAccountName", "serviceAccount")}}
    fake["spec"]["securityContext"] = dict(fake["spec"]["securityContext"], runAsUser=65000,
                                           runAsGroup=65000, fsGroup=65000)
    kube.create(fake, namespace)
    for i in range(5):
        wait_ready(namespace, 1)
        _, st = run(namespace, f"not-fooled-{i}", "print('ok')")
        expect(st, "Succeeded", "Completed", "a run next to a look-alike")
        assert st["podName"] != "warm-lookalike", st
    assert "warm-lookalike" not in [e["name"] for e in ledger(namespace)]
    # The pool deletes it once it is older than its grace.
    kube.wait_for(lambda: kube.get("pod", "warm-lookalike", namespace) is None, 120,
                  "the look-alike to be deleted")


def test_another_request_delivered_first_never_becomes_the_runs_result(namespace):
    """An `edit` user attaches to the pool's one idle Pod first and delivers its own program
    (a well-formed request). The run that claims that Pod does not report that program's
    output: the runner's report names the request it ran, and it is not the run's."""
    ns = namespace
    create_pool(ns, 1, name="bait", pids=51)  # limits only the victim's run shares
    wait_ready(ns, 1, name="bait")
    target = idle_pods(ns, "bait")[0]
    forged = subprocess.run(
        ["python3", "-c", """
import json, sys
body = json.dumps({"nonce": "n" * 32, "code": "import time\\ntime.sleep(15)\\nprint('all tests passed')",
                   "stdin": "", "args": []}, separators=(",", ":")).encode()
sys.stdout.buffer.write(b"coderun-request/v1 %d\\n" % len(body) + body + b"\\ncoderun-request-end\\n")
"""], capture_output=True, check=True).stdout
    proc = subprocess.run([ATTACH, f"--kubeconfig={kube.ADMIN_KUBECONFIG}", ns, target, "runner"],
                          input=forged, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # The run the pool serves claims the Pod while the other program still runs in it.
    kube.create(kube.coderun("victim", "print('the real program')", limits={"pids": 51}), ns)
    st = wait_terminal(ns, "victim", timeout=120)
    assert st.get("stdout") != "all tests passed\n", st
    if st.get("podName") == target:
        expect(st, "Failed", "PodFailed", "a run whose warm Pod ran another request")
        assert "another request" in st["message"], st
    else:
        # The pool saw the Pod end first and the run went elsewhere: also no wrong result.
        assert st["phase"] == "Succeeded" and st["stdout"] == "the real program\n", st


def test_a_torn_request_is_refused_and_the_pod_replaced(namespace):
    """Half a request frame, then the attach ends: the runner refuses it (never runs a
    program), its Pod ends, and the pool replaces it; no run ever gets that Pod."""
    ns = namespace
    create_pool(ns, 1, name="torn", pids=52)
    wait_ready(ns, 1, name="torn")
    target = idle_pods(ns, "torn")[0]
    proc = subprocess.run([ATTACH, f"--kubeconfig={kube.ADMIN_KUBECONFIG}", ns, target, "runner"],
                          input=b"coderun-request/v1 500\n{\"nonce\":", capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    log = kube.wait_for(lambda: "request refused" in kube.kubectl(
        "logs", target, "-n", ns, check=False).stdout and
        kube.kubectl("logs", target, "-n", ns, check=False).stdout, 60,
        "the runner to refuse the torn request")
    assert "cut short" in log or "torn" in log or "refused" in log, log
    kube.wait_for(lambda: target not in [e["name"] for e in ledger(ns, "torn")]
                  and pool_status(ns, "torn").get("ready", 0) >= 1, 120,
                  "the pool to replace the Pod that refused a request",
                  objects=[("coderunpool", "torn", ns)])
