-- midi-tui schema: the data model of PRODUCT.md. Applied once, tracked in schema_migrations.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS import_runs (
    id              bigserial PRIMARY KEY,
    sources         text[] NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('normal', 'fast', 'ludicrous', 'dry-run')),
    status          text NOT NULL CHECK (status IN ('running', 'done', 'interrupted', 'failed')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    files_seen      bigint NOT NULL DEFAULT 0,
    files_imported  bigint NOT NULL DEFAULT 0,
    duplicates      bigint NOT NULL DEFAULT 0,
    skipped         bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    bytes           bigint NOT NULL DEFAULT 0,
    -- The importing process, so that a run left 'running' by a killed tool can be recognised.
    pid             integer,
    host            text,
    -- Set when this run's rows were lost (UNLOGGED tables emptied by crash recovery) and must be imported again.
    rows_lost       boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS files (
    id                      bigserial PRIMARY KEY,
    content_hash            bytea NOT NULL UNIQUE CHECK (octet_length(content_hash) = 32),
    filename                text NOT NULL,
    filepath                text NOT NULL,
    parent_folder           text NOT NULL DEFAULT '',
    collection              text NOT NULL DEFAULT '',
    filename_bpm            real,
    filename_key            text,
    file_size_bytes         bigint NOT NULL,
    format                  smallint,
    num_tracks              integer,
    ticks_per_quarter_note  integer,
    duration_ticks          bigint,
    duration_seconds        double precision,
    track_names             text[] NOT NULL DEFAULT '{}',
    copyright               text,
    import_run_id           bigint REFERENCES import_runs (id),
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS musical_metadata (
    file_id                     bigint PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    bpm                         double precision,
    avg_bpm                     double precision,
    tempo_changes               integer NOT NULL DEFAULT 0,
    time_signature_numerator    smallint,
    time_signature_denominator  smallint,
    key_signature               text,
    detected_key                text,
    key_confidence              double precision,
    total_notes                 integer NOT NULL DEFAULT 0,
    unique_pitches              smallint NOT NULL DEFAULT 0,
    pitch_range_min             smallint,
    pitch_range_max             smallint,
    avg_velocity                double precision,
    polyphony_max               integer NOT NULL DEFAULT 0,
    note_density                double precision NOT NULL DEFAULT 0,
    channels                    smallint[] NOT NULL DEFAULT '{}',
    programs                    smallint[] NOT NULL DEFAULT '{}',
    has_drums                   boolean NOT NULL DEFAULT false,
    is_karaoke                  boolean NOT NULL DEFAULT false,
    lyrics_count                integer NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS file_locations (
    id              bigserial PRIMARY KEY,
    file_id         bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    path            text NOT NULL UNIQUE,
    size            bigint NOT NULL,
    -- Unix seconds of the file, or of the outermost archive for an archive member.
    mtime           bigint NOT NULL,
    import_run_id   bigint REFERENCES import_runs (id)
);
-- Essential, not a browsing index: the foreign key's cascade and "where else is this content" need it.
CREATE INDEX IF NOT EXISTS file_locations_file_id_idx ON file_locations (file_id);

CREATE TABLE IF NOT EXISTS import_errors (
    id              bigserial PRIMARY KEY,
    import_run_id   bigint NOT NULL REFERENCES import_runs (id),
    path            text NOT NULL,
    kind            text NOT NULL,
    message         text NOT NULL,
    -- Size and mtime of a file that was read: a re-run skips it unread while they still match.
    size            bigint,
    mtime           bigint,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS import_errors_run_idx ON import_errors (import_run_id);
-- Resume look-ups by path.
CREATE INDEX IF NOT EXISTS import_errors_path_idx ON import_errors (path);

-- Archives read to the end: a re-run skips them unread when size and mtime still match.
CREATE TABLE IF NOT EXISTS archive_progress (
    path            text PRIMARY KEY,
    size            bigint NOT NULL,
    mtime           bigint NOT NULL,
    members         bigint NOT NULL,
    import_run_id   bigint REFERENCES import_runs (id),
    completed_at    timestamptz NOT NULL DEFAULT now()
);

-- Level 2 backs index definitions up here (and to INDEX_BACKUP.sql) before dropping them.
CREATE TABLE IF NOT EXISTS index_backup (
    index_name      text PRIMARY KEY,
    table_name      text NOT NULL,
    definition      text NOT NULL,
    backed_up_at    timestamptz NOT NULL DEFAULT now()
);

-- Every profile change is written here before it is made, so restore-safety can undo exactly it.
CREATE TABLE IF NOT EXISTS safety_journal (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('setting', 'index', 'table')),
    target          text NOT NULL,
    old_value       text,
    new_value       text,
    restored_at     timestamptz
);
