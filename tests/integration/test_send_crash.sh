#!/usr/bin/env bash
# test_send_crash.sh - kill -9 of a 50,000-recipient fan-out at 20 random
# moments (the first `send`, then 19 `resume`s), then one `resume` to the
# end. What is asserted, precisely:
#   1. the end: exit 0, state done, every recipient accepted (the mock
#      answers every request), the record's distinct recipients == the
#      audience, and no ordinal's tag ever went to another number;
#   2. each resume found at most --window uncertain ordinals (its log line):
#      a crash leaves at most the window in doubt;
#   3. recipients accepted more than once (extra acceptances in the record)
#      <= the final report's `uncertain` (every uncertain ordinal re-sent,
#      across all resumes) <= kills x window. Equality does not hold in
#      general: an intent made durable whose request never left (killed
#      between the fdatasync and curl) is re-sent as uncertain without
#      being a duplicate.
# SENDER_CRASH_N / SENDER_CRASH_KILLS override for quick runs.
source "$(dirname "$0")/sender/lib.sh"

N=${SENDER_CRASH_N:-50000}
KILLS=${SENDER_CRASH_KILLS:-20}
W=64
SEED=${SENDER_CRASH_SEED:-$RANDOM}
note "seed $SEED"
D=$TMP/data
people "$D" "$N" 5
start_mock m --rate 0 --latency-ms 1:8 --record "$TMP/rec.jsonl"
FLAGS=(--api-base "$MOCK_URL" --rate 1000 --window $W --connections $W --loop epoll)
mapfile -t SLEEPS < <(python3 -c "
import random; r = random.Random($SEED)
print('\n'.join('%.2f' % r.uniform(0.1, 1.2) for _ in range($KILLS)))")

# run_and_kill SECONDS CMD...: start CMD in the background, wait until the
# mock records a new acceptance (the fan-out is sending: store open and
# journal replay are done, however slow the build), then kill -9 it after
# SECONDS more; fails the test if it ended by itself (finished early).
run_and_kill() {
	local t=$1 i n0
	shift
	n0=$(wc -l <"$TMP/rec.jsonl" 2>/dev/null || echo 0)
	"$@" &
	local pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 1200; i++)); do
		[ "$(wc -l <"$TMP/rec.jsonl" 2>/dev/null || echo 0)" -gt "$n0" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	sleep "$t"
	kill -0 "$pid" 2>/dev/null || fail "the process ended before its kill ($*)"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
}

run_and_kill "${SLEEPS[0]}" \
	"$BANDITORE_BIN" --data "$D" send --category emergency --text "Allerta meteo" "${FLAGS[@]}" \
	2>"$TMP/k0.err"
id=$(grep -o 'n-[0-9T]*-[0-9a-f]*' "$TMP/k0.err" | head -1 || true)
[ -n "$id" ] || fail "no notice id from the first send"
for ((k = 1; k < KILLS; k++)); do
	run_and_kill "${SLEEPS[$k]}" "$BANDITORE_BIN" --data "$D" resume "$id" "${FLAGS[@]}" \
		2>"$TMP/k$k.err"
done
bnd --data "$D" resume "$id" "${FLAGS[@]}" --json >"$TMP/final.json" 2>"$TMP/final.err" ||
	fail "final resume exit $?"
# 2: uncertain per crash <= window
python3 - "$TMP" "$KILLS" "$W" <<'PY' || fail "uncertain per resume"
import re, sys
tmp, kills, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = []
for k in list(range(1, kills)) + ["final"]:
    f = "%s/k%s.err" % (tmp, k) if k != "final" else tmp + "/final.err"
    m = re.search(r"(\d+) uncertain", open(f).read())
    n = int(m.group(1)) if m else 0
    assert n <= w, "resume %s found %d uncertain > window %d" % (k, n, w)
    seen.append(n)
print("uncertain found per resume: %s" % seen, file=sys.stderr)
PY
[ "$(jget "$TMP/final.json" "j['accepted']")" = "$N" ] || fail "not every recipient accepted"
unc=$(jget "$TMP/final.json" "j['uncertain']")
[ "$unc" -le $((KILLS * W)) ] || fail "uncertain $unc > kills x window"
check_record "$TMP/rec.jsonl" "$TMP/final.json" --dup-max "$unc" --people "$TMP/people.$N.txt" >&2
echo "PASS test_send_crash ($KILLS kills, uncertain $unc)"
