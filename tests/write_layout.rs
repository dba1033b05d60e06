//! The writer's declared column layout against the migrated schema, and every field landing in its named column.
mod common;

use common::*;
use midi_tui::database::columns::{self, Mismatch};
use midi_tui::database::writer::{self, BatchContext};
use midi_tui::engine::record::{ContentRecord, LocationRecord};
use serde_json::{Value, json};

#[tokio::test]
async fn declared_columns_exist_with_their_types() {
    let db = fresh_db().await;
    let found = columns::check(&db.pool).await.expect("read the schema");
    let wrong: Vec<String> = found
        .iter()
        .filter(|m| !matches!(m, Mismatch::Undeclared { .. }))
        .map(|m| m.to_string())
        .collect();
    assert!(wrong.is_empty(), "write layout disagrees with the schema: {wrong:#?}");
}

#[tokio::test]
async fn every_required_column_is_declared() {
    let db = fresh_db().await;
    let found = columns::check(&db.pool).await.expect("read the schema");
    let missing: Vec<String> = found
        .iter()
        .filter(|m| matches!(m, Mismatch::Undeclared { .. }))
        .map(|m| m.to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "required columns the writer leaves out: {missing:#?}"
    );
}

/// The checker reads the real schema right: a wrong declaration is caught, arrays and all.
#[tokio::test]
async fn a_wrong_declaration_is_caught_against_the_real_schema() {
    let db = fresh_db().await;
    let schema = columns::schema_columns(&db.pool, "musical_metadata").await.unwrap();
    let swapped = [
        ("file_id", "bigint"),
        ("unique_pitches", "integer"),
        ("total_notes", "smallint"),
        ("channels", "integer[]"),
        ("programs", "smallint[]"),
    ];
    let found: Vec<String> = columns::mismatches("musical_metadata", &swapped, &schema)
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(
        found,
        [
            "musical_metadata.unique_pitches: declared integer, schema has smallint",
            "musical_metadata.total_notes: declared smallint, schema has integer",
            "musical_metadata.channels: declared integer[], schema has smallint[]",
        ]
    );
    let schema = columns::schema_columns(&db.pool, "file_locations").await.unwrap();
    let found = columns::mismatches("file_locations", &[("file_id", "bigint"), ("path", "text")], &schema);
    assert_eq!(
        found,
        [
            Mismatch::Undeclared {
                table: "file_locations".into(),
                column: "size".into()
            },
            Mismatch::Undeclared {
                table: "file_locations".into(),
                column: "mtime".into()
            },
        ]
    );
}

fn location(c: &ContentRecord) -> LocationRecord {
    LocationRecord {
        hash: c.hash,
        location: c.location.clone(),
        size: c.size,
        mtime: 1_700_000_000,
        archive: None,
        meta: c.path.location(),
    }
}

/// What `record` must read back as, written out by hand (not from the declarations).
fn expected(hash: u8, location: &str, run: i64) -> (Value, Value, Value) {
    let files = json!({
        "content_hash": format!("\\x{}", format!("{hash:02x}").repeat(32)),
        "filename": "b\tc.mid", "name_sort": "b\tc.mid", "filepath": location, "parent_folder": "a", "collection": "col",
        "filename_bpm": 120.5, "filename_key": "Am", "file_size_bytes": 1234, "format": 1, "num_tracks": 3,
        "ticks_per_quarter_note": 480, "duration_ticks": 9600, "duration_seconds": 12.5,
        "track_names": ["Bass \"1\"", "a,b\\c"], "copyright": "(c) x", "import_run_id": run,
    });
    let meta = json!({
        "bpm": 121.25, "avg_bpm": 119.5, "tempo_changes": 4, "time_signature_numerator": 6,
        "time_signature_denominator": 8, "key_signature": "Eb", "detected_key": "G", "key_confidence": 0.75,
        "total_notes": 500, "unique_pitches": 25, "pitch_range_min": 30, "pitch_range_max": 90,
        "avg_velocity": 88.5, "polyphony_max": 7, "note_density": 7.25, "channels": [0, 9], "programs": [1, 33],
        "has_drums": true, "is_karaoke": false, "lyrics_count": 11,
        "notes_fingerprint": format!("\\x{}", "11".repeat(16)),
        "transposed_fingerprint": format!("\\x{}", "22".repeat(16)),
        "features": null, "features_version": null, "coarse": null,
    });
    // A location with its file's own collection, folder and name stores none of them (NULL: the same as the file's).
    let loc = json!({ "path": location, "size": 1234, "mtime": 1_700_000_000, "import_run_id": run,
        "collection": null, "parent_folder": null, "filename": null });
    (files, meta, loc)
}

/// The rows stored for `path`, as JSON without the generated ids and timestamps.
async fn stored(pool: &sqlx::PgPool, path: &str) -> (Value, Value, Value) {
    let (files, meta, loc): (Value, Value, Value) = sqlx::query_as(
        "SELECT to_jsonb(f) - 'id' - 'created_at', to_jsonb(m) - 'file_id', to_jsonb(l) - 'id' - 'file_id' \
         FROM file_locations l JOIN files f ON f.id = l.file_id JOIN musical_metadata m ON m.file_id = f.id \
         WHERE l.path = $1",
    )
    .bind(path)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("rows for {path}: {e}"));
    (files, meta, loc)
}

async fn start_run(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO import_runs (sources, mode, status) VALUES ('{x}', 'normal', 'running') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("start a run")
}

