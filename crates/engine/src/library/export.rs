//! Export: the files a search matches, written to a folder with their original bytes and names, read from their
//! folders or archives (each archive read once), plus an optional CSV or JSON-lines manifest of their metadata.
//!
//! Which locations: one per file by default (the location the file was first found at, when it is still listed;
//! else its first location in sorted order), every location with [`ExportOptions::all_locations`].
//!
//! Where: each location keeps its path from the import source it was found under (the longest matching one of
//! [`ExportOptions::sources`]): a file found by importing `/music/lib` goes to `OUT/lib/...`, whatever the query,
//! so exports into one folder line up. An archive on the way becomes a folder named after it with `.d` appended
//! (`lib/pack.zip!/drums/a.mid` -> `OUT/lib/pack.zip.d/drums/a.mid`, nested archives alike), so a folder `pack`
//! beside `pack.zip` never mixes with it. A location under no known source keeps its whole path.
//! Names are the original bytes (locations are decoded from their `%XX` escapes), so names that are not UTF-8 or
//! contain `%` come out as they were on disk or in the archive.
//!
//! Safety: a path with a `..` component is refused; nothing is written through a symbolic link; an existing file is
//! never overwritten: a name taken by different content gets `name (2).ext` (then `(3)`, ...), and a file with the
//! same bytes already there is left alone (`unchanged`). Bytes are checked against the stored BLAKE3 hash before
//! they are written: a file changed since its import is reported, not exported.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::database::search::Hit;
use crate::source::location::{MEMBER_SEPARATOR, decode_location, encode_bytes, path_from_bytes};
use crate::source::{Limits, ReadEvent, read_archive};
use crate::unpack::{ensure_dirs, numbered, safe_components, same_content};

/// What to write and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub out: PathBuf,
    /// Every location of each file instead of one.
    pub all_locations: bool,
    pub limits: Limits,
    /// The import sources (locations), from `import_runs`: paths are kept from the source's folder name down.
    pub sources: Vec<String>,
}

/// One written file: where from, where to, and the search hit it belongs to (its metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenFile {
    pub location: String,
    /// The file written (or found already there with the same bytes).
    pub path: PathBuf,
    /// Index of the hit in the slice given to [`export`].
    pub hit: usize,
    pub unchanged: bool,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportReport {
    pub files: Vec<WrittenFile>,
    pub bytes: u64,
    /// Written under a `name (N).ext` name because their name was taken by other content.
    pub renamed: u64,
    /// Archives opened (each once).
    pub archives: u64,
    /// (location, why) of each location that could not be exported.
    pub errors: Vec<(String, String)>,
}

impl ExportReport {
    pub fn written(&self) -> usize {
        self.files.iter().filter(|f| !f.unchanged).count()
    }

    pub fn unchanged(&self) -> usize {
        self.files.iter().filter(|f| f.unchanged).count()
    }
}

/// Failures that stop the whole export (a location's problems go into the report instead).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot create the output folder {path}: {source}")]
    OutDir { path: PathBuf, source: io::Error },
    #[error("cannot write the manifest {path}: {source}")]
    Manifest { path: PathBuf, source: io::Error },
    #[error("the manifest must be named .csv or .jsonl: {0}")]
    ManifestFormat(PathBuf),
}

/// One location to export: the hit it belongs to, its stored text, and where it goes below the output folder.
struct Job {
    hit: usize,
    location: String,
    hash: String,
    /// Components below the output folder, the file name last.
    target: Vec<Vec<u8>>,
}

