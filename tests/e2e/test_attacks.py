"""Attacks on coderun's promise that a run's status is the truth about its program, run
against the real node. This file holds what a namespace `edit` user (impersonated: a user
bound to the built-in `edit` ClusterRole in the test namespace, which aggregates
coderun-edit) and a CodeRun's own size can try; test_attacks_program.py holds what the
program itself can try. docs/security.md lists every attack, its wall and its test.

Each test asserts the safe outcome: the real verdict, the run finished with its objects
cleaned up, the impostor never used (and a Warning Event), the UID still held, the
controller still Ready and never restarted."""

import json
import os
import tempfile
import time

import pytest

from conftest import _controller_ready, expect, kube, plain_pod, run, wait_terminal

ATTACKER = "mallory"
CONTROLLER_PID = os.path.join(kube.CLUSTER, "run", "coderun-controller.pid")
# The ownership ValidatingAdmissionPolicy of manifests/ (chart default, release "coderun").
OWNERSHIP_BINDING = "coderun-run-objects"
OWNERSHIP_MANIFEST = os.path.join(kube.REPO, "manifests", "admission-policy.yaml")
MANAGED = {"app.kubernetes.io/managed-by": "coderun-controller"}
ALLOW_POLICY = "mallory-allow-runs"


def as_attacker(*args, input=None):
    """kubectl as the attacker; returns the CompletedProcess (never raises)."""
    return kube.kubectl(f"--as={ATTACKER}", *args, input=input, check=False)


def attacker_create(obj, ns):
    """Creates obj as the attacker; returns (stored object or None, stderr)."""
    proc = as_attacker("create", "-n", ns, "-f", "-", "-o", "json", input=json.dumps(obj))
    return (json.loads(proc.stdout) if proc.returncode == 0 else None), proc.stderr


def can(verb, resource, ns):
    return as_attacker("auth", "can-i", verb, resource, "-n", ns).stdout.strip() == "yes"


@pytest.fixture(scope="module")
def attack_ns(namespace):
    """The test namespace with the attacker bound to the built-in `edit` role (which gets
    the CodeRun verbs through the chart's aggregated coderun-edit)."""
    kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "mallory-edit"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "edit"},
                 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                               "name": ATTACKER}]}, namespace)
    for verb, res in [("create", "coderuns.coderun.dev"), ("create", "pods"),
                      ("create", "secrets"), ("delete", "secrets"),
                      ("create", "networkpolicies.networking.k8s.io")]:
        kube.wait_for(lambda: can(verb, res, namespace), 60, f"{ATTACKER} may {verb} {res}")
    assert not can("patch", "coderuns.coderun.dev/status", namespace)
    return namespace


@pytest.fixture(scope="module", autouse=True)
def controller_never_restarts(node_cluster):
    with open(CONTROLLER_PID) as f:
        pid = f.read().strip()
    yield
    assert _controller_ready(), "the controller is not Ready after the attacks"
    with open(CONTROLLER_PID) as f:
        assert f.read().strip() == pid, "the controller restarted during the attacks"


class OwnershipPolicyOff:
    """Removes the ownership policy's binding (as a cluster admin) so that what the
    controller checks on its own is what is tested, as on a cluster without the policy."""

    def __init__(self, ns):
        self.ns = ns

    def _refused(self):
        probe = plain_pod("policy-probe", MANAGED, command=["true"])
        proc = as_attacker("create", "-n", self.ns, "--dry-run=server", "-f", "-",
                           input=json.dumps(probe))
        return "only the coderun controller" in proc.stderr

    def __enter__(self):
        kube.kubectl("delete", "validatingadmissionpolicybinding", OWNERSHIP_BINDING,
                     "--ignore-not-found")
        # The apiserver's policy cache follows the binding asynchronously.
        kube.wait_for(lambda: not self._refused(), 30, "the ownership policy lifted")
        return self

    def __exit__(self, *exc):
        kube.apply_path(OWNERSHIP_MANIFEST)
        kube.wait_for(self._refused, 30, "the ownership policy back")


