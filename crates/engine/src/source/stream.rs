//! The archive walker shared by import reading and `extract`: streams members, opens nested archives, guards bombs.
//!
//! Everything is streamed: tar and single-file compressed streams are decoded on the fly (a nested tar.gz inside a
//! tar.gz is decoded from the outer member's stream), only a nested zip is held in memory (it needs `Seek`), bounded
//! by `Limits::max_member_bytes`. Every decoder's output goes through a [`Guard`] that counts inflated bytes for
//! the whole top-level archive and checks the inflated/compressed ratio of its own stream, so a bomb is stopped
//! after a bounded amount of work, whatever the nesting.
//!
//! What to do with each member is the [`Visitor`]'s call: import reading keeps MIDI members, extract writes all.
//!
//! Decoding uses every core while the walk stays on one thread: xz and bzip2 streams decode their blocks on worker
//! threads (`xz.rs`, `bz2.rs`), zip members the visitor will read and 7z blocks are decoded ahead by workers
//! (`zipahead.rs`, `sevenzahead.rs`); bzip2, zip and 7z share one ordered read-ahead pool (`ahead.rs`). The
//! guards still sit on the walking thread, so the bounds hold exactly as before.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::detect::{self, Magic};
use super::limits::{Limits, Meter};
use super::location::{member_location, normalize_member_path, os_bytes};
use super::{ArchiveKind, Compression, kind};

mod ahead;
mod bz2;
mod rar;
mod sevenz;
mod sevenzahead;
mod volumes;
pub(crate) use volumes::split_7z_volume;
mod xz;
mod zipahead;

/// Inflated bytes a stream may produce before its ratio is checked: small members compress oddly well.
const RATIO_SLACK: u64 = 1 << 20;

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    /// Device, fifo, socket.
    Special,
    /// Format bookkeeping (pax global headers, volume labels): never shown.
    Meta,
}

/// One entry of an archive, as the visitor sees it.
#[derive(Debug)]
pub(crate) struct EntryMeta {
    /// Full location, e.g. `a.zip!/dir/x.mid`.
    pub location: String,
    /// The name exactly as stored in the archive (for a single compressed file: the outer name minus suffix).
    pub raw_path: Vec<u8>,
    pub kind: EntryKind,
    /// Declared uncompressed size (None for single compressed streams, whose size is unknown until read).
    pub size: Option<u64>,
    /// Unix seconds.
    pub mtime: i64,
    /// Nesting depth of the archive holding this entry: 1 for a top-level archive.
    pub depth: u32,
}

impl EntryMeta {
    /// The normalized member path as (lossy) text, for name checks (extensions are ASCII, so nothing is lost there).
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(normalize_member_path(&self.raw_path))
    }
}

/// The visitor's answer for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Ignore,
    /// Hand the entry's bytes to `Visitor::consume`.
    Consume,
    /// Open the entry as a nested archive of this kind.
    Descend(ArchiveKind),
    /// Stop walking altogether (the caller cancelled).
    Stop,
}

pub(crate) trait Visitor {
    fn decide(&mut self, e: &EntryMeta) -> Decision;
    /// Whether `decide` will answer `Consume` for `e` (and read it whole): such zip members are inflated ahead on
    /// worker threads. A guess without side effects; a wrong one only wastes work.
    fn prefetch(&self, _e: &EntryMeta) -> bool {
        false
    }
    /// Read the entry. `Err` only for errors of `r` (the archive); the visitor reports its own errors itself.
    /// `Ok(false)` cancels the walk.
    fn consume(&mut self, e: &EntryMeta, r: &mut dyn Read) -> io::Result<bool>;
    /// About to walk the nested archive `e`; `false` cancels.
    fn enter(&mut self, _e: &EntryMeta) -> bool {
        true
    }
    fn leave(&mut self, _e: &EntryMeta) {}
    /// An error at `location`; `false` cancels.
    fn problem(&mut self, location: &str, kind: kind::ErrorKind, message: String) -> bool;
}

/// Why a walk stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    Cancelled,
    /// The top-level archive is abandoned (already reported once).
    Bomb,
}

enum Fail {
    Halt(Halt),
    /// Reading the entry's bytes failed: the archive is damaged there.
    Read(io::Error),
}

/// Per top-level archive state shared by every guard of its (nested) streams.
pub(crate) struct Ctx<'a> {
    limits: &'a Limits,
    meter: &'a Meter,
    inflated: Cell<u64>,
    tripped: RefCell<Option<String>>,
    /// Reading the disk failed (set from worker threads too).
    io_failed: AtomicBool,
}

impl<'a> Ctx<'a> {
    fn new(limits: &'a Limits, meter: &'a Meter) -> Self {
        Ctx {
            limits,
            meter,
            inflated: Cell::new(0),
            tripped: RefCell::new(None),
            io_failed: AtomicBool::new(false),
        }
    }

