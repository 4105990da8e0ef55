#!/usr/bin/env bash
# scenario_fanout.sh BUILD_DIR - the whole sender (`banditore send`: store
# scan, notice creation, request building, durable journal, limiter off,
# outcome classification) against the floor libcurl sets, the machine's
# ceiling and what operators would otherwise run, on one nginx answering
# every request with the Cloud API's success body (HTTP/1.1 keep-alive,
# 127.0.0.1, a free port).
#
# Interleaved per connection count (A B C D A B C D ...), RUNS each:
#   bare        bench_curl_bare --mode epoll (the loop branch's floor: only
#               sends the same request over the same connections)
#   send_uring  banditore send --loop io_uring --rate 0 (N recipients; the
#               HTTP client as `send` picks it for http://: the native one)
#   send_epoll  banditore send --loop epoll --rate 0
#   send_curl   banditore send --loop io_uring --http curl: the same sender
#               on libcurl's multi (the carrier for https://)
#   undici      Node.js undici Pool (bench/peers/undici): the same POST over
#               the same number of connections, N requests
# and, at the first connection count only, in the same rounds:
#   kannel      Debian's Kannel: bearerbox + smsbox, an HTTP SMSC (generic,
#               GET send-url) pointed at the same nginx, max-pending-submits
#               = the connections; KANNEL_N messages submitted to smsbox's
#               sendsms interface (curl --parallel, the connections wide,
#               pinned with nginx) and timed from the first submission to
#               the last request nginx logged; CPU = bearerbox + smsbox
#               (/proc utime + stime over the run); a fresh Kannel (store
#               and logs in the temp dir) per run
#   naive       a shell loop running `curl` once per message, NAIVE_N of them
# plus wrk (the ceiling), once per connection count; and, when BENCH_TLS=1,
# the same over TLS at the first connection count (nginx terminating TLS
# with a certificate made here, TLS_N recipients, interleaved rounds):
#   tls_native  send over https with the native client (OpenSSL)
#   tls_curl    send over https --http curl
#   tls_undici  undici Pool over https (the same CA) Metrics: messages/s
# (send: accepted / the report's elapsed_s, start to done), CPU us/message
# (user+sys of the whole process, set-up included), peak RSS, and the
# first request's time after the command started (the report's
# first_request_ms: store open, snapshot of N subscribers, notice creation
# with its fsyncs, first intent fsync'ed).
#
# Counts are checked: every send run must end done with N accepted (or the
# scenario fails: a broken fast path cannot report a number); a peer run
# that did not deliver its count (bare/undici: 200s counted by the client;
# kannel: 202s from smsbox and requests in nginx's log; naive: 200s and
# nginx's log) is recorded under "peers" as failed and gives no number. A
# peer that cannot run here (no node/npm or `npm ci` failed offline, no
# kannel) is recorded as unavailable, never as a number.
#
# The sender's --window is 4 x the connections: the window counts requests
# waiting for their intent's fdatasync as well as those on the wire (see
# engine/SENDER.md), and it is the crash-duplicate bound, not the HTTP
# concurrency, which --connections sets.
#
# Env: BENCH_FANOUT_N (1000000), BENCH_RUNS (3), BENCH_CONNS ("64 256"),
#      BENCH_WRK_SECONDS (5), BENCH_PIN (1: nginx on CPU 0, clients CPU 1),
#      BENCH_UNDICI (1), BENCH_KANNEL (1), BENCH_KANNEL_N (20000),
#      BENCH_NAIVE (1), BENCH_NAIVE_N (2000), BENCH_STRICT_PEERS (0; 1: a
#      failed or unavailable peer fails the scenario),
#      BENCH_FANOUT_WAMOCK (0; 1: also N2 recipients through wa-mock
#      limited to 1,000/s, checked against the ideal N2/1000 s),
#      BENCH_WAMOCK_N (300000), BENCH_TLS (1), BENCH_TLS_N (200000),
#      BENCH_DATA_PARENT (a disk directory; the
#      journal's fdatasyncs are part of the cost: default $TMPDIR or /tmp).
set -euo pipefail
B=${1:?usage: scenario_fanout.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${BENCH_FANOUT_N:-1000000}
RUNS=${BENCH_RUNS:-3}
CONNS=${BENCH_CONNS:-"64 256"}
WRK_S=${BENCH_WRK_SECONDS:-5}
PIN=${BENCH_PIN:-1}
WAMOCK=${BENCH_FANOUT_WAMOCK:-0}
N2=${BENCH_WAMOCK_N:-300000}
UNDICI=${BENCH_UNDICI:-1}
KANNEL=${BENCH_KANNEL:-1}
KN=${BENCH_KANNEL_N:-20000}
NAIVE=${BENCH_NAIVE:-1}
NN=${BENCH_NAIVE_N:-2000}
STRICT=${BENCH_STRICT_PEERS:-0}
TLS=${BENCH_TLS:-1}
TLS_N=${BENCH_TLS_N:-200000}
BND=$B/tools/banditore
MOCK=$B/tools/wa-mock
BARE=$B/bench/bench_curl_bare
for p in "$BND" "$BARE" "$MOCK"; do
  [ -x "$p" ] || { echo "missing $p (build with -DBANDITORE_BENCH=ON)" >&2; exit 2; }
done
command -v nginx >/dev/null || { echo "nginx not installed" >&2; exit 2; }
. "$HERE/lib.sh"

bench_init fanout "${BENCH_DATA_PARENT:-${TMPDIR:-/tmp}}"
export BANDITORE_WA_TOKEN=bench-token WA_MOCK_TOKEN=bench-token
bench_pinning "$PIN"
LOAD0=$(bench_load)
C1=${CONNS%% *}   # kannel and naive run at the first connection count

# The audience: N distinct confirmed numbers, each with its own source id
# (bench_fanout.c says why not `subscribers import`).
D=$T/data
"$B/bench/bench_fanout" --data "$D" --count "$N" --seed 42 >"$T/build.json"

start_nginx "$T/nginx" 1 "$BENCH_SUCCESS_BODY" "$T/counted.log"
URL=$NGINX_URL
echo "nginx on $URL; $N subscribers; load: $LOAD0" >&2
RES=$T/results.txt   # "name conns {json}" per successful run
FAILED=$T/failed.txt # "name conns reason" per failed run
PEERS=$T/peers.txt   # "name status detail..." per peer set-up
: >"$RES"; : >"$FAILED"; : >"$PEERS"

# res_add NAME CONNS JSON: one successful run, tagged with its round.
res_add() {
  echo "$1 $2 $3 round=$ROUND" >>"$RES"
  echo "$1 c=$2 $3" >&2
}
peer_failed() { # name conns reason
  echo "$1 $2 $3" >>"$FAILED"
  echo "FAILED: $1 c=$2: $3" >&2
}
counted() { wc -l <"$T/counted.log"; }

# one run of the sender; its figures go to RES
# (SEND_DATA, SEND_URL, SEND_N: another audience and server; the TLS runs)
send_run() { # name conns loop http
  local name=$1 c=$2 loop=$3 http=$4 out=$T/run.json
  local d=${SEND_DATA:-$D} url=${SEND_URL:-$URL} n=${SEND_N:-$N}
  rm -rf "$d/notices"
  if ! "${PIN_CLI[@]}" python3 "$HERE/fanout/measure.py" "$out" -- "$BND" --data "$d" send \
      --api-base "$url" --category info --text "Allerta meteo arancione: domenica 12 ottobre" \
      --rate 0 --connections "$c" --window $((c * 4)) --loop "$loop" --http "$http" --json 2>"$T/send.err"; then
    echo "FAILED: $name c=$c: $(tail -3 "$T/send.err")" >&2
    exit 1
  fi
  res_add "$name" "$c" "$(python3 - "$out" "$n" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); n = int(sys.argv[2]); r = m["report"]
assert r["state"] == "done" and r["accepted"] == n and r["failed"] == 0, r
print(json.dumps({
    "msgs_per_s": n / r["elapsed_s"], "cpu_us_per_msg": m["cpu_s"] * 1e6 / n,
    "maxrss_kb": m["maxrss_kb"], "first_request_ms": r["first_request_ms"],
    "wall_s": m["wall_s"]}, separators=(",", ":")))
PY
)"
}

