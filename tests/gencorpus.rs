//! Synthetic corpus generator: determinism, realism (sizes, duplicates, broken files, content) and archives.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gencorpus::{Corpus, FileKind, GenOptions, GenReport, generate};
use midi_tui::engine::midi::{analyze, path_meta};
use midly::{MetaMessage, MidiMessage, Smf, TrackEventKind};

/// Every regular file under `dir` as (relative path with `/`, absolute path), sorted by relative path.
fn walk(dir: &Path) -> Vec<(String, PathBuf)> {
    fn rec(root: &Path, d: &Path, out: &mut Vec<(String, PathBuf)>) {
        let entries = std::fs::read_dir(d).unwrap_or_else(|e| panic!("read_dir {}: {e}", d.display()));
        for e in entries {
            let e = e.expect("dir entry");
            let p = e.path();
            if p.is_dir() {
                rec(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, p));
            }
        }
    }
    let mut out = Vec::new();
    rec(dir, dir, &mut out);
    out.sort();
    out
}

/// One hash over every path and every byte of a generated tree.
fn tree_hash(dir: &Path) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    for (rel, p) in walk(dir) {
        h.update(rel.as_bytes());
        h.update(&[0]);
        let data = std::fs::read(&p).expect("read");
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(&data);
    }
    h.finalize()
}

fn generate_into(dir: &Path, files: u64, seed: u64, archives: bool) -> GenReport {
    let mut calls = Vec::new();
    let report = generate(
        dir,
        &GenOptions {
            files,
            seed,
            archives,
            formats: Vec::new(),
            ..Default::default()
        },
        &mut |n| calls.push(n),
    )
    .expect("generate");
    assert!(
        calls.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {calls:?}"
    );
    assert_eq!(calls.last(), Some(&files), "last progress call must be the total");
    report
}

fn is_midi_name(name: &str) -> bool {
    let l = name.to_lowercase();
    l.ends_with(".mid") || l.ends_with(".midi") || l.ends_with(".kar")
}

#[test]
fn same_seed_gives_byte_identical_output() {
    for archives in [false, true] {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let c = tempfile::tempdir().expect("tempdir");
        let ra = generate_into(a.path(), 400, 7, archives);
        let rb = generate_into(b.path(), 400, 7, archives);
        generate_into(c.path(), 400, 8, archives);
        assert_eq!(ra.files_written, 400);
        assert_eq!(
            GenReport {
                archives: vec![],
                ..ra.clone()
            },
            GenReport {
                archives: vec![],
                ..rb.clone()
            },
            "reports differ"
        );
        assert_eq!(
            tree_hash(a.path()),
            tree_hash(b.path()),
            "archives={archives}: same seed, different bytes"
        );
        assert_ne!(
            tree_hash(a.path()),
            tree_hash(c.path()),
            "archives={archives}: seed has no effect"
        );
    }
}

#[derive(Default)]
struct Features {
    valid: usize,
    format0: usize,
    format1: usize,
    drums: usize,
    tempo_changes: usize,
    key_sigs: usize,
    key_changes: usize,
    non_utf8_text: usize,
    lyrics: usize,
    programs: usize,
    odd_meters: usize,
    copyright: usize,
}

