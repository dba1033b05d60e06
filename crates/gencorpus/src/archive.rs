//! Writers that pack a collection into every format the importer reads, with fixed metadata, so output is
//! reproducible. RAR is missing: no free tool or library writes it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use bzip2::write::BzEncoder;
use flate2::write::GzEncoder;
use xz2::write::XzEncoder;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Which container (or, for the single-file kinds, which per-file compression) a collection goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    /// Zip with deflate entries (the default zip).
    Zip,
    ZipStored,
    ZipBzip2,
    /// Zip method 14 (LZMA), written by this module's own small zip writer: the `zip` crate cannot write LZMA.
    ZipLzma,
    ZipZstd,
    Tar,
    TarGz,
    TarBz2,
    /// Multi-block xz (one block per [`XZ_BLOCK`] bytes), so that parallel decoders have blocks to share out.
    TarXz,
    TarZst,
    TarLz4,
    /// 7z with LZMA2, one solid block per chunk of files (several blocks per archive).
    SevenZ,
    /// One `.gz` per MIDI file (`name.mid.gz`): the collection stays a folder.
    Gz,
    Bz2,
    Xz,
    Zst,
    Lz4,
}

impl ArchiveKind {
    /// Every kind, in the order the help lists them.
    pub const ALL: [ArchiveKind; 17] = [
        ArchiveKind::Zip,
        ArchiveKind::ZipStored,
        ArchiveKind::ZipBzip2,
        ArchiveKind::ZipLzma,
        ArchiveKind::ZipZstd,
        ArchiveKind::Tar,
        ArchiveKind::TarGz,
        ArchiveKind::TarBz2,
        ArchiveKind::TarXz,
        ArchiveKind::TarZst,
        ArchiveKind::TarLz4,
        ArchiveKind::SevenZ,
        ArchiveKind::Gz,
        ArchiveKind::Bz2,
        ArchiveKind::Xz,
        ArchiveKind::Zst,
        ArchiveKind::Lz4,
    ];

    /// What `--archives` alone packs, in turn.
    pub const DEFAULTS: [ArchiveKind; 3] = [ArchiveKind::Zip, ArchiveKind::TarGz, ArchiveKind::TarXz];

    /// The file name suffix (without the dot); for single-file kinds, appended to each MIDI file's name.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveKind::Zip
            | ArchiveKind::ZipStored
            | ArchiveKind::ZipBzip2
            | ArchiveKind::ZipLzma
            | ArchiveKind::ZipZstd => "zip",
            ArchiveKind::Tar => "tar",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::TarBz2 => "tar.bz2",
            ArchiveKind::TarXz => "tar.xz",
            ArchiveKind::TarZst => "tar.zst",
            ArchiveKind::TarLz4 => "tar.lz4",
            ArchiveKind::SevenZ => "7z",
            ArchiveKind::Gz => "gz",
            ArchiveKind::Bz2 => "bz2",
            ArchiveKind::Xz => "xz",
            ArchiveKind::Zst => "zst",
            ArchiveKind::Lz4 => "lz4",
        }
    }

    /// The name used on the command line (`--archive-formats`) and in bench rows.
    pub fn name(self) -> &'static str {
        match self {
            ArchiveKind::ZipStored => "zip-stored",
            ArchiveKind::ZipBzip2 => "zip-bzip2",
            ArchiveKind::ZipLzma => "zip-lzma",
            ArchiveKind::ZipZstd => "zip-zstd",
            other => other.extension(),
        }
    }

    /// The kind named `name` (see [`ArchiveKind::name`]; `zip-deflate` and `tgz`-style aliases accepted).
    pub fn parse(name: &str) -> Option<ArchiveKind> {
        let n = name.trim().to_ascii_lowercase();
        let alias = match n.as_str() {
            "zip-deflate" => "zip",
            "tgz" => "tar.gz",
            "tbz2" | "tbz" => "tar.bz2",
            "txz" => "tar.xz",
            "tzst" => "tar.zst",
            "7zip" => "7z",
            other => other,
        };
        ArchiveKind::ALL.into_iter().find(|k| k.name() == alias)
    }

    /// One compressed file per MIDI file rather than one container per collection.
    pub fn is_single(self) -> bool {
        matches!(
            self,
            ArchiveKind::Gz | ArchiveKind::Bz2 | ArchiveKind::Xz | ArchiveKind::Zst | ArchiveKind::Lz4
        )
    }
}

