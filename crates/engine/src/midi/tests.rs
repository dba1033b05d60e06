//! Known-answer tests on real fixture files and hand-built byte streams, plus a no-panic fuzz.
//!
//! Expected values for the fixtures come from mido 1.3.3 (`reference.jsonl` and the same
//! library run by hand, with invalid key signatures neutralised where mido would refuse the
//! file) or from reading the bytes; they are not produced by this module.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../tests/fixtures/midi/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn ok(name: &str) -> MidiMetadata {
    analyze(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[track_caller]
fn assert_close(a: Option<f64>, b: f64, tol: f64) {
    let a = a.unwrap_or(f64::NAN);
    assert!(close(a, b, tol), "{a} != {b} (±{tol})");
}

// ---- real files -----------------------------------------------------------------------------

#[test]
fn groove_format0_drums() {
    let m = ok("76_jazz-mediumfast_180_beat_4-4.mid");
    assert_eq!((m.format, m.num_tracks, m.ticks_per_quarter_note), (0, 1, Some(480)));
    assert_eq!(m.duration_ticks, 25919);
    assert!(close(m.duration_seconds, 17.99928755625, 1e-9));
    assert_close(m.music.bpm, 180.00018000018, 1e-9);
    assert_close(m.music.avg_bpm, 180.00018000018, 1e-6);
    assert_eq!(m.music.tempo_changes, 1);
    assert_eq!(
        (m.music.time_signature_numerator, m.music.time_signature_denominator),
        (Some(4), Some(4))
    );
    assert_eq!(m.music.key_signature.as_deref(), Some("C"));
    assert_eq!(m.music.total_notes, 75);
    assert_eq!(m.music.unique_pitches, 8);
    assert_eq!((m.music.pitch_range_min, m.music.pitch_range_max), (Some(36), Some(59)));
    assert_close(m.music.avg_velocity, 60.986666666666665, 1e-9);
    assert_eq!(m.music.polyphony_max, 3);
    assert!(close(m.music.note_density, 75.0 / 17.99928755625, 1e-9));
    assert_eq!(m.music.channels, vec![9]);
    assert_eq!(m.music.programs, vec![0]);
    assert!(m.music.has_drums);
    // Drums only: no pitched material to find a key in.
    assert_eq!((m.music.detected_key, m.music.key_confidence), (None, None));
    assert!(m.track_names.is_empty() && m.copyright.is_none());
    assert!(!m.music.is_karaoke && m.music.lyrics_count == 0);
    assert_eq!((m.warnings, m.first_warning), (0, None));
}

#[test]
fn format1_with_tempo_changes() {
    let m = ok("RiverFlowsInYou.mid");
    assert_eq!((m.format, m.num_tracks, m.ticks_per_quarter_note), (1, 2, Some(256)));
    assert_eq!(m.duration_ticks, 44801);
    assert!(close(m.duration_seconds, 164.773945, 1e-5));
    assert_eq!(m.music.tempo_changes, 14);
    assert_close(m.music.bpm, 65.000135, 1e-5);
    assert_close(m.music.avg_bpm, 63.72508953947157, 1e-6);
    assert_eq!(m.music.key_signature.as_deref(), Some("A"));
    assert_eq!(m.music.detected_key.as_deref(), Some("A"));
    assert_close(m.music.key_confidence, 0.9729312047640939, 1e-9);
    assert_eq!(m.music.total_notes, 800);
    assert_eq!(
        (m.music.unique_pitches, m.music.pitch_range_min, m.music.pitch_range_max),
        (28, Some(40), Some(88))
    );
    assert_close(m.music.avg_velocity, 77.55875, 1e-9);
    assert_eq!(m.music.polyphony_max, 4);
    assert_eq!(m.track_names, vec!["Piano".to_owned()]);
    assert_eq!(
        (m.music.channels.clone(), m.music.programs.clone(), m.music.has_drums),
        (vec![0], vec![0], false)
    );
    assert_eq!(m.warnings, 0);

    let m = ok("childrens_corner_2.mid");
    assert_eq!((m.format, m.num_tracks, m.ticks_per_quarter_note), (1, 17, Some(480)));
    assert_eq!((m.music.tempo_changes, m.duration_ticks), (287, 153840));
    assert_close(m.music.bpm, 92.6300448638184, 1e-9);
    assert!(close(m.duration_seconds, 188.834727, 1e-5));
    assert_close(m.music.avg_bpm, 101.8350825272829, 1e-6);
    assert_eq!(
        (m.music.time_signature_numerator, m.music.time_signature_denominator),
        (Some(2), Some(2))
    );
    assert_eq!(m.music.key_signature.as_deref(), Some("Bb"));
    assert_eq!(m.music.detected_key.as_deref(), Some("Gm"));
    assert_close(m.music.key_confidence, 0.7185655680448039, 1e-9);
    assert_eq!(m.music.total_notes, 710);
    assert_eq!(
        (m.music.unique_pitches, m.music.pitch_range_min, m.music.pitch_range_max),
        (51, Some(22), Some(83))
    );
    assert_eq!(m.music.polyphony_max, 6);
    // Latin-1 © in both the copyright and a track name.
    assert_eq!(m.copyright.as_deref(), Some("Copyright © 2011 by Bernd Krueger"));
    assert_eq!(m.track_names.len(), 17);
    assert_eq!(m.track_names[0], "Debussy: Childrens Corner 2");
    assert_eq!(m.track_names[5], "Copyright © 2010 by Bernd Krueger");
    assert_eq!(m.warnings, 0);
}

#[test]
fn format2_uses_its_own_track_tempo() {
    let m = ok("gromas.mid");
    assert_eq!((m.format, m.num_tracks, m.ticks_per_quarter_note), (2, 1, Some(480)));
    assert_eq!(m.duration_ticks, 10540);
    // mido refuses format 2 lengths; the single sequence's own tempo map gives this.
    assert!(close(m.duration_seconds, 12.19906187499998, 1e-6));
    assert_close(m.music.bpm, 108.000108000108, 1e-9);
    assert_eq!(m.music.total_notes, 80);
    assert_eq!(m.music.polyphony_max, 13);
    assert_eq!(m.music.channels, vec![2, 3, 4, 5, 6, 10, 11, 14, 15]);
    assert_eq!(
        m.music.programs,
        vec![0, 11, 45, 46, 47, 48, 52, 56, 57, 60, 63, 71, 73, 88]
    );
    assert_eq!(m.track_names, vec!["A".to_owned()]);
}

#[test]
fn riff_rmid_is_unwrapped() {
    let raw = fixture("Feuerradder.mid");
    assert!(raw.starts_with(b"RIFF"));
    let inner = unwrap_rmid(&raw).expect("RMID data chunk");
    assert!(inner.starts_with(b"MThd"));
    assert_eq!(unwrap_rmid(inner), None);
    let m = ok("Feuerradder.mid");
    assert_eq!((m.format, m.num_tracks, m.ticks_per_quarter_note), (1, 9, Some(192)));
    assert_eq!((m.music.total_notes, m.duration_ticks), (6348, 126336));
    assert!(close(m.duration_seconds, 292.444152, 1e-5));
    assert_close(m.music.bpm, 135.000135000135, 1e-9);
    assert_eq!(m.music.channels, vec![0, 9, 10, 11, 12, 14, 15]);
    assert_eq!(m.music.programs, vec![30, 48, 100, 120]);
    assert_eq!(m.copyright.as_deref(), Some("Copyright © <Year> by <Name>"));
    assert_eq!(m.track_names.first().map(String::as_str), Some("Feuerradder"));
    assert_eq!(m.music.polyphony_max, 8);
    assert_eq!(m.warnings, 0);
}

#[test]
fn karaoke_without_end_of_track() {
    let m = ok("bette_davis_eyes.mid");
    assert!(m.music.is_karaoke, "@KMIDI text event");
    // 279 syllable text events in the Words track (no lyrics meta events in this file).
    assert_eq!(m.music.lyrics_count, 279);
    assert_eq!((m.num_tracks, m.music.total_notes, m.duration_ticks), (12, 4160, 46807));
    assert!(close(m.duration_seconds, 254.385806, 1e-5));
    assert_eq!(m.music.key_signature.as_deref(), Some("F"));
    assert_eq!(m.music.detected_key.as_deref(), Some("F"));
    assert_eq!((m.music.pitch_range_min, m.music.pitch_range_max), (Some(0), Some(89)));
    assert_eq!(m.music.polyphony_max, 173);
    assert_eq!(&m.track_names[..2], &["Soft Karaoke".to_owned(), "Words".to_owned()]);
    assert_eq!(m.first_warning, Some(MidiErrorKind::MissingEndOfTrack));
    assert_eq!(m.warnings, 1);
}

#[test]
fn lyrics_and_latin1_copyright() {
    let m = ok("kahless.mid");
    assert_eq!(m.copyright.as_deref(), Some("Copyright © 1997 by Viacom/Paramount"));
    assert_eq!((m.music.lyrics_count, m.music.is_karaoke), (64, true));
    assert_eq!(m.track_names[0], "bomwI' wa'");
    assert_eq!(m.music.key_signature.as_deref(), Some("Ab"));
    assert_eq!(m.music.detected_key.as_deref(), Some("Fm"));
    assert_close(m.music.key_confidence, 0.8637069158531244, 1e-9);
    assert_eq!((m.num_tracks, m.music.total_notes), (6, 242));
    assert!(close(m.duration_seconds, 33.424967, 1e-5));
    // 84 bytes of stale drum data after the sixth track.
    assert_eq!(m.first_warning, Some(MidiErrorKind::StrayBytes));
}

#[test]
fn invalid_key_signature_is_skipped() {
    // The first key signature is sf=-1 with mode 50 (mido refuses the whole file); the later
    // valid C major is taken.
    let m = ok("locket3.mid");
    assert_eq!(m.music.key_signature.as_deref(), Some("C"));
    assert_eq!(m.first_warning, Some(MidiErrorKind::BadKeySignature));
    assert_eq!((m.num_tracks, m.music.total_notes, m.duration_ticks), (17, 77, 11712));
    assert!(close(m.duration_seconds, 21.180542, 1e-5));
    assert_eq!(m.music.programs, vec![10]);
    assert_close(m.music.bpm, 86.40005529603539, 1e-9);
}

#[test]
fn broken_running_status_keeps_other_tracks() {
    // Track 6 (percussion) loses its program-change status byte to a mangled text length
    // and is unreadable from its second event; tracks 3 and 4 are declared one byte short
    // (their end-of-track is cut). Expected counts are mido's, track by track.
    let m = ok("addams.mid");
    assert_eq!((m.num_tracks, m.music.total_notes), (7, 434));
    assert_eq!(m.music.channels, vec![0, 2, 9]);
    assert_eq!(m.music.programs, vec![6, 34]);
    assert_eq!((m.music.pitch_range_min, m.music.pitch_range_max), (Some(28), Some(74)));
    // Track 1's end-of-track delta is a mangled 0x3FFFF, as mido reads it too.
    assert_eq!(m.duration_ticks, 262_143);
    assert!(m.warnings >= 4);
}

#[test]
fn early_end_of_track_is_read_on() {
    let m = ok("arlanda_early_eot.mid");
    assert_eq!(m.first_warning, Some(MidiErrorKind::EarlyEndOfTrack));
    assert_eq!((m.music.total_notes, m.duration_ticks), (350, 15411));
    assert!(close(m.duration_seconds, 80.265625, 1e-9));
    assert_eq!((m.music.bpm, m.music.avg_bpm), (None, None));
    assert_eq!(m.music.programs, vec![0, 33, 34]);
    assert_eq!(m.music.detected_key.as_deref(), Some("Gm"));
}

#[test]
fn data_bytes_above_127_are_clipped() {
    let m = ok("statrek.mid");
    assert_eq!(m.first_warning, Some(MidiErrorKind::BadData));
    assert_eq!(m.warnings, 6);
    assert_eq!(m.music.total_notes, 8);
    assert_eq!((m.music.pitch_range_min, m.music.pitch_range_max), (Some(65), Some(77)));
    assert_close(m.music.avg_velocity, 123.25, 1e-9);
    assert!(close(m.duration_seconds, 4.8809475, 1e-9));
}

#[test]
fn unknown_format_and_padding() {
    let m = ok("possible.mid");
    assert_eq!(m.format, 28673);
    assert_eq!(m.first_warning, Some(MidiErrorKind::BadHeader));
    assert_eq!((m.num_tracks, m.music.total_notes), (9, 444));
    assert!(close(m.duration_seconds, 108.084375, 1e-6), "read like format 1");
    assert_eq!(m.warnings, 2, "bad header + 0x1A (XMODEM) padding");
}

#[test]
fn not_a_midi_file() {
    let e = analyze(&fixture("namusic.mid")).expect_err("a URL in a text file");
    assert_eq!(e.kind, MidiErrorKind::NoHeader);
}

// ---- hand-built files -----------------------------------------------------------------------

fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn header(format: u16, ntracks: u16, division: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&format.to_be_bytes());
    b.extend_from_slice(&ntracks.to_be_bytes());
    b.extend_from_slice(&division.to_be_bytes());
    chunk(b"MThd", &b)
}

