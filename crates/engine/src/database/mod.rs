//! PostgreSQL: managed cluster, connections, migrations, and the SQL of each table.
pub mod backup;
pub mod bench;
pub mod cause;
pub mod cluster;
pub mod collections;
pub mod columns;
pub mod copy_format;
pub mod deferred;
pub mod dupes;
pub mod indexes;
pub mod liveness;
pub mod lock;
pub mod lost_rows;
pub mod migrate;
pub mod name_order;
pub mod query;
pub mod runs;
pub mod safety;
pub mod search;
pub mod search_rows;
pub mod shared;
pub mod similar;
pub mod similar_pack;
pub mod status;
pub mod transitions;
pub mod write_cost;
pub mod writer;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

pub use cluster::Cluster;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    // Not a `source`: the message already names the cause, and a chain would print it again.
    #[error("database error: {}", cause::describe(.0))]
    Sql(sqlx::Error),
    /// The server cannot be reached: the message says where and why ("connection refused", no socket, ...).
    #[error("{0}")]
    Connect(String),
    #[error("invalid database URL: {0}")]
    Url(String),
    /// The server stopped answering (frozen, or its host unreachable): every wait on it ended.
    #[error("the server has not answered for {0} s")]
    NotAnswering(u64),
    /// A `like:` term names no file, or one without features: the message says which and what to do.
    #[error("{0}")]
    Like(String),
    #[error("migration {version} ({name}) failed: {}", cause::describe(.error))]
    Migration {
        version: i32,
        name: String,
        error: sqlx::Error,
    },
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError::Sql(e)
    }
}

