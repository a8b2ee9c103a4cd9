//! `syncfleet uninstall`: disable and remove the schedule, the manifest,
//! the env file and the wrapper; keep status, runs and logs. Idempotent.
//!
//! The artifacts go from every scheduler that has some for the service:
//! the one its manifest records, a second schedule left on another one, and
//! those of an orphan (a killed first install, a manifest deleted by hand),
//! which only the scheduler listings know.

use crate::batch;
use crate::cli::UninstallArgs;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::fsutil;
use crate::identity::is_valid_service_id;
use crate::output::{Render, Ui, tilde};
use crate::scheduler::{self, Inventory, SchedulerKind};
use crate::service;
use crate::store::manifest::Manifest;
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct UninstallResult {
    pub was_installed: bool,
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Schedulers other than `platform` the service also had artifacts on
    /// (a second schedule, or an orphan on several).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_platforms: Vec<String>,
    /// There was no manifest: the artifacts were an orphan's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub orphan: bool,
    /// Schedules stopped (timer, crontab block, agent, task).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_schedules: Vec<String>,
    pub removed_files: Vec<String>,
    pub kept_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl UninstallResult {
    /// Every scheduler it was removed from.
    fn platforms(&self) -> impl Iterator<Item = &String> {
        self.platform.iter().chain(&self.other_platforms)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedItem {
    pub target: String,
    pub error: crate::error::Error,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UninstallReport {
    One(UninstallResult),
    Many {
        services: Vec<UninstallResult>,
        /// How many of `services` were installed and are now removed.
        removed: usize,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        failed: Vec<FailedItem>,
    },
    /// The person answered no at the prompt: nothing was removed.
    Declined {
        declined: bool,
    },
}

fn human_one(r: &UninstallResult, ui: &Ui, home: &Path) -> String {
    if !r.was_installed {
        return format!(
            "Nothing to do: {}.\n",
            crate::service::not_installed_message(&r.service_id)
        );
    }
    let title = if r.orphan {
        format!("Orphaned artifacts removed ({}):", r.service_id)
    } else {
        format!("Service uninstalled ({}):", r.service_id)
    };
    crate::output::warn_all(&r.warnings);
    let mut out = format!("{}\n", ui.bold(&title));
    for s in &r.removed_schedules {
        out.push_str(&format!("  Stopped: {s}\n"));
    }
    for f in &r.removed_files {
        out.push_str(&format!("  Removed: {}\n", tilde(Path::new(f), home)));
    }
    for f in &r.kept_files {
        out.push_str(&format!("  Kept:    {}\n", tilde(Path::new(f), home)));
    }
    out
}

/// One line of a batch: what happened to one service.
fn batch_line(r: &UninstallResult, ui: &Ui) -> String {
    if !r.was_installed {
        return format!("{} {} (not installed)", ui.dim("skipped"), r.service_id);
    }
    let platforms: Vec<&str> = r.platforms().map(String::as_str).collect();
    for w in &r.warnings {
        tracing::warn!("{}: {w}", r.service_id);
    }
    format!(
        "{} {} ({}{})",
        ui.green("removed"),
        r.service_id,
        if r.orphan { "orphan: " } else { "" },
        platforms.join(", ")
    )
}

impl Render for UninstallReport {
    fn human(&self, ui: &Ui) -> String {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        match self {
            UninstallReport::One(r) => human_one(r, ui, &home),
            UninstallReport::Declined { .. } => "Nothing uninstalled.\n".into(),
            UninstallReport::Many {
                services, failed, ..
            } if services.is_empty() && failed.is_empty() => {
                "No services installed. Nothing to do.\n".into()
            }
            UninstallReport::Many {
                services,
                removed,
                failed,
            } => {
                let mut out = String::new();
                for r in services {
                    out.push_str(&batch_line(r, ui));
                    out.push('\n');
                }
                for f in failed {
                    out.push_str(&format!(
                        "{} {}: {}\n",
                        ui.red("failed:"),
                        f.target,
                        f.error.message
                    ));
                    if let Some(s) = &f.error.suggestion {
                        out.push_str(&format!("  fix: {s}\n"));
                    }
                }
                out.push_str(&format!(
                    "\n{} {removed} removed, {} failed\n",
                    ui.bold("Done:"),
                    failed.len()
                ));
                out
            }
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            UninstallReport::Many { failed, .. } => {
                failed.first().map(|f| f.error.exit_code()).unwrap_or(0)
            }
            UninstallReport::One(_) | UninstallReport::Declined { .. } => 0,
        }
    }
}

pub fn run(ctx: &Context, args: &UninstallArgs) -> Result<UninstallReport> {
    let inventory = Inventory::take(&ctx.env, ctx.data_dir.root());
    if !args.select.is_batch() {
        let id = target_id(ctx, args.select.services.first(), &inventory)?;
        return Ok(UninstallReport::One(uninstall_one(
            ctx, &id, &inventory, true,
        )?));
    }
    let mut targets: Vec<String> = service::select(ctx, &args.select)?
        .into_iter()
        .flatten()
        .collect();
    if args.select.all {
        for id in orphan_ids(ctx, &inventory) {
            if !targets.contains(&id) {
                targets.push(id);
            }
        }
    }
    if !confirm(ctx, args, &targets)? {
        return Ok(UninstallReport::Declined { declined: true });
    }
    let mut batch = batch::for_each(&ctx.ui, "uninstall", &targets, |sel| {
        let id = target_id(ctx, Some(&sel.to_string()), &inventory)?;
        uninstall_one(ctx, &id, &inventory, false)
    });
    // One scheduler reload for the whole batch.
    let kinds: std::collections::BTreeSet<SchedulerKind> = batch
        .items
        .iter()
        .filter_map(|i| i.result.as_ref())
        .flat_map(|r| r.platforms())
        .filter_map(|p| SchedulerKind::parse(p).ok())
        .collect();
    for kind in kinds {
        if let Err(e) = scheduler::backend(kind, &ctx.env).reload()
            && let Some(r) = batch.items.iter_mut().find_map(|i| i.result.as_mut())
        {
            r.warnings
                .push(format!("scheduler reload failed: {}", e.message));
        }
    }
    let services: Vec<UninstallResult> = batch
        .items
        .iter()
        .filter_map(|i| i.result.clone())
        .collect();
    Ok(UninstallReport::Many {
        removed: services.iter().filter(|r| r.was_installed).count(),
        services,
        failed: batch
            .items
            .into_iter()
            .filter_map(|i| {
                Some(FailedItem {
                    target: i.target,
                    error: i.error?,
                })
            })
            .collect(),
    })
}

/// The service a selector names: an installed one, or a service id that
/// only scheduler artifacts still know (an orphan whose data is gone too).
fn target_id(ctx: &Context, selector: Option<&String>, inventory: &Inventory) -> Result<String> {
    match service::resolve(ctx, selector.map(String::as_str)) {
        Ok(t) => Ok(t.id),
        Err(e) => match selector {
            Some(id)
                if e.code == ErrorCode::ServiceNotFound
                    && is_valid_service_id(id)
                    && !inventory.kinds_of(id).is_empty() =>
            {
                Ok(id.clone())
            }
            _ => Err(e),
        },
    }
}

/// Services of this data directory with scheduler artifacts but no
/// manifest: a first install killed before it wrote the manifest, or a
/// manifest deleted by hand. Its service directory is how an artifact is
/// known to be this data directory's: artifacts of services with no
/// directory here may belong to another `--data-dir`, and are only
/// removed when named (`uninstall --service ID`).
pub fn orphan_ids(ctx: &Context, inventory: &Inventory) -> Vec<String> {
    inventory
        .by_service
        .keys()
        .filter(|id| {
            ctx.data_dir.service_dir(id).is_dir() && !ctx.data_dir.manifest_path(id).exists()
        })
        .cloned()
        .collect()
}

/// `--all` and `--tag` remove many services at once: a person confirms on
/// a terminal; a program (robot mode, stdin not a terminal) passes --yes.
/// Whether a bulk uninstall may go on: `--yes`, or a person's yes at the
/// prompt. A "no" is an answer, not an error: nothing is removed.
fn confirm(ctx: &Context, args: &UninstallArgs, targets: &[String]) -> Result<bool> {
    let sel = &args.select;
    let many_at_once = sel.all || !sel.tags.is_empty();
    if args.yes || !many_at_once {
        return Ok(true);
    }
    let selector = if sel.all {
        "--all".to_string()
    } else {
        sel.tags
            .iter()
            .map(|t| format!("--tag {t}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let retry = format!("syncfleet uninstall {selector} --yes");
    let interactive = !ctx.ui.robot && std::io::stdin().is_terminal();
    if !interactive {
        return Err(Error::invalid_argument(format!(
            "uninstall {selector} removes {} services and needs confirmation, which {} cannot give",
            targets.len(),
            if ctx.ui.robot {
                "robot mode"
            } else {
                "a non-interactive stdin"
            }
        ))
        .with_suggestion(format!("Confirm with --yes: {retry}"))
        .with_actions([retry]));
    }
    if targets.is_empty() {
        return Ok(true);
    }
    const SHOWN: usize = 5;
    let mut names = targets
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if targets.len() > SHOWN {
        names.push_str(&format!(" and {} more", targets.len() - SHOWN));
    }
    eprint!(
        "Uninstall {} services ({names})? Their history is kept. [y/N] ",
        targets.len()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("read", Path::new("<stdin>"), e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Uninstall one service; `reload` = reload the scheduler now (a batch
/// reloads once at the end instead).
pub fn uninstall_one(
    ctx: &Context,
    id: &str,
    inventory: &Inventory,
    reload: bool,
) -> Result<UninstallResult> {
    let _admin = service::admin_lock(ctx, id)?;
    remove_locked(ctx, id, inventory, reload)
}

/// `doctor --fix` for an orphan: remove its artifacts unless an install
/// finished (wrote its manifest) since the orphan was seen. None when it
/// is no orphan any more.
pub fn remove_orphan(
    ctx: &Context,
    id: &str,
    inventory: &Inventory,
) -> Result<Option<UninstallResult>> {
    // An install in progress holds this lock until its manifest is written.
    let _admin = service::admin_lock(ctx, id)?;
    if ctx.data_dir.manifest_path(id).exists() {
        return Ok(None);
    }
    remove_locked(ctx, id, inventory, true).map(Some)
}

/// `doctor --fix` for a second schedule: remove the artifacts on every
/// scheduler but the one the manifest records (read again under the lock).
pub fn remove_second_schedules(
    ctx: &Context,
    id: &str,
    inventory: &Inventory,
) -> Result<Vec<String>> {
    let _admin = service::admin_lock(ctx, id)?;
    let Some(manifest) = Manifest::read(&ctx.data_dir.manifest_path(id))? else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for kind in inventory.kinds_of(id) {
        if kind.as_str() == manifest.platform {
            continue;
        }
        let backend = scheduler::backend(kind, &ctx.env);
        let r = backend.remove_artifacts(id)?;
        let _ = backend.reload();
        removed.extend(r.schedules.into_iter().chain(r.files));
        removed.extend(r.warnings);
    }
    Ok(removed)
}

/// The removal itself, under the service's admin lock: the schedules on
/// every scheduler that has one, then the install's own files. The
/// history (status, runs, logs) is kept.
fn remove_locked(
    ctx: &Context,
    id: &str,
    inventory: &Inventory,
    reload: bool,
) -> Result<UninstallResult> {
    let manifest_path = ctx.data_dir.manifest_path(id);
    let mut warnings = Vec::new();
    // A corrupt manifest must not block uninstalling: the artifacts are
    // found by id from the schedulers.
    let manifest = Manifest::read(&manifest_path).unwrap_or_else(|e| {
        warnings.push(format!(
            "manifest unreadable ({}); removing by service id",
            e.message
        ));
        None
    });
    let kinds = schedulers_with_artifacts(id, manifest.as_ref(), inventory);
    let mut result = UninstallResult {
        was_installed: false,
        service_id: id.to_string(),
        platform: None,
        other_platforms: Vec::new(),
        orphan: manifest.is_none() && !manifest_path.exists() && !kinds.is_empty(),
        removed_schedules: Vec::new(),
        removed_files: Vec::new(),
        kept_files: Vec::new(),
        warnings: Vec::new(),
    };
    for kind in kinds {
        let backend = scheduler::backend(kind, &ctx.env);
        let removal = backend.remove_artifacts(id)?;
        if reload && let Err(e) = backend.reload() {
            warnings.push(format!("scheduler reload failed: {}", e.message));
        }
        match result.platform {
            None => result.platform = Some(kind.as_str().to_string()),
            Some(_) => result.other_platforms.push(kind.as_str().to_string()),
        }
        result.removed_schedules.extend(removal.schedules);
        result.removed_files.extend(removal.files);
        warnings.extend(removal.warnings);
    }
    result.was_installed = manifest_path.exists() || result.platform.is_some();
    result.removed_files.extend(remove_install_files(ctx, id)?);
    if result.was_installed {
        crate::index::uninstalled(ctx, id);
    }
    result.kept_files = kept_files(ctx, id);
    result.warnings = warnings;
    Ok(result)
}

/// The recorded scheduler first (deactivated even with its files gone),
/// then every other one with artifacts of this id.
fn schedulers_with_artifacts(
    id: &str,
    manifest: Option<&Manifest>,
    inventory: &Inventory,
) -> Vec<SchedulerKind> {
    let recorded = manifest.and_then(|m| SchedulerKind::parse(&m.platform).ok());
    let others = inventory
        .kinds_of(id)
        .into_iter()
        .filter(|k| Some(*k) != recorded);
    recorded.into_iter().chain(others).collect()
}

/// Remove the manifest, the env file and the wrapper script; the paths
/// that were there.
fn remove_install_files(ctx: &Context, id: &str) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for p in [
        ctx.data_dir.manifest_path(id),
        ctx.data_dir.env_path(id),
        ctx.data_dir.wrapper_path(id),
    ] {
        if fsutil::remove_if_exists(&p).map_err(|e| Error::io("remove", &p, e))? {
            removed.push(p.display().to_string());
        }
    }
    Ok(removed)
}

/// The history an uninstall keeps, where it exists.
fn kept_files(ctx: &Context, id: &str) -> Vec<String> {
    [
        ctx.data_dir.status_path(id),
        ctx.data_dir.runs_path(id),
        ctx.data_dir.logs_dir(id),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .map(|p| p.display().to_string())
    .collect()
}
