//! Similarity search's SQL: `like:` pages in distance order, read through the GiST index of the coarse vectors
//! (migrations 0019-0023) with every other term of the query as a filter; the features backfill's reads and writes.
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};

use crate::midi::similarity;

use super::search::{COLUMNS, Cursor, Page, SortValue};
use super::similar_pack;
use super::{DbError, DbResult};
use crate::database::query::{Filter, LikeRef, Places, Query, Term, like_path_spellings};

/// The exact distance: the features' (`$1` the target's).
const DISTANCE: &str = "(cube(m.features::float8[]) <-> cube($1::float8[]))";

/// What `like:`'s error says of a target without features (the console finds it there to name its own key).
pub const NO_FEATURES: &str = "has no similarity features yet";

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
            let candidates = like_path_spellings(p);
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
            "like: {named} {NO_FEATURES} (imported before them, or timed in SMPTE frames): \
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
    page_kept(pool, None, query, limit, after, with_locations).await
}

/// [`page`], with the similarity pack kept in `cache` between pages (an engine's).
pub async fn page_kept(
    pool: &PgPool,
    cache: Option<&similar_pack::Cache>,
    query: &Query,
    limit: usize,
    after: Option<&Cursor>,
    with_locations: bool,
) -> DbResult<Page> {
    let limit = limit.clamp(1, super::search::MAX_PAGE);
    let (mut page, _, _) = rank(pool, cache, query, limit, after, candidates(limit)).await?;
    if with_locations {
        super::search::attach_locations(pool, &mut page.hits).await?;
    }
    Ok(page)
}

/// [`page`] without locations, with each hit's distance.
///
/// The [`CANDIDATES`] matching files nearest in coarse order (a lower bound of the distance, from a small index) are
/// ranked by their exact distance. The page is exact when they are all the matching files, or when its last
/// distance is below the bound of the last candidate (no unread file can be nearer); otherwise it is the nearest
/// among them (an approximate nearest-neighbour search, whose recall the search bench measures).
pub async fn ranked(pool: &PgPool, query: &Query, limit: usize, after: Option<&Cursor>) -> DbResult<(Page, Vec<f64>)> {
    ranked_how(pool, query, limit, after)
        .await
        .map(|(page, d, _)| (page, d))
}

/// Where a `like:` page took its candidates from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Walked {
    /// The similarity pack (and the files after it).
    Pack,
    /// The GiST index: there is no pack, more than `similar_pack::TAIL_MAX` files came after it, or the terms the
    /// pack cannot test kept too few of its files.
    Index,
}

/// [`ranked`], and where it took its candidates from (the search bench and the tests say which).
pub async fn ranked_how(
    pool: &PgPool,
    query: &Query,
    limit: usize,
    after: Option<&Cursor>,
) -> DbResult<(Page, Vec<f64>, Walked)> {
    rank(pool, None, query, limit, after, candidates(limit)).await
}

/// The exact first page: every matching file's distance (the bench's measure of [`ranked`]'s recall; it reads the
/// whole table).
pub async fn exact(pool: &PgPool, query: &Query, limit: usize) -> DbResult<(Page, Vec<f64>)> {
    rank(pool, None, query, limit, None, i64::MAX as usize)
        .await
        .map(|(page, d, _)| (page, d))
}

/// A page from the `read` matching files nearest in coarse order: from the pack when there is one (and `read` is not
/// every file), else by walking the index.
async fn rank(
    pool: &PgPool,
    cache: Option<&similar_pack::Cache>,
    query: &Query,
    limit: usize,
    after: Option<&Cursor>,
    read: usize,
) -> DbResult<(Page, Vec<f64>, Walked)> {
    let Some(like) = query.like() else {
        return Ok((Page::default(), Vec::new(), Walked::Index));
    };
    let t = target(pool, like).await?;
    let others = super::search::other_locations(pool, query, Some(t.file_id)).await?;
    let vectors = Vectors::of(query, &t);
    if read < i64::MAX as usize
        && let Some(pack) = similar_pack::load(pool, cache).await?
        && let Some(done) = from_pack(pool, query, &others, &vectors, &pack, after, read, limit).await?
    {
        return Ok((done.0, done.1, Walked::Pack));
    }
    let walk = Walk::Index(vectors.coarse.clone());
    let mut qb = statement("", query, &others, &vectors, &walk, after, read, limit);
    let rows = qb.build().persistent(false).fetch_all(pool).await?;
    // Every row carries how many candidates the walk read and the projected distance of the last: an unread matching
    // file is at least that far (the projection's distance is a lower bound of the full one).
    let walked = reach(&rows)?;
    let (page, distances) = page_of(&rows, limit, |last| is_approximate(walked, read, last))?;
    Ok((page, distances, Walked::Index))
}

