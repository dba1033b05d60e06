//! What a normal import's write costs the server, by component, for `bench --components`.
//!
//! One imported library's rows are read back once as binary COPY data, in batches of the writer's size (by file
//! id, each batch with its files' metadata and locations), and written again into the emptied tables the way the
//! writer writes them, once per variant of the schema or of the writer: one index dropped, the per-row checks
//! instead of the batch's, search_rows without its fill, and so on. What a variant costs is the CPU time of the
//! one backend that wrote (its `/proc/PID/stat`, the server being on this machine), so the other developers'
//! load on a shared machine moves it little; the difference to the writer as it is shows a component's share.

use sqlx::{Connection, PgConnection, Row};

use super::columns::{FILE_LOCATIONS, FILES, MUSICAL_METADATA};
use super::indexes::{self, SecondaryIndex};
use super::{DbResult, connect_options, quote_ident};

/// Files per batch: the writer's default batch of 5,000 locations holds about this many new files.
pub const BATCH_FILES: i64 = 4_000;

/// One batch of a library's rows, as binary COPY data in the writer's column order.
struct Batch {
    hashes: Vec<Vec<u8>>,
    files: Vec<u8>,
    metadata: Vec<u8>,
    locations: Vec<u8>,
    new_files: i64,
    locations_count: i64,
}

/// A library's rows, held to be written again.
pub struct Captured {
    batches: Vec<Batch>,
    pub files: i64,
    pub locations: i64,
    run_id: i64,
}

fn column_list<R>(t: &super::columns::Table<R>) -> String {
    t.columns
        .iter()
        .map(|c| quote_ident(c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn copy_out(conn: &mut PgConnection, sql: String) -> DbResult<Vec<u8>> {
    use futures::TryStreamExt;
    let mut stream = conn.copy_out_raw(&sql).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.try_next().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Read the library of `url` back in batches (it must hold an imported library and an import run).
pub async fn capture(url: &str) -> DbResult<Captured> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    let (lo, hi, run_id): (Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(id), max(id), (SELECT max(id) FROM import_runs) FROM files")
            .fetch_one(&mut c)
            .await?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(Captured {
            batches: Vec::new(),
            files: 0,
            locations: 0,
            run_id: run_id.unwrap_or(0),
        });
    };
    let (files_cols, meta_cols, loc_cols) = (
        column_list(&FILES),
        column_list(&MUSICAL_METADATA),
        column_list(&FILE_LOCATIONS),
    );
    let mut out = Captured {
        batches: Vec::new(),
        files: 0,
        locations: 0,
        run_id: run_id.unwrap_or(0),
    };
    let mut start = lo;
    while start <= hi {
        let end = start + BATCH_FILES;
        // Integers of this function, never input.
        let range = format!("{start} AND {}", end - 1);
        let hashes: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT content_hash FROM files WHERE id BETWEEN $1 AND $2 ORDER BY content_hash")
                .bind(start)
                .bind(end - 1)
                .fetch_all(&mut c)
                .await?;
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM files WHERE id BETWEEN $1 AND $2), \
             (SELECT count(*) FROM file_locations WHERE file_id BETWEEN $1 AND $2)",
        )
        .bind(start)
        .bind(end - 1)
        .fetch_one(&mut c)
        .await?;
        let files = copy_out(
            &mut c,
            format!(
                "COPY (SELECT {files_cols} FROM files WHERE id BETWEEN {range} ORDER BY content_hash) TO STDOUT (FORMAT binary)"
            ),
        )
        .await?;
        let metadata = copy_out(
            &mut c,
            format!(
                "COPY (SELECT {meta_cols} FROM musical_metadata WHERE file_id BETWEEN {range} ORDER BY file_id) TO STDOUT (FORMAT binary)"
            ),
        )
        .await?;
        let locations = copy_out(
            &mut c,
            format!(
                "COPY (SELECT {loc_cols} FROM file_locations WHERE file_id BETWEEN {range} ORDER BY path) TO STDOUT (FORMAT binary)"
            ),
        )
        .await?;
        out.files += counts.0;
        out.locations += counts.1;
        out.batches.push(Batch {
            hashes,
            files,
            metadata,
            locations,
            new_files: counts.0,
            locations_count: counts.1,
        });
        start = end;
    }
    c.close().await?;
    Ok(out)
}

/// How a variant's batches check their foreign keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// The writer's normal mode: per-row triggers off, the run and the stored files locked once per batch.
    InBatch,
    /// The foreign keys' per-row triggers.
    PerRow,
    /// No checks at all (what remains is the rows themselves).
    Off,
}

