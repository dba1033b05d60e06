//! Binary COPY stores exactly what text COPY stores: every table and column type, edge values, both writer paths.
mod common;

use common::*;
use midi_tui::database::writer::{self, BatchContext, CopyFormat};
use midi_tui::engine::midi::PathMeta;
use midi_tui::engine::record::{ContentRecord, LocationRecord};
use midi_tui::engine::source::location::encode_bytes;
use serde_json::{Value, json};

/// A name whose bytes are not UTF-8, with a `%` before hex digits and a lone one: stored as its escaped location.
fn odd_name() -> String {
    encode_bytes(b"caf\xe9 100% %41 \xff.mid")
}

/// The writer tests' sample record, with a double that needs all its digits and one that has no exact binary form.
fn base(hash: u8, location: String) -> ContentRecord {
    let mut r = sample_record(hash, &location);
    r.midi.duration_seconds = 12.345678901234567;
    r.midi.music.avg_bpm = Some(0.1);
    r
}

/// Every kind of edge value, one record each: extremes, NULLs and empties, awkward text.
fn records(hash0: u8, dir: &str) -> Vec<ContentRecord> {
    let rich = base(hash0, format!("{dir}/rich.mid"));

    let mut extreme = base(hash0 + 1, format!("{dir}/extreme.mid"));
    extreme.size = u64::MAX;
    let m = &mut extreme.midi;
    (m.format, m.music.unique_pitches) = (i16::MIN, i16::MAX);
    (m.num_tracks, m.music.total_notes, m.music.tempo_changes) = (i32::MAX, i32::MIN, -1);
    m.duration_ticks = i64::MIN;
    m.duration_seconds = f64::MAX;
    m.music.bpm = Some(f64::MIN_POSITIVE);
    m.music.avg_bpm = Some(5e-324);
    m.music.key_confidence = Some(-0.0);
    m.music.avg_velocity = Some(-1e-300);
    m.music.note_density = f64::MIN;
    m.music.channels = vec![i16::MIN, -1, 0, i16::MAX];
    m.music.programs = (0..128).collect();
    m.music.pitch_range_min = Some(i16::MIN);
    m.ticks_per_quarter_note = Some(i32::MIN);
    extreme.path.filename_bpm = Some(1e300); // past real's range: infinity
    m.music.has_drums = false;
    m.music.is_karaoke = true;

    let mut blank = base(hash0 + 2, format!("{dir}/blank.mid"));
    blank.path = PathMeta {
        filename: String::new(),
        name_sort: String::new(),
        parent_folder: String::new(),
        collection: String::new(),
        filename_bpm: Some(f64::NAN), // real keeps NaN as a value
        filename_key: None,
    };
    let m = &mut blank.midi;
    m.ticks_per_quarter_note = None;
    m.duration_seconds = f64::NAN;
    m.track_names = vec![];
    m.copyright = None;
    m.music.bpm = Some(f64::INFINITY);
    m.music.avg_bpm = None;
    m.music.time_signature_numerator = None;
    m.music.time_signature_denominator = None;
    m.music.key_signature = None;
    m.music.detected_key = None;
    m.music.key_confidence = Some(f64::NAN);
    m.music.pitch_range_min = None;
    m.music.pitch_range_max = None;
    m.music.avg_velocity = Some(f64::NEG_INFINITY);
    m.music.note_density = 0.0; // NOT NULL: a non-finite density would fail the batch in either format
    m.music.channels = vec![];
    m.music.programs = vec![];
    m.notes_fingerprint = None;
    m.transposed_fingerprint = None;

    let mut text = base(hash0 + 3, format!("{dir}/{}\t\n\r\\x.mid", odd_name()));
    text.path.filename = format!("nul\0in {}", odd_name());
    text.path.parent_folder = "100% \\N".into();
    text.path.collection = "ünïcödé 🎹".into();
    text.path.filename_key = Some(String::new());
    text.midi.copyright = Some("\\.\n\\N".into());
    text.midi.music.key_signature = Some("NULL".into());
    text.midi.track_names = [
        "",
        "NULL",
        "a\0b",
        "{x,y}",
        "\"q\"",
        "back\\slash",
        "tab\there\nnl",
        " lead ",
        "ü🎹",
        "%41",
    ]
    .map(String::from)
    .to_vec();
    vec![rich, extreme, blank, text]
}

