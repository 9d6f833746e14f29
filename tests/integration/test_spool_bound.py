"""Bounded disk: when the spool is full the edge drops the oldest readings,
records the gap, and tells the cloud (batch `floor`), which counts the gap
instead of waiting for readings that will never come. Nothing else is lost."""
import os
import time

from conftest import CHECK_EXIT
from stack import Stack


def test_spool_full_drops_oldest_and_cloud_records_gap(workdir):
    s = Stack(workdir, edge_args=["--spool-max-readings=2000"])
    s.start_brokers()
    s.start_core()
    s.start_edge()
    try:
        s.procs["cloud"].stop()                 # the cloud broker is unreachable ...
        total = 5000
        stats = s.sim(count=total, devices=5, rate=0, qos=2)
        assert stats["published"] == total
        time.sleep(1)
        held = s.spool_count()
        assert 0 < held <= 2000                 # ... and the spool stays bounded
        s.start_broker("cloud")                 # ... and back
        deadline = time.time() + 60
        while s.spool_count() != 0 and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        stored = s.stored()
        m = s.metrics()
        gap = m["fitgate_ingest_gap_readings_total"]
        # Every reading is accounted for: stored, or in the declared gap.
        assert stored + gap == total, (stored, gap)
        assert gap >= total - 2000
        assert stored == held
        with s.db() as c:
            seqs = [r[0] for r in c.execute("SELECT seq FROM readings ORDER BY seq")]
        assert seqs == list(range(total - stored + 1, total + 1))   # the newest survive
    finally:
        codes = s.stop()
    if CHECK_EXIT:
        assert codes.get("edge") == 0 and codes.get("core") == 0, codes
