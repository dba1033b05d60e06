//! `midi-tui status [--json]`: what the database holds and how safe it is now.
use anyhow::Result;

use super::GlobalArgs;
use crate::database::status;

pub async fn run(global: &GlobalArgs, json: bool) -> Result<()> {
    let mut target = global.target();
    let pool = target.open(2).await?;
    let st = status::collect(&pool, &target.describe(), target.is_managed()).await?;
    if json {
        println!("{}", serde_json::to_string(&st)?);
        return Ok(());
    }
    println!("database: {} (PostgreSQL {}, {:.1} MB)", st.target, st.server_version, st.database_size_bytes as f64 / 1e6);
    println!("superuser: {}", if st.superuser { "yes" } else { "no" });
    println!("\ntables:");
    for t in &st.tables {
        println!("  {:<18} {:>12} rows  {}", t.name, t.rows, t.persistence);
    }
    println!(
        "\nsecondary indexes: {}/{} present{}",
        st.secondary_indexes.present,
        st.secondary_indexes.expected,
        if st.secondary_indexes.missing.is_empty() { String::new() } else { format!(" (missing: {})", st.secondary_indexes.missing.join(", ")) }
    );
    println!("\nsettings:");
    for s in &st.settings {
        println!("  {:<34} {:<10}{}", s.name, s.value, if s.pending_restart { "  (change pending restart)" } else { "" });
    }
    Ok(())
}
