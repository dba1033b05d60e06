//! `midi-tui import`: the engine headless, with a progress bar on a terminal and plain lines otherwise.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::{GlobalArgs, ImportArgs, ModeArg};
use crate::engine::metrics::{self, Phase, Snapshot};
use crate::engine::pipeline::{ImportHandle, ImportOptions, RunSummary};
use crate::engine::profile::{Level, Mode};
use crate::engine::session::{Engine, default_run_log};

/// What `import --json` prints: the run, and each profile step around it.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    #[serde(flatten)]
    pub run: RunSummary,
    /// Profile steps (apply, restore, rebuild) with their seconds.
    pub steps: Vec<Step>,
    /// Wall time including the profile steps.
    pub wall_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    pub lines: Vec<String>,
}

pub fn mode_of(m: ModeArg) -> Mode {
    match m {
        ModeArg::Normal => Mode::Normal,
        ModeArg::Fast => Mode::Fast,
        ModeArg::Ludicrous => Mode::Ludicrous,
    }
}

pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> Result<ImportReport> {
    let wall = Instant::now();
    for s in &args.sources {
        if let Some(problem) = crate::engine::source::source_problem(s) {
            anyhow::bail!(problem);
        }
    }
    let mode = mode_of(args.mode);
    let mut opts = ImportOptions::new(
        args.sources.clone(),
        if args.dry_run { "dry-run" } else { mode.label() },
    );
    opts.dry_run = args.dry_run;
    if let Some(n) = args.batch_rows {
        opts.batch_rows = n.max(1);
    }
    opts.async_commit = mode != Mode::Normal;
    opts.limit = match args.limit {
        super::LimitArg::Full => crate::engine::pipeline::Limit::Full,
        super::LimitArg::ReadHash => crate::engine::pipeline::Limit::ReadHash,
        super::LimitArg::WriteOnly => crate::engine::pipeline::Limit::WriteOnly,
    };
    let data_dir = global.data_dir();
    opts.log_path = Some(global.log.clone().unwrap_or_else(|| default_run_log(&data_dir)));
    let mut steps = Vec::new();
    if args.dry_run {
        // A dry run needs no database at all.
        let handle = crate::engine::pipeline::start(opts, None, tokio::runtime::Handle::current());
        let run = watch(handle, args.json, args.console_bench).await?;
        return Ok(finish(
            args,
            ImportReport {
                run,
                steps,
                wall_seconds: wall.elapsed().as_secs_f64(),
            },
        ));
    }
    let levels = mode.levels();
    let needed: Vec<_> = levels.iter().flat_map(|l| l.confirmations().iter().copied()).collect();
    let confirmed = super::profile::confirm(&needed, args.yes)?;
    let engine = Engine::open(global.target(), data_dir).await?;
    let st = engine.safety().await?;
    if !args.json {
        super::profile::warn_if_unsafe(&st);
    }
    if let Some(lost) = engine.acknowledge_data_loss().await? {
        eprintln!("repairing: {lost}");
    }
    for level in levels {
        let t = Instant::now();
        let r = engine.apply_level(*level, &confirmed).await?;
        steps.push(Step {
            name: format!("apply level {} ({})", level.number(), level.label()),
            seconds: t.elapsed().as_secs_f64(),
            lines: r.lines,
        });
    }
    let handle = engine.import(opts);
    let run = watch(handle, args.json, args.console_bench).await;
    if !levels.is_empty() && !args.keep_profile {
        // Safety comes back whatever happened to the run.
        let t = Instant::now();
        let r = engine.restore_safety().await?;
        let mut lines = r.lines.clone();
        lines.extend(
            r.checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| format!("NOT restored: {} is {}", c.what, c.actual)),
        );
        steps.push(Step {
            name: "restore safety".into(),
            seconds: t.elapsed().as_secs_f64(),
            lines,
        });
        if levels.contains(&Level::DropIndexes) {
            let t = Instant::now();
            let r = engine.rebuild_indexes(crate::engine::machine::cores(), None).await?;
            steps.push(Step {
                name: "rebuild indexes".into(),
                seconds: t.elapsed().as_secs_f64(),
                lines: vec![format!("{} built, {}/{} present", r.built.len(), r.present, r.expected)],
            });
        }
    } else if !levels.is_empty() && !args.json {
        eprintln!(
            "profile kept (--keep-profile): run `midi-tui restore-safety` and `midi-tui rebuild-indexes` when done"
        );
    }
    let run = run?;
    Ok(finish(
        args,
        ImportReport {
            run,
            steps,
            wall_seconds: wall.elapsed().as_secs_f64(),
        },
    ))
}

