//! The ordered read-ahead pool the archive decoders share (zip members, 7z blocks, bzip2 blocks): jobs handed to
//! worker threads in order, each result taken back by its sequence number, bounded by jobs and bytes in flight.
//!
//! A format supplies only what is its own: what a job is, the worker that does one (one closure per worker, so
//! each can own its reader or decoder), and what to do when a job is refused or lost (do it on the calling thread).
//! The pool guarantees the rest:
//! - **bounded:** [`OrderedAhead::submit`] refuses a job past the bounds, except that one job is always admitted
//!   when none is in flight (so a job larger than the byte bound still runs, alone);
//! - **never a hang:** a worker that panics answers [`Lost::Panicked`] for that job and goes on; when no worker is
//!   left to answer, [`OrderedAhead::take`] returns [`Lost::Gone`] instead of waiting;
//! - **prompt stop:** [`OrderedAhead::stop`] (and `Drop`) drops every queued job; workers finish only the job in
//!   hand. Threads of a scope are joined by the scope, the pool's own threads by `Drop`.
//!
//! Jobs given up before they were taken ([`OrderedAhead::forget_all`], as bzip2 does when a false block boundary
//! makes it re-plan) are skipped by the workers if not yet started, dropped when they answer, and stay counted in
//! the bounds until then: their memory is held until their worker lets go of it.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{JoinHandle, Scope};

use crossbeam_channel::{Receiver, Sender, unbounded};

/// How much may be in flight (handed out and not yet taken) at once.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub jobs: usize,
    /// The sum of the jobs' declared bytes (what each job will hold in memory, by the format's own measure).
    pub bytes: u64,
}

/// Why a job has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lost {
    /// Its worker panicked while doing it.
    Panicked,
    /// No worker is left to do it (stopped, or none could be started).
    Gone,
}

/// What the calling thread and the workers share.
struct Shared {
    stop: AtomicBool,
    /// Jobs numbered below this were given up: a worker skips them.
    first_live: AtomicU64,
}

type Answer<O> = (u64, Option<Result<O, Lost>>);

/// Worker threads doing jobs of type `J` ahead of the caller, which takes back their outputs `O` in any order it
/// likes by sequence number (the archive walks take them in the order they were submitted).
pub(super) struct OrderedAhead<J, O> {
    jobs: Option<Sender<(u64, J)>>,
    results: Receiver<Answer<O>>,
    shared: Arc<Shared>,
    bounds: Bounds,
    next: u64,
    /// Submitted and not yet taken: sequence number -> declared bytes.
    out: HashMap<u64, u64>,
    /// Given up and not yet answered: sequence number -> declared bytes (still held by a worker or the queue).
    forgotten: HashMap<u64, u64>,
    /// Answered, waiting to be taken.
    ready: HashMap<u64, Result<O, Lost>>,
    bytes: u64,
    peak: u64,
    /// The pool's own threads (none for workers on a caller's scope).
    threads: Vec<JoinHandle<()>>,
}

