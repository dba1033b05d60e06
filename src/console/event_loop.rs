//! The one `tokio::select!` loop: terminal events, the draw tick, the sampling tick, engine updates and the
//! results of spawned tasks all become `Msg`s for `update`; the `Effect`s it returns are executed here.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::MissedTickBehavior;

use super::app::{App, Effect, Msg, update};
use super::browser::BrowserEffect;
use super::keymap;
use super::listen::{ListenEffect, ListenMsg, TICK};
use super::tasks::{self, Incoming, Tx};
use super::{system, ui};
use crate::engine::run::plan::{PlanEvent, PlanHandle};
use crate::engine::run::session::Engine;

/// About 15 frames a second.
const FRAME: Duration = Duration::from_millis(66);
/// One sample a second feeds the ring buffers.
const SAMPLE: Duration = Duration::from_secs(1);

/// Executes effects; owns what `App` must not (the engine, the import handle, the channel).
struct Runner {
    engine: Engine,
    poll: Engine,
    /// The library browser's own connection.
    browse: Engine,
    tx: Tx,
    import: Option<PlanHandle>,
    /// Pause or cancel asked before the import's handle arrived.
    pending_pause: Option<bool>,
    pending_cancel: bool,
    disk_path: system::DiskPath,
    /// The open listening output (its device closes when dropped) and the file last played.
    output: Option<crate::listen::OpenOutput>,
    held: tasks::HeldFile,
}

impl Runner {
    fn dispatch(&mut self, app: &mut App, msg: Msg) {
        for effect in update(app, msg) {
            self.execute(effect);
        }
    }

    fn execute(&mut self, effect: Effect) {
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        match effect {
            Effect::CheckSource(typed) => tasks::spawn_check_source(typed, tx),
            Effect::CompletePath { target, typed } => tasks::spawn_complete(target, typed, tx),
            Effect::ChooseMode(sources) => tasks::spawn_choose_mode(engine, sources, tx),
            Effect::ApplyLevel {
                level,
                confirmed,
                backup,
            } => tasks::spawn_apply(engine, level, confirmed, backup, tx),
            Effect::CrashCost => tasks::spawn_crash_cost(engine, tx),
            Effect::RevertLevel(level) => tasks::spawn_revert(engine, level, tx),
            Effect::RestoreSafety => tasks::spawn_restore(engine, tx),
            Effect::RebuildIndexes => tasks::spawn_rebuild(engine, tx),
            Effect::StartImport {
                sources,
                mode,
                confirmed,
                backup,
            } => {
                self.pending_pause = None;
                self.pending_cancel = false;
                tasks::spawn_import(engine, sources, mode, confirmed, backup, tx)
            }
            Effect::SetPaused(p) => match &self.import {
                Some(h) => h.control.set_paused(p),
                None => self.pending_pause = Some(p),
            },
            Effect::CancelImport => match &self.import {
                Some(h) => {
                    h.control.set_paused(false);
                    h.control.cancel_because("cancelled in the console");
                }
                None => self.pending_cancel = true,
            },
            Effect::Poll => tasks::spawn_poll(self.poll.clone(), self.disk_path.clone(), tx),
            Effect::Browser(e) => self.browse(e),
            Effect::Listen(e) => self.listen(e),
            Effect::Quit => {}
        }
    }

    fn listen(&mut self, effect: ListenEffect) {
        let tx = self.tx.clone();
        match effect {
            ListenEffect::Probe(soundfont) => tasks::spawn_listen_probe(soundfont, tx),
            ListenEffect::Open(choice, probe) => {
                self.close_output();
                tasks::spawn_open_output(choice, *probe, tx);
            }
            ListenEffect::Close => self.close_output(),
            ListenEffect::Play {
                selection,
                content_hash,
                locations,
                from,
            } => match &self.output {
                Some(out) => {
                    let job = tasks::PlayJob {
                        id: out.player.request(),
                        player: out.player.clone(),
                        held: self.held.clone(),
                        selection,
                        content_hash,
                        locations,
                        from,
                    };
                    tasks::spawn_play(job, tx);
                }
                None => {
                    let result = Err("no output is open".to_string());
                    let _ = tx.send(Incoming::Msg(Box::new(Msg::Listen(ListenMsg::Started {
                        selection,
                        result,
                    }))));
                }
            },
            ListenEffect::Stop => {
                if let Some(out) = &self.output {
                    out.player.stop();
                }
            }
            ListenEffect::Render {
                content_hash,
                locations,
                name,
                font,
            } => tasks::spawn_render(font, content_hash, locations, name, tx),
        }
    }

