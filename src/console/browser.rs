//! The library browser's state and its pure update: the query line (debounced, stale answers dropped), the
//! results with keyset paging, the selected file's detail and notes, and the piano roll's view.
//!
//! Like `app`, nothing here touches the clock or the database: a delay is an effect the loop turns into a timer
//! message, a search is an effect whose answer comes back as a message tagged with the generation it was asked
//! for, and an answer for an older generation (an older query text or sort) is dropped.
use std::time::Duration;

use super::lineedit::{EditOp, LineEdit, Move, PathField, moved};
use crate::engine::library::backfill::BackfillReport;
use crate::engine::library::splits::SplitOptions;
use crate::engine::library::{
    Cursor, DupeGroup, DupeKind, FileDetail, FileNotes, Hit, MatchCount, Page, ParseError, Query, Sort, SortField,
};

/// Typing pauses this long before the query runs.
pub const DEBOUNCE: Duration = Duration::from_millis(150);
/// Lines one detail-scroll key moves.
pub const DETAIL_STEP: usize = 3;

/// At least as many lines as the detail pane draws for `d` (the facts, every location, the duplicate groups): the
/// farthest the pane scrolls, so that a held key does not scroll into nothing (the drawing clamps to the exact end).
fn detail_line_bound(d: &FileDetail) -> usize {
    const FACTS: usize = 20;
    FACTS + d.locations.len() + d.duplicates.iter().map(|g| 2 + g.files.len()).sum::<usize>()
}

/// The selection rests this long before its detail and notes are read (holding ↓ reads nothing on the way).
pub const SELECT_DELAY: Duration = Duration::from_millis(120);
/// Files fetched per page.
pub const PAGE_SIZE: usize = 100;
/// The next page is asked for when the selection comes this close to the last loaded row.
const PREFETCH: usize = 10;
/// Files held at most: past this the user is asked to narrow the query rather than scroll on.
pub const MAX_LOADED: usize = 10_000;
/// Rows ↑/↓ jump with PgUp/PgDn.
pub const PAGE_JUMP: usize = 10;
/// The sort fields in the order `s` cycles through them.
pub const SORT_CYCLE: [SortField; 7] = [
    SortField::Name,
    SortField::Bpm,
    SortField::Duration,
    SortField::Notes,
    SortField::Tracks,
    SortField::Size,
    SortField::Added,
];

/// Where typed keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Query,
    Results,
}

/// The lower pane on a screen too small for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Detail,
    Roll,
}

/// Something read for the selected file.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot<T> {
    Empty,
    Loading,
    Ready(T),
    Failed(String),
}

/// What part of the piano roll is shown: independent of the screen size, so `update` can move it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollView {
    /// Seconds at the left edge.
    pub start: f64,
    /// The window shows the file's length divided by 2^zoom (0: the whole file).
    pub zoom: u8,
    /// The pitch in the middle of the window (the notes' middle when a file is loaded).
    pub pitch_center: f64,
}

impl Default for RollView {
    fn default() -> Self {
        RollView {
            start: 0.0,
            zoom: 0,
            pitch_center: 60.0,
        }
    }
}

/// The deepest zoom: 1/256 of the file.
pub const MAX_ZOOM: u8 = 8;
/// Semitones `[` and `]` move the window.
pub const PITCH_STEP: f64 = 6.0;

impl RollView {
    /// Seconds the window spans for a file of `duration` seconds.
    pub fn span(&self, duration: f64) -> f64 {
        duration.max(0.001) / f64::from(1u32 << self.zoom)
    }

    /// Keep the window inside the file.
    pub fn clamp(&mut self, duration: f64) {
        let max_start = (duration - self.span(duration)).max(0.0);
        self.start = self.start.clamp(0.0, max_start);
        self.pitch_center = self.pitch_center.clamp(0.0, 127.0);
    }
}

/// A timer the loop runs for `update` (see `BrowserEffect::After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The query text of this generation has rested for the debounce.
    Search(u64),
    /// The selection of this generation has rested.
    Select(u64),
}

/// Groups the duplicates view reads at most (largest first).
pub const DUPE_GROUPS: usize = 200;
/// Files of one group the view lists at most.
pub const DUPE_FILES: usize = 200;

