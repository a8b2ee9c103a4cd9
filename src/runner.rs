//! One service run through the policy — the hidden `run` the scheduler
//! invokes and `trigger` — following the plan's flow: paused / half-open,
//! backoff, pipeline lock, current_run, pipeline, record (runs.jsonl
//! first), status. Also the policy-free pipeline of `sync`.

use crate::config::{Profile, WorkspaceConfig};
use crate::context::Context;
use crate::duration::format_elapsed;
use crate::error::{Error, ErrorCode, Result};
use crate::lock;
use crate::output::{Render, Ui, iso_ms};
use crate::pipeline::{PipelineRun, ServiceLog};
use crate::policy::{self, Gate, JitterRng, Policy, ThreadJitterRng};
use crate::service::{OnCorrupt, update_status};
use crate::store::manifest::Manifest;
use crate::store::runs;
use crate::store::status::{CurrentRun, Outcome, PauseKind, RunRecord, StageResult, Trigger};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct StaleRun {
    pub pid: u32,
    pub started_at_iso: String,
}

/// The result of a run attempt (also the robot output of run/trigger/sync).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub service_id: String,
    /// sync_completed, skipped or paused.
    pub action: &'static str,
    pub trigger: Trigger,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stage_results: Vec<StageResult>,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_run_stale: Option<StaleRun>,
}

impl RunReport {
    fn skipped(id: &str, trigger: Trigger, reason: &str, consecutive_failures: u32) -> RunReport {
        RunReport {
            service_id: id.to_string(),
            action: "skipped",
            trigger,
            reason: Some(reason.to_string()),
            message: None,
            suggestion: None,
            run_id: None,
            outcome: None,
            profile: None,
            duration_seconds: None,
            stage_results: Vec::new(),
            consecutive_failures,
            next_retry_iso: None,
            remaining_seconds: None,
            probe: false,
            previous_run_stale: None,
        }
    }
}

impl Render for RunReport {
    fn batch_line(&self, ui: &Ui) -> Option<String> {
        Some(match (self.action, self.outcome) {
            (_, Some(o)) => format!(
                "{} {}: {} in {}{}",
                self.service_id,
                self.run_id.as_deref().unwrap_or("-"),
                match o {
                    Outcome::Success => ui.green(o.as_str()),
                    Outcome::Degraded => ui.yellow(o.as_str()),
                    Outcome::Failed | Outcome::Crashed => ui.red(o.as_str()),
                },
                format_elapsed(self.duration_seconds.unwrap_or(0.0)),
                if self.action == "paused" {
                    " (now paused)"
                } else {
                    ""
                }
            ),
            (action, None) => format!(
                "{} {action}: {}",
                self.service_id,
                self.reason.as_deref().unwrap_or("-")
            ),
        })
    }

