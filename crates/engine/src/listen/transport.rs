//! Playing in real time: one slot per output that holds at most one file, so that starting a file replaces the one
//! playing (two never play at once), and a playhead that follows what is heard, not what was computed.
//!
//! [`SynthFeed`] is pulled by an audio device's callback (the front end owns the device); [`PortPlayer`] is a
//! thread of its own that sends each message at its time to a [`MidiSink`] (the front end's MIDI port).
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustysynth::SoundFont;

use super::performance::Performance;
use super::synth::{Renderer, SynthOptions};

/// Where playback is, as the screen shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Playhead {
    /// The request this playback answers.
    pub id: u64,
    /// Seconds into the file of what is heard now.
    pub seconds: f64,
    pub duration: f64,
    /// The file played to its end (or the output failed) and nothing sounds any more.
    pub ended: bool,
}

/// What the front end asks of whichever output it chose.
pub trait Transport: Send + Sync {
    /// Play `perf` from `from` seconds as request `id`, replacing whatever plays. A request older than the newest
    /// one asked for ([`Requests`]) is the caller's to drop.
    fn start(&self, id: u64, perf: Arc<Performance>, from: f64) -> Result<(), String>;
    /// Silence now.
    fn stop(&self);
    /// Where playback is at `now` (`None`: nothing was started since the last stop).
    fn playhead(&self, now: Instant) -> Option<Playhead>;
}

/// Request numbers: a load that finishes after a newer request was made must not start (moving through a list
/// quickly asks for many files; only the last one plays). Starting and stopping hold one lock, so a stale start
/// can never slip in after a newer stop.
#[derive(Debug, Default)]
pub struct Requests {
    latest: Mutex<u64>,
}

impl Requests {
    /// A new request, newer than every earlier one.
    pub fn next(&self) -> u64 {
        let mut l = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        *l += 1;
        *l
    }

    pub fn is_latest(&self, id: u64) -> bool {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) == id
    }

    /// Run `f` if `id` is still the newest request (`None` when a newer one was made).
    pub fn if_latest<T>(&self, id: u64, f: impl FnOnce() -> T) -> Option<T> {
        let l = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        (*l == id).then(f)
    }

    /// Make every earlier request stale and run `f` (a stop) under the same lock.
    pub fn cancel<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut l = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        *l += 1;
        f()
    }
}

/// Where the audio of the last buffer handed to the device is heard: its first frame's position in the file and
/// the instant the device plays it.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    id: u64,
    seconds: f64,
    heard_at: Instant,
    /// Seconds of audio in that buffer.
    length: f64,
}

struct FeedState {
    current: Option<(u64, Renderer)>,
    anchor: Option<Anchor>,
    /// The request whose file ended (kept for the playhead until the next start or stop).
    ended: Option<(u64, f64)>,
}

/// The synthesizer's side of an audio device: the device's callback calls [`SynthFeed::fill`]; starting, stopping
/// and the playhead are called from anywhere. The callback never waits: when the slot is being swapped it plays
/// one buffer of silence.
pub struct SynthFeed {
    font: Arc<SoundFont>,
    opts: SynthOptions,
    state: Mutex<FeedState>,
}

impl SynthFeed {
    /// A feed at the device's sample rate.
    pub fn new(font: Arc<SoundFont>, sample_rate: u32) -> Self {
        SynthFeed {
            font,
            opts: SynthOptions {
                sample_rate,
                ..SynthOptions::default()
            },
            state: Mutex::new(FeedState {
                current: None,
                anchor: None,
                ended: None,
            }),
        }
    }

    pub fn sample_rate(&self) -> u32 {
        self.opts.sample_rate
    }

