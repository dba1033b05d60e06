//! Schema migrations from `database/migrations/`, embedded, applied once each under an advisory lock.
use sqlx::{Connection, PgPool};

use super::{DbError, DbResult};

/// (version, name, SQL), in order.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../../../database/migrations/0001_schema.sql"),
    ),
    (
        2,
        "secondary_indexes",
        include_str!("../../../../database/migrations/0002_secondary_indexes.sql"),
    ),
    (
        3,
        "integrity",
        include_str!("../../../../database/migrations/0003_integrity.sql"),
    ),
    (
        4,
        "search",
        include_str!("../../../../database/migrations/0004_search.sql"),
    ),
    (
        5,
        "fingerprints",
        include_str!("../../../../database/migrations/0005_fingerprints.sql"),
    ),
    (
        6,
        "shared_runs",
        include_str!("../../../../database/migrations/0006_shared_runs.sql"),
    ),
    (
        7,
        "search_rows",
        include_str!("../../../../database/migrations/0007_search_rows.sql"),
    ),
    (
        8,
        "locations_by_file",
        include_str!("../../../../database/migrations/0008_locations_by_file.sql"),
    ),
    (
        9,
        "deferred_checks",
        include_str!("../../../../database/migrations/0009_deferred_checks.sql"),
    ),
    (
        10,
        "run_stop_reason",
        include_str!("../../../../database/migrations/0010_run_stop_reason.sql"),
    ),
    (
        11,
        "transitions",
        include_str!("../../../../database/migrations/0011_transitions.sql"),
    ),
];

/// Arbitrary constant: serialises concurrent starts of the tool on one database.
const LOCK_KEY: i64 = 0x6d69_6469_7475_6901;

/// Apply every migration not yet recorded in `schema_migrations`; running it again changes nothing.
pub async fn run(pool: &PgPool) -> DbResult<Vec<i32>> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let result = apply(&mut conn).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    result
}

async fn apply(conn: &mut sqlx::PgConnection) -> DbResult<Vec<i32>> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *conn)
    .await?;
    let done: Vec<i32> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?;
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        if done.contains(&version) {
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|error| DbError::Migration {
                version,
                name: name.into(),
                error,
            })?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
        applied.push(version);
    }
    Ok(applied)
}
