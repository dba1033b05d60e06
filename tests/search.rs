//! The library search: every field served by an index at 100k rows, keyset pages that add up to the whole answer,
//! and `midi-tui search` on the real corpus returning what the same filter written by hand in SQL returns.
mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use midi_tui::database::search;
use midi_tui::engine::library::{Cursor, Query, Sort};
use sqlx::PgPool;

/// `n` synthetic files with realistic spreads (tempo 60..200, 4/4 mostly, a quarter with a declared key, a third
/// with drums, lengths up to ten minutes, every fifth file in a group of ten with the same notes), loaded by SQL
/// alone, then analysed.
async fn load_synthetic(pool: &PgPool, n: i64) {
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO files (id, content_hash, filename, filepath, parent_folder, collection, file_size_bytes, format, \
             num_tracks, ticks_per_quarter_note, duration_ticks, duration_seconds, track_names, copyright) \
         SELECT i, sha256(int8send(i)), name, 'coll' || (i % 50) || '/folder' || (i % 2000) || '/' || name, \
             'folder' || (i % 2000), 'coll' || (i % 50), 1000 + (i * 7919) % 90000, (i % 3)::smallint, \
             CASE WHEN i % 5 = 0 THEN 1 ELSE 2 + (i * 7) % 15 END, 480, (i * 37) % 300000, \
             CASE WHEN i % 97 = 0 THEN NULL ELSE 5 + ((i * 37) % 5950) / 10.0 END, \
             ARRAY[CASE WHEN i % 1000 = 0 THEN 'Fretless Solo' \
                 ELSE (ARRAY['Drums', 'Bass', 'Piano', 'Strings', 'Lead'])[1 + i % 5] END, 'Track ' || (i % 10)], \
             CASE WHEN i % 10 = 0 THEN 'Copyright ' || (i % 300) END \
         FROM generate_series(1, $1::bigint) AS i, \
             LATERAL (SELECT (ARRAY['groove', 'funk', 'bass', 'piano', 'ballad', 'loop', 'fill', 'intro'])[1 + i % 8] \
                 || '_' || i || '.mid' AS name) AS n",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO musical_metadata (file_id, bpm, time_signature_numerator, time_signature_denominator, \
             key_signature, detected_key, key_confidence, total_notes, programs, has_drums, notes_fingerprint, \
             features, features_version) \
         SELECT i, CASE WHEN i % 20 = 0 THEN NULL ELSE 60 + ((i * 7919) % 14000) / 100.0 END, \
             (ARRAY[4, 4, 4, 4, 4, 4, 3, 6, 7, 5])[1 + i % 10], (ARRAY[4, 4, 4, 4, 4, 4, 4, 8, 8, 4])[1 + i % 10], \
             CASE WHEN i % 4 = 0 THEN k.names[1 + (i * 5) % 30] END, k.names[1 + (i * 13) % 30], 0.8, \
             (i * 31) % 5000, ARRAY[(i % 128), ((i * 3) % 128)]::smallint[], i % 3 = 0, \
             CASE WHEN i % 13 <> 0 THEN substr(sha256(int8send(CASE WHEN i % 5 = 0 THEN -(i / 50) ELSE i END)), 1, 16) \
                 END, \
             CASE WHEN i % 7 <> 0 THEN ARRAY(SELECT ((i * (d + 7919)) % 1000) / 1000.0 \
                 FROM generate_series(1, 50) AS d)::real[] END, CASE WHEN i % 7 <> 0 THEN 1 END \
         FROM generate_series(1, $1::bigint) AS i, \
             (SELECT ARRAY['C', 'G', 'D', 'A', 'E', 'B', 'F#', 'C#', 'F', 'Bb', 'Eb', 'Ab', 'Db', 'Gb', 'Cb', \
                 'Am', 'Em', 'Bm', 'F#m', 'C#m', 'G#m', 'D#m', 'Dm', 'Gm', 'Cm', 'Fm', 'Bbm', 'Ebm', 'Abm', 'A#m'] \
                 AS names) AS k",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO file_locations (file_id, path, size, mtime) SELECT id, filepath, file_size_bytes, 0 FROM files",
    )
    .execute(pool)
    .await
    .unwrap();
    // Names written by hand get their natural-order keys as a library migrated from before them does.
    let mut conn = pool.acquire().await.unwrap();
    midi_tui::database::name_order::fill_missing(&mut conn).await.unwrap();
    // Features written by hand get their coarse vectors (what `like:`'s index holds) the same way.
    midi_tui::database::similar::fill_coarse(&mut conn).await.unwrap();
    drop(conn);
    // VACUUM as well: the narrow table's first pages are read from its covering indexes alone once the visibility
    // map says its pages are all visible, as it does some time after an import.
    sqlx::raw_sql("ANALYZE files; ANALYZE musical_metadata; ANALYZE file_locations")
        .execute(pool)
        .await
        .unwrap();
    // One statement each: a multi-statement string runs as one transaction, which VACUUM refuses.
    for vacuum in ["VACUUM ANALYZE search_rows", "VACUUM file_locations"] {
        sqlx::raw_sql(vacuum).execute(pool).await.unwrap();
    }
    eprintln!("loaded {n} synthetic files in {:?}", started.elapsed());
}

