//! The import pipeline: scan -> resume filter -> read/extract -> hash + dedup -> parse -> write, on bounded queues.
//!
//! Threads: one scanner, one resume filter (batched look-ups of known locations), `readers` readers (plain files
//! and whole archives, decompressed in memory), `workers` hash+parse workers, and one writer that batches records
//! into one transaction per batch. Every queue is bounded (and the read queue also by bytes), so memory stays
//! flat however large the library. Workers report counters (metrics.rs) and batch events, never rows.
//!
//! The stages live in `stages.rs` and `write.rs`; the database is behind two seams (`sink.rs`): the resume
//! look-up and the batch write, so that the failure paths also run without a server (tests.rs).

mod prefetch;
mod repair;
mod shared;
mod sink;
mod stage;
mod stages;
#[cfg(test)]
mod tests;
mod write;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use serde::Serialize;
use sqlx::PgPool;

use super::metrics::{Counts, RunMetrics, Snapshot};
use super::source::{self, Limits};
use crate::database::liveness::Watchdog;
use crate::database::{self, DbError, lost_rows, runs, writer};
use crate::human;
pub use crate::kinds::{ErrorKind, RunMode, RunStatus};
use repair::Repair;
pub use shared::SharedRun;
use sink::{BatchSink, DryRun, PgLookup, PgSink, ResumeLookup, live};
use stage::Stage;
use stages::Outcome;

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub sources: Vec<PathBuf>,
    /// Stored with the run.
    pub mode: RunMode,
    /// Every phase but the database write.
    pub dry_run: bool,
    pub workers: usize,
    pub readers: usize,
    /// Locations per write transaction.
    pub batch_rows: usize,
    pub limits: Limits,
    /// The per-run log that `tail -f` follows.
    pub log_path: Option<PathBuf>,
    /// Bytes of file contents allowed in flight between readers and workers.
    pub max_inflight_bytes: u64,
    /// Commit the writer's transactions asynchronously (fast modes; works without superuser rights).
    pub async_commit: bool,
    /// Skip the per-row foreign-key checks and the search_rows trigger in the writer's batches, for the restore
    /// to prove set-based (fast modes; needs a superuser session, else the checks stay and the run log says so).
    pub defer_checks: bool,
    /// Benchmarks: stop after a phase, or time the write phase alone.
    pub limit: Limit,
    /// Where the final status goes when the server is gone at the end of the run (the engine's pending-run notes).
    pub pending_runs: Option<Arc<dyn StatusKeeper>>,
    /// The shared run this import takes part in: it claims units of the sources instead of walking them alone.
    pub shared: Option<SharedRun>,
    /// The server's liveness: a server silent for 10 s ends every wait of the run (the engine sets it).
    pub watchdog: Option<Arc<Watchdog>>,
}

/// Keeps a run's final status that the server was not there to store, until the next start applies it. The
/// pipeline only hands the status over; run control (`run::pending`) decides where it is kept.
pub trait StatusKeeper: std::fmt::Debug + Send + Sync {
    /// Keep `status` (and `error`) of run `run_id`; returns where it was kept.
    fn remember(&self, run_id: i64, status: &str, error: Option<&str>) -> std::io::Result<PathBuf>;
}

/// Which part of the pipeline runs (benchmarks measure each part's ceiling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    #[default]
    Full,
    /// Read and hash only: no dedup, no parse, no write.
    ReadHash,
    /// Everything is parsed into memory first; then the write phase runs alone and is timed.
    WriteOnly,
}

impl ImportOptions {
    pub fn new(sources: Vec<PathBuf>, mode: RunMode) -> Self {
        let cores = super::machine::cores();
        Self {
            sources,
            mode,
            dry_run: false,
            workers: cores.max(1),
            readers: cores.max(1),
            batch_rows: 5000,
            limits: Limits::default(),
            log_path: None,
            max_inflight_bytes: 128 << 20,
            async_commit: false,
            defer_checks: false,
            limit: Limit::Full,
            pending_runs: None,
            shared: None,
            watchdog: None,
        }
    }

    /// The run's watchdog (one that never trips without a server to watch).
    pub fn watchdog(&self) -> Arc<Watchdog> {
        self.watchdog.clone().unwrap_or_else(|| Arc::new(Watchdog::idle()))
    }
}

