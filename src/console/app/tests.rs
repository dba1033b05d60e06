//! Tests of the pure state updates: keys to effects, dialogs, the run's life, polls and samples.
use super::*;
use crate::console::testkit::{self, keys};
use crate::engine::pipeline::RunStatus;
use crate::engine::profile::ApplyReport;

fn applied(level: Level) -> Msg {
    Msg::Applied {
        level,
        result: Ok(ApplyReport {
            level,
            lines: vec!["done".into()],
            pending_restart: vec![],
            restarted: false,
        }),
    }
}

fn polled(p: Polled) -> Msg {
    Msg::Polled(PollOutcome::Ok(Box::new(p)))
}

#[test]
fn normal_start_goes_straight_to_the_import() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('n')]);
    let fx = update(&mut a, Msg::Key(Key::Enter));
    assert_eq!(a.screen, Screen::Run);
    assert_eq!(a.run, RunState::Running);
    assert!(matches!(&fx[0], Effect::StartImport { mode: Mode::Normal, sources, .. } if sources.len() == 2));
}

#[test]
fn start_needs_a_source() {
    let mut a = testkit::app();
    a.sources.clear();
    assert!(update(&mut a, Msg::Key(Key::Enter)).is_empty());
    assert_eq!(a.screen, Screen::Start);
    assert!(a.notice.as_deref().is_some_and(|n| n.contains("no source")));
}

#[test]
fn ludicrous_start_walks_both_dialogs_then_applies_each_level_then_imports() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('l')]);
    assert_eq!(a.mode, Mode::Ludicrous);
    assert!(
        update(&mut a, Msg::Key(Key::Enter)).is_empty(),
        "a dialog first, nothing run"
    );
    assert!(matches!(
        &a.overlay,
        Some(Overlay::Dialog(Dialog::Risk { index: 0, .. }))
    ));
    assert!(update(&mut a, Msg::Key(Key::Enter)).is_empty(), "second dialog");
    assert!(matches!(
        &a.overlay,
        Some(Overlay::Dialog(Dialog::Risk { index: 1, .. }))
    ));
    // Level 3 next: what a crash would cost, found out by the loop (the dialog runs nothing).
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::CrashCost]);
    assert!(matches!(
        &a.overlay,
        Some(Overlay::Dialog(Dialog::Backup { cost: None, .. }))
    ));
    assert!(
        update(&mut a, Msg::Key(Key::Enter)).is_empty(),
        "nothing to choose before the cost is known"
    );
    assert_eq!(a.notice.as_deref(), Some("still finding out what a crash would cost"));
    assert!(update(&mut a, Msg::CrashCost(Ok(testkit::crash_cost(1_200, 0)))).is_empty());
    let fx = update(&mut a, Msg::Key(Key::Char('n')));
    assert_eq!(a.overlay, None);
    assert_eq!(a.run, RunState::Preparing);
    let both = vec![Confirmation::FsyncOff, Confirmation::Unlogged];
    assert_eq!(
        fx[0],
        Effect::StartImport {
            sources: a.sources.clone(),
            mode: Mode::Ludicrous,
            confirmed: both,
            backup: Some(false),
        },
        "the engine's plan applies the levels, with both confirmations, without a backup as asked"
    );
    for level in Mode::Ludicrous.levels() {
        update(&mut a, Msg::Plan(PlanEvent::StepStarted(StepKind::Apply(*level))));
        assert_eq!(a.op, Some(Op::Apply(*level)));
        assert_eq!(
            update(&mut a, Msg::Plan(testkit::applied_step(*level))),
            vec![Effect::Poll]
        );
        assert_eq!(a.op, None);
        assert_eq!(a.run, RunState::Preparing);
    }
    update(&mut a, Msg::Plan(PlanEvent::ImportStarted));
    assert_eq!(a.run, RunState::Running);
}

#[test]
fn esc_on_a_risk_dialog_changes_nothing() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('l'), Key::Enter]);
    let fx = update(&mut a, Msg::Key(Key::Esc));
    assert!(fx.is_empty());
    assert_eq!(a.overlay, None);
    assert_eq!(a.screen, Screen::Start);
    assert_eq!(a.run, RunState::Idle);
    assert!(a.notice.as_deref().is_some_and(|n| n.contains("nothing was changed")));
}

