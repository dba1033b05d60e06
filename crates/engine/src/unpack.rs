//! `extract`: unpack archives to a folder, keeping structure, safely.
//!
//! Layout: each archive `A` given goes to `OUT/<A without its archive suffix>/` (`groove.zip` -> `OUT/groove/`,
//! `x.tar.gz` -> `OUT/x/`; a single compressed file `song.mid.gz` -> `OUT/song/song.mid`). Two archives that would
//! share a folder get `name (2)`, `name (3)`, ... in the order given, so a re-run lands in the same folders. A
//! nested archive member `dir/inner.zip` is not written as such but opened into `dir/inner.zip.d/` (to the same
//! depth limit as imports; deeper ones are written as plain files and listed in `skipped`).
//!
//! Safety: member names that are absolute or contain `..` are refused; links (symbolic and hard) and special files
//! are never created; nothing is written through an existing symlink. An existing file is never overwritten: a
//! member whose target name is taken by different content is written as `name (2).ext` (then `(3)`, ...), and one
//! whose content is identical to the existing file is left alone (`files_unchanged`). Each file is written to a
//! temporary name in its folder first and renamed when complete, so an interrupted run leaves no half files under
//! real names. Entries under `__MACOSX/` and `._*` files are skipped. Compression bombs are stopped by the same
//! guards as imports (see `source::Limits`).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use super::source::location::{encode_os_path, os_bytes, path_from_bytes};
use super::source::stream::{self, Decision, EntryKind, EntryMeta, Visitor};
use super::source::{ArchiveKind, Limits, Meter, archive_kind, detect_file, is_macos_junk, is_midi_name, kind};

/// What an extraction did. `skipped` and `errors` hold `(location, reason)` pairs, in archive order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExtractReport {
    pub files_written: u64,
    /// Bytes written (files_written only).
    pub bytes: u64,
    /// Members identical to a file already at their target name: not rewritten.
    pub files_unchanged: u64,
    /// Members written under a `name (N).ext` name because their name was taken by different content.
    pub renamed: u64,
    /// Archives opened, nested ones included.
    pub archives: u64,
    pub skipped: Vec<(String, String)>,
    pub errors: Vec<(String, String)>,
}

impl ExtractReport {
    fn merge(&mut self, o: ExtractReport) {
        self.files_written += o.files_written;
        self.bytes += o.bytes;
        self.files_unchanged += o.files_unchanged;
        self.renamed += o.renamed;
        self.archives += o.archives;
        self.skipped.extend(o.skipped);
        self.errors.extend(o.errors);
    }
}

/// Failures that stop the whole extraction (a single archive's problems go into the report instead).
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("cannot create the output folder {path}: {source}")]
    OutDir { path: PathBuf, source: io::Error },
    #[error("cannot start {}: {message}", crate::human::counted(*.jobs, "worker thread"))]
    Threads { jobs: usize, message: String },
}

/// The limits `extract` uses: import limits, but nested zips up to 256 MiB are opened (they are held in memory).
pub fn extract_limits() -> Limits {
    Limits {
        max_member_bytes: 256 << 20,
        ..Limits::default()
    }
}

/// Extract `archives` under `out`, `jobs` archives at a time (0 = one per core).
pub fn extract(archives: &[PathBuf], out: &Path, jobs: usize) -> Result<ExtractReport, ExtractError> {
    extract_with_limits(archives, out, jobs, &extract_limits())
}

/// [`extract`] with explicit limits.
pub fn extract_with_limits(
    archives: &[PathBuf],
    out: &Path,
    jobs: usize,
    limits: &Limits,
) -> Result<ExtractReport, ExtractError> {
    fs::create_dir_all(out).map_err(|source| ExtractError::OutDir {
        path: out.to_path_buf(),
        source,
    })?;
    let folders = folder_names(archives);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("extract-{i}"))
        .build()
        .map_err(|e| ExtractError::Threads {
            jobs,
            message: e.to_string(),
        })?;
    let reports: Vec<ExtractReport> = pool.install(|| {
        archives
            .par_iter()
            .zip(folders.par_iter())
            .map(|(a, folder)| extract_one(a, out, folder, limits))
            .collect()
    });
    let mut total = ExtractReport::default();
    for r in reports {
        total.merge(r);
    }
    Ok(total)
}

