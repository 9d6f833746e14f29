#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, combined broker+controller) for the
# tests, from the Maven Central jars pinned in tests/kafka/pom.xml.
#
#   scripts/kafka.sh fetch                    jars -> tests/kafka/lib/ (idempotent)
#   scripts/kafka.sh start <dir> <port> [cport]
#                                             format <dir>/data, start the broker on
#                                             127.0.0.1:<port> (controller on cport,
#                                             default port+1), wait until it answers,
#                                             print the bootstrap address
#   scripts/kafka.sh stop <dir>               stop the broker started in <dir>
#
# The broker is tracked by <dir>/kafka.pid and never looked up by name; its log
# is <dir>/kafka.log. Needs `java` (17+) and, for fetch, `mvn` on PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KDIR="$ROOT/tests/kafka"
LIB="$KDIR/lib"
STAMP="$LIB/.complete"
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

pom_sum() {
    sha256sum "$KDIR/pom.xml" | cut -d' ' -f1
}

cmd_fetch() {
    # The stamp holds the pom's hash: a changed pom refetches, a complete
    # lib/ is left alone (no network needed).
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(pom_sum)" ]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    rm -rf "$LIB"
    (cd "$KDIR" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib) ||
        die "fetching the Kafka jars failed"
    ls "$LIB"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka_2.13 jar missing after fetch"
    pom_sum >"$STAMP"
}

# 0 when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# 0 when $1 is alive and is a Kafka broker JVM (guards against a reused PID).
is_broker_pid() {
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'kafka\.Kafka'
}

# A random KRaft cluster id: 16 bytes, base64url without padding.
cluster_id() {
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

cmd_start() {
    local dir=${1:?usage: kafka.sh start <dir> <port> [cport]}
    local port=${2:?usage: kafka.sh start <dir> <port> [cport]}
    local cport=${3:-$((port + 1))}
    command -v java >/dev/null || die "java not found (apt-get install openjdk-17-jre-headless)"
    cmd_fetch
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/kafka.pid" ] && is_broker_pid "$(cat "$dir/kafka.pid")"; then
        die "a broker already runs from $dir (pid $(cat "$dir/kafka.pid"))"
    fi
    port_open "$port" && die "port $port is already in use"
    port_open "$cport" && die "controller port $cport is already in use"

    rm -rf "$dir/data"
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
    java -cp "$LIB/*" kafka.tools.StorageTool format -t "$(cluster_id)" \
        -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
        { cat "$dir/format.log" >&2; die "formatting the storage failed"; }

    # setsid: the broker must not get the caller's Ctrl-C or die with its shell.
    setsid java -Xmx512m -Xms256m -cp "$LIB/*" kafka.Kafka "$dir/server.properties" \
        >"$dir/kafka.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/kafka.pid"

    local waited=0
    while ! port_open "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$dir/kafka.log" >&2
            rm -f "$dir/kafka.pid"
            die "the broker exited during start-up (log: $dir/kafka.log)"
        fi
        if [ "$waited" -ge $((START_TIMEOUT * 10)) ]; then
            tail -n 30 "$dir/kafka.log" >&2
            cmd_stop "$dir"
            die "the broker did not answer on port $port within ${START_TIMEOUT}s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "127.0.0.1:$port"
}

cmd_stop() {
    local dir=${1:?usage: kafka.sh stop <dir>}
    local pidfile="$dir/kafka.pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if ! is_broker_pid "$pid"; then
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do # a clean shutdown takes a few seconds
        is_broker_pid "$pid" || break
        sleep 0.1
    done
    if is_broker_pid "$pid"; then
        echo "kafka.sh: broker $pid did not stop in 30 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        while is_broker_pid "$pid"; do sleep 0.1; done
    fi
    rm -f "$pidfile"
}

case "${1:-}" in
fetch) cmd_fetch ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: kafka.sh fetch | start <dir> <port> [cport] | stop <dir>" ;;
esac
