//! `syncfleet install`: render the scheduler artifacts for the workspace,
//! run the doctor pre-flight, write env file and artifacts, activate, and
//! only then write the manifest. Idempotent; transactional; `--dry-run`
//! writes and runs nothing.

use crate::batch::{self, Batch, OneOrMany};
use crate::cli::{CatchUpArg, InstallArgs, ProfileArg, SchedulerArg, TokenSourceArg};
use crate::commands::doctor;
use crate::config::{Profile, WorkspaceConfig};
use crate::context::Context;
use crate::doctor_checks::{Check, CheckStatus};
use crate::duration::{format_interval, parse_interval_with_min};
use crate::error::{Error, ErrorCode, Result};
use crate::fsutil;
use crate::identity::sanitize_service_name;
use crate::lock;
use crate::output::{Render, Ui, field, tilde};
use crate::runner::resolve_token;
use crate::schedule::{CalendarSchedule, CatchUp};
use crate::scheduler::{self, Artifact, Scheduler, SchedulerKind, ServiceSpec, TokenPlacement};
use crate::service::{self, identity_hash, installed};
use crate::store::manifest::{
    DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS, DEFAULT_MAX_TRANSIENT_FAILURES, Manifest,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct InstallReport {
    pub platform: String,
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub workspace_root: String,
    pub config_path: String,
    pub interval_seconds: u64,
    pub profile: String,
    pub binary_path: String,
    pub service_files: Vec<String>,
    pub sync_command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env_var: Option<String>,
    pub token_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    pub no_change: bool,
    /// A calendar service's schedule (absent: it runs every `interval_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarSchedule>,
    /// When the scheduler first runs the service.
    pub first_run: String,
    /// The same as an RFC 3339 instant, when it is one: as the scheduler
    /// reports it after activation, else computed from the schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_run_iso: Option<String>,
    /// What differs from the previous install (empty on a first install).
    pub changes: Vec<String>,
    /// The same, with the old and new value of each changed setting.
    pub changed: Vec<Change>,
    pub dry_run: bool,
    /// Dry run only: the artifacts as they would be written (tokens redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered: Option<Vec<Artifact>>,
    /// Dry run only: the commands that would run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_commands: Option<Vec<String>>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    home: PathBuf,
}

impl Render for InstallReport {
    fn batch_line(&self, ui: &Ui) -> Option<String> {
        let what = if self.dry_run {
            ui.dim("would install")
        } else if self.no_change {
            ui.dim("unchanged")
        } else if self.changes.is_empty() {
            ui.green("installed")
        } else {
            ui.green("updated")
        };
        let first_run = if !self.dry_run && !self.no_change && self.changes.is_empty() {
            format!(" (first run {})", self.first_run)
        } else {
            String::new()
        };
        Some(format!(
            "{what} {} {}{first_run}",
            self.service_id,
            tilde(Path::new(&self.workspace_root), &self.home)
        ))
    }

    fn human(&self, ui: &Ui) -> String {
        crate::output::warn_all(&self.warnings);
        let title = if self.dry_run {
            "Dry run: nothing was written or executed."
        } else if self.no_change {
            "Service already installed; nothing changed."
        } else if self.changes.is_empty() {
            "Service installed:"
        } else {
            "Service updated:"
        };
        let mut out = format!("{}\n", ui.bold(title));
        self.human_fields(&mut out);
        if let Some(rendered) = &self.rendered {
            self.human_dry_run(ui, rendered, &mut out);
        } else if !self.no_change {
            // An update keeps the schedule going from the last run.
            let which = if self.changes.is_empty() {
                "First"
            } else {
                "Next"
            };
            out.push_str(&format!(
                "\n{which} run {}. Check it with: syncfleet status\n",
                self.first_run
            ));
            if self.token_env_var.is_some() {
                out.push_str(
                    "To rotate the token: export the new value and run syncfleet install again.\n",
                );
            }
        }
        out
    }
}

impl InstallReport {
    fn show(&self, path: &str) -> String {
        tilde(Path::new(path), &self.home)
    }

    /// What was installed: where, how often, which files and command.
    fn human_fields(&self, out: &mut String) {
        field(out, "Platform:", &self.platform);
        field(out, "Service ID:", &self.service_id);
        field(out, "Workspace:", &self.show(&self.workspace_root));
        match &self.calendar {
            Some(c) => field(
                out,
                "Schedule:",
                &format!("{} (catch-up {})", c.describe(), c.catch_up.as_str()),
            ),
            None => field(
                out,
                "Interval:",
                &format!(
                    "{} ({}s)",
                    format_interval(self.interval_seconds),
                    self.interval_seconds
                ),
            ),
        }
        field(out, "Profile:", &self.profile);
        field(out, "Binary:", &self.show(&self.binary_path));
        for f in &self.service_files {
            field(out, "File:", &self.show(f));
        }
        field(out, "Command:", &self.sync_command);
        field(out, "Token:", &self.token_description());
        if !self.changed.is_empty() && !self.dry_run {
            let described: Vec<String> = self.changed.iter().map(Change::describe).collect();
            field(out, "Changed:", &described.join(", "));
        }
    }

    /// Where the token lives, never its value.
    fn token_description(&self) -> String {
        match (&self.token_env_var, &self.token_file) {
            (Some(var), Some(file)) => format!("{var} stored in {} (0600)", self.show(file)),
            (Some(var), None) if self.token_source == "system_env" => {
                format!("{var} from your user environment (set it there)")
            }
            (Some(var), None) => format!("{var} embedded in the unit ({})", self.token_source),
            _ => "none needed".to_string(),
        }
    }

    /// The artifacts as they would be written, and the commands.
    fn human_dry_run(&self, ui: &Ui, rendered: &[Artifact], out: &mut String) {
        for a in rendered {
            out.push_str(&format!(
                "\n{}\n{}",
                ui.dim(&format!("# {}", a.path.display())),
                a.content
            ));
        }
        out.push_str(&format!("\n{}\n", ui.bold("Would run:")));
        for c in self.planned_commands.iter().flatten() {
            out.push_str(&format!("  {c}\n"));
        }
    }
}

fn profile_of(p: ProfileArg) -> Profile {
    match p {
        ProfileArg::Fast => Profile::Fast,
        ProfileArg::Balanced => Profile::Balanced,
        ProfileArg::Full => Profile::Full,
    }
}

fn scheduler_kind_of(arg: SchedulerArg) -> SchedulerKind {
    match arg {
        SchedulerArg::Systemd => SchedulerKind::Systemd,
        SchedulerArg::Launchd => SchedulerKind::Launchd,
        SchedulerArg::Schtasks => SchedulerKind::Schtasks,
        SchedulerArg::Cron => SchedulerKind::Cron,
    }
}

/// The interval a first install gets when `--interval` is not given.
const DEFAULT_INTERVAL_SECONDS: u64 = 30 * 60;

/// The settings the flags ask for. `None` keeps what is installed (the
/// default on a first install): a reinstall never resets a setting that
/// no flag names.
struct Requested {
    interval_seconds: Option<u64>,
    /// `--at`, as given (empty: not given).
    at: Vec<String>,
    timezone: Option<String>,
    catch_up: Option<CatchUp>,
    profile: Option<Profile>,
    scheduler: Option<SchedulerKind>,
    token_source: Option<TokenSourceArg>,
}

impl Requested {
    fn from_args(args: &InstallArgs) -> Result<Requested> {
        // SYNCFLEET_E2E_SHORT_INTERVALS=1 allows 1m..4m so the end-to-end
        // tests see a real scheduler fire within a minute; not for
        // production use.
        let min_interval = if std::env::var("SYNCFLEET_E2E_SHORT_INTERVALS").as_deref() == Ok("1") {
            60
        } else {
            300
        };
        let interval_seconds = args
            .interval
            .as_deref()
            .map(|text| {
                parse_interval_with_min(text, min_interval).map_err(|e| {
                    Error::invalid_argument(format!("--interval: {e}")).with_suggestion(
                        "Use a whole number of minutes or hours between 5m and 24h, e.g. --interval 15m.",
                    )
                })
            })
            .transpose()?;
        Ok(Requested {
            interval_seconds,
            at: args.at.clone(),
            timezone: args.timezone.clone(),
            catch_up: args.catch_up.map(|c| match c {
                CatchUpArg::Latest => CatchUp::Latest,
                CatchUpArg::None => CatchUp::None,
            }),
            profile: args.profile.map(profile_of),
            scheduler: args.scheduler.map(scheduler_kind_of),
            token_source: args.token_source,
        })
    }
}

/// One service's settings: a flag wins, then what is installed, then the
/// default.
#[derive(Debug, Clone)]
struct Settings {
    /// The interval, or the calendar's period.
    interval_seconds: u64,
    calendar: Option<CalendarSchedule>,
    profile: Profile,
    kind: SchedulerKind,
    token_source: TokenSourceArg,
}

impl Settings {
    fn resolve(
        requested: &Requested,
        installed: Option<&Manifest>,
        now: DateTime<Utc>,
    ) -> Result<Settings> {
        let corrupt = |what: &str, value: &str| {
            Error::new(
                ErrorCode::ServiceCorruptState,
                format!("the installed manifest has an unknown {what} '{value}'"),
            )
            .with_suggestion(format!(
                "Give it explicitly (e.g. --{what} ...) to overwrite the installed value."
            ))
        };
        let kind = match (requested.scheduler, installed) {
            (Some(kind), _) => kind,
            (None, Some(m)) => {
                SchedulerKind::parse(&m.platform).map_err(|_| corrupt("scheduler", &m.platform))?
            }
            (None, None) => SchedulerKind::default_for_os()?,
        };
        let profile = match (requested.profile, installed) {
            (Some(profile), _) => profile,
            (None, Some(m)) => {
                Profile::parse(&m.profile).map_err(|_| corrupt("profile", &m.profile))?
            }
            (None, None) => Profile::Balanced,
        };
        let token_source = match (requested.token_source, installed) {
            (Some(source), _) => source,
            (None, Some(m)) if m.token_source == TokenPlacement::EMBEDDED => {
                TokenSourceArg::Embedded
            }
            // env_file, and system_env: a scheduler that cannot hold a
            // file (schtasks) takes the env-file wish as its own placement.
            (None, _) => TokenSourceArg::EnvFile,
        };
        let calendar = Self::calendar(requested, installed, now)?;
        let interval_seconds = match &calendar {
            Some(c) => c.period_seconds(now),
            None => requested
                .interval_seconds
                .or(installed
                    .filter(|m| m.calendar.is_none())
                    .map(|m| m.interval_seconds))
                .unwrap_or(DEFAULT_INTERVAL_SECONDS),
        };
        Ok(Settings {
            interval_seconds,
            calendar,
            profile,
            kind,
            token_source,
        })
    }
}

impl Settings {
    /// The calendar the service runs on, if any: `--interval` switches to
    /// an interval; `--at` sets the expressions (in `--timezone`, else the
    /// installed zone); without either, the installed calendar stays, with
    /// the zone and catch-up a flag names.
    fn calendar(
        requested: &Requested,
        installed: Option<&Manifest>,
        now: DateTime<Utc>,
    ) -> Result<Option<CalendarSchedule>> {
        if requested.interval_seconds.is_some() {
            return Ok(None);
        }
        let installed = installed.and_then(|m| m.calendar.as_ref());
        let catch_up = requested
            .catch_up
            .or(installed.map(|c| c.catch_up))
            .unwrap_or_default();
        if !requested.at.is_empty() {
            let parsed = CalendarSchedule::parse(
                &requested.at,
                requested.timezone.as_deref(),
                catch_up,
                now,
            )?;
            // No zone given or named: the zone installed before stays.
            return match installed.and_then(|c| c.timezone.as_deref()) {
                Some(tz) if requested.timezone.is_none() && parsed.timezone.is_none() => {
                    CalendarSchedule::parse(&requested.at, Some(tz), catch_up, now).map(Some)
                }
                _ => Ok(Some(parsed)),
            };
        }
        match installed {
            Some(c) => {
                let timezone = requested.timezone.as_deref().or(c.timezone.as_deref());
                CalendarSchedule::parse(&c.at, timezone, catch_up, now).map(Some)
            }
            None if requested.timezone.is_some() || requested.catch_up.is_some() => {
                Err(Error::invalid_argument(
                    "--timezone and --catch-up apply to calendar schedules, and this service runs on an interval",
                )
                .with_suggestion("Add --at SPEC (e.g. --at 'Mon..Fri 09:30') to schedule it on a calendar."))
            }
            None => Ok(None),
        }
    }
}

/// Upper bound of one run: every stage twice (the in-run retry) plus the
/// retry delays, plus a margin. The scheduler kills a run past this.
fn run_timeout_seconds(config: &WorkspaceConfig, profile: Profile) -> u64 {
    let stages_ms: u64 = config
        .stages_for(profile)
        .map(|s| {
            s.timeout_ms * if s.optional { 1 } else { 2 }
                + if s.optional {
                    0
                } else {
                    config.retry_delay_ms.1
                }
        })
        .sum();
    stages_ms.div_ceil(1000) + 120
}

fn canonical_binary() -> Result<PathBuf> {
    std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Error::service_error(format!("cannot resolve the syncfleet binary path: {e}")))
}

