-- Every location of a page's files from one index alone. A search page lists all locations of its 50 files, and a
-- file found in many folders or archives has its locations scattered over the heap (written by several imports):
-- cold, the page then waited on one random heap read per few locations (a 1,000,000-file library's first
-- `bpm:118..124` page: 2,193 locations on 92 heap pages). With the path beside the file id, the locations of a file
-- are adjacent index entries, read in the order the page lists them, without the heap once the visibility map says
-- the table's pages are all visible. Still the essential index of 0001 (the foreign key's cascade, "where else is
-- this content"), under the same name: its leading column is the file id, as before.
DROP INDEX IF EXISTS file_locations_file_id_idx;
CREATE INDEX IF NOT EXISTS file_locations_file_id_idx ON file_locations (file_id, path);
