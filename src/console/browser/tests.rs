//! The browser's pure logic: debounce, stale answers, paging, selection and the roll's view.
use super::*;
use crate::console::keymap::Move;
use crate::console::lineedit::EditOp;
use crate::console::testkit::{detail, hit, notes};
use crate::engine::library::SortValue;

fn page(ids: std::ops::RangeInclusive<i64>, more: bool) -> Page {
    let hits: Vec<Hit> = ids.clone().map(hit).collect();
    Page {
        next: more.then_some(Cursor {
            value: SortValue::Int(*ids.end()),
            id: *ids.end(),
        }),
        hits,
        approximate: false,
    }
}

fn searches(effects: &[BrowserEffect]) -> Vec<(u64, Option<Cursor>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            BrowserEffect::Search { generation, after, .. } => Some((*generation, after.clone())),
            _ => None,
        })
        .collect()
}

fn typed(b: &mut Browser, text: &str) -> Vec<BrowserEffect> {
    text.chars().flat_map(|c| b.type_char(c)).collect()
}

/// An open browser whose query `text` was answered with `page`.
fn answered(text: &str, p: Page) -> Browser {
    let mut b = Browser::default();
    b.on_action(BrowseAction::Open);
    typed(&mut b, text);
    let g = b.generation;
    b.on_msg(BrowserMsg::Timer(Timer::Search(g)));
    b.on_msg(BrowserMsg::Searched {
        generation: g,
        append: false,
        result: Ok(p),
    });
    b
}

#[test]
fn typing_is_debounced_and_only_the_last_text_is_searched() {
    let mut b = Browser::default();
    let opened = b.on_action(BrowseAction::Open);
    assert_eq!(searches(&opened).len(), 1, "opening lists the library at once");
    let effects = typed(&mut b, "bpm:120");
    assert_eq!(effects.len(), 7, "one timer per key, no search yet: {effects:?}");
    assert!(
        effects
            .iter()
            .all(|e| matches!(e, BrowserEffect::After(DEBOUNCE, Timer::Search(_))))
    );
    let last = b.generation;
    for g in last - 6..last {
        assert!(
            b.on_msg(BrowserMsg::Timer(Timer::Search(g))).is_empty(),
            "timer {g} is stale"
        );
    }
    let run = b.on_msg(BrowserMsg::Timer(Timer::Search(last)));
    let s = searches(&run);
    assert_eq!(s, vec![(last, None)]);
    match &run[0] {
        BrowserEffect::Search { query, .. } => assert_eq!(query.to_string(), "bpm:120"),
        other => panic!("{other:?}"),
    }
    assert!(b.searching);
}

#[test]
fn an_answer_for_an_older_text_is_dropped() {
    let mut b = answered("drums:yes", page(1..=3, false));
    typed(&mut b, " bpm:90");
    let g = b.generation;
    b.on_msg(BrowserMsg::Timer(Timer::Search(g)));
    // The search of "drums:yes bpm:9" (one key earlier) answers late: ignored.
    let stale = b.on_msg(BrowserMsg::Searched {
        generation: g - 1,
        append: false,
        result: Ok(page(50..=60, false)),
    });
    assert!(stale.is_empty());
    assert_eq!(b.hits.len(), 3, "the old results stay until the current text answers");
    assert!(b.searching);
    b.on_msg(BrowserMsg::Searched {
        generation: g,
        append: false,
        result: Ok(page(7..=8, false)),
    });
    assert_eq!(b.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![7, 8]);
    assert!(!b.searching);
}

#[test]
fn a_parse_error_points_at_its_term_and_searches_nothing() {
    let mut b = Browser::default();
    b.on_action(BrowseAction::Open);
    typed(&mut b, "drums:yes bpm:fast");
    let g = b.generation;
    let run = b.on_msg(BrowserMsg::Timer(Timer::Search(g)));
    assert!(searches(&run).is_empty());
    let e = b.error.clone().expect("a parse error");
    assert_eq!((e.column, e.term.as_str()), (11, "bpm:fast"));
    // Fixing it clears the error with the next search.
    for _ in 0..4 {
        b.on_edit(EditOp::Backspace);
    }
    typed(&mut b, "90");
    let g = b.generation;
    assert_eq!(searches(&b.on_msg(BrowserMsg::Timer(Timer::Search(g)))).len(), 1);
    assert_eq!(b.error, None);
}

