//! Musical fingerprints: a digest of a file's notes alone, and a transposition-blind variant, fed by the same parse.
//!
//! # What is hashed
//!
//! Every note (note-on with velocity > 0) becomes (onset, duration, pitch, drum?):
//!
//! * **onset and duration in beats**, from the header's ticks per quarter note, rounded to a fixed grid of
//!   [`GRID`] steps per quarter note (half a step rounds up). Tempo events never enter, so the same notes at another
//!   tempo, or re-encoded with another resolution (96, 480 or 960 ticks per quarter: every 1/16, 1/32, 1/64 note and
//!   triplet of them lies on the grid), give the same values. Onsets count from the start of the file, so a copy
//!   with an added bar of silence is another file. SMPTE-timed files count in seconds instead of beats, in a domain
//!   of their own (they never match a file timed in beats).
//! * **duration**: from the note-on to the note-off of the same channel and pitch in the same track; a second
//!   note-on of a sounding key ends the first note there (a retrigger); a note still sounding when its track ends
//!   ends there. Start and end are rounded separately and the duration is their difference.
//! * **pitch**, and whether the note is on the General MIDI drum channel (MIDI channel 10). Drum notes are kept
//!   (a drum groove is music too, and often all a file holds) but as a class of their own: drum note 36 is a kick,
//!   not the C two octaves below middle C. Every other channel is the same: the channel, program, velocity, track,
//!   file format, meta events (names, tempo, key, lyrics) do not enter.
//!
//! The **transposition-blind** variant replaces each pitched note by its distance from the lowest pitched note of
//! the file; drum notes stay as they are (transposing a song does not change its drum kit).
//!
//! # How
//!
//! The notes are a multiset (their order in the file depends on the track layout), so no list is kept or sorted:
//! as each note ends, its rounded onset and duration are mixed into two 64-bit values (one wide multiply, folded as
//! wyhash does) that are added to the sums of its class (its pitch, or its drum note). At the end the class sums
//! are folded into two lanes with per-class constants: from class 0 for the exact digest, from the lowest pitched
//! class for the transposition-blind one. The digest is BLAKE3 over a domain tag, the grid, the note count and the
//! two lanes, cut to 16 bytes. A file without notes, or whose timing division is unusable, gets no fingerprint: it
//! never groups with anything.
//!
//! The digests are stored in users' databases, so any change here must give the same bytes: the first collector is
//! kept as a test oracle (`fingerprint_reference.rs`), and the analysis golden test holds every corpus file's digests.
//! What the collector costs per note (three multiplies, one table store and one load, the class sum; it leans on the
//! walker's own per-key state, see [`Collector`]) is measured against the analysis by [`measure_cost`]
//! (`cargo run --release -p midi-tui-engine --example analyze_speed`).
//!
//! Limits: notes moved off the grid by rounding (a humanised performance re-encoded at a coarser resolution) change
//! the digest; two overlapping notes of one key on one channel in different tracks become a retrigger when the tracks
//! are merged into format 0.

use std::fmt;

/// Grid steps per quarter note that onsets and durations are rounded to: 48 puts 1/64 notes (3 steps) and
/// 1/32-note triplets (4 steps) on the grid, and a one-tick shortened note at 96 ticks per quarter (half a step)
/// still rounds to its written length.
pub const GRID: u64 = 48;

/// A 16-byte digest of a file's notes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lower-case hex, 32 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// Both digests of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprints {
    pub exact: Fingerprint,
    pub transposed: Fingerprint,
}

/// How ticks become grid steps: one beat (a quarter note; a second for SMPTE timing) is `ticks / per` ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickUnit {
    pub ticks: u64,
    pub per: u64,
    pub smpte: bool,
}

impl TickUnit {
    /// Ticks per quarter note from the header; `None` for 0.
    pub fn per_quarter(tpq: u16) -> Option<Self> {
        (tpq > 0).then_some(TickUnit {
            ticks: u64::from(tpq),
            per: 1,
            smpte: false,
        })
    }

    /// SMPTE timing: `fps_code` is 24, 25, 29 (drop-frame, 30000/1001) or 30; `None` otherwise or for 0 ticks per
    /// frame.
    pub fn smpte(fps_code: u8, ticks_per_frame: u8) -> Option<Self> {
        let tpf = u64::from(ticks_per_frame);
        let (ticks, per) = match fps_code {
            24 | 25 | 30 => (u64::from(fps_code) * tpf, 1),
            29 => (30_000 * tpf, 1001),
            _ => return None,
        };
        (ticks > 0).then_some(TickUnit {
            ticks,
            per,
            smpte: true,
        })
    }
}

