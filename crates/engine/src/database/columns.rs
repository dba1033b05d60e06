//! The write layout, declared once: each written table's columns in COPY order, with type and value.
//!
//! The writer builds its COPY column lists, its staging tables and its `INSERT ... SELECT` lists from these tables,
//! and encodes rows by walking them, so a column's name, type and value sit on one line and cannot drift apart.
//! Each value comes out typed ([`Datum`]); [`super::copy_format`] spells it in the COPY format the writer sends.
//! [`check`] compares the declarations with the migrated schema (the `write_layout` test runs it).

use sqlx::PgPool;

use super::copy_format::{CopyData, CopyFormat, Datum, finite, opt_finite};
use super::{DbResult, quote_ident};
use crate::midi::LocationMeta;
use crate::record::{ContentRecord, LocationRecord};

/// Where a column's value comes from.
pub enum Value<R> {
    /// The file id: `files.id` drawn from its sequence, or the id of the content the row belongs to.
    FileId,
    /// The import run writing the row.
    RunId,
    /// A value of the record.
    Field(fn(&R) -> Datum<'_>),
    /// A location's own value of a `files` column (`of` reads the file's): stored only where it differs from the
    /// file's, NULL (the same as the file's) everywhere else, so that the partial indexes serving any-location
    /// search (`coll:`, `folder:`, `name:`) stay as small as the library's differently named copies.
    Alias {
        get: fn(&R) -> &str,
        of: fn(&LocationMeta) -> &str,
    },
}

/// One written column.
pub struct Column<R> {
    pub name: &'static str,
    /// The PostgreSQL type as `information_schema` spells it (`bigint`, `double precision`), arrays as `smallint[]`.
    pub sql_type: &'static str,
    pub value: Value<R>,
}

impl<R> Column<R> {
    /// The record's value; `None` for the ids, which only a whole row ([`Table::encode_row`]) has.
    pub fn datum<'a>(&self, rec: &'a R) -> Option<Datum<'a>> {
        match self.value {
            Value::Field(get) => Some(get(rec)),
            Value::Alias { get, .. } => Some(Datum::Text(get(rec))),
            _ => None,
        }
    }
}

/// One written table: the columns the writer fills, in COPY order.
pub struct Table<R: 'static> {
    pub name: &'static str,
    pub columns: &'static [Column<R>],
}

const fn field<R>(name: &'static str, sql_type: &'static str, get: fn(&R) -> Datum<'_>) -> Column<R> {
    Column {
        name,
        sql_type,
        value: Value::Field(get),
    }
}

fn opt_text(s: Option<&str>) -> Datum<'_> {
    s.map_or(Datum::Null, Datum::Text)
}

/// Sizes are unsigned; one past `bigint` (not a real file) is stored as the largest `bigint`.
fn bigint(v: u64) -> Datum<'static> {
    Datum::Int8(i64::try_from(v).unwrap_or(i64::MAX))
}

pub const FILES: Table<ContentRecord> = Table {
    name: "files",
    columns: &[
        Column {
            name: "id",
            sql_type: "bigint",
            value: Value::FileId,
        },
        field("content_hash", "bytea", |c| Datum::Bytea(&c.hash)),
        field("filename", "text", |c| Datum::Text(&c.path.filename)),
        field("name_sort", "text", |c| Datum::Text(&c.path.name_sort)),
        field("filepath", "text", |c| Datum::Text(&c.location)),
        field("parent_folder", "text", |c| Datum::Text(&c.path.parent_folder)),
        field("collection", "text", |c| Datum::Text(&c.path.collection)),
        field("filename_bpm", "real", |c| {
            c.path.filename_bpm.map_or(Datum::Null, |v| Datum::Float4(v as f32))
        }),
        field("filename_key", "text", |c| opt_text(c.path.filename_key.as_deref())),
        field("file_size_bytes", "bigint", |c| bigint(c.size)),
        field("format", "smallint", |c| Datum::Int2(c.midi.format)),
        field("num_tracks", "integer", |c| Datum::Int4(c.midi.num_tracks)),
        field("ticks_per_quarter_note", "integer", |c| {
            c.midi.ticks_per_quarter_note.map_or(Datum::Null, Datum::Int4)
        }),
        field("duration_ticks", "bigint", |c| Datum::Int8(c.midi.duration_ticks)),
        field("duration_seconds", "double precision", |c| {
            finite(c.midi.duration_seconds)
        }),
        field("track_names", "text[]", |c| Datum::TextArray(&c.midi.track_names)),
        field("copyright", "text", |c| opt_text(c.midi.copyright.as_deref())),
        Column {
            name: "import_run_id",
            sql_type: "bigint",
            value: Value::RunId,
        },
    ],
};

