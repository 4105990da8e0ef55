#!/usr/bin/env bash
# test_wamock_faults.sh - wa-mock's seeded faults over real HTTP: the same
# seed and request order give the same outcomes (and another seed others),
# sync codes answer their HTTP status, async codes answer 200 and count as
# async failures, resets close the connection, stalls answer after the
# client gave up (and are recorded: the outcome is unknown to the client),
# and latency delays answers.
source "$(dirname "$0")/wamock/lib.sh"

MIX="131000:0.08,2:0.04,131026:0.08,131048:0.04:async,131047:0.04:sync,reset:0.04"

run() { # NAME SEED -> $TMP/NAME.out (index http code)
	start_mock "$1" --rate 0 --pair-rate 0 --seed "$2" --error-mix "$MIX" \
		--record "$TMP/$1.rec"
	client --count 400 >"$TMP/$1.raw"
	awk '{print $1, $2, $3}' "$TMP/$1.raw" >"$TMP/$1.out"
	curl -s --max-time 5 "$MOCK_URL/mock/stats" >"$TMP/$1.stats"
	stop_mock || fail "$1: exit status"
}
run a 4242
run b 4242
run c 4243
cmp -s "$TMP/a.out" "$TMP/b.out" || fail "same seed, different outcomes: $(diff "$TMP/a.out" "$TMP/b.out" | head)"
if cmp -s "$TMP/a.out" "$TMP/c.out"; then fail "another seed gave the same outcomes"; fi

count() { awk -v h="$2" -v c="$3" '$2 == h && $3 == c' "$TMP/$1.out" | wc -l; }
n500=$(count a 500 131000)
n503=$(count a 503 2)
n400=$(count a 400 131047)
nreset=$(count a RESET 0)
nok=$(count a 200 0)
[ "$n500" -gt 10 ] && [ "$n503" -gt 3 ] && [ "$n400" -gt 3 ] && [ "$nreset" -gt 3 ] ||
	fail "mix not delivered: 500=$n500 503=$n503 131047=$n400 reset=$nreset"
[ $((n500 + n503 + n400 + nreset + nok)) -eq 400 ] || fail "unexpected outcomes: $(sort -k2,3 -u "$TMP/a.out" | head)"
# async codes answered 200 and were counted, never shown to the client
python3 - "$TMP/a.stats" "$nok" <<'PY' || fail "async counts: $(cat "$TMP/a.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
af = s["async_failed"]
assert af.get("131026", 0) > 10 and af.get("131048", 0) > 3, af
assert s["accepted"] == int(sys.argv[2]), s
assert s["resets"] > 3 and "131026" not in s["errors"], s
PY
[ "$(wc -l <"$TMP/a.rec")" -eq "$nok" ] || fail "record lines != 200s seen"

# --- a stall: accepted and recorded, answered after the client's timeout
start_mock stall --rate 0 --error-mix stall:1 --stall-ms 3000 --record "$TMP/stall.rec"
rc=0
curl -s -o /dev/null --max-time 1 -H "Authorization: Bearer test-token" \
	--data-binary "$(template_body "+393351234567" notice 1 "n=1;s=1")" \
	"$MOCK_URL/v25.0/110000000000001/messages" || rc=$?
[ $rc -eq 28 ] || fail "a stalled answer did not time the client out (curl $rc)"
[ "$(wc -l <"$TMP/stall.rec")" -eq 1 ] || fail "a stalled message is recorded"
[ "$(mstat "s['stalls']")" = 1 ] || fail "stalls count"
stop_mock || fail "stop with a stalled request pending"

# --- reset-accepted: recorded, no answer
start_mock racc --rate 0 --error-mix reset-accepted:1 --record "$TMP/racc.rec"
client --count 3 >"$TMP/racc.out"
[ "$(awk '$2 == "RESET"' "$TMP/racc.out" | wc -l)" -eq 3 ] || fail "reset-accepted: $(cat "$TMP/racc.out")"
[ "$(wc -l <"$TMP/racc.rec")" -eq 3 ] || fail "reset-accepted records"
stop_mock || fail "exit status"

# --- latency
# (wide margins: a loaded CI machine adds its own delays, never removes any)
start_mock lat --rate 0 --latency-ms 1000:1200
t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 10 -H "Authorization: Bearer test-token" \
	--data-binary "$(template_body "+393351234567" notice 1)" \
	"$MOCK_URL/v25.0/110000000000001/messages")
python3 -c "import sys; t=float('$t'); sys.exit(0 if 1.0 <= t < 5 else 1)" ||
	fail "latency 1000-1200 ms took $t s"
t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 "$MOCK_URL/mock/stats")
python3 -c "import sys; sys.exit(0 if float('$t') < 0.9 else 1)" || fail "stats are delayed ($t s)"
stop_mock || fail "exit status"
start_mock logn --rate 0 --latency-dist lognormal:20:80
client --count 3 | grep -c " 200 " | grep -q 3 || fail "log-normal latency"
stop_mock || fail "exit status"
echo "test_wamock_faults: ok"
