//! `syncfleet doctor`: the environment and the current service, each
//! check pass/warn/fail with a suggested action; `--fix` applies only safe
//! remedies (create directories, correct modes, reload the scheduler).

use crate::cli::DoctorArgs;
use crate::context::Context;
use crate::doctor_checks::{Check, CheckStatus, overall};
use crate::error::{ErrorCode, Result};
use crate::fsutil;
use crate::output::{Render, Ui};
use crate::policy;
use crate::process;
use crate::scheduler::{self, Scheduler, SchedulerKind};
use crate::service::{self, Target};
use crate::store::manifest::Manifest;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    pub checks: Vec<Check>,
    pub overall: CheckStatus,
}

impl Render for DoctorReport {
    fn human(&self, ui: &Ui) -> String {
        let mut out = format!(
            "{}\n",
            ui.bold(&match &self.service_id {
                Some(id) => format!("Service doctor ({id}):"),
                None => "Service doctor:".to_string(),
            })
        );
        for c in &self.checks {
            let label = match c.status {
                CheckStatus::Pass | CheckStatus::Fixed => ui.green(c.status.label()),
                CheckStatus::Skip => ui.dim(c.status.label()),
                CheckStatus::Warn => ui.yellow(c.status.label()),
                CheckStatus::Fail => ui.red(c.status.label()),
            };
            out.push_str(&format!(
                "[{label}] {}\n",
                c.message.as_deref().unwrap_or(&c.name)
            ));
            if let Some(a) = &c.action
                && matches!(c.status, CheckStatus::Warn | CheckStatus::Fail)
            {
                out.push_str(&format!("       Fix: {a}\n"));
            }
        }
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
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
            Check::pass("binary_path", format!("Binary: {}", binary.display()))
        }
        Ok(_) => Check::fail(
            "binary_path",
            format!("{} is not executable", binary.display()),
            format!("chmod +x {}", binary.display()),
        ),
        Err(e) => Check::fail(
            "binary_path",
            format!("cannot read {}: {e}", binary.display()),
            "Reinstall syncfleet.",
        ),
    }
}

fn data_dir_check(root: &Path) -> Check {
    if !root.exists() {
        return Check::warn(
            "data_directory",
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
                    "data_directory",
                    format!(
                        "Data dir {} is writable but readable by others (mode {mode:o})",
                        root.display()
                    ),
                    format!("chmod 700 {}", root.display()),
                ),
                _ => Check::pass(
                    "data_directory",
                    format!("Data dir: {} (writable)", root.display()),
                ),
            }
        }
        Err(e) => Check::fail(
            "data_directory",
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
    let mut checks = Vec::new();
    let target = service::resolve(ctx, args.service.as_deref());
    // Config and token checks need the workspace: the resolved one, or
    // the installed service's config file.
    let workspace = match &target {
        Ok(Target {
            workspace: Some(w), ..
        }) => Ok(w.clone()),
        Ok(Target {
            manifest: Some(m), ..
        }) => crate::config::WorkspaceConfig::load(Path::new(&m.config_path)),
        Ok(_) => ctx.workspace(),
        Err(e) => Err(e.clone()),
    };
    match &workspace {
        Ok(w) => checks.push(Check::pass(
            "config",
            format!("Config loaded from {}", w.path.display()),
        )),
        Err(e) => checks.push(Check::fail(
            "config",
            e.message.clone(),
            e.suggestion.clone().unwrap_or_default(),
        )),
    }
    let id = target.as_ref().ok().map(|t| t.id.clone());
    if let Ok(w) = &workspace {
        match (&w.token_env_var, &id) {
            (None, _) => checks.push(Check::pass(
                "token_present",
                "No token needed (no token_env_var)",
            )),
            (Some(var), Some(id)) => {
                checks.push(match crate::runner::resolve_token(ctx, id, Some(var)) {
                    Ok(_) => Check::pass("token_present", format!("{var} is set")),
                    Err(e) => {
                        Check::fail("token_present", e.message, e.suggestion.unwrap_or_default())
                    }
                })
            }
            (Some(var), None) => checks.push(Check::fail(
                "token_present",
                format!("{var}: no service to read it for"),
                "syncfleet install",
            )),
        }
        checks.push(token_valid_check(ctx, w, id.as_deref(), args.offline));
    }

    let manifest = target.as_ref().ok().and_then(|t| t.manifest.clone());
    let kind = manifest
        .as_ref()
        .and_then(|m| SchedulerKind::parse(&m.platform).ok())
        .or_else(|| SchedulerKind::default_for_os().ok());
    let backend = kind.map(|k| scheduler::backend(k, &ctx.env));
    checks.push(binary_check(&binary_path()));
    checks.push(data_dir_check(ctx.data_dir.root()));
    if let Some(b) = &backend {
        checks.extend(b.prerequisites());
    }
    if let (Some(id), Some(b)) = (&id, &backend) {
        checks.extend(install_checks(ctx, id, manifest.as_ref(), b.as_ref()));
    }
    if args.fix {
        apply_fixes(ctx, &mut checks, id.as_deref(), backend.as_deref());
    }
    Ok(DoctorReport {
        service_id: id,
        overall: overall(&checks),
        checks,
    })
}

