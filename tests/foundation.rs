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
    assert_eq!(versions, migrate::MIGRATIONS.iter().map(|m| m.0).collect::<Vec<_>>());
    assert_eq!(versions, (1..=24).collect::<Vec<i32>>());
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
         AND tablename IN ('files', 'musical_metadata', 'search_rows', 'file_locations') ORDER BY 1",
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
    // file_locations adds its primary key, its path UNIQUE and the (file id, path) index a cascade needs.
    assert_eq!(extra.len(), 7, "pkeys + unique: {extra:?}");
    assert!(extra.iter().any(|n| n.contains("content_hash")));
    assert_eq!(
        indexes::present(&db.pool).await.unwrap().len(),
        indexes::catalog().len()
    );
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
    let n = midi_tui::database::indexes::catalog().len();
    assert_eq!(v["secondary_indexes"]["expected"], n);
    assert_eq!(v["secondary_indexes"]["present"], n);
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
    assert_eq!(
        indexes::present(&db.pool).await.unwrap().len(),
        indexes::catalog().len()
    );
}

/// The schema a catalog query sees: every column, index, constraint, view, trigger and function of the public
/// schema, as text, sorted.
async fn schema_text(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || \
             coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'public' \
         UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE connamespace = 'public'::regnamespace \
         UNION ALL SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public' \
         UNION ALL SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal \
         UNION ALL SELECT 'function ' || p.proname || ' ' || md5(p.prosrc) FROM pg_proc p \
             WHERE p.pronamespace = 'public'::regnamespace \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A new library gets its schema in one transaction, without the indexes a later migration drops; a library of
/// an earlier version gets the same schema by migrating on: one left before migration 0010 (every migration after
/// it pending at once), and one as the last binary before the leaner writes created it (every migration up to
/// 0012's predecessor applied, the 49 indexes built).
#[tokio::test]
async fn a_new_library_and_an_upgraded_one_have_the_same_schema() {
    let versions: Vec<i32> = migrate::MIGRATIONS.iter().map(|m| m.0).collect();
    let leaner = migrate::MIGRATIONS.iter().position(|m| m.1 == "leaner_writes").unwrap();
    let fresh = fresh_db().await;
    let a = schema_text(&fresh.pool).await;
    assert!(a.len() > 150, "{}", a.len());
    for from in [9, versions[leaner - 1]] {
        let old = common::fresh_db_upto(from).await;
        assert_eq!(
            scalar(
                &old.pool,
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'files_created_at_idx'"
            )
            .await,
            1
        );
        let applied = migrate::run(&old.pool).await.unwrap();
        let pending: Vec<i32> = versions.iter().copied().filter(|v| *v > from).collect();
        assert_eq!(applied, pending, "from {from}");
        let b = schema_text(&old.pool).await;
        let only_new: Vec<_> = a.iter().filter(|x| !b.contains(x)).collect();
        let only_old: Vec<_> = b.iter().filter(|x| !a.contains(x)).collect();
        assert!(
            only_new.is_empty() && only_old.is_empty(),
            "from {from}: new only: {only_new:#?}\nupgraded only: {only_old:#?}"
        );
    }
}
