//! Names in natural order (`2_` before `11_` before `101_`, letters without case) from the import through to
//! `search` and the browser's keyset pages, for a new library and for one imported before the keys existed.
mod common;

use gencorpus::generate_midi;
use midi_tui::database::search;
use midi_tui::engine::library::{Cursor, Query, Sort};
use midi_tui::engine::midi::natural_sort_key;
use sqlx::PgPool;

/// In the order a user expects; written to disk shuffled.
const NATURAL: [&str; 10] = [
    "2_x.mid",
    "11_x.mid",
    "101_x.mid",
    "126_x.mid",
    "a_x.mid",
    "B_x.mid",
    "track 9.mid",
    "Track 10.mid",
    "さくら (41).mid",
    "さくら (410).mid",
];

fn search_names(url: &str, args: &[&str]) -> Vec<String> {
    common::search_json(url, args)
        .iter()
        .map(|v| v["filename"].as_str().unwrap().to_string())
        .collect()
}

/// Every name of the library, page by page (`size` rows each), as the browser reads them.
async fn paged(pool: &PgPool, sort: &str, size: usize) -> Vec<String> {
    let (query, sort): (Query, Sort) = (Query::parse("").unwrap(), sort.parse().unwrap());
    let (mut names, mut after): (Vec<String>, Option<Cursor>) = (Vec::new(), None);
    loop {
        let page = search::page(pool, &query, sort, size, after.as_ref(), false)
            .await
            .unwrap();
        names.extend(page.hits.iter().map(|h| h.filename.clone()));
        match page.next {
            Some(c) => after = Some(c),
            None => return names,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn names_sort_naturally_from_the_import_to_search_and_every_page() {
    let db = common::fresh_db().await;
    let root = common::temp_dir("nat");
    let lib = root.join("nat lib");
    std::fs::create_dir_all(&lib).unwrap();
    for (i, name) in NATURAL.iter().enumerate().rev() {
        std::fs::write(lib.join(name), generate_midi(11, 100 + i as u64)).unwrap();
    }
    let summary = common::import_json(&db.url, &[lib.to_str().unwrap()]);
    assert_eq!(summary["status"], "done", "{summary}");
    let natural: Vec<String> = NATURAL.iter().map(|s| s.to_string()).collect();
    let mut reversed = natural.clone();
    reversed.reverse();
    assert_eq!(search_names(&db.url, &[""]), natural, "the default order");
    assert_eq!(search_names(&db.url, &["--sort", "-name", ""]), reversed);
    // A filter the narrow table serves, and one only the library tables do (a bare word), in name order.
    assert_eq!(search_names(&db.url, &["notes:>0"]), natural);
    assert_eq!(search_names(&db.url, &["coll:nat lib"]), natural);
    for size in [1, 3, 4] {
        assert_eq!(paged(&db.pool, "name", size).await, natural, "pages of {size}");
        assert_eq!(
            paged(&db.pool, "-name", size).await,
            reversed,
            "pages of {size}, descending"
        );
    }

    // The bench's grown library spells each copy's key in SQL: the engine's rule, checked row by row.
    midi_tui::database::bench::grow_library(&db.url, 12).await.unwrap();
    let rows: Vec<(String, Option<String>)> = sqlx::query_as("SELECT filename, name_sort FROM files")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 130);
    for (name, key) in rows {
        assert_eq!(key.as_deref(), Some(natural_sort_key(&name).as_str()), "{name}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_library_from_before_the_keys_gets_them_and_their_indexes() {
    let db = common::fresh_db_upto(14).await;
    for name in NATURAL.iter().rev() {
        sqlx::query(
            "WITH f AS (INSERT INTO files (content_hash, filename, filepath, parent_folder, collection, \
                 file_size_bytes) VALUES (sha256(convert_to($1, 'UTF8')), $1, '/old/' || $1, 'old', 'old', 100) \
                 RETURNING id) \
             INSERT INTO musical_metadata (file_id, total_notes) SELECT id, 10 FROM f",
        )
        .bind(name)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let applied = midi_tui::database::migrate::run(&db.pool).await.unwrap();
    assert!(applied.contains(&16), "{applied:?}");
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT f.filename, f.name_sort, s.name_sort FROM files f JOIN search_rows s ON s.file_id = f.id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), NATURAL.len());
    for (name, key, narrow) in rows {
        let want = natural_sort_key(&name);
        assert_eq!(
            (key.as_deref(), narrow.as_deref()),
            (Some(&*want), Some(&*want)),
            "{name}"
        );
    }
    for index in ["files_name_sort_idx", "search_rows_name_sort_idx"] {
        let n = common::scalar(
            &db.pool,
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{index}'"),
        )
        .await;
        assert_eq!(n, 1, "{index}");
    }
    for gone in ["files_filename_idx", "search_rows_name_idx"] {
        let n = common::scalar(
            &db.pool,
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{gone}'"),
        )
        .await;
        assert_eq!(n, 0, "{gone}");
    }
    let natural: Vec<String> = NATURAL.iter().map(|s| s.to_string()).collect();
    assert_eq!(paged(&db.pool, "name", 3).await, natural);
    assert_eq!(search_names(&db.url, &[""]), natural);
}