#[test]
fn a_failed_level_stops_the_start() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('f'), Key::Enter]);
    let fx = update(
        &mut a,
        Msg::ImportEnded(Err("apply level 1 (basic): permission denied".into())),
    );
    assert_eq!(fx, vec![Effect::Poll]);
    assert!(matches!(a.run, RunState::Failed { .. }));
    assert!(a.run.offers_restore(), "r restores whatever was changed");
    assert!(a.errors > 0);
}

#[test]
fn pause_resume_and_cancel_through_its_dialog() {
    let mut a = testkit::running_app(3);
    assert_eq!(update(&mut a, Msg::Key(Key::Char('p'))), vec![Effect::SetPaused(true)]);
    assert_eq!(a.run, RunState::Paused);
    assert_eq!(update(&mut a, Msg::Key(Key::Char('p'))), vec![Effect::SetPaused(false)]);
    assert!(update(&mut a, Msg::Key(Key::Char('c'))).is_empty());
    assert_eq!(a.overlay, Some(Overlay::Dialog(Dialog::Cancel)));
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::CancelImport]);
    assert_eq!(a.run, RunState::Cancelling { then_quit: false });
    update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Interrupted))));
    assert!(matches!(a.run, RunState::Finished { .. }));
    assert!(a.run.offers_restore(), "a fast run offers restore + rebuild");
}

#[test]
fn profile_keys_wait_for_the_run() {
    let mut a = testkit::running_app(2);
    for k in ['r', 'i', 'R', '1', '3'] {
        assert!(update(&mut a, Msg::Key(Key::Char(k))).is_empty(), "{k} during a run");
        assert!(a.notice.as_deref().is_some_and(|n| n.starts_with("not while a run")));
    }
}

#[test]
fn finished_fast_run_restores_then_rebuilds_on_one_key() {
    let mut a = testkit::running_app(2);
    update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Done))));
    assert!(
        update(&mut a, Msg::Key(Key::Char('R'))).is_empty(),
        "a confirmation first"
    );
    assert_eq!(a.overlay, Some(Overlay::Dialog(Dialog::Restore { then_rebuild: true })));
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::RestoreSafety]);
    assert_eq!(a.op, Some(Op::Restore { then_rebuild: true }));
    let report = RestoreReport {
        lines: vec!["fsync back to on".into()],
        checks: vec![],
        ok: true,
        pending_restart: vec![],
        still_relaxed: vec![],
    };
    let fx = update(&mut a, Msg::Restored(Ok(report)));
    assert!(fx.contains(&Effect::RebuildIndexes));
    assert_eq!(a.op, Some(Op::Rebuild));
    assert_eq!(
        a.rebuild.as_ref().and_then(|r| r.todo),
        Some(39),
        "missing indexes known from the poll"
    );
    update(
        &mut a,
        Msg::Rebuild(RebuildEvent::Started {
            name: "idx_a".into(),
            table: "files".into(),
        }),
    );
    update(
        &mut a,
        Msg::Rebuild(RebuildEvent::Started {
            name: "idx_b".into(),
            table: "files".into(),
        }),
    );
    update(
        &mut a,
        Msg::Rebuild(RebuildEvent::Finished {
            name: "idx_a".into(),
            seconds: 1.5,
        }),
    );
    update(
        &mut a,
        Msg::Rebuild(RebuildEvent::Failed {
            name: "idx_b".into(),
            error: "boom".into(),
        }),
    );
    let v = a.rebuild.as_ref().expect("rebuild view");
    assert_eq!((v.built(), v.failed(), v.building()), (1, 1, 0));
    let fx = update(&mut a, Msg::RebuildEnded(Ok(RebuildReport::default())));
    assert_eq!(fx, vec![Effect::Poll]);
    assert_eq!(a.op, None);
    assert!(!a.run.offers_restore());
}

