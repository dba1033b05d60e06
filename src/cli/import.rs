//! `midi-tui import`: a view over the engine's import plan, with a progress bar on a terminal and plain lines
//! otherwise; Ctrl-C and SIGTERM cancel the run (what is in flight is flushed, the run is marked interrupted).
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;

use super::{GlobalArgs, ImportArgs, ModeArg};
use crate::engine::human::{count, count_f};
use crate::engine::metrics::{self, Snapshot};
use crate::engine::pipeline::Limit;
use crate::engine::profile::Mode;
use crate::engine::run::plan::{self, ImportPlan, ImportReport, PlanEvent, PlanHandle};
use crate::engine::run::session::{Engine, default_run_log};

/// The mode of an argument; `auto` is resolved by [`run`] before a plan is made, and means normal elsewhere.
pub fn mode_of(m: ModeArg) -> Mode {
    match m {
        ModeArg::Auto | ModeArg::Normal => Mode::Normal,
        ModeArg::Fast => Mode::Fast,
        ModeArg::Ludicrous => Mode::Ludicrous,
    }
}

/// The plan the arguments describe (confirmations are asked for separately).
pub fn plan_of(global: &GlobalArgs, args: &ImportArgs) -> ImportPlan {
    let mut plan = ImportPlan::new(args.sources.clone(), mode_of(args.mode));
    plan.dry_run = args.dry_run;
    plan.keep_profile = args.keep_profile;
    plan.backup = super::backup_choice(args.backup, args.no_backup);
    plan.batch_rows = args.batch_rows;
    if let Some(n) = args.unit_files {
        plan.unit_files = n.max(1);
    }
    if let Some(ms) = args.lease_ms {
        plan.lease = Duration::from_millis(ms.max(1));
    }
    plan.limit = match args.limit {
        super::LimitArg::Full => Limit::Full,
        super::LimitArg::ReadHash => Limit::ReadHash,
        super::LimitArg::WriteOnly => Limit::WriteOnly,
    };
    plan.log_path = Some(
        global
            .log
            .clone()
            .unwrap_or_else(|| default_run_log(&global.data_dir())),
    );
    plan
}

pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> Result<ImportReport> {
    run_with(global, args, watch).await
}

/// [`run`] with another follower of the plan than the printed progress (`follow(handle, quiet)`): the bench drives
/// the console's state and drawing with it (`import --console-bench`, wired in `main`).
pub async fn run_with<F, Fut>(global: &GlobalArgs, args: &ImportArgs, follow: F) -> Result<ImportReport>
where
    F: FnOnce(PlanHandle, bool) -> Fut,
    Fut: std::future::Future<Output = Result<ImportReport>>,
{
    crate::engine::timeline::start();
    for s in &args.sources {
        if let Some(problem) = crate::engine::source::source_problem(s) {
            anyhow::bail!(problem);
        }
    }
    let mut plan = plan_of(global, args);
    let mut mode_reason = format!("given with --mode {}", plan.mode.label());
    // Auto's estimates of every mode, also when a mode was given: from the library before this import.
    let mut estimates: Option<Vec<crate::engine::profile::auto::Estimate>> = None;
    let mut auto_inputs = None;
    let engine = if plan.dry_run {
        // A dry run needs no database at all.
        mode_reason = "a dry run writes nothing: no mode applies".into();
        None
    } else {
        let engine = Engine::open(global.target(), global.data_dir()).await?;
        if args.mode == ModeArg::Auto {
            let sources = args.sources.clone();
            let size =
                tokio::task::spawn_blocking(move || crate::engine::profile::sizing::import_size(&sources)).await?;
            let choice = engine.choose_mode(size.files, args.yes, args.backup).await?;
            estimates = Some(choice.estimates.clone());
            plan.mode = choice.mode;
            mode_reason = choice.reason;
            if !args.json {
                eprintln!("mode auto: {mode_reason}");
            }
        } else {
            auto_inputs = engine.auto_inputs().await.ok();
        }
        crate::engine::timeline::mark("auto's inputs");
        Some(engine)
    };
    plan.confirmed = super::profile::confirm(&plan.missing_confirmations(), args.yes)?;
    if let Some(n) = args.workers.filter(|_| !plan.dry_run) {
        // The mode is settled here, once: importers that chose on their own could choose apart and not share.
        let chosen = (args.mode == ModeArg::Auto).then(|| plan.mode.label());
        let mut report =
            super::import_workers::run(args, n as usize, !plan.confirmed.is_empty(), chosen, &mode_reason).await?;
        report.mode_reason = Some(mode_reason);
        return Ok(report);
    }
    let mode = plan.mode;
    let handle = match engine {
        None => plan::start(None, plan),
        Some(engine) => {
            if !args.json {
                super::profile::warn_if_unsafe(&engine.safety().await?);
            }
            crate::engine::timeline::mark("safety check");
            engine.start_plan(plan)
        }
    };
    let mut report = follow(handle, args.json).await?;
    report.mode_reason = Some(mode_reason);
    if let Some((library, rates)) = auto_inputs {
        // The files this import saw: the estimate `--mode auto` would have made knowing the source's size.
        let seen = report.run.counts.seen;
        let c = crate::engine::profile::auto::choose(
            library,
            seen,
            &rates,
            &if args.backup {
                crate::engine::profile::auto::DEFAULT_OVERHEADS.with_backup()
            } else {
                crate::engine::profile::auto::DEFAULT_OVERHEADS
            },
            args.yes,
        );
        estimates = Some(c.estimates);
    }
    report.mode_estimates = estimates.map(|e| e.iter().map(|e| (e.mode.label().to_string(), e.total_secs)).collect());
    if args.keep_profile && !args.dry_run && mode != Mode::Normal && !args.json {
        eprintln!(
            "profile kept (--keep-profile): run `midi-tui restore-safety` and `midi-tui rebuild-indexes` when done"
        );
    }
    Ok(finish(args, report))
}

