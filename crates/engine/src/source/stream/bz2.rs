//! `.bz2` decoding in parallel, as lbzip2 does: blocks found by their 48-bit magic, decoded on worker threads,
//! handed out in order.
//!
//! A bzip2 stream is a header (`BZh1`..`BZh9`), blocks that each start with the bit-aligned magic `0x314159265359`
//! and carry their own CRC, and an end-of-stream magic `0x177245385090` with the CRC of the whole stream. The
//! compressed bits between two magics are one block: a worker decodes them with our own block decoder
//! (`block.rs`, which checks the block CRC and that the block ends exactly at the next magic). libbz2 stays the
//! reference: the tests compare the two on every kind of input, and it decodes the rare block written with bzip2
//! 0.9's randomisation and streams a block too large to buffer (re-framed as a one-block stream: header, the
//! block's bits, an end marker carrying the block's CRC).
//! The calling thread reads the input, finds the magics, hands out the blocks in order and checks every stream
//! CRC (combined from the block CRCs, as libbz2 does).
//!
//! The magic can also occur by chance inside compressed data. Such a false boundary cuts a real block in two,
//! and neither part decodes: when a block fails, the calling thread joins it with the next piece and decodes again
//! until it succeeds, so a false match costs time, never bytes. A block that decodes with its CRC intact ends
//! exactly where the next magic begins, which is why every boundary after a good block is a real one. Only data
//! that no joining can decode is reported, with the first error.
//!
//! Memory is bounded whatever the stream's size: a few blocks in flight (a block holds at most ~2.3 MB of
//! compressed bits), and a block whose output passes [`WORKER_OUTPUT_CAP`] (bzip2's run-length stage lets one
//! block inflate to ~46 MB) is not buffered but streamed from the calling thread, through the caller's bomb guard.

use memchr::memmem::Finder;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Cursor, Read};

use super::ahead::{Bounds, Lost, OrderedAhead};
use block::{BlockDecoder, BlockError};

const BLOCK_MAGIC: u64 = 0x3141_5926_5359;
const EOS_MAGIC: u64 = 0x1772_4538_5090;
/// Compressed bits one block can take at most: 900,001 symbols of at most 20 bits, plus tables (rounded up).
const MAX_BLOCK_BITS: u64 = 24 << 20;
/// Output a worker buffers for one block; a block inflating past it is streamed by the calling thread instead.
pub(crate) const WORKER_OUTPUT_CAP: usize = 8 << 20;
/// Bytes of input read at a time.
const READ_CHUNK: usize = 1 << 20;

/// A parallel bzip2 decoder over `r` with up to `threads` worker threads (started only for multi-block input).
pub(crate) fn decoder<'a>(r: Box<dyn Read + 'a>, threads: usize) -> Box<dyn Read + 'a> {
    Box::new(ParBz2::new(r, threads.max(1), false))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    Block,
    End,
}

/// Where the decoder stands in the input: the next thing at `bit` is a stream header (byte-aligned) or a magic.
#[derive(Debug, Clone, Copy)]
struct Position {
    bit: u64,
    at_header: bool,
    level: u8,
}

/// One block to decode: bits `start..end` of the input (`end` is the next magic, of kind `end_kind`).
#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    start: u64,
    end: u64,
    end_kind: Magic,
    level: u8,
    crc: u32,
    /// A stream with no block at all (`start == end`): nothing to decode.
    empty: bool,
    /// Its number in the worker pool, when a worker decodes it.
    ticket: Option<u64>,
}

/// Why a block did not decode in a worker.
#[derive(Debug)]
enum Failure {
    /// The bits are not one valid block (corrupt, or cut at a false magic).
    Bad(String),
    /// Valid so far, but it inflates past the worker's cap: stream it instead.
    TooBig,
}

type Outcome = Result<Vec<u8>, Failure>;

struct Job {
    level: u8,
    /// Input bytes from the byte holding the segment's first bit.
    bytes: Vec<u8>,
    first_bit: u8,
    bits: u64,
    crc: u32,
}

/// Blocks handed to the workers and not yet taken back, per worker: the planner keeps at most two per worker live,
/// and a re-plan may leave as many given up but still in a worker's hands.
const JOBS_PER_WORKER: usize = 4;

