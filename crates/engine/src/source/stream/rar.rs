//! RAR archives (RAR4 and RAR5, solid, multi-volume) through the reference unrar library, which reads from files.
//!
//! The library is driven through its C interface (`unrar_sys`) by a small wrapper of our own: the `unrar` binding's
//! volume-change callback reads 2,048 wide characters from a name unrar hands over as a short string (out of
//! bounds), so it cannot go on to a set's next volume. Here the callback reads names only up to their terminator,
//! refuses a volume that is not there (the set then gets one `missing_volume` row, after the members that lie
//! wholly in the volumes before it), and never lets a panic cross into C++.
//!
//! A set is read through its first volume (`x.part1.rar`, or `x.rar` followed by `x.r00`, `x.r01`, ...); a later
//! volume gives no row of its own unless no earlier volume of its set is there at all.

use std::cell::Cell;
use std::ffi::CString;
use std::io::{self, Cursor, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use unrar_sys as sys;

use super::{
    Ctx, Decision, EntryKind, EntryMeta, Fail, Guard, Halt, Input, Visitor, dos_to_unix, member_location, problem, run,
};
use crate::source::kind;
use crate::source::location::os_bytes;

/// Longest name unrar hands to the volume callback (its `MAXPATHSIZE`); names end at their terminator well before.
const MAX_NAME_CHARS: usize = 0x10000;

/// Walk the RAR archive at `path` (`size` bytes, for the ratio bound). A panic on our side is caught and reported:
/// a hostile archive must not take the import down.
pub(super) fn walk<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    path: &Path,
    size: u64,
    depth: u32,
    container_mtime: i64,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    walk_with(ctx, location, path, size, (depth, container_mtime), true, v)
}