/// A page from the pack's order: `None` when the terms the pack cannot test keep too few of the files it gives (the
/// index walk then reads on until it has them).
#[allow(clippy::too_many_arguments)]
async fn from_pack(
    pool: &PgPool,
    query: &Query,
    others: &[Vec<i64>],
    vectors: &Vectors,
    pack: &similar_pack::Loaded,
    after: Option<&Cursor>,
    read: usize,
    limit: usize,
) -> DbResult<Option<(Page, Vec<f64>)>> {
    let mut from = [0f32; similarity::COARSE_DIMS];
    for (f, c) in from.iter_mut().zip(&vectors.coarse) {
        *f = *c as f32;
    }
    let mut order = similar_pack::Order::new(pack, &from, &similar_pack::Sieve::of(query), vectors.file_id);
    let mut listed = read;
    loop {
        let ids = order.first(listed);
        let walk = Walk::Listed(ids.clone());
        let mut qb = statement("", query, others, vectors, &walk, after, read, limit);
        let rows = qb.build().persistent(false).fetch_all(pool).await?;
        // The statement reads the listed files in order and stops after `read` that match: the files it passed are
        // those up to the last one it took (its `reach`, a place in the list), or the whole list.
        let consumed = match reach(&rows)? {
            Some((taken, last)) if taken as usize >= read => last as usize,
            _ => ids.len(),
        };
        if rows.len() < limit && consumed == ids.len() && ids.len() < order.len() {
            if listed >= PACK_LISTED_MAX {
                return Ok(None);
            }
            listed = (listed * 4).min(PACK_LISTED_MAX);
            continue;
        }
        let bound = order.bound_after(consumed);
        return page_of(&rows, limit, |last| bound.zip(last).is_some_and(|(b, l)| l > b)).map(Some);
    }
}

/// Files of the pack's order one page's statement lists at most (4 lists of [`CANDIDATES`]).
const PACK_LISTED_MAX: usize = 4 * CANDIDATES;

/// The statement's count of candidates taken and its `reach` (the last one's projected distance, or place in a list).
fn reach(rows: &[sqlx::postgres::PgRow]) -> Result<Option<(i64, f64)>, sqlx::Error> {
    rows.first()
        .map(|row| Ok::<_, sqlx::Error>((row.try_get::<i64, _>("walked")?, row.try_get::<f64, _>("bound")?)))
        .transpose()
}

/// The page of the statement's rows, nearest first (`approximate` judges its last distance).
fn page_of(
    rows: &[sqlx::postgres::PgRow],
    limit: usize,
    approximate: impl FnOnce(Option<f64>) -> bool,
) -> DbResult<(Page, Vec<f64>)> {
    let mut ranked = Vec::with_capacity(rows.len());
    for row in rows {
        ranked.push((row.try_get::<f64, _>("distance")?, super::search::hit(row)?));
    }
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    let (distances, hits): (Vec<f64>, Vec<_>) = ranked.into_iter().unzip();
    let approximate = approximate(distances.last().copied());
    let next = (hits.len() == limit)
        .then(|| {
            hits.last().zip(distances.last()).map(|(h, d)| Cursor {
                value: SortValue::Float(*d),
                id: h.id,
            })
        })
        .flatten();
    Ok((
        Page {
            hits,
            next,
            approximate,
        },
        distances,
    ))
}

