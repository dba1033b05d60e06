//! The archive section of `midi-tui bench`: the same generated files as a folder and packed in every format, the
//! importer's dry-run and normal rates beside the command-line decompressor on the same file, in the same run.
//!
//! The **two-core limit** of an archive is the rate of a two-core machine that first decompresses the whole archive
//! with the command-line tool at two threads (`xz -T2 -dc`, `lbzip2 -n 2 -dc`) and then imports the decompressed
//! files as a folder: `files / (tool seconds at two threads + the folder's own --dry-run seconds)`, both measured in
//! this run on these files. An importer that overlaps decompression with parsing can beat it; one that decodes on
//! a single thread cannot reach it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Measured, mark, measure, median};
use crate::database;
use gencorpus::{ArchiveKind, pack_folder};

/// One packing of the files, measured.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveRow {
    /// `folder`, a format name (`tar.xz`, `zip-lzma`, ...) or `many-zip` (one zip per top-level collection).
    pub format: String,
    /// Bytes on disk of the packing (all zips together for many-zip).
    pub packed_bytes: u64,
    pub dry_run_files_per_s: f64,
    pub normal_files_per_s: f64,
    /// The importer's own seconds (from its summary) of the dry-run.
    pub dry_run_seconds: f64,
    pub peak_mb: f64,
    /// The command-line decompressor, as run (output to /dev/null); empty when none is installed.
    pub tool: String,
    /// Its wall seconds (median), when it ran and succeeded.
    pub tool_seconds: Option<f64>,
    /// Its wall seconds at two threads (xz and bzip2 only): the decompressor half of the two-core limit.
    pub tool_two_thread_seconds: Option<f64>,
    /// files / tool seconds: what the decompressor alone would allow.
    pub tool_files_per_s: Option<f64>,
    /// The two-core limit (see the module documentation), for multi-block tar.xz and tar.bz2.
    pub two_core_limit_files_per_s: Option<f64>,
    /// dry_run_files_per_s / two_core_limit_files_per_s.
    pub dry_run_share_of_two_core_limit: Option<f64>,
    /// normal_files_per_s / the folder's normal_files_per_s.
    pub normal_share_of_folder: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveSection {
    pub files: u64,
    pub bytes: u64,
    pub rows: Vec<ArchiveRow>,
}

/// How one packing is made and read back by the command line.
struct Packing {
    format: &'static str,
    kind: Option<ArchiveKind>,
    /// The decompressor at its default threads, and at two threads for the two-core limit.
    tool: Option<(Vec<&'static str>, Option<Vec<&'static str>>)>,
}

/// The packings measured, in table order.
fn packings() -> Vec<Packing> {
    let p = |format, kind, tool: &[&'static str], two: Option<&[&'static str]>| Packing {
        format,
        kind: Some(kind),
        tool: Some((tool.to_vec(), two.map(<[_]>::to_vec))),
    };
    let sevenz = if which("7zz") { "7zz" } else { "7z" };
    vec![
        p("zip", ArchiveKind::Zip, &["unzip", "-p"], None),
        Packing {
            format: "many-zip",
            kind: Some(ArchiveKind::Zip),
            tool: Some((vec!["unzip", "-p"], None)),
        },
        p("zip-stored", ArchiveKind::ZipStored, &["unzip", "-p"], None),
        p("zip-bzip2", ArchiveKind::ZipBzip2, &["unzip", "-p"], None),
        p("zip-lzma", ArchiveKind::ZipLzma, &[sevenz, "x", "-so"], None),
        p("zip-zstd", ArchiveKind::ZipZstd, &[sevenz, "x", "-so"], None),
        p("7z", ArchiveKind::SevenZ, &[sevenz, "x", "-so"], None),
        p("tar", ArchiveKind::Tar, &["tar", "-xOf"], None),
        p("tar.gz", ArchiveKind::TarGz, &["pigz", "-dc"], None),
        p(
            "tar.bz2",
            ArchiveKind::TarBz2,
            &["lbzip2", "-dc"],
            Some(&["lbzip2", "-n", "2", "-dc"]),
        ),
        p(
            "tar.xz",
            ArchiveKind::TarXz,
            &["xz", "-T0", "-dc"],
            Some(&["xz", "-T2", "-dc"]),
        ),
        p("tar.zst", ArchiveKind::TarZst, &["zstd", "-dc"], None),
        p("tar.lz4", ArchiveKind::TarLz4, &["lz4", "-dc"], None),
    ]
}

fn which(tool: &str) -> bool {
    Command::new("which")
        .arg(tool)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The packing of `folder` for `p` under `out`: one archive file, or a folder of zips for many-zip. Made once and
/// reused by later benches (a `.complete` marker says it was finished).
fn pack(folder: &Path, out: &Path, p: &Packing) -> Result<Vec<PathBuf>> {
    let dir = out.join(p.format);
    let kind = p.kind.context("packing without a kind")?;
    let mut made = Vec::new();
    if p.format == "many-zip" {
        let mut collections: Vec<PathBuf> = std::fs::read_dir(folder)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        collections.sort();
        for c in collections {
            let name = c.file_name().context("collection name")?.to_string_lossy().into_owned();
            made.push(dir.join(format!("{name}.zip")));
        }
        if !dir.join(".complete").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            for z in &made {
                let name = z.file_stem().context("zip name")?;
                pack_folder(&folder.join(name), z, kind)?;
            }
        }
    } else {
        made.push(dir.join(format!("pack.{}", kind.extension())));
        if !dir.join(".complete").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            pack_folder(folder, &made[0], kind)?;
        }
    }
    std::fs::write(dir.join(".complete"), b"")?;
    Ok(made)
}

