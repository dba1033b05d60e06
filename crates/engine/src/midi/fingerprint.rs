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
//! The notes are a multiset (their order in the file depends on the track layout), so each note is mixed into a
//! 64-bit value and the values are summed, in two independently seeded lanes: no buffer sort, O(1) per note. The
//! digest is BLAKE3 over a domain tag, the grid, the note count and the lane sums, cut to 16 bytes. A file without
//! notes, or whose timing division is unusable, gets no fingerprint: it never groups with anything.
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

/// No note open on this key.
const NONE: u32 = u32::MAX;
/// End of a note still sounding.
const OPEN: u64 = u64::MAX;
/// MIDI channel index (0-based) of General MIDI percussion.
const DRUM_CHANNEL: usize = 9;

/// One note as read: ticks, and `channel * 128 + pitch`.
#[derive(Clone, Copy)]
struct RawNote {
    on: u64,
    end: u64,
    key: u16,
}

/// Gathers the notes of one file while the analysis walks it; reused across files by a worker thread.
pub(crate) struct Collector {
    /// Off for the analysis alone (the cost measurement).
    pub enabled: bool,
    /// Index in `notes` of the note sounding on each `channel * 128 + pitch` of the current track.
    open: Box<[u32; 2048]>,
    notes: Vec<RawNote>,
    /// Where the current track's notes start in `notes`.
    track_start: usize,
}

impl Collector {
    pub fn new() -> Self {
        Collector {
            enabled: true,
            open: Box::new([NONE; 2048]),
            notes: Vec::new(),
            track_start: 0,
        }
    }

    /// Forget the previous file (`open` is already all NONE after every track).
    pub fn reset(&mut self) {
        self.notes.clear();
        self.track_start = 0;
        if self.notes.capacity() > 1 << 20 {
            self.notes.shrink_to(1 << 14);
        }
    }

    #[inline(always)]
    pub fn note_on(&mut self, tick: u64, ch: u8, pitch: u8) {
        if !self.enabled {
            return;
        }
        let key = (usize::from(ch & 0x0F) << 7) | usize::from(pitch & 0x7F);
        let slot = self.open[key];
        if let Some(n) = self.notes.get_mut(slot as usize) {
            n.end = tick;
        }
        // Past 4 G notes the digest keeps the first ones' durations open; such a file is not music anyway.
        self.open[key] = u32::try_from(self.notes.len()).unwrap_or(NONE);
        self.notes.push(RawNote {
            on: tick,
            end: OPEN,
            key: key as u16,
        });
    }

    #[inline(always)]
    pub fn note_off(&mut self, tick: u64, ch: u8, pitch: u8) {
        if !self.enabled {
            return;
        }
        let key = (usize::from(ch & 0x0F) << 7) | usize::from(pitch & 0x7F);
        let slot = std::mem::replace(&mut self.open[key], NONE);
        if let Some(n) = self.notes.get_mut(slot as usize) {
            n.end = tick;
        }
    }

    /// The current track ends at `tick`: notes still sounding end there.
    pub fn end_track(&mut self, tick: u64) {
        if !self.enabled {
            return;
        }
        let start = self.track_start.min(self.notes.len());
        for n in &mut self.notes[start..] {
            if n.end == OPEN {
                n.end = tick;
                self.open[usize::from(n.key)] = NONE;
            }
        }
        self.track_start = self.notes.len();
    }

    /// The digests of the notes gathered; `None` without notes, without a usable unit, or when disabled.
    pub fn finish(&self, unit: Option<TickUnit>) -> Option<Fingerprints> {
        if !self.enabled || self.notes.is_empty() {
            return None;
        }
        let unit = unit?;
        let q = Quantizer::new(unit);
        let lowest = self
            .notes
            .iter()
            .filter(|n| usize::from(n.key >> 7) != DRUM_CHANNEL)
            .map(|n| n.key & 0x7F)
            .min()
            .unwrap_or(0);
        let (mut exact, mut transposed) = ([0u64; 2], [0u64; 2]);
        for n in &self.notes {
            let on = q.steps(n.on);
            // A note whose end was never set (more notes than `open` can index) lasts to its own onset.
            let end = if n.end == OPEN { on } else { q.steps(n.end) };
            let drum = usize::from(n.key >> 7) == DRUM_CHANNEL;
            let pitch = n.key & 0x7F;
            let relative = if drum { pitch } else { pitch - lowest };
            let base = (on << 32) ^ (end.saturating_sub(on).min(0xFF_FFFF) << 8) ^ (u64::from(drum) << 7);
            add(&mut exact, base | u64::from(pitch));
            add(&mut transposed, base | u64::from(relative));
        }
        let count = self.notes.len() as u64;
        Some(Fingerprints {
            exact: digest(b"notes", unit.smpte, count, exact),
            transposed: digest(b"transposed", unit.smpte, count, transposed),
        })
    }
}

