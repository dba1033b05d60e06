//! Snapshots of every screen at fixed sizes (ratatui TestBackend + insta). The states come from `testkit`, which
//! holds no clock or machine path; what could still vary (poll latency) is masked.
use crate::engine::pipeline::RunStatus;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::render;
use crate::console::app::{App, Dialog, Msg, Overlay, PollOutcome, RunState, update};
use crate::console::keymap::Key;
use crate::console::testkit::{self, keys};
use crate::engine::profile::RebuildEvent;

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    t.draw(|f| render(f, app)).expect("draw");
    t.backend().to_string()
}

/// Replace the digits after each `marker` with `#`, keeping the width (insta's regex filters are not enabled).
fn mask(screen: &str, marker: &str) -> String {
    let mut out = String::with_capacity(screen.len());
    let mut rest = screen;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        out.push_str(&"#".repeat(digits));
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

macro_rules! snap {
    ($name:expr, $app:expr, $w:expr, $h:expr) => {
        insta::assert_snapshot!($name, mask(&draw(&$app, $w, $h), "poll "))
    };
}

fn ludicrous_run(seconds: u64) -> App {
    let mut a = testkit::running_app(seconds);
    a.mode = crate::engine::profile::Mode::Ludicrous;
    update(
        &mut a,
        Msg::Polled(PollOutcome::Ok(Box::new(testkit::ludicrous_polled()))),
    );
    a
}

#[test]
fn start_screen() {
    let mut a = testkit::app();
    update(&mut a, Msg::Polled(PollOutcome::Ok(Box::new(testkit::safe_polled()))));
    snap!("start_80x24", a, 80, 24);
    keys(&mut a, &[Key::Char('l')]);
    snap!("start_ludicrous_120x32", a, 120, 32);
}

#[test]
fn start_screen_with_system_readiness() {
    let mut a = testkit::app();
    update(&mut a, Msg::Polled(PollOutcome::Ok(Box::new(testkit::safe_polled()))));
    update(&mut a, Msg::Doctor(Box::new(testkit::doctor_facts())));
    snap!("start_readiness_80x24", a, 80, 24);
    snap!("start_readiness_120x40", a, 120, 40);
    // The judgement follows the chosen mode: normal keeps every index live, so small buffers matter there.
    let normal = draw(&a, 120, 40);
    assert!(normal.contains("advice  PostgreSQL shared_buffers"), "{normal}");
    keys(&mut a, &[Key::Char('l')]);
    let ludicrous = draw(&a, 120, 40);
    assert!(ludicrous.contains("minor   PostgreSQL shared_buffers"), "{ludicrous}");
}

#[test]
fn start_screen_typing_a_path() {
    let mut a = testkit::app();
    a.sources.clear();
    keys(&mut a, &[Key::Char('a')]);
    for c in "~/midi/packs".chars() {
        keys(&mut a, &[Key::Char(c)]);
    }
    snap!("start_typing_path", a, 80, 24);
}

#[test]
fn run_in_progress_with_graph_and_bottleneck() {
    let a = testkit::running_app(90);
    snap!("run_fast_120x36", a, 120, 36);
    snap!("run_fast_80x24", a, 80, 24);
}

#[test]
fn the_headline_is_the_run_s_own_rate_and_after_the_run_the_final_line_s() {
    use crate::console::ui::fmt_rate;
    use crate::engine::metrics::{Figures, Phase};
    // Seconds alternate 400/440/480 files: the headline is the run's rate since its start, not the last second's.
    let a = testkit::running_app(30);
    let f = Figures::of(&a.live.snapshot);
    let screen = draw(&a, 120, 36);
    let head = screen.lines().find(|l| l.contains("Throughput")).unwrap_or_default();
    assert!(
        head.contains(&format!(" {} files/s", fmt_rate(f.files_per_s))),
        "{} files/s since the start: {head}",
        fmt_rate(f.files_per_s)
    );
    // After the run: headline, counters and log say the final line's figures; the panel the whole run's shares.
    let mut a = a;
    let mut s = testkit::summary(RunStatus::Done);
    s.final_snapshot = Some(Box::new(testkit::snapshot(27)));
    update(&mut a, Msg::ImportEnded(Ok(s.clone())));
    let screen = draw(&a, 120, 36);
    let rate = format!("{} files/s", fmt_rate(s.files_per_s));
    let head = screen.lines().find(|l| l.contains("Throughput")).unwrap_or_default();
    assert!(head.contains(&rate), "{rate}: {head}");
    assert!(
        screen.contains(&format!("{rate}, {} MB/s", fmt_rate(s.mb_per_s))),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("({:.0} files/s, {:.1} MB/s)", s.files_per_s, s.mb_per_s)),
        "{screen}"
    );
    assert!(
        screen.contains(&format!(" {} failed ", s.counts.failed)),
        "the run's own failed count: {screen}"
    );
    assert_eq!(
        a.live.bottleneck.as_ref().map(|b| b.phase),
        Some(Phase::Write),
        "the whole run's verdict"
    );
}