# client_run NAME CONNS COUNT CMD...: a client that prints one JSON object
# with "ok" (200s it counted) and exits 0 only when all COUNT were 200.
client_run() {
  local name=$1 c=$2 count=$3 out ok rc=0
  shift 3
  out=$("${PIN_CLI[@]}" "$@" 2>"$T/client.err") || rc=$?
  ok=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' <<<"$out")
  if [ "$rc" != 0 ] || [ "${ok:-}" != "$count" ]; then
    peer_failed "$name" "$c" "exit $rc, $ok of $count answered 200: $(tr -d '\n' <<<"$out" | tail -c 200) $(tail -c 200 "$T/client.err" | tr '\n' ' ')"
    return 0
  fi
  res_add "$name" "$c" "$out"
}

# ---- undici: node + a locked undici, installed on demand (npm ci).
UD=$HERE/peers/undici
undici_setup() {
  local v
  command -v node >/dev/null || { echo "undici unavailable node not installed" >>"$PEERS"; return 1; }
  v=$(node -p 'process.versions.node.split(".")[0]')
  [ "$v" -ge 18 ] || { echo "undici unavailable node $v is older than 18" >>"$PEERS"; return 1; }
  if [ ! -f "$UD/node_modules/undici/package.json" ]; then
    command -v npm >/dev/null || { echo "undici unavailable npm not installed" >>"$PEERS"; return 1; }
    echo "undici: npm ci in $UD" >&2
    if ! (cd "$UD" && timeout 180 npm ci --no-audit --no-fund --prefer-offline \
          --fetch-retries=1 --fetch-timeout=30000 --loglevel=error) >"$T/npm.log" 2>&1; then
      echo "undici unavailable npm ci failed: $(grep -m2 'npm error' "$T/npm.log" | tr '\n' ' ' | tail -c 200)" >>"$PEERS"
      rm -rf "$UD/node_modules"
      return 1
    fi
  fi
  # smoke test and warm-up: it must deliver its count
  if ! node "$UD/undici_peer.mjs" --url "$URL$BENCH_MSG_PATH" --conns 8 --count 2000 >"$T/undici.smoke" 2>&1; then
    echo "undici unavailable smoke run failed: $(tail -c 200 "$T/undici.smoke" | tr '\n' ' ')" >>"$PEERS"
    return 1
  fi
  echo "undici ok node $(node -v), undici $(node -p "require('$UD/node_modules/undici/package.json').version")" >>"$PEERS"
}

