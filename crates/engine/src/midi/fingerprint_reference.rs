//! Test oracle for the fingerprints: the collector as first written (the digests stored in users' databases), kept
//! verbatim to check that every faster collector gives the same digests, and the differential tests against it.

use super::{Fingerprint, Fingerprints, GRID, TickUnit};

const NONE: u32 = u32::MAX;
const DRUM_CHANNEL: u8 = 9;
const CLASSES: usize = 256;

/// The first collector: steps at the note-on, its own sweep at a track's end, its own note count, a 256-class fold
/// and piecewise BLAKE3 input.
pub(super) struct Reference {
    step: u64,
    fast_below: u64,
    unit: TickUnit,
    smpte: bool,
    open: Box<[u32; 2048]>,
    sounding: u32,
    sums: Box<[[u64; 2]; CLASSES]>,
    count: u64,
}

impl Reference {
    pub fn new(unit: Option<TickUnit>) -> Self {
        let mut r = Reference {
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
        };
        r.step = match unit {
            Some(u) => {
                let num = (u128::from(GRID) * u128::from(u.per)) << 32;
                u64::try_from(num.div_ceil(u128::from(u.ticks))).unwrap_or(0)
            }
            _ => 0,
        };
        if let Some(u) = unit {
            r.unit = u;
            r.fast_below = (1u64 << 31) / u.ticks;
        }
        r.smpte = unit.is_some_and(|u| u.smpte);
        r
    }

    fn steps(&self, tick: u64) -> u64 {
        if tick < self.fast_below {
            return ((u128::from(tick) * u128::from(self.step) + (1 << 31)) >> 32) as u64;
        }
        let u = self.unit;
        let num = u128::from(tick) * u128::from(2 * GRID * u.per) + u128::from(u.ticks);
        u64::try_from(num / u128::from(2 * u.ticks)).unwrap_or(u64::MAX)
    }

    pub fn note_on(&mut self, tick: u64, ch: u8, pitch: u8) {
        if self.step == 0 {
            return;
        }
        let key = (usize::from(ch & 0x0F) << 7) | usize::from(pitch & 0x7F);
        let on = self.open[key];
        if on == NONE {
            self.sounding += 1;
        } else {
            self.close(on, tick, ch, pitch);
        }
        self.open[key] = self.steps(tick).min(u64::from(NONE - 1)) as u32;
    }

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

    pub fn finish(&self) -> Option<Fingerprints> {
        if self.step == 0 || self.count == 0 {
            return None;
        }
        let pitched_lo = (0..128).find(|&c| self.sums[c] != [0; 2]);
        let (mut exact, mut transposed) = ([0u64; 2], [0u64; 2]);
        for (c, &sum) in self.sums.iter().enumerate() {
            if sum == [0; 2] {
                continue;
            }
            let shifted = match pitched_lo {
                Some(base) if c < 128 => c - base,
                _ => c,
            };
            for lane in 0..2 {
                exact[lane] = exact[lane].wrapping_add(sum[lane].wrapping_mul(super::FOLD[c][lane]));
                transposed[lane] = transposed[lane].wrapping_add(sum[lane].wrapping_mul(super::FOLD[shifted][lane]));
            }
        }
        Some(Fingerprints {
            exact: digest(b"notes", self.smpte, self.count, exact),
            transposed: digest(b"transposed", self.smpte, self.count, transposed),
        })
    }
}

