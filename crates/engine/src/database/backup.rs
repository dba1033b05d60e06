//! SQL of the library backup: the earlier runs' sources, the files only missing sources hold, and the bookkeeping
//! around a restored backup.
use sqlx::{PgPool, Row};

use super::DbResult;

/// The tables a crash in level 3 can empty (UNLOGGED), and the search rows derived from them: what a backup holds.
pub const TABLES: [&str; 5] = [
    "files",
    "musical_metadata",
    "file_locations",
    "archive_progress",
    "search_rows",
];

/// Every source an earlier run read, as stored (absolute, encoded like locations).
pub async fn run_sources(pool: &PgPool) -> DbResult<Vec<String>> {
    let v: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT s FROM import_runs, unnest(sources) s WHERE s IS NOT NULL ORDER BY 1")
            .fetch_all(pool)
            .await?;
    Ok(v)
}

/// Files of the library, and those whose every location lies under one of `missing` (a source folder, file or
/// archive): a crash would lose them for good, since no source left holds them.
pub async fn files_at_risk(pool: &PgPool, missing: &[String]) -> DbResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM files), CASE WHEN cardinality($1::text[]) = 0 THEN 0 ELSE \
         (SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM file_locations l WHERE l.file_id = f.id \
          AND NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS m(p) WHERE l.path = m.p \
              OR starts_with(l.path, m.p || '/') OR starts_with(l.path, m.p || '!')))) END",
    )
    .bind(missing)
    .fetch_one(pool)
    .await?;
    Ok((row.get(0), row.get(1)))
}

/// Bytes of the backed-up tables (heap and TOAST, no indexes: a data-only dump writes rows).
pub async fn table_bytes(pool: &PgPool) -> DbResult<i64> {
    let v: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_table_size(c.oid)), 0)::bigint FROM pg_class c \
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1) AND c.relkind = 'r'",
    )
    .bind(TABLES.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    .fetch_one(pool)
    .await?;
    Ok(v)
}

/// The newest run now: runs up to it are in a backup taken now.
pub async fn last_run(pool: &PgPool) -> DbResult<i64> {
    let v: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM import_runs")
        .fetch_one(pool)
        .await?;
    Ok(v.unwrap_or(0))
}

/// Empty the backed-up tables before the backup's rows come back (one statement: they reference each other).
pub async fn empty_tables(pool: &PgPool) -> DbResult<()> {
    sqlx::raw_sql("TRUNCATE files, musical_metadata, file_locations, archive_progress, search_rows, library_repair")
        .execute(pool)
        .await?;
    super::similar_pack::forget(pool).await?;
    Ok(())
}

/// The backup's rows are back: the runs it holds vouch for their rows again; later runs stay lost, for the next
/// import to read again. Committed synchronously.
pub async fn backup_restored(pool: &PgPool, last_run_id: i64) -> DbResult<u64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    let n = sqlx::query(
        "UPDATE import_runs SET rows_lost = false, repaired_by = NULL WHERE id <= $1 AND rows_lost AND repaired_by IS NULL",
    )
    .bind(last_run_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    sqlx::raw_sql("ANALYZE files; ANALYZE musical_metadata; ANALYZE file_locations; ANALYZE search_rows")
        .execute(pool)
        .await?;
    Ok(n)
}
