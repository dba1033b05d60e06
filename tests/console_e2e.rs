//! End to end: the real binary in a pseudo-terminal against a throwaway cluster. A ludicrous import of a few
//! hundred real files driven through the keys (both confirmation dialogs included), a resize to 80x24, then `r`
//! and `i`; the screen and the database must agree that safety and every secondary index are back.
mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

struct Console {
    parser: Arc<Mutex<vt100::Parser>>,
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
}

impl Console {
    fn start(args: &[String], rows: u16, cols: u16) -> Self {
        Self::start_in(args, rows, cols, None, &[])
    }

    /// Started in folder `cwd` (or this one) with `envs` set.
    fn start_in(args: &[String], rows: u16, cols: u16, cwd: Option<&std::path::Path>, envs: &[(&str, &str)]) -> Self {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pseudo-terminal");
        let mut cmd = CommandBuilder::new(common::BIN);
        cmd.args(args);
        cmd.env_remove("DATABASE_URL");
        cmd.env_remove("MIDI_TUI_DATA_DIR");
        cmd.env("TERM", "xterm-256color");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        if let Some(dir) = cwd {
            cmd.cwd(dir);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn midi-tui in the pty");
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let feed = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap_or_else(|e| e.into_inner()).process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().expect("pty writer");
        Console {
            parser,
            master: pair.master,
            writer,
            child,
        }
    }

    fn screen(&self) -> String {
        self.parser
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .screen()
            .contents()
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("type into the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// `q`, confirming the quit dialog if it comes (it does while the cluster has a level on: the cluster is shared
    /// by this binary's tests, and the ludicrous test's settings are cluster-wide), then the exit status.
    fn quit(&mut self, within: Duration) -> portable_pty::ExitStatus {
        self.send("q");
        let t0 = Instant::now();
        let mut confirmed = false;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if !confirmed && self.screen().contains("Quit midi-tui?") {
                self.send("\r");
                confirmed = true;
            }
            assert!(t0.elapsed() < within, "did not quit; screen:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the screen satisfies `pred`; fail with the screen when it does not in time.
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("midi-tui exited ({status:?}) while waiting for {what}; last screen:\n{s}");
            }
            if t0.elapsed() > timeout {
                let _ = self.child.kill();
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn resize(&mut self, rows: u16, cols: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize the pty");
        self.parser
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .screen_mut()
            .set_size(rows, cols);
    }
}

/// The console's arguments: the test's database, its own data directory, and both sources.
fn console_args(url: &str, data_dir: &std::path::Path) -> Vec<String> {
    let mut args = target_args(url, data_dir);
    args.extend(sources().iter().map(|p| p.display().to_string()));
    args
}

/// The database and data folder only: a console on an existing library, with no source chosen.
fn target_args(url: &str, data_dir: &std::path::Path) -> Vec<String> {
    vec![
        "--database-url".to_string(),
        url.to_string(),
        "--data-dir".to_string(),
        data_dir.display().to_string(),
    ]
}

fn sources() -> Vec<PathBuf> {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/sample-library");
    assert!(sample.is_dir(), "the sample library is missing: {}", sample.display());
    let corpus = PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or("/work/shared/corpus".into()));
    let groove = corpus.join("groove/groove/drummer7");
    assert!(
        groove.is_dir(),
        "the corpus is missing: {} (set MIDI_TUI_CORPUS)",
        groove.display()
    );
    vec![sample, groove]
}

/// `r` restores safety through its confirmation; the indexes are still dropped, so the badge says RELAXED and
/// nothing that a crash would cost is left unrestored.
fn restore_through_r(c: &mut Console, long: Duration) {
    c.send("r");
    c.wait_for("the restore dialog", long, |s| s.contains("Restore safety?"));
    c.send("\r");
    // The indexes are still dropped: not "safety restored" but what was, and what stays relaxed.
    c.wait_for("settings and tables restored", long, |s| {
        s.contains("settings and tables restored")
    });
    // Nothing can lose data any more, but the indexes are still dropped: RELAXED, not SAFE.
    let s = c.wait_for("the RELAXED badge", long, |s| {
        s.lines().next().is_some_and(|l| l.trim_end().ends_with("RELAXED"))
    });
    // Restart-only settings of an external server may stay marked pending; what a crash costs must be back.
    for what in [
        "setting fsync",
        "setting full_page_writes",
        "setting synchronous_commit",
        "table",
    ] {
        assert!(!s.contains(&format!("NOT restored: {what}")), "{s}");
    }
}

/// The database after the console test: settings back, tables logged, every index present, the run recorded.
fn assert_safe_again(rt: &tokio::runtime::Runtime, db: &common::TestDb) {
    rt.block_on(async {
        let fsync: String = sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'fsync'")
            .fetch_one(&db.pool)
            .await
            .expect("pg_settings");
        assert_eq!(fsync, "on");
        let fpw: String = sqlx::query_scalar("SELECT current_setting('full_page_writes')")
            .fetch_one(&db.pool)
            .await
            .expect("full_page_writes");
        assert_eq!(fpw, "on");
        let unlogged: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class WHERE relpersistence = 'u' AND relkind = 'r' \
             AND relnamespace = 'public'::regnamespace",
        )
        .fetch_one(&db.pool)
        .await
        .expect("persistence");
        assert_eq!(unlogged, 0, "every table LOGGED again");
        let present = midi_tui::database::indexes::present(&db.pool).await.expect("indexes");
        assert_eq!(present.len(), midi_tui::database::indexes::catalog().len());
        let (status, mode, imported): (String, String, i64) =
            sqlx::query_as("SELECT status, mode, files_imported::bigint FROM import_runs ORDER BY id DESC LIMIT 1")
                .fetch_one(&db.pool)
                .await
                .expect("the run");
        assert_eq!((status.as_str(), mode.as_str()), ("done", "ludicrous"));
        let files: i64 = sqlx::query_scalar("SELECT count(*) FROM files")
            .fetch_one(&db.pool)
            .await
            .expect("files");
        assert!(files >= 300 && files == imported, "{files} files, run says {imported}");
    });
}

#[test]
fn ludicrous_import_then_restore_and_rebuild_through_the_keys() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(common::fresh_db());
    let data_dir = common::temp_dir("console-e2e");
    let args = console_args(&db.url, &data_dir);
    let mut c = Console::start(&args, 30, 100);
    let long = Duration::from_secs(240);

    // Start screen: both sources preselected; choose ludicrous.
    let s = c.wait_for("the start screen", Duration::from_secs(60), |s| {
        s.contains("choose sources and a mode")
    });
    assert!(s.contains("sample-library") && s.contains("drummer7"), "{s}");
    c.send("l");
    c.wait_for("ludicrous selected", long, |s| s.contains("▶ ludicrous"));

    // Enter: two confirmation dialogs, each saying what a crash would cost.
    c.send("\r");
    let s = c.wait_for("the fsync dialog", long, |s| s.contains("turn fsync off"));
    assert!(s.contains("corrupted beyond repair"), "{s}");
    c.send("\r");
    let s = c.wait_for("the UNLOGGED dialog", long, |s| {
        s.contains("make the library tables UNLOGGED")
    });
    assert!(s.contains("EMPTY"), "{s}");
    c.send("\r");

    // The run: unsafe while it goes, then finished with the restore offer.
    c.wait_for("the UNSAFE badge", long, |s| s.contains("UNSAFE"));
    let s = c.wait_for("the end of the run", long, |s| s.contains("run done"));
    let fsync: String = rt
        .block_on(sqlx::query_scalar("SELECT current_setting('fsync')").fetch_one(&db.pool))
        .expect("fsync");
    assert_eq!(fsync, "off", "ludicrous was applied; screen:\n{s}");
    c.wait_for("the restore offer", long, |s| {
        s.contains("R: restore safety + rebuild indexes")
    });

    // Resize to the smallest supported screen: it redraws cleanly.
    c.resize(24, 80);
    let s = c.wait_for("the 80x24 redraw", long, |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines
            .first()
            .is_some_and(|l| l.contains("midi-tui") && l.trim_end().ends_with("UNSAFE"))
            && lines.iter().any(|l| l.contains("Counters"))
    });
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");

    restore_through_r(&mut c, long);

    // Quitting while RELAXED asks, and leaves one line in the shell: what is relaxed and the command to restore.
    let status = c.quit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
    std::thread::sleep(Duration::from_millis(300));
    let shell = c.screen();
    assert!(
        shell.contains("left RELAXED") && shell.contains("secondary indexes") && shell.contains("rebuild-indexes"),
        "{shell}"
    );

    // Started again: the start screen's `i` rebuilds the indexes (the key its help lists works there).
    let mut c = Console::start(&args, 30, 100);
    c.wait_for("the start screen", long, |s| {
        s.contains("choose sources and a mode") || s.contains("RELAXED")
    });
    c.wait_for("the RELAXED badge", long, |s| {
        s.lines().next().is_some_and(|l| l.trim_end().ends_with("RELAXED"))
    });
    c.send("i");
    let all = midi_tui::database::indexes::catalog().len();
    let rebuilt = format!("indexes rebuilt: {all} built, 0 failed, {all}/{all} present");
    c.wait_for("the rebuild", long, |s| s.contains(&rebuilt));

    // Ludicrous again, now on a library that holds files: after the two risk dialogs, the backup dialog says what
    // a crash would cost; Esc leaves everything as it was.
    c.send("l");
    c.wait_for("ludicrous selected", long, |s| s.contains("▶ ludicrous"));
    c.send("\r");
    c.wait_for("the fsync dialog", long, |s| s.contains("turn fsync off"));
    c.send("\r");
    c.wait_for("the UNLOGGED dialog", long, |s| {
        s.contains("make the library tables UNLOGGED")
    });
    c.send("\r");
    let s = c.wait_for("the backup dialog", long, |s| {
        s.contains("Back up the library before level 3?") && s.contains("empties the library")
    });
    assert!(
        s.contains("back up first") && s.contains("n goes on without a backup"),
        "{s}"
    );
    c.send("\x1b");
    c.wait_for("nothing changed", long, |s| {
        s.contains("not confirmed: nothing was changed")
    });

    // q quits (asking only if the poll still saw a level on), and the terminal is put back.
    let status = c.quit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
    std::thread::sleep(Duration::from_millis(300));
    {
        let p = c.parser.lock().unwrap_or_else(|e| e.into_inner());
        assert!(!p.screen().alternate_screen(), "the alternate screen was left");
        assert!(!p.screen().hide_cursor(), "the cursor was left hidden");
    }

    assert_safe_again(&rt, &db);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// The library browser in a real terminal at 80x24: `/` opens it, a typed query lists the matching file, a bad
/// term is pointed at, and the selected file shows its locations and its piano roll.
#[test]
fn the_library_browser_finds_files_as_the_query_is_typed() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(common::fresh_db());
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let v = common::import_json(
        &db.url,
        &[
            fixtures.join("midi").to_str().unwrap(),
            fixtures.join("archives/mixed.zip").to_str().unwrap(),
        ],
    );
    assert_eq!(v["status"], "done", "{v}");
    let data_dir = common::temp_dir("console-browser");
    let args = target_args(&db.url, &data_dir);
    let mut c = Console::start(&args, 24, 80);
    let wait = Duration::from_secs(60);
    c.wait_for("the start screen", wait, |s| s.contains("choose sources and a mode"));
    c.send("/");
    c.wait_for("the library listing every file", wait, |s| {
        s.contains("Results") && s.contains(" files ")
    });
    c.send("name:groma");
    let s = c.wait_for("one match", wait, |s| s.contains("gromas.mid") && s.contains("1 file "));
    assert!(!s.contains("kahless.mid"), "{s}");
    // A term that cannot be read: the caret under it, the old results kept.
    c.send(" bpm:fast");
    let s = c.wait_for("the parse error", wait, |s| s.contains("is not a number"));
    let caret_line = s.lines().find(|l| l.contains("is not a number")).unwrap();
    let query_line = s
        .lines()
        .find(|l| l.contains("/ name:groma bpm:fast"))
        .expect("the query line");
    assert_eq!(
        caret_line.find('^').map(|i| caret_line[..i].chars().count()),
        query_line.find("bpm:fast").map(|i| query_line[..i].chars().count()),
        "the caret points at the term:\n{s}"
    );
    for _ in 0..9 {
        c.send("\x7f");
    }
    c.wait_for("the error gone", wait, |s| !s.contains("is not a number"));
    // Enter: the results; the detail of the selected file, every location; Tab: its piano roll.
    c.send("\r");
    let s = c.wait_for("the detail", wait, |s| s.contains("locations (1)"));
    assert!(
        s.contains("gromas.mid") && s.contains("fixtures/midi/gromas.mid"),
        "{s}"
    );
    c.send("\t");
    let s = c.wait_for("the piano roll", wait, |s| {
        s.contains("Piano roll") && s.contains(" Dr ")
    });
    assert!(
        s.contains('▀') || s.contains('▄') || s.contains('█'),
        "notes drawn:\n{s}"
    );
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");
    // Esc closes the browser, q quits.
    c.send("\x1b");
    c.wait_for("the browser closed", wait, |s| {
        !s.contains("Library") && !s.contains("Piano roll")
    });
    c.quit(Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// Listening in a real terminal: Space plays the selected file through the silent real-time device (the playhead's
/// time moves on the listening line), Space stops, `w` renders it to a WAV in the console's folder; on a machine
/// without a sound card the default device's absence is said in one line, with what works instead, and nothing of
/// ALSA's complaints reaches the screen.
#[test]
fn listening_in_the_browser_plays_stops_and_renders() {
    if midi_tui::engine::listen::find_soundfont(None).is_err() {
        eprintln!("SKIPPED: no SoundFont on this machine (scripts/setup.sh installs timgm6mb-soundfont)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(common::fresh_db());
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let v = common::import_json(&db.url, &[fixtures.join("midi/gromas.mid").to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let data_dir = common::temp_dir("console-listen");
    let work = common::temp_dir("console-listen-cwd");
    let args = target_args(&db.url, &data_dir);
    let wait = Duration::from_secs(60);
    let mut c = Console::start_in(&args, 30, 120, Some(&work), &[("MIDI_TUI_AUDIO", "null")]);
    c.wait_for("the start screen", wait, |s| s.contains("choose sources and a mode"));
    c.send("/");
    c.wait_for("the library", wait, |s| s.contains("gromas.mid"));
    c.send("\r");
    c.wait_for("the detail", wait, |s| s.contains("locations (1)"));
    c.send(" ");
    let playing = |s: &str| s.lines().find(|l| l.contains("♪ ▶ gromas.mid")).map(str::to_string);
    let first = c.wait_for("playback", wait, |s| playing(s).is_some());
    let line = playing(&first).unwrap();
    assert!(line.contains("silent device"), "the output is named: {line}");
    // The playhead moves: the time on the line changes while the file plays.
    let later = c.wait_for("the playhead moving", Duration::from_secs(10), |s| {
        playing(s).is_some_and(|l| l != line)
    });
    assert!(!later.contains("ALSA lib"), "{later}");
    c.send(" ");
    c.wait_for("stopped", wait, |s| s.contains("♪ ■"));
    c.send("w");
    let s = c.wait_for("the render", wait, |s| s.contains("rendered "));
    assert!(s.contains("rendered gromas.wav"), "{s}");
    assert!(work.join("gromas.wav").is_file());
    c.quit(Duration::from_secs(20));

    // The default device on a machine without a sound card: one line, and the alternative that works.
    if std::path::Path::new("/dev/snd").exists() {
        eprintln!("SKIPPED (the no-device half): this machine has a sound card");
    } else {
        let mut c = Console::start_in(&args, 30, 120, Some(&work), &[]);
        c.wait_for("the start screen", wait, |s| s.contains("choose sources and a mode"));
        c.send("/");
        c.wait_for("the library", wait, |s| s.contains("gromas.mid"));
        c.send("\r");
        c.wait_for("the detail", wait, |s| s.contains("locations (1)"));
        c.send(" ");
        let s = c.wait_for("why nothing plays", wait, |s| s.contains("no audio device"));
        let line = s.lines().find(|l| l.contains("no audio device")).unwrap();
        // Without /dev/snd there is no sequencer either: only rendering is offered, never a key that cannot work.
        assert!(line.contains("w: render") && !line.contains("o: "), "{line}");
        assert!(!s.contains("ALSA lib"), "ALSA's complaints stay off the screen:\n{s}");
        c.quit(Duration::from_secs(20));
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    let _ = std::fs::remove_dir_all(&work);
}

/// Auto, the start screen's default: Enter sizes the sources and the library, names the mode it chose and why,
/// and runs it (normal for a few hundred files into an empty library: restoring and rebuilding would cost more).
#[test]
fn auto_chooses_the_mode_at_enter_and_says_why() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(common::fresh_db());
    let data_dir = common::temp_dir("console-e2e-auto");
    let args = console_args(&db.url, &data_dir);
    let mut c = Console::start(&args, 30, 100);
    let long = Duration::from_secs(240);
    let s = c.wait_for("the start screen", Duration::from_secs(60), |s| {
        s.contains("choose sources and a mode")
    });
    assert!(s.contains("▶ auto") && s.contains("mode auto"), "{s}");
    c.send("\r");
    let s = c.wait_for("the end of the run", long, |s| s.contains("run done"));
    assert!(s.contains("auto chose normal"), "{s}");
    assert!(s.contains("mode normal"), "the header names the chosen mode:\n{s}");
    let (mode, imported): (String, i64) = rt
        .block_on(
            sqlx::query_as("SELECT mode, files_imported::bigint FROM import_runs ORDER BY id DESC LIMIT 1")
                .fetch_one(&db.pool),
        )
        .expect("the run");
    assert_eq!(mode, "normal");
    assert!(imported >= 300, "{imported}");
    c.quit(Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// An interrupted run is listed on the start screen with why it stopped; `u` resumes it (its sources, its mode)
/// and, once an import of those sources has followed it, the list is gone.
#[test]
fn an_interrupted_run_is_offered_and_resumed_from_the_start_screen() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(common::fresh_db());
    let data_dir = common::temp_dir("console-e2e-resume");
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/sample-library");
    rt.block_on(async {
        // What a killed importer leaves (the next start's check marks a vanished process's run so).
        sqlx::query(
            "INSERT INTO import_runs (sources, mode, status, finished_at, files_seen, files_imported, stop_reason) \
             VALUES ($1, 'normal', 'interrupted', now(), 7, 5, 'killed in a test')",
        )
        .bind(vec![sample.display().to_string()])
        .execute(&db.pool)
        .await
        .expect("an interrupted run");
    });
    // No source on the command line (the sample library is preselected): `u` takes the run's own sources.
    let args = target_args(&db.url, &data_dir);
    let mut c = Console::start(&args, 30, 100);
    let long = Duration::from_secs(120);
    let s = c.wait_for("the unfinished run", long, |s| s.contains("Unfinished runs (1)"));
    assert!(
        s.contains("stopped: killed in a test") && s.contains("sample-library"),
        "{s}"
    );
    c.send("u");
    c.wait_for("the resumed run's end", long, |s| s.contains("run done"));
    c.send("n");
    c.wait_for("the list gone", long, |s| {
        s.contains("choose sources and a mode") && !s.contains("Unfinished runs")
    });
    let status = c.quit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
    rt.block_on(async {
        let (sources, mode): (Vec<String>, String) =
            sqlx::query_as("SELECT sources, mode FROM import_runs ORDER BY id DESC LIMIT 1")
                .fetch_one(&db.pool)
                .await
                .expect("the resumed run");
        assert_eq!((sources, mode.as_str()), (vec![sample.display().to_string()], "normal"));
    });
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A library imported before the similarity features, in a real terminal: `like:` says they are missing and names
/// `F`; `F` computes them with its progress in the library's title, the outcome reaches the footer, and the same
/// `like:` query then lists the files that sound alike.
#[test]
fn f_computes_the_features_a_like_query_lacks() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(common::fresh_db());
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let v = common::import_json(&db.url, &[fixtures.join("midi").to_str().unwrap()]);
    assert_eq!(v["status"], "done", "{v}");
    let (target, stale): (i64, i64) = rt.block_on(async {
        sqlx::query("UPDATE musical_metadata SET features = NULL, coarse = NULL, features_version = NULL")
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query_as(
            "SELECT min(file_id), count(*) FROM musical_metadata m JOIN files f ON f.id = m.file_id \
             WHERE m.total_notes > 0 AND f.ticks_per_quarter_note > 0",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap()
    });
    assert!(stale >= 3, "{stale} files with notes");
    let data_dir = common::temp_dir("console-features");
    let args = target_args(&db.url, &data_dir);
    let mut c = Console::start(&args, 30, 120);
    let wait = Duration::from_secs(60);
    c.wait_for("the start screen", wait, |s| s.contains("choose sources and a mode"));
    c.send("/");
    c.wait_for("the library", wait, |s| s.contains("Results"));
    c.send(&format!("like:{target}\r"));
    c.wait_for("like: naming F", wait, |s| {
        s.contains(&format!(
            "like: file {target} has no similarity features yet: F computes them"
        ))
    });
    c.send("F");
    let s = c.wait_for("the outcome in the footer", wait, |s| s.contains("computed in"));
    assert!(s.contains(&format!("{stale} files computed")), "{s}");
    let s = c.wait_for("the like: query listed again", wait, |s| {
        !s.contains("search failed") && s.contains(" files") && s.contains("Results")
    });
    assert!(!s.contains("files read"), "the progress is gone once it ended:\n{s}");
    let left: i64 = rt.block_on(common::scalar(
        &db.pool,
        "SELECT count(*) FROM musical_metadata m JOIN files f ON f.id = m.file_id \
         WHERE m.total_notes > 0 AND f.ticks_per_quarter_note > 0 AND m.features IS NULL",
    ));
    assert_eq!(left, 0, "every file with notes has its features again");
    c.quit(Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&data_dir);
}
