#!/usr/bin/env bash
# Extract archives into OUT in parallel, keeping folders, never overwriting, refusing escapes.
# Usage: scripts/parallel-extract-all.sh OUT ARCHIVE...
set -euo pipefail
bin="${MIDI_TUI_BIN:-midi-tui}"
out="$1"; shift
exec "$bin" extract "$@" --out "$out"
