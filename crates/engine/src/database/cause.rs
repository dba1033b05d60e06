//! Name the cause of a database failure once, in words a user acts on, without PostgreSQL's source locations.
use std::io::ErrorKind;

use sqlx::postgres::{PgConnectOptions, PgDatabaseError};

/// What went wrong, in one phrase: "connection refused", "server terminated the connection", the server's own
/// message (never its internal file and line), ...
pub fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => describe_io(io),
        sqlx::Error::Database(db) => match db.try_downcast_ref::<PgDatabaseError>() {
            Some(pg) if is_termination(pg.code()) => format!("server terminated the connection ({})", pg.message()),
            Some(pg) => pg.message().to_string(),
            None => db.message().to_string(),
        },
        sqlx::Error::PoolTimedOut => "no database connection within the timeout: is the server still running?".into(),
        sqlx::Error::PoolClosed => "the connection pool was closed".into(),
        sqlx::Error::Tls(e) => format!("TLS: {e}"),
        sqlx::Error::Configuration(e) => format!("configuration: {e}"),
        other => other.to_string(),
    }
}

/// The same for a first connection, which knows where it tried to go: a missing unix socket is named.
pub fn describe_connect(e: &sqlx::Error, opts: &PgConnectOptions) -> String {
    match (e, socket_path(opts)) {
        (sqlx::Error::Io(io), Some(socket)) if io.kind() == ErrorKind::NotFound => {
            format!("no server socket at {socket}: is the server running?")
        }
        _ => format!("cannot connect to {}: {}", endpoint(opts), describe(e)),
    }
}

/// Did the server end the session: shut down, crashed, or killed its backend?
pub fn is_termination(code: &str) -> bool {
    // admin_shutdown, crash_shutdown, cannot_connect_now
    matches!(code, "57P01" | "57P02" | "57P03")
}

/// A broken connection rather than an error in a statement: nothing more can be done on it.
pub fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| is_termination(&c)),
        _ => false,
    }
}

fn describe_io(io: &std::io::Error) -> String {
    match io.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::BrokenPipe
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::UnexpectedEof => "server terminated the connection".into(),
        ErrorKind::TimedOut => "the server did not answer in time".into(),
        _ => format!("connection error: {io}"),
    }
}

/// `host:port`, or the unix socket, for messages (never credentials).
pub fn endpoint(opts: &PgConnectOptions) -> String {
    socket_path(opts).unwrap_or_else(|| format!("{}:{}", opts.get_host(), opts.get_port()))
}

/// The socket file libpq-style options point at: a `host` that is a folder means a unix socket in it.
pub fn socket_path(opts: &PgConnectOptions) -> Option<String> {
    let dir = match opts.get_socket() {
        Some(dir) => dir.display().to_string(),
        None if opts.get_host().starts_with('/') => opts.get_host().to_string(),
        None => return None,
    };
    Some(format!("{}/.s.PGSQL.{}", dir.trim_end_matches('/'), opts.get_port()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn io_causes_are_named_once() {
        let refused = sqlx::Error::Io(std::io::Error::from(ErrorKind::ConnectionRefused));
        assert_eq!(describe(&refused), "connection refused");
        let eof = sqlx::Error::Io(std::io::Error::from(ErrorKind::UnexpectedEof));
        assert_eq!(describe(&eof), "server terminated the connection");
        let opts = PgConnectOptions::from_str("postgres://x@127.0.0.1:1/db").unwrap();
        assert_eq!(
            describe_connect(&refused, &opts),
            "cannot connect to 127.0.0.1:1: connection refused"
        );
    }

    #[test]
    fn missing_socket_is_named() {
        let opts = PgConnectOptions::from_str("postgresql:///db?host=/nowhere/run&port=5433").unwrap();
        let gone = sqlx::Error::Io(std::io::Error::from(ErrorKind::NotFound));
        assert_eq!(
            describe_connect(&gone, &opts),
            "no server socket at /nowhere/run/.s.PGSQL.5433: is the server running?"
        );
    }
}