#[test]
fn level_toggles_apply_with_dialogs_and_revert_without() {
    let mut a = testkit::app();
    a.screen = Screen::Run;
    assert!(
        update(&mut a, Msg::Key(Key::Char('1'))).is_empty(),
        "no state polled yet"
    );
    update(&mut a, polled(testkit::safe_polled()));
    assert_eq!(
        update(&mut a, Msg::Key(Key::Char('1'))),
        vec![Effect::ApplyLevel {
            level: Level::Basic,
            confirmed: vec![],
            backup: false,
        }]
    );
    update(&mut a, applied(Level::Basic));
    assert!(update(&mut a, Msg::Key(Key::Char('2'))).is_empty());
    assert_eq!(a.overlay, Some(Overlay::Dialog(Dialog::DropIndexes)));
    assert_eq!(
        update(&mut a, Msg::Key(Key::Enter)),
        vec![Effect::ApplyLevel {
            level: Level::DropIndexes,
            confirmed: vec![],
            backup: false,
        }]
    );
    update(&mut a, applied(Level::DropIndexes));
    keys(&mut a, &[Key::Char('3'), Key::Enter]);
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::CrashCost]);
    update(&mut a, Msg::CrashCost(Ok(testkit::crash_cost(1_200, 300))));
    let fx = update(&mut a, Msg::Key(Key::Enter));
    assert_eq!(
        fx,
        vec![Effect::ApplyLevel {
            level: Level::Ludicrous,
            confirmed: vec![Confirmation::FsyncOff, Confirmation::Unlogged],
            backup: true,
        }],
        "Enter in the backup dialog backs the library up first"
    );
    update(&mut a, applied(Level::Ludicrous));
    update(&mut a, polled(testkit::ludicrous_polled()));
    assert_eq!(
        update(&mut a, Msg::Key(Key::Char('3'))),
        vec![Effect::RevertLevel(Level::Ludicrous)]
    );
    update(
        &mut a,
        Msg::Reverted {
            level: Level::Ludicrous,
            result: Ok(RestoreReport::default()),
        },
    );
    assert_eq!(
        update(&mut a, Msg::Key(Key::Char('2'))),
        vec![Effect::RebuildIndexes],
        "level 2 off = rebuild"
    );
}

#[test]
fn one_operation_at_a_time() {
    let mut a = testkit::app();
    a.screen = Screen::Run;
    update(&mut a, polled(testkit::ludicrous_polled()));
    keys(&mut a, &[Key::Char('r')]);
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::RestoreSafety]);
    assert!(update(&mut a, Msg::Key(Key::Char('i'))).is_empty());
    assert!(
        a.notice
            .as_deref()
            .is_some_and(|n| n.contains("busy: restoring safety"))
    );
}

#[test]
fn quit_asks_while_running_or_unsafe() {
    let mut a = testkit::app();
    update(&mut a, polled(testkit::safe_polled()));
    assert_eq!(
        update(&mut a, Msg::Key(Key::Char('q'))),
        vec![Effect::Quit],
        "safe and idle: no question"
    );
    assert!(a.should_quit);

    let mut a = testkit::app();
    update(&mut a, polled(testkit::ludicrous_polled()));
    assert!(update(&mut a, Msg::Key(Key::Char('q'))).is_empty());
    assert_eq!(a.overlay, Some(Overlay::Dialog(Dialog::Quit)));
    assert!(quit_reasons(&a)[0].contains("UNSAFE"));
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::Quit]);

    let mut a = testkit::running_app(2);
    update(&mut a, Msg::Key(crate::console::keymap::CTRL_C));
    assert!(matches!(&a.overlay, Some(Overlay::Dialog(Dialog::Quit))));
    assert_eq!(
        update(&mut a, Msg::Key(Key::Enter)),
        vec![Effect::CancelImport],
        "cancel, then quit"
    );
    assert!(!a.should_quit);
    assert_eq!(
        update(&mut a, Msg::ImportEnded(Ok(testkit::summary(RunStatus::Interrupted)))),
        vec![Effect::Quit]
    );
    assert!(a.should_quit);
}