#[tokio::test]
async fn every_field_lands_in_its_column_on_both_paths_and_in_repair() {
    let db = fresh_db().await;
    let run = start_run(&db.pool).await;
    let mut conn = db.pool.acquire().await.unwrap();
    writer::prepare(&mut conn, false).await.unwrap();
    let ctx = BatchContext {
        run_id: run,
        repair: false,
        ..Default::default()
    };

    let direct = sample_record(1, "/lib/a/b\tc.mid");
    let out = writer::write_batch_direct(&mut conn, ctx, &[&direct], &[&location(&direct)], &[], &[])
        .await
        .unwrap()
        .expect("nothing collides in a fresh library");
    assert_eq!((out.new_files, out.locations), (1, 1));
    assert_eq!(
        stored(&db.pool, &direct.location).await,
        expected(1, &direct.location, run)
    );

    let staged = sample_record(2, "/lib/a/staged.mid");
    let out = writer::write_batch(&mut conn, ctx, &[&staged], &[&location(&staged)], &[], &[])
        .await
        .unwrap();
    assert_eq!((out.new_files, out.locations), (1, 1));
    assert_eq!(
        stored(&db.pool, &staged.location).await,
        expected(2, &staged.location, run)
    );

    // A crash emptied the metadata: a repair batch of the same content fills it back from the record.
    sqlx::query("DELETE FROM musical_metadata")
        .execute(&db.pool)
        .await
        .unwrap();
    let repair = BatchContext {
        run_id: run,
        repair: true,
        ..Default::default()
    };
    writer::write_batch(&mut conn, repair, &[&staged], &[&location(&staged)], &[], &[])
        .await
        .unwrap();
    assert_eq!(
        stored(&db.pool, &staged.location).await,
        expected(2, &staged.location, run)
    );
}

/// Missing values and non-finite floats are stored as NULL on both paths.
#[tokio::test]
async fn absent_and_non_finite_values_are_null() {
    let db = fresh_db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    writer::prepare(&mut conn, false).await.unwrap();
    let ctx = BatchContext {
        run_id: start_run(&db.pool).await,
        repair: false,
        ..Default::default()
    };
    let blank = |hash: u8, path: &str| {
        let mut c = sample_record(hash, path);
        c.path.filename_bpm = None;
        c.path.filename_key = None;
        c.midi.ticks_per_quarter_note = None;
        c.midi.duration_seconds = f64::NAN;
        c.midi.music.bpm = Some(f64::INFINITY);
        c.midi.music.avg_bpm = None;
        c.midi.music.key_confidence = Some(f64::NAN);
        c
    };
    let direct = blank(3, "/lib/direct.mid");
    let staged = blank(4, "/lib/staged.mid");
    let _ = writer::write_batch_direct(&mut conn, ctx, &[&direct], &[&location(&direct)], &[], &[])
        .await
        .unwrap()
        .expect("direct write");
    writer::write_batch(&mut conn, ctx, &[&staged], &[&location(&staged)], &[], &[])
        .await
        .unwrap();
    for path in ["/lib/direct.mid", "/lib/staged.mid"] {
        let (files, meta, _) = stored(&db.pool, path).await;
        for (row, col) in [
            (&files, "filename_bpm"),
            (&files, "filename_key"),
            (&files, "ticks_per_quarter_note"),
            (&files, "duration_seconds"),
            (&meta, "bpm"),
            (&meta, "avg_bpm"),
            (&meta, "key_confidence"),
        ] {
            assert_eq!(row[col], Value::Null, "{path}: {col}");
        }
        assert_eq!(meta["note_density"], json!(7.25), "{path}");
    }
}

/// A normal import's batches check their keys set-based: a run that does not exist fails the batch with the
/// foreign-key error code, as the per-row check did; a checked batch writes its search rows itself (the statement
/// trigger is off in it) from `search_rows_source`, and the triggers are on again for the next transaction.
#[tokio::test]
async fn a_batch_checked_in_itself_refuses_a_missing_run_and_writes_its_search_rows() {
    let db = fresh_db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    writer::prepare(&mut conn, false).await.unwrap();
    let record = sample_record(3, "/lib/c/checked.mid");
    let checked = BatchContext {
        run_id: 424242,
        batch_checks: true,
        ..Default::default()
    };
    let refused = writer::write_batch_direct(&mut conn, checked, &[&record], &[&location(&record)], &[], &[]).await;
    let text = format!("{refused:?}");
    assert!(text.contains("23503") && text.contains("foreign key"), "{text}");
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM files").await, 0);
    let run = start_run(&db.pool).await;
    let ok = BatchContext { run_id: run, ..checked };
    let out = writer::write_batch_direct(&mut conn, ok, &[&record], &[&location(&record)], &[], &[])
        .await
        .unwrap()
        .expect("nothing collides");
    assert_eq!((out.new_files, out.locations), (1, 1));
    assert_eq!(
        stored(&db.pool, &record.location).await,
        expected(3, &record.location, run)
    );
    // The search row is the one the view defines, written by the batch (the trigger was off in it).
    assert_eq!(
        scalar(
            &db.pool,
            "SELECT count(*) FROM search_rows s JOIN search_rows_source v USING (file_id) \
             WHERE (s.*)::text = (v.*)::text",
        )
        .await,
        1
    );
    let role: String = sqlx::query_scalar("SHOW session_replication_role")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(role, "origin");
    // A second content at a new path, the first one's location again: the stored file is found and locked.
    let other = sample_record(4, "/lib/c/other.mid");
    let dup = LocationRecord {
        location: "/lib/c/copy of checked.mid".into(),
        ..location(&record)
    };
    let out = writer::write_batch_direct(&mut conn, ok, &[&other], &[&location(&other), &dup], &[], &[])
        .await
        .unwrap()
        .expect("nothing collides");
    assert_eq!((out.new_files, out.locations), (1, 2));
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM search_rows").await, 2);
}
