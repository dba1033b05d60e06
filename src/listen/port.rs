//! MIDI output ports through midir (the ALSA sequencer on Linux): the ports the system offers, and a port of our
//! own (`midi-tui`) that a DAW or synthesizer can subscribe to.
use crate::engine::listen::MidiSink;

use super::audio::quiet_alsa;

/// The client name other programs see.
pub const CLIENT: &str = "midi-tui";
/// The name of the port of our own.
pub const VIRTUAL_PORT: &str = "midi-tui playback";

/// A port to play to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortChoice {
    /// An existing port, by its name.
    Named(String),
    /// A port of our own that others connect to (Linux and macOS).
    Virtual,
}

impl PortChoice {
    pub fn label(&self) -> String {
        match self {
            PortChoice::Named(n) => format!("MIDI port {n}"),
            PortChoice::Virtual => format!("MIDI port of our own ({CLIENT}:{VIRTUAL_PORT})"),
        }
    }
}

/// The output ports the system offers now (our own port excluded), or why there are none.
pub fn list_ports() -> Result<Vec<String>, String> {
    quiet_alsa("listing MIDI ports", || {
        let out = midir::MidiOutput::new(CLIENT).map_err(|e| unavailable(&e.to_string()))?;
        Ok(out
            .ports()
            .iter()
            .filter_map(|p| out.port_name(p).ok())
            .filter(|n| !n.contains(VIRTUAL_PORT))
            .collect())
    })
}

fn unavailable(e: &str) -> String {
    if cfg!(target_os = "linux") && !std::path::Path::new("/dev/snd/seq").exists() {
        "no MIDI ports: this machine has no ALSA sequencer (/dev/snd/seq)".into()
    } else {
        format!("no MIDI ports: {e}")
    }
}

struct Conn(midir::MidiOutputConnection);

impl MidiSink for Conn {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.0.send(msg).map_err(|e| e.to_string())
    }
}

/// Open `choice` for sending.
pub fn open_port(choice: &PortChoice) -> Result<Box<dyn MidiSink>, String> {
    quiet_alsa("opening a MIDI port", || {
        let out = midir::MidiOutput::new(CLIENT).map_err(|e| unavailable(&e.to_string()))?;
        match choice {
            PortChoice::Named(name) => {
                let port = out
                    .ports()
                    .into_iter()
                    .find(|p| out.port_name(p).is_ok_and(|n| &n == name))
                    .ok_or_else(|| format!("the MIDI port {name} is gone"))?;
                let conn = out
                    .connect(&port, VIRTUAL_PORT)
                    .map_err(|e| format!("cannot connect to {name}: {e}"))?;
                Ok(Box::new(Conn(conn)) as Box<dyn MidiSink>)
            }
            PortChoice::Virtual => open_virtual(out),
        }
    })
}

#[cfg(unix)]
fn open_virtual(out: midir::MidiOutput) -> Result<Box<dyn MidiSink>, String> {
    use midir::os::unix::VirtualOutput;
    let conn = out
        .create_virtual(VIRTUAL_PORT)
        .map_err(|e| format!("cannot create the port {VIRTUAL_PORT}: {e}"))?;
    Ok(Box::new(Conn(conn)))
}

#[cfg(not(unix))]
fn open_virtual(_out: midir::MidiOutput) -> Result<Box<dyn MidiSink>, String> {
    Err("a port of our own needs Linux or macOS: choose an existing port".into())
}
