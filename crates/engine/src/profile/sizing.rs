//! Auto mode's sizing of an import: what the sources will add (a scan, archives not opened) and the per-file
//! database and WAL bytes each mode costs. `doctor` judges the disk against these; auto mode picks with them.
use std::path::PathBuf;

use serde::Serialize;

use super::Mode;

/// What the import will add, estimated from a scan of its sources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSize {
    pub plain_files: u64,
    pub archives: u64,
    pub archive_bytes: u64,
    /// Plain files plus the archives' members estimated at one per [`PACKED_BYTES_PER_FILE`].
    pub files: u64,
}

/// Packed bytes per MIDI file in an archive, for estimates only (generated and real collections zip to 5-7 KB).
pub const PACKED_BYTES_PER_FILE: u64 = 6 * 1024;

/// Database bytes per imported file (heap, TOAST and indexes), measured here importing 20,000 generated files
/// into an empty library; a library of its own (10,000 files or more) gives its own figure instead.
pub const DB_BYTES_PER_FILE: u64 = 3_000;

/// WAL written per imported file in each mode (normal: every index live, full-page images after each checkpoint;
/// fast: heap only, then the index rebuild; ludicrous: UNLOGGED tables, then SET LOGGED under `wal_level=minimal`),
/// measured the same way with `pg_current_wal_lsn()` around the whole run, restore and rebuild included.
pub fn wal_bytes_per_file(mode: Mode) -> u64 {
    match mode {
        Mode::Normal => 5_560,
        Mode::Fast => 2_050,
        Mode::Ludicrous => 1_150,
    }
}

impl ImportSize {
    pub fn new(plain_files: u64, archives: u64, archive_bytes: u64) -> Self {
        Self {
            plain_files,
            archives,
            archive_bytes,
            files: plain_files + archive_bytes.div_ceil(PACKED_BYTES_PER_FILE),
        }
    }
}

/// Estimate what importing `sources` adds by scanning them (folders walked, archives not opened). Blocks.
pub fn import_size(sources: &[PathBuf]) -> ImportSize {
    let (mut plain, mut archives, mut archive_bytes) = (0, 0, 0);
    crate::source::walk::scan(sources, &mut |item| {
        match item {
            crate::source::walk::ScanItem::File { .. } => plain += 1,
            crate::source::walk::ScanItem::Archive { size, .. } => {
                archives += 1;
                archive_bytes += size;
            }
            _ => {}
        }
        true
    });
    ImportSize::new(plain, archives, archive_bytes)
}
