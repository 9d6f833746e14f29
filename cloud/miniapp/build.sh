#!/usr/bin/env bash
# cloud/miniapp/build.sh - install the pinned npm packages once (package-lock.json),
# then bundle src/ into dist/ (esbuild). Idempotent; offline after the first install.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "miniapp: node and npm are needed to build the mini app" >&2
  exit 1
fi
# Reinstall only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi
node build.mjs "$@"
