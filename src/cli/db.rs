//! `midi-tui db start|stop|status|url`: the managed cluster.
use anyhow::{Result, bail};

use super::{DbAction, GlobalArgs};
use crate::database::Cluster;

pub async fn run(global: &GlobalArgs, action: &DbAction) -> Result<()> {
    if global.database_url.is_some() {
        bail!("`db` manages the embedded cluster; it does nothing with --database-url/DATABASE_URL");
    }
    let mut cluster = Cluster::new(global.data_dir());
    match action {
        DbAction::Start => {
            let was_running = cluster.running_pid().is_some();
            // Starting means usable: the server up and the schema migrated.
            let mut target = crate::database::Target::Managed(cluster.clone());
            target.open(1).await?.close().await;
            if was_running {
                println!("already running: {}", cluster.url());
            } else {
                println!("started: {}", cluster.url());
            }
        }
        DbAction::Stop => {
            let was_running = cluster.running_pid().is_some();
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
            println!("{}", if was_running { "stopped" } else { "not running" });
        }
        DbAction::Status { json } => {
            let status = cluster.status();
            if *json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                println!("data dir:    {}", status.data_dir.display());
                println!("cluster:     {}", status.pgdata.display());
                println!("initialised: {}", status.initialised);
                match status.pid {
                    Some(pid) => println!("running:     yes (pid {pid})"),
                    None => println!("running:     no"),
                }
                println!("url:         {}", status.url);
            }
        }
        DbAction::Url => {
            if !cluster.is_initialised() {
                bail!(
                    "no managed cluster in {} yet: run `midi-tui db start`",
                    cluster.data_dir.display()
                );
            }
            println!("{}", cluster.url());
        }
    }
    Ok(())
}