/// Worker threads decoding blocks (`bunzip-N`), each with its own block decoder; `None` when none can start.
fn start_pool(threads: usize) -> Option<OrderedAhead<Job, Outcome>> {
    let workers = (0..threads)
        .map(|_| {
            let mut dec = BlockDecoder::new();
            move |job: Job| {
                let at = BlockAt {
                    bytes: &job.bytes,
                    first_bit: u64::from(job.first_bit),
                    bits: job.bits,
                    level: job.level,
                    crc: job.crc,
                };
                at.decode(&mut dec, WORKER_OUTPUT_CAP)
            }
        })
        .collect();
    let jobs = threads * JOBS_PER_WORKER;
    // A job holds at most one block's compressed bits (and its worker at most WORKER_OUTPUT_CAP of output).
    let bounds = Bounds {
        jobs,
        bytes: jobs as u64 * MAX_BLOCK_BITS.div_ceil(8),
    };
    OrderedAhead::threads("bunzip", workers, bounds)
}

struct ParBz2<'a> {
    input: Box<dyn Read + 'a>,
    eof: bool,
    /// Input bytes from absolute byte `base` on.
    win: Vec<u8>,
    base: u64,
    /// Bytes before this absolute offset have been searched for magics.
    scanned: u64,
    /// Magics found (absolute bit positions, ascending), from `done.bit` on.
    magics: VecDeque<(u64, Magic)>,
    finders: Vec<(Finder<'static>, u64, Magic)>,
    /// What has been handed out, and what has been planned (dispatched) ahead of it.
    done: Position,
    plan: Position,
    /// The stream CRC so far, combined from the handed-out blocks.
    combined: u32,
    plan_finished: bool,
    pending: VecDeque<Segment>,
    results: BTreeMap<u64, Outcome>,
    next_seq: u64,
    threads: usize,
    pool: Option<OrderedAhead<Job, Outcome>>,
    /// Tests: decode every block on workers, even a lone one.
    force_pool: bool,
    out: Vec<u8>,
    out_pos: usize,
    /// A block too large to buffer, streamed here; its segment is finished when it ends.
    streaming: Option<(Box<dyn Read>, Segment)>,
    failed: Option<(io::ErrorKind, String)>,
    /// Blocks that decoded only once joined across a false magic (tests look at it).
    rejoins: u64,
    /// Decodes blocks on the calling thread (a lone block, a rejoined one).
    local: BlockDecoder,
}

impl<'a> ParBz2<'a> {
    fn new(input: Box<dyn Read + 'a>, threads: usize, force_pool: bool) -> Self {
        let mut finders = Vec::new();
        for (magic, kind) in [(BLOCK_MAGIC, Magic::Block), (EOS_MAGIC, Magic::End)] {
            for shift in 0..8u64 {
                // The magic starting `shift` bits into a byte: bytes 1..=5 of it are whole (byte 0 too at shift 0).
                let v = magic << (16 - shift);
                let bytes = v.to_be_bytes();
                let needle = if shift == 0 { &bytes[0..6] } else { &bytes[1..6] };
                finders.push((Finder::new(needle).into_owned(), shift, kind));
            }
        }
        let start = Position {
            bit: 0,
            at_header: true,
            level: b'9',
        };
        ParBz2 {
            input,
            eof: false,
            win: Vec::new(),
            base: 0,
            scanned: 0,
            magics: VecDeque::new(),
            finders,
            done: start,
            plan: start,
            combined: 0,
            plan_finished: false,
            pending: VecDeque::new(),
            results: BTreeMap::new(),
            next_seq: 0,
            threads,
            pool: None,
            force_pool,
            out: Vec::new(),
            out_pos: 0,
            streaming: None,
            failed: None,
            rejoins: 0,
            local: BlockDecoder::new(),
        }
    }

    fn win_end(&self) -> u64 {
        self.base + self.win.len() as u64
    }

    /// `n` bits (at most 64) at absolute bit `bit`, if the window holds them.
    fn bits(&self, bit: u64, n: u32) -> Option<u64> {
        let end = bit + u64::from(n);
        if bit / 8 < self.base || end.div_ceil(8) > self.win_end() {
            return None;
        }
        Some(read_bits(&self.win, bit - self.base * 8, n))
    }

