//! `midi-tui render FILE --out FILE.wav`: a MIDI file through the built-in synthesizer, offline.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use super::{GlobalArgs, RenderArgs, print_report};
use crate::engine::listen::{
    FoundFont, Performance, PerformanceError, RenderReport, SynthOptions, find_soundfont, load_soundfont,
    read_performance, render_wav,
};

/// What `render` did, for its line and `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RenderOutcome {
    pub status: &'static str,
    pub file: String,
    pub out: String,
    pub soundfont: String,
    #[serde(flatten)]
    pub report: RenderReport,
    /// Wall seconds of the synthesis and the write (the SoundFont's loading apart).
    pub seconds: f64,
    /// Audio seconds per wall second.
    pub speed: f64,
    pub soundfont_load_seconds: f64,
}

pub fn run(g: &GlobalArgs, args: &RenderArgs) -> anyhow::Result<()> {
    let font = find_soundfont(g.soundfont.as_deref())?;
    let outcome = render_file(&font, &args.file, &args.out, args.sample_rate, args.effects, args.force)?;
    print_report(|w| {
        if args.json {
            writeln!(w, "{}", serde_json::to_string(&outcome).unwrap_or_default())
        } else {
            writeln!(w, "{}", line(&outcome))
        }
    })?;
    Ok(())
}

/// Render `file` to `out` with `font`; the WAV appears whole or not at all (written beside it, then renamed).
pub fn render_file(
    font: &FoundFont,
    file: &Path,
    out: &Path,
    sample_rate: u32,
    effects: bool,
    force: bool,
) -> anyhow::Result<RenderOutcome> {
    if out.exists() && !force {
        bail!("{} exists: pass --force to replace it", out.display());
    }
    let t0 = Instant::now();
    let name = file.to_string_lossy();
    let perf = read_performance(&name).map_err(|e| match e {
        // A read error names the location already.
        PerformanceError::Unreadable(text) => anyhow::anyhow!("cannot play {text}"),
        other => anyhow::anyhow!("cannot play {name}: {other}"),
    })?;
    render_performance(font, perf, &name, out, &SynthOptions { sample_rate, effects }, t0)
}

/// Render `perf` (read from `name`, which took since `t0`) to `out`, written beside it and renamed.
pub fn render_performance(
    font: &FoundFont,
    perf: Performance,
    name: &str,
    out: &Path,
    opts: &SynthOptions,
    t0: Instant,
) -> anyhow::Result<RenderOutcome> {
    let t_font = Instant::now();
    let sf = load_soundfont(font)?;
    let soundfont_load_seconds = t_font.elapsed().as_secs_f64();
    let tmp = partial_path(out);
    let written = (|| -> anyhow::Result<RenderReport> {
        let f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let report = render_wav(&sf, std::sync::Arc::new(perf), opts, std::io::BufWriter::new(f))?;
        std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
        Ok(report)
    })();
    let report = match written {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // The SoundFont's loading is reported apart (a process renders many files with one font).
    let seconds = (t0.elapsed().as_secs_f64() - soundfont_load_seconds).max(0.0);
    Ok(RenderOutcome {
        status: "done",
        file: name.to_string(),
        out: out.display().to_string(),
        soundfont: font.path.display().to_string(),
        speed: report.audio_seconds / seconds.max(1e-9),
        report,
        seconds,
        soundfont_load_seconds,
    })
}

/// `dir/name.wav`, or `dir/name (2).wav` and on when that is taken: a render from the browser never replaces a file.
pub fn free_wav_path(dir: &Path, stem: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.wav"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}).wav")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

/// `rendered 3:05.2 (file 3:01.0 + 4.2 s release) at 44,100 Hz to out.wav in 1.42 s (130x real time) ...`
pub fn line(o: &RenderOutcome) -> String {
    let r = &o.report;
    let peak_db = if r.peak > 0.0 {
        format!("{:.1} dBFS", 20.0 * f64::from(r.peak).log10())
    } else {
        "silent".into()
    };
    let clipped = if r.clipped > 0 {
        format!(", {} samples clipped", r.clipped)
    } else {
        String::new()
    };
    format!(
        "rendered {} (file {} + {:.1} s release) at {} Hz to {} in {:.2} s ({:.0}x real time); SoundFont {}; peak {}{}",
        clock(r.audio_seconds),
        clock(r.duration_seconds),
        (r.audio_seconds - r.duration_seconds).max(0.0),
        r.sample_rate,
        o.out,
        o.seconds,
        o.speed,
        o.soundfont,
        peak_db,
        clipped
    )
}

/// Minutes and seconds with a tenth: `3:05.2`.
fn clock(s: f64) -> String {
    let tenths = (s * 10.0).round() as u64;
    format!("{}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
}
