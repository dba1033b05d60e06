//! How well `like:` finds a file's variants: `cargo run --release --example similarity_quality --
//! [DIR] [ORIGINALS]` (DIR defaults to MIDI_TUI_CORPUS): each variant's rank of its original, the mean reciprocal
//! rank, and what the features cost the analysis.
use std::path::PathBuf;

use midi_tui::cli::bench::analysis_speed::{corpus_payloads, measure_feature_cost};
use midi_tui::engine::midi::{similarity, variants};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or_else(|_| "../shared/corpus".into()))
    });
    let max: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(30);
    let payloads = corpus_payloads(&dir);
    let originals = variants::pick_originals(&payloads, max);
    if let Ok(i) = std::env::var("DEBUG_FILE") {
        debug(&payloads, i.parse().unwrap());
        return;
    }
    let q = variants::measure(&payloads, &originals);
    for r in &q.ranks {
        println!("original {:5} {:13} rank {}", r.original, r.kind, r.rank);
    }
    println!(
        "{} files, {} variants of {} originals: mean reciprocal rank {:.3}, {} outside the top 5",
        payloads.len(),
        q.ranks.len(),
        originals.len(),
        q.mean_reciprocal_rank,
        q.misses(5).len()
    );
    let c = measure_feature_cost(&payloads, 9);
    println!(
        "features cost {:+.1}% of the analysis ({:.1} ms with, {:.1} ms without, {} pairs)",
        c.overhead * 100.0,
        c.with_seconds * 1e3,
        c.without_seconds * 1e3,
        c.rounds
    );
}

#[allow(dead_code)]
fn debug(payloads: &[Vec<u8>], i: usize) {
    let m = midi_tui::engine::midi::analyze(&payloads[i]).unwrap();
    let smf = midly::Smf::parse(&payloads[i]).unwrap();
    let mut out = Vec::new();
    smf.write_std(&mut out).unwrap();
    let r = midi_tui::engine::midi::analyze(&out).unwrap();
    for (kind, v) in variants::variants(&payloads[i]) {
        let Some(v) = v else { continue };
        let v = midi_tui::engine::midi::analyze(&v).unwrap();
        let (a, b) = (m.features.as_ref().unwrap(), v.features.as_ref().unwrap());
        let blocks = [(0, 12), (12, 20), (20, 32), (32, 36), (36, 41), (41, 49), (49, 50)];
        let d: Vec<String> = blocks
            .iter()
            .map(|&(x, y)| format!("{:.3}", similarity::distance(&a[x..y], &b[x..y])))
            .collect();
        eprintln!("{kind}: {d:?} notes {} -> {}", m.music.total_notes, v.music.total_notes);
    }
    eprintln!(
        "{i}: notes {} vs {}, fmt {} tracks {} vs {}",
        m.music.total_notes, r.music.total_notes, m.format, m.num_tracks, r.num_tracks
    );
    eprintln!("{:?}\n{:?}", m.features, r.features);
}
