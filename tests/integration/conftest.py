import os
import shutil
import tempfile

import pytest

from stack import Stack

CHECK_EXIT = os.environ.get("FITGATE_CHECK_EXIT") == "1"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def workdir(request):
    d = tempfile.mkdtemp(prefix="fitgate-it-")
    yield d
    rep = getattr(request.node, "rep_call", None)
    failed = rep is None or rep.failed
    if failed or os.environ.get("FITGATE_KEEP_TMP") == "1":
        print(f"\nkept {d}")
        for f in sorted(os.listdir(d)):
            if f.endswith(".log"):
                with open(os.path.join(d, f), "rb") as fh:
                    tail = fh.read().decode(errors="replace").splitlines()[-30:]
                print(f"--- {f} ---\n" + "\n".join(tail))
    else:
        shutil.rmtree(d, ignore_errors=True)


def demo_devices(n=10):
    return ",".join(f"sim-{i:04d}" for i in range(1, n + 1))


@pytest.fixture
def stack(workdir):
    s = Stack(workdir, core_args=["--dev-demo-devices=" + demo_devices()])
    s.start_brokers()
    s.start_core()
    s.start_edge()
    yield s
    codes = s.stop()
    if CHECK_EXIT:
        # Under ASan a leak or a sanitizer report makes the exit code non-zero.
        assert codes.get("edge") == 0, f"fitgate-edge exit {codes.get('edge')}"
        assert codes.get("core") == 0, f"fitgate-core exit {codes.get('core')}"
