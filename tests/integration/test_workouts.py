"""Workouts end to end: simulated strap + treadmill -> edge -> core -> bus ->
progress projection -> WorkoutCompleted after the idle timeout -> progress
API. Runs on the embedded bus and on a real Kafka broker (FITGATE_KAFKA_BROKERS,
set by make test; skipped when unset outside it).

Devices get names unique to the run so a shared Kafka broker's older
readings (other tests, earlier runs) belong to no user here.
"""
import http.cookiejar
import json
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import CHECK_EXIT
from stack import BIN, Stack

BROKERS = os.environ.get("FITGATE_KAFKA_BROKERS")
REQUIRED = os.environ.get("FITGATE_REQUIRE_KAFKA") == "1"
IDLE_S = 3


def make_stack(workdir, bus):
    tag = uuid.uuid4().hex[:6]
    hr, tm = f"wk{tag}-hr-", f"wk{tag}-tm-"
    kw = {}
    if bus == "kafka":
        if not BROKERS:
            if REQUIRED:
                pytest.fail("FITGATE_REQUIRE_KAFKA=1 but FITGATE_KAFKA_BROKERS is not set")
            pytest.skip("no Kafka broker (run through make test)")
        kw = {"kafka_brokers": BROKERS}
    s = Stack(workdir, bus=bus, gateway=f"gym-{tag}",
              core_args=[f"--dev-demo-devices={hr}0001,{tm}0001",
                         f"--workout-idle-s={IDLE_S}"], **kw)
    s.hr, s.tm = hr, tm
    s.start_brokers()
    s.start_core()
    s.start_edge()
    return s


def session(stack):
    """Sign in as the dev demo user (the owner of the demo devices)."""
    base = f"http://127.0.0.1:{stack.http_port}"

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    try:
        urllib.request.build_opener(NoRedirect).open(base + "/dev/launch")
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 302
        loc = e.headers["Location"]
    params = dict(p.split("=", 1) for p in loc.split("#", 1)[1].split("&"))
    init_data = urllib.parse.unquote(params["tgWebAppData"])
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    req = urllib.request.Request(base + "/api/v1/session", method="POST",
                                 data=json.dumps({"init_data": init_data}).encode(),
                                 headers={"Content-Type": "application/json"})
    with opener.open(req) as r:
        assert r.status == 200

    def call(path, method="GET", body=None):
        data = json.dumps(body).encode() if body is not None else None
        rq = urllib.request.Request(base + path, method=method, data=data,
                                    headers={"Content-Type": "application/json"})
        try:
            with opener.open(rq, timeout=10) as r:
                raw = r.read()
                ctype = r.headers.get("Content-Type", "")
                return r.status, (json.loads(raw) if "json" in ctype else raw.decode())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")
    return call


def done_workouts(stack):
    try:
        with stack.db() as c:
            return c.execute(
                "SELECT user_id, gateway, start_ms, end_ms, duration_s, distance_m, avg_hr,"
                " metrics FROM progress_workout WHERE gateway=? AND done=1 ORDER BY start_ms",
                (stack.gateway,)).fetchall()
    except sqlite3.OperationalError:
        return []


