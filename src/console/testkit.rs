//! Fixed states for the console's tests: database answers, counters and whole apps, with no value that changes
//! between runs (no clock, no paths of the machine).
use std::path::PathBuf;
use std::time::Duration;

use super::app::{App, Msg, PollOutcome, Polled, SystemSample, update};
use super::keymap::Key;
use crate::database::status::{IndexStatus, PROFILE_SETTINGS, SettingStatus, Status, TABLES, TableStatus};
use crate::engine::metrics::{Phase, PhaseSnapshot, Snapshot};
use crate::engine::pipeline::{RunMode, RunStatus, RunSummary};
use crate::engine::plan::{PlanEvent, StepKind, StepReport};
use crate::engine::profile::SafetyState;

pub fn app() -> App {
    App::new(
        "managed cluster /home/user/.local/share/midi-tui".into(),
        "/home/user/.local/share/midi-tui".into(),
        vec![
            PathBuf::from("/music/libraries/groove"),
            PathBuf::from("/music/archives/packs.zip"),
        ],
        Some(PathBuf::from("/opt/midi-tui/assets/sample-library")),
    )
}

/// Live settings as a fresh server reports them, with `changes` applied (name, value, pending restart).
pub fn settings(changes: &[(&str, &str, bool)]) -> Vec<SettingStatus> {
    PROFILE_SETTINGS
        .iter()
        .map(|name| {
            let default = match *name {
                "synchronous_commit" | "fsync" | "full_page_writes" | "autovacuum" => "on",
                "wal_level" => "replica",
                "max_wal_senders" => "10",
                "maintenance_work_mem" => "64MB",
                "work_mem" => "4MB",
                "max_wal_size" => "1GB",
                "wal_buffers" => "4MB",
                _ => "8",
            };
            let changed = changes.iter().find(|c| c.0 == *name);
            SettingStatus {
                name: name.to_string(),
                value: changed.map_or(default, |c| c.1).to_string(),
                pending_restart: changed.is_some_and(|c| c.2),
                context: "sighup".into(),
            }
        })
        .collect()
}

pub fn status(present: usize, unlogged: bool, settings: Vec<SettingStatus>) -> Status {
    let expected = 39;
    Status {
        target: "managed cluster /home/user/.local/share/midi-tui".into(),
        managed: true,
        server_version: "17.5".into(),
        superuser: true,
        database_size_bytes: 123_456_789,
        tables: TABLES
            .iter()
            .map(|t| TableStatus {
                name: t.to_string(),
                rows: 1000,
                persistence: if unlogged && *t != "import_runs" && *t != "import_errors" {
                    "unlogged".into()
                } else {
                    "logged".into()
                },
            })
            .collect(),
        secondary_indexes: IndexStatus {
            expected,
            present,
            missing: (present..expected).map(|i| format!("idx_missing_{i:02}")).collect(),
        },
        pending_restart: settings.iter().any(|s| s.pending_restart),
        settings,
    }
}

pub fn safe_polled() -> Polled {
    Polled {
        status: status(39, false, settings(&[])),
        safety: SafetyState::default(),
        wal_bytes: Some(48 << 20),
        latency_ms: 3,
    }
}

/// What the poll sees while Ludicrous is applied.
pub fn ludicrous_polled() -> Polled {
    let s = settings(&[
        ("synchronous_commit", "off", false),
        ("fsync", "off", false),
        ("full_page_writes", "off", false),
        ("wal_level", "minimal", false),
        ("max_wal_senders", "0", false),
        ("autovacuum", "off", false),
        ("maintenance_work_mem", "1GB", false),
        ("max_wal_size", "8GB", false),
    ]);
    Polled {
        status: status(0, true, s),
        safety: SafetyState {
            unsafe_reasons: vec![
                "fsync is off: a machine crash can corrupt the database".into(),
                "full_page_writes is off: a crash can leave torn pages".into(),
                "table musical_metadata is UNLOGGED: a server crash empties it".into(),
            ],
            relaxed: vec![
                "synchronous_commit is off".into(),
                "39 of 39 secondary indexes dropped".into(),
            ],
            levels_applied: [true, true, true],
            pending_restart: vec![],
            data_lost: None,
        },
        wal_bytes: Some(1_200 << 20),
        latency_ms: 4,
    }
}