    /// Read one more chunk of input and search it for magics; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let old = self.win.len();
        self.win.resize(old + READ_CHUNK, 0);
        let n = loop {
            match self.input.read(&mut self.win[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.win.truncate(old);
                    return Err(e);
                }
            }
        };
        self.win.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        self.scan();
        Ok(n > 0)
    }

    /// Search the bytes added since the last scan for magics (a match needs 7 bytes; the last 6 wait for more).
    fn scan(&mut self) {
        let end = if self.eof {
            self.win_end()
        } else {
            self.win_end().saturating_sub(6)
        };
        if end <= self.scanned {
            return;
        }
        // A match whose needle starts at byte `p` begins in byte p-1 (or p, unshifted): search from one byte back.
        let from = self.scanned.saturating_sub(1).max(self.base);
        let region_end = (end + 6).min(self.win_end());
        let region = &self.win[(from - self.base) as usize..(region_end - self.base) as usize];
        let mut found = Vec::new();
        for (finder, shift, kind) in &self.finders {
            for p in finder.find_iter(region) {
                let Some(at_byte) = (from + p as u64).checked_sub(u64::from(*shift != 0)) else {
                    continue;
                };
                let bit = at_byte * 8 + shift;
                if at_byte >= self.scanned.max(self.base) && at_byte < end {
                    found.push((bit, *kind));
                }
            }
        }
        found.sort_unstable_by_key(|f| f.0);
        let magic = |k: Magic| if k == Magic::Block { BLOCK_MAGIC } else { EOS_MAGIC };
        for (bit, kind) in found {
            if self.bits(bit, 48) == Some(magic(kind)) && self.magics.back().is_none_or(|l| l.0 < bit) {
                self.magics.push_back((bit, kind));
            }
        }
        self.scanned = end;
    }

    /// The first magic at or after `bit`, reading more input as needed; `Ok(None)` at the end of the input or when
    /// none can be a block's end any more.
    fn magic_from(&mut self, bit: u64, limit: u64) -> io::Result<Option<(u64, Magic)>> {
        loop {
            if let Some(&m) = self.magics.iter().find(|m| m.0 >= bit) {
                return Ok((m.0 <= limit).then_some(m));
            }
            if self.scanned * 8 > limit || !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Plan (and dispatch) blocks until enough are in flight. Errors of the input end the planning.
    fn plan_ahead(&mut self) -> io::Result<()> {
        let ahead = if self.pool.is_some() || self.force_pool {
            self.threads * 2
        } else {
            1
        };
        while !self.plan_finished && self.pending.len() < ahead.max(1) {
            if !self.plan_one()? {
                break;
            }
        }
        Ok(())
    }

    /// Plan one segment; false when planning cannot go on (the end, or an error that `done` will meet there).
    fn plan_one(&mut self) -> io::Result<bool> {
        let mut at = self.plan;
        if at.at_header {
            while self.win_end() < at.bit / 8 + 4 && self.fill()? {}
            // The end of the input (fine between streams), or a damaged header: `finish_input` tells which.
            let Some(head) = self.bits(at.bit, 32) else {
                self.plan_finished = true;
                return Ok(false);
            };
            let level = (head & 0xff) as u8;
            if head >> 8 != 0x42_5a_68 || !(b'1'..=b'9').contains(&level) {
                self.plan_finished = true;
                return Ok(false);
            }
            at = Position {
                bit: at.bit + 32,
                at_header: false,
                level,
            };
        }
        while self.bits(at.bit, 48).is_none() && self.fill()? {}
        let first = match self.bits(at.bit, 48) {
            Some(BLOCK_MAGIC) => Magic::Block,
            Some(EOS_MAGIC) => Magic::End,
            _ => {
                self.plan_finished = true;
                return Ok(false);
            }
        };
        let seg = if first == Magic::End {
            Segment {
                seq: self.next_seq,
                start: at.bit,
                end: at.bit,
                end_kind: Magic::End,
                level: at.level,
                crc: 0,
                empty: true,
                ticket: None,
            }
        } else {
            let Some((end, end_kind)) = self.magic_from(at.bit + 48, at.bit + MAX_BLOCK_BITS)? else {
                self.plan_finished = true;
                return Ok(false);
            };
            let crc = self.bits(at.bit + 48, 32).unwrap_or(0) as u32;
            Segment {
                seq: self.next_seq,
                start: at.bit,
                end,
                end_kind,
                level: at.level,
                crc,
                empty: false,
                ticket: None,
            }
        };
        self.next_seq += 1;
        self.plan = match seg.end_kind {
            Magic::Block => Position {
                bit: seg.end,
                at_header: false,
                level: seg.level,
            },
            // After the end magic: the stream CRC, padding to a byte, then perhaps another stream.
            Magic::End => Position {
                bit: (seg.end + 80).div_ceil(8) * 8,
                at_header: true,
                level: seg.level,
            },
        };
        self.dispatch(seg)?;
        Ok(true)
    }

    fn dispatch(&mut self, mut seg: Segment) -> io::Result<()> {
        if seg.empty {
            self.pending.push_back(seg);
            self.results.insert(seg.seq, Ok(Vec::new()));
            return Ok(());
        }
        // Whether the input ends with this block's stream is only known once a read says so.
        if !self.eof && seg.end_kind == Magic::End && self.win_end() * 8 <= seg.end + 80 + 8 {
            self.fill()?;
        }
        // A lone block (all the input seen, nothing after it) is decoded right here: no threads for small files.
        let lone = self.eof && seg.end_kind == Magic::End && self.win_end() * 8 <= seg.end + 80 + 8;
        if !lone || self.force_pool {
            if self.pool.is_none() {
                self.pool = start_pool(self.threads);
            }
            let bytes = seg.end.div_ceil(8) - seg.start / 8;
            if self.pool.as_mut().is_some_and(|p| p.room(bytes)) {
                let job = self.job(&seg);
                if let Some(Ok(ticket)) = self.pool.as_mut().map(|p| p.submit(job, bytes)) {
                    seg.ticket = Some(ticket);
                    self.pending.push_back(seg);
                    return Ok(());
                }
            }
        }
        // No worker to be had (or none free): decode on the calling thread instead.
        let outcome = BlockAt::of(&self.win, self.base, &seg).decode(&mut self.local, WORKER_OUTPUT_CAP);
        self.pending.push_back(seg);
        self.results.insert(seg.seq, outcome);
        Ok(())
    }

    /// Where segment `seg` lies in the window.
    fn at(&self, seg: &Segment) -> BlockAt<'_> {
        BlockAt::of(&self.win, self.base, seg)
    }

    fn job(&self, seg: &Segment) -> Job {
        let from = (seg.start / 8 - self.base) as usize;
        let to = (seg.end.div_ceil(8) - self.base) as usize;
        Job {
            level: seg.level,
            bytes: self.win[from..to].to_vec(),
            first_bit: (seg.start % 8) as u8,
            bits: seg.end - seg.start,
            crc: seg.crc,
        }
    }

    /// The outcome of the oldest pending segment (waiting for its worker).
    fn outcome(&mut self, seg: &Segment) -> Outcome {
        if let Some(r) = self.results.remove(&seg.seq) {
            return r;
        }
        let taken = seg.ticket.zip(self.pool.as_mut()).and_then(|(t, p)| p.take(t));
        match taken {
            Some(Ok(r)) => r,
            Some(Err(Lost::Panicked)) => Err(Failure::Bad("bzip2 block decoder failed".into())),
            Some(Err(Lost::Gone)) => Err(Failure::Bad("bzip2 decoder threads stopped".into())),
            None => Err(Failure::Bad("bzip2 block lost".into())),
        }
    }

    /// Hand out the next block: into `out`, or as the streamed block. `Ok(false)` at the end of the input.
    fn next_block(&mut self) -> io::Result<bool> {
        self.plan_ahead()?;
        let Some(seg) = self.pending.pop_front() else {
            return self.finish_input();
        };
        if seg.start != self.done.bit && !(self.done.at_header && seg.start == self.done.bit + 32) {
            // Planning and handing out disagree (cannot happen after a consistent plan): re-plan from here.
            self.replan();
            return Ok(true);
        }
        match self.outcome(&seg) {
            Ok(data) => {
                self.out = data;
                self.out_pos = 0;
                self.block_done(&seg)?;
            }
            Err(Failure::TooBig) => {
                let framed = self.at(&seg).framed();
                let r: Box<dyn Read> = Box::new(bzip2::read::BzDecoder::new(Cursor::new(framed)));
                self.streaming = Some((r, seg));
            }
            Err(Failure::Bad(msg)) => self.rejoin(seg, msg)?,
        }
        Ok(true)
    }

    /// Bookkeeping after block `seg` was handed out whole: CRCs, and where the next thing starts.
    fn block_done(&mut self, seg: &Segment) -> io::Result<()> {
        if !seg.empty {
            self.combined = self.combined.rotate_left(1) ^ seg.crc;
        }
        match seg.end_kind {
            Magic::Block => {
                self.done = Position {
                    bit: seg.end,
                    at_header: false,
                    level: seg.level,
                };
            }
            Magic::End => {
                while self.bits(seg.end + 48, 32).is_none() && self.fill()? {}
                let stored = self.bits(seg.end + 48, 32).ok_or_else(truncated)? as u32;
                if stored != self.combined {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "bzip2 stream CRC mismatch (stored {stored:08x}, computed {:08x})",
                            self.combined
                        ),
                    ));
                }
                self.combined = 0;
                self.done = Position {
                    bit: (seg.end + 80).div_ceil(8) * 8,
                    at_header: true,
                    level: seg.level,
                };
            }
        }
        self.drop_consumed();
        Ok(())
    }

    /// Block `seg` did not decode: join it with the following pieces (a false magic may have cut it) until it
    /// does, or fail with the first error when no joining can.
    fn rejoin(&mut self, seg: Segment, first_error: String) -> io::Result<()> {
        let mut from = seg.end + 1;
        loop {
            let Some((end, end_kind)) = self.magic_from(from, seg.start + MAX_BLOCK_BITS)? else {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, first_error));
            };
            let joined = Segment { end, end_kind, ..seg };
            if let Ok(data) = BlockAt::of(&self.win, self.base, &joined).decode(&mut self.local, usize::MAX) {
                self.rejoins += 1;
                self.out = data;
                self.out_pos = 0;
                self.block_done(&joined)?;
                self.replan();
                return Ok(());
            }
            from = end + 1;
        }
    }

    /// Forget every planned block and plan again from what was handed out.
    fn replan(&mut self) {
        self.pending.clear();
        self.results.clear();
        if let Some(pool) = &mut self.pool {
            pool.forget_all();
        }
        self.plan = self.done;
        self.plan_finished = false;
    }

    /// Nothing more was planned: the input must end here (after whole streams), or it is damaged.
    fn finish_input(&mut self) -> io::Result<bool> {
        if !self.done.at_header {
            while self.bits(self.done.bit, 48).is_none() && self.fill()? {}
            return Err(match self.bits(self.done.bit, 48) {
                None => truncated(),
                Some(_) => io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "bzip2 block boundary not found (damaged data)",
                ),
            });
        }
        while !self.eof && self.win_end() <= self.done.bit / 8 {
            self.fill()?;
        }
        let rest = self.win_end().saturating_sub(self.done.bit / 8);
        if self.done.bit == 0 && rest == 0 {
            return Err(truncated());
        }
        if rest == 0 {
            return Ok(false);
        }
        Err(io::Error::new(io::ErrorKind::InvalidInput, "bzip2: bz2 header missing"))
    }

    /// Drop input bytes no segment needs any more (in large steps, to keep copying rare).
    fn drop_consumed(&mut self) {
        let keep = self.done.bit / 8;
        let n = keep.saturating_sub(self.base) as usize;
        if n >= (4 << 20).min(self.win.len()) && n > 0 {
            self.win.drain(..n);
            self.base += n as u64;
        }
        while self.magics.front().is_some_and(|m| m.0 < self.done.bit) {
            self.magics.pop_front();
        }
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed = Some((e.kind(), e.to_string()));
        self.pool = None;
        e
    }
}

