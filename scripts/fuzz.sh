#!/usr/bin/env bash
# Run every libFuzzer target for FUZZ_SECONDS (default 20) with its seed corpus.
# Findings (crash-*, leak-*, timeout-*) land in build-fuzz/findings/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}
scripts/build.sh fuzz >/dev/null
mkdir -p build-fuzz/findings build-fuzz/corpus
fail=0
for t in build-fuzz/fuzz/*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work=build-fuzz/corpus/$name
  mkdir -p "$work"
  seeds=tests/fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=""
  if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/findings/"$name"- "$work" $seeds >build-fuzz/"$name".log 2>&1; then
    echo "fuzz: $name ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' build-fuzz/"$name".log | awk '{print $2}' || true) runs in ${secs}s)"
  else
    echo "fuzz: $name FAILED (see build-fuzz/$name.log)"; tail -30 build-fuzz/"$name".log; fail=1
  fi
done
exit $fail
