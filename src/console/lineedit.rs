//! Text fields and lists: a one-line text field with the readline keys users expect (Ctrl-A/E/U/W/K, Home/End, ←/→, Delete) and the
//! display-width arithmetic that keeps the caret under the right column with wide characters, a path field with
//! its Tab completions, and movement in a list.
//!
//! Hand-written rather than taken from `tui-input`: every key reaches the field through the console's key table
//! (so the footer and help list it), not as a terminal event, and the field is about a hundred lines.
use unicode_width::UnicodeWidthChar;

/// What an editing key does to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EditOp {
    Left,
    Right,
    /// Home, Ctrl-A.
    Start,
    /// End, Ctrl-E.
    End,
    Backspace,
    Delete,
    /// Ctrl-U: everything before the caret.
    KillStart,
    /// Ctrl-K: everything from the caret on.
    KillEnd,
    /// Ctrl-W: the word before the caret (and the blanks after it).
    KillWord,
    /// Alt-←/→ are not bound by every terminal: a word left or right.
    WordLeft,
    WordRight,
}

/// A text field holding a path: its text, and the candidates of the last Tab that had several.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathField {
    pub edit: LineEdit,
    pub candidates: Vec<String>,
}

impl PathField {
    pub fn new(text: &str) -> Self {
        Self {
            edit: LineEdit::new(text),
            candidates: Vec::new(),
        }
    }

    /// Take a completion of `typed` (the text before the caret when Tab was pressed): one candidate replaces it,
    /// several extend it to their common start and are listed. Nothing when the field changed meanwhile.
    pub fn complete(&mut self, typed: &str, candidates: Vec<String>) -> bool {
        let before: String = self.edit.text().chars().take(self.edit.cursor()).collect();
        if before != typed {
            return false;
        }
        let common = common_prefix(&candidates);
        let after: String = self.edit.text().chars().skip(self.edit.cursor()).collect();
        if common.chars().count() > typed.chars().count() {
            let mut e = LineEdit::new(common);
            let at = e.cursor();
            e.insert_str(&after);
            for _ in 0..(e.cursor() - at) {
                e.apply(EditOp::Left);
            }
            self.edit = e;
        }
        self.candidates = if candidates.len() > 1 { candidates } else { Vec::new() };
        true
    }
}

/// The longest common start of `items` (by chars).
pub fn common_prefix(items: &[String]) -> String {
    let Some(first) = items.first() else {
        return String::new();
    };
    let mut n = first.chars().count();
    for s in &items[1..] {
        n = n.min(first.chars().zip(s.chars()).take_while(|(a, b)| a == b).count());
    }
    first.chars().take(n).collect()
}

/// Movement in a list, as `less` and vi users expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Move {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
}

/// `at` moved by `m` in a list whose last index is `last` (`page` rows a page).
pub fn moved(at: usize, m: Move, last: usize, page: usize) -> usize {
    match m {
        Move::Up => at.saturating_sub(1),
        Move::Down => (at + 1).min(last),
        Move::PageUp => at.saturating_sub(page),
        Move::PageDown => (at + page).min(last),
        Move::Top => 0,
        Move::Bottom => last,
    }
}

/// The text and the caret (a char index, 0..=len).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineEdit {
    text: String,
    cursor: usize,
}