    fn human(&self, ui: &Ui) -> String {
        let mut out = String::new();
        match self.action {
            "skipped" => {
                out.push_str(&format!(
                    "Skipped ({}): {}\n",
                    self.service_id,
                    self.reason.as_deref().unwrap_or("?")
                ));
                if let (Some(next), Some(rem)) = (&self.next_retry_iso, self.remaining_seconds) {
                    out.push_str(&format!(
                        "  Backoff after {} consecutive failures; next retry {next} (in {})\n",
                        self.consecutive_failures,
                        format_elapsed(rem as f64)
                    ));
                    out.push_str("  Run now anyway: syncfleet trigger --ignore-backoff\n");
                }
                if let Some(m) = &self.message {
                    out.push_str(&format!("  {m}\n"));
                }
            }
            action => {
                let outcome = self.outcome.map(|o| o.as_str()).unwrap_or("-");
                let painted = match self.outcome {
                    Some(Outcome::Success) => ui.green(outcome),
                    Some(Outcome::Degraded) => ui.yellow(outcome),
                    _ => ui.red(outcome),
                };
                if action == "paused" && self.outcome.is_none() {
                    out.push_str(&format!(
                        "{} ({}): {}\n",
                        ui.bold("Paused"),
                        self.service_id,
                        self.message.as_deref().unwrap_or("")
                    ));
                } else {
                    out.push_str(&format!(
                        "Run {} of {}: {} in {}\n",
                        self.run_id.as_deref().unwrap_or("-"),
                        self.service_id,
                        painted,
                        format_elapsed(self.duration_seconds.unwrap_or(0.0))
                    ));
                    for s in &self.stage_results {
                        let mark = if s.success {
                            ui.green("ok")
                        } else if s.optional {
                            ui.yellow("FAILED (optional)")
                        } else {
                            ui.red("FAILED")
                        };
                        let detail = if s.success {
                            format!("{} items", s.items_updated)
                        } else {
                            format!(
                                "{}: {}",
                                s.error_code.as_deref().unwrap_or("?"),
                                s.error.as_deref().unwrap_or("")
                            )
                        };
                        let retry = if s.attempts > 1 { " (after retry)" } else { "" };
                        out.push_str(&format!("  {:<14} {mark} {detail}{retry}\n", s.stage));
                    }
                    if action == "paused" {
                        out.push_str(&format!(
                            "{}: {}\n",
                            ui.bold("Now paused"),
                            self.message.as_deref().unwrap_or("")
                        ));
                    } else if self.consecutive_failures > 0 {
                        out.push_str(&format!(
                            "  {} consecutive failures; next retry {}\n",
                            self.consecutive_failures,
                            self.next_retry_iso.as_deref().unwrap_or("-")
                        ));
                    }
                }
                if let Some(s) = &self.suggestion {
                    out.push_str(&format!("  Fix: {s}\n"));
                }
            }
        }
        out
    }

    fn exit_code(&self) -> u8 {
        // A person's run (`sync`, `trigger`) reports failure through its
        // exit status; the scheduler's `run` always exits 0 (syncfleet owns
        // the retry policy).
        if self.trigger != Trigger::Scheduled && self.outcome == Some(Outcome::Failed) {
            ErrorCode::SyncFailed.exit_code()
        } else {
            0
        }
    }
}

pub fn policy_of(manifest: &Manifest) -> Policy {
    Policy {
        interval_seconds: manifest.interval_seconds,
        max_transient_failures: manifest.max_transient_failures,
        cooldown_seconds: manifest.circuit_breaker_cooldown_seconds,
    }
}

fn pause_code(kind: PauseKind, last_error_code: Option<&str>) -> String {
    match kind {
        PauseKind::Manual => "MANUAL".into(),
        PauseKind::CircuitBreaker => "CIRCUIT_BREAKER".into(),
        PauseKind::Permanent => last_error_code.unwrap_or("PERMANENT").to_string(),
    }
}

fn pause_suggestion(kind: PauseKind, cooldown_remaining: Option<u64>) -> String {
    match kind {
        PauseKind::Manual => "Resume when ready: syncfleet resume".into(),
        PauseKind::Permanent => {
            "Fix the cause (token, config, command), then run: syncfleet resume".into()
        }
        PauseKind::CircuitBreaker => match cooldown_remaining {
            Some(s) => format!(
                "A probe run is allowed in {}; or check the network/service and run: syncfleet resume",
                format_elapsed(s as f64)
            ),
            None => "Check network/service availability, then run: syncfleet resume".into(),
        },
    }
}

fn new_run_id(now_ms: i64) -> String {
    format!("{now_ms:013x}-{:08x}", rand::random::<u32>())
}

/// The token for stages: the process environment, else the service's env
/// file. Err(TOKEN_NOT_SET) when the workspace needs one and neither has it.
pub fn resolve_token(
    ctx: &Context,
    id: &str,
    var: Option<&str>,
) -> Result<Option<(String, String)>> {
    let Some(var) = var else { return Ok(None) };
    if let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Ok(Some((var.to_string(), value)));
    }
    // Read as systemd's EnvironmentFile= reads it: one parser for both.
    let from_file = std::fs::read_to_string(ctx.data_dir.env_path(id))
        .ok()
        .and_then(|text| crate::envfile::read_value(&text, var))
        .filter(|v| !v.is_empty());
    match from_file {
        Some(value) => Ok(Some((var.to_string(), value))),
        None => Err(Error::new(ErrorCode::TokenNotSet, format!("{var} is not set")).with_suggestion(format!(
            "Export {var} in this shell (the value is never printed), then rerun; for scheduled runs, `syncfleet install` stores it."
        ))),
    }
}

