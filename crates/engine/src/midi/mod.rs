//! MIDI metadata extraction: lenient SMF parsing and musical analysis of one file's bytes.
//!
//! [`analyze`] reads a file's bytes (plain SMF or RIFF RMID) into [`MidiMetadata`];
//! [`path_meta`] derives the library-browser fields (collection, folder, filename BPM and key)
//! from where the file was found; [`read_notes`] lists a file's notes for the piano roll.

mod analyze;
mod errors;
pub mod fingerprint;
pub mod gm;
mod keys;
mod music;
mod name_order;
pub mod notes;
mod path_meta;
mod poly;
pub mod similarity;
mod text;
pub mod variants;

pub use analyze::{AnalyzeOptions, DEFAULT_TEMPO_US, MidiMetadata, analyze, analyze_with_options, unwrap_rmid};
pub use errors::{MidiError, MidiErrorKind};
pub use fingerprint::{Fingerprint, Fingerprints};
pub use keys::{detect_key, key_signature_name};
pub use music::Music;
pub use name_order::natural_sort_key;
pub use notes::{Note, NoteList, NotesError, read_notes};
pub use path_meta::{LocationMeta, PathMeta, location_meta, path_meta, path_meta_in};
pub use text::decode_text;

#[cfg(test)]
mod tests;
