//! Spawned work for the event loop: every database call runs in a task with a timeout and comes back as a
//! message, so a slow query, a restarting server or a stopped one never freezes the screen.
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::app::{Msg, PollOutcome, Polled};
use super::browser::{BrowserMsg, Timer};
use super::listen::ListenMsg;
use crate::engine::listen::{FoundFont, Performance, SynthOptions, load_performance};
use crate::listen::{OpenOutput, OutputChoice, Player, Probe};

use crate::engine::human;
use crate::engine::pipeline::EngineEvent;
use crate::engine::profile::{Confirmation, Level, Mode};
use crate::engine::run::plan::{ImportPlan, ImportReport, PlanError, PlanHandle};
use crate::engine::run::session::Engine;

/// Unfinished runs the start screen lists at most.
pub const UNFINISHED_SHOWN: i64 = 20;
/// Path completions listed at most.
const COMPLETIONS: usize = 200;

/// A status poll that takes longer shows the server as not answering.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(5);
/// Applying or reverting a level (a table rewrite to LOGGED can take long on a big library).
pub const OP_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// Rebuilding every index of a multi-million-file library.
pub const REBUILD_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// A library search or detail that takes longer is reported as failed (the browser stays usable).
pub const BROWSE_TIMEOUT: Duration = Duration::from_secs(30);

/// What spawned work sends back to the loop.
pub enum Incoming {
    Msg(Box<Msg>),
    /// A started import plan, for the loop to drain and sample.
    Plan(PlanHandle),
    /// An output opened for listening (for the choice it was asked for), or why not.
    Output(OutputChoice, Box<Result<OpenOutput, String>>),
}

pub type Tx = UnboundedSender<Incoming>;

fn send(tx: &Tx, msg: Msg) {
    // The loop has gone when this fails: nothing is left to tell.
    let _ = tx.send(Incoming::Msg(Box::new(msg)));
}

async fn timed<T, E: std::fmt::Display>(limit: Duration, fut: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer after {} s", limit.as_secs())),
    }
}

/// A copy of the engine whose pool is one connection of its own, so polls never queue behind the import.
pub fn poll_engine(engine: &Engine) -> Engine {
    engine.poll_copy(Duration::from_secs(3))
}

async fn poll_once(engine: &Engine) -> Result<Polled, String> {
    let t0 = Instant::now();
    let status = engine.status_estimated().await.map_err(|e| e.to_string())?;
    let safety = engine.safety().await.map_err(|e| e.to_string())?;
    let wal_bytes = engine.wal_bytes().await;
    // A library from before shared runs, or a role that may not read them: the line just stays away.
    let shared_runs = engine.live_shared_runs().await.unwrap_or_default();
    let unfinished = engine.unfinished_runs(UNFINISHED_SHOWN).await.unwrap_or_default();
    Ok(Polled {
        status,
        safety,
        wal_bytes,
        shared_runs,
        unfinished,
        latency_ms: t0.elapsed().as_millis() as u64,
    })
}

/// Poll the server; also point the disk line at the server's data directory when it is on this machine.
pub fn spawn_poll(engine: Engine, disk_path: super::system::DiskPath, tx: Tx) {
    tokio::spawn(async move {
        // Needs superuser or pg_read_all_settings; without it the tool's data directory stays the reference.
        let dir = tokio::time::timeout(POLL_TIMEOUT, engine.server_data_directory()).await;
        if let Ok(Ok(dir)) = dir {
            let dir = PathBuf::from(dir);
            // Asked without blocking the runtime: the directory may sit on a slow or hung mount.
            if tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
                *disk_path.lock().unwrap_or_else(|e| e.into_inner()) = dir;
            }
        }
        let outcome = match tokio::time::timeout(POLL_TIMEOUT, poll_once(&engine)).await {
            Ok(Ok(p)) => PollOutcome::Ok(Box::new(p)),
            Ok(Err(e)) => PollOutcome::Failed(first_line(&e)),
            Err(_) => PollOutcome::TimedOut {
                seconds: POLL_TIMEOUT.as_secs(),
            },
        };
        send(&tx, Msg::Polled(outcome));
    });
}

/// The first line of an error, without the wrapper prefix every database error carries.
fn first_line(e: &str) -> String {
    let line = e.lines().next().unwrap_or_default();
    line.strip_prefix("database error: ").unwrap_or(line).to_string()
}

