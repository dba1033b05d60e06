//! Every archive format and method, made by the real tools: same bytes out, precise errors, found by content.
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use midi_tui::engine::source::{self, Limits, ReadEvent, ScanItem};
use midi_tui::engine::unpack::extract;

/// `pack/` as packed in every fixture: four MIDI files (and a `notes.txt`), all stamped 2020-01-02 03:04:05 UTC.
const PACKED: [(&str, &str); 4] = [
    ("pack/gromas.mid", "gromas.mid"),
    ("pack/kahless.mid", "kahless.mid"),
    ("pack/sub/addams.mid", "addams.mid"),
    ("pack/sub/locket3.mid", "locket3.mid"),
];
const PACKED_MTIME: i64 = 1_577_934_245;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn formats(name: &str) -> PathBuf {
    fixtures().join("archive-formats").join(name)
}

fn rar(name: &str) -> PathBuf {
    fixtures().join("rar").join(name)
}

fn expected_members() -> BTreeMap<String, Vec<u8>> {
    PACKED
        .iter()
        .map(|(inner, file)| {
            let data = std::fs::read(fixtures().join("midi").join(file)).expect("fixture");
            (inner.to_string(), data)
        })
        .collect()
}

#[derive(Default, Debug)]
struct Read {
    /// Member path inside the archive -> (bytes, mtime).
    members: BTreeMap<String, (Vec<u8>, i64)>,
    errors: Vec<(String, &'static str, String)>,
}

fn read(path: &Path) -> Read {
    let location = path.to_str().expect("utf-8").to_string();
    let mut out = Read::default();
    source::read_archive(&location, path, &Limits::default(), &mut |ev| {
        match ev {
            ReadEvent::Member(m) => {
                let inner = m
                    .location
                    .strip_prefix(&format!("{location}!/"))
                    .expect("member of this archive");
                out.members.insert(inner.to_string(), (m.data, m.mtime));
            }
            ReadEvent::Error {
                location,
                kind,
                message,
            } => out.errors.push((location, kind.code(), message)),
            ReadEvent::Skipped { .. } => {}
        }
        true
    });
    out
}

fn assert_same_pack(name: &str, got: &Read) {
    assert!(got.errors.is_empty(), "{name}: {:?}", got.errors);
    let bytes: BTreeMap<String, Vec<u8>> = got.members.iter().map(|(k, (d, _))| (k.clone(), d.clone())).collect();
    assert_eq!(bytes, expected_members(), "{name}");
    for (inner, (_, mtime)) in &got.members {
        // Zip's DOS times have two-second steps (7-Zip rounds 05 up to 06).
        assert!((mtime - PACKED_MTIME).abs() <= 1, "{name}: {inner} at {mtime}");
    }
}

#[test]
fn every_format_and_method_yields_the_same_bytes() {
    for name in [
        "pack-deflate.zip",
        "pack-deflate64.zip",
        "pack-bzip2.zip",
        "pack-lzma.zip",
        "pack-solid.7z",
        "pack-nonsolid.7z",
        "pack-bcj-lzma.7z",
        "pack-ppmd.7z",
        "pack-deflate.7z",
        "pack.tar.zst",
        "pack.tzst",
        "pack.tar.lz4",
        // Read by content: a zip named .bin, a tar without extension, a 7z named .dat.
        "pack-zip.bin",
        "pack-tar",
        "pack-7z.dat",
    ] {
        assert_same_pack(name, &read(&formats(name)));
    }
}

#[test]
fn single_zstd_and_lz4_files() {
    let want = std::fs::read(fixtures().join("midi/gromas.mid")).expect("fixture");
    for name in ["gromas.mid.zst", "gromas.mid.lz4"] {
        let got = read(&formats(name));
        assert!(got.errors.is_empty(), "{name}: {:?}", got.errors);
        assert_eq!(got.members.keys().collect::<Vec<_>>(), ["gromas.mid"], "{name}");
        assert_eq!(got.members["gromas.mid"].0, want, "{name}");
    }
}

#[test]
fn zstd_entries_in_a_zip() {
    // No command-line tool here writes zstd zip entries, so the zip crate does.
    let dir = temp_dir("zstd-zip");
    let path = dir.join("pack-zstd.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Zstd);
    for (inner, data) in expected_members() {
        w.start_file(inner, opts).expect("start");
        w.write_all(&data).expect("write");
    }
    w.finish().expect("finish");
    let got = read(&path);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let bytes: BTreeMap<String, Vec<u8>> = got.members.into_iter().map(|(k, (d, _))| (k, d)).collect();
    assert_eq!(bytes, expected_members());
    let _ = std::fs::remove_dir_all(dir);
}

fn one_error(name: &str, got: &Read, kind: &str) {
    assert_eq!(got.errors.len(), 1, "{name}: {:?}", got.errors);
    assert_eq!(got.errors[0].1, kind, "{name}: {:?}", got.errors);
}

#[test]
fn unreadable_7z_archives_leave_one_precise_error() {
    for (name, kind) in [
        ("pack-encrypted.7z", "encrypted"),
        ("pack-encrypted-headers.7z", "encrypted"),
        ("pack-truncated.7z", "archive_corrupt"),
    ] {
        let got = read(&formats(name));
        one_error(name, &got, kind);
        assert!(got.members.is_empty(), "{name}");
    }
    // Non-solid: the damaged block costs its one member; the others are read.
    let got = read(&formats("pack-damaged.7z"));
    one_error("pack-damaged.7z", &got, "archive_corrupt");
    assert!(got.errors[0].0.ends_with("!/pack/gromas.mid"), "{:?}", got.errors);
    let mut want = expected_members();
    want.remove("pack/gromas.mid");
    let bytes: BTreeMap<String, Vec<u8>> = got.members.into_iter().map(|(k, (d, _))| (k, d)).collect();
    assert_eq!(bytes, want);
}

#[test]
fn unreadable_rar_archives_leave_one_precise_error() {
    for name in ["rar5-psw.rar", "rar5-hpsw.rar"] {
        let got = read(&rar(name));
        one_error(name, &got, "encrypted");
    }
    let dir = temp_dir("rar-missing");
    for part in ["rar3-vols.part1.rar", "rar3-vols.part2.rar"] {
        std::fs::copy(rar(part), dir.join(part)).expect("copy");
    }
    // Part 3 is missing: one row for the set, on its first volume (both members reach into part 3).
    let got = read(&dir.join("rar3-vols.part1.rar"));
    one_error("part1", &got, "missing_volume");
    assert!(got.errors[0].2.contains("rar3-vols.part3.rar"), "{:?}", got.errors);
    // A later volume belongs to its first; alone, it says the first is missing.
    assert!(read(&dir.join("rar3-vols.part2.rar")).errors.is_empty());
    std::fs::remove_file(dir.join("rar3-vols.part1.rar")).expect("rm");
    one_error("part2 alone", &read(&dir.join("rar3-vols.part2.rar")), "missing_volume");
    let _ = std::fs::remove_dir_all(dir);
}

/// Every file under `root`, relative, with its bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

#[test]
fn extract_keeps_structure_for_every_format() {
    let out = temp_dir("extract-formats");
    let names = [
        "pack-solid.7z",
        "pack-lzma.zip",
        "pack-bzip2.zip",
        "pack.tar.zst",
        "pack.tar.lz4",
        "pack-7z.dat",
    ];
    let archives: Vec<PathBuf> = names.iter().map(|n| formats(n)).collect();
    let report = extract(&archives, &out, 2).expect("extract");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut want: BTreeMap<String, Vec<u8>> = expected_members();
    want.insert(
        "pack/notes.txt".into(),
        b"four MIDI files from tests/fixtures/midi\n".to_vec(),
    );
    for folder in [
        "pack-solid",
        "pack-lzma",
        "pack-bzip2",
        "pack",
        "pack (2)",
        "pack-7z.dat",
    ] {
        assert_eq!(tree(&out.join(folder)), want, "{folder}");
    }
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn extract_rar_solid_and_subdirs() {
    let crc = |d: &[u8]| {
        let mut c = flate2::Crc::new();
        c.update(d);
        c.sum()
    };
    let out = temp_dir("extract-rar");
    let names = [
        "rar3-solid.rar",
        "rar5-solid.rar",
        "rar3-subdirs.rar",
        "rar5-subdirs.rar",
    ];
    let archives: Vec<PathBuf> = names.iter().map(|n| rar(n)).collect();
    let report = extract(&archives, &out, 2).expect("extract");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Known CRC-32s, from the rarfile test expectations.
    for folder in ["rar3-solid", "rar5-solid"] {
        let t = tree(&out.join(folder));
        assert_eq!(t.len(), 2, "{folder}: {:?}", t.keys());
        for name in ["stest1.txt", "stest2.txt"] {
            assert_eq!(t[name].len(), 2048, "{folder}/{name}");
            assert_eq!(crc(&t[name]), 0xc5b7_e6a2, "{folder}/{name}");
        }
    }
    for folder in ["rar3-subdirs", "rar5-subdirs"] {
        let t = tree(&out.join(folder));
        let got: BTreeMap<&str, u32> = t.iter().map(|(k, v)| (k.as_str(), crc(v))).collect();
        let want = BTreeMap::from([
            ("sub/dir1/file1.txt", 0xe229_f704),
            ("sub/dir2/file2.txt", 0xc904_a4c7),
            ("sub/with space/long fn.txt", 0x71b7_247d),
            ("sub/üȵĩöḋè/file.txt", 0x2fec_89c1),
        ]);
        assert_eq!(got, want, "{folder}");
        assert!(
            out.join(folder).join("sub/empty").is_dir(),
            "{folder}: empty folder kept"
        );
    }
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn nested_7z_zst_and_rar_inside_a_zip() {
    let dir = temp_dir("nested-formats");
    let path = dir.join("outer.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (inner, file) in [
        ("a/pack-solid.7z", formats("pack-solid.7z")),
        ("b/pack.tar.zst", formats("pack.tar.zst")),
        ("c/inner.bin", formats("pack-lzma.zip")),
        ("d/rar5-solid.rar", rar("rar5-solid.rar")),
    ] {
        w.start_file(inner, stored).expect("start");
        w.write_all(&std::fs::read(file).expect("read")).expect("write");
    }
    w.finish().expect("finish");
    let got = read(&path);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let keys: Vec<&String> = got.members.keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    for (inner, data) in expected_members() {
        assert_eq!(got.members[&format!("a/pack-solid.7z!/{inner}")].0, data);
        assert_eq!(got.members[&format!("b/pack.tar.zst!/{inner}")].0, data);
    }
    // `inner.bin` has no archive name, so it is not looked into; the RAR's text files come out through extract.
    let out = dir.join("out");
    let report = extract(&[path], &out, 1).expect("extract");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let t = tree(&out.join("outer"));
    assert_eq!(t["d/rar5-solid.rar.d/stest2.txt"].len(), 2048, "{:?}", t.keys());
    assert_eq!(
        t["a/pack-solid.7z.d/pack/sub/locket3.mid"],
        expected_members()["pack/sub/locket3.mid"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn scan_reads_by_content_and_counts_the_rest_by_type() {
    let dir = temp_dir("scan-content");
    for name in ["pack-zip.bin", "pack-tar", "pack-7z.dat"] {
        std::fs::copy(formats(name), dir.join(name)).expect("copy");
    }
    for (name, body) in [
        ("a.wav", &b"RIFF0000WAVE"[..]),
        ("b.WAV", b"RIFF"),
        ("c.pdf", b"%PDF-1.4"),
        ("README", b"hi"),
    ] {
        std::fs::write(dir.join(name), body).expect("write");
    }
    let mut archives = Vec::new();
    let stats = source::scan_counted(std::slice::from_ref(&dir), &mut |item| {
        if let ScanItem::Archive { fs_path, .. } = item {
            archives.push(fs_path.file_name().expect("name").to_string_lossy().into_owned());
        }
        true
    });
    assert_eq!(archives, ["pack-7z.dat", "pack-tar", "pack-zip.bin"]);
    let want = BTreeMap::from([
        (".wav".to_string(), 2),
        (".pdf".to_string(), 1),
        ("(none)".to_string(), 1),
    ]);
    assert_eq!(stats.ignored_by_ext, want);
    assert_eq!(
        source::ignored_summary(&stats.ignored_by_ext).as_deref(),
        Some("ignored: 2 .wav, 1 (none), 1 .pdf")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn six_packings_import_to_the_same_contents_and_unreadable_archives_leave_one_row() {
    let db = fresh_db().await;
    let dir = temp_dir("import-formats");
    let packed = [
        "pack-deflate.zip",
        "pack-solid.7z",
        "pack.tar.zst",
        "pack.tar.lz4",
        "pack-lzma.zip",
        "pack-bzip2.zip",
    ];
    for name in packed {
        std::fs::copy(formats(name), dir.join(name)).expect("copy");
    }
    let v = import_json(&db.url, &[dir.to_str().expect("utf-8")]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["imported"], 4, "{v}");
    assert_eq!(v["duplicates"], 20, "{v}");
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM files").await, 4);
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM file_locations").await, 24);
    // Each packing holds the same four contents, at the same member paths.
    for name in packed {
        for (inner, _) in PACKED {
            let sql = format!("SELECT count(*) FROM file_locations WHERE path LIKE '%/{name}!/{inner}'");
            assert_eq!(scalar(&db.pool, &sql).await, 1, "{name}!/{inner}");
        }
    }

    let bad = temp_dir("import-unreadable");
    std::fs::copy(formats("pack-truncated.7z"), bad.join("pack-truncated.7z")).expect("copy");
    std::fs::copy(rar("rar5-hpsw.rar"), bad.join("rar5-hpsw.rar")).expect("copy");
    std::fs::copy(formats("pack-zip.bin"), bad.join("renamed.bin")).expect("copy");
    for name in ["a.wav", "b.wav", "c.pdf"] {
        std::fs::write(bad.join(name), b"not midi").expect("write");
    }
    let v = import_json(&db.url, &[bad.to_str().expect("utf-8")]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["duplicates"], 4, "the renamed zip is read by content: {v}");
    // The renamed zip's text member is counted with the other ignored files (an archive member passes over nothing).
    assert_eq!(
        v["ignored"],
        serde_json::json!({".wav": 2, ".pdf": 1, ".txt": 1}),
        "{v}"
    );
    for (name, kind) in [("pack-truncated.7z", "archive_corrupt"), ("rar5-hpsw.rar", "encrypted")] {
        let sql = format!("SELECT count(*) FROM import_errors WHERE path LIKE '%/{name}' AND kind = '{kind}'");
        assert_eq!(scalar(&db.pool, &sql).await, 1, "{name}");
        let sql = format!("SELECT count(*) FROM import_errors WHERE path LIKE '%/{name}%'");
        assert_eq!(scalar(&db.pool, &sql).await, 1, "{name}: one row only");
    }
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(bad);
}

#[test]
fn the_expansion_bound_holds_for_the_new_formats() {
    // Each archive inflates more than this in total: the walk stops with one compression_bomb row.
    let limits = Limits {
        max_archive_expansion: 3_000,
        ..Limits::default()
    };
    for path in [
        formats("pack-solid.7z"),
        formats("pack-nonsolid.7z"),
        formats("pack.tar.zst"),
        formats("pack.tar.lz4"),
        formats("pack-lzma.zip"),
        // Its two 2,048-byte text members are skipped, but a solid RAR decodes what it skips: counted too.
        rar("rar5-solid.rar"),
    ] {
        let location = path.to_str().expect("utf-8").to_string();
        let mut kinds = Vec::new();
        source::read_archive(&location, &path, &limits, &mut |ev| {
            if let ReadEvent::Error { kind, .. } = ev {
                kinds.push(kind.code());
            }
            true
        });
        assert_eq!(kinds, ["compression_bomb"], "{location}");
    }
}

/// The 364 real files of the "done when": every third file the reference peer parsed, in path order, from
/// the shared corpus's own folders (its `archives/` left out). Fixed by the corpus, so the same list every run.
fn real_files(corpus: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(corpus.join("reference.jsonl")).expect("reference.jsonl");
    let mut good: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["parsed"] == true)
        .filter_map(|v| v["path"].as_str().map(str::to_string))
        .filter(|p| !p.starts_with("archives/"))
        .collect();
    good.sort();
    let picked: Vec<String> = good.into_iter().step_by(3).take(364).collect();
    assert_eq!(
        picked.len(),
        364,
        "the corpus holds fewer good files than the test needs"
    );
    picked
}

/// Runs a packing tool in `cwd`; the test fails with its output if it does.
fn run_tool(cwd: &Path, args: &[&str]) {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e} (scripts/setup.sh installs the archive tools)"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Relative location -> what the library holds there: content hash, size, the file's MIDI columns and its musical
/// metadata (names derived columns and times left out: with duplicate contents they follow whichever location
/// came first). Error rows too, as `error:` + relative path -> kind.
async fn library(pool: &sqlx::PgPool, prefix: &str) -> BTreeMap<String, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.path, concat_ws(' ', encode(f.content_hash, 'hex'), l.size, f.format, f.num_tracks, \
         f.ticks_per_quarter_note, f.duration_ticks, f.duration_seconds, f.track_names::text, f.copyright, \
         (to_jsonb(m) - 'file_id')::text) \
         FROM file_locations l JOIN files f ON f.id = l.file_id LEFT JOIN musical_metadata m ON m.file_id = f.id \
         UNION ALL SELECT 'error:' || path, kind FROM import_errors",
    )
    .fetch_all(pool)
    .await
    .expect("library rows");
    rows.into_iter()
        .map(|(p, v)| {
            let rel = p.replacen(prefix, "", 1);
            assert_ne!(rel, p, "{p} is not under {prefix}");
            (rel, v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_364_real_files_import_alike_from_a_folder_and_six_packings() {
    let corpus = corpus();
    let files = real_files(&corpus);
    let dir = temp_dir("real-364");
    let src = dir.join("src");
    for f in &files {
        let to = src.join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(corpus.join(f), &to).expect("copy");
    }
    let tops = ["drywetmidi", "groove"];
    let packs = dir.join("packs");
    std::fs::create_dir_all(&packs).expect("mkdir");
    let p = |name: &str| packs.join(name).to_str().expect("utf-8").to_string();
    let sevenz = if std::process::Command::new("7zz").arg("i").output().is_ok() {
        "7zz"
    } else {
        "7z"
    };
    let (zip, zip_lzma, zip_bzip2, sz, zst, lz4) = (
        p("pack.zip"),
        p("pack-lzma.zip"),
        p("pack-bzip2.zip"),
        p("pack.7z"),
        p("pack.tar.zst"),
        p("pack.tar.lz4"),
    );
    let quiet = ["-bso0", "-bsp0"];
    run_tool(&src, &[&["zip", "-qrX", &zip][..], &tops].concat());
    run_tool(&src, &[&["zip", "-qrX", "-Z", "bzip2", &zip_bzip2][..], &tops].concat());
    run_tool(
        &src,
        &[&[sevenz, "a", "-tzip", "-mm=LZMA"][..], &quiet, &[&zip_lzma], &tops].concat(),
    );
    run_tool(&src, &[&[sevenz, "a", "-t7z"][..], &quiet, &[&sz], &tops].concat());
    run_tool(&src, &[&["tar", "-I", "zstd", "-cf", &zst][..], &tops].concat());
    run_tool(&src, &[&["tar", "-I", "lz4", "-cf", &lz4][..], &tops].concat());
    // The zips hold the methods they are named after (method 14 is LZMA, 12 bzip2); a tool may store a file that
    // does not shrink, nothing else.
    use zip::CompressionMethod as M;
    for (path, method) in [(&zip, M::DEFLATE), (&zip_lzma, M::LZMA), (&zip_bzip2, M::BZIP2)] {
        let mut z = zip::ZipArchive::new(std::fs::File::open(path).expect("open")).expect("zip");
        let mut with_method = 0;
        for i in 0..z.len() {
            let e = z.by_index_raw(i).expect("entry");
            if e.is_dir() {
                continue;
            }
            assert!(
                e.compression() == method || e.compression() == M::Stored,
                "{path}: {:?}",
                e.name()
            );
            with_method += usize::from(e.compression() == method);
        }
        assert!(with_method >= 200, "{path}: {with_method} entries with {method:?}");
    }
    // A zip under a name that says nothing: read by its content.
    let renamed = p("pack-zip.bin");
    std::fs::copy(&zip, &renamed).expect("copy");

    let folder_db = fresh_db().await;
    let v = import_json(&folder_db.url, &[src.to_str().expect("utf-8")]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["seen"], 364, "{v}");
    let want = library(&folder_db.pool, &format!("{}/", src.display())).await;
    assert_eq!(want.keys().filter(|k| !k.starts_with("error:")).count(), 364);
    for pack in [&zip, &sz, &zst, &lz4, &zip_lzma, &zip_bzip2, &renamed] {
        let db = fresh_db().await;
        let v = import_json(&db.url, &[pack]);
        assert_eq!(v["status"], "done", "{pack}: {v}");
        assert_eq!(v["seen"], 364, "{pack}: {v}");
        let got = library(&db.pool, &format!("{pack}!/")).await;
        assert_eq!(got, want, "{pack}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `pack/` (the four fixture MIDI files) as a 7z split into volumes of `volume` bytes by 7-Zip, in `dir`; the
/// volume names.
fn split_7z(dir: &Path, volume: &str) -> Vec<String> {
    for (inner, file) in PACKED {
        let to = dir.join(inner);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(fixtures().join("midi").join(file), to).expect("copy");
    }
    run_tool(dir, &["7zz", "a", "-mx=0", &format!("-v{volume}"), "set.7z", "pack"]);
    std::fs::remove_dir_all(dir.join("pack")).expect("rm pack");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn split_7z_sets_read_whole_and_a_missing_volume_leaves_one_row() {
    let dir = temp_dir("split-7z");
    let names = split_7z(&dir, "2k");
    assert!(names.len() >= 4, "{names:?}");
    assert_eq!(names[0], "set.7z.001");
    let vol = |n: &str| dir.join(n);
    // All volumes: the first reads the whole set, the others give nothing (no members, no rows).
    let got = read(&vol("set.7z.001"));
    let bytes: BTreeMap<String, Vec<u8>> = got.members.iter().map(|(k, (d, _))| (k.clone(), d.clone())).collect();
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(bytes, expected_members());
    for n in &names[1..] {
        let got = read(&vol(n));
        assert!(got.members.is_empty() && got.errors.is_empty(), "{n}: {:?}", got.errors);
    }
    // A middle volume missing: one row on the first, naming it; the later volumes stay silent.
    std::fs::remove_file(vol("set.7z.002")).expect("rm");
    let got = read(&vol("set.7z.001"));
    one_error("without .002", &got, "missing_volume");
    assert!(got.errors[0].2.contains("set.7z.002"), "{:?}", got.errors);
    assert!(read(&vol("set.7z.003")).errors.is_empty());
    // The first missing: the lowest-numbered volume present says so, once.
    std::fs::remove_file(vol("set.7z.001")).expect("rm");
    one_error(".003 without .001", &read(&vol("set.7z.003")), "missing_volume");
    assert!(read(&vol("set.7z.004")).errors.is_empty());
    // The last volume missing (the end header is there).
    let dir2 = temp_dir("split-7z-last");
    let names = split_7z(&dir2, "2k");
    std::fs::remove_file(dir2.join(names.last().expect("volumes"))).expect("rm");
    one_error("without the last", &read(&dir2.join("set.7z.001")), "missing_volume");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(dir2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_7z_set_imports_once_and_a_missing_volume_is_one_row() {
    let db = fresh_db().await;
    let dir = temp_dir("import-split-7z");
    let names = split_7z(&dir, "2k");
    let v = import_json(&db.url, &[dir.to_str().expect("utf-8")]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["imported"], 4, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    assert_eq!(
        v["ignored"],
        serde_json::json!({}),
        "later volumes are not ignored files: {v}"
    );
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM import_errors").await, 0);
    assert_eq!(
        scalar(
            &db.pool,
            "SELECT count(*) FROM file_locations WHERE path LIKE '%/set.7z.001!/pack/%'"
        )
        .await,
        4
    );

    let db = fresh_db().await;
    std::fs::remove_file(dir.join(&names[1])).expect("rm");
    let v = import_json(&db.url, &[dir.to_str().expect("utf-8")]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM import_errors").await, 1);
    assert_eq!(
        scalar(
            &db.pool,
            "SELECT count(*) FROM import_errors WHERE kind = 'missing_volume' AND path LIKE '%/set.7z.001'"
        )
        .await,
        1
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A RAR 3 multi-volume set written here with the "store" method (no free tool writes RAR): `layout` lists, per
/// volume, the (member, byte range) pieces it holds; a member cut between volumes is split as RAR splits it (the
/// header repeated with split flags, each piece's own CRC-32, the last piece carrying the whole file's). Volume
/// names come from `name(n)` (1-based).
fn write_stored_rar_set(
    dir: &Path,
    members: &[(&str, Vec<u8>)],
    layout: &[Vec<(usize, std::ops::Range<usize>)>],
    name: impl Fn(usize) -> String,
) {
    fn crc(data: &[u8]) -> u32 {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    }
    /// A block: its CRC-16 (the low half of the CRC-32 of everything after it) and `body`.
    fn block(body: &[u8]) -> Vec<u8> {
        let mut b = (crc(body) as u16).to_le_bytes().to_vec();
        b.extend_from_slice(body);
        b
    }
    for (v, pieces) in layout.iter().enumerate() {
        let last_volume = v + 1 == layout.len();
        let mut out = b"Rar!\x1a\x07\x00".to_vec();
        // Main header: a volume, new numbering, the first volume flagged.
        let flags: u16 = 0x0001 | 0x0010 | if v == 0 { 0x0100 } else { 0 };
        let mut main = vec![0x73];
        main.extend_from_slice(&flags.to_le_bytes());
        main.extend_from_slice(&13u16.to_le_bytes());
        main.extend_from_slice(&[0; 6]);
        out.extend(block(&main));
        for (m, range) in pieces {
            let (path, data) = (&members[*m].0, &members[*m].1);
            let piece = &data[range.clone()];
            let (before, after) = (range.start > 0, range.end < data.len());
            let flags: u16 = 0x8000 | u16::from(before) | if after { 0x0002 } else { 0 };
            let mut h = vec![0x74];
            h.extend_from_slice(&flags.to_le_bytes());
            h.extend_from_slice(&((32 + path.len()) as u16).to_le_bytes());
            h.extend_from_slice(&(piece.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.push(3); // Unix
            h.extend_from_slice(&(if after { crc(piece) } else { crc(data) }).to_le_bytes());
            h.extend_from_slice(&((20514u32 << 16) | 6274).to_le_bytes()); // 2020-01-02 03:04:04
            h.extend_from_slice(&[29, 0x30]); // version 2.9, stored
            h.extend_from_slice(&(path.len() as u16).to_le_bytes());
            h.extend_from_slice(&0o100644u32.to_le_bytes());
            h.extend_from_slice(path.as_bytes());
            out.extend(block(&h));
            out.extend_from_slice(piece);
        }
        // End of archive: "the next volume follows" on all but the last.
        let mut end = vec![0x7b];
        end.extend_from_slice(&u16::from(!last_volume).to_le_bytes());
        end.extend_from_slice(&7u16.to_le_bytes());
        out.extend(block(&end));
        std::fs::write(dir.join(name(v + 1)), out).expect("write volume");
    }
}

/// Four MIDI members over three volumes: `a` whole and `b`'s first half in part 1, `b`'s rest and `c` in part 2,
/// `d` in part 3.
fn midi_rar_set(dir: &Path, parts: &[usize], name: impl Fn(usize) -> String) -> BTreeMap<String, Vec<u8>> {
    let files = ["gromas.mid", "kahless.mid", "addams.mid", "locket3.mid"];
    let members: Vec<(&str, Vec<u8>)> = ["set/a.mid", "set/b.mid", "set/c.mid", "set/d.mid"]
        .into_iter()
        .zip(files)
        .map(|(m, f)| (m, std::fs::read(fixtures().join("midi").join(f)).expect("fixture")))
        .collect();
    let (a, b, c, d) = (
        members[0].1.len(),
        members[1].1.len(),
        members[2].1.len(),
        members[3].1.len(),
    );
    let layout = vec![
        vec![(0, 0..a), (1, 0..b / 2)],
        vec![(1, b / 2..b), (2, 0..c)],
        vec![(3, 0..d)],
    ];
    let tmp = dir.join(".whole");
    std::fs::create_dir_all(&tmp).expect("dir");
    write_stored_rar_set(&tmp, &members, &layout, &name);
    for &p in parts {
        std::fs::rename(tmp.join(name(p)), dir.join(name(p))).expect("move");
    }
    std::fs::remove_dir_all(tmp).expect("rm");
    members.into_iter().map(|(m, d)| (m.to_string(), d)).collect()
}

fn new_rar_name(n: usize) -> String {
    format!("set.part{n}.rar")
}

fn old_rar_name(n: usize) -> String {
    match n {
        1 => "set.rar".to_string(),
        n => format!("set.r{:02}", n - 2),
    }
}

#[test]
fn multi_volume_rar_sets_read_up_to_a_missing_volume() {
    for (naming, name) in [("new", new_rar_name as fn(usize) -> String), ("old", old_rar_name)] {
        let dir = temp_dir(&format!("rar-set-{naming}"));
        let all = midi_rar_set(&dir, &[1, 2, 3], name);
        let got = read(&dir.join(name(1)));
        assert!(got.errors.is_empty(), "{naming}: {:?}", got.errors);
        let bytes: BTreeMap<String, Vec<u8>> = got.members.into_iter().map(|(k, (d, _))| (k, d)).collect();
        assert!(bytes == all, "{naming}: {:?}", bytes.keys());
        for p in [2, 3] {
            let got = read(&dir.join(name(p)));
            assert!(
                got.members.is_empty() && got.errors.is_empty(),
                "{naming} part {p}: {:?}",
                got.errors
            );
        }
        let _ = std::fs::remove_dir_all(dir);
        // Part 2 missing: `a` lies wholly in part 1; `b` reaches into part 2, and the rest is not read.
        // Part 3 missing: all but `d`.
        for (present, want) in [
            ([1, 3], &["set/a.mid"][..]),
            ([1, 2], &["set/a.mid", "set/b.mid", "set/c.mid"]),
        ] {
            let dir = temp_dir(&format!("rar-set-{naming}-gap"));
            midi_rar_set(&dir, &present, name);
            let got = read(&dir.join(name(1)));
            one_error(naming, &got, "missing_volume");
            assert!(got.errors[0].0.ends_with(&name(1)), "{:?}", got.errors);
            let members: Vec<&str> = got.members.keys().map(String::as_str).collect();
            assert_eq!(members, want, "{naming} {present:?}");
            assert!(read(&dir.join(name(present[1]))).errors.is_empty());
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_volume_rar_set_imports_and_a_missing_volume_leaves_one_row() {
    let db = fresh_db().await;
    let whole = temp_dir("import-rar-set");
    midi_rar_set(&whole, &[1, 2, 3], new_rar_name);
    // The rarfile set too, renamed to the old naming: its text members are not MIDI, its volumes not "ignored".
    for n in 1..=3usize {
        let to = whole.join(format!("vols.{}", ["rar", "r00", "r01"][n - 1]));
        std::fs::copy(rar(&format!("rar3-vols.part{n}.rar")), to).expect("copy");
    }
    let v = import_json(&db.url, &[whole.to_str().expect("utf-8")]);
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["imported"], 4, "{v}");
    // The rarfile set's text members are counted as ignored by type; its later volumes are no ignored files.
    assert!(
        v["ignored"].as_object().is_none_or(|m| m.keys().all(|k| k == ".txt")),
        "later volumes are not ignored files: {v}"
    );
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM import_errors").await, 0);
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM file_locations").await, 4);
    for m in ["a", "b", "c", "d"] {
        let sql = format!("SELECT count(*) FROM file_locations WHERE path LIKE '%/set.part1.rar!/set/{m}.mid'");
        assert_eq!(scalar(&db.pool, &sql).await, 1, "{m}");
    }

    // Part 2 missing: `a` (wholly in part 1) is imported, then exactly one row for the set.
    let gap = temp_dir("import-rar-gap");
    midi_rar_set(&gap, &[1, 3], new_rar_name);
    let v = import_json(&db.url, &[gap.to_str().expect("utf-8")]);
    assert_eq!(v["status"], "done", "{v}");
    let sql = "SELECT count(*) FROM file_locations WHERE path LIKE '%import-rar-gap-%'";
    assert_eq!(scalar(&db.pool, sql).await, 1, "only `a`");
    let sql = "SELECT count(*) FROM file_locations WHERE path LIKE '%import-rar-gap-%set.part1.rar!/set/a.mid'";
    assert_eq!(scalar(&db.pool, sql).await, 1);
    assert_eq!(scalar(&db.pool, "SELECT count(*) FROM import_errors").await, 1);
    let sql = "SELECT count(*) FROM import_errors WHERE kind = 'missing_volume' AND path LIKE '%/set.part1.rar'";
    assert_eq!(scalar(&db.pool, sql).await, 1);
    let _ = std::fs::remove_dir_all(whole);
    let _ = std::fs::remove_dir_all(gap);
}

/// A non-solid 7z (one block per file) as 7-Zip writes it, of real MIDI files: its blocks are decoded ahead by
/// worker threads, and every member still comes out with the folder's bytes, once, under its own name; a member
/// damaged inside its block costs that member only.
#[test]
fn a_non_solid_7z_of_real_files_reads_like_the_folder_and_a_damaged_block_costs_its_member() {
    let corpus = corpus();
    let files: Vec<String> = real_files(&corpus).into_iter().take(120).collect();
    let dir = temp_dir("non-solid-7z");
    let src = dir.join("src");
    let mut want = BTreeMap::new();
    for f in &files {
        let to = src.join("real").join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(corpus.join(f), &to).expect("copy");
        want.insert(format!("real/{f}"), std::fs::read(&to).expect("read"));
    }
    // Stored (-mx=0), so that one member's bytes can be found and damaged below.
    for (name, level) in [("lzma.7z", "-mx=5"), ("stored.7z", "-mx=0")] {
        let out = dir.join(name);
        run_tool(
            &src,
            &[
                "7zz",
                "a",
                "-bd",
                "-ms=off",
                level,
                out.to_str().expect("utf-8"),
                "real",
            ],
        );
        let got = read(&out);
        assert!(got.errors.is_empty(), "{name}: {:?}", got.errors);
        let bytes: BTreeMap<String, Vec<u8>> = got.members.into_iter().map(|(k, (d, _))| (k, d)).collect();
        assert_eq!(bytes.len(), want.len(), "{name}");
        assert!(bytes == want, "{name}: members differ from the folder");
    }
    let stored = dir.join("stored.7z");
    let mut data = std::fs::read(&stored).expect("read");
    let (victim, body) = want.iter().max_by_key(|(_, d)| d.len()).expect("a file");
    let at = data
        .windows(body.len())
        .position(|w| w == body.as_slice())
        .expect("stored member");
    data[at + body.len() / 2] ^= 0x55;
    std::fs::write(&stored, &data).expect("write");
    let got = read(&stored);
    one_error("stored.7z", &got, "archive_corrupt");
    assert!(got.errors[0].0.ends_with(&format!("!/{victim}")), "{:?}", got.errors);
    let mut rest = want.clone();
    rest.remove(victim);
    let bytes: BTreeMap<String, Vec<u8>> = got.members.into_iter().map(|(k, (d, _))| (k, d)).collect();
    assert!(bytes == rest, "the other members differ");
}
