//! `syncfleet pause`: runs no-op until `resume`; the schedule stays.

use crate::batch::{self, OneOrMany};
use crate::cli::PauseArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::{Render, Ui};
use crate::policy::{self, PolicyState};
use crate::runner::policy_of;
use crate::service::{self, OnCorrupt, update_status};
use crate::store::status::PauseKind;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct PauseReport {
    pub service_id: String,
    pub paused: bool,
    pub reason: String,
    pub already_paused: bool,
    /// An already paused service got the new `--reason`; without one, the
    /// first reason stays.
    pub reason_updated: bool,
}

impl Render for PauseReport {
    fn batch_line(&self, _ui: &Ui) -> Option<String> {
        Some(format!(
            "{} {}: {}",
            self.service_id,
            match (self.already_paused, self.reason_updated) {
                (false, _) => "paused",
                (true, false) => "already paused",
                (true, true) => "already paused; reason updated",
            },
            self.reason
        ))
    }

    fn human(&self, ui: &Ui) -> String {
        format!(
            "{}\n  Reason: {}\n  Resume with: syncfleet resume{}\n",
            ui.bold(&format!(
                "Service {} ({}):",
                match (self.already_paused, self.reason_updated) {
                    (false, _) => "paused",
                    (true, false) => "was already paused; reason kept",
                    (true, true) => "was already paused; reason updated",
                },
                self.service_id
            )),
            self.reason,
            if self.service_id.is_empty() {
                String::new()
            } else {
                format!(" --service {}", self.service_id)
            }
        )
    }
}

pub fn run(ctx: &Context, args: &PauseArgs) -> Result<OneOrMany<PauseReport>> {
    let selected = service::select(ctx, &args.select)?;
    if !args.select.is_batch() {
        return pause_one(ctx, args, selected[0].as_deref()).map(OneOrMany::One);
    }
    let targets: Vec<String> = selected.into_iter().flatten().collect();
    Ok(OneOrMany::Many(batch::for_each(
        &ctx.ui,
        "pause",
        &targets,
        |sel| pause_one(ctx, args, Some(sel)),
    )))
}

fn pause_one(ctx: &Context, args: &PauseArgs, selector: Option<&str>) -> Result<PauseReport> {
    let target = service::resolve(ctx, selector)?;
    let Some(manifest) = target.manifest else {
        return Err(service::not_installed(&target.id));
    };
    let id = target.id;
    let _admin = service::admin_lock(ctx, &id)?;
    let given = args.reason.clone().filter(|r| !r.trim().is_empty());
    let now = ctx.now_ms();
    let policy = policy_of(&manifest);
    let status_path = ctx.data_dir.status_path(&id);
    update_status(ctx, &id, OnCorrupt::Fail, |s| {
        if let (Some(first), None) = (&s.paused_reason, &given) {
            // Pausing a paused service again without a reason must not
            // hide why it was paused (an AUTH_FAILED, a maintenance note).
            return Ok(PauseReport {
                service_id: id.clone(),
                paused: true,
                reason: first.clone(),
                already_paused: true,
                reason_updated: false,
            });
        }
        let already_paused = s.paused_reason.is_some();
        policy::check_transition(policy::policy_state(s, &policy, now), PolicyState::Paused)
            .map_err(|e| Error::corrupt_state(&status_path, e))?;
        let reason = given.clone().unwrap_or_else(|| "Manually paused".into());
        s.paused_reason = Some(reason.clone());
        s.pause_kind = Some(PauseKind::Manual);
        s.paused_at_ms = Some(now);
        s.circuit_breaker_paused_at_ms = None;
        Ok(PauseReport {
            service_id: id.clone(),
            paused: true,
            reason,
            already_paused,
            reason_updated: already_paused,
        })
    })
}
