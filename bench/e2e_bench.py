#!/usr/bin/env python3
"""End-to-end benchmark on the single-node cluster (tests/cluster/up, node mode).

Prints figures; asserts nothing. One hello-world CodeRun at a time (--runs, default 30,
after one warm-up run), each timed from the create request to the CodeRun's
Finished=True arriving on a watch, with a breakdown from the arrival times of the Pod's
watch events:
  controller create     CodeRun created -> Pod ADDED
  scheduling            Pod ADDED -> spec.nodeName set
  kubelet               bound -> the runner container seen terminated: volumes (the
                        run's Secret and /tmp), sandbox and network, container start, the
                        program (usage.wallMillis, printed beside it), and the kubelet
                        writing the exit into the Pod status (containerd's event, with
                        the cluster's evented PLEG)
  controller finish     container terminated seen -> CodeRun Finished (log read, status
                        write)
Then the three slowest runs with their stages.
Beside it: a plain `ctr run` of the same image and program on the node's containerd.

Usage: bench/e2e_bench.py [--runs 30] [--ctr-runs 10]
"""

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapi import CR, REPO, Api, make_namespace, ms, pct, watch  # noqa: E402

STATE = os.path.join(REPO, ".cluster")
CTR_SOCK = os.path.join(STATE, "run", "containerd.sock")
IMAGE = "localhost/coderun/runner:dev"
HELLO = "print('Hello, World!')"
STAGES = ["controller create", "scheduling", "kubelet", "controller finish"]


class Timeline:
    """First arrival time of each milestone, per CodeRun name."""

    def __init__(self):
        self.lock = threading.Lock()
        self.t = {}
        self.wall = {}

    def mark(self, name, what, at):
        with self.lock:
            self.t.setdefault(name, {}).setdefault(what, at)

    def on_pod(self, kind, obj, at):
        owner = (obj["metadata"].get("ownerReferences") or [{}])[0].get("name")
        if not owner:
            return
        self.mark(owner, "pod", at)
        if obj["spec"].get("nodeName"):
            self.mark(owner, "bound", at)
        st = obj.get("status", {})
        cs = (st.get("containerStatuses") or [{}])[0].get("state", {})
        if "terminated" in cs or st.get("phase") in ("Succeeded", "Failed"):
            self.mark(owner, "exited", at)

    def on_run(self, kind, obj, at):
        st = obj.get("status", {})
        if any(c["type"] == "Finished" and c["status"] == "True"
               for c in st.get("conditions", [])):
            name = obj["metadata"]["name"]
            self.mark(name, "finished", at)
            with self.lock:
                self.wall.setdefault(name, (st.get("usage") or {}).get("wallMillis", 0) / 1000)


def stages(t):
    order = ["created", "pod", "bound", "exited", "finished"]
    out, prev = {}, t["created"]
    for label, key in zip(STAGES, order[1:]):
        if key in t:
            out[label] = t[key] - prev
            prev = t[key]
    return out


def coderuns(api, runs):
    ns = "bench-e2e-" + uuid.uuid4().hex[:6]
    make_namespace(api, ns)
    tl, stop = Timeline(), threading.Event()
    watch(f"/api/v1/namespaces/{ns}/pods?watch=1", tl.on_pod, stop)
    watch(CR.format(ns=ns) + "?watch=1", tl.on_run, stop)
    time.sleep(0.5)
    names = []
    for i in range(runs + 1):   # run 0 warms the node up (image, page cache) and is dropped
        name = f"hello-{i}"
        t0 = time.monotonic()
        api.call("POST", CR.format(ns=ns), {"apiVersion": "coderun.dev/v1alpha1",
                                             "kind": "CodeRun", "metadata": {"name": name},
                                             "spec": {"code": HELLO}})
        tl.mark(name, "created", t0)
        deadline = time.monotonic() + 120
        while "finished" not in tl.t.get(name, {}) and time.monotonic() < deadline:
            time.sleep(0.005)
        if i:
            names.append(name)
    stop.set()
    done = [n for n in names if "finished" in tl.t[n]]
    total = [tl.t[n]["finished"] - tl.t[n]["created"] for n in done]
    print(f"hello CodeRun create -> Finished ({len(done)}/{runs} runs, one at a time): "
          f"p50 {ms(pct(total, 50))}  p99 {ms(pct(total, 99))}  max {ms(max(total))}")
    per = [stages(tl.t[n]) for n in done]
    for label in STAGES:
        xs = [p[label] for p in per if label in p]
        if xs:
            print(f"  {label:<20} p50 {ms(pct(xs, 50)):>10}  p99 {ms(pct(xs, 99)):>10}"
                  f"  ({len(xs)} runs)")
    walls = [tl.wall[n] for n in done if n in tl.wall]
    if walls:
        print(f"  {'(program wall time)':<20} p50 {ms(pct(walls, 50)):>10}  "
              f"p99 {ms(pct(walls, 99)):>10}")
    slow = sorted(done, key=lambda n: tl.t[n]["finished"] - tl.t[n]["created"])[-3:]
    print("  slowest: " + "; ".join(
        f"{n} {ms(tl.t[n]['finished'] - tl.t[n]['created'])} ("
        + ", ".join(f"{k} {ms(v)}" for k, v in stages(tl.t[n]).items()) + ")"
        for n in reversed(slow)))
    print(f"(namespace {ns} left in place)")


def ctr_runs(runs):
    ctr = [os.path.join(STATE, "bin", "ctr"), "-a", CTR_SOCK, "-n", "k8s.io"]
    xs = []
    for i in range(runs + 1):
        cid = f"bench-ctr-{uuid.uuid4().hex[:8]}"
        t0 = time.monotonic()
        out = subprocess.run(ctr + ["run", "--rm", "--cgroup", f"/coderun-node/{cid}", IMAGE, cid,
                                    "python3", "-c", HELLO],
                             capture_output=True, text=True, timeout=60)
        dt = time.monotonic() - t0
        if out.returncode != 0 or out.stdout != "Hello, World!\n":
            print(f"ctr run failed: {out.returncode} {out.stdout!r} {out.stderr.strip()}")
            return
        if i:
            xs.append(dt)
    print(f"plain `ctr run --rm` of the runner image, same program ({runs} runs): "
          f"p50 {ms(pct(xs, 50))}  p99 {ms(pct(xs, 99))}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--ctr-runs", type=int, default=10)
    args = p.parse_args()
    # Write back what `tests/cluster/up` just left dirty (a freshly built image is hundreds
    # of MB): the kubelet fsyncs its checkpoint files on its sync loop, and such an fsync
    # behind a big writeback can stall it for seconds (the likely cause of one 5.6 s run).
    os.sync()
    coderuns(Api(), args.runs)
    if args.ctr_runs:
        ctr_runs(args.ctr_runs)


if __name__ == "__main__":
    sys.exit(main())
