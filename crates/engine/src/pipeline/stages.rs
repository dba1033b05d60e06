//! The stages of a run, each on its own thread(s): scan, resume filter, read, hash + parse, run log; `run` wires
//! them with bounded queues to the writer stage (write.rs) and ends the run when all have stopped.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{Ordering::Relaxed, Ordering::Release};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};

use super::sink::{BatchSink, Candidate, ResumeLookup};
use super::stage::{Dedup, Stage, key};
use super::{ImportError, Limit, RunStatus, write};
use crate::database::DbError;
use crate::kinds::ErrorKind;
use crate::metrics::{BusyTimer, Phase, RunMetrics};
use crate::midi;
use crate::record::{ArchiveTracker, ContentRecord, ErrorRecord, LocationRecord, Record};
use crate::source::{self, Meter, ReadEvent, ScanItem};

/// How the stages ended.
pub(super) struct Outcome {
    pub status: RunStatus,
    /// The first error: the writer's, else the resume look-up's, else the threads that panicked.
    pub error: Option<ImportError>,
    pub errors_by_kind: HashMap<String, u64>,
    /// With `Limit::WriteOnly`: seconds of the write phase alone.
    pub write_seconds: Option<f64>,
}

type Thread = JoinHandle<Result<(), ImportError>>;

/// Where a pass's scan items come from: a walk of the sources, or the units this importer claims in a shared run.
pub(super) enum Feed {
    Sources(Vec<PathBuf>),
    Claims(Arc<dyn Claims>),
}

/// The units this importer claims in a shared run (`shared.rs`): sent on as scan items until none is left to claim.
/// `read_queue` is the readers' queue, which tells how far ahead the claims run.
pub(super) trait Claims: Send + Sync {
    fn feed(&self, st: &Stage, out: Sender<ScanItem>, read_queue: Receiver<Unit>) -> Result<(), ImportError>;
}

/// Run every stage until the writer has taken the last record (or failed), then join them.
pub(super) fn run(
    stage: &Arc<Stage>,
    feed: Feed,
    forced: Arc<HashSet<String>>,
    sink: &mut dyn BatchSink,
    lookup: Box<dyn ResumeLookup>,
) -> Outcome {
    let (workers, readers) = (stage.opts.workers.max(1), stage.opts.readers.max(1));
    let (scan_tx, scan_rx) = bounded::<ScanItem>(4096);
    let (unit_tx, unit_rx) = bounded::<Unit>(1024);
    let (item_tx, item_rx) = bounded::<Item>(512);
    let (rec_tx, rec_rx) = bounded::<Record>(stage.opts.batch_rows.max(256) * 2);
    let m = &stage.metrics;
    for (phase, threads) in [
        (Phase::Scan, 1),
        (Phase::Read, readers),
        (Phase::Hash, workers),
        (Phase::Parse, workers),
        (Phase::Write, 1),
    ] {
        m.phase(phase).threads.store(threads, Relaxed);
    }
    for (phase, capacity) in [
        (Phase::Read, unit_rx.capacity()),
        (Phase::Hash, item_rx.capacity()),
        (Phase::Parse, item_rx.capacity()),
        (Phase::Write, rec_rx.capacity()),
    ] {
        m.phase(phase).capacity.store(capacity.unwrap_or(0), Relaxed);
    }

    let mut threads: Vec<Thread> = Vec::new();
    let read_queue = unit_rx.clone();
    threads.push(spawn("scan", stage, move |st| match feed {
        Feed::Sources(sources) => scan(st, &sources, scan_tx),
        Feed::Claims(claimer) => claimer.feed(st, scan_tx, read_queue),
    }));
    let (prefetch, read_ahead) = super::prefetch::Prefetch::new();
    threads.push(spawn("read-ahead", stage, move |_| {
        read_ahead();
        Ok(())
    }));
    let filter = ResumeFilter {
        lookup,
        forced,
        units: unit_tx,
        records: rec_tx.clone(),
        prefetch,
    };
    threads.push(spawn("resume-filter", stage, move |st| filter.run(st, scan_rx)));
    for r in 0..readers {
        let reader = Reader {
            units: unit_rx.clone(),
            items: item_tx.clone(),
            records: rec_tx.clone(),
            meter: Meter::default(),
        };
        threads.push(spawn(&format!("read-{r}"), stage, move |st| reader.run(st)));
    }
    drop((unit_rx, item_tx));
    for w in 0..workers {
        let (items, records) = (item_rx.clone(), rec_tx.clone());
        threads.push(spawn(&format!("parse-{w}"), stage, move |st| {
            hash_parse(st, items, records)
        }));
    }
    drop((item_rx, rec_tx));
    // Dropping the sender stops the ticker at once (a sleeping ticker held up the end of every small run).
    let (ticker_stop, stop) = bounded::<()>(0);
    threads.push(spawn("run-log", stage, move |st| progress_log(st, &stop)));

    // The writer runs here, on the coordinating thread.
    let written = write::run(stage, sink, rec_rx);
    drop(ticker_stop);
    let (thread_error, panicked) = join(threads);
    let error = written
        .result
        .err()
        .or(thread_error)
        .or_else(|| (!panicked.is_empty()).then(|| ImportError::Thread(panicked.join(", "))));
    let status = if error.is_some() {
        RunStatus::Failed
    } else if stage.control.is_cancelled() {
        RunStatus::Interrupted
    } else {
        RunStatus::Done
    };
    Outcome {
        status,
        error,
        errors_by_kind: written.errors_by_kind,
        write_seconds: written.seconds,
    }
}

