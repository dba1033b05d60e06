//! SQL of the safety machinery: the journal, server settings (ALTER SYSTEM), index backup and drop, persistence.
use sqlx::{PgPool, Row};

use super::{DbResult, quote_ident};

/// What a journal entry changed, as stored in `safety_journal.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalKind {
    /// A server setting (ALTER SYSTEM): the old value comes back.
    Setting,
    /// A table's persistence (LOGGED/UNLOGGED).
    Table,
    /// A dropped secondary index: rebuilt from the catalog.
    Index,
}

impl JournalKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            JournalKind::Setting => "setting",
            JournalKind::Table => "table",
            JournalKind::Index => "index",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [JournalKind::Setting, JournalKind::Table, JournalKind::Index]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One unrestored journal entry.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub id: i64,
    pub kind: JournalKind,
    pub target: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// Record a change before making it. Committed synchronously whatever synchronous_commit says, so that a crash
/// right after the change still finds the entry.
pub async fn journal(
    pool: &PgPool,
    kind: JournalKind,
    target: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> DbResult<i64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO safety_journal (kind, target, old_value, new_value) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(target)
    .bind(old)
    .bind(new)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn unrestored(pool: &PgPool) -> DbResult<Vec<JournalEntry>> {
    let rows = sqlx::query(
        "SELECT id, kind, target, old_value, new_value FROM safety_journal WHERE restored_at IS NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    // 'checks' entries are proven, not undone (`deferred.rs` reads them); any other kind would be a newer tool's
    // entry: left alone.
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(JournalEntry {
                id: r.get(0),
                kind: JournalKind::parse(r.get::<&str, _>(1))?,
                target: r.get(2),
                old_value: r.get(3),
                new_value: r.get(4),
            })
        })
        .collect())
}

/// Mark entries restored, committed synchronously: an asynchronous commit (level 1 turns synchronous_commit off
/// for the whole server) could be lost in a crash and the change restored twice.
pub async fn mark_restored_all(pool: &PgPool, ids: &[i64]) -> DbResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE safety_journal SET restored_at = now() WHERE id = ANY($1) AND restored_at IS NULL")
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Each journaled setting with the value it had before its first journaled change (what restoring leads back to).
pub async fn first_setting_values(pool: &PgPool) -> DbResult<Vec<(String, Option<String>)>> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT ON (target) target, old_value FROM safety_journal WHERE kind = 'setting' \
         ORDER BY target, id ASC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A setting as the server reports it.
#[derive(Debug, Clone)]
pub struct LiveSetting {
    pub value: String,
    /// True when the value comes from ALTER SYSTEM (postgresql.auto.conf); otherwise RESET is the way back.
    pub from_auto_conf: bool,
    pub context: String,
    pub pending_restart: bool,
}

pub async fn live_setting(pool: &PgPool, name: &str) -> DbResult<Option<LiveSetting>> {
    let row = sqlx::query(
        "SELECT current_setting(name), coalesce(sourcefile LIKE '%postgresql.auto.conf', false), context::text, \
         pending_restart FROM pg_settings WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| LiveSetting {
        value: r.get(0),
        from_auto_conf: r.get(1),
        context: r.get(2),
        pending_restart: r.get(3),
    }))
}

