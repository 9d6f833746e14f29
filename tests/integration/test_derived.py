"""Values that need the previous notification: the edge keeps per-sensor state
and adds speed, cadence and distance to CSC readings (issue 3)."""
import json
import time


def test_csc_readings_carry_speed_cadence_distance(stack):
    stats = stack.sim(count=60, devices=2, rate=5, qos=2, extra=["--kind=csc"])
    assert stats["published"] == 60
    assert stack.wait_stored(60, 60) == 60
    time.sleep(0.5)
    with stack.db() as c:
        rows = [(d, json.loads(b)) for d, b in
                c.execute("SELECT device, body FROM readings ORDER BY seq")]
    assert len(rows) == 60
    assert all(r["kind"] == "cycling" for _, r in rows)
    with_speed = [r for _, r in rows if "speed" in r["v"]]
    # Every sample after a device's first can give a speed (unless no wheel
    # event happened in between); the very first of each device cannot.
    assert len(with_speed) >= 20
    for r in with_speed:
        assert 0 <= r["v"]["speed"] <= 30           # m/s: a plausible ride
    for dev in {d for d, _ in rows}:
        firsts = [r for d, r in rows if d == dev]
        assert "speed" not in firsts[0]["v"]
        dist = [r["v"]["distance"] for r in firsts if "distance" in r["v"]]
        assert dist == sorted(dist) and len(dist) == 30  # cumulative, never backwards here
    assert any("cadence" in r["v"] for _, r in rows)
