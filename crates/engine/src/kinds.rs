//! Typed domain values shared by the pipeline, the database and the front ends, with the text each is stored as.
use serde::Serialize;

use crate::profile::Mode;

/// How a run was made, as stored in `import_runs.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    Normal,
    Fast,
    Ludicrous,
    DryRun,
}

impl RunMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunMode::Normal => "normal",
            RunMode::Fast => "fast",
            RunMode::Ludicrous => "ludicrous",
            RunMode::DryRun => "dry-run",
        }
    }
}

impl From<Mode> for RunMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Normal => RunMode::Normal,
            Mode::Fast => RunMode::Fast,
            Mode::Ludicrous => RunMode::Ludicrous,
        }
    }
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a run stands, as stored in `import_runs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Done,
    Interrupted,
    Failed,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are what the schema's CHECK constraints accept: renaming one must fail here first.
    #[test]
    fn stored_texts_match_the_schema() {
        let schema = include_str!("../../../database/migrations/0001_schema.sql");
        for m in [RunMode::Normal, RunMode::Fast, RunMode::Ludicrous, RunMode::DryRun] {
            assert!(schema.contains(&format!("'{}'", m.as_str())), "{m}");
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        for s in [
            RunStatus::Running,
            RunStatus::Done,
            RunStatus::Interrupted,
            RunStatus::Failed,
        ] {
            assert!(schema.contains(&format!("'{}'", s.as_str())), "{s}");
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
