//! No library risked without a way back: before level 3 on a library that holds files, what a crash would cost
//! (re-reading the earlier runs' sources, or files only missing sources hold), and a backup of the library taken
//! before the profile is applied (`pg_dump`, outside the cluster's data directory) that one command puts back.
//!
//! The backup holds the tables a crash can empty (UNLOGGED in level 3) and the search rows derived from them, data
//! only, in pg_dump's directory format written by parallel jobs without compression (measured fastest here: see
//! BENCHMARKS.md, section `backup`). Restoring it empties those tables, loads the rows back, and marks the runs it
//! holds as whole again; runs after it stay lost, for the next import to read again from their sources.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::database::{backup as db, cluster::ServerBinaries, lost_rows};
use crate::human;
use crate::profile::ProfileError;
use crate::run::session::Engine;

/// Backup seconds per million library files (see `auto::BACKUP_SECONDS_PER_MILLION_FILES`).
pub use crate::profile::auto::BACKUP_SECONDS_PER_MILLION_FILES as SECONDS_PER_MILLION_FILES;
/// Backup bytes per library file, measured the same way (84 MB and 807 MB): the estimate shown before one is taken.
pub const BYTES_PER_FILE: f64 = 810.0;
/// The manifest in a backup's folder.
const MANIFEST: &str = "midi-tui-backup.json";

/// What a crash in level 3 would cost this library, and how it would be repaired.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrashCost {
    pub library_files: i64,
    /// Earlier runs' sources still there and readable: the repair reads them again.
    pub sources_present: Vec<String>,
    /// Earlier runs' sources gone or unreadable.
    pub sources_missing: Vec<String>,
    /// Files whose every location lies in a missing source: a crash loses them for good without a backup.
    pub files_at_risk: i64,
    /// About how long re-reading the present sources takes (at this library's normal rate).
    pub reread_secs: f64,
    /// About what a backup costs now.
    pub backup_bytes: i64,
    pub backup_secs: f64,
}

impl CrashCost {
    /// The cost in the user's words, for the confirmation.
    pub fn describe(&self) -> String {
        if self.library_files == 0 {
            return "the library is empty: a crash costs only this run, which the next import reads again".into();
        }
        let mut text = format!(
            "a crash of the server in ludicrous mode empties the library ({}): the next import reads the \
             earlier runs' {} again (about {:.0} min)",
            human::counted(self.library_files, "file"),
            human::counted(self.sources_present.len(), "source"),
            (self.reread_secs / 60.0).ceil()
        );
        if !self.sources_missing.is_empty() {
            text.push_str(&format!(
                "; {} missing or unreadable ({}): {} found only there and would be lost for good",
                human::plural_as(self.sources_missing.len(), "source is", "sources are"),
                self.sources_missing.join(", "),
                human::counted(self.files_at_risk, "file")
            ));
        }
        text.push_str(&format!(
            "; a backup first (--backup) takes about {:.0} MB and {:.0} s and brings them back with `midi-tui \
             restore-backup`",
            self.backup_bytes as f64 / 1e6,
            self.backup_secs.ceil()
        ));
        text
    }

    /// Why level 3 is refused without a choice: files that only missing sources hold, which a crash would lose for
    /// good. `None` when nothing is at risk beyond what re-reading the sources repairs.
    pub fn refusal(&self) -> Option<String> {
        (self.files_at_risk > 0).then(|| {
            format!(
                "{} found only in sources that are missing or unreadable ({}): a server crash in ludicrous mode \
                 would lose them for good. Pass --backup to back the library up first (about {:.0} MB, {:.0} s), \
                 or --no-backup to accept that risk (or put the sources back)",
                human::plural_as(self.files_at_risk, "file is", "files are"),
                self.sources_missing.join(", "),
                self.backup_bytes as f64 / 1e6,
                self.backup_secs.ceil()
            )
        })
    }
}

/// What to say after a backup: where it is and how it comes back.
pub const RECOVERY: &str = "after a crash: `midi-tui restore-safety`, `midi-tui restore-backup`, then any import";

/// A backup on disk, as its manifest describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    pub path: PathBuf,
    pub taken_at: String,
    /// The newest run it holds: later runs are read again after it is restored.
    pub last_run_id: i64,
    pub files: i64,
    pub bytes: u64,
    pub seconds: f64,
}

