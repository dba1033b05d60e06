//! Source layer against real archives (the shared corpus, fixtures made by Python's zipfile/tarfile) and hostile
//! archives built here: bombs, truncation, corruption, deep nesting, non-UTF-8 names.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use midi_tui::engine::source::{
    self, ArchiveStats, Limits, ListEvent, Member, Meter, ReadEvent, ScanItem, decode_location, list_archive,
    read_archive, read_archive_metered, read_file, scan_counted,
};

fn corpus() -> PathBuf {
    let c = PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or("/work/shared/corpus".into()));
    assert!(c.is_dir(), "corpus folder {} missing: set MIDI_TUI_CORPUS", c.display());
    c
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/archives")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).expect("fixture present")
}

#[derive(Default, Debug)]
struct Out {
    members: Vec<Member>,
    skipped: Vec<(String, &'static str)>,
    errors: Vec<(String, &'static str, String)>,
    /// Every event in order, as `M location` / `S location reason` / `E location kind`.
    order: Vec<String>,
    stats: ArchiveStats,
}

fn read(location: &str, path: &Path, limits: &Limits) -> Out {
    let mut out = Out::default();
    let stats = read_archive_metered(location, path, limits, &Meter::default(), &mut |ev| {
        match ev {
            ReadEvent::Member(m) => {
                out.order.push(format!("M {}", m.location));
                out.members.push(m);
            }
            ReadEvent::Skipped { location, reason } => {
                out.order.push(format!("S {location} {reason}"));
                out.skipped.push((location, reason));
            }
            ReadEvent::Error {
                location,
                kind,
                message,
            } => {
                out.order.push(format!("E {location} {kind}"));
                out.errors.push((location, kind.code(), message));
            }
        }
        true
    });
    out.stats = stats;
    out
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test archive");
    p
}

fn zip_bytes(entries: &[(&str, &[u8], zip::CompressionMethod)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, method) in entries {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(*method)
            .large_file(data.len() > 1 << 30);
        w.start_file(*name, opts).expect("start zip entry");
        w.write_all(data).expect("write zip entry");
    }
    w.finish().expect("finish zip").into_inner()
}

/// A tar entry with an arbitrary raw name (tar's own path setters refuse `..` and absolute names).
fn tar_entry(b: &mut tar::Builder<impl Write>, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    b.append(&h, data).expect("append tar entry");
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip finish")
}

fn peak_rss_mib() -> i64 {
    // SAFETY: getrusage only writes into the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss / 1024
}

// ---------------------------------------------------------------- corpus archives

/// Every member of the corpus archives must equal the corpus file at the same relative path.
fn check_against_corpus(name: &str, expected: usize) {
    let c = corpus();
    let out = read(name, &c.join("archives").join(name), &Limits::default());
    assert!(out.errors.is_empty(), "{name}: {:?}", out.errors);
    assert!(out.skipped.is_empty(), "{name}: {:?}", out.skipped);
    assert_eq!(out.members.len(), expected, "{name}");
    assert_eq!(out.stats.members, expected as u64);
    let prefix = format!("{name}!/");
    for m in &out.members {
        let rel = m
            .location
            .strip_prefix(&prefix)
            .expect("member location under the archive");
        let on_disk = std::fs::read(c.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(m.data, on_disk, "{}", m.location);
        assert_eq!(m.size, on_disk.len() as u64);
    }
    // Listing names the same members without reading them.
    let mut listed = Vec::new();
    list_archive(name, &c.join("archives").join(name), &Limits::default(), &mut |ev| {
        if let ListEvent::Member { location, size, .. } = ev {
            listed.push((location, size));
        }
        true
    });
    let read_names: Vec<(String, Option<u64>)> =
        out.members.iter().map(|m| (m.location.clone(), Some(m.size))).collect();
    assert_eq!(listed, read_names, "{name}: list_archive vs read_archive");
}

#[test]
fn groove_zip_has_1150_members_equal_to_the_corpus() {
    check_against_corpus("groove.zip", 1150);
    let c = corpus();
    let out = read("groove.zip", &c.join("archives/groove.zip"), &Limits::default());
    let m = out
        .members
        .iter()
        .find(|m| m.location == "groove.zip!/groove/groove/drummer7/session1/20_hiphop_100_fill_4-4.mid")
        .expect("known member");
    // Zip DOS time 2026-11-25 11:46:54, read as UTC.
    assert_eq!(m.mtime, 1_795_607_214);
    assert_eq!(out.stats.ignored, 0);
}

#[test]
fn drywetmidi_tar_gz_has_63_members() {
    check_against_corpus("drywetmidi-valid.tar.gz", 63);
}

#[test]
fn tonejs_tar_bz2_has_22_members() {
    check_against_corpus("tonejs.tar.bz2", 22);
}

#[test]
fn midly_tar_xz_has_9_members() {
    check_against_corpus("midly.tar.xz", 9);
    let out = read(
        "midly.tar.xz",
        &corpus().join("archives/midly.tar.xz"),
        &Limits::default(),
    );
    let lv = out
        .members
        .iter()
        .find(|m| m.location.ends_with("/Levels.mid"))
        .expect("Levels.mid");
    assert_eq!(lv.mtime, 1_795_607_215);
    assert!(out.members.iter().any(|m| m.location.ends_with("/Beethoven.rmi")));
}

#[test]
fn single_gz_is_one_member_named_without_the_suffix() {
    let path = corpus().join("archives/single.mid.gz");
    let out = read("x/single.mid.gz", &path, &Limits::default());
    assert_eq!(out.order, ["M x/single.mid.gz!/single.mid"]);
    let mut d = flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("open"));
    let mut expected = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut expected).expect("gunzip");
    assert_eq!(out.members[0].data, expected);
    assert!(expected.starts_with(b"MThd"));
}

#[test]
fn nested_tar_gz_zip_tar_xz_has_107_members() {
    let c = corpus();
    let path = c.join("archives/nested.tar.gz");
    let out = read("nested.tar.gz", &path, &Limits::default());
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.members.len(), 107);
    let trunc: Vec<&Member> = out
        .members
        .iter()
        .filter(|m| m.location.starts_with("nested.tar.gz!/inner.zip!/truncated/"))
        .collect();
    assert_eq!(trunc.len(), 98);
    assert_eq!(trunc.iter().map(|m| m.size).sum::<u64>(), 9_108_218);
    let jipan = trunc
        .iter()
        .find(|m| m.location.ends_with("/jipan.mid"))
        .expect("jipan.mid");
    assert_eq!((jipan.size, jipan.mtime), (64_000, 1_795_607_222));
    let deep_prefix = "nested.tar.gz!/inner.zip!/midly.tar.xz!/";
    let deep: Vec<&Member> = out
        .members
        .iter()
        .filter(|m| m.location.starts_with(deep_prefix))
        .collect();
    assert_eq!(deep.len(), 9);
    for m in deep {
        let on_disk = std::fs::read(c.join(&m.location[deep_prefix.len()..])).expect("corpus file");
        assert_eq!(m.data, on_disk, "{}", m.location);
    }
    assert_eq!(out.stats.nested, 2);

