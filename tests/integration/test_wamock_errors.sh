#!/usr/bin/env bash
# test_wamock_errors.sh - wa-mock over real HTTP: the command line (--help,
# bad flags, a webhook without its secret), every validation error with its
# Graph code and HTTP status, the success body's shape, /mock/stats counts,
# and a clean SIGTERM with its summary line and exit 0.
source "$(dirname "$0")/wamock/lib.sh"

# --- command line
"$WA_MOCK_BIN" --help >"$TMP/help" || fail "--help exit status"
grep -q -- "--error-mix" "$TMP/help" || fail "--help does not list --error-mix"
rc=0
"$WA_MOCK_BIN" --rate -5 2>"$TMP/bad.err" || rc=$?
[ $rc -eq 2 ] || fail "a bad --rate exits $rc, not 2"
grep -q -- "--rate" "$TMP/bad.err" || fail "the error names the flag"
rc=0
env -u WA_MOCK_APP_SECRET "$WA_MOCK_BIN" --webhook http://127.0.0.1:9/x 2>"$TMP/bad.err" || rc=$?
[ $rc -eq 2 ] || fail "--webhook without WA_MOCK_APP_SECRET exits $rc"

start_mock main --phone-number-id 110000000000001 --rate 0 --seed 5
rc=0
"$WA_MOCK_BIN" --listen "127.0.0.1:$MOCK_PORT" 2>"$TMP/busy.err" &
p=$!
PIDS+=("$p")
wait $p || rc=$?
[ $rc -eq 1 ] || fail "a port in use exits $rc, not 1"
P=/v25.0/110000000000001/messages
GOOD=$(template_body "+393351234567" notice 1 "n=7;s=1")

# --- token
call POST $P "$GOOD" ""
expect_error 401 190
call POST $P "$GOOD" "Bearer wrong"
expect_error 401 190
# --- routing
call GET /nothing/here
expect_error 404 2500
call POST /v25.0/999999/messages "$GOOD"
expect_error 400 100
[ "$(json "j['error'].get('error_subcode')")" = 33 ] || fail "unknown id: subcode 33"
call GET $P
expect_error 400 100
# --- body shape
call POST $P '{"messaging_product":"whatsapp",'
expect_error 400 100
call POST $P '{"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}'
expect_error 400 100
call POST $P '{"messaging_product":"whatsapp","to":"+39 33x 1234567","text":{"body":"x"}}'
expect_error 400 131009
call POST $P '{"messaging_product":"whatsapp","to":"00393351234567","text":{"body":"x"}}'
expect_error 400 100
call POST $P "$(template_body "+393351234567" missing_template 1)"
expect_error 404 132001
call POST $P "$(template_body "+393351234567" notice 2)"
expect_error 400 132000
call POST $P "$(template_body "+393351234567" notice 0)"
expect_error 400 132000
big=$(python3 -c "print('{\"messaging_product\":\"whatsapp\",\"to\":\"+393351234567\",\"text\":{\"body\":\"' + 'x'*70000 + '\"}}')")
call POST $P "$big"
expect_error 413 100

# --- success: the real body
call POST $P "$GOOD"
[ "$HTTP" = 200 ] || fail "valid template send: HTTP $HTTP $(cat "$TMP/body")"
[ "$(json "j['messaging_product']")" = whatsapp ] || fail "messaging_product"
[ "$(json "j['contacts'][0]['input']")" = "+393351234567" ] || fail "contacts.input"
[ "$(json "j['contacts'][0]['wa_id']")" = 393351234567 ] || fail "contacts.wa_id"
json "j['messages'][0]['id']" | grep -Eq '^wamid\.[A-Za-z0-9+/=]{40,}$' || fail "wamid form"
id1=$(json "j['messages'][0]['id']")
call POST $P '{"messaging_product":"whatsapp","to":"+39 335 765 4321","type":"text","text":{"body":"Iscrizione confermata"}}'
[ "$HTTP" = 200 ] || fail "text send: HTTP $HTTP"
[ "$(json "j['contacts'][0]['wa_id']")" = 393357654321 ] || fail "wa_id of a spaced number"
[ "$(json "j['messages'][0]['id']")" != "$id1" ] || fail "wamids repeat"
call POST $P '{"messaging_product":"whatsapp","status":"read","message_id":"'"$id1"'"}'
[ "$HTTP" = 200 ] && [ "$(json "j['success']")" = True ] || fail "mark as read"

# --- stats count what happened
[ "$(mstat "s['requests']")" = 15 ] || fail "requests $(cat "$TMP/stats")"
[ "$(mstat "s['accepted']")" = 2 ] || fail "accepted $(cat "$TMP/stats")"
[ "$(mstat "s['errors']['190']")" = 2 ] || fail "190 count"
[ "$(mstat "s['errors']['132000']")" = 2 ] || fail "132000 count"
[ "$(mstat "s['unique_recipients']")" = 2 ] || fail "unique recipients"
[ "$(mstat "s['mark_read']")" = 1 ] || fail "mark_read"

# --- clean stop
stop_mock TERM || fail "SIGTERM exit status $?"
grep -q "stopped after .* requests=15 accepted=2 " "$TMP/main.err" || fail "summary: $(cat "$TMP/main.err")"
if grep -q "393351234567" "$TMP/main.err"; then fail "a full number on stderr"; fi
echo "test_wamock_errors: ok"
