//! `syncfleet uninstall`: disable and remove the schedule, the manifest,
//! the env file and the wrapper; keep status, runs and logs. Idempotent.

use crate::batch;
use crate::cli::UninstallArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::lock;
use crate::output::{Render, Ui, tilde};
use crate::scheduler::{self, SchedulerKind};
use crate::service;
use crate::store::manifest::Manifest;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct UninstallResult {
    pub was_installed: bool,
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub removed_files: Vec<String>,
    pub kept_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
        #[serde(skip_serializing_if = "Vec::is_empty")]
        failed: Vec<FailedItem>,
    },
}

fn human_one(r: &UninstallResult, ui: &Ui, home: &std::path::Path) -> String {
    if !r.was_installed {
        return format!(
            "Service {} is not installed. Nothing to do.\n",
            r.service_id
        );
    }
    let mut out = format!(
        "{}\n",
        ui.bold(&format!("Service uninstalled ({}):", r.service_id))
    );
    for w in &r.warnings {
        out.push_str(&format!("  {} {w}\n", ui.yellow("warning:")));
    }
    for f in &r.removed_files {
        out.push_str(&format!(
            "  Removed: {}\n",
            tilde(std::path::Path::new(f), home)
        ));
    }
    for f in &r.kept_files {
        out.push_str(&format!(
            "  Kept:    {}\n",
            tilde(std::path::Path::new(f), home)
        ));
    }
    out
}

impl Render for UninstallReport {
    fn human(&self, ui: &Ui) -> String {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        match self {
            UninstallReport::One(r) => human_one(r, ui, &home),
            UninstallReport::Many { services, failed }
                if services.is_empty() && failed.is_empty() =>
            {
                "No services installed. Nothing to do.\n".into()
            }
            UninstallReport::Many { services, failed } => {
                let mut out: String = services.iter().map(|r| human_one(r, ui, &home)).collect();
                for f in failed {
                    out.push_str(&format!(
                        "{} {}: {}\n",
                        ui.red("failed:"),
                        f.target,
                        f.error.message
                    ));
                }
                out
            }
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            UninstallReport::Many { failed, .. } => {
                failed.first().map(|f| f.error.exit_code()).unwrap_or(0)
            }
            UninstallReport::One(_) => 0,
        }
    }
}

pub fn run(ctx: &Context, args: &UninstallArgs) -> Result<UninstallReport> {
    let selected = service::select(ctx, &args.select)?;
    if !args.select.is_batch() {
        let target = service::resolve(ctx, selected[0].as_deref())?;
        return Ok(UninstallReport::One(uninstall_one(ctx, &target.id, true)?));
    }
    let targets: Vec<String> = selected.into_iter().flatten().collect();
    let mut batch = batch::for_each(&ctx.ui, "uninstall", &targets, |sel| {
        let target = service::resolve(ctx, Some(sel))?;
        uninstall_one(ctx, &target.id, false)
    });
    // One scheduler reload for the whole batch.
    let platforms: std::collections::BTreeSet<String> = batch
        .items
        .iter()
        .filter_map(|i| i.result.as_ref()?.platform.clone())
        .collect();
    for p in platforms {
        if let Ok(kind) = SchedulerKind::parse(&p)
            && let Err(e) = scheduler::backend(kind, &ctx.env).reload()
            && let Some(r) = batch.items.iter_mut().find_map(|i| i.result.as_mut())
        {
            r.warnings
                .push(format!("scheduler reload failed: {}", e.message));
        }
    }
    Ok(UninstallReport::Many {
        services: batch
            .items
            .iter()
            .filter_map(|i| i.result.as_ref())
            .cloned()
            .collect(),
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

/// Uninstall one service; `reload` = reload the scheduler now (a batch
/// reloads once at the end instead).
pub fn uninstall_one(ctx: &Context, id: &str, reload: bool) -> Result<UninstallResult> {
    let _admin = lock::acquire_within(
        &ctx.data_dir.admin_lock_path(id),
        Duration::from_secs(10),
        &format!("service {id}"),
    )?;
    let manifest_path = ctx.data_dir.manifest_path(id);
    let mut warnings = Vec::new();
    // A corrupt manifest must not block uninstalling: the artifacts are
    // found by id from the backend.
    let manifest = match Manifest::read(&manifest_path) {
        Ok(m) => m,
        Err(e) => {
            warnings.push(format!(
                "manifest unreadable ({}); removing by service id",
                e.message
            ));
            None
        }
    };
    let kind = manifest
        .as_ref()
        .and_then(|m| SchedulerKind::parse(&m.platform).ok())
        .or_else(|| SchedulerKind::default_for_os().ok());
    let mut removed = Vec::new();
    let mut platform = None;
    if let Some(kind) = kind {
        let backend = scheduler::backend(kind, &ctx.env);
        let artifacts: Vec<PathBuf> = backend
            .artifact_paths(id)
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        if manifest.is_some() || !artifacts.is_empty() {
            platform = Some(kind.as_str().to_string());
            // Disabling an already-unloaded timer fails: the files still go.
            if let Err(e) = backend.deactivate(id) {
                warnings.push(format!("disable failed (continuing): {}", e.message));
            }
            for p in &artifacts {
                if fsutil::remove_if_exists(p).map_err(|e| Error::io("remove", p, e))? {
                    removed.push(p.display().to_string());
                }
            }
            if reload && let Err(e) = backend.reload() {
                warnings.push(format!("scheduler reload failed: {}", e.message));
            }
        }
    }
    let was_installed = manifest_path.exists() || !removed.is_empty();
    for p in [
        manifest_path,
        ctx.data_dir.env_path(id),
        ctx.data_dir.wrapper_path(id),
    ] {
        if fsutil::remove_if_exists(&p).map_err(|e| Error::io("remove", &p, e))? {
            removed.push(p.display().to_string());
        }
    }
    if was_installed {
        crate::index::uninstalled(ctx, id);
    }
    let kept_files = [
        ctx.data_dir.status_path(id),
        ctx.data_dir.runs_path(id),
        ctx.data_dir.logs_dir(id),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .map(|p| p.display().to_string())
    .collect();
    Ok(UninstallResult {
        was_installed,
        service_id: id.to_string(),
        platform,
        removed_files: removed,
        kept_files,
        warnings,
    })
}
