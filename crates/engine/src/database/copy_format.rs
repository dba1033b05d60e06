//! COPY's two data formats, text and binary: one encoder per column type in each, fed typed values ([`Datum`]).
//!
//! The column table ([`super::columns`]) turns a record into datums; this module alone knows how either format
//! spells them, so both formats store the same values: a NUL is dropped from text in both (PostgreSQL text cannot
//! hold it), and non-finite `double precision` values are already NULL in the datum.

use std::io::Write as _;

/// Which COPY format the writer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyFormat {
    /// `COPY ... FROM STDIN`: tab-separated text the server parses per field.
    Text,
    /// `COPY ... FROM STDIN (FORMAT binary)`: each value in its type's binary form, nothing to parse.
    #[default]
    Binary,
}

/// The environment variable that picks the format (`text` or `binary`), for A/B runs and as a fallback.
pub const COPY_ENV: &str = "MIDI_TUI_COPY";

impl CopyFormat {
    /// The format named by [`COPY_ENV`], the default when it is unset or names no format.
    pub fn from_env() -> Self {
        match std::env::var(COPY_ENV) {
            Ok(v) => Self::parse(&v).unwrap_or_else(|| {
                tracing::warn!("{COPY_ENV}={v:?} names no COPY format (text, binary): using the default");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "binary" => Some(Self::Binary),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Binary => "binary",
        }
    }

    /// What follows `FROM STDIN` in a COPY statement of this format.
    pub fn options(self) -> &'static str {
        match self {
            Self::Text => "",
            Self::Binary => " (FORMAT binary)",
        }
    }
}

/// One column's value for one row, typed as its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Datum<'a> {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Text(&'a str),
    Bytea(&'a [u8]),
    Int2Array(&'a [i16]),
    Float4Array(&'a [f32]),
    TextArray(&'a [String]),
}

/// Element type OIDs of the arrays (`pg_type.oid`): binary array input checks them.
const INT2_OID: i32 = 21;
const TEXT_OID: i32 = 25;
const FLOAT4_OID: i32 = 700;

/// The binary format's fixed header: signature, flags, header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

impl Datum<'_> {
    /// The column type this value is written as (the declarations' spelling), `None` for NULL.
    pub fn sql_type(&self) -> Option<&'static str> {
        Some(match self {
            Datum::Null => return None,
            Datum::Bool(_) => "boolean",
            Datum::Int2(_) => "smallint",
            Datum::Int4(_) => "integer",
            Datum::Int8(_) => "bigint",
            Datum::Float4(_) => "real",
            Datum::Float8(_) => "double precision",
            Datum::Text(_) => "text",
            Datum::Bytea(_) => "bytea",
            Datum::Int2Array(_) => "smallint[]",
            Datum::Float4Array(_) => "real[]",
            Datum::TextArray(_) => "text[]",
        })
    }
}

/// A `double precision` value; NaN and infinities are not values a browser can filter on, so they are NULL.
pub fn finite(v: f64) -> Datum<'static> {
    if v.is_finite() { Datum::Float8(v) } else { Datum::Null }
}

pub fn opt_finite(v: Option<f64>) -> Datum<'static> {
    v.map_or(Datum::Null, finite)
}

/// A COPY data stream being built: rows of datums in one format.
pub struct CopyData {
    format: CopyFormat,
    buf: Vec<u8>,
    /// No field written yet in the current row (text separates fields with tabs).
    row_start: bool,
}

impl CopyData {
    pub fn new(format: CopyFormat, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        if format == CopyFormat::Binary {
            buf.extend_from_slice(BINARY_HEADER);
        }
        Self {
            format,
            buf,
            row_start: true,
        }
    }

    /// Start a row of `fields` fields (binary rows begin with their field count).
    pub fn begin_row(&mut self, fields: usize) {
        if self.format == CopyFormat::Binary {
            // A table has at most 1600 columns, so the count always fits.
            self.buf.extend_from_slice(&(fields as i16).to_be_bytes());
        }
        self.row_start = true;
    }

    pub fn end_row(&mut self) {
        if self.format == CopyFormat::Text {
            self.buf.push(b'\n');
        }
    }

    pub fn datum(&mut self, d: Datum<'_>) {
        match self.format {
            CopyFormat::Text => {
                if !self.row_start {
                    self.buf.push(b'\t');
                }
                text_datum(&mut self.buf, d);
            }
            CopyFormat::Binary => binary_datum(&mut self.buf, d),
        }
        self.row_start = false;
    }

