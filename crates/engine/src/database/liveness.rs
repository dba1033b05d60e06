//! The server's liveness: one connection of its own asked every second; a server silent for `SILENT_LIMIT` ends every
//! guarded wait with one message, whatever statement was waiting.
//!
//! A frozen server (its processes stopped: a stalled disk, a paused VM) keeps its sockets open and answers nothing,
//! so no error ever reaches a statement waiting on it; only a clock can tell. Statement timeouts cannot: the server
//! that would enforce them is the one that is frozen. A refused connection or a closed socket counts as an answer
//! here: a dead or restarting server fails the statements by itself at once, and a restart the tool makes is not
//! silence (a restart answers with refusals and "starting up"). sqlx does not expose the client socket, so TCP keepalive on the client side is not set; this clock bounds
//! the client's waits wherever the server is, and the server's own keepalive (set per session in `connect_options`)
//! ends the sessions of a client that vanished.
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::watch;

use super::DbError;

/// How long the server may stay silent before every guarded wait ends.
pub const SILENT_LIMIT: Duration = Duration::from_secs(10);
/// How often the watchdog asks.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Without an answer for longer than this, a failed call waits for the watchdog's verdict (see `guard`).
const QUIET: Duration = Duration::from_secs(3);

/// Watches one server; shared by every clone of an engine and by its import's threads.
#[derive(Debug)]
pub struct Watchdog {
    silent: watch::Sender<bool>,
    /// A probe loop asks the server (false for an idle watchdog, which never judges).
    probing: bool,
    last_answer: Mutex<Instant>,
}

impl Watchdog {
    /// A watchdog that asks the server behind `opts` every second, for as long as the returned handle lives.
    pub fn start(opts: PgConnectOptions) -> Arc<Watchdog> {
        let wd = Arc::new(Watchdog {
            probing: true,
            ..Self::idle()
        });
        let weak = Arc::downgrade(&wd);
        tokio::spawn(probe_loop(weak, opts));
        wd
    }

    /// A watchdog that never trips (no server to watch: tests of the pipeline, dry runs).
    pub fn idle() -> Watchdog {
        Watchdog {
            silent: watch::Sender::new(false),
            probing: false,
            last_answer: Mutex::new(Instant::now()),
        }
    }

    /// Is the server silent for `SILENT_LIMIT` or more now?
    pub fn is_silent(&self) -> bool {
        *self.silent.borrow()
    }

    /// The error every guarded wait ends with.
    pub fn error(&self) -> DbError {
        DbError::NotAnswering(SILENT_LIMIT.as_secs())
    }

    /// Resolves once the server is silent (at once when it already is).
    pub async fn silence(&self) -> DbError {
        let mut rx = self.silent.subscribe();
        let _ = rx.wait_for(|silent| *silent).await;
        self.error()
    }

    /// `call`, or the silence error as soon as the server stops answering. A call that failed on its own while the
    /// server has said nothing for a while (the pool gave up on a connection before the limit) waits for the
    /// verdict, so that a frozen server is named by one message; a live or dead server answers the probes (dead:
    /// refused), and its error comes back at once.
    pub async fn guard<T, E: From<DbError>>(&self, call: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let r = tokio::select! {
            biased;
            r = call => r,
            e = self.silence() => return Err(e.into()),
        };
        if r.is_err() && self.probing && self.since_answer() > QUIET {
            tokio::select! {
                e = self.silence() => return Err(e.into()),
                _ = async {
                    while self.since_answer() > QUIET {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                } => {}
            }
        }
        r
    }

    fn answered(&self) {
        *self.last_answer.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.silent.send_if_modified(|s| std::mem::replace(s, false));
    }

    fn since_answer(&self) -> Duration {
        self.last_answer.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

/// Ask every second on a connection of its own; a probe that does not come back before the limit makes the server
/// silent until one does.
async fn probe_loop(weak: Weak<Watchdog>, opts: PgConnectOptions) {
    let mut conn: Option<PgConnection> = None;
    loop {
        let Some(wd) = weak.upgrade() else { break };
        let left = SILENT_LIMIT.saturating_sub(wd.since_answer());
        // A probe may wait as long as the server has left, but at least a second: a silence is judged on a probe
        // that really waited.
        let wait = left.max(PROBE_EVERY);
        let answer = tokio::time::timeout(wait, probe(&mut conn, &opts)).await;
        match answer {
            Ok(()) => wd.answered(),
            Err(_) => {
                // The connection is stuck in its request: a new one asks next time.
                conn = None;
                if wd.since_answer() >= SILENT_LIMIT {
                    if !wd.is_silent() {
                        tracing::error!("the server has not answered for {} s", SILENT_LIMIT.as_secs());
                    }
                    wd.silent.send_if_modified(|s| !std::mem::replace(s, true));
                }
            }
        }
        drop(wd);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// One question: a ping on the kept connection, or a new connection. Any answer counts, an error too (a refused or
/// closed connection is the kernel or the server answering); only silence does not.
async fn probe(conn: &mut Option<PgConnection>, opts: &PgConnectOptions) {
    match conn {
        Some(c) => {
            if c.ping().await.is_err() {
                *conn = None;
            }
        }
        None => {
            if let Ok(c) = PgConnection::connect_with(opts).await {
                *conn = Some(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_guard_ends_with_the_silence_and_an_answer_ends_it() {
        let wd = Arc::new(Watchdog::idle());
        let ok: Result<u8, DbError> = wd.guard(async { Ok(1) }).await;
        assert_eq!(ok.unwrap(), 1);
        wd.silent.send_replace(true);
        let hung: Result<u8, DbError> = wd.guard(std::future::pending()).await;
        assert_eq!(hung.unwrap_err().to_string(), "the server has not answered for 10 s");
        wd.answered();
        assert!(!wd.is_silent());
    }
}
