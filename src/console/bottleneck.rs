//! Which phase limits the import now, and what would help: a pure choice from busy shares and queue fills.
use crate::engine::metrics::{Phase, PhaseRate};

/// A phase counts as saturated from this busy share on (its threads work at least half the time).
pub const BUSY_MIN: f64 = 0.5;
/// How much a full queue in front of a phase adds to its score: work waits for it. Small, so that it only breaks
/// near ties: the verdict names the phase whose busy share the panel shows highest (a writer at 100% is not called
/// parse-bound because the parse queue is full).
const QUEUE_WEIGHT: f64 = 0.05;

/// The limiting phase and the remedy shown next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bottleneck {
    pub phase: Phase,
    pub busy: f64,
    pub queue_fill: f64,
    pub remedy: String,
}

/// What the remedy depends on besides the phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Situation {
    /// The speed levels on now: the remedy names the next one that helps.
    pub levels_applied: [bool; 3],
    /// Archive members are most of what was read lately: the readers are inflating, not waiting on a disk.
    pub inflating: bool,
    /// Import files/s of normal, fast and ludicrous on this machine (this library's runs, else the bench's): a
    /// level is offered only where its mode measured faster here.
    pub rates: (f64, f64, f64),
}

impl Situation {
    /// A mode counts as faster when it wins by more than the bench's noise (the same margin `--mode auto` takes).
    const MARGIN: f64 = 1.05;

    fn dropping_indexes_helps(&self) -> bool {
        self.rates.1 > self.rates.0 * Self::MARGIN
    }

    fn ludicrous_helps(&self) -> bool {
        self.rates.2 > self.rates.1.max(self.rates.0) * Self::MARGIN
    }
}

/// The bottleneck among `rates` (from `metrics::phase_rates`, possibly averaged), or `None` when no phase is
/// saturated.
pub fn choose(rates: &[PhaseRate], situation: &Situation) -> Option<Bottleneck> {
    let score = |r: &PhaseRate| r.busy + QUEUE_WEIGHT * r.queue_fill;
    let best = rates
        .iter()
        .filter(|r| r.busy.is_finite() && r.queue_fill.is_finite() && r.busy >= BUSY_MIN)
        // On a tie the downstream phase wins: the phases before it only wait on its queue.
        .max_by(|a, b| {
            score(a)
                .total_cmp(&score(b))
                .then((a.phase as usize).cmp(&(b.phase as usize)))
        })?;
    Some(Bottleneck {
        phase: best.phase,
        busy: best.busy,
        queue_fill: best.queue_fill,
        remedy: remedy(best.phase, situation),
    })
}

