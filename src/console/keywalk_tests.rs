//! Every key shown works where it is shown: a walk over every screen and state (start, run, browser, dialogs,
//! help; SAFE, RELAXED and UNSAFE) pressing each key its footer and its help list. A key the footer shows must
//! change the state (or ask the loop for work); a key the help lists that does nothing now must say why.
use std::path::PathBuf;

use super::app::{App, Dialog, Msg, Overlay, PathField, PollOutcome, Polled, StartList, available, update};
use super::browser::{BrowserMsg, DupesOf};
use super::keymap::{self, Key};
use super::testkit::{self, keys};
use crate::engine::database::runs::UnfinishedRun;
use crate::engine::library::DupeKind;
use crate::engine::metrics::Counts;
use crate::engine::pipeline::RunStatus;

fn polled(p: Polled) -> Msg {
    Msg::Polled(PollOutcome::Ok(Box::new(p)))
}

/// What the poll sees after a fast run: levels 1 and 2 on, every index dropped.
fn relaxed_polled() -> Polled {
    let mut p = testkit::safe_polled();
    p.status = testkit::status(0, false, testkit::settings(&[("synchronous_commit", "off", false)]));
    p.safety.levels_applied = [true, true, false];
    p.safety.relaxed = vec![
        "synchronous_commit is off".into(),
        "39 of 39 secondary indexes dropped".into(),
    ];
    p
}

pub fn unfinished_run(id: i64, status: &str) -> UnfinishedRun {
    UnfinishedRun {
        id,
        status: status.into(),
        mode: "fast".into(),
        sources: vec!["/music/libraries/groove".into(), "/music/new packs/さくら.zip".into()],
        started_at: "2026-12-01 14:03".into(),
        finished_at: Some("2026-12-01 14:09".into()),
        counts: Counts {
            seen: 41_230,
            imported: 30_112,
            duplicates: 10_900,
            skipped: 0,
            failed: 218,
            bytes: 371_000_000,
        },
        reason: Some(if status == "failed" {
            "server terminated the connection".into()
        } else {
            "cancelled in the console".into()
        }),
    }
}

fn start(p: Polled) -> App {
    let mut a = testkit::app();
    update(&mut a, polled(p));
    a
}

/// A log long enough to scroll, scrolled to its middle.
fn with_log(mut a: App) -> App {
    for i in 0..40 {
        a.info(format!("line {i}"));
    }
    a.log_scroll = 10;
    a
}

/// The browser over `a` with everything in the middle: selection, roll window, detail scroll, query caret.
fn browsing(a: App) -> App {
    let mut a = testkit::browsing(a, "drums:yes bpm:100..140", 40, true);
    keys(&mut a, &[Key::Down, Key::Down]);
    let s = a.browser.selection;
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Timer(super::browser::Timer::Select(s))),
    );
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Detail {
            selection: s,
            result: Ok(Some(Box::new(testkit::detail(3)))),
        }),
    );
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Notes {
            selection: s,
            result: Ok(testkit::notes()),
        }),
    );
    keys(&mut a, &[Key::Char('+'), Key::Char('+'), Key::Right, Key::Char('J')]);
    a
}

fn dupes(mut a: App) -> App {
    keys(&mut a, &[Key::Char('D')]);
    let generation = a.browser.dupes.as_ref().map_or(0, |d| d.generation);
    let d = testkit::detail(1);
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Dupes {
            generation,
            result: Ok(d.duplicates.clone()),
        }),
    );
    keys(&mut a, &[Key::Down]);
    let s = a.browser.selection;
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Timer(super::browser::Timer::Select(s))),
    );
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Detail {
            selection: s,
            result: Ok(Some(Box::new(testkit::detail(2)))),
        }),
    );
    keys(&mut a, &[Key::Char('J')]);
    a
}

