#!/usr/bin/env bash
# test_subscribers_cli.sh - `banditore subscribers ...` end to end on a real
# data directory: import (invalid lines by line number, duplicates,
# idempotence, stdin), count --json exact figures, remove (one number, a
# file), verify (intact, torn tail reported then repaired by the next
# writer, damage -> exit 1 naming file and offset), compact + erasure (the
# removed numbers are found on disk before and nowhere after), file modes,
# the one-line lock message while another process holds the writer lock
# (readers still work), export refusal and export, --help at every level,
# config validation, and no full number in any output except export.
#
# Env (set by CTest): BANDITORE_BIN, BUILD_DIR.
set -u
B=${BANDITORE_BIN:?}
TOOLS=${BUILD_DIR:?}/tests
T=$(mktemp -d "${TMPDIR:-/tmp}/bnd-subcli.XXXXXX")
HOLD_PID=""
cleanup() {
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null && wait "$HOLD_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

D=$T/data
ALL=$T/all-output.log          # every byte printed, except by export
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
LAST=0
# ok SECTION: report the section that just ended
ok() { if [ "$fails" -eq "$LAST" ]; then echo "ok: $*"; else echo "FAILED: $*"; fi; LAST=$fails; }

# run EXPECTED_EXIT ARGS... : run banditore, keep stdout/stderr in $OUT/$ERR
run() {
	local want=$1; shift
	"$B" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
	cat "$T/out" "$T/err" >>"$ALL"   # outputs only: the arguments may hold numbers
	if [ "$RC" != "$want" ]; then
		fail "banditore $* exited $RC, expected $want; stderr: $ERR"
		return 1
	fi
	return 0
}
# jget JSON KEY : one field of a JSON object
jget() {
	python3 -c '
import json, sys
try: print(json.dumps(json.loads(sys.argv[1])[sys.argv[2]]))
except Exception: print("<no JSON field %s>" % sys.argv[2])' "$1" "$2"
}

# ---- a list to migrate: 1000 numbers in the forms people write ------------
# Number i (1..1000) is 39335 followed by 7 digits (0100000 + 7*i).
awk 'BEGIN {
	for (i = 1; i <= 1000; i++) {
		d = sprintf("%07d", 100000 + 7 * i);
		if (i % 3 == 0)      printf "+39 335 %s %s\n", substr(d, 1, 3), substr(d, 4);
		else if (i % 3 == 1) printf "39335%s\n", d;
		else                 printf "0039-335-%s\r\n", d;
	}
}' >"$T/numbers.txt"
awk 'BEGIN { for (i = 1; i <= 1000; i++) printf "39335%07d\n", 100000 + 7 * i }' >"$T/digits.txt"
# Insert invalid lines (they land on lines 3, 8 and 16), a blank line (12)
# and a duplicate of number 1 in another form (21).
awk 'NR == 3 { print "hello" } NR == 7 { print "+39 335 12" } NR == 13 { print "39335abc1234" }
     NR == 10 { print "" } NR == 17 { print "+39 335 010 0007" } { print }' "$T/numbers.txt" >"$T/import.txt"
[ "$(sed -n 3p "$T/import.txt")" = hello ] || fail "generator: line 3"
[ "$(sed -n 8p "$T/import.txt")" = "+39 335 12" ] || fail "generator: line 8"
[ -z "$(sed -n 12p "$T/import.txt")" ] || fail "generator: line 12"
[ "$(sed -n 16p "$T/import.txt")" = 39335abc1234 ] || fail "generator: line 16"
[ "$(sed -n 21p "$T/import.txt")" = "+39 335 010 0007" ] || fail "generator: line 21"
NLINES=$(wc -l <"$T/import.txt")

# ---- help, usage errors, config --------------------------------------------
run 0 --help && grep -q "subscribers" "$T/out" || fail "--help lists subcommands"
run 0 subscribers --help && grep -q "export --personal-data" "$T/out" || fail "subscribers --help"
for sub in count import remove verify compact export; do
	run 0 subscribers "$sub" --help && grep -q "usage: banditore" "$T/out" || fail "$sub --help"
done
run 2 frobnicate && grep -q "unknown subcommand" "$T/err" || fail "unknown subcommand message"
run 2 subscribers frobnicate || true
run 2 subscribers import || true
echo '[1,2]' >"$T/array.json"; echo '{"a":' >"$T/broken.json"; echo '{"keyword":"JESI"}' >"$T/good.json"
run 2 --config "$T/array.json" subscribers --data "$D" count && grep -q "object" "$T/err" || fail "config must be an object"
run 2 --config "$T/broken.json" subscribers --data "$D" count && grep -q "line" "$T/err" || fail "config parse error names the line"
run 1 --config "$T/good.json" subscribers --data "$D" count && grep -q "no subscriber store" "$T/err" \
	|| fail "count on a missing store says so"
