//! Crash windows that used to lose rows for good: level transitions, early ludicrous crashes, partial table loss,
//! and concurrent importers. Each ends with the library equal to a clean import of the same sources.
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::own::{Own, persistence};
use common::*;
use midi_tui::engine::human::counted;
use tokio::sync::OnceCell;

/// What a library holds, compared whole between a crashed-and-repaired import and a clean one.
#[derive(Debug, PartialEq, Eq)]
struct Library {
    files: i64,
    metadata: i64,
    locations: i64,
    error_rows: i64,
    error_paths: i64,
    files_without_metadata: i64,
    files_without_location: i64,
    pairs: BTreeSet<(String, String)>,
}

async fn library(pool: &sqlx::PgPool) -> Library {
    let pairs: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.path, encode(f.content_hash, 'hex') FROM file_locations l JOIN files f ON f.id = l.file_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    Library {
        files: scalar(pool, "SELECT count(*) FROM files").await,
        metadata: scalar(pool, "SELECT count(*) FROM musical_metadata").await,
        locations: scalar(pool, "SELECT count(*) FROM file_locations").await,
        error_rows: scalar(pool, "SELECT count(*) FROM import_errors").await,
        error_paths: scalar(pool, "SELECT count(DISTINCT path) FROM import_errors").await,
        files_without_metadata: scalar(
            pool,
            "SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM musical_metadata m WHERE m.file_id = f.id)",
        )
        .await,
        files_without_location: scalar(
            pool,
            "SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM file_locations l WHERE l.file_id = f.id)",
        )
        .await,
        pairs: pairs.into_iter().collect(),
    }
}

/// Real files: a folder of small grooves, the broken files of the midly tests, and a nested archive.
fn sources() -> Vec<String> {
    let c = corpus();
    ["groove", "midly-tests", "archives/nested.tar.gz"]
        .iter()
        .map(|p| c.join(p).to_str().unwrap().to_string())
        .collect()
}

/// The library a clean normal import of `sources()` makes, once per test binary.
async fn clean() -> &'static Library {
    static CLEAN: OnceCell<Library> = OnceCell::const_new();
    CLEAN
        .get_or_init(|| async {
            let db = fresh_db().await;
            let src = sources();
            let args: Vec<&str> = src.iter().map(String::as_str).collect();
            let v = import_json(&db.url, &args);
            assert_eq!(v["status"], "done", "{v}");
            let lib = library(&db.pool).await;
            assert!(lib.files > 100 && lib.error_paths > 0, "{lib:?}");
            assert_eq!(lib.error_rows, lib.error_paths);
            lib
        })
        .await
}

fn import_args<'a>(extra: &[&'a str], src: &'a [String]) -> Vec<&'a str> {
    let mut a = vec!["import", "--json"];
    a.extend_from_slice(extra);
    a.extend(src.iter().map(String::as_str));
    a
}