/// One output folder name per archive, unique among them (`a`, `a (2)`, ...).
fn folder_names(archives: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut used: Vec<Vec<u8>> = Vec::with_capacity(archives.len());
    for a in archives {
        let raw = a.file_name().map(os_bytes).unwrap_or(b"archive").to_vec();
        let mut base = strip_suffix_bytes(&raw);
        if matches!(
            archive_kind(&String::from_utf8_lossy(&raw)),
            Some(ArchiveKind::Single(_))
        ) {
            // `song.mid.gz` -> `song`: a folder named like a MIDI file would confuse a later import.
            if let Some(dot) = base.iter().rposition(|&b| b == b'.').filter(|&d| d > 0) {
                base.truncate(dot);
            }
        }
        if base.is_empty() || base == b"." || base == b".." {
            base = b"archive".to_vec();
        }
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name) {
            name = numbered(&base, n, false);
            n += 1;
        }
        used.push(name);
    }
    used
}

/// `raw` without its archive suffix, on bytes (the suffix is ASCII, so it is measured on the lossy text).
fn strip_suffix_bytes(raw: &[u8]) -> Vec<u8> {
    let lossy = String::from_utf8_lossy(raw);
    let stripped = super::source::strip_archive_suffix(&lossy);
    let cut = lossy.len() - stripped.len();
    raw[..raw.len() - cut.min(raw.len())].to_vec()
}

/// `name (n)`, with the number before the extension when `keep_ext` (`song (2).mid`).
pub(crate) fn numbered(name: &[u8], n: u32, keep_ext: bool) -> Vec<u8> {
    let dot = if keep_ext {
        name.iter().rposition(|&b| b == b'.').filter(|&d| d > 0)
    } else {
        None
    };
    let (stem, ext) = match dot {
        Some(d) => name.split_at(d),
        None => (name, &b""[..]),
    };
    let mut v = stem.to_vec();
    v.extend_from_slice(format!(" ({n})").as_bytes());
    v.extend_from_slice(ext);
    v
}

fn extract_one(archive: &Path, out: &Path, folder: &[u8], limits: &Limits) -> ExtractReport {
    let location = encode_os_path(archive);
    let mut v = ExtractVisitor {
        limits,
        stack: Vec::new(),
        pending: None,
        report: ExtractReport::default(),
        tmp_counter: AtomicU64::new(0),
    };
    let name = archive
        .file_name()
        .map(|n| String::from_utf8_lossy(os_bytes(n)).into_owned())
        .unwrap_or_default();
    // Reading the archive's first bytes also checks it is there, so a missing one leaves no empty folder behind.
    let k = match detect_file(archive, &name) {
        Ok(Some(k)) => k,
        Ok(None) => {
            let msg = "not an archive (zip, 7z, rar, tar, tar.gz/bz2/xz/zst/lz4, gz, bz2, xz, zst, lz4)";
            v.report.errors.push((location, msg.into()));
            return v.report;
        }
        Err(e) => {
            v.report.errors.push((location, format!("{}: {e}", kind::IO)));
            return v.report;
        }
    };
    let folder_os = path_from_bytes(folder.to_vec());
    match ensure_dirs(out, &[folder_os.as_os_str()]) {
        Ok(root) => v.stack.push(root),
        Err(e) => {
            v.report
                .errors
                .push((location, format!("{}: cannot create output folder: {e}", kind::IO)));
            return v.report;
        }
    }
    v.report.archives += 1;
    let _ = stream::walk_top(&location, archive, k, limits, &Meter::default(), &mut v);
    v.report
}

struct ExtractVisitor<'a> {
    limits: &'a Limits,
    /// Folder of the archive being walked (top: `OUT/name`; nested: `.../inner.zip.d`).
    stack: Vec<PathBuf>,
    /// The nested folder prepared by `decide` for the next `enter`.
    pending: Option<PathBuf>,
    report: ExtractReport,
    tmp_counter: AtomicU64,
}

/// Relative path components of a member name, or why it is refused. `Ok(empty)` for names like `./`.
pub(crate) fn safe_components(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path refused");
    }
    if raw.contains(&0) {
        return Err("name contains a NUL byte");
    }
    let mut comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path escapes the output folder (..) refused"),
            c => comps.push(c),
        }
    }
    Ok(comps)
}

/// Create (if needed) `base/c1/c2/...`, refusing to go through symlinks or files.
pub(crate) fn ensure_dirs(base: &Path, comps: &[&OsStr]) -> io::Result<PathBuf> {
    let mut p = base.to_path_buf();
    for c in comps {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {}
            Ok(md) if md.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "{} is a symbolic link; not followed",
                    p.display()
                )));
            }
            Ok(_) => {
                return Err(io::Error::other(format!("{} exists and is not a folder", p.display())));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(p)
}

/// Same bytes in both files?
pub(crate) fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

enum Placed {
    Written(PathBuf),
    Unchanged,
}

