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
/// The secondary indexes of the catalog (23 since migration 0012).
static SECONDARY_INDEXES: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| midi_tui::database::indexes::catalog().len() as u64);
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

    /// Whether the server's processes are all gone within `limit` (a shutdown under way ends).
    async fn down_within(&self, limit: Duration) -> bool {
        let t0 = Instant::now();
        while !common::server_processes(&self.own.dir).is_empty() {
            if t0.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    }

    /// Wait until no session of the killed tool is still at work (a backend finishes its statement first). A server
    /// that goes down meanwhile (the tool was killed after it asked for the stop of a restart, which goes on without
    /// it) has no session at work either.
    async fn wait_for_orphans(&self, r: &mut Report) {
        let t0 = Instant::now();
        let Some(mut conn) = self.conn_within(Duration::from_secs(30)).await else {
            let down = self.down_within(Duration::from_secs(30)).await;
            r.check(down, || "the server is up but takes no connection for 30 s".to_string());
            return;
        };
        loop {
            let busy: Result<i64, _> = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name <> $1 \
                 AND backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()",
            )
            .bind(APP_NAME)
            .fetch_one(&mut conn)
            .await;
            let n = match busy {
                Ok(n) => n,
                Err(e) => {
                    let down = self.down_within(Duration::from_secs(30)).await;
                    r.check(down, || format!("pg_stat_activity failed with the server up: {e}"));
                    return;
                }
            };
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
                idx["present"].as_u64() == Some(*SECONDARY_INDEXES)
                    && idx["expected"].as_u64() == Some(*SECONDARY_INDEXES),
                || format!("all {} secondary indexes present: {idx}", *SECONDARY_INDEXES),
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
            return format!(
                "killed with {present}/{} indexes built, one waiting",
                *SECONDARY_INDEXES
            );
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

// ---------------------------------------------------------------------------------------------------------------
// A frozen server: its processes stopped (SIGSTOP), as a stalled disk or a paused VM looks.

/// How long the tool may take to end a wait on a silent server: its 10 s limit, plus a probe and the exit.
const SILENCE_NOTICED: Duration = Duration::from_secs(20);

/// The test's own cluster stopped with SIGSTOP (the postmaster and every backend, by their pids), and always
/// continued when dropped, so that a failing test never leaves a frozen server behind.
struct Frozen {
    pids: Vec<i32>,
    at: Instant,
}

impl Frozen {
    fn new(c: &Lab) -> Frozen {
        let pids = common::server_processes(&c.own.dir);
        assert!(!pids.is_empty(), "no server process to freeze");
        for &pid in &pids {
            // SAFETY: a plain signal to a process of this test's own cluster.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        Frozen {
            pids,
            at: Instant::now(),
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }
}

/// Until a session of the tool holds the library lock under this name (the command is past its start).
async fn holds_the_library(c: &Lab, tool: &mut Bg, what: &str) {
    let t0 = Instant::now();
    let mut conn = c.conn().await;
    loop {
        if tool.exited() {
            let out = tool.finish(Duration::ZERO).await;
            panic!("`{}` ended before it held the library: {out}", out.args);
        }
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE $1",
        )
        .bind(format!("midi-tui: {what}%"))
        .fetch_one(&mut conn)
        .await
        .expect("pg_locks");
        if n > 0 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "`{what}` never held the library"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The frozen server's verdict on a command: it ended on its own within `SILENCE_NOTICED`, exit 1, saying that the
/// server does not answer.
async fn ends_on_silence(tool: &mut Bg, frozen: &Frozen, words: &str, r: &mut Report) -> Duration {
    let out = tool.finish(SILENCE_NOTICED + Duration::from_secs(20)).await;
    let took = frozen.at.elapsed();
    eprintln!(
        "`{}` ended {:.1} s after the server froze",
        out.args,
        took.as_secs_f64()
    );
    r.note(format!("`{}`: {:.1} s", out.args, took.as_secs_f64()));
    r.check(!out.timed_out && took < SILENCE_NOTICED, || {
        format!("ended within {SILENCE_NOTICED:?} of the freeze ({took:?}): {out}")
    });
    r.check(out.code == Some(1), || format!("exit 1 on a frozen server: {out}"));
    r.check(out.text().contains(words), || format!("says `{words}`: {out}"));
    took
}

/// Frozen mid-import, mid `rebuild-indexes`, mid `restore-safety` and before `status`: each ends within seconds with
/// one clear message, and the import is recorded as failed once the server is back.
#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_server_ends_every_wait_within_seconds() {
    let c = Lab::new("frozen");
    let mut r = Report::new("the server frozen (SIGSTOP) under each command");
    let silent = "the server has not answered for 10 s";

    let mut tool = c.spawn(&import_args("normal", &["--json"]));
    wait_for_committed_rows(&c, &mut tool).await;
    let frozen = Frozen::new(&c);
    ends_on_silence(&mut tool, &frozen, silent, &mut r).await;
    drop(frozen);
    let st = c.run(&["status"], COMMAND).await;
    r.check(st.code == Some(0), || format!("status after the freeze: {st}"));
    let mut conn = c.conn().await;
    let runs: Vec<String> = sqlx::query_scalar("SELECT status FROM import_runs ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("runs");
    r.check(runs == ["failed"], || {
        format!("the frozen run is recorded failed: {runs:?}")
    });

    // The rest of the library, in fast mode with the profile kept: indexes to rebuild, settings to restore.
    let out = c.run(&import_args("fast", &["--keep-profile"]), IMPORT).await;
    r.check(out.ok(), || format!("the resumed import: {out}"));
    let mut tool = c.spawn(&["rebuild-indexes", "--jobs", "1"]);
    holds_the_library(&c, &mut tool, "rebuild-indexes").await;
    let frozen = Frozen::new(&c);
    ends_on_silence(&mut tool, &frozen, silent, &mut r).await;
    drop(frozen);

    let mut tool = c.spawn(&["restore-safety"]);
    holds_the_library(&c, &mut tool, "restore-safety").await;
    let frozen = Frozen::new(&c);
    ends_on_silence(&mut tool, &frozen, silent, &mut r).await;
    drop(frozen);

    let frozen = Frozen::new(&c);
    let mut tool = c.spawn(&["status"]);
    ends_on_silence(&mut tool, &frozen, "no answer within", &mut r).await;
    drop(frozen);

    // Back: the interrupted commands complete, and the library is safe.
    for args in [vec!["restore-safety"], vec!["rebuild-indexes"]] {
        let out = c.run(&args, COMMAND).await;
        r.check(out.ok(), || format!("after the freeze: {out}"));
    }
    let st = c.run(&["status"], COMMAND).await;
    r.check(st.code == Some(0), || format!("status at the end: {st}"));
    r.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Transitions killed at many points: the next run of the same command completes them.

/// Delays after the start at which the tool is killed: they cover each transition's steps on the small library
/// (measured here: a connection and the lock in about 0.1 s, settings and a reload 0.4 s, the restart 1-2 s).
const TOOL_KILL_DELAYS_MS: [u64; 5] = [150, 450, 800, 1300, 2200];
/// The server is killed at fewer points: each costs a crash recovery and a repairing import.
const SERVER_KILL_DELAYS_MS: [u64; 2] = [500, 1300];

/// The small library of the transition loops: every broken and good fixture, and an archive.
fn small_args() -> Vec<String> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    [fixtures.join("midi"), fixtures.join("archives/mixed.zip")]
        .iter()
        .map(|p| p.to_str().expect("utf-8 path").to_string())
        .collect()
}

/// What `status --json` says of the profile: (interrupted, settings fsync/wal_level with pending marks, UNLOGGED
/// tables, missing indexes).
fn profile_of(st: &serde_json::Value) -> String {
    let setting = |n: &str| {
        st["settings"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == n))
            .map(|s| {
                format!(
                    "{n}={}{}",
                    s["value"].as_str().unwrap_or("?"),
                    if s["pending_restart"] == true { " (pending)" } else { "" }
                )
            })
            .unwrap_or_default()
    };
    let unlogged: Vec<&str> = st["tables"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|t| t["persistence"] == "unlogged")
                .filter_map(|t| t["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    format!(
        "interrupted {}; {}, {}, {}; unlogged {unlogged:?}; indexes missing {}",
        st["safety"]["interrupted"],
        setting("fsync"),
        setting("wal_level"),
        setting("synchronous_commit"),
        st["secondary_indexes"]["missing"].as_array().map_or(0, Vec::len)
    )
}

/// After a kill: `status` tells the truth (exit 3 or 4 when a transition was cut, naming it), then the same command
/// runs to its end. Returns the status text before the re-run.
async fn complete_after_kill(c: &Lab, command: &[&str], r: &mut Report) -> String {
    let st = c.run(&["status"], COMMAND).await;
    let json = status_json(c).await.unwrap_or_default();
    let said = profile_of(&json);
    let name = command[..command.len().min(2)].join(" ");
    let named = json["safety"]["interrupted"].as_array().is_some_and(|a| {
        a.iter().any(|t| {
            t.as_str()
                .is_some_and(|t| t.contains(&name) || t.contains("profile apply"))
        })
    });
    if named {
        r.check(st.code == Some(3) || st.code == Some(4), || {
            format!("status names an interrupted transition and is not safe: {st}")
        });
    }
    if st.code == Some(4) {
        // The server died with UNLOGGED tables: the documented recovery first puts safety back, then imports.
        let out = c.run(&["restore-safety"], COMMAND).await;
        r.check(out.ok(), || format!("restore-safety after the loss: {out}"));
        let mut args = vec!["import", "--mode", "normal"];
        let small = small_args();
        args.extend(small.iter().map(String::as_str));
        let out = c.run(&args, IMPORT).await;
        r.check(out.ok(), || format!("the repairing import: {out}"));
    }
    let out = c.run(command, COMMAND).await;
    r.check(out.ok(), || {
        format!("`{}` run again after the kill ({said}): {out}", command.join(" "))
    });
    said
}

/// Kill `victim` `delay` into `command`; then complete it; returns what status said in between.
async fn kill_inside(c: &Lab, command: &[&str], victim: Victim, delay: Duration, r: &mut Report) -> String {
    let mut tool = c.spawn(command);
    tokio::time::sleep(delay).await;
    let finished = tool.exited();
    match victim {
        Victim::Tool => {
            tool.kill9();
            // Killed between the restart's stop and start, the server is down: no session is left at work.
            if !common::server_processes(&c.own.dir).is_empty() && c.conn_within(Duration::from_secs(5)).await.is_some()
            {
                c.wait_for_orphans(r).await;
            }
        }
        Victim::Server => {
            if common::server_processes(&c.own.dir).is_empty() {
                // Between the restart's stop and start: nothing to kill, the tool is then.
                tool.kill9();
            } else {
                c.kill_server();
                let _ = tool.finish(TOOL_GIVES_UP).await;
            }
        }
    }
    let said = complete_after_kill(c, command, r).await;
    format!(
        "{} killed {} ms into `{}`{}: {said}",
        victim.name(),
        delay.as_millis(),
        command.join(" "),
        if finished { " (it had finished)" } else { "" }
    )
}

async fn transitions_killed(victim: Victim, delays: &[u64]) {
    let c = Lab::new(&format!("transitions-{}", victim.name()));
    let mut r = Report::new(format!(
        "{} killed inside each transition at several delays",
        victim.name()
    ));
    let mut args = vec!["import", "--mode", "normal"];
    let small = small_args();
    args.extend(small.iter().map(String::as_str));
    let out = c.run(&args, IMPORT).await;
    assert!(out.ok(), "{out}");
    let t0 = Instant::now();
    for &ms in delays {
        let delay = Duration::from_millis(ms);
        // Applied whole after the re-run: every level-3 setting in force (no restart pending), tables UNLOGGED.
        let said = kill_inside(&c, &["profile", "apply", "ludicrous", "--yes"], victim, delay, &mut r).await;
        r.note(said.clone());
        let st = status_json(&c).await.unwrap_or_default();
        let p = profile_of(&st);
        r.check(
            p.contains("interrupted []")
                && p.contains("fsync=off,")
                && p.contains("wal_level=minimal,")
                && p.contains("\"files\""),
            || format!("ludicrous applied whole after {said}: {p}"),
        );
        // Restored whole: every setting back and in force, every table LOGGED.
        let said = kill_inside(&c, &["restore-safety"], victim, delay, &mut r).await;
        r.note(said.clone());
        let st = status_json(&c).await.unwrap_or_default();
        let p = profile_of(&st);
        r.check(
            p.contains("interrupted []")
                && p.contains("fsync=on,")
                && p.contains("wal_level=replica,")
                && p.contains("unlogged []"),
            || format!("restored whole after {said}: {p}"),
        );
        let said = kill_inside(&c, &["rebuild-indexes"], victim, delay, &mut r).await;
        r.note(said.clone());
        let st = c.run(&["status"], COMMAND).await;
        r.check(st.code == Some(0), || format!("safe after {said}: {st}"));
    }
    eprintln!(
        "{} kill loop: {:.0} s for {} delays",
        victim.name(),
        t0.elapsed().as_secs_f64(),
        delays.len()
    );
    eprintln!("{}", r.notes.join("\n"));
    r.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_killed_inside_each_transition_at_many_points() {
    transitions_killed(Victim::Tool, &TOOL_KILL_DELAYS_MS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_inside_each_transition_at_several_points() {
    transitions_killed(Victim::Server, &SERVER_KILL_DELAYS_MS).await;
}

// ---------------------------------------------------------------------------------------------------------------
// Commands that take turns: nothing restarts the server or changes the tables under a running import.

/// Until every importer of the library's shared run has joined (run_importers rows).
async fn importers_joined(c: &Lab, tool: &mut Bg, n: i64) {
    let t0 = Instant::now();
    loop {
        if tool.exited() {
            let out = tool.finish(Duration::ZERO).await;
            panic!("the import ended before {n} importers joined: {out}");
        }
        if let Some(mut conn) = c.try_conn().await {
            let joined: i64 = sqlx::query_scalar("SELECT count(*) FROM run_importers")
                .fetch_one(&mut conn)
                .await
                .unwrap_or(0);
            if joined >= n {
                return;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "{n} importers never joined");
        tokio::time::sleep(POLL).await;
    }
}

/// `restore-safety`, `profile apply` and `rebuild-indexes` during a ludicrous import are refused at once, naming the
/// import; the import goes on to its end and restores safety itself.
#[tokio::test(flavor = "multi_thread")]
async fn commands_that_restart_the_server_wait_their_turn() {
    baseline().await;
    let c = Lab::new("turns");
    let mut r = Report::new("transitions during a running ludicrous import");
    let mut tool = c.spawn(&import_args("ludicrous", &["--json"]));
    wait_for_committed_rows(&c, &mut tool).await;
    for args in [
        vec!["restore-safety"],
        vec!["profile", "apply", "basic"],
        vec!["rebuild-indexes"],
    ] {
        let t0 = Instant::now();
        let out = c.run(&args, COMMAND).await;
        let took = t0.elapsed();
        eprintln!("`{}` refused in {:.2} s", args.join(" "), took.as_secs_f64());
        r.check(out.code == Some(1), || format!("refused while the import runs: {out}"));
        r.check(
            out.stderr.contains("import") && out.stderr.contains("is running on this library"),
            || format!("names the running import: {out}"),
        );
        r.check(took < Duration::from_secs(10), || format!("refused at once ({took:?})"));
    }
    let out = tool.finish(IMPORT).await;
    let v = import_summary(&out);
    r.check(out.ok() && v.as_ref().is_some_and(|v| v["status"] == "done"), || {
        format!("the import went on to its end: {out}")
    });
    final_state(&c, &mut r).await;
    r.finish();
}

/// `import --mode ludicrous --workers 3` on the managed cluster: the first importer restarts the server for
/// wal_level while the others wait to join; all three exit 0, the work is shared, the last one out restores.
#[tokio::test(flavor = "multi_thread")]
async fn ludicrous_workers_share_the_run_across_the_restart() {
    baseline().await;
    let c = Lab::new("ludicrous-workers");
    let mut r = Report::new("import --mode ludicrous --yes --workers 3");
    let out = c
        .run(&import_args("ludicrous", &["--json", "--workers", "3"]), IMPORT)
        .await;
    let v = import_summary(&out).unwrap_or_default();
    r.check(out.ok() && v["status"] == "done", || format!("exit 0, done: {out}"));
    let importers = v["importers"].as_array().cloned().unwrap_or_default();
    let working = importers
        .iter()
        .filter(|i| i["shared_run"]["units_taken"].as_u64().unwrap_or(0) > 0)
        .count();
    r.check(importers.len() == 3 && working >= 2, || {
        format!(
            "three importers, the work shared: {}",
            serde_json::Value::Array(importers.clone())
        )
    });
    let restored = importers.iter().filter(|i| i["shared_run"]["restored"] == true).count();
    r.check(restored == 1, || format!("one importer restored the profile: {v}"));
    final_state(&c, &mut r).await;
    r.finish();
}

/// `import --workers 3` SIGKILLed: its importers stop with it (each cancels its run cleanly) instead of running on.
#[tokio::test(flavor = "multi_thread")]
async fn workers_stop_with_their_killed_parent() {
    let c = Lab::new("orphans");
    let mut r = Report::new("import --workers 3, the parent SIGKILLed");
    let mut tool = c.spawn(&import_args("normal", &["--workers", "3"]));
    importers_joined(&c, &mut tool, 3).await;
    let mut conn = c.conn().await;
    let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM run_importers")
        .fetch_all(&mut conn)
        .await
        .expect("importer pids");
    tool.kill9();
    let t0 = Instant::now();
    let alive = |pids: &[i32]| -> Vec<i32> {
        pids.iter()
            .copied()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            })
            .collect()
    };
    while !alive(&pids).is_empty() && t0.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(POLL).await;
    }
    let left = alive(&pids);
    eprintln!(
        "importers gone {:.1} s after their parent's SIGKILL",
        t0.elapsed().as_secs_f64()
    );
    r.check(left.is_empty(), || {
        format!("importers still running 30 s after the parent died: {left:?}")
    });
    let statuses: Vec<String> = sqlx::query_scalar("SELECT DISTINCT status FROM import_runs ORDER BY 1")
        .fetch_all(&mut conn)
        .await
        .expect("runs");
    r.check(statuses == ["interrupted"], || {
        format!("each importer's run interrupted: {statuses:?}")
    });
    r.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Ludicrous on a library whose first source was moved away: the tool says what a crash would lose, a backup brings
// it back, and without one the library is whole again once the source is back where the tool said.

/// Until the import has committed more locations than `than` (the library held those before it).
async fn wait_for_more_rows(c: &Lab, tool: &mut Bg, than: i64) {
    let t0 = Instant::now();
    loop {
        if tool.exited() {
            let out = tool.finish(Duration::ZERO).await;
            panic!("the import ended before the test saw a committed row: {out}");
        }
        if let Some(mut cn) = c.try_conn().await
            && Counts::read(&mut cn).await.is_ok_and(|n| n.locations > than)
        {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no new row within 120 s");
        tokio::time::sleep(POLL).await;
    }
}

async fn ludicrous_over_a_moved_source(backup: bool) {
    let clean = baseline().await;
    let c = Lab::new(if backup { "backup" } else { "no-backup" });
    let mut r = Report::new(format!(
        "ludicrous with the first source moved away, {} backup, server killed mid-run",
        if backup { "with a" } else { "without" }
    ));
    let first = c.own.dir.join("first source");
    let st = Command::new("cp")
        .arg("-r")
        .arg(common::corpus().join("groove"))
        .arg(&first)
        .status()
        .expect("cp");
    assert!(st.success());
    let out = c
        .run(&["import", "--mode", "normal", first.to_str().unwrap()], IMPORT)
        .await;
    assert!(out.ok(), "{out}");
    let first_lib = library(&mut c.conn().await).await;
    let moved = c.own.dir.join("moved away");
    std::fs::rename(&first, &moved).expect("move the first source away");

    let extra = if backup { "--backup" } else { "--no-backup" };
    if !backup {
        // Neither flag: refused, naming the source and the files only it holds.
        let out = c.run(&import_args("ludicrous", &[]), COMMAND).await;
        r.check(out.code == Some(1), || {
            format!("refused without --backup or --no-backup: {out}")
        });
        let said = format!(
            "{} found only in sources that are missing",
            midi_tui::engine::human::plural_as(first_lib.counts.files, "file is", "files are")
        );
        r.check(
            out.stderr.contains(&said) && out.stderr.contains(first.to_str().unwrap()),
            || {
                format!(
                    "names the {} files at risk and where their source was: {out}",
                    first_lib.counts.files
                )
            },
        );
        // `profile apply` alone is held to the same check: refused with the same words, nothing changed.
        let out = c.run(&["profile", "apply", "ludicrous", "--yes"], COMMAND).await;
        r.check(
            out.code == Some(1) && out.stderr.contains(&said) && out.stderr.contains("nothing was changed"),
            || format!("profile apply ludicrous refused like the import: {out}"),
        );
        let st = c.run(&["status"], COMMAND).await;
        r.check(st.code == Some(0), || format!("still safe after the refusal: {st}"));
    }
    let mut tool = c.spawn(&import_args("ludicrous", &[extra]));
    wait_for_more_rows(&c, &mut tool, first_lib.counts.locations).await;
    c.kill_server();
    tool.gives_up(&mut r).await;
    let st = c.run(&["status"], COMMAND).await;
    r.check(st.code == Some(4) && st.text().contains("lost"), || {
        format!("status says what was lost: {st}")
    });
    let out = c.run(&["restore-safety"], COMMAND).await;
    r.check(out.ok(), || format!("restore-safety: {out}"));
    if backup {
        let out = c.run(&["restore-backup"], COMMAND).await;
        r.check(out.ok() && out.stdout.contains("restored the backup"), || {
            format!("restore-backup: {out}")
        });
        let mut conn = c.conn().await;
        let now = library(&mut conn).await;
        r.check(first_lib.pairs.is_subset(&now.pairs), || {
            format!(
                "the backup brought back the moved source's files: {} of {} pairs",
                first_lib.pairs.intersection(&now.pairs).count(),
                first_lib.pairs.len()
            )
        });
    } else {
        // Where the refusal said the files are: back there, the next import reads them again.
        std::fs::rename(&moved, &first).expect("move the first source back");
    }
    let out = c.run(&import_args("normal", &["--json"]), IMPORT).await;
    r.check(out.ok(), || format!("the repairing import: {out}"));
    let out = c.run(&["rebuild-indexes"], COMMAND).await;
    r.check(out.ok(), || format!("rebuild-indexes: {out}"));
    let st = c.run(&["status"], COMMAND).await;
    r.check(st.code == Some(0), || format!("safe and whole: {st}"));
    let got = library(&mut c.conn().await).await;
    let want: BTreeSet<(String, String)> = first_lib.pairs.union(&clean.pairs).cloned().collect();
    r.check(got.pairs == want, || {
        format!(
            "the library is whole: {} pairs missing, {} extra",
            want.difference(&got.pairs).count(),
            got.pairs.difference(&want).count()
        )
    });
    r.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn ludicrous_over_a_moved_source_with_a_backup() {
    ludicrous_over_a_moved_source(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ludicrous_over_a_moved_source_without_a_backup() {
    ludicrous_over_a_moved_source(false).await;
}

// ---------------------------------------------------------------------------------------------------------------
// A full data disk: named in seconds, with where and how much to free.

#[test]
fn a_full_disk_is_named_in_seconds() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small file system for the full disk needs root");
        return;
    }
    let dir = temp_dir("diskfull");
    let mnt = dir.join("disk");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=96m,mode=0755", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: `mount -t tmpfs` failed here (a container without the right?)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = midi_tui::database::Cluster::new(self.0.join("data")).stop();
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let data = mnt.join("data");
    let d = data.to_str().unwrap();
    let out = common::run_bin(&["--data-dir", d, "db", "start"], &[]);
    assert!(out.status.success(), "db start: {}", common::stderr(&out));
    let out = common::run_bin(&["--data-dir", d, "db", "stop"], &[]);
    assert!(out.status.success(), "db stop: {}", common::stderr(&out));
    // Fill what is left, then start again through `status`.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M"])
        .arg(format!("of={}", mnt.join("filler").display()))
        .stderr(Stdio::null())
        .status();
    let t0 = Instant::now();
    let out = common::run_bin(&["--data-dir", d, "status"], &[]);
    let took = t0.elapsed();
    let err = common::stderr(&out);
    eprintln!("status on a full disk answered in {:.1} s: {err}", took.as_secs_f64());
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {err}");
    assert!(
        err.contains("is full") && err.contains("free at least"),
        "says where and how much: {err}"
    );
    assert!(err.contains(mnt.to_str().unwrap()), "names the disk's place: {err}");
}
