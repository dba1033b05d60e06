-- Musical duplicates: digests of a file's notes alone (crates/engine/src/midi/fingerprint.rs), 16 bytes each; the
-- transposition-blind one takes pitches relative to the lowest pitched note. A file without notes keeps NULL, so
-- it never groups. Rows imported before this migration keep NULL until their files are imported again. The indexes
-- are secondary indexes like those of 0002 (same format: a `-- serves:` line, then one CREATE INDEX statement on
-- one line); the engine's database/indexes.rs reads this file too.
ALTER TABLE musical_metadata
    ADD COLUMN IF NOT EXISTS notes_fingerprint bytea CHECK (octet_length(notes_fingerprint) = 16),
    ADD COLUMN IF NOT EXISTS transposed_fingerprint bytea CHECK (octet_length(transposed_fingerprint) = 16);

-- serves: musical duplicate groups (midi-tui dupes --musical, search dupes:N, one file's duplicates)
CREATE INDEX IF NOT EXISTS musical_metadata_notes_fingerprint_idx ON musical_metadata (notes_fingerprint) WHERE notes_fingerprint IS NOT NULL;
-- serves: transposition-blind groups (midi-tui dupes --transposed, one file's transposed copies)
CREATE INDEX IF NOT EXISTS musical_metadata_transposed_fingerprint_idx ON musical_metadata (transposed_fingerprint) WHERE transposed_fingerprint IS NOT NULL;