#[test]
fn typing_a_path_adds_a_checked_source() {
    let mut a = testkit::app();
    keys(
        &mut a,
        &[
            Key::Char('a'),
            Key::Char('q'),
            Key::Char('x'),
            Key::Backspace,
            Key::Char('/'),
        ],
    );
    assert_eq!(
        a.overlay,
        Some(Overlay::Input(PathField::new("q/"))),
        "q and x are typed, not bound"
    );
    assert_eq!(
        update(&mut a, Msg::Key(Key::Enter)),
        vec![Effect::CheckSource("q/".into())]
    );
    update(
        &mut a,
        Msg::SourceChecked {
            typed: "q/".into(),
            path: "/abs/q".into(),
            exists: true,
        },
    );
    assert_eq!(a.sources.last(), Some(&PathBuf::from("/abs/q")));
    update(
        &mut a,
        Msg::SourceChecked {
            typed: "nope".into(),
            path: "/abs/nope".into(),
            exists: false,
        },
    );
    assert_eq!(a.sources.len(), 3);
    assert!(a.notice.as_deref().is_some_and(|n| n.contains("no such file")));
    keys(&mut a, &[Key::Char('x'), Key::Char('e')]);
    assert_eq!(a.sources.last(), a.sample_library.as_ref());
}

#[test]
fn mode_selection_wraps_around_auto_first() {
    let mut a = testkit::app();
    assert!(a.auto_mode, "auto is the default choice");
    keys(&mut a, &[Key::Up]);
    assert_eq!((a.auto_mode, a.mode), (false, Mode::Ludicrous));
    keys(&mut a, &[Key::Down]);
    assert!(a.auto_mode);
    keys(&mut a, &[Key::Down, Key::Down]);
    assert_eq!((a.auto_mode, a.mode), (false, Mode::Fast));
    keys(&mut a, &[Key::Char('m')]);
    assert!(a.auto_mode);
}

#[test]
fn auto_start_sizes_first_then_goes_on_as_the_chosen_mode_with_its_dialogs() {
    let mut a = testkit::app();
    let fx = update(&mut a, Msg::Key(Key::Enter));
    assert_eq!(fx, vec![Effect::ChooseMode(a.sources.clone())]);
    assert_eq!(a.screen, Screen::Start, "nothing starts before the choice");
    assert!(
        update(&mut a, Msg::Key(Key::Enter)).is_empty(),
        "a second Enter does not ask twice"
    );
    // Auto picked ludicrous: its two dialogs come first, as when picked by hand.
    let reason = "ludicrous 10.0 s, fast 11.0 s, normal 30.0 s".to_string();
    assert!(update(&mut a, Msg::ModeChosen(Ok((Mode::Ludicrous, reason.clone())))).is_empty());
    assert_eq!(a.mode, Mode::Ludicrous);
    assert_eq!(a.mode_reason.as_deref(), Some(reason.as_str()));
    assert!(matches!(
        &a.overlay,
        Some(Overlay::Dialog(Dialog::Risk { index: 0, .. }))
    ));
    keys(&mut a, &[Key::Enter]);
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::CrashCost]);
    let fx = update(&mut a, Msg::CrashCost(Ok(testkit::crash_cost(0, 0))));
    assert!(matches!(&fx[0], Effect::StartImport { mode: Mode::Ludicrous, confirmed, .. } if confirmed.len() == 2));
    assert!(a.log.iter().any(|l| l.text.contains("mode auto chose ludicrous")));

    // Normal needs no dialog: straight to the run.
    let mut a = testkit::app();
    update(&mut a, Msg::Key(Key::Enter));
    let fx = update(&mut a, Msg::ModeChosen(Ok((Mode::Normal, "small".into()))));
    assert!(matches!(&fx[0], Effect::StartImport { mode: Mode::Normal, .. }));
    assert_eq!(a.screen, Screen::Run);
}

