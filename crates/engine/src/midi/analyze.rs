//! One-pass lenient Standard MIDI File reader that extracts the metadata stored per file.
//!
//! Hand-written rather than built on midly: midly's non-strict mode silently drops the rest of
//! a track (or a whole track) on the first error and cannot say what it tolerated, while this
//! importer must keep what is readable, count what it forgave, and never allocate per event.

use std::cell::RefCell;

use super::errors::{MidiError, MidiErrorKind as K};
use super::fingerprint::{Collector, Fingerprint, TickUnit};
use super::keys::{detect_key, key_signature_name};
use super::music::Music;
use super::poly::Polyphony;
use super::similarity::{Sketch, Totals};
use super::text::decode_text;

/// Tempo in force before the first set_tempo event: 120 BPM.
pub const DEFAULT_TEMPO_US: u32 = 500_000;

/// MIDI channel index (0-based) of General MIDI percussion.
const DRUM_CHANNEL: u8 = 9;

/// How far into a file a header is searched for when it does not start with one: covers the
/// 128-byte MacBinary wrapper that classic Mac MIDI files carry, and a few stray bytes.
const HEADER_SEARCH_WINDOW: usize = 512;

/// Metadata of one MIDI file, as stored in `files` and `musical_metadata`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MidiMetadata {
    /// SMF format word as written (0, 1, 2; other values are read like format 1).
    pub format: i16,
    /// Track chunks found (readable or not).
    pub num_tracks: i32,
    /// Ticks per quarter note; `None` for SMPTE (frame-based) timing.
    pub ticks_per_quarter_note: Option<i32>,
    /// Largest absolute tick over all tracks, end-of-track events included (as mido counts).
    pub duration_ticks: i64,
    /// Playing time through the merged tempo map (per track for format 2, longest wins);
    /// from frames for SMPTE timing. 0 when the timing division is unusable.
    pub duration_seconds: f64,
    /// First track-name meta event of each track that has a non-empty one, in track order.
    pub track_names: Vec<String>,
    /// First copyright meta event.
    pub copyright: Option<String>,
    /// The `musical_metadata` row (its JSON keys flattened into this struct's).
    #[serde(flatten)]
    pub music: Music,
    /// Problems tolerated while reading (each clipped byte, skipped chunk, cut track, ...).
    pub warnings: u32,
    /// Kind of the first tolerated problem, for logs.
    pub first_warning: Option<K>,
    /// Digest of the notes alone (see [`super::fingerprint`]); `None` without notes.
    pub notes_fingerprint: Option<Fingerprint>,
    /// The same with pitches relative to the lowest pitched note: blind to transposition.
    pub transposed_fingerprint: Option<Fingerprint>,
    /// The similarity features (see [`super::similarity`]); `None` without notes or with SMPTE timing. Not in the
    /// serialised metadata (the analysis golden files): a derived vector, guarded by its own quality test.
    #[serde(skip)]
    pub features: Option<Vec<f32>>,
    /// The features' coarse vector ([`super::similarity::coarse`]): what `like:`'s index orders candidates by.
    #[serde(skip)]
    pub coarse: Option<[f32; super::similarity::COARSE_DIMS]>,
}

/// What [`analyze_with_options`] computes besides the stored metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyzeOptions {
    /// The musical fingerprints (off only to measure what they cost).
    pub fingerprint: bool,
    /// The similarity features (off only to measure what they cost).
    pub features: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            fingerprint: true,
            features: true,
        }
    }
}

/// Returns the SMF bytes inside a RIFF RMID (`.rmi`) file, or `None` if `data` is not one or
/// has no `data` chunk. A `data` chunk longer than the file is cut at the end of the file.
pub fn unwrap_rmid(data: &[u8]) -> Option<&[u8]> {
    if data.get(0..4)? != b"RIFF" || data.get(8..12)? != b"RMID" {
        return None;
    }
    let mut pos = 12usize;
    while let Some(hdr) = data.get(pos..pos.checked_add(8)?) {
        let len = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        let body = pos + 8;
        if &hdr[0..4] == b"data" {
            let end = body.saturating_add(len).min(data.len());
            return data.get(body..end);
        }
        // RIFF chunks are padded to even length.
        pos = body.checked_add(len)?.checked_add(len & 1)?;
    }
    None
}

/// Reads a MIDI file (or a RIFF RMID wrapping one) and extracts its metadata.
///
/// Lenient: whatever can be read is kept and each problem tolerated is counted in
/// `warnings`. Only a file with nothing usable is an error: no `MThd` header, a header cut
/// short, or no readable track chunk. Never panics.
pub fn analyze(data: &[u8]) -> Result<MidiMetadata, MidiError> {
    analyze_with_options(data, AnalyzeOptions::default())
}

/// [`analyze`], choosing what is computed besides the metadata.
pub fn analyze_with_options(data: &[u8], opts: AnalyzeOptions) -> Result<MidiMetadata, MidiError> {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.fp.enabled = opts.fingerprint;
            scratch.sim.enabled = opts.features;
            analyze_with(data, &mut scratch)
        }
        // Only reachable through re-entrancy; a fresh scratch keeps it correct.
        Err(_) => {
            let mut scratch = Scratch::new();
            scratch.fp.enabled = opts.fingerprint;
            scratch.sim.enabled = opts.features;
            analyze_with(data, &mut scratch)
        }
    })
}

// ---------------------------------------------------------------------------------------------

