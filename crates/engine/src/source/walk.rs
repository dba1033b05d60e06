//! The scan: walk source folders (sorted, recursive, symlink-loop safe) and name each MIDI file and archive.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use super::location::{encode_os_path, os_bytes};
use super::stream::unix_secs;
use super::{archive_kind, detect_file, ignored_key, is_macos_junk, is_midi_name, kind, reason};

/// One unit found by the scan: a plain MIDI file, or an archive to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanItem {
    File {
        location: String,
        fs_path: PathBuf,
        size: u64,
        mtime: i64,
    },
    Archive {
        location: String,
        fs_path: PathBuf,
        size: u64,
        mtime: i64,
    },
    Skipped {
        location: String,
        reason: &'static str,
    },
    Error {
        location: String,
        kind: kind::ErrorKind,
        message: String,
    },
}

/// Totals of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub files: u64,
    pub archives: u64,
    pub skipped: u64,
    pub errors: u64,
    /// Files that are neither MIDI nor archives (not reported one by one).
    pub ignored: u64,
    /// The same files by type (see [`super::ignored_key`]): `.wav` -> 1204.
    pub ignored_by_ext: BTreeMap<String, u64>,
    pub folders: u64,
    /// Total bytes of the MIDI files and archives found.
    pub bytes: u64,
    /// `true` if the callback stopped the scan.
    pub cancelled: bool,
}

/// Walk sources (folders recursively, single files, archives) calling `f` for every item, in a deterministic order:
/// sources as given, each folder's entries sorted by name bytes, depth first. Unreadable folders and files become
/// `ScanItem::Error`; the scan never aborts. Returns early if `f` returns false.
///
/// Symlinks are followed; a folder reached twice (a symlink loop or two links to one folder) is walked once.
/// Files under `__MACOSX` and `._*` files with MIDI or archive names are `Skipped`; other files are ignored.
pub fn scan(sources: &[PathBuf], f: &mut dyn FnMut(ScanItem) -> bool) {
    scan_counted(sources, f);
}

/// [`scan`], returning totals.
pub fn scan_counted(sources: &[PathBuf], f: &mut dyn FnMut(ScanItem) -> bool) -> ScanStats {
    let mut w = Walker {
        f,
        stats: ScanStats::default(),
        seen_dirs: HashSet::new(),
        ahead: DirAhead::start(),
    };
    for src in sources {
        if !w.source(src) {
            w.stats.cancelled = true;
            break;
        }
    }
    w.stats
}

struct Walker<'a> {
    f: &'a mut dyn FnMut(ScanItem) -> bool,
    stats: ScanStats,
    seen_dirs: HashSet<(u64, u64)>,
    ahead: DirAhead,
}

/// Folders hinted ahead of the walk, at most; a hint beyond that is dropped and costs nothing.
const DIRS_AHEAD: usize = 512;
/// Threads reading folders ahead of the walk by default (`MIDI_TUI_SCAN_AHEAD=N` sets N, 0 turns it off).
const DIR_THREADS: usize = 4;
/// At most this many, whatever the variable says.
const MAX_DIR_THREADS: usize = 64;

