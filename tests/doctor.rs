//! `midi-tui doctor` against a real server: the values it reports are the server's, its advice follows a changed
//! setting, it changes nothing, and a dead server still leaves the machine's checks.
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

fn doctor_json(url: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let data = temp_dir("doctor");
    let mut all = vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--database-url",
        url,
        "doctor",
        "--json",
    ];
    all.extend_from_slice(args);
    let out = run_bin(&all, &[]);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON object ({e}): {}", stderr(&out)));
    let _ = std::fs::remove_dir_all(&data);
    (out.status.code().unwrap_or(-1), v)
}

fn check<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {v}"))
}

/// One ALTER SYSTEM (which may not share a transaction), then a reload.
async fn set(pool: &sqlx::PgPool, sql: &str) {
    for q in [sql, "SELECT pg_reload_conf()"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(q.to_string()))
            .execute(pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn doctor_reports_the_servers_values_and_advice_follows_a_changed_setting() {
    let db = fresh_db().await;
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/midi");
    let plain = std::fs::read_dir(&fixtures).unwrap().count() as u64;
    let (code, v) = doctor_json(&db.url, &["--mode", "fast", fixtures.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["mode"], "fast");
    assert_eq!(v["import"]["plain_files"], plain, "{v}");
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "open_files",
            "cpu_governor",
            "swap",
            "transparent_huge_pages",
            "disk",
            "shared_buffers",
            "checkpoints"
        ]
    );
    let shared = scalar(&db.pool, "SELECT pg_size_bytes(current_setting('shared_buffers'))").await;
    let shown = check(&v, "shared_buffers")["value"].as_str().unwrap().to_string();
    assert_eq!(shown, format!("{} MiB", shared / (1 << 20)), "{v}");
    // The throwaway cluster is on this machine: its disk is measured, not guessed.
    let disk = check(&v, "disk");
    assert!(disk["value"].as_str().unwrap().contains("free under"), "{disk}");
    assert_ne!(disk["verdict"], "unknown");

    let before = check(&v, "checkpoints").clone();
    assert!(before["fix"].is_null() || !before["fix"].as_str().unwrap().contains("completion_target"));
    set(&db.pool, "ALTER SYSTEM SET checkpoint_completion_target = 0.5").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, v) = doctor_json(&db.url, &["--mode", "fast"]);
    let after = check(&v, "checkpoints");
    let restore = "ALTER SYSTEM RESET checkpoint_completion_target";
    assert_eq!(after["verdict"], "advice", "{after}");
    assert!(
        after["fix"]
            .as_str()
            .unwrap()
            .contains("ALTER SYSTEM SET checkpoint_completion_target = '0.9'"),
        "{after}"
    );
    // Doctor advises; it does not change the setting itself.
    let now: f64 = sqlx::query_scalar("SELECT current_setting('checkpoint_completion_target')::float8")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    set(&db.pool, restore).await;
    assert_eq!(now, 0.5);
}

#[test]
fn a_dead_server_leaves_the_machine_checks_and_names_the_cause_quickly() {
    let started = Instant::now();
    let (code, v) = doctor_json("postgresql://nobody@127.0.0.1:9/none?connect_timeout=3", &[]);
    assert_eq!(code, 0, "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(v["status"], "unknown", "{v}");
    assert_ne!(check(&v, "open_files")["verdict"], "unknown");
    for id in ["disk", "shared_buffers", "checkpoints"] {
        let c = check(&v, id);
        assert_eq!(c["verdict"], "unknown", "{c}");
        assert!(c["why"].as_str().unwrap().contains("connection refused"), "{c}");
    }
}
