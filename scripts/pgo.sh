#!/usr/bin/env bash
# A profile-guided (PGO) release build of midi-tui: an instrumented build, a training run on a generated corpus
# (a dry-run and a ludicrous import into a throwaway managed cluster), the profiles merged, then the optimized build.
#
#   scripts/pgo.sh                      # the binary lands in target/pgo/use/release/midi-tui
#
# Environment: LLVM_PROFDATA (an llvm-profdata of rustc's own LLVM version; default: the one of
# `rustup component add llvm-tools`), PGO_CORPUS (a MIDI folder to train on; default: 20,000 generated files),
# PGO_DIR (default target/pgo).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${PGO_DIR:-target/pgo}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
llvm=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata=${LLVM_PROFDATA:-$(find "$(rustc --print sysroot)" -name llvm-profdata -type f 2>/dev/null | head -n 1)}
if [ -z "$profdata" ] || ! "$profdata" --version | grep -q "LLVM version $llvm\."; then
    echo "pgo: need an llvm-profdata of LLVM $llvm (rustc's): rustup component add llvm-tools, or set LLVM_PROFDATA" >&2
    exit 1
fi

profiles=$dir/profiles
rm -rf "$profiles"
mkdir -p "$profiles"
echo "pgo: instrumented build" >&2
RUSTFLAGS="-Cprofile-generate=$profiles" cargo build --release --target-dir "$dir/gen"
gen=$dir/gen/release/midi-tui

corpus=${PGO_CORPUS:-$dir/corpus}
if [ ! -e "$corpus/.complete" ] && [ -z "${PGO_CORPUS:-}" ]; then
    rm -rf "$corpus"
    "$gen" gen-corpus "$corpus" --files 20000 >&2
    touch "$corpus/.complete"
fi
echo "pgo: training on $corpus" >&2
"$gen" import --dry-run "$corpus" >&2
data=$dir/data
rm -rf "$data"
"$gen" --data-dir "$data" import --mode ludicrous --yes "$corpus" >&2
"$gen" --data-dir "$data" db stop >&2 || true
# The server's folders may live elsewhere behind symlinks (see README, "The managed cluster").
for link in "$data/pg" "$data/run"; do
    if target=$(readlink "$link"); then rm -rf "$(dirname "$target")"; fi
done
rm -rf "$data"

"$profdata" merge -o "$dir/merged.profdata" "$profiles"
echo "pgo: optimized build" >&2
RUSTFLAGS="-Cprofile-use=$dir/merged.profdata" cargo build --release --target-dir "$dir/use"
echo "pgo: $dir/use/release/midi-tui" >&2
