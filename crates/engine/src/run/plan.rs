//! One import end to end for both front ends: the crash check, the mode's levels, the run, restore and rebuild.
//!
//! A front end builds an [`ImportPlan`], starts it, and renders what comes back: counters through `metrics`, pause
//! and cancel through `control`, and one stream of typed [`PlanEvent`]s; the [`ImportReport`] ends it. What the
//! console can do the command line can, because both run this and nothing else.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::database::DbError;
use crate::database::lock::LockMode;
use crate::database::shared::{self as shared_db, Membership};
use crate::metrics::RunMetrics;
use crate::pipeline::{
    self, Control, EngineEvent, ImportHandle, ImportOptions, Limit, RunStatus, RunSummary, SharedRun,
};
use crate::profile::{Confirmation, Level, Mode, RebuildEvent};
use crate::run::session::Engine;

/// How long a joining importer waits for a server that restarts for the run's profile.
const RESTART_GRACE: Duration = Duration::from_secs(90);

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub sources: Vec<PathBuf>,
    pub mode: Mode,
    /// Every phase but the database write; needs no database.
    pub dry_run: bool,
    /// Leave the mode's levels applied after the run (the console offers restore and rebuild on one key).
    pub keep_profile: bool,
    /// The risks the user accepted (fsync off, UNLOGGED tables).
    pub confirmed: Vec<Confirmation>,
    /// Benchmarks: run part of the pipeline only.
    pub limit: Limit,
    /// Locations per write transaction (tests make it small to interleave importers).
    pub batch_rows: Option<usize>,
    /// The import log; without it, a new file under the data directory.
    pub log_path: Option<PathBuf>,
    /// Parallel index builds after the run.
    pub rebuild_jobs: usize,
    /// Share the run with the other importers given the same sources and mode at the same time.
    pub share: bool,
    /// How long a shared run's claim holds without renewal (tests make it short).
    pub lease: Duration,
    /// Plain files per unit of a shared run (importers must agree on it: it is part of the run key).
    pub unit_files: usize,
    /// Before level 3 on a library that holds files: back it up (`Some(true)`), or accept that files only missing
    /// sources hold would be lost for good in a crash (`Some(false)`); `None` refuses when such files exist.
    pub backup: Option<bool>,
}

impl ImportPlan {
    pub fn new(sources: Vec<PathBuf>, mode: Mode) -> Self {
        Self {
            sources,
            mode,
            dry_run: false,
            keep_profile: false,
            confirmed: Vec::new(),
            limit: Limit::Full,
            batch_rows: None,
            log_path: None,
            rebuild_jobs: crate::machine::cores(),
            share: true,
            lease: SharedRun::DEFAULT_LEASE,
            unit_files: SharedRun::DEFAULT_UNIT_FILES,
            backup: None,
        }
    }

    /// Whether this plan takes part in a shared run: a real import of the whole pipeline.
    fn shares(&self) -> bool {
        self.share && !self.dry_run && self.limit == Limit::Full
    }

    /// What importers must agree on to share a run: the canonical sources (a symlinked or relative spelling of the
    /// same folder is the same source), the mode and the unit size.
    pub fn run_key(&self) -> String {
        let mut sources: Vec<Vec<u8>> = self
            .sources
            .iter()
            .map(|p| {
                let c = std::fs::canonicalize(p)
                    .or_else(|_| std::path::absolute(p))
                    .unwrap_or_else(|_| p.clone());
                c.into_os_string().into_encoded_bytes()
            })
            .collect();
        sources.sort();
        sources.dedup();
        let mut h = blake3::Hasher::new();
        h.update(self.mode.label().as_bytes());
        h.update(&(self.unit_files as u64).to_le_bytes());
        for s in &sources {
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s);
        }
        h.finalize().to_hex().to_string()
    }

    /// The confirmations the mode's levels need and the plan does not carry yet.
    pub fn missing_confirmations(&self) -> Vec<Confirmation> {
        if self.dry_run {
            return Vec::new();
        }
        let mut missing: Vec<Confirmation> = Vec::new();
        for c in self
            .mode
            .levels()
            .iter()
            .flat_map(|l| l.confirmations().iter().copied())
        {
            if !self.confirmed.contains(&c) && !missing.contains(&c) {
                missing.push(c);
            }
        }
        missing
    }

    fn import_options(&self, log_path: PathBuf) -> ImportOptions {
        let mut opts = ImportOptions::new(
            self.sources.clone(),
            if self.dry_run {
                pipeline::RunMode::DryRun
            } else {
                self.mode.into()
            },
        );
        opts.dry_run = self.dry_run;
        opts.async_commit = self.mode != Mode::Normal;
        // Only where the restore follows as part of the mode (it proves what the writers skipped).
        opts.defer_checks = self.mode != Mode::Normal;
        opts.limit = self.limit;
        if let Some(n) = self.batch_rows {
            opts.batch_rows = n.max(1);
        }
        opts.log_path = Some(log_path);
        opts
    }
}

