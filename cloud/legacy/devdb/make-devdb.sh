#!/bin/sh
# Build the legacy shop's dev database from seed.sql (dev and tests only).
# usage: make-devdb.sh [out.db]   (default: data/legacy-shop.db)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-data/legacy-shop.db}
mkdir -p "$(dirname "$out")"
rm -f "$out"
sqlite3 "$out" < "$here/seed.sql"
echo "$out"
