#!/usr/bin/env bash
# Import in ludicrous mode (fsync off, UNLOGGED tables, indexes dropped), then put safety back and rebuild indexes.
# Usage: scripts/LUDICROUS-SPEED-import.sh SOURCE... (pass --yes through MIDI_TUI_YES=1 to skip the questions)
set -euo pipefail
bin="${MIDI_TUI_BIN:-midi-tui}"
yes=()
[ "${MIDI_TUI_YES:-0}" = "1" ] && yes=(--yes)
exec "$bin" import --mode ludicrous "${yes[@]}" "$@"
