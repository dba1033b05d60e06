//! `midi-tui extract ARCHIVE... --out DIR [--jobs N]`: parallel, structure-keeping, escape-refusing extraction.
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::engine::human::{bytes, count, counted};
use crate::engine::unpack;

pub fn run(archives: &[PathBuf], out: &Path, jobs: Option<usize>) -> Result<bool> {
    for a in archives {
        if !a.is_file() {
            anyhow::bail!("archive {} does not exist or is not a file", a.display());
        }
    }
    let jobs = jobs.unwrap_or_else(crate::engine::machine::cores).max(1);
    let t = std::time::Instant::now();
    let r = unpack::extract(archives, out, jobs)?;
    let seconds = t.elapsed().as_secs_f64();
    super::print_report(|w| {
        writeln!(
            w,
            "extracted {} into {} in {seconds:.1} s: {} written ({}), {} unchanged, {} renamed to avoid overwriting",
            counted(r.archives, "archive"),
            out.display(),
            counted(r.files_written, "file"),
            bytes(r.bytes),
            count(r.files_unchanged),
            count(r.renamed)
        )?;
        for (title, list) in [("skipped", &r.skipped), ("errors", &r.errors)] {
            if !list.is_empty() {
                writeln!(w, "{title} {}:", count(list.len()))?;
                for (what, why) in list {
                    writeln!(w, "  {what}: {why}")?;
                }
            }
        }
        Ok(())
    })?;
    Ok(r.errors.is_empty())
}
