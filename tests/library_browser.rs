//! The browser's engine calls against a throwaway cluster: a file's detail holds what the tables hold, and its
//! notes are read back from an archive member (nested too), agreeing with the importer's note count.
mod common;

use std::path::{Path, PathBuf};

use midi_tui::database::Target;
use midi_tui::engine::library::{LoadNotesError, MAX_NOTES, hash_from_hex, load_notes};
use midi_tui::engine::session::Engine;
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
