//! BENCHMARKS.md by sections: each bench section between stable markers, merged into an existing file so that a
//! bench measuring some sections replaces those and keeps every other byte.

/// When and how a section was measured: said on its own line inside the section.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// UTC, `YYYY-MM-DD HH:MM`.
    pub date: String,
    /// `/proc/loadavg`'s first three fields at the start of the section's measurement.
    pub load: String,
    pub command: String,
}

impl Stamp {
    /// Now, with the machine's load now and this process's command line.
    pub fn now() -> Self {
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into());
        let args: Vec<String> = std::env::args().skip(1).collect();
        Self {
            date: utc_now(),
            load,
            command: format!("midi-tui {}", args.join(" ")),
        }
    }

    fn line(&self) -> String {
        format!(
            "_Measured {} UTC; machine load at start (`/proc/loadavg`, 1/5/15 min): {}; command: `{}`._",
            self.date, self.load, self.command
        )
    }
}

/// `YYYY-MM-DD HH:MM` of the system clock, UTC (civil-from-days, so no calendar crate is needed).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

/// One section of the document: a stable name and its Markdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: String,
    pub body: String,
    pub stamp: Stamp,
}

impl Section {
    pub fn new(name: impl Into<String>, body: impl Into<String>, stamp: &Stamp) -> Self {
        Self {
            name: name.into(),
            body: body.into(),
            stamp: stamp.clone(),
        }
    }

    fn start(&self) -> String {
        start_marker(&self.name)
    }

    /// The section as written: markers, its text, its stamp line.
    pub fn block(&self) -> String {
        format!(
            "{}\n{}\n\n{}\n{}\n",
            self.start(),
            self.body.trim_matches('\n'),
            self.stamp.line(),
            end_marker(&self.name)
        )
    }
}

fn start_marker(name: &str) -> String {
    format!("<!-- bench:section {name} -->")
}

fn end_marker(name: &str) -> String {
    format!("<!-- bench:end {name} -->")
}

/// A name usable inside the markers: lower-case letters, digits and `-`.
pub fn slug(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

/// The document after this bench: `old` (the file's text, empty when there is none) with every section of `new`
/// replacing the one of the same name, and the sections it lacks appended at its end in `new`'s order; all other
/// text of `old` is kept byte for byte.
pub fn merge(old: &str, new: &[Section]) -> String {
    let mut doc = old.to_string();
    let mut appended = Vec::new();
    for s in new {
        let (start, end) = (s.start(), end_marker(&s.name));
        let span = doc
            .find(&start)
            .and_then(|a| doc[a..].find(&end).map(|b| (a, a + b + end.len())));
        match span {
            Some((a, b)) => {
                // The block ends with a newline; the old one's newline after its end marker stays.
                let block = s.block();
                doc.replace_range(a..b, block.trim_end_matches('\n'));
            }
            None => appended.push(s.block()),
        }
    }
    for block in appended {
        if !doc.is_empty() && !doc.ends_with('\n') {
            doc.push('\n');
        }
        if !doc.is_empty() {
            doc.push('\n');
        }
        doc.push_str(&block);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(date: &str) -> Stamp {
        Stamp {
            date: date.into(),
            load: "0.10 0.20 0.30".into(),
            command: "midi-tui bench".into(),
        }
    }

    fn sec(name: &str, body: &str, date: &str) -> Section {
        Section::new(name, body, &stamp(date))
    }

    #[test]
    fn a_new_file_gets_every_section_in_order_with_its_stamp_line() {
        let doc = merge(
            "",
            &[
                sec("header", "# Benchmarks", "d1"),
                sec("search", "### Search\n\n| a |", "d1"),
            ],
        );
        assert!(doc.starts_with("<!-- bench:section header -->\n# Benchmarks\n\n_Measured d1 UTC; machine load"));
        assert!(
            doc.contains("command: `midi-tui bench`._\n<!-- bench:end header -->\n\n<!-- bench:section search -->")
        );
        assert!(doc.ends_with("<!-- bench:end search -->\n"), "{doc}");
    }

    #[test]
    fn a_section_measured_again_replaces_only_itself() {
        let old = merge(
            "",
            &[
                sec("header", "# B", "d1"),
                sec("archives", "### A old", "d1"),
                sec("search", "### S", "d1"),
            ],
        );
        // Hand edits between sections survive too.
        let old = old.replace(
            "<!-- bench:section search -->",
            "A note by hand.\n\n<!-- bench:section search -->",
        );
        let new = merge(&old, &[sec("archives", "### A new\n| 1 |", "d2")]);
        let (a, b) = (
            new.find("<!-- bench:section archives -->").unwrap(),
            new.find("<!-- bench:end archives -->").unwrap(),
        );
        assert!(new[a..b].contains("### A new\n| 1 |") && new[a..b].contains("_Measured d2 UTC"));
        assert!(!new.contains("A old"));
        // Everything outside the replaced section is byte for byte the old text.
        let (oa, ob) = (
            old.find("<!-- bench:section archives -->").unwrap(),
            old.find("<!-- bench:end archives -->").unwrap(),
        );
        assert_eq!(&new[..a], &old[..oa]);
        assert_eq!(&new[b..], &old[ob..]);
        // Merging the same again changes nothing.
        assert_eq!(merge(&new, &[sec("archives", "### A new\n| 1 |", "d2")]), new);
    }

    #[test]
    fn sections_the_file_lacks_are_appended_in_the_given_order() {
        let old = merge("", &[sec("header", "# B", "d1"), sec("search", "### S", "d1")]);
        let new = merge(
            &old,
            &[
                sec("search", "### S2", "d2"),
                sec("scale-1000", "### Scale", "d2"),
                sec("append", "### Append", "d2"),
            ],
        );
        assert!(new.starts_with(&old[..old.find("<!-- bench:section search -->").unwrap()]));
        let (s, sc, ap) = (
            new.find("bench:section search").unwrap(),
            new.find("bench:section scale-1000").unwrap(),
            new.find("bench:section append").unwrap(),
        );
        assert!(s < sc && sc < ap, "{new}");
        assert!(new.contains("<!-- bench:end search -->\n\n<!-- bench:section scale-1000 -->"));
    }

    #[test]
    fn a_file_without_markers_keeps_its_text_and_gets_the_sections_after_it() {
        let old = "# Benchmarks\n\nOld tables by hand.";
        let new = merge(old, &[sec("append", "### Append", "d2")]);
        assert!(
            new.starts_with("# Benchmarks\n\nOld tables by hand.\n\n<!-- bench:section append -->\n"),
            "{new}"
        );
        assert_eq!(
            slug("generated corpus (`gen-corpus --files 100 --seed 1`)"),
            "generated-corpus-gen-corpus-files-100-seed-1"
        );
        assert_eq!(utc_now().len(), 16);
    }
}