/// Every (node type, relation) of a plan, depth first.
fn plan_nodes(plan: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let text = |k: &str| plan.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    if plan.get("Node Type").is_some() {
        out.push((text("Node Type"), text("Relation Name")));
    }
    for child in plan.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
        plan_nodes(child, out);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_field_is_served_by_an_index_at_100k_files() {
    let db = common::fresh_db().await;
    load_synthetic(&db.pool, 100_000).await;
    let queries = [
        "bpm:118..124",
        "bpm:~120",
        "bpm:>190",
        "key:Cm",
        "key:Cm~",
        "ts:6/8",
        "ts:7",
        "dur:30..32",
        "dur:..6",
        "notes:>4990",
        "notes:100..110",
        "drums:yes",
        "drums:no",
        "program:33",
        "inst:bass",
        "inst:fretless",
        "tracks:1",
        "coll:coll7",
        "folder:folder1234",
        "name:groove_1234",
        "name:~grove_12345",
        "Strings",
        "fretless",
        "Copyright",
        "bpm:118..124 ts:4/4 drums:yes",
        "key:Am~ dur:..60 inst:piano",
        "dupes:2",
        "^dupes:2",
        "dupes:4 drums:yes",
    ];
    let sorts = ["name", "-bpm", "dur", "-notes", "tracks", "-size", "added"];
    let mut checked = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let query = Query::parse(q).unwrap();
        // Each query with the default order and with one of the other orders.
        for sort in ["name", sorts[i % sorts.len()]] {
            let sort: Sort = sort.parse().unwrap();
            let plan = search::explain(&db.pool, &query, sort, 50).await.unwrap();
            let mut nodes = Vec::new();
            plan_nodes(&plan[0]["Plan"], &mut nodes);
            let seq: Vec<_> = nodes
                .iter()
                .filter(|(node, rel)| {
                    node == "Seq Scan" && ["files", "musical_metadata", "search_rows"].contains(&rel.as_str())
                })
                .collect();
            assert!(
                seq.is_empty(),
                "`{q}` sorted {sort:?} scans a table: {nodes:?}\n{plan:#}"
            );
            assert!(
                nodes.iter().any(|(node, _)| node.contains("Index")),
                "`{q}` uses no index: {nodes:?}"
            );
            checked.push(q);
        }
    }
    // Filters the narrow table holds, in an order one of its covering indexes gives, read that index alone; a
    // rarer combination may be found through the narrow table's other indexes first, never by reading it whole.
    for (q, sort, index) in [
        ("ts:6/8", "name", Some("search_rows_name_sort_idx")),
        ("ts:6/8", "dur", Some("search_rows_duration_idx")),
        ("drums:yes", "-bpm", Some("search_rows_bpm_idx")),
        ("drums:no", "notes", Some("search_rows_notes_idx")),
        ("key:Cm dur:..120 inst:piano", "name", None),
        ("name:loop notes:>200 ^drums:yes", "name", None),
    ] {
        let plan = search::explain(&db.pool, &Query::parse(q).unwrap(), sort.parse().unwrap(), 50)
            .await
            .unwrap();
        let mut nodes = Vec::new();
        plan_nodes(&plan[0]["Plan"], &mut nodes);
        let narrow: Vec<_> = nodes.iter().filter(|(_, rel)| rel == "search_rows").collect();
        assert!(
            !narrow.is_empty() && narrow.iter().all(|(node, _)| node != "Seq Scan"),
            "`{q}` sorted {sort}: {nodes:?}"
        );
        if let Some(index) = index {
            assert!(
                narrow.iter().any(|(node, _)| node == "Index Only Scan") && plan.to_string().contains(index),
                "`{q}` sorted {sort} walks {index}: {plan:#}"
            );
        }
    }
    // A rare bare word reads the track names through their own index.
    let plan = search::explain(&db.pool, &Query::parse("fretless").unwrap(), Sort::default(), 50)
        .await
        .unwrap();
    assert!(plan.to_string().contains("files_track_names_trgm_idx"), "{plan:#}");
    // A page's locations come from the (file id, path) index alone: cold, a file found in many places would
    // otherwise cost a heap read every few locations.
    let ids: Vec<i64> = (1..=50).map(|i| i * 1999).collect();
    let plan = search::explain_locations(&db.pool, &ids).await.unwrap();
    let mut nodes = Vec::new();
    plan_nodes(&plan[0]["Plan"], &mut nodes);
    assert!(
        nodes.contains(&("Index Only Scan".to_string(), "file_locations".to_string()))
            && plan.to_string().contains("file_locations_file_id_idx"),
        "{plan:#}"
    );
    // Latency of the first page of each query, hot (printed for the record; the bench owns the 1M figures).
    let engine_pool = db.pool.clone();
    for q in queries {
        let query = Query::parse(q).unwrap();
        let t = Instant::now();
        let page = search::page(&engine_pool, &query, Sort::default(), 50, None, true)
            .await
            .unwrap();
        eprintln!("{q:40} {:>3} rows {:>8.1?}", page.hits.len(), t.elapsed());
    }
    assert_eq!(checked.len(), queries.len() * 2);
}

