//! The run policy, pure: gating (paused, half-open, backoff), backoff with
//! full jitter, the circuit breaker, failure classification, outcome
//! computation, the legal state transitions and the scheduler state shown
//! by `status`. Time and randomness are injected; nothing here does I/O.

use crate::store::status::{Outcome, PauseKind, RunRecord, StageResult, StatusFile};
use serde::Serialize;

/// Backoff never waits longer than this.
pub const BACKOFF_CAP_SECONDS: u64 = 4 * 3600;
/// A `current_run` older than this is stale even if its pid is alive.
pub const STALE_RUN_MS: i64 = 30 * 60 * 1000;

/// Error codes that pause instead of retrying.
pub const PERMANENT_CODES: [&str; 7] = [
    "TOKEN_NOT_SET",
    "AUTH_FAILED",
    "CONFIG_NOT_FOUND",
    "CONFIG_INVALID",
    "MIGRATION_FAILED",
    "COMMAND_NOT_FOUND",
    "PERMANENT_EXIT_CODE",
];

/// The wall clock, in milliseconds since the Unix epoch. Everything that
/// reads or records the time goes through the context's clock, so that a
/// test can stop it (`SYNCFLEET_NOW`) and assert exact times.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;

    fn now_iso(&self) -> String {
        crate::output::iso_ms(self.now_ms())
    }

    /// Now as a file time, to compare with modification times.
    fn now_system_time(&self) -> std::time::SystemTime {
        let ms = u64::try_from(self.now_ms()).unwrap_or(0);
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock stopped at one instant.
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// A source of jitter in [0.0, 1.0).
pub trait JitterRng: Send {
    fn next_f64(&mut self) -> f64;
}

pub struct ThreadJitterRng;

impl JitterRng for ThreadJitterRng {
    fn next_f64(&mut self) -> f64 {
        rand::random::<f64>()
    }
}

/// The per-service knobs the policy needs, from the manifest.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub interval_seconds: u64,
    pub max_transient_failures: u32,
    pub cooldown_seconds: u64,
}

impl Policy {
    /// The policy of a registry row, whose unset settings are the
    /// manifest's defaults (`list`, `top` and the metrics read states so).
    pub fn with_defaults(
        interval_seconds: u64,
        max_transient_failures: Option<u32>,
        cooldown_seconds: Option<u64>,
    ) -> Policy {
        use crate::store::manifest::{
            DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS, DEFAULT_MAX_TRANSIENT_FAILURES,
        };
        Policy {
            interval_seconds,
            max_transient_failures: max_transient_failures
                .unwrap_or(DEFAULT_MAX_TRANSIENT_FAILURES),
            cooldown_seconds: cooldown_seconds.unwrap_or(DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS),
        }
    }
}

pub fn is_permanent_code(code: &str) -> bool {
    PERMANENT_CODES.contains(&code)
}

/// Primary: the machine-readable code. Fallback (no code): string
/// matching on the message (`classify::fallback_code`).
pub fn is_permanent_stage_error(stage: &StageResult) -> bool {
    if let Some(code) = &stage.error_code {
        return is_permanent_code(code);
    }
    stage
        .error
        .as_deref()
        .is_some_and(|m| fallback_code(m).is_some())
}

fn fallback_code(message: &str) -> Option<&'static str> {
    crate::classify::fallback_code(message)
}

/// Seconds until the persisted retry time, or None when a run may proceed.
/// Paused state is separate (the caller checks it first).
pub fn backoff_remaining(status: &StatusFile, now_ms: i64) -> Option<u64> {
    if status.paused_reason.is_some() || status.consecutive_failures == 0 {
        return None;
    }
    let next_retry = status.next_retry_at_ms?;
    (now_ms < next_retry).then(|| ((next_retry - now_ms) / 1000) as u64)
}

/// The retry time after the `consecutive_failures`-th transient failure:
/// full jitter in [interval, min(interval·2^(n-1), 4h)], computed once and
/// persisted. A server hint (absolute ms) is a floor. Returns the time and
/// whether the hint decided it.
pub fn next_retry_at(
    consecutive_failures: u32,
    interval_seconds: u64,
    now_ms: i64,
    rng: &mut dyn JitterRng,
    retry_after_ms: Option<i64>,
) -> (i64, bool) {
    let exponent = consecutive_failures.saturating_sub(1).min(20);
    let cap = (interval_seconds as u128)
        .saturating_mul(1u128 << exponent)
        .min(BACKOFF_CAP_SECONDS as u128) as u64;
    // An interval above the cap (up to 24h) keeps the interval as the floor.
    let min_backoff = interval_seconds;
    let span = cap.saturating_sub(min_backoff);
    let jitter = rng.next_f64().clamp(0.0, 1.0);
    let backoff_secs = min_backoff + ((span as f64) * jitter) as u64;
    let computed = now_ms + (backoff_secs as i64) * 1000;
    match retry_after_ms {
        Some(hint) if hint > computed => (hint, true),
        _ => (computed, false),
    }
}

