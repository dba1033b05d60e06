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
    (
        12,
        "leaner_writes",
        include_str!("../../../../database/migrations/0012_leaner_writes.sql"),
    ),
    (
        13,
        "location_collections",
        include_str!("../../../../database/migrations/0013_location_collections.sql"),
    ),
    // Not SQL: the collections of a library imported before 0013, recomputed by the engine's own rule.
    (14, "location_collections_values", ""),
    (
        15,
        "natural_sort",
        include_str!("../../../../database/migrations/0015_natural_sort.sql"),
    ),
    // Not SQL: the natural-order keys of names written before 0015, by the engine's own rule.
    (16, "natural_sort_keys", ""),
    (
        17,
        "natural_sort_indexes",
        include_str!("../../../../database/migrations/0017_natural_sort_indexes.sql"),
    ),
    (
        18,
        "similarity",
        include_str!("../../../../database/migrations/0018_similarity.sql"),
    ),
    (
        19,
        "similarity_coarse",
        include_str!("../../../../database/migrations/0019_similarity_coarse.sql"),
    ),
    // Not SQL: the coarse vectors of features stored before 0019, by the engine's own projection.
    (20, "similarity_coarse_values", ""),
    (
        21,
        "similarity_coarse_index",
        include_str!("../../../../database/migrations/0021_similarity_coarse_index.sql"),
    ),
    (
        22,
        "similarity_filtered",
        include_str!("../../../../database/migrations/0022_similarity_filtered.sql"),
    ),
    (
        23,
        "similarity_key",
        include_str!("../../../../database/migrations/0023_similarity_key.sql"),
    ),
    (
        24,
        "similarity_pack",
        include_str!("../../../../database/migrations/0024_similarity_pack.sql"),
    ),
];

/// The migration that is not SQL: it recomputes a library's collections with the engine's own rule.
const COLLECTION_VALUES: &str = "location_collections_values";

/// The migration that is not SQL: it fills the natural-order keys of names written before them.
const NATURAL_SORT_KEYS: &str = "natural_sort_keys";

/// The migration that is not SQL: it fills the coarse vectors of features stored before them.
const COARSE_VALUES: &str = "similarity_coarse_values";

/// A migration still running after this is announced (`notice::when_slow`).
const SLOW_STEP: std::time::Duration = std::time::Duration::from_secs(2);

/// Arbitrary constant: serialises concurrent starts of the tool on one database.
const LOCK_KEY: i64 = 0x6d69_6469_7475_6901;

/// Apply every migration not yet recorded in `schema_migrations`; running it again changes nothing.
pub async fn run(pool: &PgPool) -> DbResult<Vec<i32>> {
    run_upto(pool, i32::MAX).await
}

/// [`run`], stopping after migration `last` (tests migrate a library as an older version left it, then on).
pub async fn run_upto(pool: &PgPool, last: i32) -> DbResult<Vec<i32>> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let result = apply(&mut conn, last).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    result
}

/// The indexes a `DROP INDEX IF EXISTS name;` line of these migrations drops.
fn dropped_by<'a>(migrations: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    migrations
        .flat_map(str::lines)
        .filter_map(|l| l.trim().strip_prefix("DROP INDEX IF EXISTS "))
        .map(|n| n.trim_end_matches(';').trim())
        .collect()
}

/// `sql` without the one-line `CREATE INDEX IF NOT EXISTS` statements of the indexes in `dropped`: a migration
/// applied together with a later one that drops them does not build them first.
fn without_indexes(sql: &str, dropped: &[&str]) -> String {
    sql.lines()
        .filter(|l| {
            let name = l
                .trim()
                .strip_prefix("CREATE INDEX IF NOT EXISTS ")
                .and_then(|rest| rest.split_whitespace().next());
            !name.is_some_and(|n| dropped.contains(&n))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pending migrations, in one transaction (a new library's schema in one commit, not one per migration), each
/// without the indexes a later pending one drops.
async fn apply(conn: &mut sqlx::PgConnection, last: i32) -> DbResult<Vec<i32>> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *conn)
    .await?;
    let done: Vec<i32> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?;
    let pending: Vec<(i32, &str, &str)> = MIGRATIONS
        .iter()
        .copied()
        .filter(|(v, _, _)| !done.contains(v) && *v <= last)
        .collect();
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = conn.begin().await?;
    let mut applied = Vec::new();
    for (i, &(version, name, sql)) in pending.iter().enumerate() {
        let work = async {
            if name == COLLECTION_VALUES {
                super::collections::recompute(&mut tx).await
            } else if name == NATURAL_SORT_KEYS {
                super::name_order::fill_missing(&mut tx).await.map(|_| ())
            } else if name == COARSE_VALUES {
                super::similar::fill_coarse(&mut tx).await.map(|_| ())
            } else {
                let sql = without_indexes(sql, &dropped_by(pending[i + 1..].iter().map(|m| m.2)));
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await
                    .map(|_| ())
            }
        };
        // Opening a large library after an update can rebuild an index or rewrite every row before the console
        // or the command starts: said, instead of a silent wait.
        let step = crate::notice::when_slow(
            work,
            SLOW_STEP,
            || {
                format!(
                    "updating the library's database (migration {version}, {name}); on a large library this takes \
                     a while, once"
                )
            },
            |seconds| format!("migration {version} ({name}) done in {seconds:.1} s"),
        )
        .await;
        step.map_err(|error| DbError::Migration {
            version,
            name: name.into(),
            error,
        })?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        applied.push(version);
    }
    tx.commit().await?;
    for &(version, name, _) in &pending {
        tracing::info!(version, name, "applied migration");
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_applied_with_a_later_one_skips_the_indexes_it_drops() {
        let later = "-- x\nDROP INDEX IF EXISTS a_idx;\nDROP INDEX IF EXISTS c_idx;\n";
        let dropped = dropped_by([later].into_iter());
        assert_eq!(dropped, ["a_idx", "c_idx"]);
        let sql = "CREATE TABLE t (x int);\n-- serves: x\nCREATE INDEX IF NOT EXISTS a_idx ON t (x);\n\
                   CREATE INDEX IF NOT EXISTS b_idx ON t (x);";
        let kept = without_indexes(sql, &dropped);
        assert!(
            !kept.contains("a_idx") && kept.contains("b_idx") && kept.contains("CREATE TABLE"),
            "{kept}"
        );
        // Every index migration 0012 drops is declared on a line of its own, so a new library never builds it.
        let all: String = MIGRATIONS.iter().map(|m| m.2).collect::<Vec<_>>().join("\n");
        let leaner = MIGRATIONS.iter().find(|m| m.1 == "leaner_writes").unwrap();
        let dropped_0012 = dropped_by([leaner.2].into_iter());
        assert_eq!(dropped_0012.len(), 26);
        let fresh = without_indexes(&all, &dropped_0012);
        for name in dropped_0012 {
            assert!(!fresh.contains(&format!("EXISTS {name} ON")), "{name}");
        }
    }
}
