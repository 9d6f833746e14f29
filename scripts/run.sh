#!/usr/bin/env bash
# make run: the embedded stack on this machine, with live simulated devices.
#   local mosquitto (the gateway's broker)  <- fitgate-sim (5 heart-rate straps)
#   fitgate-edge (spool in run/edge/)       -> cloud mosquitto
#   fitgate-core --role all (SQLite + embedded bus in run/core/) + the mini app
# Ctrl-C stops everything (by PID). Ports: FITGATE_HTTP_PORT (8080),
# FITGATE_LOCAL_PORT (18831), FITGATE_CLOUD_PORT (18832).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/bin
RUN=$ROOT/run
HTTP_PORT=${FITGATE_HTTP_PORT:-8080}
LOCAL_PORT=${FITGATE_LOCAL_PORT:-18831}
CLOUD_PORT=${FITGATE_CLOUD_PORT:-18832}
DEVICES=${FITGATE_DEVICES:-5}
mkdir -p "$RUN/edge" "$RUN/core" "$RUN/mosq-local" "$RUN/mosq-cloud"

broker_conf() { # port dir
  cat >"$2/mosquitto.conf" <<CONF
listener $1 127.0.0.1
allow_anonymous true
persistence true
persistence_location $2/
max_queued_messages 1000000
max_inflight_messages 0
max_packet_size 4194304
log_dest file $2/mosquitto.log
CONF
}

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "stopped. Data stays in $RUN (delete it for a fresh start)."
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2; return 1
}

broker_conf "$LOCAL_PORT" "$RUN/mosq-local"
broker_conf "$CLOUD_PORT" "$RUN/mosq-cloud"
# Started as root, mosquitto drops to the user mosquitto: give it its directories.
if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
  chown mosquitto: "$RUN/mosq-local" "$RUN/mosq-cloud"
fi
/usr/sbin/mosquitto -c "$RUN/mosq-local/mosquitto.conf" & pids+=($!)
/usr/sbin/mosquitto -c "$RUN/mosq-cloud/mosquitto.conf" & pids+=($!)
wait_port "$LOCAL_PORT"; wait_port "$CLOUD_PORT"

# The old shop's dev database (read-only), so "link my shop account" works.
[ -f "$RUN/legacy.db" ] || cloud/legacy/devdb/make-devdb.sh "$RUN/legacy.db" >/dev/null
demo=$(for i in $(seq 1 "$DEVICES"); do printf 'sim-%04d,' "$i"; done)
"$BIN/fitgate-core" --role=all --data-dir="$RUN/core" --mqtt-port="$CLOUD_PORT" \
  --http-port="$HTTP_PORT" --miniapp-dir="$ROOT/cloud/miniapp/dist" --dev=1 \
  --dev-demo-devices="${demo%,}" --dev-demo-gateways=gw-dev --legacy-db="$RUN/legacy.db" \
  2>>"$RUN/core.log" & pids+=($!)
wait_port "$HTTP_PORT"
"$BIN/fitgate-edge" --gateway-id=gw-dev --spool-path="$RUN/edge/spool.db" \
  --local-port="$LOCAL_PORT" --cloud-port="$CLOUD_PORT" \
  --metrics-file="$RUN/edge/metrics.prom" --commands=1 2>>"$RUN/edge.log" & pids+=($!)
"$BIN/fitgate-sim" --port="$LOCAL_PORT" --devices="$DEVICES" --rate=1 --qos=2 \
  2>>"$RUN/sim.log" & pids+=($!)

cat <<MSG

  fitgate is running (embedded stack, $DEVICES simulated heart-rate straps).

  Open the mini app:   http://127.0.0.1:$HTTP_PORT/dev/launch
  (dev mode signs Telegram init data for a demo user, as Telegram would)

  Metrics:  http://127.0.0.1:$HTTP_PORT/metrics   Edge metrics: $RUN/edge/metrics.prom
  Logs:     $RUN/core.log  $RUN/edge.log  $RUN/sim.log
  Try:      Devices -> gateway gw-dev lists what it hears; Shop -> link the old shop account
            with anna@example.ru / anna-secret-1 (cloud/legacy/devdb); Security -> TOTP.
  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}" || true
echo "a process exited; see the logs in $RUN" >&2
