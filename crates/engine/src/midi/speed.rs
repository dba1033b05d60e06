//! The analysis's speed against its limit: a plain midly parse of the same in-memory bytes, one thread's CPU time.

use super::analyze::analyze;

/// Medians of interleaved pairs of passes over the same files: the analysis against a plain parse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParseLimit {
    pub files: usize,
    pub bytes: usize,
    pub pairs: usize,
    /// Median seconds of one pass of [`analyze`] (fingerprints included).
    pub analysis_seconds: f64,
    /// Median seconds of one pass of `midly::parse` plus a walk over every event of every track, nothing analysed.
    pub plain_parse_seconds: f64,
}

impl ParseLimit {
    /// The analysis's time over the plain parse's, median of the pairs' ratios: how far the analysis is from it.
    pub fn analysis_over_parse(&self) -> f64 {
        if self.plain_parse_seconds > 0.0 {
            self.analysis_seconds / self.plain_parse_seconds
        } else {
            0.0
        }
    }
}

/// A plain parse of one file: midly's lenient parse, every event of every track visited, nothing kept.
/// Returns the number of events, so that the walk cannot be optimised away.
pub fn plain_parse(data: &[u8]) -> u64 {
    let Ok((_, tracks)) = midly::parse(data) else {
        return 0;
    };
    let mut events = 0u64;
    for track in tracks.flatten() {
        for ev in track.flatten() {
            events += u64::from(u32::from(ev.delta)) | 1;
        }
    }
    events
}

/// Times [`analyze`] and [`plain_parse`] over `payloads`, `pairs` interleaved pairs after one warming pass each.
pub fn measure_parse_limit(payloads: &[Vec<u8>], pairs: usize) -> ParseLimit {
    let pairs = pairs.max(1);
    let analysis = || {
        let t = thread_cpu_seconds();
        for p in payloads {
            let _ = std::hint::black_box(analyze(std::hint::black_box(p)));
        }
        thread_cpu_seconds() - t
    };
    let plain = || {
        let t = thread_cpu_seconds();
        for p in payloads {
            std::hint::black_box(plain_parse(std::hint::black_box(p)));
        }
        thread_cpu_seconds() - t
    };
    analysis();
    plain();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..pairs {
        if i % 2 == 0 {
            a.push(analysis());
            b.push(plain());
        } else {
            b.push(plain());
            a.push(analysis());
        }
    }
    ParseLimit {
        files: payloads.len(),
        bytes: payloads.iter().map(Vec::len).sum(),
        pairs,
        analysis_seconds: median(&mut a),
        plain_parse_seconds: median(&mut b),
    }
}

/// The median (the mean of the middle two for an even count); 0 for none. Sorts `v`.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// CPU time of the calling thread: on a shared machine, wall time would count other processes' turns.
pub(crate) fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// What the features add to the analysis, measured as [`super::fingerprint::measure_cost`] measures the
/// fingerprints: interleaved pairs of passes over `payloads`, one thread's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct FeatureCost {
    pub files: usize,
    pub rounds: usize,
    /// Median seconds of a pass without the features (fingerprints on, as an import runs).
    pub without_seconds: f64,
    pub with_seconds: f64,
    /// Median over the pairs of `with / without - 1`.
    pub overhead: f64,
}

/// Measure [`FeatureCost`] on `payloads`.
pub fn measure_feature_cost(payloads: &[Vec<u8>], rounds: usize) -> FeatureCost {
    use super::analyze::{AnalyzeOptions, analyze_with_options};
    let rounds = rounds.max(1);
    let pass = |features: bool| {
        let t = thread_cpu_seconds();
        for p in payloads {
            let opts = AnalyzeOptions {
                fingerprint: true,
                features,
            };
            let _ = std::hint::black_box(analyze_with_options(std::hint::black_box(p), opts));
        }
        thread_cpu_seconds() - t
    };
    pass(false);
    pass(true);
    let (mut without, mut with, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        let (a, b) = if i % 2 == 0 {
            let a = pass(false);
            (a, pass(true))
        } else {
            let b = pass(true);
            (pass(false), b)
        };
        without.push(a);
        with.push(b);
        if a > 0.0 {
            ratios.push(b / a - 1.0);
        }
    }
    FeatureCost {
        files: payloads.len(),
        rounds,
        without_seconds: median(&mut without),
        with_seconds: median(&mut with),
        overhead: median(&mut ratios),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_parse_visits_every_event_and_the_limit_is_measured() {
        // One track: a note-on, its note-off 96 ticks later, end of track.
        let mut smf = b"MThd\0\0\0\x06\0\0\0\x01\0\x60MTrk\0\0\0\x0c".to_vec();
        smf.extend_from_slice(&[0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00]);
        // Deltas 0, 96, 0: each event counts its delta with the lowest bit set.
        assert_eq!(plain_parse(&smf), 1 + 97 + 1);
        assert_eq!(plain_parse(b"not midi"), 0);
        let l = measure_parse_limit(&[smf.clone(), smf], 3);
        assert_eq!((l.files, l.bytes, l.pairs), (2, 2 * 34, 3));
        assert!(l.analysis_seconds > 0.0 && l.plain_parse_seconds > 0.0, "{l:?}");
    }
}