/// Per-thread buffers reused across files so that a file costs no allocation per event.
struct Scratch {
    /// Per (channel * 128 + pitch): what a note event touches, in one cache line rather than four tables.
    keys: Box<[KeyState; 2048]>,
    /// Channels with a note-on (velocity > 0): the rows of `keys` in use (the only ones with notes sounding).
    channels: u16,
    /// Polyphony changes: the net change of sounding notes per tick, ascending within each track.
    /// Collapsing a tick's ons and offs into one net change keeps each track a strictly sorted run, so merging
    /// the tracks is a cheap run merge rather than a sort of every note edge.
    poly: Polyphony,
    /// set_tempo events: (tick, µs per quarter, track index).
    tempos: Vec<(u64, u32, u32)>,
    /// The notes for the musical fingerprints.
    fp: Collector,
    /// The per-note part of the similarity features.
    sim: Sketch,
}

impl Scratch {
    fn new() -> Self {
        Self {
            keys: Box::new([KeyState::default(); 2048]),
            channels: 0,
            poly: Polyphony::default(),
            tempos: Vec::new(),
            fp: Collector::new(),
            sim: Sketch::new(),
        }
    }

    fn reset(&mut self) {
        // `active` is zero after every track; the per-key sums are non-zero only in the rows the last file used.
        for ch in 0..16usize {
            if self.channels >> ch & 1 == 1 {
                self.keys[ch << 7..(ch + 1) << 7].fill(KeyState::default());
            }
        }
        self.channels = 0;
        self.poly.reset();
        self.tempos.clear();
        self.fp.reset();
        // Do not let one huge file pin memory on a worker thread forever.
        if self.tempos.capacity() > 1 << 16 {
            self.tempos.shrink_to(1 << 10);
        }
    }
}

/// One key's (channel * 128 + pitch) state: 32 bytes, so a key never straddles two cache lines.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct KeyState {
    /// Tick at which the sounding note started.
    start: u64,
    /// Ticks sounded in the file, for the key's pitch-class durations (saturating).
    dur: u64,
    /// Note-ons (velocity > 0) in the file: pitches, channels and the key's pitch-class counts are folded from it
    /// once at the end rather than per note.
    count: u64,
    /// Notes sounding in the current track.
    active: u16,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

/// Timing division from the header.
#[derive(Clone, Copy)]
enum Timing {
    Ticks(u16),
    /// Frames per second (29.97 for drop-frame) and ticks per frame.
    Smpte(f64, u8),
}

/// Bounded reader over one track's bytes.
struct Cur<'a> {
    d: &'a [u8],
    pos: usize,
    limit: usize,
}

impl<'a> Cur<'a> {
    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        if self.pos < self.limit {
            let b = *self.d.get(self.pos)?;
            self.pos += 1;
            Some(b)
        } else {
            None
        }
    }

    /// Variable-length quantity. Longer than the 4 bytes the spec allows is read on (as mido
    /// does) but saturates instead of overflowing.
    #[inline(always)]
    fn vlq(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        loop {
            let b = self.byte()?;
            if v < 1 << 48 {
                v = (v << 7) | u64::from(b & 0x7F);
            }
            if b < 0x80 {
                return Some(v);
            }
        }
    }

    #[inline(always)]
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        if end > self.limit {
            return None;
        }
        let s = self.d.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
}

/// How one track chunk ended.
struct TrackEnd {
    /// Where the next chunk is expected.
    next_pos: usize,
    /// Events read before a failure (or all of them).
    events: u32,
    /// Why reading stopped early, with the byte offset.
    failure: Option<(K, usize)>,
}

/// Everything gathered while walking the tracks.
struct Walker<'s> {
    s: &'s mut Scratch,
    warnings: u32,
    first_warning: Option<K>,

    track: u32,
    tick: u64,
    n_active: u32,
    /// The polyphony change being accumulated for the tick `edge_tick` of the current track.
    edge_tick: u64,
    edge_delta: i32,

    max_tick: u64,
    track_ends: Vec<u64>,
    track_names: Vec<String>,
    copyright: Option<String>,
    first_tempo: Option<(u64, u32)>,
    tempo_changes: u32,
    first_time_sig: Option<(u64, u8, u8)>,
    first_key_sig: Option<(u64, &'static str)>,
    total_notes: u64,
    vel_sum: u64,
    programs: u128,
    lyrics: u32,
    kar_text: u32,
    kmidi: bool,
}

impl<'s> Walker<'s> {
    fn new(s: &'s mut Scratch) -> Self {
        Self {
            s,
            warnings: 0,
            first_warning: None,
            track: 0,
            tick: 0,
            n_active: 0,
            edge_tick: u64::MAX,
            edge_delta: 0,
            max_tick: 0,
            track_ends: Vec::new(),
            track_names: Vec::new(),
            copyright: None,
            first_tempo: None,
            tempo_changes: 0,
            first_time_sig: None,
            first_key_sig: None,
            total_notes: 0,
            vel_sum: 0,
            programs: 0,
            lyrics: 0,
            kar_text: 0,
            kmidi: false,
        }
    }

    #[inline]
    fn warn(&mut self, k: K) {
        self.warnings = self.warnings.saturating_add(1);
        if self.first_warning.is_none() {
            self.first_warning = Some(k);
        }
    }

