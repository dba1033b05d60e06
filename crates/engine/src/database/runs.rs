//! `import_runs` and the resume lookups of `file_locations` / `archive_progress`.
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::DbResult;
use crate::metrics::Counts;

/// A counter as its `bigint` column stores it (one past `bigint` is not a real count: stored as the largest).
fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A counter read back from its `bigint` column (never negative when this tool wrote it).
fn counter(r: &PgRow, i: usize) -> u64 {
    u64::try_from(r.get::<i64, _>(i)).unwrap_or(0)
}

/// Why a run left `running` by a process that is gone stopped.
pub const ABANDONED: &str = "its importer stopped without finishing (killed, crashed, or its machine went down)";

/// Mark runs left `running` by a process that no longer exists as `interrupted`.
pub async fn close_abandoned(pool: &PgPool) -> DbResult<u64> {
    let host = hostname();
    let rows = sqlx::query("SELECT id, pid, host FROM import_runs WHERE status = 'running'")
        .fetch_all(pool)
        .await?;
    let mut closed = 0;
    for r in rows {
        let id: i64 = r.get(0);
        let pid: Option<i32> = r.get(1);
        let run_host: Option<String> = r.get(2);
        let alive = run_host.as_deref() == Some(host.as_str())
            && pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            sqlx::query(
                "UPDATE import_runs SET status = 'interrupted', finished_at = coalesce(finished_at, now()), \
                 stop_reason = coalesce(stop_reason, $2) WHERE id = $1",
            )
            .bind(id)
            .bind(ABANDONED)
            .execute(pool)
            .await?;
            closed += 1;
        }
    }
    Ok(closed)
}

/// Give a run the status its importer could not store (the server was gone then). Only a run still `running` and
/// started by that process: a row of another database that happens to have the same id is left alone.
pub async fn settle(pool: &PgPool, id: i64, pid: i32, status: &str, reason: Option<&str>) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE import_runs SET status = $3, finished_at = coalesce(finished_at, now()), \
         stop_reason = coalesce($4, stop_reason) WHERE id = $1 AND pid = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(pid)
    .bind(status)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn start(pool: &PgPool, sources: &[String], mode: &str) -> DbResult<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO import_runs (sources, mode, status, pid, host) VALUES ($1, $2, 'running', $3, $4) RETURNING id",
    )
    .bind(sources)
    .bind(mode)
    .bind(std::process::id() as i32)
    .bind(hostname())
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Run bookkeeping is committed synchronously even in fast modes: after a crash it is what tells the user (and
/// the data-loss check) how much had been imported. `end` is the final status and, for a run that did not finish,
/// why it stopped.
pub async fn update(pool: &PgPool, id: i64, c: &Counts, end: Option<(&str, Option<&str>)>) -> DbResult<()> {
    let (status, reason) = match end {
        Some((s, r)) => (Some(s), r),
        None => (None, None),
    };
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = on")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE import_runs SET files_seen = $2, files_imported = $3, duplicates = $4, skipped = $5, failed = $6, \
         bytes = $7, status = coalesce($8, status), finished_at = CASE WHEN $8 IS NULL THEN finished_at ELSE now() END, \
         stop_reason = coalesce($9, stop_reason) WHERE id = $1",
    )
    .bind(id)
    .bind(bigint(c.seen))
    .bind(bigint(c.imported))
    .bind(bigint(c.duplicates))
    .bind(bigint(c.skipped))
    .bind(bigint(c.failed))
    .bind(bigint(c.bytes))
    .bind(status)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Of these (location, size, mtime) candidates, which are already imported unchanged?
pub async fn known_locations(pool: &PgPool, candidates: &[(String, i64, i64)]) -> DbResult<Vec<bool>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let paths: Vec<&str> = candidates.iter().map(|c| c.0.as_str()).collect();
    // A file that failed before, unchanged, fails again: it is not read twice either.
    let rows = sqlx::query(
        "SELECT path, size, mtime FROM file_locations WHERE path = ANY($1) \
         UNION ALL SELECT path, size, mtime FROM import_errors WHERE path = ANY($1) AND size IS NOT NULL",
    )
    .bind(&paths)
    .fetch_all(pool)
    .await?;
    let found: std::collections::HashMap<String, (i64, i64)> = rows
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get(1), r.get(2))))
        .collect();
    Ok(candidates
        .iter()
        .map(|(p, s, m)| found.get(p) == Some(&(*s, *m)))
        .collect())
}

/// Of these archives, which were read to the end before with the same size and mtime? (Their member count.)
pub async fn complete_archives(pool: &PgPool, candidates: &[(String, i64, i64)]) -> DbResult<Vec<Option<i64>>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let paths: Vec<&str> = candidates.iter().map(|c| c.0.as_str()).collect();
    let rows = sqlx::query("SELECT path, size, mtime, members FROM archive_progress WHERE path = ANY($1)")
        .bind(&paths)
        .fetch_all(pool)
        .await?;
    let found: std::collections::HashMap<String, (i64, i64, i64)> = rows
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    Ok(candidates
        .iter()
        .map(|(p, s, m)| found.get(p).filter(|f| (f.0, f.1) == (*s, *m)).map(|f| f.2))
        .collect())
}