pub const MUSICAL_METADATA: Table<ContentRecord> = Table {
    name: "musical_metadata",
    columns: &[
        Column {
            name: "file_id",
            sql_type: "bigint",
            value: Value::FileId,
        },
        field("bpm", "double precision", |c| opt_finite(c.midi.music.bpm)),
        field("avg_bpm", "double precision", |c| opt_finite(c.midi.music.avg_bpm)),
        field("tempo_changes", "integer", |c| Datum::Int4(c.midi.music.tempo_changes)),
        field("time_signature_numerator", "smallint", |c| {
            c.midi.music.time_signature_numerator.map_or(Datum::Null, Datum::Int2)
        }),
        field("time_signature_denominator", "smallint", |c| {
            c.midi.music.time_signature_denominator.map_or(Datum::Null, Datum::Int2)
        }),
        field("key_signature", "text", |c| {
            opt_text(c.midi.music.key_signature.as_deref())
        }),
        field("detected_key", "text", |c| {
            opt_text(c.midi.music.detected_key.as_deref())
        }),
        field("key_confidence", "double precision", |c| {
            opt_finite(c.midi.music.key_confidence)
        }),
        field("total_notes", "integer", |c| Datum::Int4(c.midi.music.total_notes)),
        field("unique_pitches", "smallint", |c| {
            Datum::Int2(c.midi.music.unique_pitches)
        }),
        field("pitch_range_min", "smallint", |c| {
            c.midi.music.pitch_range_min.map_or(Datum::Null, Datum::Int2)
        }),
        field("pitch_range_max", "smallint", |c| {
            c.midi.music.pitch_range_max.map_or(Datum::Null, Datum::Int2)
        }),
        field("avg_velocity", "double precision", |c| {
            opt_finite(c.midi.music.avg_velocity)
        }),
        field("polyphony_max", "integer", |c| Datum::Int4(c.midi.music.polyphony_max)),
        field("note_density", "double precision", |c| {
            finite(c.midi.music.note_density)
        }),
        field("channels", "smallint[]", |c| Datum::Int2Array(&c.midi.music.channels)),
        field("programs", "smallint[]", |c| Datum::Int2Array(&c.midi.music.programs)),
        field("has_drums", "boolean", |c| Datum::Bool(c.midi.music.has_drums)),
        field("is_karaoke", "boolean", |c| Datum::Bool(c.midi.music.is_karaoke)),
        field("lyrics_count", "integer", |c| Datum::Int4(c.midi.music.lyrics_count)),
        field("notes_fingerprint", "bytea", |c| {
            c.midi
                .notes_fingerprint
                .as_ref()
                .map_or(Datum::Null, |f| Datum::Bytea(&f.0))
        }),
        field("transposed_fingerprint", "bytea", |c| {
            c.midi
                .transposed_fingerprint
                .as_ref()
                .map_or(Datum::Null, |f| Datum::Bytea(&f.0))
        }),
        field("features", "real[]", |c| {
            c.midi.features.as_deref().map_or(Datum::Null, Datum::Float4Array)
        }),
        field("features_version", "smallint", |c| {
            c.midi
                .features
                .as_ref()
                .map_or(Datum::Null, |_| Datum::Int2(crate::midi::similarity::FEATURE_VERSION))
        }),
        field("coarse", "real[]", |c| {
            c.midi.coarse.as_ref().map_or(Datum::Null, |v| Datum::Float4Array(v))
        }),
    ],
};