fn smf(format: u16, division: u16, tracks: &[&[u8]]) -> Vec<u8> {
    let mut v = header(format, tracks.len() as u16, division);
    for t in tracks {
        v.extend(chunk(b"MTrk", t));
    }
    v
}

const EOT: [u8; 4] = [0x00, 0xFF, 0x2F, 0x00];

fn track(events: &[u8]) -> Vec<u8> {
    let mut v = events.to_vec();
    v.extend_from_slice(&EOT);
    v
}

#[test]
fn tempo_map_merges_tracks() {
    // Track 0: notes over 4 quarter notes (tpq 100). Track 1: tempo 1 s/qn at tick 200.
    let t0 = track(&[
        0x00, 0x90, 60, 100, //
        0x81, 0x48, 0x80, 60, 0, // +200
        0x00, 0x90, 64, 100, //
        0x81, 0x48, 0x80, 64, 0, // +200 -> tick 400
    ]);
    let t1 = track(&[0x81, 0x48, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40]); // tick 200: 1_000_000 µs
    let m = analyze(&smf(1, 100, &[&t0, &t1])).expect("parse");
    assert_eq!(m.duration_ticks, 400);
    // 2 quarters at 0.5 s + 2 quarters at 1 s.
    assert!(close(m.duration_seconds, 3.0, 1e-12));
    assert_close(m.music.bpm, 60.0, 1e-12);
    // 4 quarters in 3 s = 80 quarters per minute.
    assert_close(m.music.avg_bpm, 80.0, 1e-9);
    assert_eq!(
        (m.music.total_notes, m.music.polyphony_max, m.music.tempo_changes),
        (2, 1, 1)
    );
}

