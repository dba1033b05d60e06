//! Split 7z sets (`pack.7z.001`, `pack.7z.002`, ...): the volumes read as one archive, a missing one named.
//!
//! 7-Zip's `-v` switch cuts the archive's bytes into pieces with no header of their own, so the set is the
//! concatenation of its volumes. The archive's end header (which lists the members) sits in the last volume:
//! without every volume nothing can be read, and the set gets one `missing_volume` row on its first volume (or,
//! when the first is missing, on the lowest-numbered one present). Later volumes are read through the first and
//! give no row of their own.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// `name` as a volume of a split 7z set: the name without the number (`pack.7z.`), the number and its digits.
pub(crate) fn split_7z_volume(name: &str) -> Option<(&str, u32, usize)> {
    let dot = name.rfind('.')?;
    let digits = &name[dot + 1..];
    if digits.len() < 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let stem = &name[..=dot];
    if !stem.to_ascii_lowercase().ends_with(".7z.") || stem.len() <= 4 {
        return None;
    }
    Some((stem, digits.parse().ok()?, digits.len()))
}

fn volume_path(dir: &Path, stem: &str, n: u32, digits: usize) -> PathBuf {
    dir.join(format!("{stem}{n:0digits$}"))
}

/// What to do with one volume of a split set.
pub(crate) enum SetRole {
    /// The first volume: read the set from it.
    First,
    /// A later volume whose set is read from another file: nothing to do here.
    Covered,
    /// The lowest-numbered volume present of a set whose first volume is missing: it reports that.
    Orphan(String),
}

/// The role of the volume at `path` numbered `n` in its set.
pub(crate) fn role(path: &Path, stem: &str, n: u32, digits: usize) -> SetRole {
    let dir = path.parent().unwrap_or(Path::new("."));
    if n == 1 {
        return SetRole::First;
    }
    if volume_path(dir, stem, 1, digits).exists() || (1..n).any(|k| volume_path(dir, stem, k, digits).exists()) {
        return SetRole::Covered;
    }
    SetRole::Orphan(format!(
        "volume {} of a split 7z set whose first volume {stem}{:0digits$} is missing",
        n, 1
    ))
}

/// The volumes of a set, read as one stream.
pub(crate) struct Volumes {
    files: Vec<(File, u64)>,
    /// Absolute position, and the volume holding it.
    pos: u64,
    total: u64,
}

impl Volumes {
    /// The first volume at `first` and every consecutively numbered one after it.
    pub(crate) fn open(first: File, first_path: &Path, stem: &str, digits: usize) -> io::Result<Volumes> {
        let dir = first_path.parent().unwrap_or(Path::new("."));
        let len = first.metadata()?.len();
        let mut files = vec![(first, len)];
        for n in 2.. {
            let p = volume_path(dir, stem, n, digits);
            match File::open(&p) {
                Ok(f) => {
                    let len = f.metadata()?.len();
                    files.push((f, len));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        let total = files.iter().map(|f| f.1).sum();
        Ok(Volumes { files, pos: 0, total })
    }

    pub(crate) fn count(&self) -> usize {
        self.files.len()
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The size the archive's start header declares (32 + offset + size of its end header), if readable.
    pub(crate) fn declared_size(&mut self) -> Option<u64> {
        let mut head = [0u8; 32];
        self.seek(SeekFrom::Start(0)).ok()?;
        self.read_exact(&mut head).ok()?;
        self.seek(SeekFrom::Start(0)).ok()?;
        let offset = u64::from_le_bytes(head[12..20].try_into().ok()?);
        let size = u64::from_le_bytes(head[20..28].try_into().ok()?);
        32u64.checked_add(offset)?.checked_add(size)
    }
}

impl Read for Volumes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut start = 0u64;
        for (f, len) in &mut self.files {
            if self.pos < start + *len {
                let within = self.pos - start;
                f.seek(SeekFrom::Start(within))?;
                let want = buf.len().min((*len - within) as usize);
                let n = f.read(&mut buf[..want])?;
                self.pos += n as u64;
                return Ok(n);
            }
            start += *len;
        }
        Ok(0)
    }
}

impl Seek for Volumes {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.total.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names() {
        assert_eq!(split_7z_volume("pack.7z.001"), Some(("pack.7z.", 1, 3)));
        assert_eq!(split_7z_volume("A.7Z.0012"), Some(("A.7Z.", 12, 4)));
        for n in ["pack.7z", "pack.zip.001", ".7z.001", "pack.7z.01", "pack.7z.00a"] {
            assert_eq!(split_7z_volume(n), None, "{n}");
        }
    }

    #[test]
    fn volumes_read_and_seek_as_one_stream() {
        let dir = std::env::temp_dir().join(format!("midi-tui-volumes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let all: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (i, part) in all.chunks(3000).enumerate() {
            std::fs::write(dir.join(format!("s.7z.{:03}", i + 1)), part).expect("write");
        }
        let first = dir.join("s.7z.001");
        let mut v = Volumes::open(File::open(&first).expect("open"), &first, "s.7z.", 3).expect("volumes");
        assert_eq!((v.count(), v.total()), (4, 10_000));
        let mut got = Vec::new();
        v.read_to_end(&mut got).expect("read");
        assert!(got == all);
        v.seek(SeekFrom::End(-4_500)).expect("seek");
        let mut tail = vec![0u8; 4_500];
        v.read_exact(&mut tail).expect("read across volumes");
        assert!(tail[..] == all[5_500..]);
        assert!(matches!(role(&dir.join("s.7z.003"), "s.7z.", 3, 3), SetRole::Covered));
        std::fs::remove_file(&first).expect("rm");
        assert!(matches!(role(&dir.join("s.7z.002"), "s.7z.", 2, 3), SetRole::Orphan(_)));
        assert!(matches!(role(&dir.join("s.7z.003"), "s.7z.", 3, 3), SetRole::Covered));
        let _ = std::fs::remove_dir_all(dir);
    }
}