fn token_valid_check(
    ctx: &Context,
    w: &crate::config::WorkspaceConfig,
    id: Option<&str>,
    offline: bool,
) -> Check {
    let Some(cmd) = &w.token_check else {
        return Check {
            name: "token_valid".into(),
            status: CheckStatus::Skip,
            message: Some("No token_check configured".into()),
            action: None,
        };
    };
    if offline {
        return Check {
            name: "token_valid".into(),
            status: CheckStatus::Skip,
            message: Some("token_check skipped (--offline)".into()),
            action: None,
        };
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
    let redact = |s: &str| match &token {
        Some((_, v)) if !v.is_empty() => s.replace(v.as_str(), "[REDACTED]"),
        _ => s.to_string(),
    };
    match process::capture(&mut command, None, Duration::from_secs(30)) {
        Ok(c) if c.success() => Check::pass("token_valid", "Token accepted (token_check passed)"),
        Ok(c) => Check::fail(
            "token_valid",
            format!(
                "token_check failed ({}): {}",
                if c.timed_out {
                    "timed out".to_string()
                } else {
                    format!("exit {}", c.code.unwrap_or(-1))
                },
                redact(c.stderr.lines().last().unwrap_or("").trim())
            ),
            "Rotate the token, export it, and run: syncfleet install",
        ),
        Err(e) => Check::fail(
            "token_valid",
            format!("cannot run token_check '{}': {e}", cmd[0]),
            "Fix `token_check` in syncfleet.json.",
        ),
    }
}

fn install_checks(
    ctx: &Context,
    id: &str,
    manifest: Option<&Manifest>,
    backend: &dyn Scheduler,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let manifest_path = ctx.data_dir.manifest_path(id);
    let Some(m) = manifest else {
        let read = Manifest::read(&manifest_path);
        checks.push(match read {
            Err(e) => Check::fail("install_state", e.message, "syncfleet repair"),
            _ => Check::pass("install_state", "No existing install detected"),
        });
        return checks;
    };
    let drift = crate::commands::status::drift(m, backend);
    if drift.any() {
        checks.push(Check::fail(
            "install_state",
            format!("Service {id} has drifted: {}", drift.details.join("; ")),
            "syncfleet install (regenerates the artifacts)",
        ));
    } else {
        checks.push(Check::pass(
            "install_state",
            format!("Service {id} installed and matching its manifest"),
        ));
    }
    if !Path::new(&m.binary_path).exists() {
        checks.push(Check::fail(
            "scheduled_binary",
            format!("the scheduled binary {} no longer exists", m.binary_path),
            "syncfleet install (from the binary you use now)",
        ));
    }
    for (path, want) in [
        (ctx.data_dir.env_path(id), 0o600),
        (ctx.data_dir.wrapper_path(id), 0o700),
    ] {
        if let Ok(mode) = fsutil::mode_of(&path)
            && mode != want
        {
            checks.push(Check::fail(
                "file_modes",
                format!("{} has mode {mode:o}, expected {want:o}", path.display()),
                "syncfleet doctor --fix",
            ));
        }
    }
    let (status, err) = service::read_status(ctx, id);
    if let Some(e) = err {
        checks.push(Check::fail("status_file", e.message, "syncfleet repair"));
    }
    if let Some(run) = status.and_then(|s| s.current_run)
        && policy::is_stale_run(run.started_at_ms, process::pid_alive(run.pid), ctx.now_ms())
    {
        checks.push(Check::warn(
            "stale_run",
            format!(
                "a run (pid {}) started {} never finished",
                run.pid,
                crate::output::iso_ms(run.started_at_ms)
            ),
            "Nothing to do: the next run proceeds; check syncfleet logs for why it died.",
        ));
    }
    let _ = backend;
    checks
}

fn apply_fixes(
    ctx: &Context,
    checks: &mut Vec<Check>,
    id: Option<&str>,
    backend: Option<&dyn Scheduler>,
) {
    let mark_fixed = |checks: &mut Vec<Check>, name: &str, message: String| {
        for c in checks
            .iter_mut()
            .filter(|c| c.name == name && c.status != CheckStatus::Pass)
        {
            c.status = CheckStatus::Fixed;
            c.message = Some(message.clone());
        }
    };
    if checks
        .iter()
        .any(|c| c.name == "data_directory" && c.status != CheckStatus::Pass)
    {
        match fsutil::create_private_dir(ctx.data_dir.root()) {
            Ok(()) => mark_fixed(
                checks,
                "data_directory",
                format!("Created/secured {} (0700)", ctx.data_dir.root().display()),
            ),
            Err(e) => checks.push(Check::fail(
                "fix_data_directory",
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
                "file_modes",
                format!("Corrected modes: {}", fixed.join(", ")),
            );
        }
    }
    if let Some(b) = backend
        && let Some((what, result)) = b.safe_fix()
    {
        checks.push(match result {
            Ok(()) => Check {
                name: "scheduler_reload".into(),
                status: CheckStatus::Fixed,
                message: Some(format!("Ran {what}")),
                action: None,
            },
            Err(e) => Check::warn(
                "scheduler_reload",
                format!("{what} failed: {}", e.message),
                "Check the scheduler with syncfleet doctor.",
            ),
        });
    }
}
