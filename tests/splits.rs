//! `export --split`: whole duplicate groups in one split at 100,000 files, the same seed giving the same manifest,
//! the summary per split; `midi-tui features` computes the features of files imported without them.
mod common;

use std::collections::HashMap;
use std::path::Path;

use midi_tui::database::Target;
use midi_tui::engine::library::splits::{SplitOptions, SplitSpec};
use midi_tui::engine::library::{Query, Sort};
use midi_tui::engine::run::session::Engine;

/// `n` files whose notes fall into groups as a real library's do: every third file shares its notes with the
/// others of its group of five, every fifth is a transposed copy of its neighbour's group (so groups chain), the
/// rest stand alone.
async fn load_grouped(pool: &sqlx::PgPool, n: i64) {
    sqlx::query(
        "INSERT INTO files (id, content_hash, filename, filepath, parent_folder, collection, file_size_bytes, format, \
             num_tracks, ticks_per_quarter_note, duration_ticks, duration_seconds) \
         SELECT i, sha256(int8send(i)), 'f' || i || '.mid', 'lib/f' || i || '.mid', 'lib', 'lib', 1000, 1, 2, 480, \
             9600, 10 + i % 50 FROM generate_series(1, $1::bigint) AS i",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO musical_metadata (file_id, total_notes, programs, has_drums, notes_fingerprint, \
             transposed_fingerprint) \
         SELECT i, 100 + i % 7, '{}', false, \
             substr(sha256(int8send(CASE WHEN i % 3 = 0 THEN -(i / 15) ELSE i END)), 1, 16), \
             substr(sha256(int8send(CASE WHEN i % 5 = 0 THEN -1000000 - (i / 10) \
                 WHEN i % 3 = 0 THEN -(i / 15) ELSE i END)), 1, 16) \
         FROM generate_series(1, $1::bigint) AS i",
    )
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO file_locations (file_id, path, size, mtime) SELECT id, filepath, 1000, 0 FROM files")
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_split_of_100k_files_keeps_every_group_whole_and_the_seed_decides() {
    let db = common::fresh_db().await;
    let n = 100_000;
    load_grouped(&db.pool, n).await;
    let engine = Engine::open(Target::External(db.url.clone()), common::temp_dir("splits-engine"))
        .await
        .unwrap();
    let hits = engine
        .search_all(&Query::default(), Sort::default(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(hits.len(), n as usize);
    let opts = |seed| SplitOptions {
        spec: Some("train=0.8,valid=0.1,test=0.1".parse::<SplitSpec>().unwrap()),
        seed,
        group_similar: None,
        one_per_group: false,
    };
    let a = engine.split_hits(hits.clone(), &opts(7)).await.unwrap();
    let split_of: HashMap<i64, &str> = a.hits.iter().zip(&a.split).map(|(h, s)| (h.id, s.as_str())).collect();
    assert_eq!(split_of.len(), n as usize);

    // Every group of the library (either fingerprint) in one split: checked on the fingerprints themselves.
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT file_id, notes_fingerprint, transposed_fingerprint FROM musical_metadata")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let mut checked = 0;
    for column in [1, 2] {
        let mut seen: HashMap<&[u8], &str> = HashMap::new();
        for (id, fp, tfp) in &rows {
            let key = if column == 1 { fp.as_slice() } else { tfp.as_slice() };
            let s = split_of[id];
            if let Some(other) = seen.insert(key, s) {
                assert_eq!(other, s, "file {id}'s group is in {other} and {s}");
                checked += 1;
            }
        }
    }
    assert!(checked > 40_000, "only {checked} files shared a group");
    let files: usize = a.summary.iter().map(|s| s.files).sum();
    assert_eq!(files, n as usize);
    let train = a.summary.iter().find(|s| s.name == "train").unwrap();
    assert!((70_000..90_000).contains(&train.files), "{:?}", a.summary);
    let hours: f64 = a.summary.iter().map(|s| s.hours).sum();
    let expected: f64 = hits.iter().map(|h| h.duration_seconds.unwrap()).sum::<f64>() / 3600.0;
    assert!((hours - expected).abs() < 1e-6, "{hours} hours, {expected} expected");

    // The same seed gives the same splits; another seed moves groups.
    let again = engine.split_hits(hits.clone(), &opts(7)).await.unwrap();
    assert_eq!(again.split, a.split);
    let other = engine.split_hits(hits.clone(), &opts(8)).await.unwrap();
    assert_ne!(other.split, a.split);

    // One per group: every group keeps exactly one file, its longest.
    let one = SplitOptions {
        one_per_group: true,
        ..opts(7)
    };
    let kept = engine.split_hits(hits, &one).await.unwrap();
    assert_eq!(kept.hits.len() + kept.left_out, n as usize);
    assert!(kept.left_out > 20_000, "{} left out", kept.left_out);
    let groups: usize = a.summary.iter().map(|s| s.groups).sum();
    assert_eq!(kept.hits.len(), groups);
}

fn run(url: &str, args: &[&str]) -> std::process::Output {
    common::run_on(url, args)
}

fn manifest_export(url: &str, out: &Path, manifest: &Path, seed: &str) -> serde_json::Value {
    let o = run(
        url,
        &[
            "export",
            "--out",
            out.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--split",
            "train=0.8,valid=0.1,test=0.1",
            "--seed",
            seed,
            "--json",
        ],
    );
    assert!(o.status.success(), "{}{}", common::stdout(&o), common::stderr(&o));
    serde_json::from_str(common::stdout(&o).trim()).unwrap()
}

#[tokio::test]
async fn export_writes_the_split_column_and_the_summary_and_features_are_backfilled() {
    let db = common::fresh_db().await;
    let lib = common::temp_dir("split-lib");
    let groove = common::corpus().join("groove");
    let mut stack = vec![groove];
    let mut copied = 0;
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if copied < 60 && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mid")) {
                std::fs::copy(&p, lib.join(format!("{copied:02}.mid"))).unwrap();
                copied += 1;
            }
        }
    }
    assert!(copied > 30, "{copied} files");
    let summary = common::import_json(&db.url, &[lib.to_str().unwrap()]);
    assert_eq!(summary["status"], "done", "{summary}");

    let dir = common::temp_dir("split-out");
    let (m1, m2) = (dir.join("m1.csv"), dir.join("m2.csv"));
    let s1 = manifest_export(&db.url, &dir.join("a"), &m1, "3");
    let s2 = manifest_export(&db.url, &dir.join("b"), &m2, "3");
    let (t1, t2) = (
        std::fs::read_to_string(&m1).unwrap(),
        std::fs::read_to_string(&m2).unwrap(),
    );
    let strip = |t: &str| t.replace("/a/", "/").replace("/b/", "/");
    assert_eq!(strip(&t1), strip(&t2), "the same seed, another manifest");
    let header = t1.lines().next().unwrap();
    assert!(header.ends_with(",split"), "{header}");
    let rows = t1.lines().skip(1).count();
    let names: Vec<&str> = t1.lines().skip(1).map(|l| l.rsplit(',').next().unwrap()).collect();
    assert!(
        names.iter().all(|s| ["train", "valid", "test"].contains(s)),
        "{names:?}"
    );
    let splits = s1["splits"].as_array().unwrap();
    let files: u64 = splits.iter().map(|s| s["files"].as_u64().unwrap()).sum();
    assert_eq!(files as usize, rows, "{s1}");
    for s in splits {
        let n = names.iter().filter(|x| **x == s["name"].as_str().unwrap()).count();
        assert_eq!(n as u64, s["files"].as_u64().unwrap(), "{s}");
    }
    assert_eq!(s1["splits"], s2["splits"]);

    // Features: files imported before them (none stored) are computed from their locations; a file whose source
    // is gone is counted and left without.
    let before: Vec<(i64, Option<Vec<f32>>)> =
        sqlx::query_as("SELECT file_id, features FROM musical_metadata ORDER BY file_id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    sqlx::query("UPDATE musical_metadata SET features = NULL, features_version = NULL, coarse = NULL")
        .execute(&db.pool)
        .await
        .unwrap();
    let gone: String = sqlx::query_scalar("SELECT path FROM file_locations ORDER BY path LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    std::fs::remove_file(&gone).unwrap();
    let o = run(&db.url, &["features", "--json"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let r: serde_json::Value = serde_json::from_str(common::stdout(&o).trim()).unwrap();
    let with_notes = before.iter().filter(|b| b.1.is_some()).count() as u64;
    assert_eq!(r["sources_gone"], 1, "{r}");
    assert_eq!(r["computed"].as_u64().unwrap() + 1, with_notes, "{r}");
    let after: Vec<(i64, Option<Vec<f32>>)> =
        sqlx::query_as("SELECT file_id, features FROM musical_metadata ORDER BY file_id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let differ = before.iter().zip(&after).filter(|(b, a)| b.1 != a.1).count();
    assert_eq!(differ, 1, "only the file whose source is gone lacks its features");
    let o = run(&db.url, &["features"]);
    assert!(
        common::stdout(&o).contains("1 whose locations no longer hold"),
        "{}",
        common::stdout(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&lib);
}
