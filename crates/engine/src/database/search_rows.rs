//! The SQL that writes search_rows: each insert selects from the one definition of a search row, the view
//! `search_rows_source` (migration 0012, 0015), so a new searched column is a column of the table and of the view only.
use sqlx::PgConnection;

/// How an insert into search_rows meets a row already there: a file id can come back after a crash emptied
/// UNLOGGED tables (and their sequence), and the new file wins. (The statement trigger of migration 0012 spells
/// the same in SQL.)
macro_rules! upsert {
    () => {
        "ON CONFLICT (file_id) DO UPDATE SET filename = EXCLUDED.filename, parent_folder = EXCLUDED.parent_folder, \
         duration_seconds = EXCLUDED.duration_seconds, num_tracks = EXCLUDED.num_tracks, bpm = EXCLUDED.bpm, \
         key = EXCLUDED.key, ts_num = EXCLUDED.ts_num, ts_den = EXCLUDED.ts_den, \
         total_notes = EXCLUDED.total_notes, programs = EXCLUDED.programs, has_drums = EXCLUDED.has_drums, \
         name_sort = EXCLUDED.name_sort"
    };
}

/// The search rows of a normal batch's new files, in one statement.
const FILL: &str = concat!(
    "INSERT INTO search_rows SELECT v.* FROM search_rows_source v WHERE v.file_id = ANY($1) ",
    upsert!()
);

/// The search rows the skipped trigger did not write: those of analysed files without one. Missing is the only way a
/// skipped trigger leaves them (writers insert metadata, never update it or a file's searched columns, and ids a
/// crash reused are cleared by the integrity check at the next start), so an anti-join on the key suffices: on 69k
/// files 37 ms, where comparing every column of every row took 256 ms.
pub const SYNC: &str = concat!(
    "INSERT INTO search_rows SELECT v.* FROM search_rows_source v \
     WHERE NOT EXISTS (SELECT 1 FROM search_rows s WHERE s.file_id = v.file_id) ",
    upsert!()
);

/// Search rows of metadata that is gone (after the deferred checks' repairs every metadata row has its file).
pub const REMOVE_STALE: &str =
    "DELETE FROM search_rows s WHERE NOT EXISTS (SELECT 1 FROM musical_metadata m WHERE m.file_id = s.file_id)";

/// Insert the search rows of these new files (a normal batch, whose statement trigger is off; `bench --components`
/// measures the writer's way with it too).
pub async fn fill(tx: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    if !ids.is_empty() {
        sqlx::query(FILL).bind(ids).execute(&mut *tx).await?;
    }
    Ok(())
}
