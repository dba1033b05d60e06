//! Fault injection: the tool and the server SIGKILLed at each risky moment, the documented recovery, then the
//! library compared with a clean import of the same source.
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::own::Own;
use common::{BIN, temp_dir};
use midi_tui::database::{indexes, quote_ident};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Files in the generated library: enough for a kill to land mid-import, few enough for a 2-core machine.
const GEN_FILES: &str = "12000";
/// The tables a level-3 transition turns UNLOGGED and back.
const LIBRARY_TABLES: [&str; 4] = ["musical_metadata", "file_locations", "archive_progress", "files"];
const SECONDARY_INDEXES: u64 = 52;
/// How long the tool may take to give up once its server is dead (issue 9: a few seconds).
const TOOL_GIVES_UP: Duration = Duration::from_secs(10);
const COMMAND: Duration = Duration::from_secs(90);
const IMPORT: Duration = Duration::from_secs(150);
const POLL: Duration = Duration::from_millis(20);
/// Our own sessions, told apart from the tool's in pg_stat_activity.
const APP_NAME: &str = "fault-injection";

// ---------------------------------------------------------------------------------------------------------------
// The source and the clean import, each made once per test binary.

struct Source {
    root: PathBuf,
    args: Vec<String>,
}

static SOURCE: OnceLock<Source> = OnceLock::new();

extern "C" fn remove_source() {
    if let Some(s) = SOURCE.get() {
        let _ = std::fs::remove_dir_all(&s.root);
    }
}

