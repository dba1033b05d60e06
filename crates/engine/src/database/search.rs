//! The library search's SQL: a parsed query becomes one statement with every value bound, each filter on an indexed
//! expression, pages by keyset (never OFFSET).
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use super::DbResult;
use crate::database::query::{
    Filter, LikeRef, NumField, Query, Range, Sort, SortField, Term, key_spellings, like_path_spellings,
};
use crate::midi::Music;

/// The most rows one page returns.
pub const MAX_PAGE: usize = 10_000;

/// One matching file, with what the browser shows about it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub id: i64,
    /// Where the file was first found (every location is in `locations`).
    pub path: String,
    /// BLAKE3 of the bytes, hex.
    pub content_hash: String,
    pub filename: String,
    pub collection: String,
    pub folder: String,
    pub bpm: Option<f64>,
    /// The declared key signature, else the detected key.
    pub key: Option<String>,
    pub key_signature: Option<String>,
    pub detected_key: Option<String>,
    /// `6/8`.
    pub time_signature: Option<String>,
    pub duration_seconds: Option<f64>,
    pub total_notes: i64,
    pub num_tracks: Option<i64>,
    pub file_size_bytes: i64,
    /// General MIDI program numbers, 1..=128 (the numbers `program:` takes).
    pub programs: Vec<u8>,
    pub has_drums: bool,
    /// Every location of these bytes: paths, or archive members as `archive.zip!/member.mid`.
    pub locations: Vec<String>,
    /// The collection of each location, in the order of `locations` (filled by [`attach_location_collections`]:
    /// `search --json` and the export manifest; pages leave it empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub location_collections: Vec<String>,
    /// The name's natural-order key (migration 0015), where a page in name order continues; `None` for a row
    /// written without one (its page continues among the rows without a key, after the others).
    #[serde(skip)]
    pub name_sort: Option<String>,
}

/// Where a page ended: the sort value and id of its last row. `Null` means the files without a value, which come
/// after all the others.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// Pass to the next call to continue after the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub value: SortValue,
    pub id: i64,
}

/// One page of results; `next` is set when more may follow.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub hits: Vec<Hit>,
    pub next: Option<Cursor>,
    /// A `like:` page that is the nearest among the files the similarity index gave first, not provably the nearest
    /// of all: a matching file it did not read could be nearer than its last hit (`similar::ranked`).
    pub approximate: bool,
}

/// How a sort field reads in SQL.
struct SortColumn {
    column: &'static str,
    /// The tie-breaker on the same table as `column`, so that one index can deliver the order.
    id: &'static str,
    nullable: bool,
}

/// Where a page's filters and order are read: the joined library tables, or the narrow `search_rows` table (one
/// row per file, migration 0007), whose covering indexes deliver a filtered first page without heap reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    Joined,
    Narrow,
}

fn sort_column(field: SortField, layout: Layout) -> SortColumn {
    let (column, id, nullable) = match (layout, field) {
        (Layout::Narrow, SortField::Name) => ("s.name_sort", "s.file_id", true),
        (Layout::Narrow, SortField::Bpm) => ("s.bpm", "s.file_id", true),
        (Layout::Narrow, SortField::Duration) => ("s.duration_seconds", "s.file_id", true),
        (Layout::Narrow, SortField::Notes) => ("s.total_notes", "s.file_id", false),
        (_, SortField::Name) => ("f.name_sort", "f.id", true),
        (_, SortField::Bpm) => ("m.bpm", "m.file_id", true),
        (_, SortField::Duration) => ("f.duration_seconds", "f.id", true),
        (_, SortField::Notes) => ("m.total_notes", "m.file_id", false),
        (_, SortField::Tracks) => ("f.num_tracks", "f.id", true),
        (_, SortField::Size) => ("f.file_size_bytes", "f.id", false),
        (_, SortField::Added) => ("f.id", "f.id", false),
    };
    SortColumn { column, id, nullable }
}

/// The narrow table serves a query when it holds every column the filters and the order read and a covering index
/// delivers the order. Bare words (track names, copyright), `name:~` and `dupes:` stay on the joined tables, whose
/// trigram and fingerprint indexes find their few matches first.
fn layout_for(query: &Query, sort: SortField) -> Layout {
    let sorted = matches!(
        sort,
        SortField::Name | SortField::Bpm | SortField::Duration | SortField::Notes
    );
    let filtered = query.terms.iter().all(|t| {
        matches!(
            t.filter,
            Filter::Number { .. }
                | Filter::Key { .. }
                | Filter::TimeSignature { .. }
                | Filter::Drums(_)
                | Filter::Programs(_)
                | Filter::Folder(_)
                | Filter::Name(_)
        )
    });
    if sorted && filtered {
        Layout::Narrow
    } else {
        Layout::Joined
    }
}

/// Files with a value for the sort field first, then (for a nullable field) those without, in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Values,
    Nulls,
}

/// The joined layout, for the similarity search's terms.
pub(super) const JOINED: Layout = Layout::Joined;

pub(super) const COLUMNS: &str = "SELECT f.id, f.content_hash, f.filepath, f.filename, f.collection, f.parent_folder, \
     f.duration_seconds, f.num_tracks, f.file_size_bytes, m.bpm, m.key_signature, m.detected_key, \
     m.time_signature_numerator, m.time_signature_denominator, m.total_notes, m.programs, m.has_drums, f.name_sort";