impl LineEdit {
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let cursor = text.chars().count();
        Self { text, cursor }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    fn byte(&self, char_index: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_index)
            .map_or(self.text.len(), |(i, _)| i)
    }

    /// Replace the whole text, caret at its end.
    pub fn set(&mut self, text: impl Into<String>) {
        *self = Self::new(text);
    }

    pub fn insert(&mut self, c: char) {
        let at = self.byte(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(c);
        }
    }

    /// Apply `op`; returns whether the text changed (the caret may move either way).
    pub fn apply(&mut self, op: EditOp) -> bool {
        let before = self.text.len();
        let chars: Vec<char> = self.text.chars().collect();
        match op {
            EditOp::Left => self.cursor = self.cursor.saturating_sub(1),
            EditOp::Right => self.cursor = (self.cursor + 1).min(self.len()),
            EditOp::Start => self.cursor = 0,
            EditOp::End => self.cursor = self.len(),
            EditOp::Backspace => {
                if self.cursor > 0 {
                    self.remove(self.cursor - 1, self.cursor);
                    self.cursor -= 1;
                }
            }
            EditOp::Delete => {
                if self.cursor < self.len() {
                    self.remove(self.cursor, self.cursor + 1);
                }
            }
            EditOp::KillStart => {
                self.remove(0, self.cursor);
                self.cursor = 0;
            }
            EditOp::KillEnd => self.remove(self.cursor, self.len()),
            EditOp::KillWord => {
                let to = self.cursor;
                let from = word_start(&chars, to);
                self.remove(from, to);
                self.cursor = from;
            }
            EditOp::WordLeft => self.cursor = word_start(&chars, self.cursor),
            EditOp::WordRight => {
                let mut i = self.cursor;
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                self.cursor = i;
            }
        }
        self.text.len() != before
    }

    /// Whether `op` would do anything now (the caret or the text would move).
    pub fn would_change(&self, op: EditOp) -> bool {
        let mut probe = self.clone();
        probe.apply(op);
        probe != *self
    }

    fn remove(&mut self, from: usize, to: usize) {
        let (a, b) = (self.byte(from), self.byte(to));
        self.text.replace_range(a..b, "");
    }

    /// The part of the text to draw in `width` columns so that the caret shows, and the caret's column in it.
    /// The text keeps its start while the caret fits; past that the caret's side stays in view.
    pub fn view(&self, width: usize) -> (String, usize) {
        let width = width.max(1);
        let chars: Vec<char> = self.text.chars().collect();
        let w = |c: &char| c.width().unwrap_or(0);
        let caret_col: usize = chars[..self.cursor].iter().map(w).sum();
        // The first char shown: as far left as leaves the caret (plus one cell for it) inside the width.
        let mut first = 0;
        let mut col = caret_col;
        while col + 1 > width && first < self.cursor {
            col -= w(&chars[first]);
            first += 1;
        }
        let mut shown = String::new();
        let mut used = 0;
        for c in &chars[first..] {
            if used + w(c) > width {
                break;
            }
            used += w(c);
            shown.push(*c);
        }
        (shown, col)
    }
}

/// Where the word before `at` starts (blanks right before `at` are part of it).
fn word_start(chars: &[char], at: usize) -> usize {
    let mut i = at;
    while i > 0 && chars[i - 1].is_whitespace() {
        i -= 1;
    }
    while i > 0 && !chars[i - 1].is_whitespace() {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readline_keys_edit_around_the_caret() {
        let mut e = LineEdit::new("bpm:120..130 key:Cm");
        assert!(e.apply(EditOp::KillWord));
        assert_eq!(e.text(), "bpm:120..130 ");
        e.apply(EditOp::Start);
        assert_eq!(e.cursor(), 0);
        e.insert('^');
        assert_eq!(e.text(), "^bpm:120..130 ");
        e.apply(EditOp::End);
        e.insert_str("x");
        e.apply(EditOp::Left);
        e.apply(EditOp::Left);
        assert!(e.apply(EditOp::KillStart), "Ctrl-U clears what is before the caret");
        assert_eq!((e.text(), e.cursor()), (" x", 0));
        e.apply(EditOp::Delete);
        assert_eq!(e.text(), "x");
        assert!(!e.apply(EditOp::Backspace), "nothing before the caret");
        e.apply(EditOp::End);
        assert!(e.apply(EditOp::Backspace));
        assert!(e.is_empty());
        let mut e = LineEdit::new("one two three");
        e.apply(EditOp::WordLeft);
        assert_eq!(e.cursor(), 8);
        e.apply(EditOp::KillEnd);
        assert_eq!(e.text(), "one two ");
        e.apply(EditOp::Start);
        e.apply(EditOp::WordRight);
        assert_eq!(e.cursor(), 3);
        assert!(!e.would_change(EditOp::Start) || e.cursor() != 0);
    }

    #[test]
    fn wide_characters_keep_the_caret_in_its_column() {
        let mut e = LineEdit::new("さくら.mid");
        assert_eq!(e.view(40), ("さくら.mid".to_string(), 10));
        e.apply(EditOp::Start);
        e.apply(EditOp::Right);
        assert_eq!(e.view(40).1, 2, "one wide char is two columns");
        // Too narrow: the caret's side stays in view.
        let mut long = LineEdit::new("a".repeat(30));
        let (shown, col) = long.view(10);
        assert_eq!((shown.chars().count(), col), (9, 9));
        long.apply(EditOp::Start);
        assert_eq!(long.view(10), ("a".repeat(10), 0));
    }
}
