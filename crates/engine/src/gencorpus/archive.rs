//! Writers that pack a collection into zip, tar.gz or tar.xz with fixed metadata, so output is reproducible.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use xz2::write::XzEncoder;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Which container a collection goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    TarGz,
    TarXz,
}

impl ArchiveKind {
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "zip",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::TarXz => "tar.xz",
        }
    }
}

/// 2004-06-01 12:00:00: a fixed timestamp on every member (the clock must not leak into the output).
const FIXED_MTIME: u64 = 1_086_091_200;
/// xz preset 1: several times faster than the default 6 and still far smaller than gzip on MIDI.
const XZ_PRESET: u32 = 1;

pub(crate) trait ArchiveSink {
    fn add_dir(&mut self, name: &str) -> io::Result<()>;
    fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()>;
    fn finish(self: Box<Self>) -> io::Result<()>;
}

pub(crate) fn create(path: &Path, kind: ArchiveKind) -> io::Result<Box<dyn ArchiveSink>> {
    let out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    Ok(match kind {
        ArchiveKind::Zip => Box::new(ZipSink::new(out)),
        ArchiveKind::TarGz => Box::new(TarSink {
            builder: tar::Builder::new(GzEncoder::new(out, flate2::Compression::default())),
        }),
        ArchiveKind::TarXz => Box::new(TarSink {
            builder: tar::Builder::new(XzEncoder::new(out, XZ_PRESET)),
        }),
    })
}

struct ZipSink {
    zip: ZipWriter<BufWriter<File>>,
    file_opts: SimpleFileOptions,
    dir_opts: SimpleFileOptions,
}

impl ZipSink {
    fn new(out: BufWriter<File>) -> ZipSink {
        let when = DateTime::from_date_and_time(2004, 6, 1, 12, 0, 0).unwrap_or_default();
        let base = SimpleFileOptions::default().last_modified_time(when);
        ZipSink {
            zip: ZipWriter::new(out),
            file_opts: base
                .compression_method(CompressionMethod::Deflated)
                .unix_permissions(0o644),
            dir_opts: base.unix_permissions(0o755),
        }
    }
}

impl ArchiveSink for ZipSink {
    fn add_dir(&mut self, name: &str) -> io::Result<()> {
        Ok(self.zip.add_directory(name, self.dir_opts)?)
    }

    fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.zip.start_file(name, self.file_opts)?;
        self.zip.write_all(data)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let mut out = self.zip.finish()?;
        out.flush()
    }
}

/// A compression stream that must be finished explicitly to write its trailer.
pub(crate) trait Compressor: Write {
    fn finish_stream(self) -> io::Result<()>;
}

impl Compressor for GzEncoder<BufWriter<File>> {
    fn finish_stream(self) -> io::Result<()> {
        self.finish()?.flush()
    }
}

impl Compressor for XzEncoder<BufWriter<File>> {
    fn finish_stream(self) -> io::Result<()> {
        self.finish()?.flush()
    }
}

struct TarSink<W: Compressor> {
    builder: tar::Builder<W>,
}

impl<W: Compressor> TarSink<W> {
    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(FIXED_MTIME);
        h.set_uid(0);
        h.set_gid(0);
        h
    }
}

impl<W: Compressor> ArchiveSink for TarSink<W> {
    fn add_dir(&mut self, name: &str) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.builder.append_data(&mut h, name, io::empty())
    }

    fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644);
        self.builder.append_data(&mut h, name, data)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        self.builder.into_inner()?.finish_stream()
    }
}
