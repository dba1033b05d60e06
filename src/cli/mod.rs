//! The headless command line: argument definitions here, one module per subcommand.
pub mod bench;
pub mod db;
pub mod docs;
pub mod doctor;
pub mod dupes;
pub mod export;
pub mod extract;
pub mod features;
pub mod gen_corpus;
pub mod import;
pub mod import_summary;
pub mod import_workers;
pub mod profile;
pub mod render;
pub mod search;
pub mod status;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum, ValueHint};

use crate::database::{Cluster, Target};
use crate::engine::profile::{Level, Mode};

#[derive(Debug, Parser)]
#[command(
    name = "midi-tui",
    version,
    about = "Import huge MIDI libraries into PostgreSQL, fast and knowingly safe",
    after_help = "Without a command, the interactive console opens (the headless import when stdout is not a \
                  terminal).\nExit codes: 0 success, 1 failure (an interrupted import included), 2 usage error; \
                  `status` adds 3 (not safe) and 4 (data lost in a crash)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Folders, MIDI files or archives to open the console with (default: the sample library).
    #[arg(value_name = "SOURCE", value_hint = ValueHint::AnyPath)]
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// An existing PostgreSQL server; without it, the managed cluster under --data-dir.
    #[arg(
        long,
        value_name = "URL",
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        value_hint = ValueHint::Url,
        help_heading = GLOBAL
    )]
    pub database_url: Option<String>,
    /// Where the managed cluster, logs and backups live (default: the user's data directory, e.g.
    /// ~/.local/share/midi-tui; with --database-url a folder of that server's own under it,
    /// `targets/<host>-<port>-<database>`).
    #[arg(
        long,
        value_name = "DIR",
        env = "MIDI_TUI_DATA_DIR",
        global = true,
        hide_env_values = true,
        value_hint = ValueHint::DirPath,
        help_heading = GLOBAL
    )]
    pub data_dir: Option<PathBuf>,
    /// The log file (default: one per run under <data-dir>/logs).
    #[arg(long, value_name = "FILE", global = true, value_hint = ValueHint::FilePath, help_heading = GLOBAL)]
    pub log: Option<PathBuf>,
    /// The General MIDI SoundFont (.sf2) the built-in synthesizer plays with (else MIDI_TUI_SOUNDFONT, else the
    /// system's: /usr/share/sounds/sf2, /usr/share/soundfonts, ~/.local/share/soundfonts).
    #[arg(long, global = true, value_name = "FILE.sf2")]
    pub soundfont: Option<PathBuf>,
}

/// The heading the options every command takes are listed under.
const GLOBAL: &str = "Global options";

/// The command tree as parsed, completed and documented. Each command's usage line is written once from its own
/// definition: clap's error messages otherwise print the options the user gave (or that came from the environment,
/// such as `MIDI_TUI_DATA_DIR`) in the usage line, as if they were required.
pub fn command() -> clap::Command {
    fn usage_of_its_own(mut cmd: clap::Command) -> clap::Command {
        let usage = cmd.render_usage().to_string();
        let usage = usage.strip_prefix("Usage:").unwrap_or(&usage).trim().to_string();
        cmd.override_usage(usage).mut_subcommands(usage_of_its_own)
    }
    let mut cmd = Cli::command();
    cmd.build();
    usage_of_its_own(cmd)
}