impl DbError {
    /// The server is gone or unreachable (as opposed to a statement that failed on a live connection).
    pub fn is_connection_lost(&self) -> bool {
        match self {
            DbError::Sql(e) => cause::is_connection_lost(e),
            DbError::Connect(_) | DbError::NotAnswering(_) => true,
            _ => false,
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// Which server the tool talks to: the managed cluster under a data directory, or an external URL.
#[derive(Debug, Clone)]
pub enum Target {
    Managed(Cluster),
    External(String),
}

impl Target {
    /// `--database-url`/`DATABASE_URL` wins; otherwise the managed cluster under the data directory.
    pub fn choose(database_url: Option<String>, data_dir: PathBuf) -> Self {
        match database_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => Target::External(url),
            None => Target::Managed(Cluster::new(data_dir)),
        }
    }

    pub fn is_managed(&self) -> bool {
        matches!(self, Target::Managed(_))
    }

    /// A description for headers and status: never prints a password.
    pub fn describe(&self) -> String {
        match self {
            Target::Managed(c) => format!("managed cluster {}", c.data_dir.display()),
            Target::External(url) => redact_url(url),
        }
    }

    /// Start the managed cluster if needed (blocking) and return the URL to connect to.
    pub fn ensure_url(&mut self) -> DbResult<String> {
        match self {
            Target::Managed(c) => {
                c.ensure_started()?;
                Ok(c.url())
            }
            Target::External(url) => Ok(url.clone()),
        }
    }

    /// The URL client programs (pg_dump, pg_restore) connect with.
    pub fn url_for_tools(&self) -> String {
        match self {
            Target::Managed(c) => c.url(),
            Target::External(url) => url.clone(),
        }
    }

    /// Start if needed, connect, and apply pending migrations.
    pub async fn open(&mut self, max_connections: u32) -> DbResult<PgPool> {
        let pool = connect(&self.start().await?, max_connections).await?;
        crate::timeline::mark("connect");
        migrate::run(&pool).await?;
        crate::timeline::mark("migrations check");
        Ok(pool)
    }

    /// Start the managed cluster if needed (on a blocking thread) and return the URL to connect to.
    pub async fn start(&mut self) -> DbResult<String> {
        let url = match self {
            Target::Managed(c) => {
                let mut c2 = c.clone();
                tokio::task::spawn_blocking(move || c2.ensure_started().map(|_| c2.url()))
                    .await
                    .map_err(|e| DbError::Url(e.to_string()))??
            }
            Target::External(url) => url.clone(),
        };
        crate::timeline::mark("managed cluster check");
        Ok(url)
    }
}

/// Hide the password of a URL such as postgres://user:secret@host/db.
pub fn redact_url(url: &str) -> String {
    let parts = url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.split_once('@').map(|(cred, host)| (scheme, cred, host)))
        .and_then(|(scheme, cred, host)| cred.split_once(':').map(|(user, _)| (scheme, user, host)));
    match parts {
        Some((scheme, user, host)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// A readable folder name for an external server, `<host>-<port>-<database>` (a socket folder stands for the host):
/// its logs and index backups live there. Characters unfit for a file name become `_`; when that or the length
/// limit changed the name, a short hash of the redacted URL keeps two targets apart.
pub fn target_dir_name(url: &str) -> String {
    let (host, port, db) = match PgConnectOptions::from_str(url) {
        Ok(o) => (
            o.get_socket()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| o.get_host().to_string()),
            o.get_port().to_string(),
            o.get_database().unwrap_or(o.get_username()).to_string(),
        ),
        Err(_) => ("unparsed".into(), "url".into(), String::new()),
    };
    let raw = format!("{}-{port}-{db}", host.trim_matches('/'));
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name != raw || name.starts_with('.') {
        let tag = blake3::hash(redact_url(url).as_bytes()).to_hex();
        name = format!("{name}-{}", &tag[..8]);
    }
    name
}

pub fn connect_options(url: &str) -> DbResult<PgConnectOptions> {
    let opts = PgConnectOptions::from_str(url).map_err(|e| DbError::Url(format!("{}: {e}", redact_url(url))))?;
    Ok(opts.application_name("midi-tui"))
}

/// How long one connection attempt may take: a refused or missing server answers at once, a silent one must not
/// hold the tool for the operating system's TCP timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a statement may wait for a pooled connection: a pool that cannot open one (server gone) fails in
/// seconds instead of retrying for half a minute.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection, with the real cause when it fails (the pool would only report that it timed out).
pub async fn connect_one(opts: &PgConnectOptions) -> DbResult<PgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(DbError::Connect(cause::describe_connect(&e, opts))),
        Err(_) => Err(DbError::Connect(format!(
            "cannot connect to {}: no answer within {} s",
            cause::endpoint(opts),
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// How long a liveness check may wait: a dead server answers at once (its socket closes), a hung one does not.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Is this connection's server still there?
pub async fn ping(conn: &mut PgConnection) -> DbResult<()> {
    match tokio::time::timeout(PING_TIMEOUT, conn.ping()).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(DbError::Connect(format!(
            "the server did not answer within {} s",
            PING_TIMEOUT.as_secs()
        ))),
    }
}

/// Is the server reachable now? One short connection attempt.
pub async fn reachable(opts: &PgConnectOptions) -> bool {
    match connect_one(opts).await {
        Ok(conn) => {
            let _ = conn.close().await;
            true
        }
        Err(_) => false,
    }
}

pub async fn connect(url: &str, max_connections: u32) -> DbResult<PgPool> {
    let opts = connect_options(url)?;
    // A first real connection surfaces why the server cannot be reached, before any pool hides it.
    let probe = connect_one(&opts).await?;
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(opts)
        .await?;
    Ok(pool)
}

/// Quote an SQL identifier (identifiers are never formatted from user input, but quote them all the same).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_dir_names_are_readable_and_distinct() {
        assert_eq!(
            target_dir_name("postgres://me:secret@db.example.org:5433/music"),
            "db.example.org-5433-music"
        );
        assert_eq!(target_dir_name("postgresql://localhost/music"), "localhost-5432-music");
        let socket = target_dir_name("postgresql:///lib?host=/var/run/postgresql&port=5432&user=u");
        assert!(socket.starts_with("var_run_postgresql-5432-lib-"), "{socket}");
        let other = target_dir_name("postgresql:///lib?host=/var/run/postgresql2&port=5432&user=u");
        assert_ne!(socket, other);
        let garbage = target_dir_name("not a url");
        assert!(!garbage.contains('/') && !garbage.is_empty(), "{garbage}");
        assert!(!target_dir_name("postgres://h/x%2F..%2F..").contains('/'));
    }
}
