//! `midi-tui status [--json]`: what the database holds and how safe it is now.
use anyhow::Result;
use serde::Serialize;

use super::GlobalArgs;
use crate::database::status::Status;
use crate::engine::profile::SafetyState;
use crate::engine::session::Engine;

/// The JSON object `status --json` prints (keys listed in README.md).
#[derive(Debug, Serialize)]
pub struct StatusReport {
    #[serde(flatten)]
    pub status: Status,
    pub safety: SafetyState,
    pub safe: bool,
}

pub async fn run(global: &GlobalArgs, json: bool) -> Result<()> {
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let status = engine.status().await?;
    let safety = engine.safety().await?;
    let report = StatusReport {
        safe: !safety.is_unsafe(),
        status,
        safety,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let st = &report.status;
    println!(
        "database: {} (PostgreSQL {}, {:.1} MB)",
        st.target,
        st.server_version,
        st.database_size_bytes as f64 / 1e6
    );
    println!("superuser: {}", if st.superuser { "yes" } else { "no" });
    println!("\ntables:");
    for t in &st.tables {
        println!("  {:<18} {:>12} rows  {}", t.name, t.rows, t.persistence);
    }
    let missing = &st.secondary_indexes.missing;
    println!(
        "\nsecondary indexes: {}/{} present{}",
        st.secondary_indexes.present,
        st.secondary_indexes.expected,
        if missing.is_empty() {
            String::new()
        } else {
            format!(" ({} missing)", missing.len())
        }
    );
    println!("\nsettings:");
    for s in &st.settings {
        println!(
            "  {:<34} {:<10}{}",
            s.name,
            s.value,
            if s.pending_restart {
                "  (change pending restart)"
            } else {
                ""
            }
        );
    }
    println!("\nsafety: {}", if report.safe { "SAFE" } else { "UNSAFE" });
    for r in &report.safety.relaxed {
        println!("  relaxed: {r}");
    }
    super::profile::warn_if_unsafe(&report.safety);
    Ok(())
}