/// A profile step around the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Backup,
    Apply(Level),
    Restore,
    Rebuild,
}

impl StepKind {
    pub fn label(&self) -> String {
        match self {
            StepKind::Backup => "back up the library".into(),
            StepKind::Apply(l) => format!("apply level {} ({})", l.number(), l.label()),
            StepKind::Restore => "restore safety".into(),
            StepKind::Rebuild => "rebuild indexes".into(),
        }
    }
}

/// A finished profile step, as `import --json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    #[serde(skip)]
    pub kind: StepKind,
    pub name: String,
    pub seconds: f64,
    pub lines: Vec<String>,
}

/// What a running plan tells its front end, in order.
#[derive(Debug, Clone)]
pub enum PlanEvent {
    /// Something the user should read before the run: lost rows being repaired, a database left unsafe.
    Notice(String),
    /// What happened, worth a line and no warning: the shared run this importer started or joined.
    Info(String),
    StepStarted(StepKind),
    StepFinished(StepReport),
    /// The pipeline runs: `metrics` move from now on.
    ImportStarted,
    /// A log line or a failed file of the pipeline.
    Import(EngineEvent),
    Rebuild(RebuildEvent),
}

/// The end of a plan: the run, each profile step, the wall time, and why it failed if it did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    #[serde(flatten)]
    pub run: RunSummary,
    pub steps: Vec<StepReport>,
    /// Wall time including the profile steps.
    pub wall_seconds: f64,
    /// Why the plan failed (the run, or a profile step around it); `status` is then `failed`.
    pub error: Option<String>,
    /// Why this mode: given with `--mode`, or chosen by `--mode auto` from the estimates.
    pub mode_reason: Option<String>,
    /// `--mode auto`'s estimate of each mode's total wall seconds for this import (every mode, whichever ran), so
    /// that its estimates can be compared with the measured wall time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_estimates: Option<std::collections::BTreeMap<String, f64>>,
    /// This process's peak resident memory in MB (`VmHWM`: since its own start, not its parent's, which the
    /// rusage a parent reads after `fork`/`exec` would include).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mb: Option<f64>,
    /// Where the command's own time went, step by step from its start (`[name, seconds]`, in order; see
    /// [`crate::timeline`]): what a small import's fixed time is made of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixed_seconds: Vec<(String, f64)>,
}

/// A plan that could not even produce a run (nothing was imported).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Failed(String),
    #[error("the plan's task stopped unexpectedly: {0}")]
    Task(String),
}

/// A started plan.
pub struct PlanHandle {
    pub metrics: Arc<RunMetrics>,
    pub control: Arc<Control>,
    pub events: UnboundedReceiver<PlanEvent>,
    task: tokio::task::JoinHandle<Result<ImportReport, PlanError>>,
}

impl PlanHandle {
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Wait for the end; the report says `failed` (with `error`) when a run happened and failed.
    pub async fn join(self) -> Result<ImportReport, PlanError> {
        self.task.await.map_err(|e| PlanError::Task(e.to_string()))?
    }

    /// Split into the events and the end, for front ends that drain one and await the other.
    pub fn into_parts(
        self,
    ) -> (
        UnboundedReceiver<PlanEvent>,
        tokio::task::JoinHandle<Result<ImportReport, PlanError>>,
    ) {
        (self.events, self.task)
    }
}

