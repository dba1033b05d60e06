//! A MIDI file as one time-ordered list of channel messages in seconds: what the synthesizer and a MIDI port are fed.
//!
//! It keeps the piano roll's clock: the same header search, the same tempo map (`midi::notes::TempoMap`), the same
//! length, so that the playhead drawn over the roll is where the music is. Damaged tracks keep what was read
//! before the damage, as the roll does.
use std::sync::Arc;

use midly::{MetaMessage, MidiMessage, TrackEventKind};

use crate::midi::NotesError;
use crate::midi::notes::{TempoMaps, smf_start};
use crate::source::{Limits, read_location};

/// The most events kept for one file: every real song fits; a bound on memory (16 bytes an event).
pub const MAX_EVENTS: usize = 4_000_000;

/// One channel message at a time in seconds. `len` bytes of `msg` are used (2 for program change and channel
/// pressure, 3 otherwise).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub at: f64,
    pub msg: [u8; 3],
    pub len: u8,
}

impl Event {
    pub fn bytes(&self) -> &[u8] {
        &self.msg[..usize::from(self.len)]
    }

    pub fn channel(&self) -> u8 {
        self.msg[0] & 0x0f
    }

    /// A note-on with a velocity above 0.
    pub fn is_note_on(&self) -> bool {
        self.msg[0] & 0xf0 == 0x90 && self.msg[2] > 0
    }

    /// Starts or ends a note (what a seek leaves out: the state before it is the rest).
    pub fn is_note(&self) -> bool {
        matches!(self.msg[0] & 0xf0, 0x80 | 0x90 | 0xa0)
    }
}

/// One track: (tick, message) in file order, its tempo changes and its last tick.
type TrackEvents = (Vec<(u64, Event)>, Vec<(u64, u32)>, u64);

/// Every channel message of a file in time order, and its length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Performance {
    pub events: Vec<Event>,
    /// The end of the last note or of the longest track, in seconds (the piano roll's length).
    pub duration: f64,
    /// More events were in the file than [`MAX_EVENTS`]: the later ones are missing.
    pub truncated: bool,
}

/// Why a file cannot be played.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PerformanceError {
    #[error(transparent)]
    Midi(#[from] NotesError),
    #[error("the file has no location")]
    NoLocation,
    #[error("{0}")]
    Unreadable(String),
    #[error("{location}: the bytes there changed since the import")]
    Changed { location: String },
}

impl Performance {
    /// Read the events of `data` (a Standard MIDI File, a RIFF RMID, or one behind a short wrapper). Never panics.
    pub fn from_bytes(data: &[u8]) -> Result<Self, NotesError> {
        Self::from_bytes_capped(data, MAX_EVENTS)
    }

    pub fn from_bytes_capped(data: &[u8], cap: usize) -> Result<Self, NotesError> {
        let smf = smf_start(data).ok_or(NotesError::NoHeader)?;
        let (header, tracks) = midly::parse(smf).map_err(|e| NotesError::Parse(e.to_string()))?;
        let mut per_track: Vec<TrackEvents> = Vec::new();
        let mut kept = 0usize;
        let mut truncated = false;
        for track in tracks {
            let Ok(events) = track else { continue };
            let mut msgs = Vec::new();
            let mut tempos = Vec::new();
            let mut tick = 0u64;
            for ev in events {
                let Ok(ev) = ev else { break };
                tick += u64::from(u32::from(ev.delta));
                match ev.kind {
                    TrackEventKind::Midi { channel, message } => {
                        if kept >= cap {
                            truncated = true;
                            continue;
                        }
                        if let Some(e) = channel_event(u8::from(channel), message) {
                            msgs.push((tick, e));
                            kept += 1;
                        }
                    }
                    TrackEventKind::Meta(MetaMessage::Tempo(us)) if u32::from(us) > 0 => {
                        tempos.push((tick, u32::from(us)));
                    }
                    _ => {}
                }
            }
            per_track.push((msgs, tempos, tick));
        }
        if per_track.is_empty() {
            return Err(NotesError::Parse("no readable track".into()));
        }
        let tempos: Vec<&[(u64, u32)]> = per_track.iter().map(|t| t.1.as_slice()).collect();
        let maps = TempoMaps::new(&header, &tempos);
        let mut events: Vec<(f64, usize, Event)> = Vec::with_capacity(kept);
        let mut duration = 0.0f64;
        let mut order = 0usize;
        for (i, (msgs, _, end)) in per_track.iter().enumerate() {
            let map = maps.of(i);
            duration = duration.max(map.seconds(*end));
            for (tick, e) in msgs {
                let at = map.seconds(*tick);
                events.push((at, order, Event { at, ..*e }));
                order += 1;
            }
        }
        // Stable by time, then by file order: a note-off and a note-on of one key at one tick stay in order.
        events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let events: Vec<Event> = events.into_iter().map(|(_, _, e)| e).collect();
        if let Some(last) = events.last() {
            duration = duration.max(last.at);
        }
        Ok(Performance {
            events,
            duration,
            truncated,
        })
    }

    /// The index of the first event at or after `t` seconds.
    pub fn index_at(&self, t: f64) -> usize {
        self.events.partition_point(|e| e.at < t)
    }

    /// The state a player needs before `t`: every program, controller, pitch bend and pressure message before it, in
    /// order (notes left out: a seek starts silent and plays the notes that begin from there).
    pub fn state_before(&self, t: f64) -> impl Iterator<Item = &Event> {
        self.events[..self.index_at(t)].iter().filter(|e| !e.is_note())
    }

