#!/usr/bin/env bash
# bench/decoders.sh - run bench_decoders and put its table into
# docs/benchmarks.md as the "## Decoders" section (replacing only that section;
# bench/pipeline.py keeps it when it rewrites the pipeline part).
#   BUILD_DIR (default build/, the release build) holds bin/bench_decoders;
#   ITERS and RUNS are passed on (defaults 1000000 and 7).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [ ! -x "$build/bin/bench_decoders" ]; then
  cmake --build "$build" --target bench_decoders >/dev/null
fi
iters=${ITERS:-1000000}
runs=${RUNS:-7}
table=$("$build/bin/bench_decoders" "$iters" "$runs")
btype=$(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2 || true)
echo "$table"

section=$(cat <<EOT
## Decoders

Produced by bench/decoders.sh (bench/decoders.c, payloads in bench/payloads.c).
$(nproc) cores, $(uname -sr), ${btype:-default} build, gcc $(gcc -dumpversion);
$(date -u '+%Y-%m-%d %H:%M UTC'). Nanoseconds per \`gatt_decode()\` call (bytes in,
validated SI reading out) on one realistic payload, median of $runs runs of
$iters calls, next to a \`memcpy\` of the same bytes (the floor). Targets from
issue 3: heart rate <= 25 ns, FTMS records <= 60 ns.

$table
EOT
)
printf '%s\n' "$section" | /usr/bin/python3 bench/md_section.py docs/benchmarks.md "Decoders"