/// Whether a page could miss a nearer file: the walk stopped at its `read` limit (more matching files were left) and
/// the page's last distance is beyond the projected distance of the last file it read.
fn is_approximate(walked: Option<(i64, f64)>, read: usize, last: Option<f64>) -> bool {
    match (walked, last) {
        (Some((n, bound)), Some(last)) => n as usize >= read && last > bound,
        _ => false,
    }
}

/// The target as the statement binds it: its features, and the coarse vector the index is walked from.
struct Vectors {
    file_id: i64,
    features: Vec<f64>,
    coarse: Vec<f64>,
}

impl Vectors {
    fn of(query: &Query, t: &Target) -> Self {
        Vectors {
            file_id: t.file_id,
            features: t.features.iter().map(|&x| f64::from(x)).collect(),
            coarse: walk_from(query, &t.features),
        }
    }
}

/// Where a statement takes its candidates from.
enum Walk {
    /// The GiST index, walked in coarse order from this vector.
    Index(Vec<f64>),
    /// These files, in this order (the pack's).
    Listed(Vec<i64>),
}

/// The page's statement (`prefix` for EXPLAIN): the first `read` matching files of the walk, and of those the
/// `limit` nearest with their hit columns and exact `distance`. The candidates are read from `musical_metadata` alone
/// unless a term tests a column of `files` (the left join is then dropped by the planner): only the page's own rows
/// are looked up in `files`.
#[allow(clippy::too_many_arguments)]
fn statement(
    prefix: &str,
    query: &Query,
    others: &[Vec<i64>],
    vectors: &Vectors,
    walk: &Walk,
    after: Option<&Cursor>,
    read: usize,
    limit: usize,
) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new(format!("{prefix}WITH c AS MATERIALIZED (SELECT m.file_id, "));
    // $1: the target's features, read by DISTANCE wherever it appears.
    qb.push("cube(m.features::float8[]) <-> cube(")
        .push_bind(vectors.features.clone())
        .push("::float8[]) AS distance, ");
    match walk {
        Walk::Index(coarse) => {
            // The walk's order (the index's expression): the distance in the coarse projection from the vector walked
            // from.
            qb.push("cube(m.coarse::float8[]) <-> cube(")
                .push_bind(coarse.clone())
                .push("::float8[]) AS projected FROM musical_metadata m ");
        }
        Walk::Listed(ids) => {
            // The list's order: each file's place in it. The files are looked up in id order, the order of the table's
            // pages (by hand, cold, 1,024 files at a million timed through psql: 60-72 ms in id order, 75-98 ms in the
            // list's).
            let mut by_id: Vec<(i64, i64)> = ids.iter().zip(1i64..).map(|(id, place)| (*id, place)).collect();
            by_id.sort_unstable();
            let (sorted, places): (Vec<i64>, Vec<i64>) = by_id.into_iter().unzip();
            qb.push("w.place::float8 AS projected FROM unnest(")
                .push_bind(sorted)
                .push("::bigint[], ")
                .push_bind(places)
                .push("::bigint[]) AS w (file_id, place) JOIN musical_metadata m ON m.file_id = w.file_id ");
        }
    }
    qb.push("LEFT JOIN files f ON f.id = m.file_id ");
    qb.push("WHERE m.coarse IS NOT NULL AND m.features IS NOT NULL AND m.file_id <> ")
        .push_bind(vectors.file_id);
    for (term, ids) in query.terms.iter().zip(others) {
        // The `like:` term's own test (features, not the target) is the statement's first line.
        if matches!(term.filter, Filter::Like(_)) {
            continue;
        }
        // The index also holds the key's place on the circle of fifths (migration 0023), twice: a `key:` term is a
        // range of one of the two without the places between its keys that it does not ask for, all tested in the
        // index entry. That is the term's whole test (the places are the stored spellings'), so the planner, which
        // would take the spellings and the places for independent tests, estimates the matching files from the
        // places alone.
        let Some(places) = key_places(term) else {
            super::search::push_term(&mut qb, term, super::search::JOINED, ids);
            continue;
        };
        let place = format!("key_place(coalesce(m.key_signature, m.detected_key), {})", places.turn);
        qb.push(format_args!(" AND {place} BETWEEN "))
            .push_bind(i32::from(places.lo))
            .push(" AND ")
            .push_bind(i32::from(places.hi));
        for gap in places.gaps {
            qb.push(format_args!(" AND {place} <> ")).push_bind(i32::from(gap));
        }
    }
    // The index leads with the drums column as an integer (migration 0022): the same test spelled so that it is an
    // index condition, and the walk stays on the side the query asks for.
    if let Some(drums) = drums_side(query) {
        qb.push(" AND (m.has_drums::int) = ").push_bind(i32::from(drums));
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
            .push(" OR m.file_id > ")
            .push_bind(c.id)
            .push(")");
    }
    // The order the index serves: `projected`, written as the index's expression, so the planner matches it.
    qb.push(" ORDER BY projected LIMIT ").push_bind(read as i64).push(") ");
    qb.push(format_args!(
        "{COLUMNS}, p.distance, (SELECT count(*) FROM c) AS walked, (SELECT max(projected) FROM c) AS bound \
         FROM (SELECT file_id, distance FROM c ORDER BY distance, file_id LIMIT "
    ))
    .push_bind(limit as i64)
    .push(") p JOIN files f ON f.id = p.file_id JOIN musical_metadata m ON m.file_id = p.file_id");
    qb
}

