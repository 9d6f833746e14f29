"""fitgate-fw update: A/B installs, boot attempts, rollback, power loss.

A gateway without hardware: two files are the A and B rootfs slots, the
bootloader is the file backend (BOOT_ORDER, BOOT_x_LEFT in an env file) and
`fitgate-fw update boot` plays U-Boot's boot script, writing the kernel
command line (fitgate.slot=X) the updater reads - as RAUC's tests do with
files and a script backend. Bundles are made and signed with fitgate-fw
under a throwaway release CA (codeSigning signer) made with openssl.
"""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("FITGATE_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
FW = os.path.join(BIN, "fitgate-fw")
MIB = 1 << 20
STEPS = ["verified", "marked-bad", "writing", "written", "read-back", "state", "switched"]


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("release-ca"))
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    sh("openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", ca_key, "-out", ca, "-subj", "/CN=fitgate-release-ca", "-days", "2",
       "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    key, csr, crt = (os.path.join(d, n) for n in ("signer.key", "signer.csr", "signer.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=codeSigning\nkeyUsage=digitalSignature\n")
    sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    sh("openssl", "req", "-new", "-key", key, "-subj", "/CN=fitgate-release-signer", "-out", csr)
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
       "-days", "2", "-extfile", ext, "-out", crt)
    return {"dir": d, "ca": ca, "key": key, "cert": crt, "bundles": {}}


def bundle(signing, version, compatible="rpi4", size=2 * MIB, expires="2030-01-01T00:00:00Z"):
    """A signed bundle with a random rootfs image (cached per arguments)."""
    k = (version, compatible, size, expires)
    if k in signing["bundles"]:
        return signing["bundles"][k]
    name = f"b-{version}-{compatible}-{size}-{expires[:4]}"
    img = os.path.join(signing["dir"], name + ".img")
    with open(img, "wb") as f:
        f.write(os.urandom(size))
    out = os.path.join(signing["dir"], name)
    sh(FW, "bundle", "create", "--compatible", compatible, "--version", str(version),
       "--expires", expires, "--image", f"rootfs={img}", out)
    sh(FW, "bundle", "sign", "--key", signing["key"], "--cert", signing["cert"], out)
    signing["bundles"][k] = (out, img)
    return out, img