/// Ticks to grid steps, rounding half up: `(2·t·GRID·per + ticks) / (2·ticks)`, by a multiply instead of a
/// division where the numerator fits 32 bits (Lemire, Kaser & Kurz 2019: exact for every 32-bit numerator).
struct Quantizer {
    scale: u64,
    bias: u64,
    divisor: u64,
    magic: u64,
}

impl Quantizer {
    fn new(u: TickUnit) -> Self {
        let divisor = 2 * u.ticks;
        Quantizer {
            scale: 2 * GRID * u.per,
            bias: u.ticks,
            divisor,
            magic: (u64::MAX / divisor).wrapping_add(1),
        }
    }

    #[inline(always)]
    fn steps(&self, tick: u64) -> u64 {
        let x = u128::from(tick) * u128::from(self.scale) + u128::from(self.bias);
        match u32::try_from(x) {
            Ok(x32) if self.divisor > 1 => ((u128::from(self.magic) * u128::from(x32)) >> 64) as u64,
            _ => (x / u128::from(self.divisor)) as u64,
        }
    }
}

/// Add one note to both lanes of a multiset sum; each lane is a differently seeded 64-bit finaliser (MurmurHash3's
/// fmix64), so equal sums in both lanes from different note sets are as unlikely as a 128-bit collision.
#[inline(always)]
fn add(lanes: &mut [u64; 2], v: u64) {
    lanes[0] = lanes[0].wrapping_add(fmix64(v ^ 0x9E37_79B9_7F4A_7C15));
    lanes[1] = lanes[1].wrapping_add(fmix64(v.rotate_left(29) ^ 0xC2B2_AE3D_27D4_EB4F));
}

#[inline(always)]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    k ^= k >> 33;
    k = k.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    k ^ (k >> 33)
}

fn digest(domain: &[u8], smpte: bool, count: u64, lanes: [u64; 2]) -> Fingerprint {
    let mut h = blake3::Hasher::new();
    h.update(b"midi-tui fingerprint v1 ");
    h.update(domain);
    h.update(if smpte { b" seconds" } else { b" beats  " });
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

/// Measure [`FingerprintCost`] on `payloads` (one thread, `rounds` passes each way, alternating so that both see
/// the same machine state).
pub fn measure_cost(payloads: &[Vec<u8>], rounds: usize) -> FingerprintCost {
    use super::analyze::{AnalyzeOptions, analyze_with_options};
    let rounds = rounds.max(1);
    let pass = |fingerprint: bool| {
        let t = std::time::Instant::now();
        for p in payloads {
            let _ = std::hint::black_box(analyze_with_options(
                std::hint::black_box(p),
                AnalyzeOptions { fingerprint },
            ));
        }
        t.elapsed().as_secs_f64()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// (track, tick on, tick off, channel, pitch) notes through a collector, tracks in order.
    fn fp(unit: TickUnit, notes: &[(u32, u64, u64, u8, u8)]) -> Option<Fingerprints> {
        let mut c = Collector::new();
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
        c.finish(Some(unit))
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
        let all_up: Vec<_> = TUNE.iter().map(|&(t, on, off, ch, p)| (t, on, off, ch, p + 5)).collect();
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
        c.note_on(0, 0, 60);
        c.end_track(192);
        let left_on = c.finish(Some(ppq(96)));
        assert_eq!(left_on, fp(ppq(96), &[(0, 0, 192, 0, 60)]));
    }

    #[test]
    fn no_notes_or_no_unit_no_fingerprint() {
        let c = Collector::new();
        assert_eq!(c.finish(Some(ppq(480))), None);
        assert_eq!(fp(ppq(480), TUNE).map(|_| ()), Some(()));
        let mut c = Collector::new();
        c.note_on(0, 0, 60);
        c.end_track(10);
        assert_eq!(c.finish(None), None);
        c.enabled = false;
        assert_eq!(c.finish(Some(ppq(480))), None);
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
        let q = Quantizer::new(TickUnit::smpte(29, 100).unwrap());
        // 2997 ticks at 2997/100 frames per second: 1 s = 48 steps.
        assert_eq!(q.steps(2997), 48);
    }

    #[test]
    fn quantizer_rounds_half_up_and_agrees_with_division() {
        for tpq in [1u16, 3, 24, 96, 100, 120, 384, 480, 960, 1024, 65535] {
            let q = Quantizer::new(ppq(tpq));
            let t = u64::from(tpq);
            for tick in (0..5000u64).chain([t / 2, t, 44_000_000, 1 << 40, u64::MAX / 1024]) {
                let want = ((u128::from(tick) * 2 * u128::from(GRID) + u128::from(t)) / (2 * u128::from(t))) as u64;
                assert_eq!(q.steps(tick), want, "tpq {tpq} tick {tick}");
            }
        }
        assert_eq!(Quantizer::new(ppq(96)).steps(1), 1, "half a step rounds up");
        assert_eq!(Quantizer::new(ppq(480)).steps(4), 0);
        assert_eq!(Quantizer::new(ppq(480)).steps(5), 1);
    }
}
