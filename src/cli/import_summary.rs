//! An import's closing summary: the lines printed after a run, and the reports of `--workers` importers summed
//! into one through a typed reading of each importer's `--json` report.
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::engine::human::{count, counted};
use crate::engine::kinds::{RunMode, RunStatus};
use crate::engine::metrics::Counts;
use crate::engine::pipeline::{RunSummary, SharedRunReport};
use crate::engine::run::plan::ImportReport;

/// What the summary needs of one importer's `--json` report; a missing field reads as zero or absent, and a report
/// without a status as failed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImporterReport {
    pub status: Option<String>,
    pub error: Option<String>,
    pub mode: Option<String>,
    /// seen, imported, duplicates, skipped, failed, bytes: the run's counters, as `import --json` spells them.
    #[serde(flatten)]
    pub counts: Counts,
    pub errors_by_kind: HashMap<String, u64>,
    pub ignored: Option<Value>,
    pub shared_run: Option<ImporterShare>,
}

/// One importer's part of the shared run.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImporterShare {
    pub id: Option<i64>,
    pub units_taken: u64,
    pub restored: bool,
}

impl ImporterReport {
    /// Read a report (fields of other types than expected read as absent, so one odd field loses no count).
    pub fn from_json(v: &Value) -> Self {
        serde_json::from_value(v.clone()).unwrap_or_else(|_| {
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            Self {
                status: v["status"].as_str().map(String::from),
                error: v["error"].as_str().map(String::from),
                mode: v["mode"].as_str().map(String::from),
                counts: Counts {
                    seen: n("seen"),
                    imported: n("imported"),
                    duplicates: n("duplicates"),
                    skipped: n("skipped"),
                    failed: n("failed"),
                    bytes: n("bytes"),
                },
                errors_by_kind: serde_json::from_value(v["errors_by_kind"].clone()).unwrap_or_default(),
                ignored: Some(v["ignored"].clone()),
                shared_run: serde_json::from_value(v["shared_run"].clone()).ok(),
            }
        })
    }

    /// The units of the shared run this importer took.
    pub fn units_taken(&self) -> u64 {
        self.shared_run.as_ref().map_or(0, |s| s.units_taken)
    }

    fn status(&self) -> RunStatus {
        match self.status.as_deref() {
            Some("done") => RunStatus::Done,
            Some("interrupted") => RunStatus::Interrupted,
            _ => RunStatus::Failed,
        }
    }
}

/// The importers' reports as one: counts summed, the worst status, the first error, and this process's wall time.
pub fn sum(reports: &[ImporterReport], wall: f64) -> ImportReport {
    let counts: Counts = reports.iter().map(|r| r.counts).sum();
    let mut errors_by_kind: HashMap<String, u64> = HashMap::new();
    for r in reports {
        for (k, c) in &r.errors_by_kind {
            *errors_by_kind.entry(k.clone()).or_default() += c;
        }
    }
    let status = reports
        .iter()
        .map(ImporterReport::status)
        .find(|s| *s != RunStatus::Done)
        .unwrap_or(RunStatus::Done);
    let error = reports.iter().find_map(|r| r.error.clone());
    let first = reports.iter().find(|r| r.mode.is_some());
    let mode = [RunMode::Normal, RunMode::Fast, RunMode::Ludicrous]
        .into_iter()
        .find(|m| first.is_some_and(|r| r.mode.as_deref() == Some(m.as_str())))
        .unwrap_or(RunMode::Normal);
    let shared = reports.iter().find_map(|r| r.shared_run.as_ref()?.id);
    let run = RunSummary {
        run_id: None,
        status,
        mode,
        counts,
        seconds: wall,
        // Files finished over the wall time of all importers together (the one definition, metrics::Figures).
        files_per_s: counts.done() as f64 / wall.max(1e-9),
        mb_per_s: counts.bytes as f64 / wall.max(1e-9) / 1e6,
        phase_busy_seconds: HashMap::new(),
        errors_by_kind,
        log_path: None,
        write_seconds: None,
        ignored: first
            .and_then(|r| r.ignored.clone())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        shared_run: shared.map(|id| SharedRunReport {
            id,
            joined: false,
            units_taken: reports.iter().map(ImporterReport::units_taken).sum(),
            restored: reports
                .iter()
                .any(|r| r.shared_run.as_ref().is_some_and(|s| s.restored)),
        }),
        final_snapshot: None,
    };
    ImportReport {
        run,
        // Each importer's profile steps are in its own report (`importers`).
        steps: Vec::new(),
        wall_seconds: wall,
        error,
        mode_reason: None,
        mode_estimates: None,
        peak_rss_mb: None,
        fixed_seconds: Vec::new(),
    }
}

