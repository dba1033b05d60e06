//! Sources: folders, MIDI files and archives (nested), walked and streamed in memory.
//!
//! * [`scan`] walks the sources given on the command line and yields one [`ScanItem`] per MIDI file or archive.
//! * [`read_archive`] streams the MIDI members of one archive (nested archives included) without writing anything to
//!   disk; [`read_file`] reads a plain MIDI file. Both bound memory and guard against compression bombs ([`Limits`]).
//! * [`read_location`] reads the bytes of one stored location again (a file, or one member of a nested archive).
//! * [`list_archive`] names an archive's MIDI members without handing out their bytes (cheap for zip).
//! * Locations are lossless strings ([`encode_os_path`], [`decode_location`]; scheme in [`location`]).
//!
//! Error kinds are stable short codes (see [`kind`]).

pub mod archive;
pub mod detect;
pub mod fetch;
pub mod limits;
pub mod location;
pub(crate) mod stream;
pub mod walk;

pub use archive::{
    ArchiveStats, ListEvent, Member, ReadEvent, list_archive, read_archive, read_archive_metered, read_file,
};
pub use detect::{detect_archive, detect_file, ignored_key, ignored_summary, sniff};
pub use fetch::{FetchError, read_location};
pub use limits::{Limits, Meter};
pub use location::{decode_location, encode_bytes, encode_os_path, location_to_path, member_location};
pub use walk::{ScanItem, ScanStats, scan, scan_counted, source_problem};

/// The kinds of `ReadEvent::Error` / `ScanItem::Error` (they land in `import_errors`), by their short names.
pub mod kind {
    pub use crate::kinds::ErrorKind;
    pub const IO: ErrorKind = ErrorKind::Io;
    pub const ARCHIVE_CORRUPT: ErrorKind = ErrorKind::ArchiveCorrupt;
    pub const TOO_LARGE: ErrorKind = ErrorKind::TooLarge;
    pub const COMPRESSION_BOMB: ErrorKind = ErrorKind::CompressionBomb;
    pub const NESTING_TOO_DEEP: ErrorKind = ErrorKind::NestingTooDeep;
    pub const ENCRYPTED: ErrorKind = ErrorKind::Encrypted;
    pub const UNSUPPORTED_METHOD: ErrorKind = ErrorKind::UnsupportedMethod;
    pub const MISSING_VOLUME: ErrorKind = ErrorKind::MissingVolume;
}

/// Stable short codes for `Skipped` reasons.
pub mod reason {
    /// macOS resource forks: `._name` files and anything under `__MACOSX/`.
    pub const MACOS_METADATA: &str = "macos_metadata";
    /// A link (symbolic or hard) or special file carrying a MIDI or archive name.
    pub const NOT_REGULAR: &str = "not_regular";
    /// A source given explicitly that is neither a MIDI file, an archive nor a folder.
    pub const NOT_MIDI: &str = "not_midi";
}

/// The stream compression around a tar or a single file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    /// The lz4 frame format (`lz4` command line tool), not raw blocks.
    Lz4,
}

/// What kind of archive a name (or content) denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    Zip,
    /// A tar, possibly compressed (`.tar`, `.tar.gz`/`.tgz`, `.tar.bz2`/`.tbz2`/`.tbz`, `.tar.xz`/`.txz`).
    Tar(Compression),
    /// One compressed file (`.gz`, `.bz2`, `.xz`, `.zst`, `.lz4`); its inner name is the outer name without the
    /// suffix.
    Single(Compression),
    /// A 7-Zip archive (`.7z`), solid or not.
    SevenZip,
    /// A RAR archive (`.rar`, RAR4 or RAR5), solid or not, single or multi-volume.
    Rar,
}

impl ArchiveKind {
    /// The suffix length (in bytes) that the archive name carries for this kind, e.g. 7 for `.tar.gz`.
    fn suffix_len(self, lower_name: &str) -> usize {
        const SUFFIXES: &[&str] = &[
            ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz4", ".tgz", ".tbz2", ".tbz", ".txz", ".tzst", ".tar",
            ".zip", ".7z", ".rar", ".gz", ".bz2", ".xz", ".zst", ".lz4",
        ];
        SUFFIXES
            .iter()
            .find(|s| lower_name.ends_with(*s))
            .map_or(0, |s| s.len())
    }
}

