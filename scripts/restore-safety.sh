#!/usr/bin/env bash
# Put every setting the profiles changed back, tables LOGGED, and verify (exit 1 if anything is not restored).
set -euo pipefail
bin="${MIDI_TUI_BIN:-midi-tui}"
exec "$bin" restore-safety "$@"
