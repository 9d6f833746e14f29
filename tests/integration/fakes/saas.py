"""saas.py - local stand-ins for the outside APIs identity talks to, each
checking requests the way the real API documents them, and recording what
it accepted so tests can read the one-time codes users would receive.

  Telegram Bot API   POST /bot<token>/sendMessage  JSON {chat_id: int, text}
                     (core.telegram.org/bots/api#sendmessage; answers {"ok":true,...})
  WhatsApp Cloud API POST /v21.0/<phone_number_id>/messages, Bearer token,
                     messaging_product "whatsapp", type "template" (authentication
                     template: body + url button parameter carry the code) or "text";
                     the recipient is a phone in "to" or a business-scoped user id
                     (BSUID, "CC.<alphanumerics>") in "recipient" - exactly one of
                     them here ("to" would win if both came). Copy-code
                     authentication templates to a BSUID are refused with error
                     131062, as Meta documents. The answer's contacts[] carries
                     wa_id for a phone send and user_id for a BSUID send.
  SMS gateway        POST /v1/messages, Bearer token, JSON {to: E.164, text, sender}
  WeChat             GET /sns/jscode2session?appid&secret&js_code&grant_type=
                     authorization_code -> always HTTP 200, errcode on failure
  E-mail             a real SMTP server (aiosmtpd) that keeps the messages
"""
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
WA_PHONE = re.compile(r"^\+?[1-9][0-9]{4,19}$")
BSUID = re.compile(r"^[A-Z]{2}(\.[A-Za-z0-9]+)+$")


class Fakes:
    def __init__(self, bot_token, wa_phone_id="1234567890", wa_token="wa-token",
                 sms_token="sms-token", wx_appid="wx4f4bc4dec97d474b", wx_secret="wx-secret"):
        self.bot_token = bot_token
        self.wa_phone_id = wa_phone_id
        self.wa_token = wa_token
        self.sms_token = sms_token
        self.wx_appid = wx_appid
        self.wx_secret = wx_secret
        self.telegram = []   # (chat_id, text)
        self.whatsapp = []   # parsed bodies
        self.sms = []        # (to, text)
        self.rejected = []   # (api, reason) - requests the real API would refuse
        self.wx_codes = {}   # js_code -> {"openid","session_key","unionid"} (single use)
        self.lock = threading.Lock()
        fakes = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def body_json(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    return None
                try:
                    return json.loads(raw)
                except ValueError:
                    return None

            def reject(self, api, reason, status=400, obj=None):
                with fakes.lock:
                    fakes.rejected.append((api, reason))
                self.reply(status, obj or {"error": reason})

            def do_POST(self):
                p = self.path
                if p == f"/bot{fakes.bot_token}/sendMessage":
                    b = self.body_json()
                    if not isinstance(b, dict) or not isinstance(b.get("chat_id"), int) \
                            or not isinstance(b.get("text"), str) or not b["text"]:
                        return self.reject("telegram", "bad request", 400,
                                           {"ok": False, "error_code": 400,
                                            "description": "Bad Request: message text is empty"})
                    with fakes.lock:
                        fakes.telegram.append((b["chat_id"], b["text"]))
                    return self.reply(200, {"ok": True, "result": {"message_id": len(fakes.telegram)}})
                if p.startswith("/bot"):
                    return self.reject("telegram", "unknown token", 401,
                                       {"ok": False, "error_code": 401, "description": "Unauthorized"})
                if p == f"/v21.0/{fakes.wa_phone_id}/messages":
                    if self.headers.get("Authorization") != f"Bearer {fakes.wa_token}":
                        return self.reject("whatsapp", "token", 401,
                                           {"error": {"code": 190, "message": "Invalid OAuth access token"}})
                    b = self.body_json()
                    ok = isinstance(b, dict) and b.get("messaging_product") == "whatsapp" \
                        and b.get("recipient_type", "individual") == "individual" \
                        and b.get("type") in ("template", "text")
                    # exactly one addressing field, each in its documented shape
                    phone, bsuid = (b.get("to"), b.get("recipient")) if ok else (None, None)
                    ok = ok and ((isinstance(phone, str) and WA_PHONE.match(phone) and bsuid is None)
                                 or (isinstance(bsuid, str) and BSUID.match(bsuid) and len(bsuid) <= 140
                                     and phone is None))
                    if ok and b["type"] == "template":
                        t = b.get("template") or {}
                        ok = isinstance(t.get("name"), str) and isinstance(t.get("language"), dict) \
                            and isinstance(t.get("components"), list)
                        if ok and bsuid is not None:
                            return self.reject("whatsapp", "template to a BSUID", 400, {"error": {
                                "code": 131062, "message": "Business-scoped User ID recipients are "
                                                           "not supported for this message."}})
                    if ok and b["type"] == "text":
                        ok = isinstance((b.get("text") or {}).get("body"), str)
                    if not ok:
                        return self.reject("whatsapp", "bad body", 400,
                                           {"error": {"code": 100, "message": "Invalid parameter"}})
                    with fakes.lock:
                        fakes.whatsapp.append(b)
                    contact = {"input": phone, "wa_id": phone} if phone else {"input": bsuid, "user_id": bsuid}
                    return self.reply(200, {"messaging_product": "whatsapp", "contacts": [contact],
                                            "messages": [{"id": f"wamid.{len(fakes.whatsapp)}"}]})
                if p == "/v1/messages":
                    if self.headers.get("Authorization") != f"Bearer {fakes.sms_token}":
                        return self.reject("sms", "token", 401)
                    b = self.body_json()
                    if not isinstance(b, dict) or not E164.match(str(b.get("to", ""))) \
                            or not b.get("text") or not b.get("sender"):
                        return self.reject("sms", "bad body", 400)
                    with fakes.lock:
                        fakes.sms.append((b["to"], b["text"]))
                    return self.reply(202, {"id": f"sms-{len(fakes.sms)}", "status": "queued"})
                return self.reject("any", "no such endpoint " + p, 404)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path != "/sns/jscode2session":
                    return self.reject("any", "no such endpoint " + u.path, 404)
                q = dict(urllib.parse.parse_qsl(u.query))
                if set(q) != {"appid", "secret", "js_code", "grant_type"} \
                        or q["grant_type"] != "authorization_code":
                    return self.reject("wechat", "params", 200, {"errcode": 40013, "errmsg": "invalid appid"})
                if q["appid"] != fakes.wx_appid or q["secret"] != fakes.wx_secret:
                    return self.reject("wechat", "appid", 200, {"errcode": 40125, "errmsg": "invalid appsecret"})
                with fakes.lock:
                    sess = fakes.wx_codes.pop(q["js_code"], None)
                if not sess:
                    return self.reply(200, {"errcode": 40029, "errmsg": "invalid code"})
                if "status" in sess:  # a broken gateway, not WeChat's JSON
                    return self.reply(sess["status"], {"message": "bad gateway"})
                return self.reply(200, sess)  # may be {"errcode": N, "errmsg": ...}

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class Smtp:
    """A real SMTP server (aiosmtpd) on a free port that keeps messages."""

    def __init__(self, port):
        from aiosmtpd.controller import Controller

        self.messages = []  # (mail_from, rcpt_tos, text)
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                       envelope.content.decode("utf-8", "replace")))
                return "250 Message accepted for delivery"

        self.port = port
        self.ctl = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self):
        self.ctl.start()
        self.url = f"smtp://127.0.0.1:{self.port}"
        return self

    def stop(self):
        self.ctl.stop()
