#!/usr/bin/env bash
# test_serve_crash.sh - kill -9 of `banditore serve` between requests and
# during a stream of concurrent requests. After each restart:
#   - every JESI ON answered 200 is in the store (the 200 is durable);
#   - after WhatsApp's redelivery (the same bodies again) every citizen is
#     confirmed, and wa-mock's record shows exactly one welcome per new
#     subscriber except the few whose welcome the API had accepted when
#     serve died before the confirmation was committed: those get it again
#     after the restart (at most the replies in flight, api.window = 64,
#     plus the confirmations of one commit per crash; the test allows 128
#     and prints the figure).
. "$(dirname "$0")/serve/lib.sh"

SPORT=$(free_port)
start_mock --rate 0 --pair-rate 0
# Phase 1 sends at 10/s, so most welcomes are still owed when serve dies.
start_serve "127.0.0.1:$SPORT" --rate 10 --burst 1 --pair-interval 0

# acked_numbers OUT FIRST: the numbers of every body answered 200.
acked_numbers() {
	awk -v first="$2" '$1 == 200 { for (i = $2; i < $2 + $3; i++) printf "%.0f\n", first + i }' "$1" |
		sort -u
}
store_numbers() { # STATE-REGEX
	"$BANDITORE_BIN" --data "$TMP/data" subscribers export --personal-data 2>/dev/null |
		awk -F, -v re="$1" '$2 ~ re { print $1 }' | sort -u
}
welcome_dups() { # numbers with more than one welcome in the record; prints "dups max"
	python3 - "$TMP/record.jsonl" <<'PY'
import collections, json, sys
c = collections.Counter(json.loads(l)["to"] for l in open(sys.argv[1]) if json.loads(l)["tag"] == "welcome")
print(sum(v - 1 for v in c.values()), max(c.values()) if c else 0, len(c))
PY
}

note "phase 1: 40 sequential JESI ON, then kill -9 right after the last 200"
F1=393360000000
hook on-many 40 $F1 crash1 "$TMP/out1" --conns 1
[ "$(awk '$1 == 200' "$TMP/out1" | wc -l)" = 40 ] || fail "phase 1: not all 200: $(sort "$TMP/out1" | uniq -c | head)"
kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
acked_numbers "$TMP/out1" $F1 >"$TMP/acked1"
store_numbers 'requested|confirmed' >"$TMP/have1"
missing=$(comm -23 "$TMP/acked1" "$TMP/have1" | wc -l)
[ "$missing" = 0 ] || fail "phase 1: $missing acknowledged subscription(s) lost by kill -9"
owed=$(count requested)
note "phase 1: $owed welcome(s) owed at the crash"
[ "$owed" -gt 0 ] || fail "phase 1: no welcome was owed at the crash (the test proves nothing)"

start_serve "127.0.0.1:$SPORT" --rate 1000 --pair-interval 0
wait_for 30 eq 40 count confirmed || fail "phase 1: owed welcomes not re-sent: $(cat "$TMP/count.json")"
read -r d1 max1 n1 < <(welcome_dups)
note "phase 1: $n1 numbers welcomed, $d1 duplicate welcome(s) after the crash"
[ "$n1" = 40 ] || fail "phase 1: $n1 numbers welcomed"
[ "$d1" -le 128 ] || fail "phase 1: $d1 duplicate welcomes"

note "phase 2: 3,000 JESI ON on 8 connections (3 per body); kill -9 in the middle"
F2=393370000000
hook on-many 3000 $F2 crash2 "$TMP/out2" --conns 8 --per-body 3 &
HOOK_PID=$!
PIDS+=("$HOOK_PID")
lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
wait_for 60 lines_ge "$TMP/out2" 150 ||
	fail "phase 2: the load did not start"
kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
wait "$HOOK_PID" || true
acked=$(awk '$1 == 200' "$TMP/out2" | wc -l)
note "phase 2: killed after $acked of 1000 bodies were acknowledged"
[ "$acked" -lt 1000 ] || fail "phase 2: the kill came after the last request"
acked_numbers "$TMP/out2" $F2 >"$TMP/acked2"
store_numbers 'requested|confirmed' >"$TMP/have2"
missing=$(comm -23 "$TMP/acked2" "$TMP/have2" | wc -l)
[ "$missing" = 0 ] || fail "phase 2: $missing acknowledged subscription(s) lost by kill -9"

note "restart; WhatsApp redelivers everything (the acknowledged bodies too)"
start_serve "127.0.0.1:$SPORT" --rate 1000 --pair-interval 0
: >"$TMP/out3"
hook on-many 3000 $F2 crash2 "$TMP/out3" --conns 8 --per-body 3
[ "$(awk '$1 == 200' "$TMP/out3" | wc -l)" = 1000 ] || fail "redelivery: not all 200"
wait_for 60 eq 3040 count confirmed || fail "not all confirmed: $(cat "$TMP/count.json")"
[ "$(count requested)" = 0 ] || fail "requested left: $(cat "$TMP/count.json")"
sleep 1
read -r d2 max2 n2 < <(welcome_dups)
note "phase 2: $n2 numbers welcomed, $((d2 - d1)) duplicate welcome(s) after the crash (at most $max2 per number)"
[ "$n2" = 3040 ] || fail "$n2 numbers welcomed, want 3040"
[ "$((d2 - d1))" -le 128 ] || fail "phase 2: $((d2 - d1)) duplicate welcomes"
[ "$max2" -le 2 ] || fail "a number got $max2 welcomes"
scrape --value 'banditore_webhooks_total{outcome="duplicate"}' >"$TMP/dup" || fail "scrape"
[ "$(cat "$TMP/dup")" -ge "$acked" ] || fail "redelivered bodies not counted as duplicates"
stop_serve TERM || fail "serve exited $? on SIGTERM"
echo "ok: serve crash (duplicate welcomes: phase 1 $d1, phase 2 $((d2 - d1)))"
