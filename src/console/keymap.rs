//! Key bindings as data: one table of (key, context, action, label) feeds the handler, the footer and the help.
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::browser::BrowseAction as B;
use super::listen::ListenAction as L;

/// A key as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Up,
    Down,
    Backspace,
    Left,
    Right,
    PageUp,
    PageDown,
    Tab,
    CtrlC,
}

impl Key {
    pub fn label(&self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Backspace => "Bksp".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Tab => "Tab".into(),
            Key::CtrlC => "Ctrl-C".into(),
        }
    }
}

/// Where a binding applies. Overlays (dialog, help, text input) take every key; `Global` applies on both screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ctx {
    Global,
    Start,
    Run,
    Dialog,
    Help,
    Input,
    /// The library browser, keys on the results.
    Browser,
    /// The library browser's query line: every key the table does not bind is typed.
    BrowserQuery,
}

impl Ctx {
    pub fn title(&self) -> &'static str {
        match self {
            Ctx::Global => "Everywhere",
            Ctx::Start => "Start screen",
            Ctx::Run => "Run screen",
            Ctx::Dialog => "Confirmation dialog",
            Ctx::Help => "Help",
            Ctx::Input => "Typing a path",
            Ctx::Browser => "Library: results",
            Ctx::BrowserQuery => "Library: query line",
        }
    }
}

/// What a key does; `update` turns an action into state changes and effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ModePrev,
    ModeNext,
    ModeAuto,
    ModeNormal,
    ModeFast,
    ModeLudicrous,
    TypePath,
    AddSample,
    RemoveSource,
    Start,
    PauseResume,
    Cancel,
    ToggleLevel(u8),
    Restore,
    Rebuild,
    RestoreAndRebuild,
    NewRun,
    Help,
    Quit,
    Confirm,
    Dismiss,
    InputSubmit,
    InputCancel,
    InputBackspace,
    Browse(B),
    Listen(L),
}

#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub key: Key,
    pub ctx: Ctx,
    pub action: Action,
    pub label: &'static str,
    /// Shown in the footer (the help lists every binding).
    pub footer: bool,
}

const fn b(key: Key, ctx: Ctx, action: Action, label: &'static str, footer: bool) -> Binding {
    Binding {
        key,
        ctx,
        action,
        label,
        footer,
    }
}