/// How a variant's batches fill search_rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// One statement per batch from the view (the writer's normal mode).
    Batch,
    /// The statement trigger on musical_metadata (needs per-row checks: the batch's way switches triggers off).
    Trigger,
    /// None.
    Off,
}

/// One way of writing the same rows.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub checks: Checks,
    pub fill: Fill,
    /// Catalog indexes dropped for this variant.
    pub without: Vec<&'static SecondaryIndex>,
    /// Indexes created for this variant (those migration 0012 dropped).
    pub with: Vec<&'static SecondaryIndex>,
    /// `file_locations.path` UNIQUE dropped.
    pub without_unique_path: bool,
    /// The (file id, path) locations index dropped.
    pub without_locations_by_file: bool,
}

impl Variant {
    pub fn new(name: impl Into<String>, checks: Checks, fill: Fill) -> Self {
        Variant {
            name: name.into(),
            checks,
            fill,
            without: Vec::new(),
            with: Vec::new(),
            without_unique_path: false,
            without_locations_by_file: false,
        }
    }

    /// Per-row checks with the batch's fill: the statement trigger is switched off for the variant.
    fn trigger_off(&self) -> bool {
        self.checks == Checks::PerRow && self.fill != Fill::Trigger
    }
}

/// The emptied library, before each variant.
/// The writer's look-up of a batch's stored contents: each id and its file's own names (a location stores only what
/// differs from them).
const LOOKUP: &str =
    "SELECT content_hash, id, filename, parent_folder, collection FROM files WHERE content_hash = ANY($1)";

const RESET: &str = "TRUNCATE files, musical_metadata, file_locations, search_rows";

const UNIQUE_PATH: &str = "file_locations_path_key";
const LOCATIONS_BY_FILE: &str =
    "CREATE INDEX IF NOT EXISTS file_locations_file_id_idx ON file_locations (file_id, path)";

/// The CPU seconds (user + system) of a backend, from `/proc` (the server runs on this machine).
fn backend_cpu(pid: i32) -> Option<f64> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / hz.max(1) as f64)
}

async fn exec(c: &mut PgConnection, sql: &str) -> DbResult<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The schema as `v` wants it (on the emptied tables, where building an index costs nothing).
async fn shape(c: &mut PgConnection, v: &Variant, undo: bool) -> DbResult<()> {
    for i in &v.without {
        if undo {
            exec(c, &i.definition).await?;
        } else {
            exec(c, &format!("DROP INDEX IF EXISTS {}", quote_ident(&i.name))).await?;
        }
    }
    for i in &v.with {
        if undo {
            exec(c, &format!("DROP INDEX IF EXISTS {}", quote_ident(&i.name))).await?;
        } else {
            exec(c, &i.definition).await?;
        }
    }
    if v.without_unique_path {
        if undo {
            exec(
                c,
                &format!("ALTER TABLE file_locations ADD CONSTRAINT {UNIQUE_PATH} UNIQUE (path)"),
            )
            .await?;
        } else {
            exec(c, &format!("ALTER TABLE file_locations DROP CONSTRAINT {UNIQUE_PATH}")).await?;
        }
    }
    if v.trigger_off() {
        let on_off = if undo { "ENABLE" } else { "DISABLE" };
        exec(
            c,
            &format!("ALTER TABLE musical_metadata {on_off} TRIGGER search_rows_insert"),
        )
        .await?;
    }
    if v.without_locations_by_file {
        if undo {
            exec(c, LOCATIONS_BY_FILE).await?;
        } else {
            exec(c, "DROP INDEX IF EXISTS file_locations_file_id_idx").await?;
        }
    }
    Ok(())
}

async fn copy_in(c: &mut PgConnection, table: &str, cols: &str, data: &[u8]) -> DbResult<()> {
    let mut copy = c
        .copy_in_raw(&format!("COPY {table} ({cols}) FROM STDIN (FORMAT binary)"))
        .await?;
    copy.send(data).await?;
    copy.finish().await?;
    Ok(())
}

