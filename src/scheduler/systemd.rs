//! systemd user timers: `syncfleet-<id>.service` (oneshot, its cgroup killed when the run ends) and
//! `syncfleet-<id>.timer` in `$XDG_CONFIG_HOME/systemd/user`.

use super::{
    Artifact, ArtifactListing, PlatformState, Removal, Scheduler, SchedulerKind, ServiceSpec,
    TokenPlacement, check_spec, ids_in_dir,
};
use crate::doctor_checks::Check;
use crate::error::{Error, Result};
use crate::paths::Env;
use crate::process::{self, DEFAULT_TIMEOUT};
use crate::schedule::{CalendarSchedule, CatchUp};
use std::collections::HashMap;
use std::path::PathBuf;

/// The earliest first run after the user manager starts. A timer with
/// only OnUnitInactiveSec= never fires while its service has never run in
/// this manager, so every timer also has OnStartupSec=: it fires once
/// this long (plus the service's spread offset) after the manager starts,
/// and at once when the timer is enabled later than that, which is the
/// first run after `install`.
///
/// Not OnActiveSec=: a `daemon-reload` (which every install and uninstall
/// runs) re-arms OnActiveSec= of every active timer, so each install made
/// every other service run again (systemd issues #31914, #16186, #31945).
/// OnStartupSec= in the past is disabled on reload instead of re-fired.
pub const STARTUP_DELAY_SECONDS: u64 = 30;

/// OnStartupSec= of a service's timer: the startup delay plus its stable
/// offset in the spread window.
pub fn startup_delay_seconds(spec: &ServiceSpec) -> u64 {
    STARTUP_DELAY_SECONDS
        + super::spread_offset_seconds(
            &spec.service_id,
            startup_spread_seconds(spec.interval_seconds),
        )
}

/// The window over which a fleet's post-startup runs are spread, so a
/// login does not start every service in the same second.
pub fn startup_spread_seconds(interval_seconds: u64) -> u64 {
    (interval_seconds / 20).clamp(1, 300)
}

/// The timer properties a state query asks for.
const SHOWN_PROPERTIES: &str = "LoadState,ActiveState,UnitFileState,NextElapseUSecRealtime";

/// Timers per batched `systemctl show`: a unit name is at most 48 bytes,
/// so the argv stays under 800 KB, well inside Linux's 2 MB ARG_MAX, and
/// a fleet of 10,000 is asked in one call.
const SHOW_BATCH_UNITS: usize = 16_384;

