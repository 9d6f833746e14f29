"""test_openapi.py - docs/api/openapi.yaml is the whole HTTP API of fitgate-core.

1. Against the sources: every route of every route table in cloud/**/*.c
   (method + pattern, a "*" segment = a {param}) is documented, with the
   security its flags demand and its table name as x-fitgate-route; every
   documented operation is in a table (or is the mini app's static files).
   A new route without documentation fails here.
2. Against a running fitgate-core (all roles, brokers, shop with a local
   ЮKassa, gateway enrolment, a stand-in gateway on the cloud broker):
   every documented operation is called. It reaches its route (the route's
   request counter moves; never 405; 404 only where documented), a secured
   one answers 401 without a token and 403 to a token of another kind, and
   with the right token the status is a documented one and a JSON answer
   matches the documented schema. Then the main journeys (sign-in, /me,
   devices, nearby, pairing and its errors, gym session, OTA update state,
   progress, achievements, analytics, shop catalogue/cart/checkout/orders,
   enrolment, health) are checked against their schemas, and mutated answers
   are shown to fail the checker.
"""
import base64
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from fakes.yookassa import FakeYooKassa  # noqa: E402
from pki import Pki  # noqa: E402
from stack import BIN, ROOT, Stack  # noqa: E402
from tginit import DEV_BOT_TOKEN, init_data  # noqa: E402

SPEC_PATH = os.path.join(ROOT, "docs", "api", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch")
GW = "gw-oa"  # the stand-in gateway
STRAP = "C0:FF:EE:00:0A:01"
MACHINE = "C0:FF:EE:00:0A:05"
# security scheme -> who the server lets in (api_route.h flags)
SCHEME_ACCESS = {"bearer": "user", "sessionCookie": "user", "internalBearer": "internal",
                 "adminBearer": "admin"}
FLAG_ACCESS = {"API_PUBLIC": "public", "API_USER": "user", "API_INTERNAL": "internal",
               "API_ADMIN": "admin"}
CATALOGUE = {"products": [
    {"slug": "strap", "title": "HR strap", "description": "Chest strap", "variants": [
        {"sku": "OA-STRAP", "title": "HR strap", "price_minor": 399000, "currency": "RUB",
         "stock": 100}]},
    {"slug": "bottle", "title": "Bottle", "variants": [
        {"sku": "OA-BOTTLE", "title": "Bottle 750", "price_minor": 129900, "currency": "RUB",
         "stock": 100}]}]}


# ---------------------------------------------------------------- the checker

def load_spec():
    with open(SPEC_PATH) as f:
        return yaml.safe_load(f)


def _schema(spec, s):
    while "$ref" in s:
        node = spec
        for part in s["$ref"].lstrip("#/").split("/"):
            node = node[part]
        s = node
    return s


TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool,
         "number": (int, float), "null": type(None)}


def _is(value, t):
    return isinstance(value, TYPES[t]) and not (t in ("integer", "number")
                                                and isinstance(value, bool))


def check_schema(spec, s, value, where="$"):
    """The subset of JSON Schema the description uses: $ref, oneOf, allOf,
    type (one or a list), required, properties, additionalProperties, items,
    enum, const, maxProperties."""
    s = _schema(spec, s)
    if "oneOf" in s:
        errs = []
        for alt in s["oneOf"]:
            try:
                check_schema(spec, alt, value, where)
                return
            except AssertionError as e:
                errs.append(str(e))
        raise AssertionError(f"{where}: no oneOf branch matches: {errs}")
    for part in s.get("allOf", []):
        check_schema(spec, part, value, where)
    if "const" in s:
        assert value == s["const"], f"{where}: {value!r} != {s['const']!r}"
    if "enum" in s:
        assert value in s["enum"], f"{where}: {value!r} not in {s['enum']}"
    t = s.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        assert any(_is(value, x) for x in ts), f"{where}: {value!r} is not {t}"
    if isinstance(value, dict):
        for k in s.get("required", []):
            assert k in value, f"{where}: missing {k}"
        props = s.get("properties", {})
        for k, sub in props.items():
            if k in value:
                check_schema(spec, sub, value[k], f"{where}.{k}")
        extra = s.get("additionalProperties")
        if extra is False:
            assert set(value) <= set(props), f"{where}: unexpected {set(value) - set(props)}"
        elif isinstance(extra, dict):
            for k in set(value) - set(props):
                check_schema(spec, extra, value[k], f"{where}.{k}")
        if "maxProperties" in s:
            assert len(value) <= s["maxProperties"], f"{where}: too many properties"
    if isinstance(value, list) and "items" in s:
        for i, v in enumerate(value):
            check_schema(spec, s["items"], v, f"{where}[{i}]")


def schema_of(spec, path, method, status, ctype="application/json"):
    r = _schema(spec, spec["paths"][path][method]["responses"][str(status)])
    return r["content"][ctype]["schema"]


