//! The musical content of one synthetic file: song parameters, parts and patterns, text events, SMF bytes.

use super::names::{self, Enc, Role, Text};
use super::rng::Rng;
use super::smf::{self, Ev, EvKind, PRI_META, PRI_OFF, PRI_ON, PRI_SETUP, WriteStyle};

const PURPOSE_PARAMS: u64 = 1;
const PURPOSE_CONTENT: u64 = 2;

/// Songs never run longer than this many bars; bigger targets get denser controller data instead.
const MAX_BARS: u32 = 200;
/// Estimated encoded bytes per channel event (delta + status or running status + data).
const BYTES_PER_EVENT: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lyrics {
    None,
    /// `FF 05` lyric events on the melody track.
    Meta,
    /// `.kar` style: `FF 01` text events with `@` headers and `/` `\` line marks, in a "Words" track.
    Kar,
}

/// What a file is about, drawn cheaply so that file names can tell the truth about content without
/// generating it.
#[derive(Clone, Debug)]
pub(crate) struct SongParams {
    pub tonic: u8,
    pub minor: bool,
    pub bpm: u16,
    pub is_loop: bool,
    /// The size the generator aims at, in bytes (actual size lands near it).
    pub target: u32,
    pub enc: Enc,
    pub title: Text,
    pub artist: String,
    pub lyrics: Lyrics,
    /// Whether the file states its tempo; without a tempo event readers assume 120 BPM, and so does `bpm`.
    pub tempo_meta: bool,
    /// For loops: which part the loop holds (`drums`, `bass`, ... or `loop` for a full groove).
    pub loop_part: &'static str,
}

const LOOP_PARTS: &[&str] = &["loop", "drums", "bass", "chords", "melody", "arp", "keys", "perc"];
const LOOP_BPMS: &[u16] = &[
    70, 75, 80, 85, 87, 90, 92, 95, 100, 110, 120, 122, 124, 125, 126, 128, 130, 135, 140, 145, 150, 160, 170, 174,
];

fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * rng.normal()).exp()
}

impl SongParams {
    pub(crate) fn new(seed: u64, index: u64) -> SongParams {
        let mut r = Rng::derive(seed, index, PURPOSE_PARAMS);
        let is_loop = r.chance(0.22);
        let target = if is_loop {
            lognormal(&mut r, 2_500.0, 0.7).clamp(300.0, 40_000.0)
        } else {
            lognormal(&mut r, 21_000.0, 0.9).clamp(1_500.0, 2_000_000.0)
        } as u32;
        let tonic = r.below(12) as u8;
        let minor = r.chance(0.45);
        let bpm = if is_loop || r.chance(0.3) {
            *r.pick(LOOP_BPMS)
        } else {
            (110.0 + 25.0 * r.normal()).clamp(50.0, 220.0).round() as u16
        };
        let enc = match r.weighted(&[85, 6, 5, 4]) {
            0 => Enc::Ascii,
            1 => Enc::Latin1,
            2 => Enc::ShiftJis,
            _ => Enc::Utf8,
        };
        let title = names::song_title(&mut r, enc);
        let artist = names::artist_name(&mut r);
        let lyrics = if !is_loop && r.chance(0.10) {
            if r.chance(0.5) { Lyrics::Kar } else { Lyrics::Meta }
        } else {
            Lyrics::None
        };
        let loop_part = *r.pick(LOOP_PARTS);
        let tempo_meta = r.chance(0.97);
        let bpm = if tempo_meta { bpm } else { 120 };
        SongParams {
            tonic,
            minor,
            bpm,
            is_loop,
            target,
            enc,
            title,
            artist,
            lyrics,
            tempo_meta,
            loop_part,
        }
    }

    pub(crate) fn key_name(&self) -> String {
        names::key_name(self.tonic, self.minor)
    }
}

const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];
const PROGRESSIONS: &[[i32; 4]] = &[
    [0, 5, 3, 4],
    [0, 3, 4, 3],
    [0, 4, 5, 3],
    [5, 3, 0, 4],
    [0, 0, 3, 4],
    [1, 4, 0, 0],
    [0, 6, 5, 6],
];

/// Pitch of a scale degree (any integer, octaves wrap) above `base` in the given key.
fn degree_pitch(tonic: u8, minor: bool, base: i32, degree: i32) -> u8 {
    let scale = if minor { &MINOR } else { &MAJOR };
    let oct = degree.div_euclid(7);
    let step = degree.rem_euclid(7) as usize;
    (base + i32::from(tonic) + 12 * oct + scale[step]).clamp(0, 127) as u8
}

/// Lowest pitch at or above `floor` with pitch class `pc`.
fn at_or_above(floor: i32, pc: i32) -> i32 {
    floor + (pc - floor).rem_euclid(12)
}

#[derive(Clone, Copy)]
struct Meter {
    num: u32,
    den: u32,
}

impl Meter {
    /// Sixteenth-note steps per bar and per beat.
    fn steps(self) -> (u32, u32) {
        let per_beat = (16 / self.den.max(1)).max(1);
        (self.num * per_beat, per_beat)
    }

