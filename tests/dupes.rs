//! Musical duplicates: re-encoded copies of a real file group with it, a transposed copy only in the
//! transposition-blind group, `dupes` lists byte and musical groups, `search dupes:N` finds them, and on the shared
//! corpus no group holds files whose notes differ (checked with an independent parser).
mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use midi_tui::database::dupes::{self, DupeKind};
use midly::num::{u4, u7, u15, u24, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

const SOURCE: &str = "tonejs-tests/test/midi/bach/bach_846.mid";

/// Every event of `smf` with its absolute tick, end-of-track events left out, in a stable time order.
fn absolute_events<'a>(smf: &Smf<'a>) -> Vec<(u64, TrackEventKind<'a>)> {
    let mut all = Vec::new();
    for track in &smf.tracks {
        let mut t = 0u64;
        for ev in track {
            t += u64::from(ev.delta.as_int());
            if !matches!(ev.kind, TrackEventKind::Meta(MetaMessage::EndOfTrack)) {
                all.push((t, ev.kind));
            }
        }
    }
    all.sort_by_key(|e| e.0);
    all
}

fn to_track(events: Vec<(u64, TrackEventKind<'_>)>) -> Vec<TrackEvent<'_>> {
    let mut out = Vec::new();
    let mut last = 0u64;
    let end = events.last().map_or(0, |e| e.0);
    for (t, kind) in events {
        out.push(TrackEvent {
            delta: u28::new((t - last) as u32),
            kind,
        });
        last = t;
    }
    out.push(TrackEvent {
        delta: u28::new((end - last) as u32),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    out
}

fn write(smf: &Smf<'_>, path: &Path) {
    let mut buf = Vec::new();
    smf.write_std(&mut buf).expect("write MIDI");
    std::fs::write(path, buf).unwrap();
}

/// The same notes re-encoded: format 0, twice the resolution, every track renamed, another tempo, the melody
/// channels moved up by one.
fn re_encode(bytes: &[u8], path: &Path) {
    let smf = Smf::parse(bytes).unwrap();
    let Timing::Metrical(tpq) = smf.header.timing else {
        panic!("metrical timing expected");
    };
    let events: Vec<(u64, TrackEventKind)> = absolute_events(&smf)
        .into_iter()
        .map(|(t, kind)| {
            let kind = match kind {
                TrackEventKind::Meta(MetaMessage::TrackName(_)) => {
                    TrackEventKind::Meta(MetaMessage::TrackName(b"renamed"))
                }
                TrackEventKind::Meta(MetaMessage::Tempo(_)) => {
                    TrackEventKind::Meta(MetaMessage::Tempo(u24::new(700_000)))
                }
                TrackEventKind::Midi { channel, message } if channel.as_int() != 9 => TrackEventKind::Midi {
                    channel: u4::new((channel.as_int() + 1) % 9),
                    message,
                },
                other => other,
            };
            (t * 2, kind)
        })
        .collect();
    let out = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(tpq.as_int() * 2))),
        tracks: vec![to_track(events)],
    };
    write(&out, path);
}

/// The same file with every pitched note `by` semitones higher.
fn transpose(bytes: &[u8], by: u8, path: &Path) {
    let mut smf = Smf::parse(bytes).unwrap();
    for track in &mut smf.tracks {
        for ev in track.iter_mut() {
            if let TrackEventKind::Midi { channel, message } = &mut ev.kind
                && channel.as_int() != 9
            {
                match message {
                    MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                        *key = u7::new(key.as_int() + by);
                    }
                    _ => {}
                }
            }
        }
    }
    write(&smf, path);
}

async fn fingerprints(pool: &sqlx::PgPool, path: &Path) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    sqlx::query_as(
        "SELECT m.notes_fingerprint, m.transposed_fingerprint FROM file_locations l \
         JOIN musical_metadata m ON m.file_id = l.file_id WHERE l.path = $1",
    )
    .bind(path.to_str().unwrap())
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(url: &str, args: &[&str]) -> std::process::Output {
    common::run_on(url, args)
}

/// `dupes --json ...`: each group's kind and its set of locations.
fn dupes_json(url: &str, args: &[&str]) -> Vec<(String, BTreeSet<String>)> {
    let mut all = vec!["dupes", "--json"];
    all.extend_from_slice(args);
    let out = run(url, &all);
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let locations = v["files"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["locations"].as_array().unwrap().iter())
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            (v["kind"].as_str().unwrap().to_string(), locations)
        })
        .collect()
}

