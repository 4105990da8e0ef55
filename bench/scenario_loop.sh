#!/usr/bin/env bash
# scenario_loop.sh BUILD_DIR - the event loop + API client against the floor
# libcurl sets, on one nginx answering every POST with the Cloud API's
# success body (HTTP/1.1 keep-alive, 127.0.0.1, a free port).
#
# Peers, interleaved per connection count (A B C D A B C D ...), RUNS each:
#   bare_epoll  bench_curl_bare --mode epoll   (curl_multi_socket_action + epoll)
#   loop_uring  bench_loop --backend uring     (engine loop + waclient)
#   loop_epoll  bench_loop --backend epoll
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

T=$(mktemp -d)
NGINX_PID=""
cleanup() {
  if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT

BODY='{"messaging_product":"whatsapp","contacts":[{"input":"+393351234567","wa_id":"393351234567"}],"messages":[{"id":"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA="}]}'
ncpu=$(nproc)
pin_srv=(); pin_cli=()
if [ "$PIN" = 1 ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
  pin_srv=(taskset -c 0); pin_cli=(taskset -c 1)
fi

start_nginx() {
  local port
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    cat >"$T/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $T/error.log warn;
pid $T/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $T/body;
  proxy_temp_path $T/proxy;
  fastcgi_temp_path $T/fastcgi;
  uwsgi_temp_path $T/uwsgi;
  scgi_temp_path $T/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port reuseport;
    location / {
      default_type application/json;
      return 200 '$BODY';
    }
  }
}
EOF
    "${pin_srv[@]}" nginx -c "$T/nginx.conf" -p "$T" >"$T/nginx.out" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 50); do
      if curl -s -o /dev/null -X POST "http://127.0.0.1:$port/v25.0/1/messages" 2>/dev/null; then
        PORT=$port
        return 0
      fi
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
  done
  echo "could not start nginx" >&2
  cat "$T/error.log" >&2 || true
  return 1
}

start_nginx
URL="http://127.0.0.1:$PORT"
echo "nginx on $URL (pid $NGINX_PID)" >&2

# Sanity: the body the programs parse is the success body.
got=$(curl -s -X POST "$URL/v25.0/110000000000001/messages")
[ "$got" = "$BODY" ] || { echo "nginx answers something else: $got" >&2; exit 1; }

RES=$T/results.txt
: >"$RES"

run() {  # name conns cmd...
  local name=$1 conns=$2; shift 2
  local out
  if ! out=$("${pin_cli[@]}" "$@"); then
    echo "FAILED: $name conns=$conns: $out" >&2
    exit 1
  fi
  echo "$name $conns $out" >>"$RES"
  echo "$name c=$conns $out" >&2
}

# wrk: the ceiling (Lua script makes it POST the same body).
cat >"$T/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"
wrk.body = '{"messaging_product":"whatsapp","recipient_type":"individual","to":"+393350000001","type":"template","template":{"name":"allerta_meteo","language":{"code":"it"},"components":[{"type":"body","parameters":[{"type":"text","text":"Allerta meteo arancione: domenica 12 ottobre"}]}]},"biz_opaque_callback_data":"n=1;s=1"}'
EOF

WRK_JSON=""
for c in $CONNS; do
  if command -v wrk >/dev/null; then
    w=$("${pin_cli[@]}" wrk -t1 -c"$c" -d"${WRK_S}s" -s "$T/post.lua" "$URL/v25.0/110000000000001/messages" 2>&1 || true)
    rps=$(echo "$w" | awk '/Requests\/sec/ {print $2}')
    non2xx=$(echo "$w" | awk '/Non-2xx/ {print $4}')
    echo "wrk c=$c: ${rps:-?} req/s ${non2xx:+non-2xx $non2xx}" >&2
    WRK_JSON="$WRK_JSON${WRK_JSON:+,}\"wrk_c$c\":{\"median\":${rps:-null},\"unit\":\"req/s\",\"runs\":1}"
  fi
  # warm-up (not recorded)
  "${pin_cli[@]}" "$BARE" --url "$URL/v25.0/110000000000001/messages" --conns "$c" --count 20000 >/dev/null
  "${pin_cli[@]}" "$LOOP" --url "$URL" --conns "$c" --count 20000 >/dev/null
  for r in $(seq 1 "$RUNS"); do
    run bare_epoll "$c" "$BARE" --url "$URL/v25.0/110000000000001/messages" --conns "$c" --count "$COUNT" --mode epoll
    run loop_uring "$c" "$LOOP" --url "$URL" --conns "$c" --count "$COUNT" --backend uring
    run loop_epoll "$c" "$LOOP" --url "$URL" --conns "$c" --count "$COUNT" --backend epoll
    run bare_poll "$c" "$BARE" --url "$URL/v25.0/110000000000001/messages" --conns "$c" --count "$COUNT" --mode poll
  done
