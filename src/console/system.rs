//! Samples CPU per core, memory and the free space of the data directory's file system on a thread of its own,
//! so a slow `/proc` or a hung network mount never stalls the console.
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::app::SystemSample;

/// Free and total bytes of the file system holding `path` (or its nearest existing ancestor).
#[allow(clippy::unnecessary_cast)] // statvfs field types differ between platforms
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let c = CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct; statvfs only writes into it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid, writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = if st.f_frsize > 0 {
        st.f_frsize as u64
    } else {
        st.f_bsize as u64
    };
    Some((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

/// The folder whose file system the disk line reports: the tool's data directory at first, the server's own
/// data directory once a poll has found it on this machine.
pub type DiskPath = Arc<Mutex<PathBuf>>;

/// Sample every `every` and hand each sample to `send` until it returns false (the console has gone).
pub fn spawn_sampler(
    disk_path: DiskPath,
    every: Duration,
    send: impl Fn(SystemSample) -> bool + Send + 'static,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("console-system".into())
        .spawn(move || {
            let mut sys = match sysinfo::System::new() {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("system sampling unavailable: {e}");
                    None
                }
            };
            if let Some(s) = sys.as_mut() {
                s.refresh_cpu_usage();
            }
            loop {
                std::thread::sleep(every);
                let mut sample = SystemSample::default();
                if let Some(s) = sys.as_mut() {
                    s.refresh_cpu_usage();
                    s.refresh_memory();
                    sample.cpu = s.cpus().iter().map(|c| c.usage()).collect();
                    sample.mem_total = s.total_memory();
                    sample.mem_used = s.used_memory();
                }
                let path = disk_path.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some((free, total)) = disk_space(&path) {
                    sample.disk_free = Some(free);
                    sample.disk_total = Some(total);
                }
                if !send(sample) {
                    break;
                }
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_space_of_an_existing_and_a_missing_path() {
        let (free, total) = disk_space(Path::new("/tmp")).expect("statvfs of /tmp");
        assert!(total > 0 && free <= total);
        assert!(
            disk_space(Path::new("/tmp/does/not/exist/yet")).is_some(),
            "falls back to an ancestor"
        );
    }
}
