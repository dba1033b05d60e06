//! The import pipeline: scan -> resume filter -> read/extract -> hash + dedup -> parse -> write, on bounded queues.
//!
//! Threads: one scanner, one resume filter (batched look-ups of known locations), `readers` readers (plain files
//! and whole archives, decompressed in memory), `workers` hash+parse workers, and one writer that batches records
//! into one transaction per batch. Every queue is bounded (and the read queue also by bytes), so memory stays
//! flat however large the library. Workers report counters (metrics.rs) and batch events, never rows.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use serde::Serialize;
use sqlx::{Connection, PgPool};

use super::metrics::{BusyTimer, Phase, RunMetrics, Snapshot};
use super::midi;
use super::pending::PendingRuns;
use super::record::{ArchiveTracker, ContentRecord, ErrorRecord, LocationRecord, Record};
use super::source::{self, Limits, Meter, ReadEvent, ScanItem};
use crate::database::{self, DbError, integrity, runs, writer};
pub use crate::kinds::{RunMode, RunStatus};

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
    /// Benchmarks: stop after a phase, or time the write phase alone.
    pub limit: Limit,
    /// Where the final status goes when the server is gone at the end of the run.
    pub pending_runs: Option<PendingRuns>,
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
            limit: Limit::Full,
            pending_runs: None,
        }
    }
}

/// Pause and cancel, shared by the front ends and every pipeline thread.
#[derive(Debug, Default)]
pub struct Control {
    cancel: AtomicBool,
    paused: AtomicBool,
}