def hold_runs(ns):
    """The attacker's allow-all policy for run Pods: the controller holds the namespace's
    runs (Pending/NetworkPolicyConflict), which leaves time to plant objects."""
    obj, err = attacker_create({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": ALLOW_POLICY},
        "spec": {"podSelector": {"matchLabels": MANAGED}, "policyTypes": ["Ingress"],
                 "ingress": [{}]}}, ns)
    assert obj, err


def release_runs(ns):
    assert as_attacker("delete", "networkpolicy", ALLOW_POLICY, "-n", ns).returncode == 0


def held_run(ns, name, code, **spec):
    cr = kube.create(kube.coderun(name, code, **spec), ns)
    kube.wait_phase(name, ns, "Pending", "NetworkPolicyConflict", timeout=30)
    return cr


def impostor_pod(cr, name=None, labels=None, owned=True, run_as=65532, command=None):
    """A Pod under the run's Pod name (or `name`) whose container prints a forged report
    of success and exits 0."""
    forged = json.dumps({"exitCode": 0, "signal": 0, "stdout": "FORGED", "stderr": "",
                         "stdoutTruncated": False, "stderrTruncated": False, "wallMillis": 1,
                         "cpuMillis": 1, "maxRSSBytes": 1, "limit": "none"})
    script = (f"import sys; d={forged!r}; "
              "sys.stdout.write('coderun-report/v1 %d\\n%s\\ncoderun-report-end\\n' % (len(d), d))")
    pod = plain_pod(name or kube.pod_name_for(cr),
                    labels if labels is not None else
                    {**MANAGED, "coderun.dev/uid": cr["metadata"]["uid"]},
                    command=command or ["python3", "-c", script])
    pod["spec"]["securityContext"]["runAsUser"] = run_as
    if owned:
        pod["metadata"]["ownerReferences"] = [{
            "apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun", "controller": True,
            "name": cr["metadata"]["name"], "uid": cr["metadata"]["uid"]}]
    return pod


def warning_events(ns, name, reason):
    evs = kube.items("events", ns)
    return [e for e in evs if e["involvedObject"].get("name") == name and e.get("reason") == reason
            and e.get("type") == "Warning"]


REAL = 'print("REAL"); raise SystemExit(3)'


def expect_real_outcome(st):
    expect(st, "Failed", "NonZeroExit", "the run's own outcome")
    assert st.get("exitCode") == 3, st
    assert st.get("stdout") == "REAL\n", st


# --- the admission wall -------------------------------------------------------------------

def test_edit_user_cannot_plant_a_run_pod_or_secret(attack_ns):
    cr = kube.create(kube.coderun("victim-vap", 'print("x")'), attack_ns)
    wait_terminal(attack_ns, "victim-vap")
    for pod in (impostor_pod(cr), impostor_pod(cr, name="lookalike", owned=False),
                impostor_pod(cr, name="owned-only", labels={})):
        obj, err = attacker_create(pod, attack_ns)
        assert obj is None and "only the coderun controller" in err, (pod["metadata"], err)
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "planted", "ownerReferences":
                           impostor_pod(cr)["metadata"]["ownerReferences"]},
              "stringData": {"code": 'print("IMPOSTOR")'}}
    obj, err = attacker_create(secret, attack_ns)
    assert obj is None and "only the coderun controller" in err, err
    # The wall is narrow: plain Pods and Secrets of the namespace are the user's business.
    obj, err = attacker_create(plain_pod("mallory-own", command=["true"]), attack_ns)
    assert obj, err
    obj, err = attacker_create({"apiVersion": "v1", "kind": "Secret",
                                "metadata": {"name": "mallory-own"}}, attack_ns)
    assert obj, err


# --- the controller's own checks (as on a cluster without the policy) ---------------------