impl Backup {
    pub fn describe(&self) -> String {
        format!(
            "backup of {} files, {:.1} MB in {:.1} s, at {}",
            self.files,
            self.bytes as f64 / 1e6,
            self.seconds,
            self.path.display()
        )
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ProfileError + '_ {
    move |source| ProfileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `pg_dump` or `pg_restore`: beside the server binaries, else on PATH.
pub fn client_program(name: &str) -> PathBuf {
    ServerBinaries::find()
        .map(|b| b.program(name))
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Run a client program to its end; its stderr is the error.
async fn run(mut cmd: Command, what: &str) -> Result<(), ProfileError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| ProfileError::Busy(format!("{what}: {e}")))?
        .map_err(|e| ProfileError::Busy(format!("{what}: cannot run {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProfileError::Busy(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Is each source still there and readable? (A folder that lists, a file that opens.)
fn check_sources(sources: Vec<String>) -> (Vec<String>, Vec<String>) {
    sources.into_iter().partition(|s| {
        let p = crate::source::location_to_path(s);
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(&p).is_ok(),
            Ok(_) => std::fs::File::open(&p).is_ok(),
            Err(_) => false,
        }
    })
}

impl Engine {
    /// What a crash in level 3 would cost now: every earlier run's source checked, the files only missing sources
    /// hold counted, re-reading and a backup estimated.
    pub async fn crash_cost(&self) -> Result<CrashCost, ProfileError> {
        let sources = self.bounded(db::run_sources(&self.pool)).await?;
        // A hung mount must not hang the check: the walk of a few paths runs on a thread of its own.
        let (present, missing) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio::task::spawn_blocking(move || check_sources(sources)),
        )
        .await
        .map_err(|_| ProfileError::Busy("checking the earlier runs' sources took over 10 s (a hung mount?)".into()))?
        .map_err(|e| ProfileError::Busy(format!("checking the sources: {e}")))?;
        let (files, at_risk) = self.bounded(db::files_at_risk(&self.pool, &missing)).await?;
        let rates = crate::profile::auto::Rates::from_runs(self.measured_rates().await.unwrap_or_default());
        let bytes = self.bounded(db::table_bytes(&self.pool)).await?;
        Ok(CrashCost {
            library_files: files,
            sources_present: present,
            sources_missing: missing,
            files_at_risk: at_risk,
            reread_secs: files as f64 / rates.normal.max(1.0),
            backup_bytes: bytes.max((files as f64 * BYTES_PER_FILE) as i64),
            backup_secs: files as f64 / 1e6 * SECONDS_PER_MILLION_FILES,
        })
    }

    /// The library's backups folder, outside the cluster's data directory.
    pub fn backups_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }

    /// A consistent copy of the library (one snapshot for every table) in a new folder; the previous backup goes
    /// once this one is complete.
    pub async fn backup_library(&self) -> Result<Backup, ProfileError> {
        let dir = self.backups_dir();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "-");
        let path = dir.join(format!("library-{stamp}"));
        let last_run_id = self.bounded(db::last_run(&self.pool)).await?;
        let (files, _) = self.bounded(db::files_at_risk(&self.pool, &[])).await?;
        let t0 = Instant::now();
        let mut cmd = Command::new(client_program("pg_dump"));
        cmd.arg("--dbname")
            .arg(self.target.url_for_tools())
            .args(["--format=directory", "--compress=0", "--data-only", "--no-sync"])
            .arg(format!("--jobs={}", crate::machine::cores().clamp(1, 8)))
            .arg("--file")
            .arg(&path);
        for t in db::TABLES {
            cmd.arg(format!("--table={t}"));
        }
        self.bounded(run(cmd, "the backup (pg_dump)")).await?;
        // Written for good before the risk is taken: the files, then their folder.
        let p = path.clone();
        tokio::task::spawn_blocking(move || sync_dir(&p))
            .await
            .map_err(|e| ProfileError::Busy(e.to_string()))?
            .map_err(io(&path))?;
        let backup = Backup {
            bytes: dir_bytes(&path),
            path: path.clone(),
            taken_at: stamp,
            last_run_id,
            files,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let manifest = path.join(MANIFEST);
        let json = serde_json::to_vec_pretty(&backup).map_err(|e| io(&manifest)(std::io::Error::other(e)))?;
        std::fs::write(&manifest, json).map_err(io(&manifest))?;
        for old in self.backups()?.into_iter().filter(|b| b.path != path) {
            let _ = std::fs::remove_dir_all(&old.path);
        }
        Ok(backup)
    }

    /// The backups on disk, newest first.
    pub fn backups(&self) -> Result<Vec<Backup>, ProfileError> {
        let dir = self.backups_dir();
        let mut all: Vec<Backup> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join(MANIFEST)).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        all.sort_by(|a, b| b.taken_at.cmp(&a.taken_at));
        Ok(all)
    }

    /// After a crash emptied the library: its rows as the newest backup holds them, and the runs after the backup
    /// marked for the next import to read again. Refused when nothing was lost (it would drop newer rows).
    pub async fn restore_backup(&self) -> Result<Vec<String>, ProfileError> {
        let _turn = self.take_turn("restore-backup").await?;
        let Some(backup) = self.backups()?.into_iter().next() else {
            return Err(ProfileError::Busy(format!(
                "no backup in {}: nothing to restore",
                self.backups_dir().display()
            )));
        };
        self.check_integrity().await?;
        let lost = self.bounded(lost_rows::outstanding(&self.pool)).await?;
        if lost.is_empty() {
            return Err(ProfileError::Busy(
                "nothing was lost: the library is whole, and restoring the backup would drop what came after it".into(),
            ));
        }
        let t0 = Instant::now();
        self.bounded(db::empty_tables(&self.pool)).await?;
        let mut cmd = Command::new(client_program("pg_restore"));
        cmd.arg("--dbname")
            .arg(self.target.url_for_tools())
            .args(["--data-only", "--disable-triggers"])
            .arg(format!("--jobs={}", crate::machine::cores().clamp(1, 8)))
            .arg(&backup.path);
        self.bounded(run(cmd, "restoring the backup (pg_restore)")).await?;
        let runs = self
            .bounded(db::backup_restored(&self.pool, backup.last_run_id))
            .await?;
        let later = self.bounded(lost_rows::outstanding(&self.pool)).await?;
        let mut lines = vec![format!(
            "restored the {} in {:.1} s: {} whole again",
            backup.describe(),
            t0.elapsed().as_secs_f64(),
            human::counted(runs, "run")
        )];
        if !later.lost_runs.is_empty() {
            let ids: Vec<String> = later.lost_runs.iter().map(|r| format!("#{r}")).collect();
            lines.push(format!(
                "runs after the backup ({}) are still lost: the next import reads their sources again",
                ids.join(", ")
            ));
        }
        Ok(lines)
    }
}

/// fsync every file of a folder, then the folder.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        std::fs::File::open(e.path())?.sync_all()?;
    }
    std::fs::File::open(dir)?.sync_all()
}
