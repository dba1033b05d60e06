//! `bench --components`: where a normal import's write goes on the server, component by component.
//!
//! A generated corpus is imported (normal mode) once; its rows are then written again per variant (one index
//! dropped or put back, the per-row checks instead of the batch's, search_rows without its fill, ...) by
//! [`database::write_cost`], the variants interleaved over the rounds; each figure is the median CPU time of the
//! backend that wrote, per 1,000 files.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::{measure, median};
use crate::database::{self, write_cost};

#[derive(Debug, Clone, Serialize)]
pub struct ComponentRow {
    pub name: String,
    /// Median backend CPU seconds per 1,000 files.
    pub per_1k: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentsReport {
    pub corpus: String,
    pub files: i64,
    pub locations: i64,
    pub rounds: usize,
    pub rows: Vec<ComponentRow>,
    /// What each index of the catalog serves, by name.
    pub serves: Vec<(String, String)>,
}

pub async fn run(
    exe: &Path,
    data_dir: &Path,
    url: &str,
    corpus: &Path,
    label: String,
    repeat: usize,
) -> Result<ComponentsReport> {
    database::bench::recreate_library(url).await?;
    let (e, d, src) = (
        exe.to_path_buf(),
        data_dir.to_path_buf(),
        corpus.to_string_lossy().to_string(),
    );
    let args: Vec<String> = ["--mode", "normal"].iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || measure(&e, &d, &args, &src)).await??;
    let rows = write_cost::capture(url).await?;
    let variants = write_cost::variants();
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let rounds = repeat.max(1);
    for round in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            let secs = write_cost::measure(url, &rows, v).await?;
            cpu[i].push(secs * 1000.0 / rows.files.max(1) as f64);
        }
        eprintln!("bench: write components, round {}/{rounds} done", round + 1);
    }
    let out = variants
        .iter()
        .zip(cpu)
        .map(|(v, c)| ComponentRow {
            name: v.name.clone(),
            per_1k: median(c),
        })
        .collect();
    Ok(ComponentsReport {
        corpus: label,
        files: rows.files,
        locations: rows.locations,
        rounds,
        rows: out,
        serves: database::indexes::catalog()
            .iter()
            .map(|i| (i.name.clone(), i.serves.clone()))
            .collect(),
    })
}

fn find<'a>(r: &'a ComponentsReport, prefix: &str) -> Option<&'a ComponentRow> {
    r.rows.iter().find(|row| row.name.starts_with(prefix))
}

/// The section's Markdown: the writer's cost, then each component's share of it.
pub fn markdown(r: &ComponentsReport) -> String {
    let Some(now) = find(r, "the writer now").map(|x| x.per_1k) else {
        return String::new();
    };
    let mut s = format!(
        "\n### Where a normal import's write goes (server CPU per 1,000 files, {} files / {} locations of the {})\n\n\
         The library's rows written again in the writer's batches, once per variant, into the emptied tables; each \
         figure is the median over {} interleaved rounds of the CPU time of the one backend that wrote (`/proc`), per \
         1,000 files. A component's cost is the writer's figure with it minus the figure without it.\n\n\
         | what | server CPU s per 1k files | cost against the writer now |\n|---|---:|---:|\n",
        r.files, r.locations, r.corpus, r.rounds
    );
    let delta = |v: f64| format!("{:+.4}", v);
    for row in &r.rows {
        let (label, cost) = if row.name == "the writer now" {
            (
                "the writer now (checks and search rows set-based per batch, the indexes below)".to_string(),
                String::new(),
            )
        } else if let Some(index) = row.name.strip_prefix("without `") {
            let name = index.trim_end_matches('`');
            let serves = r
                .serves
                .iter()
                .find(|(n, _)| n == name)
                .map_or(String::new(), |(_, q)| format!(" (serves: {q})"));
            (format!("index `{name}`{serves}"), delta(now - row.per_1k))
        } else if row.name.starts_with("COPY alone") {
            (row.name.clone(), format!("the writer adds {}", delta(now - row.per_1k)))
        } else if row.name.starts_with("without ") {
            (
                row.name.trim_start_matches("without ").to_string(),
                delta(now - row.per_1k),
            )
        } else {
            (row.name.clone(), delta(row.per_1k - now))
        };
        s += &format!("| {label} | {:.4} | {cost} |\n", row.per_1k);
    }
    s
}