    fn meta(self) -> [u8; 4] {
        let log2 = self.den.max(1).trailing_zeros() as u8;
        let clocks = if self.den == 8 && self.num.is_multiple_of(3) {
            36
        } else {
            24
        };
        [self.num as u8, log2, clocks, 8]
    }
}

struct Part {
    role: Role,
    track: usize,
    ch: u8,
    variant: u32,
    mask: u32,
    prob: f64,
    legato: f64,
    base: i32,
    vel: u8,
    active: [bool; 4],
    /// A two-bar phrase for melodic parts: (offset in 16ths, length in 16ths, scale degree).
    motif: Vec<(u32, u32, i32)>,
    /// Controller events per bar (pitch bend or expression), for dense "performed" files.
    auto: u32,
}

/// Accumulates events per track plus one byte arena for all meta/SysEx payloads.
struct Builder {
    arena: Vec<u8>,
    tracks: Vec<Vec<Ev>>,
    est: usize,
    jitter: u32,
    vel_jitter: u32,
}

impl Builder {
    fn ev(&mut self, tick: u32, pri: u8, kind: EvKind) -> Ev {
        Ev { tick, pri, kind }
    }

    fn meta(&mut self, track: usize, tick: u32, ty: u8, data: &[u8]) {
        let off = self.arena.len() as u32;
        self.arena.extend_from_slice(data);
        let ev = self.ev(tick, PRI_META, EvKind::Meta(ty, off, data.len() as u32));
        self.tracks[track].push(ev);
        self.est += 4 + data.len();
    }

    fn sysex(&mut self, track: usize, tick: u32, data: &[u8]) {
        let off = self.arena.len() as u32;
        self.arena.extend_from_slice(data);
        let ev = self.ev(tick, PRI_META, EvKind::SysEx(off, data.len() as u32));
        self.tracks[track].push(ev);
        self.est += 3 + data.len();
    }

    fn chan(&mut self, track: usize, tick: u32, bytes: [u8; 3]) {
        let ev = self.ev(tick, PRI_SETUP, EvKind::Chan(bytes));
        self.tracks[track].push(ev);
        self.est += BYTES_PER_EVENT;
    }

    fn note(&mut self, rng: &mut Rng, part: &Part, tick: u32, dur: u32, key: u8, vel: u8) {
        let (track, ch) = (part.track, part.ch);
        let (tick, vel) = if self.jitter > 0 {
            let j = rng.below(u64::from(2 * self.jitter + 1)) as u32;
            let v = rng.below(u64::from(2 * self.vel_jitter + 1)) as i32 - self.vel_jitter as i32;
            (
                (tick + j).saturating_sub(self.jitter),
                (i32::from(vel) + v).clamp(1, 127) as u8,
            )
        } else {
            (tick, vel.clamp(1, 127))
        };
        let dur = dur.max(1);
        let on = self.ev(tick, PRI_ON, EvKind::Chan([0x90 | ch, key & 0x7F, vel]));
        let off = self.ev(tick + dur, PRI_OFF, EvKind::Chan([0x80 | ch, key & 0x7F, 64]));
        let t = &mut self.tracks[track];
        t.push(on);
        t.push(off);
        self.est += 2 * BYTES_PER_EVENT;
    }
}

const BASS_PROGRAMS: &[u8] = &[32, 33, 34, 35, 36, 38, 39];
const CHORD_PROGRAMS: &[u8] = &[0, 1, 2, 4, 5, 16, 17, 19, 24, 25, 26, 27];
const PAD_PROGRAMS: &[u8] = &[48, 49, 50, 52, 88, 89, 90, 91, 94, 95];
const LEAD_PROGRAMS: &[u8] = &[0, 11, 40, 56, 60, 65, 66, 71, 73, 80, 81, 82, 85, 104];
const ARP_PROGRAMS: &[u8] = &[4, 6, 8, 10, 45, 46, 81, 84, 98];
const COUNTER_PROGRAMS: &[u8] = &[24, 26, 29, 30, 41, 42, 57, 61, 68, 69, 71];
const DRUM_KITS: &[u8] = &[0, 8, 16, 24, 25, 32, 40, 48];

const GM_ON: &[u8] = &[0x7E, 0x7F, 0x09, 0x01, 0xF7];
const GS_RESET: &[u8] = &[0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41, 0xF7];
const XG_ON: &[u8] = &[0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7];
const SOFTWARE: &[&str] = &[
    "Created with Cakewalk",
    "Sequenced by MIDI Loops Inc.",
    "Logic Pro export",
    "FL Studio",
    "Cubase SX",
    "http://www.midi-karaoke.example/",
    "Arranged for General MIDI",
];
const SECTIONS: &[&str] = &["Intro", "Verse", "Chorus", "Bridge", "Verse 2", "Outro"];

