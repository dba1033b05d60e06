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

/// Where [`Sketch::finish`] puts the drums: the kit block (4 numbers), then the drum share.
const DRUM_DIMS: std::ops::Range<usize> = 32..37;

/// `features` with its drum numbers zeroed. A file without drums has zeros there, so its distance to this vector
/// differs from its distance to `features` by the same amount as every other such file's: the same order, seen from
/// a point among them. A `like:` restricted to files without drums walks the index from here, instead of from a
/// drummed target far from all of them.
pub fn without_drums(features: &[f32]) -> Vec<f32> {
    let mut v = features.to_vec();
    for x in v.iter_mut().take(DRUM_DIMS.end).skip(DRUM_DIMS.start) {
        *x = 0.0;
    }
    v
}

/// Numbers in a coarse vector: the features projected on their first principal axes ([`COARSE_AXES`]).
pub const COARSE_DIMS: usize = 12;

/// The first principal axes of the features of the reference corpus's 1,791 files with notes (84.0% of their
/// variance), orthonormal, printed by `cargo run -p midi-tui-engine --example coarse_axes -- CORPUS 12`. Because they
/// are orthonormal, the distance between two coarse vectors is never more than the distance between the features:
/// `like:` reads the files nearest in coarse order from a small index, ranks them by the features' distance, and
/// knows the ranking exact when no unread file can be nearer (database/similar.rs). 12 axes: at a million files 8
/// kept too few true neighbours among the first thousand candidates, 16 made the index's walk slower than the
/// search's budget. A new set of axes is a new [`FEATURE_VERSION`] (the backfill recomputes both vectors).
#[rustfmt::skip]
pub const COARSE_AXES: [[f32; DIMS]; COARSE_DIMS] = [
    [-0.276319, -0.064030, -0.156098, -0.110078, -0.139761, -0.193685, -0.056707, -0.204304, -0.102203, -0.143871, -0.133790, -0.097605, -0.198085, -0.154435, -0.211188, -0.211522, -0.189174, -0.243236, -0.056192, -0.193006, -0.181061, 0.004444, 0.081354, 0.018791, 0.033213, 0.140380, -0.136841, 0.040601, 0.080373, -0.021054, 0.041521, 0.172125, 0.060424, 0.145482, 0.021998, 0.096241, 0.404605, -0.008428, -0.208586, -0.048564, -0.066626, -0.086006, -0.091459, -0.083440, -0.107180, -0.129084, -0.104305, -0.048766, -0.051552, -0.007471],
    [-0.034911, 0.011814, -0.006415, -0.008389, 0.012794, -0.010753, 0.009500, -0.017538, 0.002914, 0.009313, -0.005152, 0.005595, -0.068261, -0.012985, -0.019628, -0.009020, -0.002870, -0.023194, 0.017571, 0.029262, -0.042612, 0.004552, 0.036671, -0.051728, 0.001185, 0.030072, -0.146811, 0.027110, 0.077103, -0.101515, 0.009981, 0.055261, -0.084328, 0.004051, -0.022201, -0.110812, -0.088152, 0.012647, -0.011810, -0.090129, -0.024239, 0.939145, -0.041068, -0.070236, -0.071592, -0.074444, -0.057587, -0.027892, -0.045133, 0.012108],
    [-0.032348, -0.062498, -0.022341, -0.054577, -0.017548, -0.020616, -0.063702, -0.006903, -0.067063, -0.001379, -0.032071, -0.034610, 0.017651, -0.057108, -0.036834, 0.003012, -0.002396, 0.037806, -0.027858, -0.136334, 0.422674, -0.196077, -0.254306, -0.040160, -0.215933, -0.188327, 0.298859, -0.218282, -0.231678, -0.040440, -0.223047, -0.176774, 0.201693, 0.099625, 0.220612, 0.150478, 0.341785, -0.026173, -0.065839, 0.011983, 0.011379, 0.208348, 0.007405, 0.089969, 0.135497, -0.016318, -0.015756, 0.011939, -0.004050, 0.029981],
    [0.099723, 0.035853, 0.030339, 0.077994, 0.003399, 0.068980, 0.017525, 0.079915, 0.048729, 0.018317, 0.058810, 0.004902, 0.129221, 0.012056, 0.026432, 0.078111, 0.078251, 0.127144, 0.013467, 0.086351, -0.225666, 0.088158, 0.159181, -0.001650, 0.100882, 0.198015, -0.103248, 0.054106, 0.170510, 0.035952, 0.103569, 0.196302, 0.245989, 0.134545, 0.412028, 0.247298, 0.337495, -0.042846, 0.169067, 0.164415, 0.098720, 0.132252, 0.082348, 0.210512, 0.270671, 0.156648, 0.086988, 0.096721, 0.093631, -0.034450],
    [0.007323, -0.033901, 0.012877, -0.038844, 0.029886, 0.019774, -0.019027, 0.014873, -0.030054, 0.026656, -0.010209, 0.005650, -0.036242, -0.006692, 0.013615, 0.020271, 0.023250, 0.018076, -0.002511, 0.002502, 0.009517, -0.180829, 0.173013, -0.328485, -0.228760, 0.554088, 0.057533, -0.488444, 0.085841, -0.113111, -0.226886, 0.216121, 0.049349, -0.184840, 0.096586, -0.142169, -0.144107, 0.008949, -0.028192, -0.008471, 0.001386, -0.080253, 0.004854, -0.019209, -0.035899, -0.028198, -0.011070, 0.005436, -0.029013, -0.051931],
    [-0.025807, 0.045306, -0.026927, 0.092442, -0.094943, -0.000503, 0.011655, -0.027369, 0.054345, -0.102676, 0.067972, -0.046436, -0.031923, -0.033998, -0.041426, -0.049484, -0.025820, -0.027432, -0.001187, 0.068100, -0.202819, 0.064232, 0.133616, 0.385696, -0.050882, 0.155802, 0.386876, -0.187239, -0.091985, 0.518507, 0.032467, -0.197451, 0.029670, 0.102684, 0.080934, -0.307791, -0.038051, -0.021729, 0.023655, 0.086359, -0.006842, 0.097896, -0.138013, 0.038943, 0.006215, -0.061775, -0.159776, 0.054877, 0.049030, -0.130302],
    [0.013590, 0.020842, 0.019971, 0.012438, 0.027844, -0.017292, 0.023086, 0.004297, 0.025693, 0.026194, -0.026355, 0.032610, 0.073291, 0.044931, 0.033327, 0.006188, -0.010941, 0.012743, -0.002599, -0.031892, -0.014059, 0.016651, 0.206704, 0.083532, -0.083971, 0.155341, 0.057104, -0.166916, 0.140473, 0.168949, -0.148147, -0.218161, -0.111686, 0.010870, -0.533390, 0.646641, 0.088548, 0.014265, 0.030418, 0.039375, -0.001648, 0.104912, 0.011355, -0.030782, -0.053505, 0.071872, 0.070135, -0.001665, 0.030085, -0.047409],
    [0.015815, -0.010159, 0.006673, -0.047952, 0.060080, -0.027809, 0.012847, 0.007463, -0.030595, 0.059484, -0.021855, 0.045704, 0.074578, 0.043287, -0.000819, 0.021543, 0.022561, 0.016639, 0.008401, -0.087749, 0.104564, 0.043123, 0.200538, -0.147875, 0.030749, 0.018400, -0.094131, -0.094674, 0.222033, -0.089870, -0.057744, -0.286514, -0.041709, 0.685905, -0.158957, -0.393721, 0.096733, -0.016935, -0.009025, 0.044140, -0.010382, -0.046080, 0.166884, -0.009741, 0.063222, 0.059122, 0.165305, 0.008331, -0.024834, 0.050748],
    [0.025934, 0.100679, -0.069880, 0.203861, -0.153626, -0.014650, 0.053513, -0.045516, 0.169225, -0.154976, 0.127600, -0.077187, 0.103390, 0.021936, -0.013706, -0.029208, -0.024637, -0.015911, -0.019009, 0.060926, -0.059189, -0.105448, -0.217209, 0.081322, -0.247175, 0.139625, 0.043712, 0.071701, -0.383285, -0.118686, -0.010000, 0.434570, -0.029714, 0.320872, -0.290965, -0.036536, 0.006690, -0.036762, 0.079928, -0.056678, 0.025649, 0.026767, 0.087333, -0.007255, -0.080717, 0.226704, 0.104853, 0.148813, 0.117119, 0.036060],
    [-0.024736, -0.105151, 0.107479, -0.322936, 0.324201, -0.061988, 0.001509, 0.036426, -0.235963, 0.281269, -0.265666, 0.192719, 0.060291, 0.069197, 0.029428, 0.029704, 0.037719, -0.022988, -0.007494, -0.170366, -0.147128, 0.003521, -0.116708, 0.223585, -0.092908, 0.078280, 0.041326, 0.006829, -0.205682, 0.241794, 0.056515, 0.222549, -0.119242, 0.029924, 0.090557, -0.021316, 0.016943, 0.056620, -0.030096, 0.054498, 0.016890, 0.048799, 0.213394, -0.160415, -0.061473, 0.080745, 0.299689, -0.027929, -0.130781, 0.012439],
    [-0.014498, 0.028756, -0.032356, 0.019200, -0.036840, -0.019020, -0.003018, -0.040199, 0.029645, -0.052085, 0.009803, -0.013154, 0.069522, 0.058319, 0.029388, -0.030360, -0.034067, -0.031319, -0.019494, -0.124112, 0.023601, 0.293914, -0.023890, -0.410833, 0.298883, 0.219685, 0.337818, -0.090915, -0.286722, -0.057143, 0.503317, -0.182332, -0.004123, -0.032909, 0.027066, 0.086459, 0.023126, 0.023563, -0.027914, -0.055649, 0.008883, 0.060702, 0.077365, -0.129560, -0.108356, 0.079753, 0.084279, 0.000119, 0.010389, 0.089181],
    [-0.088782, 0.139717, -0.106299, 0.213168, -0.145944, -0.029347, 0.044241, -0.098280, 0.197325, -0.178659, 0.133100, -0.054462, 0.091712, 0.143009, 0.102022, -0.027954, -0.053449, -0.164113, -0.002169, -0.202365, 0.179319, -0.083562, 0.005490, 0.111743, 0.045330, -0.062578, -0.157635, -0.098428, 0.196252, 0.162539, -0.115749, -0.064419, -0.163476, -0.168386, 0.327503, -0.019372, 0.027097, 0.037063, 0.000173, 0.003937, -0.008283, 0.015591, 0.153012, -0.316110, -0.169934, 0.207704, 0.378935, 0.002410, 0.003295, -0.031438],
];

