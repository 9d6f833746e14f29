#!/usr/bin/env bash
# bench/worker.sh - readings per second through the worker's workouts
# projection (sessions + metrics, one SQLite transaction per readings event)
# consuming from a real Kafka broker, next to a bare consumer of the same
# topic (consume + commit only: the ceiling), in the same run. Starts its own
# broker with scripts/kafka.sh (tracked by PID, stopped at exit) and puts the
# table into docs/benchmarks.md as the "## Workouts worker" section.
#   BUILD_DIR (default build/) holds bin/bench_worker; READINGS (200000),
#   DEVICES (20) and RUNS (3) are the knobs.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
readings=${READINGS:-200000}
devices=${DEVICES:-20}
runs=${RUNS:-3}
if [ ! -x "$build/bin/bench_worker" ]; then
  cmake --build "$build" --target bench_worker >/dev/null
fi
work=$(mktemp -d /tmp/fitgate-bench-worker-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  scripts/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/kafka.sh fetch
mkdir -p "$work/kafka"
brokers=$(scripts/kafka.sh start "$work/kafka" "$port" "$cport" | tail -1)
results=()
for i in $(seq 1 "$runs"); do
  mkdir -p "$work/run$i"
  results+=("$("$build/bin/bench_worker" "$brokers" "$readings" "$work/run$i" "$devices")")
  echo "${results[-1]}"
done
btype=$(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2 || true)
table=$(printf '%s\n' "${results[@]}" | python3 -c "$(cat <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
def med(k):
    return statistics.median(r[k] for r in rows)
print("| run | bare consume (readings/s) | workouts projection (readings/s) | ratio |")
print("|---|---:|---:|---:|")
for i, r in enumerate(rows, 1):
    print("| %d | %s | %s | %.3f |" % (i, format(r["bare_consume_per_s"], ",.0f"),
                                      format(r["workouts_per_s"], ",.0f"), r["ratio"]))
print("| median | %s | %s | %.3f |" % (format(med("bare_consume_per_s"), ",.0f"),
                                      format(med("workouts_per_s"), ",.0f"), med("ratio")))
r = rows[0]
print()
print("%s readings in %s events of 50, %d devices (%d users, a strap and a treadmill each, "
      "1 Hz); produce %s readings/s; closing the %d open workouts at the end took %.0f ms."
      % (format(r["readings"], ","), format(r["events"], ","), r["devices"], r["devices"] // 2,
         format(med("produce_per_s"), ",.0f"), r["closed_at_end"], r["close_ms"]))
PY
)")
echo "$table"
section=$(cat <<EOT
## Workouts worker

Produced by bench/worker.sh (bench/worker.c): $(nproc) cores, $(uname -sr),
${btype:-default} build, gcc $(gcc -dumpversion), Apache Kafka $(ls tests/kafka/lib | sed -n 's/^kafka_2.13-\(.*\)\.jar$/\1/p' | head -1)
single node on loopback; $(date -u '+%Y-%m-%d %H:%M UTC'). Readings per second
consumed from one topic by a fresh consumer group: a bare consumer (consume +
commit, the ceiling) and the worker's workouts projection (decode, owner
lookup, sample dedup, session pick, one SQLite transaction with the inbox row
per readings event, then commit), $runs runs.

$table

Reading the numbers: the bare consumer hands out records librdkafka already
fetched in batches, so it measures the transport's ceiling; the projection is
bound by SQLite (about five statements per reading: duplicate check, session
lookup, stop lookup, workout update, sample insert; statements prepared once).
At 1 reading/s per device one worker keeps up with that many devices streaming
at once; more workers split the readings topic by partition (gateway key).
EOT
)
printf '%s\n' "$section" | /usr/bin/python3 bench/md_section.py docs/benchmarks.md "Workouts worker"
