# bench/lib.sh - shell functions the bench/scenario_*.sh scripts share
# (sourced: `. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`).
#
# What lives here is what more than one scenario did for itself before:
#   bench_init NAME [PARENT]  a temporary directory $T (PARENT: default
#                             $TMPDIR or /tmp) and an EXIT trap that stops
#                             every process recorded with bench_track (by
#                             PID, never by name) and removes $T
#   bench_pinning PIN         PIN_SRV / PIN_CLI taskset prefixes (server on
#                             CPU 0, clients on CPU 1) when PIN=1 and the
#                             machine has 2+ CPUs; PIN_DESC says which
#   start_nginx DIR WORKERS BODY [COUNT_LOG]
#                             nginx answering every request with 200 BODY
#                             (HTTP/1.1 keep-alive, 127.0.0.1, a free port,
#                             retried when taken); with COUNT_LOG, requests
#                             under /counted/ are also logged there, one line
#                             each ("EPOCH.MS METHOD STATUS"), so a peer's
#                             deliveries can be counted and timed
#   stop_nginx                stops it
#   bench_cpu_ticks PID...    utime + stime (clock ticks) of the processes
#   bench_stat / bench_add_metric / bench_add_ratio / bench_ratio /
#   bench_add_pair_ratio      medians of "NAME KEY {json} [round=R]" result
#                             lines, the scenario JSON's "metrics" and
#                             "ratios" (of medians, or per interleaved round)
#   bench_add_wrk NAME CONNS SECONDS URL
#                             wrk's requests/s POSTing BENCH_POST_BODY (the
#                             machine's ceiling) into BENCH_METRICS
# The bodies are the ones bench_curl_bare.c sends and the Cloud API's
# success answer; every peer of the loop and fan-out scenarios uses them.
# Needs bash 4.4+, python3 (free port), curl (readiness checks).

# The Cloud API's success answer (what nginx returns to every POST).
BENCH_SUCCESS_BODY='{"messaging_product":"whatsapp","contacts":[{"input":"+393351234567","wa_id":"393351234567"}],"messages":[{"id":"wamid.HBgMMzkzMzUxMjM0NTY3FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA="}]}'
# The request every bare peer sends (bench_curl_bare.c's BODY, byte for byte).
BENCH_POST_BODY='{"messaging_product":"whatsapp","recipient_type":"individual","to":"+393350000001","type":"template","template":{"name":"allerta_meteo","language":{"code":"it"},"components":[{"type":"body","parameters":[{"type":"text","text":"Allerta meteo arancione: domenica 12 ottobre"}]}]},"biz_opaque_callback_data":"n=1;s=1"}'
BENCH_MSG_PATH=/v25.0/110000000000001/messages
BENCH_TCK=$(getconf CLK_TCK)
BENCH_PIDS=()
PIN_SRV=()
PIN_CLI=()
PIN_DESC=unpinned

bench_die() {
	echo "${BENCH_NAME:-bench}: $*" >&2
	exit 1
}

# bench_init NAME [PARENT]: sets BENCH_NAME and T; installs the EXIT trap.
bench_init() {
	BENCH_NAME=$1
	T=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/bench-$1.XXXXXX")
	trap bench_cleanup EXIT
}

bench_cleanup() {
	local p
	for p in "${BENCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	BENCH_PIDS=()
	[ -n "${T:-}" ] && rm -rf "$T"
}

# bench_track PID: stop it (SIGTERM) when the scenario exits.
bench_track() { BENCH_PIDS+=("$1"); }

# bench_stop PID [SECONDS=10]: stop it now (SIGTERM; SIGKILL when it is
# still there after SECONDS), reap it and forget it, so that the EXIT trap
# never signals a PID the kernel may since have given to another process.
bench_stop() {
	local i
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		# gone, or a zombie waiting for our wait
		case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) in ''|Z) break ;; esac
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	bench_forget "$1"
}

# bench_forget PID: the scenario has waited for PID itself; drop it.
bench_forget() {
	local p keep=()
	for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	BENCH_PIDS=("${keep[@]}")
}