/// The statement up to its filters, which follow as ` AND ...`.
fn head(layout: Layout) -> String {
    match layout {
        Layout::Joined => format!("{COLUMNS} FROM files f JOIN musical_metadata m ON m.file_id = f.id WHERE TRUE"),
        // The page's ids from the narrow table first, then only their rows of the library tables.
        Layout::Narrow => format!("{COLUMNS} FROM (SELECT s.file_id FROM search_rows s WHERE TRUE"),
    }
}

/// After the narrow page's LIMIT: its rows joined back, in the page's order (the same values, read from the
/// library tables).
fn push_narrow_tail(qb: &mut QueryBuilder<Postgres>, sort: Sort, part: Part) {
    let col = sort_column(sort.field, Layout::Joined);
    let dir = if sort.descending { " DESC" } else { "" };
    qb.push(") p JOIN files f ON f.id = p.file_id JOIN musical_metadata m ON m.file_id = p.file_id ORDER BY ");
    if part == Part::Values && col.column != col.id {
        qb.push(format_args!("{}{dir}, ", col.column));
    }
    qb.push(format_args!("{}{dir}", col.id));
}

/// The whole statement of one part of a page.
#[allow(clippy::too_many_arguments)]
fn page_statement(
    prefix: &str,
    layout: Layout,
    query: &Query,
    others: &Others,
    sort: Sort,
    part: Part,
    after: Option<&Cursor>,
    limit: usize,
) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new(format!("{prefix}{}", head(layout)));
    push_page(&mut qb, query, others, sort, part, after, limit, layout);
    if layout == Layout::Narrow {
        push_narrow_tail(&mut qb, sort, part);
    }
    qb
}

/// One page of the files matching `query` (without a `like:` term: `similar::page` ranks those), in `sort` order, after `after`; each hit with every location when
/// `with_locations` (a file copied thousands of times makes that the costliest part of a cold page).
pub async fn page(
    pool: &PgPool,
    query: &Query,
    sort: Sort,
    limit: usize,
    after: Option<&Cursor>,
    with_locations: bool,
) -> DbResult<Page> {
    let limit = limit.clamp(1, MAX_PAGE);
    let layout = choose_layout(pool, query, sort.field).await?;
    let others = other_locations(pool, query, None).await?;
    let col = sort_column(sort.field, Layout::Joined);
    let in_nulls = matches!(after, Some(c) if c.value == SortValue::Null);
    let mut hits = Vec::new();
    if !in_nulls {
        let mut qb = page_statement("", layout, query, &others, sort, Part::Values, after, limit);
        hits = fetch(pool, &mut qb).await?;
    }
    if col.nullable && hits.len() < limit {
        let after = after.filter(|_| in_nulls);
        let mut qb = page_statement("", layout, query, &others, sort, Part::Nulls, after, limit - hits.len());
        hits.extend(fetch(pool, &mut qb).await?);
    }
    if with_locations {
        attach_locations(pool, &mut hits).await?;
    }
    let next = (hits.len() == limit)
        .then(|| hits.last().map(|h| cursor_of(h, sort.field)))
        .flatten();
    Ok(Page {
        hits,
        next,
        approximate: false,
    })
}

/// How many files a query matches, as far as a cheap count can tell: never more than it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "files", rename_all = "snake_case")]
pub enum MatchCount {
    /// Counted.
    Exact(u64),
    /// Counted up to the cap and more exist; the planner's estimate (at least the cap) says about how many.
    About(u64),
}

/// Matches counted one by one before the count switches to the planner's estimate.
pub const COUNT_CAP: i64 = 10_000;

/// Count the files matching `query`: exactly up to [`COUNT_CAP`] (an index-served scan that stops there), past it
/// the planner's estimate, never below what was counted.
pub async fn count(pool: &PgPool, query: &Query) -> DbResult<MatchCount> {
    let layout = choose_layout(pool, query, SortField::Name).await?;
    // Matches at any location of a file, as the page's (`coll:`, `folder:`, `name:`).
    let others = other_locations(pool, query, None).await?;
    let from = match layout {
        Layout::Joined => "SELECT 1 FROM files f JOIN musical_metadata m ON m.file_id = f.id WHERE TRUE",
        Layout::Narrow => "SELECT 1 FROM search_rows s WHERE TRUE",
    };
    let mut qb = QueryBuilder::new(format!("SELECT count(*) FROM ({from}"));
    for (term, ids) in query.terms.iter().zip(&others) {
        push_term(&mut qb, term, layout, ids);
    }
    qb.push(" LIMIT ").push_bind(COUNT_CAP + 1).push(") c");
    let counted: i64 = qb.build().persistent(false).fetch_one(pool).await?.try_get(0)?;
    if counted <= COUNT_CAP {
        return Ok(MatchCount::Exact(counted.max(0) as u64));
    }
    let mut qb = QueryBuilder::new(format!("EXPLAIN (FORMAT JSON) {from}"));
    for (term, ids) in query.terms.iter().zip(&others) {
        push_term(&mut qb, term, layout, ids);
    }
    let row = qb.build().persistent(false).fetch_one(pool).await?;
    let plan: serde_json::Value = row.try_get(0)?;
    let estimate = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0).max(0.0) as u64;
    Ok(MatchCount::About(estimate.max(COUNT_CAP as u64 + 1)))
}

