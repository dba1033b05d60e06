//! The pipeline's two seams to the database: the resume look-up and the batch write, for PostgreSQL and the dry run.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

use super::{Control, ImportError};
use crate::database::liveness::Watchdog;
use crate::database::{self, DbError, runs, writer};
use crate::metrics::Counts;
use crate::record::{ArchiveTracker, ContentRecord, ErrorRecord, LocationRecord};

pub(super) use crate::database::writer::BatchOutcome;

/// A location, its size and mtime: what decides whether a file is imported unchanged.
pub(super) type Candidate = (String, i64, i64);

/// What the resume look-up found, in the order it was asked.
pub(super) struct Known {
    /// Per file: imported before with the same size and mtime.
    pub files: Vec<bool>,
    /// Per archive: its member count when it was read to the end before with the same size and mtime.
    pub archives: Vec<Option<i64>>,
}

/// Which scanned files and archives an earlier run already imported.
pub(super) trait ResumeLookup: Send {
    /// `None` when the run was cancelled while the look-up waited.
    fn known(&self, files: &[Candidate], archives: &[Candidate]) -> Result<Option<Known>, DbError>;
}

/// One batch as the writer hands it over.
pub(super) struct BatchRows<'a> {
    pub contents: &'a [ContentRecord],
    pub locations: &'a [LocationRecord],
    pub errors: &'a [ErrorRecord],
    /// Archives to record as complete in the same transaction.
    pub complete_archives: &'a [Arc<ArchiveTracker>],
}

