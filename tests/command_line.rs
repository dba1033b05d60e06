//! The command line as shells and newcomers meet it: completions run through bash, fish and zsh themselves, the
//! manual page through groff, usage lines with options taken from the environment, counts and plurals in the
//! tool's messages, and `scripts/run.sh`'s first launch (a stub cargo stands in for the release build).
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{stderr, stdout};

/// `midi-tui ARGS` with a data directory of the test's own (which it returns, to look into afterwards).
fn run_in(dir: &Path, args: &[&str]) -> Output {
    common::run_bin(args, &[("MIDI_TUI_DATA_DIR", dir.to_str().unwrap())])
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run a shell on a script; its stdout.
fn shell(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn write_script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn completions_complete_commands_options_and_values_in_bash_fish_and_zsh() {
    let dir = common::temp_dir("completions");
    let script = |shell_name: &str| {
        let out = run_in(&dir, &["completions", shell_name]);
        assert!(out.status.success(), "{}", stderr(&out));
        write_script(&dir, &format!("midi-tui.{shell_name}"), &stdout(&out))
    };

    // Bash: the completion function itself, called as bash calls it on Tab.
    let bash = script("bash");
    let harness = write_script(
        &dir,
        "complete.bash",
        r#"source "$1"; shift
fn=$(complete -p midi-tui | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
for line in "$@"; do
  read -ra COMP_WORDS <<< "$line"
  [[ "$line" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$line"; COMP_POINT=${#line}; COMPREPLY=()
  "$fn" midi-tui "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "$line=> ${COMPREPLY[*]}"
done
"#,
    );
    let lines = [
        "midi-tui imp",
        "midi-tui import --mode ",
        "midi-tui dupes --l",
        "midi-tui completions ",
        "midi-tui profile apply ",
        "midi-tui db s",
    ];
    let mut args = vec![harness.to_str().unwrap(), bash.to_str().unwrap()];
    args.extend(lines);
    let got = shell("bash", &args);
    let completed = |line: &str| -> Vec<String> {
        let prefix = format!("{line}=> ");
        let l = got
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{got}"));
        l[prefix.len()..].split_whitespace().map(String::from).collect()
    };
    assert_eq!(completed("midi-tui imp"), ["import"]);
    // After a command (the part clap_complete's script gets wrong for a hyphenated name, see cli/docs.rs).
    assert_eq!(
        completed("midi-tui import --mode "),
        ["auto", "normal", "fast", "ludicrous"]
    );
    assert_eq!(completed("midi-tui dupes --l"), ["--limit", "--log"]);
    for shell_name in ["bash", "zsh", "fish"] {
        assert!(
            completed("midi-tui completions ").contains(&shell_name.to_string()),
            "{got}"
        );
    }
    assert!(
        completed("midi-tui profile apply ").contains(&"drop-indexes".to_string()),
        "{got}"
    );
    assert_eq!(completed("midi-tui db s"), ["start", "stop", "status"]);

    // Fish: `complete -C` asks fish for the candidates of a command line, with their descriptions.
    let fish = script("fish");
    if have("fish") {
        let ask = |line: &str| {
            shell(
                "fish",
                &["-c", &format!("source {}; complete -C '{line}'", fish.display())],
            )
        };
        let modes = ask("midi-tui import --mode ");
        assert!(
            modes
                .lines()
                .any(|l| l.starts_with("ludicrous\t") && l.contains("UNLOGGED")),
            "{modes}"
        );
        assert!(ask("midi-tui se").lines().any(|l| l.starts_with("search\t")));
        assert!(ask("midi-tui dupes --").lines().any(|l| l.starts_with("--limit\t")));
    } else {
        eprintln!("SKIP fish completions: fish is not installed (scripts/setup-tests.sh installs it)");
    }

    // Zsh: the script is read without error and registers `_midi-tui` for midi-tui with compinit; its value
    // lists carry their descriptions.
    let zsh = script("zsh");
    if have("zsh") {
        shell("zsh", &["-n", zsh.to_str().unwrap()]);
        let registered = shell(
            "zsh",
            &[
                "-fc",
                &format!(
                    "autoload -U compinit; compinit -u -D; source {}; print -r -- $_comps[midi-tui]",
                    zsh.display()
                ),
            ],
        );
        assert_eq!(registered.trim(), "_midi-tui");
        let text = std::fs::read_to_string(&zsh).unwrap();
        assert!(
            text.contains("ludicrous\\:") && text.contains("drop-indexes"),
            "zsh values"
        );
    } else {
        eprintln!("SKIP zsh completions: zsh is not installed (scripts/setup-tests.sh installs it)");
    }

    // Printed before logging starts: a shell's start-up sourcing it leaves no log behind.
    assert!(!dir.join("logs").exists(), "completions wrote a log");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Render roff with groff (warnings on); the text and the warnings.
fn groff(page: &Path) -> (String, String) {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=100n"])
        .arg(page)
        .env("GROFF_NO_SGR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "groff {}: {}", page.display(), stderr(&out));
    // Bold and underline as overstrikes (c\bc, _\bc) back to plain text.
    let mut text = String::new();
    for c in stdout(&out).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    (text, stderr(&out))
}

#[test]
fn the_manual_documents_every_command_and_option_and_renders_cleanly() {
    let dir = common::temp_dir("man");
    let out = run_in(&dir, &["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let roff = stdout(&out);
    assert!(roff.contains(".TH midi-tui 1"), "{roff}");
    let page = dir.join("midi-tui.1");
    std::fs::write(&page, &roff).unwrap();

    // One file per command with --out, each listed.
    let pages = dir.join("pages");
    let out = run_in(&dir, &["man", "--out", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    // Each command as the one page names it, and as its own page's file is named.
    let commands = [
        "import",
        "search",
        "dupes",
        "export",
        "features",
        "status",
        "profile",
        "profile apply",
        "restore-safety",
        "restore-backup",
        "rebuild-indexes",
        "extract",
        "db",
        "db start",
        "db stop",
        "db status",
        "db url",
        "gen-corpus",
        "doctor",
        "render",
        "bench",
        "completions",
        "man",
    ];
    for c in commands {
        let file = pages.join(format!("midi-tui-{}.1", c.replace(' ', "-")));
        assert!(file.is_file(), "{}", file.display());
        assert!(listed.contains(&file.to_str().unwrap()), "{listed:?}");
    }
    assert_eq!(
        listed.len(),
        commands.len() + 1,
        "midi-tui.1 and one page per command: {listed:?}"
    );
    assert!(!dir.join("logs").exists(), "man wrote a log");

    if !have("groff") {
        eprintln!("SKIP rendering the manual: groff is not installed (scripts/setup-tests.sh installs it)");
        return;
    }
    let (text, warnings) = groff(&page);
    assert_eq!(warnings, "", "groff warnings");
    for c in commands {
        let heading = format!("MIDI-TUI {}", c.to_uppercase());
        assert!(text.contains(&heading), "{heading} in:\n{text}");
    }
    for needle in [
        "--database-url",
        "--keep-profile",
        "ludicrous: Levels 1, 2 and 3",
        "bpm:118..124",
        "name:~grove",
        "--limit <N>",
        "Exit codes: 0 success",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
    // The query fields keep their lines (not filled into one paragraph).
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("drums") && l.contains("drums:yes")),
        "{text}"
    );
    let (import, warnings) = groff(&pages.join("midi-tui-import.1"));
    assert_eq!(warnings, "");
    assert!(
        import.contains("--workers <N>") && import.contains("GLOBAL OPTIONS"),
        "{import}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_usage_error_shows_the_usage_not_the_options_from_the_environment() {
    let dir = common::temp_dir("usage");
    let out = run_in(&dir, &["import"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("Usage: midi-tui import [OPTIONS] <SOURCE>..."), "{err}");
    assert!(
        !err.contains("--data-dir"),
        "MIDI_TUI_DATA_DIR is set, not required: {err}"
    );
    let out = run_in(&dir, &["dupes", "--limit", "many"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'many' for '--limit <N>'"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn messages_count_through_the_formatting_helper() {
    // `1 files`, `took 1 units`, `2 archive(s)`: a noun after a count agrees with it through
    // engine::human::counted; a message never hedges with `(s)`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("crates/engine/src"), &mut files);
    assert!(files.len() > 100, "{} sources", files.len());
    let mut hedged = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            // Inside a string literal: after a quote on the line.
            if let Some(q) = code.find('"')
                && code[q..].contains("(s)")
            {
                hedged.push(format!(
                    "{}:{}: {}",
                    f.strip_prefix(root).unwrap().display(),
                    i + 1,
                    code
                ));
            }
        }
    }
    assert!(hedged.is_empty(), "counts written with (s):\n{}", hedged.join("\n"));
}

#[test]
fn run_sh_says_what_it_does_and_shows_the_build() {
    let dir = common::temp_dir("run-sh");
    let target = dir.join("target");
    let calls = dir.join("cargo-calls");
    // A cargo that records its arguments and "builds" a midi-tui that prints its own.
    let cargo = write_script(
        &dir,
        "cargo",
        &format!(
            "#!/bin/sh\necho \"$@\" >> {calls}\necho '   Compiling midi-tui v0.1.0' >&2\nmkdir -p {target}/release\n\
             printf '#!/bin/sh\\necho \"midi-tui ran with: $*\"\\n' > {target}/release/midi-tui\n\
             chmod +x {target}/release/midi-tui\n",
            calls = calls.display(),
            target = target.display()
        ),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = || {
        Command::new(root.join("scripts/run.sh"))
            .args(["--version", "two words"])
            .env("CARGO", &cargo)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap()
    };
    let first = run();
    let err = stderr(&first);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("run: building midi-tui (release): the first build takes several minutes on 2 cores"),
        "{err}"
    );
    assert!(err.contains("Compiling midi-tui"), "cargo's progress is shown: {err}");
    assert!(
        err.contains("run: checking for Rust and the PostgreSQL server"),
        "{err}"
    );
    assert_eq!(stdout(&first), "midi-tui ran with: --version two words\n");
    // A build that shows its progress: no --quiet.
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "build --release\n");
    let again = run();
    assert!(
        stderr(&again).contains("what changed since the last build"),
        "{}",
        stderr(&again)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_run_s_setup_installs_no_test_tools() {
    // scripts/setup.sh with the archive tools out of reach (a PATH of the few commands it needs, and an apt-get
    // that records being called): it must not try to install them; scripts/setup-tests.sh does, for the tests.
    let dir = common::temp_dir("setup-sh");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let apt = dir.join("apt-calls");
    write_script(
        &bin,
        "apt-get",
        &format!("#!/bin/sh\necho \"$@\" >> {}\n", apt.display()),
    );
    for tool in [
        "bash",
        "sh",
        "id",
        "ls",
        "mktemp",
        "rm",
        "cat",
        "cargo",
        "initdb",
        "pg_ctl",
        "pg_config",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
        if !path.is_empty() {
            std::os::unix::fs::symlink(&path, bin.join(tool)).unwrap();
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(bin.join("bash"))
        .arg(root.join("scripts/setup.sh"))
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        !apt.exists(),
        "setup.sh ran apt-get: {:?}",
        std::fs::read_to_string(&apt)
    );
    // The test set-up is what the test runners call.
    for runner in ["scripts/test.sh", ".ci/run"] {
        let text = std::fs::read_to_string(root.join(runner)).unwrap();
        assert!(text.contains("scripts/setup-tests.sh"), "{runner}");
    }
    let tests = std::fs::read_to_string(root.join("scripts/setup-tests.sh")).unwrap();
    for tool in ["7zz", "zstd", "lbzip2", "zsh", "fish", "groff"] {
        assert!(tests.contains(&format!("[{tool}]=")), "{tool}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
