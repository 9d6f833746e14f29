"""End to end with real mosquitto brokers and SQLite: simulator -> edge -> core.

The delivery contract under test: readings in = readings stored, exactly once,
through kill -9 of the edge and an outage of the core.
"""
import json
import os
import subprocess
import time
import urllib.request
import http.cookiejar

from stack import Stack


def settle(stack, expected, timeout=120):
    """Wait for `expected` stored readings, then make sure no more arrive."""
    got = stack.wait_stored(expected, timeout)
    time.sleep(1.5)
    return stack.stored()


def test_end_to_end_exact_count(stack):
    stats = stack.sim(count=20000, devices=10, rate=0, qos=2)
    assert stats["published"] == 20000 and stats["failed"] == 0
    assert settle(stack, 20000) == 20000
    # Acknowledged readings leave the spool.
    deadline = time.time() + 30
    while stack.spool_count() != 0 and time.time() < deadline:
        time.sleep(0.2)
    assert stack.spool_count() == 0
    m = stack.metrics()
    assert m["fitgate_worker_readings_stored_total"] == 20000


def test_readings_visible_through_api(stack):
    stack.sim(count=50, devices=2, rate=0, qos=1)
    assert settle(stack, 50) == 50
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{stack.http_port}"
    # /dev/launch redirects to the mini app with signed init data in the hash.
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    nr = urllib.request.build_opener(NoRedirect)
    try:
        nr.open(base + "/dev/launch")
        assert False, "expected a redirect"
    except urllib.error.HTTPError as e:
        assert e.code == 302
        loc = e.headers["Location"]
    frag = loc.split("#", 1)[1]
    params = dict(p.split("=", 1) for p in frag.split("&"))
    init_data = urllib.parse.unquote(params["tgWebAppData"])
    req = urllib.request.Request(base + "/api/v1/session", method="POST",
                                 data=json.dumps({"init_data": init_data}).encode(),
                                 headers={"Content-Type": "application/json"})
    with opener.open(req) as r:
        assert r.status == 200
    with opener.open(base + "/api/v1/readings?since=0&limit=1000") as r:
        rows = json.loads(r.read())
    assert len(rows) == 50
    assert all(row["dev"] in ("sim-0001", "sim-0002") for row in rows)
    assert all(30 <= row["v"]["hr"] <= 230 for row in rows)


def test_kill9_edge_midstream(stack):
    total = 30000
    sim = stack.sim(count=total, devices=20, rate=300, qos=2, wait=False)
    # rate is per device: 20 x 300 = 6000 readings/s, about 5 s of traffic.
    for _ in range(3):
        time.sleep(1.2)
        stack.procs["edge"].kill()          # SIGKILL, mid-stream
        time.sleep(0.5)
        stack.start_edge()
    out, err = sim.communicate(timeout=300)
    assert sim.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["published"] == total and stats["failed"] == 0
    assert settle(stack, total, timeout=180) == total


def test_core_down_for_a_while(stack):
    outage = float(os.environ.get("FITGATE_OUTAGE_S", "60"))
    total = 20000
    devices = 10
    rate = total / devices / (outage + 10)
    sim = stack.sim(count=total, devices=devices, rate=rate, qos=2, wait=False)
    time.sleep(3)
    stack.procs["core"].stop()
    time.sleep(outage)
    # The edge kept everything while the core was away.
    assert stack.spool_count() > 0
    stack.start_core()
    out, err = sim.communicate(timeout=600)
    assert sim.returncode == 0, err
    assert settle(stack, total, timeout=180) == total