/// The coarse vector the index is walked from: the target's, or for files without drums the target's without its drum
/// numbers (`similarity::without_drums`: the same order, from a point near them; the distances stay the target's).
fn walk_from(query: &Query, features: &[f32]) -> Vec<f64> {
    let from = match drums_side(query) {
        Some(false) => similarity::without_drums(features),
        _ => features.to_vec(),
    };
    similarity::coarse(&from).iter().map(|&x| f64::from(x)).collect()
}

/// Whether the matching files must have drums, when a term says so (`drums:yes`, `^drums:no`, ...).
fn drums_side(query: &Query) -> Option<bool> {
    query.terms.iter().find_map(|t| match t.filter {
        Filter::Drums(yes) => Some(yes != t.negated),
        _ => None,
    })
}

/// A `key:` term (not negated) as places on the circle of fifths, in the turn (0 or 12, a literal in the statement, as
/// the index's expressions are written) where its keys do not cross the seam.
fn key_places(term: &Term) -> Option<Places> {
    match &term.filter {
        Filter::Key { keys, .. } if !term.negated => Places::of(keys),
        _ => None,
    }
}

/// Files a page reads in coarse order and ranks by their exact distance, at least: at a million generated files, 46.3
/// of the exact first 50 on average over six targets (12 coarse axes; 16 axes found all 50 from 512 candidates but
/// walked the index twice as long), in about 25-45 ms with the index in memory (the search bench reports recall).
pub const CANDIDATES: usize = 1024;

/// Candidates read for a page of `limit`.
fn candidates(limit: usize) -> usize {
    CANDIDATES.max(limit.saturating_mul(4))
}