done

# Aggregate: median/min/max per (name, conns, metric); ratios of medians.
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
stat() {  # name conns metric -> "median min max n"
  grep "^$1 $2 " "$RES" | field "$3" | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) { print "null null null 0"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.3f %.3f %.3f %d\n", m, a[1], a[NR], NR }'
}
metrics=""
ratios=""
for c in $CONNS; do
  for n in bare_epoll bare_poll loop_uring loop_epoll; do
    for m in msgs_per_s cpu_us_per_msg maxrss_kb; do
      read -r med mn mx k < <(stat "$n" "$c" "$m")
      unit=$([ "$m" = msgs_per_s ] && echo "msgs/s" || ([ "$m" = maxrss_kb ] && echo KiB || echo "us/msg"))
      metrics="$metrics${metrics:+,}\"${n}_c${c}_${m}\":{\"median\":$med,\"min\":$mn,\"max\":$mx,\"unit\":\"$unit\",\"runs\":$k}"
      eval "M_${n}_${c}_${m}=$med"
    done
  done
  r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
  eval "ur=\$M_loop_uring_${c}_msgs_per_s; ep=\$M_loop_epoll_${c}_msgs_per_s"
  eval "urc=\$M_loop_uring_${c}_cpu_us_per_msg; epc=\$M_loop_epoll_${c}_cpu_us_per_msg"
  # The floor is the better of the two bare loops on each metric.
  eval "ba=\$(awk -v a=\$M_bare_epoll_${c}_msgs_per_s -v b=\$M_bare_poll_${c}_msgs_per_s 'BEGIN{print (a>b?a:b)}')"
  eval "bac=\$(awk -v a=\$M_bare_epoll_${c}_cpu_us_per_msg -v b=\$M_bare_poll_${c}_cpu_us_per_msg 'BEGIN{print (a<b?a:b)}')"
  ratios="$ratios${ratios:+,}\"c${c}_uring_vs_bare_rate\":{\"median\":$(r "$ur" "$ba")},\"c${c}_uring_vs_bare_cpu\":{\"median\":$(r "$urc" "$bac")}"
  ratios="$ratios,\"c${c}_epoll_vs_bare_rate\":{\"median\":$(r "$ep" "$ba")},\"c${c}_epoll_vs_bare_cpu\":{\"median\":$(r "$epc" "$bac")}"
  ratios="$ratios,\"c${c}_uring_vs_epoll_rate\":{\"median\":$(r "$ur" "$ep")},\"c${c}_uring_vs_epoll_cpu\":{\"median\":$(r "$urc" "$epc")}"
done
cpus=$([ ${#pin_cli[@]} -gt 0 ] && echo "pinned: nginx cpu0, client cpu1" || echo "unpinned")
printf '{"scenario":"loop","params":{"count":%s,"runs":%s,"conns":"%s","nginx_workers":1,"http":"1.1 keep-alive","pinning":"%s","targets":"loop >= 0.9x bare rate, <= 1.1x bare cpu; uring >= epoll"},"metrics":{%s%s%s},"ratios":{%s},"notes":"ratios are of medians; the floor (bare) is the better of bare_epoll and bare_poll on each metric; every run checked %s 200s"}\n' \
  "$COUNT" "$RUNS" "$CONNS" "$cpus" "$WRK_JSON" "${WRK_JSON:+,}" "$metrics" "$ratios" "$COUNT"