/// 2004-06-01 12:00:00: a fixed timestamp on every member (the clock must not leak into the output).
pub const FIXED_MTIME: u64 = 1_086_091_200;
/// xz preset 1: several times faster than the default 6 and still far smaller than gzip on MIDI.
const XZ_PRESET: u32 = 1;
/// Uncompressed bytes per xz block: small enough that even a few-MB test archive has several blocks.
pub const XZ_BLOCK: u64 = 1 << 20;
/// zstd's default level: the one `zstd` without options uses.
const ZSTD_LEVEL: i32 = 3;
/// LZMA preset for 7z and LZMA zip entries (fast; the reader's speed does not depend much on it).
const LZMA_PRESET: u32 = 1;

pub(crate) trait ArchiveSink {
    fn add_dir(&mut self, name: &str) -> io::Result<()>;
    fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()>;
    /// The files added since the last call form a unit (a 7z solid block); other formats ignore it.
    fn end_chunk(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// A container at `path`. The single-file kinds have none: use [`write_single`] per file.
pub(crate) fn create(path: &Path, kind: ArchiveKind) -> io::Result<Box<dyn ArchiveSink>> {
    let out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let tar = |w: Box<dyn Compressor>| -> Box<dyn ArchiveSink> {
        Box::new(TarSink {
            builder: tar::Builder::new(w),
        })
    };
    Ok(match kind {
        ArchiveKind::Zip => Box::new(ZipSink::new(out, CompressionMethod::Deflated)),
        ArchiveKind::ZipStored => Box::new(ZipSink::new(out, CompressionMethod::Stored)),
        ArchiveKind::ZipBzip2 => Box::new(ZipSink::new(out, CompressionMethod::Bzip2)),
        ArchiveKind::ZipZstd => Box::new(ZipSink::new(out, CompressionMethod::Zstd)),
        ArchiveKind::ZipLzma => Box::new(LzmaZipSink::new(out)),
        ArchiveKind::SevenZ => {
            drop(out);
            Box::new(SevenZSink::new(path)?)
        }
        ArchiveKind::Tar => tar(Box::new(out)),
        ArchiveKind::TarGz => tar(compressor(out, ArchiveKind::Gz)?),
        ArchiveKind::TarBz2 => tar(compressor(out, ArchiveKind::Bz2)?),
        ArchiveKind::TarXz => tar(compressor(out, ArchiveKind::Xz)?),
        ArchiveKind::TarZst => tar(compressor(out, ArchiveKind::Zst)?),
        ArchiveKind::TarLz4 => tar(compressor(out, ArchiveKind::Lz4)?),
        single => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} compresses one file, it is no container", single.name()),
            ));
        }
    })
}

/// Writes `data` compressed with single-file kind `kind` to `path` (e.g. `song.mid.zst`).
pub(crate) fn write_single(path: &Path, kind: ArchiveKind, data: &[u8]) -> io::Result<()> {
    let out = BufWriter::with_capacity(64 << 10, File::create(path)?);
    let mut w = compressor(out, kind)?;
    w.write_all(data)?;
    w.finish_stream()
}

/// The stream compressor of a single-file kind.
fn compressor(out: BufWriter<File>, kind: ArchiveKind) -> io::Result<Box<dyn Compressor>> {
    Ok(match kind {
        ArchiveKind::Gz => Box::new(GzEncoder::new(out, flate2::Compression::default())),
        // Level 9: 900 kB blocks, as `bzip2` and `lbzip2` write by default.
        ArchiveKind::Bz2 => Box::new(BzEncoder::new(out, bzip2::Compression::best())),
        ArchiveKind::Xz => {
            let stream = xz2::stream::MtStreamBuilder::new()
                .preset(XZ_PRESET)
                .block_size(XZ_BLOCK)
                .threads(std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) as u32)
                .check(xz2::stream::Check::Crc64)
                .encoder()
                .map_err(io::Error::other)?;
            Box::new(XzEncoder::new_stream(out, stream))
        }
        ArchiveKind::Zst => Box::new(zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?),
        ArchiveKind::Lz4 => Box::new(lz4_flex::frame::FrameEncoder::new(out)),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is no stream compression", other.name()),
            ));
        }
    })
}