/// Apply a level; before level 3 with `backup`, the library's backup first (a failed backup applies nothing).
pub fn spawn_apply(engine: Engine, level: Level, confirmed: Vec<Confirmation>, backup: bool, tx: Tx) {
    tokio::spawn(async move {
        if backup {
            match engine.backup_library().await {
                Ok(b) => send(&tx, Msg::BackedUp(Ok(b.describe()))),
                Err(e) => {
                    send(&tx, Msg::BackedUp(Err(e.to_string())));
                    return;
                }
            }
        }
        let result = timed(OP_TIMEOUT, engine.apply_level(level, &confirmed)).await;
        send(&tx, Msg::Applied { level, result });
    });
}

pub fn spawn_crash_cost(engine: Engine, tx: Tx) {
    tokio::spawn(async move {
        let result = engine.crash_cost().await.map_err(|e| e.to_string());
        send(&tx, Msg::CrashCost(result));
    });
}

pub fn spawn_revert(engine: Engine, level: Level, tx: Tx) {
    tokio::spawn(async move {
        let result = timed(OP_TIMEOUT, engine.revert_level(level)).await;
        send(&tx, Msg::Reverted { level, result });
    });
}

pub fn spawn_restore(engine: Engine, tx: Tx) {
    tokio::spawn(async move {
        let result = timed(OP_TIMEOUT, engine.restore_safety()).await;
        send(&tx, Msg::Restored(result));
    });
}

/// Rebuild with per-index progress forwarded as messages.
pub fn spawn_rebuild(engine: Engine, tx: Tx) {
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel();
    let forward = tx.clone();
    tokio::spawn(async move {
        while let Some(ev) = prx.recv().await {
            send(&forward, Msg::Rebuild(ev));
        }
    });
    tokio::spawn(async move {
        let jobs = crate::engine::machine::cores().max(2);
        let result = timed(REBUILD_TIMEOUT, engine.rebuild_indexes(jobs, Some(ptx))).await;
        send(&tx, Msg::RebuildEnded(result));
    });
}

/// Start the engine's import plan (levels, the crash check, the import) and hand its handle to the loop. The
/// console keeps the profile afterwards: `r` restores safety and rebuilds, on the user's word.
pub fn spawn_import(
    engine: Engine,
    sources: Vec<PathBuf>,
    mode: Mode,
    confirmed: Vec<Confirmation>,
    backup: Option<bool>,
    tx: Tx,
) {
    let mut plan = ImportPlan::new(sources, mode);
    plan.confirmed = confirmed;
    plan.backup = backup;
    plan.keep_profile = true;
    let log = engine.run_log_path();
    send(&tx, Msg::LogFile(log.display().to_string()));
    plan.log_path = Some(log);
    let _ = tx.send(Incoming::Plan(engine.start_plan(plan)));
}

/// Wait for the plan's end and report it as the import's end.
pub fn spawn_join(task: tokio::task::JoinHandle<Result<ImportReport, PlanError>>, tx: Tx) {
    tokio::spawn(async move {
        let result = match task.await {
            Ok(Ok(report)) => {
                if let Some(e) = &report.error {
                    send(&tx, Msg::Engine(EngineEvent::Log(format!("the run failed: {e}"))));
                }
                Ok(report.run)
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the import task could not be joined: {e}")),
        };
        send(&tx, Msg::ImportEnded(result));
    });
}

/// A copy of the engine for the library browser: one connection of its own, so searches never queue behind the
/// import's writers (nor the status poll).
pub fn browse_engine(engine: &Engine) -> Engine {
    engine.poll_copy(Duration::from_secs(10))
}

/// Send `timer` back after `delay` (the browser's debounce).
pub fn spawn_timer(delay: Duration, timer: Timer, tx: Tx) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        send(&tx, Msg::Browser(BrowserMsg::Timer(timer)));
    });
}

/// One page of a library search, tagged with the generation it answers.
pub fn spawn_search(
    engine: Engine,
    generation: u64,
    query: crate::engine::library::Query,
    sort: crate::engine::library::Sort,
    after: Option<crate::engine::library::Cursor>,
    tx: Tx,
) {
    tokio::spawn(async move {
        let append = after.is_some();
        let page = super::browser::PAGE_SIZE;
        let result = timed(BROWSE_TIMEOUT, engine.search_files(&query, sort, page, after.as_ref()))
            .await
            .map_err(|e| first_line(&e));
        send(
            &tx,
            Msg::Browser(BrowserMsg::Searched {
                generation,
                append,
                result,
            }),
        );
    });
}