/// The base name (last `/`-separated component) of a path.
fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// True for MIDI file names: `.mid`, `.midi`, `.kar`, `.rmi`, in any case.
pub fn is_midi_name(name: &str) -> bool {
    let base = base_name(name);
    let Some(dot) = base.rfind('.') else {
        return false;
    };
    let ext = &base[dot + 1..];
    ["mid", "midi", "kar", "rmi"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
}

/// The archive kind a name denotes, by suffix, in any case.
pub fn archive_kind(name: &str) -> Option<ArchiveKind> {
    let lower = base_name(name).to_ascii_lowercase();
    let ends = |s: &str| lower.ends_with(s) && lower.len() > s.len();
    let kind = if ends(".zip") {
        ArchiveKind::Zip
    } else if ends(".tar") {
        ArchiveKind::Tar(Compression::None)
    } else if ends(".tar.gz") || ends(".tgz") {
        ArchiveKind::Tar(Compression::Gzip)
    } else if ends(".tar.bz2") || ends(".tbz2") || ends(".tbz") {
        ArchiveKind::Tar(Compression::Bzip2)
    } else if ends(".tar.xz") || ends(".txz") {
        ArchiveKind::Tar(Compression::Xz)
    } else if ends(".tar.zst") || ends(".tzst") {
        ArchiveKind::Tar(Compression::Zstd)
    } else if ends(".tar.lz4") {
        ArchiveKind::Tar(Compression::Lz4)
    } else if ends(".7z") || stream::split_7z_volume(&lower).is_some() {
        ArchiveKind::SevenZip
    } else if ends(".rar") {
        ArchiveKind::Rar
    } else if ends(".gz") {
        ArchiveKind::Single(Compression::Gzip)
    } else if ends(".bz2") {
        ArchiveKind::Single(Compression::Bzip2)
    } else if ends(".xz") {
        ArchiveKind::Single(Compression::Xz)
    } else if ends(".zst") {
        ArchiveKind::Single(Compression::Zstd)
    } else if ends(".lz4") {
        ArchiveKind::Single(Compression::Lz4)
    } else {
        return None;
    };
    Some(kind)
}

/// The archive's name without its archive suffix (`a.tar.gz` -> `a`, `song.mid.gz` -> `song.mid`).
pub fn strip_archive_suffix(name: &str) -> &str {
    let base = base_name(name);
    match archive_kind(base) {
        Some(k) => {
            let n = k.suffix_len(&base.to_ascii_lowercase());
            &base[..base.len().saturating_sub(n)]
        }
        None => base,
    }
}

/// macOS metadata: a `._` file or anything under a `__MACOSX` folder (a path with `/` separators).
pub fn is_macos_junk(path: &str) -> bool {
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let mut last = "";
    for p in parts.by_ref() {
        if p == "__MACOSX" {
            return true;
        }
        last = p;
    }
    last.starts_with("._")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_names() {
        for n in ["a.mid", "A.MID", "x/y.Midi", "k.KAR", "r.rmi", ".mid.mid"] {
            assert!(is_midi_name(n), "{n}");
        }
        for n in ["a.mid.gz", "mid", "a.midx", "a.txt", "dir.mid/readme", ""] {
            assert!(!is_midi_name(n), "{n}");
        }
    }

    #[test]
    fn archive_kinds() {
        use ArchiveKind::*;
        use Compression::{Bzip2, Gzip, Xz};
        let cases = [
            ("a.zip", Some(Zip)),
            ("A.ZIP", Some(Zip)),
            ("a.tar", Some(Tar(Compression::None))),
            ("a.tar.gz", Some(Tar(Gzip))),
            ("a.TGZ", Some(Tar(Gzip))),
            ("a.tar.bz2", Some(Tar(Bzip2))),
            ("a.tbz2", Some(Tar(Bzip2))),
            ("a.tbz", Some(Tar(Bzip2))),
            ("a.tar.xz", Some(Tar(Xz))),
            ("a.txz", Some(Tar(Xz))),
            ("single.mid.gz", Some(Single(Gzip))),
            ("s.mid.bz2", Some(Single(Bzip2))),
            ("s.mid.XZ", Some(Single(Xz))),
            ("dir.zip/a.mid", None),
            ("a.mid", None),
            (".zip", None),
            ("a.7z", Some(SevenZip)),
            ("a.7z.001", Some(SevenZip)),
            ("a.7Z.014", Some(SevenZip)),
            ("a.zip.001", None),
            ("a.RAR", Some(Rar)),
            ("a.tar.zst", Some(Tar(Compression::Zstd))),
            ("a.tzst", Some(Tar(Compression::Zstd))),
            ("a.tar.lz4", Some(Tar(Compression::Lz4))),
            ("s.mid.zst", Some(Single(Compression::Zstd))),
            ("s.mid.lz4", Some(Single(Compression::Lz4))),
            ("a.wav", None),
        ];
        for (n, k) in cases {
            assert_eq!(archive_kind(n), k, "{n}");
        }
    }

    #[test]
    fn suffix_stripping() {
        assert_eq!(strip_archive_suffix("x/groove.zip"), "groove");
        assert_eq!(strip_archive_suffix("a.tar.gz"), "a");
        assert_eq!(strip_archive_suffix("A.TBZ2"), "A");
        assert_eq!(strip_archive_suffix("single.mid.gz"), "single.mid");
        assert_eq!(strip_archive_suffix("plain.mid"), "plain.mid");
    }

    #[test]
    fn macos_junk() {
        assert!(is_macos_junk("__MACOSX/a/._x.mid"));
        assert!(is_macos_junk("a/__MACOSX/x.mid"));
        assert!(is_macos_junk("._x.mid"));
        assert!(is_macos_junk("dir/._x.mid"));
        assert!(!is_macos_junk("dir/x._mid"));
        assert!(!is_macos_junk("__MACOSX_not/x.mid"));
        assert!(!is_macos_junk("x.mid"));
    }
}