fn dos_time() -> DateTime {
    DateTime::from_date_and_time(2004, 6, 1, 12, 0, 0).unwrap_or_default()
}

struct ZipSink {
    zip: ZipWriter<BufWriter<File>>,
    file_opts: SimpleFileOptions,
    dir_opts: SimpleFileOptions,
}

impl ZipSink {
    fn new(out: BufWriter<File>, method: CompressionMethod) -> ZipSink {
        let base = SimpleFileOptions::default().last_modified_time(dos_time());
        ZipSink {
            zip: ZipWriter::new(out),
            file_opts: base.compression_method(method).unix_permissions(0o644),
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

/// One entry already written, for the central directory.
impl ZipEntry {
    /// The fields the local header and the central directory entry share, from "version needed" to the name's
    /// length, in the order both use.
    fn push_shared_fields(&self, h: &mut Vec<u8>) {
        h.extend_from_slice(&ZIP_VERSION_LZMA.to_le_bytes());
        h.extend_from_slice(&self.flags.to_le_bytes());
        h.extend_from_slice(&self.method.to_le_bytes());
        h.extend_from_slice(&ZIP_DOS_TIME.to_le_bytes());
        h.extend_from_slice(&ZIP_DOS_DATE.to_le_bytes());
        h.extend_from_slice(&self.crc.to_le_bytes());
        h.extend_from_slice(&self.compressed.to_le_bytes());
        h.extend_from_slice(&self.size.to_le_bytes());
        h.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
    }
}

struct ZipEntry {
    name: Vec<u8>,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    offset: u32,
    external: u32,
}

/// Zip with LZMA entries (APPNOTE 5.8.8: a 4-byte LZMA version/properties-size header, the 5 property bytes,
/// then the raw stream with its end marker, flagged by bit 1). No zip64: more than 65,535 entries or 4 GiB is
/// refused with an error rather than written wrong.
struct LzmaZipSink {
    out: BufWriter<File>,
    at: u64,
    entries: Vec<ZipEntry>,
}

const ZIP_LOCAL: u32 = 0x0403_4b50;
const ZIP_CENTRAL: u32 = 0x0201_4b50;
const ZIP_END: u32 = 0x0605_4b50;
/// Version 6.3, the one APPNOTE asks of LZMA entries.
const ZIP_VERSION_LZMA: u16 = 63;
/// DOS time and date of [`FIXED_MTIME`] (12:00:00, 2004-06-01).
const ZIP_DOS_TIME: u16 = 12 << 11;
const ZIP_DOS_DATE: u16 = ((2004 - 1980) << 9) | (6 << 5) | 1;

impl LzmaZipSink {
    fn new(out: BufWriter<File>) -> LzmaZipSink {
        LzmaZipSink {
            out,
            at: 0,
            entries: Vec::new(),
        }
    }

    fn too_big() -> io::Error {
        io::Error::other("an LZMA zip this large needs zip64, which this writer does not write")
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    /// Writes one entry's local header and `data` (its compressed bytes), and keeps what the central directory
    /// needs. `e`'s offset and compressed size are filled in here.
    fn add(&mut self, mut e: ZipEntry, data: &[u8]) -> io::Result<()> {
        if self.entries.len() >= 0xFFFF || self.at + data.len() as u64 + 1024 >= u64::from(u32::MAX) {
            return Err(Self::too_big());
        }
        // Bit 11: the name is UTF-8.
        if !e.name.is_ascii() {
            e.flags |= 1 << 11;
        }
        e.compressed = data.len() as u32;
        e.offset = self.at as u32;
        let mut h = Vec::with_capacity(30 + e.name.len());
        h.extend_from_slice(&ZIP_LOCAL.to_le_bytes());
        e.push_shared_fields(&mut h);
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&e.name);
        self.entries.push(e);
        self.put(&h)?;
        self.put(data)
    }
}

impl ArchiveSink for LzmaZipSink {
    fn add_dir(&mut self, name: &str) -> io::Result<()> {
        // Unix mode in the high half, the DOS directory bit in the low.
        let e = ZipEntry {
            name: name.as_bytes().to_vec(),
            method: 0,
            flags: 0,
            crc: 0,
            compressed: 0,
            size: 0,
            offset: 0,
            external: (0o40755 << 16) | 0x10,
        };
        self.add(e, &[])
    }

    fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let opts = lzma_rust2::LzmaOptions::with_preset(LZMA_PRESET);
        // LZMA SDK version (informational, readers ignore it), then the properties' size: 5.
        let mut body = vec![25, 0, 5, 0];
        body.push(opts.get_props());
        body.extend_from_slice(&opts.dict_size.to_le_bytes());
        let mut w = lzma_rust2::LzmaWriter::new_no_header(body, &opts, true).map_err(io::Error::other)?;
        w.write_all(data)?;
        let body = w.finish().map_err(io::Error::other)?;
        let mut crc = flate2::Crc::new();
        crc.update(data);
        // Method 14 (LZMA); flag bit 1: the stream ends with an end marker.
        if data.len() as u64 >= u64::from(u32::MAX) {
            return Err(Self::too_big());
        }
        let e = ZipEntry {
            name: name.as_bytes().to_vec(),
            method: 14,
            flags: 1 << 1,
            crc: crc.sum(),
            compressed: 0,
            size: data.len() as u32,
            offset: 0,
            external: 0o100644 << 16,
        };
        self.add(e, &body)
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        let start = self.at;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let mut h = Vec::with_capacity(46 + e.name.len());
            h.extend_from_slice(&ZIP_CENTRAL.to_le_bytes());
            // Made by: Unix (3), so that the high half of the external attributes is a mode.
            h.extend_from_slice(&((3u16 << 8) | ZIP_VERSION_LZMA).to_le_bytes());
            e.push_shared_fields(&mut h);
            // Extra field, comment, disk number start, internal attributes.
            h.extend_from_slice(&[0; 8]);
            h.extend_from_slice(&e.external.to_le_bytes());
            h.extend_from_slice(&e.offset.to_le_bytes());
            h.extend_from_slice(&e.name);
            self.put(&h)?;
        }
        let size = self.at - start;
        if self.at >= u64::from(u32::MAX) {
            return Err(Self::too_big());
        }
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&ZIP_END.to_le_bytes());
        end.extend_from_slice(&[0; 4]);
        end.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        end.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        end.extend_from_slice(&(size as u32).to_le_bytes());
        end.extend_from_slice(&(start as u32).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.put(&end)?;
        self.out.flush()
    }
}

/// 7z: files of one chunk go into one solid LZMA2 block, so a large archive has many blocks.
struct SevenZSink {
    writer: sevenz_rust2::ArchiveWriter<File>,
    pending: Vec<(sevenz_rust2::ArchiveEntry, Vec<u8>)>,
}

/// [`FIXED_MTIME`] as Windows FILETIME ticks (100 ns since 1601).
fn nt_time() -> sevenz_rust2::NtTime {
    sevenz_rust2::NtTime::from((FIXED_MTIME + 11_644_473_600) * 10_000_000)
}

impl SevenZSink {
    fn new(path: &Path) -> io::Result<SevenZSink> {
        let mut writer = sevenz_rust2::ArchiveWriter::create(path).map_err(io::Error::other)?;
        writer.set_content_methods(vec![
            sevenz_rust2::EncoderConfiguration::new(sevenz_rust2::EncoderMethod::LZMA2).with_options(
                sevenz_rust2::encoder_options::EncoderOptions::Lzma2(
                    sevenz_rust2::encoder_options::Lzma2Options::from_level(LZMA_PRESET),
                ),
            ),
        ]);
        writer.set_encrypt_header(false);
        Ok(SevenZSink {
            writer,
            pending: Vec::new(),
        })
    }

