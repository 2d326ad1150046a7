#!/usr/bin/env python3
"""Controller memory with many huge NetworkPolicies in a watched namespace (issue 9, item 9).

Prints figures; asserts nothing. In a fresh namespace of the running local cluster:
  1. starts a coderun-controller (--namespace NS, the controller's ServiceAccount kubeconfig)
     on the empty namespace, waits for /readyz, lets it settle, reads VmRSS and VmHWM from
     /proc/PID/status, stops it;
  2. creates --count NetworkPolicies of about --size-mb MB each, then starts a new
     controller process (as after a restart: the initial list carries every policy) and
     reads the same figures.
The namespace is deleted at the end. Any NetworkPolicy in a namespace the controller
watches reaches its cache, so this is what a user with `edit` there can cost it.

Run it against the control plane alone (tests/cluster/up --control-plane-only), not the
single-node cluster: there kube-router, the NetworkPolicy enforcer, watches every policy
and turns each except entry into ipset entries; 60 such policies took it to 16 GB RSS and
the apiserver to 6 GB (the host swapped), and its memory stayed up after the namespace was
deleted.

Shapes (--shape): `except` (default): one ingress rule from 10.0.0.0/8 with a long
ipBlock.except list; `rules`: a long list of empty ingress rules (`{}`, allow-all each),
the densest JSON for a parser.

Usage: bench/netpol_memory.py [--controller build/controller/coderun-controller]
                              [--count 60] [--size-mb 1.4] [--shape except|rules]
                              [--port 18190] [--settle 5]
"""

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kubeapi import REPO, Api, make_namespace  # noqa: E402

NETPOLS = "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"


def proc_status(pid):
    """VmRSS and VmHWM of `pid` in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def policy(name, size_bytes, shape):
    if shape == "rules":
        ingress = [{}] * (size_bytes // 4)  # "{}, " each
    else:
        except_ = []
        n = 0
        while n < size_bytes:
            i = len(except_)
            cidr = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32"
            except_.append(cidr)
            n += len(cidr) + 4  # quotes, comma and space as json.dumps writes it
        ingress = [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": except_}}]}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                     "ingress": ingress}}


def wait_ready(port, proc, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"controller exited with {proc.returncode} before it was ready")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("controller never became ready")


def measure(args, ns, what):
    log_path = f"/tmp/netpol-bench-{ns}-{what}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([args.controller, "--kubeconfig", args.kubeconfig, "--namespace", ns,
                                 "--http-address", f"127.0.0.1:{args.port}"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = wait_ready(args.port, proc, args.timeout)
        time.sleep(args.settle)
        if proc.poll() is not None:
            raise RuntimeError(f"controller exited with {proc.returncode}; see {log_path}")
        st = proc_status(proc.pid)
        print(f"{what:>28}: ready in {ready:5.1f} s, VmRSS {st['VmRSS']:6.1f} MiB, "
              f"VmHWM {st['VmHWM']:6.1f} MiB   (log {log_path})", flush=True)
        return st
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--controller", default=os.path.join(REPO, "build", "controller", "coderun-controller"))
    p.add_argument("--kubeconfig", default=os.path.join(REPO, ".cluster", "controller.kubeconfig"),
                   help="the controller's credentials (default: its ServiceAccount's)")
    p.add_argument("--count", type=int, default=60)
    p.add_argument("--size-mb", type=float, default=1.4)
    p.add_argument("--shape", choices=("except", "rules"), default="except")
    p.add_argument("--port", type=int, default=18190)
    p.add_argument("--settle", type=float, default=5, help="seconds after /readyz before reading")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for /readyz")
    args = p.parse_args()

    api = Api()
    ns = f"netpol-bench-{uuid.uuid4().hex[:6]}"
    make_namespace(api, ns)
    try:
        print(f"controller {args.controller}, namespace {ns}", flush=True)
        measure(args, ns, "no policies")
        api = Api()  # a fresh connection: the server may have closed the idle one
        body = policy("p", int(args.size_mb * 1e6), args.shape)
        size = len(json.dumps(body))
        t0 = time.monotonic()
        for i in range(args.count):
            body["metadata"]["name"] = f"huge-{i:03d}"
            api.call("POST", NETPOLS.format(ns=ns), body)
        print(f"created {args.count} NetworkPolicies of {size / 1e6:.2f} MB ({args.shape}) "
              f"in {time.monotonic() - t0:.0f} s", flush=True)
        measure(args, ns, f"{args.count} x {size / 1e6:.1f} MB policies")
    finally:
        try:
            Api().call("DELETE", f"/api/v1/namespaces/{ns}")
        except RuntimeError as e:
            print(f"namespace {ns} not deleted: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
