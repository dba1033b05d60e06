//! Recent errors and log lines, newest at the bottom; it scrolls back with the list keys and names the run's log
//! file, where every line is kept.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, panel, truncate, truncate_left};
use crate::console::app::{App, LogKind};

pub fn render_log(f: &mut Frame, area: Rect, app: &App) {
    // This run's failed files, the counters' `fail` (other error lines are not files and are not counted).
    let failed = app
        .summary
        .as_ref()
        .map_or(app.live.snapshot.counts.failed, |s| s.counts.failed);
    let mut right: Vec<Span> = Vec::new();
    if failed > 0 {
        right.push(Span::styled(
            format!(" {} failed ", crate::engine::human::count(failed)),
            Style::new().fg(Color::Red),
        ));
    }
    if let Some(path) = &app.log_path {
        let room = (area.width as usize).saturating_sub(30);
        right.push(Span::styled(format!(" {} ", truncate_left(path, room)), dim()));
    }
    let block = panel("Log", Some(Line::from(right)), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let height = inner.height as usize;
    let total = app.log.len();
    let scroll = app.log_scroll.min(total.saturating_sub(1));
    // The window ends `scroll` lines above the newest; while scrolled its last row says how much is below.
    let marker = usize::from(scroll > 0);
    let end = total - scroll;
    let start = end.saturating_sub(height - marker.min(height));
    let mut lines: Vec<Line> = app
        .log
        .iter()
        .skip(start)
        .take(end - start)
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
    if marker > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "  ↓ {scroll} newer line{} (G or End: follow)",
                if scroll == 1 { "" } else { "s" }
            ),
            Style::new().fg(Color::Cyan),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
