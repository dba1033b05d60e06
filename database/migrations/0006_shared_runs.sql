-- Shared runs: several importers given the same sources at once split the work. The sources are cut into units
-- (a batch of plain files in walk order, or one archive) that any importer claims with FOR UPDATE SKIP LOCKED and
-- holds with a lease it renews; a killed importer's lease runs out and its units are claimed again.
CREATE TABLE IF NOT EXISTS shared_runs (
    id          bigserial PRIMARY KEY,
    -- BLAKE3 of the canonical sources and the mode: importers that compute the same key join the same run.
    run_key     text NOT NULL,
    sources     text[] NOT NULL,
    mode        text NOT NULL,
    -- preparing: the first importer applies the mode's levels; open: units are claimed; closed: the last one left.
    state       text NOT NULL DEFAULT 'preparing' CHECK (state IN ('preparing', 'open', 'closed')),
    -- Some importer walked the sources to the end: every unit is recorded.
    scan_done   boolean NOT NULL DEFAULT false,
    units_total integer,
    -- The importer that restores the profile for the run (the last one out).
    restorer    bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS shared_runs_open_key ON shared_runs (run_key) WHERE state <> 'closed';

CREATE TABLE IF NOT EXISTS run_importers (
    id              bigserial PRIMARY KEY,
    shared_run_id   bigint NOT NULL REFERENCES shared_runs (id) ON DELETE CASCADE,
    import_run_id   bigint REFERENCES import_runs (id),
    host            text,
    pid             integer,
    creator         boolean NOT NULL DEFAULT false,
    units_taken     integer NOT NULL DEFAULT 0,
    joined_at       timestamptz NOT NULL DEFAULT now(),
    -- Renewed while the importer lives; past it, the importer counts as gone.
    lease_until     timestamptz NOT NULL,
    left_at         timestamptz
);
CREATE INDEX IF NOT EXISTS run_importers_run_idx ON run_importers (shared_run_id);

CREATE TABLE IF NOT EXISTS run_units (
    shared_run_id   bigint NOT NULL REFERENCES shared_runs (id) ON DELETE CASCADE,
    ordinal         integer NOT NULL,
    -- The scan items of the unit (location, size, mtime, what it is), as the walk found them.
    items           jsonb NOT NULL,
    owner           bigint REFERENCES run_importers (id) ON DELETE SET NULL,
    lease_until     timestamptz,
    -- How often the unit was claimed: more than once only when an importer's lease ran out.
    claims          integer NOT NULL DEFAULT 0,
    done            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (shared_run_id, ordinal)
);
CREATE INDEX IF NOT EXISTS run_units_todo_idx ON run_units (shared_run_id, ordinal) WHERE NOT done;
