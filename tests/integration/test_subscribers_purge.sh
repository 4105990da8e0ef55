#!/usr/bin/env bash
# test_subscribers_purge.sh - `subscribers compact` erases unsubscribed
# numbers from the notices too (PRODUCT.md §1, §4.6; engine/notice_purge.h):
#
#   1. 600 subscribers; notice A is sent to everyone (done); notice B is
#      sent at 50/s and paused by SIGTERM part-way (exit 7).
#   2. 50 numbers unsubscribe: 40 that B has not messaged yet, 10 it has.
#   3. compact --json reports A reduced to a count (600 numbers removed) and
#      B scrubbed (50 numbers erased).
#   4. Every byte of the data directory is scanned for each of the 50: as
#      decimal digits, as a packed u64 (little- and big-endian), and inside
#      every wamid (base64, which encodes the recipient): none left. The 550
#      others are still in B's list, and in wamids (controls: the scan finds).
#   5. `status` still reports A exactly as before the compaction.
#   6. `resume B` finishes it: wa-mock's record shows none of the 50 messaged
#      after the pause, every other B recipient messaged exactly once, and
#      the report counts the 40 as skipped (unsubscribed).
source "$(dirname "$0")/sender/lib.sh"

D=$TMP/data
people "$D" 600 7
P=$TMP/people.600.txt
start_mock m --rate 0 --record "$TMP/rec.jsonl"

# 1. A: done; B: paused part-way
bnd --data "$D" send --api-base "$MOCK_URL" --category info --text "A" --rate 0 \
	--json >"$TMP/a.json" 2>"$TMP/a.err" || fail "send A: exit $?"
A=$(jget "$TMP/a.json" "j['notice_id']")
[ "$(jget "$TMP/a.json" "j['accepted']")" = 600 ] || fail "A: $(cat "$TMP/a.json")"
bnd --data "$D" status "$A" --json >"$TMP/a_status_before.json" || fail "status A"

"$BANDITORE_BIN" --data "$D" send --api-base "$MOCK_URL" --category event --text "B" --rate 50 \
	--window 8 --json >"$TMP/b.json" 2>"$TMP/b.err" &
BPID=$!
PIDS+=("$BPID")
for _ in $(seq 1 200); do   # until B has messaged at least 60 people (<= 10 s)
	n=$(grep -c '"tag":"n-[^"]*"' "$TMP/rec.jsonl" || true)
	[ "$n" -ge 660 ] && break
	sleep 0.05
done
kill -TERM "$BPID"
rc=0
wait "$BPID" || rc=$?
[ "$rc" = 7 ] || fail "B after SIGTERM: exit $rc (want 7, paused)"
B=$(jget "$TMP/b.json" "j['notice_id']")
[ "$(jget "$TMP/b.json" "j['state']")" = paused ] || fail "B: $(cat "$TMP/b.json")"

# 2. 40 B has not messaged, 10 it has
python3 - "$TMP/rec.jsonl" "$B" "$P" >"$TMP/gone.txt" <<'PY'
import json, sys
rec, b, people = sys.argv[1], sys.argv[2], sys.argv[3]
sent = {json.loads(l)["to"] for l in open(rec) if json.loads(l)["tag"].startswith(b + ":")}
everyone = [l.strip() for l in open(people) if l.strip()]
unsent = [x for x in everyone if x not in sent]
done = [x for x in everyone if x in sent]
assert len(unsent) >= 200 and len(done) >= 30, (len(unsent), len(done))
print("\n".join(unsent[-40:] + done[:10]))
PY
[ "$(wc -l <"$TMP/gone.txt")" = 50 ] || fail "the 50 numbers to remove"
bnd --data "$D" subscribers remove "$TMP/gone.txt" >/dev/null 2>"$TMP/rm.err" || fail "remove"

# 3. compact
bnd --data "$D" subscribers compact --json >"$TMP/c.json" 2>"$TMP/c.err" || fail "compact: exit $?"
python3 - "$TMP/c.json" <<'PY' || fail "compact report: $(cat "$TMP/c.json")"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["erased"] == 50, c
assert c["notices"] == 2 and c["notices_locked"] == 0 and c["notices_failed"] == 0, c
assert c["notices_reduced"] == 1 and c["entries_reduced"] == 600, c
assert c["notices_scrubbed"] == 1 and c["entries_scrubbed"] == 50, c
assert c["wamids_redacted"] == 600 + 10, c   # all of A's, B's 10 already messaged
PY
bnd --data "$D" subscribers compact >"$TMP/c2.out" 2>"$TMP/c2.err" || fail "second compact"
grep -q "notices: 2 examined; 0 scrubbed (0 numbers erased); 0 finished reduced to counts (0 numbers removed); 0 message ids redacted" "$TMP/c2.out" ||
	fail "second compact: $(cat "$TMP/c2.out")"

