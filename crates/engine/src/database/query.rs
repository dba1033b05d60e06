//! The library browser's query language (beets style: `field:value`, ranges, `^` negation), parsed into typed
//! filters that know nothing of SQL.
use std::fmt;

use crate::midi::gm;

/// A parsed query: every term must hold (AND). No term matches every file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub terms: Vec<Term>,
}

/// One term of a query, with where it was written (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// `^term`: the files the term does not match.
    pub negated: bool,
    pub filter: Filter,
    /// The term as written.
    pub text: String,
}

/// What one term asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Number {
        field: NumField,
        range: Range,
    },
    /// The declared key signature, else the detected key, is one of these keys (as the library spells them:
    /// [`key_spellings`]).
    Key {
        keys: Vec<Key>,
    },
    /// `ts:6/8`, or `ts:6` for any denominator.
    TimeSignature {
        numerator: i16,
        denominator: Option<i16>,
    },
    Drums(bool),
    /// Uses any of these GM programs, numbered 1..=128.
    Programs(Vec<u8>),
    /// The collection (top folder or outermost archive), exactly.
    Collection(String),
    /// The containing folder's name contains this text (case-insensitive).
    Folder(String),
    /// The file name contains this text (case-insensitive).
    Name(String),
    /// `name:~text`: the file name contains this text or a word of it is close to it (trigram word similarity).
    /// Asked for explicitly since it costs a similarity test per candidate name, where a substring alone is served
    /// by the trigram index.
    NameFuzzy(String),
    /// A bare word: the file name, a track name or the copyright text contains it (case-insensitive).
    Text(String),
    /// `dupes:N`: at least N files of the library (the file itself included) have this file's notes, i.e. the same
    /// musical fingerprint. Files without notes have none and never match.
    Dupes(u32),
    /// `like:ID` or `like:PATH`: ranks the files by musical similarity to that file (nearest first); the file
    /// itself is left out, files without features do not match. One per query, never negated.
    Like(LikeRef),
}

/// The file a `like:` term compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LikeRef {
    /// A file id (`search --json`'s `id`, the browser's selected file).
    Id(i64),
    /// A location as imported (a path, or `archive.zip!/member.mid`).
    Path(String),
}

/// The spellings a `like:PATH` may match a stored location by: as written, then as the absolute path it names on
/// this machine, then with links resolved.
pub fn like_path_spellings(path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    if let Ok(abs) = std::path::absolute(path) {
        out.push(abs.to_string_lossy().into_owned());
    }
    if let Ok(canonical) = std::fs::canonicalize(path) {
        out.push(canonical.to_string_lossy().into_owned());
    }
    out
}

impl Query {
    /// The query's `like:` term, if any.
    pub fn like(&self) -> Option<&LikeRef> {
        self.terms.iter().find_map(|t| match &t.filter {
            Filter::Like(r) => Some(r),
            _ => None,
        })
    }
}

/// The numeric fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumField {
    /// First tempo, beats per minute.
    Bpm,
    /// Length in seconds.
    Duration,
    /// Note-on count.
    Notes,
    /// Track count.
    Tracks,
}

impl NumField {
    /// Whole numbers only: bounds are rounded inwards.
    pub fn is_integer(self) -> bool {
        matches!(self, NumField::Notes | NumField::Tracks)
    }
}

/// A bound of a range: the value and whether it is included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub value: f64,
    pub inclusive: bool,
}

/// A numeric range; at least one end is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: Option<Bound>,
    pub max: Option<Bound>,
}

impl Range {
    fn at_least(value: f64, inclusive: bool) -> Self {
        Range {
            min: Some(Bound { value, inclusive }),
            max: None,
        }
    }

    fn at_most(value: f64, inclusive: bool) -> Self {
        Range {
            min: None,
            max: Some(Bound { value, inclusive }),
        }
    }

    fn between(lo: f64, hi: f64) -> Self {
        Range {
            min: Some(Bound {
                value: lo,
                inclusive: true,
            }),
            max: Some(Bound {
                value: hi,
                inclusive: true,
            }),
        }
    }

    /// Does `v` lie in the range? (The SQL says the same; this is for tests and the console.)
    pub fn contains(&self, v: f64) -> bool {
        let lo = self.min.is_none_or(|b| v > b.value || (b.inclusive && v == b.value));
        let hi = self.max.is_none_or(|b| v < b.value || (b.inclusive && v == b.value));
        lo && hi
    }
}

/// A term that cannot be read: which one, where (1-based character column in the query), and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}: `{term}` at column {column}")]
pub struct ParseError {
    pub term: String,
    pub column: usize,
    pub message: String,
}

/// `bpm:~120` accepts tempos within this fraction of the value.
pub const BPM_TOLERANCE: f64 = 0.03;

