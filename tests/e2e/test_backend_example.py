"""examples/backend/grader.py, the grading backend example, driven as its README section
says, on the real node: with Debian's python3-kubernetes, as a ServiceAccount that holds only
the namespace's built-in `edit` role."""

import json
import os
import subprocess
import threading

import pytest

import kube

GRADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                      "backend", "grader.py")
PYTHON = "/usr/bin/python3"  # Debian's, which python3-kubernetes is installed for

UPPER = "print(input().upper())\n"
CASES = [{"name": "hello", "stdin": "hello\n", "expected": "HELLO\n"},
         {"name": "spaces", "stdin": "a b\n", "expected": "A B  \n"}]


@pytest.fixture(scope="module")
def backend(namespace, tmp_path_factory):
    """The namespace, and the environment of a backend bound to `edit` in it."""
    kube.kubectl("create", "serviceaccount", "grader", "-n", namespace)
    kube.kubectl("create", "rolebinding", "grader-edit", "--clusterrole=edit",
                 f"--serviceaccount={namespace}:grader", "-n", namespace)
    path = tmp_path_factory.mktemp("grader") / "kubeconfig"
    kubeconfig = kube.service_account_kubeconfig(path, "grader", namespace)
    kube.wait_for(lambda: kube.kubectl("auth", "can-i", "create", "coderuns.coderun.dev", "-n",
                                       namespace, kubeconfig=kubeconfig,
                                       check=False).stdout.strip() == "yes",
                  60, "the edit role to carry the coderun verbs")
    return namespace, {**os.environ, "KUBECONFIG": kubeconfig}


def grade(backend, tmp_path, code, cases, *flags):
    ns, env = backend
    (tmp_path / "submission.py").write_text(code)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run([PYTHON, GRADER, str(tmp_path / "submission.py"),
                           str(tmp_path / "cases.json"), "-n", ns, *flags],
                          capture_output=True, text=True, env=env, timeout=600)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc, results


def runs_left(ns):
    return [o["metadata"]["name"] for o in kube.items("coderuns", ns)]


def test_a_correct_submission_is_accepted_and_its_runs_are_deleted(backend, tmp_path):
    proc, results = grade(backend, tmp_path, UPPER, CASES)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(r["case"], r["verdict"]) for r in results] == [("hello", "Accepted"),
                                                              ("spaces", "Accepted")]
    assert all(r["reason"] == "Completed" and r["usage"]["wallMillis"] >= 0 for r in results)
    assert runs_left(backend[0]) == []


def test_wrong_answers_and_crashes_get_their_verdicts(backend, tmp_path):
    proc, results = grade(backend, tmp_path, "import sys\nx = input()\nprint(x)\n"
                          "sys.exit(3 if x == 'a b' else 0)\n", CASES)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [r["verdict"] for r in results] == ["WrongAnswer", "RuntimeError"]
    assert results[1]["exitCode"] == 3
    _, results = grade(backend, tmp_path, "while True: pass\n", CASES[:1],
                       "--timeout-seconds", "1")
    assert [r["verdict"] for r in results] == ["TimeLimitExceeded"]
    assert runs_left(backend[0]) == []


@pytest.mark.parametrize("timeout,who", [(0, "the CRD's schema"), (601, "the controller")])
def test_a_refused_spec_is_invalid_spec_whoever_refuses_it(backend, tmp_path, timeout, who):
    proc, results = grade(backend, tmp_path, UPPER, CASES[:1], "--timeout-seconds", str(timeout))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (r,) = results
    assert r["verdict"] == "InvalidSpec", (who, r)
    assert "timeoutSeconds" in r["message"], (who, r)
    assert runs_left(backend[0]) == []


def test_a_quota_refusal_is_waited_out_and_reported_when_it_lasts(backend, tmp_path):
    """With a ResourceQuota of one CodeRun held by another run, the grader's create is
    refused (403, exceeded quota): it keeps trying for --quota-wait seconds, gives up with a
    platform error while the slot stays taken, and grades once the slot is freed."""
    ns, _ = backend
    kube.kubectl("create", "quota", "one-run", "--hard=count/coderuns.coderun.dev=1", "-n", ns)
    try:
        kube.wait_for(lambda: kube.kubectl("get", "quota", "one-run", "-n", ns, "-o",
                                           "jsonpath={.status.hard}", check=False).stdout,
                      30, "the quota to be tracked")
        kube.create(kube.coderun("holder", "print(1)"), ns)
        proc, results = grade(backend, tmp_path, UPPER, CASES[:1], "--quota-wait", "3")
        assert proc.returncode == 2 and results == [], proc.stdout + proc.stderr
        assert "exceeded quota" in proc.stderr, proc.stderr
        assert runs_left(ns) == ["holder"]

        released = threading.Timer(2, lambda: kube.kubectl("delete", "coderun", "holder",
                                                           "-n", ns, check=False))
        released.start()
        proc, results = grade(backend, tmp_path, UPPER, CASES[:1], "--quota-wait", "120")
        released.join()
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert [r["verdict"] for r in results] == ["Accepted"]
    finally:
        kube.kubectl("delete", "quota", "one-run", "-n", ns, check=False)
    assert runs_left(ns) == []
