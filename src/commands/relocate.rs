//! `syncfleet move --service ID NEW_DIR`: re-attach a service to its
//! workspace after the directory moved (`mv ~/src/a ~/src/b`). The service
//! keeps its id, name, history, status and settings; its manifest, the
//! registry and its scheduler artifacts follow the workspace. (The file is
//! not `move.rs`: `move` is a Rust keyword.)

use crate::cli::MoveArgs;
use crate::commands::install::{self, InstallReport};
use crate::config::{CONFIG_FILE_NAME, WorkspaceConfig};
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::output::{Render, Ui, tilde};
use crate::service;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
pub struct MoveReport {
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the manifest said the workspace was.
    pub previous_workspace_root: String,
    pub workspace_root: String,
    pub config_path: String,
    /// The recomputed fingerprint of the workspace at its new place.
    pub identity_hash: String,
    /// The service already pointed here: nothing was written.
    pub no_change: bool,
    pub service_files: Vec<String>,
    /// What install's planning saw change besides the place.
    pub changes: Vec<String>,
    /// The service is still paused (a pause survives a move), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    home: PathBuf,
}

impl Render for MoveReport {
    fn human(&self, ui: &Ui) -> String {
        let mut out = String::new();
        crate::output::warn_all(&self.warnings);
        let show = |p: &str| tilde(Path::new(p), &self.home);
        if self.no_change {
            out.push_str(&format!(
                "{}\n  Workspace: {}\n",
                ui.bold(&format!(
                    "Service {} already points at this workspace; nothing changed.",
                    self.service_id
                )),
                show(&self.workspace_root)
            ));
            return out;
        }
        out.push_str(&format!(
            "{}\n",
            ui.bold(&format!("Service moved ({}):", self.service_id))
        ));
        let field = crate::output::field;
        field(&mut out, "From:", &show(&self.previous_workspace_root));
        field(&mut out, "To:", &show(&self.workspace_root));
        for f in &self.service_files {
            field(&mut out, "File:", &show(f));
        }
        out.push_str("  Kept: id, name, history, status, interval, profile, scheduler, token\n");
        if let Some(reason) = &self.paused_reason {
            out.push_str(&format!(
                "  Still paused ({reason}). Resume with: syncfleet resume --service {}\n",
                self.service_id
            ));
        }
        out
    }
}

/// The workspace config in NEW_DIR, or an error naming what is missing.
fn load_new_place(ctx: &Context, id: &str, new_dir: &Path) -> Result<WorkspaceConfig> {
    let dir = ctx.cwd.join(new_dir);
    let config_path = dir.join(CONFIG_FILE_NAME);
    if !config_path.is_file() {
        let what = if dir.is_dir() {
            format!("{} has no {CONFIG_FILE_NAME}", dir.display())
        } else {
            format!("{} is not a directory", dir.display())
        };
        return Err(Error::new(
            ErrorCode::ConfigNotFound,
            format!("cannot move service '{id}' there: {what}"),
        )
        .with_suggestion(format!(
            "Give the workspace's new directory, the one holding its {CONFIG_FILE_NAME}: syncfleet move --service {id} <dir>"
        )));
    }
    WorkspaceConfig::load(&config_path)
}

pub fn run(ctx: &Context, args: &MoveArgs) -> Result<MoveReport> {
    let target = service::resolve(ctx, Some(&args.service))?;
    let id = target.id;
    let Some(existing) = target.manifest else {
        return Err(service::not_installed(&id)
            .with_suggestion(
                "Install the workspace where it is now: syncfleet install --workspace <dir>",
            )
            .with_actions(["syncfleet list"]));
    };
    let config = load_new_place(ctx, &id, &args.new_dir)?;
    let identity = service::identity_hash(&config);
    let root = config.root.display().to_string();
    if let Some(other) = service::installed(ctx)
        .into_iter()
        .find(|m| m.service_id != id && (m.identity_hash == identity || m.workspace_root == root))
    {
        return Err(Error::new(
            ErrorCode::NameConflict,
            format!(
                "{root} is already the workspace of service '{}'",
                other.service_id
            ),
        )
        .with_suggestion(format!(
            "Move '{id}' to its own workspace, or remove the other service first: syncfleet uninstall --service {}",
            other.service_id
        ))
        .with_actions(["syncfleet list"]));
    }
    let InstallReport {
        service_files,
        changes,
        no_change,
        warnings,
        ..
    } = install::reattach(ctx, &existing, config.clone())?;
    let (status, _) = service::read_status(ctx, &id);
    Ok(MoveReport {
        service_id: id,
        name: existing.name.clone(),
        previous_workspace_root: existing.workspace_root.clone(),
        workspace_root: root,
        config_path: config.path.display().to_string(),
        identity_hash: identity,
        no_change,
        service_files,
        changes,
        paused_reason: status.and_then(|s| s.paused_reason),
        warnings,
        home: ctx.env.home.clone(),
    })
}