/// What a field filters on (the parser's side of [`FIELDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Bpm,
    Key,
    TimeSignature,
    Duration,
    Notes,
    Tracks,
    Drums,
    Program,
    Instrument,
    Collection,
    Folder,
    Name,
    Dupes,
    Like,
}

/// One field of the query language: its name, the other names it answers to, terms that show its forms, and what
/// it matches. [`FIELDS`] is the one list: the parser looks field names up in it, and `search --help`, the console's
/// help and the unknown-field message are written from it.
#[derive(Debug, Clone, Copy)]
pub struct FieldDoc {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Terms of this field, each one a valid query (a test parses them); the first is the one a short list shows.
    pub examples: &'static [&'static str],
    /// What it matches in a few words, for a narrow help screen (the console's).
    pub short: &'static str,
    pub meaning: &'static str,
    kind: FieldKind,
}

/// Every field a query understands, in the order help lists them.
pub const FIELDS: &[FieldDoc] = &[
    FieldDoc {
        name: "bpm",
        aliases: &["tempo"],
        examples: &["bpm:118..124", "bpm:120", "bpm:>150", "bpm:~120"],
        short: "tempo; >150, ~120",
        meaning: "first tempo: 120 means 119.5 up to 120.5; a range a..b (either end open), a comparison \
                  (> >= < <=), or ~ for within 3%",
        kind: FieldKind::Bpm,
    },
    FieldDoc {
        name: "key",
        aliases: &[],
        examples: &["key:Cm~", "key:Cm", "key:F#"],
        short: "key; ~ adds compatible",
        meaning: "the declared key signature, else the detected key, in any spelling (C#m = Dbm); with ~ also its \
                  relative major/minor and its two neighbours on the circle of fifths",
        kind: FieldKind::Key,
    },
    FieldDoc {
        name: "ts",
        aliases: &["time", "meter"],
        examples: &["ts:6/8", "ts:4/4", "ts:3"],
        short: "time signature",
        meaning: "time signature; a numerator alone takes any denominator",
        kind: FieldKind::TimeSignature,
    },
    FieldDoc {
        name: "dur",
        aliases: &["duration", "length"],
        examples: &["dur:30..120", "dur:<60"],
        short: "length in seconds",
        meaning: "length in seconds (ranges and comparisons as for bpm)",
        kind: FieldKind::Duration,
    },
    FieldDoc {
        name: "notes",
        aliases: &[],
        examples: &["notes:>1000"],
        short: "note count",
        meaning: "note count",
        kind: FieldKind::Notes,
    },
    FieldDoc {
        name: "tracks",
        aliases: &[],
        examples: &["tracks:1"],
        short: "track count",
        meaning: "track count",
        kind: FieldKind::Tracks,
    },
    FieldDoc {
        name: "drums",
        aliases: &[],
        examples: &["drums:yes", "drums:no"],
        short: "drum channel yes/no",
        meaning: "uses the drum channel (10)",
        kind: FieldKind::Drums,
    },
    FieldDoc {
        name: "program",
        aliases: &["prog"],
        examples: &["program:33..40", "program:33,1"],
        short: "GM program 1-128",
        meaning: "uses a General MIDI program, numbered 1-128 as GM lists them (33 = Acoustic Bass)",
        kind: FieldKind::Program,
    },
    FieldDoc {
        name: "inst",
        aliases: &["instrument"],
        examples: &["inst:bass", "inst:fretless"],
        short: "GM family or name",
        meaning: "a GM family (piano, chromatic, organ, guitar, bass, strings, ensemble, brass, reed, pipe, lead, \
                  pad, fx, ethnic, percussive, sfx) or every program whose name contains the word",
        kind: FieldKind::Instrument,
    },
    FieldDoc {
        name: "coll",
        aliases: &["collection"],
        examples: &["coll:groove", "coll:\"My Pack\""],
        short: "collection, exactly",
        meaning: "the collection (the top folder of the source, or the outermost archive), exactly",
        kind: FieldKind::Collection,
    },
    FieldDoc {
        name: "folder",
        aliases: &[],
        examples: &["folder:session"],
        short: "folder name contains",
        meaning: "the containing folder's name contains the text (any case)",
        kind: FieldKind::Folder,
    },
    FieldDoc {
        name: "name",
        aliases: &[],
        examples: &["name:~grove", "name:funk"],
        short: "name contains (~ near)",
        meaning: "the file name contains the text (any case); with ~ also a name with a word close to it \
                  (`groove`), slower on big libraries",
        kind: FieldKind::Name,
    },
    FieldDoc {
        name: "dupes",
        aliases: &["dups"],
        examples: &["dupes:2", "^dupes:2"],
        short: "N+ files, same notes",
        meaning: "at least N files of the library, the file itself included, have the same notes",
        kind: FieldKind::Dupes,
    },
    FieldDoc {
        name: "like",
        aliases: &["similar"],
        examples: &["like:123", "like:\"~/midi/lib/a.mid\""],
        short: "sounds like file ID",
        meaning: "ranks the files by how much they sound like the file with this id (search --json's id) or at \
                  this path (as imported), nearest first: pitch classes and intervals, rhythm, drums, register, \
                  density, instruments, tempo; combines with every other term",
        kind: FieldKind::Like,
    },
];

