#!/usr/bin/env python3
"""Pipeline benchmark: readings/s from device topic to durable storage, with zero loss.

For 1, 100 and 1,000 simulated devices: start a fresh embedded stack (two
mosquitto brokers, fitgate-core --role all, fitgate-edge), publish N readings
with fitgate-sim as fast as the broker takes them, and time until the worker
has stored all N (durable in core.db). Reported per configuration: the median
rate over RUNS runs, CPU seconds of edge+core per 100k readings (from
/proc/<pid>/stat), and the edge's peak RSS (VmHWM). A run that stores a
different number of readings than it published is a failure, not a data point.

The ceiling, measured in the same run: raw mosquitto QoS 1 message rate
(mosquitto_pub -> broker -> mosquitto_sub) on the same machine.

Usage: bench/pipeline.py [--runs 3] [--readings 200000] [--out docs/benchmarks.md]
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from stack import Stack, broker_conf, free_port, wait_port, MOSQUITTO  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def mosquitto_ceiling(n):
    """Raw broker QoS 1: n messages from one mosquitto_pub to one mosquitto_sub."""
    d = tempfile.mkdtemp(prefix="fitgate-bench-mq-")
    port = free_port()
    broker_conf(os.path.join(d, "m.conf"), port, d)
    broker = subprocess.Popen([MOSQUITTO, "-c", os.path.join(d, "m.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-q", "1", "-t", "bench/#",
                                "-C", str(n), "-V", "mqttv5"], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        # Keep mosquitto_pub's stdin open until the subscriber has everything:
        # at EOF mosquitto_pub exits without waiting for its queued messages.
        pub = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "bench/a",
                                "-l", "-V", "mqttv5"], stdin=subprocess.PIPE)
        t0 = time.time()
        pub.stdin.write(("x" * 20 + "\n").encode() * n)
        pub.stdin.flush()
        sub.wait(timeout=300)
        elapsed = time.time() - t0
        pub.stdin.close()
        pub.wait()
        return n / elapsed
    finally:
        broker.terminate()
        broker.wait()


def pipeline_run(devices, n, qos):
    d = tempfile.mkdtemp(prefix="fitgate-bench-")
    s = Stack(d, gateway="gw-bench",
              core_args=["--log-level=warn"])
    try:
        s.start_brokers()
        s.start_core()
        s.start_edge()
        time.sleep(1.0)
        edge, core = s.procs["edge"].p.pid, s.procs["core"].p.pid
        cpu0 = cpu_seconds(edge) + cpu_seconds(core)
        t0 = time.time()
        stats = s.sim(count=n, devices=devices, rate=0, qos=qos)
        got = 0
        deadline = time.time() + 600
        while time.time() < deadline:
            got = s.stored()
            if got >= n:
                break
            time.sleep(0.05)
        elapsed = time.time() - t0
        cpu = cpu_seconds(edge) + cpu_seconds(core) - cpu0
        rss = peak_rss_kb(edge)
        time.sleep(1.0)
        final = s.stored()
        if stats["published"] != n or final != n:
            raise RuntimeError(f"loss or duplication: published {stats['published']}, "
                               f"stored {final}")
        return {"rate": n / elapsed, "cpu_per_100k": cpu / n * 100000, "edge_rss_mb": rss / 1024}
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--readings", type=int, default=200000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                  "benchmarks.md"))
    args = ap.parse_args()

    ceilings = [mosquitto_ceiling(args.readings) for _ in range(args.runs)]
    ceiling = statistics.median(ceilings)
    print(f"ceiling: raw mosquitto QoS 1 {ceiling:,.0f} msg/s (median of {args.runs})")

    rows = []
    for devices, qos in ((1, 1), (100, 1), (1000, 1), (1000, 2)):
        runs = [pipeline_run(devices, args.readings, qos) for _ in range(args.runs)]
        r = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        r["edge_rss_mb"] = max(x["edge_rss_mb"] for x in runs)
        rows.append((devices, qos, r, [x["rate"] for x in runs]))
        print(f"{devices:5d} devices, device QoS {qos}: {r['rate']:,.0f} readings/s "
              f"({r['rate'] / ceiling:.2f} x ceiling), {r['cpu_per_100k']:.2f} CPU-s/100k, "
              f"edge peak RSS {r['edge_rss_mb']:.1f} MB")

    # Other benchmarks (bench/decoders.sh, bench/flash.sh) own the sections after
    # this one: keep every "## " section that is not the pipeline's.
    kept = ""
    if os.path.exists(args.out):
        with open(args.out) as f:
            old = f.read()
        sections = old.split("\n## ")[1:]
        kept = "".join("## " + sec.rstrip("\n") + "\n\n" for sec in sections
                       if not sec.startswith("Pipeline"))
    with open(args.out, "w") as f:
        f.write("# Benchmarks\n\n")
        f.write("Produced by `make bench` (bench/pipeline.py). Do not edit by hand.\n\n")
        f.write(f"Machine: {os.cpu_count()} cores, {platform.platform()}; "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Shared and noisy: "
                f"medians of {args.runs} runs, {args.readings:,} readings per run.\n\n")
        f.write("## Pipeline: device topic -> edge -> core -> durable storage (embedded bus)\n\n")
        f.write(f"Ceiling, same run: raw mosquitto QoS 1, mosquitto_pub -> broker -> "
                f"mosquitto_sub: **{ceiling:,.0f} msg/s** (runs: "
                + ", ".join(f"{c:,.0f}" for c in ceilings) + ").\n\n")
        f.write("| devices | device QoS | readings/s (median) | vs ceiling | CPU-s per 100k "
                "(edge+core) | edge peak RSS | runs (readings/s) |\n")
        f.write("| ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
        for devices, qos, r, rates in rows:
            f.write(f"| {devices} | {qos} | {r['rate']:,.0f} | {r['rate'] / ceiling:.2f} | "
                    f"{r['cpu_per_100k']:.2f} | {r['edge_rss_mb']:.1f} MB | "
                    + ", ".join(f"{x:,.0f}" for x in rates) + " |\n")
        f.write("\nEvery run checks zero loss and zero duplication (stored == published), else "
                "the benchmark fails. The readings cross two brokers (the gateway's and the "
                "cloud's), so the end-to-end rate is bounded by the device-side broker rate; "
                "device QoS 2 costs two extra packets per reading.\n")
        if kept:
            f.write("\n" + kept)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
