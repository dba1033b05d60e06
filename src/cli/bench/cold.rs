//! `bench --cold`: the `--dry-run` import on a cold page cache against the disk's limit, parallel `cat` of the same
//! files, with the importer's read-ahead on and off, beside its reads alone (cold) and the hot dry-run (the CPU's
//! limit), interleaved in one run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::{Machine, machine_line, median};

/// `cat` processes of the limit, as issue 14 measured it.
pub const CAT_PROCESSES: usize = 8;
/// The cold dry-run's target: this share of the `cat` rate.
pub const TARGET_SHARE: f64 = 0.9;
/// Set to `1`: the page cache is never dropped (a machine shared with others); the section then says its runs
/// were not cold.
pub const NO_DROP_ENV: &str = "MIDI_TUI_BENCH_NO_DROP";

/// Which corpus the cold section reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColdSource {
    /// The bench's generated corpus of this many files (made once, shared with the modes table).
    Generated(u64),
    /// A folder that is already there (read only, never written).
    Folder(PathBuf),
}

/// What one run of a round measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColdKind {
    Cat,
    DryRun,
    DryRunNoReadAhead,
    /// `--limit read-hash`: the importer's reads (and hashes) without the analysis.
    ReadHash,
    /// The dry-run with every file cached (right after a run that read them all): what the CPU allows.
    DryRunHot,
}

impl ColdKind {
    /// The order of the runs in every round (the hot run last: the run before it read every file).
    pub const ALL: [Self; 5] = [
        Self::Cat,
        Self::DryRun,
        Self::DryRunNoReadAhead,
        Self::ReadHash,
        Self::DryRunHot,
    ];

    /// The cache is dropped before this run.
    pub fn cold(self) -> bool {
        self != Self::DryRunHot
    }

    pub fn label(self) -> String {
        match self {
            Self::Cat => format!(
                "limit: parallel `cat` (`find DIR -type f -print0 \\| xargs -0 -P{CAT_PROCESSES} cat > /dev/null`)"
            ),
            Self::DryRun => "`import --dry-run`".into(),
            Self::DryRunNoReadAhead => "`import --dry-run`, read-ahead off (`MIDI_TUI_READAHEAD=0`)".into(),
            Self::ReadHash => "`import --dry-run --limit read-hash` (reads and hashes, no analysis)".into(),
            Self::DryRunHot => "`import --dry-run`, hot (every file cached: the CPU's limit)".into(),
        }
    }
}

/// One process timed after the cache was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ColdRun {
    pub kind: ColdKind,
    pub round: usize,
    /// Wall seconds of the whole process (the importer's scan and start-up included, as `find` is for `cat`).
    pub seconds: f64,
    pub files: u64,
    pub bytes: u64,
}

/// One row of the table: medians over the rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdRow {
    pub kind: ColdKind,
    pub name: String,
    pub files_per_s: f64,
    pub mb_per_s: f64,
    /// files/s over the `cat` rate of the same round, median of the rounds.
    pub share_of_cat: f64,
    /// Wall seconds of each round, in order.
    pub seconds: Vec<f64>,
    /// The share of each round, in order.
    pub shares: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdReport {
    pub corpus: String,
    /// Regular files and their bytes in the corpus (what `cat` reads).
    pub files: u64,
    pub bytes: u64,
    /// `None` when the page cache was dropped before every run; else why it could not be (the runs were not cold).
    pub not_dropped: Option<String>,
    pub rounds: usize,
    pub rows: Vec<ColdRow>,
    /// `uptime` before the first round and after the last.
    pub load: (String, String),
}

fn rate(n: u64, seconds: f64) -> f64 {
    n as f64 / seconds.max(1e-9)
}

