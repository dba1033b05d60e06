//! `midi-tui status [--json]`: what the database holds and how safe it is now; the exit code says it too.
use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::GlobalArgs;
use crate::database::status::Status;
use crate::engine::human::{bytes, count, plural};
use crate::engine::profile::{Badge, SafetyState};
use crate::engine::run::session::Engine;

/// Exit codes of `status` (1 failure and 2 usage error come from `main` and clap).
pub const EXIT_SAFE: u8 = 0;
pub const EXIT_NOT_SAFE: u8 = 3;
pub const EXIT_DATA_LOST: u8 = 4;

/// The JSON object `status --json` prints (keys listed in README.md).
#[derive(Debug, Serialize)]
pub struct StatusReport {
    #[serde(flatten)]
    pub status: Status,
    pub safety: SafetyState,
    /// Nothing at all relaxed (exit code 0).
    pub safe: bool,
    pub badge: Badge,
    /// Interrupted and failed runs that no later run over their sources has followed, newest first.
    pub unfinished_runs: Vec<crate::engine::database::runs::UnfinishedRun>,
}

/// The exit code for a safety state: lost data wins over anything merely not safe.
pub fn exit_code(safety: &SafetyState) -> u8 {
    if safety.data_lost.is_some() {
        EXIT_DATA_LOST
    } else if !safety.is_safe() {
        EXIT_NOT_SAFE
    } else {
        EXIT_SAFE
    }
}

/// Unfinished runs `status` lists at most.
const UNFINISHED_LISTED: i64 = 20;

/// Print the report; returns the exit code.
pub async fn run(global: &GlobalArgs, json: bool) -> Result<u8> {
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let status = engine.status().await?;
    let safety = engine.safety().await?;
    let unfinished_runs = engine.unfinished_runs(UNFINISHED_LISTED).await?;
    let report = StatusReport {
        unfinished_runs,
        safe: safety.is_safe(),
        badge: safety.badge(),
        status,
        safety,
    };
    let code = exit_code(&report.safety);
    if json {
        super::print_report(|out| writeln!(out, "{}", serde_json::to_string(&report)?))?;
        return Ok(code);
    }
    let flags = global.shell_flags();
    super::print_report(|out| print_text(out, &report, &flags))?;
    // The loud part goes to stderr, once, so that it shows even when stdout is piped away.
    super::profile::warn_if_unsafe(&report.safety);
    Ok(code)
}

fn print_text(out: &mut dyn Write, report: &StatusReport, flags: &str) -> std::io::Result<()> {
    let st = &report.status;
    writeln!(
        out,
        "database: {} (PostgreSQL {}, {})",
        st.target,
        st.server_version,
        bytes(st.database_size_bytes)
    )?;
    writeln!(out, "superuser: {}", if st.superuser { "yes" } else { "no" })?;
    writeln!(out, "\ntables:")?;
    for t in &st.tables {
        writeln!(out, "  {:<18} {:>13} rows  {}", t.name, count(t.rows), t.persistence)?;
    }
    let missing = &st.secondary_indexes.missing;
    writeln!(
        out,
        "\nsecondary indexes: {}/{} present{}",
        st.secondary_indexes.present,
        st.secondary_indexes.expected,
        if missing.is_empty() {
            String::new()
        } else {
            format!(" ({} missing)", count(missing.len()))
        }
    )?;
    writeln!(out, "\nsettings:")?;
    for s in &st.settings {
        let pending = if s.pending_restart {
            "  (change pending restart)"
        } else {
            ""
        };
        writeln!(out, "  {:<34} {:<10}{pending}", s.name, s.value)?;
    }
    let safety = &report.safety;
    writeln!(out, "\nsafety: {}", report.badge.label())?;
    for r in &safety.running {
        writeln!(out, "  running: {r}")?;
    }
    for r in &safety.interrupted {
        writeln!(out, "  interrupted: {r}")?;
    }
    for r in &safety.relaxed {
        writeln!(out, "  relaxed: {r}")?;
    }
    let left: Vec<String> = (1..=3)
        .zip(safety.levels_applied)
        .filter(|&(_, applied)| applied)
        .map(|(n, _)| n.to_string())
        .collect();
    if !left.is_empty() {
        writeln!(
            out,
            "  profile {} {} still applied",
            plural(left.len(), "level"),
            left.join(", ")
        )?;
    }
    if report.badge == Badge::Relaxed && (!safety.relaxed.is_empty() || !left.is_empty()) {
        let rebuild = if safety.levels_applied[1] {
            " and `midi-tui rebuild-indexes`"
        } else {
            ""
        };
        writeln!(out, "  run `midi-tui restore-safety`{rebuild} to make it SAFE")?;
    }
    write_unfinished(out, &report.unfinished_runs, flags)
}

/// Each unfinished run: its sources, how far it got, why it stopped, and the command that resumes it.
fn write_unfinished(
    out: &mut dyn Write,
    runs: &[crate::engine::database::runs::UnfinishedRun],
    flags: &str,
) -> std::io::Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nunfinished runs (importing the same sources again resumes each):"
    )?;
    for r in runs {
        let c = &r.counts;
        writeln!(
            out,
            "  run {} {} ({} mode, started {}): {} files read, {} new, {} duplicates, {} failed, {:.1} MB",
            r.id,
            r.status,
            r.mode,
            r.started_at,
            c.seen,
            c.imported,
            c.duplicates,
            c.failed,
            c.bytes as f64 / 1e6
        )?;
        let sources: Vec<String> = r.source_paths().iter().map(|p| p.display().to_string()).collect();
        writeln!(out, "    sources: {}", sources.join(", "))?;
        writeln!(
            out,
            "    stopped: {}",
            r.reason.as_deref().unwrap_or("no reason was recorded")
        )?;
        writeln!(out, "    resume:  {}", r.resume_command(flags))?;
    }
    Ok(())
}