#[test]
fn a_shared_run_shows_its_importers_and_units() {
    let mut a = testkit::running_app(90);
    let mut polled = testkit::safe_polled();
    polled.shared_runs = vec![crate::engine::database::shared::LiveRun {
        id: 12,
        mode: "fast".into(),
        importers: 3,
        units_done: 0,
        units_taken: 40,
        files: 5_120,
        units: 120,
        scan_done: false,
    }];
    update(&mut a, Msg::Polled(PollOutcome::Ok(Box::new(polled))));
    let screen = draw(&a, 120, 36);
    // Moving while the importers work, though no unit is closed before the end of a pass.
    assert!(
        screen.contains("shared run 12 (fast): 3 importers, 5,120 files, 40/120+ units taken"),
        "{screen}"
    );
    snap!("run_shared_80x24", a, 80, 24);
}

#[test]
fn unsafe_banner() {
    let a = ludicrous_run(40);
    snap!("run_ludicrous_unsafe_100x30", a, 100, 30);
}

#[test]
fn confirmation_dialogs() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('l'), Key::Enter]);
    snap!("dialog_fsync_off", a, 80, 24);
    keys(&mut a, &[Key::Enter]);
    snap!("dialog_unlogged", a, 80, 24);
    keys(&mut a, &[Key::Enter]);
    update(&mut a, Msg::CrashCost(Ok(testkit::crash_cost(5_000, 1_149))));
    snap!("dialog_backup_files_at_risk", a, 80, 24);

    let mut a = testkit::app();
    a.screen = crate::console::app::Screen::Run;
    update(&mut a, Msg::Polled(PollOutcome::Ok(Box::new(testkit::safe_polled()))));
    keys(&mut a, &[Key::Char('2')]);
    assert_eq!(a.overlay, Some(Overlay::Dialog(Dialog::DropIndexes)));
    snap!("dialog_drop_indexes", a, 80, 24);

    let mut a = testkit::running_app(5);
    keys(&mut a, &[Key::Char('c')]);
    snap!("dialog_cancel", a, 80, 24);

    let mut a = ludicrous_run(5);
    keys(&mut a, &[Key::Char('q')]);
    snap!("dialog_quit_running_unsafe", a, 80, 24);
}

#[test]
fn index_rebuild_in_progress() {
    let mut a = ludicrous_run(30);
    update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Done))));
    keys(&mut a, &[Key::Char('i')]);
    let names = [
        "files_track_names_idx",
        "musical_metadata_programs_idx",
        "files_filename_trgm_idx",
        "musical_metadata_bpm_idx",
        "library_collection_idx",
    ];
    for (i, n) in names.iter().enumerate() {
        let table = if n.starts_with("musical_metadata") {
            "musical_metadata"
        } else {
            "files"
        };
        update(
            &mut a,
            Msg::Rebuild(RebuildEvent::Started {
                name: n.to_string(),
                table: table.into(),
            }),
        );
        if i < 3 {
            update(
                &mut a,
                Msg::Rebuild(RebuildEvent::Finished {
                    name: n.to_string(),
                    seconds: 1.5 + i as f64,
                }),
            );
        }
    }
    snap!("rebuild_in_progress_80x24", a, 80, 24);
    snap!("rebuild_in_progress_100x30", a, 100, 30);
}