/// Write the locations of `hits` under `opts.out`. Never panics; per-location problems land in `errors`.
pub fn export(hits: &[Hit], opts: &ExportOptions) -> Result<ExportReport, ExportError> {
    fs::create_dir_all(&opts.out).map_err(|source| ExportError::OutDir {
        path: opts.out.clone(),
        source,
    })?;
    let mut report = ExportReport::default();
    let chosen: Vec<(usize, &str)> = hits
        .iter()
        .enumerate()
        .flat_map(|(i, h)| chosen_locations(h, opts.all_locations).into_iter().map(move |l| (i, l)))
        .collect();
    let mut plain = Vec::new();
    let mut archives: Vec<(Vec<u8>, String, Vec<Job>)> = Vec::new();
    for (hit, location) in chosen {
        let s = split_location(location);
        let base = base_folder(location, &opts.sources);
        let job = match target_of(&s, &base) {
            Ok(target) => Job {
                hit,
                location: location.to_string(),
                hash: hits[hit].content_hash.clone(),
                target,
            },
            Err(why) => {
                report.errors.push((location.to_string(), why.to_string()));
                continue;
            }
        };
        match s.archive_location {
            None => plain.push(job),
            Some(archive) => match archives.iter_mut().find(|a| a.1 == archive) {
                Some(a) => a.2.push(job),
                None => archives.push((s.outer, archive, vec![job])),
            },
        }
    }
    for job in plain {
        let data = fs::read(path_from_bytes(decode_location(&job.location)));
        match data {
            Ok(data) => place(&opts.out, &job, &data, &mut report),
            Err(e) => report.errors.push((job.location, format!("io: {e}"))),
        }
    }
    for (outer, archive, jobs) in archives {
        report.archives += 1;
        read_members(
            &opts.out,
            &path_from_bytes(outer),
            &archive,
            jobs,
            &opts.limits,
            &mut report,
        );
    }
    Ok(report)
}

/// The locations of `h` to export.
fn chosen_locations(h: &Hit, all: bool) -> Vec<&str> {
    if all || h.locations.is_empty() {
        return h.locations.iter().map(String::as_str).collect();
    }
    let first = h.locations.iter().find(|l| **l == h.path).unwrap_or(&h.locations[0]);
    vec![first.as_str()]
}

/// A location cut where it enters its outermost archive.
struct Split {
    /// Decoded bytes of the file on disk: the plain file, or the outermost archive.
    outer: Vec<u8>,
    /// The outermost archive's location text, as its members' locations start.
    archive_location: Option<String>,
    /// Decoded member path components inside the archives, each archive boundary a separate entry.
    inner: Vec<Vec<u8>>,
}

/// Find the outermost archive: the shortest prefix before a `!/` that is a file on disk (a folder may be called
/// `x!`, so the first `!/` is not always the boundary).
fn split_location(location: &str) -> Split {
    let mut from = 0;
    while let Some(i) = location[from..].find(MEMBER_SEPARATOR) {
        let at = from + i;
        let prefix = &location[..at];
        let outer = decode_location(prefix);
        if fs::metadata(path_from_bytes(outer.clone())).is_ok_and(|m| m.is_file()) {
            let rest = &location[at + MEMBER_SEPARATOR.len()..];
            return Split {
                outer,
                archive_location: Some(prefix.to_string()),
                inner: rest.split(MEMBER_SEPARATOR).map(decode_location).collect(),
            };
        }
        from = at + MEMBER_SEPARATOR.len();
    }
    Split {
        outer: decode_location(location),
        archive_location: None,
        inner: Vec::new(),
    }
}

/// The folder (decoded bytes) paths are kept below: the parent of the longest source `location` is under.
fn base_folder(location: &str, sources: &[String]) -> Vec<u8> {
    let under = |s: &&String| {
        location == s.as_str()
            || location
                .strip_prefix(s.as_str())
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with(MEMBER_SEPARATOR))
    };
    let Some(source) = sources.iter().filter(under).max_by_key(|s| s.len()) else {
        return Vec::new();
    };
    let decoded = decode_location(source.trim_end_matches('/'));
    match decoded.iter().rposition(|&b| b == b'/') {
        Some(i) => decoded[..i].to_vec(),
        None => Vec::new(),
    }
}