    /// Note onsets (seconds), for checks against the audio.
    pub fn onsets(&self) -> impl Iterator<Item = f64> + '_ {
        self.events.iter().filter(|e| e.is_note_on()).map(|e| e.at)
    }
}

fn channel_event(ch: u8, message: MidiMessage) -> Option<Event> {
    let e = |status: u8, a: u8, b: u8, len: u8| Event {
        at: 0.0,
        msg: [status | ch, a, b],
        len,
    };
    Some(match message {
        MidiMessage::NoteOff { key, vel } => e(0x80, key.into(), vel.into(), 3),
        MidiMessage::NoteOn { key, vel } => e(0x90, key.into(), vel.into(), 3),
        MidiMessage::Aftertouch { key, vel } => e(0xa0, key.into(), vel.into(), 3),
        MidiMessage::Controller { controller, value } => e(0xb0, controller.into(), value.into(), 3),
        MidiMessage::ProgramChange { program } => e(0xc0, program.into(), 0, 2),
        MidiMessage::ChannelAftertouch { vel } => e(0xd0, vel.into(), 0, 2),
        MidiMessage::PitchBend { bend } => {
            let v = bend.0.as_int();
            e(0xe0, (v & 0x7f) as u8, (v >> 7) as u8, 3)
        }
    })
}

/// The performance of the library file whose BLAKE3 is `content_hash` (hex), read from the first of `locations`
/// that still holds those bytes (archives included), and that location. Blocking: run it off the UI.
pub fn load_performance(
    locations: &[String],
    content_hash: &str,
) -> Result<(String, Arc<Performance>), PerformanceError> {
    let limits = Limits::default();
    let mut changed: Option<String> = None;
    let mut unreadable: Option<String> = None;
    for location in locations {
        let data = match read_location(location, &limits) {
            Ok(d) => d,
            Err(e) => {
                unreadable.get_or_insert(e.to_string());
                continue;
            }
        };
        if blake3::hash(&data).to_hex().as_str() != content_hash {
            changed.get_or_insert(location.clone());
            continue;
        }
        let perf = Performance::from_bytes(&data)?;
        return Ok((location.clone(), Arc::new(perf)));
    }
    if let Some(location) = changed {
        return Err(PerformanceError::Changed { location });
    }
    match unreadable {
        Some(e) => Err(PerformanceError::Unreadable(e)),
        None => Err(PerformanceError::NoLocation),
    }
}

/// The performance of a file given by its path (a plain file, or an archive member `ARCHIVE!/member`).
pub fn read_performance(path: &str) -> Result<Performance, PerformanceError> {
    let data = read_location(path, &Limits::default()).map_err(|e| PerformanceError::Unreadable(e.to_string()))?;
    Ok(Performance::from_bytes(&data)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::notes::test_files::smf;
    use crate::midi::read_notes;

    #[test]
    fn events_follow_the_tempo_map_and_keep_the_rolls_length() {
        let data = smf(&[
            (0, &[0xc0, 33]),
            (0, &[0x90, 60, 100]),
            (480, &[0x80, 60, 0]),
            // 60 BPM from here: a quarter lasts a second.
            (0, &[0xff, 0x51, 3, 0x0f, 0x42, 0x40]),
            (0, &[0xb0, 7, 90]),
            (0, &[0x99, 36, 90]),
            (480, &[0x89, 36, 0]),
            (480, &[0xe0, 0, 0x50]),
        ]);
        let p = Performance::from_bytes(&data).unwrap();
        let at: Vec<(f64, &[u8])> = p.events.iter().map(|e| (e.at, e.bytes())).collect();
        assert_eq!(
            at,
            vec![
                (0.0, &[0xc0, 33][..]),
                (0.0, &[0x90, 60, 100][..]),
                (0.5, &[0x80, 60, 0][..]),
                (0.5, &[0xb0, 7, 90][..]),
                (0.5, &[0x99, 36, 90][..]),
                (1.5, &[0x89, 36, 0][..]),
                (2.5, &[0xe0, 0, 0x50][..]),
            ]
        );
        let roll = read_notes(&data, 100).unwrap();
        assert_eq!(
            p.duration, roll.duration_seconds,
            "one clock for the roll and the player"
        );
        assert_eq!(p.onsets().collect::<Vec<_>>(), vec![0.0, 0.5]);
        let state: Vec<&[u8]> = p.state_before(1.0).map(|e| e.bytes()).collect();
        assert_eq!(
            state,
            vec![&[0xc0, 33][..], &[0xb0, 7, 90][..]],
            "programs and controllers, no notes"
        );
        assert_eq!(p.index_at(0.5), 2);
    }

    #[test]
    fn a_cap_truncates_and_bad_input_is_an_error_never_a_panic() {
        let data = smf(&[(0, &[0x90, 60, 100]), (480, &[0x80, 60, 0]), (0, &[0x90, 62, 100])]);
        let capped = Performance::from_bytes_capped(&data, 2).unwrap();
        assert_eq!(capped.events.len(), 2);
        assert!(capped.truncated);
        assert_eq!(Performance::from_bytes(b"not midi"), Err(NotesError::NoHeader));
        for cut in 0..data.len() {
            let _ = Performance::from_bytes(&data[..cut]);
        }
    }
}
