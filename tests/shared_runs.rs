//! Shared runs: several importers given the same sources at once split the units, and the library equals one
//! import whatever the interleaving: with three at once, with one killed mid-run, with overlapping sources, and
//! with a profile applied and restored once for the run.
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tokio::sync::OnceCell;

/// Everything a library holds that an import decides, compared whole. Not `files.filepath` (the first location
/// seen of a content found at several): which copy is read first depends on the interleaving, as with any
/// parallel import; every location is compared in `pairs`.
#[derive(Debug, PartialEq, Eq)]
struct Library {
    files: i64,
    metadata: i64,
    locations: i64,
    error_rows: i64,
    error_paths: i64,
    archives_done: i64,
    pairs: BTreeSet<(String, String)>,
    meta: BTreeSet<String>,
    errors: BTreeSet<(String, String)>,
}

async fn library(pool: &sqlx::PgPool) -> Library {
    let pairs: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.path, encode(f.content_hash, 'hex') FROM file_locations l JOIN files f ON f.id = l.file_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let meta: Vec<String> = sqlx::query_scalar(
        "SELECT concat_ws('|', encode(f.content_hash, 'hex'), f.filename IS NOT NULL, f.num_tracks, f.duration_ticks, m.bpm, \
         m.total_notes, m.detected_key, m.programs::text, encode(m.notes_fingerprint, 'hex')) \
         FROM files f JOIN musical_metadata m ON m.file_id = f.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let errors: Vec<(String, String)> = sqlx::query_as("SELECT path, kind FROM import_errors")
        .fetch_all(pool)
        .await
        .unwrap();
    Library {
        files: scalar(pool, "SELECT count(*) FROM files").await,
        metadata: scalar(pool, "SELECT count(*) FROM musical_metadata").await,
        locations: scalar(pool, "SELECT count(*) FROM file_locations").await,
        error_rows: scalar(pool, "SELECT count(*) FROM import_errors").await,
        error_paths: scalar(pool, "SELECT count(DISTINCT path) FROM import_errors").await,
        archives_done: scalar(pool, "SELECT count(*) FROM archive_progress").await,
        pairs: pairs.into_iter().collect(),
        meta: meta.into_iter().collect(),
        errors: errors.into_iter().collect(),
    }
}

/// One folder with real grooves, broken MIDI files, a nested archive, a zip and damaged archives, made once.
fn library_folder() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("shared-src");
        let c = corpus();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let copies = [
            c.join("groove"),
            c.join("midly-tests"),
            c.join("archives/nested.tar.gz"),
            fixtures.join("archives/mixed.zip"),
            fixtures.join("archive-formats/pack-damaged.7z"),
            fixtures.join("archive-formats/pack-truncated.7z"),
        ];
        for p in copies {
            let st = Command::new("cp").arg("-r").arg(&p).arg(&dir).status().unwrap();
            assert!(st.success(), "copy {}", p.display());
        }
        dir
    })
}

/// The library one plain import of the folder makes, once per test binary.
async fn clean() -> &'static Library {
    static CLEAN: OnceCell<Library> = OnceCell::const_new();
    CLEAN
        .get_or_init(|| async {
            let db = fresh_db().await;
            let v = import_json(&db.url, &[library_folder().to_str().unwrap()]);
            assert_eq!(v["status"], "done", "{v}");
            let lib = library(&db.pool).await;
            assert!(
                lib.files > 1000 && lib.error_paths > 3 && lib.archives_done > 0,
                "{lib:?}"
            );
            assert_eq!(lib.error_rows, lib.error_paths);
            lib
        })
        .await
}

