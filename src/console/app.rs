//! The console's state and its only way of changing: `update(&mut App, Msg) -> Vec<Effect>`, pure and tested.
//!
//! Nothing here touches the terminal, the database or the clock: the event loop turns terminal events, ticks,
//! engine updates and the results of spawned tasks into `Msg`s, and executes the `Effect`s that come back.
use std::path::PathBuf;

use super::bottleneck::{self, Bottleneck};
use super::browser::{BrowseAction, Browser, BrowserEffect, BrowserMsg, Focus};
use super::history::Ring;
use super::keymap::{self, Action, Ctx, Key};
pub use super::lineedit::PathField;
use super::lineedit::{EditOp, Move, moved};
use super::listen::{Listen, ListenEffect, ListenMsg};
use crate::database::status::Status;
use crate::engine::database::runs::UnfinishedRun;
use crate::engine::human;
use crate::engine::metrics::{self, Phase, PhaseRate, Snapshot};
use crate::engine::pipeline::{EngineEvent, RunSummary};
use crate::engine::profile::{
    ApplyReport, Confirmation, Level, Mode, RebuildEvent, RebuildReport, RestoreReport, SafetyState,
};
use crate::engine::run::backup::CrashCost;
use crate::engine::run::plan::{PlanEvent, StepKind};

/// Samples kept for the graph: ten minutes at one sample a second.
pub const HISTORY_SAMPLES: usize = 600;
/// Samples averaged for the bottleneck and the ETA, so one odd second does not flip them.
const SMOOTHING: usize = 5;
/// Lines kept in the log panel.
const LOG_LINES: usize = 200;
/// The server is polled every this many samples.
const POLL_EVERY: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Start,
    Run,
}

/// Where the import stands: the whole run lifecycle in one value.
///
/// Idle -> Preparing (the plan applies the mode's levels) -> Running <-> Paused -> Cancelling -> Finished | Failed;
/// a finished Fast or Ludicrous run offers restore + rebuild on one key until they are done, and a quit asked
/// during a run cancels it first, then quits.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// No import started yet in this console.
    Idle,
    /// Applying the mode's levels before the import starts.
    Preparing,
    Running,
    Paused,
    /// Cancel asked: the pipeline flushes what is in flight and marks the run interrupted.
    Cancelling {
        then_quit: bool,
    },
    Finished {
        offer_restore: bool,
    },
    Failed {
        error: String,
        offer_restore: bool,
    },
}

impl RunState {
    /// An import (or its preparation) is going on.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RunState::Preparing | RunState::Running | RunState::Paused | RunState::Cancelling { .. }
        )
    }

    /// A run left its mode's levels applied: `r` restores safety and rebuilds.
    pub fn offers_restore(&self) -> bool {
        matches!(
            self,
            RunState::Finished { offer_restore: true }
                | RunState::Failed {
                    offer_restore: true,
                    ..
                }
        )
    }

    /// Restore and rebuild happened (or were asked for): stop offering them.
    pub fn restore_done(&mut self) {
        if let RunState::Finished { offer_restore } | RunState::Failed { offer_restore, .. } = self {
            *offer_restore = false;
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            RunState::Idle => "ready",
            RunState::Preparing => "applying profile",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Cancelling { .. } => "cancelling",
            RunState::Finished { .. } => "finished",
            RunState::Failed { .. } => "failed",
        }
    }
}

/// A profile operation running in a spawned task (one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Apply(Level),
    Revert(Level),
    Restore { then_rebuild: bool },
    Rebuild,
}

impl Op {
    pub fn label(&self) -> String {
        match self {
            Op::Apply(l) => format!("applying level {} ({})", l.number(), l.label()),
            Op::Revert(l) => format!("reverting level {} ({})", l.number(), l.label()),
            Op::Restore { .. } => "restoring safety".into(),
            Op::Rebuild => "rebuilding indexes".into(),
        }
    }
}

/// What a confirmed dialog leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    StartRun,
    ApplyLevel(Level),
}

/// The confirmation dialogs. None of them runs anything: Enter sends the confirmed action through `update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    /// A risk that needs an explicit yes (fsync off, UNLOGGED); `index` walks through `needed`.
    Risk {
        needed: Vec<Confirmation>,
        index: usize,
        then: Then,
    },
    DropIndexes,
    Cancel,
    /// Its reasons are read from the state each time it is drawn, so that it stays true while the run goes on.
    Quit,
    /// Restore safety (and, with `then_rebuild`, rebuild the dropped indexes): from either screen.
    Restore {
        then_rebuild: bool,
    },
    /// Before level 3 on a library that holds files: what a crash would cost (`None` while it is being found out),
    /// then Enter backs the library up first, `n` goes on without a backup.
    Backup {
        cost: Option<Result<CrashCost, String>>,
        confirmed: Vec<Confirmation>,
        then: Then,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Dialog(Dialog),
    Help,
    /// Typing a source path.
    Input(PathField),
}

/// The start screen's list that takes the movement keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartList {
    Modes,
    Runs,
}

/// The server as the poll task last saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerState {
    Unknown,
    Up { latency_ms: u64 },
    NotAnswering { seconds: u64 },
    Down { error: String },
}

/// One answer of the status poll (on its own connection).
#[derive(Debug, Clone)]
pub struct Polled {
    pub status: Status,
    pub safety: SafetyState,
    /// Bytes in pg_wal; `None` when the role may not list it.
    pub wal_bytes: Option<i64>,
    pub latency_ms: u64,
    /// Shared runs still going on this library (this console's own import may be one of their importers).
    pub shared_runs: Vec<crate::engine::database::shared::LiveRun>,
    /// Interrupted and failed runs no later run has followed, newest first.
    pub unfinished: Vec<UnfinishedRun>,
}

#[derive(Debug, Clone)]
pub enum PollOutcome {
    Ok(Box<Polled>),
    TimedOut { seconds: u64 },
    Failed(String),
}

/// CPU, memory and disk of this machine, sampled off the loop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemSample {
    /// Usage per core, 0..=100.
    pub cpu: Vec<f32>,
    pub mem_used: u64,
    pub mem_total: u64,
    /// Free and total bytes of the file system holding the data directory.
    pub disk_free: Option<u64>,
    pub disk_total: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub kind: LogKind,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IndexState {
    Building,
    Built(f64),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexProgress {
    pub name: String,
    pub table: String,
    pub state: IndexState,
}

/// The per-index progress of a rebuild.
#[derive(Debug, Clone, Default)]
pub struct RebuildView {
    /// Indexes missing when the rebuild started (when known).
    pub todo: Option<usize>,
    pub entries: Vec<IndexProgress>,
    pub analyzing: bool,
    pub report: Option<RebuildReport>,
}

impl RebuildView {
    pub fn built(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, IndexState::Built(_)))
            .count()
    }
    pub fn failed(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, IndexState::Failed(_)))
            .count()
    }
    pub fn building(&self) -> usize {
        self.entries.iter().filter(|e| e.state == IndexState::Building).count()
    }
}

/// Rates of the last sample, for the graph, bars, counters and ETA.
#[derive(Debug, Clone)]
pub struct Rates {
    pub phases: [PhaseRate; 6],
    pub files_per_s: f64,
    pub mb_per_s: f64,
}