#[test]
fn finished_run_offers_restore_and_rebuild() {
    let mut a = ludicrous_run(30);
    update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Done))));
    assert!(matches!(a.run, RunState::Finished { .. }));
    snap!("finished_ludicrous_unsafe", a, 100, 30);
    // After restore the banner offers the rebuild part of the key.
    let mut fast = testkit::running_app(30);
    update(&mut fast, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Done))));
    snap!("finished_fast_offer", fast, 80, 24);
}

#[test]
fn help_screen() {
    let mut a = testkit::running_app(3);
    keys(&mut a, &[Key::Char('?')]);
    snap!("help_80x24", a, 80, 24);
}

#[test]
fn database_states_not_a_frozen_screen() {
    let mut a = testkit::running_app(20);
    update(&mut a, Msg::Polled(PollOutcome::TimedOut { seconds: 5 }));
    snap!("server_not_answering", a, 80, 24);
    update(
        &mut a,
        Msg::Polled(PollOutcome::Failed("connection refused (os error 111)".into())),
    );
    snap!("server_down", a, 80, 24);
}

#[test]
fn too_small_and_resizes() {
    let a = testkit::running_app(10);
    snap!("too_small", a, 50, 10);
    // Every size from the minimum up draws without panicking.
    for (w, h) in [(60, 16), (61, 17), (79, 23), (80, 24), (132, 43), (200, 60), (300, 100)] {
        let _ = draw(&a, w, h);
    }
}

/// The browser over a running import: results, the detail of the selected file, then its piano roll.
#[test]
fn library_browser() {
    let a = testkit::browsing(testkit::running_app(30), "drums:yes bpm:100..140", 40, true);
    snap!("browser_detail_80x24", a, 80, 24);
    snap!("browser_120x40", a, 120, 40);
    let mut roll = a.clone();
    keys(&mut roll, &[Key::Tab]);
    snap!("browser_roll_80x24", roll, 80, 24);
    // Zoomed in twice, panned later and an octave up: the window moves, the labels follow.
    keys(
        &mut roll,
        &[
            Key::Char('+'),
            Key::Char('+'),
            Key::Right,
            Key::Char(']'),
            Key::Char(']'),
        ],
    );
    snap!("browser_roll_zoomed_80x24", roll, 80, 24);
    let mut down = a;
    keys(
        &mut down,
        &[Key::PageDown, Key::PageDown, Key::Char('s'), Key::Char('S')],
    );
    snap!("browser_scrolled_resorting_80x24", down, 80, 24);
}

#[test]
fn library_browser_parse_error_and_help() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('/')]);
    for c in "drums:yes bpm:fast".chars() {
        keys(&mut a, &[Key::Char(c)]);
    }
    let g = a.browser.generation;
    update(
        &mut a,
        Msg::Browser(crate::console::browser::BrowserMsg::Timer(
            crate::console::browser::Timer::Search(g),
        )),
    );
    snap!("browser_parse_error_80x24", a, 80, 24);
    let mut h = testkit::browsing(testkit::app(), "", 3, false);
    keys(&mut h, &[Key::Char('?')]);
    snap!("browser_help_80x24", h, 80, 24);
}

/// A file found in thirty places: the detail pane scrolls through every location with the key table's keys, stops
/// at its last line, and starts at the top again for the next file.
#[test]
fn library_browser_detail_scrolls() {
    use crate::console::browser::BrowserMsg;
    let mut a = testkit::browsing(testkit::running_app(30), "drums:yes", 40, true);
    let mut d = testkit::detail(1);
    let first = d.locations[0].clone();
    d.locations = (1..=30)
        .map(|i| crate::engine::library::LocationDetail {
            path: format!(
                "/music/copies/{i:02}/{}",
                first.path.rsplit('/').next().unwrap_or("x.mid")
            ),
            ..first.clone()
        })
        .collect();
    let s = a.browser.selection;
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Detail {
            selection: s,
            result: Ok(Some(Box::new(d))),
        }),
    );
    snap!("browser_detail_many_80x24", a, 80, 24);
    keys(&mut a, &[Key::Char('J'), Key::Char('J'), Key::Char('J')]);
    assert_eq!(a.browser.detail_scroll, 9);
    snap!("browser_detail_scrolled_80x24", a, 80, 24);
    keys(&mut a, &[Key::Char('J'); 40]);
    snap!("browser_detail_scrolled_end_80x24", a, 80, 24);
    keys(&mut a, &[Key::Char('K'); 40]);
    assert_eq!(a.browser.detail_scroll, 0, "back at the top");
    keys(&mut a, &[Key::Char('J'), Key::Down]);
    assert_eq!(a.browser.detail_scroll, 0, "another file starts at its top");
}