/// The field a name (or alias) stands for, any case.
fn field_named(name: &str) -> Option<&'static FieldDoc> {
    FIELDS
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name) || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
}

/// The query language in a few lines, then one line per field with its examples and what it matches: the text of
/// `search --help` (and of any other help that lists the fields).
pub fn fields_help() -> String {
    let mut out = String::from(
        "Query terms (every term must hold):\n  field:value   one of the fields below\n  ^term         the files \
         the term does not match (^bpm:100.. keeps files without a tempo)\n  word          the file name, a \
         track name or the copyright text contains it (any case)\n  \"a b\"         quotes keep spaces in a value \
         or a phrase: coll:\"My Pack\"\n\nFields:\n",
    );
    for f in FIELDS {
        let aliases = if f.aliases.is_empty() {
            String::new()
        } else {
            format!("   (also {}:)", f.aliases.join(":, "))
        };
        out.push_str(&format!("  {:<8} {}{aliases}\n", f.name, f.examples.join("  ")));
        // Wrapped to a terminal's width: help text is printed as it is.
        let mut line = String::new();
        for word in f.meaning.split_whitespace() {
            if !line.is_empty() && HELP_INDENT.len() + line.len() + 1 + word.len() > HELP_WIDTH {
                out.push_str(&format!("{HELP_INDENT}{line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(&format!("{HELP_INDENT}{line}\n"));
    }
    out
}

/// Columns of [`fields_help`]'s lines, and the indent of a field's meaning under its examples.
const HELP_WIDTH: usize = 100;
const HELP_INDENT: &str = "           ";

impl Query {
    /// Parse a query line. Terms are separated by spaces; `"..."` keeps spaces inside a value or a bare phrase.
    pub fn parse(text: &str) -> Result<Query, ParseError> {
        let terms = tokenize(text)?
            .into_iter()
            .map(|(column, raw)| {
                parse_term(&raw).map(|t| (column, t)).map_err(|message| ParseError {
                    term: raw.clone(),
                    column,
                    message,
                })
            })
            .collect::<Result<Vec<(usize, Term)>, _>>()?;
        let mut likes = terms.iter().filter(|(_, t)| matches!(t.filter, Filter::Like(_)));
        if let Some(t) = likes.clone().find(|(_, t)| t.negated) {
            return Err(like_error(t, "`like:` ranks files by similarity; it cannot be negated"));
        }
        if let (Some(_), Some(second)) = (likes.next(), likes.next()) {
            return Err(like_error(second, "one `like:` term per query"));
        }
        Ok(Query {
            terms: terms.into_iter().map(|(_, t)| t).collect(),
        })
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.terms.iter().map(|t| t.text.as_str()).collect();
        f.write_str(&texts.join(" "))
    }
}

/// Command-line words as one query line: a word with spaces (the shell kept it together) is one term, so its value
/// is quoted (`coll:My Pack` becomes `coll:"My Pack"`), unless each of its parts is a term of a known field: then
/// it is a whole query in quotes (`"like:12 bpm:100..130 ^drums:yes"`).
pub fn join_args<S: AsRef<str>>(words: &[S]) -> String {
    let known_field = |part: &str| {
        part.trim_start_matches('^')
            .split_once(':')
            .is_some_and(|(field, _)| field_named(field).is_some())
    };
    let quoted: Vec<String> = words
        .iter()
        .map(|w| {
            let w = w.as_ref();
            if !w.contains(char::is_whitespace) || w.contains('"') || w.split_whitespace().all(known_field) {
                return w.to_string();
            }
            match w.split_once(':') {
                Some((field, value)) if is_field_name(field.trim_start_matches('^')) => {
                    format!("{field}:\"{value}\"")
                }
                _ => match w.strip_prefix('^') {
                    Some(rest) => format!("^\"{rest}\""),
                    None => format!("\"{w}\""),
                },
            }
        })
        .collect();
    quoted.join(" ")
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic())
}

/// Split on whitespace outside double quotes; each term with its 1-based starting column. Quotes are removed.
fn tokenize(text: &str) -> Result<Vec<(usize, String)>, ParseError> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut open_quote: Option<usize> = None;
    for (i, c) in text.chars().enumerate() {
        if c == '"' {
            open_quote = match open_quote {
                Some(_) => None,
                None => Some(i + 1),
            };
            current.get_or_insert_with(|| (i + 1, String::new()));
        } else if c.is_whitespace() && open_quote.is_none() {
            out.extend(current.take());
        } else {
            current.get_or_insert_with(|| (i + 1, String::new())).1.push(c);
        }
    }
    if let Some(column) = open_quote {
        let term = current.map(|(_, t)| t).unwrap_or_default();
        return Err(ParseError {
            term,
            column,
            message: "unclosed quote".into(),
        });
    }
    out.extend(current);
    Ok(out)
}

fn parse_term(raw: &str) -> Result<Term, String> {
    let (negated, body) = match raw.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if body.is_empty() {
        return Err("empty term".into());
    }
    let filter = match body.split_once(':') {
        Some((field, value)) if is_field_name(field) => field_filter(&field.to_ascii_lowercase(), value)?,
        _ => Filter::Text(body.to_string()),
    };
    Ok(Term {
        negated,
        filter,
        text: raw.to_string(),
    })
}

fn like_error((column, t): &(usize, Term), message: &str) -> ParseError {
    ParseError {
        term: t.text.clone(),
        column: *column,
        message: message.into(),
    }
}

fn field_filter(field: &str, value: &str) -> Result<Filter, String> {
    if value.is_empty() {
        return Err(format!("`{field}:` needs a value"));
    }
    let number = |field| parse_range(value, field).map(|range| Filter::Number { field, range });
    let Some(doc) = field_named(field) else {
        let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        return Err(format!("unknown field `{field}` (fields: {})", names.join(", ")));
    };
    match doc.kind {
        FieldKind::Bpm => number(NumField::Bpm),
        FieldKind::Duration => number(NumField::Duration),
        FieldKind::Notes => number(NumField::Notes),
        FieldKind::Tracks => number(NumField::Tracks),
        FieldKind::Key => parse_key(value),
        FieldKind::TimeSignature => parse_time_signature(value),
        FieldKind::Drums => parse_yes_no(value).map(Filter::Drums),
        FieldKind::Program => parse_programs(value),
        FieldKind::Instrument => {
            let programs = gm::programs_for(value);
            if programs.is_empty() {
                return Err(format!(
                    "no General MIDI instrument or family is called `{value}` (families: piano, chromatic, organ, \
                     guitar, bass, strings, ensemble, brass, reed, pipe, lead, pad, fx, ethnic, percussive, sfx; \
                     drums are `drums:yes`)"
                ));
            }
            Ok(Filter::Programs(programs))
        }
        FieldKind::Collection => Ok(Filter::Collection(value.to_string())),
        FieldKind::Folder => Ok(Filter::Folder(value.to_string())),
        FieldKind::Name => Ok(match value.strip_prefix('~') {
            Some(fuzzy) if !fuzzy.is_empty() => Filter::NameFuzzy(fuzzy.to_string()),
            _ => Filter::Name(value.to_string()),
        }),
        FieldKind::Dupes => value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n >= 1)
            .map(Filter::Dupes)
            .ok_or_else(|| {
                format!("`{value}` is not a group size such as 2 (files sharing the notes, itself included)")
            }),
        FieldKind::Like => Ok(Filter::Like(match value.trim().parse::<i64>() {
            Ok(id) if id > 0 => LikeRef::Id(id),
            _ => LikeRef::Path(value.to_string()),
        })),
    }
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a number"))
}

/// `N`, `a..b`, `a..`, `..b`, `>N`, `>=N`, `<N`, `<=N`, `~N` (within 3%).
fn parse_range(value: &str, field: NumField) -> Result<Range, String> {
    let range = if let Some((lo, hi)) = value.split_once("..") {
        match (lo.is_empty(), hi.is_empty()) {
            (true, true) => return Err("a range needs at least one end".into()),
            (false, true) => Range::at_least(number(lo)?, true),
            (true, false) => Range::at_most(number(hi)?, true),
            (false, false) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if lo > hi {
                    return Err(format!("the range is empty ({lo} is above {hi})"));
                }
                Range::between(lo, hi)
            }
        }
    } else if let Some(v) = value.strip_prefix(">=") {
        Range::at_least(number(v)?, true)
    } else if let Some(v) = value.strip_prefix("<=") {
        Range::at_most(number(v)?, true)
    } else if let Some(v) = value.strip_prefix('>') {
        Range::at_least(number(v)?, false)
    } else if let Some(v) = value.strip_prefix('<') {
        Range::at_most(number(v)?, false)
    } else if let Some(v) = value.strip_prefix('~') {
        let v = number(v)?;
        let spread = (v * BPM_TOLERANCE).abs();
        Range::between(v - spread, v + spread)
    } else {
        let v = number(value)?;
        if field.is_integer() {
            Range::between(v, v)
        } else {
            // A tempo or length written as a whole number means that number as shown, rounded: 120 is 119.5..120.5.
            Range {
                min: Some(Bound {
                    value: v - 0.5,
                    inclusive: true,
                }),
                max: Some(Bound {
                    value: v + 0.5,
                    inclusive: false,
                }),
            }
        }
    };
    Ok(range)
}