/// Reads folders ahead of the walk. On a cold cache every folder listing and every file's inode is a read the walk
/// waits for, one at a time, behind the file contents queued for the readers: a library of many small folders is
/// then walked slower than it is read. A few threads list the folders the walk will enter next (and their
/// subfolders, as far as the bounded queue allows) and look at each entry, so that the walk finds them cached.
/// `MIDI_TUI_READAHEAD=0` turns it off with the file read-ahead; `MIDI_TUI_SCAN_AHEAD=N` sets the threads.
struct DirAhead {
    hints: Option<crossbeam_channel::Sender<PathBuf>>,
    /// Dropped to stop the threads, which then end without draining their queue.
    stop: Option<crossbeam_channel::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl DirAhead {
    fn start() -> Self {
        let n = dir_threads(
            std::env::var("MIDI_TUI_SCAN_AHEAD").ok().as_deref(),
            std::env::var("MIDI_TUI_READAHEAD").ok().as_deref(),
        );
        if n == 0 {
            return Self {
                hints: None,
                stop: None,
                threads: Vec::new(),
            };
        }
        let (tx, rx) = crossbeam_channel::bounded::<PathBuf>(DIRS_AHEAD);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let threads = (0..n)
            .filter_map(|i| {
                let (tx, rx, stop) = (tx.clone(), rx.clone(), stop_rx.clone());
                std::thread::Builder::new()
                    .name(format!("scan-ahead-{i}"))
                    .spawn(move || read_ahead(&tx, &rx, &stop))
                    .ok()
            })
            .collect();
        Self {
            hints: Some(tx),
            stop: Some(stop_tx),
            threads,
        }
    }

    fn hint(&self, dir: PathBuf) {
        if let Some(tx) = &self.hints {
            let _ = tx.try_send(dir);
        }
    }
}

impl Drop for DirAhead {
    fn drop(&mut self) {
        self.stop.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Threads for the variables' values: `MIDI_TUI_SCAN_AHEAD` (unset or not a number: the default), none when
/// `MIDI_TUI_READAHEAD` is 0.
fn dir_threads(scan_ahead: Option<&str>, read_ahead: Option<&str>) -> usize {
    if read_ahead.is_some_and(|v| v.trim() == "0") {
        return 0;
    }
    crate::machine::threads_from_var(scan_ahead, DIR_THREADS, MAX_DIR_THREADS)
}

/// One read-ahead thread: list each hinted folder, look at its entries, hint its subfolders; until stopped.
fn read_ahead(
    tx: &crossbeam_channel::Sender<PathBuf>,
    rx: &crossbeam_channel::Receiver<PathBuf>,
    stop: &crossbeam_channel::Receiver<()>,
) {
    loop {
        let dir = crossbeam_channel::select! {
            recv(rx) -> d => match d { Ok(d) => d, Err(_) => return },
            recv(stop) -> _ => return,
        };
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for ent in rd.flatten() {
            if matches!(stop.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected)) {
                return;
            }
            match ent.file_type() {
                Ok(t) if t.is_dir() => {
                    let _ = tx.try_send(ent.path());
                }
                // The walk asks for each file's metadata: its inode is read here first.
                _ => {
                    let _ = ent.metadata();
                }
            }
        }
    }
}

/// What a file means to the scan.
enum Class {
    Midi,
    Archive,
    Junk,
    /// Neither MIDI nor an archive: counted under this type.
    Other(String),
}

/// MIDI files go by name; archives by content, the name a hint (see `detect_file`). Only a regular file
/// (`regular`) is opened to be looked at.
fn classify(path: &Path, regular: bool) -> Class {
    let text = String::from_utf8_lossy(os_bytes(path.as_os_str()));
    let base = path
        .file_name()
        .map(|n| String::from_utf8_lossy(os_bytes(n)).into_owned())
        .unwrap_or_default();
    let midi = is_midi_name(&base);
    let archive = !midi
        && match regular {
            // Unreadable: an archive by name still is one, and its reader says why it cannot be read.
            true => detect_file(path, &base).map_or(archive_kind(&base).is_some(), |k| k.is_some()),
            false => archive_kind(&base).is_some(),
        };
    if !midi && !archive {
        return Class::Other(ignored_key(&base));
    }
    if is_macos_junk(&text) {
        return Class::Junk;
    }
    if midi { Class::Midi } else { Class::Archive }
}

impl Walker<'_> {
    fn emit(&mut self, item: ScanItem) -> bool {
        match &item {
            ScanItem::File { size, .. } => {
                self.stats.files += 1;
                self.stats.bytes += size;
            }
            ScanItem::Archive { size, .. } => {
                self.stats.archives += 1;
                self.stats.bytes += size;
            }
            ScanItem::Skipped { .. } => self.stats.skipped += 1,
            ScanItem::Error { .. } => self.stats.errors += 1,
        }
        (self.f)(item)
    }

