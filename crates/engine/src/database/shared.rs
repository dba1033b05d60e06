//! The SQL of shared runs: joining a run by its key, recording and claiming its units under a lease, leaving it.
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::DbResult;

/// A transaction of the run's bookkeeping, committed without waiting for its WAL to reach the disk: a small
/// import made a dozen such commits, each a flush. Nothing is lost by it: every batch of library rows commits
/// synchronously, which flushes the bookkeeping before it; what a server crash can take (the last moments of
/// bookkeeping after the last batch) is what a killed importer leaves too, and the next importer of the run
/// handles that already (leases run out, a run whose importers are gone is closed).
async fn bookkeeping(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off").await
}

/// This importer's place in a shared run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub run_id: i64,
    pub importer_id: i64,
    /// It created the run: it applies the mode's levels, then opens the run.
    pub creator: bool,
}

/// Join the open run of this key, or create it. A run whose importers are all gone (killed, or left without
/// closing it) is closed first: a new run starts over, and what its predecessor wrote is skipped as known.
pub async fn join(pool: &PgPool, key: &str, sources: &[String], mode: &str, lease_ms: i64) -> DbResult<Membership> {
    reap_dead(pool, Some(key), None).await?;
    loop {
        let mut tx = bookkeeping(pool).await?;
        sqlx::query(
            "UPDATE shared_runs s SET state = 'closed', closed_at = now() WHERE run_key = $1 AND state <> 'closed' \
             AND NOT EXISTS (SELECT 1 FROM run_importers i WHERE i.shared_run_id = s.id AND i.left_at IS NULL \
             AND i.lease_until > now())",
        )
        .bind(key)
        .execute(&mut *tx)
        .await?;
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO shared_runs (run_key, sources, mode) VALUES ($1, $2, $3) \
             ON CONFLICT (run_key) WHERE state <> 'closed' DO NOTHING RETURNING id",
        )
        .bind(key)
        .bind(sources)
        .bind(mode)
        .fetch_optional(&mut *tx)
        .await?;
        let run_id = match created {
            Some(id) => Some(id),
            None => {
                sqlx::query_scalar("SELECT id FROM shared_runs WHERE run_key = $1 AND state <> 'closed' FOR UPDATE")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        // Closed between the two statements by its last importer: start over.
        let Some(run_id) = run_id else { continue };
        let importer_id: i64 = sqlx::query_scalar(
            "INSERT INTO run_importers (shared_run_id, host, pid, creator, lease_until) \
             VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond') RETURNING id",
        )
        .bind(run_id)
        .bind(super::runs::hostname())
        .bind(std::process::id() as i32)
        .bind(created.is_some())
        .bind(lease_ms as f64)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Membership {
            run_id,
            importer_id,
            creator: created.is_some(),
        });
    }
}

