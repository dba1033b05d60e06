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
    clap_complete::generate(shell.shell(), &mut cmd, "midi-tui", &mut buf);
    out.write_all(&buf)
}

/// The tree the manual is written from: without clap's `help` subcommand (each page documents `--help` instead).
fn man_command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// midi-tui(1): every option and command of the tool, as roff.
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(man_command()).render(out)
}

/// midi-tui.1 and one page per command and subcommand (`midi-tui-import.1`, `midi-tui-db-start.1`, ...) in `dir`
/// (created if needed); returns the files written.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn write(cmd: clap::Command, dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
        files.push(clap_mangen::Man::new(cmd.clone()).generate_to(dir)?);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub.clone(), dir, files)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    write(man_command(), dir, &mut files)?;
    Ok(files)
}
