//! `syncfleet doctor`: the environment and the current service, each
//! check pass/warn/fail with a suggested action; `--fix` applies only safe
//! remedies (create directories, correct modes, reload the scheduler).

use crate::cli::DoctorArgs;
use crate::commands::uninstall;
use crate::config::{Profile, WorkspaceConfig};
use crate::context::Context;
use crate::doctor_checks::{
    Check, CheckId, CheckStatus, overall, stage_commands_check, unresolved_stages,
};
use crate::error::{ErrorCode, Result};
use crate::fsutil;
use crate::output::{Render, Ui};
use crate::policy;
use crate::process;
use crate::registry::{ServiceEntry, ServiceFilter};
use crate::scheduler::{self, Inventory, PlatformState, Scheduler, SchedulerKind};
use crate::service::{self, Target};
use crate::store::health;
use crate::store::manifest::Manifest;
use crate::store::status::{PauseKind, StatusFile};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    pub checks: Vec<Check>,
    /// Fleet doctor: the checks of every service, grouped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceChecks>,
    pub overall: CheckStatus,
}

#[derive(Debug, Serialize)]
pub struct ServiceChecks {
    pub service_id: String,
    pub checks: Vec<Check>,
    pub overall: CheckStatus,
}

fn human_check(ui: &Ui, c: &Check, indent: &str) -> String {
    let label = match c.status {
        CheckStatus::Pass | CheckStatus::Fixed => ui.green(c.status.label()),
        CheckStatus::Skip => ui.dim(c.status.label()),
        CheckStatus::Warn => ui.yellow(c.status.label()),
        CheckStatus::Fail => ui.red(c.status.label()),
    };
    let mut out = format!(
        "{indent}[{label}] {}\n",
        c.message.as_deref().unwrap_or(&c.name)
    );
    if let Some(a) = &c.action
        && matches!(c.status, CheckStatus::Warn | CheckStatus::Fail)
    {
        out.push_str(&format!("{indent}       Fix: {a}\n"));
    }
    out
}

impl Render for DoctorReport {
    fn human(&self, ui: &Ui) -> String {
        let mut out = format!(
            "{}\n",
            ui.bold(&match &self.service_id {
                Some(id) => format!("Service doctor ({id}):"),
                None if !self.services.is_empty() => {
                    format!("Fleet doctor ({} services):", self.services.len())
                }
                None => "Service doctor:".to_string(),
            })
        );
        for c in &self.checks {
            out.push_str(&human_check(ui, c, ""));
        }
        for s in &self.services {
            // A healthy service is one line; findings are listed in full.
            let findings: Vec<&Check> = s
                .checks
                .iter()
                .filter(|c| !matches!(c.status, CheckStatus::Pass | CheckStatus::Skip))
                .collect();
            if findings.is_empty() {
                out.push_str(&format!(
                    "{} {} ({} checks)\n",
                    ui.green("ok"),
                    s.service_id,
                    s.checks.len()
                ));
            } else {
                out.push_str(&format!(
                    "\n{}\n",
                    ui.bold(&format!("Service {}:", s.service_id))
                ));
                for c in findings {
                    out.push_str(&human_check(ui, c, "  "));
                }
            }
        }
        let all = || {
            self.checks
                .iter()
                .chain(self.services.iter().flat_map(|s| s.checks.iter()))
        };
        let count = |s| all().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "\nOverall: {} ({} failed, {} warnings)\n",
            self.overall.label(),
            count(CheckStatus::Fail),
            count(CheckStatus::Warn)
        ));
        out
    }

    fn exit_code(&self) -> u8 {
        if self.overall == CheckStatus::Fail {
            ErrorCode::DoctorFailed.exit_code()
        } else {
            0
        }
    }
}

/// Checks that do not depend on a service: binary, data dir, scheduler.
/// Also install's pre-flight.
pub fn environment_checks(ctx: &Context, backend: &dyn Scheduler, binary: &Path) -> Vec<Check> {
    let mut checks = vec![binary_check(binary), data_dir_check(ctx.data_dir.root())];
    checks.extend(backend.prerequisites());
    checks
}

fn binary_check(binary: &Path) -> Check {
    match fsutil::mode_of(binary) {
        Ok(mode) if mode & 0o111 != 0 => {
            Check::pass(CheckId::BinaryPath, format!("Binary: {}", binary.display()))
        }
        Ok(_) => Check::fail(
            CheckId::BinaryPath,
            format!("{} is not executable", binary.display()),
            format!("chmod +x {}", binary.display()),
        ),
        Err(e) => Check::fail(
            CheckId::BinaryPath,
            format!("cannot read {}: {e}", binary.display()),
            "Reinstall syncfleet.",
        ),
    }
}

fn data_dir_check(root: &Path) -> Check {
    if !root.exists() {
        return Check::warn(
            CheckId::DataDirectory,
            format!(
                "Data dir {} does not exist yet (install creates it)",
                root.display()
            ),
            "syncfleet doctor --fix",
        );
    }
    let probe = root.join(format!(".doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            match fsutil::mode_of(root) {
                Ok(mode) if mode & 0o077 != 0 => Check::warn(
                    CheckId::DataDirectory,
                    format!(
                        "Data dir {} is writable but readable by others (mode {mode:o})",
                        root.display()
                    ),
                    format!("chmod 700 {}", root.display()),
                ),
                _ => Check::pass(
                    CheckId::DataDirectory,
                    format!("Data dir: {} (writable)", root.display()),
                ),
            }
        }
        Err(e) => Check::fail(
            CheckId::DataDirectory,
            format!("Data dir {} is not writable: {e}", root.display()),
            "Fix its ownership/permissions or pass --data-dir.",
        ),
    }
}

