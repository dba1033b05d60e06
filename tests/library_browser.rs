//! The browser's engine calls against a throwaway cluster: a file's detail holds what the tables hold, and its
//! notes are read back from an archive member (nested too), agreeing with the importer's note count.
mod common;

use std::path::{Path, PathBuf};

use midi_tui::database::Target;
use midi_tui::engine::library::{LoadNotesError, MAX_NOTES, hash_from_hex, load_notes};
use midi_tui::engine::midi::analyze;
use midi_tui::engine::run::session::Engine;
use midi_tui::engine::source::{FetchError, Limits, read_location};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A source folder with a zip (a tar.gz nested in it) and two plain files; returns the folder.
fn library() -> PathBuf {
    let dir = common::temp_dir("browser-src");
    std::fs::copy(fixtures().join("archives/mixed.zip"), dir.join("mixed.zip")).unwrap();
    std::fs::copy(fixtures().join("midi/gromas.mid"), dir.join("gromas.mid")).unwrap();
    std::fs::copy(fixtures().join("midi/kahless.mid"), dir.join("kahless.mid")).unwrap();
    dir
}

async fn open(url: &str) -> Engine {
    Engine::open(Target::External(url.to_string()), common::temp_dir("browser-engine"))
        .await
        .expect("open the engine")
}

