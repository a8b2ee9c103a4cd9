//! status.json: the run state the policy reads and writes (its layout:
//! ARCHITECTURE.md, "Files versus registry"), and the run/stage records shared with runs.jsonl.

use super::{Versioned, read_versioned, write_json};
use crate::conditions::Condition;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// How many runs status.json keeps (newest first).
pub const RECENT_RUNS_CAP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Degraded,
    Failed,
    /// The run ended without recording a result (killed, crashed, the
    /// machine went down); recorded in the history when the next run finds
    /// its stale marker. Never a status file's last run.
    Crashed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Degraded => "degraded",
            Outcome::Failed => "failed",
            Outcome::Crashed => "crashed",
        }
    }
}

/// What started a run: the scheduler (`run`), a person (`trigger`), or a
/// manual `sync` outside the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Scheduled,
    Trigger,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Trigger => "trigger",
            Trigger::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    pub stage: String,
    pub success: bool,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub items_updated: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Machine-readable classification (AUTH_FAILED, TIMEOUT, STAGE_FAILED…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Server hint: do not retry before this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default = "one")]
    pub attempts: u32,
    #[serde(default)]
    pub duration_seconds: f64,
}

fn one() -> u32 {
    1
}

impl StageResult {
    pub fn succeeded(stage: &str, optional: bool, items_updated: u64) -> Self {
        StageResult {
            stage: stage.to_string(),
            success: true,
            optional,
            items_updated,
            error: None,
            error_code: None,
            retry_after_seconds: None,
            exit_code: Some(0),
            attempts: 1,
            duration_seconds: 0.0,
        }
    }

    pub fn failed(stage: &str, optional: bool, code: &str, error: &str) -> Self {
        StageResult {
            success: false,
            error: Some(error.to_string()),
            error_code: Some(code.to_string()),
            exit_code: None,
            ..StageResult::succeeded(stage, optional, 0)
        }
    }
}

/// One executed run: a line of runs.jsonl, and status.json's `last_run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique per run; makes re-imports into the registry idempotent.
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub service_id: String,
    #[serde(default = "scheduled")]
    pub trigger: Trigger,
    pub timestamp_iso: String,
    pub timestamp_ms: i64,
    pub duration_seconds: f64,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_results: Vec<StageResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

fn scheduled() -> Trigger {
    Trigger::Scheduled
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentRun {
    pub started_at_ms: i64,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// What started it, so that a crashed run is recorded as it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// Why a service is paused. Kept beside the free-text reason so that a
/// manual reason can never be mistaken for a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseKind {
    Manual,
    Permanent,
    CircuitBreaker,
}

impl PauseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseKind::Manual => "manual",
            PauseKind::Permanent => "permanent",
            PauseKind::CircuitBreaker => "circuit_breaker",
        }
    }
}

/// Invocations that did not run the pipeline, by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SkipCounts {
    #[serde(default)]
    pub backoff: u64,
    #[serde(default)]
    pub paused: u64,
    #[serde(default)]
    pub locked: u64,
    /// Skips for an unmet condition (`condition:<name>`). Absent from
    /// files written before conditions existed: all zero then.
    #[serde(default)]
    pub condition: ConditionSkips,
}

/// Skips per condition (see `conditions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConditionSkips {
    #[serde(default)]
    pub on_ac_power: u64,
    #[serde(default)]
    pub reachable: u64,
    #[serde(default)]
    pub quiet_hours: u64,
}

impl ConditionSkips {
    pub fn of_mut(&mut self, c: Condition) -> &mut u64 {
        match c {
            Condition::OnAcPower => &mut self.on_ac_power,
            Condition::Reachable => &mut self.reachable,
            Condition::QuietHours => &mut self.quiet_hours,
        }
    }

    pub fn total(&self) -> u64 {
        self.on_ac_power + self.reachable + self.quiet_hours
    }
}

