//! The write phase's SQL: one transaction per batch, COPY into temporary staging tables, then set-based inserts.
//!
//! COPY was measured against `INSERT ... SELECT FROM unnest(...)` (see BENCHMARKS.md): COPY's text stream costs
//! the server less per row and handles the array columns (track names, programs, channels) without a 2-D array
//! workaround. The staging step is what lets deduplication (`ON CONFLICT (content_hash)`) stay set-based.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use sqlx::{Connection, PgConnection, Row};

use super::DbResult;
use crate::record::{ArchiveTracker, ContentRecord, ErrorRecord, LocationRecord};

const STAGING: &str = "
CREATE TEMP TABLE IF NOT EXISTS stage_files (
    content_hash bytea, filename text, filepath text, parent_folder text, collection text, filename_bpm real,
    filename_key text, file_size_bytes bigint, format smallint, num_tracks integer, ticks_per_quarter_note integer,
    duration_ticks bigint, duration_seconds double precision, track_names text[], copyright text,
    bpm double precision, avg_bpm double precision, tempo_changes integer, time_signature_numerator smallint,
    time_signature_denominator smallint, key_signature text, detected_key text, key_confidence double precision,
    total_notes integer, unique_pitches smallint, pitch_range_min smallint, pitch_range_max smallint,
    avg_velocity double precision, polyphony_max integer, note_density double precision, channels smallint[],
    programs smallint[], has_drums boolean, is_karaoke boolean, lyrics_count integer
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_locations (
    path text, content_hash bytea, size bigint, mtime bigint
) ON COMMIT DELETE ROWS;
";

const INSERT_FILES: &str = "
WITH ins AS (
    INSERT INTO files (content_hash, filename, filepath, parent_folder, collection, filename_bpm, filename_key,
        file_size_bytes, format, num_tracks, ticks_per_quarter_note, duration_ticks, duration_seconds, track_names,
        copyright, import_run_id)
    SELECT content_hash, filename, filepath, parent_folder, collection, filename_bpm, filename_key,
        file_size_bytes, format, num_tracks, ticks_per_quarter_note, duration_ticks, duration_seconds, track_names,
        copyright, $1
    FROM stage_files ORDER BY content_hash
    ON CONFLICT (content_hash) DO NOTHING
    RETURNING id, content_hash
)
INSERT INTO musical_metadata (file_id, bpm, avg_bpm, tempo_changes, time_signature_numerator,
    time_signature_denominator, key_signature, detected_key, key_confidence, total_notes, unique_pitches,
    pitch_range_min, pitch_range_max, avg_velocity, polyphony_max, note_density, channels, programs, has_drums,
    is_karaoke, lyrics_count)
SELECT ins.id, s.bpm, s.avg_bpm, s.tempo_changes, s.time_signature_numerator, s.time_signature_denominator,
    s.key_signature, s.detected_key, s.key_confidence, s.total_notes, s.unique_pitches, s.pitch_range_min,
    s.pitch_range_max, s.avg_velocity, s.polyphony_max, s.note_density, s.channels, s.programs, s.has_drums,
    s.is_karaoke, s.lyrics_count
FROM ins JOIN stage_files s USING (content_hash)
";

const INSERT_LOCATIONS: &str = "
INSERT INTO file_locations (file_id, path, size, mtime, import_run_id)
SELECT f.id, s.path, s.size, s.mtime, $1
FROM stage_locations s JOIN files f ON f.content_hash = s.content_hash
ORDER BY s.path
ON CONFLICT (path) DO UPDATE SET file_id = EXCLUDED.file_id, size = EXCLUDED.size, mtime = EXCLUDED.mtime,
    import_run_id = EXCLUDED.import_run_id
";

/// Locations whose content row is not there (yet): its first-seen copy is still being parsed, or it failed.
const ORPHAN_LOCATIONS: &str = "
SELECT s.path FROM stage_locations s WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.content_hash = s.content_hash)
";

