//! The headless command line: argument definitions here, one module per subcommand.
pub mod bench;
pub mod db;
pub mod extract;
pub mod gen_corpus;
pub mod import;
pub mod profile;
pub mod status;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::database::{Cluster, Target};

#[derive(Debug, Parser)]
#[command(
    name = "midi-tui",
    version,
    about = "Import huge MIDI libraries into PostgreSQL, fast and knowingly safe"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Folders, MIDI files or archives to open the console with.
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// An existing PostgreSQL server; without it, the managed cluster under --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the managed cluster, logs and backups live.
    #[arg(long, env = "MIDI_TUI_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// The log file (default: one per run under <data-dir>/logs).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
}

impl GlobalArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(Cluster::default_data_dir)
    }

    pub fn target(&self) -> Target {
        Target::choose(self.database_url.clone(), self.data_dir())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeArg {
    Normal,
    Fast,
    Ludicrous,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import folders, MIDI files and archives headless.
    Import(ImportArgs),
    /// Counts, live settings, indexes, table persistence, safety state.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Apply a speed level: basic, drop-indexes or ludicrous.
    Profile {
        #[command(subcommand)]
        action: ProfileAction,
    },
    /// Put every changed setting back, tables LOGGED, and verify.
    RestoreSafety {
        #[arg(long)]
        json: bool,
    },
    /// Recreate dropped secondary indexes in parallel, then ANALYZE.
    RebuildIndexes {
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Unpack archives into a folder, keeping structure, safely.
    Extract {
        #[arg(required = true)]
        archives: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// The managed (embedded) PostgreSQL cluster.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Write a synthetic but realistic MIDI library, for benchmarks.
    GenCorpus {
        dir: PathBuf,
        #[arg(long)]
        files: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Pack collections into zip / tar.gz / tar.xz archives.
        #[arg(long)]
        archives: bool,
    },
    /// Every mode side by side on one corpus, plus the limits.
    Bench {
        /// Files in the generated corpus.
        #[arg(long, default_value_t = 100_000)]
        files: u64,
        /// Also benchmark an existing library (repeatable).
        #[arg(long)]
        corpus: Vec<PathBuf>,
        /// Runs per measurement; medians are reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        #[arg(long)]
        json: bool,
        /// Write the tables as Markdown to this file (BENCHMARKS.md).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[arg(long, value_enum, default_value_t = ModeArg::Normal)]
    pub mode: ModeArg,
    /// Confirm fsync=off and UNLOGGED tables without asking.
    #[arg(long)]
    pub yes: bool,
    /// Run every phase except the database write.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave the mode's profile applied after the run.
    #[arg(long)]
    pub keep_profile: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Benchmarks: run only part of the pipeline (read-hash, write-only).
    #[arg(long, hide = true, value_enum, default_value_t = LimitArg::Full)]
    pub limit: LimitArg,
    /// Benchmarks: drive the console's state and drawing (off screen) while importing.
    #[arg(long, hide = true)]
    pub console_bench: bool,
    /// Tests: locations per write transaction (small batches interleave concurrent importers more).
    #[arg(long, hide = true)]
    pub batch_rows: Option<usize>,
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LimitArg {
    Full,
    ReadHash,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    Basic,
    DropIndexes,
    Ludicrous,
}

#[derive(Debug, Subcommand)]
pub enum ProfileAction {
    Apply {
        #[arg(value_enum)]
        level: LevelArg,
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum DbAction {
    /// Create (if needed) and start the managed cluster.
    Start,
    /// Stop it; no server process is left behind.
    Stop,
    /// Is it initialised, running, where.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Print the connection URL (for psql).
    Url,
}
