#!/usr/bin/env bash
# make lint: formatting (clang-format, the repository's .clang-format) and
# static analysis (cppcheck) over every C file.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
for f in $(git ls-files '*.c' '*.h'); do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "lint: $f is not clang-formatted (make format)"; bad=1
  fi
done
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
  --inline-suppr --suppress=missingIncludeSystem \
  -I common/include -I protocol/include -I drivers/include \
  common protocol drivers edge cloud sim || bad=1
exit $bad
