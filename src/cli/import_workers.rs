//! `midi-tui import --workers N`: N importer processes of this binary share one run; their reports are summed.
use std::ffi::OsString;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::Value;

use super::ImportArgs;
use super::import_summary::{ImporterReport, print_summary, sum};
use crate::engine::human::counted;
use crate::engine::run::plan::ImportReport;

/// This process's arguments for a child importer: without `--workers`, with `--json` (the child's report is read
/// from its stdout) and with `--yes` when the user confirmed the risks here.
fn child_args(args: impl Iterator<Item = OsString>, confirmed: bool) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        if a == "--workers" {
            skip_value = true;
            continue;
        }
        if a.to_str().is_some_and(|s| s.starts_with("--workers=")) {
            continue;
        }
        out.push(a);
    }
    // Options go right after the subcommand, before the sources (a `--` before them would otherwise swallow it).
    let at = out.iter().position(|a| a == "import").map_or(0, |i| i + 1);
    let has = |out: &[OsString], flag: &str| out.iter().any(|a| a == flag);
    if !has(&out, "--json") {
        out.insert(at, "--json".into());
    }
    if confirmed && !has(&out, "--yes") {
        out.insert(at, "--yes".into());
    }
    out
}

/// The arguments with any `--mode X` / `--mode=X` replaced by `--mode mode` right after the subcommand.
fn with_mode(args: Vec<OsString>, mode: &str) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
        } else if a == "--mode" {
            skip_value = true;
        } else if !a.to_str().is_some_and(|s| s.starts_with("--mode=")) {
            out.push(a);
        }
    }
    let at = out.iter().position(|a| a == "import").map_or(0, |i| i + 1);
    out.insert(at, mode.into());
    out.insert(at, "--mode".into());
    out
}

/// Start `n` importers and sum their reports; `mode` replaces `--mode auto` with the mode chosen here.
pub async fn run(
    args: &ImportArgs,
    n: usize,
    confirmed: bool,
    mode: Option<&str>,
    mode_reason: &str,
) -> Result<ImportReport> {
    let exe = std::env::current_exe().context("cannot find this program to start importers")?;
    let mut child_args = child_args(std::env::args_os().skip(1), confirmed);
    if let Some(m) = mode {
        child_args = with_mode(child_args, m);
    }
    let started = Instant::now();
    let mut children = Vec::new();
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    for _ in 0..n {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&child_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        // The importers stop with this process, even when it is SIGKILLed: each gets SIGTERM, which cancels its run
        // cleanly (flushed, `interrupted`; the last one out of the run restores its profile). The signal follows the
        // thread that forked, and this runs on the main thread (the runtime's `block_on`), which lives as long as
        // the process.
        // SAFETY: between fork and exec only async-signal-safe calls are made (prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent died before the line above: no signal will come.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the parent importer is gone"));
                }
                Ok(())
            });
        }
        let child = cmd.spawn().context("cannot start an importer process")?;
        children.push(child);
    }
    let (mut reports, mut typed) = (Vec::new(), Vec::new());
    for c in children {
        let out = c.wait_with_output().await.context("an importer process")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| {
            serde_json::json!({"status": "failed", "error": format!("importer exited with {} without a report", out.status)})
        });
        typed.push(ImporterReport::from_json(&v));
        reports.push(v);
    }
    let mut report = sum(&typed, started.elapsed().as_secs_f64());
    report.mode_reason = Some(mode_reason.to_string());
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["workers"] = n.into();
        v["importers"] = Value::Array(reports);
        println!("{v}");
    } else {
        print_summary(&report);
        for (i, r) in typed.iter().enumerate() {
            println!(
                "  importer {}: {}, {}{}",
                i + 1,
                counted(r.counts.seen, "file"),
                counted(r.units_taken(), "unit"),
                r.error.as_deref().map(|e| format!(", error: {e}")).unwrap_or_default()
            );
        }
        if let Some(e) = &report.error {
            eprintln!("error: {e}");
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_get_the_mode_chosen_here() {
        let args = ["import", "--mode", "auto", "--workers", "2", "/m"].map(OsString::from);
        let out = with_mode(child_args(args.into_iter(), false), "fast");
        assert_eq!(out, ["import", "--mode", "fast", "--json", "/m"].map(OsString::from));
        let args = ["import", "--mode=auto", "/m"].map(OsString::from);
        let out = with_mode(args.to_vec(), "normal");
        assert_eq!(out, ["import", "--mode", "normal", "/m"].map(OsString::from));
    }

    #[test]
    fn children_get_json_and_no_workers() {
        let args = ["import", "--workers", "3", "--mode", "fast", "/music"].map(OsString::from);
        let out = child_args(args.into_iter(), true);
        assert_eq!(
            out,
            ["import", "--yes", "--json", "--mode", "fast", "/music"].map(OsString::from)
        );
        let args = ["--database-url", "x", "import", "--workers=2", "/m"].map(OsString::from);
        let out = child_args(args.into_iter(), false);
        assert_eq!(
            out,
            ["--database-url", "x", "import", "--json", "/m"].map(OsString::from)
        );
    }
}
