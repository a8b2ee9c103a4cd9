//! `syncfleet resume`: clear any pause and the failure streak. The next
//! scheduled run goes ahead; resume itself runs nothing.

use crate::batch::{self, OneOrMany};
use crate::cli::ResumeArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::{Render, Ui};
use crate::policy::{self, PolicyState};
use crate::runner::policy_of;
use crate::service::{self, OnCorrupt, update_status};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ResumeReport {
    pub service_id: String,
    pub installed: bool,
    pub was_paused: bool,
    pub previous_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_kind: Option<String>,
    pub consecutive_failures_cleared: u32,
}

impl Render for ResumeReport {
    fn batch_line(&self, _ui: &Ui) -> Option<String> {
        Some(format!(
            "{} {}",
            self.service_id,
            match (self.installed, self.was_paused) {
                (false, _) => "not installed".to_string(),
                (true, true) => "resumed".to_string(),
                (true, false) => format!(
                    "not paused ({} failures cleared)",
                    self.consecutive_failures_cleared
                ),
            }
        ))
    }

    fn human(&self, ui: &Ui) -> String {
        if !self.installed {
            return format!(
                "Nothing to resume: {}.\n",
                crate::service::not_installed_message(&self.service_id)
            );
        }
        if !self.was_paused {
            return format!(
                "Service {} is not paused.{}\n",
                self.service_id,
                if self.consecutive_failures_cleared > 0 {
                    format!(" Cleared {} failures.", self.consecutive_failures_cleared)
                } else {
                    String::new()
                }
            );
        }
        let reason = self.previous_reason.as_deref().unwrap_or("");
        let code = reason.split(':').next().unwrap_or(reason);
        let previous = match self.previous_kind.as_deref() {
            Some("circuit_breaker") => format!(
                "PAUSED (CIRCUIT_BREAKER, {} transient failures)",
                self.consecutive_failures_cleared
            ),
            Some("manual") => format!("PAUSED ({reason})"),
            _ => format!("PAUSED ({code})"),
        };
        format!(
            "{}\n  Previous state: {previous}\n  Failures cleared: {}\n  Next sync will run at the scheduled interval.\n",
            ui.bold(&format!("Service resumed ({}):", self.service_id)),
            self.consecutive_failures_cleared
        )
    }
}

pub fn run(ctx: &Context, args: &ResumeArgs) -> Result<OneOrMany<ResumeReport>> {
    let selected = service::select(ctx, &args.select)?;
    if !args.select.is_batch() {
        return resume_one(ctx, selected[0].as_deref()).map(OneOrMany::One);
    }
    let targets: Vec<String> = selected.into_iter().flatten().collect();
    Ok(OneOrMany::Many(batch::for_each(
        &ctx.ui,
        "resume",
        &targets,
        |sel| resume_one(ctx, Some(sel)),
    )))
}

fn resume_one(ctx: &Context, selector: Option<&str>) -> Result<ResumeReport> {
    let target = service::resolve(ctx, selector)?;
    let id = target.id;
    let Some(manifest) = target.manifest else {
        return Ok(ResumeReport {
            service_id: id,
            installed: false,
            was_paused: false,
            previous_reason: None,
            previous_kind: None,
            consecutive_failures_cleared: 0,
        });
    };
    let _admin = service::admin_lock(ctx, &id)?;
    let now = ctx.now_ms();
    let policy = policy_of(&manifest);
    let status_path = ctx.data_dir.status_path(&id);
    update_status(ctx, &id, OnCorrupt::Fail, |s| {
        let was_paused = s.paused_reason.is_some();
        if was_paused {
            policy::check_transition(policy::policy_state(s, &policy, now), PolicyState::Idle)
                .map_err(|e| Error::corrupt_state(&status_path, e))?;
        }
        let report = ResumeReport {
            service_id: id.clone(),
            installed: true,
            was_paused,
            previous_reason: s.paused_reason.clone(),
            previous_kind: s.pause_kind().map(|k| k.as_str().to_string()),
            consecutive_failures_cleared: s.consecutive_failures,
        };
        s.clear_paused();
        Ok(report)
    })
}