/// Whether a circuit-breaker pause has cooled down enough for a probe.
pub fn is_half_open(status: &StatusFile, policy: &Policy, now_ms: i64) -> bool {
    status.pause_kind() == Some(PauseKind::CircuitBreaker)
        && status
            .circuit_breaker_paused_at_ms
            .is_some_and(|at| now_ms >= at + (policy.cooldown_seconds as i64) * 1000)
}

/// What the run path should do before touching the lock.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    Proceed {
        probe: bool,
    },
    Paused {
        reason: String,
        kind: PauseKind,
        cooldown_remaining_seconds: Option<u64>,
    },
    Backoff {
        remaining_seconds: u64,
        next_retry_at_ms: i64,
    },
}

/// `ignore_backoff` (trigger --ignore-backoff) bypasses backoff, never a pause.
pub fn gate(status: &StatusFile, policy: &Policy, now_ms: i64, ignore_backoff: bool) -> Gate {
    if let (Some(reason), Some(kind)) = (&status.paused_reason, status.pause_kind()) {
        if is_half_open(status, policy, now_ms) {
            return Gate::Proceed { probe: true };
        }
        let cooldown_remaining_seconds = (kind == PauseKind::CircuitBreaker)
            .then_some(status.circuit_breaker_paused_at_ms)
            .flatten()
            .map(|at| {
                ((at + (policy.cooldown_seconds as i64) * 1000 - now_ms).max(0) / 1000) as u64
            });
        return Gate::Paused {
            reason: reason.clone(),
            kind,
            cooldown_remaining_seconds,
        };
    }
    if !ignore_backoff && let Some(remaining_seconds) = backoff_remaining(status, now_ms) {
        return Gate::Backoff {
            remaining_seconds,
            next_retry_at_ms: status.next_retry_at_ms.unwrap_or(now_ms),
        };
    }
    Gate::Proceed { probe: false }
}

/// success if every stage succeeded; degraded if only optional stages
/// failed; failed if any core stage failed.
pub fn run_outcome(stages: &[StageResult]) -> Outcome {
    if stages.iter().any(|s| !s.success && !s.optional) {
        Outcome::Failed
    } else if stages.iter().any(|s| !s.success) {
        Outcome::Degraded
    } else {
        Outcome::Success
    }
}

/// The failure that decides a failed run's fate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub stage: Option<String>,
    pub code: String,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl Failure {
    pub fn permanent(&self) -> bool {
        is_permanent_code(&self.code)
    }

    /// The first failed core stage of a run, or the run-level error.
    pub fn of_run(run: &RunRecord) -> Option<Failure> {
        if run.outcome != Outcome::Failed {
            return None;
        }
        if let Some(stage) = run.stage_results.iter().find(|s| !s.success && !s.optional) {
            let message = stage
                .error
                .clone()
                .unwrap_or_else(|| "unknown error".into());
            let code = stage.error_code.clone().unwrap_or_else(|| {
                fallback_code(&message)
                    .unwrap_or("STAGE_FAILED")
                    .to_string()
            });
            return Some(Failure {
                stage: Some(stage.stage.clone()),
                code,
                message,
                retry_after_seconds: stage.retry_after_seconds,
            });
        }
        Some(Failure {
            stage: None,
            code: run
                .error_code
                .clone()
                .unwrap_or_else(|| "STAGE_FAILED".into()),
            message: run
                .error_message
                .clone()
                .unwrap_or_else(|| "unknown error".into()),
            retry_after_seconds: None,
        })
    }
}

/// Notification events a run can raise (hooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Failure,
    Pause,
    Recover,
}

/// What applying a run's result did to the status.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub paused: Option<PauseKind>,
    pub events: Vec<Event>,
}

