//! The similarity features of files imported before them (or by an older version of the vector): their bytes read
//! again from their stored locations, analysed, and the vector stored with its version (`midi-tui features`).
use crate::database::{DbResult, similar, similar_pack};
use crate::human::{count, counted};
use crate::midi::{analyze, similarity::FEATURE_VERSION};
use crate::run::session::Engine;
use crate::source::{Limits, read_location};

/// Files read per batch (one statement reads them, one stores their vectors).
const BATCH: i64 = 500;

/// What the backfill did; every stale file is in exactly one of the counts after `computed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackfillReport {
    /// Files with notes whose features were missing or of an older version when it started.
    pub stale: u64,
    /// Vectors computed and stored.
    pub computed: u64,
    /// Read, but the bytes give no vector (SMPTE timing): stored as none, with the version, so not read again.
    pub without_features: u64,
    /// No location still holds the imported bytes (gone, unreadable, or changed since): left without features,
    /// tried again by the next backfill; `like:` says so for them.
    pub sources_gone: u64,
    /// What became of the similarity pack at the end (built, extended), when something did.
    pub pack: Option<String>,
}

impl BackfillReport {
    pub fn done(&self) -> u64 {
        self.computed + self.without_features + self.sources_gone
    }

    /// How far it is, as `midi-tui features` and the console show it while it runs.
    pub fn progress(&self) -> String {
        format!("features: {} of {} files read", count(self.done()), count(self.stale))
    }

    /// What it did, in one line (the same on the command line, in the console and in its log).
    pub fn outcome(&self, seconds: f64) -> String {
        let pack = self.pack.as_ref().map_or(String::new(), |p| format!("; {p}"));
        if self.stale == 0 {
            return format!("every file with notes has its similarity features{pack}");
        }
        format!(
            "{} computed in {seconds:.1} s; {} without features (SMPTE timing); {} whose locations no longer hold \
             the imported bytes (left without features: import them again or restore the files){pack}",
            counted(self.computed, "file"),
            count(self.without_features),
            count(self.sources_gone),
        )
    }
}

impl Engine {
    /// Files whose features are missing or of an older version.
    pub async fn stale_features(&self) -> DbResult<u64> {
        Ok(similar::stale_count(&self.pool, FEATURE_VERSION).await?.max(0) as u64)
    }

    /// Compute the features of every stale file from its stored locations, in id order, calling `progress` after
    /// each batch.
    pub async fn backfill_features(&self, mut progress: impl FnMut(&BackfillReport)) -> DbResult<BackfillReport> {
        let mut report = BackfillReport {
            stale: self.stale_features().await?,
            ..BackfillReport::default()
        };
        let mut after = 0i64;
        loop {
            let batch = similar::stale_batch(&self.pool, FEATURE_VERSION, after, BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.0;
            let read = tokio::task::spawn_blocking(move || batch.into_iter().map(read_features).collect::<Vec<_>>())
                .await
                .unwrap_or_default();
            let mut rows = Vec::with_capacity(read.len());
            for (id, outcome) in read {
                match outcome {
                    Some(Some(f)) => {
                        report.computed += 1;
                        rows.push((id, Some(f)));
                    }
                    Some(None) => {
                        report.without_features += 1;
                        rows.push((id, None));
                    }
                    None => report.sources_gone += 1,
                }
            }
            similar::store(&self.pool, FEATURE_VERSION, &rows).await?;
            progress(&report);
        }
        // Storing forgot the similarity pack: built again from the new vectors (and a library that has none yet, one
        // imported before packs or grown without an import's end, gets its pack here).
        report.pack = similar_pack::refresh(&self.pool, similar_pack::MIN_FILES)
            .await?
            .describe();
        Ok(report)
    }
}

/// One file's vector from the first location that still holds its bytes: `None` when none does, `Some(None)` when
/// the bytes give no vector.
fn read_features((id, hash, locations): (i64, Vec<u8>, Vec<String>)) -> (i64, Option<Option<Vec<f32>>>) {
    let limits = Limits::default();
    for location in &locations {
        let Ok(data) = read_location(location, &limits) else {
            continue;
        };
        if blake3::hash(&data).as_bytes().as_slice() != hash.as_slice() {
            continue;
        }
        return (id, Some(analyze(&data).ok().and_then(|m| m.features)));
    }
    (id, None)
}