/// Whose duplicates the view shows.
#[derive(Debug, Clone, PartialEq)]
pub enum DupesOf {
    /// Every group of the library of one kind, largest first.
    Library(DupeKind),
    /// The groups of one file (its locations, its musical and transposed groups).
    File { content_hash: String, name: String },
}

/// One selectable row of the duplicates view: a file (or, in a byte group, one location of the one file).
#[derive(Debug, Clone, PartialEq)]
pub struct DupeRow {
    pub group: usize,
    pub content_hash: String,
    pub text: String,
}

/// The duplicates view: its groups and the selected row.
#[derive(Debug, Clone, PartialEq)]
pub struct DupesView {
    pub of: DupesOf,
    pub generation: u64,
    pub groups: Vec<DupeGroup>,
    pub rows: Vec<DupeRow>,
    pub selected: usize,
    pub loading: bool,
    pub error: Option<String>,
}

impl DupesView {
    fn new(of: DupesOf, generation: u64) -> Self {
        Self {
            of,
            generation,
            groups: Vec::new(),
            rows: Vec::new(),
            selected: 0,
            loading: true,
            error: None,
        }
    }

    fn fill(&mut self, groups: Vec<DupeGroup>) {
        self.rows.clear();
        for (g, group) in groups.iter().enumerate() {
            for f in &group.files {
                if group.kind == DupeKind::Bytes {
                    for l in &f.locations {
                        self.rows.push(DupeRow {
                            group: g,
                            content_hash: f.content_hash.clone(),
                            text: l.clone(),
                        });
                    }
                } else {
                    self.rows.push(DupeRow {
                        group: g,
                        content_hash: f.content_hash.clone(),
                        text: f.path.clone(),
                    });
                }
            }
        }
        self.groups = groups;
        self.selected = 0;
        self.loading = false;
        self.error = None;
    }
}

/// The export form: the current query's files into a folder, with `export`'s options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportForm {
    /// 0: the folder, 1: the manifest (optional), 2: the splits (optional).
    pub field: usize,
    pub out: PathField,
    pub manifest: PathField,
    /// `train=0.8,valid=0.1,test=0.1 seed=7`, optionally `one-per-group` and `similar=T`: `export --split`'s
    /// options in one line.
    pub split: PathField,
    pub all_locations: bool,
    /// The export is under way (its answer closes the form).
    pub running: bool,
    /// Why Enter did not start it.
    pub problem: Option<String>,
}

impl ExportForm {
    /// Field `i` (0 folder, 1 manifest, 2 splits).
    pub fn field_ref(&self, i: usize) -> &PathField {
        match i {
            0 => &self.out,
            1 => &self.manifest,
            _ => &self.split,
        }
    }

    pub fn field_mut(&mut self, i: usize) -> &mut PathField {
        match i {
            0 => &mut self.out,
            1 => &mut self.manifest,
            _ => &mut self.split,
        }
    }
}

/// The export form's split line: `SPEC`, `seed=S`, `similar=T`, `one-per-group`, in any order (empty: no split).
pub fn parse_split_line(line: &str) -> Result<SplitOptions, String> {
    let mut opts = SplitOptions::default();
    for word in line.split_whitespace() {
        if let Some(s) = word.strip_prefix("seed=") {
            opts.seed = s.parse().map_err(|_| format!("`{s}` is not a seed (a whole number)"))?;
        } else if let Some(t) = word.strip_prefix("similar=") {
            let t: f64 = t.parse().map_err(|_| format!("`{t}` is not a distance such as 0.3"))?;
            opts.group_similar = Some(t);
        } else if word == "one-per-group" {
            opts.one_per_group = true;
        } else {
            opts.spec = Some(word.parse()?);
        }
    }
    if opts.group_similar.is_some() && !opts.active() {
        return Err("similar= groups files for a split or one-per-group".into());
    }
    Ok(opts)
}

/// Answers for the browser.
#[derive(Debug, Clone)]
pub enum BrowserMsg {
    Timer(Timer),
    /// How many files the query of `generation` matches.
    Counted {
        generation: u64,
        result: Result<MatchCount, String>,
    },
    /// The groups the duplicates view of `generation` asked for.
    Dupes {
        generation: u64,
        result: Result<Vec<DupeGroup>, String>,
    },
    /// The export's one-line outcome, or why it failed.
    Exported(Result<String, String>),
    Searched {
        generation: u64,
        /// A next page (appended) rather than a first one.
        append: bool,
        result: Result<Page, String>,
    },
    Detail {
        selection: u64,
        /// Boxed: a detail is large next to the other answers.
        result: Result<Option<Box<FileDetail>>, String>,
    },
    Notes {
        selection: u64,
        result: Result<FileNotes, String>,
    },
    /// How far the features backfill is (after each batch).
    FeaturesProgress(BackfillReport),
    /// The backfill's one-line outcome, or why it stopped.
    FeaturesDone(Result<String, String>),
}

