//! SQL of the crash checks: what the runs vouch for against what the library tables still hold, and the repair queue.
use sqlx::{PgPool, Row};

use super::DbResult;

/// Whether each library table holds any row, and how many contents the runs say they imported. Each question is
/// an `EXISTS`: cheap on a library of millions, so it runs at every start. Crash recovery empties an UNLOGGED table
/// whole, so an empty table beside a non-empty one is exactly the trace such a crash leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presence {
    pub imported_by_runs: i64,
    pub files: bool,
    pub metadata: bool,
    pub locations: bool,
    /// Damaged files are already queued for repair (the anti-join that finds them runs once, not at every start).
    pub repair_noted: bool,
}

pub async fn presence(pool: &PgPool) -> DbResult<Presence> {
    let row = sqlx::query(
        "SELECT (SELECT coalesce(sum(files_imported), 0)::bigint FROM import_runs WHERE NOT rows_lost), \
         EXISTS (SELECT 1 FROM files), EXISTS (SELECT 1 FROM musical_metadata), EXISTS (SELECT 1 FROM file_locations), \
         EXISTS (SELECT 1 FROM library_repair)",
    )
    .fetch_one(pool)
    .await?;
    Ok(Presence {
        imported_by_runs: row.get(0),
        files: row.get(1),
        metadata: row.get(2),
        locations: row.get(3),
        repair_noted: row.get(4),
    })
}

/// What was lost and is not repaired yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outstanding {
    /// Runs whose rows were lost: their sources are read again by the next import.
    pub lost_runs: Vec<i64>,
    /// Contents those runs had imported.
    pub lost_files: i64,
    /// Locations (first copies and duplicates) those runs had stored.
    pub lost_locations: i64,
    /// Files kept in `files` whose metadata row was lost.
    pub missing_metadata: i64,
    /// Files kept in `files` without any location.
    pub missing_locations: i64,
}

impl Outstanding {
    pub fn is_empty(&self) -> bool {
        self.lost_runs.is_empty() && self.missing_metadata == 0 && self.missing_locations == 0
    }
}

pub async fn outstanding(pool: &PgPool) -> DbResult<Outstanding> {
    let row = sqlx::query(
        "SELECT coalesce(array_agg(id ORDER BY id), '{}'), coalesce(sum(files_imported), 0)::bigint, \
         coalesce(sum(files_imported + duplicates), 0)::bigint \
         FROM import_runs WHERE rows_lost AND repaired_by IS NULL",
    )
    .fetch_one(pool)
    .await?;
    let repair = sqlx::query(
        "SELECT count(*) FILTER (WHERE missing IN ('metadata', 'both')), \
         count(*) FILTER (WHERE missing IN ('locations', 'both')) FROM library_repair",
    )
    .fetch_one(pool)
    .await?;
    Ok(Outstanding {
        lost_runs: row.get(0),
        lost_files: row.get(1),
        lost_locations: row.get(2),
        missing_metadata: repair.get(0),
        missing_locations: repair.get(1),
    })
}

/// Record that every run's rows are gone (the `files` table came back empty), in one synchronous transaction:
/// the runs are marked for a re-read, rows left behind in the other tables point at nothing and go, archives and
/// failures recorded against the lost rows are no longer trusted.
pub async fn note_library_lost(pool: &PgPool) -> DbResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE import_runs SET rows_lost = true WHERE NOT rows_lost")
        .execute(&mut *tx)
        .await?;
    // search_rows is logged: a crash that emptied the UNLOGGED tables left its rows behind.
    sqlx::raw_sql(
        "DELETE FROM musical_metadata; DELETE FROM file_locations; DELETE FROM library_repair; \
         TRUNCATE search_rows",
    )
    .execute(&mut *tx)
    .await?;
    forget_progress(&mut tx).await?;
    // The pack is logged too, and the emptied tables' ids start again: its files are not theirs.
    sqlx::raw_sql(super::similar_pack::FORGET).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Record files that kept their `files` row but lost their metadata or every location. Lost locations also lose
