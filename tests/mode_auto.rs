//! `import --mode auto` against a real server: the mode is chosen from the library's own runs and the source's
//! size, and `--json` says which and why; an explicit mode says it was given.
mod common;

use common::*;

#[tokio::test]
async fn auto_chooses_from_this_librarys_runs_and_says_why() {
    let db = fresh_db().await;
    let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/midi");
    let files = std::fs::read_dir(&fixtures).unwrap().count();
    let v = import_json(&db.url, &["--mode", "auto", fixtures.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    // A handful of files: restoring and rebuilding would cost more than the whole import.
    assert_eq!(v["mode"], "normal", "{v}");
    let reason = v["mode_reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("about {files} files into a library of 0 files")),
        "{reason}"
    );
    assert!(reason.contains("[not accepted: needs --yes]"), "{reason}");
    assert!(reason.contains("the bench's rates"), "{reason}");

    // Runs of this library replace the bench's rates: a fast run measured at 1,000,000 files/s and a normal
    // one at 1 file/s make fast the choice even for a small import.
    sqlx::raw_sql(
        "INSERT INTO import_runs (sources, mode, status, started_at, finished_at, files_seen) VALUES \
         ('{x}', 'fast', 'done', now() - interval '1 second', now(), 1000000), \
         ('{x}', 'normal', 'done', now() - interval '100000 seconds', now(), 100000)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let v = import_json(&db.url, &["--mode", "auto", fixtures.to_str().unwrap()]);
    let reason = v["mode_reason"].as_str().unwrap();
    assert_eq!(v["status"], "done", "{v}");
    assert!(
        reason.contains("this library's own runs (normal 1, fast 1)"),
        "{reason}"
    );
    assert_eq!(v["mode"], "fast", "{reason}");

    // With its risks accepted, ludicrous (the smaller fixed cost around the run here) wins.
    let v = import_json(&db.url, &["--mode", "auto", "--yes", fixtures.to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["mode"], "ludicrous", "{v}");
    let v = import_json(&db.url, &["--mode", "normal", fixtures.to_str().unwrap()]);
    assert_eq!(v["mode_reason"], "given with --mode normal", "{v}");
    // Auto's estimates are printed with a given mode too (from this library's runs: fast far ahead here).
    let est = &v["mode_estimates"];
    let secs = |m: &str| est[m].as_f64().unwrap_or_else(|| panic!("{m} in {v}"));
    assert!(
        secs("fast") > 0.0 && secs("normal") > secs("fast") && secs("ludicrous") > 0.0,
        "{v}"
    );
}
