//! The bytes of one stored location: a plain file, or a member inside an archive (nested too), read again from disk.
//!
//! Only the archives on the member's way are opened and only the wanted member is inflated: the other entries of a
//! zip are passed over unread, and a stream format (tar) is walked until the member and no further.
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::archive::{ReadEvent, read_file};
use super::limits::{Limits, Meter};
use super::location::{MEMBER_SEPARATOR, location_to_path};
use super::stream::{self, Decision, EntryKind, EntryMeta, Visitor, read_bounded};
use super::{ArchiveKind, archive_kind, detect_file, kind};

/// Why a location's bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{0}: no such file")]
    NotFound(String),
    #[error("{location}: member not found in the archive")]
    MemberNotFound { location: String },
    #[error("{location}: {kind}: {message}")]
    Read {
        location: String,
        kind: kind::ErrorKind,
        message: String,
    },
}

/// Where a location lives on disk: the file itself, or the outermost archive and the member inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    Plain(PathBuf),
    Member { archive: PathBuf, archive_location: String },
}

/// Find the file on disk a location starts with. A folder may itself end in `!` (`/music/wow!/a.mid`), so each
/// `!/` is tried from the left and the first one preceded by a regular file names the archive.
pub fn split_location(location: &str) -> Split {
    let mut from = 0;
    while let Some(i) = location[from..].find(MEMBER_SEPARATOR) {
        let at = from + i;
        let prefix = &location[..at];
        let path = location_to_path(prefix);
        if path.is_file() {
            return Split::Member {
                archive: path,
                archive_location: prefix.to_string(),
            };
        }
        from = at + MEMBER_SEPARATOR.len();
    }
    Split::Plain(location_to_path(location))
}

/// The bytes stored at `location` now (they may differ from what was imported if the file changed since).
pub fn read_location(location: &str, limits: &Limits) -> Result<Vec<u8>, FetchError> {
    match split_location(location) {
        Split::Plain(path) => {
            if !path.exists() {
                return Err(FetchError::NotFound(location.to_string()));
            }
            match read_file(location, &path, limits, &Meter::default()) {
                ReadEvent::Member(m) => Ok(m.data),
                ReadEvent::Error {
                    location,
                    kind,
                    message,
                } => Err(FetchError::Read {
                    location,
                    kind,
                    message,
                }),
                ReadEvent::Skipped { location, reason } => Err(FetchError::Read {
                    location,
                    kind: kind::IO,
                    message: reason.to_string(),
                }),
            }
        }
        Split::Member {
            archive,
            archive_location,
        } => read_member(&archive, &archive_location, location, limits),
    }
}

fn read_member(archive: &Path, archive_location: &str, wanted: &str, limits: &Limits) -> Result<Vec<u8>, FetchError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let k = match detect_file(archive, &name) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Err(FetchError::Read {
                location: archive_location.to_string(),
                kind: kind::ARCHIVE_CORRUPT,
                message: format!("not an archive: {name}"),
            });
        }
        Err(e) => {
            return Err(FetchError::Read {
                location: archive_location.to_string(),
                kind: kind::IO,
                message: e.to_string(),
            });
        }
    };
    let mut v = OneMember {
        wanted,
        limits,
        found: None,
        problem: None,
    };
    // Cancelling is how the visitor stops once it has the member (or the first problem on its way).
    let _ = stream::walk_top(archive_location, archive, k, limits, &Meter::default(), &mut v);
    if let Some(data) = v.found {
        return Ok(data);
    }
    Err(v.problem.unwrap_or_else(|| FetchError::MemberNotFound {
        location: wanted.to_string(),
    }))
}

/// Consumes the one wanted member; descends only into the archives that lead to it.
struct OneMember<'a> {
    wanted: &'a str,
    limits: &'a Limits,
    found: Option<Vec<u8>>,
    problem: Option<FetchError>,
}

impl OneMember<'_> {
    /// `location` is an archive the wanted member lies in (at any depth).
    fn leads_to_wanted(&self, location: &str) -> bool {
        self.wanted
            .strip_prefix(location)
            .is_some_and(|rest| rest.starts_with(MEMBER_SEPARATOR))
    }
}

impl Visitor for OneMember<'_> {
    fn decide(&mut self, e: &EntryMeta) -> Decision {
        if e.kind != EntryKind::File {
            return Decision::Ignore;
        }
        if e.location == self.wanted {
            return Decision::Consume;
        }
        if self.leads_to_wanted(&e.location) {
            // The content decides the format; the name is only a hint.
            return Decision::Descend(archive_kind(&e.name()).unwrap_or(ArchiveKind::Zip));
        }
        Decision::Ignore
    }

    fn consume(&mut self, e: &EntryMeta, r: &mut dyn Read) -> io::Result<bool> {
        match read_bounded(r, self.limits.max_member_bytes, e.size)? {
            Some(data) => self.found = Some(data),
            None => {
                self.problem = Some(FetchError::Read {
                    location: e.location.clone(),
                    kind: kind::TOO_LARGE,
                    message: format!("over the {}-byte limit; not read", self.limits.max_member_bytes),
                })
            }
        }
        Ok(false)
    }

    fn problem(&mut self, location: &str, kind: kind::ErrorKind, message: String) -> bool {
        // A problem elsewhere in the archive does not matter; one on the member's way ends the search.
        if location == self.wanted || self.leads_to_wanted(location) {
            self.problem = Some(FetchError::Read {
                location: location.to_string(),
                kind,
                message,
            });
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_ending_in_a_bang_is_not_an_archive() {
        let dir = std::env::temp_dir().join(format!("midi-tui-fetch-{}", std::process::id()));
        let folder = dir.join("wow!");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("a.mid"), b"MThd").unwrap();
        let loc = format!("{}/a.mid", folder.display());
        assert_eq!(split_location(&loc), Split::Plain(folder.join("a.mid")));
        assert_eq!(read_location(&loc, &Limits::default()).unwrap(), b"MThd");
        let missing = format!("{}/gone.zip!/x.mid", dir.display());
        assert!(matches!(
            read_location(&missing, &Limits::default()),
            Err(FetchError::NotFound(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
