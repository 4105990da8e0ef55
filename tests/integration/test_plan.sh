#!/usr/bin/env bash
# test_plan.sh - `banditore plan` end to end through the real binary: the
# report, --json against PRODUCT.md's contract and the closed forms, input
# errors (exit 2, message on stderr, nothing on stdout), --simulate's
# guards and a missing or broken wa-mock (the acceptance run itself is in
# test_plan_simulate.sh), --plot to SVG and PNG, and a missing gnuplot.
# Env: BANDITORE_BIN (the banditore binary). No process outlives a call
# (each is bounded by `timeout`); nothing listens on any port.
set -euo pipefail

BIN=${BANDITORE_BIN:-}
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "FAIL: banditore binary not found at '${BIN:-<BANDITORE_BIN unset>}':" \
       "the CLI (tools/banditore/main.c wiring cmd_plan) must be merged and built" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "FAIL: python3 is needed to check the JSON" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
plan() { timeout 60 "$BIN" plan "$@"; }

# json_check FILE PYTHON-EXPR...: each expression, with `j` the parsed
# object, must be true.
json_check() {
  local file=$1; shift
  python3 - "$file" "$@" <<'EOF' || return 1
import json, sys
j = json.load(open(sys.argv[1]))
bad = [e for e in sys.argv[2:] if not eval(e, {"j": j, "abs": abs})]
for e in bad:
    print("  false:", e, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# --help
out=$(plan --help) || fail "--help exits non-zero"
grep -q -- '--subscribers' <<<"$out" || fail "--help does not mention --subscribers"

# The reference's figures: 300,000 at 80/s ~ 63 min, at 1,000/s ~ 5 min.
plan --subscribers 300000 --rate 80 --json >"$work/80.json" || fail "plan 80/s exits non-zero"
json_check "$work/80.json" \
  '3750 < j["seconds_to_last_recipient"] < 3760' \
  'isinstance(j["window"], int) and j["window"] >= 1' \
  'j["warnings"] == []' \
  'abs(j["coverage_5m"] - 80 * 300 / 300000) < 0.002' \
  'j["coverage_1m"] < j["coverage_5m"] < j["coverage_15m"] <= 1' \
  'j["effective_rate"] == 80 and j["limited_by"] == "rate"' \
  'len(j["series"]) == 61 and j["series"][0]["coverage"] == 0' \
  'all(a["coverage"] <= b["coverage"] for a, b in zip(j["series"], j["series"][1:]))' \
  || fail "300,000 at 80/s"

plan --subscribers 300000 --rate 1000 --window 200 --latency-ms 200 --dispatch-overhead-ms 0 \
  --json >"$work/1000.json" || fail "plan 1000/s exits non-zero"
json_check "$work/1000.json" \
  'abs(j["seconds_to_last_recipient"] - 300.2) < 0.05' \
  'j["window"] == 200 and j["connections"] == 2 and j["connections_http1"] == 200' \
  'j["warnings"] == []' 'j["inputs"]["dispatch_overhead_ms"] == 0' \
  || fail "300,000 at 1,000/s, 200 ms"

# The sender holds a slot for the latency plus its dispatch overhead (5 ms by
# default): 200 slots at 205 ms carry 975.6/s; the plan asks for 205.
plan --subscribers 300000 --rate 1000 --window 200 --latency-ms 200 --json >"$work/1000d.json" \
  || fail "plan 1000/s with overhead exits non-zero"
json_check "$work/1000d.json" \
  'abs(j["effective_rate"] - 200 / 0.205) < 1e-6 and j["limited_by"] == "window"' \
  'j["window"] == 205 and j["window_min"] == 205' \
  'j["warning_codes"] == ["window_small"]' \
  'j["inputs"]["dispatch_overhead_ms"] == 5 and j["model"] == "banditore-plan/2"' \
  || fail "dispatch overhead"

# Little's law: the default window cannot carry 1,000/s at 250:2000 ms.
plan --subscribers 300000 --rate 1000 --json >"$work/little.json" || fail "plan little exits non-zero"
json_check "$work/little.json" \
  'j["limited_by"] == "window" and j["effective_rate"] < 1000' \
  '"window_small" in j["warning_codes"]' \
  'j["seconds_to_last_recipient"] > 1000' \
  || fail "window-limited plan"

# Tier 100K: three 24 h windows, a warning, days instead of an hour.
plan --subscribers 300000 --rate 80 --tier 100k --json >"$work/tier.json" || fail "plan tier exits non-zero"
json_check "$work/tier.json" \
  'j["seconds_to_last_recipient"] > 2 * 86400' \
  'j["tier_windows"] == 3 and j["inputs"]["tier"] == 100000' \
  '"tier" in j["warning_codes"] and len(j["warnings"]) == len(j["warning_codes"])' \
  'all(isinstance(w, str) and w for w in j["warnings"])' \
  || fail "tier 100K"

# Errors make it slower, never faster.
plan --subscribers 300000 --rate 80 --error-rate 10% --json >"$work/err.json" || fail "plan errors exits non-zero"
python3 - "$work/80.json" "$work/err.json" <<'EOF' || fail "errors do not slow the plan down"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert b["seconds_to_last_recipient"] > a["seconds_to_last_recipient"], (a, b)
assert b["retry_overhead"] > 0.1 and "errors" in b["warning_codes"]
EOF

# The human report.
plan --subscribers 300000 --rate 80 --tier 100000 >"$work/report.txt" || fail "report exits non-zero"
grep -q 'last recipient reached after' "$work/report.txt" || fail "report lacks the time to the last recipient"
grep -q 'coverage at 1 / 5 / 15 min' "$work/report.txt" || fail "report lacks the coverage line"
grep -q '^warnings:' "$work/report.txt" && grep -q 'tier 100,000' "$work/report.txt" \
  || fail "report lacks the tier warning"

# Bad input: exit 2, one clear line on stderr naming the flag, nothing on stdout.
bad() {
  local flag=$1; shift
  local rc=0
  plan "$@" >"$work/bad.out" 2>"$work/bad.err" || rc=$?
  [ "$rc" -eq 2 ] || fail "plan $* exits $rc, not 2"
  [ ! -s "$work/bad.out" ] || fail "plan $* printed on stdout"
  grep -q -- "$flag" "$work/bad.err" || fail "plan $* does not name $flag: $(cat "$work/bad.err")"
}
bad --subscribers
bad --subscribers --subscribers -5
bad --subscribers --subscribers 0
bad --subscribers --subscribers 2000000000
bad --subscribers --subscribers 12abc
bad --rate --subscribers 1000 --rate 0
bad --rate --subscribers 1000 --rate -80
bad --rate --subscribers 1000 --rate nan
bad --rate --subscribers 1000 --rate 1e9
bad --tier --subscribers 1000 --tier 5000
bad --latency-ms --subscribers 1000 --latency-ms 0
bad --latency-ms --subscribers 1000 --latency-ms 900:100
bad --error-rate --subscribers 1000 --error-rate 1.5
bad --error-rate --subscribers 1000 --error-rate -0.1
bad --window --subscribers 1000 --window 0
bad --plot --subscribers 1000 --plot out.pdf
bad --bogus --subscribers 1000 --bogus
bad --dispatch-overhead-ms --subscribers 1000 --dispatch-overhead-ms 2000
bad --dispatch-overhead-ms --subscribers 1000 --dispatch-overhead-ms x

# --simulate's guards: refused before anything starts (exit 2), naming the
# flag that allows more; bad values of its flags.
export TMPDIR="$work/tmp"   # every simulation's temp dir must be gone after it
mkdir -p "$TMPDIR"
bad --simulate-max-seconds --subscribers 100000 --rate 80 --simulate
grep -q 'would run for about 125' "$work/bad.err" || fail "guard does not give the predicted duration"
bad --simulate-max-recipients --subscribers 1000000 --rate 1000 --window 2000 --simulate \
  --simulate-max-seconds 3600
bad '--rate' --subscribers 100 --rate 0.5 --simulate
bad --simulate-max-seconds --subscribers 100 --simulate --simulate-max-seconds 0
bad --simulate-max-seconds --subscribers 100 --simulate --simulate-max-seconds 100000
bad --simulate-tolerance --subscribers 100 --simulate --simulate-tolerance 0
bad --simulate-max-recipients --subscribers 100 --simulate --simulate-max-recipients 0
bad --wa-mock --subscribers 100 --simulate --wa-mock ''

# No wa-mock: one clear line, exit 1, nothing on stdout, nothing left behind.
sim_fails() {   # sim_fails PATTERN ENV-ASSIGNMENT... -- ARGS...
  local pat=$1; shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  local rc=0
  env "${envs[@]}" timeout 60 "$BIN" plan "$@" >"$work/sim.out" 2>"$work/sim.err" || rc=$?
  [ "$rc" -eq 1 ] || fail "plan $* exits $rc, not 1: $(cat "$work/sim.err")"
  [ ! -s "$work/sim.out" ] || fail "plan $* printed on stdout"
  grep -q -- "$pat" "$work/sim.err" || fail "plan $*: no '$pat' in: $(cat "$work/sim.err")"
}
sim_fails 'not an executable file' BANDITORE_WA_MOCK=/nonexistent/wa-mock -- \
  --subscribers 100 --simulate
sim_fails "--wa-mock '/nonexistent/x' is not an executable" X=1 -- \
  --subscribers 100 --simulate --wa-mock /nonexistent/x
# Found nowhere: banditore copied alone into an empty directory, PATH empty.
mkdir -p "$work/alone"
cp "$BIN" "$work/alone/banditore"
rc=0
env PATH=/nonexistent BANDITORE_WA_MOCK= "$work/alone/banditore" plan --subscribers 100 --simulate \
  >"$work/sim.out" 2>"$work/sim.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'needs wa-mock: not found next to' "$work/sim.err" \
  || fail "wa-mock nowhere: exit $rc: $(cat "$work/sim.err")"
# A wa-mock that dies at start (here: a script that prints and exits 3).
printf '#!/bin/sh\necho "fake wa-mock: cannot bind" >&2\nexit 3\n' >"$work/dead-mock"
chmod +x "$work/dead-mock"
sim_fails 'exited at start with status 3: fake wa-mock: cannot bind' X=1 -- \
  --subscribers 100 --simulate --wa-mock "$work/dead-mock"
[ -z "$(ls -A "$TMPDIR")" ] || fail "a simulation left files in TMPDIR: $(ls -A "$TMPDIR")"

# --plot: SVG and PNG, with the JSON still clean on stdout.
plan --subscribers 300000 --rate 80 --plot "$work/curve.svg" --json >"$work/plot.json" \
  || fail "--plot svg exits non-zero"
json_check "$work/plot.json" 'j["plot"].endswith("curve.svg")' || fail "--plot with --json"
[ -s "$work/curve.svg" ] && grep -q '<svg' "$work/curve.svg" || fail "no SVG written"
grep -q '300,000 recipients at 80 msg/s' "$work/curve.svg" || fail "SVG title lacks N and rate"
grep -q 'tier unlimited' "$work/curve.svg" || fail "SVG title lacks the tier"
grep -q 'time since the first request (minutes)' "$work/curve.svg" || fail "SVG lacks the time axis label"
plan --subscribers 300000 --rate 80 --tier 100000 --plot "$work/curve.PNG" >/dev/null \
  || fail "--plot png exits non-zero"
python3 - "$work/curve.PNG" <<'EOF' || fail "no readable PNG written"
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "magic"
w, h = struct.unpack(">II", d[16:24])
assert (w, h) == (1000, 600), (w, h)
EOF
ls "$work" | grep -q '\.tmp' && fail "a temporary plot file was left behind"

# A missing gnuplot is one clear error, exit 1, and no file.
rc=0
BANDITORE_GNUPLOT=/nonexistent/gnuplot plan --subscribers 1000 --plot "$work/none.png" \
  >/dev/null 2>"$work/gp.err" || rc=$?
[ "$rc" -eq 1 ] || fail "missing gnuplot exits $rc, not 1"
grep -q 'gnuplot not found' "$work/gp.err" || fail "missing gnuplot message: $(cat "$work/gp.err")"
[ ! -e "$work/none.png" ] || fail "a plot file appeared without gnuplot"

if [ "$fails" -ne 0 ]; then
  echo "test_plan: $fails failure(s)" >&2
  exit 1
fi
echo "test_plan: all passed"
