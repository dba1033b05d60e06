//! `extract`: structure kept, nothing escapes the output folder, no overwrites, nested archives opened, corpus intact.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use midi_tui::engine::source::Limits;
use midi_tui::engine::unpack::{ExtractError, ExtractReport, extract, extract_with_limits};

fn corpus() -> PathBuf {
    let c = PathBuf::from(std::env::var("MIDI_TUI_CORPUS").unwrap_or("/work/shared/corpus".into()));
    assert!(c.is_dir(), "corpus folder {} missing: set MIDI_TUI_CORPUS", c.display());
    c
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/archives")
            .join(name),
    )
    .expect("fixture present")
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

fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file(*name, opts).expect("start zip entry");
        w.write_all(data).expect("write zip entry");
    }
    w.finish().expect("finish zip").into_inner()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip finish")
}

/// Every file, folder and link under `root`, relative, with file contents (`None` for folders, `Some("->")` links).
fn tree(root: &Path) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .as_os_str()
                .as_bytes()
                .to_vec();
            let md = std::fs::symlink_metadata(&p).expect("metadata");
            if md.file_type().is_symlink() {
                out.insert(rel, Some(b"->".to_vec()));
            } else if md.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p).expect("read")));
            }
        }
    }
    out
}

fn files(t: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Vec<String> {
    t.iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

fn hostile_tar(dir: &Path) -> PathBuf {
    let (a, b, c) = (
        fixture("Levels.mid"),
        fixture("SysExTest.mid"),
        fixture("hiphop_fill.mid"),
    );
    let inner = zip_bytes(&[
        ("x.mid", &a),
        ("deep/y.mid", &b),
        ("../zipevil.mid", &c),
        ("/zipabs.mid", &c),
    ]);
    let reg = tar::EntryType::Regular;
    let mut t = tar::Builder::new(Vec::new());
    tar_entry(&mut t, b"../evil.mid", reg, b"", &a);
    tar_entry(&mut t, b"/abs.mid", reg, b"", &a);
    tar_entry(&mut t, b"a/../../evil2.mid", reg, b"", &a);
    tar_entry(&mut t, b"link.mid", tar::EntryType::Symlink, b"/etc/passwd", b"");
    tar_entry(&mut t, b"hard.mid", tar::EntryType::Link, b"../../etc/passwd", b"");
    tar_entry(&mut t, b"a/song.mid", reg, b"", &a);
    tar_entry(&mut t, b"b/song.mid", reg, b"", &b);
    tar_entry(&mut t, b"a/song.mid", reg, b"", &c);
    tar_entry(&mut t, b"b/song.mid", reg, b"", &b);
    tar_entry(&mut t, b"__MACOSX/a/._song.mid", reg, b"", b"junk");
    tar_entry(&mut t, b"a/._song.mid", reg, b"", b"junk");
    tar_entry(&mut t, b"docs/readme.txt", reg, b"", b"hello\n");
    tar_entry(&mut t, b"caf\xe9.mid", reg, b"", &c);
    tar_entry(&mut t, b"inner.zip", reg, b"", &inner);
    tar_entry(&mut t, b"empty/", tar::EntryType::Directory, b"", b"");
    tar_entry(&mut t, b"single.mid.gz", reg, b"", &gz(&a));
    let path = dir.join("evil.tar");
    std::fs::write(&path, t.into_inner().expect("tar")).expect("write tar");
    path
}

#[test]
fn hostile_tar_is_extracted_safely_without_overwrites() {
    let t = tempfile::tempdir().expect("tempdir");
    let src = t.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    let archive = hostile_tar(&src);
    let out = t.path().join("out");
    let report = extract(std::slice::from_ref(&archive), &out, 1).expect("extract");
    let loc = |m: &str| format!("{}!/{m}", archive.display());

    let got = tree(&out);
    assert_eq!(
        files(&got),
        [
            "evil/a/song (2).mid",
            "evil/a/song.mid",
            "evil/b/song.mid",
            "evil/caf\u{FFFD}.mid",
            "evil/docs/readme.txt",
            "evil/inner.zip.d/deep/y.mid",
            "evil/inner.zip.d/x.mid",
            "evil/single.mid.gz.d/single.mid",
        ]
    );
    let (a, b, c) = (
        fixture("Levels.mid"),
        fixture("SysExTest.mid"),
        fixture("hiphop_fill.mid"),
    );
    let file = |p: &[u8]| got.get(p).cloned().flatten().expect("file present");
    assert_eq!(file(b"evil/a/song.mid"), a);
    assert_eq!(file(b"evil/a/song (2).mid"), c);
    assert_eq!(file(b"evil/b/song.mid"), b);
    assert_eq!(
        file(b"evil/caf\xe9.mid"),
        c,
        "non-UTF-8 names are written byte for byte"
    );
    assert_eq!(file(b"evil/single.mid.gz.d/single.mid"), a);
    assert_eq!(got.get(&b"evil/empty"[..]), Some(&None), "folder entries are created");
    assert!(!got.values().any(|v| v.as_deref() == Some(b"->")), "no links created");
    for escaped in ["evil.mid", "evil2.mid", "zipevil.mid", "src/evil.mid"] {
        assert!(!t.path().join(escaped).exists(), "{escaped} escaped the output folder");
    }
    assert!(!Path::new("/abs.mid").exists() && !Path::new("/zipabs.mid").exists());

    assert_eq!(report.files_written, 8);
    assert_eq!(
        report.files_unchanged, 1,
        "the identical duplicate of b/song.mid is not rewritten"
    );
    assert_eq!(report.renamed, 1);
    assert_eq!(report.archives, 3);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let skipped: Vec<(String, &str)> = report
        .skipped
        .iter()
        .map(|(l, r)| (l.clone(), r.split_whitespace().next().unwrap_or_default()))
        .collect();
    assert_eq!(
        skipped,
        [
            (loc("../evil.mid"), "path"),
            (loc("abs.mid"), "absolute"),
            (loc("a/../../evil2.mid"), "path"),
            (loc("link.mid"), "symbolic"),
            (loc("hard.mid"), "hard"),
            (loc("__MACOSX/a/._song.mid"), "macOS"),
            (loc("a/._song.mid"), "macOS"),
            (loc("inner.zip!/../zipevil.mid"), "path"),
            (loc("inner.zip!/zipabs.mid"), "absolute"),
        ]
    );
    assert!(report.skipped[3].1.contains("/etc/passwd"));

    // A second run writes nothing: every member is already there with the same content.
    let again = extract(std::slice::from_ref(&archive), &out, 1).expect("extract again");
    assert_eq!((again.files_written, again.files_unchanged, again.renamed), (0, 9, 0));
    assert_eq!(tree(&out), got);
}

#[test]
fn zip_links_and_traversal_names_are_refused() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.add_symlink("passwd.mid", "/etc/passwd", opts).expect("symlink entry");
    for name in ["../up.mid", "ok/fine.mid", "__MACOSX/ok/._fine.mid"] {
        w.start_file(name, opts).expect("entry");
        w.write_all(b"MThd").expect("write");
    }
    let path = t.path().join("links.zip");
    std::fs::write(&path, w.finish().expect("zip").into_inner()).expect("write");
    let out = t.path().join("out");
    let report = extract(std::slice::from_ref(&path), &out, 1).expect("extract");
    assert_eq!(files(&tree(&out)), ["links/ok/fine.mid"]);
    let reasons: Vec<&str> = report.skipped.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0], "symbolic link to /etc/passwd not extracted");
    assert!(reasons[1].starts_with("path escapes"));
    assert!(reasons[2].starts_with("macOS"));
    assert!(!t.path().join("up.mid").exists());
}