# ---- kannel: a fresh bearerbox + smsbox per run, everything in $T/kannel.
KANNEL_FEED="curl --parallel"
kannel_setup() {
  local b
  for b in bearerbox smsbox curl; do
    command -v "$b" >/dev/null || { echo "kannel unavailable $b not installed (apt-get install kannel)" >>"$PEERS"; return 1; }
  done
  echo "kannel ok kannel $(dpkg-query -W -f='${Version}' kannel 2>/dev/null || echo '?'), max-pending-submits $C1, HTTP SMSC generic (GET)" >>"$PEERS"
}

# kannel_start: sets BB_PID SB_PID KHTTP (smsbox's sendsms port) KADMIN
# (bearerbox's admin port); retried
# on other ports when a box does not come up.
kannel_start() {
  local K=$T/kannel try i sp
  for try in 1 2 3; do
    rm -rf "$K"; mkdir -p "$K/store"
    KADMIN=$(bench_freeport); sp=$(bench_freeport); KHTTP=$(bench_freeport)
    cat >"$K/kannel.conf" <<EOF
group = core
admin-port = $KADMIN
admin-password = bench
status-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = $sp
box-allow-ip = "127.0.0.1"
log-file = "$K/bearerbox.log"
log-level = 2
store-type = file
store-location = "$K/store/kannel.store"
dlr-storage = internal

group = smsc
smsc = http
smsc-id = nginx
system-type = generic
send-url = "$URL/counted/kannel?from=%P&to=%p&text=%b"
status-success-regex = "messages"
max-pending-submits = $C1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $sp
sendsms-port = $KHTTP
log-file = "$K/smsbox.log"
log-level = 2

group = sendsms-user
username = bench
password = bench
max-messages = 1
EOF
    "${PIN_CLI[@]}" bearerbox "$K/kannel.conf" >"$K/bearerbox.out" 2>&1 &
    BB_PID=$!; bench_track "$BB_PID"
    for ((i = 0; i < 100; i++)); do
      kannel_status 2>/dev/null |
        grep -q 'HTTP:generic.*online' && break
      kill -0 "$BB_PID" 2>/dev/null || break
      sleep 0.1
    done
    "${PIN_CLI[@]}" smsbox "$K/kannel.conf" >"$K/smsbox.out" 2>&1 &
    SB_PID=$!; bench_track "$SB_PID"
    for ((i = 0; i < 100; i++)); do
      kannel_status 2>/dev/null |
        grep -q 'smsbox:.*on-line' && bench_wait_http "$KHTTP" 1 && return 0
      kill -0 "$SB_PID" 2>/dev/null && kill -0 "$BB_PID" 2>/dev/null || break
      sleep 0.1
    done
    echo "kannel try $try failed: $(tail -2 "$K/bearerbox.log" "$K/smsbox.log" 2>/dev/null | tr '\n' ' ')" >&2
    bench_stop "$SB_PID"; bench_stop "$BB_PID"
  done
  return 1
}