/// Onsets past this many steps count as this many (the digest's onset field is 32 bits wide in effect).
const ONSET_MAX: u64 = u32::MAX as u64 - 1;
/// MIDI channel index (0-based) of General MIDI percussion.
const DRUM_CHANNEL: usize = 9;
/// Note classes: pitches 0..128, then drum notes 128..256.
const CLASSES: usize = 256;

/// Per-class multipliers that fold the class sums into two lanes (odd, so no class is ever multiplied away).
static FOLD: [[u64; 2]; CLASSES] = fold_constants();

const fn fold_constants() -> [[u64; 2]; CLASSES] {
    let mut out = [[0u64; 2]; CLASSES];
    let mut x: u64 = 0x6d69_6469_2d74_7569;
    let mut i = 0;
    while i < CLASSES {
        let mut lane = 0;
        while lane < 2 {
            // splitmix64
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            out[i][lane] = (z ^ (z >> 31)) | 1;
            lane += 1;
        }
        i += 1;
    }
    out
}

/// In [`Collector::open`]: no note sounding on this key.
const OPEN_NONE: u32 = u32::MAX;
/// In [`Collector::open`]: the note sounding on this key started at a tick too large for 32 bits, kept in
/// [`Collector::far_open`].
const OPEN_FAR: u32 = u32::MAX - 1;
/// Rounding term of the 32.32 fixed point: half a step.
const HALF: u64 = 1 << 31;

/// Gathers one file's notes while the analysis walks it, as per-class sums of note hashes (a multiset: the order
/// of notes in the file depends on the track layout); reused across files by a worker thread.
///
/// A note's hash mixes its rounded onset and duration (one 64x64-bit multiply folded, as wyhash does); its class
/// is its pitch, or 128 + its note number on the drum channel. Keeping one sum per class is what makes the
/// transposition-blind digest cheap: a transposition shifts the pitched classes, so folding them from the lowest
/// one on gives the same value.
///
/// Driven by the analysis walker, whose own per-key counts spare the collector its bookkeeping: keys are
/// `channel * 128 + pitch`; [`Collector::note_on`] is told whether the walker had the key sounding already (if not,
/// no note of the collector is open there); the walker's end-of-track sweep, which visits every key it has sounding
/// (a superset of the collector's open ones), ends them with [`Collector::note_off`]; and the note count is the
/// walker's. So the per-note work is one store at the note-on and, at its end, one load and store, one range check,
/// the two tick-to-step conversions, one wide multiply and the class sum; everything rarer (retriggers, ticks past
/// the fixed point's range) is out of line, so as not to crowd the walker's loop, whose registers it shares.
///
/// Hashing the notes later in a batch (a buffer of ended notes, hashed four at a time with AVX2) was measured and
/// is slower here: the buffer's stores cost the walker about as much as the hash they move out, and the batch loop
/// runs alone where the inline hash overlaps the walker's own stalls.
pub(crate) struct Collector {
    /// Off for the analysis alone (the cost measurement).
    pub enabled: bool,
    /// This file gets a fingerprint: enabled, and a usable timing.
    on: bool,
    /// Steps per tick as 32.32 fixed point, rounded up.
    step: u64,
    /// Below this tick the fixed point rounds exactly as division does (see [`Collector::steps`]).
    wide_below: u64,
    /// Below this tick, moreover, the fixed point fits 64 bits and a note's steps need no clamping (under 2^24).
    fast_below: u64,
    /// The timing: one beat (or second) is `unit.ticks / unit.per` ticks.
    unit: TickUnit,
    smpte: bool,
    /// The timing that `step`, `wide_below` and `fast_below` were derived for: most files of a library share a
    /// few, so a file costs no wide division.
    derived: Option<TickUnit>,
    /// Onset tick of the note sounding on each key of the current track, or [`OPEN_NONE`], or [`OPEN_FAR`]. Ticks
    /// rather than steps: both ends of a note are converted together, under one range check. 32 bits keep the
    /// table at 8 KB beside the walker's own.
    open: [u32; 2048],
    /// The onset ticks of the keys marked [`OPEN_FAR`].
    far_open: Box<[u64; 2048]>,
    sums: [[u64; 2]; CLASSES],
    /// Some class sum may be non-zero (a file started and not finished): `reset` clears them all.
    dirty: bool,
}

