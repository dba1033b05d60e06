//! Failing fast and saying why: unreachable or killed servers, failed look-ups and rebuilds, no idle wait at the end.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use midi_tui::database::{Cluster, Target, cluster};
use midi_tui::engine::pipeline::ImportOptions;
use midi_tui::engine::run::session::Engine;

/// A managed cluster of the test's own (the tests kill servers), removed when dropped.
struct Own {
    dir: PathBuf,
}

impl Own {
    fn new(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let own = Self { dir };
        own.ok(&["db", "start"]);
        own
    }
    fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["--data-dir", self.d()];
        all.extend_from_slice(args);
        let out = run_bin(&all, &[]);
        assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
        stdout(&out)
    }
    fn spawn(&self, args: &[&str]) -> Child {
        let mut all = vec!["--data-dir", self.d()];
        all.extend_from_slice(args);
        spawn_bin(&all)
    }
    async fn pool(&self) -> sqlx::PgPool {
        midi_tui::database::connect(&Cluster::new(&self.dir).url(), 3)
            .await
            .unwrap()
    }
    fn kill_server(&self) {
        Cluster::new(&self.dir).kill_server().expect("the server runs");
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        let _ = Cluster::new(&self.dir).stop();
        cluster::remove_cluster_files(&self.dir);
    }
}

fn spawn_bin(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("MIDI_TUI_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn midi-tui")
}

/// Wait for a child (killed after `limit`); its output and how long it took from `since`.
fn finish(mut child: Child, since: Instant, limit: Duration) -> (Output, Duration) {
    while child.try_wait().expect("wait").is_none() {
        if since.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = since.elapsed();
    (child.wait_with_output().expect("output"), took)
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON object on stdout ({e}): {}\nstderr: {}",
            stdout(out),
            stderr(out)
        )
    })
}