/// Work for the loop; each answer comes back as a `BrowserMsg`.
#[derive(Debug, Clone, PartialEq)]
pub enum BrowserEffect {
    After(Duration, Timer),
    Search {
        generation: u64,
        query: Query,
        sort: Sort,
        after: Option<Cursor>,
    },
    Detail {
        selection: u64,
        content_hash: String,
    },
    Notes {
        selection: u64,
        content_hash: String,
        locations: Vec<String>,
    },
    Count {
        generation: u64,
        query: Query,
    },
    Dupes {
        generation: u64,
        of: DupesOf,
    },
    Export {
        query: Query,
        out: String,
        manifest: Option<String>,
        all_locations: bool,
        split: SplitOptions,
    },
    /// Compute the similarity features of the files imported before them (`midi-tui features`).
    Features,
}

/// The browser: open or not, its query, results, selection and what was read about the selected file.
#[derive(Debug, Clone)]
pub struct Browser {
    pub open: bool,
    pub focus: Focus,
    /// The query line.
    pub query_edit: LineEdit,
    /// How many files the current query matches (`None` until counted, or when the count failed).
    pub count: Option<MatchCount>,
    /// The duplicates view, over the results while open.
    pub dupes: Option<DupesView>,
    /// Bumped by every duplicates view asked for: answers for an older one are dropped.
    pub dupes_asked: u64,
    /// The export form, over the browser while open.
    pub export: Option<ExportForm>,
    /// The features backfill while it runs: how far it is.
    pub features: Option<BackfillReport>,
    /// Bumped by every change of the query text or the sort: answers of another generation are stale.
    pub generation: u64,
    /// The generation whose text was last parsed and searched (Enter may run it before its timer).
    pub asked: u64,
    /// The query of the current text, once it parsed.
    pub query: Option<Query>,
    /// Why the current text does not parse (its column points at the term).
    pub error: Option<ParseError>,
    pub sort: Sort,
    pub hits: Vec<Hit>,
    pub next: Option<Cursor>,
    /// A `like:` page listed may miss a nearer file (`Page::approximate`); the results' title says so.
    pub approximate: bool,
    /// A first page is on its way.
    pub searching: bool,
    /// A next page is on its way.
    pub paging: bool,
    /// An answer for some query arrived (before it, "no file matches" would be a lie).
    pub answered: bool,
    pub search_error: Option<String>,
    pub selected: usize,
    /// Bumped whenever the selected file changes: detail and notes of another selection are stale.
    pub selection: u64,
    pub detail: Slot<FileDetail>,
    /// Lines of the detail pane scrolled past (0: its top, where the pane fits what it can).
    pub detail_scroll: usize,
    pub notes: Slot<FileNotes>,
    pub pane: Pane,
    pub view: RollView,
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            open: false,
            focus: Focus::Query,
            query_edit: LineEdit::default(),
            count: None,
            dupes: None,
            dupes_asked: 0,
            export: None,
            features: None,
            generation: 0,
            asked: 0,
            query: None,
            error: None,
            sort: Sort::default(),
            hits: Vec::new(),
            next: None,
            approximate: false,
            searching: false,
            paging: false,
            answered: false,
            search_error: None,
            selected: 0,
            selection: 0,
            detail: Slot::Empty,
            detail_scroll: 0,
            notes: Slot::Empty,
            pane: Pane::Detail,
            view: RollView::default(),
        }
    }
}

