//! Typed domain values shared by the pipeline, the database and the front ends, with the text each is stored as.
use serde::Serialize;

use crate::midi::MidiErrorKind;

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

/// Why a file or archive was not imported, as stored in `import_errors.kind` (a short stable code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file or folder could not be opened or read.
    Io,
    /// The archive (or one of its members) is damaged, truncated or uses an unsupported feature.
    ArchiveCorrupt,
    /// A member is larger than `Limits::max_member_bytes`; it was not read.
    TooLarge,
    /// Decompression went past the expansion or ratio limits; the archive was abandoned.
    CompressionBomb,
    /// An archive nested deeper than `Limits::max_depth`; it was not opened.
    NestingTooDeep,
    /// The archive (or some of its members) is encrypted; no password is ever asked, so it was not read.
    Encrypted,
    /// The archive is fine but uses a compression method or feature the reader lacks.
    UnsupportedMethod,
    /// A volume of a multi-volume archive is missing: the members stored in it could not be read.
    MissingVolume,
    /// The MIDI data itself: no header, truncated, a bad running status, ...
    Midi(MidiErrorKind),
    /// A content the run could not account for (its row vanished): a bug to report, not a property of the file.
    Internal,
}

impl ErrorKind {
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::ArchiveCorrupt => "archive_corrupt",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::CompressionBomb => "compression_bomb",
            ErrorKind::NestingTooDeep => "nesting_too_deep",
            ErrorKind::Encrypted => "encrypted",
            ErrorKind::UnsupportedMethod => "unsupported_method",
            ErrorKind::MissingVolume => "missing_volume",
            ErrorKind::Midi(k) => k.code(),
            ErrorKind::Internal => "internal",
        }
    }

    /// Every kind that is not a MIDI parse error.
    pub const PLAIN: [ErrorKind; 9] = [
        ErrorKind::Io,
        ErrorKind::ArchiveCorrupt,
        ErrorKind::TooLarge,
        ErrorKind::CompressionBomb,
        ErrorKind::NestingTooDeep,
        ErrorKind::Encrypted,
        ErrorKind::UnsupportedMethod,
        ErrorKind::MissingVolume,
        ErrorKind::Internal,
    ];

    /// The kind a stored code names (the inverse of [`ErrorKind::code`]).
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        Self::PLAIN
            .into_iter()
            .chain(MidiErrorKind::ALL.iter().map(|k| ErrorKind::Midi(*k)))
            .find(|k| k.code() == code)
    }

    /// Whether reading the same unchanged file again would fail the same way (an unreadable file may be readable
    /// next time: it is not remembered as known-bad).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, ErrorKind::Io)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_distinct_and_stable() {
        let mut all = ErrorKind::PLAIN.to_vec();
        all.extend(MidiErrorKind::ALL.iter().map(|k| ErrorKind::Midi(*k)));
        let codes: std::collections::HashSet<&str> = all.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(ErrorKind::Midi(MidiErrorKind::NoHeader).code(), "no_header");
        assert_eq!(serde_json::to_value(ErrorKind::TooLarge).unwrap(), "too_large");
        assert!(!ErrorKind::Io.is_permanent() && ErrorKind::ArchiveCorrupt.is_permanent());
        for k in &all {
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
        }
        assert_eq!(ErrorKind::from_code("nonsense"), None);
    }

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
