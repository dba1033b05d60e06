//! `midi-tui gen-corpus DIR --files N [--seed S] [--archives] [--archive-formats F,...]`: a deterministic synthetic
//! library for benchmarks.
use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;

use crate::engine::gencorpus::{GenOptions, generate};

pub fn run(dir: &Path, opts: &GenOptions) -> Result<()> {
    let t = std::time::Instant::now();
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| indicatif::ProgressBar::new(opts.files));
    let report = generate(dir, opts, &mut |n| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    println!(
        "generated {} files ({} unique, {} duplicates, {} broken, {:.1} MB{}) in {} in {:.1} s",
        report.files_written,
        report.unique_contents,
        report.duplicates,
        report.broken,
        report.bytes as f64 / 1e6,
        if report.archives.is_empty() {
            String::new()
        } else {
            format!(", {} archives", report.archives.len())
        },
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