fn spawn(name: &str, stage: &Arc<Stage>, f: impl FnOnce(&Stage) -> Result<(), ImportError> + Send + 'static) -> Thread {
    let stage = stage.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || f(&stage))
        .expect("spawn a pipeline thread")
}

/// The first error a stage returned, and the names of those that panicked.
fn join(threads: Vec<Thread>) -> (Option<ImportError>, Vec<String>) {
    let mut error = None;
    let mut panicked = Vec::new();
    for t in threads {
        let name = t.thread().name().unwrap_or("?").to_string();
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error.get_or_insert(e);
            }
            Err(_) => panicked.push(name),
        }
    }
    (error, panicked)
}

/// Scan: walk the sources, counting what they hold for the ETA.
fn scan(st: &Stage, sources: &[PathBuf], out: Sender<ScanItem>) -> Result<(), ImportError> {
    let (m, c) = (&*st.metrics, &*st.control);
    let counters = m.phase(Phase::Scan);
    let mut t = Instant::now();
    let stats = source::scan_counted(sources, &mut |item| {
        if !c.wait_running() {
            return false;
        }
        counters.items.fetch_add(1, Relaxed);
        if let ScanItem::File { size, .. } = &item {
            m.totals.found(*size);
            counters.bytes.fetch_add(*size, Relaxed);
        }
        counters.add_busy(t.elapsed());
        let ok = out.send(item).is_ok();
        t = Instant::now();
        ok
    });
    counters.add_busy(t.elapsed());
    m.totals.add_ignored(&stats.ignored_by_ext);
    m.totals.scan_done.store(true, Release);
    Ok(())
}

/// A plain file on its way to a reader.
pub(super) struct FileUnit {
    location: String,
    fs_path: PathBuf,
    size: u64,
    mtime: i64,
}

/// Items between the resume filter and the readers.
pub(super) enum Unit {
    File(FileUnit),
    Archive {
        fs_path: PathBuf,
        tracker: Arc<ArchiveTracker>,
    },
}