/// Server settings are the cluster's, shared by every test database: tests that apply a profile take turns.
static PROFILE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An importer in the background, its JSON report on stdout.
fn spawn(url: &str, logs: &Path, extra: &[&str], sources: &[&Path]) -> Child {
    Command::new(BIN)
        .args([
            "--data-dir",
            logs.to_str().unwrap(),
            "--database-url",
            url,
            "import",
            "--json",
        ])
        .args(["--unit-files", "32"])
        .args(
            (!extra.contains(&"--batch-rows"))
                .then_some(["--batch-rows", "50"])
                .into_iter()
                .flatten(),
        )
        .args(extra)
        .args(sources)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn report(ch: Child) -> serde_json::Value {
    let out = ch.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}\n{}", stdout(&out), stderr(&out)));
    assert!(out.status.success(), "an importer failed: {v}\n{}", stderr(&out));
    v
}

fn units_taken(v: &serde_json::Value) -> i64 {
    v["shared_run"]["units_taken"]
        .as_i64()
        .unwrap_or_else(|| panic!("no shared_run in {v}"))
}

/// Three importers at once on the same folder form one run: one started it, two joined, the units are split
/// between them with each unit claimed once, and the library is exactly one import's.
#[tokio::test(flavor = "multi_thread")]
async fn three_importers_share_one_run_and_make_one_import() {
    let clean = clean().await;
    let db = fresh_db().await;
    let logs = temp_dir("logs");
    let src = library_folder();
    let children: Vec<Child> = (0..3).map(|_| spawn(&db.url, &logs, &[], &[src])).collect();
    let reports: Vec<serde_json::Value> = children.into_iter().map(report).collect();
    assert_eq!(&library(&db.pool).await, clean);
    let ids: BTreeSet<i64> = reports
        .iter()
        .map(|r| r["shared_run"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one run: {reports:?}");
    let joined = reports.iter().filter(|r| r["shared_run"]["joined"] == true).count();
    assert_eq!(joined, 2, "one started the run, two joined it");
    let units = scalar(&db.pool, "SELECT count(*) FROM run_units").await;
    let taken: i64 = reports.iter().map(units_taken).sum();
    assert_eq!(taken, units, "every unit claimed once, by one importer");
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM run_units WHERE claims <> 1 OR NOT done").await,
        0
    );
    let working = reports.iter().filter(|r| units_taken(r) > 0).count();
    assert!(
        working >= 2,
        "the work was split: {:?}",
        reports.iter().map(units_taken).collect::<Vec<_>>()
    );
    let seen: u64 = reports.iter().map(|r| r["seen"].as_u64().unwrap()).sum();
    let failed: u64 = reports.iter().map(|r| r["failed"].as_u64().unwrap()).sum();
    assert_eq!(
        failed as i64, clean.error_rows,
        "each failing path counted by one importer"
    );
    assert!(seen as i64 >= clean.locations, "{seen}");
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM shared_runs WHERE state <> 'closed'").await,
        0
    );
}

/// Three importers of one run; the first is killed with SIGKILL the moment it holds units it has not finished
/// (units are done only when a pass has committed) while another importer is in the run. The survivors' reports.
async fn kill_the_first_of_three(db: &TestDb, extra: &[&str]) -> Vec<serde_json::Value> {
    let logs = temp_dir("logs");
    let src = library_folder();
    let mut args = vec!["--lease-ms", "1500"];
    args.extend_from_slice(extra);
    // One row per transaction: the victim's pass lasts long enough for the others to join on a loaded machine.
    let mut victim_args = args.clone();
    victim_args.extend(["--batch-rows", "1"]);
    let mut victim = spawn(&db.url, &logs, &victim_args, &[src]);
    let t0 = Instant::now();
    while scalar(&db.pool, "SELECT count(*) FROM run_importers").await == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the first importer never joined"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let others: Vec<Child> = (0..2).map(|_| spawn(&db.url, &logs, &args, &[src])).collect();
    let held = format!(
        "SELECT count(*) FROM run_units u JOIN run_importers i ON i.id = u.owner \
         WHERE i.pid = {} AND NOT u.done AND (SELECT count(*) FROM run_importers) > 1",
        victim.id()
    );
    while scalar(&db.pool, &held).await == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the importer never held a unit beside another"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    victim.kill().unwrap();
    let _ = victim.wait();
    others.into_iter().map(report).collect()
}