/// Everything the console shows.
#[derive(Debug, Clone)]
pub struct App {
    pub target: String,
    pub data_dir: String,
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    pub sources: Vec<PathBuf>,
    pub sample_library: Option<PathBuf>,
    /// The mode chosen on the start screen (and used for the run); with `auto_mode`, the one auto picked last.
    pub mode: Mode,
    /// `auto` on the start screen (the default): at Enter the mode is chosen from this machine's measured rates,
    /// the library's size and the sources' size, as `import --mode auto` does.
    pub auto_mode: bool,
    /// Auto is sizing the sources and the library; Enter waits for its answer.
    pub choosing_mode: bool,
    /// Why auto picked `mode`, once it has.
    pub mode_reason: Option<String>,
    pub run: RunState,
    pub op: Option<Op>,
    /// The running import's counters and what the sampling tick derives from them.
    pub live: Live,
    pub summary: Option<RunSummary>,
    /// The database server as the last poll saw it.
    pub db: DbView,
    pub system: Option<SystemSample>,
    /// What `doctor` reads about the machine and server, gathered once at start; judged for the chosen mode.
    pub doctor: Option<crate::engine::doctor::DoctorFacts>,
    pub rebuild: Option<RebuildView>,
    pub log: Ring<LogLine>,
    /// Lines the log panel is scrolled up from its newest line (0: it follows the newest).
    pub log_scroll: usize,
    /// The current run's log file, named in the log panel.
    pub log_path: Option<String>,
    /// The start screen's list under the movement keys, and the unfinished run selected in its list.
    pub start_list: StartList,
    pub run_selected: usize,
    /// Lines the help screen is scrolled down.
    pub help_scroll: usize,
    pub errors: u64,
    /// The answer to the last key, shown in the footer until the next key.
    pub notice: Option<String>,
    /// The library browser, drawn over either screen while open (the import goes on under it).
    pub browser: Browser,
    /// Listening in the browser: the output, the file playing, the playhead.
    pub listen: Listen,
    pub should_quit: bool,
}

/// The run's counters and time series: bounded rings fed on the sampling tick, and what they tell.
#[derive(Debug, Clone)]
pub struct Live {
    pub snapshot: Snapshot,
    prev_sample: Option<Snapshot>,
    pub rates: Option<Rates>,
    pub phase_history: Ring<[PhaseRate; 6]>,
    pub files_per_s: Ring<f64>,
    pub mb_per_s: Ring<f64>,
    pub bottleneck: Option<Bottleneck>,
    /// Most items of the last sample window were archive members.
    pub inflating: bool,
    pub eta: Option<f64>,
    /// The ETA's smoothing (metrics::EtaSmoother: one method for the console and the headless line).
    pub eta_smoother: metrics::EtaSmoother,
    pub samples: u64,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            snapshot: Snapshot::default(),
            prev_sample: None,
            rates: None,
            phase_history: Ring::new(SMOOTHING),
            files_per_s: Ring::new(HISTORY_SAMPLES),
            mb_per_s: Ring::new(HISTORY_SAMPLES),
            bottleneck: None,
            inflating: false,
            eta: None,
            eta_smoother: metrics::EtaSmoother::default(),
            samples: 0,
        }
    }
}

/// The server as polled: up or not, its status and safety, and whether a poll is under way.
#[derive(Debug, Clone)]
pub struct DbView {
    pub server: ServerState,
    pub polled: Option<Polled>,
    pub poll_inflight: bool,
}

impl Default for DbView {
    fn default() -> Self {
        Self {
            server: ServerState::Unknown,
            polled: None,
            poll_inflight: false,
        }
    }
}

impl App {
    pub fn new(target: String, data_dir: String, sources: Vec<PathBuf>, sample_library: Option<PathBuf>) -> Self {
        Self {
            target,
            data_dir,
            screen: Screen::Start,
            overlay: None,
            sources,
            sample_library,
            mode: Mode::Normal,
            auto_mode: true,
            choosing_mode: false,
            mode_reason: None,
            run: RunState::Idle,
            op: None,
            live: Live::default(),
            summary: None,
            db: DbView::default(),
            system: None,
            doctor: None,
            rebuild: None,
            log: Ring::new(LOG_LINES),
            log_scroll: 0,
            log_path: None,
            start_list: StartList::Modes,
            run_selected: 0,
            help_scroll: 0,
            errors: 0,
            notice: None,
            browser: Browser::default(),
            listen: Listen::default(),
            should_quit: false,
        }
    }

    /// The key context: an overlay takes every key, otherwise the screen's.
    pub fn context(&self) -> Ctx {
        match (&self.overlay, self.screen) {
            (Some(Overlay::Dialog(_)), _) => Ctx::Dialog,
            (Some(Overlay::Help), _) => Ctx::Help,
            (Some(Overlay::Input(_)), _) => Ctx::Input,
            (None, _) if self.browser.open => {
                if self.browser.export.as_ref().is_some_and(|e| !e.running) {
                    Ctx::Export
                } else {
                    match (self.browser.focus, &self.browser.dupes) {
                        (Focus::Query, _) => Ctx::BrowserQuery,
                        (Focus::Results, Some(_)) => Ctx::Dupes,
                        (Focus::Results, None) => Ctx::Browser,
                    }
                }
            }
            (None, Screen::Start) => Ctx::Start,
            (None, Screen::Run) => Ctx::Run,
        }
    }

    pub fn safety(&self) -> Option<&SafetyState> {
        self.db.polled.as_ref().map(|p| &p.safety)
    }

    pub fn status(&self) -> Option<&Status> {
        self.db.polled.as_ref().map(|p| &p.status)
    }

    /// `Some(true)` when the last poll found the database unsafe; `None` before the first answer.
    pub fn is_unsafe(&self) -> Option<bool> {
        self.safety().map(|s| s.is_unsafe())
    }

    /// Levels the last poll found applied.
    /// Levels the server carries beyond the chosen mode's (a profile an earlier run left applied): a run started
    /// now imports with them in force, and its label says so ("normal + level 3").
    pub fn extra_levels(&self) -> Vec<Level> {
        let applied = self.levels_applied();
        Level::ALL
            .into_iter()
            .filter(|l| applied[(l.number() - 1) as usize] && !self.mode.levels().contains(l))
            .collect()
    }

    /// The mode as it runs: the chosen one, plus the levels still in force from before.
    pub fn mode_in_force(&self) -> String {
        let extra = self.extra_levels();
        if extra.is_empty() {
            return self.mode.label().to_string();
        }
        let n: Vec<String> = extra.iter().map(|l| l.number().to_string()).collect();
        format!("{} + level {}", self.mode.label(), n.join("+"))
    }

    pub fn levels_applied(&self) -> [bool; 3] {
        self.safety().map(|s| s.levels_applied).unwrap_or_default()
    }

    /// What the bottleneck's remedy depends on: the levels on, the source being read, the rates measured here
    /// (the bench's until the doctor's facts arrive).
    pub fn situation(&self) -> bottleneck::Situation {
        let rates = match &self.doctor {
            Some(d) => d.rates.clone(),
            None => crate::engine::profile::auto::Rates::from_runs([None; 3]),
        };
        bottleneck::Situation {
            levels_applied: self.levels_applied(),
            inflating: self.live.inflating,
            rates: (rates.normal, rates.fast, rates.ludicrous),
        }
    }

    /// Interrupted and failed runs as the last poll found them.
    pub fn unfinished(&self) -> &[UnfinishedRun] {
        self.db.polled.as_ref().map_or(&[], |p| &p.unfinished)
    }

    /// Something is relaxed that `r` puts back (as the last poll saw it).
    pub fn needs_restore(&self) -> bool {
        self.safety().is_some_and(|s| !s.is_safe())
    }

    /// Secondary indexes missing (as the last poll saw them).
    pub fn indexes_missing(&self) -> usize {
        self.status().map_or(0, |s| s.secondary_indexes.missing.len())
    }

    fn push_log(&mut self, kind: LogKind, text: String) {
        // A scrolled panel stays on the lines it shows while new ones arrive.
        if self.log_scroll > 0 {
            self.log_scroll = (self.log_scroll + 1).min(LOG_LINES - 1);
        }
        self.log.push(LogLine { kind, text });
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.push_log(LogKind::Info, text.into());
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.push_log(LogKind::Warn, text.into());
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.errors += 1;
        self.push_log(LogKind::Error, text.into());
    }
}

