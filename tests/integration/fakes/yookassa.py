"""fakes/yookassa.py - a local ЮKassa API v3 that checks every request as
yookassa.ru/developers/api documents it, and keeps payments like ЮKassa does.

  POST /v3/payments              Basic shopId:secret, Idempotence-Key (<= 64 chars),
                                 JSON {amount{value "N.NN", currency}, capture,
                                 confirmation{type redirect, return_url}, description
                                 (<= 128), metadata (<= 16 keys, string values)}
  GET  /v3/payments/{id}
  POST /v3/payments/{id}/capture Idempotence-Key, optional {amount}; only from
                                 waiting_for_capture
  POST /v3/payments/{id}/cancel  Idempotence-Key; only from waiting_for_capture
  POST /v3/refunds               Idempotence-Key, {payment_id, amount}; only a
                                 succeeded payment, at most its amount

Idempotence: the same key with the same body answers the first result again;
the same key with another body is 400 (ЮKassa: "idempotence key duplicated").
A request that breaks the documented format is answered 400 and recorded in
`violations`, which every test asserts empty. The test drives the customer's
side with set_status() and sends notifications with notify().
"""
import base64
import http.client
import json
import re
import time
import uuid

from fakes.jsonhttp import JsonFake

AMOUNT = re.compile(r"^\d+\.\d{2}$")