fn pick_roles(r: &mut Rng, p: &SongParams) -> Vec<Role> {
    if p.is_loop {
        return match p.loop_part {
            "drums" | "perc" => vec![Role::Drums],
            "bass" => vec![Role::Bass],
            "chords" | "keys" => vec![Role::Chords],
            "melody" => vec![Role::Melody],
            "arp" => vec![Role::Arp],
            _ => {
                let mut v = vec![Role::Drums, Role::Bass];
                if r.chance(0.6) {
                    v.push(Role::Chords);
                }
                if r.chance(0.4) {
                    v.push(Role::Melody);
                }
                v
            }
        };
    }
    let extra = (p.target / 15_000).min(12);
    let n = (r.range(3, 6) + extra).clamp(2, 16) as usize;
    let mut roles = Vec::with_capacity(n);
    if r.chance(0.75) {
        roles.push(Role::Drums);
    }
    roles.push(Role::Bass);
    if r.chance(0.85) {
        roles.push(Role::Chords);
    }
    roles.push(Role::Melody);
    const EXTRAS: &[Role] = &[
        Role::Pad,
        Role::Arp,
        Role::Counter,
        Role::Chords,
        Role::Melody,
        Role::Pad,
        Role::Counter,
    ];
    while roles.len() < n {
        roles.push(*r.pick(EXTRAS));
    }
    roles
}

fn make_part(r: &mut Rng, role: Role, track: usize, ch: u8, steps_per_bar: u32) -> Part {
    let mut part = Part {
        role,
        track,
        ch,
        variant: r.below(4) as u32,
        mask: r.next_u64() as u32,
        prob: r.unit() * 0.3,
        legato: 0.5 + 0.45 * r.unit(),
        base: 60,
        vel: r.range(70, 110) as u8,
        active: [true; 4],
        motif: Vec::new(),
        auto: 0,
    };
    for a in &mut part.active {
        *a = r.chance(0.8);
    }
    part.active[r.below(4) as usize] = true;
    match role {
        Role::Drums => part.variant = r.below(3) as u32,
        Role::Bass => part.base = 28 + r.range(0, 8) as i32,
        Role::Chords => part.base = 52 + r.range(0, 8) as i32,
        Role::Pad => part.base = 48,
        Role::Arp => part.base = 60,
        Role::Melody | Role::Counter => {
            part.base = if role == Role::Melody {
                60 + 12 * r.below(2) as i32
            } else {
                48
            };
            let span = 2 * steps_per_bar.max(1);
            let mut pos = 0;
            let mut degree = r.range(0, 4) as i32;
            let lengths: &[u32] = if role == Role::Melody {
                &[2, 2, 4, 4, 4, 1, 1, 3, 6, 8]
            } else {
                &[4, 4, 8, 8, 6, 12, 16]
            };
            while pos < span {
                let len = *r.pick(lengths);
                if !r.chance(0.18) {
                    degree = (degree + *r.pick(&[-2, -1, -1, 0, 1, 1, 2, 3, -3])).clamp(-5, 11);
                    part.motif.push((pos, len, degree));
                }
                pos += len;
            }
        }
    }
    part
}

fn program_for(r: &mut Rng, role: Role) -> u8 {
    *r.pick(match role {
        Role::Drums => DRUM_KITS,
        Role::Bass => BASS_PROGRAMS,
        Role::Chords => CHORD_PROGRAMS,
        Role::Pad => PAD_PROGRAMS,
        Role::Melody => LEAD_PROGRAMS,
        Role::Arp => ARP_PROGRAMS,
        Role::Counter => COUNTER_PROGRAMS,
    })
}

/// Everything a bar's patterns need to know.
struct BarCtx {
    index: u32,
    start: u32,
    step: u32,
    meter: Meter,
    tonic: u8,
    minor: bool,
    chord_degree: i32,
    fill: bool,
    crash: bool,
}

/// Pitch classes of the chord on `degree` (triad, sometimes a seventh).
fn chord_pcs(c: &BarCtx, seventh: bool) -> Vec<i32> {
    let mut v: Vec<i32> = [0, 2, 4]
        .iter()
        .map(|d| i32::from(degree_pitch(c.tonic, c.minor, 0, c.chord_degree + d)))
        .collect();
    if seventh {
        v.push(i32::from(degree_pitch(c.tonic, c.minor, 0, c.chord_degree + 6)));
    }
    v
}

fn drums_bar(b: &mut Builder, r: &mut Rng, p: &Part, c: &BarCtx) {
    let (steps, per_beat) = c.meter.steps();
    let hat16 = p.variant == 1;
    let ride = p.variant == 2;
    let dur = (c.step / 2).max(1);
    for s in 0..steps {
        let t = c.start + s * c.step;
        let on_beat = s % per_beat == 0;
        let beat = s / per_beat;
        let in_fill = c.fill && s + per_beat >= steps;
        if in_fill {
            let toms = [50u8, 48, 47, 45, 43, 41];
            b.note(r, p, t, dur, toms[(s % 6) as usize], 90 + (s % 3) as u8 * 10);
            continue;
        }
        if s == 0
            || (!on_beat && p.mask >> (s % 16) & 1 == 1 && s % 2 == 0)
            || (on_beat && beat % 2 == 0 && c.meter.den == 4)
        {
            b.note(r, p, t, dur, 36, 110);
        }
        let backbeat = if c.meter.den == 8 {
            s == steps / 2
        } else {
            on_beat && beat % 2 == 1
        };
        if backbeat {
            b.note(r, p, t, dur, if p.mask & 1 == 1 { 40 } else { 38 }, 105);
        } else if !on_beat && r.chance(p.prob * 0.3) {
            b.note(r, p, t, dur, 38, 35);
        }
        if s == 0 && c.crash {
            b.note(r, p, t, c.step * 4, 49, 110);
        } else if hat16 || s % 2 == 0 {
            let (key, vel) = if ride {
                (51, 70)
            } else if s % 8 == 6 && p.mask >> 20 & 1 == 1 {
                (46, 80)
            } else {
                (42, if on_beat { 85 } else { 60 })
            };
            b.note(r, p, t, dur, key, vel);
        }
    }
}