/// The plan of a query's first page (`EXPLAIN (FORMAT JSON)`), to check which indexes serve it.
pub async fn explain(pool: &PgPool, query: &Query, sort: Sort, limit: usize) -> DbResult<serde_json::Value> {
    let layout = choose_layout(pool, query, sort.field).await?;
    let others = other_locations(pool, query, None).await?;
    let limit = limit.clamp(1, MAX_PAGE);
    let mut qb = page_statement(
        "EXPLAIN (FORMAT JSON) ",
        layout,
        query,
        &others,
        sort,
        Part::Values,
        None,
        limit,
    );
    let row = qb.build().persistent(false).fetch_one(pool).await?;
    Ok(row.try_get::<serde_json::Value, _>(0)?)
}

/// Below this many matches (the planner's estimate), a page is found faster through the library tables' trigram
/// indexes than by walking a covering index until the page is full: at a million files, a walk for 500 matches
/// tests about 100,000 index entries, where the trigram index reads the 500 rows themselves.
const RARE_TEXT_MATCHES: f64 = 500.0;

/// The narrow table has no trigram index: when a `name:` or `folder:` text is rare enough, the joined tables'
/// trigram indexes find the few matches first. The planner's estimate of the narrow filter decides (it tests the
/// pattern against the column's statistics); other filters have indexes of their own on the narrow table.
async fn choose_layout(pool: &PgPool, query: &Query, sort: SortField) -> DbResult<Layout> {
    let layout = layout_for(query, sort);
    let text = query
        .terms
        .iter()
        .any(|t| !t.negated && matches!(t.filter, Filter::Name(_) | Filter::Folder(_)));
    if layout == Layout::Joined || !text {
        return Ok(layout);
    }
    let mut qb = QueryBuilder::new("EXPLAIN (FORMAT JSON) SELECT 1 FROM search_rows s WHERE TRUE");
    for term in &query.terms {
        // The estimate of the files' own names: other locations' names are few and found on their own indexes.
        match &term.filter {
            Filter::Name(text) | Filter::Folder(text) if !term.negated => {
                let column = if matches!(term.filter, Filter::Name(_)) {
                    "s.filename"
                } else {
                    "s.parent_folder"
                };
                qb.push(format_args!(" AND {column} ILIKE "))
                    .push_bind(contains_pattern(text));
            }
            _ => push_term(&mut qb, term, Layout::Narrow, &[]),
        }
    }
    let row = qb.build().persistent(false).fetch_one(pool).await?;
    let plan: serde_json::Value = row.try_get(0)?;
    let rows = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0);
    Ok(if rows < RARE_TEXT_MATCHES {
        Layout::Joined
    } else {
        Layout::Narrow
    })
}

async fn fetch(pool: &PgPool, qb: &mut QueryBuilder<Postgres>) -> DbResult<Vec<Hit>> {
    // Unnamed statements: each search is planned for its own values (a generic plan cannot pick the index a
    // pattern or range needs).
    let rows = qb.build().persistent(false).fetch_all(pool).await?;
    rows.iter().map(hit).collect()
}

#[allow(clippy::too_many_arguments)]
fn push_page(
    qb: &mut QueryBuilder<Postgres>,
    query: &Query,
    others: &Others,
    sort: Sort,
    part: Part,
    after: Option<&Cursor>,
    limit: usize,
    layout: Layout,
) {
    // Text tests last: the cheap comparisons before them turn most rows away first (a page's scan is evaluated in
    // the order written when the costs tie).
    let text = |t: &&Term| matches!(t.filter, Filter::Name(_) | Filter::Folder(_));
    let terms = || query.terms.iter().zip(others.iter());
    for (term, ids) in terms().filter(|(t, _)| !text(t)) {
        push_term(qb, term, layout, ids);
    }
    for (term, ids) in terms().filter(|(t, _)| text(t)) {
        push_term(qb, term, layout, ids);
    }
    let col = sort_column(sort.field, layout);
    let (cmp, dir) = if sort.descending { ("<", " DESC") } else { (">", "") };
    match part {
        Part::Values => {
            if col.nullable {
                qb.push(format_args!(" AND {} IS NOT NULL", col.column));
            }
            if let Some(c) = after {
                push_keyset(qb, &col, cmp, c);
            }
            if col.column == col.id {
                qb.push(format_args!(" ORDER BY {}{dir}", col.id));
            } else {
                qb.push(format_args!(" ORDER BY {}{dir}, {}{dir}", col.column, col.id));
            }
        }
        Part::Nulls => {
            qb.push(format_args!(" AND {} IS NULL", col.column));
            if let Some(c) = after {
                qb.push(format_args!(" AND {} {cmp} ", col.id)).push_bind(c.id);
            }
            qb.push(format_args!(" ORDER BY {}{dir}", col.id));
        }
    }
    qb.push(" LIMIT ").push_bind(limit as i64);
}

