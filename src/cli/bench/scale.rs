//! `bench --scale N` (every mode on N generated files, cold and hot, beside `--mode auto`'s estimate) and
//! `bench --append BASE,ADD` (ADD new files into a library of BASE, in each mode, from the same base state).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Machine, Measured, machine_line, mark, measure, median, restore_rebuild_secs};
use crate::database::{self, Cluster, Target};
use crate::engine::profile::Mode;
use crate::engine::profile::auto::AutoChoice;
use crate::engine::run::session::Engine;

/// The page cache before a run: dropped (cold) or filled by reading every file first (hot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cache {
    Cold,
    Hot,
}

/// One measured row of the scale table.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleRow {
    /// `limit: parse (--dry-run)` or a mode's label.
    pub name: String,
    pub mode: Option<Mode>,
    pub cache: Cache,
    pub wall_seconds: f64,
    pub files_per_s: f64,
    /// files/s over the dry-run's files/s in the same cache state, same bench run.
    pub share_of_parse_limit: f64,
    pub peak_mb: f64,
    pub restore_rebuild_seconds: f64,
    /// `--mode auto`'s estimate of this mode's wall seconds, and its error against the measured wall time.
    pub estimate_seconds: Option<f64>,
    pub error_pct: Option<f64>,
    pub runs: usize,
}

/// What auto would do for this import, and how it sees every mode.
#[derive(Debug, Clone, Serialize)]
pub struct AutoSummary {
    pub pick: Mode,
    pub reason: String,
    /// (mode, estimated total seconds)
    pub estimates: Vec<(Mode, f64)>,
}

impl From<&AutoChoice> for AutoSummary {
    fn from(c: &AutoChoice) -> Self {
        Self {
            pick: c.mode,
            reason: c.reason.clone(),
            estimates: c.estimates.iter().map(|e| (e.mode, e.total_secs)).collect(),
        }
    }
}

impl AutoSummary {
    fn of(&self, mode: Mode) -> Option<f64> {
        self.estimates.iter().find(|(m, _)| *m == mode).map(|(_, s)| *s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub files: u64,
    pub bytes: u64,
    /// The generator's duplicate share when given (`--duplicates`), else its default.
    pub duplicate_share: f64,
    pub duplicates_given: bool,
    /// Bytes the corpus takes on disk (hard-linked duplicates counted once).
    pub disk_bytes: u64,
    /// Whether the page cache could be dropped for the cold rows (`None`: no cold row measured).
    pub cold_dropped: Option<bool>,
    pub repeat: usize,
    pub rows: Vec<ScaleRow>,
    pub auto: AutoSummary,
}

impl ScaleReport {
    /// The document section: one per size and duplicate share, so the 1M and 4M runs keep each other.
    pub fn section_name(&self) -> String {
        if self.duplicates_given {
            format!("scale-{}-dup{:.0}", self.files, self.duplicate_share * 100.0)
        } else {
            format!("scale-{}", self.files)
        }
    }
}

/// What the scale section measures.
#[derive(Debug, Clone)]
pub struct ScaleArgs {
    pub files: u64,
    pub duplicates: Option<f64>,
    /// Modes to measure (empty: all three); the parse limit is always measured.
    pub modes: Vec<Mode>,
    /// Also the cold rows (the 4M run measures hot only when asked for fewer rows).
    pub cold: bool,
}

/// The rows measured, in order: for the parse limit and each mode, cold then hot (hot only without `cold`).
pub fn scale_plan(modes: &[Mode], cold: bool) -> Vec<(String, Option<Mode>, Cache)> {
    let modes: Vec<Mode> = if modes.is_empty() {
        Mode::ALL.to_vec()
    } else {
        modes.to_vec()
    };
    let mut names = vec![("limit: parse (--dry-run)".to_string(), None)];
    names.extend(modes.iter().map(|m| (mode_row_name(*m), Some(*m))));
    let caches: &[Cache] = if cold {
        &[Cache::Cold, Cache::Hot]
    } else {
        &[Cache::Hot]
    };
    names
        .into_iter()
        .flat_map(|(n, m)| caches.iter().map(move |c| (n.clone(), m, *c)))
        .collect()
}

fn mode_row_name(m: Mode) -> String {
    match m {
        Mode::Normal => "normal".into(),
        Mode::Fast => "fast (+ restore, rebuild)".into(),
        Mode::Ludicrous => "ludicrous (+ restore, rebuild)".into(),
    }
}

fn import_args(mode: Option<Mode>) -> Vec<String> {
    let v: &[&str] = match mode {
        None => &["--dry-run"],
        Some(Mode::Normal) => &["--mode", "normal"],
        Some(Mode::Fast) => &["--mode", "fast"],
        Some(Mode::Ludicrous) => &["--mode", "ludicrous", "--yes"],
    };
    v.iter().map(|s| s.to_string()).collect()
}

/// The estimate's error against the measured wall time, in percent (positive: the estimate was too long).
pub fn error_pct(estimate: f64, measured: f64) -> f64 {
    (estimate - measured) / measured.max(1e-9) * 100.0
}

/// Read every file under `dir` once, so that the next run finds them in the page cache.
fn warm_up(dir: &Path) {
    use rayon::prelude::*;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => files.push(e.path()),
                Err(_) => {}
            }
        }
    }
    files.par_iter().for_each(|f| {
        let _ = std::fs::read(f);
    });
}