/// One note-on (`on`) or note-off of `key` (channel, pitch) at `tick`, fed to the first collector and to `c` the
/// way the walker drives it (`active`: the walker's count of sounding notes per key). True when a note was counted.
pub(super) fn feed(
    reference: &mut Reference,
    c: &mut super::Collector,
    active: &mut [u16],
    tick: u64,
    (ch, pitch): (u8, u8),
    on: bool,
) -> bool {
    let k = usize::from(ch) << 7 | usize::from(pitch);
    if on {
        reference.note_on(tick, ch, pitch);
        c.note_on(k, tick, active[k] != 0);
        active[k] = active[k].saturating_add(1);
    } else {
        reference.note_off(tick, ch, pitch);
        if active[k] > 0 {
            active[k] -= 1;
            c.note_off(k, tick);
        }
    }
    on
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

/// splitmix64: the random streams of the differential tests, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A timing division of every kind the header can name: ticks per quarter (small, common, huge) or SMPTE.
fn random_division(r: &mut Rng) -> u16 {
    match r.below(10) {
        0 => [1, 3, 7, 5000, 0x7FFF][r.below(5) as usize],
        1 => {
            let fps = [24u16, 25, 29, 30][r.below(4) as usize];
            0x8000 | ((256 - fps) << 8) | (1 + r.below(255)) as u16
        }
        _ => [24, 96, 120, 192, 384, 480, 960, 1000, 1024][r.below(9) as usize],
    }
}

fn unit_of(division: u16) -> Option<TickUnit> {
    if division & 0x8000 != 0 {
        let fps = -((division >> 8) as u8 as i8 as i16);
        TickUnit::smpte(u8::try_from(fps).unwrap_or(0), (division & 0xFF) as u8)
    } else {
        TickUnit::per_quarter(division)
    }
}

fn vlq(mut v: u64, out: &mut Vec<u8>) {
    let mut groups = vec![(v & 0x7F) as u8];
    v >>= 7;
    while v > 0 {
        groups.push((v & 0x7F) as u8 | 0x80);
        v >>= 7;
    }
    out.extend(groups.iter().rev());
}

/// A delta time: mostly short, sometimes past the collector's fixed-point range (up to 2^48 ticks, the most one
/// delta can carry).
fn random_delta(r: &mut Rng) -> u64 {
    match r.below(40) {
        0 => r.below(1 << 48),
        1..=3 => r.below(1 << 24),
        4..=15 => 0,
        _ => r.below(200),
    }
}

/// A random clean file (format 1, 1-4 tracks of notes on a few keys of channels 0, 1 and 9, with retriggers,
/// note-offs of silent keys, velocity-0 note-offs and notes left sounding) and the reference collector's digests of
/// it, computed from the events as written.
fn random_file(r: &mut Rng) -> (Vec<u8>, Option<Fingerprints>) {
    let division = random_division(r);
    let mut reference = Reference::new(unit_of(division));
    let tracks = 1 + r.below(4);
    let mut smf = b"MThd\0\0\0\x06\0\x01".to_vec();
    smf.extend_from_slice(&(tracks as u16).to_be_bytes());
    smf.extend_from_slice(&division.to_be_bytes());
    for _ in 0..tracks {
        let mut body = Vec::new();
        let mut tick = 0u64;
        for _ in 0..r.below(120) {
            let delta = random_delta(r);
            tick = tick.saturating_add(delta);
            vlq(delta, &mut body);
            let ch = [0u8, 1, 9][r.below(3) as usize];
            let pitch = [0u8, 36, 38, 60, 64, 127][r.below(6) as usize];
            match r.below(10) {
                0..=4 => {
                    body.extend_from_slice(&[0x90 | ch, pitch, 1 + r.below(127) as u8]);
                    reference.note_on(tick, ch, pitch);
                }
                5 | 6 => {
                    body.extend_from_slice(&[0x80 | ch, pitch, 64]);
                    reference.note_off(tick, ch, pitch);
                }
                7 | 8 => {
                    body.extend_from_slice(&[0x90 | ch, pitch, 0]);
                    reference.note_off(tick, ch, pitch);
                }
                _ => body.extend_from_slice(&[0xC0 | ch, r.below(128) as u8]),
            }
        }
        let delta = random_delta(r);
        tick = tick.saturating_add(delta);
        vlq(delta, &mut body);
        body.extend_from_slice(&[0xFF, 0x2F, 0x00]);
        reference.end_track(tick);
        smf.extend_from_slice(b"MTrk");
        smf.extend_from_slice(&(body.len() as u32).to_be_bytes());
        smf.extend(body);
    }
    (smf, reference.finish())
}

#[test]
fn the_analysis_gives_the_first_collectors_digests() {
    let mut r = Rng(0x5eed);
    let (mut with, mut smpte, mut far) = (0, 0, 0);
    for i in 0..3000 {
        let (smf, want) = random_file(&mut r);
        let m = crate::midi::analyze(&smf).unwrap_or_else(|e| panic!("file {i}: {e}"));
        assert_eq!(m.notes_fingerprint, want.map(|f| f.exact), "file {i}: {smf:02x?}");
        assert_eq!(m.transposed_fingerprint, want.map(|f| f.transposed), "file {i}");
        with += usize::from(want.is_some());
        smpte += usize::from(want.is_some() && smf[12] & 0x80 != 0);
        far += usize::from(want.is_some() && m.duration_ticks > 1 << 31);
    }
    // The streams reach every path: fingerprinted files, SMPTE ones, ticks past the fixed-point range.
    assert!(with > 2000 && smpte > 100 && far > 300, "{with} {smpte} {far}");
}

#[test]
fn the_collector_gives_the_first_collectors_digests_up_to_the_last_tick() {
    // Ticks near u64::MAX (where the walker's clock saturates) are out of reach of a file's deltas: driven directly.
    let mut r = Rng(7);
    for i in 0..2000 {
        let unit = unit_of(random_division(&mut r));
        let mut reference = Reference::new(unit);
        let mut c = super::Collector::new();
        c.start(unit);
        let mut active = vec![0u16; 2048];
        let mut notes = 0;
        let mut tick = if r.below(2) == 0 {
            u64::MAX - r.below(1 << 40)
        } else {
            0
        };
        for _ in 0..r.below(60) {
            tick = tick.saturating_add(match r.below(4) {
                0 => 0,
                1 => r.below(1 << 36),
                _ => r.below(1000),
            });
            let (ch, pitch) = ([0u8, 9][r.below(2) as usize], [40u8, 41][r.below(2) as usize]);
            notes += u64::from(feed(
                &mut reference,
                &mut c,
                &mut active,
                tick,
                (ch, pitch),
                r.below(2) == 0,
            ));
        }
        reference.end_track(tick);
        for (k, a) in active.iter().enumerate() {
            if *a > 0 {
                c.note_off(k, tick);
            }
        }
        assert_eq!(c.finish(notes), reference.finish(), "stream {i}");
    }
}
