#!/usr/bin/env bash
# scenario_wamock.sh BUILD_DIR - how fast is wa-mock, next to the loopback
# ceiling? (bench/README.md conventions; prints one JSON object on stdout.)
#
#  1. throughput: wrk -c64 POSTs realistic template sends (bench/wamock/
#     send.lua, 10,000 distinct recipients) to wa-mock with no limits, no
#     latency and --record on, and to nginx answering a constant 200 from
#     the same number of workers: A B A B ... (RUNS each), medians, ratio.
#  2. held connections: wa-mock with 200 ms latency under wrk -c1000:
#     requests/s and the connections established at mid-run (RUNS_LAT).
# Beside requests/s (which the machine's other work moves a lot), each run
# reports the server's CPU time per request (utime + stime of wa-mock, or of
# nginx's master and workers, over the run / completed requests): a cost
# that neighbours disturb far less, and the capacity of one core.
# Counts are checked, or the scenario fails: no socket errors, no non-2xx,
# the record grew by exactly wa-mock's accepted count, and by at least
# wrk's completed requests (at most the connection count more: answers in
# flight when wrk stops counting).
# Env: RUNS (5), DURATION (5 s), RUNS_LAT (3), DURATION_LAT (10 s),
#      THREADS (wa-mock threads = nginx workers; 2), WRK_THREADS (1).
set -euo pipefail
BUILD=${1:?usage: scenario_wamock.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOCK=$BUILD/tools/wa-mock
LUA=$HERE/wamock/send.lua
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
RUNS_LAT=${RUNS_LAT:-3}
DURATION_LAT=${DURATION_LAT:-10}
THREADS=${THREADS:-2}
WRK_THREADS=${WRK_THREADS:-1}
for t in wrk nginx python3 curl; do
	command -v "$t" >/dev/null || { echo "scenario_wamock: $t is required" >&2; exit 2; }
done
[ -x "$MOCK" ] || { echo "scenario_wamock: no $MOCK" >&2; exit 2; }

. "$HERE/lib.sh"
bench_init wamock /tmp
TMP=$T
die() { bench_die "$*"; }

export WA_MOCK_TOKEN=bench-token WAMOCK_TOKEN=bench-token
PATH_=/v25.0/110000000000001/messages

start_mock() { # NAME flags... -> MOCK_PID MOCK_PORT
	"$MOCK" --quiet --listen 127.0.0.1:0 --port-file "$TMP/$1.port" --threads "$THREADS" \
		"${@:2}" 2>"$TMP/$1.err" &
	MOCK_PID=$!
	bench_track "$MOCK_PID"
	bench_wait_file "$TMP/$1.port" || die "wa-mock did not start: $(cat "$TMP/$1.err")"
	MOCK_PORT=$(cat "$TMP/$1.port")
}

# run_wrk OUT URL CONNS SECS [extra wrk args] -> parsed into OUT.json
run_wrk() {
	local out=$1 url=$2 conns=$3 secs=$4
	shift 4
	wrk -t"$WRK_THREADS" -c"$conns" -d"${secs}s" --latency -s "$LUA" "$@" "$url" >"$out.txt" 2>&1 ||
		die "wrk failed: $(cat "$out.txt")"
	python3 - "$out.txt" >"$out.json" <<'PY'
import json, re, sys
t = open(sys.argv[1]).read()
def num(pat, default=0.0):
    m = re.search(pat, t)
    return float(m.group(1)) if m else default
errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", t))
def ms(s):
    v, u = float(s[:-2] if s.endswith(("ms", "us")) else s[:-1]), s[-2:] if s.endswith(("ms", "us")) else s[-1:]
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
lat = {m.group(1): ms(m.group(2)) for m in re.finditer(r"^\s+(50|99)%\s+(\S+)", t, re.M)}
print(json.dumps({"rps": num(r"Requests/sec:\s+([\d.]+)"),
                  "completed": int(num(r"(\d+) requests in")),
                  "non2xx": int(num(r"Non-2xx or 3xx responses: (\d+)")),
                  "socket_errors": errs, "p50_ms": lat.get("50"), "p99_ms": lat.get("99")}))
PY
}

# established PORT: TCP connections established to local PORT (/proc/net/tcp*).
established() {
	python3 - "$1" <<'PY'
import sys
port = "%04X" % int(sys.argv[1])
n = 0
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(f).read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        p = l.split()
        if p[1].rsplit(":", 1)[1] == port and p[3] == "01":
            n += 1
print(n)
PY
}

# with_cpu OUT PIDS -- run_wrk args: run_wrk, then add cpu_us_per_req to OUT.json
with_cpu() {
	local out=$1 pids=() t0 t1
	shift
	while [ "$1" != -- ]; do pids+=("$1"); shift; done
	shift
	t0=$(bench_cpu_ticks "${pids[@]}")
	run_wrk "$out" "$@"
	t1=$(bench_cpu_ticks "${pids[@]}")
	python3 - "$out.json" "$t0" "$t1" "$BENCH_TCK" <<'PY'
import json, sys
p = sys.argv[1]
r = json.load(open(p))
r["cpu_us_per_req"] = (int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / int(sys.argv[4]) / max(r["completed"], 1)
json.dump(r, open(p, "w"))
PY
}

field() { python3 -c "import json; print(json.load(open('$1'))['$2'])"; }
mock_stat() { curl -s --max-time 5 "http://127.0.0.1:$MOCK_PORT/mock/stats" |
	python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

check_run() { # RESULT.json CONNS [REC accepted_before lines_before]
	local r=$1 conns=$2
	[ "$(field "$r" socket_errors)" = 0 ] || die "socket errors: $(cat "${r%.json}.txt")"
	[ "$(field "$r" non2xx)" = 0 ] || die "non-2xx answers: $(cat "${r%.json}.txt")"
	[ "$(field "$r" completed)" -gt 0 ] || die "no requests completed"
	if [ $# -ge 5 ]; then
		local rec=$3 acc0=$4 lines0=$5 acc1 lines1 done_
		sleep 0.3  # answers in flight when wrk stopped
		acc1=$(mock_stat accepted)
		lines1=$(wc -l <"$rec")
		done_=$(field "$r" completed)
		[ $((lines1 - lines0)) -eq $((acc1 - acc0)) ] ||
			die "record grew by $((lines1 - lines0)) lines, wa-mock accepted $((acc1 - acc0))"
		[ $((lines1 - lines0)) -ge "$done_" ] && [ $((lines1 - lines0)) -le $((done_ + conns)) ] ||
			die "record grew by $((lines1 - lines0)), wrk completed $done_"
	fi
}

# ---- 1. throughput, interleaved with nginx
start_mock thr --rate 0 --pair-rate 0 --seed 1 --record "$TMP/thr.rec"
start_nginx "$TMP/nginx" "$THREADS" "$BENCH_SUCCESS_BODY"
MURL=http://127.0.0.1:$MOCK_PORT$PATH_
NURL=http://127.0.0.1:$NGINX_PORT$PATH_
run_wrk "$TMP/warm_m" "$MURL" 64 2
run_wrk "$TMP/warm_n" "$NURL" 64 2
for ((i = 1; i <= RUNS; i++)); do
	acc0=$(mock_stat accepted)
	lines0=$(wc -l <"$TMP/thr.rec")
	with_cpu "$TMP/m$i" "$MOCK_PID" -- "$MURL" 64 "$DURATION"
	check_run "$TMP/m$i.json" 64 "$TMP/thr.rec" "$acc0" "$lines0"
	with_cpu "$TMP/n$i" $(bench_nginx_pids) -- "$NURL" 64 "$DURATION"
	check_run "$TMP/n$i.json" 64
done
stop_nginx
bench_stop "$MOCK_PID"

# ---- 2. 200 ms latency, 1,000 connections
start_mock lat --rate 0 --pair-rate 0 --seed 1 --latency-ms 200 --record "$TMP/lat.rec"
LURL=http://127.0.0.1:$MOCK_PORT$PATH_
run_wrk "$TMP/warm_l" "$LURL" 1000 3 --timeout 5s
for ((i = 1; i <= RUNS_LAT; i++)); do
	acc0=$(mock_stat accepted)
	lines0=$(wc -l <"$TMP/lat.rec")
	(sleep $((DURATION_LAT / 2)); established "$MOCK_PORT" >"$TMP/conns$i") &
	sampler=$!
	run_wrk "$TMP/l$i" "$LURL" 1000 "$DURATION_LAT" --timeout 5s
	wait "$sampler" || true
	check_run "$TMP/l$i.json" 1000 "$TMP/lat.rec" "$acc0" "$lines0"
done
bench_stop "$MOCK_PID"

python3 - "$TMP" "$RUNS" "$RUNS_LAT" "$THREADS" "$WRK_THREADS" "$DURATION" "$DURATION_LAT" <<'PY'
import json, statistics, sys
tmp, runs, runs_lat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(p): return json.load(open("%s/%s.json" % (tmp, p)))
def summary(vals, unit):
    return {"median": round(statistics.median(vals), 2), "min": round(min(vals), 2),
            "max": round(max(vals), 2), "unit": unit, "runs": len(vals)}
m = [load("m%d" % i)["rps"] for i in range(1, runs + 1)]
n = [load("n%d" % i)["rps"] for i in range(1, runs + 1)]
mc = [load("m%d" % i)["cpu_us_per_req"] for i in range(1, runs + 1)]
nc = [load("n%d" % i)["cpu_us_per_req"] for i in range(1, runs + 1)]
l = [load("l%d" % i) for i in range(1, runs_lat + 1)]
conns = [int(open("%s/conns%d" % (tmp, i)).read()) for i in range(1, runs_lat + 1)]
ratios = [a / b for a, b in zip(m, n)]
out = {
    "scenario": "wamock",
    "params": {"connections": 64, "duration_s": int(sys.argv[6]), "threads": int(sys.argv[4]),
               "wrk_threads": int(sys.argv[5]), "record": True, "limits": "none",
               "latency_run": {"latency_ms": 200, "connections": 1000,
                               "duration_s": int(sys.argv[7])},
               "body": "bench/wamock/send.lua (template, 10,000 recipients)"},
    "metrics": {
        "wamock_req_per_s": summary(m, "requests/s"),
        "nginx_static_req_per_s": summary(n, "requests/s"),
        "wamock_cpu_us_per_req": summary(mc, "us CPU/request"),
        "nginx_static_cpu_us_per_req": summary(nc, "us CPU/request"),
        "wamock_req_per_s_per_core": summary([1e6 / x for x in mc], "requests/s per CPU second"),
        "wamock_latency200_req_per_s": summary([x["rps"] for x in l], "requests/s"),
        "wamock_latency200_p50_ms": summary([x["p50_ms"] for x in l], "ms"),
        "wamock_latency200_p99_ms": summary([x["p99_ms"] for x in l], "ms"),
        "wamock_latency200_connections_held": summary(conns, "connections"),
    },
    "ratios": {"wamock_vs_nginx": {"median": round(statistics.median(ratios), 3),
                                    "min": round(min(ratios), 3), "max": round(max(ratios), 3)},
               "wamock_cpu_vs_nginx": {"median": round(statistics.median(
                   [a / b for a, b in zip(mc, nc)]), 3)}},
    "notes": "A B A B interleaved; cpu_us_per_req = server CPU time / completed requests; counts checked: no socket errors, no non-2xx, record lines "
             "== accepted, and >= wrk's completed requests. Targets: wamock >= 50,000 req/s; "
             "latency run >= 1,000 connections held and >= 4,000 req/s.",
}
print(json.dumps(out))
PY
