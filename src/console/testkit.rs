//! Fixed states for the console's tests: database answers, counters and whole apps, with no value that changes
//! between runs (no clock, no paths of the machine).
use std::path::PathBuf;
use std::time::Duration;

use super::app::{App, Msg, PollOutcome, Polled, SystemSample, update};
use super::keymap::Key;
use crate::database::status::{IndexStatus, PROFILE_SETTINGS, SettingStatus, Status, TABLES, TableStatus};
use crate::engine::metrics::{Phase, PhaseSnapshot, Snapshot};
use crate::engine::pipeline::{RunMode, RunStatus, RunSummary};
use crate::engine::profile::SafetyState;
use crate::engine::run::plan::{PlanEvent, StepKind, StepReport};

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
        shared_runs: Vec::new(),
        unfinished: Vec::new(),
    }
}

/// What the poll sees while Ludicrous is applied.
/// What a crash in level 3 would cost a library of `files`, `at_risk` of them only in a missing source.
pub fn crash_cost(files: i64, at_risk: i64) -> crate::engine::run::backup::CrashCost {
    crate::engine::run::backup::CrashCost {
        library_files: files,
        sources_present: vec!["/music/present".into()],
        sources_missing: if at_risk > 0 {
            vec!["/music/moved away".into()]
        } else {
            vec![]
        },
        files_at_risk: at_risk,
        reread_secs: 90.0,
        backup_bytes: files * 810,
        backup_secs: 1.0,
    }
}

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
            ..Default::default()
        },
        wal_bytes: Some(1_200 << 20),
        latency_ms: 4,
        shared_runs: Vec::new(),
        unfinished: Vec::new(),
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
        import_elapsed: Duration::from_secs(t),
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
    s.counts.seen = done + per_s;
    s.counts.imported = done * 8 / 10;
    s.counts.duplicates = done - done * 8 / 10 - done / 100;
    s.counts.failed = done / 100;
    s.counts.bytes = done * 9_000;
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
        counts: crate::engine::metrics::Counts {
            seen: 12_000,
            imported: 9_600,
            duplicates: 2_280,
            skipped: 0,
            failed: 120,
            bytes: 108_000_000,
        },
        seconds: 27.4,
        files_per_s: 438.0,
        mb_per_s: 3.9,
        phase_busy_seconds: Default::default(),
        errors_by_kind: Default::default(),
        log_path: None,
        write_seconds: None,
        ignored: Default::default(),
        shared_run: None,
        final_snapshot: None,
    }
}

/// A search hit with fixed values that vary with `i`.
pub fn hit(i: i64) -> crate::engine::library::Hit {
    let names = [
        "groove_118",
        "funk_break",
        "ballad_cm",
        "bass_line",
        "piano_etude",
        "drum_fill",
    ];
    let name = format!("{}_{i:03}.mid", names[(i as usize) % names.len()]);
    crate::engine::library::Hit {
        id: i,
        path: format!("/music/packs/grooves.zip!/set{}/{name}", i % 3),
        content_hash: format!("{:064x}", i),
        name_sort: Some(crate::engine::midi::natural_sort_key(&name)),
        filename: name,
        collection: "grooves.zip".into(),
        folder: format!("set{}", i % 3),
        bpm: (i % 7 != 3).then(|| 96.0 + (i * 7 % 60) as f64),
        key: Some(["Cm", "F#", "Am", "Eb"][(i % 4) as usize].into()),
        key_signature: None,
        detected_key: None,
        time_signature: Some(if i % 5 == 0 { "6/8" } else { "4/4" }.into()),
        duration_seconds: Some(20.0 + (i * 13 % 200) as f64),
        total_notes: 200 + i * 37 % 3000,
        num_tracks: Some(1 + i % 9),
        file_size_bytes: 2_000 + i * 311 % 40_000,
        programs: vec![1, 34],
        has_drums: i % 2 == 0,
        locations: vec![],
        location_collections: vec![],
    }
}

