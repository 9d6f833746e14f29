"""Home gateway membership (docs/devices.md "Who may pair at a gateway"): only
the people who belong to a gateway see what it has nearby and pair devices at
it. On the real edge with (mocked) BlueZ: a stranger is refused; the
operator's claim code makes the owner once; used, expired and foreign codes
are refused; the owner invites a member who sees and pairs; a removed member
loses the gateway and the devices they paired there (the gateway lets them
go); the last owner stays while others remain; the dev demo user owns the
demo gateway without a code. Gym machines (QR sessions) are test_bluez's."""
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import time

from stack import BIN
from test_bluez import GW, User, ble, claim, finish, hr, make_stack, wait_nearby  # noqa: F401

CODE_RE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$")
DEMO_TG_ID = 100000001


def events(workdir, want, timeout=10):
    """(type, data) of the identity topic's events on the embedded bus, once
    every type in want is there."""
    bus = sqlite3.connect(f"file:{workdir}/core/bus.db?mode=ro", uri=True, timeout=10)
    deadline = time.time() + timeout
    while True:
        got = [json.loads(v) for (v,) in
               bus.execute("SELECT value FROM log WHERE topic='fit.identity.v1'")]
        got = [(e["type"], e["data"]) for e in got]
        if all(any(t == w for t, _ in got) for w in want) or time.time() > deadline:
            bus.close()
            return got
        time.sleep(0.2)


def cli(s, *args):
    return subprocess.run([os.path.join(BIN, "fitgate-core"), "gateway", *args,
                           f"--data-dir={s.dir}/core"], capture_output=True, text=True, timeout=30)


def expire(s, code):
    """Age a code in the core's database: only its SHA-256 is stored there."""
    h = hashlib.sha256(code.replace("-", "").encode()).digest()
    with sqlite3.connect(f"{s.dir}/core/core.db", timeout=10) as c:
        n = c.execute("UPDATE fitdevices_gateway_codes SET expires_ms=1 WHERE hash=?",
                      (h,)).rowcount
    assert n == 1


