#!/usr/bin/env bash
# Set up and run every test: pure logic, integration against throwaway clusters, console snapshots.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-tests.sh
export MIDI_TUI_CORPUS="${MIDI_TUI_CORPUS:-$(cd .. && pwd)/shared/corpus}"
cargo build --quiet --bins
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast --tests "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
