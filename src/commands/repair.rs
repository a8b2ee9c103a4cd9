//! `syncfleet repair`: corrupt manifest/status files are renamed to
//! `<name>.corrupt.<timestamp>` (never deleted); status is reinitialized;
//! a corrupt manifest means reinstalling.

use crate::cli::ServiceSelector;
use crate::context::Context;
use crate::error::{ErrorCode, Result};
use crate::lock;
use crate::output::{Render, Ui};
use crate::service;
use crate::store::manifest::Manifest;
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

fn is_corrupt(e: &crate::error::Error) -> bool {
    e.code == ErrorCode::ServiceCorruptState && !e.message.contains("understands up to")
}

pub fn run(ctx: &Context, args: &ServiceSelector) -> Result<RepairReport> {
    // A corrupt manifest cannot be resolved by name; by id, or from the
    // workspace, it can.
    let target = service::resolve(ctx, args.service.as_deref());
    let id = match (&target, &args.service) {
        (Ok(t), _) => t.id.clone(),
        (Err(_), Some(sel)) if crate::identity::is_valid_service_id(sel) => sel.clone(),
        (Err(e), _) => return Err(e.clone()),
    };
    let _admin = lock::acquire_within(
        &ctx.data_dir.admin_lock_path(&id),
        Duration::from_secs(10),
        &format!("service {id}"),
    )?;
    let now_secs = ctx.now_ms() / 1000;
    let mut actions = Vec::new();
    let mut needs_reinstall = false;
    let manifest_path = ctx.data_dir.manifest_path(&id);
    if let Err(e) = Manifest::read(&manifest_path)
        && is_corrupt(&e)
    {
        let backup = back_up_corrupt(&manifest_path, now_secs)?;
        actions.push(RepairAction {
            file: manifest_path.display().to_string(),
            action: "cleared".into(),
            backup: Some(backup.display().to_string()),
        });
        needs_reinstall = true;
    }
    let status_path = ctx.data_dir.status_path(&id);
    if let Err(e) = StatusFile::read(&status_path)
        && is_corrupt(&e)
    {
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
