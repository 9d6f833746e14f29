"""fitgate-edge on (mocked) Bluetooth: BlueZ's D-Bus API from python3-dbusmock on a
private dbus-daemon, with GATT devices that send real notification bytes
(bluez_mock.py). Pairing goes through the core's HTTP API and the gateway's
command topic, readings through the spool, uplink, ingest and store."""
import hashlib
import hmac
import http.cookiejar
import json
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from bluez_mock import BluezMock
from conftest import CHECK_EXIT
from stack import Stack

GW = "gw-ble"
DEV_BOT_TOKEN = "1000000001:DEV-local-bot-token-not-for-production"


def hr(bpm):
    return [0x06, bpm]                      # contact supported + detected, 8-bit HR


def treadmill(speed_kmh):
    v = int(speed_kmh * 100)
    return [0x00, 0x00, v & 0xFF, v >> 8]   # flags 0: instantaneous speed only


def bike(speed_kmh, rpm):
    v, c = int(speed_kmh * 100), int(rpm * 2)
    return [0x04, 0x00, v & 0xFF, v >> 8, c & 0xFF, c >> 8]


def csc(wheel_revs, wheel_t, crank_revs, crank_t):
    return ([0x03] + list(wheel_revs.to_bytes(4, "little")) + list(wheel_t.to_bytes(2, "little")) +
            list(crank_revs.to_bytes(2, "little")) + list(crank_t.to_bytes(2, "little")))


class User:
    """A signed-in mini-app user: Telegram init data signed with the core's dev
    bot token, exchanged for the session cookie as the mini app does."""

    def __init__(self, base, tg_id, name):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        user = json.dumps({"id": tg_id, "first_name": name, "username": name.lower()},
                          separators=(",", ":"))
        fields = {"auth_date": str(int(time.time())), "user": user}
        dcs = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
        secret = hmac.new(b"WebAppData", DEV_BOT_TOKEN.encode(), hashlib.sha256).digest()
        fields["hash"] = hmac.new(secret, dcs.encode(), hashlib.sha256).hexdigest()
        status, body = self.call("POST", "/api/v1/session",
                                 {"init_data": urllib.parse.urlencode(fields)})
        assert status == 200, body

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with self.op.open(req, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw

    def readings(self):
        status, rows = self.call("GET", "/api/v1/readings?since=0&limit=1000")
        assert status == 200, rows
        return rows


@pytest.fixture
def ble(workdir, monkeypatch):
    mock = BluezMock(workdir).start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", mock.address)
    yield mock
    mock.stop()


def make_stack(workdir, edge_args=(), core_args=(), core=True):
    s = Stack(workdir, gateway=GW,
              edge_args=["--bluez=1", "--snapshot-interval-s=1", "--ble-backoff-base-ms=200",
                         "--ble-backoff-max-ms=2000",
                         f"--metrics-file={workdir}/edge.prom"] + list(edge_args),
              core_args=["--devices-cmd-timeout-ms=5000"] + list(core_args))
    s.start_brokers()
    if core:
        s.start_core()
    s.start_edge()
    return s


def finish(s):
    codes = s.stop()
    if CHECK_EXIT:
        assert codes.get("edge") == 0, f"fitgate-edge exit {codes.get('edge')}"
        assert codes.get("core", 0) == 0, f"fitgate-core exit {codes.get('core')}"


def mqtt_cmd(s, cmd, wait_result=True):
    """Publish a command on the gateway's topic; return its result."""
    sub = None
    if wait_result:
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(s.cloud_port), "-q", "1", "-C", "1",
                                "-W", "10", "-t", f"fit/v1/gw/{GW}/cmd/result"],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
    payload = cmd if isinstance(cmd, str) else json.dumps(cmd)
    subprocess.run(["mosquitto_pub", "-p", str(s.cloud_port), "-q", "1", "-t",
                    f"fit/v1/gw/{GW}/cmd", "-m", payload], check=True)
    if sub:
        out, _ = sub.communicate(timeout=15)
        return json.loads(out) if out.strip() else None


