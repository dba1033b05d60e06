//! The system panel: CPU per core, memory, disk free where the data directory lives, WAL size.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, fmt_bytes, panel};
use crate::console::app::App;

pub fn render_system(f: &mut Frame, area: Rect, app: &App) {
    let block = panel("System", None, true);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let label = |s: &'static str| Span::styled(s, dim());
    match &app.system {
        Some(sys) => {
            // One cell per core (as many as fit), then the average.
            const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
            let avg = if sys.cpu.is_empty() {
                0.0
            } else {
                sys.cpu.iter().sum::<f32>() / sys.cpu.len() as f32
            };
            let cells: String = sys
                .cpu
                .iter()
                .take(w.saturating_sub(11))
                .map(|c| LEVELS[((c.clamp(0.0, 100.0) / 100.0 * 7.0).round() as usize).min(7)])
                .collect();
            let cpu_style = if avg >= 90.0 {
                Style::new().fg(Color::Red)
            } else {
                Style::new().fg(Color::Green)
            };
            lines.push(Line::from(vec![
                label("cpu  "),
                Span::styled(cells, cpu_style),
                Span::raw(format!(" {avg:>3.0}%")),
            ]));
            lines.push(Line::from(vec![
                label("mem  "),
                Span::raw(format!("{} / {}", fmt_bytes(sys.mem_used), fmt_bytes(sys.mem_total))),
            ]));
            let disk = match (sys.disk_free, sys.disk_total) {
                (Some(free), Some(total)) => {
                    format!("{} free of {}", fmt_bytes(free), fmt_bytes(total))
                }
                _ => "unknown".into(),
            };
            let low = sys.disk_free.is_some_and(|f| f < 2_000_000_000);
            lines.push(Line::from(vec![
                label("disk "),
                Span::styled(disk, if low { Style::new().fg(Color::Red) } else { Style::new() }),
            ]));
        }
        None => lines.push(Line::from(Span::styled("sampling…", dim()))),
    }
    let wal = match app.db.polled.as_ref().map(|p| p.wal_bytes) {
        Some(Some(b)) => fmt_bytes(b.max(0) as u64),
        Some(None) => "n/a (needs pg_monitor)".into(),
        None => "?".into(),
    };
    lines.push(Line::from(vec![label("wal  "), Span::raw(wal)]));
    f.render_widget(Paragraph::new(lines), inner);
}
