//! The listening section (`bench --listen DIR`): how soon playback starts after the key on a hot file, how far the
//! playhead is from the audio, and how fast `render` is on one core, on DIR's real files.
//!
//! Playback runs through the player the console uses, to the silent real-time device (48 kHz, 512-frame periods),
//! which records what it plays and when it is heard: the start delay is from the key (before the file is read) to
//! the first note heard, less the silence the file itself has before its first note; the playhead error is the
//! playhead at that instant minus the note's time in the file.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::engine::listen::{
    FoundFont, Performance, Renderer, SynthOptions, find_soundfont, load_soundfont, read_performance, render_blocks,
};
use crate::listen::OpenOutput;
use crate::listen::audio::{AudioOut, Tape};

/// Files auditioned for the start delay and the playhead.
const PLAY_FILES: usize = 25;
/// The render target: a file this long, rendered in under `RENDER_TARGET_S` CPU seconds.
const RENDER_LENGTH_S: f64 = 180.0;
const RENDER_TARGET_S: f64 = 2.0;
const START_TARGET_S: f64 = 0.200;
const PLAYHEAD_TARGET_S: f64 = 0.050;

#[derive(Debug, Clone, Serialize)]
pub struct RenderRow {
    pub file: String,
    pub seconds: f64,
    pub notes: usize,
    /// One thread's CPU seconds for the whole file, without and with reverb and chorus.
    pub cpu_seconds: f64,
    pub cpu_seconds_effects: f64,
}