    /// Stop and close the open output; the device is released off the loop (closing can wait for its thread).
    fn close_output(&mut self) {
        if let Some(out) = self.output.take() {
            out.player.stop();
            tokio::task::spawn_blocking(move || drop(out));
        }
    }

    /// An output opened: kept when it is still the one chosen, else closed again.
    fn adopt_output(
        &mut self,
        app: &mut App,
        choice: crate::listen::OutputChoice,
        opened: Result<crate::listen::OpenOutput, String>,
    ) {
        if choice != app.listen.choice() || app.listen.output != super::listen::OutputState::Opening {
            if let Ok(out) = opened {
                tokio::task::spawn_blocking(move || drop(out));
            }
            return;
        }
        let answer = match opened {
            Ok(out) => {
                let name = out.player.name.clone();
                self.output = Some(out);
                Ok(name)
            }
            Err(e) => Err(e),
        };
        self.dispatch(app, Msg::Listen(ListenMsg::Opened(answer)));
    }

    fn browse(&mut self, effect: BrowserEffect) {
        let (engine, tx) = (self.browse.clone(), self.tx.clone());
        match effect {
            BrowserEffect::After(delay, timer) => tasks::spawn_timer(delay, timer, tx),
            BrowserEffect::Search {
                generation,
                query,
                sort,
                after,
            } => tasks::spawn_search(engine, generation, query, sort, after, tx),
            BrowserEffect::Detail {
                selection,
                content_hash,
            } => tasks::spawn_detail(engine, selection, content_hash, tx),
            BrowserEffect::Notes {
                selection,
                content_hash,
                locations,
            } => tasks::spawn_notes(selection, content_hash, locations, tx),
            BrowserEffect::Count { generation, query } => tasks::spawn_count(engine, generation, query, tx),
            BrowserEffect::Dupes { generation, of } => tasks::spawn_dupes(engine, generation, of, tx),
            // The export reads the whole query and many files: on the main engine's pool, not the browser's one
            // connection, so that browsing goes on meanwhile.
            BrowserEffect::Export {
                query,
                out,
                manifest,
                all_locations,
                split,
            } => tasks::spawn_export(self.engine.clone(), query, (out, manifest), all_locations, split, tx),
            // Many batches over the whole library: on the main pool too.
            BrowserEffect::Features => tasks::spawn_features(self.engine.clone(), tx),
        }
    }

    fn adopt(&mut self, handle: PlanHandle) {
        if let Some(p) = self.pending_pause.take() {
            handle.control.set_paused(p);
        }
        if std::mem::take(&mut self.pending_cancel) {
            handle.control.cancel_because("cancelled in the console");
        }
        self.import = Some(handle);
    }

    /// Once a frame: the counters, every queued plan event, and the end of the run.
    fn drain_engine(&mut self, app: &mut App) {
        let Some(h) = self.import.as_mut() else { return };
        let snapshot = h.metrics.snapshot();
        let mut events = Vec::new();
        while let Ok(ev) = h.events.try_recv() {
            events.push(ev);
        }
        let finished = h.is_finished();
        let metrics = h.metrics.clone();
        self.dispatch(app, Msg::Frame(snapshot));
        self.plan_events(app, events, &metrics);
        if finished && let Some(h) = self.import.take() {
            // The task has ended, so every event it sent is queued: drain them before its end.
            let (mut rest, task) = h.into_parts();
            let mut tail = Vec::new();
            while let Ok(ev) = rest.try_recv() {
                tail.push(ev);
            }
            self.plan_events(app, tail, &metrics);
            self.dispatch(app, Msg::Sample(Some(metrics.snapshot())));
            tasks::spawn_join(task, self.tx.clone());
        }
    }

