//! `syncfleet sync`: the workspace's pipeline now, with no service policy
//! and no status writes (but the pipeline lock, and a manual history entry).

use crate::cli::{ProfileArg, SyncArgs};
use crate::config::Profile;
use crate::context::Context;
use crate::error::Result;
use crate::runner::{self, RunReport};
use crate::service;

pub fn run(ctx: &Context, args: &SyncArgs) -> Result<RunReport> {
    let config = ctx.workspace()?;
    let target = service::resolve(ctx, None)?;
    let profile = match args.profile {
        Some(ProfileArg::Fast) => Profile::Fast,
        Some(ProfileArg::Balanced) => Profile::Balanced,
        Some(ProfileArg::Full) => Profile::Full,
        None => target
            .manifest
            .as_ref()
            .and_then(|m| Profile::parse(&m.profile).ok())
            .unwrap_or(Profile::Balanced),
    };
    let lock_group = target
        .manifest
        .as_ref()
        .map(|m| m.lock_group.clone())
        .or_else(|| config.lock_group.clone())
        .unwrap_or_else(|| target.id.clone());
    runner::manual_sync(
        ctx,
        &config,
        &target.id,
        &lock_group,
        profile,
        config.token_env_var.as_deref(),
    )
}
