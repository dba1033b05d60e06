//! 7z archives: each compression block decoded once, in order, and only if it holds a member someone wants; in an
//! archive on disk with several blocks, blocks are decoded ahead by worker threads (`sevenzahead.rs`).

use std::io::{self, Read, Seek};

use sevenz_rust2::{Archive, ArchiveEntry, BlockDecoder, Password};

use super::sevenzahead::{BlocksAhead, Recorded};
use super::zipahead::{AHEAD_BYTES, SharedFile};

use super::{
    Ctx, Decision, EntryKind, EntryMeta, Fail, Guard, Halt, Input, Visitor, member_location, problem, run, unix_secs,
};
use crate::source::kind;

/// Windows attribute bit 7-Zip sets when the high 16 bits hold a Unix mode.
const UNIX_EXTENSION: u32 = 0x8000;
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// The error kind of a 7z error: encryption and unsupported methods are no damage.
fn error_kind(e: &sevenz_rust2::Error) -> kind::ErrorKind {
    use sevenz_rust2::Error as E;
    match e {
        E::PasswordRequired | E::MaybeBadPassword(_) => kind::ENCRYPTED,
        E::UnsupportedCompressionMethod(_)
        | E::Unsupported(_)
        | E::ExternalUnsupported
        | E::UnsupportedVersion { .. } => kind::UNSUPPORTED_METHOD,
        _ => kind::ARCHIVE_CORRUPT,
    }
}

fn entry_meta(location: &str, f: &ArchiveEntry, depth: u32, container_mtime: i64) -> EntryMeta {
    let raw_path = f.name.as_bytes().to_vec();
    let attr = f.windows_attributes;
    let unix_mode = (f.has_windows_attributes && attr & UNIX_EXTENSION != 0).then_some(attr >> 16);
    let kind = if f.is_anti_item {
        EntryKind::Meta
    } else if f.is_directory {
        EntryKind::Dir
    } else if unix_mode.is_some_and(|m| m & S_IFMT == S_IFLNK) {
        EntryKind::Symlink(Vec::new())
    } else {
        EntryKind::File
    };
    let mtime = if f.has_last_modified_date {
        unix_secs(std::time::SystemTime::from(f.last_modified_date))
    } else {
        container_mtime
    };
    EntryMeta {
        location: member_location(location, &raw_path),
        raw_path,
        kind,
        size: Some(f.size),
        mtime,
        depth,
    }
}

/// Walk a 7z archive held by `src` (a file or a buffered nested member); `shared`, when given, reads the same
/// bytes for worker threads decoding blocks ahead.
#[allow(clippy::too_many_arguments)]
pub(super) fn walk<'c, R: Read + Seek>(
    ctx: &'c Ctx<'c>,
    location: &str,
    mut src: R,
    shared: Option<SharedFile<'_>>,
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let password = Password::empty();
    let archive = match Archive::read(&mut src, &password) {
        Ok(a) => a,
        Err(e) => {
            let k = ctx.or_io(error_kind(&e));
            return problem(v, location, k, format!("cannot open 7z: {e}"));
        }
    };
    // Folders and empty files carry no data.
    for (i, f) in archive.files.iter().enumerate() {
        if archive.stream_map.file_block_index[i].is_some() {
            continue;
        }
        let meta = entry_meta(location, f, depth, container_mtime);
        let d = v.decide(&meta);
        match run(ctx, &meta, d, &mut io::empty(), v) {
            Ok(()) => {}
            Err(Fail::Halt(h)) => return Err(h),
            Err(Fail::Read(e)) => ctx.report(v, &meta.location, &e)?,
        }
    }
    let encrypted = (0..archive.files.len())
        .filter(|&i| archive.stream_map.file_block_index[i].is_some() && archive.is_file_encrypted(i))
        .count();
    if encrypted > 0 {
        let msg = format!(
            "{} of {} {} encrypted; not read (no password is ever asked)",
            crate::human::count(encrypted),
            crate::human::counted(archive.files.len(), "member"),
            if encrypted == 1 { "is" } else { "are" }
        );
        problem(v, location, kind::ENCRYPTED, msg)?;
    }
    let mut state = BlockState {
        // The ratio bound is taken over the whole archive: a solid block gives no per-member compressed size.
        packed: archive.pack_sizes().iter().sum(),
        out: 0,
        method_reported: false,
    };
    let wanted = blocks_ahead(&archive, location, depth, container_mtime, &*v, AHEAD_BYTES);
    let threads = crate::machine::cores();
    match shared {
        Some(shared) if threads >= 2 && wanted.len() >= 2 => std::thread::scope(|s| {
            let mut ahead = BlocksAhead::start(s, &archive, &shared, threads, wanted, AHEAD_BYTES);
            let r = walk_blocks(
                ctx,
                location,
                &archive,
                &mut src,
                Some(&mut ahead),
                depth,
                container_mtime,
                &mut state,
                v,
            );
            ahead.stop();
            r
        }),
        _ => walk_blocks(
            ctx,
            location,
            &archive,
            &mut src,
            None,
            depth,
            container_mtime,
            &mut state,
            v,
        ),
    }
}