/// Importers of this machine in the open run of `key` (or in run `run_id`) whose process is gone: expire their
/// lease and their units' at once, so that nobody waits a whole lease for a process killed here.
pub async fn reap_dead(pool: &PgPool, key: Option<&str>, run_id: Option<i64>) -> DbResult<u64> {
    let rows = sqlx::query(
        "SELECT i.id, i.pid FROM run_importers i JOIN shared_runs s ON s.id = i.shared_run_id \
         WHERE (s.run_key = $1 OR s.id = $2) AND s.state <> 'closed' AND i.left_at IS NULL \
         AND i.lease_until > now() AND i.host = $3 AND i.pid IS NOT NULL",
    )
    .bind(key)
    .bind(run_id)
    .bind(super::runs::hostname())
    .fetch_all(pool)
    .await?;
    let dead: Vec<i64> = rows
        .iter()
        .filter(|r| {
            let pid: i32 = r.get(1);
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .map(|r| r.get(0))
        .collect();
    if dead.is_empty() {
        return Ok(0);
    }
    let mut tx = bookkeeping(pool).await?;
    sqlx::query("UPDATE run_importers SET lease_until = now() - interval '1 millisecond' WHERE id = ANY($1)")
        .bind(&dead)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE run_units SET lease_until = now() - interval '1 millisecond' WHERE owner = ANY($1) AND NOT done",
    )
    .bind(&dead)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(dead.len() as u64)
}

/// The creator applied the levels: importers may claim units now.
pub async fn open(pool: &PgPool, run_id: i64) -> DbResult<()> {
    let mut tx = bookkeeping(pool).await?;
    sqlx::query("UPDATE shared_runs SET state = 'open' WHERE id = $1 AND state = 'preparing'")
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a joining importer may start: the run is open, or its creator is gone (it stopped while applying the
/// levels: the journal says what was changed, and the last one out restores it).
pub async fn ready(pool: &PgPool, run_id: i64) -> DbResult<bool> {
    let ready: bool = sqlx::query_scalar(
        "SELECT s.state <> 'preparing' OR NOT EXISTS (SELECT 1 FROM run_importers i WHERE i.shared_run_id = s.id \
         AND i.creator AND i.left_at IS NULL AND i.lease_until > now()) FROM shared_runs s WHERE s.id = $1",
    )
    .bind(run_id)
    .fetch_one(pool)
    .await?;
    Ok(ready)
}

/// Tie this importer to its own `import_runs` row.
pub async fn set_import_run(pool: &PgPool, importer_id: i64, import_run_id: i64) -> DbResult<()> {
    let mut tx = bookkeeping(pool).await?;
    sqlx::query("UPDATE run_importers SET import_run_id = $2 WHERE id = $1")
        .bind(importer_id)
        .bind(import_run_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Record units found by the walk (ordinal, items as JSON); units already recorded by a faster importer stay.
pub async fn add_units(pool: &PgPool, run_id: i64, units: &[(i32, String)]) -> DbResult<()> {
    let ordinals: Vec<i32> = units.iter().map(|u| u.0).collect();
    let items: Vec<&str> = units.iter().map(|u| u.1.as_str()).collect();
    let mut tx = bookkeeping(pool).await?;
    sqlx::query(
        "INSERT INTO run_units (shared_run_id, ordinal, items) SELECT $1, o, i::jsonb FROM unnest($2::int[], $3::text[]) \
         AS u(o, i) ON CONFLICT (shared_run_id, ordinal) DO NOTHING",
    )
    .bind(run_id)
    .bind(&ordinals)
    .bind(&items)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The walk reached the end: every unit is recorded (the first importer to get there says so).
pub async fn scan_finished(pool: &PgPool, run_id: i64, units: i32) -> DbResult<()> {
    let mut tx = bookkeeping(pool).await?;
    sqlx::query("UPDATE shared_runs SET scan_done = true, units_total = $2 WHERE id = $1 AND NOT scan_done")
        .bind(run_id)
        .bind(units)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Claim the first unit nobody holds (never claimed, or its holder's lease ran out), skipping rows another
/// importer is claiming at this instant. Its ordinal and items.
pub async fn claim(pool: &PgPool, m: &Membership, lease_ms: i64) -> DbResult<Option<(i32, String)>> {
    let mut tx = bookkeeping(pool).await?;
    let row = sqlx::query(
        // The pick runs once, materialized: as a subquery the planner may put it on the inner side of a nested
        // loop (it does once the table has statistics) and run it again per row, so the claim can miss every
        // free unit and the importer stop after its first one.
        "WITH c AS MATERIALIZED (SELECT ordinal FROM run_units WHERE shared_run_id = $1 AND NOT done \
               AND (owner IS NULL OR lease_until < now()) ORDER BY ordinal LIMIT 1 FOR UPDATE SKIP LOCKED) \
         UPDATE run_units u SET owner = $2, lease_until = now() + $3 * interval '1 millisecond', claims = claims + 1 \
         FROM c WHERE u.shared_run_id = $1 AND u.ordinal = c.ordinal RETURNING u.ordinal, u.items::text",
    )
    .bind(m.run_id)
    .bind(m.importer_id)
    .bind(lease_ms as f64)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Where a run stands, from one importer's view.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub scan_done: bool,
    /// Units not written yet (claimed or not).
    pub open_units: i64,
    /// Of those, the ones nobody holds: claimable now.
    pub free_units: i64,
}

pub async fn progress(pool: &PgPool, run_id: i64) -> DbResult<Progress> {
    let r = sqlx::query(
        "SELECT s.scan_done, \
         (SELECT count(*) FROM run_units u WHERE u.shared_run_id = s.id AND NOT u.done), \
         (SELECT count(*) FROM run_units u WHERE u.shared_run_id = s.id AND NOT u.done \
          AND (u.owner IS NULL OR u.lease_until < now())) \
         FROM shared_runs s WHERE s.id = $1",
    )
    .bind(run_id)
    .fetch_one(pool)
    .await?;
    Ok(Progress {
        scan_done: r.get(0),
        open_units: r.get(1),
        free_units: r.get(2),
    })
}

/// Keep this importer and the units it holds alive for another lease.
pub async fn renew(pool: &PgPool, m: &Membership, lease_ms: i64) -> DbResult<()> {
    let mut tx = bookkeeping(pool).await?;
    sqlx::query("UPDATE run_importers SET lease_until = now() + $2 * interval '1 millisecond' WHERE id = $1")
        .bind(m.importer_id)
        .bind(lease_ms as f64)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE run_units SET lease_until = now() + $3 * interval '1 millisecond' \
         WHERE shared_run_id = $1 AND owner = $2 AND NOT done",
    )
    .bind(m.run_id)
    .bind(m.importer_id)
    .bind(lease_ms as f64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Everything this importer claimed is written (its pipeline ended without error): mark its units done.
pub async fn units_written(pool: &PgPool, m: &Membership) -> DbResult<u64> {
    let mut tx = bookkeeping(pool).await?;
    let r = sqlx::query("UPDATE run_units SET done = true WHERE shared_run_id = $1 AND owner = $2 AND NOT done")
        .bind(m.run_id)
        .bind(m.importer_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(r.rows_affected())
}

/// Give back the units this importer holds unwritten (it stops early): the others claim them at once.
pub async fn release(pool: &PgPool, m: &Membership) -> DbResult<()> {
    let mut tx = bookkeeping(pool).await?;
    sqlx::query(
        "UPDATE run_units SET owner = NULL, lease_until = NULL WHERE shared_run_id = $1 AND owner = $2 AND NOT done",
    )
    .bind(m.run_id)
    .bind(m.importer_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Leave the run. True when this importer is the last one present: it closes the run and restores the profile.
/// Called again while others are still present (they may be finishing, or killed and not yet expired), it takes
/// the restore over once they have left or their lease ran out; only one importer ever gets it.
pub async fn leave(pool: &PgPool, m: &Membership, units_taken: i64) -> DbResult<bool> {
    let mut tx = bookkeeping(pool).await?;
    let restorer: Option<i64> = sqlx::query_scalar("SELECT restorer FROM shared_runs WHERE id = $1 FOR UPDATE")
        .bind(m.run_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE run_importers SET left_at = coalesce(left_at, now()), units_taken = $2 WHERE id = $1")
        .bind(m.importer_id)
        .bind(units_taken as i32)
        .execute(&mut *tx)
        .await?;
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM run_importers WHERE shared_run_id = $1 AND id <> $2 AND left_at IS NULL \
         AND lease_until > now()",
    )
    .bind(m.run_id)
    .bind(m.importer_id)
    .fetch_one(&mut *tx)
    .await?;
    let last = others == 0 && restorer.is_none();
    if last {
        sqlx::query("UPDATE shared_runs SET restorer = $2, state = 'closed', closed_at = now() WHERE id = $1")
            .bind(m.run_id)
            .bind(m.importer_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(last)
}

/// Whether the run's restore is settled (some importer took it), so that a waiting importer can stop waiting.
pub async fn restore_taken(pool: &PgPool, run_id: i64) -> DbResult<bool> {
    let taken: bool = sqlx::query_scalar("SELECT restorer IS NOT NULL FROM shared_runs WHERE id = $1")
        .bind(run_id)
        .fetch_one(pool)
        .await?;
    Ok(taken)
}

/// The importers of a run (for the console and the report): (importer id, host, pid, units taken, present).
pub async fn importers(pool: &PgPool, run_id: i64) -> DbResult<Vec<(i64, String, i32, i32, bool)>> {
    let rows = sqlx::query(
        "SELECT id, coalesce(host, ''), coalesce(pid, 0), units_taken, left_at IS NULL AND lease_until > now() \
         FROM run_importers WHERE shared_run_id = $1 ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// A shared run still going, as the console shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveRun {
    pub id: i64,
    pub mode: String,
    /// Importers alive now (not left, lease not run out).
    pub importers: i64,
    /// Units whose importer has closed them (at the end of its pass: until then a crash hands them on).
    pub units_done: i64,
    /// Units claimed at least once: done, or being read and written now.
    pub units_taken: i64,
    /// Files the run's importers have finished so far (imported, duplicates, skipped, failed: committed counts).
    pub files: i64,
    /// Units recorded so far (all of them once the walk is done).
    pub units: i64,
    pub scan_done: bool,
}

/// The shared runs not closed yet, newest first, with their live importers and units.
pub async fn live_runs(pool: &PgPool) -> DbResult<Vec<LiveRun>> {
    let rows = sqlx::query(
        "SELECT s.id, s.mode, s.scan_done, \
         (SELECT count(*) FROM run_importers i WHERE i.shared_run_id = s.id AND i.left_at IS NULL \
          AND i.lease_until > now()), \
         (SELECT count(*) FILTER (WHERE u.done) FROM run_units u WHERE u.shared_run_id = s.id), \
         (SELECT count(*) FROM run_units u WHERE u.shared_run_id = s.id), \
         (SELECT count(*) FILTER (WHERE u.done OR u.claims > 0) FROM run_units u WHERE u.shared_run_id = s.id), \
         (SELECT coalesce(sum(r.files_imported + r.duplicates + r.skipped + r.failed), 0)::bigint \
          FROM run_importers i JOIN import_runs r ON r.id = i.import_run_id WHERE i.shared_run_id = s.id) \
         FROM shared_runs s WHERE s.state <> 'closed' ORDER BY s.id DESC LIMIT 4",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| LiveRun {
            id: r.get(0),
            mode: r.get(1),
            scan_done: r.get(2),
            importers: r.get(3),
            units_done: r.get(4),
            units: r.get(5),
            units_taken: r.get(6),
            files: r.get(7),
        })
        .collect())
}
