//! The smaller trust fixes: concurrent first start, closed stdout, status exit codes and badge, private logs,
//! per-target data directory, `profile apply` levels and modes.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use midi_tui::database::{Cluster, cluster};

/// Level 1 changes settings of the whole shared cluster: tests that apply it, or expect SAFE, take turns.
static CLUSTER_SETTINGS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn sample(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/sample-library")
        .join(sub)
}

/// The tool against a test database, with a data directory of the test's own.
struct External {
    url: String,
    data: PathBuf,
}

impl External {
    fn new(url: &str, tag: &str) -> Self {
        Self {
            url: url.to_string(),
            data: temp_dir(tag),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--data-dir", self.data.to_str().unwrap(), "--database-url", &self.url];
        all.extend_from_slice(args);
        run_bin(&all, &[])
    }

    /// `status` as text: (exit code, stdout + stderr).
    fn status_text(&self) -> (i32, String) {
        let out = self.run(&["status"]);
        (out.status.code().unwrap_or(-1), stdout(&out) + &stderr(&out))
    }

    fn status_json(&self) -> (i32, serde_json::Value) {
        let out = self.run(&["status", "--json"]);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json printed no JSON object ({e}): {}", stderr(&out)));
        (out.status.code().unwrap_or(-1), v)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}\n{}", stderr(&out), stdout(&out));
        stdout(&out)
    }
}