/// The value ALTER SYSTEM has written for a setting (what will be in force after a reload or restart).
pub async fn configured_value(pool: &PgPool, name: &str) -> DbResult<Option<String>> {
    let v: Option<String> = sqlx::query_scalar(
        "SELECT setting FROM pg_file_settings WHERE name = $1 AND applied IS NOT NULL ORDER BY seqno DESC LIMIT 1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(v)
}

/// `ALTER SYSTEM SET name = value` (value bound as a literal: ALTER SYSTEM takes no parameters, so it is quoted).
pub async fn alter_system_set(pool: &PgPool, name: &str, value: &str) -> DbResult<()> {
    let sql = format!("ALTER SYSTEM SET {} = {}", quote_ident(name), quote_literal(value));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}

pub async fn alter_system_reset(pool: &PgPool, name: &str) -> DbResult<()> {
    let sql = format!("ALTER SYSTEM RESET {}", quote_ident(name));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}

pub async fn reload(pool: &PgPool) -> DbResult<()> {
    sqlx::query("SELECT pg_reload_conf()").execute(pool).await?;
    // The postmaster re-reads the files asynchronously; pg_settings in new sessions shows the result.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    Ok(())
}

pub async fn is_superuser(pool: &PgPool) -> DbResult<(String, bool)> {
    let row = sqlx::query("SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(pool)
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Why wal_level=minimal would break something here, if it would.
pub async fn wal_minimal_blocker(pool: &PgPool) -> DbResult<Option<String>> {
    let row = sqlx::query(
        "SELECT current_setting('archive_mode'), (SELECT count(*) FROM pg_replication_slots), \
         (SELECT count(*) FROM pg_stat_replication)",
    )
    .fetch_one(pool)
    .await?;
    let archive_mode: String = row.get(0);
    let slots: i64 = row.get(1);
    let replicas: i64 = row.get(2);
    Ok(if archive_mode != "off" {
        Some(format!(
            "archive_mode is {archive_mode}: WAL archiving needs wal_level replica or higher"
        ))
    } else if slots > 0 {
        Some(format!(
            "{} {}: they need wal_level replica or higher",
            crate::human::counted(slots, "replication slot"),
            if slots == 1 { "exists" } else { "exist" }
        ))
    } else if replicas > 0 {
        Some(format!(
            "{} {} from this one: they need wal_level replica or higher",
            crate::human::counted(replicas, "standby server"),
            if replicas == 1 { "streams" } else { "stream" }
        ))
    } else {
        None
    })
}

/// `relpersistence` of a table: "logged", "unlogged", or None if it does not exist.
pub async fn persistence(pool: &PgPool, table: &str) -> DbResult<Option<String>> {
    let v: Option<String> = sqlx::query_scalar(
        "SELECT CASE c.relpersistence WHEN 'u' THEN 'unlogged' ELSE 'logged' END FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = $1 \
         AND c.relkind = 'r'",
    )
    .bind(table)
    .fetch_optional(pool)
    .await?;
    Ok(v)
}

/// Change the persistence of several tables in one transaction, in the order given (a logged table may not
/// reference an unlogged one, so the order matters inside it too). A crash before the commit leaves every table as
/// it was and one after it every table changed: never a LOGGED `files` beside children that recovery empties.
pub async fn set_persistence_all(pool: &PgPool, tables: &[&str], logged: bool) -> DbResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    // Every lock up front, referenced tables first (the order readers join them in). Taken by the ALTERs one by one,
    // children first, they deadlocked with a reader that held `files` and then asked for a child.
    let mut order: Vec<&str> = tables.to_vec();
    order.sort_by_key(|t| super::status::TABLES.iter().position(|x| x == t).unwrap_or(usize::MAX));
    let names: Vec<String> = order.iter().map(|t| quote_ident(t)).collect();
    let lock = format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", names.join(", "));
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock)).execute(&mut *tx).await?;
    for table in tables {
        let sql = format!(
            "ALTER TABLE {} SET {}",
            quote_ident(table),
            if logged { "LOGGED" } else { "UNLOGGED" }
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Current definitions of indexes by name (those that exist).
pub async fn index_definitions(pool: &PgPool, names: &[String]) -> DbResult<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT indexname::text, tablename::text, indexdef FROM pg_indexes WHERE schemaname = current_schema() \
         AND indexname = ANY($1) ORDER BY indexname",
    )
    .bind(names)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

pub async fn backup_index(pool: &PgPool, name: &str, table: &str, definition: &str) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO index_backup (index_name, table_name, definition) VALUES ($1, $2, $3) \
         ON CONFLICT (index_name) DO UPDATE SET table_name = EXCLUDED.table_name, definition = EXCLUDED.definition, \
         backed_up_at = now()",
    )
    .bind(name)
    .bind(table)
    .bind(definition)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn backed_up_indexes(pool: &PgPool) -> DbResult<Vec<(String, String, String)>> {
    let rows = sqlx::query("SELECT index_name, table_name, definition FROM index_backup ORDER BY index_name")
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

pub async fn drop_index(pool: &PgPool, name: &str) -> DbResult<()> {
    let sql = format!("DROP INDEX IF EXISTS {}", quote_ident(name));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}

pub async fn analyze(pool: &PgPool) -> DbResult<()> {
    sqlx::raw_sql("ANALYZE files; ANALYZE musical_metadata; ANALYZE file_locations; ANALYZE search_rows")
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn checkpoint(pool: &PgPool) -> DbResult<()> {
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

pub fn quote_literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}
