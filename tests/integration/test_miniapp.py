"""The mini app in Debian's Chromium (playwright-core) against a running
fitgate-core with simulated straps: opened as Telegram would open it, it signs
in and shows the live heart rate; Telegram's bridge, theme and BackButton;
Russian from the user's language_code and a switch to English; every screen at
360 px wide without horizontal overflow or unlabelled controls; the live
stream survives a dropped connection without losing readings.
Screenshots of every screen go to <build>/miniapp-screens/ for review."""
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

import tginit
from bluez_mock import BluezMock
from fakes.saas import Fakes
from fakes.yookassa import FakeYooKassa
from stack import BIN, ROOT, Stack

SHOTS = os.path.join(os.path.dirname(BIN), "miniapp-screens")
SCRIPT = os.path.join(ROOT, "tests", "browser", "miniapp.mjs")


def run_part(part, base, *args):
    out = subprocess.run(["node", SCRIPT, part, base, SHOTS, *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def base_url(stack):
    return f"http://127.0.0.1:{stack.http_port}"


@contextlib.contextmanager
def straps(stack, devices=1, rate=2):
    """fitgate-sim heart-rate straps (the dev demo user's) beating while in the block."""
    sim = stack.sim(count=0, devices=devices, rate=rate, qos=2, wait=False)
    try:
        yield sim
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=30)


def test_miniapp_units():
    """The mini app's own logic under node's test runner (cloud/miniapp/test):
    the live stream client's resume and gap filling, strings and plurals in
    every language, error sentences."""
    out = subprocess.run(["node", "--test", "test/"], cwd=os.path.join(ROOT, "cloud", "miniapp"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout and "# pass 0" not in out.stdout


def test_miniapp_shows_live_heart_rate(stack, workdir):
    with straps(stack, devices=3):
        os.makedirs(SHOTS, exist_ok=True)
        shot = os.path.join(SHOTS, "live.png")
        out = subprocess.run(["node", os.path.join(ROOT, "tests", "browser", "live_hr.mjs"),
                              base_url(stack), shot],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        page = json.loads(out.stdout.strip().splitlines()[-1])
        assert page["errors"] == []
        assert 30 <= page["first_hr"] <= 230
        assert page["changed_after_ms"] < 15000     # the number moves: it is live
        assert "Demo" in page["user"]
        assert page["device"].startswith("sim-")
        assert os.path.getsize(shot) > 1000


DEMO_TG_ID = 100000001   # fitgate-core's dev demo user, who owns the --dev-demo-devices


def test_miniapp_in_telegram_uses_bridge_theme_and_buttons(stack):
    """A TelegramWebviewProxy stands in for the Telegram client: the app says
    ready through it, takes the theme from the launch parameters as
    --tg-theme-* variables, puts "Finish workout" on Telegram's MainButton
    (not an HTML one) and finishes the workout when Telegram reports the
    press, shows Telegram's BackButton on an inner screen and goes back on
    its press."""
    url = tginit.launch_url(base_url(stack), {"id": DEMO_TG_ID, "first_name": "Demo", "username": "demo"})
    qr = "https://example.org/promo"        # the wrong sticker: refused at once, said plainly
    with straps(stack):
        page = run_part("telegram", base_url(stack), url, qr)
    assert page["errors"] == []
    assert "web_app_ready" in page["events"]
    assert page["bgVar"] == tginit.THEME["bg_color"]
    assert page["bodyBg"] == "rgb(28, 28, 29)"          # the header is painted from the theme
    assert page["tgAttr"] == "1"
    assert page["mainText"] == "Finish workout" and page["htmlMain"] is False
    assert page["confirmClose"][-1] is True      # closing mid-workout asks first
    assert page["afterMain"].startswith("#/workouts/")   # the finished workout opened
    assert page["qrSent"] == qr                          # scanned by Telegram, sent as is
    assert page["qrAnswer"].startswith("This QR code is not a fitgate machine sticker")
    assert page["backShown"][-1] is True and page["htmlBack"] is False
    assert page["afterBack"] == "#/workouts"
    assert "web_app_trigger_haptic_feedback" in page["events"]


def test_miniapp_russian_from_init_data_then_english(stack):
    url = tginit.launch_url(base_url(stack), {"id": 880002, "first_name": "Иван",
                                              "language_code": "ru"}, platform="android")
    page = run_part("lang", base_url(stack), url)
    assert page["errors"] == []
    assert page["ru"]["lang"] == "ru"
    assert [t.lstrip("♥≡↗⌁⋯") for t in page["ru"]["tabs"]] == \
        ["Сейчас", "Тренировки", "Прогресс", "Устройства", "Ещё"]
    assert page["en"]["lang"] == "en" and page["en"]["heading"] == "More"
    assert page["en"]["tabs"][1].endswith("Workouts")
    assert page["kept"] == "en"        # the user's choice wins over init data after a reload


def test_miniapp_every_screen_fits_360px(stack):
    with straps(stack):
        page = run_part("layout", base_url(stack))
    assert page["errors"] == []
    assert len(page["screens"]) == 10
    for name, s in page["screens"].items():
        assert s["overflow"] <= 0, (name, s["wide"])
        assert s["unlabelled"] == [], (name, s["unlabelled"])
        assert s["text"], name
        assert os.path.getsize(os.path.join(SHOTS, f"screen-{name.replace('/', '-')}.png")) > 1000


def test_miniapp_live_stream_reconnects_without_losing_readings(stack):
    """Offline for 4 s with the stream dropped: the status says so, the app
    reconnects by itself once online, and the readings sent while it was away
    are filled in (no gap wider than the sim's period, none shown twice)."""
    with straps(stack):
        page = run_part("reconnect", base_url(stack))
    assert page["errors"] == []
    assert page["statusOffline"] == "reconnecting"
    assert page["stats"]["connects"] >= 2
    assert page["reconnectMs"] < 15000
    assert page["windowReadings"] >= 8          # ~2/s over the offline window and around it
    assert page["maxGapMs"] <= 1500, page
    assert page["dupes"] == 0


# ---- the whole journey, with a strap on (mocked) Bluetooth at a gateway ----

GW = "gw-app"
STRAP = "C0:FF:EE:00:0A:01"
MILL = "C0:FF:EE:00:0A:02"


@pytest.fixture
def ble_stack(workdir, monkeypatch):
    mock = BluezMock(workdir).start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", mock.address)
    s = Stack(workdir, gateway=GW,
              edge_args=["--bluez=1", "--snapshot-interval-s=1", "--ble-backoff-base-ms=200",
                         "--ble-backoff-max-ms=2000"],
              core_args=["--devices-cmd-timeout-ms=5000"])
    try:
        s.start_brokers()
        s.start_core()
        s.start_edge()
        yield s, mock
    finally:
        s.stop()
        mock.stop()


def test_miniapp_journey_register_2fa_pair_live_finish(ble_stack):
    """A new Telegram user registers by opening the app, turns on TOTP (the
    browser computes the code from the manual key), pairs the strap the
    gateway sees nearby, watches its heart rate live, finishes the workout and
    gets its summary and first achievements, starts and ends a session on a
    gym treadmill by the code of its QR sticker; after signing out everywhere
    the next sign-in asks for the second factor (a backup code)."""
    s, ble = ble_stack
    ble.add(STRAP, "Polar H10 A1", "hr", rssi=-48)
    ble.add(MILL, "Treadmill 7", "treadmill", rssi=-60)
    base = base_url(s)
    user = {"id": 880100 + int(time.time()) % 1000, "first_name": "Alice", "username": "alice"}
    stop = threading.Event()

    def feed():      # the strap beats once a second per notification batch
        i = 0
        while not stop.is_set():
            try:
                ble.notify(STRAP, "2a37", [[0x06, 110 + (i % 25)]])
            except Exception:   # not subscribed yet (before pairing)
                pass
            i += 1
            stop.wait(0.5)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        page = run_part("journey", base, tginit.launch_url(base, user), GW, STRAP,
                        tginit.launch_url(base, user), MILL, s.claim_code())
    finally:
        stop.set()
        t.join(timeout=10)
    assert page["errors"] == []
    assert page["user"].startswith("Alice")
    assert page["qr"] is True
    assert page["backupCodes"] >= 8
    assert page["mfaState"].startswith("Authenticator app: on")
    assert "Add your home gateway" in page["beforeClaim"], page["beforeClaim"]
    assert page["badClaim"].startswith("That code is not right"), page["badClaim"]
    assert page["gatewayRole"] == "owner" and page["gatewayPicked"] == GW
    assert "Polar H10 A1" in page["nearbyText"] and "heart-rate strap" in page["nearbyText"]
    assert page["paired"] == "yours"
    assert 110 <= page["liveHr"] <= 135
    assert page["zone"]                          # zone label shown with the number
    assert page["summary"].get("Average heart rate", "").endswith("bpm"), page["summary"]
    assert page["summary"].get("Duration") not in (None, "–"), page["summary"]
    assert "chart-hr" in page["summaryCharts"]
    assert {"first_workout", "device_paired", "two_factor"} <= set(page["earned"]), page["earned"]
    assert page["progressWeek"].get("Workouts") == "1", page["progressWeek"]
    assert page["records"] >= 1
    assert MILL in page["gymActive"] and page["gymEnded"] is True
    assert page["afterSignOut"] == "signed-out"
    assert "totp" in page["challengeMethods"] and "backup" in page["challengeMethods"]
    assert "no verified e-mail" in page["recoveryNoEmail"], page["recoveryNoEmail"]
    assert page["reSignedIn"].startswith("Alice")


# ---- the shop, against a local ЮKassa that checks requests as documented ----

SHOP_CATALOGUE = {"products": [
    {"slug": "strap", "title": "HR strap", "description": "Chest strap, BLE + ANT+", "variants": [
        {"sku": "STRAP", "title": "HR strap", "price_minor": 399000, "currency": "RUB", "stock": 10}]},
    {"slug": "bottle", "title": "Bottle", "variants": [
        {"sku": "BOTTLE", "title": "Bottle 750", "price_minor": 129900, "currency": "RUB",
         "stock": 10}]},
]}


@pytest.fixture
def shop_stack(workdir):
    yk = FakeYooKassa()
    legacy_db = os.path.join(workdir, "legacy.db")
    subprocess.run([os.path.join(ROOT, "cloud/legacy/devdb/make-devdb.sh"), legacy_db],
                   check=True, capture_output=True)
    cat = os.path.join(workdir, "catalogue.json")
    with open(cat, "w") as f:
        json.dump(SHOP_CATALOGUE, f)
    secret = os.path.join(workdir, "yk.secret")
    with open(secret, "w") as f:
        f.write(yk.secret + "\n")
    os.chmod(secret, 0o600)
    conf = os.path.join(workdir, "shop.conf")
    with open(conf, "w") as f:
        f.write(f"catalogue_file = {cat}\nyookassa_url = {yk.url}\n"
                f"yookassa_shop_id = {yk.shop_id}\nyookassa_secret_file = {secret}\n"
                "yookassa_return_url = https://t.me/fitgate_bot/app\n"
                "yookassa_notify_ips = 127.0.0.2/32\ndev_legacy_link = 1\n")
    s = Stack(workdir, core_args=["--role=api", f"--shop-config={conf}", f"--legacy-db={legacy_db}"])
    try:
        s.start_core()
        yield s, yk
    finally:
        s.stop()
        yk.close()


def test_miniapp_shop_cart_pay_result_and_legacy_orders(shop_stack):
    """Catalogue -> cart (quantities) -> Pay: the order is placed with an
    Idempotency-Key and the browser goes to ЮKassa's page (stubbed in the
    browser, no outside host); the customer pays (the fake notifies the core,
    which re-fetches and captures); back on the return URL the app restores
    the session from the tab's refresh token and shows the order paid. Then
    the old shop account is linked and its orders are listed read-only."""
    s, yk = shop_stack
    base = base_url(s)
    url = tginit.launch_url(base, {"id": 880200, "first_name": "Anna", "username": "anna"})
    p = subprocess.Popen(["node", SCRIPT, "shop", base, SHOTS, url, "anna@example.ru", "anna-secret-1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        first = json.loads(p.stdout.readline() or "{}")
        assert first.get("phase") == "paying", p.stderr.read() if p.poll() is not None else first
        assert len(yk.payments) == 1                 # one order, one payment
        pay = next(iter(yk.payments.values()))
        oid = int(pay["metadata"]["order_id"])
        assert first["paymentPage"] == pay["confirmation"]["confirmation_url"]
        yk.set_status(pay["id"], "waiting_for_capture")
        assert yk.notify(s.http_port, "payment.waiting_for_capture", pay["id"]) == 200
        out, err = p.communicate(f"fg-{oid}\n", timeout=90)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    page = json.loads(out.strip().splitlines()[-1])
    assert page["errors"] == []
    assert page["products"] == ["STRAP", "BOTTLE"]
    assert sorted(page["cart"]) == [["BOTTLE", "2"], ["STRAP", "1"]]
    assert "6" in page["total"] and "588" in page["total"]      # 3 990 + 2 x 1 299 RUB
    assert page["payButton"].startswith("Pay")
    assert page["paymentPage"].startswith("https://yoomoney.ru/checkout/")
    assert page["result"].startswith("Thank you!") and page["result"].endswith("is paid.")
    assert yk.payments[pay["id"]]["status"] == "succeeded"
    assert page["orders"] == [f"fg-{oid}"]
    assert len(page["legacyOrders"]) == 4 and all(r.startswith("legacy-") for r in page["legacyOrders"])
    assert "old shop" in page["legacyNotice"] and page["legacyCancel"] == 0
    assert yk.violations == []


# ---- WhatsApp users: a plain browser, no Telegram ----

WA_SECRET = "wa-app-secret-for-tests"


@pytest.fixture
def wa_stack(workdir):
    fakes = Fakes(tginit.DEV_BOT_TOKEN).start()
    files = {}
    for name, value in (("wa_token", fakes.wa_token), ("wa_secret", WA_SECRET)):
        p = os.path.join(workdir, name)
        with open(p, "w") as f:
            f.write(value + "\n")
        os.chmod(p, 0o600)
        files[name] = p
    s = Stack(workdir)
    # Sign-in links point back at this core (web_base_url).
    s.core_args = [f"--whatsapp-api-base={fakes.base}",
                   f"--whatsapp-phone-number-id={fakes.wa_phone_id}",
                   f"--whatsapp-token-file={files['wa_token']}",
                   "--whatsapp-auth-template=fitgate_code",
                   f"--wa-app-secret-file={files['wa_secret']}", "--wa-verify-token=verify-me",
                   f"--web-base-url=http://127.0.0.1:{s.http_port}", "--role=api"]
    try:
        s.start_core()
        yield s, fakes
    finally:
        s.stop()
        fakes.stop()


def test_miniapp_whatsapp_link_and_code_sign_in(wa_stack):
    """A WhatsApp user writes "login" to the business number: the webhook
    (signed as Meta signs it) answers with a sign-in link, which opens the app
    in a plain browser signed in. In a fresh tab the user asks for a code by
    WhatsApp for their number and signs in with it: the same account."""
    s, fakes = wa_stack
    phone = "4917600000077"
    msg = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "contacts": [{"profile": {"name": "Wanda"}, "wa_id": phone, "user_id": "US.77"}],
            "messages": [{"from": phone, "id": "wamid.M1", "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": "login"}}]}}]}]}
    raw = json.dumps(msg).encode()
    sig = "sha256=" + hmac.new(WA_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    req = urllib.request.Request(base_url(s) + "/webhooks/whatsapp", data=raw, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "X-Hub-Signature-256": sig})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    link = re.search(r"http://127\.0\.0\.1:\d+/#/code/[\w-]+", fakes.whatsapp[-1]["text"]["body"]).group(0)
    n = len(fakes.whatsapp)
    p = subprocess.Popen(["node", SCRIPT, "whatsapp", base_url(s), SHOTS, link, "+" + phone],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        first = json.loads(p.stdout.readline() or "{}")
        assert first.get("phase") == "code-sent", p.stderr.read() if p.poll() is not None else first
        assert len(fakes.whatsapp) == n + 1
        tpl = fakes.whatsapp[-1]
        assert tpl["to"] == phone and tpl["type"] == "template"
        code = tpl["template"]["components"][0]["parameters"][0]["text"]
        out, err = p.communicate(code + "\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    page = json.loads(out.strip().splitlines()[-1])
    assert page["errors"] == []
    assert page["linkUser"].startswith("Wanda")
    assert "/code/" not in page["hashAfter"]          # the one-time link leaves the address bar
    assert page["inTelegram"] == ""                  # a plain browser: HTML buttons
    assert page["htmlBack"] is True and page["afterBack"] == "#/workouts"
    assert "WhatsApp" in page["signinText"]
    assert page["codeUser"].startswith("Wanda")      # the same account by phone
    assert fakes.rejected == []
