#!/usr/bin/env bash
# Set up, build, and open the console on the managed database (the sample library in assets/ if no SOURCE).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
exec target/release/midi-tui "$@"
