//! What the tool stores and says is what happened: usage errors, collections from the source's layout through the
//! real pipeline to `search`, one definition of every figure across the final line, `--json` and the log.
mod common;

use common::*;

/// (exit code, stderr) of the binary with a data directory of the test's own (no server is needed to refuse).
fn refused(args: &[&str]) -> (i32, String) {
    let data = temp_dir("usage");
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run_bin(&all, &[]);
    let _ = std::fs::remove_dir_all(&data);
    (out.status.code().unwrap_or(-1), stderr(&out) + &stdout(&out))
}

#[test]
fn a_typo_is_a_usage_error_with_clap_s_suggestion() {
    let (code, text) = refused(&["improt"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unrecognized subcommand 'improt'"), "{text}");
    assert!(text.contains("similar subcommand exists: 'import'"), "{text}");
    let (code, text) = refused(&["frobnicate"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unrecognized subcommand 'frobnicate'"), "{text}");
    assert!(!text.contains("does not exist"), "not taken for a source: {text}");
}

#[test]
fn a_missing_source_is_refused_the_same_way_by_console_import_and_doctor() {
    let missing = "/no/such/dir";
    for args in [vec![missing], vec!["import", missing], vec!["doctor", missing]] {
        let (code, text) = refused(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(
            text.contains("error: source /no/such/dir does not exist"),
            "{args:?}: {text}"
        );
        assert!(
            !text.contains("verdict"),
            "{args:?}: doctor gave a verdict on nothing: {text}"
        );
    }
    // A relative spelling with a separator is a path too, not a subcommand.
    let (code, text) = refused(&["no/such"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("source no/such does not exist"), "{text}");
    // `--json` keeps its promise of one JSON object (exit code 1, as `search` does).
    let (code, text) = refused(&["doctor", "--json", missing]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(r#""status":"failed""#), "{text}");
}

// ---- Nothing passed over: every input leaves a row, a location or an ignored count ----

mod archives {
    use std::collections::{BTreeMap, HashMap};
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use gencorpus::{ArchiveKind, generate_midi, pack_folder};
    use midi_tui::engine::pipeline::{self, EngineEvent, ImportOptions, RunMode, RunSummary};
    use midi_tui::engine::source::{Limits, ReadEvent, read_archive};

    /// The error kinds (by code) and members of one archive, read directly.
    fn read(path: &Path) -> (Vec<(String, String)>, usize) {
        let (mut errors, mut members) = (Vec::new(), 0);
        read_archive("x", path, &Limits::default(), &mut |ev| {
            match ev {
                ReadEvent::Member(_) => members += 1,
                ReadEvent::Error { location, kind, .. } => errors.push((location, kind.code().to_string())),
                ReadEvent::Skipped { .. } => {}
            }
            true
        });
        (errors, members)
    }

    /// A dry-run import of one source: its summary and the paths of its error events.
    pub fn dry_run(source: &Path) -> (RunSummary, Vec<String>) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut opts = ImportOptions::new(vec![source.to_path_buf()], RunMode::DryRun);
        opts.dry_run = true;
        opts.workers = 1;
        opts.readers = 1;
        let handle = pipeline::start(opts, None, rt.handle().clone());
        let (events, join) = handle.into_parts();
        let summary = join.join().expect("a dry run ends");
        let errors = events
            .try_iter()
            .filter_map(|e| match e {
                EngineEvent::Error { location, .. } => Some(location),
                _ => None,
            })
            .collect();
        (summary, errors)
    }

    fn junk(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn garbage_single_file_compressors_are_archive_corrupt_and_a_readable_one_is_counted_by_type() {
        let dir = crate::common::temp_dir("single");
        let magic: [(&str, &[u8]); 6] = [
            ("a.gz", b"\x1f\x8b\x08\x00"),
            ("b.bz2", b"BZh9"),
            ("c.xz", b"\xfd7zXZ\x00"),
            ("d.zst", b"\x28\xb5\x2f\xfd"),
            ("e.lz4", b"\x04\x22\x4d\x18"),
            ("f.gz", b""),
        ];
        for (i, (name, head)) in magic.iter().enumerate() {
            let p = dir.join(name);
            let mut data = head.to_vec();
            data.extend(junk(i as u64 + 7, 3000));
            std::fs::write(&p, data).unwrap();
            let (errors, members) = read(&p);
            assert_eq!(members, 0, "{name}");
            assert_eq!(errors.len(), 1, "{name}: {errors:?}");
            assert_eq!(errors[0].1, "archive_corrupt", "{name}: {errors:?}");
        }
        // A sound stream whose inner file is not MIDI: counted by its type in the run summary.
        let p = dir.join("notes.txt.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello, not a MIDI file").unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        let (summary, errors) = dry_run(&p);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            summary.ignored,
            BTreeMap::from([(".txt".to_string(), 1)]),
            "{summary:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A stored zip entry's method field set to `method` in both headers.
    fn zip_with_method(path: &Path, method: u16) {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("a.mid", o).unwrap();
        w.write_all(&generate_midi(1, 1)).unwrap();
        let mut data = w.finish().unwrap().into_inner();
        let local = 0usize;
        data[local + 8..local + 10].copy_from_slice(&method.to_le_bytes());
        let central = data.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        data[central + 10..central + 12].copy_from_slice(&method.to_le_bytes());
        std::fs::write(path, data).unwrap();
    }

    #[test]
    fn a_zip_member_with_an_unknown_method_is_unsupported_method() {
        let dir = crate::common::temp_dir("method");
        let p = dir.join("m.zip");
        zip_with_method(&p, 77);
        let (errors, _) = read(&p);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].1, "unsupported_method", "{errors:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn overlapping_zip_entries_are_a_compression_bomb_named_at_once() {
        // 200 central directory entries pointing at one stored 8 MiB member, whose ratio is 1:1 (the issue's had
        // 60 MiB: 16 s of reading, 200 members).
        let dir = crate::common::temp_dir("overlap");
        let p = dir.join("bomb.zip");
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("big.mid", o).unwrap();
        w.write_all(&junk(3, 8 << 20)).unwrap();
        let data = w.finish().unwrap().into_inner();
        let cd = data.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        let eocd = data.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
        let entry = &data[cd..eocd];
        let mut out = data[..cd].to_vec();
        let cd_start = out.len() as u32;
        for i in 0..200u32 {
            let mut e = entry.to_vec();
            // A distinct name of the same length, so that each entry is a member of its own.
            let name_at = 46;
            e[name_at..name_at + 3].copy_from_slice(format!("{:03}", i).as_bytes());
            out.extend(e);
        }
        let cd_len = out.len() as u32 - cd_start;
        let mut end = data[eocd..].to_vec();
        end[8..10].copy_from_slice(&200u16.to_le_bytes());
        end[10..12].copy_from_slice(&200u16.to_le_bytes());
        end[12..16].copy_from_slice(&cd_len.to_le_bytes());
        end[16..20].copy_from_slice(&cd_start.to_le_bytes());
        out.extend(end);
        std::fs::write(&p, out).unwrap();
        let t = Instant::now();
        let (errors, members) = read(&p);
        assert!(t.elapsed() < Duration::from_secs(2), "read for {:?}", t.elapsed());
        assert_eq!(members, 0);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].1, "compression_bomb", "{errors:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn rar_fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rar")
            .join(name)
    }

    #[test]
    fn one_archive_with_two_problems_is_one_row_counted_once() {
        // An encrypted RAR whose last header is damaged: unrar's failure and the encrypted members both concern
        // the archive itself.
        let dir = crate::common::temp_dir("twice");
        let mut data = std::fs::read(rar_fixture("rar5-psw.rar")).unwrap();
        let n = data.len();
        data[n - 1] ^= 0x55;
        let p = dir.join("locked.rar");
        std::fs::write(&p, data).unwrap();
        let (summary, errors) = dry_run(&p);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(summary.counts.failed, 1, "{summary:?}");
        assert_eq!(summary.errors_by_kind.values().sum::<u64>(), 1, "{summary:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every packing of a few MIDI files (a readme among them), a nested archive, and the RAR fixtures.
    fn bases(dir: &Path) -> Vec<PathBuf> {
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        for i in 0..3 {
            std::fs::write(src.join(format!("sub/f{i}.mid")), generate_midi(3, i)).unwrap();
        }
        std::fs::write(src.join("readme.txt"), b"some words").unwrap();
        let mut out = Vec::new();
        for kind in ArchiveKind::ALL {
            let to = dir.join(format!("packed-{}.{}", kind.name(), kind.extension()));
            if kind.is_single() {
                let one = dir.join(format!("one-{}", kind.name()));
                std::fs::create_dir_all(&one).unwrap();
                std::fs::copy(src.join("sub/f0.mid"), one.join("f0.mid")).unwrap();
                let folder = dir.join(format!("single-{}", kind.name()));
                pack_folder(&one, &folder, kind).unwrap();
                out.push(folder.join(format!("f0.mid.{}", kind.extension())));
            } else {
                pack_folder(&src, &to, kind).unwrap();
                out.push(to);
            }
        }
        // Nested: a zip holding a tar.gz holding the files.
        let inner = dir.join("nest");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::copy(dir.join("packed-tar.gz.tar.gz"), inner.join("inner.tar.gz")).unwrap();
        let nested = dir.join("nested.zip");
        pack_folder(&inner, &nested, ArchiveKind::ZipStored).unwrap();
        out.push(nested);
        for rar in [
            "rar5-solid.rar",
            "rar3-solid.rar",
            "rar5-subdirs.rar",
            "rar3-subdirs.rar",
        ] {
            let to = dir.join(rar);
            std::fs::copy(rar_fixture(rar), &to).unwrap();
            out.push(to);
        }
        out
    }

    /// One deterministic mutation of `data`: flipped bytes, a cut, a zeroed range or a damaged start.
    fn mutate(data: &[u8], seed: u64) -> Vec<u8> {
        let r = junk(seed, 16);
        let at = |i: usize| (u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]) as usize) % data.len().max(1);
        let mut d = data.to_vec();
        match seed % 4 {
            0 => {
                for k in 0..(1 + r[8] as usize % 8) {
                    let i = at(k % 3 * 4);
                    let j = (i + k * 37) % d.len();
                    d[j] ^= r[9 + k % 6] | 1;
                }
            }
            1 => d.truncate(at(0)),
            2 => {
                let i = at(0);
                let end = (i + 1 + r[8] as usize * 4).min(d.len());
                d[i..end].fill(0);
            }
            _ => {
                let i = at(0) % 96;
                if i < d.len() {
                    d[i] ^= 0x5a;
                }
            }
        }
        d
    }

    #[test]
    fn every_mutated_archive_leaves_a_row_a_location_or_an_ignored_count() {
        let t = Instant::now();
        let dir = crate::common::temp_dir("fuzz");
        let mut failures = Vec::new();
        let mut kinds: HashMap<String, u64> = HashMap::new();
        let mut runs = 0;
        for base in bases(&dir) {
            let data = std::fs::read(&base).unwrap();
            let name = base.file_name().unwrap().to_string_lossy().into_owned();
            for seed in 0..12u64 {
                let case = dir.join("case").join(format!("{seed}"));
                std::fs::create_dir_all(&case).unwrap();
                let p = case.join(&name);
                std::fs::write(&p, mutate(&data, seed * 7919 + data.len() as u64)).unwrap();
                let (s, errors) = dry_run(&p);
                runs += 1;
                let left = s.counts.done() + s.ignored.values().sum::<u64>();
                if left == 0 {
                    failures.push(format!("{name} seed {seed}: nothing left ({s:?})"));
                }
                let mut paths = errors.clone();
                paths.sort();
                paths.dedup();
                if paths.len() != errors.len() || s.counts.failed != errors.len() as u64 {
                    failures.push(format!("{name} seed {seed}: a path counted twice: {errors:?} ({s:?})"));
                }
                for (k, n) in s.errors_by_kind {
                    *kinds.entry(k).or_default() += n;
                }
                let _ = std::fs::remove_dir_all(&case);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("{runs} mutated archives in {:?}; error kinds {kinds:?}", t.elapsed());
        assert!(
            failures.is_empty(),
            "{} of {runs}:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert!(t.elapsed() < Duration::from_secs(40), "bounded: {:?}", t.elapsed());
    }
}

// ---- Collections from the source's own layout, any location, through the real pipeline to `search` ----

mod collections {
    use std::io::Write;
    use std::path::Path;

    use crate::common::*;
    use gencorpus::generate_midi;
    use midi_tui::engine::library::{Query, Sort};
    use serde_json::Value;

    /// `lib dir/` with a folder collection (spaces), one of wide characters, a file directly in the source and,
    /// in `Packs/pack.zip`, a byte copy of the first file under another name and folder.
    fn library(root: &Path) -> std::path::PathBuf {
        let lib = root.join("lib dir");
        for (rel, seed) in [("Groove Pack/s 1/a b.mid", 1), ("日本の曲/x.mid", 2), ("top.mid", 3)] {
            let p = lib.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, generate_midi(11, seed)).unwrap();
        }
        std::fs::create_dir_all(lib.join("Packs")).unwrap();
        let mut w = zip::ZipWriter::new(std::fs::File::create(lib.join("Packs/pack.zip")).unwrap());
        w.start_file("inner/a copy.mid", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(&generate_midi(11, 1)).unwrap();
        w.finish().unwrap();
        lib
    }

    fn search(url: &str, query: &str) -> Vec<Value> {
        search_json(url, &[query])
    }

    fn names(hits: &[Value]) -> Vec<String> {
        let mut n: Vec<String> = hits
            .iter()
            .map(|h| h["filename"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    }

    fn check(url: &str) {
        assert_eq!(names(&search(url, "coll:Groove Pack")), ["a b.mid"]);
        // The byte copy in the pack: found by the pack's collection, name and folder too.
        assert_eq!(names(&search(url, "coll:pack")), ["a b.mid"]);
        assert_eq!(names(&search(url, "name:copy")), ["a b.mid"]);
        assert_eq!(names(&search(url, "folder:inner")), ["a b.mid"]);
        assert_eq!(names(&search(url, "coll:日本の曲")), ["x.mid"]);
        assert_eq!(
            names(&search(url, "coll:lib dir")),
            ["top.mid"],
            "directly in the source: its name"
        );
        for wrong in ["coll:tmp", "coll:mt-coll", "coll:Packs"] {
            assert!(search(url, wrong).is_empty(), "{wrong}");
        }
        // Each location with its own collection.
        let hit = &search(url, "coll:pack")[0];
        let mut per: Vec<(String, String)> = hit["locations"]
            .as_array()
            .unwrap()
            .iter()
            .zip(hit["location_collections"].as_array().unwrap())
            .map(|(l, c)| {
                (
                    l.as_str().unwrap().rsplit('/').next().unwrap().to_string(),
                    c.as_str().unwrap().into(),
                )
            })
            .collect();
        per.sort();
        assert_eq!(
            per,
            [
                ("a b.mid".into(), "Groove Pack".into()),
                ("a copy.mid".into(), "pack".into())
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn collections_come_from_the_source_layout_and_match_any_location() {
        let root = temp_dir("coll");
        let lib = library(&root);
        // An absolute source.
        let db = fresh_db().await;
        let v = import_json(&db.url, &[lib.to_str().unwrap()]);
        assert_eq!(v["status"], "done", "{v}");
        check(&db.url);
        // A relative source, from its parent folder.
        let rel = fresh_db().await;
        let logs = temp_dir("logs");
        let out = std::process::Command::new(BIN)
            .current_dir(&root)
            .args([
                "--data-dir",
                logs.to_str().unwrap(),
                "--database-url",
                &rel.url,
                "import",
                "--json",
                "lib dir",
            ])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        check(&rel.url);
        // The detail pane's per-location collections.
        let engine_pool = rel.pool.clone();
        let page = midi_tui::database::search::page(
            &engine_pool,
            &Query::parse("coll:pack").unwrap(),
            Sort::default(),
            10,
            None,
            false,
        )
        .await
        .unwrap();
        let hash: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&page.hits[0].content_hash[i * 2..i * 2 + 2], 16).unwrap())
            .collect();
        let d = midi_tui::database::search::file_detail(&engine_pool, &hash)
            .await
            .unwrap()
            .unwrap();
        let mut colls: Vec<&str> = d.locations.iter().map(|l| l.collection.as_str()).collect();
        colls.sort();
        assert_eq!(colls, ["Groove Pack", "pack"]);
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_dir_all(&logs);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_library_imported_before_gets_its_collections_recomputed() {
        let root = temp_dir("collmig");
        let lib = library(&root);
        let db = fresh_db().await;
        assert_eq!(import_json(&db.url, &[lib.to_str().unwrap()])["status"], "done");
        // What an older version stored: the first folder of the absolute path, nothing per location.
        sqlx::raw_sql(
            "UPDATE files SET collection = split_part(filepath, '/', 2); \
             UPDATE file_locations SET collection = NULL, parent_folder = NULL, filename = NULL; \
             DELETE FROM schema_migrations WHERE version = 14",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        // (Read directly: the tool migrates the database it opens.)
        let old = "SELECT count(*) FROM files WHERE collection = split_part(filepath, '/', 2)";
        assert_eq!(scalar(&db.pool, old).await, 3, "the old state is in place");
        midi_tui::database::migrate::run(&db.pool).await.unwrap();
        check(&db.url);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn any_location_filters_are_served_by_their_indexes() {
        use midi_tui::database::search;
        let db = fresh_db().await;
        // Enough rows that the planner has a choice: 30,000 files, every fifth also stored elsewhere.
        sqlx::raw_sql(
            "INSERT INTO files (content_hash, filename, filepath, parent_folder, collection, file_size_bytes) \
             SELECT decode(lpad(to_hex(i), 64, '0'), 'hex'), 'f' || i || '.mid', '/l/c' || (i % 50) || '/f' || i || '.mid', \
                    'c' || (i % 50), CASE WHEN i % 3000 = 0 THEN 'rare' ELSE 'c' || (i % 50) END, 100 \
             FROM generate_series(1, 30000) i; \
             INSERT INTO musical_metadata (file_id) SELECT id FROM files; \
             INSERT INTO file_locations (file_id, path, size, mtime) SELECT id, filepath, 100, 0 FROM files; \
             INSERT INTO file_locations (file_id, path, size, mtime, collection, parent_folder, filename) \
             SELECT id, '/l/p.zip!/d/g' || id || '.mid', 100, 0, CASE WHEN id % 1000 = 0 THEN 'p' ELSE 'q' END, \
                    CASE WHEN id % 1000 = 0 THEN 'drums' ELSE 'x' || (id % 13) END, 'g' || id || '.mid' FROM files \
             WHERE id % 5 = 0",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        // Names written by hand get their natural-order keys, as every name the writer or a migration writes has.
        let mut conn = db.pool.acquire().await.unwrap();
        midi_tui::database::name_order::fill_missing(&mut conn).await.unwrap();
        drop(conn);
        sqlx::raw_sql("ANALYZE files; ANALYZE file_locations; ANALYZE musical_metadata; ANALYZE search_rows")
            .execute(&db.pool)
            .await
            .unwrap();
        // The page: the files' own values on their indexes, other locations' files by primary key. (A file's own
        // name or folder pattern is the old statement, which on 30,000 rows reads the table: tests/search.rs checks it
        // on a library big enough for its index.)
        for (q, index) in [
            (
                "coll:rare",
                "\"Index Cond\":\"(collection = 'rare'::text)\",\"Index Name\":\"files_collection",
            ),
            ("coll:p", "files_pkey"),
        ] {
            let plan = search::explain(&db.pool, &Query::parse(q).unwrap(), Sort::default(), 50)
                .await
                .unwrap()
                .to_string();
            // (`coll:` may take any index that leads with the collection, its own or a composite one.)
            assert!(plan.contains(index), "`{q}` uses {index}: {plan}");
            assert!(!plan.contains("\"Seq Scan\""), "`{q}` reads a table whole: {plan}");
        }
        // The other locations' matches, found first (the statements `search::other_locations` runs), on the
        // partial indexes of file_locations.
        for (sql, value, index) in [
            ("collection = $1", "p", "file_locations_collection_idx"),
            ("filename ILIKE $1", "%g123%", "file_locations_name_trgm_idx"),
            ("parent_folder ILIKE $1", "%drum%", "file_locations_folder_trgm_idx"),
        ] {
            let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (FORMAT JSON) SELECT DISTINCT file_id FROM file_locations WHERE {sql}"
            )))
            .bind(value)
            .persistent(false)
            .fetch_one(&db.pool)
            .await
            .unwrap();
            let plan = plan.to_string();
            assert!(plan.contains(index), "{sql} uses {index}: {plan}");
            assert!(
                !plan.contains("\"Seq Scan\""),
                "{sql} reads file_locations whole: {plan}"
            );
        }
    }
}

// ---- One definition of every figure: final line, --json and run log of one run ----

#[test]
fn a_run_s_rates_are_the_same_on_the_final_line_in_json_and_in_the_log() {
    let root = temp_dir("figures");
    for i in 0..40 {
        let p = root.join(format!("c{}/f{i}.mid", i % 4));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, gencorpus::generate_midi(5, i)).unwrap();
    }
    std::fs::write(root.join("c0/broken.mid"), b"MThd broken").unwrap();
    let log = root.join("run.log");
    let data = temp_dir("figdata");
    let out = run_bin(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
            "import",
            "--dry-run",
            "--json",
            root.to_str().unwrap(),
        ],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    let err = stderr(&out);
    let rate = json["files_per_s"].as_f64().unwrap();
    let mbs = json["mb_per_s"].as_f64().unwrap();
    let secs = json["seconds"].as_f64().unwrap();
    // Counts and rates read through the one formatting helper (`1,234`), as every front end prints them.
    let figures = format!("({} files/s, {mbs:.1} MB/s)", midi_tui::engine::human::count_f(rate));
    let files: u64 = ["imported", "duplicates", "skipped", "failed"]
        .iter()
        .map(|k| json[*k].as_u64().unwrap())
        .sum();
    assert_eq!(files, 41, "{json}");
    assert!(
        (rate - files as f64 / secs).abs() < 1e-6 * rate.max(1.0),
        "files/s = files / seconds: {json}"
    );
    let final_line = err.lines().find(|l| l.starts_with("import done:")).unwrap_or_default();
    assert!(
        final_line.contains(&format!("{files} files in {secs:.1} s {figures}")),
        "final line {final_line:?} vs {figures}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let logged = text.lines().find(|l| l.contains("run finished:")).unwrap_or_default();
    assert!(logged.contains(&figures), "log {logged:?} vs {figures}");
    assert_eq!(json["failed"], 1);
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&data);
}
