-- Similarity features (crates/engine/src/midi/similarity.rs): a short vector of each file's musical character,
-- computed by the analysis, with the version of the vector it was computed by (`midi-tui features` recomputes the
-- rows of an older version, and of files imported before this migration, from their stored locations). `like:`
-- ranks files by the Euclidean distance between vectors, read in distance order from a GiST index of the `cube`
-- contrib extension (trusted: the library's owner may create it). The index is a secondary index like those of
-- 0002 (same format: a `-- serves:` line, then one CREATE INDEX statement on one line).
CREATE EXTENSION IF NOT EXISTS cube;
ALTER TABLE musical_metadata
    ADD COLUMN IF NOT EXISTS features real[],
    ADD COLUMN IF NOT EXISTS features_version smallint;

-- serves: files that sound alike (search like:ID, like:PATH, the browser's L key, export --group-similar)
CREATE INDEX IF NOT EXISTS musical_metadata_features_idx ON musical_metadata USING gist (cube(features::float8[])) WHERE features IS NOT NULL;
