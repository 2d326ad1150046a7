"""The CodeRun CRD, as enforced by the real kube-apiserver (no controller needed):
bounds, byte sizes, quantities, defaults, immutability, printer columns, explain."""

import json
import os

import pytest

import kube
from kube import coderun, create, try_create

MAX_BYTES = 262144  # 256 KiB


def assert_refused(ns, obj, *needles):
    stored, err = try_create(obj, ns)
    assert stored is None, f"apiserver accepted {obj['metadata']['name']}: {stored.get('spec')}"
    for needle in needles:
        assert needle in err, f"expected {needle!r} in the refusal, got: {err}"
    return err


def test_missing_code_is_refused(namespace):
    obj = coderun("no-code")
    del obj["spec"]["code"]
    assert_refused(namespace, obj, "spec.code", "Required")


def test_missing_spec_is_refused(namespace):
    obj = coderun("no-spec")
    del obj["spec"]
    assert_refused(namespace, obj, "spec", "Required")


def test_empty_code_is_refused(namespace):
    assert_refused(namespace, coderun("empty-code", code=""), "spec.code")


def test_code_over_256KiB_in_bytes_but_not_in_characters_is_refused(namespace):
    code = "€" * 100_000  # 100,000 characters, 300,000 bytes of UTF-8
    assert len(code) < MAX_BYTES < len(code.encode())
    assert_refused(namespace, coderun("euro-code", code=code), "spec.code", "262144 bytes")


def test_code_of_exactly_256KiB_is_accepted(namespace):
    code = "#" * (MAX_BYTES - 1) + "\n"
    stored = create(coderun("max-code", code=code), namespace)
    assert len(stored["spec"]["code"].encode()) == MAX_BYTES


