//! Drawing: `render(frame, &App)` lays the screen out and calls one `render_*` per panel; nothing here changes state.
mod browser;
mod counters;
mod dialog;
#[cfg(test)]
pub use dialog::dialog_text;
mod footer;
mod graph;
mod header;
pub(crate) mod help;
mod log;
mod phases;
mod pitch;
mod profile;
mod rebuild;
mod roll;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
pub(crate) mod tests_support {
    //! Drawing for tests: the screen of a state as text.
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    pub fn draw(app: &crate::console::app::App, width: u16, height: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        t.draw(|f| super::render(f, app)).expect("draw");
        t.backend().to_string()
    }
}
mod start;
mod system;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, Op, Overlay, Screen};

/// Below this the console asks for a bigger terminal instead of drawing a broken screen.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Draw the whole screen for `app`.
pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(f, area);
        return;
    }
    let [head, banner, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render_header(f, head, app);
    header::render_banner(f, banner, app);
    footer::render_footer(f, foot, app);
    match app.screen {
        Screen::Start => start::render_start(f, body, app),
        Screen::Run => render_run(f, body, app),
    }
    // The browser covers the body only: header, banner and footer keep showing the run under it.
    if app.browser.open {
        browser::render_browser(f, body, app);
    }
    match &app.overlay {
        Some(Overlay::Help) => help::render_help(f, body, app),
        Some(Overlay::Dialog(d)) => dialog::render_dialog(f, area, app, d),
        Some(Overlay::Input(field)) => {
            start::render_input(f, area, " Add a source: a folder, MIDI file or archive ", field)
        }
        None => {}
    }
}

fn render_too_small(f: &mut Frame, area: Rect) {
    let text = format!(
        "midi-tui needs at least {MIN_WIDTH}x{MIN_HEIGHT} (now {}x{})",
        area.width, area.height
    );
    f.render_widget(Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: true }), area);
}

/// The run screen: graph, phases (or the index rebuild), counters on the left; profile and system on the
/// right; the log along the bottom.
fn render_run(f: &mut Frame, area: Rect, app: &App) {
    let log_h = if area.height >= 30 { 8 } else { 5 };
    let [top, bottom] = Layout::vertical([Constraint::Min(0), Constraint::Length(log_h)]).areas(area);
    let right_w = (top.width * 2 / 5).clamp(30, 48);
    let [left, right] = Layout::horizontal([Constraint::Min(0), Constraint::Length(right_w)]).areas(top);
    let show_rebuild = app.rebuild.is_some() && (app.op == Some(Op::Rebuild) || !app.run.is_active());
    if show_rebuild {
        let [graph_a, rebuild_a, counters_a] =
            Layout::vertical([Constraint::Length(4), Constraint::Min(4), Constraint::Length(3)]).areas(left);
        graph::render_graph(f, graph_a, app);
        rebuild::render_rebuild(f, rebuild_a, app);
        counters::render_counters(f, counters_a, app);
    } else {
        // A remedy wider than the column takes a second line.
        let remedy_lines = app
            .live
            .bottleneck
            .as_ref()
            .map_or(1, |b| wrap(&b.remedy, left.width as usize - 2).len().min(2));
        let phases_h = 7 + remedy_lines as u16;
        let [graph_a, phases_a, counters_a] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(phases_h), Constraint::Length(3)]).areas(left);
        graph::render_graph(f, graph_a, app);
        phases::render_phases(f, phases_a, app);
        counters::render_counters(f, counters_a, app);
    }
    let [profile_a, system_a] = Layout::vertical([Constraint::Min(0), Constraint::Length(5)]).areas(right);
    profile::render_profile(f, profile_a, app);
    system::render_system(f, system_a, app);
    log::render_log(f, bottom, app);
}

/// A panel: a top rule carrying the title, and a left rule when it is not in the first column.
pub(crate) fn panel<'a>(title: &'a str, right: Option<Line<'a>>, left_rule: bool) -> Block<'a> {
    let borders = if left_rule {
        Borders::TOP | Borders::LEFT
    } else {
        Borders::TOP
    };
    let mut b = Block::new()
        .borders(borders)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(format!(" {title} ")).style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)));
    if let Some(r) = right {
        b = b.title_top(r.right_aligned());
    }
    b
}

pub(crate) fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub(crate) fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub(crate) fn danger() -> Style {
    Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD)
}

/// `1234567` -> `1,234,567` (the engine's one formatting helper, as the command line and the log write counts).
pub fn fmt_count(n: u64) -> String {
    crate::engine::human::count(n)
}