fn bass_bar(b: &mut Builder, r: &mut Rng, p: &Part, c: &BarCtx) {
    let (steps, per_beat) = c.meter.steps();
    let root = at_or_above(p.base, chord_pcs(c, false)[0]) as u8;
    let fifth = root.saturating_add(7);
    match p.variant {
        0 => {
            for beat in 0..steps / per_beat {
                let key = if beat % 2 == 1 && r.chance(0.4) { fifth } else { root };
                let len = per_beat * c.step;
                b.note(r, p, c.start + beat * len, (len as f64 * p.legato) as u32, key, p.vel);
            }
        }
        1 => b.note(r, p, c.start, steps * c.step - c.step / 2, root, p.vel),
        2 => {
            for s in (0..steps).step_by(2) {
                let key = if s % 4 == 2 { root.saturating_add(12) } else { root };
                b.note(
                    r,
                    p,
                    c.start + s * c.step,
                    (2.0 * c.step as f64 * p.legato) as u32,
                    key,
                    p.vel,
                );
            }
        }
        _ => {
            for s in 0..steps {
                if s == 0 || p.mask >> (s % 16) & 1 == 1 {
                    let key = if r.chance(0.2) { fifth } else { root };
                    b.note(r, p, c.start + s * c.step, c.step, key, p.vel);
                }
            }
        }
    }
}

fn chords_bar(b: &mut Builder, r: &mut Rng, p: &Part, c: &BarCtx, pad: bool) {
    let (steps, per_beat) = c.meter.steps();
    let mut pcs = chord_pcs(c, p.mask & 3 == 0);
    if pad {
        pcs.push(pcs[0]);
    }
    let mut floor = p.base;
    let mut keys = Vec::with_capacity(pcs.len());
    for pc in pcs {
        let k = at_or_above(floor, pc);
        keys.push(k.clamp(0, 127) as u8);
        floor = k + 1;
    }
    let bar = steps * c.step;
    let hits: Vec<(u32, u32)> = if pad {
        vec![(0, bar)]
    } else {
        match p.variant {
            0 => vec![(0, bar)],
            1 => vec![(0, bar / 2), (bar / 2, bar - bar / 2)],
            2 => (0..steps / per_beat)
                .map(|k| (k * per_beat * c.step, 2 * c.step))
                .collect(),
            _ => (0..steps / 2)
                .filter(|k| k % 2 == 1)
                .map(|k| (2 * k * c.step, c.step))
                .collect(),
        }
    };
    for (off, len) in hits {
        let dur = ((len as f64) * if pad { 0.98 } else { p.legato }) as u32;
        for &k in &keys {
            b.note(r, p, c.start + off, dur, k, p.vel);
        }
    }
    if !pad && p.mask >> 8 & 3 == 0 {
        // Sustain pedal down at the bar and up just before the next, like a recorded pianist.
        b.chan(p.track, c.start, [0xB0 | p.ch, 64, 127]);
        b.chan(p.track, c.start + bar - c.step / 2, [0xB0 | p.ch, 64, 0]);
    }
}

fn arp_bar(b: &mut Builder, r: &mut Rng, p: &Part, c: &BarCtx) {
    let (steps, _) = c.meter.steps();
    let pcs = chord_pcs(c, false);
    let mut keys: Vec<u8> = Vec::with_capacity(6);
    for oct in 0..2 {
        for &pc in &pcs {
            keys.push((at_or_above(p.base, pc) + 12 * oct).clamp(0, 127) as u8);
        }
    }
    if p.variant % 2 == 1 {
        keys.reverse();
    }
    let rate = if p.variant < 2 { 1 } else { 2 };
    for (n, s) in (0..steps).step_by(rate as usize).enumerate() {
        let k = keys[n % keys.len()];
        b.note(
            r,
            p,
            c.start + s * c.step,
            (rate as f64 * c.step as f64 * p.legato) as u32,
            k,
            p.vel,
        );
    }
}

/// Melody or counter-melody; returns onset ticks so lyrics can follow the tune.
fn melodic_bar(b: &mut Builder, r: &mut Rng, p: &Part, c: &BarCtx, onsets: &mut Vec<u32>) {
    let (steps, _) = c.meter.steps();
    let half = (c.index % 2) * steps;
    let vary = r.chance(0.3);
    for &(off, len, deg) in &p.motif {
        if off < half || off >= half + steps {
            continue;
        }
        let local = off - half;
        let deg = if vary && r.chance(0.5) {
            deg + *r.pick(&[-2, -1, 1, 2])
        } else {
            deg
        };
        let key = degree_pitch(c.tonic, c.minor, p.base, deg);
        let len = len.min(steps - local);
        let tick = c.start + local * c.step;
        b.note(r, p, tick, ((len * c.step) as f64 * p.legato) as u32, key, p.vel);
        onsets.push(tick);
    }
}