/// Write every batch of `rows` as variant `v` would, into the emptied library; the writing backend's CPU seconds.
pub async fn measure(url: &str, rows: &Captured, v: &Variant) -> DbResult<f64> {
    let mut c = PgConnection::connect_with(&connect_options(url)?).await?;
    exec(&mut c, RESET).await?;
    shape(&mut c, v, false).await?;
    exec(&mut c, "CHECKPOINT").await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut c).await?;
    let (files_cols, meta_cols, loc_cols) = (
        column_list(&FILES),
        column_list(&MUSICAL_METADATA),
        column_list(&FILE_LOCATIONS),
    );
    let before = backend_cpu(pid);
    for b in &rows.batches {
        let mut tx = c.begin().await?;
        let lookup = match v.checks {
            Checks::InBatch => {
                sqlx::query("SELECT set_config('session_replication_role', 'replica', true), lock_import_run($1)")
                    .bind(rows.run_id)
                    .execute(&mut *tx)
                    .await?;
                "SELECT content_hash, id, filename, parent_folder, collection FROM files WHERE content_hash = ANY($1) \
                 ORDER BY id FOR KEY SHARE"
            }
            Checks::Off => {
                sqlx::query("SELECT set_config('session_replication_role', 'replica', true)")
                    .execute(&mut *tx)
                    .await?;
                LOOKUP
            }
            Checks::PerRow => LOOKUP,
        };
        sqlx::query(sqlx::AssertSqlSafe(lookup))
            .bind(&b.hashes)
            .fetch_all(&mut *tx)
            .await?;
        copy_in(&mut tx, "files", &files_cols, &b.files).await?;
        copy_in(&mut tx, "musical_metadata", &meta_cols, &b.metadata).await?;
        if v.fill == Fill::Batch {
            let ids: Vec<i64> = sqlx::query("SELECT id FROM files WHERE content_hash = ANY($1)")
                .bind(&b.hashes)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            super::search_rows::fill(&mut tx, &ids).await?;
        }
        copy_in(&mut tx, "file_locations", &loc_cols, &b.locations).await?;
        sqlx::query(
            "UPDATE import_runs SET files_imported = files_imported + $2, duplicates = duplicates + $3 WHERE id = $1",
        )
        .bind(rows.run_id)
        .bind(b.new_files)
        .bind(b.locations_count - b.new_files)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    let after = backend_cpu(pid);
    exec(&mut c, RESET).await?;
    shape(&mut c, v, true).await?;
    c.close().await?;
    Ok(match (before, after) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    })
}

/// The variants `bench --components` measures: the writer as it is, then each component taken away (or, for the
/// indexes migration 0012 dropped, put back), and the writer as it was before that migration.
pub fn variants() -> Vec<Variant> {
    let catalog = indexes::catalog();
    let dropped = indexes::dropped();
    let now = |name: String| Variant::new(name, Checks::InBatch, Fill::Batch);
    let mut out = vec![now("the writer now".into())];
    let mut before = Variant::new(
        "as before: per-row foreign-key checks, search_rows by its trigger, the 49 indexes",
        Checks::PerRow,
        Fill::Trigger,
    );
    before.with = dropped.clone();
    out.push(before);
    out.push(Variant::new(
        "foreign-key checks per row, search_rows by its trigger (indexes as now)",
        Checks::PerRow,
        Fill::Trigger,
    ));
    out.push(Variant::new(
        "foreign-key checks per row, search_rows per batch",
        Checks::PerRow,
        Fill::Batch,
    ));
    out.push(Variant::new(
        "no foreign-key checks, search_rows per batch",
        Checks::Off,
        Fill::Batch,
    ));
    let mut v = Variant::new(
        "without search_rows (its fill and its indexes)",
        Checks::InBatch,
        Fill::Off,
    );
    v.without = catalog.iter().filter(|i| i.table == "search_rows").collect();
    out.push(v);
    let mut v = now("without the unique location path index".into());
    v.without_unique_path = true;
    out.push(v);
    let mut v = now("without the (file id, path) locations index".into());
    v.without_locations_by_file = true;
    out.push(v);
    let mut bare = Variant::new(
        "COPY alone: heap, primary keys, content-hash key; no check, no search row, no other index",
        Checks::Off,
        Fill::Off,
    );
    bare.without = catalog.iter().collect();
    bare.without_unique_path = true;
    bare.without_locations_by_file = true;
    out.push(bare);
    for i in catalog {
        let mut v = now(format!("without `{}`", i.name));
        v.without = vec![i];
        out.push(v);
    }
    for i in dropped {
        let mut v = now(format!("with `{}` (dropped by migration 0012)", i.name));
        v.with = vec![i];
        out.push(v);
    }
    out
}
