//! Key bindings as data: one table of (key, context, action, label) feeds the handler, the footer and the help.
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::browser::BrowseAction as B;
use super::lineedit::EditOp;
pub use super::lineedit::Move;
use super::listen::ListenAction as L;

/// A key as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Char(char),
    /// A letter with Ctrl held (`Ctrl('c')`).
    Ctrl(char),
    Enter,
    Esc,
    Up,
    Down,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    Tab,
}

impl Key {
    pub fn label(&self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Backspace => "Bksp".into(),
            Key::Delete => "Del".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Tab => "Tab".into(),
        }
    }
}

/// Ctrl-C: quits, or cancels what is open.
pub const CTRL_C: Key = Key::Ctrl('c');

/// Where a binding applies. Overlays (dialog, help, text input) take every key; `Global` applies on both screens;
/// `List` and `Text` are shared by every context with a list or a text field (see `chain`).
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
    /// The library's duplicates view: groups, largest first.
    Dupes,
    /// The export form over the library.
    Export,
    /// Moving in a list (results, modes, runs, the log).
    List,
    /// Editing a text field (a path, the query).
    Text,
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
            Ctx::Dupes => "Library: duplicates",
            Ctx::Export => "Library: export",
            Ctx::List => "In a list",
            Ctx::Text => "In a text field",
        }
    }
}

/// What a key does; `update` turns an action into state changes and effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ModeAuto,
    ModeNormal,
    ModeFast,
    ModeLudicrous,
    TypePath,
    AddSample,
    RemoveSource,
    Start,
    /// Start screen: Tab between the mode list and the unfinished runs.
    NextList,
    /// Resume the selected unfinished run (its sources, its mode).
    ResumeRun,
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
    /// The backup dialog before level 3: go on without a backup.
    NoBackup,
    Dismiss,
    InputSubmit,
    InputCancel,
    /// Complete the path before the caret (Tab).
    Complete,
    Move(Move),
    Edit(EditOp),
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

use Action::{Edit as E, Move as M};