#[test]
fn corpus_archives_extract_in_parallel_into_one_folder_each() {
    let c = corpus();
    let t = tempfile::tempdir().expect("tempdir");
    let arch = |n: &str| c.join("archives").join(n);
    // A second midly.tar.xz from another folder gets its own folder, not a merge.
    let other = t.path().join("copy");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::copy(arch("midly.tar.xz"), other.join("midly.tar.xz")).expect("copy");
    let archives = vec![
        arch("groove.zip"),
        arch("drywetmidi-valid.tar.gz"),
        arch("tonejs.tar.bz2"),
        arch("midly.tar.xz"),
        arch("single.mid.gz"),
        arch("nested.tar.gz"),
        other.join("midly.tar.xz"),
    ];
    let out = t.path().join("out");
    let report = extract(&archives, &out, 2).expect("extract");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.files_written, 1150 + 63 + 22 + 9 + 1 + 107 + 9);
    assert_eq!(report.archives, 7 + 2);

    // Each extracted corpus file equals the corpus file at the same relative path.
    let check = |folder: &str, expected: usize| {
        let got = tree(&out.join(folder));
        let names = files(&got);
        assert_eq!(names.len(), expected, "{folder}");
        for n in names {
            let data = got[n.as_bytes()].clone().expect("file");
            assert_eq!(data, std::fs::read(c.join(&n)).expect("corpus file"), "{folder}/{n}");
        }
    };
    check("groove", 1150);
    check("drywetmidi-valid", 63);
    check("tonejs", 22);
    check("midly", 9);
    check("midly (2)", 9);
    check("nested/inner.zip.d/midly.tar.xz.d", 9);
    assert_eq!(files(&tree(&out.join("nested/inner.zip.d/truncated"))).len(), 98);
    let single = std::fs::read(out.join("single/single.mid")).expect("single.mid");
    assert!(single.starts_with(b"MThd"));
    // Member times are kept (zip DOS time read as UTC).
    let md = std::fs::metadata(out.join("groove/groove/groove/drummer7/session1/20_hiphop_100_fill_4-4.mid"))
        .expect("groove file");
    let mtime = md
        .modified()
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert_eq!(mtime, 1_795_607_214);
}

