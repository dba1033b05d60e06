//! Similarity search's SQL: `like:` pages in distance order from the GiST index on the features' cube (migration
//! 0018), every other term of the query as a filter; the features backfill's reads and writes.
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use super::search::{COLUMNS, Cursor, Page, SortValue};
use super::{DbError, DbResult};
use crate::database::query::{LikeRef, Query};

/// The distance expression the index serves (its definition's expression, so the planner matches it).
const DISTANCE: &str = "(cube(m.features::float8[]) <-> cube($1::float8[]))";

/// The file a `like:` term names and its features.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub file_id: i64,
    pub features: Vec<f32>,
}

/// The file of a `like:` term: by id, or by a location as imported (tried as written, then as the absolute path
/// it names on this machine).
pub async fn target(pool: &PgPool, like: &LikeRef) -> DbResult<Target> {
    let file_id = match like {
        LikeRef::Id(id) => Some(*id),
        LikeRef::Path(p) => {
            let mut candidates = vec![p.clone()];
            if let Ok(abs) = std::path::absolute(p) {
                candidates.push(abs.to_string_lossy().into_owned());
            }
            if let Ok(canonical) = std::fs::canonicalize(p) {
                candidates.push(canonical.to_string_lossy().into_owned());
            }
            sqlx::query_scalar("SELECT file_id FROM file_locations WHERE path = ANY($1) LIMIT 1")
                .bind(&candidates)
                .fetch_optional(pool)
                .await?
        }
    };
    let named = match like {
        LikeRef::Id(id) => format!("file {id}"),
        LikeRef::Path(p) => format!("`{p}`"),
    };
    let Some(file_id) = file_id else {
        return Err(DbError::Like(format!("like: no file in the library is {named}")));
    };
    let row: Option<(Option<Vec<f32>>, i32)> =
        sqlx::query_as("SELECT features, total_notes FROM musical_metadata WHERE file_id = $1")
            .bind(file_id)
            .fetch_optional(pool)
            .await?;
    match row {
        None => Err(DbError::Like(format!("like: no file in the library is {named}"))),
        Some((Some(features), _)) => Ok(Target { file_id, features }),
        Some((None, 0)) => Err(DbError::Like(format!("like: {named} has no notes to compare"))),
        Some((None, _)) => Err(DbError::Like(format!(
            "like: {named} has no similarity features yet (imported before them, or timed in SMPTE frames): \
             `midi-tui features` computes them from the stored locations"
        ))),
    }
}

/// One page of the files matching `query` (which holds a `like:` term), nearest first, after `after` (the last
/// row's distance and id), each hit with every location when `with_locations`.
pub async fn page(
    pool: &PgPool,
    query: &Query,
    limit: usize,
    after: Option<&Cursor>,
    with_locations: bool,
) -> DbResult<Page> {
    let (mut page, _) = ranked(pool, query, limit.clamp(1, super::search::MAX_PAGE), after).await?;
    if with_locations {
        super::search::attach_locations(pool, &mut page.hits).await?;
    }
    Ok(page)
}

/// [`page`] without locations, with each hit's distance.
pub async fn ranked(pool: &PgPool, query: &Query, limit: usize, after: Option<&Cursor>) -> DbResult<(Page, Vec<f64>)> {
    let Some(like) = query.like() else {
        return Ok((Page::default(), Vec::new()));
    };
    let t = target(pool, like).await?;
    let others = super::search::other_locations(pool, query).await?;
    let features: Vec<f64> = t.features.iter().map(|&x| f64::from(x)).collect();
    let mut qb = statement("", query, &others, &features, t.file_id, after, fetched(limit));
    let rows = qb.build().persistent(false).fetch_all(pool).await?;
    let mut ranked = Vec::with_capacity(rows.len());
    for row in &rows {
        ranked.push((row.try_get::<f64, _>("distance")?, super::search::hit(row)?));
    }
    // The index delivers distance order only; ties (identical vectors) are put in id order here, from a page
    // fetched twice as long, so that the keyset (distance, id) continues where this page ends.
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    ranked.truncate(limit);
    let (distances, hits): (Vec<f64>, Vec<_>) = ranked.into_iter().unzip();
    let next = (hits.len() == limit)
        .then(|| {
            hits.last().zip(distances.last()).map(|(h, d)| Cursor {
                value: SortValue::Float(*d),
                id: h.id,
            })
        })
        .flatten();
    Ok((Page { hits, next }, distances))
}

/// The page's statement (`prefix` for EXPLAIN).
fn statement(
    prefix: &str,
    query: &Query,
    others: &[Vec<i64>],
    features: &[f64],
    target: i64,
    after: Option<&Cursor>,
    limit: usize,
) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new(format!("{prefix}{COLUMNS}, "));
    // $1: the target's features, read by DISTANCE wherever it appears.
    qb.push("cube(m.features::float8[]) <-> cube(")
        .push_bind(features.to_vec())
        .push("::float8[]) AS distance FROM files f JOIN musical_metadata m ON m.file_id = f.id ");
    qb.push("WHERE m.features IS NOT NULL AND f.id <> ").push_bind(target);
    for (term, ids) in query.terms.iter().zip(others) {
        super::search::push_term(&mut qb, term, super::search::JOINED, ids);
    }
    if let Some(c) = after {
        let d = match c.value {
            SortValue::Float(d) => d,
            _ => 0.0,
        };
        qb.push(format_args!(" AND {DISTANCE} >= "))
            .push_bind(d)
            .push(format_args!(" AND ({DISTANCE} > "))
            .push_bind(d)
            .push(" OR f.id > ")
            .push_bind(c.id)
            .push(")");
    }
    // Distance alone: a second key would keep the planner from the index's distance-ordered scan.
    qb.push(format_args!(" ORDER BY {DISTANCE} LIMIT "))
        .push_bind(limit as i64);
    qb
}

