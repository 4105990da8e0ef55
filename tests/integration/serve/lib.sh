# lib.sh - shared by tests/integration/test_serve_*.sh (sourced).
# Real processes on loopback only: wa-mock and `banditore serve` on free
# ports (--listen 127.0.0.1:0 + --port-file), signed webhooks from hook.py.
# Every wait is bounded; every process we start is killed by PID in the
# EXIT trap. Needs BANDITORE_BIN, WA_MOCK_BIN, BUILD_DIR (set by CTest) and
# python3.
set -euo pipefail
: "${BANDITORE_BIN:?BANDITORE_BIN must name the banditore binary}"
: "${WA_MOCK_BIN:?WA_MOCK_BIN must name the wa-mock binary}"
SERVE_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOOK="$SERVE_LIB/hook.py"
# shellcheck source=../common.sh
. "$SERVE_LIB/../common.sh"
itest_init serve-test
FAIL_TAIL=15
export WA_MOCK_TOKEN=test-token
export BANDITORE_WA_TOKEN=test-token
export BANDITORE_APP_SECRET=serve-test-secret
export WA_MOCK_APP_SECRET=serve-test-secret
export BANDITORE_VERIFY_TOKEN=serve-verify-token

note() { echo "# $(date +%T.%N | cut -c1-12) $*" >&2; }

# start_mock [wa-mock flags...]: sets MOCK_PID, MOCK_URL.
start_mock() {
	rm -f "$TMP/mock.port"
	"$WA_MOCK_BIN" --listen 127.0.0.1:0 --port-file "$TMP/mock.port" --quiet \
		--record "$TMP/record.jsonl" "$@" 2>>"$TMP/mock.err" &
	MOCK_PID=$!
	PIDS+=("$MOCK_PID")
	wait_file "$TMP/mock.port" 10 || fail "wa-mock did not start"
	MOCK_URL="http://127.0.0.1:$(cat "$TMP/mock.port")"
}

# start_serve [LISTEN] [serve flags...]: sets SERVE_PID, PORT. LISTEN
# defaults to 127.0.0.1:0; a restart passes the port it had, so that
# wa-mock's status webhooks keep reaching it.
start_serve() {
	local listen=${1:-127.0.0.1:0}
	shift || true
	rm -f "$TMP/serve.port"
	"$BANDITORE_BIN" --data "$TMP/data" serve --listen "$listen" --port-file "$TMP/serve.port" \
		--api-base "$MOCK_URL" --phone-number-id 110000000000001 "$@" \
		2>>"$TMP/serve.err" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	wait_file "$TMP/serve.port" 10 || fail "serve did not start"
	PORT=$(cat "$TMP/serve.port")
}

# stop_serve [SIGNAL]: signal serve (TERM), wait at most 20 s; returns its
# exit status (124 when it did not stop).
stop_serve() { stop_pid "$SERVE_PID" "${1:-TERM}" 20; }

hook() { timeout -s KILL 120 python3 "$HOOK" "$PORT" "$@"; }

# count STATE: subscribers in that state (reads the store while serve runs).
count() {
	"$BANDITORE_BIN" --data "$TMP/data" subscribers count --json >"$TMP/count.json" ||
		fail "subscribers count"
	python3 -c "import json; print(json.load(open('$TMP/count.json'))['$1'])"
}

# record_count TAG [TO]: lines of wa-mock's record with this tag (and number).
record_count() {
	python3 - "$TMP/record.jsonl" "$1" "${2:-}" <<'PY'
import json, sys
path, tag, to = sys.argv[1], sys.argv[2], sys.argv[3]
n = 0
try:
    for line in open(path):
        r = json.loads(line)
        if r["tag"] == tag and (not to or r["to"] == to):
            n += 1
except FileNotFoundError:
    pass
print(n)
PY
}

# wait_for SECONDS CMD...: until CMD succeeds (polled every 0.1 s).
wait_for() {
	local s=$1 i
	shift
	for ((i = 0; i < s * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

eq() { [ "$("${@:2}")" = "$1" ]; }

# metric NAME{labels}: the value in a /metrics scrape, checked by prom_check.
scrape() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" >"$TMP/metrics.txt" || fail "scrape"
	"$BUILD_DIR/tests/prom_check" "$@" <"$TMP/metrics.txt"
}

# no_full_numbers FILE PATTERN_FILE: none of the numbers listed appears whole.
no_full_numbers() {
	if grep -F -f "$2" "$1" >/dev/null; then
		grep -F -f "$2" "$1" | head -3 >&2
		fail "a full phone number appears in $1"
	fi
}

# body OUT PYTHON_EXPR: write a webhook body built with hook.py's helpers
# (envelope, message, status) to OUT.
body() {
	python3 - "$SERVE_LIB" "$1" "$2" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from hook import envelope, message, status
open(sys.argv[2], "wb").write(eval(sys.argv[3]))
PY
}
