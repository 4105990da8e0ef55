#!/usr/bin/env bash
# scenario_serve.sh BUILD_DIR - durable webhook ingestion of the real
# `banditore serve`: signed single-command webhooks per second, each a
# JESI ON from a new number (so each is a real store append, made durable by
# the group commit before its 200), with p50/p99 latency; and batches of
# $STATUSES status updates. Against nginx answering a static 200 on the same
# loopback in the same run (the machine's ceiling), interleaved run by run.
#
# Per run: a fresh data directory and a fresh serve (so every number is new
# and the store starts empty), on a real disk ($SYNC_DIR; tmpfs would make
# fdatasync free); wa-mock as the Cloud API (welcomes go out at serve's
# default 80/s while the load runs, as in production). The load generator is
# bench/bench_webhook (`load`: one request in flight per keep-alive
# connection, unique ids; it exits non-zero on any failed or non-200
# request).
#
# Checks (a broken fast path cannot report a number): every request the
# client counted was answered 200; after the run the store holds at least
# as many subscription requests as the client counted (warm-up included in
# the store, not in the count); serve counted no bad signature or body; it
# exits 0 on SIGTERM.
#
# Env: RUNS (5) DUR (5 s) WARM (1 s) CONNS (64) THREADS (2 server threads;
# nginx gets as many workers) STATUSES (100) SEED (1) SYNC_DIR (/var/tmp).
# Prints one JSON object (bench/README.md); machine load in "notes".
set -euo pipefail
B=${1:?usage: scenario_serve.sh BUILD_DIR}
LOAD=$B/bench/bench_webhook
BND=$B/tools/banditore
MOCK=$B/tools/wa-mock
for x in "$LOAD" "$BND" "$MOCK"; do
  [ -x "$x" ] || { echo "scenario_serve: $x missing (build with -DBANDITORE_BENCH=ON)" >&2; exit 2; }
done
RUNS=${RUNS:-5} DUR=${DUR:-5} WARM=${WARM:-1} CONNS=${CONNS:-64} THREADS=${THREADS:-2}
STATUSES=${STATUSES:-100} SEED=${SEED:-1}
command -v nginx >/dev/null || { echo "scenario_serve: nginx not installed" >&2; exit 2; }
export BENCH_SECRET=bench-secret-$SEED
export BANDITORE_APP_SECRET=$BENCH_SECRET BANDITORE_WA_TOKEN=bench-token
unset WA_MOCK_TOKEN

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init serve "${SYNC_DIR:-/var/tmp}"
TMP=$T

start_mock() {
  "$MOCK" --listen 127.0.0.1:0 --port-file "$TMP/mock.port" --rate 0 --quiet 2>"$TMP/mock.err" &
  bench_track "$!"
  bench_wait_file "$TMP/mock.port" || { echo "scenario_serve: wa-mock did not start" >&2; exit 2; }
  MOCK_URL="http://127.0.0.1:$(cat "$TMP/mock.port")"
}

start_serve() {   # start_serve RUN: a fresh data directory
  local d="$TMP/data$1"
  rm -f "$TMP/serve.port"
  "$BND" --data "$d" --log-level warn serve --listen 127.0.0.1:0 --port-file "$TMP/serve.port" \
    --http-threads "$THREADS" --api-base "$MOCK_URL" 2>>"$TMP/serve$1.err" &
  SERVE_PID=$!
  bench_track "$SERVE_PID"
  bench_wait_file "$TMP/serve.port" || { echo "scenario_serve: serve did not start" >&2; cat "$TMP/serve$1.err" >&2; exit 2; }
  SERVE_PORT=$(cat "$TMP/serve.port")
  bench_wait_http "$SERVE_PORT" || { echo "scenario_serve: serve does not answer" >&2; exit 2; }
}

cpu_ticks() {   # cpu_ticks PID nginx|serve: user+system ticks of the process (all threads)
  if [ "$2" = nginx ]; then bench_cpu_ticks $(bench_nginx_pids); else bench_cpu_ticks "$1"; fi
}
TCK=$BENCH_TCK

RES="$TMP/results.jsonl"
: >"$RES"
load() {   # load RUN KIND TARGET URL PID
  local out c0 c1
  c0=$(cpu_ticks "$5" "$3")
  out=$("$LOAD" load --url "$4" --kind "$2" --statuses "$STATUSES" --conns "$CONNS" \
        --duration "$DUR" --warmup "$WARM" --seed "$((SEED * 1000 + $1))") ||
    { echo "scenario_serve: load $2 on $3 failed: $out" >&2; exit 1; }
  c1=$(cpu_ticks "$5" "$3")
  echo "{\"run\":$1,\"kind\":\"$2\",\"target\":\"$3\",\"cpu_ticks\":$((c1 - c0)),\"tck\":$TCK,\"r\":$out}" >>"$RES"
}
metric() {   # metric NAME{labels}: a value of serve's /metrics
  curl -s --max-time 5 "http://127.0.0.1:$SERVE_PORT/metrics" |
    awk -v k="$1" '$1 == k { print $2 }'
}