    fn trip(&self, message: String) -> io::Error {
        let mut t = self.tripped.borrow_mut();
        if t.is_none() {
            *t = Some(message);
        }
        io::Error::other("compression bomb")
    }

    fn is_tripped(&self) -> bool {
        self.tripped.borrow().is_some()
    }

    /// Count `n` more inflated bytes against `max_archive_expansion`.
    fn add_inflated(&self, n: u64) -> io::Result<()> {
        self.meter.inflated_bytes.fetch_add(n, Ordering::Relaxed);
        let total = self.inflated.get() + n;
        self.inflated.set(total);
        let max = self.limits.max_archive_expansion;
        if total > max {
            return Err(self.trip(format!(
                "archive inflates past {total} bytes (limit max_archive_expansion = {max})"
            )));
        }
        Ok(())
    }

    /// `kind`, unless reading the disk failed, which is then what went wrong.
    fn or_io(&self, kind: kind::ErrorKind) -> kind::ErrorKind {
        if self.io_failed.load(Ordering::Relaxed) {
            kind::IO
        } else {
            kind
        }
    }

    /// Report a failure to read at `location`, classified, and decide whether the walk goes on.
    fn report(&self, v: &mut dyn Visitor, location: &str, e: &io::Error) -> Result<(), Halt> {
        if let Some(msg) = self.tripped.borrow().clone() {
            v.problem(location, kind::COMPRESSION_BOMB, msg);
            return Err(Halt::Bomb);
        }
        let k = if self.io_failed.load(Ordering::Relaxed) {
            kind::IO
        } else if e.kind() == io::ErrorKind::Unsupported {
            // A zip member's unknown compression method surfaces on its first read, not when it is opened.
            kind::UNSUPPORTED_METHOD
        } else {
            kind::ARCHIVE_CORRUPT
        };
        if v.problem(location, k, e.to_string()) {
            Ok(())
        } else {
            Err(Halt::Cancelled)
        }
    }
}

/// Counts compressed bytes read from below a decoder (and from disk, for the top-level file).
struct CountRead<'c, R> {
    inner: R,
    count: Rc<Cell<u64>>,
    top: Option<&'c Ctx<'c>>,
}

impl<R: Read> Read for CountRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count.set(self.count.get() + n as u64);
                if let Some(ctx) = self.top {
                    ctx.meter.disk_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Ok(n)
            }
            Err(e) => {
                if let Some(ctx) = self.top {
                    ctx.io_failed.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }
}

/// The top-level zip file: counts bytes read from disk, flags disk errors.
struct CountSeek<'c, F = File> {
    file: F,
    ctx: &'c Ctx<'c>,
}

impl<F: Read> Read for CountSeek<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf) {
            Ok(n) => {
                self.ctx.meter.disk_bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                self.ctx.io_failed.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

impl<F: Seek> Seek for CountSeek<'_, F> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// Compressed size of the stream a guard watches.
enum Input {
    Fixed(u64),
    Counted(Rc<Cell<u64>>),
}

/// Sits on a decoder's output: meters inflated bytes and trips on a bomb.
struct Guard<'c, R> {
    inner: R,
    out: u64,
    input: Input,
    ctx: &'c Ctx<'c>,
}

impl<R: Read> Read for Guard<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ctx.is_tripped() {
            return Err(io::Error::other("compression bomb"));
        }
        let n = self.inner.read(buf)? as u64;
        self.out += n;
        let ctx = self.ctx;
        ctx.add_inflated(n)?;
        let lim = ctx.limits;
        let input = match &self.input {
            Input::Fixed(v) => *v,
            Input::Counted(c) => c.get(),
        };
        if lim.max_ratio > 0 && self.out > input.saturating_mul(lim.max_ratio).saturating_add(RATIO_SLACK) {
            return Err(ctx.trip(format!(
                "stream inflates {} bytes from {} compressed (ratio limit {})",
                self.out, input, lim.max_ratio
            )));
        }
        Ok(n as usize)
    }
}

/// Watches the raw tar stream for metadata entries (GNU long names, pax headers) larger than `max` bytes: the tar
/// crate reads those whole into memory before yielding anything, so a small tar.gz could otherwise claim gigabytes.
/// Fails open: on anything it does not understand (bad checksum, pax size overrides) it simply stops watching.
struct TarMetaGuard<R> {
    inner: R,
    pos: u64,
    next_header: u64,
    block: [u8; 512],
    fill: usize,
    /// GNU sparse extension blocks follow; the data (this many bytes, padded) comes after them.
    sparse_data: Option<u64>,
    active: bool,
    failed: bool,
    max: u64,
}

