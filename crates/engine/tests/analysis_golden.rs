//! Golden test: every metadata field and both fingerprints of every file of the shared corpus, as analyzed today.
//!
//! The stored output (`tests/fixtures/analysis_golden.jsonl.gz`, one JSON object per file, sorted by relative path)
//! was written by the analyzer before its speed work; any later change to the analyzer must reproduce it exactly.
//! The note-dense files of the synthetic generator are guarded too: the first [`GENERATED_FILES`] files of seed 1,
//! made in memory (duplicates left out), each by a digest of the same output line
//! (`tests/fixtures/analysis_generated.txt.gz`, one `index digest` line per file), stored from the analyzer of main
//! at 61c9ee2. Regenerate both on purpose only:
//! `MIDI_TUI_GOLDEN_WRITE=1 cargo test -p midi-tui-engine --test analysis_golden`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use midi_tui_engine::midi::analyze;
use serde_json::{Value, json};

fn corpus_dir() -> PathBuf {
    PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or_else(|_| "/work/shared/corpus".into()))
}

/// Generated files whose analysis is guarded: songs, loops, drum parts and broken files, with millions of notes.
const GENERATED_FILES: u64 = 3000;

fn generated_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/analysis_generated.txt.gz")
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/analysis_golden.jsonl.gz")
}

/// Every regular file under `dir` (archives and non-MIDI files too: their errors are output as well), by relative path.
fn corpus_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("corpus folder readable").flatten() {
            let p = e.path();
            let t = e.file_type().expect("file type");
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under corpus")
                    .to_string_lossy()
                    .into_owned();
                if rel != "reference.jsonl" && rel != "README.md" {
                    out.push((rel, p));
                }
            }
        }
    }
    out.sort();
    out
}

/// The analyzer's whole output for one file: every metadata field, or the error's kind and message.
fn output_of(rel: &str, data: &[u8]) -> Value {
    match analyze(data) {
        Ok(m) => json!({ "path": rel, "ok": m }),
        Err(e) => json!({ "path": rel, "error": e.kind, "message": e.message }),
    }
}

/// The stored lines by path, kept as text: serde_json's default float parsing may be off by one ulp, so lines are
/// compared as written and parsed only to name the fields of a line that differs.
fn read_golden() -> BTreeMap<String, String> {
    let f = std::fs::File::open(golden_path()).expect("golden fixture present");
    let mut out = BTreeMap::new();
    for line in BufReader::new(flate2::read::GzDecoder::new(f)).lines() {
        let line = line.expect("golden line");
        let v: Value = serde_json::from_str(&line).expect("golden JSON");
        let path = v["path"].as_str().expect("path").to_owned();
        out.insert(path, line);
    }
    out
}