    /// The audio callback: render the next `left.len()` frames, the first of which the device plays at
    /// `heard_at`. Silence when nothing plays.
    pub fn fill(&self, left: &mut [f32], right: &mut [f32], heard_at: Instant) {
        let Ok(mut st) = self.state.try_lock() else {
            left.fill(0.0);
            right.fill(0.0);
            return;
        };
        let st = &mut *st;
        let Some((id, r)) = st.current.as_mut() else {
            left.fill(0.0);
            right.fill(0.0);
            return;
        };
        let id = *id;
        st.anchor = Some(Anchor {
            id,
            seconds: r.position(),
            heard_at,
            length: left.len() as f64 / f64::from(self.opts.sample_rate),
        });
        r.render(left, right);
        if r.is_done() {
            let duration = r.performance().duration;
            // The renderer is dropped here, in the callback: it holds no more than a few kilobytes of voices.
            st.current = None;
            st.ended = Some((id, duration));
        }
    }
}

impl Transport for SynthFeed {
    fn start(&self, id: u64, perf: Arc<Performance>, from: f64) -> Result<(), String> {
        // Built outside the lock: the callback keeps playing the old file until the swap.
        let r = Renderer::new(&self.font, perf, &self.opts, from).map_err(|e| e.to_string())?;
        let old = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.ended = None;
            st.anchor = None;
            st.current.replace((id, r))
        };
        drop(old);
        Ok(())
    }

    fn stop(&self) {
        let old = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.ended = None;
            st.anchor = None;
            st.current.take()
        };
        drop(old);
    }

    fn playhead(&self, now: Instant) -> Option<Playhead> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, duration)) = st.ended {
            // The tail may still be heard; the playhead rests at the end.
            return Some(Playhead {
                id,
                seconds: duration,
                duration,
                ended: true,
            });
        }
        let (id, r) = st.current.as_ref()?;
        let duration = r.performance().duration;
        let seconds = match st.anchor {
            // Linear between callbacks, never past what was handed to the device.
            Some(a) if a.id == *id => {
                let since = now
                    .checked_duration_since(a.heard_at)
                    .map_or_else(|| -(a.heard_at.duration_since(now).as_secs_f64()), |d| d.as_secs_f64());
                (a.seconds + since.min(a.length)).max(0.0)
            }
            // Started, not yet pulled by the device: where it starts.
            _ => r.position(),
        };
        Some(Playhead {
            id: *id,
            seconds: seconds.min(duration),
            duration,
            ended: false,
        })
    }
}

/// A MIDI output port, as the front end opened it.
pub trait MidiSink: Send {
    fn send(&mut self, msg: &[u8]) -> Result<(), String>;
}

enum PortCmd {
    Start { id: u64, perf: Arc<Performance>, from: f64 },
    Stop,
}

#[derive(Debug, Clone, Copy)]
struct PortClock {
    id: u64,
    /// File seconds at `t0`.
    from: f64,
    t0: Instant,
    duration: f64,
    ended: bool,
}

/// A thread that sends a performance's messages to a MIDI port at their times. Starting another file or stopping
/// silences every channel first (All Sound Off, All Notes Off, Reset All Controllers), so a note of the old file
/// never hangs on the user's synthesizer.
pub struct PortPlayer {
    tx: Mutex<Sender<PortCmd>>,
    clock: Arc<Mutex<Option<PortClock>>>,
    /// The last error the port gave (a disconnected device), for the screen.
    error: Arc<Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Every channel silent: All Sound Off (120), All Notes Off (123), Reset All Controllers (121).
pub fn silence_all(sink: &mut dyn MidiSink) -> Result<(), String> {
    for ch in 0..16u8 {
        for cc in [120u8, 123, 121] {
            sink.send(&[0xb0 | ch, cc, 0])?;
        }
    }
    Ok(())
}

impl PortPlayer {
    pub fn new(mut sink: Box<dyn MidiSink>) -> Self {
        let (tx, rx) = channel::<PortCmd>();
        let clock: Arc<Mutex<Option<PortClock>>> = Arc::new(Mutex::new(None));
        let error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let (c, e) = (clock.clone(), error.clone());
        let thread = std::thread::Builder::new()
            .name("midi-port".into())
            .spawn(move || port_loop(rx, sink.as_mut(), &c, &e))
            .ok();
        PortPlayer {
            tx: Mutex::new(tx),
            clock,
            error,
            thread,
        }
    }