#[test]
fn bombs_and_broken_archives_are_reported_and_others_still_extracted() {
    let t = tempfile::tempdir().expect("tempdir");
    let lv = fixture("Levels.mid");
    let zeros = vec![0u8; 10 << 20];
    let bomb = t.path().join("bomb.zip");
    std::fs::write(
        &bomb,
        zip_bytes(&[("first.mid", &lv), ("x.mid", &zeros), ("after.mid", &lv)]),
    )
    .expect("write");
    let junk = t.path().join("junk.tar.gz");
    std::fs::write(&junk, b"not gzip at all").expect("write");
    let not_archive = t.path().join("plain.mid");
    std::fs::write(&not_archive, &lv).expect("write");
    let missing = t.path().join("missing.zip");
    let out = t.path().join("out");
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    let report: ExtractReport =
        extract_with_limits(&[bomb.clone(), junk, not_archive, missing], &out, 2, &limits).expect("extract");
    assert_eq!(report.errors.len(), 4, "{:?}", report.errors);
    assert!(report.errors[0].0.ends_with("bomb.zip!/x.mid"), "{:?}", report.errors);
    assert!(
        report.errors[0].1.starts_with("compression_bomb"),
        "{:?}",
        report.errors
    );
    assert!(report.errors[1].1.starts_with("archive_corrupt"), "{:?}", report.errors);
    assert!(report.errors[2].1.starts_with("not an archive"), "{:?}", report.errors);
    assert!(report.errors[3].1.starts_with("io"), "{:?}", report.errors);
    // What came before the bomb is kept; no temporary files are left behind.
    let got = tree(&out);
    assert_eq!(files(&got), ["bomb/first.mid"]);
    assert!(!got.keys().any(|k| String::from_utf8_lossy(k).contains(".part")));
}

#[test]
fn an_output_folder_that_cannot_be_created_is_an_error() {
    let t = tempfile::tempdir().expect("tempdir");
    let file = t.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    let r = extract(&[], &file.join("out"), 1);
    assert!(matches!(r, Err(ExtractError::OutDir { .. })), "{r:?}");
}