impl<R: Read> TarMetaGuard<R> {
    fn new(inner: R, max: u64) -> Self {
        TarMetaGuard {
            inner,
            pos: 0,
            next_header: 0,
            block: [0; 512],
            fill: 0,
            sparse_data: None,
            active: true,
            failed: false,
            max,
        }
    }

    fn observe(&mut self, data: &[u8]) -> io::Result<()> {
        let mut i = 0usize;
        while i < data.len() && self.active {
            let abs = self.pos + i as u64;
            if abs < self.next_header {
                i += (self.next_header - abs).min((data.len() - i) as u64) as usize;
                continue;
            }
            let take = (512 - self.fill).min(data.len() - i);
            self.block[self.fill..self.fill + take].copy_from_slice(&data[i..i + take]);
            self.fill += take;
            i += take;
            if self.fill == 512 {
                self.fill = 0;
                self.on_block()?;
            }
        }
        self.pos += data.len() as u64;
        Ok(())
    }

    fn on_block(&mut self) -> io::Result<()> {
        let pad = |n: u64| n.div_ceil(512).saturating_mul(512);
        if let Some(data) = self.sparse_data {
            // A GNU sparse extension block: `isextended` at byte 504 says whether another follows.
            self.next_header += 512;
            if self.block[504] == 0 {
                self.sparse_data = None;
                self.next_header = self.next_header.saturating_add(pad(data));
            }
            return Ok(());
        }
        if self.block.iter().all(|&b| b == 0) {
            self.active = false;
            return Ok(());
        }
        let mut h = tar::Header::new_old();
        h.as_mut_bytes().copy_from_slice(&self.block);
        let sum: u32 = self
            .block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    u32::from(b' ')
                } else {
                    u32::from(b)
                }
            })
            .sum();
        let (Ok(stored), Ok(size)) = (h.cksum(), h.entry_size()) else {
            self.active = false;
            return Ok(());
        };
        if stored != sum {
            self.active = false;
            return Ok(());
        }
        let flag = self.block[156];
        if matches!(flag, b'L' | b'K' | b'x' | b'g' | b'X') && size > self.max {
            return Err(io::Error::other(format!(
                "tar metadata entry (type '{}') of {size} bytes exceeds {} bytes",
                flag as char, self.max
            )));
        }
        self.next_header += 512;
        if flag == b'S' && self.block[482] != 0 {
            self.sparse_data = Some(size);
        } else {
            self.next_header = self.next_header.saturating_add(pad(size));
        }
        Ok(())
    }
}

impl<R: Read> Read for TarMetaGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("tar metadata entry too large"));
        }
        let n = self.inner.read(buf)?;
        if self.active
            && let Err(e) = self.observe(&buf[..n])
        {
            self.failed = true;
            return Err(e);
        }
        Ok(n)
    }
}

/// A tar entry's data: an end of stream before the declared size is an error. (The tar reader just returns fewer
/// bytes, so a plain tar cut inside a member would otherwise hand out a silently truncated file.)
struct ExactLen<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactLen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("archive ends inside this member ({} bytes missing)", self.remaining),
            ));
        }
        self.remaining = self.remaining.saturating_sub(n as u64);
        Ok(n)
    }
}

/// One volume of a split 7z set: the first reads the whole set, a later one nothing (or, when the set's first
/// volume is missing, the lowest-numbered one present says so).
fn walk_7z_set(
    ctx: &Ctx<'_>,
    location: &str,
    fs_path: &Path,
    file: File,
    (stem, n, digits): (&str, u32, usize),
    mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    match volumes::role(fs_path, stem, n, digits) {
        volumes::SetRole::Covered => return Ok(()),
        volumes::SetRole::Orphan(msg) => return problem(v, location, kind::MISSING_VOLUME, msg),
        volumes::SetRole::First => {}
    }
    let mut set = match volumes::Volumes::open(file, fs_path, stem, digits) {
        Ok(s) => s,
        Err(e) => return problem(v, location, kind::IO, format!("cannot open a volume of the set: {e}")),
    };
    if let Some(declared) = set.declared_size()
        && declared > set.total()
    {
        let msg = format!(
            "volume {stem}{:0digits$} of this split 7z set is missing (the set holds {} of the {declared} bytes \
             its header declares)",
            set.count() + 1,
            set.total()
        );
        return problem(v, location, kind::MISSING_VOLUME, msg);
    }
    sevenz::walk(ctx, location, CountSeek { file: set, ctx }, None, 1, mtime, v)
}

