//! Library-browser fields from a file's location: name, folder, collection, BPM and key in the name.

/// What a library browser shows about a file from where it was found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PathMeta {
    /// Last path component (the member's name for archive members).
    pub filename: String,
    /// The name's key in natural order ([`super::natural_sort_key`]), which the browser sorts by.
    pub name_sort: String,
    /// Folder directly containing the file: inside the innermost archive for members (the
    /// archive's name without extension at an archive's root); empty for a file at the root.
    pub parent_folder: String,
    /// Top folder of the source, or the outermost archive's name without extension for
    /// archive members; empty for a file at the source root.
    pub collection: String,
    /// Tempo written in the name with a BPM marker (`120bpm`, `120 BPM`, `bpm_96`), 20..=400.
    pub filename_bpm: Option<f64>,
    /// Key written in the name as a token (`Cm`, `C#min`, `F#_minor`, `Bb`), mido-style.
    pub filename_key: Option<String>,
}

/// Archive suffixes that may precede `!/` in a location, longest first so `.tar.gz` wins over `.gz`.
const ARCHIVE_SUFFIXES: [&str; 17] = [
    ".tar.bz2", ".tar.zst", ".tar.gz", ".tar.xz", ".tbz2", ".tar", ".tgz", ".tbz", ".txz", ".zip", ".rar", ".bz2",
    ".zst", ".7z", ".gz", ".xz", ".lzh",
];

/// The name without its archive suffix, if it has one.
fn archive_stem(name: &str) -> Option<&str> {
    let lower = name.to_ascii_lowercase();
    ARCHIVE_SUFFIXES
        .iter()
        .find(|suf| lower.len() > suf.len() && lower.ends_with(*suf))
        .and_then(|suf| name.get(..name.len() - suf.len()))
}

fn components(path: &str) -> Vec<&str> {
    path.split(['/', '\\']).filter(|c| !c.is_empty() && *c != ".").collect()
}

/// What `coll:`, `folder:` and `name:` match at one location of a file (each location has its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationMeta {
    pub filename: String,
    pub parent_folder: String,
    pub collection: String,
}

impl PathMeta {
    /// The part of these fields each location has of its own.
    pub fn location(&self) -> LocationMeta {
        LocationMeta {
            filename: self.filename.clone(),
            parent_folder: self.parent_folder.clone(),
            collection: self.collection.clone(),
        }
    }
}

/// Derives browser fields from a stored location: a path relative to the import source root
/// (`Top/Sub/file.mid`) or an archive member (`pack.zip!/Sub/file.mid`, nested
/// `a.zip!/b.tar.gz!/c.mid`). A `!/` counts as an archive boundary only after a name with an
/// archive suffix, so a folder named `Hits!` stays a folder.
pub fn path_meta(location: &str) -> PathMeta {
    path_meta_in(location, &[])
}

/// [`path_meta`] of a location as the pipeline stores it (absolute), found by importing one of `sources` (their
/// locations, absolute too): the collection is the first folder below the source the location lies in (a file
/// directly in the source folder: that folder's name; a source that is a file: its folder's name), or the outermost
/// archive's name without its suffix for an archive member. Without a source that holds it, an absolute location's
/// collection is its folder, and a relative one is read as relative to its source (the first folder of the path).
pub fn path_meta_in(location: &str, sources: &[&str]) -> PathMeta {
    let LocationMeta {
        filename,
        parent_folder,
        collection,
    } = location_meta(location, sources);
    let stem = match filename.rfind('.') {
        Some(i) if i > 0 => &filename[..i],
        _ => filename.as_str(),
    };
    let filename_bpm = filename_bpm(stem);
    let filename_key = filename_key(stem, filename_bpm.is_some());
    PathMeta {
        name_sort: super::natural_sort_key(&filename),
        filename,
        parent_folder,
        collection,
        filename_bpm,
        filename_key,
    }
}