/// The state one block of `systemctl show -p LoadState,…` output says.
fn state_from_show(block: &str) -> PlatformState {
    let prop = |key: &str| {
        block
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let (load, active, file) = (
        prop("LoadState"),
        prop("ActiveState"),
        prop("UnitFileState"),
    );
    let next = prop("NextElapseUSecRealtime");
    PlatformState {
        loaded: load == "loaded" && active == "active",
        state: if load == "loaded" {
            format!(
                "{active} ({})",
                if file.is_empty() { "unknown" } else { &file }
            )
        } else {
            load
        },
        next_run_ms: parse_utc_timestamp(&next),
        next_run: (!next.is_empty() && next != "n/a" && next != "0").then_some(next),
        error: None,
    }
}

/// The blocks of a many-unit `systemctl show -p Id,…`, by unit name
/// (systemd prints the properties in its own order, not the order asked:
/// systemd 252 puts NextElapseUSecRealtime= before Id=).
fn show_blocks(out: &str) -> HashMap<&str, &str> {
    out.split("\n\n")
        .filter_map(|block| {
            let id = block.lines().find_map(|l| l.strip_prefix("Id="))?;
            Some((id.trim(), block))
        })
        .collect()
}

pub struct Systemd {
    unit_dir: PathBuf,
    /// Where the user manager keeps a `Persistent=` timer's last trigger
    /// (`stamp-<timer>`): left behind, a later timer of the same name would
    /// catch up from it.
    stamp_dir: PathBuf,
}

pub fn unit_name(service_id: &str, suffix: &str) -> String {
    format!("syncfleet-{service_id}.{suffix}")
}

/// Escape for a unit value taken verbatim (paths in WorkingDirectory=,
/// EnvironmentFile=, StandardOutput=append:): only specifiers expand.
pub fn escape_specifiers(value: &str) -> String {
    value.replace('%', "%%")
}

/// Quote one word for lines systemd splits into words (ExecStart=,
/// Environment=): double quotes with C escapes, `%` as
/// `%%`; in ExecStart= arguments also `$` as `$$` (no variable
/// expansion). The program path itself is never expanded, so systemd reads
/// `$$` there literally: its `$` stays single (`exec` = false).
pub fn quote_word(value: &str, exec: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Systemd {
    pub fn new(env: &Env) -> Systemd {
        Systemd {
            unit_dir: env.xdg_config_home().join("systemd/user"),
            stamp_dir: env.xdg_data_home().join("systemd/timers"),
        }
    }

    pub fn unit_path(&self, service_id: &str, suffix: &str) -> PathBuf {
        self.unit_dir.join(unit_name(service_id, suffix))
    }

    /// The link `enable` makes; `disable` removes it, but one left behind
    /// (its unit file deleted by hand) still names the service.
    fn wants_link(&self, service_id: &str) -> PathBuf {
        self.unit_dir
            .join("timers.target.wants")
            .join(unit_name(service_id, "timer"))
    }

    /// Seconds since the user manager started, when it can be asked.
    fn manager_uptime_seconds(&self) -> Option<u64> {
        let out = self
            .systemctl(&["show", "-p", "UserspaceTimestampMonotonic", "--value"])
            .ok()?;
        let started_us: u64 = out.stdout.trim().parse().ok()?;
        // The manager's timestamp is CLOCK_MONOTONIC, as is Instant on
        // Linux, but Instant does not expose it: ask the clock directly.
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec we own.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        if rc != 0 || started_us == 0 {
            return None;
        }
        let now_us =
            u64::try_from(now.tv_sec).ok()? * 1_000_000 + u64::try_from(now.tv_nsec).ok()? / 1_000;
        Some(now_us.saturating_sub(started_us) / 1_000_000)
    }

    fn systemctl(&self, args: &[&str]) -> Result<process::Captured> {
        let mut full = vec!["--user".to_string()];
        full.extend(args.iter().map(|s| s.to_string()));
        process::run_checked("systemctl", &full, DEFAULT_TIMEOUT)
    }

    pub fn render_service(&self, spec: &ServiceSpec) -> Result<String> {
        check_spec("systemd unit", spec)?;
        // systemd refuses to execute a path with a quote or a backslash
        // ("Executable name contains special characters"), however quoted.
        if spec
            .binary_path
            .to_string_lossy()
            .contains(['"', '\'', '\\'])
        {
            return Err(Error::invalid_argument(format!(
                "the syncfleet binary path {} contains a quote or a backslash, which systemd cannot execute",
                spec.binary_path.display()
            ))
            .with_suggestion(
                "Install the syncfleet binary under a path without quotes or backslashes, or use --scheduler cron.",
            ));
        }
        let data_dir = spec.data_dir.to_string_lossy();
        let workspace = spec.workspace_root.to_string_lossy();
        let exec = spec
            .run_argv()
            .iter()
            .enumerate()
            .map(|(i, w)| quote_word(w, i > 0))
            .collect::<Vec<_>>()
            .join(" ");
        let token_line = match &spec.token {
            // SystemEnv: a user manager passes its own environment.
            TokenPlacement::None | TokenPlacement::SystemEnv { .. } => String::new(),
            // "-": a missing file is not a start failure; the run itself
            // then reports TOKEN_NOT_SET where status shows it.
            TokenPlacement::EnvFile { path, .. } => {
                format!(
                    "EnvironmentFile=-{}\n",
                    escape_specifiers(&path.to_string_lossy())
                )
            }
            TokenPlacement::Embedded { var, value } => {
                format!(
                    "Environment={}\n",
                    quote_word(&format!("{var}={value}"), false)
                )
            }
        };
        // KillMode=control-group: when the run ends, or is killed, systemd
        // kills every process left in the unit's cgroup, so no stage
        // process outlives its runner (stated, though it is the default,
        // because the guarantee depends on it).
        //
        // No ProtectSystem=/ProtectHome=/PrivateTmp=/ReadWritePaths=: in a
        // user manager they take effect only with PrivateUsers=, which
        // needs unprivileged user namespaces (refused on some distributions,
        // and the unit then fails to start) and would make the home
        // read-only for stages that must write there (git's known_hosts,
        // credential helpers, caches, lore's database). A sandbox that only
        // looks active is worse than none; see README, "Schedulers".
        Ok(format!(
            "# Generated by syncfleet install; do not edit (syncfleet install regenerates it).\n\
             # {owner}\n\
             [Unit]\n\
             Description=syncfleet sync of {desc} ({id})\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             ExecStart={exec}\n\
             WorkingDirectory={wd}\n\
             Environment={data_env}\n\
             {token_line}\
             StandardOutput=append:{out}\n\
             StandardError=append:{err}\n\
             SuccessExitStatus=0\n\
             TimeoutStartSec={timeout}\n\
             KillMode=control-group\n\
             Nice=10\n\
             NoNewPrivileges=true\n",
            owner = super::owner_tag(&spec.data_dir),
            desc = escape_specifiers(&workspace.replace(['\n', '\r'], " ")),
            id = spec.service_id,
            wd = escape_specifiers(&data_dir),
            data_env = quote_word(&format!("SYNCFLEET_DATA_DIR={data_dir}"), false),
            out = escape_specifiers(&spec.stdout_log.to_string_lossy()),
            err = escape_specifiers(&spec.stderr_log.to_string_lossy()),
            timeout = spec.run_timeout_seconds,
        ))
    }

    pub fn render_timer(&self, spec: &ServiceSpec) -> String {
        match &spec.calendar {
            Some(calendar) => self.render_calendar_timer(spec, calendar),
            None => self.render_interval_timer(spec),
        }
    }

    /// A calendar timer: one OnCalendar= per expression, each with the
    /// zone. The spread is systemd's own fixed delay (a hash of the machine,
    /// user and timer name: stable across reloads and reboots, different
    /// between services), over `schedule::calendar_spread_seconds` of the
    /// schedule's period. Persistent= runs a slot missed while the manager
    /// was down once when it comes back, never once per missed slot.
    fn render_calendar_timer(&self, spec: &ServiceSpec, calendar: &CalendarSchedule) -> String {
        let on_calendar: String = calendar
            .at
            .iter()
            .map(|at| {
                format!(
                    "OnCalendar={}\n",
                    escape_specifiers(&calendar.with_zone(at))
                )
            })
            .collect();
        let spread = crate::schedule::calendar_spread_seconds(spec.interval_seconds);
        let persistent = match calendar.catch_up {
            CatchUp::Latest => "true",
            CatchUp::None => "false",
        };
        format!(
            "# Generated by syncfleet install; do not edit (syncfleet install regenerates it).\n\
             # {owner}\n\
             [Unit]\n\
             Description=syncfleet timer for {id}\n\
             \n\
             [Timer]\n\
             {on_calendar}\
             AccuracySec=1s\n\
             RandomizedDelaySec={spread}s\n\
             FixedRandomDelay=yes\n\
             Persistent={persistent}\n\
             \n\
             [Install]\n\
             WantedBy=timers.target\n",
            id = spec.service_id,
            owner = super::owner_tag(&spec.data_dir),
        )
    }

    fn render_interval_timer(&self, spec: &ServiceSpec) -> String {
        // No RandomizedDelaySec=: it delayed every run, the first one
        // included, by a fresh random amount. Runs are anchored to the end
        // of the service's own previous run (OnUnitInactiveSec=), so a
        // fleet installed at different times stays spread; only the
        // startup firing needs a spread, and a stable one per service.
        let startup = startup_delay_seconds(spec);
        format!(
            "# Generated by syncfleet install; do not edit (syncfleet install regenerates it).\n\
             # {owner}\n\
             [Unit]\n\
             Description=syncfleet timer for {id}\n\
             \n\
             [Timer]\n\
             OnStartupSec={startup}s\n\
             OnUnitInactiveSec={interval}s\n\
             AccuracySec=1s\n\
             \n\
             [Install]\n\
             WantedBy=timers.target\n",
            id = spec.service_id,
            owner = super::owner_tag(&spec.data_dir),
            interval = spec.interval_seconds,
        )
    }
}

/// A timestamp `systemctl show` printed under TZ=UTC
/// (`Wed 2026-12-02 10:00:00 UTC`), in Unix milliseconds.
pub fn parse_utc_timestamp(text: &str) -> Option<i64> {
    let naive =
        chrono::NaiveDateTime::parse_from_str(text.trim(), "%a %Y-%m-%d %H:%M:%S UTC").ok()?;
    Some(naive.and_utc().timestamp_millis())
}

/// Split an ExecStart= value into words the way systemd does for the
/// quoting `quote_word` produces (double quotes, C escapes, `%%`, and `$$`
/// in the arguments but not the program path).
pub fn parse_exec_start(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut in_quotes = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => in_quotes = !in_quotes,
                '\\' => match chars.next() {
                    Some('t') => word.push('\t'),
                    Some('n') => word.push('\n'),
                    Some(other) => word.push(other),
                    None => {}
                },
                '%' if chars.peek() == Some(&'%') => {
                    chars.next();
                    word.push('%');
                }
                '$' if !words.is_empty() && chars.peek() == Some(&'$') => {
                    chars.next();
                    word.push('$');
                }
                c if c.is_whitespace() && !in_quotes => break,
                c => word.push(c),
            }
        }
        words.push(word);
    }
    words
}