/// The stored detail of `hit(i)`: three locations, two of them archive members (one nested).
pub fn detail(i: i64) -> crate::engine::library::FileDetail {
    use crate::engine::library::{DupeKind, FileDetail, LocationDetail, Music};
    let h = hit(i);
    let loc = |path: &str| LocationDetail {
        path: path.into(),
        size: h.file_size_bytes,
        mtime: 1_700_000_000,
        import_run_id: Some(3),
        collection: "grooves".into(),
    };
    FileDetail {
        id: h.id,
        content_hash: h.content_hash.clone(),
        filename: h.filename.clone(),
        filepath: h.path.clone(),
        parent_folder: h.folder.clone(),
        collection: h.collection.clone(),
        filename_bpm: Some(118.0),
        filename_key: None,
        file_size_bytes: h.file_size_bytes,
        format: Some(1),
        num_tracks: Some(3),
        ticks_per_quarter_note: Some(480),
        duration_ticks: Some(30_720),
        duration_seconds: Some(32.0),
        track_names: vec!["Piano".into(), "Bass".into(), "Drums".into()],
        copyright: None,
        import_run_id: Some(3),
        created_at: "2026-12-01 14:00".into(),
        music: Some(Music {
            bpm: Some(120.0),
            avg_bpm: Some(120.0),
            tempo_changes: 1,
            time_signature_numerator: Some(4),
            time_signature_denominator: Some(4),
            key_signature: Some("Cm".into()),
            detected_key: Some("Cm".into()),
            key_confidence: Some(0.82),
            total_notes: 412,
            unique_pitches: 19,
            pitch_range_min: Some(36),
            pitch_range_max: Some(79),
            avg_velocity: Some(96.0),
            polyphony_max: 6,
            note_density: 12.9,
            channels: vec![0, 1, 9],
            // 0-based as stored: General MIDI's Acoustic Grand Piano and Electric Bass (finger), shown 1 and 34.
            programs: vec![0, 33],
            has_drums: true,
            is_karaoke: false,
            lyrics_count: 0,
        }),
        locations: vec![
            loc(&h.path),
            loc(&format!("/music/backup/{}", h.filename)),
            loc(&format!("/music/old.tar.gz!/inner.zip!/{}", h.filename)),
        ],
        duplicates: vec![dupes(DupeKind::Musical, &h, 2), dupes(DupeKind::Transposed, &h, 4)],
    }
}

/// A group of `others` other files beside `h` itself.
fn dupes(
    kind: crate::engine::library::DupeKind,
    h: &crate::engine::library::Hit,
    others: i64,
) -> crate::engine::library::DupeGroup {
    use crate::engine::library::{DupeFile, DupeGroup};
    let file = |id: i64, hash: String, path: String| DupeFile {
        id,
        content_hash: hash,
        locations: vec![path.clone()],
        path,
        total_notes: Some(412),
        duration_seconds: Some(32.0),
    };
    let mut files = vec![file(h.id, h.content_hash.clone(), h.path.clone())];
    for n in 0..others {
        files.push(file(
            1000 + n,
            format!("{:064x}", 0xd0_0000 + n),
            format!("/music/other/copy {n} of {}", h.filename),
        ));
    }
    DupeGroup {
        kind,
        key: format!("{:032x}", others),
        total_files: others + 1,
        files,
    }
}

/// Eight bars of 4/4 at 120 bpm (16 s): a bass line, chords and a drum groove, sorted as the engine sorts them.
pub fn notes() -> crate::engine::library::FileNotes {
    use crate::engine::midi::{Note, NoteList};
    let mut notes = Vec::new();
    let n = |start: f64, len: f64, pitch: u8, channel: u8| Note {
        start,
        end: start + len,
        pitch,
        channel,
        velocity: 100,
    };
    let roots = [48u8, 44, 51, 46];
    for bar in 0..8u8 {
        let t = f64::from(bar) * 2.0;
        let root = roots[usize::from(bar % 4)];
        for beat in 0..4 {
            let b = t + f64::from(beat) * 0.5;
            notes.push(n(b, 0.4, root - 12 + if beat % 2 == 1 { 7 } else { 0 }, 1));
            notes.push(n(b, 0.1, if beat % 2 == 0 { 36 } else { 38 }, 9));
            notes.push(n(b + 0.25, 0.1, 42, 9));
        }
        for (k, off) in [0u8, 3, 7].iter().enumerate() {
            notes.push(n(t, 1.9, root + 12 + off, 0));
            if k == 2 {
                notes.push(n(t + 1.0, 0.9, root + 24, 0));
            }
        }
    }
    notes.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.pitch.cmp(&b.pitch)));
    crate::engine::library::FileNotes {
        location: "/music/packs/grooves.zip!/set1/funk_break_001.mid".into(),
        notes: NoteList {
            notes,
            duration_seconds: 16.0,
            truncated: false,
        },
    }
}

