//! The profile panel: server state, each level, indexes, table persistence and the live settings (pending
//! restart marked), as the poll on its own connection last saw them.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bold, dim, panel, truncate};
use crate::console::app::{App, Op, ServerState};
use crate::engine::profile::Level;

pub fn render_profile(f: &mut Frame, area: Rect, app: &App) {
    let pending = app.status().is_some_and(|s| s.pending_restart);
    let right = if pending {
        Some(Line::from(" * pending restart ").style(Style::new().fg(Color::Yellow)))
    } else {
        None
    };
    let block = panel("Profile", right, true);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let (server, style) = match &app.db.server {
        ServerState::Unknown => ("connecting…".to_string(), dim()),
        ServerState::Up { latency_ms } => (format!("up · poll {latency_ms} ms"), Style::new().fg(Color::Green)),
        ServerState::NotAnswering { seconds } => (format!("NOT ANSWERING ({seconds} s)"), bold().fg(Color::Yellow)),
        ServerState::Down { error } => (format!("DOWN: {error}"), bold().fg(Color::Red)),
    };
    lines.push(Line::from(vec![
        Span::styled("server ", dim()),
        Span::styled(truncate(&server, w.saturating_sub(7)), style),
    ]));
    let applied = app.levels_applied();
    for level in Level::ALL {
        let on = app.safety().is_some() && applied[(level.number() - 1) as usize];
        let busy = matches!(app.op, Some(Op::Apply(l) | Op::Revert(l)) if l == level)
            || (level == Level::DropIndexes && app.op == Some(Op::Rebuild));
        let (state, style) = match (busy, on, app.safety().is_some()) {
            (true, _, _) => ("…", Style::new().fg(Color::Cyan)),
            (_, _, false) => ("?", dim()),
            (_, true, _) if level == Level::Ludicrous => ("● on", bold().fg(Color::Red)),
            (_, true, _) => ("● on", bold().fg(Color::Yellow)),
            _ => ("○ off", dim()),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", level.number()), bold().fg(Color::Cyan)),
            Span::raw(format!("{:<15}", level.label())),
            Span::styled(state, style),
        ]));
    }
    if let Some(st) = app.status() {
        let idx = &st.secondary_indexes;
        let idx_style = if idx.present < idx.expected {
            bold().fg(Color::Yellow)
        } else {
            Style::new().fg(Color::Green)
        };
        lines.push(Line::from(vec![
            Span::styled("indexes ", dim()),
            Span::styled(format!("{}/{}", idx.present, idx.expected), idx_style),
        ]));
        let unlogged = st.tables.iter().filter(|t| t.persistence == "unlogged").count();
        let (tables, t_style) = if unlogged > 0 {
            (format!("{unlogged} UNLOGGED"), bold().fg(Color::Red))
        } else {
            ("all logged".to_string(), Style::new().fg(Color::Green))
        };
        lines.push(Line::from(vec![
            Span::styled("tables  ", dim()),
            Span::styled(tables, t_style),
        ]));
        let name_w = w.saturating_sub(11).clamp(8, 32);
        for s in &st.settings {
            let risky = matches!(
                (s.name.as_str(), s.value.as_str()),
                ("fsync" | "full_page_writes", "off")
            );
            let relaxed = matches!(
                (s.name.as_str(), s.value.as_str()),
                ("synchronous_commit" | "autovacuum", "off") | ("wal_level", "minimal")
            );
            let style = if risky {
                bold().fg(Color::Red)
            } else if relaxed {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            };
            let mark = if s.pending_restart { "*" } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{:<name_w$} ", truncate(&s.name, name_w)), dim()),
                Span::styled(format!("{}{mark}", s.value), style),
            ]));
        }
    } else {
        lines.push(Line::from(Span::styled(
            "waiting for the first poll…",
            dim().add_modifier(Modifier::ITALIC),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