    fn entry(name: &str, dir: bool) -> sevenz_rust2::ArchiveEntry {
        let mut e = if dir {
            sevenz_rust2::ArchiveEntry::new_directory(name.trim_end_matches('/'))
        } else {
            sevenz_rust2::ArchiveEntry::new_file(name)
        };
        e.has_last_modified_date = true;
        e.last_modified_date = nt_time();
        e
    }
}

impl ArchiveSink for SevenZSink {
    fn add_dir(&mut self, name: &str) -> io::Result<()> {
        self.writer
            .push_archive_entry::<&[u8]>(Self::entry(name, true), None)
            .map_err(io::Error::other)?;
        Ok(())
    }

    fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.pending.push((Self::entry(name, false), data.to_vec()));
        Ok(())
    }

    fn end_chunk(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (entries, data): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending).into_iter().unzip();
        let readers: Vec<sevenz_rust2::SourceReader<io::Cursor<Vec<u8>>>> =
            data.into_iter().map(|d| io::Cursor::new(d).into()).collect();
        self.writer
            .push_archive_entries(entries, readers)
            .map_err(io::Error::other)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.end_chunk()?;
        self.writer.finish()?;
        Ok(())
    }
}

/// A compression stream that must be finished explicitly to write its trailer.
pub(crate) trait Compressor: Write {
    fn finish_stream(self: Box<Self>) -> io::Result<()>;
}