/// Reads a valid file with midly and checks it holds what a library needs to be realistic.
fn features_of(data: &[u8], f: &mut Features, name: &str) {
    let smf = Smf::parse(data).unwrap_or_else(|e| panic!("{name}: midly: {e}"));
    f.valid += 1;
    match smf.header.format {
        midly::Format::SingleTrack => f.format0 += 1,
        _ => f.format1 += 1,
    }
    let (mut notes, mut drum_notes, mut tempos, mut keys) = (0, 0, 0, 0);
    let (mut bad_text, mut lyric, mut program, mut odd, mut copyright) = (false, false, false, false, false);
    for ev in smf.tracks.iter().flatten() {
        match ev.kind {
            TrackEventKind::Midi {
                channel,
                message: MidiMessage::NoteOn { vel, .. },
            } if vel > 0 => {
                notes += 1;
                if channel.as_int() == 9 {
                    drum_notes += 1;
                }
            }
            TrackEventKind::Midi {
                message: MidiMessage::ProgramChange { .. },
                ..
            } => program = true,
            TrackEventKind::Meta(MetaMessage::Tempo(_)) => tempos += 1,
            TrackEventKind::Meta(MetaMessage::KeySignature(..)) => keys += 1,
            TrackEventKind::Meta(MetaMessage::TimeSignature(n, d, ..)) => odd |= (n, d) != (4, 2),
            TrackEventKind::Meta(MetaMessage::Lyric(t)) => {
                lyric = true;
                bad_text |= std::str::from_utf8(t).is_err();
            }
            TrackEventKind::Meta(MetaMessage::Copyright(t)) => {
                copyright = true;
                bad_text |= std::str::from_utf8(t).is_err();
            }
            TrackEventKind::Meta(MetaMessage::TrackName(t) | MetaMessage::Text(t) | MetaMessage::InstrumentName(t)) => {
                bad_text |= std::str::from_utf8(t).is_err();
                lyric |= t.starts_with(b"@KMIDI");
            }
            _ => {}
        }
    }
    assert!(notes > 0, "{name}: no notes");
    f.drums += usize::from(drum_notes > 0);
    f.tempo_changes += usize::from(tempos > 1);
    f.key_sigs += usize::from(keys > 0);
    f.key_changes += usize::from(keys > 1);
    f.non_utf8_text += usize::from(bad_text);
    f.lyrics += usize::from(lyric);
    f.programs += usize::from(program);
    f.odd_meters += usize::from(odd);
    f.copyright += usize::from(copyright);
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn a_generated_library_looks_like_a_real_one() {
    let n = 2_000u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = Instant::now();
    let report = generate_into(dir.path(), n, 2024, false);
    let secs = t0.elapsed().as_secs_f64();
    let files = walk(dir.path());
    assert_eq!(files.len() as u64, n, "files on disk");
    assert!(files.iter().all(|(rel, _)| is_midi_name(rel)), "non-MIDI names");
    assert_eq!(report.files_written, n);
    assert!(report.archives.is_empty());

    let corpus = Corpus::new(&GenOptions {
        files: n,
        seed: 2024,
        archives: false,
        formats: Vec::new(),
        ..Default::default()
    });
    let mut sizes = Vec::with_capacity(files.len());
    let mut first_seen: HashMap<blake3::Hash, String> = HashMap::new();
    let (mut dups, mut dups_elsewhere, mut broken) = (0u64, 0u64, 0u64);
    let mut f = Features::default();
    let mut bpm_checked = 0;
    let mut key_checked = 0;
    let mut depths = HashSet::new();
    let mut collections = HashSet::new();
    for (rel, p) in &files {
        let data = std::fs::read(p).expect("read");
        sizes.push(data.len() as u64);
        depths.insert(rel.matches('/').count());
        collections.insert(rel.split('/').next().unwrap_or("").to_string());
        let folder = rel.rsplit_once('/').map_or("", |x| x.0).to_string();
        let h = blake3::hash(&data);
        if let Some(prev) = first_seen.get(&h) {
            dups += 1;
            dups_elsewhere += u64::from(prev.rsplit_once('/').map_or("", |x| x.0) != folder);
            continue;
        }
        first_seen.insert(h, rel.clone());
        match analyze(&data) {
            Err(_) => broken += 1,
            Ok(m) => {
                assert_eq!(
                    m.warnings, 0,
                    "{rel}: clean file read with warnings ({:?})",
                    m.first_warning
                );
                features_of(&data, &mut f, rel);
                let pm = path_meta(rel);
                if let (Some(name_bpm), Some(bpm)) = (pm.filename_bpm, m.music.bpm) {
                    assert!(
                        (name_bpm - bpm).abs() < 0.51,
                        "{rel}: name says {name_bpm} BPM, file {bpm}"
                    );
                    bpm_checked += 1;
                }
                if let (Some(name_key), Some(key)) = (&pm.filename_key, &m.music.key_signature) {
                    assert_eq!(name_key, key, "{rel}: key in name vs key signature");
                    key_checked += 1;
                }
            }
        }
    }
    // The plan agrees with what is on disk.
    let planned_broken = (0..n)
        .filter(|&i| matches!(corpus.kind(i), FileKind::Broken(_)))
        .count() as u64;
    assert_eq!(planned_broken, broken);
    assert_eq!(report.broken, broken);
    assert_eq!(report.duplicates, dups);
    assert_eq!(report.unique_contents, first_seen.len() as u64);
    assert_eq!(report.bytes, sizes.iter().sum::<u64>());

    sizes.sort_unstable();
    let (median, max) = (percentile(&sizes, 0.5), *sizes.last().unwrap_or(&0));
    let mean = sizes.iter().sum::<u64>() / n;
    println!(
        "{n} files in {secs:.2}s ({:.0} files/s, debug); sizes: p10 {} p25 {} median {median} p75 {} p90 {} p99 {} max \
         {max} mean {mean}; duplicates {dups} ({:.1}%), {dups_elsewhere} in another folder; broken {broken} ({:.2}%)",
        n as f64 / secs,
        percentile(&sizes, 0.10),
        percentile(&sizes, 0.25),
        percentile(&sizes, 0.75),
        percentile(&sizes, 0.90),
        percentile(&sizes, 0.99),
        100.0 * dups as f64 / n as f64,
        100.0 * broken as f64 / n as f64,
    );
    assert!((8_000..=25_000).contains(&median), "median size {median}");
    assert!(max > 100_000, "largest file {max}");
    let dup_share = dups as f64 / n as f64;
    assert!((0.25..=0.35).contains(&dup_share), "duplicate share {dup_share}");
    assert!(
        dups_elsewhere * 4 >= dups * 3,
        "duplicates should live in other folders: {dups_elsewhere}/{dups}"
    );
    let broken_share = broken as f64 / n as f64;
    assert!((0.005..=0.02).contains(&broken_share), "broken share {broken_share}");

    assert_features_like_real(&f, bpm_checked, key_checked);
    assert!(depths.len() >= 3 && depths.contains(&3), "folder depths {depths:?}");
    assert!(collections.len() > 5, "collections {collections:?}");
}

/// The musical features of a generated library's valid files are spread as in real collections.
fn assert_features_like_real(f: &Features, bpm_checked: usize, key_checked: usize) {
    println!(
        "valid unique {}: format0 {} format1 {} drums {} tempo changes {} key sigs {} key changes {} non-UTF-8 text {} \
         lyrics {} programs {} odd meters {} copyright {}; name BPM checked {bpm_checked}, name key checked {key_checked}",
        f.valid,
        f.format0,
        f.format1,
        f.drums,
        f.tempo_changes,
        f.key_sigs,
        f.key_changes,
        f.non_utf8_text,
        f.lyrics,
        f.programs,
        f.odd_meters,
        f.copyright
    );

    let v = f.valid;
    let share = |x: usize| x as f64 / v as f64;
    assert!(
        share(f.format0) > 0.15 && share(f.format1) > 0.5,
        "formats {} / {}",
        f.format0,
        f.format1
    );
    assert!(share(f.drums) > 0.4, "drums in {}", f.drums);
    assert!(f.drums < v, "every file has drums");
    assert!(share(f.tempo_changes) > 0.05, "tempo changes in {}", f.tempo_changes);
    assert!(
        share(f.key_sigs) > 0.3 && f.key_sigs < v,
        "key signatures in {}",
        f.key_sigs
    );
    assert!(f.key_changes > 0, "no key changes");
    assert!(share(f.non_utf8_text) > 0.03, "non-UTF-8 text in {}", f.non_utf8_text);
    assert!(f.lyrics > 10, "lyrics in {}", f.lyrics);
    assert!(share(f.programs) > 0.8, "program changes in {}", f.programs);
    assert!(f.odd_meters > 10, "non-4/4 meters in {}", f.odd_meters);
    assert!(f.copyright > 10, "copyright in {}", f.copyright);
    assert!(
        bpm_checked > 100 && key_checked > 50,
        "names with BPM {bpm_checked}, with key {key_checked}"
    );
}

/// Members of an archive as (name, bytes), directories left out.
fn archive_members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let name = path.to_string_lossy().to_string();
    let file = std::fs::File::open(path).expect("open archive");
    let mut out = Vec::new();
    if name.ends_with(".zip") {
        let mut z = zip::ZipArchive::new(file).expect("zip");
        for i in 0..z.len() {
            let mut e = z.by_index(i).expect("zip entry");
            if e.is_dir() {
                continue;
            }
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("zip read");
            out.push((e.name().expect("zip name").to_string(), data));
        }
    } else {
        let reader: Box<dyn Read> = if name.ends_with(".tar.gz") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else if name.ends_with(".tar.xz") {
            Box::new(xz2::read::XzDecoder::new(file))
        } else {
            panic!("unexpected archive {name}")
        };
        let mut t = tar::Archive::new(reader);
        for e in t.entries().expect("tar entries") {
            let mut e = e.expect("tar entry");
            if e.header().entry_type().is_dir() {
                continue;
            }
            let member = e.path().expect("tar path").to_string_lossy().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("tar read");
            out.push((member, data));
        }
    }
    out
}

