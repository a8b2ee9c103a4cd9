//! Finding the service a command acts on, and the read-modify-write of
//! its status file under a short per-service lock.

use crate::config::WorkspaceConfig;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::identity::{compute_service_id, is_valid_service_id, sanitize_service_name};
use crate::lock;
use crate::store::manifest::Manifest;
use crate::store::status::StatusFile;
use std::time::Duration;

/// The service a command acts on.
pub struct Target {
    pub id: String,
    pub manifest: Option<Manifest>,
    /// The workspace config, when the target was found from it.
    pub workspace: Option<WorkspaceConfig>,
}

/// The fingerprint of a workspace config.
pub fn identity_hash(config: &WorkspaceConfig) -> String {
    compute_service_id(&config.root, &config.path, &config.project_refs())
}

/// Every service directory's manifest that reads cleanly, by id.
pub fn installed(ctx: &Context) -> Vec<Manifest> {
    ctx.data_dir
        .service_ids()
        .into_iter()
        .filter_map(|id| {
            Manifest::read(&ctx.data_dir.manifest_path(&id))
                .ok()
                .flatten()
        })
        .collect()
}

/// What a fleet selector names, as selectors for `resolve`: the ids of
/// every installed service (`--all`) or of those with any of the tags, or
/// each `--service` as given (resolved one by one, so an unknown one fails
/// alone). Empty selectors mean the current workspace's service.
pub fn select(ctx: &Context, sel: &crate::cli::FleetSelector) -> Vec<Option<String>> {
    if sel.all || !sel.tags.is_empty() {
        return installed(ctx)
            .into_iter()
            .filter(|m| sel.all || m.tags.iter().any(|t| sel.tags.contains(t)))
            .map(|m| Some(m.service_id))
            .collect();
    }
    if sel.services.is_empty() {
        return vec![None];
    }
    sel.services.iter().cloned().map(Some).collect()
}

/// A `--service` value for commands over history: an id or a name the
/// registry knows, installed or not (uninstalled services keep history).
pub fn resolve_recorded(reg: &crate::registry::Registry, sel: &str) -> Result<String> {
    if reg.service(sel)?.is_some() {
        return Ok(sel.to_string());
    }
    let all = reg.services(&crate::registry::ServiceFilter {
        include_uninstalled: true,
        ..Default::default()
    })?;
    let named: Vec<&crate::registry::ServiceEntry> = all
        .iter()
        .filter(|e| e.name.as_deref() == Some(sel))
        .collect();
    match named.as_slice() {
        [one] => Ok(one.service_id.clone()),
        _ => Err(Error::new(
            ErrorCode::ServiceNotFound,
            format!("no service '{sel}' in the registry"),
        )
        .with_suggestion("Check the id or name with `syncfleet list --all`.")
        .with_actions(["syncfleet list --all"])),
    }
}

fn candidates_hint(manifests: &[Manifest]) -> String {
    manifests
        .iter()
        .map(|m| format!("{} ({})", m.service_id, m.workspace_root))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolve `--service <id|name>`, or the current workspace's service.
pub fn resolve(ctx: &Context, selector: Option<&str>) -> Result<Target> {
    if let Some(sel) = selector {
        return resolve_selector(ctx, sel);
    }
    match ctx.workspace() {
        Ok(config) => {
            let identity = identity_hash(&config);
            let manifests = installed(ctx);
            let mine: Vec<&Manifest> = manifests
                .iter()
                .filter(|m| m.identity_hash == identity)
                .collect();
            match mine.as_slice() {
                [one] => Ok(Target {
                    id: one.service_id.clone(),
                    manifest: Some((*one).clone()),
                    workspace: Some(config),
                }),
                [] => {
                    let id = match &config.name {
                        Some(name) => {
                            sanitize_service_name(name).map_err(Error::invalid_argument)?
                        }
                        None => identity,
                    };
                    Ok(Target {
                        id,
                        manifest: None,
                        workspace: Some(config),
                    })
                }
                many => Err(ambiguous(
                    &many.iter().map(|m| (*m).clone()).collect::<Vec<_>>(),
                )),
            }
        }
        Err(e) if e.code == ErrorCode::ConfigNotFound && ctx.global.config.is_none() => {
            let manifests = installed(ctx);
            match manifests.len() {
                1 => {
                    let m = manifests.into_iter().next().expect("one");
                    Ok(Target {
                        id: m.service_id.clone(),
                        manifest: Some(m),
                        workspace: None,
                    })
                }
                0 => Err(e),
                _ => Err(ambiguous(&manifests)),
            }
        }
        Err(e) => Err(e),
    }
}

fn ambiguous(manifests: &[Manifest]) -> Error {
    Error::new(
        ErrorCode::AmbiguousService,
        format!(
            "several services match; candidates: {}",
            candidates_hint(manifests)
        ),
    )
    .with_suggestion(
        "Pick one with --service <id|name> (see `syncfleet list`), or run inside its workspace.",
    )
    .with_actions(["syncfleet list"])
}

fn resolve_selector(ctx: &Context, sel: &str) -> Result<Target> {
    if is_valid_service_id(sel) && ctx.data_dir.service_dir(sel).is_dir() {
        let manifest = Manifest::read(&ctx.data_dir.manifest_path(sel))?;
        return Ok(Target {
            id: sel.to_string(),
            manifest,
            workspace: None,
        });
    }
    let manifests = installed(ctx);
    let by_name: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.name.as_deref() == Some(sel))
        .collect();
    if let [one] = by_name.as_slice() {
        return Ok(Target {
            id: one.service_id.clone(),
            manifest: Some((*one).clone()),
            workspace: None,
        });
    }
    let known = if manifests.is_empty() {
        "no services are installed".to_string()
    } else {
        format!("installed: {}", candidates_hint(&manifests))
    };
    Err(Error::new(
        ErrorCode::ServiceNotFound,
        format!("no service '{sel}' ({known})"),
    )
    .with_suggestion("Check the id or name with `syncfleet list`.")
    .with_actions(["syncfleet list"]))
}

/// What to do when status.json is corrupt. Only `repair` renames a
/// corrupt file: a fresh state would drop a pause or a backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCorrupt {
    /// Refuse, pointing at `syncfleet repair`.
    Fail,
}

/// Read status.json for display; a corrupt file is reported, not fatal.
pub fn read_status(ctx: &Context, id: &str) -> (Option<StatusFile>, Option<Error>) {
    match StatusFile::read(&ctx.data_dir.status_path(id)) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e)),
    }
}

/// Read-modify-write status.json under the per-service status lock.
pub fn update_status<T>(
    ctx: &Context,
    id: &str,
    on_corrupt: OnCorrupt,
    f: impl FnOnce(&mut StatusFile) -> Result<T>,
) -> Result<T> {
    let lock_path = ctx.data_dir.locks_dir().join(format!("status-{id}.lock"));
    let _guard = lock::acquire_within(&lock_path, Duration::from_secs(10), "the status file")?;
    let path = ctx.data_dir.status_path(id);
    // Irrefutable while refusing is the only policy; a new variant must
    // decide here what it does with a corrupt file.
    let OnCorrupt::Fail = on_corrupt;
    let mut status = StatusFile::read(&path)?.unwrap_or_default();
    let out = f(&mut status)?;
    status.write_atomic(&path, &ctx.now_iso())?;
    crate::index::status_written(ctx, id, &status);
    Ok(out)
}
