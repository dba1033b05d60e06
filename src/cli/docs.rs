//! `midi-tui completions bash|zsh|fish` and `midi-tui man [--out DIR]`: shell completions (clap_complete) and
//! manual pages (clap_mangen), both written from the command tree that `--help` shows.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, Command, ShellArg};

/// Print what a documentation command asks for and return its exit code; `None` for every other command. Runs
/// before logging starts: `source <(midi-tui completions bash)` in a shell's start-up must not leave a log file.
pub fn run(cli: &Cli) -> Option<ExitCode> {
    let written = match &cli.command {
        Some(Command::Completions { shell }) => super::print_report(|out| completions(*shell, out)),
        Some(Command::Man { out: None }) => super::print_report(|out| man_page(out)),
        Some(Command::Man { out: Some(dir) }) => man_pages(dir).and_then(|files| {
            super::print_report(|out| {
                for f in &files {
                    writeln!(out, "{}", f.display())?;
                }
                Ok(())
            })
        }),
        _ => return None,
    };
    Some(match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    })
}

/// The completion script for `shell`.
pub fn completions(shell: ShellArg, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell.shell(), &mut cmd, BIN, &mut buf);
    let mut script = String::from_utf8_lossy(&buf).into_owned();
    if shell == ShellArg::Bash {
        // clap_complete's bash script spells a hyphenated program's state two ways (clap issues #6421, #6529): the
        // loop that reads the line arrives at `midi__tui__subcmd__import`, the case arms wait for
        // `midi__subcmd__tui__subcmd__import`, so nothing after a command would complete. The arms are respelled
        // the loop's way (tests/command_line.rs completes through bash itself).
        script = script.replace("midi__subcmd__tui", "midi__tui");
    }
    out.write_all(script.as_bytes())
}

/// The program's name, as the shells see it.
const BIN: &str = "midi-tui";

/// The tree the manual is written from: without clap's `help` subcommand (each page documents `--help` instead).
fn man_command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// A page's roff as clap_mangen writes it, cut at its `.SH` headings: what comes before the first one (the title),
/// then each section's heading and body.
struct Page {
    head: String,
    sections: Vec<(String, String)>,
}

impl Page {
    fn of(cmd: &clap::Command) -> std::io::Result<Page> {
        let source = format!("midi-tui {}", env!("CARGO_PKG_VERSION"));
        let mut roff = Vec::new();
        clap_mangen::Man::new(cmd.clone()).source(source).render(&mut roff)?;
        let mut page = Page {
            head: String::new(),
            sections: Vec::new(),
        };
        for line in String::from_utf8_lossy(&roff).lines() {
            match (line.strip_prefix(".SH "), page.sections.last_mut()) {
                (Some(heading), _) => page
                    .sections
                    .push((heading.trim_matches('"').to_string(), String::new())),
                (None, Some((_, body))) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, None) => {
                    page.head.push_str(line);
                    page.head.push('\n');
                }
            }
        }
        Ok(page)
    }

    fn section(&self, heading: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(h, _)| h == heading)
            .map(|(_, b)| b.as_str())
    }

    /// The page as one roff text: the after-help text (the query fields of `search`, the exit codes) under
    /// NOTES, its lines kept as written rather than filled into a paragraph.
    fn render(&self) -> String {
        let mut out = self.head.clone();
        for (heading, body) in &self.sections {
            if heading == "EXTRA" {
                out.push_str(&format!(".SH NOTES\n.nf\n{body}.fi\n"));
            } else {
                out.push_str(&format!(".SH \"{heading}\"\n{body}"));
            }
        }
        out
    }
}

/// Every command below `cmd`, depth first, hidden ones left out.
fn commands(cmd: &clap::Command) -> Vec<clap::Command> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push(sub.clone());
        out.extend(commands(sub));
    }
    out
}

/// midi-tui(1) as one page: the global options, then a section for each command (its description, synopsis,
/// options and notes), so that `midi-tui man | man -l -` documents the whole tool.
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    let cmd = man_command();
    let main = Page::of(&cmd)?;
    let mut text = main.head.clone();
    for (heading, body) in &main.sections {
        match heading.as_str() {
            // Replaced by a section per command below; VERSION and NOTES come last.
            "SUBCOMMANDS" | "EXTRA" | "VERSION" => {}
            _ => text.push_str(&format!(".SH \"{heading}\"\n{body}")),
        }
    }
    for sub in commands(&cmd) {
        let page = Page::of(&sub)?;
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_uppercase();
        text.push_str(&format!(
            ".SH \"{name}\"\n{}",
            page.section("DESCRIPTION").unwrap_or_default()
        ));
        for (heading, body) in &page.sections {
            match heading.as_str() {
                // The global options are listed once, above; nested commands get their own sections.
                "NAME" | "DESCRIPTION" | "GLOBAL OPTIONS" | "SUBCOMMANDS" | "VERSION" => {}
                "EXTRA" => text.push_str(&format!(".PP\n.nf\n{body}.fi\n")),
                _ => text.push_str(&format!(".SS \"{heading}\"\n{body}")),
            }
        }
    }
    for heading in ["EXTRA", "VERSION"] {
        if let Some(body) = main.section(heading) {
            match heading {
                "EXTRA" => text.push_str(&format!(".SH NOTES\n.nf\n{body}.fi\n")),
                _ => text.push_str(&format!(".SH {heading}\n{body}")),
            }
        }
    }
    out.write_all(text.as_bytes())
}

/// midi-tui.1 and one page per command and subcommand (`midi-tui-import.1`, `midi-tui-db-start.1`, ...) in `dir`
/// (created if needed); returns the files written.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let cmd = man_command();
    let mut files = Vec::new();
    for c in std::iter::once(cmd.clone()).chain(commands(&cmd)) {
        let name = c.get_display_name().unwrap_or(c.get_name()).to_string();
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, Page::of(&c)?.render())?;
        files.push(path);
    }
    Ok(files)
}
