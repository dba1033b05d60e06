//! `midi-tui doctor [--mode M] [--json] [SOURCE...]`: is this machine and server ready for a big import; each check
//! with its value, whether it matters for this import, and the command that changes it. Changes nothing.
use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::{DoctorArgs, GlobalArgs};
use crate::engine::doctor::{self, Check, DoctorFacts, Verdict};
use crate::engine::human::{count, counted};
use crate::engine::profile::Mode;
use crate::engine::profile::sizing::ImportSize;
use crate::engine::run::session::Engine;

/// The JSON object `doctor --json` prints.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// "ok", "unknown", "advice" or "problem": the worst verdict among the checks that matter for this import.
    pub status: &'static str,
    pub mode: &'static str,
    pub import: Option<ImportSize>,
    pub checks: Vec<Check>,
}

/// Gather the facts, judge them, print; the exit code is 0 whatever the verdicts (doctor advises, it never gates).
pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> Result<()> {
    let report = build(global, super::import::mode_of(args.mode), args.sources.clone()).await?;
    if args.json {
        super::print_report(|out| writeln!(out, "{}", serde_json::to_string(&report)?))?;
    } else {
        super::print_report(|out| print_text(out, &report))?;
    }
    Ok(())
}

pub async fn build(global: &GlobalArgs, mode: Mode, sources: Vec<PathBuf>) -> Result<DoctorReport> {
    let scan = (!sources.is_empty())
        .then(|| tokio::task::spawn_blocking(move || crate::engine::profile::sizing::import_size(&sources)));
    // A server that cannot be reached is a finding of its own, not a reason to say nothing about the machine.
    let facts = match Engine::open(global.target(), global.data_dir()).await {
        Ok(engine) => DoctorFacts::gather(Some(&engine), None).await,
        Err(e) => DoctorFacts::gather(None, Some(super::error_text(&e.into()))).await,
    };
    let import = match scan {
        Some(task) => Some(task.await?),
        None => None,
    };
    let checks = facts.checks(import, mode);
    Ok(DoctorReport {
        status: doctor::overall(&checks),
        mode: mode.label(),
        import,
        checks,
    })
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Unknown => "??",
        Verdict::Advice => "advice",
        Verdict::Problem => "PROBLEM",
    }
}

fn print_text(out: &mut dyn Write, r: &DoctorReport) -> std::io::Result<()> {
    match r.import {
        Some(i) => writeln!(
            out,
            "doctor: {} mode, importing about {} ({} plain, {})",
            r.mode,
            counted(i.files, "file"),
            count(i.plain_files),
            counted(i.archives, "archive")
        )?,
        None => writeln!(
            out,
            "doctor: {} mode (give the sources for estimates of this import)",
            r.mode
        )?,
    }
    for c in &r.checks {
        let matters = if c.matters { "" } else { " (does not matter here)" };
        writeln!(out, "\n[{:>7}] {}: {}{matters}", mark(c.verdict), c.title, c.value)?;
        writeln!(out, "          {}", c.why)?;
        if let Some(fix) = &c.fix {
            writeln!(out, "          fix: {fix}")?;
        }
    }
    writeln!(out, "\nverdict: {} (nothing was changed)", r.status)
}