impl Compressor for BufWriter<File> {
    fn finish_stream(mut self: Box<Self>) -> io::Result<()> {
        self.flush()
    }
}

impl Compressor for GzEncoder<BufWriter<File>> {
    fn finish_stream(self: Box<Self>) -> io::Result<()> {
        self.finish()?.flush()
    }
}

impl Compressor for BzEncoder<BufWriter<File>> {
    fn finish_stream(self: Box<Self>) -> io::Result<()> {
        self.finish()?.flush()
    }
}

impl Compressor for XzEncoder<BufWriter<File>> {
    fn finish_stream(self: Box<Self>) -> io::Result<()> {
        self.finish()?.flush()
    }
}

impl Compressor for zstd::stream::write::Encoder<'static, BufWriter<File>> {
    fn finish_stream(self: Box<Self>) -> io::Result<()> {
        self.finish()?.flush()
    }
}

impl Compressor for lz4_flex::frame::FrameEncoder<BufWriter<File>> {
    fn finish_stream(self: Box<Self>) -> io::Result<()> {
        self.finish().map_err(io::Error::other)?.flush()
    }
}

struct TarSink {
    builder: tar::Builder<Box<dyn Compressor>>,
}

impl TarSink {
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

impl ArchiveSink for TarSink {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_and_parsed_back() {
        for k in ArchiveKind::ALL {
            assert_eq!(ArchiveKind::parse(k.name()), Some(k), "{}", k.name());
            assert_eq!(ArchiveKind::parse(&k.name().to_uppercase()), Some(k), "{}", k.name());
        }
        assert_eq!(ArchiveKind::parse("tgz"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::parse("zip-deflate"), Some(ArchiveKind::Zip));
        for unknown in ["rar", "", "zip-ppmd", "tar.br"] {
            assert_eq!(ArchiveKind::parse(unknown), None, "{unknown}");
        }
        let singles: Vec<&str> = ArchiveKind::ALL
            .iter()
            .filter(|k| k.is_single())
            .map(|k| k.name())
            .collect();
        assert_eq!(singles, ["gz", "bz2", "xz", "zst", "lz4"]);
    }

    #[test]
    fn a_single_file_kind_is_no_container() {
        let dir = std::env::temp_dir().join(format!("gencorpus-single-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let err = create(&dir.join("x.gz"), ArchiveKind::Gz).err().expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let _ = std::fs::remove_dir_all(dir);
    }
}