[ -e "$D" ] && fail "a reader must not create the data directory"
ok "help, usage and config"

# ---- import ------------------------------------------------------------------
run 0 --data "$D" subscribers import "$T/import.txt" --json || true
IMP=$OUT
[ "$(jget "$IMP" imported)" = 1000 ] || fail "imported: $IMP"
[ "$(jget "$IMP" skipped)" = 1 ] || fail "the duplicate is skipped: $IMP"
[ "$(jget "$IMP" invalid)" = 3 ] || fail "3 invalid lines: $IMP"
[ "$(jget "$IMP" invalid_lines)" = "[3, 8, 16]" ] || fail "invalid line numbers: $IMP"
[ "$(jget "$IMP" lines)" = "$NLINES" ] || fail "lines: $IMP"
[ "$(jget "$IMP" blank)" = 1 ] || fail "blank: $IMP"
for l in 3 8 16; do grep -q "line $l:" "$T/err" || fail "stderr names line $l"; done
grep -q "line 12" "$T/err" && fail "a blank line is not an error"
ok "import reports invalid lines by number"

run 0 --data "$D" subscribers count --json || true
[ "$OUT" = '{"requested":0,"confirmed":1000,"unsubscribed":0,"invalid":0}' ] || fail "count --json: $OUT"

run 0 --data "$D" subscribers import "$T/import.txt" --json || true
[ "$(jget "$OUT" imported)" = 0 ] && [ "$(jget "$OUT" skipped)" = 1001 ] || fail "idempotent re-import: $OUT"
SIZE1=$(du -sb "$D" | cut -f1)
run 0 --data "$D" subscribers import "$T/import.txt" || true
grep -q "imported 0, skipped 1001" "$T/out" || fail "human import report: $OUT"
SIZE2=$(du -sb "$D" | cut -f1)
[ "$SIZE1" -le "$SIZE2" ] && [ $((SIZE2 - SIZE1)) -lt 4096 ] || fail "a re-import must not re-append ($SIZE1 -> $SIZE2 bytes)"
printf '+39 347 000 0001\n393470000002\n' | "$B" --data "$D" subscribers import - --json >"$T/out" 2>>"$ALL"
[ "$(jget "$(cat "$T/out")" imported)" = 2 ] || fail "import from stdin"
cat "$T/out" >>"$ALL"
run 0 --data "$D" subscribers count --json || true
[ "$OUT" = '{"requested":0,"confirmed":1002,"unsubscribed":0,"invalid":0}' ] || fail "count after stdin import: $OUT"
run 1 --data "$D" subscribers import "$T/no-such-file" || true
ok "import is idempotent"

# ---- modes -------------------------------------------------------------------
bad=$(find "$D" -type f ! -perm 0600)
[ -z "$bad" ] || fail "data files not 0600: $bad"
[ "$(stat -c %a "$D")" = 700 ] || fail "data directory mode $(stat -c %a "$D"), expected 700"
[ -n "$(find "$D" -type f)" ] || fail "no data files at all"
ok "data files are 0600"

# ---- remove -------------------------------------------------------------------
N1=$(sed -n 1p "$T/digits.txt")                 # 393350100007
M1="${N1:0:5}****${N1:9:3}"
run 0 --data "$D" subscribers remove "+${N1:0:2} ${N1:2}" || true
[ "$OUT" = "removed $M1 (was confirmed); run \`compact\` to erase it from disk" ] || fail "remove one: $OUT"
run 0 --data "$D" subscribers remove "$N1" || true
grep -q "already unsubscribed" "$T/out" || fail "remove twice: $OUT"
run 0 --data "$D" subscribers remove 393999999999 || true
grep -q "not in the store" "$T/out" || fail "remove unknown: $OUT"
# a file: numbers 2..10, number 1 again (already), one unknown, one invalid
{ sed -n 2,10p "$T/digits.txt"; echo "$N1"; echo 393999999998; echo "not a number"; } >"$T/remove.txt"
run 0 --data "$D" subscribers remove "$T/remove.txt" --json || true
[ "$(jget "$OUT" removed)" = 9 ] && [ "$(jget "$OUT" already_unsubscribed)" = 1 ] &&
	[ "$(jget "$OUT" not_found)" = 1 ] && [ "$(jget "$OUT" invalid_lines)" = "[12]" ] || fail "remove FILE: $OUT"