pub fn system() -> SystemSample {
    SystemSample {
        cpu: vec![97.0, 88.0],
        mem_used: 6_400_000_000,
        mem_total: 25_000_000_000,
        disk_free: Some(120_000_000_000),
        disk_total: Some(400_000_000_000),
    }
}

/// Counters `t` seconds into a run where the writer is the bottleneck.
pub fn snapshot(t: u64) -> Snapshot {
    let mut s = Snapshot {
        elapsed: Duration::from_secs(t),
        ..Default::default()
    };
    let per_s = 400 + (t % 3) * 40;
    let done = (0..=t).map(|i| 400 + (i % 3) * 40).sum::<u64>() - 400;
    for (i, p) in Phase::ALL.iter().enumerate() {
        let (busy_share, threads, queued, capacity) = match p {
            Phase::Scan => (0.05, 1, 0, 0),
            Phase::Read => (0.30, 2, 12, 1024),
            Phase::Hash => (0.10, 2, 40, 512),
            Phase::Parse => (0.45, 2, 60, 512),
            Phase::Write => (0.96, 1, 9500, 10000),
            Phase::Index => (0.0, 1, 0, 0),
        };
        s.phases[i] = PhaseSnapshot {
            phase: *p,
            items: if *p == Phase::Index { 0 } else { done },
            bytes: done * 9_000,
            busy_ns: (t as f64 * busy_share * threads as f64 * 1e9) as u64,
            threads,
            queued,
            capacity,
        };
    }
    s.seen = done + per_s;
    s.imported = done * 8 / 10;
    s.duplicates = done - done * 8 / 10 - done / 100;
    s.failed = done / 100;
    s.bytes = done * 9_000;
    s.written = done;
    s.discovered = 60_000;
    s.discovered_bytes = 540_000_000;
    s.scan_done = true;
    s
}

pub fn keys(app: &mut App, keys: &[Key]) {
    for k in keys {
        update(app, Msg::Key(*k));
    }
}

/// A Fast run `seconds` in, with samples for the graph and the bottleneck.
pub fn running_app(seconds: u64) -> App {
    let mut a = app();
    update(&mut a, Msg::Polled(PollOutcome::Ok(Box::new(safe_polled()))));
    keys(&mut a, &[Key::Char('f'), Key::Enter]);
    for level in crate::engine::profile::Mode::Fast.levels() {
        update(&mut a, Msg::Plan(applied_step(*level)));
    }
    update(&mut a, Msg::Plan(PlanEvent::ImportStarted));
    let mut fast = safe_polled();
    fast.status = status(
        0,
        false,
        settings(&[("synchronous_commit", "off", false), ("max_wal_size", "4GB", false)]),
    );
    fast.safety.levels_applied = [true, true, false];
    fast.safety.relaxed = vec!["39 of 39 secondary indexes dropped: searches are slow".into()];
    update(&mut a, Msg::Polled(PollOutcome::Ok(Box::new(fast))));
    update(&mut a, Msg::System(system()));
    for t in 0..=seconds {
        update(&mut a, Msg::Sample(Some(snapshot(t))));
    }
    a.db.poll_inflight = false;
    a
}

/// The plan's report of one applied level.
pub fn applied_step(level: crate::engine::profile::Level) -> PlanEvent {
    PlanEvent::StepFinished(StepReport {
        kind: StepKind::Apply(level),
        name: StepKind::Apply(level).label(),
        seconds: 0.1,
        lines: vec![format!("level {} applied", level.number())],
    })
}

/// The end of a 12,000-file run.
pub fn summary(status: RunStatus) -> RunSummary {
    RunSummary {
        run_id: Some(7),
        status,
        mode: RunMode::Ludicrous,
        seen: 12_000,
        imported: 9_600,
        duplicates: 2_280,
        skipped: 0,
        failed: 120,
        bytes: 108_000_000,
        seconds: 27.4,
        files_per_s: 438.0,
        mb_per_s: 3.9,
        phase_busy_seconds: Default::default(),
        errors_by_kind: Default::default(),
        log_path: None,
        write_seconds: None,
        ignored: Default::default(),
    }
}
