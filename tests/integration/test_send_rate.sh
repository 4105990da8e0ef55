#!/usr/bin/env bash
# ctest: run-serial
# test_send_rate.sh - the sender keeps the configured rate: at 80/s (the
# default tier; io_uring loop) and at 1,000/s (the upgraded tier; epoll
# loop), about 30 s each, the messages wa-mock accepts in every 10-second
# window (sliding by 100 ms, windows inside the run) are within 2% of
# rate x 10 s, and wa-mock limited to that same rate answers no 130429.
# SENDER_RATE_SECONDS overrides the 30 s. The window (1,024) buffers
# intents journaled up to 0.5 s ahead of their tokens (SENDER_AHEAD_NS):
# a slow fdatasync (other tests syncing at the same time) of up to 0.5 s
# delays nothing, the durable ones keep going out at the rate. The token is
# taken when a request goes to curl, so the wire never sees more than rate x
# span + burst (0.1 s worth; a 10 s window may hold rate x 10 s + burst, so
# 0.2 s is the most the 2% bound allows); the burst also lets the sender
# catch up after a descheduled process's stall of up to 0.1 s.
# On a machine loaded beyond its cores (1-minute load average > nproc),
# a failed measurement is repeated once and the second one decides; the
# test fails otherwise (the first failure is printed either way).
source "$(dirname "$0")/sender/lib.sh"

SECS=${SENDER_RATE_SECONDS:-30}
one() { # RATE LOOP: measure, and once more if the machine is overloaded
	if measure "$@"; then
		return 0
	fi
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
		note "rate $1/s missed 2% at load $load on $(nproc) cores: measuring once more"
		measure "$@" && return 0
	fi
	fail "rate $1/s"
}

measure() { # RATE LOOP
	local rate=$1 loop=$2 n=$(($1 * SECS)) r=$1.$RANDOM
	local d=$TMP/data$r
	people "$d" "$n" "$rate"
	start_mock m$rate --rate "$rate" --record "$TMP/rec$r.jsonl"
	bnd --data "$d" send --api-base "$MOCK_URL" --category info --text "Rate $rate" \
		--rate "$rate" --burst $((rate / 10)) --window 1024 --connections 64 --loop "$loop" --json >"$TMP/rep$r.json" 2>"$TMP/send$r.err" ||
		fail "send at $rate/s exit $?"
	mock_stats >"$TMP/stats$r.json"
	stop_mock
	check_record "$TMP/rec$r.jsonl" "$TMP/rep$r.json" >&2
	python3 - "$TMP/rec$r.jsonl" "$TMP/stats$r.json" "$rate" <<'PY' || return 1
import json, sys
t = sorted(json.loads(l)["t_ms"] for l in open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
rate = int(sys.argv[3])
assert "130429" not in s["errors"], ("130429 at the same limit", s["errors"])
lo, hi = rate * 10 * 0.98, rate * 10 * 1.02
import bisect
worst = []
start = t[0]
while start + 10000 <= t[-1]:
    c = bisect.bisect_left(t, start + 10000) - bisect.bisect_left(t, start)
    worst.append(c)
    start += 100
assert worst, "run shorter than 10 s"
mn, mx = min(worst), max(worst)
print("rate %d/s: %d windows of 10 s, accepted per window %d..%d (allowed %.0f..%.0f)" %
      (rate, len(worst), mn, mx, lo, hi), file=sys.stderr)
assert lo <= mn and mx <= hi, "outside 2%"
PY
}
one 80 io_uring
one 1000 epoll
echo "PASS test_send_rate"