/// What the browser's keys do (bound in the key table); moving in the lists and editing the query are the key
/// table's shared `Move` and `Edit` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrowseAction {
    Open,
    Close,
    /// Back to the query line.
    EditQuery,
    /// Run the query now and go to the results.
    Submit,
    SortField,
    SortDirection,
    Pane,
    TimeLeft,
    TimeRight,
    ZoomIn,
    ZoomOut,
    PitchUp,
    PitchDown,
    /// Scroll the detail pane (every location of a file found in many places).
    DetailUp,
    DetailDown,
    /// The selected file's duplicate groups, in the duplicates view.
    DupesOfFile,
    /// Every duplicate group of the library, largest first.
    DupesView,
    /// The duplicates view: bytes, same notes, same notes transposed.
    DupesKind,
    /// Close the duplicates view.
    DupesBack,
    /// Search `like:ID` of the selected file: the files that sound like it, nearest first.
    Like,
    /// Open the export form for the current query.
    Export,
    ExportRun,
    ExportField,
    ExportAllLocations,
    ExportCancel,
    /// Compute the similarity features `like:` needs for files imported before them.
    Features,
}

impl Browser {
    /// The query text.
    pub fn text(&self) -> &str {
        self.query_edit.text()
    }

    /// The content hash of the selected file: a result, or a row of the duplicates view.
    pub fn selected_hash(&self) -> Option<&str> {
        match &self.dupes {
            Some(d) => d.rows.get(d.selected).map(|r| r.content_hash.as_str()),
            None => self.selected_hit().map(|h| h.content_hash.as_str()),
        }
    }

    /// The results are a `like:` query's, nearest first: the sort does not apply.
    pub fn ranks_by_likeness(&self) -> bool {
        self.query.as_ref().is_some_and(|q| q.like().is_some())
    }

    pub fn selected_hit(&self) -> Option<&Hit> {
        self.hits.get(self.selected)
    }

    /// The export form's field `i`.
    pub fn export_field(&mut self, i: usize) -> Option<&mut PathField> {
        let form = self.export.as_mut()?;
        Some(form.field_mut(i))
    }

    /// The export form's focused field and its number.
    pub fn export_focus(&self) -> Option<(usize, &PathField)> {
        let form = self.export.as_ref()?;
        Some((form.field, form.field_ref(form.field)))
    }

    /// A typed character: into the query line, or the export form's field.
    pub fn type_char(&mut self, c: char) -> Vec<BrowserEffect> {
        if let Some(form) = self.export.as_mut() {
            let f = form.field_mut(form.field);
            f.edit.insert(c);
            f.candidates.clear();
            form.problem = None;
            return vec![];
        }
        self.query_edit.insert(c);
        self.edited()
    }

    /// An editing key in the focused field.
    pub fn on_edit(&mut self, op: EditOp) -> Vec<BrowserEffect> {
        if let Some(form) = self.export.as_mut() {
            let f = form.field_mut(form.field);
            f.edit.apply(op);
            f.candidates.clear();
            return vec![];
        }
        if self.query_edit.apply(op) {
            return self.edited();
        }
        vec![]
    }

    /// Whether an editing key would change the focused field.
    pub fn can_edit(&self, op: EditOp) -> bool {
        match self.export_focus() {
            Some((_, f)) => f.edit.would_change(op),
            None => self.query_edit.would_change(op),
        }
    }

    /// A movement key: the results, or the duplicates view's rows.
    pub fn on_move(&mut self, m: Move) -> Vec<BrowserEffect> {
        if let Some(d) = self.dupes.as_mut() {
            let last = d.rows.len().saturating_sub(1);
            let to = moved(d.selected, m, last, PAGE_JUMP);
            if to == d.selected || d.rows.is_empty() {
                return vec![];
            }
            d.selected = to;
            return self.selection_changed();
        }
        let last = self.hits.len().saturating_sub(1);
        let to = moved(self.selected, m, last, PAGE_JUMP) as i64;
        self.move_by(to - self.selected as i64)
    }

    /// Whether a movement key would move the selection.
    pub fn can_move(&self, m: Move) -> bool {
        let (at, len) = match &self.dupes {
            Some(d) => (d.selected, d.rows.len()),
            None => (self.selected, self.hits.len()),
        };
        len > 0 && moved(at, m, len - 1, PAGE_JUMP) != at
    }

