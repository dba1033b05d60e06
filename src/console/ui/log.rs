//! Recent errors and log lines, newest at the bottom.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, fmt_count, panel, truncate};
use crate::console::app::{App, LogKind};

pub fn render_log(f: &mut Frame, area: Rect, app: &App) {
    // This run's failed files, the counters' `fail` (other error lines are not files and are not counted).
    let failed = app.summary.as_ref().map_or(app.live.snapshot.failed, |s| s.failed);
    let right =
        (failed > 0).then(|| Line::from(format!(" {} failed ", fmt_count(failed))).style(Style::new().fg(Color::Red)));
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
