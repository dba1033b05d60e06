//! Samples CPU per core, memory and the free space of the data directory's file system on a thread of its own,
//! so a slow `/proc` or a hung network mount never stalls the console.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::app::SystemSample;
use crate::engine::machine;

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
                if let Some(space) = machine::disk_space(&path) {
                    sample.disk_free = Some(space.free);
                    sample.disk_total = Some(space.total);
                }
                if !send(sample) {
                    break;
                }
            }
        })
        .ok()
}