/// Pause and cancel, shared by the front ends and every pipeline thread.
#[derive(Debug, Default)]
pub struct Control {
    cancel: AtomicBool,
    paused: AtomicBool,
    /// Who asked for the cancel, stored with the interrupted run (`status` and the console list it).
    reason: std::sync::Mutex<Option<String>>,
}

impl Control {
    pub fn cancel(&self) {
        self.cancel.store(true, Release);
    }
    /// Cancel, saying why (e.g. "cancelled in the console"); the first reason given is kept.
    pub fn cancel_because(&self, reason: &str) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        r.get_or_insert_with(|| reason.to_string());
        drop(r);
        self.cancel();
    }
    /// Why the run was cancelled, when someone said.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Relaxed)
    }
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Release);
    }
    pub fn is_paused(&self) -> bool {
        self.paused.load(Relaxed)
    }
    /// Block while paused; false once cancelled.
    fn wait_running(&self) -> bool {
        while self.is_paused() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        !self.is_cancelled()
    }
}

/// What the engine tells a front end besides counters.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    Log(String),
    Error {
        location: String,
        kind: ErrorKind,
        message: String,
    },
    Finished(Box<RunSummary>),
}

/// The end of a run, as `import --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: Option<i64>,
    pub status: RunStatus,
    pub mode: RunMode,
    #[serde(flatten)]
    pub counts: Counts,
    pub seconds: f64,
    pub files_per_s: f64,
    pub mb_per_s: f64,
    pub phase_busy_seconds: HashMap<String, f64>,
    pub errors_by_kind: HashMap<String, u64>,
    pub log_path: Option<PathBuf>,
    /// With `Limit::WriteOnly`: seconds of the write phase alone.
    pub write_seconds: Option<f64>,
    /// Files neither MIDI nor a readable archive, by type (`.wav` -> 1204); see `source::ignored_summary`.
    pub ignored: std::collections::BTreeMap<String, u64>,
    /// The shared run this importer took part in, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_run: Option<SharedRunReport>,
    /// The counters at the end, which `files_per_s`, `mb_per_s` and `seconds` were computed from
    /// ([`crate::metrics::Figures`]): a front end shows the whole run's busy shares and verdict from it.
    #[serde(skip)]
    pub final_snapshot: Option<Box<Snapshot>>,
}

/// One importer's part in a shared run, as `import --json` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SharedRunReport {
    pub id: i64,
    /// It joined a run another importer had started (false: it started the run).
    pub joined: bool,
    /// Units of the run this importer claimed (a batch of plain files, or one archive).
    pub units_taken: u64,
    /// It was the last one out and restored the profile for the run.
    pub restored: bool,
}

impl RunSummary {
    /// "1,204 files in 3.1 s (388 files/s, 2.1 MB/s): 1,100 imported, 90 duplicates, 10 skipped, 4 failed": the
    /// final line of every front end and of the run log, from the one definition of each figure.
    pub fn figures_text(&self) -> String {
        let c = &self.counts;
        format!(
            "{} in {:.1} s ({} files/s, {:.1} MB/s): {} imported, {} duplicates, {} skipped, {} failed",
            human::counted(c.done(), "file"),
            self.seconds,
            human::count_f(self.files_per_s),
            self.mb_per_s,
            human::count(c.imported),
            human::count(c.duplicates),
            human::count(c.skipped),
            human::count(c.failed)
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot write the run log {path}: {error}")]
    Log { path: PathBuf, error: std::io::Error },
    /// Not a `source`: the message already names the cause.
    #[error("resume look-up of known files failed: {0}")]
    Lookup(DbError),
    #[error("a pipeline thread stopped unexpectedly: {0}")]
    Thread(String),
    #[error("shared run: {0}")]
    Shared(String),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Db(DbError::Sql(e))
    }
}

/// A running import: counters to sample, events to drain, controls, and the final summary.
pub struct ImportHandle {
    pub metrics: Arc<RunMetrics>,
    pub control: Arc<Control>,
    pub events: Receiver<EngineEvent>,
    thread: Option<JoinHandle<Result<RunSummary, ImportError>>>,
}

impl ImportHandle {
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// The events and the thread, for a caller that drains one while it waits for the other.
    pub fn into_parts(mut self) -> (Receiver<EngineEvent>, ImportJoin) {
        (self.events.clone(), ImportJoin(self.thread.take()))
    }

