//! `--mode auto`: each mode's wall time for this import estimated from the library's size, the source's size and
//! rates measured on this machine, and the fastest mode whose risks were accepted chosen, with the reason.
use serde::Serialize;

use super::Mode;
use crate::human;

/// Files seen per second of the import phase in each mode, and where the figures come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    pub normal: f64,
    pub fast: f64,
    pub ludicrous: f64,
    /// "bench defaults" or "this library's runs (normal 3, fast 1)": said in the reason.
    pub source: String,
    /// Per mode (normal, fast, ludicrous): the bench's rate, measured importing 100,000 files into an empty
    /// library, so scaled by [`size_factor`] for the library this import grows; a library's own recent runs were
    /// measured at about its size already.
    pub from_bench: [bool; 3],
}

/// The bench's rates were measured while its library grew from 0 to 100,000 files: 50,000 on average.
const BENCH_MEAN_LIBRARY: f64 = 50_000.0;
/// How much slower each file imports per tenfold library (index pages and the table no longer in memory, more
/// full-page writes per checkpoint): fitted to the bench's 1,000,000-file first imports (per-file cost 1.5-1.7x the
/// 100,000-file import's) and its 100,000-file append to 1,000,000 (1.4x).
const SIZE_SLOPE: f64 = 0.45;

/// Per-file cost of an import whose library holds `mean_library` files on average, against the bench's.
pub fn size_factor(mean_library: f64) -> f64 {
    1.0 + SIZE_SLOPE * (mean_library.max(BENCH_MEAN_LIBRARY) / BENCH_MEAN_LIBRARY).log10()
}

/// Fixed and per-row costs around a fast or ludicrous run: apply the profile, restore safety (with the server
/// restart level 3 needs), and rebuild every secondary index over the whole library afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Overheads {
    pub fast_fixed_secs: f64,
    pub ludicrous_fixed_secs: f64,
    /// Rebuild (and, for ludicrous, SET LOGGED) seconds per million rows of the library after the import.
    pub fast_per_million_rows_secs: f64,
    pub ludicrous_per_million_rows_secs: f64,
    /// A backup of the library before level 3 (`--backup`): seconds per million files already in the library.
    pub ludicrous_backup_per_million_files_secs: f64,
}

/// Seconds per million library files of the backup `--backup` takes before ludicrous, measured by `bench --backup`
/// on this machine (BENCHMARKS.md, section `backup`: 1.7 s at 103,701 files, 21.5 s at 1,002,443, pg_dump's
/// directory format, no compression, 2 jobs; its custom format with gzip took 7.2 s and 208 s).
pub const BACKUP_SECONDS_PER_MILLION_FILES: f64 = 22.0;

impl Overheads {
    /// The same, with the backup `--backup` takes before ludicrous counted.
    pub fn with_backup(self) -> Self {
        Self {
            ludicrous_backup_per_million_files_secs: BACKUP_SECONDS_PER_MILLION_FILES,
            ..self
        }
    }
}

/// Measured by `bench` on this 2-core machine with 49 indexes (BENCHMARKS.md, 100,000 generated files into an empty
/// library, medians of 3): normal 6,567, fast 9,503, ludicrous 9,226 files/s.
pub const DEFAULT_RATES: (f64, f64, f64) = (6_567.0, 9_503.0, 9_226.0);
/// Restore + rebuild measured 3.6 s / 4.1 s at 100,000 files, 43.6-46.6 s / 36.2-47.8 s at 1,000,000 (`bench
/// --scale`) and 30.6 s / 38.0 s after appending 100,000 to 1,000,000 (`bench --append`): the per-row figures are
/// set between, within about 25% of each.
pub const DEFAULT_OVERHEADS: Overheads = Overheads {
    fast_fixed_secs: 0.85,
    ludicrous_fixed_secs: 0.7,
    fast_per_million_rows_secs: 34.0,
    ludicrous_per_million_rows_secs: 38.0,
    ludicrous_backup_per_million_files_secs: 0.0,
};

