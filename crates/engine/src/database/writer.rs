//! The write phase's SQL: one transaction per batch, COPY into temporary staging tables, then set-based inserts.
//!
//! COPY was measured against `INSERT ... SELECT FROM unnest(...)` (see BENCHMARKS.md): COPY costs the server less
//! per row and handles the array columns (track names, programs, channels) without a 2-D array workaround. Its
//! binary format (the default) spares the server parsing every field; the text format stays selectable
//! ([`CopyFormat`], `MIDI_TUI_COPY=text`). The staging step is what lets deduplication (`ON CONFLICT
//! (content_hash)`) stay set-based.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, LazyLock};

use sqlx::{Connection, PgConnection, Row};

use super::DbResult;
use super::columns::{self, FILE_LOCATIONS, FILES, LOCATION_CONTENT, MUSICAL_METADATA};
use super::copy_format::CopyData;
pub use super::copy_format::CopyFormat;
use crate::midi::LocationMeta;
use crate::record::{ArchiveTracker, ContentRecord, ErrorRecord, LocationRecord};

/// The statements the declared layout ([`columns`]) yields, built once.
struct Statements {
    staging: String,
    insert_files: String,
    backfill_metadata: String,
    insert_locations: String,
    /// Per format, text then binary.
    copy_files: [String; 2],
    copy_metadata: [String; 2],
    copy_locations: [String; 2],
    copy_stage_files: [String; 2],
    copy_stage_locations: [String; 2],
}

/// One statement per format.
fn per_format(f: impl Fn(CopyFormat) -> String) -> [String; 2] {
    [f(CopyFormat::Text), f(CopyFormat::Binary)]
}

fn pick(statements: &[String; 2], format: CopyFormat) -> &str {
    match format {
        CopyFormat::Text => &statements[0],
        CopyFormat::Binary => &statements[1],
    }
}

static SQL: LazyLock<Statements> = LazyLock::new(|| Statements {
    staging: format!(
        "CREATE TEMP TABLE IF NOT EXISTS stage_files ({}) ON COMMIT DELETE ROWS;\n\
         CREATE TEMP TABLE IF NOT EXISTS stage_locations ({}) ON COMMIT DELETE ROWS;",
        columns::definitions(FILES.fields().chain(MUSICAL_METADATA.fields())),
        columns::definitions(std::iter::once(&LOCATION_CONTENT).chain(FILE_LOCATIONS.fields())),
    ),
    insert_files: format!(
        "WITH ins AS ({} FROM stage_files s ORDER BY content_hash ON CONFLICT (content_hash) DO NOTHING \
         RETURNING id, content_hash)\n{} FROM ins JOIN stage_files s USING (content_hash)",
        FILES.insert_select(None),
        MUSICAL_METADATA.insert_select(Some("ins.id")),
    ),
    // Repair runs: files kept in `files` whose metadata row a crash emptied get it back from the re-read content.
    backfill_metadata: format!(
        "{} FROM stage_files s JOIN files f USING (content_hash) ORDER BY f.id ON CONFLICT (file_id) DO NOTHING",
        MUSICAL_METADATA.insert_select(Some("f.id")),
    ),
    insert_locations: format!(
        "{} FROM stage_locations s JOIN files f ON f.content_hash = s.content_hash ORDER BY s.path \
         ON CONFLICT (path) DO UPDATE SET {}",
        FILE_LOCATIONS.insert_select(Some("f.id")),
        FILE_LOCATIONS.update_from_excluded("path"),
    ),
    copy_files: per_format(|f| FILES.copy_statement(f)),
    copy_metadata: per_format(|f| MUSICAL_METADATA.copy_statement(f)),
    copy_locations: per_format(|f| FILE_LOCATIONS.copy_statement(f)),
    copy_stage_files: per_format(|f| format!("COPY stage_files FROM STDIN{}", f.options())),
    copy_stage_locations: per_format(|f| format!("COPY stage_locations FROM STDIN{}", f.options())),
});

/// Locations whose content row is not there (yet): its first-seen copy is still being parsed, or it failed.
const ORPHAN_LOCATIONS: &str = "
SELECT s.path FROM stage_locations s WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.content_hash = s.content_hash)
";

/// One error row per path: a path that fails again replaces its row (re-reads after a loss, concurrent importers).
const UPSERT_ERRORS: &str = "
INSERT INTO import_errors (import_run_id, path, kind, message, size, mtime)
SELECT $1, e.path, e.kind, e.message, e.size, e.mtime
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS e (path, kind, message, size, mtime)
ON CONFLICT (path) DO UPDATE SET import_run_id = EXCLUDED.import_run_id, kind = EXCLUDED.kind,
    message = EXCLUDED.message, size = EXCLUDED.size, mtime = EXCLUDED.mtime, created_at = now()