/// Repair runs: files kept in `files` whose metadata row a crash emptied get it back from the re-read content.
const BACKFILL_METADATA: &str = "
INSERT INTO musical_metadata (file_id, bpm, avg_bpm, tempo_changes, time_signature_numerator,
    time_signature_denominator, key_signature, detected_key, key_confidence, total_notes, unique_pitches,
    pitch_range_min, pitch_range_max, avg_velocity, polyphony_max, note_density, channels, programs, has_drums,
    is_karaoke, lyrics_count)
SELECT f.id, s.bpm, s.avg_bpm, s.tempo_changes, s.time_signature_numerator, s.time_signature_denominator,
    s.key_signature, s.detected_key, s.key_confidence, s.total_notes, s.unique_pitches, s.pitch_range_min,
    s.pitch_range_max, s.avg_velocity, s.polyphony_max, s.note_density, s.channels, s.programs, s.has_drums,
    s.is_karaoke, s.lyrics_count
FROM stage_files s JOIN files f USING (content_hash)
ORDER BY f.id
ON CONFLICT (file_id) DO NOTHING
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

/// Prepare a writer connection (staging tables live per session).
pub async fn prepare(conn: &mut PgConnection, async_commit: bool) -> DbResult<()> {
    sqlx::raw_sql(STAGING).execute(&mut *conn).await?;
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
    durable_if_unlogged(&mut tx).await?;
    let result = direct(&mut tx, ctx.run_id, contents, locations, errors, complete_archives).await;
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
    run_id: i64,
    contents: &[&ContentRecord],
    locations: &[&LocationRecord],
    errors: &[&ErrorRecord],
    complete_archives: &[Arc<ArchiveTracker>],
) -> Result<BatchOutcome, sqlx::Error> {
    let mut out = BatchOutcome::default();
    let mut hashes: Vec<Vec<u8>> = contents.iter().map(|c| c.hash.to_vec()).collect();
    hashes.extend(locations.iter().map(|l| l.hash.to_vec()));
    hashes.sort_unstable();
    hashes.dedup();
    let mut ids: std::collections::HashMap<[u8; 32], i64> = std::collections::HashMap::with_capacity(hashes.len());
    for r in sqlx::query("SELECT content_hash, id FROM files WHERE content_hash = ANY($1)")
        .bind(&hashes)
        .fetch_all(&mut *tx)
        .await?
    {
        let h: Vec<u8> = r.get(0);
        if let Ok(h) = <[u8; 32]>::try_from(h.as_slice()) {
            ids.insert(h, r.get(1));
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
        let new_ids: Vec<i64> =
            sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('files', 'id')) FROM generate_series(1, $1)")
                .bind(fresh.len() as i64)
                .fetch_all(&mut *tx)
                .await?;
        let mut files = String::with_capacity(fresh.len() * 256);
        let mut meta = String::with_capacity(fresh.len() * 192);
        for (c, id) in fresh.iter().zip(&new_ids) {
            ids.insert(c.hash, *id);
            let _ = write!(files, "{id}\t");
            file_fields(&mut files, c);
            let _ = writeln!(files, "\t{run_id}");
            let _ = write!(meta, "{id}\t");
            metadata_fields(&mut meta, c);
            meta.push('\n');
        }
        copy_in(
            &mut *tx,
            "COPY files (id, content_hash, filename, filepath, parent_folder, collection, filename_bpm, \
                 filename_key, file_size_bytes, format, num_tracks, ticks_per_quarter_note, duration_ticks, \
                 duration_seconds, track_names, copyright, import_run_id) FROM STDIN",
            files.into_bytes(),
        )
        .await?;
        copy_in(
            &mut *tx,
            "COPY musical_metadata (file_id, bpm, avg_bpm, tempo_changes, time_signature_numerator, \
                 time_signature_denominator, key_signature, detected_key, key_confidence, total_notes, \
                 unique_pitches, pitch_range_min, pitch_range_max, avg_velocity, polyphony_max, note_density, \
                 channels, programs, has_drums, is_karaoke, lyrics_count) FROM STDIN",
            meta.into_bytes(),
        )
        .await?;
        out.new_files = fresh.len() as u64;
    }
    if !locations.is_empty() {
        let mut seen = HashSet::with_capacity(locations.len());
        let mut buf = String::with_capacity(locations.len() * 128);
        let mut sorted: Vec<&&LocationRecord> = locations.iter().collect();
        sorted.sort_unstable_by(|a, b| a.location.cmp(&b.location));
        for l in sorted {
            if !seen.insert(l.location.as_str()) {
                continue;
            }
            match ids.get(&l.hash) {
                Some(id) => {
                    let _ = write!(buf, "{id}\t");
                    text(&mut buf, &l.location);
                    let _ = writeln!(buf, "\t{}\t{}\t{run_id}", l.size, l.mtime);
                    out.locations += 1;
                }
                None => out.orphans.push(l.location.clone()),
            }
        }
        copy_in(
            &mut *tx,
            "COPY file_locations (file_id, path, size, mtime, import_run_id) FROM STDIN",
            buf.into_bytes(),
        )
        .await?;
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
    durable_if_unlogged(&mut tx).await?;
    let mut out = BatchOutcome::default();
    if !contents.is_empty() {
        let mut seen = HashSet::with_capacity(contents.len());
        let mut sorted: Vec<&&ContentRecord> = contents.iter().filter(|c| seen.insert(c.hash)).collect();
        sorted.sort_by_key(|c| c.hash);
        let mut buf = String::with_capacity(sorted.len() * 512);
        for c in sorted {
            content_line(&mut buf, c);
        }
        copy_in(&mut tx, "COPY stage_files FROM STDIN", buf.into_bytes()).await?;
        out.new_files = sqlx::query(INSERT_FILES)
            .bind(run_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if ctx.repair {
            sqlx::query(BACKFILL_METADATA).execute(&mut *tx).await?;
        }
    }
    if !locations.is_empty() {
        let mut seen = HashSet::with_capacity(locations.len());
        let mut sorted: Vec<&&LocationRecord> = locations.iter().filter(|l| seen.insert(l.location.as_str())).collect();
        sorted.sort_by(|a, b| a.location.cmp(&b.location));
        let mut buf = String::with_capacity(sorted.len() * 160);
        for l in sorted {
            text(&mut buf, &l.location);
            buf.push('\t');
            bytea(&mut buf, &l.hash);
            let _ = writeln!(buf, "\t{}\t{}", l.size, l.mtime);
        }
        copy_in(&mut tx, "COPY stage_locations FROM STDIN", buf.into_bytes()).await?;
        out.locations = sqlx::query(INSERT_LOCATIONS)
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
            kinds.push(no_nul(&e.kind));
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

/// One COPY ... FROM STDIN of a prepared text buffer.
async fn copy_in(conn: &mut PgConnection, statement: &str, data: Vec<u8>) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data).await?;
    copy.finish().await
}

fn content_line(buf: &mut String, c: &ContentRecord) {
    file_fields(buf, c);
    buf.push('\t');
    metadata_fields(buf, c);
    buf.push('\n');
}

/// The `files` columns from content_hash to copyright, as staged and as copied.
fn file_fields(buf: &mut String, c: &ContentRecord) {
    let m = &c.midi;
    let p = &c.path;
    bytea(buf, &c.hash);
    for s in [&p.filename, &c.location, &p.parent_folder, &p.collection] {
        buf.push('\t');
        text(buf, s);
    }
    buf.push('\t');
    opt(buf, p.filename_bpm.map(|b| b as f32));
    buf.push('\t');
    opt_text(buf, p.filename_key.as_deref());
    let _ = write!(buf, "\t{}\t{}\t{}\t", c.size, m.format, m.num_tracks);
    opt(buf, m.ticks_per_quarter_note);
    let _ = write!(buf, "\t{}\t", m.duration_ticks);
    float(buf, m.duration_seconds);
    buf.push('\t');
    text_array(buf, &m.track_names);
    buf.push('\t');
    opt_text(buf, m.copyright.as_deref());
}

/// The `musical_metadata` columns after file_id.
fn metadata_fields(buf: &mut String, c: &ContentRecord) {
    let m = &c.midi;
    opt_float(buf, m.bpm);
    buf.push('\t');
    opt_float(buf, m.avg_bpm);
    let _ = write!(buf, "\t{}\t", m.tempo_changes);
    opt(buf, m.time_signature_numerator);
    buf.push('\t');
    opt(buf, m.time_signature_denominator);
    buf.push('\t');
    opt_text(buf, m.key_signature.as_deref());
    buf.push('\t');
    opt_text(buf, m.detected_key.as_deref());
    buf.push('\t');
    opt_float(buf, m.key_confidence);
    let _ = write!(buf, "\t{}\t{}\t", m.total_notes, m.unique_pitches);
    opt(buf, m.pitch_range_min);
    buf.push('\t');
    opt(buf, m.pitch_range_max);
    buf.push('\t');
    opt_float(buf, m.avg_velocity);
    let _ = write!(buf, "\t{}\t", m.polyphony_max);
    float(buf, m.note_density);
    buf.push('\t');
    int_array(buf, &m.channels);
    buf.push('\t');
    int_array(buf, &m.programs);
    let _ = write!(buf, "\t{}\t{}\t{}", m.has_drums, m.is_karaoke, m.lyrics_count);
}

/// COPY text format: backslash escapes; NUL cannot be stored in PostgreSQL text, so it is dropped.
fn text(buf: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\0' => {}
            c => buf.push(c),
        }
    }
}

