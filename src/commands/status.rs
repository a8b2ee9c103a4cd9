//! `syncfleet status`: install state, scheduler state, last run, recent
//! runs, backoff, pause and drift. Always exits 0.

use crate::cli::ServiceSelector;
use crate::config::WorkspaceConfig;
use crate::context::Context;
use crate::duration::{format_elapsed, format_interval};
use crate::error::{Error, Result};
use crate::output::{Render, Ui, field, iso_ms, local_time};
use crate::policy::{self, Policy, SchedulerState};
use crate::process::pid_alive;
use crate::runner::policy_of;
use crate::scheduler::{self, PlatformState, Scheduler, SchedulerKind};
use crate::service;
use crate::store::manifest::Manifest;
use crate::store::status::{RunRecord, SkipCounts, StatusFile};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    pub platform_drift: bool,
    pub spec_drift: bool,
    pub command_drift: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The scheduler could not be asked (e.g. no user manager here): its
    /// state is unknown, which is not drift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_unreachable: Option<String>,
}

impl Drift {
    pub fn any(&self) -> bool {
        self.platform_drift || self.spec_drift || self.command_drift
    }
}

/// Compare the installed artifacts and the scheduler with the manifest.
pub fn drift(m: &Manifest, backend: &dyn Scheduler) -> Drift {
    drift_with_state(m, backend, &backend.state(&m.service_id))
}

pub fn drift_with_state(m: &Manifest, backend: &dyn Scheduler, state: &PlatformState) -> Drift {
    let mut d = Drift::default();
    if let Some(error) = &state.error {
        d.scheduler_unreachable = Some(error.clone());
    } else if !state.loaded {
        d.platform_drift = true;
        d.details.push(format!(
            "the scheduler reports the schedule as {}",
            state.state
        ));
    }
    let paths: Vec<_> = m
        .service_files
        .iter()
        .map(std::path::PathBuf::from)
        .collect();
    match scheduler::installed_hash(backend, &paths) {
        None => {
            d.spec_drift = true;
            d.details.push("a scheduler artifact is missing".into());
        }
        Some(h) if h != m.spec_hash => {
            d.spec_drift = true;
            d.details
                .push("a scheduler artifact was edited since install".into());
        }
        Some(_) => {}
    }
    let expected = scheduler::run_argv(&m.binary_path, &m.service_id);
    match backend.installed_command(&m.service_id) {
        Some(cmd) if cmd == expected => {}
        Some(cmd) => {
            d.command_drift = true;
            d.details.push(format!(
                "the scheduled command is `{}`, not `{}`",
                cmd.join(" "),
                m.sync_command
            ));
        }
        None => {
            if !d.spec_drift {
                d.command_drift = true;
                d.details.push("no scheduled command found".into());
            }
        }
    }
    d
}