fn walk_with<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    path: &Path,
    size: u64,
    (depth, container_mtime): (u32, i64),
    volumes: bool,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let res = catch_unwind(AssertUnwindSafe(|| {
        walk_inner(ctx, location, path, size, (depth, container_mtime), volumes, &mut *v)
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

/// A nested RAR: unrar reads only files, so the (bounded) member goes to a private temporary file first. Its
/// other volumes, if any, are not beside it: no volume change is let happen.
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
    walk_with(
        ctx,
        location,
        &tmp.0,
        data.len() as u64,
        (depth, container_mtime),
        false,
        v,
    )
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

/// What unrar's callback saw; lives in a `Box` whose address unrar holds until the archive is closed.
#[derive(Default)]
struct Sink {
    /// Whether the next volume of a set may be opened (not for a nested archive's private copy).
    volumes: bool,
    /// Collect decoded bytes (reading a member) or drop them (skipping in a solid archive).
    collecting: bool,
    data: Vec<u8>,
    /// Bytes a member may decode to: its declared size.
    cap: u64,
    overflow: bool,
    /// The volume unrar asked for and did not find.
    missing: Option<String>,
    /// Sizes of the volumes opened since last asked.
    new_volume_bytes: u64,
}

impl Sink {
    fn on(&mut self, msg: sys::UINT, p1: sys::LPARAM, p2: sys::LPARAM) -> i32 {
        match msg {
            sys::UCM_CHANGEVOLUMEW => {
                // SAFETY: for this message unrar passes a NUL-terminated wide string: a buffer of MAXPATHSIZE
                // characters when asking, its own std::wstring's data when notifying.
                let name = unsafe { wide_name(p1 as *const sys::WCHAR) };
                if !self.volumes || p2 == sys::RAR_VOL_ASK {
                    // Asked only when the volume could not be opened; -1 makes unrar stop there.
                    self.missing = Some(name);
                    return -1;
                }
                self.new_volume_bytes += std::fs::metadata(&name).map_or(0, |m| m.len());
                0
            }
            // The narrow twin of the message above, sent after it: the answer was already given there.
            sys::UCM_CHANGEVOLUME if !self.volumes || p2 == sys::RAR_VOL_ASK => -1,
            sys::UCM_PROCESSDATA => {
                if !self.collecting {
                    return 0;
                }
                let n = usize::try_from(p2).unwrap_or(usize::MAX);
                if self.data.len() as u64 + n as u64 > self.cap {
                    self.overflow = true;
                    return -1;
                }
                if n > 0 && p1 != 0 {
                    // SAFETY: unrar passes `p2` decoded bytes at `p1`, valid for the duration of this call.
                    let chunk = unsafe { std::slice::from_raw_parts(p1 as *const u8, n) };
                    self.data.extend_from_slice(chunk);
                }
                0
            }
            // No password is ever asked; a dictionary above unrar's default (a memory bomb) is refused (0).
            sys::UCM_NEEDPASSWORD | sys::UCM_NEEDPASSWORDW => -1,
            _ => 0,
        }
    }
}

/// A NUL-terminated wide string, read up to its terminator (at most [`MAX_NAME_CHARS`]).
///
/// # Safety
/// `p` is null or points to a NUL-terminated run of `WCHAR`s, or to at least [`MAX_NAME_CHARS`] of them.
unsafe fn wide_name(p: *const sys::WCHAR) -> String {
    let mut out = String::new();
    if p.is_null() {
        return out;
    }
    for i in 0..MAX_NAME_CHARS {
        // SAFETY: index `i` lies at or before the terminator (or within the bound), by the contract above.
        let c = unsafe { *p.add(i) };
        if c == 0 {
            break;
        }
        out.push(char::from_u32(c as u32).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    out
}

/// unrar's callback. Nothing in it may unwind into C++: a panic is caught and answered "stop" (-1).
extern "C" fn callback(msg: sys::UINT, user: sys::LPARAM, p1: sys::LPARAM, p2: sys::LPARAM) -> i32 {
    if user == 0 {
        return -1;
    }
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user` is the `Box<Sink>` registered at open; it outlives the handle (see `RarArchive`), and
        // unrar calls back only from within our calls on this thread, while no other reference to it is live.
        let sink = unsafe { &mut *(user as *mut Sink) };
        sink.on(msg, p1, p2)
    }))
    .unwrap_or(-1)
}

/// One open archive (or set): the handle, closed on drop, and the sink its callback writes to.
struct RarArchive {
    handle: NonNull<sys::Handle>,
    flags: u32,
    sink: Box<Sink>,
}

/// Why the open failed: unrar's code.
struct OpenError(i32);

impl RarArchive {
    fn open(path: &Path, volumes: bool) -> Result<RarArchive, OpenError> {
        let name = CString::new(os_bytes(path.as_os_str())).map_err(|_| OpenError(sys::ERAR_EOPEN))?;
        let mut sink = Box::new(Sink {
            volumes,
            ..Sink::default()
        });
        let user = &mut *sink as *mut Sink as sys::LPARAM;
        let mut data = sys::OpenArchiveDataEx {
            archive_name: name.as_ptr(),
            archive_name_w: std::ptr::null(),
            open_mode: sys::RAR_OM_EXTRACT,
            open_result: 0,
            comment_buffer: std::ptr::null_mut(),
            comment_buffer_size: 0,
            comment_size: 0,
            comment_state: 0,
            flags: 0,
            callback: Some(callback),
            user_data: user,
            op_flags: 0,
            comment_buffer_w: std::ptr::null_mut(),
            reserved: [0; 25],
        };
        // SAFETY: `data` is fully initialised, `name` is NUL-terminated and both outlive the call; unrar copies
        // the name. The callback's user data (`sink`) is kept alive with the handle in `RarArchive`.
        let handle = unsafe { sys::RAROpenArchiveEx(std::ptr::addr_of_mut!(data)) };
        let handle = NonNull::new(handle as *mut sys::Handle);
        let code = data.open_result as i32;
        match handle {
            Some(handle) => {
                let arc = RarArchive {
                    handle,
                    flags: data.flags,
                    sink,
                };
                // A handle may come back with an error: dropping `arc` closes it.
                if code == sys::ERAR_SUCCESS {
                    Ok(arc)
                } else {
                    Err(OpenError(code))
                }
            }
            None => Err(OpenError(if code == 0 { sys::ERAR_EOPEN } else { code })),
        }
    }

    fn is(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The next file header, `None` at the end.
    fn read_header(&mut self) -> Result<Option<Header>, i32> {
        // The C struct is packed and a few bytes longer than the binding's: room to spare past its end.
        #[repr(C)]
        struct Room {
            h: sys::HeaderDataEx,
            _tail: [u8; 64],
        }
        let mut room = Box::new(Room {
            h: sys::HeaderDataEx::default(),
            _tail: [0; 64],
        });
        // SAFETY: the handle is open; `room` is zeroed (null comment and redirection buffers, so unrar writes none)
        // and larger than unrar's RARHeaderDataEx, which it fills.
        let code = unsafe { sys::RARReadHeaderEx(self.handle.as_ptr(), std::ptr::addr_of_mut!(room.h)) };
        match code {
            sys::ERAR_SUCCESS => Ok(Some(Header::from(&room.h))),
            sys::ERAR_END_ARCHIVE => Ok(None),
            c => Err(c),
        }
    }

    /// Skip the current member (a solid archive decodes it, its bytes dropped).
    fn skip(&mut self) -> Result<(), i32> {
        self.sink.collecting = false;
        self.process(sys::RAR_SKIP)
    }

    /// Decode the current member into memory, at most `cap` bytes.
    fn read(&mut self, cap: u64) -> Result<Vec<u8>, i32> {
        self.sink.collecting = true;
        self.sink.cap = cap;
        self.sink.overflow = false;
        self.sink.data = Vec::with_capacity(cap.min(1 << 20) as usize);
        let res = self.process(sys::RAR_TEST);
        self.sink.collecting = false;
        let data = std::mem::take(&mut self.sink.data);
        match res {
            Ok(()) if self.sink.overflow => Err(sys::ERAR_BAD_DATA),
            Ok(()) => Ok(data),
            Err(c) => Err(c),
        }
    }

    fn process(&mut self, op: i32) -> Result<(), i32> {
        // SAFETY: the handle is open and a header was just read; null paths: nothing is written to disk (test
        // and skip only), the data arrives through the callback.
        let code = unsafe { sys::RARProcessFileW(self.handle.as_ptr(), op, std::ptr::null(), std::ptr::null()) };
        if code == sys::ERAR_SUCCESS { Ok(()) } else { Err(code) }
    }
}

impl Drop for RarArchive {
    fn drop(&mut self) {
        // SAFETY: the handle came from RAROpenArchiveEx and is closed once, here; `sink` is dropped after this.
        unsafe { sys::RARCloseArchive(self.handle.as_ptr()) };
    }
}

/// The fields of a file header the walk uses (those the binding's struct lays out as unrar does).
struct Header {
    name: String,
    flags: u32,
    unpacked: u64,
    /// Bytes the member takes in the archive (compressed).
    packed: u64,
    dos_time: u32,
}

impl From<&sys::HeaderDataEx> for Header {
    fn from(h: &sys::HeaderDataEx) -> Header {
        let mut name = String::new();
        for &c in h.filename_w.iter().take_while(|&&c| c != 0) {
            name.push(char::from_u32(c as u32).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        Header {
            name,
            flags: h.flags,
            unpacked: (u64::from(h.unp_size_high) << 32) | u64::from(h.unp_size),
            packed: (u64::from(h.pack_size_high) << 32) | u64::from(h.pack_size),
            dos_time: h.file_time,
        }
    }
}

fn code_kind(code: i32, opening: bool) -> kind::ErrorKind {
    match code {
        sys::ERAR_MISSING_PASSWORD | sys::ERAR_BAD_PASSWORD => kind::ENCRYPTED,
        // unrar says "unknown format" for an encryption it does not know.
        sys::ERAR_UNKNOWN_FORMAT if opening => kind::ENCRYPTED,
        sys::ERAR_UNKNOWN_FORMAT => kind::UNSUPPORTED_METHOD,
        sys::ERAR_EOPEN if !opening => kind::MISSING_VOLUME,
        sys::ERAR_EOPEN | sys::ERAR_EREAD => kind::IO,
        _ => kind::ARCHIVE_CORRUPT,
    }
}

fn code_text(code: i32) -> &'static str {
    match code {
        sys::ERAR_NO_MEMORY => "not enough memory",
        sys::ERAR_BAD_DATA => "damaged data (checksum mismatch)",
        sys::ERAR_BAD_ARCHIVE => "not a valid RAR archive",
        sys::ERAR_UNKNOWN_FORMAT => "unknown archive format or encryption",
        sys::ERAR_EOPEN => "cannot open the archive or its next volume",
        sys::ERAR_EREAD => "read error",
        sys::ERAR_MISSING_PASSWORD => "encrypted (a password is needed)",
        sys::ERAR_BAD_PASSWORD => "encrypted (wrong password)",
        sys::ERAR_SMALL_BUF => "buffer too small",
        _ => "unknown unrar error",
    }
}

/// The numbering a RAR volume name follows.
#[derive(Debug, PartialEq, Eq)]
enum VolumeName {
    /// `stem.partN.rar`: the stem (up to and with `.part`), N, its digits, the extension (`.rar`, any case).
    Part(String, u32, usize, String),
    /// `stem.rNN` (volume NN + 2; the first is `stem.rar`): the stem with its dot, NN.
    Old(String, u32),
}

impl VolumeName {
    fn parse(name: &str) -> Option<VolumeName> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".rar") {
            let body = &name[..name.len() - 4];
            let digits = body.bytes().rev().take_while(u8::is_ascii_digit).count();
            let stem = &body[..body.len() - digits];
            if digits == 0 || !stem.to_ascii_lowercase().ends_with(".part") {
                return None;
            }
            let n = body[stem.len()..].parse().ok()?;
            return Some(VolumeName::Part(stem.into(), n, digits, name[name.len() - 4..].into()));
        }
        let dot = name.rfind('.')?;
        let ext = &name.as_bytes()[dot + 1..];
        if ext.len() == 3 && ext[0].eq_ignore_ascii_case(&b'r') && ext[1..].iter().all(u8::is_ascii_digit) {
            return Some(VolumeName::Old(name[..=dot].into(), name[dot + 2..].parse().ok()?));
        }
        None
    }

    /// The names of the volumes before this one, first volume first.
    fn earlier(&self) -> Vec<String> {
        match self {
            VolumeName::Part(stem, n, digits, ext) => (1..*n).map(|k| format!("{stem}{k:0digits$}{ext}")).collect(),
            VolumeName::Old(stem, n) => {
                let mut v = vec![format!("{stem}rar"), format!("{stem}RAR")];
                v.extend((0..*n).flat_map(|k| [format!("{stem}r{k:02}"), format!("{stem}R{k:02}")]));
                v
            }
        }
    }
}

/// Whether the name at `path` is that of a set's later volume (`x.part2.rar`, `x.r00`).
fn named_later(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| String::from_utf8_lossy(os_bytes(n)).into_owned());
    match name.as_deref().and_then(VolumeName::parse) {
        Some(VolumeName::Part(_, n, _, _)) => n > 1,
        Some(VolumeName::Old(..)) => true,
        None => false,
    }
}

/// Whether a volume before the one at `path` is there: its set is then read from there.
fn earlier_volume_present(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| String::from_utf8_lossy(os_bytes(n)).into_owned());
    let dir = path.parent().unwrap_or(Path::new("."));
    match name.as_deref().and_then(VolumeName::parse) {
        Some(vn) => vn.earlier().iter().any(|n| dir.join(n).is_file()),
        None => false,
    }
}

fn walk_inner<'c>(
    ctx: &'c Ctx<'c>,
    location: &str,
    path: &Path,
    size: u64,
    (depth, container_mtime): (u32, i64),
    volumes: bool,
    v: &mut dyn Visitor,
) -> Result<(), Halt> {
    let mut arc = match RarArchive::open(path, volumes) {
        Ok(a) => a,
        // A later volume read through its first one: the first says what is wrong.
        Err(_) if volumes && earlier_volume_present(path) => return Ok(()),
        Err(OpenError(c)) => {
            return problem(
                v,
                location,
                code_kind(c, true),
                format!("cannot open RAR: {}", code_text(c)),
            );
        }
    };
    // unrar calls a volume "first" when its first member does not continue from an earlier one, so a later
    // volume cut at a member's end looks first too: its name says otherwise.
    let later = arc.is(sys::ROADF_VOLUME) && (!arc.is(sys::ROADF_FIRSTVOLUME) || named_later(path));
    if later {
        // A later volume belongs to its first one (which carries the set's rows); without any earlier volume
        // this one (the lowest present) says the set cannot be read.
        return match volumes && earlier_volume_present(path) {
            true => Ok(()),
            false => problem(
                v,
                location,
                kind::MISSING_VOLUME,
                "a later volume of a multi-volume RAR set whose first volume is missing".into(),
            ),
        };
    }
    let set_bytes = Rc::new(Cell::new(size));
    let mut members = Members {
        ctx,
        location,
        depth,
        container_mtime,
        solid: arc.is(sys::ROADF_SOLID),
        set_bytes: set_bytes.clone(),
        out: 0,
        encrypted: 0,
        read: 0,
        headers: 0,
        accounted: 0,
    };
    let res = members.walk(&mut arc, v);
    members.sync(&mut arc);
    match res? {
        Some(failure) => members.failed(&mut arc, failure, v)?,
        None => {
            // unrar takes a header it cannot make sense of for the end of the archive: with no comment, recovery
            // record or volume to explain the bytes after the last member, the headers are damaged there.
            let explained = !arc.is(sys::ROADF_VOLUME)
                && !arc.is(sys::ROADF_COMMENT)
                && !arc.is(sys::ROADF_RECOVERY)
                && !arc.is(sys::ROADF_ENCHEADERS);
            if !arc.is(sys::ROADF_VOLUME) && !arc.is(sys::ROADF_ENCHEADERS) && rar5_end_missing(path) {
                let msg = format!(
                    "truncated: the archive ends without its end-of-archive header, after {} members",
                    members.headers
                );
                problem(v, location, kind::ARCHIVE_CORRUPT, msg)?;
            } else if explained && size > members.accounted.saturating_add(RAR_SLACK) {
                let msg = format!(
                    "damaged headers: the archive ends after {} members, {} of its {size} bytes unaccounted for",
                    members.headers,
                    size - members.accounted
                );
                problem(v, location, kind::ARCHIVE_CORRUPT, msg)?;
            }
        }
    }
    if members.encrypted > 0 {
        let msg = format!(
            "{} {} encrypted; not read (no password is ever asked)",
            crate::human::counted(members.encrypted, "member"),
            if members.encrypted == 1 { "is" } else { "are" }
        );
        problem(v, location, kind::ENCRYPTED, msg)?;
    }
    Ok(())
}

/// A RAR5 archive ends with its end-of-archive header (CRC32, size 3, type 5, flags, archive flags): a file that
/// does not is cut short, and unrar just finds no more headers.
fn rar5_end_missing(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 8];
    if f.read_exact(&mut head).is_err() || &head != b"Rar!\x1a\x07\x01\x00" {
        return false;
    }
    let mut tail = [0u8; 8];
    if f.seek(SeekFrom::End(-8)).is_err() || f.read_exact(&mut tail).is_err() {
        return true;
    }
    let mut crc = flate2::Crc::new();
    crc.update(&tail[4..]);
    !(tail[4] == 3 && tail[5] == 5 && crc.sum() == u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]))
}

/// The walk over one archive's (or set's) members.
struct Members<'c, 'l> {
    ctx: &'c Ctx<'c>,
    location: &'l str,
    depth: u32,
    container_mtime: i64,
    solid: bool,
    /// Compressed bytes of the volumes opened so far, for the ratio bound.
    set_bytes: Rc<Cell<u64>>,
    out: u64,
    encrypted: u64,
    /// Members handed to the visitor.
    read: u64,
    /// Member headers unrar read, and the bytes they and their data take at most (see [`RAR_SLACK`]).
    headers: u64,
    accounted: u64,
}

/// Bytes of an archive's signature, main and end headers, and of one member's header beside its name: what a
/// member's compressed size does not account for (an archive longer than that has headers unrar did not read).
const RAR_SLACK: u64 = 256;

impl<'c> Members<'c, '_> {
    /// Every member in turn; `Ok(Some(code))` when unrar failed (reported by [`Members::failed`]), with the
    /// location of the member it failed on, if any.
    fn walk(&mut self, arc: &mut RarArchive, v: &mut dyn Visitor) -> Result<Option<(i32, Option<String>)>, Halt> {
        loop {
            let h = match arc.read_header() {
                Ok(Some(h)) => h,
                Ok(None) => return Ok(None),
                Err(c) => return Ok(Some((c, None))),
            };
            self.sync(arc);
            self.headers += 1;
            self.accounted = self
                .accounted
                .saturating_add(h.packed)
                .saturating_add(h.name.len() as u64 * 2 + RAR_SLACK);
            // The rest of a member begun in an earlier volume (after skipping it there): not a member of its own.
            if h.flags & sys::RHDF_SPLITBEFORE != 0 {
                if let Err(c) = arc.skip() {
                    return Ok(Some((c, None)));
                }
                continue;
            }
            let raw_path = h.name.into_bytes();
            let mtime = zip::DateTime::try_from_msdos((h.dos_time >> 16) as u16, h.dos_time as u16)
                .ok()
                .and_then(dos_to_unix)
                .unwrap_or(self.container_mtime);
            let meta = EntryMeta {
                location: member_location(self.location, &raw_path),
                raw_path,
                kind: if h.flags & sys::RHDF_DIRECTORY != 0 {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                },
                size: Some(h.unpacked),
                mtime,
                depth: self.depth,
            };
            let is_encrypted = h.flags & sys::RHDF_ENCRYPTED != 0;
            let d = if is_encrypted {
                self.encrypted += 1;
                Decision::Ignore
            } else {
                v.decide(&meta)
            };
            let step = self.member(arc, &meta, d, h.unpacked, is_encrypted, v)?;
            self.sync(arc);
            if let Some(c) = step {
                return Ok(Some((c, Some(meta.location))));
            }
        }
    }

    /// Carry out the decision `d` for the member just read; `Ok(Some(code))` when unrar failed on it.
    fn member(
        &mut self,
        arc: &mut RarArchive,
        meta: &EntryMeta,
        d: Decision,
        declared: u64,
        is_encrypted: bool,
        v: &mut dyn Visitor,
    ) -> Result<Option<i32>, Halt> {
        let ctx = self.ctx;
        match d {
            Decision::Stop => Err(Halt::Cancelled),
            Decision::Ignore => {
                // A solid archive decodes what it skips: count it against the expansion bound.
                if self.solid
                    && !is_encrypted
                    && let Err(e) = ctx.add_inflated(declared)
                {
                    return ctx.report(v, self.location, &e).map(|()| None);
                }
                Ok(arc.skip().err())
            }
            Decision::Descend(_) if declared > ctx.limits.max_member_bytes => {
                let msg = format!(
                    "nested archive larger than {} bytes (max_member_bytes); not opened",
                    ctx.limits.max_member_bytes
                );
                problem(v, &meta.location, kind::TOO_LARGE, msg)?;
                Ok(arc.skip().err())
            }
            // Sizes were checked by `decide`; the sink refuses to hold more than the declared size.
            Decision::Consume | Decision::Descend(_) => {
                let data = match arc.read(declared) {
                    Ok(data) => data,
                    Err(c) => return Ok(Some(c)),
                };
                self.read += 1;
                let mut g = Guard {
                    inner: Cursor::new(data),
                    out: self.out,
                    input: Input::Counted(self.set_bytes.clone()),
                    ctx,
                };
                let res = run(ctx, meta, d, &mut g, v);
                self.out = g.out;
                match res {
                    Ok(()) => {}
                    Err(Fail::Halt(h)) => return Err(h),
                    Err(Fail::Read(e)) => ctx.report(v, &meta.location, &e)?,
                }
                Ok(None)
            }
        }
    }

    /// Count the volumes unrar moved to: their bytes are read from disk and widen the ratio bound.
    fn sync(&self, arc: &mut RarArchive) {
        let added = std::mem::take(&mut arc.sink.new_volume_bytes);
        if added > 0 {
            self.set_bytes.set(self.set_bytes.get() + added);
            self.ctx.meter.disk_bytes.fetch_add(added, Ordering::Relaxed);
        }
    }

    /// Report unrar's failure `code`: a missing volume once for the whole set, anything else on the member it
    /// failed on. The rest of the archive is not read.
    fn failed(&self, arc: &mut RarArchive, (code, at): (i32, Option<String>), v: &mut dyn Visitor) -> Result<(), Halt> {
        if let Some(name) = arc.sink.missing.take() {
            let vol = Path::new(&name)
                .file_name()
                .map_or(name.clone(), |n| n.to_string_lossy().into_owned());
            let msg = if arc.sink.volumes {
                format!(
                    "volume {vol} of this multi-volume RAR set is missing; {} before it {} read, the rest is not",
                    crate::human::counted(self.read, "member"),
                    if self.read == 1 { "was" } else { "were" }
                )
            } else {
                "a multi-volume RAR set inside another archive: its other volumes cannot be read".to_string()
            };
            return problem(v, self.location, kind::MISSING_VOLUME, msg);
        }
        let location = at.as_deref().unwrap_or(self.location);
        let msg = format!("{} (rest of archive not read)", code_text(code));
        problem(v, location, code_kind(code, false), msg)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;
    use crate::source::limits::{Limits, Meter};

    /// Keeps every file member's bytes and every problem.
    #[derive(Default)]
    struct All {
        members: BTreeMap<String, Vec<u8>>,
        problems: Vec<(String, &'static str, String)>,
    }

    impl Visitor for All {
        fn decide(&mut self, e: &EntryMeta) -> Decision {
            match e.kind {
                EntryKind::File => Decision::Consume,
                _ => Decision::Ignore,
            }
        }
        fn consume(&mut self, e: &EntryMeta, r: &mut dyn Read) -> io::Result<bool> {
            let mut data = Vec::new();
            r.read_to_end(&mut data)?;
            self.members.insert(e.name().into_owned(), data);
            Ok(true)
        }
        fn problem(&mut self, location: &str, kind: kind::ErrorKind, message: String) -> bool {
            self.problems.push((location.to_string(), kind.code(), message));
            true
        }
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/rar")
            .join(name)
    }

    fn walk_file(path: &Path) -> (All, Meter) {
        let (limits, meter) = (Limits::default(), Meter::default());
        let ctx = Ctx::new(&limits, &meter);
        let mut v = All::default();
        let size = std::fs::metadata(path).expect("stat").len();
        let loc = path.to_string_lossy().into_owned();
        walk(&ctx, &loc, path, size, 1, 0, &mut v).expect("not cancelled");
        (v, meter)
    }

    /// A temp folder holding the set's parts present in `parts` (1-based), named by `name(n)`.
    fn set_dir(tag: &str, parts: &[u32], name: impl Fn(u32) -> String) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("midi-tui-rarvols-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        for &n in parts {
            std::fs::copy(fixture(&format!("rar3-vols.part{n}.rar")), dir.join(name(n))).expect("copy");
        }
        dir
    }

    /// `vols/bigfile.txt` of the rarfile test set: the numbers 1 to 5000, each right-aligned on a 40-column line.
    fn bigfile() -> Vec<u8> {
        (1..=5000).flat_map(|i| format!("{i:>40}\n").into_bytes()).collect()
    }

    fn new_name(n: u32) -> String {
        format!("rar3-vols.part{n}.rar")
    }

    fn old_name(n: u32) -> String {
        match n {
            1 => "rar3-vols.rar".into(),
            n => format!("rar3-vols.r{:02}", n - 2),
        }
    }

    fn check_full_set(first: &Path) {
        let (got, meter) = walk_file(first);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        let names: Vec<&String> = got.members.keys().collect();
        assert_eq!(names, ["vols/bigfile.txt", "vols/smallfile.txt"]);
        assert!(got.members["vols/bigfile.txt"] == bigfile(), "bigfile bytes differ");
        // unrar checked the member's CRC-32 against its header: the bytes are the archived ones.
        assert!(!got.members["vols/smallfile.txt"].is_empty());
        // The later volumes were read from disk too: 102,400 + 2,572 bytes beyond the first.
        assert_eq!(meter.disk_bytes.load(Ordering::Relaxed), 102_400 + 2_572);
    }

    #[test]
    fn a_whole_set_yields_every_member_in_both_namings() {
        check_full_set(&fixture("rar3-vols.part1.rar"));
        let dir = set_dir("old", &[1, 2, 3], old_name);
        check_full_set(&dir.join("rar3-vols.rar"));
        // Later volumes give nothing of their own, whichever naming.
        for n in [2, 3] {
            let (got, _) = walk_file(&dir.join(old_name(n)));
            assert!(
                got.members.is_empty() && got.problems.is_empty(),
                "{n}: {:?}",
                got.problems
            );
            let (got, _) = walk_file(&fixture(&new_name(n)));
            assert!(
                got.members.is_empty() && got.problems.is_empty(),
                "{n}: {:?}",
                got.problems
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_volume_gives_one_row_for_the_set() {
        for (tag, parts, missing) in [("no2", [1, 3], "part2"), ("no3", [1, 2], "part3")] {
            for (naming, name) in [("new", new_name as fn(u32) -> String), ("old", old_name)] {
                let dir = set_dir(&format!("{tag}-{naming}"), &parts, name);
                let first = dir.join(name(1));
                let (got, _) = walk_file(&first);
                // Both members reach into the missing volume (bigfile spans all three, smallfile is in part3).
                assert!(got.members.is_empty(), "{tag} {naming}: {:?}", got.members.keys());
                assert_eq!(got.problems.len(), 1, "{tag} {naming}: {:?}", got.problems);
                let (loc, kind, msg) = &got.problems[0];
                assert_eq!(
                    (loc.as_str(), *kind),
                    (first.to_str().expect("utf-8"), "missing_volume")
                );
                if naming == "new" {
                    assert!(msg.contains(missing), "{msg}");
                }
                // The volume after the gap is read through the first: no row of its own.
                let later = dir.join(name(parts[1]));
                let (got, _) = walk_file(&later);
                assert!(
                    got.members.is_empty() && got.problems.is_empty(),
                    "{tag} {naming}: {:?}",
                    got.problems
                );
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    #[test]
    fn later_volumes_without_the_first_give_one_row() {
        let dir = set_dir("no1", &[2, 3], new_name);
        let (got, _) = walk_file(&dir.join(new_name(2)));
        assert!(got.members.is_empty());
        assert_eq!(got.problems.len(), 1, "{:?}", got.problems);
        assert_eq!(got.problems[0].1, "missing_volume");
        let (got, _) = walk_file(&dir.join(new_name(3)));
        assert!(got.members.is_empty() && got.problems.is_empty(), "{:?}", got.problems);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_nested_set_never_changes_volume() {
        let (limits, meter) = (Limits::default(), Meter::default());
        let ctx = Ctx::new(&limits, &meter);
        let mut v = All::default();
        let data = std::fs::read(fixture("rar3-vols.part1.rar")).expect("read");
        walk_bytes(&ctx, "x.zip!/a.part1.rar", &data, 2, 0, &mut v).expect("not cancelled");
        assert!(v.members.is_empty());
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert_eq!(v.problems[0].1, "missing_volume");
    }

    #[test]
    fn volume_names() {
        let p = |s: &str, n, d, e: &str| Some(VolumeName::Part(s.into(), n, d, e.into()));
        assert_eq!(VolumeName::parse("a.part01.rar"), p("a.part", 1, 2, ".rar"));
        assert_eq!(VolumeName::parse("A.PART3.RAR"), p("A.PART", 3, 1, ".RAR"));
        assert_eq!(VolumeName::parse("a.r07"), Some(VolumeName::Old("a.".into(), 7)));
        for n in ["a.rar", "a.part.rar", "a3.rar", "a.r7", "a.rx1", "a.zip"] {
            assert_eq!(VolumeName::parse(n), None, "{n}");
        }
        assert_eq!(
            VolumeName::parse("a.part03.rar").expect("name").earlier(),
            ["a.part01.rar", "a.part02.rar"]
        );
        assert_eq!(
            VolumeName::parse("a.r01").expect("name").earlier(),
            ["a.rar", "a.RAR", "a.r00", "a.R00"]
        );
    }
}