/// A killed importer's units are claimed again by the others (its lease expires; on this machine at once, since
/// its process is gone), and the library is still exactly one import's.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_importers_units_are_taken_over() {
    let clean = clean().await;
    let db = fresh_db().await;
    let reports = kill_the_first_of_three(&db, &[]).await;
    assert_eq!(&library(&db.pool).await, clean);
    assert!(
        scalar(&db.pool, "SELECT count(*) FROM run_units WHERE claims > 1").await > 0,
        "the killed importer's units were claimed again"
    );
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM run_units WHERE NOT done").await,
        0
    );
    assert!(reports.iter().all(|r| r["shared_run"]["joined"] == true), "{reports:?}");
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM shared_runs WHERE state <> 'closed'").await,
        0
    );
}

/// The importer that applied the fast profile is killed mid-run: the last survivor out still restores safety and
/// rebuilds the indexes once, so the database ends safe.
#[tokio::test(flavor = "multi_thread")]
async fn the_last_one_out_restores_the_profile_a_killed_importer_applied() {
    let _turn = PROFILE.lock().await;
    let clean = clean().await;
    let db = fresh_db().await;
    let reports = kill_the_first_of_three(&db, &["--mode", "fast", "--yes"]).await;
    assert_eq!(&library(&db.pool).await, clean);
    let restored = reports.iter().filter(|r| r["shared_run"]["restored"] == true).count();
    assert_eq!(restored, 1, "{reports:?}");
    let logs = temp_dir("logs");
    let out = run_bin(
        &[
            "--database-url",
            &db.url,
            "--data-dir",
            logs.to_str().unwrap(),
            "status",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "safe after the run: {}", stdout(&out));
}

/// Importers given overlapping sources (the folder, a subfolder of it, one of its archives) make separate runs
/// for different source sets and the same run for the same set; the library is one import of the folder.
#[tokio::test(flavor = "multi_thread")]
async fn overlapping_sources_make_one_import() {
    let clean = clean().await;
    let db = fresh_db().await;
    let logs = temp_dir("logs");
    let src = library_folder();
    let (sub, arch) = (src.join("groove"), src.join("nested.tar.gz"));
    let children = vec![
        spawn(&db.url, &logs, &[], &[src]),
        spawn(&db.url, &logs, &[], &[&sub, &arch]),
        spawn(&db.url, &logs, &[], &[src]),
        spawn(&db.url, &logs, &[], &[&arch, &sub]),
    ];
    let reports: Vec<serde_json::Value> = children.into_iter().map(report).collect();
    assert_eq!(&library(&db.pool).await, clean);
    let id = |i: usize| reports[i]["shared_run"]["id"].as_i64().unwrap();
    assert_eq!(id(1), id(3), "the same sources in another order are the same run");
    assert_ne!(id(0), id(1));
}

/// Three importers in fast mode: the first applies the levels once, the last one out restores safety and
/// rebuilds the indexes once; the database ends safe with every index, and the library is one import's.
#[tokio::test(flavor = "multi_thread")]
async fn the_profile_is_applied_and_restored_once_for_the_run() {
    let _turn = PROFILE.lock().await;
    let clean = clean().await;
    let db = fresh_db().await;
    let logs = temp_dir("logs");
    let src = library_folder();
    let children: Vec<Child> = (0..3)
        .map(|_| spawn(&db.url, &logs, &["--mode", "fast", "--yes"], &[src]))
        .collect();
    let reports: Vec<serde_json::Value> = children.into_iter().map(report).collect();
    assert_eq!(&library(&db.pool).await, clean);
    let steps = |r: &serde_json::Value, word: &str| {
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"].as_str().unwrap().starts_with(word) && s["seconds"].as_f64().unwrap() > 0.0)
            .count()
    };
    let applied: Vec<usize> = reports.iter().map(|r| steps(r, "apply")).collect();
    assert_eq!(
        applied.iter().filter(|n| **n > 0).count(),
        1,
        "levels applied by one importer: {applied:?}"
    );
    let restored = reports.iter().filter(|r| r["shared_run"]["restored"] == true).count();
    assert_eq!(restored, 1, "{reports:?}");
    let rebuilt: usize = reports.iter().map(|r| steps(r, "rebuild")).sum();
    assert_eq!(rebuilt, 1);
    let out = run_bin(
        &[
            "--database-url",
            &db.url,
            "--data-dir",
            logs.to_str().unwrap(),
            "status",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "safe after the run: {}", stdout(&out));
}

/// `import --workers 3` starts three importer processes of one run and sums their reports.
#[tokio::test(flavor = "multi_thread")]
async fn workers_start_local_importers_and_sum_their_reports() {
    let clean = clean().await;
    let db = fresh_db().await;
    let src = library_folder();
    let v = import_json(
        &db.url,
        &["--workers", "3", "--unit-files", "32", src.to_str().unwrap()],
    );
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["workers"], 3);
    let importers = v["importers"].as_array().unwrap();
    assert_eq!(importers.len(), 3);
    assert_eq!(v["failed"].as_i64().unwrap(), clean.error_rows);
    let units = scalar(&db.pool, "SELECT count(*) FROM run_units").await;
    assert_eq!(v["shared_run"]["units_taken"].as_i64().unwrap(), units);
    assert_eq!(&library(&db.pool).await, clean);
}

/// What the console's header shows: a run still going with its live importers and units, gone once closed.
#[tokio::test]
async fn live_runs_show_importers_and_units_until_the_run_closes() {
    use midi_tui::engine::database::shared;
    let db = fresh_db().await;
    assert!(shared::live_runs(&db.pool).await.unwrap().is_empty());
    let a = shared::join(&db.pool, "k", &["/m".into()], "fast", 60_000)
        .await
        .unwrap();
    let b = shared::join(&db.pool, "k", &["/m".into()], "fast", 60_000)
        .await
        .unwrap();
    assert_eq!(a.run_id, b.run_id);
    shared::add_units(
        &db.pool,
        a.run_id,
        &[(0, "[]".into()), (1, "[]".into()), (2, "[]".into())],
    )
    .await
    .unwrap();
    let live = shared::live_runs(&db.pool).await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(
        (live[0].id, live[0].importers, live[0].units, live[0].units_done),
        (a.run_id, 2, 3, 0)
    );
    assert_eq!(live[0].mode, "fast");
    assert!(!shared::leave(&db.pool, &a, 0).await.unwrap());
    assert_eq!(shared::live_runs(&db.pool).await.unwrap()[0].importers, 1);
    assert!(shared::leave(&db.pool, &b, 0).await.unwrap());
    assert!(shared::live_runs(&db.pool).await.unwrap().is_empty());
}

/// An analyzed library (autovacuum analyzes every library some time after its import) once made the planner run
/// the unit claim's pick per row, and the claim then missed every free unit after the first: the import stopped
/// after 128 files and said it was done.
#[tokio::test(flavor = "multi_thread")]
async fn an_analyzed_library_imports_every_unit() {
    let db = fresh_db().await;
    let dir = temp_dir("analyzed");
    for (name, seed) in [("a", "31"), ("b", "32")] {
        let d = dir.join(name);
        let o = run_bin(
            &["gen-corpus", d.to_str().unwrap(), "--files", "400", "--seed", seed],
            &[],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let first = import_json(&db.url, &["--mode", "normal", dir.join("a").to_str().unwrap()]);
    assert_eq!(first["seen"], 400, "{first}");
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&db.pool)
        .await
        .expect("analyze");
    let v = import_json(&db.url, &["--mode", "normal", dir.join("b").to_str().unwrap()]);
    assert_eq!(v["seen"], 400, "every file of the second import: {v}");
    assert!(units_taken(&v) > 1, "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}