/// `dupes` on a library of three contents copied 4, 3 and 2 times: the summary counts them all first, `--limit`
/// keeps the largest groups (20 by default in text, all in JSON), `--limit 0` lists all.
#[tokio::test(flavor = "multi_thread")]
async fn dupes_says_how_many_groups_first_and_lists_the_largest_up_to_the_limit() {
    let db = common::fresh_db().await;
    let lib = common::temp_dir("dupes-limit");
    let corpus = common::corpus().join("tonejs-tests/test/midi");
    let sources = ["bach/bach_846.mid", "joplin/TheEntertainer.mid", "beat.mid"];
    for (copies, source) in [4, 3, 2].into_iter().zip(sources) {
        let bytes = std::fs::read(corpus.join(source)).unwrap_or_else(|e| panic!("{source}: {e}"));
        for i in 0..copies {
            std::fs::write(lib.join(format!("{copies} copies {i}.mid")), &bytes).unwrap();
        }
    }
    let summary = common::import_json(&db.url, &[lib.to_str().unwrap()]);
    assert_eq!(summary["status"], "done", "{summary}");

    let text = |args: &[&str]| {
        let mut all = vec!["dupes"];
        all.extend_from_slice(args);
        let out = run(&db.url, &all);
        assert!(out.status.success(), "{}", common::stderr(&out));
        common::stdout(&out)
    };
    let headings = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("of one content"))
            .map(|l| l.split(" (").next().unwrap().to_string())
            .collect()
    };
    let two = text(&["--limit", "2"]);
    assert!(
        two.starts_with(
            "3 contents at more than one location (9 locations); the largest 2 groups below (--limit N for more, \
             --limit 0 for all)\n"
        ),
        "{two}"
    );
    assert_eq!(
        headings(&two),
        ["4 locations of one content", "3 locations of one content"]
    );
    assert!(!two.contains("2 copies"), "{two}");
    let all = text(&[]);
    assert!(
        all.starts_with("3 contents at more than one location (9 locations)\n"),
        "{all}"
    );
    assert_eq!(headings(&all).len(), 3);
    assert_eq!(headings(&text(&["--limit", "0"])).len(), 3);
    let one = text(&["--limit", "1"]);
    assert!(
        one.lines()
            .next()
            .unwrap()
            .ends_with("; the largest group below (--limit N for more, --limit 0 for all)")
    );
    assert_eq!(headings(&one), ["4 locations of one content"]);
    // JSON lines: every group unless limited, no summary line.
    assert_eq!(dupes_json(&db.url, &[]).len(), 3);
    let largest = dupes_json(&db.url, &["--limit", "1"]);
    assert_eq!(largest.len(), 1);
    assert_eq!(largest[0].1.len(), 4);
    // Copies are one file at several locations: no two files share their notes.
    assert_eq!(
        text(&["--musical", "--limit", "1"]),
        "no two files have the same notes\n"
    );
    let _ = std::fs::remove_dir_all(&lib);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_re_encoded_copy_groups_with_its_original_and_a_transposed_one_only_when_blind_to_it() {
    let db = common::fresh_db().await;
    let lib = common::temp_dir("dupes-lib");
    let original = std::fs::read(common::corpus().join(SOURCE)).unwrap();
    let p = |name: &str| lib.join(name);
    std::fs::write(p("original.mid"), &original).unwrap();
    std::fs::write(p("same bytes.mid"), &original).unwrap();
    re_encode(&original, &p("re-encoded.mid"));
    transpose(&original, 3, &p("transposed.mid"));
    // Something else entirely, and a file without notes.
    std::fs::copy(
        common::corpus().join("tonejs-tests/test/midi/joplin/TheEntertainer.mid"),
        p("other.mid"),
    )
    .unwrap();
    for (name, title) in [("silence.mid", &b"silence"[..]), ("silence 2.mid", b"more silence")] {
        let empty = Smf {
            header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(96))),
            tracks: vec![to_track(vec![(0, TrackEventKind::Meta(MetaMessage::TrackName(title)))])],
        };
        write(&empty, &p(name));
    }
    let summary = common::import_json(&db.url, &[lib.to_str().unwrap()]);
    assert_eq!(summary["status"], "done", "{summary}");

    let (orig_exact, orig_t) = fingerprints(&db.pool, &p("original.mid")).await;
    let (re_exact, re_t) = fingerprints(&db.pool, &p("re-encoded.mid")).await;
    let (tr_exact, tr_t) = fingerprints(&db.pool, &p("transposed.mid")).await;
    let (other_exact, other_t) = fingerprints(&db.pool, &p("other.mid")).await;
    assert!(orig_exact.is_some() && orig_t.is_some());
    assert_eq!(
        re_exact, orig_exact,
        "format 0, 960 ticks, renamed, other tempo and channels: same notes"
    );
    assert_eq!(re_t, orig_t);
    assert_ne!(tr_exact, orig_exact, "transposed: other notes");
    assert_eq!(tr_t, orig_t, "transposed: the same up to transposition");
    assert_ne!(other_exact, orig_exact);
    assert_ne!(other_t, orig_t);
    assert_eq!(
        fingerprints(&db.pool, &p("silence.mid")).await,
        (None, None),
        "no notes, no fingerprint"
    );

    let loc = |name: &str| p(name).to_str().unwrap().to_string();
    // Byte-identical: one content at two locations.
    let bytes = dupes_json(&db.url, &[]);
    assert_eq!(
        bytes,
        vec![(
            "bytes".to_string(),
            BTreeSet::from([loc("original.mid"), loc("same bytes.mid")])
        )]
    );
    // Musical: the original (both locations) and the re-encoded copy; the silent files never group.
    let musical = dupes_json(&db.url, &["--musical"]);
    assert_eq!(
        musical,
        vec![(
            "musical".to_string(),
            BTreeSet::from([loc("original.mid"), loc("same bytes.mid"), loc("re-encoded.mid")])
        )]
    );
    let transposed = dupes_json(&db.url, &["--transposed"]);
    assert_eq!(transposed.len(), 1, "{transposed:?}");
    assert!(transposed[0].1.contains(&loc("transposed.mid")));
    assert_eq!(transposed[0].1.len(), 4);
    // The text listing says the same in words.
    let text = common::stdout(&run(&db.url, &["dupes", "--musical"]));
    assert!(text.contains("2 files with the same notes"), "{text}");
    assert!(
        text.starts_with("1 group of files with the same notes (2 files)\n"),
        "the summary first, its noun agreeing with its count: {text}"
    );

    // search dupes:2 finds the two files of the group, dupes:3 none, ^dupes:2 the rest.
    let search = |q: &str| {
        let out = run(&db.url, &["search", "--paths", q]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        common::stdout(&out).lines().map(String::from).collect::<BTreeSet<_>>()
    };
    assert_eq!(
        search("dupes:2"),
        BTreeSet::from([loc("original.mid"), loc("same bytes.mid"), loc("re-encoded.mid")])
    );
    assert!(search("dupes:3").is_empty());
    let rest = search("^dupes:2");
    assert!(
        rest.contains(&loc("transposed.mid")) && rest.contains(&loc("silence.mid")),
        "{rest:?}"
    );
    assert_eq!(rest.len(), 4, "{rest:?}");

    // The engine call the browser's detail pane uses.
    let hash = blake3::hash(&original);
    let groups = dupes::groups_of(&db.pool, hash.as_bytes(), 10).await.unwrap();
    let kinds: Vec<DupeKind> = groups.iter().map(|g| g.kind).collect();
    assert_eq!(kinds, [DupeKind::Bytes, DupeKind::Musical, DupeKind::Transposed]);
    assert_eq!(groups[0].locations(), 2);
    assert_eq!((groups[1].total_files, groups[2].total_files), (2, 3));
    let capped = dupes::groups_of(&db.pool, hash.as_bytes(), 1).await.unwrap();
    assert_eq!((capped[2].files.len(), capped[2].total_files), (1, 3));
    let other = blake3::hash(&std::fs::read(p("other.mid")).unwrap());
    assert!(
        dupes::groups_of(&db.pool, other.as_bytes(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(dupes::groups_of(&db.pool, &[0u8; 32], 10).await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&lib);
}

/// A file's notes as an independent parser (midly) reads them: (onset in quarter notes, class), sorted; the class
/// is the pitch, or 128 + the note number on the drum channel.
fn notes_of(bytes: &[u8]) -> Option<Vec<(f64, u16)>> {
    let smf = Smf::parse(bytes).ok()?;
    let Timing::Metrical(tpq) = smf.header.timing else {
        return None;
    };
    let tpq = f64::from(tpq.as_int());
    let mut notes = Vec::new();
    for track in &smf.tracks {
        let mut t = 0u64;
        for ev in track {
            t += u64::from(ev.delta.as_int());
            if let TrackEventKind::Midi {
                channel,
                message: MidiMessage::NoteOn { key, vel },
            } = ev.kind
                && vel.as_int() > 0
            {
                let drum = if channel.as_int() == 9 { 128 } else { 0 };
                notes.push((t as f64 / tpq, u16::from(key.as_int()) + drum));
            }
        }
    }
    notes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Some(notes)
}

/// The pitched classes relative to the lowest one (drums as they are).
fn relative(notes: &[(f64, u16)]) -> Vec<(f64, u16)> {
    let low = notes.iter().filter(|n| n.1 < 128).map(|n| n.1).min().unwrap_or(0);
    let mut out: Vec<(f64, u16)> = notes
        .iter()
        .map(|&(t, c)| (t, if c < 128 { c - low } else { c }))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    out
}

/// Same notes, onsets within the half grid step rounding allows.
fn same_notes(a: &[(f64, u16)], b: &[(f64, u16)]) -> bool {
    let tolerance = 1.0 / 48.0 + 1e-9;
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.1 == y.1 && (x.0 - y.0).abs() <= tolerance)
}

#[tokio::test(flavor = "multi_thread")]
async fn on_the_shared_corpus_no_group_holds_different_notes() {
    let db = common::fresh_db().await;
    let corpus = common::corpus();
    let summary = common::import_json(&db.url, &[corpus.to_str().unwrap()]);
    assert_eq!(summary["status"], "done", "{summary}");
    let with_fp = common::scalar(
        &db.pool,
        "SELECT count(*) FROM musical_metadata WHERE notes_fingerprint IS NOT NULL",
    )
    .await;
    assert!(with_fp > 1000, "{with_fp} files have a fingerprint");
    let without_notes_with_fp = common::scalar(
        &db.pool,
        "SELECT count(*) FROM musical_metadata WHERE (total_notes = 0) <> (notes_fingerprint IS NULL)",
    )
    .await;
    assert_eq!(
        without_notes_with_fp, 0,
        "exactly the files without notes have no fingerprint"
    );

    // One readable plain-file location per content.
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT file_id, min(path) FROM file_locations WHERE path NOT LIKE '%!/%' GROUP BY file_id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let paths: HashMap<i64, PathBuf> = rows.into_iter().map(|(id, p)| (id, PathBuf::from(p))).collect();
    let mut checked = [0usize; 2];
    for (i, kind) in [DupeKind::Musical, DupeKind::Transposed].into_iter().enumerate() {
        let mut groups = Vec::new();
        dupes::for_each_group(&db.pool, kind, |g| {
            groups.push(g);
            true
        })
        .await
        .unwrap();
        for g in groups {
            let notes: Vec<(String, Vec<(f64, u16)>)> = g
                .files
                .iter()
                .filter_map(|f| {
                    let bytes = std::fs::read(paths.get(&f.id)?).ok()?;
                    let n = notes_of(&bytes)?;
                    Some((f.path.clone(), if kind == DupeKind::Musical { n } else { relative(&n) }))
                })
                .collect();
            for pair in notes.windows(2) {
                assert!(
                    same_notes(&pair[0].1, &pair[1].1),
                    "{kind:?} group {} holds different notes: {} and {}",
                    g.key,
                    pair[0].0,
                    pair[1].0
                );
                checked[i] += 1;
            }
        }
    }
    eprintln!("pairs checked: {} musical, {} transposed", checked[0], checked[1]);
    // The corpus holds one real re-encoding (a 13-track score at 256 ticks and its single-track 960-tick copy).
    let pair = common::scalar(
        &db.pool,
        "SELECT count(DISTINCT m.notes_fingerprint) FROM file_locations l JOIN musical_metadata m ON m.file_id = \
         l.file_id WHERE l.path LIKE '%/beethoven/symphony_7_2%.mid'",
    )
    .await;
    assert_eq!(
        pair, 1,
        "symphony_7_2.mid and symphony_7_2_singletrack.mid have the same notes"
    );
    assert!(checked[0] > 0, "some musical group was checked");
}