/// Everything that reaches the state.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(Key),
    /// The import's handle arrived, with its counters now. They started at zero, so the first rate is taken
    /// from zero: even a run shorter than a sample (over before its handle arrived) gets one.
    ImportStarted(Snapshot),
    /// Counters read on a draw tick.
    Frame(Snapshot),
    /// The sampling tick: counters of the running import, if any.
    Sample(Option<Snapshot>),
    Engine(EngineEvent),
    /// A step of the running plan (levels applied, the import started, notices).
    Plan(PlanEvent),
    ImportEnded(Result<RunSummary, String>),
    Polled(PollOutcome),
    System(SystemSample),
    /// The doctor's facts, gathered once after start.
    Doctor(Box<crate::engine::doctor::DoctorFacts>),
    SourceChecked {
        typed: String,
        path: PathBuf,
        exists: bool,
    },
    /// Auto's choice (the mode and why) or why it could not choose.
    ModeChosen(Result<(Mode, String), String>),
    Applied {
        level: Level,
        result: Result<ApplyReport, String>,
    },
    Reverted {
        level: Level,
        result: Result<RestoreReport, String>,
    },
    Restored(Result<RestoreReport, String>),
    Rebuild(RebuildEvent),
    RebuildEnded(Result<RebuildReport, String>),
    /// Timers and answers for the library browser.
    Browser(BrowserMsg),
    /// Outputs, starts, the playhead and renders for listening.
    Listen(ListenMsg),
    /// The paths that complete `typed` in the field `target` (Tab).
    Completed {
        target: PathTarget,
        typed: String,
        candidates: Vec<String>,
    },
    /// The log file of the run just started.
    LogFile(String),
    /// What a crash in level 3 would cost this library (for the backup dialog).
    CrashCost(Result<CrashCost, String>),
    /// The backup taken before level 3 (its description), or why it failed (level 3 then not applied).
    BackedUp(Result<String, String>),
}

/// A text field that holds a path and completes it on Tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathTarget {
    /// The start screen's source field.
    Source,
    /// The export form's folder or manifest (by field number).
    Export(usize),
}

/// What the event loop does for `update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Check that a typed path exists (and expand `~`), answered by `Msg::SourceChecked`.
    CheckSource(String),
    /// List what completes a typed path, answered by `Msg::Completed`.
    CompletePath {
        target: PathTarget,
        typed: String,
    },
    /// Size the sources and the library and choose the mode (`auto`), answered by `Msg::ModeChosen`.
    ChooseMode(Vec<PathBuf>),
    ApplyLevel {
        level: Level,
        confirmed: Vec<Confirmation>,
        /// Back the library up first (level 3 only).
        backup: bool,
    },
    /// Find out what a crash in level 3 would cost, answered by `Msg::CrashCost`.
    CrashCost,
    RevertLevel(Level),
    RestoreSafety,
    RebuildIndexes,
    /// Run the engine's import plan: the mode's levels, the import; the profile stays for `r` to restore.
    StartImport {
        sources: Vec<PathBuf>,
        mode: Mode,
        confirmed: Vec<Confirmation>,
        /// The plan's `backup` choice before level 3.
        backup: Option<bool>,
    },
    SetPaused(bool),
    CancelImport,
    Poll,
    /// The library browser's timers, searches and reads.
    Browser(BrowserEffect),
    /// Opening outputs, loading and playing files, rendering.
    Listen(ListenEffect),
    Quit,
}

/// Apply one message; return what the loop must do.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(app, key),
        Msg::ImportStarted(s) => {
            app.live.prev_sample = Some(Snapshot {
                elapsed: std::time::Duration::ZERO,
                ..Snapshot::default()
            });
            app.live.snapshot = s;
            vec![]
        }
        Msg::Frame(s) => {
            app.live.snapshot = s;
            vec![]
        }
        Msg::Sample(s) => on_sample(app, s),
        Msg::Engine(ev) => {
            on_engine(app, ev);
            vec![]
        }
        Msg::Plan(ev) => on_plan(app, ev),
        Msg::ImportEnded(r) => on_import_ended(app, r),
        Msg::Polled(p) => {
            on_polled(app, p);
            vec![]
        }
        Msg::System(s) => {
            app.system = Some(s);
            vec![]
        }
        Msg::Doctor(facts) => {
            app.doctor = Some(*facts);
            vec![]
        }
        Msg::ModeChosen(chosen) => on_mode_chosen(app, chosen),
        Msg::SourceChecked { typed, path, exists } => {
            if exists {
                if !app.sources.contains(&path) {
                    app.sources.push(path);
                }
            } else {
                app.notice = Some(format!("no such file or folder: {typed}"));
            }
            vec![]
        }
        Msg::Applied { level, result } => on_applied(app, level, result),
        Msg::CrashCost(cost) => on_crash_cost(app, cost),
        Msg::BackedUp(Ok(text)) => {
            app.info(text);
            app.info(crate::engine::run::backup::RECOVERY);
            vec![]
        }
        Msg::BackedUp(Err(e)) => {
            app.op = None;
            app.error(format!("the backup failed, level 3 was not applied: {e}"));
            vec![Effect::Poll]
        }
        Msg::Reverted { level, result } => {
            app.op = None;
            match result {
                Ok(r) => log_restore(
                    app,
                    &format!("level {} ({}) reverted", level.number(), level.label()),
                    &r,
                ),
                Err(e) => app.error(format!("reverting level {} failed: {e}", level.number())),
            }
            vec![Effect::Poll]
        }
        Msg::Restored(result) => on_restored(app, result),
        Msg::Browser(m) => {
            let mut out = on_browser_msg(app, m);
            // What plays follows the selection (a file read, a list refreshed under it).
            out.extend(listen_effects(app.listen.reconcile(&app.browser)));
            out
        }
        Msg::Listen(m) => listen_effects(app.listen.on_msg(m, &mut app.browser)),
        Msg::Completed {
            target,
            typed,
            candidates,
        } => {
            on_completed(app, target, &typed, candidates);
            vec![]
        }
        Msg::LogFile(path) => {
            app.log_path = Some(path);
            vec![]
        }
        Msg::Rebuild(ev) => {
            on_rebuild_event(app, ev);
            vec![]
        }
        Msg::RebuildEnded(result) => on_rebuild_ended(app, result),
    }
}

/// The index rebuild ended: its figures in the notice and the log (an error when an index is still missing).
fn on_rebuild_ended(app: &mut App, result: Result<RebuildReport, String>) -> Vec<Effect> {
    app.op = None;
    match result {
        Ok(r) => {
            app.run.restore_done();
            if let Some(v) = app.rebuild.as_mut() {
                v.analyzing = false;
                v.report = Some(r.clone());
            }
            let text = format!(
                "indexes rebuilt: {} built, {} failed, {}/{} present ({:.1} s)",
                r.built.len(),
                r.failed.len(),
                r.present,
                r.expected,
                r.seconds
            );
            app.notice = Some(text.clone());
            if r.failed.is_empty() && r.present == r.expected {
                app.info(text);
            } else {
                app.error(text);
            }
        }
        Err(e) => {
            app.notice = Some(format!("index rebuild failed: {e}"));
            app.error(format!("index rebuild failed: {e}"));
        }
    }
    vec![Effect::Poll]
}

/// Tab's answer: the paths that complete `typed`, into the field that asked.
fn on_completed(app: &mut App, target: PathTarget, typed: &str, candidates: Vec<String>) {
    if candidates.is_empty() {
        app.notice = Some(format!("nothing completes {typed}"));
    }
    let field = match target {
        PathTarget::Source => match app.overlay.as_mut() {
            Some(Overlay::Input(f)) => Some(f),
            _ => None,
        },
        PathTarget::Export(i) => app.browser.export_field(i),
    };
    if let Some(f) = field {
        f.complete(typed, candidates);
    }
}

fn on_key(app: &mut App, key: Key) -> Vec<Effect> {
    let ctx = app.context();
    let action = keymap::lookup(ctx, key);
    app.notice = None;
    // In a text field every key the table does not bind is typed.
    if let (None, Key::Char(c)) = (action, key) {
        match ctx {
            Ctx::Input => {
                if let Some(Overlay::Input(f)) = app.overlay.as_mut() {
                    f.edit.insert(c);
                    f.candidates.clear();
                }
                return vec![];
            }
            Ctx::BrowserQuery | Ctx::Export => return browser_effects(app.browser.type_char(c)),
            _ => {}
        }
    }
    match action {
        Some(a) => {
            if !available(app, a) {
                app.notice = Some(why_not(app, a));
                return vec![];
            }
            on_action(app, a)
        }
        None => vec![],
    }
}

