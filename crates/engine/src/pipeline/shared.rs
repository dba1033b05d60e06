//! A run shared by several importers: the walk records units, a claimer feeds claimed units to the stages, a
//! lease keeps them, and passes repeat until every unit of the run is written by someone.
//!
//! A unit is marked done only after the pass that claimed it has committed its last batch; until then its lease
//! is renewed. An importer killed mid-pass leaves its units to expire, and whoever claims them again reads them
//! through the resume filter, which skips what the dead importer had already committed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::sink::{BatchSink, PgLookup, live, until_cancelled};
use super::stage::Stage;
use super::stages::{self, Claims, Feed, Outcome};
use super::{ImportError, RunStatus};
use crate::database::DbError;
use crate::database::liveness::Watchdog;
use crate::database::shared::{self as db, Membership};
use crate::kinds::ErrorKind;
use crate::metrics::Phase;
use crate::source::{self, ScanItem};

/// How long a best-effort call of a failed run may wait (the server may be gone).
const QUICK: Duration = Duration::from_secs(1);

/// The shared run an import takes part in.
#[derive(Debug, Clone, Copy)]
pub struct SharedRun {
    pub membership: Membership,
    /// How long a claim holds without renewal; it is renewed every third of that.
    pub lease: Duration,
    /// Plain files per unit (an archive is always a unit of its own).
    pub unit_files: usize,
}

impl SharedRun {
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
    pub const DEFAULT_UNIT_FILES: usize = 128;

    fn lease_ms(&self) -> i64 {
        self.lease.as_millis().max(1) as i64
    }
}

/// One scan item as a unit stores it: kind (`f` file, `a` archive, `s` skipped, `e` error), location, size,
/// mtime, and an error's code and message.
#[derive(Debug, Serialize, Deserialize)]
struct StoredItem {
    k: char,
    l: String,
    #[serde(default)]
    s: u64,
    #[serde(default)]
    m: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<(String, String)>,
}

fn stored(item: ScanItem) -> StoredItem {
    let (k, l, s, m, e) = match item {
        ScanItem::File {
            location, size, mtime, ..
        } => ('f', location, size, mtime, None),
        ScanItem::Archive {
            location, size, mtime, ..
        } => ('a', location, size, mtime, None),
        ScanItem::Skipped { location, .. } => ('s', location, 0, 0, None),
        ScanItem::Error {
            location,
            kind,
            message,
        } => ('e', location, 0, 0, Some((kind.code().to_string(), message))),
    };
    StoredItem { k, l, s, m, e }
}

fn scan_item(it: StoredItem) -> ScanItem {
    let fs_path = || source::location_to_path(&it.l);
    match it.k {
        'f' => ScanItem::File {
            fs_path: fs_path(),
            location: it.l,
            size: it.s,
            mtime: it.m,
        },
        'a' => ScanItem::Archive {
            fs_path: fs_path(),
            location: it.l,
            size: it.s,
            mtime: it.m,
        },
        's' => ScanItem::Skipped {
            location: it.l,
            reason: "skipped",
        },
        _ => {
            let (code, message) = it.e.unwrap_or_default();
            ScanItem::Error {
                location: it.l,
                kind: ErrorKind::from_code(&code).unwrap_or(ErrorKind::Io),
                message,
            }
        }
    }
}

/// Feeds one pass of the stages with the units this importer claims.
pub(super) struct Claimer {
    pool: PgPool,
    rt: tokio::runtime::Handle,
    watchdog: Arc<Watchdog>,
    cfg: SharedRun,
    taken: AtomicU64,
    walk_failed: Arc<AtomicBool>,
    /// This process's walk recorded units (or ended: then the sender is gone): claim again at once, rather than
    /// after a poll's sleep (which a small import paid whole).
    walked: Receiver<()>,
}

impl Claims for Claimer {
    /// Claim units and send their items on, until the walk is over and no unit is left to claim.
    fn feed(&self, st: &Stage, out: Sender<ScanItem>, read_queue: Receiver<stages::Unit>) -> Result<(), ImportError> {
        let m = self.cfg.membership;
        let result = self.feed_loop(st, &out, &read_queue, &m);
        if result.is_err() {
            // Part of the run would go unread here: stop, and let the others take the units over.
            st.control.cancel();
        }
        result
    }
}