/// A rate in at most 5 characters: `950`, `12.3`, `1.2k`, `34k`, `1.5M`.
pub fn fmt_rate(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        return "0".into();
    }
    match v {
        v if v >= 9_999_500.0 => format!("{:.0}M", v / 1e6),
        v if v >= 999_950.0 => format!("{:.1}M", v / 1e6),
        v if v >= 99_950.0 => format!("{:.0}k", v / 1e3),
        v if v >= 9_999.5 => format!("{:.1}k", v / 1e3),
        v if v >= 99.5 => format!("{v:.0}"),
        v => format!("{v:.1}"),
    }
}

/// Bytes in B, kB, MB, GB or TB (the engine's one formatting helper).
pub fn fmt_bytes(n: u64) -> String {
    crate::engine::human::bytes(n)
}

/// Seconds as `m:ss` or `h:mm:ss`.
pub fn fmt_secs(s: f64) -> String {
    let s = if s.is_finite() && s > 0.0 { s.round() as u64 } else { 0 };
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m}:{sec:02}")
    }
}

/// Display columns of `s` (a wide character such as `さ` takes two).
pub fn width_of(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

fn char_width(c: char) -> usize {
    unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)
}

/// Cut `s` to `width` display columns, ending in `…` when cut.
pub fn truncate(s: &str, width: usize) -> String {
    if width_of(s) <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + char_width(c) > width - 1 {
            break;
        }
        used += char_width(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// Cut `s` to `width` display columns from the left (paths keep their end), starting with `…` when cut.
pub fn truncate_left(s: &str, width: usize) -> String {
    if width_of(s) <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for c in s.chars().rev() {
        if used + char_width(c) > width - 1 {
            break;
        }
        used += char_width(c);
        tail.push(c);
    }
    let mut out = String::from("…");
    out.extend(tail.into_iter().rev());
    out
}

/// `s` cut or padded to exactly `width` display columns, on the left (`right`) or the right.
pub fn pad(s: &str, width: usize, right: bool) -> String {
    let s = truncate(s, width);
    let fill = " ".repeat(width.saturating_sub(width_of(&s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Word-wrap `text` to `width` columns (words longer than a line are cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word = truncate(word, width);
        let len = width_of(&line);
        if len > 0 && len + 1 + width_of(&word) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A horizontal bar of `width` cells filled to `ratio`, in eighths.
pub fn bar(ratio: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let ratio = if ratio.is_finite() { ratio.clamp(0.0, 1.0) } else { 0.0 };
    let eighths = (ratio * width as f64 * 8.0).round() as usize;
    let (full, part) = (eighths / 8, eighths % 8);
    let mut s = "█".repeat(full.min(width));
    if full < width {
        s.push(if part == 0 { '·' } else { PARTS[part] });
        s.extend(std::iter::repeat_n('·', width - full - 1));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_rate(0.0), "0");
        assert_eq!(fmt_rate(f64::NAN), "0");
        assert_eq!(fmt_rate(12.34), "12.3");
        assert_eq!(fmt_rate(950.0), "950");
        assert_eq!(fmt_rate(12_345.0), "12.3k");
        assert_eq!(fmt_rate(345_678.0), "346k");
        assert_eq!(fmt_rate(1_500_000.0), "1.5M");
        assert_eq!(fmt_bytes(999), "999 B");
        assert_eq!(fmt_bytes(12_345_678), "12.3 MB");
        assert_eq!(fmt_secs(5.0), "0:05");
        assert_eq!(fmt_secs(3725.0), "1:02:05");
        assert_eq!(fmt_secs(-1.0), "0:00");
    }

    #[test]
    fn text_fits_its_width() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate_left("/a/b/c/d", 5), "…/c/d");
        assert_eq!(wrap("one two three four", 9), vec!["one two", "three", "four"]);
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abc…"]);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width_of("さくら (410).mid"), 16);
        assert_eq!(truncate("さくら (410).mid", 6), "さく…");
        assert_eq!(
            width_of(&truncate("さくら", 4)),
            3,
            "a wide char that does not fit leaves its cell blank"
        );
        assert_eq!(pad("さくら", 8, false), "さくら  ");
        assert_eq!(width_of(&pad("さくら (410).mid", 10, true)), 10);
        assert_eq!(truncate_left("/x/さくら", 5), "…くら");
    }

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(0.0, 4), "····");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██··");
        assert_eq!(bar(2.0, 3), "███");
        assert_eq!(bar(0.1, 4).chars().count(), 4);
    }
}