/// `du`'s bytes of `dir` (hard links counted once).
fn disk_bytes(dir: &Path) -> u64 {
    std::process::Command::new("du")
        .arg("-sb")
        .arg(dir)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The files `import` would count for `src`, as `--mode auto` counts them.
async fn files_of(src: &Path) -> Result<u64> {
    let sources = vec![src.to_path_buf()];
    Ok(tokio::task::spawn_blocking(move || crate::engine::profile::sizing::import_size(&sources).files).await?)
}

/// `--mode auto`'s choice for importing `files` into the library as it is now, risks accepted (`--yes`).
async fn auto_choice(cluster: &Cluster, data_dir: &Path, files: u64) -> Result<AutoChoice> {
    let engine = Engine::open(Target::Managed(cluster.clone()), data_dir.to_path_buf()).await?;
    let choice = engine.choose_mode(files, true, false).await?;
    drop(engine);
    Ok(choice)
}

/// One import run as a child process (blocking, so off the async workers).
async fn run_child(exe: &Path, data_dir: &Path, args: Vec<String>, src: &Path) -> Result<Measured> {
    let (exe, data_dir) = (exe.to_path_buf(), data_dir.to_path_buf());
    let src = src.to_str().context("corpus path is not UTF-8")?.to_string();
    tokio::task::spawn_blocking(move || measure(&exe, &data_dir, &args, &src)).await?
}

/// Files seen over the import's own seconds.
fn files_per_s(m: &Measured) -> f64 {
    m.json["seen"].as_f64().unwrap_or(0.0) / m.json["seconds"].as_f64().unwrap_or(f64::MAX).max(1e-9)
}

/// The scale section on the bench cluster.
pub async fn run(
    exe: &Path,
    work: &Path,
    data_dir: &Path,
    cluster: &Cluster,
    args: &ScaleArgs,
    repeat: usize,
) -> Result<ScaleReport> {
    let url = cluster.url();
    let corpus = {
        let (work, n, d) = (work.to_path_buf(), args.files, args.duplicates);
        // Hard links whenever the bench generates for scale: a million copies would not fit on disk.
        let d = Some(d.unwrap_or(gencorpus::DUPLICATE_SHARE));
        tokio::task::spawn_blocking(move || super::generated_corpus_with(&work, n, 1, d)).await??
    };
    let files = files_of(&corpus).await?;
    database::bench::recreate_library(&url).await?;
    let auto = AutoSummary::from(&auto_choice(cluster, data_dir, files).await?);
    eprintln!("bench: scale auto: {}", auto.reason);
    let mut rows: Vec<ScaleRow> = Vec::new();
    let mut cold_dropped = None;
    let mut bytes = 0;
    for (name, mode, cache) in scale_plan(&args.modes, args.cold) {
        let mut runs = Vec::new();
        for _ in 0..repeat {
            database::bench::recreate_library(&url).await?;
            let dir = corpus.clone();
            let dropped = tokio::task::spawn_blocking(move || match cache {
                Cache::Cold => Some(super::drop_page_cache().is_ok()),
                Cache::Hot => {
                    warm_up(&dir);
                    None
                }
            })
            .await?;
            if let Some(d) = dropped {
                cold_dropped = Some(cold_dropped.unwrap_or(true) && d);
            }
            runs.push(run_child(exe, data_dir, import_args(mode), &corpus).await?);
        }
        bytes = runs[0].json["bytes"].as_u64().unwrap_or(bytes);
        let wall = median(runs.iter().map(|m| m.wall).collect());
        let limit = rows
            .iter()
            .find(|r| r.mode.is_none() && r.cache == cache)
            .map_or(0.0, |r| r.files_per_s);
        let fps = median(runs.iter().map(files_per_s).collect());
        let estimate = mode.and_then(|m| auto.of(m));
        let row = ScaleRow {
            name,
            mode,
            cache,
            wall_seconds: wall,
            files_per_s: fps,
            share_of_parse_limit: if mode.is_none() { 1.0 } else { fps / limit.max(1e-9) },
            peak_mb: median(runs.iter().map(|m| m.peak_mb).collect()),
            restore_rebuild_seconds: median(runs.iter().map(|m| restore_rebuild_secs(&m.json)).collect()),
            estimate_seconds: estimate,
            error_pct: estimate.map(|e| error_pct(e, wall)),
            runs: runs.len(),
        };
        eprintln!(
            "bench: scale {:<32} {:?} {:>8.0} files/s  wall {:>8.1} s  peak {:>6.0} MB",
            row.name, row.cache, row.files_per_s, row.wall_seconds, row.peak_mb
        );
        rows.push(row);
    }
    let disk = {
        let c = corpus.clone();
        tokio::task::spawn_blocking(move || disk_bytes(&c)).await?
    };
    Ok(ScaleReport {
        files,
        bytes,
        duplicate_share: args.duplicates.unwrap_or(gencorpus::DUPLICATE_SHARE),
        duplicates_given: args.duplicates.is_some(),
        disk_bytes: disk,
        cold_dropped,
        repeat,
        rows,
        auto,
    })
}

fn runs_said(repeat: usize) -> String {
    if repeat <= 1 {
        "one run each".into()
    } else {
        format!("median of {repeat} runs each")
    }
}

fn cold_sentence(cold: Option<bool>) -> &'static str {
    match cold {
        Some(true) => "cold: `sync` and `echo 3 > /proc/sys/vm/drop_caches` before the run",
        Some(false) => {
            "cold: not measured, dropping the page cache needs root (the cold rows ran with whatever was cached)"
        }
        None => "cold: not measured in this run (hot rows only)",
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// The scale section as Markdown.
pub fn markdown(r: &ScaleReport, m: &Machine) -> String {
    let mut s = format!(
        "\n### At scale: {} generated files ({:.0}% duplicates, {:.0} MB of MIDI, {:.0} MB on disk)\n\n\
         {}\n\n\
         The corpus is `gen-corpus --files {} --seed 1 --duplicates {} --link-duplicates`: each duplicate is a hard \
         link to its source file, so it takes no disk space of its own, while the importer still reads, hashes and \
         records it as a path of its own. Each run imports into an empty library ({}); {}; hot: every file read once \
         before the run. `estimate s` is `--mode auto`'s estimate of that mode's wall time for this import (first \
         import of these files into an empty library, the rates and overheads `import --mode auto` uses on this \
         machine), `error` its difference from the measured wall time.\n\n\
         | run | cache | wall s | files/s | share of parse limit | peak MB | restore + rebuild s | auto estimate s | error |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        r.files,
        r.duplicate_share * 100.0,
        r.bytes as f64 / 1e6,
        r.disk_bytes as f64 / 1e6,
        machine_line(m),
        r.files,
        r.duplicate_share,
        runs_said(r.repeat),
        cold_sentence(r.cold_dropped),
    );
    for row in &r.rows {
        s += &format!(
            "| {} | {} | {:.1} | {:.0} | {:.0}% | {:.0} | {:.1} | {} | {} |\n",
            row.name,
            if row.cache == Cache::Cold { "cold" } else { "hot" },
            row.wall_seconds,
            row.files_per_s,
            row.share_of_parse_limit * 100.0,
            row.peak_mb,
            row.restore_rebuild_seconds.max(0.0) + 0.0,
            opt(row.estimate_seconds, |v| format!("{v:.1}")),
            opt(row.error_pct, |v| format!("{v:+.0}%")),
        );
    }
    s += &auto_lines(
        &r.auto,
        &r.rows.iter().filter(|x| x.cache == Cache::Hot).collect::<Vec<_>>(),
    );
    s
}

/// Auto's pick beside the mode that measured fastest (hot rows), and its reason.
fn auto_lines(auto: &AutoSummary, rows: &[&ScaleRow]) -> String {
    let fastest = rows
        .iter()
        .filter(|r| r.mode.is_some())
        .min_by(|a, b| a.wall_seconds.total_cmp(&b.wall_seconds));
    let mut s = format!(
        "\n`--mode auto` picks **{}** (risks accepted with `--yes`)",
        auto.pick.label()
    );
    if let Some(f) = fastest.and_then(|f| f.mode.map(|m| (m, f.wall_seconds))) {
        s += &format!("; measured fastest here: {} ({:.1} s)", f.0.label(), f.1);
    }
    s += &format!(". Its reason: {}.\n", auto.reason);
    s
}

/// One mode of the append case.
#[derive(Debug, Clone, Serialize)]
pub struct AppendRow {
    pub mode: Mode,
    /// Files the import saw (its own count).
    pub seen: u64,
    /// Wall seconds of the import process: import, apply, restore, rebuild.
    pub wall_seconds: f64,
    pub files_per_s: f64,
    pub restore_rebuild_seconds: f64,
    pub peak_mb: f64,
    pub estimate_seconds: f64,
    pub error_pct: f64,
    pub runs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppendReport {
    /// Files in the base library (rows of `files`), and its bytes on disk.
    pub base_files: i64,
    pub base_bytes: i64,
    /// Files of the appended corpus (as `--mode auto` counts them).
    pub add_files: u64,
    pub build_seconds: f64,
    pub repeat: usize,
    pub rows: Vec<AppendRow>,
    pub auto: AutoSummary,
}

/// The append case: a base library of about `base` files, then `add` new files in each mode, each from the same
/// base state.
pub async fn run_append(
    exe: &Path,
    work: &Path,
    data_dir: &Path,
    cluster: &mut Cluster,
    (base, add): (u64, u64),
    repeat: usize,
) -> Result<AppendReport> {
    let t = std::time::Instant::now();
    let url = cluster.url();
    let (base_corpus, add_corpus): (PathBuf, PathBuf) = {
        let work = work.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<_> {
            Ok((
                super::generated_corpus(&work, (base / 2).clamp(1, super::search::BASE_FILES))?,
                // Another seed: new content, not duplicates of the base.
                super::generated_corpus_with(&work, add, 2, None)?,
            ))
        })
        .await??
    };
    super::search::build(exe, data_dir, &url, &base_corpus, base).await?;
    // A library some time after its import: planner statistics and visibility map fresh.
    database::bench::analyze_library(&url).await?;
    let base_files = database::bench::library_files(&url).await?;
    let base_bytes = database::bench::library_bytes(&url).await?;
    database::bench::keep_library(&url).await?;
    let build_seconds = t.elapsed().as_secs_f64();
    let add_files = files_of(&add_corpus).await?;
    let auto = AutoSummary::from(&auto_choice(cluster, data_dir, add_files).await?);
    eprintln!("bench: append auto: {}", auto.reason);
    let mut rows = Vec::new();
    for mode in Mode::ALL {
        let mut runs = Vec::new();
        for _ in 0..repeat {
            database::bench::reset_library(&url).await?;
            runs.push(run_child(exe, data_dir, import_args(Some(mode)), &add_corpus).await?);
        }
        for m in runs.iter().filter(|m| m.json["seen"].as_u64() != Some(add_files)) {
            eprintln!(
                "bench: append {} saw other than {add_files} files: {}",
                mode.label(),
                m.json
            );
        }
        let wall = median(runs.iter().map(|m| m.wall).collect());
        let estimate = auto.of(mode).unwrap_or(0.0);
        let row = AppendRow {
            mode,
            seen: runs[0].json["seen"].as_u64().unwrap_or(0),
            wall_seconds: wall,
            files_per_s: median(runs.iter().map(files_per_s).collect()),
            restore_rebuild_seconds: median(runs.iter().map(|m| restore_rebuild_secs(&m.json)).collect()),
            peak_mb: median(runs.iter().map(|m| m.peak_mb).collect()),
            estimate_seconds: estimate,
            error_pct: error_pct(estimate, wall),
            runs: runs.len(),
        };
        eprintln!(
            "bench: append {:<10} wall {:>8.1} s  estimate {:>8.1} s ({:+.0}%)",
            mode.label(),
            row.wall_seconds,
            row.estimate_seconds,
            row.error_pct
        );
        rows.push(row);
    }
    Ok(AppendReport {
        base_files,
        base_bytes,
        add_files,
        build_seconds,
        repeat,
        rows,
        auto,
    })
}

/// The issue's test of auto on the append case: it picks normal, and its estimate of the mode it picks is within
/// 30% of that mode's measured wall time.
pub fn append_verdict(r: &AppendReport) -> (bool, Option<f64>) {
    let picked = r.rows.iter().find(|x| x.mode == r.auto.pick).map(|x| x.error_pct);
    (r.auto.pick == Mode::Normal, picked)
}

/// The append section as Markdown.
pub fn append_markdown(r: &AppendReport, m: &Machine) -> String {
    let mut s = format!(
        "\n### Appending {} new files to a library of {} files\n\n{}\n\n\
         The base library is a generated corpus imported (fast mode), then grown by copies of its rows (new hashes, \
         names and paths, the same metadata) to {} files with every index rebuilt and its statistics fresh \
         ({:.0} MB on disk, built in {:.0} s); it is kept as a database template and copied back before each mode, so \
         every mode starts from the same library. The new files are another seed's corpus (new content). `wall s` is \
         the import process from start to end: import, applying the profile, restoring safety and rebuilding every \
         index over the whole library; {}. `auto estimate s` is `--mode auto`'s estimate for this import on the base \
         library (its size, this library's own runs' rates where it has them).\n\n\
         | mode | wall s | files/s | restore + rebuild s | peak MB | auto estimate s | error |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        r.add_files,
        r.base_files,
        machine_line(m),
        r.base_files,
        r.base_bytes as f64 / 1e6,
        r.build_seconds,
        runs_said(r.repeat),
    );
    for row in &r.rows {
        s += &format!(
            "| {} | {:.1} | {:.0} | {:.1} | {:.0} | {:.1} | {:+.0}% |\n",
            row.mode.label(),
            row.wall_seconds,
            row.files_per_s,
            row.restore_rebuild_seconds.max(0.0) + 0.0,
            row.peak_mb,
            row.estimate_seconds,
            row.error_pct
        );
    }
    let rows: Vec<&ScaleRow> = Vec::new();
    s += &auto_lines(&r.auto, &rows);
    let fastest = r.rows.iter().min_by(|a, b| a.wall_seconds.total_cmp(&b.wall_seconds));
    let (normal, err) = append_verdict(r);
    s += &format!(
        "\n| auto target | measured | |\n|---|---|---|\n\
         | Picks normal for a small append to a big library | picks {}{} | {} |\n\
         | Estimate within 30% of the measured wall time (the picked mode) | {} | {} |\n",
        r.auto.pick.label(),
        fastest
            .map(|f| format!(", measured fastest {}", f.mode.label()))
            .unwrap_or_default(),
        mark(normal),
        opt(err, |e| format!("{e:+.0}%")),
        mark(err.is_some_and(|e| e.abs() <= 30.0)),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_measures_the_limit_and_each_mode_cold_then_hot() {
        let p = scale_plan(&[], true);
        assert_eq!(p.len(), 8);
        assert_eq!((p[0].1, p[0].2, p[1].2), (None, Cache::Cold, Cache::Hot));
        assert_eq!(p[7].1, Some(Mode::Ludicrous));
        let p = scale_plan(&[Mode::Normal], false);
        let names: Vec<&str> = p.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["limit: parse (--dry-run)", "normal"]);
        assert!(p.iter().all(|x| x.2 == Cache::Hot));
        assert_eq!(import_args(Some(Mode::Ludicrous)), ["--mode", "ludicrous", "--yes"]);
    }

    #[test]
    fn the_error_is_the_estimates_difference_from_the_measured_time() {
        assert!((error_pct(13.0, 10.0) - 30.0).abs() < 1e-9);
        assert!((error_pct(8.0, 10.0) + 20.0).abs() < 1e-9);
        assert!(error_pct(1.0, 0.0).is_finite());
    }

    #[test]
    fn the_append_verdict_checks_the_pick_and_the_picked_modes_error() {
        let row = |mode, error_pct| AppendRow {
            mode,
            seen: 0,
            wall_seconds: 10.0,
            files_per_s: 0.0,
            restore_rebuild_seconds: 0.0,
            peak_mb: 0.0,
            estimate_seconds: 0.0,
            error_pct,
            runs: 1,
        };
        let mut r = AppendReport {
            base_files: 1_000_000,
            base_bytes: 0,
            add_files: 100_000,
            build_seconds: 0.0,
            repeat: 1,
            rows: vec![
                row(Mode::Normal, -12.0),
                row(Mode::Fast, 80.0),
                row(Mode::Ludicrous, 95.0),
            ],
            auto: AutoSummary {
                pick: Mode::Normal,
                reason: "r".into(),
                estimates: vec![],
            },
        };
        assert_eq!(append_verdict(&r), (true, Some(-12.0)));
        let md = append_markdown(&r, &test_machine());
        assert!(
            md.contains(
                "| Picks normal for a small append to a big library | picks normal, measured fastest normal | met |"
            ),
            "{md}"
        );
        assert!(md.contains("| -12% | met |"), "{md}");
        r.auto.pick = Mode::Fast;
        assert_eq!(append_verdict(&r), (false, Some(80.0)));
        assert!(append_markdown(&r, &test_machine()).contains("| +80% | **missed** |"));
    }

    fn test_machine() -> Machine {
        Machine {
            cores: 2,
            memory_gb: 8.0,
            cpu: "cpu".into(),
            disk: "disk".into(),
            postgres: "pg".into(),
        }
    }

    #[test]
    fn the_cold_line_says_when_the_cache_could_not_be_dropped() {
        assert!(cold_sentence(Some(false)).contains("cold: not measured, dropping the page cache needs root"));
        assert!(cold_sentence(Some(true)).contains("drop_caches"));
        assert_eq!(runs_said(1), "one run each");
    }
}
