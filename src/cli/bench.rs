//! `midi-tui bench`: every mode side by side on one corpus, plus the limits, on a throwaway managed cluster.
//!
//! `--archives` adds the archive section (see [`archives`]), `--search` the library search section (see [`search`]).
//!
//! Each measurement runs this same binary as a child process (`import --json ...`), so that peak memory is the
//! child's own (`wait4` rusage) and nothing of one run lingers in the next. Each run imports into an empty
//! database. Medians over `--repeat` runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::GlobalArgs;
use crate::database::{self, Cluster, cluster};
use crate::engine::human::counted;

pub mod analysis_speed;
pub mod archives;
pub mod backup;
pub mod cold;
pub mod components;
pub mod killed;
pub mod listen;
pub mod peer;
pub mod scale;
pub mod search;
pub mod sections;
pub mod server_cpu;

use sections::{Section, Stamp};

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub files_per_s: f64,
    pub mb_per_s: f64,
    /// files/s as a share of the parse limit (`--dry-run`) measured in the same bench.
    pub share_of_parse_limit: f64,
    /// Wall seconds, including applying the profile, restoring safety and rebuilding indexes.
    pub wall_seconds: f64,
    /// Seconds of the restore + rebuild steps alone.
    pub restore_rebuild_seconds: f64,
    pub peak_mb: f64,
    /// CPU seconds (user + system) of the tool's own process: what the console costs shows here, not in
    /// the noise of a shared machine's wall clock.
    pub cpu_seconds: f64,
    /// CPU seconds of the PostgreSQL server's processes over the whole run, per 1,000 files seen (`None`: no
    /// server seen). A dry run's is the idle server's.
    pub server_cpu_s_per_1k_files: Option<f64>,
    pub runs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorpusResult {
    pub corpus: String,
    pub files: u64,
    pub bytes: u64,
    pub rows: Vec<Row>,
    /// What the musical fingerprints add to the parse on this corpus ([`fingerprint_cost_line`]); measured on the
    /// corpora given with `--corpus` only (the generated one would be read into memory whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint_cost: Option<String>,
    /// The analysis against a plain midly parse of the same files ([`parse_limit_line`]); with `--corpus` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_limit: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub machine: Machine,
    pub corpora: Vec<CorpusResult>,
    /// The archive section, when asked for (`--archives`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archives: Option<archives::ArchiveSection>,
    /// The library search section, when asked for (`--search`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<search::SearchReport>,
    /// The scale section, when asked for (`--scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<scale::ScaleReport>,
    /// The append case, when asked for (`--append`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append: Option<scale::AppendReport>,
    /// The cold-read section, when asked for (`--cold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold: Option<cold::ColdReport>,
    /// The peer section, when asked for (`--peer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<peer::PeerReport>,
    /// The write-components section, when asked for (`--components`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<components::ComponentsReport>,
    /// The listening section, when asked for (`--listen DIR`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<listen::ListenReport>,
    /// The backup section, when asked for (`--backup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<backup::BackupReport>,
    /// The modes tables are shared-run rows (`--importers`).
    #[serde(skip)]
    pub importers: bool,
    /// When each section's measurement started ("modes", "archives", "search", "scale", "append").
    #[serde(skip)]
    pub stamps: std::collections::HashMap<&'static str, Stamp>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gb: f64,
    pub cpu: String,
    pub disk: String,
    pub postgres: String,
}

struct Measured {
    json: serde_json::Value,
    peak_mb: f64,
    cpu: f64,
    wall: f64,
    /// The server's CPU seconds over the run (see [`server_cpu`]).
    server_cpu: Option<f64>,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Files of the generated corpus of the modes table (0: none).
    pub files: u64,
    pub corpora: Vec<PathBuf>,
    pub repeat: usize,
    /// Files of the archive section's generated corpus (0: no archive section).
    pub archive_files: u64,
    /// Packings of the archive section to measure (empty: every one).
    pub archive_formats: Vec<String>,
    /// Files of the library the search section measures (0: no search section).
    pub search_files: u64,
    /// Where the search section's library is kept and reused (`None`: on the throwaway cluster).
    pub search_library: Option<PathBuf>,
    /// Numbers of local importers sharing one run; non-empty: these rows instead of the modes.
    pub importers: Vec<u32>,
    /// The scale section (`--scale N`).
    pub scale: Option<scale::ScaleArgs>,
    /// The append case (`--append BASE,ADD`).
    pub append: Option<(u64, u64)>,
    /// The cold-read section (`--cold [DIR]`).
    pub cold: Option<cold::ColdSource>,
    /// The peer section on generated corpora of these sizes, the `--corpus` folders and theirs (`--peer`).
    pub peer: Option<Vec<u64>>,
    /// The write-components section on a generated corpus of this many files (`--components`).
    pub components: Option<u64>,
    /// The listening section on this folder's MIDI files (`--listen DIR`).
    pub listen: Option<PathBuf>,
    /// The backup section's library sizes (`--backup 100000,1000000`; empty: none).
    pub backup: Vec<u64>,
}

