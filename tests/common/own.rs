//! A managed cluster of a test's own (for tests that kill or reconfigure the server), removed when dropped.
use std::path::PathBuf;

use midi_tui::database::{Cluster, cluster};

use super::{run_bin, stderr, stdout, temp_dir};

pub struct Own {
    pub dir: PathBuf,
}

impl Own {
    pub fn new(tag: &str) -> Self {
        let dir = temp_dir(tag);
        let out = run_bin(&["--data-dir", dir.to_str().unwrap(), "db", "start"], &[]);
        assert!(out.status.success(), "db start: {}", stderr(&out));
        Self { dir }
    }
    pub fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--data-dir", self.d()];
        all.extend_from_slice(args);
        run_bin(&all, &[])
    }
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        stdout(&out)
    }
    /// `status --json`; its exit code must agree with what it says (0 safe, 3 not safe, 4 data lost).
    pub fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", "--json"]);
        let st: serde_json::Value = serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("status --json: {e}: {}\n{}", stdout(&out), stderr(&out)));
        let expected = if st["safety"]["data_lost"].is_string() {
            4
        } else if st["safe"] == true {
            0
        } else {
            3
        };
        assert_eq!(out.status.code(), Some(expected), "{}", st["safety"]);
        st
    }
    pub fn url(&self) -> String {
        Cluster::new(&self.dir).url()
    }
    pub async fn pool(&self) -> sqlx::PgPool {
        midi_tui::database::connect(&self.url(), 2).await.unwrap()
    }
    /// kill -9 the postmaster and wait until its children are gone too; the next command runs crash recovery.
    pub fn kill_server(&self) {
        Cluster::new(&self.dir).kill_server().expect("server running");
        let t0 = std::time::Instant::now();
        while !super::server_processes(&self.dir).is_empty() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(20),
                "server processes outlived SIGKILL"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        let _ = Cluster::new(&self.dir).stop();
        cluster::remove_cluster_files(&self.dir);
    }
}

/// A table's persistence (`logged` / `unlogged`) as `status --json` reports it.
pub fn persistence(st: &serde_json::Value, table: &str) -> String {
    st["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == table)
        .unwrap()["persistence"]
        .as_str()
        .unwrap()
        .into()
}
