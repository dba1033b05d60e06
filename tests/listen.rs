//! Listening without speakers: files of the shared corpus rendered and the audio checked against their notes
//! (length, silence where no note sounds, energy rising at onsets, drums audible), `render` end to end, and
//! playback through the silent real-time device: the playhead against the audio, the start delay, and switching
//! files (what is heard after a switch is the new file alone, sample for sample). The MIDI port against a virtual
//! ALSA sequencer client where the machine has one.
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use midi_tui::engine::listen::{
    Performance, SynthOptions, find_soundfont, load_soundfont, read_performance, render_blocks, synth::MAX_TAIL,
};
use midi_tui::listen::audio::{AudioOut, Tape};
use midi_tui::listen::{OpenOutput, Player};

const MOONLIGHT: &str = "drywetmidi/Docs/articles/composing/files/pianoroll-moonlight-sonata.mid";
const SIMPLE: &str = "drywetmidi/Docs/articles/composing/files/pianoroll-simple.mid";
const BELLS: &str = "drywetmidi/Resources/MIDI files/Valid/SingleTrack/Small/014TubularBells.mid";
const OBOE: &str = "drywetmidi/Resources/MIDI files/Valid/SingleTrack/Small/068Oboe.mid";
const ORCH_HIT: &str = "drywetmidi/Resources/MIDI files/Valid/SingleTrack/Small/055OrchHit.mid";
const RAIN: &str = "drywetmidi/Resources/MIDI files/Valid/SingleTrack/Small/096FX2Rain.mid";
const GROOVE: &str = "groove/groove/drummer1/session1/12_jazz-funk_116_fill_4-4.mid";
const BEAT: &str = "tonejs-tests/test/midi/beat.mid";

/// The console redraws this often while playing: the drawn playhead is at most this much older than computed.
const DRAW_PERIOD: f64 = midi_tui::console::listen::TICK.as_millis() as f64 / 1000.0;

fn corpus_file(rel: &str) -> PathBuf {
    common::corpus().join(rel)
}

/// The system's SoundFont, or `None` after saying plainly why the test cannot run.
fn font() -> Option<midi_tui::engine::listen::FoundFont> {
    match find_soundfont(None) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("SKIPPED: this test needs a SoundFont and found none: {e}");
            None
        }
    }
}

fn perf(rel: &str) -> Arc<Performance> {
    Arc::new(read_performance(corpus_file(rel).to_str().unwrap()).unwrap())
}

/// The mono render of `p` at `rate`.
fn render_mono(sf: &Arc<rustysynth::SoundFont>, p: &Arc<Performance>, rate: u32) -> Vec<f32> {
    let mut mono = Vec::new();
    let opts = SynthOptions {
        sample_rate: rate,
        effects: false,
    };
    render_blocks(sf, p.clone(), &opts, |l, r| {
        mono.extend(l.iter().zip(r).map(|(a, b)| (a + b) * 0.5));
        Ok(())
    })
    .unwrap();
    mono
}

/// RMS of `x` between seconds `a` and `b`.
fn rms(x: &[f32], rate: u32, a: f64, b: f64) -> f64 {
    let i = ((a * f64::from(rate)).max(0.0) as usize).min(x.len());
    let j = ((b * f64::from(rate)).max(0.0) as usize).min(x.len());
    if j <= i {
        return 0.0;
    }
    (x[i..j].iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / (j - i) as f64).sqrt()
}

/// Spans of the file where no note sounds (notes from onset to release plus `ring` seconds), at least `min` long.
fn silent_spans(p: &Performance, ring: f64, min: f64) -> Vec<(f64, f64)> {
    let mut open: std::collections::HashMap<(u8, u8), usize> = Default::default();
    let mut busy: Vec<(f64, f64)> = Vec::new();
    let mut start: std::collections::HashMap<(u8, u8), Vec<f64>> = Default::default();
    for e in &p.events {
        let key = (e.channel(), e.msg[1]);
        if e.is_note_on() {
            *open.entry(key).or_default() += 1;
            start.entry(key).or_default().push(e.at);
        } else if matches!(e.msg[0] & 0xf0, 0x80 | 0x90) && open.get(&key).copied().unwrap_or(0) > 0 {
            *open.get_mut(&key).unwrap() -= 1;
            let s = start.get_mut(&key).unwrap().remove(0);
            busy.push((s, e.at + ring));
        }
    }
    for v in start.values() {
        busy.extend(v.iter().map(|s| (*s, p.duration + ring)));
    }
    busy.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut spans = Vec::new();
    let mut t = 0.0f64;
    for (s, e) in busy {
        if s - t >= min {
            spans.push((t, s));
        }
        t = t.max(e);
    }
    spans
}

