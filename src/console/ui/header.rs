//! The header (database target, mode, SAFE / RELAXED / UNSAFE badge) and the banner line under it.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bold, danger, truncate, truncate_left};
use crate::console::app::{App, RunState, Screen, ServerState};
use crate::engine::human::{count, counted};
use crate::engine::profile::{Badge, SafetyState};

/// " · shared run 12: 3 importers, 40/120 units" for each run still going, newest first; empty without one.
fn shared_runs_text(app: &App) -> String {
    let Some(polled) = app.db.polled.as_ref() else {
        return String::new();
    };
    polled
        .shared_runs
        .iter()
        .map(|r| {
            let total = if r.scan_done {
                count(r.units)
            } else {
                format!("{}+", count(r.units))
            };
            format!(
                " · shared run {} ({}): {}, {}/{total} units",
                r.id,
                r.mode,
                counted(r.importers, "importer"),
                count(r.units_done)
            )
        })
        .collect()
}

pub fn render_header(f: &mut Frame, area: Rect, app: &App) {
    // The same rule as `status`: SAFE only when nothing at all is relaxed.
    let (badge, badge_style) = match app.safety().map(SafetyState::badge) {
        Some(Badge::Unsafe) => (" UNSAFE ", danger()),
        Some(Badge::Relaxed) => (
            " RELAXED ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ),
        Some(Badge::Safe) => (
            " SAFE ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Green)
                .add_modifier(Modifier::BOLD),
        ),
        None => (" SAFE? ", Style::new().fg(Color::Black).bg(Color::Gray)),
    };
    let [left, right] = Layout::horizontal([Constraint::Min(0), Constraint::Length(badge.len() as u16)]).areas(area);
    // Auto names the mode once it has chosen (from then on the run's own).
    let mode = if app.auto_mode && app.mode_reason.is_none() {
        " mode auto ".to_string()
    } else {
        format!(" mode {} ", app.mode.label())
    };
    let fixed = " midi-tui ".len() + " db ".len() + " │".len() + mode.len() + 1;
    let target = truncate_left(&app.target, (left.width as usize).saturating_sub(fixed));
    let line = Line::from(vec![
        Span::styled(
            " midi-tui ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(" db "),
        Span::styled(target, bold()),
        Span::raw(" │"),
        Span::styled(mode, bold()),
    ]);
    f.render_widget(Paragraph::new(line), left);
    f.render_widget(Paragraph::new(Span::styled(badge, badge_style)), right);
}

/// One line for what matters most now: lost data, an unsafe database, the restore offer, an unreachable
/// server, a running operation, or what to do next.
pub fn render_banner(f: &mut Frame, area: Rect, app: &App) {
    let width = area.width as usize;
    let key_hint = if app.run.offers_restore() {
        "R: restore safety + rebuild indexes"
    } else {
        "r: restore safety"
    };
    let (text, style) = if let Some(lost) = app.safety().and_then(|s| s.data_lost.as_ref()) {
        (format!(" DATA LOST: {lost}"), danger())
    } else if let Some(st) = app.safety().filter(|s| s.is_unsafe()) {
        let more = st.unsafe_reasons.len().saturating_sub(1);
        let first = st.unsafe_reasons.first().cloned().unwrap_or_default();
        let more = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        let hint = format!(" · {key_hint}");
        let room = width.saturating_sub(10 + more.len() + hint.chars().count());
        (format!(" UNSAFE: {}{more}{hint}", truncate(&first, room)), danger())
    } else if app.run.offers_restore() && !app.run.is_active() && app.op.is_none() {
        (
            format!(" {} run ended · {key_hint}", app.mode.label()),
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    } else if let ServerState::NotAnswering { seconds } = &app.db.server {
        (
            format!(" database not answering ({seconds} s): showing the last known state, retrying"),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )
    } else if let ServerState::Down { error } = &app.db.server {
        (
            format!(" database unreachable: {error} (retrying)"),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )
    } else if let Some(op) = app.op {
        (format!(" {}…", op.label()), Style::new().fg(Color::Cyan))
    } else {
        let text = match (app.screen, &app.run) {
            (Screen::Start, _) => " choose sources and a mode, then press Enter".to_string(),
            (_, RunState::Failed { error: e, .. }) => format!(" failed: {e}"),
            (_, run) => format!(
                " {} · {} import · {}",
                run.label(),
                app.mode.label(),
                counted(app.sources.len(), "source")
            ),
        };
        let text = text + &shared_runs_text(app);
        (text, Style::new().fg(Color::Gray))
    };
    f.render_widget(
        Paragraph::new(Span::styled(truncate(&text, width), style)).style(style),
        area,
    );
}
