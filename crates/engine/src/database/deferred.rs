//! Deferred checks of fast and ludicrous writes: per-row foreign keys and the search_rows trigger skipped, then proven set-based.
//!
//! Measured on 17,705 files / 25,428 locations (one backend's CPU): the foreign-key checks (an SPI query and a row
//! lock per row and key) and the search_rows trigger were 0.72 s of the 0.95 s the three inserts cost the server.
//! A writer session of a fast or ludicrous import therefore runs its batches with `session_replication_role =
//! replica` (transaction-local: nothing outlives the batch), and the same transaction journals that it did so.
//! Restoring then repairs what the skipped checks would have refused and writes the missing search rows, in one
//! transaction, before marking the journal entry restored: a crash at any point leaves the entry for the next
//! restore, never unchecked rows without one.

use sqlx::{PgConnection, PgPool};

use super::DbResult;

/// Journal the deferral (once: while an entry is unrestored it covers every batch) and skip the checks for the rest
/// of this transaction, in one round trip. The journal's ROW EXCLUSIVE lock, taken before the INSERT reads, is held
/// until commit and conflicts with the restore's SHARE lock: a batch commits either before the restore proves its
/// rows or after it, then with an entry of its own.
pub async fn defer_in_transaction(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "LOCK TABLE safety_journal IN ROW EXCLUSIVE MODE; \
         INSERT INTO safety_journal (kind, target, old_value, new_value) \
         SELECT 'checks', 'foreign keys and search_rows', 'origin', 'replica' \
         WHERE NOT EXISTS (SELECT 1 FROM safety_journal WHERE kind = 'checks' AND restored_at IS NULL); \
         SET LOCAL session_replication_role = replica",
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether this session may skip the checks (`session_replication_role` is a superuser setting).
pub async fn can_defer(pool: &PgPool) -> DbResult<bool> {
    let v: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(pool)
        .await?;
    Ok(v)
}

/// Whether some batches skipped their checks and no restore has proven them since.
pub async fn pending(pool: &PgPool) -> DbResult<bool> {
    let v: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM safety_journal WHERE kind = 'checks' AND restored_at IS NULL)",
    )
    .fetch_one(pool)
    .await?;
    Ok(v)
}

/// What proving the deferred checks found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proven {
    /// (what, rows): each key's orphans, repaired.
    pub repaired: Vec<(&'static str, u64)>,
    /// Search rows written.
    pub search_rows: u64,
    /// Search rows removed (their file or metadata is gone).
    pub search_rows_removed: u64,
}

/// One repair per foreign key the writers skipped: the orphans a per-row check would have refused. A metadata row
/// or location of a file that is gone goes (as ON DELETE CASCADE would have taken it); a row of a run that is gone
/// keeps its data and loses the reference (files, locations, archives) or goes (an error row belongs to its run).
const REPAIRS: [(&str, &str); 6] = [
    (
        "metadata rows of missing files (removed)",
        "DELETE FROM musical_metadata m WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = m.file_id)",
    ),
    (
        "locations of missing files (removed)",
        "DELETE FROM file_locations l WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = l.file_id)",
    ),
    (
        "files of missing runs (run cleared)",
        "UPDATE files f SET import_run_id = NULL WHERE f.import_run_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM import_runs r WHERE r.id = f.import_run_id)",
    ),
    (
        "locations of missing runs (run cleared)",
        "UPDATE file_locations l SET import_run_id = NULL WHERE l.import_run_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM import_runs r WHERE r.id = l.import_run_id)",
    ),
    (
        "archives of missing runs (run cleared)",
        "UPDATE archive_progress a SET import_run_id = NULL WHERE a.import_run_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM import_runs r WHERE r.id = a.import_run_id)",
    ),
    (
        "errors of missing runs (removed)",
        "DELETE FROM import_errors e WHERE NOT EXISTS (SELECT 1 FROM import_runs r WHERE r.id = e.import_run_id)",
    ),
];

/// Prove what the writers skipped, if any batch did: every key's orphans repaired, search_rows re-synced, the
/// journal entries marked restored, all in one synchronous transaction. None when nothing was deferred.
pub async fn prove(pool: &PgPool) -> DbResult<Option<Proven>> {
    if !pending(pool).await? {
        return Ok(None);
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    // Batches still writing with the checks skipped commit before this, and later ones journal anew.
    sqlx::query("LOCK TABLE safety_journal IN SHARE MODE")
        .execute(&mut *tx)
        .await?;
    let mut proven = Proven::default();
    for (what, sql) in REPAIRS {
        let n = sqlx::query(sql).execute(&mut *tx).await?.rows_affected();
        if n > 0 {
            proven.repaired.push((what, n));
        }
    }
    proven.search_rows = sqlx::query(super::search_rows::SYNC)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    proven.search_rows_removed = sqlx::query(super::search_rows::REMOVE_STALE)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("UPDATE safety_journal SET restored_at = now() WHERE kind = 'checks' AND restored_at IS NULL")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(proven))
}
