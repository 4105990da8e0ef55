# common.sh - what every integration-test library shares (sourced by
# sender/lib.sh, serve/lib.sh, wamock/lib.sh and ops/lib.sh, never run on
# its own). One temporary directory per test, every process the test
# starts recorded in PIDS and stopped by PID in the EXIT trap, every wait
# bounded in time.
#
#   itest_init PREFIX     TMP=/tmp/PREFIX.XXXXXX, PIDS=(), the EXIT trap.
#                         ITEST_GRACE=1 (set before): cleanup sends TERM and
#                         waits up to 5 s before KILL (a clean shutdown is
#                         part of what ops tests look at); otherwise KILL.
#                         KEEP_TMP=1 keeps the directory for a post-mortem.
#   fail MESSAGE          print it with the tail (FAIL_TAIL lines, 8) of
#                         every $TMP/*.err, exit 1.
#   wait_file FILE SECS   until FILE exists and is not empty.
#   wait_gone PID SECS    until PID has exited; 124 when it has not.
#   stop_pid PID [SIG [SECS]]  signal (TERM), wait (15 s), return the exit
#                         status, or 124 when it is still running.
#   free_port             a free loopback TCP port (bound and released; the
#                         caller binds it at once, and a start fails loudly
#                         on the rare collision).
set -euo pipefail

itest_init() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()
	trap itest_cleanup EXIT
}

itest_cleanup() {
	local p
	if [ "${ITEST_GRACE:-0}" = 1 ]; then
		for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
		for p in "${PIDS[@]}"; do wait_gone "$p" 5 || true; done
	fi
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}

fail() {
	echo "FAIL: $*" >&2
	local f
	for f in "$TMP"/*.err; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -"${FAIL_TAIL:-8}" "$f" >&2; }
	done
	exit 1
}

wait_file() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

wait_gone() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 124
}

stop_pid() {
	local p=$1 rc=0
	kill "-${2:-TERM}" "$p" 2>/dev/null || true
	wait_gone "$p" "${3:-15}" || return 124
	wait "$p" 2>/dev/null || rc=$?
	return $rc
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
