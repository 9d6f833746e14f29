#!/usr/bin/env bash
# make bench: the pipeline benchmark; results go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/pipeline.py "$@"
