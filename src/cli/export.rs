//! `midi-tui export QUERY... --out DIR [--manifest FILE.csv|FILE.jsonl] [--all-locations] [--json]`: the matching
//! files written with their original bytes and names, from their folders or archives.
use std::io::Write;

use anyhow::Result;

use super::search::EXIT_USAGE;
use super::{ExportArgs, GlobalArgs};
use crate::engine::human::{bytes, count, counted};
use crate::engine::library::Query;
use crate::engine::library::QueryExport;
use crate::engine::library::export::ExportReport;
use crate::engine::library::splits::SplitOptions;
use crate::engine::run::session::Engine;

/// Run the export; returns the exit code (1 when a location could not be exported).
pub async fn run(global: &GlobalArgs, args: &ExportArgs) -> Result<u8> {
    let line = crate::engine::database::query::join_args(&args.query);
    let query = match Query::parse(&line) {
        Ok(q) => q,
        Err(e) if args.json => anyhow::bail!("{e}"),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    if let Some(m) = &args.manifest {
        let ext = m.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        if !matches!(ext.as_deref(), Some("csv" | "jsonl" | "ndjson")) {
            let msg = format!("the manifest must be named .csv or .jsonl: {}", m.display());
            if args.json {
                anyhow::bail!("{msg}");
            }
            eprintln!("error: {msg}");
            return Ok(EXIT_USAGE);
        }
    }
    let split = SplitOptions {
        spec: args.split.clone(),
        seed: args.seed,
        group_similar: args.group_similar,
        one_per_group: args.one_per_group,
    };
    if split.group_similar.is_some() && !split.active() {
        let msg = "--group-similar groups files for --split or --one-per-group";
        if args.json {
            anyhow::bail!("{msg}");
        }
        eprintln!("error: {msg}");
        return Ok(EXIT_USAGE);
    }
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let t = std::time::Instant::now();
    let done = engine
        .export_query(
            &query,
            args.out.clone(),
            args.all_locations,
            args.manifest.clone(),
            &split,
        )
        .await?;
    let (report, matched) = (&done.report, done.matched);
    let seconds = t.elapsed().as_secs_f64();
    super::print_report(|w| {
        if args.json {
            let mut v = summary_json(report, matched, seconds);
            if split.active() {
                v["splits"] = serde_json::json!(done.splits);
                v["left_out"] = serde_json::json!(done.left_out);
            }
            writeln!(w, "{v}")
        } else {
            write_summary(w, report, matched, &args.out, seconds)?;
            write_splits(w, &done)
        }
    })?;
    Ok(if report.errors.is_empty() { 0 } else { 1 })
}

/// One line per split: its groups, files, notes and hours (and what --one-per-group left out).
fn write_splits(w: &mut dyn Write, done: &QueryExport) -> std::io::Result<()> {
    if done.left_out > 0 {
        writeln!(w, "{} left out: one per group kept", counted(done.left_out, "file"))?;
    }
    for s in done.splits.iter().filter(|s| !s.name.is_empty()) {
        writeln!(
            w,
            "  {:<8} {:>10} {:>10} {:>12} notes {:>9.2} hours",
            s.name,
            counted(s.groups, "group"),
            counted(s.files, "file"),
            count(s.notes.max(0) as usize),
            s.hours
        )?;
    }
    Ok(())
}

fn summary_json(r: &ExportReport, matched: usize, seconds: f64) -> serde_json::Value {
    serde_json::json!({
        "status": if r.errors.is_empty() { "done" } else { "failed" },
        "matched": matched,
        "written": r.written(),
        "unchanged": r.unchanged(),
        "renamed": r.renamed,
        "bytes": r.bytes,
        "archives": r.archives,
        "seconds": seconds,
        "errors": r.errors.iter().map(|(l, why)| serde_json::json!({"location": l, "error": why})).collect::<Vec<_>>(),
        "error": (!r.errors.is_empty())
            .then(|| format!("{} could not be exported", counted(r.errors.len(), "location"))),
    })
}

fn write_summary(
    w: &mut dyn Write,
    r: &ExportReport,
    matched: usize,
    out: &std::path::Path,
    seconds: f64,
) -> std::io::Result<()> {
    writeln!(
        w,
        "{} matched; {} written into {} ({}, {} read once each) in {seconds:.1} s, {} already there, {} renamed \
         to avoid overwriting",
        counted(matched, "file"),
        count(r.written()),
        out.display(),
        bytes(r.bytes),
        counted(r.archives, "archive"),
        count(r.unchanged()),
        count(r.renamed)
    )?;
    if !r.errors.is_empty() {
        writeln!(w, "errors {}:", count(r.errors.len()))?;
        for (location, why) in &r.errors {
            writeln!(w, "  {location}: {why}")?;
        }
    }
    Ok(())
}