/// Stage env file content, quoted so that systemd reads back exactly the
/// token (see `envfile`); refuses values an env file cannot hold.
fn env_file_content(var: &str, value: &str) -> Result<String> {
    crate::envfile::render(var, value)
}

/// The file-level plan of an install, before anything is written.
struct Plan {
    manifest: Manifest,
    /// The scheduler the service is installed on.
    backend: Box<dyn Scheduler>,
    artifacts: Vec<Artifact>,
    env_file: Option<(PathBuf, String)>,
    changes: Vec<Change>,
    no_change: bool,
    /// A scheduler switch: the schedule to remove once the new one is active.
    retire: Option<Retire>,
    /// The service was installed before: its schedule goes on.
    is_update: bool,
}

/// What every workspace of an install shares: the binary, and each
/// scheduler's pre-flight checked once however many services use it.
struct Preflight {
    binary: PathBuf,
    /// Per scheduler: the warnings, or the error that stops its installs.
    checked: Vec<(SchedulerKind, Result<Vec<String>>)>,
}

impl Preflight {
    fn new() -> Result<Preflight> {
        Ok(Preflight {
            binary: canonical_binary()?,
            checked: Vec::new(),
        })
    }

    /// The doctor's environment checks for one scheduler: any failure
    /// aborts its installs, warnings are reported.
    fn check(&mut self, ctx: &Context, backend: &dyn Scheduler) -> Result<Vec<String>> {
        let kind = backend.kind();
        if let Some((_, done)) = self.checked.iter().find(|(k, _)| *k == kind) {
            return done.clone();
        }
        let checks = doctor::environment_checks(ctx, backend, &self.binary);
        let failures: Vec<&Check> = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .collect();
        let outcome = if failures.is_empty() {
            Ok(checks
                .iter()
                .filter(|c| c.status == CheckStatus::Warn)
                .filter_map(|c| c.message.clone())
                .collect())
        } else {
            let detail = failures
                .iter()
                .map(|c| format!("{}: {}", c.name, c.message.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ");
            let action = failures
                .iter()
                .find_map(|c| c.action.clone())
                .unwrap_or_else(|| "Run syncfleet doctor for details.".into());
            Err(Error::new(
                ErrorCode::DoctorFailed,
                format!("pre-flight checks failed: {detail}"),
            )
            .with_suggestion(action)
            .with_actions(["syncfleet doctor"]))
        };
        self.checked.push((kind, outcome.clone()));
        outcome
    }
}

/// Who a workspace's service is: its id, its `--name` (if any) and its
/// identity hash.
#[derive(Debug, Clone)]
struct Identity {
    id: String,
    name: Option<String>,
    hash: String,
}

/// A workspace's identity. `--name` wins; without it, an installed
/// service of this workspace keeps its id and name (a reinstall must not
/// need the flag again); a first install takes the config's `name`, else
/// the hash.
fn identify(args: &InstallArgs, config: &WorkspaceConfig, fleet: &[Manifest]) -> Result<Identity> {
    let hash = identity_hash(config);
    let sanitize = |n: &str| {
        sanitize_service_name(n).map_err(|e| Error::invalid_argument(format!("--name: {e}")))
    };
    if let Some(name) = &args.name {
        let name = sanitize(name)?;
        return Ok(Identity {
            id: name.clone(),
            name: Some(name),
            hash,
        });
    }
    if let Some(m) = fleet.iter().find(|m| m.identity_hash == hash) {
        return Ok(Identity {
            id: m.service_id.clone(),
            name: m.name.clone(),
            hash,
        });
    }
    let name = config.name.as_deref().map(sanitize).transpose()?;
    Ok(Identity {
        id: name.clone().unwrap_or_else(|| hash.clone()),
        name,
        hash,
    })
}

/// Installs of the fleet take turns: which names and workspaces are taken
/// is checked and claimed under this lock, so two parallel installs that
/// claim one name (or one workspace under two names) end with one service
/// and one NAME_CONFLICT.
fn fleet_install_lock(ctx: &Context) -> Result<lock::LockGuard> {
    fsutil::create_private_dir(ctx.data_dir.root())
        .map_err(|e| Error::io("create", ctx.data_dir.root(), e))?;
    lock::acquire_within(
        &ctx.data_dir.locks_dir().join("install.lock"),
        Duration::from_secs(60),
        "the fleet's installs",
        ctx.clock(),
    )
}

/// Render and plan one workspace's install, writing nothing.
fn prepare(
    ctx: &Context,
    args: &InstallArgs,
    requested: &Requested,
    preflight: &mut Preflight,
    config: &WorkspaceConfig,
    identity: Identity,
) -> Result<(InstallReport, Plan)> {
    let id = identity.id.clone();
    let existing = Manifest::read(&ctx.data_dir.manifest_path(&id))?;
    let now = DateTime::from_timestamp_millis(ctx.now_ms()).unwrap_or_default();
    let settings = Settings::resolve(requested, existing.as_ref(), now)?;
    let backend = scheduler::backend(settings.kind, &ctx.env);
    // The token first: a missing token is the likelier, cheaper failure.
    let token = resolve_token(ctx, &id, config.token_env_var.as_deref())?;
    let mut warnings = preflight.check(ctx, backend.as_ref())?;
    warnings.extend(
        token
            .as_ref()
            .and_then(|(var, value)| crate::redact::short_secret_warning(var, value)),
    );
    warnings.extend(
        args.name
            .as_deref()
            .or(config.name.as_deref())
            .and_then(crate::identity::rename_note),
    );
    let placement = place_token(ctx, &id, backend.as_ref(), &settings, &token, &mut warnings);
    crate::doctor_checks::require_stage_commands(config, settings.profile)?;
    let spec = ServiceSpec {
        service_id: id.clone(),
        binary_path: preflight.binary.clone(),
        data_dir: ctx.data_dir.root().to_path_buf(),
        workspace_root: config.root.clone(),
        interval_seconds: settings.interval_seconds,
        calendar: settings.calendar.clone(),
        run_timeout_seconds: run_timeout_seconds(config, settings.profile),
        token: placement,
        stdout_log: ctx.data_dir.scheduler_log_path(&id, "stdout"),
        stderr_log: ctx.data_dir.scheduler_log_path(&id, "stderr"),
    };
    let mut artifacts = backend.render(&spec)?;
    if matches!(spec.token, TokenPlacement::Embedded { .. }) {
        for a in &mut artifacts {
            a.mode = 0o600;
        }
    }
    let input = PlanInput {
        backend,
        config,
        spec: &spec,
        identity,
        settings,
        artifacts,
        token: &token,
        existing,
    };
    let plan = plan(ctx, input)?;
    let mut report = InstallReport::of_plan(ctx, &plan, &spec, config, &preflight.binary);
    report.dry_run = args.dry_run;
    report.warnings = warnings;
    if args.dry_run {
        preview(&mut report, &plan, &spec)?;
    }
    Ok((report, plan))
}

/// Where the scheduler keeps the token: the `--token-source` wish as the
/// backend can hold it, with a warning for the placements that need one.
fn place_token(
    ctx: &Context,
    id: &str,
    backend: &dyn Scheduler,
    settings: &Settings,
    token: &Option<(String, String)>,
    warnings: &mut Vec<String>,
) -> TokenPlacement {
    let wanted = match (token, settings.token_source) {
        (None, _) => TokenPlacement::None,
        (Some((var, _)), TokenSourceArg::EnvFile) => TokenPlacement::EnvFile {
            var: var.clone(),
            path: ctx.data_dir.env_path(id),
        },
        (Some((var, value)), TokenSourceArg::Embedded) => {
            warnings.push(format!("--token-source embedded writes {var} into the unit file (mode 0600); prefer the default env-file"));
            TokenPlacement::Embedded {
                var: var.clone(),
                value: value.clone(),
            }
        }
    };
    let placement = backend.token_placement(wanted);
    if let TokenPlacement::SystemEnv { var } = &placement {
        warnings.push(format!(
            "{} runs with your user environment: set {var} there for scheduled runs (Windows: setx {var} <value>, then sign out and in)",
            settings.kind.as_str()
        ));
    }
    placement
}

impl InstallReport {
    /// The report of a planned install (not a dry run, no warnings yet).
    fn of_plan(
        ctx: &Context,
        plan: &Plan,
        spec: &ServiceSpec,
        config: &WorkspaceConfig,
        binary: &Path,
    ) -> InstallReport {
        let m = &plan.manifest;
        let token_file = matches!(spec.token, TokenPlacement::EnvFile { .. })
            .then(|| ctx.data_dir.env_path(&m.service_id).display().to_string());
        InstallReport {
            platform: m.platform.clone(),
            service_id: m.service_id.clone(),
            name: m.name.clone(),
            workspace_root: m.workspace_root.clone(),
            config_path: m.config_path.clone(),
            interval_seconds: spec.interval_seconds,
            profile: m.profile.clone(),
            binary_path: binary.display().to_string(),
            service_files: m.service_files.clone(),
            sync_command: m.sync_command.clone(),
            token_env_var: config.token_env_var.clone(),
            token_source: m.token_source.clone(),
            token_file,
            no_change: plan.no_change,
            calendar: spec.calendar.clone(),
            first_run_iso: None,
            first_run: if spec.calendar.is_some() {
                String::new()
            } else if plan.is_update
                && m.platform == "systemd"
                && !plan
                    .changes
                    .iter()
                    .any(|c| c.what == "interval" || c.what == "schedule")
            {
                // The timer keeps counting from the last run.
                format!(
                    "on the schedule it already has: every {} after the previous run ends",
                    format_interval(spec.interval_seconds)
                )
            } else {
                plan.backend.first_run(spec)
            },
            changes: plan.changes.iter().map(|c| c.what.clone()).collect(),
            changed: plan.changes.clone(),
            dry_run: false,
            rendered: None,
            planned_commands: None,
            warnings: Vec::new(),
            home: ctx.env.home.clone(),
        }
        .with_calendar_first_run(ctx, m)
    }

    /// A calendar service's first run: its next slot, with the offset
    /// syncfleet rendered (systemd's own spread is known only once the
    /// timer is active: `settle_first_run`).
    fn with_calendar_first_run(mut self, ctx: &Context, m: &Manifest) -> InstallReport {
        if let Some(c) = &m.calendar {
            let next = crate::schedule::computed_next_run_ms(m, None, ctx.now_ms());
            self.first_run_iso = next.map(crate::output::iso_ms);
            self.first_run = match &self.first_run_iso {
                Some(at) => format!("at {at} (the next slot of {})", c.describe()),
                None => format!("at the next slot of {}", c.describe()),
            };
        }
        self
    }

    /// After activation: the first run as the scheduler reports it, when
    /// it does (systemd's next elapse, its spread included).
    fn settle_first_run(&mut self, backend: &dyn Scheduler) {
        if self.calendar.is_none() {
            return;
        }
        if let Some(ms) = backend.state(&self.service_id).next_run_ms {
            let at = crate::output::iso_ms(ms);
            self.first_run = format!("at {at} (as {} reports it)", backend.kind().as_str());
            self.first_run_iso = Some(at);
        }
    }
}

/// `--dry-run`: what would be written and run. The artifacts are rendered
/// again with a placeholder token: an artifact holds the token quoted or
/// escaped (XML, sh, systemd), so searching for its raw text to redact
/// could miss it.
fn preview(report: &mut InstallReport, plan: &Plan, spec: &ServiceSpec) -> Result<()> {
    let id = spec.service_id.as_str();
    let mut shown = spec.clone();
    if let TokenPlacement::Embedded { var, .. } = &spec.token {
        shown.token = TokenPlacement::Embedded {
            var: var.clone(),
            value: "<redacted>".into(),
        };
    }
    report.rendered = Some(plan.backend.render(&shown)?);
    let mut commands = plan.backend.planned_commands(&[id]);
    if let Some(retire) = &plan.retire {
        commands.extend(retire.planned_commands(id));
    }
    report.planned_commands = Some(commands);
    Ok(())
}

/// The workspaces named by `--workspace` and `--workspaces-from`.
fn workspace_list(ctx: &Context, args: &InstallArgs) -> Result<Vec<PathBuf>> {
    let mut list: Vec<PathBuf> = args.workspaces.iter().map(|w| ctx.cwd.join(w)).collect();
    if let Some(from) = &args.workspaces_from {
        let text = if from.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| Error::io("read", Path::new("<stdin>"), e))?
        } else {
            let path = ctx.cwd.join(from);
            std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?
        };
        list.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| ctx.cwd.join(l)),
        );
    }
    Ok(list)
}