/// Every binding of the console. Adding a key is adding a row here (and, for a new action, its arm in
/// `app::on_action` and `app::available`): the handler, the footer and the help all read this table.
#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    b(Key::Char('?'), Ctx::Global, Action::Help, "help", true),
    b(Key::Char('q'), Ctx::Global, Action::Quit, "quit", true),
    b(CTRL_C, Ctx::Global, Action::Quit, "quit", false),
    b(Key::Char('/'), Ctx::Global, Action::Browse(B::Open), "library", true),
    b(Key::Char('m'), Ctx::Start, Action::ModeAuto, "auto mode", false),
    b(Key::Char('n'), Ctx::Start, Action::ModeNormal, "normal mode", false),
    b(Key::Char('f'), Ctx::Start, Action::ModeFast, "fast mode", false),
    b(Key::Char('l'), Ctx::Start, Action::ModeLudicrous, "ludicrous mode", false),
    b(Key::Char('a'), Ctx::Start, Action::TypePath, "add path", true),
    b(Key::Char('e'), Ctx::Start, Action::AddSample, "sample library", true),
    b(Key::Char('x'), Ctx::Start, Action::RemoveSource, "remove last source", false),
    b(Key::Enter, Ctx::Start, Action::Start, "start", true),
    b(Key::Tab, Ctx::Start, Action::NextList, "modes/unfinished runs", false),
    b(Key::Char('u'), Ctx::Start, Action::ResumeRun, "resume run", true),
    b(Key::Char('R'), Ctx::Start, Action::RestoreAndRebuild, "restore + rebuild", true),
    b(Key::Char('r'), Ctx::Start, Action::Restore, "restore safety", true),
    b(Key::Char('i'), Ctx::Start, Action::Rebuild, "rebuild indexes", true),
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
    b(Key::Char('n'), Ctx::Dialog, Action::NoBackup, "no backup (level 3)", false),
    b(Key::Esc, Ctx::Dialog, Action::Dismiss, "cancel", true),
    b(CTRL_C, Ctx::Dialog, Action::Dismiss, "cancel", false),
    b(Key::Esc, Ctx::Help, Action::Dismiss, "close", true),
    b(Key::Char('?'), Ctx::Help, Action::Dismiss, "close", false),
    b(Key::Char('q'), Ctx::Help, Action::Dismiss, "close", false),
    b(Key::Enter, Ctx::Input, Action::InputSubmit, "add", true),
    b(Key::Tab, Ctx::Input, Action::Complete, "complete the path", true),
    b(Key::Esc, Ctx::Input, Action::InputCancel, "cancel", true),
    b(CTRL_C, Ctx::Input, Action::InputCancel, "cancel", false),
    b(Key::Enter, Ctx::BrowserQuery, Action::Browse(B::Submit), "to the results", true),
    b(Key::Down, Ctx::BrowserQuery, Action::Browse(B::Submit), "to the results", false),
    b(Key::Esc, Ctx::BrowserQuery, Action::Browse(B::Close), "close", true),
    b(CTRL_C, Ctx::BrowserQuery, Action::Browse(B::Close), "close", false),
    b(Key::Char(' '), Ctx::Browser, Action::Listen(L::PlayStop), "play/stop", true),
    b(Key::Char('/'), Ctx::Browser, Action::Browse(B::EditQuery), "query", true),
    b(Key::Char('s'), Ctx::Browser, Action::Browse(B::SortField), "sort", true),
    b(Key::Esc, Ctx::Browser, Action::Browse(B::Close), "close", true),
    b(Key::Char('S'), Ctx::Browser, Action::Browse(B::SortDirection), "reverse", false),
    b(Key::Char('d'), Ctx::Browser, Action::Browse(B::DupesOfFile), "its dupes", true),
    b(Key::Char('D'), Ctx::Browser, Action::Browse(B::DupesView), "all dupes", true),
    b(Key::Char('e'), Ctx::Browser, Action::Browse(B::Export), "export", true),
    b(Key::Char('L'), Ctx::Browser, Action::Browse(B::Like), "sounds like", false),
    b(Key::Char('F'), Ctx::Browser, Action::Browse(B::Features), "features for like:", false),
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
    b(Key::Char('t'), Ctx::Dupes, Action::Browse(B::DupesKind), "bytes/notes/transposed", true),
    b(Key::Tab, Ctx::Dupes, Action::Browse(B::Pane), "detail/roll", false),
    b(Key::Char('K'), Ctx::Dupes, Action::Browse(B::DetailUp), "detail: scroll up", false),
    b(Key::Char('J'), Ctx::Dupes, Action::Browse(B::DetailDown), "detail: scroll down", false),
    b(Key::Char('/'), Ctx::Dupes, Action::Browse(B::EditQuery), "query", false),
    b(Key::Esc, Ctx::Dupes, Action::Browse(B::DupesBack), "back to the results", true),
    b(Key::Char(' '), Ctx::Dupes, Action::Listen(L::PlayStop), "play/stop", true),
    b(Key::Char(','), Ctx::Dupes, Action::Listen(L::SeekBack), "playback: 5 s back", false),
    b(Key::Char('.'), Ctx::Dupes, Action::Listen(L::SeekForward), "playback: 5 s on", false),
    b(Key::Char('o'), Ctx::Dupes, Action::Listen(L::NextOutput), "output: synth / MIDI port", false),
    b(Key::Char('w'), Ctx::Dupes, Action::Listen(L::Render), "render to WAV", false),
    b(Key::Enter, Ctx::Export, Action::Browse(B::ExportRun), "export", true),
    b(Key::Up, Ctx::Export, Action::Browse(B::ExportField), "next field", false),
    b(Key::Down, Ctx::Export, Action::Browse(B::ExportField), "next field", true),
    b(Key::Tab, Ctx::Export, Action::Complete, "complete the path", true),
    b(Key::Ctrl('l'), Ctx::Export, Action::Browse(B::ExportAllLocations), "every location on/off", true),
    b(Key::Esc, Ctx::Export, Action::Browse(B::ExportCancel), "cancel", true),
    b(CTRL_C, Ctx::Export, Action::Browse(B::ExportCancel), "cancel", false),
    b(Key::Down, Ctx::List, M(Move::Down), "next", false),
    b(Key::Char('j'), Ctx::List, M(Move::Down), "next", false),
    b(Key::Up, Ctx::List, M(Move::Up), "previous", false),
    b(Key::Char('k'), Ctx::List, M(Move::Up), "previous", false),
    b(Key::PageDown, Ctx::List, M(Move::PageDown), "a page down", false),
    b(Key::PageUp, Ctx::List, M(Move::PageUp), "a page up", false),
    b(Key::Char('g'), Ctx::List, M(Move::Top), "first", false),
    b(Key::Home, Ctx::List, M(Move::Top), "first", false),
    b(Key::Char('G'), Ctx::List, M(Move::Bottom), "last", false),
    b(Key::End, Ctx::List, M(Move::Bottom), "last", false),
    b(Key::Left, Ctx::Text, E(EditOp::Left), "caret left", false),
    b(Key::Right, Ctx::Text, E(EditOp::Right), "caret right", false),
    b(Key::Home, Ctx::Text, E(EditOp::Start), "start of line", false),
    b(Key::Ctrl('a'), Ctx::Text, E(EditOp::Start), "start of line", false),
    b(Key::End, Ctx::Text, E(EditOp::End), "end of line", false),
    b(Key::Ctrl('e'), Ctx::Text, E(EditOp::End), "end of line", false),
    b(Key::Backspace, Ctx::Text, E(EditOp::Backspace), "delete left", false),
    b(Key::Delete, Ctx::Text, E(EditOp::Delete), "delete right", false),
    b(Key::Ctrl('d'), Ctx::Text, E(EditOp::Delete), "delete right", false),
    b(Key::Ctrl('u'), Ctx::Text, E(EditOp::KillStart), "delete to the start", false),
    b(Key::Ctrl('k'), Ctx::Text, E(EditOp::KillEnd), "delete to the end", false),
    b(Key::Ctrl('w'), Ctx::Text, E(EditOp::KillWord), "delete the word before", false),
    b(Key::Ctrl('b'), Ctx::Text, E(EditOp::WordLeft), "a word left", false),
    b(Key::Ctrl('f'), Ctx::Text, E(EditOp::WordRight), "a word right", false),
];

