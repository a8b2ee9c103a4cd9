//! `syncfleet trigger`: a run now, through the same policy as a scheduled
//! one (`--ignore-backoff` skips a backoff window, never a pause;
//! `--ignore-conditions` runs whatever the workspace's conditions say).

use crate::batch::{self, OneOrMany};
use crate::cli::TriggerArgs;
use crate::context::Context;
use crate::error::Result;
use crate::runner::{self, RunReport};
use crate::service;
use crate::store::status::Trigger;

pub fn run(ctx: &Context, args: &TriggerArgs) -> Result<OneOrMany<RunReport>> {
    let selected = service::select(ctx, &args.select)?;
    if !args.select.is_batch() {
        return trigger_one(ctx, args, selected[0].as_deref()).map(OneOrMany::One);
    }
    let targets: Vec<String> = selected.into_iter().flatten().collect();
    Ok(OneOrMany::Many(batch::for_each(
        &ctx.ui,
        "trigger",
        &targets,
        |sel| trigger_one(ctx, args, Some(sel)),
    )))
}

fn trigger_one(ctx: &Context, args: &TriggerArgs, selector: Option<&str>) -> Result<RunReport> {
    let target = service::resolve(ctx, selector)?;
    if target.manifest.is_none() {
        return Err(service::not_installed(&target.id)
            .with_suggestion("Install it first (syncfleet install), or run the pipeline without policy: syncfleet sync")
            .with_actions(["syncfleet install", "syncfleet sync"]));
    }
    runner::execute(
        ctx,
        &target.id,
        Trigger::Trigger,
        args.ignore_backoff,
        args.ignore_conditions,
    )
}