def test_planted_pod_owned_by_the_run_is_never_read(attack_ns):
    """Today's main took a Pod under the run's name with the run's ownerReference as the
    run's own and finished the run from whatever it printed."""
    hold_runs(attack_ns)
    cr = held_run(attack_ns, "victim-pod", REAL)
    with OwnershipPolicyOff(attack_ns):
        obj, err = attacker_create(impostor_pod(cr), attack_ns)
        assert obj, err
        release_runs(attack_ns)
        st = wait_terminal(attack_ns, "victim-pod", timeout=120)
    expect_real_outcome(st)
    assert st.get("podUID") and st["podUID"] != obj["metadata"]["uid"], st
    assert warning_events(attack_ns, "victim-pod", "ForeignPod"), kube.DIAG.dump()


def test_planted_secret_is_replaced_before_the_run(attack_ns):
    """Today's main took an existing Secret of the run's name as its own (AlreadyExists)
    and ran the planter's code under the victim's name. No label, no ownerReference: the
    admission policy does not see it, the controller must."""
    hold_runs(attack_ns)
    cr = held_run(attack_ns, "victim-secret", REAL)
    obj, err = attacker_create({"apiVersion": "v1", "kind": "Secret",
                                "metadata": {"name": kube.pod_name_for(cr)},
                                "stringData": {"code": 'print("IMPOSTOR")', "stdin": "",
                                               "args.json": "[]"}}, attack_ns)
    assert obj, err
    release_runs(attack_ns)
    expect_real_outcome(wait_terminal(attack_ns, "victim-secret", timeout=120))
    assert warning_events(attack_ns, "victim-secret", "ForeignSecret"), kube.DIAG.dump()


def test_secret_swapped_after_creation_is_refused_by_the_runner(attack_ns):
    """The attacker deletes the run's Secret after the controller created it and puts
    other code under its name before the kubelet mounts it (the node is cordoned to leave
    time). The runner checks the input against the digest in its Pod and refuses."""
    node = kube.items("nodes")[0]["metadata"]["name"]
    kube.kubectl("cordon", node)
    try:
        cr = kube.create(kube.coderun("victim-swap", REAL), attack_ns)
        kube.wait_phase("victim-swap", attack_ns, "Pending", "Unschedulable", timeout=30)
        secret = kube.pod_name_for(cr)
        assert as_attacker("delete", "secret", secret, "-n", attack_ns).returncode == 0
        obj, err = attacker_create({"apiVersion": "v1", "kind": "Secret",
                                    "metadata": {"name": secret},
                                    "stringData": {"code": 'print("IMPOSTOR")', "nonce": "0"}},
                                   attack_ns)
        assert obj, err
    finally:
        kube.kubectl("uncordon", node)
    st = wait_terminal(attack_ns, "victim-swap", timeout=120)
    expect(st, "Failed", "PodFailed", "swapped input")
    assert "does not match" in st.get("message", ""), st
    assert "IMPOSTOR" not in st.get("stdout", ""), st


def managed_pods_holding_uids():
    out = kube.kubectl("get", "pods", "-A", "-l", "app.kubernetes.io/managed-by=coderun-controller",
                       "-o", "json").stdout
    return {p["spec"].get("securityContext", {}).get("runAsUser")
            for p in json.loads(out)["items"]} - {None}