/// Resume filter: known locations (same size and mtime) and completed archives are not read again; the stored
/// locations of damaged files (`forced`) are.
struct ResumeFilter {
    lookup: Box<dyn ResumeLookup>,
    forced: Arc<HashSet<String>>,
    units: Sender<Unit>,
    records: Sender<Record>,
    /// Plain files to read are hinted to the kernel here, ahead of the readers (cold caches).
    prefetch: super::prefetch::Prefetch,
}

impl ResumeFilter {
    const BATCH: usize = 512;

    fn run(self, st: &Stage, input: Receiver<ScanItem>) -> Result<(), ImportError> {
        let mut batch: Vec<ScanItem> = Vec::with_capacity(Self::BATCH);
        loop {
            batch.clear();
            match input.recv() {
                Ok(first) => batch.push(first),
                Err(_) => return Ok(()),
            }
            while batch.len() < Self::BATCH {
                match input.try_recv() {
                    Ok(i) => batch.push(i),
                    Err(_) => break,
                }
            }
            st.metrics.phase(Phase::Read).queued.store(self.units.len(), Relaxed);
            match self.filter(st, &mut batch) {
                Ok(true) if !st.control.is_cancelled() => {}
                Ok(_) => return Ok(()),
                Err(e) => {
                    // Part of the source would go unread: the run fails, it does not end `done`.
                    tracing::error!("resume look-up failed: {e}");
                    st.control.cancel();
                    return Err(ImportError::Lookup(e));
                }
            }
        }
    }

