//! The natural-order keys of names written without one (migration 16): a library imported before 0015, or rows a
//! test or the bench inserted by hand. Computed by the engine's one rule (`midi::natural_sort_key`).
use sqlx::PgConnection;

use crate::midi::natural_sort_key;

/// Rows per round trip.
const BATCH: i64 = 10_000;

/// Fill every missing key of `files`, then copy them to `search_rows`. Returns the files given a key.
pub async fn fill_missing(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let mut last = 0i64;
    let mut filled = 0u64;
    loop {
        // Walks the primary key in order, so each round reads on from the last instead of testing the whole table.
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, filename FROM files WHERE id > $1 AND name_sort IS NULL ORDER BY id LIMIT $2")
                .bind(last)
                .bind(BATCH)
                .fetch_all(&mut *conn)
                .await?;
        let Some(end) = rows.last().map(|r| r.0) else { break };
        last = end;
        let (ids, keys): (Vec<i64>, Vec<String>) = rows.iter().map(|(id, name)| (*id, natural_sort_key(name))).unzip();
        filled += sqlx::query(
            "UPDATE files f SET name_sort = v.k FROM unnest($1::bigint[], $2::text[]) AS v (id, k) WHERE f.id = v.id",
        )
        .bind(&ids)
        .bind(&keys)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    sqlx::query(
        "UPDATE search_rows s SET name_sort = f.name_sort FROM files f \
         WHERE s.file_id = f.id AND s.name_sort IS NULL AND f.name_sort IS NOT NULL",
    )
    .execute(&mut *conn)
    .await?;
    Ok(filled)
}