# bench_pinning PIN: PIN_SRV, PIN_CLI (taskset prefixes or empty), PIN_DESC.
bench_pinning() {
	PIN_SRV=(); PIN_CLI=(); PIN_DESC=unpinned
	if [ "$1" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
		PIN_SRV=(taskset -c 0); PIN_CLI=(taskset -c 1)
		PIN_DESC="pinned: nginx cpu0, client cpu1"
	fi
}

# bench_freeport: a TCP port free on 127.0.0.1 right now (callers retry
# when another process takes it before they bind it).
bench_freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_wait_file FILE [SECONDS=10]: until FILE is non-empty.
bench_wait_file() {
	local i
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# bench_wait_http PORT [SECONDS=5]: until something answers HTTP on it.
bench_wait_http() {
	local i
	for ((i = 0; i < ${2:-5} * 20; i++)); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/healthz" && return 0
		sleep 0.05
	done
	return 1
}

# start_nginx DIR WORKERS BODY [COUNT_LOG]: nginx with its prefix in DIR,
# WORKERS worker processes (1: one process, no master, so the PID is what
# runs and what taskset pins), answering 200 BODY (as application/json) to
# every request, pinned with PIN_SRV. Ready means a POST to our port got
# BODY back (not merely "something answers": another job's server could
# hold a port we picked). Sets NGINX_PID, NGINX_PORT, NGINX_URL.
# TLSDIR (5th argument): serve https with TLSDIR/cert.pem and key.pem.
start_nginx() {
	local dir=$1 workers=$2 body=$3 count_log=${4:-} tlsdir=${5:-} try i got counted=""
	local scheme=http listen_ssl="" ssl_conf="" cacert=()
	if [ -n "$tlsdir" ]; then
		scheme=https listen_ssl=" ssl" cacert=(--cacert "$tlsdir/cert.pem")
		ssl_conf="ssl_certificate $tlsdir/cert.pem; ssl_certificate_key $tlsdir/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:tls:1m;"
	fi
	mkdir -p "$dir"
	if [ -n "$count_log" ]; then
		counted="
    location /counted/ {
      access_log $count_log counted;
      default_type application/json;
      return 200 '$body';
    }"
	fi
	for try in 1 2 3 4 5; do
		NGINX_PORT=$(bench_freeport)
		cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process $([ "$workers" = 1 ] && echo off || echo on);
worker_processes $workers;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  log_format counted '\$msec \$request_method \$status';
  client_max_body_size 4m;
  client_body_buffer_size 64k;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$NGINX_PORT$listen_ssl;
    $ssl_conf
    location / {
      default_type application/json;
      return 200 '$body';
    }$counted
  }
}
EOF
		"${PIN_SRV[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
			>>"$dir/nginx.out" 2>&1 &
		NGINX_PID=$!
		for ((i = 0; i < 50; i++)); do
			got=$(curl -s "${cacert[@]}" --max-time 1 -X POST "$scheme://127.0.0.1:$NGINX_PORT$BENCH_MSG_PATH" 2>/dev/null || true)
			if [ "$got" = "$body" ]; then
				bench_track "$NGINX_PID"
				NGINX_URL="$scheme://127.0.0.1:$NGINX_PORT"
				return 0
			fi
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$NGINX_PID" 2>/dev/null || true
		wait "$NGINX_PID" 2>/dev/null || true
		echo "${BENCH_NAME:-bench}: nginx try $try on port $NGINX_PORT failed" >&2
	done
	tail -5 "$dir/error.log" >&2 2>/dev/null || true
	bench_die "nginx did not start"
}

stop_nginx() {
	[ -n "${NGINX_PID:-}" ] && bench_stop "$NGINX_PID"
	NGINX_PID=""
}

# bench_nginx_pids: nginx's master (or only process) and its workers.
bench_nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }

# bench_cpu_ticks PID...: utime + stime of the processes (all their
# threads), in clock ticks (BENCH_TCK a second).
bench_cpu_ticks() {
	local t=0 p
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$t"
}

# bench_load: the load averages, for the record.
bench_load() { cut -d' ' -f1-3 /proc/loadavg; }

# bench_add_wrk NAME CONNS SECONDS URL: wrk (one thread, pinned with
# PIN_CLI) POSTing BENCH_POST_BODY for SECONDS; its requests/s is appended
# to BENCH_METRICS as NAME (nothing when wrk is missing, or failed, or saw
# non-2xx answers or socket errors: said on stderr).
bench_add_wrk() {
	command -v wrk >/dev/null || { echo "${BENCH_NAME:-bench}: no wrk" >&2; return 0; }
	local lua=$T/wrk-post.lua w rps
	[ -f "$lua" ] || cat >"$lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"
wrk.body = '$BENCH_POST_BODY'
EOF
	w=$("${PIN_CLI[@]}" wrk -t1 -c"$2" -d"$3s" -s "$lua" "$4" 2>&1 || true)
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
	if grep -qE 'Non-2xx|Socket errors' <<<"$w" || [ -z "$rps" ]; then
		echo "${BENCH_NAME:-bench}: wrk c=$2 failed: $(grep -E 'Non-2xx|Socket errors' <<<"$w" || tail -2 <<<"$w")" >&2
		return 0
	fi
	echo "${BENCH_NAME:-bench}: wrk c=$2: $rps req/s" >&2
	BENCH_METRICS="${BENCH_METRICS:-}${BENCH_METRICS:+,}\"$1\":{\"median\":$rps,\"unit\":\"req/s\",\"runs\":1}"
}