/// The hex hash and note count of the file stored at a location ending in `suffix`.
async fn stored(pool: &sqlx::PgPool, suffix: &str) -> (String, String, i64) {
    sqlx::query_as(
        "SELECT l.path, encode(f.content_hash, 'hex'), m.total_notes::bigint FROM file_locations l \
         JOIN files f ON f.id = l.file_id JOIN musical_metadata m ON m.file_id = f.id WHERE l.path LIKE $1",
    )
    .bind(format!("%{suffix}"))
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("no location ending in {suffix}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn detail_and_notes_of_an_archive_member() {
    let db = common::fresh_db().await;
    let src = library();
    let v = common::import_json(&db.url, &[src.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let engine = open(&db.url).await;

    // A member of a tar.gz inside the zip.
    let (nested, hash, total_notes) = stored(&db.pool, "mixed.zip!/inner/drums.tar.gz!/drums/fill.mid").await;
    let d = engine
        .file_detail(&hash_from_hex(&hash).unwrap())
        .await
        .unwrap()
        .expect("the imported file");
    assert_eq!(d.content_hash, hash);
    // The same bytes are also `café.mid` in the zip: the name is that of the first location seen.
    assert!(d.filepath.ends_with(&format!("/{}", d.filename)), "{d:?}");
    let paths: Vec<String> = d.locations.iter().map(|l| l.path.clone()).collect();
    let expected: Vec<String> = sqlx::query_scalar(
        "SELECT path FROM file_locations WHERE file_id = (SELECT id FROM files WHERE content_hash = $1) \
         ORDER BY path",
    )
    .bind(hash_from_hex(&hash).unwrap().to_vec())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(paths, expected, "every location, in path order");
    assert!(paths.contains(&nested) && paths.contains(&d.filepath), "{paths:?}");
    let m = d.music.as_ref().expect("the analysis row");
    assert_eq!(i64::from(m.total_notes), total_notes);
    let (tpq, size): (Option<i32>, i64) =
        sqlx::query_as("SELECT ticks_per_quarter_note, file_size_bytes FROM files WHERE id = $1")
            .bind(d.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((d.ticks_per_quarter_note, d.file_size_bytes), (tpq, size));
    assert!(d.locations.iter().all(|l| l.size == size && l.import_run_id.is_some()));

    // The member's bytes read back are the imported ones; its notes count what the importer counted.
    let bytes = read_location(&nested, &Limits::default()).expect("read the nested member");
    assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash);
    let notes = load_notes(std::slice::from_ref(&nested), &hash, MAX_NOTES).expect("notes of the nested member");
    assert_eq!(notes.location, nested);
    assert_eq!(notes.notes.notes.len() as i64, total_notes);
    assert!(notes.notes.notes.iter().any(|n| n.is_drum()), "a drum fill has drums");
    assert!(notes.notes.duration_seconds > 0.0);

    // A zip member straight under the top archive, compared the same way.
    let (member, hash, total_notes) = stored(&db.pool, "mixed.zip!/songs/Levels.mid").await;
    let notes = load_notes(&[member], &hash, MAX_NOTES).expect("notes of a zip member");
    assert_eq!(notes.notes.notes.len() as i64, total_notes);

    // Bytes nobody imported have no detail.
    assert_eq!(engine.file_detail(&[7u8; 32]).await.unwrap(), None);
    let _ = std::fs::remove_dir_all(&src);
}

/// The detail shows what the analysis found, field for field and typed the same: the analysis's `Music` goes into
/// `musical_metadata` and comes back out of `file_detail` unchanged (programs 0-based both ways, floats exact), for
/// every imported file, archive members included.
#[tokio::test(flavor = "multi_thread")]
async fn every_files_detail_holds_its_analysis_unchanged() {
    let db = common::fresh_db().await;
    let src = library();
    let v = common::import_json(&db.url, &[src.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let engine = open(&db.url).await;
    let files: Vec<(String, String)> = sqlx::query_as("SELECT encode(content_hash, 'hex'), filepath FROM files")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(files.len() >= 4, "{files:?}");
    let mut with_programs = 0;
    for (hash, path) in &files {
        let d = engine
            .file_detail(&hash_from_hex(hash).unwrap())
            .await
            .unwrap()
            .expect("an imported file");
        let bytes = read_location(path, &Limits::default()).expect("the first location's bytes");
        let m = analyze(&bytes).expect("an imported file analyses");
        assert_eq!(d.music.as_ref(), Some(&m.music), "{path}");
        assert_eq!(
            (d.format, d.num_tracks, d.ticks_per_quarter_note, d.duration_ticks),
            (
                Some(m.format),
                Some(m.num_tracks),
                m.ticks_per_quarter_note,
                Some(m.duration_ticks)
            ),
            "{path}"
        );
        assert_eq!(
            (d.duration_seconds, &d.track_names, &d.copyright),
            (Some(m.duration_seconds), &m.track_names, &m.copyright),
            "{path}"
        );
        with_programs += usize::from(!m.music.programs.is_empty());
    }
    assert!(
        with_programs > 0,
        "some file has program changes, so their numbering is compared"
    );
    let _ = std::fs::remove_dir_all(&src);
}

#[tokio::test(flavor = "multi_thread")]
async fn notes_come_from_a_location_that_still_holds_the_bytes() {
    let db = common::fresh_db().await;
    let src = library();
    let v = common::import_json(&db.url, &[src.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let (plain, hash, total_notes) = stored(&db.pool, "/gromas.mid").await;
    let other = stored(&db.pool, "/kahless.mid").await;

    // The file moved away: the next location is tried; none left is an error naming the first problem.
    let gone = Path::new(&plain).with_file_name("gone.mid").display().to_string();
    let notes = load_notes(&[gone.clone(), plain.clone()], &hash, MAX_NOTES).expect("the second location");
    assert_eq!(
        (notes.location.as_str(), notes.notes.notes.len() as i64),
        (plain.as_str(), total_notes)
    );
    match load_notes(std::slice::from_ref(&gone), &hash, MAX_NOTES) {
        Err(LoadNotesError::Unreadable {
            first: FetchError::NotFound(p),
            count: 1,
        }) => assert_eq!(p, gone),
        other => panic!("{other:?}"),
    }

    // Other bytes now stand at the path: they are not shown as this file's notes.
    std::fs::copy(fixtures().join("midi/kahless.mid"), &plain).unwrap();
    match load_notes(std::slice::from_ref(&plain), &hash, MAX_NOTES) {
        Err(LoadNotesError::Changed { location }) => assert_eq!(location, plain),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        load_notes(std::slice::from_ref(&plain), &other.1, MAX_NOTES)
            .unwrap()
            .location,
        plain
    );

    // A member the archive does not hold.
    let zip = src.join("mixed.zip").display().to_string();
    let missing = format!("{zip}!/songs/none.mid");
    assert_eq!(
        read_location(&missing, &Limits::default()),
        Err(FetchError::MemberNotFound { location: missing })
    );
    let _ = std::fs::remove_dir_all(&src);
}

/// `names` as files of their own (no analysis needed beyond a row), loaded by SQL; ids follow the order given.
async fn load_names(pool: &sqlx::PgPool, names: &[&str], collection: &str) {
    for name in names {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO files (content_hash, filename, filepath, parent_folder, collection, file_size_bytes) \
             VALUES (sha256(convert_to($1 || $2, 'UTF8')), $1, '/lib/' || $1, 'lib', $2, 100) RETURNING id",
        )
        .bind(name)
        .bind(collection)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO musical_metadata (file_id, total_notes) VALUES ($1, 10)")
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// The count is exact when small and an estimate past its cap, never below what was counted.
#[tokio::test(flavor = "multi_thread")]
async fn the_count_is_exact_when_small_and_never_lies() {
    use midi_tui::engine::library::{COUNT_CAP, MatchCount, Query};
    let db = common::fresh_db().await;
    let names = [
        "126_x.mid",
        "11_x.mid",
        "101_x.mid",
        "B_x.mid",
        "2_x.mid",
        "a_x.mid",
        "さくら (410).mid",
        "さくら (41).mid",
    ];
    load_names(&db.pool, &names, "nat").await;
    let engine = open(&db.url).await;
    // No term reads the narrow table; `coll:` the joined tables.
    for q in ["", "coll:nat"] {
        let query = Query::parse(q).unwrap();
        assert_eq!(
            engine.count_matches(&query).await.unwrap(),
            MatchCount::Exact(8),
            "`{q}`"
        );
    }
    // Past the cap: an estimate, at least what was counted.
    sqlx::query(
        "WITH f AS (INSERT INTO files (content_hash, filename, filepath, collection, file_size_bytes) \
           SELECT sha256(int8send(i)), 'bulk_' || i || '.mid', '/bulk/' || i, 'bulk', 100 \
           FROM generate_series(1, $1::bigint) i RETURNING id) \
         INSERT INTO musical_metadata (file_id, total_notes) SELECT id, 1 FROM f",
    )
    .bind(COUNT_CAP + 50)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::raw_sql("ANALYZE files; ANALYZE search_rows")
        .execute(&db.pool)
        .await
        .unwrap();
    match engine
        .count_matches(&Query::parse("name:bulk_").unwrap())
        .await
        .unwrap()
    {
        MatchCount::About(n) => assert!(n > COUNT_CAP as u64, "{n}"),
        other => panic!("{other:?}: more than the cap was counted exactly"),
    }
    assert_eq!(
        engine
            .count_matches(&Query::parse("name:bulk_1234.").unwrap())
            .await
            .unwrap(),
        MatchCount::Exact(1)
    );
}

/// A cancelled run is listed by `status` (sources, how far, why it stopped, the command that resumes it) until an
/// import of the same sources follows it.
#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_run_is_listed_with_why_until_it_is_resumed() {
    use midi_tui::engine::profile::Mode;
    use midi_tui::engine::run::plan::ImportPlan;
    let db = common::fresh_db().await;
    let src = library();
    let engine = open(&db.url).await;
    let h = engine.start_plan(ImportPlan::new(vec![src.clone()], Mode::Normal));
    h.control.cancel_because("cancelled in a test");
    let report = h.join().await.expect("the plan");
    assert_eq!(report.run.status.to_string(), "interrupted");
    let runs = engine.unfinished_runs(20).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].reason.as_deref(), Some("cancelled in a test"));
    assert_eq!(runs[0].source_paths(), vec![src.clone()]);
    // The run's row stores the counters its summary reported (one `Counts`, bigint only in the table).
    assert_eq!(runs[0].counts, report.run.counts);

    let data_dir = common::temp_dir("unfinished-status");
    let args = [
        "--database-url",
        &db.url,
        "--data-dir",
        data_dir.to_str().unwrap(),
        "status",
    ];
    let text = common::stdout(&common::run_bin(&args, &[]));
    assert!(text.contains("unfinished runs"), "{text}");
    assert!(text.contains("stopped: cancelled in a test"), "{text}");
    let resume = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("resume:"))
        .expect("a resume command")
        .trim()
        .to_string();
    assert!(
        resume.contains("import --mode normal") && resume.contains(src.to_str().unwrap()),
        "{resume}"
    );
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&common::run_bin(
        &[&args[..], &["--json"]].concat(),
        &[],
    )))
    .unwrap();
    assert_eq!(json["unfinished_runs"][0]["reason"], "cancelled in a test", "{json}");
    assert_eq!(json["unfinished_runs"][0]["status"], "interrupted");
    let counts = serde_json::to_value(report.run.counts).unwrap();
    for (k, n) in counts.as_object().unwrap() {
        assert_eq!(&json["unfinished_runs"][0][k], n, "{k}: {json}");
    }

    // The resume is an import of the same sources; then nothing is left unfinished.
    let v = common::import_json(&db.url, &[src.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    assert!(engine.unfinished_runs(20).await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&data_dir);
}