    pub fn last_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn send(&self, cmd: PortCmd) -> Result<(), String> {
        self.tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(cmd)
            .map_err(|_| "the MIDI port's thread has stopped".to_string())
    }
}

impl Drop for PortPlayer {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which silences the port on its way out.
        let (tx, _) = channel();
        drop(std::mem::replace(
            &mut *self.tx.lock().unwrap_or_else(|e| e.into_inner()),
            tx,
        ));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Transport for PortPlayer {
    fn start(&self, id: u64, perf: Arc<Performance>, from: f64) -> Result<(), String> {
        self.send(PortCmd::Start { id, perf, from })
    }

    fn stop(&self) {
        let _ = self.send(PortCmd::Stop);
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn playhead(&self, now: Instant) -> Option<Playhead> {
        let c = (*self.clock.lock().unwrap_or_else(|e| e.into_inner()))?;
        let seconds = if c.ended {
            c.duration
        } else {
            (c.from + now.saturating_duration_since(c.t0).as_secs_f64()).min(c.duration)
        };
        Some(Playhead {
            id: c.id,
            seconds,
            duration: c.duration,
            ended: c.ended,
        })
    }
}

fn port_loop(
    rx: Receiver<PortCmd>,
    sink: &mut dyn MidiSink,
    clock: &Mutex<Option<PortClock>>,
    error: &Mutex<Option<String>>,
) {
    let fail = |e: String| {
        tracing::warn!("MIDI port: {e}");
        *error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    };
    let mut playing: Option<(Arc<Performance>, usize, Instant, f64)> = None;
    loop {
        // Wait for a command, or until the next message is due.
        let cmd = match &playing {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((perf, next, t0, from)) => match perf.events.get(*next) {
                Some(e) => {
                    let due = *t0 + Duration::from_secs_f64((e.at - from).max(0.0));
                    rx.recv_timeout(due.saturating_duration_since(Instant::now()))
                }
                None => {
                    // Every message sent: the file ends at its length.
                    let end = *t0 + Duration::from_secs_f64((perf.duration - from).max(0.0));
                    rx.recv_timeout(end.saturating_duration_since(Instant::now()))
                }
            },
        };
        match cmd {
            Ok(PortCmd::Start { id, perf, from }) => {
                if let Err(e) = silence_all(sink) {
                    fail(e);
                }
                let from = from.clamp(0.0, perf.duration);
                for e in perf.state_before(from) {
                    if let Err(e) = sink.send(e.bytes()) {
                        fail(e);
                        break;
                    }
                }
                let t0 = Instant::now();
                *clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(PortClock {
                    id,
                    from,
                    t0,
                    duration: perf.duration,
                    ended: false,
                });
                let next = perf.index_at(from);
                playing = Some((perf, next, t0, from));
            }
            Ok(PortCmd::Stop) => {
                if playing.take().is_some()
                    && let Err(e) = silence_all(sink)
                {
                    fail(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                if playing.is_some() {
                    let _ = silence_all(sink);
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                let Some((perf, next, t0, from)) = playing.as_mut() else {
                    continue;
                };
                let now_s = *from + t0.elapsed().as_secs_f64();
                let mut failed = false;
                while let Some(e) = perf.events.get(*next) {
                    if e.at > now_s {
                        break;
                    }
                    if let Err(err) = sink.send(e.bytes()) {
                        fail(err);
                        failed = true;
                        break;
                    }
                    *next += 1;
                }
                if failed || (*next >= perf.events.len() && now_s >= perf.duration) {
                    let _ = silence_all(sink);
                    if let Some(c) = clock.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                        c.ended = true;
                    }
                    playing = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::performance::Event;

    /// What a port was sent, and when.
    type Log = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

    /// A port that records what it is sent and when.
    struct Recorder(Log);

    impl MidiSink for Recorder {
        fn send(&mut self, msg: &[u8]) -> Result<(), String> {
            self.0.lock().unwrap().push((Instant::now(), msg.to_vec()));
            Ok(())
        }
    }

    fn perf(notes: &[(f64, u8)], duration: f64) -> Arc<Performance> {
        let mut events = vec![Event {
            at: 0.0,
            msg: [0xc0, 5, 0],
            len: 2,
        }];
        for &(at, key) in notes {
            events.push(Event {
                at,
                msg: [0x90, key, 100],
                len: 3,
            });
            events.push(Event {
                at: at + 0.01,
                msg: [0x80, key, 0],
                len: 3,
            });
        }
        events.sort_by(|a, b| a.at.total_cmp(&b.at));
        Arc::new(Performance {
            events,
            duration,
            truncated: false,
        })
    }

    fn silenced(msgs: &[(Instant, Vec<u8>)]) -> usize {
        msgs.iter().filter(|(_, m)| m[0] & 0xf0 == 0xb0 && m[1] == 123).count()
    }

    #[test]
    fn the_port_gets_each_message_at_its_time_and_silence_between_files() {
        let got: Log = Arc::default();
        let port = PortPlayer::new(Box::new(Recorder(got.clone())));
        let t0 = Instant::now();
        port.start(1, perf(&[(0.05, 60), (0.15, 62), (0.6, 64)], 0.7), 0.0)
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let head = port.playhead(Instant::now()).unwrap();
        assert_eq!(head.id, 1);
        assert!((head.seconds - 0.3).abs() < 0.05, "{head:?}");
        // Another file before the first one's last note: every channel silenced, then the new file from its state.
        port.start(2, perf(&[(0.02, 70)], 0.1), 0.0).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        let msgs = got.lock().unwrap().clone();
        let ons: Vec<(f64, u8)> = msgs
            .iter()
            .filter(|(_, m)| m[0] == 0x90)
            .map(|(t, m)| (t.duration_since(t0).as_secs_f64(), m[1]))
            .collect();
        assert_eq!(
            ons.iter().map(|o| o.1).collect::<Vec<_>>(),
            vec![60, 62, 70],
            "64 never sounds: {ons:?}"
        );
        assert!(
            (ons[0].0 - 0.05).abs() < 0.03 && (ons[1].0 - 0.15).abs() < 0.03,
            "{ons:?}"
        );
        let switch = msgs.iter().position(|(_, m)| m[0] == 0x90 && m[1] == 70).unwrap();
        let silence_before = silenced(&msgs[..switch]);
        assert!(
            silence_before >= 32,
            "16 channels silenced at start and at the switch: {silence_before}"
        );
        let last_start = msgs[..switch].iter().rposition(|(_, m)| m[0] == 0xc0).unwrap();
        assert!(
            silenced(&msgs[..last_start]) >= 32,
            "the old file's notes are released before the new file's program"
        );
        // The second file ended: silence, and the playhead says so.
        let end = port.playhead(Instant::now()).unwrap();
        assert!(end.ended && end.id == 2, "{end:?}");
        assert!(silenced(&msgs[switch..]) >= 16);
        drop(port);
    }

    #[test]
    fn stop_and_a_seek_start_silent_from_the_state_there() {
        let got: Log = Arc::default();
        let port = PortPlayer::new(Box::new(Recorder(got.clone())));
        port.start(1, perf(&[(0.0, 60), (0.5, 62)], 1.0), 0.3).unwrap();
        std::thread::sleep(Duration::from_millis(80));
        port.stop();
        std::thread::sleep(Duration::from_millis(500));
        let msgs = got.lock().unwrap().clone();
        assert!(
            msgs.iter().any(|(_, m)| m[..] == [0xc0, 5]),
            "the program before the seek point is sent"
        );
        assert!(
            !msgs.iter().any(|(_, m)| m[0] == 0x90),
            "no note: 60 was before the seek, 62 after the stop"
        );
        assert!(port.playhead(Instant::now()).is_none());
        assert!(silenced(&msgs) >= 32, "silence at the start and at the stop");
    }

    #[test]
    fn requests_let_only_the_newest_start() {
        let r = Requests::default();
        let a = r.next();
        let b = r.next();
        assert_eq!(r.if_latest(a, || 1), None);
        assert_eq!(r.if_latest(b, || 2), Some(2));
        r.cancel(|| ());
        assert_eq!(r.if_latest(b, || 3), None, "a stop makes the pending start stale");
    }
}