";

/// The run's counters move with the rows they count, in the same transaction.
const COUNT_BATCH: &str = "
UPDATE import_runs SET files_imported = files_imported + $2, duplicates = duplicates + $3, failed = failed + $4
WHERE id = $1
";

/// What one batch is written for.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchContext {
    pub run_id: i64,
    /// A repair run: contents already in `files` may lack their metadata row; fill it in.
    pub repair: bool,
    /// The COPY format the rows are sent in.
    pub copy: CopyFormat,
    /// Skip the per-row foreign-key checks and the search_rows trigger, journaled for the restore to prove
    /// ([`super::deferred`]): fast and ludicrous imports on a superuser session.
    pub defer_checks: bool,
    /// Make the foreign-key checks and the search_rows fill set-based within each batch instead of per row and per
    /// statement trigger ([`checked_in_batch`]): normal imports on a superuser session. Nothing is deferred: the
    /// batch commits checked or not at all.
    pub batch_checks: bool,
}

/// True when a batch failed only because of its interleaving with another importer: worth trying again.
pub fn is_retryable(e: &super::DbError) -> bool {
    match e {
        super::DbError::Sql(sqlx::Error::Database(d)) => matches!(d.code().as_deref(), Some("40P01" | "40001")),
        _ => false,
    }
}

/// What one committed batch changed.
#[derive(Debug, Default, Clone)]
pub struct BatchOutcome {
    pub new_files: u64,
    pub locations: u64,
    /// Locations not written because their content is not in `files`: the caller retries them later.
    pub orphans: Vec<String>,
}

