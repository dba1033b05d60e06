//! The built-in synthesizer: a [`Performance`] through a SoundFont (rustysynth), block by block, for the audio
//! device (in real time) and for `render` (offline, as fast as the CPU goes). One code path for both.
use std::io::{Seek, Write};
use std::sync::Arc;

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use super::performance::Performance;

/// Frames rendered per step: rustysynth's own block, so that every message lands on a block boundary of its own
/// (at 44.1 kHz a message is at most 0.7 ms from its time).
pub const BLOCK: usize = 64;
/// After the last event, the release tail runs until this long has been silent...
const TAIL_SILENCE: f64 = 0.25;
/// ...or at most this long.
pub const MAX_TAIL: f64 = 5.0;
/// A block whose peak stays under this (-80 dBFS) is silence.
const SILENT: f32 = 1e-4;

/// How the synthesizer renders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthOptions {
    pub sample_rate: u32,
    /// Reverb and chorus (about a third more CPU; off by default so that `render` stays far faster than real time).
    pub effects: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            sample_rate: 44_100,
            effects: false,
        }
    }
}

/// Why the synthesizer cannot start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SynthError {
    #[error("the synthesizer refused its settings: {0}")]
    Settings(String),
    #[error("writing the audio failed: {0}")]
    Write(String),
}

/// One file playing through one synthesizer: the position, the next event, and a block of output in hand.
pub struct Renderer {
    synth: Synthesizer,
    perf: Arc<Performance>,
    rate: f64,
    next: usize,
    /// Frames handed out so far (the position of the next frame out).
    frame: u64,
    block_l: [f32; BLOCK],
    block_r: [f32; BLOCK],
    /// Frames of the block already handed out (BLOCK: none left).
    read: usize,
    /// Seconds of silence in a row after the last event.
    quiet: f64,
    done: bool,
    /// The frame after the last block with sound (set once done).
    end_frame: Option<u64>,
}

impl Renderer {
    /// A renderer positioned at `from` seconds: the programs and controllers in force there are set, no note sounds.
    pub fn new(
        font: &Arc<SoundFont>,
        perf: Arc<Performance>,
        opts: &SynthOptions,
        from: f64,
    ) -> Result<Self, SynthError> {
        let mut settings = SynthesizerSettings::new(opts.sample_rate as i32);
        settings.block_size = BLOCK;
        settings.enable_reverb_and_chorus = opts.effects;
        let mut synth = Synthesizer::new(font, &settings).map_err(|e| SynthError::Settings(e.to_string()))?;
        let from = from.clamp(0.0, perf.duration.max(0.0));
        for e in perf.state_before(from) {
            send(&mut synth, e.bytes());
        }
        let rate = f64::from(opts.sample_rate);
        Ok(Renderer {
            next: perf.index_at(from),
            synth,
            frame: (from * rate).round() as u64,
            rate,
            perf,
            block_l: [0.0; BLOCK],
            block_r: [0.0; BLOCK],
            read: BLOCK,
            quiet: 0.0,
            done: false,
            end_frame: None,
        })
    }

    /// Seconds of the next frame out.
    pub fn position(&self) -> f64 {
        self.frame as f64 / self.rate
    }

    pub fn performance(&self) -> &Arc<Performance> {
        &self.perf
    }

    /// Every event played and the release has died away (or `MAX_TAIL` passed).
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn sample_rate(&self) -> u32 {
        self.rate as u32
    }

    /// Fill `left` and `right` (equal lengths) with the next frames; silence once done.
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len().min(right.len());
        let mut wrote = 0;
        while wrote < n {
            if self.read == BLOCK {
                if self.done {
                    left[wrote..n].fill(0.0);
                    right[wrote..n].fill(0.0);
                    self.frame += (n - wrote) as u64;
                    return;
                }
                self.next_block();
            }
            let take = (BLOCK - self.read).min(n - wrote);
            left[wrote..wrote + take].copy_from_slice(&self.block_l[self.read..self.read + take]);
            right[wrote..wrote + take].copy_from_slice(&self.block_r[self.read..self.read + take]);
            self.read += take;
            wrote += take;
            self.frame += take as u64;
        }
    }

    fn next_block(&mut self) {
        // The block starts at the frame after what is in hand (the frame counter runs with what was handed out).
        let start = self.frame as f64 / self.rate;
        // Messages due before the block's middle go in now: each lands within half a block of its time.
        let due = start + (BLOCK as f64 / 2.0) / self.rate;
        let events = &self.perf.events;
        while self.next < events.len() && events[self.next].at < due {
            send(&mut self.synth, events[self.next].bytes());
            self.next += 1;
        }
        self.synth.render(&mut self.block_l, &mut self.block_r);
        self.read = 0;
        if self.next >= events.len() && start >= self.perf.duration {
            let peak = self
                .block_l
                .iter()
                .chain(self.block_r.iter())
                .fold(0.0f32, |m, x| m.max(x.abs()));
            let block = BLOCK as f64 / self.rate;
            self.quiet = if peak < SILENT { self.quiet + block } else { 0.0 };
            if self.quiet >= TAIL_SILENCE || start - self.perf.duration >= MAX_TAIL {
                self.done = true;
                self.end_frame = Some(self.frame + BLOCK as u64);
            }
        }
    }
}

