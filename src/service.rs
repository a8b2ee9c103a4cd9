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

/// The one reading of a service's manifest, for every command: Ok(None)
/// when the service is not installed, else the manifest or the store's
/// error. A file from a newer syncfleet says "upgrade" everywhere; a
/// corrupt one names the exact repair command.
pub fn read_manifest(ctx: &Context, id: &str) -> Result<Option<Manifest>> {
    Manifest::read(&ctx.data_dir.manifest_path(id)).map_err(|e| {
        if e.code == ErrorCode::ServiceCorruptState && !e.is_newer_schema() {
            let repair = format!("syncfleet repair --service {id}");
            e.with_suggestion(format!(
                "Run `{repair}` (it backs the file up, never deletes it), then reinstall if told to."
            ))
            .with_actions([repair])
        } else {
            e
        }
    })
}

/// A manifest that exists but cannot be read (corrupt, or from a newer
/// syncfleet), with the error every command reports for it.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub id: String,
    pub error: Error,
}

/// Every service directory's manifest, through [`read_manifest`].
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub manifests: Vec<Manifest>,
    pub unreadable: Vec<Unreadable>,
}

impl Installed {
    /// Ids of every installed service, readable or not, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .manifests
            .iter()
            .map(|m| m.service_id.clone())
            .chain(self.unreadable.iter().map(|u| u.id.clone()))
            .collect();
        ids.sort();
        ids
    }
}

/// Every installed service: the readable manifests, and the unreadable
/// ones with their error (callers report them, never drop them).
pub fn scan(ctx: &Context) -> Installed {
    let mut out = Installed::default();
    for id in ctx.data_dir.service_ids() {
        match read_manifest(ctx, &id) {
            Ok(Some(m)) => out.manifests.push(m),
            Ok(None) => {}
            Err(error) => out.unreadable.push(Unreadable { id, error }),
        }
    }
    out
}

/// The manifests that read cleanly (install's collision check; commands
/// that report to people use [`scan`], which keeps the unreadable ones).
pub fn installed(ctx: &Context) -> Vec<Manifest> {
    scan(ctx).manifests
}

/// What a fleet selector names, as selectors for `resolve`: the ids of
/// every installed service (`--all`, unreadable manifests included so that
/// each reports its error) or of those with any of the tags, or each
/// `--service` as given (resolved one by one, so an unknown one fails
/// alone). Empty selectors mean the current workspace's service. Tags that
/// match no service are an error listing the known tags.
pub fn select(ctx: &Context, sel: &crate::cli::FleetSelector) -> Result<Vec<Option<String>>> {
    if sel.all {
        return Ok(scan(ctx).ids().into_iter().map(Some).collect());
    }
    if !sel.tags.is_empty() {
        let found = scan(ctx);
        let ids: Vec<Option<String>> = found
            .manifests
            .iter()
            .filter(|m| m.tags.iter().any(|t| sel.tags.contains(t)))
            .map(|m| Some(m.service_id.clone()))
            .collect();
        if ids.is_empty() {
            return Err(no_such_tag(&sel.tags, &found.manifests));
        }
        return Ok(ids);
    }
    if sel.services.is_empty() {
        return Ok(vec![None]);
    }
    Ok(sel.services.iter().cloned().map(Some).collect())
}

fn no_such_tag(wanted: &[String], manifests: &[Manifest]) -> Error {
    let known: std::collections::BTreeSet<&str> = manifests
        .iter()
        .flat_map(|m| m.tags.iter().map(String::as_str))
        .collect();
    let known = if known.is_empty() {
        "no installed service has a tag".to_string()
    } else {
        format!(
            "known tags: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    Error::new(
        ErrorCode::ServiceNotFound,
        format!(
            "no installed service has the tag {} ({known})",
            wanted
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    )
    .with_suggestion("Pick one of the known tags; each service's tags: syncfleet -J list | jq '.data.services[] | {service_id, tags}'")
    .with_actions(["syncfleet list"])
}

/// How many candidates an error lists before pointing at `syncfleet list`.
pub const CANDIDATES_SHOWN: usize = 5;

/// At most [`CANDIDATES_SHOWN`] candidates, then how many more and where
/// to see them all.
pub fn candidates_hint(candidates: &[String], list_command: &str) -> String {
    let mut out = candidates
        .iter()
        .take(CANDIDATES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if candidates.len() > CANDIDATES_SHOWN {
        out.push_str(&format!(
            ", … and {} more; see all with `{list_command}`",
            candidates.len() - CANDIDATES_SHOWN
        ));
    }
    out
}

fn describe(m: &Manifest) -> String {
    format!("{} ({})", m.service_id, m.workspace_root)
}

/// A `--service` value for commands over history: an id, a name or a
/// unique id prefix the registry knows, installed or not (uninstalled
/// services keep history).
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
    if let [one] = named.as_slice() {
        return Ok(one.service_id.clone());
    }
    let prefixed: Vec<String> = all
        .iter()
        .filter(|e| e.service_id.starts_with(sel))
        .map(|e| e.service_id.clone())
        .collect();
    match prefixed.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::new(
            ErrorCode::ServiceNotFound,
            format!("no service '{sel}' in the registry"),
        )
        .with_suggestion("Check the id or name with `syncfleet list --all`.")
        .with_actions(["syncfleet list --all"])),
        many => Err(ambiguous_prefix(sel, many, "syncfleet list --all")),
    }
}

