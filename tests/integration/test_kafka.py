"""The same end-to-end contract with the Kafka bus, against a real Apache Kafka
broker (started by scripts/test.sh: FITGATE_KAFKA_BROKERS). The ingest acks a
gateway only after every delivery report says persisted."""
import os
import time
import uuid

import pytest

from conftest import CHECK_EXIT, demo_devices
from stack import Stack

BROKERS = os.environ.get("FITGATE_KAFKA_BROKERS")
REQUIRED = os.environ.get("FITGATE_REQUIRE_KAFKA") == "1"


def stored_for(stack, gw):
    with stack.db() as c:
        return c.execute("SELECT count(*) FROM readings WHERE gw=?", (gw,)).fetchone()[0]


@pytest.fixture
def kstack(workdir):
    if not BROKERS:
        if REQUIRED:
            pytest.fail("FITGATE_REQUIRE_KAFKA=1 but FITGATE_KAFKA_BROKERS is not set")
        pytest.skip("no Kafka broker (run through make test)")
    gw = "gw-kafka-" + uuid.uuid4().hex[:8]
    s = Stack(workdir, bus="kafka", kafka_brokers=BROKERS, gateway=gw,
              core_args=["--dev-demo-devices=" + demo_devices()])
    s.start_brokers()
    s.start_core()
    s.start_edge()
    yield s
    codes = s.stop()
    if CHECK_EXIT:
        assert codes.get("edge") == 0 and codes.get("core") == 0, codes


def test_kafka_end_to_end_exact_count(kstack):
    stats = kstack.sim(count=20000, devices=10, rate=0, qos=2)
    assert stats["published"] == 20000
    deadline = time.time() + 180
    while stored_for(kstack, kstack.gateway) < 20000 and time.time() < deadline:
        time.sleep(0.3)
    time.sleep(2)
    assert stored_for(kstack, kstack.gateway) == 20000
    deadline = time.time() + 30
    while kstack.spool_count() != 0 and time.time() < deadline:
        time.sleep(0.2)
    assert kstack.spool_count() == 0


def test_kafka_kill9_edge_and_core_restart(kstack):
    total = 15000
    sim = kstack.sim(count=total, devices=10, rate=300, qos=2, wait=False)
    time.sleep(1.5)
    kstack.procs["edge"].kill()
    kstack.start_edge()
    time.sleep(1.5)
    kstack.procs["core"].kill()      # SIGKILL: produced-but-unacked batches are resent
    time.sleep(1)
    kstack.start_core()
    out, err = sim.communicate(timeout=300)
    assert sim.returncode == 0, err
    deadline = time.time() + 180
    while stored_for(kstack, kstack.gateway) < total and time.time() < deadline:
        time.sleep(0.3)
    time.sleep(2)
    assert stored_for(kstack, kstack.gateway) == total