#[derive(Debug, Serialize)]
pub struct BackoffInfo {
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub circuit_breaker_cooldown_expired: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CurrentRunInfo {
    pub pid: u32,
    pub started_at_iso: String,
    pub stale: bool,
}

#[derive(Debug, Serialize)]
pub struct LastSync {
    #[serde(flatten)]
    pub run: RunRecord,
    pub consecutive_failures: u32,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub installed: bool,
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub interval_seconds: Option<u64>,
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_state: Option<String>,
    /// The next firing: as the scheduler reports it, else estimated from
    /// the last run and the interval (timers fire an interval after the
    /// previous run ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub next_run_estimated: bool,
    /// `next_run` as an RFC 3339 instant, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_iso: Option<String>,
    /// A calendar service's schedule (absent: it runs every `interval_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<crate::schedule::CalendarSchedule>,
    /// A calendar slot that passed with no run since, while not paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_run_iso: Option<String>,
    pub scheduler_state: SchedulerState,
    pub last_sync: Option<LastSync>,
    pub recent_runs: Vec<RunRecord>,
    pub backoff: Option<BackoffInfo>,
    pub paused_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_run: Option<CurrentRunInfo>,
    /// Invocations that did not run, by reason, since install.
    pub skipped: SkipCounts,
    pub drift: Option<Drift>,
    /// Set when status.json could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_error: Option<String>,
    /// What fixes `status_error`: `syncfleet repair` for a corrupt file,
    /// an upgrade for one written by a newer syncfleet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_error_fix: Option<String>,
    /// The installed service's workspace (its syncfleet.json) is gone:
    /// moved or deleted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub workspace_missing: bool,
    /// This workspace is not installed, but these services' workspaces are
    /// gone and look like it: it was probably moved from there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved_from: Vec<MovedFrom>,
    /// Not installed, yet these schedulers still have its artifacts (its
    /// manifest was deleted, or a first install was killed): an orphan.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphan_schedules: Vec<String>,
}

/// A service this workspace was probably moved away from, and the command
/// that re-attaches it here.
#[derive(Debug, Serialize)]
pub struct MovedFrom {
    pub service_id: String,
    pub previous_workspace_root: String,
    pub command: String,
}

/// The policy `status` judges an uninstalled service's files by.
const UNINSTALLED_POLICY: Policy = Policy {
    interval_seconds: 1800,
    max_transient_failures: 10,
    cooldown_seconds: 1800,
};

pub fn run(ctx: &Context, args: &ServiceSelector) -> Result<StatusReport> {
    let target = service::resolve(ctx, args.service.as_deref())?;
    let id = target.id.clone();
    let (status, status_err) = service::read_status(ctx, &id);
    let status_file = status.unwrap_or_default();
    let now = ctx.now_ms();
    let manifest = target.manifest.as_ref();
    let (platform_state, drift) = scheduler_view(ctx, manifest);
    let policy = manifest.map(policy_of).unwrap_or(UNINSTALLED_POLICY);
    let state = policy::scheduler_state(&status_file, manifest.is_some(), &policy, now, &pid_alive);
    let (next_run, next_run_estimated, next_run_ms) =
        next_run(manifest, platform_state.as_ref(), &status_file, state, now);
    let missed_run_iso = manifest
        .filter(|_| status_file.paused_reason.is_none())
        .and_then(|m| {
            let since = status_file
                .last_run
                .as_ref()
                .map(|r| r.timestamp_ms)
                .or_else(|| installed_ms(m))?;
            crate::schedule::missed_slot_ms(m, since, now)
        })
        .map(iso_ms);
    let workspace_root = manifest.map(|m| m.workspace_root.clone()).or_else(|| {
        target
            .workspace
            .as_ref()
            .map(|w| w.root.display().to_string())
    });
    let orphan_schedules = if manifest.is_none() {
        scheduler::Inventory::take(&ctx.env, ctx.data_dir.root())
            .kinds_of(&id)
            .iter()
            .map(|k| k.as_str().to_string())
            .collect()
    } else {
        Vec::new()
    };
    Ok(StatusReport {
        orphan_schedules,
        workspace_missing: manifest.is_some_and(service::workspace_missing),
        moved_from: moved_from(ctx, manifest, target.workspace.as_ref()),
        status_error_fix: status_err.as_ref().map(|e| status_error_fix(&id, e)),
        installed: manifest.is_some(),
        service_id: id,
        name: manifest.and_then(|m| m.name.clone()),
        workspace_root,
        platform: manifest.map(|m| m.platform.clone()),
        interval_seconds: manifest.map(|m| m.interval_seconds),
        profile: manifest.map(|m| m.profile.clone()),
        service_state: platform_state.as_ref().map(|s| s.state.clone()),
        next_run_estimated,
        next_run,
        next_run_iso: next_run_ms.map(iso_ms),
        calendar: manifest.and_then(|m| m.calendar.clone()),
        missed_run_iso,
        scheduler_state: state,
        last_sync: status_file.last_run.clone().map(|run| LastSync {
            run,
            consecutive_failures: status_file.consecutive_failures,
        }),
        recent_runs: status_file.recent_runs.iter().take(5).cloned().collect(),
        backoff: backoff_info(state, &status_file, now),
        paused_reason: status_file.paused_reason.clone(),
        paused_kind: status_file.pause_kind().map(|k| k.as_str().to_string()),
        current_run: status_file.current_run.as_ref().map(|c| CurrentRunInfo {
            pid: c.pid,
            started_at_iso: iso_ms(c.started_at_ms),
            stale: state == SchedulerState::RunningStale,
        }),
        skipped: status_file.skipped.clone(),
        drift,
        status_error: status_err.map(|e| e.message),
    })
}

/// What the installed service's scheduler says of it, and its drift from
/// the manifest. Nothing for a service that is not installed (or whose
/// manifest names an unknown scheduler).
fn scheduler_view(
    ctx: &Context,
    manifest: Option<&Manifest>,
) -> (Option<PlatformState>, Option<Drift>) {
    let Some((m, kind)) = manifest.and_then(|m| Some((m, SchedulerKind::parse(&m.platform).ok()?)))
    else {
        return (None, None);
    };
    let backend = scheduler::backend(kind, &ctx.env);
    let state = backend.state(&m.service_id);
    let drift = drift_with_state(m, backend.as_ref(), &state);
    (Some(state), Some(drift))
}

/// Backing off: until when. Half-open: the next run is a probe.
fn backoff_info(state: SchedulerState, status: &StatusFile, now_ms: i64) -> Option<BackoffInfo> {
    match state {
        SchedulerState::Backoff => Some(BackoffInfo {
            consecutive_failures: status.consecutive_failures,
            next_retry_iso: status.next_retry_at_ms.map(iso_ms),
            remaining_seconds: policy::backoff_remaining(status, now_ms),
            reason: status.backoff_reason.clone(),
            circuit_breaker_cooldown_expired: false,
            message: None,
        }),
        SchedulerState::HalfOpen => Some(BackoffInfo {
            consecutive_failures: status.consecutive_failures,
            next_retry_iso: None,
            remaining_seconds: None,
            reason: None,
            circuit_breaker_cooldown_expired: true,
            message: Some(
                "Circuit breaker cooldown expired. Next run will be a probe attempt.".into(),
            ),
        }),
        _ => None,
    }
}

/// The next firing, whether it is estimated, and its instant: as the
/// scheduler reports it, else as `list` and `top` estimate it
/// (`ScheduledService::expected_next_run_ms`).
fn next_run(
    manifest: Option<&Manifest>,
    platform_state: Option<&PlatformState>,
    status: &StatusFile,
    state: SchedulerState,
    now_ms: i64,
) -> (Option<String>, bool, Option<i64>) {
    // The scheduler's instant reads as every other time does (RFC 3339).
    if let Some(ms) = platform_state.and_then(|s| s.next_run_ms) {
        return (Some(iso_ms(ms)), false, Some(ms));
    }
    if let Some(next) = platform_state.and_then(|s| s.next_run.clone()) {
        return (Some(next), false, None);
    }
    let estimate = manifest.and_then(|m| {
        crate::schedule::ScheduledService::of(m).expected_next_run_ms(status, state, None, now_ms)
    });
    (estimate.map(iso_ms), estimate.is_some(), estimate)
}

fn installed_ms(m: &Manifest) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&m.installed_at_iso)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Services this (uninstalled) workspace was probably moved away from.
fn moved_from(
    ctx: &Context,
    manifest: Option<&Manifest>,
    workspace: Option<&WorkspaceConfig>,
) -> Vec<MovedFrom> {
    let (None, Some(w)) = (manifest, workspace) else {
        return Vec::new();
    };
    service::moved_from(ctx, w)
        .into_iter()
        .map(|m| MovedFrom {
            command: service::move_command(&m.service_id, &w.root.display().to_string()),
            service_id: m.service_id,
            previous_workspace_root: m.workspace_root,
        })
        .collect()
}