impl Rates {
    /// The bench's figures, replaced mode by mode by the median of this library's own finished runs.
    pub fn from_runs(measured: [Option<(f64, usize)>; 3]) -> Self {
        let (n, f, l) = DEFAULT_RATES;
        let mut said = Vec::new();
        let mut pick = |m: Option<(f64, usize)>, default: f64, name: &str| match m {
            Some((rate, runs)) if rate > 0.0 => {
                said.push(format!("{name} {runs}"));
                rate
            }
            _ => default,
        };
        let normal = pick(measured[0], n, "normal");
        let fast = pick(measured[1], f, "fast");
        let ludicrous = pick(measured[2], l, "ludicrous");
        let from_bench = measured.map(|m| !m.is_some_and(|(rate, _)| rate > 0.0));
        let source = if said.is_empty() {
            "the bench's rates for this machine".into()
        } else {
            format!(
                "this library's own runs ({}) and the bench's rates otherwise",
                said.join(", ")
            )
        };
        Self {
            normal,
            fast,
            ludicrous,
            source,
            from_bench,
        }
    }

    fn of(&self, mode: Mode) -> f64 {
        match mode {
            Mode::Normal => self.normal,
            Mode::Fast => self.fast,
            Mode::Ludicrous => self.ludicrous,
        }
        .max(1.0)
    }
}

/// One mode's estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub mode: Mode,
    pub import_secs: f64,
    /// Applying, restoring and rebuilding: zero for normal.
    pub after_secs: f64,
    pub total_secs: f64,
    pub allowed: bool,
}

/// Wall seconds of importing `files` into a library of `library_files` in `mode`.
pub fn estimate(mode: Mode, library_files: u64, files: u64, rates: &Rates, o: &Overheads) -> Estimate {
    let i = Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0);
    let factor = if rates.from_bench[i] {
        size_factor(library_files as f64 + files as f64 / 2.0)
    } else {
        1.0
    };
    let import_secs = files as f64 / rates.of(mode) * factor;
    let rows_after = (library_files + files) as f64 / 1e6;
    let after_secs = match mode {
        Mode::Normal => 0.0,
        Mode::Fast => o.fast_fixed_secs + rows_after * o.fast_per_million_rows_secs,
        Mode::Ludicrous => {
            o.ludicrous_fixed_secs
                + rows_after * o.ludicrous_per_million_rows_secs
                + library_files as f64 / 1e6 * o.ludicrous_backup_per_million_files_secs
        }
    };
    Estimate {
        mode,
        import_secs,
        after_secs,
        total_secs: import_secs + after_secs,
        allowed: true,
    }
}

/// The choice and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoChoice {
    pub mode: Mode,
    pub reason: String,
    pub estimates: Vec<Estimate>,
}