fn opt_text(buf: &mut String, s: Option<&str>) {
    match s {
        Some(s) => text(buf, s),
        None => buf.push_str("\\N"),
    }
}

fn opt<T: std::fmt::Display>(buf: &mut String, v: Option<T>) {
    match v {
        Some(v) => {
            let _ = write!(buf, "{v}");
        }
        None => buf.push_str("\\N"),
    }
}

/// NaN and infinities are not values a browser can filter on: stored as NULL.
fn float(buf: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(buf, "{v}");
    } else {
        buf.push_str("\\N");
    }
}

fn opt_float(buf: &mut String, v: Option<f64>) {
    match v {
        Some(v) => float(buf, v),
        None => buf.push_str("\\N"),
    }
}

fn bytea(buf: &mut String, bytes: &[u8]) {
    // `\\x` in COPY text is the bytea hex form `\x` after COPY's own unescaping.
    buf.push_str("\\\\x");
    for b in bytes {
        let _ = write!(buf, "{b:02x}");
    }
}

fn int_array<T: std::fmt::Display>(buf: &mut String, v: &[T]) {
    buf.push('{');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        let _ = write!(buf, "{x}");
    }
    buf.push('}');
}

/// A text[] literal inside COPY text: array quoting first, then COPY escaping of the result.
fn text_array(buf: &mut String, v: &[String]) {
    let mut lit = String::from("{");
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            lit.push(',');
        }
        lit.push('"');
        for ch in s.chars() {
            match ch {
                '"' => lit.push_str("\\\""),
                '\\' => lit.push_str("\\\\"),
                c => lit.push(c),
            }
        }
        lit.push('"');
    }
    lit.push('}');
    text(buf, &lit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_separators_and_drops_nul() {
        let mut b = String::new();
        text(&mut b, "a\tb\nc\\d\0e");
        assert_eq!(b, "a\\tb\\nc\\\\de");
    }

    #[test]
    fn text_arrays_quote_each_element() {
        let mut b = String::new();
        text_array(&mut b, &["Bass \"1\"".into(), "a,b".into(), "x\\y".into()]);
        assert_eq!(b, r#"{"Bass \\"1\\"","a,b","x\\\\y"}"#);
    }

    #[test]
    fn non_finite_floats_become_null() {
        let mut b = String::new();
        float(&mut b, f64::NAN);
        opt_float(&mut b, None);
        assert_eq!(b, "\\N\\N");
    }
}