/// A workspace directory (or its syncfleet.json) to its config.
fn load_workspace(path: &Path) -> Result<WorkspaceConfig> {
    if path.is_dir() {
        WorkspaceConfig::load(&path.join(crate::config::CONFIG_FILE_NAME))
    } else {
        WorkspaceConfig::load(path)
    }
}

pub fn run(ctx: &Context, args: &InstallArgs) -> Result<OneOrMany<InstallReport>> {
    let workspaces = workspace_list(ctx, args)?;
    if args.workspaces_from.is_none() && workspaces.len() <= 1 {
        let config = match workspaces.first() {
            Some(w) => load_workspace(w)?,
            None => ctx.workspace()?,
        };
        return install_one(ctx, args, config).map(OneOrMany::One);
    }
    if args.name.is_some() {
        return Err(Error::invalid_argument(
            "--name names one service; it cannot apply to a batch of workspaces",
        )
        .with_suggestion("Set `name` in each workspace's syncfleet.json instead."));
    }
    install_batch(ctx, args, &workspaces).map(OneOrMany::Many)
}

fn install_one(
    ctx: &Context,
    args: &InstallArgs,
    config: WorkspaceConfig,
) -> Result<InstallReport> {
    let requested = Requested::from_args(args)?;
    let _fleet = if args.dry_run {
        None
    } else {
        Some(fleet_install_lock(ctx)?)
    };
    let fleet = installed(ctx);
    let identity = identify(args, &config, &fleet)?;
    check_collisions(&fleet, &identity)?;
    install_identified(ctx, args, &requested, config, identity)
}

