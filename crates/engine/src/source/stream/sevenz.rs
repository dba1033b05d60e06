//! 7z archives: each compression block decoded once, in order, and only if it holds a member someone wants.

use std::io::{self, Read, Seek};

use sevenz_rust2::{Archive, ArchiveEntry, BlockDecoder, Password};

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

/// Walk a 7z archive held by `src` (a file or a buffered nested member).
pub(super) fn walk<'c, R: Read + Seek>(
    ctx: &'c Ctx<'c>,
    location: &str,
    mut src: R,
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
            "{encrypted} of {} members are encrypted; not read (no password is ever asked)",
            archive.files.len()
        );
        problem(v, location, kind::ENCRYPTED, msg)?;
    }
    let mut state = BlockState {
        // The ratio bound is taken over the whole archive: a solid block gives no per-member compressed size.
        packed: archive.pack_sizes().iter().sum(),
        out: 0,
        method_reported: false,
    };
    for b in 0..archive.blocks.len() {
        let first = archive.stream_map.block_first_file_index[b];
        if archive.is_file_encrypted(first) {
            continue;
        }
        let dec = BlockDecoder::new(1, b, &archive, &password, &mut src);
        walk_block(ctx, location, dec, depth, container_mtime, &mut state, v)?;
    }
    Ok(())
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
    dec: BlockDecoder<'_, R>,
    depth: u32,
    container_mtime: i64,
    st: &mut BlockState,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let mut plan: Vec<(EntryMeta, Decision)> = Vec::with_capacity(dec.entry_count());
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