/// Apply an executed run to the status: record it, then reset, back off,
/// pause (permanent) or trip the breaker. A failed probe re-pauses.
/// A manual pause made while the run was in flight outlives the run: the
/// result is recorded, the person's pause stays.
pub fn apply_run(
    status: &mut StatusFile,
    policy: &Policy,
    run: RunRecord,
    probe: bool,
    now_ms: i64,
    rng: &mut dyn JitterRng,
) -> Applied {
    let manual_pause = (status.pause_kind() == Some(PauseKind::Manual))
        .then(|| (status.paused_reason.clone(), status.paused_at_ms));
    let was_failing = status.consecutive_failures > 0 || status.paused_reason.is_some();
    let failure = Failure::of_run(&run);
    status.record_run(run);
    let mut applied = match failure {
        None => succeeded(status, was_failing),
        Some(failure) => failed(status, policy, &failure, probe, now_ms, rng),
    };
    if let Some((reason, at)) = manual_pause {
        status.paused_reason = reason;
        status.paused_at_ms = at;
        status.pause_kind = Some(PauseKind::Manual);
        status.circuit_breaker_paused_at_ms = None;
        status.next_retry_at_ms = None;
        applied.paused = Some(PauseKind::Manual);
    }
    applied
}

/// A successful or degraded run (degraded does not count as a failure):
/// the streak and any pause go, and a failing service recovers.
fn succeeded(status: &mut StatusFile, was_failing: bool) -> Applied {
    status.clear_paused();
    Applied {
        paused: None,
        events: if was_failing {
            vec![Event::Recover]
        } else {
            Vec::new()
        },
    }
}

/// A failed run: a permanent failure pauses; a transient one counts, and
/// trips the breaker at the threshold (or re-pauses after a failed probe),
/// else backs off.
fn failed(
    status: &mut StatusFile,
    policy: &Policy,
    failure: &Failure,
    probe: bool,
    now_ms: i64,
    rng: &mut dyn JitterRng,
) -> Applied {
    let events = vec![Event::Failure];
    status.last_error_code = Some(failure.code.clone());
    status.last_error_message = Some(failure.message.clone());
    status.next_retry_at_ms = None;
    status.backoff_reason = None;
    if failure.permanent() {
        let reason = format!("{}: {}", failure.code, failure.message);
        return pause(status, PauseKind::Permanent, reason, now_ms, events);
    }
    status.consecutive_failures = status.consecutive_failures.saturating_add(1);
    if probe || status.consecutive_failures >= policy.max_transient_failures {
        let reason = format!(
            "CIRCUIT_BREAKER: {} consecutive transient failures (last: {}: {})",
            status.consecutive_failures, failure.code, failure.message
        );
        return pause(status, PauseKind::CircuitBreaker, reason, now_ms, events);
    }
    // A transient failure is not a pause: any stale pause fields go.
    status.paused_reason = None;
    status.pause_kind = None;
    status.paused_at_ms = None;
    status.circuit_breaker_paused_at_ms = None;
    let hint_ms = failure
        .retry_after_seconds
        .map(|s| now_ms + (s as i64) * 1000);
    let (at, hinted) = next_retry_at(
        status.consecutive_failures,
        policy.interval_seconds,
        now_ms,
        rng,
        hint_ms,
    );
    status.next_retry_at_ms = Some(at);
    status.backoff_reason = hinted.then(|| "server_hint".to_string());
    Applied {
        paused: None,
        events,
    }
}

/// Pause the service after a failed run: a permanent failure, or the
/// circuit breaker (whose cooldown starts now).
fn pause(
    status: &mut StatusFile,
    kind: PauseKind,
    reason: String,
    now_ms: i64,
    mut events: Vec<Event>,
) -> Applied {
    status.paused_reason = Some(reason);
    status.pause_kind = Some(kind);
    status.paused_at_ms = Some(now_ms);
    status.circuit_breaker_paused_at_ms = (kind == PauseKind::CircuitBreaker).then_some(now_ms);
    events.push(Event::Pause);
    Applied {
        paused: Some(kind),
        events,
    }
}

/// The persisted policy state, for transition checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyState {
    Idle,
    Running,
    Success,
    Degraded,
    Backoff,
    Paused,
    HalfOpen,
}

pub fn policy_state(status: &StatusFile, policy: &Policy, now_ms: i64) -> PolicyState {
    if status.paused_reason.is_some() {
        return if is_half_open(status, policy, now_ms) {
            PolicyState::HalfOpen
        } else {
            PolicyState::Paused
        };
    }
    if status.consecutive_failures > 0 {
        return PolicyState::Backoff;
    }
    match status.last_run.as_ref().map(|r| r.outcome) {
        None => PolicyState::Idle,
        Some(Outcome::Success) => PolicyState::Success,
        Some(Outcome::Degraded) => PolicyState::Degraded,
        // A failed run with no failure streak only comes from old files.
        Some(Outcome::Failed) => PolicyState::Backoff,
        // Crashed runs live only in the history, never in last_run.
        Some(Outcome::Crashed) => PolicyState::Idle,
    }
}