def test_only_members_see_and_pair_at_a_home_gateway(workdir, ble):
    s = make_stack(workdir, core_args=["--dev-demo-gateways=gw-demo"])
    try:
        strap, bobs = "C0:FF:EE:00:09:01", "C0:FF:EE:00:09:02"
        ble.add(strap, "Polar H10 Alice", "hr", rssi=-50)
        ble.add(bobs, "Garmin HRM Bob", "hr", rssi=-55)
        base = f"http://127.0.0.1:{s.http_port}"
        alice, bob = User(base, 7301, "Alice"), User(base, 7302, "Bob")
        mallory = User(base, 7303, "Mallory")

        # A stranger who knows (or guesses) the gateway id learns nothing.
        for path in (f"/api/v1/gateways/{GW}/nearby", f"/api/v1/gateways/{GW}/nearby?refresh=1"):
            st, e = mallory.call("GET", path)
            assert st == 403 and e["error"] == "not_a_member", (path, st, e)
        st, e = mallory.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": strap})
        assert st == 403 and e["error"] == "not_a_member", e
        assert mallory.call("GET", "/api/v1/gateways") == (200, [])
        assert mallory.call("POST", f"/api/v1/gateways/{GW}/invites")[1]["error"] == "not_an_owner"

        # The operator's command line prints a one-time owner code.
        r = cli(s, "claim-code", GW)
        assert r.returncode == 0, r.stderr
        code = r.stdout.strip()
        assert CODE_RE.match(code), code
        bad = cli(s, "claim-code", "bad/gw")
        assert bad.returncode == 2 and "gateway id" in bad.stderr
        assert cli(s, "claim-code", GW, "--ttl-days=0").returncode == 2
        assert cli(s, "frobnicate", GW).returncode == 2
        # Stored as a hash only: the clear code is nowhere in the database.
        for f in (f"{s.dir}/core/core.db", f"{s.dir}/core/core.db-wal"):
            if os.path.exists(f):
                with open(f, "rb") as fh:
                    assert code.replace("-", "").encode() not in fh.read(), f

        # Codes are checked before anything: garbage, another gateway's code.
        other = json.loads(cli(s, "claim-code", "gw-elsewhere", "--json").stdout)["code"]
        for c in ("", "AAAA", "AAAA-AAAA-AAAA-AAAA-AAAA", other):
            st, e = mallory.call("POST", f"/api/v1/gateways/{GW}/claim", {"code": c})
            assert st == 403 and e["error"] == "code_invalid", (c, st, e)
        assert mallory.call("POST", f"/api/v1/gateways/{GW}/claim", {})[0] == 400

        # Alice types it from the box: case and dashes do not matter.
        st, body = alice.call("POST", f"/api/v1/gateways/{GW}/claim",
                              {"code": code.lower().replace("-", " ")})
        assert st == 200 and body == {"gateway": GW, "role": "owner"}, body
        # Once: nobody can use it again, not even Alice.
        for u in (mallory, alice):
            st, e = u.call("POST", f"/api/v1/gateways/{GW}/claim", {"code": code})
            assert st == 403 and e["error"] == "code_used", e
        # An expired code is refused.
        old = s.claim_code()
        expire(s, old)
        st, e = mallory.call("POST", f"/api/v1/gateways/{GW}/claim", {"code": old})
        assert st == 403 and e["error"] == "code_expired", e
        st, mine = alice.call("GET", "/api/v1/gateways")
        assert st == 200 and [(g["gateway"], g["role"]) for g in mine] == [(GW, "owner")], mine
        near = wait_nearby(alice, GW, strap)
        assert near["name"] == "Polar H10 Alice"
        st, body = alice.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": strap})
        assert st == 200, body

        # Alice invites Bob; he sees the gateway's surroundings and pairs his strap.
        st, inv = alice.call("POST", f"/api/v1/gateways/{GW}/invites")
        assert st == 201 and inv["role"] == "member" and CODE_RE.match(inv["code"]), inv
        assert 23 * 3600e3 < inv["expires_ms"] - time.time() * 1000 <= 24 * 3600e3
        st, body = bob.call("POST", f"/api/v1/gateways/{GW}/claim", {"code": inv["code"]})
        assert st == 200 and body["role"] == "member", body
        assert mallory.call("POST", f"/api/v1/gateways/{GW}/claim",
                            {"code": inv["code"]})[1]["error"] == "code_used"
        assert bob.call("POST", f"/api/v1/gateways/{GW}/invites")[1]["error"] == "not_an_owner"
        wait_nearby(bob, GW, bobs)
        st, body = bob.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": bobs})
        assert st == 200, body
        ble.wait(lambda st: st[bobs]["start_notify"] >= 1, what="Bob's strap subscribed")
        assert ble.notify(bobs, "2a37", [hr(70 + i) for i in range(5)]) == 5
        deadline = time.time() + 20
        while time.time() < deadline and len([r for r in bob.readings() if r["dev"] == bobs]) < 5:
            time.sleep(0.2)
        assert sorted(r["v"]["hr"] for r in bob.readings() if r["dev"] == bobs) == \
            list(range(70, 75))
        st, mine = alice.call("GET", "/api/v1/gateways")
        members = {m["user_id"]: m["role"] for m in mine[0]["members"]}
        assert sorted(members.values()) == ["member", "owner"], mine
        bob_id = next(u for u, r in members.items() if r == "member")
        alice_id = next(u for u, r in members.items() if r == "owner")
        st, bmine = bob.call("GET", "/api/v1/gateways")
        assert bmine == [{"gateway": GW, "role": "member", "since_ms": bmine[0]["since_ms"]}]

        # Only owners remove others; the last owner stays while Bob is in.
        st, e = bob.call("DELETE", f"/api/v1/gateways/{GW}/members/{alice_id}")
        assert st == 403 and e["error"] == "not_an_owner", e
        st, e = alice.call("DELETE", f"/api/v1/gateways/{GW}/members/{alice_id}")
        assert st == 409 and e["error"] == "last_owner", e
        st, e = mallory.call("DELETE", f"/api/v1/gateways/{GW}/members/{bob_id}")
        assert st == 403 and e["error"] == "not_a_member", e

        # Alice removes Bob: he loses the gateway and the strap he paired
        # there; the gateway lets it go; Alice's own strap stays hers.
        st, body = alice.call("DELETE", f"/api/v1/gateways/{GW}/members/{bob_id}")
        assert st == 200 and body == {"gateway": GW, "user_id": bob_id, "unpaired": 1}, body
        assert bob.call("GET", "/api/v1/devices") == (200, [])
        assert bob.call("GET", f"/api/v1/gateways/{GW}/nearby")[1]["error"] == "not_a_member"
        st, e = bob.call("POST", "/api/v1/devices/bind", {"gateway": GW, "device": bobs})
        assert st == 403 and e["error"] == "not_a_member", e
        assert bob.call("GET", "/api/v1/gateways") == (200, [])
        ble.wait(lambda st: not st[bobs]["connected"], what="Bob's strap let go")
        assert [d["device"] for d in alice.call("GET", "/api/v1/devices")[1]] == [strap]
        evs = events(workdir, ["fit.gateway.member_added.v1", "fit.gateway.member_removed.v1"])
        added = [d for t, d in evs if t == "fit.gateway.member_added.v1"]
        assert {(d["user_id"], d["role"], d["via"]) for d in added} >= \
            {(alice_id, "owner", "claim_code"), (bob_id, "member", "invite")}, added
        removed = [d for t, d in evs if t == "fit.gateway.member_removed.v1"]
        assert removed == [{"user_id": bob_id, "gateway": GW, "role": "member",
                            "reason": "removed", "by": alice_id}], removed
        assert any(t == "fit.device.unpaired.v1" and d["device"] == bobs and
                   d["reason"] == "member_removed" for t, d in evs), evs

        # A second invite; the member leaves by themself; then the owner may.
        st, inv = alice.call("POST", f"/api/v1/gateways/{GW}/invites")
        assert bob.call("POST", f"/api/v1/gateways/{GW}/claim", {"code": inv["code"]})[0] == 200
        assert bob.call("DELETE", f"/api/v1/gateways/{GW}/members/{bob_id}")[0] == 200
        assert alice.call("DELETE", f"/api/v1/gateways/{GW}/members/{alice_id}")[0] == 200
        assert alice.call("GET", f"/api/v1/gateways/{GW}/nearby")[1]["error"] == "not_a_member"

        # Dev mode: the demo user owns the demo gateway from the start (and
        # only that one): past the membership check, the gateway has not
        # reported anything yet.
        demo = User(base, DEMO_TG_ID, "Demo")
        st, mine = demo.call("GET", "/api/v1/gateways")
        assert st == 200 and [(g["gateway"], g["role"]) for g in mine] == [("gw-demo", "owner")]
        assert demo.call("GET", "/api/v1/gateways/gw-demo/nearby")[1]["error"] == "no_snapshot"
        assert demo.call("GET", f"/api/v1/gateways/{GW}/nearby")[1]["error"] == "not_a_member"
    finally:
        finish(s)
