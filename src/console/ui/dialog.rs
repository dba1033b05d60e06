//! Confirmation dialogs: what is about to happen and what a crash would cost; Enter confirms, Esc cancels.
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{bold, wrap};
use crate::console::app::{App, Dialog, RunState, quit_reasons};
use crate::console::keymap::{self, Action, Ctx};
use crate::engine::profile::{Confirmation, Level};
use crate::engine::run::backup::CrashCost;

/// Title, body paragraphs, the confirm label, and whether the dialog is about losing data.
fn content(app: &App, d: &Dialog) -> (String, Vec<String>, &'static str, bool) {
    match d {
        Dialog::Risk { needed, index, .. } => risk_content(needed, *index),
        Dialog::DropIndexes => (
            "Drop the secondary indexes?".into(),
            vec![
                format!("Level 2: {}.", Level::DropIndexes.describe()),
                format!(
                    "Nothing is lost in a crash: the definitions are backed up in the database and in INDEX_BACKUP.sql. \
                 Searches are slow until the indexes are rebuilt ({} rebuild indexes, or {} restore + rebuild).",
                    keymap::key_label(Ctx::Run, Action::Rebuild),
                    keymap::key_label(Ctx::Run, Action::RestoreAndRebuild)
                ),
            ],
            "drop them",
            false,
        ),
        Dialog::Cancel => {
            let mut body = vec![
                "Files in flight are written, the run is marked interrupted. Importing the same sources again \
                 resumes where it stopped (u on the start screen)."
                    .to_string(),
            ];
            body.extend(run_under_dialog(app));
            ("Cancel the run?".into(), body, "cancel the run", false)
        }
        Dialog::Restore { then_rebuild } => restore_content(app, *then_rebuild),
        Dialog::Backup { cost, .. } => backup_content(cost),
        Dialog::Quit => {
            let mut body: Vec<String> = quit_reasons(app).iter().map(|r| format!("• {r}")).collect();
            body.extend(run_under_dialog(app));
            if app.is_unsafe() == Some(true) {
                body.push("Quitting now leaves the database exposed to a crash until safety is restored.".into());
            }
            let confirm = if app.run.is_active() {
                "cancel the run and quit"
            } else {
                "quit"
            };
            ("Quit midi-tui?".into(), body, confirm, app.is_unsafe() == Some(true))
        }
    }
}

/// A risk's confirmation: what it turns off, and the keys that put it back.
fn risk_content(needed: &[Confirmation], index: usize) -> (String, Vec<String>, &'static str, bool) {
    let c = needed.get(index).copied().unwrap_or(Confirmation::FsyncOff);
    let what = match c {
        Confirmation::FsyncOff => "turn fsync off",
        Confirmation::Unlogged => "make the library tables UNLOGGED",
    };
    let step = if needed.len() > 1 {
        format!(" ({} of {})", index + 1, needed.len())
    } else {
        String::new()
    };
    (
        format!("Confirm{step}: {what}"),
        vec![
            c.statement().to_string(),
            // Each key named for what it does (from the key table): r does not rebuild indexes.
            format!(
                "{} (restore + rebuild) puts everything back, rebuilds the dropped indexes and verifies it; \
                 {} (restore safety) puts the settings and tables back only. The tool offers them when the \
                 run ends.",
                keymap::key_label(Ctx::Run, Action::RestoreAndRebuild),
                keymap::key_label(Ctx::Run, Action::Restore)
            ),
        ],
        "accept this risk",
        true,
    )
}

/// Restore safety (then the rebuild): what is relaxed now and what restoring does.
fn restore_content(app: &App, then_rebuild: bool) -> (String, Vec<String>, &'static str, bool) {
    let mut body: Vec<String> = Vec::new();
    if let Some(st) = app.safety() {
        body.extend(st.unsafe_reasons.iter().map(|r| format!("• {r}")));
        body.extend(st.relaxed.iter().map(|r| format!("• {r}")));
    }
    if body.is_empty() {
        body.push("Nothing is relaxed as far as the last look at the database tells.".into());
    }
    body.push(
        "Restoring puts every changed setting back, makes the tables LOGGED again (a rewrite: minutes on a \
         big library), restarts a managed server if a restart-only setting changed, and verifies each."
            .into(),
    );
    if then_rebuild {
        let missing = app.indexes_missing();
        body.push(format!(
            "Then the {} are rebuilt in parallel, and ANALYZE runs.",
            crate::engine::human::counted(missing, "dropped secondary index")
        ));
    }
    let title = if then_rebuild {
        "Restore safety and rebuild the indexes?"
    } else {
        "Restore safety?"
    };
    (
        title.into(),
        body,
        if then_rebuild { "restore and rebuild" } else { "restore" },
        false,
    )
}

