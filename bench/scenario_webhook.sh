#!/usr/bin/env bash
# scenario_webhook.sh BUILD_DIR - signed webhook intake: requests/s and
# p50/p99 latency of signed POST /webhook bodies over keep-alive
# connections, against (interleaved, in the same run):
#   nginx     a static 200 (`return 200`), the loopback ceiling of this machine
#             (also measured with wrk, GET, as the classic reference)
#   inline    bench_webhook serve: engine/httpd + verify + parse + walk; 200
#             from the handler (no store)
#   defer     + append to a file and one fdatasync per batch by a committer
#             thread; the connection is suspended until its batch is durable
#   block     + append, then wait for a shared group commit in the handler
#             (the server thread blocks, store_sync semantics)
#   tpc       defer's work on libmicrohttpd's thread-per-connection mode: the
#             deferred answer blocks the connection's own thread
# Two body kinds: "single" (one JESI ON text message, ~700 B) and "statuses"
# (a batch of $STATUSES status updates, ~28 KB). Every id is unique.
# Env: RUNS (5) DUR (5 s) WARM (1 s) CONNS (64) THREADS (2 server threads;
# nginx gets as many workers) STATUSES (100) SEED (1) SYNC_DIR (/var/tmp:
# must be a real disk, not tmpfs, or fdatasync costs nothing).
# Prints one JSON object (bench/README.md). Exits non-zero when a count is
# wrong: a failed or non-200 request, a server that saw a bad signature or
# body, or a server that answered fewer requests than the client counted.
set -euo pipefail
B=${1:?usage: scenario_webhook.sh BUILD_DIR}
BIN=$B/bench/bench_webhook
[ -x "$BIN" ] || { echo "scenario_webhook: $BIN missing (build with -DBANDITORE_BENCH=ON)" >&2; exit 2; }
RUNS=${RUNS:-5} DUR=${DUR:-5} WARM=${WARM:-1} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
STATUSES=${STATUSES:-100} SEED=${SEED:-1}
command -v nginx >/dev/null || { echo "scenario_webhook: nginx not installed" >&2; exit 2; }
WRK=$(command -v wrk || true)
export BENCH_SECRET=bench-secret-$SEED

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init webhook "${SYNC_DIR:-/var/tmp}"
TMP=$T

declare -A PORT SRVPID
start_server() {   # start_server NAME MODE [EXTRA]
  local name=$1 mode=$2
  "$BIN" serve --listen 127.0.0.1:0 --port-file "$TMP/$name.port" --threads "$THREADS" \
    --mode "$mode" --sync-file "$TMP/$name.log" ${3:-} 2>"$TMP/$name.stats" &
  SRVPID[$name]=$!
  bench_track "${SRVPID[$name]}"
  bench_wait_file "$TMP/$name.port" 5 || bench_die "$name did not write its port"
  PORT[$name]=$(cat "$TMP/$name.port")
  bench_wait_http "${PORT[$name]}" || bench_die "$name did not start"
}

start_nginx "$TMP/nginx" "$THREADS" ok
start_server inline inline
start_server defer defer
start_server block block
start_server tpc defer --tpc
declare -A URL=(
  [nginx]="http://127.0.0.1:$NGINX_PORT/webhook"
  [inline]="http://127.0.0.1:${PORT[inline]}/webhook"
  [defer]="http://127.0.0.1:${PORT[defer]}/webhook"
  [block]="http://127.0.0.1:${PORT[block]}/webhook"
  [tpc]="http://127.0.0.1:${PORT[tpc]}/webhook"
)

declare -A TPID=([nginx]=$NGINX_PID [inline]=${SRVPID[inline]} [defer]=${SRVPID[defer]}
                 [block]=${SRVPID[block]} [tpc]=${SRVPID[tpc]})
# CPU ticks (user + system, all threads) of a target: the server process,
# or nginx's master and workers. Server CPU per request is robust where
# requests/s is not: this machine's two cores are shared.
cpu_ticks() {
  if [ "$2" = nginx ]; then bench_cpu_ticks $(bench_nginx_pids); else bench_cpu_ticks "$1"; fi
}
TCK=$BENCH_TCK