#[test]
fn format2_takes_the_longest_sequence() {
    // Sequence 0: 100 ticks at 1 s/qn = 1 s. Sequence 1: 300 ticks at default 0.5 s = 1.5 s.
    let t0 = track(&[0x00, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40, 0x64, 0xFF, 0x01, 0x00]);
    let t1 = track(&[0x82, 0x2C, 0xFF, 0x01, 0x00]);
    let m = analyze(&smf(2, 100, &[&t0, &t1])).expect("parse");
    assert_eq!(m.duration_ticks, 300);
    assert!(close(m.duration_seconds, 1.5, 1e-12));
    // Same tracks as format 1: the tempo applies to both, 300 ticks at 1 s/qn.
    let m = analyze(&smf(1, 100, &[&t0, &t1])).expect("parse");
    assert!(close(m.duration_seconds, 3.0, 1e-12));
}

#[test]
fn smpte_timing_counts_frames() {
    // -25 fps, 40 ticks per frame = 1000 ticks per second; tempo events do not matter.
    let t = track(&[0x00, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40, 0x93, 0x44, 0xFF, 0x01, 0x00]); // +2500
    let m = analyze(&smf(0, 0xE728, &[&t])).expect("parse");
    assert_eq!(m.ticks_per_quarter_note, None);
    assert_eq!(m.duration_ticks, 2500);
    assert!(close(m.duration_seconds, 2.5, 1e-12));
    assert_close(m.music.bpm, 60.0, 1e-12);
    assert_eq!(m.music.avg_bpm, None);
    // 29.97 drop-frame, 100 ticks per frame.
    let m = analyze(&smf(0, 0xE364, &[&t])).expect("parse");
    assert!(close(m.duration_seconds, 2500.0 / (100.0 * 30000.0 / 1001.0), 1e-12));
    // An impossible frame rate keeps the file but gives no seconds.
    let m = analyze(&smf(0, 0xF028, &[&t])).expect("parse");
    assert_eq!(
        (m.duration_seconds, m.first_warning),
        (0.0, Some(MidiErrorKind::BadHeader))
    );
}