/// All matching ids in the order a sort gives, by hand, for comparing with paged results.
async fn ids_by_hand(pool: &PgPool, where_sql: &str, order_sql: &str) -> Vec<i64> {
    let sql = format!(
        "SELECT f.id FROM files f JOIN musical_metadata m ON m.file_id = f.id WHERE {where_sql} ORDER BY {order_sql}"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn keyset_pages_add_up_to_the_whole_ordered_answer() {
    let db = common::fresh_db().await;
    load_synthetic(&db.pool, 3_000).await;
    // Nullable fields (bpm, duration) put the files without a value last, in both directions.
    let cases = [
        ("drums:yes", "-bpm", "m.has_drums", "m.bpm DESC NULLS LAST, f.id DESC"),
        (
            "ts:4/4",
            "bpm",
            "m.time_signature_numerator = 4 AND m.time_signature_denominator = 4",
            "m.bpm NULLS LAST, f.id",
        ),
        ("", "dur", "TRUE", "f.duration_seconds NULLS LAST, f.id"),
        ("coll:coll3", "name", "f.collection = 'coll3'", "f.name_sort, f.id"),
        (
            "^drums:yes",
            "-notes",
            "NOT m.has_drums",
            "m.total_notes DESC, f.id DESC",
        ),
        (
            "inst:bass",
            "added",
            "m.programs && '{32,33,34,35,36,37,38,39}'",
            "f.id",
        ),
    ];
    for (q, sort, where_sql, order_sql) in cases {
        let want = ids_by_hand(&db.pool, where_sql, order_sql).await;
        assert!(want.len() > 20, "`{q}` matches enough rows to page: {}", want.len());
        let query = Query::parse(q).unwrap();
        let sort: Sort = sort.parse().unwrap();
        let mut got = Vec::new();
        let mut after: Option<Cursor> = None;
        let mut pages = 0;
        loop {
            let page = search::page(&db.pool, &query, sort, 7, after.as_ref(), true)
                .await
                .unwrap();
            assert!(page.hits.len() <= 7);
            got.extend(page.hits.iter().map(|h| h.id));
            pages += 1;
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(got, want, "`{q}` sorted {sort:?}");
        assert!(pages >= want.len() / 7, "{pages} pages");
    }
    // Every hit carries its locations.
    let page = search::page(
        &db.pool,
        &Query::parse("coll:coll3").unwrap(),
        Sort::default(),
        5,
        None,
        true,
    )
    .await
    .unwrap();
    assert!(
        page.hits.iter().all(|h| h.locations == vec![h.path.clone()]),
        "{:?}",
        page.hits
    );
    // The console's list reads the same files without their locations.
    let bare = search::page(
        &db.pool,
        &Query::parse("coll:coll3").unwrap(),
        Sort::default(),
        5,
        None,
        false,
    )
    .await
    .unwrap();
    let ids = |p: &search::Page| p.hits.iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(ids(&bare), ids(&page));
    assert!(bare.hits.iter().all(|h| h.locations.is_empty()));
}

/// `midi-tui search --json` on the database: the content hashes it prints.
fn search_hashes(url: &str, args: &[&str]) -> BTreeSet<String> {
    common::search_json(url, args)
        .iter()
        .map(|v| {
            for key in [
                "path",
                "bpm",
                "key",
                "time_signature",
                "duration_seconds",
                "total_notes",
                "programs",
                "has_drums",
                "locations",
            ] {
                assert!(v.get(key).is_some(), "{key} missing: {v}");
            }
            v["content_hash"].as_str().unwrap().to_string()
        })
        .collect()
}

async fn hashes_by_hand(pool: &PgPool, where_sql: &str) -> BTreeSet<String> {
    let sql = format!(
        "SELECT encode(f.content_hash, 'hex') FROM files f JOIN musical_metadata m ON m.file_id = f.id \
         WHERE {where_sql}"
    );
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Rows of `search_rows` and of `files` joined with `musical_metadata` that the other lacks (0: in step).
async fn narrow_rows_out_of_step(pool: &PgPool) -> i64 {
    let joined = "SELECT f.id, f.filename, f.parent_folder, f.duration_seconds, f.num_tracks, m.bpm, \
         coalesce(m.key_signature, m.detected_key), m.time_signature_numerator, m.time_signature_denominator, \
         m.total_notes, m.programs, m.has_drums FROM files f JOIN musical_metadata m ON m.file_id = f.id";
    let narrow = "SELECT file_id, filename, parent_folder, duration_seconds, num_tracks, bpm, key, ts_num, ts_den, \
         total_notes, programs, has_drums FROM search_rows";
    common::scalar(
        pool,
        &format!("SELECT count(*) FROM (({joined} EXCEPT {narrow}) UNION ALL ({narrow} EXCEPT {joined})) d"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_narrow_search_table_follows_every_write() {
    let db = common::fresh_db().await;
    let pool = &db.pool;
    load_synthetic(pool, 500).await;
    assert_eq!(common::scalar(pool, "SELECT count(*) FROM search_rows").await, 500);
    assert_eq!(narrow_rows_out_of_step(pool).await, 0, "INSERT ... SELECT");
    // The writer's staging statement: the files row from a data-modifying CTE, its metadata in the same statement.
    sqlx::raw_sql(
        "WITH ins AS (INSERT INTO files (id, content_hash, filename, filepath, parent_folder, file_size_bytes, \
             duration_seconds) VALUES (100000, sha256('staged'), 'staged.mid', 'x/staged.mid', 'x', 10, 12.5) \
             RETURNING id) \
         INSERT INTO musical_metadata (file_id, bpm, detected_key, total_notes, programs, has_drums) \
         SELECT id, 99.5, 'F#m', 7, '{33}', true FROM ins",
    )
    .execute(pool)
    .await
    .unwrap();
    let key: String = sqlx::query_scalar("SELECT key FROM search_rows WHERE filename = 'staged.mid' AND bpm = 99.5")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(key, "F#m", "the detected key stands in for a missing key signature");
    sqlx::raw_sql("UPDATE musical_metadata SET key_signature = 'Cm', bpm = 77 WHERE file_id % 7 = 0")
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(narrow_rows_out_of_step(pool).await, 0, "UPDATE");
    sqlx::raw_sql("DELETE FROM musical_metadata WHERE file_id % 5 = 0; DELETE FROM files WHERE id % 11 = 0")
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(
        narrow_rows_out_of_step(pool).await,
        0,
        "DELETE, and the cascade from files"
    );
    // A library migrated from before the table: the migration fills it from the rows already there.
    sqlx::raw_sql("TRUNCATE search_rows").execute(pool).await.unwrap();
    let (_, _, sql) = midi_tui::database::migrate::MIGRATIONS
        .iter()
        .find(|(v, _, _)| *v == 7)
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(pool).await.unwrap();
    assert_eq!(narrow_rows_out_of_step(pool).await, 0, "backfill");
    // A crash that emptied the UNLOGGED library tables left the logged search rows behind: noting it clears them.
    sqlx::raw_sql(
        "ALTER TABLE musical_metadata DISABLE TRIGGER USER; DELETE FROM musical_metadata; \
         ALTER TABLE musical_metadata ENABLE TRIGGER USER",
    )
    .execute(pool)
    .await
    .unwrap();
    assert!(narrow_rows_out_of_step(pool).await > 0);
    // The similarity pack is logged too: noting a loss forgets it (its files are gone, and their ids come again).
    let packed = "UPDATE similarity_pack_state SET max_file_id = 1, files = 0, steps = array_fill(1, ARRAY[12]), \
                  built_at = now()";
    let pack = || midi_tui::database::similar_pack::covered(pool);
    sqlx::raw_sql(packed).execute(pool).await.unwrap();
    assert_eq!(pack().await.unwrap(), Some((0, 1)));
    midi_tui::database::lost_rows::note_partial_loss(pool, false)
        .await
        .unwrap();
    assert_eq!(narrow_rows_out_of_step(pool).await, 0, "partial loss");
    assert_eq!(pack().await.unwrap(), None, "partial loss forgets the pack");
    sqlx::raw_sql(packed).execute(pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO search_rows SELECT id, filename, parent_folder, duration_seconds, num_tracks, \
         1, 'C', 4, 4, 1, '{}', false FROM files",
    )
    .execute(pool)
    .await
    .unwrap();
    midi_tui::database::lost_rows::note_library_lost(pool).await.unwrap();
    assert_eq!(
        common::scalar(pool, "SELECT count(*) FROM search_rows").await,
        0,
        "library lost"
    );
    assert_eq!(pack().await.unwrap(), None, "a lost library forgets the pack");
}

#[tokio::test(flavor = "multi_thread")]
async fn search_on_the_real_corpus_equals_the_filters_written_in_sql() {
    let db = common::fresh_db().await;
    let corpus = common::corpus();
    let summary = common::import_json(&db.url, &[corpus.to_str().unwrap()]);
    assert_eq!(summary["status"], "done", "{summary}");
    let files = common::scalar(&db.pool, "SELECT count(*) FROM files").await;
    assert!(files > 1000, "{files} files imported");
    assert_eq!(
        narrow_rows_out_of_step(&db.pool).await,
        0,
        "the writer's rows reach the narrow table"
    );
    // Query terms, then the same filter by hand (an empty result is only accepted where marked).
    let cases: &[(&[&str], &str, bool)] = &[
        (&["bpm:118..124"], "m.bpm >= 118 AND m.bpm <= 124", true),
        (&["bpm:~120"], "m.bpm BETWEEN 116.4 AND 123.6", true),
        (&["bpm:120"], "m.bpm >= 119.5 AND m.bpm < 120.5", true),
        (
            &["key:C"],
            "coalesce(m.key_signature, m.detected_key) IN ('C', 'B#')",
            true,
        ),
        (
            &["key:Am~"],
            "coalesce(m.key_signature, m.detected_key) IN ('Am', 'C', 'B#', 'Em', 'Dm')",
            true,
        ),
        (
            &["ts:6/8"],
            "m.time_signature_numerator = 6 AND m.time_signature_denominator = 8",
            true,
        ),
        (&["ts:3"], "m.time_signature_numerator = 3", true),
        (&["dur:30..120"], "f.duration_seconds BETWEEN 30 AND 120", true),
        (&["dur:..10"], "f.duration_seconds <= 10", true),
        (&["notes:>1000"], "m.total_notes > 1000", true),
        (&["drums:yes"], "m.has_drums", true),
        (&["drums:no"], "NOT m.has_drums", true),
        (&["^drums:yes"], "NOT m.has_drums", true),
        (&["program:1"], "0 = ANY(m.programs)", true),
        (
            &["inst:bass"],
            "m.programs && '{32,33,34,35,36,37,38,39}'::smallint[]",
            true,
        ),
        (
            &["inst:guitar"],
            "m.programs && '{24,25,26,27,28,29,30,31}'::smallint[]",
            true,
        ),
        (&["tracks:1"], "f.num_tracks = 1", true),
        (&["coll:groove"], "f.collection = 'groove'", true),
        (&["folder:session1"], "f.parent_folder ILIKE '%session1%'", true),
        (&["name:funk"], "f.filename ILIKE '%funk%'", true),
        (
            &["name:~fnk"],
            "f.filename ILIKE '%fnk%' OR word_similarity('fnk', f.filename) >= 0.6",
            false,
        ),
        (
            &["piano"],
            "f.filename ILIKE '%piano%' OR array_to_string(f.track_names, ' ') ILIKE '%piano%' \
             OR f.copyright ILIKE '%piano%'",
            true,
        ),
        (
            &["dupes:2"],
            "m.notes_fingerprint IN (SELECT notes_fingerprint FROM musical_metadata GROUP BY 1 HAVING count(*) >= 2)",
            true,
        ),
        (
            &["bpm:100..140", "ts:4/4", "drums:yes"],
            "m.bpm BETWEEN 100 AND 140 AND m.time_signature_numerator = 4 \
             AND m.time_signature_denominator = 4 AND m.has_drums",
            true,
        ),
    ];
    for (args, where_sql, must_match) in cases {
        let t = Instant::now();
        let got = search_hashes(&db.url, args);
        let elapsed = t.elapsed();
        let want = hashes_by_hand(&db.pool, where_sql).await;
        eprintln!(
            "{:40} {:>5} files, search process {elapsed:?}",
            args.join(" "),
            got.len()
        );
        assert_eq!(got, want, "search {args:?} vs WHERE {where_sql}");
        if *must_match {
            assert!(!got.is_empty(), "the corpus has files for {args:?}");
            assert!((got.len() as i64) < files, "{args:?} filters something out");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_pages_prints_paths_and_refuses_bad_terms() {
    let db = common::fresh_db().await;
    load_synthetic(&db.pool, 1_500).await;
    let logs = common::temp_dir("logs");
    let run = |args: &[&str]| {
        let mut all = vec![
            "--data-dir",
            logs.to_str().unwrap(),
            "--database-url",
            db.url.as_str(),
            "search",
        ];
        all.extend_from_slice(args);
        common::run_bin(&all, &[])
    };
    // The table stops at --limit and says so.
    let out = run(&["coll:coll1", "--sort", "-bpm", "--limit", "3"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.contains("3 files shown; more may match"), "{text}");
    let bpms: Vec<f64> = text
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(bpms.windows(2).all(|w| w[0] >= w[1]), "{bpms:?}");
    // --paths lists every location of every match, past the 1000-row page size when there are more.
    let out = run(&["--paths", "^coll:coll1"]);
    let want = common::scalar(
        &db.pool,
        "SELECT count(*) FROM file_locations l JOIN files f ON f.id = l.file_id WHERE f.collection <> 'coll1'",
    )
    .await;
    assert_eq!(common::stdout(&out).lines().count() as i64, want);
    // A bad term: a usage error naming it and its column, and with --json one failure object.
    let out = run(&["drums:yes", "bpm:fast"]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(err.contains("`bpm:fast` at column 11"), "{err}");
    assert!(common::stdout(&out).is_empty());
    let out = run(&["--json", "key:H"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(common::stdout(&out).trim()).unwrap();
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().unwrap().contains("key:H"), "{v}");
    let out = run(&["--sort", "colour"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("cannot sort by `colour`"));
    let out = run(&["--sort", "bpm", "like:1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--sort on a like: query is refused, not ignored"
    );
    assert!(
        common::stderr(&out).contains("nearest files first"),
        "{}",
        common::stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&logs);
}

/// The index condition of the first walk of index `name` in its own order (`Order By`: a nearest-first walk, not a bitmap
/// of every match), an empty one when it has none.
fn walk_cond(plan: &serde_json::Value, name: &str) -> Option<String> {
    if plan.get("Index Name").and_then(|v| v.as_str()) == Some(name) && plan.get("Order By").is_some() {
        return Some(
            plan.get("Index Cond")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        );
    }
    plan.get("Plans")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .find_map(|child| walk_cond(child, name))
}

/// Every index name a plan reads, depth first.
fn plan_indexes(plan: &serde_json::Value, out: &mut BTreeSet<String>) {
    if let Some(name) = plan.get("Index Name").and_then(|v| v.as_str()) {
        out.insert(name.to_string());
    }
    for child in plan.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
        plan_indexes(child, out);
    }
}

/// Every secondary index of the catalog serves a query of the product, and at 100k files that query's plan reads
/// it (migration 0012 dropped the indexes no query read): the search in every order, alone and beside a bare word
/// or a collection (which take the joined tables), the other-location look-ups of `coll:`, `folder:` and `name:`,
/// a file's musical duplicates, a page's locations.
#[tokio::test(flavor = "multi_thread")]
async fn every_secondary_index_is_read_by_a_query_of_the_product() {
    use midi_tui::database::dupes::{self, DupeKind};
    let db = common::fresh_db().await;
    load_synthetic(&db.pool, 100_000).await;
    // The synthetic programs are all common: make one rare, as most are in a real library (the statement trigger
    // keeps search_rows in step).
    sqlx::raw_sql(
        "UPDATE musical_metadata SET programs = array_remove(programs, 119::smallint) \
         WHERE 119 = ANY(programs) AND file_id % 50 <> 0; ANALYZE musical_metadata; ANALYZE search_rows",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    // Rare values (a time signature, a track count and a program few files have) are found through their own
    // indexes, common ones by walking an order's index.
    let filters = [
        "",
        "bpm:118..124",
        "bpm:>190",
        "key:Cm",
        "key:Cm~",
        "ts:6/8",
        "ts:7",
        "ts:9/8",
        "dur:30..32",
        "notes:>4990",
        "notes:100..110",
        "drums:yes",
        "program:33",
        "program:120",
        "inst:fretless",
        "tracks:1",
        "tracks:40",
        "folder:folder1234",
        "name:groove_1234",
        "dupes:2",
        "like:1",
    ];
    let sorts = ["name", "-bpm", "dur", "-notes", "tracks", "-size", "added"];
    let mut used: std::collections::BTreeMap<String, String> = Default::default();
    for filter in filters {
        for prefix in ["", "fretless ", "coll:coll7 ", "name:~grove_12345 ", "Copyright "] {
            let q = format!("{prefix}{filter}");
            let query = Query::parse(&q).unwrap();
            for sort in sorts {
                let plan = if query.like().is_some() {
                    midi_tui::database::similar::explain(&db.pool, &query, 50)
                        .await
                        .unwrap()
                } else {
                    search::explain(&db.pool, &query, sort.parse().unwrap(), 50)
                        .await
                        .unwrap()
                };
                let mut names = BTreeSet::new();
                plan_indexes(&plan[0]["Plan"], &mut names);
                for n in names {
                    used.entry(n).or_insert_with(|| format!("`{q}` sorted {sort}"));
                }
            }
            // `coll:`, `folder:` and `name:` first look up the files another location of which matches (partial
            // indexes of file_locations, empty here: no copy is named differently).
            for plan in search::explain_other_locations(&db.pool, &query).await.unwrap() {
                let mut names = BTreeSet::new();
                plan_indexes(&plan[0]["Plan"], &mut names);
                for n in names {
                    used.entry(n).or_insert_with(|| format!("the other locations of `{q}`"));
                }
            }
        }
    }
    let fingerprint: Vec<u8> = sqlx::query_scalar(
        "SELECT notes_fingerprint FROM musical_metadata WHERE notes_fingerprint IS NOT NULL LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    for kind in [DupeKind::Musical, DupeKind::Transposed] {
        let plan = dupes::explain_members(&db.pool, kind, &fingerprint).await.unwrap();
        let mut names = BTreeSet::new();
        plan_indexes(&plan[0]["Plan"], &mut names);
        for n in names {
            used.entry(n).or_insert_with(|| format!("a file's {kind:?} duplicates"));
        }
    }
    // `like:` with `drums:` and `bpm:` tests both in the similarity index's entries (migrations 0022-0023): a spelling
    // the planner cannot match (`NOT has_drums`) would fetch and reject every nearby file of the other side.
    let q = Query::parse("like:1 bpm:100..130 ^drums:yes").unwrap();
    let plan = midi_tui::database::similar::explain(&db.pool, &q, 50).await.unwrap();
    let cond = walk_cond(&plan[0]["Plan"], "musical_metadata_like_idx")
        .unwrap_or_else(|| panic!("the similarity index walked for `like:1 bpm:100..130 ^drums:yes`: {plan}"));
    assert!(
        cond.contains("has_drums") && cond.contains("bpm"),
        "its index condition: {cond}"
    );
    // And `key:` in its places on the circle of fifths (migration 0023), on either side of the circle's seam.
    for q in ["like:1 key:Cm~", "like:1 key:F#~", "like:1 key:Am"] {
        let plan = midi_tui::database::similar::explain(&db.pool, &Query::parse(q).unwrap(), 50)
            .await
            .unwrap();
        let cond = walk_cond(&plan[0]["Plan"], "musical_metadata_like_idx")
            .unwrap_or_else(|| panic!("the similarity index walked for `{q}`: {plan}"));
        assert!(cond.contains("key_signature"), "`{q}`'s index condition: {cond}");
    }
    for (name, by) in &used {
        eprintln!("{name:48} read by {by}");
    }
    let unused: Vec<&str> = midi_tui::database::indexes::catalog()
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !used.contains_key(*n))
        .collect();
    assert!(unused.is_empty(), "secondary indexes no query reads: {unused:?}");
}