/// Prepare a writer connection. The staging tables (per session) are made by the first batch that takes the
/// staging path: most imports never do, and a small one would pay for them in its fixed time.
pub async fn prepare(conn: &mut PgConnection, async_commit: bool) -> DbResult<()> {
    if async_commit {
        sqlx::raw_sql("SET synchronous_commit = off")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Write one batch straight into the tables: ids come from the sequence, known contents from one look-up, and
/// three COPYs do the rest. Returns `None` (nothing written) when a row collides with one written concurrently
/// or a path is already stored: the caller then takes the staging path, which handles those set-based.
pub async fn write_batch_direct(
    conn: &mut PgConnection,
    ctx: BatchContext,
    contents: &[&ContentRecord],
    locations: &[&LocationRecord],
    errors: &[&ErrorRecord],
    complete_archives: &[Arc<ArchiveTracker>],
) -> DbResult<Option<BatchOutcome>> {
    let mut tx = conn.begin().await?;
    begin_batch(&mut tx, ctx).await?;
    let result = direct(&mut tx, ctx, contents, locations, errors, complete_archives).await;
    match result {
        Ok(out) => {
            tx.commit().await?;
            Ok(Some(out))
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            tx.rollback().await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

async fn direct(
    tx: &mut PgConnection,
    ctx: BatchContext,
    contents: &[&ContentRecord],
    locations: &[&LocationRecord],
    errors: &[&ErrorRecord],
    complete_archives: &[Arc<ArchiveTracker>],
) -> Result<BatchOutcome, sqlx::Error> {
    let (run_id, format) = (ctx.run_id, ctx.copy);
    let checked = checked_in_batch(ctx);
    if checked {
        check_run_in_batch(tx, run_id).await?;
    }
    let mut out = BatchOutcome::default();
    let mut hashes: Vec<Vec<u8>> = contents.iter().map(|c| c.hash.to_vec()).collect();
    hashes.extend(locations.iter().map(|l| l.hash.to_vec()));
    hashes.sort_unstable();
    hashes.dedup();
    // Each content's id and its file's own name, folder and collection: a location stores only what differs.
    let mut ids: std::collections::HashMap<[u8; 32], (i64, LocationMeta)> =
        std::collections::HashMap::with_capacity(hashes.len());
    // Checked in the batch, the stored files its locations name are locked as their foreign-key triggers would.
    let lookup = if checked {
        "SELECT content_hash, id, filename, parent_folder, collection FROM files WHERE content_hash = ANY($1) \
         ORDER BY id FOR KEY SHARE"
    } else {
        "SELECT content_hash, id, filename, parent_folder, collection FROM files WHERE content_hash = ANY($1)"
    };
    for r in sqlx::query(lookup).bind(&hashes).fetch_all(&mut *tx).await? {
        let h: Vec<u8> = r.get(0);
        if let Ok(h) = <[u8; 32]>::try_from(h.as_slice()) {
            let names = LocationMeta {
                filename: r.get(2),
                parent_folder: r.get(3),
                collection: r.get(4),
            };
            ids.insert(h, (r.get(1), names));
        }
    }
    let mut fresh: Vec<&ContentRecord> = Vec::with_capacity(contents.len());
    let mut seen = HashSet::with_capacity(contents.len());
    for c in contents {
        if !ids.contains_key(&c.hash) && seen.insert(c.hash) {
            fresh.push(c);
        }
    }
    // Keys in one order for every importer (hashes, then paths): concurrent writers wait, never deadlock.
    fresh.sort_unstable_by_key(|c| c.hash);
    if !fresh.is_empty() {
        // Held to the commit: a similarity pack built meanwhile waits, then covers these ids or none of them.
        sqlx::query(super::similar_pack::WRITER_FENCE)
            .bind(super::similar_pack::FENCE.0)
            .bind(super::similar_pack::FENCE.1)
            .execute(&mut *tx)
            .await?;
        let new_ids: Vec<i64> =
            sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('files', 'id')) FROM generate_series(1, $1)")
                .bind(fresh.len() as i64)
                .fetch_all(&mut *tx)
                .await?;
        let mut files = CopyData::new(format, fresh.len() * 256);
        let mut meta = CopyData::new(format, fresh.len() * 192);
        for (c, id) in fresh.iter().zip(&new_ids) {
            ids.insert(c.hash, (*id, c.path.location()));
            FILES.encode_row(&mut files, c, *id, run_id, None);
            MUSICAL_METADATA.encode_row(&mut meta, c, *id, run_id, None);
        }
        copy_in(&mut *tx, pick(&SQL.copy_files, format), files.finish()).await?;
        copy_in(&mut *tx, pick(&SQL.copy_metadata, format), meta.finish()).await?;
        if checked {
            super::search_rows::fill(tx, &new_ids).await?;
        }
        out.new_files = fresh.len() as u64;
    }
    if !locations.is_empty() {
        let mut seen = HashSet::with_capacity(locations.len());
        let mut buf = CopyData::new(format, locations.len() * 128);
        let mut sorted: Vec<&&LocationRecord> = locations.iter().collect();
        sorted.sort_unstable_by(|a, b| a.location.cmp(&b.location));
        for l in sorted {
            if !seen.insert(l.location.as_str()) {
                continue;
            }
            match ids.get(&l.hash) {
                Some((id, names)) => {
                    FILE_LOCATIONS.encode_row(&mut buf, l, *id, run_id, Some(names));
                    out.locations += 1;
                }
                None => out.orphans.push(l.location.clone()),
            }
        }
        copy_in(&mut *tx, pick(&SQL.copy_locations, format), buf.finish()).await?;
    }
    write_tail(tx, run_id, &out, errors, complete_archives).await?;
    Ok(out)
}

/// Write one batch in one transaction. Rows are sorted (by hash, by path) so that concurrent writers take row
/// locks in the same order and cannot deadlock.
pub async fn write_batch(
    conn: &mut PgConnection,
    ctx: BatchContext,
    contents: &[&ContentRecord],
    locations: &[&LocationRecord],
    errors: &[&ErrorRecord],
    complete_archives: &[Arc<ArchiveTracker>],
) -> DbResult<BatchOutcome> {
    let run_id = ctx.run_id;
    let mut tx = conn.begin().await?;
    begin_batch(&mut tx, ctx).await?;
    sqlx::raw_sql(SQL.staging.as_str()).execute(&mut *tx).await?;
    let mut out = BatchOutcome::default();
    if !contents.is_empty() {
        let mut seen = HashSet::with_capacity(contents.len());
        let mut sorted: Vec<&&ContentRecord> = contents.iter().filter(|c| seen.insert(c.hash)).collect();
        sorted.sort_by_key(|c| c.hash);
        let mut buf = CopyData::new(ctx.copy, sorted.len() * 512);
        let fields = FILES.fields().count() + MUSICAL_METADATA.fields().count();
        for c in sorted {
            buf.begin_row(fields);
            FILES.encode_fields(&mut buf, c);
            MUSICAL_METADATA.encode_fields(&mut buf, c);
            buf.end_row();
        }
        copy_in(&mut tx, pick(&SQL.copy_stage_files, ctx.copy), buf.finish()).await?;
        out.new_files = sqlx::query(SQL.insert_files.as_str())
            .bind(run_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if ctx.repair {
            sqlx::query(SQL.backfill_metadata.as_str()).execute(&mut *tx).await?;
        }
    }
    if !locations.is_empty() {
        let mut seen = HashSet::with_capacity(locations.len());
        let mut sorted: Vec<&&LocationRecord> = locations.iter().filter(|l| seen.insert(l.location.as_str())).collect();
        sorted.sort_by(|a, b| a.location.cmp(&b.location));
        let mut buf = CopyData::new(ctx.copy, sorted.len() * 160);
        let fields = 1 + FILE_LOCATIONS.fields().count();
        for l in sorted {
            buf.begin_row(fields);
            if let Some(hash) = LOCATION_CONTENT.datum(l) {
                buf.datum(hash);
            }
            FILE_LOCATIONS.encode_fields(&mut buf, l);
            buf.end_row();
        }
        copy_in(&mut tx, pick(&SQL.copy_stage_locations, ctx.copy), buf.finish()).await?;
        out.locations = sqlx::query(SQL.insert_locations.as_str())
            .bind(run_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        out.orphans = sqlx::query(ORPHAN_LOCATIONS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
    }
    write_tail(&mut tx, run_id, &out, errors, complete_archives).await?;
    tx.commit().await?;
    Ok(out)
}

/// The start of every batch transaction: durability while UNLOGGED, and the checks deferred when asked.
async fn begin_batch(tx: &mut PgConnection, ctx: BatchContext) -> Result<(), sqlx::Error> {
    if ctx.defer_checks {
        super::deferred::defer_in_transaction(tx).await?;
    }
    durable_if_unlogged(tx).await
}

/// Whether this batch's direct write checks its keys itself: asked for, and not already deferred.
fn checked_in_batch(ctx: BatchContext) -> bool {
    ctx.batch_checks && !ctx.defer_checks
}

/// The per-row foreign-key triggers of a direct batch, replaced by what they amount to, set-based: the run the
/// rows name is locked `FOR KEY SHARE` (the lock each trigger takes on the referenced row) and must exist, and so
/// are the files already stored that the batch's locations name (in [`direct`]'s look-up); the batch's new files
/// and their metadata are written in this same transaction. The triggers (and the search_rows statement trigger,
/// which [`super::search_rows::fill`] replaces) are off for the rest of the transaction only.
async fn check_run_in_batch(tx: &mut PgConnection, run_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('session_replication_role', 'replica', true), lock_import_run($1)")
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// While the library tables are UNLOGGED a crash empties them, and only the run row can say what was there: commit
/// this batch (and its counts) synchronously then. With fsync off that costs a write, not a flush.
async fn durable_if_unlogged(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    let unlogged: bool = sqlx::query_scalar(
        "SELECT coalesce((SELECT relpersistence = 'u' FROM pg_class WHERE oid = 'files'::regclass), false)",
    )
    .fetch_one(&mut *tx)
    .await?;
    if unlogged {
        sqlx::query("SET LOCAL synchronous_commit = on")
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Errors, completed archives and the run's counters: the end of every batch transaction.
async fn write_tail(
    tx: &mut PgConnection,
    run_id: i64,
    out: &BatchOutcome,
    errors: &[&ErrorRecord],
    complete_archives: &[Arc<ArchiveTracker>],
) -> Result<(), sqlx::Error> {
    if !errors.is_empty() {
        // The last word on a path wins; sorted, so concurrent importers lock rows in one order.
        let mut by_path: std::collections::BTreeMap<String, &ErrorRecord> = std::collections::BTreeMap::new();
        for e in errors {
            by_path.insert(no_nul(&e.location), e);
        }
        let mut paths = Vec::with_capacity(by_path.len());
        let (mut kinds, mut messages, mut sizes, mut mtimes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (path, e) in by_path {
            paths.push(path);
            kinds.push(e.kind.code());
            messages.push(no_nul(&e.message));
            sizes.push(e.size.map(|s| s as i64));
            mtimes.push(e.mtime);
        }
        sqlx::query(UPSERT_ERRORS)
            .bind(run_id)
            .bind(&paths)
            .bind(&kinds)
            .bind(&messages)
            .bind(&sizes)
            .bind(&mtimes)
            .execute(&mut *tx)
            .await?;
    }
    let mut archives: Vec<&Arc<ArchiveTracker>> = complete_archives.iter().collect();
    archives.sort_unstable_by(|a, b| a.location.cmp(&b.location));
    for a in archives {
        sqlx::query(
            "INSERT INTO archive_progress (path, size, mtime, members, import_run_id) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, mtime = EXCLUDED.mtime, \
             members = EXCLUDED.members, import_run_id = EXCLUDED.import_run_id, completed_at = now()",
        )
        .bind(&a.location)
        .bind(a.size as i64)
        .bind(a.mtime)
        .bind(a.members.load(Relaxed) as i64)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    }
    if run_id > 0 {
        sqlx::query(COUNT_BATCH)
            .bind(run_id)
            .bind(out.new_files as i64)
            .bind(out.locations.saturating_sub(out.new_files) as i64)
            .bind(errors.len() as i64)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// PostgreSQL text cannot hold NUL.
fn no_nul(s: &str) -> String {
    s.replace('\0', "")
}

/// One COPY ... FROM STDIN of a prepared buffer.
async fn copy_in(conn: &mut PgConnection, statement: &str, data: Vec<u8>) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data).await?;
    copy.finish().await
}
