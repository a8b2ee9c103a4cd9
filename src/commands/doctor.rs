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
use crate::registry::{ServiceEntry, ServiceFilter};
use crate::scheduler::{self, Scheduler, SchedulerKind};
use crate::service::{self, Target};
use crate::store::health;
use crate::store::manifest::Manifest;
use serde::Serialize;
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
    let no_workspace = ctx.global.config.is_none()
        && matches!(ctx.workspace(), Err(e) if e.code == ErrorCode::ConfigNotFound);
    if args.service.is_none() && no_workspace {
        return Ok(fleet(ctx, args));
    }
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
    checks.push(health::temp_files_check(&ctx.data_dir));
    if let Some(b) = &backend {
        checks.extend(b.prerequisites());
    }
    if let (Some(id), Some(b)) = (&id, &backend) {
        checks.extend(install_checks(ctx, id, manifest.as_ref(), b.as_ref()));
    }
    if let Some(id) = &id {
        checks.push(health::runs_file_check(&ctx.data_dir, id));
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
    } else if Path::new(&m.binary_path).canonicalize().ok() != Some(binary_path()) {
        checks.push(Check::warn(
            "scheduled_binary",
            format!(
                "the schedule runs {}, not this syncfleet ({})",
                m.binary_path,
                binary_path().display()
            ),
            format!(
                "syncfleet install --workspace {} (re-points the schedule at this binary)",
                m.workspace_root
            ),
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
        let fix = if crate::store::is_newer_schema(&e) {
            e.suggestion.unwrap_or_default()
        } else {
            format!("syncfleet repair --service {id}")
        };
        checks.push(Check::fail("status_file", e.message, fix));
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
    health::fix_temp_files(&ctx.data_dir, checks);
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

/// The fleet doctor (no `--service`, no workspace here): the environment
/// once, the registry, then every service the files or the registry know.
fn fleet(ctx: &Context, args: &DoctorArgs) -> DoctorReport {
    // The prerequisites of every scheduler the fleet uses (and the OS
    // default), each checked once.
    let mut kinds: Vec<SchedulerKind> = SchedulerKind::default_for_os().into_iter().collect();
    for m in service::installed(ctx) {
        if let Ok(k) = SchedulerKind::parse(&m.platform)
            && !kinds.contains(&k)
        {
            kinds.push(k);
        }
    }
    let backends: Vec<Box<dyn Scheduler>> = kinds
        .iter()
        .map(|k| scheduler::backend(*k, &ctx.env))
        .collect();
    let backend = backends.first();
    let mut checks = vec![
        binary_check(&binary_path()),
        data_dir_check(ctx.data_dir.root()),
        health::temp_files_check(&ctx.data_dir),
    ];
    for b in &backends {
        checks.extend(b.prerequisites());
    }
    let reindex = "syncfleet reindex (or doctor --fix)";
    let registry = ctx.registry();
    let mut entries: std::collections::HashMap<String, ServiceEntry> = Default::default();
    let mut usable = false;
    match registry {
        Err(e) => checks.push(Check::fail(
            "registry",
            format!("the registry cannot be used: {}", e.message),
            e.suggestion.as_deref().unwrap_or(reindex),
        )),
        Ok(reg) => {
            match reg.quick_check() {
                Ok(p) if p.is_empty() => checks.push(Check::pass(
                    "registry_integrity",
                    "Registry passes quick_check",
                )),
                Ok(p) => checks.push(Check::fail(
                    "registry_integrity",
                    format!("registry quick_check: {}", p.join("; ")),
                    reindex,
                )),
                Err(e) => checks.push(Check::fail("registry_integrity", e.message, reindex)),
            }
            // A registry created after the files (new, or lost) is only
            // an empty index: filling it is what any reader does, and it
            // changes no file of record.
            let filled = match reg.is_filled() {
                Ok(true) => Ok(()),
                Ok(false) => crate::index::catch_up(reg, &ctx.data_dir, ctx.now_ms()).map(|_| ()),
                Err(e) => Err(e),
            };
            match filled {
                Ok(()) => usable = true,
                Err(e) => checks.push(Check::fail(
                    "registry_filled",
                    format!(
                        "the registry could not be built from the files: {}",
                        e.message
                    ),
                    reindex,
                )),
            }
            if let Ok(all) = reg.services(&ServiceFilter {
                include_uninstalled: true,
                ..Default::default()
            }) {
                entries = all.into_iter().map(|e| (e.service_id.clone(), e)).collect();
            }
        }
    }
    let pending = crate::index::pending_ids(&ctx.data_dir);
    if !pending.is_empty() {
        checks.push(Check::warn(
            "pending_imports",
            format!(
                "{} services have history the registry has not imported yet",
                pending.len()
            ),
            "Any history/list/report imports them; or: syncfleet reindex",
        ));
    }

    let mut ids: std::collections::BTreeSet<String> =
        ctx.data_dir.service_ids().into_iter().collect();
    ids.extend(entries.keys().cloned());
    let bar = crate::batch::progress(&ctx.ui, ids.len(), "doctor");
    let mut services = Vec::new();
    for id in &ids {
        bar.inc(1);
        let entry = entries.get(id);
        let mut c = service_checks(ctx, id, entry, usable, backend.map(|b| b.as_ref()));
        if args.fix {
            apply_fixes(ctx, &mut c, Some(id), None);
        }
        // A service that is gone everywhere but the registry has nothing
        // left to check but its history.
        services.push(ServiceChecks {
            service_id: id.clone(),
            overall: overall(&c),
            checks: c,
        });
    }
    bar.finish_and_clear();
    if args.fix {
        let needs_reindex = checks
            .iter()
            .chain(services.iter().flat_map(|s| s.checks.iter()))
            .any(|c| {
                c.status != CheckStatus::Pass
                    && matches!(
                        c.name.as_str(),
                        "registry"
                            | "registry_integrity"
                            | "registry_filled"
                            | "pending_imports"
                            | "registry_agreement"
                            | "pending_import"
                    )
            });
        if needs_reindex {
            let rebuilt = crate::index::rebuild(&ctx.data_dir, ctx.now_ms());
            let done = match rebuilt {
                Ok(r) => {
                    for s in &mut services {
                        for c in s.checks.iter_mut().filter(|c| {
                            c.status != CheckStatus::Pass
                                && matches!(
                                    c.name.as_str(),
                                    "registry_agreement" | "pending_import"
                                )
                        }) {
                            c.status = CheckStatus::Fixed;
                        }
                        s.overall = overall(&s.checks);
                    }
                    for c in checks.iter_mut().filter(|c| {
                        c.status != CheckStatus::Pass && c.name.starts_with("registry")
                            || c.name == "pending_imports"
                    }) {
                        c.status = CheckStatus::Fixed;
                    }
                    Check {
                        name: "reindex".into(),
                        status: CheckStatus::Fixed,
                        message: Some(format!(
                            "Rebuilt the registry from the files ({} services, {} runs){}",
                            r.fill.services,
                            r.fill.runs_total,
                            r.corrupt_backup
                                .map(|b| format!("; the corrupt one was moved to {b}"))
                                .unwrap_or_default()
                        )),
                        action: None,
                    }
                }
                Err(e) => Check::fail(
                    "reindex",
                    e.message,
                    "Check the data directory permissions.",
                ),
            };
            checks.push(done);
        }
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

/// Everything the fleet doctor checks for one service.
fn service_checks(
    ctx: &Context,
    id: &str,
    entry: Option<&ServiceEntry>,
    registry_usable: bool,
    default_backend: Option<&dyn Scheduler>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let reindex = "syncfleet reindex (or doctor --fix)";
    let manifest = match Manifest::read(&ctx.data_dir.manifest_path(id)) {
        Ok(m) => {
            checks.push(match &m {
                Some(_) => Check::pass("manifest", "Manifest present and readable"),
                None => Check::pass("manifest", "Not installed (history kept)"),
            });
            m
        }
        Err(e) => {
            checks.push(Check::fail(
                "manifest",
                e.message,
                "syncfleet repair --service ".to_string() + id,
            ));
            None
        }
    };
    checks.push(health::runs_file_check(&ctx.data_dir, id));
    if registry_usable {
        let disagreement = match (&manifest, entry) {
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
        checks.push(match disagreement {
            Some(d) => Check::fail("registry_agreement", d, reindex),
            None => Check::pass("registry_agreement", "Registry and files agree"),
        });
        let size = std::fs::metadata(ctx.data_dir.runs_path(id))
            .map(|m| m.len())
            .unwrap_or(0);
        let offset = entry.map_or(0, |e| e.runs_offset);
        if size != offset {
            checks.push(Check::warn(
                "pending_import",
                format!(
                    "runs.jsonl has {} bytes the registry has not imported",
                    size.abs_diff(offset)
                ),
                "Any history/list/report imports them; or: syncfleet reindex",
            ));
        }
    }
    let Some(m) = manifest else {
        return checks;
    };
    let backend = SchedulerKind::parse(&m.platform)
        .ok()
        .map(|k| scheduler::backend(k, &ctx.env));
    match backend.as_deref().or(default_backend) {
        Some(b) => checks.extend(install_checks(ctx, id, Some(&m), b)),
        None => checks.push(Check::fail(
            "install_state",
            format!(
                "platform '{}' is not supported by this syncfleet",
                m.platform
            ),
            "Reinstall with a supported --scheduler.",
        )),
    }
    // Missed runs: nothing for more than twice the interval, not paused.
    let (status, _) = service::read_status(ctx, id);
    let status = status.unwrap_or_default();
    let now = ctx.now_ms();
    let window = 2 * m.interval_seconds as i64 * 1000;
    let installed_ms = chrono::DateTime::parse_from_rfc3339(&m.installed_at_iso)
        .map(|t| t.timestamp_millis())
        .unwrap_or(now);
    let last = status.last_run.as_ref().map(|r| r.timestamp_ms);
    let since = last.unwrap_or(installed_ms);
    if status.paused_reason.is_none() && now - since > window {
        checks.push(Check::warn(
            "missed_runs",
            format!(
                "no run since {} (more than twice the {} interval) while not paused",
                last.map(crate::output::iso_ms)
                    .unwrap_or_else(|| "install".into()),
                crate::duration::format_interval(m.interval_seconds)
            ),
            format!(
                "Check the schedule: syncfleet status --service {id}; syncfleet logs --service {id}"
            ),
        ));
    } else {
        checks.push(Check::pass("missed_runs", "Runs arrive on schedule"));
    }
    checks
}
