-- Leaner normal-mode writes: every secondary index left serves a query of the product (tests/index_use.rs shows
-- each one used by its query's plan), and search_rows is filled by the writer, set-based per batch, from one view.
--
-- Dropped: indexes no query of the product reads (the browser's search, `dupes`, `export` and the engine's own
-- look-ups all go through database/search.rs, dupes.rs, runs.rs and integrity.rs; none filters or sorts on these
-- expressions, or, for the GIN on musical_metadata.programs, no plan at 100k files took it: search_rows' own
-- GIN finds a rare program, and beside a collection or a bare word the planner filters their few rows). Each cost every normal import a b-tree or GIN insertion per row. The index catalog
-- (database/indexes.rs) reads these DROP lines too, so level 2 and `rebuild-indexes` no longer know them.
DROP INDEX IF EXISTS files_filename_lower_idx;
DROP INDEX IF EXISTS files_filepath_prefix_idx;
DROP INDEX IF EXISTS files_parent_folder_idx;
DROP INDEX IF EXISTS files_collection_folder_idx;
DROP INDEX IF EXISTS files_collection_created_idx;
DROP INDEX IF EXISTS files_collection_duration_idx;
DROP INDEX IF EXISTS files_filename_bpm_idx;
DROP INDEX IF EXISTS files_filename_key_idx;
DROP INDEX IF EXISTS files_filename_bpm_key_idx;
DROP INDEX IF EXISTS files_format_idx;
DROP INDEX IF EXISTS files_format_tracks_idx;
DROP INDEX IF EXISTS files_tpqn_idx;
DROP INDEX IF EXISTS files_smpte_idx;
DROP INDEX IF EXISTS files_duration_ticks_idx;
DROP INDEX IF EXISTS files_track_names_idx;
DROP INDEX IF EXISTS files_import_run_idx;
DROP INDEX IF EXISTS files_created_at_idx;
DROP INDEX IF EXISTS musical_metadata_avg_bpm_idx;
DROP INDEX IF EXISTS musical_metadata_tempo_changes_idx;
DROP INDEX IF EXISTS musical_metadata_pitch_range_idx;
DROP INDEX IF EXISTS musical_metadata_note_density_idx;
DROP INDEX IF EXISTS musical_metadata_polyphony_idx;
DROP INDEX IF EXISTS musical_metadata_channels_idx;
DROP INDEX IF EXISTS musical_metadata_programs_idx;
DROP INDEX IF EXISTS musical_metadata_has_drums_idx;
DROP INDEX IF EXISTS musical_metadata_karaoke_idx;

-- One definition of a file's search row: the writer's per-batch fill, the statement trigger, and the restore's
-- re-sync after deferred checks all insert `SELECT v.* FROM search_rows_source v`, so the view's columns are in
-- search_rows' order. A new searched column is a column of search_rows and of this view, nothing else.
CREATE OR REPLACE VIEW search_rows_source AS
SELECT f.id AS file_id, f.filename, f.parent_folder, f.duration_seconds, f.num_tracks, m.bpm,
       coalesce(m.key_signature, m.detected_key) AS key, m.time_signature_numerator AS ts_num,
       m.time_signature_denominator AS ts_den, m.total_notes, m.programs, m.has_drums
FROM files f JOIN musical_metadata m ON m.file_id = f.id;

-- The statement trigger of 0007 stays for every other writer (a repair's backfill, the staging path, rows inserted
-- by hand) and reads the same view. A normal import's direct batches switch it off with the per-row foreign-key
-- triggers and insert their search rows themselves, in one statement over the batch's new file ids.
CREATE OR REPLACE FUNCTION search_rows_upsert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_rows SELECT v.* FROM search_rows_source v WHERE v.file_id IN (SELECT file_id FROM changed)
    -- A file id can come back after a crash emptied UNLOGGED tables (and their sequence): the new file wins.
    ON CONFLICT (file_id) DO UPDATE SET filename = EXCLUDED.filename, parent_folder = EXCLUDED.parent_folder,
        duration_seconds = EXCLUDED.duration_seconds, num_tracks = EXCLUDED.num_tracks, bpm = EXCLUDED.bpm,
        key = EXCLUDED.key, ts_num = EXCLUDED.ts_num, ts_den = EXCLUDED.ts_den,
        total_notes = EXCLUDED.total_notes, programs = EXCLUDED.programs, has_drums = EXCLUDED.has_drums;
    RETURN NULL;
END $$;

-- A normal import's batch checks its keys set-based (database/writer.rs): the run its rows name is locked as each
-- per-row foreign-key trigger would lock it, once per batch, and a missing run fails the batch with the triggers'
-- own error code.
CREATE OR REPLACE FUNCTION lock_import_run(run bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM import_runs WHERE id = run FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format(
            'insert violates foreign key constraint: import run %s is not present in table "import_runs"', run);
    END IF;
END $$;
