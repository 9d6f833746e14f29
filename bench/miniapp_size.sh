#!/usr/bin/env bash
# bench/miniapp_size.sh - build the mini app for production and put its size
# (raw and gzip -9, what a phone downloads on the first visit) into
# docs/benchmarks.md as the "## Mini app bundle" section (replacing only that
# section). Target from issue 8: under 150 KB gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."
meta=$(mktemp /tmp/miniapp-meta.XXXXXX.json)
trap 'rm -f "$meta"' EXIT
cloud/miniapp/build.sh --meta "$meta" >/dev/null
table=$(python3 - "$meta" cloud/miniapp/dist <<'EOF'
import gzip, json, os, re, sys
meta, dist = sys.argv[1], sys.argv[2]
rows, raw_total, gz_total = [], 0, 0
for f in sorted(os.listdir(dist)):
    data = open(os.path.join(dist, f), "rb").read()
    gz = len(gzip.compress(data, 9))
    raw_total += len(data); gz_total += gz
    rows.append(f"| {f} | {len(data)/1024:.1f} | {gz/1024:.1f} |")
out = ["| file | raw KiB | gzip -9 KiB |", "|---|---:|---:|", *rows,
       f"| **total** | **{raw_total/1024:.1f}** | **{gz_total/1024:.1f}** |", ""]
# What each part adds to app.js (minified bytes, before compression).
m = json.load(open(meta))
js = next(v for k, v in m["outputs"].items() if k.endswith("app.js"))
groups = {}
for path, info in js["inputs"].items():
    mm = re.search(r"node_modules/((?:@[^/]+/)?[^/]+)", path)
    name = mm.group(1) if mm else "fitgate (src/)"
    groups[name] = groups.get(name, 0) + info["bytesInOutput"]
total = sum(groups.values())
out += ["| app.js part | minified KiB | share |", "|---|---:|---:|"]
for name, b in sorted(groups.items(), key=lambda kv: -kv[1]):
    out.append(f"| {name} | {b/1024:.1f} | {100*b/total:.0f} % |")
print("\n".join(out))
EOF
)
echo "$table"
versions=$(cd cloud/miniapp && node -e 'const l=require("./package-lock.json").packages;for (const n of ["@tma.js/sdk","uplot","esbuild"]) process.stdout.write(n+" "+l["node_modules/"+n].version+", ")')
section=$(cat <<EOT
## Mini app bundle

Produced by bench/miniapp_size.sh: the production build of cloud/miniapp
(esbuild, minified, one IIFE + one CSS file; ${versions%, }), node $(node --version);
$(date -u '+%Y-%m-%d %H:%M UTC'). Sizes of what the core serves from
cloud/miniapp/dist/, raw and compressed with gzip -9 (what a phone downloads on
the first visit; every file comes from the core itself, no outside hosts).
Target from issue 8: under 150 KB gzipped in total.

$table
EOT
)
printf '%s\n' "$section" | python3 bench/md_section.py docs/benchmarks.md "Mini app bundle"
