#!/usr/bin/env bash
# ctest: run-serial
# test_store_crash.sh - crash safety with real processes and kill -9
# (PRODUCT.md §4.1, issue 2):
#
# 1. Group commit: tests/tools/store_writer appends from 4 threads and
#    prints every record it acknowledged (after store_sync returned). It is
#    kill -9'ed at a random moment, at least 50 times, on the same data
#    directory; after every kill `banditore subscribers verify` must pass
#    (a torn tail is allowed and reported) and tests/tools/store_check must
#    find every acknowledged number with its acknowledged state (or a state
#    tried after it).
# 2. Compaction: a store of 100,000 numbers (tests/tools/store_fill); before
#    each round some numbers
#    are removed, then `banditore subscribers compact` is kill -9'ed at a
#    random moment within its run time, until at least 50 kills landed on a
#    running compaction. After each: verify passes, every live number is
#    confirmed, and the removed-but-not-yet-erased numbers are all there
#    (old set) or all gone (new set), never a mix, nothing else.
#
# The random delays come from $RANDOM seeded by BANDITORE_CRASH_SEED (printed,
# so a failure can be replayed). Every loop is bounded in count and time.
# Env (set by CTest): BANDITORE_BIN, BUILD_DIR.
set -u
B=${BANDITORE_BIN:?}
W=${BUILD_DIR:?}/tests/store_writer
C=$BUILD_DIR/tests/store_check
F=$BUILD_DIR/tests/store_fill
SEED=${BANDITORE_CRASH_SEED:-$$}
RANDOM=$SEED
echo "seed $SEED (set BANDITORE_CRASH_SEED=$SEED to replay)"
T=$(mktemp -d "${TMPDIR:-/tmp}/bnd-crash.XXXXXX")
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

# ---- 1. kill -9 a group-committing writer -------------------------------------
D=$T/w
LOG=$T/acks.log
: >"$LOG"
kills=0; runs=0; with_acks=0
t0=$(now_ms)
while [ "$kills" -lt 50 ] && [ "$runs" -lt 99 ] && [ $(( $(now_ms) - t0 )) -lt 150000 ]; do
	before=$(grep -c '^A' "$LOG")
	rm -f "$T/ready"
	"$W" "$D" "$runs" 4 30 "$T/ready" >>"$LOG" 2>>"$T/writer.err" &
	PID=$!
	if [ $((RANDOM % 5)) = 0 ]; then
		# one run in five: any moment from the start, the open and its
		# recovery included
		sleep_ms $(( RANDOM % 150 ))
	else
		# otherwise while it writes: a random moment after the open
		for _ in $(seq 1 500); do [ -e "$T/ready" ] && break; sleep 0.01; done
		sleep_ms $(( RANDOM % 150 ))
	fi
	if kill -9 "$PID" 2>/dev/null; then
		wait "$PID" 2>/dev/null; st=$?
		PID=""
		if [ "$st" = 137 ]; then kills=$((kills + 1)); else fail "writer run $runs exited $st before the kill"; fi
	else
		wait "$PID"; st=$?; PID=""
		fail "writer run $runs ended by itself (exit $st): $(tail -2 "$T/writer.err")"
	fi
	runs=$((runs + 1))
	# A kill during the writer's write(2) of a batch of ack lines can cut
	# it short (a fatal signal ends a large write between pages): drop the
	# torn last line, or the next run's lines would be glued to it. The
	# acks it held are just not checked; every complete line still is.
	python3 - "$LOG" <<'PY2'
import os, sys
p = sys.argv[1]
b = open(p, "rb").read()
if b and not b.endswith(b"\n"):
    with open(p, "r+b") as f:
        f.truncate(b.rfind(b"\n") + 1)
PY2
	after=$(grep -c '^A' "$LOG")
	[ "$after" -gt "$before" ] && with_acks=$((with_acks + 1))
	[ -d "$D" ] || continue
	if ! "$B" --data "$D" subscribers verify >"$T/v.out" 2>"$T/v.err"; then
		fail "verify after kill $kills: $(cat "$T/v.err")"
		break
	fi
	if [ "$after" -gt 0 ] && ! "$C" acks "$D" "$LOG" >"$T/c.out" 2>"$T/c.err"; then
		fail "acknowledged records lost after kill $kills: $(cat "$T/c.err")"
		break
	fi
done
"$C" acks "$D" "$LOG" || fail "final check of acknowledged records"
echo "writer: $kills kills in $runs runs ($with_acks runs acknowledged records before the kill), $(( $(now_ms) - t0 )) ms"
[ "$kills" -ge 50 ] || fail "only $kills kills of the writer (want >= 50)"
[ "$with_acks" -ge 30 ] || fail "only $with_acks runs acknowledged anything before the kill: the kills came too early to test much"
grep -q "torn tail" "$T/writer.err" "$T/v.out" 2>/dev/null && echo "writer: torn tails were met and repaired"