/// `move`'s entry point: install the service of `existing` again for its
/// workspace's new place (`config`), keeping its id, its name and every
/// setting the manifest records (interval, profile, scheduler, token
/// source), through the same planning, writing, activation and recording
/// as `install`. The identity hash is the new place's. Refuses a place
/// that another service already has (NAME_CONFLICT).
pub fn reattach(
    ctx: &Context,
    existing: &Manifest,
    config: WorkspaceConfig,
) -> Result<InstallReport> {
    let _fleet = fleet_install_lock(ctx)?;
    let identity = Identity {
        id: existing.service_id.clone(),
        name: existing.name.clone(),
        hash: identity_hash(&config),
    };
    let others: Vec<Manifest> = installed(ctx)
        .into_iter()
        .filter(|m| m.service_id != identity.id)
        .collect();
    check_collisions(&others, &identity)?;
    let keep_everything = InstallArgs {
        workspaces: Vec::new(),
        workspaces_from: None,
        interval: None,
        at: Vec::new(),
        timezone: None,
        catch_up: None,
        profile: None,
        token_source: None,
        name: None,
        scheduler: None,
        dry_run: false,
    };
    let requested = Requested::from_args(&keep_everything)?;
    install_identified(ctx, &keep_everything, &requested, config, identity)
}