fn location(c: &ContentRecord, path: String, mtime: i64) -> LocationRecord {
    LocationRecord {
        hash: c.hash,
        location: path,
        size: c.size,
        mtime,
        archive: None,
        meta: c.path.location(),
    }
}

/// Each record at its own location, plus second locations of the first two (duplicates).
fn locations(rs: &[ContentRecord]) -> Vec<LocationRecord> {
    let mut out: Vec<LocationRecord> = rs
        .iter()
        .map(|c| location(c, c.location.clone(), 1_700_000_000))
        .collect();
    out.push(location(&rs[0], format!("{}.copy", rs[0].location), i64::MIN));
    out.push(location(&rs[1], format!("{}.copy", rs[1].location), i64::MAX));
    out
}

/// A fresh library written in `format`: the edge records through the direct path, the same again under other
/// hashes and paths through the staging path.
async fn library(format: CopyFormat) -> TestDb {
    let db = fresh_db().await;
    let run: i64 = sqlx::query_scalar(
        "INSERT INTO import_runs (sources, mode, status) VALUES ('{x}', 'normal', 'running') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    writer::prepare(&mut conn, false).await.unwrap();
    let ctx = BatchContext {
        run_id: run,
        repair: false,
        copy: format,
        ..Default::default()
    };
    let (direct, staged) = (records(1, "/direct"), records(101, "/staged"));
    let (dl, sl) = (locations(&direct), locations(&staged));
    let out = writer::write_batch_direct(
        &mut conn,
        ctx,
        &direct.iter().collect::<Vec<_>>(),
        &dl.iter().collect::<Vec<_>>(),
        &[],
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("{format:?} direct write: {e}"))
    .expect("nothing collides in a fresh library");
    assert_eq!((out.new_files, out.locations), (4, 6), "{format:?}");
    let out = writer::write_batch(
        &mut conn,
        ctx,
        &staged.iter().collect::<Vec<_>>(),
        &sl.iter().collect::<Vec<_>>(),
        &[],
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("{format:?} staged write: {e}"));
    assert_eq!((out.new_files, out.locations), (4, 6), "{format:?}");
    db
}

/// Every written table (and the trigger-kept search rows) as JSON, ids replaced by the content they stand for.
/// With `by_content`, a content found at several paths leaves out what its name gives, in its file, search row and
/// locations (which of its paths was seen first is a race between parsers, and a location keeps only what differs
/// from that first one); everything else is compared.
async fn dump(pool: &sqlx::PgPool, by_content: bool) -> Value {
    // As text: serde_json cannot read back every extreme double that jsonb prints.
    let (files, meta, locs, search): (String, String, String, String) = sqlx::query_as(
        "WITH named AS (SELECT f.id, CASE WHEN $1 AND (SELECT count(*) FROM file_locations l WHERE l.file_id = f.id) > 1 \
              THEN ARRAY['filename', 'filepath', 'parent_folder', 'collection', 'filename_bpm', 'filename_key', \
                         'name_sort'] \
              ELSE ARRAY[]::text[] END AS racy FROM files f) \
         SELECT \
         (SELECT jsonb_agg(to_jsonb(f) - 'id' - 'created_at' - n.racy ORDER BY f.content_hash)::text \
                 FROM files f JOIN named n USING (id)), \
         (SELECT jsonb_agg(to_jsonb(m) - 'file_id' || jsonb_build_object('hash', f.content_hash) \
                 ORDER BY f.content_hash)::text FROM musical_metadata m JOIN files f ON f.id = m.file_id), \
         (SELECT jsonb_agg(to_jsonb(l) - 'id' - 'file_id' - n.racy || jsonb_build_object('hash', f.content_hash) \
                 ORDER BY l.path)::text FROM file_locations l JOIN files f ON f.id = l.file_id \
                 JOIN named n ON n.id = f.id), \
         (SELECT jsonb_agg(to_jsonb(s) - 'file_id' - n.racy || jsonb_build_object('hash', f.content_hash) \
                 ORDER BY f.content_hash)::text FROM search_rows s JOIN files f ON f.id = s.file_id \
                 JOIN named n ON n.id = f.id)",
    )
    .bind(by_content)
    .fetch_one(pool)
    .await
    .expect("dump the library");
    let rows = |t: String| Value::Array(t.split("}, {").map(|r| Value::String(r.to_string())).collect());
    json!({ "files": rows(files), "musical_metadata": rows(meta), "file_locations": rows(locs), "search_rows": rows(search) })
}

#[tokio::test]
async fn binary_rows_read_back_equal_to_text_rows() {
    let text = dump(&library(CopyFormat::Text).await.pool, false).await;
    let binary = dump(&library(CopyFormat::Binary).await.pool, false).await;
    for table in ["files", "musical_metadata", "file_locations", "search_rows"] {
        let (t, b) = (&text[table], &binary[table]);
        let n = if table == "file_locations" { 12 } else { 8 };
        assert_eq!(t.as_array().map(Vec::len), Some(n), "{table} (text): {t:#}");
        let (t, b) = (t.as_array().unwrap(), b.as_array().unwrap());
        assert_eq!(t.len(), b.len(), "{table}: row counts differ");
        for (tr, br) in t.iter().zip(b) {
            assert_eq!(tr, br, "{table}: the binary row differs from the text row");
        }
    }
}

/// The edge values are stored as themselves (so the comparison above compares something): NULLs, extremes, an
/// empty array that is not NULL, NUL dropped, a non-UTF-8 name as its escaped location, infinity and NaN in `real`.
#[tokio::test]
async fn binary_edge_values_are_stored_as_themselves() {
    let db = library(CopyFormat::Binary).await;
    let row = |path: String| {
        let pool = db.pool.clone();
        async move {
            let v: Value = sqlx::query_scalar(
                "SELECT (to_jsonb(f) || to_jsonb(m) || jsonb_build_object('mtime', l.mtime, 'loc_size', l.size)) \
                 - 'duration_seconds' - 'note_density' - 'avg_bpm' - 'bpm' - 'avg_velocity' - 'key_confidence' \
                 FROM file_locations l JOIN files f ON f.id = l.file_id JOIN musical_metadata m ON m.file_id = f.id \
                 WHERE l.path = $1",
            )
            .bind(&path)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
            v
        }
    };
    for dir in ["/direct", "/staged"] {
        let x = row(format!("{dir}/extreme.mid")).await;
        assert_eq!(x["file_size_bytes"], json!(i64::MAX), "{dir}");
        assert_eq!(x["loc_size"], json!(i64::MAX), "{dir}");
        assert_eq!(x["duration_ticks"], json!(i64::MIN), "{dir}");
        assert_eq!(x["format"], json!(i16::MIN), "{dir}");
        assert_eq!(x["total_notes"], json!(i32::MIN), "{dir}");
        assert_eq!(x["channels"], json!([i16::MIN, -1, 0, i16::MAX]), "{dir}");
        assert_eq!(x["programs"].as_array().map(Vec::len), Some(128), "{dir}");
        assert_eq!(x["is_karaoke"], json!(true), "{dir}");
        // Floats read typed, bit for bit (JSON would round through decimal text).
        let (secs, avg_bpm, key_conf, fbpm): (f64, f64, f64, f32) = sqlx::query_as(
            "SELECT f.duration_seconds, m.avg_bpm, m.key_confidence, f.filename_bpm FROM files f \
             JOIN musical_metadata m ON m.file_id = f.id WHERE f.filepath = $1",
        )
        .bind(format!("{dir}/extreme.mid"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(secs.to_bits(), f64::MAX.to_bits(), "{dir}");
        assert_eq!(avg_bpm.to_bits(), 5e-324f64.to_bits(), "{dir}");
        assert_eq!(key_conf.to_bits(), (-0.0f64).to_bits(), "{dir}: negative zero");
        assert_eq!(fbpm, f32::INFINITY, "{dir}");
        let nan: f32 = sqlx::query_scalar("SELECT filename_bpm FROM files WHERE filepath = $1")
            .bind(format!("{dir}/blank.mid"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(nan.is_nan(), "{dir}: real keeps NaN");
        let copy = row(format!("{dir}/extreme.mid.copy")).await;
        assert_eq!(copy["mtime"], json!(i64::MAX), "{dir}");

        let b = row(format!("{dir}/blank.mid")).await;
        for col in [
            "ticks_per_quarter_note",
            "copyright",
            "filename_key",
            "notes_fingerprint",
        ] {
            assert_eq!(b[col], Value::Null, "{dir}: {col}");
        }
        let null_floats: bool = sqlx::query_scalar(
            "SELECT f.duration_seconds IS NULL AND m.bpm IS NULL AND m.avg_bpm IS NULL AND m.key_confidence IS NULL \
             AND m.avg_velocity IS NULL FROM files f JOIN musical_metadata m ON m.file_id = f.id WHERE f.filepath = $1",
        )
        .bind(format!("{dir}/blank.mid"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(null_floats, "{dir}: NaN, infinities and absent doubles are NULL");
        assert_eq!((&b["programs"], &b["track_names"]), (&json!([]), &json!([])), "{dir}");
        assert_eq!(b["filename"], json!(""), "{dir}");

        let t = row(format!("{dir}/{}\t\n\r\\x.mid", odd_name())).await;
        assert_eq!(t["filename"], json!(format!("nulin {}", odd_name())), "{dir}");
        assert!(
            odd_name().contains("%E9") && odd_name().contains("%2541"),
            "{}",
            odd_name()
        );
        assert_eq!(t["filename_key"], json!(""), "{dir}");
        assert_eq!(t["key_signature"], json!("NULL"), "{dir}");
        assert_eq!(t["track_names"][2], json!("ab"), "{dir}");
        assert_eq!(t["track_names"][1], json!("NULL"), "{dir}");
        assert_eq!(t["copyright"], json!("\\.\n\\N"), "{dir}");
    }
}

/// The real binary: one import of the shared corpus per format (`MIDI_TUI_COPY`), the two libraries equal, and
/// each run's log naming the format it used.
#[tokio::test]
async fn an_import_stores_the_same_library_in_either_format() {
    let corpus = corpus();
    let mut dumps = Vec::new();
    for format in ["text", "binary"] {
        let db = fresh_db().await;
        let dir = temp_dir("copy");
        let o = run_bin(
            &[
                "--data-dir",
                dir.to_str().unwrap(),
                "--database-url",
                &db.url,
                "import",
                "--json",
                corpus.to_str().unwrap(),
            ],
            &[("MIDI_TUI_COPY", format)],
        );
        assert!(o.status.success(), "{format}: {}\n{}", stdout(&o), stderr(&o));
        let logs = read_tree(&dir);
        assert!(
            logs.contains(&format!("COPY {format}")),
            "{format}: the run log does not name the format"
        );
        let _ = std::fs::remove_dir_all(&dir);
        let files = scalar(&db.pool, "SELECT count(*) FROM files").await;
        assert!(files > 1000, "{format}: {files} files");
        dumps.push(dump(&db.pool, true).await);
    }
    for table in ["files", "musical_metadata", "file_locations", "search_rows"] {
        // Run ids and mtimes are the same in both (one run each, same files).
        assert!(
            dumps[0][table] == dumps[1][table],
            "{table}: text and binary libraries differ"
        );
    }
}

/// Every file's text under `dir`, concatenated.
fn read_tree(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out += &read_tree(&p);
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            out += &t;
        }
    }
    out
}