impl Control {
    pub fn cancel(&self) {
        self.cancel.store(true, Release);
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
        kind: String,
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
    pub seen: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
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

/// Items between the resume filter and the readers.
enum Unit {
    File {
        location: String,
        fs_path: PathBuf,
        size: u64,
        mtime: i64,
    },
    Archive {
        fs_path: PathBuf,
        tracker: Arc<ArchiveTracker>,
    },
}

/// A payload on its way to a worker.
struct Item {
    location: String,
    size: u64,
    mtime: i64,
    data: Vec<u8>,
    archive: Option<Arc<ArchiveTracker>>,
}

/// Bounds the bytes of file contents between readers and workers.
struct ByteBudget {
    used: Mutex<u64>,
    freed: Condvar,
    max: u64,
}

impl ByteBudget {
    fn acquire(&self, n: u64, control: &Control) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // One item larger than the whole budget still passes when nothing else is in flight.
        while *used > 0 && *used + n > self.max && !control.is_cancelled() {
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *used += n;
    }
    fn release(&self, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(n);
        self.freed.notify_all();
    }
}

/// Contents seen in this run: 128 bits of the BLAKE3 hash are plenty to tell millions of files apart, at half
/// the memory. Contents that failed to parse remember why, for their duplicates.
#[derive(Default)]
struct Dedup {
    seen: Mutex<HashSet<u128>>,
    failed: Mutex<HashMap<u128, (String, String)>>,
}

fn key(hash: &[u8; 32]) -> u128 {
    let mut k = [0u8; 16];
    k.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(k)
}

/// The per-run log file: one line per progress tick and per error, flushed at once so `tail -f` sees it.
struct RunLog(Option<Mutex<std::fs::File>>);

impl RunLog {
    fn line(&self, text: &str) {
        if let Some(f) = &self.0 {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{stamp} {text}");
        }
    }
}

fn run(
    opts: ImportOptions,
    pool: Option<PgPool>,
    rt: tokio::runtime::Handle,
    metrics: Arc<RunMetrics>,
    control: Arc<Control>,
    events: Sender<EngineEvent>,
) -> Result<RunSummary, ImportError> {
    let log = match &opts.log_path {
        Some(path) => {
            let f = super::logfile::open_private(path).map_err(|error| ImportError::Log {
                path: path.clone(),
                error,
            })?;
            RunLog(Some(Mutex::new(f)))
        }
        None => RunLog(None),
    };
    // Locations are stored absolute: a re-run from another folder, or a repair, finds the same paths.
    let mut opts = opts;
    opts.sources = opts
        .sources
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let sources: Vec<String> = opts.sources.iter().map(|p| source::encode_os_path(p)).collect();
    let pool = if opts.dry_run { None } else { pool };
    let run_id = match &pool {
        Some(pool) => {
            rt.block_on(runs::close_abandoned(pool))?;
            Some(rt.block_on(runs::start(pool, &sources, opts.mode.as_str()))?)
        }
        None => None,
    };
    let repair = match &pool {
        Some(pool) => Repair::plan(rt.block_on(integrity::repair_work(pool))?, &opts.sources),
        None => Repair::plan(integrity::RepairWork::default(), &opts.sources),
    };
    if let Some(text) = repair.describe() {
        log.line(&text);
        let _ = events.send(EngineEvent::Log(text));
    }
    log.line(&format!(
        "run {} started: mode {}, sources {}",
        run_id.map_or("dry-run".to_string(), |i| i.to_string()),
        opts.mode,
        sources.join(", ")
    ));
    let _ = events.send(EngineEvent::Log(format!("run started ({} mode)", opts.mode)));

    let workers = opts.workers.max(1);
    let readers = opts.readers.max(1);
    let (scan_tx, scan_rx) = bounded::<ScanItem>(4096);
    let (unit_tx, unit_rx) = bounded::<Unit>(1024);
    let (item_tx, item_rx) = bounded::<Item>(512);
    let (rec_tx, rec_rx) = bounded::<Record>(opts.batch_rows.max(256) * 2);
    metrics.phase(Phase::Scan).threads.store(1, Relaxed);
    metrics.phase(Phase::Read).threads.store(readers, Relaxed);
    metrics.phase(Phase::Hash).threads.store(workers, Relaxed);
    metrics.phase(Phase::Parse).threads.store(workers, Relaxed);
    metrics.phase(Phase::Write).threads.store(1, Relaxed);
    for (phase, capacity) in [
        (Phase::Read, unit_rx.capacity()),
        (Phase::Hash, item_rx.capacity()),
        (Phase::Parse, item_rx.capacity()),
        (Phase::Write, rec_rx.capacity()),
    ] {
        metrics.phase(phase).capacity.store(capacity.unwrap_or(0), Relaxed);
    }

    let budget = Arc::new(ByteBudget {
        used: Mutex::new(0),
        freed: Condvar::new(),
        max: opts.max_inflight_bytes,
    });
    let dedup = Arc::new(Dedup::default());
    let log = Arc::new(log);
    let mut threads: Vec<JoinHandle<()>> = Vec::new();

    // Scan.
    {
        let (m, c, srcs) = (metrics.clone(), control.clone(), repair.scan_sources.clone());
        threads.push(spawn("scan", move || {
            let counters = m.phase(Phase::Scan);
            let mut t = Instant::now();
            let stats = source::scan_counted(&srcs, &mut |item| {
                if !c.wait_running() {
                    return false;
                }
                counters.items.fetch_add(1, Relaxed);
                if let ScanItem::File { size, .. } = &item {
                    m.totals.discovered.fetch_add(1, Relaxed);
                    m.totals.discovered_bytes.fetch_add(*size, Relaxed);
                    counters.bytes.fetch_add(*size, Relaxed);
                }
                counters.add_busy(t.elapsed());
                let ok = scan_tx.send(item).is_ok();
                t = Instant::now();
                ok
            });
            counters.add_busy(t.elapsed());
            m.totals.set_ignored(stats.ignored_by_ext);
            m.totals.scan_done.store(true, Release);
        }));
    }

    // Resume filter: known locations (same size and mtime) and completed archives are not read again.
    let lookup_failure: Arc<Mutex<Option<DbError>>> = Arc::default();
    {
        let (m, c, pool, rt, rec_tx, forced, failure) = (
            metrics.clone(),
            control.clone(),
            pool.clone(),
            rt.clone(),
            rec_tx.clone(),
            repair.forced.clone(),
            lookup_failure.clone(),
        );
        threads.push(spawn("resume-filter", move || {
            let mut batch: Vec<ScanItem> = Vec::with_capacity(512);
            loop {
                batch.clear();
                match scan_rx.recv() {
                    Ok(first) => batch.push(first),
                    Err(_) => break,
                }
                while batch.len() < 512 {
                    match scan_rx.try_recv() {
                        Ok(i) => batch.push(i),
                        Err(_) => break,
                    }
                }
                m.phase(Phase::Read).queued.store(unit_tx.len(), Relaxed);
                match filter_batch(&mut batch, pool.as_ref(), &rt, &m, &c, &forced, &unit_tx, &rec_tx) {
                    Ok(true) if !c.is_cancelled() => {}
                    Ok(_) => break,
                    Err(e) => {
                        // Part of the source would go unread: the run fails, it does not end `done`.
                        tracing::error!("resume look-up failed: {e}");
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                        c.cancel();
                        break;
                    }
                }
            }
        }));
    }

    // Readers.
    for r in 0..readers {
        let (m, c, unit_rx, item_tx, rec_tx, budget) = (
            metrics.clone(),
            control.clone(),
            unit_rx.clone(),
            item_tx.clone(),
            rec_tx.clone(),
            budget.clone(),
        );
        let limits = opts.limits.clone();
        threads.push(spawn(&format!("read-{r}"), move || {
            let meter = Meter::default();
            for unit in unit_rx.iter() {
                if !c.wait_running() {
                    break;
                }
                read_unit(unit, &limits, &meter, &m, &c, &item_tx, &rec_tx, &budget);
            }
        }));
    }
    drop(unit_rx);
    drop(item_tx);

    // Hash + parse workers.
    let limit = opts.limit;
    for w in 0..workers {
        let (m, item_rx, rec_tx, budget, dedup) = (
            metrics.clone(),
            item_rx.clone(),
            rec_tx.clone(),
            budget.clone(),
            dedup.clone(),
        );
        threads.push(spawn(&format!("parse-{w}"), move || {
            for item in item_rx.iter() {
                m.phase(Phase::Hash).queued.store(item_rx.len(), Relaxed);
                m.phase(Phase::Parse).queued.store(item_rx.len(), Relaxed);
                let n = item.data.len() as u64;
                let rec = process(item, &m, &dedup, limit);
                budget.release(n);
                m.phase(Phase::Write).queued.store(rec_tx.len(), Relaxed);
                if rec_tx.send(rec).is_err() {
                    break;
                }
            }
        }));
    }
    drop(item_rx);
    drop(rec_tx);

    // Progress lines in the run log.
    let ticker_stop = Arc::new(AtomicBool::new(false));
    {
        let (m, log, stop) = (metrics.clone(), log.clone(), ticker_stop.clone());
        threads.push(spawn("run-log", move || {
            let mut prev = m.snapshot();
            while !stop.load(Relaxed) {
                for _ in 0..20 {
                    if stop.load(Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let now = m.snapshot();
                let dt = (now.elapsed - prev.elapsed).as_secs_f64().max(1e-9);
                log.line(&format!(
                    "progress: {:.0} files/s, {:.1} MB/s, seen {} imported {} duplicates {} skipped {} failed {}",
                    (now.done() - prev.done()) as f64 / dt,
                    (now.bytes - prev.bytes) as f64 / dt / 1e6,
                    now.seen,
                    now.imported,
                    now.duplicates,
                    now.skipped,
                    now.failed
                ));
                prev = now;
            }
        }));
    }

    // The writer runs here, on the coordinating thread.
    let mut errors_by_kind: HashMap<String, u64> = HashMap::new();
    let mut write_seconds = None;
    let rec_rx = if opts.limit == Limit::WriteOnly {
        // Hold every record first, so that what follows times the write phase alone.
        let (all_tx, all_rx) = unbounded();
        for r in rec_rx.iter() {
            let _ = all_tx.send(r);
        }
        all_rx
    } else {
        rec_rx
    };
    let write_started = Instant::now();
    let write_result = write_loop(
        &opts,
        pool.as_ref(),
        &rt,
        writer::BatchContext {
            run_id: run_id.unwrap_or(0),
            repair: repair.is_active(),
        },
        &metrics,
        &rec_rx,
        &dedup,
        &events,
        &log,
        &mut errors_by_kind,
    );
    if opts.limit == Limit::WriteOnly {
        write_seconds = Some(write_started.elapsed().as_secs_f64());
    }
    if write_result.is_err() {
        // The writer is gone: stop producing, and let the producers drain into nothing.
        control.cancel();
        for _ in rec_rx.iter() {}
    }
    ticker_stop.store(true, Relaxed);
    let mut panicked = Vec::new();
    for t in threads {
        let name = t.thread().name().unwrap_or("?").to_string();
        if t.join().is_err() {
            panicked.push(name);
        }
    }
    let snap = metrics.snapshot();
    let lookup_failure = lookup_failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .map(ImportError::Lookup);
    let error = match (&write_result, &lookup_failure) {
        (Err(e), _) | (Ok(()), Some(e)) => Some(e.to_string()),
        (Ok(()), None) => None,
    };
    let status = if error.is_some() || !panicked.is_empty() {
        RunStatus::Failed
    } else if control.is_cancelled() {
        RunStatus::Interrupted
    } else {
        RunStatus::Done
    };
    if let (Some(pool), Some(id)) = (&pool, run_id) {
        store_status(&opts, pool, &rt, id, &snap, status, error.as_deref());
        if status == RunStatus::Done && repair.is_active() {
            match rt.block_on(integrity::finish_repair(pool, id, &repair.runs)) {
                Ok(0) => log.line("repair complete: every lost row is back"),
                Ok(left) => log.line(&format!(
                    "repair: {left} damaged files could not be read again from their stored location"
                )),
                Err(e) => log.line(&format!("repair bookkeeping failed: {e}")),
            }
        }
    }
    let mut summary = summary(&opts, run_id, status, &snap, errors_by_kind);
    summary.write_seconds = write_seconds;
    summary.ignored = metrics.totals.ignored();
    log.line(&format!(
        "run finished: {status}; {} files in {:.1} s ({:.0} files/s, {:.1} MB/s); imported {} duplicates {} skipped {} failed {}",
        summary.seen, summary.seconds, summary.files_per_s, summary.mb_per_s, summary.imported, summary.duplicates,
        summary.skipped, summary.failed
    ));
    let _ = events.send(EngineEvent::Finished(Box::new(summary.clone())));
    write_result?;
    if let Some(e) = lookup_failure {
        return Err(e);
    }
    if !panicked.is_empty() {
        return Err(ImportError::Thread(panicked.join(", ")));
    }
    Ok(summary)
}

/// The run's final row. When that fails (the server is gone), a note that the next start applies: a run whose
/// server died is `failed` for good, not taken for a killed tool's `interrupted` run.
fn store_status(
    opts: &ImportOptions,
    pool: &PgPool,
    rt: &tokio::runtime::Handle,
    id: i64,
    snap: &Snapshot,
    status: RunStatus,
    error: Option<&str>,
) {
    // After a failure the server may be gone: one quick connection attempt, not the pool's retries.
    let reachable = status != RunStatus::Failed || rt.block_on(database::reachable(&pool.connect_options()));
    let counts = counts(snap);
    let update = async {
        tokio::time::timeout(
            database::ACQUIRE_TIMEOUT * 2,
            runs::update(pool, id, &counts, Some(status.as_str())),
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

/// A database call from a pipeline thread that gives up (None) once the run is cancelled: a call waiting on a
/// dead server must not hold up the end of a run that already failed.
fn until_cancelled<T>(rt: &tokio::runtime::Handle, c: &Control, call: impl Future<Output = T>) -> Option<T> {
    rt.block_on(async {
        tokio::select! {
            r = call => Some(r),
            _ = async {
                while !c.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => None,
        }
    })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawn a pipeline thread")
}

fn counts(s: &Snapshot) -> runs::RunCounts {
    runs::RunCounts {
        seen: s.seen as i64,
        imported: s.imported as i64,
        duplicates: s.duplicates as i64,
        skipped: s.skipped as i64,
        failed: s.failed as i64,
        bytes: s.bytes as i64,
    }
}

fn summary(
    opts: &ImportOptions,
    run_id: Option<i64>,
    status: RunStatus,
    s: &Snapshot,
    errors_by_kind: HashMap<String, u64>,
) -> RunSummary {
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    RunSummary {
        run_id,
        status,
        mode: opts.mode,
        seen: s.seen,
        imported: s.imported,
        duplicates: s.duplicates,
        skipped: s.skipped,
        failed: s.failed,
        bytes: s.bytes,
        seconds: secs,
        files_per_s: s.seen as f64 / secs,
        mb_per_s: s.bytes as f64 / secs / 1e6,
        phase_busy_seconds: s
            .phases
            .iter()
            .map(|p| (p.phase.label().to_string(), p.busy_ns as f64 / 1e9))
            .collect(),
        errors_by_kind,
        log_path: opts.log_path.clone(),
        write_seconds: None,
        ignored: Default::default(),
    }
}

/// Send scan items on, dropping those already imported. False when the pipeline must stop; an error when the
/// look-up failed.
#[allow(clippy::too_many_arguments)]
fn filter_batch(
    batch: &mut Vec<ScanItem>,
    pool: Option<&PgPool>,
    rt: &tokio::runtime::Handle,
    m: &RunMetrics,
    c: &Control,
    forced: &HashSet<String>,
    unit_tx: &Sender<Unit>,
    rec_tx: &Sender<Record>,
) -> Result<bool, DbError> {
    let t = Instant::now();
    let mut files = Vec::new();
    let mut archives = Vec::new();
    for item in batch.iter() {
        match item {
            ScanItem::File {
                location, size, mtime, ..
            } => files.push((location.clone(), *size as i64, *mtime)),
            ScanItem::Archive {
                location, size, mtime, ..
            } => archives.push((location.clone(), *size as i64, *mtime)),
            _ => {}
        }
    }
    let (known_files, known_archives) = match pool {
        Some(pool) => {
            let lookup = async {
                let f = runs::known_locations(pool, &files).await?;
                Ok::<_, DbError>((f, runs::complete_archives(pool, &archives).await?))
            };
            match until_cancelled(rt, c, lookup) {
                Some(found) => found?,
                None => return Ok(false),
            }
        }
        None => (vec![false; files.len()], vec![None; archives.len()]),
    };
    m.phase(Phase::Scan).add_busy(t.elapsed());
    let (mut fi, mut ai) = (0, 0);
    for item in batch.drain(..) {
        let sent = match item {
            ScanItem::File {
                location,
                fs_path,
                size,
                mtime,
            } => {
                fi += 1;
                m.totals.seen.fetch_add(1, Relaxed);
                if known_files[fi - 1] && !forced.contains(&location) {
                    m.totals.skipped.fetch_add(1, Relaxed);
                    true
                } else {
                    unit_tx
                        .send(Unit::File {
                            location,
                            fs_path,
                            size,
                            mtime,
                        })
                        .is_ok()
                }
            }
            ScanItem::Archive {
                location,
                fs_path,
                size,
                mtime,
            } => {
                ai += 1;
                if let Some(members) = known_archives[ai - 1].filter(|_| !forced.contains(&location)) {
                    m.totals.seen.fetch_add(members as u64, Relaxed);
                    m.totals.skipped.fetch_add(members as u64, Relaxed);
                    true
                } else {
                    let tracker = Arc::new(ArchiveTracker::new(location, size, mtime));
                    unit_tx.send(Unit::Archive { fs_path, tracker }).is_ok()
                }
            }
            ScanItem::Skipped { .. } => {
                m.totals.skipped.fetch_add(1, Relaxed);
                true
            }
            ScanItem::Error {
                location,
                kind,
                message,
            } => {
                m.totals.seen.fetch_add(1, Relaxed);
                let e = ErrorRecord {
                    location,
                    kind: kind.into(),
                    message,
                    size: None,
                    mtime: None,
                    archive: None,
                };
                rec_tx.send(Record::Error(e)).is_ok()
            }
        };
        if !sent {
            return Ok(false);
        }
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn read_unit(
    unit: Unit,
    limits: &Limits,
    meter: &Meter,
    m: &RunMetrics,
    c: &Control,
    item_tx: &Sender<Item>,
    rec_tx: &Sender<Record>,
    budget: &ByteBudget,
) {
    let counters = m.phase(Phase::Read);
    match unit {
        Unit::File {
            location,
            fs_path,
            size,
            mtime,
        } => {
            let t = Instant::now();
            let ev = source::read_file(&location, &fs_path, limits, meter);
            let busy = t.elapsed();
            match ev {
                ReadEvent::Member(mem) => {
                    counters.add(1, mem.data.len() as u64, busy);
                    budget.acquire(mem.data.len() as u64, c);
                    let item = Item {
                        location: mem.location,
                        size: mem.size,
                        mtime,
                        data: mem.data,
                        archive: None,
                    };
                    let _ = item_tx.send(item);
                }
                ReadEvent::Skipped { .. } => {
                    counters.add_busy(busy);
                    m.totals.skipped.fetch_add(1, Relaxed);
                }
                ReadEvent::Error {
                    location,
                    kind,
                    message,
                } => {
                    counters.add_busy(busy);
                    // An unreadable file may be readable next time; anything else fails the same way again.
                    let known = kind != source::kind::IO;
                    let (size, mtime) = (known.then_some(size), known.then_some(mtime));
                    let e = ErrorRecord {
                        location,
                        kind: kind.into(),
                        message,
                        size,
                        mtime,
                        archive: None,
                    };
                    let _ = rec_tx.send(Record::Error(e));
                }
            }
        }
        Unit::Archive { fs_path, tracker } => {
            let mut t = Instant::now();
            let mut stopped = false;
            source::read_archive_metered(&tracker.location, &fs_path, limits, meter, &mut |ev| {
                if !c.wait_running() {
                    stopped = true;
                    return false;
                }
                let busy = t.elapsed();
                let ok = match ev {
                    ReadEvent::Member(mem) => {
                        counters.add(1, mem.data.len() as u64, busy);
                        m.totals.seen.fetch_add(1, Relaxed);
                        m.totals.discovered.fetch_add(1, Relaxed);
                        m.totals.discovered_bytes.fetch_add(mem.size, Relaxed);
                        tracker.members.fetch_add(1, Relaxed);
                        budget.acquire(mem.data.len() as u64, c);
                        item_tx
                            .send(Item {
                                location: mem.location,
                                size: mem.size,
                                mtime: mem.mtime,
                                data: mem.data,
                                archive: Some(tracker.clone()),
                            })
                            .is_ok()
                    }
                    ReadEvent::Skipped { .. } => {
                        counters.add_busy(busy);
                        m.totals.skipped.fetch_add(1, Relaxed);
                        true
                    }
                    ReadEvent::Error {
                        location,
                        kind,
                        message,
                    } => {
                        counters.add_busy(busy);
                        m.totals.seen.fetch_add(1, Relaxed);
                        tracker.members.fetch_add(1, Relaxed);
                        rec_tx
                            .send(Record::Error(ErrorRecord {
                                location,
                                kind: kind.into(),
                                message,
                                size: None,
                                mtime: None,
                                archive: Some(tracker.clone()),
                            }))
                            .is_ok()
                    }
                };
                t = Instant::now();
                if !ok {
                    stopped = true;
                }
                ok
            });
            counters.add_busy(t.elapsed());
            if !stopped && !c.is_cancelled() {
                tracker.read_complete.store(true, Release);
                let _ = rec_tx.send(Record::ArchiveRead(tracker));
            }
        }
    }
}

/// Hash, dedup, and parse one payload.
fn process(item: Item, m: &RunMetrics, dedup: &Dedup, limit: Limit) -> Record {
    let t = Instant::now();
    let hash: [u8; 32] = *blake3::hash(&item.data).as_bytes();
    m.phase(Phase::Hash).add(1, item.data.len() as u64, t.elapsed());
    m.totals.bytes.fetch_add(item.data.len() as u64, Relaxed);
    let k = key(&hash);
    let location = LocationRecord {
        hash,
        location: item.location,
        size: item.size,
        mtime: item.mtime,
        archive: item.archive,
    };
    if limit == Limit::ReadHash {
        return Record::Location(location);
    }
    let first = dedup.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(k);
    if !first {
        if let Some((kind, message)) = dedup.failed.lock().unwrap_or_else(|e| e.into_inner()).get(&k) {
            return Record::Error(ErrorRecord {
                location: location.location,
                kind: kind.clone(),
                message: message.clone(),
                size: Some(location.size),
                mtime: Some(location.mtime),
                archive: location.archive,
            });
        }
        return Record::Location(location);
    }
    let _busy = BusyTimer::new(m.phase(Phase::Parse));
    let result = midi::analyze(&item.data);
    m.phase(Phase::Parse).items.fetch_add(1, Relaxed);
    m.phase(Phase::Parse).bytes.fetch_add(item.data.len() as u64, Relaxed);
    match result {
        Ok(meta) => {
            let content = ContentRecord {
                hash,
                location: location.location.clone(),
                size: item.size,
                path: midi::path_meta(&location.location),
                midi: meta,
            };
            Record::Content(Box::new(content), location)
        }
        Err(e) => {
            let (kind, message) = (e.kind.code().to_string(), e.message.clone());
            dedup
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(k, (kind.clone(), message.clone()));
            Record::Error(ErrorRecord {
                size: Some(location.size),
                mtime: Some(location.mtime),
                location: location.location,
                kind,
                message,
                archive: location.archive,
            })
        }
    }
}

/// How long the writer may sit idle before it checks that its server is still there.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Batches records into transactions until every producer is done.
#[allow(clippy::too_many_arguments)]
fn write_loop(
    opts: &ImportOptions,
    pool: Option<&PgPool>,
    rt: &tokio::runtime::Handle,
    ctx: writer::BatchContext,
    m: &RunMetrics,
    rec_rx: &Receiver<Record>,
    dedup: &Dedup,
    events: &Sender<EngineEvent>,
    log: &RunLog,
    errors_by_kind: &mut HashMap<String, u64>,
) -> Result<(), ImportError> {
    let mut conn = match pool {
        Some(pool) => {
            let mut conn = rt.block_on(database::connect_one(&pool.connect_options()))?;
            rt.block_on(writer::prepare(&mut conn, opts.async_commit))?;
            Some(conn)
        }
        None => None,
    };
    let run_id = ctx.run_id;
    let mut batch = Batch::default();
    let mut pending_archives: Vec<Arc<ArchiveTracker>> = Vec::new();
    let mut errors_sent = 0u64;
    let mut last_flush = Instant::now();
    let mut last_counts = Instant::now();
    let counters = m.phase(Phase::Write);
    loop {
        let rec = rec_rx.recv_timeout(Duration::from_millis(100));
        let closed = matches!(rec, Err(RecvTimeoutError::Disconnected));
        if let Ok(rec) = rec {
            match rec {
                Record::Content(c, l) => {
                    batch.contents.push(*c);
                    batch.locations.push(l);
                }
                Record::Location(l) => batch.locations.push(l),
                Record::Error(e) => {
                    *errors_by_kind.entry(e.kind.clone()).or_default() += 1;
                    log.line(&format!("error {}: {}: {}", e.kind, e.location, e.message));
                    if errors_sent < 1000 {
                        errors_sent += 1;
                        let _ = events.send(EngineEvent::Error {
                            location: e.location.clone(),
                            kind: e.kind.clone(),
                            message: e.message.clone(),
                        });
                    }
                    batch.errors.push(e);
                }
                Record::ArchiveRead(t) => pending_archives.push(t),
            }
            m.phase(Phase::Write).queued.store(rec_rx.len(), Relaxed);
        }
        let due = batch.len() >= opts.batch_rows
            || (!batch.is_empty() && last_flush.elapsed() >= Duration::from_millis(500))
            || (closed && (!batch.is_empty() || !batch.deferred.is_empty()));
        if due {
            let t = Instant::now();
            batch.flush(conn.as_mut(), rt, ctx, m, &mut pending_archives, closed)?;
            counters.add(0, 0, t.elapsed());
            last_flush = Instant::now();
        }
        if let Some(c) = conn.as_mut().filter(|_| last_flush.elapsed() >= IDLE_CHECK) {
            // An idle writer would notice a dead server only at its next batch, maybe minutes away: ask now.
            rt.block_on(database::ping(c))?;
            last_flush = Instant::now();
        }
        if let (Some(pool), true) = (pool, last_counts.elapsed() >= Duration::from_secs(5)) {
            let _ = rt.block_on(runs::update(pool, run_id, &counts(&m.snapshot()), None));
            last_counts = Instant::now();
        }
        if closed {
            break;
        }
    }
    // Locations still without a content: their first copy failed to parse (it has the error), or vanished.
    for l in batch.deferred.drain(..) {
        let (kind, message) = dedup
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(&l.hash))
            .cloned()
            .unwrap_or_else(|| ("internal".into(), "content row missing after the run".into()));
        *errors_by_kind.entry(kind.clone()).or_default() += 1;
        let (size, mtime) = (Some(l.size), Some(l.mtime));
        batch.errors.push(ErrorRecord {
            location: l.location,
            kind,
            message,
            size,
            mtime,
            archive: l.archive,
        });
    }
    if !batch.is_empty() || !pending_archives.is_empty() {
        batch.flush(conn.as_mut(), rt, ctx, m, &mut pending_archives, true)?;
    }
    if let Some(conn) = conn {
        let _ = rt.block_on(conn.close());
    }
    Ok(())
}

#[derive(Default)]
struct Batch {
    contents: Vec<ContentRecord>,
    locations: Vec<LocationRecord>,
    errors: Vec<ErrorRecord>,
    /// Locations whose content row was not committed yet when their batch was written.
    deferred: Vec<LocationRecord>,
}

impl Batch {
    fn len(&self) -> usize {
        self.locations.len() + self.errors.len()
    }
    fn is_empty(&self) -> bool {
        self.locations.is_empty() && self.errors.is_empty()
    }

    fn flush(
        &mut self,
        conn: Option<&mut sqlx::PgConnection>,
        rt: &tokio::runtime::Handle,
        ctx: writer::BatchContext,
        m: &RunMetrics,
        pending_archives: &mut Vec<Arc<ArchiveTracker>>,
        last: bool,
    ) -> Result<(), ImportError> {
        let mut locations = std::mem::take(&mut self.locations);
        // Deferred locations ride along again: their content may have been written since.
        locations.append(&mut self.deferred);
        let contents = std::mem::take(&mut self.contents);
        let errors = std::mem::take(&mut self.errors);
        let outcome = match conn {
            Some(conn) => {
                let c: Vec<&ContentRecord> = contents.iter().collect();
                let l: Vec<&LocationRecord> = locations.iter().collect();
                let e: Vec<&ErrorRecord> = errors.iter().collect();
                let ready = ready_archives(pending_archives, last);
                write_with_retry(conn, rt, ctx, &c, &l, &e, &ready)?
            }
            None => {
                // Dry run: the write phase accepts everything as written.
                let unique: HashSet<[u8; 32]> = contents.iter().map(|c| c.hash).collect();
                writer::BatchOutcome {
                    new_files: unique.len() as u64,
                    locations: locations.len() as u64,
                    orphans: vec![],
                }
            }
        };
        let orphans: HashSet<&str> = outcome.orphans.iter().map(String::as_str).collect();
        let mut written = 0u64;
        let mut kept = Vec::new();
        for l in locations {
            if orphans.contains(l.location.as_str()) {
                kept.push(l);
            } else {
                written += 1;
                if let Some(t) = &l.archive {
                    t.committed.fetch_add(1, Relaxed);
                }
            }
        }
        self.deferred = kept;
        for e in &errors {
            if let Some(t) = &e.archive {
                t.committed.fetch_add(1, Relaxed);
            }
        }
        m.totals.imported.fetch_add(outcome.new_files, Relaxed);
        m.totals
            .duplicates
            .fetch_add(written.saturating_sub(outcome.new_files), Relaxed);
        m.totals.failed.fetch_add(errors.len() as u64, Relaxed);
        m.totals.written.fetch_add(written, Relaxed);
        m.phase(Phase::Write)
            .items
            .fetch_add(written + errors.len() as u64, Relaxed);
        if last {
            pending_archives.clear();
        }
        Ok(())
    }
}

/// One batch through the direct path (the staging path when rows collide or a repair runs), tried again from the
/// start when the server chose it as a deadlock victim or it lost a serialization race with another importer.
#[allow(clippy::too_many_arguments)]
fn write_with_retry(
    conn: &mut sqlx::PgConnection,
    rt: &tokio::runtime::Handle,
    ctx: writer::BatchContext,
    c: &[&ContentRecord],
    l: &[&LocationRecord],
    e: &[&ErrorRecord],
    ready: &[Arc<ArchiveTracker>],
) -> Result<writer::BatchOutcome, ImportError> {
    const TRIES: u32 = 5;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = rt.block_on(async {
            if !ctx.repair
                && attempt == 1
                && let Some(out) = writer::write_batch_direct(conn, ctx, c, l, e, ready).await?
            {
                return Ok(out);
            }
            writer::write_batch(conn, ctx, c, l, e, ready).await
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

/// Rows a crash took, read again by this run: the lost runs' sources join the scan, and the stored locations of
/// damaged files are read even though they look imported.
#[derive(Debug, Default)]
struct Repair {
    runs: Vec<i64>,
    damaged: usize,
    extra_sources: usize,
    scan_sources: Vec<PathBuf>,
    forced: Arc<HashSet<String>>,
}

impl Repair {
    fn plan(work: integrity::RepairWork, sources: &[PathBuf]) -> Self {
        let mut scan_sources = sources.to_vec();
        let mut forced = HashSet::new();
        let mut extra = Vec::new();
        for s in &work.sources {
            extra.push(source::location_to_path(s));
        }
        for loc in &work.locations {
            let outer = loc
                .split_once(source::location::MEMBER_SEPARATOR)
                .map_or(loc.as_str(), |(a, _)| a);
            forced.insert(outer.to_string());
            extra.push(source::location_to_path(outer));
        }
        let mut extra_sources = 0;
        for p in extra {
            // A path inside one already scanned would be read twice.
            if !scan_sources.iter().any(|q| p.starts_with(q)) {
                scan_sources.push(p);
                extra_sources += 1;
            }
        }
        Self {
            runs: work.runs,
            damaged: work.locations.len(),
            extra_sources,
            scan_sources,
            forced: Arc::new(forced),
        }
    }

    fn is_active(&self) -> bool {
        !self.runs.is_empty() || self.damaged > 0
    }

    fn describe(&self) -> Option<String> {
        self.is_active().then(|| {
            let runs: Vec<String> = self.runs.iter().map(|r| format!("#{r}")).collect();
            format!(
                "repairing rows lost in a crash: reading again the sources of run(s) {} and {} damaged files                  ({} paths added to the scan)",
                if runs.is_empty() { "-".to_string() } else { runs.join(", ") },
                self.damaged,
                self.extra_sources
            )
        })
    }
}

/// Archives to record as complete with this batch: those whose every member is committed, or on the last batch
/// every archive read to the end (all its members are in this batch or earlier ones).
fn ready_archives(pending: &mut Vec<Arc<ArchiveTracker>>, last: bool) -> Vec<Arc<ArchiveTracker>> {
    let mut ready = Vec::new();
    pending.retain(|t| {
        let done = if last {
            t.read_complete.load(Relaxed)
        } else {
            t.is_complete()
        };
        if done {
            ready.push(t.clone());
        }
        !done && !last
    });
    ready
}