fn automation_bar(b: &mut Builder, p: &Part, c: &BarCtx) {
    let (steps, _) = c.meter.steps();
    let bar = steps * c.step;
    let n = p.auto.min(bar);
    for k in 0..n {
        let t = c.start + k * bar / n.max(1);
        // A triangle wave per bar: smooth like a wheel or an expression pedal.
        let phase = (2 * k * 1024 / n.max(1)) as i32;
        let tri = if phase < 1024 { phase } else { 2048 - phase };
        if matches!(p.role, Role::Melody | Role::Counter | Role::Arp) {
            let v = (8192 + (tri - 512) * 6).clamp(0, 16383) as u16;
            b.chan(p.track, t, [0xE0 | p.ch, (v & 0x7F) as u8, (v >> 7) as u8]);
        } else {
            b.chan(p.track, t, [0xB0 | p.ch, 11, (64 + tri / 16).clamp(0, 127) as u8]);
        }
    }
}

fn tempo_bytes(bpm: f64) -> [u8; 3] {
    let us = (60_000_000.0 / bpm.max(1.0)).round().clamp(1.0, 16_777_215.0) as u32;
    [(us >> 16) as u8, (us >> 8) as u8, us as u8]
}

/// File-wide choices drawn before any content: timing, file format, meter, key and tempo behaviour.
struct Shape {
    division: u16,
    ppq: u32,
    /// Ticks per sixteenth note.
    step: u32,
    format0: bool,
    base_meter: Meter,
    meter_changes: bool,
    key_meta: bool,
    key_change: bool,
    /// 0 steady, 1 a new tempo every 16 bars, 2 ritardando at the end, 3 a drifting tempo per beat.
    tempo_mode: usize,
    live: bool,
}

impl Shape {
    fn draw(r: &mut Rng, p: &SongParams) -> Shape {
        let smpte = !p.is_loop && r.chance(0.002);
        let (division, ppq) = if smpte {
            // -25 fps, 40 ticks per frame: 1000 ticks per second.
            (0xE728u16, (60_000 / u32::from(p.bpm.max(1))).max(96) & !3)
        } else {
            let ppq = [96u32, 120, 192, 240, 384, 480, 960][r.weighted(&[15, 10, 20, 5, 8, 35, 7])];
            (ppq as u16, ppq)
        };
        let format0 = r.chance(if p.is_loop { 0.6 } else { 0.25 });
        let base_meter = if p.is_loop && r.chance(0.8) {
            Meter { num: 4, den: 4 }
        } else {
            let (num, den) =
                [(4, 4), (3, 4), (6, 8), (2, 4), (12, 8), (5, 4), (7, 8)][r.weighted(&[80, 7, 5, 2, 2, 2, 2])];
            Meter { num, den }
        };
        let meter_changes = !p.is_loop && r.chance(0.06);
        let key_meta = r.chance(0.55);
        let key_change = key_meta && !p.is_loop && r.chance(0.12);
        let tempo_mode = if p.is_loop || !p.tempo_meta {
            0
        } else {
            r.weighted(&[80, 10, 5, 5])
        };
        let live = r.chance(if p.is_loop { 0.1 } else { 0.3 });
        Shape {
            division,
            ppq,
            step: ppq / 4,
            format0,
            base_meter,
            meter_changes,
            key_meta,
            key_change,
            tempo_mode,
            live,
        }
    }
}

/// Text encoding of one track name: the song's own encoding some of the time, else ASCII.
fn text_enc(r: &mut Rng, p: &SongParams) -> Enc {
    if p.enc != Enc::Ascii && r.chance(0.6) {
        p.enc
    } else {
        Enc::Ascii
    }
}

/// One track per role (after the conductor track), with channels assigned around the drum channel.
fn add_parts(b: &mut Builder, r: &mut Rng, p: &SongParams, roles: &[Role], steps_per_bar: u32) -> Vec<Part> {
    let mut parts = Vec::with_capacity(roles.len());
    let mut next_ch = 0u8;
    for &role in roles {
        let ch = if role == Role::Drums {
            9
        } else {
            let c = next_ch;
            next_ch = (next_ch + 1) % 15;
            if c >= 9 { c + 1 } else { c }
        };
        b.tracks.push(Vec::with_capacity(
            (p.target as usize / BYTES_PER_EVENT / roles.len()).min(1 << 16),
        ));
        let track = b.tracks.len() - 1;
        parts.push(make_part(r, role, track, ch, steps_per_bar));
    }
    parts
}

