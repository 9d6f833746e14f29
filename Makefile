# Thin wrapper around CMake and the scripts in scripts/. See README.md.
#   make build   release build in build/ (binaries in build/bin/)
#   make test    installs what is missing, then unit (plain + ASan/UBSan),
#                integration (mosquitto, Kafka, SQLite) and short fuzz runs
#   make run     the embedded stack with simulated devices; prints a URL
#   make bench   every benchmark in bench/ (each next to its ceiling) -> docs/benchmarks.md
#   make fuzz    long fuzz runs (FUZZ_SECONDS per target, default 300)
#   make soak    the stack under load for SOAK_MINUTES (30): no loss, flat memory
SHELL := /bin/bash
JOBS ?= $(shell nproc)

.PHONY: all build deps test run bench fuzz soak format lint clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@scripts/build.sh release

test: deps
	@scripts/test.sh

run: deps
	@scripts/build.sh release
	@scripts/run.sh

bench: deps
	@scripts/build.sh release
	@bench/pipeline.sh
	@bench/decoders.sh
	@/usr/bin/python3 bench/live_latency.py
	@bench/flash.sh
	@bench/signin.sh
	@bench/worker.sh
	@bench/shop.sh
	@bench/bluez.sh
	@bench/miniapp_size.sh
	@/usr/bin/python3 bench/miniapp_latency.py

fuzz: deps
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} scripts/fuzz.sh

soak: deps
	@scripts/build.sh release
	@/usr/bin/python3 tests/soak/soak.py

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

lint:
	@scripts/lint.sh

clean:
	rm -rf build build-asan build-fuzz