/// The source of `sources` that holds `location` (the longest, at a path boundary), and the path below it (empty
/// when the location is the source itself).
fn source_of<'a>(location: &'a str, sources: &[&'a str]) -> Option<(&'a str, &'a str)> {
    sources
        .iter()
        .map(|s| s.trim_end_matches('/'))
        .filter_map(|s| {
            if location == s {
                Some((s, ""))
            } else {
                let rest = location.strip_prefix(s)?.strip_prefix('/')?;
                Some((s, rest))
            }
        })
        .max_by_key(|(s, _)| s.len())
}

/// The name, folder and collection of one location (see [`path_meta_in`]): all a location needs, without the
/// tempo and key the name may carry.
pub fn location_meta(location: &str, sources: &[&str]) -> LocationMeta {
    let mut levels: Vec<&str> = Vec::new();
    let mut start = 0usize;
    let mut from = 0usize;
    while let Some(i) = location.get(from..).and_then(|r| r.find("!/")) {
        let idx = from + i;
        let seg = &location[start..idx];
        let last = seg.rsplit(['/', '\\']).next().unwrap_or(seg);
        if archive_stem(last).is_some() {
            levels.push(seg);
            start = idx + 2;
        }
        from = idx + 2;
    }
    let member = &location[start..];
    let comps = components(member);
    let filename = comps.last().copied().unwrap_or("").to_owned();

    let (parent_folder, collection) = match levels.first() {
        None => {
            let parent = if comps.len() >= 2 { comps[comps.len() - 2] } else { "" };
            let top = match source_of(location, sources) {
                // The source is this file: the folder it is in.
                Some((_, "")) => parent,
                Some((source, below)) => match components(below).as_slice() {
                    [first, _, ..] => first,
                    // Directly in the source folder: the folder's own name.
                    _ => components(source).last().copied().unwrap_or(""),
                },
                // An absolute location outside every source known (a repair's stored path): its folder.
                None if location.starts_with('/') => parent,
                None if comps.len() >= 2 => comps[0],
                None => "",
            };
            (parent.to_owned(), top.to_owned())
        }
        Some(outer) => {
            let stem_of = |seg: &str| -> String {
                let last = components(seg).last().copied().unwrap_or("");
                archive_stem(last).unwrap_or(last).to_owned()
            };
            let parent = if comps.len() >= 2 {
                comps[comps.len() - 2].to_owned()
            } else {
                levels.last().map(|s| stem_of(s)).unwrap_or_default()
            };
            (parent, stem_of(outer))
        }
    };
    LocationMeta {
        filename,
        parent_folder,
        collection,
    }
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'_' | b'-' | b'.')
}

/// A decimal number ending just before `end`: digits with at most one inner point.
fn number_before(s: &[u8], end: usize) -> Option<f64> {
    let mut i = end;
    let mut dot = false;
    while i > 0 {
        let b = s[i - 1];
        if b.is_ascii_digit() {
            i -= 1;
        } else if b == b'.' && !dot && i < end && i >= 2 && s[i - 2].is_ascii_digit() {
            dot = true;
            i -= 1;
        } else {
            break;
        }
    }
    std::str::from_utf8(s.get(i..end)?).ok()?.parse().ok()
}

/// A decimal number starting at `start`.
fn number_after(s: &[u8], start: usize) -> Option<f64> {
    let mut j = start;
    let mut dot = false;
    while j < s.len() {
        let b = s[j];
        if b.is_ascii_digit() {
            j += 1;
        } else if b == b'.' && !dot && j > start && s.get(j + 1).is_some_and(u8::is_ascii_digit) {
            dot = true;
            j += 1;
        } else {
            break;
        }
    }
    if j > start && s.get(j).is_none_or(|b| !b.is_ascii_alphabetic()) {
        std::str::from_utf8(s.get(start..j)?).ok()?.parse().ok()
    } else {
        None
    }
}