#[test]
fn first_events_are_earliest_then_lowest_track() {
    let t0 = track(&[
        0x10, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20, // tick 16: 500000 -> 120 bpm
        0x00, 0xFF, 0x58, 0x04, 0x03, 0x03, 0x18, 0x08, // tick 16: 3/8
    ]);
    let t1 = track(&[
        0x10, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40, // tick 16: 60 bpm (same tick, later track)
        0x00, 0xFF, 0x59, 0x02, 0xFD, 0x01, // tick 16: -3 sharps minor = Cm
    ]);
    let t2 = track(&[
        0x08, 0xFF, 0x58, 0x04, 0x06, 0x03, 0x18, 0x08, // tick 8: 6/8, earliest
        0x00, 0xFF, 0x59, 0x02, 0x09, 0x00, // invalid (9 sharps): skipped with a warning
    ]);
    let m = analyze(&smf(1, 96, &[&t0, &t1, &t2])).expect("parse");
    assert_close(m.music.bpm, 120.0, 1e-12);
    assert_eq!(m.music.tempo_changes, 2);
    assert_eq!(
        (m.music.time_signature_numerator, m.music.time_signature_denominator),
        (Some(6), Some(8))
    );
    assert_eq!(m.music.key_signature.as_deref(), Some("Cm"));
    assert_eq!(m.first_warning, Some(MidiErrorKind::BadKeySignature));
    // At tick 16 both tempos apply in merged order: the later track's 60 bpm wins onward.
    assert_eq!(m.duration_ticks, 16);
}

