//! The import engine: scan, extract, hash, parse, write, profiles and metrics. Never imports ratatui.
pub mod extract;
pub mod gencorpus;
pub mod integrity;
pub mod logfile;
pub mod machine;
pub mod metrics;
pub mod midi;
pub mod pipeline;
pub mod profile;
pub mod record;
pub mod session;
pub mod source;