/// The table from the runs: per round, each run's rate against the `cat` run of the same round.
pub fn rows(runs: &[ColdRun]) -> Vec<ColdRow> {
    let cat_rate = |round: usize| {
        runs.iter()
            .find(|r| r.kind == ColdKind::Cat && r.round == round)
            .map(|r| rate(r.files, r.seconds))
    };
    ColdKind::ALL
        .iter()
        .filter_map(|&kind| {
            let mine: Vec<&ColdRun> = runs.iter().filter(|r| r.kind == kind).collect();
            if mine.is_empty() {
                return None;
            }
            let shares: Vec<f64> = mine
                .iter()
                .filter_map(|r| cat_rate(r.round).map(|c| rate(r.files, r.seconds) / c.max(1e-9)))
                .collect();
            Some(ColdRow {
                kind,
                name: kind.label(),
                files_per_s: median(mine.iter().map(|r| rate(r.files, r.seconds)).collect()),
                mb_per_s: median(mine.iter().map(|r| rate(r.bytes, r.seconds) / 1e6).collect()),
                share_of_cat: median(shares.clone()),
                seconds: mine.iter().map(|r| r.seconds).collect(),
                shares,
            })
        })
        .collect()
}

/// Drop the page cache as every bench does, unless the variable keeps it; the reason when it is not dropped.
fn drop_page_cache() -> Result<(), String> {
    if std::env::var_os(NO_DROP_ENV).is_some_and(|v| v == "1") {
        return Err(format!("{NO_DROP_ENV}=1 is set"));
    }
    super::drop_page_cache()
}

/// Regular files under `dir` and their bytes, symlinks not followed (what `find -type f` lists).
fn regular_files(dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    files += 1;
                    bytes += e.metadata().map_or(0, |m| m.len());
                }
                _ => {}
            }
        }
    }
    (files, bytes)
}

/// Wall seconds of the parallel `cat` of every regular file under `dir`.
fn time_cat(dir: &Path) -> Result<f64> {
    let script = format!("find \"$1\" -type f -print0 | xargs -0 -P{CAT_PROCESSES} cat > /dev/null");
    let t = Instant::now();
    let status = Command::new("sh")
        .args(["-c", &script, "sh"])
        .arg(dir)
        .stdin(Stdio::null())
        .status()
        .context("running find | xargs cat")?;
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("parallel cat of {} failed ({status})", dir.display());
    }
    Ok(secs)
}

/// One `import --json --dry-run` of `dir` for `kind`, timed from spawn to exit: (seconds, files seen, bytes).
fn time_dry_run(exe: &Path, work: &Path, dir: &Path, kind: ColdKind) -> Result<(f64, u64, u64)> {
    let mut cmd = Command::new(exe);
    cmd.arg("--data-dir")
        .arg(work)
        .args(["import", "--json", "--dry-run"])
        .args(if kind == ColdKind::ReadHash {
            &["--limit", "read-hash"][..]
        } else {
            &[]
        })
        .arg(dir)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    if kind != ColdKind::DryRunNoReadAhead {
        cmd.env_remove("MIDI_TUI_READAHEAD");
    } else {
        cmd.env("MIDI_TUI_READAHEAD", "0");
    }
    let t = Instant::now();
    let out = cmd.output().context("running the dry-run import")?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("cold dry-run failed ({}): {}", out.status, text.trim());
    }
    let json: serde_json::Value =
        serde_json::from_str(text.trim()).with_context(|| format!("the dry-run printed no JSON: {text}"))?;
    Ok((
        secs,
        json["seen"].as_u64().unwrap_or(0),
        json["bytes"].as_u64().unwrap_or(0),
    ))
}

