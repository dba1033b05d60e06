//! The footer: the answer to the last key, or the keys of the current context from the key table.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bold, dim, truncate};
use crate::console::app::{App, available};
use crate::console::keymap;

pub fn render_footer(f: &mut Frame, area: Rect, app: &App) {
    if let Some(n) = &app.notice {
        let text = truncate(&format!(" {n}"), area.width as usize);
        f.render_widget(Paragraph::new(Span::styled(text, Style::new().fg(Color::Yellow))), area);
        return;
    }
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for b in keymap::footer(app.context())
        .into_iter()
        .filter(|b| available(app, b.action))
    {
        let key = b.key.label();
        let len = key.chars().count() + b.label.chars().count() + 3;
        if used + len > area.width as usize {
            break;
        }
        used += len;
        spans.push(Span::styled(key, bold().fg(Color::Cyan)));
        spans.push(Span::styled(format!(" {}  ", b.label), dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
