//! Every format `gen-corpus --archive-formats` writes round-trips through the importer: each planned file is found
//! at its planned location with its planned bytes, and real tools read the containers too.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;
use gencorpus::{ArchiveKind, Corpus, FileKind, GenOptions, generate, pack_folder};
use midi_tui::engine::source::encode_bytes;

/// Files per run: 7 collections, so six formats and one plain folder each.
const FILES: u64 = 700;

/// location (relative to the corpus folder) -> BLAKE3 hex of the bytes, for every readable planned file.
fn planned(opts: &GenOptions) -> BTreeMap<String, String> {
    let corpus = Corpus::new(opts);
    let mut out = BTreeMap::new();
    for i in 0..corpus.files() {
        let plan = corpus.plan(i);
        if matches!(plan.kind, FileKind::Broken(_)) {
            continue;
        }
        let base = plan.path.rsplit('/').next().unwrap_or(&plan.path);
        let location = match &plan.archive {
            // A single compressed file's member is named after it, without the suffix.
            Some(a) if a.starts_with(&plan.path) => {
                format!("{}!/{}", encode_bytes(a.as_bytes()), encode_bytes(base.as_bytes()))
            }
            Some(a) => format!("{}!/{}", encode_bytes(a.as_bytes()), encode_bytes(plan.path.as_bytes())),
            None => encode_bytes(plan.path.as_bytes()),
        };
        out.insert(location, blake3::hash(&corpus.contents(&plan)).to_hex().to_string());
    }
    out
}

