#!/usr/bin/env bash
# test_journal_crash.sh - kill -9 the journal's crash-test subject
# (tests/tools/journal_writer.c) at >= 50 random moments while it records
# outcomes with group commit, and after every kill check that:
#   - the journal reopens (a torn tail is repaired, never an error);
#   - every outcome it acknowledged (printed after its commit) is there;
#   - no CURSOR record passes an ordinal that was not final before it;
#   - a resume finds at most WINDOW uncertain ordinals.
# Finally run each notice to the end and check that every recipient is
# final, nobody was skipped, and the recipients the simulated API accepted
# twice are no more than the re-sends the report counts as uncertain
# (which are themselves at most WINDOW per crash).
set -euo pipefail

WRITER=${BUILD_DIR:?BUILD_DIR not set}/tests/journal_writer
[ -x "$WRITER" ] || { echo "missing $WRITER" >&2; exit 1; }

KILLS=${JOURNAL_CRASH_KILLS:-50}
COUNT=40000        # recipients per notice
WINDOW=64          # in-flight window
PACE_US=10000      # per batch while killing: bounds the rate on fast disks
SEED=${JOURNAL_CRASH_SEED:-$RANDOM}
echo "seed $SEED, $KILLS kills, $COUNT recipients, window $WINDOW"
RANDOM=$SEED

WORK=$(mktemp -d /tmp/bnd-jcrash-XXXXXX)
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -9 "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

kills=0
dirs=()
max_uncertain=0
deadline=$((SECONDS + 600))    # the whole kill phase, bounded in time

new_dir() {
  DIR="$WORK/d${#dirs[@]}"
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  dirs+=("$DIR")
}
new_dir

while [ "$kills" -lt "$KILLS" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "kill phase took more than 600 s"
  "$WRITER" run "$DIR" "$COUNT" "$WINDOW" "$SEED" "$PACE_US" >>"$DIR/acks" 2>>"$DIR/err" &
  PID=$!
  # A random moment: 5..124 ms after the start.
  sleep "0.$(printf '%03d' $((5 + RANDOM % 120)))"
  if kill -9 "$PID" 2>/dev/null; then
    wait "$PID" 2>/dev/null || true
    kills=$((kills + 1))
  else
    wait "$PID" || fail "writer exited with an error: $(tail -3 "$DIR/err")"
  fi
  PID=""
  "$WRITER" check "$DIR" "$DIR/acks" >"$DIR/check.out" 2>&1 ||
    fail "after kill $kills: $(cat "$DIR/check.out")"
  if grep -q '^DONE' "$DIR/acks"; then
    new_dir   # this notice finished between kills: start another one
  fi
done

for DIR in "${dirs[@]}"; do
  # Resumes never found more uncertain ordinals than the window.
  while read -r n; do
    [ "$n" -le "$WINDOW" ] || fail "$DIR: a resume found $n uncertain ordinals (> $WINDOW)"
    [ "$n" -le "$max_uncertain" ] || max_uncertain=$n
  done < <(sed -n 's/^RESUME .* uncertain=\([0-9]*\) .*/\1/p' "$DIR/acks")
  # Run to the end, unpaced and uninterrupted.
  if ! grep -q '^DONE' "$DIR/acks"; then
    timeout 300 "$WRITER" run "$DIR" "$COUNT" "$WINDOW" "$SEED" 0 >>"$DIR/acks" 2>>"$DIR/err" ||
      fail "$DIR: final run failed: $(tail -3 "$DIR/err")"
  fi
  "$WRITER" check "$DIR" "$DIR/acks" >"$DIR/check.out" 2>&1 ||
    fail "$DIR: final check: $(cat "$DIR/check.out")"
  final=$("$WRITER" final "$DIR") || fail "$DIR: $final"
  echo "$final"
  resumes=$(grep -c '^RESUME' "$DIR/acks")
  uncertain=$(sed -n 's/.* uncertain=\([0-9]*\) .*/\1/p' <<<"$final")
  [ "$uncertain" -le $((resumes * WINDOW)) ] ||
    fail "$DIR: $uncertain uncertain re-sends over $resumes resumes exceed the window"
done

acks=$(cat "$WORK"/d*/acks | grep -c '^ACK ' || true)
echo "ok: $kills kills, ${#dirs[@]} notice(s), $acks acknowledged outcomes checked," \
     "at most $max_uncertain uncertain per resume"
