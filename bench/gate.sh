#!/usr/bin/env bash
# gate.sh - the CI performance gate (docs/BENCH-GATE.md): instructions per
# operation of fixed, deterministic workloads under callgrind, compared with
# bench/baseline.json.
#
#   bench/gate.sh [--update] [--threshold PCT] [--only NAME[,NAME...]]
#                 [--build-dir DIR] [--cmake-flags "FLAGS"] [--baseline FILE]
#                 [--no-build] [--list]
#
#   --update          rewrite the baseline with this run's figures (with
#                     --only: only those entries; the others are kept)
#   --threshold PCT   compare with this threshold instead of the workloads'
#                     own (the table below; baseline.json only records them)
#   --only NAMES      run only these workloads (comma-separated)
#   --build-dir DIR   build and measure in DIR (default ./build-gate)
#   --cmake-flags F   extra cmake arguments, after the fixed ones (e.g.
#                     "-DCMAKE_C_FLAGS=-DBANDITORE_GATE_SLOWDOWN" in the test)
#   --baseline FILE   compare with / write FILE (default bench/baseline.json)
#   --no-build        measure what DIR holds (it must have been built by gate.sh)
#   --list            print the workloads and exit
#
# Build: always RelWithDebInfo, BANDITORE_BENCH=ON, TESTS/FUZZ/SANITIZE off,
# empty CMAKE_C_FLAGS, gcc (GATE_CC to change it, which shifts counts), then
# --cmake-flags; only the targets the gate runs are built.
#
# Each micro workload (bench/bench_gate.c) runs twice under
#   valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no
# (the program switches instrumentation and collection on around its
# measured loop only); the two counts must agree within 0.1% (they are
# identical in practice), else the verdict is UNSTABLE. The fan-out runs
# `banditore send` to 10,000 subscribers against wa-mock (native, loopback,
# no rate limit, 20 ms latency) five times with each HTTP carrier (fanout:
# the native h1 client, as send picks for http://; fanout_curl: libcurl,
# as for https://), collecting only inside
# sender_run and the committer thread; its figure is the median of the
# five (its spread is timing-dependent; see the table's notes).
# Every run has a fixed environment (env -i) and fixed seeds.
#
# Exit: 0 every figure within its threshold; 1 a figure worse than its
# threshold, much better than plausible (< 50% of the baseline: the measured
# region probably broke; rerun --update if the gain is real), UNSTABLE,
# missing from the baseline, or a workload failed its own result checks;
# 2 usage or build errors. A different compiler, valgrind, library or CPU
# than the baseline's is reported as a WARNING above the table (counts may
# shift with them; re-baseline on an unchanged main with --update).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-gate
BASELINE=$ROOT/bench/baseline.json
UPDATE=0
THRESHOLD=""
ONLY=""
CMAKE_EXTRA=""
NO_BUILD=0

