//! Live counters of an import: per phase (items, bytes, busy time, queue fill) and run totals, lock-free.
//!
//! Workers add to atomics; front ends take a `Snapshot` on their sampling tick and turn differences between two
//! snapshots into rates and busy shares. Nothing here allocates per file.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The phases of the pipeline, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scan,
    Read,
    Hash,
    Parse,
    Write,
    Index,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Scan,
        Phase::Read,
        Phase::Hash,
        Phase::Parse,
        Phase::Write,
        Phase::Index,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Phase::Scan => "scan",
            Phase::Read => "read/extract",
            Phase::Hash => "hash",
            Phase::Parse => "parse",
            Phase::Write => "write",
            Phase::Index => "index rebuild",
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// Counters of one phase.
#[derive(Debug, Default)]
pub struct PhaseCounters {
    pub items: AtomicU64,
    pub bytes: AtomicU64,
    pub busy_ns: AtomicU64,
    /// Threads working in this phase (busy share = busy time / (wall time x threads)).
    pub threads: AtomicUsize,
    /// Items waiting in the queue in front of this phase, and its capacity.
    pub queued: AtomicUsize,
    pub capacity: AtomicUsize,
}

impl PhaseCounters {
    pub fn add(&self, items: u64, bytes: u64, busy: Duration) {
        self.items.fetch_add(items, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.busy_ns.fetch_add(busy.as_nanos() as u64, Relaxed);
    }

    pub fn add_busy(&self, busy: Duration) {
        self.busy_ns.fetch_add(busy.as_nanos() as u64, Relaxed);
    }
}

/// Run totals, as `import_runs` stores them.
#[derive(Debug, Default)]
pub struct Totals {
    /// MIDI files and members found (including those skipped as already imported).
    pub seen: AtomicU64,
    /// New contents (rows added to `files`).
    pub imported: AtomicU64,
    /// New locations of a content already known.
    pub duplicates: AtomicU64,
    /// Already imported (same size and mtime) or macOS metadata entries.
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    /// Bytes of MIDI read (after decompression).
    pub bytes: AtomicU64,
    /// Locations committed to the database (new files + duplicates).
    pub written: AtomicU64,
    /// Files the scan has found so far; with `scan_done`, the denominator of the ETA.
    pub discovered: AtomicU64,
    pub discovered_bytes: AtomicU64,
    /// Archive members seen: where they are most of what is read, the read phase is inflating, not waiting on a
    /// disk (the bottleneck's remedy differs).
    pub members: AtomicU64,
    pub scan_done: AtomicBool,
    /// Files neither MIDI nor a readable archive, by type (`.wav` -> 1204), set when the scan ends.
    pub ignored_by_ext: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Totals {
    /// The ignored files by type, for the run summary.
    pub fn ignored(&self) -> std::collections::BTreeMap<String, u64> {
        self.ignored_by_ext.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Record the scan's tally of ignored files.
    pub fn set_ignored(&self, by_ext: std::collections::BTreeMap<String, u64>) {
        if let Ok(mut m) = self.ignored_by_ext.lock() {
            *m = by_ext;
        }
    }
}

/// Every change to the run totals goes through these, so that a new source of items counts the same way.
impl Totals {
    /// The scan found a file of `bytes` (the denominator of the ETA; `seen` comes when it passes the filter).
    pub fn found(&self, bytes: u64) {
        self.discovered.fetch_add(1, Relaxed);
        self.discovered_bytes.fetch_add(bytes, Relaxed);
    }
    /// `n` items (files, members, unreadable entries) go on through the pipeline.
    pub fn saw(&self, n: u64) {
        self.seen.fetch_add(n, Relaxed);
    }
    /// An archive member of `bytes`, found and seen at once (the scan does not list members).
    pub fn saw_member(&self, bytes: u64) {
        self.found(bytes);
        self.saw(1);
        self.members.fetch_add(1, Relaxed);
    }
    /// `n` items seen and not read: imported unchanged before.
    pub fn saw_known(&self, n: u64) {
        self.saw(n);
        self.skip(n);
    }
    /// `n` entries passed over (macOS metadata and the like).
    pub fn skip(&self, n: u64) {
        self.skipped.fetch_add(n, Relaxed);
    }
    /// Bytes of MIDI read and hashed.
    pub fn read(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Relaxed);
    }
    /// One committed batch: `new_files` new contents among `written` locations, and `failed` error rows.
    pub fn wrote(&self, new_files: u64, written: u64, failed: u64) {
        self.imported.fetch_add(new_files, Relaxed);
        self.duplicates.fetch_add(written.saturating_sub(new_files), Relaxed);
        self.failed.fetch_add(failed, Relaxed);
        self.written.fetch_add(written, Relaxed);
    }
}

/// Everything a front end reads while a run goes on.
#[derive(Debug)]
pub struct RunMetrics {
    pub started: Instant,
    /// Nanoseconds after `started` at which the import itself began: applying a mode's profile comes first (with
    /// level 3, a server restart) and is a step of its own, not the import's time.
    import_from_ns: AtomicU64,
    phases: [PhaseCounters; 6],
    pub totals: Totals,
}

impl Default for RunMetrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            import_from_ns: AtomicU64::new(0),
            phases: Default::default(),
            totals: Totals::default(),
        }
    }
}

