#!/usr/bin/env bash
# scenario_cmd.sh BUILD_DIR - command parser throughput (bench/bench_cmd.c).
# A seeded mix of 10,000 messages (commands in many spellings and Italian
# chat), 7 interleaved runs of each peer: the parser, the same without the
# ASCII fast path, commands only, chat only. The program checks the tally of
# verbs against the mix's labels every run and exits non-zero on a mismatch.
# Prints one JSON object (bench/README.md).
#
# For instruction counts (no wall clock), e.g. a CI gate:
#   valgrind --tool=callgrind BUILD_DIR/bench/bench_cmd --iterations 10
#   Ir per message = total Ir / (10 × 10,000) (minus the set-up, measured
#   with --iterations 0)
set -euo pipefail
BUILD=${1:?usage: scenario_cmd.sh BUILD_DIR}
BIN="$BUILD/bench/bench_cmd"
[ -x "$BIN" ] || { echo "scenario_cmd: $BIN not built (-DBANDITORE_BENCH=ON)" >&2; exit 1; }
exec "$BIN" --json --seed 20240601 --messages 10000 --runs 7 --passes 50
