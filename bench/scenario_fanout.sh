#!/usr/bin/env bash
# scenario_fanout.sh BUILD_DIR - the whole sender (`banditore send`: store
# scan, notice creation, request building, durable journal, limiter off,
# outcome classification) against the floor libcurl sets and the machine's
# ceiling, on one nginx answering every POST with the Cloud API's success
# body (HTTP/1.1 keep-alive, 127.0.0.1, a free port).
#
# Peers, interleaved per connection count (A B C A B C ...), RUNS each:
#   bare        bench_curl_bare --mode epoll (the loop branch's floor: only
#               sends the same request over the same connections)
#   send_uring  banditore send --loop io_uring --rate 0 (N recipients)
#   send_epoll  banditore send --loop epoll --rate 0
# and wrk (the ceiling). Metrics: messages/s (send: accepted / the report's
# elapsed_s, start to done), CPU us/message (user+sys of the whole process,
# set-up included), peak RSS, and the first request's time after the
# command started (the report's first_request_ms: store open, snapshot of N
# subscribers, notice creation with its fsyncs, first intent fsync'ed).
# Every send run must end done with N accepted (checked: a broken fast path
# cannot report a number).
#
# The sender's --window is 4 x the connections: the window counts requests
# waiting for their intent's fdatasync as well as those on the wire (see
# engine/SENDER.md), and it is the crash-duplicate bound, not the HTTP
# concurrency, which --connections sets.
#
# Env: BENCH_FANOUT_N (1000000), BENCH_RUNS (3), BENCH_CONNS ("64 256"),
#      BENCH_WRK_SECONDS (5), BENCH_PIN (1: nginx on CPU 0, clients CPU 1),
#      BENCH_FANOUT_WAMOCK (0; 1: also N2 recipients through wa-mock
#      limited to 1,000/s, checked against the ideal N2/1000 s),
#      BENCH_WAMOCK_N (300000), BENCH_DATA_PARENT (a disk directory; the
#      journal's fdatasyncs are part of the cost: default $TMPDIR or /tmp).
set -euo pipefail
B=${1:?usage: scenario_fanout.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
N=${BENCH_FANOUT_N:-1000000}
RUNS=${BENCH_RUNS:-3}
CONNS=${BENCH_CONNS:-"64 256"}
WRK_S=${BENCH_WRK_SECONDS:-5}
PIN=${BENCH_PIN:-1}
WAMOCK=${BENCH_FANOUT_WAMOCK:-0}
N2=${BENCH_WAMOCK_N:-300000}
BND=$B/tools/banditore
MOCK=$B/tools/wa-mock
BARE=$B/bench/bench_curl_bare
for p in "$BND" "$BARE" "$MOCK"; do
  [ -x "$p" ] || { echo "missing $p (build with -DBANDITORE_BENCH=ON)" >&2; exit 2; }
done
command -v nginx >/dev/null || { echo "nginx not installed" >&2; exit 2; }

T=$(mktemp -d "${BENCH_DATA_PARENT:-${TMPDIR:-/tmp}}/bench-fanout.XXXXXX")
NGINX_PID=""
MOCK_PID=""
cleanup() {
  for p in $NGINX_PID $MOCK_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
export BANDITORE_WA_TOKEN=bench-token WA_MOCK_TOKEN=bench-token

BODY='{"messaging_product":"whatsapp","contacts":[{"input":"+393351234567","wa_id":"393351234567"}],"messages":[{"id":"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA="}]}'
pin_srv=(); pin_cli=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  pin_srv=(taskset -c 0); pin_cli=(taskset -c 1)
fi

start_nginx() {
  local port
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    cat >"$T/nginx.conf" <<NGX
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
NGX
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
  return 1
}

# The audience: N distinct confirmed numbers, each with its own source id
# (bench_fanout.c says why not `subscribers import`).
D=$T/data
"$B/bench/bench_fanout" --data "$D" --count "$N" --seed 42 >"$T/build.json"

start_nginx
URL="http://127.0.0.1:$PORT"
echo "nginx on $URL; $N subscribers; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
RES=$T/results.txt
: >"$RES"

# one run of the sender; appends "name conns {json}" to RES
send_run() { # name conns loop
  local name=$1 c=$2 loop=$3 out=$T/run.json
  rm -rf "$D/notices"
  if ! "${pin_cli[@]}" python3 "$HERE/fanout/measure.py" "$out" -- "$BND" --data "$D" send \
      --api-base "$URL" --category info --text "Allerta meteo arancione: domenica 12 ottobre" \
      --rate 0 --connections "$c" --window $((c * 4)) --loop "$loop" --json 2>"$T/send.err"; then
    echo "FAILED: $name c=$c: $(tail -3 "$T/send.err")" >&2
    exit 1
  fi
  python3 - "$out" "$N" "$name" "$c" >>"$RES" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); n = int(sys.argv[2]); r = m["report"]
assert r["state"] == "done" and r["accepted"] == n and r["failed"] == 0, r
print("%s %s %s" % (sys.argv[3], sys.argv[4], json.dumps({
    "msgs_per_s": n / r["elapsed_s"], "cpu_us_per_msg": m["cpu_s"] * 1e6 / n,
    "maxrss_kb": m["maxrss_kb"], "first_request_ms": r["first_request_ms"],
    "wall_s": m["wall_s"]}, separators=(",", ":"))))
PY
  echo "$name c=$c $(tail -1 "$RES" | cut -d' ' -f3-)" >&2
}

bare_run() { # conns
  local out
  out=$("${pin_cli[@]}" "$BARE" --url "$URL/v25.0/110000000000001/messages" --conns "$1" \
        --count "$N" --mode epoll) || { echo "FAILED: bare: $out" >&2; exit 1; }
  echo "bare $1 $out" >>"$RES"
  echo "bare c=$1 $out" >&2
}

cat >"$T/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"
wrk.body = '{"messaging_product":"whatsapp","recipient_type":"individual","to":"+393350000001","type":"template","template":{"name":"notice","language":{"code":"it"},"components":[{"type":"body","parameters":[{"type":"text","text":"Allerta meteo arancione: domenica 12 ottobre"}]}]},"biz_opaque_callback_data":"n-20261128T195423-b281:123456"}'
LUA
WRK_JSON=""
for c in $CONNS; do
  if command -v wrk >/dev/null; then
    w=$("${pin_cli[@]}" wrk -t1 -c"$c" -d"${WRK_S}s" -s "$T/post.lua" "$URL/v25.0/110000000000001/messages" 2>&1 || true)
    rps=$(echo "$w" | awk '/Requests\/sec/ {print $2}')
    echo "wrk c=$c: ${rps:-?} req/s" >&2
    WRK_JSON="$WRK_JSON${WRK_JSON:+,}\"wrk_c${c}_req_per_s\":{\"median\":${rps:-null},\"unit\":\"req/s\",\"runs\":1}"
  fi
  "${pin_cli[@]}" "$BARE" --url "$URL/v25.0/110000000000001/messages" --conns "$c" --count 20000 >/dev/null
  for r in $(seq 1 "$RUNS"); do
    bare_run "$c"
    send_run send_uring "$c" io_uring
    send_run send_epoll "$c" epoll
  done
done

WAMOCK_JSON=""
if [ "$WAMOCK" = 1 ]; then
  # N2 recipients through wa-mock limited to 1,000/s, sender at 1,000/s.
  D2=$T/data2
  "$B/bench/bench_fanout" --data "$D2" --count "$N2" --seed 43 >"$T/build2.json"
  "${pin_srv[@]}" "$MOCK" --listen 127.0.0.1:0 --port-file "$T/mock.port" --rate 1000 --quiet &
  MOCK_PID=$!
  for _ in $(seq 1 100); do [ -s "$T/mock.port" ] && break; sleep 0.05; done
  python3 "$HERE/fanout/measure.py" "$T/wm.json" -- "$BND" --data "$D2" send \
    --api-base "http://127.0.0.1:$(cat "$T/mock.port")" --category info --text "Allerta" \
    --rate 1000 --loop io_uring --json 2>"$T/wm.err" || { echo "FAILED: wa-mock run" >&2; exit 1; }
  WAMOCK_JSON=$(python3 - "$T/wm.json" "$N2" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); n = int(sys.argv[2]); r = m["report"]
assert r["state"] == "done" and r["accepted"] == n, r
ideal = n / 1000.0
ratio = r["elapsed_s"] / ideal
print('"wamock_1000_elapsed_s":{"median":%.3f,"unit":"s","runs":1,"ideal":%.1f,"ratio":%.4f,"within_2pct":%s,"retried":%d}'
      % (r["elapsed_s"], ideal, ratio, "true" if abs(ratio - 1) <= 0.02 else "false",
         r["retried"]))
PY
)
  echo "wa-mock 1000/s: $WAMOCK_JSON" >&2
