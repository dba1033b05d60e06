//! Archive detection by content (magic bytes), the name only as a hint, and the tally of files that are neither.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::{ArchiveKind, Compression, archive_kind};

/// Bytes read from the start of a file to recognise it: a tar's `ustar` magic sits at offset 257.
pub const HEAD_LEN: usize = 512;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    Zip,
    SevenZip,
    Rar,
    /// An uncompressed tar (POSIX `ustar` or GNU).
    Tar,
    /// A compressed stream: a tar inside, or one compressed file.
    Compressed(Compression),
}

/// The container format of `head` (the first [`HEAD_LEN`] bytes of a file or member), if any.
pub fn sniff(head: &[u8]) -> Option<Magic> {
    let starts = |m: &[u8]| head.starts_with(m);
    let magic = if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        Magic::Zip
    } else if starts(b"7z\xBC\xAF\x27\x1C") {
        Magic::SevenZip
    } else if starts(b"Rar!\x1A\x07\x00") || starts(b"Rar!\x1A\x07\x01\x00") {
        Magic::Rar
    } else if starts(&[0x1f, 0x8b]) {
        Magic::Compressed(Compression::Gzip)
    } else if starts(b"BZh") && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        Magic::Compressed(Compression::Bzip2)
    } else if starts(b"\xFD7zXZ\x00") {
        Magic::Compressed(Compression::Xz)
    } else if starts(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Magic::Compressed(Compression::Zstd)
    } else if starts(&[0x04, 0x22, 0x4D, 0x18]) {
        Magic::Compressed(Compression::Lz4)
    } else if head.get(257..262) == Some(b"ustar") {
        Magic::Tar
    } else {
        return None;
    };
    Some(magic)
}

/// The archive kind from content and name: the content wins; the name only says whether a compressed stream holds
/// a tar or one file, and keeps a damaged archive an archive (its reader then says what is wrong). `None` for a
/// compressed stream whose name says neither (the caller may look inside, see [`detect_file`]).
pub fn detect_archive(name: &str, head: &[u8]) -> Option<ArchiveKind> {
    let hint = archive_kind(name);
    match sniff(head) {
        Some(Magic::Zip) => Some(ArchiveKind::Zip),
        Some(Magic::SevenZip) => Some(ArchiveKind::SevenZip),
        Some(Magic::Rar) => Some(ArchiveKind::Rar),
        Some(Magic::Tar) => Some(ArchiveKind::Tar(Compression::None)),
        Some(Magic::Compressed(c)) => match hint {
            Some(ArchiveKind::Single(_)) => Some(ArchiveKind::Single(c)),
            Some(ArchiveKind::Tar(_)) => Some(ArchiveKind::Tar(c)),
            _ => None,
        },
        None => hint,
    }
}

/// The archive kind of a file on disk, by content (see [`detect_archive`]). A compressed stream with no telling
/// name counts as an archive only when it holds a tar (one compressed file of unknown name is not a MIDI file).
pub fn detect_file(path: &Path, name: &str) -> io::Result<Option<ArchiveKind>> {
    let mut f = File::open(path)?;
    let head = read_head(&mut f)?;
    if let Some(k) = detect_archive(name, &head) {
        return Ok(Some(k));
    }
    match sniff(&head) {
        Some(Magic::Compressed(c)) => {
            let f = File::open(path)?;
            let mut inner = decoder(c, Box::new(f))?;
            let inner_head = read_head(&mut inner).unwrap_or_default();
            Ok((sniff(&inner_head) == Some(Magic::Tar)).then_some(ArchiveKind::Tar(c)))
        }
        _ => Ok(None),
    }
}

/// Up to [`HEAD_LEN`] bytes from the start of `r`.
pub(crate) fn read_head(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    r.take(HEAD_LEN as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// A plain decoder for a compressed stream (no guards: callers bound what they read).
pub(crate) fn decoder<'a>(c: Compression, r: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => r,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(r)),
    })
}

/// The key an ignored file is counted under: its extension in lower case with the dot (`.wav`), `(none)` without
/// one, `(other)` for odd long ones (so a folder of random names cannot grow the tally without bound).
pub fn ignored_key(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.rfind('.').filter(|&d| d > 0) {
        None => "(none)".to_string(),
        Some(d) => {
            let ext = &base[d..];
            if ext.len() > 12
                || !ext[1..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                "(other)".to_string()
            } else {
                ext.to_ascii_lowercase()
            }
        }
    }
}

/// "ignored: 1,204 .wav, 3 .pdf" (most frequent first, at most 8 types named), or `None` when nothing was ignored.
pub fn ignored_summary(ignored: &BTreeMap<String, u64>) -> Option<String> {
    let mut items: Vec<(&String, &u64)> = ignored.iter().filter(|(_, n)| **n > 0).collect();
    if items.is_empty() {
        return None;
    }
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    const SHOWN: usize = 8;
    let mut parts: Vec<String> = items
        .iter()
        .take(SHOWN)
        .map(|(k, n)| format!("{} {k}", crate::human::count(**n)))
        .collect();
    if items.len() > SHOWN {
        let rest: u64 = items[SHOWN..].iter().map(|(_, n)| **n).sum();
        parts.push(format!(
            "{} of {}",
            crate::human::count(rest),
            crate::human::counted(items.len() - SHOWN, "other type")
        ));
    }
    Some(format!("ignored: {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_wins_over_the_name() {
        assert_eq!(detect_archive("x.bin", b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        assert_eq!(
            detect_archive("x.dat", b"7z\xBC\xAF\x27\x1C\x00\x04"),
            Some(ArchiveKind::SevenZip)
        );
        assert_eq!(detect_archive("x.zip", b"Rar!\x1A\x07\x01\x00"), Some(ArchiveKind::Rar));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect_archive("noext", &tar), Some(ArchiveKind::Tar(Compression::None)));
        assert_eq!(
            detect_archive("a.tar.gz", &[0x28, 0xB5, 0x2F, 0xFD]),
            Some(ArchiveKind::Tar(Compression::Zstd))
        );
        assert_eq!(
            detect_archive("s.mid.gz", &[0x1f, 0x8b, 8]),
            Some(ArchiveKind::Single(Compression::Gzip))
        );
        // A damaged archive keeps its name's kind; an unknown file with an unknown name is nothing.
        assert_eq!(detect_archive("bad.7z", b"garbage"), Some(ArchiveKind::SevenZip));
        assert_eq!(detect_archive("a.wav", b"RIFF....WAVE"), None);
        assert_eq!(detect_archive("a.bin", &[0x1f, 0x8b, 8]), None);
    }

    #[test]
    fn ignored_keys_and_summary() {
        assert_eq!(ignored_key("dir/A.WAV"), ".wav");
        assert_eq!(ignored_key("README"), "(none)");
        assert_eq!(ignored_key(".hidden"), "(none)");
        assert_eq!(ignored_key("x.some very odd ext"), "(other)");
        let mut m = BTreeMap::new();
        assert_eq!(ignored_summary(&m), None);
        m.insert(".pdf".to_string(), 3);
        m.insert(".wav".to_string(), 1204);
        assert_eq!(ignored_summary(&m).as_deref(), Some("ignored: 1,204 .wav, 3 .pdf"));
    }
}