#[test]
fn library_browser_playing() {
    let a = testkit::listening(testkit::browsing(testkit::app(), "", 3, false), 5.0);
    snap!("browser_playing_120x40", a, 120, 40);
    let mut narrow = a.clone();
    keys(&mut narrow, &[Key::Tab]);
    snap!("browser_playing_roll_80x24", narrow, 80, 24);
}

/// The start screen of a library left UNSAFE by an interrupted run: the banner's `r` works here too, and the
/// unfinished runs are listed with how far they got and why they stopped.
#[test]
fn start_screen_with_unfinished_runs_and_restore_dialog() {
    let mut a = testkit::app();
    let mut p = testkit::ludicrous_polled();
    p.unfinished = vec![
        crate::console::keywalk_tests::unfinished_run(12, "interrupted"),
        crate::console::keywalk_tests::unfinished_run(9, "failed"),
    ];
    update(&mut a, Msg::Polled(PollOutcome::Ok(Box::new(p))));
    snap!("start_unfinished_80x24", a, 80, 24);
    keys(&mut a, &[Key::Tab, Key::Down]);
    snap!("start_unfinished_focused_120x36", a, 120, 36);
    keys(&mut a, &[Key::Char('R')]);
    snap!("dialog_restore_and_rebuild_80x24", a, 80, 24);
}

/// Tab lists what completes the typed path; the caret sits where the editing keys put it.
#[test]
fn path_field_completion_and_caret() {
    let mut a = testkit::app();
    a.sources.clear();
    keys(&mut a, &[Key::Char('a')]);
    for c in "/music/gr".chars() {
        keys(&mut a, &[Key::Char(c)]);
    }
    update(
        &mut a,
        Msg::Completed {
            target: crate::console::app::PathTarget::Source,
            typed: "/music/gr".into(),
            candidates: vec!["/music/grooves 1/".into(), "/music/grooves 2/".into()],
        },
    );
    snap!("start_path_completion_80x24", a, 80, 24);
}

/// The log panel scrolled back: it names its file and says how many newer lines are below.
#[test]
fn run_log_scrolls_and_names_its_file() {
    let mut a = testkit::running_app(30);
    update(
        &mut a,
        Msg::LogFile("/home/user/.local/share/midi-tui/logs/import-2026-12-01T14-00-00Z.log".into()),
    );
    for i in 0..30 {
        a.info(format!("log line {i}"));
    }
    keys(&mut a, &[Key::Char('k'), Key::Char('k'), Key::PageUp]);
    snap!("run_log_scrolled_100x30", a, 100, 30);
}

/// At 200 columns the name column stays readable and the rest shows where each file lies; wide characters keep
/// their columns in line; the count of matches is in the title.
#[test]
fn library_browser_wide_with_wide_characters_and_a_count() {
    let mut a = testkit::browsing(testkit::running_app(30), "drums:yes", 40, true);
    a.browser.hits[1].filename = "さくら (410).mid".into();
    a.browser.hits[2].filename = "春の海 — 宮城道雄 (koto duet, 1929).mid".into();
    let g = a.browser.generation;
    update(
        &mut a,
        Msg::Browser(crate::console::browser::BrowserMsg::Counted {
            generation: g,
            result: Ok(crate::engine::library::MatchCount::About(52_345)),
        }),
    );
    snap!("browser_wide_200x50", a, 200, 50);
    let narrow = draw(&a, 80, 24);
    assert!(narrow.contains("about 52,000 files, 40 loaded"), "{narrow}");
}

