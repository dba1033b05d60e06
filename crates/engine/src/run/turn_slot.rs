//! This process's hold on the library lock (`TurnSlot`), a turn on it (`Turn`, let go on drop), and the holders
//! in words. Taking turns is `turns.rs`.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::database::lock::{Holder, LockSession};

/// This process's hold on the lock: its session and how many turns use it.
#[derive(Debug, Default)]
pub struct TurnSlot {
    pub(super) session: tokio::sync::Mutex<Option<LockSession>>,
    pub(super) depth: AtomicUsize,
    /// The transitions under way in this process (innermost last): their record takes the steps.
    pub(super) transitions: std::sync::Mutex<Vec<i64>>,
}

/// A recorded transition of this process (see `database/transitions.rs`).
#[derive(Debug)]
pub(crate) struct Transition(pub(super) i64);

/// A turn on the library; let go when the last turn of the process is dropped.
#[derive(Debug)]
pub struct Turn {
    pub(super) slot: Arc<TurnSlot>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.slot.depth.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        let slot = self.slot.clone();
        // Closing the session lets go as well (a process that ends releases it that way).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut s = slot.session.lock().await;
                if slot.depth.load(Ordering::SeqCst) == 0
                    && let Some(session) = s.take()
                {
                    session.release().await;
                }
            });
        }
    }
}

pub use crate::database::lock::TurnError;

/// "import run 12 (ludicrous, pid 4567) is running on this library": the holders in words.
pub(super) fn running(holders: &[Holder]) -> String {
    let names: Vec<String> = holders.iter().map(Holder::describe).collect();
    match names.len() {
        0 => "another command (it let go a moment ago: try again)".into(),
        1 => names[0].clone(),
        _ => names.join(", "),
    }
}

/// Why `command` may not start now, and what to do.
pub fn refusal(command: &str, holders: &[Holder]) -> String {
    let imports = holders.iter().any(|h| !h.exclusive);
    let who = running(holders);
    if imports {
        format!(
            "{who} {} running on this library: {command} would restart the server or change the library's tables \
             under it. Wait until it ends (an import in fast or ludicrous mode restores safety itself unless it was \
             given --keep-profile), or stop it (Ctrl-C where it runs) and run `midi-tui {command}` again",
            if holders.len() > 1 { "are" } else { "is" }
        )
    } else {
        format!("{who} is changing this library's profile: wait until it ends, then run `midi-tui {command}` again")
    }
}
