//! `like:`: variants of real files (transposed, tempo-scaled, re-encoded, a part removed) find their originals, in
//! the features alone and through the real import and search; the term combines with the others and pages.
mod common;

use std::path::{Path, PathBuf};

use midi_tui::cli::bench::analysis_speed::corpus_payloads;
use midi_tui::database::{search, similar};
use midi_tui::engine::library::Query;
use midi_tui::engine::midi::{analyze, similarity, variants};

/// The corpus's plain folders (its archives hold copies of the same files).
fn corpus_folders() -> Vec<PathBuf> {
    let corpus = common::corpus();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "archives"))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn variants_of_real_files_rank_their_originals_in_the_top_five() {
    let payloads: Vec<Vec<u8>> = corpus_folders().iter().flat_map(|d| corpus_payloads(d)).collect();
    assert!(payloads.len() > 1000, "{} corpus files", payloads.len());
    let originals = variants::pick_originals(&payloads, 30);
    assert!(originals.len() >= 20, "only {} usable originals", originals.len());
    let q = variants::measure(&payloads, &originals);
    assert!(
        q.ranks.len() >= 3 * originals.len(),
        "{} variants of {} originals",
        q.ranks.len(),
        originals.len()
    );
    for kind in variants::VARIANT_KINDS {
        assert!(q.ranks.iter().any(|r| r.kind == kind), "no {kind} variant was made");
    }
    eprintln!(
        "{} variants of {} originals among {} files: mean reciprocal rank {:.3}",
        q.ranks.len(),
        originals.len(),
        payloads.len(),
        q.mean_reciprocal_rank
    );
    assert!(q.misses(5).is_empty(), "originals outside the top 5: {:?}", q.misses(5));
    assert!(
        q.mean_reciprocal_rank >= 0.9,
        "mean reciprocal rank {}",
        q.mean_reciprocal_rank
    );

    // Unrelated files of the original's tempo and key never come nearer than the original.
    let metas: Vec<_> = payloads.iter().map(|p| analyze(p).ok()).collect();
    let mut compared = 0;
    for &o in &originals {
        let orig = metas[o].as_ref().unwrap();
        let key =
            |m: &midi_tui::engine::midi::MidiMetadata| m.music.key_signature.clone().or(m.music.detected_key.clone());
        let peers: Vec<&[f32]> = metas
            .iter()
            .flatten()
            .filter(|m| m.notes_fingerprint != orig.notes_fingerprint)
            .filter(|m| m.music.bpm.map(f64::round) == orig.music.bpm.map(f64::round) && key(m) == key(orig))
            .filter_map(|m| m.features.as_deref())
            .collect();
        for (kind, bytes) in variants::variants(&payloads[o]) {
            let Some(v) = bytes.and_then(|b| analyze(&b).ok()) else {
                continue;
            };
            let vf = v.features.as_deref().unwrap();
            let d = similarity::distance(vf, orig.features.as_deref().unwrap());
            for p in &peers {
                compared += 1;
                assert!(
                    similarity::distance(vf, p) > d,
                    "a file of the same tempo and key outranks the original of a {kind} variant of file {o}"
                );
            }
        }
    }
    assert!(
        compared > 0,
        "no file shares an original's tempo and key: nothing was compared"
    );
}

/// Write each variant of `originals` under `dir` as `NAME.KIND.mid`; returns (variant path, original name).
fn write_variants(payloads: &[(PathBuf, Vec<u8>)], originals: &[usize], dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for &o in originals {
        let (path, bytes) = &payloads[o];
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (kind, v) in variants::variants(bytes) {
            let Some(v) = v else { continue };
            let p = dir.join(format!("{name}.{kind}.mid"));
            std::fs::write(&p, v).unwrap();
            out.push((p, name.clone()));
        }
    }
    out
}