#[test]
fn notes_left_sounding_end_with_their_track() {
    // Channel 1, C4 C5 E4 G4 never released: they last until the track's end (tick 960)
    // and weigh C twice, E and G once: C major. Drums on channel 10 are ignored for keys.
    let t = track(&[
        0x00, 0x91, 60, 90, 0x00, 0x91, 72, 90, 0x00, 0x91, 64, 90, 0x00, 0x91, 67, 90, //
        0x00, 0x99, 37, 90, 0x00, 0x99, 39, 90, 0x00, 0x99, 42, 90, //
        0x87, 0x40, 0xFF, 0x01, 0x00, // tick 960
    ]);
    let m = analyze(&smf(0, 480, &[&t])).expect("parse");
    assert_eq!(m.music.detected_key.as_deref(), Some("C"));
    assert_close(m.music.key_confidence, 0.8823097552238484, 1e-9);
    assert_eq!((m.music.polyphony_max, m.duration_ticks), (7, 960));
    assert_eq!(m.music.channels, vec![1, 9]);
    // Polyphony is counted over the merged tracks: a second track's note at tick 0 sounds
    // together with the seven.
    let t2 = track(&[0x00, 0x92, 50, 90, 0x10, 0x82, 50, 0]);
    let m = analyze(&smf(1, 480, &[&t, &t2])).expect("parse");
    assert_eq!(m.music.polyphony_max, 8);
}

#[test]
fn running_status_survives_meta_events() {
    let t = track(&[
        0x00, 0x90, 60, 100, // note on, sets running status
        0x00, 0xFF, 0x01, 0x01, b'x', // meta in between
        0x00, 62, 100, // running status note on
        0x60, 60, 0, // note off by velocity 0
        0x00, 62, 0, //
    ]);
    let m = analyze(&smf(0, 96, &[&t])).expect("parse");
    assert_eq!((m.music.total_notes, m.music.polyphony_max, m.warnings), (2, 2, 0));
}

#[test]
fn running_status_without_status_is_a_track_error() {
    let bad = track(&[0x00, 60, 100]);
    let e = analyze(&smf(0, 96, &[&bad])).expect_err("nothing readable");
    assert_eq!(e.kind, MidiErrorKind::BadRunningStatus);
    // With another good track the file is read, with a warning.
    let good = track(&[0x00, 0x90, 60, 100, 0x10, 0x80, 60, 0]);
    let m = analyze(&smf(1, 96, &[&good, &bad])).expect("parse");
    assert_eq!((m.music.total_notes, m.num_tracks), (1, 2));
    assert_eq!(m.first_warning, Some(MidiErrorKind::BadRunningStatus));
}

