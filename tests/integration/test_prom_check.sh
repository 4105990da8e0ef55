#!/usr/bin/env bash
# test_prom_check.sh - the scrape checker other integration tests use
# (tests/tools/prom_check.c) accepts good text, rejects bad text, reads
# values and requires families; so a test that pipes /metrics into it can
# fail for the right reasons.
set -euo pipefail
C="$BUILD_DIR/tests/prom_check"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf '# HELP a_total A.\n# TYPE a_total counter\na_total{code="131026",outcome="failed"} 3\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n' > "$T/good"
v=$("$C" --require a_total --require h --value 'a_total{code="131026",outcome="failed"}' "$T/good")
[ "$v" = 3 ] || fail "value: got '$v'"
"$C" < "$T/good" 2>/dev/null || fail "stdin"

printf '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 3\n' > "$T/bad_count"
printf 'a_total 1\n' > "$T/no_type"
printf '# TYPE a gauge\na{to="393351234567"} 1\n' > "$T/phone"
for f in bad_count no_type phone; do
	if "$C" "$T/$f" 2>/dev/null; then fail "$f accepted"; fi
done
if "$C" --require missing_total "$T/good" 2>/dev/null; then fail "missing family accepted"; fi
if "$C" --value 'a_total{outcome="x"}' "$T/good" >/dev/null 2>&1; then fail "missing sample accepted"; fi
echo "prom_check: ok"
