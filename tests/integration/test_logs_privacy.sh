#!/usr/bin/env bash
# test_logs_privacy.sh - no full phone number in anything Banditore prints
# during a whole demo-like run: serve at --log-level debug (logfmt, then
# again with --log-format json), wa-mock with signed status webhooks and a
# failure mix (131026 async, 131047, 5xx bursts), N citizens subscribing
# through signed webhooks, some writing HELP, some unsubscribing (JESI OFF)
# during a fan-out, a notice (and one cancelled), the operator API's
# answers (subscribers, notice list and detail, errors), GET /metrics, the
# CLI (`status`, `status --json`, `subscribers count`, `subscribers verify`,
# a refused `send` naming the lock holder), and the shutdown. Every
# captured byte is scanned for every number of the test base (as a
# substring, so a number glued to other characters counts too) and for the
# four secrets. wa-mock's --record file and the data directory are not
# output: they hold numbers by design and are not scanned.
source "$(dirname "$0")/ops/lib.sh"
N=1500
FIRST=393357000000
OUT=$TMP/out
mkdir -p "$OUT"
MOCK_FLAGS="--rate 0 --pair-rate 0 --latency-ms 1:10 --seed 7 --error-mix 131026:0.02,131047:0.01,burst:0.2:20 --webhook-sent-ms 10:50 --webhook-delivered-ms 10:100 --webhook-read-ms 10:100 --webhook-linger-ms 30 --record $TMP/sent.jsonl"

capture() {   # capture NAME: save the last API answer
	printf '%s\n%s\n' "$HTTP" "$BODY" >>"$OUT/api.$1"
}

run_phase() {   # run_phase NAME [serve flags]
	local name=$1
	shift
	MOCK_FLAGS=$MOCK_FLAGS start_stack "$name" -- --rate 2000 --window 64 --connections 64 \
		--log-level debug --retry-base 20ms --retry-cap 200ms "$@"
}

# ---- phase 1: logfmt ----------------------------------------------------------
run_phase p1
"$LOAD" --url "$URL/webhook" --count $N --first $FIRST --conns 8 >"$OUT/load1.json" 2>"$OUT/load1.err" \
	|| fail "subscribe: $(cat "$OUT/load1.json")"
"$LOAD" --url "$URL/webhook" --count 20 --first $FIRST --text "HELP" --id-prefix help \
	>"$OUT/load2.json" 2>"$OUT/load2.err" || fail "help"
for _ in $(seq 1 300); do
	api GET /v1/subscribers
	[ "$(jq_py "j['confirmed'] + j['invalid']")" -ge $((N * 95 / 100)) ] && break
	sleep 0.1
done
capture subscribers
api POST /v1/notices '{"category":"emergency","text":"Allerta: chiamare il 3351234567 solo in caso di necessità"}'
capture post
[ "$HTTP" = 202 ] || fail "post: $BODY"
ID=$(jq_py "j['id']")
# 30 citizens opt out while it runs (some before their turn: skipped).
"$LOAD" --url "$URL/webhook" --count 30 --first $((FIRST + N - 30)) --text "JESI OFF" --id-prefix off \
	>"$OUT/load3.json" 2>"$OUT/load3.err" || fail "opt-out"
wait_state "$ID" done 60
api GET "/v1/notices/$ID"; capture detail
api GET /v1/notices; capture list
api POST /v1/notices '{"category":"event","text":"x","expiry":"1h"}'; capture post2
ID2=$(jq_py "j['id']")
api POST "/v1/notices/$ID2/cancel"; capture cancel
api POST /v1/notices '{"category":"info","to":"393357000001"}'; capture bad
api POST /v1/notices '{"category":"info","text":"x","393357000002":1}'; capture bad
[ "$HTTP" = 400 ] || fail "an unknown field: $HTTP"
api GET /v1/subscribers; capture subscribers
sleep 1.2
curl -s "$URL/metrics" >"$OUT/metrics.txt"
"$BANDITORE_BIN" --data "$DATA" status "$ID" >"$OUT/status.txt" 2>&1 || fail "status"
"$BANDITORE_BIN" --data "$DATA" status "$ID" --json >"$OUT/status.json" 2>&1 || fail "status --json"
"$BANDITORE_BIN" --data "$DATA" status >"$OUT/status-all.txt" 2>&1 || true
"$BANDITORE_BIN" --data "$DATA" subscribers count --json >"$OUT/count.json" 2>&1 || fail "count"
"$BANDITORE_BIN" --data "$DATA" subscribers verify >"$OUT/verify.txt" 2>&1 || fail "verify"
rc=0
"$BANDITORE_BIN" --data "$DATA" send --category info --text x >"$OUT/send-locked.txt" 2>&1 || rc=$?
[ $rc = 3 ] || fail "send while serve runs: exit $rc (expected 3, locked)"
stop_pid "$SERVE_PID" || fail "serve (p1) exit status $?"
stop_pid "$MOCK_PID" || true

# ---- phase 2: JSON logs, restart on the same data ----------------------------------
DATA_NAME=p1 run_phase p2 --log-format json
api POST /v1/notices '{"category":"deadline","text":"Scadenza TARI"}'; capture post3
ID3=$(jq_py "j['id']")
wait_state "$ID3" done 60
api GET "/v1/notices/$ID3"; capture detail3
curl -s "$URL/metrics" >"$OUT/metrics2.txt"
stop_pid "$SERVE_PID" || fail "serve (p2) exit status $?"
stop_pid "$MOCK_PID" || true
cp "$TMP"/*.err "$TMP"/*.out "$OUT"/ 2>/dev/null || true
python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$TMP/p2.err" \
	|| fail "serve --log-format json wrote a line that is not JSON"

# Something happened: the scan below must have had numbers to find.
[ "$(wc -l <"$TMP/sent.jsonl")" -ge $((2 * N)) ] || fail "too few messages sent: the run is not representative"
grep -q 'level=debug' "$OUT/p1.err" || fail "no debug lines captured"

# ---- the scan ------------------------------------------------------------------------
python3 - "$FIRST" "$N" "$OUT" <<'PY' || fail "a full number or a secret was printed"
import os, re, sys
first, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
numbers = {str(first + i) for i in range(n)}
secrets = [os.environ[k] for k in ("BANDITORE_WA_TOKEN", "BANDITORE_APP_SECRET",
                                   "BANDITORE_VERIFY_TOKEN", "BANDITORE_ADMIN_TOKEN")]
bad = 0
files = sorted(os.listdir(out))
total = 0
for f in files:
    text = open(os.path.join(out, f), errors="replace").read()
    total += len(text)
    for m in re.finditer(r"[0-9]{12,}", text):
        run = m.group()
        for k in range(len(run) - 11):
            if run[k:k + 12] in numbers:
                bad += 1
                if bad <= 5:
                    line = text[:m.start()].count("\n") + 1
                    print("%s:%d: a full number: ...%s..." % (f, line, text[max(0, m.start() - 40):m.end() + 10]))
                break
    for s in secrets:
        if s in text:
            bad += 1
            print("%s: a secret" % f)
print("privacy: %d files, %d bytes scanned for %d numbers and 4 secrets: %d found" % (len(files), total, n, bad))
sys.exit(1 if bad else 0)
PY
echo "logs privacy: ok"
