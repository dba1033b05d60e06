-- Names in natural order (`2_` before `11_` before `101_`, letters without case): each file keeps a sort key beside
-- its name, whose byte order is that order. The engine computes it (midi/name_order.rs) as it writes the file;
-- the next migration (16, in the engine: the rule lives in one place) fills the keys of a library imported before,
-- and 0017 indexes them. A collation could not do it: an ICU collation with numeric ordering made the name index's
-- build 4.6 times slower, and the writer pays each index entry again.
ALTER TABLE files ADD COLUMN IF NOT EXISTS name_sort text COLLATE "C";
ALTER TABLE search_rows ADD COLUMN IF NOT EXISTS name_sort text COLLATE "C";

-- Name order read the names themselves, in byte order.
DROP INDEX IF EXISTS files_filename_idx;
DROP INDEX IF EXISTS search_rows_name_idx;

-- The one definition of a search row gains the key, last, as search_rows did.
CREATE OR REPLACE VIEW search_rows_source AS
SELECT f.id AS file_id, f.filename, f.parent_folder, f.duration_seconds, f.num_tracks, m.bpm,
       coalesce(m.key_signature, m.detected_key) AS key, m.time_signature_numerator AS ts_num,
       m.time_signature_denominator AS ts_den, m.total_notes, m.programs, m.has_drums, f.name_sort
FROM files f JOIN musical_metadata m ON m.file_id = f.id;

CREATE OR REPLACE FUNCTION search_rows_upsert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_rows SELECT v.* FROM search_rows_source v WHERE v.file_id IN (SELECT file_id FROM changed)
    -- A file id can come back after a crash emptied UNLOGGED tables (and their sequence): the new file wins.
    ON CONFLICT (file_id) DO UPDATE SET filename = EXCLUDED.filename, parent_folder = EXCLUDED.parent_folder,
        duration_seconds = EXCLUDED.duration_seconds, num_tracks = EXCLUDED.num_tracks, bpm = EXCLUDED.bpm,
        key = EXCLUDED.key, ts_num = EXCLUDED.ts_num, ts_den = EXCLUDED.ts_den,
        total_notes = EXCLUDED.total_notes, programs = EXCLUDED.programs, has_drums = EXCLUDED.has_drums,
        name_sort = EXCLUDED.name_sort;
    RETURN NULL;
END $$;