impl Scheduler for Systemd {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Systemd
    }

    /// When the timer first fires, from how long the user manager has
    /// been running: OnStartupSec= counts from the manager's start.
    fn first_run(&self, spec: &ServiceSpec) -> String {
        let startup = startup_delay_seconds(spec);
        let then = format!(
            "then {} after each run ends",
            crate::duration::format_interval(spec.interval_seconds)
        );
        match self.manager_uptime_seconds() {
            Some(up) if up >= startup => format!("within a few seconds, {then}"),
            Some(up) => format!(
                "in about {} seconds (OnStartupSec={startup}s after the user manager started), {then}",
                startup - up
            ),
            None => format!(
                "within a few seconds once the user manager has run for {startup} seconds, {then}"
            ),
        }
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<Artifact>> {
        Ok(vec![
            Artifact {
                path: self.unit_path(&spec.service_id, "service"),
                content: self.render_service(spec)?,
                mode: 0o644,
            },
            Artifact {
                path: self.unit_path(&spec.service_id, "timer"),
                content: self.render_timer(spec),
                mode: 0o644,
            },
        ])
    }

    fn artifact_paths(&self, service_id: &str) -> Vec<PathBuf> {
        vec![
            self.unit_path(service_id, "service"),
            self.unit_path(service_id, "timer"),
        ]
    }

    fn planned_commands(&self, service_ids: &[&str]) -> Vec<String> {
        let mut cmds = vec!["systemctl --user daemon-reload".to_string()];
        cmds.extend(
            service_ids
                .iter()
                .map(|id| format!("systemctl --user enable --now {}", unit_name(id, "timer"))),
        );
        cmds
    }

    fn activate(&self, service_ids: &[&str]) -> Result<()> {
        self.reload()?;
        for id in service_ids {
            self.systemctl(&["enable", "--now", &unit_name(id, "timer")])?;
        }
        Ok(())
    }

    fn deactivate(&self, service_id: &str) -> Result<()> {
        self.systemctl(&["disable", "--now", &unit_name(service_id, "timer")])
            .map(|_| ())
    }

    fn reload(&self) -> Result<()> {
        self.systemctl(&["daemon-reload"]).map(|_| ())
    }

    fn state(&self, service_id: &str) -> PlatformState {
        let timer = unit_name(service_id, "timer");
        // In UTC, so that the next elapse reads back as an instant.
        let args: Vec<String> = ["--user", "show", "-p", SHOWN_PROPERTIES, &timer]
            .map(String::from)
            .to_vec();
        match process::run_checked_utc("systemctl", &args, DEFAULT_TIMEOUT) {
            Ok(out) => state_from_show(&out.stdout),
            Err(e) => PlatformState::unknown(e.message),
        }
    }

    /// One `systemctl --user show` for many timers (it prints one block of
    /// properties per unit, blank-line separated, `Id=` naming the unit).
    fn states(&self, service_ids: &[&str]) -> HashMap<String, PlatformState> {
        let mut states = HashMap::with_capacity(service_ids.len());
        for chunk in service_ids.chunks(SHOW_BATCH_UNITS) {
            let mut args: Vec<String> = ["--user", "show", "-p"].map(String::from).to_vec();
            args.push(format!("Id,{SHOWN_PROPERTIES}"));
            args.extend(chunk.iter().map(|id| unit_name(id, "timer")));
            let shown = match process::capture(
                std::process::Command::new("systemctl")
                    .args(&args)
                    .env("TZ", "UTC"),
                None,
                DEFAULT_TIMEOUT,
            ) {
                Ok(c) if c.success() => Ok(c.stdout),
                // The error names the command without its thousands of
                // unit names: each service's state carries it.
                Ok(c) => Err(Error::command_failed(
                    &format!("systemctl --user show ({} timers)", chunk.len()),
                    c.code,
                    &c.stderr,
                )
                .message),
                Err(e) => Err(format!("cannot run systemctl: {e}")),
            };
            let by_unit = shown.as_deref().map(show_blocks);
            for id in chunk {
                let state = match &by_unit {
                    Ok(blocks) => blocks.get(unit_name(id, "timer").as_str()).map_or_else(
                        || PlatformState::unknown("systemctl show printed nothing for its timer"),
                        |block| state_from_show(block),
                    ),
                    Err(message) => PlatformState::unknown(message.as_str()),
                };
                states.insert(id.to_string(), state);
            }
        }
        states
    }

    fn installed_command(&self, service_id: &str) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.unit_path(service_id, "service")).ok()?;
        let value = text.lines().find_map(|l| l.strip_prefix("ExecStart="))?;
        Some(parse_exec_start(value))
    }

    fn prerequisites(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        match self.systemctl(&["show", "-p", "Version", "--value"]) {
            Ok(out) => checks.push(Check::pass(
                "systemd_user_manager",
                format!("systemctl --user reachable (systemd {})", out.stdout.trim()),
            )),
            Err(e) => checks.push(Check::fail(
                "systemd_user_manager",
                format!("systemctl --user is not reachable: {}", e.message),
                "Start a login session with a systemd user manager (or set XDG_RUNTIME_DIR), or schedule with cron instead: syncfleet install --scheduler cron",
            )),
        }
        let user = std::env::var("USER").unwrap_or_default();
        let linger = process::run_checked(
            "loginctl",
            &["show-user".into(), user.clone(), "--property=Linger".into()],
            DEFAULT_TIMEOUT,
        );
        checks.push(match linger {
            Ok(out) if out.stdout.trim() == "Linger=yes" => Check::pass(
                "linger",
                "lingering is enabled: timers fire without a login session",
            ),
            Ok(_) => Check::warn(
                "linger",
                "loginctl linger not enabled; timers will not fire after a reboot until you log in",
                format!(
                    "loginctl enable-linger {}",
                    if user.is_empty() { "$(whoami)" } else { &user }
                ),
            ),
            // No systemd-logind here (a container, a machine not booted
            // with systemd): lingering is not a thing to fix, and a warning
            // on every install would only be noise.
            Err(e) if e.message.contains("not been booted with systemd") => Check::skip(
                "linger",
                "lingering cannot be checked: this machine has no systemd login manager",
            ),
            Err(e) => Check::warn(
                "linger",
                format!(
                    "could not read the linger setting ({})",
                    e.message.lines().next().unwrap_or("")
                ),
                "If timers must fire without a login session: loginctl enable-linger $(whoami)",
            ),
        });
        checks
    }

    fn safe_fix(&self) -> Option<(String, Result<()>)> {
        Some(("systemctl --user daemon-reload".into(), self.reload()))
    }

    fn schedule_label(&self, service_id: &str) -> String {
        format!("systemd timer {}", unit_name(service_id, "timer"))
    }

    fn list_artifacts(&self) -> Result<ArtifactListing> {
        let mut listing = ArtifactListing::new();
        for suffix in [".service", ".timer"] {
            ids_in_dir(&self.unit_dir, "syncfleet-", suffix, &mut listing);
        }
        ids_in_dir(
            &self.unit_dir.join("timers.target.wants"),
            "syncfleet-",
            ".timer",
            &mut listing,
        );
        Ok(listing)
    }

    fn remove_artifacts(&self, service_id: &str) -> Result<Removal> {
        let mut out = super::remove_artifacts_by_default(self, service_id)?;
        // A timer whose unit file is gone cannot be disabled, but a loaded
        // one still fires until it is stopped.
        if !out.warnings.is_empty()
            && self
                .systemctl(&["stop", &unit_name(service_id, "timer")])
                .is_ok()
            && !self.state(service_id).loaded
        {
            out.warnings.clear();
            out.schedules.push(self.schedule_label(service_id));
            super::remove_artifact_files(self, service_id, &mut out)?;
        }
        let stamp = self
            .stamp_dir
            .join(format!("stamp-{}", unit_name(service_id, "timer")));
        for path in [self.wants_link(service_id), stamp] {
            if crate::fsutil::remove_if_exists(&path).map_err(|e| Error::io("remove", &path, e))? {
                out.files.push(path.display().to_string());
            }
        }
        Ok(out)
    }
}