/// Walk one archive on disk. Problems are reported to the visitor; returns `Err(Cancelled)` if it cancelled.
pub(crate) fn walk_top(
    location: &str,
    fs_path: &Path,
    kind: ArchiveKind,
    limits: &Limits,
    meter: &Meter,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let ctx = Ctx::new(limits, meter);
    let file = match File::open(fs_path) {
        Ok(f) => f,
        Err(e) => {
            return if v.problem(location, kind::IO, e.to_string()) {
                Ok(())
            } else {
                Err(Halt::Cancelled)
            };
        }
    };
    let mtime = file
        .metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .map_or(0, unix_secs);
    let name = fs_path.file_name().map(os_bytes).unwrap_or_default().to_vec();
    let r = match kind {
        ArchiveKind::Zip => match zip::ZipArchive::new(zipahead::SharedFile {
            file: &file,
            len: file.metadata().map_or(0, |m| m.len()),
            pos: 0,
            meter,
            failed: &ctx.io_failed,
        }) {
            Ok(z) => walk_zip(&ctx, location, z, 1, mtime, v),
            Err(e) => {
                let k = ctx.or_io(zip_kind(&e));
                if v.problem(location, k, format!("cannot open zip: {e}")) {
                    Ok(())
                } else {
                    Err(Halt::Cancelled)
                }
            }
        },
        ArchiveKind::SevenZip => match volumes::split_7z_volume(&String::from_utf8_lossy(&name)) {
            Some((stem, n, digits)) => walk_7z_set(&ctx, location, fs_path, file, (stem, n, digits), mtime, v),
            None => {
                let shared = zipahead::SharedFile {
                    file: &file,
                    len: file.metadata().map_or(0, |m| m.len()),
                    pos: 0,
                    meter,
                    failed: &ctx.io_failed,
                };
                let src = CountSeek { file: &file, ctx: &ctx };
                sevenz::walk(&ctx, location, src, Some(shared), 1, mtime, v)
            }
        },
        ArchiveKind::Rar => {
            // The RAR reader opens the file (and its other volumes) itself: count the bytes it will read.
            let size = file.metadata().map_or(0, |m| m.len());
            meter.disk_bytes.fetch_add(size, Ordering::Relaxed);
            rar::walk(&ctx, location, fs_path, size, 1, mtime, v)
        }
        ArchiveKind::Tar(_) | ArchiveKind::Single(_) => {
            let counted = CountRead {
                inner: file,
                count: Rc::new(Cell::new(0)),
                top: Some(&ctx),
            };
            walk_stream(&ctx, location, &name, kind, Box::new(counted), 1, mtime, v)
        }
    };
    match r {
        Err(Halt::Bomb) => Ok(()),
        other => other,
    }
}

/// Decode a compressed stream (if any), guarded.
fn decode<'c>(ctx: &'c Ctx<'c>, c: Compression, reader: Box<dyn Read + 'c>) -> Box<dyn Read + 'c> {
    if c == Compression::None {
        return reader;
    }
    // A top-level stream already counts disk bytes below; this counter only feeds the ratio check.
    let count = Rc::new(Cell::new(0));
    let counted = CountRead {
        inner: reader,
        count: Rc::clone(&count),
        top: None,
    };
    let decoder: Box<dyn Read + 'c> = match parallel_decoder(c, Box::new(counted)) {
        Ok(d) => d,
        Err(e) => Box::new(FailedRead(Some(e))),
    };
    Box::new(Guard {
        inner: decoder,
        out: 0,
        input: Input::Counted(count),
        ctx,
    })
}

/// The decoder for an archive's stream: xz and bzip2 decode their blocks on every core (the plain decoders of
/// [`detect::decoder`] serve for peeking at a stream's first bytes).
fn parallel_decoder<'c>(c: Compression, r: Box<dyn Read + 'c>) -> io::Result<Box<dyn Read + 'c>> {
    let threads = crate::machine::cores();
    match c {
        Compression::Xz => xz::decoder(r, threads),
        Compression::Bzip2 => Ok(bz2::decoder(r, threads)),
        _ => detect::decoder(c, r),
    }
}

/// A reader that fails once with the error its decoder could not be built for.
struct FailedRead(Option<io::Error>);

impl Read for FailedRead {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| io::Error::other("decoder unavailable")))
    }
}