/// Every state the console can be in, by name.
fn states() -> Vec<(&'static str, App)> {
    let mut out: Vec<(&'static str, App)> = Vec::new();
    out.push(("start SAFE", start(testkit::safe_polled())));
    out.push(("start RELAXED", start(relaxed_polled())));
    out.push(("start UNSAFE", start(testkit::ludicrous_polled())));
    let mut runs = testkit::ludicrous_polled();
    runs.unfinished = vec![unfinished_run(12, "interrupted"), unfinished_run(9, "failed")];
    let mut a = start(runs.clone());
    keys(&mut a, &[Key::Char('f')]);
    out.push(("start, unfinished runs, fast chosen", a.clone()));
    keys(&mut a, &[Key::Tab, Key::Down]);
    out.push(("start, unfinished runs focused", a));
    let mut a = start(testkit::safe_polled());
    a.sources.clear();
    a.sample_library = None;
    out.push(("start without sources", a));
    let mut a = start(testkit::safe_polled());
    a.overlay = Some(Overlay::Input(PathField::new("/music/new packs")));
    keys(&mut a, &[Key::Left, Key::Left, Key::Left]);
    out.push(("typing a path", a));

    out.push(("run RELAXED, running", with_log(testkit::running_app(5))));
    let mut a = with_log(testkit::running_app(5));
    keys(&mut a, &[Key::Char('p')]);
    out.push(("run paused", a));
    let mut a = with_log(testkit::running_app(5));
    update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Done))));
    out.push(("run finished RELAXED", a.clone()));
    update(&mut a, polled(testkit::ludicrous_polled()));
    out.push(("run finished UNSAFE", a.clone()));
    update(&mut a, polled(testkit::safe_polled()));
    a.run.restore_done();
    out.push(("run finished SAFE", a));

    let mut a = start(testkit::safe_polled());
    keys(&mut a, &[Key::Char('l'), Key::Enter]);
    out.push(("dialog: fsync off", a));
    let mut a = start(testkit::safe_polled());
    a.screen = super::app::Screen::Run;
    keys(&mut a, &[Key::Char('2')]);
    out.push(("dialog: drop indexes", a));
    let mut a = testkit::running_app(5);
    keys(&mut a, &[Key::Char('c')]);
    out.push(("dialog: cancel", a));
    let mut a = testkit::running_app(5);
    keys(&mut a, &[Key::Char('q')]);
    out.push(("dialog: quit over a run", a));
    let mut a = start(testkit::ludicrous_polled());
    keys(&mut a, &[Key::Char('R')]);
    out.push(("dialog: restore + rebuild from the start screen", a));

    let mut a = start(runs);
    keys(&mut a, &[Key::Char('?')]);
    out.push(("help over the start screen", a));
    let mut a = with_log(testkit::running_app(5));
    keys(&mut a, &[Key::Char('?'), Key::Char('j')]);
    out.push(("help over the run screen", a));

    let b = browsing(testkit::running_app(5));
    out.push(("browser results", b.clone()));
    let mut q = b.clone();
    keys(&mut q, &[Key::Char('/'), Key::Left, Key::Left, Key::Left]);
    out.push(("browser query line", q));
    let mut h = b.clone();
    keys(&mut h, &[Key::Char('?'), Key::Char('j')]);
    out.push(("help over the browser", h));
    out.push(("browser duplicates view", dupes(b.clone())));
    let mut d = b.clone();
    keys(&mut d, &[Key::Char('d')]);
    out.push(("browser duplicates of a file", d));
    let mut e = b;
    keys(&mut e, &[Key::Char('e')]);
    for c in "/tmp/out dir".chars() {
        keys(&mut e, &[Key::Char(c)]);
    }
    keys(&mut e, &[Key::Left, Key::Left]);
    out.push(("browser export form", e));
    out
}

/// The state as text, without the answer to the last key (a notice alone is not a change).
fn fingerprint(a: &App) -> String {
    let mut a = a.clone();
    a.notice = None;
    format!("{a:?}")
}

/// Each key of the state's context (the first binding of a key wins, as in the handler).
fn keys_of(a: &App) -> Vec<&'static keymap::Binding> {
    let mut seen: Vec<Key> = Vec::new();
    let mut out = Vec::new();
    for ctx in keymap::chain(a.context()) {
        for b in keymap::bindings_of(*ctx) {
            if !seen.contains(&b.key) {
                seen.push(b.key);
                out.push(b);
            }
        }
    }
    out
}

