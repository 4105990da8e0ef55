#!/usr/bin/env bash
# build.sh [BUILD_DIR [cmake options...]] - configure and build, shared by
# test.sh, demo.sh and bench/run.sh. Prints the build directory on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
shift || true
"$ROOT/tools/deps.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >&2
echo "$BUILD"