def test_multibyte_code_just_under_256KiB_in_bytes_is_accepted(namespace):
    code = "€" * (MAX_BYTES // 3) + "#"  # 262143 + 1 bytes
    assert len(code.encode()) == MAX_BYTES
    create(coderun("euro-max", code=code), namespace)


def test_code_over_256KiB_in_characters_is_refused(namespace):
    assert_refused(namespace, coderun("long-code", code="#" * (MAX_BYTES + 1)), "spec.code")


def test_stdin_over_256KiB_in_bytes_is_refused(namespace):
    assert_refused(namespace, coderun("euro-stdin", stdin="€" * 100_000),
                   "spec.stdin", "262144 bytes")


def test_stdin_of_exactly_256KiB_is_accepted(namespace):
    create(coderun("max-stdin", stdin="x" * MAX_BYTES), namespace)


@pytest.mark.parametrize("args", [["a"] * 65, ["x" * 1025]], ids=["too-many", "too-long"])
def test_args_beyond_bounds_are_refused(namespace, args):
    assert_refused(namespace, coderun("bad-args", args=args), "spec.args")


@pytest.mark.parametrize("field,value", [
    ("timeoutSeconds", 0),
    ("timeoutSeconds", -5),
    ("timeoutSeconds", 86401),
    ("cpu", "lots"),
    ("cpu", "-1"),
    ("cpu", "0"),
    ("cpu", 0),
    ("cpu", -2),
    ("memory", "lots"),
    ("memory", "0"),
    ("memory", "-256Mi"),
    ("pids", 0),
    ("pids", 32769),
    ("outputBytes", -1),
    ("outputBytes", 262145),
])
def test_limit_out_of_bounds_is_refused(namespace, field, value):
    assert_refused(namespace, coderun("bad-limit", limits={field: value}),
                   f"spec.limits.{field}")


@pytest.mark.parametrize("field,value", [
    ("cpu", "500m"), ("cpu", 2), ("cpu", "1.5"), ("memory", "1Gi"), ("memory", 268435456),
    ("memory", "300M"), ("timeoutSeconds", 1), ("pids", 1), ("outputBytes", 0),
])
def test_limit_within_bounds_is_accepted(namespace, field, value):
    stored = create(coderun("good-limit", limits={field: value}), namespace)
    assert stored["spec"]["limits"][field] == value


def test_negative_ttl_is_refused(namespace):
    assert_refused(namespace, coderun("bad-ttl", ttlSecondsAfterFinished=-1),
                   "spec.ttlSecondsAfterFinished")


@pytest.mark.parametrize("value", [1001, -1001, "high"])
def test_priority_out_of_bounds_is_refused(namespace, value):
    assert_refused(namespace, coderun("bad-priority", priority=value), "spec.priority")


def test_unknown_language_is_refused(namespace):
    assert_refused(namespace, coderun("ruby", language="ruby"), "spec.language",
                   "Unsupported value")


def test_defaults_are_applied_when_omitted(namespace):
    spec = create(coderun("defaults"), namespace)["spec"]
    assert spec["language"] == "python"
    assert spec["limits"] == {"timeoutSeconds": 10, "cpu": "1", "memory": "256Mi",
                              "pids": 50, "outputBytes": 65536}
    assert "ttlSecondsAfterFinished" not in spec
    assert spec["priority"] == 0


def test_defaults_fill_the_limits_left_out(namespace):
    spec = create(coderun("partial", limits={"memory": "512Mi"}), namespace)["spec"]
    assert spec["limits"] == {"timeoutSeconds": 10, "cpu": "1", "memory": "512Mi",
                              "pids": 50, "outputBytes": 65536}


@pytest.mark.parametrize("change", [
    {"code": 'print("changed")'},
    {"stdin": "sneaky"},
    {"args": ["x"]},
    {"stdin": None},
    {"limits": {"timeoutSeconds": 20}},
    {"limits": {"memory": "1Gi"}},
    {"ttlSecondsAfterFinished": 5},
    {"priority": 7},
], ids=lambda c: ",".join(c))
def test_spec_cannot_change_after_creation(namespace, change):
    create(coderun("frozen", stdin="in"), namespace)
    proc = kube.patch("coderun", "frozen", namespace, {"spec": change}, check=False)
    assert proc.returncode != 0, f"spec change {change} was accepted"
    assert "spec is immutable" in proc.stderr, proc.stderr
    assert kube.get("coderun", "frozen", namespace)["spec"]["code"] == 'print("hi")'


def test_metadata_and_status_may_change(namespace):
    create(coderun("mutable-meta"), namespace)
    kube.patch("coderun", "mutable-meta", namespace, {"metadata": {"labels": {"a": "b"}}})
    kube.patch("coderun", "mutable-meta", namespace,
               {"status": {"phase": "Running", "reason": "Running"}}, subresource="status")
    obj = kube.get("coderun", "mutable-meta", namespace)
    assert obj["metadata"]["labels"] == {"a": "b"}
    assert obj["status"]["phase"] == "Running"
    assert obj["metadata"]["generation"] == 1


def test_status_is_a_subresource_so_create_drops_it(namespace):
    obj = coderun("sneaky-status")
    obj["status"] = {"phase": "Succeeded", "exitCode": 0}
    # With the status subresource, status given on create is dropped.
    assert "status" not in create(obj, namespace)


def test_status_phase_is_an_enum(namespace):
    create(coderun("phase-enum"), namespace)
    proc = kube.patch("coderun", "phase-enum", namespace, {"status": {"phase": "Done"}},
                      subresource="status", check=False)
    assert proc.returncode != 0 and "status.phase" in proc.stderr, proc.stderr


@pytest.mark.parametrize("change,field", [
    ({"reason": ""}, "reason"), ({"reason": "not a reason"}, "reason"),
    ({"type": "no spaces allowed"}, "type"), ({"message": None}, "message")])
def test_conditions_have_the_metav1_condition_shape(namespace, change, field):
    create(coderun("conds"), namespace)
    good = {"type": "Finished", "status": "False", "reason": "Queued", "message": "",
            "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}
    kube.patch("coderun", "conds", namespace, {"status": {"conditions": [good]}},
               subresource="status")
    bad = {k: v for k, v in {**good, **change}.items() if v is not None}
    proc = kube.patch("coderun", "conds", namespace, {"status": {"conditions": [bad]}},
                      subresource="status", check=False)
    assert proc.returncode != 0 and f"status.conditions[0].{field}" in proc.stderr, proc.stderr


def test_get_crun_shows_phase_reason_verdict_passed_exit_and_age(namespace):
    create(coderun("columns"), namespace)
    kube.patch("coderun", "columns", namespace, {"status": {
        "phase": "Failed", "reason": "NonZeroExit", "exitCode": 3}}, subresource="status")
    # A judge run (docs/judge-mode.md) fills VERDICT and PASSED; a plain run leaves them empty.
    create(coderun("judged", tests=[{"name": "a", "stdin": "", "expectedStdout": "1\n"}]),
           namespace)
    kube.patch("coderun", "judged", namespace, {"status": {
        "phase": "Succeeded", "reason": "Completed", "exitCode": 0, "verdict": "WrongAnswer",
        "testsPassed": 3, "testsTotal": 5, "passed": "3/5"}}, subresource="status")
    out = kube.kubectl("get", "crun", "-n", namespace).stdout.splitlines()
    assert out[0].split() == ["NAME", "PHASE", "REASON", "VERDICT", "PASSED", "EXIT", "AGE"], out
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["columns"][:4] == ["columns", "Failed", "NonZeroExit", "3"], out
    assert rows["judged"][:6] == ["judged", "Succeeded", "Completed", "WrongAnswer", "3/5",
                                  "0"], out


def test_kubectl_explain_describes_the_limits(cluster):
    def explained():
        proc = kube.kubectl("explain", "coderun.spec.limits", check=False)
        return proc.stdout if proc.returncode == 0 else None
    text = " ".join(kube.wait_for(explained, 60, "kubectl explain coderun.spec.limits").split())
    for field in ("timeoutSeconds", "cpu", "memory", "pids", "outputBytes"):
        assert field in text
    assert "Wall-clock limit" in text and "Default 256Mi" in text, text


def test_every_schema_field_has_a_description(cluster):
    crd = kube.get("crd", "coderuns.coderun.dev")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = []

    def walk(node, path):
        if path not in ("", ".metadata") and not node.get("description"):
            missing.append(path)
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")
    walk(schema, "")
    assert not missing, f"fields without description: {missing}"


def test_crd_names_and_scope(cluster):
    crd = kube.get("crd", "coderuns.coderun.dev")
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["shortNames"] == ["crun"]
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds.get("Established") == "True" and conds.get("NamesAccepted") == "True"


@pytest.mark.parametrize("example", ["hello.yaml", "stdin.yaml", "limits.yaml"])
def test_examples_are_valid_coderuns(namespace, example):
    path = os.path.join(kube.REPO, "examples", example)
    out = kube.kubectl("create", "-n", namespace, "--dry-run=server", "-o", "json", "-f", path)
    obj = json.loads(out.stdout)
    assert obj["kind"] == "CodeRun" and obj["spec"]["limits"]["memory"]