/// Conductor track at tick 0: title, copyright, tempo, meter, key and friends; the karaoke headers too.
fn conductor(b: &mut Builder, r: &mut Rng, p: &SongParams, shape: &Shape, words_track: Option<usize>) {
    if r.chance(0.85) || p.enc != Enc::Ascii {
        b.meta(0, 0, 0x03, &p.title.bytes);
    }
    if r.chance(0.35) {
        let c = names::copyright(r, p.enc, &p.artist);
        b.meta(0, 0, 0x02, &c);
    }
    if r.chance(0.10) {
        b.meta(0, 0, 0x01, r.pick(SOFTWARE).as_bytes());
    }
    if !shape.format0 && r.chance(0.10) {
        b.meta(0, 0, 0x54, &[0x60, 0, 0, 0, 0]);
    }
    if r.chance(0.9) {
        b.meta(0, 0, 0x58, &shape.base_meter.meta());
    }
    if shape.key_meta {
        b.meta(0, 0, 0x59, &[names::key_sf(p.tonic, p.minor) as u8, u8::from(p.minor)]);
    }
    if p.tempo_meta {
        b.meta(0, 0, 0x51, &tempo_bytes(f64::from(p.bpm)));
    }
    if r.chance(0.05) {
        b.meta(0, 0, 0x7F, &[0x00, 0x00, 0x41, 0x01]);
    }
    if !p.is_loop && r.chance(0.15) {
        let sysexes: [&[u8]; 3] = [GM_ON, GS_RESET, XG_ON];
        let sx = *r.pick(&sysexes);
        b.sysex(0, 0, sx);
    }
    if let Some(w) = words_track {
        b.meta(w, 0, 0x03, b"Words");
        for head in [&b"@KMIDI KARAOKE FILE"[..], b"@V0100", b"@LENGL"] {
            b.meta(w, 0, 0x01, head);
        }
        let mut t = b"@T".to_vec();
        t.extend_from_slice(&p.title.bytes);
        b.meta(w, 0, 0x01, &t);
        let a = format!("@T{}", p.artist);
        b.meta(w, 0, 0x01, &names::latin1(&a));
    }
}

/// Per-part setup at tick 0: names, bank and program, mixer controllers.
fn part_setup(b: &mut Builder, r: &mut Rng, p: &SongParams, part: &Part) {
    let (t, ch) = (part.track, part.ch);
    if r.chance(0.85) || p.enc != Enc::Ascii {
        let enc = text_enc(r, p);
        let name = names::track_name(r, part.role, enc);
        b.meta(t, 0, 0x03, &name.bytes);
    }
    if r.chance(0.15) {
        let name = names::track_name(r, part.role, Enc::Ascii);
        b.meta(t, 0, 0x04, &name.bytes);
    }
    if r.chance(0.05) {
        b.meta(t, 0, 0x20, &[ch]);
    }
    if r.chance(0.05) {
        b.meta(t, 0, 0x21, &[0]);
    }
    if r.chance(0.2) {
        b.chan(t, 0, [0xB0 | ch, 0, 0]);
        b.chan(t, 0, [0xB0 | ch, 32, 0]);
    }
    if part.role != Role::Drums && r.chance(0.95) || part.role == Role::Drums && r.chance(0.4) {
        let prog = program_for(r, part.role);
        b.chan(t, 0, [0xC0 | ch, prog, 0]);
    }
    if r.chance(0.8) {
        b.chan(t, 0, [0xB0 | ch, 7, r.range(80, 127) as u8]);
    }
    if r.chance(0.7) {
        b.chan(t, 0, [0xB0 | ch, 10, r.range(20, 108) as u8]);
    }
    if r.chance(0.5) {
        b.chan(t, 0, [0xB0 | ch, 91, r.range(0, 80) as u8]);
    }
    if r.chance(0.3) {
        b.chan(t, 0, [0xB0 | ch, 93, r.range(0, 60) as u8]);
    }
    if part.role != Role::Drums && r.chance(0.1) {
        for (cc, v) in [(101, 0), (100, 0), (6, 12), (38, 0)] {
            b.chan(t, 0, [0xB0 | ch, cc, v]);
        }
    }
}

/// Where playback stands between bars, and what changed since the file's start.
struct Playhead {
    tick: u32,
    bar: u32,
    bars_total: u32,
    meter: Meter,
    bpm: f64,
    tonic: u8,
    minor: bool,
}

/// The song's lyrics: which tracks carry them and reusable buffers, so a bar allocates nothing.
struct Lyricist {
    melody_track: Option<usize>,
    words_track: Option<usize>,
    onsets: Vec<u32>,
    syllable: Vec<u8>,
}

impl Lyricist {
    /// One syllable per melody onset of this bar: `FF 05` lyrics, or `.kar` text with line marks.
    fn sing(&mut self, b: &mut Builder, r: &mut Rng, p: &SongParams, track: usize, bar: u32) {
        for (n, &t) in self.onsets.iter().enumerate() {
            self.syllable.clear();
            match (p.lyrics, self.words_track) {
                (Lyrics::Kar, Some(w)) => {
                    if n == 0 {
                        self.syllable.push(if bar.is_multiple_of(8) { b'\\' } else { b'/' });
                    }
                    names::syllable(r, p.enc, &mut self.syllable);
                    b.meta(w, t, 0x01, &self.syllable);
                }
                _ => {
                    names::syllable(r, p.enc, &mut self.syllable);
                    b.meta(track, t, 0x05, &self.syllable);
                }
            }
        }
    }
}

