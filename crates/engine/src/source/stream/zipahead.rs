//! Zip members inflated ahead by worker threads, each on its own clone of the archive, and handed to the walk in
//! archive order: the walk asks for member `i` when it gets there and waits only if no worker has finished it.
//!
//! Only members the visitor says it will read whole are fetched ahead ([`super::Visitor::prefetch`]), at most
//! [`AHEAD_BYTES`] of declared size (and [`AHEAD_MEMBERS`] members) at a time, so memory stays bounded whatever
//! the archive holds. A worker reads at most the declared size plus one byte: a member that turns out larger than
//! it says is read again by the walk itself, the way it reads any other member.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Scope;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

use crate::source::limits::Meter;

/// Declared bytes of members fetched ahead and not yet handed out.
pub(super) const AHEAD_BYTES: u64 = 32 << 20;
/// Members fetched ahead and not yet handed out.
const AHEAD_MEMBERS: usize = 256;

/// What a worker made of one member.
pub(super) enum Fetched {
    /// The inflated bytes, and the error that stopped the inflating early, if any (damage, a bad CRC).
    Data(Vec<u8>, Option<io::Error>),
    /// The member could not be opened (unsupported method, encryption, bad local header).
    Open(zip::result::ZipError),
    /// Larger than declared: the walk reads it itself.
    Oversized,
}

/// Workers fetching members ahead of the walk.
pub(super) struct Ahead {
    jobs: Option<Sender<(usize, u64)>>,
    results: Receiver<(usize, Fetched)>,
    /// Members to fetch (index, declared size), in archive order; `next` is the first not yet sent.
    wanted: Vec<(usize, u64)>,
    next: usize,
    /// Sent and not yet taken: index -> declared size.
    sent: HashMap<usize, u64>,
    order: VecDeque<usize>,
    bytes: u64,
    ready: HashMap<usize, Fetched>,
    /// Tells the workers to drop what is still queued (the walk stopped).
    stopped: Arc<AtomicBool>,
}

impl Ahead {
    /// Start `threads` workers, each on a clone of `z`, to fetch the members of `wanted` (ascending indices).
    pub fn start<'s, R>(
        scope: &'s Scope<'s, '_>,
        z: &zip::ZipArchive<R>,
        threads: usize,
        wanted: Vec<(usize, u64)>,
    ) -> Ahead
    where
        R: Read + Seek + Clone + Send + 's,
    {
        let (jobs, job_rx) = bounded::<(usize, u64)>(AHEAD_MEMBERS);
        let (res_tx, results) = unbounded();
        let stopped = Arc::new(AtomicBool::new(false));
        for _ in 0..threads {
            let (rx, tx, mut zw) = (job_rx.clone(), res_tx.clone(), z.clone());
            let stop = Arc::clone(&stopped);
            scope.spawn(move || {
                for (i, size) in rx.iter() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // A panic must still answer, or the walk would wait for this member forever.
                    let fetched = std::panic::catch_unwind(AssertUnwindSafe(|| fetch(&mut zw, i, size)))
                        .unwrap_or_else(|_| {
                            Fetched::Data(Vec::new(), Some(io::Error::other("zip member reader failed")))
                        });
                    if tx.send((i, fetched)).is_err() {
                        break;
                    }
                }
            });
        }
        let mut ahead = Ahead {
            jobs: Some(jobs),
            results,
            wanted,
            next: 0,
            sent: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            ready: HashMap::new(),
            stopped,
        };
        ahead.top_up();
        ahead
    }

    /// Send more members to the workers, within the bounds.
    fn top_up(&mut self) {
        let Some(jobs) = &self.jobs else { return };
        while let Some(&(i, size)) = self.wanted.get(self.next) {
            let room = self.order.is_empty() || (self.bytes + size <= AHEAD_BYTES && self.order.len() < AHEAD_MEMBERS);
            if !room || jobs.send((i, size)).is_err() {
                break;
            }
            self.next += 1;
            self.sent.insert(i, size);
            self.order.push_back(i);
            self.bytes += size;
        }
    }

    /// Member `i` as fetched, if it was sent to the workers (waiting for it as needed); `None` otherwise.
    pub fn take(&mut self, i: usize) -> Option<Fetched> {
        let size = self.sent.remove(&i)?;
        self.order.retain(|&j| j != i);
        self.bytes -= size;
        let fetched = loop {
            if let Some(f) = self.ready.remove(&i) {
                break Some(f);
            }
            match self.results.recv() {
                Ok((j, f)) if j == i => break Some(f),
                Ok((j, f)) => {
                    self.ready.insert(j, f);
                }
                Err(_) => break None,
            }
        };
        self.top_up();
        fetched
    }

    /// Stop the workers after the member in hand (the scope then joins them).
    pub fn stop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.jobs = None;
        self.wanted.clear();
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.stop();
    }
}

fn fetch<R: Read + Seek>(z: &mut zip::ZipArchive<R>, i: usize, size: u64) -> Fetched {
    let file = match z.by_index(i) {
        Ok(f) => f,
        Err(e) => return Fetched::Open(e),
    };
    let limit = size.saturating_add(1);
    // The declared size bounds the first allocation only as far as the prefetch bound already trusts it.
    let mut data = Vec::with_capacity(size.min(AHEAD_BYTES) as usize);
    let error = file.take(limit).read_to_end(&mut data).err();
    if data.len() as u64 >= limit {
        return Fetched::Oversized;
    }
    Fetched::Data(data, error)
}

/// A top-level zip file that worker threads read at once, each at its own position (positioned reads): counts the
/// bytes read from disk and flags disk errors for the whole archive.
#[derive(Clone)]
pub(super) struct SharedFile<'c> {
    pub file: &'c File,
    pub len: u64,
    pub pos: u64,
    pub meter: &'c Meter,
    pub failed: &'c AtomicBool,
}

impl Read for SharedFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read_at(buf, self.pos) {
            Ok(n) => {
                self.pos += n as u64;
                self.meter.disk_bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

impl Seek for SharedFile<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(t) => {
                self.pos = t;
                Ok(t)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative position",
            )),
        }
    }
}

/// The bytes a worker inflated, then the error that cut them short (if any): what the walk's own reader would have
/// yielded.
pub(super) struct Fetch {
    pub data: io::Cursor<Vec<u8>>,
    pub error: Option<io::Error>,
}

impl Read for Fetch {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.read(buf)?;
        if n == 0
            && !buf.is_empty()
            && let Some(e) = self.error.take()
        {
            return Err(e);
        }
        Ok(n)
    }
}
