//! `doctor`: the machine and server facts that bear on a big import, each judged for this import with the exact
//! command that changes it. Nothing here changes anything; reading the facts and judging them are kept apart so the
//! judgement is a tested pure function.
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::database::status::ServerFacts;
use crate::profile::Mode;
use crate::profile::sizing::{DB_BYTES_PER_FILE, ImportSize, wal_bytes_per_file};

/// How a check came out, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// The fact could not be read here (e.g. no cpufreq in a virtual machine, server unreachable).
    Unknown,
    /// Worth changing for a faster or steadier import.
    Advice,
    /// Likely to make this import fail or crawl.
    Problem,
}

/// One check: what was found, whether it matters for this import, and how to change it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub value: String,
    pub verdict: Verdict,
    /// Whether the value bears on this import (mode, size, where the server runs).
    pub matters: bool,
    pub why: String,
    /// The exact command(s) that change it; `None` when nothing needs changing.
    pub fix: Option<String>,
}

/// Facts about the machine the importer runs on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OsFacts {
    /// Soft and hard `RLIMIT_NOFILE`.
    pub open_files: Option<(u64, u64)>,
    /// `scaling_governor` of each CPU that exposes cpufreq; empty when none does.
    pub governors: Vec<String>,
    pub mem_total: u64,
    pub mem_available: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_free: Option<u64>,
    pub swappiness: Option<u32>,
    /// The selected transparent-huge-page mode (`always`, `madvise`, `never`).
    pub thp: Option<String>,
    pub cores: usize,
}

/// Everything `doctor` reads, gathered once; judged again whenever the mode or the sources change.
#[derive(Debug, Clone)]
pub struct DoctorFacts {
    pub os: OsFacts,
    /// The server's facts, or why they could not be read.
    pub server: Result<ServerFacts, String>,
    /// Each mode's import rate on this machine (this library's runs, else the bench's): which speed levels
    /// actually help here, for the console's bottleneck remedies.
    pub rates: crate::profile::auto::Rates,
}

impl DoctorFacts {
    /// Read this machine and ask the server (an unreachable server is a finding, not a failure).
    pub async fn gather(engine: Option<&crate::run::session::Engine>, open_error: Option<String>) -> Self {
        let os = tokio::task::spawn_blocking(read_os_facts).await.unwrap_or_default();
        let server = match (engine, open_error) {
            (Some(e), _) => e.doctor_facts().await.map_err(|e| e.to_string()),
            (None, err) => Err(err.unwrap_or_else(|| "no server".into())),
        };
        let measured = match engine {
            Some(e) => e.measured_rates().await.unwrap_or([None; 3]),
            None => [None; 3],
        };
        let rates = crate::profile::auto::Rates::from_runs(measured);
        Self { os, server, rates }
    }

    pub fn checks(&self, import: Option<ImportSize>, mode: Mode) -> Vec<Check> {
        evaluate(&self.os, self.server.as_ref().map_err(String::as_str), import, mode)
    }
}

/// "ok", "unknown", "advice" or "problem": the worst verdict among the checks that matter.
pub fn overall(checks: &[Check]) -> &'static str {
    match checks.iter().filter(|c| c.matters).map(|c| c.verdict).max() {
        Some(Verdict::Problem) => "problem",
        Some(Verdict::Advice) => "advice",
        Some(Verdict::Unknown) => "unknown",
        _ => "ok",
    }
}

/// The open files an import keeps at once: a reader and a prefetch clone per core, the server connections, logs.
fn files_needed(cores: usize) -> u64 {
    64 + 8 * cores as u64
}

/// Judge the facts for an import of `import` (if known) in `mode`. `server` is the server's facts or why they could
/// not be read.
pub fn evaluate(
    os: &OsFacts,
    server: Result<&ServerFacts, &str>,
    import: Option<ImportSize>,
    mode: Mode,
) -> Vec<Check> {
    let mut out = vec![
        open_files(os),
        governor(os),
        swap(os, import),
        huge_pages(os, server.ok()),
    ];
    match server {
        Ok(s) => {
            out.push(disk(s, import, mode));
            out.push(shared_buffers(os, s, import, mode));
            out.push(checkpoints(s, import, mode, os));
        }
        Err(e) => {
            for (id, title) in [
                ("disk", "Free disk for data and WAL"),
                ("shared_buffers", "PostgreSQL shared_buffers"),
                ("checkpoints", "PostgreSQL checkpoints"),
            ] {
                out.push(Check {
                    id,
                    title,
                    value: "unknown".into(),
                    verdict: Verdict::Unknown,
                    matters: true,
                    why: format!("the server could not be asked: {e}"),
                    fix: None,
                });
            }
        }
    }
    out
}

