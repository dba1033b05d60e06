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
//! two lanes, cut to 16 bytes. A few multiplies per note: the cost against the analysis is measured by
//! [`measure_cost`] (`cargo run --release -p midi-tui-engine --example analyze_speed`). A file without notes, or
//! whose timing division is unusable, gets no fingerprint: it never groups with anything.
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

/// No note sounding on this key.
const NONE: u32 = u32::MAX;
/// MIDI channel index (0-based) of General MIDI percussion.
const DRUM_CHANNEL: u8 = 9;
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

/// Gathers one file's notes while the analysis walks it, as per-class sums of note hashes (a multiset: the order
/// of notes in the file depends on the track layout); reused across files by a worker thread.
///
/// A note's hash mixes its rounded onset and duration (one 64x64-bit multiply folded, as wyhash does); its class
/// is its pitch, or 128 + its note number on the drum channel. Keeping one sum per class is what makes the
/// transposition-blind digest cheap: a transposition shifts the pitched classes, so folding them from the lowest
/// one on gives the same value.
pub(crate) struct Collector {
    /// Off for the analysis alone (the cost measurement).
    pub enabled: bool,
    /// Steps per tick as 32.32 fixed point, rounded up; 0 when this file gets no fingerprint.
    step: u64,
    /// Below this tick the fixed point rounds exactly as division does (see [`Collector::steps`]).
    fast_below: u64,
    /// The timing: one beat (or second) is `unit.ticks / unit.per` ticks.
    unit: TickUnit,
    smpte: bool,
    /// Onset (in grid steps, saturated below NONE) of the note sounding on each `channel * 128 + pitch` of the
    /// current track, or NONE.
    open: Box<[u32; 2048]>,
    /// Keys with a note sounding.
    sounding: u32,
    sums: Box<[[u64; 2]; CLASSES]>,
    count: u64,
}

impl Collector {
    pub fn new() -> Self {
        Collector {
            enabled: true,
            step: 0,
            fast_below: 0,
            unit: TickUnit {
                ticks: 1,
                per: 1,
                smpte: false,
            },
            smpte: false,
            open: Box::new([NONE; 2048]),
            sounding: 0,
            sums: Box::new([[0; 2]; CLASSES]),
            count: 0,
        }
    }

    /// Forget the previous file (also one whose walk stopped half-way).
    pub fn reset(&mut self) {
        if self.sounding > 0 {
            self.open.fill(NONE);
            self.sounding = 0;
        }
        if self.count > 0 {
            self.sums.fill([0; 2]);
        }
        self.count = 0;
        self.step = 0;
    }

    /// The file's timing, from its header, before any note: `None` leaves the file without fingerprint.
    pub fn start(&mut self, unit: Option<TickUnit>) {
        self.step = match unit {
            Some(u) if self.enabled => {
                // ceil(2^32 · GRID · per / ticks): rounding up makes a half step round up, as exact arithmetic
                // would, and stays exact for every onset below about 2^31 / GRID steps.
                let num = (u128::from(GRID) * u128::from(u.per)) << 32;
                u64::try_from(num.div_ceil(u128::from(u.ticks))).unwrap_or(0)
            }
            _ => 0,
        };
        if let Some(u) = unit {
            self.unit = u;
            self.fast_below = (1u64 << 31) / u.ticks;
        }
        self.smpte = unit.is_some_and(|u| u.smpte);
    }

    /// Ticks to grid steps, half a step rounding up: `(2·t·GRID·per + ticks) / (2·ticks)`. Below `fast_below` a
    /// fixed-point multiply gives the same (its error, under t/2^32 steps, is smaller than the 1/(2·ticks) that
    /// separates any other value from a half step); past it, the division.
    #[inline(always)]
    fn steps(&self, tick: u64) -> u64 {
        if tick < self.fast_below {
            return ((u128::from(tick) * u128::from(self.step) + (1 << 31)) >> 32) as u64;
        }
        let u = self.unit;
        let num = u128::from(tick) * u128::from(2 * GRID * u.per) + u128::from(u.ticks);
        u64::try_from(num / u128::from(2 * u.ticks)).unwrap_or(u64::MAX)
    }

