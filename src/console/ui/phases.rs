//! Per-phase bars: busy share, rate and queue fill, with the bottleneck marked and its remedy.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bar, dim, fmt_rate, panel, truncate, wrap};
use crate::console::app::App;
use crate::engine::metrics::Phase;

pub fn render_phases(f: &mut Frame, area: Rect, app: &App) {
    let block = panel(
        "Phases",
        Some(Line::from(" busy    rate     queue ").style(dim())),
        false,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let bar_w = w.saturating_sub(2 + 14 + 5 + 9 + 7).clamp(4, 24);
    let hot = app.live.bottleneck.as_ref().map(|b| b.phase);
    let mut lines: Vec<Line> = Vec::new();
    for phase in Phase::ALL {
        let rate = app.live.rates.as_ref().map(|r| r.phases[phase as usize]);
        let (busy, items, fill) = rate.map_or((0.0, 0.0, 0.0), |r| (r.busy, r.items_per_s, r.queue_fill));
        let is_hot = hot == Some(phase);
        let (marker, style) = if is_hot {
            ("▶ ", Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD))
        } else {
            ("  ", Style::new())
        };
        let bar_style = if is_hot { style } else { Style::new().fg(Color::Blue) };
        let (rate_text, queue_text) = if phase == Phase::Index {
            index_columns(app)
        } else {
            (
                format!("{:>6}/s", fmt_rate(items)),
                format!("{}{:>3}%", queue_glyph(fill), (fill * 100.0).round()),
            )
        };
        lines.push(Line::from(vec![
            Span::styled(marker, style),
            Span::styled(format!("{:<14}", phase.label()), style),
            Span::styled(bar(busy, bar_w), bar_style),
            Span::styled(format!("{:>4}%", (busy * 100.0).round()), style),
            Span::raw(format!(" {rate_text}")),
            Span::styled(format!(" {queue_text}"), dim()),
        ]));
    }
    match &app.live.bottleneck {
        Some(b) => {
            let style = Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD);
            for (i, l) in wrap(&b.remedy, w.saturating_sub(2)).into_iter().take(2).enumerate() {
                let lead = if i == 0 { "▶ " } else { "  " };
                lines.push(Line::from(vec![
                    Span::styled(lead, style),
                    Span::styled(truncate(&l, w - 2), style),
                ]));
            }
        }
        None if app.live.rates.is_some() => {
            lines.push(Line::from(Span::styled("no bottleneck: no phase is saturated", dim())))
        }
        None => lines.push(Line::from(Span::styled(
            "bottleneck: shown once the run has samples",
            dim(),
        ))),
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The index rebuild row shows built / to build instead of a rate and a queue.
fn index_columns(app: &App) -> (String, String) {
    match &app.rebuild {
        Some(v) => (
            format!("{:>6}  ", v.built()),
            format!("of {}", v.todo.map_or("?".into(), |t| t.to_string())),
        ),
        None => (format!("{:>6}  ", "-"), String::new()),
    }
}

/// A one-cell picture of a queue's fill.
fn queue_glyph(fill: f64) -> char {
    const GLYPHS: [char; 5] = ['○', '◔', '◑', '◕', '●'];
    let f = if fill.is_finite() { fill.clamp(0.0, 1.0) } else { 0.0 };
    GLYPHS[(f * 4.0).round() as usize]
}
