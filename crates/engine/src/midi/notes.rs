//! The notes of one MIDI file (pitch, channel, start and end in seconds) read with midly, for the piano roll.
//!
//! Separate from the importer's analyzer: the browser reads one file at a time and wants every note with its
//! timing, while the analyzer keeps only totals and never allocates per event.

use midly::{MetaMessage, MidiMessage, Timing, TrackEventKind};

/// Tempo in force before the first set_tempo event (120 BPM), as in the analyzer.
const DEFAULT_TEMPO_US: u32 = super::DEFAULT_TEMPO_US;
/// How far into a file the header is looked for (a MacBinary wrapper is 128 bytes), as the analyzer does.
const HEADER_SEARCH_WINDOW: usize = 512;
/// MIDI channel index (0-based) of General MIDI percussion.
pub const DRUM_CHANNEL: u8 = 9;

/// One note: pitch 0..=127 on a 0-based channel, from `start` to `end` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    pub start: f64,
    pub end: f64,
    pub pitch: u8,
    pub channel: u8,
    pub velocity: u8,
}

impl Note {
    pub fn is_drum(&self) -> bool {
        self.channel == DRUM_CHANNEL
    }
}

/// Every note of a file, sorted by start time (then pitch), at most the cap asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NoteList {
    pub notes: Vec<Note>,
    /// The end of the last note (or of the longest track, if later), in seconds.
    pub duration_seconds: f64,
    /// More notes were in the file than the cap let through: the later ones (by track order) are missing.
    pub truncated: bool,
}

/// Why a file's notes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotesError {
    #[error("no MIDI header (MThd) in the file")]
    NoHeader,
    #[error("unreadable MIDI file: {0}")]
    Parse(String),
}

/// A note in ticks, before the tempo map turns it into seconds.
#[derive(Debug, Clone, Copy)]
struct TickNote {
    start: u64,
    end: u64,
    pitch: u8,
    channel: u8,
    velocity: u8,
}

/// One track's notes and tempo changes, in ticks.
#[derive(Default)]
struct TrackTicks {
    notes: Vec<TickNote>,
    tempos: Vec<(u64, u32)>,
    end: u64,
}

/// Read the notes of `data` (a Standard MIDI File, a RIFF RMID, or one behind a short wrapper), keeping at most
/// `cap` notes. A track that breaks off keeps what was read before the break. Never panics.
pub fn read_notes(data: &[u8], cap: usize) -> Result<NoteList, NotesError> {
    let smf = smf_start(data).ok_or(NotesError::NoHeader)?;
    let (header, tracks) = midly::parse(smf).map_err(|e| NotesError::Parse(e.to_string()))?;
    let mut per_track: Vec<TrackTicks> = Vec::new();
    let mut kept = 0usize;
    let mut truncated = false;
    for track in tracks {
        // A track whose chunk cannot be read is skipped; the others still count.
        let Ok(events) = track else { continue };
        let t = read_track(events, cap - kept, &mut truncated);
        kept += t.notes.len();
        per_track.push(t);
    }
    if per_track.is_empty() {
        return Err(NotesError::Parse("no readable track".into()));
    }
    let tempos: Vec<&[(u64, u32)]> = per_track.iter().map(|t| t.tempos.as_slice()).collect();
    let maps = TempoMaps::new(&header, &tempos);
    let mut notes = Vec::with_capacity(kept);
    let mut duration = 0.0f64;
    for (i, t) in per_track.iter().enumerate() {
        let map = maps.of(i);
        duration = duration.max(map.seconds(t.end));
        notes.extend(t.notes.iter().map(|n| Note {
            start: map.seconds(n.start),
            end: map.seconds(n.end),
            pitch: n.pitch,
            channel: n.channel,
            velocity: n.velocity,
        }));
    }
    notes.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.pitch.cmp(&b.pitch)));
    if let Some(last) = notes.iter().map(|n| n.end).reduce(f64::max) {
        duration = duration.max(last);
    }
    Ok(NoteList {
        notes,
        duration_seconds: duration,
        truncated,
    })
}

/// The bytes from the `MThd` header on (or a RIFF wrapper, which midly unwraps itself).
pub(crate) fn smf_start(data: &[u8]) -> Option<&[u8]> {
    if data.starts_with(b"RIFF") {
        return Some(data);
    }
    let window = &data[..data.len().min(HEADER_SEARCH_WINDOW + 4)];
    let at = window.windows(4).position(|w| w == b"MThd")?;
    Some(&data[at..])
}

