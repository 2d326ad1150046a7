#!/usr/bin/env python3
"""Judge mode against separate runs on the single-node cluster (tests/cluster/up, node mode).

Prints figures; asserts nothing. The same short program (reads a number, prints its
double) against --cases inputs (default 100):
  judge     one CodeRun with --cases test cases (one Pod start)
  separate  --cases CodeRuns created at once, one input each
For each: wall time from the first create to the last Finished, and the node's CPU over
that time (every process on this machine: /proc/stat busy time, so the control plane,
kubelet, containerd and the controller are in it; run it on an otherwise quiet machine),
per case.

Usage: bench/judge_bench.py [--cases 100]
"""

import argparse
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapi import CR, Api, make_namespace  # noqa: E402

CODE = "print(int(input()) * 2)\n"
TICK = os.sysconf("SC_CLK_TCK")


def busy_seconds():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def finished(obj):
    return any(c.get("type") == "Finished" and c.get("status") == "True"
               for c in obj.get("status", {}).get("conditions", []))


def wait_all(api, ns, names, timeout=900):
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for item in api.call("GET", CR.format(ns=ns))["items"]:
            if item["metadata"]["name"] in pending and finished(item):
                pending.discard(item["metadata"]["name"])
        if pending:
            time.sleep(0.2)
    return pending


def measure(label, api, ns, objects, cases):
    cpu0, t0 = busy_seconds(), time.monotonic()
    for obj in objects:
        api.call("POST", CR.format(ns=ns), obj)
    left = wait_all(api, ns, [o["metadata"]["name"] for o in objects])
    wall, cpu = time.monotonic() - t0, busy_seconds() - cpu0
    print(f"{label:9s} {cases} cases: {wall:6.2f} s wall, node CPU {cpu:6.2f} s "
          f"({cpu / cases * 1000:7.1f} ms a case){'; unfinished: %d' % len(left) if left else ''}")
    return wall, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100)
    args = parser.parse_args()
    api = Api()
    ns = f"bench-judge-{uuid.uuid4().hex[:6]}"
    make_namespace(api, ns)
    try:
        n = args.cases
        # Warm-up: the image and the namespace's NetworkPolicy exist before timing.
        measure("warm-up", api, ns, [{"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun",
                                      "metadata": {"name": "warm"}, "spec": {"code": CODE,
                                                                              "stdin": "1\n"}}], 1)
        judge = {"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun",
                 "metadata": {"name": "judge"},
                 "spec": {"code": CODE, "tests": [
                     {"name": f"c{i}", "stdin": f"{i}\n", "expectedStdout": f"{2 * i}\n"}
                     for i in range(n)]}}
        jw, jc = measure("judge", api, ns, [judge], n)
        st = api.call("GET", CR.format(ns=ns) + "/judge").get("status", {})
        print(f"          verdict {st.get('verdict')}, {st.get('testsPassed')}/"
              f"{st.get('testsTotal')} passed, runner wall {st.get('usage', {}).get('wallMillis')} ms")
        separate = [{"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun",
                     "metadata": {"name": f"s{i}"}, "spec": {"code": CODE, "stdin": f"{i}\n"}}
                    for i in range(n)]
        sw, sc = measure("separate", api, ns, separate, n)
        print(f"judge/separate: wall {jw / sw:.3f}, node CPU {jc / sc:.3f}")
    finally:
        api.call("DELETE", f"/api/v1/namespaces/{ns}")


if __name__ == "__main__":
    main()
