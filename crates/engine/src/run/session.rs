//! The engine handle both front ends drive: one database target, its pool, and every operation on it.
use std::path::PathBuf;

use sqlx::PgPool;

use super::pending::PendingRuns;
use std::sync::Arc;

use crate::database::liveness::Watchdog;
use crate::database::{self, DbError};

use crate::database::{DbResult, Target, status};
use crate::metrics::RunMetrics;
use crate::pipeline::{self, Control, ImportHandle, ImportOptions};

/// An open engine: the database is reachable and migrated.
#[derive(Clone)]
pub struct Engine {
    pub(crate) target: Target,
    pub(crate) pool: PgPool,
    pub(crate) data_dir: PathBuf,
    /// `--log FILE`: the import log; without it, one file per run under `<data-dir>/logs`.
    pub(crate) run_log: Option<PathBuf>,
    /// The crash check made by [`Engine::open`] and when, until a plan started right after takes it as its own
    /// (`import` would otherwise make the same check twice).
    pub(crate) open_check: Arc<std::sync::Mutex<Option<OpenCheck>>>,
    /// The server's liveness: every wait on it ends once it has been silent for `SILENT_LIMIT`.
    pub(crate) watchdog: Arc<Watchdog>,
    /// This process's hold on the library-wide lock (see `turns.rs`).
    pub(crate) turns: Arc<crate::run::turn_slot::TurnSlot>,
    /// The similarity pack as this engine's last `like:` page read it.
    pub(crate) pack: Arc<database::similar_pack::Cache>,
}

/// When [`Engine::open`] checked the library for rows a crash took, and what it found lost.
type OpenCheck = (std::time::Instant, Option<String>);