/// the duplicates' paths, which only the sources know: then every run is marked for a re-read as well.
pub async fn note_partial_loss(pool: &PgPool, locations_lost: bool) -> DbResult<u64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    let noted = sqlx::query(
        "INSERT INTO library_repair (file_id, location, missing) \
         SELECT f.id, f.filepath, CASE WHEN m.file_id IS NULL AND l.file_id IS NULL THEN 'both' \
             WHEN m.file_id IS NULL THEN 'metadata' ELSE 'locations' END \
         FROM files f \
         LEFT JOIN musical_metadata m ON m.file_id = f.id \
         LEFT JOIN LATERAL (SELECT file_id FROM file_locations WHERE file_id = f.id LIMIT 1) l ON true \
         WHERE m.file_id IS NULL OR l.file_id IS NULL \
         ON CONFLICT (file_id) DO UPDATE SET missing = EXCLUDED.missing",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The pack may hold files whose metadata is gone, and misses them when the repair writes them anew.
    sqlx::raw_sql(super::similar_pack::FORGET).execute(&mut *tx).await?;
    // The search rows of files whose metadata a crash emptied (no trigger saw it go); the repair writes them anew.
    sqlx::query(
        "DELETE FROM search_rows s WHERE NOT EXISTS (SELECT 1 FROM musical_metadata m WHERE m.file_id = s.file_id)",
    )
    .execute(&mut *tx)
    .await?;
    if locations_lost {
        sqlx::query("UPDATE import_runs SET rows_lost = true WHERE NOT rows_lost")
            .execute(&mut *tx)
            .await?;
        forget_progress(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(noted)
}

async fn forget_progress(tx: &mut sqlx::PgConnection) -> DbResult<()> {
    sqlx::query("DELETE FROM archive_progress").execute(&mut *tx).await?;
    sqlx::query("UPDATE import_errors SET size = NULL, mtime = NULL WHERE size IS NOT NULL")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// What the next import must read again: the sources of runs whose rows were lost, and the stored location of
/// each damaged file.
#[derive(Debug, Clone, Default)]
pub struct RepairWork {
    pub runs: Vec<i64>,
    pub sources: Vec<String>,
    pub locations: Vec<String>,
}

pub async fn repair_work(pool: &PgPool) -> DbResult<RepairWork> {
    let row = sqlx::query(
        "SELECT coalesce(array_agg(id ORDER BY id), '{}'), \
         coalesce((SELECT array_agg(DISTINCT s) FROM import_runs r2, unnest(r2.sources) s \
             WHERE r2.rows_lost AND r2.repaired_by IS NULL), '{}') \
         FROM import_runs WHERE rows_lost AND repaired_by IS NULL",
    )
    .fetch_one(pool)
    .await?;
    let locations: Vec<String> = sqlx::query_scalar("SELECT location FROM library_repair ORDER BY location")
        .fetch_all(pool)
        .await?;
    Ok(RepairWork {
        runs: row.get(0),
        sources: row.get(1),
        locations,
    })
}

/// After a run that read the repair work to the end: the lost runs are repaired by it, and damaged files that have
/// their metadata and a location again leave the queue. Returns the files still waiting.
pub async fn finish_repair(pool: &PgPool, run_id: i64, lost_runs: &[i64]) -> DbResult<i64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE import_runs SET repaired_by = $1 WHERE id = ANY($2) AND repaired_by IS NULL")
        .bind(run_id)
        .bind(lost_runs)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM library_repair r WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = r.file_id) \
         OR (EXISTS (SELECT 1 FROM musical_metadata m WHERE m.file_id = r.file_id) \
             AND EXISTS (SELECT 1 FROM file_locations l WHERE l.file_id = r.file_id))",
    )
    .execute(&mut *tx)
    .await?;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM library_repair")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(left)
}
