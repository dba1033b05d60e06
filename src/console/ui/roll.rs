//! The piano roll of the selected file: time across, pitch up (two pitches per row in half blocks), the drums in a
//! lane of their own at the bottom, the window moved by `RollView`. `window` and `Grid` are the pure layout.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::pitch::pitch_name;
use super::{dim, fmt_count, panel, truncate, wrap};
use crate::console::browser::{Browser, RollView, Slot};
use crate::engine::midi::Note;

/// Columns of pitch labels left of the roll.
const GUTTER: u16 = 4;
/// The playhead's colour.
const PLAYHEAD: Color = Color::Red;

/// What part of the file the roll shows, for an area of `cols` x `rows` cells of notes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Seconds at the left edge and at the right edge.
    pub t0: f64,
    pub t1: f64,
    /// Lowest and highest pitch shown (inclusive); each row holds two.
    pub pitch_lo: u8,
    pub pitch_hi: u8,
    pub cols: usize,
    pub rows: usize,
}

/// The window of `view` over a file of `duration` seconds, kept inside the file and inside MIDI's 128 pitches.
pub fn window(view: &RollView, duration: f64, cols: usize, rows: usize) -> Window {
    let mut v = *view;
    v.clamp(duration);
    let span = v.span(duration);
    let visible = (rows * 2).clamp(2, 128) as f64;
    let lo = (v.pitch_center - visible / 2.0 + 0.5)
        .floor()
        .clamp(0.0, 128.0 - visible);
    Window {
        t0: v.start,
        t1: v.start + span,
        pitch_lo: lo as u8,
        pitch_hi: (lo + visible - 1.0) as u8,
        cols,
        rows,
    }
}

impl Window {
    /// The column of time `t` (may lie outside 0..cols).
    pub fn col(&self, t: f64) -> i64 {
        ((t - self.t0) / (self.t1 - self.t0) * self.cols as f64).floor() as i64
    }

    /// Row (0 at the top) and half (true: upper) of a pitch in the window.
    pub fn cell_of(&self, pitch: u8) -> Option<(usize, bool)> {
        if pitch < self.pitch_lo || pitch > self.pitch_hi {
            return None;
        }
        let i = usize::from(pitch - self.pitch_lo);
        let row = self.rows.checked_sub(1 + i / 2)?;
        Some((row, i % 2 == 1))
    }
}

/// The roll as cells: for each melodic cell, which halves are lit and by which channel; for the drum lane, hits
/// per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub cells: Vec<Vec<(u8, u8)>>,
    pub drums: Vec<u32>,
}

const UPPER: u8 = 2;
const LOWER: u8 = 1;

impl Grid {
    pub fn draw(notes: &[Note], w: &Window) -> Grid {
        let mut g = Grid {
            cells: vec![vec![(0, 0); w.cols]; w.rows],
            drums: vec![0; w.cols],
        };
        let last = w.cols as i64 - 1;
        for n in notes {
            if n.start >= w.t1 {
                // Sorted by start: nothing later can show.
                break;
            }
            if n.end < w.t0 {
                continue;
            }
            let c0 = w.col(n.start);
            if n.is_drum() {
                if (0..=last).contains(&c0) {
                    g.drums[c0 as usize] += 1;
                }
                continue;
            }
            let Some((row, upper)) = w.cell_of(n.pitch) else {
                continue;
            };
            // A note shorter than a column still shows as one cell.
            let c1 = (w.col(n.end) - 1).max(c0);
            for c in c0.max(0)..=c1.min(last) {
                let cell = &mut g.cells[row][c as usize];
                cell.0 |= if upper { UPPER } else { LOWER };
                cell.1 = n.channel;
            }
        }
        g
    }
}

/// A colour per channel, so parts can be told apart.
fn channel_color(ch: u8) -> Color {
    const PALETTE: [Color; 8] = [
        Color::Cyan,
        Color::Green,
        Color::Magenta,
        Color::LightBlue,
        Color::LightRed,
        Color::LightGreen,
        Color::LightMagenta,
        Color::LightCyan,
    ];
    PALETTE[usize::from(ch) % PALETTE.len()]
}

