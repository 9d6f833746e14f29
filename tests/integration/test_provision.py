"""fitgate-fw provision: first-boot configuration into an image or a directory.

Images are made the way a gateway image is: a sparse file, a partition table
written by sfdisk (MBR and GPT), a FAT boot partition made by mkfs.vfat, an
ext4-typed second partition. What provision wrote is read back with mtools
(`mtype`), independently of the tool.
"""
import hashlib
import json
import os
import stat
import subprocess
import time

import pytest

from pki import Pki

BIN = os.environ.get("FITGATE_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
FW = os.path.join(BIN, "fitgate-fw")
TOKEN = "tK3n-0123456789abcdefghijklmnopqrstuvwxyzAB"
SSH = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
       "tech@laptop\n")
MIB = 1 << 20


def make_image(path, label="dos", boot_type=None, fat=True):
    """48 MiB sparse image: partition 1 = 36 MiB FAT at 1 MiB (FAT32 on MBR as
    Raspberry Pi OS has it, FAT16 on GPT), partition 2 = the rest (Linux)."""
    with open(path, "wb") as f:
        f.truncate(48 * MIB)
    t1 = boot_type or ("c" if label == "dos" else "uefi")
    t2 = "83" if label == "dos" else "linux"
    script = f"label: {label}\nstart=2048, size=73728, type={t1}\nstart=75776, type={t2}\n"
    subprocess.run(["sfdisk", "-q", path], input=script.encode(), check=True,
                   stdout=subprocess.DEVNULL)
    if fat:
        # mkfs.vfat straight onto the partition's byte range (no loop device).
        subprocess.run(["mkfs.vfat", "-F", "32" if label == "dos" else "16", "-n", "BOOT",
                        "--offset", "2048", path, str(36 * 1024)], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def mtype(image, name, offset=MIB):
    r = subprocess.run(["mtype", "-i", f"{image}@@{offset}", f"::/fitgate/{name}"],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def mls(image, offset=MIB):
    r = subprocess.run(["mdir", "-b", "-i", f"{image}@@{offset}", "::/fitgate"],
                       capture_output=True, text=True)
    return sorted(os.path.basename(x) for x in r.stdout.split()) if r.returncode == 0 else None


@pytest.fixture
def inputs(workdir):
    ca = Pki(os.path.join(workdir, "pki"))
    files = {"ca": ca.ca_crt}
    for name, content in {"token": TOKEN + "\n", "pass": "correct horse battery\n",
                          "ssh": SSH}.items():
        p = os.path.join(workdir, name)
        with open(p, "w") as f:
            f.write(content)
        files[name] = p
    files["pki"] = ca
    return files


def prov(target, inputs, *extra, full=True, json_out=True):
    argv = [FW, "provision", target, "--gateway-id", "gw-0042", "--broker",
            "mqtts://cloud.example.net:8884", "--ca", inputs["ca"], "--enrol-url",
            "https://cloud.example.net/api/v1/enrol", "--token-file", inputs["token"]]
    if full:
        argv += ["--wifi-ssid", "Gym Floor 2", "--wifi-passphrase-file", inputs["pass"],
                 "--wifi-country", "DE", "--ssh-key", inputs["ssh"], "--ntp",
                 "0.pool.ntp.org,time.example.net"]
    if json_out:
        argv.append("--json")
    r = subprocess.run(argv + list(extra), capture_output=True, text=True, timeout=30)
    out = json.loads(r.stdout) if json_out and r.stdout.strip() else None
    return r.returncode, out, r.stderr


def expected_psk(passphrase, ssid):
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32).hex()


def check_contents(read, inputs):
    conf = read("edge.conf").decode()
    assert "gateway_id = gw-0042\n" in conf
    assert "cloud_host = cloud.example.net\n" in conf and "cloud_port = 8884\n" in conf
    assert "cloud_cafile = /boot/firmware/fitgate/ca.pem\n" in conf
    assert "enrol_url = https://cloud.example.net/api/v1/enrol\n" in conf
    assert "enrol_token_file = /boot/firmware/fitgate/enrol-token\n" in conf
    assert read("enrol-token").decode() == TOKEN  # newline stripped
    assert read("ca.pem") == open(inputs["ca"], "rb").read()
    assert read("authorized_keys").decode() == SSH
    wpa = read("wpa_supplicant.conf").decode()
    # The PSK is PBKDF2-HMAC-SHA1(passphrase, ssid, 4096, 32) computed here
    # independently; the passphrase itself is nowhere.
    assert f"psk={expected_psk('correct horse battery', 'Gym Floor 2')}\n" in wpa
    assert f"ssid={'Gym Floor 2'.encode().hex()}\n" in wpa and "country=DE\n" in wpa
    assert "correct horse" not in wpa
    assert "NTP=0.pool.ntp.org time.example.net\n" in read("timesyncd.conf").decode()
    for name in ("edge.conf", "ca.pem", "enrol-token", "authorized_keys", "wpa_supplicant.conf",
                 "timesyncd.conf"):
        assert b"PRIVATE KEY" not in read(name)


def test_psk_matches_the_802_11i_test_vector(workdir, inputs):
    # IEEE 802.11i-2004 H.4.1: passphrase "password", SSID "IEEE".
    with open(inputs["pass"], "w") as f:
        f.write("password")
    d = os.path.join(workdir, "boot")
    os.mkdir(d)
    argv = [FW, "provision", d, "--gateway-id", "gw-1", "--broker", "mqtts://h", "--ca",
            inputs["ca"], "--enrol-url", "https://h/e", "--token-file", inputs["token"],
            "--wifi-ssid", "IEEE", "--wifi-passphrase-file", inputs["pass"]]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wpa = open(os.path.join(d, "fitgate", "wpa_supplicant.conf")).read()
    assert "psk=f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e\n" in wpa


@pytest.mark.parametrize("label", ["dos", "gpt"])
def test_provision_image(workdir, inputs, label):
    img = make_image(os.path.join(workdir, f"gw-{label}.img"), label)
    before = open(img, "rb").read(MIB)
    rc, out, err = prov(img, inputs)
    assert rc == 0, err
    assert out["exit"] == 0 and out["error"] is None
    assert out["partition"] == 1 and out["offset"] == MIB
    assert sorted(out["files"]) == mls(img)
    check_contents(lambda n: mtype(img, n), inputs)
    # The partition table is untouched.
    assert open(img, "rb").read(MIB) == before
    # Provisioning twice is refused (a second token would silently win)...
    rc, out, _ = prov(img, inputs)
    assert rc == 3 and "already provisioned" in out["error"]
    # ...unless forced; files dropped from the new set are gone.
    rc, out, err = prov(img, inputs, "--force", full=False)
    assert rc == 0, err
    assert mls(img) == sorted(["ca.pem", "edge.conf", "enrol-token"])


def test_provision_directory(workdir, inputs):
    d = os.path.join(workdir, "boot")
    os.mkdir(d)
    rc, out, err = prov(d, inputs, "--mount-point", "/boot")
    assert rc == 0, err
    assert out["partition"] is None
    fd = os.path.join(d, "fitgate")
    assert stat.S_IMODE(os.stat(fd).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(fd, "enrol-token")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(fd, "wpa_supplicant.conf")).st_mode) == 0o600
    conf = open(os.path.join(fd, "edge.conf")).read()
    assert "enrol_token_file = /boot/fitgate/enrol-token\n" in conf
    assert not [f for f in os.listdir(fd) if f.endswith(".tmp")]

    def read(n):
        return open(os.path.join(fd, n), "rb").read()
    conf_mp = read("edge.conf").replace(b"/boot/fitgate", b"/boot/firmware/fitgate")
    check_contents(lambda n: conf_mp if n == "edge.conf" else read(n), inputs)
    rc, out, _ = prov(d, inputs)
    assert rc == 3
    rc, out, err = prov(d, inputs, "--force", full=False)
    assert rc == 0, err
    assert sorted(os.listdir(fd)) == ["ca.pem", "edge.conf", "enrol-token"]


