//! The PostgreSQL server's CPU time over one bench run, read from `/proc` (the bench's managed cluster is local).
//!
//! A sampler thread reads, every [`EVERY`], the postmaster's own and reaped children's time (utime + stime +
//! cutime + cstime: exited backends land there) plus its live children's utime + stime. Level 3 restarts the
//! server in the middle of a run, so each postmaster (pid and start time) is accounted for on its own and their
//! shares are summed: a postmaster that stopped counts up to its last sample, which misses at most the last
//! [`EVERY`] of its shutdown.

use std::collections::HashMap;
use std::path::Path;

use crate::database::Cluster;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads the server's processes.
const EVERY: Duration = Duration::from_millis(100);
/// After the run, how long the importer's backends get to exit before the last reading.
const SETTLE: Duration = Duration::from_millis(300);

/// The fields of `/proc/PID/stat` the accounting needs, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ppid: i32,
    /// utime + stime: the process's own CPU.
    pub own: u64,
    /// cutime + cstime: its children's CPU, once they exited and were waited for.
    pub reaped: u64,
    pub start: u64,
}

/// Parse one `/proc/PID/stat` line; the command name may hold spaces and parentheses, so fields count from the
/// last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3rd field of the line), ppid (4th), ... utime (14th) .. cstime (17th), starttime (22nd).
    let n = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        own: n(14)? + n(15)?,
        reaped: n(16)? + n(17)?,
        start: n(22)?,
    })
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The children of `pid`: from the kernel's list when it has one, else by scanning every process's parent.
fn children(pid: i32) -> Vec<i32> {
    if let Ok(list) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return list.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    }
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| read_stat(p).is_some_and(|s| s.ppid == pid))
        .collect()
}

/// One reading: the postmaster (pid, start) and its whole tree's CPU ticks so far.
fn read(cluster: &Cluster) -> Option<((i32, u64), u64)> {
    let pm = cluster.running_pid()?;
    let stat = read_stat(pm)?;
    let live: u64 = children(pm).into_iter().filter_map(read_stat).map(|s| s.own).sum();
    Some(((pm, stat.start), stat.own + stat.reaped + live))
}

/// CPU ticks per postmaster between the first and the last time it was seen.
#[derive(Debug, Default)]
pub struct Account {
    /// (pid, start) -> (ticks at first sight, ticks at last sight).
    seen: HashMap<(i32, u64), (u64, u64)>,
    /// The postmaster running when the account was opened: only what it spends from then on counts.
    first: Option<(i32, u64)>,
}

impl Account {
    pub fn observe(&mut self, postmaster: (i32, u64), ticks: u64) {
        if self.seen.is_empty() {
            self.first = Some(postmaster);
        }
        // A postmaster started during the run counts from zero: all it spent is the run's.
        let base = if self.first == Some(postmaster) { ticks } else { 0 };
        let e = self.seen.entry(postmaster).or_insert((base, ticks));
        e.1 = e.1.max(ticks);
    }

    pub fn ticks(&self) -> u64 {
        self.seen.values().map(|(a, b)| b.saturating_sub(*a)).sum()
    }
}

/// Samples a cluster's CPU from [`Sampler::start`] to [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Account>,
    cluster: Cluster,
}

impl Sampler {
    /// Start sampling the managed cluster of the data directory `data_dir` (its server lives in `data_dir/pg`).
    pub fn start(data_dir: &Path) -> Self {
        let cluster = Cluster::new(data_dir);
        let stop = Arc::new(AtomicBool::new(false));
        let mut account = Account::default();
        if let Some((pm, ticks)) = read(&cluster) {
            account.observe(pm, ticks);
        }
        let thread = std::thread::spawn({
            let (stop, cluster) = (stop.clone(), cluster.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EVERY);
                    if let Some((pm, ticks)) = read(&cluster) {
                        account.observe(pm, ticks);
                    }
                }
                account
            }
        });
        Self { stop, thread, cluster }
    }

    /// The server's CPU seconds since [`Sampler::start`]; `None` when no server was seen.
    pub fn finish(self) -> Option<f64> {
        std::thread::sleep(SETTLE);
        self.stop.store(true, Ordering::Relaxed);
        let mut account = self.thread.join().ok()?;
        if let Some((pm, ticks)) = read(&self.cluster) {
            account.observe(pm, ticks);
        }
        if account.seen.is_empty() {
            return None;
        }
        // SAFETY: sysconf only reads a constant of the system.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some(account.ticks() as f64 / hz.max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let line = "4242 (postgres: a (b) c) S 4000 4242 4242 0 -1 4194560 100 0 0 0 \
                    150 25 7 3 20 0 1 0 987654 1000 10 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 4000,
                own: 175,
                reaped: 10,
                start: 987654
            })
        );
        assert_eq!(parse_stat("12 (x) S 1"), None);
    }

    #[test]
    fn a_restarted_server_adds_its_whole_time_to_the_old_ones_share() {
        let mut a = Account::default();
        a.observe((10, 1), 1000);
        a.observe((10, 1), 1400);
        // Restart: a new postmaster (another pid, or the same pid started again later).
        a.observe((11, 9), 30);
        a.observe((11, 9), 250);
        assert_eq!(a.ticks(), 400 + 250);
        // A reading that went backwards (a child's time between its exit and its reaping) never lowers the count.
        a.observe((11, 9), 240);
        assert_eq!(a.ticks(), 650);
    }

    /// This very process as the "server": its own CPU, read from /proc, grows while it works.
    #[test]
    fn the_own_stat_of_a_busy_process_grows() {
        let me = std::process::id() as i32;
        let before = read_stat(me).expect("own stat");
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(150) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = read_stat(me).expect("own stat");
        assert!(after.own > before.own, "{before:?} -> {after:?}");
        assert_eq!(after.start, before.start);
    }
}