impl ExtractVisitor<'_> {
    fn base(&self) -> &Path {
        self.stack.last().map_or(Path::new("."), |p| p.as_path())
    }

    fn skip(&mut self, location: &str, why: String) {
        self.report.skipped.push((location.to_string(), why));
    }

    fn error(&mut self, location: &str, kind: kind::ErrorKind, e: impl std::fmt::Display) {
        self.report.errors.push((location.to_string(), format!("{kind}: {e}")));
    }

    /// The folder and file name a member goes to (folders created).
    fn target(&self, comps: &[&[u8]]) -> io::Result<(PathBuf, Vec<u8>)> {
        let (name, dirs) = comps.split_last().ok_or_else(|| io::Error::other("empty name"))?;
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| path_from_bytes(d.to_vec())).collect();
        let dirs: Vec<&OsStr> = dirs.iter().map(|d| d.as_os_str()).collect();
        Ok((ensure_dirs(self.base(), &dirs)?, name.to_vec()))
    }

    /// Stream `r` into a temporary file in `dir`. Read errors come back as `Err(Ok(e))`, write errors as `Err(Err)`.
    fn write_temp(&self, dir: &Path, r: &mut dyn Read) -> Result<(PathBuf, u64), Result<io::Error, io::Error>> {
        let (tmp, mut f) = loop {
            let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".midi-tui-extract-{}-{n}.part", std::process::id()));
            match fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Err(e)),
            }
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        let res = loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(Ok(e)),
            };
            if let Err(e) = f.write_all(&buf[..n]) {
                break Err(Err(e));
            }
            total += n as u64;
        };
        let res = res.and_then(|()| f.flush().map_err(Err));
        match res {
            Ok(()) => Ok((tmp, total)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Move `tmp` to `dir/name`, or `name (N)` if taken by different content; drop it if identical content is there.
    fn place(&self, tmp: &Path, dir: &Path, name: &[u8]) -> io::Result<Placed> {
        for n in 1..=10_000u32 {
            let cand_name = if n == 1 { name.to_vec() } else { numbered(name, n, true) };
            let cand = dir.join(path_from_bytes(cand_name));
            match fs::symlink_metadata(&cand) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // One writer per output folder (archives get distinct folders), so nothing races this.
                    fs::rename(tmp, &cand)?;
                    return Ok(Placed::Written(cand));
                }
                Err(e) => return Err(e),
                Ok(md) if md.is_file() && same_content(tmp, &cand)? => {
                    fs::remove_file(tmp)?;
                    return Ok(Placed::Unchanged);
                }
                Ok(_) => {}
            }
        }
        Err(io::Error::other("10,000 files with this name already exist"))
    }
}