/// Components below the output folder for a location, or why it is refused.
fn target_of(s: &Split, root: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let below = s.outer.get(root.len()..).unwrap_or_default();
    let first = below.iter().position(|&b| b != b'/').unwrap_or(below.len());
    let below = &below[first..];
    let mut parts: Vec<Vec<u8>> = safe_components(below)?.into_iter().map(<[u8]>::to_vec).collect();
    for member in &s.inner {
        if let Some(archive) = parts.last_mut() {
            archive.extend_from_slice(b".d");
        }
        parts.extend(safe_components(member)?.into_iter().map(<[u8]>::to_vec));
    }
    if parts.is_empty() {
        return Err("empty name");
    }
    Ok(parts)
}

/// Stream one archive, writing the members `jobs` want; stops once all are found.
fn read_members(out: &Path, fs_path: &Path, archive: &str, jobs: Vec<Job>, limits: &Limits, report: &mut ExportReport) {
    let mut wanted: HashMap<String, Vec<Job>> = HashMap::new();
    for j in jobs {
        wanted.entry(j.location.clone()).or_default().push(j);
    }
    let mut found: HashSet<String> = HashSet::new();
    read_archive(archive, fs_path, limits, &mut |ev| {
        match ev {
            ReadEvent::Member(m) => {
                if let Some(jobs) = wanted.get(&m.location) {
                    for j in jobs {
                        place(out, j, &m.data, report);
                    }
                    found.insert(m.location);
                }
            }
            ReadEvent::Error {
                location,
                kind,
                message,
            } if wanted.contains_key(&location) || location == archive => {
                report.errors.push((location, format!("{kind}: {message}")));
            }
            _ => {}
        }
        found.len() < wanted.len()
    });
    for (location, _) in wanted.into_iter().filter(|(l, _)| !found.contains(l)) {
        if !report.errors.iter().any(|(l, _)| *l == location) {
            report
                .errors
                .push((location, "not found in the archive any more".into()));
        }
    }
}

/// Check the bytes against the stored hash and write them to their target, never over other content.
fn place(out: &Path, job: &Job, data: &[u8], report: &mut ExportReport) {
    if blake3::hash(data).to_hex().as_str() != job.hash {
        report.errors.push((
            job.location.clone(),
            "changed since it was imported: not exported".into(),
        ));
        return;
    }
    let Some((name, dirs)) = job.target.split_last() else {
        return;
    };
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| path_from_bytes(d.clone())).collect();
    let dirs: Vec<&OsStr> = dirs.iter().map(|d| d.as_os_str()).collect();
    let placed = ensure_dirs(out, &dirs).and_then(|dir| write_new(&dir, name, data));
    match placed {
        Ok((path, unchanged)) => {
            if !unchanged {
                report.bytes += data.len() as u64;
                if path.file_name().map(|n| n.as_encoded_bytes()) != Some(&name[..]) {
                    report.renamed += 1;
                }
            }
            report.files.push(WrittenFile {
                location: job.location.clone(),
                path,
                hit: job.hit,
                unchanged,
            });
        }
        Err(e) => report.errors.push((job.location.clone(), format!("io: {e}"))),
    }
}