impl Claimer {
    fn feed_loop(
        &self,
        st: &Stage,
        out: &Sender<ScanItem>,
        read_queue: &Receiver<stages::Unit>,
        m: &Membership,
    ) -> Result<(), ImportError> {
        loop {
            if !st.control.wait_running() {
                return Ok(());
            }
            // Claim little ahead: what waits in this importer's queues is work no other importer can take.
            if !out.is_empty() || read_queue.len() > self.cfg.unit_files / 2 {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            // A call waiting on a dead server must not hold up the end of a run that already failed.
            let claim = db::claim(&self.pool, m, self.cfg.lease_ms());
            let Some(claimed) = until_cancelled(&self.rt, &st.control, &self.watchdog, claim) else {
                return Ok(());
            };
            match claimed? {
                Some((ordinal, items)) => {
                    self.taken.fetch_add(1, Relaxed);
                    let items: Vec<StoredItem> = serde_json::from_str(&items)
                        .map_err(|e| ImportError::Shared(format!("unit {ordinal} cannot be read: {e}")))?;
                    for it in items {
                        if out.send(scan_item(it)).is_err() {
                            return Ok(());
                        }
                    }
                }
                None => {
                    let Some(p) = until_cancelled(
                        &self.rt,
                        &st.control,
                        &self.watchdog,
                        db::progress(&self.pool, m.run_id),
                    ) else {
                        return Ok(());
                    };
                    let p = p?;
                    if (p.scan_done && p.free_units == 0) || self.walk_failed.load(Relaxed) {
                        return Ok(());
                    }
                    // Units of other importers' walks or leases come without a word: poll for them.
                    if let Err(RecvTimeoutError::Disconnected) = self.walked.recv_timeout(Duration::from_millis(50)) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
    }
}

/// The whole share of one importer: walk and record units (unless another importer already did), then passes of
/// the stages over claimed units until every unit of the run is done. Returns the merged outcome and the number
/// of units this importer claimed.
pub(super) fn run(
    stage: &Arc<Stage>,
    cfg: SharedRun,
    pool: &PgPool,
    rt: &tokio::runtime::Handle,
    sink: &mut dyn BatchSink,
    sources: Vec<PathBuf>,
) -> (Outcome, u64) {
    let m = cfg.membership;
    let wd = stage.opts.watchdog();
    let stop = Arc::new(AtomicBool::new(false));
    let walk_failed = Arc::new(AtomicBool::new(false));
    let renewer = {
        let (stop, pool, rt) = (stop.clone(), pool.clone(), rt.clone());
        std::thread::Builder::new()
            .name("lease".into())
            .spawn(move || renew(&pool, &rt, cfg, &stop))
            .ok()
    };
    let (walked_tx, walked) = bounded::<()>(1);
    let walker = {
        let (st, stop, failed, pool, rt) = (
            stage.clone(),
            stop.clone(),
            walk_failed.clone(),
            pool.clone(),
            rt.clone(),
        );
        std::thread::Builder::new()
            .name("walk".into())
            .spawn(move || {
                let r = walk(&st, cfg, &pool, &rt, &sources, &stop, &walked_tx);
                if r.is_err() {
                    failed.store(true, Release);
                }
                r
            })
            .ok()
    };
    let claimer = Arc::new(Claimer {
        pool: pool.clone(),
        rt: rt.clone(),
        watchdog: wd.clone(),
        cfg,
        taken: AtomicU64::new(0),
        walk_failed: walk_failed.clone(),
        walked,
    });
    let mut total: Option<Outcome> = None;
    loop {
        let lookup = Box::new(PgLookup::new(
            pool.clone(),
            rt.clone(),
            stage.control.clone(),
            wd.clone(),
        ));
        let pass = stages::run(stage, Feed::Claims(claimer.clone()), Arc::default(), sink, lookup);
        let ok = pass.error.is_none() && pass.status == RunStatus::Done;
        let t = merge(total.take(), pass);
        total = Some(t);
        let next = if ok {
            live(rt, &wd, db::units_written(pool, &m))
                .map_err(ImportError::Db)
                .and_then(|_| more_to_claim(stage, pool, rt, m.run_id, &walk_failed))
        } else {
            // Best effort: after a lost server the units expire with the lease anyway.
            let _ = rt.block_on(async { tokio::time::timeout(QUICK, db::release(pool, &m)).await });
            Ok(false)
        };
        match next {
            Ok(true) => continue,
            Ok(false) => break,
            Err(e) => {
                let t = total.as_mut().expect("a pass ran");
                t.status = RunStatus::Failed;
                t.error.get_or_insert(e);
                break;
            }
        }
    }
    stop.store(true, Release);
    let mut total = total.expect("a pass ran");
    if let Some(w) = walker {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                total.status = RunStatus::Failed;
                total.error.get_or_insert(e);
            }
            Err(_) => {
                total.status = RunStatus::Failed;
                total.error.get_or_insert(ImportError::Thread("walk".into()));
            }
        }
    }
    if let Some(r) = renewer {
        let _ = r.join();
    }
    if total.status == RunStatus::Done && stage.control.is_cancelled() {
        total.status = RunStatus::Interrupted;
    }
    (total, claimer.taken.load(Relaxed))
}

/// Two passes' outcomes as one: the first error, the worst status, errors by kind summed.
fn merge(a: Option<Outcome>, b: Outcome) -> Outcome {
    let Some(mut a) = a else { return b };
    if a.error.is_none() {
        a.error = b.error;
    }
    if a.status == RunStatus::Done {
        a.status = b.status;
    }
    for (k, n) in b.errors_by_kind {
        *a.errors_by_kind.entry(k).or_default() += n;
    }
    a.write_seconds = match (a.write_seconds, b.write_seconds) {
        (Some(x), Some(y)) => Some(x + y),
        (x, y) => x.or(y),
    };
    a
}

/// After a pass: wait while other importers hold the run's last units. True when units became claimable again
/// (an importer's lease ran out), false when every unit is written (or this import was cancelled).
fn more_to_claim(
    stage: &Stage,
    pool: &PgPool,
    rt: &tokio::runtime::Handle,
    run_id: i64,
    walk_failed: &AtomicBool,
) -> Result<bool, ImportError> {
    loop {
        if stage.control.is_cancelled() || walk_failed.load(Relaxed) {
            return Ok(false);
        }
        // A killed importer of this machine need not wait out its lease.
        let wd = stage.opts.watchdog();
        let _ = live(rt, &wd, db::reap_dead(pool, None, Some(run_id)));
        let p = live(rt, &wd, db::progress(pool, run_id))?;
        if p.scan_done && p.open_units == 0 {
            return Ok(false);
        }
        if p.free_units > 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Renew this importer's lease and its units' every third of the lease until `stop`.
fn renew(pool: &PgPool, rt: &tokio::runtime::Handle, cfg: SharedRun, stop: &AtomicBool) {
    let every = cfg.lease / 3;
    let mut last = Instant::now();
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(20).min(every));
        if last.elapsed() >= every {
            // The timer is made inside the runtime: this is a plain thread.
            let renewal = async { tokio::time::timeout(every, db::renew(pool, &cfg.membership, cfg.lease_ms())).await };
            match rt.block_on(renewal) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("lease renewal failed: {e}"),
                Err(_) => tracing::warn!("lease renewal timed out"),
            }
            last = Instant::now();
        }
    }
}

/// Units ready to be recorded, and the walk's position.
struct UnitBuilder {
    unit_files: usize,
    files: Vec<StoredItem>,
    ready: Vec<(i32, String)>,
    next: i32,
}

impl UnitBuilder {
    fn close_files(&mut self) {
        if !self.files.is_empty() {
            let items = std::mem::take(&mut self.files);
            self.push(items);
        }
    }