fn open_files(os: &OsFacts) -> Check {
    let need = files_needed(os.cores);
    let base = |value: String, verdict, why: String, fix| Check {
        id: "open_files",
        title: "Open-file limit",
        value,
        verdict,
        matters: verdict != Verdict::Ok,
        why,
        fix,
    };
    let Some((soft, hard)) = os.open_files else {
        return base("unknown".into(), Verdict::Unknown, "getrlimit failed".into(), None);
    };
    let value = format!("{soft} (hard {hard})");
    if soft >= need {
        return base(
            value,
            Verdict::Ok,
            format!(
                "an import keeps about {} open at once on {}",
                crate::human::counted(need, "file"),
                crate::human::counted(os.cores, "core")
            ),
            None,
        );
    }
    let fix = if hard >= need {
        format!(
            "ulimit -n {} (in the shell that starts midi-tui; for good: `nofile` in /etc/security/limits.conf)",
            hard.min(65_536)
        )
    } else {
        "sudo prlimit --pid $$ --nofile=65536:65536 (for good: `* - nofile 65536` in /etc/security/limits.conf)".into()
    };
    base(
        value,
        Verdict::Problem,
        format!(
            "an import keeps about {} open at once on {}: archives would fail with EMFILE",
            crate::human::counted(need, "file"),
            crate::human::counted(os.cores, "core")
        ),
        Some(fix),
    )
}

fn governor(os: &OsFacts) -> Check {
    let mut kinds: Vec<&str> = os.governors.iter().map(String::as_str).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut c = Check {
        id: "cpu_governor",
        title: "CPU frequency governor",
        value: if kinds.is_empty() {
            "not exposed".into()
        } else {
            kinds.join(", ")
        },
        verdict: Verdict::Ok,
        matters: false,
        why: String::new(),
        fix: None,
    };
    if kinds.is_empty() {
        c.verdict = Verdict::Unknown;
        c.why = "no cpufreq in /sys: a virtual machine or container, where the host sets the clock".into();
    } else if kinds == ["performance"] {
        c.why = "every core may run at its top clock".into();
    } else {
        c.verdict = Verdict::Advice;
        c.matters = true;
        c.why = "parsing is CPU-bound: a power-saving governor holds the clock low or ramps it late".into();
        c.fix = Some(
            "sudo cpupower frequency-set -g performance (or: echo performance | sudo tee \
             /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)"
                .into(),
        );
    }
    c
}

fn swap(os: &OsFacts, import: Option<ImportSize>) -> Check {
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
    let (total, free) = (os.swap_total.unwrap_or(0), os.swap_free.unwrap_or(0));
    let used = total.saturating_sub(free);
    let swappiness = os.swappiness.map_or("?".into(), |s| s.to_string());
    let mut c = Check {
        id: "swap",
        title: "Swap and memory",
        value: format!(
            "{} swap, {} used, swappiness {swappiness}, {} of {} RAM available",
            gib(total),
            gib(used),
            os.mem_available.map_or("?".into(), gib),
            gib(os.mem_total)
        ),
        verdict: Verdict::Ok,
        matters: false,
        why: "the import needs a few hundred MB; the server's shared buffers come on top".into(),
        fix: None,
    };
    let short = os.mem_available.is_some_and(|a| a < os.mem_total / 10 || a < 512 << 20);
    if short || (total > 0 && used > total / 4) {
        c.verdict = Verdict::Advice;
        c.matters = true;
        c.why = "memory is short: swapping stalls both the parse and the server's writes".into();
        c.fix = Some("stop other memory users before a big import (see `ps aux --sort=-rss | head`)".into());
    } else if total > 0 && os.swappiness.is_some_and(|s| s > 10) {
        c.verdict = Verdict::Advice;
        // A source bigger than the free memory fills the page cache, and a high swappiness then pushes the
        // server's idle buffers out to swap instead of dropping cached source pages.
        c.matters =
            import.is_some_and(|i| i.plain_files * 20_000 + i.archive_bytes > os.mem_available.unwrap_or(os.mem_total));
        c.why = "with swappiness above 10 the kernel swaps idle server memory out while a big source fills the \
                 page cache"
            .into();
        c.fix = Some(
            "sudo sysctl vm.swappiness=10 (for good: echo vm.swappiness=10 | sudo tee /etc/sysctl.d/99-midi-tui.conf)"
                .into(),
        );
    }
    c
}

