//! midi-tui's engine: scan, sources and archives, MIDI analysis, the import pipeline, PostgreSQL (cluster, schema,
//! writes), speed profiles and metrics. It depends on no terminal, command-line or progress-bar crate: the console
//! and the headless command line are front ends over it, in the `midi-tui` crate.
pub mod backup;
pub mod database;
pub mod doctor;
pub mod extract;
pub mod gencorpus;
pub mod human;
pub mod integrity;
pub mod kinds;
pub mod library;
pub mod listen;
pub mod logfile;
pub mod machine;
pub mod metrics;
pub mod midi;
pub mod pending;
pub mod pipeline;
pub mod plan;
pub mod profile;
pub mod record;
pub mod session;
pub mod source;
pub mod timeline;
pub mod turns;