/// The selected file's detail.
pub fn spawn_detail(engine: Engine, selection: u64, content_hash: String, tx: Tx) {
    tokio::spawn(async move {
        let result = match crate::engine::library::hash_from_hex(&content_hash) {
            Some(hash) => timed(BROWSE_TIMEOUT, engine.file_detail(&hash))
                .await
                .map(|d| d.map(Box::new))
                .map_err(|e| first_line(&e)),
            None => Err(format!("not a content hash: {content_hash}")),
        };
        send(&tx, Msg::Browser(BrowserMsg::Detail { selection, result }));
    });
}

/// The selected file's notes, read from disk or an archive on a blocking thread.
pub fn spawn_notes(selection: u64, content_hash: String, locations: Vec<String>, tx: Tx) {
    tokio::spawn(async move {
        let read = tokio::task::spawn_blocking(move || {
            crate::engine::library::load_notes(&locations, &content_hash, crate::engine::library::MAX_NOTES)
        });
        let result = match read.await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("reading the notes failed: {e}")),
        };
        send(&tx, Msg::Browser(BrowserMsg::Notes { selection, result }));
    });
}

/// Look for a SoundFont and the MIDI ports (a walk of a few folders and the sequencer's port list).
pub fn spawn_listen_probe(soundfont: Option<PathBuf>, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let probe = Probe::run(soundfont);
        send(&tx, Msg::Listen(ListenMsg::Probed(probe)));
    });
}

/// Open an output (loading the SoundFont, once per process, and opening the device) off the loop.
pub fn spawn_open_output(choice: OutputChoice, probe: Probe, tx: Tx) {
    tokio::task::spawn_blocking(move || {
        let opened = OpenOutput::open(&choice, &probe);
        let _ = tx.send(Incoming::Output(choice, Box::new(opened)));
    });
}

/// The last file played, held so that a seek or a replay needs no read.
pub type HeldFile = std::sync::Arc<std::sync::Mutex<Option<(String, std::sync::Arc<Performance>)>>>;

/// A file to start: request `id` on `player`, for the browser's `selection`.
pub struct PlayJob {
    pub player: Player,
    pub id: u64,
    pub held: HeldFile,
    pub selection: u64,
    pub content_hash: String,
    pub locations: Vec<String>,
    pub from: f64,
}

/// Read the selected file (or take the one held) and start it; a newer request makes it a no-op.
pub fn spawn_play(job: PlayJob, tx: Tx) {
    let PlayJob {
        player,
        id,
        held,
        selection,
        content_hash,
        locations,
        from,
    } = job;
    tokio::task::spawn_blocking(move || {
        let cached = held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(h, _)| *h == content_hash)
            .map(|(_, p)| p.clone());
        let perf = match cached {
            Some(p) => p,
            None => match load_performance(&locations, &content_hash) {
                Ok((_, p)) => {
                    *held.lock().unwrap_or_else(|e| e.into_inner()) = Some((content_hash, p.clone()));
                    p
                }
                Err(e) => {
                    let result = Err(e.to_string());
                    return send(&tx, Msg::Listen(ListenMsg::Started { selection, result }));
                }
            },
        };
        let duration = perf.duration;
        let result = match player.start(id, perf, from) {
            Ok(true) => Ok((id, duration)),
            // A newer request was made while this one loaded: it answers instead.
            Ok(false) => return,
            Err(e) => Err(e),
        };
        send(&tx, Msg::Listen(ListenMsg::Started { selection, result }));
    });
}

