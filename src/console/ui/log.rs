//! Recent errors and log lines, newest at the bottom.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, panel, truncate};
use crate::console::app::{App, LogKind};

pub fn render_log(f: &mut Frame, area: Rect, app: &App) {
    let right = (app.errors > 0).then(|| {
        Line::from(format!(" {} ", crate::engine::human::counted(app.errors, "error")))
            .style(Style::new().fg(Color::Red))
    });
    let block = panel("Log", right, false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let lines: Vec<Line> = app
        .log
        .tail(inner.height as usize)
        .map(|l| {
            let (mark, style) = match l.kind {
                LogKind::Info => ("· ", Style::new()),
                LogKind::Warn => ("! ", Style::new().fg(Color::Yellow)),
                LogKind::Error => ("✗ ", Style::new().fg(Color::Red)),
            };
            Line::from(vec![
                Span::styled(mark, if l.kind == LogKind::Info { dim() } else { style }),
                Span::styled(truncate(&l.text, w.saturating_sub(2)), style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
