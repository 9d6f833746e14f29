"""test_shop.py - the shop end to end: fitgate-core (all roles) with local
ЮKassa and Telegram Bot API endpoints that check every request as the
providers document it (fakes/yookassa.py, fakes/telegram_payments.py).

Covers: a paid checkout (two-stage: authorised, re-fetched, captured; the
status message reaches Telegram through the notifier), a declined card, a provider timeout followed by the late payment, duplicate and
out-of-order notifications, a notification from an unknown address, an
order timing out while the customer pays (the late authorisation is
released), idempotency keys over HTTP (replay, 422, 409), no oversell under
concurrent checkouts, Telegram Payments (pre-checkout answer, paid only on
successful_payment, secret token, update dedupe), legacy orders read-only
after linking (identity's POST /api/v1/me/legacy with a TOTP step-up), the
admin route refusing user tokens, the operator CLI, and kill -9 of the core in
the middle of a checkout.
"""
import hashlib
import http.cookiejar
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from fakes.telegram_payments import FakeTelegram
from fakes.yookassa import FakeYooKassa
from stack import BIN, ROOT, Stack
from tginit import DEV_BOT_TOKEN, init_data

PAYMENT_TIMEOUT_S = 6  # long enough for a loaded 2-core machine under ASan
STEPUP_MINOR = 1000000  # payments above 10,000.00 RUB need a recent second factor
CATALOGUE = {"products": [
    {"slug": "strap", "title": "HR strap", "variants": [
        {"sku": "STRAP", "title": "HR strap", "price_minor": 399000, "currency": "RUB",
         "stock": 100}]},
    {"slug": "bottle", "title": "Bottle", "variants": [
        {"sku": "BOTTLE", "title": "Bottle 750", "price_minor": 129900, "currency": "RUB",
         "stock": 100}]},
    {"slug": "last", "title": "Last ones", "variants": [
        {"sku": "LAST", "title": "Limited edition", "price_minor": 50000, "currency": "RUB",
         "stock": 3}]},
]}


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fitgate-shop-")
        self.yk = FakeYooKassa()
        self.tg = FakeTelegram(DEV_BOT_TOKEN, "381764678:TEST:provider")
        self.legacy_db = os.path.join(self.dir, "legacy.db")
        subprocess.run([os.path.join(ROOT, "cloud/legacy/devdb/make-devdb.sh"), self.legacy_db],
                       check=True, capture_output=True)
        cat = os.path.join(self.dir, "catalogue.json")
        with open(cat, "w") as f:
            json.dump(CATALOGUE, f)
        secrets = {"yk.secret": self.yk.secret, "tg.provider": self.tg.provider_token,
                   "tg.webhook": "webhook-secret-0123456789"}
        for name, value in secrets.items():
            p = os.path.join(self.dir, name)
            with open(p, "w") as f:
                f.write(value + "\n")
            os.chmod(p, 0o600)
        self.webhook_secret = secrets["tg.webhook"]
        self.conf = os.path.join(self.dir, "shop.conf")
        with open(self.conf, "w") as f:
            f.write(f"""catalogue_file = {cat}
yookassa_url = {self.yk.url}
yookassa_shop_id = {self.yk.shop_id}
yookassa_secret_file = {self.dir}/yk.secret
yookassa_return_url = https://t.me/fitgate_bot/app
yookassa_notify_ips = 127.0.0.2/32
telegram_api_url = {self.tg.url}
telegram_provider_token_file = {self.dir}/tg.provider
telegram_webhook_secret_file = {self.dir}/tg.webhook
provider_timeout_ms = 1500
payment_timeout_s = {PAYMENT_TIMEOUT_S}
sweep_interval_ms = 200
dev_legacy_link = 1
stepup_amount_minor = {STEPUP_MINOR}
""")
        # All roles: the worker role's notifier turns order events into messages.
        self.stack = Stack(self.dir, core_args=[f"--shop-config={self.conf}",
                                                f"--legacy-db={self.legacy_db}",
                                                f"--telegram-api-base={self.tg.url}"])
        self.stack.start_core()
        self.port = self.stack.http_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.opener = self.sign_in()
        self.keyn = 0

    def sign_in(self, tg_user=None):
        """A session for the dev demo user, or for tg_user (init data signed
        with the dev bot token, as Telegram would)."""
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        if tg_user:
            idata = init_data(tg_user)
        else:
            try:
                urllib.request.build_opener(NoRedirect).open(self.base + "/dev/launch")
                raise AssertionError("expected a redirect")
            except urllib.error.HTTPError as e:
                loc = e.headers["Location"]
            params = dict(p.split("=", 1) for p in loc.split("#", 1)[1].split("&"))
            idata = urllib.parse.unquote(params["tgWebAppData"])
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        req = urllib.request.Request(self.base + "/api/v1/session", method="POST",
                                     data=json.dumps({"init_data": idata}).encode(),
                                     headers={"Content-Type": "application/json"})
        with opener.open(req, timeout=10) as r:
            assert r.status == 200
        return opener

    def call(self, path, method="GET", body=None, headers=None, raw=None, opener=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        rq = urllib.request.Request(self.base + path, method=method, data=data, headers=h)
        try:
            with (opener or self.opener).open(rq, timeout=15) as r:
                return r.status, dict(r.headers), json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"{}")

    def key(self):
        self.keyn += 1
        return f"test-key-{os.getpid()}-{self.keyn}"

    def checkout(self, items, provider="yookassa", key=None):
        return self.call("/api/v1/shop/checkout", "POST",
                         {"provider": provider, "items": items},
                         headers={"Idempotency-Key": key or self.key()})

    def order(self, oid):
        code, _, o = self.call(f"/api/v1/orders/{oid}")
        assert code == 200, o
        return o

    def wait_state(self, oid, state, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            o = self.order(oid)
            if o["state"] == state:
                return o
            time.sleep(0.05)
        raise AssertionError(f"order {oid} is {o['state']}, not {state}")

    def stock(self, sku):
        _, _, p = self.call("/api/v1/shop/products")
        for prod in p["products"]:
            for v in prod["variants"]:
                if v["sku"] == sku:
                    return v["stock"]
        raise KeyError(sku)

    def bus_events(self, oid):
        """Order events the outbox relayed to the (embedded) bus, in order."""
        db = sqlite3.connect(os.path.join(self.dir, "core", "bus.db"), timeout=10)
        try:
            rows = db.execute("SELECT value FROM log WHERE topic = 'fit.orders.v1' "
                              "ORDER BY \"offset\"").fetchall()
        finally:
            db.close()
        evs = [json.loads(r[0]) for r in rows]
        return [e for e in evs if e["subject"] == f"order/{oid}"]

    def close(self):
        codes = self.stack.stop()
        self.yk.close()
        self.tg.close()
        return codes


@pytest.fixture(scope="module")
def env():
    e = Env()
    yield e
    codes = e.close()
    logs = open(os.path.join(e.dir, "core.log"), "rb").read().decode(errors="replace")
    if os.environ.get("FITGATE_CHECK_EXIT") == "1":
        # Under ASan a leak or a sanitizer report makes the exit code non-zero.
        assert codes.get("core") == 0, f"fitgate-core exit {codes.get('core')}: {logs[-3000:]}"
    assert "yookassa_secret" not in logs and e.yk.secret not in logs
    assert e.tg.provider_token not in logs and e.webhook_secret not in logs
    shutil.rmtree(e.dir, ignore_errors=True)


def payment_of(env, oid):
    ps = env.yk.by_order(oid)
    assert len(ps) == 1, ps  # never two payments for one order
    return ps[0]["id"]


def test_paid_checkout(env):
    code, h, body = env.checkout([{"sku": "STRAP", "qty": 1}, {"sku": "BOTTLE", "qty": 2}])
    assert code == 201, body
    o = body["order"]
    assert o["state"] == "pending_payment" and o["total_minor"] == 399000 + 2 * 129900
    assert o["ref"] == f"fg-{o['id']}" and o["source"] == "fitgate"
    assert o["payment"]["url"].startswith("https://yoomoney.ru/checkout/")
    pid = payment_of(env, o["id"])
    create = [r for r in env.yk.requests if r[0] == "POST" and r[1] == "/v3/payments"][-1]
    assert create[2] == f"order-{o['id']}-create"
    sent = json.loads(create[3])
    assert sent["amount"] == {"value": "6588.00", "currency": "RUB"}
    assert sent["metadata"]["order_id"] == str(o["id"])
    # The customer pays: money held, ЮKassa notifies; the core re-fetches and captures.
    gets = env.yk.count("GET", f"/v3/payments/{pid}")
    env.yk.set_status(pid, "waiting_for_capture")
    assert env.yk.notify(env.port, "payment.waiting_for_capture", pid) == 200
    o = env.wait_state(o["id"], "paid")
    assert env.yk.count("GET", f"/v3/payments/{pid}") == gets + 1
    assert env.yk.count("POST", f"/v3/payments/{pid}/capture") == 1
    assert env.yk.payments[pid]["status"] == "succeeded"
    assert [h["to"] for h in o["history"]] == ["pending_payment", "paid"]
    # Events reach the bus with what a message needs.
    deadline = time.time() + 5
    while time.time() < deadline and len(env.bus_events(o["id"])) < 2:
        time.sleep(0.05)
    evs = env.bus_events(o["id"])
    assert [e["type"] for e in evs] == ["fit.order.placed.v1", "fit.order.paid.v1"]
    d = evs[1]["data"]
    assert d["number"] == o["number"] and d["state"] == "paid" and d["total"] == "6588.00"
    assert d["currency"] == "RUB" and "Bottle 750" in d["items_summary"]
    assert d["order_id"] == o["id"] and d["status"] == "paid" and d["user_id"] == o["user_id"]
    assert d["items"] and d["previous_state"] == "pending_payment"
    # The notifier tells the user in Telegram (demo user: chat 100000001).
    deadline = time.time() + 10
    while time.time() < deadline and not any(
            o["number"] in t and ("paid" in t or "оплачен" in t) for _, t in env.tg.messages):
        time.sleep(0.1)
    msgs = [(c, t) for c, t in env.tg.messages if o["number"] in t]
    assert any(c == 100000001 and ("paid" in t or "оплачен" in t) for c, t in msgs), msgs
    assert env.yk.violations == []


def test_idempotency_over_http(env):
    key = env.key()
    items = [{"sku": "BOTTLE", "qty": 1}]
    code1, h1, b1 = env.checkout(items, key=key)
    assert code1 == 201
    stock = env.stock("BOTTLE")
    code2, h2, b2 = env.checkout(items, key=key)
    assert code2 == 201 and b2 == b1 and h2.get("Idempotency-Replayed") == "true"
    assert env.stock("BOTTLE") == stock
    assert len(env.yk.by_order(b1["order"]["id"])) == 1
    code3, _, b3 = env.checkout([{"sku": "BOTTLE", "qty": 2}], key=key)
    assert code3 == 422 and b3["error"] == "idempotency_key_reused"
    code4, _, b4 = env.call("/api/v1/shop/checkout", "POST", {"provider": "yookassa"})
    assert code4 == 400 and b4["error"] == "idempotency_key_required"
    # A concurrent retry while the first still waits for ЮKassa: 409.
    key = env.key()
    env.yk.delay_create.append(0.8)  # under provider_timeout_ms
    res = {}
    before = env.yk.count("POST", "/v3/payments")
    t = threading.Thread(target=lambda: res.update(first=env.checkout(items, key=key)))
    t.start()
    deadline = time.time() + 10
    while env.yk.count("POST", "/v3/payments") == before and time.time() < deadline:
        time.sleep(0.01)  # the first request now waits for ЮKassa
    code5, h5, b5 = env.checkout(items, key=key)
    t.join()
    assert res["first"][0] == 201
    assert code5 == 409 and b5["error"] == "request_in_progress" and h5.get("Retry-After")
    assert len(env.yk.by_order(res["first"][2]["order"]["id"])) == 1


def test_declined_card(env):
    stock = env.stock("STRAP")
    code, _, body = env.checkout([{"sku": "STRAP", "qty": 2}])
    assert code == 201
    oid = body["order"]["id"]
    assert env.stock("STRAP") == stock - 2
    pid = payment_of(env, oid)
    env.yk.set_status(pid, "canceled", "insufficient_funds")
    assert env.yk.notify(env.port, "payment.canceled", pid) == 200
    o = env.wait_state(oid, "cancelled")
    assert o["history"][-1]["reason"] == "payment_canceled:insufficient_funds"
    assert env.stock("STRAP") == stock
    assert env.yk.count("POST", f"/v3/payments/{pid}/capture") == 0


def test_timeout_then_late_success(env):
    """ЮKassa makes the payment but answers after our timeout: 503, then the
    retry (same Idempotence-Key) gets the same payment; the customer pays."""
    env.yk.delay_create.append(2.5)
    key = env.key()
    items = [{"sku": "STRAP", "qty": 1}]
    code, h, body = env.checkout(items, key=key)
    assert code == 503 and body["error"] == "payment_unavailable", body
    oid = body["order"]["id"]
    time.sleep(1.2)  # the late answer arrives at nobody
    code, h, body = env.checkout(items, key=key)
    assert code == 201, body
    assert body["order"]["id"] == oid and body["order"]["payment"]["url"]
    keys = [r[2] for r in env.yk.requests if r[0] == "POST" and r[1] == "/v3/payments"
            and r[2] == f"order-{oid}-create"]
    assert len(keys) >= 2  # asked again, same key ...
    pid = payment_of(env, oid)  # ... one payment
    env.yk.set_status(pid, "waiting_for_capture")
    assert env.yk.notify(env.port, "payment.waiting_for_capture", pid) == 200
    env.wait_state(oid, "paid")
    assert env.yk.count("POST", f"/v3/payments/{pid}/capture") == 1


def test_duplicate_and_out_of_order_notifications(env):
    code, _, body = env.checkout([{"sku": "BOTTLE", "qty": 1}])
    oid = body["order"]["id"]
    pid = payment_of(env, oid)
    # "succeeded" arrives first although the money is only held: the re-fetch
    # tells the truth, the core captures once.
    env.yk.set_status(pid, "waiting_for_capture")
    assert env.yk.notify(env.port, "payment.succeeded", pid) == 200
    env.wait_state(oid, "paid")
    # The earlier event arrives late, and everything twice more.
    for ev in ("payment.waiting_for_capture", "payment.succeeded", "payment.succeeded",
               "payment.waiting_for_capture"):
        assert env.yk.notify(env.port, ev, pid) == 200
    o = env.order(oid)
    assert o["state"] == "paid"
    assert [h["to"] for h in o["history"]] == ["pending_payment", "paid"]
    assert env.yk.count("POST", f"/v3/payments/{pid}/capture") == 1
    assert env.yk.violations == []


def test_notification_from_unknown_address(env):
    code, _, body = env.checkout([{"sku": "BOTTLE", "qty": 1}])
    oid = body["order"]["id"]
    pid = payment_of(env, oid)
    env.yk.set_status(pid, "waiting_for_capture")
    gets = env.yk.count("GET", f"/v3/payments/{pid}")
    assert env.yk.notify(env.port, "payment.waiting_for_capture", pid, source="127.0.0.1") == 403
    time.sleep(0.3)
    assert env.yk.count("GET", f"/v3/payments/{pid}") == gets  # not even re-fetched
    assert env.order(oid)["state"] == "pending_payment"
    # Junk from an allowed address: 400, nothing happens.
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=5,
                                   source_address=("127.0.0.2", 0))
    c.request("POST", "/api/v1/payments/yookassa/notify", b'{"type":"notification"}',
              {"Content-Type": "application/json"})
    assert c.getresponse().status == 400
    c.close()
    # The real one still works.
    assert env.yk.notify(env.port, "payment.waiting_for_capture", pid) == 200
    env.wait_state(oid, "paid")