    // Depth limits: 2 levels reach the zip but not the tar.xz inside it; 1 level stops at the zip.
    let two = read(
        "nested.tar.gz",
        &path,
        &Limits {
            max_depth: 2,
            ..Limits::default()
        },
    );
    assert_eq!(two.members.len(), 98);
    assert_eq!(
        two.order.iter().filter(|o| o.starts_with("E ")).collect::<Vec<_>>(),
        ["E nested.tar.gz!/inner.zip!/midly.tar.xz nesting_too_deep"]
    );
    let one = read(
        "nested.tar.gz",
        &path,
        &Limits {
            max_depth: 1,
            ..Limits::default()
        },
    );
    assert_eq!(one.order, ["E nested.tar.gz!/inner.zip nesting_too_deep"]);
}

// ---------------------------------------------------------------- fixtures made by other tools

#[test]
fn python_zip_with_junk_cp437_name_and_nesting() {
    let out = read("mixed.zip", &fixtures().join("mixed.zip"), &Limits::default());
    assert_eq!(
        out.order,
        [
            "M mixed.zip!/songs/Levels.mid",
            "M mixed.zip!/songs/UPPER.MID",
            "S mixed.zip!/songs/._Levels.mid macos_metadata",
            "S mixed.zip!/__MACOSX/songs/._UPPER.MID macos_metadata",
            "M mixed.zip!/caf%82.mid",
            "M mixed.zip!/inner/drums.tar.gz!/drums/fill.mid",
            "M mixed.zip!/songs/Levels.mid.gz!/Levels.mid",
        ]
    );
    let data: Vec<&[u8]> = out.members.iter().map(|m| m.data.as_slice()).collect();
    let (lv, sx, hh) = (
        fixture("Levels.mid"),
        fixture("SysExTest.mid"),
        fixture("hiphop_fill.mid"),
    );
    assert_eq!(data, [&lv[..], &sx[..], &hh[..], &hh[..], &lv[..]]);
    // The raw CP437 name survives: the location decodes to the stored bytes.
    assert_eq!(decode_location(&out.members[2].location), b"mixed.zip!/caf\x82.mid");
    assert_eq!(out.members[0].mtime, 1_589_710_830);
    assert_eq!(out.members[3].mtime, 1_600_000_000);
    assert_eq!(
        (
            out.stats.members,
            out.stats.skipped,
            out.stats.errors,
            out.stats.ignored
        ),
        (5, 2, 0, 1)
    );
}