/// One action from the key table.
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    if let Action::Listen(a) = action {
        return listen_effects(app.listen.on_action(a, &app.browser));
    }
    let mut out = on_screen_action(app, action);
    if action == Action::Browse(BrowseAction::Close) && app.listen.auditioning {
        // Closing the library stops what it plays.
        out.extend(listen_effects(
            app.listen
                .on_action(super::listen::ListenAction::PlayStop, &app.browser),
        ));
    }
    // What plays follows the selection: a move, the duplicates view, a new query or sort.
    out.extend(listen_effects(app.listen.reconcile(&app.browser)));
    out
}

/// An action of the screens, dialogs and the browser (listening's own are `Listen::on_action`).
fn on_screen_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Help | Action::Dismiss | Action::Confirm | Action::NoBackup | Action::Quit => {
            on_overlay_action(app, action)
        }
        Action::ModeAuto
        | Action::ModeNormal
        | Action::ModeFast
        | Action::ModeLudicrous
        | Action::TypePath
        | Action::InputSubmit
        | Action::InputCancel
        | Action::AddSample
        | Action::RemoveSource
        | Action::NextList
        | Action::ResumeRun => on_start_screen_action(app, action),
        Action::Start | Action::PauseResume | Action::Cancel | Action::NewRun => on_run_action(app, action),
        Action::ToggleLevel(_) | Action::Restore | Action::Rebuild | Action::RestoreAndRebuild => {
            on_profile_action(app, action)
        }
        Action::Move(m) => on_move(app, m),
        Action::Edit(op) => on_edit(app, op),
        Action::Complete => on_complete(app),
        Action::Browse(a) => browser_effects(app.browser.on_action(a)),
        Action::Listen(_) => vec![],
    }
}

/// A movement key: the list of the current context.
fn on_move(app: &mut App, m: Move) -> Vec<Effect> {
    match app.context() {
        Ctx::Help => {
            app.help_scroll = moved(app.help_scroll, m, help_scroll_max(app), 10);
            vec![]
        }
        Ctx::Browser | Ctx::Dupes => browser_effects(app.browser.on_move(m)),
        Ctx::Run => {
            // Up is older: the scroll counts lines up from the newest.
            let oldest = app.log.len().saturating_sub(1);
            let flipped = match m {
                Move::Up => Move::Down,
                Move::Down => Move::Up,
                Move::PageUp => Move::PageDown,
                Move::PageDown => Move::PageUp,
                Move::Top => Move::Bottom,
                Move::Bottom => Move::Top,
            };
            app.log_scroll = moved(app.log_scroll, flipped, oldest, 5);
            vec![]
        }
        Ctx::Start => {
            match app.start_list {
                StartList::Runs => {
                    let last = app.unfinished().len().saturating_sub(1);
                    app.run_selected = moved(app.run_selected.min(last), m, last, 5);
                }
                StartList::Modes => {
                    let j = mode_target(app, m);
                    if j == 0 {
                        set_auto(app);
                    } else {
                        set_mode(app, Mode::ALL[j - 1]);
                    }
                }
            }
            vec![]
        }
        _ => vec![],
    }
}

/// Where a movement key takes the start screen's mode list: auto first, then every mode; ↑/↓ wrap around.
fn mode_target(app: &App, m: Move) -> usize {
    let n = Mode::ALL.len() + 1;
    let i = mode_index(app);
    match m {
        Move::Down => (i + 1) % n,
        Move::Up => (i + n - 1) % n,
        Move::Top | Move::PageUp => 0,
        Move::Bottom | Move::PageDown => n - 1,
    }
}

fn mode_index(app: &App) -> usize {
    if app.auto_mode {
        0
    } else {
        1 + Mode::ALL.iter().position(|x| *x == app.mode).unwrap_or(0)
    }
}

/// The help's lines past what one screen shows (it scrolls no further).
fn help_scroll_max(app: &App) -> usize {
    keymap::help_line_count(app.browser.open, app.screen == Screen::Start).saturating_sub(1)
}

/// An editing key in the field of the current context.
fn on_edit(app: &mut App, op: EditOp) -> Vec<Effect> {
    match app.context() {
        Ctx::Input => {
            if let Some(Overlay::Input(f)) = app.overlay.as_mut() {
                f.edit.apply(op);
                f.candidates.clear();
            }
            vec![]
        }
        _ => browser_effects(app.browser.on_edit(op)),
    }
}

/// Tab in a path field: ask what completes the text before the caret.
fn on_complete(app: &mut App) -> Vec<Effect> {
    let (target, edit) = match app.context() {
        Ctx::Input => match &app.overlay {
            Some(Overlay::Input(f)) => (PathTarget::Source, &f.edit),
            _ => return vec![],
        },
        _ => match app.browser.export_focus() {
            Some((i, f)) => (PathTarget::Export(i), &f.edit),
            None => return vec![],
        },
    };
    let typed: String = edit.text().chars().take(edit.cursor()).collect();
    vec![Effect::CompletePath { target, typed }]
}

/// A browser answer; the outcome of an export or of the features backfill also goes to the log and the footer.
fn on_browser_msg(app: &mut App, msg: BrowserMsg) -> Vec<Effect> {
    match &msg {
        BrowserMsg::Exported(result) => report_outcome(app, result, "export failed"),
        BrowserMsg::FeaturesDone(result) => report_outcome(app, result, "features stopped"),
        _ => {}
    }
    browser_effects(app.browser.on_msg(msg))
}

/// A long task's one-line outcome, or its failure under `failed`: logged, and in the footer.
fn report_outcome(app: &mut App, result: &Result<String, String>, failed: &str) {
    let text = match result {
        Ok(line) => {
            app.info(line.clone());
            line.clone()
        }
        Err(e) => {
            let text = format!("{failed}: {e}");
            app.error(text.clone());
            text
        }
    };
    app.notice = Some(text);
}

fn browser_effects(effects: Vec<BrowserEffect>) -> Vec<Effect> {
    effects.into_iter().map(Effect::Browser).collect()
}

fn listen_effects(effects: Vec<ListenEffect>) -> Vec<Effect> {
    effects.into_iter().map(Effect::Listen).collect()
}

/// Help, dialogs and quitting.
fn on_overlay_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Help => {
            app.overlay = Some(Overlay::Help);
            app.help_scroll = 0;
            vec![]
        }
        Action::Dismiss => {
            if let Some(Overlay::Dialog(d)) = &app.overlay {
                let what = match d {
                    Dialog::Risk { .. } | Dialog::DropIndexes | Dialog::Restore { .. } | Dialog::Backup { .. } => {
                        "not confirmed: nothing was changed"
                    }
                    Dialog::Cancel => "the run goes on",
                    Dialog::Quit => "not quitting",
                };
                app.notice = Some(what.into());
            }
            app.overlay = None;
            vec![]
        }
        Action::Confirm => on_confirm(app),
        Action::NoBackup => match app.overlay.take() {
            Some(Overlay::Dialog(Dialog::Backup { confirmed, then, .. })) => go_on(app, confirmed, then, Some(false)),
            other => {
                app.overlay = other;
                vec![]
            }
        },
        Action::Quit => {
            if quit_reasons(app).is_empty() {
                app.should_quit = true;
                vec![Effect::Quit]
            } else {
                app.overlay = Some(Overlay::Dialog(Dialog::Quit));
                vec![]
            }
        }
        _ => vec![],
    }
}