def test_order_times_out_late_authorisation_released(env):
    stock = env.stock("STRAP")
    code, _, body = env.checkout([{"sku": "STRAP", "qty": 1}])
    oid = body["order"]["id"]
    pid = payment_of(env, oid)
    o = env.wait_state(oid, "cancelled", timeout=PAYMENT_TIMEOUT_S + 5)
    assert o["history"][-1]["reason"] == "payment_timeout"
    assert env.stock("STRAP") == stock
    # The customer finishes paying after all: the held money is released.
    env.yk.set_status(pid, "waiting_for_capture")
    assert env.yk.notify(env.port, "payment.waiting_for_capture", pid) == 200
    deadline = time.time() + 5
    while env.yk.payments[pid]["status"] != "canceled" and time.time() < deadline:
        time.sleep(0.05)
    assert env.yk.payments[pid]["status"] == "canceled"
    assert env.yk.count("POST", f"/v3/payments/{pid}/capture") == 0
    assert env.order(oid)["state"] == "cancelled"


def test_no_oversell(env):
    assert env.stock("LAST") == 3
    results = []
    lock = threading.Lock()

    def buy():
        r = env.checkout([{"sku": "LAST", "qty": 1}])
        with lock:
            results.append(r)
    ts = [threading.Thread(target=buy) for _ in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = sorted(r[0] for r in results)
    assert codes.count(201) == 3, codes
    assert codes.count(409) == 9 and all(r[2]["error"] == "out_of_stock"
                                         for r in results if r[0] == 409)
    assert env.stock("LAST") == 0


def test_telegram_payments(env):
    code, _, body = env.checkout([{"sku": "BOTTLE", "qty": 1}], provider="telegram")
    assert code == 201, body
    o = body["order"]
    assert o["payment"]["url"].startswith("https://t.me/$inv")
    inv = env.tg.invoices[-1]
    assert inv["payload"] == f"order-{o['id']}" and inv["prices"][0]["amount"] == 129900
    tg_user = {"id": 100000001, "is_bot": False, "first_name": "Demo"}
    pcq = {"update_id": 9001, "pre_checkout_query": {
        "id": "pcq-1", "from": tg_user, "currency": "RUB", "total_amount": 129900,
        "invoice_payload": f"order-{o['id']}"}}
    # Without (or with a wrong) secret token: refused, nothing answered.
    assert FakeTelegram.webhook(env.port, pcq, None) == 401
    assert FakeTelegram.webhook(env.port, pcq, "wrong") == 401
    assert env.tg.answers == []
    t0 = time.time()
    assert FakeTelegram.webhook(env.port, pcq, env.webhook_secret) == 200
    assert env.tg.answers[-1][:2] == ("pcq-1", True) and env.tg.answers[-1][3] - t0 < 10
    # A pre-checkout for another amount is refused with a message.
    bad = json.loads(json.dumps(pcq))
    bad["update_id"], bad["pre_checkout_query"]["id"] = 9002, "pcq-2"
    bad["pre_checkout_query"]["total_amount"] = 1
    assert FakeTelegram.webhook(env.port, bad, env.webhook_secret) == 200
    assert env.tg.answers[-1][:2] == ("pcq-2", False) and env.tg.answers[-1][2]
    # Not paid until successful_payment.
    assert env.order(o["id"])["state"] == "pending_payment"
    paid = {"update_id": 9003, "message": {
        "message_id": 5, "from": tg_user, "chat": {"id": 100000001, "type": "private"},
        "date": int(time.time()), "successful_payment": {
            "currency": "RUB", "total_amount": 129900, "invoice_payload": f"order-{o['id']}",
            "telegram_payment_charge_id": "tg-charge-1",
            "provider_payment_charge_id": "yk-charge-1"}}}
    assert FakeTelegram.webhook(env.port, paid, env.webhook_secret) == 200
    o2 = env.wait_state(o["id"], "paid")
    # The same update again is deduplicated.
    assert FakeTelegram.webhook(env.port, paid, env.webhook_secret) == 200
    assert [h["to"] for h in env.order(o["id"])["history"]] == ["pending_payment", "paid"]
    assert o2["payment"]["state"] == "succeeded"
    assert env.tg.violations == []


def totp(secret_b32, t=None):
    """RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes it."""
    import base64
    import hmac
    import struct
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int((t or time.time()) // 30)), "sha1").digest()
    o = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def link_legacy(env, opener, login, password):
    """Link the old shop account the way this build offers: the shop's dev hook
    while no identity link hook is wired into the core (it answers 404 once
    one is), else identity's POST /api/v1/me/legacy, which asks for a second
    factor: TOTP is set up first, as a user would."""
    creds = {"login": login, "password": password}
    code, _, body = env.call("/api/v1/shop/dev/legacy-link", "POST", creds, opener=opener)
    if code != 404:
        return code, body
    code, _, body = env.call("/api/v1/me/legacy", "POST", creds, opener=opener)
    if code == 403 and body.get("error") == "second_factor_setup_required":
        c, _, setup = env.call("/api/v1/me/2fa/totp/setup", "POST", {}, opener=opener)
        assert c == 200, setup
        c, _, done = env.call("/api/v1/me/2fa/totp/confirm", "POST",
                              {"code": totp(setup["secret"])}, opener=opener)
        assert c == 200, done
        code, _, body = env.call("/api/v1/me/legacy", "POST", creds, opener=opener)
    return code, body


def test_legacy_orders_read_only(env):
    digest = hashlib.sha256(open(env.legacy_db, "rb").read()).hexdigest()
    anna = env.sign_in({"id": 424242, "first_name": "Anna", "language_code": "ru"})
    code, _, body = env.call("/api/v1/orders", opener=anna)
    assert code == 200 and body["legacy"]["linked"] is False and body["orders"] == []
    code, _ = link_legacy(env, anna, "anna@example.ru", "wrong")
    assert code == 401
    code, body = link_legacy(env, anna, "anna@example.ru", "anna-secret-1")
    assert code == 200, body
    # A new order next to the old ones.
    code, _, placed = env.call("/api/v1/shop/checkout", "POST",
                               {"provider": "yookassa", "items": [{"sku": "BOTTLE", "qty": 1}]},
                               headers={"Idempotency-Key": env.key()}, opener=anna)
    assert code == 201
    code, _, body = env.call("/api/v1/orders", opener=anna)
    legacy = [o for o in body["orders"] if o["source"] == "legacy"]
    ours = [o for o in body["orders"] if o["source"] == "fitgate"]
    assert body["legacy"] == {"linked": True, "available": True}
    assert len(legacy) == 4 and [o["id"] for o in ours] == [placed["order"]["id"]]
    assert all(o["read_only"] for o in legacy) and not any(o["read_only"] for o in ours)
    by_no = {o["number"]: o for o in legacy}
    assert by_no["A-2022-0107"]["state"] == "shipped"
    assert by_no["A-2022-0107"]["legacy_status"] == "sent"
    assert by_no["A-2024-0042"]["state"] == "pending_payment"
    assert by_no["A-2021-0001"]["state"] == "completed" and by_no["A-2021-0001"]["total"] == "4590.00"
    created = [o["created_ms"] for o in body["orders"]]
    assert created == sorted(created, reverse=True)  # one list, newest first
    assert body["orders"][0]["source"] == "fitgate"
    code, _, one = env.call("/api/v1/orders/legacy-50001", opener=anna)
    assert code == 200 and one["items"][0]["sku"] == "HRM-PRO"
    code, _, _ = env.call("/api/v1/orders/legacy-50005", opener=anna)  # Boris's order
    assert code == 404
    code, _, err = env.call("/api/v1/orders/legacy-50004/cancel", "POST", {}, opener=anna)
    assert code == 403 and err["error"] == "read_only"
    # The demo user sees none of it.
    code, _, body = env.call("/api/v1/orders")
    assert body["legacy"]["linked"] is False
    assert all(o["source"] == "fitgate" for o in body["orders"])
    assert placed["order"]["id"] not in [o["id"] for o in body["orders"]]
    code, _, _ = env.call(f"/api/v1/orders/{placed['order']['id']}")
    assert code == 404
    assert hashlib.sha256(open(env.legacy_db, "rb").read()).hexdigest() == digest
    env.anna = anna


def test_step_up_for_large_payments(env):
    """Above stepup_amount_minor the checkout wants a second factor proven in
    this session (identity's step-up): the demo user has none, Anna just
    proved hers while linking the old shop account."""
    big = [{"sku": "STRAP", "qty": 3}]  # 11,970.00 RUB
    stock = env.stock("STRAP")
    code, _, body = env.checkout(big)
    assert code == 403 and body["error"] == "second_factor_required", body
    assert env.stock("STRAP") == stock  # nothing reserved
    code, _, body = env.checkout([{"sku": "STRAP", "qty": 1}])  # below the limit
    assert code == 201, body
    code, _, body = env.call("/api/v1/shop/checkout", "POST", {"provider": "yookassa",
                                                               "items": big},
                             headers={"Idempotency-Key": env.key()}, opener=env.anna)
    assert code == 201 and body["order"]["total_minor"] == 3 * 399000, body


def test_admin_and_cli(env):
    code, _, body = env.checkout([{"sku": "BOTTLE", "qty": 1}])
    oid = body["order"]["id"]
    pid = payment_of(env, oid)
    # A user token cannot use the admin route.
    code, _, _ = env.call(f"/api/v1/admin/orders/{oid}/ship", "POST", {})
    assert code in (401, 403)
    env.yk.set_status(pid, "waiting_for_capture")
    env.yk.notify(env.port, "payment.waiting_for_capture", pid)
    env.wait_state(oid, "paid")
    cli = [os.path.join(BIN, "fitgate-core"), "shop"]
    dd = f"--data_dir={env.dir}/core"
    r = subprocess.run(cli + ["deliver", str(oid), dd], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr  # not shipped yet
    r = subprocess.run(cli + ["ship", str(oid), dd], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "shipped"
    r = subprocess.run(cli + ["refund", str(oid), dd, f"--shop_config={env.conf}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert env.order(oid)["state"] == "refunded"
    assert env.yk.payments[pid].get("refunds")
    r = subprocess.run(cli + ["ship", "999999", dd], capture_output=True, text=True)
    assert r.returncode == 2
    # The user cancels only what waits for payment.
    code, _, _ = env.call(f"/api/v1/orders/{oid}/cancel", "POST", {})
    assert code == 409
    code, _, body = env.checkout([{"sku": "BOTTLE", "qty": 1}])
    code, _, o = env.call(f"/api/v1/orders/{body['order']['id']}/cancel", "POST", {})
    assert code == 200 and o["state"] == "cancelled"


def test_admin_route_with_operator_token(env):
    """Operators move orders through the admin HTTP route with a token the
    identity CLI mints (aud admin); the state machine still rules."""
    tok = subprocess.run([os.path.join(BIN, "fitgate-core"), "identity", "token", "ops", "--admin",
                          f"--data_dir={env.dir}/core"], capture_output=True, text=True,
                         timeout=30)
    assert tok.returncode == 0, tok.stderr[-2000:]
    admin = {"Authorization": "Bearer " + tok.stdout.strip().splitlines()[-1]}
    code, _, body = env.checkout([{"sku": "BOTTLE", "qty": 1}])
    oid = body["order"]["id"]
    pid = payment_of(env, oid)
    # Not paid yet: shipping is refused by the state machine, not by auth.
    code, _, e = env.call(f"/api/v1/admin/orders/{oid}/ship", "POST", {}, headers=admin)
    assert code == 409, (code, e)
    env.yk.set_status(pid, "waiting_for_capture")
    env.yk.notify(env.port, "payment.waiting_for_capture", pid)
    env.wait_state(oid, "paid")
    for action, state in (("ship", "shipped"), ("deliver", "delivered")):
        code, _, o = env.call(f"/api/v1/admin/orders/{oid}/{action}", "POST", {}, headers=admin)
        assert code == 200 and o["state"] == state, (action, code, o)
    assert env.order(oid)["state"] == "delivered"
    code, _, _ = env.call("/api/v1/admin/orders/999999/ship", "POST", {}, headers=admin)
    assert code == 404


def test_kill_during_checkout(env):
    """kill -9 while ЮKassa is still answering the create call: after the
    restart the order gets the one payment ЮKassa made, and it is paid once."""
    env.yk.delay_create.append(3.0)
    key = env.key()
    before = env.yk.count("POST", "/v3/payments")

    def doomed():
        try:
            env.checkout([{"sku": "STRAP", "qty": 1}], key=key)
        except OSError:
            pass  # the core died under it: that is the point
    t = threading.Thread(target=doomed)
    t.start()
    deadline = time.time() + 5
    while env.yk.count("POST", "/v3/payments") == before and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # ЮKassa has made the payment and is still answering
    env.stack.procs["core"].kill()
    t.join()
    db = sqlite3.connect(os.path.join(env.dir, "core", "core.db"), timeout=10)
    oid = db.execute("SELECT order_id FROM shop_idempotency WHERE key = ?", (key,)).fetchone()[0]
    db.close()
    env.stack.start_core()
    env.opener = env.sign_in()
    deadline = time.time() + 10
    while time.time() < deadline and not env.order(oid)["payment"].get("url"):
        time.sleep(0.1)
    o = env.order(oid)
    assert o["state"] == "pending_payment" and o["payment"].get("url"), o
    pid = payment_of(env, oid)
    code, h, body = env.checkout([{"sku": "STRAP", "qty": 1}], key=key)
    assert code == 201 and body["order"]["id"] == oid
    env.yk.set_status(pid, "waiting_for_capture")
    assert env.yk.notify(env.port, "payment.waiting_for_capture", pid) == 200
    env.wait_state(oid, "paid")
    assert env.yk.count("POST", f"/v3/payments/{pid}/capture") == 1
    assert len(env.yk.by_order(oid)) == 1