fn uptime() -> String {
    Command::new("uptime")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Every round: drop the cache, run; for `cat`, the dry-run and the dry-run without read-ahead in turn.
pub fn measure(exe: &Path, work: &Path, corpus: &Path, label: String, rounds: usize) -> Result<ColdReport> {
    let (files, bytes) = regular_files(corpus);
    if files == 0 {
        bail!("no files to read in {}", corpus.display());
    }
    let before = uptime();
    let mut not_dropped = None;
    let mut runs = Vec::new();
    for round in 0..rounds.max(1) {
        for kind in ColdKind::ALL {
            if kind.cold()
                && let Err(why) = drop_page_cache()
            {
                not_dropped.get_or_insert(why);
            }
            let run = match kind {
                ColdKind::Cat => ColdRun {
                    kind,
                    round,
                    seconds: time_cat(corpus)?,
                    files,
                    bytes,
                },
                _ => {
                    let (seconds, seen, read) = time_dry_run(exe, work, corpus, kind)?;
                    ColdRun {
                        kind,
                        round,
                        seconds,
                        files: seen,
                        bytes: read,
                    }
                }
            };
            eprintln!(
                "bench: cold round {} {:<22} {:>6.2} s {:>8.0} files/s",
                round + 1,
                format!("{kind:?}"),
                run.seconds,
                rate(run.files, run.seconds)
            );
            runs.push(run);
        }
    }
    Ok(ColdReport {
        corpus: label,
        files,
        bytes,
        not_dropped,
        rounds: rounds.max(1),
        rows: rows(&runs),
        load: (before, uptime()),
    })
}

/// The section as Markdown.
pub fn markdown(r: &ColdReport, m: &Machine) -> String {
    let how = match &r.not_dropped {
        None => "Cold: `sync` and `echo 3 > /proc/sys/vm/drop_caches` before every run.".to_string(),
        Some(why) => format!(
            "**Not cold**: the page cache could not be dropped ({why}), so every run read whatever was cached; these \
             figures are not the disk's."
        ),
    };
    let mut s = format!(
        "\n### Cold reads: the dry-run import against parallel `cat` ({} files, {:.0} MB, {})\n\n{}\n\n{how} The \
         runs are interleaved ({} rounds of `cat`, dry-run, dry-run without read-ahead, reads alone, hot \
         dry-run); each figure is the wall time of the whole process (the importer's scan and start-up included, \
         as `find` is for `cat`), rates are medians of the rounds, and the share is the run's files/s over the \
         `cat` rate of the same round, median of the rounds. The reads alone (`--limit read-hash`) show whether \
         the importer reads at the disk's rate; the hot dry-run (no drop, right after a run that read every file) \
         what the analysis allows on this machine at this load: when it is below the `cat` rate, the CPU, not the \
         reads, sets the cold dry-run's rate. `uptime` before: `{}`; after: `{}`.\n\n\
         | run | files/s | MB/s | share of the `cat` rate | wall s, each round | share, each round |\n\
         |---|---:|---:|---:|---|---|\n",
        r.files,
        r.bytes as f64 / 1e6,
        r.corpus,
        machine_line(m),
        r.rounds,
        r.load.0,
        r.load.1,
    );
    for row in &r.rows {
        let list = |v: &[f64], f: &dyn Fn(f64) -> String| v.iter().map(|x| f(*x)).collect::<Vec<_>>().join(", ");
        s += &format!(
            "| {} | {:.0} | {:.1} | {:.0}% | {} | {} |\n",
            row.name,
            row.files_per_s,
            row.mb_per_s,
            row.share_of_cat * 100.0,
            list(&row.seconds, &|x| format!("{x:.2}")),
            list(&row.shares, &|x| format!("{:.0}%", x * 100.0)),
        );
    }
    s += &target_line(r);
    s
}

fn target_line(r: &ColdReport) -> String {
    let Some(dry) = r.rows.iter().find(|x| x.kind == ColdKind::DryRun) else {
        return String::new();
    };
    let verdict = match (&r.not_dropped, dry.share_of_cat >= TARGET_SHARE) {
        (Some(_), _) => "not measured (the page cache was not dropped)",
        (None, true) => "met",
        (None, false) => "**missed**",
    };
    format!(
        "\n| cold target | measured | |\n|---|---|---|\n\
         | Cold dry-run import at least {:.0}% of the parallel `cat` rate of the same files | {:.0}% ({:.0} of {:.0} \
         files/s) | {verdict} |\n",
        TARGET_SHARE * 100.0,
        dry.share_of_cat * 100.0,
        dry.files_per_s,
        r.rows
            .iter()
            .find(|x| x.kind == ColdKind::Cat)
            .map_or(0.0, |c| c.files_per_s),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: ColdKind, round: usize, seconds: f64) -> ColdRun {
        ColdRun {
            kind,
            round,
            seconds,
            files: 1000,
            bytes: 20_000_000,
        }
    }

    fn machine() -> Machine {
        Machine {
            cores: 2,
            memory_gb: 8.0,
            cpu: "cpu".into(),
            disk: "disk".into(),
            postgres: "postgres".into(),
        }
    }

    fn report(not_dropped: Option<String>) -> ColdReport {
        use ColdKind::*;
        let runs = [
            run(Cat, 0, 1.0),
            run(DryRun, 0, 1.25),
            run(DryRunNoReadAhead, 0, 2.0),
            run(Cat, 1, 2.0),
            run(DryRun, 1, 2.0),
            run(DryRunNoReadAhead, 1, 4.0),
            run(Cat, 2, 1.0),
            run(DryRun, 2, 1.0),
            run(DryRunNoReadAhead, 2, 2.5),
        ];
        ColdReport {
            corpus: "generated corpus".into(),
            files: 1000,
            bytes: 20_000_000,
            not_dropped,
            rounds: 3,
            rows: rows(&runs),
            load: ("load 1".into(), "load 2".into()),
        }
    }

    #[test]
    fn each_run_is_compared_with_the_cat_run_of_its_own_round() {
        let r = report(None);
        let kinds: Vec<ColdKind> = r.rows.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, ColdKind::ALL[..3], "only the kinds measured, in order");
        let (cat, dry, off) = (&r.rows[0], &r.rows[1], &r.rows[2]);
        // cat: 1000, 500, 1000 files/s; median 1000, 20 MB/s.
        assert_eq!(cat.files_per_s, 1000.0);
        assert_eq!(cat.mb_per_s, 20.0);
        assert_eq!(cat.shares, vec![1.0, 1.0, 1.0]);
        // Round 2 is slow for everyone (the machine was busy): per round the dry-run keeps 80%, 100%, 100%.
        assert_eq!(dry.shares, vec![0.8, 1.0, 1.0]);
        assert_eq!(dry.share_of_cat, 1.0);
        assert_eq!(dry.files_per_s, 800.0);
        assert_eq!(dry.seconds, vec![1.25, 2.0, 1.0]);
        assert_eq!(off.shares, vec![0.5, 0.5, 0.4]);
        assert_eq!(off.share_of_cat, 0.5);
        assert_eq!(off.files_per_s, 400.0);
    }

    #[test]
    fn the_section_has_a_row_per_run_and_the_target() {
        let md = markdown(&report(None), &machine());
        assert!(
            md.contains("### Cold reads: the dry-run import against parallel `cat` (1000 files, 20 MB"),
            "{md}"
        );
        assert!(
            md.contains("`sync` and `echo 3 > /proc/sys/vm/drop_caches` before every run"),
            "{md}"
        );
        assert!(
            md.contains("| limit: parallel `cat` (`find DIR -type f -print0 \\| xargs -0 -P8 cat > /dev/null`) | 1000 | 20.0 | 100% | 1.00, 2.00, 1.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| `import --dry-run` | 800 | 16.0 | 100% | 1.25, 2.00, 1.00 | 80%, 100%, 100% |"),
            "{md}"
        );
        assert!(
            md.contains("read-ahead off (`MIDI_TUI_READAHEAD=0`) | 400 | 8.0 | 50% |"),
            "{md}"
        );
        assert!(md.contains("| 100% (800 of 1000 files/s) | met |"), "{md}");
        assert!(md.contains("`uptime` before: `load 1`; after: `load 2`"), "{md}");
        assert!(ColdKind::ALL.iter().all(|k| k.cold() != (*k == ColdKind::DryRunHot)));
        // The table's header and every row have the same number of cells.
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).take(4).collect();
        assert!(table.iter().all(|l| cells(l) == cells(table[0])), "{table:?}");
    }

    #[test]
    fn without_a_dropped_cache_the_section_says_so_and_claims_no_target() {
        let md = markdown(
            &report(Some("writing /proc/sys/vm/drop_caches: Permission denied".into())),
            &machine(),
        );
        assert!(md.contains("**Not cold**: the page cache could not be dropped (writing /proc/sys/vm/drop_caches: Permission denied)"), "{md}");
        assert!(!md.contains("before every run"), "{md}");
        assert!(md.contains("| not measured (the page cache was not dropped) |"), "{md}");
        assert!(!md.contains("| met |"), "{md}");
    }

    #[test]
    fn a_missed_target_is_marked() {
        let mut r = report(None);
        r.rows[1].share_of_cat = 0.69;
        assert!(markdown(&r, &machine()).contains("| 69% (800 of 1000 files/s) | **missed** |"));
    }
}
