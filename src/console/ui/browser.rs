//! The library browser over the screen: the query line, the results table, the selected file's detail and its
//! piano roll (`roll`). Everything drawn comes from `app.browser`; nothing here reads the database.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::pitch::pitch_name;
use super::{bold, dim, fmt_bytes, fmt_count, fmt_secs, pad, panel, roll, truncate, truncate_left, width_of};
use crate::console::app::{App, available};
use crate::console::browser::{BrowseAction, Browser, DupesOf, DupesView, Focus, MAX_LOADED, Pane, Slot};
use crate::console::keymap::{self, Action, Ctx, key_label};
use crate::engine::database::similar::NO_FEATURES;
use crate::engine::human::counted;
use crate::engine::library::{DupeKind, FileDetail, Hit, MatchCount, SortField};
use crate::engine::midi::gm::PROGRAM_NAMES;

/// From this size on, detail and piano roll are side by side; below, Tab switches between them.
const SPLIT_MIN_WIDTH: u16 = 100;
const SPLIT_MIN_HEIGHT: u16 = 30;

/// The browser in `area` (the body between header and footer).
pub fn render_browser(f: &mut Frame, area: Rect, app: &App) {
    f.render_widget(Clear, area);
    let b = &app.browser;
    let query_h = if b.error.is_some() { 3 } else { 2 };
    // One line at the bottom for listening.
    let rest_h = area.height.saturating_sub(query_h + 1);
    let results_h = (rest_h * 2 / 5).max(5);
    let [query_a, results_a, lower, listen_a] = Layout::vertical([
        Constraint::Length(query_h),
        Constraint::Length(results_h),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    render_query(f, query_a, app);
    match &b.dupes {
        Some(d) => render_dupes(f, results_a, b, d),
        None => render_results(f, results_a, b),
    }
    let playhead = app.listen.playhead_of(b.selection);
    if area.width >= SPLIT_MIN_WIDTH && area.height >= SPLIT_MIN_HEIGHT {
        let [detail_a, roll_a] =
            Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(lower);
        render_detail(f, detail_a, b, false);
        roll::render_roll(f, roll_a, b, true, playhead);
    } else {
        match b.pane {
            Pane::Detail => render_detail(f, lower, b, false),
            Pane::Roll => roll::render_roll(f, lower, b, false, playhead),
        }
    }
    render_listen(f, listen_a, app);
    if let Some(form) = &b.export {
        render_export(f, area, b, form);
    }
}

/// The listening line: what plays and where, the output by name, and the last outcome (why nothing plays, where
/// a render went).
fn render_listen(f: &mut Frame, area: Rect, app: &App) {
    use crate::console::listen::{ListenAction as L, OutputState};
    let l = &app.listen;
    let mut spans = vec![Span::styled(" ♪ ", bold().fg(Color::Magenta))];
    let state = if let Some(p) = &l.playing {
        match (p.started, l.playhead) {
            (Some((id, duration)), Some(h)) if h.id == id => {
                format!("▶ {} {} / {}", p.name, fmt_secs(h.seconds), fmt_secs(duration))
            }
            (Some((_, duration)), _) => format!("▶ {} 0:00 / {}", p.name, fmt_secs(duration)),
            (None, _) => format!("loading {}…", p.name),
        }
    } else if l.output == OutputState::Opening {
        "opening…".to_string()
    } else if l.probing {
        "looking for a SoundFont and MIDI ports…".to_string()
    } else {
        "■".to_string()
    };
    spans.push(Span::styled(state, bold()));
    spans.push(Span::styled(format!("  output: {}", l.output_label()), dim()));
    if let Some(name) = &l.rendering {
        spans.push(Span::styled(
            format!("  rendering {name} to WAV…"),
            Style::new().fg(Color::Yellow),
        ));
    }
    match &l.message {
        Some(m) => spans.push(Span::styled(format!("  {m}"), Style::new().fg(Color::Yellow))),
        None => {
            // The listening keys that work here and now, from the key table (none while typing a query).
            let ctx = app.context();
            let key = |a: L| {
                let action = Action::Listen(a);
                let bound = keymap::bindings_of(ctx).any(|bd| bd.action == action);
                (bound && available(app, action)).then(|| key_label(ctx, action))
            };
            let seek: Vec<String> = [L::SeekBack, L::SeekForward].into_iter().filter_map(key).collect();
            let hints: Vec<String> = [
                key(L::PlayStop).map(|k| format!("{k} {}", if l.auditioning { "stop" } else { "play" })),
                (!seek.is_empty()).then(|| format!("{} seek", seek.join(" "))),
                key(L::NextOutput).map(|k| format!("{k} output")),
                key(L::Render).map(|k| format!("{k} render")),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !hints.is_empty() {
                spans.push(Span::styled(format!("  {}", hints.join(" · ")), dim()));
            }
        }
    }
    let width = area.width as usize;
    let mut used = 0;
    let mut fitted = Vec::new();
    for s in spans {
        let n = width_of(&s.content);
        if used + n > width {
            fitted.push(Span::styled(truncate(&s.content, width - used), s.style));
            break;
        }
        used += n;
        fitted.push(s);
    }
    f.render_widget(Paragraph::new(Line::from(fitted)), area);
}

/// The export form over the browser: the folder, an optional manifest, every location or one.
fn render_export(f: &mut Frame, area: Rect, b: &Browser, form: &crate::console::browser::ExportForm) {
    let width = area.width.saturating_sub(6).min(90);
    let popup = area.centered(Constraint::Length(width), Constraint::Length(7));
    f.render_widget(Clear, popup);
    let matched = match b.count {
        Some(MatchCount::Exact(n)) => counted(n, "file"),
        Some(MatchCount::About(n)) => format!("about {}", counted(n, "file")),
        None => "the matching files".into(),
    };
    let block = ratatui::widgets::Block::bordered()
        .title(Line::from(format!(" Export {matched} of `{}` ", truncate(b.text(), 30))).style(bold().fg(Color::Cyan)))
        .title_bottom(
            Line::from(if form.running {
                " exporting… (the answer comes in the footer) ".to_string()
            } else {
                " Ctrl-L one/every location · Esc cancel ".to_string()
            })
            .style(dim()),
        );
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let label_w = 11;
    let field_w = (inner.width as usize).saturating_sub(label_w + 2);
    let mut lines = Vec::new();
    for (i, (label, field)) in [
        ("folder", &form.out),
        ("manifest", &form.manifest),
        ("split", &form.split),
    ]
    .into_iter()
    .enumerate()
    {
        let (shown, caret) = field.edit.view(field_w);
        let focused = form.field == i && !form.running;
        let style = if focused { bold().fg(Color::Cyan) } else { dim() };
        let hint = if field.edit.is_empty() && i == 1 {
            Span::styled("optional: FILE.csv or FILE.jsonl", dim())
        } else if field.edit.is_empty() && i == 2 {
            Span::styled("optional: train=0.8,valid=0.1,test=0.1 seed=1", dim())
        } else {
            Span::raw(shown)
        };
        lines.push(Line::from(vec![Span::styled(format!(" {label:<9} "), style), hint]));
        if focused {
            f.set_cursor_position((inner.x + label_w as u16 + caret as u16, inner.y + i as u16));
        }
    }
    lines.push(Line::from(vec![
        Span::styled(format!(" {:<9} ", "locations"), dim()),
        Span::raw(if form.all_locations {
            "every location of each file"
        } else {
            "one location per file (where it was first found)"
        }),
    ]));
    let focused = form.field_ref(form.field);
    if let Some(p) = &form.problem {
        lines.push(Line::from(Span::styled(format!(" {p}"), Style::new().fg(Color::Red))));
    } else if !focused.candidates.is_empty() {
        let names: Vec<&str> = focused
            .candidates
            .iter()
            .map(|c| c.trim_end_matches('/').rsplit('/').next().unwrap_or(c))
            .collect();
        lines.push(Line::from(Span::styled(
            truncate(&format!(" {}", names.join("  ")), inner.width as usize),
            dim(),
        )));
    } else {
        lines.push(Line::from(Span::styled(
            " as `export QUERY --out FOLDER --manifest FILE --split S --seed N`",
            dim(),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The duplicates view in place of the results: each group's header, then its files (a byte group: its one
/// file's locations), largest group first.
fn render_dupes(f: &mut Frame, area: Rect, b: &Browser, d: &DupesView) {
    let kind_name = |k: DupeKind| match k {
        DupeKind::Bytes => "byte-identical",
        DupeKind::Musical => "same notes",
        DupeKind::Transposed => "same notes, transposed",
    };
    let title = match &d.of {
        DupesOf::Library(k) => format!("Duplicates: {}", kind_name(*k)),
        DupesOf::File { name, .. } => format!("Duplicates of {}", truncate(name, 40)),
    };
    let status = if d.loading {
        "reading…".to_string()
    } else if let Some(e) = &d.error {
        format!("failed: {e}")
    } else if d.groups.is_empty() {
        "no duplicates".to_string()
    } else {
        let more = if matches!(d.of, DupesOf::Library(_)) && d.groups.len() >= crate::console::browser::DUPE_GROUPS {
            " (the largest)"
        } else {
            ""
        };
        format!(
            "{} group{}{more}, largest first",
            d.groups.len(),
            if d.groups.len() == 1 { "" } else { "s" }
        )
    };
    let block = panel(&title, Some(Line::from(format!(" {status} "))), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    // Rows as drawn: a header before each group's first row.
    let mut drawn: Vec<(Option<usize>, Line)> = Vec::new();
    let mut last_group = None;
    for (i, r) in d.rows.iter().enumerate() {
        if last_group != Some(r.group) {
            last_group = Some(r.group);
            let g = &d.groups[r.group];
            let what = if g.kind == DupeKind::Bytes {
                format!("one content at {} locations", fmt_count(g.locations() as u64))
            } else {
                counted(g.total_files.max(0) as u64, "file")
            };
            let head = format!(" {} · {what} · {}", kind_name(g.kind), &g.key[..g.key.len().min(12)]);
            drawn.push((
                None,
                Line::from(Span::styled(truncate(&head, w), bold().fg(Color::Magenta))),
            ));
        }
        let selected = i == d.selected;
        let text = format!(
            "{}{}",
            if selected { "▶ " } else { "  " },
            truncate_left(&r.text, w.saturating_sub(2))
        );
        let style = if selected && b.focus == Focus::Results {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new()
        };
        drawn.push((Some(i), Line::from(Span::styled(text, style))));
    }
    let rows = inner.height as usize;
    let at = drawn.iter().position(|(i, _)| *i == Some(d.selected)).unwrap_or(0);
    let first = (at + 1).saturating_sub(rows);
    let lines: Vec<Line> = drawn.into_iter().skip(first).take(rows).map(|(_, l)| l).collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// The query line, and under it the parse error pointing at its term.
fn render_query(f: &mut Frame, area: Rect, app: &App) {
    let b = &app.browser;
    let mut running = Vec::new();
    if app.run.is_active() {
        running.push(format!(
            "import running: {}",
            counted(app.live.snapshot.counts.done(), "file")
        ));
    }
    if let Some(r) = &b.features {
        running.push(r.progress());
    }
    let right = (!running.is_empty())
        .then(|| Line::from(format!(" {} ", running.join(" · "))).style(Style::new().fg(Color::Yellow)));
    let block = panel("Library", right, false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let prompt_style = if b.focus == Focus::Query {
        bold().fg(Color::Cyan)
    } else {
        dim()
    };
    let room = (inner.width as usize).saturating_sub(3);
    // A long query keeps the caret (where the typing is) in view.
    let (shown, caret) = b.query_edit.view(room);
    let hidden = b.text().chars().count().saturating_sub(shown.chars().count());
    let hidden = if caret + 1 >= room { hidden } else { 0 };
    let mut spans = vec![Span::styled(" / ", prompt_style), Span::raw(shown.clone())];
    if b.text().is_empty() {
        spans.push(Span::styled(
            "type a query: bpm:118..124 key:Cm drums:yes inst:bass name:funk …",
            dim(),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), Rect { height: 1, ..inner });
    if b.focus == Focus::Query && b.export.is_none() {
        let x = inner.x + 3 + caret as u16;
        f.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y));
    }
    if let Some(e) = &b.error
        && inner.height >= 2
    {
        // The column is 1-based in the whole text; the caret lands under the term as shown.
        // Columns as drawn: wide characters before the term take two.
        let before: String = b
            .text()
            .chars()
            .skip(hidden)
            .take(e.column.saturating_sub(1).saturating_sub(hidden))
            .collect();
        let at = width_of(&before);
        let caret = format!("{}^ ", " ".repeat(3 + at));
        let msg = truncate(
            &format!("{}: `{}`", e.message, e.term),
            (inner.width as usize).saturating_sub(caret.chars().count()),
        );
        let line = Line::from(vec![
            Span::styled(caret, bold().fg(Color::Red)),
            Span::styled(msg, Style::new().fg(Color::Red)),
        ]);
        f.render_widget(
            Paragraph::new(line),
            Rect {
                y: inner.y + 1,
                height: 1,
                ..inner
            },
        );
    }
}

/// A column of the results table.
struct Col {
    title: &'static str,
    width: usize,
    right: bool,
    field: Option<SortField>,
}

fn columns(width: usize) -> Vec<Col> {
    let col = |title, width, right, field| Col {
        title,
        width,
        right,
        field,
    };
    let mut cols = vec![
        col("BPM", 6, true, Some(SortField::Bpm)),
        col("KEY", 4, false, None),
        col("TS", 5, false, None),
        col("LEN", 6, true, Some(SortField::Duration)),
        col("NOTES", 7, true, Some(SortField::Notes)),
        col("TRK", 4, true, Some(SortField::Tracks)),
        col("DR", 2, false, None),
    ];
    if width >= 110 {
        cols.push(col("SIZE", 9, true, Some(SortField::Size)));
        cols.push(col("COLLECTION", 16, false, None));
    }
    // Wide screens show where each file lies instead of stretching its name.
    if width >= 150 {
        let folder = (width - 150 + 24).min(60);
        cols.push(col("FOLDER", folder, false, None));
    }
    cols
}

/// The NAME column: what the other columns leave, at most this wide (a wider name is cut with `…`).
const NAME_MAX: usize = 60;

fn cell(h: &Hit, title: &str) -> String {
    match title {
        "BPM" => h.bpm.map(|v| format!("{v:.1}")).unwrap_or_default(),
        "KEY" => h.key.clone().unwrap_or_default(),
        "TS" => h.time_signature.clone().unwrap_or_default(),
        "LEN" => h.duration_seconds.map(fmt_secs).unwrap_or_default(),
        "NOTES" => fmt_count(h.total_notes.max(0) as u64),
        "TRK" => h.num_tracks.map(|n| n.to_string()).unwrap_or_default(),
        "DR" => if h.has_drums { "●" } else { "" }.into(),
        "SIZE" => fmt_bytes(h.file_size_bytes.max(0) as u64),
        "COLLECTION" => h.collection.clone(),
        "FOLDER" => h.folder.clone(),
        _ => String::new(),
    }
}

fn sort_label(b: &Browser) -> String {
    if b.ranks_by_likeness() {
        return match b.approximate {
            true => "nearest first (approximate)".into(),
            false => "nearest first".into(),
        };
    }
    let name = match b.sort.field {
        SortField::Name => "name",
        SortField::Bpm => "bpm",
        SortField::Duration => "length",
        SortField::Notes => "notes",
        SortField::Tracks => "tracks",
        SortField::Size => "size",
        SortField::Added => "added",
    };
    format!("sort {name} {}", arrow(b))
}

fn arrow(b: &Browser) -> &'static str {
    if b.sort.descending { "▼" } else { "▲" }
}

/// What the results hold, for the panel's title.
fn results_status(b: &Browser) -> String {
    if let Some(e) = &b.search_error {
        // `like:` on files imported before the features: the key that computes them here, in place of the command.
        if let Some(at) = e.find(NO_FEATURES) {
            let named = &e[..at + NO_FEATURES.len()];
            return match &b.features {
                None => format!("{named}: F computes them"),
                Some(_) => format!("{named}: being computed"),
            };
        }
        return format!("search failed: {e}");
    }
    if b.searching {
        return "searching…".into();
    }
    if !b.answered {
        return String::new();
    }
    let count = match b.count {
        Some(MatchCount::Exact(n)) => counted(n, "file"),
        Some(MatchCount::About(n)) => format!("about {}", counted(round_about(n), "file")),
        None => String::new(),
    };
    match (b.hits.len(), &b.next) {
        (0, _) => "no file matches".into(),
        (n, Some(_)) if n >= MAX_LOADED => format!("{count}: first {} shown, narrow the query", fmt_count(n as u64)),
        (n, Some(_)) if count.is_empty() => format!("{} loaded, counting…", fmt_count(n as u64)),
        (n, Some(_)) => format!("{count}, {} loaded", fmt_count(n as u64)),
        (n, None) => counted(n, "file"),
    }
}

/// An estimate to two significant figures: 52,345 -> 52,000 (it is an estimate, not a count).
fn round_about(n: u64) -> u64 {
    let mut unit = 1;
    while n / unit >= 100 {
        unit *= 10;
    }
    n / unit * unit
}

fn render_results(f: &mut Frame, area: Rect, b: &Browser) {
    let status = results_status(b);
    let right = if status.is_empty() {
        Line::from(format!(" {} ", sort_label(b)))
    } else {
        Line::from(format!(" {} · {status} ", sort_label(b)))
    };
    let block = panel("Results", Some(right), false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let cols = columns(w);
    let fixed: usize = cols.iter().map(|c| c.width + 1).sum();
    let name_w = w.saturating_sub(fixed + 2).clamp(8, NAME_MAX);
    // A `like:` query's order is the distance: no column carries the sort's arrow.
    let sorted = Some(b.sort.field).filter(|_| !b.ranks_by_likeness());
    let name_title = if sorted == Some(SortField::Name) {
        format!("NAME {}", arrow(b))
    } else {
        "NAME".to_string()
    };
    let mut head = format!("  {}", pad(&name_title, name_w, false));
    for c in &cols {
        let t = if c.field.is_some() && c.field == sorted {
            format!("{}{}", arrow(b), c.title)
        } else {
            c.title.to_string()
        };
        head.push(' ');
        head.push_str(&pad(&t, c.width, c.right));
    }
    let mut lines = vec![Line::from(Span::styled(truncate(&head, w), dim()))];
    let rows = (inner.height as usize).saturating_sub(1);
    // The window follows the selection: it scrolls once the selection passes its last row.
    let first = (b.selected + 1).saturating_sub(rows);
    for (i, h) in b.hits.iter().enumerate().skip(first).take(rows) {
        let selected = i == b.selected;
        let mut text = String::from(if selected { "▶ " } else { "  " });
        text.push_str(&pad(&h.filename, name_w, false));
        for c in &cols {
            text.push(' ');
            text.push_str(&pad(&cell(h, c.title), c.width, c.right));
        }
        let style = match (selected, b.focus) {
            (true, Focus::Results) => Style::new().fg(Color::Black).bg(Color::Cyan),
            (true, Focus::Query) => bold(),
            _ => Style::new(),
        };
        lines.push(Line::from(Span::styled(truncate(&text, w), style)));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The detail pane: every stored fact about the selected file, then every location.
pub fn render_detail(f: &mut Frame, area: Rect, b: &Browser, left_rule: bool) {
    let block = panel("File", None, left_rule);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let lines = match &b.detail {
        Slot::Empty => vec![Line::from(Span::styled(" no file selected", dim()))],
        Slot::Loading => vec![Line::from(Span::styled(" reading…", dim()))],
        Slot::Failed(e) => vec![Line::from(Span::styled(
            truncate(&format!(" {e}"), w),
            Style::new().fg(Color::Red),
        ))],
        Slot::Ready(d) => scrolled(detail_lines(d, w, inner.height as usize, b.detail_scroll > 0), b, inner),
    };
    f.render_widget(Paragraph::new(lines), inner);
}

fn field(label: &str, value: String, w: usize) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!(" {label:<9} "), dim()),
        Span::raw(truncate(&value, w.saturating_sub(11))),
    ])
}

/// The key the key table binds to a detail-scroll action.
fn detail_key(action: BrowseAction) -> String {
    key_label(Ctx::Browser, Action::Browse(action))
}

/// The detail scrolled by the browser's `detail_scroll`, never past its last line; a marker on the top line says
/// how much is above.
fn scrolled(lines: Vec<Line<'static>>, b: &Browser, inner: Rect) -> Vec<Line<'static>> {
    let height = inner.height as usize;
    let skip = b.detail_scroll.min(lines.len().saturating_sub(height));
    if skip == 0 {
        return lines;
    }
    let mut out: Vec<Line<'static>> = lines.into_iter().skip(skip + 1).collect();
    out.insert(
        0,
        Line::from(Span::styled(
            format!(" ↑ {} lines above ({})", skip + 1, detail_key(BrowseAction::DetailUp)),
            dim(),
        )),
    );
    out
}

/// The facts first, every location after, then the rest while room lasts; `height` rows are available (`all`:
/// every location, for a pane that scrolls).
fn detail_lines(d: &FileDetail, w: usize, height: usize, all: bool) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled(
        truncate(&format!(" {}", d.filename), w),
        bold(),
    ))];
    let mut file = format!("{} · SMF {}", fmt_bytes(d.file_size_bytes.max(0) as u64), opt(d.format));
    if let Some(n) = d.num_tracks {
        file.push_str(&format!(" · {}", counted(n, "track")));
    }
    match d.ticks_per_quarter_note {
        Some(t) => file.push_str(&format!(" · {t} tpq")),
        None => file.push_str(" · SMPTE"),
    }
    if let Some(t) = d.duration_ticks {
        file.push_str(&format!(" · {} ticks", fmt_count(t.max(0) as u64)));
    }
    lines.push(field("file", file, w));
    let length = d.duration_seconds.map(fmt_secs).unwrap_or_else(|| "?".into());
    let mut rest = Vec::new();
    match &d.music {
        Some(m) => {
            let (top, more) = music_lines(m, &length, w);
            lines.extend(top);
            rest.extend(more);
        }
        None => {
            lines.push(field("length", length, w));
            lines.push(field("analysis", "missing (the next import repairs it)".into(), w));
        }
    }
    if !d.track_names.is_empty() {
        rest.push(field("tracks", d.track_names.join(", "), w));
    }
    if let Some(c) = &d.copyright {
        rest.push(field("copyright", c.clone(), w));
    }
    let mut from = format!("{} · {}", d.collection, d.parent_folder);
    if let Some(bpm) = d.filename_bpm {
        from.push_str(&format!(" · name says {bpm:.0} bpm"));
    }
    if let Some(k) = &d.filename_key {
        from.push_str(&format!(" · name says {k}"));
    }
    rest.push(field("found in", from, w));
    let run = d.import_run_id.map(|r| format!("run {r} · ")).unwrap_or_default();
    rest.push(field("added", format!("{run}{}", d.created_at), w));
    rest.push(field("hash", d.content_hash.clone(), w));
    lines.push(Line::from(Span::styled(
        format!(" locations ({})", d.locations.len()),
        bold().fg(Color::Cyan),
    )));
    // Every location the pane holds; the remaining facts fill what is left below them.
    let room = height.saturating_sub(lines.len()).max(1);
    let shown = if d.locations.len() > room && !all {
        room.saturating_sub(1).max(1)
    } else {
        d.locations.len()
    };
    for l in d.locations.iter().take(shown) {
        // Each location with its own collection: a copy in a pack is in the pack's collection too.
        let coll = format!(" · {}", l.collection);
        let room = w.saturating_sub(2 + coll.chars().count()).max(w / 2);
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::raw(truncate_left(&l.path, room)),
            Span::styled(coll, dim()),
        ]));
    }
    if shown < d.locations.len() {
        lines.push(Line::from(Span::styled(
            format!(
                "  … {} more ({} scrolls)",
                d.locations.len() - shown,
                detail_key(BrowseAction::DetailDown)
            ),
            dim(),
        )));
    }
    lines.extend(duplicate_lines(d, w));
    lines.extend(rest);
    lines
}

/// The other files with the same notes: one line per group, then the first of them.
fn duplicate_lines(d: &FileDetail, w: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for g in &d.duplicates {
        let what = match g.kind {
            DupeKind::Musical => "same notes",
            DupeKind::Transposed => "same notes, transposed",
            DupeKind::Bytes => continue,
        };
        let others = (g.total_files - 1).max(0);
        lines.push(Line::from(Span::styled(
            format!(" {what}: {}", counted(others, "other file")),
            bold().fg(Color::Magenta),
        )));
        for f in g.files.iter().filter(|f| f.content_hash != d.content_hash).take(3) {
            lines.push(Line::from(vec![
                Span::raw("  "),
                Span::raw(truncate_left(&f.path, w.saturating_sub(2))),
            ]));
        }
    }
    lines
}

/// The analysis: four lines that always show, and the finer points for when there is room.
fn music_lines(m: &crate::engine::library::Music, length: &str, w: usize) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let bpm = m.bpm.map_or_else(|| "no tempo".to_string(), |b| format!("{b:.1} bpm"));
    let ts = match (m.time_signature_numerator, m.time_signature_denominator) {
        (Some(n), Some(d)) => format!("{n}/{d}"),
        _ => "?/?".into(),
    };
    let key = match (&m.key_signature, &m.detected_key) {
        (Some(k), _) => format!("key {k}"),
        (None, Some(k)) => format!("key {k} (detected)"),
        (None, None) => "no key".into(),
    };
    let mut top = vec![field("music", format!("{length} · {bpm} · {ts} · {key}"), w)];
    let range = match (m.pitch_range_min, m.pitch_range_max) {
        (Some(lo), Some(hi)) => format!(" {}–{}", pitch_name(lo), pitch_name(hi)),
        _ => String::new(),
    };
    let vel = m.avg_velocity.map(|v| format!(" · vel {v:.0}")).unwrap_or_default();
    top.push(field(
        "notes",
        format!(
            "{} · {} pitches{range}{vel} · poly {} · {:.1}/s",
            fmt_count(m.total_notes.max(0) as u64),
            m.unique_pitches,
            m.polyphony_max,
            m.note_density
        ),
        w,
    ));
    let channels: Vec<String> = m.channels.iter().map(|c| (c + 1).to_string()).collect();
    // Stored 0-based as the file spells them; shown as General MIDI numbers them, from 1 (like the channels).
    let programs: Vec<String> = m
        .programs
        .iter()
        .map(|&p| {
            let name = usize::try_from(p)
                .ok()
                .and_then(|i| PROGRAM_NAMES.get(i))
                .copied()
                .unwrap_or("?");
            format!("{} {name}", i32::from(p) + 1)
        })
        .collect();
    let drums = if m.has_drums { " · drums" } else { "" };
    let programs = if programs.is_empty() {
        String::new()
    } else {
        format!(" · {}", programs.join(", "))
    };
    top.push(field("parts", format!("ch {}{drums}{programs}", channels.join(" ")), w));
    let mut more = Vec::new();
    let avg = m.avg_bpm.map(|a| format!("average {a:.1} bpm · ")).unwrap_or_default();
    more.push(field(
        "tempo",
        format!("{avg}{}", counted(m.tempo_changes, "tempo event")),
        w,
    ));
    let declared = m.key_signature.clone().unwrap_or_else(|| "none".into());
    let detected = match (&m.detected_key, m.key_confidence) {
        (Some(k), Some(c)) => format!("{k} ({c:.2})"),
        (Some(k), None) => k.clone(),
        _ => "?".into(),
    };
    more.push(field("key", format!("declared {declared} · detected {detected}"), w));
    if m.is_karaoke || m.lyrics_count > 0 {
        more.push(field("lyrics", format!("{} (karaoke)", m.lyrics_count), w));
    }
    (top, more)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
}
