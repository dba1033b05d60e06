//! `bench --importers`: one shared run of several importer processes with the first killed (SIGKILL) after a
//! delay; the caller compares its wall time and the library it leaves with one importer's.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// The row and what the check found.
#[derive(Debug, Clone, Serialize)]
pub struct KilledRun {
    pub importers: u32,
    pub kill_after_seconds: f64,
    /// From the first start to the last survivor's exit.
    pub wall_seconds: f64,
    /// Units the survivors took, summed (the victim's included once they took them over).
    pub units_taken: i64,
}

/// Run `importers` importers of `src` at once (one shared run), SIGKILL the first after `kill_after`, wait for the
/// others. The library must be empty before.
pub fn run(exe: &Path, data_dir: &Path, src: &str, importers: u32, kill_after: Duration) -> Result<KilledRun> {
    let t = Instant::now();
    let spawn = || -> Result<Child> {
        Command::new(exe)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["import", "--json", "--mode", "normal", src])
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting an importer")
    };
    let mut victim = spawn()?;
    let others = (1..importers.max(2)).map(|_| spawn()).collect::<Result<Vec<_>>>()?;
    std::thread::sleep(kill_after);
    // The victim may have finished already on a tiny corpus: then the row says nothing about takeover.
    let killed = matches!(victim.try_wait(), Ok(None));
    let _ = victim.kill();
    let _ = victim.wait();
    if !killed {
        bail!(
            "the first importer ended before {:.1} s: the corpus is too small for the killed-importer row",
            kill_after.as_secs_f64()
        );
    }
    let mut units_taken = 0;
    for ch in others {
        let out = ch.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("a surviving importer failed ({}): {text}", out.status);
        }
        let v: serde_json::Value =
            serde_json::from_str(text.trim()).with_context(|| format!("a survivor printed no JSON: {text}"))?;
        units_taken += v["shared_run"]["units_taken"].as_i64().unwrap_or(0);
    }
    Ok(KilledRun {
        importers: importers.max(2),
        kill_after_seconds: kill_after.as_secs_f64(),
        wall_seconds: t.elapsed().as_secs_f64(),
        units_taken,
    })
}