/// Walk a tar or single compressed stream. `name` is the container's own (raw) name.
#[allow(clippy::too_many_arguments)]
fn walk_stream<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    name: &[u8],
    kind: ArchiveKind,
    reader: Box<dyn Read + 'c>,
    depth: u32,
    mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    match kind {
        ArchiveKind::Tar(c) => walk_tar(ctx, location, decode(ctx, c, reader), depth, mtime, v),
        ArchiveKind::Single(c) => {
            let mut r = decode(ctx, c, reader);
            let inner = single_inner_name(name);
            let meta = EntryMeta {
                location: member_location(location, &inner),
                raw_path: inner,
                kind: EntryKind::File,
                size: None,
                mtime,
                depth,
            };
            // The stream is decoded a little before anything is decided: a garbage `.gz` whose inner name is not
            // MIDI would otherwise be ignored unread and leave no trace (now `archive_corrupt`, at the member).
            let head = match detect::read_head(&mut r) {
                Ok(h) => h,
                Err(e) => return ctx.report(v, &meta.location, &e),
            };
            let mut r = Cursor::new(head).chain(r);
            let d = v.decide(&meta);
            match run(ctx, &meta, d, &mut r, v) {
                Ok(()) => Ok(()),
                Err(Fail::Halt(h)) => Err(h),
                Err(Fail::Read(e)) => ctx.report(v, &meta.location, &e),
            }
        }
        // Zip and 7z cannot be streamed and RAR is read from a file; callers buffer them first.
        ArchiveKind::Zip | ArchiveKind::SevenZip | ArchiveKind::Rar => Ok(()),
    }
}

fn walk_tar<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    reader: Box<dyn Read + 'c>,
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let mut ar = tar::Archive::new(TarMetaGuard::new(reader, ctx.limits.max_member_bytes));
    let entries = match ar.entries() {
        Ok(e) => e,
        Err(e) => return ctx.report(v, location, &e),
    };
    let mut entries_read = 0usize;
    for (seen, item) in entries.enumerate() {
        let mut entry = match item {
            Ok(e) => e,
            Err(e) => {
                let e = io::Error::new(
                    e.kind(),
                    format!("{e} (after {seen} entries; rest of archive not read)"),
                );
                return ctx.report(v, location, &e);
            }
        };
        let raw_path = entry.path_bytes().into_owned();
        let header = entry.header();
        let et = header.entry_type();
        let kind = if et.is_file() || et.is_contiguous() || et.is_gnu_sparse() {
            // Old tars mark folders as regular files with a trailing slash.
            if raw_path.ends_with(b"/") {
                EntryKind::Dir
            } else {
                EntryKind::File
            }
        } else if et.is_dir() {
            EntryKind::Dir
        } else if et.is_symlink() {
            EntryKind::Symlink(entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default())
        } else if et.is_hard_link() {
            EntryKind::Hardlink(entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default())
        } else if et.is_character_special() || et.is_block_special() || et.is_fifo() {
            EntryKind::Special
        } else {
            EntryKind::Meta
        };
        let mtime = header
            .mtime()
            .ok()
            .and_then(|m| i64::try_from(m).ok())
            .unwrap_or(container_mtime);
        let meta = EntryMeta {
            location: member_location(location, &raw_path),
            raw_path,
            kind,
            size: Some(entry.size()),
            mtime,
            depth,
        };
        let d = v.decide(&meta);
        let mut exact = ExactLen {
            inner: &mut entry,
            remaining: meta.size.unwrap_or(0),
        };
        match run(ctx, &meta, d, &mut exact, v) {
            Ok(()) => {}
            Err(Fail::Halt(h)) => return Err(h),
            // A tar is one stream: once its data cannot be read, nothing after it can be trusted.
            Err(Fail::Read(e)) => {
                let e = io::Error::new(e.kind(), format!("{e} (rest of archive not read)"));
                return ctx.report(v, &meta.location, &e);
            }
        }
        entries_read = seen + 1;
    }
    // The tar ends at its first zero block; data after it (a damaged header read as the end, another tar glued
    // on) would otherwise be passed over without a word. The rest is read (it is padding in a whole tar) and
    // checked, which also lets the compressed stream verify its own trailer.
    let mut rest = ar.into_inner();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rest.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) if buf[..n].iter().all(|&b| b == 0) => {}
            Ok(_) => {
                let msg =
                    format!("data after the tar's end-of-archive marker (after {entries_read} entries); not read");
                return problem(v, location, kind::ARCHIVE_CORRUPT, msg);
            }
            Err(e) => {
                let e = io::Error::new(e.kind(), format!("{e} (after {entries_read} entries)"));
                return ctx.report(v, location, &e);
            }
        }
    }
}

fn walk_zip<'c, R: Read + Seek + Clone + Send>(
    ctx: &'c Ctx<'c>,
    location: &str,
    mut z: zip::ZipArchive<R>,
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    if let Some(msg) = overlapping_entries(&z) {
        // Entries that share their compressed bytes inflate the same data again and again (a zip bomb that passes
        // every per-stream ratio check): named at once from the central directory, nothing read.
        v.problem(location, kind::COMPRESSION_BOMB, msg);
        return Err(Halt::Bomb);
    }
    if z.has_duplicate_names() {
        let msg = "several entries share one name; only the last of each can be read".to_string();
        if !v.problem(location, kind::ARCHIVE_CORRUPT, msg) {
            return Err(Halt::Cancelled);
        }
    }
    let wanted: Vec<(usize, u64)> = (0..z.len())
        .filter_map(|i| {
            let (meta, _) = zip_meta(&mut z, i, location, depth, container_mtime).ok()?;
            v.prefetch(&meta).then(|| (i, meta.size.unwrap_or(0)))
        })
        .collect();
    let threads = crate::machine::cores();
    if threads < 2 || wanted.len() < 2 {
        return zip_entries(ctx, location, &mut z, depth, container_mtime, v, None);
    }
    std::thread::scope(|s| {
        let mut ahead = zipahead::Ahead::start(s, &z, threads, wanted);
        let r = zip_entries(ctx, location, &mut z, depth, container_mtime, v, Some(&mut ahead));
        ahead.stop();
        r
    })
}

