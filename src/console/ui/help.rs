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

pub fn render_help(f: &mut Frame, area: Rect) {
    f.render_widget(Clear, area);
    let block = Block::bordered()
        .border_style(dim())
        .title(Line::from(" Help: keys ").style(bold().fg(Color::Cyan)))
        .title_bottom(Line::from(" Esc or ? closes ").style(dim()).right_aligned());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let column = |ctxs: &[Ctx]| {
        let mut lines = Vec::new();
        for (i, c) in ctxs.iter().enumerate() {
            if i > 0 {
                lines.push(Line::from(""));
            }
            lines.extend(section(*c));
        }
        lines
    };
    f.render_widget(Paragraph::new(column(&[Ctx::Global, Ctx::Start, Ctx::Input])), left);
    let mut right_lines = column(&[Ctx::Run, Ctx::Dialog, Ctx::Help]);
    right_lines.push(Line::from(""));
    right_lines.push(Line::from(Span::styled("fast = levels 1+2, ludicrous = 1+2+3", dim())));
    f.render_widget(Paragraph::new(right_lines), right);
}
