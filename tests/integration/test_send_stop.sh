#!/usr/bin/env bash
# test_send_stop.sh - what must stop a fan-out does, on both loops:
#   - token refused (190, engine-wide): exit 4, state stopped (engine, 190),
#     wa-mock saw at most the window of requests; resume with the right
#     token finishes it, nobody messaged twice;
#   - template missing (132001, campaign-wide): exit 4, stopped (campaign,
#     132001), at most the window of requests;
#   - expiry: exit 5, state expired, nothing accepted after the expiry
#     beyond requests already in flight, the rest counted expired.
source "$(dirname "$0")/sender/lib.sh"

W=16
D=$TMP/data
people "$D" 2000 3
start_mock m --rate 0 --record "$TMP/rec.jsonl"

# 190 on io_uring
rc=0
BANDITORE_WA_TOKEN=wrong-token bnd --data "$D" send --api-base "$MOCK_URL" --category info \
	--text "x" --rate 0 --window $W --loop io_uring --json >"$TMP/t190.json" 2>"$TMP/t190.err" || rc=$?
[ $rc -eq 4 ] || fail "190: exit $rc"
[ "$(jget "$TMP/t190.json" "(j['state'], j['stop_reason'], j['stop_code'])")" = "('stopped', 'engine_error', 190)" ] ||
	fail "190: $(cat "$TMP/t190.json")"
req=$(mock_stats | python3 -c "import json,sys; print(json.load(sys.stdin)['requests'])")
[ "$req" -le $W ] || fail "190: $req requests after a token error (window $W)"
grep -q "resume" "$TMP/t190.err" || true
id=$(jget "$TMP/t190.json" "j['notice_id']")
bnd --data "$D" resume "$id" --api-base "$MOCK_URL" --rate 0 --json >"$TMP/r190.json" \
	2>"$TMP/r190.err" || fail "resume after fixing the token: exit $?"
check_record "$TMP/rec.jsonl" "$TMP/r190.json" --dup-max 0 >&2

# 132001 on epoll
before=$req
before=$(mock_stats | python3 -c "import json,sys; print(json.load(sys.stdin)['requests'])")
rc=0
bnd --data "$D" send --api-base "$MOCK_URL" --category info --text "x" --template no_such \
	--lang it --rate 0 --window $W --loop epoll --json >"$TMP/t132.json" 2>"$TMP/t132.err" || rc=$?
[ $rc -eq 4 ] || fail "132001: exit $rc"
[ "$(jget "$TMP/t132.json" "(j['state'], j['stop_reason'], j['stop_code'])")" = "('stopped', 'campaign_error', 132001)" ] ||
	fail "132001: $(cat "$TMP/t132.json")"
after=$(mock_stats | python3 -c "import json,sys; print(json.load(sys.stdin)['requests'])")
[ $((after - before)) -le $W ] || fail "132001: $((after - before)) requests (window $W)"

# expiry on both loops: 2000 at 200/s would take 10 s; it expires after 3 s
for loop in io_uring epoll; do
	rc=0
	bnd --data "$D" send --api-base "$MOCK_URL" --category event --text "exp $loop" \
		--rate 200 --window $W --expires 3s --loop $loop --json >"$TMP/exp$loop.json" \
		2>"$TMP/exp$loop.err" || rc=$?
	[ $rc -eq 5 ] || fail "expiry ($loop): exit $rc"
	id=$(jget "$TMP/exp$loop.json" "j['notice_id']")
	bnd --data "$D" status "$id" --json >"$TMP/exps$loop.json" || fail "status"
	python3 - "$TMP/rec.jsonl" "$TMP/exps$loop.json" <<'PY' || fail "expiry ($loop)"
import json, sys
r = json.load(open(sys.argv[2]))
t = [json.loads(l)["t_ms"] for l in open(sys.argv[1]) if r["notice_id"] in l]
assert r["state"] == "expired", r["state"]
assert 300 < len(t) < 1000, len(t)          # about 3 s at 200/s
assert r["accepted"] == len(t), (r["accepted"], len(t))
assert r["expired"] == r["recipients"] - r["accepted"] - r["failed"], r
late = max(t) - r["expires_ms"]
assert late < 500, "accepted %d ms after the expiry" % late
print("expired: accepted %d, expired %d, last accept %d ms before expiry" %
      (r["accepted"], r["expired"], -late), file=sys.stderr)
PY
	# a resume of an expired notice sends nothing
	n0=$(wc -l <"$TMP/rec.jsonl")
	bnd --data "$D" resume "$id" --api-base "$MOCK_URL" >/dev/null 2>&1 || true
	[ "$(wc -l <"$TMP/rec.jsonl")" -eq "$n0" ] || fail "resume of an expired notice sent"
done
echo "PASS test_send_stop"