kannel_status() { curl -s --max-time 2 "http://127.0.0.1:$KADMIN/status.txt?password=bench" 2>/dev/null; }

# kannel_sent: "SENT FAILED" as bearerbox's HTTP SMSC counts them.
kannel_sent() {
  kannel_status | sed -n 's/.*HTTP:generic.*sent: sms \([0-9]*\) .*failed \([0-9]*\),.*/\1 \2/p'
}

# kannel_feed COUNT FIRST: COUNT sendsms requests for distinct numbers from
# +39335FIRST on, C1 at a time; prints how many smsbox accepted (202).
kannel_feed() {
  local last=$(($2 + $1 - 1))
  "${PIN_SRV[@]}" curl -q -s --no-progress-meter --parallel --parallel-immediate --parallel-max "$C1" \
    -w '%{stderr}%{http_code}\n' \
    "http://127.0.0.1:$KHTTP/cgi-bin/sendsms?username=bench&password=bench&from=Comune&to=%2B39335[$(printf %07d "$2")-$(printf %07d "$last")]&text=Allerta+meteo+arancione%3A+domenica+12+ottobre" \
    >/dev/null 2>"$T/kannel.codes" || true
  grep -c '^202$' "$T/kannel.codes" || true
}

# kannel_wait BASE COUNT: until nginx logged BASE + COUNT requests (bounded).
kannel_wait() {
  local i limit=$((600 + $2 / 20))   # 30 s + 1 s per 1,000 messages, in 50 ms steps
  for ((i = 0; i < limit; i++)); do
    [ "$(counted)" -ge $(($1 + $2)) ] && return 0
    sleep 0.05
  done
  return 1
}

kannel_run() { # conns
  local c=$1 base acc t0 c0 b0 c1 b1 got last bad rss sent0 sent1 kfail
  if ! kannel_start; then peer_failed kannel "$c" "did not start"; return 0; fi
  # warm-up (not recorded): 500 messages through, delivered
  base=$(counted)
  acc=$(kannel_feed 500 9000000)
  kannel_wait "$base" 500 || true
  base=$(counted)
  read -r sent0 kfail < <(kannel_sent) || true
  c0=$(bench_cpu_ticks "$BB_PID" "$SB_PID"); b0=$(bench_cpu_ticks "$BB_PID")
  t0=$(date +%s.%N)
  acc=$(kannel_feed "$KN" 1)
  kannel_wait "$base" "$KN" || true
  sleep 0.2   # nothing more may come: more than KN is a failure too
  c1=$(bench_cpu_ticks "$BB_PID" "$SB_PID"); b1=$(bench_cpu_ticks "$BB_PID")
  read -r sent1 kfail < <(kannel_sent) || true
  rss=$(( $(awk '/VmHWM/ {print $2}' "/proc/$BB_PID/status") + $(awk '/VmHWM/ {print $2}' "/proc/$SB_PID/status") ))
  got=$(( $(counted) - base ))
  last=$(tail -1 "$T/counted.log" | cut -d' ' -f1)
  bad=$(tail -n "+$((base + 1))" "$T/counted.log" | awk '$3 != 200' | wc -l)
  bench_stop "$SB_PID"; bench_stop "$BB_PID"
  if [ "$acc" != "$KN" ] || [ "$got" != "$KN" ] || [ "$bad" != 0 ] ||
     [ "$((${sent1:-0} - ${sent0:-0}))" != "$KN" ] || [ "${kfail:-x}" != 0 ]; then
    peer_failed kannel "$c" "smsbox accepted $acc of $KN, nginx got $got ($bad not 200), bearerbox counted $((${sent1:-0} - ${sent0:-0})) sent, ${kfail:-?} failed"
    return 0
  fi
  res_add kannel "$c" "$(awk -v n="$KN" -v t0="$t0" -v t1="$last" -v c="$((c1 - c0))" -v b="$((b1 - b0))" -v tck="$BENCH_TCK" -v rss="$rss" 'BEGIN {
    printf "{\"msgs_per_s\":%.1f,\"cpu_us_per_msg\":%.3f,\"bearerbox_cpu_us_per_msg\":%.3f,\"maxrss_kb\":%d,\"wall_s\":%.3f}", n / (t1 - t0), c * 1e6 / tck / n, b * 1e6 / tck / n, rss, t1 - t0 }')"
}