run 2 --data "$D" subscribers remove "$T/nope" && grep -q "neither a valid number" "$T/err" || fail "remove bad arg"
run 0 --data "$D" subscribers count --json || true
[ "$OUT" = '{"requested":0,"confirmed":992,"unsubscribed":10,"invalid":0}' ] || fail "count after remove: $OUT"
ok "remove"

# ---- verify ------------------------------------------------------------------
run 0 --data "$D" subscribers verify || true
grep -q "^ok: " "$T/out" || fail "verify ok: $OUT"
run 0 --data "$D" subscribers verify --json || true
[ "$(jget "$OUT" ok)" = true ] && [ "$(jget "$OUT" tail_dropped_bytes)" = 0 ] || fail "verify --json: $OUT"
ok "verify of an intact store"

# The log segment written last (store/FORMAT.md: seg-<16 hex digits>.log).
last_segment() { find "$1" -maxdepth 1 -name 'seg-*.log' | sort | tail -1; }

# Damage before the tail: a copy of the store with one byte flipped early on.
cp -a "$D" "$T/damaged"
SEG=$(last_segment "$T/damaged")
[ -n "$SEG" ] || fail "no segment file found"
python3 - "$SEG" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = len(b) // 3          # well before the tail
b[i] ^= 0x5A
open(p, 'wb').write(bytes(b))
EOF
run 1 --data "$T/damaged" subscribers verify || true
grep -q "offset [0-9]" "$T/err" && grep -q "$(basename "$SEG")" "$T/err" ||
	fail "verify on damage names file and offset: $ERR"
[ "$(grep -c . "$T/err")" -ge 1 ] || fail "verify on damage prints a message"
run 1 --data "$T/damaged" subscribers verify --json || true
[ "$(jget "$OUT" ok)" = false ] || fail "verify --json on damage: $OUT"
ok "verify finds damage and names file and offset"

# Torn tail: the last record cut short, as by a power loss mid-write.
cp -a "$D" "$T/torn"
SEG=$(last_segment "$T/torn")
truncate -s -5 "$SEG"
run 0 --data "$T/torn" subscribers verify || true
grep -q "torn tail" "$T/out" || fail "verify reports the torn tail: $OUT"
run 0 --data "$T/torn" subscribers verify --json || true
[ "$(jget "$OUT" tail_dropped_bytes)" != 0 ] || fail "verify --json tail_dropped_bytes: $OUT"
run 0 --data "$T/torn" subscribers remove 393999999997 || true
grep -q "repaired a torn tail" "$T/err" || fail "the next writer repairs the tail: $ERR"
run 0 --data "$T/torn" subscribers verify --json || true
[ "$(jget "$OUT" tail_dropped_bytes)" = 0 ] && [ "$(jget "$OUT" ok)" = true ] || fail "no tail after repair: $OUT"
run 0 --data "$T/torn" subscribers count --json || true
# the cut record was the last removal (number 10): it is confirmed again, no other loss
[ "$OUT" = '{"requested":0,"confirmed":993,"unsubscribed":9,"invalid":0}' ] || fail "count after repair: $OUT"
ok "torn tail reported, then repaired by the next writer"

# ---- lock held by another process -----------------------------------------------
"$TOOLS/store_hold" "$D" 60 >"$T/hold.out" 2>"$T/hold.err" &
HOLD_PID=$!
for _ in $(seq 1 100); do grep -q locked "$T/hold.out" 2>/dev/null && break; sleep 0.05; done
grep -q locked "$T/hold.out" || fail "store_hold did not take the lock: $(cat "$T/hold.err")"
for cmd in "remove $N1" "import $T/import.txt" compact; do
	# shellcheck disable=SC2086
	start=$(date +%s%N)
	run 3 --data "$D" subscribers $cmd || true
	el=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$(wc -l <"$T/err")" = 1 ] || fail "$cmd: expected one line on stderr, got: $ERR"
	grep -q "store_hold test helper (pid $HOLD_PID)" "$T/err" || fail "$cmd: the holder is named: $ERR"
	grep -q "POST /v1/" "$T/err" && grep -q "banditore serve" "$T/err" || fail "$cmd: the operator API is named: $ERR"
	[ -z "$OUT" ] || fail "$cmd: nothing on stdout when locked"
	[ "$el" -lt 2000 ] || fail "$cmd waited ${el} ms for the lock"
done
run 0 --data "$D" subscribers count --json || true
[ "$OUT" = '{"requested":0,"confirmed":992,"unsubscribed":10,"invalid":0}' ] || fail "count while locked: $OUT"
run 0 --data "$D" subscribers verify || true
kill "$HOLD_PID"; wait "$HOLD_PID" 2>/dev/null; HOLD_PID=""
ok "lock held: one clear line, exit 3, readers still work"

