//! Zip members inflated ahead by worker threads, each on its own clone of the archive, and handed to the walk in
//! archive order: the walk asks for member `i` when it gets there and waits only if no worker has finished it.
//!
//! Only members the visitor says it will read whole are fetched ahead ([`super::Visitor::prefetch`]), at most
//! [`AHEAD_BYTES`] of declared size (and [`AHEAD_MEMBERS`] members) at a time, so memory stays bounded whatever
//! the archive holds. A worker reads at most the declared size plus one byte: a member that turns out larger than
//! it says is read again by the walk itself, the way it reads any other member.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Scope;

use super::ahead::{Bounds, Lost, OrderedAhead, Planned};
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
pub(super) struct Ahead(Planned<(usize, u64), Fetched>);

impl Ahead {
    /// Start `threads` workers, each on a clone of `z`, to fetch the members of `wanted` (ascending indices, with
    /// their declared sizes).
    pub fn start<'s, R>(
        scope: &'s Scope<'s, '_>,
        z: &zip::ZipArchive<R>,
        threads: usize,
        wanted: Vec<(usize, u64)>,
    ) -> Ahead
    where
        R: Read + Seek + Clone + Send + 's,
    {
        let workers = (0..threads)
            .map(|_| {
                let mut zw = z.clone();
                move |(i, size)| fetch(&mut zw, i, size)
            })
            .collect();
        let bounds = Bounds {
            jobs: AHEAD_MEMBERS,
            bytes: AHEAD_BYTES,
        };
        let pool = OrderedAhead::scoped(scope, "zip-ahead", workers, bounds);
        Ahead(Planned::new(
            pool,
            wanted.into_iter().map(|(i, size)| (i, (i, size), size)).collect(),
        ))
    }

    /// Member `i` as fetched, if it was sent to the workers (waiting for it as needed); `None` when the walk reads
    /// it itself.
    pub fn take(&mut self, i: usize) -> Option<Fetched> {
        match self.0.take(i)? {
            Ok(f) => Some(f),
            Err(Lost::Panicked) => Some(Fetched::Data(
                Vec::new(),
                Some(io::Error::other("zip member reader failed")),
            )),
            Err(Lost::Gone) => None,
        }
    }

    /// Stop the workers after the member in hand (the scope then joins them).
    pub fn stop(&mut self) {
        self.0.stop();
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
