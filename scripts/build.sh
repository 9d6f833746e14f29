#!/usr/bin/env bash
# scripts/build.sh release|asan|fuzz - configure (once) and build one flavour.
#   release -> build/       RelWithDebInfo, the binaries in build/bin/
#   asan    -> build-asan/  ASan + UBSan, runs the whole test suite
#   fuzz    -> build-fuzz/  clang, libFuzzer targets only
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) dir=build; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DFITGATE_SANITIZE=ON) ;;
  fuzz)    dir=build-fuzz; args=(-DCMAKE_BUILD_TYPE=Debug -DFITGATE_FUZZ=ON -DCMAKE_C_COMPILER=clang) ;;
  *) echo "usage: $0 release|asan|fuzz" >&2; exit 2 ;;
esac
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
fi
cmake --build "$dir" -j "$(nproc)"
# The mini app (npm + esbuild -> cloud/miniapp/dist/, which the core serves).
if [ "$flavour" = release ]; then
  cloud/miniapp/build.sh
fi
