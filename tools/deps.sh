#!/usr/bin/env bash
# deps.sh - install the Debian packages the build, the tests, the demo and
# the benchmarks need, when they are missing. Idempotent and quiet when
# everything is there: runs `apt-get update` at most once, and only when a
# package has to be installed. Used by tools/test.sh and tools/demo.sh.
set -euo pipefail

# Build and run: compiler, build tools and the libraries (pkg-config names in
# cmake/Deps.cmake). Tests and benchmarks: clang for libFuzzer, valgrind for
# the callgrind gate, nginx + wrk as loopback peers, kannel (bearerbox +
# smsbox) as the fan-out scenario's gateway peer, gnuplot for plan plots.
# (The fan-out scenario's undici peer needs node >= 18 + npm, and records
# itself unavailable without them: not installed here.)
PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  liburing-dev libcurl4-openssl-dev libjansson-dev libxxhash-dev libssl-dev
  libmicrohttpd-dev libutf8proc-dev libhttp-parser-dev libcriterion-dev libsqlite3-dev
  curl python3 valgrind nginx-light wrk gnuplot-nox kannel
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