/// Where the writer stage puts its batches.
pub(super) trait BatchSink {
    /// Get ready before the first batch (a connection, per-session tables).
    fn open(&mut self) -> Result<(), ImportError>;
    /// Write one batch, all or nothing; locations whose content is not stored yet come back as orphans.
    fn write(&mut self, batch: &BatchRows<'_>) -> Result<BatchOutcome, ImportError>;
    /// The writer is idle: fail now if the destination is gone, not at the next batch minutes away.
    fn ping(&mut self) -> Result<(), ImportError>;
    /// The run's counts so far, for those who watch it from elsewhere (best effort).
    fn progress(&mut self, counts: &Counts);
    /// Every batch is written.
    fn close(&mut self);
}

/// A dry run: nothing is known before, and the write phase accepts everything as written.
pub(super) struct DryRun;

impl ResumeLookup for DryRun {
    fn known(&self, files: &[Candidate], archives: &[Candidate]) -> Result<Option<Known>, DbError> {
        Ok(Some(Known {
            files: vec![false; files.len()],
            archives: vec![None; archives.len()],
        }))
    }
}

impl BatchSink for DryRun {
    fn open(&mut self) -> Result<(), ImportError> {
        Ok(())
    }
    fn write(&mut self, batch: &BatchRows<'_>) -> Result<BatchOutcome, ImportError> {
        let unique: HashSet<[u8; 32]> = batch.contents.iter().map(|c| c.hash).collect();
        Ok(BatchOutcome {
            new_files: unique.len() as u64,
            locations: batch.locations.len() as u64,
            orphans: vec![],
        })
    }
    fn ping(&mut self) -> Result<(), ImportError> {
        Ok(())
    }
    fn progress(&mut self, _: &Counts) {}
    fn close(&mut self) {}
}

/// The resume look-up in `file_locations`, `import_errors` and `archive_progress`.
pub(super) struct PgLookup {
    pool: PgPool,
    rt: tokio::runtime::Handle,
    control: Arc<Control>,
    watchdog: Arc<Watchdog>,
}

impl PgLookup {
    pub fn new(pool: PgPool, rt: tokio::runtime::Handle, control: Arc<Control>, watchdog: Arc<Watchdog>) -> Self {
        Self {
            pool,
            rt,
            control,
            watchdog,
        }
    }
}

impl ResumeLookup for PgLookup {
    fn known(&self, files: &[Candidate], archives: &[Candidate]) -> Result<Option<Known>, DbError> {
        let lookup = async {
            let files = runs::known_locations(&self.pool, files).await?;
            let archives = runs::complete_archives(&self.pool, archives).await?;
            Ok::<_, DbError>(Known { files, archives })
        };
        until_cancelled(&self.rt, &self.control, &self.watchdog, lookup).transpose()
    }
}

/// A database call from a pipeline thread, ended with "the server has not answered for 10 s" as soon as the server
/// goes silent: a frozen server answers no statement, and nothing else would end the wait.
pub(super) fn live<T>(
    rt: &tokio::runtime::Handle,
    watchdog: &Watchdog,
    call: impl Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    rt.block_on(watchdog.guard(call))
}

/// A database call from a pipeline thread that gives up (None) once the run is cancelled: a call waiting on a
/// dead server must not hold up the end of a run that already failed. A silent server ends it with an error.
pub(super) fn until_cancelled<T>(
    rt: &tokio::runtime::Handle,
    c: &Control,
    watchdog: &Watchdog,
    call: impl Future<Output = Result<T, DbError>>,
) -> Option<Result<T, DbError>> {
    rt.block_on(async {
        tokio::select! {
            r = watchdog.guard(call) => Some(r),
            _ = async {
                while !c.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => None,
        }
    })
}

/// Batches into PostgreSQL on one connection of its own (staging tables live per session).
pub(super) struct PgSink {
    pool: PgPool,
    rt: tokio::runtime::Handle,
    ctx: writer::BatchContext,
    async_commit: bool,
    conn: Option<PgConnection>,
    watchdog: Arc<Watchdog>,
}

impl PgSink {
    pub fn new(
        pool: PgPool,
        rt: tokio::runtime::Handle,
        ctx: writer::BatchContext,
        async_commit: bool,
        watchdog: Arc<Watchdog>,
    ) -> Self {
        Self {
            pool,
            rt,
            ctx,
            async_commit,
            conn: None,
            watchdog,
        }
    }

    /// The writer's connection, made on first use.
    fn conn(&mut self) -> Result<&mut PgConnection, ImportError> {
        match self.conn {
            Some(ref mut conn) => Ok(conn),
            None => {
                let (rt, wd) = (&self.rt, &self.watchdog);
                let mut conn = live(rt, wd, database::connect_one(&self.pool.connect_options()))?;
                live(rt, wd, async { writer::prepare(&mut conn, self.async_commit).await })?;
                Ok(self.conn.insert(conn))
            }
        }
    }
}

impl BatchSink for PgSink {
    fn open(&mut self) -> Result<(), ImportError> {
        self.conn().map(|_| ())
    }

    fn write(&mut self, batch: &BatchRows<'_>) -> Result<BatchOutcome, ImportError> {
        let (rt, ctx, wd) = (self.rt.clone(), self.ctx, self.watchdog.clone());
        write_with_retry(self.conn()?, &rt, &wd, ctx, batch)
    }

    fn ping(&mut self) -> Result<(), ImportError> {
        let (rt, wd) = (self.rt.clone(), self.watchdog.clone());
        Ok(live(&rt, &wd, database::ping(self.conn()?))?)
    }

    fn progress(&mut self, counts: &Counts) {
        let _ = live(
            &self.rt,
            &self.watchdog,
            runs::update(&self.pool, self.ctx.run_id, counts, None),
        );
    }

    fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A silent server would never answer the goodbye: the socket just closes.
            if !self.watchdog.is_silent() {
                let _ = self
                    .rt
                    .block_on(async { tokio::time::timeout(Duration::from_secs(2), conn.close()).await });
            }
        }
    }
}

/// One batch through the direct path (the staging path when rows collide or a repair runs), tried again from the
/// start when the server chose it as a deadlock victim or it lost a serialization race with another importer.
fn write_with_retry(
    conn: &mut PgConnection,
    rt: &tokio::runtime::Handle,
    watchdog: &Watchdog,
    ctx: writer::BatchContext,
    batch: &BatchRows<'_>,
) -> Result<BatchOutcome, ImportError> {
    const TRIES: u32 = 5;
    let c: Vec<&ContentRecord> = batch.contents.iter().collect();
    let l: Vec<&LocationRecord> = batch.locations.iter().collect();
    let e: Vec<&ErrorRecord> = batch.errors.iter().collect();
    let ready = batch.complete_archives;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = live(rt, watchdog, async {
            if !ctx.repair
                && attempt == 1
                && let Some(out) = writer::write_batch_direct(conn, ctx, &c, &l, &e, ready).await?
            {
                return Ok(out);
            }
            writer::write_batch(conn, ctx, &c, &l, &e, ready).await
        });
        match result {
            Err(err) if attempt < TRIES && writer::is_retryable(&err) => {
                tracing::warn!("batch retried ({attempt}/{TRIES}): {err}");
                std::thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
            }
            other => return Ok(other?),
        }
    }
}
