#!/usr/bin/env bash
# demo.sh - what Banditore does so far, end to end, in a few seconds after
# the build: a city migrates its subscriber list into the store, checks it,
# removes the citizens who asked city hall, and erases them from disk.
# Later stages grow this into the full webhook + fan-out demo.
#
# Everything happens in a temporary directory (removed at the end, or kept
# with DEMO_KEEP=1); nothing is left running.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
echo "==> building (tools/build.sh)"
LOG=$(mktemp)
if ! BUILD=$("$ROOT/tools/build.sh" "$ROOT/build" 2>"$LOG" | tail -1); then
	tail -30 "$LOG" >&2; rm -f "$LOG"; echo "demo.sh: the build failed" >&2; exit 1
fi
rm -f "$LOG"
BIN=$BUILD/tools/banditore
[ -x "$BIN" ] || { echo "demo.sh: $BIN was not built" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/banditore-demo.XXXXXX")
BG=""
cleanup() {
	[ -n "$BG" ] && kill "$BG" 2>/dev/null && wait "$BG" 2>/dev/null
	if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
DATA=$WORK/banditore-data
echo "(\$DEMO below is $WORK)"
# b ARGS: show the command (paths shortened, numbers masked) and run it
b() {
	echo "\$ banditore $*" | sed -E -e "s#$WORK#\$DEMO#g" \
		-e 's/\+?[0-9]{5}[0-9 -]{4,}([0-9]{3})/<a number>/g'
	"$BIN" "$@" 2>&1
}
step() { printf '\n==> %s\n' "$*"; }

step "a city's existing list: 100,000 numbers (seeded), written the ways people write them"
awk 'BEGIN {
	srand(2024); n = 0
	while (n < 100000) {
		d = sprintf("%02d%07d", 20 + int(rand() * 80), int(rand() * 10000000))
		if (d in seen) continue
		seen[d] = 1; n++
		f = n % 4
		if (f == 0)      printf "+39 3%s %s\n", substr(d, 1, 2), substr(d, 3)
		else if (f == 1) printf "393%s\n", d
		else if (f == 2) printf "0039 3%s-%s\n", substr(d, 1, 2), substr(d, 3)
		else             printf "+393%s\n", d
		if (n == 500) print "call the mayor"          # not a number
		if (n == 9000) print "+39 335 12"             # too short
		if (n == 20000) print ""                      # blank: ignored
	}
}' >"$WORK/list.txt"
echo "$(wc -l <"$WORK/list.txt") lines in list.txt, in these shapes (digits hidden):"
sed -n '1,4p' "$WORK/list.txt" | sed 's/[0-9]/#/g'       # no full number on screen

step "import them as confirmed subscribers (one group commit; invalid lines named by line number)"
s=$(date +%s%N)
b --data "$DATA" subscribers import "$WORK/list.txt"
ms=$(( ($(date +%s%N) - s) / 1000000 ))
echo "(${ms} ms including process start)"

step "count by state"
b --data "$DATA" subscribers count
b --data "$DATA" subscribers count --json

step "importing the same list again changes nothing (idempotent)"
b --data "$DATA" subscribers import "$WORK/list.txt"

step "data files are private (0600) in a 0700 directory"
ls -l "$DATA" | sed "s#$WORK#\$DEMO#g"

step "verify every checksum (read-only: works while the service runs)"
b --data "$DATA" subscribers verify

step "three citizens asked city hall to stop: one by phone, two by e-mail (a file)"
sed -n 1p "$WORK/list.txt" >"$WORK/phone-call.txt"
sed -n '2,3p' "$WORK/list.txt" >"$WORK/emails.txt"
b --data "$DATA" subscribers remove "$(cat "$WORK/phone-call.txt")"
b --data "$DATA" subscribers remove "$WORK/emails.txt"
b --data "$DATA" subscribers count --json

step "while another process writes (here a slow import from a pipe), writers get one clear line, readers still work"
(sleep 3) | "$BIN" --data "$DATA" subscribers import - >/dev/null 2>&1 &
BG=$!
for _ in $(seq 1 40); do
	rc=0; "$BIN" --data "$DATA" subscribers remove 393999999999 >/dev/null 2>"$WORK/lock.err" || rc=$?
	[ "$rc" = 3 ] && break
	sleep 0.05
done
echo "\$ banditore subscribers remove ...   (exit $rc)"
sed "s#$WORK#\$DEMO#g" "$WORK/lock.err"
b --data "$DATA" subscribers count --json
wait "$BG" || true
BG=""

step "compact: rewrite the live set; the removed numbers are physically erased"
b --data "$DATA" subscribers compact
digits=$(tr -cd '0-9' <"$WORK/phone-call.txt")
if grep -r -q -F "$digits" "$DATA"; then echo "the number is still on disk (unexpected)"; else
	echo "grep -r for the removed number's digits over the data directory: nothing found"; fi
b --data "$DATA" subscribers count --json
b --data "$DATA" subscribers verify

step "export refuses without an explicit flag (full numbers are personal data)"
b --data "$DATA" subscribers export || echo "(exit $?)"

printf '\ndone. Next stages of the demo: serve (webhooks, JESI ON/OFF) and send (fan-out to wa-mock).\n'
