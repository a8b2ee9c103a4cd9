//! What `top` shows, computed from the registry's cached state (the same
//! state `list` reads) with the policy's own rules; no scheduler is asked.

use crate::error::{Error, Result};
use crate::output::iso_ms;
use crate::paths::DataDir;
use crate::policy::{self, Policy, SchedulerState};
use crate::registry::{HistoryQuery, RecentRun, Registry, RunRow, TopRow};
use crate::store::status::{Outcome, StageResult};
use serde::Serialize;

/// How many recent runs a sparkline shows.
pub const SPARK_RUNS: usize = 12;
/// Runs and log lines the detail view shows.
pub const DETAIL_RUNS: usize = 8;
pub const DETAIL_LOG_LINES: usize = 12;

/// One row of the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRow {
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub state: SchedulerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<Outcome>,
    #[serde(skip)]
    pub last_run_ms: Option<i64>,
    #[serde(skip)]
    pub next_run_ms: Option<i64>,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// The run the registry says is the last: a sparkline fetched for
    /// another one is out of date.
    #[serde(skip)]
    pub last_run_id: Option<String>,
}

impl ServiceRow {
    /// The name people gave it, else its id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.service_id)
    }

    /// Whether the filter text (case-insensitive) is in its name, id or
    /// one of its tags. Empty matches everything.
    pub fn matches(&self, filter: &str) -> bool {
        let f = filter.trim().to_lowercase();
        f.is_empty()
            || self.service_id.to_lowercase().contains(&f)
            || self
                .name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&f))
            || self.tags.iter().any(|t| t.to_lowercase().contains(&f))
    }
}

/// Where a state sorts: what needs a person first (paused, then the
/// failing states), the healthy ones last.
pub fn state_rank(state: SchedulerState) -> u8 {
    match state {
        SchedulerState::Paused => 0,
        SchedulerState::HalfOpen => 1,
        SchedulerState::Backoff => 2,
        SchedulerState::RunningStale => 3,
        SchedulerState::Degraded => 4,
        SchedulerState::Running => 5,
        SchedulerState::Idle => 6,
        SchedulerState::NotInstalled => 7,
    }
}

/// A registry row as the dashboard shows it.
pub fn service_row(row: TopRow, now_ms: i64, pid_alive: &dyn Fn(u32) -> bool) -> ServiceRow {
    let policy = Policy::with_defaults(
        row.interval_seconds,
        row.max_transient_failures,
        row.cooldown_seconds,
    );
    let state = policy::scheduler_state(&row.status, row.installed, &policy, now_ms, pid_alive);
    let last = row.status.last_run.as_ref();
    ServiceRow {
        next_run_ms: crate::schedule::ScheduledService {
            service_id: &row.service_id,
            platform: &row.platform,
            interval_seconds: row.interval_seconds,
            calendar: row.calendar.as_ref(),
        }
        .expected_next_run_ms(&row.status, state, row.last_duration_ms, now_ms),
        last_outcome: last.map(|r| r.outcome),
        last_run_ms: last.map(|r| r.timestamp_ms),
        last_run_id: last.map(|r| r.run_id.clone()).filter(|id| !id.is_empty()),
        consecutive_failures: row.status.consecutive_failures,
        paused_reason: row.status.paused_reason.clone(),
        state,
        service_id: row.service_id,
        name: row.name,
        tags: row.tags,
    }
}

/// Paused and failing services first, then by failures, then by name.
pub fn sort_rows(rows: &mut [ServiceRow]) {
    rows.sort_by(|a, b| {
        state_rank(a.state)
            .cmp(&state_rank(b.state))
            .then(b.consecutive_failures.cmp(&a.consecutive_failures))
            .then_with(|| a.label().cmp(b.label()))
            .then_with(|| a.service_id.cmp(&b.service_id))
    });
}

/// The whole fleet, sorted: one registry statement.
pub fn load_rows(
    reg: &Registry,
    now_ms: i64,
    pid_alive: &dyn Fn(u32) -> bool,
) -> Result<Vec<ServiceRow>> {
    let mut rows: Vec<ServiceRow> = reg
        .top_rows()?
        .into_iter()
        .map(|r| service_row(r, now_ms, pid_alive))
        .collect();
    sort_rows(&mut rows);
    Ok(rows)
}

/// A service's detail: its recent runs, the stages of the last one, and
/// the tail of its log (written redacted by the pipeline; read as is).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detail {
    pub service_id: String,
    pub runs: Vec<RunRow>,
    pub stages: Vec<StageResult>,
    pub log_path: String,
    pub log_tail: Vec<String>,
    /// The log could not be read (it does not exist before a first run).
    pub log_error: Option<String>,
}

pub fn load_detail(reg: &Registry, data_dir: &DataDir, id: &str) -> Result<Detail> {
    let runs = reg.history(&HistoryQuery {
        service_ids: vec![id.to_string()],
        limit: Some(DETAIL_RUNS),
        ..HistoryQuery::default()
    })?;
    let stages = match runs.first() {
        Some(last) => reg.stages_of(&last.run_id)?,
        None => Vec::new(),
    };
    let path = data_dir.service_log_path(id);
    let (log_tail, log_error) = match crate::commands::logs::tail_lines(&path, DETAIL_LOG_LINES) {
        Ok(lines) => (lines, None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Vec::new(),
            Some("no log yet: it appears after the first run".into()),
        ),
        Err(e) => (Vec::new(), Some(Error::io("read", &path, e).message)),
    };
    Ok(Detail {
        service_id: id.to_string(),
        runs,
        stages,
        log_path: path.display().to_string(),
        log_tail,
        log_error,
    })
}

/// `top --robot`: the rows as shown, with their sparkline runs.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub now_iso: String,
    pub services: Vec<SnapshotRow>,
}

#[derive(Debug, Serialize)]
pub struct SnapshotRow {
    #[serde(flatten)]
    pub row: ServiceRow,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_iso: Option<String>,
    pub recent: Vec<RecentRunJson>,
}

#[derive(Debug, Serialize)]
pub struct RecentRunJson {
    pub outcome: Outcome,
    pub duration_ms: i64,
}

impl SnapshotRow {
    pub fn new(row: ServiceRow, recent: &[RecentRun]) -> SnapshotRow {
        SnapshotRow {
            last_run_iso: row.last_run_ms.map(iso_ms),
            next_run_iso: row.next_run_ms.map(iso_ms),
            recent: recent
                .iter()
                .map(|r| RecentRunJson {
                    outcome: r.outcome,
                    duration_ms: r.duration_ms,
                })
                .collect(),
            row,
        }
    }
}