fi

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
stat() {  # name conns metric -> "median min max n"
  grep "^$1 $2 " "$RES" | field "$3" | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) { print "null null null 0"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.3f %.3f %.3f %d\n", m, a[1], a[NR], NR }'
}
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
metrics=""
ratios=""
for c in $CONNS; do
  for n in bare send_uring send_epoll; do
    for m in msgs_per_s cpu_us_per_msg maxrss_kb first_request_ms; do
      [ "$n" = bare ] && [ "$m" = first_request_ms ] && continue
      read -r med mn mx k < <(stat "$n" "$c" "$m")
      case $m in msgs_per_s) unit=msgs/s ;; maxrss_kb) unit=KiB ;; first_request_ms) unit=ms ;; *) unit=us/msg ;; esac
      metrics="$metrics${metrics:+,}\"${n}_c${c}_${m}\":{\"median\":$med,\"min\":$mn,\"max\":$mx,\"unit\":\"$unit\",\"runs\":$k}"
      eval "M_${n}_${c}_${m}=$med"
    done
  done
  eval "ur=\$M_send_uring_${c}_msgs_per_s; ep=\$M_send_epoll_${c}_msgs_per_s; ba=\$M_bare_${c}_msgs_per_s"
  eval "urc=\$M_send_uring_${c}_cpu_us_per_msg; epc=\$M_send_epoll_${c}_cpu_us_per_msg; bac=\$M_bare_${c}_cpu_us_per_msg"
  ratios="$ratios${ratios:+,}\"c${c}_uring_vs_bare_rate\":{\"median\":$(r "$ur" "$ba")},\"c${c}_uring_vs_bare_cpu\":{\"median\":$(r "$urc" "$bac")}"
  ratios="$ratios,\"c${c}_epoll_vs_bare_rate\":{\"median\":$(r "$ep" "$ba")},\"c${c}_epoll_vs_bare_cpu\":{\"median\":$(r "$epc" "$bac")}"
  ratios="$ratios,\"c${c}_uring_vs_epoll_rate\":{\"median\":$(r "$ur" "$ep")}"
done
cpus=$([ ${#pin_cli[@]} -gt 0 ] && echo "pinned: nginx cpu0, client cpu1" || echo "unpinned")
printf '{"scenario":"fanout","params":{"recipients":%s,"runs":%s,"conns":"%s","window":"4 x conns","data":"%s","pinning":"%s","load_at_start":"%s","targets":"send >= 0.9x bare rate, <= 1.1x bare cpu; uring >= epoll; rss <= 64 MiB; first request <= 50 ms; wa-mock 1000/s within 2%% of ideal"},"metrics":{%s%s%s%s%s},"ratios":{%s},"notes":"medians of interleaved runs; send cpu includes store open, snapshot and notice creation; every send run checked done with all accepted"}\n' \
  "$N" "$RUNS" "$CONNS" "$(df -P "$T" | awk 'NR==2 {print $1}')" "$cpus" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$WRK_JSON" "${WRK_JSON:+,}" "$metrics" "${WAMOCK_JSON:+,}" "$WAMOCK_JSON" "$ratios"
