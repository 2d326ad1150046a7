#!/usr/bin/env python3
"""Controller benchmark on the local control plane (tests/cluster/up --control-plane-only).

Prints figures; asserts nothing. Measures, with the controller's client limiter off:
  1. CodeRun created -> its Pod created (time of the create response -> the Pod's ADDED
     event on a watch), p50/p99 over --runs runs;
  2. Pod terminal (status written by this script, playing the kubelet) -> CodeRun
     Finished=True seen on a watch, p50/p99;
  3. controller RSS idle: a controller on an empty namespace, at /readyz (caches synced)
     and --idle-seconds later (VmRSS, with its anonymous and file-backed parts);
  4. controller CPU time (utime+stime of the whole process, /proc/<pid>/stat) from just
     before the first create until the script's watch has seen every run Finished, per
     1,000 runs: for the --runs phase and for a separate --cpu-runs phase at --cpu-rate
     runs/s (creates first, then the terminal Pod statuses, at that rate); also the CPU
     the controller spends in the --idle-seconds before, and in the --tail-seconds after
     (the Pod and Secret deletes that follow Finished);
  5. controller RSS with --finished finished CodeRuns in the cluster, each holding
     --output-kib KiB of stdout (after the caches synced, and after a full reconcile pass).

Usage: bench/controller_bench.py [--controller build/controller/coderun-controller]
                                 [--runs 200] [--cpu-runs 1000] [--cpu-rate 20]
                                 [--finished 10000] [--output-kib 16]
                                 [--memory-namespace NS] [--skip-latency] [--skip-memory]
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

CLK_TCK = os.sysconf("SC_CLK_TCK")


def mem_kib(pid):
    """VmRSS, RssAnon and RssFile+RssShmem of the process, in KiB."""
    v = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                v[k] = int(rest.split()[0])
    return v.get("VmRSS", 0), v.get("RssAnon", 0), v.get("RssFile", 0) + v.get("RssShmem", 0)


def cpu_ms(pid):
    """utime + stime of the whole process (all threads), in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK_TCK


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def mem_text(m):
    return f"{mib(m[0])} ({mib(m[1])} anonymous, {mib(m[2])} file)"


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


def paced(n, interval):
    """Yields 0..n-1; with interval > 0, item i not before start + i * interval (a steady
    rate that the calls' own time does not slow); with interval < 0, sleeps -interval
    after each item (the latency phase's historical pacing)."""
    start = time.monotonic()
    for i in range(n):
        if interval > 0:
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield i
        if interval < 0:
            time.sleep(-interval)


def play(api, binary, runs, interval, workdir, port, label, idle_seconds, tail_seconds):
    """A controller on a fresh namespace: idle figures, then `runs` runs played through
    (create, Pod terminal, Finished) with latency and CPU figures."""
    ns = "bench-" + uuid.uuid4().hex[:6]
    make_namespace(api, ns)
    ctl = start_controller(binary, ns, os.path.join(workdir, f"{label}.log"), port)
    try:
        t0 = time.monotonic()
        wait_ready(port)
        ready_in = time.monotonic() - t0
        at_ready, cpu_ready = mem_kib(ctl.pid), cpu_ms(ctl.pid)
        time.sleep(idle_seconds)
        idle, cpu_idle = mem_kib(ctl.pid), cpu_ms(ctl.pid)
        print(f"[{label}] idle controller (empty namespace {ns}), ready in {ready_in:.1f} s: "
              f"RSS {mem_text(at_ready)} at ready, {mem_text(idle)} {idle_seconds:.0f} s later; "
              f"CPU {cpu_ready:.0f} ms to ready, {cpu_idle - cpu_ready:.0f} ms in the "
              f"{idle_seconds:.0f} s idle")

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
        cpu0, t_start = cpu_ms(ctl.pid), time.monotonic()
        for i in paced(runs, interval):
            name = f"r{i}"
            api.call("POST", CR.format(ns=ns), coderun(name))
            created[name] = time.monotonic()
        create_s = time.monotonic() - t_start
        deadline = time.monotonic() + 60
        while len(pod_added) < runs and time.monotonic() < deadline:
            time.sleep(0.05)
        # Let the Pending status writes settle so they don't mix into the second figure.
        time.sleep(2)
        t_term = time.monotonic()
        for i in paced(runs, interval):
            name = f"r{i}"
            pod = pods.get(name)
            if pod is None:
                continue
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod}/status",
                     {"status": {"phase": "Succeeded", "containerStatuses": [{
                         "name": "runner", "image": "runner", "imageID": "", "ready": False,
                         "restartCount": 0, "state": {"terminated": {
                             "exitCode": 0, "reason": "Completed", "startedAt": now,
                             "finishedAt": now}}}]}},
                     ctype="application/merge-patch+json")
            terminal_written[name] = time.monotonic()
        term_s = time.monotonic() - t_term
        deadline = time.monotonic() + 60
        while len(finished) < runs and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu1, t_end = cpu_ms(ctl.pid), time.monotonic()
        time.sleep(tail_seconds)
        cpu2 = cpu_ms(ctl.pid)
        stop.set()
        after = mem_kib(ctl.pid)
        a = [pod_added[n] - created[n] for n in created if n in pod_added]
        b = [finished[n] - terminal_written[n] for n in created if n in finished]
        rate = f"{runs / create_s:.0f}/s created, {len(terminal_written) / term_s:.0f}/s terminal"
        print(f"[{label}] CodeRun created -> Pod created   ({len(a)}/{runs} runs, {rate}): "
              f"p50 {ms(pct(a, 50))}  p99 {ms(pct(a, 99))}  max {ms(max(a))}")
        print(f"[{label}] Pod terminal -> CodeRun Finished ({len(b)}/{runs} runs): "
              f"p50 {ms(pct(b, 50))}  p99 {ms(pct(b, 99))}  max {ms(max(b))}")
        done = len(finished)
        print(f"[{label}] controller CPU over the phase ({t_end - t_start:.1f} s, {done}/{runs} "
              f"Finished): {cpu1 - cpu0:.0f} ms = {(cpu1 - cpu0) * 1000 / max(done, 1):.0f} ms "
              f"per 1,000 runs; +{cpu2 - cpu1:.0f} ms in the {tail_seconds:.0f} s after; "
              f"RSS then {mem_text(after)}")
        return {"idle": idle, "cpu_per_1000": (cpu1 - cpu0) * 1000 / max(done, 1)}
    finally:
        ctl.terminate()
        ctl.wait(30)