/// The notes of one track (at most `room`), its tempo changes and its last tick.
fn read_track(events: midly::EventIter<'_>, room: usize, truncated: &mut bool) -> TrackTicks {
    let mut t = TrackTicks::default();
    // Notes sounding, per (channel, pitch): start tick and velocity, first in first out.
    let mut open: Vec<Vec<(u64, u8)>> = vec![Vec::new(); 16 * 128];
    let mut tick = 0u64;
    for ev in events {
        let Ok(ev) = ev else { break };
        tick += u64::from(u32::from(ev.delta));
        match ev.kind {
            TrackEventKind::Midi { channel, message } => {
                let ch = u8::from(channel);
                match message {
                    MidiMessage::NoteOn { key, vel } if u8::from(vel) > 0 => {
                        open[usize::from(ch) * 128 + usize::from(u8::from(key))].push((tick, u8::from(vel)));
                    }
                    MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                        let slot = &mut open[usize::from(ch) * 128 + usize::from(u8::from(key))];
                        if !slot.is_empty() {
                            let (start, velocity) = slot.remove(0);
                            push_note(&mut t.notes, room, truncated, start, tick, ch, u8::from(key), velocity);
                        }
                    }
                    _ => {}
                }
            }
            TrackEventKind::Meta(MetaMessage::Tempo(us)) if u32::from(us) > 0 => t.tempos.push((tick, u32::from(us))),
            _ => {}
        }
    }
    t.end = tick;
    // Notes never released sound to the end of the track.
    for (i, slot) in open.iter().enumerate() {
        for &(start, velocity) in slot {
            let (ch, pitch) = ((i / 128) as u8, (i % 128) as u8);
            push_note(&mut t.notes, room, truncated, start, tick, ch, pitch, velocity);
        }
    }
    t
}

#[allow(clippy::too_many_arguments)]
fn push_note(
    notes: &mut Vec<TickNote>,
    room: usize,
    truncated: &mut bool,
    start: u64,
    end: u64,
    channel: u8,
    pitch: u8,
    velocity: u8,
) {
    if notes.len() >= room {
        *truncated = true;
        return;
    }
    notes.push(TickNote {
        start,
        end,
        pitch,
        channel,
        velocity,
    });
}

/// The tempo map of each track: a format 2 file's tracks are independent songs, each with its own tempo changes;
/// in the other formats every track follows the tempo changes of all tracks together.
pub(crate) enum TempoMaps {
    PerTrack(Vec<TempoMap>),
    Shared(TempoMap),
}

impl TempoMaps {
    /// `tempos`: each track's (tick, microseconds per quarter) changes, in file order.
    pub(crate) fn new(header: &midly::Header, tempos: &[&[(u64, u32)]]) -> Self {
        if header.format == midly::Format::Sequential {
            return TempoMaps::PerTrack(tempos.iter().map(|t| TempoMap::new(header.timing, t)).collect());
        }
        let mut all: Vec<(u64, u32)> = tempos.iter().flat_map(|t| t.iter().copied()).collect();
        all.sort_by_key(|&(tick, _)| tick);
        TempoMaps::Shared(TempoMap::new(header.timing, &all))
    }

    /// The map of track `i` (as numbered in `tempos`).
    pub(crate) fn of(&self, i: usize) -> &TempoMap {
        match self {
            TempoMaps::PerTrack(maps) => &maps[i],
            TempoMaps::Shared(map) => map,
        }
    }
}

/// Ticks to seconds through a tempo map (or the frame rate of SMPTE timing). Shared with the player's event list
/// (`listen::performance`), so that what is heard and the piano roll keep one clock.
pub(crate) struct TempoMap {
    /// (tick, seconds at that tick, seconds per tick from there on).
    segments: Vec<(u64, f64, f64)>,
}

impl TempoMap {
    pub(crate) fn new(timing: Timing, tempos: &[(u64, u32)]) -> Self {
        let tpq = match timing {
            Timing::Metrical(t) => u16::from(t),
            Timing::Timecode(fps, sub) => {
                let per_second = f64::from(fps.as_f32()) * f64::from(sub.max(1));
                return TempoMap {
                    segments: vec![(0, 0.0, 1.0 / per_second)],
                };
            }
        };
        let per_tick = |us: u32| f64::from(us) / 1e6 / f64::from(tpq.max(1));
        let mut segments = vec![(0u64, 0.0f64, per_tick(DEFAULT_TEMPO_US))];
        for &(tick, us) in tempos {
            let (t0, s0, rate) = *segments.last().expect("never empty");
            let at = s0 + (tick - t0) as f64 * rate;
            if tick == t0 {
                segments.pop();
            }
            segments.push((tick, at, per_tick(us)));
        }
        TempoMap { segments }
    }