fn ambiguous_prefix(sel: &str, ids: &[String], list_command: &str) -> Error {
    Error::new(
        ErrorCode::AmbiguousService,
        format!(
            "'{sel}' is the start of {} service ids: {}",
            ids.len(),
            candidates_hint(ids, list_command)
        ),
    )
    .with_suggestion("Give more characters of the id, or the whole id or name, to --service.")
    .with_actions([list_command])
}

/// Resolve `--service <id|name|id prefix>`, or the current workspace's
/// service, and read its manifest (the one reading: an unreadable one is
/// its error, never "not installed").
pub fn resolve(ctx: &Context, selector: Option<&str>) -> Result<Target> {
    let (id, workspace) = resolve_id(ctx, selector)?;
    let manifest = read_manifest(ctx, &id)?.filter(|m| {
        // A config `name` another workspace already installed under is
        // not this workspace's service.
        workspace
            .as_ref()
            .is_none_or(|w| m.identity_hash == identity_hash(w))
    });
    Ok(Target {
        id,
        manifest,
        workspace,
    })
}

/// The id `resolve` would act on, without reading that service's
/// manifest (`repair` acts on unreadable ones), and the workspace config
/// when the service was found from it.
pub fn resolve_id(
    ctx: &Context,
    selector: Option<&str>,
) -> Result<(String, Option<WorkspaceConfig>)> {
    if let Some(sel) = selector {
        return resolve_selector(ctx, sel).map(|id| (id, None));
    }
    match ctx.workspace() {
        Ok(config) => {
            let identity = identity_hash(&config);
            let found = scan(ctx);
            let mine: Vec<&Manifest> = found
                .manifests
                .iter()
                .filter(|m| m.identity_hash == identity)
                .collect();
            match mine.as_slice() {
                [one] => Ok((one.service_id.clone(), Some(config))),
                [] => {
                    let id = match &config.name {
                        Some(name) => {
                            sanitize_service_name(name).map_err(Error::invalid_argument)?
                        }
                        None => identity,
                    };
                    Ok((id, Some(config)))
                }
                many => Err(ambiguous(
                    &many.iter().map(|m| describe(m)).collect::<Vec<_>>(),
                )),
            }
        }
        Err(e) if e.code == ErrorCode::ConfigNotFound && ctx.global.config.is_none() => {
            let found = scan(ctx);
            match found.ids().as_slice() {
                [one] => Ok((one.clone(), None)),
                [] => Err(e),
                _ => Err(ambiguous(
                    &found
                        .manifests
                        .iter()
                        .map(describe)
                        .chain(found.unreadable.iter().map(|u| u.id.clone()))
                        .collect::<Vec<_>>(),
                )),
            }
        }
        Err(e) => Err(e),
    }
}

fn ambiguous(candidates: &[String]) -> Error {
    Error::new(
        ErrorCode::AmbiguousService,
        format!(
            "several services match; candidates: {}",
            candidates_hint(candidates, "syncfleet list")
        ),
    )
    .with_suggestion(
        "Pick one with --service <id|name> (see `syncfleet list`), or run inside its workspace.",
    )
    .with_actions(["syncfleet list"])
}

