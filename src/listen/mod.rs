//! The devices listening needs, for the console and the bench: the audio device (cpal) that pulls the engine's
//! synthesizer, and MIDI output ports (midir). The engine does the rest (SoundFonts, the synthesizer, timing).
pub mod audio;
pub mod port;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::engine::listen::{
    FoundFont, Performance, Playhead, PortPlayer, Requests, Transport, find_soundfont, load_soundfont,
};
use audio::AudioOut;
pub use port::PortChoice;

/// The outputs the user chooses between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputChoice {
    /// The built-in synthesizer to the audio device.
    Synth,
    Port(PortChoice),
}

/// What this machine offers for listening, probed once off the UI thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The SoundFont found, or why none.
    pub font: Result<FoundFont, String>,
    /// The MIDI output ports, or why there are none.
    pub ports: Result<Vec<String>, String>,
}

impl Probe {
    /// Look for a SoundFont (`given`: `--soundfont`) and the MIDI ports. Blocking.
    pub fn run(given: Option<PathBuf>) -> Probe {
        Probe {
            font: find_soundfont(given.as_deref()).map_err(|e| e.to_string()),
            ports: port::list_ports(),
        }
    }

    /// Every output the user may pick, the synthesizer first (even without a SoundFont: choosing it says why it
    /// cannot play), then each port, then a port of our own where the sequencer is there.
    pub fn choices(&self) -> Vec<OutputChoice> {
        let mut out = vec![OutputChoice::Synth];
        if let Ok(ports) = &self.ports {
            out.extend(ports.iter().map(|p| OutputChoice::Port(PortChoice::Named(p.clone()))));
            if cfg!(unix) {
                out.push(OutputChoice::Port(PortChoice::Virtual));
            }
        }
        out
    }
}

/// A playing output: one transport, one request counter. Clones share both (the loaders hold one).
#[derive(Clone)]
pub struct Player {
    requests: Arc<Requests>,
    transport: Arc<dyn Transport>,
    /// The output as the screen names it.
    pub name: String,
}

/// An open output and what keeps its device alive (dropping it closes the device).
pub struct OpenOutput {
    pub player: Player,
    /// The audio device (None for a MIDI port).
    pub audio: Option<AudioOut>,
}

impl OpenOutput {
    /// The synthesizer with `font` to the audio device (`MIDI_TUI_AUDIO=null`: the silent device). Blocking:
    /// loads the SoundFont (once per process) and opens the device.
    pub fn synth(font: &FoundFont) -> Result<OpenOutput, String> {
        let sf = load_soundfont(font).map_err(|e| e.to_string())?;
        let audio = AudioOut::open(sf)?;
        Ok(OpenOutput::from_audio(audio, &font.name()))
    }

    /// An already open audio output (the bench and tests build the silent device themselves).
    pub fn from_audio(audio: AudioOut, font_name: &str) -> OpenOutput {
        let transport: Arc<dyn Transport> = audio.feed.clone();
        OpenOutput {
            player: Player {
                requests: Arc::new(Requests::default()),
                transport,
                name: format!("synth {font_name} → {}", audio.name),
            },
            audio: Some(audio),
        }
    }

    /// A MIDI port.
    pub fn port(choice: &PortChoice) -> Result<OpenOutput, String> {
        let sink = port::open_port(choice)?;
        Ok(OpenOutput {
            player: Player {
                requests: Arc::new(Requests::default()),
                transport: Arc::new(PortPlayer::new(sink)),
                name: choice.label(),
            },
            audio: None,
        })
    }

    /// Open `choice` (the synthesizer needs the probe's SoundFont).
    pub fn open(choice: &OutputChoice, probe: &Probe) -> Result<OpenOutput, String> {
        match choice {
            OutputChoice::Synth => match &probe.font {
                Ok(f) => OpenOutput::synth(f),
                Err(e) => Err(e.clone()),
            },
            OutputChoice::Port(p) => OpenOutput::port(p),
        }
    }
}

impl Player {
    /// A new play request: every earlier one is stale from now on.
    pub fn request(&self) -> u64 {
        self.requests.next()
    }

    /// Start `perf` from `from` as request `id`, unless a newer request was made meanwhile (then `Ok(false)`).
    pub fn start(&self, id: u64, perf: Arc<Performance>, from: f64) -> Result<bool, String> {
        match self.requests.if_latest(id, || self.transport.start(id, perf, from)) {
            Some(r) => r.map(|()| true),
            None => Ok(false),
        }
    }

    /// Stop, and make every request still loading stale.
    pub fn stop(&self) {
        self.requests.cancel(|| self.transport.stop());
    }

    pub fn playhead(&self) -> Option<Playhead> {
        self.transport.playhead(Instant::now())
    }
}