/// The blocks worth decoding ahead (index, declared output bytes): not encrypted, declaring at most `budget`
/// bytes, and holding a member the visitor will read whole.
fn blocks_ahead(
    archive: &Archive,
    location: &str,
    depth: u32,
    container_mtime: i64,
    v: &dyn Visitor,
    budget: u64,
) -> Vec<(usize, u64)> {
    let mut wanted = Vec::new();
    for b in 0..archive.blocks.len() {
        let entries = block_entries(archive, b);
        let first = archive.stream_map.block_first_file_index[b];
        let declared: u64 = entries.iter().map(|f| f.size).sum();
        let size = declared.max(archive.blocks[b].get_unpack_size());
        if first >= archive.files.len() || archive.is_file_encrypted(first) || size > budget {
            continue;
        }
        let useful = entries
            .iter()
            .any(|f| f.has_stream && v.prefetch(&entry_meta(location, f, depth, container_mtime)));
        if useful {
            wanted.push((b, size));
        }
    }
    wanted
}

/// The members of block `b`, as its decoder hands them out (empty members between two with data included).
fn block_entries(archive: &Archive, b: usize) -> &[ArchiveEntry] {
    let map = &archive.stream_map;
    let Some(&first) = map.block_first_file_index.get(b) else {
        return &[];
    };
    let end = (first..archive.files.len())
        .rev()
        .find(|&i| map.file_block_index.get(i).copied().flatten() == Some(b))
        .map_or(first, |i| i + 1);
    &archive.files[first..end]
}

/// Every block in order, each decoded here or taken from the workers ahead.
#[allow(clippy::too_many_arguments)]
fn walk_blocks<'c, R: Read + Seek>(
    ctx: &'c Ctx<'c>,
    location: &str,
    archive: &Archive,
    src: &mut R,
    mut ahead: Option<&mut BlocksAhead>,
    depth: u32,
    container_mtime: i64,
    state: &mut BlockState,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let password = Password::empty();
    for b in 0..archive.blocks.len() {
        let first = archive.stream_map.block_first_file_index[b];
        if archive.is_file_encrypted(first) {
            continue;
        }
        let block = match ahead.as_deref_mut().and_then(|a| a.take(b)) {
            Some(rec) => Block::Replay(block_entries(archive, b), rec),
            None => Block::Live(BlockDecoder::new(1, b, archive, &password, &mut *src)),
        };
        walk_block(ctx, location, block, depth, container_mtime, state, v)?;
    }
    Ok(())
}

