//! The house rules the layout keeps, checked on the sources: no function over 120 lines, and `midi/` reads no
//! files (bytes in, metadata out).
use std::path::{Path, PathBuf};

/// The longest a function may be, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 120;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every Rust source of the workspace: the crates' `src/`, the tests and the examples.
fn workspace_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples"] {
        rust_files(&root.join(dir), &mut files);
    }
    for krate in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        for dir in ["src", "tests", "examples"] {
            rust_files(&krate.path().join(dir), &mut files);
        }
    }
    files
}

/// The code of a line with string and char literals and comments blanked, carrying block comments and strings
/// (plain and raw) over lines in `state`: enough to match braces.
#[derive(Default)]
struct Lexer {
    block_comment: bool,
    string: bool,
    /// The hashes of the raw string being read (`r#"..."#`), when one is.
    raw: Option<usize>,
}

impl Lexer {
    fn code(&mut self, line: &str) -> String {
        let b = line.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < b.len() {
            if self.block_comment {
                match line[i..].find("*/") {
                    Some(j) => {
                        self.block_comment = false;
                        i += j + 2;
                        continue;
                    }
                    None => break,
                }
            }
            if let Some(hashes) = self.raw {
                let end = format!("\"{}", "#".repeat(hashes));
                match line[i..].find(&end) {
                    Some(j) => {
                        self.raw = None;
                        i += j + end.len();
                        continue;
                    }
                    None => break,
                }
            }
            if self.string {
                match b[i] {
                    b'\\' => i += 2,
                    b'"' => {
                        self.string = false;
                        i += 1;
                    }
                    _ => i += 1,
                }
                continue;
            }
            let rest = &line[i..];
            if rest.starts_with("//") {
                break;
            }
            if rest.starts_with("/*") {
                self.block_comment = true;
                i += 2;
                continue;
            }
            let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
            let raw_start = rest.strip_prefix("br").or_else(|| rest.strip_prefix('r'));
            if !word_before
                && let Some(after) = raw_start
                && let Some(hashes) = after.find('"').filter(|&h| after[..h].bytes().all(|c| c == b'#'))
            {
                self.raw = Some(hashes);
                i += rest.len() - after.len() + hashes + 1;
                continue;
            }
            match b[i] {
                b'"' => {
                    self.string = true;
                    i += 1;
                }
                // A char literal ('x', '\n', '\'', '\u{1F600}'); a lifetime has no closing quote.
                b'\'' => match char_literal_len(rest) {
                    Some(n) => i += n,
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                },
                c => {
                    out.push(c as char);
                    i += 1;
                }
            }
        }
        out
    }
}

fn char_literal_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    let (_, c) = chars.next()?;
    if c == '\\' {
        let close = s[2..].find('\'')?;
        return (close <= 10).then_some(close + 3);
    }
    let (j, q) = chars.next()?;
    (q == '\'').then_some(j + 1)
}

/// The functions of `text` longer than `max` lines: (first line, name, lines).
fn long_functions(text: &str, max: usize) -> Vec<(usize, String, usize)> {
    let mut lexer = Lexer::default();
    let mut depth = 0usize;
    let mut pending: Option<(usize, String)> = None;
    let mut open: Vec<(usize, String, usize)> = Vec::new();
    let mut long = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let in_literal = lexer.string || lexer.raw.is_some() || lexer.block_comment;
        let code = lexer.code(line);
        if !in_literal && let Some(name) = fn_name(&code) {
            pending = Some((n, name));
        }
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    if let Some((start, name)) = pending.take() {
                        open.push((start, name, depth));
                    }
                }
                '}' => {
                    if open.last().is_some_and(|o| o.2 == depth) {
                        let (start, name, _) = open.pop().unwrap();
                        if n - start + 1 > max {
                            long.push((start, name, n - start + 1));
                        }
                    }
                    depth = depth.saturating_sub(1);
                }
                // A declaration without a body (a trait's method).
                ';' if open.last().is_none_or(|o| o.2 <= depth) => pending = None,
                _ => {}
            }
        }
    }
    long
}

/// The name of the function a line starts, if it starts one.
fn fn_name(code: &str) -> Option<String> {
    let mut words = code.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "fn" => {
                let name = words.next()?;
                let end = name
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(name.len());
                return Some(name[..end].to_string());
            }
            "pub" | "async" | "const" | "unsafe" | "extern" | "\"C\"" => {}
            w if w.starts_with("pub(") => {}
            _ => return None,
        }
    }
    None
}

#[test]
fn the_function_checker_measures_what_it_should() {
    let text = "fn short() {\n    let s = \"}\";\n    let c = '{';\n}\n\nfn long<'a>(x: &'a str) {\n    // }\n    let r = r#\"}\n\"#;\n    if true {\n        x;\n    }\n}\n";
    assert_eq!(long_functions(text, 4), vec![(6, "long".to_string(), 8)]);
    assert_eq!(long_functions(text, 3).len(), 2);
    assert!(long_functions(text, 8).is_empty());
}

#[test]
fn no_function_is_over_120_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = workspace_sources();
    assert!(files.len() > 200, "{} sources", files.len());
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (line, name, n) in long_functions(&text, MAX_FN_LINES) {
            long.push(format!(
                "{}:{line} {name}: {n} lines",
                f.strip_prefix(root).unwrap().display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_midi_analysis_reads_no_files() {
    // Bytes in, metadata out: reading files (and timing the analysis) is the callers' and the bench's.
    let midi = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/engine/src/midi");
    let mut files = Vec::new();
    rust_files(&midi, &mut files);
    assert!(files.len() > 5, "{} files under {}", files.len(), midi.display());
    let mut found = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        // Tests read their fixtures.
        if name == "tests.rs" || name.ends_with("_reference.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            if ["std::fs", "File::", "read_dir", "OpenOptions", "std::path"]
                .iter()
                .any(|w| line.contains(w))
            {
                found.push(format!("{}:{}: {line}", name, i + 1));
            }
        }
    }
    assert!(found.is_empty(), "file I/O in midi/:\n{}", found.join("\n"));
}