/// The gate's answer to a status.json it cannot read: no stage runs, and
/// the file is left as it is, because it may hold a pause, a backoff or an
/// open circuit breaker that running blind would ignore. A newer schema
/// waits for an upgrade; a corrupt file for `repair` (which backs it up
/// and restores the state from the registry). The refusal goes to the
/// service log, and `status` and `doctor` show the unreadable file.
fn refuse_unreadable_status(ctx: &Context, id: &str, e: Error) -> Error {
    let (why, fix) = if crate::store::is_newer_schema(&e) {
        (
            "it was written by a newer syncfleet",
            "Upgrade syncfleet (the file is left untouched); runs are skipped until then."
                .to_string(),
        )
    } else {
        (
            "it is corrupt",
            format!(
                "Run `syncfleet repair --service {id}`: it backs the file up and restores the pause and backoff from the registry; runs are skipped until then."
            ),
        )
    };
    ServiceLog::open(&ctx.data_dir.service_log_path(id), Vec::new()).line(&format!(
        "{} run skipped: status.json cannot be read ({why}): {}",
        iso_ms(ctx.now_ms()),
        e.message
    ));
    Error {
        message: format!(
            "run skipped, nothing was run: {}; {why}, and running without it could ignore a pause or a backoff",
            e.message
        ),
        ..e
    }
    .with_suggestion(fix)
}

/// A run whose in-flight marker outlived it, as its history record.
/// How long it ran is unknown: its duration is 0 (reports leave crashed
/// runs out of the duration percentiles).
pub fn crashed_run(id: &str, c: &CurrentRun, detected_ms: i64) -> RunRecord {
    RunRecord {
        run_id: c
            .run_id
            .clone()
            .unwrap_or_else(|| format!("{:013x}-crashed", c.started_at_ms)),
        service_id: id.to_string(),
        trigger: c.trigger.unwrap_or(Trigger::Scheduled),
        timestamp_iso: iso_ms(c.started_at_ms),
        timestamp_ms: c.started_at_ms,
        duration_seconds: 0.0,
        outcome: Outcome::Crashed,
        profile: None,
        stage_results: Vec::new(),
        error_code: Some("CRASHED".into()),
        error_message: Some(format!(
            "the run (pid {}) ended without recording a result: it was killed or crashed (found at {})",
            c.pid,
            iso_ms(detected_ms)
        )),
    }
}

/// Record a stale run in runs.jsonl as crashed, so history and report
/// show it; unless the run did record itself and died just before
/// clearing its marker.
fn record_crashed(ctx: &Context, id: &str, c: &CurrentRun, detected_ms: i64) {
    let path = ctx.data_dir.runs_path(id);
    if let Some(run_id) = &c.run_id
        && runs::read_all(&path).is_ok_and(|(done, _)| done.iter().any(|r| &r.run_id == run_id))
    {
        return;
    }
    if let Err(e) = runs::append(&path, &crashed_run(id, c, detected_ms)) {
        tracing::warn!(error = %e.message, "could not record the crashed run in runs.jsonl");
    }
}

/// A run that failed before any stage (config or token problem).
fn preflight_failure(error: &Error) -> (Vec<StageResult>, Option<String>, Option<String>) {
    (
        Vec::new(),
        Some(error.code.as_str().to_string()),
        Some(error.message.clone()),
    )
}