fn resolve_selector(ctx: &Context, sel: &str) -> Result<String> {
    // An empty selector is the start of every id: never a choice.
    if sel.trim().is_empty() {
        return Err(Error::invalid_argument(
            "--service needs a service id, name or id prefix, and got an empty value",
        )
        .with_suggestion("See the services and their ids with: syncfleet list"));
    }
    if is_valid_service_id(sel) && ctx.data_dir.service_dir(sel).is_dir() {
        return Ok(sel.to_string());
    }
    let found = scan(ctx);
    let by_name: Vec<&Manifest> = found
        .manifests
        .iter()
        .filter(|m| m.name.as_deref() == Some(sel))
        .collect();
    if let [one] = by_name.as_slice() {
        return Ok(one.service_id.clone());
    }
    let ids = found.ids();
    let prefixed: Vec<String> = ids
        .iter()
        .filter(|id| id.starts_with(sel))
        .cloned()
        .collect();
    match prefixed.as_slice() {
        [one] => return Ok(one.clone()),
        [] => {}
        many => return Err(ambiguous_prefix(sel, many, "syncfleet list")),
    }
    let known = if ids.is_empty() {
        "no services are installed".to_string()
    } else {
        let mut described: Vec<String> = found.manifests.iter().map(describe).collect();
        described.extend(found.unreadable.iter().map(|u| u.id.clone()));
        format!(
            "installed: {}",
            candidates_hint(&described, "syncfleet list")
        )
    };
    Err(Error::new(
        ErrorCode::ServiceNotFound,
        format!("no service '{sel}' ({known})"),
    )
    .with_suggestion("Check the id or name with `syncfleet list`.")
    .with_actions(["syncfleet list"]))
}

/// "service 'ID' is not installed": the one wording, in errors and in
/// the reports of commands for which that is not an error.
pub fn not_installed_message(id: &str) -> String {
    format!("service '{id}' is not installed")
}

/// The error of a command that needs an installed service (a manifest)
/// and found none. Callers replace the suggestion where a better fix fits.
pub fn not_installed(id: &str) -> Error {
    Error::new(ErrorCode::ServiceNotFound, not_installed_message(id))
        .with_suggestion("Install it from its workspace: syncfleet install")
        .with_actions(["syncfleet install", "syncfleet list"])
}

/// Whether an installed service's workspace is gone (moved or deleted):
/// its config file is no longer where install found it.
pub fn workspace_missing(m: &Manifest) -> bool {
    !std::path::Path::new(&m.config_path).exists()
}

/// The command that re-attaches a moved service's workspace.
pub fn move_command(id: &str, new_dir: &str) -> String {
    format!("syncfleet move --service {id} {new_dir}")
}

/// For a workspace no installed service matches: the services it may
/// have been moved from. Those whose workspace is gone and that share its
/// name or its projects; else every service whose workspace is gone.
pub fn moved_from(ctx: &Context, config: &WorkspaceConfig) -> Vec<Manifest> {
    let gone: Vec<Manifest> = installed(ctx)
        .into_iter()
        .filter(workspace_missing)
        .collect();
    let name = config
        .name
        .as_deref()
        .and_then(|n| sanitize_service_name(n).ok());
    let mut projects = config.projects.clone();
    projects.sort();
    let alike: Vec<Manifest> = gone
        .iter()
        .filter(|m| {
            let same_name = name.is_some() && m.name == name;
            let mut theirs = m.project_urls.clone();
            theirs.sort();
            same_name || (!projects.is_empty() && theirs == projects)
        })
        .cloned()
        .collect();
    if alike.is_empty() { gone } else { alike }
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

/// The per-service lock that admin commands (install, uninstall, pause,
/// resume, repair) take turns on, waited for up to 10 s.
pub fn admin_lock(ctx: &Context, id: &str) -> Result<lock::LockGuard> {
    lock::acquire_within(
        &ctx.data_dir.admin_lock_path(id),
        Duration::from_secs(10),
        &format!("service {id}"),
        ctx.clock(),
    )
}

/// What the pipeline lock of `group` is called in a LOCKED error.
pub fn pipeline_lock_name(group: &str) -> String {
    format!("the pipeline of lock group '{group}'")
}

/// The pipeline lock of `group`, waited for up to 30 s: holding it, no run
/// of the group is in flight and none appends to its history.
pub fn pipeline_lock(ctx: &Context, group: &str) -> Result<lock::LockGuard> {
    lock::acquire_within(
        &ctx.data_dir.pipeline_lock_path(group),
        Duration::from_secs(30),
        &pipeline_lock_name(group),
        ctx.clock(),
    )
}

/// Read-modify-write status.json under the per-service status lock.
pub fn update_status<T>(
    ctx: &Context,
    id: &str,
    on_corrupt: OnCorrupt,
    f: impl FnOnce(&mut StatusFile) -> Result<T>,
) -> Result<T> {
    let lock_path = ctx.data_dir.locks_dir().join(format!("status-{id}.lock"));
    let _guard = lock::acquire_within(
        &lock_path,
        Duration::from_secs(10),
        "the status file",
        ctx.clock(),
    )?;
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
