//! `bench --peer`: `midi-tui import` against the importer a user would write instead in an afternoon.
//!
//! The peer (`peer/peer_import.py`: folder walk, a pool of 2 worker processes reading, hashing and parsing with
//! symusic, dedup of hashes, psycopg's `cursor.copy()` into one table with one primary key) runs from a virtual
//! environment the bench makes with `python3 -m venv` and the pinned `peer/requirements.txt` from the package
//! registry. Per corpus, rounds interleave the peer, normal, fast, ludicrous and auto, each a fresh process into an
//! empty library, hot cache; figures are the medians of the rounds' wall times (the whole process, start to exit).
//! After the largest generated corpus's rounds its library is imported once more and a one-file import into it is
//! timed, with where its fixed time goes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::{Measured, mark, measure, median};
use crate::database;

const SCRIPT: &str = include_str!("peer/peer_import.py");
const REQUIREMENTS: &str = include_str!("peer/requirements.txt");

/// `midi-tui import` must import at least this many times the peer's rate (normal mode).
pub const NORMAL_OVER_PEER: f64 = 1.5;
/// `--mode auto` at 100,000 files, restore and rebuild included.
pub const AUTO_OVER_PEER: f64 = 2.0;
/// A one-file import into a library of 100,000 files, wall seconds.
pub const ONE_FILE_SECONDS: f64 = 0.15;
/// Normal's server CPU per 1,000 files: half of the 0.133 s measured when the issue was filed.
pub const NORMAL_SERVER_CPU_PER_1K: f64 = 0.133 / 2.0;

/// One corpus's medians.
#[derive(Debug, Clone, Serialize)]
pub struct PeerCorpus {
    pub corpus: String,
    pub files: u64,
    /// Wall seconds of the peer (None: it could not run).
    pub peer: Option<f64>,
    pub normal: f64,
    pub fast: f64,
    pub ludicrous: f64,
    pub auto: f64,
    /// The mode auto picked (the first round's).
    pub auto_mode: String,
    pub normal_server_cpu_per_1k: Option<f64>,
    /// Each round's wall seconds: peer, normal, fast, ludicrous, auto.
    pub rounds: Vec<[f64; 5]>,
    /// Whether this is a generated corpus (auto's 2x target applies at 100,000 of them).
    pub generated: bool,
}

/// A one-file import into an existing library.
#[derive(Debug, Clone, Serialize)]
pub struct OneFile {
    pub library_files: u64,
    pub wall: f64,
    pub walls: Vec<f64>,
    /// Where the import's own time went (`fixed_seconds` of `import --json`, medians), in its order.
    pub steps: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerReport {
    pub corpora: Vec<PeerCorpus>,
    pub one_file: Option<OneFile>,
    /// Why the peer did not run, when it did not.
    pub peer_problem: Option<String>,
    pub python: String,
}

/// The peer's virtual environment under `work`, made (or reused while the requirements are the same); the python
/// to run the script with and the script's path, or why it cannot be had.
pub fn setup(work: &Path) -> Result<(PathBuf, PathBuf, String), String> {
    let dir = work.join("peer");
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let script = dir.join("peer_import.py");
    let requirements = dir.join("requirements.txt");
    let stamp = venv.join(".requirements");
    let io = |e: std::io::Error| format!("preparing {}: {e}", dir.display());
    std::fs::create_dir_all(&dir).map_err(io)?;
    std::fs::write(&script, SCRIPT).map_err(io)?;
    std::fs::write(&requirements, REQUIREMENTS).map_err(io)?;
    let ready = std::fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS) && python.exists();
    if !ready {
        let _ = std::fs::remove_dir_all(&venv);
        eprintln!("bench: making the peer's virtual environment (python3 -m venv, pip install -r requirements.txt)");
        run_setup(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run_setup(
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
        )?;
        std::fs::write(&stamp, REQUIREMENTS).map_err(io)?;
    }
    let version = Command::new(&python)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // Compile the modules once, so that no measured run pays for it.
    run_setup(Command::new(&python).args(["-c", "import symusic, psycopg, multiprocessing"]))?;
    Ok((python, script, version))
}

fn run_setup(cmd: &mut Command) -> Result<(), String> {
    let what = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(format!("{what} failed: {last}"));
    }
    Ok(())
}