fn named_payloads(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for d in dirs {
        for e in walk(d) {
            if midi_tui::engine::source::is_midi_name(&e.to_string_lossy()) {
                out.push((e.clone(), std::fs::read(&e).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn like_finds_variants_through_the_import_and_combines_with_every_term() {
    let db = common::fresh_db().await;
    let folders = corpus_folders();
    let named = named_payloads(&folders);
    let payloads: Vec<Vec<u8>> = named.iter().map(|(_, b)| b.clone()).collect();
    let originals = variants::pick_originals(&payloads, 6);
    let dir = common::temp_dir("like-variants");
    let made = write_variants(&named, &originals, &dir);
    assert!(made.len() >= 18, "{} variants", made.len());
    let mut args: Vec<&str> = folders.iter().map(|p| p.to_str().unwrap()).collect();
    args.push(dir.to_str().unwrap());
    let summary = common::import_json(&db.url, &args);
    assert_eq!(summary["status"], "done", "{summary}");
    let missing = common::scalar(
        &db.pool,
        "SELECT count(*) FROM musical_metadata m JOIN files f ON f.id = m.file_id WHERE m.total_notes > 0 \
         AND f.ticks_per_quarter_note > 0 AND (m.features IS NULL OR m.features_version IS NULL)",
    )
    .await;
    assert_eq!(missing, 0, "files with notes timed in beats without features");
    let with = common::scalar(
        &db.pool,
        "SELECT count(*) FROM musical_metadata WHERE features IS NOT NULL",
    )
    .await;
    assert!(with > 1000, "{with} files have features");

    for (variant, original) in &made {
        let q = Query::parse(&format!("like:\"{}\"", variant.display())).unwrap();
        let page = similar::page(&db.pool, &q, 5, None, true).await.unwrap();
        assert!(
            page.hits.iter().any(|h| h.filename == *original),
            "{}: the original {original} is not in the top 5: {:?}",
            variant.display(),
            page.hits.iter().map(|h| &h.filename).collect::<Vec<_>>()
        );
        assert!(
            page.hits.iter().all(|h| h.path != variant.to_string_lossy()),
            "the file itself is left out"
        );
    }

    // Combined with other terms: every hit holds them; pages continue where the last ended.
    let (variant, _) = &made[0];
    let id: i64 = sqlx::query_scalar("SELECT file_id FROM file_locations WHERE path = $1")
        .bind(variant.to_string_lossy().as_ref())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    type Holds = fn(&search::Hit) -> bool;
    let cases: [(&str, Holds); 4] = [
        ("drums:no", |h| !h.has_drums),
        ("^drums:no", |h| h.has_drums),
        ("bpm:60..200 notes:>100", |h| {
            h.bpm.is_some_and(|b| (59.5..200.5).contains(&b)) && h.total_notes > 100
        }),
        ("name:mid", |h| h.filename.to_lowercase().contains("mid")),
    ];
    for (extra, holds) in cases {
        let q = Query::parse(&format!("like:{id} {extra}")).unwrap();
        let all = similar::page(&db.pool, &q, 20, None, false).await.unwrap();
        let first = similar::page(&db.pool, &q, 8, None, false).await.unwrap();
        let rest = similar::page(&db.pool, &q, 12, first.next.as_ref(), false)
            .await
            .unwrap();
        let joined: Vec<i64> = first.hits.iter().chain(&rest.hits).map(|h| h.id).collect();
        assert_eq!(
            joined,
            all.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
            "`{extra}` paged"
        );
        for h in &all.hits {
            assert!(holds(h), "{} does not match `{extra}`: {h:?}", h.filename);
        }
        assert_eq!(all.hits.len(), 20, "`{extra}` found {} files", all.hits.len());
    }

    // Terms that cannot run say why.
    let e = Query::parse("^like:3").unwrap_err();
    assert!(e.to_string().contains("cannot be negated"), "{e}");
    let e = Query::parse("like:3 like:4").unwrap_err();
    assert_eq!(e.column, 8, "{e}");
    let q = Query::parse("like:987654321").unwrap();
    let e = similar::page(&db.pool, &q, 5, None, false).await.unwrap_err();
    assert!(
        e.to_string().contains("no file in the library is file 987654321"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