/// Why a zip's entries overlap, if they do: each entry's stored bytes start at its local header and run on for its
/// compressed size (an underestimate of its true extent, so only real overlaps are found).
fn overlapping_entries<R: Read + Seek>(z: &zip::ZipArchive<R>) -> Option<String> {
    let mut spans: Vec<(u64, u64)> = (0..z.len())
        .filter_map(|i| z.by_index_data(i).ok())
        .map(|e| {
            (
                e.header_start(),
                e.header_start().saturating_add(e.compressed_size().max(1)),
            )
        })
        .collect();
    spans.sort_unstable();
    let overlaps = spans.windows(2).filter(|w| w[1].0 < w[0].1).count();
    (overlaps > 0).then(|| {
        format!(
            "{} of its {} entries overlap another entry's compressed bytes (an overlapping-entry zip bomb); not read",
            overlaps + 1,
            spans.len()
        )
    })
}

/// Entry `i` of a zip as the visitor sees it, and its compressed size.
fn zip_meta<R: Read + Seek>(
    z: &mut zip::ZipArchive<R>,
    i: usize,
    location: &str,
    depth: u32,
    container_mtime: i64,
) -> zip::result::ZipResult<(EntryMeta, u64)> {
    let e = z.by_index_data(i)?;
    let raw_path = e.name_raw().to_vec();
    let kind = if e.is_dir() {
        EntryKind::Dir
    } else if e.is_symlink() {
        EntryKind::Symlink(Vec::new())
    } else {
        EntryKind::File
    };
    let mtime = e.last_modified().and_then(dos_to_unix).unwrap_or(container_mtime);
    let meta = EntryMeta {
        location: member_location(location, &raw_path),
        raw_path,
        kind,
        size: Some(e.size()),
        mtime,
        depth,
    };
    Ok((meta, e.compressed_size()))
}