fn binary_path() -> std::path::PathBuf {
    std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .unwrap_or_default()
}

pub fn run(ctx: &Context, args: &DoctorArgs) -> Result<DoctorReport> {
    let no_workspace = ctx.global.config.is_none()
        && matches!(ctx.workspace(), Err(e) if e.code == ErrorCode::ConfigNotFound);
    if args.service.is_none() && no_workspace {
        return Ok(fleet(ctx, args));
    }
    let target = service::resolve(ctx, args.service.as_deref());
    let id = target.as_ref().ok().map(|t| t.id.clone());
    let manifest = target.as_ref().ok().and_then(|t| t.manifest.clone());
    let workspace = workspace_of(ctx, &target);
    let mut checks = vec![config_check(&workspace, manifest.as_ref())];
    if let Ok(w) = &workspace {
        checks.push(token_present_check(ctx, w, id.as_deref()));
        checks.push(token_valid_check(ctx, w, id.as_deref(), args.offline));
        checks.push(match &manifest {
            Some(m) => installed_stage_commands_check(w, m),
            // Not installed: what install would check and record.
            None => stage_commands_check(
                w,
                Profile::Balanced,
                std::env::var_os("PATH").as_deref(),
                "this shell's PATH",
                format!(
                    "Fix the stage command in {} (or install the program), then: syncfleet install",
                    w.path.display()
                ),
            ),
        });
    }
    let kind = manifest
        .as_ref()
        .and_then(|m| SchedulerKind::parse(&m.platform).ok())
        .or_else(|| SchedulerKind::default_for_os().ok());
    let backend = kind.map(|k| scheduler::backend(k, &ctx.env));
    checks.push(binary_check(&binary_path()));
    checks.push(data_dir_check(ctx.data_dir.root()));
    checks.push(health::temp_files_check(
        &ctx.data_dir,
        ctx.clock().now_system_time(),
    ));
    if let Some(b) = &backend {
        checks.extend(b.prerequisites());
    }
    if let (Some(id), Some(b)) = (&id, &backend) {
        checks.extend(install_checks(ctx, id, manifest.as_ref(), b.as_ref(), None));
        let inventory = Inventory::take(&ctx.env, ctx.data_dir.root());
        checks.extend(artifact_checks(ctx, id, manifest.as_ref(), &inventory));
        if args.fix {
            fix_artifacts(ctx, id, &mut checks, &inventory);
        }
    }
    if let Some(id) = &id {
        checks.push(health::runs_file_check(&ctx.data_dir, id));
    }
    if let (None, Ok(w)) = (&manifest, &workspace) {
        checks.extend(moved_here_check(ctx, w));
    }
    if args.fix {
        apply_fixes(ctx, &mut checks, id.as_deref(), backend.as_deref());
    }
    Ok(DoctorReport {
        service_id: id,
        overall: overall(&checks),
        checks,
        services: Vec::new(),
    })
}

/// The workspace config the checks read: the resolved workspace's, or the
/// installed service's config file.
fn workspace_of(ctx: &Context, target: &Result<Target>) -> Result<WorkspaceConfig> {
    match target {
        Ok(Target {
            workspace: Some(w), ..
        }) => Ok(w.clone()),
        Ok(Target {
            manifest: Some(m), ..
        }) => WorkspaceConfig::load(Path::new(&m.config_path)),
        Ok(_) => ctx.workspace(),
        Err(e) => Err(e.clone()),
    }
}

fn config_check(workspace: &Result<WorkspaceConfig>, manifest: Option<&Manifest>) -> Check {
    match (workspace, manifest) {
        (Ok(w), _) => Check::pass(
            CheckId::Config,
            format!("Config loaded from {}", w.path.display()),
        ),
        // An installed service's config that is gone: its workspace moved
        // or was deleted (creating a new config would not fix that).
        (Err(e), Some(m)) if e.code == ErrorCode::ConfigNotFound => Check::fail(
            CheckId::Config,
            e.message.clone(),
            moved_or_gone_action(&m.service_id),
        ),
        (Err(e), _) => Check::fail(
            CheckId::Config,
            e.message.clone(),
            e.suggestion.clone().unwrap_or_default(),
        ),
    }
}

fn moved_or_gone_action(id: &str) -> String {
    format!(
        "If the workspace moved: syncfleet move --service {id} NEW_DIR; if it is gone: syncfleet uninstall --service {id}"
    )
}

fn token_present_check(ctx: &Context, w: &WorkspaceConfig, id: Option<&str>) -> Check {
    match (&w.token_env_var, id) {
        (None, _) => Check::pass(CheckId::TokenPresent, "No token needed (no token_env_var)"),
        (Some(var), Some(id)) => match crate::runner::resolve_token(ctx, id, Some(var)) {
            Ok(Some((_, value))) => match crate::redact::short_secret_warning(var, &value) {
                Some(warning) => Check::warn(
                    CheckId::TokenPresent,
                    warning,
                    format!("Export a longer {var}, then run: syncfleet install"),
                ),
                None => Check::pass(CheckId::TokenPresent, format!("{var} is set")),
            },
            Ok(None) => Check::pass(CheckId::TokenPresent, format!("{var} is set")),
            Err(e) => Check::fail(
                CheckId::TokenPresent,
                e.message,
                e.suggestion.unwrap_or_default(),
            ),
        },
        (Some(var), None) => Check::fail(
            CheckId::TokenPresent,
            format!("{var}: no service to read it for"),
            "syncfleet install",
        ),
    }
}

