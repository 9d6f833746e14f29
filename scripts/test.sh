#!/usr/bin/env bash
# make test: everything CI checks, on a fresh Debian machine (deps already run).
#   1. build: release, ASan+UBSan, libFuzzer (clang)
#   2. unit tests (CMocka) on the release and the ASan builds
#   3. a real Kafka broker (KRaft, jars from Maven Central) for the Kafka tests
#   4. integration tests (pytest): real mosquitto brokers, SQLite, the Kafka
#      broker; first with the release binaries, then with the ASan binaries
#   5. short fuzz runs of every libFuzzer target
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=/usr/bin:$PATH   # Debian's python3 (pytest, paho-mqtt) before any pyenv shim
step() { printf '\n=== %s ===\n' "$*"; }

step "build"
scripts/build.sh release
scripts/build.sh asan
scripts/build.sh fuzz

step "mini app (npm, pinned by package-lock.json) + browser test packages"
cloud/miniapp/build.sh
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi

step "kafka broker"
KDIR=$(mktemp -d /tmp/fitgate-kafka.XXXXXX)
KPORT=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
scripts/kafka.sh fetch
cleanup() { scripts/kafka.sh stop "$KDIR" >/dev/null 2>&1 || true; rm -rf "$KDIR"; }
trap cleanup EXIT
scripts/kafka.sh start "$KDIR" "$KPORT"
export FITGATE_KAFKA_BROKERS=127.0.0.1:$KPORT
export FITGATE_REQUIRE_KAFKA=1

step "unit tests (release)"
ctest --test-dir build --output-on-failure -j 2

step "unit tests (ASan + UBSan + LSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j 2

step "integration tests (release binaries)"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

step "integration tests (ASan + UBSan binaries, exit codes checked for leaks)"
FITGATE_BIN=$ROOT/build-asan/bin FITGATE_CHECK_EXIT=1 FITGATE_OUTAGE_S=${FITGATE_OUTAGE_S_ASAN:-20} \
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

step "fuzz (short runs; make fuzz runs long ones)"
FUZZ_SECONDS=${FUZZ_SECONDS:-10} scripts/fuzz.sh

step "all tests passed"