def comp(spec, name):
    return spec["components"]["schemas"][name]


# ---------------------------------------------------------------- the sources

ROUTE_RE = re.compile(r'\{\s*"(GET|POST|PUT|PATCH|DELETE)"\s*,\s*"(/[^"]*)"\s*,\s*'
                      r'(API_[A-Z]+(?:\s*\|\s*API_[A-Z]+)*)\s*,\s*"([^"]+)"\s*,')


def source_routes():
    """{(method, pattern): (access, name, file)} from every route table."""
    routes = {}
    for f in sorted(glob.glob(os.path.join(ROOT, "cloud", "**", "*.c"), recursive=True)):
        with open(f, errors="replace") as fh:
            text = fh.read()
        for m in ROUTE_RE.finditer(text):
            flags = [x.strip() for x in m.group(3).split("|")]
            access = [FLAG_ACCESS[x] for x in flags if x != "API_PUBLIC"] or ["public"]
            access = "admin" if "admin" in access else access[0]  # api.c: admin wins
            key = (m.group(1).lower(), m.group(2))
            assert key not in routes, f"{key} in two route tables ({routes.get(key)}, {f})"
            routes[key] = (access, m.group(4), os.path.relpath(f, ROOT))
    return routes


def spec_ops(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def pattern(path):
    return re.sub(r"\{[^}]+\}", "*", path)


def access_of(op):
    kinds = {SCHEME_ACCESS[name] for req in op.get("security", []) for name in req}
    assert len(kinds) <= 1, f"one kind of caller per operation: {kinds}"
    return kinds.pop() if kinds else "public"


OP_KEYS = {"tags", "summary", "description", "operationId", "parameters", "requestBody",
           "responses", "security", "deprecated"}
RESPONSE_KEYS = {"description", "headers", "content", "links"}


def test_spec_matches_route_tables():
    spec = load_spec()
    assert spec["openapi"].startswith("3.1")
    routes = source_routes()
    assert len(routes) >= 75, len(routes)  # the regex still sees the tables
    tags = {t["name"] for t in spec["tags"]}
    documented = {}
    for path, method, op in spec_ops(spec):
        where = f"{method.upper()} {path}"
        assert len(op.get("tags", [])) == 1 and op["tags"][0] in tags, where
        aud = op.get("x-fitgate-audience")
        assert aud in ("mini-app", "internal", "operator", "provider", "gateway", "monitoring",
                       "dev"), where
        acc = access_of(op)
        assert (aud == "internal") == (acc == "internal"), where
        assert (aud == "operator") == (acc == "admin"), where
        for name in re.findall(r"\{([^}]+)\}", path):
            assert any(p["name"] == name and p["in"] == "path" for p in op.get("parameters", [])), \
                f"{where}: path parameter {name} not declared"
        # the shape of OpenAPI 3.1 objects (a YAML slip such as
        # {description: a, text/plain} makes a key of its own)
        assert set(op) <= OP_KEYS or all(k.startswith("x-") for k in set(op) - OP_KEYS), where
        for status, r in op["responses"].items():
            r = _schema(spec, r)
            assert "description" in r and set(r) <= RESPONSE_KEYS, f"{where} {status}: {r}"
            for c in r.get("content", {}).values():
                _schema(spec, c["schema"])  # every $ref resolves
            if str(status)[0] in "45" and "application/json" in r.get("content", {}):
                s = _schema(spec, r["content"]["application/json"]["schema"])
                ok = [comp(spec, "Error"), comp(spec, "CheckoutFailed")]
                if path == "/readyz":
                    ok.append(comp(spec, "Status"))  # 503 {"status": "starting"}
                assert any(s is x for x in ok), f"{where} {status}: errors use the Error schema"
        if op.get("x-fitgate-static"):
            # api_static.c serves every GET outside /api/ and /dev/
            assert method == "get" and not path.startswith(("/api/", "/dev/")), where
            continue
        key = (method, pattern(path))
        assert key in routes, f"{where} is documented but no route table has it"
        access, name, src = routes[key]
        assert op.get("x-fitgate-route") == name, f"{where}: route name {name} ({src})"
        assert acc == access, f"{where}: documented for {acc}, {src} says {access}"
        if access != "public":
            assert "401" in op["responses"], f"{where}: 401 undocumented"
        if access in ("internal", "admin"):
            assert "403" in op["responses"], f"{where}: 403 undocumented"
        documented[key] = where
    # the regex read every entry of every table, and every table is served
    sources = "".join(open(f, errors="replace").read() for f in
                      glob.glob(os.path.join(ROOT, "cloud", "**", "*.c"), recursive=True))
    tables = re.findall(r"const api_route (\w+)\[\] = \{(.*?)\n\};", sources, re.S)
    assert len(tables) >= 8, [t[0] for t in tables]
    for table, entries in tables:
        assert len(re.findall(r"^\s*\{", entries, re.M)) == len(ROUTE_RE.findall(entries)), \
            f"{table}: an entry the route regex does not read"
        assert re.search(r"api_add_routes\([^;]*\b" + table + r"\b", sources), \
            f"{table} is never passed to api_add_routes"
    missing = sorted(f"{m.upper()} {p} ({routes[(m, p)][2]})" for m, p in routes
                     if (m, p) not in documented)
    assert not missing, f"routes without documentation in docs/api/openapi.yaml: {missing}"
    with open(os.path.join(ROOT, "cloud", "api", "api.c")) as f:
        assert "api_static_serve" in f.read()  # the static files are still the fallback


# ---------------------------------------------------------------- the server

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None, token=None, headers=None, cookie=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if cookie:
            req.add_header("Cookie", "fg_session=" + cookie)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            r = OPENER.open(req, timeout=15)
            status, hdrs, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        text = raw.decode(errors="replace")
        if (hdrs.get("Content-Type") or "").startswith("application/json"):
            return status, json.loads(text), hdrs
        return status, text, hdrs

    def counters(self):
        """fitgate_api_requests_total by endpoint."""
        _, text, _ = self.call("GET", "/metrics")
        out = {}
        for m in re.finditer(r'^fitgate_api_requests_total\{endpoint="([^"]+)"\} (\S+)$', text,
                             re.M):
            out[m.group(1)] = float(m.group(2))
        return out


class FakeGateway:
    """The gateway on the cloud broker: a retained nearby snapshot, and an ok
    result for every command (what the edge answers, docs/protocol.md)."""

    def __init__(self, port):
        import paho.mqtt.client as mqtt

        self.cmds = []
        self.c = mqtt.Client(client_id="openapi-gw", protocol=mqtt.MQTTv5)
        self.c.on_message = self.on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(f"fit/v1/gw/{GW}/cmd", qos=1)
        self.snapshot = {"v": 1, "gw": GW, "ts": int(time.time() * 1000), "devices": [
            {"address": STRAP, "name": "Polar H10 A1", "rssi": -48, "battery": 85,
             "services": ["180d", "180f"], "connected": False, "bound": False,
             "seen": int(time.time() * 1000)}]}
        self.c.publish(f"fit/v1/gw/{GW}/nearby", json.dumps(self.snapshot), qos=1, retain=True)
        self.c.loop_start()

    def on_message(self, c, u, m):
        cmd = json.loads(m.payload)
        self.cmds.append(cmd)
        result = {"snapshot": self.snapshot, "bind": {"nearby": True},
                  "update": {"accepted": True}}.get(cmd["op"], {})
        c.publish(f"fit/v1/gw/{GW}/cmd/result",
                  json.dumps({"v": 1, "id": cmd["id"], "op": cmd["op"], "ok": True,
                              "result": result}), qos=1)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def cli_token(env, *args):
    r = subprocess.run([os.path.join(BIN, "fitgate-core"), "identity", "token", *args,
                        f"--data_dir={env.dir}/core"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def env():
    e = type("Env", (), {})()
    e.dir = d = tempfile.mkdtemp(prefix="fitgate-oa-")
    e.yk = FakeYooKassa()
    legacy = os.path.join(d, "legacy.db")
    subprocess.run([os.path.join(ROOT, "cloud/legacy/devdb/make-devdb.sh"), legacy], check=True,
                   capture_output=True)
    with open(os.path.join(d, "catalogue.json"), "w") as f:
        json.dump(CATALOGUE, f)
    for name, value in (("yk.secret", e.yk.secret), ("tg.provider", "381764678:TEST:oa"),
                        ("tg.webhook", "webhook-secret-openapi-0123")):
        with open(os.path.join(d, name), "w") as f:
            f.write(value + "\n")
        os.chmod(os.path.join(d, name), 0o600)
    with open(os.path.join(d, "shop.conf"), "w") as f:
        f.write(f"""catalogue_file = {d}/catalogue.json
yookassa_url = {e.yk.url}
yookassa_shop_id = {e.yk.shop_id}
yookassa_secret_file = {d}/yk.secret
yookassa_notify_ips = 127.0.0.2/32
telegram_api_url = http://127.0.0.1:9
telegram_provider_token_file = {d}/tg.provider
telegram_webhook_secret_file = {d}/tg.webhook
provider_timeout_ms = 1500
""")
    miniapp = os.path.join(d, "miniapp")
    os.makedirs(miniapp)
    with open(os.path.join(miniapp, "index.html"), "w") as f:
        f.write("<!doctype html><title>fitgate</title>\n")
    e.ca = Pki(os.path.join(d, "gw-ca"), "fitgate-gateway-ca")
    e.stack = Stack(d, core_args=[f"--shop-config={d}/shop.conf", f"--legacy-db={legacy}",
                                  f"--enrol-ca-cert={e.ca.ca_crt}",
                                  f"--enrol-ca-key={e.ca.ca_key}",
                                  "--devices-cmd-timeout-ms=1000", f"--miniapp-dir={miniapp}"])
    e.gw = None
    try:
        e.stack.start_brokers()
        e.stack.start_core()
        e.api = Api(e.stack.http_port)
        e.gw = FakeGateway(e.stack.cloud_port)
        e.admin = cli_token(e, "openapi-ops", "--admin")
        e.internal = cli_token(e, "notifier")
        yield e
    finally:
        if e.gw:
            e.gw.close()
        codes = e.stack.stop()
        e.yk.close()
    with open(os.path.join(d, "core.log"), errors="replace") as f:
        log = f.read()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
    if os.environ.get("FITGATE_CHECK_EXIT") == "1":
        assert codes.get("core") == 0, f"fitgate-core exit {codes.get('core')}"
    shutil.rmtree(d, ignore_errors=True)


_next_tg = [760000000]


def tg_user(name):
    _next_tg[0] += 1
    return {"id": _next_tg[0], "first_name": name, "username": f"oa{_next_tg[0]}",
            "language_code": "en"}


def totp(secret_b32, step=30):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(time.time() // step)), hashlib.sha1).digest()
    off = mac[-1] & 15
    return f"{(struct.unpack('>I', mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000:06d}"


def enable_totp(api, token):
    st, s, _ = api.call("POST", "/api/v1/me/2fa/totp/setup", {}, token=token)
    assert st == 200, s
    check_schema(load_spec(), comp(load_spec(), "TotpSetup"), s)
    st, c, _ = api.call("POST", "/api/v1/me/2fa/totp/confirm", {"code": totp(s["secret"])},
                        token=token)
    assert st == 200, c
    return c


def sign_in(api, user=None):
    st, b, _ = api.call("POST", "/api/v1/session", {"init_data": init_data(user or tg_user("Oa"),
                                                                            DEV_BOT_TOKEN)})
    assert st == 200 and b.get("token"), b
    return b


def concrete(path, op):
    """The path with each {param} replaced by its example (else 1), plus the
    required query parameters' examples."""
    params = {p["name"]: p for p in op.get("parameters", [])}

    def sub(m):
        return urllib.parse.quote(str(params[m.group(1)].get("example", 1)), safe=":")
    out = re.sub(r"\{([^}]+)\}", sub, path)
    q = {p["name"]: p["example"] for p in params.values()
         if p["in"] == "query" and p.get("required")}
    return out + ("?" + urllib.parse.urlencode(q) if q else "")


def stream_status(api, path, token):
    """Status and Content-Type of an endless response (its headers only)."""
    req = urllib.request.Request(api.base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type")


# Operations whose effect would end the sweep's session: run last, each with
# a session of its own.
LAST = ("session_logout", "sessions_revoke_all")


def check_operation(spec, api, tokens, path, method, op):
    """Call one documented operation as nobody, as the wrong kind of caller
    and as the right one; AssertionError on the first difference."""
    where = f"{method.upper()} {path}"
    url = concrete(path, op)
    name = op.get("x-fitgate-route", "static")
    body = None if method == "get" else {}
    acc = access_of(op)
    before = api.counters().get(name, 0)
    # no token
    st, b, _ = api.call(method.upper(), url, body)
    assert st != 405, (where, st, b)
    if acc != "public":
        assert st == 401, (where, st, b)
        check_schema(spec, comp(spec, "Error"), b, where)
        st, b, _ = api.call(method.upper(), url, body, token="x.y.z")
        assert st == 401 and b["error"] == "invalid_token", (where, st, b)
    # a token of another kind
    if acc in ("internal", "admin"):
        for other in ("user", "admin" if acc == "internal" else "internal"):
            st, b, _ = api.call(method.upper(), url, body, token=tokens[other])
            assert st == 403 and b["error"] == "wrong_token_type", (where, other, st, b)
    # the right caller
    tok = None if acc == "public" else tokens[acc]
    if name in LAST:
        tok = sign_in(api)["token"]
    if op.get("x-fitgate-stream"):
        st, ctype = stream_status(api, url, tok)
        assert st == 200 and ctype == "text/event-stream", (where, st, ctype)
    else:
        st, b, h = api.call(method.upper(), url, body, token=tok)
        assert str(st) in op["responses"], f"{where}: answered {st} (undocumented): {b}"
        r = _schema(spec, op["responses"][str(st)])
        ctype = (h.get("Content-Type") or "").split(";")[0]
        if r.get("content"):
            assert ctype in r["content"], f"{where} {st}: {ctype} undocumented"
        if ctype == "application/json" and "application/json" in r.get("content", {}):
            check_schema(spec, r["content"]["application/json"]["schema"], b, where)
    # every call above went to this route (not another one, not the router's 404)
    after = api.counters().get(name, 0)
    assert after > before, f"{where}: the request did not reach route {name}"


def test_every_operation_is_served_as_documented(env):
    spec = load_spec()
    api = env.api
    tokens = {"user": sign_in(api)["token"], "internal": env.internal, "admin": env.admin}
    ops = sorted(spec_ops(spec), key=lambda o: o[2].get("x-fitgate-route") in LAST)
    seen, problems = {}, []
    for path, method, op in ops:
        try:
            check_operation(spec, api, tokens, path, method, op)
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
        seen[op["tags"][0]] = seen.get(op["tags"][0], 0) + 1
    assert not problems, "\n".join(problems)
    assert seen.get("identity", 0) >= 40 and seen.get("shop", 0) >= 10, seen
    assert {"devices", "progress", "enrol", "api", "miniapp"} <= set(seen), seen


# ---------------------------------------------------------------- the journeys

def test_journeys_match_the_schemas(env):
    spec = load_spec()
    api = env.api
    # identity: sign-in, /me, refresh, errors, JWKS, a second-factor challenge
    person = tg_user("Schema")
    st, sess, hdrs = api.call("POST", "/api/v1/session",
                              {"init_data": init_data(person, DEV_BOT_TOKEN)})
    assert st == 200 and "fg_session=" in hdrs.get("Set-Cookie", "")
    check_schema(spec, spec["components"]["responses"]["SignIn"]["content"]["application/json"]
                 ["schema"], sess)
    check_schema(spec, comp(spec, "Session"), sess)
    tok = sess["token"]
    _, me, _ = api.call("GET", "/api/v1/me", token=tok)
    check_schema(spec, comp(spec, "User"), me)
    check_schema(spec, comp(spec, "Me"), me)
    with pytest.raises(AssertionError):
        check_schema(spec, comp(spec, "Me"), {**me, "mfa_enabled": "no"})
    st, me2, _ = api.call("GET", "/api/v1/me", cookie=tok)  # the cookie is a user token too
    assert st == 200 and me2["id"] == me["id"]
    _, r, _ = api.call("POST", "/api/v1/session/refresh", {"refresh_token": sess["refresh_token"]})
    check_schema(spec, comp(spec, "Session"), r)
    with pytest.raises(AssertionError):  # the checker does check
        check_schema(spec, comp(spec, "Session"),
                     {k: v for k, v in r.items() if k != "refresh_token"})
    st, e, _ = api.call("POST", "/api/v1/session/refresh", {"refresh_token": "x" * 43})
    assert st == 401
    check_schema(spec, comp(spec, "Error"), e)
    _, jw, _ = api.call("GET", "/.well-known/jwks.json")
    check_schema(spec, schema_of(spec, "/.well-known/jwks.json", "get", 200), jw)
    tok = r["token"]
    me_id = me["id"]

    # gateways: only members see nearby and pair. The operator mints owner
    # claim codes; a stranger is refused; the owner invites a member.
    st, e, _ = api.call("GET", f"/api/v1/gateways/{GW}/nearby", token=tok)
    assert st == 403 and e["error"] == "not_a_member", (st, e)
    check_schema(spec, comp(spec, "Error"), e)
    for gw in (GW, "gw-quiet", "gw-junk", "gw-offline"):
        st, code, _ = api.call("POST", f"/api/v1/admin/gateways/{gw}/claim-code", {"ttl_days": 2},
                               token=env.admin)
        assert st == 201, code
        check_schema(spec, comp(spec, "GatewayCode"), code)
        st, c, _ = api.call("POST", f"/api/v1/gateways/{gw}/claim", {"code": code["code"]},
                            token=tok)
        assert st == 200 and c == {"gateway": gw, "role": "owner"}, c
        check_schema(spec, schema_of(spec, "/api/v1/gateways/{gw}/claim", "post", 200), c)
    st, e, _ = api.call("POST", f"/api/v1/gateways/{GW}/claim", {"code": code["code"]}, token=tok)
    assert st == 403 and e["error"] == "code_invalid", e  # gw-offline's code
    check_schema(spec, comp(spec, "Error"), e)
    st, inv, _ = api.call("POST", f"/api/v1/gateways/{GW}/invites", token=tok)
    assert st == 201 and inv["role"] == "member", inv
    check_schema(spec, comp(spec, "GatewayCode"), inv)
    with pytest.raises(AssertionError):
        check_schema(spec, comp(spec, "GatewayCode"), {**inv, "role": "admin"})
    st, mine, _ = api.call("GET", "/api/v1/gateways", token=tok)
    check_schema(spec, schema_of(spec, "/api/v1/gateways", "get", 200), mine)
    assert sorted(g["gateway"] for g in mine) == sorted([GW, "gw-quiet", "gw-junk", "gw-offline"])
    assert all(g["role"] == "owner" and g["members"][0]["user_id"] == me_id for g in mine), mine

    # devices: nearby (the gateway's retained snapshot, and asked again), pair,
    # list, wheel, a gym machine by QR, unpair; the errors
    deadline = time.time() + 10
    while True:
        st, near, _ = api.call("GET", f"/api/v1/gateways/{GW}/nearby", token=tok)
        if st == 200 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert st == 200, near
    check_schema(spec, comp(spec, "NearbySnapshot"), near)
    st, near, _ = api.call("GET", f"/api/v1/gateways/{GW}/nearby?refresh=1", token=tok)
    assert st == 200, near
    check_schema(spec, comp(spec, "NearbySnapshot"), near)
    st, e, _ = api.call("GET", "/api/v1/gateways/gw-quiet/nearby", token=tok)
    assert st == 404 and e["error"] == "no_snapshot"
    check_schema(spec, comp(spec, "Error"), e)
    # what is not a JSON object is not a snapshot: never served as one
    for gw, junk in ((GW, b"{not json"), ("gw-junk", b"<b>hi</b>"), ("gw-junk", b"[1]")):
        env.gw.c.publish(f"fit/v1/gw/{gw}/nearby", junk, qos=1, retain=True).wait_for_publish()
    time.sleep(0.3)
    st, near, _ = api.call("GET", f"/api/v1/gateways/{GW}/nearby", token=tok)
    assert st == 200 and near == env.gw.snapshot, near  # the last good one
    st, e, _ = api.call("GET", "/api/v1/gateways/gw-junk/nearby", token=tok)
    assert st == 404 and e["error"] == "no_snapshot", (st, e)
    st, p, _ = api.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": STRAP}, token=tok)
    assert st == 200, p
    check_schema(spec, schema_of(spec, "/api/v1/devices/bind", "post", 200), p)
    st, e, _ = api.call("POST", "/api/v1/devices/bind", {"gateway": GW}, token=tok)
    assert st == 400 and e["error"] == "bad_args"
    check_schema(spec, comp(spec, "Error"), e)
    other_sess = sign_in(api)
    other = other_sess["token"]
    st, e, _ = api.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": STRAP},
                        token=other)
    assert st == 403 and e["error"] == "not_a_member", e  # a stranger
    st, c, _ = api.call("POST", f"/api/v1/gateways/{GW}/claim", {"code": inv["code"]}, token=other)
    assert st == 200 and c["role"] == "member", c
    st, e, _ = api.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": STRAP},
                        token=other)
    assert st == 409 and e["error"] == "bound_to_other"
    check_schema(spec, comp(spec, "Error"), e)
    st, e, _ = api.call("POST", "/api/v1/devices/bind",
                        {"gateway": "gw-offline", "device": "C0:FF:EE:00:0A:02"}, token=tok)
    assert st == 504 and e["error"] == "gateway_timeout"  # nobody answers for gw-offline
    check_schema(spec, comp(spec, "Error"), e)
    st, w, _ = api.call("POST", f"/api/v1/devices/{STRAP}/wheel", {"circumference_m": 2.1},
                        token=tok)
    assert st == 200, w
    check_schema(spec, schema_of(spec, "/api/v1/devices/{device}/wheel", "post", 200), w)
    st, g, _ = api.call("POST", "/api/v1/gym/session",
                        {"qr": f"fitgate://gym?gw={GW}&dev={MACHINE}"}, token=tok)
    assert st == 201, g
    check_schema(spec, comp(spec, "GymSession"), g)
    _, devs, _ = api.call("GET", "/api/v1/devices", token=tok)
    check_schema(spec, schema_of(spec, "/api/v1/devices", "get", 200), devs)
    assert {d["kind"] for d in devs} == {"personal", "machine"} and \
        [d["wheel_m"] for d in devs if d["device"] == STRAP] == [2.1], devs
    with pytest.raises(AssertionError):  # a binding without its kind is not one
        check_schema(spec, schema_of(spec, "/api/v1/devices", "get", 200),
                     [{k: v for k, v in devs[0].items() if k != "kind"}])
    st, g2, _ = api.call("DELETE", "/api/v1/gym/session", token=tok)
    assert st == 200 and g2["session"] == g["session"]
    check_schema(spec, schema_of(spec, "/api/v1/gym/session", "delete", 200), g2)
    st, u, _ = api.call("POST", "/api/v1/devices/unbind", {"device": STRAP}, token=tok)
    assert st == 200
    check_schema(spec, schema_of(spec, "/api/v1/devices/unbind", "post", 200), u)
    oid = other_sess["user"]["id"]
    st, e, _ = api.call("DELETE", f"/api/v1/gateways/{GW}/members/{me_id}", token=other)
    assert st == 403 and e["error"] == "not_an_owner", e
    st, e, _ = api.call("DELETE", f"/api/v1/gateways/{GW}/members/{me_id}", token=tok)
    assert st == 409 and e["error"] == "last_owner", e
    st, rm, _ = api.call("DELETE", f"/api/v1/gateways/{GW}/members/{oid}", token=tok)
    assert st == 200 and rm == {"gateway": GW, "user_id": oid, "unpaired": 0}, rm
    check_schema(spec, schema_of(spec, "/api/v1/gateways/{gw}/members/{user_id}", "delete", 200),
                 rm)
    # an OTA update through the operator route
    upd = {"url": "https://updates.example.net/b/42", "sha256": "ab" * 32, "size": 1234}
    st, a, _ = api.call("POST", f"/api/v1/admin/gateways/{GW}/update", upd, token=env.admin)
    assert st == 202, a
    check_schema(spec, schema_of(spec, "/api/v1/admin/gateways/{gw}/update", "post", 202), a)
    st, us, _ = api.call("GET", f"/api/v1/admin/gateways/{GW}/update", token=env.admin)
    assert st == 200 and us["latest"] and us["latest"]["id"] == a["id"], us
    check_schema(spec, comp(spec, "GatewayUpdateState"), us)
    assert {c["op"] for c in env.gw.cmds} >= {"snapshot", "bind", "set_wheel", "session_start",
                                             "session_stop", "unbind", "update"}

    # progress
    _, page, _ = api.call("GET", "/api/v1/workouts?limit=5", token=tok)
    check_schema(spec, comp(spec, "WorkoutPage"), page)
    st, s, _ = api.call("PUT", "/api/v1/progress/settings",
                        {"max_hr": 190, "age": 35, "sex": "female", "tz_offset_min": 180},
                        token=tok)
    assert st == 200 and s == {"saved": True}
    _, prog, _ = api.call("GET", "/api/v1/progress", token=tok)
    check_schema(spec, comp(spec, "Progress"), prog)
    _, ach, _ = api.call("GET", "/api/v1/achievements", token=tok)
    check_schema(spec, comp(spec, "Achievements"), ach)
    assert ach["next"] and ach["streak"]["tz_offset_min"] == 180
    with pytest.raises(AssertionError):
        check_schema(spec, comp(spec, "Achievements"), {**ach, "level": "1"})
    _, board, _ = api.call("GET", f"/api/v1/leaderboard?gym={GW}", token=tok)
    check_schema(spec, comp(spec, "Leaderboard"), board)
    st, e, _ = api.call("GET", "/api/v1/leaderboard", token=tok)
    assert st == 400
    check_schema(spec, comp(spec, "Error"), e)
    st, st_, _ = api.call("POST", "/api/v1/workouts/stop", {}, token=tok)
    assert st == 202
    check_schema(spec, schema_of(spec, "/api/v1/workouts/stop", "post", 202), st_)
    st, an, _ = api.call("GET", "/api/v1/admin/analytics", token=env.admin)
    assert st == 200
    check_schema(spec, comp(spec, "Analytics"), an)
    st, csv, h = api.call("GET", "/api/v1/admin/analytics?format=csv", token=env.admin)
    assert st == 200 and h["Content-Type"].startswith("text/csv") and "registrations," in csv
    st, _, _ = api.call("GET", "/api/v1/admin/analytics", token=tok)
    assert st == 403

    # shop: catalogue, cart, checkout (ЮKassa), the order, the list, cancel
    _, prods, _ = api.call("GET", "/api/v1/shop/products")
    check_schema(spec, comp(spec, "Products"), prods)
    assert {v["sku"] for p in prods["products"] for v in p["variants"]} >= {"OA-STRAP",
                                                                            "OA-BOTTLE"}
    st, cart, _ = api.call("PUT", "/api/v1/shop/cart", {"items": [{"sku": "OA-BOTTLE", "qty": 2}]},
                           token=tok)
    assert st == 200 and cart["total_minor"] == 259800, cart
    check_schema(spec, comp(spec, "Cart"), cart)
    _, cart2, _ = api.call("GET", "/api/v1/shop/cart", token=tok)
    assert cart2 == cart
    st, e, _ = api.call("PUT", "/api/v1/shop/cart", {"items": [{"sku": "NOPE", "qty": 1}]},
                        token=tok)
    assert st == 422
    check_schema(spec, comp(spec, "Error"), e)
    st, co, h = api.call("POST", "/api/v1/shop/checkout", {"provider": "yookassa"}, token=tok,
                         headers={"Idempotency-Key": f"oa-{time.time()}"})
    assert st == 201, co
    check_schema(spec, comp(spec, "Checkout"), co)
    oid = co["order"]["id"]
    assert co["order"]["state"] == "pending_payment" and co["order"]["payment"]["url"]
    st, e, _ = api.call("POST", "/api/v1/shop/checkout", {"provider": "yookassa"}, token=tok)
    assert st == 400 and e["error"] == "idempotency_key_required"
    check_schema(spec, comp(spec, "Error"), e)
    _, o, _ = api.call("GET", f"/api/v1/orders/fg-{oid}", token=tok)
    check_schema(spec, comp(spec, "Order"), o)
    assert o["history"] and o["items"][0]["sku"] == "OA-BOTTLE"
    with pytest.raises(AssertionError):
        check_schema(spec, comp(spec, "Order"), {**o, "state": "lost"})
    _, lst, _ = api.call("GET", "/api/v1/orders", token=tok)
    check_schema(spec, comp(spec, "Orders"), lst)
    assert [x["id"] for x in lst["orders"]] == [oid] and lst["legacy"] == {"linked": False}
    st, c, _ = api.call("POST", f"/api/v1/orders/{oid}/cancel", {}, token=tok)
    assert st == 200 and c["state"] == "cancelled", c
    check_schema(spec, comp(spec, "Order"), c)
    st, e, _ = api.call("POST", f"/api/v1/admin/orders/{oid}/ship", {}, token=env.admin)
    assert st == 409 and e["error"] == "invalid_transition"
    check_schema(spec, comp(spec, "Error"), e)

    # operators and services on identity
    _, aud, _ = api.call("GET", f"/admin/v1/users/{me_id}/audit", token=env.admin)
    check_schema(spec, comp(spec, "AuditEvents"), aud)
    assert aud["events"]
    st, ct, _ = api.call("GET", f"/internal/v1/users/{me_id}/contact", token=env.internal)
    assert st == 200 and ct["telegram_chat_id"] == person["id"], ct
    check_schema(spec, comp(spec, "Contact"), ct)

    # gateway enrolment: an operator mints a token, the gateway sends its CSR
    st, et, _ = api.call("POST", "/api/v1/admin/enrol-tokens", {"gateway_id": "gw-oa-2"},
                         token=env.admin)
    assert st == 201, et
    check_schema(spec, comp(spec, "EnrolToken"), et)
    key = os.path.join(env.dir, "gw.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], check=True, capture_output=True)
    csr = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=gw-oa-2"],
                         check=True, capture_output=True, text=True).stdout
    st, en, _ = api.call("POST", "/api/v1/enrol", {"token": et["token"], "csr": csr})
    assert st == 200, en
    check_schema(spec, comp(spec, "Enrolled"), en)
    st, e, _ = api.call("POST", "/api/v1/enrol", {"token": et["token"], "csr": csr})
    assert st == 409
    check_schema(spec, comp(spec, "Error"), e)

    # the api's own: health, readiness, readings, metrics, the mini app
    for p in ("/healthz", "/readyz"):
        st, b, _ = api.call("GET", p)
        assert st == 200
        check_schema(spec, comp(spec, "Status"), b)
    with pytest.raises(AssertionError):
        check_schema(spec, comp(spec, "Status"), {"status": "fine"})
    _, rd, _ = api.call("GET", "/api/v1/readings?limit=10", token=tok)
    check_schema(spec, schema_of(spec, "/api/v1/readings", "get", 200), rd)
    st, e, _ = api.call("GET", "/api/v1/readings?limit=5000", token=tok)
    assert st == 400
    check_schema(spec, comp(spec, "Error"), e)
    st, _, h = api.call("GET", "/dev/launch")
    assert st == 302 and "tgWebAppData=" in h["Location"]
    st, page, h = api.call("GET", "/")
    assert st == 200 and h["Content-Type"].startswith("text/html") and "fitgate" in page

    # second factors; a challenge, too (last: this user now has TOTP)
    _, tfa, _ = api.call("GET", "/api/v1/me/2fa", token=tok)
    check_schema(spec, comp(spec, "TwoFactorStatus"), tfa)
    assert tfa["enabled"] is False and tfa["methods"] == []
    on = enable_totp(api, tok)
    check_schema(spec, comp(spec, "Enabled"), on)
    assert len(on["backup_codes"]) == 10
    _, sl, _ = api.call("GET", "/api/v1/sessions", token=tok)
    check_schema(spec, comp(spec, "Sessions"), sl)
    assert [x["current"] for x in sl["sessions"]].count(True) == 1
    st, ch, _ = api.call("POST", "/api/v1/session", {"init_data": init_data(person, DEV_BOT_TOKEN)})
    assert st == 200
    check_schema(spec, comp(spec, "MfaChallenge"), ch)
    check_schema(spec, comp(spec, "SignInResult"), ch)