/// Meter, key and tempo events at the start of the bar under the playhead; updates the playhead.
fn bar_changes(b: &mut Builder, r: &mut Rng, shape: &Shape, h: &mut Playhead) {
    let (bar, tick) = (h.bar, h.tick);
    let this_meter = if shape.meter_changes && bar % 16 == 15 {
        Meter { num: 2, den: 4 }
    } else {
        shape.base_meter
    };
    if bar > 0 && (this_meter.num != h.meter.num || this_meter.den != h.meter.den) {
        b.meta(0, tick, 0x58, &this_meter.meta());
    }
    h.meter = this_meter;
    if shape.key_change && bar == 32 {
        h.tonic = (h.tonic + 2) % 12;
        b.meta(
            0,
            tick,
            0x59,
            &[names::key_sf(h.tonic, h.minor) as u8, u8::from(h.minor)],
        );
    } else if shape.key_change && bar == 48 && r.chance(0.5) {
        h.minor = !h.minor;
        h.tonic = if h.minor {
            (h.tonic + 9) % 12
        } else {
            (h.tonic + 3) % 12
        };
        b.meta(
            0,
            tick,
            0x59,
            &[names::key_sf(h.tonic, h.minor) as u8, u8::from(h.minor)],
        );
    }
    if shape.tempo_mode == 1 && bar > 0 && bar.is_multiple_of(16) {
        h.bpm = (h.bpm * (0.85 + 0.3 * r.unit())).clamp(40.0, 240.0);
        b.meta(0, tick, 0x51, &tempo_bytes(h.bpm));
    }
    if shape.tempo_mode == 3 {
        let (steps, per_beat) = h.meter.steps();
        // Beat 0 of bar 0 keeps the nominal tempo, the one the file name states.
        for beat in u32::from(bar == 0)..steps / per_beat {
            let v = h.bpm * (1.0 + 0.015 * r.normal());
            b.meta(0, tick + beat * per_beat * shape.step, 0x51, &tempo_bytes(v));
        }
    }
}

/// One part's notes (and lyrics, automation) for one bar, if the part plays in this section.
fn play_part(b: &mut Builder, r: &mut Rng, p: &SongParams, part: &Part, c: &BarCtx, section: usize, ly: &mut Lyricist) {
    let playing = p.is_loop || part.active[section] || (c.index < 4 && part.role == Role::Drums);
    if !playing {
        return;
    }
    if c.index < 4 && !p.is_loop && part.role == Role::Melody {
        return;
    }
    match part.role {
        Role::Drums => drums_bar(b, r, part, c),
        Role::Bass => bass_bar(b, r, part, c),
        Role::Chords => chords_bar(b, r, part, c, false),
        Role::Pad => chords_bar(b, r, part, c, true),
        Role::Arp => arp_bar(b, r, part, c),
        Role::Melody | Role::Counter => {
            ly.onsets.clear();
            melodic_bar(b, r, part, c, &mut ly.onsets);
            if p.lyrics != Lyrics::None && Some(part.track) == ly.melody_track {
                ly.sing(b, r, p, part.track, c.index);
            }
        }
    }
    if part.auto > 0 {
        automation_bar(b, part, c);
    }
}

/// After a bar: fixes a loop's length from its first bar, thickens songs too big for notes alone, and says
/// whether a song has reached its target size.
fn size_after_bar(b: &Builder, p: &SongParams, parts: &mut [Part], h: &mut Playhead, setup_est: usize) -> bool {
    if p.is_loop && h.bar == 1 {
        // A loop is a power of two bars long, as close to the target size as that allows.
        let per_bar = (b.est - setup_est).max(1);
        let want = (p.target as usize).saturating_sub(setup_est) / per_bar;
        h.bars_total = [1u32, 2, 4, 8, 16]
            .into_iter()
            .take_while(|&n| n as usize <= want.max(1))
            .last()
            .unwrap_or(1);
        return false;
    }
    if p.is_loop {
        return false;
    }
    if h.bar == 4 {
        let per_bar = (b.est - setup_est) / 4;
        let reachable = per_bar * (MAX_BARS as usize - 40);
        if reachable < p.target as usize {
            // Too big to reach with notes alone: thicken with controller data, as performed files do.
            let need = (p.target as usize / (MAX_BARS as usize - 40)).saturating_sub(per_bar);
            let carriers = parts.iter().filter(|x| x.role != Role::Drums).count().max(1);
            let each = (need / BYTES_PER_EVENT / carriers) as u32;
            for part in parts.iter_mut().filter(|x| x.role != Role::Drums) {
                part.auto += each;
            }
        }
    }
    b.est >= p.target as usize && h.bar >= 4
}

