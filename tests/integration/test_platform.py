"""What the controller gets from the rest of the control plane (kube-controller-manager's
ResourceQuota accounting and garbage collector), proven against the real components:
a run that meets an exhausted quota waits Pending with the cause and starts once there is
room; a CodeRun deleted mid-run takes its Pod and Secret with it."""

import kube
from kube import coderun, create, get, items, wait_for, wait_phase, wait_pod

FLAGS = ["--runner-image", "coderun.test/runner:it", "--workers", "2"]


def quota(ns, pods):
    create({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "runs"},
            "spec": {"hard": {"pods": str(pods)}}}, ns)
    # Quota admission enforces a quota once the quota controller has written its status.
    wait_for(lambda: (get("resourcequota", "runs", ns) or {}).get("status", {}).get("hard"),
             60, "the ResourceQuota's status", objects=[("resourcequota", "runs", ns)])


def test_exhausted_quota_keeps_the_run_pending_with_the_cause_until_room(start_controller,
                                                                         namespace):
    quota(namespace, 1)
    start_controller(*FLAGS, "--max-pending-seconds", "120")
    first = create(coderun("first"), namespace)
    first_pod = wait_pod(first, namespace)
    create(coderun("second"), namespace)
    st = wait_phase("second", namespace, "Pending", "QuotaExceeded")
    assert "exceeded quota" in st["message"], st
    assert not kube.pods_of(get("coderun", "second", namespace)["metadata"]["uid"], namespace)
    # Room: the first run ends, the controller deletes its Pod, the second one starts.
    kube.play_terminated(first_pod["metadata"]["name"], namespace, 0)
    wait_phase("first", namespace, *kube.ENDED)
    second_pod = wait_pod(get("coderun", "second", namespace), namespace, timeout=60)
    kube.play_terminated(second_pod["metadata"]["name"], namespace, 0)
    wait_phase("second", namespace, *kube.ENDED)


def test_run_still_blocked_by_quota_at_the_pending_deadline_fails(start_controller, namespace):
    quota(namespace, 0)
    start_controller(*FLAGS, "--max-pending-seconds", "3")
    create(coderun("never"), namespace)
    st = wait_phase("never", namespace, "Failed", "PodFailed", timeout=30)
    assert "exceeded quota" in st["message"] and "3 s" in st["message"], st


def test_coderun_deleted_mid_run_takes_its_pod_and_secret(start_controller, namespace):
    start_controller(*FLAGS)
    cr = create(coderun("doomed"), namespace)
    pod = wait_pod(cr, namespace)
    kube.play_running(pod["metadata"]["name"], namespace)
    wait_phase("doomed", namespace, "Running")
    name = pod["metadata"]["name"]
    assert get("secret", name, namespace) is not None
    kube.delete("coderun", "doomed", namespace)
    wait_for(lambda: get("pod", name, namespace) is None and
             get("secret", name, namespace) is None, 60,
             "the garbage collector to delete the run's Pod and Secret",
             objects=[("pod", name, namespace), ("secret", name, namespace)])
    assert not [p for p in items("pods", namespace)
                if p["metadata"]["labels"].get(kube.UID_LABEL) == cr["metadata"]["uid"]]
