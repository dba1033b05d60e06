//! The help screen, built from the key table: the same data the handler and the footer use.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{bold, dim};
use crate::console::keymap::{self, Action, Ctx};

/// One context's bindings, keys of the same action merged (`q, Ctrl-C  quit`).
fn section(ctx: Ctx) -> Vec<Line<'static>> {
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
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<12}", keys.join(", ")), bold()),
            Span::raw(b.label),
        ]));
    }
    lines
}

/// The help for the screen under it: the browser's keys over the browser, the console's keys elsewhere.
pub fn render_help(f: &mut Frame, area: Rect, browsing: bool) {
    f.render_widget(Clear, area);
    let block = Block::bordered()
        .border_style(dim())
        .title(Line::from(" Help: keys ").style(bold().fg(Color::Cyan)))
        .title_bottom(Line::from(" Esc or ? closes ").style(dim()).right_aligned());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let height = inner.height as usize;
    let column = |ctxs: &[Ctx], note: Option<&'static str>| {
        let mut sections: Vec<Vec<Line>> = ctxs.iter().map(|c| section(*c)).collect();
        if let Some(n) = note {
            sections.push(vec![Line::from(Span::styled(n, dim()))]);
        }
        // Blank lines between sections only when everything still fits.
        let total: usize = sections.iter().map(Vec::len).sum();
        let spaced = total + sections.len().saturating_sub(1) <= height;
        let mut lines = Vec::new();
        for (i, s) in sections.into_iter().enumerate() {
            if i > 0 && spaced {
                lines.push(Line::from(""));
            }
            lines.extend(s);
        }
        lines
    };
    let (l, r, note) = if browsing {
        (
            &[Ctx::Global, Ctx::BrowserQuery, Ctx::Help][..],
            &[Ctx::Browser][..],
            "e.g. bpm:118..124 key:Cm ^drums:yes",
        )
    } else {
        (
            &[Ctx::Global, Ctx::Start, Ctx::Input][..],
            &[Ctx::Run, Ctx::Dialog, Ctx::Help][..],
            "fast = levels 1+2, ludicrous = 1+2+3",
        )
    };
    f.render_widget(Paragraph::new(column(l, None)), left);
    f.render_widget(Paragraph::new(column(r, Some(note))), right);
}
