//! Facts about this machine: memory and cores (which size the pipeline and the profile levels), free disk space.
use std::path::Path;

use sysinfo::{DiskRefreshKind, Disks};

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
/// This process's peak resident set (`VmHWM` of /proc/self/status), in bytes; `None` where there is no /proc.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Space on the file system that holds a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    pub total: u64,
}

/// Space on the file system holding `path` (or its nearest existing ancestor). Blocks on a slow mount: call it
/// from a thread of its own or through `spawn_blocking`.
pub fn disk_space(path: &Path) -> Option<DiskSpace> {
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let p = std::fs::canonicalize(p).ok()?;
    // The list alone first: space is read for the one disk that holds the path, not for every mount.
    let mut disks = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing()).ok()?;
    let i = holding_mount(&p, disks.iter().map(|d| d.mount_point()))?;
    let disk = &mut disks[i];
    disk.refresh_specifics(DiskRefreshKind::nothing().with_storage());
    (disk.total_space() > 0).then(|| DiskSpace {
        free: disk.available_space(),
        total: disk.total_space(),
    })
}

/// Which of `mounts` holds `path`: the deepest mount point it lies under (of two at the same place, the later
/// one, which hides the other).
fn holding_mount<'a>(path: &Path, mounts: impl Iterator<Item = &'a Path>) -> Option<usize> {
    mounts
        .enumerate()
        .filter(|(_, m)| path.starts_with(m))
        .max_by_key(|(_, m)| m.components().count())
        .map(|(i, _)| i)
}

/// A thread count from an environment variable's value: unset or not a number gives `default`, above `max` gives
/// `max`, 0 is 0 (off).
pub(crate) fn threads_from_var(value: Option<&str>, default: usize, max: usize) -> usize {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(default, |n| n.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_this_process_s_and_grows_with_what_it_touches() {
        let before = peak_rss_bytes().expect("VmHWM on Linux");
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before + (48 << 20), "{before} -> {after}");
    }

    #[test]
    fn disk_space_of_an_existing_and_a_missing_path() {
        let space = disk_space(Path::new("/tmp")).expect("space of /tmp");
        assert!(space.total > 0 && space.free <= space.total);
        assert!(
            disk_space(Path::new("/tmp/does/not/exist/yet")).is_some(),
            "falls back to an ancestor"
        );
    }

    #[test]
    fn the_deepest_mount_point_holds_a_path() {
        let mounts = ["/", "/data", "/dat", "/data/pg/run", "/data"].map(Path::new);
        let at = |p: &str| holding_mount(Path::new(p), mounts.iter().copied());
        // Whole components, not string prefixes: /dat does not hold /data.
        assert_eq!(at("/data/pg/base"), Some(4), "the later of two mounts at /data");
        assert_eq!(at("/data/pg/run/x"), Some(3));
        assert_eq!(at("/datastore"), Some(0));
        assert_eq!(at("/"), Some(0));
        assert_eq!(holding_mount(Path::new("/x"), std::iter::empty()), None);
    }
}
