//! `midi-tui features [--json]`: the similarity features of files imported before them, computed from their stored
//! locations, with progress on stderr.

use anyhow::Result;

use super::GlobalArgs;
use crate::engine::run::session::Engine;

pub async fn run(global: &GlobalArgs, json: bool) -> Result<()> {
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let t = std::time::Instant::now();
    let report = engine
        .backfill_features(|r| {
            if !json {
                eprint!("\r{}", r.progress());
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
        } else {
            writeln!(w, "{}", report.outcome(seconds))
        }
    })?;
    Ok(())
}
