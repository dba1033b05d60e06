//! The backup section: what the library backup taken before ludicrous (`import --backup`) costs, size and seconds,
//! at each library size asked for, in each pg_dump form, and what putting it back (`restore-backup`) costs.
//!
//! The libraries are built as the search section's (a generated corpus imported, grown by copies). Each form
//! dumps the tables the backup holds, data only, as the product does; the fastest form is what the product uses.
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::database::{self, Cluster};
use crate::engine::run::backup::client_program;

/// One dump of one library.
#[derive(Debug, Clone, Serialize)]
pub struct DumpRow {
    pub files: i64,
    pub form: String,
    pub seconds: f64,
    pub bytes: u64,
}

/// One restore of the product's form into the emptied tables.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreRow {
    pub files: i64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub dumps: Vec<DumpRow>,
    pub restores: Vec<RestoreRow>,
    pub jobs: usize,
}

/// The forms measured: (label, pg_dump arguments). The last one is the product's.
fn forms(jobs: usize) -> Vec<(String, Vec<String>)> {
    vec![
        ("custom (-Fc), gzip, 1 job".into(), vec!["--format=custom".into()]),
        (
            format!("directory (-Fd), gzip, {jobs} jobs"),
            vec!["--format=directory".into(), format!("--jobs={jobs}")],
        ),
        (
            format!("directory (-Fd), no compression, {jobs} jobs (the product's)"),
            vec![
                "--format=directory".into(),
                "--compress=0".into(),
                format!("--jobs={jobs}"),
            ],
        ),
    ]
}

fn bytes_under(p: &Path) -> u64 {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| bytes_under(&e.path()))
            .sum(),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

fn run_tool(mut cmd: Command) -> Result<f64> {
    let t0 = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(t0.elapsed().as_secs_f64())
}

pub async fn run(
    exe: &Path,
    work: &Path,
    data_dir: &Path,
    c: &Cluster,
    corpus: &Path,
    sizes: &[u64],
) -> Result<BackupReport> {
    let url = c.url();
    let jobs = crate::engine::machine::cores().clamp(1, 8);
    let mut report = BackupReport {
        dumps: Vec::new(),
        restores: Vec::new(),
        jobs,
    };
    for &size in sizes {
        super::search::build(exe, data_dir, &url, corpus, size).await?;
        let files = database::bench::library_files(&url).await?;
        let mut last = None;
        for (i, (label, args)) in forms(jobs).into_iter().enumerate() {
            let dest = work.join(format!("backup-{size}-{i}"));
            let _ = std::fs::remove_dir_all(&dest);
            let _ = std::fs::remove_file(&dest);
            let mut cmd = Command::new(client_program("pg_dump"));
            cmd.arg("--dbname")
                .arg(&url)
                .args(&args)
                .args(["--data-only", "--no-sync"]);
            for t in database::backup::TABLES {
                cmd.arg(format!("--table={t}"));
            }
            cmd.arg("--file").arg(&dest);
            let seconds = tokio::task::spawn_blocking(move || run_tool(cmd)).await??;
            let bytes = bytes_under(&dest);
            eprintln!(
                "bench: backup of {files} files, {label}: {seconds:.1} s, {:.0} MB",
                bytes as f64 / 1e6
            );
            report.dumps.push(DumpRow {
                files,
                form: label,
                seconds,
                bytes,
            });
            if let Some(prev) = last.replace(dest.clone()) {
                let _ = std::fs::remove_dir_all(&prev);
                let _ = std::fs::remove_file(&prev);
            }
        }
        if let Some(dest) = last {
            let pool = database::connect(&url, 1).await?;
            database::backup::empty_tables(&pool).await?;
            pool.close().await;
            let mut cmd = Command::new(client_program("pg_restore"));
            cmd.arg("--dbname")
                .arg(&url)
                .args(["--data-only", "--disable-triggers"])
                .arg(format!("--jobs={jobs}"))
                .arg(&dest);
            let seconds = tokio::task::spawn_blocking(move || run_tool(cmd)).await??;
            eprintln!("bench: restore of {files} files: {seconds:.1} s");
            report.restores.push(RestoreRow { files, seconds });
            let _ = std::fs::remove_dir_all(&dest);
        }
    }
    Ok(report)
}

pub fn markdown(r: &BackupReport) -> String {
    let mut out = String::from(
        "What `import --backup` costs before ludicrous (pg_dump of files, musical_metadata, file_locations, \
         archive_progress and search_rows, data only, into a folder outside the cluster), and what \
         `restore-backup` costs (pg_restore into the emptied tables, triggers off).\n\n\
         | library files | form | seconds | MB | bytes per file | s per million files |\n|---:|---|---:|---:|---:|---:|\n",
    );
    for d in &r.dumps {
        let per_million = d.seconds / (d.files.max(1) as f64 / 1e6);
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} | {:.0} | {:.0} |\n",
            d.files,
            d.form,
            d.seconds,
            d.bytes as f64 / 1e6,
            d.bytes as f64 / d.files.max(1) as f64,
            per_million
        ));
    }
    out.push('\n');
    for x in &r.restores {
        out.push_str(&format!(
            "Restore (`restore-backup`, {} jobs) of {} files: {:.1} s.\n",
            r.jobs, x.files, x.seconds
        ));
    }
    out.push_str(
        "\nThe restores ran with every secondary index in place (the built library has them); after a crash in \
         ludicrous mode level 2 has dropped them, so `restore-backup` loads the rows without them.\n",
    );
    out
}