#[test]
fn python_tar_gz_with_long_names_symlink_and_junk() {
    let out = read("mixed.tar.gz", &fixtures().join("mixed.tar.gz"), &Limits::default());
    let long = "a_very_long_folder_name_".repeat(5);
    assert_eq!(
        out.order,
        [
            format!("M mixed.tar.gz!/top/{long}/fill.mid"),
            "S mixed.tar.gz!/top/link.mid not_regular".to_string(),
            "S mixed.tar.gz!/top/._fill.mid macos_metadata".to_string(),
            "M mixed.tar.gz!/top/Levels.KAR".to_string(),
        ]
    );
    assert_eq!(out.members[0].data, fixture("hiphop_fill.mid"));
    assert_eq!(out.members[1].data, fixture("Levels.mid"));
    assert_eq!(out.members[1].mtime, 1_500_000_000);
    assert_eq!(out.stats.ignored, 1);
}

#[test]
fn scan_of_the_fixture_folder_is_sorted_and_typed() {
    let dir = fixtures();
    let mut items = Vec::new();
    let stats = scan_counted(std::slice::from_ref(&dir), &mut |it| {
        items.push(it);
        true
    });
    let base = source::encode_os_path(&dir);
    let got: Vec<String> = items
        .iter()
        .map(|it| match it {
            ScanItem::File { location, size, .. } => {
                format!("F {} {size}", &location[base.len()..])
            }
            ScanItem::Archive { location, .. } => format!("A {}", &location[base.len()..]),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            "F /Levels.mid 2675",
            "F /SysExTest.mid 366",
            "F /hiphop_fill.mid 457",
            "A /mixed.tar.gz",
            "A /mixed.zip",
        ]
    );
    assert_eq!((stats.files, stats.archives, stats.errors), (3, 2, 0));
    let ScanItem::File { location, fs_path, .. } = &items[0] else {
        panic!("a file first")
    };
    let ev = read_file(location, fs_path, &Limits::default(), &Meter::default());
    assert!(
        matches!(&ev, ReadEvent::Member(m) if m.data == fixture("Levels.mid")),
        "{ev:?}"
    );
    let small = Limits {
        max_member_bytes: 100,
        ..Limits::default()
    };
    let ev = read_file(location, fs_path, &small, &Meter::default());
    assert!(
        matches!(
            ev,
            ReadEvent::Error {
                kind: source::kind::TOO_LARGE,
                ..
            }
        ),
        "{ev:?}"
    );
}

// ---------------------------------------------------------------- hostile archives

#[test]
fn zip_bomb_member_stops_the_archive_with_one_error() {
    let t = tempfile::tempdir().expect("tempdir");
    let lv = fixture("Levels.mid");
    let zeros = vec![0u8; 10 << 20];
    let deflate = zip::CompressionMethod::Deflated;
    let bytes = zip_bytes(&[
        ("first.mid", &lv, deflate),
        ("x.mid", &zeros, deflate),
        ("after.mid", &lv, deflate),
    ]);
    let path = write_file(t.path(), "bomb.zip", &bytes);
    let strict = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let started = Instant::now();
    let out = read("bomb.zip", &path, &strict);
    assert_eq!(
        out.order,
        ["M bomb.zip!/first.mid", "E bomb.zip!/x.mid compression_bomb"]
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // With default limits a 10 MB member at ~1000:1 is still allowed (deflate's own ceiling is ~1032:1).
    let out = read("bomb.zip", &path, &Limits::default());
    assert_eq!(out.members.len(), 3);
    assert_eq!(out.members[1].size, 10 << 20);
    // A member larger than max_member_bytes is not read at all.
    let small = Limits {
        max_member_bytes: 1 << 20,
        ..Limits::default()
    };
    let out = read("bomb.zip", &path, &small);
    assert_eq!(
        out.order,
        [
            "M bomb.zip!/first.mid",
            "E bomb.zip!/x.mid too_large",
            "M bomb.zip!/after.mid"
        ]
    );
}

/// A tar.gz whose `big.bin` member holds `gib` GiB of zeros (a multi-member gzip: copies of one 1 MiB member),
/// followed by `after.mid`.
fn zeros_tar_gz(gib: usize) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_path("big.bin").expect("path");
    h.set_size((gib as u64) << 30);
    h.set_mode(0o644);
    h.set_cksum();
    let mut out = gz(h.as_bytes());
    let mib = gz(&vec![0u8; 1 << 20]);
    for _ in 0..(gib << 10) {
        out.extend_from_slice(&mib);
    }
    let mut tail = tar::Builder::new(Vec::new());
    tar_entry(&mut tail, b"after.mid", tar::EntryType::Regular, b"", b"MThd");
    out.extend_from_slice(&gz(&tail.into_inner().expect("tar")));
    out
}

