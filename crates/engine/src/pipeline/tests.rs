//! The pipeline's stages against sinks and look-ups in memory: counts, writer and look-up failures, cancel.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::unbounded;

use super::sink::{BatchOutcome, BatchRows, BatchSink, Candidate, DryRun, Known, ResumeLookup};
use super::stage::Stage;
use super::stages;
use super::*;
use crate::database::DbError;

/// A folder of MIDI files: the fixtures, one copy of a fixture, one file that is not MIDI, one macOS metadata file.
struct Library {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// Files that pass the scan (the metadata file does not).
    files: u64,
    /// Distinct contents that parse.
    good: u64,
    /// Files that fail (their content does not parse).
    bad: u64,
}

fn library() -> Library {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/midi");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut contents = Vec::new();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        std::fs::write(root.join(path.file_name().unwrap()), &data).unwrap();
        contents.push(data);
    }
    let copied = contents
        .iter()
        .find(|d| crate::midi::analyze(d).is_ok())
        .unwrap()
        .clone();
    std::fs::write(root.join("copy.mid"), &copied).unwrap();
    std::fs::write(root.join("broken.mid"), b"not a MIDI file at all").unwrap();
    std::fs::write(root.join("._copy.mid"), b"resource fork").unwrap();
    contents.push(b"not a MIDI file at all".to_vec());
    let good = contents.iter().filter(|d| crate::midi::analyze(d).is_ok()).count() as u64;
    Library {
        _dir: dir,
        root,
        files: contents.len() as u64 + 1,
        good,
        bad: contents.len() as u64 - good,
    }
}

fn options(root: &Path) -> ImportOptions {
    let mut opts = ImportOptions::new(vec![root.to_path_buf()], RunMode::Normal);
    opts.workers = 2;
    opts.readers = 2;
    opts
}

/// An in-memory destination: what it was given, and how it misbehaves.
#[derive(Default)]
struct Memory {
    writes: u64,
    contents: HashSet<[u8; 32]>,
    locations: Vec<String>,
    errors: u64,
    /// Every write fails.
    fail: bool,
    /// The first write cancels the run (as a user would, mid-run).
    cancel: Option<Arc<Control>>,
    /// The first content is committed by "another importer", visible only from the next write on: its
    /// locations come back as orphans until then.
    withhold_first: bool,
    withheld: Option<[u8; 32]>,
}

impl BatchSink for Memory {
    fn open(&mut self) -> Result<(), ImportError> {
        Ok(())
    }
    fn write(&mut self, batch: &BatchRows<'_>) -> Result<BatchOutcome, ImportError> {
        self.writes += 1;
        if self.fail {
            return Err(DbError::Connect("server terminated the connection".into()).into());
        }
        if let Some(c) = self.cancel.take() {
            c.cancel();
        }
        if let Some(hash) = self.withheld.take() {
            self.contents.insert(hash);
        }
        let mut new_files = 0;
        for c in batch.contents {
            if std::mem::take(&mut self.withhold_first) {
                self.withheld = Some(c.hash);
            } else if self.contents.insert(c.hash) {
                new_files += 1;
            }
        }
        self.errors += batch.errors.len() as u64;
        let mut orphans = Vec::new();
        for l in batch.locations {
            if self.contents.contains(&l.hash) {
                self.locations.push(l.location.clone());
            } else {
                orphans.push(l.location.clone());
            }
        }
        Ok(BatchOutcome {
            new_files,
            locations: (batch.locations.len() - orphans.len()) as u64,
            orphans,
        })
    }
    fn ping(&mut self) -> Result<(), ImportError> {
        Ok(())
    }
    fn progress(&mut self, _: &crate::metrics::Counts) {}
    fn close(&mut self) {}
}

/// A look-up that knows every file (but the forced ones are read anyway), or that fails.
struct Lookup {
    fail: bool,
}

impl ResumeLookup for Lookup {
    fn known(&self, files: &[Candidate], archives: &[Candidate]) -> Result<Option<Known>, DbError> {
        if self.fail {
            return Err(DbError::Connect("connection refused".into()));
        }
        Ok(Some(Known {
            files: vec![true; files.len()],
            archives: vec![None; archives.len()],
        }))
    }
}

struct Ran {
    result: Result<RunSummary, ImportError>,
    finished: RunSummary,
    sink: Memory,
    control: Arc<Control>,
}

/// One run of the stages on its own thread; a run that does not end within a minute is a hang.
fn run_with(
    opts: ImportOptions,
    mut sink: Memory,
    lookup: Box<dyn ResumeLookup>,
    forced: HashSet<String>,
    control: Arc<Control>,
) -> Ran {
    let (done_tx, done_rx) = unbounded();
    let c = control.clone();
    std::thread::spawn(move || {
        let (tx, events) = unbounded();
        let sources = opts.sources.clone();
        let stage = Arc::new(Stage::new(opts, Arc::default(), c, tx, RunLog(None)));
        let outcome = stages::run(
            &stage,
            stages::Feed::Sources(sources.clone()),
            Arc::new(forced),
            &mut sink,
            lookup,
        );
        let result = finish(&stage, None, outcome, None);
        let finished = events.try_iter().find_map(|e| match e {
            EngineEvent::Finished(s) => Some(*s),
            _ => None,
        });
        let _ = done_tx.send((result, finished, sink));
    });
    let (result, finished, sink) = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run ended (no hang)");
    Ran {
        result,
        finished: finished.expect("a Finished event"),
        sink,
        control,
    }
}

