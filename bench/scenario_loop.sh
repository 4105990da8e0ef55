#!/usr/bin/env bash
# scenario_loop.sh BUILD_DIR - the event loop + API client against the floor
# libcurl sets, on one nginx answering every POST with the Cloud API's
# success body (HTTP/1.1 keep-alive, 127.0.0.1, a free port).
#
# Peers, interleaved per connection count (A B C D A B C D ...), RUNS each:
#   bare_epoll  bench_curl_bare --mode epoll   (curl_multi_socket_action + epoll)
#   loop_uring  bench_loop --backend uring     (engine loop + waclient on libcurl)
#   loop_epoll  bench_loop --backend epoll
#   native_uring bench_loop --backend uring --http native (waclient on h1)
#   native_epoll bench_loop --backend epoll --http native
#   bare_poll   bench_curl_bare --mode poll    (curl_multi_perform + curl_multi_poll)
# and wrk against the same nginx as the machine's ceiling.
# Every run must get COUNT 200s (the programs check; a wrong count fails the
# scenario). Prints one JSON object (bench/README.md): medians, min, max and
# the ratios loop/bare (msgs/s and CPU us/msg) and uring/epoll.
#
# Env: BENCH_COUNT (200000), BENCH_RUNS (3), BENCH_CONNS ("64 256"),
#      BENCH_WRK_SECONDS (5), BENCH_PIN (1: nginx on CPU 0, clients on CPU 1).
set -euo pipefail
B=${1:?usage: scenario_loop.sh BUILD_DIR}
COUNT=${BENCH_COUNT:-200000}
RUNS=${BENCH_RUNS:-3}
CONNS=${BENCH_CONNS:-"64 256"}
WRK_S=${BENCH_WRK_SECONDS:-5}
PIN=${BENCH_PIN:-1}
BARE=$B/bench/bench_curl_bare
LOOP=$B/bench/bench_loop
for p in "$BARE" "$LOOP"; do
  [ -x "$p" ] || { echo "missing $p (build with -DBANDITORE_BENCH=ON)" >&2; exit 2; }
done
command -v nginx >/dev/null || { echo "nginx not installed" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init loop
bench_pinning "$PIN"
LOAD0=$(bench_load)
start_nginx "$T/nginx" 1 "$BENCH_SUCCESS_BODY"
URL=$NGINX_URL
echo "nginx on $URL (pid $NGINX_PID); load: $(bench_load)" >&2

RES=$T/results.txt
: >"$RES"

run() {  # name conns cmd...
  local name=$1 conns=$2; shift 2
  local out
  if ! out=$("${PIN_CLI[@]}" "$@"); then
    echo "FAILED: $name conns=$conns: $out" >&2
    exit 1
  fi
  echo "$name $conns $out" >>"$RES"
  echo "$name c=$conns $out" >&2
}

# wrk: the ceiling (POSTs the same body).
BENCH_METRICS=""
for c in $CONNS; do
  bench_add_wrk "wrk_c$c" "$c" "$WRK_S" "$URL$BENCH_MSG_PATH"
  # warm-up (not recorded)
  "${PIN_CLI[@]}" "$BARE" --url "$URL$BENCH_MSG_PATH" --conns "$c" --count 20000 >/dev/null
  "${PIN_CLI[@]}" "$LOOP" --url "$URL" --conns "$c" --count 20000 >/dev/null
  for r in $(seq 1 "$RUNS"); do
    run bare_epoll "$c" "$BARE" --url "$URL$BENCH_MSG_PATH" --conns "$c" --count "$COUNT" --mode epoll
    run loop_uring "$c" "$LOOP" --url "$URL" --conns "$c" --count "$COUNT" --backend uring
    run loop_epoll "$c" "$LOOP" --url "$URL" --conns "$c" --count "$COUNT" --backend epoll
    run native_uring "$c" "$LOOP" --url "$URL" --conns "$c" --count "$COUNT" --backend uring --http native
    run native_epoll "$c" "$LOOP" --url "$URL" --conns "$c" --count "$COUNT" --backend epoll --http native
    run bare_poll "$c" "$BARE" --url "$URL$BENCH_MSG_PATH" --conns "$c" --count "$COUNT" --mode poll
  done
done

# Aggregate: median/min/max per (name, conns, metric); ratios of medians.
BENCH_RATIOS=""
for c in $CONNS; do
  for n in bare_epoll bare_poll loop_uring loop_epoll native_uring native_epoll; do
    for m in msgs_per_s cpu_us_per_msg maxrss_kb; do
      bench_add_metric "$RES" "$n" "$c" "$m"
    done
  done
  eval "ur=\$M_loop_uring_${c}_msgs_per_s; ep=\$M_loop_epoll_${c}_msgs_per_s"
  eval "urc=\$M_loop_uring_${c}_cpu_us_per_msg; epc=\$M_loop_epoll_${c}_cpu_us_per_msg"
  # The floor is the better of the two bare loops on each metric.
  eval "ba=\$(awk -v a=\$M_bare_epoll_${c}_msgs_per_s -v b=\$M_bare_poll_${c}_msgs_per_s 'BEGIN{print (a>b?a:b)}')"
  eval "bac=\$(awk -v a=\$M_bare_epoll_${c}_cpu_us_per_msg -v b=\$M_bare_poll_${c}_cpu_us_per_msg 'BEGIN{print (a<b?a:b)}')"
  bench_add_ratio "c${c}_uring_vs_bare_rate" "$ur" "$ba"
  bench_add_ratio "c${c}_uring_vs_bare_cpu" "$urc" "$bac"
  bench_add_ratio "c${c}_epoll_vs_bare_rate" "$ep" "$ba"
  bench_add_ratio "c${c}_epoll_vs_bare_cpu" "$epc" "$bac"
  bench_add_ratio "c${c}_uring_vs_epoll_rate" "$ur" "$ep"
  bench_add_ratio "c${c}_uring_vs_epoll_cpu" "$urc" "$epc"
  eval "nu=\$M_native_uring_${c}_msgs_per_s; ne=\$M_native_epoll_${c}_msgs_per_s"
  eval "nuc=\$M_native_uring_${c}_cpu_us_per_msg; nec=\$M_native_epoll_${c}_cpu_us_per_msg"
  bench_add_ratio "c${c}_native_uring_vs_curl_uring_rate" "$nu" "$ur"
  bench_add_ratio "c${c}_native_uring_vs_curl_uring_cpu" "$nuc" "$urc"
  bench_add_ratio "c${c}_native_uring_vs_native_epoll_rate" "$nu" "$ne"
  bench_add_ratio "c${c}_native_uring_vs_native_epoll_cpu" "$nuc" "$nec"
done
printf '{"scenario":"loop","params":{"count":%s,"runs":%s,"conns":"%s","nginx_workers":1,"http":"1.1 keep-alive","pinning":"%s","load_at_start":"%s","targets":"loop >= 0.9x bare rate, <= 1.1x bare cpu; uring >= epoll"},"metrics":{%s},"ratios":{%s},"notes":"ratios are of medians; the floor (bare) is the better of bare_epoll and bare_poll on each metric; every run checked %s 200s"}\n' \
  "$COUNT" "$RUNS" "$CONNS" "$PIN_DESC" "$LOAD0" "$BENCH_METRICS" "$BENCH_RATIOS" "$COUNT"