RES="$TMP/results.jsonl"
: >"$RES"
load() {   # load RUN KIND TARGET
  local out c0 c1
  c0=$(cpu_ticks "${TPID[$3]}" "$3")
  out=$("$BIN" load --url "${URL[$3]}" --kind "$2" --statuses "$STATUSES" --conns "$CONNS" \
        --duration "$DUR" --warmup "$WARM" --seed "$((SEED * 1000 + $1))")
  c1=$(cpu_ticks "${TPID[$3]}" "$3")
  echo "{\"run\":$1,\"kind\":\"$2\",\"target\":\"$3\",\"cpu_s\":$(( c1 - c0 ))/$TCK,\"r\":$out}" \
    | sed -E 's|"cpu_s":([0-9]+)/([0-9]+)|"cpu_ticks":\1,"tck":\2|' >>"$RES"
}
wrk_run() {   # wrk_run RUN
  [ -n "$WRK" ] || return 0
  local out rps p50 p99
  out=$("$WRK" -t1 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$NGINX_PORT/")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "{\"run\":$1,\"kind\":\"get\",\"target\":\"wrk_nginx\",\"r\":{\"rate_per_s\":$rps,\"p50\":\"$p50\",\"p99\":\"$p99\"}}" >>"$RES"
}

echo "scenario_webhook: $RUNS runs x (5 single + wrk + 3 statuses) x ${DUR}s" >&2
for run in $(seq "$RUNS"); do
  for t in nginx inline defer block tpc; do load "$run" single "$t"; done
  wrk_run "$run"
  for t in nginx inline defer; do load "$run" statuses "$t"; done
  echo "scenario_webhook: run $run done" >&2
done

# Stop the servers and check what they counted against what the client saw.
for name in inline defer block tpc; do
  bench_stop "${SRVPID[$name]}"
done

python3 - "$RES" "$TMP" "$RUNS" "$DUR" "$CONNS" "$THREADS" "$STATUSES" "$SEED" "$WARM" <<'EOF'
import json, statistics, sys
res, tmp, runs, dur, conns, threads, statuses, seed, warm = sys.argv[1:]
rows = [json.loads(l) for l in open(res)]
def series(kind, target, key):
    return [r["r"][key] for r in rows if r["kind"] == kind and r["target"] == target]
def stat(vals, unit):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "unit": unit, "runs": len(vals)}
metrics, ratios = {}, {}
for kind in ("single", "statuses"):
    targets = ["nginx", "inline", "defer", "block", "tpc"] if kind == "single" else ["nginx", "inline", "defer"]
    for t in targets:
        rate = series(kind, t, "rate_per_s")
        metrics[f"{kind}_{t}_per_s"] = stat(rate, "requests/s")
        metrics[f"{kind}_{t}_p50_us"] = stat(series(kind, t, "p50_us"), "us")
        metrics[f"{kind}_{t}_p99_us"] = stat(series(kind, t, "p99_us"), "us")
        # server CPU per request, over the whole load run (warm-up included)
        cpu = [r["cpu_ticks"] / r["tck"] * 1e6 /
               max(1.0, r["r"]["rate_per_s"] * (float(dur) + float(warm)))
               for r in rows if r["kind"] == kind and r["target"] == t]
        metrics[f"{kind}_{t}_server_cpu_us_per_req"] = stat(cpu, "us")
        if kind == "statuses":
            metrics[f"{kind}_{t}_events_per_s"] = stat(series(kind, t, "events_per_s"), "statuses/s")
        if t != "nginx":
            # ratio per run (same run, interleaved), then the median
            ng = series(kind, "nginx", "rate_per_s")
            ratios[f"{kind}_{t}_vs_nginx"] = {"median": statistics.median(a / b for a, b in zip(rate, ng))}
wrk = [r["r"]["rate_per_s"] for r in rows if r["target"] == "wrk_nginx"]
if wrk:
    metrics["wrk_nginx_get_per_s"] = stat(wrk, "requests/s")
    ng = series("single", "nginx", "rate_per_s")
    ratios["single_defer_vs_wrk_nginx"] = {"median": statistics.median(
        a / b for a, b in zip(series("single", "defer", "rate_per_s"), wrk))}
# Server-side counts: every request the client counted was answered 200 by
# the server, none was refused (bad signature / body).
server = {}
bad = False
for name in ("inline", "defer", "block", "tpc"):
    s = json.loads(open(f"{tmp}/{name}.stats").read().strip().splitlines()[-1])
    server[name] = s
    client = sum(r["r"]["requests"] for r in rows if r["target"] == name)
    if s["unauthorized"] or s["bad"] or s["ok"] < client:
        bad = True
        print(f"scenario_webhook: {name}: server counts {s} vs client {client}", file=sys.stderr)
metrics["defer_avg_batch"] = {"median": server["defer"]["avg_batch"], "unit": "requests/fdatasync", "runs": 1}
metrics["block_avg_batch"] = {"median": server["block"]["avg_batch"], "unit": "requests/fdatasync", "runs": 1}
metrics["tpc_avg_batch"] = {"median": server["tpc"]["avg_batch"], "unit": "requests/fdatasync", "runs": 1}
out = {"scenario": "webhook",
       "params": {"runs": int(runs), "duration_s": float(dur), "warmup_s": float(warm),
                  "conns": int(conns), "server_threads": int(threads),
                  "nginx_workers": int(threads), "statuses_per_body": int(statuses),
                  "seed": int(seed), "client": "bench_webhook load (1 thread, epoll, 1 request in flight per connection)"},
       "metrics": metrics, "ratios": ratios,
       "notes": "peers interleaved per run; ratios are per-run then median; defer/block fdatasync a file on " + tmp.rsplit("/", 1)[0]}
print(json.dumps(out))
sys.exit(1 if bad else 0)
EOF
