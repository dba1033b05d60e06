//! Run statuses the server was not there to store: kept in a small file under the data dir, applied at the next start.
//!
//! A run whose server died is `failed`; without this note, the next start would only see a run left `running` by a
//! process that is gone and call it `interrupted`, which is what a killed tool means.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::database::runs;

/// The pending statuses of one database target.
#[derive(Debug, Clone)]
pub struct PendingRuns {
    dir: PathBuf,
    target: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Note {
    target: String,
    run_id: i64,
    pid: i32,
    status: String,
    error: Option<String>,
}

impl PendingRuns {
    /// `target` tells databases apart (the description, never a password).
    pub fn new(data_dir: &Path, target: &str) -> Self {
        Self {
            dir: data_dir.join("pending-runs"),
            target: target.to_string(),
        }
    }

    /// Remember the status of this process's run `run_id`.
    pub fn remember(&self, run_id: i64, status: &str, error: Option<&str>) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let note = Note {
            target: self.target.clone(),
            run_id,
            pid: std::process::id() as i32,
            status: status.to_string(),
            error: error.map(str::to_string),
        };
        let key = blake3::hash(self.target.as_bytes()).to_hex();
        let path = self.dir.join(format!("run-{}-{run_id}.json", &key[..12]));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&note).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Store every remembered status of this target; a note is removed once its run is settled (or was settled
    /// otherwise). Returns how many runs changed.
    pub async fn apply(&self, pool: &PgPool) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut settled = 0;
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let note = match std::fs::read(&path).map(|b| serde_json::from_slice::<Note>(&b)) {
                Ok(Ok(note)) => note,
                _ => {
                    tracing::warn!("ignoring unreadable pending run note {}", path.display());
                    continue;
                }
            };
            if note.target != self.target {
                continue;
            }
            match runs::settle(pool, note.run_id, note.pid, &note.status, note.error.as_deref()).await {
                Ok(changed) => {
                    settled += usize::from(changed);
                    tracing::info!("run {} settled as {} (changed: {changed})", note.run_id, note.status);
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => tracing::warn!("cannot settle run {}: {e}", note.run_id),
            }
        }
        settled
    }
}

impl crate::pipeline::StatusKeeper for PendingRuns {
    fn remember(&self, run_id: i64, status: &str, error: Option<&str>) -> std::io::Result<PathBuf> {
        PendingRuns::remember(self, run_id, status, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_written_per_target() {
        let dir = tempfile::tempdir().unwrap();
        let a = PendingRuns::new(dir.path(), "managed cluster /a");
        let b = PendingRuns::new(dir.path(), "postgres://x:***@h/db");
        let pa = a
            .remember(7, "failed", Some("server terminated the connection"))
            .unwrap();
        let pb = b.remember(7, "failed", None).unwrap();
        assert_ne!(pa, pb, "the same run id on two targets needs two notes");
        let note: Note = serde_json::from_slice(&std::fs::read(&pa).unwrap()).unwrap();
        assert_eq!((note.run_id, note.status.as_str()), (7, "failed"));
        assert_eq!(note.target, "managed cluster /a");
    }
}