    fn ignore(&mut self, key: String) {
        self.stats.ignored += 1;
        *self.stats.ignored_by_ext.entry(key).or_insert(0) += 1;
    }

    fn error(&mut self, path: &Path, e: &std::io::Error) -> bool {
        self.emit(ScanItem::Error {
            location: encode_os_path(path),
            kind: kind::IO,
            message: io_message(e),
        })
    }

    fn source(&mut self, src: &Path) -> bool {
        match fs::metadata(src) {
            Err(e) => self.error(src, &e),
            Ok(md) if md.is_dir() => self.dir(src, &md),
            Ok(md) => {
                if md.is_file() && matches!(classify(src, true), Class::Other(_)) {
                    // Named explicitly, so say why nothing happens to it.
                    self.emit(ScanItem::Skipped {
                        location: encode_os_path(src),
                        reason: reason::NOT_MIDI,
                    })
                } else {
                    self.file(src, &md)
                }
            }
        }
    }

    /// A non-folder; `md` follows symlinks.
    fn file(&mut self, path: &Path, md: &Metadata) -> bool {
        let class = classify(path, md.is_file());
        if let Class::Other(key) = class {
            self.ignore(key);
            return true;
        }
        let location = encode_os_path(path);
        if matches!(class, Class::Junk) {
            return self.emit(ScanItem::Skipped {
                location,
                reason: reason::MACOS_METADATA,
            });
        }
        if !md.is_file() {
            // A fifo or device named like a MIDI file: reading it could block forever.
            return self.emit(ScanItem::Skipped {
                location,
                reason: reason::NOT_REGULAR,
            });
        }
        let (size, mtime, fs_path) = (md.len(), md.modified().map_or(0, unix_secs), path.to_path_buf());
        match class {
            Class::Midi => self.emit(ScanItem::File {
                location,
                fs_path,
                size,
                mtime,
            }),
            _ => self.emit(ScanItem::Archive {
                location,
                fs_path,
                size,
                mtime,
            }),
        }
    }

    fn dir(&mut self, dir: &Path, md: &Metadata) -> bool {
        if !self.seen_dirs.insert(dir_key(md)) {
            return true;
        }
        self.stats.folders += 1;
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => return self.error(dir, &e),
        };
        let mut entries = Vec::new();
        for ent in rd {
            match ent {
                Ok(ent) => entries.push(ent),
                Err(e) => {
                    if !self.error(dir, &e) {
                        return false;
                    }
                }
            }
        }
        entries.sort_by(|a, b| os_bytes(&a.file_name()).cmp(os_bytes(&b.file_name())));
        for ent in &entries {
            if ent.file_type().is_ok_and(|t| t.is_dir()) {
                self.ahead.hint(ent.path());
            }
        }
        for ent in entries {
            let path = ent.path();
            let ft = match ent.file_type() {
                Ok(ft) => ft,
                Err(e) => {
                    if !self.error(&path, &e) {
                        return false;
                    }
                    continue;
                }
            };
            let md = if ft.is_symlink() {
                match fs::metadata(&path) {
                    Ok(md) => md,
                    // A dangling link matters only if it claims to be something we would import.
                    Err(e) => {
                        if let Class::Other(key) = classify(&path, false) {
                            self.ignore(key);
                            continue;
                        }
                        if !self.error(&path, &e) {
                            return false;
                        }
                        continue;
                    }
                }
            } else {
                match ent.metadata() {
                    Ok(md) => md,
                    Err(e) => {
                        if !self.error(&path, &e) {
                            return false;
                        }
                        continue;
                    }
                }
            };
            let go_on = if md.is_dir() {
                self.dir(&path, &md)
            } else {
                self.file(&path, &md)
            };
            if !go_on {
                return false;
            }
        }
        true
    }
}

/// The text of an I/O error on a path, naming a symbolic link loop as one.
pub fn io_message(e: &std::io::Error) -> String {
    if is_symlink_loop(e) {
        format!("symbolic link loop ({e})")
    } else {
        e.to_string()
    }
}