/// Write `data` as `dir/name`, or `name (N)` when taken by other bytes; `(path, true)` when the same bytes are
/// already there. A temporary file renamed when complete: an interrupted export leaves no half file under a real name.
fn write_new(dir: &Path, name: &[u8], data: &[u8]) -> io::Result<(PathBuf, bool)> {
    let tmp = dir.join(format!(".midi-tui-export-{}.part", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
    }
    let result = (|| {
        for n in 1..=10_000u32 {
            let cand = dir.join(path_from_bytes(if n == 1 {
                name.to_vec()
            } else {
                numbered(name, n, true)
            }));
            match fs::symlink_metadata(&cand) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::rename(&tmp, &cand)?;
                    return Ok((cand, false));
                }
                Err(e) => return Err(e),
                Ok(md) if md.is_file() && same_content(&tmp, &cand)? => return Ok((cand, true)),
                Ok(_) => {}
            }
        }
        Err(io::Error::other("10,000 files with this name already exist"))
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// The manifest's columns, in order.
const MANIFEST_COLUMNS: [&str; 17] = [
    "file",
    "location",
    "content_hash",
    "filename",
    "collection",
    "bpm",
    "key",
    "time_signature",
    "duration_seconds",
    "total_notes",
    "num_tracks",
    "programs",
    "has_drums",
    "file_size_bytes",
    "key_signature",
    "detected_key",
    "unchanged",
];

/// One manifest row: the written file relative to `out` (in the location escape scheme, so that a name that is not
/// UTF-8 stays exact), then the hit's metadata.
fn manifest_row(out: &Path, w: &WrittenFile, h: &Hit) -> serde_json::Value {
    let rel = w.path.strip_prefix(out).unwrap_or(&w.path);
    serde_json::json!({
        "file": encode_bytes(rel.as_os_str().as_encoded_bytes()),
        "location": w.location,
        "content_hash": h.content_hash,
        "filename": h.filename,
        "collection": location_collection(h, &w.location),
        "bpm": h.bpm,
        "key": h.key,
        "time_signature": h.time_signature,
        "duration_seconds": h.duration_seconds,
        "total_notes": h.total_notes,
        "num_tracks": h.num_tracks,
        "programs": h.programs,
        "has_drums": h.has_drums,
        "file_size_bytes": h.file_size_bytes,
        "key_signature": h.key_signature,
        "detected_key": h.detected_key,
        "unchanged": w.unchanged,
    })
}

/// The collection of the location `location` of `h` (the file's own when not known per location).
fn location_collection<'a>(h: &'a Hit, location: &str) -> &'a str {
    h.locations
        .iter()
        .position(|l| l == location)
        .and_then(|i| h.location_collections.get(i))
        .unwrap_or(&h.collection)
}

/// Write the manifest of `report` to `path`: CSV (header, then one row per file) for `.csv`, JSON lines for
/// `.jsonl` / `.ndjson`.
/// With `splits` (per hit, `export --split`), each row also names its file's split (the `split` column, last).
pub fn write_manifest(
    path: &Path,
    out: &Path,
    hits: &[Hit],
    report: &ExportReport,
    splits: Option<&[String]>,
) -> Result<(), ExportError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let csv = match ext.as_str() {
        "csv" => true,
        "jsonl" | "ndjson" => false,
        _ => return Err(ExportError::ManifestFormat(path.to_path_buf())),
    };
    let err = |source| ExportError::Manifest {
        path: path.to_path_buf(),
        source,
    };
    let mut f = io::BufWriter::new(fs::File::create(path).map_err(err)?);
    let mut columns = MANIFEST_COLUMNS.to_vec();
    if splits.is_some() {
        columns.push("split");
    }
    if csv {
        writeln!(f, "{}", columns.join(",")).map_err(err)?;
    }
    for w in &report.files {
        let mut row = manifest_row(out, w, &hits[w.hit]);
        if let Some(s) = splits {
            row["split"] = serde_json::Value::from(s[w.hit].as_str());
        }
        let line = if csv { csv_line(&row, &columns) } else { row.to_string() };
        writeln!(f, "{line}").map_err(err)?;
    }
    f.flush().map_err(err)
}

