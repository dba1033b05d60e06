-- Fast and ludicrous imports may skip the per-row foreign-key checks and the search_rows trigger in their writer
-- sessions; each batch that does so journals it (kind 'checks') in its own transaction, and restoring proves the
-- keys and re-syncs search_rows set-based before marking the entry restored.
ALTER TABLE safety_journal DROP CONSTRAINT IF EXISTS safety_journal_kind_check;
ALTER TABLE safety_journal ADD CONSTRAINT safety_journal_kind_check
    CHECK (kind IN ('setting', 'index', 'table', 'checks'));
