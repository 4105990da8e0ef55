#!/usr/bin/env bash
# test_wamock_limits.sh - wa-mock's limits over real HTTP: throughput per
# phone-number-id (130429, HTTP 400), the pair rate per recipient (131056),
# the messaging tier (a configurable code), each counted in /mock/stats and
# never recorded.
source "$(dirname "$0")/wamock/lib.sh"

# --- throughput: 5/s with a burst of 5. 40 back-to-back requests over one
# keep-alive connection take far less than a second, so about 5 (plus one
# per 200 ms elapsed) are accepted and the rest throttled.
start_mock rate --rate 5 --rate-burst 5 --pair-rate 0 --record "$TMP/rate.rec"
t0=$(date +%s%N)
client --count 40 >"$TMP/rate.out"
t1=$(date +%s%N)
ok=$(awk '$2 == 200' "$TMP/rate.out" | wc -l)
thr=$(awk '$2 == 400 && $3 == 130429' "$TMP/rate.out" | wc -l)
allowed=$((5 + (t1 - t0) * 5 / 1000000000 + 1))
[ "$ok" -ge 5 ] && [ "$ok" -le "$allowed" ] || fail "$ok accepted at 5/s in $(((t1 - t0) / 1000000)) ms"
[ $((ok + thr)) -eq 40 ] || fail "every other answer is 130429 with HTTP 400: $(sort -u -k2,3 "$TMP/rate.out" | head)"
[ "$(wc -l <"$TMP/rate.rec")" -eq "$ok" ] || fail "record holds throttled messages"
[ "$(mstat "s['errors']['130429']")" = "$thr" ] || fail "stats 130429"
# after a second the rate allows more again
sleep 1.1
client --count 1 --start 100 | grep -q " 200 " || fail "no recovery after the throttle"
stop_mock || fail "exit status"

# --- pair rate: 10/min per recipient, burst 2
start_mock pair --rate 0 --pair-rate 10 --pair-burst 2
client --count 4 --to "+393351234567" >"$TMP/pair.out"
[ "$(awk '{print $2"/"$3}' "$TMP/pair.out" | tr '\n' ' ')" = "200/0 200/0 400/131056 400/131056 " ] ||
	fail "pair rate: $(cat "$TMP/pair.out")"
client --count 1 --to "+393357654321" | grep -q " 200 " || fail "another recipient is not limited"
[ "$(mstat "s['errors']['131056']")" = 2 ] || fail "stats 131056"
[ "$(mstat "s['recipients_accepted_more_than_once']")" = 1 ] || fail "repeated recipients"
stop_mock || fail "exit status"

# --- tier: 3 unique recipients per window, code 131048 chosen here
start_mock tier --rate 0 --pair-rate 0 --tier 3 --tier-code 131048
client --count 5 >"$TMP/tier.out"
[ "$(awk '{print $2"/"$3}' "$TMP/tier.out" | tr '\n' ' ')" = "200/0 200/0 200/0 400/131048 400/131048 " ] ||
	fail "tier: $(cat "$TMP/tier.out")"
client --count 2 >"$TMP/tier2.out"
[ "$(awk '$2 == 200' "$TMP/tier2.out" | wc -l)" -eq 2 ] || fail "recipients inside the window are not new"
[ "$(mstat "s['tier_used']")" = 3 ] || fail "tier_used"
stop_mock || fail "exit status"
echo "test_wamock_limits: ok"