/// Names of the fields that differ between two outputs of one file (top level and inside the metadata).
fn differing_fields(want: &Value, got: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    for key in ["error", "message"] {
        if want.get(key) != got.get(key) {
            diffs.push(format!("{key}: want {} got {}", want[key], got[key]));
        }
    }
    let (w, g) = (want.get("ok"), got.get("ok"));
    match (w.and_then(Value::as_object), g.and_then(Value::as_object)) {
        (Some(w), Some(g)) => {
            for (k, wv) in w {
                let gv = g.get(k).unwrap_or(&Value::Null);
                if wv != gv {
                    diffs.push(format!("{k}: want {wv} got {gv}"));
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                diffs.push(format!("{k}: new field"));
            }
        }
        _ if w != g => diffs.push("ok: one side has no metadata".into()),
        _ => {}
    }
    diffs
}

#[test]
fn analysis_matches_the_stored_output_of_every_corpus_file() {
    let dir = corpus_dir();
    assert!(
        dir.is_dir(),
        "corpus not found at {} (set MIDI_TUI_CORPUS)",
        dir.display()
    );
    let files = corpus_files(&dir);
    let outputs: Vec<Value> = files
        .iter()
        .map(|(rel, p)| output_of(rel, &std::fs::read(p).expect("corpus file readable")))
        .collect();

    if std::env::var_os("MIDI_TUI_GOLDEN_WRITE").is_some() {
        let f = std::fs::File::create(golden_path()).expect("write golden fixture");
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
        for v in &outputs {
            writeln!(gz, "{v}").expect("write golden line");
        }
        gz.finish().expect("finish golden fixture");
        return;
    }

    let golden = read_golden();
    assert!(golden.len() > 1000, "golden fixture holds only {} files", golden.len());
    let mut failures = Vec::new();
    for v in &outputs {
        let path = v["path"].as_str().expect("path");
        match golden.get(path) {
            None => failures.push(format!("{path}: not in the golden fixture")),
            Some(want_line) => {
                let got_line = v.to_string();
                if *want_line != got_line {
                    let want: Value = serde_json::from_str(want_line).expect("golden JSON");
                    let got: Value = serde_json::from_str(&got_line).expect("own JSON");
                    let mut diffs = differing_fields(&want, &got);
                    if diffs.is_empty() {
                        // A float that differs in its last digit only: both lines say which.
                        diffs.push(format!("want {want_line}\n  got {got_line}"));
                    }
                    failures.push(format!("{path}: {}", diffs.join("; ")));
                }
            }
        }
    }
    let seen: std::collections::BTreeSet<&str> = outputs.iter().filter_map(|v| v["path"].as_str()).collect();
    for path in golden.keys().filter(|p| !seen.contains(p.as_str())) {
        failures.push(format!("{path}: in the golden fixture but not in the corpus"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ from the stored analysis:\n{}",
        failures.len(),
        outputs.len(),
        failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The comparison itself can fail: a changed field is named.
#[test]
fn a_changed_field_is_named() {
    let want = json!({"path": "a.mid", "ok": {"bpm": 120.0, "total_notes": 3}});
    let got = json!({"path": "a.mid", "ok": {"bpm": 120.0, "total_notes": 4}});
    let diffs = differing_fields(&want, &got);
    assert_eq!(diffs, vec!["total_notes: want 3 got 4".to_string()]);
    assert!(differing_fields(&want, &want).is_empty());
}

/// `index digest` per generated file: 16 bytes of BLAKE3 over the file's output line.
fn generated_digests() -> (BTreeMap<String, String>, BTreeMap<String, String>, u64) {
    use gencorpus::{Corpus, FileKind, GenOptions};
    let corpus = Corpus::new(&GenOptions {
        files: GENERATED_FILES,
        seed: 1,
        ..GenOptions::default()
    });
    let (mut digests, mut lines, mut notes) = (BTreeMap::new(), BTreeMap::new(), 0u64);
    for i in 0..GENERATED_FILES {
        let plan = corpus.plan(i);
        if matches!(plan.kind, FileKind::Duplicate { .. }) {
            continue;
        }
        let data = corpus.contents(&plan);
        // Keyed by index, not by the generated name: the guard is on the analysis, not on the naming.
        let v = output_of(&format!("generated/{i:05}"), &data);
        notes += v["ok"]["total_notes"].as_u64().unwrap_or(0);
        let line = v.to_string();
        digests.insert(
            format!("{i:05}"),
            blake3::hash(line.as_bytes()).to_hex()[..32].to_owned(),
        );
        lines.insert(format!("{i:05}"), line);
    }
    (digests, lines, notes)
}

#[test]
fn analysis_of_generated_files_matches_the_stored_digests() {
    let (digests, lines, notes) = generated_digests();
    assert!(notes > 1_000_000, "only {notes} notes in the generated files");
    assert!(
        lines.values().filter(|l| l.contains("\"error\"")).count() >= 10,
        "too few broken files among the generated ones"
    );
    if std::env::var_os("MIDI_TUI_GOLDEN_WRITE").is_some() {
        let f = std::fs::File::create(generated_path()).expect("write generated fixture");
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
        for (k, d) in &digests {
            writeln!(gz, "{k} {d}").expect("write generated line");
        }
        gz.finish().expect("finish generated fixture");
        return;
    }
    let f = std::fs::File::open(generated_path()).expect("generated fixture present");
    let stored: BTreeMap<String, String> = BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map(|l| {
            let l = l.expect("generated line");
            let (k, d) = l.split_once(' ').expect("`index digest` line");
            (k.to_owned(), d.to_owned())
        })
        .collect();
    assert!(
        stored.len() > 1000,
        "generated fixture holds only {} files",
        stored.len()
    );
    let keys: std::collections::BTreeSet<&String> = stored.keys().chain(digests.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| stored.get(*k) != digests.get(*k))
        .map(|k| match lines.get(k) {
            // Only digests are stored: what the file analyzes to now is where the search starts.
            Some(line) => format!("generated file {k} now analyzes to {line}"),
            None => format!("generated file {k}: stored but no longer generated"),
        })
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} generated files differ from the stored analysis; the first:\n{}",
        differing.len(),
        stored.len(),
        differing.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}