impl Read for ParBz2<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if let Some((r, seg)) = &mut self.streaming {
                let seg = *seg;
                match r.read(buf) {
                    Ok(0) => {
                        self.streaming = None;
                        if let Err(e) = self.block_done(&seg) {
                            return Err(self.fail(e));
                        }
                        continue;
                    }
                    Ok(n) => return Ok(n),
                    Err(e) => return Err(self.fail(e)),
                }
            }
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => return Err(self.fail(e)),
            }
        }
    }
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "bzip2 stream ends early")
}

/// `n` (at most 64) bits of `bytes` from bit `bit` on, most significant first, as a number.
fn read_bits(bytes: &[u8], bit: u64, n: u32) -> u64 {
    let mut v: u64 = 0;
    let mut got = 0u32;
    let mut pos = bit;
    while got < n {
        let byte = bytes[(pos / 8) as usize];
        let off = (pos % 8) as u32;
        let take = (8 - off).min(n - got);
        let chunk = (u64::from(byte) >> (8 - off - take)) & ((1u64 << take) - 1);
        v = (v << take) | chunk;
        got += take;
        pos += u64::from(take);
    }
    v
}

/// Appends bits to a byte buffer, most significant first.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn push(&mut self, value: u64, bits: u32) {
        for i in (0..bits).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

