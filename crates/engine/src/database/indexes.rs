//! The catalog of secondary indexes, parsed from the migrations that create and drop them (one place to declare them).
use std::sync::OnceLock;

use sqlx::{Connection, PgConnection, PgPool};

use super::DbResult;

/// The migrations that declare or drop secondary indexes, in order: a `DROP INDEX IF EXISTS name;` line of a later
/// one takes the index out of the catalog (the index served no query of the product, see migration 0012).
const SOURCES: [&str; 13] = [
    include_str!("../../../../database/migrations/0002_secondary_indexes.sql"),
    include_str!("../../../../database/migrations/0004_search.sql"),
    include_str!("../../../../database/migrations/0005_fingerprints.sql"),
    include_str!("../../../../database/migrations/0007_search_rows.sql"),
    include_str!("../../../../database/migrations/0012_leaner_writes.sql"),
    include_str!("../../../../database/migrations/0013_location_collections.sql"),
    include_str!("../../../../database/migrations/0015_natural_sort.sql"),
    include_str!("../../../../database/migrations/0017_natural_sort_indexes.sql"),
    include_str!("../../../../database/migrations/0018_similarity.sql"),
    include_str!("../../../../database/migrations/0019_similarity_coarse.sql"),
    include_str!("../../../../database/migrations/0021_similarity_coarse_index.sql"),
    include_str!("../../../../database/migrations/0022_similarity_filtered.sql"),
    include_str!("../../../../database/migrations/0023_similarity_key.sql"),
];

/// One secondary index: droppable for speed, rebuilt afterwards.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecondaryIndex {
    pub name: String,
    pub table: String,
    /// The `CREATE INDEX IF NOT EXISTS ...` statement.
    pub definition: String,
    /// The browsing query it serves.
    pub serves: String,
}

/// Every secondary index, in declaration order.
pub fn catalog() -> &'static [SecondaryIndex] {
    &declared().0
}

/// The indexes a migration declared and a later one dropped (`bench --components` measures what each would cost).
pub fn dropped() -> Vec<&'static SecondaryIndex> {
    declared().1.iter().collect()
}

/// (in the schema now, dropped since), each in declaration order.
fn declared() -> &'static (Vec<SecondaryIndex>, Vec<SecondaryIndex>) {
    static DECLARED: OnceLock<(Vec<SecondaryIndex>, Vec<SecondaryIndex>)> = OnceLock::new();
    DECLARED.get_or_init(|| {
        let (mut live, mut dropped) = (Vec::new(), Vec::new());
        for sql in SOURCES {
            parse(sql, &mut live, &mut dropped);
        }
        (live, dropped)
    })
}

fn parse(sql: &str, out: &mut Vec<SecondaryIndex>, dropped: &mut Vec<SecondaryIndex>) {
    let mut serves = String::new();
    for line in sql.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("DROP INDEX IF EXISTS ") {
            let name = name.trim_end_matches(';').trim();
            if let Some(at) = out.iter().position(|i| i.name == name) {
                dropped.push(out.remove(at));
            }
        } else if let Some(s) = line.strip_prefix("-- serves:") {
            serves = s.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("CREATE INDEX IF NOT EXISTS ") {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let table = words.nth(1).unwrap_or_default().to_string();
            out.push(SecondaryIndex {
                name,
                table,
                definition: line.trim_end_matches(';').to_string(),
                serves: std::mem::take(&mut serves),
            });
        }
    }
}

/// Names of the catalog's indexes that exist in the database now.
pub async fn present(pool: &PgPool) -> DbResult<Vec<String>> {
    let names: Vec<String> = catalog().iter().map(|i| i.name.clone()).collect();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'i' AND n.nspname = current_schema() AND c.relname = ANY($1) ORDER BY 1",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A connection of its own for one parallel index-build job, with its share of the maintenance memory.
pub struct BuildConnection {
    conn: PgConnection,
}

impl BuildConnection {
    /// Connect like `pool` does and give the session `maintenance_mem` (e.g. "256MB") for its builds.
    pub async fn open(pool: &PgPool, maintenance_mem: &str) -> DbResult<Self> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        // A refused value leaves the server's default in force: slower, still correct, so not an error.
        let _ = sqlx::query("SELECT set_config('maintenance_work_mem', $1, false)")
            .bind(maintenance_mem)
            .execute(&mut conn)
            .await;
        Ok(BuildConnection { conn })
    }

    /// Create one catalog index. Only catalog entries are accepted: their statements come from the migration
    /// compiled into the binary, never from input.
    pub async fn build(&mut self, index: &'static SecondaryIndex) -> DbResult<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(index.definition.as_str()))
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_keeps_the_indexes_a_query_reads_and_forgets_the_dropped_ones() {
        let c = catalog();
        assert_eq!(c.len(), 27);
        assert_eq!(c.iter().filter(|i| i.table == "file_locations").count(), 3);
        assert_eq!(c.iter().filter(|i| i.table == "search_rows").count(), 7);
        assert_eq!(c.iter().filter(|i| i.table == "files").count(), 9);
        assert_eq!(c.iter().filter(|i| i.table == "musical_metadata").count(), 8);
        for i in c {
            assert!(!i.serves.is_empty(), "{} says which query it serves", i.name);
            assert!(i.definition.contains(&format!(" ON {} ", i.table)), "{}", i.definition);
        }
        let mut names: Vec<_> = c.iter().map(|i| &i.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 27, "index names are unique");
        // Migration 0012's drops, 0015's two name indexes (replaced by the natural-order keys' of 0017): out of
        // the catalog (level 2 neither drops nor rebuilds them), kept for the bench.
        let dropped = dropped();
        assert_eq!(dropped.len(), 31);
        // 0022's similarity index (drums, vector, tempo) replaces 0021's (the vector alone), and 0023's (the key's
        // places too) replaces 0022's.
        assert!(dropped.iter().any(|d| d.name == "musical_metadata_coarse_idx"));
        assert!(dropped.iter().any(|d| d.name == "musical_metadata_similar_idx"));
        assert!(c.iter().any(|i| i.name == "musical_metadata_like_idx"));
        assert!(dropped.iter().any(|d| d.name == "search_rows_name_idx"));
        assert!(c.iter().any(|i| i.name == "search_rows_name_sort_idx"));
        assert!(dropped.iter().all(|d| !c.iter().any(|i| i.name == d.name)));
        assert!(dropped.iter().any(|d| d.name == "files_created_at_idx"));
        assert!(c.iter().any(|i| i.name == "files_track_names_trgm_idx"));
        // Migration 0013 adds the other locations' partial indexes after 0012's drops.
        assert_eq!(c[21].name, "file_locations_collection_idx");
    }

    #[test]
    fn essential_constraints_are_not_in_the_catalog() {
        for i in catalog() {
            assert!(!i.definition.contains("UNIQUE"), "{}", i.name);
            assert!(!i.definition.contains("content_hash"), "{}", i.name);
            assert!(!i.name.ends_with("_pkey"), "{}", i.name);
        }
    }
}
