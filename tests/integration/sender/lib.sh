# lib.sh - shared by tests/integration/test_send_*.sh (sourced).
# Real processes on loopback only: wa-mock on a free port (--listen
# 127.0.0.1:0 --port-file), banditore against it. Every wait is bounded,
# every process we start is killed by PID in the EXIT trap.
# Needs BANDITORE_BIN, WA_MOCK_BIN (set by CTest) and python3.
set -euo pipefail
: "${BANDITORE_BIN:?BANDITORE_BIN must name the banditore binary}"
: "${WA_MOCK_BIN:?WA_MOCK_BIN must name the wa-mock binary}"
SENDER_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$SENDER_LIB/../common.sh"
itest_init sender-test
export WA_MOCK_TOKEN=test-token
export BANDITORE_WA_TOKEN=test-token

note() { echo "# $*" >&2; }

# start_mock NAME [wa-mock flags...]: sets MOCK_PID, MOCK_URL.
start_mock() {
	local name=$1
	shift
	rm -f "$TMP/$name.port"
	"$WA_MOCK_BIN" --listen 127.0.0.1:0 --port-file "$TMP/$name.port" --quiet "$@" \
		2>"$TMP/$name.err" &
	MOCK_PID=$!
	PIDS+=("$MOCK_PID")
	wait_file "$TMP/$name.port" 10 || fail "wa-mock ($name) did not start"
	MOCK_URL="http://127.0.0.1:$(cat "$TMP/$name.port")"
}

stop_mock() { stop_pid "$MOCK_PID" TERM 10 || true; }

mock_stats() { curl -s --max-time 5 "$MOCK_URL/mock/stats"; }

# people DIR N [SEED]: a data directory with N confirmed subscribers
# (distinct Italian mobile numbers), imported through the CLI.
people() {
	python3 - "$2" "${3:-1}" >"$TMP/people.$2.txt" <<'PY'
import random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(seed)
seen = set()
while len(seen) < n:
    seen.add(393000000000 + r.randrange(0, 999999999))
print("\n".join(str(x) for x in sorted(seen)))
PY
	"$BANDITORE_BIN" --data "$1" subscribers import "$TMP/people.$2.txt" >/dev/null 2>"$TMP/import.err" ||
		fail "import of $2 numbers"
}

# bnd ARGS...: banditore with a bounded run time (SEND_TIMEOUT, default 170 s).
bnd() {
	timeout -s KILL "${SEND_TIMEOUT:-170}" "$BANDITORE_BIN" "$@"
}

# jget FILE EXPR: a Python expression over the JSON object in FILE (as j).
jget() {
	python3 -c "import json,sys; j=json.load(open('$1')); print($2)"
}

# check_record RECORD REPORT [max_dup_extra]: the report against the mock's
# record (tests/integration/sender/check.py). Prints a summary line.
check_record() {
	python3 "$SENDER_LIB/check.py" "$@" || fail "record check: $1 vs $2"
}