#[test]
fn structural_leniency() {
    let t = track(&[0x00, 0xC0, 5, 0x00, 0x99, 36, 90, 0x30, 0x89, 36, 0]);
    let plain = smf(0, 96, &[&t]);
    let base = analyze(&plain).expect("parse");
    assert_eq!(
        (base.music.programs.clone(), base.music.has_drums, base.warnings),
        (vec![5], true, 0)
    );

    // An alien chunk before the track is skipped.
    let mut v = header(0, 1, 96);
    v.extend(chunk(b"XFIH", b"some vendor data"));
    v.extend(chunk(b"MTrk", &t));
    let m = analyze(&v).expect("parse");
    assert_eq!(
        (m.music.total_notes, m.first_warning),
        (1, Some(MidiErrorKind::UnknownChunk))
    );

    // Junk after the last track.
    let mut v = plain.clone();
    v.extend_from_slice(b"\x13\x37junkjunkjunk");
    let m = analyze(&v).expect("parse");
    assert_eq!(
        (m.music.total_notes, m.first_warning),
        (1, Some(MidiErrorKind::StrayBytes))
    );

    // Zero padding after the last track is not worth a warning.
    let mut v = plain.clone();
    v.extend_from_slice(&[0; 100]);
    assert_eq!(analyze(&v).expect("parse").warnings, 0);

    // Track length beyond the end of the file, track cut inside an event.
    let cut = &plain[..plain.len() - 5];
    let m = analyze(cut).expect("parse");
    assert_eq!(
        (m.music.total_notes, m.first_warning),
        (1, Some(MidiErrorKind::Truncated))
    );

    // Missing end-of-track.
    let m = analyze(&smf(0, 96, &[&t[..t.len() - 4]])).expect("parse");
    assert_eq!(
        (m.music.total_notes, m.first_warning),
        (1, Some(MidiErrorKind::MissingEndOfTrack))
    );

    // Declared track length too long, next track right after the end-of-track.
    let mut v = header(1, 2, 96);
    let mut c1 = chunk(b"MTrk", &t);
    c1[7] += 10;
    v.extend(c1);
    v.extend(chunk(b"MTrk", &t));
    let m = analyze(&v).expect("parse");
    assert_eq!((m.num_tracks, m.music.total_notes), (2, 2));

    // Track count in the header disagrees with the chunks.
    let mut v = header(1, 3, 96);
    v.extend(chunk(b"MTrk", &t));
    let m = analyze(&v).expect("parse");
    assert_eq!((m.num_tracks, m.first_warning), (1, Some(MidiErrorKind::TrackCount)));

    // MacBinary: 128 bytes of Mac file header in front.
    let mut v = vec![0u8; 128];
    v[1] = 5;
    v[2..7].copy_from_slice(b"song1");
    v.extend_from_slice(&plain);
    let m = analyze(&v).expect("parse");
    assert_eq!(
        (m.music.total_notes, m.first_warning),
        (1, Some(MidiErrorKind::StrayBytes))
    );

    // Zero tempo and a short time signature are ignored with warnings.
    let t2 = track(&[0x00, 0xFF, 0x51, 0x03, 0, 0, 0, 0x00, 0xFF, 0x58, 0x01, 0x04]);
    let m = analyze(&smf(0, 96, &[&t2])).expect("parse");
    assert_eq!(
        (m.music.bpm, m.music.tempo_changes, m.music.time_signature_numerator),
        (None, 0, None)
    );
    assert_eq!((m.warnings, m.first_warning), (2, Some(MidiErrorKind::BadMeta)));
}

#[test]
fn header_errors() {
    let kind = |d: &[u8]| analyze(d).map(|_| ()).map_err(|e| e.kind);
    assert_eq!(kind(b""), Err(MidiErrorKind::NoHeader));
    assert_eq!(kind(b"MTh"), Err(MidiErrorKind::Truncated));
    assert_eq!(kind(b"MThd\0\0\0\x06\0\x01"), Err(MidiErrorKind::Truncated));
    assert_eq!(kind(b"RIFF\x04\0\0\0RMID"), Err(MidiErrorKind::NoHeader));
    assert_eq!(kind(b"<html><body>404</body></html>"), Err(MidiErrorKind::NoHeader));
    // Header declaring one track, then nothing.
    assert_eq!(kind(&header(0, 1, 96)), Err(MidiErrorKind::Truncated));
    // Header then junk without any track chunk.
    let mut v = header(1, 2, 96);
    v.extend_from_slice(&[0x55; 40]);
    assert_eq!(kind(&v), Err(MidiErrorKind::NoTracks));
    // Only an alien chunk.
    let mut v = header(0, 1, 96);
    v.extend(chunk(b"MXrk", &track(&[])));
    assert_eq!(kind(&v), Err(MidiErrorKind::UnknownChunk));
    // A header that declares no tracks and has none is an empty but valid file.
    let m = analyze(&header(1, 0, 480)).expect("empty file");
    assert_eq!((m.num_tracks, m.music.total_notes, m.duration_seconds), (0, 0, 0.0));
}