/// Poll a boolean query until it holds.
async fn wait_for(pool: &sqlx::PgPool, sql: &str, limit: Duration) {
    let t = Instant::now();
    loop {
        let yes: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(pool)
            .await
            .unwrap_or(false);
        if yes {
            return;
        }
        assert!(t.elapsed() < limit, "timed out waiting for: {sql}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The import waits in its first resume look-up: the run has started, nothing is written yet.
const LOOKUP_BLOCKED: &str = "SELECT EXISTS (SELECT 1 FROM import_runs WHERE status = 'running') AND EXISTS \
     (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'import_errors'::regclass)";

/// A folder with a few real MIDI files of the shared corpus.
fn small_source(tag: &str, n: usize) -> PathBuf {
    let dir = temp_dir(tag);
    let mut files: Vec<PathBuf> = walk(&corpus().join("groove"));
    files.sort();
    for (i, f) in files.iter().take(n).enumerate() {
        std::fs::copy(f, dir.join(format!("{i}.mid"))).unwrap();
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        n,
        "corpus has {n} MIDI files under groove/"
    );
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("mid")) {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_refused_connection_fails_at_once_and_says_refused() {
    let logs = temp_dir("refused");
    let src = logs.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let url = "postgres://x@127.0.0.1:1/db";
    for cmd in [
        vec!["import", "--json", src.to_str().unwrap()],
        vec!["status", "--json"],
        vec!["restore-safety", "--json"],
    ] {
        let mut args = vec!["--data-dir", logs.to_str().unwrap(), "--database-url", url];
        args.extend_from_slice(&cmd);
        let t = Instant::now();
        let out = run_bin(&args, &[]);
        let took = t.elapsed();
        eprintln!(
            "{cmd:?}: gave up on a refused connection after {:.2} s",
            took.as_secs_f64()
        );
        assert!(took < Duration::from_secs(5), "{cmd:?} took {took:?} to give up");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        let v = json_of(&out);
        assert_eq!(v["status"], "failed", "{cmd:?}: {v}");
        let error = v["error"].as_str().unwrap();
        assert_eq!(error, "cannot connect to 127.0.0.1:1: connection refused", "{cmd:?}");
        assert_eq!(
            stderr(&out).matches("refused").count(),
            1,
            "said once: {}",
            stderr(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&logs);
}

#[test]
fn a_missing_server_socket_is_named() {
    let dir = temp_dir("nosocket");
    let url = format!("postgresql:///db?host={}&port=5499", dir.display());
    let out = run_bin(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "--database-url",
            &url,
            "status",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "no server socket at {}/.s.PGSQL.5499: is the server running?",
        dir.display()
    );
    assert_eq!(json_of(&out)["error"], expected.as_str());
    assert_eq!(stderr(&out).trim(), format!("error: {expected}"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_import_ends_the_run_failed_within_seconds() {
    let own = Own::new("deadsrv");
    let src = small_source("deadsrc", 20);
    let pool = own.pool().await;
    // Hold the import in its first look-up, so the kill lands mid-run whatever the machine's speed.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE import_errors IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let child = own.spawn(&["import", "--json", src.to_str().unwrap()]);
    wait_for(&pool, LOOKUP_BLOCKED, Duration::from_secs(60)).await;
    own.kill_server();
    let (out, took) = finish(child, Instant::now(), Duration::from_secs(60));
    drop(lock);
    pool.close().await;
    eprintln!("gave up on a dead server {:.2} s after the kill", took.as_secs_f64());
    assert!(
        took < Duration::from_secs(10),
        "took {took:?} to notice the dead server"
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let v = json_of(&out);
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("server terminated the connection"), "{error}");
    assert_eq!(error.matches("terminated").count(), 1, "said once: {error}");
    assert!(!error.contains(" at line "), "no PostgreSQL source lines: {error}");
    let run_id = v["run_id"].as_i64().unwrap();

    // The server could not store `failed`; the next start does (a killed tool would read `interrupted`).
    own.ok(&["db", "start"]);
    own.ok(&["status", "--json"]);
    let pool = own.pool().await;
    let status: String = sqlx::query_scalar("SELECT status FROM import_runs WHERE id = $1")
        .bind(run_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");
    let notes = std::fs::read_dir(own.dir.join("pending-runs")).map_or(0, |d| d.count());
    assert_eq!(notes, 0, "the note is removed once applied");

    // A tool killed while its server lives is `interrupted`, not `failed`.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE import_errors IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut child = own.spawn(&["import", "--json", src.to_str().unwrap()]);
    wait_for(&pool, LOOKUP_BLOCKED, Duration::from_secs(60)).await;
    child.kill().unwrap();
    let _ = child.wait();
    lock.commit().await.unwrap();
    let out = own.ok(&["import", "--json", src.to_str().unwrap()]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["status"],
        "done"
    );
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM import_runs ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(statuses, ["failed", "interrupted", "done"]);
    let _ = std::fs::remove_dir_all(&src);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_writer_notices_a_dead_server() {
    let own = Own::new("idle");
    let engine = Engine::open(Target::Managed(Cluster::new(&own.dir)), own.dir.clone())
        .await
        .unwrap();
    let handle = engine.import(ImportOptions::new(
        vec![corpus()],
        midi_tui::engine::pipeline::RunMode::Normal,
    ));
    // Paused: no batch will come, only the writer's own check can see the server die.
    handle.control.set_paused(true);
    let pool = own.pool().await;
    wait_for(
        &pool,
        "SELECT EXISTS (SELECT 1 FROM import_runs WHERE status = 'running')",
        Duration::from_secs(60),
    )
    .await;
    pool.close().await;
    // The writer connects right after the run row: let it settle into waiting for batches.
    tokio::time::sleep(Duration::from_secs(1)).await;
    own.kill_server();
    let t = Instant::now();
    while !handle.is_finished() && t.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t.elapsed();
    if !handle.is_finished() {
        handle.control.cancel();
    }
    eprintln!("idle writer gave up {:.2} s after the kill", took.as_secs_f64());
    assert!(
        took < Duration::from_secs(10),
        "a paused run noticed the dead server after {took:?}"
    );
    let err = tokio::task::spawn_blocking(move || handle.join())
        .await
        .unwrap()
        .expect_err("the run fails");
    assert!(err.to_string().contains("server terminated the connection"), "{err}");
    let notes = std::fs::read_dir(own.dir.join("pending-runs")).map_or(0, |d| d.count());
    assert_eq!(notes, 1, "the failed status waits for the next start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_resume_lookup_fails_the_run() {
    let db = fresh_db().await;
    let role = format!("ff_noread_{}", std::process::id());
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE, CREATE ON SCHEMA public TO {role}"),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        // The look-up reads import_errors; nothing else before it does.
        format!("REVOKE SELECT ON import_errors FROM {role}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&db.pool).await.unwrap();
    }
    let url = db.url.replacen("user=midi_tui", &format!("user={role}"), 1);
    assert_ne!(url, db.url, "the URL names its user: {}", db.url);
    let src = small_source("lookupsrc", 5);
    let logs = temp_dir("lookuplogs");
    let out = run_bin(
        &[
            "--data-dir",
            logs.to_str().unwrap(),
            "--database-url",
            &url,
            "import",
            "--json",
            src.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let v = json_of(&out);
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("look-up"), "{error}");
    assert!(error.contains("permission denied for table import_errors"), "{error}");
    assert!(!error.contains(" at line "), "{error}");
    let stored: String = sqlx::query_scalar("SELECT status FROM import_runs ORDER BY id DESC LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, "failed");
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_index_rebuild_after_the_run_prints_failed_json() {
    let own = Own::new("rebuild");
    let src = small_source("rebuildsrc", 5);
    let pool = own.pool().await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE import_errors IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let child = own.spawn(&["import", "--mode", "fast", "--json", src.to_str().unwrap()]);
    wait_for(&pool, LOOKUP_BLOCKED, Duration::from_secs(60)).await;
    // The indexes are dropped now; a table taking one's name makes its rebuild fail for real.
    let name: String = sqlx::query_scalar("SELECT index_name FROM index_backup ORDER BY index_name LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {} (x int)",
        midi_tui::database::quote_ident(&name)
    )))
    .execute(&pool)
    .await
    .unwrap();
    lock.commit().await.unwrap();
    let (out, _) = finish(child, Instant::now(), Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let v = json_of(&out);
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    let expected = midi_tui::database::indexes::catalog().len();
    let present = format!(
        "rebuild indexes: {} of {expected} secondary indexes present",
        expected - 1
    );
    assert!(error.starts_with(&present), "{error}");
    assert_eq!(v["seen"], 5, "the run itself went through: {v}");
    let _ = std::fs::remove_dir_all(&src);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_nothing_new_takes_well_under_a_second() {
    let db = fresh_db().await;
    let src = small_source("quick", 1);
    let first = import_json(&db.url, &[src.to_str().unwrap()]);
    assert_eq!(first["imported"], 1);
    let logs = temp_dir("quicklogs");
    let t = Instant::now();
    let out = run_bin(
        &[
            "--data-dir",
            logs.to_str().unwrap(),
            "--database-url",
            &db.url,
            "import",
            src.to_str().unwrap(),
        ],
        &[],
    );
    let took = t.elapsed();
    eprintln!("headless import of one known file: {:.2} s", took.as_secs_f64());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 skipped"), "{}", stdout(&out));
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&logs);
}