/// Read with a meter; returns (events, inflated bytes, time).
fn metered(location: &str, path: &Path, limits: &Limits) -> (Vec<ReadEvent>, u64, Duration) {
    let meter = Meter::default();
    let started = Instant::now();
    let mut events = Vec::new();
    read_archive_metered(location, path, limits, &meter, &mut |ev| {
        events.push(ev);
        true
    });
    (
        events,
        meter.inflated_bytes.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed(),
    )
}

fn is_bomb_at(events: &[ReadEvent], at: &str) -> bool {
    matches!(events, [ReadEvent::Error { kind: source::kind::COMPRESSION_BOMB, location, .. }] if location == at)
}

#[test]
fn gigabyte_of_zeros_in_a_tar_gz_streams_in_bounded_memory_or_trips_lowered_guards() {
    let t = tempfile::tempdir().expect("tempdir");
    let path = write_file(t.path(), "giga.tar.gz", &zeros_tar_gz(1));
    let compressed = std::fs::metadata(&path).expect("meta").len();
    assert!(compressed < 2 << 20, "the bomb itself is small: {compressed}");

    // Default limits: 1 GiB is under the 16 GiB budget and gzip of zeros (just under 1000:1 with framing) is within
    // the ratio bound, so it streams through; memory stays flat and the member after it is read.
    let (events, inflated, took) = metered("giga.tar.gz", &path, &Limits::default());
    eprintln!(
        "1 GiB streamed: {took:?}, inflated {inflated} bytes, peak RSS {} MiB",
        peak_rss_mib()
    );
    assert!(
        matches!(&events[..], [ReadEvent::Member(m)] if m.location == "giga.tar.gz!/after.mid"),
        "{events:?}"
    );
    assert!(inflated > 1 << 30);
    assert!(peak_rss_mib() < 1024, "memory stays bounded");

    // A lower ratio bound trips within the first tens of MiB.
    let strict = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let (events, inflated, took) = metered("giga.tar.gz", &path, &strict);
    eprintln!("ratio guard (100): {took:?}, inflated {inflated} bytes");
    // The bomb is in data the tar reader skips (big.bin is not MIDI), so the archive itself is named.
    assert!(is_bomb_at(&events, "giga.tar.gz"), "{events:?}");
    assert!(inflated < 16 << 20, "stopped after {inflated} bytes");

    // Ratio check off: the expansion budget trips instead.
    let budget = Limits {
        max_ratio: 0,
        max_archive_expansion: 64 << 20,
        ..Limits::default()
    };
    let (events, inflated, _) = metered("giga.tar.gz", &path, &budget);
    assert!(is_bomb_at(&events, "giga.tar.gz"), "{events:?}");
    assert!(inflated <= (64 << 20) + (1 << 20), "{inflated}");
}

#[test]
fn seventeen_gib_gzip_bomb_trips_the_default_budget() {
    let t = tempfile::tempdir().expect("tempdir");
    let path = write_file(t.path(), "huge.tar.gz", &zeros_tar_gz(17));
    let compressed = std::fs::metadata(&path).expect("meta").len();
    let (events, inflated, took) = metered("huge.tar.gz", &path, &Limits::default());
    eprintln!(
        "17 GiB bomb ({compressed} bytes): {took:?}, inflated {inflated} bytes, peak RSS {} MiB",
        peak_rss_mib()
    );
    assert!(is_bomb_at(&events, "huge.tar.gz"), "{events:?}");
    assert!(inflated <= (16 << 30) + (1 << 20));
    assert!(took < Duration::from_secs(120));
}

