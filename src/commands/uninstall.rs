//! `syncfleet uninstall`: disable and remove the schedule, the manifest,
//! the env file and the wrapper; keep status, runs and logs. Idempotent.

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

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UninstallReport {
    One(UninstallResult),
    Many { services: Vec<UninstallResult> },
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
            UninstallReport::Many { services } if services.is_empty() => {
                "No services installed. Nothing to do.\n".into()
            }
            UninstallReport::Many { services } => {
                services.iter().map(|r| human_one(r, ui, &home)).collect()
            }
        }
    }
}

pub fn run(ctx: &Context, args: &UninstallArgs) -> Result<UninstallReport> {
    if args.all {
        let ids: Vec<String> = ctx
            .data_dir
            .service_ids()
            .into_iter()
            .filter(|id| ctx.data_dir.manifest_path(id).exists())
            .collect();
        let services = ids
            .iter()
            .map(|id| uninstall_one(ctx, id))
            .collect::<Result<Vec<_>>>()?;
        return Ok(UninstallReport::Many { services });
    }
    let target = service::resolve(ctx, args.service.as_deref())?;
    Ok(UninstallReport::One(uninstall_one(ctx, &target.id)?))
}

pub fn uninstall_one(ctx: &Context, id: &str) -> Result<UninstallResult> {
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
            if let Err(e) = backend.reload() {
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
