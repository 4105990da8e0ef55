#!/usr/bin/env bash
# first_request.sh [BUILD_DIR] - the time from `banditore send`'s main() to
# its first request written to a socket (the report's first_request_ms) with
# 1M subscribers (BENCH_FIRST_N), alone: BENCH_RUNS (7) rounds of both loops
# on the same data, `sync` before each run so the previous run's writeback is
# over, each send stopped with SIGINT after 1.5 s (the report is printed on
# an interrupt too). nginx answers on 127.0.0.1 (bench/lib.sh), send on CPU 1.
# Prints "ROUND LOOP first_request_ms" lines; quote the medians.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source $HERE/lib.sh
bench_init first /tmp
bench_pinning 1
N=${BENCH_FIRST_N:-1000000}
B=${1:-$HERE/../build-bench}
"$B/bench/bench_fanout" --data "$T/data" --count "$N" --seed 42 >/dev/null
start_nginx "$T/nginx" 1 "$BENCH_SUCCESS_BODY"
export BANDITORE_WA_TOKEN=x
for r in $(seq 1 "${BENCH_RUNS:-7}"); do
  for loop in io_uring epoll; do
    rm -rf "$T/data/notices"; sync
    "${PIN_CLI[@]}" "$B/tools/banditore" --data "$T/data" send --api-base "$NGINX_URL" --category info --text "Allerta" --rate 0 --connections 64 --window 256 --loop $loop --json >$T/o.json 2>/dev/null &
    p=$!; sleep 1.5; kill -INT $p; wait $p || true
    python3 -c "import json; j=json.load(open('$T/o.json')); print('$r $loop', j.get('first_request_ms'))"
  done
done
