#!/usr/bin/env bash
# ctest: run-serial
# test_purge_crash.sh - kill -9 during the notice purge of `subscribers
# compact` (engine/notice_purge.h):
#
# A store of 10,000 numbers (tests/tools/store_fill) and 8 notices of all
# of them, each journaled as sent to everyone with a wamid holding the
# number (tests/tools/notice_fill make): one cancelled (a purge reduces it to
# a count), 7 paused (a purge scrubs them). Each round unsubscribes 40 more
# numbers, then runs `banditore subscribers compact` and kill -9's it at a
# random moment within its run time (the store compaction comes first, then
# the 8 notices), until at least 40 kills landed. After each kill
# `notice_fill check`: every list opens with all its checks passing (never
# torn, never a mix), is 0600, still matches its journal, holds at each
# ordinal either its creation number or the erased marker, and never erased
# a confirmed number, and its journal replays with every record's checksum
# intact; `subscribers verify` passes. At the end one compaction runs to
# completion: no unsubscribed number is left in any file of notices/ (list,
# journal wamids) and no temporary is left.
#
# Random delays come from $RANDOM seeded by BANDITORE_CRASH_SEED (printed).
# Every loop is bounded in count and time. Env (CTest): BANDITORE_BIN,
# BUILD_DIR.
set -u
B=${BANDITORE_BIN:?}
F=${BUILD_DIR:?}/tests/store_fill
NF=$BUILD_DIR/tests/notice_fill
SEED=${BANDITORE_CRASH_SEED:-$$}
RANDOM=$SEED
echo "seed $SEED (set BANDITORE_CRASH_SEED=$SEED to replay)"
T=$(mktemp -d "${TMPDIR:-/tmp}/bnd-purge-crash.XXXXXX")
PID=""
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# shellcheck source=kill9.sh
. "$(dirname "$0")/kill9.sh"

D=$T/d
N=10000
K=8
CHUNK=40
awk -v n=$N 'BEGIN { for (i = 0; i < n; i++) printf "39%d%09d\n", 3, (i * 7919) % 1000000000 }' |
	sort -n >"$T/all.txt"
[ "$(sort -u "$T/all.txt" | wc -l)" = "$N" ] || { echo "generator: numbers not unique"; exit 1; }
"$F" "$D" "$T/all.txt" >/dev/null 2>"$T/fill.err" || { echo "fill: $(cat "$T/fill.err")"; exit 1; }
"$NF" make "$D" $K >/dev/null 2>"$T/make.err" || { echo "make: $(cat "$T/make.err")"; exit 1; }
# The numbers to unsubscribe, in a shuffled order fixed by the seed.
awk -v seed="$SEED" 'BEGIN { srand(seed) } { print rand() "\t" $0 }' "$T/all.txt" | sort -k1,1 |
	cut -f2 >"$T/order.txt"
removed=0
remove_chunk() {
	sed -n "$((removed + 1)),$((removed + CHUNK))p" "$T/order.txt" >"$T/chunk.txt"
	"$B" --data "$D" subscribers remove "$T/chunk.txt" >/dev/null 2>"$T/rm.err" ||
		{ fail "remove: $(cat "$T/rm.err")"; return 1; }
	removed=$((removed + CHUNK))
}

# One compaction without a kill, timed, to aim the kills inside it.
remove_chunk
s=$(now_ms)
"$B" --data "$D" subscribers compact --json >"$T/cmp.out" 2>"$T/cmp.err" || fail "compact: $(cat "$T/cmp.err")"
TC=$(( $(now_ms) - s ))
python3 - "$T/cmp.out" $K $CHUNK $N <<'PY' || fail "first compaction: $(cat "$T/cmp.out")"
import json, sys
c = json.load(open(sys.argv[1]))
k, chunk, n = (int(x) for x in sys.argv[2:5])
assert c["notices_scrubbed"] == k - 1 and c["entries_scrubbed"] == (k - 1) * chunk, c
assert c["notices_reduced"] == 1 and c["entries_reduced"] == n, c
assert c["wamids_redacted"] == (k - 1) * chunk + n, c
PY
echo "compaction of $N numbers and $K notices takes ${TC} ms (process start included)"
[ "$TC" -lt 1 ] && TC=1

kills=0; rounds=0; partial=0
t0=$(now_ms)
while [ "$kills" -lt 40 ] && [ "$rounds" -lt 150 ] && [ $(( $(now_ms) - t0 )) -lt 120000 ]; do
	remove_chunk || break
	# a random moment within the compaction's run time (a few land after it)
	kill9_within $((TC * 11 / 10)) "$T/cmp.out" "$T/cmp.err" "$B" --data "$D" subscribers compact
	st=$ST
	rounds=$((rounds + 1))
	if [ "$st" = 137 ]; then
		kills=$((kills + 1))
	elif [ "$st" != 0 ]; then
		fail "compact round $rounds exited $st: $(cat "$T/cmp.err")"
		break
	fi
	if ! "$NF" check "$D" "$T/all.txt" >"$T/chk.out" 2>&1; then
		fail "after round $rounds (exit $st): $(cat "$T/chk.out")"
		break
	fi
	grep -q "tmp=0" "$T/chk.out" || partial=$((partial + 1))
	if ! "$B" --data "$D" subscribers verify >/dev/null 2>"$T/v.err"; then
		fail "verify after round $rounds: $(cat "$T/v.err")"
		break
	fi
done
echo "purge: $kills kills in $rounds rounds; $partial left a temporary behind"
[ "$kills" -ge 40 ] || fail "only $kills kills (want >= 40)"

# The last compaction completes: every unsubscribed number gone everywhere.
"$B" --data "$D" subscribers compact --json >"$T/cmp.out" 2>"$T/cmp.err" || fail "final compact: $(cat "$T/cmp.err")"
"$NF" check "$D" "$T/all.txt" >"$T/chk.out" 2>&1 || fail "final check: $(cat "$T/chk.out")"
grep -q "ok notices=$K erased=$(((K - 1) * removed + N)) " "$T/chk.out" ||
	fail "final: want $(((K - 1) * removed + N)) erased entries: $(cat "$T/chk.out")"
grep -q "tmp=0" "$T/chk.out" || fail "a temporary survived the final compaction"
python3 - "$D" "$T/order.txt" "$removed" <<'PY' || fail "an unsubscribed number is still in a list"
import os, struct, sys
d, order, removed = sys.argv[1], sys.argv[2], int(sys.argv[3])
gone = [int(l) for l in open(order)][:removed]
hits = 0
for root, _, files in os.walk(os.path.join(d, "notices")):
    for f in files:
        b = open(os.path.join(root, f), "rb").read()
        hits += sum(1 for n in gone if struct.pack("<Q", n) in b or str(n).encode() in b)
assert hits == 0, hits
PY
[ "$fails" = 0 ] || exit 1
echo ok