#[test]
fn a_late_or_failed_auto_answer_starts_nothing() {
    // A mode picked by hand while auto was sizing wins.
    let mut a = testkit::app();
    update(&mut a, Msg::Key(Key::Enter));
    keys(&mut a, &[Key::Char('f')]);
    assert!(update(&mut a, Msg::ModeChosen(Ok((Mode::Ludicrous, "x".into())))).is_empty());
    assert_eq!((a.mode, a.overlay.clone()), (Mode::Fast, None));
    // An answer nobody asked for is dropped.
    let mut a = testkit::app();
    assert!(update(&mut a, Msg::ModeChosen(Ok((Mode::Normal, "x".into())))).is_empty());
    assert_eq!(a.screen, Screen::Start);
    // A failure says so and leaves the choice to the user.
    let mut a = testkit::app();
    update(&mut a, Msg::Key(Key::Enter));
    assert!(update(&mut a, Msg::ModeChosen(Err("connection refused".into()))).is_empty());
    assert!(
        a.notice
            .as_deref()
            .is_some_and(|n| n.contains("pick one with n, f or l"))
    );
    assert!(a.log.iter().any(|l| l.text.contains("connection refused")));
    assert!(!a.choosing_mode);
}

#[test]
fn samples_fill_the_rings_and_pick_the_bottleneck() {
    let a = testkit::running_app(10);
    assert_eq!(a.live.files_per_s.len(), 10);
    assert!(
        a.live.files_per_s.iter().all(|v| (399.0..=481.0).contains(v)),
        "{:?}",
        a.live.files_per_s
    );
    let b = a.live.bottleneck.as_ref().expect("bottleneck");
    assert_eq!(b.phase, Phase::Write);
    // Indexes are already dropped in fast mode and level 1 is on; level 3 is next, but the bench's rates (no doctor
    // facts yet) say ludicrous is no faster than fast on this machine, so it is not offered.
    assert!(b.remedy.contains("ludicrous measured no faster here"), "{}", b.remedy);
    assert!(a.live.eta.is_some_and(|e| e > 0.0));
}

#[test]
fn samples_poll_the_server_without_piling_up() {
    let mut a = testkit::app();
    assert_eq!(update(&mut a, Msg::Sample(None)), vec![Effect::Poll]);
    assert!(a.db.poll_inflight);
    assert!(update(&mut a, Msg::Sample(None)).is_empty());
    assert!(update(&mut a, Msg::Sample(None)).is_empty(), "still in flight");
    update(&mut a, Msg::Polled(PollOutcome::TimedOut { seconds: 5 }));
    assert_eq!(a.db.server, ServerState::NotAnswering { seconds: 5 });
    assert!(!a.db.poll_inflight);
    update(&mut a, Msg::Sample(None));
    update(&mut a, Msg::Polled(PollOutcome::Failed("connection refused".into())));
    assert_eq!(
        a.db.server,
        ServerState::Down {
            error: "connection refused".into()
        }
    );
    update(&mut a, polled(testkit::safe_polled()));
    assert_eq!(a.db.server, ServerState::Up { latency_ms: 3 });
}

#[test]
fn unsafe_poll_warns_once_and_data_loss_is_an_error() {
    let mut a = testkit::app();
    update(&mut a, polled(testkit::ludicrous_polled()));
    update(&mut a, polled(testkit::ludicrous_polled()));
    assert_eq!(a.log.iter().filter(|l| l.text.contains("UNSAFE")).count(), 1);
    assert_eq!(a.is_unsafe(), Some(true));
    let mut lost = testkit::safe_polled();
    lost.safety.data_lost = Some("tables came back empty".into());
    update(&mut a, polled(lost));
    assert_eq!(a.errors, 1);
}

#[test]
fn engine_events_reach_the_log() {
    let mut a = testkit::running_app(1);
    let before = a.errors;
    update(&mut a, Msg::Engine(EngineEvent::Log("batch 3 written".into())));
    update(
        &mut a,
        Msg::Engine(EngineEvent::Error {
            location: "a.mid".into(),
            kind: crate::engine::pipeline::ErrorKind::Midi(crate::engine::midi::MidiErrorKind::Truncated),
            message: "eof".into(),
        }),
    );
    assert_eq!(a.errors, before + 1);
    assert_eq!(a.log.last().map(|l| l.kind), Some(LogKind::Error));
}

#[test]
fn help_opens_and_closes() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('?')]);
    assert_eq!(a.context(), Ctx::Help);
    keys(&mut a, &[Key::Char('q')]);
    assert_eq!(a.overlay, None);
    assert!(!a.should_quit, "q closes the help, it does not quit");
}

