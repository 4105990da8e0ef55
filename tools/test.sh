#!/usr/bin/env bash
# test.sh - build and run every test: unit, integration, crash, fuzz replay,
# bounded fuzzing (with clang), a sanitizer build of the tests, and the
# benchmark gate. Works from any directory on a fresh Debian 12 machine.
#   BANDITORE_FUZZ_SECONDS   seconds of fuzzing per target (default 60; 0 = skip)
#   BANDITORE_NO_ASAN=1      skip the sanitizer build (quick local runs)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
FUZZ_SECONDS=${BANDITORE_FUZZ_SECONDS:-60}
status=0

echo "== build (RelWithDebInfo, -Werror)"
B=$(tools/build.sh "$ROOT/build" -DBANDITORE_WERROR=ON -DBANDITORE_TESTS=ON)
echo "== tests"
(cd "$B" && ctest --output-on-failure -j2 --timeout 900) || status=1

if [ "${BANDITORE_NO_ASAN:-0}" != 1 ]; then
  echo "== sanitizer build (address;undefined) and unit + fuzz-replay tests"
  BA=$(CC=clang tools/build.sh "$ROOT/build-asan" -DBANDITORE_SANITIZE="address;undefined" \
        -DBANDITORE_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug)
  (cd "$BA" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 -L 'unit|fuzz' --timeout 900) || status=1
  if [ "$FUZZ_SECONDS" -gt 0 ]; then
    for f in "$BA"/tests/fuzz_*; do
      [ -x "$f" ] || continue
      case "$f" in *replay*) continue ;; esac
      t=$(basename "$f"); t=${t#fuzz_}
      mkdir -p "$ROOT/tests/fuzz/corpus/$t" "$ROOT/tests/fuzz/regress/$t"
      work=$(mktemp -d)
      echo "== fuzz $t for ${FUZZ_SECONDS}s"
      if ! "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
           -artifact_prefix="$ROOT/tests/fuzz/regress/$t/" \
           "$work" "$ROOT/tests/fuzz/corpus/$t" >"$work.log" 2>&1; then
        echo "fuzz $t found a crash; saved under tests/fuzz/regress/$t/" >&2
        tail -40 "$work.log" >&2
        status=1
      fi
      grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "$work.log" || true
      rm -rf "$work" "$work.log"
    done
  fi
fi

if [ -x "$ROOT/bench/gate.sh" ]; then
  echo "== benchmark gate (callgrind)"
  "$ROOT/bench/gate.sh" || status=1
fi

if [ $status -eq 0 ]; then echo "test.sh: all passed"; else echo "test.sh: FAILED" >&2; fi
exit $status