impl super::BenchFlags {
    /// The sections to run from the flags: the modes table of 100,000 files unless another section is asked for
    /// without `--files`; the archive section only with `--archives` or `--archive-formats`.
    pub fn to_args(&self) -> anyhow::Result<BenchArgs> {
        let others = self.scale.is_some()
            || self.append.is_some()
            || self.cold.is_some()
            || self.peer.is_some()
            || self.components.is_some()
            || self.listen.is_some()
            || !self.backup.is_empty();
        let scale_modes = self
            .scale_modes
            .iter()
            .map(|m| match m {
                super::ModeArg::Fast => Ok(crate::engine::profile::Mode::Fast),
                super::ModeArg::Ludicrous => Ok(crate::engine::profile::Mode::Ludicrous),
                super::ModeArg::Normal => Ok(crate::engine::profile::Mode::Normal),
                _ => Err(anyhow::anyhow!("--scale-modes takes normal, fast or ludicrous")),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let archives = self.archives || !self.archive_formats.is_empty();
        Ok(BenchArgs {
            files: self.files.unwrap_or(if others { 0 } else { 100_000 }),
            corpora: self.corpus.clone(),
            repeat: self.repeat,
            archive_files: if archives { self.archive_files } else { 0 },
            archive_formats: self.archive_formats.clone(),
            search_files: self.search.unwrap_or(0),
            search_library: self.search_library.clone(),
            importers: self.importers.clone(),
            scale: self.scale.map(|files| scale::ScaleArgs {
                files,
                duplicates: self.duplicates,
                modes: scale_modes,
                cold: !self.scale_hot_only,
            }),
            append: self.append,
            cold: self.cold.as_ref().map(|dir| match dir {
                Some(dir) => cold::ColdSource::Folder(dir.clone()),
                None => cold::ColdSource::Generated(100_000),
            }),
            peer: self.peer.as_ref().map(|sizes| {
                if sizes.is_empty() {
                    vec![20_000, 100_000]
                } else {
                    sizes.clone()
                }
            }),
            components: self.components,
            listen: self.listen.clone(),
            backup: self.backup.clone(),
        })
    }
}

pub async fn run(global: &GlobalArgs, args: &BenchArgs, json: bool, out: Option<&Path>) -> Result<()> {
    let exe = std::env::current_exe()?;
    let work = global.data_dir().join("bench");
    let (files, archive_files, repeat) = (args.files, args.archive_files, args.repeat.max(1));
    let search_files = args.search_files;
    // Generating the corpus and stopping a leftover cluster block for long: off the async workers.
    let p = tokio::task::spawn_blocking({
        let work = work.clone();
        move || prepare(&work, files, archive_files, search_files)
    })
    .await??;
    let (mut list, data_dir) = (p.list, p.data_dir);
    list.extend(args.corpora.iter().cloned());
    let mut stamps = std::collections::HashMap::new();
    // Before the cluster starts: the cold reads want the machine as quiet as it gets.
    let cold_result = match &args.cold {
        Some(source) => {
            stamps.insert("cold", Stamp::now());
            Some(run_cold(&exe, &work, source, repeat).await)
        }
        None => None,
    };
    let listen_result = match &args.listen {
        Some(dir) => {
            stamps.insert("listen", Stamp::now());
            let (dir, font) = (dir.clone(), global.soundfont.clone());
            Some(tokio::task::spawn_blocking(move || listen::measure(&dir, font.as_deref())).await?)
        }
        None => None,
    };
    let mut c = Cluster::new(&data_dir);
    tokio::task::spawn_blocking({
        let mut c = c.clone();
        move || c.ensure_started()
    })
    .await??;
    stamps.insert("modes", Stamp::now());
    let result = bench_all(&exe, &data_dir, &c.url(), &list, repeat, &args.importers).await;
    let archive_result = match (&result, &p.archive_corpus) {
        (Ok(_), Some(folder)) => {
            let packs = work.join(format!("archives-{archive_files}"));
            let only = &args.archive_formats;
            stamps.insert("archives", Stamp::now());
            Some(archives::run(&exe, &data_dir, &c.url(), folder, &packs, repeat, only).await)
        }
        _ => None,
    };
    if p.search_corpus.is_some() {
        stamps.insert("search", Stamp::now());
    }
    let search_result = match (&result, &p.search_corpus) {
        (Ok(_), Some(base)) => Some(match &args.search_library {
            Some(dir) => search::run_kept(&exe, dir, base, search_files).await,
            None => search::run(&exe, &data_dir, &mut c, base, search_files, false).await,
        }),
        _ => None,
    };
    let scale_result = match (&result, &args.scale) {
        (Ok(_), Some(sc)) => {
            stamps.insert("scale", Stamp::now());
            Some(scale::run(&exe, &work, &data_dir, &c, sc, repeat).await)
        }
        _ => None,
    };
    let append_result = match (&result, args.append) {
        (Ok(_), Some(sizes)) if scale_result.as_ref().is_none_or(|r| r.is_ok()) => {
            stamps.insert("append", Stamp::now());
            Some(scale::run_append(&exe, &work, &data_dir, &mut c, sizes, repeat).await)
        }
        _ => None,
    };
    let peer_result = match (&result, &args.peer) {
        (Ok(_), Some(sizes)) => {
            stamps.insert("peer", Stamp::now());
            Some(run_peer(&exe, &work, &data_dir, &c.url(), sizes, &args.corpora, repeat).await)
        }
        _ => None,
    };
    let components_result = match (&result, args.components) {
        (Ok(_), Some(files)) => {
            stamps.insert("components", Stamp::now());
            let w = work.clone();
            let corpus = tokio::task::spawn_blocking(move || generated_corpus(&w, files)).await??;
            let label = corpus_label(&corpus);
            Some(components::run(&exe, &data_dir, &c.url(), &corpus, label, repeat).await)
        }
        _ => None,
    };
    let backup_result = match (&result, args.backup.iter().max()) {
        (Ok(_), Some(&largest)) => {
            stamps.insert("backup", Stamp::now());
            let (w, files) = (work.clone(), (largest / 2).clamp(1, search::BASE_FILES));
            let corpus = tokio::task::spawn_blocking(move || generated_corpus(&w, files)).await??;
            Some(backup::run(&exe, &work, &data_dir, &c, &corpus, &args.backup).await)
        }
        _ => None,
    };
    let machine = tokio::task::spawn_blocking(move || {
        let _ = c.stop();
        cluster::remove_cluster_files(&data_dir);
        machine(&work)
    })
    .await?;
    let report = BenchReport {
        machine,
        corpora: result?,
        archives: archive_result.transpose()?,
        search: search_result.transpose()?,
        scale: scale_result.transpose()?,
        append: append_result.transpose()?,
        cold: cold_result.transpose()?,
        peer: peer_result.transpose()?,
        components: components_result.transpose()?,
        listen: listen_result.transpose()?,
        backup: backup_result.transpose()?,
        importers: !args.importers.is_empty(),
        stamps,
    };
    write_report(&report, json, out)
}

/// What the sections run on: the modes table's corpora, the archive and search sections' corpora, and the
/// throwaway cluster's data directory.
struct Prepared {
    list: Vec<PathBuf>,
    archive_corpus: Option<PathBuf>,
    search_corpus: Option<PathBuf>,
    data_dir: PathBuf,
}

/// The generated corpora the sections ask for, and a clean place for the throwaway cluster. Blocks (generating a
/// corpus and stopping a leftover cluster take long).
fn prepare(work: &Path, files: u64, archive_files: u64, search_files: u64) -> Result<Prepared> {
    std::fs::create_dir_all(work)?;
    let list = if files > 0 {
        vec![generated_corpus(work, files)?]
    } else {
        Vec::new()
    };
    let archive_corpus = if archive_files > 0 {
        Some(generated_corpus(work, archive_files)?)
    } else {
        None
    };
    let search_corpus = if search_files > 0 {
        Some(generated_corpus(work, (search_files / 2).clamp(1, search::BASE_FILES))?)
    } else {
        None
    };
    // One throwaway cluster for every run; removed at the end.
    let data_dir = work.join("cluster");
    let _ = Cluster::new(&data_dir).stop();
    cluster::remove_cluster_files(&data_dir);
    Ok(Prepared {
        list,
        archive_corpus,
        search_corpus,
        data_dir,
    })
}

/// The report on stdout (Markdown, or JSON), and its sections merged into `out`.
fn write_report(report: &BenchReport, json: bool, out: Option<&Path>) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", markdown(report));
    }
    if let Some(out) = out {
        let old = match std::fs::read_to_string(out) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", out.display())),
        };
        std::fs::write(out, markdown_document(&old, report))?;
        eprintln!("bench: wrote {}", out.display());
    }
    Ok(())
}