impl RenderRow {
    /// CPU seconds per three minutes of this file.
    pub fn per_3_min(&self, effects: bool) -> f64 {
        let cpu = if effects {
            self.cpu_seconds_effects
        } else {
            self.cpu_seconds
        };
        cpu * RENDER_LENGTH_S / self.seconds.max(1e-9)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenReport {
    pub corpus: String,
    pub soundfont: String,
    pub soundfont_load_seconds: f64,
    /// Seconds from the key to the first note heard, per file.
    pub start_delays: Vec<f64>,
    /// Playhead minus audio at the first note heard, per file (seconds).
    pub playhead_errors: Vec<f64>,
    pub draw_period_seconds: f64,
    pub renders: Vec<RenderRow>,
}

/// Measure on DIR's MIDI files (blocking).
pub fn measure(dir: &Path, given_font: Option<&Path>) -> Result<ListenReport> {
    let font = find_soundfont(given_font)?;
    let t = Instant::now();
    let sf = load_soundfont(&font)?;
    let soundfont_load_seconds = t.elapsed().as_secs_f64();
    let mut files: Vec<(PathBuf, Arc<Performance>)> = Vec::new();
    for path in midi_files(dir) {
        // Reading each file once makes it hot, as a file is in the browser after its notes were drawn.
        if let Ok(p) = read_performance(&path.to_string_lossy())
            && p.onsets().next().is_some()
            && p.duration > 2.0
        {
            files.push((path, Arc::new(p)));
        }
    }
    if files.is_empty() {
        bail!("no playable MIDI file under {}", dir.display());
    }
    let (start_delays, playhead_errors) = play(&font, &files)?;
    // The render rows: the files nearest three minutes long (the densest first among equals).
    let mut near: Vec<&(PathBuf, Arc<Performance>)> = files
        .iter()
        .filter(|(_, p)| (p.duration - RENDER_LENGTH_S).abs() <= 45.0)
        .collect();
    near.sort_by_key(|f| std::cmp::Reverse(f.1.events.len()));
    near.truncate(4);
    let mut renders = Vec::new();
    for (path, p) in near {
        let cpu = |effects| {
            let opts = SynthOptions {
                sample_rate: 44_100,
                effects,
            };
            let t = thread_cpu_seconds();
            let _ = render_blocks(&sf, p.clone(), &opts, |_, _| Ok(()));
            thread_cpu_seconds() - t
        };
        // Twice each way, in turn; the faster of each pair is the machine's less disturbed run.
        let (a1, b1, a2, b2) = (cpu(false), cpu(true), cpu(false), cpu(true));
        renders.push(RenderRow {
            file: relative(dir, path),
            seconds: p.duration,
            notes: p.onsets().count(),
            cpu_seconds: a1.min(a2),
            cpu_seconds_effects: b1.min(b2),
        });
    }
    Ok(ListenReport {
        corpus: super::corpus_label(dir),
        soundfont: font.path.display().to_string(),
        soundfont_load_seconds,
        start_delays,
        playhead_errors,
        draw_period_seconds: crate::console::listen::TICK.as_secs_f64(),
        renders,
    })
}

/// Audition up to `PLAY_FILES` files on the silent device: each file's start delay and playhead error.
fn play(font: &FoundFont, files: &[(PathBuf, Arc<Performance>)]) -> Result<(Vec<f64>, Vec<f64>)> {
    let sf = load_soundfont(font)?;
    let tape = Tape::new(48_000 * 120);
    let audio = AudioOut::null_recording(sf.clone(), 48_000, 512, Some(tape.clone()));
    let out = OpenOutput::from_audio(audio, &font.name());
    let player = out.player.clone();
    let (mut starts, mut errors) = (Vec::new(), Vec::new());
    let step = (files.len() / PLAY_FILES).max(1);
    for (path, _) in files.iter().step_by(step).take(PLAY_FILES) {
        tape.lock().unwrap_or_else(|e| e.into_inner()).buffers.clear();
        let key = Instant::now();
        let id = player.request();
        let p = Arc::new(read_performance(&path.to_string_lossy())?);
        if !player.start(id, p.clone(), 0.0).map_err(anyhow::Error::msg)? {
            continue;
        }
        // The file's first audible moment (a first note may be silent: a muted channel, a program without sound).
        let Some(first) = first_audible(&sf, &p) else { continue };
        let mut samples = Vec::new();
        let until = Instant::now() + Duration::from_secs_f64(first + 0.6);
        while Instant::now() < until {
            if let Some(h) = player.playhead() {
                samples.push((Instant::now(), h.seconds));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let heard = first_sound(&tape.lock().unwrap_or_else(|e| e.into_inner()), key);
        let (Some(heard), true) = (heard, samples.len() > 2) else {
            continue;
        };
        starts.push(heard.duration_since(key).as_secs_f64() - first);
        if let Some(at) = interpolate(&samples, heard) {
            errors.push(at - first);
        }
    }
    player.stop();
    Ok((starts, errors))
}

/// Seconds into `p` of its first sample louder than -60 dBFS, rendered alone at the silent device's rate (at most
/// 60 s in).
pub fn first_audible(sf: &Arc<rustysynth::SoundFont>, p: &Arc<Performance>) -> Option<f64> {
    let opts = SynthOptions {
        sample_rate: 48_000,
        effects: false,
    };
    let mut r = Renderer::new(sf, p.clone(), &opts, 0.0).ok()?;
    let (mut l, mut rr) = (vec![0f32; 512], vec![0f32; 512]);
    let mut frame = 0usize;
    while frame < 48_000 * 60 && !r.is_done() {
        r.render(&mut l, &mut rr);
        if let Some(i) = l.iter().zip(&rr).position(|(a, b)| ((a + b) * 0.5).abs() > 1e-3) {
            return Some((frame + i) as f64 / 48_000.0);
        }
        frame += 512;
    }
    None
}

fn first_sound(tape: &Tape, after: Instant) -> Option<Instant> {
    tape.buffers.iter().find_map(|(heard, buf)| {
        let i = buf.iter().position(|x| x.abs() > 1e-3)?;
        let at = *heard + Duration::from_secs_f64(i as f64 / 48_000.0);
        (at >= after).then_some(at)
    })
}

fn interpolate(samples: &[(Instant, f64)], at: Instant) -> Option<f64> {
    let i = samples.partition_point(|s| s.0 <= at);
    if i == 0 || i >= samples.len() {
        return None;
    }
    let (a, b) = (samples[i - 1], samples[i]);
    let f = at.duration_since(a.0).as_secs_f64() / b.0.duration_since(a.0).as_secs_f64().max(1e-9);
    Some(a.1 + (b.1 - a.1) * f)
}

fn midi_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "mid" | "midi" | "kar" | "rmi"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn relative(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn p90(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get((v.len() * 9).div_ceil(10).saturating_sub(1))
        .copied()
        .unwrap_or(f64::NAN)
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

pub fn markdown(r: &ListenReport) -> String {
    let ms = |s: f64| format!("{:.1} ms", s * 1e3);
    let start_med = median(&r.start_delays);
    let start_max = r.start_delays.iter().copied().fold(0.0f64, f64::max);
    let err_med = median(&r.playhead_errors.iter().map(|e| e.abs()).collect::<Vec<_>>());
    let err_max = max_abs(&r.playhead_errors);
    let drawn = err_max + r.draw_period_seconds;
    let mut s = format!(
        "\n### Listening ({})\n\nSoundFont `{}` loaded in {:.2} s (once per process). Playback through the console's \
         player to the silent real-time device (48 kHz, 512-frame periods), {} hot files:\n\n\
         | measure | median | worst | target |\n|---|---:|---:|---|\n\
         | start delay: key to first sound heard, less the file's own silence before it (file read, parsed, started, one period, the device's buffer) | {} | {} (90th percentile {}) | under {} ({}) |\n\
         | playhead minus audio at the first sound heard | {} | {} | |\n\
         | drawn playhead: worst error + one redraw period ({}) | | {} | within {} ({}) |\n",
        r.corpus,
        r.soundfont,
        r.soundfont_load_seconds,
        r.start_delays.len(),
        ms(start_med),
        ms(start_max),
        ms(p90(&r.start_delays)),
        ms(START_TARGET_S),
        verdict(p90(&r.start_delays) < START_TARGET_S),
        ms(err_med),
        ms(err_max),
        ms(r.draw_period_seconds),
        ms(drawn),
        ms(PLAYHEAD_TARGET_S),
        verdict(drawn <= PLAYHEAD_TARGET_S),
    );
    if r.renders.is_empty() {
        s += "\nNo file of about three minutes in this folder: render not measured.\n";
        return s;
    }
    s += "\n`render` at 44.1 kHz, one thread's CPU seconds (the faster of two runs each way), the files nearest three \
          minutes long:\n\n| file | length | notes | CPU s | CPU s per 3 min | with reverb + chorus, per 3 min | target: 3 min under 2 s |\n|---|---:|---:|---:|---:|---:|---|\n";
    for row in &r.renders {
        s += &format!(
            "| {} | {:.0} s | {} | {:.2} | {:.2} | {:.2} | {} |\n",
            row.file,
            row.seconds,
            row.notes,
            row.cpu_seconds,
            row.per_3_min(false),
            row.per_3_min(true),
            verdict(row.per_3_min(false) < RENDER_TARGET_S)
        );
    }
    s
}