    /// Wait for the end of the run.
    pub fn join(mut self) -> Result<RunSummary, ImportError> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| ImportError::Thread("import coordinator panicked".into()))?,
            None => Err(ImportError::Thread("already joined".into())),
        }
    }
}

/// Start an import. `pool` is `None` only for a dry run. DB calls from pipeline threads go through `rt`.
pub fn start(opts: ImportOptions, pool: Option<PgPool>, rt: tokio::runtime::Handle) -> ImportHandle {
    start_with(opts, pool, rt, Arc::default(), Arc::default())
}

/// [`start`] with counters and controls the caller made before (a plan hands them out before its run starts).
pub fn start_with(
    opts: ImportOptions,
    pool: Option<PgPool>,
    rt: tokio::runtime::Handle,
    metrics: Arc<RunMetrics>,
    control: Arc<Control>,
) -> ImportHandle {
    let (ev_tx, ev_rx) = unbounded();
    let (m, c) = (metrics.clone(), control.clone());
    let thread = std::thread::Builder::new()
        .name("import".into())
        .spawn(move || run(opts, pool, rt, m, c, ev_tx))
        .ok();
    ImportHandle {
        metrics,
        control,
        events: ev_rx,
        thread,
    }
}

/// The end of a run, apart from its events.
pub struct ImportJoin(Option<JoinHandle<Result<RunSummary, ImportError>>>);

impl ImportJoin {
    pub fn join(self) -> Result<RunSummary, ImportError> {
        match self.0 {
            Some(t) => t
                .join()
                .map_err(|_| ImportError::Thread("import coordinator panicked".into()))?,
            None => Err(ImportError::Thread("already joined".into())),
        }
    }
}

/// The per-run log file: one line per progress tick and per error, flushed at once so `tail -f` sees it.
struct RunLog(Option<Mutex<std::fs::File>>);

impl RunLog {
    fn open(path: Option<&Path>) -> Result<Self, ImportError> {
        let Some(path) = path else { return Ok(RunLog(None)) };
        let f = super::logfile::open_private(path).map_err(|error| ImportError::Log {
            path: path.to_path_buf(),
            error,
        })?;
        Ok(RunLog(Some(Mutex::new(f))))
    }

    fn line(&self, text: &str) {
        if let Some(f) = &self.0 {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{stamp} {text}");
        }
    }
}

