#!/usr/bin/env bash
# scenario_metrics.sh BUILD_DIR - the cost of a metrics update on the hot
# path (engine/metrics.h) next to a plain increment and a mutex, single and
# two threads, interleaved in each run; bench_metrics checks its counts and
# prints the scenario's JSON object (bench/README.md).
# Env overrides: BENCH_METRICS_ITERS (20000000), BENCH_RUNS (5).
set -euo pipefail
B=${1:?usage: scenario_metrics.sh BUILD_DIR}
exec "$B/bench/bench_metrics" --iters "${BENCH_METRICS_ITERS:-20000000}" --runs "${BENCH_RUNS:-5}"
