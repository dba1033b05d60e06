//! The throughput graph: files/s and MB/s over the last minutes, from the ring buffers.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

use super::{bold, dim, fmt_rate, panel};
use crate::console::app::App;
use crate::console::history::Ring;

pub fn render_graph(f: &mut Frame, area: Rect, app: &App) {
    // The headline is the run's own rate (files finished per second since the import began), the final line's
    // figure; the series below plot each second.
    let (fps, mbs) = app
        .live
        .rates
        .as_ref()
        .map_or((0.0, 0.0), |r| (r.files_per_s, r.mb_per_s));
    let right = Line::from(vec![
        Span::styled(format!(" {} files/s", fmt_rate(fps)), bold().fg(Color::Green)),
        Span::raw(" · "),
        Span::styled(format!("{} MB/s ", fmt_rate(mbs)), bold().fg(Color::Magenta)),
    ]);
    let block = panel("Throughput", Some(right), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let files_h = inner.height.div_ceil(2);
    let [files_a, mb_a] = Layout::vertical([Constraint::Length(files_h), Constraint::Min(0)]).areas(inner);
    render_series(f, files_a, "files/s", &app.live.files_per_s, 1.0, Color::Green);
    render_series(f, mb_a, "MB/s", &app.live.mb_per_s, 100.0, Color::Magenta);
}

/// One series: a label column with the peak, then the newest samples as a sparkline (one column a second).
fn render_series(f: &mut Frame, area: Rect, label: &str, ring: &Ring<f64>, scale: f64, color: Color) {
    if area.height == 0 {
        return;
    }
    let [label_a, spark_a] = Layout::horizontal([Constraint::Length(9), Constraint::Min(0)]).areas(area);
    let peak = ring.max();
    let mut lines = vec![Line::from(Span::styled(format!("{label:>8}"), Style::new().fg(color)))];
    if area.height > 1 {
        lines.push(Line::from(Span::styled(
            format!("{:>8}", format!("max {}", fmt_rate(peak))),
            dim(),
        )));
    }
    f.render_widget(Paragraph::new(lines), label_a);
    if ring.is_empty() {
        f.render_widget(Paragraph::new(Span::styled("waiting for samples", dim())), spark_a);
        return;
    }
    let data: Vec<u64> = ring
        .tail(spark_a.width as usize)
        .map(|v| if v.is_finite() { (v * scale).round() as u64 } else { 0 })
        .collect();
    let max = ((peak * scale).round() as u64).max(1);
    f.render_widget(
        Sparkline::default().data(&data).max(max).style(Style::new().fg(color)),
        spark_a,
    );
}
