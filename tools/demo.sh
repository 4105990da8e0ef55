#!/usr/bin/env bash
# demo.sh - Banditore end to end, on this machine, in about a minute after
# the build:
#
#   1. installs what is missing and builds (tools/build.sh);
#   2. starts wa-mock, the local WhatsApp Cloud API, at the upgraded tier
#      (1,000 messages/s) with realistic latency (log-normal, 250 ms median,
#      2 s p99), sending signed status webhooks (sent, delivered, read) back
#      to the service; and `banditore serve` on loopback (free ports);
#   3. N citizens (20,000 by default) write "JESI ON": real signed webhooks;
#      serve records each one durably and sends each a welcome through the
#      API, and a citizen is confirmed when the API accepts it;
#   4. the civil-protection operator posts an emergency through the operator
#      API; the demo shows its progress live (a progress bar with rate and
#      ETA on a terminal) and then the final report: delivered within 1, 5
#      and 15 minutes from the status webhooks, failures by reason, the
#      start latency;
#   5. stops everything it started (by PID) and removes its files.
#
# usage: tools/demo.sh [--citizens N] [--rate80] [--keep] [--no-build]
#   --citizens N   how many citizens subscribe (default 20000; 2000 with --rate80)
#   --rate80       the default messaging tier: 80 messages/s (reaching 20,000
#                  people then takes over 4 minutes: the reason for the upgrade)
#   --keep         keep the working directory (data, logs, wa-mock's record)
#   --no-build     use the binaries in ./build as they are
# Environment: BUILD_DIR (default ./build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CITIZENS=""
RATE=1000
KEEP=0
BUILD=1
while [ $# -gt 0 ]; do
	case "$1" in
	--citizens) CITIZENS=${2:?--citizens needs a number}; shift ;;
	--citizens=*) CITIZENS=${1#*=} ;;
	--rate80) RATE=80 ;;
	--keep) KEEP=1 ;;
	--no-build) BUILD=0 ;;
	-h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$CITIZENS" ] || { [ $RATE = 80 ] && CITIZENS=2000 || CITIZENS=20000; }
case "$CITIZENS" in '' | *[!0-9]*) echo "demo.sh: --citizens must be a number" >&2; exit 2 ;; esac
[ "$CITIZENS" -ge 1 ] && [ "$CITIZENS" -le 1000000 ] || { echo "demo.sh: --citizens 1..1000000" >&2; exit 2; }

TTY=0
[ -t 1 ] && TTY=1
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
[ $TTY = 1 ] || step() { printf '\n==> %s\n' "$*"; }

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
if [ $BUILD = 1 ]; then
	step "installing what is missing and building (tools/build.sh)"
	t0=$(date +%s)
	LOG=$(mktemp)
	if ! BUILD_DIR=$("$ROOT/tools/build.sh" "$BUILD_DIR" 2>"$LOG" | tail -1); then
		tail -30 "$LOG" >&2; rm -f "$LOG"; echo "demo.sh: the build failed" >&2; exit 1
	fi
	rm -f "$LOG"
	echo "built in $(( $(date +%s) - t0 )) s: $BUILD_DIR"
fi
BIN=$BUILD_DIR/tools/banditore
MOCK=$BUILD_DIR/tools/wa-mock
LOAD=$BUILD_DIR/tests/webhook_load
for b in "$BIN" "$MOCK" "$LOAD"; do
	[ -x "$b" ] || { echo "demo.sh: $b is missing (build with tools/build.sh)" >&2; exit 1; }
done
command -v curl >/dev/null && command -v python3 >/dev/null ||
	{ echo "demo.sh: needs curl and python3 (tools/deps.sh installs them)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/banditore-demo.XXXXXX")
DATA=$WORK/banditore-data
SERVE_PID=""
MOCK_PID=""
T_START=$(date +%s)
stop() {   # stop PID NAME: SIGTERM, wait up to 15 s, then SIGKILL
	local p=$1
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$p" 2>/dev/null; then echo "($2 did not stop in 15 s: killed)"; kill -KILL "$p" 2>/dev/null; fi
	wait "$p" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ $TTY = 1 ] && printf '\033[?25h'   # the cursor, if the bar hid it
	stop "$SERVE_PID" serve
	stop "$MOCK_PID" wa-mock
	if [ $KEEP = 1 ]; then echo "(kept $WORK: data, logs, wa-mock's record)"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
