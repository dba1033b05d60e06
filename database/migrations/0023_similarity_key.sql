-- `like:` with `key:` (`like:123 key:Cm~`): the key was tested in the row, so the walk fetched every nearby file of
-- another key only to reject it (414 ms cold for `like:X key:Cm~` at a million files, against 300). The index of
-- 0022 now also holds each file's key as its place on the circle of fifths, where a key and its compatible keys
-- (`~`: the relative major or minor and the two neighbours) are five consecutive places, so `key:` is a range
-- tested in the index entry and only the one place between them that is not asked for costs a row.
-- The place counts 2 per fifth (the major key, then its relative minor) from D-flat major (0) to D-sharp minor (23).
-- The circle has a seam there: the keys next to it have neighbours on both ends, so the index holds the place a
-- second time, turned half a circle, where their five places are consecutive again. database/similar.rs spells
-- both expressions as they are written here; they are the term's whole test there (the places are the spellings').
-- `k` is a key as the analysis stores it (`C`, `F#m`, `Bb`); anything else has no place (NULL).
CREATE OR REPLACE FUNCTION key_place(k text, turn int) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT CASE WHEN k ~ '^[A-G][#b]?m?$' THEN
            (2 * (((strpos('C D EF G A B', left(k, 1)) - 1
                    + CASE substr(k, 2, 1) WHEN '#' THEN 1 WHEN 'b' THEN 11 ELSE 0 END
                    + CASE WHEN right(k, 1) = 'm' THEN 3 ELSE 0 END) * 7 + 5) % 12)
             + (right(k, 1) = 'm')::int + turn) % 24
        END
    $$;

-- The planner reads no statistics of a partial index's expressions, and guesses that a range of places holds 0.5% of
-- the files: it then reads every file of the key and sorts them (3.3 s cold, 361 ms hot for `like:X key:Cm~` at a
-- million files) instead of walking the index (32 ms hot). Statistics on an expression need PostgreSQL 14.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'CREATE STATISTICS IF NOT EXISTS musical_metadata_key_place_stats '
            'ON (key_place(coalesce(key_signature, detected_key), 0)) FROM musical_metadata';
        EXECUTE 'CREATE STATISTICS IF NOT EXISTS musical_metadata_key_turned_stats '
            'ON (key_place(coalesce(key_signature, detected_key), 12)) FROM musical_metadata';
    END IF;
END
$$;

DROP INDEX IF EXISTS musical_metadata_similar_idx;

-- serves: files that sound alike (search like:ID, like:PATH, the browser's L key, export --group-similar), alone or with drums:, bpm: and key:
CREATE INDEX IF NOT EXISTS musical_metadata_like_idx ON musical_metadata USING gist ((has_drums::int), cube(coarse::float8[]), bpm, key_place(coalesce(key_signature, detected_key), 0), key_place(coalesce(key_signature, detected_key), 12)) WHERE coarse IS NOT NULL;

ANALYZE musical_metadata;