/// The peer section's corpora: generated ones of each size, each given folder and each of its folders holding
/// MIDI files directly (the shared corpus's collections), then the peer against our modes on each.
async fn run_peer(
    exe: &Path,
    work: &Path,
    data_dir: &Path,
    url: &str,
    sizes: &[u64],
    folders: &[PathBuf],
    repeat: usize,
) -> Result<peer::PeerReport> {
    let mut corpora = Vec::new();
    for &n in sizes {
        let w = work.to_path_buf();
        let dir = tokio::task::spawn_blocking(move || generated_corpus(&w, n)).await??;
        corpora.push((format!("generated, {n} files (30% duplicates)"), dir, true));
    }
    for dir in folders {
        let label = corpus_label(dir);
        let short = label.split(" (").next().unwrap_or(&label).to_string();
        corpora.push((short.clone(), dir.clone(), false));
        let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for sub in subs {
            let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            // The peer reads plain MIDI files only: a folder of archives alone would compare our import with an
            // importer that found nothing.
            if !peer::has_plain_midi(&sub) {
                eprintln!("bench: peer: `{name}/` holds no plain MIDI file the peer would read: not compared");
                continue;
            }
            corpora.push((format!("{short}: `{name}/`"), sub, false));
        }
    }
    peer::run(exe, work, data_dir, url, &corpora, repeat).await
}

/// The cold-read section on the generated corpus or a given folder (blocking work, off the async workers).
async fn run_cold(exe: &Path, work: &Path, source: &cold::ColdSource, repeat: usize) -> Result<cold::ColdReport> {
    let (exe, work, source) = (exe.to_path_buf(), work.to_path_buf(), source.clone());
    tokio::task::spawn_blocking(move || {
        let corpus = match source {
            cold::ColdSource::Generated(files) => generated_corpus(&work, files)?,
            cold::ColdSource::Folder(dir) => dir,
        };
        cold::measure(&exe, &work, &corpus, corpus_label(&corpus), repeat)
    })
    .await?
}

/// What a corpus is, for the tables: the generated one by how it was made, the shared real corpus by its reference
/// output, another by its folder's name.
fn corpus_label(corpus: &Path) -> String {
    let name = corpus.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.strip_prefix("corpus-").and_then(|n| n.parse::<u64>().ok()) {
        Some(n) if corpus.parent().is_some_and(|p| p.ends_with("bench")) => {
            format!("generated corpus (`gen-corpus --files {n} --seed 1`)")
        }
        // A folder is named by what it holds, not by where it sits on the machine that ran the bench.
        _ if corpus.join("reference.jsonl").is_file() => {
            "shared real corpus (real-world MIDI files, broken ones included, with the peer's reference output)".into()
        }
        _ => format!("folder `{name}`"),
    }
}

/// The generated corpus of `files` files under `work`, made once and reused by later benches.
fn generated_corpus(work: &Path, files: u64) -> Result<PathBuf> {
    generated_corpus_with(work, files, 1, None)
}

/// A generated corpus of `files` files under `work` from `seed`, with `duplicates` as the generator's duplicate
/// share and the duplicates written as hard links when it is given; made once and reused by later benches.
pub(crate) fn generated_corpus_with(work: &Path, files: u64, seed: u64, duplicates: Option<f64>) -> Result<PathBuf> {
    let mut name = format!("corpus-{files}");
    if seed != 1 {
        name += &format!("-seed{seed}");
    }
    if let Some(d) = duplicates {
        name += &format!("-dup{:.0}-linked", d * 100.0);
    }
    let dir = work.join(name);
    if !dir.join(".complete").exists() {
        eprintln!("bench: generating {} in {}", counted(files, "file"), dir.display());
        let _ = std::fs::remove_dir_all(&dir);
        let defaults = gencorpus::GenOptions::default();
        gencorpus::generate(
            &dir,
            &gencorpus::GenOptions {
                files,
                seed,
                duplicate_share: duplicates.unwrap_or(defaults.duplicate_share),
                link_duplicates: duplicates.is_some(),
                ..defaults
            },
            &mut |_| {},
        )?;
        std::fs::write(dir.join(".complete"), b"")?;
    }
    Ok(dir)
}

