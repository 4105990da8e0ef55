#!/usr/bin/env bash
# test_send_faults.sh - 100,000 recipients through a hostile API: wa-mock
# limited below the sender's rate (130429 storms), 5xx bursts and scattered
# 5xx, connection resets, time-outs (stalled answers, accepted and recorded
# by the mock but answered after the sender's request timeout), and
# permanent per-recipient errors (131026 and 131009, sync).
# Asserts: exit 0, every recipient accepted or failed with a code; the
# mock's record holds exactly the report's accepted plus one message per
# stalled request (a time-out after the body left: the API took it, and the
# sender re-sent it as uncertain; when the seeded faults fail the re-send
# permanently, that recipient is recorded once and reported failed), the
# extra acceptances are at most the report's `uncertain`; 131026 failures are marked invalid in the store;
# the limiter backed off (130429 seen) and recovered. SENDER_FAULTS_N
# overrides N for a quick run.
source "$(dirname "$0")/sender/lib.sh"

N=${SENDER_FAULTS_N:-100000}
D=$TMP/data
people "$D" "$N" 11
MIX="burst:0.01:300:131000,131000:0.01,2:0.005,reset:0.004,stall:0.0004,131026:0.003:sync,131009:0.001"
start_mock m --rate 1000 --rate-burst 20 --latency-ms 10:60 --seed 77 --error-mix "$MIX" --stall-ms 2500 --record "$TMP/rec.jsonl"
rc=0
SEND_TIMEOUT=400 bnd --data "$D" send --api-base "$MOCK_URL" --category disruption \
	--text "Scuole chiuse domani" --rate 2000 --burst 10 --window 128 --connections 64 \
	--request-timeout 1s --connect-timeout 1s --retry-base 100ms --retry-cap 2s --loop io_uring --json \
	>"$TMP/rep.json" 2>"$TMP/send.err" || rc=$?
[ $rc -eq 0 ] || fail "send exit $rc"
mock_stats >"$TMP/stats.json"
stalls=$(jget "$TMP/stats.json" "j['stalls']")
check_record "$TMP/rec.jsonl" "$TMP/rep.json" --stalls "$stalls" --dup-max "$stalls" \
	--people "$TMP/people.$N.txt" >&2
python3 - "$TMP/rep.json" "$TMP/stats.json" <<'PY' || fail "report vs mock stats"
import json, sys
r = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
e = s["errors"]
assert e.get("130429", 0) > 20, ("no throttling storm", e)
assert e.get("131000", 0) > 100 and s["resets"] > 10, ("faults not delivered", s)
fb = r["failed_by_code"]
assert fb.get("131026", 0) == e.get("131026", 0), (fb, e)
assert fb.get("131009", 0) == e.get("131009", 0), (fb, e)
assert r["uncertain"] >= s["stalls"], (r["uncertain"], s["stalls"])
assert r["retried"] > 0, r
# every 5xx/reset/throttle was retried: accepted counts every recipient
# but the permanent failures
assert r["accepted"] == r["recipients"] - r["failed"], r
print("throttled=%d 5xx=%d resets=%d stalls=%d uncertain=%d failed=%s rate=%.0f/s" %
      (e.get("130429", 0), e.get("131000", 0) + e.get("2", 0), s["resets"], s["stalls"],
       r["uncertain"], fb, r["rate_per_s"]), file=sys.stderr)
PY
inv=$(bnd --data "$D" subscribers count --json | python3 -c "import json,sys; print(json.load(sys.stdin)['invalid'])")
[ "$inv" = "$(jget "$TMP/rep.json" "j['failed_by_code'].get('131026', 0)")" ] ||
	fail "invalid subscribers $inv != 131026 failures"
echo "PASS test_send_faults"
