#!/usr/bin/env bash
# Recreate the dropped secondary indexes in parallel (default: one job per core), then ANALYZE.
set -euo pipefail
bin="${MIDI_TUI_BIN:-midi-tui}"
exec "$bin" rebuild-indexes "$@"
