#!/usr/bin/env bash
# run.sh [SCENARIO...] - the benchmark suite in one command (bench/README.md).
#
# Builds with -DBANDITORE_BENCH=ON into build-bench/ (BENCH_BUILD_DIR to
# change it), runs bench/scenario_<name>.sh BUILD_DIR for every scenario (or
# only the named ones), each printing one JSON object, and writes
#   bench/results/<YYYY-MM-DD>-<shortsha>.json
# with the scenarios, the machine (CPU model, cores, kernel, ASLR setting,
# governor, memory, file system of the data) and the versions of the
# compilers and libraries, then prints a Markdown table of every figure.
# Scenarios run with ASLR off (setarch -R) when the machine allows it.
# Exit status: 0 when every scenario succeeded (its own count checks
# included), 1 otherwise; a failed scenario is recorded with its error.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
cd "$ROOT"

echo "== build ($BUILD, -DBANDITORE_BENCH=ON)" >&2
tools/build.sh "$BUILD" -DBANDITORE_BENCH=ON -DBANDITORE_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

if [ $# -gt 0 ]; then
	names=("$@")
else
	names=()
	for f in bench/scenario_*.sh; do
		n=${f#bench/scenario_}; names+=("${n%.sh}")
	done
fi
for n in "${names[@]}"; do
	[ -f "bench/scenario_$n.sh" ] || { echo "run.sh: no scenario '$n' (bench/scenario_$n.sh)" >&2; exit 1; }
done

NOASLR=()
if setarch "$(uname -m)" -R true 2>/dev/null; then NOASLR=(setarch "$(uname -m)" -R); fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
for n in "${names[@]}"; do
	echo "== scenario $n" >&2
	s=$(date +%s)
	if "${NOASLR[@]}" bash "bench/scenario_$n.sh" "$BUILD" >"$WORK/$n.json"; then
		echo "{\"scenario_rc\":0,\"seconds\":$(( $(date +%s) - s ))}" >"$WORK/$n.meta"
	else
		rc=$?
		echo "run.sh: scenario $n failed (exit $rc)" >&2
		echo "{\"scenario_rc\":$rc,\"seconds\":$(( $(date +%s) - s ))}" >"$WORK/$n.meta"
		status=1
	fi
done

# Versions and machine facts: each probe may fail on a machine without the
# tool; the field is then null.
ver() { "$@" 2>&1 | head -1 || true; }
pkgv() { pkg-config --modversion "$1" 2>/dev/null || true; }
{
	echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "cores=$(nproc)"
	echo "kernel=$(uname -r)"
	echo "arch=$(uname -m)"
	echo "randomize_va_space=$(cat /proc/sys/kernel/randomize_va_space 2>/dev/null || true)"
	echo "governor=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || true)"
	echo "mem_total_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
	echo "data_fs=$(findmnt -n -o FSTYPE,SOURCE -T "$BUILD" 2>/dev/null | tr -s ' ' || true)"
	echo "aslr_off_for_runs=$([ ${#NOASLR[@]} -gt 0 ] && echo yes || echo no)"
	echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
} >"$WORK/machine.env"
{
	echo "gcc=$(ver gcc --version)"
	echo "clang=$(ver clang --version)"
	echo "cmake=$(ver cmake --version)"
	echo "libcurl=$(pkgv libcurl)"
	echo "liburing=$(pkgv liburing)"
	echo "openssl=$(pkgv openssl)"
	echo "jansson=$(pkgv jansson)"
	echo "sqlite=$(pkgv sqlite3)"
	echo "utf8proc=$(pkgv libutf8proc)"
	echo "libxxhash=$(pkgv libxxhash)"
	echo "libmicrohttpd=$(pkgv libmicrohttpd)"
	echo "nginx=$(command -v nginx >/dev/null && ver nginx -v || true)"
	echo "wrk=$(command -v wrk >/dev/null && wrk -v 2>&1 | head -1 | cut -d' ' -f1-2 || true)"
} >"$WORK/versions.env"
C_COMPILER=$(grep -m1 '^CMAKE_C_COMPILER:' "$BUILD/CMakeCache.txt" | cut -d= -f2 || true)
BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE:' "$BUILD/CMakeCache.txt" | cut -d= -f2 || true)
SHA=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
DIRTY=$([ -n "$(git status --porcelain 2>/dev/null)" ] && echo true || echo false)
mkdir -p bench/results
OUT="bench/results/$(date +%F)-$SHA.json"
[ -e "$OUT" ] && OUT="bench/results/$(date +%F)-$SHA-$(date +%H%M%S).json"

python3 - "$WORK" "$OUT" "$SHA" "$DIRTY" "$C_COMPILER" "$BUILD_TYPE" "${names[@]}" <<'EOF'
import json, os, sys, datetime
work, out, sha, dirty, cc, btype, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "true", sys.argv[5], sys.argv[6], sys.argv[7:]

def env(path):
    d = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("=")
        d[k] = v.strip() or None
    return d

machine = env(os.path.join(work, "machine.env"))
for k in ("cores", "mem_total_kb", "randomize_va_space"):
    if machine.get(k) and machine[k].isdigit():
        machine[k] = int(machine[k])
scen = []
for n in names:
    meta = json.load(open(os.path.join(work, n + ".meta")))
    text = open(os.path.join(work, n + ".json")).read().strip()
    try:
        obj = json.loads(text.splitlines()[-1]) if text else None
    except (ValueError, IndexError) as e:
        obj = None
    if obj is None or meta["scenario_rc"] != 0:
        obj = {"scenario": n, "error": "exit %d%s" % (meta["scenario_rc"], "" if obj or not text else "; output is not JSON")}
    obj["seconds"] = meta["seconds"]
    scen.append(obj)
res = {
    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    "commit": sha, "dirty": dirty,
    "build": {"type": btype, "c_compiler": cc, "bench": True},
    "machine": machine, "versions": env(os.path.join(work, "versions.env")),
    "scenarios": scen,
}
with open(out, "w") as f:
    json.dump(res, f, indent=1)
    f.write("\n")

def fmt(x):
    if isinstance(x, bool): return "yes" if x else "**NO**"
    if not isinstance(x, (int, float)): return str(x)
    a = abs(x)
    if a >= 1e6: return "%.2fM" % (x / 1e6)
    if a >= 1e4: return "%.1fk" % (x / 1e3)
    if a >= 100: return "%.0f" % x
    if a >= 10: return "%.1f" % x
    if 0 < a < 0.1: return "%.2g" % x
    return "%.2f" % x

m = machine; v = res["versions"]
print("## Benchmarks %s (commit %s%s)\n" % (res["date"][:10], sha, ", dirty" if dirty else ""))
print("Machine: %s, %s cores, kernel %s, ASLR %s (runs with setarch -R: %s), data on %s  " % (
    m.get("cpu_model"), m.get("cores"), m.get("kernel"), m.get("randomize_va_space"),
    m.get("aslr_off_for_runs"), m.get("data_fs")))
print("Versions: %s; SQLite %s, libcurl %s, liburing %s, OpenSSL %s, jansson %s\n" % (
    v.get("gcc"), v.get("sqlite"), v.get("libcurl"), v.get("liburing"), v.get("openssl"), v.get("jansson")))
for s in scen:
    print("### %s%s\n" % (s.get("scenario"), " — FAILED: " + s["error"] if "error" in s else ""))
    if "error" in s:
        continue
    print("| figure | median | min | max | unit | runs |")
    print("|---|---:|---:|---:|---|---:|")
    for k, x in s.get("metrics", {}).items():
        print("| %s | %s | %s | %s | %s | %s |" % (k, fmt(x.get("median")), fmt(x.get("min")), fmt(x.get("max")), x.get("unit", ""), x.get("runs", "")))
    if s.get("ratios"):
        print("\n| ratio (per interleaved pair) | median | min | max |")
        print("|---|---:|---:|---:|")
        for k, x in s["ratios"].items():
            print("| %s | %s× | %s× | %s× |" % (k, fmt(x.get("median")), fmt(x.get("min")), fmt(x.get("max"))))
    if s.get("targets"):
        print("\n| target | median | met |")
        print("|---|---:|---|")
        for k, x in s["targets"].items():
            print("| %s | %s | %s |" % (k, fmt(x.get("median")), fmt(bool(x.get("met")))))
    print()
print("Results: %s" % out)
EOF
exit $status