fn parse_yes_no(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" => Ok(false),
        _ => Err(format!("`{value}` is not yes or no")),
    }
}

fn parse_time_signature(value: &str) -> Result<Filter, String> {
    let part = |s: &str| {
        s.parse::<i16>()
            .ok()
            .filter(|v| (1..=255).contains(v))
            .ok_or_else(|| format!("`{value}` is not a time signature such as 6/8"))
    };
    match value.split_once('/') {
        Some((n, d)) => Ok(Filter::TimeSignature {
            numerator: part(n)?,
            denominator: Some(part(d)?),
        }),
        None => Ok(Filter::TimeSignature {
            numerator: part(value)?,
            denominator: None,
        }),
    }
}

/// `33`, `33..40` or `33,36`: GM program numbers 1..=128.
fn parse_programs(value: &str) -> Result<Filter, String> {
    let one = |s: &str| {
        s.trim()
            .parse::<u8>()
            .ok()
            .filter(|v| (1..=128).contains(v))
            .ok_or_else(|| format!("`{s}` is not a General MIDI program number (1..128)"))
    };
    let mut programs = Vec::new();
    for part in value.split(',') {
        match part.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (one(lo)?, one(hi)?);
                if lo > hi {
                    return Err(format!("the range is empty ({lo} is above {hi})"));
                }
                programs.extend(lo..=hi);
            }
            None => programs.push(one(part)?),
        }
    }
    programs.sort_unstable();
    programs.dedup();
    Ok(Filter::Programs(programs))
}