trap 'echo; echo "demo.sh: interrupted"; exit 130' INT TERM

# Secrets: fresh random values, in the environment only (never argv).
rnd() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
export BANDITORE_WA_TOKEN=$(rnd) BANDITORE_APP_SECRET=$(rnd) BANDITORE_VERIFY_TOKEN=$(rnd)
export BANDITORE_ADMIN_TOKEN=$(rnd)
export WA_MOCK_TOKEN=$BANDITORE_WA_TOKEN WA_MOCK_APP_SECRET=$BANDITORE_APP_SECRET

# Requests in flight: rate x mean latency (about 370 ms for this log-normal)
# with room to spare; HTTP/1.1 to wa-mock needs one connection each.
if [ $RATE = 1000 ]; then WINDOW=600; else WINDOW=64; fi

step "starting wa-mock (the WhatsApp Cloud API: $RATE msg/s, latency log-normal 250 ms p50 / 2 s p99) and banditore serve"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
started=0
for try in 1 2 3; do
	SP=$(free_port)
	rm -f "$WORK/mock.port" "$WORK/serve.port"
	"$MOCK" --listen 127.0.0.1:0 --port-file "$WORK/mock.port" --rate "$RATE" \
		--latency-dist lognormal:250:2000 --seed 2024 --record "$WORK/sent.jsonl" \
		--webhook "http://127.0.0.1:$SP/webhook" --webhook-linger-ms 100 \
		>"$WORK/wa-mock.out" 2>"$WORK/wa-mock.log" &
	MOCK_PID=$!
	for _ in $(seq 1 100); do [ -s "$WORK/mock.port" ] && break; sleep 0.05; done
	[ -s "$WORK/mock.port" ] || { cat "$WORK/wa-mock.log" >&2; echo "demo.sh: wa-mock did not start" >&2; exit 1; }
	MOCK_URL=http://127.0.0.1:$(cat "$WORK/mock.port")
	"$BIN" --data "$DATA" serve --listen "127.0.0.1:$SP" --port-file "$WORK/serve.port" \
		--api-base "$MOCK_URL" --rate "$RATE" --window $WINDOW --connections $WINDOW \
		>"$WORK/serve.out" 2>"$WORK/serve.log" &
	SERVE_PID=$!
	for _ in $(seq 1 200); do
		[ -s "$WORK/serve.port" ] && break
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ -s "$WORK/serve.port" ]; then started=1; break; fi
	stop "$SERVE_PID" serve; SERVE_PID=""
	stop "$MOCK_PID" wa-mock; MOCK_PID=""
done
[ $started = 1 ] || { tail -5 "$WORK/serve.log" >&2; echo "demo.sh: serve did not start" >&2; exit 1; }
URL=http://127.0.0.1:$SP
for _ in $(seq 1 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] && break
	sleep 0.05
done
echo "wa-mock  $MOCK_URL  (pid $MOCK_PID)"
echo "serve    $URL  (pid $SERVE_PID): /webhook, /v1/ (operator API), /metrics, /healthz"
echo "data     $DATA"

# api METHOD PATH [BODY]: the operator API; the answer in $BODY, status in $HTTP
api() {
	local args=(-s -o "$WORK/api.json" -w '%{http_code}' -X "$1" --max-time 30
		-H "Authorization: Bearer $BANDITORE_ADMIN_TOKEN")
	[ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	HTTP=$(curl "${args[@]}" "$URL$2") || HTTP=000
	BODY=$(cat "$WORK/api.json" 2>/dev/null || true)
}
field() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$BODY" "$1"; }
fmt() { printf "%'d" "$1" 2>/dev/null || printf '%d' "$1"; }

FIRST=393350000000
step "$(fmt "$CITIZENS") citizens write \"JESI ON\" (signed webhooks, 16 connections); serve welcomes each one"
"$LOAD" --url "$URL/webhook" --count "$CITIZENS" --first "$FIRST" --conns 16 --id-prefix demo \
	--quiet >"$WORK/load.json" 2>"$WORK/load.err" || {
	cat "$WORK/load.json" "$WORK/load.err" >&2; echo "demo.sh: the webhooks were not all accepted" >&2; exit 1; }
python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))
print("webhooks: %d answered 200 in %.1f s (%.0f/s), each one only once durable; p50 %.1f ms, p99 %.1f ms"
      % (j["ok"], j["elapsed_s"], j["messages_per_s"], j["p50_ms"], j["p99_ms"]))' "$WORK/load.json"
