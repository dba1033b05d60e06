//! Listening in the library browser: the output chosen, the file asked for, the playhead. Pure like `browser`: the
//! loop opens devices, loads files and reads the playhead, and answers with `ListenMsg`s.
//!
//! Space starts auditioning: the selected file plays, and moving to another file plays that one once its detail
//! is read (the old one stops at once). Space again stops. A file that ends stops the audition.
use std::time::Duration;

use super::browser::{Browser, Slot};
use crate::engine::listen::Playhead;
use crate::listen::{OutputChoice, Probe};

/// The playhead is read and the screen drawn this often while something plays (the drawn playhead is at most this
/// old).
pub const TICK: Duration = Duration::from_millis(25);
/// Seconds `,` and `.` move the playback.
pub const SEEK_STEP: f64 = 5.0;

/// What the listening keys do (bound in the key table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenAction {
    PlayStop,
    SeekBack,
    SeekForward,
    NextOutput,
    Render,
}

/// The chosen output's device.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputState {
    Closed,
    Opening,
    Open(String),
    /// Why it cannot play (no SoundFont, no audio device, a port gone).
    Failed(String),
}

/// The file asked for: the browser's selection it belongs to, and once started its request and length.
#[derive(Debug, Clone, PartialEq)]
pub struct Playing {
    pub selection: u64,
    pub name: String,
    pub started: Option<(u64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    /// `--soundfont`, for the probe.
    pub soundfont: Option<std::path::PathBuf>,
    pub probe: Option<Probe>,
    pub probing: bool,
    /// Index into the probe's choices.
    pub choice: usize,
    pub output: OutputState,
    /// Space was pressed: the selected file plays.
    pub auditioning: bool,
    pub playing: Option<Playing>,
    /// Where the next start begins (a seek, or the place an output switch left).
    pub resume_from: f64,
    pub playhead: Option<Playhead>,
    /// A file being rendered to WAV.
    pub rendering: Option<String>,
    /// The last outcome worth a line (why nothing plays, where a render went).
    pub message: Option<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            soundfont: None,
            probe: None,
            probing: false,
            choice: 0,
            output: OutputState::Closed,
            auditioning: false,
            playing: None,
            resume_from: 0.0,
            playhead: None,
            rendering: None,
            message: None,
        }
    }
}

/// Work for the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenEffect {
    /// Look for a SoundFont and the MIDI ports.
    Probe(Option<std::path::PathBuf>),
    /// Close whatever output is open and open this one.
    Open(OutputChoice, Box<Probe>),
    /// Close the open output.
    Close,
    Play {
        selection: u64,
        content_hash: String,
        locations: Vec<String>,
        from: f64,
    },
    Stop,
    Render {
        content_hash: String,
        locations: Vec<String>,
        name: String,
        font: Result<crate::engine::listen::FoundFont, String>,
    },
}

/// Answers for the listening state.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenMsg {
    Probed(Probe),
    /// The output opened (its name), or why not.
    Opened(Result<String, String>),
    /// A file started (its request and length), or why not.
    Started {
        selection: u64,
        result: Result<(u64, f64), String>,
    },
    Tick(Option<Playhead>),
    /// Where a render went and what it took, or why it failed.
    Rendered(Result<String, String>),
}

impl Listen {
    /// The output chosen now.
    pub fn choice(&self) -> OutputChoice {
        self.probe
            .as_ref()
            .and_then(|p| p.choices().get(self.choice).cloned())
            .unwrap_or(OutputChoice::Synth)
    }

    /// The chosen output as the screen names it.
    pub fn output_label(&self) -> String {
        match (&self.output, self.choice()) {
            (OutputState::Open(name), _) => name.clone(),
            (_, OutputChoice::Synth) => match self.probe.as_ref().map(|p| &p.font) {
                Some(Ok(f)) => format!("synth {} → audio device", f.name()),
                _ => "synth → audio device".into(),
            },
            (_, OutputChoice::Port(p)) => p.label(),
        }
    }

    /// Another output than the chosen one to switch to (`o`); before the probe, `o` looks for them.
    fn other_outputs(&self) -> bool {
        self.probe.as_ref().is_none_or(|p| p.choices().len() > 1)
    }