/// An installed service's stages, on the PATH its scheduled runs get.
fn installed_stage_commands_check(w: &WorkspaceConfig, m: &Manifest) -> Check {
    let profile = Profile::parse(&m.profile).unwrap_or_default();
    let current = std::env::var_os("PATH");
    let (path, origin) = match &m.stage_path {
        Some(p) => (
            Some(std::ffi::OsString::from(p)),
            "the PATH recorded at install",
        ),
        // Installed before syncfleet recorded a PATH: this shell's is
        // the best guess.
        None => (current.clone(), "this shell's PATH (none was recorded)"),
    };
    let missing = unresolved_stages(w, profile, path.as_deref());
    let found_here =
        !missing.is_empty() && unresolved_stages(w, profile, current.as_deref()).is_empty();
    let action = if found_here {
        format!(
            "They resolve on this shell's PATH: record it with syncfleet install --workspace {}",
            m.workspace_root
        )
    } else {
        format!(
            "Fix the stage command in {} (or install the program and record your PATH with syncfleet install --workspace {})",
            m.config_path, m.workspace_root
        )
    };
    stage_commands_check(w, profile, path.as_deref(), origin, action)
}

fn token_valid_check(ctx: &Context, w: &WorkspaceConfig, id: Option<&str>, offline: bool) -> Check {
    let Some(cmd) = &w.token_check else {
        return Check::skip(CheckId::TokenValid, "No token_check configured");
    };
    if offline {
        return Check::skip(CheckId::TokenValid, "token_check skipped (--offline)");
    }
    let token = id.and_then(|id| {
        crate::runner::resolve_token(ctx, id, w.token_env_var.as_deref())
            .ok()
            .flatten()
    });
    let mut command = std::process::Command::new(&cmd[0]);
    command.args(&cmd[1..]).current_dir(&w.root);
    if let Some((k, v)) = &token {
        command.env(k, v);
    }
    let redactor = crate::redact::Redactor::new(token.iter().map(|(_, v)| v.clone()));
    let options = process::Options {
        guard: true,
        ..process::Options::new(Duration::from_secs(30))
    };
    match process::capture_with(&mut command, &options) {
        Ok(c) if c.success() => {
            Check::pass(CheckId::TokenValid, "Token accepted (token_check passed)")
        }
        Ok(c) => Check::fail(
            CheckId::TokenValid,
            format!(
                "token_check failed ({}): {}",
                if c.timed_out {
                    "timed out".to_string()
                } else {
                    format!("exit {}", c.code.unwrap_or(-1))
                },
                redactor.redact_then_truncate(
                    c.stderr.lines().last().unwrap_or("").trim(),
                    c.truncated,
                    4096
                )
            ),
            "Rotate the token, export it, and run: syncfleet install",
        ),
        Err(e) => Check::fail(
            CheckId::TokenValid,
            format!("cannot run token_check '{}': {e}", cmd[0]),
            "Fix `token_check` in syncfleet.json.",
        ),
    }
}

/// A workspace with no service of its own that looks like one moved here
/// (a service whose workspace is gone shares its name or projects): the
/// command that re-attaches it, as `status` says it.
fn moved_here_check(ctx: &Context, w: &WorkspaceConfig) -> Option<Check> {
    let candidates = service::moved_from(ctx, w);
    let first = candidates.first()?;
    let here = w.root.display().to_string();
    Some(Check::warn(
        CheckId::Workspace,
        format!(
            "no service is installed for this workspace, but service {} lost its workspace ({}): was it moved here?",
            first.service_id, first.workspace_root
        ),
        service::move_command(&first.service_id, &here),
    ))
}

/// The fix line for an error: its exact command when it names one, else
/// its suggestion (a manifest from a newer syncfleet: upgrade).
fn fix_for(e: &crate::error::Error) -> String {
    e.actions
        .first()
        .or(e.suggestion.as_ref())
        .cloned()
        .unwrap_or_default()
}

/// An installed service: matches its manifest, runs this binary, has the
/// right file modes and a readable status, no stale run.
fn install_checks(
    ctx: &Context,
    id: &str,
    manifest: Option<&Manifest>,
    backend: &dyn Scheduler,
    state: Option<&PlatformState>,
) -> Vec<Check> {
    let Some(m) = manifest else {
        return vec![match service::read_manifest(ctx, id) {
            Err(e) => Check::fail(CheckId::InstallState, e.message.clone(), fix_for(&e)),
            _ => Check::pass(CheckId::InstallState, "No existing install detected"),
        }];
    };
    let mut checks = vec![install_state_check(id, m, backend, state)];
    checks.extend(scheduled_binary_check(m));
    checks.extend(file_mode_checks(ctx, id));
    checks.extend(status_checks(ctx, id));
    checks
}

/// The scheduler's artifacts against the manifest (drift), with the
/// scheduler's state when it was asked already (for the whole fleet).
fn install_state_check(
    id: &str,
    m: &Manifest,
    backend: &dyn Scheduler,
    state: Option<&PlatformState>,
) -> Check {
    let drift = match state {
        Some(state) => crate::commands::status::drift_with_state(m, backend, state),
        None => crate::commands::status::drift(m, backend),
    };
    if let (false, Some(why)) = (drift.any(), &drift.scheduler_unreachable) {
        // Not drift, and `install` cannot fix it: the prerequisite checks
        // say what is wrong with the scheduler.
        Check::skip(
            CheckId::InstallState,
            format!("Service {id}: the schedule cannot be checked ({why})"),
        )
    } else if drift.any() {
        Check::fail(
            CheckId::InstallState,
            format!("Service {id} has drifted: {}", drift.details.join("; ")),
            "syncfleet install (regenerates the artifacts)",
        )
    } else {
        Check::pass(
            CheckId::InstallState,
            format!("Service {id} installed and matching its manifest"),
        )
    }
}

