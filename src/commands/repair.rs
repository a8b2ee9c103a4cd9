//! `syncfleet repair`: corrupt manifest/status files are renamed to
//! `<name>.corrupt.<timestamp>` (never deleted); status is reinitialized
//! from the registry's cached state, so a pause or backoff survives; corrupt
//! lines of runs.jsonl go to `runs.jsonl.bad-<timestamp>`, every run stays;
//! a corrupt manifest means reinstalling.

use crate::cli::ServiceSelector;
use crate::context::Context;
use crate::error::Result;
use crate::output::{Render, Ui};
use crate::service;
use crate::store::status::StatusFile;
use crate::store::{back_up_corrupt, runs, write_json};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct RepairAction {
    pub file: String,
    /// cleared, reinitialized or lines_moved_aside.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// A reinitialized status.json took its run state from the registry.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restored_from_registry: bool,
    /// The pause the restored state carries on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// lines_moved_aside: how many lines went to the backup, and stayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines_moved: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines_kept: Option<usize>,
}

impl RepairAction {
    fn new(file: &std::path::Path, action: &str, backup: &std::path::Path) -> RepairAction {
        RepairAction {
            file: file.display().to_string(),
            action: action.into(),
            backup: Some(backup.display().to_string()),
            restored_from_registry: false,
            paused_reason: None,
            lines_moved: None,
            lines_kept: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RepairReport {
    pub service_id: String,
    pub repaired: bool,
    pub actions: Vec<RepairAction>,
    pub needs_reinstall: bool,
}

impl Render for RepairReport {
    fn human(&self, ui: &Ui) -> String {
        if !self.repaired {
            return format!("No repair needed ({}).\n", self.service_id);
        }
        let mut out = format!(
            "{}\n",
            ui.bold(&format!("Service repaired ({}):", self.service_id))
        );
        for a in &self.actions {
            let verb = match (a.action.as_str(), a.restored_from_registry) {
                ("reinitialized", true) => "Restored from the registry's cached state",
                ("reinitialized", false) => "Reinitialized",
                ("lines_moved_aside", _) => "Moved corrupt lines aside",
                _ => "Cleared",
            };
            out.push_str(&format!("  {verb}: {}\n", a.file));
            if let Some(reason) = &a.paused_reason {
                out.push_str(&format!("  Still paused: {reason}\n"));
            }
            if let (Some(moved), Some(kept)) = (a.lines_moved, a.lines_kept) {
                out.push_str(&format!("  Lines moved: {moved}; lines kept: {kept}\n"));
            }
            if let Some(b) = &a.backup {
                out.push_str(&format!("  Backed up: {b}\n"));
            }
        }
        if self.needs_reinstall {
            out.push_str("  The manifest was corrupt: reinstall with: syncfleet install\n");
        }
        out
    }
}

/// Corrupt, as opposed to missing, fine, or written by a newer syncfleet
/// (which repair must leave alone: see `run`).
fn is_corrupt<T>(read: &Result<Option<T>>) -> bool {
    matches!(read, Err(e) if crate::store::is_corrupt(e))
}

/// The run state to restart from after status.json was corrupt: the
/// registry's cached copy (pause, backoff, failure streak, last run),
/// else a fresh one. A run in flight is not carried over.
fn restart_state(ctx: &Context, id: &str) -> (StatusFile, bool) {
    let cached = ctx
        .registry()
        .ok()
        .and_then(|reg| reg.service(id).ok().flatten())
        .map(|entry| entry.status);
    let restored = cached.is_some();
    let mut status = cached.unwrap_or_default();
    status.current_run = None;
    status.updated_at_iso = ctx.now_iso();
    (status, restored)
}

pub fn run(ctx: &Context, args: &ServiceSelector) -> Result<RepairReport> {
    // The id alone: repair is for the services whose files cannot be read.
    let (id, _) = service::resolve_id(ctx, args.service.as_deref())?;
    let _admin = service::admin_lock(ctx, &id)?;
    let manifest = service::read_manifest(ctx, &id);
    let status = StatusFile::read(&ctx.data_dir.status_path(&id));
    // A file from a newer syncfleet is not corrupt: say what every other
    // command says, and touch nothing.
    for read in [manifest.as_ref().map(|_| ()), status.as_ref().map(|_| ())] {
        if let Err(e) = read
            && e.is_newer_schema()
        {
            return Err(e.clone());
        }
    }
    let now_secs = ctx.now_ms() / 1000;
    let mut actions = Vec::new();
    let mut needs_reinstall = false;
    let manifest_path = ctx.data_dir.manifest_path(&id);
    if is_corrupt(&manifest) {
        let backup = back_up_corrupt(&manifest_path, now_secs)?;
        actions.push(RepairAction::new(&manifest_path, "cleared", &backup));
        needs_reinstall = true;
    }
    let status_path = ctx.data_dir.status_path(&id);
    if is_corrupt(&status) {
        // Read the cache before anything refreshes it from the files.
        let (restarted, restored) = restart_state(ctx, &id);
        let backup = back_up_corrupt(&status_path, now_secs)?;
        write_json(&status_path, &restarted)?;
        let mut action = RepairAction::new(&status_path, "reinitialized", &backup);
        action.restored_from_registry = restored;
        action.paused_reason = restarted.paused_reason.clone();
        actions.push(action);
    }
    let runs_path = ctx.data_dir.runs_path(&id);
    let has_corrupt_lines = runs::read_all(&runs_path)?.1.corrupt() > 0;
    if has_corrupt_lines {
        // Runs append under the pipeline lock: holding it, no append can
        // land in the file that is about to be replaced.
        let group = match &manifest {
            Ok(Some(m)) => m.lock_group.clone(),
            _ => id.clone(),
        };
        let _pipeline = crate::service::pipeline_lock(ctx, &group)?;
        if let Some(done) = runs::set_aside_corrupt_lines(&runs_path, now_secs)? {
            let mut action = RepairAction::new(&runs_path, "lines_moved_aside", &done.backup);
            action.lines_moved = Some(done.lines_moved);
            action.lines_kept = Some(done.lines_kept);
            actions.push(action);
        }
    }
    if !actions.is_empty() {
        crate::index::refreshed(ctx, &id);
    }
    Ok(RepairReport {
        service_id: id,
        repaired: !actions.is_empty(),
        actions,
        needs_reinstall,
    })
}