/// One run of the peer on `src` into the library of `url`: its wall seconds.
fn run_peer(python: &Path, script: &Path, url: &str, src: &str) -> Result<f64> {
    let t = std::time::Instant::now();
    let out = Command::new(python)
        .arg(script)
        .arg("--dsn")
        .arg(url)
        .arg(src)
        .stdin(Stdio::null())
        .output()
        .context("running the peer")?;
    let wall = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("the peer failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(wall)
}

/// The runs of one round, in order: the peer, then our modes.
const OURS: [(&str, &[&str]); 4] = [
    ("normal", &["--mode", "normal"]),
    ("fast", &["--mode", "fast"]),
    ("ludicrous", &["--mode", "ludicrous", "--yes"]),
    ("auto", &["--mode", "auto", "--yes"]),
];

fn run_ours(exe: &Path, data_dir: &Path, args: &[&str], src: &str) -> Result<Measured> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    measure(exe, data_dir, &args, src)
}

/// Every corpus's rounds; then the one-file import into the largest generated corpus's library.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    exe: &Path,
    work: &Path,
    data_dir: &Path,
    url: &str,
    corpora: &[(String, PathBuf, bool)],
    repeat: usize,
) -> Result<PeerReport> {
    let w = work.to_path_buf();
    let setup = tokio::task::spawn_blocking(move || setup(&w)).await?;
    let (peer, peer_problem, python) = match setup {
        Ok((python, script, version)) => (Some((python, script)), None, version),
        Err(e) => {
            eprintln!("bench: the Python peer cannot run, its column stays empty: {e}");
            (None, Some(e), String::new())
        }
    };
    let mut out = Vec::new();
    for (label, dir, generated) in corpora {
        let src = dir.to_str().context("corpus path is not UTF-8")?.to_string();
        let mut rounds: Vec<[f64; 5]> = Vec::new();
        let mut normal_runs: Vec<Measured> = Vec::new();
        let mut auto_mode = String::new();
        let mut files = 0u64;
        for _ in 0..repeat.max(1) {
            let mut round = [f64::NAN; 5];
            if let Some((python, script)) = &peer {
                database::bench::recreate_library(url).await?;
                let (p, s, u, src) = (python.clone(), script.clone(), url.to_string(), src.clone());
                round[0] = tokio::task::spawn_blocking(move || run_peer(&p, &s, &u, &src)).await??;
            }
            for (i, (name, args)) in OURS.iter().enumerate() {
                database::bench::recreate_library(url).await?;
                let (exe, data_dir, src) = (exe.to_path_buf(), data_dir.to_path_buf(), src.clone());
                let m = tokio::task::spawn_blocking(move || run_ours(&exe, &data_dir, args, &src)).await??;
                round[i + 1] = m.wall;
                files = files.max(m.json["seen"].as_u64().unwrap_or(0));
                if *name == "auto" && auto_mode.is_empty() {
                    auto_mode = m.json["mode"].as_str().unwrap_or("?").to_string();
                }
                if *name == "normal" {
                    normal_runs.push(m);
                }
            }
            eprintln!(
                "bench: peer {label}: python {:.2} s, normal {:.2} s, fast {:.2} s, ludicrous {:.2} s, auto {:.2} s",
                round[0], round[1], round[2], round[3], round[4]
            );
            rounds.push(round);
        }
        let col = |i: usize| median(rounds.iter().map(|r| r[i]).filter(|v| v.is_finite()).collect());
        out.push(PeerCorpus {
            corpus: label.clone(),
            files,
            peer: peer.as_ref().map(|_| col(0)),
            normal: col(1),
            fast: col(2),
            ludicrous: col(3),
            auto: col(4),
            auto_mode,
            normal_server_cpu_per_1k: super::server_cpu_per_1k(&normal_runs),
            rounds,
            generated: *generated,
        });
    }
    let largest = corpora
        .iter()
        .zip(&out)
        .filter(|((_, _, generated), _)| *generated)
        .max_by_key(|(_, c)| c.files);
    let one_file = match largest {
        Some(((_, dir, _), c)) => Some(one_file(exe, work, data_dir, url, dir, c.files, repeat).await?),
        None => None,
    };
    Ok(PeerReport {
        corpora: out,
        one_file,
        peer_problem,
        python,
    })
}