/// Install one workspace whose identity is settled and checked.
fn install_identified(
    ctx: &Context,
    args: &InstallArgs,
    requested: &Requested,
    config: WorkspaceConfig,
    identity: Identity,
) -> Result<InstallReport> {
    let _admin = if args.dry_run {
        None
    } else {
        Some(service::admin_lock(ctx, &identity.id)?)
    };
    let mut preflight = Preflight::new()?;
    let (mut report, plan) = prepare(ctx, args, requested, &mut preflight, &config, identity)?;
    if args.dry_run || plan.no_change {
        return Ok(report);
    }
    let written = write_files(ctx, &plan)?;
    let backend = plan.backend.as_ref();
    if let Err(e) = backend.activate(&[plan.manifest.service_id.as_str()]) {
        roll_back(&written);
        let _ = backend.reload();
        return Err(e);
    }
    retire_previous_schedule(ctx, &plan, &written)?;
    record(ctx, &plan)?;
    report.settle_first_run(backend);
    Ok(report)
}

/// A batch: each workspace is planned and its files written, then each
/// scheduler is activated once for all of its services (one daemon-reload),
/// then each manifest is recorded. A failing workspace is reported and
/// skipped.
fn install_batch(
    ctx: &Context,
    args: &InstallArgs,
    workspaces: &[PathBuf],
) -> Result<Batch<InstallReport>> {
    let requested = Requested::from_args(args)?;
    let _fleet = if args.dry_run {
        None
    } else {
        Some(fleet_install_lock(ctx)?)
    };
    let mut preflight = Preflight::new()?;
    let mut known = installed(ctx);
    let mut results: Vec<(String, Result<InstallReport>)> = Vec::new();
    // Written but not yet activated: (index in results, plan, rollback).
    let mut staged: Vec<(usize, Plan, Written)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let bar = batch::progress(&ctx.ui, workspaces.len(), "install");
    for ws in workspaces {
        bar.inc(1);
        let one = (|| {
            let config = load_workspace(ws)?;
            let identity = identify(args, &config, &known)?;
            if !seen.insert(identity.id.clone()) {
                return Err(Error::invalid_argument(format!(
                    "workspace {} is listed more than once in this batch",
                    config.root.display()
                )));
            }
            check_collisions(&known, &identity)?;
            let _admin = if args.dry_run {
                None
            } else {
                Some(service::admin_lock(ctx, &identity.id)?)
            };
            let (report, plan) = prepare(ctx, args, &requested, &mut preflight, &config, identity)?;
            if args.dry_run || plan.no_change {
                return Ok((report, None));
            }
            let written = write_files(ctx, &plan)?;
            Ok((report, Some((plan, written))))
        })();
        let target = ws.display().to_string();
        match one {
            Ok((report, Some((plan, written)))) => {
                known.push(plan.manifest.clone());
                staged.push((results.len(), plan, written));
                results.push((target, Ok(report)));
            }
            Ok((report, None)) => results.push((target, Ok(report))),
            Err(e) => results.push((target, Err(e))),
        }
    }
    bar.finish_and_clear();
    let failed = activate_staged(&staged);
    let mut rolled_back = Vec::new();
    for (i, plan, written) in &staged {
        let outcome = match failed.get(&plan.manifest.service_id) {
            Some(e) => {
                roll_back(written);
                rolled_back.push(plan.backend.kind());
                Err(e.clone())
            }
            None => retire_previous_schedule(ctx, plan, written).and_then(|()| record(ctx, plan)),
        };
        match outcome {
            Err(e) => results[*i].1 = Err(e),
            Ok(()) => {
                if let Ok(report) = &mut results[*i].1 {
                    report.settle_first_run(plan.backend.as_ref());
                }
            }
        }
    }
    rolled_back.sort();
    rolled_back.dedup();
    for kind in rolled_back {
        let _ = scheduler::backend(kind, &ctx.env).reload();
    }
    let mut out = Batch::new();
    for (target, r) in results {
        out.push(target, r);
    }
    Ok(out)
}

