-- `like:` from a packed copy of the coarse vectors instead of the GiST walk of 0023. At a million files the walk
-- read thousands of random index pages a query (111 ms to 1.2 s cold over five files, against 300 ms); the pack is
-- every file's coarse vector in one byte per axis, with its drums, key place, tempo and instrument families, about
-- 18 bytes a file in rows that fit a page each, so a query reads it whole in one sequential scan (18 MB at a million
-- files) and ranks every file in memory (crates/engine/src/database/similar_pack.rs).
-- It covers the files up to `max_file_id`; the files after it (the tail: imported since) are read from
-- musical_metadata. It is a cache: anything that changes a covered file's vector or reuses ids (the features
-- backfill, a crash's repair, a restore) forgets it, and `like:` walks the GiST index until it is built again.
CREATE TABLE IF NOT EXISTS similarity_pack (
    part int PRIMARY KEY,
    first_id bigint NOT NULL,
    -- Per file: its id less the one before (the first's less first_id) as a LEB128 varint, the coarse vector (a signed
    -- byte per axis), the tags byte (drums, the key's place), the tempo (u16), the General MIDI families of its
    -- programs (u16, a bit each).
    ids bytea NOT NULL,
    vectors bytea NOT NULL,
    tags bytea NOT NULL,
    tempos bytea NOT NULL,
    families bytea NOT NULL
);
-- Kept in the row (no TOAST): a part is one heap page, and a sequential scan reads the pack in order.
ALTER TABLE similarity_pack ALTER COLUMN ids SET STORAGE PLAIN;
ALTER TABLE similarity_pack ALTER COLUMN vectors SET STORAGE PLAIN;
ALTER TABLE similarity_pack ALTER COLUMN tags SET STORAGE PLAIN;
ALTER TABLE similarity_pack ALTER COLUMN tempos SET STORAGE PLAIN;
ALTER TABLE similarity_pack ALTER COLUMN families SET STORAGE PLAIN;

-- One row. `generation` counts the times the pack was forgotten: a build that saw another generation at its start
-- does not store what it read. `max_file_id` NULL: no pack.
CREATE TABLE IF NOT EXISTS similarity_pack_state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL DEFAULT 0,
    max_file_id bigint,
    files bigint NOT NULL DEFAULT 0,
    parts int NOT NULL DEFAULT 0,
    -- The value of one quantization step, per axis.
    steps real[],
    built_at timestamptz
);
INSERT INTO similarity_pack_state (one) VALUES (true) ON CONFLICT DO NOTHING;
