//! `midi-tui gen-corpus DIR --files N [--seed S] [--archives] [--archive-formats F,...]`: a deterministic synthetic
//! library for benchmarks.
use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;

use crate::engine::human::{bytes, count, counted};
use gencorpus::{GenOptions, generate};

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
        "generated {} ({} unique, {} duplicates, {} broken, {}{}) in {} in {:.1} s",
        counted(report.files_written, "file"),
        count(report.unique_contents),
        count(report.duplicates),
        count(report.broken),
        bytes(report.bytes),
        if report.archives.is_empty() {
            String::new()
        } else {
            format!(", {}", counted(report.archives.len(), "archive"))
        },
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

impl super::GenCorpusArgs {
    /// The generator's options from the flags (`--archive-formats` implies `--archives`).
    pub fn options(&self) -> GenOptions {
        GenOptions {
            files: self.files,
            seed: self.seed,
            archives: self.archives || !self.archive_formats.is_empty(),
            formats: self.archive_formats.clone(),
            duplicate_share: self.duplicates.unwrap_or(GenOptions::default().duplicate_share),
            link_duplicates: self.link_duplicates,
        }
    }
}