def stored_rows(s, device=None):
    try:
        with s.db() as c:
            q = "SELECT gw, epoch, seq, device, user_id, body FROM readings"
            rows = c.execute(q).fetchall()
    except sqlite3.OperationalError:
        return []
    return [r for r in rows if device is None or r[3] == device]


def wait_rows(s, n, device=None, timeout=30):
    deadline = time.time() + timeout
    rows = []
    while time.time() < deadline:
        rows = stored_rows(s, device)
        if len(rows) >= n:
            return rows
        time.sleep(0.2)
    return rows


def edge_metrics(workdir):
    out = {}
    try:
        for line in open(os.path.join(workdir, "edge.prom")):
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
    except OSError:
        pass
    return out


def wait_nearby(user, gw, addr, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, snap = user.call("GET", f"/api/v1/gateways/{gw}/nearby")
        if status == 200:
            found = [d for d in snap["devices"] if d["address"] == addr]
            if found:
                return found[0]
        time.sleep(0.3)
    raise AssertionError(f"{addr} never reported nearby")


def claim(s, user, code=None):
    """user becomes a member of the stack's gateway (an owner claim code
    from the operator's command line, unless a code is given)."""
    status, body = user.call("POST", f"/api/v1/gateways/{s.gateway}/claim",
                             {"code": code or s.claim_code()})
    assert status == 200, body
    return body["role"]


def test_discover_pair_from_cloud_readings_for_that_user(workdir, ble):
    s = make_stack(workdir)
    try:
        strap, stranger = "C0:FF:EE:00:00:01", "C0:FF:EE:00:00:02"
        ble.add(strap, "Polar H10 A1", "hr", rssi=-48)
        ble.add(stranger, "Stranger strap", "hr", rssi=-80)
        base = f"http://127.0.0.1:{s.http_port}"
        alice, bob = User(base, 7001, "Alice"), User(base, 7002, "Bob")

        # Discovery: the filter is set before StartDiscovery, DuplicateData explicitly.
        st = ble.wait(lambda st: st["_adapter"]["discovering"], what="discovery")
        flt = st["_adapter"]["filter"]
        assert flt["Transport"] == "le" and int(flt["DuplicateData"]) == 1
        assert "0000180d-0000-1000-8000-00805f9b34fb" in flt["UUIDs"]
        assert "/org/fitgate/agent" in st["_adapter"]["agents"]

        # Alice owns the gateway (the code came with its box); Bob is a
        # stranger: he sees nothing around her home and pairs nothing there.
        assert claim(s, alice) == "owner"
        assert bob.call("GET", f"/api/v1/gateways/{GW}/nearby")[1]["error"] == "not_a_member"
        status, body = bob.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": strap})
        assert status == 403 and body["error"] == "not_a_member", body

        # The mini app lists what the gateway sees.
        near = wait_nearby(alice, GW, strap)
        assert near["name"] == "Polar H10 A1" and near["rssi"] == -48
        assert "180d" in near["services"] and near["bound"] is False
        status, snap = alice.call("GET", f"/api/v1/gateways/{GW}/nearby?refresh=1")
        assert status == 200 and any(d["address"] == stranger for d in snap["devices"])

        # Nobody bound anything: nothing is connected, nothing is forwarded.
        time.sleep(1)
        assert ble.stats()[strap]["connect_calls"] == 0

        # Alice pairs her strap from the mini app.
        status, body = alice.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": strap})
        assert status == 200, body
        assert body["gateway_status"] == "bound"
        ble.wait(lambda st: st[strap]["start_notify"] >= 2, what="subscribed to HR + battery")
        # Connected, the strap's battery shows up in the next snapshot.
        deadline = time.time() + 10
        while time.time() < deadline:
            near = wait_nearby(alice, GW, strap)
            if near.get("battery") == 85 and near["connected"] and near["bound"]:
                break
            time.sleep(0.3)
        assert near.get("battery") == 85 and near["connected"] and near["bound"], near
        # Bob, invited into the household, still cannot take it over.
        status, inv = alice.call("POST", f"/api/v1/gateways/{GW}/invites")
        assert status == 201 and inv["role"] == "member", inv
        assert claim(s, bob, inv["code"]) == "member"
        status, body = bob.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": strap})
        assert status == 409 and body["error"] == "bound_to_other"

        sent = ble.notify(strap, "2a37", [hr(60 + i) for i in range(30)])
        assert sent == 30
        rows = wait_rows(s, 30, device=strap)
        assert len(rows) == 30
        assert len({(r[0], r[1], r[2]) for r in rows}) == 30
        mine = [r for r in alice.readings() if r["dev"] == strap]
        assert sorted(r["v"]["hr"] for r in mine) == list(range(60, 90))
        assert all(r["v"]["contact"] == 1 for r in mine)
        assert not [r for r in bob.readings() if r["dev"] == strap]
        status, devs = alice.call("GET", "/api/v1/devices")
        assert status == 200 and [d["device"] for d in devs] == [strap]
        # The stranger was never connected: its data cannot leak.
        assert ble.stats()[stranger]["connect_calls"] == 0
        assert not stored_rows(s, stranger)

        # DevicePaired went through the outbox to the bus.
        bus = sqlite3.connect(f"file:{workdir}/core/bus.db?mode=ro", uri=True, timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline:
            types = [json.loads(v)["type"] for (v,) in
                     bus.execute("SELECT value FROM log WHERE topic='fit.identity.v1'")]
            if "fit.device.paired.v1" in types:
                break
            time.sleep(0.2)
        assert "fit.device.paired.v1" in types

        # Unpair: the gateway lets the strap go and forwards nothing more.
        status, body = alice.call("POST", "/api/v1/devices/unbind", {"device": strap})
        assert status == 200, body
        ble.wait(lambda st: not st[strap]["connected"], what="disconnected after unbind")
        assert ble.notify(strap, "2a37", [hr(100)]) == 0
        status, devs = alice.call("GET", "/api/v1/devices")
        assert devs == []
        deadline = time.time() + 10
        while time.time() < deadline:
            types = [json.loads(v)["type"] for (v,) in
                     bus.execute("SELECT value FROM log WHERE topic='fit.identity.v1'")]
            if "fit.device.unpaired.v1" in types:
                break
            time.sleep(0.2)
        bus.close()
        assert "fit.device.unpaired.v1" in types
    finally:
        finish(s)


def test_device_drops_and_returns_reconnects_without_duplicates(workdir, ble):
    s = make_stack(workdir)
    try:
        dev = "C0:FF:EE:00:01:01"
        ble.add(dev, "Wahoo CADENCE", "csc")
        time.sleep(0.5)
        res = mqtt_cmd(s, {"v": 1, "id": "b1", "op": "bind", "args": {"device": dev}})
        assert res["ok"] is True and res["id"] == "b1"
        ble.wait(lambda st: st[dev]["start_notify"] >= 1, what="subscribed")
        payloads = [csc(1000 + 2 * i, (1024 * i) % 65536, 100 + i, (1024 * i) % 65536)
                    for i in range(10)]
        assert ble.notify(dev, "2a5b", payloads) == 10
        assert len(wait_rows(s, 10, dev)) == 10

        # Out of range: BlueZ removes the device; then it advertises again.
        ble.vanish(dev)
        time.sleep(0.5)
        ble.come_back(dev)
        ble.wait(lambda st: st[dev]["connects"] >= 2 and st[dev]["connected"],
                 what="reconnected after coming back")
        ble.wait(lambda st: st[dev]["start_notify"] >= 2, what="resubscribed")
        # Link loss in range, and the first two reconnects fail: backoff retries.
        ble.configure(dev, "fail_connects", 2)
        ble.drop_link(dev)
        st = ble.wait(lambda st: st[dev]["connects"] >= 3 and st[dev]["connected"],
                      timeout=30, what="reconnected after link loss")
        assert st[dev]["connect_calls"] >= 5       # 2 refused + the successful ones
        ble.wait(lambda st: st[dev]["start_notify"] >= 3, what="resubscribed again")
        payloads = [csc(2000 + 2 * i, (1024 * i) % 65536, 200 + i, (1024 * i) % 65536)
                    for i in range(10)]
        assert ble.notify(dev, "2a5b", payloads) == 10
        rows = wait_rows(s, 20, dev)
        time.sleep(1.0)
        rows = stored_rows(s, dev)
        assert len(rows) == 20                     # every notification exactly once
        vals = sorted((json.loads(r[5])["v"] for r in rows), key=lambda v: v["wheel_revs"])
        revs = [v["wheel_revs"] for v in vals]
        assert revs == [1000 + 2 * i for i in range(10)] + [2000 + 2 * i for i in range(10)]
        # Gap handled: no speed across the reconnection (the first sample of each
        # connection has only counters), a speed between samples of one connection.
        assert "speed" not in vals[0] and "speed" not in vals[10], (vals[0], vals[10])
        assert all(v["speed"] > 0 for v in vals[1:10] + vals[11:])
    finally:
        finish(s)


def test_fifty_devices_at_once(workdir, ble):
    s = make_stack(workdir, edge_args=["--max-connections=64"])
    try:
        kinds = ["hr", "csc", "bike", "treadmill"]
        devs = [(f"C0:FF:EE:00:02:{i:02X}", kinds[i % 4]) for i in range(50)]
        for addr, kind in devs:
            ble.add(addr, f"dev {addr[-2:]}", kind)
        # One strap needs bonding: StartNotify is refused until it is paired,
        # which goes through the edge's Agent1 (Just Works confirmation).
        secure = devs[0][0]
        ble.configure(secure, "secure", True)
        time.sleep(0.5)
        lines = "".join(json.dumps({"v": 1, "id": f"b{i}", "op": "bind",
                                    "args": {"device": addr}}) + "\n"
                        for i, (addr, _) in enumerate(devs))
        subprocess.run(["mosquitto_pub", "-p", str(s.cloud_port), "-q", "1", "-l", "-t",
                        f"fit/v1/gw/{GW}/cmd"], input=lines, text=True, check=True)
        ble.wait(lambda st: all(st[a]["start_notify"] >= 1 and st[a]["connected"]
                                for a, _ in devs), timeout=40, what="all 50 subscribed")
        st = ble.stats()
        assert st[secure]["paired"] and st[secure]["agent_confirmed"] == 1
        per = 20
        for i, (addr, kind) in enumerate(devs):
            if kind == "hr":
                p, u = [hr(70 + j) for j in range(per)], "2a37"
            elif kind == "csc":
                p, u = [csc(10 * j, 512 * j, j, 512 * j) for j in range(per)], "2a5b"
            elif kind == "bike":
                p, u = [bike(20 + j % 5, 80 + j % 10) for j in range(per)], "2ad2"
            else:
                p, u = [treadmill(8 + j % 4) for j in range(per)], "2acd"
            assert ble.notify(addr, u, p) == per
        total = per * len(devs)
        rows = wait_rows(s, total, timeout=60)
        assert len(rows) == total
        assert len({r[3] for r in rows}) == 50
        pid = s.procs["edge"].p.pid
        rss_kb = int([ln.split()[1] for ln in open(f"/proc/{pid}/status")
                      if ln.startswith("VmRSS")][0])
        # Stated bound: 50 connected devices, 1000 readings through, < 48 MiB RSS
        # (not under ASan, whose shadow memory alone is larger).
        asan = any("libasan" in ln for ln in open(f"/proc/{pid}/maps"))
        if not asan:
            assert rss_kb < 48 * 1024, rss_kb
        print(f"edge RSS with 50 devices: {rss_kb} KiB")
    finally:
        finish(s)


def test_ftms_records_split_over_notifications_are_merged(workdir, ble):
    """An indoor bike that splits each record over two notifications (FTMS
    "More Data"): the edge stores one reading per record with every field; a
    part whose closing notification never came is stored when the link drops."""
    s = make_stack(workdir)
    try:
        addr = "C0:FF:EE:00:03:01"
        ble.add(addr, "split bike", "bike")
        time.sleep(0.5)
        res = mqtt_cmd(s, {"v": 1, "id": "b1", "op": "bind", "args": {"device": addr}})
        assert res and res["ok"], res
        ble.wait(lambda st: st[addr]["start_notify"] >= 1 and st[addr]["connected"],
                 what="bike subscribed")
        parts = []
        for i in range(10):
            watts, v, c = 150 + i, int((25 + i) * 100), 2 * (80 + i)
            parts.append([0x41, 0x00, watts & 0xFF, watts >> 8])       # More Data + power
            parts.append([0x04, 0x00, v & 0xFF, v >> 8, c & 0xFF, c >> 8])  # speed + cadence
        parts.append([0x41, 0x00, 0x2C, 0x01])                         # 300 W, then the link drops
        assert ble.notify(addr, "2ad2", parts) == 21
        rows = wait_rows(s, 10, device=addr)
        assert len(rows) == 10, rows
        bodies = [json.loads(r[5]) for r in sorted(rows, key=lambda r: r[2])]  # by seq
        for i, b in enumerate(bodies):
            v = b["v"]
            assert v["power"] == 150 + i and v["cadence"] == 80 + i, v
            assert abs(v["speed"] - (25 + i) / 3.6) < 1e-6, v
        ble.drop_link(addr)
        rows = wait_rows(s, 11, device=addr)
        assert len(rows) == 11
        last = json.loads(max(rows, key=lambda r: r[2])[5])
        assert last["v"] == {"power": 300}, last
    finally:
        finish(s)


def test_max_connections_respected(workdir, ble):
    s = make_stack(workdir, edge_args=["--max-connections=2"])
    try:
        devs = [f"C0:FF:EE:00:06:{i:02X}" for i in range(4)]
        for a in devs:
            ble.add(a, "Strap", "hr")
        time.sleep(0.5)
        for i, a in enumerate(devs):
            assert mqtt_cmd(s, {"v": 1, "id": f"m{i}", "op": "bind", "args": {"device": a}})["ok"]
        st = ble.wait(lambda st: st["_adapter"]["now_connected"] == 2, what="two connected")
        time.sleep(1.5)                     # and it stays at two
        st = ble.stats()
        assert st["_adapter"]["max_connected"] == 2 and st["_adapter"]["now_connected"] == 2
        waiting = [a for a in devs if not st[a]["connected"]]
        assert len(waiting) == 2
        # One connected strap leaves: its slot goes to a waiting one.
        gone = [a for a in devs if st[a]["connected"]][0]
        ble.vanish(gone)
        st = ble.wait(lambda st: sum(st[a]["connected"] for a in waiting) == 1,
                      what="a waiting strap took the free slot")
        assert st["_adapter"]["max_connected"] == 2
    finally:
        finish(s)


def test_bad_commands_refused_unknown_devices_ignored(workdir, ble):
    s = make_stack(workdir)
    try:
        cases = [
            ("not json", "malformed"),
            (json.dumps({"v": 1, "op": "bind", "args": {"device": "AA"}}), "malformed"),
            (json.dumps({"v": 2, "id": "x1", "op": "bind", "args": {"device": "AA"}}), "version"),
            (json.dumps({"v": 1, "id": "x2", "op": "reboot"}), "unknown_op"),
            (json.dumps({"v": 1, "id": "x3", "op": "bind", "args": {"device": "bad/dev"}}),
             "bad_args"),
            (json.dumps({"v": 1, "id": "x4", "op": "bind", "args": {"device": "A", "x": 1}}),
             "bad_args"),
            (json.dumps({"v": 1, "id": "x5", "op": "set_wheel",
                         "args": {"device": "C0:FF:EE:00:03:01", "circumference_m": 40}}),
             "bad_args"),
            (json.dumps({"v": 1, "id": "x6", "op": "session_start",
                         "args": {"device": "C0:FF:EE:00:03:01", "session": "s1",
                                  "idle_timeout_s": 1}}), "bad_args"),
            (json.dumps({"v": 1, "id": "x7", "op": "unbind",
                         "args": {"device": "C0:FF:EE:00:03:09"}}), "not_bound"),
            (json.dumps({"v": 1, "id": "x8", "op": "session_stop", "args": {"session": "nope"}}),
             "no_session"),
        ]
        for payload, err in cases:
            res = mqtt_cmd(s, payload)
            assert res is not None, payload
            assert res["ok"] is False and res["error"] == err, (payload, res)
            assert res["message"]
        # The gateway is still fine: a good command works.
        res = mqtt_cmd(s, {"v": 1, "id": "ok1", "op": "snapshot"})
        assert res["ok"] is True and "devices" in res["result"]
        res = mqtt_cmd(s, {"v": 1, "id": "sc1", "op": "scan", "args": {"seconds": 2}})
        assert res["ok"] is True and res["result"] == {"seconds": 2}
        assert ble.stats()["_adapter"]["discovering"]
        # A device the gateway never saw can be bound (it connects when it shows up) ...
        ghost = "C0:FF:EE:00:03:0A"
        res = mqtt_cmd(s, {"v": 1, "id": "g1", "op": "bind", "args": {"device": ghost}})
        assert res["ok"] is True and res["result"]["nearby"] is False
        ble.add(ghost, "Late strap", "hr")
        ble.wait(lambda st: st[ghost]["start_notify"] >= 1, what="late device connected")
        # ... and advertisement-only strangers are decoded but not forwarded.
        scale = "C0:FF:EE:00:03:0B"
        ble.add(scale, "MIBFS", "scale")
        # Xiaomi body composition service data: a finished weighing with impedance.
        weighing = [0x02, 0x26, 0xE8, 0x07, 11, 25, 10, 20, 30, 0xF7, 0x01, 0x30, 0x39]
        ble.set_advert(scale, "181b", weighing)
        time.sleep(1.5)
        assert not stored_rows(s, scale)
        # Once bound, the next weighing (a new timestamp) is forwarded.
        assert mqtt_cmd(s, {"v": 1, "id": "sc", "op": "bind", "args": {"device": scale}})["ok"]
        ble.set_advert(scale, "181b", weighing[:8] + [31] + weighing[9:])
        rows = wait_rows(s, 1, scale, timeout=10)
        assert len(rows) == 1 and json.loads(rows[0][5])["kind"] == "body_composition"
        # HTTP side: bad arguments are refused before any gateway sees them.
        base = f"http://127.0.0.1:{s.http_port}"
        u = User(base, 7101, "Carol")
        assert u.call("POST", "/api/v1/devices/bind", {"gateway": GW})[0] == 400
        assert u.call("POST", "/api/v1/devices/bind", {"gateway": "bad/gw", "device": "A"})[0] == 400
        assert u.call("POST", "/api/v1/devices/AA/wheel", {"circumference_m": 9})[0] == 400
        assert u.call("POST", "/api/v1/gym/session", {"qr": "https://example.org"})[0] == 400
        assert u.call("DELETE", "/api/v1/gym/session")[0] == 404
        assert u.call("POST", "/api/v1/devices/unbind", {"device": ghost})[0] == 404
    finally:
        finish(s)


def test_spool_cap_drops_oldest_and_gap_reported(workdir, ble):
    s = make_stack(workdir, edge_args=["--spool-max-readings=100"])
    try:
        dev = "C0:FF:EE:00:04:01"
        ble.add(dev, "Strap", "hr")
        time.sleep(0.5)
        assert mqtt_cmd(s, {"v": 1, "id": "b", "op": "bind", "args": {"device": dev}})["ok"]
        ble.wait(lambda st: st[dev]["start_notify"] >= 1, what="subscribed")
        s.procs["cloud"].stop()                       # the gym's internet is down
        total = 400
        for k in range(4):
            assert ble.notify(dev, "2a37", [hr(60 + (j % 100)) for j in range(100)]) == 100
        time.sleep(1)
        held = s.spool_count()
        assert 0 < held <= 100
        s.start_broker("cloud")
        deadline = time.time() + 40
        while s.spool_count() != 0 and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        stored = len(stored_rows(s, dev))
        gap = s.metrics()["fitgate_ingest_gap_readings_total"]
        assert stored + gap == total, (stored, gap)
        assert gap >= total - 100 and stored == held
    finally:
        finish(s)


def test_gym_machine_session_from_qr_to_idle_timeout(workdir, ble):
    s = make_stack(workdir, core_args=["--gym-idle-timeout-s=5"])
    try:
        mill = "C0:FF:EE:00:05:01"
        ble.add(mill, "Treadmill 7", "treadmill")
        base = f"http://127.0.0.1:{s.http_port}"
        dave, erin = User(base, 7201, "Dave"), User(base, 7202, "Erin")
        # The gym's staff own the gateway; members of the gym do not belong
        # to it and need not: the QR sticker is their way in.
        staff = User(base, 7203, "Staff")
        claim(s, staff)
        wait_nearby(staff, GW, mill)
        assert dave.call("GET", f"/api/v1/gateways/{GW}/nearby")[0] == 403
        qr = f"fitgate://gym?gw={GW}&dev={mill}"
        status, body = dave.call("POST", "/api/v1/gym/session", {"qr": qr})
        assert status == 201, body
        assert body["device"] == mill and body["idle_timeout_s"] == 5
        st = ble.wait(lambda st: st[mill]["start_notify"] >= 1 and
                      ["2ad9", "07"] in st[mill]["writes"], what="machine started")
        assert ["2ad9", "00"] in st[mill]["writes"]   # request control first
        assert ble.notify(mill, "2acd", [treadmill(9 + i * 0.1) for i in range(10)]) == 10
        rows = wait_rows(s, 10, mill)
        assert len(rows) == 10
        mine = [r for r in dave.readings() if r["dev"] == mill]
        assert len(mine) == 10 and all(r["v"]["speed"] > 2 for r in mine)
        # Dave steps off: the belt reports 0 km/h, which is not activity.
        t0 = time.time()
        deadline = t0 + 15
        ended = False
        while time.time() < deadline:
            ble.notify(mill, "2acd", [treadmill(0)])
            status, devs = dave.call("GET", "/api/v1/devices")
            if devs == []:
                ended = True
                break
            time.sleep(0.5)
        assert ended, "session did not end on idle"
        assert 4 <= time.time() - t0 <= 12
        st = ble.wait(lambda st: ["2ad9", "0801"] in st[mill]["writes"] and
                      not st[mill]["connected"], what="machine stopped and released")
        # Idle readings (0 km/h) were still Dave's session; after it nothing is his.
        time.sleep(1)
        daves = len([r for r in dave.readings() if r["dev"] == mill])
        assert daves > 10
        assert all(r["v"]["speed"] == 0 for r in dave.readings()[10:] if r["dev"] == mill)
        # Erin scans the same sticker and starts her own session.
        status, body = erin.call("POST", "/api/v1/gym/session", {"qr": qr})
        assert status == 201, body
        ble.wait(lambda st: st[mill]["connected"] and st[mill]["start_notify"] >= 2,
                 what="machine reconnected for Erin")
        assert ble.notify(mill, "2acd", [treadmill(12)]) == 1
        deadline = time.time() + 10
        while time.time() < deadline and not [r for r in erin.readings() if r["dev"] == mill]:
            time.sleep(0.2)
        assert [r["v"]["speed"] for r in erin.readings() if r["dev"] == mill] == [
            pytest.approx(12 / 3.6)]
        assert len([r for r in dave.readings() if r["dev"] == mill]) == daves
        status, body = erin.call("DELETE", "/api/v1/gym/session")
        assert status == 200 and body["ended"] == "stop"
    finally:
        finish(s)
