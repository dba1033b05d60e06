//! What the parse phase hands to the write phase: contents, locations and errors, batched by the writer.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::kinds::ErrorKind;
use super::midi::{LocationMeta, MidiMetadata, PathMeta};

/// A content seen for the first time in this run, with everything `files` and `musical_metadata` hold.
#[derive(Debug, Clone)]
pub struct ContentRecord {
    pub hash: [u8; 32],
    pub location: String,
    pub size: u64,
    pub path: PathMeta,
    pub midi: MidiMetadata,
}

/// One place a content was found (every file, first-seen or duplicate, has one).
#[derive(Debug, Clone)]
pub struct LocationRecord {
    pub hash: [u8; 32],
    pub location: String,
    pub size: u64,
    pub mtime: i64,
    /// The archive this member came from: its progress is recorded once all its members are written.
    pub archive: Option<Arc<ArchiveTracker>>,
    /// What `coll:`, `folder:` and `name:` match at this location.
    pub meta: LocationMeta,
}

/// A file that could not be imported.
#[derive(Debug, Clone)]
pub struct ErrorRecord {
    pub location: String,
    pub kind: ErrorKind,
    pub message: String,
    /// Size and mtime when the file was read, so that a re-run can skip it unchanged.
    pub size: Option<u64>,
    pub mtime: Option<i64>,
    pub archive: Option<Arc<ArchiveTracker>>,
}

/// Everything from one item of the parse phase.
#[derive(Debug)]
pub enum Record {
    /// A new content and its location.
    Content(Box<ContentRecord>, LocationRecord),
    /// A content seen before (in this run or an earlier one): a location only.
    Location(LocationRecord),
    Error(ErrorRecord),
    /// An archive has been read to the end: `members` items were sent for it.
    ArchiveRead(Arc<ArchiveTracker>),
}

/// Counts an archive's members through the pipeline so that it is marked complete only when all are committed.
#[derive(Debug)]
pub struct ArchiveTracker {
    pub location: String,
    pub size: u64,
    pub mtime: i64,
    pub members: AtomicU64,
    pub committed: AtomicU64,
    /// Set when the reader reached the archive's end without being cancelled.
    pub read_complete: std::sync::atomic::AtomicBool,
}

impl ArchiveTracker {
    pub fn new(location: String, size: u64, mtime: i64) -> Self {
        Self {
            location,
            size,
            mtime,
            members: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            read_complete: Default::default(),
        }
    }

    /// True once the archive was read to the end and every member it sent is committed.
    pub fn is_complete(&self) -> bool {
        self.read_complete.load(Ordering::Acquire)
            && self.committed.load(Ordering::Acquire) >= self.members.load(Ordering::Acquire)
    }
}
