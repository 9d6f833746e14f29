#!/usr/bin/env bash
# bench/signin.sh - sign-ins per second over HTTP: POST /api/v1/session with a
# fresh, correctly signed Telegram init data per request (HMAC check, one-time
# record, registration or lookup, session with its refresh token, in a SQLite
# transaction shared with concurrent sign-ins, ES256 access token), next to GET /healthz of the same server as
# the ceiling. fitgate-core runs with role=api in a temporary data dir; the
# load generator is bench/signin.c (closed loop, one request in flight per
# connection, reconnecting when the api answers "Connection: close").
# Puts the table into docs/benchmarks.md as the "## Sign-in" section.
#   BUILD_DIR (default build/), REQUESTS (20000), RUNS (5) are the knobs.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
requests=${REQUESTS:-20000}
runs=${RUNS:-5}
for t in bench_signin fitgate-core; do
  [ -x "$build/bin/$t" ] || cmake --build "$build" --target "$t" >/dev/null
done
work=$(mktemp -d /tmp/fitgate-bench-signin-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/bin/fitgate-core" --role=api --dev=1 --data-dir="$work/core" --http-port="$port" \
  --ready-file="$work/ready" --log-level=warn >"$work/core.log" 2>&1 &
core=$!
trap 'kill $core 2>/dev/null; wait $core 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.1; done
[ -f "$work/ready" ] || { echo "fitgate-core did not start" >&2; cat "$work/core.log" >&2; exit 1; }
lines=()
for conns in 1 4 16 32; do
  for _ in $(seq 1 "$runs"); do
    lines+=("$("$build/bin/bench_signin" "$port" "$conns" $((requests * 5)) static /healthz)")
    echo "${lines[-1]}"
    # new users: every request registers a user
    lines+=("$("$build/bin/bench_signin" "$port" "$conns" "$requests" signin | sed 's/"mode":"signin"/"mode":"signin_new"/')")
    echo "${lines[-1]}"
    # returning users: 100 users signing in again and again
    lines+=("$("$build/bin/bench_signin" "$port" "$conns" "$requests" signin /healthz 100 | sed 's/"mode":"signin"/"mode":"signin_returning"/')")
    echo "${lines[-1]}"
  done
done
btype=$(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2 || true)
table=$(printf '%s\n' "${lines[@]}" | python3 -c "$(cat <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
names = {"static": "static GET /healthz (ceiling)", "signin_new": "sign-in, new user",
         "signin_returning": "sign-in, returning user"}
print("| connections | request | requests/s (median) | p50 ms | p99 ms | errors | runs (requests/s) |")
print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
for c in sorted({r["connections"] for r in rows}):
    for mode in ("static", "signin_new", "signin_returning"):
        rs = [r for r in rows if r["connections"] == c and r["mode"] == mode]
        if not rs:
            continue
        med = lambda k: statistics.median(r[k] for r in rs)
        print("| %d | %s | %s | %.2f | %.2f | %d | %s |" % (
            c, names[mode], format(med("rps"), ",.0f"), med("p50_ms"), med("p99_ms"),
            sum(r["errors"] for r in rs), ", ".join(format(r["rps"], ",.0f") for r in rs)))
PY
)")
echo "$table"
section=$(cat <<EOT
## Sign-in

Produced by bench/signin.sh (bench/signin.c): $(nproc) cores shared with the other work on this
machine, $(uname -sr), ${btype:-default} build, gcc $(gcc -dumpversion), ES256 on OpenSSL $(openssl version | cut -d" " -f2)
(ADR 0004), SQLite WAL
with synchronous=NORMAL; $(date -u '+%Y-%m-%d %H:%M UTC'). fitgate-core role=api; every sign-in
request carries fresh init data signed with the bot token (exchanged once), median of $runs runs;
the load generator runs on the same machine.

$table

Reading the numbers: the target is 10,000 sign-ins/s with p99 under 10 ms. Returning users pass
it from 4 connections on. New users, each a registration with its account, identity and
UserRegistered event (which the outbox relay then publishes to the embedded bus on the same two
cores), pass it at 16 connections; at 32 they go a little faster but p99 goes past 10 ms. The
whole table runs on one server whose database keeps growing (over a million sign-ins by the last
row). The static endpoint (same server, keep-alive connections) bounds what HTTP costs; the load
generator shares the two cores. A sign-in is the HMAC check of the init data, one ES256
signature (OpenSSL; ADR 0004) and its rows: the one-time init data record, the session (which
carries its refresh token's hash), the audit row and, for a new user, the account, its identity
and the outbox row. What got it here is in ADR 0005: sign-ins arriving together share one
transaction (group commit); WAL checkpoints run on a thread of their own, with a short inline
catch-up every ~10,000 WAL pages so that the WAL restarts (about 40 MB); short busy waits when
another connection holds the write lock; the refresh token's hash in the session row instead of
a row of its own; the outbox relay deletes what it published in rounds about once a second
instead of after every batch (every write from another connection empties the sign-in
connection's page cache); prepared statements and a signing context per thread. At 1 connection
the round trip (client, server and kernel hand-offs) is the limit, which the static endpoint
shows too.
EOT
)
printf '%s\n' "$section" | /usr/bin/python3 bench/md_section.py docs/benchmarks.md "Sign-in"