/// The start screen: the mode and the sources.
fn on_start_screen_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::ModeAuto => set_auto(app),
        Action::ModeNormal => set_mode(app, Mode::Normal),
        Action::ModeFast => set_mode(app, Mode::Fast),
        Action::ModeLudicrous => set_mode(app, Mode::Ludicrous),
        Action::TypePath => {
            app.overlay = Some(Overlay::Input(PathField::default()));
            vec![]
        }
        Action::InputSubmit => {
            let typed = match app.overlay.take() {
                Some(Overlay::Input(f)) => f.edit.text().trim().to_string(),
                _ => String::new(),
            };
            if typed.is_empty() {
                vec![]
            } else {
                vec![Effect::CheckSource(typed)]
            }
        }
        Action::InputCancel => {
            app.overlay = None;
            vec![]
        }
        Action::AddSample => {
            match app.sample_library.clone() {
                Some(p) if !app.sources.contains(&p) => app.sources.push(p),
                Some(_) => app.notice = Some("the sample library is already a source".into()),
                None => app.notice = Some("no sample library found (assets/sample-library)".into()),
            }
            vec![]
        }
        Action::RemoveSource => {
            app.sources.pop();
            vec![]
        }
        Action::NextList => {
            app.start_list = match app.start_list {
                StartList::Modes if !app.unfinished().is_empty() => StartList::Runs,
                _ => StartList::Modes,
            };
            vec![]
        }
        Action::ResumeRun => {
            let Some(run) = app.unfinished().get(app.run_selected).cloned() else {
                return vec![];
            };
            // The same resume as `import`: the run's sources in its mode; what it committed is skipped.
            app.sources = run.source_paths();
            match Mode::ALL.into_iter().find(|m| m.label() == run.mode) {
                Some(mode) => {
                    set_mode(app, mode);
                }
                None => {
                    set_auto(app);
                }
            }
            app.start_list = StartList::Modes;
            app.info(format!(
                "resuming run {} ({}, {} mode): what it committed is skipped",
                run.id, run.status, run.mode
            ));
            on_start(app)
        }
        _ => vec![],
    }
}

/// Starting, pausing and cancelling a run.
fn on_run_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Start => on_start(app),
        Action::PauseResume => match app.run {
            RunState::Running => {
                app.run = RunState::Paused;
                app.info("paused");
                vec![Effect::SetPaused(true)]
            }
            RunState::Paused => {
                app.run = RunState::Running;
                app.info("resumed");
                vec![Effect::SetPaused(false)]
            }
            _ => {
                app.notice = Some("no run to pause".into());
                vec![]
            }
        },
        Action::Cancel => {
            if matches!(app.run, RunState::Running | RunState::Paused) {
                app.overlay = Some(Overlay::Dialog(Dialog::Cancel));
            } else {
                app.notice = Some("no run to cancel".into());
            }
            vec![]
        }
        Action::NewRun => {
            if app.run.is_active() {
                app.notice = Some("a run is going: cancel it or wait for its end".into());
            } else {
                app.screen = Screen::Start;
                // Auto chooses again for the next run's sources and the library as it now is.
                if app.auto_mode {
                    app.mode_reason = None;
                }
            }
            vec![]
        }
        _ => vec![],
    }
}

/// Levels, restore and rebuild: one profile operation at a time.
fn on_profile_action(app: &mut App, action: Action) -> Vec<Effect> {
    if let Action::ToggleLevel(n) = action {
        return on_toggle_level(app, n);
    }
    if let Some(why) = busy(app) {
        app.notice = Some(why);
        return vec![];
    }
    match action {
        // The same confirmation on either screen: it says what is relaxed and what putting it back does.
        Action::Restore => {
            app.overlay = Some(Overlay::Dialog(Dialog::Restore { then_rebuild: false }));
            vec![]
        }
        Action::Rebuild => start_rebuild(app),
        Action::RestoreAndRebuild => {
            app.overlay = Some(Overlay::Dialog(Dialog::Restore { then_rebuild: true }));
            vec![]
        }
        _ => vec![],
    }
}

/// Whether `action` does something now; the footer shows only these, the help marks the others, and a key whose
/// action is not available answers with `why_not` instead.
pub fn available(app: &App, action: Action) -> bool {
    let idle = !app.run.is_active() && app.op.is_none();
    match action {
        Action::Start => {
            !app.run.is_active() && app.op.is_none() && (app.screen == Screen::Run || !app.sources.is_empty())
        }
        Action::PauseResume => matches!(app.run, RunState::Running | RunState::Paused),
        Action::Cancel => matches!(app.run, RunState::Running | RunState::Paused),
        Action::ToggleLevel(_) => idle && app.safety().is_some() && foreign_holder(app).is_none(),
        Action::Restore => idle && app.needs_restore() && foreign_holder(app).is_none(),
        Action::Rebuild => idle && app.indexes_missing() > 0 && foreign_holder(app).is_none(),
        Action::RestoreAndRebuild => {
            idle && (app.run.offers_restore() || (app.needs_restore() && app.indexes_missing() > 0))
                && foreign_holder(app).is_none()
        }
        Action::NewRun => !app.run.is_active() && app.run != RunState::Idle,
        Action::AddSample => app.sample_library.as_ref().is_some_and(|p| !app.sources.contains(p)),
        Action::RemoveSource => !app.sources.is_empty(),
        Action::NextList => !app.unfinished().is_empty(),
        Action::ModeAuto => !app.auto_mode,
        Action::ModeNormal => app.auto_mode || app.mode != Mode::Normal,
        Action::ModeFast => app.auto_mode || app.mode != Mode::Fast,
        Action::ModeLudicrous => app.auto_mode || app.mode != Mode::Ludicrous,
        Action::ResumeRun => idle && app.unfinished().get(app.run_selected).is_some(),
        Action::Move(m) => match app.context() {
            Ctx::Run => {
                let oldest = app.log.len().saturating_sub(1);
                match m {
                    Move::Up | Move::PageUp | Move::Top => app.log_scroll < oldest,
                    _ => app.log_scroll > 0,
                }
            }
            Ctx::Start if app.start_list == StartList::Runs => {
                let last = app.unfinished().len().saturating_sub(1);
                moved(app.run_selected, m, last, 5) != app.run_selected
            }
            Ctx::Help => moved(app.help_scroll, m, help_scroll_max(app), 10) != app.help_scroll,
            Ctx::Start => mode_target(app, m) != mode_index(app),
            Ctx::Browser | Ctx::Dupes => app.browser.can_move(m),
            _ => true,
        },
        Action::Edit(op) => match (&app.overlay, app.context()) {
            (Some(Overlay::Input(f)), Ctx::Input) => f.edit.would_change(op),
            _ => app.browser.can_edit(op),
        },
        Action::Browse(b) => app.browser.available(b),
        Action::Listen(l) => app.listen.available(l, &app.browser),
        // The backup dialog answers once it can say what a crash would cost.
        Action::Confirm => !matches!(&app.overlay, Some(Overlay::Dialog(Dialog::Backup { cost: None, .. }))),
        Action::NoBackup => matches!(
            &app.overlay,
            Some(Overlay::Dialog(Dialog::Backup { cost: Some(_), .. }))
        ),
        _ => true,
    }
}

