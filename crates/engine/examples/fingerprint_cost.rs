//! What the musical fingerprints cost on top of the MIDI analysis: `cargo run --release -p midi-tui-engine --example
//! fingerprint_cost -- [DIR] [ROUNDS]` (DIR defaults to MIDI_TUI_CORPUS, else ../shared/corpus).
use std::path::{Path, PathBuf};

fn midi_files(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => midi_files(&p, out),
            Ok(t) if t.is_file() && midi_tui_engine::source::is_midi_name(&p.to_string_lossy()) => {
                if let Ok(data) = std::fs::read(&p) {
                    out.push(data);
                }
            }
            _ => {}
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or_else(|_| "../shared/corpus".into()))
    });
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(21);
    let mut payloads = Vec::new();
    midi_files(&dir, &mut payloads);
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    let notes: u64 = payloads
        .iter()
        .filter_map(|p| midi_tui_engine::midi::analyze(p).ok())
        .map(|m| m.total_notes as u64)
        .sum();
    println!("{notes} notes");
    let c = midi_tui_engine::midi::fingerprint::measure_cost(&payloads, rounds);
    println!(
        "{} files, {:.1} MB, median of {} passes: analysis {:.1} ms, with fingerprints {:.1} ms, overhead {:+.2}%",
        c.files,
        bytes as f64 / 1e6,
        c.rounds,
        c.parse_seconds * 1e3,
        c.parse_with_fingerprint_seconds * 1e3,
        c.overhead * 100.0
    );
}