/// Every binding of the console.
#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    b(Key::Char('?'), Ctx::Global, Action::Help, "help", true),
    b(Key::Char('q'), Ctx::Global, Action::Quit, "quit", true),
    b(Key::CtrlC, Ctx::Global, Action::Quit, "quit", false),
    b(Key::Char('/'), Ctx::Global, Action::Browse(B::Open), "library", true),
    b(Key::Up, Ctx::Start, Action::ModePrev, "previous mode", false),
    b(Key::Down, Ctx::Start, Action::ModeNext, "next mode", false),
    b(Key::Char('m'), Ctx::Start, Action::ModeAuto, "auto mode", false),
    b(Key::Char('n'), Ctx::Start, Action::ModeNormal, "normal mode", false),
    b(Key::Char('f'), Ctx::Start, Action::ModeFast, "fast mode", false),
    b(Key::Char('l'), Ctx::Start, Action::ModeLudicrous, "ludicrous mode", false),
    b(Key::Char('a'), Ctx::Start, Action::TypePath, "add path", true),
    b(Key::Char('e'), Ctx::Start, Action::AddSample, "sample library", true),
    b(Key::Char('x'), Ctx::Start, Action::RemoveSource, "remove last source", false),
    b(Key::Enter, Ctx::Start, Action::Start, "start", true),
    b(Key::Char('s'), Ctx::Run, Action::Start, "start again", false),
    b(Key::Char('p'), Ctx::Run, Action::PauseResume, "pause/resume", true),
    b(Key::Char('c'), Ctx::Run, Action::Cancel, "cancel run", true),
    b(Key::Char('1'), Ctx::Run, Action::ToggleLevel(1), "level 1 on/off (basic)", false),
    b(Key::Char('2'), Ctx::Run, Action::ToggleLevel(2), "level 2 on/off (indexes)", false),
    b(Key::Char('3'), Ctx::Run, Action::ToggleLevel(3), "level 3 on/off (unsafe)", false),
    b(Key::Char('R'), Ctx::Run, Action::RestoreAndRebuild, "restore + rebuild", true),
    b(Key::Char('r'), Ctx::Run, Action::Restore, "restore safety", true),
    b(Key::Char('i'), Ctx::Run, Action::Rebuild, "rebuild indexes", true),
    b(Key::Char('n'), Ctx::Run, Action::NewRun, "new run", true),
    b(Key::Enter, Ctx::Dialog, Action::Confirm, "confirm", true),
    b(Key::Esc, Ctx::Dialog, Action::Dismiss, "cancel", true),
    b(Key::CtrlC, Ctx::Dialog, Action::Dismiss, "cancel", false),
    b(Key::Esc, Ctx::Help, Action::Dismiss, "close", true),
    b(Key::Char('?'), Ctx::Help, Action::Dismiss, "close", false),
    b(Key::Char('q'), Ctx::Help, Action::Dismiss, "close", false),
    b(Key::Enter, Ctx::Input, Action::InputSubmit, "add", true),
    b(Key::Esc, Ctx::Input, Action::InputCancel, "cancel", true),
    b(Key::CtrlC, Ctx::Input, Action::InputCancel, "cancel", false),
    b(Key::Backspace, Ctx::Input, Action::InputBackspace, "delete", false),
    b(Key::Enter, Ctx::BrowserQuery, Action::Browse(B::Submit), "to the results", true),
    b(Key::Down, Ctx::BrowserQuery, Action::Browse(B::Submit), "to the results", false),
    b(Key::Esc, Ctx::BrowserQuery, Action::Browse(B::Close), "close", true),
    b(Key::CtrlC, Ctx::BrowserQuery, Action::Browse(B::Close), "close", false),
    b(Key::Backspace, Ctx::BrowserQuery, Action::Browse(B::Backspace), "delete", false),
    b(Key::Up, Ctx::Browser, Action::Browse(B::Up), "previous file", false),
    b(Key::Down, Ctx::Browser, Action::Browse(B::Down), "next file", false),
    b(Key::PageUp, Ctx::Browser, Action::Browse(B::PageUp), "10 files up", false),
    b(Key::PageDown, Ctx::Browser, Action::Browse(B::PageDown), "10 files down", false),
    b(Key::Char(' '), Ctx::Browser, Action::Listen(L::PlayStop), "play/stop", true),
    b(Key::Char('/'), Ctx::Browser, Action::Browse(B::EditQuery), "query", true),
    b(Key::Char('s'), Ctx::Browser, Action::Browse(B::SortField), "sort", true),
    b(Key::Char('S'), Ctx::Browser, Action::Browse(B::SortDirection), "reverse", true),
    b(Key::Tab, Ctx::Browser, Action::Browse(B::Pane), "detail/roll", true),
    b(Key::Left, Ctx::Browser, Action::Browse(B::TimeLeft), "roll: earlier", false),
    b(Key::Right, Ctx::Browser, Action::Browse(B::TimeRight), "roll: later", false),
    b(Key::Char('+'), Ctx::Browser, Action::Browse(B::ZoomIn), "roll: zoom in", false),
    b(Key::Char('-'), Ctx::Browser, Action::Browse(B::ZoomOut), "roll: zoom out", false),
    b(Key::Char(']'), Ctx::Browser, Action::Browse(B::PitchUp), "roll: higher notes", false),
    b(Key::Char('['), Ctx::Browser, Action::Browse(B::PitchDown), "roll: lower notes", false),
    b(Key::Char('K'), Ctx::Browser, Action::Browse(B::DetailUp), "detail: scroll up", false),
    b(Key::Char('J'), Ctx::Browser, Action::Browse(B::DetailDown), "detail: scroll down", false),
    b(Key::Char(','), Ctx::Browser, Action::Listen(L::SeekBack), "playback: 5 s back", false),
    b(Key::Char('.'), Ctx::Browser, Action::Listen(L::SeekForward), "playback: 5 s on", false),
    b(Key::Char('o'), Ctx::Browser, Action::Listen(L::NextOutput), "output: synth / MIDI port", false),
    b(Key::Char('w'), Ctx::Browser, Action::Listen(L::Render), "render to WAV", false),
    b(Key::Esc, Ctx::Browser, Action::Browse(B::Close), "close", true),
];