impl RunMetrics {
    pub fn phase(&self, p: Phase) -> &PhaseCounters {
        &self.phases[p.idx()]
    }

    /// The import itself begins now: [`Snapshot::import_elapsed`] counts from here.
    pub fn start_import_clock(&self) {
        let at = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.import_from_ns.store(at, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let phases = Phase::ALL.map(|p| {
            let c = self.phase(p);
            PhaseSnapshot {
                phase: p,
                items: c.items.load(Relaxed),
                bytes: c.bytes.load(Relaxed),
                busy_ns: c.busy_ns.load(Relaxed),
                threads: c.threads.load(Relaxed),
                queued: c.queued.load(Relaxed),
                capacity: c.capacity.load(Relaxed),
            }
        });
        let t = &self.totals;
        let elapsed = self.started.elapsed();
        Snapshot {
            elapsed,
            import_elapsed: elapsed.saturating_sub(Duration::from_nanos(self.import_from_ns.load(Relaxed))),
            phases,
            seen: t.seen.load(Relaxed),
            imported: t.imported.load(Relaxed),
            duplicates: t.duplicates.load(Relaxed),
            skipped: t.skipped.load(Relaxed),
            failed: t.failed.load(Relaxed),
            bytes: t.bytes.load(Relaxed),
            written: t.written.load(Relaxed),
            discovered: t.discovered.load(Relaxed),
            discovered_bytes: t.discovered_bytes.load(Relaxed),
            members: t.members.load(Relaxed),
            scan_done: t.scan_done.load(Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseSnapshot {
    pub phase: Phase,
    pub items: u64,
    pub bytes: u64,
    pub busy_ns: u64,
    pub threads: usize,
    pub queued: usize,
    pub capacity: usize,
}

impl PhaseSnapshot {
    pub fn queue_fill(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            (self.queued as f64 / self.capacity as f64).min(1.0)
        }
    }
}

/// A copy of all counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Snapshot {
    /// Since the run was started, its profile steps included.
    pub elapsed: Duration,
    /// Since the import itself began (after the profile steps): what a run's files/s is over.
    pub import_elapsed: Duration,
    pub phases: [PhaseSnapshot; 6],
    pub seen: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    pub written: u64,
    pub discovered: u64,
    pub discovered_bytes: u64,
    pub members: u64,
    pub scan_done: bool,
}

impl Default for Snapshot {
    fn default() -> Self {
        RunMetrics::default().snapshot()
    }
}

impl Snapshot {
    pub fn phase(&self, p: Phase) -> &PhaseSnapshot {
        &self.phases[p.idx()]
    }

    /// Files finished (imported, duplicate, skipped or failed).
    pub fn done(&self) -> u64 {
        self.imported + self.duplicates + self.skipped + self.failed
    }
}

/// Rates and shares between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseRate {
    pub phase: Phase,
    /// Share of the phase's threads' time spent working, 0..=1.
    pub busy: f64,
    pub items_per_s: f64,
    pub bytes_per_s: f64,
    pub queue_fill: f64,
}

pub fn phase_rates(prev: &Snapshot, now: &Snapshot) -> [PhaseRate; 6] {
    let wall = now.elapsed.saturating_sub(prev.elapsed).as_secs_f64().max(1e-9);
    Phase::ALL.map(|p| {
        let (a, b) = (prev.phase(p), now.phase(p));
        let threads = b.threads.max(1) as f64;
        PhaseRate {
            phase: p,
            busy: ((b.busy_ns.saturating_sub(a.busy_ns)) as f64 / 1e9 / (wall * threads)).clamp(0.0, 1.0),
            items_per_s: b.items.saturating_sub(a.items) as f64 / wall,
            bytes_per_s: b.bytes.saturating_sub(a.bytes) as f64 / wall,
            queue_fill: b.queue_fill(),
        }
    })
}

/// Seconds left at the current rate, when the scan has counted everything.
pub fn eta_seconds(now: &Snapshot, files_per_s: f64) -> Option<f64> {
    if !now.scan_done || files_per_s <= 0.0 {
        return None;
    }
    Some(now.discovered.saturating_sub(now.done()) as f64 / files_per_s)
}

/// Times a piece of work into a phase's busy counter when dropped.
pub struct BusyTimer<'a> {
    counters: &'a PhaseCounters,
    start: Instant,
}

impl<'a> BusyTimer<'a> {
    pub fn new(counters: &'a PhaseCounters) -> Self {
        Self {
            counters,
            start: Instant::now(),
        }
    }
}

impl Drop for BusyTimer<'_> {
    fn drop(&mut self) {
        self.counters.add_busy(self.start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_busy_share_from_two_snapshots() {
        let m = RunMetrics::default();
        let a = m.snapshot();
        m.phase(Phase::Parse).threads.store(2, Relaxed);
        m.phase(Phase::Parse).add(100, 1_000_000, Duration::from_millis(500));
        let mut b = m.snapshot();
        b.elapsed = a.elapsed + Duration::from_secs(1);
        let r = phase_rates(&a, &b);
        let parse = r[Phase::Parse as usize];
        assert!((parse.items_per_s - 100.0).abs() < 1e-6);
        assert!((parse.bytes_per_s - 1e6).abs() < 1e-3);
        assert!((parse.busy - 0.25).abs() < 1e-6, "0.5 s busy over 1 s x 2 threads");
    }

    #[test]
    fn the_import_clock_starts_when_the_import_does() {
        let m = RunMetrics::default();
        std::thread::sleep(Duration::from_millis(30));
        let before = m.snapshot();
        assert_eq!(
            before.import_elapsed, before.elapsed,
            "a run without profile steps counts from its start"
        );
        m.start_import_clock();
        let s = m.snapshot();
        assert!(s.elapsed >= Duration::from_millis(30), "{s:?}");
        assert!(
            s.import_elapsed < Duration::from_millis(20),
            "the profile's time is not the import's: {s:?}"
        );
    }

    #[test]
    fn eta_needs_a_finished_scan() {
        let mut s = Snapshot {
            discovered: 1000,
            imported: 400,
            ..Default::default()
        };
        assert_eq!(eta_seconds(&s, 100.0), None);
        s.scan_done = true;
        assert_eq!(eta_seconds(&s, 100.0), Some(6.0));
    }
}