/// Rows after (value, id) in sort order, written so that `column >= value` can bound an index scan.
fn push_keyset(qb: &mut QueryBuilder<Postgres>, col: &SortColumn, cmp: &str, c: &Cursor) {
    if col.column == col.id {
        qb.push(format_args!(" AND {} {cmp} ", col.id)).push_bind(c.id);
        return;
    }
    let push_value = |qb: &mut QueryBuilder<Postgres>| match &c.value {
        SortValue::Int(v) => {
            qb.push_bind(*v);
        }
        SortValue::Float(v) => {
            qb.push_bind(*v);
        }
        SortValue::Text(v) => {
            qb.push_bind(v.clone());
        }
        SortValue::Null => {
            qb.push("NULL");
        }
    };
    qb.push(format_args!(" AND {} {cmp}= ", col.column));
    push_value(qb);
    qb.push(format_args!(" AND ({} {cmp} ", col.column));
    push_value(qb);
    qb.push(format_args!(" OR {} {cmp} ", col.id)).push_bind(c.id);
    qb.push(")");
}

/// Per term of a query, the files that match it at another of their locations (see [`other_locations`]).
type Others = Vec<Vec<i64>>;

/// The files whose *other* locations match each `coll:`, `folder:` or `name:` term (empty for other terms): found
/// first, on `file_locations`' partial indexes, which hold only the locations whose values differ from their file's
/// (migration 0013). They go into the page's statement as a bound list, which its planner sees: an empty list (a
/// library whose copies share their names) leaves the term exactly as the files' own test, plan included, and a
/// short one adds a primary-key look-up beside it. (As a subquery the planner could only guess the list's size, and
/// walked a million names for a collection of ten files.)
///
/// `like_target`: the file a `like:` term names, when the caller has found it already (a ranking page has), so that
/// it is not looked up again.
pub(super) async fn other_locations(pool: &PgPool, query: &Query, like_target: Option<i64>) -> DbResult<Others> {
    let mut out = Vec::with_capacity(query.terms.len());
    for term in &query.terms {
        if let (Filter::Like(_), Some(id)) = (&term.filter, like_target) {
            out.push(vec![id]);
            continue;
        }
        let Some((sql, values)) = other_locations_statement(&term.filter) else {
            out.push(Vec::new());
            continue;
        };
        let mut q = sqlx::query_scalar::<_, i64>(sql);
        for v in values {
            q = q.bind(v);
        }
        // Planned for its own value, as the page is: a generic plan cannot use a trigram index for a pattern.
        out.push(q.persistent(false).fetch_all(pool).await?);
    }
    Ok(out)
}

/// The look-up [`other_locations`] makes for one filter, and its bound values; `None` for a filter that tests
/// nothing a location keeps.
fn other_locations_statement(filter: &Filter) -> Option<(&'static str, Vec<String>)> {
    Some(match filter {
        Filter::Collection(name) => (
            "SELECT DISTINCT file_id FROM file_locations WHERE collection = $1",
            vec![name.clone()],
        ),
        Filter::Folder(t) => (
            "SELECT DISTINCT file_id FROM file_locations WHERE parent_folder ILIKE $1",
            vec![contains_pattern(t)],
        ),
        Filter::Name(t) => (
            "SELECT DISTINCT file_id FROM file_locations WHERE filename ILIKE $1",
            vec![contains_pattern(t)],
        ),
        Filter::NameFuzzy(t) => (
            "SELECT DISTINCT file_id FROM file_locations WHERE filename ILIKE $1 OR $2 <% filename",
            vec![contains_pattern(t), t.clone()],
        ),
        // The file a `like:` term names (as `similar::target` finds it), which its ranking leaves out.
        Filter::Like(LikeRef::Id(id)) => ("SELECT id FROM files WHERE id = $1::text::bigint", vec![id.to_string()]),
        Filter::Like(LikeRef::Path(p)) => {
            let mut spellings = like_path_spellings(p);
            spellings.resize(3, p.clone());
            (
                "SELECT DISTINCT file_id FROM file_locations WHERE path IN ($1, $2, $3)",
                spellings,
            )
        }
        _ => return None,
    })
}

/// The plans (`EXPLAIN (FORMAT JSON)`) of the other-location look-ups a page of `query` makes first, one per
/// `coll:`, `folder:` or `name:` term, to check which indexes serve them.
pub async fn explain_other_locations(pool: &PgPool, query: &Query) -> DbResult<Vec<serde_json::Value>> {
    let mut plans = Vec::new();
    for term in &query.terms {
        let Some((sql, values)) = other_locations_statement(&term.filter) else {
            continue;
        };
        let explain = format!("EXPLAIN (FORMAT JSON) {sql}");
        let mut q = sqlx::query_scalar::<_, serde_json::Value>(sqlx::AssertSqlSafe(explain));
        for v in values {
            q = q.bind(v);
        }
        plans.push(q.persistent(false).fetch_one(pool).await?);
    }
    Ok(plans)
}

pub(super) fn push_term(qb: &mut QueryBuilder<Postgres>, term: &Term, layout: Layout, others: &[i64]) {
    qb.push(" AND (");
    push_filter(qb, &term.filter, layout, others);
    // NULL counts as "does not match", so a negated term keeps the files the positive term leaves out.
    qb.push(if term.negated { ") IS NOT TRUE" } else { ")" });
}

/// The column of `joined` (an `f.` or `m.` column) in `layout`.
fn column(layout: Layout, joined: &'static str, narrow: &'static str) -> &'static str {
    match layout {
        Layout::Joined => joined,
        Layout::Narrow => narrow,
    }
}