async fn bench_all(
    exe: &Path,
    data_dir: &Path,
    url: &str,
    corpora: &[PathBuf],
    repeat: usize,
    importers: &[u32],
) -> Result<Vec<CorpusResult>> {
    let mut out = Vec::new();
    for corpus in corpora {
        let src = corpus.to_str().context("corpus path is not UTF-8")?;
        let mut rows = Vec::new();
        let mut files = 0u64;
        let mut bytes = 0u64;
        let plans = plans(importers);
        let mut parse_limit = 0.0;
        for (name, args) in plans {
            let mut runs = Vec::new();
            for _ in 0..repeat {
                database::bench::recreate_library(url).await?;
                // The child runs for seconds to minutes; waiting for it blocks, so not on an async worker.
                let (exe, data_dir, src) = (exe.to_path_buf(), data_dir.to_path_buf(), src.to_string());
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                let m = tokio::task::spawn_blocking(move || measure(&exe, &data_dir, &args, &src)).await??;
                runs.push(m);
            }
            let pick = |f: &dyn Fn(&Measured) -> f64| median(runs.iter().map(f).collect());
            let first = &runs[0].json;
            files = files.max(first["seen"].as_u64().unwrap_or(0));
            bytes = bytes.max(first["bytes"].as_u64().unwrap_or(0));
            let fps = if name.starts_with("limit: raw write") {
                pick(&|m| m.json["seen"].as_f64().unwrap_or(0.0) / m.json["write_seconds"].as_f64().unwrap_or(f64::MAX))
            } else {
                pick(&|m| m.json["seen"].as_f64().unwrap_or(0.0) / m.json["seconds"].as_f64().unwrap_or(f64::MAX))
            };
            let mbs = pick(&|m| m.json["mb_per_s"].as_f64().unwrap_or(0.0));
            if name.starts_with("limit: parse") {
                parse_limit = fps;
            }
            let restore = pick(&|m| restore_rebuild_secs(&m.json));
            let row = Row {
                name,
                files_per_s: fps,
                mb_per_s: mbs,
                share_of_parse_limit: if parse_limit > 0.0 { fps / parse_limit } else { 0.0 },
                wall_seconds: pick(&|m| m.wall),
                restore_rebuild_seconds: restore,
                peak_mb: pick(&|m| m.peak_mb),
                cpu_seconds: pick(&|m| m.cpu),
                server_cpu_s_per_1k_files: server_cpu_per_1k(&runs),
                runs: runs.len(),
            };
            eprintln!(
                "bench: {:<45} {:>9.0} files/s  wall {:>7.1} s  peak {:>6.0} MB",
                row.name, row.files_per_s, row.wall_seconds, row.peak_mb
            );
            rows.push(row);
        }
        if let Some(row) = killed_row(exe, data_dir, url, src, importers, &mut files).await? {
            rows.push(row);
        }
        // Rows measured before the parse limit get their share now.
        for r in &mut rows {
            r.share_of_parse_limit = if parse_limit > 0.0 {
                r.files_per_s / parse_limit
            } else {
                0.0
            };
        }
        let label = corpus_label(corpus);
        let (fingerprint_cost, parse_limit) = if label.starts_with("generated corpus") {
            (None, None)
        } else {
            let dir = corpus.clone();
            tokio::task::spawn_blocking(move || {
                (
                    fingerprint_cost_line(&dir, FINGERPRINT_COST_PAIRS),
                    parse_limit_line(&dir, FINGERPRINT_COST_PAIRS),
                )
            })
            .await?
        };
        out.push(CorpusResult {
            corpus: label,
            files,
            bytes,
            rows,
            fingerprint_cost,
            parse_limit,
        });
    }
    Ok(out)
}

/// With `--importers` naming 2 or more: one more shared run of that many importers with the first killed (SIGKILL)
/// after 2 s, its library compared with a single importer's import of the same source (files, locations, errors).
async fn killed_row(
    exe: &Path,
    data_dir: &Path,
    url: &str,
    src: &str,
    importers: &[u32],
    files: &mut u64,
) -> Result<Option<Row>> {
    let Some(&n) = importers.iter().filter(|&&n| n >= 2).max() else {
        return Ok(None);
    };
    database::bench::recreate_library(url).await?;
    let one = {
        let (exe, data_dir, src) = (exe.to_path_buf(), data_dir.to_path_buf(), src.to_string());
        let args: Vec<String> = ["--mode", "normal"].iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || measure(&exe, &data_dir, &args, &src)).await??
    };
    let want = database::bench::library_counts(url).await?;
    database::bench::recreate_library(url).await?;
    let (exe2, data_dir2, src2) = (exe.to_path_buf(), data_dir.to_path_buf(), src.to_string());
    let k = tokio::task::spawn_blocking(move || {
        killed::run(&exe2, &data_dir2, &src2, n, std::time::Duration::from_secs(2))
    })
    .await??;
    let got = database::bench::library_counts(url).await?;
    *files = (*files).max(want.0 as u64);
    let verdict = if got == want {
        "library equal to one import's".to_string()
    } else {
        format!("library NOT equal: {got:?} against one import's {want:?} (files, locations, errors)")
    };
    let seen = one.json["seen"].as_f64().unwrap_or(0.0);
    eprintln!(
        "bench: killed importer: {:.1} s against one importer's {:.1} s ({:.2}x); {verdict}",
        k.wall_seconds,
        one.wall,
        k.wall_seconds / one.wall.max(1e-9)
    );
    Ok(Some(Row {
        name: format!(
            "normal, {n} importers, the first killed at 2 s: {:.2}x one importer's {:.1} s; {verdict}",
            k.wall_seconds / one.wall.max(1e-9),
            one.wall
        ),
        files_per_s: seen / k.wall_seconds.max(1e-9),
        mb_per_s: 0.0,
        share_of_parse_limit: 0.0,
        wall_seconds: k.wall_seconds,
        restore_rebuild_seconds: 0.0,
        peak_mb: 0.0,
        cpu_seconds: 0.0,
        server_cpu_s_per_1k_files: None,
        runs: 1,
    }))
}

/// The rows of the table: the limits and every mode, or, with `importers`, the parse limit and one shared run per
/// number of local importers (`import --workers N`: its wall time covers every importer from start to end).
fn plans(importers: &[u32]) -> Vec<(String, Vec<String>)> {
    let owned = |name: &str, args: &[&str]| (name.to_string(), args.iter().map(|a| a.to_string()).collect());
    if !importers.is_empty() {
        let mut rows = vec![owned("limit: parse (--dry-run)", &["--dry-run"])];
        for n in importers {
            let name = format!("normal, {} (one shared run)", counted(*n, "importer"));
            rows.push(owned(&name, &["--mode", "normal", "--workers", &n.to_string()]));
        }
        return rows;
    }
    vec![
        owned("limit: read + hash", &["--dry-run", "--limit", "read-hash"]),
        owned("limit: parse (--dry-run)", &["--dry-run"]),
        owned(
            "limit: raw write (ludicrous, pre-built rows)",
            &["--mode", "ludicrous", "--yes", "--limit", "write-only"],
        ),
        owned("normal", &["--mode", "normal"]),
        owned("fast (+ restore, rebuild)", &["--mode", "fast"]),
        owned("ludicrous (+ restore, rebuild)", &["--mode", "ludicrous", "--yes"]),
        owned(
            "ludicrous, console drawing",
            &["--mode", "ludicrous", "--yes", "--console-bench"],
        ),
    ]
}

/// Seconds of an import's restore and rebuild steps, from its `--json` summary.
fn restore_rebuild_secs(json: &serde_json::Value) -> f64 {
    json["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|x| {
                    x["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("restore") || n.starts_with("rebuild"))
                })
                .map(|x| x["seconds"].as_f64().unwrap_or(0.0))
                .sum()
        })
        .unwrap_or(0.0)
}

