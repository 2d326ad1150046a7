"""Many runs at once on two cores, and a CodeRun deleted while it runs."""

import kube
from conftest import expect, wait_terminal


def test_twenty_runs_at_once_all_correct(namespace):
    names = [f"many-{i:02d}" for i in range(20)]
    for i, name in enumerate(names):
        code = f"import sys\nn = int(sys.argv[1])\nprint(n, sum(range(n)))"
        kube.create(kube.coderun(name, code, args=[str(1000 + i)]), namespace)
    for i, name in enumerate(names):
        st = wait_terminal(namespace, name, timeout=240)
        expect(st, "Succeeded", "Completed", name)
        n = 1000 + i
        assert st["stdout"] == f"{n} {sum(range(n))}\n", (name, st)
    # Every run had its own Pod and UID; none is left once all are finished.
    kube.wait_for(lambda: not kube.items("pods", namespace, selector=kube.MANAGED_SELECTOR),
                  60, "run Pods to be deleted after the runs finished")


def test_deleting_a_running_coderun_takes_its_pod_and_secret(namespace):
    cr = kube.create(kube.coderun("doomed", "import time\nprint('up', flush=True)\ntime.sleep(120)",
                                  limits={"timeoutSeconds": 300}), namespace)
    pod = kube.wait_pod(cr, namespace, timeout=60)
    name = pod["metadata"]["name"]
    kube.wait_for(lambda: (kube.get("pod", name, namespace) or {}).get("status", {})
                  .get("phase") == "Running", 60, f"Pod {name} Running",
                  objects=[("pod", name, namespace)])
    assert kube.get("secret", name, namespace), "the run's Secret should exist while it runs"
    kube.delete("coderun", "doomed", namespace)
    kube.wait_for(lambda: kube.get("pod", name, namespace) is None, 90,
                  f"Pod {name} gone after its CodeRun was deleted",
                  objects=[("pod", name, namespace)])
    kube.wait_for(lambda: kube.get("secret", name, namespace) is None, 30,
                  f"Secret {name} gone after its CodeRun was deleted")