/// The browser open on `query`, answered with `n` hits (`more`: a next page exists), the first file's detail and
/// notes read.
pub fn browsing(mut a: App, query: &str, n: i64, more: bool) -> App {
    use super::browser::{BrowserEffect, BrowserMsg, Timer};
    use crate::engine::library::{Cursor, Page, SortValue};
    keys(&mut a, &[Key::Char('/')]);
    for c in query.chars() {
        keys(&mut a, &[Key::Char(c)]);
    }
    let g = a.browser.generation;
    update(&mut a, Msg::Browser(BrowserMsg::Timer(Timer::Search(g))));
    let hits: Vec<_> = (1..=n).map(hit).collect();
    let next = more.then_some(Cursor {
        value: SortValue::Int(n),
        id: n,
    });
    let effects = update(
        &mut a,
        Msg::Browser(BrowserMsg::Searched {
            generation: g,
            append: false,
            result: Ok(Page {
                hits,
                next,
                approximate: false,
            }),
        }),
    );
    keys(&mut a, &[Key::Enter]);
    if n > 0 {
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, super::app::Effect::Browser(BrowserEffect::After(..))))
        );
        let s = a.browser.selection;
        update(&mut a, Msg::Browser(BrowserMsg::Timer(Timer::Select(s))));
        update(
            &mut a,
            Msg::Browser(BrowserMsg::Detail {
                selection: s,
                result: Ok(Some(Box::new(detail(1)))),
            }),
        );
        update(
            &mut a,
            Msg::Browser(BrowserMsg::Notes {
                selection: s,
                result: Ok(notes()),
            }),
        );
    }
    a
}

/// Doctor facts of a fixed machine: THP `always`, small shared_buffers, no cpufreq.
pub fn doctor_facts() -> crate::engine::doctor::DoctorFacts {
    use crate::engine::doctor::{DoctorFacts, OsFacts, ServerFacts};
    const GIB: u64 = 1 << 30;
    DoctorFacts {
        os: OsFacts {
            open_files: Some((1024, 524_288)),
            governors: Vec::new(),
            mem_total: 16 * GIB,
            mem_available: Some(12 * GIB),
            swap_total: Some(0),
            swap_free: Some(0),
            swappiness: Some(60),
            thp: Some("always".into()),
            cores: 8,
        },
        server: Ok(ServerFacts {
            shared_buffers: 128 << 20,
            max_wal_size: GIB,
            checkpoint_timeout_secs: 300,
            checkpoint_completion_target: 0.9,
            library_files: 1_000_000,
            database_bytes: 2_400_000_000,
            data_directory: "/home/user/.local/share/midi-tui/pg".into(),
            disk_free: Some(120 * GIB),
            managed: true,
        }),
        rates: crate::engine::profile::auto::Rates::from_runs([None; 3]),
    }
}

/// `a` (browsing, its first file read) playing that file through the synthesizer, `seconds` in.
pub fn listening(mut a: App, seconds: f64) -> App {
    use super::listen::ListenMsg;
    use crate::engine::listen::{FontOrigin, FoundFont, Playhead};
    keys(&mut a, &[Key::Char(' ')]);
    let probe = crate::listen::Probe {
        font: Ok(FoundFont {
            path: PathBuf::from("/usr/share/sounds/sf2/TimGM6mb.sf2"),
            origin: FontOrigin::System,
        }),
        ports: Err("no MIDI ports: this machine has no ALSA sequencer (/dev/snd/seq)".into()),
    };
    update(&mut a, Msg::Listen(ListenMsg::Probed(probe)));
    let name = "synth TimGM6mb.sf2 → Default Audio Device".to_string();
    update(&mut a, Msg::Listen(ListenMsg::Opened(Ok(name))));
    let selection = a.browser.selection;
    update(
        &mut a,
        Msg::Listen(ListenMsg::Started {
            selection,
            result: Ok((1, 16.0)),
        }),
    );
    update(
        &mut a,
        Msg::Listen(ListenMsg::Tick(Some(Playhead {
            id: 1,
            seconds,
            duration: 16.0,
            ended: false,
        }))),
    );
    a
}