/// A generated library (duplicates and broken files included), broken fixtures, and a nested archive.
fn source() -> &'static Source {
    SOURCE.get_or_init(|| {
        let root = temp_dir("fault-src");
        let library = root.join("library");
        let out = Command::new(BIN)
            .arg("--data-dir")
            .arg(root.join("tool"))
            .arg("gen-corpus")
            .arg(&library)
            .args(["--files", GEN_FILES])
            .env_remove("DATABASE_URL")
            .output()
            .expect("run gen-corpus");
        assert!(
            out.status.success(),
            "gen-corpus: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // SAFETY: registering a plain extern "C" function; it runs at process exit, failing tests included.
        unsafe { libc::atexit(remove_source) };
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let args = [library, fixtures.join("midi"), fixtures.join("archives/mixed.zip")]
            .iter()
            .map(|p| p.to_str().expect("utf-8 path").to_string())
            .collect();
        Source { root, args }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Counts {
    files: i64,
    metadata: i64,
    locations: i64,
    error_paths: i64,
}

impl Counts {
    async fn read(conn: &mut PgConnection) -> Result<Counts, sqlx::Error> {
        let (files, metadata, locations, error_paths) = sqlx::query_as::<_, (i64, i64, i64, i64)>(
            "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM musical_metadata), \
             (SELECT count(*) FROM file_locations), (SELECT count(DISTINCT path) FROM import_errors)",
        )
        .fetch_one(conn)
        .await?;
        Ok(Counts {
            files,
            metadata,
            locations,
            error_paths,
        })
    }

    /// Some table holds fewer rows than it did before the crash.
    fn lost_since(&self, before: &Counts) -> bool {
        self.files < before.files
            || self.metadata < before.metadata
            || self.locations < before.locations
            || self.error_paths < before.error_paths
    }
}

/// What a library holds, as far as the comparison with a clean import goes.
struct Library {
    counts: Counts,
    pairs: BTreeSet<(String, String)>,
}

async fn library(conn: &mut PgConnection) -> Library {
    let counts = Counts::read(conn).await.expect("count the library");
    let pairs = sqlx::query_as::<_, (String, String)>(
        "SELECT l.path, encode(f.content_hash, 'hex') FROM file_locations l JOIN files f ON f.id = l.file_id",
    )
    .fetch_all(conn)
    .await
    .expect("read (path, content_hash) pairs")
    .into_iter()
    .collect();
    Library { counts, pairs }
}

static BASELINE: tokio::sync::OnceCell<Library> = tokio::sync::OnceCell::const_new();

/// A clean normal import of the source into a fresh cluster.
async fn baseline() -> &'static Library {
    BASELINE
        .get_or_init(|| async {
            let c = Lab::new("clean");
            let out = c.run(&import_args("normal", &["--json"]), IMPORT).await;
            let v = import_summary(&out);
            assert_eq!(v.as_ref().map(|v| v["status"].clone()), Some("done".into()), "{out}");
            let lib = library(&mut c.conn().await).await;
            assert!(
                lib.counts.error_paths > 0 && lib.counts.locations > lib.counts.files && lib.counts.files > 1000,
                "the source holds broken files and duplicates: {:?}",
                lib.counts
            );
            lib
        })
        .await
}

fn import_args<'a>(mode: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["import", "--mode", mode];
    if mode == "ludicrous" {
        args.push("--yes");
    }
    args.extend_from_slice(extra);
    args.extend(source().args.iter().map(String::as_str));
    args
}

fn import_summary(out: &Out) -> Option<serde_json::Value> {
    serde_json::from_str(out.stdout.trim()).ok()
}

// ---------------------------------------------------------------------------------------------------------------
// A managed cluster of the test's own, and the tool run against it.

/// A scenario's own managed cluster (removed when dropped) and the tool run against it.
struct Lab {
    own: Own,
    url: String,
    seq: AtomicU32,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let own = Own::new(tag);
        Lab {
            url: own.url(),
            own,
            seq: AtomicU32::new(0),
        }
    }

    fn spawn(&self, args: &[&str]) -> Bg {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let outdir = self.own.dir.join("fault-out");
        std::fs::create_dir_all(&outdir).expect("output folder");
        let (out, err) = (outdir.join(format!("{n}.out")), outdir.join(format!("{n}.err")));
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(&self.own.dir)
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("MIDI_TUI_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn midi-tui");
        Bg {
            child: Some(child),
            args: args.join(" "),
            out,
            err,
        }
    }

    async fn run(&self, args: &[&str], limit: Duration) -> Out {
        self.spawn(args).finish(limit).await
    }

    async fn try_conn(&self) -> Option<PgConnection> {
        // Bounded statements too: a poll never hangs behind a lock.
        let opts = PgConnectOptions::from_str(&self.url)
            .ok()?
            .application_name(APP_NAME)
            .options([("statement_timeout", "30s")]);
        tokio::time::timeout(Duration::from_secs(3), opts.connect())
            .await
            .ok()?
            .ok()
    }

    async fn conn_within(&self, limit: Duration) -> Option<PgConnection> {
        let t0 = Instant::now();
        loop {
            if let Some(c) = self.try_conn().await {
                return Some(c);
            }
            if t0.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn conn(&self) -> PgConnection {
        self.conn_within(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("no connection to {} within 30 s", self.url))
    }

    /// kill -9 the postmaster (the first line of `<data-dir>/pg/postmaster.pid`) and wait until its children are
    /// gone too.
    fn kill_server(&self) {
        self.own.kill_server();
    }

    /// Prepared transactions hold a lock across a server restart, which the level-3 transitions do.
    async fn enable_prepared_transactions(&self) {
        let mut conn = self.conn().await;
        sqlx::raw_sql("ALTER SYSTEM SET max_prepared_transactions = 8")
            .execute(&mut conn)
            .await
            .expect("max_prepared_transactions");
        let _ = conn.close().await;
        for action in ["stop", "start"] {
            let out = self.run(&["db", action], COMMAND).await;
            assert!(out.ok(), "{out}");
        }
    }

    /// Hold `mode` locks on `tables`, each in a prepared transaction of its own (released one by one).
    async fn hold(&self, tables: &[&str], mode: &str) {
        let mut conn = self.conn().await;
        for t in tables {
            for sql in [
                "BEGIN".to_string(),
                format!("LOCK TABLE {} IN {mode} MODE", quote_ident(t)),
                format!("PREPARE TRANSACTION 'fault_{t}'"),
            ] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
        let _ = conn.close().await;
    }

    /// Let go of every lock the test still holds (prepared transactions outlive a crash).
    async fn release_all(&self, conn: &mut PgConnection) {
        let gids: Vec<String> = sqlx::query_scalar("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'fault\\_%'")
            .fetch_all(&mut *conn)
            .await
            .expect("prepared transactions");
        for gid in gids {
            release(conn, &gid).await;
        }
    }

    /// After a crash with locks held: `db start`, then let go of the locks so the recovery is not blocked by them.
    async fn start_and_release(&self, r: &mut Report) {
        let out = self.run(&["db", "start"], COMMAND).await;
        r.check(out.ok(), || format!("db start after the crash: {out}"));
        match self.conn_within(Duration::from_secs(30)).await {
            Some(mut conn) => self.release_all(&mut conn).await,
            None => r.fatal("no connection after `db start`"),
        }
    }

    /// Wait until no session of the killed tool is still at work (a backend finishes its statement first).
    async fn wait_for_orphans(&self, r: &mut Report) {
        let t0 = Instant::now();
        let mut conn = self.conn().await;
        loop {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name <> $1 \
                 AND backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()",
            )
            .bind(APP_NAME)
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_activity");
            if n == 0 {
                return;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                r.check(false, || {
                    format!("{n} session(s) of the killed tool still busy after 30 s")
                });
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn release(conn: &mut PgConnection, gid: &str) {
    // A gid cannot be a bind parameter; ours are fixed names made of table names.
    let sql = format!("COMMIT PREPARED '{gid}'");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A finished command.
struct Out {
    args: String,
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
    fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = |s: &str, keep: usize| {
            let s = s.trim();
            let cut = s.len().saturating_sub(keep);
            let cut = (cut..=s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(s.len());
            s[cut..].to_string()
        };
        let how = if self.timed_out {
            "timed out (killed)".to_string()
        } else {
            format!("exit {:?}", self.code)
        };
        write!(
            f,
            "`midi-tui {}` {how}; stdout: {}; stderr: {}",
            self.args,
            // status: its verdict, not the table of settings above it.
            tail(
                self.stdout
                    .rfind("\nsafety:")
                    .map_or(&self.stdout, |i| &self.stdout[i..]),
                300
            ),
            tail(&self.stderr, 600)
        )
    }
}

/// The tool running in the background; killed when dropped.
struct Bg {
    child: Option<Child>,
    args: String,
    out: PathBuf,
    err: PathBuf,
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Bg {
    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    fn kill9(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn finish(&mut self, limit: Duration) -> Out {
        let t0 = Instant::now();
        let mut timed_out = false;
        let mut code = None;
        if let Some(c) = self.child.as_mut() {
            loop {
                if let Some(status) = c.try_wait().expect("wait for midi-tui") {
                    code = status.code();
                    break;
                }
                if t0.elapsed() > limit {
                    let _ = c.kill();
                    let _ = c.wait();
                    timed_out = true;
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
        }
        self.child = None;
        Out {
            args: self.args.clone(),
            code,
            timed_out,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }

    /// After its server died: the tool must notice, fail and exit on its own, soon.
    async fn gives_up(&mut self, r: &mut Report) {
        let out = self.finish(TOOL_GIVES_UP).await;
        r.check(!out.timed_out, || {
            format!("the tool did not give up within {TOOL_GIVES_UP:?} of its server's death: {out}")
        });
        r.check(out.timed_out || out.code == Some(1), || {
            format!("the tool exits 1 when its server dies: {out}")
        });
        // An outcome, not the intent: with its server gone the restore could not run.
        r.check(!out.stdout.contains("restored the profile"), || {
            format!("the tool says it restored the profile of a server that is gone: {out}")
        });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Checks: every failure of a scenario is collected, so one run tells all that is wrong.

struct Report {
    name: String,
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Report {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            failures: Vec::new(),
            notes: Vec::new(),
        }
    }
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }
    fn fatal(&mut self, what: &str) -> ! {
        self.failures.push(format!("cannot go on: {what}"));
        self.finish();
        unreachable!("finish panics when a check failed")
    }
    fn finish(&self) {
        if !self.failures.is_empty() {
            panic!(
                "{}: {} check(s) failed:\n  - {}\n(notes: {})",
                self.name,
                self.failures.len(),
                self.failures.join("\n  - "),
                self.notes.join("; ")
            );
        }
    }
}

/// What `status` must answer before any repair.
#[derive(Clone, Copy)]
struct Expect {
    /// The exit code when no row was lost: 0 safe, 3 a profile left applied.
    unlost: i32,
    /// synchronous_commit was off: the crash may drop the last commits without a trace the tool could see.
    silent_loss: bool,
}

impl Expect {
    fn safe() -> Self {
        Self {
            unlost: 0,
            silent_loss: false,
        }
    }
    fn applied() -> Self {
        Self {
            unlost: 3,
            silent_loss: false,
        }
    }
    fn codes(self, lost: bool) -> Vec<i32> {
        if self.silent_loss {
            vec![self.unlost, 4]
        } else if lost {
            vec![4]
        } else {
            vec![self.unlost]
        }
    }
}

const ORPHANS_SQL: &str = "SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM musical_metadata m \
     WHERE m.file_id = f.id) OR NOT EXISTS (SELECT 1 FROM file_locations l WHERE l.file_id = f.id)";

async fn scalar(conn: &mut PgConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The documented recovery after a crash: `status` (which starts the server when it is down) tells the truth, then
/// `restore-safety` where it said 3 or 4, `import SOURCE`, `rebuild-indexes` where indexes are missing. Returns
/// whether the crash lost rows (as the test measured it).
async fn recover(c: &Lab, before: Counts, expect: Expect, r: &mut Report) -> bool {
    let st = c.run(&["status"], COMMAND).await;
    let Some(mut conn) = c.conn_within(Duration::from_secs(30)).await else {
        r.fatal(&format!("no connection after `status`: {st}"))
    };
    let after = Counts::read(&mut conn).await.expect("count after the crash");
    let orphans = scalar(&mut conn, ORPHANS_SQL).await;
    let _ = conn.close().await;
    let lost = after.lost_since(&before) || orphans > 0;
    r.note(format!(
        "rows before the crash {before:?}, after {after:?}, files without metadata or location {orphans}"
    ));
    let want = expect.codes(lost);
    r.check(st.code.is_some_and(|code| want.contains(&code)), || {
        format!("status before the repair (rows lost: {lost}) should exit {want:?}: {st}")
    });
    if st.code == Some(4) {
        r.check(st.text().to_lowercase().contains("lost"), || {
            format!("status exit 4 says what was lost: {st}")
        });
    }
    // Where status lied, the recovery still follows the truth, so the checks after it stay meaningful.
    if want.iter().chain(st.code.iter()).any(|code| *code == 3 || *code == 4) {
        let out = c.run(&["restore-safety"], COMMAND).await;
        r.check(out.ok(), || format!("restore-safety: {out}"));
    }
    let out = c.run(&import_args("normal", &["--json"]), IMPORT).await;
    let v = import_summary(&out);
    r.check(out.ok() && v.as_ref().is_some_and(|v| v["status"] == "done"), || {
        format!("the repairing import: {out}")
    });
    let st = status_json(c).await;
    let missing = st
        .as_ref()
        .map_or(0, |s| s["secondary_indexes"]["missing"].as_array().map_or(0, Vec::len));
    if missing > 0 {
        let out = c.run(&["rebuild-indexes"], COMMAND).await;
        r.check(out.ok(), || format!("rebuild-indexes: {out}"));
    }
    final_state(c, r).await;
    lost
}

async fn status_json(c: &Lab) -> Option<serde_json::Value> {
    serde_json::from_str(c.run(&["status", "--json"], COMMAND).await.stdout.trim()).ok()
}

/// Safe again: status exits 0, every index present, every table LOGGED, nothing lost; then the library itself.
async fn final_state(c: &Lab, r: &mut Report) {
    let out = c.run(&["status"], COMMAND).await;
    r.check(out.code == Some(0), || format!("status after the recovery: {out}"));
    match status_json(c).await {
        Some(st) => {
            r.check(st["safe"] == true, || {
                format!("safe after the recovery: {}", st["safety"])
            });
            r.check(st["safety"]["data_lost"].is_null(), || {
                format!("no loss reported after the repair: {}", st["safety"]["data_lost"])
            });
            let idx = &st["secondary_indexes"];
            r.check(
                idx["present"].as_u64() == Some(SECONDARY_INDEXES)
                    && idx["expected"].as_u64() == Some(SECONDARY_INDEXES),
                || format!("all {SECONDARY_INDEXES} secondary indexes present: {idx}"),
            );
        }
        None => r.check(false, || "status --json printed no object".into()),
    }
    let Some(mut conn) = c.conn_within(Duration::from_secs(30)).await else {
        r.fatal("no connection after the recovery")
    };
    let unlogged: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace \
         AND relkind IN ('r', 'p') AND relpersistence = 'u' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("relpersistence");
    r.check(unlogged.is_empty(), || {
        format!("every table LOGGED, still UNLOGGED: {unlogged:?}")
    });
    let running = scalar(&mut conn, "SELECT count(*) FROM import_runs WHERE status = 'running'").await;
    r.check(running == 0, || {
        format!("{running} run(s) still marked running after the recovery")
    });
    same_as_clean(&mut conn, r).await;
}

/// Search rows against what the trigger writes for every analysed file (a fast import's writers skip the trigger and
/// the restore re-syncs them): the rows on either side only.
const SEARCH_ROWS_OUT_OF_STEP: &str = "
WITH want AS (
    SELECT f.id AS file_id, f.filename, f.parent_folder, f.duration_seconds, f.num_tracks, m.bpm,
           coalesce(m.key_signature, m.detected_key) AS key, m.time_signature_numerator AS ts_num,
           m.time_signature_denominator AS ts_den, m.total_notes, m.programs, m.has_drums
    FROM files f JOIN musical_metadata m ON m.file_id = f.id),
have AS (
    SELECT file_id, filename, parent_folder, duration_seconds, num_tracks, bpm, key, ts_num, ts_den, total_notes,
           programs, has_drums FROM search_rows)
SELECT (SELECT count(*) FROM (TABLE want EXCEPT TABLE have) a) + (SELECT count(*) FROM (TABLE have EXCEPT TABLE want) b)
";

/// Equal to the clean import, and no duplicate anywhere.
async fn same_as_clean(conn: &mut PgConnection, r: &mut Report) {
    let clean = baseline().await;
    let got = library(conn).await;
    r.check(got.counts == clean.counts, || {
        format!("counts {:?}, the clean import has {:?}", got.counts, clean.counts)
    });
    if got.pairs != clean.pairs {
        let missing: Vec<_> = clean.pairs.difference(&got.pairs).take(3).collect();
        let extra: Vec<_> = got.pairs.difference(&clean.pairs).take(3).collect();
        r.check(false, || {
            format!(
                "(path, content_hash) pairs differ from the clean import: {} missing (e.g. {missing:?}), {} extra \
                 (e.g. {extra:?})",
                clean.pairs.difference(&got.pairs).count(),
                got.pairs.difference(&clean.pairs).count()
            )
        });
    }
    for (sql, what) in [
        (
            "SELECT count(*) - count(DISTINCT path) FROM import_errors",
            "import_errors rows beyond one per path",
        ),
        (
            "SELECT count(*) FROM files f WHERE (SELECT count(*) FROM musical_metadata m WHERE m.file_id = f.id) <> 1",
            "files rows without exactly one musical_metadata row",
        ),
        (
            "SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM file_locations l WHERE l.file_id = f.id)",
            "files rows without a location",
        ),
        (
            "SELECT count(*) - count(DISTINCT content_hash) FROM files",
            "duplicate contents in files",
        ),
        (
            "SELECT count(*) - count(DISTINCT path) FROM file_locations",
            "duplicate paths in file_locations",
        ),
        (
            SEARCH_ROWS_OUT_OF_STEP,
            "search_rows not in step with files and musical_metadata (missing, extra or different)",
        ),
        (
            "SELECT (SELECT count(*) FROM musical_metadata m WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = m.file_id)) \
             + (SELECT count(*) FROM file_locations l WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = l.file_id)) \
             + (SELECT count(*) FROM files f WHERE f.import_run_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM import_runs r WHERE r.id = f.import_run_id)) \
             + (SELECT count(*) FROM import_errors e WHERE NOT EXISTS (SELECT 1 FROM import_runs r WHERE r.id = e.import_run_id))",
            "rows whose foreign key points at nothing",
        ),
    ] {
        let n = scalar(conn, sql).await;
        r.check(n == 0, || format!("{what}: {n}"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Moments to kill at.

/// Poll until the import has committed rows; fails if it ends first (the source would be too small).
async fn wait_for_committed_rows(c: &Lab, tool: &mut Bg) -> Counts {
    let t0 = Instant::now();
    let mut conn: Option<PgConnection> = None;
    loop {
        if tool.exited() {
            let out = tool.finish(Duration::ZERO).await;
            panic!("the import ended before the test saw a committed row: {out}");
        }
        if conn.is_none() {
            conn = c.try_conn().await;
        }
        if let Some(cn) = conn.as_mut() {
            match Counts::read(cn).await {
                Ok(n) if n.locations > 0 => return n,
                Ok(_) => {}
                // The profile restarts the server: connect again.
                Err(_) => conn = None,
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no committed row within 120 s of the import's start"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn waiters(conn: &mut PgConnection, tables: &[&str]) -> Result<Vec<String>, sqlx::Error> {
    let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE l.locktype = 'relation' AND NOT l.granted AND c.relname = ANY($1)",
    )
    .bind(&tables)
    .fetch_all(conn)
    .await
}

async fn persistence(conn: &mut PgConnection) -> String {
    let tables: Vec<String> = LIBRARY_TABLES.iter().map(|t| t.to_string()).collect();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT relname::text, relpersistence::text FROM pg_class WHERE relname = ANY($1) \
         AND relnamespace = 'public'::regnamespace ORDER BY 1",
    )
    .bind(&tables)
    .fetch_all(conn)
    .await
    .unwrap_or_default();
    rows.iter()
        .map(|(t, p)| format!("{t} {}", if p == "u" { "UNLOGGED" } else { "logged" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// With every library table locked, let a level-3 transition take exactly one step (release the first table it
/// waits for), then return once it waits for another: mid-transition. Says which tables were UNLOGGED then.
async fn one_step_then_blocked(c: &Lab, tool: &mut Bg) -> String {
    let t0 = Instant::now();
    let mut released: Option<String> = None;
    let mut conn: Option<PgConnection> = None;
    loop {
        if tool.exited() {
            let out = tool.finish(Duration::ZERO).await;
            panic!("`{}` ended before it waited for a second table: {out}", out.args);
        }
        if conn.is_none() {
            conn = c.try_conn().await;
        }
        if let Some(cn) = conn.as_mut() {
            match waiters(cn, &LIBRARY_TABLES).await {
                Ok(w) => {
                    if let Some(t) = w.iter().find(|t| Some(*t) != released.as_ref()) {
                        if released.is_some() {
                            let state = persistence(cn).await;
                            return format!("killed while `{}` waited for {t}: {state}", tool.args);
                        }
                        release(cn, &format!("fault_{t}")).await;
                        released = Some(t.clone());
                    }
                }
                Err(_) => conn = None,
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "`{}` never waited for a second library table within 120 s",
            tool.args
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Until the rebuild has built some index and waits for the locked table.
async fn rebuild_half_done(c: &Lab, tool: &mut Bg) -> String {
    let names: Vec<String> = indexes::catalog().iter().map(|i| i.name.clone()).collect();
    let t0 = Instant::now();
    let mut conn = c.conn().await;
    loop {
        if tool.exited() {
            let out = tool.finish(Duration::ZERO).await;
            panic!("rebuild-indexes ended before it waited for musical_metadata: {out}");
        }
        let present: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class WHERE relkind = 'i' AND relname = ANY($1) \
             AND relnamespace = 'public'::regnamespace",
        )
        .bind(&names)
        .fetch_one(&mut conn)
        .await
        .expect("count indexes");
        let waiting = waiters(&mut conn, &["musical_metadata"]).await.expect("pg_locks");
        if present > 0 && !waiting.is_empty() {
            return format!("killed with {present}/{SECONDARY_INDEXES} indexes built, one waiting");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "rebuild-indexes never built an index and waited within 120 s ({present} present)"
        );
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Victim {
    Tool,
    Server,
}

impl Victim {
    fn name(self) -> &'static str {
        match self {
            Victim::Tool => "tool",
            Victim::Server => "server",
        }
    }
}

async fn killed_mid_import(victim: Victim, mode: &str, expect: Expect) {
    let clean = baseline().await;
    let c = Lab::new(&format!("{}-{mode}", victim.name()));
    let mut r = Report::new(format!("{} killed mid-import ({mode})", victim.name()));
    let mut tool = c.spawn(&import_args(mode, &[]));
    let before = wait_for_committed_rows(&c, &mut tool).await;
    match victim {
        Victim::Tool => {
            tool.kill9();
            c.wait_for_orphans(&mut r).await;
        }
        Victim::Server => {
            c.kill_server();
            tool.gives_up(&mut r).await;
        }
    }
    r.check(before.locations < clean.counts.locations, || {
        format!(
            "killed mid-way: {} of {} locations were already in (the source is too small)",
            before.locations, clean.counts.locations
        )
    });
    let lost = recover(&c, before, expect, &mut r).await;
    if victim == Victim::Server && mode == "ludicrous" {
        r.check(lost, || {
            "the crash emptied the UNLOGGED tables (the scenario's premise)".into()
        });
    }
    r.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_killed_mid_import_normal() {
    killed_mid_import(Victim::Tool, "normal", Expect::safe()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_killed_mid_import_fast() {
    killed_mid_import(Victim::Tool, "fast", Expect::applied()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_killed_mid_import_ludicrous() {
    killed_mid_import(Victim::Tool, "ludicrous", Expect::applied()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_import_normal() {
    killed_mid_import(Victim::Server, "normal", Expect::safe()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_import_fast() {
    let expect = Expect {
        unlost: 3,
        silent_loss: true,
    };
    killed_mid_import(Victim::Server, "fast", expect).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_import_ludicrous() {
    killed_mid_import(Victim::Server, "ludicrous", Expect::applied()).await;
}

/// A full import, checked complete: the counts the crash is measured against.
async fn imported(c: &Lab, args: &[&str], r: &mut Report) -> Counts {
    let out = c.run(args, IMPORT).await;
    assert!(out.ok(), "{out}");
    let counts = Counts::read(&mut c.conn().await).await.expect("counts");
    r.check(counts == baseline().await.counts, || {
        format!("the import before the crash is complete: {counts:?}")
    });
    counts
}

/// The server killed mid level-3 transition, one table changed and the next waiting (on a lock the test holds).
async fn server_killed_mid_transition(apply: bool) {
    baseline().await;
    let c = Lab::new(if apply { "apply" } else { "restore" });
    c.enable_prepared_transactions().await;
    let mut r = Report::new(if apply {
        "server killed mid `profile apply ludicrous --yes` (level 3)"
    } else {
        "server killed mid `restore-safety`"
    });
    let (before, args) = if apply {
        let before = imported(&c, &import_args("normal", &[]), &mut r).await;
        // Levels 1 and 2 first, so the only step left waiting on a table lock is level 3's.
        for level in ["basic", "drop-indexes"] {
            let out = c.run(&["profile", "apply", level], COMMAND).await;
            assert!(out.ok(), "{out}");
        }
        (before, vec!["profile", "apply", "ludicrous", "--yes"])
    } else {
        let before = imported(&c, &import_args("ludicrous", &["--keep-profile"]), &mut r).await;
        (before, vec!["restore-safety"])
    };
    c.hold(&LIBRARY_TABLES, "ACCESS SHARE").await;
    let mut tool = c.spawn(&args);
    let moment = one_step_then_blocked(&c, &mut tool).await;
    r.note(moment);
    c.kill_server();
    tool.gives_up(&mut r).await;
    c.start_and_release(&mut r).await;
    recover(&c, before, Expect::applied(), &mut r).await;
    r.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_apply_ludicrous() {
    server_killed_mid_transition(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_restore_safety() {
    server_killed_mid_transition(false).await;
}

/// The loss the old transition order could cause: metadata emptied by crash recovery while files keep their rows.
#[tokio::test(flavor = "multi_thread")]
async fn partial_loss_is_reported_and_repaired() {
    baseline().await;
    let c = Lab::new("partial");
    let mut r = Report::new("partial loss: musical_metadata UNLOGGED by hand, server killed");
    let before = imported(&c, &import_args("normal", &[]), &mut r).await;
    let mut conn = c.conn().await;
    sqlx::raw_sql("ALTER TABLE musical_metadata SET UNLOGGED")
        .execute(&mut conn)
        .await
        .expect("SET UNLOGGED");
    let _ = conn.close().await;
    c.kill_server();
    let lost = recover(&c, before, Expect::applied(), &mut r).await;
    r.check(lost, || {
        "crash recovery emptied musical_metadata (the scenario's premise)".into()
    });
    r.finish();
}

async fn killed_mid_rebuild(victim: Victim) {
    baseline().await;
    let c = Lab::new(&format!("rebuild-{}", victim.name()));
    c.enable_prepared_transactions().await;
    let mut r = Report::new(format!("{} killed mid `rebuild-indexes`", victim.name()));
    let before = imported(&c, &import_args("fast", &["--keep-profile"]), &mut r).await;
    // SHARE UPDATE EXCLUSIVE blocks CREATE INDEX, concurrently or not, on musical_metadata only.
    c.hold(&["musical_metadata"], "SHARE UPDATE EXCLUSIVE").await;
    let mut tool = c.spawn(&["rebuild-indexes", "--jobs", "2"]);
    let moment = rebuild_half_done(&c, &mut tool).await;
    r.note(moment);
    match victim {
        Victim::Tool => {
            tool.kill9();
            let mut conn = c.conn().await;
            c.release_all(&mut conn).await;
            c.wait_for_orphans(&mut r).await;
        }
        Victim::Server => {
            c.kill_server();
            tool.gives_up(&mut r).await;
            c.start_and_release(&mut r).await;
        }
    }
    recover(&c, before, Expect::applied(), &mut r).await;
    r.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_killed_mid_rebuild_indexes() {
    killed_mid_rebuild(Victim::Tool).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_rebuild_indexes() {
    killed_mid_rebuild(Victim::Server).await;
}
