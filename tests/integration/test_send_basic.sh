#!/usr/bin/env bash
# test_send_basic.sh - banditore send / status / resume end to end against
# wa-mock, on both loops: every subscriber reached once and the report
# matches the mock's record; status reads a running notice (read-only,
# without the lock); a second writer gets one clear line and exit 3;
# SIGINT pauses (exit 7) with nothing in flight lost, and resume finishes
# with no one messaged twice; no full number in any output.
source "$(dirname "$0")/sender/lib.sh"

D=$TMP/data
people "$D" 3000 7
start_mock m --rate 0 --record "$TMP/rec.jsonl"

for loop in io_uring epoll; do
	rc=0
	bnd --data "$D" send --api-base "$MOCK_URL" --category info --text "Prova $loop: è tutto ok" \
		--rate 0 --loop "$loop" --json >"$TMP/$loop.json" 2>"$TMP/$loop.err" || rc=$?
	if [ $rc -ne 0 ] && grep -q "io_uring is refused" "$TMP/$loop.err"; then
		note "SKIP io_uring: refused by this kernel"
		continue
	fi
	[ $rc -eq 0 ] || fail "send --loop $loop exited $rc"
	check_record "$TMP/rec.jsonl" "$TMP/$loop.json" --people "$TMP/people.3000.txt" >&2
	[ "$(jget "$TMP/$loop.json" "j['recipients']")" = 3000 ] || fail "$loop: recipients"
	for f in notice_id recipients accepted failed failed_by_code retried expired uncertain \
		elapsed_s rate_per_s; do
		jget "$TMP/$loop.json" "j['$f']" >/dev/null || fail "$loop: report lacks $f"
	done
done

# status: the list and one notice, human and JSON
id=$(jget "$TMP/epoll.json" "j['notice_id']")
bnd --data "$D" status >"$TMP/st.txt" 2>"$TMP/st.err" || fail "status"
[ "$(grep -c '^n-' "$TMP/st.txt")" -eq 2 ] || fail "status lists 2 notices: $(cat "$TMP/st.txt")"
bnd --data "$D" status "$id" --json >"$TMP/st1.json" 2>>"$TMP/st.err" || fail "status ID"
[ "$(jget "$TMP/st1.json" "j['accepted']")" = 3000 ] || fail "status accepted"
[ "$(jget "$TMP/st1.json" "j['state']")" = done ] || fail "status state"
bnd --data "$D" status "$id" >"$TMP/st1.txt" || fail "status ID human"
grep -q "ETA" "$TMP/st1.txt" || fail "status human output: $(cat "$TMP/st1.txt")"
rc=0
bnd --data "$D" status n-20000101T000000-0000 >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "status of an unknown notice succeeded"

# a slow fan-out: 3000 at 200 ms latency, 8 in flight (~75 s if left alone)
stop_mock
start_mock slow --rate 0 --latency-ms 200 --record "$TMP/rec2.jsonl"
# (started directly, not through timeout(1), so that SIGINT reaches it)
"$BANDITORE_BIN" --data "$D" send --api-base "$MOCK_URL" --category event --text "Sagra" \
	--rate 0 --window 8 --connections 8 --json >"$TMP/slow.json" 2>"$TMP/slow.err" &
SPID=$!
PIDS+=("$SPID")
for ((i = 0; i < 100; i++)); do
	[ "$(wc -l <"$TMP/rec2.jsonl" 2>/dev/null || echo 0)" -ge 50 ] && break
	sleep 0.1
done
[ "$(wc -l <"$TMP/rec2.jsonl")" -ge 50 ] || fail "slow send did not start"
# a second writer: one clear line, exit 3, nothing sent
rc=0
bnd --data "$D" send --api-base "$MOCK_URL" --category info --text x >"$TMP/second.out" \
	2>"$TMP/second.err" || rc=$?
[ $rc -eq 3 ] || fail "second writer exit $rc, expected 3: $(cat "$TMP/second.err")"
[ "$(wc -l <"$TMP/second.err")" -eq 1 ] && grep -q "locked" "$TMP/second.err" ||
	fail "second writer message: $(cat "$TMP/second.err")"
# status reads it while it runs
sid=$(grep -o 'n-[0-9T]*-[0-9a-f]*' "$TMP/slow.err" | head -1)
[ -n "$sid" ] || fail "send did not print the notice id"
bnd --data "$D" status "$sid" --json >"$TMP/run.json" || fail "status while running"
[ "$(jget "$TMP/run.json" "j['state']")" = running ] || fail "state while running"
[ "$(jget "$TMP/run.json" "j['accepted'] > 0 and j['remaining'] > 0")" = True ] ||
	fail "progress while running: $(cat "$TMP/run.json")"
# SIGINT: paused, exit 7, every request in flight answered
kill -INT "$SPID"
for ((i = 0; i < 200; i++)); do
	kill -0 "$SPID" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$SPID" 2>/dev/null && fail "send still running 10 s after SIGINT"
rc=0
wait "$SPID" || rc=$?
[ $rc -eq 7 ] || fail "SIGINT exit $rc, expected 7: $(tail -3 "$TMP/slow.err")"
[ "$(jget "$TMP/slow.json" "(j['state'], j['stop_reason'])")" = "('paused', 'operator')" ] || fail "state after SIGINT (a person's Ctrl-C: serve must not resume it)"
[ "$(jget "$TMP/slow.json" "j['in_flight']")" = 0 ] || fail "in flight after SIGINT"
grep -q "resume" "$TMP/slow.err" "$TMP/slow.json" 2>/dev/null || true
bnd --data "$D" resume "$sid" --api-base "$MOCK_URL" --rate 0 --window 64 --json \
	>"$TMP/resumed.json" 2>"$TMP/resumed.err" || fail "resume exit $?"
check_record "$TMP/rec2.jsonl" "$TMP/resumed.json" --dup-max 0 >&2
[ "$(jget "$TMP/resumed.json" "j['uncertain']")" = 0 ] || fail "uncertain after a clean stop"
# resuming a finished notice: nothing sent, its report, exit 0
lines=$(wc -l <"$TMP/rec2.jsonl")
bnd --data "$D" resume "$sid" --api-base "$MOCK_URL" --json >"$TMP/again.json" 2>/dev/null ||
	fail "resume of a done notice"
[ "$(wc -l <"$TMP/rec2.jsonl")" -eq "$lines" ] || fail "resume of a done notice sent"

# privacy: no full number in anything we printed
python3 - "$TMP/people.3000.txt" "$TMP" <<'PY' || fail "a full number was printed"
import glob, sys
nums = set(l.strip() for l in open(sys.argv[1]) if l.strip())
for f in glob.glob(sys.argv[2] + "/*.err") + glob.glob(sys.argv[2] + "/*.txt") + \
        glob.glob(sys.argv[2] + "/*.json") + glob.glob(sys.argv[2] + "/*.out"):
    if "people" in f:
        continue
    data = open(f, errors="replace").read()
    for n in nums:
        if n in data:
            sys.exit("%s in %s" % (n[:5] + "...", f))
PY
"$BANDITORE_BIN" send --help | grep -q -- "--window" || fail "send --help"
echo "PASS test_send_basic"
