"""The product's journeys across every module at once (brief: J1, J2, J4, J5,
J6), on one stack: brokers, fitgate-core with all roles, fitgate-edge,
fitgate-sim, and local stand-ins of the Telegram Bot API and an SMTP server.

What no single module's test shows: that the pieces meet. A sign-in writes
UserRegistered through identity's outbox, the relay puts it on the bus, the
notifier picks it up and the welcome message reaches the user's Telegram chat
in their language; enabling TOTP sends a security notice; a strap paired from
the API sends readings that become a workout after the idle time, whose
WorkoutCompleted and the first-workout achievement arrive as messages too; and
every message arrives once."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fakes.saas import Fakes, Smtp  # noqa: E402
from stack import Stack, free_port  # noqa: E402
from test_identity import Api, enable_totp  # noqa: E402
from tginit import DEV_BOT_TOKEN, init_data  # noqa: E402

IDLE_S = 3
CHECK_EXIT = os.environ.get("FITGATE_CHECK_EXIT") == "1"


@pytest.fixture
def world(workdir):
    fakes = Fakes(DEV_BOT_TOKEN).start()
    smtp = Smtp(free_port()).start()
    s = Stack(workdir, edge_args=["--commands=1"],
              core_args=[f"--telegram-api-base={fakes.base}", f"--smtp-url={smtp.url}",
                                  "--smtp-from=noreply@fitgate.test",
                                  f"--workout-idle-s={IDLE_S}"])
    try:
        s.start_brokers()
        s.start_core()
        s.start_edge()
        yield s, fakes
    finally:
        codes = s.stop()
        fakes.stop()
        smtp.stop()
    if CHECK_EXIT:
        assert codes.get("core") == 0 and codes.get("edge") == 0, codes


def messages_to(fakes, chat):
    with fakes.lock:
        return [text for c, text in fakes.telegram if c == chat]


def wait_message(fakes, chat, needle, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        hits = [t for t in messages_to(fakes, chat) if needle in t]
        if hits:
            return hits
        time.sleep(0.1)
    raise AssertionError(f"no message with {needle!r} to {chat}: {messages_to(fakes, chat)}")


def test_register_secure_pair_train_notify(world):
    s, fakes = world
    api = Api(s.http_port)
    user = {"id": 880000001, "first_name": "Анна", "username": "anna", "language_code": "ru"}

    # J1: sign in from the mini app -> registered -> welcome in Russian.
    st, b, _ = api.call("POST", "/api/v1/session", {"init_data": init_data(user, DEV_BOT_TOKEN)})
    assert st == 200 and b["token"], b
    token, uid = b["token"], b["user"]["id"]
    wait_message(fakes, user["id"], "Добро пожаловать в fitgate, Анна")

    # J6: TOTP on -> TwoFactorAuthEnabled -> a security notice.
    enable_totp(api, token)
    wait_message(fakes, user["id"], "Двухфакторная аутентификация включена")

    # J2: pair a strap seen by the gateway, once she has added her home
    # gateway with the code from its box.
    dev = "strap-j0001"
    st, body, _ = api.call("POST", f"/api/v1/gateways/{s.gateway}/claim",
                           {"code": s.claim_code()}, token=token)
    assert st == 200 and body["role"] == "owner", body
    st, body, _ = api.call("POST", "/api/v1/devices/bind", {"gateway": s.gateway, "device": dev},
                           token=token)
    assert st == 200, body

    # J4: readings flow to this user (and only because she paired the strap).
    s.sim(count=30, devices=1, rate=10, qos=2, prefix="strap-j")
    deadline = time.time() + 30
    mine = []
    while time.time() < deadline and len(mine) < 30:
        st, mine, _ = api.call("GET", "/api/v1/readings?since=0&limit=1000", token=token)
        time.sleep(0.2)
    assert len(mine) == 30 and all(r["dev"] == dev for r in mine), mine[:3]

    # J4/J5: after the idle time the workout completes; its summary and the
    # first-workout achievement arrive in the messenger.
    wait_message(fakes, user["id"], "Тренировка завершена", timeout=IDLE_S + 30)
    wait_message(fakes, user["id"], "Новое достижение")
    st, page, _ = api.call("GET", "/api/v1/workouts", token=token)
    assert st == 200, page
    items = page["items"] if isinstance(page, dict) else page
    assert len(items) == 1, page

    # Each event sent exactly one message, whatever the bus redelivered.
    time.sleep(1.5)
    texts = messages_to(fakes, user["id"])
    assert sum("Добро пожаловать" in t for t in texts) == 1, texts
    assert sum("Тренировка завершена" in t for t in texts) == 1, texts
    assert not fakes.rejected, fakes.rejected
    assert uid > 0