#[test]
fn enter_searches_at_once_and_the_pending_timer_then_does_nothing() {
    let mut b = Browser::default();
    b.on_action(BrowseAction::Open);
    typed(&mut b, "key:Cm");
    let g = b.generation;
    let now = b.on_action(BrowseAction::Submit);
    assert_eq!(searches(&now), vec![(g, None)]);
    assert_eq!(b.focus, Focus::Results);
    assert!(b.on_msg(BrowserMsg::Timer(Timer::Search(g))).is_empty());
}

#[test]
fn scrolling_near_the_end_fetches_the_next_page_by_keyset() {
    let mut b = answered("", page(1..=PAGE_SIZE as i64, true));
    b.on_action(BrowseAction::Submit);
    let mut asked = Vec::new();
    for _ in 0..PAGE_SIZE - PREFETCH - 1 {
        asked.extend(searches(&b.on_move(Move::Down)));
    }
    assert!(asked.is_empty(), "not yet near the end: {asked:?}");
    let s = searches(&b.on_move(Move::Down));
    let cursor = Cursor {
        value: SortValue::Int(PAGE_SIZE as i64),
        id: PAGE_SIZE as i64,
    };
    assert_eq!(s, vec![(b.generation, Some(cursor))]);
    assert!(searches(&b.on_move(Move::Down)).is_empty(), "one page at a time");
    b.on_msg(BrowserMsg::Searched {
        generation: b.generation,
        append: true,
        result: Ok(page(101..=150, false)),
    });
    assert_eq!(b.hits.len(), 150);
    assert_eq!(b.next, None);
    // The end: the selection stops at the last row.
    for _ in 0..60 {
        b.on_move(Move::PageDown);
    }
    assert_eq!(b.selected, 149);
}

#[test]
fn a_new_sort_searches_again_from_the_first_page() {
    let mut b = answered("drums:yes", page(1..=5, false));
    let g = b.generation;
    let s = b.on_action(BrowseAction::SortField);
    assert_eq!(b.sort.field, SortField::Bpm);
    assert_eq!(searches(&s), vec![(g + 1, None)]);
    b.on_action(BrowseAction::SortDirection);
    assert!(b.sort.descending);
    // The answer of the first re-sort is now stale.
    b.on_msg(BrowserMsg::Searched {
        generation: g + 1,
        append: false,
        result: Ok(page(9..=9, false)),
    });
    assert_eq!(b.hits.len(), 5);
}

#[test]
fn the_selection_reads_its_file_once_it_rests_and_drops_late_answers() {
    let mut b = answered("", page(1..=20, false));
    b.on_action(BrowseAction::Submit);
    let first = b.selection;
    b.on_move(Move::Down);
    b.on_move(Move::Down);
    let now = b.selection;
    assert_eq!(now, first + 2);
    assert!(b.on_msg(BrowserMsg::Timer(Timer::Select(first + 1))).is_empty());
    let read = b.on_msg(BrowserMsg::Timer(Timer::Select(now)));
    assert_eq!(
        read,
        vec![BrowserEffect::Detail {
            selection: now,
            content_hash: hit(3).content_hash,
        }]
    );
    // A late detail of an earlier selection changes nothing.
    b.on_msg(BrowserMsg::Detail {
        selection: first,
        result: Ok(Some(Box::new(detail(1)))),
    });
    assert_eq!(b.detail, Slot::Loading);
    let next = b.on_msg(BrowserMsg::Detail {
        selection: now,
        result: Ok(Some(Box::new(detail(3)))),
    });
    match &next[..] {
        [BrowserEffect::Notes { locations, .. }] => assert_eq!(locations.len(), 3),
        other => panic!("{other:?}"),
    }
    b.on_msg(BrowserMsg::Notes {
        selection: now,
        result: Ok(notes()),
    });
    assert!(matches!(b.notes, Slot::Ready(_)));
    assert_eq!(b.view.pitch_center, middle_pitch(&notes()));
}

#[test]
fn a_refresh_keeps_the_selected_file() {
    let mut b = answered("", page(1..=20, false));
    b.on_action(BrowseAction::Submit);
    for _ in 0..4 {
        b.on_move(Move::Down);
    }
    let sel = b.selection;
    b.on_action(BrowseAction::Close);
    b.on_action(BrowseAction::Open);
    b.on_msg(BrowserMsg::Searched {
        generation: b.generation,
        append: false,
        result: Ok(page(1..=25, false)),
    });
    assert_eq!((b.selected, b.selection), (4, sel), "same file, nothing read again");
}

