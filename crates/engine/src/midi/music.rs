//! A file's musical analysis as `musical_metadata` stores it: one spelling, from the analysis to the search detail.

/// The musical facts of one file: the columns of its `musical_metadata` row, typed as those columns are (`smallint`
/// is `i16`, `integer` is `i32`), so the analysis, the writer and the detail read back from the database share it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Music {
    /// First tempo (earliest absolute tick, ties to the lowest track), in quarter notes per minute.
    pub bpm: Option<f64>,
    /// Quarter notes per minute averaged over the playing time (None without tempo events or
    /// with SMPTE timing).
    pub avg_bpm: Option<f64>,
    /// Number of set_tempo events.
    pub tempo_changes: i32,
    pub time_signature_numerator: Option<i16>,
    pub time_signature_denominator: Option<i16>,
    /// First valid key signature meta event, named as mido names it ("C", "F#m", "Bb").
    pub key_signature: Option<String>,
    /// Krumhansl-Schmuckler key of the non-drum notes (weighted by duration, else by count).
    pub detected_key: Option<String>,
    /// Pearson correlation of the detected key's profile (-1..1).
    pub key_confidence: Option<f64>,
    /// Note-on events with velocity > 0, all channels.
    pub total_notes: i32,
    pub unique_pitches: i16,
    pub pitch_range_min: Option<i16>,
    pub pitch_range_max: Option<i16>,
    pub avg_velocity: Option<f64>,
    /// Most notes sounding at once, all tracks and channels merged.
    pub polyphony_max: i32,
    /// Notes per second (0 when the duration is 0).
    pub note_density: f64,
    /// Sorted distinct 0-based channels carrying note-ons with velocity > 0.
    pub channels: Vec<i16>,
    /// Sorted distinct program_change numbers, all channels, 0-based as the file spells them (General MIDI's
    /// program 1 is 0).
    pub programs: Vec<i16>,
    /// Any note-on (velocity > 0) on channel index 9 (MIDI channel 10).
    pub has_drums: bool,
    /// Lyrics meta events or a `@KMIDI` text event (.kar karaoke).
    pub is_karaoke: bool,
    /// Lyrics meta events, plus the syllable text events of `@KMIDI` karaoke files.
    pub lyrics_count: i32,
}

impl Music {
    /// Every field set, with values whose text and binary COPY encodings are easy to read: the writers' tests
    /// (the engine's and the integration tests') check their encodings byte for byte against it.
    pub fn sample() -> Music {
        Music {
            bpm: Some(121.25),
            avg_bpm: Some(119.5),
            tempo_changes: 4,
            time_signature_numerator: Some(6),
            time_signature_denominator: Some(8),
            key_signature: Some("Eb".into()),
            detected_key: Some("G".into()),
            key_confidence: Some(0.75),
            total_notes: 500,
            unique_pitches: 25,
            pitch_range_min: Some(30),
            pitch_range_max: Some(90),
            avg_velocity: Some(88.5),
            polyphony_max: 7,
            note_density: 7.25,
            channels: vec![0, 9],
            programs: vec![1, 33],
            has_drums: true,
            is_karaoke: false,
            lyrics_count: 11,
        }
    }
}