pub fn print_summary(r: &ImportReport) {
    let s = &r.run;
    println!("import {}: {}", s.status, s.figures_text());
    if !s.errors_by_kind.is_empty() {
        let mut kinds: Vec<_> = s.errors_by_kind.iter().collect();
        kinds.sort();
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {}", count(**n))).collect();
        println!("  errors: {}", list.join(", "));
    }
    if let Some(line) = crate::engine::source::ignored_summary(&s.ignored) {
        println!("  {line}");
    }
    for step in &r.steps {
        println!("  {}: {:.1} s", step.name, step.seconds);
        for l in &step.lines {
            println!("    {l}");
        }
    }
    if let Some(sr) = &s.shared_run {
        println!(
            "  shared run {}: {} it, took {}{}",
            sr.id,
            if sr.joined { "joined" } else { "started" },
            counted(sr.units_taken, "unit"),
            if sr.restored { ", restored the profile" } else { "" }
        );
    }
    if !r.steps.is_empty() {
        println!("  wall time with profile steps: {:.1} s", r.wall_seconds);
    }
    if let Some(p) = &s.log_path {
        println!("  log: {}", p.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_sum_counts_and_keep_the_worst_status() {
        let a = serde_json::json!({"status": "done", "mode": "normal", "seen": 3, "imported": 2, "failed": 1,
            "errors_by_kind": {"no_header": 1}, "shared_run": {"id": 7, "units_taken": 2, "restored": false}});
        let b = serde_json::json!({"status": "failed", "error": "boom", "seen": 4, "imported": 4,
            "errors_by_kind": {"no_header": 2}, "shared_run": {"id": 7, "units_taken": 3, "restored": true}});
        let r = sum(&[ImporterReport::from_json(&a), ImporterReport::from_json(&b)], 2.0);
        assert_eq!(
            (r.run.counts.seen, r.run.counts.imported, r.run.counts.failed),
            (7, 6, 1)
        );
        assert_eq!(r.run.status, RunStatus::Failed);
        assert_eq!(r.error.as_deref(), Some("boom"));
        assert_eq!(r.run.errors_by_kind["no_header"], 3);
        let s = r.run.shared_run.unwrap();
        assert_eq!((s.id, s.units_taken, s.restored), (7, 5, true));
    }

    /// `--workers` reads each importer's `import --json` back: the counters it printed are the counters it reads,
    /// both through the run summary's own `Counts` (the fallback reading of an odd report too).
    #[test]
    fn an_importers_printed_counts_read_back_whole() {
        let mut run = sum(&[], 1.0).run;
        run.counts = Counts {
            seen: 11,
            imported: 7,
            duplicates: 2,
            skipped: 1,
            failed: 1,
            bytes: 12_345,
        };
        let mut v = serde_json::to_value(&run).unwrap();
        for k in ["seen", "imported", "duplicates", "skipped", "failed", "bytes"] {
            assert!(v[k].is_u64(), "{k} at the top level: {v}");
        }
        assert_eq!(ImporterReport::from_json(&v).counts, run.counts);
        v["mode"] = serde_json::json!(5);
        assert_eq!(ImporterReport::from_json(&v).counts, run.counts, "the fallback reading");
        assert_eq!(sum(&[ImporterReport::from_json(&v)], 1.0).run.counts.done(), 11);
    }

    #[test]
    fn a_report_without_a_shared_run_reads_whole() {
        let v = serde_json::json!({"status": "done", "mode": "fast", "seen": 5, "imported": 5, "bytes": 10,
            "shared_run": null, "error": null, "errors_by_kind": {}});
        let r = ImporterReport::from_json(&v);
        assert_eq!(
            (r.counts.seen, r.counts.imported, r.counts.bytes, r.units_taken()),
            (5, 5, 10, 0)
        );
        assert_eq!(r.mode.as_deref(), Some("fast"));
        let s = sum(&[r], 1.0);
        assert_eq!(s.run.mode, RunMode::Fast);
        assert!(s.run.shared_run.is_none());
    }
}