/// A JSON row as a CSV line in [`MANIFEST_COLUMNS`] order: nulls empty, arrays `1;33`, quotes where needed.
fn csv_line(row: &serde_json::Value, columns: &[&str]) -> String {
    let cells: Vec<String> = columns
        .iter()
        .map(|c| {
            let text = match &row[*c] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(";"),
                other => other.to_string(),
            };
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text
            }
        })
        .collect();
    cells.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(outer: &[u8], inner: &[&[u8]]) -> Split {
        Split {
            outer: outer.to_vec(),
            archive_location: (!inner.is_empty()).then(String::new),
            inner: inner.iter().map(|m| m.to_vec()).collect(),
        }
    }

    #[test]
    fn targets_keep_structure_below_their_source_folder() {
        let sources = vec![
            "/music/lib".to_string(),
            "/music/lib/a/deep".to_string(),
            "/other/p%25.zip".to_string(),
        ];
        assert_eq!(base_folder("/music/lib/a/x.mid", &sources), b"/music");
        assert_eq!(base_folder("/music/lib/a/deep/y.mid", &sources), b"/music/lib/a");
        assert_eq!(base_folder("/music/library/z.mid", &sources), b"");
        assert_eq!(base_folder("/other/p%25.zip!/m.mid", &sources), b"/other");
        let root = base_folder("/music/lib/a/x.mid", &sources);
        assert_eq!(
            target_of(&split(b"/music/lib/a/x.mid", &[]), &root).unwrap(),
            [b"lib".to_vec(), b"a".to_vec(), b"x.mid".to_vec()]
        );
        assert_eq!(
            target_of(&split(b"/music/lib/b/pack.zip", &[b"d/in.tgz", b"caf\xe9.mid"]), &root).unwrap(),
            [
                b"lib".to_vec(),
                b"b".to_vec(),
                b"pack.zip.d".to_vec(),
                b"d".to_vec(),
                b"in.tgz.d".to_vec(),
                b"caf\xe9.mid".to_vec()
            ]
        );
        // Under no source: the whole path.
        assert_eq!(
            target_of(&split(b"/x/y.mid", &[]), b"").unwrap(),
            [b"x".to_vec(), b"y.mid".to_vec()]
        );
    }

    #[test]
    fn traversal_is_refused() {
        let root = b"/lib".to_vec();
        assert!(target_of(&split(b"/lib/../etc/passwd", &[]), &root).is_err());
        assert!(target_of(&split(b"/lib/p.zip", &[b"../../x.mid"]), &root).is_err());
        assert!(target_of(&split(b"/lib/p.zip", &[b"a/../../x.mid"]), &root).is_err());
    }

    #[test]
    fn a_folder_named_with_a_bang_is_not_an_archive() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("live!");
        fs::create_dir(&folder).unwrap();
        let zip = folder.join("p.zip");
        fs::write(&zip, b"PK").unwrap();
        let base = dir.path().to_str().unwrap();
        let s = split_location(&format!("{base}/live!/p.zip!/a%25b.mid"));
        assert_eq!(s.archive_location.as_deref(), Some(&*format!("{base}/live!/p.zip")));
        assert_eq!(s.inner, [b"a%b.mid".to_vec()]);
        let s = split_location(&format!("{base}/live!/x.mid"));
        assert_eq!(s.archive_location, None);
        assert_eq!(s.outer, format!("{base}/live!/x.mid").into_bytes());
    }

    #[test]
    fn csv_cells_are_quoted_where_needed() {
        let row = serde_json::json!({"file": "a,b.mid", "location": "say \"hi\"", "programs": [1, 33], "bpm": null});
        let line = csv_line(&row, &MANIFEST_COLUMNS);
        assert!(line.starts_with("\"a,b.mid\",\"say \"\"hi\"\"\",,,,,"), "{line}");
        assert!(line.contains(",1;33,"), "{line}");
    }

    #[test]
    fn collisions_get_a_number_and_same_bytes_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (a, same) = write_new(dir.path(), b"s.mid", b"one").unwrap();
        assert!(!same && a.ends_with("s.mid"));
        let (b, same) = write_new(dir.path(), b"s.mid", b"two").unwrap();
        assert!(!same && b.ends_with("s (2).mid"), "{b:?}");
        let (c, same) = write_new(dir.path(), b"s.mid", b"two").unwrap();
        assert!(same && c == b);
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
    }
}
