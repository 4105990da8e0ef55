#!/usr/bin/env bash
# test_opapi_coverage.sh - coverage as the operator sees it: wa-mock posts
# signed status webhooks (sent, delivered, read) to serve while a notice
# fans out; GET /v1/notices/{id} must count them: within a few seconds of
# the end, the 1-minute coverage holds about wa-mock's delivery
# probability (0.97 here) of the recipients, and so does the final report
# of `banditore status`. This needs the statuses of a RUNNING notice to
# reach its journal (held by the sender): serve's notice_status hook.
source "$(dirname "$0")/ops/lib.sh"
N=2000
MOCK_FLAGS="--rate 0 --pair-rate 0 --latency-ms 5:20 --webhook-p-delivered 0.97 --webhook-sent-ms 20:60 --webhook-delivered-ms 20:300 --webhook-read-ms 50:300 --webhook-linger-ms 50" \
	start_stack c -- --rate 500 --window 64 --connections 64
subscribe $N 393352000000 --conns 8
api POST /v1/notices '{"category":"emergency","text":"Allerta"}'
[ "$HTTP" = 202 ] || fail "post: $HTTP $BODY"
ID=$(jq_py "j['id']")
wait_state "$ID" done 60
d=0
for _ in $(seq 1 100); do
	api GET "/v1/notices/$ID"
	d=$(jq_py "j['coverage']['1m']['delivered']")
	[ "$d" -ge $((N * 90 / 100)) ] && break
	sleep 0.1
done
[ "$d" -ge $((N * 90 / 100)) ] || fail "coverage at 1 minute: $d delivered of $N (wa-mock delivers 97%): status webhooks of a running notice are not reaching its journal"
[ "$d" -le $N ] || fail "more delivered than recipients: $d"
"$BANDITORE_BIN" --data "$DATA" status "$ID" --json >"$TMP/status.json" || fail "banditore status"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["delivered"] >= int(sys.argv[2]), j' \
	"$TMP/status.json" $((N * 90 / 100)) || fail "banditore status disagrees: $(cat "$TMP/status.json")"
echo "coverage: ok ($d of $N delivered within 1 minute)"
