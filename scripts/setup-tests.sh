#!/usr/bin/env bash
# What the tests and benchmarks need on top of scripts/setup.sh: the archive tools that make fixtures and that the
# archive benchmarks measure beside the importer (7-Zip, zstd, lz4, xz, lbzip2, pigz, zip, unzip), and the shells
# and roff formatter the command-line tests run the completions and the manual through (zsh, fish, groff).
# scripts/test.sh and .ci/run call it; running the tool needs none of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Command -> Debian package.
declare -A PACKAGE=(
  [7zz]=7zip [zstd]=zstd [lz4]=lz4 [xz]=xz-utils [lbzip2]=lbzip2 [unzip]=unzip [pigz]=pigz [zip]=zip
  [zsh]=zsh [fish]=fish [groff]=groff-base
)
missing=()
for tool in "${!PACKAGE[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE[$tool]}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  echo "setup-tests: installing ${missing[*]} with apt-get" >&2
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  if ! { $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
else
  echo "setup-tests: install these with your package manager (Debian names): ${missing[*]}" >&2
fi
