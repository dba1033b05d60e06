//! The console's cost, measured: follow a plan exactly as the console does (state updates every frame, a full draw
//! at the console's frame rate, samples every second), drawing into an off-screen 120x40 buffer.
use std::time::Duration;

use super::app::{App, Msg, RunState, Screen, update};
use crate::engine::run::plan::{ImportReport, PlanEvent, PlanHandle};

pub async fn follow(handle: PlanHandle) -> anyhow::Result<ImportReport> {
    let metrics = handle.metrics.clone();
    let (mut events, mut task) = handle.into_parts();
    let mut app = App::new("bench".into(), String::new(), Vec::new(), None);
    app.screen = Screen::Run;
    app.run = RunState::Running;
    update(&mut app, Msg::ImportStarted(metrics.snapshot()));
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40))?;
    let mut draw = tokio::time::interval(Duration::from_millis(50));
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    let joined = loop {
        tokio::select! {
            r = &mut task => break r,
            _ = draw.tick() => {
                while let Ok(ev) = events.try_recv() {
                    if let PlanEvent::Import(ev) = ev {
                        update(&mut app, Msg::Engine(ev));
                    }
                }
                update(&mut app, Msg::Frame(metrics.snapshot()));
                terminal.draw(|f| super::ui::render(f, &app))?;
            }
            _ = sample.tick() => {
                update(&mut app, Msg::Sample(Some(metrics.snapshot())));
            }
        }
    };
    Ok(joined??)
}