/// Seconds with tenths when the window is short.
fn time_label(t: f64, span: f64) -> String {
    if span < 10.0 {
        let whole = t.floor();
        format!("{}.{}", super::fmt_secs(whole), ((t - whole) * 10.0).floor() as u8)
    } else {
        super::fmt_secs(t)
    }
}

/// The roll of the selected file; `playhead`: seconds of what is heard, when this file plays.
pub fn render_roll(f: &mut Frame, area: Rect, b: &Browser, left_rule: bool, playhead: Option<f64>) {
    let loaded = match &b.notes {
        Slot::Ready(n) => Some(n),
        _ => None,
    };
    let inner_w = area.width.saturating_sub(u16::from(left_rule) + GUTTER) as usize;
    // Rows: the melodic part, the drum lane, the time axis.
    let rows = (area.height.saturating_sub(3)) as usize;
    let win = loaded.map(|n| window(&b.view, n.notes.duration_seconds, inner_w, rows));
    let right = win.map(|w| {
        let mut t = format!(
            " {}–{} · {}–{} ",
            time_label(w.t0, w.t1 - w.t0),
            time_label(w.t1, w.t1 - w.t0),
            pitch_name(i16::from(w.pitch_lo)),
            pitch_name(i16::from(w.pitch_hi))
        );
        if loaded.is_some_and(|n| n.notes.truncated) {
            t.push_str(&format!(
                "· first {} notes ",
                fmt_count(crate::engine::library::MAX_NOTES as u64)
            ));
        }
        Line::from(t)
    });
    let block = panel("Piano roll ←→ +- []", right, left_rule);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (Some(n), Some(w)) = (loaded, win) else {
        let text = match &b.notes {
            Slot::Loading => "reading the notes…".to_string(),
            Slot::Failed(e) => format!("no notes: {e}"),
            _ => "no file selected".to_string(),
        };
        let lines: Vec<Line> = wrap(&text, inner.width.saturating_sub(2) as usize)
            .into_iter()
            .map(|l| Line::from(Span::styled(format!(" {l}"), dim())))
            .collect();
        f.render_widget(Paragraph::new(lines), inner);
        return;
    };
    if w.rows == 0 || w.cols == 0 {
        return;
    }
    let grid = Grid::draw(&n.notes.notes, &w);
    // The playhead's column, when it is in the window.
    let head = playhead
        .map(|t| w.col(t))
        .filter(|c| (0..w.cols as i64).contains(c))
        .map(|c| c as usize);
    let mut lines: Vec<Line> = Vec::with_capacity(w.rows + 2);
    for (r, row) in grid.cells.iter().enumerate() {
        // The label names a C when the row holds one.
        let lo = w.pitch_hi.saturating_sub((r * 2 + 1) as u8);
        let hi = w.pitch_hi.saturating_sub((r * 2) as u8);
        let label = (lo..=hi)
            .find(|p| p % 12 == 0)
            .map(|p| pitch_name(i16::from(p)))
            .unwrap_or_default();
        let mut spans = vec![Span::styled(format!("{label:>3} "), dim())];
        for (c, &(bits, ch)) in row.iter().enumerate() {
            let glyph = match bits {
                0 => " ",
                LOWER => "▄",
                UPPER => "▀",
                _ => "█",
            };
            let style = Style::new().fg(channel_color(ch));
            if head == Some(c) {
                spans.push(match bits {
                    0 => Span::styled("│", Style::new().fg(PLAYHEAD)),
                    _ => Span::styled(glyph, style.bg(PLAYHEAD)),
                });
            } else {
                spans.push(Span::styled(glyph, style));
            }
        }
        lines.push(Line::from(spans));
    }
    let mut drum = vec![Span::styled(" Dr ", dim())];
    let lane: Vec<char> = grid
        .drums
        .iter()
        .map(|&k| match k {
            0 => '·',
            1 => '•',
            _ => '●',
        })
        .collect();
    let drums = Style::new().fg(Color::Yellow);
    match head {
        Some(c) => {
            drum.push(Span::styled(lane[..c].iter().collect::<String>(), drums));
            drum.push(Span::styled(lane[c].to_string(), drums.bg(PLAYHEAD)));
            drum.push(Span::styled(lane[c + 1..].iter().collect::<String>(), drums));
        }
        None => drum.push(Span::styled(lane.into_iter().collect::<String>(), drums)),
    }
    lines.push(Line::from(drum));
    lines.push(axis(&w));
    f.render_widget(Paragraph::new(lines), inner);
}