/// Execute one service run through the policy.
pub fn execute(
    ctx: &Context,
    id: &str,
    trigger: Trigger,
    ignore_backoff: bool,
) -> Result<RunReport> {
    let started = Instant::now();
    let manifest = crate::service::read_manifest(ctx, id)?.ok_or_else(|| {
        Error::new(
            ErrorCode::ServiceNotFound,
            format!("service '{id}' is not installed (no manifest)"),
        )
        .with_suggestion("Install it from its workspace: syncfleet install")
        .with_actions(["syncfleet install", "syncfleet list"])
    })?;
    let policy = policy_of(&manifest);
    let mut rng = ThreadJitterRng;

    // Steps 3-4: paused / half-open, backoff. Skips are counted.
    let gate_now = |status: &crate::store::status::StatusFile| {
        policy::gate(status, &policy, ctx.now_ms(), ignore_backoff)
    };
    let skip = |gate: Gate| -> Result<RunReport> {
        update_status(ctx, id, OnCorrupt::Fail, |s| {
            Ok(match &gate {
                Gate::Paused {
                    reason,
                    kind,
                    cooldown_remaining_seconds,
                } => {
                    s.skipped.paused += 1;
                    let mut r = RunReport::skipped(
                        id,
                        trigger,
                        &pause_code(*kind, s.last_error_code.as_deref()),
                        s.consecutive_failures,
                    );
                    r.action = "paused";
                    r.message = Some(reason.clone());
                    r.suggestion = Some(pause_suggestion(*kind, *cooldown_remaining_seconds));
                    r
                }
                Gate::Backoff {
                    remaining_seconds,
                    next_retry_at_ms,
                } => {
                    s.skipped.backoff += 1;
                    let mut r = RunReport::skipped(id, trigger, "backoff", s.consecutive_failures);
                    r.next_retry_iso = Some(iso_ms(*next_retry_at_ms));
                    r.remaining_seconds = Some(*remaining_seconds);
                    r
                }
                Gate::Proceed { .. } => unreachable!("only skips are recorded"),
            })
        })
    };
    let status_path = ctx.data_dir.status_path(id);
    let peek = match crate::store::status::StatusFile::read(&status_path) {
        Ok(status) => status.unwrap_or_default(),
        Err(e) => return Err(refuse_unreadable_status(ctx, id, e)),
    };
    if let g @ (Gate::Paused { .. } | Gate::Backoff { .. }) = gate_now(&peek) {
        return skip(g);
    }

    // Steps 5-6: the pipeline lock of the service's lock group.
    let Some(_pipeline) = lock::try_acquire(
        &ctx.data_dir.pipeline_lock_path(&manifest.lock_group),
        ctx.clock(),
    )?
    else {
        return update_status(ctx, id, OnCorrupt::Fail, |s| {
            s.skipped.locked += 1;
            let mut r = RunReport::skipped(id, trigger, "locked", s.consecutive_failures);
            r.message = Some(format!(
                "another run of lock group '{}' is in progress",
                manifest.lock_group
            ));
            Ok(r)
        });
    };

    // Under the lock: re-check (state may have changed while we looked),
    // note a crashed previous run, and mark this one in flight.
    let run_id = new_run_id(ctx.now_ms());
    let start_ms = ctx.now_ms();
    let begin = update_status(ctx, id, OnCorrupt::Fail, |s| {
        let gate = gate_now(s);
        let probe = match gate {
            Gate::Proceed { probe } => probe,
            other => return Ok(Err(other)),
        };
        let from = policy::policy_state(s, &policy, start_ms);
        policy::check_transition(from, policy::PolicyState::Running)
            .map_err(|e| Error::corrupt_state(&status_path, e))?;
        let previous = s.current_run.take();
        s.current_run = Some(CurrentRun {
            started_at_ms: start_ms,
            pid: std::process::id(),
            run_id: Some(run_id.clone()),
            trigger: Some(trigger),
        });
        Ok(Ok((probe, previous)))
    })?;
    let (probe, previous) = match begin {
        Ok(v) => v,
        Err(gate) => return skip(gate),
    };
    // A marker left by an earlier run: that run held the pipeline lock we
    // hold now, so it is gone without having recorded a result.
    let stale = previous.map(|c| {
        record_crashed(ctx, id, &c, start_ms);
        StaleRun {
            pid: c.pid,
            started_at_iso: iso_ms(c.started_at_ms),
        }
    });

    // Step 7: the pipeline (config and token are read now, so a broken
    // config or a missing token is a classified, permanent failure).
    let profile = Profile::parse(&manifest.profile).unwrap_or_default();
    let workspace = WorkspaceConfig::load(std::path::Path::new(&manifest.config_path));
    let token = resolve_token(ctx, id, manifest.token_env_var.as_deref());
    let secrets: Vec<String> = token
        .as_ref()
        .ok()
        .and_then(|t| t.as_ref().map(|(_, v)| v.clone()))
        .into_iter()
        .collect();
    let log = ServiceLog::open(&ctx.data_dir.service_log_path(id), secrets);
    log.line(&format!(
        "{} === run {run_id} ({}, profile {}{}) started ===",
        iso_ms(start_ms),
        trigger.as_str(),
        profile,
        if probe { ", circuit-breaker probe" } else { "" }
    ));
    if let Some(st) = &stale {
        log.line(&format!(
            "{} previous run (pid {}, started {}) did not finish: it was stale",
            iso_ms(start_ms),
            st.pid,
            st.started_at_iso
        ));
    }
    let (stage_results, error_code, error_message) = match (&workspace, &token) {
        (Err(e), _) | (_, Err(e)) => {
            log.line(&format!(
                "{} run failed before any stage: {}: {}",
                iso_ms(ctx.now_ms()),
                e.code,
                e.message
            ));
            preflight_failure(e)
        }
        (Ok(config), Ok(token)) => {
            let run = PipelineRun {
                config,
                profile,
                service_id: id,
                env: token
                    .iter()
                    .cloned()
                    .chain(manifest.stage_path.clone().map(|p| ("PATH".to_string(), p)))
                    .collect(),
                log: &log,
                clock: ctx.clock(),
            };
            (run.run(&mut rng), None, None)
        }
    };
    let outcome = if error_code.is_some() {
        Outcome::Failed
    } else {
        policy::run_outcome(&stage_results)
    };
    let run = RunRecord {
        run_id: run_id.clone(),
        service_id: id.to_string(),
        trigger,
        timestamp_iso: iso_ms(start_ms),
        timestamp_ms: start_ms,
        duration_seconds: started.elapsed().as_secs_f64(),
        outcome,
        profile: Some(profile.to_string()),
        stage_results: stage_results.clone(),
        error_code,
        error_message,
    };

    // Step 8: history first (fsynced), then status.
    if let Err(e) = runs::append(&ctx.data_dir.runs_path(id), &run) {
        tracing::warn!(error = %e.message, "could not append to runs.jsonl");
        log.line(&format!(
            "{} warning: could not record the run in runs.jsonl: {}",
            iso_ms(ctx.now_ms()),
            e.message
        ));
    }
    let end_ms = ctx.now_ms();
    let (applied, after) = update_status(ctx, id, OnCorrupt::Fail, |s| {
        // Our own marker goes; someone else's (impossible under the lock) stays.
        if s.current_run
            .as_ref()
            .is_some_and(|c| c.run_id.as_deref() == Some(run_id.as_str()))
        {
            s.current_run = None;
        }
        let applied = policy::apply_run(s, &policy, run.clone(), probe, end_ms, &mut rng);
        let to = policy::policy_state(s, &policy, end_ms);
        policy::check_transition(policy::PolicyState::Running, to)
            .map_err(|e| Error::corrupt_state(&status_path, e))?;
        Ok((applied, s.clone()))
    })?;
    log.line(&format!(
        "{} === run {run_id} finished: {} in {:.3}s ({} consecutive failures){} ===",
        iso_ms(end_ms),
        outcome.as_str(),
        run.duration_seconds,
        after.consecutive_failures,
        applied
            .paused
            .map(|k| format!(", paused: {}", k.as_str()))
            .unwrap_or_default()
    ));

    if let Ok(config) = &workspace {
        let withheld: Vec<String> = manifest.token_env_var.iter().cloned().collect();
        let failure = policy::Failure::of_run(&run);
        crate::hooks::fire(
            &config.hooks,
            &applied.events,
            &crate::hooks::EventDetails {
                service_id: id,
                service_name: manifest.name.as_deref(),
                workspace: &config.root,
                run_id: &run_id,
                outcome: outcome.as_str(),
                error_code: failure.as_ref().map(|f| f.code.as_str()),
                error_message: failure.as_ref().map(|f| f.message.as_str()),
                consecutive_failures: after.consecutive_failures,
                paused_reason: after.paused_reason.as_deref(),
                log_path: &ctx.data_dir.service_log_path(id),
                withheld: &withheld,
                path: manifest.stage_path.as_deref(),
            },
            &log,
            ctx.clock(),
        );
    }

    let paused = applied.paused.is_some() && after.paused_reason.is_some();
    Ok(RunReport {
        service_id: id.to_string(),
        action: if paused { "paused" } else { "sync_completed" },
        trigger,
        reason: after
            .pause_kind()
            .filter(|_| paused)
            .map(|k| pause_code(k, after.last_error_code.as_deref())),
        message: if paused {
            after.paused_reason.clone()
        } else {
            None
        },
        suggestion: after
            .pause_kind()
            .filter(|_| paused)
            .map(|k| pause_suggestion(k, None)),
        run_id: Some(run_id),
        outcome: Some(outcome),
        profile: Some(profile.to_string()),
        duration_seconds: Some(started.elapsed().as_secs_f64()),
        stage_results,
        consecutive_failures: after.consecutive_failures,
        next_retry_iso: after.next_retry_at_ms.map(iso_ms),
        remaining_seconds: after
            .next_retry_at_ms
            .map(|at| ((at - end_ms).max(0) / 1000) as u64),
        probe,
        previous_run_stale: stale,
    })
}