    /// Whether `action` does something now.
    pub fn available(&self, action: BrowseAction) -> bool {
        let notes_ready = matches!(self.notes, Slot::Ready(_));
        match action {
            BrowseAction::DupesOfFile | BrowseAction::Like => self.selected_hit().is_some(),
            BrowseAction::Export => self.query.is_some() && self.answered && !self.hits.is_empty(),
            BrowseAction::TimeLeft => notes_ready && self.view.start > 0.0,
            BrowseAction::TimeRight => {
                let d = self.duration();
                notes_ready && self.view.start + self.view.span(d) < d - 1e-9
            }
            BrowseAction::ZoomIn => notes_ready && self.view.zoom < MAX_ZOOM,
            BrowseAction::ZoomOut => notes_ready && self.view.zoom > 0,
            BrowseAction::PitchUp => notes_ready && self.view.pitch_center < 127.0,
            BrowseAction::PitchDown => notes_ready && self.view.pitch_center > 0.0,
            BrowseAction::DetailUp => self.detail_scroll > 0,
            BrowseAction::DetailDown => match &self.detail {
                Slot::Ready(d) => self.detail_scroll < detail_line_bound(d),
                _ => false,
            },
            BrowseAction::DupesKind => matches!(&self.dupes, Some(d) if matches!(d.of, DupesOf::Library(_))),
            BrowseAction::Features => self.features.is_none(),
            BrowseAction::SortField | BrowseAction::SortDirection => !self.ranks_by_likeness(),
            _ => true,
        }
    }

    /// What a key whose action is not available says.
    pub fn why_not(&self, action: BrowseAction) -> String {
        match action {
            BrowseAction::DupesOfFile | BrowseAction::Like => "no file selected".into(),
            BrowseAction::Export => "no results to export: run a query first".into(),
            BrowseAction::DetailUp | BrowseAction::DetailDown => "the detail shows all there is".into(),
            BrowseAction::DupesKind => "these are one file's groups: D lists the library's".into(),
            BrowseAction::Features => "the similarity features are being computed".into(),
            BrowseAction::SortField | BrowseAction::SortDirection => {
                "like: lists the nearest first; the sort orders other queries".into()
            }
            _ => "the piano roll cannot go further".into(),
        }
    }

    /// The query text changed: a new generation, its search after the debounce.
    fn edited(&mut self) -> Vec<BrowserEffect> {
        self.generation += 1;
        vec![BrowserEffect::After(DEBOUNCE, Timer::Search(self.generation))]
    }

    /// Parse the current text and ask for its first page and its count. A text that does not parse clears the
    /// results: what they answered is not this text.
    fn search_now(&mut self) -> Vec<BrowserEffect> {
        self.asked = self.generation;
        self.count = None;
        match Query::parse(self.query_edit.text()) {
            Ok(q) => {
                self.error = None;
                self.query = Some(q.clone());
                self.searching = true;
                self.paging = false;
                vec![
                    BrowserEffect::Search {
                        generation: self.generation,
                        query: q.clone(),
                        sort: self.sort,
                        after: None,
                    },
                    BrowserEffect::Count {
                        generation: self.generation,
                        query: q,
                    },
                ]
            }
            Err(e) => {
                self.error = Some(e);
                self.query = None;
                self.searching = false;
                self.clear_results()
            }
        }
    }

    /// No results shown (a query that does not parse, or whose search failed).
    fn clear_results(&mut self) -> Vec<BrowserEffect> {
        self.hits.clear();
        self.next = None;
        self.approximate = false;
        self.answered = false;
        self.selected = 0;
        self.selection_changed()
    }