/// Render the selected file to `NAME.wav` in the current folder (never over a file), off the loop.
pub fn spawn_render(
    font: Result<FoundFont, String>,
    content_hash: String,
    locations: Vec<String>,
    name: String,
    tx: Tx,
) {
    tokio::task::spawn_blocking(move || {
        let result = (|| -> Result<String, String> {
            let font = font?;
            let t0 = Instant::now();
            let (location, perf) = load_performance(&locations, &content_hash).map_err(|e| e.to_string())?;
            let dir = std::env::current_dir().map_err(|e| e.to_string())?;
            let stem = std::path::Path::new(&name)
                .file_stem()
                .map_or_else(|| "render".to_string(), |s| s.to_string_lossy().into_owned());
            let out = crate::cli::render::free_wav_path(&dir, &stem);
            let perf = std::sync::Arc::try_unwrap(perf).unwrap_or_else(|p| (*p).clone());
            let o = crate::cli::render::render_performance(&font, perf, &location, &out, &SynthOptions::default(), t0)
                .map_err(|e| crate::cli::error_text(&e))?;
            // The name first: the listening line is narrow, and the folder is the console's own.
            Ok(format!(
                "rendered {}.wav ({:.1} s of audio, {:.0}x real time) in {}",
                out.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                o.report.audio_seconds,
                o.speed,
                dir.display()
            ))
        })();
        send(&tx, Msg::Listen(ListenMsg::Rendered(result)));
    });
}

/// Expand `~`, make the path absolute and check it exists (with a timeout: a hung mount must not hang us).
pub fn spawn_check_source(typed: String, tx: Tx) {
    tokio::spawn(async move {
        let path = expand(&typed);
        let exists = matches!(
            tokio::time::timeout(CHECK_TIMEOUT, tokio::fs::metadata(path.clone())).await,
            Ok(Ok(_))
        );
        send(&tx, Msg::SourceChecked { typed, path, exists });
    });
}

/// `auto`: size the sources (a walk without reading, off the async workers) and the library, then choose as
/// `import --mode auto` does. Ludicrous is a candidate: its dialogs, which follow, are where its risks are accepted.
pub fn spawn_choose_mode(engine: Engine, sources: Vec<PathBuf>, tx: Tx) {
    tokio::spawn(async move {
        let chosen = async {
            let size = tokio::task::spawn_blocking(move || crate::engine::profile::sizing::import_size(&sources))
                .await
                .map_err(|e| e.to_string())?;
            let choice = engine
                .choose_mode(size.files, true, false)
                .await
                .map_err(|e| e.to_string())?;
            Ok((choice.mode, choice.reason))
        }
        .await;
        send(&tx, Msg::ModeChosen(chosen));
    });
}

/// How many files the query matches (exact up to the engine's cap, its estimate past it).
pub fn spawn_count(engine: Engine, generation: u64, query: crate::engine::library::Query, tx: Tx) {
    tokio::spawn(async move {
        let result = timed(BROWSE_TIMEOUT, engine.count_matches(&query))
            .await
            .map_err(|e| first_line(&e));
        send(&tx, Msg::Browser(BrowserMsg::Counted { generation, result }));
    });
}

/// The groups of the duplicates view: the library's largest of one kind, or one file's.
pub fn spawn_dupes(engine: Engine, generation: u64, of: super::browser::DupesOf, tx: Tx) {
    use super::browser::{DUPE_FILES, DUPE_GROUPS, DupesOf};
    tokio::spawn(async move {
        let result = match of {
            DupesOf::Library(kind) => {
                let mut groups = Vec::new();
                timed(
                    BROWSE_TIMEOUT,
                    engine.duplicate_groups(kind, |mut g| {
                        g.files.truncate(DUPE_FILES);
                        groups.push(g);
                        groups.len() < DUPE_GROUPS
                    }),
                )
                .await
                .map(|_| groups)
            }
            DupesOf::File { content_hash, .. } => match crate::engine::library::hash_from_hex(&content_hash) {
                Some(hash) => timed(BROWSE_TIMEOUT, engine.duplicates_of(&hash, DUPE_FILES)).await,
                None => Err(format!("not a content hash: {content_hash}")),
            },
        };
        send(
            &tx,
            Msg::Browser(BrowserMsg::Dupes {
                generation,
                result: result.map_err(|e| first_line(&e)),
            }),
        );
    });
}

