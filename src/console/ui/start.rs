//! The start screen: the sources to import and the mode, each mode with what it changes and what it risks.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{bold, dim, panel, truncate_left, wrap};
use crate::console::app::App;
use crate::engine::doctor::Verdict;
use crate::engine::profile::{Level, Mode};

pub fn render_start(f: &mut Frame, area: Rect, app: &App) {
    let src_rows = (app.sources.len().max(1) as u16 + 1).min(area.height / 3).max(2);
    // The readiness panel takes what the modes leave (they need about 13 rows at 80 columns), at most 8 rows.
    let ready_rows = if app.doctor.is_some() {
        area.height.saturating_sub(src_rows + 13).clamp(0, 8)
    } else {
        0
    };
    let [src_a, mode_a, ready_a] = Layout::vertical([
        Constraint::Length(src_rows),
        Constraint::Min(0),
        Constraint::Length(ready_rows),
    ])
    .areas(area);
    render_sources(f, src_a, app);
    render_modes(f, mode_a, app);
    if ready_rows >= 2 {
        render_readiness(f, ready_a, app);
    }
}

/// The doctor's checks for the chosen mode: what needs attention first, then what is fine, as many as fit.
fn render_readiness(f: &mut Frame, area: Rect, app: &App) {
    let Some(facts) = &app.doctor else { return };
    let mut checks = facts.checks(None, app.mode);
    checks.sort_by_key(|c| std::cmp::Reverse((c.matters, c.verdict)));
    let verdict = crate::engine::doctor::overall(&checks);
    let block = panel(
        "System readiness",
        Some(Line::from(format!(" {verdict} · `midi-tui doctor` gives the fixes ")).style(dim())),
        false,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let room = inner.height as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (i, c) in checks.iter().enumerate() {
        if lines.len() + 1 == room && i + 1 < checks.len() {
            lines.push(Line::from(Span::styled(format!(" … {} more", checks.len() - i), dim())));
            break;
        }
        let (mark, style) = match c.verdict {
            // Advice that does not bear on this import (mode, size, where the server runs) stays quiet.
            Verdict::Advice | Verdict::Problem if !c.matters => ("minor ", dim()),
            Verdict::Ok => ("ok    ", Style::new().fg(Color::Green)),
            Verdict::Unknown => ("?     ", dim()),
            Verdict::Advice => ("advice", Style::new().fg(Color::Yellow)),
            Verdict::Problem => ("PROBLEM", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
        };
        let text = format!("{}: {}", c.title, c.value);
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark:<7} "), style),
            Span::raw(super::truncate(&text, w.saturating_sub(9))),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_sources(f: &mut Frame, area: Rect, app: &App) {
    let block = panel(
        "Sources",
        Some(Line::from(" a: type a path · e: sample library · x: remove ").style(dim())),
        false,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    if app.sources.is_empty() {
        let hint = match &app.sample_library {
            Some(_) => "none yet: type a folder, MIDI file or archive (a), or take the sample library (e)",
            None => "none yet: type a folder, MIDI file or archive (a)",
        };
        lines.push(Line::from(Span::styled(
            format!(" {hint}"),
            Style::new().fg(Color::Yellow),
        )));
    }
    let room = inner.height as usize;
    let hidden = app.sources.len().saturating_sub(room);
    for (i, s) in app.sources.iter().enumerate().skip(hidden) {
        let text = truncate_left(&s.display().to_string(), w.saturating_sub(5));
        let marker = if hidden > 0 && i == hidden {
            format!("+{hidden}")
        } else {
            format!("{:>2}", i + 1)
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {marker} "), dim()),
            Span::raw(text),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_modes(f: &mut Frame, area: Rect, app: &App) {
    let block = panel("Mode", Some(Line::from(" ↑/↓ or m n f l ").style(dim())), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let indent = 14;
    let text_w = w.saturating_sub(indent + 1);
    let mut lines: Vec<Line> = Vec::new();
    let auto = (
        "auto",
        "the fastest mode for this import, from rates measured here",
        "those of the mode it picks, which still asks first",
        app.auto_mode,
        Style::new().fg(Color::Cyan),
    );
    let modes = Mode::ALL.into_iter().map(|mode| {
        let risk_style = match mode {
            Mode::Normal => Style::new().fg(Color::Green),
            Mode::Fast => Style::new().fg(Color::Yellow),
            Mode::Ludicrous => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        };
        (
            mode.label(),
            mode.describe(),
            mode.risk(),
            !app.auto_mode && mode == app.mode,
            risk_style,
        )
    });
    for (label, describe, risk, selected, risk_style) in std::iter::once(auto).chain(modes) {
        let name_style = if selected {
            bold().fg(Color::Black).bg(Color::Cyan)
        } else {
            bold()
        };
        let marker = if selected { " ▶ " } else { "   " };
        for (i, l) in wrap(describe, text_w).into_iter().enumerate() {
            if i == 0 {
                lines.push(Line::from(vec![
                    Span::raw(marker),
                    Span::styled(format!("{label:<10}"), name_style),
                    Span::raw(" ".repeat(indent - 13)),
                    Span::raw(l),
                ]));
            } else {
                lines.push(Line::from(vec![Span::raw(" ".repeat(indent)), Span::raw(l)]));
            }
        }
        for l in wrap(&format!("risks: {risk}"), text_w) {
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(indent)),
                Span::styled(l, risk_style),
            ]));
        }
    }
    // With room to spare, what each level of the chosen mode does.
    let levels: &[Level] = if app.auto_mode { &[] } else { app.mode.levels() };
    let mut detail: Vec<Line> = Vec::new();
    if !levels.is_empty() {
        detail.push(Line::from(""));
        for l in levels {
            let head = format!(" level {} {}: ", l.number(), l.label());
            let body = wrap(l.describe(), w.saturating_sub(head.chars().count()));
            for (i, b) in body.into_iter().enumerate() {
                let lead = if i == 0 {
                    Span::styled(head.clone(), bold())
                } else {
                    Span::raw(" ".repeat(head.len()))
                };
                detail.push(Line::from(vec![lead, Span::styled(b, dim())]));
            }
        }
    }
    if lines.len() + detail.len() <= inner.height as usize {
        lines.extend(detail);
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The box for typing a source path.
pub fn render_input(f: &mut Frame, area: Rect, text: &str) {
    let w = area.width.saturating_sub(8).min(90);
    let popup = area.centered(Constraint::Length(w), Constraint::Length(4));
    f.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(Line::from(" Add a source: a folder, MIDI file or archive ").style(bold().fg(Color::Cyan)))
        .title_bottom(Line::from(" Enter add · Esc cancel ").style(dim()));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let shown = truncate_left(text, (inner.width as usize).saturating_sub(2));
    f.render_widget(Paragraph::new(format!(" {shown}")), inner);
    let x = inner.x + 1 + shown.chars().count() as u16;
    f.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y));
}