fn huge_pages(os: &OsFacts, server: Option<&ServerFacts>) -> Check {
    let mut c = Check {
        id: "transparent_huge_pages",
        title: "Transparent huge pages",
        value: os.thp.clone().unwrap_or_else(|| "not exposed".into()),
        verdict: Verdict::Ok,
        matters: false,
        why: "THP is not forced on every allocation".into(),
        fix: None,
    };
    match os.thp.as_deref() {
        None => {
            c.verdict = Verdict::Unknown;
            c.why = "/sys/kernel/mm/transparent_hugepage/enabled cannot be read".into();
        }
        Some("always") => {
            c.verdict = Verdict::Advice;
            // Only the server on this machine suffers: the importer's own memory is small and short-lived.
            c.matters = server.is_some_and(|s| s.disk_free.is_some());
            c.why = "`always` makes the server's large shared memory stall on page compaction; PostgreSQL \
                     advises huge_pages instead"
                .into();
            c.fix = Some("echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled".into());
        }
        Some(_) => {}
    }
    c
}

/// Bytes the database grows by per imported file: the library's own figure once it is big enough to say.
fn db_bytes_per_file(s: &ServerFacts) -> u64 {
    if s.library_files >= 10_000 {
        (s.database_bytes / s.library_files).max(1)
    } else {
        DB_BYTES_PER_FILE
    }
}

fn mib(b: u64) -> String {
    if b >= 10 << 30 {
        format!("{:.0} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MiB", b.div_ceil(1 << 20))
    }
}

/// WAL the mode writes and the part of it that sits in pg_wal at once (checkpoints recycle the rest; the server
/// may overshoot max_wal_size, hence the factor two).
fn wal_needs(s: &ServerFacts, files: u64, mode: Mode) -> (u64, u64) {
    let written = files * wal_bytes_per_file(mode);
    (written, written.min(s.max_wal_size.saturating_mul(2)))
}

fn disk(s: &ServerFacts, import: Option<ImportSize>, mode: Mode) -> Check {
    let per_file = db_bytes_per_file(s);
    let files = import.map_or(100_000, |i| i.files);
    let (_, wal_held) = wal_needs(s, files, mode);
    let need = files * per_file + wal_held;
    let basis = match import {
        Some(i) => format!("about {}", crate::human::counted(i.files, "file")),
        None => "per 100,000 files".into(),
    };
    let why_need = format!(
        "{basis} in {} mode need about {} ({} B of data per file, {} of WAL in pg_wal at once)",
        mode.label(),
        mib(need),
        per_file,
        mib(wal_held)
    );
    let mut c = Check {
        id: "disk",
        title: "Free disk for data and WAL",
        value: String::new(),
        verdict: Verdict::Ok,
        matters: import.is_some(),
        why: why_need.clone(),
        fix: None,
    };
    let Some(free) = s.disk_free else {
        c.value = "not on this machine".into();
        c.verdict = Verdict::Unknown;
        c.why = format!("{why_need}; check on the server: df -h {}", s.data_directory);
        return c;
    };
    c.value = format!("{} free under {}", mib(free), s.data_directory);
    if free < need {
        c.verdict = Verdict::Problem;
        c.matters = true;
        c.why = format!("{why_need}: the server would stop with \"No space left on device\"");
        c.fix = Some(format!("free space under {} or import in parts", s.data_directory));
    } else if free < need * 2 {
        c.verdict = Verdict::Advice;
        c.why = format!("{why_need}: less than twice that is free, and index rebuilds need room of their own");
        c.fix = Some(format!("free space under {}", s.data_directory));
    }
    c
}

/// The shared_buffers the managed cluster would choose on a machine with this memory.
pub fn recommended_shared_buffers(mem_total: u64) -> u64 {
    (mem_total / 8).clamp(128 << 20, 2 << 30)
}

fn restart_fix(s: &ServerFacts, setting: &str, value: &str) -> String {
    if s.managed {
        format!(
            "psql \"$(midi-tui db url)\" -c \"ALTER SYSTEM SET {setting} = '{value}'\" && midi-tui db stop && \
             midi-tui db start"
        )
    } else {
        format!(
            "psql \"$DATABASE_URL\" -c \"ALTER SYSTEM SET {setting} = '{value}'\", then restart the server \
             (sudo systemctl restart postgresql, or pg_ctl restart -D {})",
            s.data_directory
        )
    }
}

fn reload_fix(s: &ServerFacts, sets: &[(&str, String)]) -> String {
    let url = if s.managed {
        "\"$(midi-tui db url)\""
    } else {
        "\"$DATABASE_URL\""
    };
    let mut cmd = format!("psql {url}");
    for (name, value) in sets {
        cmd.push_str(&format!(" -c \"ALTER SYSTEM SET {name} = '{value}'\""));
    }
    cmd.push_str(" -c \"SELECT pg_reload_conf()\"");
    cmd
}