/// Export the query's files (the same call as `midi-tui export`), answered with its one-line outcome.
pub fn spawn_export(
    engine: Engine,
    query: crate::engine::library::Query,
    (out, manifest): (String, Option<String>),
    all_locations: bool,
    split: crate::engine::library::splits::SplitOptions,
    tx: Tx,
) {
    tokio::spawn(async move {
        let out = expand(&out);
        let manifest = manifest.map(|m| expand(&m));
        let result = match engine
            .export_query(&query, out.clone(), all_locations, manifest, &split)
            .await
        {
            Ok(done) => {
                let r = &done.report;
                let mut line = format!(
                    "exported {} of {} into {} ({}), {} already there, {} renamed",
                    human::count(r.written()),
                    human::counted(done.matched, "matching file"),
                    out.display(),
                    super::ui::fmt_bytes(r.bytes),
                    human::count(r.unchanged()),
                    human::count(r.renamed)
                );
                if !r.errors.is_empty() {
                    line.push_str(&format!(
                        "; {} failed, first: {}",
                        human::counted(r.errors.len(), "location"),
                        r.errors[0].0
                    ));
                }
                if done.left_out > 0 {
                    line.push_str(&format!("; {} left out (one per group)", human::count(done.left_out)));
                }
                for s in done.splits.iter().filter(|s| !s.name.is_empty()) {
                    line.push_str(&format!(
                        "; {} {} ({} h)",
                        s.name,
                        human::counted(s.files, "file"),
                        format_args!("{:.1}", s.hours)
                    ));
                }
                Ok(line)
            }
            Err(e) => Err(e.to_string()),
        };
        send(&tx, Msg::Browser(BrowserMsg::Exported(result)));
    });
}

/// The similarity features of files imported before them (the same call as `midi-tui features`): its progress
/// after each batch, then its one-line outcome.
pub fn spawn_features(engine: Engine, tx: Tx) {
    tokio::spawn(async move {
        let t = Instant::now();
        let progress = tx.clone();
        let result = engine
            .backfill_features(|r| send(&progress, Msg::Browser(BrowserMsg::FeaturesProgress(r.clone()))))
            .await
            .map(|r| r.outcome(t.elapsed().as_secs_f64()))
            .map_err(|e| first_line(&e.to_string()));
        send(&tx, Msg::Browser(BrowserMsg::FeaturesDone(result)));
    });
}

/// The paths that complete `typed` (`~` expanded for the listing, the typed spelling kept), folders with a `/`.
/// Listed off the async workers, with a timeout: a hung mount must not hang the console.
pub fn spawn_complete(target: super::app::PathTarget, typed: String, tx: Tx) {
    tokio::spawn(async move {
        let t = typed.clone();
        let listed = tokio::task::spawn_blocking(move || complete_path(&t));
        let candidates = match tokio::time::timeout(CHECK_TIMEOUT, listed).await {
            Ok(Ok(c)) => c,
            _ => Vec::new(),
        };
        send(
            &tx,
            Msg::Completed {
                target,
                typed,
                candidates,
            },
        );
    });
}

/// Completions of `typed`: the entries of its folder whose names start with its last part, sorted; hidden entries
/// only when that part starts with a dot.
pub fn complete_path(typed: &str) -> Vec<String> {
    let (dir_part, prefix) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let dir = if dir_part.is_empty() {
        expand(".")
    } else {
        expand(dir_part)
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            // A symbolic link to a folder completes as a folder.
            let is_dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            Some(format!("{dir_part}{name}{}", if is_dir { "/" } else { "" }))
        })
        .take(COMPLETIONS)
        .collect();
    out.sort();
    out
}

/// `~/x` -> home/x; relative paths against the current directory.
pub fn expand(typed: &str) -> PathBuf {
    let p = match typed.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from(typed)),
        None if typed == "~" => dirs::home_dir().unwrap_or_else(|| PathBuf::from(typed)),
        None => PathBuf::from(typed),
    };
    std::path::absolute(&p).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_complete_from_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join("grooves 1")).unwrap();
        std::fs::create_dir(dir.path().join("grooves 2")).unwrap();
        std::fs::write(dir.path().join("gamma.mid"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"x").unwrap();
        assert_eq!(
            complete_path(&format!("{base}/gr")),
            vec![format!("{base}/grooves 1/"), format!("{base}/grooves 2/")]
        );
        assert_eq!(complete_path(&format!("{base}/ga")), vec![format!("{base}/gamma.mid")]);
        assert_eq!(
            complete_path(&format!("{base}/")).len(),
            3,
            "hidden entries only when asked for"
        );
        assert!(complete_path(&format!("{base}/nothing")).is_empty());
    }

    #[test]
    fn typed_paths_expand() {
        assert!(expand("relative/x").is_absolute());
        assert_eq!(expand("/a/b"), PathBuf::from("/a/b"));
        if let Some(home) = dirs::home_dir() {
            assert_eq!(expand("~/music"), home.join("music"));
        }
    }
}