    fn push(&mut self, items: Vec<StoredItem>) {
        let json = serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
        self.ready.push((self.next, json));
        self.next += 1;
    }

    fn add(&mut self, item: ScanItem) {
        if matches!(item, ScanItem::Archive { .. }) {
            self.close_files();
            self.push(vec![stored(item)]);
        } else {
            self.files.push(stored(item));
            if self.files.len() >= self.unit_files {
                self.close_files();
            }
        }
    }
}

/// Walk the sources in their deterministic order and record the units (every importer cuts the same units, so
/// what a faster importer recorded first is skipped); stops early once another importer finished the walk.
fn walk(
    st: &Stage,
    cfg: SharedRun,
    pool: &PgPool,
    rt: &tokio::runtime::Handle,
    sources: &[PathBuf],
    stop: &AtomicBool,
    walked: &Sender<()>,
) -> Result<(), ImportError> {
    let run_id = cfg.membership.run_id;
    let (m, c) = (&*st.metrics, &*st.control);
    let wd = st.opts.watchdog();
    let counters = m.phase(Phase::Scan);
    if live(rt, &wd, db::progress(pool, run_id))?.scan_done {
        m.totals.scan_done.store(true, Release);
        return Ok(());
    }
    let mut units = UnitBuilder {
        unit_files: cfg.unit_files.max(1),
        files: Vec::new(),
        ready: Vec::new(),
        next: 0,
    };
    let error: Mutex<Option<DbError>> = Mutex::new(None);
    let (mut last_flush, mut last_check) = (Instant::now(), Instant::now());
    let mut others_done = false;
    let mut t = Instant::now();
    let stats = source::scan_counted(sources, &mut |item| {
        if stop.load(Relaxed) || !c.wait_running() {
            return false;
        }
        counters.items.fetch_add(1, Relaxed);
        if let ScanItem::File { size, .. } | ScanItem::Archive { size, .. } = &item {
            m.totals.found(*size);
            counters.bytes.fetch_add(*size, Relaxed);
        }
        units.add(item);
        counters.add_busy(t.elapsed());
        // Record often at first (the other importers wait for units), then in chunks.
        if units.ready.len() >= 64 || (!units.ready.is_empty() && last_flush.elapsed() >= Duration::from_millis(50)) {
            match until_cancelled(rt, c, &wd, db::add_units(pool, run_id, &units.ready)) {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    *error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    return false;
                }
                None => return false,
            }
            units.ready.clear();
            let _ = walked.try_send(());
            last_flush = Instant::now();
        }
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if until_cancelled(rt, c, &wd, db::progress(pool, run_id)).is_some_and(|p| p.is_ok_and(|p| p.scan_done)) {
                others_done = true;
                return false;
            }
        }
        t = Instant::now();
        true
    });
    if let Some(e) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        c.cancel();
        return Err(ImportError::Db(e));
    }
    m.totals.add_ignored(&stats.ignored_by_ext);
    m.totals.scan_done.store(true, Release);
    if others_done || stats.cancelled || c.is_cancelled() {
        return Ok(());
    }
    units.close_files();
    live(rt, &wd, db::add_units(pool, run_id, &units.ready))?;
    live(rt, &wd, db::scan_finished(pool, run_id, units.next))?;
    let _ = walked.try_send(());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_items_come_back_as_scanned() {
        let items = vec![
            ScanItem::File {
                location: "/a/b%25c.mid".into(),
                fs_path: PathBuf::from("/a/b%c.mid"),
                size: 12,
                mtime: 34,
            },
            ScanItem::Archive {
                location: "/a/p.zip".into(),
                fs_path: PathBuf::from("/a/p.zip"),
                size: 5,
                mtime: 6,
            },
            ScanItem::Error {
                location: "/a/locked".into(),
                kind: ErrorKind::Io,
                message: "permission denied".into(),
            },
        ];
        let json = serde_json::to_string(&items.iter().cloned().map(stored).collect::<Vec<_>>()).unwrap();
        let back: Vec<StoredItem> = serde_json::from_str(&json).unwrap();
        let back: Vec<ScanItem> = back.into_iter().map(scan_item).collect();
        assert_eq!(back, items);
    }

    #[test]
    fn archives_are_units_of_their_own_and_files_are_cut_by_count() {
        let mut b = UnitBuilder {
            unit_files: 2,
            files: Vec::new(),
            ready: Vec::new(),
            next: 0,
        };
        let file = |n: &str| ScanItem::File {
            location: n.into(),
            fs_path: n.into(),
            size: 1,
            mtime: 1,
        };
        b.add(file("/1.mid"));
        b.add(ScanItem::Archive {
            location: "/z.zip".into(),
            fs_path: "/z.zip".into(),
            size: 1,
            mtime: 1,
        });
        for n in ["/2.mid", "/3.mid", "/4.mid"] {
            b.add(file(n));
        }
        b.close_files();
        let sizes: Vec<usize> = b
            .ready
            .iter()
            .map(|(_, j)| serde_json::from_str::<Vec<StoredItem>>(j).unwrap().len())
            .collect();
        assert_eq!(sizes, vec![1, 1, 2, 1]);
        assert_eq!(b.ready.iter().map(|u| u.0).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    }
}