/// One run: open its row and plan the repair, run the stages against the database (or the dry run), store how
/// it ended.
fn run(
    mut opts: ImportOptions,
    pool: Option<PgPool>,
    rt: tokio::runtime::Handle,
    metrics: Arc<RunMetrics>,
    control: Arc<Control>,
    events: Sender<EngineEvent>,
) -> Result<RunSummary, ImportError> {
    metrics.start_import_clock();
    let log = RunLog::open(opts.log_path.as_deref())?;
    // Locations are stored absolute: a re-run from another folder, or a repair, finds the same paths.
    opts.sources = opts
        .sources
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let sources: Vec<String> = opts.sources.iter().map(|p| source::encode_os_path(p)).collect();
    let pool = pool.filter(|_| !opts.dry_run);
    let wd = opts.watchdog();
    opts.watchdog = Some(wd.clone());
    let (run_id, repair) = match &pool {
        Some(pool) => {
            live(&rt, &wd, runs::close_abandoned(pool))?;
            let id = live(&rt, &wd, runs::start(pool, &sources, opts.mode.as_str()))?;
            crate::timeline::mark("run row");
            let work = live(&rt, &wd, lost_rows::repair_work(pool))?;
            crate::timeline::mark("integrity check");
            (Some(id), Repair::plan(work, &opts.sources))
        }
        None => (None, Repair::plan(lost_rows::RepairWork::default(), &opts.sources)),
    };
    if let Some(text) = repair.describe() {
        log.line(&text);
        let _ = events.send(EngineEvent::Log(text));
    }
    let ctx = write_context(&opts, pool.as_ref(), &rt, &wd, run_id, &repair, &sources, &log, &events)?;
    let _ = events.send(EngineEvent::Log(format!("run started ({} mode)", opts.mode)));
    let (mut sink, lookup): (Box<dyn BatchSink>, Box<dyn ResumeLookup>) = match &pool {
        Some(pool) => (
            Box::new(PgSink::new(
                pool.clone(),
                rt.clone(),
                ctx,
                opts.async_commit,
                wd.clone(),
            )),
            Box::new(PgLookup::new(pool.clone(), rt.clone(), control.clone(), wd.clone())),
        ),
        None => (Box::new(DryRun), Box::new(DryRun)),
    };
    let shared = opts.shared.filter(|_| pool.is_some() && !repair.is_active());
    if let (Some(s), Some(pool), Some(id)) = (shared, &pool, run_id) {
        let _ = live(
            &rt,
            &wd,
            database::shared::set_import_run(pool, s.membership.importer_id, id),
        );
    }
    crate::timeline::mark("run row");
    let mut stage = Stage::new(opts, metrics, control, events, log);
    stage.roots.extend(repair.lost_sources.iter().cloned());
    let stage = Arc::new(stage);
    let (outcome, units_taken) = match (shared, &pool) {
        (Some(s), Some(pool)) => {
            let (o, n) = shared::run(&stage, s, pool, &rt, sink.as_mut(), repair.scan_sources.clone());
            (o, Some((s, n)))
        }
        _ => {
            let feed = stages::Feed::Sources(repair.scan_sources.clone());
            let o = stages::run(&stage, feed, repair.forced.clone(), sink.as_mut(), lookup);
            (o, None)
        }
    };
    drop(sink);
    crate::timeline::mark("import: scan, read, parse, write");
    if let (Some(pool), Some(id)) = (&pool, run_id) {
        let snap = stage.metrics.snapshot();
        let error = outcome.error.as_ref().map(ToString::to_string);
        let reason = match outcome.status {
            RunStatus::Done | RunStatus::Running => None,
            RunStatus::Failed => Some(error.clone().unwrap_or_else(|| "failed".into())),
            RunStatus::Interrupted => Some(stage.control.reason().unwrap_or_else(|| "cancelled".into())),
        };
        let end = (outcome.status, reason.as_deref());
        store_status(&stage.opts, pool, &rt, id, &snap, end, error.as_deref());
        if outcome.status == RunStatus::Done && repair.is_active() {
            match live(&rt, &wd, lost_rows::finish_repair(pool, id, &repair.runs)) {
                Ok(0) => stage.log.line("repair complete: every lost row is back"),
                Ok(left) => stage.log.line(&format!(
                    "repair: {left} damaged files could not be read again from their stored location"
                )),
                Err(e) => stage.log.line(&format!("repair bookkeeping failed: {e}")),
            }
        }
        if outcome.status == RunStatus::Done {
            // The files this run added join the similarity pack (or it is built, once the library is big enough).
            let pack = database::similar_pack::refresh(pool, database::similar_pack::MIN_FILES);
            match live(&rt, &wd, pack) {
                Ok(done) => {
                    if let Some(line) = done.describe() {
                        stage.log.line(&line);
                        let _ = stage.events.send(EngineEvent::Log(line));
                    }
                }
                Err(e) => stage.log.line(&format!("similarity pack not updated: {e}")),
            }
        }
    }
    crate::timeline::mark("run row");
    finish(&stage, run_id, outcome, units_taken)
}

/// How the writer's batches go (COPY format, per-row or set-based checks), said in the run log.
#[allow(clippy::too_many_arguments)]
fn write_context(
    opts: &ImportOptions,
    pool: Option<&PgPool>,
    rt: &tokio::runtime::Handle,
    wd: &Watchdog,
    run_id: Option<i64>,
    repair: &Repair,
    sources: &[String],
    log: &RunLog,
    events: &Sender<EngineEvent>,
) -> Result<writer::BatchContext, ImportError> {
    // Both ways past the per-row checks need a superuser session (`session_replication_role`).
    let superuser = match pool {
        Some(pool) => live(rt, wd, database::deferred::can_defer(pool))?,
        None => false,
    };
    let defer_checks = opts.defer_checks && superuser;
    if opts.defer_checks && pool.is_some() && !defer_checks {
        let text = "checks kept per row: skipping the foreign-key checks and the search_rows trigger needs a \
                superuser session";
        log.line(text);
        let _ = events.send(EngineEvent::Log(text.into()));
    }
    let ctx = writer::BatchContext {
        run_id: run_id.unwrap_or(0),
        repair: repair.is_active(),
        copy: writer::CopyFormat::from_env(),
        defer_checks,
        batch_checks: superuser && !defer_checks,
    };
    log.line(&format!(
        "run {} started: mode {}, sources {}, COPY {}{}",
        run_id.map_or("dry-run".to_string(), |i| i.to_string()),
        opts.mode,
        sources.join(", "),
        ctx.copy.name(),
        if defer_checks {
            ", foreign-key checks and search rows deferred to the restore"
        } else if ctx.batch_checks {
            ", foreign-key checks and search rows set-based per batch"
        } else {
            ""
        }
    ));
    Ok(ctx)
}