fn finish(args: &ImportArgs, mut report: ImportReport) -> ImportReport {
    report.peak_rss_mb = crate::engine::machine::peak_rss_bytes().map(|b| b as f64 / 1048576.0);
    crate::engine::timeline::mark("report");
    report.fixed_seconds = crate::engine::timeline::steps();
    if args.json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        }
        // The final line too, for whoever watches the terminal: stdout keeps its one JSON object.
        eprintln!("import {}: {}", report.run.status, report.run.figures_text());
    } else {
        super::import_summary::print_summary(&report);
        if let Some(e) = &report.error {
            eprintln!("error: {e}");
        }
    }
    report
}

/// Follow a plan to its end: progress and notices on stderr, signals cancel.
async fn watch(handle: PlanHandle, quiet: bool) -> Result<ImportReport> {
    let (control, metrics) = (handle.control.clone(), handle.metrics.clone());
    let (mut events, mut task) = handle.into_parts();
    let tty = std::io::stderr().is_terminal() && !quiet;
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let say = |text: &str| match &bar {
        Some(b) => b.println(text),
        None if !quiet => eprintln!("{text}"),
        None => {}
    };
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(if tty { 250 } else { 2000 }));
    let mut prev = metrics.snapshot();
    let mut eta = metrics::EtaSmoother::default();
    let mut cancelled = false;
    // The task is awaited in the loop: the command ends the moment the plan does, not at the next tick.
    let joined = loop {
        tokio::select! {
            r = &mut task => break r,
            Some(ev) = events.recv() => match ev {
                PlanEvent::Notice(text) => say(&text),
                PlanEvent::Info(text) => say(&text),
                PlanEvent::StepStarted(step) => say(&format!("{}...", step.label())),
                _ => {}
            },
            _ = tokio::signal::ctrl_c(), if !cancelled => {
                cancelled = true;
                control.cancel_because("interrupted with Ctrl-C");
                say("interrupted: flushing what is in flight...");
            }
            _ = sigterm.recv(), if !cancelled => {
                cancelled = true;
                control.cancel_because("stopped by SIGTERM");
            }
            _ = tick.tick() => {
                let now = metrics.snapshot();
                let dt = (now.elapsed - prev.elapsed).as_secs_f64();
                let remaining = now.scan_done.then(|| now.discovered.saturating_sub(now.counts.done()));
                let eta = eta.sample(dt, now.counts.done().saturating_sub(prev.counts.done()), remaining, control.is_paused());
                let line = progress_line(&now, eta);
                match &bar {
                    Some(b) => b.set_message(line),
                    None if !quiet => eprintln!("{line}"),
                    None => {}
                }
                prev = now;
            }
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(joined??)
}

/// The run's figures so far (the same definitions as the final line: [`metrics::Figures`]) and the smoothed ETA.
fn progress_line(now: &Snapshot, eta: Option<f64>) -> String {
    let f = metrics::Figures::of(now);
    let eta = eta.map_or("?".to_string(), |s| format!("{s:.0}s"));
    format!(
        "{:>8} files/s {:>6.1} MB/s | seen {} imported {} dup {} skipped {} failed {} | ETA {}",
        count_f(f.files_per_s),
        f.mb_per_s,
        count(now.counts.seen),
        count(now.counts.imported),
        count(now.counts.duplicates),
        count(now.counts.skipped),
        count(now.counts.failed),
        eta
    )
}