/// The table's key for a terminal event; `None` for releases and keys the table never names.
pub fn key_of(ev: &KeyEvent) -> Option<Key> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    match ev.code {
        KeyCode::Char(c) if ctrl && c.is_ascii_alphabetic() => Some(Key::Ctrl(c.to_ascii_lowercase())),
        KeyCode::Char(_) if ev.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => None,
        KeyCode::Char(c) => Some(Key::Char(c)),
        KeyCode::Enter => Some(Key::Enter),
        KeyCode::Esc => Some(Key::Esc),
        KeyCode::Up => Some(Key::Up),
        KeyCode::Down => Some(Key::Down),
        KeyCode::Backspace => Some(Key::Backspace),
        KeyCode::Delete => Some(Key::Delete),
        KeyCode::Left => Some(Key::Left),
        KeyCode::Right => Some(Key::Right),
        KeyCode::Home => Some(Key::Home),
        KeyCode::End => Some(Key::End),
        KeyCode::PageUp => Some(Key::PageUp),
        KeyCode::PageDown => Some(Key::PageDown),
        KeyCode::Tab => Some(Key::Tab),
        _ => None,
    }
}

/// The contexts searched for a key, most specific first.
pub fn chain(ctx: Ctx) -> &'static [Ctx] {
    match ctx {
        Ctx::Start => &[Ctx::Start, Ctx::List, Ctx::Global],
        Ctx::Run => &[Ctx::Run, Ctx::List, Ctx::Global],
        Ctx::Global => &[Ctx::Global],
        Ctx::Dialog => &[Ctx::Dialog],
        Ctx::Help => &[Ctx::Help],
        Ctx::Input => &[Ctx::Input, Ctx::Text],
        Ctx::Browser => &[Ctx::Browser, Ctx::List, Ctx::Global],
        Ctx::BrowserQuery => &[Ctx::BrowserQuery, Ctx::Text],
        Ctx::Dupes => &[Ctx::Dupes, Ctx::List, Ctx::Global],
        Ctx::Export => &[Ctx::Export, Ctx::Text],
        Ctx::List => &[Ctx::List],
        Ctx::Text => &[Ctx::Text],
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

/// The contexts the help lists over a screen: its own keys first (what `available` judges there), then the
/// overlays and fields it opens.
pub fn help_contexts(browsing: bool, start: bool) -> (Vec<Ctx>, Vec<Ctx>) {
    if browsing {
        (
            vec![Ctx::Browser, Ctx::List, Ctx::Global],
            vec![Ctx::BrowserQuery, Ctx::Text, Ctx::Dupes, Ctx::Export, Ctx::Help],
        )
    } else if start {
        (
            vec![Ctx::Start, Ctx::List, Ctx::Global],
            vec![Ctx::Input, Ctx::Text, Ctx::Dialog, Ctx::Help],
        )
    } else {
        (vec![Ctx::Run, Ctx::List, Ctx::Global], vec![Ctx::Dialog, Ctx::Help])
    }
}

/// Lines of one context's help section: its title and one line per action.
pub fn help_section_len(ctx: Ctx) -> usize {
    let mut actions: Vec<Action> = Vec::new();
    for b in bindings_of(ctx) {
        if !actions.contains(&b.action) {
            actions.push(b.action);
        }
    }
    1 + actions.len()
}

/// Lines of the whole help over a screen (the help draws exactly these): each section, the query fields over the
/// library (a title, a line each and a closing line) or the one-line note elsewhere, a blank line between.
pub fn help_line_count(browsing: bool, start: bool) -> usize {
    let (own, opened) = help_contexts(browsing, start);
    let sections = own.len() + opened.len() + 1;
    let extra = if browsing {
        crate::engine::database::query::FIELDS.len() + 2
    } else {
        1
    };
    own.iter().chain(&opened).map(|c| help_section_len(*c)).sum::<usize>() + extra + sections - 1
}

/// The key table as Markdown, one table per context, keys of one action merged: README's console section holds
/// exactly this (a test compares them).
pub fn markdown() -> String {
    let order = [
        Ctx::Global,
        Ctx::Start,
        Ctx::Run,
        Ctx::List,
        Ctx::Dialog,
        Ctx::Input,
        Ctx::Text,
        Ctx::BrowserQuery,
        Ctx::Browser,
        Ctx::Dupes,
        Ctx::Export,
        Ctx::Help,
    ];
    let mut out = String::new();
    for ctx in order {
        out.push_str(&format!("\n**{}**\n\n| keys | does |\n|---|---|\n", ctx.title()));
        let mut seen: Vec<Action> = Vec::new();
        for b in bindings_of(ctx) {
            if seen.contains(&b.action) {
                continue;
            }
            seen.push(b.action);
            let keys: Vec<String> = bindings_of(ctx)
                .filter(|o| o.action == b.action)
                .map(|o| format!("`{}`", o.key.label().replace('|', "\\|")))
                .collect();
            out.push_str(&format!("| {} | {} |\n", keys.join(" "), b.label));
        }
    }
    out
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
            Some(CTRL_C)
        );
        assert_eq!(
            key_of(&KeyEvent::new(KeyCode::Char('W'), KeyModifiers::CONTROL)),
            Some(Key::Ctrl('w'))
        );
        assert_eq!(key_of(&press(KeyCode::Home)), Some(Key::Home));
        assert_eq!(key_of(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::ALT)), None);
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
    fn the_readme_lists_every_key_of_the_table() {
        let readme = include_str!("../../README.md");
        let table = markdown();
        assert!(
            readme.contains(&table),
            "README.md's console keys differ from the key table; put this there:\n{table}"
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
