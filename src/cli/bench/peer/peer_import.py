#!/usr/bin/env python3
"""An afternoon's MIDI importer: the script a competent user writes instead of midi-tui.

`midi-tui bench --peer` runs it beside `midi-tui import` on the same corpora (see BENCHMARKS.md). It walks the
folders, reads, hashes (SHA-256) and parses (symusic, a C++ MIDI parser) each file in a pool of 2 worker processes,
computes the first tempo, time and key signature, the note count, the length in seconds, the programs and whether
the drum channel plays, skips duplicate hashes, and streams the rows with psycopg's `cursor.copy()` into one table
with one primary key, in one transaction. Files it cannot parse are counted and left out; archives are not read.

    python3 peer_import.py --dsn postgresql:///db?host=/run/sock DIR [DIR...]

Prints one JSON line: files seen, imported, duplicates, failed, seconds.
"""

import argparse
import hashlib
import json
import os
import sys
import time
from multiprocessing import Pool

import psycopg
import symusic

MIDI_EXTENSIONS = (".mid", ".midi", ".kar", ".rmi")

# Key signature meta event: sharps/flats count (-7..7) and mode, as a name such as "F#m".
MAJOR = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
MINOR = ["Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m"]

TABLE = """
CREATE TABLE IF NOT EXISTS peer_midi_files (
    content_hash     bytea PRIMARY KEY,
    path             text NOT NULL,
    size             bigint NOT NULL,
    ticks_per_quarter integer,
    tracks           integer,
    bpm              double precision,
    ts_num           smallint,
    ts_den           smallint,
    key              text,
    notes            integer,
    duration_seconds double precision,
    programs         smallint[],
    has_drums        boolean
)
"""

COLUMNS = (
    "content_hash, path, size, ticks_per_quarter, tracks, bpm, ts_num, ts_den, key, notes, duration_seconds, "
    "programs, has_drums"
)


def walk(roots):
    """Every MIDI file under the roots, in a stable order."""
    for root in roots:
        if os.path.isfile(root):
            yield os.path.abspath(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.lower().endswith(MIDI_EXTENSIONS) and not name.startswith("._"):
                    yield os.path.abspath(os.path.join(dirpath, name))


def key_name(ks):
    if ks is None or not -7 <= ks.key <= 7:
        return None
    return (MINOR if ks.tonality else MAJOR)[ks.key + 7]


def analyse(path):
    """Read, hash and parse one file (in a worker): a row, or None with the hash when it does not parse."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None, None, path
    digest = hashlib.sha256(data).digest()
    try:
        score = symusic.Score.from_midi(data)
    except Exception:  # noqa: BLE001 - a broken file is counted, never fatal
        return digest, None, path
    tempos, sigs, keys = score.tempos, score.time_signatures, score.key_signatures
    notes = 0
    programs = set()
    drums = False
    for track in score.tracks:
        n = track.note_num()
        notes += n
        if n == 0:
            continue
        if track.is_drum:
            drums = True
        else:
            programs.add(track.program)
    # Length in seconds through the tempo map: the last tick the score reaches, converted.
    try:
        seconds = score.to("second").end() if len(score.tracks) else 0.0
    except Exception:  # noqa: BLE001
        seconds = None
    row = (
        digest,
        path,
        len(data),
        score.ticks_per_quarter,
        len(score.tracks),
        tempos[0].qpm if len(tempos) else None,
        sigs[0].numerator if len(sigs) else None,
        sigs[0].denominator if len(sigs) else None,
        key_name(keys[0]) if len(keys) else None,
        notes,
        float(seconds) if seconds is not None else None,
        sorted(programs),
        drums,
    )
    return digest, row, path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string or URL")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("sources", nargs="+")
    args = parser.parse_args()
    started = time.monotonic()
    seen = imported = duplicates = failed = 0
    hashes = set()
    with psycopg.connect(args.dsn) as conn:
        conn.execute(TABLE)
        with conn.cursor() as cur, Pool(args.workers) as pool:
            with cur.copy(f"COPY peer_midi_files ({COLUMNS}) FROM STDIN") as copy:
                for digest, row, _path in pool.imap_unordered(analyse, walk(args.sources), chunksize=64):
                    seen += 1
                    if row is None:
                        failed += 1
                        continue
                    if digest in hashes:
                        duplicates += 1
                        continue
                    hashes.add(digest)
                    copy.write_row(row)
                    imported += 1
        conn.commit()
    print(
        json.dumps(
            {
                "seen": seen,
                "imported": imported,
                "duplicates": duplicates,
                "failed": failed,
                "seconds": time.monotonic() - started,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