fn push_filter(qb: &mut QueryBuilder<Postgres>, filter: &Filter, layout: Layout, others: &[i64]) {
    let narrow = layout == Layout::Narrow;
    // Files matching at another location (found by `other_locations`), by id: the narrow table's walk tests the id
    // in its index entry, the joined tables look it up in their primary key.
    let push_others = |qb: &mut QueryBuilder<Postgres>| {
        if !others.is_empty() {
            qb.push(format_args!(" OR {} = ANY(", column(layout, "f.id", "s.file_id")))
                .push_bind(others.to_vec())
                .push(")");
        }
    };
    match filter {
        Filter::Number { field, range } => push_range(qb, num_column(*field, layout), field.is_integer(), range),
        Filter::Key { keys } if narrow => {
            qb.push("s.key = ANY(").push_bind(key_spellings(keys)).push(")");
        }
        Filter::Key { keys } => {
            let spellings = key_spellings(keys);
            // The detected key counts only where no key signature was declared.
            qb.push("m.key_signature = ANY(")
                .push_bind(spellings.clone())
                .push(") OR (m.key_signature IS NULL AND m.detected_key = ANY(")
                .push_bind(spellings)
                .push("))");
        }
        Filter::TimeSignature { numerator, denominator } => {
            let num = column(layout, "m.time_signature_numerator", "s.ts_num");
            qb.push(format_args!("{num} = ")).push_bind(*numerator);
            if let Some(d) = denominator {
                let den = column(layout, "m.time_signature_denominator", "s.ts_den");
                qb.push(format_args!(" AND {den} = ")).push_bind(*d);
            }
        }
        Filter::Drums(yes) => {
            let not = if *yes { "" } else { "NOT " };
            qb.push(format_args!("{not}{}", column(layout, "m.has_drums", "s.has_drums")));
        }
        Filter::Programs(gm) => {
            // Stored as the MIDI data byte, 0..=127.
            let stored: Vec<i16> = gm.iter().map(|&p| i16::from(p) - 1).collect();
            qb.push(format_args!("{} && ", column(layout, "m.programs", "s.programs")))
                .push_bind(stored);
        }
        // `coll:`, `folder:` and `name:` match any location of a file: the file's own value (its first location's)
        // on the library tables' indexes, or the files another location of which matches.
        Filter::Collection(name) => {
            qb.push("f.collection = ").push_bind(name.clone());
            push_others(qb);
        }
        Filter::Folder(text) => {
            qb.push(format_args!(
                "{} ILIKE ",
                column(layout, "f.parent_folder", "s.parent_folder")
            ))
            .push_bind(contains_pattern(text));
            push_others(qb);
        }
        Filter::Name(text) => {
            qb.push(format_args!("{} ILIKE ", column(layout, "f.filename", "s.filename")))
                .push_bind(contains_pattern(text));
            push_others(qb);
        }
        Filter::NameFuzzy(text) => {
            qb.push("f.filename ILIKE ")
                .push_bind(contains_pattern(text))
                .push(" OR ")
                .push_bind(text.clone())
                .push(" <% f.filename");
            push_others(qb);
        }
        Filter::Text(text) => {
            let pattern = contains_pattern(text);
            qb.push("f.filename ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR track_names_text(f.track_names) ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR f.copyright ILIKE ")
                .push_bind(pattern);
        }
        Filter::Like(_) => {
            // The ranking itself is database/similar.rs's; as a filter (a count), the files it can rank: the target
            // itself (its ids found by `other_locations`) is not one of them.
            qb.push("m.features IS NOT NULL AND m.file_id <> ALL(")
                .push_bind(others.to_vec())
                .push(")");
        }
        Filter::Dupes(n) if *n <= 1 => {
            qb.push("m.notes_fingerprint IS NOT NULL");
        }
        Filter::Dupes(n) => {
            // Per candidate row, at most n probes of the fingerprint index: a page costs what its rows cost, where
            // grouping the whole table first would read every fingerprint.
            let n = i64::from(*n);
            qb.push(
                "(SELECT count(*) FROM (SELECT 1 FROM musical_metadata d \
                 WHERE d.notes_fingerprint = m.notes_fingerprint LIMIT ",
            )
            .push_bind(n)
            .push(") AS dupes) >= ")
            .push_bind(n);
        }
    }
}

fn num_column(field: NumField, layout: Layout) -> &'static str {
    match field {
        NumField::Bpm => column(layout, "m.bpm", "s.bpm"),
        NumField::Duration => column(layout, "f.duration_seconds", "s.duration_seconds"),
        NumField::Notes => column(layout, "m.total_notes", "s.total_notes"),
        NumField::Tracks => column(layout, "f.num_tracks", "s.num_tracks"),
    }
}