#[test]
fn bzip2_single_file_bomb_is_stopped() {
    let t = tempfile::tempdir().expect("tempdir");
    // 256 MiB of zeros as 16 concatenated bzip2 streams (~20 KB in all).
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(&vec![0u8; 16 << 20]).expect("bzip2");
    let one = e.finish().expect("bzip2 finish");
    let bomb: Vec<u8> = one.iter().copied().cycle().take(one.len() * 16).collect();
    let path = write_file(t.path(), "zeros.mid.bz2", &bomb);
    let started = Instant::now();
    let out = read("zeros.mid.bz2", &path, &Limits::default());
    assert_eq!(out.order, ["E zeros.mid.bz2!/zeros.mid compression_bomb"]);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn huge_gnu_long_name_is_refused_before_it_is_buffered() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, b"first.mid", tar::EntryType::Regular, b"", b"MThd");
    // An 80 MiB "file name" (over max_member_bytes): the tar crate would read it whole into memory.
    tar_entry(
        &mut b,
        b"././@LongLink",
        tar::EntryType::GNULongName,
        b"",
        &vec![b'a'; 80 << 20],
    );
    tar_entry(&mut b, b"x.mid", tar::EntryType::Regular, b"", b"MThd");
    let path = write_file(t.path(), "longname.tar.gz", &gz(&b.into_inner().expect("tar")));
    let before = peak_rss_mib();
    let (events, inflated, took) = metered("longname.tar.gz", &path, &Limits::default());
    eprintln!(
        "long-name bomb: {took:?}, inflated {inflated}, peak RSS {before} -> {} MiB",
        peak_rss_mib()
    );
    assert!(matches!(&events[0], ReadEvent::Member(m) if m.location == "longname.tar.gz!/first.mid"));
    assert!(
        matches!(&events[1..], [ReadEvent::Error { kind: source::kind::ARCHIVE_CORRUPT, message, .. }] if message.contains("metadata entry")),
        "{events:?}"
    );
    assert!(
        inflated < 1 << 20,
        "refused at the header, before the name is inflated: {inflated}"
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_reported() {
    let t = tempfile::tempdir().expect("tempdir");
    let lv = fixture("Levels.mid");
    let st = zip::CompressionMethod::Stored;
    // l6.zip holds only a MIDI file; lN.zip holds levelN.mid and l(N+1).zip.
    let mut inner = zip_bytes(&[("level6.mid", &lv, st)]);
    for n in (1..=5).rev() {
        let (mid, child) = (format!("level{n}.mid"), format!("l{}.zip", n + 1));
        inner = zip_bytes(&[(&mid, &lv, st), (&child, &inner, st)]);
    }
    let path = write_file(t.path(), "l1.zip", &inner);
    let out = read("l1.zip", &path, &Limits::default());
    assert_eq!(
        out.order,
        [
            "M l1.zip!/level1.mid",
            "M l1.zip!/l2.zip!/level2.mid",
            "M l1.zip!/l2.zip!/l3.zip!/level3.mid",
            "M l1.zip!/l2.zip!/l3.zip!/l4.zip!/level4.mid",
            "E l1.zip!/l2.zip!/l3.zip!/l4.zip!/l5.zip nesting_too_deep",
        ]
    );
}

#[test]
fn truncated_tar_gz_yields_what_precedes_the_damage_then_one_error() {
    let c = corpus();
    let full = std::fs::read(c.join("archives/drywetmidi-valid.tar.gz")).expect("corpus archive");
    let t = tempfile::tempdir().expect("tempdir");
    let path = write_file(t.path(), "cut.tar.gz", &full[..full.len() / 2]);
    let out = read("cut.tar.gz", &path, &Limits::default());
    assert!(
        !out.members.is_empty() && out.members.len() < 63,
        "{}",
        out.members.len()
    );
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert_eq!(out.errors[0].1, "archive_corrupt");
    assert!(
        out.order.last().is_some_and(|o| o.starts_with("E ")),
        "the error comes last"
    );
    for m in &out.members {
        let on_disk = std::fs::read(c.join(&m.location["cut.tar.gz!/".len()..])).expect("corpus file");
        assert_eq!(m.data, on_disk, "only complete members are handed out");
    }
}

#[test]
fn plain_tar_cut_inside_a_member_is_an_error_not_a_short_file() {
    let t = tempfile::tempdir().expect("tempdir");
    let (lv, hh) = (fixture("Levels.mid"), fixture("hiphop_fill.mid"));
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, b"a.mid", tar::EntryType::Regular, b"", &hh);
    tar_entry(&mut b, b"b.mid", tar::EntryType::Regular, b"", &lv);
    let full = b.into_inner().expect("tar");
    // a.mid: header 512 + data padded to 512; b.mid's header at 1024, its data from 1536.
    let path = write_file(t.path(), "cut.tar", &full[..1536 + 1000]);
    let out = read("cut.tar", &path, &Limits::default());
    assert_eq!(out.order, ["M cut.tar!/a.mid", "E cut.tar!/b.mid archive_corrupt"]);
    assert!(out.errors[0].2.contains("1675 bytes missing"), "{:?}", out.errors);
    // extract keeps what is whole and leaves no partial file.
    let dest = t.path().join("out");
    let report = midi_tui::engine::unpack::extract(std::slice::from_ref(&path), &dest, 1).expect("extract");
    assert_eq!((report.files_written, report.errors.len()), (1, 1));
    assert!(dest.join("cut/a.mid").is_file() && !dest.join("cut/b.mid").exists());
}

