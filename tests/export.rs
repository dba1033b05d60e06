//! `midi-tui export`: archive members and plain files written byte for byte, names that are not UTF-8 or hold `%`
//! kept exactly, structure kept, nothing overwritten, a manifest per written file.
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Real files of the corpus, each with other bytes.
fn real_files(n: usize) -> Vec<Vec<u8>> {
    let dir = common::corpus().join("tonejs-tests/test/midi/debussy");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mid"))
        .collect();
    names.sort();
    let files: Vec<Vec<u8>> = names.iter().take(n).map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(files.len(), n);
    files
}

fn os(b: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(b.to_vec()))
}

/// Every file under `root`: its path below `root` as bytes, and its bytes.
fn tree(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().as_os_str().as_bytes().to_vec();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn export(url: &str, args: &[&str]) -> std::process::Output {
    let logs = common::temp_dir("logs");
    let mut all = vec!["--data-dir", logs.to_str().unwrap(), "--database-url", url, "export"];
    all.extend_from_slice(args);
    let out = common::run_bin(&all, &[]);
    let _ = std::fs::remove_dir_all(&logs);
    out
}

/// The library the export test reads: plain files (a name that is not UTF-8, `%` before hex digits, a lone `%`),
/// a tar.gz with members in folders and a zip.
fn write_library(lib: &Path, f: &[Vec<u8>]) {
    // Plain files: a name that is not UTF-8, a `%` before hex digits (stored escaped as %25), a lone `%`.
    std::fs::create_dir_all(lib.join("plain")).unwrap();
    std::fs::write(lib.join(os(b"plain/caf\xe9.mid")), &f[0]).unwrap();
    std::fs::write(lib.join("plain/100%41 funk.mid"), &f[1]).unwrap();
    // A tar.gz with members in a folder, one not UTF-8, one with `%`; a zip with one member.
    let tgz = std::fs::File::create(lib.join("pack.tar.gz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(tgz, flate2::Compression::default()));
    for (name, data) in [
        (&b"songs/d\xfcr.mid"[..], &f[2]),
        (b"songs/50%25 off.mid", &f[3]),
        (b"songs/deep/c.mid", &f[4]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        tar.append(&h, &data[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let zip_file = std::fs::File::create(lib.join("more.zip")).unwrap();
    let mut zip = zip::ZipWriter::new(zip_file);
    zip.start_file("z/zipped.mid", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&f[5]).unwrap();
    zip.finish().unwrap();
}

/// A second export into the same folder changes nothing; a name taken by other bytes gets a number. Returns the
/// JSON-lines manifest it wrote.
fn export_again(url: &str, out_dir: &Path, top: &str, f: &[Vec<u8>]) -> PathBuf {
    let out = export(url, &["--out", out_dir.to_str().unwrap(), "folder:plain", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_str(common::stdout(&out).trim()).unwrap();
    assert_eq!(
        (v["written"].as_u64(), v["unchanged"].as_u64()),
        (Some(0), Some(2)),
        "{v}"
    );
    let target = out_dir.join(top).join("plain/100%41 funk.mid");
    std::fs::write(&target, b"someone else's file").unwrap();
    let jsonl = out_dir.with_extension("jsonl");
    let out = export(
        url,
        &[
            "--out",
            out_dir.to_str().unwrap(),
            "folder:plain",
            "--manifest",
            jsonl.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"someone else's file",
        "never overwritten"
    );
    assert_eq!(
        std::fs::read(out_dir.join(top).join("plain/100%41 funk (2).mid")).unwrap(),
        f[1]
    );
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let renamed = format!("{top}/plain/100%2541 funk (2).mid");
    assert!(
        rows.iter()
            .any(|r| r["file"] == renamed.as_str() && r["unchanged"] == false),
        "{rows:?}"
    );
    jsonl
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_original_bytes_and_names_from_folders_and_archives() {
    let db = common::fresh_db().await;
    let f = real_files(6);
    let lib = common::temp_dir("export-lib");
    write_library(&lib, &f);
    let summary = common::import_json(&db.url, &[lib.to_str().unwrap()]);
    assert_eq!(summary["status"], "done", "{summary}");
    assert_eq!(summary["imported"], 6, "{summary}");
    // How the `%` names are stored: the location scheme escapes `%` before hex digits only.
    let stored: Vec<String> = sqlx::query_scalar("SELECT path FROM file_locations WHERE path LIKE '%\\%%' ORDER BY 1")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(
        stored.iter().any(|p| p.ends_with("/plain/100%2541 funk.mid")),
        "{stored:?}"
    );
    assert!(
        stored.iter().any(|p| p.ends_with("!/songs/50%2525 off.mid")),
        "{stored:?}"
    );
    assert!(stored.iter().any(|p| p.ends_with("/plain/caf%E9.mid")), "{stored:?}");

    let out_dir = common::temp_dir("export-out");
    let manifest = out_dir.with_extension("csv");
    let out = export(
        &db.url,
        &[
            "--out",
            out_dir.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    assert!(common::stdout(&out).contains("6 written"), "{}", common::stdout(&out));
    // Paths are kept from the imported folder's name down.
    let top = lib.file_name().unwrap().as_bytes().to_vec();
    let want: BTreeMap<Vec<u8>, Vec<u8>> = [
        (&b"plain/caf\xe9.mid"[..], &f[0]),
        (b"plain/100%41 funk.mid", &f[1]),
        (b"pack.tar.gz.d/songs/d\xfcr.mid", &f[2]),
        (b"pack.tar.gz.d/songs/50%25 off.mid", &f[3]),
        (b"pack.tar.gz.d/songs/deep/c.mid", &f[4]),
        (b"more.zip.d/z/zipped.mid", &f[5]),
    ]
    .into_iter()
    .map(|(k, v)| ([&top[..], b"/", k].concat(), v.clone()))
    .collect();
    let got = tree(&out_dir);
    let names = |t: &BTreeMap<Vec<u8>, Vec<u8>>| {
        t.keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&got), names(&want));
    assert!(got == want, "every file byte for byte under its original name");
    // The manifest: a header and one row per written file, with its metadata.
    let csv = std::fs::read_to_string(&manifest).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(
        lines[0].starts_with("file,location,content_hash,filename,collection,bpm,key"),
        "{csv}"
    );
    let top = String::from_utf8(top).unwrap();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{top}/plain/caf%E9.mid,"))),
        "{csv}"
    );
    let hash = blake3::hash(&f[3]).to_hex().to_string();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{top}/pack.tar.gz.d/songs/50%2525 off.mid,")) && l.contains(&hash)),
        "{csv}"
    );

    let jsonl = export_again(&db.url, &out_dir, &top, &f);

    // A file changed since its import is reported, not exported; the exit code says so.
    std::fs::write(lib.join(os(b"plain/caf\xe9.mid")), b"changed").unwrap();
    let fresh = common::temp_dir("export-out2");
    let out = export(&db.url, &["--out", fresh.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(common::stdout(&out).trim()).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["written"].as_u64()),
        (Some("failed"), Some(5)),
        "{v}"
    );
    assert!(
        v["errors"][0]["error"].as_str().unwrap().contains("changed since"),
        "{v}"
    );
    // A bad manifest name is a usage error before anything is written.
    let out = export(&db.url, &["--out", fresh.to_str().unwrap(), "--manifest", "m.txt"]);
    assert_eq!(out.status.code(), Some(2));
    for d in [&lib, &out_dir, &fresh] {
        let _ = std::fs::remove_dir_all(d);
    }
    let _ = std::fs::remove_file(&manifest);
    let _ = std::fs::remove_file(&jsonl);
}