# The workloads: name | program | N (ops per run) | runs | threshold % |
# allowed spread between runs % | what one op is.
#  - Micro workloads count the same instructions on every run (measured:
#    identical), so the 5% of the issue applies as is; a spread over 0.1%
#    means someone made them nondeterministic (a clock, a random seed).
#  - fanout: timing decides how the loop batches its work. Against a mock
#    answering at once, curl's path per request depended on whether the
#    answer beat the next socket_action (socket callbacks 5,180 to 9,202 per
#    10,000 between runs; counts within 6.3% over 35 runs on this loaded
#    2-core VM). wa-mock therefore answers after a fixed 20 ms, as the real
#    API (100-300 ms) always does later than the send: every request takes
#    the same path (socket callbacks 20,064 in every run) and only the
#    batching per epoll_wait varies; measured spread 0.58% over 21 runs
#    (load average 6-11; and 0.41% over 6 runs, three beside two extra CPU
#    hogs). So the 5% default holds (9x the noise); the figure is the
#    median of 3 runs, and a spread over 2% is reported as a noisy machine
#    (a warning, not a failure).
#  - fanout with the native client costs ~16,000 instructions a recipient,
#    a sixth of curl's, so the per-iteration work of the loop and the
#    committer (which varies with how requests batch) weighs more: 5.4% and
#    8.5% spread over 5 runs on the quiet machine. Its threshold is 12%; the
#    client's own hot path is gated exactly by h1resp (and wareq, waerr).
WORKLOADS=(
	"store_append|gate|100000|2|5|0.1|append (store_append)"
	"store_get|gate|100000|2|5|0.1|lookup (store_get)"
	"store_scan|gate|100000|2|5|0.1|confirmed number (snapshot + pass)"
	"cmd_parse|gate|20000|2|5|0.1|message (cmd_parse)"
	"webhook_msg|gate|2000|2|5|0.1|signed body, 1 message (verify + parse)"
	"webhook_status|gate|5000|2|5|0.1|status event (bodies of 10; verify + parse)"
	"wareq|gate|20000|2|5|0.1|request body (wareq_build)"
	"waerr|gate|20000|2|5|0.1|API response (waerr_parse + outcome)"
	"h1resp|gate|20000|2|5|0.1|HTTP response framed by the native client (h1_parse_response)"
	"fanout|send|10000|5|12|2|recipient (banditore send: sender_run + committer)"
	"fanout_curl|send|10000|5|5|2|recipient (the same send, --http curl)"
)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "gate.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--update) UPDATE=1 ;;
	--threshold) THRESHOLD=${2:?--threshold needs PCT}; shift ;;
	--only) ONLY=${2:?--only needs names}; shift ;;
	--build-dir) BUILD=${2:?--build-dir needs DIR}; shift ;;
	--cmake-flags) CMAKE_EXTRA=${2?--cmake-flags needs a value}; shift ;;
	--baseline) BASELINE=${2:?--baseline needs FILE}; shift ;;
	--no-build) NO_BUILD=1 ;;
	--list)
		for w in "${WORKLOADS[@]}"; do IFS='|' read -r n _ c _ t _ what <<<"$w"
			printf '%-15s N=%-7s threshold %s%%  op = %s\n' "$n" "$c" "$t" "$what"; done
		exit 0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
