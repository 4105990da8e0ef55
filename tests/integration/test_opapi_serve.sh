#!/usr/bin/env bash
# test_opapi_serve.sh - the operator API on the real `banditore serve` with
# the real sender and wa-mock (records every accepted message):
#   - citizens subscribe through signed webhooks; GET /v1/subscribers counts
#     them and never shows a number;
#   - an emergency posted while an event notice fans out pre-empts it: the
#     emergency finishes while the event still has recipients left, the
#     event sends at most about one in-flight window meanwhile, its start
#     latency is reported and agrees with wa-mock's record (first emergency
#     message on the wire), then the event finishes too; every recipient got
#     each notice exactly once;
#   - a cancel through the API stops a running fan-out: state cancelled,
#     recipients left, and wa-mock records nothing more of it;
#   - GET /metrics carries the notice gauges and the operator counters.
source "$(dirname "$0")/ops/lib.sh"
N=3000
WINDOW=64
RATE=300
MOCK_FLAGS="--rate 0 --pair-rate 0 --latency-ms 20:60 --record $TMP/sent.jsonl --webhook-sent-ms 20:60 --webhook-delivered-ms 20:200 --webhook-read-ms 50:300 --webhook-linger-ms 50" \
	start_stack s -- --rate $RATE --window $WINDOW --connections $WINDOW
subscribe $N 393351000000 --conns 8

api GET /v1/subscribers
[ "$(jq_py "j['confirmed']")" = $N ] || fail "confirmed: $BODY"
for i in 0 1 2999; do
	num=$((393351000000 + i))
	case "$BODY" in *$num*) fail "a number in /v1/subscribers" ;; esac
done

# ---- pre-emption -------------------------------------------------------------
api POST /v1/notices '{"category":"event","text":"Concerto in piazza stasera"}'
[ "$HTTP" = 202 ] || fail "event: $HTTP $BODY"
EV=$(jq_py "j['id']")
sleep 2
api GET "/v1/notices/$EV"
A0=$(jq_py "j['accepted']")
[ "$A0" -gt 0 ] || fail "the event is not sending: $BODY"
api POST /v1/notices '{"category":"emergency","text":"Allerta: esondazione del fiume Esino"}'
[ "$HTTP" = 202 ] || fail "emergency: $HTTP $BODY"
EM=$(jq_py "j['id']")
wait_state "$EM" done 60
api GET "/v1/notices/$EM"
EMB=$BODY
LAT=$(jq_py "j['start_latency_ms']")
BASIS=$(jq_py "j['start_latency_basis']")
[ "$(jq_py "j['accepted']")" = $N ] || fail "emergency accepted: $BODY"
api GET "/v1/notices/$EV"
A1=$(jq_py "j['accepted']")
R1=$(jq_py "j['remaining']")
[ "$(jq_py "j['state']")" = running ] || fail "the event is not running any more: $BODY"
[ "$R1" -gt 0 ] || fail "the event finished before the emergency: not pre-empted"
# While the emergency ran, the event sent only what was in flight (and what
# the last second of the emergency left room for).
[ $((A1 - A0)) -le $((2 * WINDOW + RATE)) ] || fail "the event sent $((A1 - A0)) during the emergency"
python3 - "$TMP/sent.jsonl" "$EM" "$EMB" "$LAT" <<'PY' || fail "start latency"
import json, sys
rec, em, body, lat = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
first = min(json.loads(l)["t_ms"] for l in open(rec) if json.loads(l)["tag"].startswith(em + ":"))
wire = first - body["created_ms"]
print("emergency: start latency %d ms reported (%s), first message recorded by wa-mock %d ms after creation"
      % (lat, body["start_latency_basis"], wire))
assert 0 <= lat <= 2000, "start latency out of bounds"
assert lat <= wire + 50, "reported latency later than the first message on the wire"
assert wire <= 2000, "the first emergency message came %d ms after creation" % wire
PY
wait_state "$EV" done 60

# ---- cancel through the real sender ---------------------------------------
api POST /v1/notices '{"category":"info","text":"Orari uffici","expiry":"1h"}'
INFO=$(jq_py "j['id']")
sleep 1.5
api POST "/v1/notices/$INFO/cancel"
[ "$HTTP" = 200 ] || fail "cancel: $HTTP $BODY"
api GET "/v1/notices/$INFO"
[ "$(jq_py "j['state']")" = cancelled ] || fail "not cancelled: $BODY"
[ "$(jq_py "j['remaining']")" -gt 0 ] || fail "nothing left to cancel (the test needs a slower rate)"
c1=$(grep -c "\"$INFO:" "$TMP/sent.jsonl" || true)
sleep 1
c2=$(grep -c "\"$INFO:" "$TMP/sent.jsonl" || true)
[ "$c1" = "$c2" ] || fail "wa-mock recorded $((c2 - c1)) messages of a cancelled notice"
api POST "/v1/notices/$INFO/cancel"
[ "$HTTP" = 409 ] || fail "cancel twice: $HTTP"

# ---- exactly once, per notice -------------------------------------------------
python3 - "$TMP/sent.jsonl" "$EV" "$EM" $N <<'PY' || fail "records"
import json, sys, collections
rec, ev, em, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
per = collections.defaultdict(collections.Counter)
for l in open(rec):
    r = json.loads(l)
    per[r["tag"].split(":")[0]][r["to"]] += 1
for nid in (ev, em):
    c = per[nid]
    assert len(c) == n, "%s reached %d of %d" % (nid, len(c), n)
    assert max(c.values()) == 1, "%s: a recipient got it twice" % nid
print("records: both notices reached all %d recipients exactly once" % n)
PY

# ---- metrics -------------------------------------------------------------------
sleep 1.2   # one tick of serve's refresh
curl -s "$URL/metrics" >"$TMP/metrics.txt"
"$BUILD_DIR/tests/prom_check" --require banditore_notices --require banditore_operator_requests_total \
	"$TMP/metrics.txt" || fail "the scrape does not parse"
v=$("$BUILD_DIR/tests/prom_check" --value 'banditore_notice_recipients{category="emergency"}' "$TMP/metrics.txt")
[ "$v" = $N ] || fail "notice_recipients{emergency} = $v"
v=$("$BUILD_DIR/tests/prom_check" --value 'banditore_notices{state="done"}' "$TMP/metrics.txt")
[ "$v" = 2 ] || fail "notices{done} = $v"
v=$("$BUILD_DIR/tests/prom_check" --value 'banditore_notice_start_seconds_count{category="emergency"}' "$TMP/metrics.txt")
[ "$v" = 1 ] || fail "notice_start_seconds_count{emergency} = $v"

echo "opapi on serve: ok (emergency start latency ${LAT} ms, basis $BASIS)"