/// The binary the schedule runs: still there, and this one.
fn scheduled_binary_check(m: &Manifest) -> Option<Check> {
    let scheduled = Path::new(&m.binary_path);
    if !scheduled.exists() {
        return Some(Check::fail(
            CheckId::ScheduledBinary,
            format!("the scheduled binary {} no longer exists", m.binary_path),
            "syncfleet install (from the binary you use now)",
        ));
    }
    let this = binary_path();
    (scheduled.canonicalize().ok() != Some(this.clone())).then(|| {
        Check::warn(
            CheckId::ScheduledBinary,
            format!(
                "the schedule runs {}, not this syncfleet ({})",
                m.binary_path,
                this.display()
            ),
            format!(
                "syncfleet install --workspace {} (re-points the schedule at this binary)",
                m.workspace_root
            ),
        )
    })
}

/// The env file (0600) and the wrapper script (0700), where they exist.
fn file_mode_checks(ctx: &Context, id: &str) -> Vec<Check> {
    [
        (ctx.data_dir.env_path(id), 0o600),
        (ctx.data_dir.wrapper_path(id), 0o700),
    ]
    .into_iter()
    .filter_map(|(path, want)| {
        let mode = fsutil::mode_of(&path).ok().filter(|mode| *mode != want)?;
        Some(Check::fail(
            CheckId::FileModes,
            format!("{} has mode {mode:o}, expected {want:o}", path.display()),
            "syncfleet doctor --fix",
        ))
    })
    .collect()
}

/// status.json: readable, and no in-flight marker of a dead or stuck run.
fn status_checks(ctx: &Context, id: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    let (status, err) = service::read_status(ctx, id);
    if let Some(e) = err {
        let fix = if crate::store::is_newer_schema(&e) {
            e.suggestion.unwrap_or_default()
        } else {
            format!("syncfleet repair --service {id}")
        };
        checks.push(Check::fail(CheckId::StatusFile, e.message, fix));
    }
    if let Some(run) = status.and_then(|s| s.current_run)
        && policy::is_stale_run(run.started_at_ms, process::pid_alive(run.pid), ctx.now_ms())
    {
        checks.push(Check::warn(
            CheckId::StaleRun,
            format!(
                "a run (pid {}) started {} never finished",
                run.pid,
                crate::output::iso_ms(run.started_at_ms)
            ),
            "Nothing to do: the next run proceeds; check syncfleet logs for why it died.",
        ));
    }
    checks
}

fn apply_fixes(
    ctx: &Context,
    checks: &mut Vec<Check>,
    id: Option<&str>,
    backend: Option<&dyn Scheduler>,
) {
    health::fix_temp_files(&ctx.data_dir, checks, ctx.clock().now_system_time());
    let mark_fixed = |checks: &mut Vec<Check>, which: CheckId, message: String| {
        for c in checks
            .iter_mut()
            .filter(|c| c.id() == Some(which) && c.status != CheckStatus::Pass)
        {
            c.mark_fixed(message.clone());
        }
    };
    if checks
        .iter()
        .any(|c| c.id() == Some(CheckId::DataDirectory) && c.status != CheckStatus::Pass)
    {
        match fsutil::create_private_dir(ctx.data_dir.root()) {
            Ok(()) => mark_fixed(
                checks,
                CheckId::DataDirectory,
                format!("Created/secured {} (0700)", ctx.data_dir.root().display()),
            ),
            Err(e) => checks.push(Check::fail(
                CheckId::FixDataDirectory,
                format!("could not create {}: {e}", ctx.data_dir.root().display()),
                "Create it by hand.",
            )),
        }
    }
    if let Some(id) = id {
        let mut fixed = Vec::new();
        for (path, want) in [
            (ctx.data_dir.env_path(id), 0o600),
            (ctx.data_dir.wrapper_path(id), 0o700),
        ] {
            if let Ok(mode) = fsutil::mode_of(&path)
                && mode != want
                && fsutil::set_mode(&path, want).is_ok()
            {
                fixed.push(format!("{} → {want:o}", path.display()));
            }
        }
        if !fixed.is_empty() {
            mark_fixed(
                checks,
                CheckId::FileModes,
                format!("Corrected modes: {}", fixed.join(", ")),
            );
        }
    }
    if let Some(b) = backend
        && let Some((what, result)) = b.safe_fix()
    {
        // A reload that fails because the scheduler itself is down has the
        // fix a failed check above already names: point there, not back
        // at doctor.
        let cause = checks
            .iter()
            .find(|c| c.status == CheckStatus::Fail)
            .and_then(|c| c.action.clone());
        checks.push(match result {
            Ok(()) => Check::new(
                CheckId::SchedulerReload,
                CheckStatus::Fixed,
                format!("Ran {what}"),
            ),
            Err(e) => Check::warn(
                CheckId::SchedulerReload,
                format!("{what} failed: {}", e.message),
                cause.unwrap_or_else(|| {
                    "Check that the scheduler runs (systemctl --user status, or crontab -l).".into()
                }),
            ),
        });
    }
}

