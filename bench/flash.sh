#!/usr/bin/env bash
# bench/flash.sh - fitgate-fw flash (with read-back verification) vs dd vs
# bmaptool copy, on one sparse 256 MiB image (~40% mapped) written to a file.
# Puts the table into docs/benchmarks.md as the "## Flashing" section
# (replacing only that section).
#   BUILD_DIR (default build/) holds bin/fitgate-fw; RUNS (default 3);
#   WORK (default a mktemp dir under /var/tmp: a disk, not tmpfs, so fsync
#   and the read-back really reach storage).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
fw="$build/bin/fitgate-fw"
if [ ! -x "$fw" ]; then
  cmake --build "$build" --target fitgate-fw >/dev/null
fi
command -v bmaptool >/dev/null || { echo "bench/flash.sh: bmaptool missing (scripts/deps.sh)" >&2; exit 1; }
runs=${RUNS:-3}
work=${WORK:-$(mktemp -d /var/tmp/fitgate-flash-bench.XXXXXX)}
trap 'rm -rf "$work"' EXIT
img="$work/image.img"
tgt="$work/target.img"

# 64 extents of 1.6 MiB of random data, one every 4 MiB: 40% mapped.
truncate -s 256M "$img"
head -c $((64 * 1677722)) /dev/urandom > "$work/data"
for i in $(seq 0 63); do
  dd if="$work/data" of="$img" bs=1677722 skip="$i" count=1 conv=notrunc \
     oflag=seek_bytes status=none seek=$((i * 4194304))
done
rm -f "$work/data"
"$fw" bmap create "$img" > "$img.bmap"
mapped=$(awk -F'[<> ]+' '/<MappedBlocksCount>/{print $3 * 4096}' "$img.bmap")

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# dd of only the mapped ranges (the issue's 1.5x reference), one dd per range.
dd_mapped() {
  sed -n 's/.*<Range[^>]*> *\([0-9]*\)-\{0,1\}\([0-9]*\) *<\/Range>.*/\1 \2/p' "$img.bmap" |
  while read -r a b; do
    [ -n "$b" ] || b=$a
    dd if="$img" of="$tgt" bs=4096 skip="$a" seek="$a" count=$((b - a + 1)) conv=notrunc status=none
  done
  dd if=/dev/null of="$tgt" conv=notrunc,fsync count=0 status=none
}

declare -A times
tools=(fitgate dd_full dd_mapped bmaptool)
for r in $(seq 1 "$runs"); do
  for t in "${tools[@]}"; do
    rm -f "$tgt"
    [ "$t" = dd_mapped ] && truncate -s 256M "$tgt"
    start=$(now)
    case $t in
      fitgate)   "$fw" flash "$img" "$tgt" --json > "$work/out.json" ;;
      dd_full)   dd if="$img" of="$tgt" bs=4M conv=fsync status=none ;;
      dd_mapped) dd_mapped ;;
      bmaptool)  bmaptool -q copy --bmap "$img.bmap" "$img" "$tgt" ;;
    esac
    end=$(now)
    cmp -s "$img" "$tgt" || { echo "bench/flash.sh: $t produced a different target" >&2; exit 1; }
    [ "$t" != fitgate ] || grep -q '"verified":true' "$work/out.json"
    times[$t]="${times[$t]:-} $(echo "$end - $start" | bc -l)"
  done
done

row() { # tool description
  local ts med
  read -r -a ts <<< "${times[$1]}"
  med=$(median "${ts[@]}")
  printf '| %s | %.3f | %.0f | %s |\n' "$2" "$med" "$(echo "$mapped / $med / 1000000" | bc -l)" \
    "$(printf '%.3f, ' "${ts[@]}" | sed 's/, $//')"
}
table=$(
  echo "| tool | median s | mapped MB/s | runs (s) |"
  echo "| --- | ---: | ---: | --- |"
  row fitgate   "fitgate-fw flash (bmap, source sha256 + read-back sha256)"
  row dd_full   "dd, whole image, conv=fsync"
  row dd_mapped "dd, mapped ranges only, then fsync (no verification)"
  row bmaptool  "bmaptool copy (bmap, source sha256, no read-back)"
)
med_of() { local ts; read -r -a ts <<< "${times[$1]}"; median "${ts[@]}"; }
ratios=$(printf 'fitgate-fw / bmaptool copy = **%.2f** (issue 5 target: below 1, with read-back included);
fitgate-fw / dd of the mapped ranges = **%.2f** (target: at most 1.5).' \
  "$(echo "$(med_of fitgate) / $(med_of bmaptool)" | bc -l)" \
  "$(echo "$(med_of fitgate) / $(med_of dd_mapped)" | bc -l)")
echo "$table"
echo "$ratios"

section=$(cat <<EOT
## Flashing

Produced by bench/flash.sh. $(nproc) cores, $(uname -sr); $(date -u '+%Y-%m-%d %H:%M UTC').
One sparse 256 MiB image, $(echo "$mapped / 1048576" | bc) MiB mapped (64 extents), written to a
file on $(df --output=fstype "$work" | tail -1); median of $runs runs; every target is compared with
\`cmp\` afterwards. bmaptool $(bmaptool --version 2>&1 | awk '{print $2}'). Shared, noisy machine.
"mapped MB/s" is mapped bytes / time for every row (dd full writes 2.5x more).

$table

$ratios
EOT
)
printf '%s\n' "$section" | /usr/bin/python3 bench/md_section.py docs/benchmarks.md "Flashing"
