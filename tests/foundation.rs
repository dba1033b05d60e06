//! Foundation: managed cluster lifecycle, migrations, index catalog vs database, status, external servers.
mod common;

use std::time::Duration;

use common::*;
use midi_tui::database::{Cluster, cluster, indexes, migrate, safety, status};

#[test]
fn cluster_start_stop_reuse_and_crash_recovery() {
    let dir = temp_dir("lifecycle");
    let d = dir.to_str().unwrap();

    let out = run_bin(&["--data-dir", d, "db", "start"], &[]);
    assert!(out.status.success(), "db start: {}", stderr(&out));
    assert!(stdout(&out).starts_with("started:"), "{}", stdout(&out));
    let first_pid = Cluster::new(&dir).running_pid().expect("running after start");

    // A second start reuses the running server.
    let out = run_bin(&["--data-dir", d, "db", "start"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("already running"), "{}", stdout(&out));
    assert_eq!(Cluster::new(&dir).running_pid(), Some(first_pid));

    // Data written before a SIGKILL is there after the next start.
    let url = stdout(&run_bin(&["--data-dir", d, "db", "url"], &[]))
        .trim()
        .to_string();
    let psql = |sql: &str| {
        let o = std::process::Command::new("psql")
            .args([&url, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
            .output()
            .unwrap();
        assert!(o.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    psql("INSERT INTO import_runs (sources, mode, status) VALUES ('{x}', 'normal', 'done')");
    Cluster::new(&dir).kill_server().expect("kill");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        dir.join("pg/postmaster.pid").exists(),
        "a SIGKILL leaves the pid file behind"
    );
    let out = run_bin(&["--data-dir", d, "db", "start"], &[]);
    assert!(out.status.success(), "restart after SIGKILL: {}", stderr(&out));
    assert_eq!(psql("SELECT count(*) FROM import_runs"), "1");

    // A stale pid file naming a live process that is not postgres is recognised as stale.
    let out = run_bin(&["--data-dir", d, "db", "stop"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(server_processes(&dir).is_empty(), "db stop leaves no postgres process");
    let pidfile = dir.join("pg/postmaster.pid");
    std::fs::write(
        &pidfile,
        format!("{}\n{}\n", std::process::id(), dir.join("pg").display()),
    )
    .unwrap();
    let out = run_bin(&["--data-dir", d, "db", "start"], &[]);
    assert!(out.status.success(), "start over a stale pid file: {}", stderr(&out));
    let status = run_bin(&["--data-dir", d, "db", "status", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["initialised"], true);

    let out = run_bin(&["--data-dir", d, "db", "stop"], &[]);
    assert!(out.status.success());
    assert!(server_processes(&dir).is_empty(), "db stop leaves no postgres process");
    assert!(!dir.join("pg/postmaster.pid").exists());
    cluster::remove_cluster_files(&dir);
}

#[test]
fn cluster_listens_on_its_socket_only_with_a_private_data_folder() {
    use std::os::unix::fs::PermissionsExt;
    let _ = cluster_url();
    let data = cluster_data_dir();
    let pg = std::fs::canonicalize(data.join("pg")).unwrap();
    let mode = std::fs::metadata(&pg).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "data folder mode");
    let conf = std::fs::read_to_string(pg.join("postgresql.auto.conf")).unwrap();
    assert!(conf.contains("listen_addresses = ''"), "{conf}");
    let hba = std::fs::read_to_string(pg.join("pg_hba.conf")).unwrap();
    assert!(!hba.lines().any(|l| l.starts_with("host")), "no TCP auth lines: {hba}");
    let sock = std::fs::canonicalize(data.join("run")).unwrap().join(".s.PGSQL.5432");
    assert!(sock.exists(), "socket at {}", sock.display());
    assert!(sock.as_os_str().len() <= 107);
}

#[test]
fn long_data_dir_paths_keep_the_socket_under_the_limit() {
    let base = temp_dir("long");
    let deep = base.join("a".repeat(60)).join("b".repeat(60));
    let mut c = Cluster::new(&deep);
    c.ensure_started().expect("start with a long data dir");
    let url = c.url();
    let host = url.split("host=").nth(1).unwrap().split('&').next().unwrap();
    assert!(host.len() + "/.s.PGSQL.5432".len() <= 107, "{host}");
    assert!(c.running_pid().is_some());
    c.stop().unwrap();
    assert!(server_processes(&deep).is_empty());
    cluster::remove_cluster_files(&deep);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn missing_server_binaries_give_an_error_naming_the_package() {
    let err = midi_tui::database::cluster::ServerBinaries::search(Some("/nonexistent".into()), "/nonexistent".as_ref())
        .unwrap_err()
        .to_string();
    assert!(err.contains("apt-get install postgresql"), "{err}");
    let dir = temp_dir("nobins");
    let out = run_bin(
        &["--data-dir", dir.to_str().unwrap(), "db", "start"],
        &[("PATH", "/nonexistent"), ("MIDI_TUI_PG_LIB_ROOT", "/nonexistent")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("PostgreSQL server binaries"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--database-url"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn migrations_apply_once_and_twice_is_harmless() {
    let db = fresh_db().await;
    let again = migrate::run(&db.pool).await.unwrap();
    assert!(again.is_empty(), "second run applies nothing: {again:?}");
    let versions: Vec<i32> = sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY 1")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for t in status::TABLES {
        assert!(tables.iter().any(|x| x == t), "{t} in {tables:?}");
    }
}

#[tokio::test]
async fn index_catalog_matches_the_database() {
    let db = fresh_db().await;
    let in_db: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT indexname::text, tablename::text, indexdef FROM pg_indexes WHERE schemaname = 'public' \
         AND tablename IN ('files', 'musical_metadata', 'search_rows') ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let catalog = indexes::catalog();
    for idx in catalog {
        let found = in_db.iter().find(|(n, _, _)| *n == idx.name);
        let (_, table, _) = found.unwrap_or_else(|| panic!("{} missing in the database", idx.name));
        assert_eq!(table, &idx.table);
    }
    // Everything else on those tables is essential: primary keys and the content_hash UNIQUE.
    let extra: Vec<&String> = in_db
        .iter()
        .map(|(n, _, _)| n)
        .filter(|n| !catalog.iter().any(|i| &i.name == *n))
        .collect();
    assert_eq!(extra.len(), 4, "pkeys + unique: {extra:?}");
    assert!(extra.iter().any(|n| n.contains("content_hash")));
    assert_eq!(indexes::present(&db.pool).await.unwrap().len(), 49);
}

#[test]
fn status_json_reports_tables_indexes_and_settings_over_an_external_url() {
    let _ = cluster_url();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(fresh_db());
    let logs = temp_dir("status");
    let out = run_bin(
        &[
            "--data-dir",
            logs.to_str().unwrap(),
            "--database-url",
            &db.url,
            "status",
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["managed"], false);
    assert_eq!(v["secondary_indexes"]["expected"], 49);
    assert_eq!(v["secondary_indexes"]["present"], 49);
    assert_eq!(v["superuser"], true);
    assert!(v["database_size_bytes"].as_i64().unwrap() > 0);
    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 5);
    assert!(tables.iter().all(|t| t["persistence"] == "logged" && t["rows"] == 0));
    let settings = v["settings"].as_array().unwrap();
    for name in [
        "synchronous_commit",
        "fsync",
        "full_page_writes",
        "wal_level",
        "autovacuum",
        "maintenance_work_mem",
        "work_mem",
        "max_wal_size",
        "wal_buffers",
    ] {
        let s = settings
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} reported"));
        assert!(s["value"].is_string() && s["pending_restart"].is_boolean(), "{s}");
    }
    assert_eq!(v["pending_restart"], false);
    // The external server's data is untouched by the managed cluster: no cluster was created in the data dir.
    assert!(
        !logs.join("pg").exists(),
        "--database-url must not create a managed cluster"
    );
    let _ = std::fs::remove_dir_all(&logs);
}

#[tokio::test]
async fn a_build_connection_recreates_a_dropped_catalog_index() {
    let db = fresh_db().await;
    let gin = indexes::catalog()
        .iter()
        .find(|i| i.definition.contains("gin"))
        .expect("a GIN index in the catalog");
    safety::drop_index(&db.pool, &gin.name).await.unwrap();
    assert!(!indexes::present(&db.pool).await.unwrap().contains(&gin.name));
    let mut conn = indexes::BuildConnection::open(&db.pool, "64MB").await.unwrap();
    conn.build(gin).await.unwrap();
    // A second build of a present index is harmless: the catalog's statements say IF NOT EXISTS.
    conn.build(gin).await.unwrap();
    conn.close().await;
    assert_eq!(indexes::present(&db.pool).await.unwrap().len(), 49);
}