    /// The finished stream, binary trailer included.
    pub fn finish(mut self) -> Vec<u8> {
        if self.format == CopyFormat::Binary {
            self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        }
        self.buf
    }
}

fn text_datum(buf: &mut Vec<u8>, d: Datum<'_>) {
    match d {
        Datum::Null => buf.extend_from_slice(b"\\N"),
        Datum::Bool(v) => buf.extend_from_slice(if v { b"true" } else { b"false" }),
        Datum::Int2(v) => num(buf, v),
        Datum::Int4(v) => num(buf, v),
        Datum::Int8(v) => num(buf, v),
        Datum::Float4(v) => num(buf, v),
        Datum::Float8(v) => num(buf, v),
        Datum::Text(s) => text(buf, s),
        Datum::Bytea(b) => {
            // `\\x` in COPY text is the bytea hex form `\x` after COPY's own unescaping.
            buf.extend_from_slice(b"\\\\x");
            for byte in b {
                num(buf, format_args!("{byte:02x}"));
            }
        }
        Datum::Int2Array(v) => number_array(buf, v),
        Datum::Float4Array(v) => number_array(buf, v),
        Datum::TextArray(v) => text_array(buf, v),
    }
}

fn num(buf: &mut Vec<u8>, v: impl std::fmt::Display) {
    let _ = write!(buf, "{v}");
}

/// COPY text format: backslash escapes; NUL is dropped.
fn text(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            0 => {}
            b => buf.push(b),
        }
    }
}

/// A text[] literal inside COPY text: array quoting first, then COPY escaping of the result.
/// `{1,2,3}`: an array literal of numbers, which need no quoting.
fn number_array<T: std::fmt::Display>(buf: &mut Vec<u8>, v: &[T]) {
    buf.push(b'{');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        num(buf, x);
    }
    buf.push(b'}');
}

fn text_array(buf: &mut Vec<u8>, v: &[String]) {
    let mut lit = String::from("{");
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            lit.push(',');
        }
        lit.push('"');
        for ch in s.chars() {
            match ch {
                '"' => lit.push_str("\\\""),
                '\\' => lit.push_str("\\\\"),
                c => lit.push(c),
            }
        }
        lit.push('"');
    }
    lit.push('}');
    text(buf, &lit);
}

fn binary_datum(buf: &mut Vec<u8>, d: Datum<'_>) {
    let field = |buf: &mut Vec<u8>, bytes: &[u8]| {
        buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        buf.extend_from_slice(bytes);
    };
    match d {
        Datum::Null => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        Datum::Bool(v) => field(buf, &[u8::from(v)]),
        Datum::Int2(v) => field(buf, &v.to_be_bytes()),
        Datum::Int4(v) => field(buf, &v.to_be_bytes()),
        Datum::Int8(v) => field(buf, &v.to_be_bytes()),
        Datum::Float4(v) => field(buf, &v.to_bits().to_be_bytes()),
        Datum::Float8(v) => field(buf, &v.to_bits().to_be_bytes()),
        Datum::Text(s) => binary_text(buf, s),
        Datum::Bytea(b) => field(buf, b),
        Datum::Int2Array(v) => {
            let len = array_header_len(v.len()) + v.len() * 6;
            buf.extend_from_slice(&(len as i32).to_be_bytes());
            array_header(buf, v.len(), INT2_OID);
            for x in v {
                field(buf, &x.to_be_bytes());
            }
        }
        Datum::Float4Array(v) => {
            let len = array_header_len(v.len()) + v.len() * 8;
            buf.extend_from_slice(&(len as i32).to_be_bytes());
            array_header(buf, v.len(), FLOAT4_OID);
            for x in v {
                field(buf, &x.to_bits().to_be_bytes());
            }
        }
        Datum::TextArray(v) => {
            let len = array_header_len(v.len()) + v.iter().map(|s| 4 + without_nul_len(s)).sum::<usize>();
            buf.extend_from_slice(&(len as i32).to_be_bytes());
            array_header(buf, v.len(), TEXT_OID);
            for s in v {
                binary_text(buf, s);
            }
        }
    }
}

/// Length-prefixed text, NUL dropped as in the text format.
fn binary_text(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes.contains(&0) {
        buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        buf.extend_from_slice(bytes);
        return;
    }
    buf.extend_from_slice(&(without_nul_len(s) as i32).to_be_bytes());
    buf.extend(bytes.iter().filter(|&&b| b != 0));
}