#[test]
fn rendered_audio_follows_the_notes_of_corpus_files() {
    let Some(font) = font() else { return };
    let sf = load_soundfont(&font).unwrap();
    let rate = 22_050;
    let mut gaps_checked = 0;
    let mut onsets_checked = 0u32;
    let (mut all_rose, mut all_total) = (0u32, 0u32);
    let (mut all_between, mut all_rose_between) = (0u32, 0u32);
    for rel in [MOONLIGHT, SIMPLE, BELLS, OBOE, ORCH_HIT, RAIN, GROOVE, BEAT] {
        let p = perf(rel);
        let audio = render_mono(&sf, &p, rate);
        let seconds = audio.len() as f64 / f64::from(rate);
        // Length: the file's, plus a release that ends in silence (or is cut at MAX_TAIL).
        assert!(
            seconds >= p.duration && seconds <= p.duration + MAX_TAIL + 0.01,
            "{rel}: {seconds:.3} s of audio for a file of {:.3} s",
            p.duration
        );
        let tail = rms(&audio, rate, seconds - 0.05, seconds);
        assert!(
            tail < 1e-3 || seconds >= p.duration + MAX_TAIL,
            "{rel}: the audio ends while still sounding"
        );
        // Silence where no note sounds (2.5 s after a release is long enough for any GM instrument to die away).
        for (a, b) in silent_spans(&p, 2.5, 0.2) {
            let level = rms(&audio, rate, a, b);
            assert!(
                level < 1e-3,
                "{rel}: {level:.5} RMS between {a:.2} s and {b:.2} s, where no note sounds"
            );
            eprintln!("{rel}: silent from {a:.2} s to {b:.2} s ({level:.6} RMS)");
            gaps_checked += 1;
        }
        // Energy rises at each note onset that follows a quiet moment (no onset in the 150 ms before it), and not
        // halfway between such onsets: the rises are where the notes are.
        let onsets: Vec<f64> = p.onsets().collect();
        let rises = |t: f64| rms(&audio, rate, t, t + 0.04) > rms(&audio, rate, t - 0.04, t - 0.002) * 1.2 + 1e-4;
        let (mut rose, mut total, mut between, mut rose_between) = (0, 0, 0, 0);
        for (i, &t) in onsets.iter().enumerate() {
            if i > 0 && t - onsets[i - 1] < 0.15 {
                continue;
            }
            total += 1;
            rose += u32::from(rises(t));
            if i > 0 && t - onsets[i - 1] >= 0.2 {
                between += 1;
                rose_between += u32::from(rises((t + onsets[i - 1]) / 2.0));
            }
        }
        // A legato note of a slow-attack instrument (an oboe), or a hit over a louder one still ringing, may start
        // under what it follows: 60% per file, 90% over all.
        assert!(total > 0, "{rel}: no onset to check");
        assert!(
            f64::from(rose) >= 0.6 * f64::from(total),
            "{rel}: energy rose at {rose} of {total} onsets"
        );
        all_rose += rose;
        all_between += between;
        all_rose_between += rose_between;
        onsets_checked += total;
        all_total += total;
        eprintln!(
            "{rel}: {seconds:.2} s (file {:.2} s), {total} onsets, {rose} rising",
            p.duration
        );
    }
    assert!(
        f64::from(all_rose) >= 0.9 * f64::from(all_total),
        "energy rose at {all_rose} of {all_total} onsets"
    );
    assert!(
        all_between >= 20 && f64::from(all_rose_between) <= 0.25 * f64::from(all_between),
        "energy rose halfway between onsets {all_rose_between} times of {all_between}: the rises are not at the notes"
    );
    assert!(gaps_checked >= 3, "only {gaps_checked} silent spans were checked");
    assert!(onsets_checked >= 50, "only {onsets_checked} onsets were checked");
}