    #[inline(always)]
    fn note_on(&mut self, ch: u8, pitch: u8, vel: u8) {
        let tick = self.tick;
        self.total_notes += 1;
        self.vel_sum += u64::from(vel);
        self.s.channels |= 1u16 << (ch & 0x0F);
        let idx = (usize::from(ch & 0x0F) << 7) | usize::from(pitch & 0x7F);
        let k = &mut self.s.keys[idx];
        k.count += 1;
        let sounding = k.active != 0;
        if !sounding {
            k.start = tick;
        }
        k.active = k.active.saturating_add(1);
        self.n_active = self.n_active.saturating_add(1);
        self.edge(1);
        self.s.fp.note_on(idx, tick, sounding);
        self.s.sim.note_on(ch, pitch, tick);
    }

    /// Adds `d` to the polyphony change of the current tick; a new tick first hands on the previous one's.
    #[inline(always)]
    fn edge(&mut self, d: i32) {
        if self.edge_tick != self.tick {
            self.flush_edge();
            self.edge_tick = self.tick;
        }
        self.edge_delta += d;
    }

    fn flush_edge(&mut self) {
        if self.edge_delta != 0 {
            self.s.poly.push(self.edge_tick, self.edge_delta);
        }
        self.edge_delta = 0;
    }

    #[inline(always)]
    fn note_off(&mut self, ch: u8, pitch: u8) {
        let tick = self.tick;
        let idx = (usize::from(ch & 0x0F) << 7) | usize::from(pitch & 0x7F);
        let k = &mut self.s.keys[idx];
        if k.active == 0 {
            return;
        }
        k.active -= 1;
        if k.active == 0 {
            k.dur = k.dur.saturating_add(tick.saturating_sub(k.start));
        }
        self.s.fp.note_off(idx, tick);
        self.n_active = self.n_active.saturating_sub(1);
        self.edge(-1);
    }

    /// Ends notes still sounding when their track ends, so the next track starts clean.
    fn close_track_notes(&mut self) {
        if self.n_active == 0 {
            return;
        }
        let tick = self.tick;
        // Only the rows of channels with a note-on can have a key sounding.
        let channels = self.s.channels;
        for ch in (0..16usize).filter(|&c| channels >> c & 1 == 1) {
            for idx in ch << 7..(ch + 1) << 7 {
                let k = &mut self.s.keys[idx];
                let a = k.active;
                if a == 0 {
                    continue;
                }
                k.active = 0;
                k.dur = k.dur.saturating_add(tick.saturating_sub(k.start));
                let a = i32::from(a);
                // The fingerprint's open notes are among these: they end with their track, as at a note-off.
                self.s.fp.note_off(idx, tick);
                self.edge(-a);
            }
        }
        self.n_active = 0;
    }