def count_runs(api, ns):
    """CodeRuns in namespace ns, or None without such a namespace (a list in a missing
    namespace is an empty list, not an error)."""
    try:
        api.call("GET", f"/api/v1/namespaces/{ns}")
    except RuntimeError:
        return None
    r = api.call("GET", CR.format(ns=ns) + "?limit=1")
    return len(r["items"]) + r["metadata"].get("remainingItemCount", 0)


def memory(api, binary, count, output_kib, workdir, reuse_ns=None):
    ns = reuse_ns or "bench-mem-" + uuid.uuid4().hex[:6]
    have = count_runs(api, ns) if reuse_ns else None
    if have is None:
        make_namespace(api, ns)
        have = 0
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

    if have < count:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(have, count)))
        print(f"created {count - have} finished CodeRuns with {output_kib} KiB stdout each "
              f"in {time.monotonic() - t0:.0f} s (namespace {ns} now holds {count})")
    else:
        print(f"reusing namespace {ns}: {have} CodeRuns already there (wanted {count})")
        count = have
    ctl = start_controller(binary, ns, os.path.join(workdir, "memory.log"), 18182)
    try:
        t1 = time.monotonic()
        wait_ready(18182)
        synced = time.monotonic() - t1
        at_sync = mem_kib(ctl.pid)
        time.sleep(10)  # every run reconciled once (TTL scheduled)
        after = mem_kib(ctl.pid)
        print(f"controller with {count} finished CodeRuns: ready in {synced:.1f} s, "
              f"RSS {mem_text(at_sync)} at sync, {mem_text(after)} after 10 s; "
              f"CPU {cpu_ms(ctl.pid):.0f} ms since start")
    finally:
        ctl.terminate()
        ctl.wait(30)
    print(f"(namespace {ns} left in place; --memory-namespace {ns} reuses it; "
          f"delete it with kubectl when done)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--controller", default=os.path.join(REPO, "build", "controller",
                                                        "coderun-controller"),
                   help="controller binary to measure")
    p.add_argument("--runs", type=int, default=200, help="runs of the latency phase")
    p.add_argument("--cpu-runs", type=int, default=1000,
                   help="runs of the separate CPU phase (0: none)")
    p.add_argument("--cpu-rate", type=float, default=20.0,
                   help="creates and terminal statuses per second in the CPU phase")
    p.add_argument("--idle-seconds", type=float, default=5.0,
                   help="how long each controller sits idle after /readyz before it is read")
    p.add_argument("--tail-seconds", type=float, default=5.0,
                   help="how long CPU is still watched after the last run Finished")
    p.add_argument("--finished", type=int, default=10000)
    p.add_argument("--output-kib", type=int, default=16)
    p.add_argument("--memory-namespace",
                   help="reuse this namespace's finished CodeRuns (topped up to --finished)")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    args = p.parse_args()
    if not os.access(args.controller, os.X_OK):
        sys.exit(f"no controller binary at {args.controller}")
    print(f"controller: {os.path.realpath(args.controller)}")
    workdir = os.path.join(REPO, ".cluster", "bench")
    os.makedirs(workdir, exist_ok=True)
    api = Api()
    if not args.skip_latency:
        # The historical pacing: 20 ms after each call (about 40/s on the development machine).
        play(api, args.controller, args.runs, -0.02, workdir, 18181, "latency",
             args.idle_seconds, args.tail_seconds)
    if args.cpu_runs > 0:
        play(api, args.controller, args.cpu_runs, 1 / args.cpu_rate, workdir, 18183, "cpu",
             args.idle_seconds, args.tail_seconds)
    if not args.skip_memory:
        memory(api, args.controller, args.finished, args.output_kib, workdir,
               args.memory_namespace)


if __name__ == "__main__":
    sys.exit(main())