/// The legal transitions: idle/running/degraded/backoff/half-open/paused, plus the manual pause (from
/// any settled state) and resume (paused or half-open back to idle).
pub fn check_transition(from: PolicyState, to: PolicyState) -> Result<(), String> {
    use PolicyState::*;
    let legal = matches!(
        (from, to),
        (Idle | Success | Degraded | Backoff, Running)
            | (Running, Success | Degraded | Backoff | Paused)
            | (
                Idle | Success | Degraded | Backoff | HalfOpen | Paused,
                Paused
            )
            | (Paused, HalfOpen)
            | (HalfOpen, Running)
            | (Paused | HalfOpen, Idle)
    );
    if legal {
        Ok(())
    } else {
        Err(format!("illegal state transition {from:?} -> {to:?}"))
    }
}

/// The scheduler state `status` and `list` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerState {
    NotInstalled,
    Idle,
    Running,
    RunningStale,
    Degraded,
    Backoff,
    HalfOpen,
    Paused,
}

impl SchedulerState {
    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerState::NotInstalled => "not_installed",
            SchedulerState::Idle => "idle",
            SchedulerState::Running => "running",
            SchedulerState::RunningStale => "running_stale",
            SchedulerState::Degraded => "degraded",
            SchedulerState::Backoff => "backoff",
            SchedulerState::HalfOpen => "half_open",
            SchedulerState::Paused => "paused",
        }
    }

    pub const ALL: [SchedulerState; 8] = [
        SchedulerState::NotInstalled,
        SchedulerState::Idle,
        SchedulerState::Running,
        SchedulerState::RunningStale,
        SchedulerState::Degraded,
        SchedulerState::Backoff,
        SchedulerState::HalfOpen,
        SchedulerState::Paused,
    ];

    pub fn parse(s: &str) -> Option<SchedulerState> {
        SchedulerState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// Whether an in-flight run marker is stale: its process is gone, or it
/// started more than 30 minutes ago.
pub fn is_stale_run(started_at_ms: i64, pid_alive: bool, now_ms: i64) -> bool {
    !pid_alive || now_ms - started_at_ms > STALE_RUN_MS
}

pub fn scheduler_state(
    status: &StatusFile,
    installed: bool,
    policy: &Policy,
    now_ms: i64,
    pid_alive: &dyn Fn(u32) -> bool,
) -> SchedulerState {
    if !installed {
        return SchedulerState::NotInstalled;
    }
    if let Some(run) = &status.current_run {
        return if is_stale_run(run.started_at_ms, pid_alive(run.pid), now_ms) {
            SchedulerState::RunningStale
        } else {
            SchedulerState::Running
        };
    }
    if status.paused_reason.is_some() {
        return if is_half_open(status, policy, now_ms) {
            SchedulerState::HalfOpen
        } else {
            SchedulerState::Paused
        };
    }
    if backoff_remaining(status, now_ms).is_some() {
        return SchedulerState::Backoff;
    }
    match status.last_run.as_ref().map(|r| r.outcome) {
        Some(Outcome::Degraded) => SchedulerState::Degraded,
        _ => SchedulerState::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status::{CurrentRun, make_run};

    struct FakeJitterRng {
        value: f64,
    }
    impl JitterRng for FakeJitterRng {
        fn next_f64(&mut self) -> f64 {
            self.value
        }
    }

    const POLICY: Policy = Policy {
        interval_seconds: 1800,
        max_transient_failures: 10,
        cooldown_seconds: 1800,
    };
    const T0: i64 = 100_000_000;

    fn make_status(outcome: Outcome, failures: u32, ts_ms: i64) -> StatusFile {
        let run = make_run(ts_ms, outcome);
        StatusFile {
            last_run: Some(run.clone()),
            recent_runs: vec![run],
            consecutive_failures: failures,
            ..StatusFile::default()
        }
    }

    fn stage(name: &str, success: bool, optional: bool, code: Option<&str>) -> StageResult {
        if success {
            StageResult::succeeded(name, optional, 5)
        } else {
            let mut s =
                StageResult::failed(name, optional, code.unwrap_or("STAGE_FAILED"), "test error");
            s.error_code = code.map(str::to_string);
            s
        }
    }

    fn run_with(stages: Vec<StageResult>) -> RunRecord {
        let mut r = make_run(T0, run_outcome(&stages));
        r.stage_results = stages;
        r
    }

    /// The kind of pause the gate found, if it found one.
    fn pause_kind_of(gate: Gate) -> Option<PauseKind> {
        match gate {
            Gate::Paused { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// `apply_run` under POLICY, with a fixed jitter.
    fn apply(
        status: &mut StatusFile,
        run: RunRecord,
        probe: bool,
        now_ms: i64,
        jitter: f64,
    ) -> Applied {
        let mut rng = FakeJitterRng { value: jitter };
        apply_run(status, &POLICY, run, probe, now_ms, &mut rng)
    }

    // --- Backoff (deterministic: fake clock values + persisted next_retry_at_ms) ---

    #[test]
    fn backoff_returns_none_when_zero_failures() {
        let status = make_status(Outcome::Success, 0, 100_000);
        assert!(backoff_remaining(&status, 200_000).is_none());
    }

    #[test]
    fn backoff_returns_none_when_no_next_retry() {
        let status = make_status(Outcome::Failed, 1, T0);
        assert!(backoff_remaining(&status, 2 * T0).is_none());
    }

    #[test]
    fn backoff_active_within_window() {
        let mut status = make_status(Outcome::Failed, 1, T0);
        status.next_retry_at_ms = Some(T0 + 1_800_000);
        assert_eq!(backoff_remaining(&status, T0 + 1000), Some(1799));
    }

    #[test]
    fn backoff_expired() {
        let mut status = make_status(Outcome::Failed, 1, T0);
        status.next_retry_at_ms = Some(T0 + 1_800_000);
        assert!(backoff_remaining(&status, T0 + 2_000_000).is_none());
    }

    #[test]
    fn backoff_skips_when_paused() {
        let mut status = make_status(Outcome::Failed, 3, T0);
        status.paused_reason = Some("AUTH_FAILED".into());
        status.next_retry_at_ms = Some(T0 + 999_999_999);
        assert!(backoff_remaining(&status, T0 + 1000).is_none());
    }

    #[test]
    fn first_failure_backoff_is_exactly_the_interval() {
        for jitter in [0.0, 0.5, 0.999] {
            let (at, hinted) =
                next_retry_at(1, 1800, T0, &mut FakeJitterRng { value: jitter }, None);
            assert_eq!(at, T0 + 1_800_000);
            assert!(!hinted);
        }
    }

    #[test]
    fn backoff_span_doubles_and_jitter_is_full() {
        // n=3: range [1800, 7200]; jitter 0.5 → 1800 + 2700 = 4500 s.
        let (at, _) = next_retry_at(3, 1800, T0, &mut FakeJitterRng { value: 0.5 }, None);
        assert_eq!(at, T0 + 4_500_000);
        let (at, _) = next_retry_at(3, 1800, T0, &mut FakeJitterRng { value: 0.0 }, None);
        assert_eq!(at, T0 + 1_800_000);
    }

    #[test]
    fn set_backoff_caps_at_4_hours() {
        let (at, _) = next_retry_at(20, 1800, T0, &mut FakeJitterRng { value: 1.0 }, None);
        assert_eq!(at, T0 + 14_400_000);
        let (at, _) = next_retry_at(u32::MAX, 1800, T0, &mut FakeJitterRng { value: 1.0 }, None);
        assert_eq!(at, T0 + 14_400_000, "no overflow for huge failure counts");
    }

    #[test]
    fn set_backoff_respects_retry_after_hint() {
        let hint = T0 + 3_600_000;
        assert_eq!(
            next_retry_at(1, 1800, T0, &mut FakeJitterRng { value: 0.0 }, Some(hint)),
            (hint, true)
        );
    }

    #[test]
    fn set_backoff_ignores_hint_when_computed_is_larger() {
        let hint = T0 + 60_000;
        assert_eq!(
            next_retry_at(1, 1800, T0, &mut FakeJitterRng { value: 0.0 }, Some(hint)),
            (T0 + 1_800_000, false)
        );
    }

    #[test]
    fn set_backoff_uses_configured_interval_not_hardcoded() {
        let (a, _) = next_retry_at(2, 300, T0, &mut FakeJitterRng { value: 0.5 }, None);
        let (b, _) = next_retry_at(2, 3600, T0, &mut FakeJitterRng { value: 0.5 }, None);
        assert_eq!(a, T0 + 450_000);
        assert!(a < b);
    }

    #[test]
    fn plan_backoff_table_upper_bounds() {
        for (n, max) in [(1, 1800), (2, 3600), (3, 7200), (4, 14_400), (9, 14_400)] {
            let (at, _) = next_retry_at(n, 1800, 0, &mut FakeJitterRng { value: 1.0 }, None);
            assert_eq!(at, max * 1000, "n={n}");
        }
    }

    // --- Classification ---

    #[test]
    fn permanent_errors_classified_correctly() {
        for code in [
            "TOKEN_NOT_SET",
            "AUTH_FAILED",
            "CONFIG_NOT_FOUND",
            "CONFIG_INVALID",
            "MIGRATION_FAILED",
            "COMMAND_NOT_FOUND",
        ] {
            assert!(is_permanent_code(code), "{code}");
        }
    }

    #[test]
    fn transient_errors_classified_correctly() {
        for code in [
            "NETWORK_ERROR",
            "RATE_LIMITED",
            "DB_LOCKED",
            "DB_ERROR",
            "INTERNAL_ERROR",
            "TIMEOUT",
            "STAGE_FAILED",
        ] {
            assert!(!is_permanent_code(code), "{code}");
        }
    }

    #[test]
    fn stage_error_code_is_primary_and_strings_are_the_fallback() {
        let mut s = StageResult::failed(
            "issues",
            false,
            "NETWORK_ERROR",
            "got 401 Unauthorized once",
        );
        assert!(
            !is_permanent_stage_error(&s),
            "the code wins over the message"
        );
        s.error_code = None;
        assert!(is_permanent_stage_error(&s));
        s.error = Some("connection reset".into());
        assert!(!is_permanent_stage_error(&s));
    }

    // --- Outcomes ---

    #[test]
    fn outcomes_by_stage_criticality() {
        assert_eq!(
            run_outcome(&[stage("a", true, false, None), stage("b", true, true, None)]),
            Outcome::Success
        );
        assert_eq!(
            run_outcome(&[stage("a", true, false, None), stage("b", false, true, None)]),
            Outcome::Degraded
        );
        assert_eq!(
            run_outcome(&[stage("a", false, false, None), stage("b", true, true, None)]),
            Outcome::Failed
        );
    }

    #[test]
    fn degraded_outcome_does_not_count_as_failure() {
        let mut status = make_status(Outcome::Failed, 3, T0);
        status.next_retry_at_ms = Some(2 * T0);
        let run = run_with(vec![
            stage("issues", true, false, None),
            stage("docs", false, true, None),
        ]);
        let applied = apply(&mut status, run, false, T0, 0.5);
        assert_eq!(status.consecutive_failures, 0);
        assert!(status.next_retry_at_ms.is_none());
        assert_eq!(applied.events, vec![Event::Recover]);
        assert_eq!(
            scheduler_state(&status, true, &POLICY, T0, &|_| false),
            SchedulerState::Degraded
        );
    }

    #[test]
    fn transient_failure_backs_off_once_computed() {
        let mut status = StatusFile::default();
        let run = run_with(vec![stage("issues", false, false, Some("NETWORK_ERROR"))]);
        let applied = apply(&mut status, run, false, T0, 0.5);
        assert_eq!(
            applied,
            Applied {
                paused: None,
                events: vec![Event::Failure]
            }
        );
        assert_eq!(status.consecutive_failures, 1);
        assert_eq!(status.next_retry_at_ms, Some(T0 + 1_800_000));
        assert_eq!(status.last_error_code.as_deref(), Some("NETWORK_ERROR"));
        assert_eq!(
            scheduler_state(&status, true, &POLICY, T0 + 1, &|_| false),
            SchedulerState::Backoff
        );
    }

    #[test]
    fn retry_after_hint_sets_the_floor_and_the_reason() {
        let mut status = StatusFile::default();
        let mut s = stage("issues", false, false, Some("RATE_LIMITED"));
        s.retry_after_seconds = Some(7200);
        apply(&mut status, run_with(vec![s]), false, T0, 0.0);
        assert_eq!(status.next_retry_at_ms, Some(T0 + 7_200_000));
        assert_eq!(status.backoff_reason.as_deref(), Some("server_hint"));
    }

    #[test]
    fn permanent_failure_pauses_immediately_without_counting() {
        let mut status = make_status(Outcome::Failed, 2, T0);
        let run = run_with(vec![stage("issues", false, false, Some("AUTH_FAILED"))]);
        let applied = apply(&mut status, run, false, T0, 0.5);
        assert_eq!(applied.paused, Some(PauseKind::Permanent));
        assert_eq!(applied.events, vec![Event::Failure, Event::Pause]);
        assert_eq!(status.consecutive_failures, 2);
        assert_eq!(
            status.paused_reason.as_deref(),
            Some("AUTH_FAILED: test error")
        );
        assert!(status.next_retry_at_ms.is_none());
        // A permanent pause never half-opens, however long ago.
        assert_eq!(
            pause_kind_of(gate(&status, &POLICY, T0 + 10 * 3_600_000, false)),
            Some(PauseKind::Permanent)
        );
    }

    #[test]
    fn circuit_breaker_trips_at_threshold() {
        let mut status = make_status(Outcome::Failed, 9, T0);
        let run = run_with(vec![stage("issues", false, false, Some("NETWORK_ERROR"))]);
        let applied = apply(&mut status, run, false, T0, 0.5);
        assert_eq!(applied.paused, Some(PauseKind::CircuitBreaker));
        assert_eq!(status.consecutive_failures, 10);
        assert!(
            status
                .paused_reason
                .as_deref()
                .unwrap()
                .starts_with("CIRCUIT_BREAKER: 10 consecutive transient failures")
        );
        assert_eq!(status.circuit_breaker_paused_at_ms, Some(T0));
        assert!(status.next_retry_at_ms.is_none(), "paused, not backing off");
    }

    #[test]
    fn ten_transient_failures_in_a_row_trip_the_breaker() {
        let mut status = StatusFile::default();
        let mut now = T0;
        for i in 1..=10 {
            assert_eq!(
                gate(&status, &POLICY, now, false),
                Gate::Proceed { probe: false },
                "run {i}"
            );
            let run = run_with(vec![stage("issues", false, false, Some("NETWORK_ERROR"))]);
            apply(&mut status, run, false, now, 0.3);
            now = status.next_retry_at_ms.unwrap_or(now) + 1;
        }
        assert_eq!(status.pause_kind(), Some(PauseKind::CircuitBreaker));
    }

    #[test]
    fn half_open_after_cooldown_then_probe_success_closes() {
        let mut status = make_status(Outcome::Failed, 10, T0);
        status.paused_reason = Some("CIRCUIT_BREAKER: 10 consecutive transient failures".into());
        status.pause_kind = Some(PauseKind::CircuitBreaker);
        status.circuit_breaker_paused_at_ms = Some(T0);
        match gate(&status, &POLICY, T0 + 1_799_000, false) {
            Gate::Paused {
                cooldown_remaining_seconds,
                ..
            } => assert_eq!(cooldown_remaining_seconds, Some(1)),
            other => panic!("{other:?}"),
        }
        let later = T0 + 1_800_000;
        assert_eq!(
            scheduler_state(&status, true, &POLICY, later, &|_| false),
            SchedulerState::HalfOpen
        );
        assert_eq!(
            gate(&status, &POLICY, later, false),
            Gate::Proceed { probe: true }
        );
        let applied = apply(
            &mut status,
            run_with(vec![stage("issues", true, false, None)]),
            true,
            later,
            0.5,
        );
        assert_eq!(applied.events, vec![Event::Recover]);
        assert!(status.paused_reason.is_none());
        assert_eq!(status.consecutive_failures, 0);
    }

    #[test]
    fn failed_probe_re_pauses_with_a_new_cooldown() {
        let mut status = make_status(Outcome::Failed, 10, T0);
        status.paused_reason = Some("CIRCUIT_BREAKER: 10".into());
        status.pause_kind = Some(PauseKind::CircuitBreaker);
        status.circuit_breaker_paused_at_ms = Some(T0);
        let later = T0 + 2_000_000;
        let run = run_with(vec![stage("issues", false, false, Some("NETWORK_ERROR"))]);
        let applied = apply(&mut status, run, true, later, 0.5);
        assert_eq!(applied.paused, Some(PauseKind::CircuitBreaker));
        assert_eq!(status.circuit_breaker_paused_at_ms, Some(later));
        assert!(matches!(
            gate(&status, &POLICY, later + 1000, false),
            Gate::Paused { .. }
        ));
    }

    #[test]
    fn a_manual_pause_made_mid_run_survives_the_result() {
        let mut status = StatusFile {
            paused_reason: Some("maintenance".into()),
            pause_kind: Some(PauseKind::Manual),
            paused_at_ms: Some(T0),
            ..StatusFile::default()
        };
        let applied = apply(
            &mut status,
            run_with(vec![stage("issues", true, false, None)]),
            false,
            T0,
            0.5,
        );
        assert_eq!(applied.paused, Some(PauseKind::Manual));
        assert_eq!(status.paused_reason.as_deref(), Some("maintenance"));
        assert_eq!(status.last_run.as_ref().unwrap().outcome, Outcome::Success);
    }

    #[test]
    fn gate_order_paused_then_backoff_and_ignore_backoff_never_bypasses_pause() {
        let mut status = make_status(Outcome::Failed, 1, T0);
        status.next_retry_at_ms = Some(T0 + 60_000);
        assert!(matches!(
            gate(&status, &POLICY, T0, false),
            Gate::Backoff {
                remaining_seconds: 60,
                ..
            }
        ));
        assert_eq!(
            gate(&status, &POLICY, T0, true),
            Gate::Proceed { probe: false }
        );
        status.paused_reason = Some("maintenance".into());
        status.pause_kind = Some(PauseKind::Manual);
        assert_eq!(
            pause_kind_of(gate(&status, &POLICY, T0, true)),
            Some(PauseKind::Manual)
        );
    }

    #[test]
    fn a_manual_reason_that_looks_like_the_breaker_is_still_manual() {
        let status = StatusFile {
            paused_reason: Some("CIRCUIT_BREAKER is what I typed".into()),
            pause_kind: Some(PauseKind::Manual),
            circuit_breaker_paused_at_ms: Some(0),
            ..StatusFile::default()
        };
        assert_eq!(
            pause_kind_of(gate(&status, &POLICY, T0, false)),
            Some(PauseKind::Manual)
        );
    }

    // --- States and transitions ---

    #[test]
    fn legal_transitions_follow_the_plan() {
        use PolicyState::*;
        for (from, to) in [
            (Idle, Running),
            (Running, Success),
            (Running, Degraded),
            (Running, Backoff),
            (Running, Paused),
            (Backoff, Running),
            (Backoff, Paused),
            (Paused, HalfOpen),
            (Paused, Idle),
            (HalfOpen, Running),
            (HalfOpen, Paused),
        ] {
            assert!(check_transition(from, to).is_ok(), "{from:?} -> {to:?}");
        }
        for (from, to) in [
            (Paused, Running),
            (Idle, Backoff),
            (Idle, HalfOpen),
            (Success, Degraded),
            (Running, Running),
            (Running, Idle),
        ] {
            assert!(check_transition(from, to).is_err(), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn scheduler_states() {
        let alive = |_| true;
        let dead = |_| false;
        let s = StatusFile::default();
        assert_eq!(
            scheduler_state(&s, false, &POLICY, T0, &alive),
            SchedulerState::NotInstalled
        );
        assert_eq!(
            scheduler_state(&s, true, &POLICY, T0, &alive),
            SchedulerState::Idle
        );
        let running = StatusFile {
            current_run: Some(CurrentRun {
                started_at_ms: T0,
                pid: 42,
                run_id: None,
                trigger: None,
            }),
            ..StatusFile::default()
        };
        assert_eq!(
            scheduler_state(&running, true, &POLICY, T0 + 1000, &alive),
            SchedulerState::Running
        );
        assert_eq!(
            scheduler_state(&running, true, &POLICY, T0 + 1000, &dead),
            SchedulerState::RunningStale
        );
        assert_eq!(
            scheduler_state(&running, true, &POLICY, T0 + STALE_RUN_MS + 1, &alive),
            SchedulerState::RunningStale
        );
        let paused = StatusFile {
            paused_reason: Some("x".into()),
            pause_kind: Some(PauseKind::Manual),
            ..StatusFile::default()
        };
        assert_eq!(
            scheduler_state(&paused, true, &POLICY, T0, &alive),
            SchedulerState::Paused
        );
        for state in SchedulerState::ALL {
            assert_eq!(SchedulerState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn failure_of_a_run_without_stages_uses_the_run_error() {
        let mut run = make_run(T0, Outcome::Failed);
        run.error_code = Some("TOKEN_NOT_SET".into());
        run.error_message = Some("GITLAB_TOKEN is not set".into());
        let f = Failure::of_run(&run).unwrap();
        assert!(f.permanent());
        assert_eq!(f.stage, None);
    }
}
