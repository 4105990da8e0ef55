#!/usr/bin/env bash
# scenario_store.sh BUILD_DIR - the subscriber store against SQLite (issue 2):
# 1,000,000 generated Italian mobile numbers (seed 42), a warm-up at 1/10
# size, then 3 interleaved runs of each engine (store, sqlite, store, ...),
# each in a fresh process; bench_store checks every count and prints the
# scenario's JSON object (bench/README.md).
# Data goes to BUILD_DIR/bench-data: the real disk (fdatasync is part of
# what is measured), never tmpfs. Env overrides: BENCH_STORE_N, BENCH_RUNS,
# BENCH_DATA_DIR, BENCH_CLI_TIMEOUT (seconds for one CLI import, default 60).
set -euo pipefail
B=${1:?usage: scenario_store.sh BUILD_DIR}
DIR=$(realpath -m "${BENCH_DATA_DIR:-$B/bench-data}")
mkdir -p "$DIR"
trap 'rm -rf "$DIR/store" "$DIR/store-sync10k" "$DIR/sqlite" "$DIR/cli" "$DIR/import.txt"' EXIT
echo "scenario store: data in $DIR ($(findmnt -n -o FSTYPE -T "$DIR" 2>/dev/null || echo '?'))" >&2
"$B/bench/bench_store" --n "${BENCH_STORE_N:-1000000}" --runs "${BENCH_RUNS:-3}" --seed 42 --dir "$DIR" \
	--banditore "$B/tools/banditore" --cli-timeout "${BENCH_CLI_TIMEOUT:-60}"
