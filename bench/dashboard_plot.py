#!/usr/bin/python3
"""Plots the chart's Grafana dashboard (helm/coderun/files/dashboards/coderun.json) on real
data: samples the node cluster controller's /metrics every --interval seconds while
bench/burst.py runs a burst, then computes each panel's query the way Prometheus would
(rates and histogram quantiles over a sliding --window) and draws the eight panels into
one PNG. Needs Debian's python3-matplotlib. A figure, not a test.

Usage: bench/dashboard_plot.py [--size 300] [--out docs/dashboard.png]
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """{(name, frozenset(labels)): value} of one /metrics page."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            out[(m[1], frozenset(LABEL.findall(m[2] or "")))] = float(m[3])
    return out


def series(samples, name, **match):
    """{labels: [(t, value)]} of metric `name` whose labels include `match`."""
    out = collections.defaultdict(list)
    for t, page in samples:
        for (n, labels), v in page.items():
            if n == name and all((k, val) in labels for k, val in match.items()):
                out[labels].append((t, v))
    return out


def rate(points, window):
    """Per-second increase over the trailing window, at each sample."""
    out = []
    for i, (t, v) in enumerate(points):
        j = next(k for k in range(i + 1) if points[k][0] >= t - window)
        if i > j:
            out.append((t, max(0.0, v - points[j][1]) / (t - points[j][0])))
    return out


def summed_rate(by_labels, window, key):
    """rate() of each series, summed by the labels `key` picks."""
    groups = collections.defaultdict(dict)
    for labels, points in by_labels.items():
        for t, r in rate(points, window):
            groups[key(dict(labels))][t] = groups[key(dict(labels))].get(t, 0) + r
    return {k: sorted(v.items()) for k, v in groups.items()}


def quantile(q, buckets):
    """histogram_quantile over [(le, count)] (cumulative), as Prometheus interpolates."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank, prev_le, prev_count = q * total, 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return prev_le


def histogram_quantiles(samples, name, qs, window, by=None):
    """{(group, q): [(t, value)]} of histogram_quantile(q, sum by (le, by) (rate(name[w])))."""
    rates = summed_rate(series(samples, name + "_bucket"), window,
                        lambda l: (l.get(by, ""), float(l["le"])))
    times = sorted({t for pts in rates.values() for t, _ in pts})
    groups = {g for g, _ in rates}
    out = collections.defaultdict(list)
    for t in times:
        for g in groups:
            buckets = [(le, dict(pts).get(t, 0)) for (gg, le), pts in rates.items() if gg == g]
            for q in qs:
                v = quantile(q, buckets)
                if v is not None:
                    out[(g, q)].append((t, v))
    return out


def plot(ax, title, lines, unit=""):
    for label, points in sorted(lines.items()):
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label, linewidth=1.2)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("seconds", fontsize=7)
    if unit:
        ax.set_ylabel(unit, fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(fontsize=6, loc="upper left")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=300)
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--window", type=float, default=30.0, help="the rate window, seconds")
    p.add_argument("--url", default="http://127.0.0.1:18080/metrics")
    p.add_argument("--out", default=os.path.join(REPO, "docs", "dashboard.png"))
    args = p.parse_args()

    samples, done = [], threading.Event()
    start = time.monotonic()

    def sampler():
        while not done.is_set():
            try:
                samples.append((time.monotonic() - start, scrape(args.url)))
            except OSError as e:
                print(f"scrape failed: {e}", file=sys.stderr)
            done.wait(args.interval)

    thread = threading.Thread(target=sampler)
    thread.start()
    time.sleep(3 * args.interval)  # a baseline before the burst
    burst = subprocess.run([sys.executable, os.path.join(REPO, "bench", "burst.py"),
                            "--sizes", str(args.size)], capture_output=True, text=True)
    print(burst.stdout.strip())
    time.sleep(args.window)  # let the rates come down
    done.set()
    thread.join()

    w = args.window
    fig, axes = plt.subplots(4, 2, figsize=(13, 13))
    axes = axes.flatten()
    plot(axes[0], "Runs finished per second, by phase and reason",
         {f"{k[0]}/{k[1]}": v for k, v in summed_rate(
             series(samples, "coderun_runs_finished_total"), w,
             lambda l: (l["phase"], l["reason"])).items()}, "runs/s")
    lat = histogram_quantiles(samples, "coderun_run_latency_seconds", (0.5, 0.9, 0.99), w)
    plot(axes[1], "Create → Finished latency", {f"p{int(q * 100)}": v for (_, q), v in lat.items()},
         "s")
    plot(axes[2], "Runs by admission state",
         {dict(k)["state"]: v for k, v in series(samples, "coderun_admission_runs").items()},
         "runs")
    plot(axes[3], "Work queue depth and oldest queued run",
         {"work queue keys": next(iter(series(samples, "coderun_workqueue_depth").values()), []),
          "oldest queued run (s)": next(iter(series(
              samples, "coderun_admission_oldest_queued_seconds").values()), [])})
    reconciles = series(samples, "coderun_reconcile_total")
    plot(axes[4], "Reconciles per second, and errors",
         {"reconciles": summed_rate(reconciles, w, lambda l: "").get("", []),
          "errors": summed_rate({k: v for k, v in reconciles.items()
                                 if dict(k).get("result") == "error"}, w,
                                lambda l: "").get("", [])}, "per second")
    api = histogram_quantiles(samples, "coderun_api_request_duration_seconds", (0.99,), w,
                              by="verb")
    plot(axes[5], "API request latency p99, by verb", {g: v for (g, _), v in api.items()}, "s")
    plot(axes[6], "Controller memory (resident)",
         {"coderun-controller": [(t, v / 2**20) for t, v in next(iter(
             series(samples, "process_resident_memory_bytes").values()), [])]}, "MiB")
    plot(axes[7], "Controller CPU",
         {"coderun-controller": [(t, v * 100) for t, v in rate(next(iter(
             series(samples, "process_cpu_seconds_total").values()), []), w)]}, "% of a core")
    fig.suptitle(f"coderun dashboard panels, burst of {args.size} hello runs on the local "
                 f"node ({args.window:.0f} s rate window)", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out} ({len(samples)} scrapes)")


if __name__ == "__main__":
    main()