/// The backup before level 3: what a crash would cost without it.
fn backup_content(cost: &Option<Result<CrashCost, String>>) -> (String, Vec<String>, &'static str, bool) {
    let mut body = Vec::new();
    let mut risky = false;
    match cost {
        None => body.push("Checking the earlier runs' sources and what a crash would cost…".to_string()),
        Some(Ok(c)) => {
            // The command line's flag means nothing here: Enter is the backup.
            body.push(format!("{}.", upper_first(&c.describe().replace(" (--backup)", ""))));
            if c.files_at_risk > 0 {
                risky = true;
                body.push(format!(
                    "Without a backup, {} only missing sources hold would be lost for good in a crash.",
                    crate::engine::human::counted(c.files_at_risk, "file")
                ));
            }
        }
        Some(Err(e)) => body.push(format!("What a crash would cost could not be found out: {e}.")),
    }
    body.push("n goes on without a backup.".into());
    (
        "Back up the library before level 3?".into(),
        body,
        "back up first",
        risky,
    )
}

/// The dialog's title and body as plain text (tests read what it says without drawing it).
#[cfg(test)]
pub fn dialog_text(app: &App, d: &Dialog) -> String {
    let (title, body, confirm, _) = content(app, d);
    format!("{title}\n{}\nEnter {confirm}", body.join("\n"))
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// What the quit and cancel dialogs say about a run going on under them.
pub fn run_under_dialog(app: &App) -> Option<String> {
    let done = super::fmt_count(app.live.snapshot.counts.done());
    match app.run {
        RunState::Preparing => {
            Some("The run is still applying its mode's levels; it goes on while this is open.".into())
        }
        RunState::Running => Some(format!("The run goes on while this is open: {done} files so far.")),
        RunState::Paused => Some(format!("The run is paused at {done} files.")),
        RunState::Cancelling { .. } => Some(format!("The run is being cancelled at {done} files.")),
        _ => None,
    }
}

pub fn render_dialog(f: &mut Frame, area: Rect, app: &App, d: &Dialog) {
    let (title, paragraphs, confirm, risky) = content(app, d);
    let width = area.width.saturating_sub(6).min(74);
    let text_w = width.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        // Bullets stay together; paragraphs are set apart.
        if i > 0 && !(p.starts_with("• ") && paragraphs[i - 1].starts_with("• ")) {
            lines.push(Line::from(""));
        }
        let style = if i == 0 && risky { bold() } else { Style::new() };
        // A bullet keeps its continuation lines indented under the text.
        let (lead, text) = match p.strip_prefix("• ") {
            Some(rest) => ("• ", rest),
            None => ("", p.as_str()),
        };
        for (j, l) in wrap(text, text_w.saturating_sub(lead.chars().count()))
            .into_iter()
            .enumerate()
        {
            let head = if j == 0 {
                lead.to_string()
            } else {
                " ".repeat(lead.chars().count())
            };
            lines.push(Line::from(vec![Span::raw(head), Span::styled(l, style)]));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("Enter", bold().fg(Color::Cyan)),
        Span::raw(format!(" {confirm}    ")),
        Span::styled("Esc", bold().fg(Color::Cyan)),
        Span::raw(" cancel, nothing changes"),
    ]));
    let height = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
    let popup = area.centered(Constraint::Length(width), Constraint::Length(height));
    f.render_widget(Clear, popup);
    let border = if risky {
        Style::new().fg(Color::Red)
    } else {
        Style::new().fg(Color::Yellow)
    };
    let block = Block::bordered()
        .border_style(border)
        .title(Line::from(format!(" {title} ")).style(bold().fg(if risky { Color::Red } else { Color::Yellow })));
    let inner = block.inner(popup).inner(ratatui::layout::Margin {
        horizontal: 1,
        vertical: 0,
    });
    f.render_widget(block, popup);
    f.render_widget(Paragraph::new(lines), inner);
}
