//! Import engine against a throwaway cluster: archives, the whole corpus, resume, kills, broken files.
mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use midi_tui::engine::midi;
use midi_tui::engine::source::{self, Limits, ReadEvent, ScanItem};

/// What the corpus holds, computed without the pipeline or the database: every location's outcome.
#[derive(Default, Debug)]
struct Expected {
    locations: u64,
    errors: u64,
    skipped: u64,
    contents: HashSet<[u8; 32]>,
}

fn expected_for(sources: &[PathBuf]) -> Expected {
    let mut e = Expected::default();
    let limits = Limits::default();
    let take = |data: &[u8], e: &mut Expected| {
        if midi::analyze(data).is_ok() {
            e.locations += 1;
            e.contents.insert(*blake3::hash(data).as_bytes());
        } else {
            e.errors += 1;
        }
    };
    let mut items = Vec::new();
    source::scan(sources, &mut |i| {
        items.push(i);
        true
    });
    for item in items {
        match item {
            ScanItem::File { fs_path, .. } => take(&std::fs::read(fs_path).unwrap(), &mut e),
            ScanItem::Archive { location, fs_path, .. } => {
                source::read_archive(&location, &fs_path, &limits, &mut |ev| {
                    match ev {
                        ReadEvent::Member(m) => take(&m.data, &mut e),
                        ReadEvent::Skipped { .. } => e.skipped += 1,
                        ReadEvent::Error { .. } => e.errors += 1,
                    }
                    true
                });
            }
            ScanItem::Skipped { .. } => e.skipped += 1,
            ScanItem::Error { .. } => e.errors += 1,
        }
    }
    e
}

