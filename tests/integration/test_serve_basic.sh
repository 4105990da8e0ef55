#!/usr/bin/env bash
# test_serve_basic.sh - `banditore serve` against wa-mock over loopback with
# real signed webhook bodies shaped like the reference: the handshake, one
# JESI ON to its confirmed welcome, redeliveries (one change, one welcome),
# forged / missing signatures (401, nothing recorded), truncated (401 / 400)
# and oversized (413) bodies, unknown message types, a batch of 100
# subscriptions, a batch of statuses, JESI OFF and HELP with their replies,
# /healthz, /metrics (parsed), SIGTERM (exit 0), and no full number in logs.
. "$(dirname "$0")/serve/lib.sh"

SPORT=$(free_port)
start_mock --rate 0 --pair-rate 0 --webhook "http://127.0.0.1:$SPORT/webhook" \
	--webhook-p-dup 0.5 --webhook-sent-ms 50:100 --webhook-delivered-ms 50:100 \
	--webhook-linger-ms 20
start_serve "127.0.0.1:$SPORT" --rate 1000 --pair-interval 0
[ "$PORT" = "$SPORT" ] || fail "serve did not take port $SPORT"

N1=393351000001 N2=393351000002 N3=393351000003 N4=393351000004
printf '%s\n' $N1 $N2 $N3 $N4 >"$TMP/numbers.txt"

note "handshake"
out=$(hook get "hub.mode=subscribe&hub.verify_token=$BANDITORE_VERIFY_TOKEN&hub.challenge=1158201444")
[ "$out" = "200 1158201444" ] || fail "handshake: $out"
out=$(hook get "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444")
[ "${out%% *}" = 403 ] || fail "handshake with a wrong token: $out"
out=$(hook get "hub.verify_token=$BANDITORE_VERIFY_TOKEN&hub.challenge=1")
[ "${out%% *}" = 403 ] || fail "handshake without hub.mode: $out"

note "JESI ON -> requested -> welcome -> confirmed"
[ "$(hook msg $N1 wamid.basic-1 'JESI ON')" = 200 ] || fail "JESI ON not 200"
wait_for 10 eq 1 count confirmed || fail "N1 not confirmed: $(cat "$TMP/count.json")"
[ "$(record_count welcome $N1)" = 1 ] || fail "welcomes to N1: $(record_count welcome $N1)"
grep -q '"tag":"welcome","type":"text"' "$TMP/record.jsonl" || fail "welcome not a text message"

note "redeliveries: one change, one welcome"
body "$TMP/on2.json" "envelope([message($N2, 'wamid.basic-2', 'Jesi on')])"
for i in 1 2 3; do
	[ "$(hook batch "$TMP/on2.json")" = 200 ] || fail "delivery $i not 200"
done
wait_for 10 eq 2 count confirmed || fail "N2 not confirmed"
sleep 0.5
[ "$(record_count welcome $N2)" = 1 ] || fail "welcomes to N2: $(record_count welcome $N2)"

note "forged and missing signatures: 401, nothing recorded"
body "$TMP/on3.json" "envelope([message($N3, 'wamid.basic-3', 'JESI ON')])"
[ "$(hook batch "$TMP/on3.json" --sig forged)" = 401 ] || fail "forged not 401"
[ "$(hook batch "$TMP/on3.json" --sig none)" = 401 ] || fail "unsigned not 401"
[ "$(hook raw "$TMP/on3.json" --truncate 100)" = 401 ] || fail "cut after signing not 401"
head -c 100 "$TMP/on3.json" >"$TMP/cut.json"
[ "$(hook raw "$TMP/cut.json")" = 400 ] || fail "signed truncated body not 400"
echo '[1,2,3]' >"$TMP/array.json"
[ "$(hook raw "$TMP/array.json")" = 400 ] || fail "signed non-object not 400"
[ "$(count requested)" = 0 ] || fail "a refused body changed the store"
[ "$(count confirmed)" = 2 ] || fail "a refused body changed the store"

note "oversized body: 413"
python3 -c "import sys; sys.stdout.write('{\"x\":\"' + 'a' * (4 << 20) + '\"}')" >"$TMP/big.json"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
	-H "X-Hub-Signature-256: sha256=$(printf '0%.0s' $(seq 64))" --data-binary @"$TMP/big.json" \
	"http://127.0.0.1:$PORT/webhook" || true)
[ "$st" = 413 ] || fail "4 MiB body: $st"