fn finish(args: &ImportArgs, report: ImportReport) -> ImportReport {
    if args.json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        }
    } else {
        print_summary(&report);
    }
    report
}

/// Follow a run to its end: progress on stderr, Ctrl-C / SIGTERM cancel (flush, mark interrupted).
async fn watch(handle: ImportHandle, quiet: bool, console_bench: bool) -> Result<RunSummary> {
    if console_bench {
        return console_bench_watch(handle).await;
    }
    let control = handle.control.clone();
    let metrics = handle.metrics.clone();
    let tty = std::io::stderr().is_terminal() && !quiet;
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(if tty { 250 } else { 2000 }));
    let mut prev = metrics.snapshot();
    let mut rate = 0.0;
    let mut cancelled = false;
    while !handle.is_finished() {
        tokio::select! {
            _ = tokio::signal::ctrl_c(), if !cancelled => {
                cancelled = true;
                control.cancel();
                eprintln!("\ninterrupted: flushing what is in flight...");
            }
            _ = sigterm.recv(), if !cancelled => {
                cancelled = true;
                control.cancel();
            }
            _ = tick.tick() => {
                let now = metrics.snapshot();
                let dt = (now.elapsed - prev.elapsed).as_secs_f64();
                if dt > 0.0 {
                    let inst = (now.done() - prev.done()) as f64 / dt;
                    rate = if rate == 0.0 { inst } else { 0.7 * rate + 0.3 * inst };
                }
                let line = progress_line(&prev, &now, rate);
                match &bar {
                    Some(b) => b.set_message(line),
                    None if !quiet => eprintln!("{line}"),
                    None => {}
                }
                prev = now;
            }
        }
        while handle.events.try_recv().is_ok() {}
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(tokio::task::spawn_blocking(move || handle.join()).await??)
}

fn progress_line(prev: &Snapshot, now: &Snapshot, rate: f64) -> String {
    let r = metrics::phase_rates(prev, now);
    let mbs = r[Phase::Hash as usize].bytes_per_s / 1e6;
    let eta = metrics::eta_seconds(now, rate).map_or("?".to_string(), |s| format!("{s:.0}s"));
    format!(
        "{:>8.0} files/s {:>6.1} MB/s | seen {} imported {} dup {} skipped {} failed {} | ETA {}",
        rate, mbs, now.seen, now.imported, now.duplicates, now.skipped, now.failed, eta
    )
}

fn print_summary(r: &ImportReport) {
    let s = &r.run;
    println!(
        "import {}: {} files in {:.1} s ({:.0} files/s, {:.1} MB/s)",
        s.status, s.seen, s.seconds, s.files_per_s, s.mb_per_s
    );
    println!(
        "  imported {}  duplicates {}  skipped {}  failed {}",
        s.imported, s.duplicates, s.skipped, s.failed
    );
    if !s.errors_by_kind.is_empty() {
        let mut kinds: Vec<_> = s.errors_by_kind.iter().collect();
        kinds.sort();
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  errors: {}", list.join(", "));
    }
    for step in &r.steps {
        println!("  {}: {:.1} s", step.name, step.seconds);
        for l in &step.lines {
            println!("    {l}");
        }
    }
    if !r.steps.is_empty() {
        println!("  wall time with profile steps: {:.1} s", r.wall_seconds);
    }
    if let Some(p) = &s.log_path {
        println!("  log: {}", p.display());
    }
}

/// Benchmarks: follow the run exactly as the console does (state updates every frame, a full draw at the
/// console's frame rate, samples every second), drawing into an off-screen 120x40 buffer.
async fn console_bench_watch(handle: ImportHandle) -> Result<RunSummary> {
    use crate::console::app::{App, Msg, RunState, Screen, update};
    let metrics = handle.metrics.clone();
    let mut app = App::new("bench".into(), String::new(), Vec::new(), None);
    app.screen = Screen::Run;
    app.run = RunState::Running;
    update(&mut app, Msg::ImportStarted(metrics.snapshot()));
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40))?;
    let mut draw = tokio::time::interval(Duration::from_millis(50));
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    while !handle.is_finished() {
        tokio::select! {
            _ = draw.tick() => {
                while let Ok(ev) = handle.events.try_recv() {
                    update(&mut app, Msg::Engine(ev));
                }
                update(&mut app, Msg::Frame(metrics.snapshot()));
                terminal.draw(|f| crate::console::ui::render(f, &app))?;
            }
            _ = sample.tick() => {
                update(&mut app, Msg::Sample(Some(metrics.snapshot())));
            }
        }
    }
    Ok(tokio::task::spawn_blocking(move || handle.join()).await??)
}