impl<J: Send, O: Send> OrderedAhead<J, O> {
    /// Workers on `scope`, one per closure of `workers` (threads named `name-N`). A worker that cannot be started
    /// is left out; with none, every job is refused.
    pub fn scoped<'s, W>(scope: &'s Scope<'s, '_>, name: &str, workers: Vec<W>, bounds: Bounds) -> Self
    where
        W: FnMut(J) -> O + Send + 's,
        J: 's,
        O: 's,
    {
        let (mut pool, job_rx, res_tx) = Self::empty(bounds);
        let mut started = 0;
        for (i, work) in workers.into_iter().enumerate() {
            let (rx, tx, shared) = (job_rx.clone(), res_tx.clone(), Arc::clone(&pool.shared));
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn_scoped(scope, move || serve(&rx, &tx, &shared, work));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::debug!("{name}: worker {i} could not be started: {e}"),
            }
        }
        if started == 0 {
            pool.jobs = None;
        }
        pool
    }

    /// Workers on threads of the pool's own, one per closure of `workers` (named `name-N`), joined on drop; `None`
    /// when not one can be started.
    pub fn threads<W>(name: &str, workers: Vec<W>, bounds: Bounds) -> Option<Self>
    where
        W: FnMut(J) -> O + Send + 'static,
        J: 'static,
        O: 'static,
    {
        let (mut pool, job_rx, res_tx) = Self::empty(bounds);
        for (i, work) in workers.into_iter().enumerate() {
            let (rx, tx, shared) = (job_rx.clone(), res_tx.clone(), Arc::clone(&pool.shared));
            let started = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || serve(&rx, &tx, &shared, work));
            match started {
                Ok(t) => pool.threads.push(t),
                Err(e) => tracing::debug!("{name}: worker {i} could not be started: {e}"),
            }
        }
        (!pool.threads.is_empty()).then_some(pool)
    }

    /// A pool with no worker yet, and the ends the workers take.
    fn empty(bounds: Bounds) -> (Self, Receiver<(u64, J)>, Sender<Answer<O>>) {
        // Unbounded queues: the pool's own count bounds what is queued, and a worker never waits to answer.
        let (jobs, job_rx) = unbounded();
        let (res_tx, results) = unbounded();
        let pool = OrderedAhead {
            jobs: Some(jobs),
            results,
            shared: Arc::new(Shared {
                stop: AtomicBool::new(false),
                first_live: AtomicU64::new(0),
            }),
            bounds,
            next: 0,
            out: HashMap::new(),
            forgotten: HashMap::new(),
            ready: HashMap::new(),
            bytes: 0,
            peak: 0,
            threads: Vec::new(),
        };
        (pool, job_rx, res_tx)
    }

    /// Whether a job declaring `bytes` would be admitted now.
    pub fn room(&mut self, bytes: u64) -> bool {
        if !self.forgotten.is_empty() {
            // Given-up jobs that have answered no longer hold anything.
            while let Ok(answer) = self.results.try_recv() {
                self.arrived(answer);
            }
        }
        let held = self.out.len() + self.forgotten.len();
        self.jobs.is_some()
            && (held == 0 || (held < self.bounds.jobs && self.bytes.saturating_add(bytes) <= self.bounds.bytes))
    }

    /// Hand `job` (declaring `bytes`) to the workers: its sequence number, or the job back when it is refused
    /// (no room, stopped, no worker), for the caller to do itself.
    pub fn submit(&mut self, job: J, bytes: u64) -> Result<u64, J> {
        if !self.room(bytes) {
            return Err(job);
        }
        let Some(jobs) = &self.jobs else { return Err(job) };
        let seq = self.next;
        if let Err(e) = jobs.send((seq, job)) {
            self.jobs = None;
            return Err(e.into_inner().1);
        }
        self.next += 1;
        self.out.insert(seq, bytes);
        self.bytes += bytes;
        self.peak = self.peak.max(self.bytes);
        Ok(seq)
    }

    /// The output of job `seq`, waiting for its worker as needed; `None` if `seq` is not in flight (never
    /// submitted, already taken, or forgotten).
    pub fn take(&mut self, seq: u64) -> Option<Result<O, Lost>> {
        let bytes = self.out.remove(&seq)?;
        let got = loop {
            if let Some(r) = self.ready.remove(&seq) {
                break r;
            }
            match self.results.recv() {
                Ok(answer) => self.arrived(answer),
                // Every worker has ended: nobody will answer.
                Err(_) => break Err(Lost::Gone),
            }
        };
        self.bytes -= bytes;
        Some(got)
    }

    fn arrived(&mut self, (seq, answer): Answer<O>) {
        if let Some(bytes) = self.forgotten.remove(&seq) {
            self.bytes -= bytes;
        } else if let Some(r) = answer {
            self.ready.insert(seq, r);
        }
    }

    /// Give up job `seq`: its output is dropped when it comes.
    pub fn forget(&mut self, seq: u64) {
        let Some(bytes) = self.out.remove(&seq) else { return };
        if self.ready.remove(&seq).is_some() {
            self.bytes -= bytes;
        } else {
            self.forgotten.insert(seq, bytes);
        }
    }

    /// Give up every job in flight: those not started are skipped, the others' outputs dropped when they come.
    pub fn forget_all(&mut self) {
        self.shared.first_live.store(self.next, Ordering::Relaxed);
        let seqs: Vec<u64> = self.out.keys().copied().collect();
        for seq in seqs {
            self.forget(seq);
        }
    }

    /// The most declared bytes ever in flight at once (tests look at it).
    #[cfg(test)]
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Stop: queued jobs are dropped, workers end after the job in hand; later jobs are refused, and a `take` of a
    /// job no worker did answers [`Lost::Gone`] once the workers have ended.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.jobs = None;
    }
}

