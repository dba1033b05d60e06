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
    // The server's CPU per 1,000 files: an import that writes costs the server more than a dry run leaves it idle.
    let server = |prefix: &str| {
        let r = rows
            .iter()
            .find(|r| r["name"].as_str().unwrap().starts_with(prefix))
            .unwrap();
        r["server_cpu_s_per_1k_files"]
            .as_f64()
            .unwrap_or_else(|| panic!("no server CPU: {r}"))
    };
    assert!(server("normal") > server("limit: parse"), "{rows:?}");
    assert!(server("ludicrous (") > 0.0, "{rows:?}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("| normal |") && md.contains("Regenerate with"), "{md}");
    assert!(md.contains("| server CPU s per 1k files |"), "{md}");
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
        let like = r["query"].as_str().unwrap().starts_with("like:");
        assert_eq!(target, if like || terms >= 3 { 300.0 } else { 100.0 }, "{r}");
        // A `like:@` row is timed from five different files; a page missing files of the exact one said it may.
        let targets = r["like_targets"].as_array().map_or(&[][..], Vec::as_slice);
        assert_eq!(targets.len(), if like { 5 } else { 0 }, "{r}");
        let mut ids: Vec<i64> = targets.iter().map(|t| t["file_id"].as_i64().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), targets.len(), "{r}");
        for t in targets {
            let recall = t["recall"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&recall), "{t}");
            assert!(
                recall == 1.0 || t["approximate"] == true,
                "a page said exact and missed files: {t}"
            );
        }
    }
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(
        md.contains("| query | target | rows | cold ms | hot ms | | recall | page says |"),
        "{md}"
    );
    assert!(
        md.contains("### Library search") && md.contains("| `key:Cm~` | name |"),
        "{md}"
    );
    assert!(server_processes(&dir.join("bench/cluster")).is_empty());
}

#[test]
fn bench_scale_and_append_sections_merge_into_the_out_file() {
    let dir = temp_dir("bench-scale");
    let out = dir.join("BENCH.md");
    // A document of an earlier bench: hand text and a section this bench does not measure, both kept.
    let kept = "<!-- bench:section search -->\n### Library search (kept)\n<!-- bench:end search -->\n";
    std::fs::write(&out, format!("# Benchmarks\n\nNotes by hand.\n\n{kept}")).unwrap();
    let o = run_bin(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "bench",
            "--scale",
            "2000",
            "--append",
            "3000,500",
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
    // No modes table without --files.
    assert!(v["corpora"].as_array().unwrap().is_empty(), "{v}");
    let rows = v["scale"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "limit and three modes, cold and hot: {rows:?}");
    assert_eq!(v["scale"]["files"], 2000);
    for r in rows {
        assert!(
            r["wall_seconds"].as_f64().unwrap() > 0.0 && r["peak_mb"].as_f64().unwrap() > 1.0,
            "{r}"
        );
        assert!(r["files_per_s"].as_f64().unwrap() > 0.0, "{r}");
        if r["mode"].is_null() {
            assert!(r["estimate_seconds"].is_null(), "{r}");
        } else {
            assert!(r["estimate_seconds"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r["error_pct"].as_f64().unwrap().is_finite(), "{r}");
        }
    }
    let append = &v["append"];
    assert!(append["base_files"].as_i64().unwrap() >= 2000, "{append}");
    let arows = append["rows"].as_array().unwrap();
    assert_eq!(arows.len(), 3);
    for r in arows {
        assert_eq!(r["seen"], 500, "every mode imports the new files: {r}");
    }
    // A small append to a library: auto keeps normal.
    assert_eq!(append["auto"]["pick"], "normal", "{append}");

    let md = std::fs::read_to_string(&out).unwrap();
    assert!(
        md.starts_with(&format!("# Benchmarks\n\nNotes by hand.\n\n{kept}")),
        "{md}"
    );
    for marker in [
        "<!-- bench:section scale-2000 -->",
        "<!-- bench:end scale-2000 -->",
        "<!-- bench:section append -->",
        "<!-- bench:end append -->",
    ] {
        assert_eq!(md.matches(marker).count(), 1, "{marker} in {md}");
    }
    assert!(md.find("bench:section scale-2000").unwrap() < md.find("bench:section append").unwrap());
    assert!(
        md.contains("cold: `sync` and `echo 3 > /proc/sys/vm/drop_caches` before the run")
            || md.contains("cold: not measured, dropping the page cache needs root"),
        "{md}"
    );
    assert!(md.contains("one run each") && md.contains("hard link"), "{md}");
    assert!(
        md.contains("| normal | hot |") && md.contains("| ludicrous (+ restore, rebuild) | cold |"),
        "{md}"
    );
    assert!(md.contains("`--mode auto` picks **"), "{md}");
    assert!(
        md.contains("| Picks normal for a small append to a big library | picks normal"),
        "{md}"
    );
    assert_eq!(
        md.matches("_Measured ").count(),
        2,
        "the kept section has none; each new one has its line: {md}"
    );
    assert!(md.contains("machine load at start (`/proc/loadavg`"), "{md}");
    assert!(!dir.join("bench/cluster/pg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_cold_section_measures_cat_and_the_dry_run_with_and_without_read_ahead() {
    let dir = temp_dir("bench-cold");
    let corpus = dir.join("corpus");
    let o = run_bin(&["gen-corpus", corpus.to_str().unwrap(), "--files", "200"], &[]);
    assert!(o.status.success(), "gen-corpus: {}", stderr(&o));
    let before = walk_count(&corpus);
    let out = dir.join("BENCH.md");
    let kept = "<!-- bench:section search -->\n### Library search (kept)\n<!-- bench:end search -->\n";
    std::fs::write(&out, kept).unwrap();
    // The page cache is kept (a test must not evict everyone's files): the section must say it is not cold.
    let o = run_bin(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "bench",
            "--cold",
            corpus.to_str().unwrap(),
            "--repeat",
            "2",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
        &[("MIDI_TUI_BENCH_NO_DROP", "1")],
    );
    assert!(o.status.success(), "bench failed: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert!(
        v.get("corpora").is_none_or(|c| c.as_array().unwrap().is_empty()),
        "no modes table: {v}"
    );
    let c = &v["cold"];
    assert_eq!(c["files"], 200, "{c}");
    assert!(
        c["not_dropped"].as_str().unwrap().contains("MIDI_TUI_BENCH_NO_DROP"),
        "{c}"
    );
    let rows = c["rows"].as_array().unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["cat", "dry-run", "dry-run-no-read-ahead", "read-hash", "dry-run-hot"]
    );
    for r in rows {
        let fps = r["files_per_s"].as_f64().unwrap();
        // 200 small files take more than a millisecond and less than a minute, in any build.
        assert!(fps > 3.0 && fps < 200_000.0, "{r}");
        assert!(r["mb_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["seconds"].as_array().unwrap().len(), 2, "one per round: {r}");
        let share = r["share_of_cat"].as_f64().unwrap();
        assert!(share > 0.0 && share < 1000.0, "{r}");
    }
    assert_eq!(rows[0]["share_of_cat"], 1.0);
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.starts_with(kept), "the other sections are kept: {md}");
    assert_eq!(md.matches("<!-- bench:section cold -->").count(), 1, "{md}");
    assert!(
        md.contains("**Not cold**") && md.contains("| `import --dry-run` |"),
        "{md}"
    );
    assert!(md.contains("| not measured (the page cache was not dropped) |"), "{md}");
    // Nothing was written into the corpus.
    assert_eq!(walk_count(&corpus), before);
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| if e.path().is_dir() { walk_count(&e.path()) } else { 1 })
        .sum()
}
