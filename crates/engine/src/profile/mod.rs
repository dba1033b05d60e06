//! Speed profiles: the three levels, the modes built from them, and what each changes and risks.
//!
//! `plan` computes the target values from the machine (pure, tested); `ops` applies them through the journal,
//! restores them, and rebuilds indexes.

pub mod auto;
pub mod plan;
pub mod sizing;

use serde::Serialize;

use crate::database::DbError;
use crate::database::cluster::ClusterError;
use crate::kinds::RunMode;

/// A speed level; each is applied and reverted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Basic,
    DropIndexes,
    Ludicrous,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Basic, Level::DropIndexes, Level::Ludicrous];

    pub fn number(&self) -> u8 {
        match self {
            Level::Basic => 1,
            Level::DropIndexes => 2,
            Level::Ludicrous => 3,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Level::Basic => "basic",
            Level::DropIndexes => "drop indexes",
            Level::Ludicrous => "unsafe storage",
        }
    }

    /// The name `profile apply` takes.
    pub fn cli_name(&self) -> &'static str {
        match self {
            Level::Basic => "basic",
            Level::DropIndexes => "drop-indexes",
            Level::Ludicrous => "unsafe-storage",
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Level::Basic => {
                "synchronous_commit off; more memory for sorts, maintenance and WAL (scaled to this machine)"
            }
            Level::DropIndexes => "back up and drop the secondary indexes; rebuilt in parallel afterwards",
            Level::Ludicrous => {
                "fsync and full_page_writes off, wal_level minimal, autovacuum off, library tables UNLOGGED"
            }
        }
    }

    /// Confirmations this level needs before it runs.
    pub fn confirmations(&self) -> &'static [Confirmation] {
        match self {
            Level::Ludicrous => &[Confirmation::FsyncOff, Confirmation::Unlogged],
            _ => &[],
        }
    }
}

/// An import mode: a set of levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Normal,
    Fast,
    Ludicrous,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Normal, Mode::Fast, Mode::Ludicrous];

    pub fn levels(&self) -> &'static [Level] {
        match self {
            Mode::Normal => &[],
            Mode::Fast => &[Level::Basic, Level::DropIndexes],
            Mode::Ludicrous => &[Level::Basic, Level::DropIndexes, Level::Ludicrous],
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Fast => "fast",
            Mode::Ludicrous => "ludicrous",
        }
    }

    /// What the mode changes.
    pub fn describe(&self) -> &'static str {
        match self {
            Mode::Normal => "no change: every index live, every safety on",
            Mode::Fast => "levels 1+2: asynchronous commit, bigger memory settings, indexes dropped and rebuilt after",
            Mode::Ludicrous => "levels 1+2+3: as fast, plus fsync off, minimal WAL, UNLOGGED tables",
        }
    }

    /// What the mode risks while it is applied.
    pub fn risk(&self) -> &'static str {
        match self {
            Mode::Normal => "nothing",
            Mode::Fast => "a crash loses the last moments of commits (never corrupts); searches are slow until rebuilt",
            Mode::Ludicrous => {
                "a crash of the server or the machine can lose or corrupt the whole library: tables come back empty"
            }
        }
    }
}

/// A risk that needs the user's explicit yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confirmation {
    FsyncOff,
    Unlogged,
}

impl Confirmation {
    /// What a crash would cost, in plain words.
    pub fn statement(&self) -> &'static str {
        match self {
            Confirmation::FsyncOff => {
                "fsync=off: if the machine or the operating system crashes (power cut, kernel panic) while this is \
                 on, the whole database cluster can be corrupted beyond repair, including data imported before this \
                 run. A crash of the PostgreSQL server alone does not corrupt it."
            }
            Confirmation::Unlogged => {
                "UNLOGGED tables: if the PostgreSQL server crashes or is killed while files, musical_metadata and \
                 file_locations are UNLOGGED, they come back EMPTY - every imported file, not only this run's, must \
                 then be imported again."
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("confirmation needed: {}", .0.iter().map(|c| c.statement()).collect::<Vec<_>>().join(" "))]
    NeedsConfirmation(Vec<Confirmation>),
    #[error("{0}")]
    NotSuperuser(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// Another command holds the library (see `turns.rs`): nothing was changed.
    #[error("{0}")]
    Busy(String),
}

impl From<crate::database::lock::TurnError> for ProfileError {
    fn from(e: crate::database::lock::TurnError) -> Self {
        match e {
            crate::database::lock::TurnError::Busy(text) => ProfileError::Busy(text),
            crate::database::lock::TurnError::Db(e) => ProfileError::Db(e),
        }
    }
}

/// How safe the database is now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SafetyState {
    /// Things that can lose or corrupt data on a crash (fsync off, UNLOGGED tables, ...).
    pub unsafe_reasons: Vec<String>,
    /// Changes that cost speed of recovery or searches, not data (asynchronous commit, dropped indexes, ...).
    pub relaxed: Vec<String>,
    /// Which levels look applied (journal entries not yet restored).
    pub levels_applied: [bool; 3],
    /// Settings changed but waiting for a server restart.
    pub pending_restart: Vec<String>,
    /// Set when UNLOGGED tables came back empty after a crash.
    pub data_lost: Option<String>,
    /// Transitions a killed tool or server left unfinished, each with the command that completes it.
    pub interrupted: Vec<String>,
    /// Commands holding the library now (imports, a transition), as they name themselves.
    pub running: Vec<String>,
}

impl SafetyState {
    /// Something can lose or corrupt data on a crash, or already did.
    pub fn is_unsafe(&self) -> bool {
        !self.unsafe_reasons.is_empty() || self.data_lost.is_some()
    }