/// The library of `dir` imported (normal), then one new file imported into it `repeat` times (a new file each
/// time): wall seconds and where the import's own time went.
async fn one_file(
    exe: &Path,
    work: &Path,
    data_dir: &Path,
    url: &str,
    dir: &Path,
    files: u64,
    repeat: usize,
) -> Result<OneFile> {
    database::bench::recreate_library(url).await?;
    let src = dir.to_str().context("corpus path is not UTF-8")?.to_string();
    let (e, d) = (exe.to_path_buf(), data_dir.to_path_buf());
    tokio::task::spawn_blocking(move || run_ours(&e, &d, &["--mode", "normal"], &src)).await??;
    let singles = work.join("peer-one-file");
    let n = repeat.max(1) as u64;
    let w = singles.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let _ = std::fs::remove_dir_all(&w);
        let defaults = gencorpus::GenOptions::default();
        gencorpus::generate(
            &w,
            &gencorpus::GenOptions {
                files: n,
                seed: 4242,
                duplicate_share: 0.0,
                ..defaults
            },
            &mut |_| {},
        )?;
        Ok(())
    })
    .await??;
    let mut paths: Vec<PathBuf> = walk_files(&singles, &["mid"], false);
    paths.sort();
    let mut walls = Vec::new();
    let mut steps: Vec<Vec<(String, f64)>> = Vec::new();
    for p in paths.iter().take(n as usize) {
        let (e, d, src) = (
            exe.to_path_buf(),
            data_dir.to_path_buf(),
            p.to_string_lossy().to_string(),
        );
        let m = tokio::task::spawn_blocking(move || run_ours(&e, &d, &["--mode", "normal"], &src)).await??;
        walls.push(m.wall);
        let mut s: Vec<(String, f64)> = m.json["fixed_seconds"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| Some((x[0].as_str()?.to_string(), x[1].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        s.push(("whole process (wall)".into(), m.wall));
        steps.push(s);
    }
    let _ = std::fs::remove_dir_all(&singles);
    let names: Vec<String> = steps
        .first()
        .map(|s| s.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let steps = names
        .into_iter()
        .map(|name| {
            let v = steps
                .iter()
                .filter_map(|s| s.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
                .collect();
            (name, median(v))
        })
        .collect();
    Ok(OneFile {
        library_files: files,
        wall: median(walls.clone()),
        walls,
        steps,
    })
}

/// The extensions the peer reads (its script's list).
const PEER_EXTENSIONS: [&str; 4] = ["mid", "midi", "kar", "rmi"];

/// Whether the peer would find a file to read under `dir`.
pub fn has_plain_midi(dir: &Path) -> bool {
    !walk_files(dir, &PEER_EXTENSIONS, true).is_empty()
}

/// The files under `dir` with one of `extensions` (any case); with `first_only`, at most one.
fn walk_files(dir: &Path, extensions: &[&str], first_only: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| extensions.iter().any(|m| x.eq_ignore_ascii_case(m)))
            {
                out.push(p);
                if first_only {
                    return out;
                }
            }
        }
    }
    out
}

/// The section's Markdown: the table, the targets, the one-file import.
pub fn markdown(r: &PeerReport) -> String {
    let mut s = String::from(
        "\n### Against an afternoon's Python importer (the peer)\n\n\
         The peer is `src/cli/bench/peer/peer_import.py` (symusic + psycopg `cursor.copy()`, a pool of 2 worker \
         processes, one table with one primary key; archives not read), run from a virtual environment made from \
         its pinned `requirements.txt`. Every figure is the median wall time of the whole process over the \
         interleaved rounds (peer, normal, fast, ludicrous, auto, then again), each into an empty library, hot cache; \
         `x peer` is the peer's wall time over ours (its rate over the peer's). fast and ludicrous include applying, \
         restoring and rebuilding; auto is `--mode auto --yes`.\n\n",
    );
    if let Some(p) = &r.peer_problem {
        s += &format!("The peer could not run on this machine, so its column is empty: {p}\n\n");
    } else {
        s += &format!("Peer interpreter: {}.\n\n", r.python);
    }
    s += "| corpus | files | peer s | normal s | normal x peer | fast s | ludicrous s | auto s (mode) | auto x peer | normal's server CPU s per 1k files |\n\
          |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    let x = |peer: Option<f64>, ours: f64| peer.map_or("-".to_string(), |p| format!("{:.2}x", p / ours.max(1e-9)));
    for c in &r.corpora {
        s += &format!(
            "| {} | {} | {} | {:.2} | {} | {:.2} | {:.2} | {:.2} ({}) | {} | {} |\n",
            c.corpus,
            c.files,
            c.peer.map_or("-".to_string(), |p| format!("{p:.2}")),
            c.normal,
            x(c.peer, c.normal),
            c.fast,
            c.ludicrous,
            c.auto,
            c.auto_mode,
            x(c.peer, c.auto),
            c.normal_server_cpu_per_1k
                .map_or("-".to_string(), |v| format!("{v:.3}"))
        );
    }
    s += "\n| peer target | measured | |\n|---|---|---|\n";
    for c in &r.corpora {
        if let Some(p) = c.peer {
            let ratio = p / c.normal.max(1e-9);
            s += &format!(
                "| normal at least {NORMAL_OVER_PEER}x the peer: {} | {ratio:.2}x ({:.2} s against {p:.2} s) | {} |\n",
                c.corpus,
                c.normal,
                mark(ratio >= NORMAL_OVER_PEER)
            );
        }
    }
    for c in r.corpora.iter().filter(|c| c.generated && c.files >= 100_000) {
        if let Some(p) = c.peer {
            let ratio = p / c.auto.max(1e-9);
            s += &format!(
                "| auto ({}) at least {AUTO_OVER_PEER}x the peer at {} files, restore and rebuild included | {ratio:.2}x ({:.2} s against {p:.2} s) | {} |\n",
                c.auto_mode,
                c.files,
                c.auto,
                mark(ratio >= AUTO_OVER_PEER)
            );
        }
        if let Some(cpu) = c.normal_server_cpu_per_1k {
            s += &format!(
                "| normal's server CPU per 1,000 files at most {NORMAL_SERVER_CPU_PER_1K:.4} s (half of 0.133) | {cpu:.3} s at {} files | {} |\n",
                c.files,
                mark(cpu <= NORMAL_SERVER_CPU_PER_1K)
            );
        }
    }
    if let Some(o) = &r.one_file {
        s += &format!(
            "| a one-file import into a library of {} files at most {ONE_FILE_SECONDS} s wall | {:.3} s (runs: {}) | {} |\n",
            o.library_files,
            o.wall,
            o.walls.iter().map(|w| format!("{w:.3}")).collect::<Vec<_>>().join(", "),
            mark(o.wall <= ONE_FILE_SECONDS)
        );
        s += &format!(
            "\nWhere the one-file import's time goes (medians; the import's own clock from the start of `main`, then \
             the whole process as the bench saw it): {}.\n",
            o.steps
                .iter()
                .map(|(n, v)| format!("{n} {:.1} ms", v * 1e3))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    s
}