# ---- 2. kill -9 a running compaction ------------------------------------------------
D=$T/c
N=100000
CHUNK=100
awk -v n=$N 'BEGIN { for (i = 0; i < n; i++) printf "39%d%09d\n", 3, (i * 7919) % 1000000000 }' >"$T/all.txt"
[ "$(sort -u "$T/all.txt" | wc -l)" = "$N" ] || fail "generator: numbers not unique"
# The base grows as through the webhook path: each number with its own
# source id (tests/tools/store_fill), then one group commit.
"$F" "$D" "$T/all.txt" >/dev/null 2>"$T/fill.err" || fail "fill: $(cat "$T/fill.err")"
: >"$T/gone.txt"
removed=0            # numbers removed so far: lines 1..removed of all.txt

# remove_chunk: unsubscribe the next CHUNK numbers (not killed)
remove_chunk() {
	sed -n "$((removed + 1)),$((removed + CHUNK))p" "$T/all.txt" >"$T/chunk.txt"
	"$B" --data "$D" subscribers remove "$T/chunk.txt" >/dev/null 2>"$T/rm.err" ||
		{ fail "remove: $(cat "$T/rm.err")"; return 1; }
	cat "$T/chunk.txt" >>"$T/gone.txt"
	removed=$((removed + CHUNK))
	tail -n +"$((removed + 1))" "$T/all.txt" >"$T/live.txt"
}

# One compaction without a kill, timed, to aim the kills inside its run time.
remove_chunk
s=$(now_ms)
"$B" --data "$D" subscribers compact --json >"$T/cmp.out" 2>"$T/cmp.err" || fail "compact: $(cat "$T/cmp.err")"
TC=$(( $(now_ms) - s ))
grep -q "\"erased\":$CHUNK" "$T/cmp.out" || fail "first compaction: $(cat "$T/cmp.out")"
: >"$T/gone.txt"
echo "compaction of $N numbers takes ${TC} ms (process start included)"
[ "$TC" -lt 1 ] && TC=1

kills=0; rounds=0; old=0; new=0
t0=$(now_ms)
while [ "$kills" -lt 50 ] && [ "$rounds" -lt 200 ] && [ $(( $(now_ms) - t0 )) -lt 150000 ]; do
	remove_chunk || break
	# a random moment within the compaction's run time (a few land after it)
	kill9_within $((TC * 11 / 10)) "$T/cmp.out" "$T/cmp.err" "$B" --data "$D" subscribers compact
	st=$ST
	rounds=$((rounds + 1))
	if [ "$st" = 137 ]; then
		kills=$((kills + 1))
	elif [ "$st" != 0 ]; then
		fail "compact exited $st: $(cat "$T/cmp.err")"
		break
	fi
	if ! "$B" --data "$D" subscribers verify >"$T/v.out" 2>"$T/v.err"; then
		fail "verify after compaction round $rounds: $(cat "$T/v.err")"
		break
	fi
	if ! res=$("$C" sets "$D" "$T/live.txt" "$T/gone.txt" 2>"$T/c.err"); then
		fail "after compaction round $rounds (exit $st): $(cat "$T/c.err")"
		break
	fi
	case "$res" in
	new) new=$((new + 1)); : >"$T/gone.txt" ;;
	old) old=$((old + 1)) ;;
	*) fail "store_check sets said '$res'"; break ;;
	esac
done
echo "compaction: $kills kills in $rounds rounds; afterwards old set $old times, new set $new times; $(( $(now_ms) - t0 )) ms"
[ "$kills" -ge 50 ] || fail "only $kills kills landed on a running compaction (want >= 50)"
[ "$old" -ge 1 ] || fail "no kill left the old set: the kills never interrupted a compaction"

# A last, complete compaction erases everything removed so far.
"$B" --data "$D" subscribers compact >/dev/null 2>"$T/cmp.err" || fail "final compact: $(cat "$T/cmp.err")"
sed -n "1,${removed}p" "$T/all.txt" >"$T/gone.txt"
res=$("$C" sets "$D" "$T/live.txt" "$T/gone.txt") || fail "final state"
[ "$res" = new ] || fail "after the final compaction every removed number must be gone (got '$res')"
"$B" --data "$D" subscribers verify >/dev/null || fail "final verify"

if [ "$fails" -ne 0 ]; then echo "test_store_crash: $fails failures (seed $SEED)" >&2; exit 1; fi
echo "test_store_crash: all passed"