    /// Nothing at all relaxed: no level left applied, no setting waiting for a restart, nothing lost.
    pub fn is_safe(&self) -> bool {
        !self.is_unsafe()
            && self.relaxed.is_empty()
            && self.pending_restart.is_empty()
            && self.interrupted.is_empty()
            && !self.levels_applied.contains(&true)
    }

    /// The one word `status` and the console header show.
    pub fn badge(&self) -> Badge {
        if self.is_unsafe() {
            Badge::Unsafe
        } else if self.is_safe() {
            Badge::Safe
        } else {
            Badge::Relaxed
        }
    }
}

/// How safe the database is, in one word: SAFE only when nothing is relaxed; UNSAFE when a crash can lose or
/// corrupt data (fsync, full_page_writes, UNLOGGED tables) or already did; RELAXED otherwise (dropped indexes,
/// asynchronous commit, a level left applied, a setting pending restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Badge {
    Safe,
    Relaxed,
    Unsafe,
}

impl Badge {
    pub fn label(&self) -> &'static str {
        match self {
            Badge::Safe => "SAFE",
            Badge::Relaxed => "RELAXED",
            Badge::Unsafe => "UNSAFE",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub level: Level,
    pub lines: Vec<String>,
    pub pending_restart: Vec<String>,
    pub restarted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    pub lines: Vec<String>,
    pub checks: Vec<Check>,
    pub ok: bool,
    pub pending_restart: Vec<String>,
    /// What the restore leaves relaxed, each with the command that ends it: secondary indexes that are still
    /// dropped (`rebuild-indexes` builds them; a restore puts settings and tables back, it builds no index).
    pub still_relaxed: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum RebuildEvent {
    Started { name: String, table: String },
    Finished { name: String, seconds: f64 },
    Failed { name: String, error: String },
    Analyzing,
    Done(RebuildReport),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    pub built: Vec<(String, f64)>,
    pub failed: Vec<(String, String)>,
    pub present: usize,
    pub expected: usize,
    pub seconds: f64,
}

/// The run a mode makes, as stored with it (kept here, above `kinds`, which knows no profile).
impl From<Mode> for RunMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Normal => RunMode::Normal,
            Mode::Fast => RunMode::Fast,
            Mode::Ludicrous => RunMode::Ludicrous,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_is_safe_only_when_nothing_is_relaxed() {
        let safe = SafetyState::default();
        assert_eq!(safe.badge(), Badge::Safe);
        assert!(safe.is_safe());
        // The fast-mode leftover: indexes dropped and asynchronous commit.
        let fast = SafetyState {
            relaxed: vec![
                "39 of 39 secondary indexes dropped".into(),
                "synchronous_commit is off".into(),
            ],
            levels_applied: [true, true, false],
            ..Default::default()
        };
        assert_eq!(fast.badge(), Badge::Relaxed);
        assert!(!fast.is_safe() && !fast.is_unsafe());
        let journal_only = SafetyState {
            levels_applied: [true, false, false],
            ..Default::default()
        };
        assert_eq!(journal_only.badge(), Badge::Relaxed);
        let pending = SafetyState {
            pending_restart: vec!["wal_level".into()],
            ..Default::default()
        };
        assert_eq!(pending.badge(), Badge::Relaxed);
        let unsafe_ = SafetyState {
            unsafe_reasons: vec!["fsync is off".into()],
            relaxed: vec!["synchronous_commit is off".into()],
            ..Default::default()
        };
        assert_eq!(unsafe_.badge(), Badge::Unsafe);
        let lost = SafetyState {
            data_lost: Some("rows lost".into()),
            ..Default::default()
        };
        assert_eq!(lost.badge(), Badge::Unsafe);
        assert_eq!(
            serde_json::to_string(&[Badge::Safe, Badge::Relaxed, Badge::Unsafe]).unwrap(),
            r#"["SAFE","RELAXED","UNSAFE"]"#
        );
    }
}
