//! The writer stage: records into batches, one transaction each through a `BatchSink`, until every producer is
//! done; locations whose content is not committed yet wait for a later batch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, unbounded};

use super::sink::{BatchRows, BatchSink};
use super::stage::Stage;
use super::{EngineEvent, ImportError, Limit};
use crate::kinds::ErrorKind;
use crate::metrics::Phase;
use crate::record::{ArchiveTracker, ContentRecord, ErrorRecord, LocationRecord, Record};

/// How long the writer may sit idle before it checks that its server is still there.
const IDLE_CHECK: Duration = Duration::from_secs(2);
/// A batch not full after this long is written anyway, so that progress shows.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Running counts go to the run's row this often.
const COUNTS_EVERY: Duration = Duration::from_secs(5);
/// Errors beyond these go to the run log only, not to the front end.
const ERROR_EVENTS: u64 = 1000;

/// How the writer stage ended.
pub(super) struct Written {
    pub result: Result<(), ImportError>,
    pub errors_by_kind: HashMap<String, u64>,
    pub seconds: Option<f64>,
}

/// The writer stage, on the calling thread. On failure it stops the producers and drains what they still send,
/// so that none blocks on a full queue.
pub(super) fn run(stage: &Stage, sink: &mut dyn BatchSink, records: Receiver<Record>) -> Written {
    let records = if stage.opts.limit == Limit::WriteOnly {
        // Hold every record first, so that what follows times the write phase alone.
        let (all_tx, all_rx) = unbounded();
        for r in records.iter() {
            let _ = all_tx.send(r);
        }
        all_rx
    } else {
        records
    };
    let started = Instant::now();
    let mut writer = Writer {
        stage,
        sink,
        batch: Batch::default(),
        pending_archives: Vec::new(),
        errors_sent: 0,
        errors_by_kind: HashMap::new(),
    };
    let result = writer.run(&records);
    let seconds = (stage.opts.limit == Limit::WriteOnly).then(|| started.elapsed().as_secs_f64());
    if result.is_err() {
        stage.control.cancel();
        for _ in records.iter() {}
    }
    Written {
        result,
        errors_by_kind: writer.errors_by_kind,
        seconds,
    }
}

struct Writer<'a> {
    stage: &'a Stage,
    sink: &'a mut dyn BatchSink,
    batch: Batch,
    pending_archives: Vec<Arc<ArchiveTracker>>,
    errors_sent: u64,
    errors_by_kind: HashMap<String, u64>,
}

