-- The coarse vectors' index (see 0019). A secondary index like those of 0002 (same format: a `-- serves:` line,
-- then one CREATE INDEX statement on one line).

-- serves: files that sound alike (search like:ID, like:PATH, the browser's L key, export --group-similar)
CREATE INDEX IF NOT EXISTS musical_metadata_coarse_idx ON musical_metadata USING gist (cube(coarse::float8[])) WHERE coarse IS NOT NULL;