/// Plays bar after bar until the loop length or the song's target size is reached; returns the final playhead.
fn play(
    b: &mut Builder,
    r: &mut Rng,
    p: &SongParams,
    shape: &Shape,
    parts: &mut [Part],
    markers: bool,
    ly: &mut Lyricist,
) -> Playhead {
    let progression = *r.pick(PROGRESSIONS);
    let setup_est = b.est;
    let mut h = Playhead {
        tick: 0,
        bar: 0,
        bars_total: if p.is_loop { 1 } else { MAX_BARS },
        meter: shape.base_meter,
        bpm: f64::from(p.bpm),
        tonic: p.tonic,
        minor: p.minor,
    };
    while h.bar < h.bars_total {
        bar_changes(b, r, shape, &mut h);
        let bar = h.bar;
        let section = if bar < 4 && !p.is_loop {
            0
        } else {
            ((bar / 8) % 4) as usize
        };
        if markers && bar.is_multiple_of(8) {
            b.meta(
                0,
                h.tick,
                0x06,
                SECTIONS[(bar / 8) as usize % SECTIONS.len()].as_bytes(),
            );
        }
        let ctx = BarCtx {
            index: bar,
            start: h.tick,
            step: shape.step,
            meter: h.meter,
            tonic: h.tonic,
            minor: h.minor,
            chord_degree: progression[(bar % 4) as usize],
            fill: !p.is_loop && bar % 8 == 7,
            crash: !p.is_loop && bar > 0 && bar.is_multiple_of(8),
        };
        for part in parts.iter() {
            play_part(b, r, p, part, &ctx, section, ly);
        }
        let (steps, _) = h.meter.steps();
        h.tick += steps * shape.step;
        h.bar += 1;
        if size_after_bar(b, p, parts, &mut h, setup_est) {
            break;
        }
    }
    h
}

/// Ritardando over the last two bars.
fn ritardando(b: &mut Builder, shape: &Shape, h: &Playhead) {
    let (steps, _) = h.meter.steps();
    let span = 2 * steps * shape.step;
    let from = h.tick.saturating_sub(span);
    for k in 0..8u32 {
        let v = h.bpm * (1.0 - 0.04 * f64::from(k + 1));
        b.meta(0, from + k * span / 8, 0x51, &tempo_bytes(v));
    }
}

/// Encodes the tracks as SMF bytes, in one of the ways real sequencers write them.
fn write_smf(mut b: Builder, r: &mut Rng, shape: &Shape, tick: u32) -> Vec<u8> {
    let style = WriteStyle {
        running_status: r.chance(0.75),
        off_as_on0: r.chance(0.6),
    };
    let last_event = b
        .tracks
        .iter()
        .flat_map(|t| t.iter().map(|e| e.tick))
        .max()
        .unwrap_or(0);
    let end = tick.max(last_event);
    let own_ends = r.chance(0.5);
    let mut out = Vec::with_capacity(b.est + 256);
    if shape.format0 {
        let mut all: Vec<Ev> = Vec::with_capacity(b.tracks.iter().map(Vec::len).sum());
        for t in &b.tracks {
            all.extend_from_slice(t);
        }
        smf::push_header(&mut out, 0, 1, shape.division);
        smf::push_track(&mut out, &all, &b.arena, style, end);
        return out;
    }
    // Some sequencers put the conductor events in the first part instead of a track of their own.
    let merge_conductor = r.chance(0.1) && b.tracks.len() > 1;
    if merge_conductor {
        let conductor = std::mem::take(&mut b.tracks[0]);
        b.tracks[1].extend(conductor);
        b.tracks.remove(0);
    }
    smf::push_header(&mut out, 1, b.tracks.len() as u16, shape.division);
    for t in &b.tracks {
        let track_end = if own_ends {
            t.iter().map(|e| e.tick).max().unwrap_or(0)
        } else {
            end
        };
        smf::push_track(&mut out, t, &b.arena, style, track_end);
    }
    out
}

/// One complete, valid MIDI file for `(seed, index)`.
pub(crate) fn render(seed: u64, index: u64) -> Vec<u8> {
    let p = SongParams::new(seed, index);
    let mut r = Rng::derive(seed, index, PURPOSE_CONTENT);
    let shape = Shape::draw(&mut r, &p);
    let roles = pick_roles(&mut r, &p);
    let mut b = Builder {
        arena: Vec::with_capacity(256),
        tracks: vec![Vec::with_capacity(64)],
        est: 14,
        jitter: if shape.live { (shape.ppq / 48).max(1) } else { 0 },
        vel_jitter: if shape.live { 12 } else { 0 },
    };
    let (steps_per_bar, _) = shape.base_meter.steps();
    let mut parts = add_parts(&mut b, &mut r, &p, &roles, steps_per_bar);
    let words_track = if p.lyrics == Lyrics::Kar {
        b.tracks.push(Vec::new());
        Some(b.tracks.len() - 1)
    } else {
        None
    };
    conductor(&mut b, &mut r, &p, &shape, words_track);
    let markers = !p.is_loop && r.chance(0.25);
    for part in &parts {
        part_setup(&mut b, &mut r, &p, part);
    }
    if !p.is_loop && r.chance(0.1) {
        for part in parts.iter_mut().filter(|x| x.role != Role::Drums) {
            part.auto = r.range(2, 8);
        }
    }
    let mut ly = Lyricist {
        melody_track: parts.iter().find(|x| x.role == Role::Melody).map(|x| x.track),
        words_track,
        onsets: Vec::new(),
        syllable: Vec::with_capacity(8),
    };
    let h = play(&mut b, &mut r, &p, &shape, &mut parts, markers, &mut ly);
    if shape.tempo_mode == 2 {
        ritardando(&mut b, &shape, &h);
    }
    write_smf(b, &mut r, &shape, h.tick)
}
