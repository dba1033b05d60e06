//! Live counters of an import: per phase (items, bytes, busy time, queue fill) and run totals, lock-free.
//!
//! Workers add to atomics; front ends take a `Snapshot` on their sampling tick and turn differences between two
//! snapshots into rates and busy shares. Nothing here allocates per file.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

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
    /// Files and archive members neither MIDI nor a readable archive, by type (`.wav` -> 1204).
    pub ignored_by_ext: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Totals {
    /// The run's counters now.
    pub fn counts(&self) -> Counts {
        Counts {
            seen: self.seen.load(Relaxed),
            imported: self.imported.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            failed: self.failed.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
        }
    }

    /// The ignored files by type, for the run summary.
    pub fn ignored(&self) -> std::collections::BTreeMap<String, u64> {
        self.ignored_by_ext.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Add a tally of ignored files: the scan's, and each archive's members that are neither MIDI nor archives.
    pub fn add_ignored(&self, by_ext: &std::collections::BTreeMap<String, u64>) {
        if let Ok(mut m) = self.ignored_by_ext.lock() {
            for (k, n) in by_ext {
                *m.entry(k.clone()).or_insert(0) += n;
            }
        }
    }
}

/// A run's counters, spelled once: the live [`Snapshot`], the run's summary (`import --json`), the `import_runs`
/// row (its `bigint` columns are converted where the SQL is) and the `--workers` importers' reports all hold this,
/// flattened into their JSON under these keys. See [`Totals`] for what each counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub seen: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
}

impl Counts {
    /// Files finished (imported, duplicate, skipped or failed).
    pub fn done(&self) -> u64 {
        self.imported + self.duplicates + self.skipped + self.failed
    }
}

/// Several importers' counters as one run's (`--workers`).
impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            seen: self.seen.saturating_add(o.seen),
            imported: self.imported.saturating_add(o.imported),
            duplicates: self.duplicates.saturating_add(o.duplicates),
            skipped: self.skipped.saturating_add(o.skipped),
            failed: self.failed.saturating_add(o.failed),
            bytes: self.bytes.saturating_add(o.bytes),
        }
    }
}

impl std::iter::Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        iter.fold(Counts::default(), |a, b| a + b)
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
            counts: t.counts(),
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
    #[serde(flatten)]
    pub counts: Counts,
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

/// The figures of a run, each defined here once: the console's headline and counters, the headless progress line
/// and final line, `import --json`, the run log and `bench` all read them from the same snapshot.
///
/// - `seconds`: since the import itself began (a mode's profile steps are steps of their own, not import time);
/// - `files`: files finished, whatever became of them: imported (new contents), duplicates (new locations of known
///   contents), skipped (imported before unchanged, macOS metadata) and failed;
/// - `files_per_s` = `files / seconds`, `mb_per_s` = MIDI bytes read (after decompression) / `seconds` / 10^6;
/// - `failed`: this run's files that could not be imported, counted when their `import_errors` row is committed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    pub seconds: f64,
    pub files: u64,
    pub files_per_s: f64,
    pub mb_per_s: f64,
    pub failed: u64,
}

impl Figures {
    pub fn of(s: &Snapshot) -> Figures {
        let seconds = s.import_elapsed.as_secs_f64();
        let per_s = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
        Figures {
            seconds,
            files: s.counts.done(),
            files_per_s: per_s(s.counts.done() as f64),
            mb_per_s: per_s(s.counts.bytes as f64) / 1e6,
            failed: s.counts.failed,
        }
    }
}

/// Busy share of each phase over the whole import: its threads' busy time over the import's seconds (what the
/// panel and the verdict show once the run has ended).
pub fn run_phase_rates(now: &Snapshot) -> [PhaseRate; 6] {
    let mut start = Snapshot {
        elapsed: now.elapsed.saturating_sub(now.import_elapsed),
        ..Default::default()
    };
    for (p, n) in start.phases.iter_mut().zip(now.phases.iter()) {
        p.threads = n.threads;
    }
    let mut rates = phase_rates(&start, now);
    for r in rates.iter_mut() {
        r.queue_fill = 0.0;
    }
    rates
}

/// The ETA, smoothed. The rate is an exponentially weighted mean of the samples' rates (time constant
/// [`EtaSmoother::TAU`], so a burst or a stall moves it by a fraction); a paused sample changes nothing. The ETA
/// then follows `remaining / rate`, but between two samples `dt` apart it may fall by no more than `dt` plus the
/// share of the last ETA that the work just finished stood for (`eta x finished / remaining before`), and rise by
/// no more than `dt`: it never drops faster than the clock and the finished work allow (a fast stretch brings it
/// down in proportion, never from a minute to seconds at once), nor jumps up when the rate dips.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EtaSmoother {
    rate: Option<f64>,
    eta: Option<f64>,
    remaining: u64,
}

impl EtaSmoother {
    /// Seconds of the rate's exponential weighting.
    pub const TAU: f64 = 10.0;

