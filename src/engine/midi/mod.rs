//! MIDI metadata extraction: lenient SMF parsing and musical analysis of one file's bytes.