/// Start a plan on the current runtime. `engine` may be `None` only for a dry run.
pub fn start(engine: Option<Engine>, plan: ImportPlan) -> PlanHandle {
    let metrics = Arc::new(RunMetrics::default());
    let control = Arc::new(Control::default());
    let (tx, events) = unbounded_channel();
    let runner = Runner {
        tx,
        metrics: metrics.clone(),
        control: control.clone(),
        steps: Vec::new(),
        wall: Instant::now(),
    };
    let task = tokio::spawn(runner.execute(engine, plan));
    PlanHandle {
        metrics,
        control,
        events,
        task,
    }
}

impl Engine {
    /// Run `plan` end to end on this database.
    pub fn start_plan(&self, plan: ImportPlan) -> PlanHandle {
        start(Some(self.clone()), plan)
    }
}

struct Runner {
    tx: UnboundedSender<PlanEvent>,
    metrics: Arc<RunMetrics>,
    control: Arc<Control>,
    steps: Vec<StepReport>,
    wall: Instant,
}

impl Runner {
    fn send(&self, ev: PlanEvent) {
        // A front end that stopped listening still gets the report from `join`.
        let _ = self.tx.send(ev);
    }

    async fn execute(mut self, engine: Option<Engine>, plan: ImportPlan) -> Result<ImportReport, PlanError> {
        let missing = plan.missing_confirmations();
        if !missing.is_empty() {
            let text: Vec<&str> = missing.iter().map(|c| c.statement()).collect();
            return Err(PlanError::Failed(format!("confirmation needed: {}", text.join(" "))));
        }
        let engine = match engine {
            Some(e) if !plan.dry_run => e,
            _ => {
                let log = plan.log_path.clone().unwrap_or_else(crate::run::session::temp_run_log);
                let handle = self.start_pipeline(None, plan.import_options(log));
                let (summary, error) = self.follow(handle).await;
                return self.report(summary, error);
            }
        };
        self.notices(&engine).await;
        crate::timeline::mark("integrity check");
        let levels = plan.mode.levels();
        let member = match plan.shares() {
            true => Some(self.join(&engine, &plan).await.map_err(PlanError::Failed)?),
            false => None,
        };
        crate::timeline::mark("shared run bookkeeping");
        let what = match member {
            Some(m) => format!("import, shared run {} ({})", m.run_id, plan.mode.label()),
            None => format!("import ({})", plan.mode.label()),
        };
        // The library: alone while this import applies a profile (its settings may restart the server), shared with
        // other imports while it runs. A joining importer takes no turn until the run is open.
        let applies = !levels.is_empty() && member.is_none_or(|m| m.creator);
        let mut turn: Option<crate::run::turns::Turn> = None;
        let mut error = None;
        if applies {
            match self.turn(&engine, &what, LockMode::Exclusive, None).await {
                Ok(t) => turn = Some(t),
                Err(e) => error = Some(e),
            }
        }
        if error.is_none() && applies && levels.contains(&Level::Ludicrous) {
            error = self.protect(&engine, plan.backup).await.err();
        }
        if error.is_none() {
            error = match member {
                Some(m) if !m.creator => self.wait_ready(&engine, m).await.err(),
                _ => self.apply_levels(&engine, levels, &plan.confirmed).await.err(),
            };
        }
        crate::timeline::mark("profile");
        if error.is_none() {
            match self.turn(&engine, &what, LockMode::Shared, None).await {
                Ok(t) => turn = Some(t),
                Err(e) => error = Some(e),
            }
        }
        crate::timeline::mark("library turn");
        let mut summary: Option<RunSummary> = None;
        if error.is_none() {
            (summary, error) = self.run_pipeline(&engine, &plan, member).await;
        }
        // The run's profile is put back once: by the importer that runs alone, or the last one out of a shared run.
        let restorer = match member {
            // A gone server would only make each call wait for the pool's timeout; the restore step below then
            // says what to run once the server is back.
            Some(_) if error.is_some() && !engine.reachable().await => true,
            Some(m) => {
                let taken = summary
                    .as_ref()
                    .and_then(|s| s.shared_run.as_ref())
                    .map_or(0, |r| r.units_taken);
                self.leave(&engine, m, taken, !levels.is_empty(), plan.lease).await
            }
            None => true,
        };
        crate::timeline::mark("shared run bookkeeping");
        let mut restores = restorer && !levels.is_empty() && !plan.keep_profile;
        if !restores {
            // Done with the library: a restorer of this run waits for this turn to end.
            drop(turn.take());
        } else if engine.reachable().await {
            let patience = plan.lease * 3 + Duration::from_secs(30);
            match self.restore_turn(&engine, &what, patience).await {
                Ok(t) => turn = Some(t),
                Err(e) => {
                    restores = false;
                    error.get_or_insert(e);
                }
            }
        }
        // What happened, not what was meant: `restored` only when the restore ran and verified every change.
        let mut restored = false;
        if restores {
            match self.put_back(&engine, levels, plan.rebuild_jobs, error.is_some()).await {
                Ok(done) => restored = done,
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        drop(turn);
        if !restorer && !levels.is_empty() {
            self.steps.push(StepReport {
                kind: StepKind::Restore,
                name: StepKind::Restore.label(),
                seconds: 0.0,
                lines: vec!["left to the shared run's last importer".into()],
            });
        }
        if let Some(r) = summary.as_mut().and_then(|s| s.shared_run.as_mut()) {
            r.restored = restored;
        }
        crate::timeline::mark("profile");
        self.report(summary, error)
    }

    /// The import itself (this importer's share of a shared run): the pipeline started and followed to its end.
    async fn run_pipeline(
        &self,
        engine: &Engine,
        plan: &ImportPlan,
        member: Option<Membership>,
    ) -> (Option<RunSummary>, Option<String>) {
        if let Some(m) = member.filter(|m| m.creator)
            && let Err(e) = engine.bounded(shared_db::open(&engine.pool, m.run_id)).await
        {
            self.send(PlanEvent::Notice(format!("could not open the shared run: {e}")));
        }
        crate::timeline::mark("shared run bookkeeping");
        let log = plan.log_path.clone().unwrap_or_else(|| engine.run_log_path());
        let mut opts = plan.import_options(log);
        opts.shared = member.map(|membership| SharedRun {
            membership,
            lease: plan.lease,
            unit_files: plan.unit_files.max(1),
        });
        let handle = self.start_pipeline(Some(engine), opts);
        self.follow(handle).await
    }

    /// Alone again to put the profile back (a restart-only setting restarts the server): the run's other importers
    /// have left; an unrelated import still running is waited for up to `patience`, then the profile is left applied
    /// (a step says so) and the error says what to run.
    async fn restore_turn(
        &mut self,
        engine: &Engine,
        what: &str,
        patience: Duration,
    ) -> Result<crate::run::turns::Turn, String> {
        self.turn(engine, what, LockMode::Exclusive, Some(patience))
            .await
            .map_err(|e| {
                self.steps.push(StepReport {
                    kind: StepKind::Restore,
                    name: StepKind::Restore.label(),
                    seconds: 0.0,
                    lines: vec![format!(
                        "left applied: {e}; run `midi-tui restore-safety` once it is done"
                    )],
                });
                format!("restore safety: {e}")
            })
    }

    /// Join the shared run of these sources (or start it), and say so.
    async fn join(&self, engine: &Engine, plan: &ImportPlan) -> Result<Membership, String> {
        let sources: Vec<String> = plan
            .sources
            .iter()
            .map(|p| crate::source::encode_os_path(&std::path::absolute(p).unwrap_or_else(|_| p.clone())))
            .collect();
        let lease_ms = plan.lease.as_millis().max(1) as i64;
        let m = engine
            .bounded(shared_db::join(
                &engine.pool,
                &plan.run_key(),
                &sources,
                plan.mode.label(),
                lease_ms,
            ))
            .await
            .map_err(|e| format!("cannot join a shared run: {}", chain_text(&e)))?;
        self.send(PlanEvent::Info(match m.creator {
            true => format!("started shared run {}", m.run_id),
            false => format!("joined shared run {}", m.run_id),
        }));
        Ok(m)
    }

    /// A joining importer waits until the run's first importer has applied the mode's levels (or is gone). Those
    /// levels may restart the server: a lost connection is asked again until the server is back (up to
    /// `RESTART_GRACE` without one).
    async fn wait_ready(&self, engine: &Engine, m: Membership) -> Result<(), String> {
        let mut lost_since: Option<Instant> = None;
        let mut said = false;
        loop {
            if self.control.is_cancelled() {
                return Err("cancelled while waiting for the shared run to open".into());
            }
            let _ = engine
                .bounded(shared_db::reap_dead(&engine.pool, None, Some(m.run_id)))
                .await;
            match engine.bounded(shared_db::ready(&engine.pool, m.run_id)).await {
                Ok(true) => return Ok(()),
                Ok(false) => lost_since = None,
                Err(e) if e.is_connection_lost() && !matches!(e, DbError::NotAnswering(_)) => {
                    let since = *lost_since.get_or_insert_with(Instant::now);
                    if !said {
                        said = true;
                        self.send(PlanEvent::Notice(
                            "the server restarts for the shared run's profile: waiting for it".into(),
                        ));
                    }
                    if since.elapsed() > RESTART_GRACE {
                        return Err(format!(
                            "shared run: the server did not come back within {} s: {}",
                            RESTART_GRACE.as_secs(),
                            chain_text(&e)
                        ));
                    }
                }
                Err(e) => return Err(format!("shared run: {}", chain_text(&e))),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Before level 3 on a library that holds files: say what a crash would cost; take the backup asked for; refuse
    /// when files only missing sources hold would be lost for good and neither a backup nor that risk was chosen.
    async fn protect(&mut self, engine: &Engine, backup: Option<bool>) -> Result<(), String> {
        let cost = engine.crash_cost().await.map_err(|e| chain_text(&e))?;
        if cost.library_files == 0 {
            return Ok(());
        }
        self.send(PlanEvent::Notice(cost.describe()));
        match backup {
            Some(true) => {
                self.send(PlanEvent::StepStarted(StepKind::Backup));
                let t = Instant::now();
                let b = engine
                    .backup_library()
                    .await
                    .map_err(|e| format!("back up the library: {}", chain_text(&e)))?;
                let lines = vec![b.describe(), crate::run::backup::RECOVERY.into()];
                self.finish_step(StepKind::Backup, t, lines);
                Ok(())
            }
            None => cost.refusal().map_or(Ok(()), Err),
            Some(false) => Ok(()),
        }
    }

    /// This import's turn on the library in `mode` (see `turns.rs`); while another command holds it, the wait is
    /// said once per holder, and cancelling ends it.
    async fn turn(
        &self,
        engine: &Engine,
        what: &str,
        mode: LockMode,
        patience: Option<Duration>,
    ) -> Result<crate::run::turns::Turn, String> {
        let tx = self.tx.clone();
        let waiting = move |text: String| {
            let _ = tx.send(PlanEvent::Notice(text));
        };
        let control = self.control.clone();
        let cancelled = move || control.is_cancelled();
        engine
            .hold_turn(what, mode, patience, &waiting, &cancelled)
            .await
            .map_err(|e| chain_text(&e))
    }

    /// Leave the shared run; true when this importer is its last one and restores the profile. With a profile to
    /// restore, an importer that is not last waits (up to two leases) for the others to leave or expire, so that a
    /// killed importer does not keep the profile applied; a crashed last importer leaves the journal for
    /// `restore-safety` and the start-up warning, as a crashed single import does.
    async fn leave(&self, engine: &Engine, m: Membership, taken: u64, profile: bool, lease: Duration) -> bool {
        let deadline = Instant::now() + lease * 2 + Duration::from_secs(1);
        loop {
            let _ = engine
                .bounded(shared_db::reap_dead(&engine.pool, None, Some(m.run_id)))
                .await;
            match engine.bounded(shared_db::leave(&engine.pool, &m, taken as i64)).await {
                Ok(true) => return true,
                Ok(false) if !profile => return false,
                Ok(false) => {}
                Err(e) => {
                    self.send(PlanEvent::Notice(format!("could not leave the shared run: {e}")));
                    return false;
                }
            }
            let taken = engine.bounded(shared_db::restore_taken(&engine.pool, m.run_id)).await;
            if taken.unwrap_or(true) || Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Lost rows found at the start (this run reads them again) and a database left unsafe by an earlier run.
    async fn notices(&self, engine: &Engine) {
        let checked = match engine.take_open_check() {
            Some(at_open) => Ok(at_open),
            None => engine.check_integrity().await,
        };
        match checked {
            Ok(Some(lost)) => self.send(PlanEvent::Notice(format!("repairing: {lost}"))),
            Ok(None) => {}
            Err(e) => self.send(PlanEvent::Notice(format!("could not check for lost rows: {e}"))),
        }
    }

    async fn apply_levels(
        &mut self,
        engine: &Engine,
        levels: &[Level],
        confirmed: &[Confirmation],
    ) -> Result<(), String> {
        for level in levels {
            let kind = StepKind::Apply(*level);
            self.send(PlanEvent::StepStarted(kind));
            let t = Instant::now();
            let r = engine
                .apply_level_now(*level, confirmed)
                .await
                .map_err(|e| chain_text(&e))?;
            self.finish_step(kind, t, r.lines);
        }
        Ok(())
    }

    fn finish_step(&mut self, kind: StepKind, started: Instant, lines: Vec<String>) {
        let step = StepReport {
            kind,
            name: kind.label(),
            seconds: started.elapsed().as_secs_f64(),
            lines,
        };
        self.send(PlanEvent::StepFinished(step.clone()));
        self.steps.push(step);
    }

    fn start_pipeline(&self, engine: Option<&Engine>, opts: ImportOptions) -> ImportHandle {
        let (metrics, control) = (self.metrics.clone(), self.control.clone());
        let handle = match engine {
            Some(e) => e.import_with(opts, metrics, control),
            None => pipeline::start_with(opts, None, tokio::runtime::Handle::current(), metrics, control),
        };
        self.send(PlanEvent::ImportStarted);
        handle
    }

    /// Forward the pipeline's events until it ends; its summary comes with a failure too.
    async fn follow(&self, handle: ImportHandle) -> (Option<RunSummary>, Option<String>) {
        let (events, thread) = handle.into_parts();
        let tx = self.tx.clone();
        let forward = tokio::task::spawn_blocking(move || {
            let mut summary = None;
            for ev in events.iter() {
                match ev {
                    EngineEvent::Finished(s) => summary = Some(*s),
                    other => {
                        let _ = tx.send(PlanEvent::Import(other));
                    }
                }
            }
            summary
        });
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        let summary = forward.await.ok().flatten();
        let error = match joined {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(chain_text(&e)),
            Err(e) => Some(format!("the import stopped unexpectedly: {e}")),
        };
        (summary, error)
    }

    /// Safety back and indexes rebuilt, whatever happened to the run, unless the server is gone: then every step
    /// would only wait for the pool's timeout, and the user is told the command to run once it is back.
    async fn put_back(
        &mut self,
        engine: &Engine,
        levels: &[Level],
        jobs: usize,
        run_failed: bool,
    ) -> Result<bool, String> {
        if run_failed && !engine.reachable().await {
            self.steps.push(StepReport {
                kind: StepKind::Restore,
                name: StepKind::Restore.label(),
                seconds: 0.0,
                lines: vec![
                    "skipped: the server cannot be reached; run `midi-tui restore-safety` once it is back".into(),
                ],
            });
            return Ok(false);
        }
        self.send(PlanEvent::StepStarted(StepKind::Restore));
        let t = Instant::now();
        let r = engine
            .restore_safety_now()
            .await
            .map_err(|e| format!("restore safety: {}", chain_text(&e)))?;
        let mut lines = r.lines.clone();
        // Left as lines, not a failure: a restart-only setting on an external server waits for its admin.
        lines.extend(
            r.checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| format!("NOT restored: {} is {}", c.what, c.actual)),
        );
        lines.extend(r.still_relaxed.iter().map(|l| format!("still relaxed: {l}")));
        self.finish_step(StepKind::Restore, t, lines);
        if levels.contains(&Level::DropIndexes) {
            self.rebuild(engine, jobs).await?;
        }
        Ok(r.ok)
    }

    async fn rebuild(&mut self, engine: &Engine, jobs: usize) -> Result<(), String> {
        self.send(PlanEvent::StepStarted(StepKind::Rebuild));
        let t = Instant::now();
        let (ptx, mut prx) = unbounded_channel();
        let tx = self.tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(ev) = prx.recv().await {
                let _ = tx.send(PlanEvent::Rebuild(ev));
            }
        });
        let r = engine.rebuild_indexes_now(jobs, Some(ptx)).await;
        let _ = forward.await;
        let r = r.map_err(|e| format!("rebuild indexes: {}", chain_text(&e)))?;
        self.finish_step(
            StepKind::Rebuild,
            t,
            vec![format!(
                "{} built, {}/{} present",
                crate::human::counted(r.built.len(), "index"),
                r.present,
                r.expected
            )],
        );
        if !r.failed.is_empty() || r.present != r.expected {
            let mut text = format!(
                "rebuild indexes: {} of {} secondary indexes present",
                r.present, r.expected
            );
            for (name, e) in &r.failed {
                text.push_str(&format!("; {name}: {e}"));
            }
            return Err(format!("{text} (run `midi-tui rebuild-indexes`)"));
        }
        Ok(())
    }

    fn report(self, summary: Option<RunSummary>, error: Option<String>) -> Result<ImportReport, PlanError> {
        let Some(mut run) = summary else {
            return Err(PlanError::Failed(
                error.unwrap_or_else(|| "the import ended without a summary".into()),
            ));
        };
        if error.is_some() {
            run.status = RunStatus::Failed;
        }
        Ok(ImportReport {
            run,
            steps: self.steps,
            wall_seconds: self.wall.elapsed().as_secs_f64(),
            error,
            mode_reason: None,
            mode_estimates: None,
            peak_rss_mb: None,
            fixed_seconds: Vec::new(),
        })
    }
}

/// An error and its causes, each said once (wrappers often repeat their source's text).
pub fn chain_text(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cur {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ludicrous_needs_both_confirmations_once_and_a_dry_run_none() {
        let mut p = ImportPlan::new(vec![], Mode::Ludicrous);
        assert_eq!(
            p.missing_confirmations(),
            vec![Confirmation::FsyncOff, Confirmation::Unlogged]
        );
        p.confirmed = vec![Confirmation::Unlogged];
        assert_eq!(p.missing_confirmations(), vec![Confirmation::FsyncOff]);
        p.dry_run = true;
        assert!(p.missing_confirmations().is_empty());
        assert!(ImportPlan::new(vec![], Mode::Fast).missing_confirmations().is_empty());
    }

    #[test]
    fn chain_text_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("database error: {0}")]
        struct Wrap(#[source] std::io::Error);
        let e = Wrap(std::io::Error::other("connection refused"));
        assert_eq!(chain_text(&e), "database error: connection refused");
    }

    #[test]
    fn a_dry_run_plan_runs_without_a_database() {
        let dir = std::env::temp_dir().join(format!("plan-dry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/midi/addams.mid");
        std::fs::copy(fixture, dir.join("a.mid")).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let report = rt.block_on(async {
            let mut plan = ImportPlan::new(vec![dir.clone()], Mode::Ludicrous);
            plan.dry_run = true;
            plan.log_path = Some(dir.join("run.log"));
            let h = start(None, plan);
            let (mut events, task) = h.into_parts();
            let report = task.await.unwrap().unwrap();
            let mut started = false;
            while let Ok(ev) = events.try_recv() {
                started |= matches!(ev, PlanEvent::ImportStarted);
            }
            assert!(started);
            report
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(report.run.status, RunStatus::Done);
        assert_eq!((report.run.counts.seen, report.run.counts.imported), (1, 1));
        assert!(report.steps.is_empty(), "a dry run changes no setting");
    }
}