/// The table's key for a terminal event; `None` for releases and keys the table never names.
pub fn key_of(ev: &KeyEvent) -> Option<Key> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    match ev.code {
        KeyCode::Char('c') if ev.modifiers.contains(KeyModifiers::CONTROL) => Some(Key::CtrlC),
        KeyCode::Char(_) if ev.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => None,
        KeyCode::Char(c) => Some(Key::Char(c)),
        KeyCode::Enter => Some(Key::Enter),
        KeyCode::Esc => Some(Key::Esc),
        KeyCode::Up => Some(Key::Up),
        KeyCode::Down => Some(Key::Down),
        KeyCode::Backspace => Some(Key::Backspace),
        KeyCode::Left => Some(Key::Left),
        KeyCode::Right => Some(Key::Right),
        KeyCode::PageUp => Some(Key::PageUp),
        KeyCode::PageDown => Some(Key::PageDown),
        KeyCode::Tab => Some(Key::Tab),
        _ => None,
    }
}

/// The contexts searched for a key, most specific first.
fn chain(ctx: Ctx) -> &'static [Ctx] {
    match ctx {
        Ctx::Start => &[Ctx::Start, Ctx::Global],
        Ctx::Run => &[Ctx::Run, Ctx::Global],
        Ctx::Global => &[Ctx::Global],
        Ctx::Dialog => &[Ctx::Dialog],
        Ctx::Help => &[Ctx::Help],
        Ctx::Input => &[Ctx::Input],
        Ctx::Browser => &[Ctx::Browser, Ctx::Global],
        Ctx::BrowserQuery => &[Ctx::BrowserQuery],
    }
}

/// The action bound to `key` in `ctx`.
pub fn lookup(ctx: Ctx, key: Key) -> Option<Action> {
    chain(ctx).iter().find_map(|c| {
        BINDINGS
            .iter()
            .find(|bd| bd.ctx == *c && bd.key == key)
            .map(|bd| bd.action)
    })
}

/// The footer's bindings for `ctx`, one per action, in table order.
pub fn footer(ctx: Ctx) -> Vec<&'static Binding> {
    let mut out: Vec<&'static Binding> = Vec::new();
    for c in chain(ctx) {
        for bd in BINDINGS.iter().filter(|bd| bd.ctx == *c && bd.footer) {
            // A key the screen binds itself hides the global binding of the same key.
            if !out.iter().any(|o| o.action == bd.action || o.key == bd.key) {
                out.push(bd);
            }
        }
    }
    out
}

/// The label of the first key bound to `action` in `ctx`, for hints drawn outside the footer ("?" if none).
pub fn key_label(ctx: Ctx, action: Action) -> String {
    BINDINGS
        .iter()
        .find(|bd| bd.ctx == ctx && bd.action == action)
        .map_or_else(|| "?".into(), |bd| bd.key.label())
}