/// Parse the process's arguments (clap's errors exit with code 2, `--help` and `--version` with 0).
pub fn parse() -> Cli {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parse these arguments (the first is the program name) through [`command`].
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

impl Cli {
    /// The command promised one JSON object on stdout, also when it fails.
    pub fn wants_json(&self) -> bool {
        match &self.command {
            Some(Command::Import(a)) => a.json,
            Some(Command::Search(a)) => a.json,
            Some(Command::Dupes(a)) => a.json,
            Some(Command::Export(a)) => a.json,
            Some(Command::Doctor(a)) => a.json,
            Some(Command::Render(a)) => a.json,
            Some(
                Command::Status { json }
                | Command::RestoreSafety { json }
                | Command::Bench(BenchFlags { json, .. })
                | Command::Features { json },
            ) => *json,
            Some(Command::Db {
                action: DbAction::Status { json },
            }) => *json,
            _ => false,
        }
    }
}

/// An error and its causes on one line, each text once: a message that already quotes its cause (`{source}` in a
/// format) does not get that cause appended again.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// A command line that asks for what cannot be: exit code 2, as clap's own errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Every source must be there: the console, `import` and `doctor` refuse a missing one the same way (exit code 2).
pub fn check_sources(sources: &[PathBuf]) -> Result<(), UsageError> {
    match sources.iter().find_map(|s| crate::engine::source::source_problem(s)) {
        Some(problem) => Err(UsageError(problem)),
        None => Ok(()),
    }
}

/// The console's first argument is a source, but one that is neither a path that exists nor a subcommand is most
/// likely a mistyped subcommand: clap's own error for it, with its suggestion (`did you mean`), exit code 2. A word
/// with a path separator is a path and gets [`check_sources`]'s error instead.
pub fn first_argument_error(cli: &Cli, args: &[std::ffi::OsString]) -> Option<clap::Error> {
    use clap::CommandFactory;
    let first = cli.sources.first().filter(|_| cli.command.is_none())?;
    if first.exists() || first.as_os_str().to_string_lossy().contains(std::path::MAIN_SEPARATOR) {
        return None;
    }
    // The same command line without the console's sources: the word can only be a subcommand there.
    // The unbuilt command: a built one carries its help and version arguments, which a copy would repeat.
    let full = Cli::command();
    let subcommands: Vec<clap::Command> = full.get_subcommands().cloned().collect();
    let mut words = clap::Command::new("midi-tui").subcommand_required(true);
    for a in full.get_arguments().filter(|a| !a.is_positional()) {
        words = words.arg(a.clone());
    }
    words.subcommands(subcommands).try_get_matches_from(args).err()
}

/// What a `--json` command prints when it fails.
pub fn failure_json(error: &str) -> String {
    serde_json::json!({ "status": "failed", "error": error }).to_string()
}

impl GlobalArgs {
    /// `--data-dir`; else, for an external server, a folder of its own so that two servers never share logs or
    /// index backups; else the default data directory.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let base = Cluster::default_data_dir();
        match self.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => base.join("targets").join(crate::database::target_dir_name(url)),
            None => base,
        }
    }

    pub fn target(&self) -> Target {
        Target::choose(self.database_url.clone(), self.data_dir())
    }

    /// The global options to repeat in a command printed for the user (` --data-dir DIR`), each with a leading
    /// space; empty for the defaults. A password in the URL is not printed: `PASSWORD` stands in for it.
    pub fn shell_flags(&self) -> String {
        let mut out = String::new();
        if let Some(url) = self.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
            let shown = without_password(url);
            out.push_str(&format!(" --database-url {}", shell_word(&shown)));
        }
        if let Some(dir) = &self.data_dir {
            out.push_str(&format!(" --data-dir {}", shell_word(&dir.display().to_string())));
        }
        out
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:PASSWORD@host/db`.
fn without_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) else {
        return url.to_string();
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}PASSWORD{}", &url[..=colon], &url[at..]),
        None => url.to_string(),
    }
}

/// A word for a shell: as it is when plain, else in single quotes.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Write a command's report to stdout; a reader that went away (`| head -1`) ends the output quietly.
pub fn print_report(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeArg {
    /// The fastest mode for this import by estimate (ludicrous only with --yes); says which and why.
    Auto,
    /// Every index live and every safety on: nothing to put back afterwards.
    Normal,
    /// Levels 1 and 2: synchronous_commit off, more memory, secondary indexes dropped and rebuilt after the run.
    Fast,
    /// Levels 1, 2 and 3: also fsync and full_page_writes off and UNLOGGED tables (a crash can lose the import;
    /// asks first).
    Ludicrous,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// Bash: `source <(midi-tui completions bash)`, or save it in ~/.local/share/bash-completion/completions/midi-tui.
    Bash,
    /// Zsh: save it as `_midi-tui` in a folder of your $fpath.
    Zsh,
    /// Fish: save it as ~/.config/fish/completions/midi-tui.fish.
    Fish,
}

impl ShellArg {
    pub fn shell(self) -> clap_complete::Shell {
        match self {
            ShellArg::Bash => clap_complete::Shell::Bash,
            ShellArg::Zsh => clap_complete::Shell::Zsh,
            ShellArg::Fish => clap_complete::Shell::Fish,
        }
    }
}

// One value per process, parsed once: boxing the bench's many flags would only obscure them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import folders, MIDI files and archives headless.
    Import(ImportArgs),
    /// Search the imported library: `bpm:118..124 ts:4/4 drums:yes`, `key:Cm~ dur:..120`, `inst:bass`.
    #[command(after_help = crate::engine::database::query::fields_help())]
    Search(SearchArgs),
    /// Duplicate groups: byte-identical contents at several locations; with --musical the same notes, with
    /// --transposed the same notes up to transposition.
    Dupes(DupesArgs),
    /// Write the files a query matches to a folder, from their folders or archives, with an optional manifest.
    Export(ExportArgs),
    /// Compute the similarity features (`like:`) of files imported before them, from their stored locations, and
    /// bring the similarity pack up to date.
    Features {
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Counts, live settings, indexes, table persistence, safety state (exit code 3: not safe, 4: data lost).
    Status {
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Apply a speed level (basic|1, drop-indexes|2, unsafe-storage|3) or a mode's levels (fast, ludicrous).
    Profile {
        #[command(subcommand)]
        action: ProfileAction,
    },
    /// Put every changed setting back, tables LOGGED, and verify.
    RestoreSafety {
        /// Print the report (what was put back, each check) as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// After a crash emptied the library: put back the backup taken before ludicrous (`import --backup`); the next
    /// import reads the runs after it again.
    RestoreBackup,
    /// Recreate dropped secondary indexes in parallel, then ANALYZE.
    RebuildIndexes {
        /// Indexes built at once (default: one per core).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Unpack archives into a folder, keeping structure, safely.
    Extract {
        /// The archives to unpack (any format `import` reads, nested archives included).
        #[arg(required = true, value_name = "ARCHIVE", value_hint = ValueHint::FilePath)]
        archives: Vec<PathBuf>,
        /// The folder to unpack into (created if needed); each archive gets a folder of its own name, and an
        /// existing file is never overwritten.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        out: PathBuf,
        /// Archives unpacked at once (default: one per core).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// The managed (embedded) PostgreSQL cluster.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Write a synthetic but realistic MIDI library, for benchmarks.
    GenCorpus(GenCorpusArgs),
    /// System and server readiness for a big import: each check's value, whether it matters, the fix.
    Doctor(DoctorArgs),
    /// A MIDI file through the built-in synthesizer to a WAV file, faster than real time (the browser plays it too).
    Render(RenderArgs),
    /// Every mode side by side on one corpus, plus the limits.
    Bench(BenchFlags),
    /// Print the shell completion script for bash, zsh or fish (commands, options, their values, paths).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Print the manual page (roff: `midi-tui man | man -l -`), or write one page per command into a folder.
    Man {
        /// Write midi-tui.1 and a page for each command (midi-tui-import.1, ...) into this folder instead.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// How much crash safety to trade for speed during the run (put back afterwards unless --keep-profile).
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
    /// Ludicrous on a library that holds files: back it up first (`midi-tui restore-backup` puts it back after a
    /// crash).
    #[arg(long, conflicts_with = "no_backup")]
    pub backup: bool,
    /// Ludicrous on a library that holds files: no backup, accepting that files only missing sources hold would be
    /// lost for good in a crash.
    #[arg(long)]
    pub no_backup: bool,
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
    /// Start N local importer processes that share the run, wait for them and sum their reports.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: Option<u32>,
    /// Tests: milliseconds a shared run's claim holds without renewal (default 10 s).
    #[arg(long, hide = true, env = "MIDI_TUI_LEASE_MS")]
    pub lease_ms: Option<u64>,
    /// Tests: plain files per unit of a shared run (default 128).
    #[arg(long, hide = true)]
    pub unit_files: Option<usize>,
    /// Folders (walked recursively), MIDI files and archives to import; an interrupted import of the same sources
    /// resumes.
    #[arg(required = true, value_name = "SOURCE", value_hint = ValueHint::AnyPath)]
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The MIDI file (.mid, .midi, .kar, .rmi), or an archive member as `ARCHIVE!/member.mid`.
    pub file: PathBuf,
    /// The WAV file to write (16-bit stereo PCM).
    #[arg(long, value_name = "FILE.wav")]
    pub out: PathBuf,
    /// Samples per second.
    #[arg(long, default_value_t = 44_100, value_parser = clap::value_parser!(u32).range(8_000..=192_000))]
    pub sample_rate: u32,
    /// Add reverb and chorus (about a third more CPU time).
    #[arg(long)]
    pub effects: bool,
    /// Replace FILE.wav when it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The mode the import will run in (the WAL and index checks depend on it).
    #[arg(long, value_enum, default_value_t = ModeArg::Normal)]
    pub mode: ModeArg,
    /// Print the checks as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The sources to be imported, for estimates of this import's disk and WAL.
    #[arg(value_name = "SOURCE", value_hint = ValueHint::AnyPath)]
    pub sources: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Query terms, all of which must hold: `field:value` (the fields below), ranges `a..b`, `>N`, `<N`, `^term`
    /// to negate, bare words. None: every file.
    pub query: Vec<String>,
    /// Sort by name, bpm, dur, notes, tracks, size or added (import order); `-FIELD` for descending.
    #[arg(long, value_name = "FIELD", allow_hyphen_values = true)]
    pub sort: Option<String>,
    /// At most N files (0: all). Default: 50 for the table, all for --json and --paths.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// One JSON object per file and line.
    #[arg(long, conflicts_with = "paths")]
    pub json: bool,
    /// Every location of every match, one per line.
    #[arg(long)]
    pub paths: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DupesArgs {
    /// Files with the same notes (onsets in beats, pitches, lengths), whatever their bytes.
    #[arg(long)]
    pub musical: bool,
    /// Files with the same notes up to transposition.
    #[arg(long)]
    pub transposed: bool,
    /// At most N groups, the largest (0: all). Default: 20 for the text listing, which shows 10 lines of a group;
    /// all for --json, which lists every file and location.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// One JSON object per group and line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Query terms, as `search` takes them (none: the whole library).
    pub query: Vec<String>,
    /// The folder to write to (created if needed).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: PathBuf,
    /// Also write one line of metadata per written file: CSV for a `.csv` name, JSON lines for `.jsonl`.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub manifest: Option<PathBuf>,
    /// Every location of each file, not one.
    #[arg(long)]
    pub all_locations: bool,
    /// Dataset splits, e.g. `train=0.8,valid=0.1,test=0.1`: each group of duplicates (the same notes, transposed
    /// too) goes whole into one split, chosen from the seed; the manifest gets a `split` column.
    #[arg(long, value_name = "NAME=SHARE,...")]
    pub split: Option<crate::engine::library::splits::SplitSpec>,
    /// The seed of `--split`: the same seed, library and query give the same splits.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Also group files that sound alike: features within this distance (`like:`'s measure; 0.3 is close).
    #[arg(long, value_name = "T")]
    pub group_similar: Option<f64>,
    /// Export one file per group: the longest (then the one with the most notes).
    #[arg(long)]
    pub one_per_group: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Which part of the pipeline a benchmark runs (`import --limit`, hidden).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LimitArg {
    /// The whole pipeline.
    Full,
    /// Read and hash only: no dedup, no parse, no write (the input side's ceiling).
    ReadHash,
    /// Everything parsed into memory first, then the write phase alone, timed (the write side's ceiling).
    WriteOnly,
}

/// What `profile apply` takes: one level by name or number, or a mode (its levels in order), the same names as
/// `import --mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    /// Level 1: synchronous_commit off, more memory.
    #[value(alias = "1")]
    Basic,
    /// Level 2: back up and drop the secondary indexes.
    #[value(alias = "2")]
    DropIndexes,
    /// Level 3 alone: fsync and full_page_writes off, minimal WAL, UNLOGGED tables.
    #[value(alias = "3")]
    UnsafeStorage,
    /// Mode fast: levels 1 and 2.
    Fast,
    /// Mode ludicrous: levels 1, 2 and 3.
    Ludicrous,
}

