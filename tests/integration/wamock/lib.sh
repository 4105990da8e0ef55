# lib.sh - shared by tests/integration/test_wamock_*.sh (sourced).
# Starts wa-mock on a free loopback port (--listen 127.0.0.1:0 plus
# --port-file), kills only what it started (by PID, in the EXIT trap), and
# bounds every wait. Needs WA_MOCK_BIN (set by CTest) and python3.
set -euo pipefail
: "${WA_MOCK_BIN:?WA_MOCK_BIN must name the wa-mock binary}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$HERE/../common.sh"
itest_init wamock-test
FAIL_TAIL=5
export WA_MOCK_TOKEN=test-token

# start_mock NAME [wa-mock flags...]: sets MOCK_PID, MOCK_PORT, MOCK_URL.
start_mock() {
	local name=$1
	shift
	rm -f "$TMP/$name.port"
	"$WA_MOCK_BIN" --listen 127.0.0.1:0 --port-file "$TMP/$name.port" "$@" \
		2>"$TMP/$name.err" &
	MOCK_PID=$!
	PIDS+=("$MOCK_PID")
	wait_file "$TMP/$name.port" 10 || fail "wa-mock ($name) did not start"
	MOCK_PORT=$(cat "$TMP/$name.port")
	MOCK_URL="http://127.0.0.1:$MOCK_PORT"
}

# stop_mock [SIGNAL]: signal MOCK_PID (TERM), wait at most 10 s, return its
# exit status (124 if it did not stop).
stop_mock() { stop_pid "$MOCK_PID" "${1:-TERM}" 10; }

# call METHOD PATH [BODY [AUTH]]: the status in $HTTP, the body in $TMP/body.
call() {
	local auth=${4-Bearer test-token}
	local args=(-s -o "$TMP/body" -w '%{http_code}' --max-time 10 -X "$1")
	[ -n "$auth" ] && args+=(-H "Authorization: $auth")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	HTTP=$(curl "${args[@]}" "$MOCK_URL$2") || HTTP=000
}

# json EXPR: evaluate a Python expression over the last body parsed as j.
json() {
	python3 -c "import json,sys; j=json.load(open('$TMP/body')); print($1)"
}

# expect_error HTTP CODE: the last call answered this status and error.code.
expect_error() {
	[ "$HTTP" = "$1" ] || fail "expected HTTP $1, got $HTTP: $(cat "$TMP/body")"
	local code
	code=$(json "j['error']['code']") || fail "not a Graph error: $(cat "$TMP/body")"
	[ "$code" = "$2" ] || fail "expected code $2, got $code: $(cat "$TMP/body")"
}

# stat KEY: a field of GET /mock/stats (Python expression over s).
mstat() {
	curl -s --max-time 5 "$MOCK_URL/mock/stats" >"$TMP/stats" || fail "no stats"
	python3 -c "import json; s=json.load(open('$TMP/stats')); print($1)"
}

client() {
	python3 "$HERE/client.py" "$MOCK_PORT" "$@"
}

template_body() { # TO TEMPLATE NPARAMS [TAG]
	python3 - "$@" <<'PY'
import json, sys
to, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
     "type": "template",
     "template": {"name": name, "language": {"code": "it"},
                  "components": [{"type": "body", "parameters":
                                  [{"type": "text", "text": "p%d" % k} for k in range(n)]}]}}
if len(sys.argv) > 4:
    b["biz_opaque_callback_data"] = sys.argv[4]
print(json.dumps(b))
PY
}