#[test]
fn truncated_zip_and_garbage_archives_are_corrupt_not_panics() {
    let c = corpus();
    let t = tempfile::tempdir().expect("tempdir");
    let full = std::fs::read(c.join("archives/groove.zip")).expect("corpus archive");
    let cut = write_file(t.path(), "cut.zip", &full[..full.len() * 6 / 10]);
    let out = read("cut.zip", &cut, &Limits::default());
    assert_eq!(out.order, ["E cut.zip archive_corrupt"]);
    for name in [
        "junk.tar.xz",
        "junk.tar.bz2",
        "junk.tgz",
        "junk.zip",
        "junk.mid.gz",
        "junk.tar",
    ] {
        let p = write_file(
            t.path(),
            name,
            b"this is not an archive at all, just some text that goes on a bit",
        );
        let out = read(name, &p, &Limits::default());
        assert_eq!(out.members.len(), 0, "{name}");
        assert!(
            out.errors.len() <= 1 && out.errors.iter().all(|e| e.1 == "archive_corrupt"),
            "{name}: {:?}",
            out.errors
        );
    }
    let out = read("missing.zip", &t.path().join("missing.zip"), &Limits::default());
    assert_eq!(out.order, ["E missing.zip io"]);
}

#[test]
fn corrupt_zip_member_does_not_stop_the_others() {
    let t = tempfile::tempdir().expect("tempdir");
    let (lv, hh) = (fixture("Levels.mid"), fixture("hiphop_fill.mid"));
    let d = zip::CompressionMethod::Deflated;
    let mut bytes = zip_bytes(&[("a.mid", &lv, d), ("b.mid", &lv, d), ("c.mid", &hh, d)]);
    let (start, len) = {
        let mut z = zip::ZipArchive::new(Cursor::new(bytes.clone())).expect("zip");
        let f = z.by_index(1).expect("b.mid");
        (
            f.data_start().expect("data start") as usize,
            f.compressed_size() as usize,
        )
    };
    for b in &mut bytes[start + len / 3..start + len / 3 + 16] {
        *b ^= 0x5A;
    }
    let path = write_file(t.path(), "damaged.zip", &bytes);
    let out = read("damaged.zip", &path, &Limits::default());
    assert_eq!(
        out.order,
        [
            "M damaged.zip!/a.mid",
            "E damaged.zip!/b.mid archive_corrupt",
            "M damaged.zip!/c.mid"
        ]
    );
    assert_eq!(out.members[1].data, hh);
}

#[test]
fn non_utf8_names_uppercase_and_single_compressed_members() {
    let t = tempfile::tempdir().expect("tempdir");
    let (lv, sx) = (fixture("Levels.mid"), fixture("SysExTest.mid"));
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, b"dir/\xff\xfe 100%41.mid", tar::EntryType::Regular, b"", &lv);
    tar_entry(&mut b, b"dir/Song.MID.gz", tar::EntryType::Regular, b"", &gz(&sx));
    tar_entry(&mut b, b"UP.MIDI", tar::EntryType::Regular, b"", &sx);
    tar_entry(&mut b, b"dir/big.mid", tar::EntryType::Regular, b"", &vec![7u8; 5000]);
    tar_entry(&mut b, b"last.rmi", tar::EntryType::Regular, b"", &sx);
    let tar_bytes = b.into_inner().expect("tar");
    let path = write_file(t.path(), "names.tar", &tar_bytes);
    let small = Limits {
        max_member_bytes: 4096,
        ..Limits::default()
    };
    let out = read("names.tar", &path, &small);
    assert_eq!(
        out.order,
        [
            "M names.tar!/dir/%FF%FE 100%2541.mid",
            "M names.tar!/dir/Song.MID.gz!/Song.MID",
            "M names.tar!/UP.MIDI",
            "E names.tar!/dir/big.mid too_large",
            "M names.tar!/last.rmi",
        ]
    );
    assert_eq!(
        decode_location(&out.members[0].location),
        b"names.tar!/dir/\xff\xfe 100%41.mid"
    );
    assert_eq!(out.members[1].data, sx);

    // The same members as single compressed files of each kind, top-level.
    let mut x = xz2::write::XzEncoder::new(Vec::new(), 1);
    x.write_all(&lv).expect("xz");
    let xz_path = write_file(t.path(), "A.KAR.XZ", &x.finish().expect("xz"));
    assert_eq!(read("A.KAR.XZ", &xz_path, &small).order, ["M A.KAR.XZ!/A.KAR"]);
    // A truncated single compressed file is an error, not a short member.
    let whole = gz(&lv);
    let cut_gz = write_file(t.path(), "cut.mid.gz", &whole[..whole.len() - 10]);
    assert_eq!(
        read("cut.mid.gz", &cut_gz, &small).order,
        ["E cut.mid.gz!/cut.mid archive_corrupt"]
    );
    let mut x = xz2::write::XzEncoder::new(Vec::new(), 1);
    x.write_all(&lv).expect("xz");
    let whole = x.finish().expect("xz");
    let cut_xz = write_file(t.path(), "cut.mid.xz", &whole[..whole.len() - 10]);
    assert_eq!(
        read("cut.mid.xz", &cut_xz, &small).order,
        ["E cut.mid.xz!/cut.mid archive_corrupt"]
    );
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    bz.write_all(&lv).expect("bzip2");
    let whole = bz.finish().expect("bzip2");
    let cut_bz = write_file(t.path(), "cut.mid.bz2", &whole[..whole.len() - 10]);
    assert_eq!(
        read("cut.mid.bz2", &cut_bz, &small).order,
        ["E cut.mid.bz2!/cut.mid archive_corrupt"]
    );
    // A single compressed member with unknown size is cut at the limit.
    let big_gz = write_file(t.path(), "big.mid.gz", &gz(&vec![7u8; 5000]));
    assert_eq!(
        read("big.mid.gz", &big_gz, &small).order,
        ["E big.mid.gz!/big.mid too_large"]
    );
}