    pub(crate) fn seconds(&self, tick: u64) -> f64 {
        let i = self.segments.partition_point(|s| s.0 <= tick).saturating_sub(1);
        let (t0, s0, rate) = self.segments[i];
        s0 + tick.saturating_sub(t0) as f64 * rate
    }
}

/// Small Standard MIDI Files for the tests of everything that reads notes.
#[cfg(test)]
pub(crate) mod test_files {
    /// A format-0 file at 480 ticks per quarter: `events` are (delta, bytes) pairs.
    pub(crate) fn smf(events: &[(u32, &[u8])]) -> Vec<u8> {
        let mut track = Vec::new();
        for (delta, bytes) in events {
            let mut v = *delta;
            let mut var = vec![(v & 0x7f) as u8];
            v >>= 7;
            while v > 0 {
                var.insert(0, (v & 0x7f) as u8 | 0x80);
                v >>= 7;
            }
            track.extend(var);
            track.extend_from_slice(bytes);
        }
        track.extend_from_slice(&[0, 0xff, 0x2f, 0]);
        let mut out = b"MThd\0\0\0\x06\0\0\0\x01\x01\xe0".to_vec();
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&(track.len() as u32).to_be_bytes());
        out.extend(track);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_files::smf;
    use super::*;

    #[test]
    fn notes_follow_the_tempo_map_and_pair_offs_first_in_first_out() {
        let data = smf(&[
            (0, &[0x90, 60, 100]),
            (480, &[0x80, 60, 0]),
            // 60 BPM from here: a quarter lasts a second.
            (0, &[0xff, 0x51, 3, 0x0f, 0x42, 0x40]),
            (0, &[0x99, 36, 90]),
            (0, &[0x99, 36, 80]),
            (480, &[0x99, 36, 0]),
            (480, &[0x89, 36, 0]),
        ]);
        let list = read_notes(&data, 100).unwrap();
        assert_eq!(list.notes.len(), 3);
        let c4 = list.notes[0];
        assert_eq!((c4.pitch, c4.channel, c4.velocity), (60, 0, 100));
        assert!((c4.start, c4.end) == (0.0, 0.5), "{c4:?}");
        let drums: Vec<&Note> = list.notes.iter().filter(|n| n.is_drum()).collect();
        assert_eq!(drums.len(), 2);
        // The first hit (velocity 90) ends at the first release.
        let first = drums.iter().find(|n| n.velocity == 90).unwrap();
        assert!(
            (first.start - 0.5).abs() < 1e-9 && (first.end - 1.5).abs() < 1e-9,
            "{first:?}"
        );
        assert!((list.duration_seconds - 2.5).abs() < 1e-9, "{}", list.duration_seconds);
        assert!(!list.truncated);
    }

    #[test]
    fn the_cap_truncates_and_unreleased_notes_last_to_the_track_end() {
        let data = smf(&[(0, &[0x90, 60, 100]), (0, &[0x90, 64, 100]), (960, &[0x90, 67, 100])]);
        let all = read_notes(&data, 10).unwrap();
        assert_eq!(all.notes.len(), 3);
        assert!(all.notes.iter().all(|n| (n.end - 1.0).abs() < 1e-9), "{:?}", all.notes);
        let capped = read_notes(&data, 2).unwrap();
        assert_eq!(capped.notes.len(), 2);
        assert!(capped.truncated);
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        assert_eq!(read_notes(b"not midi at all", 10), Err(NotesError::NoHeader));
        assert!(read_notes(b"MThd\0\0", 10).is_err());
        let mut wrapped = vec![0u8; 128];
        wrapped.extend(smf(&[(0, &[0x90, 60, 100]), (480, &[0x80, 60, 0])]));
        assert_eq!(
            read_notes(&wrapped, 10).unwrap().notes.len(),
            1,
            "a MacBinary wrapper is skipped"
        );
        let whole = smf(&[(0, &[0x90, 60, 100]), (480, &[0x80, 60, 0])]);
        for cut in 0..whole.len() {
            let _ = read_notes(&whole[..cut], 10);
        }
    }
}