/// A key: tonic pitch class (0 = C) and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub tonic: u8,
    pub minor: bool,
}

const LETTERS: [(char, u8); 7] = [('C', 0), ('D', 2), ('E', 4), ('F', 5), ('G', 7), ('A', 9), ('B', 11)];

impl Key {
    /// `C`, `Cm`, `C#m`, `Bb`, `Ebmin`, `F#major`, `a minor`-style suffixes (`m`, `min`, `minor`, `maj`, `major`).
    pub fn parse(s: &str) -> Option<Key> {
        let mut chars = s.chars();
        let letter = chars.next()?.to_ascii_uppercase();
        let mut tonic = LETTERS.iter().find(|(l, _)| *l == letter)?.1;
        let rest = chars.as_str();
        // "bm" after a letter is flat-minor only when something follows the b: `Bbm`; `bm` alone is B minor.
        let rest = if let Some(r) = rest.strip_prefix(['#', '♯']) {
            tonic = (tonic + 1) % 12;
            r
        } else if let Some(r) = rest.strip_prefix(['b', '♭']) {
            tonic = (tonic + 11) % 12;
            r
        } else {
            rest
        };
        let minor = match rest.to_ascii_lowercase().trim_start_matches(['_', '-']) {
            "" | "maj" | "major" => false,
            "m" | "min" | "minor" => true,
            _ => return None,
        };
        Some(Key { tonic, minor })
    }

    /// Every way the library may spell this key (key signatures and detected keys use different spellings).
    pub fn spellings(self) -> Vec<String> {
        let mut out = Vec::new();
        for (letter, pc) in LETTERS {
            for (accidental, shift) in [("", 0u8), ("#", 1), ("b", 11)] {
                if (pc + shift) % 12 == self.tonic {
                    out.push(format!("{letter}{accidental}{}", if self.minor { "m" } else { "" }));
                }
            }
        }
        out
    }

    /// The key itself, its relative major or minor, and its two neighbours on the circle of fifths.
    pub fn compatible(self) -> [Key; 4] {
        let shift = |by: u8| Key {
            tonic: (self.tonic + by) % 12,
            minor: self.minor,
        };
        let relative = if self.minor {
            Key {
                tonic: (self.tonic + 3) % 12,
                minor: false,
            }
        } else {
            Key {
                tonic: (self.tonic + 9) % 12,
                minor: true,
            }
        };
        [self, relative, shift(7), shift(5)]
    }

    /// The key's place on the circle of fifths, 0..24, as migration 0023's `key_place(k, turn)` computes it from a
    /// stored spelling: two places per fifth (the major key, then its relative minor) from D-flat major, turned by
    /// `turn` places. A key, its relative and its two neighbours are five consecutive places.
    pub fn place(self, turn: u8) -> u8 {
        let relative_major = (self.tonic + if self.minor { 3 } else { 0 }) % 12;
        let fifths = (relative_major * 7 + 5) % 12;
        (2 * fifths + u8::from(self.minor) + turn) % 24
    }
}

/// A set of keys as [`Key::place`]s turned by `turn` (0 or 12): the range `lo..=hi` without the places `gaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    pub turn: u8,
    pub lo: u8,
    pub hi: u8,
    pub gaps: Vec<u8>,
}

