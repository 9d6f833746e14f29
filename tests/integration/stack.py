"""stack.py - start and stop the fitgate processes for integration tests and benchmarks.

A Stack lives in one temporary directory: two mosquitto brokers (the gateway's
local broker and the cloud broker) with generated configs, fitgate-core,
fitgate-edge and fitgate-sim, all on free loopback ports. Every process is
tracked by its PID and killed by PID, never by name.
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("FITGATE_BIN", os.path.join(ROOT, "build", "bin"))
MOSQUITTO = "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


def broker_conf(path, port, datadir):
    """Write a mosquitto config. Started as root, mosquitto drops to the user
    `mosquitto`, so hand it its persistence directory.

    A broker sized for the delivery contract: deep queues for persistent
    sessions (nothing dropped while a client restarts) and no in-flight cap
    below the clients' own Receive Maximum."""
    with open(path, "w") as f:
        f.write(f"""listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {datadir}/
autosave_interval 5
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 0
max_packet_size 4194304
message_size_limit 0
log_dest stderr
log_type error
log_type warning
""")
    if os.geteuid() == 0:
        import pwd
        try:
            pw = pwd.getpwnam("mosquitto")
            os.chown(datadir, pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass


SHIPPED_CLOUD_CONF = os.path.join(ROOT, "deploy", "mosquitto", "cloud.conf")
SHIPPED_CLOUD_ACL = os.path.join(ROOT, "deploy", "mosquitto", "fitgate-cloud.acl")


def tls_broker_conf(path, port, datadir, tls):
    """Write the shipped production cloud broker config (deploy/mosquitto/cloud.conf)
    with only its paths, listener address and log destination replaced, so a test
    exercises exactly the shipped TLS/ACL settings. tls: dict with cafile,
    certfile, keyfile and acl_file (defaults to a copy of the shipped ACL).
    Raises if the shipped file no longer has a line this relies on."""
    import shutil
    acl = os.path.join(datadir, "fitgate-cloud.acl")
    shutil.copyfile(tls.get("acl_file", SHIPPED_CLOUD_ACL), acl)
    os.chmod(acl, 0o644)
    subst = {
        "listener": f"listener {port} 127.0.0.1",
        "cafile": f"cafile {tls['cafile']}",
        "certfile": f"certfile {tls['certfile']}",
        "keyfile": f"keyfile {tls['keyfile']}",
        "acl_file": f"acl_file {acl}",
        "persistence_location": f"persistence_location {datadir}/",
        "log_dest": "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
                    "log_type information",
    }
    seen = set()
    out = []
    with open(tls.get("conf", SHIPPED_CLOUD_CONF)) as f:
        for line in f:
            key = line.split(None, 1)[0] if line.strip() and not line.startswith("#") else ""
            if key in subst:
                if key in seen:
                    raise ValueError(f"cloud.conf: {key} given twice")
                seen.add(key)
                out.append(subst[key] + "\n")
            else:
                out.append(line)
    missing = set(subst) - seen
    if missing:
        raise ValueError(f"cloud.conf lacks {sorted(missing)}")
    with open(path, "w") as f:
        f.writelines(out)
    if os.geteuid() == 0:
        # mosquitto 2.0 drops to the user `mosquitto` before it reads the ACL
        # file and the TLS files: it owns its key (still 0600) and ACL copy,
        # and may traverse the work directory.
        import pwd
        try:
            pw = pwd.getpwnam("mosquitto")
            os.chown(datadir, pw.pw_uid, pw.pw_gid)
            os.chown(acl, pw.pw_uid, pw.pw_gid)
            os.chown(tls["keyfile"], pw.pw_uid, pw.pw_gid)
            parent = os.path.dirname(os.path.abspath(datadir))
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
        except KeyError:
            pass


class Proc:
    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.argv = argv
        self.log = open(os.path.join(logdir, f"{name}.log"), "ab")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                  cwd=logdir)

    def alive(self):
        return self.p.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        return self.p.returncode

    def stop(self):
        return self.kill(signal.SIGTERM)


