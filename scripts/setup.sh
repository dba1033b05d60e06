#!/usr/bin/env bash
# Installs what midi-tui needs on a fresh machine: a Rust toolchain check, the PostgreSQL server binaries, the
# archive tools the tests and benchmarks compare against (7-Zip, zstd, lz4, xz, lbzip2, unzip), ALSA's development
# files (the audio device and MIDI ports link libasound) and a small General MIDI SoundFont (TimGM6mb, 6 MB) for
# listening and its tests. The importer itself needs no system library: its archive readers are Rust crates or
# bundle their C/C++ sources.
set -euo pipefail

have_pg_server() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  return 1
}

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust from https://rustup.rs (1.94 or newer)" >&2
  exit 1
fi

if ! have_pg_server; then
  echo "setup: installing the PostgreSQL server binaries" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-contrib >/dev/null
    # Debian's package starts a cluster of its own; midi-tui runs its own, so leave that one stopped.
    $SUDO service postgresql stop >/dev/null 2>&1 || true
  elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y postgresql-server postgresql-contrib
  elif command -v brew >/dev/null 2>&1; then
    brew install postgresql@15
  else
    echo "setup: install the PostgreSQL server (initdb, pg_ctl, postgres) with your package manager" >&2
    exit 1
  fi
fi

# Archive tools: fixtures are made with them and the archive benchmarks measure them beside the importer.
ARCHIVE_TOOLS="7zip zstd lz4 xz-utils lbzip2 unzip pigz zip"
if ! command -v 7zz >/dev/null 2>&1 || ! command -v zstd >/dev/null 2>&1 || ! command -v lz4 >/dev/null 2>&1 \
  || ! command -v lbzip2 >/dev/null 2>&1 || ! command -v xz >/dev/null 2>&1 || ! command -v unzip >/dev/null 2>&1 \
  || ! command -v pigz >/dev/null 2>&1 || ! command -v zip >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing archive tools ($ARCHIVE_TOOLS)" >&2
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $ARCHIVE_TOOLS >/dev/null
  else
    echo "setup: install 7-Zip (7zz), zstd, lz4, xz, lbzip2, unzip, pigz and zip with your package manager" >&2
  fi
fi

# Listening: libasound for the build (cpal's audio output and midir's MIDI ports, through pkg-config), and a GM
# SoundFont where the synthesizer looks for one (/usr/share/sounds/sf2/TimGM6mb.sf2).
have_alsa_dev() {
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists alsa
}
have_soundfont() {
  for f in /usr/share/sounds/sf2/*.sf2 /usr/share/soundfonts/*.sf2; do
    [ -f "$f" ] && return 0
  done
  return 1
}
if [ "$(uname -s)" = "Linux" ] && { ! have_alsa_dev || ! have_soundfont; }; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ALSA development files and a GM SoundFont (libasound2-dev pkg-config timgm6mb-soundfont)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libasound2-dev pkg-config timgm6mb-soundfont >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y alsa-lib-devel pkgconf-pkg-config fluid-soundfont-gm
  else
    echo "setup: install ALSA's development files (libasound2-dev) and a GM SoundFont (.sf2) with your package manager" >&2
    exit 1
  fi
fi
