//! Reading MIDI payloads: plain files, and every MIDI member of an archive streamed in memory (nested included).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::Ordering;

use super::limits::{Limits, Meter};
use super::location::os_bytes;
use super::stream::{self, Decision, EntryKind, EntryMeta, Visitor, read_bounded, unix_secs};
use super::{ArchiveKind, archive_kind, detect_file, ignored_key, is_macos_junk, is_midi_name, kind, reason};

/// One MIDI payload read from disk or from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub location: String,
    pub size: u64,
    /// Unix seconds: the file's mtime, or the member's stored time (zip DOS times read as UTC).
    pub mtime: i64,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEvent {
    Member(Member),
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

/// What one archive yielded (all nesting levels).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    pub members: u64,
    pub skipped: u64,
    pub errors: u64,
    /// Non-MIDI members, not reported one by one.
    pub ignored: u64,
    /// The same members by type (see [`super::ignored_key`]), for the run summary's tally.
    pub ignored_by_ext: std::collections::BTreeMap<String, u64>,
    /// Nested archives opened.
    pub nested: u64,
    /// `true` if the callback stopped the walk.
    pub cancelled: bool,
}

/// Stream every MIDI member of an archive (recursively into nested archives), calling `f` per event, in archive
/// order. Never panics; problems become `ReadEvent::Error`. Returns early if `f` returns false.
pub fn read_archive(location: &str, fs_path: &Path, limits: &Limits, f: &mut dyn FnMut(ReadEvent) -> bool) {
    read_archive_metered(location, fs_path, limits, &Meter::default(), f);
}

/// [`read_archive`] with live byte counters and a summary.
pub fn read_archive_metered(
    location: &str,
    fs_path: &Path,
    limits: &Limits,
    meter: &Meter,
    f: &mut dyn FnMut(ReadEvent) -> bool,
) -> ArchiveStats {
    let mut v = ReadVisitor {
        limits,
        f,
        stats: ArchiveStats::default(),
        list_only: false,
    };
    walk(location, fs_path, limits, meter, &mut v);
    v.stats
}

/// One MIDI member named by [`list_archive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEvent {
    /// `size` is None inside single compressed files (unknown until inflated).
    Member {
        location: String,
        size: Option<u64>,
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

/// Name every MIDI member of an archive without handing out its bytes. Cheap for a top-level zip (central directory
/// only); tar streams and nested archives still have to be inflated to be listed.
pub fn list_archive(
    location: &str,
    fs_path: &Path,
    limits: &Limits,
    f: &mut dyn FnMut(ListEvent) -> bool,
) -> ArchiveStats {
    let mut adapt = |ev: ReadEvent| match ev {
        // In list mode the visitor sends members with empty data and the declared size.
        ReadEvent::Member(m) => f(ListEvent::Member {
            location: m.location,
            size: (m.size != u64::MAX).then_some(m.size),
            mtime: m.mtime,
        }),
        ReadEvent::Skipped { location, reason } => f(ListEvent::Skipped { location, reason }),
        ReadEvent::Error {
            location,
            kind,
            message,
        } => f(ListEvent::Error {
            location,
            kind,
            message,
        }),
    };
    let mut v = ReadVisitor {
        limits,
        f: &mut adapt,
        stats: ArchiveStats::default(),
        list_only: true,
    };
    walk(location, fs_path, limits, &Meter::default(), &mut v);
    v.stats
}

fn walk(location: &str, fs_path: &Path, limits: &Limits, meter: &Meter, v: &mut ReadVisitor<'_>) {
    let name = fs_path
        .file_name()
        .map(|n| String::from_utf8_lossy(os_bytes(n)).into_owned())
        .unwrap_or_default();
    let k = match detect_file(fs_path, &name) {
        Ok(Some(k)) => k,
        Ok(None) => {
            v.problem(location, kind::ARCHIVE_CORRUPT, format!("not an archive: {name}"));
            return;
        }
        Err(e) => {
            v.problem(location, kind::IO, e.to_string());
            return;
        }
    };
    if stream::walk_top(location, fs_path, k, limits, meter, v).is_err() {
        v.stats.cancelled = true;
    }
}

/// Read one plain MIDI file from disk: `Member`, or `Error` (`io`, `too_large`).
pub fn read_file(location: &str, fs_path: &Path, limits: &Limits, meter: &Meter) -> ReadEvent {
    let err = |kind: kind::ErrorKind, message: String| ReadEvent::Error {
        location: location.to_string(),
        kind,
        message,
    };
    let mut file = match File::open(fs_path) {
        Ok(f) => f,
        Err(e) => return err(kind::IO, e.to_string()),
    };
    let md = match file.metadata() {
        Ok(m) => m,
        Err(e) => return err(kind::IO, e.to_string()),
    };
    let mtime = md.modified().map_or(0, unix_secs);
    match read_bounded(&mut file, limits.max_member_bytes, Some(md.len())) {
        Ok(Some(data)) => {
            meter.disk_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            ReadEvent::Member(Member {
                location: location.to_string(),
                size: data.len() as u64,
                mtime,
                data,
            })
        }
        Ok(None) => err(kind::TOO_LARGE, too_large_msg(Some(md.len()), limits.max_member_bytes)),
        Err(e) => err(kind::IO, e.to_string()),
    }
}

fn too_large_msg(size: Option<u64>, max: u64) -> String {
    match size {
        Some(s) if s > max => {
            format!("{s} bytes, over the {max}-byte limit (max_member_bytes); not read")
        }
        _ => format!("over the {max}-byte limit (max_member_bytes); not read"),
    }
}

struct ReadVisitor<'a> {
    limits: &'a Limits,
    f: &'a mut dyn FnMut(ReadEvent) -> bool,
    stats: ArchiveStats,
    list_only: bool,
}

