//! Fast and ludicrous writers skip the per-row foreign-key checks and the search_rows trigger; the restore proves them.
mod common;

use std::path::PathBuf;

use common::{fresh_db, import_json, sample_record, scalar};
use midi_tui::database::Target;
use midi_tui::database::writer::{self, BatchContext};
use midi_tui::engine::record::LocationRecord;
use midi_tui::engine::run::session::Engine;
use sqlx::{Connection, PgConnection, PgPool};

fn sample() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/sample-library")
        .to_string_lossy()
        .into_owned()
}

/// The library as content, independent of the ids a run hands out: every location, metadata and search row keyed by
/// its content hash, and each failed path.
async fn library(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'loc ' || l.path || ' ' || encode(f.content_hash, 'hex') FROM file_locations l \
         JOIN files f ON f.id = l.file_id \
         UNION ALL SELECT 'meta ' || encode(f.content_hash, 'hex') || ' ' || (m.bpm, m.total_notes, m.programs, \
             m.key_signature, m.detected_key, m.has_drums)::text FROM musical_metadata m JOIN files f ON f.id = m.file_id \
         UNION ALL SELECT 'search ' || encode(f.content_hash, 'hex') || ' ' || (s.filename, s.parent_folder, \
             s.duration_seconds, s.num_tracks, s.bpm, s.key, s.ts_num, s.ts_den, s.total_notes, s.programs, \
             s.has_drums)::text FROM search_rows s JOIN files f ON f.id = s.file_id \
         UNION ALL SELECT 'search-without-file ' || s.file_id FROM search_rows s \
             WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = s.file_id) \
         UNION ALL SELECT 'error ' || path || ' ' || kind FROM import_errors ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("read the library")
}

/// Journal entries of deferred checks: (all, unrestored).
async fn deferrals(pool: &PgPool) -> (i64, i64) {
    (
        scalar(pool, "SELECT count(*) FROM safety_journal WHERE kind = 'checks'").await,
        scalar(
            pool,
            "SELECT count(*) FROM safety_journal WHERE kind = 'checks' AND restored_at IS NULL",
        )
        .await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn fast_and_ludicrous_imports_give_the_normal_import_s_library_search_rows_included() {
    let normal = fresh_db().await;
    let v = import_json(&normal.url, &["--mode", "normal", &sample()]);
    assert_eq!(v["status"], "done", "{v}");
    let want = library(&normal.pool).await;
    assert!(
        want.iter().filter(|r| r.starts_with("search ")).count() > 100,
        "{}",
        want.len()
    );
    assert_eq!(
        deferrals(&normal.pool).await,
        (0, 0),
        "a normal import checks every row"
    );
    for mode in ["fast", "ludicrous"] {
        let db = fresh_db().await;
        let log = common::temp_dir("deferred-log").join("run.log");
        let v = import_json(
            &db.url,
            &["--mode", mode, "--yes", "--log", log.to_str().unwrap(), &sample()],
        );
        assert_eq!(v["status"], "done", "{v}");
        // The writers did defer (else this test would prove nothing), and the restore proved it.
        assert_eq!(deferrals(&db.pool).await, (1, 0), "{mode}: one deferral, proven");
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(log.contains("deferred to the restore"), "{mode}: {log}");
        assert!(
            v["steps"].to_string().contains("foreign keys proven"),
            "{mode}: {}",
            v["steps"]
        );
        // The import's own seconds (its files/s) leave the profile's steps out: they are in the wall time apart.
        let steps: f64 = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["seconds"].as_f64())
            .sum();
        let (secs, wall) = (v["seconds"].as_f64().unwrap(), v["wall_seconds"].as_f64().unwrap());
        assert!(
            secs + steps <= wall + 0.05,
            "{mode}: import {secs} s and steps {steps} s overlap within the wall {wall} s"
        );
        let got = library(&db.pool).await;
        assert_eq!(got.len(), want.len(), "{mode}: rows");
        let differ: Vec<_> = got.iter().zip(&want).filter(|(a, b)| a != b).take(3).collect();
        assert!(differ.is_empty(), "{mode}: differs from the normal import: {differ:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_skipped_checks_would_refuse_is_repaired_and_reported_by_the_restore() {
    let db = fresh_db().await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    writer::prepare(&mut conn, false).await.unwrap();
    let record = sample_record(7, "/lib/a/b.mid");
    let location = LocationRecord {
        hash: record.hash,
        location: record.location.clone(),
        size: 1234,
        mtime: 5,
        archive: None,
        meta: record.path.location(),
    };
    // A run that does not exist: the per-row check refuses the batch...
    let checked = BatchContext {
        run_id: 424242,
        ..Default::default()
    };
    let refused = writer::write_batch_direct(&mut conn, checked, &[&record], &[&location], &[], &[]).await;
    assert!(format!("{refused:?}").contains("foreign key"), "{refused:?}");
    // ...and the deferred one takes it, without a search row, journaled.
    let deferred = BatchContext {
        defer_checks: true,
        ..checked
    };
    let out = writer::write_batch_direct(&mut conn, deferred, &[&record], &[&location], &[], &[])
        .await
        .unwrap()
        .expect("written");
    assert_eq!(out.new_files, 1);
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM search_rows").await, 0);
    assert_eq!(deferrals(&db.pool).await, (1, 1));
    // The deferral is session-free: the next transaction on this connection checks again.
    let role: String = sqlx::query_scalar("SHOW session_replication_role")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(role, "origin");
    let engine = Engine::open(Target::External(db.url.clone()), common::temp_dir("deferred-engine"))
        .await
        .unwrap();
    let st = engine.safety().await.unwrap();
    assert!(
        st.relaxed.iter().any(|r| r.contains("not yet proven")),
        "{:?}",
        st.relaxed
    );
    let report = engine.restore_safety().await.unwrap();
    let lines = report.lines.join("\n");
    assert!(lines.contains("repaired 1 files of missing runs"), "{lines}");
    assert!(lines.contains("repaired 1 locations of missing runs"), "{lines}");
    assert!(lines.contains("1 written"), "{lines}");
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM files WHERE import_run_id IS NULL").await,
        1
    );
    assert_eq!(
        scalar(
            &db.pool,
            "SELECT count(*) FROM search_rows WHERE file_id = (SELECT id FROM files)"
        )
        .await,
        1
    );
    assert_eq!(deferrals(&db.pool).await, (1, 0));
    let st = engine.safety().await.unwrap();
    assert!(
        !st.relaxed.iter().any(|r| r.contains("not yet proven")),
        "{:?}",
        st.relaxed
    );
    // Nothing left to prove: a second restore says nothing about it.
    let again = engine.restore_safety().await.unwrap().lines.join("\n");
    assert!(!again.contains("proven"), "{again}");
    conn.close().await.unwrap();
}
