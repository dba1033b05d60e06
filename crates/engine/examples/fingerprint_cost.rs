//! What the musical fingerprints cost on top of the MIDI analysis: `cargo run --release -p midi-tui-engine --example
//! fingerprint_cost -- [DIR] [ROUNDS]` (DIR defaults to MIDI_TUI_CORPUS, else ../shared/corpus).
use std::path::PathBuf;

use midi_tui_engine::midi::fingerprint::{corpus_payloads, measure_cost};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or_else(|_| "../shared/corpus".into()))
    });
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(21);
    let payloads = corpus_payloads(&dir);
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    let notes: u64 = payloads
        .iter()
        .filter_map(|p| midi_tui_engine::midi::analyze(p).ok())
        .map(|m| m.total_notes.max(0) as u64)
        .sum();
    let c = measure_cost(&payloads, rounds);
    println!(
        "{} files, {:.1} MB, {notes} notes; median thread CPU time of {} passes: analysis {:.1} ms, with fingerprints \
         {:.1} ms, overhead {:+.1}% ({:.1} ns per note)",
        c.files,
        bytes as f64 / 1e6,
        c.rounds,
        c.parse_seconds * 1e3,
        c.parse_with_fingerprint_seconds * 1e3,
        c.overhead * 100.0,
        (c.parse_with_fingerprint_seconds - c.parse_seconds) * 1e9 / notes.max(1) as f64
    );
}