fn is_symlink_loop(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// Why a source named on the command line cannot be read, or `None` when it can be: a symbolic link loop and a
/// dangling link are told apart from a path that does not exist.
pub fn source_problem(src: &Path) -> Option<String> {
    let e = fs::metadata(src).err()?;
    let shown = src.display();
    Some(if is_symlink_loop(&e) {
        format!("source {shown} is a symbolic link loop ({e})")
    } else if e.kind() == std::io::ErrorKind::NotFound && fs::symlink_metadata(src).is_ok() {
        format!("source {shown} is a symbolic link to nothing ({e})")
    } else if e.kind() == std::io::ErrorKind::NotFound {
        format!("source {shown} does not exist")
    } else {
        format!("source {shown}: {e}")
    })
}

#[cfg(unix)]
fn dir_key(md: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (md.dev(), md.ino())
}

#[cfg(not(unix))]
fn dir_key(_md: &Metadata) -> (u64, u64) {
    // No inode numbers: every folder is new (symlink loops are rare there).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    (0, NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_folder_read_ahead_follows_its_variables() {
        assert_eq!(dir_threads(None, None), DIR_THREADS);
        assert_eq!(dir_threads(Some("8"), None), 8);
        assert_eq!(dir_threads(Some("0"), None), 0);
        assert_eq!(dir_threads(Some("500"), Some("1")), MAX_DIR_THREADS);
        assert_eq!(dir_threads(Some("8"), Some("0")), 0, "read-ahead off turns both off");
        assert_eq!(dir_threads(Some("many"), None), DIR_THREADS);
        // The walk ends (its read-ahead threads joined) with the hints still queued.
        let dir = std::env::temp_dir().join(format!("walk-ahead-{}", std::process::id()));
        for i in 0..50 {
            fs::create_dir_all(dir.join(format!("d{i:02}/e/f"))).unwrap();
            fs::write(dir.join(format!("d{i:02}/e/f/a.mid")), b"MThd").unwrap();
        }
        let (items, stats) = collect(std::slice::from_ref(&dir));
        assert_eq!(stats.files, 50);
        assert!(matches!(&items[0], ScanItem::File { location, .. } if location.ends_with("d00/e/f/a.mid")));
        fs::remove_dir_all(&dir).unwrap();
    }

    fn collect(sources: &[PathBuf]) -> (Vec<ScanItem>, ScanStats) {
        let mut items = Vec::new();
        let stats = scan_counted(sources, &mut |it| {
            items.push(it);
            true
        });
        (items, stats)
    }

    fn loc(it: &ScanItem) -> &str {
        match it {
            ScanItem::File { location, .. }
            | ScanItem::Archive { location, .. }
            | ScanItem::Skipped { location, .. }
            | ScanItem::Error { location, .. } => location,
        }
    }

    #[test]
    fn walks_sorted_and_classifies() -> std::io::Result<()> {
        let t = tempfile::tempdir()?;
        let root = t.path();
        fs::create_dir_all(root.join("b/sub"))?;
        fs::create_dir_all(root.join("__MACOSX/b"))?;
        fs::write(root.join("b/sub/z.MID"), b"MThd")?;
        fs::write(root.join("b/a.kar"), b"MThd")?;
        fs::write(root.join("b/._a.kar"), b"junk")?;
        fs::write(root.join("__MACOSX/b/._a.kar"), b"junk")?;
        fs::write(root.join("a.zip"), b"PK")?;
        fs::write(root.join("notes.txt"), b"hello")?;
        fs::write(root.join("c.midi"), b"MThd")?;
        let (items, stats) = collect(&[root.to_path_buf()]);
        let rel: Vec<String> = items
            .iter()
            .map(|i| loc(i).trim_start_matches(&*encode_os_path(root)).to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "/__MACOSX/b/._a.kar",
                "/a.zip",
                "/b/._a.kar",
                "/b/a.kar",
                "/b/sub/z.MID",
                "/c.midi"
            ]
        );
        assert_eq!(
            (stats.files, stats.archives, stats.skipped, stats.ignored, stats.errors),
            (3, 1, 2, 1, 0)
        );
        assert!(matches!(
            items[0],
            ScanItem::Skipped {
                reason: "macos_metadata",
                ..
            }
        ));
        assert!(matches!(&items[3], ScanItem::File { size: 4, .. }));
        Ok(())
    }

    #[test]
    fn missing_source_and_explicit_files() -> std::io::Result<()> {
        let t = tempfile::tempdir()?;
        let txt = t.path().join("x.txt");
        fs::write(&txt, b"x")?;
        let mid = t.path().join("x.mid");
        fs::write(&mid, b"MThd")?;
        let (items, stats) = collect(&[t.path().join("missing"), txt, mid]);
        assert!(matches!(items[0], ScanItem::Error { kind: kind::IO, .. }));
        assert!(matches!(items[1], ScanItem::Skipped { reason: "not_midi", .. }));
        assert!(matches!(items[2], ScanItem::File { .. }));
        assert_eq!(stats.errors, 1);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_non_utf8_names() -> std::io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let t = tempfile::tempdir()?;
        let d = t.path().join("d");
        fs::create_dir(&d)?;
        std::os::unix::fs::symlink(&d, d.join("loop"))?;
        std::os::unix::fs::symlink(t.path().join("gone.mid"), d.join("dangling.mid"))?;
        let odd = d.join(std::ffi::OsStr::from_bytes(b"caf\xe9.mid"));
        fs::write(&odd, b"MThd")?;
        let (items, stats) = collect(std::slice::from_ref(&d));
        let locs: Vec<&str> = items.iter().map(loc).collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(locs[0].ends_with("/caf%E9.mid"), "{locs:?}");
        assert!(matches!(items[1], ScanItem::Error { kind: kind::IO, .. }));
        assert_eq!(super::super::location_to_path(locs[0]), odd);
        assert_eq!(stats.folders, 1);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_is_named_as_one() -> std::io::Result<()> {
        let t = tempfile::tempdir()?;
        let d = t.path().join("d");
        fs::create_dir(&d)?;
        std::os::unix::fs::symlink(d.join("b.mid"), d.join("a.mid"))?;
        std::os::unix::fs::symlink(d.join("a.mid"), d.join("b.mid"))?;
        std::os::unix::fs::symlink(t.path().join("gone.mid"), d.join("dangling.mid"))?;
        let (items, _) = collect(std::slice::from_ref(&d));
        let messages: Vec<&str> = items
            .iter()
            .map(|i| match i {
                ScanItem::Error { message, .. } => message.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(messages.len(), 3, "{items:?}");
        assert!(messages[0].starts_with("symbolic link loop"), "{messages:?}");
        assert!(messages[1].starts_with("symbolic link loop"), "{messages:?}");
        assert!(
            !messages[2].contains("loop"),
            "a dangling link is no loop: {messages:?}"
        );

        let problem = |p: &Path| source_problem(p).unwrap_or_default();
        assert!(problem(&d.join("a.mid")).contains("is a symbolic link loop"));
        assert!(problem(&d.join("dangling.mid")).contains("symbolic link to nothing"));
        assert!(problem(&t.path().join("missing")).ends_with("does not exist"));
        assert_eq!(source_problem(&d), None);
        Ok(())
    }

    #[test]
    fn stops_when_asked() -> std::io::Result<()> {
        let t = tempfile::tempdir()?;
        for n in ["a.mid", "b.mid", "c.mid"] {
            fs::write(t.path().join(n), b"MThd")?;
        }
        let mut n = 0;
        let stats = scan_counted(&[t.path().to_path_buf()], &mut |_| {
            n += 1;
            n < 2
        });
        assert_eq!(n, 2);
        assert!(stats.cancelled);
        Ok(())
    }
}