    fn meta(&mut self, kind: u8, p: &[u8]) {
        let tick = self.tick;
        match kind {
            0x01 => {
                if p.len() >= 6 && p[..6].eq_ignore_ascii_case(b"@KMIDI") {
                    self.kmidi = true;
                } else if p.first().is_some_and(|&b| b != b'@') {
                    self.kar_text += 1;
                }
            }
            0x02 if self.copyright.is_none() => {
                let t = decode_text(p);
                if !t.is_empty() {
                    self.copyright = Some(t);
                }
            }
            0x05 => self.lyrics += 1,
            0x51 => {
                if p.len() < 3 {
                    self.warn(K::BadMeta);
                    return;
                }
                let tempo = u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]);
                if tempo == 0 {
                    self.warn(K::BadMeta);
                    return;
                }
                self.tempo_changes += 1;
                self.s.tempos.push((tick, tempo, self.track));
                if self.first_tempo.is_none_or(|(t, _)| tick < t) {
                    self.first_tempo = Some((tick, tempo));
                }
            }
            0x58 => {
                // 2^14 is the largest denominator a smallint holds; larger is nonsense.
                if p.len() < 2 || p[1] > 14 {
                    self.warn(K::BadMeta);
                    return;
                }
                if self.first_time_sig.is_none_or(|(t, _, _)| tick < t) {
                    self.first_time_sig = Some((tick, p[0], p[1]));
                }
            }
            0x59 => {
                if p.len() < 2 {
                    self.warn(K::BadMeta);
                    return;
                }
                match key_signature_name(p[0] as i8, p[1]) {
                    Some(name) => {
                        if self.first_key_sig.is_none_or(|(t, _)| tick < t) {
                            self.first_key_sig = Some((tick, name));
                        }
                    }
                    None => self.warn(K::BadKeySignature),
                }
            }
            _ => {}
        }
    }

    /// Walks one track chunk's events from `start` to `end`. On a malformed event keeps what
    /// was read before it. Bytes left after an end-of-track are read on (as mido does) only
    /// when they parse cleanly: real files carry a stray end-of-track mid-song, and broken
    /// ones carry stale buffer contents after a genuine one.
    fn track(&mut self, d: &[u8], start: usize, end: usize, track_name_seen: &mut bool) -> TrackEnd {
        self.tick = 0;
        let mut c = Cur {
            d,
            pos: start,
            limit: end,
        };
        let mut running: u8 = 0;
        let mut events: u32 = 0;
        let mut failure = None;
        let mut eot = false;
        let mut next_pos = end;
        loop {
            while c.pos < c.limit {
                if self.fast_channel_event(&mut c, &mut running) {
                    events = events.saturating_add(1);
                    continue;
                }
                let ev_start = c.pos;
                match self.event(&mut c, &mut running, track_name_seen) {
                    Ok(is_eot) => {
                        events = events.saturating_add(1);
                        if is_eot {
                            eot = true;
                            break;
                        }
                    }
                    Err(k) => {
                        failure = Some((k, ev_start));
                        break;
                    }
                }
            }
            if failure.is_some() || !eot || c.pos >= end {
                break;
            }
            let rest = d.get(c.pos..end).unwrap_or(&[]);
            if rest.starts_with(b"MTrk") {
                // Declared length too long and the next track follows the end-of-track.
                self.warn(K::BadChunk);
                next_pos = c.pos;
                break;
            }
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            match skim(d, c.pos, end, running) {
                Some(stop) if stop > c.pos => {
                    self.warn(K::EarlyEndOfTrack);
                    c.limit = stop;
                    eot = false;
                }
                _ => {
                    self.warn(K::StrayBytes);
                    break;
                }
            }
        }
        if c.limit < end && !eot && failure.is_none() {
            // Stopped by skim at a track chunk inside the declared length.
            next_pos = c.limit;
        }
        self.close_track_notes();
        self.flush_edge();
        self.edge_tick = u64::MAX;
        self.s.poly.end_run();
        self.max_tick = self.max_tick.max(self.tick);
        self.track_ends.push(self.tick);
        if let Some((k, _)) = failure {
            self.warn(k);
        } else if !eot && events > 0 && next_pos == end {
            self.warn(K::MissingEndOfTrack);
        }
        TrackEnd {
            next_pos,
            events,
            failure,
        }
    }

    /// Reads one event; `Ok(true)` for end-of-track.
    #[inline(always)]
    fn event(&mut self, c: &mut Cur<'_>, running: &mut u8, name_seen: &mut bool) -> Result<bool, K> {
        let delta = c.vlq().ok_or(K::Truncated)?;
        let b = c.byte().ok_or(K::Truncated)?;
        let (status, first) = if b < 0x80 {
            if *running == 0 {
                return Err(K::BadRunningStatus);
            }
            (*running, Some(b))
        } else {
            (b, None)
        };
        match status {
            0x80..=0xEF => {
                *running = status;
                self.channel_event(c, status, first, delta)?;
                Ok(false)
            }
            0xFF => self.meta_event(c, delta, name_seen),
            0xF0 | 0xF7 => {
                let len = c.vlq().ok_or(K::Truncated)?;
                c.take(len).ok_or(K::Truncated)?;
                self.tick = self.tick.saturating_add(delta);
                Ok(false)
            }
            // System common / real-time messages have no business in a file but have a known
            // size, so they are stepped over. They do not touch running status.
            0xF1 | 0xF3 | 0xF2 | 0xF6 | 0xF8 | 0xFA | 0xFB | 0xFC | 0xFE => {
                let n = match status {
                    0xF2 => 2,
                    0xF1 | 0xF3 => 1,
                    _ => 0,
                };
                c.take(n).ok_or(K::Truncated)?;
                self.tick = self.tick.saturating_add(delta);
                Ok(false)
            }
            _ => Err(K::BadEvent),
        }
    }

    /// The common event read with one bounds check: a delta of one or two bytes, then a channel message with clean
    /// data bytes, wholly inside the track. Returns false, having read nothing, for anything else ([`Self::event`]
    /// reads that, with the same outcome this would have had).
    #[inline(always)]
    fn fast_channel_event(&mut self, c: &mut Cur<'_>, running: &mut u8) -> bool {
        const WINDOW: usize = 5;
        if c.pos + WINDOW > c.limit {
            return false;
        }
        let Some(w) = c.d.get(c.pos..c.pos + WINDOW) else {
            return false;
        };
        let (delta, at) = if w[0] < 0x80 {
            (u64::from(w[0]), 1)
        } else if w[1] < 0x80 {
            (u64::from(w[0] & 0x7F) << 7 | u64::from(w[1]), 2)
        } else {
            return false;
        };
        let (status, at) = if w[at] >= 0x80 { (w[at], at + 1) } else { (*running, at) };
        // Running status 0 (none yet) is below 0x80 too: the slow path reports it.
        if !(0x80..0xF0).contains(&status) {
            return false;
        }
        let two = !matches!(status & 0xF0, 0xC0 | 0xD0);
        let d1 = w[at];
        let d2 = if two { w[at + 1] } else { 0 };
        if (d1 | d2) & 0x80 != 0 {
            return false;
        }
        c.pos += at + 1 + usize::from(two);
        *running = status;
        self.apply_channel(status, d1, d2, delta);
        true
    }

    /// Reads a channel message's data bytes (`first` already read under running status) and counts it.
    #[inline(always)]
    fn channel_event(&mut self, c: &mut Cur<'_>, status: u8, first: Option<u8>, delta: u64) -> Result<(), K> {
        let d1 = match first {
            Some(x) => x,
            None => c.byte().ok_or(K::Truncated)?,
        };
        let two = !matches!(status & 0xF0, 0xC0 | 0xD0);
        let d2 = if two { c.byte().ok_or(K::Truncated)? } else { 0 };
        // Data bytes above 127: clip like mido's clip=True, so the event keeps its size.
        let (d1, d2) = if (d1 | d2) & 0x80 != 0 {
            self.warn(K::BadData);
            (d1.min(127), d2.min(127))
        } else {
            (d1, d2)
        };
        self.apply_channel(status, d1, d2, delta);
        Ok(())
    }

    /// Advances the clock and counts one channel message whose data bytes are valid (both readers end here).
    #[inline(always)]
    fn apply_channel(&mut self, status: u8, d1: u8, d2: u8, delta: u64) {
        self.tick = self.tick.saturating_add(delta);
        let ch = status & 0x0F;
        match status & 0xF0 {
            0x90 if d2 > 0 => self.note_on(ch, d1, d2),
            0x80 | 0x90 => self.note_off(ch, d1),
            0xC0 => self.programs |= 1u128 << d1,
            _ => {}
        }
    }

    /// Reads a meta event after its `FF` status; `Ok(true)` for end-of-track. Only a track's first name counts.
    #[inline]
    fn meta_event(&mut self, c: &mut Cur<'_>, delta: u64, name_seen: &mut bool) -> Result<bool, K> {
        let kind = c.byte().ok_or(K::Truncated)?;
        let len = c.vlq().ok_or(K::Truncated)?;
        let payload = c.take(len).ok_or(K::Truncated)?;
        self.tick = self.tick.saturating_add(delta);
        if kind == 0x2F {
            return Ok(true);
        }
        if kind == 0x03 {
            if !*name_seen {
                *name_seen = true;
                let t = decode_text(payload);
                if !t.is_empty() {
                    self.track_names.push(t);
                }
            }
        } else {
            self.meta(kind, payload);
        }
        Ok(false)
    }
}