/// What fixes an unreadable status.json: an upgrade for a newer file,
/// else `repair`.
fn status_error_fix(id: &str, e: &Error) -> String {
    if e.is_newer_schema() {
        e.suggestion.clone().unwrap_or_default()
    } else {
        format!("syncfleet repair --service {id}")
    }
}

fn stage_list(run: &RunRecord, ok: bool) -> String {
    run.stage_results
        .iter()
        .filter(|s| s.success == ok)
        .map(|s| {
            if ok {
                format!("{} ({})", s.stage, s.items_updated)
            } else {
                format!("{} ({})", s.stage, s.error.as_deref().unwrap_or("?"))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Render for StatusReport {
    fn human(&self, ui: &Ui) -> String {
        let mut out = format!(
            "{}\n",
            ui.bold(&format!("Service status ({}):", self.service_id))
        );
        self.human_settings(ui, &mut out);
        self.human_scheduler(ui, &mut out);
        self.human_problems(ui, &mut out);
        self.human_last_sync(ui, &mut out);
        self.human_skips(&mut out);
        self.human_recent_runs(&mut out);
        self.human_not_installed(&mut out);
        out
    }
}

impl StatusReport {
    /// Installed, workspace, platform, interval, profile, state, next run.
    fn human_settings(&self, ui: &Ui, out: &mut String) {
        field(out, "Installed:", if self.installed { "yes" } else { "no" });
        if let Some(w) = &self.workspace_root {
            if self.workspace_missing {
                field(out, "Workspace:", &ui.red(&format!("{w} (gone)")));
            } else {
                field(out, "Workspace:", w);
            }
        }
        if let Some(p) = &self.platform {
            field(out, "Platform:", p);
        }
        match (&self.calendar, self.interval_seconds) {
            (Some(c), _) => field(
                out,
                "Schedule:",
                &format!("{} (catch-up {})", c.describe(), c.catch_up.as_str()),
            ),
            (None, Some(i)) => field(out, "Interval:", &format!("{} ({i}s)", format_interval(i))),
            (None, None) => {}
        }
        if let Some(p) = &self.profile {
            field(out, "Profile:", p);
        }
        if let Some(s) = &self.service_state {
            field(out, "State:", s);
        }
        if let Some(n) = &self.next_run {
            let next = if self.next_run_estimated {
                format!("~{n} (estimate)")
            } else {
                n.clone()
            };
            field(out, "Next run:", &next);
        }
        if let Some(missed) = &self.missed_run_iso {
            field(
                out,
                "Missed run:",
                &ui.yellow(&format!("the {missed} slot passed with no run since")),
            );
        }
    }

    /// The policy state, and what it means for the next run.
    fn human_scheduler(&self, ui: &Ui, out: &mut String) {
        match self.scheduler_state {
            SchedulerState::Paused => self.human_paused(ui, out),
            SchedulerState::HalfOpen => {
                field(out, "Scheduler:", &ui.yellow("HALF_OPEN"));
                out.push_str("  Circuit breaker cooldown expired. Next run will probe.\n  If the probe succeeds, the scheduler returns to normal.\n");
            }
            SchedulerState::Degraded => {
                field(out, "Scheduler:", &ui.yellow("DEGRADED"));
                if let Some(last) = &self.last_sync {
                    out.push_str(&format!(
                        "  Core stages OK: {}\n  Failed stages: {}\n",
                        stage_list(&last.run, true),
                        stage_list(&last.run, false)
                    ));
                }
                out.push_str("  Core data is fresh. Optional stages will retry next run.\n");
            }
            SchedulerState::Backoff => {
                field(out, "Scheduler:", &ui.yellow("BACKOFF"));
                if let Some(b) = &self.backoff {
                    out.push_str(&format!(
                        "  {} consecutive failures; next retry {} (in {}){}\n",
                        b.consecutive_failures,
                        b.next_retry_iso.as_deref().unwrap_or("-"),
                        format_elapsed(b.remaining_seconds.unwrap_or(0) as f64),
                        if b.reason.as_deref() == Some("server_hint") {
                            ", as the server asked"
                        } else {
                            ""
                        }
                    ));
                }
            }
            SchedulerState::Running | SchedulerState::RunningStale => self.human_running(ui, out),
            _ => field(
                out,
                "Scheduler:",
                &self.scheduler_state.as_str().to_uppercase(),
            ),
        }
    }

    fn human_paused(&self, ui: &Ui, out: &mut String) {
        let reason = self.paused_reason.as_deref().unwrap_or("");
        let (code, rest) = reason.split_once(": ").unwrap_or((reason, ""));
        let kind = self.paused_kind.as_deref().unwrap_or("");
        if kind == "manual" {
            field(out, "Scheduler:", &ui.red(&format!("PAUSED - {reason}")));
            out.push_str("  Resume with: syncfleet resume\n");
            return;
        }
        field(out, "Scheduler:", &ui.red(&format!("PAUSED - {code}")));
        if !rest.is_empty() {
            out.push_str(&format!("  {rest}\n"));
        }
        if kind == "circuit_breaker" {
            out.push_str("  Fix: check network/service availability, then run: syncfleet resume\n");
        } else if self.workspace_missing {
            // CONFIG_NOT_FOUND after a move: only re-attaching helps.
            out.push_str(&format!(
                "  Fix: re-attach the moved workspace ({}), then run: syncfleet resume\n",
                crate::service::move_command(&self.service_id, "<new dir>")
            ));
        } else {
            out.push_str(
                "  Fix: rotate the token or fix the config/command, then run: syncfleet resume\n",
            );
        }
    }

    fn human_running(&self, ui: &Ui, out: &mut String) {
        let sched = self.scheduler_state.as_str().to_uppercase();
        let label = if self.scheduler_state == SchedulerState::Running {
            ui.green(&sched)
        } else {
            ui.red(&sched)
        };
        field(out, "Scheduler:", &label);
        if let Some(c) = &self.current_run {
            out.push_str(&format!(
                "  Run pid {} started {}{}\n",
                c.pid,
                c.started_at_iso,
                if c.stale {
                    " (process gone or over 30 min: the next run proceeds)"
                } else {
                    ""
                }
            ));
        }
    }

    /// Drift, an unreadable status file, a workspace that is gone: each
    /// with its fix.
    fn human_problems(&self, ui: &Ui, out: &mut String) {
        if let Some(d) = &self.drift
            && d.any()
        {
            out.push_str(&format!(
                "  {} {}\n  Fix: syncfleet install (regenerates the artifacts)\n",
                ui.red("Drift:"),
                d.details.join("; ")
            ));
        }
        if let Some(e) = &self.status_error {
            out.push_str(&format!(
                "  {} {e}\n  Fix: {}\n",
                ui.red("Status file:"),
                self.status_error_fix
                    .as_deref()
                    .unwrap_or("syncfleet repair")
            ));
        }
        if self.workspace_missing {
            out.push_str(&format!(
                "  The workspace is gone (moved or deleted). If it moved, re-attach it: {}\n",
                crate::service::move_command(&self.service_id, "<new dir>")
            ));
        }
    }

    fn human_last_sync(&self, ui: &Ui, out: &mut String) {
        let Some(last) = &self.last_sync else {
            out.push_str("\nLast sync: none yet\n");
            return;
        };
        let r = &last.run;
        out.push_str("\nLast sync:\n");
        field(out, "Time:", &local_time(r.timestamp_ms));
        field(out, "Duration:", &format_elapsed(r.duration_seconds));
        field(out, "Outcome:", &ui.outcome(Some(r.outcome)));
        if !r.stage_results.is_empty() {
            field(out, "Stages:", &stage_list(r, true));
            let failed = stage_list(r, false);
            if !failed.is_empty() {
                field(out, "Failed:", &failed);
            }
        }
        if let Some(code) = &r.error_code {
            field(
                out,
                "Error:",
                &format!("{code}: {}", r.error_message.as_deref().unwrap_or("")),
            );
        }
        field(
            out,
            "Failures:",
            &format!("{} consecutive", last.consecutive_failures),
        );
    }

    /// Runs that did not start, by reason (a condition, the backoff…).
    fn human_skips(&self, out: &mut String) {
        if let Some(skipped) = self.skipped.describe() {
            field(out, "Skipped:", &format!("{skipped} (never failures)"));
        }
    }

    fn human_recent_runs(&self, out: &mut String) {
        if self.recent_runs.is_empty() {
            return;
        }
        out.push_str(&format!(
            "\nRecent runs (last {}):\n",
            self.recent_runs.len()
        ));
        for r in &self.recent_runs {
            out.push_str(&format!(
                "  {}  {:<9} {:>8}  {}\n",
                local_time(r.timestamp_ms),
                r.outcome.as_str(),
                format_elapsed(r.duration_seconds),
                r.trigger.as_str()
            ));
        }
    }

    /// Not installed: how to install, or how to re-attach a moved service.
    fn human_not_installed(&self, out: &mut String) {
        if self.installed {
            return;
        }
        if !self.orphan_schedules.is_empty() {
            out.push_str(&format!(
                "\nNot installed (no manifest), but {} still has its schedule, which may fire: an orphan.\n  Remove it: syncfleet uninstall --service {} (or syncfleet doctor --fix)\n",
                self.orphan_schedules.join(" and "),
                self.service_id
            ));
            return;
        }
        if self.moved_from.is_empty() {
            out.push_str("\nNot installed. Install it with: syncfleet install\n");
            return;
        }
        out.push_str("\nNot installed here, but this workspace looks moved:\n");
        for m in &self.moved_from {
            out.push_str(&format!(
                "  service {} was installed at {}, which is gone.\n  Re-attach it here: {}\n",
                m.service_id, m.previous_workspace_root, m.command
            ));
        }
    }
}
