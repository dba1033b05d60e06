#!/usr/bin/env bash
# What running midi-tui needs on a fresh machine: a Rust toolchain (checked), the PostgreSQL server binaries, ALSA's
# development files (the build links libasound for the audio device and MIDI ports) and a small General MIDI
# SoundFont (TimGM6mb, 6 MB) to listen with (installed with the system's package manager when missing). The archive tools and shells the tests use are
# scripts/setup-tests.sh's. Says what it does; the package manager's own chatter is shown only if it fails.
set -euo pipefail

say() { echo "setup: $*" >&2; }

# Run a command with its output kept aside, shown only when it fails.
quietly() {
  local log status
  log="$(mktemp)"
  set +e
  "$@" >"$log" 2>&1
  status=$?
  set -e
  [ "$status" -ne 0 ] && cat "$log" >&2
  rm -f "$log"
  return "$status"
}

have_pg_server() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  return 1
}

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo not found; install Rust from https://rustup.rs (1.94 or newer)"
  exit 1
fi

if ! have_pg_server; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    say "installing the PostgreSQL server binaries with apt-get (once; a minute or two)"
    quietly $SUDO apt-get update -q
    quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib
    # Debian's package starts a cluster of its own; midi-tui runs its own, so leave that one stopped.
    $SUDO service postgresql stop >/dev/null 2>&1 || true
    say "PostgreSQL server binaries installed"
  elif command -v dnf >/dev/null 2>&1; then
    say "installing the PostgreSQL server binaries with dnf"
    $SUDO dnf install -y postgresql-server postgresql-contrib
  elif command -v brew >/dev/null 2>&1; then
    say "installing the PostgreSQL server binaries with brew"
    brew install postgresql@15
  else
    say "install the PostgreSQL server (initdb, pg_ctl, postgres) with your package manager"
    exit 1
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
    say "installing ALSA's development files and a GM SoundFont (libasound2-dev pkg-config timgm6mb-soundfont)"
    quietly $SUDO apt-get update -q
    quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libasound2-dev pkg-config timgm6mb-soundfont
    say "ALSA development files and the TimGM6mb SoundFont installed"
  elif command -v dnf >/dev/null 2>&1; then
    say "installing ALSA's development files and a GM SoundFont with dnf"
    $SUDO dnf install -y alsa-lib-devel pkgconf-pkg-config fluid-soundfont-gm
  else
    say "install ALSA's development files (libasound2-dev) and a General MIDI SoundFont (.sf2) with your package manager"
    exit 1
  fi
fi
