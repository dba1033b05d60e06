-- Why a run ended without finishing (cancelled, its process gone, the error it failed on): `status` and the
-- console's start screen list interrupted and failed runs with it, and offer to resume them.
ALTER TABLE import_runs ADD COLUMN IF NOT EXISTS stop_reason text;
