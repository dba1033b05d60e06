//! Typed MIDI parse failures and the short stable codes stored in `import_errors.kind`.

use std::fmt;

/// What went wrong (or, as a warning, what was tolerated) while reading a MIDI file.
///
/// The same kinds serve as hard errors (nothing usable in the file) and as the kind of the
/// first tolerated problem in a file that was still read (`MidiMetadata::first_warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MidiErrorKind {
    /// No `MThd` chunk where one was expected (not a MIDI file, or an empty RIFF wrapper).
    NoHeader,
    /// The data ends inside the header, a chunk or an event.
    Truncated,
    /// The header chunk is malformed (length below 6, unknown format, zero division).
    BadHeader,
    /// A data byte where a status byte was needed and no running status was in force.
    BadRunningStatus,
    /// A header but no track chunk at all.
    NoTracks,
    /// A chunk that is neither `MThd` nor `MTrk` (skipped).
    UnknownChunk,
    /// Bytes between chunks that are no chunk header (skipped by searching the next `MTrk`).
    BadChunk,
    /// A status byte that no MIDI message uses in a file (0xF4, 0xF5, 0xF9, 0xFD).
    BadEvent,
    /// A data byte above 127 (clipped to 127, as mido's `clip=True` does).
    BadData,
    /// A meta event whose payload is too short or out of range (ignored).
    BadMeta,
    /// A key signature with more than 7 accidentals or a mode other than major/minor (ignored).
    BadKeySignature,
    /// A track without its end-of-track meta event.
    MissingEndOfTrack,
    /// An end-of-track followed by more well-formed events in the same chunk (read on).
    EarlyEndOfTrack,
    /// The header's track count differs from the track chunks found.
    TrackCount,
    /// Bytes before the header (MacBinary wrapper) or after the last chunk.
    StrayBytes,
}

impl MidiErrorKind {
    /// Short stable snake_case code, as stored in `import_errors.kind`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoHeader => "no_header",
            Self::Truncated => "truncated",
            Self::BadHeader => "bad_header",
            Self::BadRunningStatus => "bad_running_status",
            Self::NoTracks => "no_tracks",
            Self::UnknownChunk => "unknown_chunk",
            Self::BadChunk => "bad_chunk",
            Self::BadEvent => "bad_event",
            Self::BadData => "bad_data",
            Self::BadMeta => "bad_meta",
            Self::BadKeySignature => "bad_key_signature",
            Self::MissingEndOfTrack => "missing_end_of_track",
            Self::EarlyEndOfTrack => "early_end_of_track",
            Self::TrackCount => "track_count",
            Self::StrayBytes => "stray_bytes",
        }
    }

    /// Every kind, for tests and for documenting the codes.
    pub const ALL: [MidiErrorKind; 15] = [
        Self::NoHeader,
        Self::Truncated,
        Self::BadHeader,
        Self::BadRunningStatus,
        Self::NoTracks,
        Self::UnknownChunk,
        Self::BadChunk,
        Self::BadEvent,
        Self::BadData,
        Self::BadMeta,
        Self::BadKeySignature,
        Self::MissingEndOfTrack,
        Self::EarlyEndOfTrack,
        Self::TrackCount,
        Self::StrayBytes,
    ];
}

impl fmt::Display for MidiErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for MidiErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// A file with nothing usable in it: its kind (for `import_errors.kind`) and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.code())]
pub struct MidiError {
    pub kind: MidiErrorKind,
    pub message: String,
}

impl MidiError {
    pub fn new(kind: MidiErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for k in MidiErrorKind::ALL {
            let c = k.code();
            assert!(seen.insert(c), "duplicate code {c}");
            assert!(c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'), "{c}");
        }
        assert_eq!(MidiErrorKind::NoHeader.code(), "no_header");
        assert_eq!(MidiErrorKind::BadRunningStatus.code(), "bad_running_status");
    }

    #[test]
    fn display_includes_code_and_message() {
        let e = MidiError::new(MidiErrorKind::Truncated, "header ends at byte 9");
        assert_eq!(e.to_string(), "truncated: header ends at byte 9");
    }
}