    /// What works instead when the chosen output cannot play: another output where there is one, and rendering.
    fn alternatives(&self) -> &'static str {
        match self.choice() {
            OutputChoice::Port(_) => "o: another output, w: render to WAV",
            OutputChoice::Synth if self.other_outputs() => "o: a MIDI port, w: render to WAV",
            OutputChoice::Synth => "w: render to WAV",
        }
    }

    /// Whether `action` does something now: the footer and the listening line show only these, and the others
    /// answer with `why_not`.
    pub fn available(&self, action: ListenAction, b: &Browser) -> bool {
        match action {
            ListenAction::PlayStop => self.auditioning || b.selected_hash().is_some(),
            ListenAction::SeekBack | ListenAction::SeekForward => {
                self.playing.as_ref().is_some_and(|p| p.started.is_some())
            }
            ListenAction::NextOutput => self.other_outputs(),
            ListenAction::Render => self.rendering.is_none() && selected_file(b).is_some(),
        }
    }

    /// What a listening key that is not available says.
    pub fn why_not(&self, action: ListenAction, b: &Browser) -> String {
        match action {
            ListenAction::PlayStop => "no file selected to play".into(),
            ListenAction::SeekBack | ListenAction::SeekForward => match &self.playing {
                Some(p) => format!("{} is still loading", p.name),
                None => "nothing plays: Space plays the selected file".into(),
            },
            ListenAction::NextOutput => match self.probe.as_ref().map(|p| &p.ports) {
                Some(Err(e)) => format!("no other output: {e}"),
                _ => "no other output: no MIDI port found".into(),
            },
            ListenAction::Render if self.rendering.is_some() => "a render is under way".into(),
            ListenAction::Render if b.selected_hash().is_some() => {
                "the file is still being read: w renders it once its detail shows".into()
            }
            ListenAction::Render => "no file to render: select one".into(),
        }
    }

    /// Ticks are wanted: something plays or is about to.
    pub fn wants_ticks(&self) -> bool {
        self.playing.as_ref().is_some_and(|p| p.started.is_some())
    }

    /// The playhead of the selected file, if it is the one playing.
    pub fn playhead_of(&self, selection: u64) -> Option<f64> {
        let p = self.playing.as_ref()?;
        if p.selection != selection {
            return None;
        }
        let (id, _) = p.started?;
        self.playhead.filter(|h| h.id == id).map(|h| h.seconds)
    }

    pub fn on_action(&mut self, action: ListenAction, b: &Browser) -> Vec<ListenEffect> {
        match action {
            ListenAction::PlayStop => {
                if self.auditioning {
                    self.auditioning = false;
                    self.playing = None;
                    self.playhead = None;
                    self.resume_from = 0.0;
                    return vec![ListenEffect::Stop];
                }
                self.auditioning = true;
                self.message = None;
                self.resume_from = 0.0;
                if matches!(self.output, OutputState::Failed(_)) {
                    // Try again: a device may have come back, or the user fixed the SoundFont.
                    self.output = OutputState::Closed;
                    self.probe = None;
                }
                self.reconcile(b)
            }
            ListenAction::SeekBack | ListenAction::SeekForward => {
                let Some(p) = &self.playing else { return vec![] };
                let Some((id, duration)) = p.started else { return vec![] };
                let now = self.playhead.filter(|h| h.id == id).map_or(0.0, |h| h.seconds);
                let step = if action == ListenAction::SeekBack {
                    -SEEK_STEP
                } else {
                    SEEK_STEP
                };
                self.resume_from = (now + step).clamp(0.0, duration);
                // Played again from there (the file is held, so this is a swap, not a read).
                self.playing = None;
                self.reconcile(b)
            }
            ListenAction::NextOutput => {
                let n = self.probe.as_ref().map_or(1, |p| p.choices().len());
                self.choice = (self.choice + 1) % n.max(1);
                self.output = OutputState::Closed;
                self.message = None;
                let mut out = vec![ListenEffect::Close];
                if let Some(p) = &self.playing
                    && let Some((id, _)) = p.started
                {
                    // The new output goes on where the old one was.
                    self.resume_from = self.playhead.filter(|h| h.id == id).map_or(0.0, |h| h.seconds);
                }
                self.playing = None;
                self.playhead = None;
                if self.probe.is_none() && !self.probing {
                    self.probing = true;
                    out.push(ListenEffect::Probe(self.soundfont.clone()));
                }
                out.extend(self.reconcile(b));
                out
            }
            ListenAction::Render => {
                let Some((hash, locations, name)) = selected_file(b) else {
                    self.message = Some("no file to render: select one whose detail is shown".into());
                    return vec![];
                };
                if self.rendering.is_some() {
                    self.message = Some("a render is under way".into());
                    return vec![];
                }
                let Some(probe) = &self.probe else {
                    self.probing = true;
                    self.message = Some("looking for a SoundFont…".into());
                    return vec![ListenEffect::Probe(self.soundfont.clone())];
                };
                self.rendering = Some(name.clone());
                self.message = None;
                vec![ListenEffect::Render {
                    content_hash: hash,
                    locations,
                    name,
                    font: probe.font.clone(),
                }]
            }
        }
    }

    /// Bring what plays in line with what is wanted: the output open, the selected file playing once its detail is
    /// read, nothing else. Called after every browser and listening change.
    pub fn reconcile(&mut self, b: &Browser) -> Vec<ListenEffect> {
        if !self.auditioning {
            return vec![];
        }
        let Some(probe) = &self.probe else {
            if self.probing {
                return vec![];
            }
            self.probing = true;
            return vec![ListenEffect::Probe(self.soundfont.clone())];
        };
        match &self.output {
            OutputState::Closed => {
                self.output = OutputState::Opening;
                return vec![ListenEffect::Open(self.choice(), Box::new(probe.clone()))];
            }
            OutputState::Opening => return vec![],
            OutputState::Failed(_) => {
                self.auditioning = false;
                return vec![];
            }
            OutputState::Open(_) => {}
        }
        if self.playing.as_ref().is_some_and(|p| p.selection == b.selection) {
            return vec![];
        }
        match selected_file(b) {
            Some((content_hash, locations, name)) => {
                let from = std::mem::take(&mut self.resume_from);
                self.playing = Some(Playing {
                    selection: b.selection,
                    name,
                    started: None,
                });
                self.playhead = None;
                vec![ListenEffect::Play {
                    selection: b.selection,
                    content_hash,
                    locations,
                    from,
                }]
            }
            // Another file is selected and not yet read: the old one stops now, the new one plays when read.
            None if self.playing.is_some() => {
                self.playing = None;
                self.playhead = None;
                vec![ListenEffect::Stop]
            }
            None => vec![],
        }
    }

    pub fn on_msg(&mut self, msg: ListenMsg, b: &mut Browser) -> Vec<ListenEffect> {
        match msg {
            ListenMsg::Probed(p) => {
                self.probing = false;
                let no_font = p.font.as_ref().err().cloned();
                self.probe = Some(p);
                if let (OutputChoice::Synth, Some(e)) = (self.choice(), no_font) {
                    // Said once, with what works instead.
                    self.message = Some(format!("{e} — {}", self.alternatives()));
                }
                self.reconcile(b)
            }
            ListenMsg::Opened(Ok(name)) => {
                self.output = OutputState::Open(name);
                self.reconcile(b)
            }
            ListenMsg::Opened(Err(e)) => {
                self.message = Some(format!("{e} — {}", self.alternatives()));
                self.output = OutputState::Failed(e);
                self.auditioning = false;
                self.playing = None;
                vec![]
            }
            ListenMsg::Started { selection, result } => {
                let Some(p) = self.playing.as_mut().filter(|p| p.selection == selection) else {
                    return vec![];
                };
                match result {
                    Ok(started) => p.started = Some(started),
                    Err(e) => {
                        // This file cannot be played; moving on plays the next one.
                        self.message = Some(format!("cannot play {}: {e}", p.name));
                        p.started = None;
                    }
                }
                vec![]
            }
            ListenMsg::Tick(h) => {
                self.playhead = h;
                let Some(h) = h else { return vec![] };
                let Some(p) = &self.playing else { return vec![] };
                if p.started.map(|s| s.0) != Some(h.id) {
                    return vec![];
                }
                if h.ended {
                    self.auditioning = false;
                    self.playing = None;
                    return vec![ListenEffect::Stop];
                }
                follow(b, h.seconds, h.duration);
                vec![]
            }
            ListenMsg::Rendered(r) => {
                self.rendering = None;
                self.message = Some(match r {
                    Ok(text) => text,
                    Err(e) => format!("render failed: {e}"),
                });
                vec![]
            }
        }
    }
}

/// Keep the playhead in the piano roll's window: when it leaves, the window moves so it sits near the left edge.
fn follow(b: &mut Browser, t: f64, duration: f64) {
    let span = b.view.span(duration);
    if t < b.view.start || t >= b.view.start + span {
        b.view.start = t - span / 8.0;
        b.view.clamp(duration);
    }
}

/// The selected file's hash, locations and name, once its detail is read: a result, or a row of the duplicates
/// view (its location's file name).
fn selected_file(b: &Browser) -> Option<(String, Vec<String>, String)> {
    let hash = b.selected_hash()?;
    let Slot::Ready(d) = &b.detail else { return None };
    if d.content_hash != hash {
        return None;
    }
    let name = match &b.dupes {
        Some(v) => {
            let path = v.rows.get(v.selected).map_or("", |r| r.text.as_str());
            path.rsplit(['/', '\\']).next().unwrap_or(path).to_string()
        }
        None => b.selected_hit()?.filename.clone(),
    };
    Some((
        d.content_hash.clone(),
        d.locations.iter().map(|l| l.path.clone()).collect(),
        name,
    ))
}

#[cfg(test)]
mod tests;