impl Visitor for ExtractVisitor<'_> {
    fn decide(&mut self, e: &EntryMeta) -> Decision {
        let name = e.name();
        if is_macos_junk(&name) {
            if e.kind == EntryKind::File {
                self.skip(&e.location, "macOS metadata (__MACOSX/, ._*)".into());
            }
            return Decision::Ignore;
        }
        if e.kind == EntryKind::Meta {
            return Decision::Ignore;
        }
        let comps = match safe_components(&e.raw_path) {
            Ok(c) if c.is_empty() => return Decision::Ignore,
            Ok(c) => c,
            Err(why) => {
                self.skip(&e.location, why.into());
                return Decision::Ignore;
            }
        };
        match &e.kind {
            EntryKind::Dir => {
                let dirs: Vec<PathBuf> = comps.iter().map(|d| path_from_bytes(d.to_vec())).collect();
                let dirs: Vec<&OsStr> = dirs.iter().map(|d| d.as_os_str()).collect();
                if let Err(err) = ensure_dirs(self.base(), &dirs) {
                    self.error(&e.location, kind::IO, err);
                }
                return Decision::Ignore;
            }
            EntryKind::Symlink(t) => {
                let why = format!("symbolic link to {} not extracted", String::from_utf8_lossy(t));
                self.skip(&e.location, why);
                return Decision::Ignore;
            }
            EntryKind::Hardlink(t) => {
                let why = format!("hard link to {} not extracted", String::from_utf8_lossy(t));
                self.skip(&e.location, why);
                return Decision::Ignore;
            }
            EntryKind::Special => {
                self.skip(&e.location, "special file (device, fifo) not extracted".into());
                return Decision::Ignore;
            }
            EntryKind::File | EntryKind::Meta => {}
        }
        let nested = if is_midi_name(&name) { None } else { archive_kind(&name) };
        let Some(k) = nested else {
            return Decision::Consume;
        };
        if e.depth >= self.limits.max_depth {
            let why = format!(
                "nested deeper than {} archives: written as a file, not opened",
                self.limits.max_depth
            );
            self.skip(&e.location, why);
            return Decision::Consume;
        }
        let buffered = matches!(k, ArchiveKind::Zip | ArchiveKind::SevenZip | ArchiveKind::Rar);
        if buffered && e.size.is_some_and(|s| s > self.limits.max_member_bytes) {
            let why = format!(
                "nested archive over {} bytes: written as a file, not opened",
                self.limits.max_member_bytes
            );
            self.skip(&e.location, why);
            return Decision::Consume;
        }
        // `dir/inner.zip` opens into `dir/inner.zip.d/`.
        let mut dot_d: Vec<u8> = comps.last().map(|c| c.to_vec()).unwrap_or_default();
        dot_d.extend_from_slice(b".d");
        let mut all: Vec<PathBuf> = comps[..comps.len() - 1]
            .iter()
            .map(|d| path_from_bytes(d.to_vec()))
            .collect();
        all.push(path_from_bytes(dot_d));
        let all: Vec<&OsStr> = all.iter().map(|d| d.as_os_str()).collect();
        match ensure_dirs(self.base(), &all) {
            Ok(p) => {
                self.pending = Some(p);
                Decision::Descend(k)
            }
            Err(err) => {
                self.error(&e.location, kind::IO, err);
                Decision::Ignore
            }
        }
    }

    fn consume(&mut self, e: &EntryMeta, r: &mut dyn Read) -> io::Result<bool> {
        let comps = match safe_components(&e.raw_path) {
            Ok(c) if !c.is_empty() => c,
            _ => return Ok(true),
        };
        let (dir, name) = match self.target(&comps) {
            Ok(t) => t,
            Err(err) => {
                self.error(&e.location, kind::IO, err);
                return Ok(true);
            }
        };
        let (tmp, size) = match self.write_temp(&dir, r) {
            Ok(t) => t,
            Err(Ok(read_err)) => return Err(read_err),
            Err(Err(write_err)) => {
                self.error(&e.location, kind::IO, write_err);
                return Ok(true);
            }
        };
        if let Ok(f) = File::options().write(true).open(&tmp) {
            let t = if e.mtime >= 0 {
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.mtime.unsigned_abs())
            } else {
                std::time::UNIX_EPOCH - std::time::Duration::from_secs(e.mtime.unsigned_abs())
            };
            // Best effort: a stable mtime lets a later import skip unchanged files.
            let _ = f.set_modified(t);
        }
        match self.place(&tmp, &dir, &name) {
            Ok(Placed::Written(p)) => {
                self.report.files_written += 1;
                self.report.bytes += size;
                if p.file_name().map(os_bytes) != Some(&name[..]) {
                    self.report.renamed += 1;
                }
            }
            Ok(Placed::Unchanged) => self.report.files_unchanged += 1,
            Err(err) => {
                let _ = fs::remove_file(&tmp);
                self.error(&e.location, kind::IO, err);
            }
        }
        Ok(true)
    }

    fn enter(&mut self, _e: &EntryMeta) -> bool {
        let p = self.pending.take().unwrap_or_else(|| self.base().to_path_buf());
        self.stack.push(p);
        self.report.archives += 1;
        true
    }

    fn leave(&mut self, _e: &EntryMeta) {
        self.stack.pop();
    }

    fn problem(&mut self, location: &str, kind: kind::ErrorKind, message: String) -> bool {
        self.error(location, kind, message);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components() {
        assert_eq!(safe_components(b"./a//b/./c.mid"), Ok(vec![&b"a"[..], b"b", b"c.mid"]));
        assert!(safe_components(b"/etc/passwd").is_err());
        assert!(safe_components(b"a/../../x").is_err());
        assert!(safe_components(b"..").is_err());
        assert_eq!(safe_components(b"./"), Ok(vec![]));
    }

    #[test]
    fn numbering() {
        assert_eq!(numbered(b"song.mid", 2, true), b"song (2).mid");
        assert_eq!(numbered(b"README", 3, true), b"README (3)");
        assert_eq!(numbered(b".hidden", 2, true), b".hidden (2)");
        assert_eq!(numbered(b"a.b", 2, false), b"a.b (2)");
    }

    #[test]
    fn folder_naming() {
        let names = folder_names(&[
            PathBuf::from("x/groove.zip"),
            PathBuf::from("y/groove.tar.gz"),
            PathBuf::from("single.mid.gz"),
            PathBuf::from("GROOVE.ZIP"),
            PathBuf::from("groove.tgz"),
        ]);
        let names: Vec<String> = names.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
        assert_eq!(names, ["groove", "groove (2)", "single", "GROOVE", "groove (3)"]);
    }
}