# ---- naive: one curl process per message.
naive_run() { # conns (for the record: it has one connection at a time)
  local c=$1 base ok got
  base=$(counted)
  if ! "${PIN_CLI[@]}" python3 "$HERE/fanout/measure.py" "$T/naive.json" -- bash -c '
      for ((i = 0; i < $1; i++)); do
        curl -q -s -o /dev/null -w "%{http_code}\n" -X POST -H "Content-Type: application/json" \
          -H "Authorization: Bearer bench-token" --data-binary "$2" "$3"
      done >"$4"' naive "$NN" "$BENCH_POST_BODY" "$URL/counted/naive" "$T/naive.codes"; then
    peer_failed naive "$c" "the loop failed"
    return 0
  fi
  ok=$(grep -c '^200$' "$T/naive.codes" || true)
  got=$(( $(counted) - base ))
  if [ "$ok" != "$NN" ] || [ "$got" != "$NN" ]; then
    peer_failed naive "$c" "$ok of $NN answered 200, nginx got $got"
    return 0
  fi
  res_add naive "$c" "$(python3 - "$T/naive.json" "$NN" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); n = int(sys.argv[2])
print(json.dumps({
    "msgs_per_s": n / m["wall_s"], "cpu_us_per_msg": m["cpu_s"] * 1e6 / n,
    "maxrss_kb": m["maxrss_kb"], "wall_s": m["wall_s"]}, separators=(",", ":")))
PY
)"
}

HAVE_UNDICI=0; HAVE_KANNEL=0
if [ "$UNDICI" = 1 ]; then undici_setup && HAVE_UNDICI=1; fi
if [ "$KANNEL" = 1 ]; then kannel_setup && HAVE_KANNEL=1; fi
[ "$NAIVE" = 1 ] && echo "naive ok curl $(curl -V | head -1 | cut -d' ' -f2), one process per message" >>"$PEERS"
sed 's/^/peer: /' "$PEERS" >&2

BENCH_METRICS=""
for c in $CONNS; do
  bench_add_wrk "wrk_c${c}_req_per_s" "$c" "$WRK_S" "$URL$BENCH_MSG_PATH"
  "${PIN_CLI[@]}" "$BARE" --url "$URL$BENCH_MSG_PATH" --conns "$c" --count 20000 >/dev/null
  for ROUND in $(seq 1 "$RUNS"); do
    client_run bare "$c" "$N" "$BARE" --url "$URL$BENCH_MSG_PATH" --conns "$c" --count "$N" --mode epoll
    # The first send after a bare run pays a cold start (its store open is
    # slower: page cache and CPU state after the other program), so the
    # three sends take turns at going first (rotation by round).
    SENDS=("send_uring io_uring native" "send_epoll epoll native" "send_curl io_uring curl")
    for k in 0 1 2; do
      # shellcheck disable=SC2086
      set -- ${SENDS[$(((ROUND - 1 + k) % 3))]}
      send_run "$1" "$c" "$2" "$3"
    done
    if [ "$HAVE_UNDICI" = 1 ]; then
      client_run undici "$c" "$N" node "$UD/undici_peer.mjs" --url "$URL$BENCH_MSG_PATH" --conns "$c" --count "$N"
    fi
    if [ "$c" = "$C1" ]; then
      [ "$HAVE_KANNEL" = 1 ] && kannel_run "$c"
      [ "$NAIVE" = 1 ] && naive_run "$c"
    fi
  done
done