impl Collector {
    pub fn new() -> Self {
        Collector {
            enabled: true,
            on: false,
            step: 0,
            wide_below: 0,
            fast_below: 0,
            unit: TickUnit {
                ticks: 1,
                per: 1,
                smpte: false,
            },
            smpte: false,
            derived: None,
            open: [OPEN_NONE; 2048],
            far_open: Box::new([0; 2048]),
            sums: [[0; 2]; CLASSES],
            dirty: false,
        }
    }

    /// Forget the previous file. Its tracks must have been ended (the walker ends every track it starts): `finish`
    /// clears the classes it folds, so only a file left unfinished (an unreadable one) costs a full clear here.
    pub fn reset(&mut self) {
        if self.dirty {
            self.sums.fill([0; 2]);
            self.dirty = false;
        }
        self.on = false;
    }

    /// The file's timing, from its header, before any note: `None` leaves the file without fingerprint.
    pub fn start(&mut self, unit: Option<TickUnit>) {
        self.on = false;
        if let Some(u) = unit.filter(|_| self.enabled) {
            if self.derived != Some(u) && !self.derive(u) {
                return;
            }
            self.on = true;
            self.dirty = true;
        }
    }

    /// The fixed point and its bounds for `u`; false if it has none.
    fn derive(&mut self, u: TickUnit) -> bool {
        self.derived = None;
        // ceil(2^32 · GRID · per / ticks): rounding up makes a half step round up, as exact arithmetic
        // would, and stays exact for every onset below about 2^31 / GRID steps.
        let num = (u128::from(GRID) * u128::from(u.per)) << 32;
        let Ok(step) = u64::try_from(num.div_ceil(u128::from(u.ticks))) else {
            return false;
        };
        self.step = step;
        self.unit = u;
        self.wide_below = (1u64 << 31) / u.ticks;
        // The first tick of 2^24 steps: (2·t·GRID·per + ticks) / (2·ticks) >= 2^24.
        let far = ((1u128 << 25) - 1) * u128::from(u.ticks);
        let far = u64::try_from(far.div_ceil(u128::from(2 * GRID * u.per))).unwrap_or(u64::MAX);
        // t·step + 2^31 within 64 bits.
        let fits = (u64::MAX - HALF) / step;
        self.fast_below = self.wide_below.min(far).min(fits);
        self.smpte = u.smpte;
        self.derived = Some(u);
        true
    }

    /// Ticks to grid steps (the first collector's way, which the slow path keeps): below `wide_below` a 64x64-bit
    /// fixed-point multiply gives the same as [`Collector::exact_steps`] (its error, under t/2^32 steps, is smaller
    /// than the 1/(2·ticks) that separates any other value from a half step); past it, the division.
    fn steps(&self, tick: u64) -> u64 {
        if tick < self.wide_below {
            self.wide_steps(tick)
        } else {
            self.exact_steps(tick)
        }
    }

    fn wide_steps(&self, tick: u64) -> u64 {
        ((u128::from(tick) * u128::from(self.step) + u128::from(HALF)) >> 32) as u64
    }

    /// Ticks to grid steps, half a step rounding up: `(2·t·GRID·per + ticks) / (2·ticks)`.
    fn exact_steps(&self, tick: u64) -> u64 {
        let u = self.unit;
        let num = u128::from(tick) * u128::from(2 * GRID * u.per) + u128::from(u.ticks);
        u64::try_from(num / u128::from(2 * u.ticks)).unwrap_or(u64::MAX)
    }

    /// A note-on on `key` at `tick`; `sounding`: the walker already had a note of this key sounding (only then can
    /// one of the collector's be open there, to be ended by this one: a retrigger).
    #[inline(always)]
    pub fn note_on(&mut self, key: usize, tick: u64, sounding: bool) {
        if !self.on {
            return;
        }
        let key = key & 0x7FF;
        if sounding {
            self.retrigger(key, tick);
        } else {
            self.open[key] = self.onset(key, tick);
        }
    }

    /// What [`Collector::open`] holds for a note starting at `tick`.
    #[inline(always)]
    fn onset(&mut self, key: usize, tick: u64) -> u32 {
        if tick < u64::from(OPEN_FAR) {
            tick as u32
        } else {
            self.far_onset(key, tick)
        }
    }

