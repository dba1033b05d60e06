//! Facts about this machine (memory, cores) that size the pipeline and the profile levels.

/// Total RAM in bytes (4 GiB if it cannot be read).
pub fn total_memory_bytes() -> u64 {
    sysinfo::System::new_with_specifics(
        sysinfo::RefreshKind::nothing().with_memory(sysinfo::MemoryRefreshKind::nothing().with_ram()),
    )
    .map(|s| s.total_memory())
    .ok()
    .filter(|&m| m > 0)
    .unwrap_or(4 << 30)
}

/// Logical cores available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
