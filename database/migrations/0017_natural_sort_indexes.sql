-- The name order's indexes, on the keys of 0015 (filled by migration 16), built after the keys so a library
-- imported before writes each entry once. Same format as 0002: a `-- serves:` line, then one CREATE INDEX
-- statement on one line; the engine's database/indexes.rs reads this file too.

-- serves: sort by name (natural order) on the library tables
CREATE INDEX IF NOT EXISTS files_name_sort_idx ON files (name_sort, id);
-- serves: the first page of any filter in name order (the default), read from the index alone
CREATE INDEX IF NOT EXISTS search_rows_name_sort_idx ON search_rows (name_sort, file_id) INCLUDE (bpm, key, ts_num, ts_den, duration_seconds, total_notes, num_tracks, has_drums, programs, parent_folder, filename);
