#!/usr/bin/python3
"""A small grading backend on coderun, with the official Kubernetes client (Debian's
python3-kubernetes): each test case of a submission is one CodeRun.

    examples/backend/grader.py SUBMISSION.py CASES.json [--namespace NS] [--keep]

CASES.json is a list of {"name", "stdin", "expected"}. For each case the grader creates a
CodeRun (generateName), watches it until its Finished condition is True, compares stdout
with the expected output (trailing whitespace ignored) and deletes the run. It prints one
JSON line per case and exits 0 when every case is Accepted, 1 otherwise, 2 on a usage or
platform error.

What a backend has to handle, and how this one does:
  - a spec the API server refuses (schema: 422 Invalid) or the controller refuses
    (phase Failed, reason InvalidSpec): the verdict is InvalidSpec with the message, never
    a retry;
  - a ResourceQuota on count/coderuns.coderun.dev (403 "exceeded quota"): wait and try
    again, up to --quota-wait seconds, since other submissions finish and free their slots;
  - a run the platform could not run (PodFailed, QueueTimeout): a platform error, not the
    program's verdict;
  - clean-up: every run it created is deleted, whatever happened (--keep keeps them).
"""

import argparse
import json
import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "coderun.dev", "v1alpha1", "coderuns"


class PlatformError(Exception):
    """coderun could not run the program (not the program's fault)."""


class Grader:
    def __init__(self, namespace, limits=None, timeout=120, quota_wait=60):
        try:
            config.load_kube_config()
        except config.ConfigException:
            config.load_incluster_config()
        self.api = client.CustomObjectsApi()
        self.namespace = namespace
        self.limits = limits or {"timeoutSeconds": 10, "memory": "256Mi", "cpu": "1"}
        self.timeout = timeout
        self.quota_wait = quota_wait

    def submit(self, code, stdin):
        """Creates the CodeRun; returns its name. Raises ApiException for a refused spec."""
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "CodeRun",
                "metadata": {"generateName": "grade-"},
                "spec": {"code": code, "stdin": stdin, "limits": self.limits}}
        deadline = time.monotonic() + self.quota_wait
        delay = 0.5
        while True:
            try:
                created = self.api.create_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, body)
                return created["metadata"]["name"]
            except ApiException as e:
                quota = e.status == 403 and "exceeded quota" in (e.body or "")
                if not quota or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)  # another submission's run will finish and free a slot
                delay = min(delay * 2, 5)

    def wait(self, name):
        """The run's status once its Finished condition is True."""
        w = watch.Watch()
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                left = max(1, int(deadline - time.monotonic()))
                for event in w.stream(self.api.list_namespaced_custom_object, GROUP, VERSION,
                                      self.namespace, PLURAL,
                                      field_selector=f"metadata.name={name}",
                                      timeout_seconds=left):
                    status = event["object"].get("status") or {}
                    if event["type"] == "DELETED":
                        raise PlatformError(f"CodeRun {name} was deleted before it finished")
                    if finished(status):
                        return status
        finally:
            w.stop()
        raise PlatformError(f"CodeRun {name} did not finish within {self.timeout} s")

    def delete(self, name):
        try:
            self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                     name)
        except ApiException as e:
            if e.status != 404:
                raise

    def grade(self, code, case, keep=False):
        """One case's verdict: a dict with name, verdict, and what explains it."""
        try:
            name = self.submit(code, case.get("stdin", ""))
        except ApiException as e:
            if e.status == 422:  # refused by the CRD's schema
                return {"case": case["name"], "verdict": "InvalidSpec",
                        "message": api_message(e)}
            raise PlatformError(f"create refused: {e.status} {api_message(e)}") from e
        try:
            st = self.wait(name)
        finally:
            if not keep:
                self.delete(name)
        reason = st.get("reason", "")
        if reason == "InvalidSpec":
            return {"case": case["name"], "verdict": "InvalidSpec", "message": st.get("message")}
        if reason in ("PodFailed", "QueueTimeout"):
            raise PlatformError(f"{name}: {reason}: {st.get('message', '')}")
        verdict = {"Completed": None, "NonZeroExit": "RuntimeError", "Killed": "RuntimeError",
                   "TimeLimitExceeded": "TimeLimitExceeded",
                   "MemoryLimitExceeded": "MemoryLimitExceeded"}.get(reason, "RuntimeError")
        if verdict is None:
            same = normalise(st.get("stdout", "")) == normalise(case["expected"])
            verdict = "Accepted" if same else "WrongAnswer"
        return {"case": case["name"], "verdict": verdict, "run": name, "reason": reason,
                "exitCode": st.get("exitCode"), "usage": st.get("usage")}


def finished(status):
    return any(c.get("type") == "Finished" and c.get("status") == "True"
               for c in status.get("conditions") or [])


def normalise(text):
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def api_message(e):
    try:
        return json.loads(e.body).get("message", e.reason)
    except (TypeError, ValueError):
        return str(e.reason)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("submission")
    p.add_argument("cases")
    p.add_argument("--namespace", "-n", default="default")
    p.add_argument("--timeout-seconds", type=int, default=10, help="limits.timeoutSeconds")
    p.add_argument("--wait", type=int, default=300, help="seconds to wait for each run")
    p.add_argument("--quota-wait", type=int, default=60,
                   help="seconds to keep retrying a create refused by a ResourceQuota")
    p.add_argument("--keep", action="store_true", help="do not delete the runs")
    args = p.parse_args(argv)
    with open(args.submission) as f:
        code = f.read()
    with open(args.cases) as f:
        cases = json.load(f)
    grader = Grader(args.namespace, {"timeoutSeconds": args.timeout_seconds, "memory": "256Mi",
                                     "cpu": "1"}, timeout=args.wait, quota_wait=args.quota_wait)
    accepted = True
    try:
        for case in cases:
            result = grader.grade(code, case, keep=args.keep)
            accepted = accepted and result["verdict"] == "Accepted"
            print(json.dumps(result), flush=True)
    except (PlatformError, ApiException) as e:
        print(f"grader: platform error: {e}", file=sys.stderr)
        return 2
    return 0 if accepted else 1


if __name__ == "__main__":
    sys.exit(main())
