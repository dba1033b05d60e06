//! The index rebuild: overall progress and one line per index (building, built with its time, failed).
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bar, bold, dim, panel, truncate};
use crate::console::app::{App, IndexState};

pub fn render_rebuild(f: &mut Frame, area: Rect, app: &App) {
    let Some(v) = &app.rebuild else { return };
    let todo = v.todo.unwrap_or(v.entries.len()).max(v.entries.len());
    let right = Line::from(format!(" {}/{} built ", v.built(), todo)).style(bold());
    let block = panel("Index rebuild", Some(right), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let ratio = if todo == 0 { 1.0 } else { v.built() as f64 / todo as f64 };
    let status = match (&v.report, v.analyzing) {
        (Some(r), _) => format!(
            "done: {}/{} present, {} failed, {:.1} s",
            r.present,
            r.expected,
            r.failed.len(),
            r.seconds
        ),
        (None, true) => "ANALYZE…".to_string(),
        (None, false) => format!("{} building", v.building()),
    };
    let bar_w = w.saturating_sub(status.chars().count() + 2).clamp(4, 40);
    let mut lines = vec![Line::from(vec![
        Span::styled(bar(ratio, bar_w), Style::new().fg(Color::Green)),
        Span::raw(" "),
        Span::styled(status, bold()),
    ])];
    // Building first, then the most recent results.
    let rows = (inner.height as usize).saturating_sub(1);
    let building = v.entries.iter().filter(|e| e.state == IndexState::Building);
    let ended = v.entries.iter().rev().filter(|e| e.state != IndexState::Building);
    for e in building.chain(ended).take(rows) {
        let (mark, tail, style) = match &e.state {
            IndexState::Building => ("⟳", "building".to_string(), Style::new().fg(Color::Cyan)),
            IndexState::Built(s) => ("✓", format!("{s:.1} s"), Style::new().fg(Color::Green)),
            IndexState::Failed(err) => ("✗", err.clone(), Style::new().fg(Color::Red)),
        };
        // Most index names start with their table; name the table only when they do not.
        let name = if e.name.starts_with(&e.table) {
            e.name.clone()
        } else {
            format!("{} ({})", e.name, e.table)
        };
        let name_w = w.saturating_sub(14).max(10);
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), style),
            Span::raw(format!("{:<name_w$}", truncate(&name, name_w))),
            Span::styled(
                format!(" {}", truncate(&tail, 10)),
                if matches!(e.state, IndexState::Built(_)) {
                    dim()
                } else {
                    style
                },
            ),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
