"""The public entry as deployed: nginx + ModSecurity + OWASP CRS (Debian
packages) with deploy/nginx's configuration, in front of fitgate-core.

Real users get through (sign-in with Telegram init data, API calls, the live
stream); attacks are stopped at the proxy; internal endpoints are not
reachable from outside; sign-in is rate limited; the core sees the client's
address, not the proxy's."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from stack import ROOT, Proc, Stack, free_port, wait_port

NGINX = "/usr/sbin/nginx"
MODULE = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
CRS = "/usr/share/modsecurity-crs/rules"


def nginx_conf(workdir, port, upstream_port):
    """A test nginx.conf that uses the deploy/ files unchanged, except the
    absolute /etc/fitgate/nginx paths, rewritten to the checkout."""
    etc = os.path.join(workdir, "etc-fitgate-nginx")
    shutil.copytree(os.path.join(ROOT, "deploy", "nginx"), etc)
    for dirpath, _, files in os.walk(etc):
        for f in files:
            p = os.path.join(dirpath, f)
            text = open(p).read().replace("/etc/fitgate/nginx", etc)
            text = text.replace("/var/log/nginx/modsec_audit.log",
                                os.path.join(workdir, "modsec_audit.log"))
            open(p, "w").write(text)
    tmp = os.path.join(workdir, "nginx-tmp")
    os.makedirs(tmp, exist_ok=True)
    os.chmod(tmp, 0o777)
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""load_module {MODULE};
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    limit_req_zone $binary_remote_addr zone=fitgate_signin:1m rate=10r/s;
    limit_req_zone $binary_remote_addr zone=fitgate_api:1m rate=50r/s;
    upstream fitgate_api {{ server 127.0.0.1:{upstream_port}; }}
    server {{
        listen 127.0.0.1:{port};
        include {etc}/fitgate-locations.conf;
    }}
}}
""")
    return conf


@pytest.fixture
def waf(workdir):
    if not (os.path.exists(NGINX) and os.path.exists(MODULE) and os.path.isdir(CRS)):
        pytest.fail("nginx, libnginx-mod-http-modsecurity and modsecurity-crs must be installed "
                    "(scripts/deps.sh)")
    s = Stack(workdir, core_args=["--trusted-proxies=127.0.0.1"])
    s.start_brokers()
    s.start_core()
    port = free_port()
    conf = nginx_conf(workdir, port, s.http_port)
    t = subprocess.run([NGINX, "-t", "-c", conf], capture_output=True, text=True)
    assert t.returncode == 0, t.stderr
    nginx = Proc("nginx", [NGINX, "-c", conf], workdir)
    try:
        wait_port(port)
        s.waf_port = port
        yield s
    finally:
        nginx.stop()
        s.stop()