class Stack:
    def __init__(self, workdir, bus="embedded", kafka_brokers=None, kafka_extra=None,
                 gateway="gw-test", edge_args=None, core_args=None, wrapper=None,
                 cloud_tls=None, edge_cert=None, core_cert=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.bus = bus
        self.kafka_brokers = kafka_brokers
        self.kafka_extra = kafka_extra
        self.gateway = gateway
        self.edge_args = edge_args or []
        self.core_args = core_args or []
        self.wrapper = wrapper or []  # e.g. ["valgrind", ...]
        # Optional TLS on the cloud broker (see tls_broker_conf); edge_cert and
        # core_cert are (certfile, keyfile) the edge and the core present to it.
        self.cloud_tls = cloud_tls
        self.edge_cert = edge_cert
        self.core_cert = core_cert
        self.local_port = free_port()
        self.cloud_port = free_port()
        self.http_port = free_port()
        self.procs = {}

    # -- brokers --
    def start_broker(self, which):
        port = self.local_port if which == "local" else self.cloud_port
        d = os.path.join(self.dir, f"mosq-{which}")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "mosquitto.conf")
        if which == "cloud" and self.cloud_tls:
            tls_broker_conf(conf, port, d, self.cloud_tls)
        else:
            broker_conf(conf, port, d)
        self.procs[which] = Proc(f"mosquitto-{which}", [MOSQUITTO, "-c", conf], self.dir)
        wait_port(port)

    def start_brokers(self):
        self.start_broker("local")
        self.start_broker("cloud")

    # -- core --
    def core_argv(self):
        argv = [os.path.join(BIN, "fitgate-core"), "--role=all",
                f"--data-dir={self.dir}/core", f"--mqtt-port={self.cloud_port}",
                f"--http-port={self.http_port}", f"--miniapp-dir={ROOT}/cloud/miniapp/dist",
                f"--bus={self.bus}", "--dev=1", f"--ready-file={self.dir}/core.ready"]
        if self.kafka_brokers:
            argv.append(f"--kafka-brokers={self.kafka_brokers}")
        if self.kafka_extra:
            argv.append(f"--kafka-extra={self.kafka_extra}")
        if self.cloud_tls and self.core_cert:
            argv += [f"--mqtt-cafile={self.cloud_tls['cafile']}",
                     f"--mqtt-certfile={self.core_cert[0]}", f"--mqtt-keyfile={self.core_cert[1]}"]
        return argv + self.core_args

    def start_core(self):
        ready = f"{self.dir}/core.ready"
        if os.path.exists(ready):
            os.unlink(ready)
        self.procs["core"] = Proc("core", self.wrapper + self.core_argv(), self.dir)
        deadline = time.time() + 60
        while not os.path.exists(ready):
            if not self.procs["core"].alive():
                raise RuntimeError("fitgate-core exited at start; see core.log")
            if time.time() > deadline:
                raise TimeoutError("fitgate-core not ready")
            time.sleep(0.05)

    # -- edge --
    def start_edge(self, wait=True):
        """Start fitgate-edge; with wait, return once it is subscribed on the local
        broker (from then on the broker queues device messages for it)."""
        log = os.path.join(self.dir, "edge.log")
        before = open(log, "rb").read().count(b"local_subscribed") if os.path.exists(log) else 0
        argv = [os.path.join(BIN, "fitgate-edge"), f"--gateway-id={self.gateway}",
                f"--spool-path={self.dir}/spool.db", f"--local-port={self.local_port}",
                f"--cloud-port={self.cloud_port}", "--ack-timeout-ms=3000"]
        if self.cloud_tls and self.edge_cert:
            argv += [f"--cloud-cafile={self.cloud_tls['cafile']}",
                     f"--cloud-certfile={self.edge_cert[0]}",
                     f"--cloud-keyfile={self.edge_cert[1]}"]
        argv += self.edge_args
        self.procs["edge"] = Proc("edge", self.wrapper + argv, self.dir)
        deadline = time.time() + 30
        while wait and time.time() < deadline:
            if open(log, "rb").read().count(b"local_subscribed") > before:
                return
            if not self.procs["edge"].alive():
                raise RuntimeError("fitgate-edge exited at start; see edge.log")
            time.sleep(0.02)
        if wait:
            raise TimeoutError("fitgate-edge did not subscribe on the local broker")

    # -- simulator --
    def sim(self, count, devices=1, rate=0, qos=2, prefix="sim-", extra=None, wait=True):
        argv = [os.path.join(BIN, "fitgate-sim"), f"--port={self.local_port}",
                f"--devices={devices}", f"--rate={rate}", f"--count={count}", f"--qos={qos}",
                f"--prefix={prefix}", "--battery-every=0", "--stats"] + (extra or [])
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not wait:
            return p
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"fitgate-sim failed: {err}")
        return json.loads(out.strip().splitlines()[-1])

    # -- operator --
    def claim_code(self, gw=None, ttl_days=None):
        """An owner claim code for gw (default: this stack's gateway), minted
        as an operator does: `fitgate-core gateway claim-code`."""
        argv = [os.path.join(BIN, "fitgate-core"), "gateway", "claim-code", gw or self.gateway,
                f"--data-dir={self.dir}/core", "--json"]
        if ttl_days is not None:
            argv.append(f"--ttl-days={ttl_days}")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["code"]

    # -- observations --
    def db(self):
        return sqlite3.connect(f"file:{self.dir}/core/core.db?mode=ro", uri=True, timeout=10)

    def stored(self):
        """(total readings stored, distinct (gw, epoch, seq)) in the worker's table."""
        try:
            with self.db() as c:
                total = c.execute("SELECT count(*) FROM readings").fetchone()[0]
                return total
        except sqlite3.OperationalError:
            return 0

    def wait_stored(self, n, timeout=120):
        deadline = time.time() + timeout
        got = 0
        while time.time() < deadline:
            got = self.stored()
            if got >= n:
                return got
            time.sleep(0.2)
        return got

    def spool_count(self):
        try:
            c = sqlite3.connect(f"file:{self.dir}/spool.db?mode=ro", uri=True, timeout=10)
            n = c.execute("SELECT count(*) FROM readings").fetchone()[0]
            c.close()
            return n
        except sqlite3.OperationalError:
            return -1

    def metrics(self):
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def stop(self):
        """SIGTERM everything; returns {name: exit code} of edge and core."""
        codes = {}
        for name in ("edge", "core", "local", "cloud"):
            p = self.procs.get(name)
            if p:
                codes[name] = p.stop()
        self.procs.clear()
        self.exit_codes = codes
        return codes

    def logs(self, lines=40):
        out = []
        for f in sorted(os.listdir(self.dir)):
            if f.endswith(".log"):
                with open(os.path.join(self.dir, f), "rb") as fh:
                    tail = fh.read().decode(errors="replace").splitlines()[-lines:]
                out.append(f"--- {f} ---\n" + "\n".join(tail))
        return "\n".join(out)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
