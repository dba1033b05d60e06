-- Library search at a million files: one narrow row per analysed file with every column a search filters or sorts
-- on, from `files` and `musical_metadata` together, so that one covering index walked in the page's order finds
-- the first page without reading either table's heap (the page's 50 rows are then fetched by id). Kept in step by
-- triggers on `musical_metadata` (every writer path inserts a file's metadata row after its `files` row), so no
-- writer has to know about it. No foreign key: it stays logged while a level-3 profile makes the library tables
-- UNLOGGED; a search joins back to `files` and `musical_metadata`, so a row whose file is gone is never shown.
-- The indexes are secondary indexes like those of 0002 (same format: a `-- serves:` line, then one CREATE INDEX
-- statement on one line); the engine's database/indexes.rs reads this file too.

CREATE TABLE IF NOT EXISTS search_rows (
    file_id             bigint PRIMARY KEY,
    filename            text NOT NULL,
    parent_folder       text NOT NULL,
    duration_seconds    double precision,
    num_tracks          integer,
    bpm                 double precision,
    -- The declared key signature, else the detected key (what `key:` matches).
    key                 text,
    ts_num              smallint,
    ts_den              smallint,
    total_notes         integer NOT NULL,
    -- MIDI data bytes, 0..=127, as musical_metadata.programs.
    programs            smallint[] NOT NULL,
    has_drums           boolean NOT NULL
);

CREATE OR REPLACE FUNCTION search_rows_upsert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_rows (file_id, filename, parent_folder, duration_seconds, num_tracks, bpm, key, ts_num,
                             ts_den, total_notes, programs, has_drums)
    SELECT f.id, f.filename, f.parent_folder, f.duration_seconds, f.num_tracks, m.bpm,
           coalesce(m.key_signature, m.detected_key), m.time_signature_numerator, m.time_signature_denominator,
           m.total_notes, m.programs, m.has_drums
    FROM changed m JOIN files f ON f.id = m.file_id
    -- A file id can come back after a crash emptied UNLOGGED tables (and their sequence): the new file wins.
    ON CONFLICT (file_id) DO UPDATE SET filename = EXCLUDED.filename, parent_folder = EXCLUDED.parent_folder,
        duration_seconds = EXCLUDED.duration_seconds, num_tracks = EXCLUDED.num_tracks, bpm = EXCLUDED.bpm,
        key = EXCLUDED.key, ts_num = EXCLUDED.ts_num, ts_den = EXCLUDED.ts_den,
        total_notes = EXCLUDED.total_notes, programs = EXCLUDED.programs, has_drums = EXCLUDED.has_drums;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_rows_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_rows s USING gone g WHERE s.file_id = g.file_id;
    RETURN NULL;
END $$;

-- Statement-level with transition tables: one set-based statement per COPY or INSERT, not one per row.
DROP TRIGGER IF EXISTS search_rows_insert ON musical_metadata;
CREATE TRIGGER search_rows_insert AFTER INSERT ON musical_metadata
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION search_rows_upsert();
DROP TRIGGER IF EXISTS search_rows_update ON musical_metadata;
CREATE TRIGGER search_rows_update AFTER UPDATE ON musical_metadata
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION search_rows_upsert();
DROP TRIGGER IF EXISTS search_rows_delete ON musical_metadata;
CREATE TRIGGER search_rows_delete AFTER DELETE ON musical_metadata
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION search_rows_delete();

-- The rows of a library imported before this migration.
INSERT INTO search_rows (file_id, filename, parent_folder, duration_seconds, num_tracks, bpm, key, ts_num, ts_den,
                         total_notes, programs, has_drums)
SELECT f.id, f.filename, f.parent_folder, f.duration_seconds, f.num_tracks, m.bpm,
       coalesce(m.key_signature, m.detected_key), m.time_signature_numerator, m.time_signature_denominator,
       m.total_notes, m.programs, m.has_drums
FROM files f JOIN musical_metadata m ON m.file_id = f.id
ON CONFLICT (file_id) DO NOTHING;

-- serves: the first page of any filter in name order (the default), read from the index alone
CREATE INDEX IF NOT EXISTS search_rows_name_idx ON search_rows (filename, file_id) INCLUDE (bpm, key, ts_num, ts_den, duration_seconds, total_notes, num_tracks, has_drums, programs, parent_folder);
-- serves: tempo ranges, and any filter sorted by tempo, read from the index alone
CREATE INDEX IF NOT EXISTS search_rows_bpm_idx ON search_rows (bpm, file_id) INCLUDE (key, ts_num, ts_den, duration_seconds, total_notes, num_tracks, has_drums, programs);
-- serves: length ranges, and any filter sorted by length, read from the index alone
CREATE INDEX IF NOT EXISTS search_rows_duration_idx ON search_rows (duration_seconds, file_id) INCLUDE (bpm, key, ts_num, ts_den, total_notes, num_tracks, has_drums, programs);
-- serves: note-count ranges, and any filter sorted by note count, read from the index alone
CREATE INDEX IF NOT EXISTS search_rows_notes_idx ON search_rows (total_notes, file_id) INCLUDE (bpm, key, ts_num, ts_den, duration_seconds, num_tracks, has_drums, programs);
-- serves: a rare time signature without walking the name order
CREATE INDEX IF NOT EXISTS search_rows_ts_idx ON search_rows (ts_num, ts_den);
-- serves: a rare General MIDI program without walking the name order
CREATE INDEX IF NOT EXISTS search_rows_programs_idx ON search_rows USING gin (programs);
-- serves: a rare track count without walking the name order
CREATE INDEX IF NOT EXISTS search_rows_tracks_idx ON search_rows (num_tracks);
