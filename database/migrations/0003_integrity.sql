-- Crash repair: one error row per path, lost rows remembered until the next import puts them back.

-- A path that fails again replaces its row instead of adding one (re-imports after a loss, concurrent importers).
DELETE FROM import_errors e USING import_errors newer
    WHERE newer.path = e.path AND newer.id > e.id;
DROP INDEX IF EXISTS import_errors_path_idx;
CREATE UNIQUE INDEX IF NOT EXISTS import_errors_path_key ON import_errors (path);

-- Files whose musical_metadata row or every file_locations row was lost in a crash (an UNLOGGED table emptied by
-- recovery while files kept its rows): the next import re-reads them from their stored location. No foreign key to
-- files: a logged table may not reference the UNLOGGED files of level 3.
CREATE TABLE IF NOT EXISTS library_repair (
    file_id     bigint PRIMARY KEY,
    location    text NOT NULL,
    missing     text NOT NULL CHECK (missing IN ('metadata', 'locations', 'both')),
    noted_at    timestamptz NOT NULL DEFAULT now()
);

-- A run whose rows were lost is read again from its sources by the next import; this says when that happened.
ALTER TABLE import_runs ADD COLUMN IF NOT EXISTS repaired_by bigint REFERENCES import_runs (id);