    #[inline(always)]
    pub fn note_on(&mut self, tick: u64, ch: u8, pitch: u8) {
        if self.step == 0 {
            return;
        }
        let key = (usize::from(ch & 0x0F) << 7) | usize::from(pitch & 0x7F);
        let on = self.open[key];
        if on == NONE {
            self.sounding += 1;
        } else {
            // A second note-on of a sounding key ends the first note there.
            self.close(on, tick, ch, pitch);
        }
        self.open[key] = self.steps(tick).min(u64::from(NONE - 1)) as u32;
    }

    #[inline(always)]
    pub fn note_off(&mut self, tick: u64, ch: u8, pitch: u8) {
        if self.step == 0 {
            return;
        }
        let key = (usize::from(ch & 0x0F) << 7) | usize::from(pitch & 0x7F);
        let on = std::mem::replace(&mut self.open[key], NONE);
        if on != NONE {
            self.sounding -= 1;
            self.close(on, tick, ch, pitch);
        }
    }

    /// Add one note (onset in steps, end in ticks) to its class sum.
    #[inline(always)]
    fn close(&mut self, on: u32, end: u64, ch: u8, pitch: u8) {
        let q_on = u64::from(on);
        let dur = self.steps(end).saturating_sub(q_on).min(0xFF_FFFF);
        let x = (q_on << 24) ^ dur;
        let m = u128::from(x ^ 0xA076_1D64_78BD_642F) * u128::from(x ^ 0xE703_7ED1_A0B4_28DB);
        let (lo, hi) = (m as u64, (m >> 64) as u64);
        let class = usize::from(pitch & 0x7F) | if ch & 0x0F == DRUM_CHANNEL { 128 } else { 0 };
        let sum = &mut self.sums[class];
        sum[0] = sum[0].wrapping_add(lo ^ hi);
        sum[1] = sum[1].wrapping_add(hi.wrapping_add(lo.rotate_left(32)));
        self.count += 1;
    }

    /// The current track ends at `tick`: notes still sounding end there.
    pub fn end_track(&mut self, tick: u64) {
        if self.sounding == 0 {
            return;
        }
        for key in 0..2048usize {
            let on = std::mem::replace(&mut self.open[key], NONE);
            if on != NONE {
                self.close(on, tick, (key >> 7) as u8, (key & 0x7F) as u8);
            }
        }
        self.sounding = 0;
    }