impl LevelArg {
    /// The levels to apply, in order.
    pub fn levels(self) -> &'static [Level] {
        match self {
            LevelArg::Basic => &[Level::Basic],
            LevelArg::DropIndexes => &[Level::DropIndexes],
            LevelArg::UnsafeStorage => &[Level::Ludicrous],
            LevelArg::Fast => Mode::Fast.levels(),
            LevelArg::Ludicrous => Mode::Ludicrous.levels(),
        }
    }
}

/// `--backup` / `--no-backup` (clap keeps them apart): take one, decline, or not said.
pub fn backup_choice(backup: bool, no_backup: bool) -> Option<bool> {
    match (backup, no_backup) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

#[derive(Debug, Subcommand)]
pub enum ProfileAction {
    /// Apply a level (basic|1, drop-indexes|2, unsafe-storage|3) or a mode's levels (fast = 1+2,
    /// ludicrous = 1+2+3).
    Apply {
        /// The level or mode to apply.
        #[arg(value_enum)]
        level: LevelArg,
        /// Confirm fsync=off and UNLOGGED tables without asking.
        #[arg(long)]
        yes: bool,
        /// Level 3 on a library that holds files: back it up first (`midi-tui restore-backup` puts it back after a
        /// crash).
        #[arg(long, conflicts_with = "no_backup")]
        backup: bool,
        /// Level 3 on a library that holds files: no backup, accepting that files only missing sources hold would be
        /// lost for good in a crash.
        #[arg(long)]
        no_backup: bool,
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
        /// Print the state as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the connection URL (for psql).
    Url,
}

/// `gen-corpus`'s flags.
#[derive(Args, Debug, Clone)]
pub struct GenCorpusArgs {
    /// The folder to write the library into (created if needed).
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: PathBuf,
    /// How many files to write (duplicates and a few broken files included).
    #[arg(long, value_name = "N")]
    pub files: u64,
    /// The random seed: the same seed and count write the same library.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Pack collections into zip / tar.gz / tar.xz archives (one collection in four stays a folder).
    #[arg(long)]
    pub archives: bool,
    /// The formats packed collections take in turn (implies --archives; one collection more stays a folder):
    /// zip (deflate), zip-stored, zip-bzip2, zip-lzma, zip-zstd, tar, tar.gz, tar.bz2, tar.xz (multi-block),
    /// tar.zst, tar.lz4, 7z (LZMA2, solid blocks), or gz, bz2, xz, zst, lz4 (each file compressed alone).
    /// RAR cannot be written: no free tool or library writes it.
    #[arg(long, value_delimiter = ',', value_parser = parse_archive_format)]
    pub archive_formats: Vec<gencorpus::ArchiveKind>,
    /// Share of files that repeat an earlier file's content under another name (0 to 0.98; default 0.3).
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub duplicates: Option<f64>,
    /// Write duplicates as hard links to their source file (folders only), so that millions of files fit on
    /// disk; the importer still reads each path as its own file.
    #[arg(long)]
    pub link_duplicates: bool,
}

/// `bench`'s flags as typed; [`BenchFlags::to_args`] turns them into the sections to run.
#[derive(Args, Debug, Clone)]
pub struct BenchFlags {
    /// Files in the generated corpus of the modes table (default 100,000; with --scale, --append or --cold and
    /// without this flag, no modes table).
    #[arg(long)]
    pub files: Option<u64>,
    /// Also benchmark an existing library (repeatable).
    #[arg(long)]
    pub corpus: Vec<PathBuf>,
    /// Runs per measurement; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Write the tables as Markdown to this file (BENCHMARKS.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Add the archive section: the same generated files as a folder and packed in every format, the
    /// importer's dry-run and normal rates beside the command-line decompressors (`--files 0` for it alone).
    #[arg(long)]
    pub archives: bool,
    /// Files of the archive section's corpus.
    #[arg(long, default_value_t = 20_000)]
    pub archive_files: u64,
    /// Measure only these packings of the archive section (comma-separated: `tar.bz2,many-zip`); the folder
    /// row, which the limits are computed from, is always measured. Default: every packing.
    #[arg(long, value_delimiter = ',')]
    pub archive_formats: Vec<String>,
    /// Add the library search section: first-page latency, cold and hot, on a library grown from the
    /// generated corpus to this many files (default 1,000,000; `--files` sets the corpus it grows from).
    #[arg(long, value_name = "FILES", num_args = 0..=1, default_missing_value = "1000000")]
    pub search: Option<u64>,
    /// The search section's library lives in this data directory and is kept: a later bench reuses it when it
    /// already holds the files asked for (without it, a throwaway library is built and removed).
    #[arg(long, value_name = "DIR")]
    pub search_library: Option<PathBuf>,
    /// Shared runs instead of the modes: the corpus imported (normal mode) by each of these numbers of local
    /// importer processes in one run (`--importers 1,2,3`), beside the parse limit.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=64))]
    pub importers: Vec<u32>,
    /// Add the scale section: this many generated files (duplicates as hard links), the parse limit and every
    /// mode, each cold (page cache dropped) and hot, with `--mode auto`'s estimate beside each wall time.
    #[arg(long, value_name = "FILES")]
    pub scale: Option<u64>,
    /// The scale corpus's duplicate share (0.7: 70% of files repeat an earlier file's content).
    #[arg(long, value_name = "SHARE", value_parser = parse_share, requires = "scale")]
    pub duplicates: Option<f64>,
    /// Measure only these modes in the scale section (comma-separated: normal, fast, ludicrous).
    #[arg(long, value_delimiter = ',', value_enum, requires = "scale")]
    pub scale_modes: Vec<ModeArg>,
    /// Only the hot rows in the scale section (no page-cache drop before each run).
    #[arg(long, requires = "scale")]
    pub scale_hot_only: bool,
    /// Add the append case: a library of BASE files, then ADD new files imported in each mode from the same
    /// base state, beside `--mode auto`'s estimate and pick (`--append 1000000,100000`).
    #[arg(long, value_name = "BASE,ADD", value_parser = parse_append)]
    pub append: Option<(u64, u64)>,
    /// Add the cold-read section: after dropping the page cache each time, parallel `cat` of the corpus's files
    /// (the disk's limit), the `--dry-run` import, and the dry-run with read-ahead off, interleaved. Reads DIR
    /// (never writes it), else the generated corpus of 100,000 files. `MIDI_TUI_BENCH_NO_DROP=1` keeps the cache
    /// (the section then says its runs were not cold).
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub cold: Option<Option<PathBuf>>,
    /// Add the peer section: an afternoon's Python importer (symusic, psycopg; its virtual environment made
    /// from the package registry) against normal, fast, ludicrous and auto, interleaved, on generated corpora of
    /// these sizes (default 20,000 and 100,000), each `--corpus` and each of its folders; then a one-file
    /// import into the largest generated library (`--files 0` for this section alone).
    #[arg(long, value_name = "FILES,...", value_delimiter = ',', num_args = 0..)]
    pub peer: Option<Vec<u64>>,
    /// Add the write-components section: a normal import's write cost on the server per component (each
    /// secondary index, the foreign-key checks, search_rows, the location indexes, COPY alone), on a
    /// generated corpus of this many files (default 10,000).
    #[arg(long, value_name = "FILES", num_args = 0..=1, default_missing_value = "10000")]
    pub components: Option<u64>,
    /// Add the listening section on DIR's MIDI files: playback's start delay after the key and the playhead's
    /// distance from the audio (through the silent real-time device), and `render`'s CPU time for the files
    /// nearest three minutes long. Needs no database.
    #[arg(long, value_name = "DIR")]
    pub listen: Option<PathBuf>,
    /// Add the backup section: the library backup `import --backup` takes before ludicrous (pg_dump, in each
    /// form) and its restore, on libraries of these sizes (`--backup 100000,1000000`).
    #[arg(long, value_name = "FILES", value_delimiter = ',')]
    pub backup: Vec<u64>,
}

/// One `--archive-formats` name.
fn parse_archive_format(name: &str) -> Result<gencorpus::ArchiveKind, String> {
    use gencorpus::ArchiveKind;
    ArchiveKind::parse(name).ok_or_else(|| {
        let known: Vec<&str> = ArchiveKind::ALL.iter().map(|k| k.name()).collect();
        format!(
            "unknown archive format {name:?} (known: {}; RAR has no free writer)",
            known.join(", ")
        )
    })
}

/// A duplicate share: a number from 0 to 0.98.
fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=0.98).contains(&v) => Ok(v),
        _ => Err(format!("{text:?} is not a share from 0 to 0.98 (0.7 for 70%)")),
    }
}