pub const FILE_LOCATIONS: Table<LocationRecord> = Table {
    name: "file_locations",
    columns: &[
        Column {
            name: "file_id",
            sql_type: "bigint",
            value: Value::FileId,
        },
        field("path", "text", |l| Datum::Text(&l.location)),
        field("size", "bigint", |l| bigint(l.size)),
        field("mtime", "bigint", |l| Datum::Int8(l.mtime)),
        Column {
            name: "import_run_id",
            sql_type: "bigint",
            value: Value::RunId,
        },
        alias("collection", |l| &l.meta.collection, |f| &f.collection),
        alias("parent_folder", |l| &l.meta.parent_folder, |f| &f.parent_folder),
        alias("filename", |l| &l.meta.filename, |f| &f.filename),
    ],
};

const fn alias<R>(name: &'static str, get: fn(&R) -> &str, of: fn(&LocationMeta) -> &str) -> Column<R> {
    Column {
        name,
        sql_type: "text",
        value: Value::Alias { get, of },
    }
}

/// Staged with each location in place of its file id: the content it holds, to look the id up by. Typed like
/// `files.content_hash`, which it is joined with.
pub const LOCATION_CONTENT: Column<LocationRecord> = field("content_hash", "bytea", |l| Datum::Bytea(&l.hash));

/// Every written table with its declared (name, type) pairs, for [`check`].
pub fn written_tables() -> [(&'static str, Vec<(&'static str, &'static str)>); 3] {
    [
        (FILES.name, FILES.declared()),
        (MUSICAL_METADATA.name, MUSICAL_METADATA.declared()),
        (FILE_LOCATIONS.name, FILE_LOCATIONS.declared()),
    ]
}

impl<R> Table<R> {
    /// The columns taken from the record: what a staging table holds.
    pub fn fields(&self) -> impl Iterator<Item = &'static Column<R>> + Clone {
        self.columns
            .iter()
            .filter(|c| matches!(c.value, Value::Field(_) | Value::Alias { .. }))
    }

    pub fn declared(&self) -> Vec<(&'static str, &'static str)> {
        self.columns.iter().map(|c| (c.name, c.sql_type)).collect()
    }

    /// `COPY "table" ("a", "b", ...) FROM STDIN`: every column, in encoding order, in `format`.
    pub fn copy_statement(&self, format: CopyFormat) -> String {
        let names = self.columns.iter().map(|c| quote_ident(c.name)).collect::<Vec<_>>();
        format!(
            "COPY {} ({}) FROM STDIN{}",
            quote_ident(self.name),
            names.join(", "),
            format.options()
        )
    }

    /// `INSERT INTO "table" (...) SELECT ...` from staging alias `s`: record columns read from `s`, the run id from
    /// `$1`, the file id from `file_id` (left out when `None`: the column's default draws it).
    pub fn insert_select(&self, file_id: Option<&str>) -> String {
        let (mut names, mut exprs) = (Vec::new(), Vec::new());
        for c in self.columns {
            let expr = match (&c.value, file_id) {
                (Value::FileId, None) => continue,
                (Value::FileId, Some(id)) => id.to_string(),
                (Value::RunId, _) => "$1".to_string(),
                (Value::Field(_), _) => format!("s.{}", quote_ident(c.name)),
                // The staged value against the joined file's (alias `f`): NULL where they agree.
                (Value::Alias { .. }, _) => format!("NULLIF(s.{0}, f.{0})", quote_ident(c.name)),
            };
            names.push(quote_ident(c.name));
            exprs.push(expr);
        }
        format!(
            "INSERT INTO {} ({}) SELECT {}",
            quote_ident(self.name),
            names.join(", "),
            exprs.join(", ")
        )
    }

    /// `"a" = EXCLUDED."a", ...` for every column but `key`: an upsert that takes the new row whole.
    pub fn update_from_excluded(&self, key: &str) -> String {
        let sets = self
            .columns
            .iter()
            .filter(|c| c.name != key)
            .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c.name)))
            .collect::<Vec<_>>();
        sets.join(", ")
    }

    /// One row: every column; a location's own values against its file's `names` (unknown: stored as they are).
    pub fn encode_row(&self, out: &mut CopyData, rec: &R, file_id: i64, run_id: i64, names: Option<&LocationMeta>) {
        out.begin_row(self.columns.len());
        for c in self.columns {
            out.datum(match c.value {
                Value::FileId => Datum::Int8(file_id),
                Value::RunId => Datum::Int8(run_id),
                Value::Field(get) => get(rec),
                Value::Alias { get, of } => match names {
                    Some(n) if of(n) == get(rec) => Datum::Null,
                    _ => Datum::Text(get(rec)),
                },
            });
        }
        out.end_row();
    }

    /// The record's columns alone, within a row the caller begins and ends: one table's part of a staged row.
    pub fn encode_fields(&self, out: &mut CopyData, rec: &R) {
        for c in self.fields() {
            if let Some(d) = c.datum(rec) {
                out.datum(d);
            }
        }
    }
}