#[test]
fn a_drum_track_is_audible() {
    let Some(font) = font() else { return };
    let sf = load_soundfont(&font).unwrap();
    let rate = 22_050;
    for rel in [GROOVE, BEAT] {
        let p = perf(rel);
        assert!(
            p.events.iter().filter(|e| e.is_note_on()).all(|e| e.channel() == 9),
            "{rel} is drums alone"
        );
        let audio = render_mono(&sf, &p, rate);
        let whole = rms(&audio, rate, 0.0, p.duration);
        assert!(whole > 0.01, "{rel}: drums at {whole:.4} RMS, inaudible");
        // Every hit is heard, not only the first: sound in the 100 ms after each onset.
        let onsets: Vec<f64> = p.onsets().collect();
        // -70 dBFS: a soft closed hi-hat (velocity 39) is about -60.
        let heard = onsets.iter().filter(|&&t| rms(&audio, rate, t, t + 0.1) > 3e-4).count();
        assert_eq!(
            heard,
            onsets.len(),
            "{rel}: {heard} of {} drum hits heard",
            onsets.len()
        );
    }
}

#[test]
fn render_writes_a_wav_of_the_files_length_and_refuses_to_overwrite() {
    let Some(_) = font() else { return };
    let dir = common::temp_dir("render");
    let out = dir.join("moon light é.wav");
    let file = corpus_file(MOONLIGHT);
    let o = common::run_bin(
        &[
            "render",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--sample-rate",
            "32000",
            "--json",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_str(common::stdout(&o).trim()).unwrap();
    assert_eq!(v["status"], "done");
    let reader = hound::WavReader::open(&out).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 32_000, 16));
    let frames = u64::from(reader.duration());
    assert_eq!(frames, v["frames"].as_u64().unwrap());
    let p = perf(MOONLIGHT);
    let seconds = frames as f64 / 32_000.0;
    assert!(
        seconds >= p.duration && seconds <= p.duration + MAX_TAIL,
        "{seconds} for {}",
        p.duration
    );
    assert!((v["duration_seconds"].as_f64().unwrap() - p.duration).abs() < 1e-9);
    assert!(v["speed"].as_f64().unwrap() > 1.0, "faster than real time: {v}");

    // An existing file is kept unless --force.
    let before = std::fs::metadata(&out).unwrap().len();
    let again = common::run_bin(&["render", file.to_str().unwrap(), "--out", out.to_str().unwrap()], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(common::stderr(&again).contains("--force"), "{}", common::stderr(&again));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), before);

    // An archive member, from a relative path.
    let member = "archives/groove.zip!/groove/groove/drummer1/session1/12_jazz-funk_116_fill_4-4.mid";
    let zipped = dir.join("member.wav");
    let o = std::process::Command::new(common::BIN)
        .current_dir(common::corpus())
        .args(["render", member, "--out", zipped.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(common::stdout(&o).starts_with("rendered "), "{}", common::stdout(&o));
    assert!(hound::WavReader::open(&zipped).unwrap().duration() > 0);

    // A damaged file: a clear error, no WAV, no partial file.
    let broken = dir.join("broken.mid");
    std::fs::write(&broken, b"MThd\0\0\0\x06\0\x01\0\x02").unwrap();
    let bad_out = dir.join("broken.wav");
    let o = common::run_bin(
        &["render", broken.to_str().unwrap(), "--out", bad_out.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(common::stderr(&o).contains("cannot play"), "{}", common::stderr(&o));
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| {
        let n = e.unwrap().file_name();
        !n.to_string_lossy().starts_with("broken.wav")
    }));

    // A SoundFont given and missing is an error naming it, never another font.
    let o = common::run_bin(
        &[
            "render",
            file.to_str().unwrap(),
            "--out",
            dir.join("x.wav").to_str().unwrap(),
            "--soundfont",
            "/nonexistent/GM.sf2",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("/nonexistent/GM.sf2"),
        "{}",
        common::stderr(&o)
    );
    let o = common::run_bin(
        &[
            "render",
            file.to_str().unwrap(),
            "--out",
            dir.join("y.wav").to_str().unwrap(),
        ],
        &[("MIDI_TUI_SOUNDFONT", "/nonexistent/env.sf2")],
    );
    assert!(
        common::stderr(&o).contains("MIDI_TUI_SOUNDFONT"),
        "{}",
        common::stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A player on the silent device at 48 kHz with 512-frame periods, recording what it plays.
fn silent_player(
    font: &midi_tui::engine::listen::FoundFont,
    seconds: f64,
) -> (OpenOutput, Arc<std::sync::Mutex<Tape>>) {
    let sf = load_soundfont(font).unwrap();
    let tape = Tape::new((48_000.0 * seconds) as usize);
    let audio = AudioOut::null_recording(sf, 48_000, 512, Some(tape.clone()));
    (OpenOutput::from_audio(audio, &font.name()), tape)
}

/// Sample the playhead every 2 ms for `secs`.
fn watch(player: &Player, secs: f64) -> Vec<(Instant, f64, u64)> {
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        if let Some(p) = player.playhead() {
            out.push((Instant::now(), p.seconds, p.id));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    out
}

/// The instant the first sample louder than -60 dBFS is heard at or after `after`.
fn first_sound(tape: &Tape, after: Instant) -> Option<Instant> {
    for (heard, buf) in &tape.buffers {
        if *heard + Duration::from_secs_f64(buf.len() as f64 / 48_000.0) < after {
            continue;
        }
        if let Some(i) = buf.iter().position(|x| x.abs() > 1e-3) {
            let at = *heard + Duration::from_secs_f64(i as f64 / 48_000.0);
            if at >= after {
                return Some(at);
            }
        }
    }
    None
}

/// The playhead watched at `at`, interpolated between samples of request `id`.
fn playhead_at(samples: &[(Instant, f64, u64)], at: Instant, id: u64) -> f64 {
    let s: Vec<&(Instant, f64, u64)> = samples.iter().filter(|s| s.2 == id).collect();
    let i = s.partition_point(|x| x.0 <= at);
    assert!(i > 0 && i < s.len(), "no playhead sample around the instant");
    let (a, b) = (s[i - 1], s[i]);
    let f = at.duration_since(a.0).as_secs_f64() / b.0.duration_since(a.0).as_secs_f64().max(1e-9);
    a.1 + (b.1 - a.1) * f
}

#[test]
fn the_playhead_stays_on_the_audio_and_playback_starts_at_once() {
    let Some(font) = font() else { return };
    let (out, tape) = silent_player(&font, 20.0);
    let player = out.player.clone();
    let location = corpus_file(SIMPLE).to_string_lossy().into_owned();
    let mut errors = Vec::new();
    let mut starts = Vec::new();
    for from in [0.0, 6.0, 11.0] {
        // The key: from here the file is read, parsed and handed to the device.
        let key = Instant::now();
        let id = player.request();
        let p = Arc::new(read_performance(&location).unwrap());
        assert!(player.start(id, p.clone(), from).unwrap());
        let samples = watch(&player, 1.2);
        let first_onset = if from == 0.0 {
            midi_tui::cli::bench::listen::first_audible(&load_soundfont(&font).unwrap(), &p).unwrap()
        } else {
            p.onsets().find(|t| *t >= from).unwrap()
        };
        let heard = first_sound(&tape.lock().unwrap(), key).expect("the file was heard");
        // The start delay: from the key to the first note heard, less the silence the file itself has before it.
        starts.push(heard.duration_since(key).as_secs_f64() - (first_onset - from));
        // Where the playhead stood when that first note was heard.
        errors.push(playhead_at(&samples, heard, id) - first_onset);
    }
    player.stop();
    eprintln!("playhead minus audio at the first note: {errors:?}; start delays: {starts:?}");
    for e in &errors {
        assert!(
            e.abs() + DRAW_PERIOD <= 0.050,
            "the playhead was {:.1} ms off the audio (+ {:.0} ms between draws)",
            e * 1000.0,
            DRAW_PERIOD * 1000.0
        );
    }
    let mut sorted = starts.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(sorted[1] < 0.200, "median start delay {:.0} ms", sorted[1] * 1000.0);
}

#[test]
fn switching_files_never_leaves_two_playing() {
    let Some(font) = font() else { return };
    let sf = load_soundfont(&font).unwrap();
    let (out, tape) = silent_player(&font, 10.0);
    let player = out.player.clone();
    let a = perf(BEAT);
    let b = perf(MOONLIGHT);
    let id_a = player.request();
    assert!(player.start(id_a, a.clone(), 0.0).unwrap());
    std::thread::sleep(Duration::from_millis(600));
    // A load of the old file that finishes late must not start.
    let id_b = player.request();
    assert!(!player.start(id_a, a.clone(), 0.0).unwrap(), "a stale request started");
    let switched = Instant::now();
    assert!(player.start(id_b, b.clone(), 0.0).unwrap());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(player.playhead().unwrap().id, id_b);
    player.stop();
    std::thread::sleep(Duration::from_millis(100));
    let tape = tape.lock().unwrap();
    // What the device played, buffer by buffer, against each file rendered alone at the same rate.
    let alone_a = render_mono(&sf, &a, 48_000);
    let alone_b = render_mono(&sf, &b, 48_000);
    let flat: Vec<f32> = tape.buffers.iter().flat_map(|(_, x)| x.iter().copied()).collect();
    let period = tape.buffers[0].1.len();
    // The buffer where B begins: the first whose samples are B's first samples, near the switch.
    let k = (0..tape.buffers.len())
        .filter(|&k| {
            let heard = tape.buffers[k].0;
            heard + Duration::from_millis(50) >= switched && heard <= switched + Duration::from_millis(100)
        })
        .find(|&k| {
            let at = k * period;
            (0..period * 20).all(|i| (flat[at + i] - alone_b[i]).abs() < 1e-6)
        })
        .expect("B starts at a buffer boundary, from its first sample");
    let at = k * period;
    assert!(
        alone_b[..period * 20].iter().any(|x| x.abs() > 1e-3),
        "B sounds from its start"
    );
    // After it, B alone, to the stop.
    let played_b = &flat[at..];
    let n = played_b.iter().rposition(|x| x.abs() > 0.0).unwrap_or(0);
    let same = (0..n.min(alone_b.len())).all(|i| (played_b[i] - alone_b[i]).abs() < 1e-6);
    assert!(same, "after the switch the device played something other than B alone");
    assert!(n > 48_000, "B played for more than a second ({n} frames)");
    // Before it, A alone (from A's own start: nothing else was mixed in).
    let start_a = flat.iter().position(|x| x.abs() > 0.0).unwrap();
    let first_a = alone_a.iter().position(|x| x.abs() > 0.0).unwrap();
    let played_a = &flat[start_a..at];
    assert!(played_a.len() > 10_000);
    assert!(
        played_a
            .iter()
            .zip(&alone_a[first_a..])
            .all(|(x, y)| (x - y).abs() < 1e-6),
        "before the switch the device played something other than A alone"
    );
}

#[test]
fn the_port_output_reaches_a_virtual_alsa_sequencer_client() {
    if !std::path::Path::new("/dev/snd/seq").exists() {
        eprintln!("SKIPPED: this machine has no ALSA sequencer (/dev/snd/seq), so no virtual client can be made");
        return;
    }
    use midi_tui::listen::port::{PortChoice, list_ports};
    use std::sync::Mutex;
    type Received = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;
    let got: Received = Arc::default();
    let g = got.clone();
    let input = midir::MidiInput::new("mt-listen-test").unwrap();
    use midir::os::unix::VirtualInput;
    let _conn = input
        .create_virtual(
            "mt-listen-in",
            move |_, msg, _| g.lock().unwrap().push((Instant::now(), msg.to_vec())),
            (),
        )
        .unwrap();
    let name = list_ports()
        .unwrap()
        .into_iter()
        .find(|n| n.contains("mt-listen-in"))
        .expect("our virtual client is listed");
    let out = OpenOutput::port(&PortChoice::Named(name)).unwrap();
    let p = perf(OBOE);
    let id = out.player.request();
    let t0 = Instant::now();
    assert!(out.player.start(id, p.clone(), 0.0).unwrap());
    std::thread::sleep(Duration::from_secs_f64(p.duration + 0.3));
    out.player.stop();
    std::thread::sleep(Duration::from_millis(100));
    let got = got.lock().unwrap();
    let ons: Vec<(f64, u8)> = got
        .iter()
        .filter(|(_, m)| m.len() == 3 && m[0] & 0xf0 == 0x90 && m[2] > 0)
        .map(|(t, m)| (t.duration_since(t0).as_secs_f64(), m[1]))
        .collect();
    let want: Vec<(f64, u8)> = p
        .events
        .iter()
        .filter(|e| e.is_note_on())
        .map(|e| (e.at, e.msg[1]))
        .collect();
    assert_eq!(ons.len(), want.len(), "{ons:?}");
    for ((t, k), (wt, wk)) in ons.iter().zip(&want) {
        assert_eq!(k, wk);
        assert!((t - wt).abs() < 0.03, "note {k} at {t:.3} s, due {wt:.3} s");
    }
    assert!(
        got.iter()
            .any(|(_, m)| m.len() == 3 && m[0] & 0xf0 == 0xb0 && m[1] == 123),
        "All Notes Off after the end"
    );
}
