//! The help screen, built from the key table: the same data the handler and the footer use. It lists the keys of
//! the screen under it (a key that does nothing there now is dimmed and says so), the overlays that screen opens,
//! and over the library the query fields; it scrolls when it does not fit.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{bold, dim, truncate};
use crate::console::app::{App, Screen, available};
use crate::console::keymap::{self, Action, Ctx};
use crate::engine::database::query::FIELDS;

/// Width of one help column.
const COLUMN: u16 = 38;

/// One context's bindings, keys of the same action merged (`q, Ctrl-C  quit`); with `under`, the state under the
/// help, a binding whose action does nothing there now is dimmed.
fn section(ctx: Ctx, under: Option<&App>) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled(ctx.title(), bold().fg(Color::Cyan)))];
    let mut seen: Vec<Action> = Vec::new();
    for b in keymap::bindings_of(ctx) {
        if seen.contains(&b.action) {
            continue;
        }
        seen.push(b.action);
        let keys: Vec<String> = keymap::bindings_of(ctx)
            .filter(|o| o.action == b.action)
            .map(|o| o.key.label())
            .collect();
        let now = under.is_none_or(|a| available(a, b.action));
        let label = b.label.to_string();
        let keys = format!("  {:<12}", keys.join(", "));
        lines.push(if now {
            Line::from(vec![Span::styled(keys, bold()), Span::raw(label)])
        } else {
            Line::from(vec![Span::styled(keys, dim()), Span::styled(label, dim())])
        });
    }
    lines
}

/// Every line of the help for `app`, sections separated by a blank line.
pub fn help_lines(app: &App) -> Vec<Line<'static>> {
    // Availability as on the screen under the help.
    let mut under = app.clone();
    under.overlay = None;
    let (own, opened) = keymap::help_contexts(app.browser.open, app.screen == Screen::Start);
    let mut sections: Vec<Vec<Line<'static>>> = own.iter().map(|c| section(*c, Some(&under))).collect();
    sections.extend(opened.iter().map(|c| section(*c, None)));
    if app.browser.open {
        let mut fields = vec![Line::from(Span::styled(
            "Query fields (^term negates)",
            bold().fg(Color::Cyan),
        ))];
        for f in FIELDS {
            fields.push(Line::from(vec![
                Span::styled(format!("  {:<15}", f.examples[0]), bold()),
                Span::raw(f.short),
            ]));
        }
        fields.push(Line::from(Span::styled(
            "  a bare word: name, track or copyright",
            dim(),
        )));
        sections.insert(1, fields);
    } else {
        sections.push(vec![Line::from(Span::styled(
            "fast = levels 1+2, ludicrous = 1+2+3",
            dim(),
        ))]);
    }
    let mut lines = Vec::new();
    for (i, s) in sections.into_iter().enumerate() {
        if i > 0 {
            lines.push(Line::from(""));
        }
        lines.extend(s);
    }
    lines
}

/// The help over the body: as many columns as fit, filled top to bottom, scrolled by `app.help_scroll` lines.
pub fn render_help(f: &mut Frame, area: Rect, app: &App) {
    f.render_widget(Clear, area);
    let lines = help_lines(app);
    let block = Block::bordered()
        .border_style(dim())
        .title(Line::from(" Help: keys ").style(bold().fg(Color::Cyan)))
        .title_bottom(
            Line::from(" dim: does nothing now · j/k PgDn scroll · Esc or ? closes ")
                .style(dim())
                .right_aligned(),
        );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let columns = (inner.width / COLUMN).max(1);
    let col_w = inner.width / columns;
    let height = inner.height as usize;
    // Each scroll step moves the text (down to its last line at the top), as the key table's movement promises.
    let skip = app.help_scroll.min(lines.len().saturating_sub(1));
    let mut rest = lines.into_iter().skip(skip);
    for c in 0..columns {
        let column: Vec<Line> = rest
            .by_ref()
            .take(height)
            .map(|l| {
                // Cut what does not fit the column (the help is read, not wrapped).
                let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
                if super::width_of(&text) <= col_w as usize {
                    l
                } else {
                    let style = l.spans.last().map(|s| s.style).unwrap_or_default();
                    Line::from(Span::styled(truncate(&text, col_w as usize), style))
                }
            })
            .collect();
        let rect = Rect {
            x: inner.x + c * col_w,
            width: col_w,
            ..inner
        };
        f.render_widget(Paragraph::new(column), rect);
    }
}

#[cfg(test)]
mod tests {
    use crate::console::keymap::{Key, help_line_count};
    use crate::console::testkit::{self, keys};

    #[test]
    fn the_key_table_counts_the_lines_the_help_draws() {
        let mut start = testkit::app();
        keys(&mut start, &[Key::Char('?')]);
        assert_eq!(super::help_lines(&start).len(), help_line_count(false, true));
        let mut run = testkit::running_app(2);
        keys(&mut run, &[Key::Char('?')]);
        assert_eq!(super::help_lines(&run).len(), help_line_count(false, false));
        let mut lib = testkit::browsing(testkit::app(), "", 2, false);
        keys(&mut lib, &[Key::Char('?')]);
        assert_eq!(super::help_lines(&lib).len(), help_line_count(true, false));
    }
}
