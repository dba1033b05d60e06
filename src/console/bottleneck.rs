//! Which phase limits the import now, and what would help: a pure choice from busy shares and queue fills.
use crate::engine::metrics::{Phase, PhaseRate};

/// A phase counts as saturated from this busy share on (its threads work at least half the time).
pub const BUSY_MIN: f64 = 0.5;
/// How much a full queue in front of a phase adds to its score: work waits for it.
const QUEUE_WEIGHT: f64 = 0.25;

/// The limiting phase and the remedy shown next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bottleneck {
    pub phase: Phase,
    pub busy: f64,
    pub queue_fill: f64,
    pub remedy: String,
}

/// The bottleneck among `rates` (from `metrics::phase_rates`, possibly averaged), or `None` when no phase is
/// saturated. `levels_applied` tells which speed levels are on, so the remedy names the next one that helps.
pub fn choose(rates: &[PhaseRate], levels_applied: [bool; 3]) -> Option<Bottleneck> {
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
        remedy: remedy(best.phase, levels_applied),
    })
}

/// What helps when `phase` is the bottleneck, given the levels already on.
pub fn remedy(phase: Phase, levels_applied: [bool; 3]) -> String {
    let [basic, drop_indexes, ludicrous] = levels_applied;
    match phase {
        Phase::Scan => "scan-bound: slow folder walk; use a local SSD".into(),
        Phase::Read => "extract-bound: xz/bzip2 archives are slow to inflate".into(),
        Phase::Hash => "hash-bound: more cores".into(),
        Phase::Parse => "parse-bound: more cores".into(),
        Phase::Write if !drop_indexes => "write-bound: drop indexes (level 2)".into(),
        Phase::Write if !basic => "write-bound: async commit, bigger WAL (level 1)".into(),
        Phase::Write if !ludicrous => "write-bound: ludicrous (level 3), crash-unsafe".into(),
        Phase::Write => "write-bound: all levels on; a faster disk helps".into(),
        Phase::Index => "index-bound: more cores or maintenance_work_mem".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(choose(&rates([0.0; 6], [0.0; 6]), [false; 3]), None);
        assert_eq!(
            choose(&rates([0.3, 0.2, 0.1, 0.4, 0.45, 0.0], [1.0; 6]), [false; 3]),
            None
        );
        assert_eq!(choose(&[], [false; 3]), None);
    }

    #[test]
    fn saturated_writer_with_full_queue_is_write_bound() {
        let b = choose(
            &rates([0.05, 0.3, 0.1, 0.5, 0.97, 0.0], [0.0, 0.0, 0.2, 0.2, 1.0, 0.0]),
            [false; 3],
        );
        let b = b.expect("a bottleneck");
        assert_eq!(b.phase, Phase::Write);
        assert_eq!(b.remedy, "write-bound: drop indexes (level 2)");
    }

    #[test]
    fn write_remedy_follows_the_levels_already_on() {
        assert_eq!(
            remedy(Phase::Write, [false, true, false]),
            "write-bound: async commit, bigger WAL (level 1)"
        );
        assert!(remedy(Phase::Write, [true, true, false]).contains("level 3"));
        assert!(remedy(Phase::Write, [true, true, true]).contains("faster disk"));
    }

    #[test]
    fn busy_workers_are_parse_bound() {
        let b = choose(
            &rates([0.02, 0.4, 0.2, 0.78, 0.3, 0.0], [0.0, 0.1, 0.9, 0.9, 0.05, 0.0]),
            [true; 3],
        );
        let b = b.expect("a bottleneck");
        assert_eq!(b.phase, Phase::Parse);
        assert_eq!(b.remedy, "parse-bound: more cores");
    }

    #[test]
    fn readers_inflating_archives_are_extract_bound() {
        let b = choose(
            &rates([0.1, 0.95, 0.1, 0.2, 0.1, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            [false; 3],
        );
        let b = b.expect("a bottleneck");
        assert_eq!(b.phase, Phase::Read);
        assert_eq!(b.remedy, "extract-bound: xz/bzip2 archives are slow to inflate");
    }

    #[test]
    fn a_full_queue_breaks_near_ties_and_equal_scores_go_downstream() {
        // Parse is slightly busier, but the writer's queue is full: the writer holds the pipeline back.
        let b = choose(
            &rates([0.0, 0.0, 0.0, 0.82, 0.8, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            [false; 3],
        );
        assert_eq!(b.map(|b| b.phase), Some(Phase::Write));
        let b = choose(&rates([0.0, 0.0, 0.0, 0.8, 0.8, 0.0], [0.0; 6]), [false; 3]);
        assert_eq!(b.map(|b| b.phase), Some(Phase::Write));
    }

    #[test]
    fn nan_shares_are_ignored() {
        assert_eq!(
            choose(&rates([f64::NAN, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0; 6]), [false; 3]),
            None
        );
    }
}
