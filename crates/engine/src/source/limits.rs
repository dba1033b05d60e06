//! The bounds every reader of sources keeps (`Limits`: memory, expansion, ratio, depth) and its live byte counters
//! (`Meter`): shared by the archive walkers, the stream decoders and the read-ahead pools.
use std::sync::atomic::AtomicU64;

/// Bounds that keep memory and time finite whatever an archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A member (or plain file) larger than this is not read: `too_large`. Also bounds a nested zip held in memory.
    pub max_member_bytes: u64,
    /// Total bytes inflated by all decoders of one top-level archive (nested included): past it, `compression_bomb`.
    pub max_archive_expansion: u64,
    /// Inflated/compressed ratio bound of each decoded stream (checked after its first MiB); 0 disables it.
    /// Deflate tops out near 1030:1 (about 1000:1 with gzip framing), so at 1000 this stops bzip2/xz bombs (far
    /// beyond 10,000:1) early, while deflate bombs are stopped by `max_archive_expansion` (16 GiB: ~3 s here).
    pub max_ratio: u64,
    /// Archive nesting depth: 1 = a top-level archive only; 4 allows `a.zip!/b.tgz!/c.zip!/d.tar!/x.mid`.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_member_bytes: 64 << 20,
            max_archive_expansion: 16 << 30,
            max_ratio: 1000,
            max_depth: 4,
        }
    }
}

/// Live byte counters, for throughput meters; read them from any thread while an archive streams.
#[derive(Debug, Default)]
pub struct Meter {
    /// Bytes read from disk (compressed archive bytes, or plain file bytes).
    pub disk_bytes: AtomicU64,
    /// Bytes produced by decompression (all nesting levels).
    pub inflated_bytes: AtomicU64,
}