#[test]
fn stopping_from_the_callback_ends_the_walk() {
    let path = corpus().join("archives/groove.zip");
    let mut n = 0;
    read_archive("groove.zip", &path, &Limits::default(), &mut |_| {
        n += 1;
        n < 5
    });
    assert_eq!(n, 5);
    let stats = read_archive_metered("groove.zip", &path, &Limits::default(), &Meter::default(), &mut |_| {
        false
    });
    assert!(stats.cancelled);
    assert_eq!(stats.members, 1);
}

#[test]
fn mutated_archives_never_panic_or_hang() {
    let c = corpus();
    let t = tempfile::tempdir().expect("tempdir");
    let samples: Vec<(&str, Vec<u8>)> = vec![
        ("mixed.zip", fixture("mixed.zip")),
        ("mixed.tar.gz", fixture("mixed.tar.gz")),
        (
            "midly.tar.xz",
            std::fs::read(c.join("archives/midly.tar.xz")).expect("corpus"),
        ),
        (
            "single.mid.gz",
            std::fs::read(c.join("archives/single.mid.gz")).expect("corpus"),
        ),
        (
            "tonejs.tar.bz2",
            std::fs::read(c.join("archives/tonejs.tar.bz2")).expect("corpus"),
        ),
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // More rounds locally: MIDI_TUI_FUZZ_ROUNDS=5000.
    let rounds: u64 = std::env::var("MIDI_TUI_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let out = t.path().join("out");
    let started = Instant::now();
    let mut events = 0usize;
    for (name, bytes) in &samples {
        for round in 0..rounds {
            let mut m = bytes.clone();
            match round % 3 {
                // Flip a few bytes anywhere.
                0 => {
                    for _ in 0..1 + next() % 8 {
                        let i = (next() % m.len() as u64) as usize;
                        m[i] ^= (next() % 255 + 1) as u8;
                    }
                }
                // Cut it short.
                1 => m.truncate((next() % m.len() as u64) as usize),
                // Overwrite a run with zeros (zeroed headers, sizes, dictionary bits).
                _ => {
                    let i = (next() % m.len() as u64) as usize;
                    let end = (i + 1 + (next() % 64) as usize).min(m.len());
                    m[i..end].fill(0);
                }
            }
            let path = write_file(t.path(), name, &m);
            read_archive(name, &path, &Limits::default(), &mut |_| {
                events += 1;
                true
            });
            if round % 4 == 0 {
                midi_tui::engine::unpack::extract(std::slice::from_ref(&path), &out, 1).expect("extract runs");
            }
        }
    }
    assert!(events > 0);
    assert!(
        started.elapsed() < Duration::from_secs(60 * rounds.div_ceil(60)),
        "took {:?}",
        started.elapsed()
    );
}

/// Pseudo-random MIDI-ish bytes (a header, then noise that compresses a little), distinct per `seed`.
fn member_bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut v = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0".to_vec();
    v.extend((0..len).map(|i| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        if i % 4 == 0 { (x >> 24) as u8 } else { b"MTrk"[i % 4] }
    }));
    v
}