    #[cold]
    #[inline(never)]
    fn far_onset(&mut self, key: usize, tick: u64) -> u32 {
        self.far_open[key] = tick;
        OPEN_FAR
    }

    /// A second note-on of a sounding key ends the first note there (common on drum tracks without note-offs). Out
    /// of line: the walker's loop keeps only the common note-on.
    #[inline(never)]
    fn retrigger(&mut self, key: usize, tick: u64) {
        let on = self.open[key];
        self.end(on, key, tick);
        self.open[key] = self.onset(key, tick);
    }

    /// A note-off (or a note-on of velocity 0) on `key` at `tick`, or the end of the track with the walker's note
    /// of `key` still sounding: the note open there, if any, ends.
    #[inline(always)]
    pub fn note_off(&mut self, key: usize, tick: u64) {
        if !self.on {
            return;
        }
        let key = key & 0x7FF;
        let on = std::mem::replace(&mut self.open[key], OPEN_NONE);
        self.end(on, key, tick);
    }

    /// The note open on `key` since `on` (as [`Collector::open`] holds it, or [`OPEN_NONE`]) ends at `end`.
    #[inline(always)]
    fn end(&mut self, on: u32, key: usize, end: u64) {
        // One range check: an onset marked OPEN_NONE or OPEN_FAR is past every end below `fast_below` (2^31).
        if end < self.fast_below && u64::from(on) <= end {
            add_to(&mut self.sums, near_note(self.step, u64::from(on), end), key);
        } else if on < OPEN_FAR {
            let x = self.far_note_cold(u64::from(on), end);
            add_to(&mut self.sums, x, key);
        } else if on == OPEN_FAR {
            self.end_far(key, end);
        }
    }

    /// A note whose onset tick is past 32 bits ends, in general arithmetic.
    #[cold]
    #[inline(never)]
    fn end_far(&mut self, key: usize, end: u64) {
        let x = self.far_note(self.far_open[key], end);
        add_to(&mut self.sums, x, key);
    }

    /// [`Collector::far_note`] out of the walker's loop.
    #[cold]
    #[inline(never)]
    fn far_note_cold(&self, on: u64, end: u64) -> u64 {
        self.far_note(on, end)
    }

    /// A note's onset and duration in steps, mixed into one value: `onset << 24 ^ duration`, the onset clamped to
    /// [`ONSET_MAX`], the duration to 2^24 - 1 steps. Below `fast_below`, [`near_note`] gives the same.
    fn far_note(&self, on: u64, end: u64) -> u64 {
        let q_on = self.steps(on).min(ONSET_MAX);
        let dur = self.steps(end).saturating_sub(q_on).min(0xFF_FFFF);
        (q_on << 24) ^ dur
    }

    /// The digests of the file's `notes` (the walker's count of note-ons: each note it counted was ended here);
    /// `None` without notes or without a usable timing. Leaves the class sums clear for the next file.
    pub fn finish(&mut self, notes: u64) -> Option<Fingerprints> {
        if !self.on {
            return None;
        }
        if notes == 0 {
            // No note was added: the sums are still clear.
            self.dirty = false;
            return None;
        }
        // Which classes hold notes, without a branch per class: most of the 256 are empty.
        let mut used = [0u64; CLASSES / 64];
        for (c, sum) in self.sums.iter().enumerate() {
            used[c / 64] |= u64::from((sum[0] | sum[1]) != 0) << (c % 64);
        }
        self.dirty = false;
        let pitched = u128::from(used[0]) | u128::from(used[1]) << 64;
        let pitched_lo = (pitched != 0).then(|| pitched.trailing_zeros() as usize);
        let (mut exact, mut transposed) = ([0u64; 2], [0u64; 2]);
        for (w, &word) in used.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let c = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let sum = std::mem::take(&mut self.sums[c]);
                // Pitched classes fold from the lowest one for the transposition-blind digest; drums stay in place.
                let shifted = match pitched_lo {
                    Some(base) if c < 128 => c - base,
                    _ => c,
                };
                for lane in 0..2 {
                    exact[lane] = exact[lane].wrapping_add(sum[lane].wrapping_mul(FOLD[c][lane]));
                    transposed[lane] = transposed[lane].wrapping_add(sum[lane].wrapping_mul(FOLD[shifted][lane]));
                }
            }
        }
        Some(Fingerprints {
            exact: digest(b"notes", self.smpte, notes, exact),
            transposed: digest(b"transposed", self.smpte, notes, transposed),
        })
    }
}