    /// Take a sample `dt` seconds after the last: `finished` files done in it, `remaining` left (`None` while the
    /// scan is still counting), `paused` when the run was paused. Returns the ETA in seconds.
    pub fn sample(&mut self, dt: f64, finished: u64, remaining: Option<u64>, paused: bool) -> Option<f64> {
        if dt <= 0.0 || paused {
            return self.eta;
        }
        let now_rate = finished as f64 / dt;
        let alpha = 1.0 - (-dt / Self::TAU).exp();
        let rate = match self.rate {
            None if finished == 0 => return self.eta,
            None => now_rate,
            Some(r) => r + alpha * (now_rate - r),
        };
        self.rate = Some(rate);
        let Some(remaining) = remaining else {
            self.eta = None;
            return None;
        };
        if remaining == 0 {
            self.eta = Some(0.0);
            return self.eta;
        }
        if rate <= 0.0 {
            return self.eta;
        }
        let target = remaining as f64 / rate;
        let eta = match self.eta {
            Some(prev) if self.remaining > 0 => {
                let share = (remaining as f64 / self.remaining as f64).min(1.0);
                target.clamp((prev * share - dt).max(0.0), prev + dt)
            }
            _ => target,
        };
        self.remaining = remaining;
        self.eta = Some(eta);
        self.eta
    }

    pub fn eta(&self) -> Option<f64> {
        self.eta
    }
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

    /// ETAs of a series of (seconds, files finished, paused) samples over `total` files, the scan done.
    fn etas(total: u64, series: &[(f64, u64, bool)]) -> Vec<f64> {
        let mut e = EtaSmoother::default();
        let mut done = 0;
        series
            .iter()
            .map(|&(dt, n, paused)| {
                done += n;
                e.sample(dt, n, Some(total - done), paused).unwrap_or(f64::NAN)
            })
            .collect()
    }

    #[test]
    fn a_steady_run_counts_down_with_the_clock() {
        let v = etas(1000, &[(1.0, 10, false); 50]);
        for w in v.windows(2) {
            assert!((w[0] - w[1] - 1.0).abs() < 1e-9, "{w:?}");
        }
        assert!((v[49] - 50.0).abs() < 1e-9, "{}", v[49]);
    }

    #[test]
    fn a_pause_freezes_the_eta_and_the_run_goes_on_where_it_was() {
        let mut series = vec![(1.0, 10, false); 20];
        series.extend([(1.0, 0, true); 60]);
        series.extend([(1.0, 10, false); 5]);
        let v = etas(1000, &series);
        let before = v[19];
        assert!(v[20..80].iter().all(|&e| e == before), "paused: {:?}", &v[20..80]);
        // Three seconds after the pause it says about three seconds less, not 2:31.
        assert!((before - v[82] - 3.0).abs() < 1e-6, "{before} -> {}", v[82]);
    }

    #[test]
    fn a_bursty_run_never_jumps() {
        // Bursts of 40 files every fourth second, nothing in between (a writer committing big batches).
        let series: Vec<(f64, u64, bool)> = (0..60).map(|i| (1.0, if i % 4 == 3 { 40 } else { 0 }, false)).collect();
        let v = etas(700, &series);
        let mut prev: Option<f64> = None;
        for (i, &e) in v.iter().enumerate() {
            if let (Some(p), false) = (prev, e.is_nan()) {
                let finished = series[i].1 as f64;
                assert!(e <= p + 1.0 + 1e-9, "second {i}: up {p} -> {e}");
                // Down by at most the second passed and the burst's worth at the smoothed rate (never to 0 at once).
                assert!(e >= p - 1.0 - finished / 5.0 - 1e-9, "second {i}: down {p} -> {e}");
            }
            if !e.is_nan() {
                prev = Some(e);
            }
        }
        // A sudden fast stretch (1 then 100 files/s) glides down instead of dropping from a minute to seconds.
        let mut series = vec![(1.0, 1, false); 30];
        series.extend([(1.0, 100, false); 3]);
        let v = etas(3000, &series);
        assert!(v[30] > v[29] * 0.5, "{} -> {}", v[29], v[30]);
    }

    #[test]
    fn the_figures_share_one_definition() {
        let mut s = Snapshot {
            counts: Counts {
                imported: 60,
                duplicates: 30,
                skipped: 5,
                failed: 5,
                seen: 95,
                bytes: 4_000_000,
            },
            ..Default::default()
        };
        s.import_elapsed = Duration::from_secs(2);
        s.elapsed = Duration::from_secs(5);
        let f = Figures::of(&s);
        assert_eq!((f.files, f.failed), (100, 5));
        assert!(
            (f.files_per_s - 50.0).abs() < 1e-9 && (f.mb_per_s - 2.0).abs() < 1e-9,
            "{f:?}"
        );
        s.phases[Phase::Write as usize].busy_ns = 1_000_000_000;
        s.phases[Phase::Write as usize].threads = 1;
        let r = run_phase_rates(&s);
        assert!((r[Phase::Write as usize].busy - 0.5).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn eta_needs_a_finished_scan() {
        let mut e = EtaSmoother::default();
        assert_eq!(e.sample(1.0, 100, None, false), None, "the scan is still counting");
        assert_eq!(e.sample(1.0, 100, Some(600), false), Some(6.0));
    }
}
