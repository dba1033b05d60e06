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
