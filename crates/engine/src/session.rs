//! The engine handle both front ends drive: one database target, its pool, and every operation on it.
use std::path::PathBuf;

use sqlx::PgPool;

use super::pipeline::{self, ImportHandle, ImportOptions};
use crate::database::{DbResult, Target, status};

/// An open engine: the database is reachable and migrated.
#[derive(Clone)]
pub struct Engine {
    pub target: Target,
    pub pool: PgPool,
    pub data_dir: PathBuf,
    /// `--log FILE`: the import log; without it, one file per run under `<data-dir>/logs`.
    pub run_log: Option<PathBuf>,
}

impl Engine {
    /// Start the managed cluster if needed, connect, migrate, and check the library for rows a crash took (the
    /// loss is recorded, so the next import repairs it whichever front end runs it).
    pub async fn open(mut target: Target, data_dir: PathBuf) -> DbResult<Self> {
        let pool = target.open(8).await?;
        let engine = Self {
            target,
            pool,
            data_dir,
            run_log: None,
        };
        if let Some(lost) = engine.check_integrity().await? {
            tracing::warn!("{lost}");
        }
        Ok(engine)
    }

    /// Start an import on pipeline threads; the returned handle carries counters, events and controls.
    pub fn import(&self, opts: ImportOptions) -> ImportHandle {
        let pool = (!opts.dry_run).then(|| self.pool.clone());
        pipeline::start(opts, pool, tokio::runtime::Handle::current())
    }

    /// Everything `status` reports, rows counted exactly.
    pub async fn status(&self) -> DbResult<status::Status> {
        status::collect(
            &self.pool,
            &self.target.describe(),
            self.target.is_managed(),
            status::RowCounts::Exact,
        )
        .await
    }

    /// The same with estimated row counts: cheap enough to poll.
    pub async fn status_estimated(&self) -> DbResult<status::Status> {
        status::collect(
            &self.pool,
            &self.target.describe(),
            self.target.is_managed(),
            status::RowCounts::Estimated,
        )
        .await
    }

    /// Use this file as the import log of every run.
    pub fn with_run_log(mut self, path: Option<PathBuf>) -> Self {
        self.run_log = path;
        self
    }

    /// The import log of the next run: `--log FILE`, or a new file under the data directory.
    pub fn run_log_path(&self) -> PathBuf {
        self.run_log.clone().unwrap_or_else(|| default_run_log(&self.data_dir))
    }
}

/// `<data-dir>/logs/import-<timestamp>-<pid>.log`.
pub fn default_run_log(data_dir: &std::path::Path) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    data_dir
        .join("logs")
        .join(format!("import-{stamp}-{}.log", std::process::id()))
}

/// Where the sample library lives, relative to the working directory or the installed binary.
const SAMPLE_LIBRARY: &str = "assets/sample-library";

/// The sample library next to the working directory, the binary, or the source tree.
pub fn sample_library() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join(SAMPLE_LIBRARY));
    }
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).take(4).map(|d| d.join(SAMPLE_LIBRARY)));
    }
    candidates.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(SAMPLE_LIBRARY),
    );
    candidates.into_iter().find(|p| p.is_dir())
}
