//! SQL of the benchmark: an empty library database before each measured run.
use super::query::Query;
use super::{DbResult, cluster, connect_options, quote_ident};
use sqlx::{Connection, PgConnection};

/// Drop the library database of `url` (closing its sessions) and create it again, empty. Runs from the
/// `postgres` maintenance database of the same server, since a database cannot drop itself.
pub async fn recreate_library(url: &str) -> DbResult<()> {
    let mut admin = PgConnection::connect_with(&connect_options(url)?.database("postgres")).await?;
    // The name is the managed cluster's constant, never input; quoted all the same.
    let name = quote_ident(cluster::DATABASE);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// Grow an imported library `copies` times over: each copy of a file gets new bytes' identity (a hash of the
/// original's and the copy number), its name and paths tagged with the number, and the same metadata, so the
/// library keeps the imported corpus's value distributions at any size. The browser's latency benchmark uses it to
/// reach a million files without writing a million files to disk. Returns the files in the library after.
pub async fn grow_library(url: &str, copies: i32) -> DbResult<i64> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    let mut tx = c.begin().await?;
    // The originals are the rows without a `copy` prefix, so calling this twice does not copy copies. A copy's
    // natural-order key is its original's with ` g` before the extension, as `midi::natural_sort_key` spells a
    // number (its marker `0`, a length character from `A`, the digits): tests/natural_sort.rs compares the two.
    sqlx::query(
        "INSERT INTO files (content_hash, filename, filepath, parent_folder, collection, filename_bpm, filename_key, \
         file_size_bytes, format, num_tracks, ticks_per_quarter_note, duration_ticks, duration_seconds, track_names, \
         copyright, import_run_id, name_sort) \
         SELECT sha256(f.content_hash || int4send(g)), \
                regexp_replace(f.filename, '(\\.[^.]*)?$', ' ' || g || '\\1'), 'copy' || g || '/' || f.filepath, \
                f.parent_folder, f.collection || ' ' || g, f.filename_bpm, f.filename_key, f.file_size_bytes, \
                f.format, f.num_tracks, f.ticks_per_quarter_note, f.duration_ticks, f.duration_seconds, \
                f.track_names, f.copyright, f.import_run_id, \
                regexp_replace(f.name_sort, '(\\.[^.]*)?$', ' 0' || chr(65 + length(g::text)) || g || '\\1') \
         FROM files f CROSS JOIN generate_series(1, $1) g WHERE f.filepath NOT LIKE 'copy%'",
    )
    .bind(copies)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO musical_metadata (file_id, bpm, avg_bpm, tempo_changes, time_signature_numerator, \
         time_signature_denominator, key_signature, detected_key, key_confidence, total_notes, unique_pitches, \
         pitch_range_min, pitch_range_max, avg_velocity, polyphony_max, note_density, channels, programs, \
         has_drums, is_karaoke, lyrics_count, features, features_version, coarse) \
         SELECT n.id, m.bpm, m.avg_bpm, m.tempo_changes, m.time_signature_numerator, \
                m.time_signature_denominator, m.key_signature, m.detected_key, m.key_confidence, m.total_notes, \
                m.unique_pitches, m.pitch_range_min, m.pitch_range_max, m.avg_velocity, m.polyphony_max, \
                m.note_density, m.channels, m.programs, m.has_drums, m.is_karaoke, m.lyrics_count, \
                m.features, m.features_version, m.coarse \
         FROM files f JOIN musical_metadata m ON m.file_id = f.id CROSS JOIN generate_series(1, $1) g \
         JOIN files n ON n.content_hash = sha256(f.content_hash || int4send(g)) \
         WHERE f.filepath NOT LIKE 'copy%'",
    )
    .bind(copies)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO file_locations (file_id, path, size, mtime, import_run_id) \
         SELECT n.id, 'copy' || g || '/' || l.path, l.size, l.mtime, l.import_run_id \
         FROM file_locations l JOIN files f ON f.id = l.file_id CROSS JOIN generate_series(1, $1) g \
         JOIN files n ON n.content_hash = sha256(f.content_hash || int4send(g)) \
         WHERE f.filepath NOT LIKE 'copy%'",
    )
    .bind(copies)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let files: i64 = sqlx::query_scalar("SELECT count(*) FROM files")
        .fetch_one(&mut c)
        .await?;
    c.close().await?;
    Ok(files)
}

/// Fresh planner statistics and visibility map, as a library has some time after its import.
pub async fn analyze_library(url: &str) -> DbResult<()> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(&mut c).await?;
    c.close().await?;
    Ok(())
}

/// Files in the library.
/// Files, locations and error rows of the library: what one import of a source must leave, however it was shared.
pub async fn library_counts(url: &str) -> DbResult<(i64, i64, i64)> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    let n = sqlx::query_as(
        "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM file_locations), \
         (SELECT count(*) FROM import_errors)",
    )
    .fetch_one(&mut c)
    .await?;
    c.close().await?;
    Ok(n)
}

