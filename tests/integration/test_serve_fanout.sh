#!/usr/bin/env bash
# test_serve_fanout.sh - opt-out immediacy inside `banditore serve` (PRODUCT.md
# §4.3): a fan-out of 200 runs in serve's sender (a notice that a crashed
# `banditore send` left RUNNING, resumed by serve at start) while 50 of its
# recipients send JESI OFF through signed webhooks. Once the OFF's 200 has
# come back, wa-mock's record must show no notice message to any of them,
# and the notice's report counts them as skipped (unsubscribed). Also: the
# status webhooks of the running notice reach its journal through the
# sender (sender_post_status), and those of the finished notice through
# serve's own journal writer.
. "$(dirname "$0")/serve/lib.sh"

N=200 OFF=50
python3 -c "print('\n'.join(str(393380000000 + 7919 * i) for i in range($N)))" >"$TMP/people.txt"
"$BANDITORE_BIN" --data "$TMP/data" subscribers import "$TMP/people.txt" >/dev/null 2>"$TMP/import.err" ||
	fail "import"

SPORT=$(free_port)
start_mock --rate 0 --pair-rate 0 --latency-ms 20 --webhook "http://127.0.0.1:$SPORT/webhook" \
	--webhook-sent-ms 50:100 --webhook-delivered-ms 50:200 --webhook-linger-ms 20 \
	--webhook-p-delivered 1

note "a send crashes (kill -9) a few messages in: the notice stays RUNNING"
"$BANDITORE_BIN" --data "$TMP/data" send --category info --text "Avviso di prova" \
	--api-base "$MOCK_URL" --phone-number-id 110000000000001 --rate 5 --burst 1 \
	2>"$TMP/send.err" &
SEND_PID=$!
PIDS+=("$SEND_PID")
notice_lines() { grep -c '"tag":"n-' "$TMP/record.jsonl" 2>/dev/null || true; }
ge() { [ "$("${@:2}")" -ge "$1" ]; }
wait_for 30 ge 3 notice_lines || fail "send did not start sending"
kill -KILL "$SEND_PID"; wait "$SEND_PID" 2>/dev/null || true
ID=$(grep -o 'notice n-[0-9T]*-[0-9a-f]*' "$TMP/send.err" | head -1 | cut -d' ' -f2)
[ -n "$ID" ] || fail "no notice id in send's output"
before=$(notice_lines)
note "notice $ID: $before sent before the crash"

note "serve resumes it at 20/s; the last $OFF recipients send JESI OFF meanwhile"
start_serve "127.0.0.1:$SPORT" --rate 20 --burst 1 --pair-interval 0
[ "$PORT" = "$SPORT" ] || fail "serve did not take port $SPORT"
tail -n $OFF "$TMP/people.txt" >"$TMP/off.txt"
body "$TMP/off.json" "envelope([message(int(n), 'wamid.off-%s' % n, 'JESI OFF') for n in open('$TMP/off.txt').read().split()])"
wait_for 20 ge $((before + 10)) notice_lines || fail "serve did not resume the notice"
[ "$(hook batch "$TMP/off.json")" = 200 ] || fail "the JESI OFF batch was not acknowledged"
T_OFF=$(python3 -c 'import time; print(int(time.time() * 1000))')
[ "$(count unsubscribed)" = $OFF ] || fail "not unsubscribed at the 200: $(cat "$TMP/count.json")"

status_field() {
	"$BANDITORE_BIN" --data "$TMP/data" status "$ID" --json >"$TMP/status.json" 2>/dev/null || return 1
	python3 -c "import json; print(json.load(open('$TMP/status.json'))['$1'])"
}
wait_for 60 eq done status_field state || fail "the notice did not finish: $(cat "$TMP/status.json")"

note "no notice message to an opted-out number after its JESI OFF was acknowledged"
python3 - "$TMP/record.jsonl" "$TMP/off.txt" "$T_OFF" "$ID" <<'PY' || fail "opt-out not immediate"
import json, sys
rec, off, t_off, nid = sys.argv[1], set(open(sys.argv[2]).read().split()), int(sys.argv[3]), sys.argv[4]
late = [r for r in map(json.loads, open(rec)) if r["to"] in off and r["tag"].startswith(nid + ":") and r["t_ms"] > t_off]
if late:
    print("FAIL: %d notice message(s) after the opt-out" % len(late), file=sys.stderr)
    sys.exit(1)
PY
skipped=$(status_field skipped_unsubscribed)
note "skipped as unsubscribed: $skipped of $OFF (the rest were sent before their JESI OFF)"
[ "$skipped" -ge $((OFF - 5)) ] || fail "only $skipped skipped: the opt-outs came too late to test"
[ "$(status_field accepted)" = $((N - skipped)) ] || fail "accepted + skipped != $N: $(cat "$TMP/status.json")"
wait_for 10 ge $OFF record_count opt_out_ack || fail "acknowledgements: $(record_count opt_out_ack)"

note "status webhooks reached the notice's journal (sender while running, serve after)"
wait_for 20 ge $((N - skipped - before)) status_field delivered ||
	fail "delivered statuses journaled: $(status_field delivered)"
scrape --value 'banditore_statuses_total{status="delivered"}' >/dev/null || fail "scrape"
note "the sender counts every API answer in /metrics"
acc=$(scrape --value 'banditore_messages_total{outcome="accepted"}') || fail "scrape accepted"
skp=$(scrape --value 'banditore_messages_total{outcome="skipped"}') || fail "scrape skipped"
# Welcomes and replies are API answers too, so accepted counts at least the notice's.
[ "${acc%.*}" -ge $((N - skipped)) ] || fail "messages_total accepted $acc < $((N - skipped))"
[ "${skp%.*}" = "$skipped" ] || fail "messages_total skipped $skp != $skipped"
stop_serve TERM || fail "serve exited $?"
echo "ok: serve fan-out (skipped $skipped of $OFF opted out mid-fan-out)"