/// `"a" bytea, "b" text, ...`: column definitions for a staging table.
pub fn definitions<'a, R: 'static>(columns: impl Iterator<Item = &'a Column<R>>) -> String {
    let defs = columns
        .map(|c| format!("{} {}", quote_ident(c.name), c.sql_type))
        .collect::<Vec<_>>();
    defs.join(", ")
}

/// A column as the migrated schema has it (`information_schema.columns`).
#[derive(Debug, Clone)]
pub struct SchemaColumn {
    pub name: String,
    pub data_type: String,
    pub udt_name: String,
    pub not_null: bool,
    pub has_default: bool,
}

/// A disagreement between a declared table and the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    NoTable {
        table: String,
    },
    NoColumn {
        table: String,
        column: String,
    },
    Type {
        table: String,
        column: String,
        declared: String,
        schema: String,
    },
    /// NOT NULL without a default in the schema but not written: every row would fail.
    Undeclared {
        table: String,
        column: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::NoTable { table } => write!(f, "{table}: no such table"),
            Mismatch::NoColumn { table, column } => write!(f, "{table}.{column}: no such column"),
            Mismatch::Type {
                table,
                column,
                declared,
                schema,
            } => {
                write!(f, "{table}.{column}: declared {declared}, schema has {schema}")
            }
            Mismatch::Undeclared { table, column } => {
                write!(f, "{table}.{column}: NOT NULL without a default, but not written")
            }
        }
    }
}

/// The schema's type in the spelling of the declarations: `ARRAY` + `_int2` is `smallint[]`.
pub fn schema_type(data_type: &str, udt_name: &str) -> String {
    if data_type != "ARRAY" {
        return data_type.to_string();
    }
    let element = udt_name.strip_prefix('_').unwrap_or(udt_name);
    let element = match element {
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        other => other,
    };
    format!("{element}[]")
}

/// Everything wrong with one declared table against its schema columns; empty when they agree.
pub fn mismatches(table: &str, declared: &[(&str, &str)], schema: &[SchemaColumn]) -> Vec<Mismatch> {
    let table = table.to_string();
    if schema.is_empty() {
        return vec![Mismatch::NoTable { table }];
    }
    let mut out = Vec::new();
    for (name, sql_type) in declared {
        match schema.iter().find(|s| s.name == *name) {
            None => out.push(Mismatch::NoColumn {
                table: table.clone(),
                column: name.to_string(),
            }),
            Some(s) => {
                let have = schema_type(&s.data_type, &s.udt_name);
                if have != *sql_type {
                    out.push(Mismatch::Type {
                        table: table.clone(),
                        column: name.to_string(),
                        declared: sql_type.to_string(),
                        schema: have,
                    });
                }
            }
        }
    }
    for s in schema.iter().filter(|s| s.not_null && !s.has_default) {
        if !declared.iter().any(|(name, _)| *name == s.name) {
            out.push(Mismatch::Undeclared {
                table: table.clone(),
                column: s.name.clone(),
            });
        }
    }
    out
}

/// One table's columns as the connected database has them (empty when there is no such table).
pub async fn schema_columns(pool: &PgPool, table: &str) -> DbResult<Vec<SchemaColumn>> {
    let rows: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, udt_name::text, is_nullable = 'NO', column_default IS NOT NULL \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, data_type, udt_name, not_null, has_default)| SchemaColumn {
            name,
            data_type,
            udt_name,
            not_null,
            has_default,
        })
        .collect())
}