/// BPM from a file name stem: a number next to a `bpm` marker, either side, with at most one
/// separator between. A bare number (`_120_`) is not taken: it is as often a take or an index.
fn filename_bpm(stem: &str) -> Option<f64> {
    let s = stem.as_bytes();
    let lower = stem.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower.get(from..).and_then(|r| r.find("bpm")).map(|i| from + i) {
        from = i + 3;
        // The marker must not be the middle of a word ("bpms" is fine to skip).
        if s.get(i + 3).is_some_and(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        let mut before = i;
        if before > 0 && is_sep(s[before - 1]) && before >= 2 && s[before - 2].is_ascii_digit() {
            before -= 1;
        }
        let found = if before > 0 && s[before - 1].is_ascii_digit() {
            number_before(s, before)
        } else if i == 0 || !s[i - 1].is_ascii_alphabetic() {
            let mut after = i + 3;
            if s.get(after).is_some_and(|&b| is_sep(b)) {
                after += 1;
            }
            number_after(s, after)
        } else {
            None
        };
        if let Some(v) = found.filter(|v| (20.0..=400.0).contains(v)) {
            return Some(v);
        }
    }
    None
}

#[derive(Clone, Copy, PartialEq)]
enum Quality {
    Major,
    Minor,
    Unspecified,
}

fn quality_word(t: &str) -> Option<Quality> {
    match t.to_ascii_lowercase().as_str() {
        "min" | "minor" | "moll" => Some(Quality::Minor),
        "maj" | "major" | "dur" => Some(Quality::Major),
        _ => None,
    }
}

/// Parses one token as a key. Returns (root with accidental, quality, needs context).
fn key_token(t: &str) -> Option<(String, Quality, bool)> {
    let mut chars = t.chars();
    let root = chars.next()?;
    let upper = root.to_ascii_uppercase();
    if !('A'..='G').contains(&upper) {
        return None;
    }
    let rest: &str = chars.as_str();
    let (acc, rest) = if let Some(r) = rest.strip_prefix(['#', '♯']) {
        ("#", r)
    } else if let Some(r) = rest.strip_prefix(['b', '♭']) {
        ("b", r)
    } else {
        ("", rest)
    };
    let (quality, long_suffix) = match rest {
        "" => (Quality::Unspecified, false),
        // Lower-case "m" only: "M" is major in chord notation and would be ambiguous.
        "m" => (Quality::Minor, false),
        _ => (quality_word(rest)?, true),
    };
    let lower_root = root.is_ascii_lowercase();
    // Ordinary words and abbreviations that read as keys: a bare letter ("A", "E"), "Am",
    // and lower-case roots ("am", "em", "bb") are taken only with other evidence.
    let ambiguous = if lower_root {
        acc != "#" && !long_suffix
    } else {
        acc.is_empty()
            && (quality == Quality::Unspecified || (upper == 'A' && quality == Quality::Minor && !long_suffix))
    };
    Some((format!("{upper}{acc}"), quality, ambiguous))
}

/// Key from a file name stem: tokens between `_`, `-`, space, dot or brackets, such as `Cm`,
/// `C#min`, `Ebmaj`, `Bb`, or a root followed by a `minor`/`major` token. Bare letters and
/// `Am` count only when the name also carries a BPM marker or a `key` token next to them.
/// The last key token wins (keys usually trail the title).
fn filename_key(stem: &str, has_bpm: bool) -> Option<String> {
    let tokens: Vec<&str> = stem
        .split(['_', '-', ' ', '.', '(', ')', '[', ']', ',', '+'])
        .filter(|t| !t.is_empty())
        .collect();
    let mut found = None;
    for (i, tok) in tokens.iter().enumerate() {
        let Some((root, mut quality, mut ambiguous)) = key_token(tok) else {
            continue;
        };
        let next = tokens.get(i + 1).copied();
        if quality == Quality::Unspecified
            && let Some(q) = next.and_then(quality_word)
        {
            quality = q;
            ambiguous = false;
        }
        if ambiguous {
            let prev = i.checked_sub(1).and_then(|j| tokens.get(j)).copied();
            let key_word = |t: Option<&str>| t.is_some_and(|t| t.eq_ignore_ascii_case("key"));
            if !(has_bpm || key_word(prev) || key_word(next)) {
                continue;
            }
        }
        let suffix = if quality == Quality::Minor { "m" } else { "" };
        found = Some(format!("{root}{suffix}"));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(loc: &str) -> PathMeta {
        path_meta(loc)
    }

    #[test]
    fn plain_paths() {
        let m = pm("groove/drummer1/session1/1_funk_80_beat_4-4.mid");
        assert_eq!(m.filename, "1_funk_80_beat_4-4.mid");
        assert_eq!(m.parent_folder, "session1");
        assert_eq!(m.collection, "groove");
        assert_eq!(m.filename_bpm, None, "a bare 80 is no BPM");
        let m = pm("Top/file.mid");
        assert_eq!((m.parent_folder.as_str(), m.collection.as_str()), ("Top", "Top"));
        let m = pm("file.mid");
        assert_eq!(
            (m.filename.as_str(), m.parent_folder.as_str(), m.collection.as_str()),
            ("file.mid", "", "")
        );
        let m = pm("./A/B/c.mid");
        assert_eq!((m.parent_folder.as_str(), m.collection.as_str()), ("B", "A"));
        let m = pm("Hits!/Best!/x.mid");
        assert_eq!(
            (m.filename.as_str(), m.parent_folder.as_str(), m.collection.as_str()),
            ("x.mid", "Best!", "Hits!")
        );
    }

    #[test]
    fn archive_members() {
        let m = pm("packs/Loops.zip!/Drums/Kicks/k1.mid");
        assert_eq!(m.filename, "k1.mid");
        assert_eq!(m.parent_folder, "Kicks");
        assert_eq!(m.collection, "Loops");
        let m = pm("a.zip!/b.tar.gz!/c.mid");
        assert_eq!(
            (m.filename.as_str(), m.parent_folder.as_str(), m.collection.as_str()),
            ("c.mid", "b", "a")
        );
        let m = pm("nested.tar.gz!/inner.zip!/deep/x.tar.xz!/dir/y.MID");
        assert_eq!(
            (m.filename.as_str(), m.parent_folder.as_str(), m.collection.as_str()),
            ("y.MID", "dir", "nested")
        );
        let m = pm("Single.MID.GZ!/single.mid");
        assert_eq!(
            (m.parent_folder.as_str(), m.collection.as_str()),
            ("Single.MID", "Single.MID")
        );
        let m = pm("groove.zip!/groove/drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid");
        assert_eq!(
            (m.parent_folder.as_str(), m.collection.as_str()),
            ("eval_session", "groove")
        );
    }

    #[test]
    fn collections_of_absolute_locations_follow_the_source_they_were_found_in() {
        let coll = |loc: &str, sources: &[&str]| path_meta_in(loc, sources).collection;
        // The pipeline stores absolute locations: the first folder below the source, not `home`.
        assert_eq!(coll("/home/u/lib/Groove/s1/a.mid", &["/home/u/lib"]), "Groove");
        assert_eq!(
            coll("/home/u/lib/a.mid", &["/home/u/lib"]),
            "lib",
            "directly in the source"
        );
        assert_eq!(coll("/home/u/lib/a.mid", &["/home/u/lib/"]), "lib", "a trailing slash");
        assert_eq!(coll("/tmp/x/My Pack/a b.mid", &["/tmp/x"]), "My Pack");
        assert_eq!(coll("/tmp/x/日本の曲/a.mid", &["/tmp/x"]), "日本の曲");
        assert_eq!(
            coll("/tmp/x/one.mid", &["/tmp/x/one.mid"]),
            "x",
            "a file source: its folder"
        );
        // The longest source that holds the location wins; a name that only starts alike is no parent.
        assert_eq!(coll("/m/lib/Pack/Sub/a.mid", &["/m/lib", "/m/lib/Pack"]), "Sub");
        assert_eq!(
            coll("/m/library/Pack/a.mid", &["/m/lib"]),
            "Pack",
            "outside every source: its folder"
        );
        // Archive members: the outermost archive's stem, wherever the archive lies.
        assert_eq!(coll("/m/lib/Vendor/Loops.zip!/Drums/k.mid", &["/m/lib"]), "Loops");
        assert_eq!(coll("/m/Loops.zip!/k.mid", &["/m/Loops.zip"]), "Loops");
        assert_eq!(coll("/m/a.zip!/b.tar.gz!/c.mid", &["/m"]), "a");
        // Folder and name come from the location itself.
        let m = path_meta_in("/tmp/x/My Pack/Sub dir/a b.mid", &["/tmp/x"]);
        assert_eq!((m.parent_folder.as_str(), m.filename.as_str()), ("Sub dir", "a b.mid"));
    }

    #[test]
    fn bpm_in_names() {
        let bpm = |s: &str| pm(s).filename_bpm;
        assert_eq!(bpm("x/Cm_120bpm.mid"), Some(120.0));
        assert_eq!(bpm("x/Loop 120 BPM.mid"), Some(120.0));
        assert_eq!(bpm("x/loop_92_bpm_Am.mid"), Some(92.0));
        assert_eq!(bpm("x/BPM128_house.mid"), Some(128.0));
        assert_eq!(bpm("x/bpm-140 trap.mid"), Some(140.0));
        assert_eq!(bpm("x/lofi 87.5bpm.mid"), Some(87.5));
        assert_eq!(bpm("x/track_120_.mid"), None);
        assert_eq!(bpm("x/5bpm.mid"), None, "below 20");
        assert_eq!(bpm("x/1000bpm.mid"), None, "above 400");
        assert_eq!(bpm("x/bpms_120.mid"), None);
        assert_eq!(bpm("x/subpm120.mid"), None);
        assert_eq!(bpm("x/take3_90BPM.mid"), Some(90.0));
    }

    #[test]
    fn keys_in_names() {
        let key = |s: &str| pm(s).filename_key;
        assert_eq!(key("x/Cm_120bpm.mid").as_deref(), Some("Cm"));
        assert_eq!(key("x/pad C#min.mid").as_deref(), Some("C#m"));
        assert_eq!(key("x/lead_F#_minor.mid").as_deref(), Some("F#m"));
        assert_eq!(key("x/bass-Bb-loop.mid").as_deref(), Some("Bb"));
        assert_eq!(key("x/chords.Ebmaj.mid").as_deref(), Some("Eb"));
        assert_eq!(key("x/chords Ebm.mid").as_deref(), Some("Ebm"));
        assert_eq!(key("x/Amin_loop.mid").as_deref(), Some("Am"));
        assert_eq!(key("x/G_major_scale.mid").as_deref(), Some("G"));
        assert_eq!(key("x/loop_c#m.mid").as_deref(), Some("C#m"));
        // Ordinary words are not keys.
        assert_eq!(key("x/A_Day_In_The_Life.mid"), None);
        assert_eq!(key("x/I_Am_Legend.mid"), None);
        assert_eq!(key("x/Dead or Alive.mid"), None);
        assert_eq!(key("x/Bach - Fugue.mid"), None);
        assert_eq!(key("x/em_cm_dm.mid"), None);
        assert_eq!(key("x/Strings_Em_legato.mid").as_deref(), Some("Em"));
        // With evidence, bare letters and Am count.
        assert_eq!(key("x/Bass_A_120bpm.mid").as_deref(), Some("A"));
        assert_eq!(key("x/Bass_Am_120bpm.mid").as_deref(), Some("Am"));
        assert_eq!(key("x/Song key E.mid").as_deref(), Some("E"));
        assert_eq!(key("x/1_funk_80_beat_4-4.mid"), None);
    }
}