#[test]
fn archives_mode_packs_collections_into_zip_tar_gz_and_tar_xz() {
    let n = 1_500u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let report = generate_into(dir.path(), n, 99, true);
    let kinds: HashSet<&str> = report
        .archives
        .iter()
        .map(|p| {
            let s = p.to_str().unwrap_or("");
            if s.ends_with(".zip") {
                "zip"
            } else if s.ends_with(".tar.gz") {
                "tar.gz"
            } else {
                "tar.xz"
            }
        })
        .collect();
    assert_eq!(kinds.len(), 3, "archive kinds {kinds:?}");

    let mut total = 0u64;
    let mut broken = 0u64;
    let mut bytes = 0u64;
    let mut hashes = HashSet::new();
    for a in &report.archives {
        assert!(a.starts_with(dir.path()), "{} outside the output folder", a.display());
        let collection = a
            .file_name()
            .and_then(|x| x.to_str())
            .and_then(|x| x.split('.').next())
            .unwrap_or("");
        let members = archive_members(a);
        assert!(!members.is_empty(), "{} is empty", a.display());
        for (name, data) in members {
            assert!(
                name.starts_with(&format!("{collection}/")),
                "{name} not under {collection}/"
            );
            assert!(is_midi_name(&name), "{name}");
            total += 1;
            bytes += data.len() as u64;
            broken += u64::from(analyze(&data).is_err());
            hashes.insert(blake3::hash(&data));
        }
    }
    let plain: Vec<(String, PathBuf)> = walk(dir.path()).into_iter().filter(|(r, _)| r.contains('/')).collect();
    assert!(!plain.is_empty(), "some collections stay plain folders");
    for (_, p) in &plain {
        let data = std::fs::read(p).expect("read");
        bytes += data.len() as u64;
        broken += u64::from(analyze(&data).is_err());
        hashes.insert(blake3::hash(&data));
    }
    total += plain.len() as u64;
    assert_eq!(total, n, "files in archives plus folders");
    assert_eq!(report.files_written, n);
    assert_eq!(report.broken, broken);
    assert_eq!(report.bytes, bytes);
    assert_eq!(report.unique_contents, hashes.len() as u64);
    assert_eq!(report.duplicates, n - hashes.len() as u64);
}