/// location (relative to `root`) -> content hash hex, from the library.
async fn imported(pool: &sqlx::PgPool, root: &Path) -> BTreeMap<String, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.path, encode(f.content_hash, 'hex') FROM file_locations l JOIN files f ON f.id = l.file_id",
    )
    .fetch_all(pool)
    .await
    .expect("locations");
    let prefix = format!("{}/", root.to_str().expect("utf-8"));
    rows.into_iter()
        .map(|(p, h)| (p.strip_prefix(&prefix).unwrap_or(&p).to_string(), h))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_generated_format_imports_to_its_planned_locations_and_bytes() {
    let groups: [&[ArchiveKind]; 3] = [
        &[
            ArchiveKind::Zip,
            ArchiveKind::ZipStored,
            ArchiveKind::ZipBzip2,
            ArchiveKind::ZipLzma,
            ArchiveKind::ZipZstd,
            ArchiveKind::SevenZ,
        ],
        &[
            ArchiveKind::Tar,
            ArchiveKind::TarGz,
            ArchiveKind::TarBz2,
            ArchiveKind::TarXz,
            ArchiveKind::TarZst,
            ArchiveKind::TarLz4,
        ],
        &[
            ArchiveKind::Gz,
            ArchiveKind::Bz2,
            ArchiveKind::Xz,
            ArchiveKind::Zst,
            ArchiveKind::Lz4,
        ],
    ];
    let mut covered = Vec::new();
    for (g, formats) in groups.iter().enumerate() {
        let db = fresh_db().await;
        let dir = temp_dir(&format!("gen-formats-{g}"));
        let opts = GenOptions {
            files: FILES,
            seed: 11,
            archives: true,
            formats: formats.to_vec(),
            ..Default::default()
        };
        let report = generate(&dir, &opts, &mut |_| {}).expect("generate");
        let containers = formats.iter().filter(|k| !k.is_single()).count();
        assert_eq!(report.archives.len(), containers, "{formats:?}: {:?}", report.archives);
        let v = import_json(&db.url, &[dir.to_str().expect("utf-8")]);
        assert_eq!(v["status"], "done", "{v}");
        assert_eq!(v["seen"], FILES, "{formats:?}: every file seen: {v}");
        assert_eq!(
            v["failed"], report.broken,
            "{formats:?}: only the broken files fail: {v}"
        );
        let want = planned(&opts);
        let got = imported(&db.pool, &dir).await;
        assert_eq!(got.len(), want.len(), "{formats:?}");
        assert_eq!(got, want, "{formats:?}");
        // Each format holds some of the files (not everything landed in the plain folder).
        // Collections take the formats in order, so container i is report.archives[i].
        for (i, k) in formats.iter().enumerate() {
            let n = if k.is_single() {
                let suffix = format!(".{}!/", k.extension());
                got.keys().filter(|l| l.contains(&suffix)).count()
            } else {
                let a = &report.archives[i];
                assert!(
                    a.to_string_lossy().ends_with(k.extension()),
                    "{}: {}",
                    k.name(),
                    a.display()
                );
                let name = format!("{}!/", a.file_name().expect("name").to_string_lossy());
                got.keys().filter(|l| l.starts_with(&name)).count()
            };
            assert!(n > 10, "{}: only {n} files", k.name());
            covered.push(*k);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    covered.sort_by_key(|k| k.name());
    let mut all = ArchiveKind::ALL.to_vec();
    all.sort_by_key(|k| k.name());
    assert_eq!(covered, all, "every writable format is covered");
}

fn tool_ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn real_tools_read_what_pack_folder_writes() {
    let src = temp_dir("pack-src");
    generate(
        &src,
        &GenOptions {
            files: 300,
            seed: 3,
            archives: false,
            formats: Vec::new(),
            ..Default::default()
        },
        &mut |_| {},
    )
    .expect("generate");
    let out = temp_dir("pack-out");
    let sevenz = if tool_ok(&["7zz", "i"]) { "7zz" } else { "7z" };
    for (kind, check) in [
        (ArchiveKind::ZipLzma, vec![sevenz, "t"]),
        (ArchiveKind::ZipBzip2, vec!["unzip", "-tq"]),
        (ArchiveKind::SevenZ, vec![sevenz, "t"]),
        (ArchiveKind::TarXz, vec!["xz", "-t"]),
        (ArchiveKind::TarBz2, vec!["lbzip2", "-t"]),
        (ArchiveKind::TarZst, vec!["zstd", "-tq"]),
        (ArchiveKind::TarLz4, vec!["lz4", "-t"]),
    ] {
        let path = out.join(format!("{}.{}", kind.name(), kind.extension()));
        let r = pack_folder(&src, &path, kind).expect("pack");
        assert_eq!(r.files, 300, "{}", kind.name());
        let mut args = check.clone();
        let p = path.to_str().expect("utf-8");
        args.push(p);
        assert!(tool_ok(&args), "{args:?} fails on what {} wrote", kind.name());
    }
    // Multi-block xz: several blocks even for a few MB, so parallel decoders have work to share out.
    let list = Command::new("xz")
        .args(["--robot", "-lv"])
        .arg(out.join("tar.xz.tar.xz"))
        .output()
        .expect("xz -l");
    let text = String::from_utf8_lossy(&list.stdout);
    let blocks = text.lines().filter(|l| l.starts_with("block\t")).count();
    assert!(blocks >= 3, "{blocks} xz blocks:\n{text}");
    // 7z: one solid block per chunk of 256 files, so 300 files make two.
    let l = Command::new(sevenz)
        .args(["l", "-slt"])
        .arg(out.join("7z.7z"))
        .output()
        .expect("7z l");
    let text = String::from_utf8_lossy(&l.stdout);
    assert!(text.contains("Blocks = 2"), "{text}");
    let _ = std::fs::remove_dir_all(src);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn an_unknown_format_is_a_usage_error_that_says_rar_cannot_be_written() {
    let dir = temp_dir("gen-rar");
    let o = run_bin(
        &[
            "gen-corpus",
            dir.join("out").to_str().unwrap(),
            "--files",
            "10",
            "--archive-formats",
            "zip,rar",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("RAR has no free writer"), "{}", stderr(&o));
    assert!(!dir.join("out").exists(), "nothing written");
    let _ = std::fs::remove_dir_all(dir);
}
