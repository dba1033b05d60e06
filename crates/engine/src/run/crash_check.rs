//! Crash checks at every start: what the runs vouch for against what the tables hold, and the repair they lead to.
use crate::database::DbResult;
use crate::database::lost_rows::{self, Outstanding};
use crate::human::{counted, plural};
use crate::run::session::Engine;

impl Engine {
    /// Compare the library tables with each other and with the runs (a few `EXISTS`, cheap at any size); record any
    /// loss found so that the next import reads the lost rows again. Returns what is lost and not yet repaired.
    pub async fn check_integrity(&self) -> DbResult<Option<String>> {
        self.bounded(self.check_integrity_now()).await
    }

    async fn check_integrity_now(&self) -> DbResult<Option<String>> {
        let pool = &self.pool;
        let p = lost_rows::presence(pool).await?;
        if p.imported_by_runs > 0 && !p.files {
            tracing::warn!(
                "the runs recorded {} imported but files is empty",
                crate::human::counted(p.imported_by_runs, "file")
            );
            lost_rows::note_library_lost(pool).await?;
        } else if p.files && (!p.metadata || !p.locations) && !p.repair_noted {
            let n = lost_rows::note_partial_loss(pool, !p.locations).await?;
            tracing::warn!("{} lost their metadata or locations", crate::human::counted(n, "file"));
        }
        let o = lost_rows::outstanding(pool).await?;
        Ok((!o.is_empty()).then(|| describe_loss(&o)))
    }
}

/// The loss in the user's words: what is gone and what brings it back.
pub fn describe_loss(o: &Outstanding) -> String {
    let mut parts = Vec::new();
    if !o.lost_runs.is_empty() {
        let runs: Vec<String> = o.lost_runs.iter().map(|r| format!("#{r}")).collect();
        parts.push(format!(
            "{} and {} imported by {} {}",
            counted(o.lost_files, "file"),
            counted(o.lost_locations, "location"),
            plural(runs.len(), "run"),
            runs.join(", ")
        ));
    }
    if o.missing_metadata > 0 {
        parts.push(format!("the metadata of {}", counted(o.missing_metadata, "file")));
    }
    if o.missing_locations > 0 {
        parts.push(format!("every location of {}", counted(o.missing_locations, "file")));
    }
    format!(
        "a server crash emptied UNLOGGED tables: lost {}; the next import reads them again from their sources and \
         stored locations",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_each_kind_of_loss_with_counts() {
        let o = Outstanding {
            lost_runs: vec![3, 4],
            lost_files: 120,
            lost_locations: 150,
            missing_metadata: 7,
            missing_locations: 0,
        };
        let text = describe_loss(&o);
        assert!(
            text.contains("120 files and 150 locations imported by runs #3, #4"),
            "{text}"
        );
        assert!(text.contains("the metadata of 7 files"), "{text}");
        assert!(!text.contains("every location"), "{text}");
        assert!(text.contains("next import"), "{text}");
    }
}