# ---- compact and erasure ---------------------------------------------------------
sed -n 1,10p "$T/digits.txt" >"$T/removed.txt"
# find_on_disk DIR NUMBERS_FILE: how many of the numbers are found in any file
# of DIR as ASCII digits, as a 64-bit integer (either byte order), or as the
# low 6 bytes of a little-endian integer (a number < 2^50 packed with other
# bits above it, as index slots in a hint file are).
find_on_disk() {
	python3 - "$1" "$2" <<'EOF'
import os, struct, sys
d, nums = sys.argv[1], [int(l) for l in open(sys.argv[2]) if l.strip()]
blobs = [open(os.path.join(r, f), 'rb').read() for r, _, fs in os.walk(d) for f in fs]
found = 0
for n in nums:
    pats = [str(n).encode(), struct.pack('<Q', n)[:6], struct.pack('>Q', n)]
    if any(p in b for b in blobs for p in pats):
        found += 1
print(found)
EOF
}
before=$(find_on_disk "$D" "$T/removed.txt")
[ "$before" = 10 ] || fail "before compaction the removed numbers should be on disk (found $before of 10): the erasure check could not fail"
run 0 --data "$D" subscribers compact --json || true
[ "$(jget "$OUT" erased)" = 10 ] || fail "compact erased: $OUT"
[ "$(jget "$OUT" records_after)" = 992 ] || fail "compact records_after: $OUT"
bb=$(jget "$OUT" bytes_before); ba=$(jget "$OUT" bytes_after)
[ "$ba" -lt "$bb" ] || fail "compaction should shrink the files: $OUT"
after=$(find_on_disk "$D" "$T/removed.txt")
[ "$after" = 0 ] || fail "after compaction $after removed numbers are still on disk"
while read -r n; do
	if grep -r -q -F "$n" "$D"; then fail "grep -r finds $n after compaction"; fi
done <"$T/removed.txt"
live=$(sed -n 11,1000p "$T/digits.txt" | head -50 >"$T/live50.txt"; find_on_disk "$D" "$T/live50.txt")
[ "$live" = 50 ] || fail "live numbers must still be on disk ($live of 50)"
run 0 --data "$D" subscribers count --json || true
[ "$OUT" = '{"requested":0,"confirmed":992,"unsubscribed":0,"invalid":0}' ] || fail "count after compact: $OUT"
run 0 --data "$D" subscribers verify || true
bad=$(find "$D" -type f ! -perm 0600)
[ -z "$bad" ] || fail "files after compaction not 0600: $bad"
run 0 --data "$D" subscribers compact || true
grep -q "erased 0" "$T/out" || fail "second compact: $OUT"
ok "compact erases removed numbers from disk"

# ---- export ---------------------------------------------------------------------------
run 2 --data "$D" subscribers export || true
grep -q -- "--personal-data" "$T/err" || fail "export refusal names the flag: $ERR"
[ -z "$OUT" ] || fail "export without the flag prints nothing on stdout"
"$B" --data "$D" subscribers export --personal-data >"$T/export.csv" 2>"$T/export.err"
[ $? = 0 ] || fail "export --personal-data: $(cat "$T/export.err")"
cat "$T/export.err" >>"$ALL"
[ "$(head -1 "$T/export.csv")" = "number,state,t_ms" ] || fail "export header"
[ "$(($(wc -l <"$T/export.csv") - 1))" = 992 ] || fail "export rows"
grep -q "^$(sed -n 11p "$T/digits.txt"),confirmed,[0-9]\{13\}$" "$T/export.csv" || fail "export row format"
grep -q "^$N1," "$T/export.csv" && fail "an erased number is exported"
sort -c -t, -k1,1n <(tail -n +2 "$T/export.csv") || fail "export is sorted"
run 0 --data "$D" subscribers export --personal-data --output "$T/export2.csv" || true
[ "$(stat -c %a "$T/export2.csv")" = 600 ] || fail "export --output file mode"
cmp -s "$T/export.csv" "$T/export2.csv" || fail "export --output content"
ok "export"

# ---- privacy: no full number anywhere in the output -------------------------------
[ -s "$ALL" ] || fail "no output captured"
{ cat "$T/digits.txt"; echo 393470000001; echo 393470000002; } >"$T/all-digits.txt"
if grep -F -f "$T/all-digits.txt" "$ALL" >"$T/leaks"; then
	fail "full numbers printed: $(head -3 "$T/leaks")"
fi
grep -q -F "$M1" "$ALL" || fail "the masked form is used"
ok "no full number printed outside export"

if [ "$fails" -ne 0 ]; then echo "test_subscribers_cli: $fails failures" >&2; exit 1; fi
echo "test_subscribers_cli: all passed"
