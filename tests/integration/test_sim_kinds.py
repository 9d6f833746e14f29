"""The simulator plays every device kind: sim --kind mixed -> edge -> core.

Twelve devices, one of each kind (device i plays kind i mod 12), QoS 2 and an
exact count: every notification the simulator published becomes exactly one
stored reading, and each kind arrives with the quantities its real device
sends, within plausible ranges.
"""
import json
import time

MMHG = 133.322387415

# device index (1-based, sim-0001..) -> (reading kind, {quantity: (lo, hi)})
KINDS = {
    1: ("heart_rate", {"hr": (40, 210)}),
    2: ("indoor_bike", {"speed": (3, 15), "cadence": (50, 110), "power": (30, 450),
                        "hr": (40, 210), "distance": (0, 1e5), "energy": (0, 1e7),
                        "elapsed": (0, 65535)}),
    3: ("treadmill", {"speed": (0.8, 7), "distance": (0, 1e5), "incline": (0, 5),
                      "ramp_angle": (0, 3), "hr": (40, 210), "elapsed": (0, 65535)}),
    4: ("rower", {"cadence": (15, 35), "strokes": (0, 65535), "distance": (0, 1e5),
                  "pace": (0.15, 0.6), "power": (30, 450), "hr": (40, 210)}),
    5: ("cross_trainer", {"speed": (1, 6), "distance": (0, 1e5), "cadence": (90, 170),
                          "power": (30, 400), "hr": (40, 210)}),
    6: ("cycling", {"wheel_revs": (0, 2**32 - 1), "crank_revs": (0, 65535)}),
    7: ("running", {"speed": (0.8, 7), "cadence": (140, 190), "stride": (0.3, 2.5),
                    "distance": (0, 1e5), "running": (0, 1)}),
    8: ("cycling_power", {"power": (30, 450), "wheel_revs": (0, 2**32 - 1),
                          "crank_revs": (0, 65535), "energy": (0, 1e7)}),
    9: ("weight", {"weight": (40, 130), "height": (1.5, 2.0), "bmi": (15, 35), "user": (1, 1)}),
    10: ("blood_pressure", {"systolic": (95 * MMHG, 180 * MMHG),
                            "diastolic": (55 * MMHG, 95 * MMHG),
                            "mean_pressure": (65 * MMHG, 130 * MMHG),
                            "hr": (40, 210), "user": (1, 1)}),
    11: ("spo2", {"spo2": (94, 100), "hr": (40, 210), "perfusion": (1, 9)}),
    12: ("temperature", {"temperature": (36, 38.5), "type": (2, 2)}),
}


def test_mixed_kinds_exact_and_decoded(stack):
    total, devices = 1200, 12
    stats = stack.sim(count=total, devices=devices, rate=0, qos=2, extra=["--kind=mixed"])
    assert stats["published"] == total and stats["acked"] == total and stats["failed"] == 0
    assert stack.wait_stored(total, timeout=120) >= total
    time.sleep(1.5)  # nothing more may arrive
    assert stack.stored() == total

    with stack.db() as c:
        rows = c.execute("SELECT device, body FROM readings ORDER BY gw, epoch, seq").fetchall()
    assert len(rows) == total
    by_dev = {}
    for device, body in rows:
        by_dev.setdefault(device, []).append(json.loads(body))
    assert sorted(by_dev) == [f"sim-{i:04d}" for i in range(1, devices + 1)]

    for i, (kind, quantities) in KINDS.items():
        readings = by_dev[f"sim-{i:04d}"]
        assert readings, kind
        for r in readings:
            assert r["kind"] == kind, (i, r)
            for q, (lo, hi) in quantities.items():
                assert q in r["v"], (kind, q, r)
                assert lo <= r["v"][q] <= hi, (kind, q, r["v"][q])
    # Devices that notify on every tick share the count evenly; the scale and
    # the cuff measure only now and then, but they did measure.
    counts = {i: len(by_dev[f"sim-{i:04d}"]) for i in KINDS}
    steady = [n for i, n in counts.items() if i not in (9, 10)]
    assert max(steady) - min(steady) <= 1
    assert 2 <= counts[9] < min(steady) and 2 <= counts[10] < min(steady)
    # Cumulative counters only grow on a sensor that is pedalled forwards.
    wheel = [r["v"]["wheel_revs"] for r in by_dev["sim-0006"]]
    assert wheel == sorted(wheel) and wheel[-1] > wheel[0]


def test_default_kind_is_hr(stack):
    stats = stack.sim(count=30, devices=3, rate=0, qos=1)
    assert stats["published"] == 30 and stats["failed"] == 0
    assert stack.wait_stored(30) == 30
    with stack.db() as c:
        kinds = {json.loads(b)["kind"] for (b,) in c.execute("SELECT body FROM readings")}
    assert kinds == {"heart_rate"}