impl Places {
    /// The places of `keys` in the turn where they do not cross the circle's seam; `None` when they spread over half
    /// the circle or more.
    pub fn of(keys: &[Key]) -> Option<Places> {
        [0, 12].into_iter().find_map(|turn| {
            let places: Vec<u8> = keys.iter().map(|k| k.place(turn)).collect();
            let (lo, hi) = (*places.iter().min()?, *places.iter().max()?);
            (hi - lo < 12).then(|| Places {
                turn,
                lo,
                hi,
                gaps: (lo..=hi).filter(|p| !places.contains(p)).collect(),
            })
        })
    }
}

fn parse_key(value: &str) -> Result<Filter, String> {
    let (name, compatible) = match value.strip_suffix('~') {
        Some(n) => (n, true),
        None => (value, false),
    };
    let key = Key::parse(name).ok_or_else(|| format!("`{name}` is not a key such as C, Cm, F#m or Bb"))?;
    let keys: Vec<Key> = if compatible {
        key.compatible().to_vec()
    } else {
        vec![key]
    };
    Ok(Filter::Key { keys })
}

/// Every way the library may spell any of `keys`.
pub fn key_spellings(keys: &[Key]) -> Vec<String> {
    keys.iter().copied().flat_map(Key::spellings).collect()
}

/// What results can be sorted by (`--sort FIELD`, `-FIELD` for descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    Name,
    Bpm,
    Duration,
    Notes,
    Tracks,
    Size,
    /// Import order.
    Added,
}

/// A sort order; files without a value for the field come last in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

/// The sort names `--sort` accepts.
pub const SORT_FIELDS: &[&str] = &["name", "bpm", "dur", "notes", "tracks", "size", "added"];