/// What a key whose action is not available says.
pub fn why_not(app: &App, action: Action) -> String {
    let busy = || busy(app).unwrap_or_default();
    match action {
        Action::Start if app.sources.is_empty() => {
            "no source: press a to type a path or e for the sample library".into()
        }
        Action::Start => busy(),
        Action::PauseResume => "no run to pause".into(),
        Action::Cancel => "no run to cancel".into(),
        Action::ToggleLevel(_) if app.safety().is_none() => "waiting for the database state".into(),
        Action::Restore if !app.needs_restore() && app.safety().is_some() => {
            "nothing to restore: the database is SAFE".into()
        }
        Action::Rebuild if app.indexes_missing() == 0 && app.status().is_some() => {
            "nothing to rebuild: every secondary index is present".into()
        }
        Action::RestoreAndRebuild if app.op.is_none() && !app.run.is_active() => {
            "nothing to restore and rebuild: r restores, i rebuilds".into()
        }
        Action::Restore | Action::Rebuild if app.safety().is_none() => "waiting for the database state".into(),
        Action::ToggleLevel(_) | Action::Restore | Action::Rebuild | Action::RestoreAndRebuild => busy(),
        Action::NewRun => "a run is going: cancel it or wait for its end".into(),
        Action::AddSample if app.sample_library.is_none() => "no sample library found (assets/sample-library)".into(),
        Action::AddSample => "the sample library is already a source".into(),
        Action::RemoveSource => "no source to remove".into(),
        Action::NextList => "no unfinished run to choose".into(),
        Action::ResumeRun if app.unfinished().is_empty() => "no interrupted or failed run to resume".into(),
        Action::ResumeRun => busy(),
        Action::ModeAuto | Action::ModeNormal | Action::ModeFast | Action::ModeLudicrous => "already the mode".into(),
        Action::Move(_) => "already there".into(),
        Action::Edit(_) => "nothing to edit there".into(),
        Action::Browse(b) => app.browser.why_not(b),
        Action::Listen(l) => app.listen.why_not(l, &app.browser),
        Action::Confirm | Action::NoBackup
            if matches!(&app.overlay, Some(Overlay::Dialog(Dialog::Backup { cost: None, .. }))) =>
        {
            "still finding out what a crash would cost".into()
        }
        Action::NoBackup => "only before level 3, in its backup dialog".into(),
        _ => String::new(),
    }
}

fn set_mode(app: &mut App, mode: Mode) -> Vec<Effect> {
    app.mode = mode;
    app.auto_mode = false;
    app.mode_reason = None;
    vec![]
}

fn set_auto(app: &mut App) -> Vec<Effect> {
    app.auto_mode = true;
    app.mode_reason = None;
    vec![]
}

/// Another process's command that holds the library now (an import elsewhere, a transition), as the last poll saw
/// it: profile operations wait for it (the engine would refuse them).
fn foreign_holder(app: &App) -> Option<String> {
    let own = format!("(pid {})", std::process::id());
    app.db
        .polled
        .as_ref()?
        .safety
        .running
        .iter()
        .find(|r| !r.ends_with(&own))
        .cloned()
}

/// Why a profile operation cannot start now.
fn busy(app: &App) -> Option<String> {
    if app.run.is_active() {
        return Some("not while a run is going: the server may restart under it; cancel or wait".into());
    }
    if let Some(h) = foreign_holder(app) {
        return Some(format!(
            "not while {h} holds the library: the server may restart under it; wait until it ends"
        ));
    }
    app.op.map(|op| format!("busy: {}", op.label()))
}

pub fn quit_reasons(app: &App) -> Vec<String> {
    let mut out = Vec::new();
    if app.run.is_active() {
        out.push(
            "an import is running: it will be cancelled (flushed, marked interrupted; the next run resumes)".into(),
        );
    }
    if let Some(op) = app.op {
        out.push(format!("{} is under way and stops half done", op.label()));
    }
    if let Some(st) = app.safety() {
        if st.is_unsafe() {
            out.push("the database is left UNSAFE: `midi-tui restore-safety` puts safety back".into());
        } else if !st.is_safe() {
            out.push("the database is left RELAXED (indexes dropped or settings relaxed)".into());
        }
    }
    out
}

fn on_start(app: &mut App) -> Vec<Effect> {
    if app.run.is_active() {
        app.notice = Some("a run is already going".into());
        return vec![];
    }
    if app.op.is_some() {
        app.notice = busy(app);
        return vec![];
    }
    if app.sources.is_empty() {
        app.notice = Some("no source: press a to type a path or e for the sample library".into());
        return vec![];
    }
    if app.auto_mode {
        if !app.choosing_mode {
            app.choosing_mode = true;
            app.notice = Some("auto: sizing the sources and the library to choose the mode".into());
            return vec![Effect::ChooseMode(app.sources.clone())];
        }
        app.notice = Some("auto is still choosing the mode".into());
        return vec![];
    }
    confirm_then_begin(app)
}

/// Auto's answer: the chosen mode goes on as if picked by hand (its dialogs are where its risks are accepted).
fn on_mode_chosen(app: &mut App, chosen: Result<(Mode, String), String>) -> Vec<Effect> {
    let asked = std::mem::take(&mut app.choosing_mode);
    // A mode picked by hand meanwhile, or a run already going, wins over a late answer.
    if !asked || !app.auto_mode || app.run.is_active() {
        return vec![];
    }
    match chosen {
        Ok((mode, reason)) => {
            app.mode = mode;
            app.info(format!("mode auto chose {}: {reason}", mode.label()));
            app.mode_reason = Some(reason);
            app.notice = Some(format!("auto chose {}", mode.label()));
            confirm_then_begin(app)
        }
        Err(e) => {
            app.warn(format!("mode auto could not choose: {e}"));
            app.notice = Some("auto could not choose the mode: pick one with n, f or l".into());
            vec![]
        }
    }
}

/// The mode's risk dialogs, if any, then the run.
fn confirm_then_begin(app: &mut App) -> Vec<Effect> {
    let needed: Vec<Confirmation> = app
        .mode
        .levels()
        .iter()
        .flat_map(|l| l.confirmations().iter().copied())
        .collect();
    if needed.is_empty() {
        begin_run(app, Vec::new(), None)
    } else {
        app.overlay = Some(Overlay::Dialog(Dialog::Risk {
            needed,
            index: 0,
            then: Then::StartRun,
        }));
        vec![]
    }
}

/// Start the run: apply the mode's levels one by one, then the import.
fn begin_run(app: &mut App, confirmed: Vec<Confirmation>, backup: Option<bool>) -> Vec<Effect> {
    app.screen = Screen::Run;
    app.summary = None;
    app.rebuild = None;
    app.live.bottleneck = None;
    app.live.eta = None;
    app.live.eta_smoother = metrics::EtaSmoother::default();
    app.live.rates = None;
    app.live.prev_sample = None;
    app.live.snapshot = Snapshot::default();
    app.live.files_per_s.clear();
    app.live.mb_per_s.clear();
    app.live.phase_history.clear();
    app.run = if app.mode.levels().is_empty() {
        RunState::Running
    } else {
        RunState::Preparing
    };
    app.info(format!(
        "{} run: {}",
        app.mode_in_force(),
        human::counted(app.sources.len(), "source")
    ));
    let extra = app.extra_levels();
    if !extra.is_empty() {
        let names: Vec<String> = extra
            .iter()
            .map(|l| format!("level {} ({})", l.number(), l.label()))
            .collect();
        app.warn(format!(
            "the server still carries {} from an earlier run: this run imports with it in force; {} restores \
             safety first",
            names.join(", "),
            keymap::key_label(Ctx::Run, Action::Restore)
        ));
    }
    vec![
        Effect::StartImport {
            sources: app.sources.clone(),
            mode: app.mode,
            confirmed,
            backup,
        },
        Effect::Poll,
    ]
}

/// The plan's steps as they happen: a level applied, the import under way, a notice to read.
fn on_plan(app: &mut App, ev: PlanEvent) -> Vec<Effect> {
    match ev {
        PlanEvent::Notice(text) => app.warn(text),
        PlanEvent::Info(text) => app.info(text),
        PlanEvent::StepStarted(StepKind::Apply(level)) => app.op = Some(Op::Apply(level)),
        PlanEvent::StepStarted(StepKind::Restore) => app.op = Some(Op::Restore { then_rebuild: false }),
        PlanEvent::StepStarted(StepKind::Rebuild) => app.op = Some(Op::Rebuild),
        PlanEvent::StepStarted(StepKind::Backup) => app.info("backing up the library before level 3..."),
        PlanEvent::StepFinished(step) => {
            app.op = None;
            // The step's own lines say what happened (a restore may have been skipped); the title only its time.
            match step.kind {
                StepKind::Apply(level) => app.info(format!("level {} ({}) applied", level.number(), level.label())),
                _ if !step.lines.is_empty() => app.info(format!("{} ({:.1} s):", step.name, step.seconds)),
                _ => app.info(format!("{}: done in {:.1} s", step.name, step.seconds)),
            }
            for l in step.lines {
                app.info(format!("  {l}"));
            }
            return vec![Effect::Poll];
        }
        PlanEvent::ImportStarted => {
            app.op = None;
            if app.run == RunState::Preparing {
                app.run = RunState::Running;
            }
        }
        PlanEvent::Import(ev) => on_engine(app, ev),
        PlanEvent::Rebuild(ev) => on_rebuild_event(app, ev),
    }
    vec![]
}