/// A run that stopped before its end and that no later run over the same sources has followed: what `status`
/// lists and the console offers to resume (importing the same sources again skips what was committed).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnfinishedRun {
    pub id: i64,
    /// `interrupted` or `failed`.
    pub status: String,
    pub mode: String,
    /// The sources as stored (absolute, in the location escape scheme).
    pub sources: Vec<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Why it stopped, when that was known.
    pub reason: Option<String>,
}

impl UnfinishedRun {
    /// The sources as paths again (the exact bytes they were given as), to import them once more.
    pub fn source_paths(&self) -> Vec<std::path::PathBuf> {
        self.sources
            .iter()
            .map(|s| crate::source::location::path_from_bytes(crate::source::location::decode_location(s)))
            .collect()
    }

    /// The command that resumes it (`import` skips what the run had committed); `flags` are global options to
    /// repeat, each with a leading space.
    pub fn resume_command(&self, flags: &str) -> String {
        let quoted: Vec<String> = self
            .source_paths()
            .iter()
            .map(|p| shell_quote(&p.display().to_string()))
            .collect();
        format!("midi-tui{flags} import --mode {} {}", self.mode, quoted.join(" "))
    }
}

/// `it's here` -> `'it'\''s here'`; plain words stay as they are.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The unfinished runs, newest first, at most `limit`. A run is followed by any later run whose sources include
/// all of its own (a resume, whatever its end: if it stopped too, it is the one listed); dry runs never count.
pub async fn unfinished(pool: &PgPool, limit: i64) -> DbResult<Vec<UnfinishedRun>> {
    let rows = sqlx::query(
        "SELECT r.id, r.status, r.mode, r.sources, to_char(r.started_at, 'YYYY-MM-DD HH24:MI'), \
                to_char(r.finished_at, 'YYYY-MM-DD HH24:MI'), r.files_seen, r.files_imported, r.duplicates, \
                r.skipped, r.failed, r.bytes, r.stop_reason \
         FROM import_runs r \
         WHERE r.status IN ('interrupted', 'failed') AND r.mode <> 'dry-run' \
           AND NOT EXISTS (SELECT 1 FROM import_runs later WHERE later.id > r.id AND later.mode <> 'dry-run' \
                           AND later.sources @> r.sources) \
         ORDER BY r.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| UnfinishedRun {
            id: r.get(0),
            status: r.get(1),
            mode: r.get(2),
            sources: r.get(3),
            started_at: r.get(4),
            finished_at: r.get(5),
            counts: Counts {
                seen: counter(r, 6),
                imported: counter(r, 7),
                duplicates: counter(r, 8),
                skipped: counter(r, 9),
                failed: counter(r, 10),
                bytes: counter(r, 11),
            },
            reason: r.get(12),
        })
        .collect())
}

/// Every source any import was given (locations: absolute, escaped), for export to keep paths below them.
pub async fn import_sources(pool: &PgPool) -> DbResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT DISTINCT s FROM import_runs, unnest(sources) AS s ORDER BY 1")
            .fetch_all(pool)
            .await?,
    )
}

/// gethostname(2): the same name /proc/sys/kernel/hostname holds, without a file read on an async worker.
pub(crate) fn hostname() -> String {
    sysinfo::System::host_name().unwrap_or_default()
}

/// Files per second of this library's recent finished runs, per mode (normal, fast, ludicrous): the median of the
/// last five runs that read at least 10,000 new or duplicate files (skipped ones excluded), and how many there were.
pub async fn measured_rates(pool: &PgPool) -> DbResult<[Option<(f64, usize)>; 3]> {
    let rows = sqlx::query(
        "SELECT mode, percentile_cont(0.5) WITHIN GROUP (ORDER BY rate)::float8, count(*) FROM ( \
           SELECT mode, (files_seen - skipped) / extract(epoch FROM finished_at - started_at)::float8 AS rate, \
                  row_number() OVER (PARTITION BY mode ORDER BY id DESC) AS recent \
           FROM import_runs WHERE status = 'done' AND files_seen - skipped >= 10000 \
             AND finished_at > started_at AND mode IN ('normal', 'fast', 'ludicrous')) r \
         WHERE recent <= 5 GROUP BY mode",
    )
    .fetch_all(pool)
    .await?;
    let mut out = [None; 3];
    for r in rows {
        let i = match r.get::<String, _>(0).as_str() {
            "normal" => 0,
            "fast" => 1,
            _ => 2,
        };
        out[i] = Some((r.get::<f64, _>(1), r.get::<i64, _>(2) as usize));
    }
    Ok(out)
}

/// Files in the library now, from the planner's estimate or what the runs vouch for, whichever is larger (exact
/// counts of millions of rows take seconds; counting up to 100,000 rows cost every import of a library that size
/// about as much as importing a file).
pub async fn library_files_estimate(pool: &PgPool) -> DbResult<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT greatest(coalesce((SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('files')), 0), \
         (SELECT coalesce(sum(files_imported), 0)::bigint FROM import_runs WHERE NOT rows_lost))",
    )
    .fetch_one(pool)
    .await?;
    Ok(n.max(0) as u64)
}