impl<J, O> Drop for OrderedAhead<J, O> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One worker: jobs in queue order until the queue closes or the pool stops; every job it takes is answered.
fn serve<J, O>(rx: &Receiver<(u64, J)>, tx: &Sender<Answer<O>>, shared: &Shared, mut work: impl FnMut(J) -> O) {
    for (seq, job) in rx.iter() {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let answer = if seq < shared.first_live.load(Ordering::Relaxed) {
            None
        } else {
            // A panic must still answer, or the caller would wait for this job forever.
            Some(std::panic::catch_unwind(AssertUnwindSafe(|| work(job))).map_err(|_| Lost::Panicked))
        };
        if tx.send((seq, answer)).is_err() {
            break;
        }
    }
}

/// Jobs known before the walk starts, each under a key (ascending), submitted in order as the bounds allow and
/// taken back by key as the walk reaches them: the shape of zip's members and 7z's blocks.
pub(super) struct Planned<J, O> {
    pool: OrderedAhead<J, O>,
    /// Not yet submitted: key, job, declared bytes.
    wanted: VecDeque<(usize, J, u64)>,
    /// Submitted and not yet taken: key, sequence number.
    sent: VecDeque<(usize, u64)>,
}

impl<J: Send, O: Send> Planned<J, O> {
    pub fn new(pool: OrderedAhead<J, O>, wanted: Vec<(usize, J, u64)>) -> Self {
        let mut p = Planned {
            pool,
            wanted: wanted.into(),
            sent: VecDeque::new(),
        };
        p.top_up();
        p
    }

    fn top_up(&mut self) {
        while let Some((key, job, bytes)) = self.wanted.pop_front() {
            match self.pool.submit(job, bytes) {
                Ok(seq) => self.sent.push_back((key, seq)),
                Err(job) => {
                    self.wanted.push_front((key, job, bytes));
                    break;
                }
            }
        }
    }

    /// The output for `key`, if it was handed to the workers (waiting for it as needed); `None` when the caller
    /// must do it itself. Keys passed over (never taken) are given up.
    pub fn take(&mut self, key: usize) -> Option<Result<O, Lost>> {
        let mut got = None;
        while let Some(&(k, seq)) = self.sent.front().filter(|s| s.0 <= key) {
            self.sent.pop_front();
            if k == key {
                got = self.pool.take(seq);
            } else {
                self.pool.forget(seq);
            }
        }
        if got.is_none() {
            while self.wanted.front().is_some_and(|w| w.0 <= key) {
                self.wanted.pop_front();
            }
        }
        self.top_up();
        got
    }

    /// See [`OrderedAhead::stop`]; nothing more is submitted.
    pub fn stop(&mut self) {
        self.pool.stop();
        self.wanted.clear();
    }

    #[cfg(test)]
    pub fn peak(&self) -> u64 {
        self.pool.peak()
    }
}

#[cfg(test)]
mod tests;
