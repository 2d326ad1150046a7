"""Two replicas with --leader-elect on a real Lease (with the controller's own RBAC): only
the leader reconciles; when it dies the standby takes over after the lease duration; when
it is stopped with SIGTERM it hands the Lease over at once; when its apiserver connection
hangs it stops writing before the standby can take over (no split brain). No CodeRun ever
has two Pods and no two live run Pods share a UID."""

import re
import signal
import urllib.parse

import kube
from freezable_proxy import FreezableProxy
from kube import coderun, create, get, items, wait_for, wait_phase, wait_pod

LEASE_NS = "coderun-system"


def elect_flags(lease, duration=6):
    return ["--runner-image", "coderun.test/runner:it", "--workers", "2", "--leader-elect",
            "--leader-election-id", lease, "--leader-elect-lease-duration", str(duration),
            "--leader-elect-renew-deadline", str(duration - 2),
            "--leader-elect-retry-period", "1"]


def holder(lease):
    obj = get("lease", lease, LEASE_NS)
    return (obj or {}).get("spec", {}).get("holderIdentity") or ""


def leader_of(controllers, lease):
    """The controller whose process holds the Lease (identity <host>_<pid>)."""
    h = holder(lease)
    for c in controllers:
        if c.alive() and h.endswith(f"_{c.proc.pid}"):
            return c
    return None


def run_once(name, namespace):
    cr = create(coderun(name), namespace)
    pod = wait_pod(cr, namespace, timeout=60)
    kube.play_terminated(pod["metadata"]["name"], namespace, 0)
    wait_phase(name, namespace, *kube.ENDED, timeout=60)
    return cr


def assert_one_pod_per_run_and_unique_uids(namespace):
    uids = []
    for cr in items("coderuns", namespace):
        assert len(kube.pods_of(cr["metadata"]["uid"], namespace)) <= 1, cr["metadata"]["name"]
    for p in items("pods", namespace, selector=kube.MANAGED_SELECTOR):
        uids.append(p["spec"]["securityContext"]["runAsUser"])
    assert len(uids) == len(set(uids)), uids


def test_only_the_leader_reconciles_and_the_standby_takes_over_when_it_dies(start_controller,
                                                                           namespace):
    lease = f"it-{namespace[-6:]}"
    a = start_controller(*elect_flags(lease))
    b = start_controller(*elect_flags(lease))
    wait_for(lambda: leader_of([a, b], lease), 30, f"a holder of Lease {LEASE_NS}/{lease}")
    first = leader_of([a, b], lease)
    standby = b if first is a else a
    assert first.metric("coderun_leader") == 1 and standby.metric("coderun_leader") == 0
    run_once("before", namespace)
    assert "pod created" in first.log() and "pod created" not in standby.log()

    in_flight = create(coderun("in-flight"), namespace)
    wait_pod(in_flight, namespace)
    first.kill(signal.SIGKILL)
    # Not before the lease has gone unrenewed for its duration; then the standby leads.
    wait_for(lambda: leader_of([standby], lease), 30, "the standby to take the Lease")
    assert "became leader" in standby.log()
    kube.play_terminated(kube.pod_name_for(in_flight), namespace, 0)
    wait_phase("in-flight", namespace, *kube.ENDED, timeout=60)
    run_once("after", namespace)
    assert_one_pod_per_run_and_unique_uids(namespace)


def test_sigterm_hands_the_lease_over_at_once(start_controller, namespace):
    lease = f"it-{namespace[-6:]}"
    # A long lease: a takeover within it proves the Lease was released, not left to expire.
    a = start_controller(*elect_flags(lease, duration=60))
    wait_for(lambda: leader_of([a], lease), 30, "the first replica to lead")
    b = start_controller(*elect_flags(lease, duration=60))
    assert a.kill(signal.SIGTERM) == 0
    assert "leadership released" in a.log()
    wait_for(lambda: leader_of([b], lease), 20, "the standby to lead well within 60 s")
    run_once("handed-over", namespace)
    assert_one_pod_per_run_and_unique_uids(namespace)


