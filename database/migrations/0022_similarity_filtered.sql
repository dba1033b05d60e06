-- `like:` combined with `drums:` or `bpm:` (the issue's own example, `like:123 bpm:100..130 ^drums:yes`): the coarse
-- vectors' index of 0021 ordered every file, so the walk fetched and rejected every nearby file the filter refused
-- (285,244 heap rows for that query at a million files: 5.4 s cold, 880 ms hot). This index leads with whether the
-- file has drums, so a walk for one side never enters the other's subtrees, and holds the tempo beside the vector,
-- so a `bpm:` range is tested in the index entry instead of the row: the same query reads 1,024 rows.
-- The drums column is indexed as an integer: the planner only turns a boolean column into an index condition for
-- btree and hash indexes (database/similar.rs adds the integer test to a `like:` with a `drums:` term), and the
-- statistics below give that expression its real frequency, without which the planner takes 0.5% of the files for
-- either side and sorts the whole match instead of walking the index.
CREATE EXTENSION IF NOT EXISTS btree_gist;
-- Statistics on an expression need PostgreSQL 14; on 13 the planner keeps its guess (pages stay right, and slower).
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'CREATE STATISTICS IF NOT EXISTS musical_metadata_drums_stats ON ((has_drums::int)) FROM musical_metadata';
    END IF;
END
$$;
DROP INDEX IF EXISTS musical_metadata_coarse_idx;

-- serves: files that sound alike (search like:ID, like:PATH, the browser's L key, export --group-similar), alone or with drums: and bpm:
CREATE INDEX IF NOT EXISTS musical_metadata_similar_idx ON musical_metadata USING gist ((has_drums::int), cube(coarse::float8[]), bpm) WHERE coarse IS NOT NULL;

ANALYZE musical_metadata;
