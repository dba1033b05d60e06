//! `midi-tui dupes [--musical] [--transposed] [--limit N] [--json]`: duplicate groups, largest first, as text (a
//! summary line, then the largest groups) or JSON lines.
use std::io::Write;

use anyhow::Result;

use super::{DupesArgs, GlobalArgs};
use crate::engine::human::counted;
use crate::engine::library::{DupeGroup, DupeKind, DupeSummary};
use crate::engine::run::session::Engine;

/// Groups the text listing shows without `--limit` (JSON lines list every group).
pub const TEXT_GROUPS: u64 = 20;
/// Lines of one group the text listing shows (locations of a content, files of a musical group); `--json` lists
/// them all.
const GROUP_LINES: usize = 10;

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
    let limit = match args.limit {
        Some(0) => None,
        Some(n) => Some(n),
        None if args.json => None,
        None => Some(TEXT_GROUPS),
    };
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let mut out = std::io::stdout().lock();
    let mut failure: Option<std::io::Error> = None;
    for (i, kind) in kinds.into_iter().enumerate() {
        if !args.json {
            // The totals first: a capped listing still says how much there is.
            let totals = engine.duplicate_summary(kind).await?;
            let head = if i > 0 { "\n" } else { "" };
            if let Err(e) = writeln!(out, "{head}{}", summary(&totals, limit)) {
                failure = Some(e);
                break;
            }
            if totals.groups == 0 {
                continue;
            }
        }
        engine
            .duplicate_groups_up_to(kind, limit, |g| {
                let written = if args.json {
                    serde_json::to_string(&g)
                        .map_err(std::io::Error::other)
                        .and_then(|line| writeln!(out, "{line}"))
                } else {
                    write_group(&mut out, &g, limit.map(|_| GROUP_LINES))
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
        if failure.is_some() {
            break;
        }
    }
    let done = match failure {
        Some(e) => Err(e),
        None => out.flush(),
    };
    match done {
        // A reader that went away (`| head`) ends the listing quietly.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A group's heading, then each file and its locations: at most `lines` of them (`None`: all), then how many more.
fn write_group(out: &mut dyn Write, g: &DupeGroup, lines: Option<usize>) -> std::io::Result<()> {
    let lines = lines.unwrap_or(usize::MAX);
    match g.kind {
        DupeKind::Bytes => {
            writeln!(
                out,
                "{} of one content ({})",
                counted(g.locations(), "location"),
                short(&g.key)
            )?;
            let locations: Vec<&String> = g.files.iter().flat_map(|f| &f.locations).collect();
            for loc in locations.iter().take(lines) {
                writeln!(out, "  {loc}")?;
            }
            if locations.len() > lines {
                let more = counted(locations.len() - lines, "more location");
                writeln!(out, "  … {more} (--limit 0 lists them all)")?;
            }
        }
        DupeKind::Musical | DupeKind::Transposed => {
            let what = if g.kind == DupeKind::Musical {
                "the same notes"
            } else {
                "the same notes up to transposition"
            };
            writeln!(
                out,
                "{} with {what} ({})",
                counted(g.total_files, "file"),
                short(&g.key)
            )?;
            for f in g.files.iter().take(lines) {
                let notes = f.total_notes.map(|n| counted(n, "note")).unwrap_or_default();
                writeln!(out, "  {}  [{notes}, {}]", f.path, short(&f.content_hash))?;
                for loc in f.locations.iter().filter(|l| **l != f.path) {
                    writeln!(out, "      also {loc}")?;
                }
            }
            if g.files.len() > lines {
                let more = counted(g.files.len() - lines, "more file");
                writeln!(out, "  … {more} (--limit 0 lists them all)")?;
            }
        }
    }
    writeln!(out)
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

/// The line before a kind's groups: how many there are, and how many the listing shows.
fn summary(s: &DupeSummary, limit: Option<u64>) -> String {
    let total = match (s.kind, s.groups) {
        (DupeKind::Bytes, 0) => return "no content is at more than one location".into(),
        (DupeKind::Musical, 0) => return "no two files have the same notes".into(),
        (DupeKind::Transposed, 0) => return "no two files have the same notes, transposed or not".into(),
        (DupeKind::Bytes, n) => format!(
            "{} at more than one location ({})",
            counted(n, "content"),
            counted(s.locations, "location")
        ),
        (DupeKind::Musical, n) => format!(
            "{} of files with the same notes ({})",
            counted(n, "group"),
            counted(s.files, "file")
        ),
        (DupeKind::Transposed, n) => format!(
            "{} of files with the same notes up to transposition ({})",
            counted(n, "group"),
            counted(s.files, "file")
        ),
    };
    match limit {
        Some(1) if s.groups > 1 => format!("{total}; the largest group below (--limit N for more, --limit 0 for all)"),
        Some(limit) if limit < s.groups => format!(
            "{total}; the largest {} below (--limit N for more, --limit 0 for all)",
            counted(limit, "group")
        ),
        _ => total,
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
        write_group(&mut buf, &g, Some(GROUP_LINES)).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "2 files with the same notes (001122334455)\n  /a/x.mid  [12 notes, abababababab]\n      also /b/x.mid\n  \
             /z.zip!/y.mid  [12 notes, cdcdcdcdcdcd]\n\n"
        );
    }

    #[test]
    fn a_big_group_shows_its_first_lines_and_counts_the_rest() {
        let g = DupeGroup {
            kind: DupeKind::Bytes,
            key: "ab".repeat(32),
            total_files: 1,
            files: vec![DupeFile {
                id: 1,
                content_hash: "ab".repeat(32),
                path: "/a/0.mid".into(),
                total_notes: Some(1),
                duration_seconds: None,
                locations: (0..13).map(|i| format!("/a/{i}.mid")).collect(),
            }],
        };
        let text = |lines| {
            let mut buf = Vec::new();
            write_group(&mut buf, &g, lines).unwrap();
            String::from_utf8(buf).unwrap()
        };
        let capped = text(Some(GROUP_LINES));
        assert!(
            capped.starts_with("13 locations of one content (abababababab)\n  /a/0.mid\n"),
            "{capped}"
        );
        assert!(
            capped.contains("  /a/9.mid\n  … 3 more locations (--limit 0 lists them all)\n"),
            "{capped}"
        );
        assert!(!capped.contains("/a/10.mid"), "{capped}");
        let all = text(None);
        assert!(all.contains("  /a/12.mid\n") && !all.contains("more location"), "{all}");
    }

    #[test]
    fn the_summary_counts_everything_and_says_what_the_limit_leaves_out() {
        let s = |kind, groups, files, locations| DupeSummary {
            kind,
            groups,
            files,
            locations,
        };
        assert_eq!(
            summary(&s(DupeKind::Bytes, 0, 0, 0), Some(20)),
            "no content is at more than one location"
        );
        assert_eq!(
            summary(&s(DupeKind::Bytes, 1, 1, 2), Some(20)),
            "1 content at more than one location (2 locations)"
        );
        assert_eq!(
            summary(&s(DupeKind::Bytes, 21_204, 21_204, 63_683), Some(20)),
            "21,204 contents at more than one location (63,683 locations); the largest 20 groups below (--limit N \
             for more, --limit 0 for all)"
        );
        assert_eq!(
            summary(&s(DupeKind::Musical, 1, 2, 3), Some(1)),
            "1 group of files with the same notes (2 files)"
        );
        assert_eq!(
            summary(&s(DupeKind::Musical, 3, 7, 9), Some(1)),
            "3 groups of files with the same notes (7 files); the largest group below (--limit N for more, \
             --limit 0 for all)"
        );
        assert_eq!(
            summary(&s(DupeKind::Transposed, 3, 7, 9), None),
            "3 groups of files with the same notes up to transposition (7 files)"
        );
    }
}