pub async fn library_files(url: &str) -> DbResult<i64> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    let n = sqlx::query_scalar("SELECT count(*) FROM files")
        .fetch_one(&mut c)
        .await?;
    c.close().await?;
    Ok(n)
}

/// The files `like:` rows of the search bench compare with: `n` of the generated corpus's own files (not the bench's
/// copies) with features, spread evenly over their content hashes. The generated corpus is deterministic and its
/// hashes are its bytes', so every library built by the bench has the same targets, whatever order the import gave
/// its ids (one target, the file in the middle of the ids, was a different file with another latency in each build:
/// 134 to 820 ms cold over six ids of one library).
pub async fn like_targets(url: &str, n: usize) -> DbResult<Vec<i64>> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT f.id FROM files f JOIN musical_metadata m ON m.file_id = f.id \
         WHERE m.features IS NOT NULL AND f.filepath NOT LIKE 'copy%' ORDER BY f.content_hash",
    )
    .fetch_all(&mut c)
    .await?;
    c.close().await?;
    Ok(spread(&ids, n))
}

/// `n` of `items`, evenly spaced: the middle of each of `n` equal slices.
pub fn spread<T: Copy>(items: &[T], n: usize) -> Vec<T> {
    let n = n.min(items.len());
    (0..n).map(|i| items[(2 * i + 1) * items.len() / (2 * n)]).collect()
}

/// The share of the exact first page of `query` (a `like:` query) that its page holds (`like:`'s recall), and whether
/// the page said it was approximate, and where it took its candidates from.
pub async fn like_recall(url: &str, query: &Query, limit: usize) -> DbResult<(f64, bool, super::similar::Walked)> {
    let pool = super::connect(url, 1).await?;
    let (page, _, walked) = super::similar::ranked_how(&pool, query, limit, None).await?;
    let (exact, _) = super::similar::exact(&pool, query, limit).await?;
    pool.close().await;
    if exact.hits.is_empty() {
        return Ok((1.0, page.approximate, walked));
    }
    let found = exact
        .hits
        .iter()
        .filter(|e| page.hits.iter().any(|h| h.id == e.id))
        .count();
    Ok((found as f64 / exact.hits.len() as f64, page.approximate, walked))
}

/// Build the similarity pack anew (a library grown by SQL was packed by no import's end; a kept one is packed again,
/// so that every run times the build).
pub async fn rebuild_pack(url: &str) -> DbResult<super::similar_pack::Refreshed> {
    let pool = super::connect(url, 2).await?;
    super::similar_pack::forget(&pool).await?;
    let done = super::similar_pack::refresh(&pool, super::similar_pack::MIN_FILES).await;
    pool.close().await;
    done
}

/// The database the append bench keeps its base library in, copied back before each measured mode.
const BASE_COPY: &str = "midi_tui_bench_base";

/// Ends every other session on database `name`: a database cannot be copied or dropped while in use.
async fn end_sessions(admin: &mut PgConnection, name: &str) -> DbResult<()> {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(&mut *admin)
    .await?;
    Ok(())
}

/// Keep the library of `url` as it is now (a server-side copy, `CREATE DATABASE ... TEMPLATE`), for
/// [`reset_library`].
pub async fn keep_library(url: &str) -> DbResult<()> {
    let mut admin = PgConnection::connect_with(&connect_options(url)?.database("postgres")).await?;
    end_sessions(&mut admin, cluster::DATABASE).await?;
    // Both names are constants of this module, never input; quoted all the same.
    let (lib, base) = (quote_ident(cluster::DATABASE), quote_ident(BASE_COPY));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {base} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {base} TEMPLATE {lib}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// The library of `url` back to the state [`keep_library`] kept.
pub async fn reset_library(url: &str) -> DbResult<()> {
    let mut admin = PgConnection::connect_with(&connect_options(url)?.database("postgres")).await?;
    let (lib, base) = (quote_ident(cluster::DATABASE), quote_ident(BASE_COPY));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {lib} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {lib} TEMPLATE {base}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// Bytes of the library database of `url` on disk.
pub async fn library_bytes(url: &str) -> DbResult<i64> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    let n = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut c)
        .await?;
    c.close().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_takes_the_middle_of_equal_slices() {
        let ids: Vec<i64> = (0..100).collect();
        assert_eq!(spread(&ids, 5), vec![10, 30, 50, 70, 90]);
        assert_eq!(spread(&ids, 1), vec![50]);
        assert_eq!(spread(&[7, 8], 5), vec![7, 8]);
        assert!(spread::<i64>(&[], 3).is_empty());
    }
}