def test_refusals(workdir, inputs):
    d = os.path.join(workdir, "boot")
    os.mkdir(d)

    def write(name, content):
        p = os.path.join(workdir, name)
        with open(p, "w") as f:
            f.write(content)
        return p
    key = write("priv.pem", open(inputs["pki"].ca_key).read())
    cases = [
        # (extra args replacing defaults, expected exit, words in the error)
        (["--gateway-id", "gw 1"], 2, "gateway-id"),
        (["--broker", "mqtt://cloud:1883"], 2, "TLS only"),
        (["--broker", "mqtts://cloud:99999"], 2, "port"),
        (["--enrol-url", "http://cloud/enrol"], 2, "https"),
        (["--token-file", write("short", "abc\n")], 2, "token"),
        (["--token-file", write("badtok", "x" * 30 + " y\n")], 2, "token"),
        (["--token-file", os.path.join(workdir, "nope")], 2, "No such file"),
        (["--ca", write("notca", "hello\n")], 2, "CA bundle"),
        (["--ca", inputs["pki"].client("leaf")[0]], 2, "not a CA"),
        (["--ca", key], 3, "private key"),
        (["--ssh-key", key], 3, "private key"),
        (["--ssh-key", write("badssh", "ssh-ed25519 AAAA nope\n")], 2, "OpenSSH public key"),
        (["--ssh-key", write("mixssh", SSH.replace("ssh-ed25519", "ssh-rsa", 1))], 2,
         "OpenSSH public key"),
        (["--wifi-ssid", "x"], 2, "both"),
        (["--wifi-ssid", "x", "--wifi-passphrase-file", write("p7", "1234567\n")], 2,
         "8-63"),
        (["--wifi-ssid", "x" * 33, "--wifi-passphrase-file", inputs["pass"]], 2, "1-32"),
        (["--ntp", "a b"], 2, "ntp"),
        (["--mount-point", "boot"], 2, "mount-point"),
    ]
    for extra, code, word in cases:
        base = [FW, "provision", d, "--gateway-id", "gw-1", "--broker", "mqtts://h", "--ca",
                inputs["ca"], "--enrol-url", "https://h/e", "--token-file", inputs["token"],
                "--json"]
        for i in range(0, len(extra), 2):   # replace an option's value or add it
            if extra[i] in base:
                base[base.index(extra[i]) + 1] = extra[i + 1]
            else:
                base += extra[i:i + 2]
        r = subprocess.run(base, capture_output=True, text=True)
        out = json.loads(r.stdout)
        assert r.returncode == code and out["exit"] == code, (extra, r.stdout, r.stderr)
        assert word.lower() in out["error"].lower(), (extra, out["error"])
        assert not os.path.exists(os.path.join(d, "fitgate")), extra  # nothing written
    # Missing required options: usage error.
    r = subprocess.run([FW, "provision", d, "--gateway-id", "gw-1"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "missing" in r.stderr


def test_image_refusals(workdir, inputs):
    raw = os.path.join(workdir, "raw.img")
    with open(raw, "wb") as f:
        f.truncate(4 * MIB)
    rc, out, _ = prov(raw, inputs)
    assert rc == 3 and "no partition table" in out["error"]
    nofat = make_image(os.path.join(workdir, "nofat.img"), "dos", boot_type="83")
    rc, out, _ = prov(nofat, inputs)
    assert rc == 3 and "no FAT partition" in out["error"]
    # Typed FAT but never formatted: the boot sector is checked, not trusted.
    blank = make_image(os.path.join(workdir, "blank.img"), "gpt", fat=False)
    rc, out, _ = prov(blank, inputs)
    assert rc == 3 and "no FAT file system" in out["error"]
    rc, out, _ = prov(make_image(os.path.join(workdir, "p.img")), inputs, "--partition", "3")
    assert rc == 3 and "no partition 3" in out["error"]
    # A GPT with a corrupted entry array is refused, not half-trusted.
    bad = make_image(os.path.join(workdir, "badgpt.img"), "gpt")
    with open(bad, "r+b") as f:
        f.seek(1024 + 40)
        b = f.read(1)
        f.seek(1024 + 40)
        f.write(bytes([b[0] ^ 0x01]))
    rc, out, _ = prov(bad, inputs)
    assert rc == 3 and "CRC" in out["error"]
    # A partition reaching past the end of the image.
    short = make_image(os.path.join(workdir, "short.img"))
    with open(short, "r+b") as f:
        f.truncate(30 * MIB)
    rc, out, _ = prov(short, inputs)
    assert rc == 3 and "outside the image" in out["error"]


def _detach(dev):
    # `losetup -d` is deferred while udev still probes the device: retry.
    for _ in range(50):
        subprocess.run(["losetup", "-d", dev], capture_output=True)
        if subprocess.run(["losetup", dev], capture_output=True).returncode != 0:
            return
        time.sleep(0.1)


def test_provision_block_device(workdir, inputs):
    """A loop device stands in for an SD card (root and /dev/loop-control, as
    the flash tests): refused while someone holds it exclusively, written
    through mtools at the partition's offset otherwise."""
    img = make_image(os.path.join(workdir, "card.img"), "gpt")
    dev = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert dev.startswith("/dev/loop")
    try:
        holder = os.open(dev, os.O_RDONLY | os.O_EXCL)  # what a mount does to the card
        try:
            rc, out, _ = prov(dev, inputs)
            assert rc == 3 and "in use" in out["error"], out
        finally:
            os.close(holder)
        rc, out, err = prov(dev, inputs)
        assert rc == 0, (out, err)
        assert out["partition"] == 1 and out["offset"] == MIB
    finally:
        _detach(dev)
    check_contents(lambda n: mtype(img, n), inputs)