#[test]
fn counts_of_a_small_library_match_what_the_sink_was_given() {
    let lib = library();
    let ran = run_with(
        options(&lib.root),
        Memory::default(),
        Box::new(DryRun),
        HashSet::new(),
        Arc::default(),
    );
    let s = ran.result.expect("the run succeeds");
    assert_eq!(s.status, RunStatus::Done);
    assert_eq!(s.counts.seen, lib.files, "every MIDI file, not the metadata file");
    assert_eq!(s.counts.skipped, 1, "the macOS metadata file");
    assert_eq!(s.counts.imported, lib.good);
    assert_eq!(s.counts.duplicates, 1, "copy.mid");
    assert_eq!(s.counts.failed, lib.bad);
    assert_eq!(s.counts.imported + s.counts.duplicates + s.counts.failed, s.counts.seen);
    assert_eq!(s.errors_by_kind.values().sum::<u64>(), s.counts.failed);
    assert_eq!(ran.sink.contents.len() as u64, s.counts.imported);
    assert_eq!(ran.sink.locations.len() as u64, s.counts.imported + s.counts.duplicates);
    assert_eq!(ran.sink.errors, s.counts.failed);
    assert_eq!(ran.finished.counts.seen, s.counts.seen);
    assert_eq!(ran.finished.status, RunStatus::Done);
}

#[test]
fn known_files_are_skipped_but_forced_ones_are_read_again() {
    let lib = library();
    let forced = source::encode_os_path(&std::path::absolute(lib.root.join("copy.mid")).unwrap());
    let ran = run_with(
        options(&std::path::absolute(&lib.root).unwrap()),
        Memory::default(),
        Box::new(Lookup { fail: false }),
        HashSet::from([forced.clone()]),
        Arc::default(),
    );
    let s = ran.result.expect("the run succeeds");
    assert_eq!(s.status, RunStatus::Done);
    assert_eq!(s.counts.seen, lib.files);
    assert_eq!(
        s.counts.skipped,
        lib.files - 1 + 1,
        "all known files but the forced one, and the metadata file"
    );
    assert_eq!((s.counts.imported, s.counts.duplicates, s.counts.failed), (1, 0, 0));
    assert_eq!(ran.sink.locations, vec![forced]);
}

#[test]
fn locations_whose_content_is_not_committed_yet_are_written_later_and_counted_once() {
    let lib = library();
    let sink = Memory {
        withhold_first: true,
        ..Default::default()
    };
    // Small batches: the orphans of the first one ride along with a later one.
    let mut opts = options(&lib.root);
    opts.batch_rows = 4;
    let ran = run_with(opts, sink, Box::new(DryRun), HashSet::new(), Arc::default());
    let s = ran.result.expect("the run succeeds");
    assert!(ran.sink.writes >= 2, "the orphans went out again");
    // The withheld content counts as the other importer's: its location here is a duplicate.
    assert_eq!(
        (s.counts.imported, s.counts.duplicates, s.counts.failed),
        (lib.good - 1, 2, lib.bad)
    );
    let unique: HashSet<&String> = ran.sink.locations.iter().collect();
    assert_eq!(unique.len(), ran.sink.locations.len(), "every location written once");
    assert_eq!(ran.sink.locations.len() as u64, lib.good + 1);
}

#[test]
fn a_writer_error_fails_the_run_keeps_the_error_and_stops_the_producers() {
    // More files than every queue holds together: the producers must stop, not read the whole library.
    let dir = tempfile::tempdir().unwrap();
    let total = 12_000u64;
    for i in 0..total {
        std::fs::write(dir.path().join(format!("{i}.mid")), i.to_le_bytes()).unwrap();
    }
    let mut opts = options(dir.path());
    opts.batch_rows = 16;
    let sink = Memory {
        fail: true,
        ..Default::default()
    };
    let ran = run_with(opts, sink, Box::new(DryRun), HashSet::new(), Arc::default());
    let err = ran.result.expect_err("the run fails");
    assert!(
        err.to_string().contains("server terminated the connection"),
        "the writer's error is kept: {err}"
    );
    assert_eq!(ran.finished.status, RunStatus::Failed);
    assert_eq!(ran.sink.writes, 1, "nothing is written after the failure");
    assert!(ran.control.is_cancelled());
    assert!(
        ran.finished.counts.seen < total,
        "the producers stopped: {} of {total} seen",
        ran.finished.counts.seen
    );
}

#[test]
fn a_failed_resume_look_up_fails_the_run_instead_of_ending_done() {
    let lib = library();
    let ran = run_with(
        options(&lib.root),
        Memory::default(),
        Box::new(Lookup { fail: true }),
        HashSet::new(),
        Arc::default(),
    );
    let err = ran.result.expect_err("the run fails");
    assert!(matches!(err, ImportError::Lookup(_)), "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert_eq!(ran.finished.status, RunStatus::Failed);
    assert_eq!(ran.finished.counts.imported, 0);
}

#[test]
fn a_cancelled_run_is_interrupted_not_failed() {
    let lib = library();
    let control = Arc::new(Control::default());
    let sink = Memory {
        cancel: Some(control.clone()),
        ..Default::default()
    };
    let ran = run_with(options(&lib.root), sink, Box::new(DryRun), HashSet::new(), control);
    let s = ran.result.expect("a cancel is no error");
    assert_eq!(s.status, RunStatus::Interrupted);
    assert_eq!(ran.finished.status, RunStatus::Interrupted);
}
