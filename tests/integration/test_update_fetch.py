"""fitgate-fw update fetch: downloads checked by size and sha256 before they get their name.

A local HTTP server (127.0.0.1: plain http is allowed only there) serves good
files, short and endless bodies, a wrong body, an error status and a bundle
directory; every refusal leaves neither the final file nor a .part behind.
"""
import hashlib
import http.server
import json
import os
import subprocess
import threading

import pytest

BIN = os.environ.get("FITGATE_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
FW = os.path.join(BIN, "fitgate-fw")
BODY = os.urandom(3 * 1024 * 1024 + 17)
SHA = hashlib.sha256(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = None  # a directory served under /dir/

    def log_message(self, *a):
        pass

    def do_GET(self):
        p = self.path
        self.server.paths.append(p)
        if p == "/good":
            self.send(BODY)
        elif p == "/short":  # announces everything, sends half, closes
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.close_connection = True
        elif p == "/short-honest":  # a complete response that is too small
            self.send(BODY[:-1])
        elif p == "/endless":  # no length, never stops on its own
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(2000):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
        elif p == "/flipped":
            b = bytearray(BODY)
            b[1000] ^= 1
            self.send(bytes(b))
        elif p == "/error":
            self.send(b"boom", status=500)
        elif p.startswith("/dir/") and "/" not in p[5:]:
            f = os.path.join(self.server.root, p[5:])
            if os.path.isfile(f):
                self.send(open(f, "rb").read())
            else:
                self.send(b"no", status=404)
        else:
            self.send(b"no", status=404)

    def send(self, body, status=200):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.paths = []
    srv.root = str(tmp_path_factory.mktemp("served"))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def fetch(url, out, sha=SHA, size=len(BODY), *extra):
    r = subprocess.run([FW, "update", "fetch", url, "--out", str(out), "--sha256", sha,
                        "--size", str(size), "--json", "--progress", *extra],
                       capture_output=True, text=True, timeout=60)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    return r.returncode, lines, r.stderr


def base(server):
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_good_download_is_renamed_0600_with_progress(server, tmp_path):
    out = tmp_path / "f.bin"
    rc, lines, err = fetch(base(server) + "/good", out)
    assert rc == 0, (lines, err)
    assert out.read_bytes() == BODY
    assert (os.stat(out).st_mode & 0o777) == 0o600
    assert not (tmp_path / "f.bin.part").exists()
    prog = [x for x in lines if "progress" in x]
    assert prog and all(x["progress"] == "downloading" and x["total"] == len(BODY) for x in prog)
    assert prog[-1]["bytes"] == len(BODY) and len(prog) >= 3  # every MiB and the end
    assert lines[-1] == {"command": "fetch", "exit": 0, "bytes": len(BODY), "error": None}


@pytest.mark.parametrize("path,rc,error", [
    ("/short", 4, "network"),       # the connection ended early: curl sees a partial file
    ("/short-honest", 1, "size"),
    ("/endless", 1, "size"),
    ("/flipped", 1, "sha256"),
    ("/error", 4, "http"),
])
def test_refusals_leave_nothing(server, tmp_path, path, rc, error):
    out = tmp_path / "f.bin"
    got, lines, err = fetch(base(server) + path, out)
    assert (got, lines[-1]["error"]) == (rc, error), (lines, err)
    assert not out.exists() and not (tmp_path / "f.bin.part").exists()
    if path == "/endless":  # cut off right after the declared size, not after 128 MiB
        assert lines[-1]["bytes"] <= len(BODY)


def test_max_bytes_and_usage(server, tmp_path):
    out = tmp_path / "f.bin"
    rc, lines, _ = fetch(base(server) + "/good", out, SHA, len(BODY), "--max-bytes", "1000")
    assert (rc, lines[-1]["error"]) == (1, "size")
    # plain http to another host is refused before any connection
    rc, lines, _ = fetch("http://example.invalid/x", out)
    assert (rc, lines[-1]["error"]) == (2, "insecure")
    rc, lines, _ = fetch(base(server) + "/good", out, SHA.upper())
    assert rc == 2
    # a stale .part (or a link planted there) is replaced, never followed
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    os.symlink(victim, tmp_path / "f.bin.part")
    rc, _, err = fetch(base(server) + "/good", out)
    assert rc == 0, err
    assert victim.read_bytes() == b"keep" and out.read_bytes() == BODY


def test_bundle_directory(server, tmp_path):
    root = server.root
    img = os.urandom(100000)
    manifest = json.dumps({"format": 1, "compatible": "rpi4", "version": 3,
                           "expires": "2030-01-01T00:00:00Z",
                           "images": [{"name": "rootfs.img", "role": "rootfs", "size": len(img),
                                       "sha256": hashlib.sha256(img).hexdigest()}]}).encode()
    for name, data in (("manifest.json", manifest), ("manifest.sig", b"s" * 70),
                       ("signer.pem", b"-----BEGIN CERTIFICATE-----\n"), ("rootfs.img", img)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    msha = hashlib.sha256(manifest).hexdigest()
    out = tmp_path / "bundle"
    rc, lines, err = fetch(base(server) + "/dir/", out, msha, len(manifest), "--bundle")
    assert rc == 0, (lines, err)
    assert sorted(os.listdir(out)) == ["manifest.json", "manifest.sig", "rootfs.img", "signer.pem"]
    assert (out / "rootfs.img").read_bytes() == img
    assert lines[-2]["total"] == len(manifest) + len(img)
    # An image that differs from the manifest: refused, nothing left.
    with open(os.path.join(root, "rootfs.img"), "r+b") as f:
        f.write(b"X")
    out2 = tmp_path / "bundle2"
    rc, lines, _ = fetch(base(server) + "/dir", out2, msha, len(manifest), "--bundle")
    assert (rc, lines[-1]["error"]) == (1, "sha256")
    assert not out2.exists() and not (tmp_path / "bundle2.part").exists()
    # The command's hash pins the manifest: another manifest is refused first.
    rc, lines, _ = fetch(base(server) + "/dir", out2, "0" * 64, len(manifest), "--bundle")
    assert (rc, lines[-1]["error"]) == (1, "sha256")
    assert not out2.exists()


def test_https_with_the_given_ca_only(tmp_path):
    """Production path: https, the server's certificate checked against --cafile."""
    import ssl
    import subprocess as sp
    d = str(tmp_path)
    ca_key, ca, key, csr, crt = (os.path.join(d, n) for n in
                                 ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    run = lambda *a: sp.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca, "-subj", "/CN=updates-ca", "-days", "2")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", crt)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.paths, srv.root = [], d
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"https://localhost:{srv.server_address[1]}/good"
        rc, lines, err = fetch(url, tmp_path / "ok.bin", SHA, len(BODY), "--cafile", ca)
        assert rc == 0, (lines, err)
        assert (tmp_path / "ok.bin").read_bytes() == BODY
        # Another CA: refused, nothing kept.
        other = os.path.join(d, "other.pem")
        run("openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(d, "other.key"), "-out",
            other, "-subj", "/CN=other-ca", "-days", "2")
        rc, lines, _ = fetch(url, tmp_path / "no.bin", SHA, len(BODY), "--cafile", other)
        assert (rc, lines[-1]["error"]) == (4, "network")
        assert not (tmp_path / "no.bin").exists()
    finally:
        srv.shutdown()
