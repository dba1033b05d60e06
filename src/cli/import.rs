//! `midi-tui import`: the engine headless, with a progress bar on a terminal and plain lines otherwise.
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;

use super::{GlobalArgs, ImportArgs};
use crate::engine::metrics::{self, Phase, Snapshot};
use crate::engine::pipeline::{ImportHandle, ImportOptions, RunSummary};
use crate::engine::session::{Engine, default_run_log};

pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> Result<RunSummary> {
    for s in &args.sources {
        if !s.exists() {
            anyhow::bail!("source {} does not exist", s.display());
        }
    }
    let mode = if args.dry_run { "dry-run".to_string() } else { format!("{:?}", args.mode).to_lowercase() };
    let mut opts = ImportOptions::new(args.sources.clone(), &mode);
    opts.dry_run = args.dry_run;
    let data_dir = global.data_dir();
    opts.log_path = Some(global.log.clone().map(|l| l.with_extension("import.log")).unwrap_or_else(|| default_run_log(&data_dir)));
    let handle = if args.dry_run {
        // A dry run needs no database at all.
        crate::engine::pipeline::start(opts, None, tokio::runtime::Handle::current())
    } else {
        let engine = Engine::open(global.target(), data_dir).await?;
        engine.import(opts)
    };
    let summary = watch(handle, args.json).await?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(summary)
}

/// Follow a run to its end: progress on stderr, Ctrl-C / SIGTERM cancel (flush, mark interrupted).
async fn watch(handle: ImportHandle, quiet: bool) -> Result<RunSummary> {
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
    let mbs = r[Phase::Read as usize].bytes_per_s / 1e6;
    let eta = metrics::eta_seconds(now, rate).map_or("?".to_string(), |s| format!("{:.0}s", s));
    format!(
        "{:>8.0} files/s {:>6.1} MB/s | seen {} imported {} dup {} skipped {} failed {} | ETA {}",
        rate, mbs, now.seen, now.imported, now.duplicates, now.skipped, now.failed, eta
    )
}

fn print_summary(s: &RunSummary) {
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
    if let Some(p) = &s.log_path {
        println!("  log: {}", p.display());
    }
}