/// Every binding of `ctx`, for the help screen.
pub fn bindings_of(ctx: Ctx) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |bd| bd.ctx == ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn terminal_keys_map_to_table_keys() {
        assert_eq!(key_of(&press(KeyCode::Char('q'))), Some(Key::Char('q')));
        assert_eq!(key_of(&press(KeyCode::Enter)), Some(Key::Enter));
        assert_eq!(
            key_of(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Key::CtrlC)
        );
        assert_eq!(key_of(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL)), None);
        assert_eq!(key_of(&press(KeyCode::F(1))), None);
        let mut release = press(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(key_of(&release), None);
    }

    #[test]
    fn screen_keys_fall_back_to_global() {
        assert_eq!(lookup(Ctx::Run, Key::Char('q')), Some(Action::Quit));
        assert_eq!(lookup(Ctx::Start, Key::Char('?')), Some(Action::Help));
        assert_eq!(lookup(Ctx::Run, Key::Char('p')), Some(Action::PauseResume));
        assert_eq!(lookup(Ctx::Run, Key::Char('3')), Some(Action::ToggleLevel(3)));
        assert_eq!(lookup(Ctx::Run, Key::Char('R')), Some(Action::RestoreAndRebuild));
        assert_eq!(lookup(Ctx::Start, Key::Char('l')), Some(Action::ModeLudicrous));
        assert_eq!(lookup(Ctx::Start, Key::Enter), Some(Action::Start));
        assert_eq!(lookup(Ctx::Start, Key::Char('p')), None);
    }

    #[test]
    fn overlays_take_every_key() {
        assert_eq!(
            lookup(Ctx::Dialog, Key::Char('q')),
            None,
            "a dialog never quits behind the user's back"
        );
        assert_eq!(lookup(Ctx::Dialog, Key::Enter), Some(Action::Confirm));
        assert_eq!(lookup(Ctx::Dialog, Key::Esc), Some(Action::Dismiss));
        assert_eq!(lookup(Ctx::Input, Key::Char('q')), None, "q is typed into the path");
        assert_eq!(lookup(Ctx::Help, Key::Char('q')), Some(Action::Dismiss));
        assert_eq!(
            lookup(Ctx::BrowserQuery, Key::Char('q')),
            None,
            "q is typed into the query"
        );
        assert_eq!(
            lookup(Ctx::BrowserQuery, Key::Char('/')),
            None,
            "/ is typed into the query"
        );
    }

    #[test]
    fn the_library_opens_from_every_screen_and_its_keys_fall_back_to_global() {
        for ctx in [Ctx::Start, Ctx::Run] {
            assert_eq!(lookup(ctx, Key::Char('/')), Some(Action::Browse(B::Open)), "{ctx:?}");
            assert!(footer(ctx).iter().any(|b| b.label == "library"), "{ctx:?}");
        }
        assert_eq!(lookup(Ctx::Browser, Key::Char('/')), Some(Action::Browse(B::EditQuery)));
        assert_eq!(lookup(Ctx::Browser, Key::Char('q')), Some(Action::Quit));
        assert_eq!(lookup(Ctx::Browser, Key::Char('s')), Some(Action::Browse(B::SortField)));
        assert_eq!(lookup(Ctx::Browser, Key::Left), Some(Action::Browse(B::TimeLeft)));
        assert_eq!(lookup(Ctx::BrowserQuery, Key::Enter), Some(Action::Browse(B::Submit)));
        assert_eq!(
            lookup(Ctx::Dialog, Key::Char('/')),
            None,
            "a dialog never opens the library"
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for bd in &BINDINGS[i + 1..] {
                assert!(
                    !(a.ctx == bd.ctx && a.key == bd.key),
                    "{:?} bound twice in {:?}",
                    a.key,
                    a.ctx
                );
            }
        }
    }

    #[test]
    fn footer_lists_screen_keys_then_global_ones() {
        let labels: Vec<&str> = footer(Ctx::Run).iter().map(|b| b.label).collect();
        assert!(labels.contains(&"pause/resume"));
        assert!(labels.contains(&"quit"));
        assert!(!labels.contains(&"add path"));
        assert_eq!(footer(Ctx::Dialog).len(), 2);
        let browsing: Vec<&str> = footer(Ctx::Browser).iter().map(|b| b.label).collect();
        assert!(
            browsing.contains(&"query") && !browsing.contains(&"library"),
            "{browsing:?}"
        );
    }
}