t0=$(date +%s.%N)
last=""
while :; do
	api GET /v1/subscribers
	[ "$HTTP" = 200 ] || { echo "demo.sh: GET /v1/subscribers: $HTTP $BODY" >&2; exit 1; }
	conf=$(field "j['confirmed']")
	line="welcomes accepted by the API: $(fmt "$conf") of $(fmt "$CITIZENS")"
	if [ $TTY = 1 ]; then printf '\r%s   ' "$line"; elif [ "$line" != "$last" ] && [ $(( $(date +%s) % 3 )) = 0 ]; then echo "$line"; fi
	last=$line
	[ "$conf" -ge "$CITIZENS" ] && break
	if python3 -c "import sys,time; sys.exit(0 if time.time() - $t0 > 600 else 1)"; then
		echo; echo "demo.sh: welcomes still pending after 10 minutes" >&2; exit 1
	fi
	sleep 0.5
done
[ $TTY = 1 ] && echo
echo "subscribers: $BODY    (counts by state: the API never shows a number)"

step "the civil-protection operator posts an emergency (POST /v1/notices)"
REQ='{"category":"emergency","text":"Protezione civile: allerta rossa per esondazione del fiume Esino. Evitate i sottopassi e le zone vicine al fiume.","expiry":"6h"}'
echo "\$ curl -H 'Authorization: Bearer \$BANDITORE_ADMIN_TOKEN' -d '$REQ' $URL/v1/notices"
api POST /v1/notices "$REQ"
[ "$HTTP" = 202 ] || { echo "demo.sh: POST /v1/notices answered $HTTP: $BODY" >&2; exit 1; }
echo "$HTTP $BODY"
ID=$(field "j['id']")

step "live progress (GET /v1/notices/$ID)"
[ $TTY = 1 ] && printf '\033[?25l'
lastp=0
while :; do
	api GET "/v1/notices/$ID"
	[ "$HTTP" = 200 ] || { echo; echo "demo.sh: GET answered $HTTP: $BODY" >&2; exit 1; }
	read -r st acc fail rem pct rate eta dlv < <(python3 -c '
import json, sys
j = json.loads(sys.argv[1])
rate = j["rate_now_per_s"] if j["rate_now_per_s"] is not None else j["rate_per_s"]
eta = "-" if j["eta_s"] is None else "%.0f" % j["eta_s"]
print(j["state"], j["accepted"], j["failed"], j["remaining"], "%.1f" % j["progress_pct"], "%.0f" % rate, eta, j["delivered"])' "$BODY")
	if [ $TTY = 1 ]; then
		w=30 fill=$(python3 -c "print(int($pct * 30 / 100))")
		bar=$(printf '%*s' "$fill" '' | tr ' ' '#')$(printf '%*s' $((w - fill)) '' | tr ' ' '.')
		printf '\r[%s] %5s%%  %s accepted  %s failed  %s msg/s  ETA %s s  %s delivered   ' \
			"$bar" "$pct" "$(fmt "$acc")" "$(fmt "$fail")" "$rate" "$eta" "$(fmt "$dlv")"
	elif [ $(( $(date +%s) - lastp )) -ge 2 ]; then
		lastp=$(date +%s)
		echo "$st: $pct% ($acc accepted, $fail failed, $rem remaining), $rate msg/s, ETA $eta s, $dlv delivered"
	fi
	case "$st" in done | cancelled | expired | stopped) break ;; esac
	sleep 0.5
done
[ $TTY = 1 ] && { echo; printf '\033[?25h'; }

# The delivered statuses trail the last acceptance by a few seconds: wait
# until they cover the accepted messages or stop coming (at most 15 s).
prev=-1 still=0
for _ in $(seq 1 30); do
	api GET "/v1/notices/$ID"
	a=$(field "j['accepted']"); d=$(field "j['delivered'] + j['delivery_failed']")
	[ "$d" -ge $((a * 95 / 100)) ] && break
	if [ "$d" = "$prev" ]; then still=$((still + 1)); else still=0; fi
	[ $still -ge 4 ] && break
	prev=$d
	sleep 0.5
done