/// What the schedulers have of one service beyond its manifest: the
/// artifacts of an orphan (no manifest), or a second schedule (artifacts
/// on a scheduler other than the recorded one).
fn artifact_checks(
    ctx: &Context,
    id: &str,
    manifest: Option<&Manifest>,
    inventory: &Inventory,
) -> Vec<Check> {
    let kinds = inventory.kinds_of(id);
    let describe = |kinds: &[SchedulerKind]| {
        kinds
            .iter()
            .map(|k| format!("{}: {}", k.as_str(), inventory.found(id, *k).join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match manifest {
        // A corrupt manifest is the manifest check's finding (repair).
        None if ctx.data_dir.manifest_path(id).exists() => Vec::new(),
        None if kinds.is_empty() => Vec::new(),
        None => vec![Check::fail(
            CheckId::Orphan,
            format!(
                "scheduler artifacts with no manifest (a killed install or a deleted manifest; they may still fire): {}",
                describe(&kinds)
            ),
            format!("syncfleet uninstall --service {id} (or syncfleet doctor --fix)"),
        )],
        Some(m) => {
            let others: Vec<SchedulerKind> = kinds
                .into_iter()
                .filter(|k| k.as_str() != m.platform)
                .collect();
            vec![if others.is_empty() {
                Check::pass(
                    CheckId::SecondSchedule,
                    format!("Scheduled by {} only", m.platform),
                )
            } else {
                Check::fail(
                    CheckId::SecondSchedule,
                    format!(
                        "a second schedule besides its {} one, so it runs twice: {}",
                        m.platform,
                        describe(&others)
                    ),
                    format!(
                        "syncfleet doctor --fix (removes them; the {} schedule stays)",
                        m.platform
                    ),
                )
            }]
        }
    }
}

/// `doctor --fix` for the findings of `artifact_checks`: an orphan's
/// artifacts go like `uninstall --service` removes them; a second
/// schedule's go, the recorded schedule stays.
fn fix_artifacts(ctx: &Context, id: &str, checks: &mut [Check], inventory: &Inventory) {
    for c in checks.iter_mut().filter(|c| c.is_finding()) {
        let outcome = match c.id() {
            Some(CheckId::Orphan) => {
                uninstall::remove_orphan(ctx, id, inventory).map(|r| match r {
                    Some(r) => format!(
                        "Removed the orphan's artifacts: {}",
                        r.removed_schedules
                            .iter()
                            .chain(&r.removed_files)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => "An install finished meanwhile: no orphan any more".to_string(),
                })
            }
            Some(CheckId::SecondSchedule) => uninstall::remove_second_schedules(ctx, id, inventory)
                .map(|removed| format!("Removed the second schedule: {}", removed.join(", "))),
            _ => continue,
        };
        match outcome {
            Ok(message) => c.mark_fixed(message),
            Err(e) => {
                c.message = Some(format!(
                    "{} (the fix failed: {})",
                    c.message.as_deref().unwrap_or(""),
                    e.message
                ));
            }
        }
    }
}

/// The fleet doctor (no `--service`, no workspace here): the environment
/// once, every scheduler with artifacts, the registry, then every service
/// the files, the registry or the schedulers know.
fn fleet(ctx: &Context, args: &DoctorArgs) -> DoctorReport {
    let inventory = Inventory::take(&ctx.env, ctx.data_dir.root());
    let backends = fleet_backends(ctx, &inventory);
    let mut checks = vec![
        binary_check(&binary_path()),
        data_dir_check(ctx.data_dir.root()),
        health::temp_files_check(&ctx.data_dir, ctx.clock().now_system_time()),
    ];
    for b in &backends {
        checks.extend(b.prerequisites());
    }
    checks.extend(listing_checks(ctx, &inventory));
    let registry = registry_checks(ctx);
    checks.extend(registry.checks);
    checks.extend(pending_imports_check(ctx));

    let mut ids: std::collections::BTreeSet<String> =
        ctx.data_dir.service_ids().into_iter().collect();
    ids.extend(registry.entries.keys().cloned());
    let bar = crate::batch::progress(&ctx.ui, ids.len(), "doctor");
    let manifests: Vec<(Option<Manifest>, Vec<Check>)> =
        ids.iter().map(|id| manifest_check(ctx, id)).collect();
    let states = scheduler_states(ctx, &manifests);
    let mut services = Vec::new();
    for (id, manifest) in ids.iter().zip(manifests) {
        bar.inc(1);
        let entry = registry.entries.get(id);
        let state = states.get(id);
        let mut c = service_checks(ctx, id, entry, registry.usable, &inventory, manifest, state);
        if args.fix {
            fix_artifacts(ctx, id, &mut c, &inventory);
            apply_fixes(ctx, &mut c, Some(id), None);
        }
        services.push(ServiceChecks {
            service_id: id.clone(),
            overall: overall(&c),
            checks: c,
        });
    }
    bar.finish_and_clear();
    if args.fix {
        reindex_if_needed(ctx, &mut checks, &mut services);
        apply_fixes(ctx, &mut checks, None, None);
        for b in &backends {
            apply_fixes(ctx, &mut checks, None, Some(b.as_ref()));
        }
    }
    let worst = services
        .iter()
        .map(|s| s.overall)
        .chain([overall(&checks)])
        .max()
        .unwrap_or(CheckStatus::Pass);
    DoctorReport {
        service_id: None,
        checks,
        services,
        overall: worst,
    }
}

/// Every scheduler the fleet uses: those the manifests record and those
/// with artifacts (of orphans and second schedules too); the OS default
/// only for an empty fleet, where it is what an install would use. A
/// cron-only fleet in a container is not failed for having no systemd
/// user manager.
fn fleet_backends(ctx: &Context, inventory: &Inventory) -> Vec<Box<dyn Scheduler>> {
    let mut kinds: Vec<SchedulerKind> = Vec::new();
    let recorded = service::installed(ctx)
        .into_iter()
        .filter_map(|m| SchedulerKind::parse(&m.platform).ok());
    for k in recorded.chain(inventory.kinds_in_use()) {
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    if kinds.is_empty() {
        kinds.extend(SchedulerKind::default_for_os());
    }
    kinds
        .iter()
        .map(|k| scheduler::backend(*k, &ctx.env))
        .collect()
}

/// Schedulers that could not be listed, and artifacts of services this
/// data directory has no trace of (another `--data-dir`'s, or left after
/// the data directory was deleted): reported, never removed unasked.
fn listing_checks(ctx: &Context, inventory: &Inventory) -> Vec<Check> {
    let mut checks: Vec<Check> = inventory
        .errors
        .iter()
        .map(|(kind, e)| {
            Check::warn(
                CheckId::ArtifactListing,
                format!(
                    "cannot list the {} artifacts to look for orphans: {}",
                    kind.as_str(),
                    e.message
                ),
                e.suggestion.clone().unwrap_or_default(),
            )
        })
        .collect();
    for (id, found) in &inventory.by_service {
        if ctx.data_dir.service_dir(id).is_dir() {
            continue;
        }
        let what: Vec<String> = found
            .iter()
            .map(|(k, w)| format!("{}: {}", k.as_str(), w.join(", ")))
            .collect();
        checks.push(Check::warn(
            CheckId::Orphan,
            format!(
                "artifacts of service {id}, which {} does not know (installed with another --data-dir, or its data was deleted): {}",
                ctx.data_dir.root().display(),
                what.join("; ")
            ),
            format!(
                "If no other data directory uses it: syncfleet uninstall --service {id}"
            ),
        ));
    }
    checks
}

/// The registry as the fleet doctor found it.
struct RegistryView {
    checks: Vec<Check>,
    entries: std::collections::HashMap<String, ServiceEntry>,
    /// Filled and readable: its agreement with the files can be checked.
    usable: bool,
}

const REINDEX: &str = "syncfleet reindex (or doctor --fix)";

fn registry_checks(ctx: &Context) -> RegistryView {
    let mut view = RegistryView {
        checks: Vec::new(),
        entries: Default::default(),
        usable: false,
    };
    let reg = match ctx.registry() {
        Ok(reg) => reg,
        Err(e) => {
            view.checks.push(Check::fail(
                CheckId::Registry,
                format!("the registry cannot be used: {}", e.message),
                e.suggestion.as_deref().unwrap_or(REINDEX),
            ));
            return view;
        }
    };
    view.checks.push(match reg.quick_check() {
        Ok(p) if p.is_empty() => {
            Check::pass(CheckId::RegistryIntegrity, "Registry passes quick_check")
        }
        Ok(p) => Check::fail(
            CheckId::RegistryIntegrity,
            format!("registry quick_check: {}", p.join("; ")),
            REINDEX,
        ),
        Err(e) => Check::fail(CheckId::RegistryIntegrity, e.message, REINDEX),
    });
    // A registry created after the files (new, or lost) is only an empty
    // index: filling it is what any reader does, and it changes no file of
    // record.
    let filled = match reg.is_filled() {
        Ok(true) => Ok(()),
        Ok(false) => crate::index::catch_up(reg, &ctx.data_dir, ctx.now_ms()).map(|_| ()),
        Err(e) => Err(e),
    };
    match filled {
        Ok(()) => view.usable = true,
        Err(e) => view.checks.push(Check::fail(
            CheckId::RegistryFilled,
            format!(
                "the registry could not be built from the files: {}",
                e.message
            ),
            REINDEX,
        )),
    }
    if let Ok(all) = reg.services(&ServiceFilter {
        include_uninstalled: true,
        ..Default::default()
    }) {
        view.entries = all.into_iter().map(|e| (e.service_id.clone(), e)).collect();
    }
    view
}

fn pending_imports_check(ctx: &Context) -> Option<Check> {
    let pending = crate::index::pending_ids(&ctx.data_dir);
    (!pending.is_empty()).then(|| {
        Check::warn(
            CheckId::PendingImports,
            format!(
                "{} services have history the registry has not imported yet",
                pending.len()
            ),
            "Any history/list/report imports them; or: syncfleet reindex",
        )
    })
}

/// `doctor --fix`: rebuild the registry when any registry finding calls
/// for it, and mark those findings fixed.
fn reindex_if_needed(ctx: &Context, checks: &mut Vec<Check>, services: &mut [ServiceChecks]) {
    let needs_reindex = |c: &Check| c.is_finding() && c.id().is_some_and(CheckId::fixed_by_reindex);
    let needed = checks
        .iter()
        .chain(services.iter().flat_map(|s| s.checks.iter()))
        .any(needs_reindex);
    if !needed {
        return;
    }
    let done = match crate::index::rebuild(&ctx.data_dir, ctx.now_ms()) {
        Ok(r) => {
            for s in services.iter_mut() {
                for c in s.checks.iter_mut().filter(|c| needs_reindex(c)) {
                    c.status = CheckStatus::Fixed;
                }
                s.overall = overall(&s.checks);
            }
            for c in checks.iter_mut().filter(|c| needs_reindex(c)) {
                c.status = CheckStatus::Fixed;
            }
            Check::new(
                CheckId::Reindex,
                CheckStatus::Fixed,
                format!(
                    "Rebuilt the registry from the files ({} services, {} runs){}",
                    r.fill.services,
                    r.fill.runs_total,
                    r.corrupt_backup
                        .map(|b| format!("; the corrupt one was moved to {b}"))
                        .unwrap_or_default()
                ),
            )
        }
        Err(e) => Check::fail(
            CheckId::Reindex,
            e.message,
            "Check the data directory permissions.",
        ),
    };
    checks.push(done);
}

/// Everything the fleet doctor checks for one service.
/// What each installed service's scheduler says of it, asked once per
/// scheduler for all of its services (`Scheduler::states`), not once per
/// service.
fn scheduler_states(
    ctx: &Context,
    manifests: &[(Option<Manifest>, Vec<Check>)],
) -> HashMap<String, PlatformState> {
    let mut by_kind: BTreeMap<SchedulerKind, Vec<&str>> = BTreeMap::new();
    for m in manifests.iter().filter_map(|(m, _)| m.as_ref()) {
        if let Ok(kind) = SchedulerKind::parse(&m.platform) {
            by_kind.entry(kind).or_default().push(&m.service_id);
        }
    }
    by_kind
        .into_iter()
        .flat_map(|(kind, ids)| scheduler::backend(kind, &ctx.env).states(&ids))
        .collect()
}

/// One service's checks, from its manifest as `manifest_check` read it
/// and its scheduler's state when that was asked already.
fn service_checks(
    ctx: &Context,
    id: &str,
    entry: Option<&ServiceEntry>,
    registry_usable: bool,
    inventory: &Inventory,
    (manifest, mut checks): (Option<Manifest>, Vec<Check>),
    state: Option<&PlatformState>,
) -> Vec<Check> {
    checks.push(health::runs_file_check(&ctx.data_dir, id));
    if registry_usable {
        checks.push(registry_agreement_check(ctx, id, manifest.as_ref(), entry));
        checks.extend(pending_import_check(ctx, id, entry));
    }
    checks.extend(artifact_checks(ctx, id, manifest.as_ref(), inventory));
    let Some(m) = manifest else {
        return checks;
    };
    match SchedulerKind::parse(&m.platform) {
        Ok(k) => checks.extend(install_checks(
            ctx,
            id,
            Some(&m),
            scheduler::backend(k, &ctx.env).as_ref(),
            state,
        )),
        Err(_) => checks.push(Check::fail(
            CheckId::InstallState,
            format!(
                "platform '{}' is not supported by this syncfleet",
                m.platform
            ),
            format!("syncfleet uninstall --service {id}, then install it again with a supported --scheduler"),
        )),
    }
    checks.extend(workspace_checks(&m));
    let (status, _) = service::read_status(ctx, id);
    let status = status.unwrap_or_default();
    checks.push(paused_check(&m, &status));
    checks.push(missed_runs_check(ctx, &m, &status));
    checks
}

fn manifest_check(ctx: &Context, id: &str) -> (Option<Manifest>, Vec<Check>) {
    match service::read_manifest(ctx, id) {
        Ok(m) => {
            let check = match &m {
                Some(_) => Check::pass(CheckId::Manifest, "Manifest present and readable"),
                None => Check::pass(CheckId::Manifest, "Not installed (history kept)"),
            };
            (m, vec![check])
        }
        Err(e) => (
            None,
            vec![Check::fail(
                CheckId::Manifest,
                e.message.clone(),
                fix_for(&e),
            )],
        ),
    }
}

fn registry_agreement_check(
    ctx: &Context,
    id: &str,
    manifest: Option<&Manifest>,
    entry: Option<&ServiceEntry>,
) -> Check {
    let disagreement = match (manifest, entry) {
        (Some(_), None) => Some("installed, but missing from the registry".to_string()),
        (Some(_), Some(e)) if !e.installed => {
            Some("installed, but the registry says uninstalled".to_string())
        }
        (Some(m), Some(e)) => {
            let differs: Vec<&str> = [
                (
                    "spec_hash",
                    e.spec_hash.as_deref() != Some(m.spec_hash.as_str()),
                ),
                ("interval", e.interval_seconds != Some(m.interval_seconds)),
                ("profile", e.profile.as_deref() != Some(m.profile.as_str())),
                (
                    "platform",
                    e.platform.as_deref() != Some(m.platform.as_str()),
                ),
                ("tags", e.tags != m.tags),
            ]
            .into_iter()
            .filter_map(|(k, d)| d.then_some(k))
            .collect();
            (!differs.is_empty()).then(|| {
                format!(
                    "the registry differs from the manifest in: {}",
                    differs.join(", ")
                )
            })
        }
        (None, Some(e)) if e.installed && !ctx.data_dir.manifest_path(id).exists() => {
            Some("the registry says installed, but there is no manifest".to_string())
        }
        _ => None,
    };
    match disagreement {
        Some(d) => Check::fail(CheckId::RegistryAgreement, d, REINDEX),
        None => Check::pass(CheckId::RegistryAgreement, "Registry and files agree"),
    }
}

fn pending_import_check(ctx: &Context, id: &str, entry: Option<&ServiceEntry>) -> Option<Check> {
    let size = std::fs::metadata(ctx.data_dir.runs_path(id))
        .map(|m| m.len())
        .unwrap_or(0);
    let offset = entry.map_or(0, |e| e.runs_offset);
    (size != offset).then(|| {
        Check::warn(
            CheckId::PendingImport,
            format!(
                "runs.jsonl has {} bytes the registry has not imported",
                size.abs_diff(offset)
            ),
            "Any history/list/report imports them; or: syncfleet reindex",
        )
    })
}

/// The workspace an installed service syncs: still there, its config
/// valid, and every stage command found where scheduled runs look.
fn workspace_checks(m: &Manifest) -> Vec<Check> {
    let id = &m.service_id;
    let root = Path::new(&m.workspace_root);
    let config = Path::new(&m.config_path);
    if !root.is_dir() {
        return vec![Check::fail(
            CheckId::Workspace,
            format!(
                "the workspace directory {} is gone (moved or deleted)",
                root.display()
            ),
            moved_or_gone_action(id),
        )];
    }
    if !config.is_file() {
        return vec![Check::fail(
            CheckId::Workspace,
            format!("the workspace config {} is missing", config.display()),
            format!("Restore {}; {}", config.display(), moved_or_gone_action(id)),
        )];
    }
    match WorkspaceConfig::load(config) {
        Err(e) => vec![Check::fail(
            CheckId::Workspace,
            e.message,
            format!(
                "Fix {}, then check again: syncfleet doctor --service {id}",
                config.display()
            ),
        )],
        Ok(w) => vec![
            Check::pass(
                CheckId::Workspace,
                format!("Workspace {} and its config are in place", root.display()),
            ),
            installed_stage_commands_check(&w, m),
        ],
    }
}

/// A pause that needs a person: a permanent error (it never resumes by
/// itself) fails; an open circuit breaker warns (a probe run follows the
/// cooldown); a pause made by hand is what was asked for.
fn paused_check(m: &Manifest, status: &StatusFile) -> Check {
    let id = &m.service_id;
    let reason = status.paused_reason.clone().unwrap_or_default();
    match status.pause_kind() {
        None => Check::pass(CheckId::Paused, "Not paused"),
        Some(PauseKind::Manual) => Check::pass(
            CheckId::Paused,
            format!("Paused by hand ({reason}); syncfleet resume --service {id} resumes it"),
        ),
        Some(PauseKind::CircuitBreaker) => Check::warn(
            CheckId::Paused,
            format!(
                "the circuit breaker is open after {} transient failures in a row ({reason})",
                status.consecutive_failures
            ),
            format!(
                "See why: syncfleet logs --service {id}; a probe run follows the cooldown, or now: syncfleet resume --service {id}"
            ),
        ),
        Some(PauseKind::Permanent) => {
            let code = status.last_error_code.as_deref().unwrap_or("");
            let fix = match code {
                "TOKEN_NOT_SET" | "AUTH_FAILED" => format!(
                    "Export a valid {}, then: syncfleet install --workspace {} && syncfleet resume --service {id}",
                    m.token_env_var.as_deref().unwrap_or("token"),
                    m.workspace_root
                ),
                "COMMAND_NOT_FOUND" | "CONFIG_INVALID" | "CONFIG_NOT_FOUND" => format!(
                    "Fix {} (see the workspace and stage_commands checks), then: syncfleet resume --service {id}",
                    m.config_path
                ),
                _ => format!(
                    "See why: syncfleet logs --service {id}; after fixing it: syncfleet resume --service {id}"
                ),
            };
            Check::fail(
                CheckId::Paused,
                format!("paused by a permanent error; no run happens until resumed ({reason})"),
                fix,
            )
        }
    }
}

/// Missed runs: nothing for more than twice the interval, not paused.
fn missed_runs_check(ctx: &Context, m: &Manifest, status: &StatusFile) -> Check {
    let now = ctx.now_ms();
    let window = 2 * m.interval_seconds as i64 * 1000;
    let installed_ms = chrono::DateTime::parse_from_rfc3339(&m.installed_at_iso)
        .map(|t| t.timestamp_millis())
        .unwrap_or(now);
    let last = status.last_run.as_ref().map(|r| r.timestamp_ms);
    let since = last.unwrap_or(installed_ms);
    if m.calendar.is_some() {
        return match crate::schedule::missed_slot_ms(m, since, now) {
            Some(slot) if status.paused_reason.is_none() => {
                let id = &m.service_id;
                Check::warn(
                    CheckId::MissedRuns,
                    format!(
                        "missed run: the {} slot passed with no run since {} while not paused",
                        crate::output::iso_ms(slot),
                        last.map(crate::output::iso_ms)
                            .unwrap_or_else(|| "install".into()),
                    ),
                    format!(
                        "Check the schedule: syncfleet status --service {id}; syncfleet logs --service {id}"
                    ),
                )
            }
            _ => Check::pass(CheckId::MissedRuns, "Runs arrive on schedule"),
        };
    }
    if status.paused_reason.is_none() && now - since > window {
        let id = &m.service_id;
        Check::warn(
            CheckId::MissedRuns,
            format!(
                "no run since {} (more than twice the {} interval) while not paused",
                last.map(crate::output::iso_ms)
                    .unwrap_or_else(|| "install".into()),
                crate::duration::format_interval(m.interval_seconds)
            ),
            format!(
                "Check the schedule: syncfleet status --service {id}; syncfleet logs --service {id}"
            ),
        )
    } else {
        Check::pass(CheckId::MissedRuns, "Runs arrive on schedule")
    }
}