impl SkipCounts {
    /// Every skip reason, as the registry's `skips.reason` spells it.
    pub const REASONS: [&'static str; 6] = [
        "backoff",
        "paused",
        "locked",
        "condition:on_ac_power",
        "condition:reachable",
        "condition:quiet_hours",
    ];

    /// The counter of `reason` (one of REASONS).
    pub fn of_mut(&mut self, reason: &str) -> Option<&mut u64> {
        Some(match reason {
            "backoff" => &mut self.backoff,
            "paused" => &mut self.paused,
            "locked" => &mut self.locked,
            "condition:on_ac_power" => &mut self.condition.on_ac_power,
            "condition:reachable" => &mut self.condition.reachable,
            "condition:quiet_hours" => &mut self.condition.quiet_hours,
            _ => return None,
        })
    }

    /// Each reason with its count, in REASONS order.
    pub fn by_reason(&self) -> [(&'static str, u64); 6] {
        let mut copy = self.clone();
        Self::REASONS.map(|r| (r, *copy.of_mut(r).expect("a known reason")))
    }

    pub fn total(&self) -> u64 {
        self.by_reason().iter().map(|(_, n)| n).sum()
    }

    /// Add `other`'s counts to these.
    pub fn add(&mut self, other: &SkipCounts) {
        for (reason, n) in other.by_reason() {
            *self.of_mut(reason).expect("a known reason") += n;
        }
    }

    /// `backoff 2, condition:quiet_hours 5`: the non-zero reasons, or
    /// None when nothing was skipped.
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = self
            .by_reason()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusFile {
    pub schema_version: u32,
    pub updated_at_iso: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunRecord>,
    /// Newest first, at most RECENT_RUNS_CAP, without stage details.
    #[serde(default)]
    pub recent_runs: Vec<RunRecord>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_at_ms: Option<i64>,
    /// "server_hint" when a Retry-After hint set the retry time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_kind: Option<PauseKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker_paused_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_run: Option<CurrentRun>,
    #[serde(default)]
    pub skipped: SkipCounts,
}

impl Default for StatusFile {
    fn default() -> Self {
        StatusFile {
            schema_version: <StatusFile as Versioned>::CURRENT_VERSION,
            updated_at_iso: String::new(),
            last_run: None,
            recent_runs: Vec::new(),
            consecutive_failures: 0,
            next_retry_at_ms: None,
            backoff_reason: None,
            paused_reason: None,
            pause_kind: None,
            paused_at_ms: None,
            circuit_breaker_paused_at_ms: None,
            last_error_code: None,
            last_error_message: None,
            current_run: None,
            skipped: SkipCounts::default(),
        }
    }
}

impl Versioned for StatusFile {
    /// v1 is the first version's layout; v2 adds run ids, triggers and skip
    /// counts (all defaulted), so a v1 file reads as v2 unchanged.
    const CURRENT_VERSION: u32 = 2;
    fn migrate(doc: &mut Value, from_version: u32) -> Result<(), String> {
        match from_version {
            1 => {
                let obj = doc.as_object_mut().ok_or("status is not a JSON object")?;
                // v1 wrote explicit nulls; v2 omits absent values.
                obj.retain(|_, v| !v.is_null());
                obj.entry("skipped")
                    .or_insert_with(|| serde_json::json!({}));
                Ok(())
            }
            other => Err(format!("no migration from status schema_version {other}")),
        }
    }
}

impl StatusFile {
    pub fn read(path: &Path) -> Result<Option<StatusFile>> {
        read_versioned(path)
    }

    pub fn write_atomic(&mut self, path: &Path, now_iso: &str) -> Result<()> {
        self.updated_at_iso = now_iso.to_string();
        write_json(path, self)
    }

    /// Make `run` the last run and prepend its summary to recent_runs.
    pub fn record_run(&mut self, run: RunRecord) {
        let mut summary = run.clone();
        summary.stage_results.clear();
        self.recent_runs.insert(0, summary);
        self.recent_runs.truncate(RECENT_RUNS_CAP);
        self.last_run = Some(run);
    }

    /// The kind of the current pause, if paused. Files from schema v1 carry
    /// no kind: the reason's prefix (`MANUAL`, `CIRCUIT_BREAKER`, an error
    /// code) tells it then.
    pub fn pause_kind(&self) -> Option<PauseKind> {
        let reason = self.paused_reason.as_deref()?;
        Some(
            self.pause_kind
                .unwrap_or(if reason.starts_with("CIRCUIT_BREAKER") {
                    PauseKind::CircuitBreaker
                } else if self.last_error_code.is_some() {
                    PauseKind::Permanent
                } else {
                    PauseKind::Manual
                }),
        )
    }

    /// Clear every trace of a pause, a backoff and the failure streak.
    pub fn clear_paused(&mut self) {
        self.paused_reason = None;
        self.pause_kind = None;
        self.paused_at_ms = None;
        self.circuit_breaker_paused_at_ms = None;
        self.last_error_code = None;
        self.last_error_message = None;
        self.next_retry_at_ms = None;
        self.backoff_reason = None;
        self.consecutive_failures = 0;
    }
}

#[cfg(test)]
pub(crate) fn make_run(ts_ms: i64, outcome: Outcome) -> RunRecord {
    RunRecord {
        run_id: format!("run-{ts_ms}"),
        service_id: "svc".into(),
        trigger: Trigger::Scheduled,
        timestamp_iso: String::new(),
        timestamp_ms: ts_ms,
        duration_seconds: 1.0,
        outcome,
        profile: None,
        stage_results: vec![],
        error_code: None,
        error_message: (outcome == Outcome::Failed).then(|| "test error".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn status_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let mut status = StatusFile::default();
        let mut run = make_run(1_770_609_000_000, Outcome::Success);
        run.stage_results = vec![
            StageResult::succeeded("issues", false, 5),
            StageResult::succeeded("mrs", false, 3),
        ];
        status.record_run(run);
        status.write_atomic(&path, "2026-02-09T10:30:00Z").unwrap();
        let loaded = StatusFile::read(&path).unwrap().unwrap();
        assert_eq!(loaded.last_run.as_ref().unwrap().outcome, Outcome::Success);
        assert_eq!(loaded.last_run.as_ref().unwrap().stage_results.len(), 2);
        assert_eq!(loaded.consecutive_failures, 0);
        assert_eq!(loaded.recent_runs.len(), 1);
        assert!(
            loaded.recent_runs[0].stage_results.is_empty(),
            "recent runs are summaries"
        );
        assert_eq!(loaded.schema_version, 2);
        assert_eq!(loaded, status);
    }

    #[test]
    fn status_file_read_missing_returns_ok_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            StatusFile::read(&dir.path().join("nonexistent.json"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn status_file_read_corrupt_returns_err() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.json");
        std::fs::write(&path, "not valid json{{{").unwrap();
        assert_eq!(
            StatusFile::read(&path).unwrap_err().code,
            ErrorCode::ServiceCorruptState
        );
    }

    #[test]
    fn status_file_atomic_write_leaves_valid_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        StatusFile::default().write_atomic(&path, "t").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str::<Value>(&text).unwrap();
        assert_eq!(StatusFile::read(&path).unwrap().unwrap().schema_version, 2);
    }

    #[test]
    fn v1_status_from_the_plan_migrates_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        // A v1 file, as the first version wrote it.
        std::fs::write(&path, r#"{
            "schema_version": 1,
            "updated_at_iso": "2026-02-09T10:00:00Z",
            "last_run": {"timestamp_iso":"2026-02-09T10:00:00Z","timestamp_ms":0,"duration_seconds":1.0,"outcome":"failed","stage_results":[],"error_message":"401 Unauthorized"},
            "recent_runs": [],
            "consecutive_failures": 1,
            "next_retry_at_ms": null,
            "paused_reason": "AUTH_FAILED: 401 Unauthorized",
            "last_error_code": "AUTH_FAILED",
            "last_error_message": "401 Unauthorized",
            "circuit_breaker_paused_at_ms": null
        }"#).unwrap();
        let s = StatusFile::read(&path).unwrap().unwrap();
        assert_eq!(s.schema_version, 2);
        assert_eq!(
            s.paused_reason.as_deref(),
            Some("AUTH_FAILED: 401 Unauthorized")
        );
        assert_eq!(s.last_run.unwrap().trigger, Trigger::Scheduled);
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            on_disk["schema_version"], 2,
            "migrated file is written back"
        );
    }

    #[test]
    fn record_run_caps_at_10_newest_first() {
        let mut status = StatusFile::default();
        for i in 0..15 {
            status.record_run(make_run(i * 1000, Outcome::Success));
        }
        assert_eq!(status.recent_runs.len(), 10);
        assert_eq!(status.recent_runs[0].timestamp_ms, 14_000);
        assert_eq!(status.last_run.unwrap().timestamp_ms, 14_000);
    }

    #[test]
    fn a_status_before_any_run_is_written_without_one_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let mut fresh = StatusFile::default();
        fresh.write_atomic(&path, "2026-02-09T10:30:00Z").unwrap();
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            on_disk,
            serde_json::json!({
                "schema_version": 2,
                "updated_at_iso": "2026-02-09T10:30:00Z",
                "recent_runs": [],
                "consecutive_failures": 0,
                "skipped": {"backoff": 0, "paused": 0, "locked": 0,
                    "condition": {"on_ac_power": 0, "reachable": 0, "quiet_hours": 0}}
            }),
            "no last_run, no nulls"
        );
        let loaded = StatusFile::read(&path).unwrap().unwrap();
        assert!(loaded.last_run.is_none());
        assert_eq!(loaded, fresh);
        // The smallest file a hand or an older writer leaves reads the same.
        std::fs::write(
            &path,
            r#"{"schema_version": 2, "updated_at_iso": "2026-02-09T10:30:00Z"}"#,
        )
        .unwrap();
        assert_eq!(StatusFile::read(&path).unwrap().unwrap(), fresh);
    }

    #[test]
    fn skip_counts_without_conditions_read_as_zero_and_count_by_reason() {
        let old: SkipCounts =
            serde_json::from_str(r#"{"backoff": 2, "paused": 1, "locked": 0}"#).unwrap();
        assert_eq!(old.condition, ConditionSkips::default());
        let mut s: SkipCounts =
            serde_json::from_str(r#"{"backoff": 2, "condition": {"quiet_hours": 5}}"#).unwrap();
        *s.condition.of_mut(Condition::Reachable) += 1;
        assert_eq!(s.total(), 8);
        assert_eq!(
            s.describe().as_deref(),
            Some("backoff 2, condition:reachable 1, condition:quiet_hours 5")
        );
        let mut sum = old.clone();
        sum.add(&s);
        assert_eq!(
            (sum.backoff, sum.paused, sum.condition.quiet_hours),
            (4, 1, 5)
        );
        assert!(s.of_mut("condition:nope").is_none());
        assert_eq!(SkipCounts::default().describe(), None);
    }

    #[test]
    fn clear_paused_resets_all_fields() {
        let mut status = StatusFile {
            consecutive_failures: 5,
            paused_reason: Some("AUTH_FAILED: 401 Unauthorized".into()),
            paused_at_ms: Some(1),
            last_error_code: Some("AUTH_FAILED".into()),
            last_error_message: Some("401 Unauthorized".into()),
            next_retry_at_ms: Some(200_000_000),
            backoff_reason: Some("server_hint".into()),
            circuit_breaker_paused_at_ms: Some(100_000_000),
            ..StatusFile::default()
        };
        status.clear_paused();
        assert!(status.paused_reason.is_none());
        assert!(status.paused_at_ms.is_none());
        assert!(status.circuit_breaker_paused_at_ms.is_none());
        assert!(status.last_error_code.is_none());
        assert!(status.last_error_message.is_none());
        assert!(status.next_retry_at_ms.is_none());
        assert!(status.backoff_reason.is_none());
        assert_eq!(status.consecutive_failures, 0);
    }
}