/// A one-block bzip2 stream: header for `level`, the block's `bits` bits (from bit `first_bit` of `bytes`), and an
/// end marker whose stream CRC is the block's own (a one-block stream's combined CRC is its block CRC).
fn frame(level: u8, bytes: &[u8], first_bit: u64, bits: u64, crc: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(bits.div_ceil(8) as usize + 16);
    out.extend_from_slice(&[b'B', b'Z', b'h', level]);
    let whole = bits / 8;
    let s = first_bit as u32;
    if s == 0 {
        out.extend_from_slice(&bytes[..whole as usize]);
    } else {
        out.extend(
            bytes
                .windows(2)
                .take(whole as usize)
                .map(|w| (w[0] << s) | (w[1] >> (8 - s))),
        );
    }
    let mut w = BitWriter { out, acc: 0, n: 0 };
    let rest = (bits % 8) as u32;
    if rest > 0 {
        w.push(read_bits(bytes, first_bit + whole * 8, rest), rest);
    }
    w.push(EOS_MAGIC, 48);
    w.push(u64::from(crc), 32);
    w.finish()
}

/// One block's bits in a byte slice.
struct BlockAt<'a> {
    /// From the byte holding the block's first bit.
    bytes: &'a [u8],
    first_bit: u64,
    bits: u64,
    level: u8,
    crc: u32,
}