def run(stack):
    # A strap and a treadmill of one user at 5 Hz for 6 s, at the same time.
    sims = [stack.sim(count=30, devices=1, rate=5, qos=1, prefix=p, extra=[f"--kind={k}"],
                      wait=False)
            for p, k in ((stack.hr, "hr"), (stack.tm, "treadmill"))]
    for p in sims:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    t_end = time.time()
    deadline = t_end + 60
    rows = []
    while time.time() < deadline:
        rows = done_workouts(stack)
        if rows:
            break
        time.sleep(0.3)
    assert rows, "no workout completed after the idle timeout"
    # Not before the idle time passed (the last reading is at t_end at the latest).
    assert time.time() - t_end >= IDLE_S - 1.0
    assert len(rows) == 1, rows  # strap and treadmill merged into one workout
    user, gw, start, end, duration, distance, avg_hr, metrics = rows[0]
    m = json.loads(metrics)
    assert 3.0 <= duration <= 12.0, duration
    assert 30 <= avg_hr <= 230
    assert m["heart_rate"]["max_hr_source"] in ("default", "formula", "profile")
    assert len(m["heart_rate"]["zones_s"]) == 5
    assert sum(m["heart_rate"]["zones_s"]) + m["heart_rate"]["below_zone1_s"] > 0
    assert m["energy_j"] > 0 and m["energy_source"] in ("device", "keytel2005")
    assert distance >= 0 and "distance_m" in m and "max_speed" in m
    # The event went out through the outbox and came back from the bus.
    deadline = time.time() + 20
    while time.time() < deadline:
        if stack.metrics().get("fitgate_progress_completed_seen_total", 0) >= 1:
            break
        time.sleep(0.3)
    assert stack.metrics()["fitgate_progress_completed_seen_total"] >= 1

    # The notifier turns both events into messages for the user (queued by
    # event id: a redelivery or a rebuild queues nothing twice).
    deadline = time.time() + 20
    queued = []
    while time.time() < deadline:
        try:
            with stack.db() as c:
                queued = [r[0] for r in c.execute(
                    "SELECT event_id FROM notify_queue WHERE user_id=?", (user,))]
        except sqlite3.OperationalError:
            queued = []
        if f"achievement/{user}/first_workout" in queued and any(
                q.startswith("workout/") for q in queued):
            break
        time.sleep(0.3)
    assert f"achievement/{user}/first_workout" in queued, queued
    assert any(q.startswith("workout/") and q.endswith("/completed") for q in queued), queued

    call = session(stack)
    st, page = call("/api/v1/workouts?limit=1")
    assert st == 200 and len(page["items"]) == 1
    wid = page["items"][0]["id"]
    assert page["items"][0]["metrics"]["duration_s"] == pytest.approx(duration)
    st, det = call(f"/api/v1/workouts/{wid}?points=10")
    assert st == 200 and 1 <= len(det["series"]) <= 10
    assert any("hr" in p for p in det["series"]) and any("speed" in p for p in det["series"])
    assert call("/api/v1/workouts/999999")[0] == 404
    assert call("/api/v1/workouts?limit=0")[0] == 400
    st, prog = call("/api/v1/progress")
    assert st == 200 and prog["weekly"][0]["workouts"] >= 1
    assert prog["records"]["longest_duration_s"]["workout_id"] == wid
    assert prog["compared_with_others"]["status"] in ("ok", "too_few_users")
    st, ach = call("/api/v1/achievements")
    assert st == 200 and "first_workout" in [a["code"] for a in ach["earned"]]
    assert ach["points"] >= 10 and ach["streak"]["current_days"] >= 1
    st, board = call(f"/api/v1/leaderboard?gym={stack.gateway}")
    assert st == 200 and board["rows"] and board["rows"][0]["you"] is True
    # Opting out takes the user off the board.
    assert call("/api/v1/progress/settings", "PUT", {"opt_out": True})[0] == 200
    st, board = call(f"/api/v1/leaderboard?gym={stack.gateway}")
    assert st == 200 and board["rows"] == []
    assert call("/api/v1/progress")[1]["compared_with_others"]["status"] == "opted_out"
    # A user token is not an operator token.
    assert call("/api/v1/admin/analytics?format=csv")[0] == 403

    # The user presses Finish while the strap still sends: the workout ends at
    # that moment (through the outbox and the bus to the worker).
    p = stack.sim(count=15, devices=1, rate=5, qos=1, prefix=stack.hr, extra=["--kind=hr"],
                  wait=False)
    time.sleep(2.0)
    st, stop = call("/api/v1/workouts/stop", "POST", {})
    assert st == 202
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    deadline = time.time() + 30
    stopped = []
    while time.time() < deadline and not stopped:
        with stack.db() as c:
            stopped = c.execute(
                "SELECT start_ms, end_ms FROM progress_workout WHERE gateway=? AND stopped=1"
                " AND done=1", (stack.gateway,)).fetchall()
        time.sleep(0.3)
    assert len(stopped) == 1, stopped
    assert stopped[0][1] == stop["stopped_at_ms"] and stopped[0][0] > end
    # Readings after the stop belong to a workout of their own.
    deadline = time.time() + 30
    while time.time() < deadline and len(done_workouts(stack)) < 3:
        time.sleep(0.3)
    rows = done_workouts(stack)
    assert len(rows) == 3, rows

    # Company analytics with an operator token minted by the operator CLI.
    tok = subprocess.run([os.path.join(BIN, "fitgate-core"), "identity", "token", "ops", "--admin",
                          f"--data_dir={stack.dir}/core"], capture_output=True, text=True,
                         timeout=30)
    assert tok.returncode == 0, tok.stderr[-2000:]
    token = tok.stdout.strip().splitlines()[-1]
    rq = urllib.request.Request(f"http://127.0.0.1:{stack.http_port}/api/v1/admin/analytics"
                                "?format=csv", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(rq, timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        csv = r.read().decode()
    lines = csv.splitlines()
    assert lines[0] == "section,key,day,value"
    assert f"workouts_per_gym,{stack.gateway}.workouts,,3" in lines, csv
    assert any(l.startswith("registrations,telegram,") for l in lines), csv
    assert "funnel,first_workout,,1" in lines, csv
    return rows


def rebuild_and_compare(stack, rows):
    """Replay the bus from zero into empty tables: the same workouts."""
    codes = {name: stack.procs[name].stop() for name in ("edge", "core")}
    if CHECK_EXIT:
        assert codes == {"edge": 0, "core": 0}, codes
    argv = [os.path.join(BIN, "fitgate-core"), "--rebuild=progress",
            f"--data-dir={stack.dir}/core", f"--bus={stack.bus}",
            f"--workout-idle-s={IDLE_S}"]
    if stack.kafka_brokers:
        argv.append(f"--kafka-brokers={stack.kafka_brokers}")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert done_workouts(stack) == rows


def test_workouts_embedded(workdir):
    s = make_stack(workdir, "embedded")
    try:
        rows = run(s)
        rebuild_and_compare(s, rows)
    finally:
        s.stop()


def test_workouts_kafka(workdir):
    s = make_stack(workdir, "kafka")
    try:
        rows = run(s)
        rebuild_and_compare(s, rows)
    finally:
        s.stop()