/// The fastest mode among those allowed (ludicrous only when its risks were accepted). A mode must win by more
/// than 5% to be taken over a safer one: the estimates are not finer than that.
pub fn choose(library_files: u64, files: u64, rates: &Rates, o: &Overheads, ludicrous_accepted: bool) -> AutoChoice {
    let estimates: Vec<Estimate> = Mode::ALL
        .iter()
        .map(|&m| Estimate {
            allowed: m != Mode::Ludicrous || ludicrous_accepted,
            ..estimate(m, library_files, files, rates, o)
        })
        .collect();
    let mut best = estimates[0];
    for e in estimates.iter().skip(1).filter(|e| e.allowed) {
        if e.total_secs < best.total_secs * 0.95 {
            best = *e;
        }
    }
    let list: Vec<String> = estimates
        .iter()
        .map(|e| {
            let mut s = format!("{} {:.1} s", e.mode.label(), e.total_secs);
            if e.after_secs > 0.0 {
                s.push_str(&format!(
                    " ({:.1} import + {:.1} restore and rebuild)",
                    e.import_secs, e.after_secs
                ));
            }
            if !e.allowed {
                s.push_str(" [not accepted: needs --yes]");
            }
            s
        })
        .collect();
    let reason = format!(
        "{} is the fastest accepted for about {} into a library of {}: {}; rates from {}",
        best.mode.label(),
        human::counted(files, "file"),
        human::counted(library_files, "file"),
        list.join(", "),
        rates.source
    );
    AutoChoice {
        mode: best.mode,
        reason,
        estimates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench() -> Rates {
        Rates::from_runs([None, None, None])
    }

    #[test]
    fn an_empty_library_and_a_big_import_take_fast() {
        let c = choose(0, 1_000_000, &bench(), &DEFAULT_OVERHEADS, true);
        assert_eq!(c.mode, Mode::Fast, "{}", c.reason);
        // `bench --scale 1000000` here: normal 252.4 s cold, fast 219.2 / 204.2 s, ludicrous 237.5 / 180.0 s.
        let secs: Vec<f64> = c.estimates.iter().map(|e| e.total_secs).collect();
        for (est, measured) in secs.iter().zip([252.4, 204.2, 180.0]) {
            assert!((est / measured - 1.0).abs() < 0.3, "{secs:?}");
        }
    }

    #[test]
    fn the_bench_rates_slow_down_as_the_library_grows() {
        assert_eq!(size_factor(0.0), 1.0);
        assert_eq!(size_factor(50_000.0), 1.0);
        assert!((size_factor(500_000.0) - 1.45).abs() < 1e-9);
        // `bench --append 1000000,100000` here: normal took 21.2 s, fast 42.0 s, ludicrous 57.7 s; the bench's
        // 100,000-file rate alone says 15.2 s for normal.
        for (mode, measured) in [(Mode::Normal, 21.2), (Mode::Ludicrous, 57.7)] {
            let e = estimate(mode, 1_002_443, 100_000, &bench(), &DEFAULT_OVERHEADS);
            assert!((e.total_secs / measured - 1.0).abs() < 0.3, "{e:?}");
        }
        // A library's own runs were measured at its size: not scaled again.
        let own = Rates::from_runs([Some((3_600.0, 2)), None, None]);
        let e = estimate(Mode::Normal, 1_002_443, 100_000, &own, &DEFAULT_OVERHEADS);
        assert!((e.import_secs - 100_000.0 / 3_600.0).abs() < 1e-9);
    }

    #[test]
    fn appending_to_a_big_library_keeps_normal() {
        // 50,000 files into 4 million: rebuilding 49 indexes over 4 million rows costs minutes, the import seconds.
        let c = choose(4_000_000, 50_000, &bench(), &DEFAULT_OVERHEADS, true);
        assert_eq!(c.mode, Mode::Normal, "{}", c.reason);
        assert!(c.reason.contains("into a library of 4,000,000 files"), "{}", c.reason);
        assert!(c.estimates[1].after_secs > 100.0);
    }

    #[test]
    fn ludicrous_is_chosen_only_when_its_risks_were_accepted() {
        let rates = Rates {
            ludicrous: 30_000.0,
            ..bench()
        };
        let c = choose(0, 1_000_000, &rates, &DEFAULT_OVERHEADS, true);
        assert_eq!(c.mode, Mode::Ludicrous, "{}", c.reason);
        let c = choose(0, 1_000_000, &rates, &DEFAULT_OVERHEADS, false);
        assert_eq!(c.mode, Mode::Fast, "{}", c.reason);
        assert!(c.reason.contains("[not accepted: needs --yes]"), "{}", c.reason);
    }

    #[test]
    fn a_small_import_stays_normal() {
        let c = choose(0, 2_000, &bench(), &DEFAULT_OVERHEADS, true);
        assert_eq!(c.mode, Mode::Normal, "{}", c.reason);
    }

    #[test]
    fn a_near_tie_keeps_the_safer_mode() {
        let rates = Rates {
            normal: 10_000.0,
            fast: 10_000.0,
            ludicrous: 10_000.0,
            source: "test".into(),
            from_bench: [false; 3],
        };
        let zero = Overheads {
            fast_fixed_secs: 0.0,
            ludicrous_fixed_secs: 0.0,
            fast_per_million_rows_secs: 0.0,
            ludicrous_per_million_rows_secs: 0.0,
            ludicrous_backup_per_million_files_secs: 0.0,
        };
        assert_eq!(choose(0, 100_000, &rates, &zero, true).mode, Mode::Normal);
    }

    #[test]
    fn measured_runs_replace_the_bench_rates_and_are_named() {
        let r = Rates::from_runs([Some((5_000.0, 3)), None, Some((0.0, 1))]);
        assert_eq!((r.normal, r.fast, r.ludicrous), (5_000.0, 9_503.0, 9_226.0));
        assert_eq!(r.from_bench, [false, true, true]);
        assert!(r.source.contains("normal 3"), "{}", r.source);
        assert!(!r.source.contains("ludicrous 1"), "{}", r.source);
    }
}