/// Walk a zip's entries in order; members fetched ahead by `ahead`'s workers are taken from there.
fn zip_entries<'c, R: Read + Seek>(
    ctx: &'c Ctx<'c>,
    location: &str,
    z: &mut zip::ZipArchive<R>,
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
    mut ahead: Option<&mut zipahead::Ahead>,
) -> Result<(), Halt> {
    for i in 0..z.len() {
        let (mut meta, compressed) = match zip_meta(z, i, location, depth, container_mtime) {
            Ok(m) => m,
            Err(e) => {
                if !v.problem(location, kind::ARCHIVE_CORRUPT, format!("entry #{i}: {e}")) {
                    return Err(Halt::Cancelled);
                }
                continue;
            }
        };
        if let EntryKind::Symlink(t) = &mut meta.kind {
            // A zip stores a link's target as its data; read a little of it, for reports.
            *t = zip_link_target(z, i);
        }
        let d = v.decide(&meta);
        let fetched = ahead.as_deref_mut().and_then(|a| a.take(i));
        match d {
            Decision::Ignore => continue,
            Decision::Stop => return Err(Halt::Cancelled),
            Decision::Consume | Decision::Descend(_) => {}
        }
        let opened = match fetched {
            Some(zipahead::Fetched::Data(data, error)) if d == Decision::Consume => {
                let fetch = zipahead::Fetch {
                    data: Cursor::new(data),
                    error,
                };
                Ok(Box::new(fetch) as Box<dyn Read + '_>)
            }
            Some(zipahead::Fetched::Open(e)) => Err(e),
            _ => z.by_index(i).map(|f| Box::new(f) as Box<dyn Read + '_>),
        };
        let result = match opened {
            Ok(file) => {
                let mut g = Guard {
                    inner: file,
                    out: 0,
                    input: Input::Fixed(compressed),
                    ctx,
                };
                run(ctx, &meta, d, &mut g, v)
            }
            // Unsupported method, encryption, bad local header: this member only.
            Err(e) => {
                let k = ctx.or_io(zip_kind(&e));
                if !v.problem(&meta.location, k, e.to_string()) {
                    return Err(Halt::Cancelled);
                }
                continue;
            }
        };
        match result {
            Ok(()) => {}
            Err(Fail::Halt(h)) => return Err(h),
            // Zip members are independent: report this one and go on.
            Err(Fail::Read(e)) => ctx.report(v, &meta.location, &e)?,
        }
    }
    Ok(())
}

/// The error kind of a zip error: an unsupported method or encryption is no damage.
fn zip_kind(e: &zip::result::ZipError) -> kind::ErrorKind {
    use zip::result::ZipError;
    match e {
        ZipError::UnsupportedArchive(m) if *m == ZipError::PASSWORD_REQUIRED => kind::ENCRYPTED,
        ZipError::InvalidPassword => kind::ENCRYPTED,
        ZipError::UnsupportedArchive(_) | ZipError::CompressionMethodNotSupported(_) => kind::UNSUPPORTED_METHOD,
        ZipError::Io(_) => kind::IO,
        _ => kind::ARCHIVE_CORRUPT,
    }
}

/// The target of zip symlink entry `i` (at most 4 KiB; empty if unreadable).
fn zip_link_target<R: Read + Seek>(z: &mut zip::ZipArchive<R>, i: usize) -> Vec<u8> {
    let mut target = Vec::new();
    if let Ok(f) = z.by_index(i) {
        let _ = f.take(4096).read_to_end(&mut target);
    }
    target
}

/// Carry out the visitor's decision for one entry whose bytes `r` yields.
fn run<'c>(ctx: &'c Ctx<'c>, meta: &EntryMeta, d: Decision, r: &mut dyn Read, v: &mut dyn Visitor) -> Result<(), Fail> {
    match d {
        Decision::Ignore => Ok(()),
        Decision::Stop => Err(Fail::Halt(Halt::Cancelled)),
        Decision::Consume => match v.consume(meta, r) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Fail::Halt(Halt::Cancelled)),
            Err(e) => Err(Fail::Read(e)),
        },
        Decision::Descend(k) => {
            if meta.depth >= ctx.limits.max_depth {
                let msg = format!("archive nested deeper than {} levels", ctx.limits.max_depth);
                return if v.problem(&meta.location, kind::NESTING_TOO_DEEP, msg) {
                    Ok(())
                } else {
                    Err(Fail::Halt(Halt::Cancelled))
                };
            }
            if !v.enter(meta) {
                return Err(Fail::Halt(Halt::Cancelled));
            }
            let res = descend(ctx, meta, k, r, v);
            v.leave(meta);
            res
        }
    }
}

fn descend<'c>(
    ctx: &'c Ctx<'c>,
    meta: &EntryMeta,
    k: ArchiveKind,
    r: &mut dyn Read,
    v: &mut dyn Visitor,
) -> Result<(), Fail> {
    let depth = meta.depth + 1;
    // The member's content says what it is; its name was only the reason to look.
    let head = detect::read_head(r).map_err(Fail::Read)?;
    let k = match detect::sniff(&head) {
        Some(Magic::Zip) => ArchiveKind::Zip,
        Some(Magic::SevenZip) => ArchiveKind::SevenZip,
        Some(Magic::Rar) => ArchiveKind::Rar,
        Some(Magic::Tar) => ArchiveKind::Tar(Compression::None),
        Some(Magic::Compressed(c)) => match k {
            ArchiveKind::Single(_) => ArchiveKind::Single(c),
            _ => ArchiveKind::Tar(c),
        },
        None => k,
    };
    let mut r = Cursor::new(head).chain(r);
    if matches!(k, ArchiveKind::Tar(_) | ArchiveKind::Single(_)) {
        let name = normalize_member_path(&meta.raw_path);
        return walk_stream(ctx, &meta.location, name, k, Box::new(r), depth, meta.mtime, v).map_err(Fail::Halt);
    }
    let max = ctx.limits.max_member_bytes;
    let buf = match read_bounded(&mut r, max, meta.size) {
        Ok(Some(b)) => b,
        Ok(None) => {
            let msg = format!("nested archive larger than {max} bytes (max_member_bytes); not opened");
            return if v.problem(&meta.location, kind::TOO_LARGE, msg) {
                Ok(())
            } else {
                Err(Fail::Halt(Halt::Cancelled))
            };
        }
        Err(e) => return Err(Fail::Read(e)),
    };
    let loc = &meta.location;
    match k {
        ArchiveKind::SevenZip => {
            sevenz::walk(ctx, loc, Cursor::new(buf), None, depth, meta.mtime, v).map_err(Fail::Halt)
        }
        ArchiveKind::Rar => rar::walk_bytes(ctx, loc, &buf, depth, meta.mtime, v).map_err(Fail::Halt),
        _ => match zip::ZipArchive::new(Cursor::new(Arc::<[u8]>::from(buf))) {
            Ok(z) => walk_zip(ctx, loc, z, depth, meta.mtime, v).map_err(Fail::Halt),
            Err(e) => {
                let msg = format!("cannot open zip: {e}");
                if v.problem(loc, zip_kind(&e), msg) {
                    Ok(())
                } else {
                    Err(Fail::Halt(Halt::Cancelled))
                }
            }
        },
    }
}