fn shared_buffers(os: &OsFacts, s: &ServerFacts, import: Option<ImportSize>, mode: Mode) -> Check {
    let want = recommended_shared_buffers(os.mem_total);
    let after = (s.library_files + import.map_or(0, |i| i.files)) * db_bytes_per_file(s);
    let mut c = Check {
        id: "shared_buffers",
        title: "PostgreSQL shared_buffers",
        value: mib(s.shared_buffers),
        verdict: Verdict::Ok,
        // Live indexes are updated at random places: once they outgrow the buffers, each write may wait on a read.
        matters: mode == Mode::Normal && after > s.shared_buffers,
        why: format!(
            "an eighth of this machine's memory ({}) is enough beside the importer",
            mib(want)
        ),
        fix: None,
    };
    if s.shared_buffers < want / 2 {
        c.verdict = Verdict::Advice;
        c.why = format!(
            "{} is under half of an eighth of the memory ({}); the library will be about {} after the import, \
             and {} mode {}",
            mib(s.shared_buffers),
            mib(want),
            mib(after),
            mode.label(),
            if mode == Mode::Normal {
                "keeps every index live, so index pages are read and written at random"
            } else {
                "rebuilds indexes after the run, so the buffers matter less"
            }
        );
        c.fix = Some(restart_fix(s, "shared_buffers", &format!("{}MB", want >> 20)));
    }
    c
}

fn checkpoints(s: &ServerFacts, import: Option<ImportSize>, mode: Mode, os: &OsFacts) -> Check {
    let files = import.map_or(100_000, |i| i.files);
    let (written, _) = wal_needs(s, files, mode);
    // Fast and ludicrous raise max_wal_size for the run (level 1); normal runs with the server's own value.
    let max_wal = if mode == Mode::Normal {
        s.max_wal_size
    } else {
        crate::profile::plan::basic_max_wal_size(os.mem_total).max(s.max_wal_size)
    };
    let count = written / max_wal.max(1);
    let mut c = Check {
        id: "checkpoints",
        title: "PostgreSQL checkpoints",
        value: format!(
            "max_wal_size {}, checkpoint_timeout {} s, completion_target {}",
            mib(s.max_wal_size),
            s.checkpoint_timeout_secs,
            s.checkpoint_completion_target
        ),
        verdict: Verdict::Ok,
        matters: import.is_some() && count > 0,
        why: format!(
            "{} mode writes about {} of WAL for {}: about {} forced by WAL size",
            mode.label(),
            mib(written),
            crate::human::counted(files, "file"),
            crate::human::counted(count, "checkpoint")
        ),
        fix: None,
    };
    let mut sets = Vec::new();
    if count > 2 && mode == Mode::Normal {
        // After each checkpoint the first change to every page logs the whole page: more checkpoints, more WAL.
        sets.push((
            "max_wal_size",
            format!("{}MB", crate::profile::plan::basic_max_wal_size(os.mem_total) >> 20),
        ));
    }
    if s.checkpoint_completion_target < 0.9 {
        sets.push(("checkpoint_completion_target", "0.9".into()));
    }
    if s.checkpoint_timeout_secs < 300 {
        sets.push(("checkpoint_timeout", "15min".into()));
    }
    if !sets.is_empty() {
        c.verdict = Verdict::Advice;
        c.matters = true;
        c.why.push_str(
            "; each checkpoint makes the next change of every page log the whole page, and a short or \
             unspread checkpoint bursts the disk",
        );
        c.fix = Some(reload_fix(s, &sets));
    }
    c
}

/// Read the facts of this machine from `/proc`, `/sys` and getrlimit. Never fails: what cannot be read is `None`.
pub fn read_os_facts() -> OsFacts {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    OsFacts {
        open_files: open_file_limit(),
        governors: governors(Path::new("/sys/devices/system/cpu")),
        mem_total: field("MemTotal").unwrap_or_else(crate::machine::total_memory_bytes),
        mem_available: field("MemAvailable"),
        swap_total: field("SwapTotal"),
        swap_free: field("SwapFree"),
        swappiness: std::fs::read_to_string("/proc/sys/vm/swappiness")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        thp: std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .ok()
            .and_then(|s| selected_choice(&s)),
        cores: crate::machine::cores(),
    }
}

fn open_file_limit() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some((lim.rlim_cur, lim.rlim_max))
}

fn governors(cpu_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(cpu_dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, String)> = entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.strip_prefix("cpu")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| {
            let p = e.path().join("cpufreq/scaling_governor");
            Some((p.clone(), std::fs::read_to_string(p).ok()?.trim().to_string()))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, g)| g).collect()
}

/// The bracketed choice of a sysfs selection line: `always [madvise] never` -> `madvise`.
pub fn selected_choice(line: &str) -> Option<String> {
    let start = line.find('[')? + 1;
    let end = start + line[start..].find(']')?;
    Some(line[start..end].to_string())
}

#[cfg(test)]
mod tests;
