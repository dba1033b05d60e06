//! Similarity features: a short vector of a file's musical character (harmony, melody, rhythm, drums, register,
//! density, instrumentation, tempo), gathered by the analysis from the notes it already walks, so that files that
//! sound alike lie close together (Euclidean distance; `like:` ranks by it).
//!
//! # What the vector holds ([`DIMS`] numbers, version [`FEATURE_VERSION`])
//!
//! Distributions enter as the square roots of their shares (so that the Euclidean distance between two blocks is
//! their Hellinger distance, bounded by √2, and a few strong bins do not drown the rest), each block weighted:
//!
//! * 12 **pitch classes** of the pitched notes, rotated so that the most used class comes first: a transposed copy
//!   has the same block;
//! * 8 **melodic intervals** between successive note-ons of one channel (interval classes 0..6, 7 for an octave or
//!   more): blind to transposition and to tempo;
//! * 12 **onset phases** in twelfths of a beat (ticks per quarter note from the header: blind to tempo and to the
//!   file's resolution): straight, swung and triplet rhythms differ here;
//! * the **drum share** of the notes, and 4 drum classes (kick, snare, hi-hat, the rest) of the drum notes;
//! * **register** (mean pitch), **range**, **notes per beat**, **polyphony** (scalars, lightly weighted: a
//!   transposition moves the register a little);
//! * 8 **instrument groups** (the General MIDI families, paired) named by program changes;
//! * the first **tempo** (log scale, lightly weighted: a tempo-scaled copy is still the same music).
//!
//! What a note costs: a multiply for its phase, a table update and a compare for its interval. Everything else is
//! folded per file from the per-key counts the analysis keeps anyway. The bench measures it
//! (`measure_feature_cost` in the root crate's `cli/bench/analysis_speed.rs`).
//! A change of the vector is a new [`FEATURE_VERSION`]: stored vectors of an older version are recomputed by the
//! backfill (`midi-tui features`).

/// The version of the feature vector stored beside it (`musical_metadata.features_version`).
pub const FEATURE_VERSION: i16 = 1;

/// Numbers in a feature vector.
pub const DIMS: usize = 50;

/// MIDI channel index (0-based) of General MIDI percussion.
const DRUM_CHANNEL: u8 = 9;

/// No note seen yet on a channel.
const NO_PITCH: u8 = 0xFF;

/// Per-note state of the features, kept beside the walker's.
pub(crate) struct Sketch {
    /// Off only to measure what the features cost.
    pub enabled: bool,
    /// Enabled and the file is timed in beats.
    on: bool,
    /// Beats per tick, 32.32 fixed point rounded up: the low 32 bits of `tick * phase_mul` are the tick's place in
    /// its beat (exact on every 1/12 beat for ticks below 2^24, a 1/256 beat off at worst below 2^32).
    phase_mul: u64,
    last_pitch: [u8; 16],
    intervals: [u32; 8],
    phases: [u32; 12],
    drums: [u32; 4],
}

/// What the analysis folded per file that the vector takes.
pub(crate) struct Totals {
    /// Pitched note-ons per pitch class.
    pub pc_count: [u64; 12],
    pub pitched_notes: u64,
    /// Sum of the pitched notes' pitches (with `pitched_notes`: the mean).
    pub pitch_sum: u64,
    pub pitch_lo: Option<u8>,
    pub pitch_hi: Option<u8>,
    pub total_notes: u64,
    /// Length in beats (0 when unknown).
    pub beats: f64,
    pub polyphony_max: u64,
    /// Bit p: program p (0-based) was set.
    pub programs: u128,
    pub bpm: Option<f64>,
}

impl Sketch {
    pub fn new() -> Self {
        Sketch {
            enabled: true,
            on: false,
            phase_mul: 0,
            last_pitch: [NO_PITCH; 16],
            intervals: [0; 8],
            phases: [0; 12],
            drums: [0; 4],
        }
    }

    /// A new file timed in `ticks_per_quarter` ticks per beat (`None`: SMPTE or unusable, no features).
    pub fn start(&mut self, ticks_per_quarter: Option<u16>) {
        self.last_pitch = [NO_PITCH; 16];
        self.intervals = [0; 8];
        self.phases = [0; 12];
        self.drums = [0; 4];
        self.on = false;
        if let Some(tpq) = ticks_per_quarter.filter(|&t| t > 0 && self.enabled) {
            self.phase_mul = (1u64 << 32).div_ceil(u64::from(tpq));
            self.on = true;
        }
    }

    #[inline(always)]
    pub fn note_on(&mut self, ch: u8, pitch: u8, tick: u64) {
        if !self.on {
            return;
        }
        let place = u64::from(tick.wrapping_mul(self.phase_mul) as u32);
        self.phases[((place * 12) >> 32) as usize] += 1;
        let ch = usize::from(ch & 0x0F);
        if ch == usize::from(DRUM_CHANNEL) {
            self.drums[drum_class(pitch)] += 1;
            return;
        }
        let last = std::mem::replace(&mut self.last_pitch[ch], pitch);
        if last != NO_PITCH {
            self.intervals[interval_class(last, pitch)] += 1;
        }
    }

