//! Duplicate groups: byte-identical contents found at several locations, and files sharing a musical fingerprint.
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::DbResult;

/// What makes a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DupeKind {
    /// One content (BLAKE3 of the bytes) found at several locations: a group of one file.
    Bytes,
    /// Files with the same notes (`musical_metadata.notes_fingerprint`).
    Musical,
    /// Files with the same notes up to transposition (`musical_metadata.transposed_fingerprint`).
    Transposed,
}

/// One file of a group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DupeFile {
    pub id: i64,
    /// BLAKE3 of the bytes, hex.
    pub content_hash: String,
    /// Where the file was first found.
    pub path: String,
    pub total_notes: Option<i64>,
    pub duration_seconds: Option<f64>,
    /// Every location of these bytes, sorted.
    pub locations: Vec<String>,
}

/// One duplicate group: its key (the content hash or the fingerprint, hex) and its files.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DupeGroup {
    pub kind: DupeKind,
    pub key: String,
    /// Files in the group (more than `files.len()` when a caller capped the list).
    pub total_files: i64,
    pub files: Vec<DupeFile>,
}

impl DupeGroup {
    pub fn locations(&self) -> usize {
        self.files.iter().map(|f| f.locations.len()).sum()
    }
}

/// The columns every group query returns, after its `key` and `total` columns.
const FILE_COLUMNS: &str = "f.id, f.content_hash, f.filepath, f.duration_seconds, m.total_notes, l.path AS location";

/// Groups of more than one file, largest first (only the first `$1` groups when `limited`: the limit is taken
/// before the join, so a short listing of a big library sorts groups, not every location); each row one location,
/// so rows of a group and of a file are contiguous.
fn groups_sql(kind: DupeKind, limited: bool) -> String {
    // The same order as the listing's, so that the groups kept are the largest.
    let first = |tie: &str| {
        if limited {
            format!(" ORDER BY n DESC, {tie} LIMIT $1")
        } else {
            String::new()
        }
    };
    match kind {
        DupeKind::Bytes => format!(
            "SELECT f.content_hash AS key, g.n AS total, {FILE_COLUMNS} \
             FROM (SELECT file_id, count(*) AS n FROM file_locations GROUP BY file_id HAVING count(*) > 1{}) g \
             JOIN files f ON f.id = g.file_id \
             LEFT JOIN musical_metadata m ON m.file_id = f.id \
             JOIN file_locations l ON l.file_id = f.id \
             ORDER BY g.n DESC, f.id, l.path",
            first("file_id")
        ),
        DupeKind::Musical | DupeKind::Transposed => {
            let column = fingerprint_column(kind);
            format!(
                "WITH g AS (SELECT {column} AS key, count(*) AS n FROM musical_metadata WHERE {column} IS NOT NULL \
                     GROUP BY {column} HAVING count(*) > 1{}) \
                 SELECT g.key, g.n AS total, {FILE_COLUMNS} \
                 FROM g JOIN musical_metadata m ON m.{column} = g.key \
                 JOIN files f ON f.id = m.file_id \
                 LEFT JOIN file_locations l ON l.file_id = f.id \
                 ORDER BY g.n DESC, g.key, f.id, l.path",
                first("key")
            )
        }
    }
}