/// The summary of a run whose stages have ended: logged, sent as the last event, and returned (or its error).
fn finish(
    stage: &Stage,
    run_id: Option<i64>,
    outcome: Outcome,
    shared: Option<(SharedRun, u64)>,
) -> Result<RunSummary, ImportError> {
    let snap = stage.metrics.snapshot();
    let status = outcome.status;
    let mut summary = summary(&stage.opts, run_id, status, &snap, outcome.errors_by_kind);
    summary.write_seconds = outcome.write_seconds;
    summary.ignored = stage.metrics.totals.ignored();
    summary.shared_run = shared.map(|(s, n)| SharedRunReport {
        id: s.membership.run_id,
        joined: !s.membership.creator,
        units_taken: n,
        restored: false,
    });
    if let Some(r) = &summary.shared_run {
        stage.log.line(&format!(
            "shared run {}: {} it, took {}",
            r.id,
            if r.joined { "joined" } else { "started" },
            human::counted(r.units_taken, "unit")
        ));
    }
    stage
        .log
        .line(&format!("run finished: {status}; {}", summary.figures_text()));
    let _ = stage.events.send(EngineEvent::Finished(Box::new(summary.clone())));
    match outcome.error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// The run's final row. When that fails (the server is gone), a note that the next start applies: a run whose
/// server died is `failed` for good, not taken for a killed tool's `interrupted` run.
fn store_status(
    opts: &ImportOptions,
    pool: &PgPool,
    rt: &tokio::runtime::Handle,
    id: i64,
    snap: &Snapshot,
    (status, reason): (RunStatus, Option<&str>),
    error: Option<&str>,
) {
    // After a failure the server may be gone: one quick connection attempt, not the pool's retries; none at all
    // when it is silent.
    let silent = opts.watchdog.as_ref().is_some_and(|w| w.is_silent());
    let reachable =
        !silent && (status != RunStatus::Failed || rt.block_on(database::reachable(&pool.connect_options())));
    let update = async {
        tokio::time::timeout(
            database::ACQUIRE_TIMEOUT * 2,
            runs::update(pool, id, &snap.counts, Some((status.as_str(), reason))),
        )
        .await
    };
    if reachable && matches!(rt.block_on(update), Ok(Ok(()))) {
        return;
    }
    match opts
        .pending_runs
        .as_ref()
        .map(|p| p.remember(id, status.as_str(), error))
    {
        Some(Ok(path)) => tracing::warn!("run {id} is {status}; stored at the next start ({})", path.display()),
        Some(Err(e)) => tracing::error!("run {id} is {status}, but neither the database nor a note could keep it: {e}"),
        None => tracing::error!("run {id} is {status}, but the database could not store it"),
    }
}

fn summary(
    opts: &ImportOptions,
    run_id: Option<i64>,
    status: RunStatus,
    s: &Snapshot,
    errors_by_kind: HashMap<String, u64>,
) -> RunSummary {
    let figures = crate::metrics::Figures::of(s);
    RunSummary {
        run_id,
        status,
        mode: opts.mode,
        counts: s.counts,
        seconds: figures.seconds,
        files_per_s: figures.files_per_s,
        mb_per_s: figures.mb_per_s,
        phase_busy_seconds: s
            .phases
            .iter()
            .map(|p| (p.phase.label().to_string(), p.busy_ns as f64 / 1e9))
            .collect(),
        errors_by_kind,
        log_path: opts.log_path.clone(),
        write_seconds: None,
        ignored: Default::default(),
        shared_run: None,
        final_snapshot: Some(Box::new(*s)),
    }
}
