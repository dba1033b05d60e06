//! `midi-tui features [--json]`: the similarity features of files imported before them, computed from their stored
//! locations, with progress on stderr.

use anyhow::Result;

use super::GlobalArgs;
use crate::engine::human::{count, counted};
use crate::engine::run::session::Engine;

pub async fn run(global: &GlobalArgs, json: bool) -> Result<()> {
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let t = std::time::Instant::now();
    let report = engine
        .backfill_features(|r| {
            if !json {
                eprint!(
                    "\rfeatures: {} of {} files read",
                    count(r.done() as usize),
                    count(r.stale as usize)
                );
            }
        })
        .await?;
    if !json && report.stale > 0 {
        eprintln!();
    }
    let seconds = t.elapsed().as_secs_f64();
    super::print_report(|w| {
        if json {
            let mut v = serde_json::json!(report);
            v["seconds"] = serde_json::json!(seconds);
            writeln!(w, "{v}")
        } else if report.stale == 0 {
            writeln!(w, "every file with notes has its similarity features")
        } else {
            writeln!(
                w,
                "{} computed in {seconds:.1} s; {} without features (SMPTE timing); {} whose locations no longer \
                 hold the imported bytes (left without features: import them again or restore the files)",
                counted(report.computed as usize, "file"),
                count(report.without_features as usize),
                count(report.sources_gone as usize),
            )
        }
    })?;
    Ok(())
}