/// The unit directory, for messages.
pub fn unit_dir(env: &Env) -> PathBuf {
    env.xdg_config_home().join("systemd/user")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_spec as spec;

    #[test]
    fn a_many_unit_show_is_read_per_unit_by_its_id() {
        // As systemd 252 prints `show -p Id,LoadState,… a.timer b.timer`.
        let out = "Id=syncfleet-a.timer\nLoadState=loaded\nActiveState=active\n\
UnitFileState=enabled\nNextElapseUSecRealtime=Thu 2026-01-01 12:00:00 UTC\n\n\
Id=syncfleet-b.timer\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n\
NextElapseUSecRealtime=\n";
        let blocks = show_blocks(out);
        assert_eq!(blocks.len(), 2);
        let a = state_from_show(blocks["syncfleet-a.timer"]);
        assert!(a.loaded);
        assert_eq!(a.state, "active (enabled)");
        assert!(a.next_run_ms.is_some(), "{a:?}");
        let b = state_from_show(blocks["syncfleet-b.timer"]);
        assert!(!b.loaded);
        assert_eq!(b.state, "not-found");
        assert_eq!(b.next_run, None);
    }

    fn systemd() -> Systemd {
        Systemd {
            unit_dir: "/home/u/.config/systemd/user".into(),
            stamp_dir: "/home/u/.local/share/systemd/timers".into(),
        }
    }

    #[test]
    fn service_unit_kills_its_cgroup_and_claims_no_inert_sandbox() {
        let unit = systemd()
            .render_service(&spec(TokenPlacement::None))
            .unwrap();
        for line in [
            "KillMode=control-group",
            "NoNewPrivileges=true",
            "TimeoutStartSec=1500",
            "WorkingDirectory=/data",
            "SuccessExitStatus=0",
            "Type=oneshot",
        ] {
            assert!(unit.lines().any(|l| l == line), "missing {line} in\n{unit}");
        }
        // Inert in a user manager without PrivateUsers=: never rendered.
        for directive in [
            "ProtectSystem=",
            "ProtectHome=",
            "PrivateTmp=",
            "ReadWritePaths=",
        ] {
            assert!(!unit.contains(directive), "{directive} in\n{unit}");
        }
        assert!(unit.contains(
            "ExecStart=\"/usr/local/bin/syncfleet\" \"--robot\" \"run\" \"--service-id\" \"abc123\""
        ));
        assert!(unit.contains("Environment=\"SYNCFLEET_DATA_DIR=/data\""));
        assert!(
            unit.contains("StandardOutput=append:/data/services/abc123/logs/scheduler-stdout.log")
        );
    }

    #[test]
    fn service_unit_env_file_mode() {
        let unit = systemd()
            .render_service(&spec(TokenPlacement::EnvFile {
                var: "GITLAB_TOKEN".into(),
                path: "/data/services/abc123/env".into(),
            }))
            .unwrap();
        assert!(unit.contains("EnvironmentFile=-/data/services/abc123/env\n"));
        assert!(!unit.contains("GITLAB_TOKEN"));
    }

    #[test]
    fn service_unit_embedded_mode() {
        let unit = systemd()
            .render_service(&spec(TokenPlacement::Embedded {
                var: "GITLAB_TOKEN".into(),
                value: "glpat-x%y\"z".into(),
            }))
            .unwrap();
        assert!(
            unit.contains("Environment=\"GITLAB_TOKEN=glpat-x%%y\\\"z\"\n"),
            "{unit}"
        );
        assert!(!unit.contains("EnvironmentFile="));
    }

    #[test]
    fn timer_unit_fires_first_then_on_interval() {
        let timer = systemd().render_timer(&spec(TokenPlacement::None));
        assert!(timer.contains("abc123"));
        // abc123's stable offset in a 45 s window (900 s / 20).
        assert!(timer.contains("OnStartupSec=37s\n"), "{timer}");
        assert!(timer.contains("OnUnitInactiveSec=900s\n"));
        // Never the timers a daemon-reload re-fires, nor a random delay.
        assert!(!timer.contains("OnActiveSec="));
        assert!(!timer.contains("RandomizedDelaySec="));
        assert!(timer.contains("WantedBy=timers.target"));
    }

    #[test]
    fn calendar_timer_has_one_on_calendar_per_spec_with_its_zone() {
        let mut s = spec(TokenPlacement::None);
        s.calendar = Some(CalendarSchedule {
            at: vec!["Mon..Fri *-*-* 09:30:00".into(), "*-*-* 02:00:00".into()],
            timezone: Some("Europe/Berlin".into()),
            catch_up: CatchUp::Latest,
        });
        s.interval_seconds = 86_400;
        let timer = systemd().render_timer(&s);
        assert!(
            timer.contains(
                "OnCalendar=Mon..Fri *-*-* 09:30:00 Europe/Berlin\nOnCalendar=*-*-* 02:00:00 Europe/Berlin\n"
            ),
            "{timer}"
        );
        // A daily period keeps its named time within five minutes.
        assert!(
            timer.contains("RandomizedDelaySec=300s\nFixedRandomDelay=yes\n"),
            "{timer}"
        );
        assert!(timer.contains("Persistent=true\n"));
        assert!(timer.contains("AccuracySec=1s\n"));
        for interval_only in ["OnStartupSec=", "OnUnitInactiveSec=", "OnActiveSec="] {
            assert!(
                !timer.contains(interval_only),
                "{interval_only} in\n{timer}"
            );
        }
        let c = s.calendar.as_mut().unwrap();
        c.catch_up = CatchUp::None;
        c.timezone = None;
        s.interval_seconds = 900;
        let timer = systemd().render_timer(&s);
        assert!(timer.contains("OnCalendar=*-*-* 02:00:00\n"), "{timer}");
        assert!(timer.contains("RandomizedDelaySec=900s\n"), "{timer}");
        assert!(timer.contains("Persistent=false\n"));
    }

    #[test]
    fn next_elapse_reads_back_in_utc() {
        assert_eq!(
            parse_utc_timestamp("Wed 2026-12-02 10:00:00 UTC"),
            Some(1_796_205_600_000)
        );
        assert_eq!(parse_utc_timestamp("n/a"), None);
        assert_eq!(parse_utc_timestamp(""), None);
    }

    #[test]
    fn exec_start_round_trips_awkward_paths() {
        let mut s = spec(TokenPlacement::None);
        s.binary_path = "/opt/my tools/100% & <sync> $HOME é/syncfleet".into();
        let unit = systemd().render_service(&s).unwrap();
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        assert_eq!(parse_exec_start(exec), s.run_argv());
    }

    #[test]
    fn binary_paths_systemd_cannot_execute_are_refused() {
        for bad in [
            "/opt/it's/syncfleet",
            "/opt/\"q\"/syncfleet",
            "/opt/back\\slash/syncfleet",
        ] {
            let mut s = spec(TokenPlacement::None);
            s.binary_path = bad.into();
            let e = systemd().render_service(&s).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn newlines_are_refused() {
        let mut s = spec(TokenPlacement::None);
        s.workspace_root = "/a\nb".into();
        assert_eq!(
            systemd().render_service(&s).unwrap_err().code,
            crate::error::ErrorCode::InvalidArgument
        );
    }
}
