#!/usr/bin/env python3
"""Live latency (journey J4): how long from the moment the edge takes a heart-rate
notification until the signed-in user's live stream (SSE) delivers it.

Starts the embedded stack, signs in as the demo user through /dev/launch like
the mini app, opens /api/v1/live, runs fitgate-sim (5 straps at 1 Hz, device
QoS 2) and, for every event, takes now - reading.ts (the edge stamps ts when it
takes the notification; same machine, same clock). Reports p50/p95/max next to
the floor measured in the same run: one raw mosquitto QoS 1 hop
(mosquitto_pub -> broker -> mosquitto_sub), timed the same way.

Usage: bench/live_latency.py [--seconds 30] [--out docs/benchmarks.md]
"""
import argparse
import http.cookiejar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from stack import Stack, broker_conf, free_port, wait_port, MOSQUITTO  # noqa: E402


def sign_in(base):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(base + "/dev/launch")
        raise RuntimeError("expected a redirect")
    except urllib.error.HTTPError as e:
        frag = e.headers["Location"].split("#", 1)[1]
    init = urllib.parse.unquote(dict(p.split("=", 1) for p in frag.split("&"))["tgWebAppData"])
    req = urllib.request.Request(base + "/api/v1/session", method="POST",
                                 data=json.dumps({"init_data": init}).encode(),
                                 headers={"Content-Type": "application/json"})
    opener.open(req).read()
    return opener


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def mosquitto_hop(n=200):
    d = tempfile.mkdtemp(prefix="fitgate-bench-lat-")
    port = free_port()
    broker_conf(os.path.join(d, "m.conf"), port, d)
    broker = subprocess.Popen([MOSQUITTO, "-c", os.path.join(d, "m.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-q", "1", "-t", "lat",
                                "-C", str(n), "-V", "mqttv5"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        lat = []
        pub = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "lat", "-l",
                                "-V", "mqttv5"], stdin=subprocess.PIPE, text=True)
        for _ in range(n):
            pub.stdin.write(f"{time.time()}\n")
            pub.stdin.flush()
            line = sub.stdout.readline()
            lat.append((time.time() - float(line)) * 1000)
            time.sleep(0.005)
        pub.stdin.close()
        pub.wait()
        sub.wait(timeout=10)
        return lat
    finally:
        broker.terminate()
        broker.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                  "benchmarks.md"))
    args = ap.parse_args()

    floor = mosquitto_hop()
    d = tempfile.mkdtemp(prefix="fitgate-bench-live-")
    s = Stack(d, core_args=["--dev-demo-devices=sim-0001,sim-0002,sim-0003,sim-0004,sim-0005",
                            "--log-level=warn"])
    lat = []
    try:
        s.start_brokers()
        s.start_core()
        s.start_edge()
        base = f"http://127.0.0.1:{s.http_port}"
        opener = sign_in(base)
        stream = opener.open(base + "/api/v1/live", timeout=60)
        stop = time.time() + args.seconds

        def read_events():
            data = []
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    r = json.loads("\n".join(data))
                    lat.append(time.time() * 1000 - r["ts"])
                    data = []
                if time.time() > stop:
                    return

        t = threading.Thread(target=read_events, daemon=True)
        t.start()
        sim = s.sim(count=0, devices=5, rate=1, qos=2, wait=False)
        t.join(args.seconds + 15)
        sim.terminate()
        sim.wait()
    finally:
        s.stop()
    if len(lat) < 10:
        raise RuntimeError(f"only {len(lat)} live events arrived")
    row = (f"| edge takes the notification -> user's SSE stream | {len(lat)} | "
           f"{statistics.median(lat):.1f} | {percentile(lat, 95):.1f} | {max(lat):.1f} |\n"
           f"| floor: one raw mosquitto QoS 1 hop (pub -> broker -> sub) | {len(floor)} | "
           f"{statistics.median(floor):.1f} | {percentile(floor, 95):.1f} | {max(floor):.1f} |\n")
    section = ("## Live latency (J4)\n\nProduced by bench/live_latency.py: 5 simulated straps at 1 Hz "
               "(device QoS 2), embedded bus, the demo user signed in through /dev/launch and "
               "reading /api/v1/live. Milliseconds.\n\n"
               "| path | events | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |\n"
               + row + "\nThe path crosses the edge's commit interval (20 ms), the cloud broker, "
               "ingest, the bus commit and the API's live tail (polled every 20 ms).\n")
    print(section)
    text = open(args.out).read() if os.path.exists(args.out) else "# Benchmarks\n"
    parts = text.split("\n## ")
    kept = [parts[0].rstrip("\n")] + ["## " + p.rstrip("\n") for p in parts[1:]
                                      if not p.startswith("Live latency")]
    with open(args.out, "w") as f:
        f.write("\n\n".join(kept) + "\n\n" + section)


if __name__ == "__main__":
    main()
