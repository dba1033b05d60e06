//! The audio device: the system's default output through cpal (ALSA on Linux), or a silent device that consumes
//! audio at the real-time rate (tests, the bench, and machines without a sound card when asked for with
//! `MIDI_TUI_AUDIO=null`). Both pull the engine's `SynthFeed`.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use crate::engine::listen::SynthFeed;
use rustysynth::SoundFont;

/// Frames per device period asked for: 10.7 ms at 48 kHz, a short wait for the first sound and a fine playhead.
const PERIOD_FRAMES: u32 = 512;

/// An open output that pulls `feed` until dropped.
pub struct AudioOut {
    pub feed: Arc<SynthFeed>,
    /// The device's name, for the screen.
    pub name: String,
    /// Seconds of audio between the callback and the ear (the device's buffer), as the device reported it.
    pub latency: Arc<AtomicU64>,
    _device: DeviceHandle,
}

enum DeviceHandle {
    Cpal(#[allow(dead_code)] cpal::Stream),
    Null(NullDevice),
}

impl AudioOut {
    /// Open the output `MIDI_TUI_AUDIO` names (`null`: the silent device), else the system's default device.
    pub fn open(font: Arc<SoundFont>) -> Result<AudioOut, String> {
        match std::env::var("MIDI_TUI_AUDIO").as_deref() {
            Ok("null") => Ok(AudioOut::null(font, 48_000, PERIOD_FRAMES as usize)),
            _ => open_default(font),
        }
    }

    /// The silent device: consumes `period` frames at a time at `rate` frames a second, the audio "heard" one
    /// period after it is handed over (a device with a two-period buffer).
    pub fn null(font: Arc<SoundFont>, rate: u32, period: usize) -> AudioOut {
        Self::null_recording(font, rate, period, None)
    }

    /// The silent device, keeping what it "plays" in `tape` (tests and the bench compare it with the notes).
    pub fn null_recording(font: Arc<SoundFont>, rate: u32, period: usize, tape: Option<Arc<Mutex<Tape>>>) -> AudioOut {
        let feed = Arc::new(SynthFeed::new(font, rate));
        let latency = Arc::new(AtomicU64::new((period as f64 / f64::from(rate)).to_bits()));
        let dev = NullDevice::start(feed.clone(), rate, period, tape);
        AudioOut {
            feed,
            name: "silent device (MIDI_TUI_AUDIO=null)".into(),
            latency,
            _device: DeviceHandle::Null(dev),
        }
    }

