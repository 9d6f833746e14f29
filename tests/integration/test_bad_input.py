"""Bad input on every entry point: rejected, counted, nothing valid lost, nobody crashes."""
import json
import os
import random
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from stack import Stack


_clients = {}


def pub(port, topic, payload, qos=1):
    """Publish and wait for the broker's ack, over one connection per broker."""
    c = _clients.get(port)
    if c is None:
        c = mqtt.Client(client_id=f"evil-{port}", protocol=mqtt.MQTTv5)
        c.connect("127.0.0.1", port)
        c.loop_start()
        _clients[port] = c
    info = c.publish(topic, payload, qos=qos)
    info.wait_for_publish(timeout=10)


def close_clients():
    for c in _clients.values():
        c.loop_stop()
        c.disconnect()
    _clients.clear()


def count_for(stack, like):
    with stack.db() as c:
        return c.execute("SELECT count(*) FROM readings WHERE device LIKE ?", (like,)).fetchone()[0]


def edge_metrics(path, ready, timeout=25):
    """The edge's textfile metrics (rewritten every 10 s), once ready(metrics)."""
    deadline = time.time() + timeout
    out = {}
    while time.time() < deadline:
        if os.path.exists(path):
            out = {}
            for line in open(path):
                if line and not line.startswith("#"):
                    k, _, v = line.strip().rpartition(" ")
                    out[k] = float(v)
            if ready(out):
                break
        time.sleep(0.5)
    return out


def batch(gw, seq, n, epoch="00000000000000aa", version=1, floor=None, dev="evil-0001"):
    readings = [{"dev": dev, "kind": "heart_rate", "ts": 1764000000000 + i,
                 "v": {"hr": 60 + i % 100}} for i in range(n)]
    return json.dumps({"v": version, "gw": gw, "epoch": epoch, "seq": seq,
                       "floor": floor or seq, "readings": readings})


def test_bad_input_everywhere(workdir):
    s = Stack(workdir, edge_args=[f"--metrics-file={workdir}/edge.prom"])
    s.start_brokers()
    s.start_core()
    s.start_edge()
    try:
        sim = s.sim(count=3000, devices=5, rate=100, qos=2, wait=False)

        # --- device side: garbage on device topics of the local broker ---
        lp = s.local_port
        bad_device = [
            ("fit/v1/dev/junk-0001/gatt/2a37", bytes.fromhex("170101")),  # RR flag, no RR
            ("fit/v1/dev/junk-0001/gatt/2a37", b""),
            ("fit/v1/dev/junk-0001/gatt/2a19", bytes.fromhex("65")),      # battery 101 %
            ("fit/v1/dev/junk-0001/gatt/2a19", bytes.fromhex("6400")),
            ("fit/v1/dev/junk-0001/gatt/zzzz", b"\x00\x55"),
            ("fit/v1/dev/junk-0001/gatt/ffff", b"\x00\x55"),
            ("fit/v1/dev/" + "x" * 200 + "/gatt/2a37", b"\x00\x55"),
            ("fit/v1/dev/junk-0001/other/2a37", b"\x00\x55"),
        ]
        for topic, payload in bad_device:
            pub(lp, topic, payload, qos=2)
        rnd = random.Random(7)
        for _ in range(200):
            pub(lp, "fit/v1/dev/fuzz-0001/gatt/2a37", bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 40))), qos=1)

        # --- cloud side: a hostile gateway on the cloud broker ---
        cp = s.cloud_port
        acks = []
        sub = mqtt.Client(client_id="watch-acks", protocol=mqtt.MQTTv5)
        sub.on_message = lambda c, u, m: acks.append(json.loads(m.payload))
        sub.connect("127.0.0.1", cp)
        sub.subscribe("fit/v1/gw/gw-evil/ack", qos=1)
        sub.loop_start()
        time.sleep(0.5)
        pub(cp, "fit/v1/gw/gw-evil/batch", b"{not json")
        pub(cp, "fit/v1/gw/gw-evil/batch", b"\xff\xfe\x00garbage")
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-evil", 1, 5, version=99))
        pub(cp, "fit/v1/gw/gw-evil/batch", json.dumps({"v": 1, "gw": "gw-evil", "epoch": 5, "seq": "1", "floor": 1, "readings": []}))
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-evil", 1, 1001))           # too many readings
        pub(cp, "fit/v1/gw/gw-evil/batch", b"[" + b"1," * 1_200_000 + b"1]")    # oversize
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-test", 1, 5))              # claims another gateway
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-evil", 1, 10))             # valid: seq 1..10
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-evil", 1, 10))             # replay
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-evil", 5, 3))              # overlapping replay
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-evil", 100, 5, floor=1))   # out of order
        # one bad reading among good ones: seq 11..13 with the middle one out of range
        mixed = json.loads(batch("gw-evil", 11, 3))
        mixed["readings"][1]["v"]["hr"] = 9999
        pub(cp, "fit/v1/gw/gw-evil/batch", json.dumps(mixed))
        # a declared gap: the gateway dropped 14..49 by its disk policy
        pub(cp, "fit/v1/gw/gw-evil/batch", batch("gw-evil", 50, 2, floor=50))
        pub(cp, "fit/v1/gw/gw-evil/state", b"{\"v\":1}")

        out, err = sim.communicate(timeout=300)
        assert sim.returncode == 0, err
        deadline = time.time() + 120
        while time.time() < deadline and (count_for(s, "sim-%") < 3000 or count_for(s, "evil-%") < 14):
            time.sleep(0.3)
        time.sleep(1.5)

        # Every valid reading made it, exactly once.
        assert count_for(s, "sim-%") == 3000
        assert count_for(s, "evil-%") == 14          # 1..10, 11, 13, 50, 51
        assert count_for(s, "junk-%") == 0
        assert s.procs["core"].alive() and s.procs["edge"].alive()

        m = s.metrics()
        print({k: v for k, v in m.items() if "ingest" in k})
        assert m['fitgate_ingest_rejected_total{reason="syntax"}'] >= 2
        assert m['fitgate_ingest_rejected_total{reason="version"}'] >= 1
        assert m['fitgate_ingest_rejected_total{reason="gateway_mismatch"}'] == 1
        assert m['fitgate_ingest_rejected_total{reason="invalid"}'] >= 3
        assert m["fitgate_ingest_duplicates_total"] >= 13
        assert m["fitgate_ingest_out_of_order_total"] == 1
        assert m["fitgate_ingest_readings_rejected_total"] == 1
        # the cloud acked the hostile gateway's valid readings cumulatively
        assert m["fitgate_ingest_gap_readings_total"] == 36
        assert any(a["seq"] == 13 for a in acks)
        assert any(a["seq"] == 51 for a in acks)
        assert all(a["seq"] <= 51 for a in acks)

        em = edge_metrics(f"{workdir}/edge.prom",
                          lambda m: m.get("fitgate_edge_readings_spooled_total", 0) >= 3000)
        print({k: v for k, v in em.items() if "device" in k})
        # (".../other/2a37" never reaches the edge: its subscription is gatt only)
        assert em['fitgate_edge_device_rejected_total{reason="topic"}'] >= 2
        assert em['fitgate_edge_device_rejected_total{reason="payload"}'] >= 4
        sub.loop_stop()
    finally:
        close_clients()
        s.stop()
