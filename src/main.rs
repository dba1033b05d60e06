//! Entry point: parse the command line, set up logging to a file, run the console or a headless command.
use std::path::PathBuf;
use std::process::ExitCode;

use midi_tui::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = cli::parse();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(e) = cli::first_argument_error(&cli, &args) {
        e.exit();
    }
    if let Some(code) = cli::docs::run(&cli) {
        return code;
    }
    let _log_guard = init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = cli.wants_json();
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let text = cli::error_text(&e);
            tracing::error!("{text}");
            if json {
                println!("{}", cli::failure_json(&text));
            }
            eprintln!("error: {text}");
            // A `--json` command's failure is its one JSON object and exit code 1, as `search` does.
            let usage = !json && e.downcast_ref::<cli::UsageError>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    // The engine's notices (a long schema update on opening a library) go to the terminal until a screen owns it.
    midi_tui::engine::notice::set_sink(Some(|line| eprintln!("midi-tui: {line}")));
    match &cli.command {
        Some(Command::Db { action }) => cli::db::run(g, action).await?,
        Some(Command::Status { json }) => return Ok(ExitCode::from(cli::status::run(g, *json).await?)),
        Some(Command::Search(args)) => return Ok(ExitCode::from(cli::search::run(g, args).await?)),
        Some(Command::Dupes(args)) => cli::dupes::run(g, args).await?,
        Some(Command::Features { json }) => cli::features::run(g, *json).await?,
        Some(Command::Doctor(args)) => {
            cli::check_sources(&args.sources)?;
            cli::doctor::run(g, args).await?
        }
        Some(Command::Export(args)) => return Ok(ExitCode::from(cli::export::run(g, args).await?)),
        Some(Command::Render(args)) => {
            let (g, args) = (g.clone(), args.clone());
            tokio::task::spawn_blocking(move || cli::render::run(&g, &args)).await??;
        }
        Some(Command::Import(args)) => {
            cli::check_sources(&args.sources)?;
            let report = if args.console_bench {
                cli::import::run_with(g, args, |h, _| midi_tui::console::bench::follow(h)).await?
            } else {
                cli::import::run(g, args).await?
            };
            if report.run.status != midi_tui::engine::kinds::RunStatus::Done {
                return Ok(ExitCode::from(1));
            }
        }
        Some(Command::Profile {
            action:
                cli::ProfileAction::Apply {
                    level,
                    yes,
                    backup,
                    no_backup,
                },
        }) => cli::profile::apply(g, *level, *yes, cli::backup_choice(*backup, *no_backup)).await?,
        Some(Command::RestoreSafety { json }) => {
            if !cli::profile::restore(g, *json).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Some(Command::RestoreBackup) => {
            let engine = cli::profile::open(g).await?;
            for line in engine.restore_backup().await? {
                println!("{line}");
            }
        }
        Some(Command::RebuildIndexes { jobs }) => {
            if !cli::profile::rebuild(g, *jobs).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Some(Command::Extract { archives, out, jobs }) => {
            let (archives, out, jobs) = (archives.clone(), out.clone(), *jobs);
            if !tokio::task::spawn_blocking(move || cli::extract::run(&archives, &out, jobs)).await?? {
                return Ok(ExitCode::from(1));
            }
        }
        Some(Command::GenCorpus(args)) => {
            let (dir, opts) = (args.dir.clone(), args.options());
            tokio::task::spawn_blocking(move || cli::gen_corpus::run(&dir, &opts)).await??;
        }
        Some(Command::Bench(flags)) => cli::bench::run(g, &flags.to_args()?, flags.json, flags.out.as_deref()).await?,
        // Printed by `cli::docs::run` before logging starts.
        Some(Command::Completions { .. } | Command::Man { .. }) => {}
        None => return console_or_import(g, &cli.sources).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// No command: the console over SOURCE (the sample library when none is given) on a terminal, else the headless
/// import of the same sources.
async fn console_or_import(g: &cli::GlobalArgs, sources: &[PathBuf]) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let sources = if sources.is_empty() {
        midi_tui::engine::run::session::sample_library().into_iter().collect()
    } else {
        sources.to_vec()
    };
    cli::check_sources(&sources)?;
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        let engine = midi_tui::engine::run::session::Engine::open(g.target(), g.data_dir())
            .await?
            .with_run_log(g.log.clone());
        midi_tui::engine::notice::set_sink(None);
        midi_tui::console::run(engine, sources, g.shell_flags(), g.soundfont.clone()).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if sources.is_empty() {
        anyhow::bail!("no SOURCE given and no sample library found (assets/sample-library)");
    }
    // No terminal: the headless import of the same sources.
    let args = cli::ImportArgs {
        mode: cli::ModeArg::Normal,
        yes: false,
        dry_run: false,
        keep_profile: false,
        backup: false,
        no_backup: false,
        json: false,
        limit: cli::LimitArg::Full,
        console_bench: false,
        batch_rows: None,
        workers: None,
        lease_ms: None,
        unit_files: None,
        sources,
    };
    let report = cli::import::run(g, &args).await?;
    if report.run.status != midi_tui::engine::kinds::RunStatus::Done {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs go to a file, never to the terminal the console draws on.
fn init_logging(g: &cli::GlobalArgs) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    // Diagnostics; `--log` names the import log, which the engine writes.
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let path = g
        .data_dir()
        .join("logs")
        .join(format!("midi-tui-{stamp}-{}.log", std::process::id()));
    // The run logs share this folder: owner only, like the files in it.
    midi_tui::engine::logfile::private_dir(path.parent()?).ok()?;
    let file = midi_tui::engine::logfile::open_private(&path).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIDI_TUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    Some(guard)
}