/// Activate each scheduler once for all of its staged services; the
/// services whose activation failed, with why.
fn activate_staged(staged: &[(usize, Plan, Written)]) -> std::collections::HashMap<String, Error> {
    let mut failed = std::collections::HashMap::new();
    for kind in SchedulerKind::ALL {
        let of_kind: Vec<&Plan> = staged
            .iter()
            .map(|(_, plan, _)| plan)
            .filter(|plan| plan.backend.kind() == kind)
            .collect();
        let Some(first) = of_kind.first() else {
            continue;
        };
        let backend = first.backend.as_ref();
        let ids: Vec<&str> = of_kind
            .iter()
            .map(|p| p.manifest.service_id.as_str())
            .collect();
        if backend.activate(&ids).is_err() {
            // Find the culprits one by one: only this error path pays for
            // more than one reload.
            for id in ids {
                if let Err(e) = backend.activate(&[id]) {
                    failed.insert(id.to_string(), e);
                }
            }
        }
    }
    failed
}

/// After a scheduler switch is active: take the service off the scheduler
/// it leaves, so that exactly one schedule exists. When that fails, the new
/// schedule is undone instead, and the service stays where it was.
fn retire_previous_schedule(ctx: &Context, plan: &Plan, written: &Written) -> Result<()> {
    let Some(retire) = &plan.retire else {
        return Ok(());
    };
    let id = plan.manifest.service_id.as_str();
    if let Err(e) = retire.remove(&ctx.env, id) {
        let backend = plan.backend.as_ref();
        let _ = backend.deactivate(id);
        roll_back(written);
        let _ = backend.reload();
        return Err(e.with_suggestion(format!(
            "The service stays on {}. Fix the cause, then rerun the install with --scheduler {}.",
            retire.kind.as_str(),
            backend.kind().as_str()
        )));
    }
    Ok(())
}

fn check_collisions(installed: &[Manifest], identity: &Identity) -> Result<()> {
    let (id, hash) = (identity.id.as_str(), identity.hash.as_str());
    for m in installed {
        if m.service_id == id && m.identity_hash != hash {
            return Err(Error::new(
                ErrorCode::NameConflict,
                format!("the name '{id}' is taken by the service of another workspace ({})", m.workspace_root),
            )
            .with_suggestion("Choose another --name, or uninstall that service first: syncfleet uninstall --service ".to_string() + id)
            .with_actions(["syncfleet list"]));
        }
        if m.identity_hash == hash && m.service_id != id {
            return Err(Error::new(
                ErrorCode::NameConflict,
                format!("this workspace is already installed as service '{}'", m.service_id),
            )
            .with_suggestion(format!(
                "Keep its id (rerun without --name), or uninstall it first: syncfleet uninstall --service {}",
                m.service_id
            ))
            .with_actions(["syncfleet list"]));
        }
    }
    Ok(())
}

/// One changed setting of a reinstall, with its old and new value where a
/// person can read them (never the token).
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl Change {
    fn setting(what: &str, from: String, to: String) -> Change {
        Change {
            what: what.to_string(),
            from: Some(from),
            to: Some(to),
        }
    }

    fn event(what: &str) -> Change {
        Change {
            what: what.to_string(),
            from: None,
            to: None,
        }
    }

    fn describe(&self) -> String {
        match (&self.from, &self.to) {
            (Some(from), Some(to)) => format!("{} ({from} → {to})", self.what),
            _ => self.what.clone(),
        }
    }
}