    /// The silent device's frames consumed so far (None for a real device).
    pub fn null_frames(&self) -> Option<u64> {
        match &self._device {
            DeviceHandle::Null(d) => Some(d.frames.load(Ordering::Relaxed)),
            DeviceHandle::Cpal(_) => None,
        }
    }
}

/// What the silent device played: each buffer with the instant it was heard, up to `limit` frames.
#[derive(Debug, Default)]
pub struct Tape {
    pub limit: usize,
    pub buffers: Vec<(Instant, Vec<f32>)>,
    frames: usize,
}

impl Tape {
    pub fn new(limit_frames: usize) -> Arc<Mutex<Tape>> {
        Arc::new(Mutex::new(Tape {
            limit: limit_frames,
            ..Tape::default()
        }))
    }
}

/// A thread that plays the part of a sound card: every `period` frames of real time it takes a buffer.
struct NullDevice {
    stop: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NullDevice {
    fn start(feed: Arc<SynthFeed>, rate: u32, period: usize, tape: Option<Arc<Mutex<Tape>>>) -> NullDevice {
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let (s, f) = (stop.clone(), frames.clone());
        let thread = std::thread::Builder::new()
            .name("null-audio".into())
            .spawn(move || {
                let (mut l, mut r) = (vec![0f32; period], vec![0f32; period]);
                let per = Duration::from_secs_f64(period as f64 / f64::from(rate));
                let t0 = Instant::now();
                let mut n: u32 = 0;
                while !s.load(Ordering::Relaxed) {
                    // Buffer n is handed over at n periods and heard one period later, on the device's clock.
                    let handed = t0 + per * n;
                    std::thread::sleep(handed.saturating_duration_since(Instant::now()));
                    feed.fill(&mut l, &mut r, handed + per);
                    f.fetch_add(period as u64, Ordering::Relaxed);
                    if let Some(t) = &tape {
                        let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
                        if t.frames < t.limit {
                            t.frames += period;
                            // Mono is enough to find sound and compare it.
                            let mono = l.iter().zip(&r).map(|(a, b)| (a + b) * 0.5).collect();
                            t.buffers.push((handed + per, mono));
                        }
                    }
                    n += 1;
                }
            })
            .ok();
        NullDevice { stop, frames, thread }
    }
}

impl Drop for NullDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// alsa-lib writes its complaints (no card, unknown PCM) to stderr, which would scribble over the console: this
/// thread's are collected and logged instead.
#[cfg(target_os = "linux")]
pub fn quiet_alsa<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let captured = alsa::Output::local_error_handler().ok();
    let out = f();
    if let Some(c) = captured {
        let text = c.borrow().to_string();
        if !text.trim().is_empty() {
            tracing::info!("{what}: ALSA said: {}", text.trim().replace('\n', "; "));
        }
    }
    out
}

#[cfg(not(target_os = "linux"))]
pub fn quiet_alsa<T>(_what: &str, f: impl FnOnce() -> T) -> T {
    f()
}

fn open_default(font: Arc<SoundFont>) -> Result<AudioOut, String> {
    quiet_alsa("opening the audio device", || {
        let host = cpal::default_host();
        let device = host
            .default_output_device()
            .ok_or_else(|| "no audio device on this machine".to_string())?;
        let supported = device.default_output_config().map_err(|e| {
            // The detail goes to the log; the screen's line keeps room for what works instead.
            tracing::info!("no audio device: {e}");
            "no audio device on this machine".to_string()
        })?;
        let name = device
            .description()
            .map(|d| d.name().to_string())
            .unwrap_or_else(|_| "default audio device".into());
        let rate = supported.sample_rate();
        let channels = usize::from(supported.channels()).max(1);
        let mut config = supported.config();
        if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size()
            && (*min..=*max).contains(&PERIOD_FRAMES)
        {
            config.buffer_size = cpal::BufferSize::Fixed(PERIOD_FRAMES);
        }
        let feed = Arc::new(SynthFeed::new(font, rate));
        let latency = Arc::new(AtomicU64::new(0f64.to_bits()));
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => build::<f32>(&device, config, channels, feed.clone(), latency.clone()),
            cpal::SampleFormat::I16 => build::<i16>(&device, config, channels, feed.clone(), latency.clone()),
            cpal::SampleFormat::I32 => build::<i32>(&device, config, channels, feed.clone(), latency.clone()),
            cpal::SampleFormat::U16 => build::<u16>(&device, config, channels, feed.clone(), latency.clone()),
            other => Err(format!(
                "the audio device wants {other} samples, which are not supported"
            )),
        }?;
        stream
            .play()
            .map_err(|e| format!("the audio device would not start: {e}"))?;
        Ok(AudioOut {
            feed,
            name,
            latency,
            _device: DeviceHandle::Cpal(stream),
        })
    })
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    channels: usize,
    feed: Arc<SynthFeed>,
    latency: Arc<AtomicU64>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample + FromSample<f32>,
{
    let (mut l, mut r) = (Vec::<f32>::new(), Vec::<f32>::new());
    device
        .build_output_stream(
            config,
            move |out: &mut [T], info: &cpal::OutputCallbackInfo| {
                let frames = out.len() / channels;
                // Resized once to the device's period; later calls reuse the buffers.
                l.resize(frames, 0.0);
                r.resize(frames, 0.0);
                let ts = info.timestamp();
                let ahead = ts.playback.saturating_duration_since(ts.callback);
                latency.store(ahead.as_secs_f64().to_bits(), Ordering::Relaxed);
                feed.fill(&mut l, &mut r, Instant::now() + ahead);
                for (i, frame) in out.chunks_mut(channels).enumerate() {
                    if channels == 1 {
                        frame[0] = T::from_sample((l[i] + r[i]) * 0.5);
                        continue;
                    }
                    for (c, s) in frame.iter_mut().enumerate() {
                        *s = T::from_sample(match c {
                            0 => l[i],
                            1 => r[i],
                            _ => 0.0,
                        });
                    }
                }
            },
            |e| tracing::warn!("audio device: {e}"),
            None,
        )
        .map_err(|e| format!("the audio device refused the stream: {e}"))
}
