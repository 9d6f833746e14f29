"""test_identity.py - identity over HTTP against a running fitgate-core.

Full flows: register from Telegram init data, tokens (ES256 JWT checked
against the JWKS here, refresh rotation, reuse revokes the family, sign-out),
TOTP (code computed here, replay refused), backup codes, SMS / Telegram /
e-mail codes through local stand-ins of the real APIs and a real SMTP server,
sign-in with the second factor, throttling, step-up, linking the legacy shop
account, WhatsApp webhook + sign-in link + code, WeChat code2session.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fakes.saas import Fakes, Smtp  # noqa: E402
from stack import BIN, ROOT, Stack, free_port  # noqa: E402
from test_openapi import check_schema  # noqa: E402 (the OpenAPI checker)
from tginit import DEV_BOT_TOKEN, init_data  # noqa: E402

WA_SECRET = "wa-app-secret-for-tests"
WA_VERIFY = "wa-verify-token"
WX_APPID = "wx4f4bc4dec97d474b"
VECTORS = os.path.join(ROOT, "..", "shared", "vectors")


# ---------------------------------------------------------------- helpers

def totp(secret_b32, t=None, step=30, digits=6):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((t if t is not None else time.time()) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 15
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return f"{code:0{digits}d}"


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None, token=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text.startswith(("{", "[")) else text), r.headers
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text), e.headers
            except ValueError:
                return e.code, text, e.headers


_next_tg = [700000000]


def tg_user(name="Ann", lang="en"):
    _next_tg[0] += 1
    return {"id": _next_tg[0], "first_name": name, "username": f"u{_next_tg[0]}",
            "language_code": lang}


def sign_in(api, user):
    st, b, _ = api.call("POST", "/api/v1/session", {"init_data": init_data(user, DEV_BOT_TOKEN)})
    assert st == 200, b
    return b


def age_codes(env, ms=31000):
    """Move every one-time code back in time (past the one-per-30-s limit)."""
    con = sqlite3.connect(env.db)
    con.execute("UPDATE identity_oob_codes SET created_ms = created_ms - ?", (ms,))
    con.commit()
    con.close()


def last_code(texts):
    m = re.search(r"\b(\d{6})\b", texts[-1])
    assert m, texts[-1]
    return m.group(1)


# ---------------------------------------------------------------- the stack

def _start(role):
    d = tempfile.mkdtemp(prefix="fitgate-idn-")
    fakes = Fakes(DEV_BOT_TOKEN, wx_appid=WX_APPID).start()
    smtp_port = free_port()
    smtp = Smtp(smtp_port).start()
    secrets = {}
    for name, value in (("wa_token", fakes.wa_token), ("sms_token", fakes.sms_token),
                        ("wa_secret", WA_SECRET), ("wx_secret", fakes.wx_secret)):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(value + "\n")
        os.chmod(p, 0o600)
        secrets[name] = p
    legacy = os.path.join(d, "legacy.db")
    subprocess.run([os.path.join(ROOT, "cloud/legacy/devdb/make-devdb.sh"), legacy], check=True,
                   stdout=subprocess.DEVNULL)
    args = [f"--telegram-api-base={fakes.base}", f"--whatsapp-api-base={fakes.base}",
            f"--whatsapp-phone-number-id={fakes.wa_phone_id}",
            f"--whatsapp-token-file={secrets['wa_token']}", "--whatsapp-auth-template=fitgate_code",
            f"--sms-api-base={fakes.base}", f"--sms-token-file={secrets['sms_token']}",
            "--sms-sender=fitgate", f"--smtp-url={smtp.url}", "--smtp-from=noreply@fitgate.test",
            f"--wa-app-secret-file={secrets['wa_secret']}", f"--wa-verify-token={WA_VERIFY}",
            "--web-base-url=https://app.fitgate.test", f"--wechat-api-base={fakes.base}",
            f"--wechat-appid={WX_APPID}", f"--wechat-secret-file={secrets['wx_secret']}",
            f"--legacy-db={legacy}", f"--role={role}"]
    s = Stack(d, core_args=args)
    if role == "all":
        s.start_brokers()  # the ingest role wants its broker
    s.start_core()
    e = type("Env", (), {})()
    e.stack, e.fakes, e.smtp, e.dir = s, fakes, smtp, d
    e.api = Api(s.http_port)
    e.db = os.path.join(d, "core", "core.db")
    return e


def _stop(e):
    codes = e.stack.stop()
    e.fakes.stop()
    e.smtp.stop()
    with open(os.path.join(e.dir, "core.log"), errors="replace") as f:
        log = f.read()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
    assert codes.get("core") == 0, f"fitgate-core exit {codes.get('core')}"  # ASan: leaks
    shutil.rmtree(e.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def env():
    e = _start("api")
    yield e
    _stop(e)


@pytest.fixture(scope="module")
def env_all():
    """Every role in one process: the notifier runs and sends what events say."""
    e = _start("all")
    yield e
    _stop(e)


# ---------------------------------------------------------------- tokens

def jwks_key(api, kid):
    from cryptography.hazmat.primitives.asymmetric import ec

    st, jwks, _ = api.call("GET", "/.well-known/jwks.json")
    assert st == 200
    for k in jwks["keys"]:
        if k["kid"] == kid:
            assert k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256"
            x = int.from_bytes(base64.urlsafe_b64decode(k["x"] + "=="), "big")
            y = int.from_bytes(base64.urlsafe_b64decode(k["y"] + "=="), "big")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raise AssertionError(f"kid {kid} not in JWKS")


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_register_tokens_refresh_logout(env):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    api = env.api
    user = tg_user("Ann", "ru")
    idata = init_data(user, DEV_BOT_TOKEN)
    st, b, hdrs = api.call("POST", "/api/v1/session", {"init_data": idata})
    assert st == 200, b
    assert b["registered"] is True and b["mfa_required"] is False
    assert b["user"]["first_name"] == "Ann" and b["user"]["tg_id"] == user["id"]
    assert "fg_session=" in hdrs.get("Set-Cookie", "")
    # one-time exchange
    st, b2, _ = api.call("POST", "/api/v1/session", {"init_data": idata})
    assert st == 409 and b2["error"] == "replay"
    # the access token is an ES256 JWT verifiable with the published JWKS
    h, p, s = b["token"].split(".")
    header, claims = json.loads(b64d(h)), json.loads(b64d(p))
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt"
    assert claims["sub"] == str(b["user"]["id"]) and claims["aud"] == "fitgate-api"
    assert 0 < claims["exp"] - claims["iat"] <= 300
    sig = b64d(s)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    jwks_key(api, header["kid"]).verify(der, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    # /me, profile
    st, me, _ = api.call("GET", "/api/v1/me", token=b["token"])
    assert st == 200 and me["lang"] == "ru" and me["identities"][0]["provider"] == "telegram"
    st, me, _ = api.call("PATCH", "/api/v1/me", {"birth_year": 1990, "max_hr": 185, "tz": "Europe/Berlin"},
                         token=b["token"])
    assert st == 200 and me["max_hr"] == 185 and me["tz"] == "Europe/Berlin"
    assert api.call("PATCH", "/api/v1/me", {"max_hr": 999}, token=b["token"])[0] == 400
    assert api.call("PATCH", "/api/v1/me", {"name": "Ann\nAdmin"}, token=b["token"])[0] == 400
    # bad tokens
    tampered = b["token"][:-6] + ("AAAAAA" if b["token"][-6:] != "AAAAAA" else "BBBBBB")
    assert api.call("GET", "/api/v1/me", token=tampered)[0] == 401
    none_tok = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt","kid":"x"}').decode().rstrip("=") \
        + "." + p + "."
    assert api.call("GET", "/api/v1/me", token=none_tok)[0] == 401
    # a public token at an internal endpoint
    st, e, _ = api.call("GET", f"/internal/v1/users/{b['user']['id']}/contact", token=b["token"])
    assert st == 403
    # refresh rotates; reuse of the old one revokes the whole family
    st, r1, _ = api.call("POST", "/api/v1/session/refresh", {"refresh_token": b["refresh_token"]})
    assert st == 200 and r1["refresh_token"] != b["refresh_token"]
    assert api.call("GET", "/api/v1/me", token=r1["token"])[0] == 200
    st, e, _ = api.call("POST", "/api/v1/session/refresh", {"refresh_token": b["refresh_token"]})
    assert st == 401 and e["error"] == "refresh_reused"
    assert api.call("GET", "/api/v1/me", token=r1["token"])[0] == 401
    st, e, _ = api.call("POST", "/api/v1/session/refresh", {"refresh_token": r1["refresh_token"]})
    assert st == 401
    # sign-out ends this session only; revoke-all ends every one
    a = sign_in(api, user)
    c = sign_in(api, user)
    st, sl, _ = api.call("GET", "/api/v1/sessions", token=a["token"])
    assert st == 200 and sum(1 for x in sl["sessions"] if x["current"]) == 1
    assert api.call("POST", "/api/v1/session/logout", {}, token=a["token"])[0] == 200
    assert api.call("GET", "/api/v1/me", token=a["token"])[0] == 401
    assert api.call("GET", "/api/v1/me", token=c["token"])[0] == 200
    d2 = sign_in(api, user)
    assert api.call("POST", "/api/v1/sessions/revoke-all", {}, token=d2["token"])[0] == 200
    assert api.call("GET", "/api/v1/me", token=c["token"])[0] == 401
    assert api.call("POST", "/api/v1/session/refresh", {"refresh_token": c["refresh_token"]})[0] == 401
    # UserRegistered left through the outbox onto the bus
    deadline = time.time() + 10
    found = False
    while time.time() < deadline and not found:
        con = sqlite3.connect(os.path.join(env.dir, "core", "bus.db"))
        rows = con.execute("SELECT value FROM log WHERE topic = 'fit.identity.v1'").fetchall()
        con.close()
        found = any(b"fit.user.registered.v1" in bytes(r[0]) and
                    f'"user_id":{b["user"]["id"]}'.encode() in bytes(r[0]).replace(b" ", b"")
                    for r in rows)
        time.sleep(0.1)
    assert found


# ---------------------------------------------------------------- 2FA

def test_concurrent_sign_ins_share_commits_not_results(env):
    """Sign-ins arriving together are written in shared transactions (group
    commit, ADR 0005). Each still gets its own answer: the same init data
    sent by many connections at once is accepted exactly once (the others
    are replays), every distinct user gets one account and a working
    session, and a user signing in on many connections at once gets
    distinct sessions."""
    import threading

    api = env.api
    same = init_data(tg_user("Twin"), DEV_BOT_TOKEN)
    distinct = [tg_user(f"Crowd{i}") for i in range(40)]
    repeat = tg_user("Busy")
    repeat_data = [init_data(dict(repeat), DEV_BOT_TOKEN) for _ in range(10)]
    jobs = [("same", same)] * 12 + [("distinct", init_data(u, DEV_BOT_TOKEN)) for u in distinct]
    jobs += [("repeat", d) for d in repeat_data]
    results = []
    lock = threading.Lock()
    start = threading.Barrier(len(jobs))

    def run(kind, data):
        start.wait()
        st, body, _ = api.call("POST", "/api/v1/session", {"init_data": data})
        with lock:
            results.append((kind, st, body))

    threads = [threading.Thread(target=run, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    same_ok = [b for k, st, b in results if k == "same" and st == 200]
    same_replay = [b for k, st, b in results if k == "same" and st == 409]
    assert len(same_ok) == 1 and len(same_replay) == 11, [(k, st) for k, st, _ in results]
    assert all(b["error"] == "replay" for b in same_replay)
    ok = [b for k, st, b in results if k == "distinct" and st == 200]
    assert len(ok) == len(distinct)
    assert len({b["user"]["id"] for b in ok}) == len(distinct)  # one account each
    assert all(b["registered"] for b in ok)
    rep = [b for k, st, b in results if k == "repeat"]
    assert all(st == 200 for k, st, _ in results if k == "repeat")
    assert len({b["user"]["id"] for b in rep}) == 1  # one account, however many at once
    assert sum(b["registered"] for b in rep) == 1
    assert len({b["session_id"] for b in rep}) == len(rep)
    # every session works, and its refresh token names it
    for b in ok[:5] + rep[:3]:
        st, me, _ = api.call("GET", "/api/v1/me", token=b["token"])
        assert st == 200 and me["id"] == b["user"]["id"]
        assert b["refresh_token"].startswith(f"{b['session_id']}.")
    # UserRegistered once per account, in the same transaction as the account
    con = sqlite3.connect(env.db)
    try:
        n = con.execute("SELECT count(*) FROM identity_audit WHERE event = 'registered' AND "
                        "user_id = ?", (rep[0]["user"]["id"],)).fetchone()[0]
    finally:
        con.close()
    assert n == 1


def enable_totp(api, token):
    st, s, _ = api.call("POST", "/api/v1/me/2fa/totp/setup", {}, token=token)
    assert st == 200, s
    assert s["qr_svg"].startswith("<svg") and s["secret"] in s["otpauth_uri"]
    assert s["otpauth_uri"].startswith("otpauth://totp/") and "algorithm=SHA1&digits=6&period=30" in s["otpauth_uri"]
    code = totp(s["secret"])
    st, c, _ = api.call("POST", "/api/v1/me/2fa/totp/confirm", {"code": code}, token=token)
    assert st == 200, c
    return s["secret"], c["backup_codes"], code


def test_totp_backup_codes_throttle(env):
    api = env.api
    user = tg_user("Boris")
    b = sign_in(api, user)
    assert api.call("POST", "/api/v1/me/2fa/totp/confirm", {"code": "000000"}, token=b["token"])[0] in (400, 401)
    secret, codes, used = enable_totp(api, b["token"])
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", c) for c in codes)  # 80 bits each
    st, s, _ = api.call("GET", "/api/v1/me/2fa", token=b["token"])
    assert s["totp"]["enabled"] and s["backup_codes_left"] == 10
    # stored: sealed secret, hashed backup codes
    con = sqlite3.connect(env.db)
    sealed = con.execute("SELECT sealed, key_id FROM identity_totp WHERE user_id = ?",
                         (b["user"]["id"],)).fetchone()
    hashes_ = [r[0] for r in con.execute("SELECT hash FROM identity_backup_codes WHERE user_id = ?",
                                          (b["user"]["id"],))]
    con.close()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert key not in bytes(sealed[0]) and len(bytes(sealed[0])) == 20 + 40 and sealed[1]
    assert all(c.encode() not in bytes(h) and len(bytes(h)) == 32 for c, h in zip(codes, hashes_))

    # sign-in now asks for the second factor, without giving a token
    st, ch, _ = api.call("POST", "/api/v1/session", {"init_data": init_data(user, DEV_BOT_TOKEN)})
    assert st == 200 and ch["mfa_required"] and "token" not in ch and "totp" in ch["methods"]
    # the code used to confirm is spent (each step once)
    st, e, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "totp", "code": used})
    assert st == 401 and e["error"] == "code_invalid"
    nxt = totp(secret, time.time() + 30)  # T+1 is inside the window
    st, sess, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "totp", "code": nxt})
    assert st == 200 and sess["token"], sess
    st, me, _ = api.call("GET", "/api/v1/me", token=sess["token"])
    assert me["mfa_ms"] > 0
    # the mfa token is single use, and the same code again is a replay
    st, e, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "totp", "code": nxt})
    assert st == 401
    ch2 = sign_in(api, user)
    assert api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch2["mfa_token"], "method": "totp", "code": nxt})[0] == 401
    # a backup code works once
    st, s2, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch2["mfa_token"], "method": "backup", "code": codes[0].lower()})
    assert st == 200 and s2["token"]
    ch3 = sign_in(api, user)
    assert api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch3["mfa_token"], "method": "backup", "code": codes[0]})[0] == 401
    # growing delays: after a few wrong codes the account must wait
    statuses = []
    for _ in range(6):
        st, e, h = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch3["mfa_token"], "method": "totp", "code": "000000"})
        statuses.append(st)
        if st == 429:
            assert int(h["Retry-After"]) >= 1
            break
    assert statuses[-1] == 429 and statuses[:-1] == [401] * (len(statuses) - 1), statuses
    time.sleep(int(h["Retry-After"]) + 0.2)
    st, s3, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch3["mfa_token"], "method": "backup", "code": codes[1]})
    assert st == 200, s3
    # lockout at 100 consecutive failures (the counter is set close to it here)
    con = sqlite3.connect(env.db)
    con.execute("UPDATE identity_throttle SET failures = 99, next_ms = 0 WHERE user_id = ?", (b["user"]["id"],))
    con.execute("INSERT OR REPLACE INTO identity_throttle(user_id, failures, next_ms) VALUES(?, 99, 0)", (b["user"]["id"],))
    con.commit()
    con.close()
    ch4 = sign_in(api, user)
    assert api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch4["mfa_token"], "method": "totp", "code": "000000"})[0] == 423
    st, e, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch4["mfa_token"], "method": "backup", "code": codes[2]})
    assert st == 423 and e["error"] == "locked"
    # an operator lifts the lockout (admin token; internal and user tokens may not)
    unlock = f"/admin/v1/users/{b['user']['id']}/unlock"
    assert api.call("POST", unlock, {}, token=b["token"])[0] == 403
    assert api.call("POST", unlock, {}, token=cli(env, "token", "notifier"))[0] == 403
    admin = cli(env, "token", "ops-anna", "--admin")
    st, u, _ = api.call("POST", unlock, {}, token=admin)
    assert st == 200 and u["unlocked"]
    st, au, _ = api.call("GET", f"/admin/v1/users/{b['user']['id']}/audit", token=admin)
    assert st == 200 and au["events"][0]["event"] == "unlocked" and au["events"][0]["detail"] == "ops-anna"
    assert api.call("GET", f"/admin/v1/users/{b['user']['id']}/audit", token=b["token"])[0] == 403
    st, s4, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch4["mfa_token"], "method": "backup", "code": codes[2]})
    assert st == 200, s4
    # support resets the second factors of someone who lost them all
    reset = f"/admin/v1/users/{b['user']['id']}/2fa/reset"
    assert api.call("POST", reset, {}, token=s4["token"])[0] == 403
    assert api.call("POST", reset, {}, token=admin)[0] == 200
    assert "token" in sign_in(api, user)
    # the audit log has the story
    st, au, _ = api.call("GET", "/api/v1/me/audit", token=s3["token"])
    events = [x["event"] for x in au["events"]]
    for ev in ("registered", "2fa_enabled", "mfa_failed", "mfa_ok", "backup_code_used", "mfa_locked", "unlocked",
               "2fa_disabled"):
        assert ev in events, events


def test_sms_telegram_email_codes(env):
    api = env.api
    user = tg_user("Vera")
    b = sign_in(api, user)
    tok = b["token"]
    # SMS: enrol the phone with a code sent through the gateway
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "sms", "destination": "12345"}, token=tok)
    assert st == 400
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "sms", "destination": "+4915112345678"}, token=tok)
    assert st == 200, r
    assert env.fakes.sms[-1][0] == "+4915112345678"
    code = last_code([t for _, t in env.fakes.sms])
    wrong = "%06d" % ((int(code) + 1) % 1000000)
    assert api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "sms", "code": wrong}, token=tok)[0] == 401
    st, c, _ = api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "sms", "code": code}, token=tok)
    assert st == 200 and len(c["backup_codes"]) == 10
    assert api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "sms", "code": code}, token=tok)[0] == 401
    # sign in with an SMS code
    ch = sign_in(api, user)
    assert ch["mfa_required"] and "sms" in ch["methods"]
    n = len(env.fakes.sms)
    st, r, _ = api.call("POST", "/api/v1/session/mfa/send", {"mfa_token": ch["mfa_token"], "method": "sms"})
    assert st == 200 and len(env.fakes.sms) == n + 1
    code = last_code([t for _, t in env.fakes.sms])
    # expired codes are refused (the clock is moved in the table)
    con = sqlite3.connect(env.db)
    con.execute("UPDATE identity_oob_codes SET expires_ms = 1 WHERE id = (SELECT max(id) FROM identity_oob_codes)")
    con.commit()
    con.close()
    assert api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "sms", "code": code})[0] == 401
    # one code per 30 s per channel: move the last one back in time
    st, e, h = api.call("POST", "/api/v1/session/mfa/send", {"mfa_token": ch["mfa_token"], "method": "sms"})
    assert st == 429 and e["error"] == "rate_limited" and h["Retry-After"]
    age_codes(env)
    st, r, _ = api.call("POST", "/api/v1/session/mfa/send", {"mfa_token": ch["mfa_token"], "method": "sms"})
    assert st == 200, r
    code = last_code([t for _, t in env.fakes.sms])
    st, s, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "sms", "code": code})
    assert st == 200 and s["token"]
    ch2 = sign_in(api, user)  # the used code does not work again
    assert api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch2["mfa_token"], "method": "sms", "code": code})[0] == 401
    tok = s["token"]
    # adding another factor to a protected account needs a fresh second factor
    con = sqlite3.connect(env.db)
    con.execute("UPDATE identity_sessions SET mfa_ms = 0 WHERE id = ?", (s["session_id"],))
    con.execute("UPDATE identity_oob_codes SET created_ms = created_ms - 31000")
    con.commit()
    con.close()
    st, e, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "telegram"}, token=tok)
    assert st == 403 and e["error"] == "second_factor_required" and "sms" in e["methods"]
    assert api.call("POST", "/api/v1/me/2fa/step-up/send", {"method": "sms"}, token=tok)[0] == 200
    code = last_code([t for _, t in env.fakes.sms])
    st, r, _ = api.call("POST", "/api/v1/me/2fa/step-up", {"method": "sms", "code": code}, token=tok)
    assert st == 200 and r["ok"]
    # Telegram codes go to the user's chat through the Bot API
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "telegram"}, token=tok)
    assert st == 200, r
    assert env.fakes.telegram[-1][0] == user["id"]
    code = last_code([t for _, t in env.fakes.telegram])
    assert api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "telegram", "code": code}, token=tok)[0] == 200
    # e-mail: a real SMTP server; recovery only, never a sign-in factor
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "email", "destination": "vera@example.org"}, token=tok)
    assert st == 200 and r["recovery_only"], r
    deadline = time.time() + 5
    while not env.smtp.messages and time.time() < deadline:
        time.sleep(0.05)
    frm, to, text = env.smtp.messages[-1]
    assert to == ["vera@example.org"] and frm == "noreply@fitgate.test"
    code = re.search(r"\b(\d{6})\b", text).group(1)
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "email", "code": code}, token=tok)
    assert st == 200 and r["recovery_only"]
    st, s, _ = api.call("GET", "/api/v1/me/2fa", token=tok)
    assert s["sms"]["enabled"] and s["email"]["enabled"] and s["email"]["recovery_only"]
    assert "email" not in s["methods"] and "telegram" in s["methods"]
    ch3 = sign_in(api, user)
    st, e, _ = api.call("POST", "/api/v1/session/mfa/send", {"mfa_token": ch3["mfa_token"], "method": "email"})
    assert st == 400 and e["error"] == "email_recovery_only"
    # the notifier's contact lookup sees the verified details
    st, me, _ = api.call("GET", "/api/v1/me", token=tok)
    assert me["phone"] == "+4915112345678" and me["email"] == "vera@example.org"
    assert not env.fakes.rejected, env.fakes.rejected


def test_step_up_and_legacy_link(env):
    api = env.api
    user = tg_user("Anna")
    b = sign_in(api, user)
    tok = b["token"]
    creds = {"login": "anna@example.ru", "password": "anna-secret-1"}
    # no second factor at all yet: set one up first
    st, e, _ = api.call("POST", "/api/v1/me/legacy", creds, token=tok)
    assert st == 403 and e["error"] == "second_factor_setup_required"
    secret, codes, _ = enable_totp(api, tok)
    # a session that proved a factor minutes ago may link; a fresh one may not
    ch = sign_in(api, user)
    st, s, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "backup", "code": codes[0]})
    assert st == 200
    con = sqlite3.connect(env.db)
    con.execute("UPDATE identity_sessions SET mfa_ms = mfa_ms - 3600000 WHERE id = ?", (s["session_id"],))
    con.commit()
    con.close()
    st, e, _ = api.call("POST", "/api/v1/me/legacy", creds, token=s["token"])
    assert st == 403 and e["error"] == "second_factor_required"
    # wrong password (with a fresh factor in the request)
    st, e, _ = api.call("POST", "/api/v1/me/legacy", {**creds, "password": "nope", "method": "backup", "code": codes[1]},
                        token=s["token"])
    assert st == 401 and e["error"] == "legacy_login_invalid"
    # the step-up from that request is now fresh: link
    st, r, _ = api.call("POST", "/api/v1/me/legacy", creds, token=s["token"])
    assert st == 200 and r["linked"] and r["legacy_id"] > 0, r
    st, g, _ = api.call("GET", "/api/v1/me/legacy", token=s["token"])
    assert g["linked"] and g["legacy_id"] == r["legacy_id"]
    # another user cannot link the same old account
    other = sign_in(api, tg_user("Mallory"))
    _, oc, _ = enable_totp(api, other["token"])
    st, e, _ = api.call("POST", "/api/v1/me/legacy", creds, token=other["token"])
    assert st == 409, e
    # disabling 2FA is a sensitive action too
    assert api.call("POST", "/api/v1/me/2fa/totp/disable", {}, token=s["token"])[0] == 200  # step-up fresh
    st, st2, _ = api.call("GET", "/api/v1/me/2fa", token=s["token"])
    assert not st2["totp"]["enabled"]


def test_whatsapp_webhook_link_and_code(env):
    api = env.api
    # handshake
    st, body, _ = api.call("GET", f"/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={WA_VERIFY}&hub.challenge=1158201444")
    assert st == 200 and body == "1158201444"
    assert api.call("GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")[0] == 403
    msg = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": "Wanda"}, "wa_id": "4917600000001", "user_id": "US.1349120865530274"}],
        "messages": [{"from": "4917600000001", "id": "wamid.A1", "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": "login"}}]}}]}]}
    raw = json.dumps(msg).encode()
    sig = "sha256=" + hmac.new(WA_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    # unsigned / wrongly signed bodies are refused before parsing
    assert api.call("POST", "/webhooks/whatsapp", raw=raw)[0] == 401
    assert api.call("POST", "/webhooks/whatsapp", raw=raw, headers={"X-Hub-Signature-256": sig[:-1] + ("1" if sig[-1] == "0" else "0")})[0] == 401
    n = len(env.fakes.whatsapp)
    assert api.call("POST", "/webhooks/whatsapp", raw=raw, headers={"X-Hub-Signature-256": sig})[0] == 200
    assert api.call("POST", "/webhooks/whatsapp", raw=raw, headers={"X-Hub-Signature-256": sig})[0] == 200  # redelivery
    assert len(env.fakes.whatsapp) == n + 1
    link = env.fakes.whatsapp[-1]
    assert link["to"] == "4917600000001" and link["type"] == "text"
    code = re.search(r"#/code/([\w-]+)", link["text"]["body"]).group(1)
    st, s, _ = api.call("POST", "/api/v1/session/code", {"code": code})
    assert st == 200 and s["registered"] and s["token"], s
    assert api.call("POST", "/api/v1/session/code", {"code": code})[0] == 401  # once
    st, me, _ = api.call("GET", "/api/v1/me", token=s["token"])
    subs = {i["subject"] for i in me["identities"]}
    assert "u:US.1349120865530274" in subs and "p:4917600000001" in subs
    # the web app: a code through the authentication template, same user by phone
    st, r, _ = api.call("POST", "/api/v1/whatsapp/code", {"phone": "+4917600000001"})
    assert st == 200, r
    tpl = env.fakes.whatsapp[-1]
    assert tpl["type"] == "template" and tpl["template"]["name"] == "fitgate_code"
    wcode = tpl["template"]["components"][0]["parameters"][0]["text"]
    assert api.call("POST", "/api/v1/whatsapp/session", {"phone": "4917600000001", "code": "000000" if wcode != "000000" else "111111"})[0] == 401
    st, s2, _ = api.call("POST", "/api/v1/whatsapp/session", {"phone": "4917600000001", "code": wcode})
    assert st == 200 and s2["user"]["id"] == s["user"]["id"] and not s2["registered"]
    assert api.call("POST", "/api/v1/whatsapp/session", {"phone": "4917600000001", "code": wcode})[0] == 401
    # WhatsApp as a second factor: codes through the authentication template
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "whatsapp"}, token=s2["token"])
    assert st == 200, r
    tpl = env.fakes.whatsapp[-1]
    assert tpl["to"] == "4917600000001" and tpl["type"] == "template"
    wcode = tpl["template"]["components"][0]["parameters"][0]["text"]
    st, c, _ = api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "whatsapp", "code": wcode}, token=s2["token"])
    assert st == 200 and len(c["backup_codes"]) == 10
    st, ch, _ = api.call("POST", "/api/v1/whatsapp/code", {"phone": "4917600000001"})
    assert st == 429  # one code per 30 s per phone
    # link Telegram to the same account; unlink; never the last identity
    tgu = tg_user("Wanda")
    st, r, _ = api.call("POST", "/api/v1/me/identities/telegram", {"init_data": init_data(tgu, DEV_BOT_TOKEN)}, token=s2["token"])
    assert st == 200, r
    st, me, _ = api.call("GET", "/api/v1/me", token=s2["token"])
    assert {i["provider"] for i in me["identities"]} == {"whatsapp", "telegram"}
    # that Telegram account now signs in to the same user (which has 2FA now)
    ch = sign_in(api, tgu)
    assert ch["mfa_required"] and "whatsapp" in ch["methods"]
    st, s3, _ = api.call("POST", "/api/v1/session/mfa",
                         {"mfa_token": ch["mfa_token"], "method": "backup", "code": c["backup_codes"][0]})
    assert st == 200 and s3["user"]["id"] == s["user"]["id"]
    for ident in me["identities"][:-1]:
        assert api.call("DELETE", f"/api/v1/me/identities/{ident['provider']}/{ident['subject']}", token=s2["token"])[0] == 200
    last = me["identities"][-1]
    st, e, _ = api.call("DELETE", f"/api/v1/me/identities/{last['provider']}/{last['subject']}", token=s2["token"])
    assert st == 409 and e["error"] == "last_identity"


def test_wechat_code2session(env):
    api = env.api
    v = json.load(open(os.path.join(VECTORS, "wechat-miniprogram.json")))
    dec = v["decrypt"][0]
    openid = json.loads(dec["plaintext"])["openId"]
    env.fakes.wx_codes["code-1"] = {"openid": openid, "session_key": dec["session_key"], "unionid": "u-1"}
    st, s, _ = api.call("POST", "/api/v1/wechat/session",
                        {"code": "code-1", "encrypted_data": dec["encrypted_data"], "iv": dec["iv"]})
    assert st == 200 and s["registered"], s
    assert "session_key" not in json.dumps(s) and dec["session_key"] not in json.dumps(s)
    # codes are single use at WeChat: 40029 -> 401
    st, e, _ = api.call("POST", "/api/v1/wechat/session", {"code": "code-1"})
    assert st == 401 and e["error"] == "code_invalid"
    # rawData signature under this session key (vector X2)
    sigv = v["raw_data_signature"][0]
    env.fakes.wx_codes["code-2"] = {"openid": "o-raw", "session_key": sigv["session_key"]}
    st, s2, _ = api.call("POST", "/api/v1/wechat/session",
                         {"code": "code-2", "raw_data": sigv["raw_data"], "signature": sigv["signature"]})
    assert st == 200 and s2["user"]["first_name"] == "Band"
    env.fakes.wx_codes["code-3"] = {"openid": "o-raw2", "session_key": sigv["session_key"]}
    st, e, _ = api.call("POST", "/api/v1/wechat/session",
                        {"code": "code-3", "raw_data": sigv["raw_data"] + " ", "signature": sigv["signature"]})
    assert st == 401 and e["error"] == "bad_signature"
    # someone else's encryptedData (openId mismatch) is refused
    env.fakes.wx_codes["code-4"] = {"openid": "o-other", "session_key": dec["session_key"]}
    st, e, _ = api.call("POST", "/api/v1/wechat/session",
                        {"code": "code-4", "encrypted_data": dec["encrypted_data"], "iv": dec["iv"]})
    assert st == 401


def test_initdata_cli():
    v = json.load(open(os.path.join(VECTORS, "telegram-initdata.json")))
    for t in v["miniapp"]:
        if t.get("bot_token") is None:
            continue
        r = subprocess.run([os.path.join(BIN, "fitgate-core"), "initdata", "verify", "--bot-token", t["bot_token"],
                            "--max-age", str(t.get("max_age_s", 0)), t["init_data"]],
                           capture_output=True, text=True)
        out = json.loads(r.stdout)
        assert out["valid"] == t["valid"] and r.returncode == (0 if t["valid"] else 1), (t["name"], out)
        if t["valid"] and "user_id" in t:
            assert out["user_id"] == t["user_id"]


def widget_fields(user_id, name, token=DEV_BOT_TOKEN, auth_date=None):
    f = {"id": user_id, "first_name": name, "username": f"w{user_id}",
         "auth_date": int(auth_date or time.time())}
    dcs = "\n".join(f"{k}={f[k]}" for k in sorted(f))
    f["hash"] = hmac.new(hashlib.sha256(token.encode()).digest(), dcs.encode(), hashlib.sha256).hexdigest()
    return f


def test_telegram_login_widget(env):
    api = env.api
    f = widget_fields(880000001, "Web")
    st, s, _ = api.call("POST", "/api/v1/session/telegram-login", f)
    assert st == 200 and s["token"] and s["user"]["tg_id"] == 880000001, s
    assert api.call("POST", "/api/v1/session/telegram-login", f)[0] == 409  # once
    g = widget_fields(880000002, "Web")
    g["first_name"] = "Mallory"
    assert api.call("POST", "/api/v1/session/telegram-login", g)[1]["error"] == "bad_signature"
    old = widget_fields(880000003, "Web", auth_date=time.time() - 3 * 86400)
    assert api.call("POST", "/api/v1/session/telegram-login", old)[1]["error"] == "expired"
    # the mini app's HMAC (key "WebAppData") is not the widget's (SHA-256 of the token)
    h = widget_fields(880000004, "Web")
    dcs = "\n".join(f"{k}={h[k]}" for k in sorted(h) if k != "hash")
    secret = hmac.new(b"WebAppData", DEV_BOT_TOKEN.encode(), hashlib.sha256).digest()
    h["hash"] = hmac.new(secret, dcs.encode(), hashlib.sha256).hexdigest()
    assert api.call("POST", "/api/v1/session/telegram-login", h)[0] == 401


def cli(env, *args):
    r = subprocess.run([os.path.join(BIN, "fitgate-core"), "identity", *args,
                        f"--data_dir={os.path.join(env.dir, 'core')}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_internal_tokens_and_key_rotation(env):
    api = env.api
    user = tg_user("Ivan")
    b = sign_in(api, user)
    uid = b["user"]["id"]
    path = f"/internal/v1/users/{uid}/contact"
    svc = cli(env, "token", "notifier", "--ttl=600")
    st, c, _ = api.call("GET", path, token=svc)
    assert st == 200 and c["telegram_chat_id"] == user["id"], c
    # an internal token is never a user, a user token never internal
    assert api.call("GET", "/api/v1/me", token=svc)[0] == 403
    assert api.call("GET", path, token=b["token"])[0] == 403
    # rotation by the operator: the running core picks up the new key, old tokens keep working
    kids_before = {k["kid"] for k in api.call("GET", "/.well-known/jwks.json")[1]["keys"]}
    new_kid = json.loads(cli(env, "rotate-keys"))["kid"]
    assert new_kid not in kids_before
    svc2 = cli(env, "token", "notifier")
    assert json.loads(b64d(svc2.split(".")[0]))["kid"] == new_kid
    assert api.call("GET", path, token=svc2)[0] == 200
    kids_after = {k["kid"] for k in api.call("GET", "/.well-known/jwks.json")[1]["keys"]}
    assert new_kid in kids_after and kids_before <= kids_after
    assert api.call("GET", "/api/v1/me", token=b["token"])[0] == 200


def test_backup_codes_sessions_links_and_wechat_errors(env):
    api = env.api
    user = tg_user("Olga")
    b = sign_in(api, user)
    secret, codes, _ = enable_totp(api, b["token"])
    tok = b["token"]  # the session proved TOTP at confirm: step-up is fresh
    # new backup codes replace the old set
    st, r, _ = api.call("POST", "/api/v1/me/2fa/backup-codes", {}, token=tok)
    assert st == 200 and len(r["backup_codes"]) == 10 and not set(r["backup_codes"]) & set(codes)
    ch = sign_in(api, user)
    assert api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "backup", "code": codes[0]})[0] == 401
    st, s2, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "code": r["backup_codes"][0]})
    assert st == 200  # method omitted: a 16-character code is a backup code
    # end another session by id; not someone else's
    st, sl, _ = api.call("GET", "/api/v1/sessions", token=tok)
    other = [x for x in sl["sessions"] if not x["current"]][0]
    assert api.call("DELETE", f"/api/v1/sessions/{other['id']}", token=tok)[0] == 200
    assert api.call("GET", "/api/v1/me", token=s2["token"])[0] == 401
    stranger = sign_in(api, tg_user("Stranger"))
    assert api.call("DELETE", f"/api/v1/sessions/{b['session_id']}", token=stranger["token"])[0] == 404
    assert api.call("GET", "/api/v1/me", token=tok)[0] == 200
    # link WeChat to this account; the same WeChat cannot join another account
    env.fakes.wx_codes["link-1"] = {"openid": "o-olga", "session_key": "tiihtNczf5v6AKRyjwEUhQ=="}
    st, r, _ = api.call("POST", "/api/v1/me/identities/wechat", {"code": "link-1"}, token=tok)
    assert st == 200, r
    env.fakes.wx_codes["link-2"] = {"openid": "o-olga", "session_key": "tiihtNczf5v6AKRyjwEUhQ=="}
    st, e, _ = api.call("POST", "/api/v1/me/identities/wechat", {"code": "link-2"}, token=stranger["token"])
    assert st == 409 and e["error"] == "identity_in_use"
    env.fakes.wx_codes["link-3"] = {"openid": "o-olga", "session_key": "tiihtNczf5v6AKRyjwEUhQ=="}
    st, c, _ = api.call("POST", "/api/v1/wechat/session", {"code": "link-3"})
    assert st == 200 and c["mfa_required"]  # WeChat signs in to Olga, who has TOTP
    # WeChat's error codes (HTTP 200 with errcode) and a broken gateway
    for code, answer, want in (("e1", {"errcode": 45011, "errmsg": "rate"}, 429),
                               ("e2", {"errcode": 40226, "errmsg": "blocked"}, 403),
                               ("e3", {"errcode": -1, "errmsg": "busy"}, 503),
                               ("e4", {"errcode": 0, "session_key": "tiihtNczf5v6AKRyjwEUhQ=="}, 502),
                               ("e5", {"status": 502}, 503)):
        env.fakes.wx_codes[code] = answer
        st, e, _ = api.call("POST", "/api/v1/wechat/session", {"code": code})
        assert st == want, (code, st, e)
    # switch TOTP off (step-up fresh): sign-in needs no second factor any more
    assert api.call("POST", "/api/v1/me/2fa/totp/disable", {}, token=tok)[0] == 200
    assert "token" in sign_in(api, user)
    assert api.call("GET", "/api/v1/me/2fa", token=tok)[1]["backup_codes_left"] == 0
    assert not env.fakes.rejected, env.fakes.rejected


def test_disable_with_code_and_link_whatsapp(env):
    api = env.api
    user = tg_user("Pavel")
    b = sign_in(api, user)
    secret, codes, _ = enable_totp(api, b["token"])
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "sms", "destination": "+79001234567"},
                        token=b["token"])
    assert st == 200, r
    code = last_code([t for to, t in env.fakes.sms if to == "+79001234567"])
    assert api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "sms", "code": code}, token=b["token"])[0] == 200
    # a session whose second factor is old must show one again to switch a factor off
    con = sqlite3.connect(env.db)
    con.execute("UPDATE identity_sessions SET mfa_ms = 1 WHERE id = ?", (b["session_id"],))
    con.commit()
    con.close()
    st, e, _ = api.call("POST", "/api/v1/me/2fa/otp/disable", {"channel": "sms"}, token=b["token"])
    assert st == 403 and e["error"] == "second_factor_required"
    st, e, _ = api.call("POST", "/api/v1/me/2fa/otp/disable", {"channel": "sms", "method": "totp", "code": "000000"},
                        token=b["token"])
    assert st == 401
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/disable",
                        {"channel": "sms", "method": "totp", "code": totp(secret, time.time() + 30)}, token=b["token"])
    assert st == 200, r
    st, s, _ = api.call("GET", "/api/v1/me/2fa", token=b["token"])
    assert not s["sms"]["enabled"] and s["totp"]["enabled"] and s["methods"] == ["totp", "backup"]
    # sign-in codes only for methods the user has
    ch = sign_in(api, user)
    st, e, _ = api.call("POST", "/api/v1/session/mfa/send", {"mfa_token": ch["mfa_token"], "method": "sms"})
    assert st == 400 and e["error"] == "method_not_enabled"
    # everything off at once (step-up fresh from the code above)
    assert api.call("POST", "/api/v1/me/2fa/disable", {}, token=b["token"])[0] == 200
    st, s, _ = api.call("GET", "/api/v1/me/2fa", token=b["token"])
    assert not s["enabled"] and s["backup_codes_left"] == 0
    # link a WhatsApp account with a link code from the bot conversation
    msg = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "contacts": [{"profile": {"name": "Pavel"}, "wa_id": "79001234567"}],
        "messages": [{"from": "79001234567", "id": "wamid.P1", "timestamp": "1", "type": "text",
                      "text": {"body": "Войти"}}]}}]}]}
    raw = json.dumps(msg, ensure_ascii=False).encode()
    sig = "sha256=" + hmac.new(WA_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert api.call("POST", "/webhooks/whatsapp", raw=raw, headers={"X-Hub-Signature-256": sig})[0] == 200
    code = re.search(r"#/code/([\w-]+)", env.fakes.whatsapp[-1]["text"]["body"]).group(1)
    st, r, _ = api.call("POST", "/api/v1/me/identities/whatsapp", {"code": code}, token=b["token"])
    assert st == 200, r
    st, me, _ = api.call("GET", "/api/v1/me", token=b["token"])
    assert {"telegram", "whatsapp"} == {i["provider"] for i in me["identities"]}
    assert api.call("POST", "/api/v1/me/identities/whatsapp", {"code": code}, token=b["token"])[0] == 401


# ---------------------------------------------------------------- recovery by e-mail

def wait_for(pred, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def mails_to(env, addr, needle):
    return [t for _, to, t in list(env.smtp.messages) if to == [addr] and needle in t]


def db_one(env, sql, *args):
    con = sqlite3.connect(env.db)
    try:
        return con.execute(sql, args).fetchone()
    finally:
        con.close()


def enrol_email(api, env, token, addr):
    n = len(mails_to(env, addr, "fitgate code"))
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "email", "destination": addr}, token=token)
    assert st == 200, r
    text = wait_for(lambda: len(mails_to(env, addr, "fitgate code")) > n and mails_to(env, addr, "fitgate code")[-1])
    return re.search(r"\b(\d{6})\b", text).group(1)


RESET_NOTICE = "reset by e-mail recovery"


def test_recovery_by_email(env_all):
    env, api = env_all, env_all.api
    user = tg_user("Rita")
    b = sign_in(api, user)
    uid = b["user"]["id"]
    secret, backup, _ = enable_totp(api, b["token"])
    addr = "rita@example.org"
    code = enrol_email(api, env, b["token"], addr)
    # an e-mail that is not verified yet is no way back into the account
    ch = sign_in(api, user)
    st, e, _ = api.call("POST", "/api/v1/session/recovery/send", {"mfa_token": ch["mfa_token"]})
    assert st == 400 and e["error"] == "recovery_email_unverified", e
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "email", "code": code}, token=b["token"])
    assert st == 200 and r["recovery_only"], r
    # another device is signed in (it must be signed out by the recovery)
    st, other, _ = api.call("POST", "/api/v1/session/mfa",
                            {"mfa_token": sign_in(api, user)["mfa_token"], "method": "backup", "code": backup[0]})
    assert st == 200, other
    # the person lost the authenticator: first factor, then a code by e-mail
    ch = sign_in(api, user)
    assert ch["mfa_required"]
    assert api.call("POST", "/api/v1/session/recovery/send", {"mfa_token": "x" * 43})[1]["error"] == "mfa_token_invalid"
    st, r, _ = api.call("POST", "/api/v1/session/recovery/send", {"mfa_token": ch["mfa_token"]})
    assert st == 200 and r["sent"] and r["destination"] == "r***@example.org", r
    import yaml
    spec = yaml.safe_load(open(os.path.join(ROOT, "docs", "api", "openapi.yaml")))
    check_schema(spec, spec["components"]["schemas"]["RecoverySent"], r)
    text = wait_for(lambda: mails_to(env, addr, "recovery code"))
    assert len(text) == 1, text
    rcode = re.search(r"\b(\d{6})\b", text[0]).group(1)
    st, e, h = api.call("POST", "/api/v1/session/recovery/send", {"mfa_token": ch["mfa_token"]})
    assert st == 429 and e["error"] == "rate_limited" and h["Retry-After"]  # throttled like any code
    # a wrong code counts in the account's second-factor failure counter
    wrong = "%06d" % ((int(rcode) + 1) % 1000000)
    st, e, _ = api.call("POST", "/api/v1/session/recovery", {"mfa_token": ch["mfa_token"], "code": wrong})
    assert st == 401 and e["error"] == "code_invalid", e
    assert db_one(env, "SELECT failures FROM identity_throttle WHERE user_id = ?", uid) == (1,)
    # e-mail codes still never pass as a second factor
    st, e, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "email", "code": rcode})
    assert st in (400, 401) and "token" not in e
    # the right code: a session, 2FA reset, everything else signed out
    st, s, _ = api.call("POST", "/api/v1/session/recovery", {"mfa_token": ch["mfa_token"], "code": rcode})
    assert st == 200 and s["token"] and not s["mfa_required"] and s["user"]["id"] == uid, s
    check_schema(spec, spec["components"]["schemas"]["Session"], s)
    assert db_one(env, "SELECT count(*) FROM identity_throttle WHERE user_id = ?", uid) == (0,)
    assert api.call("POST", "/api/v1/session/recovery", {"mfa_token": ch["mfa_token"], "code": rcode})[1]["error"] \
        == "mfa_token_invalid"  # the sign-in it finished is used up
    st, f, _ = api.call("GET", "/api/v1/me/2fa", token=s["token"])
    assert st == 200 and not f["enabled"] and not f["totp"]["enabled"] and f["methods"] == [], f
    assert f["backup_codes_left"] == 0 and f["email"]["enabled"] and not f["step_up_fresh"]
    for old in (b["token"], other["token"]):
        assert api.call("GET", "/api/v1/me", token=old)[0] == 401
    assert api.call("POST", "/api/v1/session/refresh", {"refresh_token": other["refresh_token"]})[0] == 401
    assert api.call("GET", "/api/v1/me", token=s["token"])[0] == 200
    # the recovered session proved no second factor: sensitive actions stay closed
    st, e, _ = api.call("POST", "/api/v1/me/legacy", {"login": "anna@example.ru", "password": "x"}, token=s["token"])
    assert st == 403 and e["error"] == "second_factor_setup_required", e
    st, au, _ = api.call("GET", "/api/v1/me/audit", token=s["token"])
    events = [a["event"] for a in (au["events"] if isinstance(au, dict) else au)]
    assert "2fa_recovered" in events and "recovery_code_sent" in events
    # TwoFactorAuthDisabled went out; the notifier tells the user on every channel, once
    tg = wait_for(lambda: [t for c, t in list(env.fakes.telegram) if c == user["id"] and RESET_NOTICE in t])
    mail = wait_for(lambda: mails_to(env, addr, RESET_NOTICE))
    time.sleep(1.5)  # nothing more comes
    assert len([t for c, t in list(env.fakes.telegram) if c == user["id"] and RESET_NOTICE in t]) == 1, tg
    assert len(mails_to(env, addr, RESET_NOTICE)) == 1, mail
    # the same code does not work twice, even once the cooldown is over
    enable_totp(api, s["token"])
    ch2 = sign_in(api, user)
    st, e, h = api.call("POST", "/api/v1/session/recovery/send", {"mfa_token": ch2["mfa_token"]})
    assert st == 429 and e["error"] == "recovery_cooldown" and int(h["Retry-After"]) > 3600, e
    con = sqlite3.connect(env.db)
    con.execute("UPDATE identity_recovery SET ts_ms = ts_ms - 25 * 3600 * 1000 WHERE user_id = ?", (uid,))
    con.commit()
    con.close()
    st, e, _ = api.call("POST", "/api/v1/session/recovery", {"mfa_token": ch2["mfa_token"], "code": rcode})
    assert st == 401 and e["error"] == "code_invalid", e
    assert not env.fakes.rejected, env.fakes.rejected


def test_recovery_without_two_factor(env_all):
    env, api = env_all, env_all.api
    user = tg_user("Oleg")
    b = sign_in(api, user)
    enable_totp(api, b["token"])
    enrol = enrol_email(api, env, b["token"], "oleg@example.org")
    assert api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "email", "code": enrol}, token=b["token"])[0] == 200
    ch = sign_in(api, user)
    # support switched 2FA off meanwhile: nothing to recover, and the answer says so
    admin = cli(env, "token", "ops-anna", "--admin")
    assert api.call("POST", f"/admin/v1/users/{b['user']['id']}/2fa/reset", {}, token=admin)[0] == 200
    for path, body in (("/api/v1/session/recovery/send", {"mfa_token": ch["mfa_token"]}),
                       ("/api/v1/session/recovery", {"mfa_token": ch["mfa_token"], "code": "123456"})):
        st, e, _ = api.call("POST", path, body)
        assert st == 409 and e["error"] == "two_factor_not_enabled", e
    assert not mails_to(env, "oleg@example.org", "recovery code")


# ---------------------------------------------------------------- WhatsApp users known by BSUID only

def wa_post(api, msg):
    raw = json.dumps(msg).encode()
    sig = "sha256=" + hmac.new(WA_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return api.call("POST", "/webhooks/whatsapp", raw=raw, headers={"X-Hub-Signature-256": sig})[0]


def wa_bsuid_message(bsuid, msg_id, text):
    # a user with a username: no wa_id / from, only the business-scoped user id
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": "Uma"}, "user_id": bsuid, "username": "@uma"}],
        "messages": [{"from_user_id": bsuid, "id": msg_id, "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": text}}]}}]}]}


def test_whatsapp_bsuid_only_user(env):
    api, fakes = env.api, env.fakes
    bsuid = "DE.88123456789012345abc"
    n = len(fakes.whatsapp)
    assert wa_post(api, wa_bsuid_message(bsuid, "wamid.B1", "Login")) == 200
    assert len(fakes.whatsapp) == n + 1, fakes.rejected
    link = fakes.whatsapp[-1]
    # the Cloud API's BSUID addressing: "recipient", and no "to"
    assert link["recipient"] == bsuid and "to" not in link and link["type"] == "text", link
    tok = re.search(r"#/code/([\w-]+)", link["text"]["body"]).group(1)
    st, s, _ = api.call("POST", "/api/v1/session/code", {"code": tok})
    assert st == 200 and s["registered"], s
    st, me, _ = api.call("GET", "/api/v1/me", token=s["token"])
    assert [i["subject"] for i in me["identities"]] == ["u:" + bsuid]
    # WhatsApp as the second factor: the code comes as a text to the BSUID
    # (authentication templates need a phone; the fake refuses them with 131062)
    st, r, _ = api.call("POST", "/api/v1/me/2fa/otp/start", {"channel": "whatsapp"}, token=s["token"])
    assert st == 200, (r, fakes.rejected)
    msg = fakes.whatsapp[-1]
    assert msg["recipient"] == bsuid and msg["type"] == "text" and "to" not in msg
    code = re.search(r"\b(\d{6})\b", msg["text"]["body"]).group(1)
    st, c, _ = api.call("POST", "/api/v1/me/2fa/otp/confirm", {"channel": "whatsapp", "code": code}, token=s["token"])
    assert st == 200 and len(c["backup_codes"]) == 10, c
    # signing in again: link, then a code at the BSUID as the second factor
    assert wa_post(api, wa_bsuid_message(bsuid, "wamid.B2", "login")) == 200
    tok = re.search(r"#/code/([\w-]+)", fakes.whatsapp[-1]["text"]["body"]).group(1)
    st, ch, _ = api.call("POST", "/api/v1/session/code", {"code": tok})
    assert st == 200 and ch["mfa_required"] and "whatsapp" in ch["methods"], ch
    age_codes(env)
    st, r, _ = api.call("POST", "/api/v1/session/mfa/send", {"mfa_token": ch["mfa_token"], "method": "whatsapp"})
    assert st == 200, r
    msg = fakes.whatsapp[-1]
    assert msg["recipient"] == bsuid and "to" not in msg
    code = re.search(r"\b(\d{6})\b", msg["text"]["body"]).group(1)
    st, s2, _ = api.call("POST", "/api/v1/session/mfa", {"mfa_token": ch["mfa_token"], "method": "whatsapp", "code": code})
    assert st == 200 and s2["user"]["id"] == s["user"]["id"], s2
    assert not fakes.rejected, fakes.rejected
