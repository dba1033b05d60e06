//! `midi-tui bench` end to end on a tiny generated corpus: every row is measured and the Markdown is written.
mod common;

use common::*;

#[test]
fn bench_measures_every_mode_and_the_limits() {
    let dir = temp_dir("bench");
    let out = dir.join("BENCH.md");
    let o = run_bin(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "bench",
            "--files",
            "300",
            "--repeat",
            "1",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "bench failed: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    let rows = v["corpora"][0]["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for want in [
        "read + hash",
        "parse",
        "raw write",
        "normal",
        "fast",
        "ludicrous",
        "console",
    ] {
        assert!(names.iter().any(|n| n.contains(want)), "{want} in {names:?}");
    }
    for r in rows {
        assert!(r["files_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["peak_mb"].as_f64().unwrap() > 1.0, "{r}");
    }
    assert_eq!(v["corpora"][0]["files"], 300);
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("| normal |") && md.contains("Regenerate with"), "{md}");
    // The throwaway cluster is gone.
    assert!(!dir.join("bench/cluster/pg").exists());
    assert!(server_processes(&dir.join("bench/cluster")).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_archive_section_measures_every_packing_beside_its_decompressor() {
    let dir = temp_dir("bench-archives");
    let out = dir.join("BENCH.md");
    let o = run_bin(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "bench",
            "--files",
            "0",
            "--archives",
            "--archive-files",
            "300",
            "--repeat",
            "1",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "bench failed: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    let a = &v["archives"];
    assert_eq!(a["files"], 300, "{a}");
    let rows = a["rows"].as_array().unwrap();
    let formats: Vec<&str> = rows.iter().map(|r| r["format"].as_str().unwrap()).collect();
    assert_eq!(
        formats,
        [
            "folder",
            "zip",
            "many-zip",
            "zip-stored",
            "zip-bzip2",
            "zip-lzma",
            "zip-zstd",
            "7z",
            "tar",
            "tar.gz",
            "tar.bz2",
            "tar.xz",
            "tar.zst",
            "tar.lz4"
        ]
    );
    let folder_bytes = rows[0]["packed_bytes"].as_f64().unwrap();
    for r in rows {
        let f = r["format"].as_str().unwrap();
        for k in ["dry_run_files_per_s", "normal_files_per_s"] {
            let x = r[k].as_f64().unwrap();
            // 300 files take more than a millisecond and less than a minute, in any build.
            assert!(x > 5.0 && x < 300_000.0, "{f} {k} = {x}");
        }
        let share = r["normal_share_of_folder"].as_f64().unwrap();
        assert!(share > 0.02 && share < 50.0, "{f}: {share}");
        let packed = r["packed_bytes"].as_f64().unwrap();
        assert!(packed > 1000.0, "{f}: {packed} bytes");
        if f != "folder" && f != "tar" && f != "zip-stored" {
            assert!(packed < folder_bytes, "{f} compresses: {packed} of {folder_bytes}");
        }
        // Every decompressor the setup script installs ran on the same file, in the same run.
        if f != "folder" {
            assert!(r["tool_seconds"].as_f64().is_some_and(|s| s > 0.0 && s < 60.0), "{r}");
        }
        let limit = r["two_core_limit_files_per_s"].as_f64();
        assert_eq!(limit.is_some(), f == "tar.xz" || f == "tar.bz2", "{r}");
        if let Some(l) = limit {
            // Slower than the folder's own dry-run, which it includes.
            assert!(l > 0.0 && l < rows[0]["dry_run_files_per_s"].as_f64().unwrap(), "{r}");
            assert!(r["dry_run_share_of_two_core_limit"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r["tool_two_thread_seconds"].as_f64().is_some_and(|s| s > 0.0), "{r}");
        }
    }
    let md = std::fs::read_to_string(&out).unwrap();
    for want in [
        "| tar.xz |",
        "| many-zip |",
        "Multi-block tar.xz dry-run at least 90% of the two-core limit",
        "Multi-block tar.bz2 dry-run",
        "Many-zip import at least 80%",
        "Single-zip import at least 80%",
        "Two-core limit: files / (seconds of the decompressor at two threads",
    ] {
        assert!(md.contains(want), "{want} in {md}");
    }
    assert!(server_processes(&dir.join("bench/cluster")).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_search_section_grows_the_library_and_times_every_query_cold_and_hot() {
    let dir = temp_dir("bench-search");
    let out = dir.join("BENCH.md");
    let o = run_bin(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "bench",
            "--files",
            "0",
            "--search",
            "2400",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "bench failed: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    let s = &v["search"];
    // 1,200 generated files (some duplicates, some broken), then copies up to about 2,400.
    let files = s["files"].as_i64().unwrap();
    assert!((1_200..=3_600).contains(&files), "{s}");
    let rows = s["rows"].as_array().unwrap();
    assert!(rows.len() >= 20, "{s}");
    let with_hits = rows.iter().filter(|r| r["rows"].as_u64().unwrap() > 0).count();
    assert!(
        with_hits >= rows.len() / 2,
        "most bench queries find files in a generated library: {s}"
    );
    for r in rows {
        for k in ["cold_ms", "hot_ms"] {
            let ms = r[k].as_f64().unwrap();
            assert!(ms > 0.0 && ms < 30_000.0, "{r}");
        }
        let target = r["target_ms"].as_f64().unwrap();
        let terms = r["terms"].as_u64().unwrap();
        assert_eq!(target, if terms >= 3 { 300.0 } else { 100.0 }, "{r}");
    }
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(
        md.contains("### Library search") && md.contains("| `key:Cm~` | name |"),
        "{md}"
    );
    assert!(server_processes(&dir.join("bench/cluster")).is_empty());
}