    /// The file's vector; `None` without notes or without a beat-based timing.
    pub fn finish(&self, t: &Totals) -> Option<[f32; DIMS]> {
        if !self.on || t.total_notes == 0 {
            return None;
        }
        let mut v = [0f32; DIMS];
        let mut at = 0;
        let mut block = |v: &mut [f32; DIMS], values: &[f64], weight: f64| {
            let total: f64 = values.iter().sum();
            for (i, x) in values.iter().enumerate() {
                v[at + i] = if total > 0.0 {
                    ((x / total).sqrt() * weight) as f32
                } else {
                    0.0
                };
            }
            at += values.len();
        };
        let top = (0..12)
            .max_by_key(|&i| (t.pc_count[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        let pcs: [f64; 12] = std::array::from_fn(|i| t.pc_count[(top + i) % 12] as f64);
        block(&mut v, &pcs, 1.0);
        block(&mut v, &self.intervals.map(f64::from), 1.0);
        block(&mut v, &self.phases.map(f64::from), 1.0);
        let drum_notes: u32 = self.drums.iter().sum();
        block(&mut v, &self.drums.map(f64::from), 0.7);
        let mut scalars = [0f64; 5];
        scalars[0] = (f64::from(drum_notes) / t.total_notes as f64).sqrt();
        if t.pitched_notes > 0 {
            scalars[1] = (t.pitch_sum as f64 / t.pitched_notes as f64 - 60.0) / 24.0 * 0.3;
        }
        if let (Some(lo), Some(hi)) = (t.pitch_lo, t.pitch_hi) {
            scalars[2] = f64::from(hi.saturating_sub(lo)) / 48.0 * 0.3;
        }
        if t.beats > 0.0 {
            scalars[3] = (t.total_notes as f64 / t.beats + 1.0).log2() / 4.0 * 0.5;
        }
        scalars[4] = (t.polyphony_max as f64 + 1.0).log2() / 5.0 * 0.3;
        for (i, s) in scalars.iter().enumerate() {
            v[at + i] = *s as f32;
        }
        at += scalars.len();
        let groups = instrument_groups(t.programs);
        let present = groups.iter().filter(|&&g| g).count().max(1) as f64;
        for (i, g) in groups.iter().enumerate() {
            v[at + i] = if *g { (0.8 / present.sqrt()) as f32 } else { 0.0 };
        }
        at += groups.len();
        v[at] = t
            .bpm
            .filter(|b| *b > 0.0)
            .map_or(0.0, |b| ((b / 120.0).log2() * 0.2) as f32);
        debug_assert_eq!(at + 1, DIMS);
        Some(v)
    }
}

/// Interval class of a melodic step: 0..6 (a fifth down is a fourth up), 7 for an octave or more.
#[inline(always)]
fn interval_class(a: u8, b: u8) -> usize {
    let d = a.abs_diff(b);
    if d >= 12 { 7 } else { usize::from(d.min(12 - d)) }
}

/// Kick, snare (and claps), hi-hat, the rest of the kit.
#[inline(always)]
fn drum_class(note: u8) -> usize {
    match note {
        35 | 36 => 0,
        37..=40 => 1,
        42 | 44 | 46 => 2,
        _ => 3,
    }
}

/// The 16 General MIDI families paired into 8: piano and chromatic percussion, organ and reed, guitar, bass,
/// strings and ensemble, brass and pipe, synth lead and pad, effects, ethnic and percussive.
fn instrument_groups(programs: u128) -> [bool; 8] {
    const GROUP_OF_FAMILY: [usize; 16] = [0, 0, 1, 2, 3, 4, 4, 5, 1, 5, 6, 6, 7, 7, 7, 7];
    let mut g = [false; 8];
    for family in 0..16 {
        if programs >> (family * 8) & 0xFF != 0 {
            g[GROUP_OF_FAMILY[family]] = true;
        }
    }
    g
}

/// Euclidean distance between two vectors (what the cube `<->` of the search computes).
pub fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_classes_fold_and_octaves_leap() {
        assert_eq!(interval_class(60, 67), 5);
        assert_eq!(interval_class(67, 60), 5);
        assert_eq!(interval_class(60, 61), 1);
        assert_eq!(interval_class(60, 72), 7);
        assert_eq!(interval_class(60, 60), 0);
    }

    #[test]
    fn phases_count_twelfths_of_a_beat_at_any_resolution() {
        for tpq in [96u16, 480, 960] {
            let mut s = Sketch::new();
            s.start(Some(tpq));
            let t = u64::from(tpq);
            s.note_on(0, 60, 0);
            s.note_on(0, 62, t / 2);
            s.note_on(0, 64, t + t / 3);
            assert_eq!(s.phases[0], 1, "{tpq}");
            assert_eq!(s.phases[6], 1, "{tpq}");
            assert_eq!(s.phases[4], 1, "{tpq}");
        }
    }
}