/// Two file counts, `BASE,ADD`, both above zero.
fn parse_append(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{text:?} is not BASE,ADD (two file counts, e.g. 1000000,100000)");
    let (a, b) = text.split_once(',').ok_or_else(bad)?;
    match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
        (Ok(a), Ok(b)) if a > 0 && b > 0 => Ok((a, b)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(arg: &str) -> Result<LevelArg, clap::Error> {
        match Cli::try_parse_from(["midi-tui", "profile", "apply", arg, "--yes"])?.command {
            Some(Command::Profile {
                action: ProfileAction::Apply { level, yes, .. },
            }) => {
                assert!(yes);
                Ok(level)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn profile_apply_takes_levels_by_name_and_number_and_modes() {
        let cases: [(&str, &[Level]); 8] = [
            ("basic", &[Level::Basic]),
            ("1", &[Level::Basic]),
            ("drop-indexes", &[Level::DropIndexes]),
            ("2", &[Level::DropIndexes]),
            ("unsafe-storage", &[Level::Ludicrous]),
            ("3", &[Level::Ludicrous]),
            ("fast", &[Level::Basic, Level::DropIndexes]),
            ("ludicrous", &[Level::Basic, Level::DropIndexes, Level::Ludicrous]),
        ];
        for (arg, levels) in cases {
            assert_eq!(apply(arg).unwrap().levels(), levels, "{arg}");
        }
        // The same as `import --mode ludicrous`.
        assert_eq!(apply("ludicrous").unwrap().levels(), Mode::Ludicrous.levels());
        let err = apply("4").unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn search_takes_terms_and_a_descending_sort() {
        let cli = Cli::try_parse_from(["midi-tui", "search", "bpm:118..124", "^drums:yes", "--sort", "-bpm"]).unwrap();
        match cli.command {
            Some(Command::Search(a)) => {
                assert_eq!(a.query, ["bpm:118..124", "^drums:yes"]);
                assert_eq!(a.sort.as_deref(), Some("-bpm"));
                assert!(!a.json && !a.paths && a.limit.is_none());
            }
            other => panic!("{other:?}"),
        }
        let json = Cli::try_parse_from(["midi-tui", "search", "--json"]).unwrap();
        assert!(json.wants_json());
        assert!(Cli::try_parse_from(["midi-tui", "search", "--json", "--paths"]).is_err());
    }

    /// Every command, argument, option and possible value in the tree, each with its description or `None`.
    fn described(cmd: &clap::Command, path: &str, out: &mut Vec<(String, bool)>) {
        let path = format!("{path} {}", cmd.get_name()).trim().to_string();
        out.push((
            path.clone(),
            cmd.get_about().is_some() || cmd.get_long_about().is_some(),
        ));
        for arg in cmd.get_arguments() {
            let name = match arg.get_long() {
                Some(long) => format!("{path} --{long}"),
                None => format!("{path} <{}>", arg.get_id()),
            };
            out.push((name.clone(), arg.get_help().is_some() || arg.get_long_help().is_some()));
            // A flag's `true`/`false` are not values anyone types.
            if arg.get_action().takes_values() {
                for v in arg.get_possible_values().iter().filter(|v| !v.is_hide_set()) {
                    out.push((format!("{name} {}", v.get_name()), v.get_help().is_some()));
                }
            }
        }
        for sub in cmd.get_subcommands() {
            described(sub, &path, out);
        }
    }

    #[test]
    fn every_command_argument_option_and_value_is_described() {
        let mut all = Vec::new();
        described(&command(), "", &mut all);
        let missing: Vec<&str> = all.iter().filter(|(_, ok)| !ok).map(|(p, _)| p.as_str()).collect();
        assert!(missing.is_empty(), "no description:\n{}", missing.join("\n"));
        // The walk saw the tree: values of enums, nested subcommands, hidden test options.
        for seen in [
            "midi-tui import --mode ludicrous",
            "midi-tui import <sources>",
            "midi-tui profile apply <level> drop-indexes",
            "midi-tui db status --json",
            "midi-tui completions <shell> fish",
            "midi-tui import --limit write-only",
            "midi-tui man --out",
        ] {
            assert!(all.iter().any(|(p, _)| p == seen), "{seen} in {:?}", all);
        }
        assert!(all.len() > 150, "{} entries", all.len());
    }

    #[test]
    fn usage_lines_show_what_a_command_needs_not_what_was_given() {
        let usage = |args: &[&str]| {
            let e = parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let text = e.render().to_string();
            text.lines()
                .find(|l| l.starts_with("Usage:"))
                .unwrap_or_else(|| panic!("{text}"))
                .to_string()
        };
        // Options given on the line (or from MIDI_TUI_DATA_DIR, which clap counts the same) are not required.
        assert_eq!(
            usage(&["midi-tui", "import", "--data-dir", "/x"]),
            "Usage: midi-tui import [OPTIONS] <SOURCE>..."
        );
        assert_eq!(
            usage(&["midi-tui", "import", "--mode", "fast", "--json"]),
            "Usage: midi-tui import [OPTIONS] <SOURCE>..."
        );
        assert_eq!(
            usage(&["midi-tui", "extract", "a.zip", "--database-url", "postgres://x"]),
            "Usage: midi-tui extract [OPTIONS] --out <DIR> <ARCHIVE>..."
        );
        assert_eq!(
            usage(&["midi-tui", "profile", "apply", "--data-dir", "/x"]),
            "Usage: midi-tui profile apply [OPTIONS] <LEVEL>"
        );
        // The parse itself is the derive's.
        let cli = parse_from(["midi-tui", "--data-dir", "/d", "dupes", "--limit", "5", "--musical"]).unwrap();
        assert_eq!(cli.global.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        match cli.command {
            Some(Command::Dupes(a)) => assert!(a.musical && a.limit == Some(5) && !a.json),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn search_help_lists_every_query_field_with_its_examples() {
        let mut cmd = command();
        let search = cmd.find_subcommand_mut("search").unwrap();
        let help = search.render_long_help().to_string();
        let short = search.render_help().to_string();
        for f in crate::engine::database::query::FIELDS {
            for example in f.examples {
                assert!(help.contains(example), "{example} in:\n{help}");
                assert!(short.contains(example), "{example} in -h");
            }
        }
        assert!(help.contains("^term") && !help.contains("README"), "{help}");
    }

    #[test]
    fn printed_commands_hide_the_password() {
        let g = GlobalArgs {
            database_url: Some("postgres://u:secret@db:5433/music".into()),
            data_dir: Some(PathBuf::from("/data/my lib")),
            log: None,
            soundfont: None,
        };
        assert_eq!(
            g.shell_flags(),
            " --database-url postgres://u:PASSWORD@db:5433/music --data-dir '/data/my lib'"
        );
        assert_eq!(
            without_password("postgres:///music?host=/run"),
            "postgres:///music?host=/run"
        );
    }

    #[test]
    fn data_dir_follows_the_target() {
        let global = |url: Option<&str>, dir: Option<&str>| GlobalArgs {
            database_url: url.map(String::from),
            data_dir: dir.map(PathBuf::from),
            log: None,
            soundfont: None,
        };
        let url = "postgres://u:secret@db.example.org:5433/music";
        assert_eq!(
            global(Some(url), None).data_dir(),
            Cluster::default_data_dir().join("targets/db.example.org-5433-music")
        );
        assert_eq!(global(Some(url), Some("/x")).data_dir(), PathBuf::from("/x"));
        assert_eq!(global(Some(" "), None).data_dir(), Cluster::default_data_dir());
        assert_eq!(global(None, None).data_dir(), Cluster::default_data_dir());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write /x: {source}")]
    struct Quoting {
        source: std::io::Error,
    }

    #[test]
    fn error_text_names_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "Broken pipe (os error 32)");
        let e = anyhow::Error::new(Quoting { source: io }).context("restore safety");
        assert_eq!(
            error_text(&e),
            "restore safety: cannot write /x: Broken pipe (os error 32)"
        );
    }

    #[test]
    fn failure_json_has_status_and_error() {
        let v: serde_json::Value = serde_json::from_str(&failure_json("connection refused")).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error"], "connection refused");
    }
}
