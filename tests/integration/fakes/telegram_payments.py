"""fakes/telegram_payments.py - the Bot API's payment methods, checked as
core.telegram.org/bots/api documents them.

  POST /bot<token>/createInvoiceLink       title 1-32, description 1-255, payload
                                           1-128 bytes, provider_token (physical
                                           goods), currency (3 letters), prices
                                           [{label, amount integer}] -> result: URL
  POST /bot<token>/answerPreCheckoutQuery  pre_checkout_query_id, ok (bool),
                                           error_message required when ok is false
  POST /bot<token>/sendMessage             chat_id (integer), text (1-4096): the
                                           notifier's order status messages

Each answer is recorded with the time it came, so tests check the 10 s limit.
webhook() posts an update to the core with the secret token header.
"""
import http.client
import json
import time

from fakes.jsonhttp import JsonFake


class FakeTelegram(JsonFake):
    def __init__(self, token, provider_token):
        self.token, self.provider_token = token, provider_token
        self.invoices = []
        self.answers = []   # (query_id, ok, error_message, time)
        self.messages = []  # (chat_id, text) sent with sendMessage
        self.violations = []
        super().__init__()

    def _bad(self, h, what):
        self.violations.append(what)
        self.reply(h, 400, {"ok": False, "error_code": 400, "description": "Bad Request: " + what})

    def handle(self, h, method):
        if method != "POST":
            return self._bad(h, "Bot API methods are POSTed here")
        prefix = f"/bot{self.token}/"
        if not h.path.startswith(prefix):
            self.violations.append("wrong token")
            return self.reply(h, 401, {"ok": False, "error_code": 401,
                                       "description": "Unauthorized"})
        method = h.path[len(prefix):]
        n = int(h.headers.get("Content-Length") or 0)
        try:
            b = json.loads(h.rfile.read(n))
        except ValueError:
            return self._bad(h, "body is not JSON")
        if method == "createInvoiceLink":
            t, d, p = b.get("title"), b.get("description"), b.get("payload")
            prices = b.get("prices")
            if not isinstance(t, str) or not 1 <= len(t) <= 32:
                return self._bad(h, "title")
            if not isinstance(d, str) or not 1 <= len(d) <= 255:
                return self._bad(h, "description")
            if not isinstance(p, str) or not 1 <= len(p.encode()) <= 128:
                return self._bad(h, "payload")
            if b.get("provider_token") != self.provider_token:
                return self._bad(h, "provider_token")
            if not isinstance(b.get("currency"), str) or len(b["currency"]) != 3:
                return self._bad(h, "currency")
            if not isinstance(prices, list) or not prices or not all(
                    isinstance(x, dict) and isinstance(x.get("label"), str) and
                    isinstance(x.get("amount"), int) for x in prices):
                return self._bad(h, "prices")
            with self.lock:
                self.invoices.append(b)
            return self.reply(h, 200, {"ok": True, "result": f"https://t.me/$inv{len(self.invoices)}"})
        if method == "answerPreCheckoutQuery":
            q, ok = b.get("pre_checkout_query_id"), b.get("ok")
            if not isinstance(q, str) or not isinstance(ok, bool):
                return self._bad(h, "pre_checkout_query_id / ok")
            if not ok and not b.get("error_message"):
                return self._bad(h, "error_message is required when ok is false")
            with self.lock:
                self.answers.append((q, ok, b.get("error_message"), time.time()))
            return self.reply(h, 200, {"ok": True, "result": True})
        if method == "sendMessage":
            # The notifier's status messages (1-4096 characters to a chat id).
            chat, text = b.get("chat_id"), b.get("text")
            if not isinstance(chat, int) or not isinstance(text, str) or \
                    not 1 <= len(text) <= 4096:
                return self._bad(h, "sendMessage chat_id / text")
            with self.lock:
                self.messages.append((chat, text))
                n = len(self.messages)
            return self.reply(h, 200, {"ok": True, "result": {
                "message_id": n, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
                "text": text}})
        return self._bad(h, "unknown method " + method)

    @staticmethod
    def webhook(core_port, update, secret):
        c = http.client.HTTPConnection("127.0.0.1", core_port, timeout=15)
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        c.request("POST", "/api/v1/payments/telegram/webhook", json.dumps(update).encode(),
                  headers)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