def call(port, method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def fresh_init_data(core_port):
    """Init data as Telegram would sign it (the core's dev launch, asked
    directly: /dev/ is not reachable through the proxy)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"http://127.0.0.1:{core_port}/dev/launch", timeout=10)
    except urllib.error.HTTPError as e:
        loc = e.headers["Location"]
    params = urllib.parse.parse_qs(loc.split("#", 1)[1])
    return params["tgWebAppData"][0]


def test_users_pass_attacks_stop(waf):
    p = waf.waf_port
    # A real sign-in passes the CRS (the init data exclusion is narrow).
    st, body = call(p, "POST", "/api/v1/session", {"init_data": fresh_init_data(waf.http_port)})
    assert st == 200, body
    token = json.loads(body)["token"]
    auth = {"Authorization": f"Bearer {token}"}
    st, body = call(p, "GET", "/api/v1/me", headers=auth)
    assert st == 200 and json.loads(body)["first_name"] == "Demo"
    st, _ = call(p, "GET", "/api/v1/readings?since=0&limit=10", headers=auth)
    assert st == 200
    st, body = call(p, "GET", "/")
    assert st == 200 and "app.js" in body

    # Attacks never reach the core.
    attacks = [
        ("GET", "/api/v1/readings?since=1%20UNION%20SELECT%20token_hash%20FROM%20sessions--",
         None, {}),
        ("GET", "/?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E", None, {}),
        ("GET", "/api/v1/readings?file=../../../../etc/passwd", None, {}),
        ("GET", "/api/v1/readings?cmd=;cat%20/etc/shadow", None, {}),
        ("POST", "/api/v1/session",
         {"init_data": "x", "note": "' OR '1'='1' UNION SELECT password FROM users --"}, {}),
        ("GET", "/", None, {"User-Agent": "sqlmap/1.7.2#stable (https://sqlmap.org)"}),
    ]
    for method, path, body, headers in attacks:
        st, _ = call(p, method, path, body, headers)
        assert st == 403, f"{method} {path} {headers} -> {st}"
    audit = open(os.path.join(waf.dir, "modsec_audit.log")).read()
    assert audit.count('"transaction"') >= len(attacks)
    # The audit log never holds init data (sign-in bodies are not logged).
    assert "auth_date" not in audit and "hash=" not in audit

    # Internal, operator and dev endpoints are not published: the core
    # serves each of them (it answers, not 404), the proxy answers 404.
    unpublished = [("GET", "/metrics"), ("GET", "/readyz"), ("GET", "/dev/launch"),
                   ("GET", "/internal/v1/users/1/contact"), ("GET", "/admin/v1/users/1/audit"),
                   ("POST", "/admin/v1/users/1/unlock"), ("GET", "/api/v1/admin/analytics"),
                   ("POST", "/api/v1/admin/orders/1/ship"),
                   ("GET", "/api/v1/admin/gateways/gw-1/update"),
                   ("POST", "/api/v1/shop/dev/legacy-link")]
    for method, path in unpublished:
        direct, _ = call(waf.http_port, method, path, {} if method == "POST" else None)
        assert direct != 404 or path == "/api/v1/shop/dev/legacy-link", (path, direct)
        st, _ = call(p, method, path, {} if method == "POST" else None)
        assert st == 404, (path, st)
    # A body over the limit is refused by the proxy.
    st, _ = call(p, "POST", "/api/v1/session", {"init_data": "a" * 70000})
    assert st == 413


DEV_BOT_TOKEN = "1000000001:DEV-local-bot-token-not-for-production"


def sign_init_data(user, bot_token=DEV_BOT_TOKEN):
    """Init data as Telegram signs it (field notes: HMAC key "WebAppData")."""
    import hashlib
    import hmac
    fields = {"auth_date": str(int(time.time())), "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
              "user": json.dumps(user, ensure_ascii=False, separators=(",", ":"))}
    dcs = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, dcs.encode(), hashlib.sha256).hexdigest()
    return urllib.parse.urlencode(fields)


def test_users_with_odd_names_pass(waf):
    """Telegram users choose their names: one that looks like SQL or HTML must
    still sign in (the core checks the signature; the WAF skips content rules
    on init data only)."""
    for name in ["Robert'); DROP TABLE users;--", "<b>Анна</b> \"the best\"", "a=1&b=2 OR 1=1"]:
        init = sign_init_data({"id": 777000 + len(name), "first_name": name,
                               "language_code": "ru"})
        st, body = call(waf.waf_port, "POST", "/api/v1/session", {"init_data": init})
        assert st == 200, (name, st, body)
        assert json.loads(body)["user"]["first_name"] == name
    # The same text in any other field is still stopped.
    st, _ = call(waf.waf_port, "POST", "/api/v1/session",
                 {"init_data": "x", "name": "Robert'); DROP TABLE users;--"})
    assert st == 403


def test_live_stream_through_proxy(waf):
    p = waf.waf_port
    st, body = call(p, "POST", "/api/v1/session", {"init_data": fresh_init_data(waf.http_port)})
    token = json.loads(body)["token"]
    s = socket.create_connection(("127.0.0.1", p), timeout=10)
    s.sendall(f"GET /api/v1/live HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    data = b""
    deadline = time.time() + 10
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) == 0:
        assert time.time() < deadline, data
        data += s.recv(4096)
    s.close()
    head, first = data.split(b"\r\n\r\n", 1)
    assert b" 200 " in head.split(b"\r\n")[0]
    assert b"text/event-stream" in head
    assert first  # bytes arrive before the response ends: not buffered


def test_signin_rate_limited_and_client_address(waf):
    p = waf.waf_port
    codes = [call(p, "POST", "/api/v1/session", {"init_data": "bad"})[0] for _ in range(60)]
    assert 429 in codes, codes
    assert codes[0] == 400
    # The core saw the client's address (the proxy's X-Forwarded-For), and
    # counted the rejected sign-ins.
    with urllib.request.urlopen(f"http://127.0.0.1:{waf.http_port}/metrics", timeout=10) as r:
        m = r.read().decode()
    n = int(re.search(r'fitgate_api_rejected_total\{reason="malformed"\} (\d+)', m).group(1))
    assert n == codes.count(400)
