//! The repair a run does besides its own sources: rows a crash took are read again.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::database::lost_rows;
use crate::source;

/// Rows a crash took, read again by this run: the lost runs' sources join the scan, and the stored locations of
/// damaged files are read even though they look imported.
#[derive(Debug, Default)]
pub(super) struct Repair {
    pub runs: Vec<i64>,
    damaged: usize,
    extra_sources: usize,
    pub scan_sources: Vec<PathBuf>,
    pub forced: Arc<HashSet<String>>,
    /// The lost runs' sources (locations): what the collections of their files are found below.
    pub lost_sources: Vec<String>,
}

impl Repair {
    pub fn plan(work: lost_rows::RepairWork, sources: &[PathBuf]) -> Self {
        let mut scan_sources = sources.to_vec();
        let mut forced = HashSet::new();
        let mut extra = Vec::new();
        for s in &work.sources {
            extra.push(source::location_to_path(s));
        }
        for loc in &work.locations {
            let outer = loc
                .split_once(source::location::MEMBER_SEPARATOR)
                .map_or(loc.as_str(), |(a, _)| a);
            forced.insert(outer.to_string());
            extra.push(source::location_to_path(outer));
        }
        let mut extra_sources = 0;
        for p in extra {
            // A path inside one already scanned would be read twice.
            if !scan_sources.iter().any(|q| p.starts_with(q)) {
                scan_sources.push(p);
                extra_sources += 1;
            }
        }
        Self {
            runs: work.runs,
            damaged: work.locations.len(),
            extra_sources,
            scan_sources,
            forced: Arc::new(forced),
            lost_sources: work.sources.clone(),
        }
    }

    pub fn is_active(&self) -> bool {
        !self.runs.is_empty() || self.damaged > 0
    }

    pub fn describe(&self) -> Option<String> {
        self.is_active().then(|| {
            let runs: Vec<String> = self.runs.iter().map(|r| format!("#{r}")).collect();
            format!(
                "repairing rows lost in a crash: reading again the sources of {} {} and {} ({} added to the scan)",
                crate::human::plural(runs.len(), "run"),
                if runs.is_empty() {
                    "-".to_string()
                } else {
                    runs.join(", ")
                },
                crate::human::counted(self.damaged, "damaged file"),
                crate::human::counted(self.extra_sources, "path")
            )
        })
    }
}