/// Report a problem; `Err(Cancelled)` when the visitor wants to stop.
fn problem(v: &mut dyn Visitor, location: &str, kind: kind::ErrorKind, message: String) -> Result<(), Halt> {
    if v.problem(location, kind, message) {
        Ok(())
    } else {
        Err(Halt::Cancelled)
    }
}

/// Read all of `r` if it holds at most `max` bytes (`Ok(None)` otherwise, after reading `max + 1` bytes at most).
pub(crate) fn read_bounded(r: &mut dyn Read, max: u64, size_hint: Option<u64>) -> io::Result<Option<Vec<u8>>> {
    if size_hint.is_some_and(|s| s > max) {
        return Ok(None);
    }
    // The hint may lie; never trust it for more than a modest first allocation.
    let cap = size_hint.unwrap_or(64 * 1024).min(max).min(8 << 20) as usize;
    let mut buf = Vec::with_capacity(cap);
    r.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        Ok(None)
    } else {
        Ok(Some(buf))
    }
}

/// The inner name of a single compressed file: its base name without `.gz` / `.bz2` / `.xz`.
fn single_inner_name(name: &[u8]) -> Vec<u8> {
    let base = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    for suffix in [&b".gz"[..], b".bz2", b".xz", b".zst", b".lz4"] {
        if base.len() > suffix.len() && base[base.len() - suffix.len()..].eq_ignore_ascii_case(suffix) {
            return base[..base.len() - suffix.len()].to_vec();
        }
    }
    base.to_vec()
}

/// Unix seconds of a `SystemTime` (negative before 1970).
pub(crate) fn unix_secs(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// A zip DOS timestamp as unix seconds. DOS times carry no zone; they are read as UTC so the value is stable.
pub(crate) fn dos_to_unix(t: zip::DateTime) -> Option<i64> {
    if !t.is_valid() {
        return None;
    }
    let days = days_from_civil(i64::from(t.year()), i64::from(t.month()), i64::from(t.day()));
    Some(days * 86_400 + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second()))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with_long_names(final_meta_size: usize) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..5 {
            // Paths over 100 bytes make the builder emit GNU long-name ('L') entries.
            let path = format!("{}/{i}.mid", "long_folder_name_".repeat(10 + i));
            let mut h = tar::Header::new_gnu();
            h.set_size(700 * i as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, &vec![b'x'; 700 * i][..]).expect("append");
        }
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(final_meta_size as u64);
        h.set_cksum();
        b.append(&h, &vec![b'a'; final_meta_size][..]).expect("append");
        b.into_inner().expect("tar")
    }

    fn read_through(data: &[u8], max: u64, chunk: usize) -> io::Result<()> {
        let mut g = TarMetaGuard::new(data, max);
        let mut buf = vec![0u8; chunk];
        while g.read(&mut buf)? > 0 {}
        Ok(())
    }

    #[test]
    fn tar_meta_guard_stays_in_sync_and_trips_on_oversized_long_names() {
        let ok = tar_with_long_names(600);
        let bad = tar_with_long_names(5000);
        for chunk in [1, 7, 512, 4096, 1 << 20] {
            assert!(read_through(&ok, 1000, chunk).is_ok(), "chunk {chunk}");
            let e = read_through(&bad, 1000, chunk).expect_err("oversized long name");
            assert!(e.to_string().contains("type 'L'"), "{e}");
        }
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn dos_times() {
        let t = zip::DateTime::from_date_and_time(2019, 7, 1, 12, 30, 10).expect("valid date");
        assert_eq!(dos_to_unix(t), Some(1_561_984_210));
    }

    #[test]
    fn single_names() {
        assert_eq!(single_inner_name(b"dir/single.mid.gz"), b"single.mid");
        assert_eq!(single_inner_name(b"A.MID.BZ2"), b"A.MID");
        assert_eq!(single_inner_name(b"x.xz"), b"x");
        assert_eq!(single_inner_name(b".gz"), b".gz");
    }

    #[test]
    fn bounded_reads() {
        let mut r: &[u8] = b"0123456789";
        assert_eq!(read_bounded(&mut r, 10, None).ok().flatten().map(|v| v.len()), Some(10));
        let mut r: &[u8] = b"0123456789";
        assert!(matches!(read_bounded(&mut r, 9, None), Ok(None)));
        let mut r: &[u8] = b"0123456789";
        assert!(matches!(read_bounded(&mut r, 100, Some(1000)), Ok(None)));
    }
}
