//! `midi-tui search QUERY... [--sort FIELD|-FIELD] [--limit N] [--json] [--paths]`: the library browser's query
//! on the command line, as a table, JSON lines or bare paths.
use std::io::Write;

use anyhow::Result;

use super::{GlobalArgs, SearchArgs};
use crate::engine::human::{count, counted};
use crate::engine::library::{Cursor, Hit, Query, Sort};
use crate::engine::run::session::Engine;

/// Rows the table shows without `--limit` (JSON lines and paths list every match).
pub const TABLE_LIMIT: usize = 50;
/// Rows fetched per round trip while listing.
const PAGE: usize = 1_000;
/// Exit code of a query or sort that cannot be read (as clap's usage errors).
pub const EXIT_USAGE: u8 = 2;

/// Run the search; returns the exit code.
pub async fn run(global: &GlobalArgs, args: &SearchArgs) -> Result<u8> {
    let line = crate::engine::database::query::join_args(&args.query);
    let parsed = Query::parse(&line).map_err(|e| e.to_string()).and_then(|q| {
        let sort = match &args.sort {
            // Said rather than ignored: the distance is the order of a `like:` query.
            Some(_) if q.like().is_some() => {
                return Err("`like:` lists the nearest files first; --sort orders the other queries".to_string());
            }
            Some(s) => s.parse::<Sort>()?,
            None => Sort::default(),
        };
        Ok((q, sort))
    });
    let (query, sort) = match parsed {
        Ok(v) => v,
        // A `--json` caller gets its one failure object from `main`.
        Err(message) if args.json => anyhow::bail!("{message}"),
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(EXIT_USAGE);
        }
    };
    let limit = match args.limit {
        Some(0) => usize::MAX,
        Some(n) => n,
        None if args.json || args.paths => usize::MAX,
        None => TABLE_LIMIT,
    };
    let engine = Engine::open(global.target(), global.data_dir()).await?;
    let (mut hits, approximate) = collect(&engine, &query, sort, limit).await?;
    // JSON lines and bare paths keep standard out to the files; the table says it under them.
    if approximate && (args.json || args.paths) {
        eprintln!("{APPROXIMATE}");
    }
    if args.json {
        // Each location with its own collection.
        for chunk in hits.chunks_mut(1000) {
            engine.location_collections(chunk).await?;
        }
    }
    super::print_report(|out| {
        if args.json {
            for h in &hits {
                writeln!(out, "{}", serde_json::to_string(h)?)?;
            }
        } else if args.paths {
            for location in hits.iter().flat_map(|h| &h.locations) {
                writeln!(out, "{location}")?;
            }
        } else {
            print_table(out, &hits, limit)?;
            if approximate {
                writeln!(out, "{APPROXIMATE}")?;
            }
        }
        Ok(())
    })?;
    Ok(0)
}

/// What a `like:` listing says when a page of it may miss a nearer file (`Page::approximate`).
const APPROXIMATE: &str =
    "approximate: the nearest of the files the similarity index gave first; a nearer file may be missing";

/// Up to `limit` hits, page by page (each page starts where the last ended: no OFFSET), and whether any page was
/// approximate.
pub(crate) async fn collect(engine: &Engine, query: &Query, sort: Sort, limit: usize) -> Result<(Vec<Hit>, bool)> {
    let mut hits: Vec<Hit> = Vec::new();
    let mut approximate = false;
    let mut after: Option<Cursor> = None;
    while hits.len() < limit {
        let page = engine
            .search(query, sort, PAGE.min(limit - hits.len()), after.as_ref())
            .await?;
        approximate |= page.approximate;
        hits.extend(page.hits);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok((hits, approximate))
}

fn print_table(out: &mut dyn Write, hits: &[Hit], limit: usize) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<4}  {:<5}  {:>6}  {:>6}  {:<5}  {:<12}  PATH",
        "BPM", "KEY", "TS", "LENGTH", "NOTES", "DRUMS", "PROGRAMS"
    )?;
    for h in hits {
        let programs: Vec<String> = h.programs.iter().map(u8::to_string).collect();
        let more = if h.locations.len() > 1 {
            format!("  (+{} more)", count(h.locations.len() - 1))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:>6}  {:<4}  {:<5}  {:>6}  {:>6}  {:<5}  {:<12}  {}{more}",
            h.bpm.map(|b| format!("{b:.1}")).unwrap_or_default(),
            h.key.as_deref().unwrap_or(""),
            h.time_signature.as_deref().unwrap_or(""),
            h.duration_seconds.map(clock).unwrap_or_default(),
            count(h.total_notes),
            if h.has_drums { "yes" } else { "" },
            clip(&programs.join(","), 12),
            h.path,
        )?;
    }
    let shown = hits.len();
    match shown {
        0 => writeln!(out, "no file matches")?,
        n if n == limit => writeln!(
            out,
            "{} shown; more may match (--limit N, 0 for all)",
            counted(n, "file")
        )?,
        n => writeln!(out, "{}", counted(n, "file"))?,
    }
    Ok(())
}

/// Seconds as m:ss.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_long_program_lists_fit_their_columns() {
        assert_eq!(clock(0.4), "0:00");
        assert_eq!(clock(125.6), "2:06");
        assert_eq!(clip("1,2,3", 12), "1,2,3");
        assert_eq!(clip("1,2,3,4,5,6,7,8", 12).chars().count(), 12);
    }
}