def test_look_alike_pod_cannot_free_a_live_runs_uid(attack_ns, controller):
    """Today's main let a Pod with the managed label and a live run's runAsUser take over
    that UID's reservation; deleting it freed the UID while the run still held it (the
    allocator's count fell below the UIDs that live Pods hold)."""
    kube.create(kube.coderun("holder", "import time; time.sleep(30)",
                             limits={"timeoutSeconds": 60}), attack_ns)
    kube.wait_phase("holder", attack_ns, "Running", timeout=60)
    pod = kube.get("pod", kube.status_of("holder", attack_ns)["podName"], attack_ns)
    uid = pod["spec"]["securityContext"]["runAsUser"]

    def counted_as_held():
        return controller.metric("coderun_run_uids_in_use") >= len(managed_pods_holding_uids())

    kube.wait_for(counted_as_held, 30, "the allocator counting every live run Pod's UID")
    with OwnershipPolicyOff(attack_ns):
        lookalike = impostor_pod({"metadata": {"uid": "none", "name": "x"}}, name="uid-thief",
                                 labels=MANAGED, owned=False, run_as=uid,
                                 command=["sleep", "30"])
        obj, err = attacker_create(lookalike, attack_ns)
        assert obj, err
        kube.wait_for(lambda: (kube.get("pod", "uid-thief", attack_ns) or {}).get(
            "status", {}).get("phase") == "Running", 60, "look-alike Pod running")
        assert as_attacker("delete", "pod", "uid-thief", "-n", attack_ns,
                           "--grace-period=0", "--force").returncode == 0
        kube.wait_for(lambda: kube.get("pod", "uid-thief", attack_ns) is None, 60, "look-alike gone")
    assert uid in managed_pods_holding_uids(), "the holder run's Pod is still alive"
    kube.holds_for(counted_as_held, 3, "the live run's UID still counted as held")
    _, st = run(attack_ns, "second", "import os; print(os.getuid())")
    expect(st, "Succeeded", "Completed")
    assert int(st["stdout"]) != uid, "a second run got the live run's UID"
    expect(wait_terminal(attack_ns, "holder", timeout=90), "Succeeded", "Completed")


# --- bad input and size ---------------------------------------------------------------

def test_argument_with_a_nul_byte_is_refused_by_the_schema(attack_ns):
    """Today's main accepted it and the run ended PodFailed (the runner refused it)."""
    obj, err = attacker_create(kube.coderun("nul-arg", "print(1)", args=["a\u0000b"]), attack_ns)
    assert obj is None and "NUL" in err, err


def test_stdin_that_would_wedge_the_final_status_is_invalid_spec(attack_ns):
    """180,000 bytes of \\x01 take 1,080,000 bytes as stored; with 256 KiB of output per
    stream the final status write failed with `request is too large` on today's main, which
    retried forever: the run never ended and its Pod, Secret and UID leaked."""
    code = 'import sys; sys.stdout.write("<" * 43690); sys.stderr.write("<" * 43690)'
    obj, err = attacker_create(kube.coderun("wedge", code, stdin="\x01" * 180000,
                                            limits={"outputBytes": 262144}), attack_ns)
    assert obj, err
    st = wait_terminal(attack_ns, "wedge", timeout=60)
    expect(st, "Failed", "InvalidSpec", "too large to finish")
    assert "limits.outputBytes" in st["message"], st
    assert not kube.items("pods", attack_ns, selector=f"coderun.dev/uid={obj['metadata']['uid']}")


def test_status_too_large_to_store_is_written_smaller(attack_ns):
    """Metadata that grows while the run is going (an admin's annotation here; `edit` may not
    update CodeRuns) leaves no room for the output: the run still ends, with output cut and
    a message that says so, and its Pod and Secret go."""
    code = ('import sys, time; time.sleep(15); sys.stdout.write("<" * 43690); '
            'sys.stderr.write(">" * 43690)')
    # The program waits long enough for the annotation to land before its output exists
    # (afterwards the annotation itself would not fit).
    cr = kube.create(kube.coderun("padded", code, limits={"outputBytes": 262144, "timeoutSeconds": 60}), attack_ns)
    kube.wait_phase("padded", attack_ns, "Running", timeout=60)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as pad:  # too long for argv
        json.dump({"metadata": {"annotations": {"pad": "<" * 175000}}}, pad)
        pad.flush()
        kube.kubectl("patch", "coderun", "padded", "-n", attack_ns, "--type", "merge",
                     "--patch-file", pad.name)
    st = wait_terminal(attack_ns, "padded", timeout=90)
    expect(st, "Succeeded", "Completed", "padded run")
    assert "exceeded the size the apiserver can store" in st["message"], st
    assert st["stdoutTruncated"] and len(st["stdout"]) < 43690, len(st["stdout"])
    kube.wait_for(lambda: not kube.items("pods", attack_ns,
                                         selector=f"coderun.dev/uid={cr['metadata']['uid']}"),
                  60, "the padded run's Pod deleted")