/// Start, middle and end times under the roll.
fn axis(w: &Window) -> Line<'static> {
    let span = w.t1 - w.t0;
    let (a, m, z) = (
        time_label(w.t0, span),
        time_label(w.t0 + span / 2.0, span),
        time_label(w.t1, span),
    );
    let mut text: Vec<char> = " ".repeat(w.cols).chars().collect();
    let mut put = |at: usize, s: &str| {
        for (i, c) in s.chars().enumerate() {
            if let Some(slot) = text.get_mut(at + i) {
                *slot = c;
            }
        }
    };
    put(0, &a);
    put((w.cols / 2).saturating_sub(m.chars().count() / 2), &m);
    put(w.cols.saturating_sub(z.chars().count()), &z);
    let text: String = text.into_iter().collect();
    Line::from(vec![
        Span::raw(" ".repeat(GUTTER as usize)),
        Span::styled(truncate(&text, w.cols), dim()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(start: f64, end: f64, pitch: u8, channel: u8) -> Note {
        Note {
            start,
            end,
            pitch,
            channel,
            velocity: 100,
        }
    }

    #[test]
    fn the_window_centres_the_pitches_and_stays_inside_midi() {
        let view = RollView {
            pitch_center: 60.0,
            ..RollView::default()
        };
        let w = window(&view, 10.0, 40, 8);
        assert_eq!((w.pitch_lo, w.pitch_hi), (52, 67), "16 pitches around 60");
        assert_eq!((w.t0, w.t1), (0.0, 10.0), "zoom 0 shows the whole file");
        let top = window(
            &RollView {
                pitch_center: 127.0,
                ..view
            },
            10.0,
            40,
            8,
        );
        assert_eq!((top.pitch_lo, top.pitch_hi), (112, 127));
        let bottom = window(
            &RollView {
                pitch_center: -40.0,
                ..view
            },
            10.0,
            40,
            8,
        );
        assert_eq!((bottom.pitch_lo, bottom.pitch_hi), (0, 15));
        // A window taller than MIDI's range shows all of it.
        let tall = window(&view, 10.0, 40, 100);
        assert_eq!((tall.pitch_lo, tall.pitch_hi), (0, 127));
    }

    #[test]
    fn panning_is_clamped_to_the_file() {
        let mut view = RollView {
            zoom: 2,
            start: 100.0,
            ..RollView::default()
        };
        let w = window(&view, 20.0, 40, 8);
        assert_eq!((w.t0, w.t1), (15.0, 20.0), "the last quarter, not past the end");
        view.start = -3.0;
        assert_eq!(window(&view, 20.0, 40, 8).t0, 0.0);
        // A file of no length still has a window to draw into.
        let empty = window(&RollView::default(), 0.0, 40, 8);
        assert!(empty.t1 > empty.t0);
    }

    #[test]
    fn notes_land_in_their_cells_and_drums_in_their_lane() {
        let w = window(&RollView::default(), 4.0, 8, 2);
        assert_eq!((w.pitch_lo, w.pitch_hi), (58, 61));
        let notes = [
            note(0.0, 1.0, 61, 0), // top row, upper half, columns 0-1
            note(0.5, 0.6, 58, 1), // bottom row, lower half, one column
            note(2.0, 4.0, 60, 0), // top row, lower half, columns 4-7
            note(1.0, 1.1, 36, 9), // a drum hit in column 2
            note(1.2, 1.3, 38, 9), // and another
            note(0.0, 4.0, 90, 0), // out of the window's pitches
        ];
        let g = Grid::draw(&notes, &w);
        assert_eq!(g.cells[0][0], (UPPER, 0));
        assert_eq!(g.cells[0][1], (UPPER, 0));
        assert_eq!(g.cells[0][2], (0, 0));
        assert_eq!(g.cells[1][1], (LOWER, 1));
        assert_eq!(g.cells[0][4].0, LOWER);
        assert_eq!(g.cells[0][7].0, LOWER);
        assert_eq!(g.drums, vec![0, 0, 2, 0, 0, 0, 0, 0]);
        assert!(g.cells.iter().flatten().filter(|c| c.0 != 0).count() == 7);
    }
}