/// Checks that `d[start..end]` is a clean run of events (running status `running` in force).
/// Returns where that run stops: just after the next end-of-track, at a `MTrk` id met on an
/// event boundary, or at `end`; `None` if an event is malformed first.
fn skim(d: &[u8], start: usize, end: usize, mut running: u8) -> Option<usize> {
    let mut c = Cur {
        d,
        pos: start,
        limit: end,
    };
    while c.pos < c.limit {
        if d.get(c.pos..c.pos + 4) == Some(b"MTrk") {
            return Some(c.pos);
        }
        c.vlq()?;
        let b = c.byte()?;
        let (status, has_first) = if b < 0x80 {
            if running == 0 {
                return None;
            }
            (running, true)
        } else {
            (b, false)
        };
        match status {
            0x80..=0xEF => {
                running = status;
                let n = if matches!(status & 0xF0, 0xC0 | 0xD0) { 1 } else { 2 };
                c.take(n - u64::from(has_first))?;
            }
            0xFF => {
                let kind = c.byte()?;
                let len = c.vlq()?;
                c.take(len)?;
                if kind == 0x2F {
                    return Some(c.pos);
                }
            }
            0xF0 | 0xF7 => {
                let len = c.vlq()?;
                c.take(len)?;
            }
            0xF2 => {
                c.take(2)?;
            }
            0xF1 | 0xF3 => {
                c.take(1)?;
            }
            0xF6 | 0xF8 | 0xFA | 0xFB | 0xFC | 0xFE => {}
            _ => return None,
        }
    }
    Some(c.pos)
}

#[inline]
fn be_u32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[inline]
fn be_u16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Four printable ASCII bytes: what a chunk id looks like (alien chunks included).
fn looks_like_chunk_id(id: &[u8]) -> bool {
    id.len() == 4 && id.iter().all(|&b| (0x20..0x7F).contains(&b))
}

/// Seconds for `end` ticks through a tempo map sorted by tick.
fn tempo_map_seconds(tempos: impl Iterator<Item = (u64, u32)>, end: u64, tpq: u16) -> f64 {
    if tpq == 0 {
        return 0.0;
    }
    let us_ticks = tempo_map_us_ticks(tempos, end);
    us_ticks as f64 / (f64::from(tpq) * 1e6)
}

/// Σ ticks × µs-per-quarter up to `end` (exact integer arithmetic).
fn tempo_map_us_ticks(tempos: impl Iterator<Item = (u64, u32)>, end: u64) -> u128 {
    let mut acc: u128 = 0;
    let mut prev: u64 = 0;
    let mut tempo = DEFAULT_TEMPO_US;
    for (t, tmp) in tempos {
        if t >= end {
            break;
        }
        acc += u128::from(t - prev) * u128::from(tempo);
        prev = t;
        tempo = tmp;
    }
    acc + u128::from(end.saturating_sub(prev)) * u128::from(tempo)
}

fn bpm_of(tempo_us: u32) -> f64 {
    60_000_000.0 / f64::from(tempo_us)
}

fn bits_u128(mask: u128) -> Vec<i16> {
    (0..128i16).filter(|&i| mask >> i & 1 == 1).collect()
}

/// What the `MThd` chunk says, and where the first chunk after it starts.
struct Header {
    /// Offset of `MThd` (0 unless stray bytes precede it).
    at: usize,
    len: u32,
    format: u16,
    ntracks: u16,
    timing: Timing,
    /// Length or format out of spec.
    bad: bool,
    first_chunk: usize,
}

/// The SMF bytes of `input`: itself, or the `data` chunk of a RIFF RMID wrapper.
fn smf_bytes(input: &[u8]) -> Result<&[u8], MidiError> {
    match unwrap_rmid(input) {
        Some(inner) => Ok(inner),
        None if input.starts_with(b"RIFF") && input.get(8..12) == Some(b"RMID") => {
            Err(MidiError::new(K::NoHeader, "RIFF RMID file without a 'data' chunk"))
        }
        None => Ok(input),
    }
}