# 4. scan every file of the data directory
python3 - "$D" "$TMP/gone.txt" "$P" "$B" <<'PY' || fail "an unsubscribed number is still on disk"
import os, struct, sys
d, gone_f, people_f, b = sys.argv[1:5]
gone = [int(l) for l in open(gone_f) if l.strip()]
kept = sorted(set(int(l) for l in open(people_f) if l.strip()) - set(gone))
blobs = {}
for root, dirs, files in os.walk(d):
    for f in files:
        p = os.path.join(root, f)
        blobs[p] = open(p, "rb").read()
        assert os.stat(p).st_mode & 0o077 == 0, ("not private", p, oct(os.stat(p).st_mode))
def forms(n):
    return [str(n).encode(), struct.pack("<Q", n), struct.pack(">Q", n)]
bad = [(n, p) for n in gone for p, blob in blobs.items() for f in forms(n) if f in blob]
assert not bad, "%d hits, e.g. %s" % (len(bad), bad[0][1])
# Message ids: WhatsApp's (and wa-mock's) wamids are base64 text encoding
# the recipient's number (digits, or a big-endian u64 for the mock).
import base64, re
decoded = []
for p, blob in blobs.items():
    for m in re.finditer(rb"wamid\.([A-Za-z0-9+/=]{8,})", blob):
        t = m.group(1)
        try:
            decoded.append(base64.b64decode(t + b"=" * (-len(t) % 4)))
        except Exception:
            pass
bad = [n for n in gone for d in decoded for f in forms(n) if f in d]
assert not bad, "%d wamids still encode an erased number" % len(bad)
found = sum(1 for n in kept if any(struct.pack(">Q", n) in d for d in decoded))
# B messaged at least 60 before its pause, 10 of them erased since
assert found >= 50, "control: only %d kept numbers found in B's wamids" % found
# control: the scan finds the numbers that must stay (in B's list)
rl = os.path.join(d, "notices", b, "recipients.bin")
missing = [n for n in kept if struct.pack("<Q", n) not in blobs[rl]]
assert not missing, "%d kept numbers missing from B's list" % len(missing)
print("scanned %d files: none of %d erased numbers, all %d others in B" % (len(blobs), len(gone), len(kept)))
PY

# 5. status of A unchanged
bnd --data "$D" status "$A" --json >"$TMP/a_status_after.json" || fail "status A after compact"
python3 - "$TMP/a_status_before.json" "$TMP/a_status_after.json" <<'PY' || fail "status A changed"
import json, sys
a, b = (json.load(open(x)) for x in sys.argv[1:3])
for k in ("state", "recipients", "accepted", "failed", "remaining", "skipped_unsubscribed"):
    assert a.get(k) == b.get(k), (k, a.get(k), b.get(k))
assert b["state"] == "done" and b["recipients"] == 600 and b["accepted"] == 600, b
PY
bnd --data "$D" status >"$TMP/all.out" 2>"$TMP/all.err" || fail "status (all)"

# 6. resume B
lines_before=$(wc -l <"$TMP/rec.jsonl")
bnd --data "$D" resume "$B" --api-base "$MOCK_URL" --rate 0 --json >"$TMP/rb.json" \
	2>"$TMP/rb.err" || fail "resume B: exit $?"
python3 - "$TMP/rec.jsonl" "$B" "$TMP/gone.txt" "$P" "$TMP/rb.json" "$lines_before" <<'PY' || fail "resume B"
import json, sys
rec, b, gone_f, people_f, rep_f, before = sys.argv[1:7]
gone = {l.strip() for l in open(gone_f) if l.strip()}
everyone = {l.strip() for l in open(people_f) if l.strip()}
lines = [json.loads(l) for l in open(rec)]
bl = [m for m in lines if m["tag"].startswith(b + ":")]
after = [m for m in lines[int(before):] if m["tag"].startswith(b + ":")]
assert after, "resume sent nothing"
assert not [m for m in after if m["to"] in gone], "an erased number was messaged after the pause"
tos = [m["to"] for m in bl]
assert len(tos) == len(set(tos)), "someone messaged twice"
want = everyone - (gone - {m["to"] for m in lines[:int(before)] if m["tag"].startswith(b + ":")})
assert set(tos) == want, (len(set(tos)), len(want))
r = json.load(open(rep_f))
assert r["state"] == "done", r
assert r["skipped_unsubscribed"] == 40, r
assert r["accepted"] == 560, r
print("B: %d messaged, 40 erased skipped" % len(set(tos)))
PY
note "ok"