fn without_nul_len(s: &str) -> usize {
    s.len() - s.bytes().filter(|&b| b == 0).count()
}

/// Dimensions, has-null flag and element type; an empty array has no dimension (`'{}'`).
fn array_header_len(n: usize) -> usize {
    if n == 0 { 12 } else { 20 }
}

fn array_header(buf: &mut Vec<u8>, n: usize, element_oid: i32) {
    let ndim: i32 = if n == 0 { 0 } else { 1 };
    buf.extend_from_slice(&ndim.to_be_bytes());
    buf.extend_from_slice(&0i32.to_be_bytes());
    buf.extend_from_slice(&element_oid.to_be_bytes());
    if n > 0 {
        buf.extend_from_slice(&(n as i32).to_be_bytes());
        // Lower bound: PostgreSQL arrays count from 1.
        buf.extend_from_slice(&1i32.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(d: Datum<'_>) -> String {
        let mut b = Vec::new();
        text_datum(&mut b, d);
        String::from_utf8(b).unwrap()
    }

    fn binary_of(d: Datum<'_>) -> Vec<u8> {
        let mut b = Vec::new();
        binary_datum(&mut b, d);
        b
    }

    #[test]
    fn copy_text_escapes_separators_and_drops_nul() {
        assert_eq!(text_of(Datum::Text("a\tb\nc\\d\0e\r")), "a\\tb\\nc\\\\de\\r");
    }

    #[test]
    fn text_arrays_quote_each_element() {
        let v = ["Bass \"1\"".to_string(), "a,b".into(), "x\\y".into()];
        assert_eq!(text_of(Datum::TextArray(&v)), r#"{"Bass \\"1\\"","a,b","x\\\\y"}"#);
    }

    #[test]
    fn non_finite_floats_become_null() {
        assert_eq!(finite(f64::NAN), Datum::Null);
        assert_eq!(finite(f64::NEG_INFINITY), Datum::Null);
        assert_eq!(opt_finite(None), Datum::Null);
        assert_eq!(opt_finite(Some(-0.5)), Datum::Float8(-0.5));
    }

    #[test]
    fn binary_fields_are_length_prefixed_big_endian() {
        assert_eq!(binary_of(Datum::Null), [0xff, 0xff, 0xff, 0xff]);
        assert_eq!(binary_of(Datum::Int2(-2)), [0, 0, 0, 2, 0xff, 0xfe]);
        assert_eq!(binary_of(Datum::Bool(true)), [0, 0, 0, 1, 1]);
        assert_eq!(binary_of(Datum::Float4(1.0)), [0, 0, 0, 4, 0x3f, 0x80, 0, 0]);
        // NUL dropped, and the length counts what is left.
        assert_eq!(binary_of(Datum::Text("a\0b")), [0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn binary_arrays_declare_their_length_dimensions_and_element_type() {
        // An empty array: no dimension at all, as the server sends `'{}'`.
        assert_eq!(
            binary_of(Datum::Int2Array(&[])),
            [[0, 0, 0, 12], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 21]].concat()
        );
        let v = ["a\0".to_string(), String::new()];
        let got = binary_of(Datum::TextArray(&v));
        let want = [
            &[0, 0, 0, 29][..],
            &[0, 0, 0, 1],
            &[0, 0, 0, 0],
            &[0, 0, 0, 25],
            &[0, 0, 0, 2],
            &[0, 0, 0, 1],
            &[0, 0, 0, 1, b'a'],
            &[0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(got, want);
        // The declared length is the bytes that follow it.
        assert_eq!(got.len() - 4, 29);
    }

    #[test]
    fn a_binary_stream_has_header_row_counts_and_trailer() {
        let mut d = CopyData::new(CopyFormat::Binary, 0);
        d.begin_row(1);
        d.datum(Datum::Int4(7));
        d.end_row();
        let b = d.finish();
        assert_eq!(&b[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&b[19..], [0, 1, 0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff]);
    }

    #[test]
    fn formats_are_named_and_parsed() {
        assert_eq!(CopyFormat::parse("TEXT"), Some(CopyFormat::Text));
        assert_eq!(CopyFormat::parse(" binary"), Some(CopyFormat::Binary));
        assert_eq!(CopyFormat::parse("csv"), None);
        assert_eq!(CopyFormat::Binary.options(), " (FORMAT binary)");
    }
}