#[test]
fn zip_with_many_members_reads_every_one_in_archive_order() {
    use zip::CompressionMethod::{Bzip2, Deflated, Stored, Zstd};
    let t = tempfile::tempdir().expect("tempdir");
    let methods = [Deflated, Stored, Bzip2, Zstd];
    let datas: Vec<Vec<u8>> = (0..300u32)
        .map(|i| member_bytes(i, (i as usize * 977) % 60_000))
        .collect();
    let mut entries: Vec<(String, &[u8], zip::CompressionMethod)> = Vec::new();
    for (i, d) in datas.iter().enumerate() {
        entries.push((format!("set/{i:03}.mid"), d, methods[i % methods.len()]));
        if i % 50 == 0 {
            entries.push((format!("set/readme{i}.txt"), b"not midi", Deflated));
        }
    }
    let inner = {
        let e: Vec<(&str, &[u8], zip::CompressionMethod)> =
            entries.iter().take(40).map(|(n, d, m)| (n.as_str(), *d, *m)).collect();
        zip_bytes(&e)
    };
    let mut all: Vec<(&str, &[u8], zip::CompressionMethod)> =
        entries.iter().map(|(n, d, m)| (n.as_str(), *d, *m)).collect();
    all.insert(150, ("nested.zip", &inner, Stored));
    let mut bytes = zip_bytes(&all);
    // Damage member 200's data: that member fails alone, with the kind the sequential reader gives.
    let (start, len) = {
        let mut z = zip::ZipArchive::new(Cursor::new(bytes.clone())).expect("zip");
        let f = z.by_name("set/200.mid").expect("member 200");
        (f.data_start().expect("start") as usize, f.compressed_size() as usize)
    };
    for b in &mut bytes[start + len / 2..start + len / 2 + 8] {
        *b ^= 0xA5;
    }
    let path = write_file(t.path(), "many.zip", &bytes);
    let out = read("many.zip", &path, &Limits::default());
    let mut expected: Vec<String> = Vec::new();
    for (n, _, _) in &all {
        if *n == "nested.zip" {
            let nested = entries.iter().take(40).filter(|e| e.0.ends_with(".mid"));
            expected.extend(nested.map(|e| format!("M many.zip!/nested.zip!/{}", e.0)));
        } else if *n == "set/200.mid" {
            expected.push("E many.zip!/set/200.mid archive_corrupt".into());
        } else if n.ends_with(".mid") {
            expected.push(format!("M many.zip!/{n}"));
        }
    }
    assert_eq!(out.order, expected);
    for m in &out.members {
        let i: usize = m.location[m.location.len() - 7..m.location.len() - 4]
            .parse()
            .expect("index");
        assert!(m.data == datas[i], "{} differs", m.location);
    }
    // The text files: six in the outer zip, one in the nested one.
    assert_eq!(out.stats.ignored, 7);
}

/// A tar of `n` members (`d/NNN.mid`), and their bytes.
fn tar_of(n: u32, len: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let datas: Vec<Vec<u8>> = (0..n).map(|i| member_bytes(i + 7, len + i as usize * 31)).collect();
    let mut b = tar::Builder::new(Vec::new());
    for (i, d) in datas.iter().enumerate() {
        tar_entry(
            &mut b,
            format!("d/{i:03}.mid").as_bytes(),
            tar::EntryType::Regular,
            b"",
            d,
        );
    }
    (b.into_inner().expect("tar"), datas)
}

fn assert_members(out: &Out, prefix: &str, datas: &[Vec<u8>]) {
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.members.len(), datas.len());
    for (i, m) in out.members.iter().enumerate() {
        assert_eq!(m.location, format!("{prefix}!/d/{i:03}.mid"));
        assert!(m.data == datas[i], "{} differs", m.location);
    }
}

#[test]
fn multi_block_tar_xz_and_tar_bz2_read_every_member() {
    let t = tempfile::tempdir().expect("tempdir");
    let (tar, datas) = tar_of(120, 30_000);
    // xz as `xz -T` writes it: many blocks with their sizes recorded, decoded by several threads.
    let stream = xz2::stream::MtStreamBuilder::new()
        .threads(2)
        .block_size(256 << 10)
        .preset(1)
        .encoder()
        .expect("xz encoder");
    let mut x = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
    x.write_all(&tar).expect("xz");
    let path = write_file(t.path(), "blocks.tar.xz", &x.finish().expect("xz finish"));
    assert_members(
        &read("blocks.tar.xz", &path, &Limits::default()),
        "blocks.tar.xz",
        &datas,
    );
    // bzip2 at level 1: 100 kB blocks, ~37 of them; and the same as three concatenated streams (pbzip2's way).
    let bz = |data: &[u8]| {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(data).expect("bzip2");
        e.finish().expect("bzip2 finish")
    };
    let path = write_file(t.path(), "blocks.tar.bz2", &bz(&tar));
    assert_members(
        &read("blocks.tar.bz2", &path, &Limits::default()),
        "blocks.tar.bz2",
        &datas,
    );
    let third = tar.len() / 3;
    let mut streams = bz(&tar[..third]);
    streams.extend(bz(&tar[third..2 * third]));
    streams.extend(bz(&tar[2 * third..]));
    let path = write_file(t.path(), "streams.tar.bz2", &streams);
    assert_members(
        &read("streams.tar.bz2", &path, &Limits::default()),
        "streams.tar.bz2",
        &datas,
    );
    // A damaged block: the members before it, then one archive_corrupt error, as with the sequential decoder.
    let mut bad = bz(&tar);
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    let path = write_file(t.path(), "bad.tar.bz2", &bad);
    let out = read("bad.tar.bz2", &path, &Limits::default());
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert_eq!(out.errors[0].1, "archive_corrupt");
    assert!(
        out.members.len() > 10 && out.members.len() < datas.len(),
        "{}",
        out.members.len()
    );
    for (i, m) in out.members.iter().enumerate() {
        assert!(m.data == datas[i]);
    }
}
