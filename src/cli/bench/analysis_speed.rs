//! The analysis's speed for the bench: against its limit (a plain midly parse of the same in-memory bytes) and with
//! and without the musical fingerprints, one thread's CPU time. The files are read here, never in the engine's `midi/`.

use crate::engine::midi::{AnalyzeOptions, analyze, analyze_with_options};

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

/// What the fingerprints add to the analysis of some files: one pass over them without and with the fingerprints,
/// in interleaved pairs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FingerprintCost {
    pub files: usize,
    /// Pairs of passes (one without, one with the fingerprints).
    pub rounds: usize,
    /// Median seconds of a pass of the analysis alone (the parse phase).
    pub parse_seconds: f64,
    /// Median seconds of a pass with the fingerprints.
    pub parse_with_fingerprint_seconds: f64,
    /// Median over the pairs of `with / without - 1`: 0.03 is 3% more than the analysis alone. The ratio is taken
    /// within each pair, whose two passes ran back to back, so that a load change between pairs cancels out.
    pub overhead: f64,
    /// The lowest and highest of the pairs' ratios: how far one pair can be trusted on this machine.
    pub overhead_range: (f64, f64),
}

/// Measure [`FingerprintCost`] on `payloads` (one thread, its CPU time, `rounds` pairs of passes, which of the two
/// goes first alternating so that both see the same machine state).
pub fn measure_cost(payloads: &[Vec<u8>], rounds: usize) -> FingerprintCost {
    let rounds = rounds.max(1);
    let pass = |fingerprint: bool| {
        let t = thread_cpu_seconds();
        for p in payloads {
            let _ = std::hint::black_box(analyze_with_options(
                std::hint::black_box(p),
                AnalyzeOptions {
                    fingerprint,
                    features: true,
                },
            ));
        }
        thread_cpu_seconds() - t
    };
    let (mut without, mut with, mut ratios) = interleaved(rounds, pass);
    FingerprintCost {
        files: payloads.len(),
        rounds,
        parse_seconds: median(&mut without),
        parse_with_fingerprint_seconds: median(&mut with),
        overhead: median(&mut ratios),
        overhead_range: (
            ratios.first().copied().unwrap_or(0.0),
            ratios.last().copied().unwrap_or(0.0),
        ),
    }
}

/// The MIDI files (by name) under `dir`, read whole, for [`measure_cost`]: plain files only, archives left out.
pub fn corpus_payloads(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() && crate::engine::source::is_midi_name(&p.to_string_lossy()) => {
                    if let Ok(data) = std::fs::read(&p) {
                        out.push(data);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The median (the mean of the middle two for an even count); 0 for none. Sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `rounds` pairs of passes without and with the measured part (`pass(false)`, `pass(true)`), which of the two goes
/// first alternating so that both see the same machine state, after one warm-up pass each (caches and the thread's
/// scratch buffers): the seconds without, with, and each pair's `with / without - 1`.
fn interleaved(rounds: usize, mut pass: impl FnMut(bool) -> f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
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
    (without, with, ratios)
}

/// CPU time of the calling thread: on a shared machine, wall time would count other processes' turns.
pub fn thread_cpu_seconds() -> f64 {
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
    let (mut without, mut with, mut ratios) = interleaved(rounds, pass);
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
