#!/usr/bin/env bash
# test_gate.sh - the performance gate (bench/gate.sh) can fail, and fails
# for the right reason:
#   1. a normal build passes against the committed baseline (cmd_parse and
#      wareq, the two workloads this test runs);
#   2. a build with -DBANDITORE_GATE_SLOWDOWN (about 140 wasted instructions
#      per cmd_parse call, engine/cmd.c) fails: exit 1, cmd_parse WORSE,
#      wareq still ok, and the failure line names cmd_parse;
#   3. --update on a copy of the baseline takes the new figure (then the
#      slow build passes against that copy) and keeps the other entries;
#   4. a workload missing from the baseline fails (NO BASELINE);
#   5. a different compiler in the baseline is a WARNING, not a failure.
# The two builds live in $BUILD_DIR/gate-test/{normal,slow} and are kept, so
# later runs rebuild only what changed. Needs valgrind and python3
# (tools/deps.sh installs both); without them the test fails, it does not
# pass unrun.
set -euo pipefail
: "${SRC_DIR:?SRC_DIR must name the source tree}"
: "${BUILD_DIR:?BUILD_DIR must name the build directory}"
GATE=$SRC_DIR/bench/gate.sh
BASE=$SRC_DIR/bench/baseline.json
G=$BUILD_DIR/gate-test
TMP=$(mktemp -d /tmp/gate-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
	exit 1
}
command -v valgrind >/dev/null || fail "valgrind is not installed (tools/deps.sh)"
command -v python3 >/dev/null || fail "python3 is not installed"
[ -f "$BASE" ] || fail "no committed baseline at $BASE"

# gate NAME ARGS...: run the gate (bounded), output in $TMP/NAME.out; sets RC.
gate() {
	local name=$1
	shift
	RC=0
	timeout -s KILL 600 "$GATE" "$@" >"$TMP/$name.out" 2>&1 || RC=$?
}
# row NAME WORKLOAD: the table row of WORKLOAD in $TMP/NAME.out
row() { grep -E "^$2 " "$TMP/$1.out" || true; }

ONLY=cmd_parse,wareq
SLOW=(--build-dir "$G/slow" --cmake-flags "-DCMAKE_C_FLAGS=-DBANDITORE_GATE_SLOWDOWN")

# 1. the normal build passes
gate normal --build-dir "$G/normal" --only "$ONLY"
[ $RC -eq 0 ] || fail "normal build: gate exited $RC, expected 0"
row normal cmd_parse | grep -q ' ok$' || fail "normal build: cmd_parse not ok: $(row normal cmd_parse)"
row normal wareq | grep -q ' ok$' || fail "normal build: wareq not ok: $(row normal wareq)"
grep -q '^gate: passed' "$TMP/normal.out" || fail "normal build: no 'gate: passed'"

# 2. the slowed-down build fails, naming cmd_parse
gate slow "${SLOW[@]}" --only "$ONLY"
[ $RC -eq 1 ] || fail "slow build: gate exited $RC, expected 1"
row slow cmd_parse | grep -q 'WORSE' || fail "slow build: cmd_parse not WORSE: $(row slow cmd_parse)"
row slow wareq | grep -q ' ok$' || fail "slow build: wareq should stay ok: $(row slow wareq)"
grep -q '^gate: FAILED -- cmd_parse: WORSE$' "$TMP/slow.out" ||
	fail "slow build: the failure line does not name cmd_parse alone"
delta=$(row slow cmd_parse | awk '{print $4}' | tr -d '+%')
python3 -c "import sys; d = float(sys.argv[1]); sys.exit(0 if 8 <= d <= 30 else 1)" "$delta" ||
	fail "slow build: cmd_parse delta $delta% is not the ~15% the slowdown adds"
# a looser threshold on the command line lets it through
gate slow_thr "${SLOW[@]}" --no-build --only cmd_parse --threshold 40
[ $RC -eq 0 ] || fail "slow build with --threshold 40: exit $RC, expected 0"

# 3. --update on a copy: takes the slow figure, keeps the other entries
cp "$BASE" "$TMP/b.json"
gate upd "${SLOW[@]}" --no-build --only cmd_parse --update --baseline "$TMP/b.json"
[ $RC -eq 0 ] || fail "--update exited $RC"
python3 - "$BASE" "$TMP/b.json" <<'PY' || fail "--update did not rewrite only cmd_parse"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
wa, wb = a["workloads"], b["workloads"]
assert set(wa) == set(wb), "entries changed"
for k in wa:
    if k == "cmd_parse":
        assert wb[k]["ir_per_op"] > wa[k]["ir_per_op"] * 1.08, (wa[k], wb[k])
    else:
        assert wb[k] == wa[k], k
PY
gate after "${SLOW[@]}" --no-build --only cmd_parse --baseline "$TMP/b.json"
[ $RC -eq 0 ] || fail "slow build against its own baseline: exit $RC, expected 0"

# 4. a workload without a baseline entry fails
python3 - "$BASE" "$TMP/partial.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
del b["workloads"]["cmd_parse"]
json.dump(b, open(sys.argv[2], "w"))
PY
gate partial --build-dir "$G/normal" --no-build --only cmd_parse --baseline "$TMP/partial.json"
[ $RC -eq 1 ] || fail "missing baseline entry: exit $RC, expected 1"
row partial cmd_parse | grep -q 'NO BASELINE' || fail "missing entry not reported"

# 5. another compiler in the baseline: a warning, still a pass
python3 - "$BASE" "$TMP/cc.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["toolchain"]["cc"] = "gcc (Imaginary) 99.0.0"
json.dump(b, open(sys.argv[2], "w"))
PY
gate cc --build-dir "$G/normal" --no-build --only cmd_parse --baseline "$TMP/cc.json"
[ $RC -eq 0 ] || fail "toolchain mismatch: exit $RC, expected 0 (a warning)"
grep -q '^WARNING: .*cc: baseline' "$TMP/cc.out" || fail "toolchain mismatch not warned about"

echo "PASS test_gate (slowdown: cmd_parse +$delta%)"