impl Drop for External {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Postmasters of a data directory: cluster processes whose parent is not one (a process that ended meanwhile is
/// left out).
fn postmasters(data_dir: &Path) -> Vec<i32> {
    let procs = server_processes(data_dir);
    let parent = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()
    };
    procs
        .iter()
        .copied()
        .filter(|&pid| parent(pid).is_some_and(|ppid| !procs.contains(&ppid)))
        .collect()
}

#[test]
fn two_first_commands_on_a_new_data_dir_share_one_cluster() {
    for round in 0..3 {
        let dir = temp_dir("race");
        let spawn = |args: &[&str]| {
            Command::new(BIN)
                .arg("--data-dir")
                .arg(&dir)
                .args(args)
                .env_remove("DATABASE_URL")
                .env_remove("MIDI_TUI_DATA_DIR")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn(&["db", "start"]);
        let b = spawn(&["status"]);
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(a.status.success(), "round {round}: db start: {}", stderr(&a));
            assert_eq!(b.status.code(), Some(0), "round {round}: status: {}", stderr(&b));
            assert!(stdout(&b).contains("safety: SAFE"), "{}", stdout(&b));
            assert_eq!(postmasters(&dir).len(), 1, "round {round}: one server");
        }));
        let _ = Cluster::new(&dir).stop();
        cluster::remove_cluster_files(&dir);
        if let Err(panic) = checks {
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn extract_into_a_closed_pipe_ends_quietly() {
    let out = temp_dir("extract-pipe");
    let mut child = Command::new(BIN)
        .args(["extract", "--out"])
        .arg(&out)
        .arg(sample("groove-drummer3.zip"))
        .env_remove("DATABASE_URL")
        .env("MIDI_TUI_DATA_DIR", &out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the report is written, as `| head -1` does after its line.
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    let err = stderr(&done);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(done.status.code(), Some(0), "{err}");
    assert!(
        std::fs::read_dir(&out).unwrap().count() > 1,
        "the archive was extracted all the same"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_exit_codes_and_badges_follow_the_contract() {
    let _turn = CLUSTER_SETTINGS.lock().await;
    let db = fresh_db().await;
    let t = External::new(&db.url, "status-codes");
    let (code, text) = t.status_text();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("safety: SAFE"), "{text}");
    let (code, v) = t.status_json();
    assert_eq!((code, &v["safe"], &v["badge"]), (0, &true.into(), &"SAFE".into()));

    // Indexes dropped alone: relaxed, not safe.
    t.ok(&["profile", "apply", "drop-indexes"]);
    let (code, text) = t.status_text();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("safety: RELAXED"), "{text}");
    assert!(!text.contains("safety: SAFE"), "{text}");
    let (code, v) = t.status_json();
    assert_eq!((code, &v["safe"], &v["badge"]), (3, &false.into(), &"RELAXED".into()));
    t.ok(&["rebuild-indexes"]);

    // An UNLOGGED table: unsafe, the warning printed once.
    sqlx::raw_sql("ALTER TABLE file_locations SET UNLOGGED")
        .execute(&db.pool)
        .await
        .unwrap();
    let (code, text) = t.status_text();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("safety: UNSAFE"), "{text}");
    assert_eq!(text.matches("THE DATABASE IS UNSAFE").count(), 1, "{text}");
    assert_eq!(text.matches("file_locations is UNLOGGED").count(), 1, "{text}");
    let (code, v) = t.status_json();
    assert_eq!((code, &v["badge"]), (3, &"UNSAFE".into()));

    // Rows the runs vouch for are gone (what crash recovery does to UNLOGGED tables): data lost wins over unsafe.
    import_json(&db.url, &[sample("tonejs").to_str().unwrap()]);
    sqlx::raw_sql("TRUNCATE files, musical_metadata, file_locations")
        .execute(&db.pool)
        .await
        .unwrap();
    let (code, text) = t.status_text();
    assert_eq!(code, 4, "{text}");
    assert_eq!(text.matches("DATA LOST").count(), 1, "{text}");
    assert_eq!(text.matches("THE DATABASE IS UNSAFE").count(), 1, "{text}");
    let (code, v) = t.status_json();
    assert_eq!((code, &v["badge"]), (4, &"UNSAFE".into()));
    assert!(v["safety"]["data_lost"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_apply_fast_then_restore_and_rebuild() {
    let _turn = CLUSTER_SETTINGS.lock().await;
    let db = fresh_db().await;
    let t = External::new(&db.url, "apply-fast");
    let out = t.ok(&["profile", "apply", "fast"]);
    assert!(out.contains("level 1 (basic)"), "{out}");
    assert!(out.contains("level 2 (drop indexes)"), "{out}");
    assert!(!out.contains("level 3"), "{out}");
    let (code, v) = t.status_json();
    assert_eq!((code, &v["badge"]), (3, &"RELAXED".into()), "{}", v["safety"]);
    assert_eq!(v["secondary_indexes"]["present"], 0);
    assert_eq!(v["safety"]["levels_applied"], serde_json::json!([true, true, false]));
    let (code, text) = t.status_text();
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("safety: RELAXED"),
        "the fast-mode leftover is not SAFE: {text}"
    );

    let out = t.ok(&["restore-safety"]);
    assert!(
        out.contains("restored and verified")
            && out.contains("still relaxed")
            && out.contains("midi-tui rebuild-indexes"),
        "the dropped indexes are named with their command: {out}"
    );
    let out = t.ok(&["rebuild-indexes", "--jobs", "2"]);
    let all = midi_tui::database::indexes::catalog().len();
    assert!(out.contains(&format!("{all}/{all} present")), "{out}");
    let (code, v) = t.status_json();
    assert_eq!((code, &v["badge"]), (0, &"SAFE".into()), "{}", v["safety"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_readable_by_their_owner_only() {
    let db = fresh_db().await;
    let t = External::new(&db.url, "private-logs");
    t.ok(&["import", sample("tonejs").to_str().unwrap()]);
    let logs = t.data.join("logs");
    assert_eq!(mode(&logs), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).collect();
    let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    assert!(files.iter().any(|p| name(p).starts_with("import-")), "{files:?}");
    assert!(files.iter().any(|p| name(p).starts_with("midi-tui-")), "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // A log named with --log is private too.
    let own = t.data.join("mine/run.log");
    t.ok(&[
        "--log",
        own.to_str().unwrap(),
        "import",
        sample("tonejs").to_str().unwrap(),
    ]);
    assert_eq!(mode(&own), 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn database_url_without_data_dir_keeps_logs_and_backups_apart_per_target() {
    let db = fresh_db().await;
    let home = temp_dir("xdg");
    let out = run_bin(
        &["--database-url", &db.url, "profile", "apply", "drop-indexes"],
        &[
            ("XDG_DATA_HOME", home.to_str().unwrap()),
            ("HOME", home.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let default = home.join("midi-tui");
    let own = default
        .join("targets")
        .join(midi_tui::database::target_dir_name(&db.url));
    assert!(own.join("INDEX_BACKUP.sql").is_file(), "{}", stdout(&out));
    assert!(stdout(&out).contains(&own.display().to_string()), "{}", stdout(&out));
    assert!(own.join("logs").is_dir());
    assert!(!default.join("INDEX_BACKUP.sql").exists());
    assert!(!default.join("logs").exists());
    let _ = std::fs::remove_dir_all(&home);
}
