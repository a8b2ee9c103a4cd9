//! `syncfleet repair`: corrupt manifest/status files are renamed to
//! `<name>.corrupt.<timestamp>` (never deleted); status is reinitialized;
//! a corrupt manifest means reinstalling.

use crate::cli::ServiceSelector;
use crate::context::Context;
use crate::error::{ErrorCode, Result};
use crate::lock;
use crate::output::{Render, Ui};
use crate::service;
use crate::store::status::StatusFile;
use crate::store::{back_up_corrupt, write_json};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct RepairAction {
    pub file: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
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
            out.push_str(&format!(
                "  {}: {}\n",
                if a.action == "reinitialized" {
                    "Reinitialized"
                } else {
                    "Cleared"
                },
                a.file
            ));
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
    matches!(read, Err(e) if e.code == ErrorCode::ServiceCorruptState && !e.is_newer_schema())
}

pub fn run(ctx: &Context, args: &ServiceSelector) -> Result<RepairReport> {
    // The id alone: repair is for the services whose files cannot be read.
    let (id, _) = service::resolve_id(ctx, args.service.as_deref())?;
    let _admin = lock::acquire_within(
        &ctx.data_dir.admin_lock_path(&id),
        Duration::from_secs(10),
        &format!("service {id}"),
    )?;
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
        actions.push(RepairAction {
            file: manifest_path.display().to_string(),
            action: "cleared".into(),
            backup: Some(backup.display().to_string()),
        });
        needs_reinstall = true;
    }
    let status_path = ctx.data_dir.status_path(&id);
    if is_corrupt(&status) {
        let backup = back_up_corrupt(&status_path, now_secs)?;
        let fresh = StatusFile {
            updated_at_iso: ctx.now_iso(),
            ..StatusFile::default()
        };
        write_json(&status_path, &fresh)?;
        actions.push(RepairAction {
            file: status_path.display().to_string(),
            action: "reinitialized".into(),
            backup: Some(backup.display().to_string()),
        });
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
