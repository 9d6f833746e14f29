"""make soak: the embedded stack under steady load for SOAK_MINUTES (default
30), with the cloud side restarted every few minutes. Checks at the end that
every reading arrived exactly once, and that the edge's and the core's memory
did not grow after warm-up (RSS sampled every 10 s; growth over the second
half must stay under SOAK_RSS_GROWTH_KB, default 2048).

Not part of make test (it takes long by design)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from stack import Stack  # noqa: E402


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    minutes = float(os.environ.get("SOAK_MINUTES", "30"))
    growth_limit = int(os.environ.get("SOAK_RSS_GROWTH_KB", "2048"))
    rate, devices = 20, 20  # readings/s per device
    workdir = f"/tmp/fitgate-soak-{os.getpid()}"
    s = Stack(workdir)
    s.start_brokers()
    s.start_core()
    s.start_edge()
    total = int(minutes * 60 * rate * devices)
    sim = s.sim(count=total, devices=devices, rate=rate, qos=2, wait=False)
    samples = {"edge": [], "core": []}
    t0 = time.time()
    next_restart = t0 + 300
    try:
        while sim.poll() is None:
            time.sleep(10)
            for name in samples:
                samples[name].append(rss_kb(s.procs[name].p.pid))
            if time.time() > next_restart:
                s.procs["core"].kill(signal.SIGKILL)
                s.start_core()
                next_restart = time.time() + 300
            print(f"{time.time() - t0:6.0f}s stored={s.stored()} "
                  f"edge={samples['edge'][-1]}kB core={samples['core'][-1]}kB", flush=True)
        got = s.wait_stored(total, timeout=300)
        ok = got == total
        print(f"readings sent {total}, stored {got}: {'OK' if ok else 'MISMATCH'}")
        for name, xs in samples.items():
            half = xs[len(xs) // 2:]
            growth = (max(half) - min(half)) if half else 0
            print(f"{name}: RSS first {xs[0] if xs else 0} kB, max {max(xs) if xs else 0} kB, "
                  f"growth over the second half {growth} kB (limit {growth_limit})")
            ok = ok and growth <= growth_limit
        return 0 if ok else 1
    finally:
        s.stop()
        if os.environ.get("FITGATE_KEEP_TMP") != "1":
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
