//! The start screen: the sources to import and the mode, each mode with what it changes and what it risks.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{bold, dim, fmt_bytes, fmt_count, panel, truncate, truncate_left, wrap};
use crate::console::app::{App, PathField, StartList};
use crate::engine::doctor::Verdict;
use crate::engine::profile::{Level, Mode};

pub fn render_start(f: &mut Frame, area: Rect, app: &App) {
    let src_rows = (app.sources.len().max(1) as u16 + 1).min(area.height / 3).max(2);
    // Unfinished runs come first after the sources: each a line and a second with why it stopped.
    let runs = app.unfinished().len() as u16;
    let runs_rows = if runs == 0 {
        0
    } else {
        (runs * 2 + 1)
            .min(area.height.saturating_sub(src_rows + 13).max(3))
            .min(7)
    };
    // The readiness panel takes what the modes leave (they need about 13 rows at 80 columns), at most 8 rows.
    let ready_rows = if app.doctor.is_some() {
        area.height.saturating_sub(src_rows + runs_rows + 13).clamp(0, 8)
    } else {
        0
    };
    let [src_a, runs_a, mode_a, ready_a] = Layout::vertical([
        Constraint::Length(src_rows),
        Constraint::Length(runs_rows),
        Constraint::Min(0),
        Constraint::Length(ready_rows),
    ])
    .areas(area);
    render_sources(f, src_a, app);
    if runs_rows > 0 {
        render_unfinished(f, runs_a, app);
    }
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

/// Interrupted and failed runs: what they read, how far they got, why they stopped; `u` resumes the selected one.
fn render_unfinished(f: &mut Frame, area: Rect, app: &App) {
    let runs = app.unfinished();
    let focused = app.start_list == StartList::Runs;
    let hint = if focused {
        " u: resume · ↑/↓ choose · Tab: modes "
    } else {
        " u: resume the newest · Tab: choose "
    };
    let title = format!("Unfinished runs ({})", runs.len());
    let block = panel(&title, Some(Line::from(hint).style(dim())), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let per = 2usize;
    let room = (inner.height as usize / per).max(1);
    let selected = app.run_selected.min(runs.len().saturating_sub(1));
    let first = (selected + 1).saturating_sub(room);
    let mut lines: Vec<Line> = Vec::new();
    for (i, r) in runs.iter().enumerate().skip(first).take(room) {
        let sel = i == selected;
        let marker = if sel { "▶ " } else { "  " };
        let sources: Vec<String> = r.source_paths().iter().map(|p| p.display().to_string()).collect();
        let head = format!("run {} {} · {} · {} · ", r.id, r.status, r.mode, r.started_at);
        let src = truncate_left(&sources.join(", "), w.saturating_sub(2 + super::width_of(&head)));
        let style = match (sel, focused) {
            (true, true) => Style::new().fg(Color::Black).bg(Color::Cyan),
            (true, false) => bold(),
            _ => Style::new(),
        };
        lines.push(Line::from(Span::styled(
            truncate(&format!("{marker}{head}{src}"), w),
            style,
        )));
        let why = r.reason.as_deref().unwrap_or("no reason was recorded");
        let far = format!(
            "    {} files read ({} new), {} · stopped: ",
            fmt_count(r.counts.seen),
            fmt_count(r.counts.imported),
            fmt_bytes(r.counts.bytes),
        );
        lines.push(Line::from(vec![
            Span::styled(far.clone(), dim()),
            Span::styled(
                truncate(why, w.saturating_sub(super::width_of(&far))),
                Style::new().fg(if r.status == "failed" {
                    Color::Red
                } else {
                    Color::Yellow
                }),
            ),
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
    let block = panel("Mode", Some(Line::from(" ↑/↓ j/k or m n f l ").style(dim())), false);
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

/// A box for typing a path, with the candidates of the last Tab under it.
pub fn render_input(f: &mut Frame, area: Rect, title: &str, field: &PathField) {
    let w = area.width.saturating_sub(8).min(90);
    let listed = !field.candidates.is_empty();
    let popup = area.centered(Constraint::Length(w), Constraint::Length(if listed { 5 } else { 4 }));
    f.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(Line::from(title.to_string()).style(bold().fg(Color::Cyan)))
        .title_bottom(Line::from(" Enter add · Tab complete · Ctrl-U/W clear · Esc cancel ").style(dim()));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let (shown, caret) = field.edit.view((inner.width as usize).saturating_sub(2));
    let mut lines = vec![Line::from(format!(" {shown}"))];
    if listed {
        let names: Vec<&str> = field
            .candidates
            .iter()
            .map(|c| c.trim_end_matches('/').rsplit('/').next().unwrap_or(c))
            .collect();
        lines.push(Line::from(Span::styled(
            truncate(&format!(" {}", names.join("  ")), inner.width as usize),
            dim(),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
    let x = inner.x + 1 + caret as u16;
    f.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y));
}
