#!/usr/bin/env python3
"""Burst benchmark on the single-node cluster (tests/cluster/up, node mode).

Prints figures; asserts nothing. For each --sizes N (default 100,1000): N hello-world
CodeRuns created at once (8 parallel clients) in a fresh namespace, then waited for:
  drain           first create request -> last run Finished (seen on a watch)
  runs/s          N / drain
  create->done    each run's create response -> its Finished=True event, p50/p99
  lost            runs not Succeeded/Completed (must be 0), by phase/reason
  queued peak     most runs seen Pending/Queued at once (no Pod yet)
  pods peak       most run Pods seen Pending at once
  controller      CPU (utime+stime) per 1,000 runs over the burst, and RSS at the end
With --jobs, the same N as batch/v1 Jobs (one Pod each, the runner image's python3 -c,
the same limits and requests, ttlSecondsAfterFinished 0) on the same node, with
kube-controller-manager's CPU beside it.

Usage: bench/burst.py [--sizes 100,1000] [--jobs] [--timeout 3600]
"""

import argparse
import collections
import concurrent.futures
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapi import CR, REPO, Api, make_namespace, pct, watch  # noqa: E402

RUN = os.path.join(REPO, ".cluster", "run")
CLK_TCK = os.sysconf("SC_CLK_TCK")
IMAGE = "localhost/coderun/runner:dev"
HELLO = "print('Hello, World!')"
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"


def daemon_pid(name):
    with open(os.path.join(RUN, f"{name}.pid")) as f:
        return int(f.read().strip())


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Tracker:
    """What the watches saw: per object, the first time it was done; peaks of waiting
    objects and Pending Pods."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done_at = {}
        self.outcome = {}
        self.queued = set()
        self.queued_peak = 0
        self.pending_pods = set()
        self.pods_peak = 0

    def on_run(self, kind, obj, at):
        name = obj["metadata"]["name"]
        st = obj.get("status", {})
        with self.lock:
            if st.get("reason") == "Queued" and kind != "DELETED":
                self.queued.add(name)
            else:
                self.queued.discard(name)
            self.queued_peak = max(self.queued_peak, len(self.queued))
            if any(c.get("type") == "Finished" and c.get("status") == "True"
                   for c in st.get("conditions", [])):
                self.done_at.setdefault(name, at)
                self.outcome.setdefault(name, (st.get("phase"), st.get("reason")))

    def on_job(self, kind, obj, at):
        name = obj["metadata"]["name"]
        for c in obj.get("status", {}).get("conditions", []) or []:
            if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
                with self.lock:
                    self.done_at.setdefault(name, at)
                    self.outcome.setdefault(name, ("Job", c["type"]))

    def on_pod(self, kind, obj, at):
        name = obj["metadata"]["name"]
        with self.lock:
            if kind != "DELETED" and obj.get("status", {}).get("phase", "Pending") == "Pending":
                self.pending_pods.add(name)
            else:
                self.pending_pods.discard(name)
            self.pods_peak = max(self.pods_peak, len(self.pending_pods))


def coderun(name):
    return {"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun",
            "metadata": {"name": name}, "spec": {"code": HELLO}}


def job(name):
    # What a run Pod holds, as a Job: the same image, limits, requests (the local
    # controller's --cpu-request-ratio 0.05) and restricted security context.
    container = {"name": "runner", "image": IMAGE, "imagePullPolicy": "Never",
                 "command": ["python3", "-c", HELLO],
                 "resources": {"limits": {"cpu": "1", "memory": "256Mi"},
                               "requests": {"cpu": "50m", "memory": "256Mi"}},
                 "securityContext": {"allowPrivilegeEscalation": False,
                                     "readOnlyRootFilesystem": True,
                                     "capabilities": {"drop": ["ALL"]}}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 0,
                     "template": {"spec": {
                         "restartPolicy": "Never", "automountServiceAccountToken": False,
                         "enableServiceLinks": False,
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [container]}}}}


def burst(api, kind, n, timeout):
    ns = f"bench-burst-{kind}-{uuid.uuid4().hex[:6]}"
    make_namespace(api, ns)
    tracker = Tracker()
    stop = threading.Event()
    if kind == "coderun":
        watch(CR.format(ns=ns) + "?watch=1", tracker.on_run, stop)
        owner, path, make = "coderun-controller", CR.format(ns=ns), coderun
    else:
        watch(JOBS.format(ns=ns) + "?watch=1", tracker.on_job, stop)
        owner, path, make = "kube-controller-manager", JOBS.format(ns=ns), job
    watch(f"/api/v1/namespaces/{ns}/pods?watch=1", tracker.on_pod, stop)
    time.sleep(1)  # the watches are open
    pid = daemon_pid(owner)
    cpu0 = cpu_s(pid)
    created = {}
    t0 = time.monotonic()

    def create(i):
        name = f"b-{i:05d}"
        api.call("POST", path, make(name))
        created[name] = time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(n)))
    t_created = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        with tracker.lock:
            if len(tracker.done_at) >= n:
                break
        time.sleep(0.5)
    with tracker.lock:
        done = dict(tracker.done_at)
        outcome = collections.Counter(tracker.outcome.values())
    cpu = cpu_s(pid) - cpu0
    rss = rss_mib(pid)
    stop.set()
    last = max(done.values()) if done else time.monotonic()
    drain = last - t0
    lat = [done[k] - created[k] for k in done if k in created]
    good = outcome.get(("Succeeded", "Completed"), 0) + outcome.get(("Job", "Complete"), 0)
    lost = n - good
    print(f"{kind} burst of {n}: created in {t_created - t0:.1f} s; drained in {drain:.1f} s "
          f"({n / drain:.2f} runs/s)")
    if lat:
        print(f"  create->done p50 {pct(lat, 50):.1f} s  p99 {pct(lat, 99):.1f} s")
    print(f"  lost {lost}: {dict(outcome)}")
    print(f"  waiting without a Pod at the peak {tracker.queued_peak}; "
          f"Pods Pending at the peak {tracker.pods_peak}")
    print(f"  {owner}: CPU {cpu:.1f} s ({cpu * 1000 / n:.2f} s per 1,000), RSS {rss:.1f} MiB")
    api.call("DELETE", f"/api/v1/namespaces/{ns}")
    return n / drain if drain > 0 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--jobs", action="store_true", help="also run each burst as batch/v1 Jobs")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    api = Api()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rates = {}
    for n in sizes:
        rates[("coderun", n)] = burst(api, "coderun", n, args.timeout)
        if args.jobs:
            rates[("job", n)] = burst(api, "job", n, args.timeout)
    for kind in ("coderun", "job"):
        base = rates.get((kind, sizes[0]))
        for n in sizes[1:]:
            if base and (kind, n) in rates:
                print(f"{kind}: the burst of {n} drains at {100 * rates[(kind, n)] / base:.0f}% "
                      f"of the rate of the burst of {sizes[0]}")

if __name__ == "__main__":
    main()