/// One channel message to rustysynth (which takes the status's command and channel apart).
fn send(synth: &mut Synthesizer, msg: &[u8]) {
    let status = msg[0];
    let d1 = msg.get(1).copied().unwrap_or(0);
    let d2 = msg.get(2).copied().unwrap_or(0);
    let (command, channel) = (i32::from(status & 0xf0), i32::from(status & 0x0f));
    match command {
        // rustysynth reads the bend from data1 (low) and data2 (high); channel pressure it ignores.
        0x80 | 0x90 | 0xa0 | 0xb0 | 0xc0 | 0xe0 => {
            synth.process_midi_message(channel, command, i32::from(d1), i32::from(d2));
        }
        _ => {}
    }
}

/// What an offline render produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RenderReport {
    pub sample_rate: u32,
    pub frames: u64,
    /// Seconds of audio written (the file's length plus the release).
    pub audio_seconds: f64,
    /// The file's length (the piano roll's).
    pub duration_seconds: f64,
    /// Largest sample magnitude (1.0 is full scale).
    pub peak: f32,
    /// Samples beyond full scale, clipped in the 16-bit output.
    pub clipped: u64,
}

/// Render `perf` from its start to the end of its release, handing each block to `sink` (left, right).
pub fn render_blocks(
    font: &Arc<SoundFont>,
    perf: Arc<Performance>,
    opts: &SynthOptions,
    mut sink: impl FnMut(&[f32], &[f32]) -> Result<(), SynthError>,
) -> Result<RenderReport, SynthError> {
    let duration = perf.duration;
    let mut r = Renderer::new(font, perf, opts, 0.0)?;
    const CHUNK: usize = BLOCK * 64;
    let (mut l, mut rr) = (vec![0f32; CHUNK], vec![0f32; CHUNK]);
    let mut frames = 0u64;
    let mut peak = 0f32;
    let mut clipped = 0u64;
    while !r.is_done() {
        r.render(&mut l, &mut rr);
        // The last chunk is cut after the block where the tail ended.
        let n = match r.end_frame {
            Some(end) => (end.saturating_sub(frames)).min(CHUNK as u64) as usize,
            None => CHUNK,
        };
        for x in l[..n].iter().chain(rr[..n].iter()) {
            let a = x.abs();
            peak = peak.max(a);
            if a > 1.0 {
                clipped += 1;
            }
        }
        sink(&l[..n], &rr[..n])?;
        frames += n as u64;
    }
    Ok(RenderReport {
        sample_rate: opts.sample_rate,
        frames,
        audio_seconds: frames as f64 / f64::from(opts.sample_rate),
        duration_seconds: duration,
        peak,
        clipped,
    })
}

/// Render `perf` to a 16-bit stereo WAV.
pub fn render_wav<W: Write + Seek>(
    font: &Arc<SoundFont>,
    perf: Arc<Performance>,
    opts: &SynthOptions,
    out: W,
) -> Result<RenderReport, SynthError> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: opts.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(out, spec).map_err(|e| SynthError::Write(e.to_string()))?;
    let report = render_blocks(font, perf, opts, |l, r| {
        let mut s = w.get_i16_writer((l.len() * 2) as u32);
        for (a, b) in l.iter().zip(r) {
            s.write_sample(to_i16(*a));
            s.write_sample(to_i16(*b));
        }
        s.flush().map_err(|e| SynthError::Write(e.to_string()))
    })?;
    w.finalize().map_err(|e| SynthError::Write(e.to_string()))?;
    Ok(report)
}

fn to_i16(x: f32) -> i16 {
    (x.clamp(-1.0, 1.0) * 32767.0).round() as i16
}
