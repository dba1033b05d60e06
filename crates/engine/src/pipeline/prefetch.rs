//! Read-ahead for plain files: the kernel is asked for the next files' contents before the readers get to them.
//!
//! On a cold page cache each reader waits for one small random read at a time, so two readers keep two requests
//! in flight where the disk serves many at once. `posix_fadvise(WILLNEED)` queues a file's pages and returns
//! without waiting, so one thread a little ahead of the readers keeps the disk busy; on a warm cache it costs an
//! open and a close per file.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// Files asked for ahead of the readers, at most: the unit queue in front of them is no longer.
const AHEAD: usize = 1024;
/// Read-ahead threads by default (`MIDI_TUI_READAHEAD=N` sets N, 0 turns the hints off).
const THREADS: usize = 1;
/// At most this many, whatever the variable says.
const MAX_THREADS: usize = 64;

/// The resume filter's side: hands each file it sends to the readers to the read-ahead thread too.
#[derive(Clone)]
pub(super) struct Prefetch {
    tx: Sender<PathBuf>,
    /// `MIDI_TUI_READAHEAD=0` turns the hints off (a network mount where an extra open costs a round trip).
    on: bool,
}

impl Prefetch {
    /// The handle and the read-ahead's body (run it on its own thread; it ends when every handle is dropped).
    pub(super) fn new() -> (Self, impl FnOnce() + Send + 'static) {
        let threads = threads(std::env::var("MIDI_TUI_READAHEAD").ok().as_deref());
        let (tx, rx) = bounded(AHEAD);
        (Self { tx, on: threads > 0 }, move || {
            // Opening a file whose inode is not cached waits for the disk: several threads keep several such
            // waits in flight, as several readers would.
            std::thread::scope(|s| {
                for _ in 1..threads {
                    let rx = rx.clone();
                    s.spawn(move || run(rx));
                }
                run(rx);
            });
        })
    }

    /// Never blocks: with the read-ahead behind, the file is simply read without a hint.
    pub(super) fn hint(&self, path: &std::path::Path) {
        if !self.on {
            return;
        }
        match self.tx.try_send(path.to_path_buf()) {
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Read-ahead threads for the variable's value: unset or not a number gives the default.
fn threads(var: Option<&str>) -> usize {
    crate::machine::threads_from_var(var, THREADS, MAX_THREADS)
}

fn run(rx: Receiver<PathBuf>) {
    for path in rx {
        // A file that cannot be opened now is the reader's to report; the hint is only a hint.
        if let Ok(f) = std::fs::File::open(&path) {
            // SAFETY: the descriptor is open for the call's duration; fadvise only reads its arguments.
            unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_sets_the_threads_and_zero_turns_the_hints_off() {
        assert_eq!(threads(None), THREADS);
        assert_eq!(threads(Some("0")), 0);
        assert_eq!(threads(Some(" 8 ")), 8);
        assert_eq!(threads(Some("1000")), MAX_THREADS);
        assert_eq!(threads(Some("yes")), THREADS);
    }

    #[test]
    fn hints_never_block_and_the_thread_ends_with_its_handles() {
        let (p, body) = Prefetch::new();
        // No thread yet: the queue fills, and further hints are dropped rather than waited on.
        let dir = std::env::temp_dir().join(format!("prefetch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.mid");
        std::fs::write(&file, b"MThd").unwrap();
        for _ in 0..AHEAD + 10 {
            p.hint(&file);
        }
        assert_eq!(p.tx.len(), AHEAD);
        // A missing file is passed over; the thread drains the queue and returns once the handle is gone.
        p.hint(&dir.join("missing.mid"));
        drop(p);
        let t = std::thread::spawn(body);
        t.join().expect("the read-ahead thread ended");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