step "final report (GET /v1/notices/$ID)"
python3 - "$BODY" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
def n(v): return "{:,}".format(v)
print("notice      %s (%s, priority %d): %s" % (j["id"], j["category"], j["priority"], j["state"]))
print("recipients  %s: %s accepted by the API, %s failed, %s opted out meanwhile, %s expired"
      % (n(j["recipients"]), n(j["accepted"]), n(j["failed"]), n(j["skipped_unsubscribed"]), n(j["expired"])))
print("timing      %.1f s from the first to the last message, %.0f msg/s; first message %s ms after the POST (%s)"
      % (j["elapsed_s"], j["rate_per_s"], j["start_latency_ms"], j["start_latency_basis"]))
for f in j["failures"]:
    print("failed      %s x code %s: %s (%s)" % (n(f["count"]), f["code"], f["reason"], f["class"]))
print("statuses    %s sent, %s delivered, %s read, %s failed after acceptance (status webhooks)"
      % (n(j["sent"]), n(j["delivered"]), n(j["read"]), n(j["delivery_failed"])))
for w in ("1m", "5m", "15m"):
    c = j["coverage"][w]
    print("coverage    delivered within %-3s %6.2f%%  (%s of %s)%s" % (w, c["percent"], n(c["delivered"]),
          n(j["recipients"]), "" if c["complete"] else "  window still open: can still grow"))
if j["delivered"] == 0 and j["accepted"] > 0:
    print("            (no delivered status reached the notice: serve does not route the status webhooks of a running notice yet)")
PY
echo "the same report from the CLI (read-only, works while serve runs):"
"$BIN" --data "$DATA" status "$ID" 2>&1 | sed 's/^/  /'

step "what wa-mock recorded (its own account of every accepted message)"
python3 - "$WORK/sent.jsonl" "$ID" "$CITIZENS" <<'PY'
import json, sys, collections
rec, nid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
welcomes, notice = 0, collections.Counter()
for l in open(rec):
    r = json.loads(l)
    if r["tag"].startswith(nid + ":"):
        notice[r["to"]] += 1
    else:
        welcomes += 1
dups = sum(1 for c in notice.values() if c > 1)
print("%s welcomes, %s notice messages to %s distinct citizens (%d twice)" % (
    "{:,}".format(welcomes), "{:,}".format(sum(notice.values())), "{:,}".format(len(notice)), dups))
PY

step "metrics (GET /metrics, Prometheus text format): a few of the series"
for _ in $(seq 1 60); do   # the notice gauges refresh every 5 s
	curl -s "$URL/metrics" | grep -q '^banditore_notice_remaining{category="emergency"} 0$' && break
	sleep 0.1
done
curl -s "$URL/metrics" | grep -E '^banditore_(subscribers\{state="confirmed"|notice_(recipients|accepted|delivered|remaining)\{category="emergency"|limiter_rate |webhooks_total\{outcome="ok"|statuses_total\{status="delivered"|notices\{state="done"|operator_requests_total\{outcome="ok")' | sed 's/^/  /'

step "privacy: no full number of the $CITIZENS citizens in serve's log, wa-mock's log or any answer above"
python3 - "$FIRST" "$CITIZENS" "$WORK/serve.log" "$WORK/serve.out" "$WORK/wa-mock.log" "$WORK/api.json" <<'PY'
import re, sys
first, n = int(sys.argv[1]), int(sys.argv[2])
hits, lines = 0, 0
for f in sys.argv[3:]:
    text = open(f, errors="replace").read()
    lines += text.count("\n")
    for m in re.finditer(r"\d{8,}", text):
        v = int(m.group())
        if first <= v < first + n:
            hits += 1
print("%d log lines checked: %s" % (lines, "no full number" if hits == 0 else "%d FULL NUMBERS FOUND" % hits))
sys.exit(1 if hits else 0)
PY
echo "serve's log, for example (numbers masked like 39335****567):"
grep -m 3 -E 'module=(opapi|serve)' "$WORK/serve.log" | sed 's/^/  /' || true

step "stopping serve and wa-mock (SIGTERM, by PID)"
stop "$SERVE_PID" serve; SERVE_PID=""
stop "$MOCK_PID" wa-mock; MOCK_PID=""
tail -1 "$WORK/serve.log" | sed 's/^/  /'
echo "done in $(( $(date +%s) - T_START )) s; nothing left running."