/// The schedule a scheduler switch leaves: removed once the new one is
/// active.
struct Retire {
    kind: SchedulerKind,
    /// Its files that the new schedule does not reuse.
    files: Vec<PathBuf>,
}

impl Retire {
    fn of(existing: &Manifest, kind_now: SchedulerKind, keep: &[Artifact]) -> Option<Retire> {
        let old_kind = SchedulerKind::parse(&existing.platform).ok()?;
        if old_kind == kind_now {
            return None;
        }
        // The old backend's own artifacts go through its removal; these are
        // what else the manifest lists (a wrapper) that the new one does
        // not reuse.
        let mut files: Vec<PathBuf> = existing
            .service_files
            .iter()
            .map(PathBuf::from)
            .filter(|f| !keep.iter().any(|a| &a.path == f))
            .collect();
        files.sort();
        files.dedup();
        Some(Retire {
            kind: old_kind,
            files,
        })
    }

    fn planned_commands(&self, id: &str) -> Vec<String> {
        let mut commands = vec![format!("disable service {id} on {}", self.kind.as_str())];
        commands.extend(self.files.iter().map(|f| format!("rm {}", f.display())));
        commands.push(format!("reload {}", self.kind.as_str()));
        commands
    }

    /// Take the service off the old scheduler through the backend's own
    /// removal, then remove the rest of its files (a wrapper the new
    /// schedule does not reuse) and make the old scheduler forget them. A
    /// schedule that could not be stopped is an error: the switch undoes
    /// itself.
    fn remove(&self, env: &crate::paths::Env, id: &str) -> Result<()> {
        let old = scheduler::backend(self.kind, env);
        let removal = old.remove_artifacts(id)?;
        if let Some(warning) = removal.warnings.into_iter().next() {
            return Err(Error::service_error(warning));
        }
        for f in &self.files {
            fsutil::remove_if_exists(f).map_err(|e| Error::io("remove", f, e))?;
        }
        old.reload()
    }
}

/// What `plan` needs to know about one workspace's install.
struct PlanInput<'a> {
    backend: Box<dyn Scheduler>,
    config: &'a WorkspaceConfig,
    spec: &'a ServiceSpec,
    identity: Identity,
    settings: Settings,
    artifacts: Vec<Artifact>,
    token: &'a Option<(String, String)>,
    existing: Option<Manifest>,
}

fn plan(ctx: &Context, input: PlanInput) -> Result<Plan> {
    let PlanInput {
        backend,
        config,
        spec,
        identity,
        settings,
        artifacts,
        token,
        existing,
    } = input;
    let now = ctx.now_iso();
    let id = identity.id.clone();
    let manifest = Manifest {
        schema_version: <Manifest as crate::store::Versioned>::CURRENT_VERSION,
        service_id: id.clone(),
        identity_hash: identity.hash,
        name: identity.name,
        workspace_root: config.root.display().to_string(),
        config_path: config.path.display().to_string(),
        project_urls: config.projects.clone(),
        tags: config.tags.clone(),
        lock_group: config.lock_group.clone().unwrap_or_else(|| id.clone()),
        installed_at_iso: existing
            .as_ref()
            .map(|m| m.installed_at_iso.clone())
            .unwrap_or_else(|| now.clone()),
        updated_at_iso: now,
        platform: settings.kind.as_str().to_string(),
        interval_seconds: spec.interval_seconds,
        calendar: spec.calendar.clone(),
        profile: settings.profile.to_string(),
        binary_path: spec.binary_path.display().to_string(),
        data_dir: spec.data_dir.display().to_string(),
        token_source: spec.token.source_name().to_string(),
        token_env_var: config.token_env_var.clone(),
        service_files: artifacts
            .iter()
            .map(|a| a.path.display().to_string())
            .collect(),
        sync_command: spec.sync_command(),
        max_transient_failures: DEFAULT_MAX_TRANSIENT_FAILURES,
        circuit_breaker_cooldown_seconds: DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS,
        spec_hash: scheduler::spec_hash(&artifacts),
        stage_path: std::env::var("PATH").ok().filter(|p| !p.is_empty()),
    };
    let env_file = match (&spec.token, token) {
        (TokenPlacement::EnvFile { var, path }, Some((_, value))) => {
            Some((path.clone(), env_file_content(var, value)?))
        }
        _ => None,
    };
    let (changes, retire) = match &existing {
        Some(old) => (
            changes_from(old, &manifest, backend.as_ref(), spec, env_file.as_ref()),
            Retire::of(old, settings.kind, &artifacts),
        ),
        None => (Vec::new(), None),
    };
    let no_change = existing.is_some() && changes.is_empty();
    // A switch starts a new schedule on the new scheduler.
    let is_update = existing.is_some() && retire.is_none();
    Ok(Plan {
        is_update,
        manifest,
        backend,
        artifacts,
        env_file,
        changes,
        no_change,
        retire,
    })
}

/// What a reinstall changes, settings first (with their values), then what
/// it repairs.
fn changes_from(
    old: &Manifest,
    new: &Manifest,
    backend: &dyn Scheduler,
    spec: &ServiceSpec,
    env_file: Option<&(PathBuf, String)>,
) -> Vec<Change> {
    let id = new.service_id.as_str();
    let mut changes = setting_changes(old, new);
    let event = |changes: &mut Vec<Change>, what: &str, happened: bool| {
        if happened {
            changes.push(Change::event(what));
        }
    };
    let settings_changed = !changes.is_empty();
    event(
        &mut changes,
        "scheduler artifacts",
        !settings_changed && old.spec_hash != new.spec_hash,
    );
    let old_files: Vec<PathBuf> = old.service_files.iter().map(PathBuf::from).collect();
    let on_disk = scheduler::installed_hash(backend, &old_files);
    event(
        &mut changes,
        "repaired drifted artifacts",
        old.spec_hash == new.spec_hash && on_disk.as_deref() != Some(new.spec_hash.as_str()),
    );
    // A scheduler that keeps the command itself (schtasks) can drift
    // with every file intact.
    let in_sync = changes.is_empty();
    event(
        &mut changes,
        "repaired the scheduled command",
        in_sync && backend.installed_command(id) != Some(spec.run_argv()),
    );
    if let Some((path, content)) = env_file {
        let current = std::fs::read(path).ok();
        event(
            &mut changes,
            "token",
            current.as_deref() != Some(content.as_bytes()),
        );
    }
    let unchanged = changes.is_empty();
    event(
        &mut changes,
        "re-enabled schedule",
        unchanged && !backend.state(id).loaded,
    );
    changes
}

