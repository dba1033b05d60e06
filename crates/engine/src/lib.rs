//! midi-tui's engine: scan, sources and archives, MIDI analysis, the import pipeline, PostgreSQL (cluster, schema,
//! writes), speed profiles and metrics. It depends on no terminal, command-line or progress-bar crate: the console
//! and the headless command line are front ends over it, in the `midi-tui` crate.
pub mod database;
pub mod doctor;
pub mod human;
pub mod kinds;
pub mod library;
pub mod listen;
pub mod logfile;
pub mod machine;
pub mod metrics;
pub mod midi;
pub mod notice;
pub mod pipeline;
pub mod profile;
pub mod record;
pub mod run;
pub mod source;
pub mod timeline;
pub mod unpack;
