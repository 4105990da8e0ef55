# lib.sh - shared by the operator-surface integration tests (sourced):
# test_openapi.sh, test_opapi_serve.sh, test_logs_privacy.sh.
#
# start_stack starts wa-mock and `banditore serve` on loopback, wired both
# ways: serve sends to wa-mock (--api-base), wa-mock posts signed status
# webhooks to serve (--webhook, shared app secret). serve's port is chosen
# first (a free port from the kernel) so wa-mock can be told where to post;
# if another process takes it before serve binds, both are restarted on
# another port (at most 3 tries). Every process started is killed by PID in
# the EXIT trap; every wait is bounded. Needs BANDITORE_BIN, WA_MOCK_BIN,
# BUILD_DIR (set by CTest), curl and python3.
set -euo pipefail
: "${BANDITORE_BIN:?}" "${WA_MOCK_BIN:?}" "${BUILD_DIR:?}"
OPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$OPS/../common.sh"
ITEST_GRACE=1
itest_init ops-test
export BANDITORE_WA_TOKEN=wa-token-for-tests
export BANDITORE_APP_SECRET=app-secret-for-tests
export BANDITORE_VERIFY_TOKEN=verify-token-for-tests
export BANDITORE_ADMIN_TOKEN=admin-token-for-tests
export WA_MOCK_TOKEN=$BANDITORE_WA_TOKEN
export WA_MOCK_APP_SECRET=$BANDITORE_APP_SECRET
LOAD=$BUILD_DIR/tests/webhook_load

# start_stack NAME -- [serve flags...]
#   env MOCK_FLAGS: extra wa-mock flags (default: --rate 0 --pair-rate 0 and
#   fast status webhooks). Sets SP (serve's port), URL, MOCK_URL, SERVE_PID,
#   MOCK_PID, DATA (the data directory, $TMP/NAME.data, or
#   $TMP/$DATA_NAME.data when DATA_NAME is set: a restart on the same data).
start_stack() {
	local name=$1 try
	shift
	[ "${1:-}" = -- ] && shift
	DATA=$TMP/${DATA_NAME:-$name}.data
	for try in 1 2 3; do
		SP=$(free_port)
		rm -f "$TMP/$name.mock.port" "$TMP/$name.port"
		# shellcheck disable=SC2086
		"$WA_MOCK_BIN" --listen 127.0.0.1:0 --port-file "$TMP/$name.mock.port" --quiet \
			--webhook "http://127.0.0.1:$SP/webhook" \
			${MOCK_FLAGS:---rate 0 --pair-rate 0 --webhook-sent-ms 20:60 --webhook-delivered-ms 20:200 --webhook-read-ms 50:300 --webhook-linger-ms 50} \
			>"$TMP/$name.mock.out" 2>"$TMP/$name.mock.err" &
		MOCK_PID=$!
		PIDS+=("$MOCK_PID")
		wait_file "$TMP/$name.mock.port" 10 || fail "wa-mock ($name) did not start"
		MOCK_URL=http://127.0.0.1:$(cat "$TMP/$name.mock.port")
		"$BANDITORE_BIN" --data "$DATA" serve --listen "127.0.0.1:$SP" \
			--port-file "$TMP/$name.port" --api-base "$MOCK_URL" "$@" \
			>"$TMP/$name.out" 2>"$TMP/$name.err" &
		SERVE_PID=$!
		PIDS+=("$SERVE_PID")
		if wait_file "$TMP/$name.port" 15; then
			URL=http://127.0.0.1:$SP
			for _ in $(seq 1 100); do
				[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] && return 0
				sleep 0.05
			done
			fail "serve ($name) does not answer /healthz"
		fi
		if kill -0 "$SERVE_PID" 2>/dev/null; then fail "serve ($name) wrote no port file"; fi
		grep -q -i "listen\|in use" "$TMP/$name.err" || fail "serve ($name) did not start"
		stop_pid "$MOCK_PID" || true
	done
	fail "serve ($name): no free port after 3 tries"
}

# api METHOD PATH [BODY [EXTRA_HEADER]]: the operator API with the token.
# Sets HTTP (status) and BODY (the answer). TOKEN overrides the token
# ("" = no Authorization header).
api() {
	local m=$1 p=$2 b=${3:-} x=${4:-} tok=${TOKEN-$BANDITORE_ADMIN_TOKEN}
	local args=(-s -o "$TMP/api.body" -w '%{http_code}' -X "$m" --max-time 20)
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$b" ] && args+=(-H 'Content-Type: application/json' --data-binary "$b")
	[ -n "$x" ] && args+=(-H "$x")
	HTTP=$(curl "${args[@]}" "$URL$p") || HTTP=000
	BODY=$(cat "$TMP/api.body" 2>/dev/null || true)
}

# jq_py EXPR: evaluate a Python expression over j = json.loads($BODY).
jq_py() {
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$BODY" "$1"
}

# subscribe N FIRST [flags...]: N signed "JESI ON" webhooks, then wait
# (at most 60 s) until all are confirmed (welcome accepted by wa-mock).
subscribe() {
	local n=$1 first=$2
	shift 2
	"$LOAD" --url "$URL/webhook" --count "$n" --first "$first" --quiet "$@" \
		>"$TMP/load.json" 2>"$TMP/load.err" || fail "webhook_load: $(cat "$TMP/load.json")"
	for _ in $(seq 1 600); do
		api GET /v1/subscribers
		[ "$HTTP" = 200 ] && [ "$(jq_py "j['confirmed']")" -ge "$n" ] && return 0
		sleep 0.1
	done
	fail "subscribers not confirmed within 60 s: $BODY"
}

# wait_state ID STATE SECONDS
wait_state() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		api GET "/v1/notices/$1"
		[ "$HTTP" = 200 ] && [ "$(jq_py "j['state']")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "notice $1 not $2 after $3 s: $BODY"
}
