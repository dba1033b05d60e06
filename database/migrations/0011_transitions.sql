-- Profile transitions (profile apply, restore-safety, rebuild-indexes) from their start to their verified end. A row
-- left unfinished by a killed tool or server names the command and the step it stopped at, for `status`; the next
-- run of the same command completes the work (every step is idempotent) and finishes the row. The journal marks a
-- change restored only once its old value is verified in force, so no step can be skipped by a kill.
CREATE TABLE IF NOT EXISTS safety_transitions (
    id          bigserial PRIMARY KEY,
    command     text NOT NULL,
    step        text NOT NULL DEFAULT 'starting',
    host        text,
    pid         integer,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS safety_transitions_unfinished ON safety_transitions (id) WHERE finished_at IS NULL;
