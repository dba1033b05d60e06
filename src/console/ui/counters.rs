//! Counters of the run (seen, imported, duplicates, skipped, failed), bytes, elapsed time and ETA.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bold, dim, fmt_bytes, fmt_count, fmt_rate, fmt_secs, panel};
use crate::console::app::{App, RunState};

/// Counts up to six digits in full, larger ones as `4.30M` so a line fits an 80-column screen.
fn count(n: u64) -> String {
    if n < 1_000_000 {
        fmt_count(n)
    } else {
        format!("{:.2}M", n as f64 / 1e6)
    }
}

pub fn render_counters(f: &mut Frame, area: Rect, app: &App) {
    let s = &app.live.snapshot;
    let state_style = match app.run {
        RunState::Running => Style::new().fg(Color::Green),
        RunState::Paused | RunState::Cancelling { .. } | RunState::Preparing => Style::new().fg(Color::Yellow),
        RunState::Failed { .. } => Style::new().fg(Color::Red),
        _ => Style::new().fg(Color::Gray),
    };
    let right = Line::from(vec![
        Span::styled(format!(" {} ", app.run.label()), state_style),
        Span::styled(format!("{} ", fmt_secs(s.elapsed.as_secs_f64())), dim()),
    ]);
    let block = panel("Counters", Some(right), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let kv = |k: &str, v: String, style: Style| vec![Span::styled(format!("{k} "), dim()), Span::styled(v, style)];
    let mut first = Vec::new();
    first.extend(kv("seen", count(s.counts.seen), bold()));
    first.extend(kv(" new", count(s.counts.imported), bold().fg(Color::Green)));
    first.extend(kv(" dup", count(s.counts.duplicates), bold()));
    first.extend(kv(" skip", count(s.counts.skipped), bold()));
    let fail_style = if s.counts.failed > 0 {
        bold().fg(Color::Red)
    } else {
        bold()
    };
    first.extend(kv(" fail", count(s.counts.failed), fail_style));
    let second = match (&app.run, &app.summary) {
        (RunState::Finished { .. }, Some(sum)) => vec![Span::styled(
            format!(
                "{} in {}: {} files/s, {} MB/s, {}",
                sum.status,
                fmt_secs(sum.seconds),
                fmt_rate(sum.files_per_s),
                fmt_rate(sum.mb_per_s),
                fmt_bytes(sum.counts.bytes)
            ),
            bold(),
        )],
        _ => {
            // Until the scan ends, the total is a lower bound.
            let more = if s.scan_done { "" } else { "+" };
            let mut v = kv("found", format!("{}{more}", count(s.discovered)), Style::new());
            v.extend(kv(" read", fmt_bytes(s.counts.bytes), Style::new()));
            let eta = match (app.live.eta, &app.run) {
                (Some(e), RunState::Running) => fmt_secs(e),
                _ => "-".into(),
            };
            v.extend(kv(" ETA", eta, bold()));
            v
        }
    };
    f.render_widget(Paragraph::new(vec![Line::from(first), Line::from(second)]), inner);
}
