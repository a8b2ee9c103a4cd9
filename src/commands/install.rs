//! `syncfleet install`: render the scheduler artifacts for the workspace,
//! run the doctor pre-flight, write env file and artifacts, activate, and
//! only then write the manifest. Idempotent; transactional; `--dry-run`
//! writes and runs nothing.

use crate::batch::{self, Batch, OneOrMany};
use crate::cli::{InstallArgs, ProfileArg, SchedulerArg, TokenSourceArg};
use crate::commands::doctor;
use crate::config::{Profile, WorkspaceConfig};
use crate::context::Context;
use crate::doctor_checks::{Check, CheckStatus};
use crate::duration::{format_interval, parse_interval_with_min};
use crate::error::{Error, ErrorCode, Result};
use crate::fsutil;
use crate::identity::sanitize_service_name;
use crate::lock;
use crate::output::{Render, Ui, tilde};
use crate::runner::resolve_token;
use crate::scheduler::{self, Artifact, Scheduler, SchedulerKind, ServiceSpec, TokenPlacement};
use crate::service::{identity_hash, installed};
use crate::store::manifest::{
    DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS, DEFAULT_MAX_TRANSIENT_FAILURES, Manifest,
};
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
    /// When the scheduler first runs the service.
    pub first_run: String,
    /// What differs from the previous install (empty on a first install).
    pub changes: Vec<String>,
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
        Some(format!(
            "{what} {} {}",
            self.service_id,
            tilde(Path::new(&self.workspace_root), &self.home)
        ))
    }

    fn human(&self, ui: &Ui) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("{} {w}\n", ui.yellow("warning:")));
        }
        let title = if self.dry_run {
            "Dry run: nothing was written or executed."
        } else if self.no_change {
            "Service already installed; nothing changed."
        } else if self.changes.is_empty() {
            "Service installed:"
        } else {
            "Service updated:"
        };
        out.push_str(&format!("{}\n", ui.bold(title)));
        let field = |out: &mut String, k: &str, v: &str| out.push_str(&format!("  {k:<11} {v}\n"));
        field(&mut out, "Platform:", &self.platform);
        field(&mut out, "Service ID:", &self.service_id);
        field(
            &mut out,
            "Workspace:",
            &tilde(Path::new(&self.workspace_root), &self.home),
        );
        field(
            &mut out,
            "Interval:",
            &format!(
                "{} ({}s)",
                format_interval(self.interval_seconds),
                self.interval_seconds
            ),
        );
        field(&mut out, "Profile:", &self.profile);
        field(
            &mut out,
            "Binary:",
            &tilde(Path::new(&self.binary_path), &self.home),
        );
        for f in &self.service_files {
            field(&mut out, "File:", &tilde(Path::new(f), &self.home));
        }
        field(&mut out, "Command:", &self.sync_command);
        match (&self.token_env_var, &self.token_file) {
            (Some(var), Some(file)) => field(
                &mut out,
                "Token:",
                &format!(
                    "{var} stored in {} (0600)",
                    tilde(Path::new(file), &self.home)
                ),
            ),
            (Some(var), None) if self.token_source == "system_env" => field(
                &mut out,
                "Token:",
                &format!("{var} from your user environment (set it there)"),
            ),
            (Some(var), None) => field(
                &mut out,
                "Token:",
                &format!("{var} embedded in the unit ({})", self.token_source),
            ),
            _ => field(&mut out, "Token:", "none needed"),
        }
        if !self.changes.is_empty() && !self.dry_run {
            field(&mut out, "Changed:", &self.changes.join(", "));
        }
        if let Some(rendered) = &self.rendered {
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
        } else if !self.no_change {
            out.push_str(&format!(
                "\nFirst run {}. Check it with: syncfleet status\n",
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

fn profile_of(p: ProfileArg) -> Profile {
    match p {
        ProfileArg::Fast => Profile::Fast,
        ProfileArg::Balanced => Profile::Balanced,
        ProfileArg::Full => Profile::Full,
    }
}

pub fn scheduler_kind(arg: Option<SchedulerArg>) -> Result<SchedulerKind> {
    match arg {
        Some(SchedulerArg::Systemd) => Ok(SchedulerKind::Systemd),
        Some(SchedulerArg::Launchd) => Ok(SchedulerKind::Launchd),
        Some(SchedulerArg::Schtasks) => Ok(SchedulerKind::Schtasks),
        Some(SchedulerArg::Cron) => Ok(SchedulerKind::Cron),
        None => SchedulerKind::default_for_os(),
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

/// Stage env file content; refuses values an env file cannot hold.
fn env_file_content(var: &str, value: &str) -> Result<String> {
    if value.contains(['\0', '\n', '\r']) {
        return Err(Error::invalid_argument(format!(
            "{var} contains a NUL, CR or LF character, which an env file cannot hold safely"
        ))
        .with_suggestion("Remove the control characters from the token."));
    }
    Ok(format!("{var}={value}\n"))
}

/// The file-level plan of an install, before anything is written.
struct Plan {
    manifest: Manifest,
    artifacts: Vec<Artifact>,
    env_file: Option<(PathBuf, String)>,
    changes: Vec<String>,
    no_change: bool,
}

/// What every workspace of a batch shares, checked once: flags, backend,
/// binary, and the pre-flight environment checks.
struct Common {
    interval_seconds: u64,
    profile: Profile,
    kind: SchedulerKind,
    backend: Box<dyn Scheduler>,
    binary: PathBuf,
    warnings: Vec<String>,
}

fn common(ctx: &Context, args: &InstallArgs) -> Result<Common> {
    // SYNCFLEET_E2E_SHORT_INTERVALS=1 allows 1m..4m so the end-to-end tests
    // see a real scheduler fire within a minute; not for production use.
    let min_interval = if std::env::var("SYNCFLEET_E2E_SHORT_INTERVALS").as_deref() == Ok("1") {
        60
    } else {
        300
    };
    let interval_seconds = parse_interval_with_min(&args.interval, min_interval).map_err(|e| {
        Error::invalid_argument(format!("--interval: {e}")).with_suggestion(
            "Use a whole number of minutes or hours between 5m and 24h, e.g. --interval 15m.",
        )
    })?;
    let kind = scheduler_kind(args.scheduler)?;
    Ok(Common {
        interval_seconds,
        profile: profile_of(args.profile),
        kind,
        backend: scheduler::backend(kind, &ctx.env),
        binary: PathBuf::new(),
        warnings: Vec::new(),
    })
}

/// Pre-flight: the doctor's environment checks; any failure aborts.
fn preflight(ctx: &Context, common: &mut Common) -> Result<()> {
    common.binary = canonical_binary()?;
    let checks = doctor::environment_checks(ctx, common.backend.as_ref(), &common.binary);
    let failures: Vec<&Check> = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .collect();
    if !failures.is_empty() {
        let detail = failures
            .iter()
            .map(|c| format!("{}: {}", c.name, c.message.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("; ");
        let action = failures
            .iter()
            .find_map(|c| c.action.clone())
            .unwrap_or_else(|| "Run syncfleet doctor for details.".into());
        return Err(Error::new(
            ErrorCode::DoctorFailed,
            format!("pre-flight checks failed: {detail}"),
        )
        .with_suggestion(action)
        .with_actions(["syncfleet doctor"]));
    }
    common.warnings.extend(
        checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn)
            .filter_map(|c| c.message.clone()),
    );
    Ok(())
}

/// The service id, name and identity of a workspace.
fn identify(
    args: &InstallArgs,
    config: &WorkspaceConfig,
) -> Result<(String, Option<String>, String)> {
    let identity = identity_hash(config);
    let name = match args.name.as_deref().or(config.name.as_deref()) {
        Some(n) => Some(
            sanitize_service_name(n)
                .map_err(|e| Error::invalid_argument(format!("--name: {e}")))?,
        ),
        None => None,
    };
    let id = name.clone().unwrap_or_else(|| identity.clone());
    Ok((id, name, identity))
}

fn admin_lock(ctx: &Context, id: &str) -> Result<lock::LockGuard> {
    fsutil::create_private_dir(ctx.data_dir.root())
        .map_err(|e| Error::io("create", ctx.data_dir.root(), e))?;
    lock::acquire_within(
        &ctx.data_dir.admin_lock_path(id),
        Duration::from_secs(10),
        &format!("service {id}"),
    )
}

/// Render and plan one workspace's install, writing nothing.
fn prepare(
    ctx: &Context,
    args: &InstallArgs,
    common: &Common,
    config: &WorkspaceConfig,
    (id, name, identity): (String, Option<String>, String),
) -> Result<(InstallReport, Plan)> {
    let token = resolve_token(ctx, &id, config.token_env_var.as_deref())?;
    let mut warnings = common.warnings.clone();
    warnings.extend(
        args.name
            .as_deref()
            .or(config.name.as_deref())
            .and_then(crate::identity::rename_note),
    );
    let wanted = match (&token, args.token_source) {
        (None, _) => TokenPlacement::None,
        (Some((var, _)), TokenSourceArg::EnvFile) => TokenPlacement::EnvFile {
            var: var.clone(),
            path: ctx.data_dir.env_path(&id),
        },
        (Some((var, value)), TokenSourceArg::Embedded) => {
            warnings.push(format!("--token-source embedded writes {var} into the unit file (mode 0600); prefer the default env-file"));
            TokenPlacement::Embedded {
                var: var.clone(),
                value: value.clone(),
            }
        }
    };
    let backend = common.backend.as_ref();
    let token_placement = backend.token_placement(wanted);
    if let TokenPlacement::SystemEnv { var } = &token_placement {
        warnings.push(format!(
            "{} runs with your user environment: set {var} there for scheduled runs (Windows: setx {var} <value>, then sign out and in)",
            common.kind.as_str()
        ));
    }
    let profile = common.profile;
    let spec = ServiceSpec {
        service_id: id.clone(),
        binary_path: common.binary.clone(),
        data_dir: ctx.data_dir.root().to_path_buf(),
        workspace_root: config.root.clone(),
        interval_seconds: common.interval_seconds,
        run_timeout_seconds: run_timeout_seconds(config, profile),
        token: token_placement.clone(),
        stdout_log: ctx.data_dir.scheduler_log_path(&id, "stdout"),
        stderr_log: ctx.data_dir.scheduler_log_path(&id, "stderr"),
    };
    let mut artifacts = backend.render(&spec)?;
    if matches!(token_placement, TokenPlacement::Embedded { .. }) {
        for a in &mut artifacts {
            a.mode = 0o600;
        }
    }
    let plan = plan(
        ctx,
        backend,
        config,
        &spec,
        &id,
        name.clone(),
        identity,
        profile,
        artifacts,
        &token,
        &token_placement,
    )?;

    let token_file = matches!(token_placement, TokenPlacement::EnvFile { .. })
        .then(|| ctx.data_dir.env_path(&id).display().to_string());
    let mut report = InstallReport {
        platform: common.kind.as_str().to_string(),
        service_id: id.clone(),
        name,
        workspace_root: plan.manifest.workspace_root.clone(),
        config_path: plan.manifest.config_path.clone(),
        interval_seconds: common.interval_seconds,
        profile: profile.to_string(),
        binary_path: common.binary.display().to_string(),
        service_files: plan.manifest.service_files.clone(),
        sync_command: plan.manifest.sync_command.clone(),
        token_env_var: config.token_env_var.clone(),
        token_source: plan.manifest.token_source.clone(),
        token_file,
        no_change: plan.no_change,
        first_run: backend.first_run(common.interval_seconds),
        changes: plan.changes.clone(),
        dry_run: args.dry_run,
        rendered: None,
        planned_commands: None,
        warnings,
        home: ctx.env.home.clone(),
    };
    if args.dry_run {
        // Render again with a placeholder: an artifact holds the token
        // quoted or escaped (XML, sh, systemd), so searching for its raw
        // text to redact could miss it.
        let mut shown = spec.clone();
        if let TokenPlacement::Embedded { var, .. } = &spec.token {
            shown.token = TokenPlacement::Embedded {
                var: var.clone(),
                value: "<redacted>".into(),
            };
        }
        report.rendered = Some(backend.render(&shown)?);
        report.planned_commands = Some(backend.planned_commands(&[&id]));
    }
    Ok((report, plan))
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
    let mut common = common(ctx, args)?;
    let ids = identify(args, &config)?;
    check_collisions(&installed(ctx), &ids.0, &ids.2)?;
    let id = ids.0.clone();
    let _admin = if args.dry_run {
        None
    } else {
        Some(admin_lock(ctx, &id)?)
    };
    // The token first: a missing token is the likelier, cheaper failure.
    resolve_token(ctx, &id, config.token_env_var.as_deref())?;
    preflight(ctx, &mut common)?;
    let (report, plan) = prepare(ctx, args, &common, &config, ids)?;
    if args.dry_run || plan.no_change {
        return Ok(report);
    }
    let backend = common.backend.as_ref();
    let written = write_files(ctx, &plan)?;
    if let Err(e) = backend.activate(&[id.as_str()]) {
        roll_back(&written);
        let _ = backend.reload();
        return Err(e);
    }
    record(ctx, &plan)?;
    Ok(report)
}

/// A batch: each workspace is planned and its files written, then the
/// scheduler is activated once for all (one daemon-reload), then each
/// manifest is recorded. A failing workspace is reported and skipped.
fn install_batch(
    ctx: &Context,
    args: &InstallArgs,
    workspaces: &[PathBuf],
) -> Result<Batch<InstallReport>> {
    let mut common = common(ctx, args)?;
    preflight(ctx, &mut common)?;
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
            let ids = identify(args, &config)?;
            if !seen.insert(ids.0.clone()) {
                return Err(Error::invalid_argument(format!(
                    "workspace {} is listed more than once in this batch",
                    config.root.display()
                )));
            }
            check_collisions(&known, &ids.0, &ids.2)?;
            let _admin = if args.dry_run {
                None
            } else {
                Some(admin_lock(ctx, &ids.0)?)
            };
            let (report, plan) = prepare(ctx, args, &common, &config, ids)?;
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
    if !staged.is_empty() {
        let backend = common.backend.as_ref();
        let ids: Vec<&str> = staged
            .iter()
            .map(|(_, p, _)| p.manifest.service_id.as_str())
            .collect();
        let failed_ids: std::collections::HashMap<String, Error> = match backend.activate(&ids) {
            Ok(()) => Default::default(),
            // Find the culprits one by one: only this error path pays for
            // more than one reload.
            Err(_) => staged
                .iter()
                .filter_map(|(_, p, _)| {
                    let id = p.manifest.service_id.as_str();
                    backend.activate(&[id]).err().map(|e| (id.to_string(), e))
                })
                .collect(),
        };
        let mut rolled_back = false;
        for (i, plan, written) in &staged {
            let outcome = match failed_ids.get(&plan.manifest.service_id) {
                Some(e) => {
                    roll_back(written);
                    rolled_back = true;
                    Err(e.clone())
                }
                None => record(ctx, plan),
            };
            if let Err(e) = outcome {
                results[*i].1 = Err(e);
            }
        }
        if rolled_back {
            let _ = backend.reload();
        }
    }
    let mut out = Batch::new();
    for (target, r) in results {
        out.push(target, r);
    }
    Ok(out)
}

fn check_collisions(installed: &[Manifest], id: &str, identity: &str) -> Result<()> {
    for m in installed {
        if m.service_id == id && m.identity_hash != identity {
            return Err(Error::new(
                ErrorCode::NameConflict,
                format!("the name '{id}' is taken by the service of another workspace ({})", m.workspace_root),
            )
            .with_suggestion("Choose another --name, or uninstall that service first: syncfleet uninstall --service ".to_string() + id)
            .with_actions(["syncfleet list"]));
        }
        if m.identity_hash == identity && m.service_id != id {
            return Err(Error::new(
                ErrorCode::NameConflict,
                format!("this workspace is already installed as service '{}'", m.service_id),
            )
            .with_suggestion(format!(
                "Keep its id (rerun with --name {0}, or without --name if it has none), or uninstall it first: syncfleet uninstall --service {0}",
                m.service_id
            ))
            .with_actions(["syncfleet list"]));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn plan(
    ctx: &Context,
    backend: &dyn Scheduler,
    config: &WorkspaceConfig,
    spec: &ServiceSpec,
    id: &str,
    name: Option<String>,
    identity: String,
    profile: Profile,
    artifacts: Vec<Artifact>,
    token: &Option<(String, String)>,
    placement: &TokenPlacement,
) -> Result<Plan> {
    let existing = Manifest::read(&ctx.data_dir.manifest_path(id))?;
    let now = ctx.now_iso();
    let manifest = Manifest {
        schema_version: 1,
        service_id: id.to_string(),
        identity_hash: identity,
        name,
        workspace_root: config.root.display().to_string(),
        config_path: config.path.display().to_string(),
        project_urls: config.projects.clone(),
        tags: config.tags.clone(),
        lock_group: config.lock_group.clone().unwrap_or_else(|| id.to_string()),
        installed_at_iso: existing
            .as_ref()
            .map(|m| m.installed_at_iso.clone())
            .unwrap_or_else(|| now.clone()),
        updated_at_iso: now,
        platform: backend.kind().as_str().to_string(),
        interval_seconds: spec.interval_seconds,
        profile: profile.to_string(),
        binary_path: spec.binary_path.display().to_string(),
        data_dir: spec.data_dir.display().to_string(),
        token_source: placement.source_name().to_string(),
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
    let env_file = match (placement, token) {
        (TokenPlacement::EnvFile { var, path }, Some((_, value))) => {
            Some((path.clone(), env_file_content(var, value)?))
        }
        _ => None,
    };
    let mut changes = Vec::new();
    if let Some(old) = &existing {
        fn diff(changes: &mut Vec<String>, label: &str, differs: bool) {
            if differs {
                changes.push(label.to_string());
            }
        }
        let settings = [
            (
                "interval",
                old.interval_seconds != manifest.interval_seconds,
            ),
            ("profile", old.profile != manifest.profile),
            ("token_source", old.token_source != manifest.token_source),
            ("token_env_var", old.token_env_var != manifest.token_env_var),
            ("binary_path", old.binary_path != manifest.binary_path),
            ("data_dir", old.data_dir != manifest.data_dir),
            ("lock_group", old.lock_group != manifest.lock_group),
            ("tags", old.tags != manifest.tags),
            ("platform", old.platform != manifest.platform),
            ("projects", old.project_urls != manifest.project_urls),
            ("PATH for stages", old.stage_path != manifest.stage_path),
        ];
        for (label, differs) in settings {
            diff(&mut changes, label, differs);
        }
        let attrs_changed = !changes.is_empty();
        diff(
            &mut changes,
            "scheduler artifacts",
            !attrs_changed && old.spec_hash != manifest.spec_hash,
        );
        let old_files: Vec<PathBuf> = old.service_files.iter().map(PathBuf::from).collect();
        let on_disk = scheduler::installed_hash(backend, &old_files);
        diff(
            &mut changes,
            "repaired drifted artifacts",
            old.spec_hash == manifest.spec_hash
                && on_disk.as_deref() != Some(manifest.spec_hash.as_str()),
        );
        // A scheduler that keeps the command itself (schtasks) can drift
        // with every file intact.
        let in_sync = changes.is_empty();
        diff(
            &mut changes,
            "repaired the scheduled command",
            in_sync && backend.installed_command(id) != Some(spec.run_argv()),
        );
        if let Some((path, content)) = &env_file {
            let current = std::fs::read(path).ok();
            diff(
                &mut changes,
                "token",
                current.as_deref() != Some(content.as_bytes()),
            );
        }
        let unchanged = changes.is_empty();
        diff(
            &mut changes,
            "re-enabled schedule",
            unchanged && !backend.state(id).loaded,
        );
    }
    let no_change = existing.is_some() && changes.is_empty();
    Ok(Plan {
        manifest,
        artifacts,
        env_file,
        changes,
        no_change,
    })
}

/// Files written by an install, each with its previous content and mode (a
/// wrapper script must go back to 0700, not the 0600 default).
type Written = Vec<(PathBuf, Option<(Vec<u8>, u32)>)>;

/// Write the env file and the artifacts. On failure, whatever was written
/// goes back to what it was and the error is returned.
fn write_files(ctx: &Context, plan: &Plan) -> Result<Written> {
    let id = &plan.manifest.service_id;
    let service_dir = ctx.data_dir.service_dir(id);
    fsutil::create_private_dir(&service_dir).map_err(|e| Error::io("create", &service_dir, e))?;
    let logs = ctx.data_dir.logs_dir(id);
    fsutil::create_private_dir(&logs).map_err(|e| Error::io("create", &logs, e))?;
    let mut written: Written = Vec::new();
    let mut write = |path: &Path, content: &str, mode: u32| -> Result<()> {
        let previous = fsutil::read_optional(path)
            .map_err(|e| Error::io("read", path, e))?
            .map(|bytes| (bytes, fsutil::mode_of(path).unwrap_or(0o600)));
        fsutil::write_atomic_mode(path, content.as_bytes(), mode)
            .map_err(|e| Error::io("write", path, e))?;
        written.push((path.to_path_buf(), previous));
        Ok(())
    };
    let result = (|| {
        if let Some((path, content)) = &plan.env_file {
            write(path, content, 0o600)?;
        }
        for a in &plan.artifacts {
            write(&a.path, &a.content, a.mode)?;
        }
        Ok(())
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

/// After activation: the manifest (written last: it means "installed"),
/// then the registry.
fn record(ctx: &Context, plan: &Plan) -> Result<()> {
    plan.manifest
        .write_atomic(&ctx.data_dir.manifest_path(&plan.manifest.service_id))?;
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
            "T=tok&en<'$\"\n"
        );
    }
}
