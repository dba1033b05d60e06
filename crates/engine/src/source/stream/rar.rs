//! RAR archives (RAR4 and RAR5, solid, multi-volume) through the reference unrar library, which reads from files.

use std::io::{self, Cursor, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use unrar::error::{Code, UnrarError, When};
use unrar::{Archive, VolumeInfo};

use super::{
    Ctx, Decision, EntryKind, EntryMeta, Fail, Guard, Halt, Input, Visitor, dos_to_unix, member_location, problem, run,
};
use crate::source::kind;
use crate::source::location::os_bytes;

fn error_kind(e: &UnrarError) -> kind::ErrorKind {
    match (e.code, e.when) {
        (Code::MissingPassword | Code::BadPassword, _) => kind::ENCRYPTED,
        // unrar says "Unknown encryption" for this pair.
        (Code::UnknownFormat, When::Open) => kind::ENCRYPTED,
        (Code::UnknownFormat, _) => kind::UNSUPPORTED_METHOD,
        (Code::EOpen, When::Read | When::Process) => kind::MISSING_VOLUME,
        (Code::EOpen | Code::ERead, _) => kind::IO,
        _ => kind::ARCHIVE_CORRUPT,
    }
}

/// Walk the RAR archive at `path` (`size` bytes, for the ratio bound). A panic inside the binding is caught and
/// reported: a hostile archive must not take the import down.
pub(super) fn walk<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    path: &Path,
    size: u64,
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let res = catch_unwind(AssertUnwindSafe(|| {
        walk_inner(ctx, location, path, size, depth, container_mtime, &mut *v)
    }));
    match res {
        Ok(r) => r,
        Err(_) => problem(
            v,
            location,
            kind::ARCHIVE_CORRUPT,
            "the RAR reader failed on this archive".into(),
        ),
    }
}

/// A nested RAR: unrar reads only files, so the (bounded) member goes to a private temporary file first.
pub(super) fn walk_bytes<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    data: &[u8],
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let tmp = match TempFile::write(data) {
        Ok(t) => t,
        Err(e) => return problem(v, location, kind::IO, format!("cannot stage a nested RAR archive: {e}")),
    };
    walk(ctx, location, &tmp.0, data.len() as u64, depth, container_mtime, v)
}

struct TempFile(PathBuf);

impl TempFile {
    fn write(data: &[u8]) -> io::Result<TempFile> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("midi-tui-nested-{}-{n}.rar", std::process::id()));
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        let t = TempFile(path);
        f.write_all(data)?;
        Ok(t)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn walk_inner<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    path: &Path,
    size: u64,
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let archive = Archive::new(path);
    let first_part = archive.first_part_option();
    let open = match archive.open_for_processing() {
        Ok(o) => o,
        Err(e) => return problem(v, location, error_kind(&e), format!("cannot open RAR: {e}")),
    };
    match open.volume_info() {
        VolumeInfo::None => {}
        // The binding's volume-change callback reads far past the next volume's name (undefined behaviour, an
        // abort under debug checks), so no volume change is ever let happen: the set gets one row instead.
        VolumeInfo::First => {
            let msg = "multi-volume RAR sets are not read yet (the RAR binding cannot change volumes safely)";
            return problem(v, location, kind::UNSUPPORTED_METHOD, msg.into());
        }
        // A later volume belongs to its first one (which carries the set's row); alone, the first is missing.
        VolumeInfo::Subsequent => {
            return match first_part {
                Some(p) if p != path && p.exists() => Ok(()),
                _ => problem(
                    v,
                    location,
                    kind::MISSING_VOLUME,
                    "a later volume of a multi-volume RAR archive whose first volume is missing".into(),
                ),
            };
        }
    }
    let solid = open.is_solid();
    let mut cursor = open;
    let mut out = 0u64;
    let mut encrypted = 0u64;
    loop {
        let header = match cursor.read_header() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                problem(v, location, error_kind(&e), format!("{e} (rest of archive not read)"))?;
                break;
            }
        };
        let e = header.entry();
        let raw_path = os_bytes(e.filename.as_os_str()).to_vec();
        let mtime = zip::DateTime::try_from_msdos((e.file_time >> 16) as u16, e.file_time as u16)
            .ok()
            .and_then(dos_to_unix)
            .unwrap_or(container_mtime);
        let meta = EntryMeta {
            location: member_location(location, &raw_path),
            raw_path,
            kind: if e.is_directory() {
                EntryKind::Dir
            } else {
                EntryKind::File
            },
            size: Some(e.unpacked_size),
            mtime,
            depth,
        };
        let is_encrypted = e.is_encrypted();
        let declared = e.unpacked_size;
        let d = if is_encrypted {
            encrypted += 1;
            Decision::Ignore
        } else {
            v.decide(&meta)
        };
        let step = match d {
            Decision::Stop => return Err(Halt::Cancelled),
            Decision::Ignore => {
                // A solid archive decodes what it skips: count it against the expansion bound.
                if solid
                    && !is_encrypted
                    && let Err(e) = ctx.add_inflated(declared)
                {
                    return ctx.report(v, location, &e);
                }
                header.skip()
            }
            Decision::Descend(_) if declared > ctx.limits.max_member_bytes => {
                let msg = format!(
                    "nested archive larger than {} bytes (max_member_bytes); not opened",
                    ctx.limits.max_member_bytes
                );
                problem(v, &meta.location, kind::TOO_LARGE, msg)?;
                header.skip()
            }
            // Sizes were checked by `decide`; unrar never unpacks past the declared size.
            Decision::Consume | Decision::Descend(_) => match header.read() {
                Ok((data, next)) => {
                    let mut g = Guard {
                        inner: Cursor::new(data),
                        out,
                        input: Input::Fixed(size),
                        ctx,
                    };
                    let res = run(ctx, &meta, d, &mut g, v);
                    out = g.out;
                    match res {
                        Ok(()) => {}
                        Err(Fail::Halt(h)) => return Err(h),
                        Err(Fail::Read(e)) => ctx.report(v, &meta.location, &e)?,
                    }
                    Ok(next)
                }
                Err(e) => Err(e),
            },
        };
        match step {
            Ok(next) => cursor = next,
            Err(e) => {
                let msg = format!("{e} (rest of archive not read)");
                problem(v, &meta.location, error_kind(&e), msg)?;
                break;
            }
        }
    }
    if encrypted > 0 {
        let msg = format!("{encrypted} members are encrypted; not read (no password is ever asked)");
        problem(v, location, kind::ENCRYPTED, msg)?;
    }
    Ok(())
}