def kubeconfig_via(proxy, kubeconfig, tmp_path, name):
    """A copy of `kubeconfig` whose server is `proxy` (the apiserver certificate is valid
    for 127.0.0.1)."""
    with open(kubeconfig) as f:
        text = f.read()
    path = tmp_path / f"kubeconfig-{name}"
    path.write_text(re.sub(r"server: \S+", f"server: {proxy.url}", text))
    path.chmod(0o600)
    return str(path)


def managers(kind, name, namespace):
    """The field managers that wrote the object (kubectl hides managedFields by default)."""
    out = kube.kubectl("get", kind, name, "-n", namespace, "--show-managed-fields",
                       "-o", "jsonpath={.metadata.managedFields[*].manager}").stdout
    return set(out.split())


def test_a_leader_whose_apiserver_hangs_stops_before_the_standby_takes_over(
        start_controller, controller_kubeconfig, namespace, tmp_path):
    """Split brain: the leader's apiserver connection freezes (bytes swallowed both ways,
    connections left open). It must give up at its renew deadline (4 s) and exit, before the
    standby may take the Lease (10 s without renewal), and nothing it writes may land after
    the takeover. Writes are attributed by field manager (each replica writes as
    coderun-controller@<host>_<pid>), not by timing."""
    target = urllib.parse.urlsplit(kube.APISERVER)
    proxies = [FreezableProxy(target.hostname, target.port or 443) for _ in range(2)]
    try:
        lease = f"it-{namespace[-6:]}"
        flags = ["--runner-image", "coderun.test/runner:it", "--workers", "2", "--leader-elect",
                 "--leader-election-id", lease, "--leader-elect-lease-duration", "10",
                 "--leader-elect-renew-deadline", "4", "--leader-elect-retry-period", "1"]
        replicas = [start_controller(*flags, kubeconfig=kubeconfig_via(p, controller_kubeconfig,
                                                                          tmp_path, str(i)))
                    for i, p in enumerate(proxies)]
        wait_for(lambda: leader_of(replicas, lease), 30, f"a holder of Lease {LEASE_NS}/{lease}")
        leader = leader_of(replicas, lease)
        standby = replicas[1] if leader is replicas[0] else replicas[0]
        run_once("before", namespace)
        leader_suffix = f"_{leader.proc.pid}"
        assert any(m.endswith(leader_suffix) for m in managers("coderun", "before", namespace))

        proxies[replicas.index(leader)].freeze()
        during = create(coderun("during"), namespace)
        wait_for(lambda: leader_of([standby], lease), 60, "the standby to take the Lease")
        # Ordering, not timing: by the time the standby holds the Lease, the old leader has
        # already stopped its workers and exited (1: leadership lost).
        assert not leader.alive(), "the old leader still runs after the standby took over"
        assert leader.proc.returncode == 1
        assert "leadership lost" in leader.log()
        proxies[replicas.index(leader)].thaw()

        pod = wait_pod(during, namespace, timeout=60)
        kube.play_terminated(pod["metadata"]["name"], namespace, 0)
        wait_phase("during", namespace, *kube.ENDED, timeout=60)
        run_once("after", namespace)
        # Everything the controllers wrote after the freeze is the standby's.
        standby_suffix = f"_{standby.proc.pid}"
        for name in ("during", "after"):
            cr = get("coderun", name, namespace)
            written = {m for m in managers("coderun", name, namespace)
                       if m.startswith("coderun-controller")}
            assert written and all(m.endswith(standby_suffix) for m in written), (name, written)
            for p in kube.pods_of(cr["metadata"]["uid"], namespace):
                by = {m for m in managers("pod", p["metadata"]["name"], namespace)
                      if m.startswith("coderun-controller")}
                assert by and all(m.endswith(standby_suffix) for m in by), (name, by)
        assert_one_pod_per_run_and_unique_uids(namespace)
    finally:
        for p in proxies:
            p.close()