fn push_range(qb: &mut QueryBuilder<Postgres>, column: &str, integer: bool, range: &Range) {
    if integer {
        // Integer bounds keep the comparison on the column's own type, so its index applies.
        let lo = range.min.map(|b| {
            (if b.inclusive {
                b.value.ceil()
            } else {
                b.value.floor() + 1.0
            }) as i64
        });
        let hi = range.max.map(|b| {
            (if b.inclusive {
                b.value.floor()
            } else {
                b.value.ceil() - 1.0
            }) as i64
        });
        let mut sep = "";
        if let Some(lo) = lo {
            qb.push(format_args!("{column} >= ")).push_bind(lo);
            sep = " AND ";
        }
        if let Some(hi) = hi {
            qb.push(format_args!("{sep}{column} <= ")).push_bind(hi);
        }
        return;
    }
    let mut sep = "";
    if let Some(b) = range.min {
        let op = if b.inclusive { ">=" } else { ">" };
        qb.push(format_args!("{column} {op} ")).push_bind(b.value);
        sep = " AND ";
    }
    if let Some(b) = range.max {
        let op = if b.inclusive { "<=" } else { "<" };
        qb.push(format_args!("{sep}{column} {op} ")).push_bind(b.value);
    }
}

/// `%text%` for ILIKE, the user's `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(super) fn hit(row: &PgRow) -> DbResult<Hit> {
    let hash: Vec<u8> = row.try_get("content_hash")?;
    let key_signature: Option<String> = row.try_get("key_signature")?;
    let detected_key: Option<String> = row.try_get("detected_key")?;
    let num: Option<i16> = row.try_get("time_signature_numerator")?;
    let den: Option<i16> = row.try_get("time_signature_denominator")?;
    let programs: Vec<i16> = row.try_get("programs")?;
    let path: String = row.try_get("filepath")?;
    Ok(Hit {
        id: row.try_get("id")?,
        content_hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
        filename: row.try_get("filename")?,
        collection: row.try_get("collection")?,
        folder: row.try_get("parent_folder")?,
        bpm: row.try_get("bpm")?,
        key: key_signature.clone().or_else(|| detected_key.clone()),
        key_signature,
        detected_key,
        time_signature: num.map(|n| match den {
            Some(d) => format!("{n}/{d}"),
            None => n.to_string(),
        }),
        duration_seconds: row.try_get("duration_seconds")?,
        total_notes: row.try_get::<i32, _>("total_notes")?.into(),
        num_tracks: row.try_get::<Option<i32>, _>("num_tracks")?.map(i64::from),
        file_size_bytes: row.try_get("file_size_bytes")?,
        programs: programs.into_iter().filter_map(|p| u8::try_from(p + 1).ok()).collect(),
        has_drums: row.try_get("has_drums")?,
        locations: Vec::new(),
        location_collections: Vec::new(),
        name_sort: row.try_get("name_sort")?,
        path,
    })
}

/// The locations of a page's files, read from `file_locations_file_id_idx` (file id, path) alone (migration 0008).
macro_rules! locations_sql {
    () => {
        "SELECT file_id, path FROM file_locations WHERE file_id = ANY($1) ORDER BY file_id, path"
    };
}
const LOCATIONS: &str = locations_sql!();

/// The plan of the look-up of these files' locations (`EXPLAIN (FORMAT JSON)`), to check which index serves it.
pub async fn explain_locations(pool: &PgPool, ids: &[i64]) -> DbResult<serde_json::Value> {
    let row = sqlx::query(concat!("EXPLAIN (FORMAT JSON) ", locations_sql!()))
        .bind(ids)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get::<serde_json::Value, _>(0)?)
}

/// Every location of each hit, in one indexed look-up.
pub(super) async fn attach_locations(pool: &PgPool, hits: &mut [Hit]) -> DbResult<()> {
    if hits.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let rows: Vec<(i64, String)> = sqlx::query_as(LOCATIONS).bind(&ids).fetch_all(pool).await?;
    for (file_id, path) in rows {
        if let Some(h) = hits.iter_mut().find(|h| h.id == file_id) {
            h.locations.push(path);
        }
    }
    Ok(())
}

/// The collection of every location of each hit (with its locations, read again in the same order): a location's
/// own where it differs from its file's, else the file's.
pub async fn attach_location_collections(pool: &PgPool, hits: &mut [Hit]) -> DbResult<()> {
    if hits.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT l.file_id, l.path, coalesce(l.collection, f.collection) FROM file_locations l \
         JOIN files f ON f.id = l.file_id WHERE l.file_id = ANY($1) ORDER BY l.file_id, l.path",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for h in hits.iter_mut() {
        h.locations.clear();
        h.location_collections.clear();
    }
    for (file_id, path, collection) in rows {
        if let Some(h) = hits.iter_mut().find(|h| h.id == file_id) {
            h.locations.push(path);
            h.location_collections.push(collection);
        }
    }
    Ok(())
}

fn cursor_of(h: &Hit, field: SortField) -> Cursor {
    let float = |v: Option<f64>| v.map_or(SortValue::Null, SortValue::Float);
    let value = match field {
        SortField::Name => h.name_sort.clone().map_or(SortValue::Null, SortValue::Text),
        SortField::Bpm => float(h.bpm),
        SortField::Duration => float(h.duration_seconds),
        SortField::Notes => SortValue::Int(h.total_notes),
        SortField::Tracks => h.num_tracks.map_or(SortValue::Null, SortValue::Int),
        SortField::Size => SortValue::Int(h.file_size_bytes),
        SortField::Added => SortValue::Int(h.id),
    };
    Cursor { value, id: h.id }
}