# Result lines are "NAME KEY {json}" (KEY: the connection count, usually),
# one per run, appended to a file by the scenario.
#
# bench_stat FILE NAME KEY METRIC: "median min max n" of METRIC over the
# lines of NAME KEY ("null null null 0" when there is none).
bench_stat() {
	grep "^$2 $3 " "$1" | sed -n "s/.*\"$4\":\([0-9.eE+-]*\).*/\1/p" | sort -g | awk '{a[NR]=$1} END {
		if (NR == 0) { print "null null null 0"; exit }
		m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf "%.3f %.3f %.3f %d\n", m, a[1], a[NR], NR }'
}

bench_unit() {
	case $1 in
	msgs_per_s) echo msgs/s ;;
	maxrss_kb) echo KiB ;;
	*_ms) echo ms ;;
	*_s) echo s ;;
	*) echo us/msg ;;
	esac
}

# bench_add_metric FILE NAME KEY METRIC: appends "NAME_cKEY_METRIC" to
# BENCH_METRICS (a JSON object's members) and sets M_NAME_KEY_METRIC to
# the median (null when NAME has no successful run).
bench_add_metric() {
	local med mn mx k
	read -r med mn mx k < <(bench_stat "$1" "$2" "$3" "$4")
	BENCH_METRICS="${BENCH_METRICS:-}${BENCH_METRICS:+,}\"$2_c$3_$4\":{\"median\":$med,\"min\":$mn,\"max\":$mx,\"unit\":\"$(bench_unit "$4")\",\"runs\":$k}"
	printf -v "M_$2_$3_$4" '%s' "$med"
}

# bench_ratio A B: A / B with 3 decimals; null when either is missing or B is 0.
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "null" || b == "null" || a == "" || b == "" || b + 0 == 0) print "null"
		else printf "%.3f", a / b }'
}

# bench_add_pair_ratio NAME FILE A B KEY METRIC: appends to BENCH_RATIOS
# NAME: the median, min and max over the rounds of METRIC(A) / METRIC(B),
# pairing the lines "A KEY {json} round=R" and "B KEY {json} round=R" of
# FILE (runs of one round ran next to each other: the machine's drift
# cancels), "pairs" how many rounds had both, and "of_medians" the ratio of
# the two medians (nulls when no round has both).
bench_add_pair_ratio() {
	local med mn mx k
	read -r med mn mx k < <(awk -v a="$3" -v b="$4" -v key="$5" -v m="\"$6\":" '
		$2 == key && ($1 == a || $1 == b) && match($0, / round=[0-9]+/) {
			r = substr($0, RSTART + 7, RLENGTH - 7)
			i = index($0, m)
			if (i == 0) next
			v[$1, r] = substr($0, i + length(m)) + 0
			rounds[r] = 1
		}
		END {
			for (r in rounds)
				if (((a, r) in v) && ((b, r) in v) && v[b, r] > 0) print v[a, r] / v[b, r]
		}' "$2" | sort -g | awk '{x[NR] = $1} END {
			if (NR == 0) { print "null null null 0"; exit }
			m = (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
			printf "%.3f %.3f %.3f %d\n", m, x[1], x[NR], NR }')
	BENCH_RATIOS="${BENCH_RATIOS:-}${BENCH_RATIOS:+,}\"$1\":{\"median\":$med,\"min\":$mn,\"max\":$mx,\"pairs\":$k,\"of_medians\":$(bench_ratio "$(bench_stat "$2" "$3" "$5" "$6" | cut -d' ' -f1)" "$(bench_stat "$2" "$4" "$5" "$6" | cut -d' ' -f1)")}"
}

# bench_add_ratio NAME A B: appends "NAME":{"median":A/B} to BENCH_RATIOS.
bench_add_ratio() {
	BENCH_RATIOS="${BENCH_RATIOS:-}${BENCH_RATIOS:+,}\"$1\":{\"median\":$(bench_ratio "$2" "$3")}"
}