LOAD0=$(bench_load)
start_nginx "$TMP/nginx" "$THREADS" ok
start_mock
echo "scenario_serve: $RUNS runs x (nginx + serve) x (single + statuses) x ${DUR}s, load avg $LOAD0" >&2
for run in $(seq "$RUNS"); do
  load "$run" single nginx "http://127.0.0.1:$NGINX_PORT/webhook" "$NGINX_PID"
  start_serve "$run"
  load "$run" single serve "http://127.0.0.1:$SERVE_PORT/webhook" "$SERVE_PID"
  load "$run" statuses serve "http://127.0.0.1:$SERVE_PORT/webhook" "$SERVE_PID"
  fs=$(metric 'banditore_fsync_seconds_count{file="store"}')
  bad=$(metric 'banditore_webhooks_total{outcome="bad_signature"}')
  badj=$(metric 'banditore_webhooks_total{outcome="bad_json"}')
  kill -TERM "$SERVE_PID"
  rc=0; wait "$SERVE_PID" || rc=$?
  bench_forget "$SERVE_PID"
  [ "$rc" = 0 ] || { echo "scenario_serve: serve exited $rc" >&2; tail "$TMP/serve$run.err" >&2; exit 1; }
  cnt=$("$BND" --data "$TMP/data$run" subscribers count --json)
  echo "{\"run\":$run,\"kind\":\"check\",\"target\":\"serve\",\"fsyncs\":${fs:-0},\"bad\":$(( ${bad:-0} + ${badj:-0} )),\"count\":$cnt}" >>"$RES"
  rm -rf "$TMP/data$run"
  load "$run" statuses nginx "http://127.0.0.1:$NGINX_PORT/webhook" "$NGINX_PID"
  echo "scenario_serve: run $run done" >&2
done
LOAD1=$(bench_load)

python3 - "$RES" "$RUNS" "$DUR" "$WARM" "$CONNS" "$THREADS" "$STATUSES" "$SEED" "$LOAD0" "$LOAD1" "$TMP" <<'EOF'
import json, statistics, sys
res, runs, dur, warm, conns, threads, statuses, seed, load0, load1, tmp = sys.argv[1:]
rows = [json.loads(l) for l in open(res)]
def sel(kind, target):
    return [r for r in rows if r["kind"] == kind and r["target"] == target]
def stat(vals, unit):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "unit": unit, "runs": len(vals)}
metrics, ratios = {}, {}
bad = False
for kind in ("single", "statuses"):
    for t in ("nginx", "serve"):
        rs = sel(kind, t)
        metrics[f"{kind}_{t}_per_s"] = stat([r["r"]["rate_per_s"] for r in rs], "requests/s")
        metrics[f"{kind}_{t}_p50_us"] = stat([r["r"]["p50_us"] for r in rs], "us")
        metrics[f"{kind}_{t}_p99_us"] = stat([r["r"]["p99_us"] for r in rs], "us")
        metrics[f"{kind}_{t}_server_cpu_us_per_req"] = stat(
            [r["cpu_ticks"] / r["tck"] * 1e6 / max(1.0, r["r"]["rate_per_s"] * (float(dur) + float(warm)))
             for r in rs], "us")
        if kind == "statuses":
            metrics[f"{kind}_{t}_statuses_per_s"] = stat([r["r"]["events_per_s"] for r in rs], "statuses/s")
    a = [r["r"]["rate_per_s"] for r in sel(kind, "serve")]
    b = [r["r"]["rate_per_s"] for r in sel(kind, "nginx")]
    ratios[f"{kind}_serve_vs_nginx"] = {"median": statistics.median(x / y for x, y in zip(a, b))}
# Checks: the store holds every acknowledged subscription; nothing refused.
per_fsync = []
for c in sel("check", "serve"):
    single = [r for r in sel("single", "serve") if r["run"] == c["run"]][0]
    stored = c["count"]["requested"] + c["count"]["confirmed"]
    if stored < single["r"]["requests"] or c["bad"]:
        bad = True
        print(f"scenario_serve: run {c['run']}: {stored} subscriptions stored for "
              f"{single['r']['requests']} acknowledged; {c['bad']} refused", file=sys.stderr)
    # warm-up + measured requests made durable per fdatasync (both kinds of
    # load ran on this serve; statuses need no commit)
    per_fsync.append(stored / max(1, c["fsyncs"]))
metrics["single_serve_requests_per_fsync"] = stat(per_fsync, "requests/fdatasync")
targets = {"single_serve_per_s": 20000, "single_serve_vs_nginx": 0.2}
out = {"scenario": "serve",
       "params": {"runs": int(runs), "duration_s": float(dur), "warmup_s": float(warm),
                  "conns": int(conns), "server_threads": int(threads), "nginx_workers": int(threads),
                  "statuses_per_body": int(statuses), "seed": int(seed),
                  "client": "bench_webhook load (1 thread, epoll, 1 request in flight per connection)",
                  "serve": "banditore serve, fresh data dir per run, wa-mock as the API at 80 msg/s"},
       "metrics": metrics, "ratios": ratios,
       "targets": {"single_serve_per_s": {"target": 20000,
                                          "met": metrics["single_serve_per_s"]["median"] >= 20000},
                   "single_serve_vs_nginx": {"target": 0.2,
                                             "met": ratios["single_serve_vs_nginx"]["median"] >= 0.2}},
       "notes": f"peers interleaved per run; ratios per run, then the median; fdatasync on "
                f"{tmp.rsplit('/', 1)[0]}; load average before {load0}, after {load1} "
                f"(2 cores shared by client, servers and other jobs)"}
print(json.dumps(out))
sys.exit(1 if bad else 0)
EOF