#[test]
fn generation_speed() {
    // Small by default to keep the suite quick; MIDI_TUI_GEN_BENCH_FILES=100000 for the real measurement.
    let n: u64 = std::env::var("MIDI_TUI_GEN_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let archives = std::env::var("MIDI_TUI_GEN_BENCH_ARCHIVES").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = Instant::now();
    let report = generate_into(dir.path(), n, 1, archives);
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "generated {} files ({:.1} MB, archives: {archives}) in {secs:.2}s: {:.0} files/s, {:.1} MB/s",
        report.files_written,
        report.bytes as f64 / 1e6,
        n as f64 / secs,
        report.bytes as f64 / 1e6 / secs
    );
    assert_eq!(report.files_written, n);

    // The same work without the file system, one thread: how much of the time is making the bytes.
    let corpus = Corpus::new(&GenOptions {
        files: n,
        seed: 1,
        archives: false,
        formats: Vec::new(),
        ..Default::default()
    });
    let m = n.min(5_000);
    let t0 = Instant::now();
    let made: usize = (0..m).map(|i| corpus.contents(&corpus.plan(i)).len()).sum();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "content only, one thread: {m} files ({:.1} MB) in {secs:.2}s: {:.0} files/s",
        made as f64 / 1e6,
        m as f64 / secs
    );
}

#[test]
fn tiny_corpora_work() {
    for n in [0u64, 1, 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        let report = generate_into(dir.path(), n, 5, true);
        assert_eq!(report.files_written, n);
        assert_eq!(report.unique_contents + report.duplicates, n);
        let on_disk = walk(dir.path()).len() as u64;
        if n == 0 {
            assert_eq!(on_disk, 0);
            assert!(report.archives.is_empty());
        } else {
            // One collection, packed as the first archive kind.
            assert_eq!(report.archives.len(), 1);
            assert_eq!(on_disk, 1);
        }
    }
}
