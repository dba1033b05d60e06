//! Taking turns on the library: imports share the library-wide lock, a transition (profile apply, restore-safety,
//! rebuild-indexes) holds it alone; a transition never starts under a run (it is refused, saying which run and what
//! to do), and an import waits for a transition to finish.
//!
//! One process holds the lock through one session (`TurnSlot`); a transition called inside another (an import
//! applying its levels) reuses the hold. The holder that restarts the server takes the lock again at once.
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::turn_slot::{Transition, running};
pub use super::turn_slot::{Turn, TurnError, TurnSlot, refusal};
use crate::database::lock::{self, Holder, LockMode, LockSession};
use crate::database::{DbResult, transitions};
use crate::run::session::Engine;

/// How often a waiting import asks again.
const RETRY: Duration = Duration::from_millis(250);

impl Engine {
    /// A transition's turn: alone on the library, or refused at once with who holds it and what to do.
    pub async fn take_turn(&self, command: &str) -> Result<Turn, TurnError> {
        let mut slot = self.turns.session.lock().await;
        if let Some(s) = slot.as_ref() {
            return match s.held() {
                Some(LockMode::Exclusive) => Ok(self.turn()),
                _ => Err(TurnError::Busy(format!(
                    "{} is running in this process: {command} would restart the server or change the library's \
                     tables under it; wait until it ends",
                    s.what()
                ))),
            };
        }
        let what = format!("{command} (pid {})", std::process::id());
        let mut session = self
            .bounded(LockSession::open(&self.pool.connect_options(), &what))
            .await?;
        if self.bounded(session.try_take(LockMode::Exclusive)).await? {
            *slot = Some(session);
            return Ok(self.turn());
        }
        let holders = self.turn_holders().await.unwrap_or_default();
        session.release().await;
        Err(TurnError::Busy(refusal(command, &holders)))
    }

    /// An import's turn in `mode`: shared with other imports, or alone while it applies or restores a profile that
    /// restarts the server. Waits while others hold the lock in a conflicting mode (saying for whom through
    /// `waiting`), up to `patience` (None: until `cancelled` says stop).
    pub(crate) async fn hold_turn(
        &self,
        what: &str,
        mode: LockMode,
        patience: Option<Duration>,
        waiting: &(dyn Fn(String) + Send + Sync),
        cancelled: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Turn, TurnError> {
        let t0 = Instant::now();
        let mut said: Option<String> = None;
        loop {
            {
                let mut slot = self.turns.session.lock().await;
                if slot.is_none() {
                    let what = format!("{what} (pid {})", std::process::id());
                    *slot = Some(
                        self.bounded(LockSession::open(&self.pool.connect_options(), &what))
                            .await?,
                    );
                }
                let s = slot.as_mut().expect("opened above");
                if s.held() == Some(mode) || self.bounded(s.try_take(mode)).await? {
                    return Ok(self.turn());
                }
            }
            let holders = self.turn_holders().await.unwrap_or_default();
            let text = format!("waiting for {} to finish", running(&holders));
            if said.as_deref() != Some(text.as_str()) {
                waiting(text.clone());
                said = Some(text);
            }
            if cancelled() {
                return Err(TurnError::Busy("cancelled while waiting for the library".into()));
            }
            if patience.is_some_and(|p| t0.elapsed() > p) {
                return Err(TurnError::Busy(format!(
                    "{} still {} the library after {} s",
                    running(&holders),
                    if holders.iter().any(|h| h.exclusive) {
                        "changes"
                    } else {
                        "imports into"
                    },
                    t0.elapsed().as_secs()
                )));
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// After a server restart this process made: its lock session ended with the server; take the lock again.
    pub(crate) async fn retake_turn(&self) -> DbResult<()> {
        if let Some(s) = self.turns.session.lock().await.as_mut()
            && !s.reacquire().await?
        {
            tracing::warn!("another command took the library lock during the server restart");
        }
        Ok(())
    }

    /// Record that `command` starts (committed synchronously): a kill from now on leaves it named in `status`.
    pub(crate) async fn begin_transition(&self, command: &str) -> DbResult<Transition> {
        let id = transitions::begin(&self.pool, command).await?;
        self.turns
            .transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id);
        Ok(Transition(id))
    }

    /// The step the innermost transition is in now (best effort: a record that cannot be written stops nothing).
    pub(crate) async fn transition_step(&self, step: &str) {
        let id = self
            .turns
            .transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .copied();
        if let Some(id) = id
            && let Err(e) = transitions::step(&self.pool, id, step).await
        {
            tracing::warn!("transition {id}: step `{step}` not recorded: {e}");
        }
    }

    /// The transition ended; when it `completed`, its record and every earlier unfinished one of the commands it
    /// completes are finished, else it stays for `status` to name.
    pub(crate) async fn end_transition(&self, t: Transition, completed: bool, completes: &[&str]) {
        self.turns
            .transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id| *id != t.0);
        if completed && let Err(e) = self.bounded(transitions::finish(&self.pool, t.0, completes)).await {
            tracing::warn!("transition {} not recorded as finished: {e}", t.0);
        }
    }

    /// Who holds the library lock now (other sessions than this process's).
    pub async fn turn_holders(&self) -> DbResult<Vec<Holder>> {
        let mine = self.turns.depth.load(Ordering::SeqCst) > 0;
        let all = self.bounded(lock::holders(&self.pool)).await?;
        let own = if mine {
            // Our own lock session's server process, so that we are not listed as someone else.
            let slot = self.turns.session.try_lock().ok();
            slot.and_then(|s| s.as_ref().map(|s| s.what().to_string()))
        } else {
            None
        };
        Ok(all
            .into_iter()
            .filter(|h| own.as_deref().is_none_or(|o| !h.what.starts_with(o)))
            .collect())
    }

    fn turn(&self) -> Turn {
        self.turns.depth.fetch_add(1, Ordering::SeqCst);
        Turn {
            slot: self.turns.clone(),
        }
    }
}