/// The duplicates view (the library's groups, largest first), and the export form over the browser.
#[test]
fn library_duplicates_view_and_export_form() {
    use crate::console::browser::BrowserMsg;
    let mut a = testkit::browsing(testkit::running_app(30), "drums:yes", 40, true);
    keys(&mut a, &[Key::Char('D')]);
    let generation = a.browser.dupes.as_ref().map_or(0, |d| d.generation);
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Dupes {
            generation,
            result: Ok(testkit::detail(1).duplicates),
        }),
    );
    snap!("browser_duplicates_80x24", a, 80, 24);
    let mut e = testkit::browsing(testkit::running_app(30), "drums:yes", 40, false);
    keys(&mut e, &[Key::Char('e')]);
    for c in "~/exports/drums".chars() {
        keys(&mut e, &[Key::Char(c)]);
    }
    keys(&mut e, &[Key::Down]);
    for c in "drums.csv".chars() {
        keys(&mut e, &[Key::Char(c)]);
    }
    snap!("browser_export_80x24", e, 80, 24);
}

/// A query that stops parsing clears what an earlier query listed.
#[test]
fn a_query_error_clears_the_results() {
    let mut a = testkit::browsing(testkit::app(), "drums:yes", 5, false);
    keys(
        &mut a,
        &[
            Key::Char('/'),
            Key::Char(' '),
            Key::Char('b'),
            Key::Char('p'),
            Key::Char('m'),
            Key::Char(':'),
            Key::Char('x'),
        ],
    );
    let g = a.browser.generation;
    update(
        &mut a,
        Msg::Browser(crate::console::browser::BrowserMsg::Timer(
            crate::console::browser::Timer::Search(g),
        )),
    );
    assert!(a.browser.hits.is_empty());
    let screen = draw(&a, 80, 24);
    assert!(!screen.contains("funk_break_001"), "{screen}");
}

/// A `like:` page that may miss a nearer file says so in the results' title, and the next exact answer does not.
#[test]
fn an_approximate_like_page_says_so_in_the_title() {
    use crate::console::browser::BrowserMsg;
    use crate::engine::library::Page;
    let mut a = testkit::browsing(testkit::app(), "like:7", 5, false);
    let answer = |a: &mut App, approximate: bool| {
        let generation = a.browser.generation;
        update(
            a,
            Msg::Browser(BrowserMsg::Searched {
                generation,
                append: false,
                result: Ok(Page {
                    hits: (1..=5).map(testkit::hit).collect(),
                    next: None,
                    approximate,
                }),
            }),
        );
    };
    assert!(draw(&a, 120, 30).contains("nearest first "), "exact: no mark");
    assert!(!draw(&a, 120, 30).contains("approximate"));
    answer(&mut a, true);
    assert!(
        draw(&a, 120, 30).contains("nearest first (approximate)"),
        "{}",
        draw(&a, 120, 30)
    );
    answer(&mut a, false);
    assert!(!draw(&a, 120, 30).contains("approximate"), "{}", draw(&a, 120, 30));
}

/// `like:` on a library imported before the features: the failure names `F`; once pressed, its progress stays in the
/// library panel's title while the results stay usable.
#[test]
fn features_backfill_from_the_browser() {
    use crate::console::browser::BrowserMsg;
    use crate::engine::library::backfill::BackfillReport;
    let mut a = testkit::browsing(testkit::app(), "like:7", 5, false);
    let generation = a.browser.generation;
    update(
        &mut a,
        Msg::Browser(BrowserMsg::Searched {
            generation,
            append: false,
            result: Err(
                "like: file 7 has no similarity features yet (imported before them, or timed in SMPTE \
                         frames): `midi-tui features` computes them from the stored locations"
                    .into(),
            ),
        }),
    );
    let screen = draw(&a, 120, 30);
    assert!(
        screen.contains("like: file 7 has no similarity features yet: F computes them"),
        "{screen}"
    );
    keys(&mut a, &[Key::Char('F')]);
    assert!(a.browser.features.is_some(), "F started the backfill");
    update(
        &mut a,
        Msg::Browser(BrowserMsg::FeaturesProgress(BackfillReport {
            stale: 1_204_311,
            computed: 250_000,
            sources_gone: 500,
            ..BackfillReport::default()
        })),
    );
    snap!("browser_features_running_120x30", a, 120, 30);
    update(
        &mut a,
        Msg::Browser(BrowserMsg::FeaturesDone(Ok(
            "every file with notes has its similarity features".into(),
        ))),
    );
    let screen = draw(&a, 120, 30);
    assert!(!screen.contains("files read"), "{screen}");
    assert!(
        screen.contains("every file with notes has its similarity features"),
        "the outcome in the footer: {screen}"
    );
}