fn fingerprint_column(kind: DupeKind) -> &'static str {
    match kind {
        DupeKind::Transposed => "transposed_fingerprint",
        _ => "notes_fingerprint",
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Folds rows (ordered by group, file, location) into groups.
struct Folder {
    kind: DupeKind,
    current: Option<DupeGroup>,
}

impl Folder {
    /// Add one row; returns the group it closed, if it starts another.
    fn push(&mut self, row: &PgRow) -> DbResult<Option<DupeGroup>> {
        let key = hex(&row.try_get::<Vec<u8>, _>("key")?);
        let id: i64 = row.try_get("id")?;
        let location: Option<String> = row.try_get("location")?;
        let done = match &self.current {
            Some(g) if g.key != key => self.current.take(),
            _ => None,
        };
        let group = self.current.get_or_insert_with(|| DupeGroup {
            kind: self.kind,
            key,
            total_files: 0,
            files: Vec::new(),
        });
        if group.files.last().is_none_or(|f| f.id != id) {
            group.total_files = if self.kind == DupeKind::Bytes {
                1
            } else {
                row.try_get("total")?
            };
            group.files.push(DupeFile {
                id,
                content_hash: hex(&row.try_get::<Vec<u8>, _>("content_hash")?),
                path: row.try_get("filepath")?,
                total_notes: row.try_get::<Option<i32>, _>("total_notes")?.map(i64::from),
                duration_seconds: row.try_get("duration_seconds")?,
                locations: Vec::new(),
            });
        }
        if let (Some(file), Some(loc)) = (group.files.last_mut(), location) {
            file.locations.push(loc);
        }
        Ok(done)
    }
}

/// Every group of `kind` with more than one member (locations for [`DupeKind::Bytes`], files otherwise), largest
/// first, streamed to `each`; it returns false to stop. Returns the number of groups handed out.
pub async fn for_each_group(pool: &PgPool, kind: DupeKind, each: impl FnMut(DupeGroup) -> bool) -> DbResult<u64> {
    for_each_group_up_to(pool, kind, None, each).await
}

/// [`for_each_group`], the first `limit` groups only (`None`: all).
pub async fn for_each_group_up_to(
    pool: &PgPool,
    kind: DupeKind,
    limit: Option<u64>,
    mut each: impl FnMut(DupeGroup) -> bool,
) -> DbResult<u64> {
    let sql = groups_sql(kind, limit.is_some());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(limit) = limit {
        query = query.bind(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let mut rows = query.fetch(pool);
    let mut folder = Folder { kind, current: None };
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await? {
        if let Some(g) = folder.push(&row)? {
            n += 1;
            if !each(g) {
                return Ok(n);
            }
        }
    }
    if let Some(g) = folder.current.take() {
        n += 1;
        each(g);
    }
    Ok(n)
}

/// How many duplicate groups of a kind the library holds, and what is in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DupeSummary {
    pub kind: DupeKind,
    /// Groups of more than one member.
    pub groups: u64,
    /// Files in those groups (for [`DupeKind::Bytes`] one per group: a content is one file).
    pub files: u64,
    /// Locations of those files: for [`DupeKind::Bytes`] the copies themselves; for the musical kinds the files'
    /// locations.
    pub locations: u64,
}

/// The totals [`for_each_group`] would list, counted without listing it (for a summary before a capped listing).
pub async fn summary(pool: &PgPool, kind: DupeKind) -> DbResult<DupeSummary> {
    let sql = match kind {
        DupeKind::Bytes => "SELECT count(*), count(*), coalesce(sum(n), 0)::bigint FROM (SELECT count(*) AS n \
             FROM file_locations GROUP BY file_id HAVING count(*) > 1) g"
            .to_string(),
        DupeKind::Musical | DupeKind::Transposed => {
            let column = fingerprint_column(kind);
            format!(
                "WITH g AS (SELECT {column} AS key FROM musical_metadata WHERE {column} IS NOT NULL \
                     GROUP BY {column} HAVING count(*) > 1), \
                 f AS (SELECT m.file_id FROM g JOIN musical_metadata m ON m.{column} = g.key) \
                 SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM f), \
                     (SELECT count(*) FROM f JOIN file_locations l ON l.file_id = f.file_id)"
            )
        }
    };
    let (groups, files, locations): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(DupeSummary {
        kind,
        groups: n(groups),
        files: n(files),
        locations: n(locations),
    })
}

/// The groups the content `content_hash` belongs to: its own locations when there are several, the files with the
/// same notes, the files with the same notes up to transposition (each only when the file is not alone in it, each
/// with the file itself, at most `max_files` files listed per group). Empty for an unknown hash.
pub async fn groups_of(pool: &PgPool, content_hash: &[u8], max_files: usize) -> DbResult<Vec<DupeGroup>> {
    type Fingerprints = (Option<Vec<u8>>, Option<Vec<u8>>);
    let me: Option<(i64, Fingerprints)> = sqlx::query_as::<_, (i64, Option<Vec<u8>>, Option<Vec<u8>>)>(
        "SELECT f.id, m.notes_fingerprint, m.transposed_fingerprint FROM files f \
         LEFT JOIN musical_metadata m ON m.file_id = f.id WHERE f.content_hash = $1",
    )
    .bind(content_hash)
    .fetch_optional(pool)
    .await?
    .map(|(id, exact, transposed)| (id, (exact, transposed)));
    let Some((id, (exact, transposed))) = me else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let sql = format!(
        "SELECT $1::bytea AS key, 1::bigint AS total, {FILE_COLUMNS} FROM files f \
         LEFT JOIN musical_metadata m ON m.file_id = f.id LEFT JOIN file_locations l ON l.file_id = f.id \
         WHERE f.id = $2 ORDER BY l.path"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(content_hash)
        .bind(id)
        .fetch_all(pool)
        .await?;
    if let Some(g) = fold(DupeKind::Bytes, &rows)?.filter(|g| g.locations() > 1) {
        out.push(g);
    }
    let limit = i64::try_from(max_files.max(1)).unwrap_or(i64::MAX);
    for (kind, fp) in [(DupeKind::Musical, exact), (DupeKind::Transposed, transposed)] {
        let Some(fp) = fp else { continue };
        let column = fingerprint_column(kind);
        let sql = format!(
            "WITH picked AS (SELECT file_id FROM musical_metadata WHERE {column} = $1 ORDER BY file_id LIMIT $2) \
             SELECT $1::bytea AS key, (SELECT count(*) FROM musical_metadata WHERE {column} = $1) AS total, \
                 {FILE_COLUMNS} \
             FROM picked p JOIN files f ON f.id = p.file_id JOIN musical_metadata m ON m.file_id = f.id \
             LEFT JOIN file_locations l ON l.file_id = f.id ORDER BY f.id, l.path"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&fp)
            .bind(limit)
            .fetch_all(pool)
            .await?;
        if let Some(g) = fold(kind, &rows)?.filter(|g| g.total_files > 1) {
            out.push(g);
        }
    }
    Ok(out)
}

/// The one group `rows` (of one key) make.
fn fold(kind: DupeKind, rows: &[PgRow]) -> DbResult<Option<DupeGroup>> {
    let mut folder = Folder { kind, current: None };
    for row in rows {
        folder.push(row)?;
    }
    Ok(folder.current)
}
