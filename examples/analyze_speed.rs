//! Times the MIDI analysis alone: `cargo run --release --example analyze_speed -- [DIR] [PASSES]
//! [MAX_FILES]` (DIR defaults to MIDI_TUI_CORPUS, else ../shared/corpus): median thread CPU time of PASSES passes
//! over the files held in memory, with and without the fingerprints, as files/s and MB/s of one core; then the
//! analysis against a plain midly parse of the same bytes (its limit), in interleaved pairs.
use std::path::PathBuf;

use midi_tui::cli::bench::analysis_speed::{corpus_payloads, measure_cost, measure_parse_limit};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or_else(|_| "../shared/corpus".into()))
    });
    let passes: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(15);
    let max_files: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(usize::MAX);
    let mut payloads = corpus_payloads(&dir);
    // A large corpus is sampled evenly rather than cut, so the sample keeps its mix of files.
    if payloads.len() > max_files {
        let stride = payloads.len().div_ceil(max_files);
        payloads = payloads.into_iter().step_by(stride).collect();
    }
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    let notes: u64 = payloads
        .iter()
        .filter_map(|p| midi_tui_engine::midi::analyze(p).ok())
        .map(|m| m.music.total_notes.max(0) as u64)
        .sum();
    let c = measure_cost(&payloads, passes);
    let mb = bytes as f64 / 1e6;
    let files = c.files as f64;
    println!(
        "{} files, {mb:.1} MB, {notes} notes, medians of {} interleaved pairs of passes (thread CPU):",
        c.files, c.rounds
    );
    for (label, s) in [
        ("with fingerprints", c.parse_with_fingerprint_seconds),
        ("analysis alone", c.parse_seconds),
    ] {
        println!(
            "  {label:<22} {:8.1} ms  {:9.0} files/s  {:7.1} MB/s  {:5.1} ns/note",
            s * 1e3,
            files / s,
            mb / s,
            s * 1e9 / notes.max(1) as f64
        );
    }
    println!(
        "  fingerprint share      {:+.1}% of the analysis alone, {:.2} ns per note (pairs from {:+.1}% to {:+.1}%)",
        c.overhead * 100.0,
        c.overhead * c.parse_seconds * 1e9 / notes.max(1) as f64,
        c.overhead_range.0 * 100.0,
        c.overhead_range.1 * 100.0
    );
    let l = measure_parse_limit(&payloads, passes);
    println!(
        "  analysis against a plain parse (midly::parse + every event), medians of {} pairs:",
        l.pairs
    );
    for (label, sec) in [("analysis", l.analysis_seconds), ("plain parse", l.plain_parse_seconds)] {
        println!(
            "  {label:<22} {:8.1} ms  {:9.0} files/s  {:7.1} MB/s",
            sec * 1e3,
            files / sec,
            mb / sec
        );
    }
    println!("  analysis / plain parse  {:.2}x the time", l.analysis_over_parse());
}
