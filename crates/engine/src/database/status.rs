//! `status`: row counts, secondary indexes, table persistence, live settings, size: what the database is now.
use serde::Serialize;
use sqlx::{PgPool, Row};

use super::{DbResult, indexes};

/// Tables of the data model, in foreign-key order (referenced first).
pub const TABLES: &[&str] = &[
    "import_runs",
    "files",
    "musical_metadata",
    "file_locations",
    "import_errors",
];

/// The settings the profile levels touch, reported live from `pg_settings`.
pub const PROFILE_SETTINGS: &[&str] = &[
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "wal_level",
    "max_wal_senders",
    "autovacuum",
    "maintenance_work_mem",
    "work_mem",
    "max_wal_size",
    "wal_buffers",
    "max_parallel_workers",
    "max_parallel_maintenance_workers",
];

#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    pub name: String,
    pub rows: i64,
    /// "logged" or "unlogged".
    pub persistence: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingStatus {
    pub name: String,
    /// The value in force now, with its unit (e.g. "64MB").
    pub value: String,
    /// True when a changed value waits for a server restart (the value above is still the one in force).
    pub pending_restart: bool,
    /// `pg_settings.context`: "postmaster" means restart-only.
    pub context: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexStatus {
    pub expected: usize,
    pub present: usize,
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub target: String,
    pub managed: bool,
    pub server_version: String,
    pub superuser: bool,
    pub database_size_bytes: i64,
    pub tables: Vec<TableStatus>,
    pub secondary_indexes: IndexStatus,
    pub settings: Vec<SettingStatus>,
    pub pending_restart: bool,
}

impl Status {
    pub fn setting(&self, name: &str) -> Option<&SettingStatus> {
        self.settings.iter().find(|s| s.name == name)
    }

    pub fn table(&self, name: &str) -> Option<&TableStatus> {
        self.tables.iter().find(|t| t.name == name)
    }
}

pub async fn settings(pool: &PgPool) -> DbResult<Vec<SettingStatus>> {
    let names: Vec<String> = PROFILE_SETTINGS.iter().map(|s| s.to_string()).collect();
    let rows = sqlx::query(
        "SELECT name::text, current_setting(name) AS value, pending_restart, context::text \
         FROM pg_settings WHERE name = ANY($1)",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<SettingStatus> = rows
        .iter()
        .map(|r| SettingStatus {
            name: r.get(0),
            value: r.get(1),
            pending_restart: r.get(2),
            context: r.get(3),
        })
        .collect();
    out.sort_by_key(|s| PROFILE_SETTINGS.iter().position(|n| *n == s.name));
    Ok(out)
}

/// How `status` counts rows: exactly (`count(*)`, for the `status` command), or from the planner's estimates
/// (the console polls every few seconds, and counting millions of rows each time would stall it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowCounts {
    Exact,
    Estimated,
}

pub async fn tables(pool: &PgPool, counts: RowCounts) -> DbResult<Vec<TableStatus>> {
    let names: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    let rows = sqlx::query(
        "SELECT c.relname::text, CASE c.relpersistence WHEN 'u' THEN 'unlogged' ELSE 'logged' END, \
         greatest(c.reltuples, 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY($1)",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for &name in TABLES {
        let found = rows.iter().find(|r| r.get::<String, _>(0) == name);
        let persistence = found.map(|r| r.get::<String, _>(1)).unwrap_or_else(|| "missing".into());
        let rows = match (counts, found) {
            (_, None) => 0,
            (RowCounts::Estimated, Some(r)) => r.get::<i64, _>(2),
            // The name comes from TABLES above, never from input; quoted all the same.
            (RowCounts::Exact, Some(_)) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT count(*) FROM {}",
                    super::quote_ident(name)
                )))
                .fetch_one(pool)
                .await?
            }
        };
        out.push(TableStatus {
            name: name.into(),
            rows,
            persistence,
        });
    }
    Ok(out)
}

/// Bytes in pg_wal; `None` when the role may not list it.
pub async fn wal_bytes(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar::<_, i64>("SELECT coalesce(sum(size), 0)::bigint FROM pg_ls_waldir()")
        .fetch_one(pool)
        .await
        .ok()
}

/// The server's data directory (needs superuser or pg_read_all_settings).
pub async fn data_directory(pool: &PgPool) -> DbResult<String> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT current_setting('data_directory')")
            .fetch_one(pool)
            .await?,
    )
}

pub async fn collect(pool: &PgPool, target: &str, managed: bool, counts: RowCounts) -> DbResult<Status> {
    let row = sqlx::query(
        "SELECT current_setting('server_version'), \
         (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), pg_database_size(current_database())",
    )
    .fetch_one(pool)
    .await?;
    let present = indexes::present(pool).await?;
    let missing: Vec<String> = indexes::catalog()
        .iter()
        .filter(|i| !present.contains(&i.name))
        .map(|i| i.name.clone())
        .collect();
    let settings = settings(pool).await?;
    Ok(Status {
        target: target.into(),
        managed,
        server_version: row.get(0),
        superuser: row.get::<Option<bool>, _>(1).unwrap_or(false),
        database_size_bytes: row.get(2),
        tables: tables(pool, counts).await?,
        secondary_indexes: IndexStatus {
            expected: indexes::catalog().len(),
            present: present.len(),
            missing,
        },
        pending_restart: settings.iter().any(|s| s.pending_restart),
        settings,
    })
}

/// Facts about the server and the library in it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFacts {
    pub shared_buffers: u64,
    pub max_wal_size: u64,
    pub checkpoint_timeout_secs: u64,
    pub checkpoint_completion_target: f64,
    pub library_files: u64,
    pub database_bytes: u64,
    pub data_directory: String,
    /// Free bytes on the file system of the data directory, when that directory is on this machine.
    pub disk_free: Option<u64>,
    /// The managed cluster (the fixes name `midi-tui db` commands) rather than an external server.
    pub managed: bool,
}

/// The server settings and library size `doctor` judges (bytes, seconds).
pub async fn doctor_facts(pool: &PgPool) -> DbResult<ServerFacts> {
    let row = sqlx::query(
        "SELECT pg_size_bytes(current_setting('shared_buffers')), pg_size_bytes(current_setting('max_wal_size')), \
         (SELECT setting::bigint FROM pg_settings WHERE name = 'checkpoint_timeout'), \
         current_setting('checkpoint_completion_target')::float8, \
         (SELECT count(*) FROM files), pg_database_size(current_database()), current_setting('data_directory')",
    )
    .fetch_one(pool)
    .await?;
    let bytes = |i: usize| row.get::<i64, _>(i).max(0) as u64;
    Ok(ServerFacts {
        shared_buffers: bytes(0),
        max_wal_size: bytes(1),
        checkpoint_timeout_secs: bytes(2),
        checkpoint_completion_target: row.get(3),
        library_files: bytes(4),
        database_bytes: bytes(5),
        data_directory: row.get(6),
        disk_free: None,
        managed: false,
    })
}