#[test]
fn a_run_shorter_than_a_sample_still_gets_a_rate() {
    let mut a = testkit::app();
    update(&mut a, Msg::Key(Key::Enter));
    // The handle arrives after the run has ended: the rate still covers the whole run.
    update(&mut a, Msg::ImportStarted(testkit::snapshot(2)));
    update(&mut a, Msg::Sample(Some(testkit::snapshot(2))));
    assert_eq!(a.live.files_per_s.len(), 1);
    assert!(
        (a.live.files_per_s.mean_tail(1) - 460.0).abs() < 1.0,
        "{:?}",
        a.live.files_per_s
    );
}

#[test]
fn a_window_of_archive_members_counts_as_inflating_and_plain_files_do_not() {
    let mut a = testkit::running_app(3);
    assert!(!a.live.inflating, "a folder's files are not inflated");
    assert!(!a.situation().inflating);
    // Two more samples in which every item seen was an archive member.
    for t in 4..=5 {
        let mut s = testkit::snapshot(t);
        s.members = s.counts.seen;
        update(&mut a, Msg::Sample(Some(s)));
    }
    assert!(a.live.inflating);
    assert!(a.situation().inflating);
    // The rates the remedies follow are the bench's until the doctor's facts bring this library's own.
    let mut facts = testkit::doctor_facts();
    facts.rates.ludicrous = facts.rates.fast * 2.0;
    update(&mut a, Msg::Doctor(Box::new(facts.clone())));
    assert_eq!(a.situation().rates.2, facts.rates.ludicrous);
}

#[test]
fn profile_keys_wait_while_another_process_holds_the_library() {
    let mut a = testkit::app();
    let mut p = testkit::ludicrous_polled();
    p.safety.running = vec!["import (ludicrous) (pid 1)".into()];
    update(&mut a, polled(p));
    assert!(!available(&a, Action::Restore) && !available(&a, Action::Rebuild));
    let fx = on_action(&mut a, Action::Restore);
    assert!(fx.is_empty(), "nothing sent to the engine: {fx:?}");
    let notice = a.notice.clone().unwrap_or_default();
    assert!(
        notice.contains("import (ludicrous) (pid 1) holds the library"),
        "says why: {notice}"
    );
    // Its own import's hold is not another's.
    let mut p = testkit::ludicrous_polled();
    p.safety.running = vec![format!("import (fast) (pid {})", std::process::id())];
    update(&mut a, polled(p));
    assert!(available(&a, Action::Restore));
}

#[test]
fn an_empty_library_needs_no_backup_and_the_dialog_goes_on_by_itself() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('l'), Key::Enter, Key::Enter]);
    assert_eq!(update(&mut a, Msg::Key(Key::Enter)), vec![Effect::CrashCost]);
    let fx = update(&mut a, Msg::CrashCost(Ok(testkit::crash_cost(0, 0))));
    assert_eq!(a.overlay, None);
    assert!(matches!(&fx[0], Effect::StartImport { backup: None, .. }), "{fx:?}");
}

#[test]
fn the_backup_dialog_names_the_files_at_risk_and_esc_changes_nothing() {
    let mut a = testkit::app();
    keys(&mut a, &[Key::Char('l'), Key::Enter, Key::Enter, Key::Enter]);
    update(&mut a, Msg::CrashCost(Ok(testkit::crash_cost(5_000, 1_149))));
    let Some(Overlay::Dialog(d)) = &a.overlay else {
        panic!("{:?}", a.overlay)
    };
    let d = d.clone();
    let screen = crate::console::ui::dialog_text(&a, &d);
    assert!(screen.contains("1,149 files only missing sources hold"), "{screen}");
    assert!(update(&mut a, Msg::Key(Key::Esc)).is_empty());
    assert_eq!(a.overlay, None);
    assert_eq!(a.run, RunState::Idle);
    assert_eq!(a.notice.as_deref(), Some("not confirmed: nothing was changed"));
    // `n` is no key outside the backup dialog.
    assert!(!crate::console::app::available(
        &a,
        crate::console::keymap::Action::NoBackup
    ));
}
