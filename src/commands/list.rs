//! `syncfleet list`: every installed service, from the manifests.

use crate::cli::ListArgs;
use crate::context::Context;
use crate::duration::format_interval;
use crate::error::Result;
use crate::output::{Render, Ui};
use crate::policy::{self, SchedulerState};
use crate::process::pid_alive;
use crate::runner::policy_of;
use crate::scheduler::{self, SchedulerKind};
use crate::service;
use crate::store::manifest::Manifest;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ListedService {
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub workspace_root: String,
    pub platform: String,
    pub interval_seconds: u64,
    pub profile: String,
    pub installed_at_iso: String,
    pub platform_state: String,
    pub scheduler_state: SchedulerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<String>,
    pub consecutive_failures: u32,
    pub drift: bool,
}

#[derive(Debug, Serialize)]
pub struct ListReport {
    pub services: Vec<ListedService>,
}

impl Render for ListReport {
    fn human(&self, ui: &Ui) -> String {
        if self.services.is_empty() {
            return "No services installed. Run: syncfleet install\n".into();
        }
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_header([
                "ID",
                "PLATFORM",
                "EVERY",
                "PROFILE",
                "STATE",
                "LAST RUN",
                "FAILS",
                "WORKSPACE",
            ]);
        for s in &self.services {
            let state = if s.drift {
                format!("{} (drift)", s.scheduler_state.as_str())
            } else {
                s.scheduler_state.as_str().to_string()
            };
            table.add_row([
                s.service_id.clone(),
                s.platform.clone(),
                format_interval(s.interval_seconds),
                s.profile.clone(),
                state,
                s.last_outcome.clone().unwrap_or_else(|| "-".into()),
                s.consecutive_failures.to_string(),
                s.workspace_root.clone(),
            ]);
        }
        format!("{}\n{table}\n", ui.bold("Installed services:"))
    }
}

pub fn listed(ctx: &Context, m: &Manifest) -> ListedService {
    let (status, _) = service::read_status(ctx, &m.service_id);
    let status = status.unwrap_or_default();
    let backend = SchedulerKind::parse(&m.platform)
        .ok()
        .map(|k| scheduler::backend(k, &ctx.env));
    let (platform_state, drift) = match &backend {
        Some(b) => {
            let state = b.state(&m.service_id);
            let d = crate::commands::status::drift_with_state(m, b.as_ref(), &state);
            (state.state, d.any())
        }
        None => ("unknown".into(), true),
    };
    ListedService {
        service_id: m.service_id.clone(),
        name: m.name.clone(),
        workspace_root: m.workspace_root.clone(),
        platform: m.platform.clone(),
        interval_seconds: m.interval_seconds,
        profile: m.profile.clone(),
        installed_at_iso: m.installed_at_iso.clone(),
        platform_state,
        scheduler_state: policy::scheduler_state(
            &status,
            true,
            &policy_of(m),
            ctx.now_ms(),
            &pid_alive,
        ),
        last_run_iso: status.last_run.as_ref().map(|r| r.timestamp_iso.clone()),
        last_outcome: status
            .last_run
            .as_ref()
            .map(|r| r.outcome.as_str().to_string()),
        consecutive_failures: status.consecutive_failures,
        drift,
    }
}

pub fn run(ctx: &Context, _args: &ListArgs) -> Result<ListReport> {
    Ok(ListReport {
        services: service::installed(ctx)
            .iter()
            .map(|m| listed(ctx, m))
            .collect(),
    })
}