#[test]
fn every_key_shown_changes_something_in_every_state() {
    let mut pressed = 0;
    let mut problems = Vec::new();
    for (name, app) in states() {
        let footer: Vec<Key> = keymap::footer(app.context())
            .into_iter()
            .filter(|b| available(&app, b.action))
            .map(|b| b.key)
            .collect();
        for b in keys_of(&app) {
            let mut a = app.clone();
            let effects = update(&mut a, Msg::Key(b.key));
            pressed += 1;
            let changed = !effects.is_empty() || fingerprint(&a) != fingerprint(&app);
            let label = b.key.label();
            if available(&app, b.action) {
                if !changed {
                    problems.push(format!("{name}: {label} ({}) changed nothing", b.label));
                }
            } else {
                if footer.contains(&b.key) {
                    problems.push(format!(
                        "{name}: {label} ({}) is in the footer but unavailable",
                        b.label
                    ));
                }
                if changed || a.notice.as_deref().is_none_or(str::is_empty) {
                    problems.push(format!(
                        "{name}: {label} ({}) is unavailable but did not just say why (notice {:?})",
                        b.label, a.notice
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {pressed} keys:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(pressed > 400, "the walk pressed only {pressed} keys");
}

#[test]
fn restore_works_from_the_start_screen_through_the_same_dialog() {
    for screen in [super::app::Screen::Start, super::app::Screen::Run] {
        let mut a = start(testkit::ludicrous_polled());
        a.screen = screen;
        assert!(
            update(&mut a, Msg::Key(Key::Char('r'))).is_empty(),
            "{screen:?}: asks first"
        );
        assert_eq!(
            a.overlay,
            Some(Overlay::Dialog(Dialog::Restore { then_rebuild: false }))
        );
        assert_eq!(
            update(&mut a, Msg::Key(Key::Enter)),
            vec![super::app::Effect::RestoreSafety],
            "{screen:?}"
        );
    }
    // SAFE: nothing to restore, and the key says so instead of doing nothing.
    let mut a = start(testkit::safe_polled());
    assert!(update(&mut a, Msg::Key(Key::Char('r'))).is_empty());
    assert_eq!(a.overlay, None);
    assert!(
        a.notice.as_deref().is_some_and(|n| n.contains("SAFE")),
        "{:?}",
        a.notice
    );
}

#[test]
fn resume_starts_the_runs_sources_in_its_mode() {
    let mut p = testkit::safe_polled();
    p.unfinished = vec![unfinished_run(12, "interrupted"), unfinished_run(9, "failed")];
    let mut a = start(p);
    keys(&mut a, &[Key::Tab, Key::Char('j')]);
    assert_eq!((a.start_list, a.run_selected), (StartList::Runs, 1));
    // Fast asks nothing: the run starts at once with the run's sources.
    let fx = update(&mut a, Msg::Key(Key::Char('u')));
    assert!(
        matches!(&fx[0], super::app::Effect::StartImport { sources, mode: crate::engine::profile::Mode::Fast, .. }
            if sources == &[PathBuf::from("/music/libraries/groove"), PathBuf::from("/music/new packs/さくら.zip")]),
        "{fx:?}"
    );
    assert!(a.log.iter().any(|l| l.text.contains("resuming run 9")));
}

#[test]
fn dialogs_follow_the_run_under_them() {
    // The cancel dialog over a run that ends: it closes and says so; Enter then does not act on nothing.
    let mut a = testkit::running_app(5);
    keys(&mut a, &[Key::Char('c')]);
    let text = super::ui::tests_support::draw(&a, 80, 24);
    assert!(text.contains("goes on while this is open"), "{text}");
    update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Done))));
    assert_eq!(a.overlay, None);
    assert!(a.notice.as_deref().is_some_and(|n| n.contains("nothing to cancel")));
    // The quit dialog over a run that ends: it stays, and now says what quitting leaves, not the run.
    let mut a = testkit::running_app(5);
    keys(&mut a, &[Key::Char('q')]);
    let before = super::ui::tests_support::draw(&a, 80, 24);
    assert!(before.contains("cancel the run and quit"), "{before}");
    update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Done))));
    assert_eq!(a.overlay, Some(Overlay::Dialog(Dialog::Quit)));
    let after = super::ui::tests_support::draw(&a, 80, 24);
    assert!(
        !after.contains("cancel the run") && after.contains("RELAXED"),
        "{after}"
    );
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![super::app::Effect::Quit]);
    // The restore dialog when someone else restored meanwhile: it closes.
    let mut a = start(testkit::ludicrous_polled());
    keys(&mut a, &[Key::Char('r')]);
    update(&mut a, polled(testkit::safe_polled()));
    assert_eq!(a.overlay, None);
    assert!(a.notice.as_deref().is_some_and(|n| n.contains("restored meanwhile")));
}

#[test]
fn the_quit_line_says_what_is_relaxed_and_how_to_restore_it() {
    let p = testkit::ludicrous_polled();
    let line = super::quit_line(&p.safety, " --data-dir /d").expect("a line");
    assert!(line.contains("UNSAFE") && line.contains("fsync is off"), "{line}");
    assert!(line.contains("`midi-tui --data-dir /d restore-safety`"), "{line}");
    assert!(line.contains("rebuild-indexes"), "{line}");
    assert_eq!(line.lines().count(), 1);
    assert_eq!(super::quit_line(&testkit::safe_polled().safety, ""), None);
    let line = super::quit_line(&relaxed_polled().safety, "").expect("relaxed too");
    assert!(
        line.contains("RELAXED") && line.contains("synchronous_commit is off"),
        "{line}"
    );
}

#[test]
fn the_duplicates_view_lists_groups_and_reads_the_selected_file() {
    let mut a = browsing(testkit::running_app(5));
    let fx = update(&mut a, Msg::Key(Key::Char('d')));
    let of = a.browser.dupes.as_ref().map(|d| d.of.clone());
    assert!(matches!(of, Some(DupesOf::File { .. })), "{of:?}");
    assert!(fx.iter().any(|e| matches!(
        e,
        super::app::Effect::Browser(super::browser::BrowserEffect::Dupes { .. })
    )));
    let a = dupes(browsing(testkit::running_app(5)));
    let d = a.browser.dupes.as_ref().expect("open");
    assert_eq!(d.of, DupesOf::Library(DupeKind::Musical));
    assert_eq!(d.rows.len(), 3 + 5, "every file of both groups");
    assert_eq!(a.browser.selected_hash(), Some(d.rows[1].content_hash.as_str()));
}