    pub fn on_action(&mut self, action: BrowseAction) -> Vec<BrowserEffect> {
        match action {
            BrowseAction::Open => {
                self.open = true;
                self.focus = Focus::Query;
                self.dupes = None;
                // Opening again refreshes: an import may have added files meanwhile.
                self.generation += 1;
                self.search_now()
            }
            BrowseAction::Close => {
                self.open = false;
                self.dupes = None;
                vec![]
            }
            BrowseAction::EditQuery => {
                self.focus = Focus::Query;
                if self.dupes.take().is_some() {
                    return self.selection_changed();
                }
                vec![]
            }
            BrowseAction::Submit => {
                self.focus = Focus::Results;
                // Enter does not wait for the debounce.
                if self.asked != self.generation {
                    return self.search_now();
                }
                vec![]
            }
            BrowseAction::SortField => {
                let i = SORT_CYCLE.iter().position(|f| *f == self.sort.field).unwrap_or(0);
                self.sort.field = SORT_CYCLE[(i + 1) % SORT_CYCLE.len()];
                self.resort()
            }
            BrowseAction::SortDirection => {
                self.sort.descending = !self.sort.descending;
                self.resort()
            }
            BrowseAction::Pane
            | BrowseAction::TimeLeft
            | BrowseAction::TimeRight
            | BrowseAction::ZoomIn
            | BrowseAction::ZoomOut
            | BrowseAction::PitchUp
            | BrowseAction::PitchDown
            | BrowseAction::DetailUp
            | BrowseAction::DetailDown => {
                self.on_view_action(action);
                vec![]
            }
            BrowseAction::DupesOfFile => {
                let Some(h) = self.selected_hit() else { return vec![] };
                let of = DupesOf::File {
                    content_hash: h.content_hash.clone(),
                    name: h.filename.clone(),
                };
                self.open_dupes(of)
            }
            BrowseAction::DupesView => self.open_dupes(DupesOf::Library(DupeKind::Musical)),
            BrowseAction::Like => {
                let Some(id) = self.selected_hit().map(|h| h.id) else {
                    return vec![];
                };
                self.query_edit.set(format!("like:{id}"));
                self.dupes = None;
                self.focus = Focus::Results;
                self.generation += 1;
                self.search_now()
            }
            BrowseAction::DupesKind => {
                let Some(DupesOf::Library(kind)) = self.dupes.as_ref().map(|d| d.of.clone()) else {
                    return vec![];
                };
                let next = match kind {
                    DupeKind::Bytes => DupeKind::Musical,
                    DupeKind::Musical => DupeKind::Transposed,
                    DupeKind::Transposed => DupeKind::Bytes,
                };
                self.open_dupes(DupesOf::Library(next))
            }
            BrowseAction::DupesBack => {
                self.dupes = None;
                self.selection_changed()
            }
            BrowseAction::Export => {
                self.export = Some(ExportForm::default());
                vec![]
            }
            BrowseAction::ExportField => {
                if let Some(f) = self.export.as_mut() {
                    f.field = (f.field + 1) % 3;
                }
                vec![]
            }
            BrowseAction::ExportAllLocations => {
                if let Some(f) = self.export.as_mut() {
                    f.all_locations = !f.all_locations;
                }
                vec![]
            }
            BrowseAction::ExportCancel => {
                self.export = None;
                vec![]
            }
            BrowseAction::ExportRun => self.start_export(),
            BrowseAction::Features => {
                if self.features.is_some() {
                    return vec![];
                }
                self.features = Some(BackfillReport::default());
                vec![BrowserEffect::Features]
            }
        }
    }

    /// The detail and piano-roll view: which pane, the roll's window in time and pitch, the detail's scroll.
    fn on_view_action(&mut self, action: BrowseAction) {
        match action {
            BrowseAction::Pane => {
                self.pane = match self.pane {
                    Pane::Detail => Pane::Roll,
                    Pane::Roll => Pane::Detail,
                };
            }
            BrowseAction::TimeLeft | BrowseAction::TimeRight => {
                let duration = self.duration();
                let step = self.view.span(duration) / 4.0;
                self.view.start += if action == BrowseAction::TimeLeft { -step } else { step };
                self.view.clamp(duration);
            }
            BrowseAction::ZoomIn | BrowseAction::ZoomOut => {
                let duration = self.duration();
                // Zoom around the middle of the window.
                let middle = self.view.start + self.view.span(duration) / 2.0;
                self.view.zoom = if action == BrowseAction::ZoomIn {
                    (self.view.zoom + 1).min(MAX_ZOOM)
                } else {
                    self.view.zoom.saturating_sub(1)
                };
                self.view.start = middle - self.view.span(duration) / 2.0;
                self.view.clamp(duration);
            }
            BrowseAction::PitchUp | BrowseAction::PitchDown => {
                self.view.pitch_center += if action == BrowseAction::PitchUp {
                    PITCH_STEP
                } else {
                    -PITCH_STEP
                };
                self.view.clamp(self.duration());
            }
            BrowseAction::DetailUp => {
                self.detail_scroll = self.detail_scroll.saturating_sub(DETAIL_STEP);
            }
            BrowseAction::DetailDown => {
                let most = match &self.detail {
                    Slot::Ready(d) => detail_line_bound(d),
                    _ => 0,
                };
                self.detail_scroll = (self.detail_scroll + DETAIL_STEP).min(most);
            }
            _ => {}
        }
    }