/// The settings a reinstall changes, each with its old and new value,
/// and the identity and stage PATH changes.
fn setting_changes(old: &Manifest, new: &Manifest) -> Vec<Change> {
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let schedule = if old.calendar.is_none() && new.calendar.is_none() {
        (
            "interval",
            format_interval(old.interval_seconds),
            format_interval(new.interval_seconds),
        )
    } else {
        (
            "schedule",
            crate::schedule::describe(old.interval_seconds, old.calendar.as_ref()),
            crate::schedule::describe(new.interval_seconds, new.calendar.as_ref()),
        )
    };
    let catch_up = |m: &Manifest| {
        m.calendar
            .as_ref()
            .map_or("none", |c| c.catch_up.as_str())
            .to_string()
    };
    let settings = [
        schedule,
        ("catch_up", catch_up(old), catch_up(new)),
        ("profile", old.profile.clone(), new.profile.clone()),
        ("platform", old.platform.clone(), new.platform.clone()),
        (
            "token_source",
            old.token_source.clone(),
            new.token_source.clone(),
        ),
        (
            "token_env_var",
            or_none(&old.token_env_var),
            or_none(&new.token_env_var),
        ),
        (
            "binary_path",
            old.binary_path.clone(),
            new.binary_path.clone(),
        ),
        ("data_dir", old.data_dir.clone(), new.data_dir.clone()),
        ("lock_group", old.lock_group.clone(), new.lock_group.clone()),
        ("tags", old.tags.join(","), new.tags.join(",")),
        (
            "projects",
            old.project_urls.join(","),
            new.project_urls.join(","),
        ),
        // `move`: a scheduler whose files do not hold the path still
        // needs its manifest rewritten.
        (
            "workspace",
            old.workspace_root.clone(),
            new.workspace_root.clone(),
        ),
        (
            "config_path",
            old.config_path.clone(),
            new.config_path.clone(),
        ),
    ];
    let mut changes: Vec<Change> = settings
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(what, from, to)| Change::setting(what, from, to))
        .collect();
    if old.identity_hash != new.identity_hash && old.workspace_root == new.workspace_root {
        changes.push(Change::event("identity"));
    }
    // The PATH can be long: say that it changed, not what it was.
    if old.stage_path != new.stage_path {
        changes.push(Change::event("PATH for stages"));
    }
    changes
}

/// Files written by an install, each with its previous content and mode (a
/// wrapper script must go back to 0700, not the 0600 default).
type Written = Vec<(PathBuf, Option<(Vec<u8>, u32)>)>;

/// Write the env file, the artifacts and then the manifest, before the
/// scheduler is activated: a kill after activation then leaves a complete
/// service, and a kill before it a service that fires nothing (which
/// `install` completes and `uninstall` removes), never a schedule that
/// fires with no manifest. On failure, whatever was written goes back to
/// what it was and the error is returned; so does an activation failure.
fn write_files(ctx: &Context, plan: &Plan) -> Result<Written> {
    let id = &plan.manifest.service_id;
    let service_dir = ctx.data_dir.service_dir(id);
    fsutil::create_private_dir(&service_dir).map_err(|e| Error::io("create", &service_dir, e))?;
    let logs = ctx.data_dir.logs_dir(id);
    fsutil::create_private_dir(&logs).map_err(|e| Error::io("create", &logs, e))?;
    let mut written: Written = Vec::new();
    let mut write = |path: &Path, content: &[u8], mode: u32| -> Result<()> {
        let previous = fsutil::read_optional(path)
            .map_err(|e| Error::io("read", path, e))?
            .map(|bytes| (bytes, fsutil::mode_of(path).unwrap_or(0o600)));
        fsutil::write_atomic_mode(path, content, mode).map_err(|e| Error::io("write", path, e))?;
        written.push((path.to_path_buf(), previous));
        Ok(())
    };
    let result = (|| {
        if let Some((path, content)) = &plan.env_file {
            write(path, content.as_bytes(), 0o600)?;
        }
        for a in &plan.artifacts {
            write(&a.path, &plan.backend.file_bytes(a), a.mode)?;
        }
        let manifest = serde_json::to_string_pretty(&plan.manifest).map_err(|e| {
            Error::new(
                ErrorCode::InternalError,
                format!("serialize the manifest: {e}"),
            )
        })? + "\n";
        write(&ctx.data_dir.manifest_path(id), manifest.as_bytes(), 0o600)
    })();
    match result {
        Ok(()) => Ok(written),
        Err(e) => {
            roll_back(&written);
            Err(e)
        }
    }
}

/// Every written file back to what it was (removed if it was new).
fn roll_back(written: &Written) {
    for (path, previous) in written.iter().rev() {
        let _ = match previous {
            Some((bytes, mode)) => fsutil::write_atomic_mode(path, bytes, *mode),
            None => fsutil::remove_if_exists(path).map(|_| ()),
        };
    }
}

/// After activation: the registry learns of the service (best-effort; the
/// manifest is already written).
fn record(ctx: &Context, plan: &Plan) -> Result<()> {
    crate::index::installed(ctx, &plan.manifest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_rejects_control_characters() {
        assert_eq!(
            env_file_content("T", "a\nb").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            env_file_content("T", "a\rb").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            env_file_content("T", "a\0b").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            env_file_content("T", "tok&en<'$\"").unwrap(),
            "T=\"tok&en<'\\$\\\"\"\n"
        );
    }
}
