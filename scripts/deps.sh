#!/usr/bin/env bash
# Install what fitgate needs on a fresh Debian bookworm machine. Idempotent:
# packages already present are skipped; `apt-get update` runs once, only when
# something is missing. Kafka jars and npm packages are fetched by the test
# scripts that need them (scripts/kafka.sh fetch).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format cppcheck
  # C libraries (the brief's list)
  libmosquitto-dev librdkafka-dev libcjson-dev libsqlite3-dev libsystemd-dev libmicrohttpd-dev
  libsodium-dev libmbedtls-dev libcmocka-dev libcurl4-openssl-dev libssl-dev libzstd-dev libqrencode-dev
  libcrypt-dev
  # run and test
  mosquitto mosquitto-clients sqlite3 dbus python3 python3-pytest python3-paho-mqtt bmap-tools zstd dosfstools mtools fdisk
  python3-dbusmock python3-aiosmtpd python3-cryptography python3-yaml openjdk-17-jre-headless maven valgrind curl procps
  chromium nodejs npm
  # the WAF in front of the API (deploy/nginx): nginx + ModSecurity + OWASP CRS
  nginx libnginx-mod-http-modsecurity modsecurity-crs
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# A JDK from elsewhere (e.g. /usr/lib/jvm/temurin) satisfies the broker too.
if [ "${#missing[@]}" -gt 0 ] && command -v java >/dev/null 2>&1; then
  tmp=()
  for p in "${missing[@]}"; do [ "$p" = openjdk-17-jre-headless ] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ] && command -v mvn >/dev/null 2>&1; then
  tmp=()
  for p in "${missing[@]}"; do [ "$p" = maven ] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

# Node.js and npm from elsewhere (e.g. a preinstalled toolchain) serve the browser tests too.
if [ "${#missing[@]}" -gt 0 ] && command -v npm >/dev/null 2>&1; then
  tmp=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# Packages with services (nginx, mosquitto) must not start them here: tests
# run their own instances on free ports. policy-rc.d says "not now" to every
# service start during the install; remove it only if we created it.
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
rc=0
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
[ "$made_policy" -eq 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
exit "$rc"