note "unknown message types: 200, nothing changes, no reply"
body "$TMP/types.json" "envelope([message($N3, 'wamid.t1', mtype='image'), message($N3, 'wamid.t2', mtype='reaction'), dict(message($N3, 'wamid.t3', mtype='sticker'), sticker={'id':'9'}), message($N3, 'wamid.t4', mtype='unsupported')])"
[ "$(hook batch "$TMP/types.json")" = 200 ] || fail "unknown types not 200"

note "a batch of 100 subscriptions in one body"
python3 -c "print('\n'.join(str(393352000000 + i) for i in range(100)))" >>"$TMP/numbers.txt"
body "$TMP/batch.json" "envelope([message(393352000000 + i, 'wamid.batch-%d' % i, 'JESI ON') for i in range(100)])"
[ "$(hook batch "$TMP/batch.json")" = 200 ] || fail "batch not 200"
count requested >/dev/null
[ "$(python3 -c "import json; j=json.load(open('$TMP/count.json')); print(j['requested'] + j['confirmed'])")" = 102 ] ||
	fail "batch: $(cat "$TMP/count.json")"
wait_for 30 eq 102 count confirmed || fail "batch not all confirmed: $(cat "$TMP/count.json")"
[ "$(record_count welcome)" = 102 ] || fail "welcomes: $(record_count welcome), want 102"

note "statuses batch (notice tags, unknown tags) and a status of another number id"
body "$TMP/st.json" "envelope(statuses=[status('wamid.s%d' % i, ['sent','delivered','read'][i % 3], 393352000000 + i, 'n-20261128T101500-a3f9:%d' % i) for i in range(100)])"
[ "$(hook batch "$TMP/st.json")" = 200 ] || fail "statuses not 200"
body "$TMP/other.json" "envelope([message($N3, 'wamid.other', 'JESI ON')], pnid='999000000000001')"
[ "$(hook batch "$TMP/other.json")" = 200 ] || fail "another number's message not 200"
[ "$(count requested)" = 0 ] || fail "another phone_number_id's message was acted on"

note "JESI OFF: unsubscribed at once, acknowledged; HELP answered"
[ "$(hook msg $N1 wamid.basic-off 'JESI OFF')" = 200 ] || fail "JESI OFF not 200"
[ "$(count unsubscribed)" = 1 ] || fail "not unsubscribed at the 200"
[ "$(hook msg $N4 wamid.basic-help 'aiuto')" = 200 ] || fail "HELP not 200"
wait_for 10 eq 1 record_count opt_out_ack $N1 || fail "no opt-out acknowledgement"
wait_for 10 eq 1 record_count help $N4 || fail "no help text"
[ "$(record_count welcome $N3)" = 0 ] || fail "a reply to N3"

note "/healthz and /metrics"
[ "$(curl -s --max-time 5 "http://127.0.0.1:$PORT/healthz")" = ok ] || fail "healthz"
wait_for 10 scrape --value 'banditore_statuses_total{status="sent"}' || fail "scrape"
v() { scrape --value "$1"; }
[ "$(v 'banditore_webhooks_total{outcome="bad_signature"}')" = 3 ] || fail "bad_signature count"
[ "$(v 'banditore_webhooks_total{outcome="bad_json"}')" = 2 ] || fail "bad_json count"
[ "$(v 'banditore_webhooks_total{outcome="too_large"}')" = 1 ] || fail "too_large count"
[ "$(v 'banditore_webhooks_total{outcome="duplicate"}')" -ge 2 ] || fail "duplicate count"
[ "$(v 'banditore_commands_total{verb="on"}')" = 102 ] || fail "on count: $(v 'banditore_commands_total{verb="on"}')"
[ "$(v 'banditore_subscribers{state="confirmed"}')" = 101 ] || fail "confirmed gauge"
[ "$(v 'banditore_replies_total{kind="welcome"}')" = 102 ] || fail "welcome replies"
wait_for 10 eval '[ "$(v "banditore_statuses_total{status=\"delivered\"}")" -gt 0 ]' ||
	fail "no delivered status from wa-mock counted"
scrape --require banditore_fsync_seconds --require banditore_confirmation_seconds >/dev/null ||
	fail "families"

note "SIGTERM: exit 0"
stop_serve TERM || fail "serve exited $?"
[ "$(count confirmed)" = 101 ] || fail "after stop: $(cat "$TMP/count.json")"
[ "$(count unsubscribed)" = 1 ] || fail "after stop: $(cat "$TMP/count.json")"
no_full_numbers "$TMP/serve.err" "$TMP/numbers.txt"
grep -q 'stopped:' "$TMP/serve.err" || fail "no final log line"
echo "ok: serve basic"
