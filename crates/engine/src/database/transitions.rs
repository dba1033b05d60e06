//! SQL of the transition record: each profile transition's start, current step and end (see migration 0011).
use sqlx::{PgPool, Row};

use super::DbResult;

/// Every write here commits synchronously: a crash right after a step must still find the step.
async fn sync_exec(pool: &PgPool, sql: &'static str, id: i64, text: Option<&str>) -> DbResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    sqlx::query(sql).bind(id).bind(text).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Record that `command` starts; its id.
pub async fn begin(pool: &PgPool, command: &str) -> DbResult<i64> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO safety_transitions (command, host, pid) VALUES ($1, $2, $3) RETURNING id")
            .bind(command)
            .bind(super::runs::hostname())
            .bind(std::process::id() as i32)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(id)
}

/// The step the transition is in now.
pub async fn step(pool: &PgPool, id: i64, step: &str) -> DbResult<()> {
    sync_exec(
        pool,
        "UPDATE safety_transitions SET step = $2 WHERE id = $1",
        id,
        Some(step),
    )
    .await
}

/// The transition ended: it and every earlier unfinished run of the same commands (which it completed).
pub async fn finish(pool: &PgPool, id: i64, completes: &[&str]) -> DbResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE safety_transitions SET finished_at = now() WHERE finished_at IS NULL \
         AND (id = $1 OR (id < $1 AND command = ANY($2)))",
    )
    .bind(id)
    .bind(completes)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A transition that has not finished: (command, step, started, host, pid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub command: String,
    pub step: String,
    pub started: String,
    pub host: Option<String>,
    pub pid: Option<i32>,
}

pub async fn unfinished(pool: &PgPool) -> DbResult<Vec<Unfinished>> {
    let rows = sqlx::query(
        "SELECT command, step, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS'), host, pid FROM safety_transitions \
         WHERE finished_at IS NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Unfinished {
            command: r.get(0),
            step: r.get(1),
            started: r.get(2),
            host: r.get(3),
            pid: r.get(4),
        })
        .collect())
}