impl Writer<'_> {
    fn run(&mut self, records: &Receiver<Record>) -> Result<(), ImportError> {
        self.sink.open()?;
        let m = &*self.stage.metrics;
        let mut last_flush = Instant::now();
        let mut last_counts = Instant::now();
        loop {
            let rec = records.recv_timeout(Duration::from_millis(100));
            let closed = matches!(rec, Err(RecvTimeoutError::Disconnected));
            if let Ok(rec) = rec {
                self.take(rec);
                m.phase(Phase::Write).queued.store(records.len(), Relaxed);
            }
            let batch = &self.batch;
            let due = batch.len() >= self.stage.opts.batch_rows
                || (!batch.is_empty() && last_flush.elapsed() >= FLUSH_EVERY)
                || (closed && (!batch.is_empty() || !batch.deferred.is_empty()));
            if due {
                let t = Instant::now();
                self.flush(closed)?;
                m.phase(Phase::Write).add(0, 0, t.elapsed());
                last_flush = Instant::now();
            }
            if last_flush.elapsed() >= IDLE_CHECK {
                // An idle writer would notice a dead server only at its next batch, maybe minutes away: ask now.
                self.sink.ping()?;
                last_flush = Instant::now();
            }
            if last_counts.elapsed() >= COUNTS_EVERY {
                self.sink.progress(&m.totals.counts());
                last_counts = Instant::now();
            }
            if closed {
                break;
            }
        }
        self.settle_deferred();
        if !self.batch.is_empty() || !self.pending_archives.is_empty() {
            self.flush(true)?;
        }
        self.sink.close();
        Ok(())
    }

    /// One record into the batch; errors are counted, logged and reported as they come.
    fn take(&mut self, rec: Record) {
        let batch = &mut self.batch;
        match rec {
            Record::Content(c, l) => {
                batch.contents.push(*c);
                batch.locations.push(l);
            }
            Record::Location(l) => batch.locations.push(l),
            Record::Error(e) => {
                *self.errors_by_kind.entry(e.kind.code().to_string()).or_default() += 1;
                self.stage
                    .log
                    .line(&format!("error {}: {}: {}", e.kind, e.location, e.message));
                if self.errors_sent < ERROR_EVENTS {
                    self.errors_sent += 1;
                    let _ = self.stage.events.send(EngineEvent::Error {
                        location: e.location.clone(),
                        kind: e.kind,
                        message: e.message.clone(),
                    });
                }
                batch.errors.push(e);
            }
            Record::ArchiveRead(t) => self.pending_archives.push(t),
        }
    }

    /// Locations still without a content at the end: their first copy failed to parse (it has the error), or
    /// vanished. They become errors.
    fn settle_deferred(&mut self) {
        for l in self.batch.deferred.drain(..) {
            let (kind, message) = self
                .stage
                .dedup
                .failure(&l.hash)
                .unwrap_or_else(|| (ErrorKind::Internal, "content row missing after the run".into()));
            *self.errors_by_kind.entry(kind.code().to_string()).or_default() += 1;
            self.batch.errors.push(ErrorRecord {
                location: l.location,
                kind,
                message,
                size: Some(l.size),
                mtime: Some(l.mtime),
                archive: l.archive,
            });
        }
    }

    /// Write the batch (with the deferred locations again: their content may have been written since).
    fn flush(&mut self, last: bool) -> Result<(), ImportError> {
        let batch = &mut self.batch;
        let mut locations = std::mem::take(&mut batch.locations);
        locations.append(&mut batch.deferred);
        let contents = std::mem::take(&mut batch.contents);
        let errors = std::mem::take(&mut batch.errors);
        let ready = ready_archives(&mut self.pending_archives, last);
        let outcome = self.sink.write(&BatchRows {
            contents: &contents,
            locations: &locations,
            errors: &errors,
            complete_archives: &ready,
        })?;
        let orphans: HashSet<&str> = outcome.orphans.iter().map(String::as_str).collect();
        let mut written = 0u64;
        for l in locations {
            if orphans.contains(l.location.as_str()) {
                batch.deferred.push(l);
            } else {
                written += 1;
                if let Some(t) = &l.archive {
                    t.committed.fetch_add(1, Relaxed);
                }
            }
        }
        for e in &errors {
            if let Some(t) = &e.archive {
                t.committed.fetch_add(1, Relaxed);
            }
        }
        let m = &self.stage.metrics;
        m.totals.wrote(outcome.new_files, written, errors.len() as u64);
        m.phase(Phase::Write)
            .items
            .fetch_add(written + errors.len() as u64, Relaxed);
        if last {
            self.pending_archives.clear();
        }
        Ok(())
    }
}

#[derive(Default)]
struct Batch {
    contents: Vec<ContentRecord>,
    locations: Vec<LocationRecord>,
    errors: Vec<ErrorRecord>,
    /// Locations whose content row was not committed yet when their batch was written.
    deferred: Vec<LocationRecord>,
}

impl Batch {
    fn len(&self) -> usize {
        self.locations.len() + self.errors.len()
    }
    fn is_empty(&self) -> bool {
        self.locations.is_empty() && self.errors.is_empty()
    }
}

/// Archives to record as complete with this batch: those whose every member is committed, or on the last batch
/// every archive read to the end (all its members are in this batch or earlier ones).
fn ready_archives(pending: &mut Vec<Arc<ArchiveTracker>>, last: bool) -> Vec<Arc<ArchiveTracker>> {
    let mut ready = Vec::new();
    pending.retain(|t| {
        let done = if last {
            t.read_complete.load(Relaxed)
        } else {
            t.is_complete()
        };
        if done {
            ready.push(t.clone());
        }
        !done && !last
    });
    ready
}