class Gateway:
    def __init__(self, d, keyring, slot_size=4 * MIB):
        self.d = d
        self.slots = [os.path.join(d, "slot-a.img"), os.path.join(d, "slot-b.img")]
        for p in self.slots:
            with open(p, "wb") as f:
                f.truncate(slot_size)
        with open(self.slots[0], "r+b") as f:
            f.write(b"factory rootfs" * 1000)
        self.env = os.path.join(d, "uboot.env")
        self.cmdline = os.path.join(d, "cmdline")
        self.conf = os.path.join(d, "slots.conf")
        with open(self.conf, "w") as f:
            f.write(f"compatible = rpi4\nkeyring = {keyring}\nstate_dir = {d}/state\n"
                    f"bootloader = file\nbootloader_env = {self.env}\n"
                    f"booted_from = {self.cmdline}\nattempts = 3\n"
                    f"slot.a.rootfs = {self.slots[0]}\nslot.b.rootfs = {self.slots[1]}\n")
        # Factory: first boot from A, the image's own health check marks it good.
        assert self.boot() == "A"
        assert self.run("mark-good")[0] == 0

    def run(self, sub, *args, kill_at=None, json_out=True):
        env = dict(os.environ)
        if kill_at:
            env["FITGATE_UPDATE_KILL_AT"] = kill_at
        argv = [FW, "update", sub, *args, "--slots", self.conf] + (["--json"] if json_out else [])
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        out = json.loads(r.stdout) if json_out and r.stdout.strip() else None
        return r.returncode, out, r.stderr

    def install(self, b, kill_at=None):
        return self.run("install", b, kill_at=kill_at)

    def boot(self):
        r = subprocess.run([FW, "update", "boot", "--slots", self.conf], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def status(self):
        r = subprocess.run([FW, "update", "status", "--slots", self.conf], capture_output=True,
                           text=True, check=True)
        s = json.loads(r.stdout)
        assert "error" not in s, s
        return s

    def slot_bytes(self, i, n):
        with open(self.slots[i], "rb") as f:
            return f.read(n)

    def snapshot(self):
        """Everything the updater may touch, for 'nothing changed' checks."""
        files = [self.env, os.path.join(self.d, "state", "state.json")] + self.slots
        return [open(p, "rb").read() for p in files]


@pytest.fixture
def gw(tmp_path, signing):
    return Gateway(str(tmp_path), signing["ca"])


def test_install_boot_mark_good_then_next_update(gw, signing):
    b1, img1 = bundle(signing, 1)
    rc, out, err = gw.install(b1)
    assert rc == 0, (out, err)
    assert out["slot"] == "B"
    s = gw.status()
    assert s["boot_order"] == "BA" and s["slots"]["B"] == {"version": 1, "status": "installed",
                                                           "attempts_left": 3}
    img = open(img1, "rb").read()
    assert gw.slot_bytes(1, len(img)) == img
    assert s["floor"] == 0  # the floor moves only after mark-good
    assert gw.boot() == "B"
    rc, _, err = gw.run("mark-good")
    assert rc == 0, err
    s = gw.status()
    assert s["slots"]["B"]["status"] == "good" and s["floor"] == 1
    assert s["boot_order"] == "BA" and s["slots"]["B"]["attempts_left"] == 3
    # The next update goes into A, the one not running.
    b2, img2 = bundle(signing, 2)
    rc, out, err = gw.install(b2)
    assert rc == 0 and out["slot"] == "A", (out, err)
    assert gw.boot() == "A"
    assert gw.run("mark-good")[0] == 0
    assert gw.status()["floor"] == 2
    img = open(img2, "rb").read()
    assert gw.slot_bytes(0, len(img)) == img


def test_rollback_when_never_marked_good(gw, signing):
    b1, _ = bundle(signing, 1)
    assert gw.install(b1)[0] == 0
    # The new slot boots but never passes its health check: 3 attempts...
    assert [gw.boot() for _ in range(3)] == ["B", "B", "B"]
    # ...then the bootloader falls back to A by itself.
    assert gw.boot() == "A"
    s = gw.status()
    assert s["booted"] == "A" and s["rolled_back"] is True
    assert gw.run("mark-good")[0] == 0
    s = gw.status()
    assert s["slots"]["B"]["status"] == "bad" and s["slots"]["A"]["status"] == "good"
    assert s["boot_order"] == "A" and s["floor"] == 0
    assert [gw.boot() for _ in range(5)] == ["A"] * 5  # B is never tried again
    # A fixed bundle can be installed over the bad slot.
    b2, _ = bundle(signing, 2)
    rc, out, err = gw.install(b2)
    assert rc == 0 and out["slot"] == "B", (out, err)


def test_refusals_leave_the_gateway_untouched(gw, signing, tmp_path):
    b1, _ = bundle(signing, 1)
    assert gw.install(b1)[0] == 0 and gw.boot() == "B" and gw.run("mark-good")[0] == 0
    before = gw.snapshot()
    cases = [
        (bundle(signing, 1)[0], 1, "rollback"),               # same version as running
        (bundle(signing, 0)[0], 1, "rollback"),               # older
        (bundle(signing, 5, compatible="rpi3")[0], 1, "hardware"),
        (bundle(signing, 6, expires="2020-01-01T00:00:00Z")[0], 1, "expired"),
        (bundle(signing, 7, size=5 * MIB)[0], 3, "update"),   # larger than the slot
        (os.path.join(str(tmp_path), "missing"), 4, "io"),
    ]
    # A bundle whose manifest was altered after signing.
    src, _ = bundle(signing, 8)
    tampered = os.path.join(str(tmp_path), "tampered")
    subprocess.run(["cp", "-r", src, tampered], check=True)
    m = json.load(open(os.path.join(tampered, "manifest.json")))
    m["version"] = 9
    with open(os.path.join(tampered, "manifest.json"), "w") as f:
        json.dump(m, f)
    cases.append((tampered, 1, "signature"))
    for b, code, name in cases:
        rc, out, err = gw.install(b)
        assert (rc, out["error"]) == (code, name), (b, out, err)
        assert gw.snapshot() == before, b
    # A slot that booted but is not proven yet may not be overwritten.
    b2, _ = bundle(signing, 2)
    assert gw.install(b2)[0] == 0 and gw.boot() == "A"
    b3, _ = bundle(signing, 3)
    rc, out, _ = gw.install(b3)
    assert rc == 3 and "mark-good first" in out["detail"]
    # Unknown settings in the slots config are refused, not ignored.
    with open(gw.conf, "a") as f:
        f.write("atempts = 5\n")
    rc, out, _ = gw.install(b3)
    assert rc == 2


@pytest.mark.parametrize("kill_at", STEPS)
def test_power_loss_at_every_step(gw, signing, kill_at):
    """kill -9 right after each step; the next boot must come up on a good or
    completely written slot, the state must read, and a retry must finish."""
    b1, img1 = bundle(signing, 1)
    rc, out, err = gw.install(b1, kill_at=kill_at)
    assert rc == -9, (rc, out, err)
    s = gw.status()  # env and state files parse (asserts no error)
    booted = gw.boot()
    img = open(img1, "rb").read()
    if kill_at == "switched":
        # Switched means written, read back and recorded: B is complete.
        assert booted == "B" and gw.slot_bytes(1, len(img)) == img
        assert s["slots"]["B"]["status"] == "installed"
    else:
        assert booted == "A", (kill_at, s)
        assert gw.slot_bytes(0, 14) == b"factory rootfs"
        assert "B" not in gw.status()["boot_order"] or kill_at == "verified"
        # The interrupted install is simply run again.
        rc, out, err = gw.install(b1)
        assert rc == 0, (kill_at, out, err)
        assert gw.boot() == "B"
    assert gw.slot_bytes(1, len(img)) == img
    assert gw.run("mark-good")[0] == 0
    s = gw.status()
    assert s["slots"]["B"] == {"version": 1, "status": "good", "attempts_left": 3}
    assert s["floor"] == 1


def test_uboot_backend_through_fw_setenv(gw, signing, tmp_path):
    """bootloader = uboot drives fw_printenv/fw_setenv (libubootenv's tools).
    Stand-ins on PATH keep the variables in a file and check the calls: all
    BOOT_* variables in one `fw_setenv -s SCRIPT` with NAME VALUE lines."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    store = tmp_path / "uboot-vars"
    calls = tmp_path / "calls"
    (bindir / "fw_printenv").write_text(f"""#!/bin/sh
echo "fw_printenv $*" >> {calls}
[ -f {store} ] || exit 1
for n in "$@"; do grep "^$n=" {store} || echo "## Error: \\"$n\\" not defined" >&2; done
""")
    (bindir / "fw_setenv").write_text(f"""#!/bin/sh
echo "fw_setenv $*" >> {calls}
[ "$1" = "-s" ] || exit 2
touch {store}
while read -r name value; do
  grep -v "^$name=" {store} > {store}.new; echo "$name=$value" >> {store}.new; mv {store}.new {store}
done < "$2"
""")
    for f in ("fw_printenv", "fw_setenv"):
        os.chmod(bindir / f, 0o755)
    conf = open(gw.conf).read().replace("bootloader = file\n", "bootloader = uboot\n")
    with open(gw.conf, "w") as f:
        f.write(conf)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    b1, _ = bundle(signing, 1)
    r = subprocess.run([FW, "update", "install", b1, "--slots", gw.conf, "--json"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    vars_ = dict(line.split("=", 1) for line in store.read_text().splitlines())
    assert vars_ == {"BOOT_ORDER": "B A", "BOOT_A_LEFT": "3", "BOOT_B_LEFT": "3"}, vars_
    log = calls.read_text().splitlines()
    assert log[0] == "fw_printenv BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT"
    # Two environment writes (mark B bad, then switch), each one -s call.
    assert len([c for c in log if c.startswith("fw_setenv -s ")]) == 2, log
    # Boot emulation is for the file backend only.
    r = subprocess.run([FW, "update", "boot", "--slots", gw.conf], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 2


def test_disk_full_while_writing(gw, signing, tmp_path):
    """The B slot is a sparse file on a 3 MiB tmpfs: writing a 3.5 MiB image
    runs out of space half way. The install fails with an I/O error, B stays
    out of the boot order, A boots, and the state says what happened."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    try:
        slot_b = mnt / "slot-b.img"
        with open(slot_b, "wb") as f:
            f.truncate(4 * MIB)
        conf = open(gw.conf).read().replace(f"slot.b.rootfs = {gw.slots[1]}",
                                            f"slot.b.rootfs = {slot_b}")
        with open(gw.conf, "w") as f:
            f.write(conf)
        b, _ = bundle(signing, 1, size=3 * MIB + MIB // 2)
        rc, out, err = gw.install(b)
        assert rc == 4 and "No space left" in out["detail"], (rc, out, err)
        s = gw.status()
        assert s["boot_order"] == "A" and s["slots"]["B"]["status"] == "installing"
        assert [gw.boot() for _ in range(4)] == ["A"] * 4
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_grub_backend_through_grub_editenv(gw, signing, tmp_path):
    """bootloader = grub: `grub-editenv GRUBENV list` to read, one
    `grub-editenv GRUBENV set A=.. B=.. C=..` per change. A stand-in on PATH
    keeps the variables and records the argv exactly as passed (no shell)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    grubenv = tmp_path / "grubenv"
    calls = tmp_path / "calls.json"
    (bindir / "grub-editenv").write_text(f"""#!/usr/bin/python3
import json, os, sys
with open({str(calls)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
path, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
env = {{}}
if os.path.exists(path):
    env = dict(l.split("=", 1) for l in open(path).read().splitlines() if "=" in l)
elif cmd == "list":
    sys.exit(1)
if cmd == "list":
    print("\\n".join(f"{{k}}={{v}}" for k, v in env.items()))
elif cmd == "set":
    env.update(a.split("=", 1) for a in args)
    open(path, "w").write("".join(f"{{k}}={{v}}\\n" for k, v in env.items()))
""")
    os.chmod(bindir / "grub-editenv", 0o755)
    conf = open(gw.conf).read().replace("bootloader = file\n", "bootloader = grub\n")
    conf = conf.replace(f"bootloader_env = {gw.env}", f"bootloader_env = {grubenv}")
    with open(gw.conf, "w") as f:
        f.write(conf)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    b1, _ = bundle(signing, 1)
    r = subprocess.run([FW, "update", "install", b1, "--slots", gw.conf, "--json"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    argvs = [json.loads(line) for line in calls.read_text().splitlines()]
    assert argvs[0] == [str(grubenv), "list"]
    sets = [a for a in argvs if a[1] == "set"]
    assert sets == [[str(grubenv), "set", "BOOT_ORDER=A", "BOOT_A_LEFT=3", "BOOT_B_LEFT=0"],
                    [str(grubenv), "set", "BOOT_ORDER=B A", "BOOT_A_LEFT=3", "BOOT_B_LEFT=3"]]
    r = subprocess.run([FW, "update", "status", "--slots", gw.conf], capture_output=True,
                       text=True, env=env, check=True)
    assert json.loads(r.stdout)["boot_order"] == "BA"


def test_boot_image_goes_to_the_slot_boot_target(gw, signing, tmp_path):
    """A bundle with a boot image as well: refused while the slot has no boot
    target (nothing touched), written to slot.b.boot once configured."""
    boot_img = tmp_path / "boot.img"
    boot_img.write_bytes(os.urandom(300 * 1024))
    rootfs = tmp_path / "rootfs.img"
    rootfs.write_bytes(os.urandom(MIB))
    out_dir = str(tmp_path / "bundle")
    sh(FW, "bundle", "create", "--compatible", "rpi4", "--version", "3", "--expires",
       "2030-01-01T00:00:00Z", "--image", f"rootfs={rootfs}", "--image", f"boot={boot_img}",
       out_dir)
    sh(FW, "bundle", "sign", "--key", signing["key"], "--cert", signing["cert"], out_dir)
    before = gw.snapshot()
    rc, out, _ = gw.install(out_dir)
    assert rc == 3 and "no boot target" in out["detail"], out
    assert gw.snapshot() == before
    boots = [str(tmp_path / "boot-a.img"), str(tmp_path / "boot-b.img")]
    for p in boots:
        with open(p, "wb") as f:
            f.truncate(MIB)
    with open(gw.conf, "a") as f:
        f.write(f"slot.a.boot = {boots[0]}\nslot.b.boot = {boots[1]}\n")
    rc, out, err = gw.install(out_dir)
    assert rc == 0, (out, err)
    assert open(boots[1], "rb").read(300 * 1024) == boot_img.read_bytes()
    assert gw.slot_bytes(1, MIB) == rootfs.read_bytes()
    assert open(boots[0], "rb").read() == b"\0" * MIB  # the running slot's untouched


def test_progress_lines_for_the_edge(gw, signing):
    """--progress: one JSON line per step as it happens (what fitgate-edge
    forwards to the core), bytes monotonic up to the total, result last."""
    b, img = bundle(signing, 1, size=3 * MIB)
    r = subprocess.run([FW, "update", "install", b, "--slots", gw.conf, "--json", "--progress"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    steps = [x["progress"] for x in lines[:-1]]
    assert lines[-1]["exit"] == 0 and lines[-1]["slot"] == "B"
    dedup = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
    assert dedup == STEPS, steps
    total = 3 * MIB
    assert all(x["total"] == total for x in lines[:-1])
    written = [x["bytes"] for x in lines[:-1] if x["progress"] == "writing"]
    assert written == sorted(written) and written[-1] == total and len(written) >= 2
    assert [x["bytes"] for x in lines[:-1] if x["progress"] == "verified"] == [0]