    fn plan_events(&mut self, app: &mut App, events: Vec<PlanEvent>, metrics: &crate::engine::metrics::RunMetrics) {
        for ev in events {
            if matches!(ev, PlanEvent::ImportStarted) {
                // Counters start at zero now: even a run shorter than a sample gets its first rate from zero.
                self.dispatch(app, Msg::ImportStarted(metrics.snapshot()));
            }
            self.dispatch(app, Msg::Plan(ev));
        }
    }
}

/// Run the console until the user quits.
pub async fn run_loop(terminal: &mut DefaultTerminal, engine: Engine, mut app: App) -> anyhow::Result<()> {
    let (tx, mut rx) = unbounded_channel::<Incoming>();
    let engine_dir = engine.data_dir().to_path_buf();
    // Without a terminal's keys, these are how a console is told to stop: cancel the run cleanly and quit.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut runner = Runner {
        poll: tasks::poll_engine(&engine),
        browse: tasks::browse_engine(&engine),
        engine,
        tx: tx.clone(),
        import: None,
        pending_pause: None,
        pending_cancel: false,
        disk_path: Arc::new(Mutex::new(engine_dir)),
        output: None,
        held: Arc::default(),
    };
    {
        let tx = tx.clone();
        system::spawn_sampler(runner.disk_path.clone(), SAMPLE, move |s| {
            tx.send(Incoming::Msg(Box::new(Msg::System(s)))).is_ok()
        });
    }
    {
        let tx = tx.clone();
        let engine = runner.engine.poll_copy(Duration::from_secs(5));
        tokio::spawn(async move {
            let facts = crate::engine::doctor::DoctorFacts::gather(Some(&engine), None).await;
            let _ = tx.send(Incoming::Msg(Box::new(Msg::Doctor(Box::new(facts)))));
        });
    }
    let mut events = EventStream::new();
    let mut draw = tokio::time::interval(FRAME);
    draw.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sample = tokio::time::interval(SAMPLE);
    sample.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut listen_tick = tokio::time::interval(TICK);
    listen_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    terminal.draw(|f| ui::render(f, &app))?;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => {
                    if let Some(key) = keymap::key_of(&k) {
                        runner.dispatch(&mut app, Msg::Key(key));
                    }
                }
                Some(Ok(Event::Resize(..))) => terminal.autoresize()?,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::error!("terminal input failed: {e}");
                    return Err(e.into());
                }
                None => break,
            },
            _ = draw.tick() => {
                runner.drain_engine(&mut app);
                terminal.draw(|f| ui::render(f, &app))?;
            }
            // While a file plays: its playhead, and a frame with it.
            _ = listen_tick.tick(), if app.listen.wants_ticks() => {
                let playhead = runner.output.as_ref().and_then(|o| o.player.playhead());
                runner.dispatch(&mut app, Msg::Listen(ListenMsg::Tick(playhead)));
                terminal.draw(|f| ui::render(f, &app))?;
            }
            _ = sample.tick() => {
                let snapshot = runner.import.as_ref().map(|h| h.metrics.snapshot());
                runner.dispatch(&mut app, Msg::Sample(snapshot));
            }
            _ = sigterm.recv() => {
                tracing::warn!("SIGTERM: cancelling the run (if any) and quitting");
                break;
            }
            _ = sighup.recv() => {
                tracing::warn!("SIGHUP (terminal gone): cancelling the run (if any) and quitting");
                break;
            }
            Some(incoming) = rx.recv() => match incoming {
                Incoming::Msg(m) => runner.dispatch(&mut app, *m),
                Incoming::Plan(h) => runner.adopt(h),
                Incoming::Output(choice, opened) => runner.adopt_output(&mut app, choice, *opened),
            },
        }
        if app.should_quit {
            break;
        }
    }
    // A run cancelled on quit has been joined (ImportEnded) before should_quit was set; after a signal it is
    // cancelled here (flushed, marked interrupted). A profile operation still running stops with the runtime,
    // its journal entries intact, so restore-safety can finish the job.
    if let Some(h) = runner.import.take() {
        h.control.cancel_because("the console was closed (SIGTERM or SIGHUP)");
        let _ = h.join().await;
    }
    Ok(())
}
