//! Test harness: one throwaway managed cluster per test binary, a fresh database per test, removed at exit.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use midi_tui::database::{self, Cluster, cluster};
use sqlx::PgPool;

pub mod own;

pub const BIN: &str = env!("CARGO_BIN_EXE_midi-tui");

struct Shared {
    data_dir: PathBuf,
    url: String,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static START: Mutex<()> = Mutex::new(());
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

extern "C" fn remove_shared_cluster() {
    if let Some(s) = SHARED.get() {
        let mut c = Cluster::new(&s.data_dir);
        let _ = c.stop();
        cluster::remove_cluster_files(&s.data_dir);
    }
}

/// A new empty folder for a test's own data directory (its own cluster, when a test needs one).
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("mt-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn shared() -> &'static Shared {
    let _guard = START.lock().unwrap_or_else(|e| e.into_inner());
    SHARED.get_or_init(|| {
        let data_dir = temp_dir("cluster");
        let mut c = Cluster::new(&data_dir);
        c.ensure_started().expect("start the throwaway cluster");
        // SAFETY: registering a plain extern "C" function; it runs at process exit, failing tests included.
        unsafe { libc::atexit(remove_shared_cluster) };
        Shared { url: c.url(), data_dir }
    })
}

/// The shared cluster's data directory and its maintenance URL (database midi_tui).
pub fn cluster_data_dir() -> &'static Path {
    &shared().data_dir
}

pub fn cluster_url() -> &'static str {
    &shared().url
}

/// A fresh, migrated database on the shared cluster.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

pub async fn fresh_db() -> TestDb {
    fresh_db_upto(i32::MAX).await
}

/// A fresh database on the shared cluster, migrated up to migration `last` (a library an older version left).
pub async fn fresh_db_upto(last: i32) -> TestDb {
    let base = cluster_url().to_string();
    let admin = database::connect(&base, 1)
        .await
        .expect("connect to the throwaway cluster");
    let name = format!("t_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        database::quote_ident(&name)
    )))
    .execute(&admin)
    .await
    .expect("create test database");
    admin.close().await;
    let url = base.replacen("/midi_tui?", &format!("/{name}?"), 1);
    let pool = database::connect(&url, 8).await.expect("connect to test database");
    database::migrate::run_upto(&pool, last).await.expect("migrate");
    TestDb { name, url, pool }
}

/// Run the real binary with a data dir of the test's own (logs) against `url`.
pub fn run_bin(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("MIDI_TUI_DATA_DIR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run midi-tui")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Live (non-zombie) postgres processes whose working directory is `pgdata`.
pub fn server_processes(data_dir: &Path) -> Vec<i32> {
    cluster::cluster_processes(&data_dir.join("pg"))
}

/// The shared corpus (MIDI_TUI_CORPUS, set by .ci/run); a test that needs it fails loudly without it.
pub fn corpus() -> PathBuf {
    let p = PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or_else(|_| "/work/shared/corpus".into()));
    assert!(
        p.join("reference.jsonl").is_file(),
        "the shared corpus is not at {} (set MIDI_TUI_CORPUS)",
        p.display()
    );
    p
}

/// `midi-tui import --json` against a database URL; returns the parsed summary (asserts one JSON object).
pub fn import_json(url: &str, args: &[&str]) -> serde_json::Value {
    let logs = temp_dir("logs");
    let mut all = vec![
        "--data-dir",
        logs.to_str().unwrap(),
        "--database-url",
        url,
        "import",
        "--json",
    ];
    all.extend_from_slice(args);
    let out = run_bin(&all, &[]);
    let text = stdout(&out);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "import --json printed no JSON object ({e}): {text}\nstderr: {}",
            stderr(&out)
        )
    });
    let _ = std::fs::remove_dir_all(&logs);
    v
}

/// The binary with `args` against a database URL, in a throwaway data directory (its logs).
pub fn run_on(url: &str, args: &[&str]) -> std::process::Output {
    let data = temp_dir("logs");
    let mut all = vec!["--data-dir", data.to_str().unwrap(), "--database-url", url];
    all.extend_from_slice(args);
    let out = run_bin(&all, &[]);
    let _ = std::fs::remove_dir_all(&data);
    out
}

/// `midi-tui search --json ARGS...` against a database URL: one parsed object per hit (asserts it succeeded).
pub fn search_json(url: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let out = run_on(url, &all);
    assert!(out.status.success(), "search {args:?}: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One number from a query.
pub async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A content whose every field differs from the others, so a value in the wrong column cannot go unseen (quotes,
/// tabs, backslashes and commas in its text), for the writer's tests.
pub fn sample_record(hash: u8, location: &str) -> midi_tui::engine::record::ContentRecord {
    use midi_tui::engine::midi::{Fingerprint, MidiMetadata, Music, PathMeta};
    use midi_tui::engine::record::ContentRecord;
    ContentRecord {
        hash: [hash; 32],
        location: location.into(),
        size: 1234,
        path: PathMeta {
            filename: "b\tc.mid".into(),
            name_sort: "b\tc.mid".into(),
            parent_folder: "a".into(),
            collection: "col".into(),
            filename_bpm: Some(120.5),
            filename_key: Some("Am".into()),
        },
        midi: MidiMetadata {
            format: 1,
            num_tracks: 3,
            ticks_per_quarter_note: Some(480),
            duration_ticks: 9600,
            duration_seconds: 12.5,
            track_names: vec!["Bass \"1\"".into(), "a,b\\c".into()],
            copyright: Some("(c) x".into()),
            music: Music::sample(),
            notes_fingerprint: Some(Fingerprint([0x11; 16])),
            transposed_fingerprint: Some(Fingerprint([0x22; 16])),
            ..Default::default()
        },
    }
}
