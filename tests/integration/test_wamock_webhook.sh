#!/usr/bin/env bash
# test_wamock_webhook.sh - wa-mock's status webhooks against a receiver that
# verifies them like `banditore serve` will: the GET handshake, an
# X-Hub-Signature-256 that verifies over the raw body with the same secret,
# the shape of reference §4.4, sent -> delivered -> read for each accepted
# message and failed (errors[], 131026) for the async failures, every
# biz_opaque_callback_data echoed, Meta's ASCII escaping, batches of several
# statuses, and retries after the receiver answered 500.
source "$(dirname "$0")/wamock/lib.sh"

export WA_MOCK_APP_SECRET=s3cret-app
export WA_MOCK_VERIFY_TOKEN=verify-me
python3 "$HERE/receiver.py" "$TMP/rx.port" "$TMP/rx.log" "$WA_MOCK_APP_SECRET" 2 verify-me \
	2>"$TMP/rx.err" &
PIDS+=($!)
wait_file "$TMP/rx.port" 10 || fail "receiver did not start"
RX=http://127.0.0.1:$(cat "$TMP/rx.port")/webhook

start_mock wh --rate 0 --pair-rate 0 --seed 3 --error-mix 131026:0.2 \
	--webhook "$RX" --webhook-sent-ms 10:50 --webhook-delivered-ms 10:80 \
	--webhook-read-ms 10:80 --webhook-p-delivered 1 --webhook-p-read 1 \
	--webhook-retry-ms 100 --webhook-linger-ms 50 --webhook-batch 20 --record "$TMP/wh.rec"
client --count 60 >"$TMP/sent.out"
TAG='café/€ "q"'
call POST /v25.0/110000000000001/messages "$(python3 -c 'import json,sys; print(json.dumps({"messaging_product":"whatsapp","to":"+393359999999","type":"text","text":{"body":"ciao"},"biz_opaque_callback_data":sys.argv[1]}))' "$TAG")"
[ "$HTTP" = 200 ] || fail "text send $HTTP"
echo "999 200 0 $(json "j['messages'][0]['id']") $(echo "$TAG" | tr ' ' '_')" >>"$TMP/sent.out"

# Wait (at most 20 s) until every accepted message has its final status.
python3 - "$TMP/sent.out" "$TMP/rx.log" "$TAG" <<'PY' || fail "webhooks incomplete or wrong: see above"
import json, sys, time
sent = {}
for l in open(sys.argv[1]):
    i, http, code, wamid, tag = l.split()[:5]
    if http == "200":
        sent[wamid] = ("39335%07d" % int(i)) if i != "999" else "393359999999"
tags = {}
for l in open(sys.argv[1]):
    i, http, code, wamid, tag = l.split()[:5]
    tags[wamid] = "n=1;s=" + i if i != "999" else sys.argv[3]
assert len(sent) == 61, len(sent)

def final(st):
    return "failed" in st or {"sent", "delivered", "read"} <= st

deadline = time.time() + 20
while True:
    posts, gets, by = [], [], {}
    for l in open(sys.argv[2]):
        r = json.loads(l)
        (gets if "get" in r else posts).append(r)
    for p in posts:
        if p["status"] != 200:
            continue
        for e in p["body"]["entry"]:
            for c in e["changes"]:
                for s in c["value"].get("statuses", []):
                    by.setdefault(s["id"], []).append(s)
    if all(w in by and final({s["status"] for s in by[w]}) for w in sent):
        break
    if time.time() > deadline:
        missing = [w for w in sent if w not in by or not final({s["status"] for s in by[w]})]
        sys.exit("%d messages without a final status" % len(missing))
    time.sleep(0.2)