class FakeYooKassa(JsonFake):
    def __init__(self, shop_id="123456", secret="test_secret_key"):
        self.shop_id, self.secret = shop_id, secret
        self.payments = {}      # id -> payment object
        self.keys = {}          # (path, key) -> (body, status, reply)
        self.requests = []      # (method, path, key, body)
        self.violations = []
        self.delay_create = []  # seconds to sleep before answering each next create
        super().__init__()

    # -- the customer's side --
    def set_status(self, pid, status, reason=None):
        with self.lock:
            p = self.payments[pid]
            p["status"] = status
            p["paid"] = status in ("waiting_for_capture", "succeeded")
            if status == "canceled":
                p["cancellation_details"] = {"party": "payment_network",
                                             "reason": reason or "insufficient_funds"}

    def by_order(self, order_id):
        return [p for p in self.payments.values() if p["metadata"].get("order_id") == str(order_id)]

    def count(self, method, pattern):
        return sum(1 for r in self.requests if r[0] == method and re.fullmatch(pattern, r[1]))

    def notify(self, core_port, event, pid, source="127.0.0.2"):
        """Send a notification as ЮKassa does (no signature), from `source`."""
        with self.lock:
            obj = dict(self.payments[pid])
        body = json.dumps({"type": "notification", "event": event, "object": obj}).encode()
        c = http.client.HTTPConnection("127.0.0.1", core_port, timeout=10,
                                       source_address=(source, 0))
        c.request("POST", "/api/v1/payments/yookassa/notify", body,
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    # -- the API --
    def _violation(self, h, what):
        self.violations.append(what)
        self.reply(h, 400, {"type": "error", "code": "invalid_request", "description": what})

    def _amount_ok(self, a):
        return (isinstance(a, dict) and isinstance(a.get("value"), str) and
                AMOUNT.match(a["value"]) and a.get("currency") in ("RUB", "USD", "EUR"))

    def handle(self, h, method):
        n = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(n) if n else b""
        key = h.headers.get("Idempotence-Key")
        with self.lock:
            self.requests.append((method, h.path, key, raw))
        auth = h.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(f"{self.shop_id}:{self.secret}".encode()).decode()
        if auth != want:
            self.violations.append(f"auth on {method} {h.path}")
            return self.reply(h, 401, {"type": "error", "code": "invalid_credentials"})
        body = None
        if method == "POST":
            if h.headers.get("Content-Type", "").split(";")[0] != "application/json":
                return self._violation(h, "POST without Content-Type: application/json")
            if not key or len(key) > 64:
                return self._violation(h, f"Idempotence-Key missing or too long on {h.path}")
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self._violation(h, "body is not JSON")
            with self.lock:
                prev = self.keys.get((h.path, key))
            if prev:
                if prev[0] != body:
                    return self.reply(h, 400, {"type": "error", "code": "invalid_request",
                                                "description": "idempotence key duplicated"})
                return self.reply(h, prev[1], prev[2])
        m = re.fullmatch(r"/v3/payments/([A-Za-z0-9_-]+)(/capture|/cancel)?", h.path)
        if method == "POST" and h.path == "/v3/payments":
            status, reply = self._create(h, body)
        elif method == "GET" and m and not m.group(2):
            with self.lock:
                p = self.payments.get(m.group(1))
            status, reply = (200, p) if p else (404, {"type": "error", "code": "not_found"})
        elif method == "POST" and m and m.group(2):
            status, reply = self._capture_cancel(m.group(1), m.group(2), body)
        elif method == "POST" and h.path == "/v3/refunds":
            status, reply = self._refund(body)
        else:
            return self._violation(h, f"unknown endpoint {method} {h.path}")
        if status == 400:
            self.violations.append(reply.get("description"))
        if method == "POST" and status < 500:
            with self.lock:
                self.keys[(h.path, key)] = (body, status, reply)
        delay = 0
        if h.path == "/v3/payments" and method == "POST":
            with self.lock:
                delay = self.delay_create.pop(0) if self.delay_create else 0
        if delay:
            time.sleep(delay)  # the payment exists; the answer comes late
        try:
            self.reply(h, status, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _create(self, h, b):
        if not self._amount_ok(b.get("amount")):
            return 400, {"description": "amount"}
        if b.get("capture") is not False:
            return 400, {"description": "the shop creates two-stage payments (capture false)"}
        c = b.get("confirmation")
        if not isinstance(c, dict) or c.get("type") != "redirect" or \
                not str(c.get("return_url", "")).startswith("http"):
            return 400, {"description": "confirmation"}
        d = b.get("description")
        if not isinstance(d, str) or len(d) > 128:
            return 400, {"description": "description"}
        md = b.get("metadata")
        if not isinstance(md, dict) or len(md) > 16 or \
                not all(isinstance(v, str) for v in md.values()) or "order_id" not in md:
            return 400, {"description": "metadata"}
        pid = str(uuid.uuid4())
        p = {"id": pid, "status": "pending", "paid": False, "amount": b["amount"],
             "confirmation": {"type": "redirect",
                              "confirmation_url": f"https://yoomoney.ru/checkout/{pid}"},
             "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
             "description": d, "metadata": md, "recipient": {"account_id": self.shop_id},
             "refundable": False, "test": True}
        with self.lock:
            self.payments[pid] = p
        return 200, p

    def _capture_cancel(self, pid, op, b):
        with self.lock:
            p = self.payments.get(pid)
            if not p:
                return 404, {"type": "error", "code": "not_found"}
            if p["status"] != "waiting_for_capture":
                return 400, {"description": f"{op} of a payment in status {p['status']}"}
            if op == "/capture":
                if "amount" in b and (not self._amount_ok(b["amount"]) or
                                      b["amount"] != p["amount"]):
                    return 400, {"description": "capture amount"}
                p["status"], p["captured_at"], p["refundable"] = "succeeded", "now", True
            else:
                p["status"], p["paid"] = "canceled", False
                p["cancellation_details"] = {"party": "merchant",
                                             "reason": "canceled_by_merchant"}
            return 200, dict(p)

    def _refund(self, b):
        with self.lock:
            p = self.payments.get(b.get("payment_id"))
            if not p or p["status"] != "succeeded":
                return 400, {"description": "refund of a payment that is not succeeded"}
            if not self._amount_ok(b.get("amount")) or \
                    float(b["amount"]["value"]) > float(p["amount"]["value"]):
                return 400, {"description": "refund amount"}
            r = {"id": str(uuid.uuid4()), "payment_id": p["id"], "status": "succeeded",
                 "amount": b["amount"], "created_at": "now"}
            p.setdefault("refunds", []).append(r["id"])
            return 200, r