/// Offset of the `MThd` chunk: at the start, or a little later behind stray bytes (warned).
fn find_header(data: &[u8], w: &mut Walker<'_>) -> Result<usize, MidiError> {
    if data.starts_with(b"MThd") {
        return Ok(0);
    }
    let window = &data[..data.len().min(HEADER_SEARCH_WINDOW)];
    match memchr::memmem::find_iter(window, b"MThd").find(|&i| be_u32(data, i + 4) == Some(6)) {
        Some(i) => {
            w.warn(K::StrayBytes);
            Ok(i)
        }
        None if !data.is_empty() && b"MThd".starts_with(&data[..data.len().min(4)]) => Err(MidiError::new(
            K::Truncated,
            format!("file ends after {} bytes", data.len()),
        )),
        None => Err(MidiError::new(K::NoHeader, "no MThd header chunk")),
    }
}

/// Reads the header chunk; an odd length or format is warned about and read on.
fn read_header(data: &[u8], w: &mut Walker<'_>) -> Result<Header, MidiError> {
    let h = find_header(data, w)?;
    let (Some(len), Some(format), Some(ntracks), Some(division)) = (
        be_u32(data, h + 4),
        be_u16(data, h + 8),
        be_u16(data, h + 10),
        be_u16(data, h + 12),
    ) else {
        return Err(MidiError::new(
            K::Truncated,
            format!("header chunk cut short: file ends after {} bytes", data.len()),
        ));
    };
    let mut first_chunk = h + 14;
    let mut bad = false;
    if len != 6 {
        let declared = (h + 8).saturating_add(len as usize);
        if len > 6 && declared <= data.len() {
            first_chunk = declared;
        } else {
            bad = true;
        }
    }
    if format > 2 {
        bad = true;
    }
    if bad {
        w.warn(K::BadHeader);
    }
    Ok(Header {
        at: h,
        len,
        format,
        ntracks,
        timing: timing_of(division, w),
        bad,
        first_chunk,
    })
}

/// The header's timing division; an unusable one is warned about (durations then come out 0).
fn timing_of(division: u16, w: &mut Walker<'_>) -> Timing {
    if division & 0x8000 != 0 {
        let fps = match -((division >> 8) as u8 as i8 as i16) {
            24 => 24.0,
            25 => 25.0,
            29 => 30_000.0 / 1001.0,
            30 => 30.0,
            _ => 0.0,
        };
        let tpf = (division & 0xFF) as u8;
        if fps == 0.0 || tpf == 0 {
            w.warn(K::BadHeader);
        }
        Timing::Smpte(fps, tpf)
    } else {
        if division == 0 {
            w.warn(K::BadHeader);
        }
        Timing::Ticks(division)
    }
}

/// What walking the chunks after the header found.
#[derive(Default)]
struct Chunks {
    tracks_found: u32,
    readable: u32,
    /// The first unreadable track's reason and byte offset.
    first_failure: Option<(K, usize)>,
    unknown_chunks: u32,
}

impl Chunks {
    /// The error for a file without one readable track, naming the likeliest cause; `None` if a track was read.
    fn unreadable_error(&self, header: &Header, data_len: usize) -> Option<MidiError> {
        if self.readable > 0 {
            return None;
        }
        let (ntracks, hlen, format) = (header.ntracks, header.len, header.format);
        if header.bad && (self.tracks_found > 0 || ntracks > 0) {
            return Some(MidiError::new(
                K::BadHeader,
                format!("malformed header (length {hlen}, format {format}) and no readable track"),
            ));
        }
        if let Some((k, at)) = self.first_failure {
            return Some(MidiError::new(
                k,
                format!("no readable track: first track unreadable at byte {at}"),
            ));
        }
        if self.tracks_found == 0 && ntracks > 0 {
            if header.at + 14 >= data_len {
                return Some(MidiError::new(
                    K::Truncated,
                    format!(
                        "file ends after the header; {} declared",
                        crate::human::counted(ntracks, "track")
                    ),
                ));
            }
            let kind = if self.unknown_chunks > 0 {
                K::UnknownChunk
            } else {
                K::NoTracks
            };
            return Some(MidiError::new(
                kind,
                format!("no MTrk chunk; {} declared", crate::human::counted(ntracks, "track")),
            ));
        }
        None
    }
}