    fn open_dupes(&mut self, of: DupesOf) -> Vec<BrowserEffect> {
        // A counter of its own: the query's answers on their way stay valid.
        self.dupes_asked += 1;
        self.focus = Focus::Results;
        self.dupes = Some(DupesView::new(of.clone(), self.dupes_asked));
        let mut out = self.selection_changed();
        out.push(BrowserEffect::Dupes {
            generation: self.dupes_asked,
            of,
        });
        out
    }

    /// Enter on the export form: the folder is needed; the query is the one whose results are shown.
    fn start_export(&mut self) -> Vec<BrowserEffect> {
        let query = self.query.clone();
        let Some(form) = self.export.as_mut() else {
            return vec![];
        };
        let out = form.out.edit.text().trim().to_string();
        if out.is_empty() {
            form.problem = Some("type the folder to export into".into());
            form.field = 0;
            return vec![];
        }
        let Some(query) = query else {
            form.problem = Some("the query does not parse: fix it first".into());
            return vec![];
        };
        let manifest = Some(form.manifest.edit.text().trim().to_string()).filter(|m| !m.is_empty());
        if let Some(m) = &manifest
            && !(m.ends_with(".csv") || m.ends_with(".jsonl"))
        {
            form.problem = Some("the manifest must be named .csv or .jsonl".into());
            form.field = 1;
            return vec![];
        }
        let split = match parse_split_line(form.split.edit.text()) {
            Ok(s) => s,
            Err(e) => {
                form.problem = Some(e);
                form.field = 2;
                return vec![];
            }
        };
        form.running = true;
        form.problem = None;
        vec![BrowserEffect::Export {
            query,
            out,
            manifest,
            all_locations: form.all_locations,
            split,
        }]
    }

    /// The loaded notes' length (0 before any).
    fn duration(&self) -> f64 {
        match &self.notes {
            Slot::Ready(n) => n.notes.duration_seconds,
            _ => 0.0,
        }
    }

    /// A new sort: the same query in the new order, from its first page.
    fn resort(&mut self) -> Vec<BrowserEffect> {
        self.generation += 1;
        self.search_now()
    }

    /// Move the selection; ask for the next page when it nears the end of what is loaded.
    fn move_by(&mut self, delta: i64) -> Vec<BrowserEffect> {
        if self.hits.is_empty() {
            return vec![];
        }
        let last = self.hits.len() as i64 - 1;
        let to = (self.selected as i64 + delta).clamp(0, last) as usize;
        let mut out = Vec::new();
        if to != self.selected {
            self.selected = to;
            out.extend(self.selection_changed());
        }
        out.extend(self.maybe_next_page());
        out
    }

    fn maybe_next_page(&mut self) -> Vec<BrowserEffect> {
        let near_end = self.selected + PREFETCH >= self.hits.len();
        let (Some(after), Some(query)) = (self.next.clone(), self.query.clone()) else {
            return vec![];
        };
        if !near_end || self.paging || self.searching || self.hits.len() >= MAX_LOADED {
            return vec![];
        }
        self.paging = true;
        vec![BrowserEffect::Search {
            generation: self.generation,
            query,
            sort: self.sort,
            after: Some(after),
        }]
    }

    /// Another file is selected (or none): forget what was read, read it after the selection rests.
    fn selection_changed(&mut self) -> Vec<BrowserEffect> {
        self.selection += 1;
        self.view = RollView::default();
        self.detail_scroll = 0;
        if self.selected_hash().is_none() {
            self.detail = Slot::Empty;
            self.notes = Slot::Empty;
            return vec![];
        }
        self.detail = Slot::Loading;
        self.notes = Slot::Loading;
        vec![BrowserEffect::After(SELECT_DELAY, Timer::Select(self.selection))]
    }

