"""Gateway enrolment end to end (J8): provision, first boot, mTLS, readings.

Two CAs, as in production: the server CA (the cloud broker's and the HTTPS
front's certificates; it is what `fitgate-fw provision --ca` puts on the
gateway) and the gateway CA (fitgate-core signs gateway certificates with it;
the broker trusts it for clients). The cloud broker runs the shipped TLS
config (require_certificate, use_identity_as_username, per-gateway ACL). The
core's API sits behind a small TLS-terminating proxy, as it sits behind
nginx in production: the gateway talks HTTPS only.
"""
import http.server
import json
import os
import ssl
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import CHECK_EXIT, demo_devices
from pki import Pki
from stack import BIN, Stack, free_port

GW = "gw-enrol-1"
INGEST = "fitgate-core-ingest"


class TlsProxy:
    """HTTPS on 127.0.0.1 in front of the core's plain-HTTP API."""

    def __init__(self, cert, key, upstream_port):
        up = upstream_port
        proxy = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                proxy.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = urllib.request.Request(
                    f"http://127.0.0.1:{up}{self.path}", data=body, method="POST",
                    headers={"Content-Type": self.headers.get("Content-Type", "")})
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        code, data = r.status, r.read()
                except urllib.error.HTTPError as e:
                    code, data = e.code, e.read()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class Env:
    def __init__(self, d):
        self.dir = d
        self.server_ca = Pki(os.path.join(d, "server-ca"), "fitgate-server-ca")
        self.gw_ca = Pki(os.path.join(d, "gw-ca"), "fitgate-gateway-ca")
        self.broker = self.server_ca.server("127.0.0.1", stem="broker")
        self.https = self.server_ca.server("127.0.0.1", stem="https")
        self.ingest = self.server_ca.client(INGEST)
        # The broker verifies clients from either CA (the core's ingest cert is
        # a server-CA one); the core verifies the broker with the same bundle.
        self.bundle = os.path.join(d, "broker-clients.pem")
        with open(self.bundle, "w") as f:
            for p in (self.server_ca.ca_crt, self.gw_ca.ca_crt):
                f.write(open(p).read())
        self.boot = os.path.join(d, "boot")
        self.identity = os.path.join(d, "var-lib-fitgate", "identity")
        os.makedirs(self.boot)
        self.stack = None
        self.proxy = None

    def mint(self, gw, ttl=None):
        argv = [os.path.join(BIN, "fitgate-core"), "enrol-token", "--gateway", gw,
                "--data-dir", os.path.join(self.dir, "core"), "--json"]
        if ttl:
            argv += ["--ttl-s", str(ttl)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["gateway_id"] == gw and len(out["token"]) == 43
        return out["token"]

    def url(self):
        return f"https://127.0.0.1:{self.proxy.port}/api/v1/enrol"

    def post(self, body):
        ctx = ssl.create_default_context(cafile=self.server_ca.ca_crt)
        req = urllib.request.Request(self.url(), data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def csr(self, cn, curve="P-256"):
        key = os.path.join(self.dir, f"csr-{cn}-{curve}.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        f"ec_paramgen_curve:{curve}", "-out", key], check=True,
                       capture_output=True)
        return subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", f"/CN={cn}"],
                              check=True, capture_output=True, text=True).stdout


@pytest.fixture
def env(workdir):
    e = Env(workdir)
    tls = {"cafile": e.bundle, "certfile": e.broker[0], "keyfile": e.broker[1]}
    e.stack = Stack(workdir, gateway=GW, cloud_tls=tls, core_cert=e.ingest,
                    core_args=["--dev-demo-devices=" + demo_devices(),
                               f"--enrol-ca-cert={e.gw_ca.ca_crt}",
                               f"--enrol-ca-key={e.gw_ca.ca_key}"],
                    edge_args=["--config", os.path.join(e.boot, "fitgate", "edge.conf"),
                               f"--identity-dir={e.identity}",
                               f"--metrics-file={workdir}/edge.prom"])
    try:
        e.stack.start_brokers()
        e.stack.start_core()
        e.proxy = TlsProxy(e.https[0], e.https[1], e.stack.http_port)
    except BaseException:
        e.stack.stop()
        raise
    yield e
    e.proxy.close()
    codes = e.stack.stop()
    if CHECK_EXIT:
        assert codes.get("core") == 0, f"fitgate-core exit {codes.get('core')}"
        if "edge" in codes:
            assert codes.get("edge") == 0, f"fitgate-edge exit {codes.get('edge')}"


def provision(e, token):
    tok = os.path.join(e.dir, "token.txt")
    with open(tok, "w") as f:
        f.write(token + "\n")
    r = subprocess.run([os.path.join(BIN, "fitgate-fw"), "provision", e.boot, "--gateway-id", GW,
                        "--broker", f"mqtts://127.0.0.1:{e.stack.cloud_port}",
                        "--ca", e.server_ca.ca_crt, "--enrol-url", e.url(),
                        "--token-file", tok, "--mount-point", e.boot, "--json"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    os.unlink(tok)


def audit(e, outcome):
    import sqlite3
    db = sqlite3.connect(os.path.join(e.dir, "core", "core.db"))
    try:
        return db.execute("SELECT count(*) FROM enrol_audit WHERE outcome = ?",
                          (outcome,)).fetchone()[0]
    finally:
        db.close()


def test_first_boot_enrols_and_readings_flow(env):
    e, s = env, env.stack
    provision(e, e.mint(GW))
    token_file = os.path.join(e.boot, "fitgate", "enrol-token")
    token = open(token_file).read().strip()
    s.start_edge()  # returns once subscribed locally: enrolment is done by then

    # Key and certificate on the gateway, with the promised modes.
    key, crt = os.path.join(e.identity, "key.pem"), os.path.join(e.identity, "cert.pem")
    assert stat.S_IMODE(os.stat(e.identity).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert not [f for f in os.listdir(e.identity) if f.endswith(".tmp")]
    assert not os.path.exists(token_file), "the burnt token stays on the card"
    # The certificate: CN = gateway id, issued by the gateway CA, for our key.
    subj = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-subject", "-issuer"],
                          capture_output=True, text=True, check=True).stdout
    assert f"CN = {GW}" in subj and "CN = fitgate-gateway-ca" in subj
    v = subprocess.run(["openssl", "verify", "-CAfile", e.gw_ca.ca_crt, "-purpose", "sslclient",
                        crt], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    pub_c = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-pubkey"],
                           capture_output=True, text=True, check=True).stdout
    pub_k = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"], capture_output=True,
                           text=True, check=True).stdout
    assert pub_c == pub_k

    # mTLS to the broker with that identity, and readings arrive.
    stats = s.sim(count=300, devices=3, rate=0, qos=1)
    assert stats["published"] == 300 and stats["failed"] == 0
    s.wait_stored(300, timeout=60)
    log = open(os.path.join(s.dir, "mosquitto-cloud.log"), "rb").read().decode(errors="replace")
    assert f"u'{GW}'" in log, log[-2000:]
    assert audit(e, "enrolled") == 1
    promf = os.path.join(e.dir, "edge.prom")  # the edge writes it a second after start
    deadline = time.time() + 10
    while not os.path.exists(promf) and time.time() < deadline:
        time.sleep(0.1)
    prom = open(promf).read()
    assert 'fitgate_edge_enrol_attempts_total{outcome="enrolled"} 1\n' in prom, prom
    assert 'fitgate_edge_enrol_attempts_total{outcome="retry"} 0\n' in prom, prom

    # Replay of the burnt token, with a fresh key: refused.
    code, body = e.post({"token": token, "csr": e.csr(GW)})
    assert (code, body["error"]) == (409, "token_used"), body
    assert audit(e, "token_used") == 1

    # A restart uses the stored identity; no second enrolment.
    s.procs["edge"].stop()
    s.start_edge()
    assert audit(e, "enrolled") == 1
    m = s.metrics()
    assert m.get('fitgate_enrol_requests_total{outcome="enrolled"}') == 1, m
    assert m.get('fitgate_enrol_requests_total{outcome="token_used"}') == 1, m


def test_refusals(env):
    e = env
    # Expired.
    tok = e.mint("gw-exp", ttl=1)
    time.sleep(1.2)
    code, body = e.post({"token": tok, "csr": e.csr("gw-exp")})
    assert (code, body["error"]) == (403, "token_expired"), body
    # Wrong CN: refused, and the token still serves its own gateway.
    tok = e.mint("gw-cn")
    code, body = e.post({"token": tok, "csr": e.csr("gw-other")})
    assert (code, body["error"]) == (422, "csr_cn_mismatch"), body
    code, body = e.post({"token": tok, "csr": e.csr("gw-cn", curve="P-384")})
    assert (code, body["error"]) == (422, "csr_key_type"), body
    code, body = e.post({"token": tok, "csr": e.csr("gw-cn")})
    assert code == 200 and body["gateway_id"] == "gw-cn", body
    assert "BEGIN CERTIFICATE" in body["certificate"] and body["serial"]
    # Unknown and malformed.
    code, body = e.post({"token": "A" * 43, "csr": e.csr("gw-cn")})
    assert (code, body["error"]) == (403, "token_unknown"), body
    code, body = e.post({"token": tok})
    assert (code, body["error"]) == (400, "malformed"), body
    # The admin route needs an operator token.
    req = urllib.request.Request(
        f"https://127.0.0.1:{e.proxy.port}/api/v1/admin/enrol-tokens",
        data=b'{"gateway_id":"gw-x"}', method="POST",
        headers={"Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=e.server_ca.ca_crt)
    with pytest.raises(urllib.error.HTTPError) as ex:
        urllib.request.urlopen(req, context=ctx, timeout=10)
    assert ex.value.code in (401, 403)
    m = e.stack.metrics()
    for outcome, n in (("token_expired", 1), ("csr_cn_mismatch", 1), ("csr_key_type", 1),
                       ("token_unknown", 1), ("enrolled", 1)):
        assert m.get(f'fitgate_enrol_requests_total{{outcome="{outcome}"}}') == n, (outcome, m)


def test_edge_with_a_used_token_stops(env):
    """A gateway whose token was burnt elsewhere does not retry forever: it
    stops with the core's reason, keeping its key for the next token."""
    e, s = env, env.stack
    token = e.mint(GW)
    code, _ = e.post({"token": token, "csr": e.csr(GW)})
    assert code == 200
    provision(e, token)
    with pytest.raises(RuntimeError):
        s.start_edge()
    deadline = time.time() + 20
    while s.procs["edge"].alive() and time.time() < deadline:
        time.sleep(0.1)
    assert not s.procs["edge"].alive()
    s.procs.pop("edge")
    log = open(os.path.join(s.dir, "edge.log"), "rb").read().decode(errors="replace")
    assert "token_used" in log, log[-2000:]
    assert stat.S_IMODE(os.stat(os.path.join(e.identity, "key.pem")).st_mode) == 0o600
    assert not os.path.exists(os.path.join(e.identity, "cert.pem"))
    # A new token: the same key is reused and enrolment completes.
    key_before = open(os.path.join(e.identity, "key.pem")).read()
    provision_again = e.mint(GW)
    with open(os.path.join(e.boot, "fitgate", "enrol-token"), "w") as f:
        f.write(provision_again)
    s.start_edge()
    assert open(os.path.join(e.identity, "key.pem")).read() == key_before
    assert os.path.exists(os.path.join(e.identity, "cert.pem"))


def test_untrusted_enrolment_server_never_gets_the_token(env):
    """The gateway trusts only the provisioned CA bundle: an HTTPS server with
    a certificate from another CA (here the gateway CA) fails the handshake,
    so the token is never sent; the edge retries and stops on SIGTERM."""
    e, s = env, env.stack
    rogue = e.gw_ca.server("127.0.0.1", stem="rogue")
    real, e.proxy = e.proxy, TlsProxy(rogue[0], rogue[1], s.http_port)
    try:
        provision(e, e.mint(GW))
        s.start_edge(wait=False)
        log = os.path.join(s.dir, "edge.log")
        deadline = time.time() + 20
        while time.time() < deadline and open(log, "rb").read().count(b"enrol_http") < 2:
            time.sleep(0.1)
        text = open(log, "rb").read().decode(errors="replace")
        assert text.count("enrol_http") >= 2, text[-2000:]  # retried with back-off
        assert e.proxy.requests == 0, "the token reached an untrusted server"
        assert not os.path.exists(os.path.join(e.identity, "cert.pem"))
        t0 = time.time()
        code = s.procs.pop("edge").stop()
        assert time.time() - t0 < 5 and code in (0, 1), code  # SIGTERM ends the back-off
        assert "enrol_interrupted" in open(log, "rb").read().decode(errors="replace")
    finally:
        e.proxy.close()
        e.proxy = real
