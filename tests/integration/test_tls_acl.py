"""Gateways authenticate to the cloud broker with X.509 client certificates.

The cloud broker runs the shipped deploy/mosquitto/cloud.conf (only paths, the
listener address and logging replaced) with a copy of the shipped
deploy/mosquitto/fitgate-cloud.acl, over a throwaway PKI made with openssl:
require_certificate, use_identity_as_username (CN = MQTT username), the
per-gateway ACL on %u. Everything speaks MQTT v5, so an ACL denial comes back as
a reason code >= 0x80 (0x87 Not authorized).
"""
import json
import os
import secrets
import struct
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import CHECK_EXIT, demo_devices
from pki import Pki
from stack import Stack

NOT_AUTHORIZED = 0x87
INGEST = "fitgate-core-ingest"


class V5Client(mqtt.Client):
    """paho-mqtt 1.6.1, MQTT v5, keeping what its callbacks leave out: the PUBACK
    reason code (on_publish gets only the mid) and every SUBACK reason code."""

    def __init__(self, client_id):
        super().__init__(client_id=client_id, protocol=mqtt.MQTTv5)
        self.connack = None       # CONNACK reason code (int)
        self.closed = threading.Event()
        self.pubacks = {}         # mid -> reason code
        self.subacks = {}         # mid -> [reason code, ...]
        self.messages = []        # (topic, payload bytes)
        self.lock = threading.Lock()
        self.on_connect = self._cb_connect
        self.on_disconnect = lambda c, u, rc, p=None: self.closed.set()
        self.on_subscribe = self._cb_subscribe
        self.on_message = self._cb_message

    def _cb_connect(self, c, u, flags, rc, props=None):
        self.connack = rc.value if hasattr(rc, "value") else int(rc)

    def _cb_subscribe(self, c, u, mid, codes, props=None):
        self.subacks[mid] = [x.value for x in codes]

    def _cb_message(self, c, u, msg):
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def _handle_pubackcomp(self, cmd):
        # A v5 PUBACK is mid (2 bytes) [reason code [properties]]; no reason
        # code byte means 0x00 Success.
        pkt = self._in_packet["packet"]
        if cmd == "PUBACK" and len(pkt) >= 2:
            (mid,) = struct.unpack("!H", pkt[:2])
            self.pubacks[mid] = pkt[2] if len(pkt) > 2 else 0
        return super()._handle_pubackcomp(cmd)

    def publish_wait(self, topic, payload, qos=1, retain=False, timeout=10):
        """Publish at QoS 1 and return the broker's PUBACK reason code."""
        info = self.publish(topic, payload, qos=qos, retain=retain)
        deadline = time.time() + timeout
        while info.mid not in self.pubacks:
            assert time.time() < deadline, f"no PUBACK for {topic}"
            time.sleep(0.01)
        return self.pubacks[info.mid]

    def subscribe_wait(self, topic, qos=1, timeout=10):
        """Subscribe and return the SUBACK reason code."""
        rc, mid = self.subscribe(topic, qos=qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        deadline = time.time() + timeout
        while mid not in self.subacks:
            assert time.time() < deadline, f"no SUBACK for {topic}"
            time.sleep(0.01)
        return self.subacks[mid][0]

    def received(self, topic=None):
        with self.lock:
            return [m for m in self.messages if topic is None or m[0] == topic]

    def close(self):
        self.disconnect()
        self.loop_stop()


def connect(port, cafile, cert=None, client_id="t-client", tls=True, timeout=8, resume=False):
    """Connect a V5Client; returns it once CONNACK arrived or the connection ended
    (c.connack stays None when the broker never accepted the client)."""
    c = V5Client(client_id)
    if tls:
        c.tls_set(ca_certs=cafile, certfile=cert[0] if cert else None,
                  keyfile=cert[1] if cert else None)
    try:
        if resume:  # clean start off + a session expiry: take over a stored session
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            c.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
        else:
            c.connect("127.0.0.1", port, keepalive=30)
    except OSError:          # ssl.SSLError is an OSError: refused in the handshake
        return c
    c.loop_start()
    deadline = time.time() + timeout
    while c.connack is None and not c.closed.is_set() and time.time() < deadline:
        time.sleep(0.02)
    return c


def batch(gw, seq, n, epoch=None, dev="sim-0001"):
    """A valid batch (docs/protocol.md) of n readings starting at seq."""
    now = int(time.time() * 1000)
    readings = [{"dev": dev, "kind": "heart_rate", "ts": now + i, "v": {"hr": 60 + i % 100}}
                for i in range(n)]
    return json.dumps({"v": 1, "gw": gw, "epoch": epoch or secrets.token_hex(8), "seq": seq,
                       "floor": seq, "readings": readings})


class Pkis:
    def __init__(self, d):
        self.ca = Pki(os.path.join(d, "pki"))
        self.broker = self.ca.server("127.0.0.1")
        self.gw_a = self.ca.client("gw-a")
        self.gw_b = self.ca.client("gw-b")
        self.ingest = self.ca.client(INGEST)
        self.tls = {"cafile": self.ca.ca_crt, "certfile": self.broker[0],
                    "keyfile": self.broker[1]}


@pytest.fixture
def pki(workdir):
    return Pkis(workdir)


@pytest.fixture
def tls_stack(workdir, pki):
    s = Stack(workdir, gateway="gw-a", cloud_tls=pki.tls, edge_cert=pki.gw_a,
              core_cert=pki.ingest, core_args=["--dev-demo-devices=" + demo_devices()])
    try:
        s.start_brokers()
        s.start_core()
        s.start_edge()
    except BaseException:
        s.stop()  # no broker left behind when the start fails
        raise
    yield s
    codes = s.stop()
    if CHECK_EXIT:
        assert codes.get("edge") == 0, f"fitgate-edge exit {codes.get('edge')}"
        assert codes.get("core") == 0, f"fitgate-core exit {codes.get('core')}"


def wait_for(pred, timeout=60, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def settle(stack, expected, timeout=120):
    stack.wait_stored(expected, timeout)
    time.sleep(1.5)
    return stack.stored()


def test_end_to_end_over_tls(tls_stack):
    s = tls_stack
    stats = s.sim(count=5000, devices=5, rate=0, qos=2)
    assert stats["published"] == 5000 and stats["failed"] == 0
    assert settle(s, 5000) == 5000
    # The core's acks reach the edge over TLS too: the spool empties.
    assert wait_for(lambda: s.spool_count() == 0, 30), f"spool {s.spool_count()}"
    assert s.metrics()["fitgate_worker_readings_stored_total"] == 5000
    # The broker saw the identities from the certificates.
    log = open(os.path.join(s.dir, "mosquitto-cloud.log"), "rb").read().decode(errors="replace")
    assert "u'gw-a'" in log and f"u'{INGEST}'" in log, log[-2000:]


def test_only_certificates_of_our_ca_connect(workdir, pki):
    s = Stack(workdir, cloud_tls=pki.tls)
    s.start_broker("cloud")
    try:
        port, ca = s.cloud_port, pki.ca.ca_crt
        # Control: our CA's gateway certificate connects.
        ok = connect(port, ca, pki.gw_a, client_id="ok")
        assert ok.connack == 0
        ok.close()
        # TLS but no client certificate.
        c = connect(port, ca, None, client_id="no-cert")
        assert c.connack is None, f"connected without a certificate: {c.connack}"
        c.loop_stop()
        # A certificate with the right CN from another CA.
        other = Pki(os.path.join(workdir, "other-pki"), name="other-ca")
        forged = other.client("gw-a")
        c = connect(port, ca, forged, client_id="forged")
        assert c.connack is None, f"connected with a foreign CA's certificate: {c.connack}"
        c.loop_stop()
        # Plain MQTT on the TLS port.
        c = connect(port, ca, None, client_id="plain", tls=False)
        assert c.connack is None, f"plain MQTT accepted: {c.connack}"
        c.loop_stop()
        # The same through mosquitto_pub (its exit status reports the failure).
        base = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "1",
                "-t", "fit/v1/gw/gw-a/state", "-m", "x", "--cafile", ca]
        r = subprocess.run(base, capture_output=True, timeout=30)
        assert r.returncode != 0
        r = subprocess.run(base + ["--cert", forged[0], "--key", forged[1]],
                           capture_output=True, timeout=30)
        assert r.returncode != 0
        r = subprocess.run(base[:-6] + ["-t", "fit/v1/gw/gw-a/state", "-m", "x", "--cafile", ca,
                                        "--cert", pki.gw_a[0], "--key", pki.gw_a[1]],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
    finally:
        s.stop()


def test_acl_keeps_a_gateway_in_its_own_subtree(tls_stack, pki):
    s = tls_stack
    port, ca = s.cloud_port, pki.ca.ca_crt
    s.sim(count=100, devices=2, rate=0, qos=2)
    assert settle(s, 100) == 100
    assert wait_for(lambda: s.spool_count() == 0, 30)

    b = connect(port, ca, pki.gw_b, client_id="gw-b")
    assert b.connack == 0
    # gw-b may not read gw-a's acks. mosquitto 2.0's acl_file grants every
    # SUBSCRIBE (SUBACK 0x01) and applies `read` rules at delivery, so what is
    # asserted below is that nothing of gw-a's ever arrives, directly or by wildcard.
    b.subscribe_wait("fit/v1/gw/gw-a/ack")
    b.subscribe_wait("fit/v1/gw/+/ack")
    assert b.subscribe_wait("fit/v1/gw/gw-b/ack") < 0x80

    # gw-b writing into gw-a's subtree: PUBACK 0x87 and nothing stored (the core,
    # subscribed to fit/v1/gw/+/batch, is the observer: no second client may use
    # the ingest's certificate without taking over its session).
    evil_epoch = "e" * 16
    assert b.publish_wait("fit/v1/gw/gw-a/batch", batch("gw-a", 1, 50, evil_epoch)) == NOT_AUTHORIZED
    assert b.publish_wait("fit/v1/gw/gw-a/state", b'{"v":1,"state":"offline"}',
                          retain=True) == NOT_AUTHORIZED
    # ... and into the core's: gw-b cannot forge acks for gw-a.
    assert b.publish_wait("fit/v1/gw/gw-a/ack", b'{"v":1}') == NOT_AUTHORIZED
    # Control: its own subtree works end to end, acks included (sent after the
    # denied batch on the same connection, so the denied one would be in first).
    own_epoch = "b" * 16
    assert b.publish_wait("fit/v1/gw/gw-b/batch", batch("gw-b", 1, 30, own_epoch,
                                                        dev="sim-0003")) < 0x80
    assert settle(s, 130) == 130
    assert wait_for(lambda: b.received("fit/v1/gw/gw-b/ack"), 30)
    assert json.loads(b.received("fit/v1/gw/gw-b/ack")[-1][1])["seq"] == 30

    # More of gw-a's traffic, so gw-a's acks flow while gw-b listens on fit/v1/gw/+/ack.
    s.sim(count=100, devices=2, rate=0, qos=2, prefix="sim-")
    assert settle(s, 230) == 230
    assert wait_for(lambda: s.spool_count() == 0, 30)
    time.sleep(1)
    assert b.received("fit/v1/gw/gw-a/ack") == []
    assert s.metrics()["fitgate_worker_readings_stored_total"] == 230
    # mosquitto_pub (v5, debug) sees the same PUBACK reason. It runs last: with
    # use_username_as_clientid its client id is gw-b too, so it takes over b's session.
    r = subprocess.run(["mosquitto_pub", "-d", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5",
                        "-q", "1", "-t", "fit/v1/gw/gw-a/batch", "-m", batch("gw-a", 1, 5, evil_epoch),
                        "--cafile", ca, "--cert", pki.gw_b[0], "--key", pki.gw_b[1]],
                       capture_output=True, text=True, timeout=30)
    # (its exit status stays 0: it only warns "Publish 1 failed: Not authorized")
    assert "RC:135" in r.stdout, r.stdout + r.stderr
    b.close()


def test_client_id_spoofing_gives_no_rights(tls_stack, pki):
    s = tls_stack
    port, ca = s.cloud_port, pki.ca.ca_crt
    # gw-b's certificate with the client id "gw-a": still only gw-b's rights.
    spoof = connect(port, ca, pki.gw_b, client_id="gw-a")
    assert spoof.connack == 0
    assert spoof.publish_wait("fit/v1/gw/gw-a/batch", batch("gw-a", 1, 20)) == NOT_AUTHORIZED
    spoof.subscribe_wait("fit/v1/gw/gw-a/ack")
    assert spoof.publish_wait("fit/v1/gw/gw-b/batch", batch("gw-b", 1, 20, dev="sim-0004")) < 0x80
    spoof.close()
    assert settle(s, 20) == 20
    # use_username_as_clientid (deploy/mosquitto/cloud.conf): the spoofer ran as
    # "gw-b", so the real gw-a was never kicked off the broker.
    edge_log = open(os.path.join(s.dir, "edge.log")).read()
    assert "cloud_disconnected" not in edge_log

    # gw-b's certificate with the core's client id, while the core is down and
    # its persistent session holds gw-a's batches: gw-b gets none of them.
    s.procs["core"].stop()
    s.sim(count=300, devices=3, rate=0, qos=2)
    assert wait_for(lambda: s.spool_count() == 300, 30)
    thief = connect(port, ca, pki.gw_b, client_id=INGEST, resume=True)
    assert thief.connack == 0
    time.sleep(2)
    assert thief.received() == []
    thief.close()
    # The real core comes back and stores everything exactly once.
    s.start_core()
    assert settle(s, 320) == 320
    assert wait_for(lambda: s.spool_count() == 0, 30)
