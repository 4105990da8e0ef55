# kill9.sh - sourced by the kill -9 crash tests (test_store_crash.sh,
# test_purge_crash.sh): a millisecond clock and sleep, and one round of
# "start a command, kill -9 it at a random moment". Sets no shell options.

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# kill9_within MAX_MS OUT ERR CMD...: start CMD in the background (stdout to
# OUT, stderr to ERR; PID holds it meanwhile, for the caller's EXIT trap),
# kill -9 it at a random moment within MAX_MS ms (it may finish first), and
# set ST to its exit status: 137 when the kill landed.
kill9_within() {
	local max=$1 out=$2 err=$3
	shift 3
	"$@" >"$out" 2>"$err" &
	PID=$!
	sleep_ms $(( (RANDOM * 32768 + RANDOM) % (max + 1) ))
	if kill -9 "$PID" 2>/dev/null; then
		wait "$PID" 2>/dev/null; ST=$?
	else
		wait "$PID"; ST=$?
	fi
	PID=""
}