#[test]
fn text_is_decoded_and_nul_free() {
    let t = track(&[
        0x00, 0xFF, 0x03, 0x08, b'P', b'i', b'a', b'n', b'o', 0, 0, 0, //
        0x00, 0xFF, 0x02, 0x05, b'\xa9', b' ', b'D', b'\xfc', 0, //
        0x00, 0xFF, 0x03, 0x03, b'2', b'n', b'd', // second name in the same track: ignored
        0x00, 0xFF, 0x05, 0x02, b'l', b'a', //
    ]);
    let m = analyze(&smf(0, 96, &[&t])).expect("parse");
    assert_eq!(m.track_names, vec!["Piano".to_owned()]);
    assert_eq!(m.copyright.as_deref(), Some("© Dü"));
    assert_eq!((m.music.lyrics_count, m.music.is_karaoke), (1, true));
}

#[test]
fn rmid_wrapping() {
    let t = track(&[0x00, 0x90, 60, 100]);
    let inner = smf(0, 96, &[&t]);
    let mut v = b"RIFF\0\0\0\0RMID".to_vec();
    v.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // odd length, padded
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    v.extend_from_slice(&inner);
    assert_eq!(unwrap_rmid(&v), Some(&inner[..]));
    assert_eq!(analyze(&v).expect("parse").music.total_notes, 1);
    // A data chunk longer than the file is cut at the end.
    let cut = &v[..v.len() - 2];
    assert_eq!(unwrap_rmid(cut).map(<[u8]>::len), Some(inner.len() - 2));
    assert_eq!(unwrap_rmid(b"RIFF"), None);
    assert_eq!(unwrap_rmid(&inner), None);
}

// ---- robustness -----------------------------------------------------------------------------

/// xorshift64*: deterministic, dependency-free randomness for the fuzz loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn never_panics_on_cut_or_mutated_files() {
    let names = [
        "76_jazz-mediumfast_180_beat_4-4.mid",
        "RiverFlowsInYou.mid",
        "childrens_corner_2.mid",
        "gromas.mid",
        "kahless.mid",
        "addams.mid",
        "arlanda_early_eot.mid",
        "Feuerradder.mid",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0u32;
    for name in names {
        let data = fixture(name);
        // Every prefix of the first 600 bytes, then sparse prefixes of the rest.
        let step = (data.len() / 300).max(1);
        for cut in (0..data.len().min(600)).chain((600..data.len()).step_by(step)) {
            let _ = analyze(&data[..cut]);
            let _ = analyze(&data[cut..]);
            runs += 2;
        }
        // Random byte flips, insertions and deletions.
        for _ in 0..400 {
            let mut d = data.clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(d.len());
                match rng.below(4) {
                    0 => d[i] = rng.next() as u8,
                    1 => d[i] ^= 0x80,
                    2 => d.insert(i, rng.next() as u8),
                    _ => {
                        d.remove(i);
                    }
                }
            }
            let _ = analyze(&d);
            runs += 1;
        }
    }
    // Pure noise, with and without a header in front.
    for _ in 0..2000 {
        let len = rng.below(400);
        let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 {
            let mut h = header(rng.below(3) as u16, rng.below(4) as u16, rng.next() as u16);
            h.extend_from_slice(b"MTrk");
            h.extend_from_slice(&(rng.below(600) as u32).to_be_bytes());
            h.extend(d);
            d = h;
        }
        let _ = analyze(&d);
        runs += 1;
    }
    assert!(runs > 10_000, "{runs} runs");
}

#[test]
fn metadata_serializes_with_codes() {
    let m = ok("statrek.mid");
    let json = serde_json::to_value(&m).expect("serialize");
    assert_eq!(json["first_warning"], "bad_data");
    assert_eq!(json["total_notes"], 8);
}