impl Engine {
    /// Start the managed cluster if needed, connect, migrate, and check the library for rows a crash took (the
    /// loss is recorded, so the next import repairs it whichever front end runs it).
    pub async fn open(mut target: Target, data_dir: PathBuf) -> DbResult<Self> {
        let pool = database::connect(&target.start().await?, 8).await?;
        crate::timeline::mark("connect");
        let watchdog = Watchdog::start((*pool.connect_options()).clone());
        watchdog.guard(database::migrate::run(&pool)).await?;
        crate::timeline::mark("migrations check");
        // Runs a dead server left `running` get the status their importer could not store.
        let pending = PendingRuns::new(&data_dir, &target.describe());
        watchdog
            .guard(async { Ok::<_, DbError>(pending.apply(&pool).await) })
            .await?;
        crate::timeline::mark("pending run notes");
        let engine = Self {
            target,
            pool,
            data_dir,
            run_log: None,
            open_check: Arc::default(),
            watchdog,
            turns: Arc::default(),
            pack: Arc::default(),
        };
        let lost = engine.check_integrity().await?;
        if let Some(lost) = &lost {
            tracing::warn!("{lost}");
        }
        *engine.open_check.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), lost));
        crate::timeline::mark("integrity check");
        Ok(engine)
    }

    /// The crash check [`Engine::open`] made, once, and only within a few seconds of it (`None`: check again; a
    /// console may start its first import long after opening).
    pub(crate) fn take_open_check(&self) -> Option<Option<String>> {
        let taken = self.open_check.lock().unwrap_or_else(|e| e.into_inner()).take();
        taken
            .filter(|(at, _)| at.elapsed() < std::time::Duration::from_secs(5))
            .map(|(_, lost)| lost)
    }

    /// `call`, ended with "the server has not answered for 10 s" as soon as the server goes silent.
    pub async fn bounded<T, E: From<DbError>>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.watchdog.guard(call).await
    }

    /// Is the server silent now (frozen, or its host gone)?
    pub fn not_answering(&self) -> bool {
        self.watchdog.is_silent()
    }

    /// Start an import on pipeline threads; the returned handle carries counters, events and controls.
    pub fn import(&self, opts: ImportOptions) -> ImportHandle {
        self.import_with(opts, Arc::default(), Arc::default())
    }

    /// [`Engine::import`] with counters and controls made before the run (a plan hands them out first).
    pub fn import_with(
        &self,
        mut opts: ImportOptions,
        metrics: Arc<RunMetrics>,
        control: Arc<Control>,
    ) -> ImportHandle {
        opts.pending_runs
            .get_or_insert_with(|| Arc::new(PendingRuns::new(&self.data_dir, &self.target.describe())));
        opts.watchdog.get_or_insert_with(|| self.watchdog.clone());
        let pool = (!opts.dry_run).then(|| self.pool.clone());
        pipeline::start_with(opts, pool, tokio::runtime::Handle::current(), metrics, control)
    }

    /// Everything `status` reports, rows counted exactly.
    pub async fn status(&self) -> DbResult<status::Status> {
        self.bounded(status::collect(
            &self.pool,
            &self.target.describe(),
            self.target.is_managed(),
            status::RowCounts::Exact,
        ))
        .await
    }

    /// The same with estimated row counts: cheap enough to poll.
    pub async fn status_estimated(&self) -> DbResult<status::Status> {
        self.bounded(status::collect(
            &self.pool,
            &self.target.describe(),
            self.target.is_managed(),
            status::RowCounts::Estimated,
        ))
        .await
    }

    /// The database this engine works on.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Where logs, backups and (for the managed cluster) the server live.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// A copy whose pool is one connection of its own, opened when first needed: polls on it never queue behind
    /// an import, and a slow server answers them within `acquire` or not at all.
    pub fn poll_copy(&self, acquire: std::time::Duration) -> Engine {
        let opts = (*self.pool.connect_options()).clone();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(acquire)
            .connect_lazy_with(opts);
        Engine {
            target: self.target.clone(),
            pool,
            data_dir: self.data_dir.clone(),
            run_log: self.run_log.clone(),
            open_check: Arc::default(),
            watchdog: self.watchdog.clone(),
            turns: self.turns.clone(),
            pack: self.pack.clone(),
        }
    }

    /// Bytes of WAL the server keeps now (None without the rights to ask).
    pub async fn wal_bytes(&self) -> Option<i64> {
        status::wal_bytes(&self.pool).await
    }

    /// The server's data directory, when the role may read it.
    pub async fn server_data_directory(&self) -> DbResult<String> {
        status::data_directory(&self.pool).await
    }

    /// The server facts `doctor` judges, with the free space of its data directory when that is on this machine.
    pub async fn doctor_facts(&self) -> DbResult<status::ServerFacts> {
        let mut facts = status::doctor_facts(&self.pool).await?;
        facts.managed = self.target.is_managed();
        let dir = PathBuf::from(&facts.data_directory);
        facts.disk_free = tokio::task::spawn_blocking(move || {
            dir.is_dir()
                .then(|| crate::machine::disk_space(&dir))
                .flatten()
                .map(|d| d.free)
        })
        .await
        .ok()
        .flatten();
        Ok(facts)
    }

    /// Each mode's median import rate over this library's recent runs (`None` where it has none).
    pub async fn measured_rates(&self) -> DbResult<[Option<(f64, usize)>; 3]> {
        crate::database::runs::measured_rates(&self.pool).await
    }

    /// What `--mode auto` estimates from: the library's size now and the rates it uses (this library's own runs
    /// where it has them). Two cheap queries.
    pub async fn auto_inputs(&self) -> DbResult<(u64, crate::profile::auto::Rates)> {
        let library = self
            .bounded(crate::database::runs::library_files_estimate(&self.pool))
            .await?;
        let rates = crate::profile::auto::Rates::from_runs(
            self.bounded(crate::database::runs::measured_rates(&self.pool)).await?,
        );
        Ok((library, rates))
    }

    /// `--mode auto`: the fastest mode for importing about `files` files into this library, from rates measured on
    /// this machine (this library's own runs where it has them), with the reason.
    pub async fn choose_mode(
        &self,
        files: u64,
        ludicrous_accepted: bool,
        backup: bool,
    ) -> DbResult<crate::profile::auto::AutoChoice> {
        use crate::profile::auto;
        let (library, rates) = self.auto_inputs().await?;
        let overheads = match backup {
            true => auto::DEFAULT_OVERHEADS.with_backup(),
            false => auto::DEFAULT_OVERHEADS,
        };
        Ok(auto::choose(library, files, &rates, &overheads, ludicrous_accepted))
    }

    /// Interrupted and failed runs that no later run over their sources has followed, newest first (at most
    /// `limit`): what `status` lists and the console offers to resume.
    pub async fn unfinished_runs(&self, limit: i64) -> DbResult<Vec<crate::database::runs::UnfinishedRun>> {
        crate::database::runs::unfinished(&self.pool, limit).await
    }

    /// Shared runs still going on this library, with their live importers (for the console).
    pub async fn live_shared_runs(&self) -> DbResult<Vec<crate::database::shared::LiveRun>> {
        self.bounded(crate::database::shared::live_runs(&self.pool)).await
    }

    /// Does the server answer now (within a few seconds; at once no when it is silent)?
    pub async fn reachable(&self) -> bool {
        !self.not_answering() && crate::database::reachable(&self.pool.connect_options()).await
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

/// The log of a run with no data directory to hold it (a dry run without a database).
pub fn temp_run_log() -> PathBuf {
    default_run_log(&std::env::temp_dir().join("midi-tui"))
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
