//! The collections of a library imported before each location kept its own (migration 14): recomputed from the
//! stored locations and the sources of the runs that found them, by the rule the pipeline uses (`midi::path_meta`).
//! Before, every plain file's collection was the first folder of its absolute path (`home`, `tmp`).
use sqlx::PgConnection;

use crate::midi::location_meta;

/// Rows per round trip.
const BATCH: i64 = 10_000;

/// `files.collection` from each file's first location, then each location's own values where they differ.
pub async fn recompute(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    let mut last = 0i64;
    loop {
        let rows: Vec<(i64, String, Vec<String>)> = sqlx::query_as(
            "SELECT f.id, f.filepath, coalesce(r.sources, '{}') FROM files f \
             LEFT JOIN import_runs r ON r.id = f.import_run_id WHERE f.id > $1 ORDER BY f.id LIMIT $2",
        )
        .bind(last)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(end) = rows.last().map(|r| r.0) else { break };
        last = end;
        let (ids, collections): (Vec<i64>, Vec<String>) = rows
            .iter()
            .map(|(id, path, sources)| (*id, meta(path, sources).collection))
            .unzip();
        sqlx::query(
            "UPDATE files f SET collection = v.c FROM unnest($1::bigint[], $2::text[]) AS v (id, c) \
             WHERE f.id = v.id AND f.collection IS DISTINCT FROM v.c",
        )
        .bind(&ids)
        .bind(&collections)
        .execute(&mut *tx)
        .await?;
    }
    let mut last = 0i64;
    loop {
        let rows: Vec<(i64, String, Vec<String>)> = sqlx::query_as(
            "SELECT l.id, l.path, coalesce(r.sources, '{}') FROM file_locations l \
             LEFT JOIN import_runs r ON r.id = l.import_run_id WHERE l.id > $1 ORDER BY l.id LIMIT $2",
        )
        .bind(last)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(end) = rows.last().map(|r| r.0) else { break };
        last = end;
        let (mut ids, mut colls, mut folders, mut names) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, path, sources) in &rows {
            let m = meta(path, sources);
            ids.push(*id);
            colls.push(m.collection);
            folders.push(m.parent_folder);
            names.push(m.filename);
        }
        sqlx::query(
            "UPDATE file_locations l SET collection = NULLIF(v.c, f.collection), \
                 parent_folder = NULLIF(v.p, f.parent_folder), filename = NULLIF(v.n, f.filename) \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS v (id, c, p, n), files f \
             WHERE l.id = v.id AND f.id = l.file_id \
               AND (v.c <> f.collection OR v.p <> f.parent_folder OR v.n <> f.filename)",
        )
        .bind(&ids)
        .bind(&colls)
        .bind(&folders)
        .bind(&names)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn meta(path: &str, sources: &[String]) -> crate::midi::LocationMeta {
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    location_meta(path, &sources)
}