/// `sync`: the pipeline with no policy and no status writes. It takes the
/// pipeline lock (failing clearly when a run holds it) and records the run
/// in the service's history as a manual run.
pub fn manual_sync(
    ctx: &Context,
    config: &WorkspaceConfig,
    id: &str,
    lock_group: &str,
    profile: Profile,
    token_var: Option<&str>,
) -> Result<RunReport> {
    let started = Instant::now();
    let token = resolve_token(ctx, id, token_var)?;
    let lock_path = ctx.data_dir.pipeline_lock_path(lock_group);
    let Some(_pipeline) = lock::try_acquire(&lock_path, ctx.clock())? else {
        return Err(lock::locked_error(&lock_path, &crate::service::pipeline_lock_name(lock_group))
            .with_suggestion("A scheduled or triggered run is in progress: wait for it (syncfleet status), then retry."));
    };
    let start_ms = ctx.now_ms();
    let run_id = new_run_id(start_ms);
    let log = ServiceLog::open(
        &ctx.data_dir.service_log_path(id),
        token.iter().map(|(_, v)| v.clone()).collect(),
    );
    log.line(&format!(
        "{} === run {run_id} (manual, profile {profile}) started ===",
        iso_ms(start_ms)
    ));
    let mut rng: Box<dyn JitterRng> = Box::new(ThreadJitterRng);
    let stage_results = PipelineRun {
        config,
        profile,
        service_id: id,
        env: token.into_iter().collect(),
        log: &log,
        clock: ctx.clock(),
    }
    .run(rng.as_mut());
    let outcome = policy::run_outcome(&stage_results);
    let failure_code = stage_results
        .iter()
        .find(|s| !s.success && !s.optional)
        .and_then(|s| s.error_code.clone());
    let run = RunRecord {
        run_id: run_id.clone(),
        service_id: id.to_string(),
        trigger: Trigger::Manual,
        timestamp_iso: iso_ms(start_ms),
        timestamp_ms: start_ms,
        duration_seconds: started.elapsed().as_secs_f64(),
        outcome,
        profile: Some(profile.to_string()),
        stage_results: stage_results.clone(),
        error_code: failure_code.clone(),
        error_message: None,
    };
    if let Err(e) = runs::append(&ctx.data_dir.runs_path(id), &run) {
        tracing::warn!(error = %e.message, "could not append to runs.jsonl");
    }
    crate::index::runs_appended(ctx, id);
    log.line(&format!(
        "{} === run {run_id} finished: {} in {:.3}s ===",
        iso_ms(ctx.now_ms()),
        outcome.as_str(),
        run.duration_seconds
    ));
    Ok(RunReport {
        service_id: id.to_string(),
        action: "sync_completed",
        trigger: Trigger::Manual,
        reason: None,
        message: None,
        suggestion: failure_code
            .map(|c| format!("A core stage failed ({c}); see `syncfleet logs` for its output.")),
        run_id: Some(run_id),
        outcome: Some(outcome),
        profile: Some(profile.to_string()),
        duration_seconds: Some(started.elapsed().as_secs_f64()),
        stage_results,
        consecutive_failures: 0,
        next_retry_iso: None,
        remaining_seconds: None,
        probe: false,
        previous_run_stale: None,
    })
}
