#!/usr/bin/env bash
# bench/bluez.sh - BLE notifications from BlueZ (the dbusmock BlueZ on a private
# dbus-daemon) into fitgate-edge's spool, next to a bare sd-bus client as the
# ceiling. Writes the "## BLE notifications (BlueZ -> spool)" section of
# docs/benchmarks.md.   BUILD_DIR (default build/), N (20000), RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake --build "$build" --target fitgate-edge ble_sink >/dev/null
case "$build" in /*) bin="$build/bin" ;; *) bin="$PWD/$build/bin" ;; esac
FITGATE_BIN="$bin" exec /usr/bin/python3 bench/bluez.py --n "${N:-20000}" \
  --runs "${RUNS:-3}"