/// One block's members: decoded here, or as a worker decoded them.
enum Block<'a, R: Read + Seek> {
    Live(BlockDecoder<'a, R>),
    Replay(&'a [ArchiveEntry], Recorded),
}

impl<R: Read + Seek> Block<'_, R> {
    fn entries(&self) -> &[ArchiveEntry] {
        match self {
            Block::Live(d) => d.entries(),
            Block::Replay(e, _) => e,
        }
    }

    fn for_each_entries(
        self,
        each: &mut dyn FnMut(&ArchiveEntry, &mut dyn Read) -> Result<bool, sevenz_rust2::Error>,
    ) -> Result<bool, sevenz_rust2::Error> {
        match self {
            Block::Live(d) => d.for_each_entries(&mut |f, r| each(f, r)),
            Block::Replay(entries, rec) => rec.replay(entries, each),
        }
    }
}

struct BlockState {
    packed: u64,
    /// Bytes inflated so far from this archive.
    out: u64,
    /// An unsupported method is reported once per archive, not once per block.
    method_reported: bool,
}

/// Decode one block up to its last wanted member; members before it are inflated (a solid block has no other
/// way there) through the guard, so bombs in them are counted too.
fn walk_block<'c, R: Read + Seek>(
    ctx: &'c Ctx<'c>,
    location: &str,
    dec: Block<'_, R>,
    depth: u32,
    container_mtime: i64,
    st: &mut BlockState,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let mut plan: Vec<(EntryMeta, Decision)> = Vec::with_capacity(dec.entries().len());
    for f in dec.entries() {
        if !f.has_stream {
            plan.push((entry_meta(location, f, depth, container_mtime), Decision::Ignore));
            continue;
        }
        let meta = entry_meta(location, f, depth, container_mtime);
        let d = v.decide(&meta);
        if d == Decision::Stop {
            return Err(Halt::Cancelled);
        }
        plan.push((meta, d));
    }
    let Some(last) = plan.iter().rposition(|(_, d)| *d != Decision::Ignore) else {
        return Ok(());
    };
    let mut next = 0usize;
    let mut failure: Option<(usize, Fail)> = None;
    let (packed, mut out) = (st.packed, st.out);
    let res = dec.for_each_entries(&mut |f: &ArchiveEntry, r: &mut dyn Read| {
        let i = next;
        next += 1;
        let Some((meta, d)) = plan.get(i) else {
            return Ok(false);
        };
        if !f.has_stream {
            return Ok(i < last);
        }
        let mut g = Guard {
            inner: r,
            out,
            input: Input::Fixed(packed),
            ctx,
        };
        let res = match d {
            Decision::Ignore => io::copy(&mut g, &mut io::sink()).map(|_| ()).map_err(Fail::Read),
            _ => run(ctx, meta, *d, &mut g, v),
        };
        out = g.out;
        match res {
            Ok(()) => Ok(i < last),
            Err(e) => {
                failure = Some((i, e));
                Ok(false)
            }
        }
    });
    st.out = out;
    match (failure, res) {
        (Some((_, Fail::Halt(h))), _) => Err(h),
        (Some((i, Fail::Read(e))), _) => {
            let rest = if i < last { " (rest of this block not read)" } else { "" };
            let e = io::Error::new(e.kind(), format!("{e}{rest}"));
            let at = plan.get(i).map_or(location, |(m, _)| m.location.as_str());
            ctx.report(v, at, &e)
        }
        (None, Err(e)) => {
            let k = ctx.or_io(error_kind(&e));
            if k == kind::UNSUPPORTED_METHOD {
                if st.method_reported {
                    return Ok(());
                }
                st.method_reported = true;
            }
            // Before the first member: the block could not even be set up (method, password).
            let at = next
                .checked_sub(1)
                .and_then(|i| plan.get(i))
                .map_or(location, |(m, _)| m.location.as_str());
            problem(v, at, k, e.to_string())
        }
        (None, Ok(_)) => Ok(()),
    }
}
