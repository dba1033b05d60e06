#!/usr/bin/env bash
# Set up, build, and open the console on the managed database (the sample library in assets/ if no SOURCE).
# Says what it is doing, and shows cargo's progress while it builds.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo="${CARGO:-cargo}"
bin="${CARGO_TARGET_DIR:-target}/release/midi-tui"

echo "run: checking for Rust and the PostgreSQL server (scripts/setup.sh)" >&2
scripts/setup.sh
if [ -x "$bin" ]; then
  echo "run: building midi-tui (release): what changed since the last build" >&2
else
  echo "run: building midi-tui (release): the first build takes several minutes on 2 cores" >&2
fi
"$cargo" build --release
echo "run: starting $bin $*" >&2
exec "$bin" "$@"