/// Everything stored about one file, for the browser's detail pane. New facts about a file (its musical
/// duplicates, say) become fields here.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct FileDetail {
    pub id: i64,
    /// BLAKE3 of the bytes, hex.
    pub content_hash: String,
    pub filename: String,
    /// Where the file was first found.
    pub filepath: String,
    pub parent_folder: String,
    pub collection: String,
    pub filename_bpm: Option<f64>,
    pub filename_key: Option<String>,
    pub file_size_bytes: i64,
    pub format: Option<i16>,
    pub num_tracks: Option<i32>,
    pub ticks_per_quarter_note: Option<i32>,
    pub duration_ticks: Option<i64>,
    pub duration_seconds: Option<f64>,
    pub track_names: Vec<String>,
    pub copyright: Option<String>,
    pub import_run_id: Option<i64>,
    /// `YYYY-MM-DD HH:MM` UTC.
    pub created_at: String,
    /// The analysis; `None` when its row is missing (lost in a crash, waiting for the repair).
    pub music: Option<Music>,
    /// Every location of these bytes, in path order.
    pub locations: Vec<LocationDetail>,
    /// The other files with the same notes, exactly or up to transposition (filled by `Engine::file_detail`).
    pub duplicates: Vec<super::dupes::DupeGroup>,
}

/// One place the bytes were found: a path, or an archive member `archive.zip!/member.mid`.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct LocationDetail {
    pub path: String,
    pub size: i64,
    /// Unix seconds of the file, or of the outermost archive for a member.
    pub mtime: i64,
    pub import_run_id: Option<i64>,
    /// The collection this location lies in (the first folder below its import's source, or its outermost archive).
    pub collection: String,
}

/// The file with these bytes (a 32-byte BLAKE3 hash), its analysis and every location; `None` if not imported.
pub async fn file_detail(pool: &PgPool, content_hash: &[u8]) -> DbResult<Option<FileDetail>> {
    let Some(row) = sqlx::query(
        "SELECT f.id, f.content_hash, f.filename, f.filepath, f.parent_folder, f.collection, \
             f.filename_bpm::float8 AS filename_bpm, f.filename_key, f.file_size_bytes, f.format, f.num_tracks, \
             f.ticks_per_quarter_note, f.duration_ticks, f.duration_seconds, f.track_names, f.copyright, \
             f.import_run_id, to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS created_at, \
             m.file_id IS NOT NULL AS analysed, m.bpm, m.avg_bpm, m.tempo_changes, m.time_signature_numerator, \
             m.time_signature_denominator, m.key_signature, m.detected_key, m.key_confidence, m.total_notes, \
             m.unique_pitches, m.pitch_range_min, m.pitch_range_max, m.avg_velocity, m.polyphony_max, \
             m.note_density, m.channels, m.programs, m.has_drums, m.is_karaoke, m.lyrics_count \
         FROM files f LEFT JOIN musical_metadata m ON m.file_id = f.id WHERE f.content_hash = $1",
    )
    .bind(content_hash)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let mut d = detail_of(&row)?;
    let rows = sqlx::query(
        "SELECT path, size, mtime, import_run_id, collection FROM file_locations WHERE file_id = $1 ORDER BY path",
    )
    .bind(d.id)
    .fetch_all(pool)
    .await?;
    let mut locations = Vec::with_capacity(rows.len());
    for r in &rows {
        // NULL: the same as the file's own (migration 0013).
        let collection: Option<String> = r.try_get("collection")?;
        locations.push(LocationDetail {
            path: r.try_get("path")?,
            size: r.try_get("size")?,
            mtime: r.try_get("mtime")?,
            import_run_id: r.try_get("import_run_id")?,
            collection: collection.unwrap_or_else(|| d.collection.clone()),
        });
    }
    d.locations = locations;
    Ok(Some(d))
}