fn measure(exe: &Path, data_dir: &Path, args: &[String], src: &str) -> Result<Measured> {
    let t = std::time::Instant::now();
    let mut cmd = Command::new(exe);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("import")
        .arg("--json")
        .args(args)
        .arg(src);
    cmd.env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let server = server_cpu::Sampler::start(data_dir);
    let mut child = cmd.spawn()?;
    let mut stdout = child.stdout.take().context("child stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let (status, rusage) = wait4(child.id() as i32)?;
    let wall = t.elapsed().as_secs_f64();
    let server_cpu = server.finish();
    let text = reader.join().unwrap_or_default();
    if status != 0 {
        bail!("bench run {args:?} failed (exit status {status}): {text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(text.trim()).with_context(|| format!("bench run {args:?} printed no JSON: {text}"))?;
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(rusage.ru_utime) + secs(rusage.ru_stime);
    // The child's own peak: rusage's maxrss keeps the RSS of the process it was forked from (this bench).
    let peak_mb = json["peak_rss_mb"].as_f64().unwrap_or(rusage.ru_maxrss as f64 / 1024.0);
    Ok(Measured {
        json,
        peak_mb,
        cpu,
        wall,
        server_cpu,
    })
}

/// The median server CPU per 1,000 files seen, over the runs that saw a server.
fn server_cpu_per_1k(runs: &[Measured]) -> Option<f64> {
    let per_1k: Vec<f64> = runs
        .iter()
        .filter_map(|m| Some(m.server_cpu? * 1000.0 / m.json["seen"].as_f64().filter(|&n| n > 0.0)?))
        .collect();
    (!per_1k.is_empty()).then(|| median(per_1k))
}

fn wait4(pid: i32) -> Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r < 0 {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok((code, usage))
}

/// Drop the operating system's page cache after a sync (`drop_caches` discards clean pages only); the reason when
/// this user may not drop it.
fn drop_page_cache() -> Result<(), String> {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n").map_err(|e| format!("writing /proc/sys/vm/drop_caches: {e}"))
}

/// A limit's verdict in a bench table.
fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn machine(work: &Path) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let disk = Command::new("df")
        .arg("-h")
        .arg(work)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let postgres = Command::new("postgres")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    Machine {
        cores: crate::engine::machine::cores(),
        memory_gb: crate::engine::machine::total_memory_bytes() as f64 / (1u64 << 30) as f64,
        cpu,
        disk,
        postgres,
    }
}

pub fn markdown(r: &BenchReport) -> String {
    let mut s = modes_markdown(r);
    if let Some(a) = &r.archives {
        s += &archives::markdown(a);
    }
    if let Some(q) = &r.search {
        s += &search::markdown(q);
    }
    if let Some(sc) = &r.scale {
        s += &scale::markdown(sc, &r.machine);
    }
    if let Some(ap) = &r.append {
        s += &scale::append_markdown(ap, &r.machine);
    }
    if let Some(c) = &r.cold {
        s += &cold::markdown(c, &r.machine);
    }
    if let Some(p) = &r.peer {
        s += &peer::markdown(p);
    }
    if let Some(c) = &r.components {
        s += &components::markdown(c);
    }
    if let Some(l) = &r.listen {
        s += &listen::markdown(l);
    }
    s
}

fn modes_markdown(r: &BenchReport) -> String {
    r.corpora.iter().map(corpus_markdown).collect()
}

/// Pairs of passes (without and with the fingerprints) behind the fingerprint cost: two runs of 9 passes each way
/// on the shared 2-core machine once said +18% and +23.6%; the median of more pairs' ratios moves less.
const FINGERPRINT_COST_PAIRS: usize = 21;

fn corpus_markdown(c: &CorpusResult) -> String {
    let mut s = String::new();
    {
        s.push_str(&format!(
            "\n### {} ({} files, {:.0} MB)\n\n| run | files/s | MB/s | share of parse limit | wall s (incl. restore + rebuild) | restore + rebuild s | peak MB | CPU s | server CPU s per 1k files |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            c.corpus, c.files, c.bytes as f64 / 1e6
        ));
        for row in &c.rows {
            s.push_str(&format!(
                "| {} | {:.0} | {:.1} | {:.0}% | {:.1} | {:.1} | {:.0} | {:.1} | {} |\n",
                row.name,
                row.files_per_s,
                row.mb_per_s,
                row.share_of_parse_limit * 100.0,
                row.wall_seconds,
                row.restore_rebuild_seconds.max(0.0),
                row.peak_mb,
                row.cpu_seconds,
                row.server_cpu_s_per_1k_files
                    .map_or("-".to_string(), |v| format!("{v:.3}"))
            ));
        }
    }
    for line in [&c.fingerprint_cost, &c.parse_limit].into_iter().flatten() {
        s.push_str(&format!("\n{line}\n"));
    }
    s
}

/// The targets of the 2-core machine, checked against the first corpus (the generated one).
fn targets(c: &CorpusResult, cores: usize) -> String {
    let row = |prefix: &str| c.rows.iter().find(|r| r.name.starts_with(prefix));
    let (Some(parse), Some(normal), Some(fast), Some(lud), Some(console)) = (
        row("limit: parse"),
        row("normal"),
        row("fast"),
        row("ludicrous ("),
        row("ludicrous, console"),
    ) else {
        return String::new();
    };
    let files = c.files as f64;
    let wall_rate = |r: &Row| files / r.wall_seconds.max(1e-9);
    let peak = c.rows.iter().map(|r| r.peak_mb).fold(0.0, f64::max);
    let console_slower = 1.0 - console.files_per_s / lud.files_per_s.max(1e-9);
    let console_cpu = console.cpu_seconds / lud.cpu_seconds.max(1e-9) - 1.0;
    let mut s =
        String::from("\n### Targets (2 cores, generated corpus, medians)\n\n| target | measured | |\n|---|---|---|\n");
    s += &format!(
        "| Ludicrous at least 15,000 files/s | {:.0} files/s | {} |\n",
        lud.files_per_s,
        mark(lud.files_per_s >= 15_000.0)
    );
    s += &format!(
        "| Ludicrous at least 80% of the `--dry-run` limit | {:.0}% of {:.0} files/s | {} |\n",
        lud.share_of_parse_limit * 100.0,
        parse.files_per_s,
        mark(lud.share_of_parse_limit >= 0.8)
    );
    s += &format!(
        "| Fast at least 90% of Ludicrous, rebuild included (files / wall s) | {:.0} vs {:.0} files/s ({:.0}%) | {} |\n",
        wall_rate(fast),
        wall_rate(lud),
        wall_rate(fast) / wall_rate(lud).max(1e-9) * 100.0,
        mark(wall_rate(fast) >= 0.9 * wall_rate(lud))
    );
    s += &format!(
        "| Normal at least 6,000 files/s | {:.0} files/s | {} |\n",
        normal.files_per_s,
        mark(normal.files_per_s >= 6_000.0)
    );
    s += &normal_share_target(normal, parse, files, cores);
    s += &format!(
        "| `--dry-run` at least twice the issue's {:.0} files/s | {:.0} files/s ({:.2}x) | {} |\n",
        DRY_RUN_BASELINE,
        parse.files_per_s,
        parse.files_per_s / DRY_RUN_BASELINE,
        mark(parse.files_per_s >= 2.0 * DRY_RUN_BASELINE)
    );
    s += &format!(
        "| Peak memory at most 300 MB | {peak:.0} MB (largest of all runs) | {} |\n",
        mark(peak <= 300.0)
    );
    s += &format!(
        "| Console at most 3% slower than headless | files/s {:+.1}%, CPU of the tool {:+.1}% against headless | {} |\n",
        -console_slower * 100.0,
        console_cpu * 100.0,
        mark(console_slower <= 0.03 || console_cpu <= 0.03)
    );
    s
}

/// The `--dry-run` rate on the generated corpus when the speed issue was filed: its "twice as fast" is measured
/// against this.
const DRY_RUN_BASELINE: f64 = 22_700.0;

/// Normal's share of the parse limit, with the most the CPU it took allows: tool and server CPU seconds of the run
/// spread over every core (normal restores and rebuilds nothing, so the server's whole run is its import).
fn normal_share_target(normal: &Row, parse: &Row, files: f64, cores: usize) -> String {
    let mark = mark(normal.share_of_parse_limit >= 0.6);
    let ceiling = normal.server_cpu_s_per_1k_files.map(|server| {
        let cpu = normal.cpu_seconds + server * files / 1000.0;
        cores as f64 * files / cpu.max(1e-9) / parse.files_per_s.max(1e-9)
    });
    format!(
        "| Normal at least 60% of the `--dry-run` limit | {:.0}% of {:.0} files/s{} | {mark} |\n",
        normal.share_of_parse_limit * 100.0,
        parse.files_per_s,
        ceiling.map_or(String::new(), |c| format!(
            " (the CPU it took, tool and server, allows at most {:.0}% on {cores} cores)",
            c * 100.0
        ))
    )
}

/// How many importer machines one server feeds, on paper, from the generated corpus's rows of this run.
fn scale_model(c: &CorpusResult, cores: usize) -> String {
    let row = |prefix: &str| c.rows.iter().find(|r| r.name.starts_with(prefix));
    let (Some(parse), Some(raw), Some(normal), Some(fast)) =
        (row("limit: parse"), row("limit: raw write"), row("normal"), row("fast"))
    else {
        return String::new();
    };
    let per_core = parse.files_per_s / cores.max(1) as f64;
    let fed = |limit: f64, k: f64| limit / (per_core * k);
    let mut s = format!(
        "\n### Scale-out on paper (from the generated corpus's rows below)\n\n\
         Parsing runs at about {per_core:.0} files/s per core here (the `--dry-run` row over {cores} cores). One \
         PostgreSQL server takes at most about {raw:.0} files/s (the raw write row: rows pre-built, indexes dropped, \
         tables UNLOGGED, and the server sharing this machine's cores with the writer, so a dedicated server of the \
         same size does somewhat better). With every index live the same server took {normal:.0} files/s (the normal \
         row, parse included), and with the indexes dropped (fast) {fast:.0} files/s.\n\n\
         | importer machines of | fed by one server before writing is the limit (raw write) | with every index live (normal) |\n\
         |---|---:|---:|\n",
        raw = raw.files_per_s,
        normal = normal.files_per_s,
        fast = fast.files_per_s,
    );
    for k in [2.0, 8.0, 32.0] {
        s += &format!(
            "| {k:.0} cores | {:.1} | {:.1} |\n",
            fed(raw.files_per_s, k),
            fed(normal.files_per_s, k)
        );
    }
    s += "\nAt that point the level that helps most is level 2 (drop indexes, the fast mode): it removes the index \
          maintenance that makes up most of the server's work per row (compare the normal and raw write rows); level 3 \
          adds little beyond it here (ludicrous vs fast below). `midi-tui import --workers N` (or importers on other \
          machines with `--database-url`) share one run; `bench --importers 1,2,3` measures it on one machine.\n\n\
          Beyond one server: partition `files`, `musical_metadata` and `file_locations` by hash of the content hash \
          (`files.content_hash`; metadata and locations by their `file_id`'s partition), or distribute them with a \
          distributed PostgreSQL such as Citus: `files` distributed on `content_hash`, `musical_metadata` and \
          `file_locations` co-located with it (which needs `content_hash` carried in both, since Citus distributes on \
          a column of each table), `import_runs`, `shared_runs`, `run_units` and `safety_journal` as reference or \
          coordinator tables. What would have to change: the unique key on `file_locations.path` cannot be enforced \
          across shards unless locations are distributed on the path (then metadata joins cross shards), so the \
          importer would check path uniqueness through the run's units instead; `files.id` (bigserial) becomes a \
          per-shard or UUID key, and the foreign keys must include the distribution column. None of this is packaged \
          here, so it stays on paper.\n";
    s
}

/// The document's sections this bench measured, in the document's fixed order.
pub fn sections(r: &BenchReport) -> Vec<Section> {
    let m = &r.machine;
    let mut out = Vec::new();
    if let Some(stamp) = r.stamps.get("modes")
        && !r.corpora.is_empty()
    {
        out.push(Section::new("header", header(m), stamp));
        if r.importers {
            for c in &r.corpora {
                out.push(Section::new(
                    format!("importers-{}", corpus_slug(c)),
                    corpus_markdown(c),
                    stamp,
                ));
            }
        } else {
            let first = &r.corpora[0];
            let targets = targets(first, m.cores);
            if !targets.is_empty() {
                out.push(Section::new("targets", targets, stamp));
            }
            let model = scale_model(first, m.cores);
            if !model.is_empty() {
                out.push(Section::new("scale-model", model, stamp));
            }
            for c in &r.corpora {
                out.push(Section::new(
                    format!("modes-{}", corpus_slug(c)),
                    corpus_markdown(c),
                    stamp,
                ));
            }
        }
    }
    if let (Some(a), Some(stamp)) = (&r.archives, r.stamps.get("archives")) {
        out.push(Section::new("archives", archives::markdown(a), stamp));
    }
    if let (Some(q), Some(stamp)) = (&r.search, r.stamps.get("search")) {
        out.push(Section::new("search", search::markdown(q), stamp));
    }
    if let (Some(sc), Some(stamp)) = (&r.scale, r.stamps.get("scale")) {
        out.push(Section::new(sc.section_name(), scale::markdown(sc, m), stamp));
    }
    if let (Some(ap), Some(stamp)) = (&r.append, r.stamps.get("append")) {
        out.push(Section::new("append", scale::append_markdown(ap, m), stamp));
    }
    if let (Some(c), Some(stamp)) = (&r.cold, r.stamps.get("cold")) {
        out.push(Section::new("cold", cold::markdown(c, m), stamp));
    }
    if let (Some(p), Some(stamp)) = (&r.peer, r.stamps.get("peer")) {
        out.push(Section::new("peer", peer::markdown(p), stamp));
    }
    if let (Some(c), Some(stamp)) = (&r.components, r.stamps.get("components")) {
        out.push(Section::new("write-components", components::markdown(c), stamp));
    }
    if let (Some(l), Some(stamp)) = (&r.listen, r.stamps.get("listen")) {
        out.push(Section::new("listen", listen::markdown(l), stamp));
    }
    if let (Some(b), Some(stamp)) = (&r.backup, r.stamps.get("backup")) {
        out.push(Section::new("backup", backup::markdown(b), stamp));
    }
    out
}

/// The section name of a corpus's table: `generated` for the bench's own corpus, else its path.
fn corpus_slug(c: &CorpusResult) -> String {
    if c.corpus.starts_with("generated corpus") {
        "generated".into()
    } else {
        sections::slug(&c.corpus)
    }
}

/// The machine, for every section that stands alone.
pub fn machine_line(m: &Machine) -> String {
    format!(
        "Machine: {} cores ({}), {:.0} GiB memory, disk `{}`, {}.",
        m.cores, m.cpu, m.memory_gb, m.disk, m.postgres
    )
}

fn header(m: &Machine) -> String {
    format!(
        "# Benchmarks\n\nRegenerate with (each section below is replaced by a bench that measures it, the others are kept):\n\n```sh\ncargo build --release\ntarget/release/midi-tui bench --files 100000 --corpus ../shared/corpus --archives --archive-files 20000 --search --cold --out BENCHMARKS.md\ntarget/release/midi-tui bench --files 0 --peer --corpus ../shared/corpus --components 20000 --out BENCHMARKS.md\ntarget/release/midi-tui bench --scale 1000000 --repeat 1 --out BENCHMARKS.md\ntarget/release/midi-tui bench --append 1000000,100000 --repeat 1 --out BENCHMARKS.md\ntarget/release/midi-tui bench --scale 4000000 --duplicates 0.7 --scale-modes normal --scale-hot-only --repeat 1 --out BENCHMARKS.md\ntarget/release/midi-tui bench --files 100000 --importers 1,3 --repeat 1 --out BENCHMARKS.md\ntarget/release/midi-tui bench --files 0 --archives --archive-formats tar.bz2,7z --out BENCHMARKS.md\n```\n\n\
         {}\n\n\
         Every figure of the modes tables is the median of the runs shown, all measured in one bench run: each run is a fresh process \
         (`import --json`) importing into an empty database on a throwaway managed cluster, hot cache. `files/s` is \
         files seen over the import's own seconds (for the raw write limit: over the write phase alone); `wall s` \
         adds applying the profile, restoring safety (with the server restarts of level 3) and rebuilding the secondary \
         indexes; `share of parse limit` compares with the `--dry-run` row; `peak MB` and `CPU s` are the tool's \
         own process (rusage), the PostgreSQL server not included; `server CPU s per 1k files` is the server's: its \
         processes' CPU time over the whole run (apply, import, restore, rebuild; from `/proc`: the postmaster with its \
         exited and live children) per 1,000 files seen.\n\n\
         The reference system (shell scripts around PostgreSQL) claims 1,500-2,000 files/s with every safety off, \
         measured about 340 files/s on a real 4.3 M-file run on 8 cores, and imports 9,000 real files from zip \
         archives at about 430-460 files/s on a 2-core machine like this one, in either mode.\n",
        machine_line(m)
    )
}

/// The whole document for `--out`: the file's current text with this bench's sections merged in.
fn markdown_document(old: &str, r: &BenchReport) -> String {
    sections::merge(old, &sections(r))
}

/// The musical fingerprints' cost against the MIDI analysis on a corpus's plain MIDI files (one thread, CPU time,
/// medians of interleaved passes), as one line for the report; `None` for a folder without MIDI files.
pub fn fingerprint_cost_line(corpus: &Path, rounds: usize) -> Option<String> {
    use analysis_speed::{corpus_payloads, measure_cost};
    let payloads = corpus_payloads(corpus);
    if payloads.is_empty() {
        return None;
    }
    let c = measure_cost(&payloads, rounds);
    let fingerprints = format!(
        "musical fingerprints on this corpus's plain MIDI files ({} files): analysis alone {:.1} ms, with fingerprints {:.1} ms: {:+.1}% of the \
         parse (median of {} interleaved pairs' ratios, from {:+.1}% to {:+.1}%; one thread's CPU time)",
        c.files,
        c.parse_seconds * 1e3,
        c.parse_with_fingerprint_seconds * 1e3,
        c.overhead * 100.0,
        c.rounds,
        c.overhead_range.0 * 100.0,
        c.overhead_range.1 * 100.0
    );
    Some(format!("{fingerprints}; {}", similarity_line(&payloads, rounds)))
}

/// What the similarity features add to the analysis (as the fingerprints' cost is measured) and how well `like:`
/// finds variants of the corpus's files (issue 28's quality measure).
fn similarity_line(payloads: &[Vec<u8>], rounds: usize) -> String {
    use crate::engine::midi::variants;
    let c = analysis_speed::measure_feature_cost(payloads, rounds);
    let originals = variants::pick_originals(payloads, 30);
    let q = variants::measure(payloads, &originals);
    let quality = if q.ranks.is_empty() {
        "no file suits variants (3 parts and 200 notes)".to_string()
    } else {
        format!(
            "like: finds the originals of {} variants of {} files with mean reciprocal rank {:.3} ({} outside the top 5)",
            q.ranks.len(),
            originals.len(),
            q.mean_reciprocal_rank,
            q.misses(5).len()
        )
    };
    format!(
        "similarity features {:+.1}% of the analysis (median of {} pairs, {:.1} ms with, {:.1} ms without); {quality}",
        c.overhead * 100.0,
        c.rounds,
        c.with_seconds * 1e3,
        c.without_seconds * 1e3
    )
}

/// One line for a corpus section: the analysis against its limit, a plain midly parse of the same in-memory files
/// (every event of every track, nothing analysed), as files/s and MB/s of one core.
pub fn parse_limit_line(corpus: &Path, rounds: usize) -> Option<String> {
    use analysis_speed::corpus_payloads;
    let payloads = corpus_payloads(corpus);
    if payloads.is_empty() {
        return None;
    }
    let l = analysis_speed::measure_parse_limit(&payloads, rounds);
    let rate = |s: f64| {
        let s = s.max(1e-9);
        format!(
            "{:.0} files/s, {:.0} MB/s",
            l.files as f64 / s,
            l.bytes as f64 / 1e6 / s
        )
    };
    Some(format!(
        "plain parse limit on the same files ({} files): analysis {} per core, a plain midly parse {} per core: the \
         analysis takes {:.2}x its time (medians of {} interleaved pairs; one thread's CPU time)",
        l.files,
        rate(l.analysis_seconds),
        rate(l.plain_parse_seconds),
        l.analysis_over_parse(),
        l.pairs
    ))
}

#[cfg(test)]
mod scale_tests {
    use super::*;

    #[test]
    fn corpora_are_named_by_what_they_hold_not_by_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let generated = dir.path().join("bench").join("corpus-100000");
        assert_eq!(
            corpus_label(&generated),
            "generated corpus (`gen-corpus --files 100000 --seed 1`)"
        );
        let shared = dir.path().join("corpus");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("reference.jsonl"), "").unwrap();
        assert!(corpus_label(&shared).starts_with("shared real corpus"));
        let other = dir.path().join("my-midis");
        std::fs::create_dir(&other).unwrap();
        let label = corpus_label(&other);
        assert_eq!(label, "folder `my-midis`");
        assert!(!label.contains(&dir.path().display().to_string()));
    }

    fn row(name: &str, files_per_s: f64) -> Row {
        Row {
            name: name.into(),
            files_per_s,
            mb_per_s: 0.0,
            share_of_parse_limit: 0.0,
            wall_seconds: 1.0,
            restore_rebuild_seconds: 0.0,
            peak_mb: 0.0,
            cpu_seconds: 0.0,
            server_cpu_s_per_1k_files: None,
            runs: 1,
        }
    }

    #[test]
    fn normal_s_share_is_judged_with_the_most_its_cpu_allows() {
        let parse = row("limit: parse (--dry-run)", 20_000.0);
        let mut normal = row("normal", 6_000.0);
        normal.share_of_parse_limit = 0.3;
        normal.cpu_seconds = 11.0;
        // 13 s of server CPU for 100,000 files: 24 s of CPU on 2 cores is 12 s, 8,333 files/s, 42% of the limit.
        normal.server_cpu_s_per_1k_files = Some(0.13);
        let line = normal_share_target(&normal, &parse, 100_000.0, 2);
        assert!(line.contains("| 30% of 20000 files/s"), "{line}");
        assert!(line.contains("allows at most 42% on 2 cores"), "{line}");
        assert!(line.ends_with("| **missed** |\n"), "{line}");
        normal.share_of_parse_limit = 0.6;
        normal.server_cpu_s_per_1k_files = None;
        let line = normal_share_target(&normal, &parse, 100_000.0, 2);
        assert!(!line.contains("allows"), "no server seen, no ceiling: {line}");
        assert!(line.ends_with("| met |\n"), "{line}");
    }

    #[test]
    fn the_scale_model_divides_the_write_limit_by_the_parse_rate_per_machine() {
        let c = CorpusResult {
            corpus: "generated".into(),
            files: 100_000,
            bytes: 0,
            rows: vec![
                row("limit: parse (--dry-run)", 20_000.0),
                row("limit: raw write (ludicrous, pre-built rows)", 30_000.0),
                row("normal", 8_000.0),
                row("fast (+ restore, rebuild)", 12_000.0),
            ],
            fingerprint_cost: None,
            parse_limit: None,
        };
        let s = scale_model(&c, 2);
        // 10,000 files/s per core: a 2-core importer parses 20,000, so one server (30,000) feeds 1.5 of them.
        assert!(s.contains("about 10000 files/s per core"), "{s}");
        assert!(s.contains("| 2 cores | 1.5 | 0.4 |"), "{s}");
        assert!(s.contains("| 8 cores | 0.4 | 0.1 |"), "{s}");
        assert!(scale_model(&CorpusResult { rows: vec![], ..c }, 2).is_empty());
    }

    #[test]
    fn a_given_corpus_reports_what_the_fingerprints_cost() {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/midi");
        for name in ["76_jazz-mediumfast_180_beat_4-4.mid", "addams.mid"] {
            std::fs::copy(fixtures.join(name), dir.path().join(name)).unwrap();
        }
        let line = fingerprint_cost_line(dir.path(), 3).expect("MIDI files found");
        assert!(line.contains("(2 files)") && line.contains("% of the parse"), "{line}");
        assert!(line.contains("median of 3 interleaved pairs"), "{line}");
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(fingerprint_cost_line(empty.path(), 3), None);
        let c = CorpusResult {
            corpus: "../shared/corpus".into(),
            files: 2,
            bytes: 0,
            rows: vec![row("normal", 8_000.0)],
            fingerprint_cost: Some(line.clone()),
            parse_limit: None,
        };
        assert!(corpus_markdown(&c).ends_with(&format!("\n\n{line}\n")));
        let limit = parse_limit_line(dir.path(), 3).expect("MIDI files found");
        assert!(
            limit.contains("(2 files)") && limit.contains("plain parse") && limit.contains("x its time"),
            "{limit}"
        );
        assert_eq!(parse_limit_line(empty.path(), 3), None);
        let c = CorpusResult {
            parse_limit: Some(limit.clone()),
            ..c
        };
        assert!(corpus_markdown(&c).ends_with(&format!("\n\n{line}\n\n{limit}\n")));
    }
}
