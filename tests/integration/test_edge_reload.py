"""SIGHUP reloads fitgate-edge's configuration (issue 6): a valid new file
takes effect (here: the log level) in the same process id, readings sent
across the reload all arrive exactly once, and a file that does not load is
refused while the edge keeps running on the old one."""
import os
import signal
import time

import paho.mqtt.client as mqtt

from stack import Stack

CHECK_EXIT = os.environ.get("FITGATE_CHECK_EXIT") == "1"


def publish_bad(port, n):
    c = mqtt.Client(client_id=f"reload-bad-{time.time_ns()}", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for i in range(n):
        c.publish(f"fit/v1/dev/bad-{i}/gatt/2a37", b"\xff", qos=1).wait_for_publish(timeout=10)
    c.loop_stop()
    c.disconnect()


def log_count(stack, needle):
    with open(os.path.join(stack.dir, "edge.log"), "rb") as f:
        return f.read().count(needle.encode())


def wait_for(pred, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


def test_sighup_reload(workdir):
    conf = os.path.join(workdir, "edge.conf")
    with open(conf, "w") as f:
        f.write("log_level = info\n")
    s = Stack(workdir, edge_args=[f"--config={conf}"])
    try:
        s.start_brokers()
        s.start_core()
        s.start_edge()
        pid = s.procs["edge"].p.pid
        publish_bad(s.local_port, 3)
        s.sim(count=100, devices=2, rate=0, qos=2, prefix="rel-a")
        assert s.wait_stored(100) == 100
        assert log_count(s, "device_rejected") == 0  # info level: not logged

        # A valid new file: reload in place, readings in flight survive.
        with open(conf, "w") as f:
            f.write("log_level = debug\n")
        sim = s.sim(count=300, devices=2, rate=50, qos=2, prefix="rel-b", wait=False)
        time.sleep(1.0)
        starts = log_count(s, '"started"')
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: log_count(s, '"started"') > starts, "the edge started again")
        assert s.procs["edge"].alive() and s.procs["edge"].p.pid == pid
        assert log_count(s, "config_reload") >= 1
        sim.wait(timeout=60)
        assert s.wait_stored(400) == 400  # 100 + 300: none lost...
        time.sleep(1.0)
        assert s.stored() == 400  # ...and none twice (QoS 2 ids survive the re-exec)
        publish_bad(s.local_port, 3)
        wait_for(lambda: log_count(s, "device_rejected") >= 3, "debug logging after the reload")

        # A file that does not load: refused, the edge keeps going as it was.
        with open(conf, "w") as f:
            f.write("log_level = debug\nno_such_setting = 1\n")
        starts = log_count(s, '"started"')
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: log_count(s, "config_reload_refused") == 1, "the refusal")
        time.sleep(0.5)
        assert log_count(s, '"started"') == starts
        s.sim(count=50, devices=2, rate=0, qos=2, prefix="rel-c")
        assert s.wait_stored(450) == 450
    finally:
        codes = s.stop()
    if CHECK_EXIT:
        assert codes.get("edge") == 0, codes