    /// Send one batch of scan items on, dropping those already imported. False when the pipeline must stop.
    fn filter(&self, st: &Stage, batch: &mut Vec<ScanItem>) -> Result<bool, DbError> {
        let t = Instant::now();
        let mut files: Vec<Candidate> = Vec::new();
        let mut archives: Vec<Candidate> = Vec::new();
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
        let Some(known) = self.lookup.known(&files, &archives)? else {
            return Ok(false);
        };
        st.metrics.phase(Phase::Scan).add_busy(t.elapsed());
        let (mut known_files, mut known_archives) = (known.files.into_iter(), known.archives.into_iter());
        let totals = &st.metrics.totals;
        for item in batch.drain(..) {
            let sent = match item {
                ScanItem::File {
                    location,
                    fs_path,
                    size,
                    mtime,
                } => {
                    if known_files.next().unwrap_or(false) && !self.forced.contains(&location) {
                        totals.saw_known(1);
                        true
                    } else {
                        totals.saw(1);
                        self.prefetch.hint(&fs_path);
                        let unit = FileUnit {
                            location,
                            fs_path,
                            size,
                            mtime,
                        };
                        self.units.send(Unit::File(unit)).is_ok()
                    }
                }
                ScanItem::Archive {
                    location,
                    fs_path,
                    size,
                    mtime,
                } => match known_archives
                    .next()
                    .flatten()
                    .filter(|_| !self.forced.contains(&location))
                {
                    Some(members) => {
                        totals.saw_known(members as u64);
                        true
                    }
                    None => {
                        let tracker = Arc::new(ArchiveTracker::new(location, size, mtime));
                        self.units.send(Unit::Archive { fs_path, tracker }).is_ok()
                    }
                },
                ScanItem::Skipped { .. } => {
                    totals.skip(1);
                    true
                }
                ScanItem::Error {
                    location,
                    kind,
                    message,
                } => {
                    totals.saw(1);
                    let e = ErrorRecord {
                        location,
                        kind,
                        message,
                        size: None,
                        mtime: None,
                        archive: None,
                    };
                    self.records.send(Record::Error(e)).is_ok()
                }
            };
            if !sent {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A payload on its way to a worker.
pub(super) struct Item {
    location: String,
    size: u64,
    mtime: i64,
    data: Vec<u8>,
    archive: Option<Arc<ArchiveTracker>>,
}

/// Read: plain files whole, archives member by member (decompressed in memory), within the byte budget.
struct Reader {
    units: Receiver<Unit>,
    items: Sender<Item>,
    records: Sender<Record>,
    meter: Meter,
}

impl Reader {
    fn run(self, st: &Stage) -> Result<(), ImportError> {
        for unit in self.units.iter() {
            if !st.control.wait_running() {
                break;
            }
            match unit {
                Unit::File(file) => self.file(st, file),
                Unit::Archive { fs_path, tracker } => self.archive(st, &fs_path, tracker),
            }
        }
        Ok(())
    }

    fn file(&self, st: &Stage, f: FileUnit) {
        let counters = st.metrics.phase(Phase::Read);
        let t = Instant::now();
        let ev = source::read_file(&f.location, &f.fs_path, &st.opts.limits, &self.meter);
        let busy = t.elapsed();
        match ev {
            ReadEvent::Member(mem) => {
                counters.add(1, mem.data.len() as u64, busy);
                st.budget.acquire(mem.data.len() as u64, &st.control);
                let item = Item {
                    location: mem.location,
                    size: mem.size,
                    mtime: f.mtime,
                    data: mem.data,
                    archive: None,
                };
                let _ = self.items.send(item);
            }
            ReadEvent::Skipped { .. } => {
                counters.add_busy(busy);
                st.metrics.totals.skip(1);
            }
            ReadEvent::Error {
                location,
                kind,
                message,
            } => {
                counters.add_busy(busy);
                // An unreadable file may be readable next time; anything else fails the same way again.
                let known = kind.is_permanent();
                let e = ErrorRecord {
                    location,
                    kind,
                    message,
                    size: known.then_some(f.size),
                    mtime: known.then_some(f.mtime),
                    archive: None,
                };
                let _ = self.records.send(Record::Error(e));
            }
        }
    }

    fn archive(&self, st: &Stage, fs_path: &std::path::Path, tracker: Arc<ArchiveTracker>) {
        let mut t = Instant::now();
        let mut stopped = false;
        // One archive, one row per path, counted once: the first kind reported for a path is the precise one
        // (a later one follows from it, e.g. the rest of a damaged archive).
        let mut failed_paths: HashSet<String> = HashSet::new();
        let stats = source::read_archive_metered(&tracker.location, fs_path, &st.opts.limits, &self.meter, &mut |ev| {
            if let ReadEvent::Error {
                location,
                kind,
                message,
            } = &ev
                && !failed_paths.insert(location.clone())
            {
                st.log.line(&format!(
                    "also at {location}: {} ({message}); the first problem is kept",
                    kind.code()
                ));
                return true;
            }
            let ok = st.control.wait_running() && self.member(st, ev, &tracker, t.elapsed());
            t = Instant::now();
            stopped |= !ok;
            ok
        });
        st.metrics.totals.add_ignored(&stats.ignored_by_ext);
        st.metrics.phase(Phase::Read).add_busy(t.elapsed());
        if !stopped && !st.control.is_cancelled() {
            tracker.read_complete.store(true, Release);
            let _ = self.records.send(Record::ArchiveRead(tracker));
        }
    }

    /// One event of an archive being read; false when the pipeline stopped taking them.
    fn member(&self, st: &Stage, ev: ReadEvent, tracker: &Arc<ArchiveTracker>, busy: Duration) -> bool {
        let counters = st.metrics.phase(Phase::Read);
        match ev {
            ReadEvent::Member(mem) => {
                counters.add(1, mem.data.len() as u64, busy);
                st.metrics.totals.saw_member(mem.size);
                tracker.members.fetch_add(1, Relaxed);
                st.budget.acquire(mem.data.len() as u64, &st.control);
                let item = Item {
                    location: mem.location,
                    size: mem.size,
                    mtime: mem.mtime,
                    data: mem.data,
                    archive: Some(tracker.clone()),
                };
                self.items.send(item).is_ok()
            }
            ReadEvent::Skipped { .. } => {
                counters.add_busy(busy);
                st.metrics.totals.skip(1);
                true
            }
            ReadEvent::Error {
                location,
                kind,
                message,
            } => {
                counters.add_busy(busy);
                st.metrics.totals.saw(1);
                tracker.members.fetch_add(1, Relaxed);
                let e = ErrorRecord {
                    location,
                    kind,
                    message,
                    size: None,
                    mtime: None,
                    archive: Some(tracker.clone()),
                };
                self.records.send(Record::Error(e)).is_ok()
            }
        }
    }
}

/// Hash + parse: one worker, until the readers are done.
fn hash_parse(st: &Stage, items: Receiver<Item>, records: Sender<Record>) -> Result<(), ImportError> {
    let m = &*st.metrics;
    for item in items.iter() {
        m.phase(Phase::Hash).queued.store(items.len(), Relaxed);
        m.phase(Phase::Parse).queued.store(items.len(), Relaxed);
        let n = item.data.len() as u64;
        let rec = process(item, m, &st.dedup, st.opts.limit, &st.roots);
        st.budget.release(n);
        m.phase(Phase::Write).queued.store(records.len(), Relaxed);
        if records.send(rec).is_err() {
            break;
        }
    }
    Ok(())
}

/// Hash, dedup, and parse one payload.
fn process(item: Item, m: &RunMetrics, dedup: &Dedup, limit: Limit, roots: &[String]) -> Record {
    let t = Instant::now();
    let hash: [u8; 32] = *blake3::hash(&item.data).as_bytes();
    m.phase(Phase::Hash).add(1, item.data.len() as u64, t.elapsed());
    m.totals.read(item.data.len() as u64);
    let k = key(&hash);
    let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
    let meta = midi::location_meta(&item.location, &roots);
    let location = LocationRecord {
        hash,
        location: item.location,
        size: item.size,
        mtime: item.mtime,
        archive: item.archive,
        meta,
    };
    if limit == Limit::ReadHash {
        return Record::Location(location);
    }
    let first = dedup.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(k);
    if !first {
        if let Some((kind, message)) = dedup.failed.lock().unwrap_or_else(|e| e.into_inner()).get(&k) {
            return Record::Error(ErrorRecord {
                location: location.location,
                kind: *kind,
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
                path: midi::path_meta_in(&location.location, &roots),
                midi: meta,
            };
            Record::Content(Box::new(content), location)
        }
        Err(e) => {
            let (kind, message) = (ErrorKind::Midi(e.kind), e.message.clone());
            dedup
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(k, (kind, message.clone()));
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

/// Progress lines in the run log, every two seconds until `stop` closes (and one more then).
fn progress_log(st: &Stage, stop: &Receiver<()>) -> Result<(), ImportError> {
    let m = &*st.metrics;
    let mut prev = m.snapshot();
    let mut stopped = false;
    while !stopped {
        stopped = !matches!(
            stop.recv_timeout(Duration::from_secs(2)),
            Err(RecvTimeoutError::Timeout)
        );
        let now = m.snapshot();
        let dt = (now.elapsed - prev.elapsed).as_secs_f64().max(1e-9);
        // The run's figures (one definition: metrics::Figures), then the last two seconds' rate, named as such.
        let f = crate::metrics::Figures::of(&now);
        st.log.line(&format!(
            "progress: {} files/s, {:.1} MB/s over {:.1} s (last {dt:.0} s: {} files/s); seen {} imported {} \
             duplicates {} skipped {} failed {}",
            crate::human::count_f(f.files_per_s),
            f.mb_per_s,
            f.seconds,
            crate::human::count_f(now.counts.done().saturating_sub(prev.counts.done()) as f64 / dt),
            crate::human::count(now.counts.seen),
            crate::human::count(now.counts.imported),
            crate::human::count(now.counts.duplicates),
            crate::human::count(now.counts.skipped),
            crate::human::count(now.counts.failed)
        ));
        prev = now;
    }
    Ok(())
}
