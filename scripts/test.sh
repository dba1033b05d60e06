#!/usr/bin/env bash
# Set up and run every test: pure logic, integration against throwaway clusters, console snapshots.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export MIDI_TUI_CORPUS="${MIDI_TUI_CORPUS:-$(cd .. && pwd)/shared/corpus}"
cargo build --quiet --bins
cargo test --no-fail-fast "$@"