/// What helps when `phase` is the bottleneck: only what the source and this machine's measurements say helps.
pub fn remedy(phase: Phase, s: &Situation) -> String {
    let [basic, drop_indexes, ludicrous] = s.levels_applied;
    match phase {
        Phase::Scan => "scan-bound: slow folder walk; use a local SSD".into(),
        Phase::Read if s.inflating => "extract-bound: archives inflating (xz, bzip2)".into(),
        Phase::Read => "read-bound: disk reads (busy or slow disk)".into(),
        Phase::Hash => "hash-bound: more cores".into(),
        Phase::Parse => "parse-bound: more cores".into(),
        Phase::Write if !drop_indexes && s.dropping_indexes_helps() => "write-bound: drop indexes (level 2)".into(),
        Phase::Write if !basic => "write-bound: async commit, bigger WAL (level 1)".into(),
        Phase::Write if !ludicrous && s.ludicrous_helps() => "write-bound: ludicrous (level 3), crash-unsafe".into(),
        // The panel's line is narrow: the bench's row and this library's runs show the figures.
        Phase::Write if !ludicrous => "write-bound: ludicrous measured no faster here".into(),
        Phase::Write => "write-bound: all levels on; a faster disk helps".into(),
        Phase::Index => "index-bound: more cores or maintenance_work_mem".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's rates on the two-core machine: fast helps, ludicrous does not.
    const HERE: (f64, f64, f64) = (6_567.0, 9_503.0, 9_226.0);

    fn at(levels_applied: [bool; 3]) -> Situation {
        Situation {
            levels_applied,
            inflating: false,
            rates: HERE,
        }
    }

    fn rates(busy: [f64; 6], fill: [f64; 6]) -> [PhaseRate; 6] {
        let mut i = 0;
        Phase::ALL.map(|phase| {
            let r = PhaseRate {
                phase,
                busy: busy[i],
                items_per_s: 0.0,
                bytes_per_s: 0.0,
                queue_fill: fill[i],
            };
            i += 1;
            r
        })
    }

    #[test]
    fn idle_pipeline_has_no_bottleneck() {
        assert_eq!(choose(&rates([0.0; 6], [0.0; 6]), &at([false; 3])), None);
        assert_eq!(
            choose(&rates([0.3, 0.2, 0.1, 0.4, 0.45, 0.0], [1.0; 6]), &at([false; 3])),
            None
        );
        assert_eq!(choose(&[], &at([false; 3])), None);
    }

    #[test]
    fn saturated_writer_with_full_queue_is_write_bound() {
        let b = choose(
            &rates([0.05, 0.3, 0.1, 0.5, 0.97, 0.0], [0.0, 0.0, 0.2, 0.2, 1.0, 0.0]),
            &at([false; 3]),
        );
        let b = b.expect("a bottleneck");
        assert_eq!(b.phase, Phase::Write);
        assert_eq!(b.remedy, "write-bound: drop indexes (level 2)");
    }

    #[test]
    fn write_remedy_follows_the_levels_already_on() {
        assert_eq!(
            remedy(Phase::Write, &at([false, true, false])),
            "write-bound: async commit, bigger WAL (level 1)"
        );
        assert!(remedy(Phase::Write, &at([true, true, true])).contains("faster disk"));
        // Ludicrous is offered only where it measured faster than fast.
        let quicker = Situation {
            rates: (6_000.0, 9_000.0, 11_000.0),
            ..at([true, true, false])
        };
        assert!(remedy(Phase::Write, &quicker).contains("level 3"));
    }

    #[test]
    fn a_level_that_measured_no_faster_here_is_not_offered() {
        // The bench here: ludicrous 9,226 files/s against fast's 9,503. A write-bound fast run is not told to try
        // ludicrous, and says why.
        let r = remedy(Phase::Write, &at([true, true, false]));
        assert!(!r.contains("level 3"), "{r}");
        assert!(r.contains("ludicrous measured no faster here"), "{r}");
        // Where dropping indexes measured no faster either, a normal run is not told to drop them.
        let flat = Situation {
            rates: (9_000.0, 9_100.0, 9_200.0),
            ..at([false; 3])
        };
        assert_eq!(
            remedy(Phase::Write, &flat),
            "write-bound: async commit, bigger WAL (level 1)"
        );
    }

    #[test]
    fn slow_reads_of_plain_files_are_the_disk_not_archives() {
        let b = choose(
            &rates([0.1, 0.95, 0.1, 0.2, 0.1, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            &at([false; 3]),
        )
        .expect("a bottleneck");
        assert_eq!(b.phase, Phase::Read);
        assert!(b.remedy.starts_with("read-bound: disk reads"), "{}", b.remedy);
    }

    #[test]
    fn busy_workers_are_parse_bound() {
        let b = choose(
            &rates([0.02, 0.4, 0.2, 0.78, 0.3, 0.0], [0.0, 0.1, 0.9, 0.9, 0.05, 0.0]),
            &at([true; 3]),
        );
        let b = b.expect("a bottleneck");
        assert_eq!(b.phase, Phase::Parse);
        assert_eq!(b.remedy, "parse-bound: more cores");
    }

    #[test]
    fn readers_inflating_archives_are_extract_bound() {
        let inflating = Situation {
            inflating: true,
            ..at([false; 3])
        };
        let b = choose(
            &rates([0.1, 0.95, 0.1, 0.2, 0.1, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            &inflating,
        );
        let b = b.expect("a bottleneck");
        assert_eq!(b.phase, Phase::Read);
        assert_eq!(b.remedy, "extract-bound: archives inflating (xz, bzip2)");
    }

    #[test]
    fn a_full_queue_breaks_near_ties_and_equal_scores_go_downstream() {
        // Parse is slightly busier, but the writer's queue is full: the writer holds the pipeline back.
        let b = choose(
            &rates([0.0, 0.0, 0.0, 0.82, 0.8, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            &at([false; 3]),
        );
        assert_eq!(b.map(|b| b.phase), Some(Phase::Write));
        let b = choose(&rates([0.0, 0.0, 0.0, 0.8, 0.8, 0.0], [0.0; 6]), &at([false; 3]));
        assert_eq!(b.map(|b| b.phase), Some(Phase::Write));
    }

    #[test]
    fn the_verdict_names_the_phase_the_panel_shows_busiest() {
        // The run: the write bar at 100%, parse at 90% with its queue full, was called parse-bound.
        let b = choose(
            &rates([0.0, 0.3, 0.2, 0.9, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]),
            &at([false; 3]),
        );
        assert_eq!(b.map(|b| b.phase), Some(Phase::Write));
    }

    #[test]
    fn nan_shares_are_ignored() {
        assert_eq!(
            choose(&rates([f64::NAN, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0; 6]), &at([false; 3])),
            None
        );
    }
}
