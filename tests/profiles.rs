//! Speed profiles on clusters of their own (settings are cluster-wide): levels, journal, crashes, rebuild.
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::own::{Own, persistence};
use common::*;

fn setting(st: &serde_json::Value, name: &str) -> (String, bool) {
    let s = st["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap();
    (
        s["value"].as_str().unwrap().to_string(),
        s["pending_restart"].as_bool().unwrap(),
    )
}

fn indexes_present(st: &serde_json::Value) -> u64 {
    st["secondary_indexes"]["present"].as_u64().unwrap()
}

fn assert_all_safe(st: &serde_json::Value) {
    assert_eq!(setting(st, "fsync").0, "on");
    assert_eq!(setting(st, "full_page_writes").0, "on");
    assert_eq!(setting(st, "synchronous_commit").0, "on");
    assert_eq!(setting(st, "wal_level").0, "replica");
    assert_eq!(setting(st, "autovacuum").0, "on");
    assert_eq!(setting(st, "maintenance_work_mem").0, "64MB");
    for t in ["files", "musical_metadata", "file_locations"] {
        assert_eq!(persistence(st, t), "logged", "{t}");
    }
    assert_eq!(st["pending_restart"], false);
    assert_eq!(st["safe"], true, "{}", st["safety"]);
}

#[test]
fn each_level_applied_twice_and_restored_twice() {
    let c = Own::new("levels");
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/sample-library");
    c.ok(&["import", sample.to_str().unwrap()]);
    assert_all_safe(&c.status());

    for _ in 0..2 {
        c.ok(&["profile", "apply", "basic"]);
    }
    let st = c.status();
    assert_eq!(setting(&st, "synchronous_commit").0, "off");
    assert_ne!(setting(&st, "maintenance_work_mem").0, "64MB");
    assert_eq!(st["badge"], "RELAXED", "level 1 relaxes, it is not unsafe");

    for _ in 0..2 {
        c.ok(&["profile", "apply", "drop-indexes"]);
    }
    let st = c.status();
    assert_eq!(indexes_present(&st), 0);
    let backup = std::fs::read_to_string(c.dir.join("INDEX_BACKUP.sql")).unwrap();
    assert_eq!(
        backup.matches("CREATE INDEX IF NOT EXISTS").count(),
        midi_tui::database::indexes::catalog().len(),
        "INDEX_BACKUP.sql holds every secondary index"
    );

    // Ludicrous refuses without its confirmations, and says what a crash would cost.
    let out = c.run(&["profile", "apply", "ludicrous"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("come back EMPTY"), "{}", stderr(&out));
    assert!(stderr(&out).contains("corrupted"), "{}", stderr(&out));
    assert_eq!(setting(&c.status(), "fsync").0, "on", "nothing changed without a yes");

    for _ in 0..2 {
        c.ok(&["profile", "apply", "ludicrous", "--yes"]);
    }
    let st = c.status();
    assert_eq!(setting(&st, "fsync").0, "off");
    assert_eq!(setting(&st, "full_page_writes").0, "off");
    assert_eq!(
        setting(&st, "wal_level"),
        ("minimal".to_string(), false),
        "restarted: active, not pending"
    );
    assert_eq!(setting(&st, "max_wal_senders").0, "0");
    assert_eq!(setting(&st, "autovacuum").0, "off");
    for t in ["files", "musical_metadata", "file_locations"] {
        assert_eq!(persistence(&st, t), "unlogged", "{t}");
    }
    assert_eq!(st["safe"], false);
    let files_before = st["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "files")
        .unwrap()["rows"]
        .clone();

    for _ in 0..2 {
        let out = c.ok(&["restore-safety"]);
        assert!(
            out.contains("restored and verified")
                && out.contains("still relaxed")
                && out.contains("midi-tui rebuild-indexes"),
            "the dropped indexes are named with their command: {out}"
        );
        assert!(!out.contains("[!!]"), "{out}");
    }
    let out = c.ok(&["rebuild-indexes", "--jobs", "2"]);
    let all = midi_tui::database::indexes::catalog().len();
    assert!(out.contains(&format!("{all}/{all} present")), "{out}");
    let st = c.status();
    assert_all_safe(&st);
    assert_eq!(
        indexes_present(&st),
        midi_tui::database::indexes::catalog().len() as u64
    );
    let files_after = st["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "files")
        .unwrap()["rows"]
        .clone();
    assert_eq!(files_before, files_after, "no row lost through the profile round trip");
    // Twice is harmless.
    let out = c.ok(&["rebuild-indexes"]);
    assert!(out.contains("built 0"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_killed_while_ludicrous_then_status_unsafe_and_restore_restores_all() {
    let c = Own::new("toolkill");
    let corpus = corpus();
    let mut child = std::process::Command::new(BIN)
        .args(["--data-dir", c.d(), "import", "--mode", "ludicrous", "--yes"])
        .arg(corpus.join("groove"))
        .arg(corpus.join("archives"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pool = c.pool().await;
    wait_until_positive(&pool, "SELECT count(*) FROM import_runs").await;
    child.kill().unwrap();
    child.wait().unwrap();
    pool.close().await;

    let out = c.run(&["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("UNSAFE"), "status warns loudly: {}", stderr(&out));
    let st = c.status();
    assert_eq!(st["safe"], false);
    assert_eq!(setting(&st, "fsync").0, "off");

    let out = c.ok(&["restore-safety"]);
    assert!(
        out.contains("restored and verified")
            && out.contains("still relaxed")
            && out.contains("midi-tui rebuild-indexes"),
        "the dropped indexes are named with their command: {out}"
    );
    c.ok(&["rebuild-indexes"]);
    let st = c.status();
    assert_all_safe(&st);
    assert_eq!(
        indexes_present(&st),
        midi_tui::database::indexes::catalog().len() as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_during_ludicrous_import_is_detected_and_reimported() {
    let c = Own::new("srvkill");
    let corpus = corpus();
    let src = corpus.join("groove");
    let mut child = std::process::Command::new(BIN)
        .args([
            "--data-dir",
            c.d(),
            "import",
            "--mode",
            "ludicrous",
            "--yes",
            "--keep-profile",
        ])
        .arg(&src)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pool = c.pool().await;
    wait_until_positive(
        &pool,
        "SELECT coalesce(sum(files_imported), 0)::bigint FROM import_runs",
    )
    .await;
    pool.close().await;
    c.kill_server();
    let _ = child.wait();
    // The next start runs crash recovery: UNLOGGED tables come back empty.
    let out = c.run(&["status"]);
    assert!(stderr(&out).contains("DATA LOST"), "{}", stderr(&out));
    let st = c.status();
    assert!(st["safety"]["data_lost"].is_string(), "{}", st["safety"]);

    let v: serde_json::Value = serde_json::from_str(c.ok(&["import", "--json", src.to_str().unwrap()]).trim()).unwrap();
    assert_eq!(v["status"], "done");
    let pool = c.pool().await;
    let files: i64 = sqlx::query_scalar("SELECT count(*) FROM files")
        .fetch_one(&pool)
        .await
        .unwrap();
    let locations: i64 = sqlx::query_scalar("SELECT count(*) FROM file_locations")
        .fetch_one(&pool)
        .await
        .unwrap();
    let on_disk = walk_mid(&src);
    assert_eq!(locations as usize, on_disk, "every file imported again");
    assert!(files > 0);
    c.ok(&["restore-safety"]);
    c.ok(&["rebuild-indexes"]);
    let st = c.status();
    assert_all_safe(&st);
    assert!(st["safety"]["data_lost"].is_null());
}

/// Poll a count until it is above zero (at most a minute): the moment to pull the plug on a running import.
async fn wait_until_positive(pool: &sqlx::PgPool, sql: &'static str) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn walk_mid(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            n += walk_mid(&p);
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("mid")) {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn non_superuser_gets_a_clear_message_and_the_import_still_runs() {
    let c = Own::new("nosuper");
    let pool = c.pool().await;
    sqlx::raw_sql("CREATE ROLE plain LOGIN").execute(&pool).await.unwrap();
    sqlx::raw_sql("CREATE DATABASE plaindb OWNER plain")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let url = c
        .url()
        .replacen("/midi_tui?", "/plaindb?", 1)
        .replace("user=midi_tui", "user=plain");
    let logs = temp_dir("nosuper-logs");
    let run = |args: &[&str]| {
        let mut all = vec!["--data-dir", logs.to_str().unwrap(), "--database-url", url.as_str()];
        all.extend_from_slice(args);
        run_bin(&all, &[])
    };
    let out = run(&["profile", "apply", "basic"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("not a superuser"), "{}", stdout(&out));
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/sample-library");
    let log = logs.join("run.log");
    let out = run(&[
        "import",
        "--mode",
        "fast",
        "--json",
        "--log",
        log.to_str().unwrap(),
        sample.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["status"], "done");
    assert!(v["imported"].as_u64().unwrap() > 100);
    // Skipping the per-row checks needs a superuser: they stay, the run log says so, and the trigger kept
    // search_rows in step without any proof to journal.
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log.contains("checks kept per row"), "{log}");
    let plain = midi_tui::database::connect(&url, 1).await.unwrap();
    let count = |sql: &'static str| {
        let plain = plain.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&plain).await.unwrap() }
    };
    assert_eq!(
        count("SELECT count(*) FROM safety_journal WHERE kind = 'checks'").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM search_rows").await,
        count("SELECT count(*) FROM musical_metadata").await
    );
    plain.close().await;
    let steps = v["steps"].to_string();
    assert!(steps.contains("not a superuser"), "{steps}");
    // Level 2 works for the owner of the tables: indexes were dropped and rebuilt.
    assert!(steps.contains("rebuild indexes"), "{steps}");
    let st: serde_json::Value = serde_json::from_str(stdout(&run(&["status", "--json"])).trim()).unwrap();
    assert_eq!(
        st["secondary_indexes"]["present"],
        midi_tui::database::indexes::catalog().len()
    );
    assert_eq!(st["superuser"], false);
    let _ = std::fs::remove_dir_all(&logs);
}

/// Making the library UNLOGGED while a reader holds `files` and then asks for a child table must wait for the
/// reader, not deadlock with it (the ALTERs took the children first; the kill tests' poller met it once).
#[tokio::test(flavor = "multi_thread")]
async fn unlogged_switch_waits_for_a_reader_instead_of_deadlocking() {
    use midi_tui::engine::database::safety;
    use midi_tui::engine::profile::plan::UNLOGGED_ORDER;
    let db = fresh_db().await;
    let mut reader = db.pool.begin().await.unwrap();
    sqlx::query("SELECT count(*) FROM files")
        .execute(&mut *reader)
        .await
        .unwrap();
    let pool = db.pool.clone();
    let switch = tokio::spawn(async move { safety::set_persistence_all(&pool, UNLOGGED_ORDER, false).await });
    // Long enough for the switch to queue behind the reader's lock on `files`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!switch.is_finished(), "the switch waits for the reader");
    let child = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::query("SELECT count(*) FROM musical_metadata, file_locations").execute(&mut *reader),
    )
    .await
    .expect("the reader is not blocked by the waiting switch");
    child.expect("no deadlock: the reader's second table is free");
    reader.commit().await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(30), switch)
        .await
        .expect("switch finished");
    done.unwrap().expect("the switch succeeds once the reader is gone");
    let p: String = sqlx::query_scalar("SELECT relpersistence::text FROM pg_class WHERE relname = 'files'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(p, "u");
}