if [ "$TLS" = 1 ]; then
  # TLS: a CA-less self-signed certificate for 127.0.0.1, trusted by every
  # client through its own option (SSL_CERT_FILE for send, --ca for undici).
  mkdir -p "$T/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=banditore bench" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" 2>/dev/null || bench_die "openssl req"
  PLAIN_NGINX_PID=$NGINX_PID
  start_nginx "$T/nginx-tls" 1 "$BENCH_SUCCESS_BODY" "" "$T/tls"
  TLS_URL=$NGINX_URL
  D3=$T/data-tls
  "$B/bench/bench_fanout" --data "$D3" --count "$TLS_N" --seed 44 >"$T/build3.json"
  echo "TLS: nginx on $TLS_URL; $TLS_N subscribers" >&2
  export SSL_CERT_FILE=$T/tls/cert.pem
  for ROUND in $(seq 1 "$RUNS"); do
    TLS_RUNS=("tls_native native" "tls_curl curl" "tls_undici -")
    for k in 0 1 2; do
      # shellcheck disable=SC2086
      set -- ${TLS_RUNS[$(((ROUND - 1 + k) % 3))]}
      if [ "$1" = tls_undici ]; then
        [ "$HAVE_UNDICI" = 1 ] && client_run tls_undici "$C1" "$TLS_N" node "$UD/undici_peer.mjs" \
          --url "$TLS_URL$BENCH_MSG_PATH" --conns "$C1" --count "$TLS_N" --ca "$T/tls/cert.pem"
      else
        SEND_DATA=$D3 SEND_URL=$TLS_URL SEND_N=$TLS_N send_run "$1" "$C1" io_uring "$2"
      fi
    done
  done
  unset SSL_CERT_FILE
  stop_nginx
  NGINX_PID=$PLAIN_NGINX_PID
fi

WAMOCK_JSON=""
if [ "$WAMOCK" = 1 ]; then
  # N2 recipients through wa-mock limited to 1,000/s, sender at 1,000/s.
  D2=$T/data2
  "$B/bench/bench_fanout" --data "$D2" --count "$N2" --seed 43 >"$T/build2.json"
  "${PIN_SRV[@]}" "$MOCK" --listen 127.0.0.1:0 --port-file "$T/mock.port" --rate 1000 --quiet &
  bench_track "$!"
  bench_wait_file "$T/mock.port" 5 || bench_die "wa-mock did not start"
  python3 "$HERE/fanout/measure.py" "$T/wm.json" -- "$BND" --data "$D2" send \
    --api-base "http://127.0.0.1:$(cat "$T/mock.port")" --category info --text "Allerta" \
    --rate 1000 --loop io_uring --http native --json 2>"$T/wm.err" || { echo "FAILED: wa-mock run" >&2; exit 1; }
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

BENCH_RATIOS=""
for c in $CONNS; do
  names="bare send_uring send_epoll send_curl"
  [ "$HAVE_UNDICI" = 1 ] && names="$names undici"
  if [ "$c" = "$C1" ]; then
    [ "$HAVE_KANNEL" = 1 ] && names="$names kannel"
    [ "$NAIVE" = 1 ] && names="$names naive"
  fi
  for n in $names; do
    for m in msgs_per_s cpu_us_per_msg maxrss_kb; do bench_add_metric "$RES" "$n" "$c" "$m"; done
    case $n in
    send_*) bench_add_metric "$RES" "$n" "$c" first_request_ms ;;
    kannel) bench_add_metric "$RES" "$n" "$c" bearerbox_cpu_us_per_msg ;;
    esac
  done
  for l in uring epoll; do
    for p in $names; do
      case $p in send_*) continue ;; esac
      bench_add_pair_ratio "c${c}_${l}_vs_${p}_rate" "$RES" "send_$l" "$p" "$c" msgs_per_s
      bench_add_pair_ratio "c${c}_${l}_vs_${p}_cpu" "$RES" "send_$l" "$p" "$c" cpu_us_per_msg
    done
  done
  bench_add_pair_ratio "c${c}_uring_vs_epoll_rate" "$RES" send_uring send_epoll "$c" msgs_per_s
  bench_add_pair_ratio "c${c}_uring_vs_epoll_cpu" "$RES" send_uring send_epoll "$c" cpu_us_per_msg
  bench_add_pair_ratio "c${c}_native_vs_curl_rate" "$RES" send_uring send_curl "$c" msgs_per_s
  bench_add_pair_ratio "c${c}_native_vs_curl_cpu" "$RES" send_uring send_curl "$c" cpu_us_per_msg
  for p in bare undici; do
    case " $names " in *" $p "*) ;; *) continue ;; esac
    bench_add_pair_ratio "c${c}_curl_vs_${p}_rate" "$RES" send_curl "$p" "$c" msgs_per_s
    bench_add_pair_ratio "c${c}_curl_vs_${p}_cpu" "$RES" send_curl "$p" "$c" cpu_us_per_msg
  done