impl Walker<'_> {
    /// Reads the track chunk whose body spans `body..body + clen` (cut at the end of the file); returns where
    /// the next chunk is expected.
    fn track_chunk(&mut self, data: &[u8], body: usize, clen: usize, chunks: &mut Chunks) -> usize {
        let declared_end = body.saturating_add(clen);
        let end = if declared_end > data.len() {
            self.warn(K::Truncated);
            data.len()
        } else {
            declared_end
        };
        let mut name_seen = false;
        let te = self.track(data, body, end, &mut name_seen);
        self.track = self.track.saturating_add(1);
        chunks.tracks_found = chunks.tracks_found.saturating_add(1);
        if te.events > 0 || te.failure.is_none() {
            chunks.readable += 1;
        } else if chunks.first_failure.is_none() {
            chunks.first_failure = te.failure;
        }
        te.next_pos
    }

    /// Walks every chunk after the header: reads tracks, steps over alien chunks, and after a wrong length
    /// searches for the next track.
    fn chunks(&mut self, data: &[u8], header: &Header) -> Chunks {
        let mut chunks = Chunks::default();
        let mut pos = header.first_chunk;
        // Searching for a lost track never looks before this point again, so it always progresses.
        // It starts right after the fixed header fields, in case the header length was garbage.
        let mut resync_floor = header.at + 14;
        while pos < data.len() {
            if data.len() - pos < 8 {
                if data[pos..].iter().any(|&b| b != 0) {
                    self.warn(K::StrayBytes);
                }
                break;
            }
            let id = &data[pos..pos + 4];
            let clen = be_u32(data, pos + 4).unwrap_or(0) as usize;
            let body = pos + 8;
            if id == b"MTrk" {
                pos = self.track_chunk(data, body, clen, &mut chunks);
                resync_floor = resync_floor.max(body);
                continue;
            }
            if looks_like_chunk_id(id) {
                let next = body.saturating_add(clen);
                let next_ok = next == data.len()
                    || (next < data.len() && data.get(next..next + 4).is_some_and(looks_like_chunk_id));
                if next_ok {
                    chunks.unknown_chunks += 1;
                    self.warn(K::UnknownChunk);
                    pos = next;
                    continue;
                }
            }
            // Zero padding to a block size (XMODEM transfers, MacBinary) is not worth a warning.
            if data[pos..].iter().all(|&b| b == 0) {
                break;
            }
            // Neither a track nor a believable alien chunk. Once the declared tracks are in, this
            // is junk after the last track (often stale copies of earlier blocks): stop.
            if chunks.tracks_found > 0 && chunks.tracks_found >= u32::from(header.ntracks) {
                self.warn(K::StrayBytes);
                break;
            }
            // Otherwise a previous length was wrong: look for the next track chunk, also inside
            // the slack of the last track.
            self.warn(K::BadChunk);
            let from = resync_floor.min(data.len());
            match memchr::memmem::find(&data[from..], b"MTrk") {
                Some(i) => {
                    pos = from + i;
                    resync_floor = pos + 4;
                }
                None => break,
            }
        }
        chunks
    }
}

fn analyze_with(input: &[u8], scratch: &mut Scratch) -> Result<MidiMetadata, MidiError> {
    scratch.reset();
    let data = smf_bytes(input)?;
    let mut w = Walker::new(scratch);
    let header = read_header(data, &mut w)?;
    w.s.fp.start(match header.timing {
        Timing::Ticks(tpq) => TickUnit::per_quarter(tpq),
        // 29.97 (drop-frame) is the only fractional rate the header can name.
        Timing::Smpte(fps, tpf) => TickUnit::smpte(if fps.fract() != 0.0 { 29 } else { fps as u8 }, tpf),
    });
    w.s.sim.start(match header.timing {
        Timing::Ticks(tpq) => Some(tpq),
        Timing::Smpte(..) => None,
    });
    let chunks = w.chunks(data, &header);
    if let Some(e) = chunks.unreadable_error(&header, data.len()) {
        return Err(e);
    }
    if chunks.tracks_found != u32::from(header.ntracks) {
        w.warn(K::TrackCount);
    }
    finish(w, header.format, chunks.tracks_found, header.timing)
}

/// Playing time in seconds and the average tempo, through the tempo map (per sequence for format 2).
fn durations(w: &mut Walker<'_>, format: u16, timing: Timing) -> (f64, Option<f64>) {
    let max_tick = w.max_tick;
    // Tempo map: stable sort keeps track order, then event order, within a tick (as mido's merge).
    if !w.s.tempos.is_sorted_by_key(|t| t.0) {
        w.s.tempos.sort_by_key(|t| t.0);
    }
    match timing {
        Timing::Smpte(fps, tpf) => {
            let s = if fps > 0.0 && tpf > 0 {
                max_tick as f64 / (fps * f64::from(tpf))
            } else {
                0.0
            };
            (s, None)
        }
        Timing::Ticks(tpq) if format == 2 => {
            // Format 2: independent sequences, each with its own tempo map; the longest wins.
            let mut best = (0.0f64, 0u64, 0u128);
            for (ti, &end) in w.track_ends.iter().enumerate() {
                let ti = ti as u32;
                let map = w.s.tempos.iter().filter(|t| t.2 == ti).map(|t| (t.0, t.1));
                let us = tempo_map_us_ticks(map, end);
                let secs = if tpq > 0 {
                    us as f64 / (f64::from(tpq) * 1e6)
                } else {
                    0.0
                };
                if (secs, end) > (best.0, best.1) {
                    best = (secs, end, us);
                }
            }
            let avg = avg_bpm_of(w.first_tempo, best.1, best.2);
            (best.0, avg)
        }
        Timing::Ticks(tpq) => {
            let map = w.s.tempos.iter().map(|t| (t.0, t.1));
            let secs = tempo_map_seconds(map.clone(), max_tick, tpq);
            let us = tempo_map_us_ticks(map, max_tick);
            (secs, avg_bpm_of(w.first_tempo, max_tick, us))
        }
    }
}

