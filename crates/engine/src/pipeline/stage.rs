//! What every stage of a pass shares (`Stage`): the options, counters, controls, events and run log, the byte
//! budget between readers and workers, and the contents seen so far.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::{Control, EngineEvent, ImportOptions, RunLog};
use crate::kinds::ErrorKind;
use crate::metrics::RunMetrics;
use crate::source;

/// What every stage shares: the options, counters, controls, events and run log, the byte budget between
/// readers and workers, and the contents seen so far.
pub(super) struct Stage {
    pub opts: ImportOptions,
    pub metrics: Arc<RunMetrics>,
    pub control: Arc<Control>,
    pub events: Sender<EngineEvent>,
    pub log: RunLog,
    pub budget: ByteBudget,
    pub dedup: Dedup,
    /// The sources as locations (absolute), which a location's collection is found below; a repair adds the
    /// sources of the runs it reads again.
    pub roots: Vec<String>,
}

impl Stage {
    pub fn new(
        opts: ImportOptions,
        metrics: Arc<RunMetrics>,
        control: Arc<Control>,
        events: Sender<EngineEvent>,
        log: RunLog,
    ) -> Self {
        let budget = ByteBudget {
            used: Mutex::new(0),
            freed: Condvar::new(),
            max: opts.max_inflight_bytes,
        };
        let roots = opts.sources.iter().map(|p| source::encode_os_path(p)).collect();
        Self {
            opts,
            metrics,
            control,
            events,
            log,
            budget,
            dedup: Dedup::default(),
            roots,
        }
    }
}

/// Bounds the bytes of file contents between readers and workers.
pub(super) struct ByteBudget {
    used: Mutex<u64>,
    freed: Condvar,
    max: u64,
}

impl ByteBudget {
    pub fn acquire(&self, n: u64, control: &Control) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        // One item larger than the whole budget still passes when nothing else is in flight.
        while *used > 0 && *used + n > self.max && !control.is_cancelled() {
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *used += n;
    }
    pub fn release(&self, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(n);
        self.freed.notify_all();
    }
}

/// Contents seen in this run: 128 bits of the BLAKE3 hash are plenty to tell millions of files apart, at half
/// the memory. Contents that failed to parse remember why, for their duplicates.
#[derive(Default)]
pub(super) struct Dedup {
    pub seen: Mutex<HashSet<u128>>,
    pub failed: Mutex<HashMap<u128, (ErrorKind, String)>>,
}

impl Dedup {
    /// Why this content failed to parse, when it did.
    pub fn failure(&self, hash: &[u8; 32]) -> Option<(ErrorKind, String)> {
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.get(&key(hash)).cloned()
    }
}

/// The 128 bits of a content hash that [`Dedup`] keeps.
pub(super) fn key(hash: &[u8; 32]) -> u128 {
    let mut k = [0u8; 16];
    k.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(k)
}