if [ -n "$THRESHOLD" ] && ! [[ $THRESHOLD =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
	die "--threshold: not a percentage: $THRESHOLD"
fi
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
case $BASELINE in /*) ;; *) BASELINE=$PWD/$BASELINE ;; esac

# The selection, in table order.
SEL=()
for w in "${WORKLOADS[@]}"; do
	n=${w%%|*}
	if [ -z "$ONLY" ] || [[ ",$ONLY," == *",$n,"* ]]; then SEL+=("$w"); fi
done
if [ -n "$ONLY" ]; then
	IFS=',' read -r -a want <<<"$ONLY"
	for n in "${want[@]}"; do
		printf '%s\n' "${WORKLOADS[@]}" | grep -q "^$n|" || die "--only: no workload '$n' (see --list)"
	done
fi
[ ${#SEL[@]} -gt 0 ] || die "no workload selected"
NEED_SEND=0
for w in "${SEL[@]}"; do if [[ $w == *"|send|"* ]]; then NEED_SEND=1; fi; done

command -v valgrind >/dev/null || die "valgrind is not installed (tools/deps.sh installs it)"
command -v python3 >/dev/null || die "python3 is not installed"
T0=$(date +%s)

# ---------------------------------------------------------------- build
CC_GATE=${GATE_CC:-gcc}
CC_PATH=$(command -v "$CC_GATE") || die "compiler $CC_GATE not found"
if [ $NO_BUILD = 0 ]; then
	"$ROOT/tools/deps.sh"
	# A cache made with another compiler cannot be switched in place.
	if [ -f "$BUILD/CMakeCache.txt" ] &&
		! grep -q "^CMAKE_C_COMPILER:[A-Z]*=$CC_PATH\$" "$BUILD/CMakeCache.txt"; then
		rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
	fi
	# shellcheck disable=SC2086 # CMAKE_EXTRA is a list of arguments
	CC=$CC_PATH cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_C_FLAGS= -DBANDITORE_BENCH=ON -DBANDITORE_TESTS=OFF -DBANDITORE_FUZZ=OFF \
		-DBANDITORE_SANITIZE= -DBANDITORE_WERROR=ON $CMAKE_EXTRA >/dev/null ||
		die "cmake configure failed"
	targets=(bench_gate)
	if [ $NEED_SEND = 1 ]; then targets+=(banditore wa-mock); fi
	cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" >"$BUILD/gate-build.log" 2>&1 ||
		{ tail -30 "$BUILD/gate-build.log" >&2; die "build failed (log: $BUILD/gate-build.log)"; }
fi
GATE_BIN=$BUILD/bench/bench_gate
[ -x "$GATE_BIN" ] || die "$GATE_BIN is missing (build with gate.sh, not --no-build)"
T_BUILD=$(( $(date +%s) - T0 ))

# ---------------------------------------------------------------- run
if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPBASE=/dev/shm; else TMPBASE=${TMPDIR:-/tmp}; fi
WORK=$(mktemp -d "$TMPBASE/bnd-gate.XXXXXX")
MOCK_PID=""
cleanup() {
	if [ -n "$MOCK_PID" ]; then
		kill "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=$WORK/results.tsv
: >"$RESULTS"
ENV0=(env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C LC_ALL=C)
VG=(valgrind --tool=callgrind --dump-instr=no --compress-strings=yes)

# totals FILE - the instruction total of a callgrind output file.
totals() { awk '/^totals:/ { print $2; f = 1 } END { if (!f) exit 1 }' "$1"; }

# run_micro NAME N K: one callgrind run of bench_gate; prints "IR OPS".
run_micro() {
	local d="$WORK/$1.$3"
	mkdir -p "$d"
	local out
	if ! out=$(timeout -s KILL 600 "${ENV0[@]}" "${VG[@]}" --instr-atstart=no --collect-atstart=no \
		--callgrind-out-file="$d/cg.out" "$GATE_BIN" "$1" --n "$2" --dir "$d/store" \
		2>"$d/err"); then
		echo "gate.sh: workload $1 failed:" >&2
		grep -v '^==' "$d/err" | tail -5 >&2
		return 1
	fi
	local ir ops
	ir=$(totals "$d/cg.out") || { echo "gate.sh: $1: no totals in callgrind output" >&2; return 1; }
	ops=$(awk '$1 == "workload" { print $4 }' <<<"$out")
	[ -n "$ops" ] && [ "$ops" -gt 0 ] || { echo "gate.sh: $1: no op count" >&2; return 1; }
	rm -rf "$d"
	echo "$ir $ops"
}

# The fan-out's fixtures: subscribers imported once, copied per run; one
# wa-mock for all runs (native, not measured). Runs in the main shell (not
# in a command substitution: the mock must not hold its pipe open).
setup_send() {
	local n=$1
	"$GATE_BIN" numbers --n "$n" --seed 20240601 >"$WORK/numbers.txt"
	"${ENV0[@]}" "$BUILD/tools/banditore" --data "$WORK/seed-data" subscribers import \
		"$WORK/numbers.txt" >/dev/null 2>"$WORK/import.err" ||
		{ cat "$WORK/import.err" >&2; return 1; }
	"${ENV0[@]}" "$BUILD/tools/wa-mock" --listen 127.0.0.1:0 --port-file "$WORK/mock.port" \
		--rate 0 --pair-rate 0 --latency-ms 20 --seed 1 --quiet --record "$WORK/record.jsonl" \
		>"$WORK/mock.out" 2>"$WORK/mock.err" &
	MOCK_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$WORK/mock.port" ] && break
		kill -0 "$MOCK_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$WORK/mock.port" ] || { echo "gate.sh: wa-mock did not start" >&2; cat "$WORK/mock.err" >&2; return 1; }
}

# run_send N K HTTP: one callgrind run of `banditore send --http HTTP`;
# prints "IR OPS".
run_send() {
	local n=$1 d="$WORK/send.$2" http=$3
	[ -s "$WORK/mock.port" ] || return 1
	cp -a "$WORK/seed-data" "$d"
	local before after
	before=$(wc -l <"$WORK/record.jsonl" 2>/dev/null || echo 0)
	# collection only inside sender_run (the loop thread's fan-out) and the
	# committer thread; start-up, store open and the report are not counted
	if ! timeout -s KILL 600 "${ENV0[@]}" BANDITORE_WA_TOKEN=gate-token "${VG[@]}" \
		--collect-atstart=no --toggle-collect=sender_run --toggle-collect=committer_main \
		--callgrind-out-file="$d.cg" "$BUILD/tools/banditore" --data "$d" send \
		--api-base "http://127.0.0.1:$(cat "$WORK/mock.port")" --category info \
		--text "Prova del gate: chiusura al traffico di via Roma dalle 8 alle 18." \
		--rate 0 --loop epoll --http "$http" --expires 0 --progress-interval 1h --json \
		>"$d.json" 2>"$d.err"; then
		echo "gate.sh: fanout: banditore send failed:" >&2
		grep -v '^==' "$d.err" | tail -5 >&2
		return 1
	fi
	after=$(wc -l <"$WORK/record.jsonl")
	local acc
	acc=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["accepted"] if j["recipients"] == j["accepted"] else -1)' "$d.json")
	[ "$acc" = "$n" ] || { echo "gate.sh: fanout: accepted $acc of $n" >&2; return 1; }
	[ $((after - before)) = "$n" ] ||
		{ echo "gate.sh: fanout: wa-mock recorded $((after - before)) of $n" >&2; return 1; }
	local ir
	ir=$(totals "$d.cg") || { echo "gate.sh: fanout: no totals" >&2; return 1; }
	rm -rf "$d" "$d.cg"
	echo "$ir $n"
}

if [ $NEED_SEND = 1 ]; then
	for w in "${SEL[@]}"; do
		IFS='|' read -r name prog n _ <<<"$w"
		if [ "$prog" = send ] && [ -z "$MOCK_PID" ] && ! setup_send "$n"; then
			echo "gate.sh: the fan-out's set-up failed" >&2
		fi
	done
fi
for w in "${SEL[@]}"; do
	IFS='|' read -r name prog n runs thr spread what <<<"$w"
	s=$(date +%s)
	irs=()
	ops=""
	for ((k = 1; k <= runs; k++)); do
		if [ "$prog" = send ]; then
			http=native
			[ "$name" = fanout_curl ] && http=curl
			r=$(run_send "$n" "$k" "$http") || r=""
		else r=$(run_micro "$name" "$n" "$k") || r=""; fi
		if [ -z "$r" ]; then irs=(); break; fi
		irs+=("${r% *}")
		ops=${r#* }
	done
	if [ ${#irs[@]} -eq 0 ]; then
		printf '%s\tFAILED\t0\t%s\t%s\t%s\t%s\t%s\n' "$name" "$thr" "$spread" "$what" \
			"$(( $(date +%s) - s ))" "$prog" >>"$RESULTS"
		continue
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(IFS=,; echo "${irs[*]}")" "$ops" "$thr" \
		"$spread" "$what" "$(( $(date +%s) - s ))" "$prog" >>"$RESULTS"
done
if [ -n "$MOCK_PID" ]; then
	kill "$MOCK_PID" 2>/dev/null || true
	wait "$MOCK_PID" 2>/dev/null || true
	MOCK_PID=""
fi

# ---------------------------------------------------------------- facts
pkgv() { pkg-config --modversion "$1" 2>/dev/null || echo "?"; }
{
	echo "valgrind=$(valgrind --version)"
	echo "cc=$("$CC_PATH" --version | head -1)"
	echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo '?')"
	for l in libcurl openssl jansson libutf8proc libxxhash liburing libmicrohttpd; do
		echo "$l=$(pkgv $l)"
	done
} >"$WORK/toolchain.env"
{
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	# the instruction-set features that pick glibc's and OpenSSL's code paths
	echo "cpu_features=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
		grep -E '^(sse4_2|avx|avx2|avx512f|bmi2|sha_ni|aes|erms)$' | sort | tr '\n' ' ' | sed 's/ $//')"
	echo "kernel=$(uname -r)"
	echo "cores=$(nproc)"
} >"$WORK/machine.env"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo nogit)
DIRTY=$([ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo 1 || echo 0)

python3 - "$RESULTS" "$BASELINE" "$UPDATE" "$THRESHOLD" "$WORK" "$COMMIT" "$DIRTY" \
	"$BUILD/gate-result.json" "$T_BUILD" "$T0" "$CMAKE_EXTRA" <<'EOF'
import json, os, statistics, sys, time, datetime
(res_path, base_path, update, thr_opt, work, commit, dirty, out_path, t_build, t0,
 cmake_extra) = sys.argv[1:12]
update = update == "1"

def env(path):
    d = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("=")
        d[k] = v
    return d

tool = env(os.path.join(work, "toolchain.env"))
mach = env(os.path.join(work, "machine.env"))
rows = []
for line in open(res_path):
    name, irs, ops, thr, spread, what, secs, prog = line.rstrip("\n").split("\t")
    r = {"name": name, "threshold_pct": float(thr), "spread_max_pct": float(spread),
         "op": what, "seconds": int(secs), "timed": prog == "send"}
    if irs == "FAILED":
        r["failed"] = True
    else:
        v = [int(x) for x in irs.split(",")]
        ops = int(ops)
        r.update(ops=ops, ir_runs=v, ir_per_op=round(statistics.median(v) / ops, 2),
                 spread_pct=round((max(v) - min(v)) / min(v) * 100, 4) if min(v) else 0.0)
    rows.append(r)

base = None
if os.path.exists(base_path):
    try:
        base = json.load(open(base_path))
    except ValueError as e:
        print("gate.sh: %s is not JSON: %s" % (base_path, e), file=sys.stderr)
        sys.exit(2)
bw = (base or {}).get("workloads", {})

# Toolchain and machine against the baseline's: a warning, not a verdict.
warn = []
if base:
    for k, v in tool.items():
        b = base.get("toolchain", {}).get(k)
        if b is not None and b != v:
            warn.append("%s: baseline %r, now %r" % (k, b, v))
    for k in ("cpu", "cpu_features"):
        b = base.get("machine", {}).get(k)
        if b is not None and b != mach.get(k):
            warn.append("%s: baseline %r, now %r" % (k, b, mach.get(k)))
if warn and not update:
    print("WARNING: the toolchain or machine differs from the baseline's; instruction counts")
    print("WARNING: can shift with them. If every workload moved alike, re-baseline on an")
    print("WARNING: unchanged main: bench/gate.sh --update (docs/BENCH-GATE.md).")
    for w in warn:
        print("WARNING:   " + w)
    print()

status = 0
lines = []
hdr = ("workload", "baseline", "now", "delta", "thresh", "spread", "verdict")
for r in rows:
    b = bw.get(r["name"])
    # thresholds live in gate.sh's table (with their reasons); the baseline
    # only records them. --threshold overrides them for this run.
    thr = float(thr_opt) if thr_opt else r["threshold_pct"]
    r["fail"] = False
    now = delta = "-"
    if r.get("failed"):
        verdict = "FAILED (see above)"
        r["fail"] = True
    else:
        now = "%.1f" % r["ir_per_op"]
        if b is None:
            verdict = "NO BASELINE"
            r["fail"] = not update
        else:
            d = (r["ir_per_op"] - b["ir_per_op"]) / b["ir_per_op"] * 100
            delta = "%+.2f%%" % d
            r["delta_pct"] = round(d, 3)
            if d > thr:
                verdict, r["fail"] = "WORSE", True
            elif r["ir_per_op"] < 0.5 * b["ir_per_op"]:
                verdict, r["fail"] = "SUSPECT (< 50%: region broken? --update if real)", True
            elif d < -thr:
                verdict = "better (--update to lock in)"
            else:
                verdict = "ok"
        if r["spread_pct"] > r["spread_max_pct"]:
            if r["timed"]:
                # timing-dependent: a noisy machine is not a regression
                verdict += "; noisy (spread %.2f%%)" % r["spread_pct"]
            else:
                verdict, r["fail"] = "UNSTABLE (runs differ %.3f%%)" % r["spread_pct"], True
    r["verdict"] = verdict
    status |= r["fail"]
    lines.append((r["name"], "%.1f" % b["ir_per_op"] if b else "-", now, delta,
                  "%g%%" % thr, "%.3f%%" % r["spread_pct"] if "spread_pct" in r else "-",
                  verdict))

w = [max(len(str(x[i])) for x in lines + [hdr]) for i in range(len(hdr))]
def fmt(x):
    # the name left-aligned, figures right-aligned, the verdict as is
    cells = [str(x[0]).ljust(w[0])] + [str(x[i]).rjust(w[i]) for i in range(1, 6)] + [str(x[6])]
    return "  ".join(cells)
print("instructions per operation (callgrind Ir / op), commit %s%s" % (commit, " (dirty)" if dirty == "1" else ""))
print(fmt(hdr))
for x in lines:
    print(fmt(x))
elapsed = int(time.time()) - int(t0)
print("\none op is:")
for r in rows:
    print("  %-15s %s%s" % (r["name"], r["op"], ", %d per run" % r["ops"] if "ops" in r else ""))
print("gate time: %d s (build %s s); runs: %s" % (elapsed, t_build,
      ", ".join("%s %ds" % (r["name"], r["seconds"]) for r in rows)))

now_iso = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
result = {"date": now_iso, "commit": commit, "dirty": dirty == "1", "toolchain": tool,
          "machine": mach, "cmake_extra": cmake_extra, "status": status,
          "workloads": {r["name"]: r for r in rows}}
with open(out_path, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")

if update:
    if any(r.get("failed") for r in rows):
        print("gate.sh: not updating the baseline: a workload failed", file=sys.stderr)
        sys.exit(1)
    if any(r["spread_pct"] > r["spread_max_pct"] and not r["timed"] for r in rows):
        print("gate.sh: not updating the baseline: a workload is UNSTABLE", file=sys.stderr)
        sys.exit(1)
    nb = base if base else {}
    nb["format"] = 1
    nb["about"] = ("bench/gate.sh baseline: callgrind instructions per operation of each "
                   "workload (docs/BENCH-GATE.md). Rewrite with bench/gate.sh --update.")
    nb["date"] = now_iso
    nb["commit"] = commit + ("-dirty" if dirty == "1" else "")
    nb["build"] = ("RelWithDebInfo, -DBANDITORE_BENCH=ON, TESTS/FUZZ/SANITIZE off, empty "
                   "CMAKE_C_FLAGS" + (", " + cmake_extra if cmake_extra else ""))
    nb["toolchain"] = tool
    nb["machine"] = mach
    wl = nb.setdefault("workloads", {})
    for r in rows:
        wl[r["name"]] = {
            "ir_per_op": r["ir_per_op"],
            "threshold_pct": r["threshold_pct"],
            "op": r["op"], "ops": r["ops"], "ir_runs": r["ir_runs"], "spread_pct": r["spread_pct"],
        }
    with open(base_path + ".tmp", "w") as f:
        json.dump(nb, f, indent=1)
        f.write("\n")
    os.replace(base_path + ".tmp", base_path)
    print("baseline written: %s" % base_path)
    sys.exit(0)
if status:
    bad = ["%s: %s" % (r["name"], r["verdict"]) for r in rows if r["fail"]]
    print("\ngate: FAILED -- " + "; ".join(bad))
else:
    print("\ngate: passed")
sys.exit(1 if status else 0)
EOF