impl ReadVisitor<'_> {
    fn skipped(&mut self, location: &str, reason: &'static str) -> Decision {
        self.stats.skipped += 1;
        if (self.f)(ReadEvent::Skipped {
            location: location.to_string(),
            reason,
        }) {
            Decision::Ignore
        } else {
            Decision::Stop
        }
    }
}

impl Visitor for ReadVisitor<'_> {
    fn prefetch(&self, e: &EntryMeta) -> bool {
        let name = e.name();
        !self.list_only
            && e.kind == EntryKind::File
            && is_midi_name(&name)
            && !is_macos_junk(&name)
            && e.size.is_some_and(|s| s <= self.limits.max_member_bytes)
    }

    fn decide(&mut self, e: &EntryMeta) -> Decision {
        let name = e.name();
        let midi = is_midi_name(&name);
        let nested: Option<ArchiveKind> = if midi { None } else { archive_kind(&name) };
        match e.kind {
            EntryKind::Dir | EntryKind::Meta => return Decision::Ignore,
            EntryKind::File => {}
            EntryKind::Symlink(_) | EntryKind::Hardlink(_) | EntryKind::Special => {
                return if midi || nested.is_some() {
                    self.skipped(&e.location, reason::NOT_REGULAR)
                } else {
                    Decision::Ignore
                };
            }
        }
        if !midi && nested.is_none() {
            self.stats.ignored += 1;
            *self.stats.ignored_by_ext.entry(ignored_key(&name)).or_insert(0) += 1;
            return Decision::Ignore;
        }
        if is_macos_junk(&name) {
            return self.skipped(&e.location, reason::MACOS_METADATA);
        }
        if let Some(k) = nested {
            if e.depth >= self.limits.max_depth {
                let msg = format!(
                    "archive nested deeper than {} levels; not opened",
                    self.limits.max_depth
                );
                return if self.problem(&e.location, kind::NESTING_TOO_DEEP, msg) {
                    Decision::Ignore
                } else {
                    Decision::Stop
                };
            }
            self.stats.nested += 1;
            return Decision::Descend(k);
        }
        if e.size.is_some_and(|s| s > self.limits.max_member_bytes) {
            let msg = too_large_msg(e.size, self.limits.max_member_bytes);
            return if self.problem(&e.location, kind::TOO_LARGE, msg) {
                Decision::Ignore
            } else {
                Decision::Stop
            };
        }
        if self.list_only {
            self.stats.members += 1;
            let ev = Member {
                location: e.location.clone(),
                size: e.size.unwrap_or(u64::MAX),
                mtime: e.mtime,
                data: vec![],
            };
            return if (self.f)(ReadEvent::Member(ev)) {
                Decision::Ignore
            } else {
                Decision::Stop
            };
        }
        Decision::Consume
    }

    fn consume(&mut self, e: &EntryMeta, r: &mut dyn Read) -> io::Result<bool> {
        match read_bounded(r, self.limits.max_member_bytes, e.size)? {
            Some(data) => {
                self.stats.members += 1;
                let m = Member {
                    location: e.location.clone(),
                    size: data.len() as u64,
                    mtime: e.mtime,
                    data,
                };
                Ok((self.f)(ReadEvent::Member(m)))
            }
            None => Ok(self.problem(
                &e.location,
                kind::TOO_LARGE,
                too_large_msg(e.size, self.limits.max_member_bytes),
            )),
        }
    }

    fn problem(&mut self, location: &str, kind: kind::ErrorKind, message: String) -> bool {
        self.stats.errors += 1;
        (self.f)(ReadEvent::Error {
            location: location.to_string(),
            kind,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let l = Limits::default();
        assert_eq!(l.max_member_bytes, 64 * 1024 * 1024);
        assert_eq!(l.max_archive_expansion, 16 * 1024 * 1024 * 1024);
        assert_eq!(l.max_depth, 4);
    }

    #[test]
    fn read_file_missing_is_io_error() {
        let ev = read_file(
            "nope.mid",
            Path::new("/nonexistent/nope.mid"),
            &Limits::default(),
            &Meter::default(),
        );
        assert!(matches!(ev, ReadEvent::Error { kind: kind::IO, .. }), "{ev:?}");
    }
}
