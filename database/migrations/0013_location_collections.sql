-- Every location of a file is searched by `coll:`, `folder:` and `name:`, not only the first one seen: a file found
-- in a folder and, byte-identical, in a pack is in both collections. Each location keeps what differs from its
-- file's own values (`files.collection`, `files.parent_folder`, `files.filename`, those of the first location):
-- NULL means the same as the file's, so a library whose copies share their names adds no index entries at all.
-- The values of a library imported before are recomputed from the stored locations and the runs' sources by the
-- next migration (0014, in the engine: the rule lives in one place, midi/path_meta.rs).
ALTER TABLE file_locations ADD COLUMN IF NOT EXISTS collection text;
ALTER TABLE file_locations ADD COLUMN IF NOT EXISTS parent_folder text;
ALTER TABLE file_locations ADD COLUMN IF NOT EXISTS filename text;

-- serves: `coll:` on every location of a file (files whose other locations lie in the collection)
CREATE INDEX IF NOT EXISTS file_locations_collection_idx ON file_locations (collection, file_id) WHERE collection IS NOT NULL;
-- serves: `folder:` on every location of a file (files whose other locations lie in a folder with the text)
CREATE INDEX IF NOT EXISTS file_locations_folder_trgm_idx ON file_locations USING gin (parent_folder gin_trgm_ops) WHERE parent_folder IS NOT NULL;
-- serves: `name:` on every location of a file (files stored under other names too)
CREATE INDEX IF NOT EXISTS file_locations_name_trgm_idx ON file_locations USING gin (filename gin_trgm_ops) WHERE filename IS NOT NULL;