assert gets and gets[0]["status"] == 200 and gets[0]["get"]["hub.verify_token"] == "verify-me", gets
assert all(p["sig_ok"] for p in posts), "a signature did not verify"
assert [p["status"] for p in posts[:2]] == [500, 500], "the receiver refused the first two"
assert all(p["raw_ascii"] for p in posts), "bodies must be ASCII (\\uXXXX escapes)"
assert any(p["raw_has_escapes"] for p in posts), "non-ASCII as lowercase \\u, '/' as \\/"
assert any(p["n"] > 1 for p in posts), "statuses are batched"
assert all(p["ua"] == "facebookexternalua" for p in posts)
failed = 0
for p in posts:
    b = p["body"]
    assert b["object"] == "whatsapp_business_account"
    e = b["entry"][0]
    assert e["id"] == "220000000000002"
    c = e["changes"][0]
    assert c["field"] == "messages"
    v = c["value"]
    assert v["messaging_product"] == "whatsapp"
    assert v["metadata"] == {"display_phone_number": "390731000000",
                             "phone_number_id": "110000000000001"}, v["metadata"]
    for s in v["statuses"]:
        assert s["id"] in sent, "unknown wamid"
        assert s["recipient_id"] == sent[s["id"]], s
        assert s["biz_opaque_callback_data"] == tags[s["id"]], s
        assert s["timestamp"].isdigit(), s
        if s["status"] == "delivered":
            pr = s["pricing"]
            assert pr["pricing_model"] == "PMP"
            assert pr["category"] == ("service" if s["recipient_id"] == "393359999999" else "utility")
        if s["status"] == "failed":
            err = s["errors"][0]
            assert err["code"] == 131026 and err["title"] and err["error_data"]["details"], s
            assert "sent" not in {x["status"] for x in by[s["id"]]}, "failed messages are not sent"
for w, ss in by.items():
    failed += any(s["status"] == "failed" for s in ss)
print("statuses ok; failed", failed, file=sys.stderr)
open(sys.argv[2] + ".failed", "w").write(str(failed))
PY
failed=$(cat "$TMP/rx.log.failed")
[ "$failed" -gt 3 ] || fail "the 131026 mix produced $failed failures"
[ "$(mstat "s['async_failed']['131026']")" = "$failed" ] || fail "stats async_failed != failed statuses"
[ "$(mstat "s['webhooks']['retries'] >= 2")" = True ] || fail "retries $(cat "$TMP/stats")"
[ "$(mstat "s['webhooks']['dropped']")" = 0 ] || fail "dropped statuses"
for ((i = 0; i < 50; i++)); do
	[ "$(mstat "s['webhooks']['pending']")" = 0 ] && break
	sleep 0.1
done
[ "$(mstat "s['webhooks']['pending']")" = 0 ] || fail "statuses still pending"
stop_mock || fail "exit status"

# --- a receiver that never answers 200: retries, then the statuses are dropped
python3 "$HERE/receiver.py" "$TMP/rx2.port" "$TMP/rx2.log" wrong-secret 0 2>"$TMP/rx2.err" &
PIDS+=($!)
wait_file "$TMP/rx2.port" 10 || fail "receiver 2 did not start"
start_mock drop --rate 0 --webhook "http://127.0.0.1:$(cat "$TMP/rx2.port")/webhook" \
	--webhook-sent-ms 0 --webhook-p-delivered 0 --webhook-retries 2 --webhook-retry-ms 50 \
	--webhook-linger-ms 0
client --count 1 >/dev/null
for ((i = 0; i < 100; i++)); do
	[ "$(mstat "s['webhooks']['dropped']")" = 1 ] && break
	sleep 0.1
done
[ "$(mstat "s['webhooks']['dropped']")" = 1 ] || fail "not dropped after retries: $(cat "$TMP/stats")"
[ "$(mstat "s['webhooks']['attempts']")" = 3 ] || fail "1 attempt + 2 retries: $(cat "$TMP/stats")"
[ "$(grep -c '"status": 401' "$TMP/rx2.log")" = 3 ] || fail "the receiver rejects a wrong secret"
stop_mock || fail "exit status"
echo "test_wamock_webhook: ok"
