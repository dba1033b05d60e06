//! Listening: a General MIDI SoundFont found on the system, a MIDI file as timed channel messages, the built-in
//! synthesizer (rustysynth) that renders them offline or for an audio device, and the transports that play one
//! file at a time to an audio device or a MIDI port. No device is opened here: the front ends own the devices.
pub mod performance;
pub mod soundfont;
pub mod synth;
pub mod transport;

pub use performance::{Event, Performance, PerformanceError, load_performance, read_performance};
pub use soundfont::{ENV_SOUNDFONT, FontError, FontOrigin, FoundFont, find_soundfont, load_soundfont};
pub use synth::{RenderReport, Renderer, SynthError, SynthOptions, render_blocks, render_wav};
pub use transport::{MidiSink, Playhead, PortPlayer, Requests, SynthFeed, Transport, silence_all};