/// Turns what the walk gathered into the stored metadata: durations, polyphony, key, note statistics.
fn finish(mut w: Walker<'_>, format: u16, tracks: u32, timing: Timing) -> Result<MidiMetadata, MidiError> {
    let max_tick = w.max_tick;
    let (duration_seconds, avg_bpm) = durations(&mut w, format, timing);
    let poly = w.s.poly.peak();

    let keys = KeyStats::of(w.s);
    let pc_weights: [f64; 12] = if keys.pc_dur.iter().any(|&d| d > 0) {
        keys.pc_dur.map(|d| d as f64)
    } else {
        keys.pc_count.map(|c| c as f64)
    };
    let detected = detect_key(&pc_weights);

    let total_notes = w.total_notes;
    let ticks_per_quarter_note = match timing {
        Timing::Ticks(t) => Some(i32::from(t)),
        Timing::Smpte(..) => None,
    };
    let fingerprints = w.s.fp.finish(total_notes);
    let features = w.s.sim.finish(&Totals {
        pc_count: keys.pc_count,
        pitched_notes: keys.pitched_notes,
        pitch_sum: keys.pitch_sum,
        pitch_lo: keys.pitched_lo,
        pitch_hi: keys.pitched_hi,
        total_notes,
        beats: ticks_per_quarter_note.map_or(0.0, |t| max_tick as f64 / f64::from(t.max(1))),
        polyphony_max: u64::try_from(poly).unwrap_or(0),
        programs: w.programs,
        bpm: w.first_tempo.map(|(_, t)| bpm_of(t)),
    });
    let lyrics = if w.kmidi {
        w.lyrics.saturating_add(w.kar_text)
    } else {
        w.lyrics
    };

    Ok(MidiMetadata {
        format: format as i16,
        num_tracks: i32::try_from(tracks).unwrap_or(i32::MAX),
        ticks_per_quarter_note,
        duration_ticks: i64::try_from(max_tick).unwrap_or(i64::MAX),
        duration_seconds,
        track_names: std::mem::take(&mut w.track_names),
        copyright: w.copyright.take(),
        music: Music {
            bpm: w.first_tempo.map(|(_, t)| bpm_of(t)),
            avg_bpm,
            tempo_changes: i32::try_from(w.tempo_changes).unwrap_or(i32::MAX),
            time_signature_numerator: w.first_time_sig.map(|(_, n, _)| i16::from(n)),
            time_signature_denominator: w.first_time_sig.map(|(_, _, e)| 1i16 << e),
            key_signature: w.first_key_sig.map(|(_, k)| k.to_owned()),
            detected_key: detected.map(|(k, _)| k.to_owned()),
            key_confidence: detected.map(|(_, r)| r),
            total_notes: i32::try_from(total_notes).unwrap_or(i32::MAX),
            unique_pitches: keys.pitches.count_ones() as i16,
            pitch_range_min: (keys.pitches != 0).then(|| keys.pitches.trailing_zeros() as i16),
            pitch_range_max: (keys.pitches != 0).then(|| 127 - keys.pitches.leading_zeros() as i16),
            avg_velocity: (total_notes > 0).then(|| w.vel_sum as f64 / total_notes as f64),
            polyphony_max: i32::try_from(poly).unwrap_or(i32::MAX),
            note_density: if duration_seconds > 0.0 {
                total_notes as f64 / duration_seconds
            } else {
                0.0
            },
            channels: (0..16i16).filter(|&c| w.s.channels >> c & 1 == 1).collect(),
            programs: bits_u128(w.programs),
            has_drums: w.s.channels >> DRUM_CHANNEL & 1 == 1,
            is_karaoke: w.kmidi || w.lyrics > 0,
            lyrics_count: i32::try_from(lyrics).unwrap_or(i32::MAX),
        },
        warnings: w.warnings,
        first_warning: w.first_warning,
        notes_fingerprint: fingerprints.map(|f| f.exact),
        transposed_fingerprint: fingerprints.map(|f| f.transposed),
        coarse: features.as_ref().map(|f| super::similarity::coarse(f)),
        features: features.map(|f| f.to_vec()),
    })
}

/// The note statistics folded from the per-key sums.
struct KeyStats {
    /// Bit p set: some note-on of pitch p, any channel.
    pitches: u128,
    /// Non-drum note-ons per pitch class.
    pc_count: [u64; 12],
    /// Non-drum ticks sounded per pitch class (saturating: the sum of non-negative terms is then order-free).
    pc_dur: [u64; 12],
    /// Non-drum note-ons, the sum of their pitches, their lowest and highest pitch (the similarity features').
    pitched_notes: u64,
    pitch_sum: u64,
    pitched_lo: Option<u8>,
    pitched_hi: Option<u8>,
}

impl KeyStats {
    fn of(s: &Scratch) -> Self {
        let mut k = KeyStats {
            pitches: 0,
            pc_count: [0; 12],
            pc_dur: [0; 12],
            pitched_notes: 0,
            pitch_sum: 0,
            pitched_lo: None,
            pitched_hi: None,
        };
        for ch in (0..16usize).filter(|&c| s.channels >> c & 1 == 1) {
            let row = ch << 7;
            for p in 0..128usize {
                let key = &s.keys[row + p];
                let n = key.count;
                if n > 0 {
                    k.pitches |= 1u128 << p;
                }
                if ch != usize::from(DRUM_CHANNEL) {
                    k.pc_count[p % 12] += n;
                    k.pc_dur[p % 12] = k.pc_dur[p % 12].saturating_add(key.dur);
                    if n > 0 {
                        k.pitched_notes += n;
                        k.pitch_sum += n * p as u64;
                        k.pitched_lo = Some(k.pitched_lo.map_or(p as u8, |l| l.min(p as u8)));
                        k.pitched_hi = Some(k.pitched_hi.map_or(p as u8, |h| h.max(p as u8)));
                    }
                }
            }
        }
        k
    }
}

/// Quarter notes per minute over the whole piece = 60e6 × ticks / Σ(ticks × µs per quarter).
fn avg_bpm_of(first_tempo: Option<(u64, u32)>, end: u64, us_ticks: u128) -> Option<f64> {
    let (_, first) = first_tempo?;
    if end == 0 || us_ticks == 0 {
        return Some(bpm_of(first));
    }
    Some(60_000_000.0 * end as f64 / us_ticks as f64)
}
