//! The footer: the answer to the last key, or the keys of the current context from the key table.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bold, dim, truncate};
use crate::console::app::{App, available};
use crate::console::keymap::{self, Action};

pub fn render_footer(f: &mut Frame, area: Rect, app: &App) {
    if let Some(n) = &app.notice {
        let text = truncate(&format!(" {n}"), area.width as usize);
        f.render_widget(Paragraph::new(Span::styled(text, Style::new().fg(Color::Yellow))), area);
        return;
    }
    let mut spans = vec![Span::raw(" ")];
    let shown: Vec<_> = keymap::footer(app.context())
        .into_iter()
        .filter(|b| available(app, b.action))
        .collect();
    let len = |b: &keymap::Binding| b.key.label().chars().count() + b.label.chars().count() + 3;
    // Help always shows: the screen's own keys give way to it when the line is short.
    let help: usize = shown.iter().filter(|b| b.action == Action::Help).map(|b| len(b)).sum();
    let mut used = 1 + help;
    let mut keep: Vec<&keymap::Binding> = Vec::new();
    for b in &shown {
        if b.action == Action::Help {
            continue;
        }
        if used + len(b) > area.width as usize {
            continue;
        }
        used += len(b);
        keep.push(b);
    }
    keep.extend(shown.iter().filter(|b| b.action == Action::Help));
    for b in keep {
        spans.push(Span::styled(b.key.label(), bold().fg(Color::Cyan)));
        spans.push(Span::styled(format!(" {}  ", b.label), dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