/// [`Collector::far_note`] for `on <= end < fast_below`: there the steps are two 64-bit multiplies, the onset
/// and end under 2^24 steps, and the clamps change nothing.
#[inline(always)]
fn near_note(step: u64, on: u64, end: u64) -> u64 {
    let q_on = (on * step + HALF) >> 32;
    let q_end = (end * step + HALF) >> 32;
    (q_on << 24) ^ (q_end - q_on)
}

/// The two keys of the note hash's wide multiply (wyhash's).
const MIX: [u64; 2] = [0xA076_1D64_78BD_642F, 0xE703_7ED1_A0B4_28DB];

/// Add a note of value `x` (onset and duration, see [`Collector::far_note`]) on `key` to its class sum: one wide
/// multiply folded as wyhash does.
#[inline(always)]
fn add_to(sums: &mut [[u64; 2]; CLASSES], x: u64, key: usize) {
    let m = u128::from(x ^ MIX[0]) * u128::from(x ^ MIX[1]);
    let (lo, hi) = (m as u64, (m >> 64) as u64);
    let sum = &mut sums[usize::from(CLASS_OF[key & 0x7FF])];
    sum[0] = sum[0].wrapping_add(lo ^ hi);
    sum[1] = sum[1].wrapping_add(hi.wrapping_add(lo.rotate_left(32)));
}

/// The class of each key (`channel * 128 + pitch`): its pitch, or 128 + its note number on the drum channel.
static CLASS_OF: [u8; 2048] = class_of_keys();

const fn class_of_keys() -> [u8; 2048] {
    let mut out = [0u8; 2048];
    let mut key = 0;
    while key < 2048 {
        let drum = if key >> 7 == DRUM_CHANNEL { 128 } else { 0 };
        out[key] = ((key & 0x7F) | drum) as u8;
        key += 1;
    }
    out
}