async fn db_counts(pool: &sqlx::PgPool) -> (i64, i64, i64) {
    (
        scalar(pool, "SELECT count(*) FROM files").await,
        scalar(pool, "SELECT count(*) FROM file_locations").await,
        scalar(pool, "SELECT count(DISTINCT path) FROM import_errors").await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_archive_kind_and_the_nested_archive() {
    let db = fresh_db().await;
    let archives = corpus().join("archives");
    let v = import_json(&db.url, &[archives.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let expected = expected_for(std::slice::from_ref(&archives));
    let (files, locations, errors) = db_counts(&db.pool).await;
    assert_eq!(files as usize, expected.contents.len());
    assert_eq!(locations as u64, expected.locations);
    assert_eq!(errors as u64, expected.errors);
    // Every kind contributed members, addressed as ARCHIVE!/member.
    for name in [
        "groove.zip",
        "drywetmidi-valid.tar.gz",
        "tonejs.tar.bz2",
        "midly.tar.xz",
        "single.mid.gz",
        "nested.tar.gz",
    ] {
        let n = scalar(
            &db.pool,
            &format!(
                "SELECT (SELECT count(*) FROM file_locations WHERE path LIKE '%/{name}!/%') + \
                 (SELECT count(*) FROM import_errors WHERE path LIKE '%/{name}!/%')"
            ),
        )
        .await;
        assert!(n > 0, "{name} contributed no location");
    }
    // The nested archive is opened at every level: tar.gz -> zip -> tar.xz.
    let deep = scalar(
        &db.pool,
        "SELECT count(*) FROM file_locations WHERE path LIKE '%nested.tar.gz!/%!/%!/%'",
    )
    .await
        + scalar(
            &db.pool,
            "SELECT count(*) FROM import_errors WHERE path LIKE '%nested.tar.gz!/%!/%!/%'",
        )
        .await;
    assert!(deep > 0, "members three archives deep");
    let single: String = sqlx::query_scalar("SELECT path FROM file_locations WHERE path LIKE '%single.mid.gz!/%'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(single.ends_with("single.mid.gz!/single.mid"), "{single}");
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_corpus_counts_then_reimport_reads_nothing() {
    let db = fresh_db().await;
    let corpus = corpus();
    let expected = expected_for(std::slice::from_ref(&corpus));
    let v = import_json(&db.url, &[corpus.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let (files, locations, errors) = db_counts(&db.pool).await;
    assert_eq!(
        files as usize,
        expected.contents.len(),
        "one files row per unique content"
    );
    assert_eq!(
        locations as u64, expected.locations,
        "one location per parsed file or member"
    );
    assert_eq!(errors as u64, expected.errors, "one error row per broken file");
    assert_eq!(v["imported"].as_u64().unwrap(), files as u64);
    assert_eq!(v["duplicates"].as_u64().unwrap(), (locations - files) as u64);
    assert_eq!(v["failed"].as_u64().unwrap(), expected.errors);
    assert_eq!(v["skipped"].as_u64().unwrap(), expected.skipped);
    assert!(
        locations > 1500 && files < locations,
        "the corpus holds duplicates across folders and archives"
    );
    // Every files row has its metadata row, and every content is reachable from a location.
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM musical_metadata").await, files);
    assert_eq!(
        scalar(
            &db.pool,
            "SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM file_locations l WHERE l.file_id = f.id)"
        )
        .await,
        0
    );
    let run = scalar(
        &db.pool,
        "SELECT count(*) FROM import_runs WHERE status = 'done' AND files_imported = (SELECT count(*) FROM files)",
    )
    .await;
    assert_eq!(run, 1);

    let again = import_json(&db.url, &[corpus.to_str().unwrap()]);
    assert_eq!(again["status"], "done");
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["duplicates"], 0, "{again}");
    assert_eq!(again["failed"], 0, "{again}");
    assert_eq!(again["bytes"], 0, "a re-import reads no file: {again}");
    assert_eq!(again["skipped"], v["seen"].as_u64().unwrap(), "{again}");
    assert_eq!(
        db_counts(&db.pool).await,
        (files, locations, errors),
        "re-import adds nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_files_each_get_one_error_with_a_sensible_kind() {
    let db = fresh_db().await;
    let invalid = corpus().join("drywetmidi/Resources/MIDI files/Invalid");
    let v = import_json(&db.url, &[invalid.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT path, kind FROM import_errors")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let allowed: HashSet<&str> = [
        "no_header",
        "truncated",
        "bad_header",
        "bad_running_status",
        "no_tracks",
        "unknown_chunk",
        "bad_format",
        "bad_division",
        "bad_chunk_size",
        "bad_event",
        "empty",
        "io",
        "too_large",
    ]
    .into();
    let mut by_folder: HashMap<String, HashSet<String>> = HashMap::new();
    for (path, kind) in &rows {
        assert!(
            allowed.contains(kind.as_str()) || kind.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{kind}"
        );
        let folder = path
            .split("/Invalid/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        by_folder.entry(folder).or_default().insert(kind.clone());
    }
    // Files without a header are never imported.
    assert_eq!(
        by_folder
            .get("No Header Chunk")
            .map(|k| k.iter().cloned().collect::<Vec<_>>()),
        Some(vec!["no_header".to_string()])
    );
    let total = std::fs::read_dir(&invalid)
        .unwrap()
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum::<usize>();
    let (_, locations, errors) = db_counts(&db.pool).await;
    assert_eq!(
        (locations + errors) as usize,
        total,
        "every broken file is either imported leniently or recorded"
    );
    assert!(errors > 0);
}

/// A run SIGKILLed mid-way and run again ends with exactly the rows of a clean run.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_run_then_rerun_gives_exactly_the_right_rows() {
    let clean = fresh_db().await;
    let killed = fresh_db().await;
    let corpus = corpus();
    let sources = [
        corpus.join("groove"),
        corpus.join("archives"),
        corpus.join("tonejs-tests"),
    ];
    let args: Vec<&str> = sources.iter().map(|p| p.to_str().unwrap()).collect();
    let v = import_json(&clean.url, &args);
    assert_eq!(v["status"], "done");

    let logs = temp_dir("killed");
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "--data-dir",
        logs.to_str().unwrap(),
        "--database-url",
        &killed.url,
        "import",
        // Small batches: many commits, so the kill after the first one lands mid-run, not after the end.
        "--batch-rows",
        "20",
    ])
    .args(&args);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let t0 = Instant::now();
    loop {
        let n = scalar(&killed.pool, "SELECT count(*) FROM file_locations").await;
        if n > 0 || t0.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = scalar(&killed.pool, "SELECT count(*) FROM file_locations").await;
    assert!(partial > 0, "the killed run committed something before it died");

    let v2 = import_json(&killed.url, &args);
    assert_eq!(v2["status"], "done", "{v2}");
    assert_eq!(
        db_counts(&killed.pool).await,
        db_counts(&clean.pool).await,
        "no loss, no duplicate"
    );
    let hashes = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT content_hash FROM files ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    assert_eq!(hashes(killed.pool.clone()).await, hashes(clean.pool.clone()).await);
    let paths = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>("SELECT path FROM file_locations ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    assert_eq!(paths(killed.pool.clone()).await, paths(clean.pool.clone()).await);
    // The killed run is recognised as interrupted.
    assert_eq!(
        scalar(
            &killed.pool,
            "SELECT count(*) FROM import_runs WHERE status = 'interrupted'"
        )
        .await,
        1
    );
    let _ = std::fs::remove_dir_all(&logs);
}

/// SIGTERM flushes what is in flight, marks the run interrupted, exits promptly; the next run completes it.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_marks_interrupted_and_the_next_run_completes() {
    let db = fresh_db().await;
    let corpus = corpus();
    let logs = temp_dir("term");
    let src = corpus.join("groove");
    let child = std::process::Command::new(BIN)
        .args([
            "--data-dir",
            logs.to_str().unwrap(),
            "--database-url",
            &db.url,
            "import",
            "--json",
            src.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while scalar(&db.pool, "SELECT count(*) FROM import_runs").await == 0 && t0.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t1 = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t1.elapsed() < Duration::from_secs(10), "exits promptly");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = v["status"].as_str().unwrap().to_string();
    assert!(status == "interrupted" || status == "done", "{v}");
    let stored: String = sqlx::query_scalar("SELECT status FROM import_runs ORDER BY id LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, status);
    let v2 = import_json(&db.url, &[src.to_str().unwrap()]);
    assert_eq!(v2["status"], "done");
    let expected = expected_for(&[src]);
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM file_locations").await as u64,
        expected.locations
    );
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM files").await as usize,
        expected.contents.len()
    );
    let _ = std::fs::remove_dir_all(&logs);
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_lands_in_every_column() {
    let db = fresh_db().await;
    let src = corpus().join("tonejs-tests");
    let v = import_json(&db.url, &[src.to_str().unwrap()]);
    assert_eq!(v["status"], "done");
    type Row = (String, String, i16, i32, Option<i32>, f64, i32, Vec<i16>, Option<f64>);
    let row: Row = sqlx::query_as(
        "SELECT f.filename, f.collection, f.format, f.num_tracks, f.ticks_per_quarter_note, f.duration_seconds, \
         m.total_notes, m.programs, m.bpm FROM files f JOIN musical_metadata m ON m.file_id = f.id \
         JOIN file_locations l ON l.file_id = f.id WHERE l.path LIKE '%/test/midi/bach/bach_846.mid'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row.0, "bach_846.mid");
    assert!(row.2 == 0 || row.2 == 1);
    assert!(row.3 >= 1 && row.4.is_some() && row.5 > 10.0 && row.6 > 100, "{row:?}");
    assert!(row.8.is_some(), "first tempo");
    // The reference peer's numbers for this file.
    let reference = std::fs::read_to_string(corpus().join("reference.jsonl")).unwrap();
    let peer: serde_json::Value = reference
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["path"] == "tonejs-tests/test/midi/bach/bach_846.mid")
        .unwrap();
    assert_eq!(row.6 as u64, peer["note_on_count"].as_u64().unwrap());
    assert_eq!(row.3 as u64, peer["n_tracks"].as_u64().unwrap());
}

/// A file changed in place is read again; its location moves to the new content (the staging path's upsert).
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_file_moves_its_location_to_the_new_content() {
    let db = fresh_db().await;
    let dir = temp_dir("changed");
    let a = corpus().join("tonejs-tests/test/midi/bach/bach_846.mid");
    let b = corpus().join("tonejs-tests/test/midi/joplin/TheEntertainer.mid");
    let target = dir.join("lib/song.mid");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(&a, &target).unwrap();
    let v = import_json(&db.url, &[dir.to_str().unwrap()]);
    assert_eq!(v["imported"], 1);
    // A different content, and a different size, at the same path.
    std::fs::copy(&b, &target).unwrap();
    let v = import_json(&db.url, &[dir.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["imported"], 1, "{v}");
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM files").await, 2);
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM file_locations").await, 1);
    let size: i64 =
        sqlx::query_scalar("SELECT f.file_size_bytes FROM file_locations l JOIN files f ON f.id = l.file_id")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(size as u64, std::fs::metadata(&b).unwrap().len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without a terminal, `midi-tui SOURCE` runs the headless import instead of the console.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_terminal_the_console_falls_back_to_headless_import() {
    let db = fresh_db().await;
    let logs = temp_dir("fallback");
    let sample = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/sample-library");
    let out = run_bin(
        &[
            "--data-dir",
            logs.to_str().unwrap(),
            "--database-url",
            &db.url,
            sample.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("import done"), "{}", stdout(&out));
    assert!(scalar(&db.pool, "SELECT count(*) FROM files").await > 150);
    // Broken sample files are recorded, not fatal.
    assert!(scalar(&db.pool, "SELECT count(*) FROM import_errors").await >= 1);
    let _ = std::fs::remove_dir_all(&logs);
}

/// `--log FILE` is the import log: progress and each error, one line each.
#[tokio::test(flavor = "multi_thread")]
async fn the_import_log_names_each_error() {
    let db = fresh_db().await;
    let dir = temp_dir("runlog");
    let log = dir.join("import.log");
    let src = corpus().join("drywetmidi/Resources/MIDI files/Invalid/No Header Chunk");
    let out = run_bin(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "--database-url",
            &db.url,
            "--log",
            log.to_str().unwrap(),
            "import",
            src.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).expect("the import log exists");
    let errors = scalar(&db.pool, "SELECT count(*) FROM import_errors").await;
    assert!(errors > 0);
    assert_eq!(
        text.lines().filter(|l| l.contains(" error no_header: ")).count() as i64,
        errors,
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains("run finished: done")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
