"""J8: a signed OTA update from the cloud, installed by fitgate-edge, proven by the cloud's ack.

A gateway without hardware (as test_update.py): file slots, the file bootloader
environment, `fitgate-fw update boot` as the boot script. The stack runs
mosquitto (local + cloud), fitgate-core and fitgate-edge configured with
update_slots; the bundle directory is served by a local HTTP server. The
`update` command goes over the cloud broker as the core sends it; the edge
answers at once, downloads and installs through fitgate-fw child processes and
reports progress as events. After a simulated reboot the edge marks the new
slot good only once the cloud acknowledged readings; with the cloud gone the
slot never becomes good and the bootloader falls back by itself.
"""
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from stack import BIN, Stack
from test_update import Gateway, bundle, signing  # noqa: F401 (fixture)

GW = "gw-ota"


class Served(http.server.BaseHTTPRequestHandler):
    """Serves bundle directories: /<name>/<file>; the image waits while `hold` is set."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        d = self.server.bundles.get(parts[0]) if len(parts) == 2 else None
        f = os.path.join(d, parts[1]) if d else None
        if not f or not os.path.isfile(f):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.hits.append(self.path)
        if parts[1].endswith(".img"):
            self.server.hold.wait(20)
        body = open(f, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Cloud:
    """The cloud broker from the core's side: commands out, results and events in."""

    def __init__(self, port):
        self.msgs = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(client_id="ota-test",
                             protocol=mqtt.MQTTv5)
        self.c.on_message = self.on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(f"fit/v1/gw/{GW}/event", qos=1)
        self.c.subscribe(f"fit/v1/gw/{GW}/cmd/result", qos=1)
        self.c.subscribe(f"fit/v1/gw/{GW}/cmd", qos=1)  # what the core sends
        self.c.loop_start()
        time.sleep(0.3)

    def on_message(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, json.loads(m.payload)))

    def send(self, cid, **args):
        self.c.publish(f"fit/v1/gw/{GW}/cmd",
                       json.dumps({"v": 1, "id": cid, "op": "update", "args": args}), qos=1)

    def wait(self, pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for t, m in self.msgs:
                    if pred(t, m):
                        return m
            time.sleep(0.05)
        raise TimeoutError(f"no such message; got {self.msgs}")

    def events(self, cid):
        with self.lock:
            return [m for t, m in self.msgs if t.endswith("/event") and m.get("id") == cid]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def api(o, method, path, body=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{o['st'].http_port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def token(o, *flags):
    r = subprocess.run([os.path.join(BIN, "fitgate-core"), "identity", "token", "ops-ota", *flags,
                        f"--data_dir={o['st'].dir}/core"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def result_of(cid):
    return lambda t, m: t.endswith("/cmd/result") and m["id"] == cid


def step_of(cid, *steps):
    return lambda t, m: t.endswith("/event") and m.get("id") == cid and m["step"] in steps


def manifest(b):
    data = open(os.path.join(b, "manifest.json"), "rb").read()
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@pytest.fixture(scope="module")
def ota(tmp_path_factory, signing):  # noqa: F811
    d = str(tmp_path_factory.mktemp("ota"))
    os.makedirs(os.path.join(d, "gw"))
    gw = Gateway(os.path.join(d, "gw"), signing["ca"])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Served)
    srv.bundles, srv.hits, srv.hold = {}, [], threading.Event()
    srv.hold.set()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    st = Stack(os.path.join(d, "stack"), gateway=GW,
               edge_args=[f"--update-slots={gw.conf}", "--log-level=debug",
                          f"--update-reboot-cmd=/usr/bin/touch {d}/rebooted"])
    st.start_brokers()
    st.start_core()
    st.start_edge()
    cloud = Cloud(st.cloud_port)
    yield {"gw": gw, "srv": srv, "st": st, "cloud": cloud, "signing": signing,
           "url": f"http://127.0.0.1:{srv.server_address[1]}"}
    cloud.close()
    st.stop()
    srv.shutdown()


def reboot(o):
    """Power cycle: the edge stops, the boot script picks a slot, the edge starts."""
    st = o["st"]
    st.procs["edge"].stop()
    slot = o["gw"].boot()
    st.start_edge(wait=True)
    return slot


def test_wrong_hash_is_refused_at_fetch_and_slots_stay_untouched(ota):
    gw, cloud = ota["gw"], ota["cloud"]
    b, _ = bundle(ota["signing"], 1)
    ota["srv"].bundles["v1"] = b
    before = gw.snapshot()
    m = manifest(b)
    cloud.send("u-bad", url=ota["url"] + "/v1/", sha256="ab" * 32, size=m["size"])
    assert cloud.wait(result_of("u-bad"))["ok"] is True
    ev = cloud.wait(step_of("u-bad", "failed", "installed"))
    assert ev["step"] == "failed" and ev["stage"] == "fetch" and ev["error"] == "sha256", ev
    assert gw.snapshot() == before
    assert not os.path.exists(os.path.join(ota["st"].dir, "update", "bundle"))
    # Bad arguments never reach the agent.
    cloud.send("u-args", url="file:///etc/passwd", sha256=m["sha256"], size=m["size"])
    r = cloud.wait(result_of("u-args"))
    assert r["ok"] is False and r["error"] == "bad_args"


def test_update_installs_reports_progress_and_marks_good_after_the_cloud_acks(ota):
    """The operator's route sends the command; the core keeps the gateway's update state."""
    gw, cloud, st, srv = ota["gw"], ota["cloud"], ota["st"], ota["srv"]
    b, img = bundle(ota["signing"], 1)
    srv.bundles["v1"] = b
    admin = token(ota, "--admin")
    path = f"/api/v1/admin/gateways/{GW}/update"
    args = {"url": ota["url"] + "/v1", **manifest(b)}
    # Only operators; bad arguments are refused before anything is sent.
    assert api(ota, "POST", path, args)[0] == 401
    assert api(ota, "POST", path, args, token=token(ota))[0] == 403  # an internal token
    n_cmds = len([1 for t, m in cloud.msgs if t.endswith("/cmd")])
    for bad in ({**args, "sha256": "AB" * 32}, {**args, "size": 0}, {**args, "url": "ftp://x/"},
                {**args, "slots": "/etc/x"}, {"url": args["url"]}):
        code, e = api(ota, "POST", path, bad, token=admin)
        assert code == 400 and e["error"] == "bad_args", (bad, e)
    assert api(ota, "POST", "/api/v1/admin/gateways/bad%20gw/update", args, token=admin)[0] == 400
    time.sleep(0.3)
    assert len([1 for t, m in cloud.msgs if t.endswith("/cmd")]) == n_cmds
    srv.hold.clear()  # the image download waits: a second command meets a running update
    code, r = api(ota, "POST", path, args, token=admin)
    assert code == 202 and r["accepted"] is True, r
    cid = r["id"]
    code, e = api(ota, "POST", path, args, token=admin)
    assert code == 409 and e["error"] == "busy", e
    cloud.send(cid, **args)  # a QoS 1 redelivery of the running command: nothing new runs
    r = cloud.wait(lambda t, m: t.endswith("/cmd/result") and m["id"] == cid and
                   m.get("result", {}).get("duplicate"))
    assert r["ok"] is True
    srv.hold.set()
    ev = cloud.wait(step_of(cid, "installed", "failed"), timeout=40)
    assert ev["step"] == "installed" and ev["slot"] == "B", (ev, st.logs())
    time.sleep(0.3)
    code, state = api(ota, "GET", path, token=admin)
    assert code == 200 and state["latest"]["step"] == "installed", state
    assert state["latest"]["id"] == cid and state["latest"]["slot"] == "B"
    assert state["latest"]["sha256"] == args["sha256"]
    hist = [h["step"] for h in state["history"] if h["id"] == cid]
    assert hist[0] == "accepted" and hist[-1] == "installed" and "downloading" not in hist, hist
    assert "switched" in hist
    steps = [e["step"] for e in cloud.events(cid)]
    assert steps[0] == "downloading" and steps[-1] == "installed"
    for s in ("verified", "marked-bad", "written", "read-back", "state", "switched"):
        assert s in steps, steps
    down = [e for e in cloud.events(cid) if e["step"] == "downloading"]
    size = os.path.getsize(img)
    assert down[-1]["bytes"] == down[-1]["total"] and down[-1]["total"] >= size
    s = gw.status()
    assert s["boot_order"] == "BA" and s["slots"]["B"]["status"] == "installed"
    assert s["floor"] == 0
    assert gw.slot_bytes(1, size) == open(img, "rb").read()
    assert not os.path.exists(os.path.join(st.dir, "update", "bundle"))  # cleaned up
    # update_reboot_cmd ran after the install (an argv: /usr/bin/touch <file>)
    reboot_flag = os.path.join(os.path.dirname(st.dir), "rebooted")
    deadline = time.time() + 10
    while not os.path.exists(reboot_flag) and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(reboot_flag)

    # Reboot into B: the edge comes back, readings are acked -> mark-good.
    assert reboot(ota) == "B"
    assert gw.status()["slots"]["B"]["status"] == "installed"  # not before the ack
    st.sim(count=20)
    ev = cloud.wait(lambda t, m: t.endswith("/event") and m.get("step") == "marked_good",
                    timeout=30)
    assert ev["slot"] == "B" and ev["version"] == 1 and ev["rolled_back"] is False
    s = gw.status()
    assert s["booted"] == "B" and s["slots"]["B"]["status"] == "good" and s["floor"] == 1
    time.sleep(0.3)
    latest = api(ota, "GET", path, token=admin)[1]["latest"]
    assert latest["step"] == "marked_good" and latest["id"] == cid and latest["version"] == 1


def test_no_cloud_after_reboot_rolls_back(ota):
    gw, cloud, st, srv = ota["gw"], ota["cloud"], ota["st"], ota["srv"]
    b, _ = bundle(ota["signing"], 2)
    srv.bundles["v2"] = b
    cloud.send("u-3", url=ota["url"] + "/v2/", **manifest(b))
    ev = cloud.wait(step_of("u-3", "installed", "failed"), timeout=40)
    assert ev["step"] == "installed" and ev["slot"] == "A", ev
    # The new system comes up without the cloud (its network is broken, say).
    cloud.close()
    st.procs["cloud"].stop()
    n_marked = len([1 for t, m in cloud.msgs if m.get("step") == "marked_good"])
    for _ in range(3):  # every boot attempt of A
        assert reboot(ota) == "A"
        st.sim(count=5)
        time.sleep(1.0)
        assert gw.status()["slots"]["A"]["status"] == "installed"  # never marked good
    # Attempts are used up: the bootloader falls back to B by itself.
    assert reboot(ota) == "B"
    s = gw.status()
    assert s["rolled_back"] is True and s["floor"] == 1
    # The cloud is back: the fallback records A as bad.
    st.start_broker("cloud")
    cloud2 = Cloud(st.cloud_port)
    try:
        ev = cloud2.wait(lambda t, m: t.endswith("/event") and m.get("step") == "marked_good",
                         timeout=40)
        assert ev["slot"] == "B" and ev["rolled_back"] is True
        s = gw.status()
        assert s["slots"]["A"]["status"] == "bad" and s["slots"]["B"]["status"] == "good"
        assert s["floor"] == 1
    finally:
        cloud2.close()
    assert n_marked == 1


def test_gateway_without_update_slots_refuses(ota):
    """commands on, no update_slots: the op answers updates_disabled, nothing runs."""
    from stack import Proc
    st = ota["st"]
    if "cloud" not in st.procs:
        st.start_broker("cloud")
    d = os.path.join(st.dir, "edge-off")
    os.makedirs(d, exist_ok=True)
    p = Proc("edge-off", [os.path.join(BIN, "fitgate-edge"), "--gateway-id=gw-off",
                          f"--spool-path={d}/spool.db", f"--local-port={st.local_port}",
                          f"--cloud-port={st.cloud_port}", "--commands=1"], d)
    c = mqtt.Client(client_id="ota-test-off", protocol=mqtt.MQTTv5)
    got = []
    c.on_message = lambda cl, u, m: got.append(json.loads(m.payload))
    c.connect("127.0.0.1", st.cloud_port)
    c.subscribe("fit/v1/gw/gw-off/cmd/result", qos=1)
    c.loop_start()
    try:
        deadline = time.time() + 20
        while not got and time.time() < deadline:  # until the edge is subscribed
            c.publish("fit/v1/gw/gw-off/cmd", json.dumps(
                {"v": 1, "id": "off-1", "op": "update",
                 "args": {"url": "https://x/b/", "sha256": "ab" * 32, "size": 10}}), qos=1)
            time.sleep(0.3)
        assert got and got[0]["ok"] is False and got[0]["error"] == "updates_disabled", got
        assert not os.path.exists(os.path.join(d, "update"))
    finally:
        c.loop_stop()
        c.disconnect()
        p.stop()