impl std::str::FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> Result<Sort, String> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let field = match name.to_ascii_lowercase().as_str() {
            "name" => SortField::Name,
            "bpm" | "tempo" => SortField::Bpm,
            "dur" | "duration" | "length" => SortField::Duration,
            "notes" => SortField::Notes,
            "tracks" => SortField::Tracks,
            "size" => SortField::Size,
            "added" | "id" => SortField::Added,
            _ => {
                return Err(format!(
                    "cannot sort by `{name}` (sort by: {}; `-FIELD` for descending)",
                    SORT_FIELDS.join(", ")
                ));
            }
        };
        Ok(Sort { field, descending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(q: &str) -> Term {
        let mut terms = Query::parse(q).unwrap().terms;
        assert_eq!(terms.len(), 1, "{q}");
        terms.remove(0)
    }

    fn range(q: &str) -> Range {
        match one(q).filter {
            Filter::Number { range, .. } => range,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn numeric_ranges_comparisons_and_tolerance() {
        let r = range("bpm:118..124");
        assert!(r.contains(118.0) && r.contains(124.0) && r.contains(121.3));
        assert!(!r.contains(117.9) && !r.contains(124.1));
        let r = range("dur:..120");
        assert!(r.contains(0.0) && r.contains(120.0) && !r.contains(120.5));
        let r = range("dur:30..");
        assert!(r.contains(30.0) && r.contains(1e6) && !r.contains(29.9));
        let r = range("notes:>1000");
        assert!(!r.contains(1000.0) && r.contains(1001.0));
        let r = range("notes:<=10");
        assert!(r.contains(10.0) && !r.contains(11.0));
        let r = range("bpm:~120");
        assert!(r.contains(116.41) && r.contains(123.59) && !r.contains(116.3) && !r.contains(123.7));
        // A whole tempo means the tempo as shown; a whole note count means exactly that count.
        let r = range("bpm:120");
        assert!(r.contains(119.5) && r.contains(120.49) && !r.contains(120.5));
        assert_eq!(range("tracks:1"), Range::between(1.0, 1.0));
        assert!(matches!(
            one("dur:30..120").filter,
            Filter::Number {
                field: NumField::Duration,
                ..
            }
        ));
    }

    #[test]
    fn keys_match_every_spelling_and_compatible_keys() {
        let spell = |q: &str| match one(q).filter {
            Filter::Key { keys } => {
                let mut spellings = key_spellings(&keys);
                spellings.sort();
                spellings
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(spell("key:Cm"), vec!["B#m", "Cm"]);
        assert_eq!(spell("key:C#m"), vec!["C#m", "Dbm"]);
        assert_eq!(spell("key:dbm"), vec!["C#m", "Dbm"]);
        assert_eq!(spell("key:Bb"), vec!["A#", "Bb"]);
        assert_eq!(spell("key:bm"), vec!["Bm", "Cbm"]);
        assert_eq!(spell("key:F#major"), vec!["F#", "Gb"]);
        // Cm~: Cm, its relative Eb, and the neighbours Gm and Fm.
        let compatible = spell("key:Cm~");
        for k in ["Cm", "Eb", "D#", "Gm", "Fm"] {
            assert!(compatible.contains(&k.to_string()), "{k} in {compatible:?}");
        }
        for k in ["C", "Am", "Dm", "Ebm"] {
            assert!(!compatible.contains(&k.to_string()), "{k} not in {compatible:?}");
        }
        // C~: C, Am, G, F.
        let c = spell("key:C~");
        for k in ["C", "Am", "G", "F"] {
            assert!(c.contains(&k.to_string()), "{k} in {c:?}");
        }
        assert!(!c.contains(&"Cm".to_string()));
    }

    #[test]
    fn compatible_keys_are_five_consecutive_places_on_one_side_of_the_seam() {
        let key = |s: &str| Key::parse(s).unwrap();
        assert_eq!(key("Db").place(0), 0);
        assert_eq!(key("Cm").place(0), 5);
        assert_eq!(key("C").place(0), 10);
        assert_eq!(key("Am").place(0), 11);
        assert_eq!(key("D#m").place(0), 23);
        assert_eq!(key("D#m").place(12), 11);
        assert_eq!(key("Gb").place(0), key("F#").place(0));
        let mut turned = 0;
        for tonic in 0..12 {
            for minor in [false, true] {
                let k = Key { tonic, minor };
                let p = k.place(0);
                assert_eq!(
                    Places::of(&[k]),
                    Some(Places {
                        turn: 0,
                        lo: p,
                        hi: p,
                        gaps: vec![]
                    })
                );
                let places = Places::of(&k.compatible()).unwrap();
                assert_eq!(places.hi - places.lo, 4, "{k:?}");
                assert_eq!(places.gaps.len(), 1, "{k:?}");
                let mut want: Vec<u8> = k.compatible().iter().map(|c| c.place(places.turn)).collect();
                want.sort_unstable();
                let got: Vec<u8> = (places.lo..=places.hi).filter(|p| !places.gaps.contains(p)).collect();
                assert_eq!(got, want, "{k:?}");
                turned += usize::from(places.turn == 12);
            }
        }
        // The four keys beside the seam (D-flat and B-flat minor, F-sharp and D-sharp minor) read the turned places.
        assert_eq!(turned, 4);
        let all: Vec<Key> = (0..12).map(|tonic| Key { tonic, minor: false }).collect();
        assert_eq!(Places::of(&all), None);
    }

    #[test]
    fn time_signatures_drums_programs_and_text_fields() {
        assert_eq!(
            one("ts:6/8").filter,
            Filter::TimeSignature {
                numerator: 6,
                denominator: Some(8)
            }
        );
        assert_eq!(
            one("ts:3").filter,
            Filter::TimeSignature {
                numerator: 3,
                denominator: None
            }
        );
        assert_eq!(one("drums:yes").filter, Filter::Drums(true));
        assert_eq!(one("drums:no").filter, Filter::Drums(false));
        assert_eq!(one("program:33").filter, Filter::Programs(vec![33]));
        assert_eq!(one("program:33..35,1").filter, Filter::Programs(vec![1, 33, 34, 35]));
        assert_eq!(one("inst:bass").filter, Filter::Programs((33..=40).collect()));
        assert_eq!(one("inst:fretless").filter, Filter::Programs(vec![36]));
        assert_eq!(one("coll:groove").filter, Filter::Collection("groove".into()));
        assert_eq!(one("folder:drummer1").filter, Filter::Folder("drummer1".into()));
        assert_eq!(one("name:beat").filter, Filter::Name("beat".into()));
        assert_eq!(one("name:~beat").filter, Filter::NameFuzzy("beat".into()));
        assert_eq!(one("name:~").filter, Filter::Name("~".into()));
        assert_eq!(one("funk").filter, Filter::Text("funk".into()));
        assert_eq!(one("dupes:2").filter, Filter::Dupes(2));
        assert!(one("^dupes:3").negated);
        // A colon after something that is not a field name keeps the word bare.
        assert_eq!(one("12:00").filter, Filter::Text("12:00".into()));
    }

    #[test]
    fn negation_quotes_and_several_terms() {
        let q = Query::parse(r#"^drums:yes  coll:"My Pack" "fretless bass" bpm:~120"#).unwrap();
        assert_eq!(q.terms.len(), 4);
        assert!(q.terms[0].negated);
        assert_eq!(q.terms[0].filter, Filter::Drums(true));
        assert_eq!(q.terms[1].filter, Filter::Collection("My Pack".into()));
        assert_eq!(q.terms[2].filter, Filter::Text("fretless bass".into()));
        assert!(!q.terms[3].negated);
        assert!(Query::parse("").unwrap().terms.is_empty());
        assert!(Query::parse("   ").unwrap().terms.is_empty());
    }

    #[test]
    fn errors_name_the_term_and_its_column() {
        let err = |q: &str| Query::parse(q).unwrap_err();
        let e = err("drums:yes bpm:fast");
        assert_eq!((e.term.as_str(), e.column), ("bpm:fast", 11));
        assert!(e.message.contains("`fast` is not a number"), "{e}");
        assert!(e.to_string().contains("`bpm:fast` at column 11"), "{e}");
        let e = err("colour:red");
        assert_eq!(e.column, 1);
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert_eq!(err("key:H").term, "key:H");
        assert_eq!(err("key:Cmaj7").term, "key:Cmaj7");
        assert_eq!(err("ts:6/x").term, "ts:6/x");
        assert_eq!(err("x bpm:130..120").column, 3);
        assert!(err("bpm:..").message.contains("at least one end"));
        assert_eq!(err("drums:maybe").term, "drums:maybe");
        assert_eq!(err("program:0").term, "program:0");
        assert_eq!(err("program:129").term, "program:129");
        assert!(err("inst:kazoo").message.contains("kazoo"));
        assert_eq!(err("dupes:0").term, "dupes:0");
        assert_eq!(err("dupes:many").term, "dupes:many");
        assert_eq!(err("name:").term, "name:");
        assert_eq!(err("^").term, "^");
        let e = err(r#"bpm:120 name:"open"#);
        assert_eq!((e.message.as_str(), e.column), ("unclosed quote", 14));
        // Columns count characters, not bytes.
        assert_eq!(err("é bpm:x").column, 3);
    }

    #[test]
    fn command_line_words_keep_their_spaces() {
        let line = join_args(&["coll:My Pack", "bpm:120", "^fretless bass", "^name:a b"]);
        assert_eq!(line, r#"coll:"My Pack" bpm:120 ^"fretless bass" ^name:"a b""#);
        let q = Query::parse(&line).unwrap();
        assert_eq!(q.terms[0].filter, Filter::Collection("My Pack".into()));
        assert_eq!(q.terms[2].filter, Filter::Text("fretless bass".into()));
        assert!(q.terms[2].negated);
        assert_eq!(q.terms[3].filter, Filter::Name("a b".into()));
        // A whole query in one pair of quotes (the issue's own `like:` example) stays a query.
        let line = join_args(&["like:123 bpm:100..130  ^drums:yes", "Tempo:~120 NAME:funk"]);
        let q = Query::parse(&line).unwrap();
        assert_eq!(q.terms.len(), 5, "{line}");
        assert_eq!(q.like(), Some(&LikeRef::Id(123)));
        assert_eq!(q.terms[2].filter, Filter::Drums(true));
        assert!(q.terms[2].negated);
        assert_eq!(q.terms[4].filter, Filter::Name("funk".into()));
        // A part that is not a field's term makes the word one value again.
        assert_eq!(join_args(&["name:funk loop"]), r#"name:"funk loop""#);
    }
    #[test]
    fn the_field_table_feeds_the_parser_and_the_help() {
        let help = fields_help();
        assert!(help.lines().all(|l| l.chars().count() <= HELP_WIDTH), "{help}");
        for f in FIELDS {
            assert!(!f.examples.is_empty() && !f.meaning.is_empty(), "{}", f.name);
            assert!(!f.short.is_empty() && f.short.len() <= 24, "{}: {}", f.name, f.short);
            for example in f.examples {
                let term = one(example);
                let field = example.trim_start_matches('^').split(':').next().unwrap();
                assert_eq!(field, f.name, "{example} is an example of {}", f.name);
                assert!(help.contains(example), "{example} in the help:\n{help}");
                // Each alias reads the same value as the name.
                for alias in f.aliases {
                    let aliased = example.replacen(f.name, alias, 1);
                    assert_eq!(one(&aliased).filter, term.filter, "{aliased}");
                }
            }
            // Wrapped over lines, word for word.
            let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(words(&help).contains(&words(f.meaning)), "{}", f.name);
            assert_eq!(field_named(&f.name.to_uppercase()).map(|d| d.kind), Some(f.kind));
        }
        let e = Query::parse("colour:red").unwrap_err();
        for f in FIELDS {
            assert!(e.message.contains(f.name), "{} in {e}", f.name);
        }
    }

    #[test]
    fn sort_names_and_directions() {
        let sort = |s: &str| s.parse::<Sort>();
        assert_eq!(
            sort("bpm").unwrap(),
            Sort {
                field: SortField::Bpm,
                descending: false
            }
        );
        assert_eq!(
            sort("-dur").unwrap(),
            Sort {
                field: SortField::Duration,
                descending: true
            }
        );
        assert_eq!(sort("+name").unwrap(), Sort::default());
        assert!(sort("colour").unwrap_err().contains("cannot sort by `colour`"));
    }
}
