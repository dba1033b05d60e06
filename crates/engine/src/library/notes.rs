//! A library file's notes for the piano roll: its bytes read again from the first location that still holds them.
use crate::midi::{NoteList, NotesError, read_notes};
use crate::source::{FetchError, Limits, read_location};

/// The most notes read for one file: enough for any real song, and a bound on the memory and drawing time.
pub const MAX_NOTES: usize = 200_000;

/// The notes and where they were read from.
#[derive(Debug, Clone, PartialEq)]
pub struct FileNotes {
    pub location: String,
    pub notes: NoteList,
}

/// Why no location gave the file's notes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadNotesError {
    #[error("the file has no location")]
    NoLocation,
    /// Every location failed: the first problem (the others are alike more often than not).
    #[error("{first} ({} tried)", crate::human::counted(*.count, "location"))]
    Unreadable { first: FetchError, count: usize },
    #[error("{location}: the bytes there changed since the import")]
    Changed { location: String },
    #[error("{location}: {error}")]
    Midi { location: String, error: NotesError },
}

/// Read the notes of the file whose BLAKE3 is `content_hash` (hex), trying `locations` in order; a location whose
/// bytes no longer hash to `content_hash` is passed over. Blocking (disk and decompression): run it off the UI.
pub fn load_notes(locations: &[String], content_hash: &str, cap: usize) -> Result<FileNotes, LoadNotesError> {
    let limits = Limits::default();
    let mut first_failure: Option<LoadNotesError> = None;
    let mut unreadable: Option<FetchError> = None;
    for location in locations {
        let data = match read_location(location, &limits) {
            Ok(d) => d,
            Err(e) => {
                unreadable.get_or_insert(e);
                continue;
            }
        };
        if blake3::hash(&data).to_hex().as_str() != content_hash {
            first_failure.get_or_insert(LoadNotesError::Changed {
                location: location.clone(),
            });
            continue;
        }
        return read_notes(&data, cap)
            .map(|notes| FileNotes {
                location: location.clone(),
                notes,
            })
            .map_err(|error| LoadNotesError::Midi {
                location: location.clone(),
                error,
            });
    }
    if let Some(f) = first_failure {
        return Err(f);
    }
    match unreadable {
        Some(first) => Err(LoadNotesError::Unreadable {
            first,
            count: locations.len(),
        }),
        None => Err(LoadNotesError::NoLocation),
    }
}
