//! The library-wide lock: one PostgreSQL advisory lock per database, held shared by every running import and alone
//! by a transition (profile apply, restore-safety, rebuild-indexes), so that no command restarts the server or
//! changes persistence under a run.
//!
//! An advisory lock, not a row: the server lets go of it the moment its session ends, so a killed tool never leaves
//! it behind, and `pg_locks` with `pg_stat_activity` say who holds it (each holder names itself in its session's
//! `application_name`). Its one gap, a server restart that ends the session, is closed by the holder that restarts
//! the server: it takes the lock again as soon as the server is back.
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{Connection, Row};

use super::{DbError, DbResult};

/// Why a turn on the library was not given (see `turns.rs`).
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The lock's two keys ("MTLK", 1): recognisable in `pg_locks` (classid, objid).
const KEY1: i32 = 0x4d54_4c4b;
const KEY2: i32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// A session holding (or about to hold) the lock.
#[derive(Debug)]
pub struct LockSession {
    conn: PgConnection,
    opts: PgConnectOptions,
    what: String,
    held: Option<LockMode>,
}

/// Who holds the lock, as another session sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holder {
    /// The server process of the holding session.
    pub backend_pid: i32,
    /// What the holder said it is doing (`import run 12 (ludicrous, pid 4567)`, `restore-safety (pid 89)`).
    pub what: String,
    pub exclusive: bool,
}

impl Holder {
    pub fn describe(&self) -> String {
        if self.what.is_empty() {
            format!("another session (server process {})", self.backend_pid)
        } else {
            self.what.clone()
        }
    }
}

/// `application_name` is cut by the server at 63 bytes.
fn app_name(what: &str) -> String {
    let mut name = format!("midi-tui: {what}");
    while name.len() > 63 {
        name.pop();
    }
    name
}

impl LockSession {
    /// A session of its own for the lock, named after what its holder does.
    pub async fn open(opts: &PgConnectOptions, what: &str) -> DbResult<Self> {
        let opts = opts.clone().application_name(&app_name(what));
        let mut conn = super::connect_one(&opts).await?;
        keepalive(&mut conn).await;
        Ok(Self {
            conn,
            opts,
            what: what.to_string(),
            held: None,
        })
    }

    pub fn held(&self) -> Option<LockMode> {
        self.held
    }

    /// Take the lock in `mode` if nobody holds it in a conflicting one; false when someone does.
    pub async fn try_take(&mut self, mode: LockMode) -> DbResult<bool> {
        let sql = match mode {
            LockMode::Shared => "SELECT pg_try_advisory_lock_shared($1, $2)",
            LockMode::Exclusive => "SELECT pg_try_advisory_lock($1, $2)",
        };
        let got: bool = sqlx::query_scalar(sql)
            .bind(KEY1)
            .bind(KEY2)
            .fetch_one(&mut self.conn)
            .await?;
        if got {
            // A session may hold both modes: keep only the one asked for.
            if let Some(old) = self.held.filter(|m| *m != mode) {
                self.unlock(old).await?;
            }
            self.held = Some(mode);
        }
        Ok(got)
    }

    async fn unlock(&mut self, mode: LockMode) -> DbResult<()> {
        let sql = match mode {
            LockMode::Shared => "SELECT pg_advisory_unlock_shared($1, $2)",
            LockMode::Exclusive => "SELECT pg_advisory_unlock($1, $2)",
        };
        sqlx::query(sql).bind(KEY1).bind(KEY2).execute(&mut self.conn).await?;
        Ok(())
    }

    /// After a server restart ended the session: a new one takes the same mode again. False when someone took a
    /// conflicting mode in between.
    pub async fn reacquire(&mut self) -> DbResult<bool> {
        let mut conn = super::connect_one(&self.opts).await?;
        keepalive(&mut conn).await;
        self.conn = conn;
        match self.held.take() {
            Some(mode) => self.try_take(mode).await,
            None => Ok(true),
        }
    }

    /// Let go (closing the session would too; this says so at once).
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

/// The server ends the session of a client whose host vanished within about 25 s (TCP only; ignored on a unix
/// socket), and with it the lock that client held.
async fn keepalive(conn: &mut PgConnection) {
    let _ =
        sqlx::raw_sql("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3")
            .execute(&mut *conn)
            .await;
}

/// Every session holding the lock now, but the asking one.
pub async fn holders(pool: &PgPool) -> DbResult<Vec<Holder>> {
    let rows = sqlx::query(
        "SELECT l.pid, coalesce(a.application_name, ''), l.mode = 'ExclusiveLock' FROM pg_locks l \
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
         AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.pid <> pg_backend_pid() ORDER BY l.pid",
    )
    .bind(i64::from(KEY1))
    .bind(i64::from(KEY2))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let name: String = r.get(1);
            Holder {
                backend_pid: r.get(0),
                what: name.strip_prefix("midi-tui: ").unwrap_or(&name).to_string(),
                exclusive: r.get(2),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_names_fit_the_server_limit() {
        let long = "x".repeat(100);
        assert_eq!(app_name(&long).len(), 63);
        assert_eq!(app_name("restore-safety (pid 7)"), "midi-tui: restore-safety (pid 7)");
    }
}