fn detail_of(row: &PgRow) -> DbResult<FileDetail> {
    let hash: Vec<u8> = row.try_get("content_hash")?;
    let music = if row.try_get::<bool, _>("analysed")? {
        Some(Music {
            bpm: row.try_get("bpm")?,
            avg_bpm: row.try_get("avg_bpm")?,
            tempo_changes: row.try_get("tempo_changes")?,
            time_signature_numerator: row.try_get("time_signature_numerator")?,
            time_signature_denominator: row.try_get("time_signature_denominator")?,
            key_signature: row.try_get("key_signature")?,
            detected_key: row.try_get("detected_key")?,
            key_confidence: row.try_get("key_confidence")?,
            total_notes: row.try_get("total_notes")?,
            unique_pitches: row.try_get("unique_pitches")?,
            pitch_range_min: row.try_get("pitch_range_min")?,
            pitch_range_max: row.try_get("pitch_range_max")?,
            avg_velocity: row.try_get("avg_velocity")?,
            polyphony_max: row.try_get("polyphony_max")?,
            note_density: row.try_get("note_density")?,
            channels: row.try_get("channels")?,
            programs: row.try_get("programs")?,
            has_drums: row.try_get("has_drums")?,
            is_karaoke: row.try_get("is_karaoke")?,
            lyrics_count: row.try_get("lyrics_count")?,
        })
    } else {
        None
    };
    Ok(FileDetail {
        id: row.try_get("id")?,
        content_hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
        filename: row.try_get("filename")?,
        filepath: row.try_get("filepath")?,
        parent_folder: row.try_get("parent_folder")?,
        collection: row.try_get("collection")?,
        filename_bpm: row.try_get("filename_bpm")?,
        filename_key: row.try_get("filename_key")?,
        file_size_bytes: row.try_get("file_size_bytes")?,
        format: row.try_get("format")?,
        num_tracks: row.try_get("num_tracks")?,
        ticks_per_quarter_note: row.try_get("ticks_per_quarter_note")?,
        duration_ticks: row.try_get("duration_ticks")?,
        duration_seconds: row.try_get("duration_seconds")?,
        track_names: row.try_get("track_names")?,
        copyright: row.try_get("copyright")?,
        import_run_id: row.try_get("import_run_id")?,
        created_at: row.try_get("created_at")?,
        music,
        locations: Vec::new(),
        duplicates: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(q: &str, sort: &str, after: Option<Cursor>) -> String {
        let query = Query::parse(q).unwrap();
        let sort: Sort = sort.parse().unwrap();
        let layout = layout_for(&query, sort.field);
        let others = vec![Vec::new(); query.terms.len()];
        page_statement("", layout, &query, &others, sort, Part::Values, after.as_ref(), 50).into_string()
    }

    #[test]
    fn values_are_bound_never_written_into_the_sql() {
        let s = sql(r#"name:"x'; DROP TABLE files; --" coll:evil%_ 1'1"#, "name", None);
        assert!(!s.contains("DROP") && !s.contains("evil") && !s.contains("1'1"), "{s}");
        assert!(s.contains("f.collection = $"), "{s}");
        assert_eq!(contains_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
    }

    #[test]
    fn keyset_pages_bound_the_index_scan_and_never_offset() {
        let after = Cursor {
            value: SortValue::Float(120.0),
            id: 7,
        };
        let s = sql("drums:yes", "-bpm", Some(after.clone()));
        assert!(s.contains("s.bpm IS NOT NULL AND s.bpm <= $"), "{s}");
        assert!(s.contains("OR s.file_id < $"), "{s}");
        assert!(
            s.contains("ORDER BY s.bpm DESC, s.file_id DESC LIMIT $4) p JOIN"),
            "{s}"
        );
        assert!(s.ends_with("ORDER BY m.bpm DESC, m.file_id DESC"), "{s}");
        assert!(!s.to_uppercase().contains("OFFSET"), "{s}");
        let s = sql("drums:yes", "-tracks", Some(after));
        assert!(s.ends_with("ORDER BY f.num_tracks DESC, f.id DESC LIMIT $4"), "{s}");
        let s = sql(
            "",
            "added",
            Some(Cursor {
                value: SortValue::Int(9),
                id: 9,
            }),
        );
        assert!(s.ends_with("AND f.id > $1 ORDER BY f.id LIMIT $2"), "{s}");
    }

    #[test]
    fn negated_terms_keep_files_without_a_value() {
        let s = sql("^bpm:100..", "name", None);
        assert!(s.contains("AND (s.bpm >= $1) IS NOT TRUE"), "{s}");
        assert!(sql("^bpm:100.. funk", "name", None).contains("AND (m.bpm >= $1) IS NOT TRUE"));
    }

    #[test]
    fn dupes_counts_the_group_through_the_fingerprint_index() {
        let s = sql("dupes:3", "name", None);
        assert!(
            s.contains("WHERE d.notes_fingerprint = m.notes_fingerprint LIMIT $1) AS dupes) >= $2"),
            "{s}"
        );
        assert!(sql("dupes:1", "name", None).contains("(m.notes_fingerprint IS NOT NULL)"));
    }

    #[test]
    fn integer_fields_round_bounds_inwards() {
        let s = sql("notes:>1000.5 tracks:<3", "size", None);
        assert!(s.contains("m.total_notes >= $1"), "{s}");
        assert!(s.contains("f.num_tracks <= $2"), "{s}");
        let s = sql("notes:>1000.5 tracks:<3", "name", None);
        assert!(s.contains("s.total_notes >= $1"), "{s}");
        assert!(s.contains("s.num_tracks <= $2"), "{s}");
    }

    #[test]
    fn the_narrow_table_serves_what_it_holds_and_tests_text_last() {
        let narrow = |q: &str, sort: &str| {
            layout_for(&Query::parse(q).unwrap(), sort.parse::<Sort>().unwrap().field) == Layout::Narrow
        };
        assert!(narrow(
            "name:loop key:Cm~ ts:6/8 folder:x program:33 drums:no bpm:~120",
            "name"
        ));
        for sort in ["bpm", "-dur", "notes"] {
            assert!(narrow("inst:piano", sort), "{sort}");
        }
        for sort in ["tracks", "size", "added"] {
            assert!(!narrow("inst:piano", sort), "{sort}");
        }
        for q in ["funk", "coll:x", "name:~x", "dupes:2", "key:Cm dupes:1"] {
            assert!(!narrow(q, "name"), "{q}");
        }
        let s = sql("name:loop notes:>200 ^drums:yes", "name", None);
        let (name, notes) = (s.find("s.filename ILIKE").unwrap(), s.find("s.total_notes").unwrap());
        assert!(notes < name && s.find("s.has_drums").unwrap() < name, "{s}");
        assert!(
            s.starts_with("SELECT f.id") && s.contains("FROM (SELECT s.file_id FROM search_rows s WHERE"),
            "{s}"
        );
    }
}