    /// The digests of the notes gathered; `None` without notes or without a usable timing.
    pub fn finish(&self) -> Option<Fingerprints> {
        if self.step == 0 || self.count == 0 {
            return None;
        }
        let pitched_lo = (0..128).find(|&c| self.sums[c] != [0; 2]);
        let (mut exact, mut transposed) = ([0u64; 2], [0u64; 2]);
        for (c, &sum) in self.sums.iter().enumerate() {
            // An empty class adds nothing (and no pitched class below the lowest is filled).
            if sum == [0; 2] {
                continue;
            }
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
        Some(Fingerprints {
            exact: digest(b"notes", self.smpte, self.count, exact),
            transposed: digest(b"transposed", self.smpte, self.count, transposed),
        })
    }
}

fn digest(domain: &[u8], smpte: bool, count: u64, lanes: [u64; 2]) -> Fingerprint {
    let mut buf = [0u8; 64];
    let tag: &[u8] = if smpte { b"seconds" } else { b"beats" };
    let mut n = 0;
    for part in [b"midi-tui fingerprint v1 ".as_slice(), domain, tag] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    let mut h = blake3::Hasher::new();
    h.update(&buf[..n]);
    h.update(&GRID.to_le_bytes());
    h.update(&count.to_le_bytes());
    h.update(&lanes[0].to_le_bytes());
    h.update(&lanes[1].to_le_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Fingerprint(out)
}

/// What the fingerprints add to the analysis of some files: the median time of one pass over them without and with
/// the fingerprints, over interleaved rounds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FingerprintCost {
    pub files: usize,
    pub rounds: usize,
    pub parse_seconds: f64,
    pub parse_with_fingerprint_seconds: f64,
    /// `with / without - 1`: 0.03 is 3% more than the analysis alone.
    pub overhead: f64,
}

/// Measure [`FingerprintCost`] on `payloads` (one thread, its CPU time, `rounds` passes each way, alternating so
/// that both see the same machine state).
pub fn measure_cost(payloads: &[Vec<u8>], rounds: usize) -> FingerprintCost {
    use super::analyze::{AnalyzeOptions, analyze_with_options};
    let rounds = rounds.max(1);
    let pass = |fingerprint: bool| {
        let t = thread_cpu_seconds();
        for p in payloads {
            let _ = std::hint::black_box(analyze_with_options(
                std::hint::black_box(p),
                AnalyzeOptions { fingerprint },
            ));
        }
        thread_cpu_seconds() - t
    };
    // One pass each way first: caches and the thread's scratch buffers warm.
    pass(false);
    pass(true);
    let (mut without, mut with) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for i in 0..rounds {
        if i % 2 == 0 {
            without.push(pass(false));
            with.push(pass(true));
        } else {
            with.push(pass(true));
            without.push(pass(false));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut without), median(&mut with));
    FingerprintCost {
        files: payloads.len(),
        rounds,
        parse_seconds: a,
        parse_with_fingerprint_seconds: b,
        overhead: if a > 0.0 { b / a - 1.0 } else { 0.0 },
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

/// CPU time of the calling thread: on a shared machine, wall time would count other processes' turns.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (track, tick on, tick off, channel, pitch) notes through a collector, tracks in order.
    fn fp(unit: TickUnit, notes: &[(u32, u64, u64, u8, u8)]) -> Option<Fingerprints> {
        let mut c = Collector::new();
        c.start(Some(unit));
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
                    c.note_on(tick, ch, p);
                } else {
                    c.note_off(tick, ch, p);
                }
                last = tick;
            }
            c.end_track(last);
        }
        c.finish()
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
        let mut c = Collector::new();
        c.start(Some(ppq(96)));
        c.note_on(0, 0, 60);
        c.end_track(192);
        let left_on = c.finish();
        assert_eq!(left_on, fp(ppq(96), &[(0, 0, 192, 0, 60)]));
    }

    #[test]
    fn no_notes_or_no_unit_no_fingerprint() {
        let mut c = Collector::new();
        c.start(Some(ppq(480)));
        assert_eq!(c.finish(), None);
        assert_eq!(fp(ppq(480), TUNE).map(|_| ()), Some(()));
        let mut c = Collector::new();
        c.start(None);
        c.note_on(0, 0, 60);
        c.end_track(10);
        assert_eq!(c.finish(), None);
        c.reset();
        c.enabled = false;
        c.start(Some(ppq(480)));
        c.note_on(0, 0, 60);
        c.end_track(10);
        assert_eq!(c.finish(), None);
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
        let mut c = Collector::new();
        c.start(Some(ppq(480)));
        c.note_on(0, 3, 70);
        c.note_on(0, 4, 71);
        // The walk stopped mid-track: notes still open, sums set.
        c.reset();
        c.start(Some(ppq(480)));
        for &(_, on, off, ch, p) in TUNE {
            c.note_on(on, ch, p);
            c.note_off(off, ch, p);
        }
        c.end_track(2000);
        assert_eq!(c.finish(), a);
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
            let edge = c.fast_below.saturating_sub(3)..c.fast_below + 3;
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
}