#[test]
fn the_roll_pans_and_zooms_inside_the_file() {
    let mut b = answered("", page(1..=2, false));
    let s = b.selection;
    b.on_msg(BrowserMsg::Detail {
        selection: s,
        result: Ok(Some(Box::new(detail(1)))),
    });
    b.on_msg(BrowserMsg::Notes {
        selection: s,
        result: Ok(notes()),
    });
    b.on_action(BrowseAction::TimeRight);
    assert_eq!(b.view.start, 0.0, "the whole file is in view: nothing to pan");
    b.on_action(BrowseAction::ZoomIn);
    b.on_action(BrowseAction::ZoomIn);
    assert_eq!(b.view.span(16.0), 4.0);
    assert_eq!(b.view.start, 6.0, "zoomed around the middle");
    for _ in 0..20 {
        b.on_action(BrowseAction::TimeRight);
    }
    assert_eq!(b.view.start, 12.0, "stops at the end");
    for _ in 0..40 {
        b.on_action(BrowseAction::PitchUp);
    }
    assert_eq!(b.view.pitch_center, 127.0);
    for _ in 0..20 {
        b.on_action(BrowseAction::ZoomOut);
    }
    assert_eq!((b.view.zoom, b.view.start), (0, 0.0));
}

#[test]
fn the_import_goes_on_under_the_browser_and_keys_stay_in_it() {
    use crate::console::app::{Msg, RunState, update};
    use crate::console::keymap::Key;
    use crate::console::testkit::{keys, running_app, snapshot};
    let mut a = running_app(10);
    keys(&mut a, &[Key::Char('/')]);
    // `p` and `c` are typed into the query, not pause or cancel the run.
    keys(&mut a, &[Key::Char('p'), Key::Char('c')]);
    assert_eq!(a.browser.text(), "pc");
    assert_eq!(a.run, RunState::Running);
    let before = a.live.snapshot.counts.done();
    update(&mut a, Msg::Sample(Some(snapshot(20))));
    assert!(
        a.live.snapshot.counts.done() > before,
        "the counters move on while browsing"
    );
    // Closed and opened again: the same query, searched again for files the import added meanwhile.
    keys(&mut a, &[Key::Esc]);
    assert!(!a.browser.open);
    let effects = update(&mut a, Msg::Key(Key::Char('/')));
    assert_eq!(a.browser.text(), "pc");
    assert!(matches!(
        effects.as_slice(),
        [
            crate::console::app::Effect::Browser(BrowserEffect::Search { .. }),
            crate::console::app::Effect::Browser(BrowserEffect::Count { .. })
        ]
    ));
}

#[test]
fn f_computes_the_features_once_shows_its_progress_and_runs_a_like_query_again() {
    let mut b = answered("like:7", page(1..=3, false));
    b.on_msg(BrowserMsg::Searched {
        generation: b.generation,
        append: false,
        result: Err("like: file 7 has no similarity features yet (imported before them)".into()),
    });
    assert!(b.available(BrowseAction::Features));
    assert_eq!(b.on_action(BrowseAction::Features), vec![BrowserEffect::Features]);
    assert!(!b.available(BrowseAction::Features), "a second backfill while one runs");
    assert_eq!(
        b.why_not(BrowseAction::Features),
        "the similarity features are being computed"
    );
    assert!(b.on_action(BrowseAction::Features).is_empty());

    let mut r = BackfillReport {
        stale: 1200,
        computed: 500,
        ..BackfillReport::default()
    };
    b.on_msg(BrowserMsg::FeaturesProgress(r.clone()));
    assert_eq!(b.features.as_ref().map(|f| f.done()), Some(500));
    r.computed = 1200;
    b.on_msg(BrowserMsg::FeaturesProgress(r));
    let before = b.generation;
    let after = b.on_msg(BrowserMsg::FeaturesDone(Ok("1,200 files computed".into())));
    assert!(b.features.is_none() && b.available(BrowseAction::Features));
    assert_eq!(searches(&after), vec![(before + 1, None)], "the like: query runs again");
    // A late progress message after the end does not bring the line back.
    b.on_msg(BrowserMsg::FeaturesProgress(BackfillReport::default()));
    assert!(b.features.is_none());

    // A `like:` query is nearest first: the sort keys say so instead of re-running the same order.
    assert!(!b.available(BrowseAction::SortField) && !b.available(BrowseAction::SortDirection));
    assert!(b.why_not(BrowseAction::SortField).contains("nearest first"));

    // Another query is left as it is, and sorts.
    let mut b = answered("bpm:120", page(1..=3, false));
    assert!(b.available(BrowseAction::SortField) && b.available(BrowseAction::SortDirection));
    b.on_action(BrowseAction::Features);
    assert!(b.on_msg(BrowserMsg::FeaturesDone(Err("server gone".into()))).is_empty());
}
