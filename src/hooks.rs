//! Notification hooks: commands from `hooks` in syncfleet.json run on a
//! run's `failure`, `pause` and `recover` events, with the event's details
//! in their environment. A hook has a short timeout, never changes the
//! run's outcome, and its failure is logged, not raised.

use crate::config::Hooks;
use crate::pipeline::ServiceLog;
use crate::policy::{Clock, Event};
use crate::process;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Bytes of a hook's stderr kept for the log line about it.
const HOOK_STDERR_KEPT: usize = 64 * 1024;

/// What a hook is told about the event.
pub struct EventDetails<'a> {
    pub service_id: &'a str,
    pub service_name: Option<&'a str>,
    pub workspace: &'a Path,
    pub run_id: &'a str,
    pub outcome: &'a str,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub consecutive_failures: u32,
    pub paused_reason: Option<&'a str>,
    pub log_path: &'a Path,
    /// Variables removed from the hook's environment (the token).
    pub withheld: &'a [String],
    /// The PATH recorded at install, if any (see `Manifest::stage_path`).
    pub path: Option<&'a str>,
}

fn command_for(hooks: &Hooks, event: Event) -> Option<&Vec<String>> {
    match event {
        Event::Failure => hooks.failure.as_ref(),
        Event::Pause => hooks.pause.as_ref(),
        Event::Recover => hooks.recover.as_ref(),
    }
}

fn event_name(event: Event) -> &'static str {
    match event {
        Event::Failure => "failure",
        Event::Pause => "pause",
        Event::Recover => "recover",
    }
}

/// Run the hooks for `events`, in order, logging each result with the
/// time `clock` says it started.
pub fn fire(
    hooks: &Hooks,
    events: &[Event],
    details: &EventDetails,
    log: &ServiceLog,
    clock: &dyn Clock,
) {
    for &event in events {
        let Some(argv) = command_for(hooks, event) else {
            continue;
        };
        let name = event_name(event);
        let mut command = hook_command(argv, name, details, log);
        let stamp = clock.now_iso();
        let options = process::Options {
            guard: true,
            ..process::Options::new(Duration::from_millis(hooks.timeout_ms))
        };
        // Only stderr's last line is logged; stdout is not kept at all.
        let finished = process::spawn(
            &mut command,
            &options,
            process::Discard,
            process::Head::new(HOOK_STDERR_KEPT),
        );
        let result = match finished {
            Ok(f) if f.code == Some(0) && !f.timed_out => "succeeded".to_string(),
            Ok(f) => failure(&f, hooks.timeout_ms, log),
            Err(e) => {
                log.line(&format!(
                    "{stamp} hook {name} could not start '{}': {e}",
                    argv[0]
                ));
                continue;
            }
        };
        log.line(&format!("{stamp} hook {name} ({}) {result}", argv[0]));
    }
}

/// The hook's command: run in the workspace, without the withheld
/// variables, with the event's details (redacted) in its environment.
fn hook_command(argv: &[String], name: &str, details: &EventDetails, log: &ServiceLog) -> Command {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).current_dir(details.workspace);
    for var in details.withheld {
        command.env_remove(var);
    }
    if let Some(path) = details.path {
        command.env("PATH", path);
    }
    let vars = [
        ("SYNCFLEET_EVENT", Some(name)),
        ("SYNCFLEET_SERVICE_ID", Some(details.service_id)),
        (
            "SYNCFLEET_SERVICE_NAME",
            Some(details.service_name.unwrap_or(details.service_id)),
        ),
        ("SYNCFLEET_WORKSPACE", details.workspace.to_str()),
        ("SYNCFLEET_RUN_ID", Some(details.run_id)),
        ("SYNCFLEET_OUTCOME", Some(details.outcome)),
        ("SYNCFLEET_ERROR_CODE", details.error_code),
        ("SYNCFLEET_ERROR_MESSAGE", details.error_message),
        ("SYNCFLEET_PAUSED_REASON", details.paused_reason),
        ("SYNCFLEET_LOG_PATH", details.log_path.to_str()),
    ];
    for (k, v) in vars {
        command.env(k, log.redact(v.unwrap_or("")));
    }
    command.env(
        "SYNCFLEET_CONSECUTIVE_FAILURES",
        details.consecutive_failures.to_string(),
    );
    command
}

/// How a hook failed, and the last line of its stderr (redacted).
fn failure(
    finished: &process::Finished<(), (Vec<u8>, bool)>,
    timeout_ms: u64,
    log: &ServiceLog,
) -> String {
    let (stderr, cut) = &finished.stderr;
    let stderr = String::from_utf8_lossy(stderr);
    let last = stderr.lines().last().unwrap_or("").trim();
    let last = if *cut {
        log.redactor().redact_cut(last)
    } else {
        last.to_string()
    };
    let how = if finished.timed_out {
        format!("timed out after {timeout_ms} ms and was killed")
    } else {
        match (finished.code, finished.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, signal) => format!("killed by signal {}", signal.unwrap_or(0)),
        }
    };
    format!("failed ({how}): {last}")
}
