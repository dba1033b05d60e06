//! `midi-tui extract ARCHIVE... --out DIR [--jobs N]`: parallel, structure-keeping, escape-refusing extraction.
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::engine::extract;

pub fn run(archives: &[PathBuf], out: &Path, jobs: Option<usize>) -> Result<bool> {
    for a in archives {
        if !a.is_file() {
            anyhow::bail!("archive {} does not exist or is not a file", a.display());
        }
    }
    let jobs = jobs.unwrap_or_else(crate::engine::machine::cores).max(1);
    let t = std::time::Instant::now();
    let r = extract::extract(archives, out, jobs)?;
    println!(
        "extracted {} archive(s) into {} in {:.1} s: {} files written ({:.1} MB), {} unchanged, {} renamed to avoid \
         overwriting",
        r.archives,
        out.display(),
        t.elapsed().as_secs_f64(),
        r.files_written,
        r.bytes as f64 / 1e6,
        r.files_unchanged,
        r.renamed
    );
    if !r.skipped.is_empty() {
        println!("skipped {}:", r.skipped.len());
        for (what, why) in &r.skipped {
            println!("  {what}: {why}");
        }
    }
    if !r.errors.is_empty() {
        println!("errors {}:", r.errors.len());
        for (what, why) in &r.errors {
            println!("  {what}: {why}");
        }
    }
    Ok(r.errors.is_empty())
}