fn spawn_bin(c: &Own, args: &[&str]) -> std::process::Child {
    std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(c.d())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Poll a query until it returns true (bounded: fails loudly after 60 s).
async fn wait_for(pool: &sqlx::PgPool, sql: &str) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let yes: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(pool)
            .await
            .unwrap_or(false);
        if yes {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for: {sql}");
}

/// The README's recovery after a loss (restore safety, import, rebuild), then the library must equal a clean import
/// and the loss be repaired.
async fn recover_and_compare(c: &Own, src: &[String], clean: &Library) {
    c.ok(&["restore-safety"]);
    c.ok(&import_args(&[], src));
    c.ok(&["rebuild-indexes"]);
    let pool = c.pool().await;
    assert_eq!(&library(&pool).await, clean);
    assert_eq!(data_lost(&c.status()), None);
}

fn data_lost(st: &serde_json::Value) -> Option<String> {
    st["safety"]["data_lost"].as_str().map(String::from)
}

/// The old order of level 3 (children UNLOGGED first) left this window: recovery empties musical_metadata and
/// files keeps its rows. The start after the crash must say so, and the next import must re-read those files
/// although every location of theirs is still stored.
#[tokio::test(flavor = "multi_thread")]
async fn metadata_emptied_by_a_crash_is_reported_and_repaired() {
    let clean = clean().await;
    let c = Own::new("partial");
    let src = sources();
    c.ok(&import_args(&[], &src));
    let pool = c.pool().await;
    sqlx::raw_sql("ALTER TABLE musical_metadata SET UNLOGGED")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    c.kill_server();
    let st = c.status();
    let lost = data_lost(&st).expect("status must report the lost metadata");
    assert!(
        lost.contains(&format!("the metadata of {}", counted(clean.files, "file"))),
        "{lost}"
    );
    c.ok(&import_args(&[], &src));
    let pool = c.pool().await;
    assert_eq!(&library(&pool).await, clean);
    sqlx::raw_sql("ALTER TABLE musical_metadata SET LOGGED")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(data_lost(&c.status()), None);
}

/// A ludicrous library emptied by a crash comes back from the lost runs' own sources, whatever the next import is
/// given, with one error row per failing path.
#[tokio::test(flavor = "multi_thread")]
async fn emptied_library_is_read_again_from_the_lost_runs_sources() {
    let clean = clean().await;
    let c = Own::new("emptied");
    let src = sources();
    c.ok(&import_args(&["--mode", "ludicrous", "--yes", "--keep-profile"], &src));
    c.kill_server();
    let st = c.status();
    let lost = data_lost(&st).expect("status must report the emptied library");
    assert!(lost.contains(&counted(clean.files, "file")), "{lost}");
    c.ok(&["restore-safety"]);
    // The next import names another source only: the lost run's sources are read as well.
    let other = corpus().join("tonejs-tests").to_str().unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(c.ok(&["import", "--json", &other]).trim()).unwrap();
    assert_eq!(v["status"], "done", "{v}");
    let pool = c.pool().await;
    let lib = library(&pool).await;
    assert!(clean.pairs.is_subset(&lib.pairs), "every lost location is back");
    assert_eq!(lib.error_rows, lib.error_paths, "one error row per path");
    assert_eq!((lib.files_without_metadata, lib.files_without_location), (0, 0));
    assert_eq!(data_lost(&c.status()), None, "repaired");
}

/// A crash right after the first batches of a ludicrous import: the run row must already vouch for them, or the
/// emptied tables look like a library that never had rows.
#[tokio::test(flavor = "multi_thread")]
async fn early_ludicrous_crash_is_reported_then_repaired() {
    let clean = clean().await;
    let c = Own::new("early");
    let src = sources();
    let pool = c.pool().await;
    let mut child = spawn_bin(
        &c,
        &import_args(&["--mode", "ludicrous", "--yes", "--batch-rows", "20"], &src),
    );
    wait_for(&pool, "SELECT EXISTS (SELECT 1 FROM files)").await;
    c.kill_server();
    // What the tool does about a dead server is tested elsewhere; here only the rows matter.
    let _ = child.kill();
    let _ = child.wait();
    pool.close().await;
    let st = c.status();
    assert!(
        data_lost(&st).is_some(),
        "an early crash must not pass unseen: {}",
        st["safety"]
    );
    recover_and_compare(&c, &src, clean).await;
}

/// restore-safety used to make files LOGGED before musical_metadata: a crash between the two emptied the metadata
/// for good. Now the tables change together: after the crash they are all UNLOGGED and emptied, which the next
/// start reports and the next import repairs.
#[tokio::test(flavor = "multi_thread")]
async fn crash_inside_restore_leaves_tables_consistent_and_the_loss_known() {
    let clean = clean().await;
    let c = Own::new("restore");
    let src = sources();
    c.ok(&import_args(&["--mode", "ludicrous", "--yes", "--keep-profile"], &src));
    let pool = c.pool().await;
    // Hold a lock that restore-safety's ALTER TABLE must wait for: the window between two tables.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE musical_metadata IN ACCESS SHARE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let mut child = spawn_bin(&c, &["restore-safety"]);
    wait_for(
        &pool,
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'musical_metadata'::regclass)",
    )
    .await;
    c.kill_server();
    let _ = child.wait();
    drop(blocker);
    pool.close().await;
    let st = c.status();
    let kinds: BTreeSet<String> = ["files", "musical_metadata", "file_locations"]
        .iter()
        .map(|t| persistence(&st, t))
        .collect();
    assert_eq!(
        kinds.len(),
        1,
        "the library tables changed persistence together: {}",
        st["tables"]
    );
    assert!(
        data_lost(&st).is_some(),
        "the emptied tables are reported: {}",
        st["safety"]
    );
    recover_and_compare(&c, &src, clean).await;
}

/// Three importers of the same sources at once, in small batches so that their transactions interleave: none
/// fails (no deadlock), and the library equals one import, one error row per failing path.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_importers_never_deadlock_and_record_each_error_once() {
    let clean = clean().await;
    let src = sources();
    for round in 0..3 {
        let db = fresh_db().await;
        let logs = temp_dir("logs");
        let children: Vec<std::process::Child> = (0..3)
            .map(|_| {
                std::process::Command::new(BIN)
                    .args(["--data-dir", logs.to_str().unwrap(), "--database-url", &db.url])
                    .args(import_args(&["--batch-rows", "50"], &src))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for ch in children {
            let out = ch.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: an importer failed: {}\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
        assert_eq!(&library(&db.pool).await, clean, "round {round}");
    }
}