/// The coarse vector of `features`: their coordinates on [`COARSE_AXES`].
pub fn coarse(features: &[f32]) -> [f32; COARSE_DIMS] {
    COARSE_AXES.map(|axis| {
        axis.iter()
            .zip(features)
            .map(|(a, x)| f64::from(*a) * f64::from(*x))
            .sum::<f64>() as f32
    })
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

    #[test]
    fn without_drums_keeps_the_order_of_files_without_drums() {
        let mut drummed = Sketch::new();
        drummed.start(Some(480));
        let mut plain = Sketch::new();
        plain.start(Some(480));
        for (i, pitch) in [60u8, 64, 67, 72, 62, 65].iter().enumerate() {
            let tick = i as u64 * 240;
            drummed.note_on(0, *pitch, tick);
            drummed.note_on(9, 36 + (i as u8 % 3) * 2, tick);
            plain.note_on(0, pitch + (i as u8 % 2), tick + 120);
        }
        let totals = |notes| Totals {
            pc_count: [1; 12],
            pitched_notes: 6,
            pitch_sum: 6 * 65,
            pitch_lo: Some(60),
            pitch_hi: Some(72),
            total_notes: notes,
            beats: 3.0,
            polyphony_max: 2,
            programs: 1,
            bpm: Some(100.0),
        };
        let target = drummed.finish(&totals(12)).unwrap();
        let other = plain.finish(&totals(6)).unwrap();
        assert!(
            target[DRUM_DIMS].iter().any(|&x| x > 0.0),
            "the target has drums: {target:?}"
        );
        assert!(
            other[DRUM_DIMS].iter().all(|&x| x == 0.0),
            "a file without drums has none there"
        );
        assert!(target[..DRUM_DIMS.start].iter().zip(&other).any(|(a, b)| a != b));
        let moved = without_drums(&target);
        let drums: f64 = target[DRUM_DIMS].iter().map(|&x| f64::from(x).powi(2)).sum();
        // Every file without drums is nearer by the same squared amount: their order is kept.
        for x in [
            other,
            [0.0; DIMS],
            std::array::from_fn(|i| if DRUM_DIMS.contains(&i) { 0.0 } else { 0.1 }),
        ] {
            let (d, m) = (distance(&target, &x), distance(&moved, &x));
            assert!((d * d - m * m - drums).abs() < 1e-5, "{d} {m} {drums}");
        }
        assert!(distance(&moved, &other) < distance(&target, &other));
    }

    #[test]
    fn coarse_axes_are_orthonormal_so_coarse_distance_is_a_lower_bound() {
        // How far a coarse distance may exceed the true bound through rounding (relative, and absolute): the axes are
        // printed to 6 decimals and the vectors stored as `real`.
        const COARSE_SLACK: f64 = 1e-4;
        for (i, a) in COARSE_AXES.iter().enumerate() {
            for (j, b) in COARSE_AXES.iter().enumerate() {
                let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "axes {i}, {j}: {dot}");
            }
        }
        // Pseudo-random pairs, near and far: the coarse distance never exceeds the features' (by more than what
        // `like:`'s stopping rule allows for rounding).
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for round in 0..2_000 {
            let a: Vec<f32> = (0..DIMS).map(|_| next()).collect();
            let scale = if round % 2 == 0 { 1.0 } else { 0.01 };
            let b: Vec<f32> = a.iter().map(|x| x + (next() - 0.5) * scale).collect();
            let (ca, cb) = (coarse(&a), coarse(&b));
            let bound = distance(&ca, &cb);
            let full = distance(&a, &b);
            assert!(bound <= full * (1.0 + COARSE_SLACK) + COARSE_SLACK, "{bound} > {full}");
        }
    }
}