impl<'w> BlockAt<'w> {
    /// Segment `seg` in the window `win`, which starts at absolute byte `base`.
    fn of(win: &'w [u8], base: u64, seg: &Segment) -> Self {
        let from = (seg.start / 8 - base) as usize;
        let to = (seg.end.div_ceil(8) - base) as usize;
        BlockAt {
            bytes: &win[from..to],
            first_bit: seg.start % 8,
            bits: seg.end - seg.start,
            level: seg.level,
            crc: seg.crc,
        }
    }

    /// The block framed as a one-block stream, for libbz2.
    fn framed(&self) -> Vec<u8> {
        frame(self.level, self.bytes, self.first_bit, self.bits, self.crc)
    }

    /// Decode with our block decoder; a randomised block (bzip2 0.9) goes to libbz2.
    fn decode(&self, dec: &mut BlockDecoder, cap: usize) -> Outcome {
        let mut out = Vec::with_capacity(self.bits as usize / 8 * 4);
        match dec.decode(self.bytes, self.first_bit, self.bits, self.level, &mut out, cap) {
            Ok(_) => Ok(out),
            Err(BlockError::TooBig) => Err(Failure::TooBig),
            Err(BlockError::Bad(msg)) => Err(Failure::Bad(msg.into())),
            Err(BlockError::Randomised) => decode_block_libbz2(&self.framed(), cap),
        }
    }
}

/// Decode a framed one-block stream with libbz2; output past `cap` bytes gives up with `TooBig`.
fn decode_block_libbz2(framed: &[u8], cap: usize) -> Outcome {
    let mut d = bzip2::Decompress::new(false);
    let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        if out.len() == out.capacity() {
            if out.len() >= cap {
                return Err(Failure::TooBig);
            }
            out.reserve((1 << 20).min(cap - out.len()));
        }
        let (in_before, out_before) = (d.total_in(), out.len());
        let at = (in_before as usize).min(framed.len());
        match d.decompress_vec(&framed[at..], &mut out) {
            Ok(bzip2::Status::StreamEnd) => {
                return if d.total_in() as usize == framed.len() {
                    Ok(out)
                } else {
                    Err(Failure::Bad("bzip2 block ends before its boundary".into()))
                };
            }
            Ok(_) if d.total_in() == in_before && out.len() == out_before => {
                return Err(Failure::Bad("bzip2 block is cut short".into()));
            }
            Ok(_) => {}
            Err(e) => return Err(Failure::Bad(e.to_string())),
        }
    }
}

mod block;
#[cfg(test)]
mod tests;