fn on_confirm(app: &mut App) -> Vec<Effect> {
    let Some(Overlay::Dialog(d)) = app.overlay.take() else {
        return vec![];
    };
    match d {
        Dialog::Risk { needed, index, then } => {
            if index + 1 < needed.len() {
                app.overlay = Some(Overlay::Dialog(Dialog::Risk {
                    needed,
                    index: index + 1,
                    then,
                }));
                return vec![];
            }
            let level3 = match then {
                Then::StartRun => app.mode.levels().contains(&Level::Ludicrous),
                Then::ApplyLevel(level) => level == Level::Ludicrous,
            };
            if level3 {
                // The library may hold files a crash would cost: say what, and offer the backup first.
                app.overlay = Some(Overlay::Dialog(Dialog::Backup {
                    cost: None,
                    confirmed: needed,
                    then,
                }));
                return vec![Effect::CrashCost];
            }
            go_on(app, needed, then, None)
        }
        Dialog::Backup { cost: None, .. } => {
            app.overlay = Some(Overlay::Dialog(d));
            vec![]
        }
        Dialog::Backup { confirmed, then, .. } => go_on(app, confirmed, then, Some(true)),
        Dialog::DropIndexes => {
            app.op = Some(Op::Apply(Level::DropIndexes));
            vec![Effect::ApplyLevel {
                level: Level::DropIndexes,
                confirmed: vec![],
                backup: false,
            }]
        }
        Dialog::Restore { then_rebuild } => {
            if let Some(why) = busy(app) {
                app.notice = Some(why);
                return vec![];
            }
            app.op = Some(Op::Restore { then_rebuild });
            vec![Effect::RestoreSafety]
        }
        Dialog::Cancel => {
            if matches!(app.run, RunState::Running | RunState::Paused) {
                app.run = RunState::Cancelling { then_quit: false };
                app.info("cancelling: flushing what is in flight");
                vec![Effect::CancelImport]
            } else {
                vec![]
            }
        }
        Dialog::Quit => {
            if app.run.is_active() {
                let was_cancelling = matches!(app.run, RunState::Cancelling { .. });
                app.run = RunState::Cancelling { then_quit: true };
                app.info("quitting: cancelling the run first");
                if was_cancelling {
                    vec![]
                } else {
                    vec![Effect::CancelImport]
                }
            } else {
                app.should_quit = true;
                vec![Effect::Quit]
            }
        }
    }
}

fn on_toggle_level(app: &mut App, n: u8) -> Vec<Effect> {
    let Some(level) = Level::ALL.into_iter().find(|l| l.number() == n) else {
        return vec![];
    };
    if let Some(why) = busy(app) {
        app.notice = Some(why);
        return vec![];
    }
    let Some(st) = app.safety() else {
        app.notice = Some("waiting for the database state".into());
        return vec![];
    };
    if st.levels_applied[(n - 1) as usize] {
        if level == Level::DropIndexes {
            // Turning level 2 off is the rebuild; this way it shows per-index progress.
            return start_rebuild(app);
        }
        app.op = Some(Op::Revert(level));
        return vec![Effect::RevertLevel(level)];
    }
    let needed = level.confirmations().to_vec();
    if !needed.is_empty() {
        app.overlay = Some(Overlay::Dialog(Dialog::Risk {
            needed,
            index: 0,
            then: Then::ApplyLevel(level),
        }));
        return vec![];
    }
    if level == Level::DropIndexes {
        app.overlay = Some(Overlay::Dialog(Dialog::DropIndexes));
        return vec![];
    }
    app.op = Some(Op::Apply(level));
    vec![Effect::ApplyLevel {
        level,
        confirmed: vec![],
        backup: false,
    }]
}

fn start_rebuild(app: &mut App) -> Vec<Effect> {
    app.op = Some(Op::Rebuild);
    let todo = app.status().map(|s| s.secondary_indexes.missing.len());
    app.rebuild = Some(RebuildView {
        todo,
        ..Default::default()
    });
    app.info("rebuilding the secondary indexes");
    vec![Effect::RebuildIndexes]
}

fn on_sample(app: &mut App, s: Option<Snapshot>) -> Vec<Effect> {
    app.live.samples += 1;
    if let Some(now) = s {
        if let Some(prev) = app.live.prev_sample {
            let dt = now.elapsed.saturating_sub(prev.elapsed).as_secs_f64();
            if dt > 0.0 {
                let phases = metrics::phase_rates(&prev, &now);
                // The graph's series: each second's own rate.
                app.live
                    .files_per_s
                    .push(now.counts.done().saturating_sub(prev.counts.done()) as f64 / dt);
                app.live
                    .mb_per_s
                    .push(now.counts.bytes.saturating_sub(prev.counts.bytes) as f64 / dt / 1e6);
                app.live.phase_history.push(phases);
                // One set of busy figures: the panel's bars and the verdict read the same mean of the last samples.
                let figures = metrics::Figures::of(&now);
                app.live.rates = Some(Rates {
                    phases: average(&app.live.phase_history),
                    files_per_s: figures.files_per_s,
                    mb_per_s: figures.mb_per_s,
                });
                // Members are counted as they are seen: most of the window's items from archives means inflating.
                let seen = now.counts.seen.saturating_sub(prev.counts.seen);
                app.live.inflating = now.members.saturating_sub(prev.members) * 2 > seen;
                let shown = app.live.rates.as_ref().map(|r| r.phases).unwrap_or(phases);
                app.live.bottleneck = bottleneck::choose(&shown, &app.situation());
                let remaining = now.scan_done.then(|| now.discovered.saturating_sub(now.counts.done()));
                let paused = app.run == RunState::Paused;
                let finished = now.counts.done().saturating_sub(prev.counts.done());
                app.live.eta = app.live.eta_smoother.sample(dt, finished, remaining, paused);
            }
        }
        app.live.prev_sample = Some(now);
        app.live.snapshot = now;
    }
    if !app.db.poll_inflight && (app.live.samples % POLL_EVERY == 1 || app.db.polled.is_none()) {
        app.db.poll_inflight = true;
        return vec![Effect::Poll];
    }
    vec![]
}

/// After the run, the panel and the verdict show the whole run: its busy shares, its rates (the final line's).
fn show_whole_run(app: &mut App, s: &RunSummary) {
    let phases = match s.final_snapshot.as_deref() {
        Some(snap) => {
            app.live.snapshot = *snap;
            Some(metrics::run_phase_rates(snap))
        }
        None => app.live.rates.as_ref().map(|r| r.phases),
    };
    if let Some(phases) = phases {
        app.live.rates = Some(Rates {
            phases,
            files_per_s: s.files_per_s,
            mb_per_s: s.mb_per_s,
        });
        app.live.bottleneck = bottleneck::choose(&phases, &app.situation());
    }
    app.live.eta = None;
}

/// Per-phase mean of the rates held.
fn average(history: &Ring<[PhaseRate; 6]>) -> [PhaseRate; 6] {
    let n = history.len().max(1) as f64;
    let mut i = 0;
    Phase::ALL.map(|phase| {
        let (mut busy, mut items, mut bytes, mut fill) = (0.0, 0.0, 0.0, 0.0);
        for r in history.iter() {
            busy += r[i].busy;
            items += r[i].items_per_s;
            bytes += r[i].bytes_per_s;
            fill += r[i].queue_fill;
        }
        i += 1;
        PhaseRate {
            phase,
            busy: busy / n,
            items_per_s: items / n,
            bytes_per_s: bytes / n,
            queue_fill: fill / n,
        }
    })
}

