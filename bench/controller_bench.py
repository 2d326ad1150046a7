#!/usr/bin/env python3
"""Controller benchmark on the local control plane (tests/cluster/up --control-plane-only).

Prints figures; asserts nothing. Measures, with the controller's client limiter off:
  1. CodeRun created -> its Pod created (time of the create response -> the Pod's ADDED
     event on a watch), p50/p99 over --runs runs;
  2. Pod terminal (status written by this script, playing the kubelet) -> CodeRun
     Finished=True seen on a watch, p50/p99;
  3. controller RSS with --finished finished CodeRuns in the cluster, each holding
     --output-kib KiB of stdout (after the caches synced, and after a full reconcile pass).

Usage: bench/controller_bench.py [--controller build/controller/coderun-controller]
                                 [--runs 200] [--finished 10000] [--output-kib 16]
"""

import argparse
import concurrent.futures
import http.client
import os
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kubeapi import CR, REPO, Api, make_namespace, ms, pct, watch  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_controller(binary, ns, log_path, port):
    log = open(log_path, "w")
    return subprocess.Popen([binary, "--kubeconfig", os.path.join(REPO, ".cluster", "kubeconfig"),
                             "--namespace", ns, "--qps", "0", "--workers", "4",
                             "--http-address", f"127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("controller never became ready")


def coderun(name, **spec):
    return {"apiVersion": "coderun.dev/v1alpha1", "kind": "CodeRun", "metadata": {"name": name},
            "spec": {"code": "print('Hello, World!')", **spec}}


def latency(api, binary, runs, workdir):
    ns = "bench-" + uuid.uuid4().hex[:6]
    make_namespace(api, ns)
    ctl = start_controller(binary, ns, os.path.join(workdir, "latency.log"), 18181)
    try:
        wait_ready(18181)
        created, pod_added, terminal_written, finished = {}, {}, {}, {}
        pods = {}
        lock = threading.Lock()
        stop = threading.Event()

        def on_pod(kind, obj, at):
            owner = (obj["metadata"].get("ownerReferences") or [{}])[0].get("name")
            if kind == "ADDED" and owner:
                with lock:
                    pod_added.setdefault(owner, at)
                    pods[owner] = obj["metadata"]["name"]

        def on_run(kind, obj, at):
            conds = obj.get("status", {}).get("conditions", [])
            if any(c["type"] == "Finished" and c["status"] == "True" for c in conds):
                with lock:
                    finished.setdefault(obj["metadata"]["name"], at)

        watch(f"/api/v1/namespaces/{ns}/pods?watch=1", on_pod, stop)
        watch(CR.format(ns=ns) + "?watch=1", on_run, stop)
        time.sleep(0.5)
        for i in range(runs):
            name = f"r{i}"
            api.call("POST", CR.format(ns=ns), coderun(name))
            created[name] = time.monotonic()
            time.sleep(0.02)  # an arrival rate, not a burst: the figure is per-run latency
        deadline = time.monotonic() + 60
        while len(pod_added) < runs and time.monotonic() < deadline:
            time.sleep(0.05)
        # Let the Pending status writes settle so they don't mix into the second figure.
        time.sleep(2)
        for name in list(created):
            pod = pods[name]
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod}/status",
                     {"status": {"phase": "Succeeded", "containerStatuses": [{
                         "name": "runner", "image": "runner", "imageID": "", "ready": False,
                         "restartCount": 0, "state": {"terminated": {
                             "exitCode": 0, "reason": "Completed", "startedAt": now,
                             "finishedAt": now}}}]}},
                     ctype="application/merge-patch+json")
            terminal_written[name] = time.monotonic()
            time.sleep(0.02)
        deadline = time.monotonic() + 60
        while len(finished) < runs and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        a = [pod_added[n] - created[n] for n in created if n in pod_added]
        b = [finished[n] - terminal_written[n] for n in created if n in finished]
        print(f"CodeRun created -> Pod created   ({len(a)}/{runs} runs): "
              f"p50 {ms(pct(a, 50))}  p99 {ms(pct(a, 99))}  max {ms(max(a))}")
        print(f"Pod terminal -> CodeRun Finished ({len(b)}/{runs} runs): "
              f"p50 {ms(pct(b, 50))}  p99 {ms(pct(b, 99))}  max {ms(max(b))}")
    finally:
        ctl.terminate()
        ctl.wait(30)


def memory(api, binary, count, output_kib, workdir):
    ns = "bench-mem-" + uuid.uuid4().hex[:6]
    make_namespace(api, ns)
    out = ("x" * 63 + "\n") * (output_kib * 1024 // 64)
    t0 = time.monotonic()

    def one(i):
        name = f"done-{i}"
        obj = api.call("POST", CR.format(ns=ns), coderun(name, stdin="in" * 100))
        obj["status"] = {"phase": "Succeeded", "reason": "Completed", "exitCode": 0,
                         "stdout": out, "stderr": "", "completionTime":
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "conditions": [{"type": "Finished", "status": "True",
                                         "reason": "Completed", "message": "",
                                         "lastTransitionTime":
                                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]}
        api.call("PUT", CR.format(ns=ns) + f"/{name}/status", obj)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    print(f"created {count} finished CodeRuns with {output_kib} KiB stdout each "
          f"in {time.monotonic() - t0:.0f} s")
    ctl = start_controller(binary, ns, os.path.join(workdir, "memory.log"), 18182)
    try:
        t1 = time.monotonic()
        wait_ready(18182)
        synced = time.monotonic() - t1
        at_sync = rss_kib(ctl.pid)
        time.sleep(10)  # every run reconciled once (TTL scheduled)
        after = rss_kib(ctl.pid)
        print(f"controller with {count} finished CodeRuns: ready in {synced:.1f} s, "
              f"RSS {at_sync / 1024:.1f} MiB at sync, {after / 1024:.1f} MiB after 10 s")
    finally:
        ctl.terminate()
        ctl.wait(30)
    print(f"(namespace {ns} left in place; delete it with kubectl when done)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--controller", default=os.path.join(REPO, "build", "controller",
                                                        "coderun-controller"))
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--finished", type=int, default=10000)
    p.add_argument("--output-kib", type=int, default=16)
    p.add_argument("--skip-memory", action="store_true")
    args = p.parse_args()
    workdir = os.path.join(REPO, ".cluster", "bench")
    os.makedirs(workdir, exist_ok=True)
    api = Api()
    latency(api, args.controller, args.runs, workdir)
    if not args.skip_memory:
        memory(api, args.controller, args.finished, args.output_kib, workdir)


if __name__ == "__main__":
    sys.exit(main())
