//! One service run through the policy — the hidden `run` the scheduler
//! invokes and `trigger` — in the steps of [`execute`]: gate (paused,
//! half-open, backoff), the pipeline lock, begin (mark the run in flight),
//! pipeline, record (runs.jsonl first, then status), hooks, report. Also
//! the policy-free pipeline of `sync` ([`manual_sync`]).

use crate::config::{Profile, WorkspaceConfig};
use crate::context::Context;
use crate::duration::format_elapsed;
use crate::error::{Error, ErrorCode, Result};
use crate::lock;
use crate::output::{Render, Ui, iso_ms};
use crate::pipeline::{PipelineRun, ServiceLog};
use crate::policy::{self, Applied, Gate, JitterRng, Policy, ThreadJitterRng};
use crate::service::{OnCorrupt, update_status};
use crate::store::manifest::Manifest;
use crate::store::runs;
use crate::store::status::{
    CurrentRun, Outcome, PauseKind, RunRecord, StageResult, StatusFile, Trigger,
};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct StaleRun {
    pub pid: u32,
    pub started_at_iso: String,
}

/// What a run attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The pipeline ran, whatever its outcome.
    SyncCompleted,
    /// The backoff, an unmet condition or the pipeline lock kept it from
    /// running.
    Skipped,
    /// The service is paused: the run did not start, or it ran and paused
    /// the service.
    Paused,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SyncCompleted => "sync_completed",
            Action::Skipped => "skipped",
            Action::Paused => "paused",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a run attempt (also the robot output of run/trigger/sync).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub service_id: String,
    pub action: Action,
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
    /// An empty report of `action`: the constructors below fill it in.
    fn new(id: &str, trigger: Trigger, action: Action) -> RunReport {
        RunReport {
            service_id: id.to_string(),
            action,
            trigger,
            reason: None,
            message: None,
            suggestion: None,
            run_id: None,
            outcome: None,
            profile: None,
            duration_seconds: None,
            stage_results: Vec::new(),
            consecutive_failures: 0,
            next_retry_iso: None,
            remaining_seconds: None,
            probe: false,
            previous_run_stale: None,
        }
    }

    /// A run that did not start, and why (`reason`).
    fn skipped(id: &str, trigger: Trigger, reason: String, status: &StatusFile) -> RunReport {
        RunReport {
            reason: Some(reason),
            consecutive_failures: status.consecutive_failures,
            ..RunReport::new(id, trigger, Action::Skipped)
        }
    }

    /// A catch-up start (at boot or login) that found no missed slot:
    /// nothing ran and nothing is recorded.
    pub fn nothing_to_catch_up(id: &str, message: String) -> RunReport {
        RunReport {
            reason: Some("catch_up:none_missed".into()),
            message: Some(message),
            ..RunReport::new(id, Trigger::Scheduled, Action::Skipped)
        }
    }

    /// The gate found the service paused.
    fn paused(
        id: &str,
        trigger: Trigger,
        status: &StatusFile,
        kind: PauseKind,
        reason: &str,
        cooldown_remaining_seconds: Option<u64>,
    ) -> RunReport {
        let code = pause_code(kind, status.last_error_code.as_deref());
        RunReport {
            action: Action::Paused,
            message: Some(reason.to_string()),
            suggestion: Some(pause_suggestion(kind, cooldown_remaining_seconds)),
            ..RunReport::skipped(id, trigger, code, status)
        }
    }

    /// The gate found the service backing off until `next_retry_at_ms`.
    fn backoff(
        id: &str,
        trigger: Trigger,
        status: &StatusFile,
        remaining_seconds: u64,
        next_retry_at_ms: i64,
    ) -> RunReport {
        RunReport {
            next_retry_iso: Some(iso_ms(next_retry_at_ms)),
            remaining_seconds: Some(remaining_seconds),
            ..RunReport::skipped(id, trigger, "backoff".into(), status)
        }
    }

    /// A condition of the workspace is not met.
    fn condition(
        id: &str,
        trigger: Trigger,
        status: &StatusFile,
        unmet: &crate::conditions::Unmet,
    ) -> RunReport {
        RunReport {
            message: Some(unmet.detail.clone()),
            suggestion: Some("Run now anyway: syncfleet trigger --ignore-conditions".into()),
            ..RunReport::skipped(id, trigger, unmet.condition.reason(), status)
        }
    }

    /// Another run of the lock group holds its pipeline lock.
    fn locked(id: &str, trigger: Trigger, status: &StatusFile, lock_group: &str) -> RunReport {
        RunReport {
            message: Some(format!(
                "another run of lock group '{lock_group}' is in progress"
            )),
            ..RunReport::skipped(id, trigger, "locked".into(), status)
        }
    }

    /// A run that ran, from its history record; `duration_seconds` is
    /// the whole attempt's.
    fn ran(run: &RunRecord, duration_seconds: f64) -> RunReport {
        RunReport {
            run_id: Some(run.run_id.clone()),
            outcome: Some(run.outcome),
            profile: run.profile.clone(),
            duration_seconds: Some(duration_seconds),
            stage_results: run.stage_results.clone(),
            ..RunReport::new(&run.service_id, run.trigger, Action::SyncCompleted)
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
                ui.outcome(Some(o)),
                format_elapsed(self.duration_seconds.unwrap_or(0.0)),
                if self.action == Action::Paused {
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
        let mut out = match self.action {
            Action::Skipped => self.human_skipped(),
            Action::Paused if self.outcome.is_none() => format!(
                "{} ({}): {}\n",
                ui.bold("Paused"),
                self.service_id,
                self.message.as_deref().unwrap_or("")
            ),
            _ => self.human_run(ui),
        };
        if self.action != Action::Skipped
            && let Some(s) = &self.suggestion
        {
            out.push_str(&format!("  Fix: {s}\n"));
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

impl RunReport {
    /// A run the policy did not start: why, and when it may.
    fn human_skipped(&self) -> String {
        let mut out = format!(
            "Skipped ({}): {}\n",
            self.service_id,
            self.reason.as_deref().unwrap_or("?")
        );
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
        if let Some(s) = &self.suggestion {
            out.push_str(&format!("  {s}\n"));
        }
        out
    }

    /// A run that happened: its outcome, a line per stage, and what the
    /// policy made of it.
    fn human_run(&self, ui: &Ui) -> String {
        let mut out = format!(
            "Run {} of {}: {} in {}\n",
            self.run_id.as_deref().unwrap_or("-"),
            self.service_id,
            ui.outcome(self.outcome),
            format_elapsed(self.duration_seconds.unwrap_or(0.0))
        );
        for s in &self.stage_results {
            out.push_str(&stage_line(ui, s));
        }
        if self.action == Action::Paused {
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
        out
    }
}

/// `  pull           ok 3 items`, or the failure with its code.
fn stage_line(ui: &Ui, s: &StageResult) -> String {
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
    format!("  {:<14} {mark} {detail}{retry}\n", s.stage)
}

/// The zone a service's quiet hours are read in: its calendar's zone
/// (`install --timezone`, or the zone its `--at` names), else the machine's
/// local zone (None).
fn service_zone(manifest: &Manifest) -> Option<chrono_tz::Tz> {
    manifest
        .calendar
        .as_ref()?
        .timezone
        .as_deref()?
        .parse()
        .ok()
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

/// The start of one pipeline run: its id, its time, what started it and
/// the profile it runs. `execute` and `manual_sync` both begin with it.
struct RunStart {
    run_id: String,
    start_ms: i64,
    /// When the attempt began (before the gate): the run's duration.
    started: Instant,
    trigger: Trigger,
    profile: Profile,
}

impl RunStart {
    fn new(ctx: &Context, trigger: Trigger, profile: Profile, started: Instant) -> RunStart {
        let start_ms = ctx.now_ms();
        RunStart {
            run_id: new_run_id(start_ms),
            start_ms,
            started,
            trigger,
            profile,
        }
    }

    /// The service log's first line of the run; `note` is appended to
    /// its description (e.g. that it is a probe).
    fn started_line(&self, note: &str) -> String {
        format!(
            "{} === run {} ({}, profile {}{note}) started ===",
            iso_ms(self.start_ms),
            self.run_id,
            self.trigger.as_str(),
            self.profile
        )
    }

    /// The history record of the run. A run-level error code (config,
    /// token) fails it whatever the stages did.
    fn record(
        &self,
        id: &str,
        stage_results: Vec<StageResult>,
        error_code: Option<String>,
        error_message: Option<String>,
    ) -> RunRecord {
        let outcome = if error_code.is_some() {
            Outcome::Failed
        } else {
            policy::run_outcome(&stage_results)
        };
        RunRecord {
            run_id: self.run_id.clone(),
            service_id: id.to_string(),
            trigger: self.trigger,
            timestamp_iso: iso_ms(self.start_ms),
            timestamp_ms: self.start_ms,
            duration_seconds: self.started.elapsed().as_secs_f64(),
            outcome,
            profile: Some(self.profile.to_string()),
            stage_results,
            error_code,
            error_message,
        }
    }
}

/// The service log of a run; `token` (name, value) is redacted from it.
fn open_run_log(ctx: &Context, id: &str, token: Option<&(String, String)>) -> ServiceLog {
    let secrets = token.map(|(_, value)| value.clone()).into_iter().collect();
    ServiceLog::open(&ctx.data_dir.service_log_path(id), secrets)
}

/// The service log's last line of a run; `note` goes before the closing
/// `===` (e.g. the failure streak).
fn finished_line(ctx: &Context, run: &RunRecord, note: &str) -> String {
    format!(
        "{} === run {} finished: {} in {:.3}s{note} ===",
        ctx.now_iso(),
        run.run_id,
        run.outcome.as_str(),
        run.duration_seconds
    )
}

/// Run the stages of `profile` with `env` added to their environment.
fn run_stages(
    ctx: &Context,
    config: &WorkspaceConfig,
    id: &str,
    profile: Profile,
    env: Vec<(String, String)>,
    log: &ServiceLog,
    rng: &mut dyn JitterRng,
) -> Vec<StageResult> {
    PipelineRun {
        config,
        profile,
        service_id: id,
        env,
        log,
        clock: ctx.clock(),
    }
    .run(rng)
}

/// Append the run to runs.jsonl (fsynced). A failure is a warning, also
/// in the service log: the run happened, and status.json still says so.
fn append_history(ctx: &Context, id: &str, run: &RunRecord, log: &ServiceLog) {
    if let Err(e) = runs::append(&ctx.data_dir.runs_path(id), run) {
        tracing::warn!(error = %e.message, "could not append to runs.jsonl");
        log.line(&format!(
            "{} warning: could not record the run in runs.jsonl: {}",
            ctx.now_iso(),
            e.message
        ));
    }
}

/// Execute one service run through the policy, step by step.
pub fn execute(
    ctx: &Context,
    id: &str,
    trigger: Trigger,
    ignore_backoff: bool,
    ignore_conditions: bool,
) -> Result<RunReport> {
    let started = Instant::now();
    let service = PolicyRun::new(ctx, id, trigger, ignore_backoff, ignore_conditions)?;
    if let Some(skipped) = service.gate()? {
        return Ok(service.ping_skip(skipped));
    }
    let lock_path = ctx
        .data_dir
        .pipeline_lock_path(&service.manifest.lock_group);
    let Some(_pipeline) = lock::try_acquire(&lock_path, ctx.clock())? else {
        return service.skip_locked().map(|r| service.ping_skip(r));
    };
    let begun = match service.begin(started)? {
        Ok(begun) => begun,
        Err(gate) => return service.skip(gate).map(|r| service.ping_skip(r)),
    };
    let mut rng = ThreadJitterRng;
    let mut ran = service.pipeline(&begun, &mut rng);
    let pings = ran.pings.take();
    let settled = service.record(&begun, &ran, &mut rng)?;
    service.ping_end(pings, &ran);
    service.hooks(&ran, &settled);
    Ok(service.report(&begun, &ran, &settled))
}

/// One installed service's run through the policy: what every step of
/// `execute` reads.
struct PolicyRun<'a> {
    ctx: &'a Context,
    id: &'a str,
    trigger: Trigger,
    ignore_backoff: bool,
    ignore_conditions: bool,
    manifest: Manifest,
    policy: Policy,
    /// The workspace config, read once per run (by the first step that
    /// needs it: the conditions gate, else the pipeline).
    workspace: std::cell::OnceCell<Result<WorkspaceConfig>>,
}

/// A run marked in flight in status.json (the `begin` step).
struct Begun {
    start: RunStart,
    /// The circuit breaker's half-open probe.
    probe: bool,
    /// An earlier run whose marker was still there.
    stale: Option<StaleRun>,
}

/// What the `pipeline` step leaves for the steps after it.
struct Ran {
    run: RunRecord,
    workspace: Result<WorkspaceConfig>,
    log: ServiceLog,
    /// The run's healthchecks pings, the start already on its way.
    pings: Option<crate::ping::RunPings>,
}

/// The status after the `record` step, and what applying the run did.
struct Settled {
    applied: Applied,
    status: StatusFile,
    end_ms: i64,
}

impl<'a> PolicyRun<'a> {
    fn new(
        ctx: &'a Context,
        id: &'a str,
        trigger: Trigger,
        ignore_backoff: bool,
        ignore_conditions: bool,
    ) -> Result<PolicyRun<'a>> {
        let manifest = crate::service::read_manifest(ctx, id)?
            .ok_or_else(|| crate::service::not_installed(id))?;
        Ok(PolicyRun {
            ctx,
            id,
            trigger,
            ignore_backoff,
            ignore_conditions,
            policy: policy_of(&manifest),
            manifest,
            workspace: std::cell::OnceCell::new(),
        })
    }

    /// The workspace config at its first use in this run.
    fn workspace(&self) -> &Result<WorkspaceConfig> {
        self.workspace
            .get_or_init(|| WorkspaceConfig::load(std::path::Path::new(&self.manifest.config_path)))
    }

    fn gate_of(&self, status: &StatusFile) -> Gate {
        policy::gate(status, &self.policy, self.ctx.now_ms(), self.ignore_backoff)
    }

    /// Gate: a paused or backing-off service skips the run (counted),
    /// before it takes any lock; so does an unmet condition. An unreadable
    /// status.json stops it.
    fn gate(&self) -> Result<Option<RunReport>> {
        let peek = match StatusFile::read(&self.ctx.data_dir.status_path(self.id)) {
            Ok(status) => status.unwrap_or_default(),
            Err(e) => return Err(refuse_unreadable_status(self.ctx, self.id, e)),
        };
        match self.gate_of(&peek) {
            Gate::Proceed { .. } => self.conditions_gate(),
            skip => self.skip(skip).map(Some),
        }
    }

    /// The workspace's `conditions`, after the policy's gate (a paused
    /// service says so rather than which condition failed; and the network
    /// probe is the slowest check). A config that cannot be loaded has no
    /// conditions to check: the pipeline step reports it as the run's
    /// failure. An unmet condition is a counted skip, never a failure, so
    /// it leaves the streak, the backoff and the breaker as they are.
    fn conditions_gate(&self) -> Result<Option<RunReport>> {
        let Ok(config) = self.workspace() else {
            return Ok(None);
        };
        if config.conditions.is_empty() {
            return Ok(None);
        }
        let log = || ServiceLog::open(&self.ctx.data_dir.service_log_path(self.id), Vec::new());
        if self.ignore_conditions {
            // Bypassed by a person: the log says so, so that a run at a
            // quiet hour or on battery is explained afterwards.
            log().line(&format!(
                "{} conditions not checked (trigger --ignore-conditions)",
                self.ctx.now_iso()
            ));
            return Ok(None);
        }
        let verdict = crate::conditions::check(
            &config.conditions,
            self.ctx.now_ms(),
            service_zone(&self.manifest),
        );
        for note in &verdict.notes {
            log().line(&format!("{} {note}", self.ctx.now_iso()));
        }
        let Some(unmet) = verdict.unmet else {
            return Ok(None);
        };
        log().line(&format!(
            "{} run skipped ({}): {}",
            self.ctx.now_iso(),
            unmet.condition.reason(),
            unmet.detail
        ));
        update_status(self.ctx, self.id, OnCorrupt::Fail, |s| {
            *s.skipped.condition.of_mut(unmet.condition) += 1;
            Ok(RunReport::condition(self.id, self.trigger, s, &unmet))
        })
        .map(Some)
    }

    /// Count a skip in status.json and report it.
    fn skip(&self, gate: Gate) -> Result<RunReport> {
        let (id, trigger) = (self.id, self.trigger);
        update_status(self.ctx, id, OnCorrupt::Fail, |s| {
            Ok(match &gate {
                Gate::Paused {
                    reason,
                    kind,
                    cooldown_remaining_seconds,
                } => {
                    s.skipped.paused += 1;
                    RunReport::paused(id, trigger, s, *kind, reason, *cooldown_remaining_seconds)
                }
                Gate::Backoff {
                    remaining_seconds,
                    next_retry_at_ms,
                } => {
                    s.skipped.backoff += 1;
                    RunReport::backoff(id, trigger, s, *remaining_seconds, *next_retry_at_ms)
                }
                Gate::Proceed { .. } => unreachable!("only skips are recorded"),
            })
        })
    }

    /// Count a skip for the pipeline lock in status.json and report it.
    fn skip_locked(&self) -> Result<RunReport> {
        update_status(self.ctx, self.id, OnCorrupt::Fail, |s| {
            s.skipped.locked += 1;
            Ok(RunReport::locked(
                self.id,
                self.trigger,
                s,
                &self.manifest.lock_group,
            ))
        })
    }

    /// Begin, under the pipeline lock: gate again (the state may have
    /// changed while we waited), mark this run in flight, and record a
    /// marker left by an earlier run as a crashed run. Err(gate) when the
    /// second look says skip.
    fn begin(&self, started: Instant) -> Result<std::result::Result<Begun, Gate>> {
        let profile = Profile::parse(&self.manifest.profile).unwrap_or_default();
        let start = RunStart::new(self.ctx, self.trigger, profile, started);
        let status_path = self.ctx.data_dir.status_path(self.id);
        let marked = update_status(self.ctx, self.id, OnCorrupt::Fail, |s| {
            let probe = match self.gate_of(s) {
                Gate::Proceed { probe } => probe,
                skip => return Ok(Err(skip)),
            };
            let from = policy::policy_state(s, &self.policy, start.start_ms);
            policy::check_transition(from, policy::PolicyState::Running)
                .map_err(|e| Error::corrupt_state(&status_path, e))?;
            let previous = s.current_run.take();
            s.current_run = Some(CurrentRun {
                started_at_ms: start.start_ms,
                pid: std::process::id(),
                run_id: Some(start.run_id.clone()),
                trigger: Some(self.trigger),
            });
            Ok(Ok((probe, previous)))
        })?;
        let (probe, previous) = match marked {
            Ok(marked) => marked,
            Err(skip) => return Ok(Err(skip)),
        };
        // A marker left by an earlier run: that run held the pipeline lock
        // we hold now, so it is gone without having recorded a result.
        let stale = previous.map(|c| {
            record_crashed(self.ctx, self.id, &c, start.start_ms);
            StaleRun {
                pid: c.pid,
                started_at_iso: iso_ms(c.started_at_ms),
            }
        });
        Ok(Ok(Begun {
            start,
            probe,
            stale,
        }))
    }

    /// Pipeline: the config (as the conditions gate read it) and the
    /// token are resolved now, so that a broken config or a missing token
    /// is a classified, permanent failure of the run rather than an error
    /// of the command.
    fn pipeline(&self, begun: &Begun, rng: &mut dyn JitterRng) -> Ran {
        let (ctx, id, start) = (self.ctx, self.id, &begun.start);
        let workspace = self.workspace().clone();
        let token = resolve_token(ctx, id, self.manifest.token_env_var.as_deref());
        let log = open_run_log(ctx, id, token.as_ref().ok().and_then(Option::as_ref));
        log.line(&start.started_line(if begun.probe {
            ", circuit-breaker probe"
        } else {
            ""
        }));
        if let Some(st) = &begun.stale {
            log.line(&format!(
                "{} previous run (pid {}, started {}) did not finish: it was stale",
                iso_ms(start.start_ms),
                st.pid,
                st.started_at_iso
            ));
        }
        let pings = workspace
            .as_ref()
            .ok()
            .and_then(|c| c.ping.as_ref())
            .map(|p| {
                log.line(&format!(
                    "{} ping: rid {} to {}",
                    iso_ms(start.start_ms),
                    crate::ping::rid_of(&start.run_id),
                    crate::ping::host_of(&p.url)
                ));
                crate::ping::RunPings::start(p, &start.run_id)
            });
        let run = match (&workspace, &token) {
            (Err(e), _) | (_, Err(e)) => {
                log.line(&format!(
                    "{} run failed before any stage: {}: {}",
                    ctx.now_iso(),
                    e.code,
                    e.message
                ));
                let code = e.code.as_str().to_string();
                start.record(id, Vec::new(), Some(code), Some(e.message.clone()))
            }
            (Ok(config), Ok(token)) => {
                let env = token
                    .iter()
                    .cloned()
                    .chain(self.manifest.stage_path.clone().map(|p| ("PATH".into(), p)))
                    .collect();
                let results = run_stages(ctx, config, id, start.profile, env, &log, rng);
                start.record(id, results, None, None)
            }
        };
        Ran {
            run,
            workspace,
            log,
            pings,
        }
    }

    /// Ping: the end of the run (success, fail, or degraded as configured)
    /// with the tail of its log. Never changes the outcome; failures go to
    /// the service log.
    fn ping_end(&self, pings: Option<crate::ping::RunPings>, ran: &Ran) {
        let Some(pings) = pings else { return };
        let outcome = ran.run.outcome;
        pings.finish(
            outcome == Outcome::Failed,
            outcome == Outcome::Degraded,
            &self.ctx.data_dir.service_log_path(self.id),
            ran.log.redactor(),
            &ran.log,
            || self.ctx.now_iso(),
        );
    }

    /// A skipped run's `/log` ping, when the workspace's `ping.on_skip`
    /// asks for one; the report passes through.
    fn ping_skip(&self, report: RunReport) -> RunReport {
        let Some(ping) = self.workspace().as_ref().ok().and_then(|c| c.ping.clone()) else {
            return report;
        };
        let text = format!(
            "{} run of {} skipped: {}{}",
            self.trigger.as_str(),
            self.id,
            report.reason.as_deref().unwrap_or("-"),
            report
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        let log = ServiceLog::open(&self.ctx.data_dir.service_log_path(self.id), Vec::new());
        crate::ping::skip(&ping, &text, &log, &self.ctx.now_iso());
        report
    }

    /// Record: the history first (fsynced), then the status, where the
    /// policy applies the run (reset, back off, pause, trip the breaker)
    /// and this run's in-flight marker goes.
    fn record(&self, begun: &Begun, ran: &Ran, rng: &mut dyn JitterRng) -> Result<Settled> {
        append_history(self.ctx, self.id, &ran.run, &ran.log);
        let status_path = self.ctx.data_dir.status_path(self.id);
        let end_ms = self.ctx.now_ms();
        let (applied, status) = update_status(self.ctx, self.id, OnCorrupt::Fail, |s| {
            // Our own marker goes; someone else's (impossible under the lock) stays.
            if s.current_run
                .as_ref()
                .is_some_and(|c| c.run_id.as_deref() == Some(begun.start.run_id.as_str()))
            {
                s.current_run = None;
            }
            let applied =
                policy::apply_run(s, &self.policy, ran.run.clone(), begun.probe, end_ms, rng);
            let to = policy::policy_state(s, &self.policy, end_ms);
            policy::check_transition(policy::PolicyState::Running, to)
                .map_err(|e| Error::corrupt_state(&status_path, e))?;
            Ok((applied, s.clone()))
        })?;
        let paused = applied
            .paused
            .map(|k| format!(", paused: {}", k.as_str()))
            .unwrap_or_default();
        let note = format!(
            " ({} consecutive failures){paused}",
            status.consecutive_failures
        );
        ran.log.line(&finished_line(self.ctx, &ran.run, &note));
        Ok(Settled {
            applied,
            status,
            end_ms,
        })
    }

    /// Hooks: the workspace's commands for the events the run raised.
    fn hooks(&self, ran: &Ran, settled: &Settled) {
        let Ok(config) = &ran.workspace else {
            return;
        };
        let withheld: Vec<String> = self.manifest.token_env_var.iter().cloned().collect();
        let failure = policy::Failure::of_run(&ran.run);
        let log_path = self.ctx.data_dir.service_log_path(self.id);
        let details = crate::hooks::EventDetails {
            service_id: self.id,
            service_name: self.manifest.name.as_deref(),
            workspace: &config.root,
            run_id: &ran.run.run_id,
            outcome: ran.run.outcome.as_str(),
            error_code: failure.as_ref().map(|f| f.code.as_str()),
            error_message: failure.as_ref().map(|f| f.message.as_str()),
            consecutive_failures: settled.status.consecutive_failures,
            paused_reason: settled.status.paused_reason.as_deref(),
            log_path: &log_path,
            withheld: &withheld,
            path: self.manifest.stage_path.as_deref(),
        };
        let events = &settled.applied.events;
        crate::hooks::fire(&config.hooks, events, &details, &ran.log, self.ctx.clock());
    }

    /// Report: the run, the failure streak and backoff after it, and the
    /// pause it caused, if any.
    fn report(&self, begun: &Begun, ran: &Ran, settled: &Settled) -> RunReport {
        let after = &settled.status;
        let mut report = RunReport::ran(&ran.run, begun.start.started.elapsed().as_secs_f64());
        report.consecutive_failures = after.consecutive_failures;
        report.next_retry_iso = after.next_retry_at_ms.map(iso_ms);
        report.remaining_seconds = after
            .next_retry_at_ms
            .map(|at| ((at - settled.end_ms).max(0) / 1000) as u64);
        report.probe = begun.probe;
        report.previous_run_stale = begun.stale.clone();
        let pause = after
            .pause_kind()
            .filter(|_| settled.applied.paused.is_some() && after.paused_reason.is_some());
        if let Some(kind) = pause {
            report.action = Action::Paused;
            report.reason = Some(pause_code(kind, after.last_error_code.as_deref()));
            report.message = after.paused_reason.clone();
            report.suggestion = Some(pause_suggestion(kind, None));
        }
        report
    }
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
    let start = RunStart::new(ctx, Trigger::Manual, profile, started);
    let log = open_run_log(ctx, id, token.as_ref());
    log.line(&start.started_line(""));
    let env = token.into_iter().collect();
    let results = run_stages(ctx, config, id, profile, env, &log, &mut ThreadJitterRng);
    let failure_code = results
        .iter()
        .find(|s| !s.success && !s.optional)
        .and_then(|s| s.error_code.clone());
    let run = start.record(id, results, failure_code.clone(), None);
    append_history(ctx, id, &run, &log);
    crate::index::runs_appended(ctx, id);
    log.line(&finished_line(ctx, &run, ""));
    let mut report = RunReport::ran(&run, started.elapsed().as_secs_f64());
    report.suggestion = failure_code
        .map(|c| format!("A core stage failed ({c}); see `syncfleet logs` for its output."));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_serialize_as_the_names_people_read() {
        for (action, name) in [
            (Action::SyncCompleted, "sync_completed"),
            (Action::Skipped, "skipped"),
            (Action::Paused, "paused"),
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), name);
            assert_eq!(action.to_string(), name);
        }
    }

    #[test]
    fn a_pause_found_by_the_gate_names_its_code_and_the_fix() {
        let status = StatusFile {
            consecutive_failures: 3,
            last_error_code: Some("AUTH_FAILED".into()),
            ..StatusFile::default()
        };
        let r = RunReport::paused(
            "svc",
            Trigger::Scheduled,
            &status,
            PauseKind::Permanent,
            "AUTH_FAILED: 401",
            None,
        );
        assert_eq!(r.action, Action::Paused);
        assert_eq!(r.reason.as_deref(), Some("AUTH_FAILED"));
        assert_eq!(r.message.as_deref(), Some("AUTH_FAILED: 401"));
        assert_eq!(r.consecutive_failures, 3);
        assert!(r.suggestion.unwrap().ends_with("syncfleet resume"));
        assert!(r.run_id.is_none() && r.outcome.is_none());
    }
}
