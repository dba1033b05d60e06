//! The interactive console: state, key map, rendering, event loop.
//!
//! `app` holds the state and the pure `update`; `keymap` the key table; `ui` draws; `event_loop` runs the one
//! `select!` loop; `tasks` spawns the database work; `history` and `bottleneck` are the time series and the
//! bottleneck choice; `system` samples the machine; `browser` is the library browser's state, `listen` its playback's.
pub mod app;
pub mod bench;
pub mod bottleneck;
pub mod browser;
pub mod event_loop;
pub mod history;
pub mod keymap;
#[cfg(test)]
pub(crate) mod keywalk_tests;
pub mod lineedit;
pub mod listen;
pub mod system;
pub mod tasks;
#[cfg(test)]
mod testkit;
pub mod ui;

use std::io::stdout;
use std::path::PathBuf;
use std::sync::Arc;

use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::engine::run::session::Engine;
use app::App;

/// Open the console on `engine` with `sources` preselected; returns when the user quits. The terminal is put
/// back on every exit, errors and panics included. `flags` are the global options to repeat in a command printed
/// for the user (`--data-dir ...`): leaving the database not SAFE prints one line saying what is relaxed and the
/// command that restores it. `soundfont` is `--soundfont`, for listening.
pub async fn run(
    engine: Engine,
    sources: Vec<PathBuf>,
    flags: String,
    soundfont: Option<PathBuf>,
) -> anyhow::Result<()> {
    let sources: Vec<PathBuf> = sources
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    let mut app = App::new(
        engine.target().describe(),
        engine.data_dir().display().to_string(),
        sources,
        find_sample_library(),
    );
    app.info(format!("database: {}", engine.target().describe()));
    app.listen.soundfont = soundfont;
    let _restore = TerminalGuard::enter()?;
    // No `terminal.clear()`: it asks the terminal for the cursor position, which not every terminal answers;
    // the alternate screen starts blank and the first draw paints every cell.
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    let check = engine.poll_copy(std::time::Duration::from_secs(2));
    let result = event_loop::run_loop(&mut terminal, engine, app).await;
    let _ = terminal.show_cursor();
    drop(terminal);
    drop(_restore);
    // Read again now: the last poll may predate a restore (or a level) the user just saw finish.
    let safety = tokio::time::timeout(std::time::Duration::from_secs(3), check.safety()).await;
    match safety {
        Ok(Ok(st)) => {
            if let Some(line) = quit_line(&st, &flags) {
                eprintln!("{line}");
            }
        }
        _ => eprintln!(
            "midi-tui: could not read the database's safety on the way out: `midi-tui{flags} status` tells it"
        ),
    }
    result
}

/// The one line printed on leaving a database that is not SAFE: what is relaxed and the command that restores it.
pub fn quit_line(st: &crate::engine::profile::SafetyState, flags: &str) -> Option<String> {
    if st.is_safe() && st.data_lost.is_none() {
        return None;
    }
    let badge = st.badge().label();
    let mut what: Vec<String> = st.unsafe_reasons.clone();
    what.extend(st.relaxed.iter().cloned());
    if let Some(lost) = &st.data_lost {
        what.insert(0, format!("data lost: {lost}"));
    }
    let rebuild = if st.levels_applied[1] {
        format!(", then `midi-tui{flags} rebuild-indexes`")
    } else {
        String::new()
    };
    Some(format!(
        "midi-tui: the database is left {badge} ({}): `midi-tui{flags} restore-safety` restores it{rebuild}",
        what.join("; ")
    ))
}

/// The sample library (see `Engine`'s `sample_library`).
pub fn find_sample_library() -> Option<PathBuf> {
    crate::engine::run::session::sample_library()
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, cursor::Show);
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Raw mode and the alternate screen while alive; restored on drop and by a panic hook. The hook restores the
/// terminal only for a panic of the console's own thread: a panic in a background task is logged (printing it
/// would scribble over the screen) and the console goes on.
struct TerminalGuard {
    previous: Arc<PanicHook>,
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<Self> {
        let previous: Arc<PanicHook> = Arc::new(std::panic::take_hook());
        let prev = previous.clone();
        let console_thread = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == console_thread {
                restore_terminal();
                prev(info);
            } else {
                tracing::error!("panic in a background thread: {info}");
            }
        }));
        let guard = Self { previous };
        enable_raw_mode()?;
        execute!(stdout(), EnterAlternateScreen)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        let previous = self.previous.clone();
        std::panic::set_hook(Box::new(move |info| previous(info)));
    }
}
