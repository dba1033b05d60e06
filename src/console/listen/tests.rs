//! Listening's pure logic through `update`: the probe, the output, auditioning a list, seeking, the end of a file,
//! and saying why nothing plays.
use std::path::PathBuf;

use super::*;
use crate::console::app::{App, Effect, Msg, update};
use crate::console::browser::{BrowserMsg, Timer};
use crate::console::keymap::Key;
use crate::console::testkit::{self, detail};
use crate::engine::listen::{FontOrigin, FoundFont};

fn probe(font: bool) -> Probe {
    Probe {
        font: if font {
            Ok(FoundFont {
                path: PathBuf::from("/usr/share/sounds/sf2/TimGM6mb.sf2"),
                origin: FontOrigin::System,
            })
        } else {
            Err("no SoundFont found (looked in /usr/share/sounds/sf2)".into())
        },
        ports: Err("no MIDI ports: this machine has no ALSA sequencer (/dev/snd/seq)".into()),
    }
}

fn listen(effects: &[Effect]) -> Vec<&ListenEffect> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Listen(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn press(a: &mut App, key: Key) -> Vec<Effect> {
    update(a, Msg::Key(key))
}

fn play_selection(effects: &[Effect]) -> Option<(u64, String, f64)> {
    listen(effects).into_iter().find_map(|e| match e {
        ListenEffect::Play {
            selection,
            content_hash,
            from,
            ..
        } => Some((*selection, content_hash.clone(), *from)),
        _ => None,
    })
}

/// The browser on three files, the first one playing as request 7 (13.9 s long).
fn playing() -> App {
    let mut a = testkit::browsing(testkit::app(), "", 3, false);
    let e = press(&mut a, Key::Char(' '));
    assert_eq!(
        listen(&e),
        vec![&ListenEffect::Probe(None)],
        "Space looks for the outputs first"
    );
    let e = update(&mut a, Msg::Listen(ListenMsg::Probed(probe(true))));
    assert!(
        matches!(listen(&e)[..], [ListenEffect::Open(OutputChoice::Synth, _)]),
        "then opens the synthesizer: {e:?}"
    );
    assert_eq!(a.listen.output, OutputState::Opening);
    let e = update(
        &mut a,
        Msg::Listen(ListenMsg::Opened(
            Ok("synth TimGM6mb.sf2 → Default Audio Device".into()),
        )),
    );
    let (selection, hash, from) = play_selection(&e).expect("then plays the selected file");
    assert_eq!(
        (selection, hash, from),
        (a.browser.selection, detail(1).content_hash, 0.0)
    );
    assert!(!a.listen.wants_ticks(), "no playhead to read before the file started");
    update(
        &mut a,
        Msg::Listen(ListenMsg::Started {
            selection,
            result: Ok((7, 13.9)),
        }),
    );
    assert!(a.listen.wants_ticks());
    a
}

fn tick(a: &mut App, id: u64, seconds: f64, ended: bool) -> Vec<Effect> {
    update(
        a,
        Msg::Listen(ListenMsg::Tick(Some(Playhead {
            id,
            seconds,
            duration: 13.9,
            ended,
        }))),
    )
}

#[test]
fn space_plays_the_selected_file_and_the_playhead_is_the_players() {
    let mut a = playing();
    tick(&mut a, 7, 3.25, false);
    assert_eq!(a.listen.playhead_of(a.browser.selection), Some(3.25));
    // A playhead of another request (an older file's last tick) is not this file's.
    tick(&mut a, 6, 9.0, false);
    assert_eq!(a.listen.playhead_of(a.browser.selection), None);
    let e = press(&mut a, Key::Char(' '));
    assert_eq!(listen(&e), vec![&ListenEffect::Stop], "Space again stops");
    assert!(!a.listen.wants_ticks() && a.listen.playing.is_none());
}

#[test]
fn moving_while_playing_stops_at_once_and_plays_the_next_file_once_read() {
    let mut a = playing();
    let first = a.browser.selection;
    let e = press(&mut a, Key::Down);
    assert_eq!(listen(&e), vec![&ListenEffect::Stop], "the old file stops at the key");
    assert!(
        play_selection(&e).is_none(),
        "nothing plays before the new file is read"
    );
    // Held ↓: the selection moves on before anything is read.
    let e = press(&mut a, Key::Down);
    assert!(listen(&e).is_empty(), "one stop is enough: {e:?}");
    let s = a.browser.selection;
    assert_ne!(s, first);
    update(&mut a, Msg::Browser(BrowserMsg::Timer(Timer::Select(s))));
    let e = update(
        &mut a,
        Msg::Browser(BrowserMsg::Detail {
            selection: s,
            result: Ok(Some(Box::new(detail(3)))),
        }),
    );
    let (selection, hash, _) = play_selection(&e).expect("the new file plays once its detail is read");
    assert_eq!((selection, hash), (s, detail(3).content_hash));
    // The old file's start, arriving late, changes nothing.
    update(
        &mut a,
        Msg::Listen(ListenMsg::Started {
            selection: first,
            result: Ok((7, 13.9)),
        }),
    );
    assert_eq!(a.listen.playing.as_ref().unwrap().selection, s);
    assert_eq!(a.listen.playing.as_ref().unwrap().started, None);
}

#[test]
fn seeking_moves_five_seconds_within_the_file_and_a_file_that_ends_stops() {
    let mut a = playing();
    tick(&mut a, 7, 3.0, false);
    let e = press(&mut a, Key::Char('.'));
    assert_eq!(play_selection(&e).map(|p| p.2), Some(8.0));
    let sel = a.browser.selection;
    update(
        &mut a,
        Msg::Listen(ListenMsg::Started {
            selection: sel,
            result: Ok((8, 13.9)),
        }),
    );
    tick(&mut a, 8, 12.0, false);
    let e = press(&mut a, Key::Char('.'));
    assert_eq!(play_selection(&e).map(|p| p.2), Some(13.9), "not past the end");
    update(
        &mut a,
        Msg::Listen(ListenMsg::Started {
            selection: sel,
            result: Ok((9, 13.9)),
        }),
    );
    tick(&mut a, 9, 1.0, false);
    let e = press(&mut a, Key::Char(','));
    assert_eq!(play_selection(&e).map(|p| p.2), Some(0.0), "not before the start");
    update(
        &mut a,
        Msg::Listen(ListenMsg::Started {
            selection: sel,
            result: Ok((10, 13.9)),
        }),
    );
    let e = tick(&mut a, 10, 13.9, true);
    assert_eq!(listen(&e), vec![&ListenEffect::Stop]);
    assert!(!a.listen.auditioning, "the end of a file ends the audition");
}

#[test]
fn the_roll_follows_the_playhead() {
    let mut a = playing();
    a.browser.view.zoom = 2; // a quarter of the 16 s file: 4 s
    a.browser.view.start = 0.0;
    tick(&mut a, 7, 2.0, false);
    assert_eq!(a.browser.view.start, 0.0, "in view: the window stays");
    tick(&mut a, 7, 5.0, false);
    assert!(
        a.browser.view.start <= 5.0 && a.browser.view.start + 4.0 > 5.0,
        "{:?}",
        a.browser.view
    );
}

#[test]
fn without_a_soundfont_one_line_says_so_and_offers_the_port_and_render() {
    let mut a = testkit::browsing(testkit::app(), "", 3, false);
    press(&mut a, Key::Char(' '));
    let e = update(&mut a, Msg::Listen(ListenMsg::Probed(probe(false))));
    let msg = a.listen.message.clone().unwrap_or_default();
    assert!(msg.contains("no SoundFont") && msg.contains("w: render"), "{msg}");
    // No sequencer here, so no MIDI port is offered: the line names only what works.
    assert!(!msg.contains("o:"), "{msg}");
    // The synthesizer is still tried, and its failure ends the audition with the reason.
    assert!(matches!(listen(&e)[..], [ListenEffect::Open(OutputChoice::Synth, _)]));
    let e = update(
        &mut a,
        Msg::Listen(ListenMsg::Opened(Err("no audio device on this machine".into()))),
    );
    assert!(listen(&e).is_empty());
    assert!(!a.listen.auditioning);
    assert!(matches!(a.listen.output, OutputState::Failed(_)));
    assert!(
        a.listen
            .message
            .as_deref()
            .unwrap()
            .starts_with("no audio device on this machine")
    );
    // `o` has no other output to move to (no sequencer): it says why and changes nothing.
    let e = press(&mut a, Key::Char('o'));
    assert!(listen(&e).is_empty(), "{e:?}");
    assert!(matches!(a.listen.output, OutputState::Failed(_)));
    let notice = a.notice.clone().unwrap_or_default();
    assert!(notice.contains("no other output"), "{notice}");
    // `w` renders with what the probe found (the render says why it cannot).
    let e = press(&mut a, Key::Char('w'));
    assert!(
        matches!(listen(&e)[..], [ListenEffect::Render { font: Err(_), .. }]),
        "{e:?}"
    );
    assert_eq!(a.listen.rendering.as_deref(), Some(testkit::hit(1).filename.as_str()));
}

#[test]
fn the_output_choices_are_the_synth_each_port_and_one_of_our_own() {
    let p = Probe {
        ports: Ok(vec!["FLUID Synth:0".into(), "Midi Through:0".into()]),
        ..probe(true)
    };
    let c = p.choices();
    assert_eq!(c.len(), if cfg!(unix) { 4 } else { 3 });
    assert_eq!(c[0], OutputChoice::Synth);
    assert_eq!(
        c[1],
        OutputChoice::Port(crate::listen::PortChoice::Named("FLUID Synth:0".into()))
    );
    let mut a = testkit::browsing(testkit::app(), "", 3, false);
    update(&mut a, Msg::Listen(ListenMsg::Probed(p)));
    press(&mut a, Key::Char('o'));
    assert_eq!(a.listen.output_label(), "MIDI port FLUID Synth:0");
    for _ in 1..c.len() {
        press(&mut a, Key::Char('o'));
    }
    assert_eq!(
        a.listen.choice(),
        OutputChoice::Synth,
        "o cycles back to the synthesizer"
    );
}

#[test]
fn closing_the_library_stops_playback() {
    let mut a = playing();
    let e = press(&mut a, Key::Esc);
    assert!(listen(&e).contains(&&ListenEffect::Stop));
    assert!(!a.listen.auditioning);
}
