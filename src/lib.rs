//! syncfleet: OS-native scheduled sync services for every workspace, with
//! a real run policy, managed as a fleet. `main` only calls [`run`].

pub mod batch;
pub mod calendar;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod conditions;
pub mod config;
pub mod context;
pub mod docs;
pub mod doctor_checks;
pub mod duration;
pub mod envfile;
pub mod error;
pub mod fsutil;
pub mod hooks;
pub mod identity;
pub mod index;
pub mod lock;
pub mod logging;
pub mod man;
pub mod metrics;
pub mod output;
pub mod paths;
pub mod ping;
pub mod pipeline;
pub mod policy;
pub mod process;
pub mod redact;
pub mod registry;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod top;
// What testkit takes from its includer (tests/common includes it too).
#[cfg(test)]
use process::pid_alive;

use clap::Parser;
use cli::{Cli, Command};
use context::Context;
use output::{emit, emit_error};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Instant;

/// Parse arguments, run the command, render, and return the exit status.
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let started = Instant::now();
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return clap_error(&args, &e, started),
    };
    init_tracing(&cli);
    let mut ctx = Context::new(cli.global.clone());
    if matches!(cli.command, Command::Run(_)) {
        // The scheduler's entry point always speaks JSON.
        ctx.ui.robot = true;
        ctx.ui.color = false;
    }
    if matches!(
        cli.command,
        Command::Run(_) | Command::Trigger(_) | Command::Sync(_)
    ) {
        ctx.registry_busy = registry::RUN_PATH_BUSY_TIMEOUT;
    }
    let ui = ctx.ui;
    macro_rules! dispatch {
        ($result:expr) => {
            match $result {
                Ok(value) => emit(&ui, started, &value),
                Err(error) => emit_error(&ui, started, &error),
            }
        };
    }
    let code = match &cli.command {
        Command::Install(a) => dispatch!(commands::install::run(&ctx, a)),
        Command::Uninstall(a) => dispatch!(commands::uninstall::run(&ctx, a)),
        Command::List(a) => commands::list::emit(&ctx, a, started),
        Command::Status(a) => dispatch!(commands::status::run(&ctx, a)),
        Command::Logs(a) => dispatch!(commands::logs::run(&ctx, a)),
        Command::Doctor(a) => dispatch!(commands::doctor::run(&ctx, a)),
        Command::Pause(a) => dispatch!(commands::pause::run(&ctx, a)),
        Command::Resume(a) => dispatch!(commands::resume::run(&ctx, a)),
        Command::Trigger(a) => dispatch!(commands::trigger::run(&ctx, a)),
        Command::Move(a) => dispatch!(commands::relocate::run(&ctx, a)),
        Command::Repair(a) => dispatch!(commands::repair::run(&ctx, a)),
        Command::Sync(a) => dispatch!(commands::sync::run(&ctx, a)),
        Command::History(a) => dispatch!(commands::history::run(&ctx, a)),
        Command::Report(a) => dispatch!(commands::report::run(&ctx, a)),
        Command::Prune(a) => dispatch!(commands::prune::run(&ctx, a)),
        Command::Reindex(a) => dispatch!(commands::reindex::run(&ctx, a)),
        Command::Metrics(a) => dispatch!(commands::metrics::run(&ctx, a)),
        Command::Top(a) => dispatch!(commands::top::run(&ctx, a)),
        Command::Init(a) => dispatch!(commands::init::run(&ctx, a)),
        Command::Calendar(a) => dispatch!(commands::calendar::run(&ctx, a)),
        Command::RobotDocs => emit(&ui, started, &commands::robot_docs::run()),
        Command::Completions(a) => {
            // A script, not a report: raw bytes on stdout, even with --robot.
            use std::io::Write;
            let _ = std::io::stdout().write_all(&commands::completions::script(a.shell));
            ExitCode::SUCCESS
        }
        Command::Complete(a) => {
            // Words for the shell, never an envelope: even --robot prints them raw.
            use std::io::Write;
            let _ = std::io::stdout().write_all(commands::completions::values(&ctx, a).as_bytes());
            ExitCode::SUCCESS
        }
        Command::Run(a) => {
            // Always exit 0: the scheduler must not treat a failure as a
            // signal to retry; the error is still one JSON document.
            let _ = dispatch!(commands::run::run(&ctx, a));
            ExitCode::SUCCESS
        }
    };
    metrics::after_command(&ctx, &cli.command);
    code
}

/// clap's own exits: help and version print as clap renders them; a usage
/// error does too, except in robot mode, where it is the JSON error
/// envelope on stdout like every other error (exit 2 either way).
fn clap_error(args: &[OsString], e: &clap::Error, started: Instant) -> ExitCode {
    if !e.use_stderr() || !robot_requested(args) {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let message = lines
        .next()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string())
        .unwrap_or_else(|| "invalid arguments".into());
    let rest: Vec<&str> = lines.collect();
    let mut error = error::Error::invalid_argument(message);
    if !rest.is_empty() {
        error = error.with_suggestion(rest.join("; "));
    }
    let ui = output::Ui::new(true, cli::ColorChoice::Never, false);
    emit_error(&ui, started, &error)
}

/// Whether the arguments or the environment ask for robot mode, read
/// without clap (whose parse just failed): --robot, --json, -J (alone or
/// in a cluster of short flags) before any `--`, or SYNCFLEET_ROBOT set to
/// anything but a false value (clap's FalseyValueParser words).
fn robot_requested(args: &[OsString]) -> bool {
    let flag = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .any(|a| {
            a == "--robot"
                || a == "--json"
                || (a.starts_with('-')
                    && !a.starts_with("--")
                    && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && a.contains('J'))
        });
    let env = std::env::var("SYNCFLEET_ROBOT").is_ok_and(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "n" | "no" | "f" | "false" | "off" | "0"
        )
    });
    flag || env
}

fn init_tracing(cli: &Cli) {
    logging::init(
        logging::level(cli.global.quiet, cli.global.verbose),
        output::stream_color(cli.global.color, &std::io::stderr()),
    );
}
