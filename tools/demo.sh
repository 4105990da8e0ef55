#!/usr/bin/env bash
# demo.sh - the main job end to end on embedded defaults.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$("$ROOT/tools/build.sh" "$ROOT/build")
echo "built in $B; the demo grows as the subscriber store and the sender land."