/// Every disagreement between the declared write layout and the connected database's schema.
pub async fn check(pool: &PgPool) -> DbResult<Vec<Mismatch>> {
    let mut out = Vec::new();
    for (table, declared) in written_tables() {
        out.extend(mismatches(table, &declared, &schema_columns(pool, table).await?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, data_type: &str, udt_name: &str, not_null: bool, has_default: bool) -> SchemaColumn {
        SchemaColumn {
            name: name.into(),
            data_type: data_type.into(),
            udt_name: udt_name.into(),
            not_null,
            has_default,
        }
    }

    fn schema() -> Vec<SchemaColumn> {
        vec![
            col("id", "bigint", "int8", true, true),
            col("format", "smallint", "int2", false, false),
            col("num_tracks", "integer", "int4", false, false),
            col("channels", "ARRAY", "_int2", true, true),
            col("file_size_bytes", "bigint", "int8", true, false),
        ]
    }

    #[test]
    fn checker_accepts_a_matching_declaration() {
        let declared = [
            ("format", "smallint"),
            ("num_tracks", "integer"),
            ("channels", "smallint[]"),
            ("file_size_bytes", "bigint"),
        ];
        assert_eq!(mismatches("files", &declared, &schema()), vec![]);
    }

    #[test]
    fn checker_flags_swapped_unknown_and_missing_columns() {
        // Two integer columns swapped in the declaration, an array declared as its element, a typo, and the one
        // required column left out.
        let declared = [
            ("num_tracks", "smallint"),
            ("format", "integer"),
            ("channels", "smallint"),
            ("fromat", "smallint"),
        ];
        let found = mismatches("files", &declared, &schema());
        let text: Vec<String> = found.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            text,
            [
                "files.num_tracks: declared smallint, schema has integer",
                "files.format: declared integer, schema has smallint",
                "files.channels: declared smallint, schema has smallint[]",
                "files.fromat: no such column",
                "files.file_size_bytes: NOT NULL without a default, but not written",
            ]
        );
        assert_eq!(
            mismatches("nope", &declared, &[]),
            vec![Mismatch::NoTable { table: "nope".into() }]
        );
    }

    #[test]
    fn staged_location_content_is_typed_like_the_files_column() {
        let files_hash = FILES.columns.iter().find(|c| c.name == LOCATION_CONTENT.name);
        assert_eq!(files_hash.map(|c| c.sql_type), Some(LOCATION_CONTENT.sql_type));
    }

    #[test]
    fn array_types_are_spelled_like_declarations() {
        assert_eq!(schema_type("ARRAY", "_int2"), "smallint[]");
        assert_eq!(schema_type("ARRAY", "_text"), "text[]");
        assert_eq!(schema_type("double precision", "float8"), "double precision");
    }

    #[test]
    fn generated_statements_name_every_column_in_order() {
        assert_eq!(
            FILE_LOCATIONS.copy_statement(CopyFormat::Text),
            r#"COPY "file_locations" ("file_id", "path", "size", "mtime", "import_run_id", "collection", "parent_folder", "filename") FROM STDIN"#
        );
        assert_eq!(
            FILE_LOCATIONS.copy_statement(CopyFormat::Binary),
            r#"COPY "file_locations" ("file_id", "path", "size", "mtime", "import_run_id", "collection", "parent_folder", "filename") FROM STDIN (FORMAT binary)"#
        );
        assert_eq!(
            FILE_LOCATIONS.insert_select(Some("f.id")),
            r#"INSERT INTO "file_locations" ("file_id", "path", "size", "mtime", "import_run_id", "collection", "parent_folder", "filename") SELECT f.id, s."path", s."size", s."mtime", $1, NULLIF(s."collection", f."collection"), NULLIF(s."parent_folder", f."parent_folder"), NULLIF(s."filename", f."filename")"#
        );
        assert!(
            FILES
                .insert_select(None)
                .starts_with(r#"INSERT INTO "files" ("content_hash", "#)
        );
        assert_eq!(
            FILE_LOCATIONS.update_from_excluded("path"),
            r#""file_id" = EXCLUDED."file_id", "size" = EXCLUDED."size", "mtime" = EXCLUDED."mtime", "import_run_id" = EXCLUDED."import_run_id", "collection" = EXCLUDED."collection", "parent_folder" = EXCLUDED."parent_folder", "filename" = EXCLUDED."filename""#
        );
    }

    /// What a text stream holds once `write` has put its fields in.
    fn text_of(write: impl FnOnce(&mut CopyData)) -> String {
        let mut out = CopyData::new(CopyFormat::Text, 0);
        write(&mut out);
        String::from_utf8(out.finish()).unwrap()
    }

    #[test]
    fn a_location_line_follows_the_declared_order() {
        let l = LocationRecord {
            hash: [0xab; 32],
            location: "a\tb.mid".into(),
            size: 10,
            mtime: -5,
            archive: None,
            meta: Default::default(),
        };
        let mut l = l;
        l.meta = LocationMeta {
            filename: "b.mid".into(),
            parent_folder: "a".into(),
            collection: "Pack".into(),
        };
        let file = LocationMeta {
            collection: "Other".into(),
            ..l.meta.clone()
        };
        // Only what differs from the file's own values is stored; unknown file values: all of them.
        assert_eq!(
            text_of(|b| FILE_LOCATIONS.encode_row(b, &l, 7, 3, Some(&file))),
            "7\ta\\tb.mid\t10\t-5\t3\tPack\t\\N\t\\N\n"
        );
        assert_eq!(
            text_of(|b| FILE_LOCATIONS.encode_row(b, &l, 7, 3, None)),
            "7\ta\\tb.mid\t10\t-5\t3\tPack\ta\tb.mid\n"
        );
        assert_eq!(
            text_of(|b| FILE_LOCATIONS.encode_fields(b, &l)),
            "a\\tb.mid\t10\t-5\tPack\ta\tb.mid"
        );
    }

    fn sample(blank: bool) -> ContentRecord {
        use crate::midi::{MidiMetadata, PathMeta};
        let mut c = ContentRecord {
            hash: [0x5a; 32],
            location: "/lib/a\\b\tc\n.mid".into(),
            size: 1234,
            path: PathMeta {
                filename: "c\0.mid".into(),
                name_sort: "c\0.mid".into(),
                parent_folder: "a".into(),
                collection: "col".into(),
                filename_bpm: Some(120.3),
                filename_key: Some("Am".into()),
            },
            midi: MidiMetadata {
                format: 1,
                num_tracks: 3,
                ticks_per_quarter_note: Some(480),
                duration_ticks: 9600,
                duration_seconds: 12.345678901234,
                track_names: vec!["Bass \"1\"".into(), "a,b\\c\t".into()],
                copyright: Some("(c)".into()),
                music: crate::midi::Music::sample(),
                notes_fingerprint: Some(crate::midi::Fingerprint([0x11; 16])),
                transposed_fingerprint: Some(crate::midi::Fingerprint([0x22; 16])),
                features: Some(vec![0.5, -1.25]),
                coarse: Some([0.25, -0.5, 0.0, 1.0, 2.5, -3.0, 0.125, 4.0, 5.0, 6.0, 7.0, 8.0]),
                ..Default::default()
            },
        };
        if blank {
            c.midi.notes_fingerprint = None;
            c.midi.transposed_fingerprint = None;
            c.midi.features = None;
            c.midi.coarse = None;
            c.path.filename_bpm = None;
            c.path.filename_key = None;
            c.midi.ticks_per_quarter_note = None;
            c.midi.duration_seconds = f64::NAN;
            c.midi.music.bpm = Some(f64::INFINITY);
            c.midi.music.avg_bpm = None;
            c.midi.music.key_confidence = Some(f64::NAN);
            c.midi.copyright = None;
            c.midi.track_names = vec![];
            c.midi.music.channels = vec![];
            c.midi.music.note_density = f64::NEG_INFINITY;
            c.midi.music.pitch_range_min = None;
        }
        c
    }

    /// The lines the positional encoders wrote before the layout was declared, byte for byte: escapes, `\N` for
    /// absent and non-finite values, array literals, column order.
    #[test]
    fn rows_encode_as_the_positional_writer_did() {
        let rich = sample(false);
        let blank = sample(true);
        let line = |t: &Table<ContentRecord>, c: &ContentRecord| text_of(|b| t.encode_row(b, c, 77, 5, None));
        let staged = |c: &ContentRecord| {
            text_of(|b| {
                FILES.encode_fields(b, c);
                MUSICAL_METADATA.encode_fields(b, c);
            })
        };
        assert_eq!(
            line(&FILES, &rich),
            "77\t\\\\x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\tc.mid\tc.mid\t/lib/a\\\\b\\tc\\n.mid\ta\tcol\t120.3\tAm\t1234\t1\t3\t480\t9600\t12.345678901234\t{\"Bass \\\\\"1\\\\\"\",\"a,b\\\\\\\\c\\t\"}\t(c)\t5\n"
        );
        assert_eq!(
            line(&MUSICAL_METADATA, &rich),
            "77\t121.25\t119.5\t4\t6\t8\tEb\tG\t0.75\t500\t25\t30\t90\t88.5\t7\t7.25\t{0,9}\t{1,33}\ttrue\tfalse\t11\t\\\\x11111111111111111111111111111111\t\\\\x22222222222222222222222222222222\t{0.5,-1.25}\t1\t{0.25,-0.5,0,1,2.5,-3,0.125,4,5,6,7,8}\n"
        );
        assert_eq!(
            staged(&rich),
            "\\\\x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\tc.mid\tc.mid\t/lib/a\\\\b\\tc\\n.mid\ta\tcol\t120.3\tAm\t1234\t1\t3\t480\t9600\t12.345678901234\t{\"Bass \\\\\"1\\\\\"\",\"a,b\\\\\\\\c\\t\"}\t(c)\t121.25\t119.5\t4\t6\t8\tEb\tG\t0.75\t500\t25\t30\t90\t88.5\t7\t7.25\t{0,9}\t{1,33}\ttrue\tfalse\t11\t\\\\x11111111111111111111111111111111\t\\\\x22222222222222222222222222222222\t{0.5,-1.25}\t1\t{0.25,-0.5,0,1,2.5,-3,0.125,4,5,6,7,8}"
        );
        assert_eq!(
            line(&FILES, &blank),
            "77\t\\\\x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\tc.mid\tc.mid\t/lib/a\\\\b\\tc\\n.mid\ta\tcol\t\\N\t\\N\t1234\t1\t3\t\\N\t9600\t\\N\t{}\t\\N\t5\n"
        );
        assert_eq!(
            line(&MUSICAL_METADATA, &blank),
            "77\t\\N\t\\N\t4\t6\t8\tEb\tG\t\\N\t500\t25\t\\N\t90\t88.5\t7\t\\N\t{}\t{1,33}\ttrue\tfalse\t11\t\\N\t\\N\t\\N\t\\N\t\\N\n"
        );
        assert_eq!(
            staged(&blank),
            "\\\\x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\tc.mid\tc.mid\t/lib/a\\\\b\\tc\\n.mid\ta\tcol\t\\N\t\\N\t1234\t1\t3\t\\N\t9600\t\\N\t{}\t\\N\t\\N\t\\N\t4\t6\t8\tEb\tG\t\\N\t500\t25\t\\N\t90\t88.5\t7\t\\N\t{}\t{1,33}\ttrue\tfalse\t11\t\\N\t\\N\t\\N\t\\N\t\\N"
        );
    }

    /// Every value is written as its declared column type: binary COPY would otherwise be refused (or worse, a
    /// same-sized type misread), and text COPY would parse it into another type.
    #[test]
    fn every_value_has_its_columns_declared_type() {
        fn check<R: 'static>(t: &Table<R>, rec: &R) {
            for c in t.fields() {
                let d = c.datum(rec).expect("a field has a value");
                assert_eq!(d.sql_type(), Some(c.sql_type), "{}.{}: {d:?}", t.name, c.name);
            }
        }
        let rich = sample(false);
        check(&FILES, &rich);
        check(&MUSICAL_METADATA, &rich);
        let l = LocationRecord {
            hash: [1; 32],
            location: "x".into(),
            size: 1,
            mtime: 2,
            archive: None,
            meta: Default::default(),
        };
        check(&FILE_LOCATIONS, &l);
        assert_eq!(LOCATION_CONTENT.datum(&l).and_then(|d| d.sql_type()), Some("bytea"));
    }
}