/// Rows fetched for a page of `limit`: enough that identical vectors straddling its end are put in id order.
fn fetched(limit: usize) -> usize {
    limit.saturating_mul(2).max(limit + 16)
}

/// The plan of a `like:` query's first page (`EXPLAIN (FORMAT JSON)`), to check that the GiST index serves it.
pub async fn explain(pool: &PgPool, query: &Query, limit: usize) -> DbResult<serde_json::Value> {
    let Some(like) = query.like() else {
        return Ok(serde_json::Value::Null);
    };
    let t = target(pool, like).await?;
    let features: Vec<f64> = t.features.iter().map(|&x| f64::from(x)).collect();
    let others = vec![Vec::new(); query.terms.len()];
    let mut qb = statement(
        "EXPLAIN (FORMAT JSON) ",
        query,
        &others,
        &features,
        t.file_id,
        None,
        limit,
    );
    let row = qb.build().persistent(false).fetch_one(pool).await?;
    Ok(row.try_get::<serde_json::Value, _>(0)?)
}

/// Files whose features are missing or of an older version, with notes: the backfill's work.
pub async fn stale_count(pool: &PgPool, version: i16) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM musical_metadata WHERE total_notes > 0 \
         AND features_version IS DISTINCT FROM $1",
    )
    .bind(version)
    .fetch_one(pool)
    .await?)
}

/// The next batch of stale files after `after_id` (id order): each with its content hash and every location.
pub async fn stale_batch(
    pool: &PgPool,
    version: i16,
    after_id: i64,
    limit: i64,
) -> DbResult<Vec<(i64, Vec<u8>, Vec<String>)>> {
    let rows = sqlx::query(
        "SELECT m.file_id, f.content_hash, \
         coalesce((SELECT array_agg(l.path ORDER BY l.path) FROM file_locations l WHERE l.file_id = m.file_id), \
         '{}') AS paths \
         FROM musical_metadata m JOIN files f ON f.id = m.file_id \
         WHERE m.file_id > $2 AND m.total_notes > 0 AND m.features_version IS DISTINCT FROM $1 \
         ORDER BY m.file_id LIMIT $3",
    )
    .bind(version)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Store computed features (`None`: the file's bytes yield none, e.g. SMPTE timing) with their version, in one
/// statement per batch.
pub async fn store(pool: &PgPool, version: i16, rows: &[(i64, Option<Vec<f32>>)]) -> DbResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    // One text literal per row (`{0.1,0.2}` or NULL): an array of arrays cannot hold NULL rows.
    let values: Vec<Option<String>> = rows
        .iter()
        .map(|r| {
            r.1.as_ref().map(|f| {
                let parts: Vec<String> = f.iter().map(|x| x.to_string()).collect();
                format!("{{{}}}", parts.join(","))
            })
        })
        .collect();
    sqlx::query(
        "UPDATE musical_metadata m SET features = v.f::real[], features_version = $3 \
         FROM unnest($1::bigint[], $2::text[]) AS v (id, f) WHERE m.file_id = v.id",
    )
    .bind(&ids)
    .bind(&values)
    .bind(version)
    .execute(pool)
    .await?;
    Ok(())
}

/// Neighbours of each of `ids` within `threshold` (Euclidean distance of the features), at most `per_file` each,
/// among `among` (the files of an export): pairs (file, neighbour), for `export --group-similar`.
pub async fn neighbours_within(
    pool: &PgPool,
    ids: &[i64],
    among: &[i64],
    threshold: f64,
    per_file: i64,
) -> DbResult<Vec<(i64, i64)>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT q.file_id, n.file_id FROM musical_metadata q CROSS JOIN LATERAL ( \
           SELECT m.file_id, cube(m.features::float8[]) <-> cube(q.features::float8[]) AS d \
           FROM musical_metadata m WHERE m.features IS NOT NULL AND m.file_id <> q.file_id \
           ORDER BY cube(m.features::float8[]) <-> cube(q.features::float8[]) LIMIT $4) n \
         WHERE q.file_id = ANY($1) AND q.features IS NOT NULL AND n.d <= $3 AND n.file_id = ANY($2)",
    )
    .bind(ids)
    .bind(among)
    .bind(threshold)
    .bind(per_file)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Per file of `ids`: its content hash and both musical fingerprints (the keys of its duplicate groups).
pub async fn group_keys(pool: &PgPool, ids: &[i64]) -> DbResult<Vec<GroupKeys>> {
    Ok(sqlx::query_as(
        "SELECT f.id, f.content_hash, m.notes_fingerprint, m.transposed_fingerprint \
         FROM files f LEFT JOIN musical_metadata m ON m.file_id = f.id WHERE f.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// (file id, content hash, notes fingerprint, transposed fingerprint).
pub type GroupKeys = (i64, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);
