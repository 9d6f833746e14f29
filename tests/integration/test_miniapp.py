"""The mini app in Debian's Chromium (playwright-core): opened as Telegram would
open it, it signs in and shows the demo user's live heart rate."""
import json
import os
import signal
import subprocess

from stack import ROOT


def test_miniapp_shows_live_heart_rate(stack, workdir):
    sim = stack.sim(count=0, devices=3, rate=2, qos=2, wait=False)
    try:
        shot = os.path.join(workdir, "miniapp.png")
        out = subprocess.run(["node", os.path.join(ROOT, "tests", "browser", "live_hr.mjs"),
                              f"http://127.0.0.1:{stack.http_port}", shot],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        page = json.loads(out.stdout.strip().splitlines()[-1])
        assert page["errors"] == []
        assert 30 <= page["first_hr"] <= 230
        assert page["changed_after_ms"] < 15000     # the number moves: it is live
        assert "Demo" in page["user"]
        assert page["device"].startswith("sim-")
        assert os.path.getsize(shot) > 1000
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=30)