/// Wall seconds of `tool` over every file of `files` (one process each), output thrown away; `None` if it is not
/// installed or fails.
fn time_tool(tool: &[&str], files: &[PathBuf]) -> Option<f64> {
    let (exe, args) = tool.split_first()?;
    let t = Instant::now();
    for f in files {
        let ok = Command::new(exe)
            .args(args)
            .arg(f)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    Some(t.elapsed().as_secs_f64())
}

/// Medians of the importer's runs on one source.
struct Rate {
    files_per_s: f64,
    seconds: f64,
    seen: u64,
    peak_mb: f64,
}

/// The importer on `src`, `repeat` times, each into an empty library.
async fn import_rate(exe: &Path, data_dir: &Path, url: &str, src: &Path, args: &[&str], repeat: usize) -> Result<Rate> {
    let mut runs: Vec<Measured> = Vec::new();
    for _ in 0..repeat {
        database::bench::recreate_library(url).await?;
        let (exe, data_dir) = (exe.to_path_buf(), data_dir.to_path_buf());
        let src = src.to_str().context("path is not UTF-8")?.to_string();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        runs.push(tokio::task::spawn_blocking(move || measure(&exe, &data_dir, &args, &src)).await??);
    }
    let secs = |m: &Measured| m.json["seconds"].as_f64().unwrap_or(f64::MAX);
    let seen = |m: &Measured| m.json["seen"].as_u64().unwrap_or(0);
    Ok(Rate {
        files_per_s: median(runs.iter().map(|m| seen(m) as f64 / secs(m)).collect()),
        seconds: median(runs.iter().map(secs).collect()),
        seen: runs.iter().map(seen).max().unwrap_or(0),
        peak_mb: runs.iter().map(|m| m.peak_mb).fold(0.0, f64::max),
    })
}

/// Median wall seconds of `repeat` runs of the tool (blocking work, off the async workers).
async fn tool_seconds(tool: &[&'static str], files: &[PathBuf], repeat: usize) -> Result<Option<f64>> {
    let (tool, files) = (tool.to_vec(), files.to_vec());
    Ok(tokio::task::spawn_blocking(move || {
        let runs: Option<Vec<f64>> = (0..repeat).map(|_| time_tool(&tool, &files)).collect();
        runs.map(median)
    })
    .await?)
}

/// The whole section: `folder` is the generated corpus; packings are written under `work`.
pub async fn run(
    exe: &Path,
    data_dir: &Path,
    url: &str,
    folder: &Path,
    work: &Path,
    repeat: usize,
    only: &[String],
) -> Result<ArchiveSection> {
    let all = packings();
    if let Some(unknown) = only.iter().find(|f| !all.iter().any(|p| p.format == f.as_str())) {
        let names: Vec<&str> = all.iter().map(|p| p.format).collect();
        anyhow::bail!("unknown archive packing {unknown:?} (one of {})", names.join(", "));
    }
    let dry = import_rate(exe, data_dir, url, folder, &["--dry-run"], repeat).await?;
    let normal = import_rate(exe, data_dir, url, folder, &["--mode", "normal"], repeat).await?;
    let (files, folder_secs, folder_normal) = (dry.seen, dry.seconds, normal.files_per_s);
    let bytes = dir_bytes(folder);
    let mut rows = vec![ArchiveRow {
        format: "folder".into(),
        packed_bytes: bytes,
        dry_run_files_per_s: dry.files_per_s,
        normal_files_per_s: normal.files_per_s,
        dry_run_seconds: dry.seconds,
        peak_mb: dry.peak_mb.max(normal.peak_mb),
        tool: String::new(),
        tool_seconds: None,
        tool_two_thread_seconds: None,
        tool_files_per_s: None,
        two_core_limit_files_per_s: None,
        dry_run_share_of_two_core_limit: None,
        normal_share_of_folder: 1.0,
    }];
    log_row(&rows[0]);
    for p in all
        .into_iter()
        .filter(|p| only.is_empty() || only.iter().any(|f| f == p.format))
    {
        let made = {
            let (folder, work) = (folder.to_path_buf(), work.to_path_buf());
            eprintln!(
                "bench: packing {} as {}",
                crate::engine::human::counted(files, "file"),
                p.format
            );
            tokio::task::spawn_blocking(move || pack(&folder, &work, &p).map(|m| (m, p))).await??
        };
        let (made, p) = made;
        // many-zip is imported as the folder of zips; every other packing as its one file.
        let src = if made.len() == 1 && p.format != "many-zip" {
            made[0].clone()
        } else {
            work.join(p.format)
        };
        let dry = import_rate(exe, data_dir, url, &src, &["--dry-run"], repeat).await?;
        let normal = import_rate(exe, data_dir, url, &src, &["--mode", "normal"], repeat).await?;
        let (tool, two) = p.tool.clone().unwrap_or_default();
        let tool_secs = tool_seconds(&tool, &made, repeat).await?;
        let two_secs = match &two {
            Some(t) => tool_seconds(t, &made, repeat).await?,
            None => None,
        };
        let limit = two_secs.map(|s| files as f64 / (s + folder_secs).max(1e-9));
        let row = ArchiveRow {
            format: p.format.into(),
            packed_bytes: made.iter().map(|m| std::fs::metadata(m).map_or(0, |x| x.len())).sum(),
            dry_run_files_per_s: dry.files_per_s,
            normal_files_per_s: normal.files_per_s,
            dry_run_seconds: dry.seconds,
            peak_mb: dry.peak_mb.max(normal.peak_mb),
            tool: tool.join(" "),
            tool_seconds: tool_secs,
            tool_two_thread_seconds: two_secs,
            tool_files_per_s: tool_secs.map(|s| files as f64 / s.max(1e-9)),
            two_core_limit_files_per_s: limit,
            dry_run_share_of_two_core_limit: limit.map(|l| dry.files_per_s / l.max(1e-9)),
            normal_share_of_folder: normal.files_per_s / folder_normal.max(1e-9),
        };
        log_row(&row);
        rows.push(row);
    }
    Ok(ArchiveSection { files, bytes, rows })
}

fn log_row(r: &ArchiveRow) {
    eprintln!(
        "bench: archive {:<10} dry-run {:>7.0} files/s  normal {:>7.0} files/s  {} {}",
        r.format,
        r.dry_run_files_per_s,
        r.normal_files_per_s,
        r.tool,
        r.tool_seconds.map(|s| format!("{s:.2} s")).unwrap_or_default()
    );
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => total += e.metadata().map_or(0, |m| m.len()),
                Err(_) => {}
            }
        }
    }
    total
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// The table and the targets of issue 11, as Markdown.
pub fn markdown(s: &ArchiveSection) -> String {
    let mut out = format!(
        "\n### Archives ({} files, {:.0} MB, the same files in every packing)\n\n\
         | packing | MB on disk | dry-run files/s | normal files/s | normal vs folder | decompressor | decompressor s | decompressor files/s | decompressor s at 2 threads | two-core limit files/s | dry-run vs two-core limit |\n\
         |---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n",
        s.files,
        s.bytes as f64 / 1e6
    );
    for r in &s.rows {
        out += &format!(
            "| {} | {:.1} | {:.0} | {:.0} | {:.0}% | {} | {} | {} | {} | {} | {} |\n",
            r.format,
            r.packed_bytes as f64 / 1e6,
            r.dry_run_files_per_s,
            r.normal_files_per_s,
            r.normal_share_of_folder * 100.0,
            if r.tool.is_empty() {
                "-".to_string()
            } else {
                format!("`{}`", r.tool)
            },
            opt(r.tool_seconds, |v| format!("{v:.2}")),
            opt(r.tool_files_per_s, |v| format!("{v:.0}")),
            opt(r.tool_two_thread_seconds, |v| format!("{v:.2}")),
            opt(r.two_core_limit_files_per_s, |v| format!("{v:.0}")),
            opt(r.dry_run_share_of_two_core_limit, |v| format!("{:.0}%", v * 100.0)),
        );
    }
    out += "\nTwo-core limit: files / (seconds of the decompressor at two threads, `xz -T2 -dc` or `lbzip2 -n 2 -dc`, \
            + seconds of the folder's own `--dry-run`), both measured in this run. Rates are files seen over the \
            importer's own seconds; normal imports go into an empty database each time.\n";
    out += &targets(s);
    out
}

fn targets(s: &ArchiveSection) -> String {
    let row = |f: &str| s.rows.iter().find(|r| r.format == f);
    let mut out = String::from("\n| archive target | measured | |\n|---|---|---|\n");
    for f in ["tar.xz", "tar.bz2"] {
        if let Some(r) = row(f)
            && let (Some(share), Some(limit)) = (r.dry_run_share_of_two_core_limit, r.two_core_limit_files_per_s)
        {
            out += &format!(
                "| Multi-block {f} dry-run at least 90% of the two-core limit | {:.1}% ({:.0} of {limit:.0} files/s) | {} |\n",
                share * 100.0,
                r.dry_run_files_per_s,
                mark(share >= 0.9)
            );
        }
    }
    for (f, what) in [("many-zip", "Many-zip"), ("zip", "Single-zip")] {
        if let (Some(r), Some(folder)) = (row(f), row("folder")) {
            out += &format!(
                "| {what} import at least 80% of the folder import's rate (normal mode) | {:.1}% ({:.0} of {:.0} files/s) | {} |\n",
                r.normal_share_of_folder * 100.0,
                r.normal_files_per_s,
                folder.normal_files_per_s,
                mark(r.normal_share_of_folder >= 0.8)
            );
        }
    }
    out
}