/// BLAKE3 of the domain tag, the grid, the note count and the two lanes, in one call over one buffer (the same
/// bytes as fed piece by piece: the digest is of the byte string).
fn digest(domain: &[u8], smpte: bool, count: u64, lanes: [u64; 2]) -> Fingerprint {
    let mut buf = [0u8; 96];
    let tag: &[u8] = if smpte { b"seconds" } else { b"beats" };
    let mut n = 0;
    for part in [
        b"midi-tui fingerprint v1 ".as_slice(),
        domain,
        tag,
        &GRID.to_le_bytes(),
        &count.to_le_bytes(),
        &lanes[0].to_le_bytes(),
        &lanes[1].to_le_bytes(),
    ] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&blake3::hash(&buf[..n]).as_bytes()[..16]);
    Fingerprint(out)
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
    use super::analyze::{AnalyzeOptions, analyze_with_options};
    use super::speed::{median, thread_cpu_seconds};
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
    // One pass each way first: caches and the thread's scratch buffers warm.
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
                Ok(t) if t.is_file() && crate::source::is_midi_name(&p.to_string_lossy()) => {
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

#[cfg(test)]
#[path = "fingerprint_reference.rs"]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    /// The walker's side of the collector's contract: its per-key counts of sounding notes, its end-of-track sweep
    /// and its note count.
    struct Walk {
        c: Collector,
        active: Vec<u16>,
        notes: u64,
    }

    impl Walk {
        fn new(unit: Option<TickUnit>) -> Self {
            let mut c = Collector::new();
            c.start(unit);
            Walk {
                c,
                active: vec![0; 2048],
                notes: 0,
            }
        }

        fn on(&mut self, tick: u64, ch: u8, pitch: u8) {
            let k = usize::from(ch & 0x0F) << 7 | usize::from(pitch & 0x7F);
            self.c.note_on(k, tick, self.active[k] != 0);
            self.active[k] = self.active[k].saturating_add(1);
            self.notes += 1;
        }

        fn off(&mut self, tick: u64, ch: u8, pitch: u8) {
            let k = usize::from(ch & 0x0F) << 7 | usize::from(pitch & 0x7F);
            if self.active[k] > 0 {
                self.active[k] -= 1;
                self.c.note_off(k, tick);
            }
        }

        fn end_track(&mut self, tick: u64) {
            for (k, a) in self.active.iter_mut().enumerate() {
                if *a != 0 {
                    *a = 0;
                    self.c.note_off(k, tick);
                }
            }
        }

        fn finish(&mut self) -> Option<Fingerprints> {
            self.c.finish(self.notes)
        }
    }

    /// (track, tick on, tick off, channel, pitch) notes through a collector, tracks in order.
    fn fp(unit: TickUnit, notes: &[(u32, u64, u64, u8, u8)]) -> Option<Fingerprints> {
        let mut w = Walk::new(Some(unit));
        let tracks = notes.iter().map(|n| n.0).max().unwrap_or(0);
        for t in 0..=tracks {
            let mut events: Vec<(u64, bool, u8, u8)> = Vec::new();
            for &(_, on, off, ch, p) in notes.iter().filter(|n| n.0 == t) {
                events.push((on, true, ch, p));
                events.push((off, false, ch, p));
            }
            // Offs before ons at one tick, as sequencers write them.
            events.sort_by_key(|e| (e.0, e.1));
            let mut last = 0;
            for (tick, on, ch, p) in events {
                if on {
                    w.on(tick, ch, p);
                } else {
                    w.off(tick, ch, p);
                }
                last = tick;
            }
            w.end_track(last);
        }
        w.finish()
    }

    fn ppq(t: u16) -> TickUnit {
        TickUnit::per_quarter(t).unwrap()
    }

    const TUNE: &[(u32, u64, u64, u8, u8)] = &[
        (0, 0, 480, 0, 60),
        (0, 480, 960, 0, 64),
        (0, 960, 1920, 0, 67),
        (1, 0, 240, 9, 36),
        (1, 480, 600, 9, 38),
        (1, 960, 1000, 9, 36),
    ];

    fn scaled(notes: &[(u32, u64, u64, u8, u8)], num: u64, den: u64) -> Vec<(u32, u64, u64, u8, u8)> {
        notes
            .iter()
            .map(|&(t, on, off, ch, p)| (t, on * num / den, off * num / den, ch, p))
            .collect()
    }

    #[test]
    fn resolution_track_layout_and_channels_do_not_matter() {
        let a = fp(ppq(480), TUNE).unwrap();
        assert_eq!(fp(ppq(96), &scaled(TUNE, 1, 5)).unwrap(), a);
        assert_eq!(fp(ppq(960), &scaled(TUNE, 2, 1)).unwrap(), a);
        // All in one track (format 0), and the melody moved to another channel.
        let merged: Vec<_> = TUNE
            .iter()
            .map(|&(_, on, off, ch, p)| (0, on, off, if ch == 0 { 5 } else { ch }, p))
            .collect();
        assert_eq!(fp(ppq(480), &merged).unwrap(), a);
        // A note one tick short still rounds to its written length.
        let mut short = TUNE.to_vec();
        short[2].2 -= 1;
        assert_eq!(fp(ppq(480), &short).unwrap(), a);
    }

    #[test]
    fn other_notes_other_fingerprints() {
        let a = fp(ppq(480), TUNE).unwrap();
        let mut other_pitch = TUNE.to_vec();
        other_pitch[1].4 = 65;
        let mut other_onset = TUNE.to_vec();
        other_onset[1].1 += 120;
        let mut other_length = TUNE.to_vec();
        other_length[2].2 += 240;
        let mut fewer = TUNE.to_vec();
        fewer.pop();
        let mut doubled = TUNE.to_vec();
        doubled.push(TUNE[0]);
        // The drum note 36 is not the pitched C2.
        let mut drum_as_pitch = TUNE.to_vec();
        drum_as_pitch[3].3 = 1;
        for (what, notes) in [
            ("pitch", other_pitch),
            ("onset", other_onset),
            ("length", other_length),
            ("one note fewer", fewer),
            ("a doubled note", doubled),
            ("a drum note on a pitched channel", drum_as_pitch),
        ] {
            let b = fp(ppq(480), &notes).unwrap();
            assert_ne!(b.exact, a.exact, "{what}");
        }
    }

    #[test]
    fn transposition_changes_only_the_exact_digest() {
        let a = fp(ppq(480), TUNE).unwrap();
        let up: Vec<_> = TUNE
            .iter()
            .map(|&(t, on, off, ch, p)| (t, on, off, ch, if ch == 9 { p } else { p + 5 }))
            .collect();
        let b = fp(ppq(480), &up).unwrap();
        assert_ne!(b.exact, a.exact);
        assert_eq!(b.transposed, a.transposed);
        // Transposing the drums too is other music.
        let all_up: Vec<_> = TUNE
            .iter()
            .map(|&(t, on, off, ch, p)| (t, on, off, ch, p + 5))
            .collect();
        assert_ne!(fp(ppq(480), &all_up).unwrap().transposed, a.transposed);
        assert_ne!(a.exact, a.transposed);
    }

    #[test]
    fn retriggers_and_notes_left_sounding() {
        // A second note-on of a sounding key ends the first; a note left on ends with its track.
        let retrigger = fp(ppq(96), &[(0, 0, 96, 0, 60), (0, 48, 96, 0, 60)]);
        let explicit = fp(ppq(96), &[(0, 0, 48, 0, 60), (0, 48, 96, 0, 60)]);
        assert_eq!(retrigger, explicit);
        let mut w = Walk::new(Some(ppq(96)));
        w.on(0, 0, 60);
        w.end_track(192);
        let left_on = w.finish();
        assert_eq!(left_on, fp(ppq(96), &[(0, 0, 192, 0, 60)]));
    }

    #[test]
    fn no_notes_or_no_unit_no_fingerprint() {
        assert_eq!(Walk::new(Some(ppq(480))).finish(), None);
        assert_eq!(fp(ppq(480), TUNE).map(|_| ()), Some(()));
        let mut w = Walk::new(None);
        w.on(0, 0, 60);
        w.end_track(10);
        assert_eq!(w.finish(), None);
        w.c.reset();
        w.c.enabled = false;
        w.c.start(Some(ppq(480)));
        w.on(0, 0, 60);
        w.end_track(10);
        assert_eq!(w.finish(), None);
        assert_eq!(TickUnit::per_quarter(0), None);
        assert_eq!(TickUnit::smpte(23, 40), None);
        assert_eq!(TickUnit::smpte(25, 0), None);
    }

    #[test]
    fn smpte_counts_seconds_apart_from_beats() {
        // 25 fps x 40 ticks = 1000 ticks per second; 30000/1001 fps counts true seconds too.
        let beats = fp(ppq(1000), TUNE).unwrap();
        let seconds = fp(TickUnit::smpte(25, 40).unwrap(), TUNE).unwrap();
        assert_ne!(seconds.exact, beats.exact);
        let mut c = Collector::new();
        c.start(TickUnit::smpte(29, 100));
        // 30000/1001 frames per second of 100 ticks: 2997 ticks are 0.99999 s, 48 steps.
        assert_eq!(c.steps(2997), 48);
    }

    #[test]
    fn a_reused_collector_forgets_the_previous_file() {
        let a = fp(ppq(480), TUNE);
        // A file whose notes were gathered but which was never finished (it turned out unreadable), then one that
        // was: the next file starts clean either way.
        for finished in [false, true] {
            let mut w = Walk::new(Some(ppq(480)));
            w.on(0, 3, 70);
            w.on(10, 4, 71);
            w.off(20, 3, 70);
            w.end_track(30);
            if finished {
                assert!(w.finish().is_some());
            }
            w.c.reset();
            w.c.start(Some(ppq(480)));
            w.notes = 0;
            for &(_, on, off, ch, p) in TUNE {
                w.on(on, ch, p);
                w.off(off, ch, p);
            }
            w.end_track(2000);
            assert_eq!(w.finish(), a, "previous file finished: {finished}");
        }
    }

    #[test]
    fn steps_round_half_up_like_exact_division() {
        for tpq in [1u16, 3, 7, 24, 96, 100, 120, 384, 480, 960, 1000, 1024, 65535] {
            let mut c = Collector::new();
            c.start(Some(ppq(tpq)));
            let t = u64::from(tpq);
            // Every tick of the first 5000, and ticks around quarters up to 60,000 quarter notes, both sides of
            // where the fixed point hands over to the division.
            let far = (0..60_000u64)
                .step_by(997)
                .flat_map(|b| (b * t).saturating_sub(2)..b * t + 3);
            let edge = c.wide_below.saturating_sub(3)..c.wide_below + 3;
            for tick in (0..5000u64).chain(far).chain(edge).chain([u64::MAX / 200_000]) {
                let want = ((u128::from(tick) * 2 * u128::from(GRID) + u128::from(t)) / (2 * u128::from(t))) as u64;
                assert_eq!(c.steps(tick), want, "tpq {tpq} tick {tick}");
            }
        }
        let mut c = Collector::new();
        c.start(Some(ppq(96)));
        assert_eq!(c.steps(1), 1, "half a step rounds up");
        c.start(Some(ppq(480)));
        assert_eq!((c.steps(4), c.steps(5)), (0, 1));
    }

    /// splitmix64, for the streams below.
    fn next(x: &mut u64) -> u64 {
        *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn a_reused_collector_gives_the_first_collectors_digests_over_long_files() {
        // Long streams of notes on many keys, with onsets now and then past the fixed point's range or past 32 bits
        // (the open table's far mark), through one collector reused across files whose timings change (the
        // derived fixed point is kept from one file to the next only for the same timing), against the first
        // collector.
        let (mut far_notes, mut long_files, mut unit_changes) = (0, 0, 0);
        let mut r = 0x0F1A_u64;
        let mut c = Collector::new();
        let mut last = None;
        for i in 0..60 {
            let units = [
                ppq(480),
                ppq(96),
                ppq(1),
                ppq(0x7FFF),
                TickUnit::smpte(29, 255).unwrap(),
            ];
            let unit = units[(next(&mut r) % 5) as usize];
            let mut reference = reference::Reference::new(Some(unit));
            unit_changes += usize::from(last.is_some_and(|l| l != unit));
            last = Some(unit);
            c.reset();
            c.start(Some(unit));
            let mut active = vec![0u16; 2048];
            let mut notes = 0u64;
            let events = next(&mut r) % 4000;
            let mut tick = 0u64;
            for e in 0..events {
                let jump = next(&mut r) % 500;
                tick = tick.saturating_add(match jump {
                    0 => 1 << 33,
                    1 => 1 << 22,
                    _ => jump % 7,
                });
                let ch = [0u8, 3, 9][(next(&mut r) % 3) as usize];
                let pitch = (20 + next(&mut r) % 60) as u8;
                let on = next(&mut r) & 1 == 0;
                notes += u64::from(reference::feed(
                    &mut reference,
                    &mut c,
                    &mut active,
                    tick,
                    (ch, pitch),
                    on,
                ));
                // A track ends now and then: every note still sounding ends, ticks start again.
                if e % 1500 == 1499 {
                    reference.end_track(tick);
                    for (k, a) in active.iter_mut().enumerate() {
                        if *a > 0 {
                            *a = 0;
                            c.note_off(k, tick);
                        }
                    }
                    tick = 0;
                }
                far_notes += usize::from(tick >= c.fast_below);
            }
            reference.end_track(tick);
            for (k, a) in active.iter().enumerate() {
                if *a > 0 {
                    c.note_off(k, tick);
                }
            }
            long_files += usize::from(notes > 1000);
            assert_eq!(c.finish(notes), reference.finish(), "stream {i}");
        }
        assert!(
            far_notes > 100 && long_files > 10 && unit_changes > 20,
            "{far_notes} {long_files} {unit_changes}"
        );
    }

    #[test]
    fn the_fast_path_gives_the_general_value() {
        let units = [1u16, 3, 7, 24, 48, 49, 96, 480, 960, 0x7FFF].map(ppq);
        let smpte = [(24, 1), (25, 40), (29, 100), (29, 255), (30, 255)].map(|(f, t)| TickUnit::smpte(f, t).unwrap());
        for unit in units.into_iter().chain(smpte) {
            let mut c = Collector::new();
            c.start(Some(unit));
            let f = c.fast_below;
            assert!(f > 0 && f <= c.wide_below, "{unit:?}");
            // The fast path's bounds hold up to its last tick, and ends just past it take the general path.
            let fits = c.step.checked_mul(f - 1).and_then(|v| v.checked_add(1 << 31)).is_some();
            assert!(c.steps(f - 1) < 1 << 24 && fits, "{unit:?}");
            let ticks = [
                0,
                1,
                2,
                f / 3,
                f / 2,
                f - 2,
                f - 1,
                f,
                f + 1,
                c.wide_below,
                c.wide_below + 7,
            ];
            for &on in &ticks {
                for &end in ticks.iter().filter(|&&end| on <= end && end < f) {
                    assert_eq!(near_note(c.step, on, end), c.far_note(on, end), "{unit:?} {on}..{end}");
                }
            }
        }
    }
}
