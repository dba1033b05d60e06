//! `midi-tui dupes [--musical] [--transposed] [--json]`: duplicate groups, largest first, as text or JSON lines.
use std::io::Write;

use anyhow::Result;

use super::{DupesArgs, GlobalArgs};
use crate::engine::library::{DupeGroup, DupeKind};
use crate::engine::session::Engine;

/// List the groups the flags ask for (byte-identical by default).
pub async fn run(global: &GlobalArgs, args: &DupesArgs) -> Result<()> {
    let mut kinds = Vec::new();
    if args.musical {
        kinds.push(DupeKind::Musical);
    }
    if args.transposed {
        kinds.push(DupeKind::Transposed);
    }
    if kinds.is_empty() {
        kinds.push(DupeKind::Bytes);
    }
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let mut out = std::io::stdout().lock();
    let mut failure: Option<std::io::Error> = None;
    for kind in kinds {
        let (mut groups, mut files, mut locations) = (0u64, 0u64, 0u64);
        engine
            .duplicate_groups(kind, |g| {
                groups += 1;
                files += g.files.len() as u64;
                locations += g.locations() as u64;
                let written = if args.json {
                    serde_json::to_string(&g)
                        .map_err(std::io::Error::other)
                        .and_then(|line| writeln!(out, "{line}"))
                } else {
                    write_group(&mut out, &g)
                };
                match written {
                    Ok(()) => true,
                    Err(e) => {
                        failure = Some(e);
                        false
                    }
                }
            })
            .await?;
        if let Some(e) = failure.take() {
            // A reader that went away (`| head`) ends the listing quietly.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e.into());
        }
        if !args.json {
            writeln!(out, "{}", summary(kind, groups, files, locations))?;
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A group's heading, then each file and its locations.
fn write_group(out: &mut dyn Write, g: &DupeGroup) -> std::io::Result<()> {
    match g.kind {
        DupeKind::Bytes => {
            writeln!(out, "{} locations of one content ({})", g.locations(), short(&g.key))?;
            for loc in g.files.iter().flat_map(|f| &f.locations) {
                writeln!(out, "  {loc}")?;
            }
        }
        DupeKind::Musical | DupeKind::Transposed => {
            let what = if g.kind == DupeKind::Musical {
                "the same notes"
            } else {
                "the same notes up to transposition"
            };
            writeln!(out, "{} files with {what} ({})", g.total_files, short(&g.key))?;
            for f in &g.files {
                let notes = f.total_notes.map(|n| format!("{n} notes")).unwrap_or_default();
                writeln!(out, "  {}  [{notes}, {}]", f.path, short(&f.content_hash))?;
                for loc in f.locations.iter().filter(|l| **l != f.path) {
                    writeln!(out, "      also {loc}")?;
                }
            }
        }
    }
    writeln!(out)
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

fn summary(kind: DupeKind, groups: u64, files: u64, locations: u64) -> String {
    match (kind, groups) {
        (DupeKind::Bytes, 0) => "no content is at more than one location".into(),
        (DupeKind::Bytes, _) => format!("{groups} contents at more than one location ({locations} locations)"),
        (DupeKind::Musical, 0) => "no two files have the same notes".into(),
        (DupeKind::Transposed, 0) => "no two files have the same notes, transposed or not".into(),
        (DupeKind::Musical, _) => format!("{groups} groups of files with the same notes ({files} files)"),
        (DupeKind::Transposed, _) => {
            format!("{groups} groups of files with the same notes up to transposition ({files} files)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::library::DupeFile;

    #[test]
    fn groups_print_every_file_and_location() {
        let g = DupeGroup {
            kind: DupeKind::Musical,
            key: "00112233445566778899aabbccddeeff".into(),
            total_files: 2,
            files: vec![
                DupeFile {
                    id: 1,
                    content_hash: "ab".repeat(32),
                    path: "/a/x.mid".into(),
                    total_notes: Some(12),
                    duration_seconds: None,
                    locations: vec!["/a/x.mid".into(), "/b/x.mid".into()],
                },
                DupeFile {
                    id: 2,
                    content_hash: "cd".repeat(32),
                    path: "/z.zip!/y.mid".into(),
                    total_notes: Some(12),
                    duration_seconds: None,
                    locations: vec!["/z.zip!/y.mid".into()],
                },
            ],
        };
        let mut buf = Vec::new();
        write_group(&mut buf, &g).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "2 files with the same notes (001122334455)\n  /a/x.mid  [12 notes, abababababab]\n      also /b/x.mid\n  \
             /z.zip!/y.mid  [12 notes, cdcdcdcdcdcd]\n\n"
        );
        assert_eq!(
            summary(DupeKind::Bytes, 0, 0, 0),
            "no content is at more than one location"
        );
    }
}