    pub fn on_msg(&mut self, msg: BrowserMsg) -> Vec<BrowserEffect> {
        match msg {
            BrowserMsg::Timer(Timer::Search(g)) if g == self.generation && self.asked != g => self.search_now(),
            BrowserMsg::Timer(Timer::Select(s)) if s == self.selection => match self.selected_hash() {
                Some(h) => vec![BrowserEffect::Detail {
                    selection: s,
                    content_hash: h.to_string(),
                }],
                None => vec![],
            },
            BrowserMsg::Counted { generation, result } => {
                if generation == self.generation {
                    // A count that failed (or took too long) shows nothing rather than a guess.
                    self.count = result.ok();
                }
                vec![]
            }
            BrowserMsg::Dupes { generation, result } => {
                let Some(d) = self.dupes.as_mut().filter(|d| d.generation == generation) else {
                    return vec![];
                };
                match result {
                    Ok(groups) => d.fill(groups),
                    Err(e) => {
                        d.loading = false;
                        d.error = Some(e);
                    }
                }
                self.selection_changed()
            }
            BrowserMsg::Exported(_) => {
                self.export = None;
                vec![]
            }
            BrowserMsg::FeaturesProgress(r) => {
                if self.features.is_some() {
                    self.features = Some(r);
                }
                vec![]
            }
            BrowserMsg::FeaturesDone(_) => {
                self.features = None;
                // A `like:` query that failed for want of features, or ranked without some, runs again.
                if self.ranks_by_likeness() {
                    self.generation += 1;
                    return self.search_now();
                }
                vec![]
            }
            // A newer edit or selection has its own timer.
            BrowserMsg::Timer(_) => vec![],
            BrowserMsg::Searched {
                generation,
                append,
                result,
            } => {
                if generation != self.generation {
                    return vec![];
                }
                self.on_page(append, result)
            }
            BrowserMsg::Detail { selection, result } => {
                if selection != self.selection {
                    return vec![];
                }
                match result {
                    Ok(Some(d)) => {
                        let locations = d.locations.iter().map(|l| l.path.clone()).collect();
                        let content_hash = d.content_hash.clone();
                        self.detail = Slot::Ready(*d);
                        vec![BrowserEffect::Notes {
                            selection,
                            content_hash,
                            locations,
                        }]
                    }
                    Ok(None) => {
                        self.detail = Slot::Failed("no longer in the library".into());
                        self.notes = Slot::Empty;
                        vec![]
                    }
                    Err(e) => {
                        self.detail = Slot::Failed(e);
                        self.notes = Slot::Empty;
                        vec![]
                    }
                }
            }
            BrowserMsg::Notes { selection, result } => {
                if selection == self.selection {
                    self.notes = match result {
                        Ok(n) => {
                            self.view = RollView {
                                pitch_center: middle_pitch(&n),
                                ..RollView::default()
                            };
                            Slot::Ready(n)
                        }
                        Err(e) => Slot::Failed(e),
                    };
                }
                vec![]
            }
        }
    }

    fn on_page(&mut self, append: bool, result: Result<Page, String>) -> Vec<BrowserEffect> {
        let page = match result {
            Ok(p) => p,
            Err(e) => {
                self.searching = false;
                self.paging = false;
                self.search_error = Some(e);
                // What is listed answered an earlier search, not this one: it goes.
                if !append {
                    return self.clear_results();
                }
                return vec![];
            }
        };
        self.search_error = None;
        self.answered = true;
        if append {
            self.paging = false;
            let room = MAX_LOADED.saturating_sub(self.hits.len());
            self.hits.extend(page.hits.into_iter().take(room));
            self.next = page.next;
            self.approximate |= page.approximate;
            return self.maybe_next_page();
        }
        self.searching = false;
        // The same file stays selected when it is still in the answer (a refresh while an import runs).
        let before = self.selected_hit().map(|h| h.id);
        self.hits = page.hits;
        self.next = page.next;
        self.approximate = page.approximate;
        // An answer that fits in one page is its own exact count.
        if self.next.is_none() {
            self.count = Some(MatchCount::Exact(self.hits.len() as u64));
        }
        match before.and_then(|id| self.hits.iter().position(|h| h.id == id)) {
            Some(i) => {
                self.selected = i;
                vec![]
            }
            None => {
                self.selected = 0;
                self.selection_changed()
            }
        }
    }
}

/// The middle of the melodic notes' range (drums are in a lane of their own), 60 without any.
pub fn middle_pitch(n: &FileNotes) -> f64 {
    let melodic = n.notes.notes.iter().filter(|x| !x.is_drum()).map(|x| x.pitch);
    let (lo, hi) = melodic.fold((u8::MAX, u8::MIN), |(lo, hi), p| (lo.min(p), hi.max(p)));
    if lo > hi {
        60.0
    } else {
        (f64::from(lo) + f64::from(hi)) / 2.0
    }
}

#[cfg(test)]
mod tests;