fn on_engine(app: &mut App, ev: EngineEvent) {
    match ev {
        EngineEvent::Log(text) => app.info(text),
        EngineEvent::Error {
            location,
            kind,
            message,
        } => app.error(format!("{kind}: {location}: {message}")),
        EngineEvent::Finished(summary) => app.summary = Some(*summary),
    }
}

fn on_import_ended(app: &mut App, r: Result<RunSummary, String>) -> Vec<Effect> {
    app.op = None;
    // A cancel dialog over a run that has ended has nothing left to cancel: it closes and says why. The quit
    // dialog reads its reasons from the state, so it now says what applies after the run.
    if matches!(app.overlay, Some(Overlay::Dialog(Dialog::Cancel))) {
        app.overlay = None;
        let how = match &r {
            Ok(s) => s.status.to_string(),
            Err(_) => "failed".into(),
        };
        app.notice = Some(format!(
            "the run ended ({how}) before it was cancelled: nothing to cancel"
        ));
    }
    let then_quit = matches!(app.run, RunState::Cancelling { then_quit: true });
    let offer_restore = app.mode != Mode::Normal;
    match r {
        Ok(s) => {
            app.info(format!("run {}: {}", s.status, s.figures_text()));
            app.run = RunState::Finished { offer_restore };
            show_whole_run(app, &s);
            app.summary = Some(s);
        }
        Err(e) => {
            app.error(format!("the import failed: {e}"));
            app.run = RunState::Failed {
                error: e,
                offer_restore,
            };
        }
    }
    if then_quit {
        app.should_quit = true;
        return vec![Effect::Quit];
    }
    vec![Effect::Poll]
}

fn on_polled(app: &mut App, p: PollOutcome) {
    app.db.poll_inflight = false;
    match p {
        PollOutcome::Ok(p) => {
            let was_unsafe = app.is_unsafe();
            app.db.server = ServerState::Up {
                latency_ms: p.latency_ms,
            };
            if p.safety.is_unsafe() && was_unsafe != Some(true) {
                app.warn(format!(
                    "the database is UNSAFE: {}",
                    p.safety.unsafe_reasons.join("; ")
                ));
            }
            if let Some(lost) = &p.safety.data_lost
                && app.safety().and_then(|s| s.data_lost.as_ref()) != Some(lost)
            {
                app.error(format!("DATA LOST: {lost}"));
            }
            app.db.polled = Some(*p);
            // A restore dialog whose work someone else did meanwhile (another terminal's `restore-safety`) closes.
            if let Some(Overlay::Dialog(Dialog::Restore { then_rebuild })) = app.overlay {
                let left = app.needs_restore() || (then_rebuild && app.indexes_missing() > 0);
                if !left {
                    app.overlay = None;
                    app.notice = Some("safety was restored meanwhile: nothing left to restore".into());
                }
            }
            app.run_selected = app.run_selected.min(app.unfinished().len().saturating_sub(1));
            if app.unfinished().is_empty() {
                app.start_list = StartList::Modes;
            }
            // The remedy names the next level that helps: follow the levels as they change.
            let situation = app.situation();
            if let Some(b) = app.live.bottleneck.as_mut() {
                b.remedy = bottleneck::remedy(b.phase, &situation);
            }
        }
        PollOutcome::TimedOut { seconds } => app.db.server = ServerState::NotAnswering { seconds },
        PollOutcome::Failed(error) => app.db.server = ServerState::Down { error },
    }
}

/// The confirmed dialogs' action: the run, or the level (with the backup choice before level 3).
fn go_on(app: &mut App, confirmed: Vec<Confirmation>, then: Then, backup: Option<bool>) -> Vec<Effect> {
    match then {
        Then::StartRun => begin_run(app, confirmed, backup),
        Then::ApplyLevel(level) => {
            app.op = Some(Op::Apply(level));
            vec![Effect::ApplyLevel {
                level,
                confirmed,
                backup: backup == Some(true),
            }]
        }
    }
}

/// The crash cost arrived: shown in the backup dialog; an empty library has nothing to back up, so it goes on.
fn on_crash_cost(app: &mut App, cost: Result<CrashCost, String>) -> Vec<Effect> {
    let Some(Overlay::Dialog(Dialog::Backup {
        cost: slot,
        confirmed,
        then,
    })) = &mut app.overlay
    else {
        return vec![];
    };
    if cost.as_ref().is_ok_and(|c| c.library_files == 0) {
        let (confirmed, then) = (std::mem::take(confirmed), *then);
        app.overlay = None;
        return go_on(app, confirmed, then, None);
    }
    *slot = Some(cost);
    vec![]
}

fn on_applied(app: &mut App, level: Level, result: Result<ApplyReport, String>) -> Vec<Effect> {
    match result {
        Ok(r) => {
            app.info(format!("level {} ({}) applied", level.number(), level.label()));
            for l in r.lines {
                app.info(format!("  {l}"));
            }
            if !r.pending_restart.is_empty() {
                app.warn(format!(
                    "pending a server restart (NOT active yet): {}",
                    r.pending_restart.join(", ")
                ));
            }
            app.op = None;
            vec![Effect::Poll]
        }
        Err(e) => {
            app.op = None;
            app.error(format!("level {} ({}) failed: {e}", level.number(), level.label()));
            vec![Effect::Poll]
        }
    }
}

fn log_restore(app: &mut App, what: &str, r: &RestoreReport) {
    for l in &r.lines {
        app.info(format!("  {l}"));
    }
    for c in r.checks.iter().filter(|c| !c.ok) {
        app.error(format!(
            "NOT restored: {} is {} (expected {})",
            c.what, c.actual, c.expected
        ));
    }
    if !r.pending_restart.is_empty() {
        app.warn(format!("pending a server restart: {}", r.pending_restart.join(", ")));
    }
    for l in &r.still_relaxed {
        app.warn(format!("still relaxed: {l}"));
    }
    // The outcome also in the footer: the start screen has no log panel.
    let outcome = if r.ok {
        format!("{what}: {} checks passed", r.checks.len())
    } else {
        format!("{what}: some checks failed (see the log)")
    };
    if r.ok {
        app.info(outcome.clone());
    } else {
        app.error(outcome.clone());
    }
    app.notice = Some(outcome);
}

fn on_restored(app: &mut App, result: Result<RestoreReport, String>) -> Vec<Effect> {
    let then_rebuild = matches!(app.op, Some(Op::Restore { then_rebuild: true }));
    app.op = None;
    match result {
        Ok(r) => {
            // Safety is restored only when nothing stays relaxed: dropped indexes wait for their rebuild.
            let what = if r.still_relaxed.is_empty() {
                "safety restored"
            } else {
                "settings and tables restored"
            };
            log_restore(app, what, &r);
            let mut out = vec![Effect::Poll];
            if then_rebuild {
                out.extend(start_rebuild(app));
            } else {
                app.run.restore_done();
            }
            out
        }
        Err(e) => {
            app.notice = Some(format!("restore failed: {e}"));
            app.error(format!("restore failed: {e}"));
            vec![Effect::Poll]
        }
    }
}

fn on_rebuild_event(app: &mut App, ev: RebuildEvent) {
    let view = app.rebuild.get_or_insert_with(RebuildView::default);
    match ev {
        RebuildEvent::Started { name, table } => view.entries.push(IndexProgress {
            name,
            table,
            state: IndexState::Building,
        }),
        RebuildEvent::Finished { name, seconds } => {
            if let Some(e) = view.entries.iter_mut().find(|e| e.name == name) {
                e.state = IndexState::Built(seconds);
            }
        }
        RebuildEvent::Failed { name, error } => {
            if let Some(e) = view.entries.iter_mut().find(|e| e.name == name) {
                e.state = IndexState::Failed(error.clone());
            }
            app.error(format!("index {name}: {error}"));
        }
        RebuildEvent::Analyzing => view.analyzing = true,
        RebuildEvent::Done(r) => {
            view.analyzing = false;
            view.report = Some(r);
            app.run.restore_done();
        }
    }
}

#[cfg(test)]
mod tests;