done

if [ "$TLS" = 1 ]; then
  tnames="tls_native tls_curl"
  [ "$HAVE_UNDICI" = 1 ] && tnames="$tnames tls_undici"
  for n in $tnames; do
    for m in msgs_per_s cpu_us_per_msg maxrss_kb; do bench_add_metric "$RES" "$n" "$C1" "$m"; done
  done
  bench_add_pair_ratio "c${C1}_tls_native_vs_curl_rate" "$RES" tls_native tls_curl "$C1" msgs_per_s
  bench_add_pair_ratio "c${C1}_tls_native_vs_curl_cpu" "$RES" tls_native tls_curl "$C1" cpu_us_per_msg
  if [ "$HAVE_UNDICI" = 1 ]; then
    for l in native curl; do
      bench_add_pair_ratio "c${C1}_tls_${l}_vs_undici_rate" "$RES" "tls_$l" tls_undici "$C1" msgs_per_s
      bench_add_pair_ratio "c${C1}_tls_${l}_vs_undici_cpu" "$RES" "tls_$l" tls_undici "$C1" cpu_us_per_msg
    done
  fi
fi

# peers: set-up status and the runs each peer failed (reasons kept).
PEERS_JSON=$(python3 - "$PEERS" "$FAILED" "$RES" <<'PY'
import json, sys
peers = {}
for line in open(sys.argv[1]):
    name, status, detail = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
    peers[name] = {"status": status, "detail": detail}
for name in ("bare",):
    peers.setdefault(name, {"status": "ok", "detail": "bench_curl_bare --mode epoll"})
ok_runs = {}
for line in open(sys.argv[3]):
    name = line.split(" ", 1)[0]
    ok_runs[name] = ok_runs.get(name, 0) + 1
for line in open(sys.argv[2]):
    name, conns, reason = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
    p = peers.setdefault(name, {"status": "ok", "detail": ""})
    p.setdefault("failed_runs", []).append({"conns": int(conns), "reason": reason})
for name, p in peers.items():
    if p["status"] == "ok":
        p["ok_runs"] = ok_runs.get(name, 0)
        if p.get("failed_runs"):
            p["status"] = "failed"
print(json.dumps(peers, separators=(",", ":")))
PY
)
bad_peers=$(python3 -c 'import json,sys; print(" ".join(k for k, v in json.loads(sys.argv[1]).items() if v["status"] != "ok"))' "$PEERS_JSON")
[ -n "$bad_peers" ] && echo "peers not ok: $bad_peers" >&2

printf '{"scenario":"fanout","params":{"recipients":%s,"runs":%s,"conns":"%s","window":"4 x conns","kannel_messages":%s,"kannel_feeder":"%s, %s wide","naive_messages":%s,"data":"%s","pinning":"%s","load_at_start":"%s","load_at_end":"%s","targets":"send >= 0.9x bare rate, <= 1.1x bare cpu; ahead of undici; uring >= epoll; rss <= 64 MiB; first request <= 50 ms; wa-mock 1000/s within 2%% of ideal"},"peers":%s,"metrics":{%s%s%s},"ratios":{%s},"notes":"medians of interleaved runs; a ratio is the median (min, max) of the per-round ratios A/B (the runs of one round are next to each other in time), of_medians the ratio of the two medians; send cpu includes store open, snapshot and notice creation; every send run checked done with all accepted; peer runs that did not deliver their count are under peers.*.failed_runs, not in the metrics; kannel and naive run at the first connection count with smaller N (their own counts), ratios against send at N"}\n' \
  "$N" "$RUNS" "$CONNS" "$KN" "$KANNEL_FEED" "$C1" "$NN" "$(df -P "$T" | awk 'NR==2 {print $1}')" "$PIN_DESC" "$LOAD0" "$(bench_load)" \
  "$PEERS_JSON" "$BENCH_METRICS" "${WAMOCK_JSON:+,}" "$WAMOCK_JSON" "$BENCH_RATIOS"
if [ "$STRICT" = 1 ] && [ -n "$bad_peers" ]; then exit 1; fi
exit 0