/// The plan of a `like:` query's first page (`EXPLAIN (FORMAT JSON)`), to check that the GiST index serves it.
pub async fn explain(pool: &PgPool, query: &Query, limit: usize) -> DbResult<serde_json::Value> {
    let Some(like) = query.like() else {
        return Ok(serde_json::Value::Null);
    };
    let t = target(pool, like).await?;
    let others = vec![Vec::new(); query.terms.len()];
    let vectors = Vectors::of(query, &t);
    let mut qb = statement(
        "EXPLAIN (FORMAT JSON) ",
        query,
        &others,
        &vectors,
        &Walk::Index(vectors.coarse.clone()),
        None,
        candidates(limit),
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
    let literal = |v: &[f32]| {
        let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        format!("{{{}}}", parts.join(","))
    };
    let values: Vec<Option<String>> = rows.iter().map(|r| r.1.as_deref().map(literal)).collect();
    let coarse: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.1.as_deref().map(|f| literal(&similarity::coarse(f))))
        .collect();
    let mut tx = pool.begin().await?;
    // The pack holds the old vectors: forgotten with them (the backfill's end builds it again).
    sqlx::raw_sql(similar_pack::FORGET).execute(&mut *tx).await?;
    sqlx::query(
        "UPDATE musical_metadata m SET features = v.f::real[], coarse = v.c::real[], features_version = $4 \
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS v (id, f, c) WHERE m.file_id = v.id",
    )
    .bind(&ids)
    .bind(&values)
    .bind(&coarse)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Neighbours of each of `ids` within `threshold` (Euclidean distance of the features), at most `per_file` each
/// (the nearest), among `among` (the files of an export): pairs (file, neighbour), for `export --group-similar`.
/// Candidates come from the coarse index, in the box of `threshold` around the file's coarse vector (every file
/// within `threshold` is in it: no coordinate of the coarse difference exceeds the features' distance).
pub async fn neighbours_within(
    pool: &PgPool,
    ids: &[i64],
    among: &[i64],
    threshold: f64,
    per_file: i64,
) -> DbResult<Vec<(i64, i64)>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT q.file_id, n.file_id FROM musical_metadata q CROSS JOIN LATERAL ( \
           SELECT m.file_id FROM musical_metadata m \
           WHERE m.coarse IS NOT NULL AND m.features IS NOT NULL AND m.file_id <> q.file_id \
             AND cube(m.coarse::float8[]) <@ cube( \
               ARRAY(SELECT x - $3 FROM unnest(q.coarse::float8[]) AS x), \
               ARRAY(SELECT x + $3 FROM unnest(q.coarse::float8[]) AS x)) \
             AND cube(m.features::float8[]) <-> cube(q.features::float8[]) <= $3 \
           ORDER BY cube(m.features::float8[]) <-> cube(q.features::float8[]), m.file_id LIMIT $4) n \
         WHERE q.file_id = ANY($1) AND q.coarse IS NOT NULL AND q.features IS NOT NULL AND n.file_id = ANY($2)",
    )
    .bind(ids)
    .bind(among)
    .bind(threshold)
    .bind(per_file)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Fill the coarse vector of every file whose features were stored without one (migration 20: a library whose
/// features predate the coarse index). Returns the files given one.
pub async fn fill_coarse(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let mut last = 0i64;
    let mut filled = 0u64;
    loop {
        // Walks the primary key in order, so each round reads on from the last instead of testing the whole table.
        let rows: Vec<(i64, Vec<f32>)> = sqlx::query_as(
            "SELECT file_id, features FROM musical_metadata \
             WHERE file_id > $1 AND features IS NOT NULL AND coarse IS NULL ORDER BY file_id LIMIT $2",
        )
        .bind(last)
        .bind(FILL_BATCH)
        .fetch_all(&mut *conn)
        .await?;
        let Some(end) = rows.last().map(|r| r.0) else { break };
        last = end;
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        // The vectors end to end: row i's is the slice [i * COARSE_DIMS + 1, (i + 1) * COARSE_DIMS].
        let flat: Vec<f32> = rows.iter().flat_map(|r| similarity::coarse(&r.1)).collect();
        filled += sqlx::query(
            "UPDATE musical_metadata m SET coarse = ($2::real[])[(v.i - 1) * $3 + 1 : v.i * $3] \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS v (id, i) WHERE m.file_id = v.id",
        )
        .bind(&ids)
        .bind(&flat)
        .bind(similarity::COARSE_DIMS as i64)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(filled)
}

/// Rows per round trip of [`fill_coarse`].
const FILL_BATCH: i64 = 10_000;

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

#[cfg(test)]
mod tests {
    use super::is_approximate;

    #[test]
    fn a_page_is_approximate_only_when_an_unread_file_could_be_nearer() {
        // Every matching file was read: exact, whatever the distances.
        assert!(!is_approximate(Some((300, 0.1)), 1024, Some(0.9)));
        // The walk stopped at its limit, but the page ends within the projected distance of the last file read.
        assert!(!is_approximate(Some((1024, 0.5)), 1024, Some(0.4)));
        assert!(!is_approximate(Some((1024, 0.5)), 1024, Some(0.5)));
        // The page ends beyond it: an unread file could be nearer.
        assert!(is_approximate(Some((1024, 0.5)), 1024, Some(0.6)));
        // Nothing matched.
        assert!(!is_approximate(None, 1024, None));
    }
}
