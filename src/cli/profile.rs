//! `profile apply`, `restore-safety`, `rebuild-indexes`: the safety levels from the command line.
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};

use super::{GlobalArgs, LevelArg};
use crate::engine::human::counted;
use crate::engine::profile::{Confirmation, Level, RebuildEvent, RestoreReport, SafetyState};
use crate::engine::run::session::Engine;

pub async fn open(global: &GlobalArgs) -> Result<Engine> {
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    Ok(engine)
}

/// Print a loud warning on stderr when the database is left unsafe.
pub fn warn_if_unsafe(st: &SafetyState) {
    if let Some(lost) = &st.data_lost {
        eprintln!("WARNING: DATA LOST: {lost}");
    }
    if !st.unsafe_reasons.is_empty() {
        eprintln!("WARNING: THE DATABASE IS UNSAFE:");
        for r in &st.unsafe_reasons {
            eprintln!("  - {r}");
        }
        eprintln!("  run `midi-tui restore-safety` to put safety back");
    }
    if !st.pending_restart.is_empty() {
        eprintln!(
            "note: settings pending a server restart (not active yet): {}",
            st.pending_restart.join(", ")
        );
    }
}

/// Ask for the confirmations a level needs: `--yes` gives them; a terminal is asked; otherwise refuse.
pub fn confirm(needed: &[Confirmation], yes: bool) -> Result<Vec<Confirmation>> {
    if needed.is_empty() || yes {
        return Ok(needed.to_vec());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let text: Vec<&str> = needed.iter().map(|c| c.statement()).collect();
        bail!("confirmation needed, pass --yes to accept:\n{}", text.join("\n"));
    }
    let mut given = Vec::new();
    for c in needed {
        eprintln!("\n{}\nType yes to accept: ", c.statement());
        std::io::stderr().flush()?;
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        if line.trim() != "yes" {
            bail!("not confirmed; nothing was changed");
        }
        given.push(*c);
    }
    Ok(given)
}

/// Apply one level, or a mode's levels in order; every confirmation they need is asked for before anything changes.
/// Level 3 on a library that holds files first says what a crash would cost and, as an import does, backs the
/// library up (`backup` Some(true)), goes on without (Some(false)), or refuses when files only missing sources hold
/// would be lost for good (None).
pub async fn apply(global: &GlobalArgs, arg: LevelArg, yes: bool, backup: Option<bool>) -> Result<()> {
    let levels = arg.levels();
    let mut needed: Vec<Confirmation> = Vec::new();
    for c in levels.iter().flat_map(|l| l.confirmations()) {
        if !needed.contains(c) {
            needed.push(*c);
        }
    }
    let confirmed = confirm(&needed, yes)?;
    let engine = open(global).await?;
    if levels.contains(&Level::Ludicrous) {
        protect(&engine, backup).await?;
    }
    for &level in levels {
        let report = engine.apply_level(level, &confirmed).await?;
        println!("level {} ({}):", level.number(), level.label());
        for l in &report.lines {
            println!("  {l}");
        }
    }
    warn_if_unsafe(&engine.safety().await?);
    Ok(())
}

/// Before level 3: the crash cost said, then the backup taken, declined, or the refusal.
async fn protect(engine: &Engine, backup: Option<bool>) -> Result<()> {
    let cost = engine.crash_cost().await?;
    if cost.library_files == 0 {
        return Ok(());
    }
    eprintln!("{}", cost.describe());
    match backup {
        Some(true) => {
            let b = engine.backup_library().await?;
            println!("{}", b.describe());
            println!("{}", crate::engine::run::backup::RECOVERY);
        }
        None => {
            if let Some(refusal) = cost.refusal() {
                bail!("{refusal}; nothing was changed");
            }
        }
        Some(false) => {}
    }
    Ok(())
}

pub fn print_restore(report: &RestoreReport) {
    for l in &report.lines {
        println!("  {l}");
    }
    println!("check list:");
    for c in &report.checks {
        println!(
            "  [{}] {:<40} expected {:<10} actual {}",
            if c.ok { "ok" } else { "!!" },
            c.what,
            c.expected,
            c.actual
        );
    }
}

pub async fn restore(global: &GlobalArgs, json: bool) -> Result<bool> {
    let engine = open(global).await?;
    let report = engine.restore_safety().await?;
    if json {
        // The report, with the `status` and `error` every `--json` command prints; `safe` only when nothing at all
        // stays relaxed.
        let mut v = serde_json::to_value(&report)?;
        v["status"] = (if report.ok { "restored" } else { "failed" }).into();
        v["safe"] = (report.ok && report.still_relaxed.is_empty()).into();
        v["error"] = (!report.ok)
            .then(|| "NOT everything could be restored: see checks".to_string())
            .into();
        println!("{v}");
    } else {
        println!("restore-safety:");
        print_restore(&report);
        for l in &report.still_relaxed {
            println!("  still relaxed: {l}");
        }
        println!(
            "{}",
            match (report.ok, report.still_relaxed.is_empty()) {
                (true, true) => "safety restored: nothing is relaxed",
                (true, false) => "settings and tables restored and verified; NOT safe yet: see `still relaxed` above",
                (false, _) => "NOT everything could be restored: see above",
            }
        );
    }
    Ok(report.ok)
}

pub async fn rebuild(global: &GlobalArgs, jobs: Option<usize>) -> Result<bool> {
    let engine = open(global).await?;
    let jobs = jobs.unwrap_or_else(crate::engine::machine::cores);
    rebuild_with(&engine, jobs).await
}

pub async fn rebuild_with(engine: &Engine, jobs: usize) -> Result<bool> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                RebuildEvent::Started { name, table } => eprintln!("  building {name} on {table}"),
                RebuildEvent::Finished { name, seconds } => eprintln!("  built    {name} ({seconds:.2} s)"),
                RebuildEvent::Failed { name, error } => eprintln!("  FAILED   {name}: {error}"),
                RebuildEvent::Analyzing => eprintln!("  ANALYZE"),
                RebuildEvent::Done(_) => break,
            }
        }
    });
    let r = engine.rebuild_indexes(jobs, Some(tx)).await?;
    let _ = printer.await;
    println!(
        "rebuild-indexes: built {} with {} in {:.1} s; {}/{} present{}",
        counted(r.built.len(), "index"),
        counted(jobs, "job"),
        r.seconds,
        r.present,
        r.expected,
        if r.failed.is_empty() {
            String::new()
        } else {
            format!("; {} failed", r.failed.len())
        }
    );
    Ok(r.present == r.expected && r.failed.is_empty())
}
