-- Library search: bare words also match track names. Its index is a secondary index like those of 0002 (same
-- format: a `-- serves:` line, then one CREATE INDEX statement on one line); the engine's database/indexes.rs reads both files.

-- Immutable, so that an index may use it: the text of every track name, space-separated.
CREATE OR REPLACE FUNCTION track_names_text(names text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT pg_catalog.array_to_string(names, ' ') $$;

-- serves: search words in track names (track_names_text(track_names) ILIKE '%bass%')
CREATE INDEX IF NOT EXISTS files_track_names_trgm_idx ON files USING gin (track_names_text(track_names) gin_trgm_ops);
