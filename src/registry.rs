//! The SQLite registry (`registry.db`): an index of every service and of
//! every run, for the fleet commands. All SQL of syncfleet lives in this
//! module; callers get typed methods. The per-service files stay the source
//! of truth (see `index` for how the two are kept in step).

use crate::error::{Error, ErrorCode, Result};
use crate::policy::SchedulerState;
use crate::store::manifest::Manifest;
use crate::store::status::{
    CurrentRun, Outcome, PauseKind, RunRecord, SkipCounts, StageResult, StatusFile, Trigger,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{
    CachedStatement, Connection, OpenFlags, OptionalExtension, Params, Row, Transaction,
    TransactionBehavior, config::DbConfig, params, params_from_iter,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// How long an interactive command waits for another writer.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a run waits: the registry is best-effort there, and a run the
/// registry misses is imported by the next reader.
pub const RUN_PATH_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// The rows the report aggregates for one service, in time order: a range
/// scan of the primary key (service, time), so a report reads the rows of
/// its window and services and nothing else, however long the history.
/// Public so the benchmark can show the plan and time it.
pub const REPORT_SQL: &str = "SELECT started_at_ms, duration_ms, outcome, error_code, trigger \
     FROM runs WHERE service_id = ?1 AND started_at_ms >= ?2 AND started_at_ms < ?3 \
     ORDER BY started_at_ms";

/// One service's skipped invocations in a window, by reason.
const SKIP_COUNTS_SQL: &str = "SELECT reason, SUM(count) AS n FROM skips \
     WHERE service_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY reason";

/// The cached run state of a service (a summary of its status file): the
/// last columns of every SELECT that `cached_status` reads.
const STATUS_COLUMNS: &[&str] = &[
    "consecutive_failures",
    "next_retry_at_ms",
    "paused_reason",
    "pause_kind",
    "paused_at_ms",
    "cb_paused_at_ms",
    "last_error_code",
    "current_run_pid",
    "current_run_started_ms",
    "last_run_id",
    "last_run_ms",
    "last_outcome",
    "skipped_backoff",
    "skipped_paused",
    "skipped_locked",
    "skipped_condition_on_ac_power",
    "skipped_condition_reachable",
    "skipped_condition_quiet_hours",
];

/// The skip counters, in `SkipCounts::REASONS` order: the tail of
/// STATUS_COLUMNS.
const SKIP_COLUMNS: &[&str] = &[
    "skipped_backoff",
    "skipped_paused",
    "skipped_locked",
    "skipped_condition_on_ac_power",
    "skipped_condition_reachable",
    "skipped_condition_quiet_hours",
];

/// What install recorded, and the import marker: with STATUS_COLUMNS
/// after them, a whole `ServiceEntry`.
const ENTRY_COLUMNS: &[&str] = &[
    "service_id",
    "identity_hash",
    "name",
    "workspace_root",
    "config_path",
    "project_urls",
    "tags",
    "platform",
    "interval_seconds",
    "profile",
    "lock_group",
    "binary_path",
    "spec_hash",
    "max_transient_failures",
    "cooldown_seconds",
    "installed_at_iso",
    "updated_at_iso",
    "installed",
    "uninstalled_at_ms",
    "runs_offset",
];

/// Only what `list` shows (then STATUS_COLUMNS): list must stay fast for
/// 10,000 services.
const LIST_COLUMNS: &[&str] = &[
    "service_id",
    "name",
    "workspace_root",
    "platform",
    "interval_seconds",
    "profile",
    "tags",
    "installed",
    "uninstalled_at_ms",
    "max_transient_failures",
    "cooldown_seconds",
    "updated_at_iso",
    "calendar",
];

const RUN_COLUMNS: &[&str] = &[
    "run_id",
    "service_id",
    "trigger",
    "started_at_ms",
    "duration_ms",
    "outcome",
    "error_code",
    "error_message",
    "profile",
];

const STAGE_COLUMNS: &[&str] = &[
    "stage",
    "success",
    "optional",
    "items_updated",
    "error_code",
    "error",
    "exit_code",
    "attempts",
    "duration_ms",
];

/// `a == b` for `position` (str's `==` cannot run at compile time).
const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The position of column `name` in `columns`, for `col!`, which finds
/// it at compile time.
const fn position(columns: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < columns.len() {
        if same_name(columns[i], name) {
            return i;
        }
        i += 1;
    }
    panic!("the column is not in the list")
}

/// `col!(name in COLUMNS)`: the position of column `name` in a column
/// list, counted from where the list starts in the SELECT. Rows are read
/// by column name, a name the list lacks fails the build, and each row
/// costs no more than reading by position (rusqlite's lookup by name
/// walks the statement's column names for every value read, a cost that
/// `list` over 10,000 services and the report over a million runs should
/// not pay).
macro_rules! col {
    ($name:ident in $columns:expr) => {
        const { position($columns, stringify!($name)) }
    };
}

/// The lists as a SELECT's column list.
fn select_list(lists: &[&[&str]]) -> String {
    lists.concat().join(", ")
}

pub struct Registry {
    conn: Connection,
    path: PathBuf,
    /// The schema was created by this open (a new or emptied file).
    created: bool,
}

/// A service as the registry knows it: install fields (None for a service
/// that only ever ran `sync`), and the cached run state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceEntry {
    pub service_id: String,
    pub identity_hash: Option<String>,
    pub name: Option<String>,
    pub workspace_root: Option<String>,
    pub config_path: Option<String>,
    pub project_urls: Vec<String>,
    pub tags: Vec<String>,
    pub platform: Option<String>,
    pub interval_seconds: Option<u64>,
    pub profile: Option<String>,
    pub lock_group: Option<String>,
    pub binary_path: Option<String>,
    pub spec_hash: Option<String>,
    pub max_transient_failures: Option<u32>,
    pub cooldown_seconds: Option<u64>,
    pub installed_at_iso: Option<String>,
    pub updated_at_iso: Option<String>,
    pub installed: bool,
    pub uninstalled_at_ms: Option<i64>,
    /// The cached status (last_run carries only id, time and outcome).
    #[serde(skip)]
    pub status: StatusFile,
    pub runs_offset: u64,
}

/// One row of `list`: install fields and the cached state it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRow {
    pub service_id: String,
    pub name: Option<String>,
    pub workspace_root: String,
    pub platform: String,
    pub interval_seconds: u64,
    pub profile: String,
    pub tags: Vec<String>,
    pub installed: bool,
    pub uninstalled_at_ms: Option<i64>,
    pub max_transient_failures: Option<u32>,
    pub cooldown_seconds: Option<u64>,
    /// When the manifest the registry knows was written.
    pub updated_at_iso: Option<String>,
    /// A calendar service's schedule, for its next run.
    pub calendar: Option<crate::schedule::CalendarSchedule>,
    /// The cached status (last_run carries only id, time and outcome).
    pub status: StatusFile,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    pub include_uninstalled: bool,
    pub tag: Option<String>,
    pub profile: Option<String>,
    pub platform: Option<String>,
    /// Only the services that may be in this state at this instant (Unix
    /// ms): see `state_sql`. The caller still checks the pid of a run in
    /// flight, which SQL cannot.
    pub state: Option<(SchedulerState, i64)>,
}

#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Empty: every service.
    pub service_ids: Vec<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub outcome: Option<String>,
    pub trigger: Option<String>,
    pub limit: Option<usize>,
    pub with_stages: bool,
}

/// One run as the report reads it (borrowed from the statement's row).
#[derive(Debug, Clone, Copy)]
pub struct ReportRow<'a> {
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub outcome: &'a str,
    pub error_code: Option<&'a str>,
    pub trigger: &'a str,
}

/// One run from the registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub service_id: String,
    pub trigger: String,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageResult>>,
}

fn registry_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    let message = format!("registry {}: {what}: {e}", path.display());
    if message.contains("readonly") {
        // Rebuilding cannot help a file we may not write; nothing is lost
        // meanwhile (the files hold every run, pending imports wait).
        let dir = crate::fsutil::parent_dir(path);
        return Error::new(ErrorCode::RegistryError, message)
            .with_suggestion(format!(
                "The registry is read-only: give your user write access to {} and its directory {} (e.g. chmod u+w), then retry; runs it missed are imported then.",
                path.display(),
                dir.display()
            ))
            .with_actions(["syncfleet doctor"]);
    }
    Error::new(ErrorCode::RegistryError, message)
        .with_suggestion(
            "Rebuild it from the service files: syncfleet reindex (a corrupt file is moved aside first); `syncfleet doctor` checks it.",
        )
        .with_actions(["syncfleet reindex", "syncfleet doctor"])
}

/// What a file type is, in words.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The registry path must be a regular file, a link to one, or absent
/// (it is created then). Anything else (a directory, a link to /dev/null)
/// is refused before SQLite or a chmod touches it, with the fix: moving
/// it aside, after which the next command builds a new registry from the
/// files; `reindex` would only fail on it again.
fn check_registry_path(path: &Path) -> Result<()> {
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspect", path, e)),
    };
    let is_link = link.file_type().is_symlink();
    let what = if is_link {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => return Ok(()),
            Ok(m) => format!("a symlink to {target} ({})", kind_of(&m)),
            Err(_) => format!("a symlink to {target}, which does not exist"),
        }
    } else if link.is_file() {
        return Ok(());
    } else {
        kind_of(&link).to_string()
    };
    let p = path.display();
    let (fix, action) = if is_link {
        (
            format!(
                "Remove the link (it points at no database): rm {p}; the next syncfleet command creates a new registry and fills it from the service files."
            ),
            format!("rm {p}"),
        )
    } else {
        (
            format!(
                "Move it out of the way: mv {p} {p}.aside; the next syncfleet command creates a new registry and fills it from the service files."
            ),
            format!("mv {p} {p}.aside"),
        )
    };
    Err(Error::new(
        ErrorCode::RegistryError,
        // Worded apart from SQLite's "not a database": reindex moves a
        // damaged database aside, but what is here is not its to move.
        format!("registry {p} is {what}, where the registry's database file belongs"),
    )
    .with_suggestion(fix)
    .with_actions([action]))
}

/// `policy::scheduler_state` over the cached status columns of
/// `services`, at the instant bound to parameter `?{now}`, as one SQL
/// expression: the clock-only part of it. A run in flight reads
/// `running` until it is older than STALE_RUN_MS, as if its process were
/// alive: whether it is tells `running` from `running_stale`, and only the
/// caller can ask. The test `state_sql_is_scheduler_state_with_every_pid_alive`
/// holds the two definitions together over a table of cases.
fn state_sql(now: usize) -> String {
    use crate::store::manifest::DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS as COOLDOWN;
    // StatusFile::pause_kind: the recorded kind, else read from the reason
    // (files of schema 1). An unknown recorded kind reads as none.
    let pause_kind = "CASE WHEN pause_kind IN ('manual', 'permanent', 'circuit_breaker') \
         THEN pause_kind \
         WHEN substr(paused_reason, 1, 15) = 'CIRCUIT_BREAKER' THEN 'circuit_breaker' \
         WHEN last_error_code IS NOT NULL THEN 'permanent' ELSE 'manual' END";
    let stale = crate::policy::STALE_RUN_MS;
    format!(
        "CASE WHEN installed = 0 THEN 'not_installed' \
         WHEN current_run_pid IS NOT NULL AND current_run_started_ms IS NOT NULL THEN \
           CASE WHEN ?{now} - current_run_started_ms > {stale} THEN 'running_stale' \
           ELSE 'running' END \
         WHEN paused_reason IS NOT NULL THEN \
           CASE WHEN ({pause_kind}) = 'circuit_breaker' AND cb_paused_at_ms IS NOT NULL \
             AND ?{now} >= cb_paused_at_ms + COALESCE(cooldown_seconds, {COOLDOWN}) * 1000 \
           THEN 'half_open' ELSE 'paused' END \
         WHEN consecutive_failures != 0 AND next_retry_at_ms IS NOT NULL \
           AND ?{now} < next_retry_at_ms THEN 'backoff' \
         WHEN last_run_ms IS NOT NULL AND last_outcome = 'degraded' THEN 'degraded' \
         ELSE 'idle' END"
    )
}

/// The states `state_sql` may read for a service in `state`: a run in
/// flight whose process is gone is `running_stale`, though SQL reads it
/// `running`.
fn state_sql_readings(state: SchedulerState) -> &'static [SchedulerState] {
    match state {
        SchedulerState::RunningStale => &[SchedulerState::RunningStale, SchedulerState::Running],
        SchedulerState::NotInstalled => &[SchedulerState::NotInstalled],
        SchedulerState::Idle => &[SchedulerState::Idle],
        SchedulerState::Running => &[SchedulerState::Running],
        SchedulerState::Degraded => &[SchedulerState::Degraded],
        SchedulerState::Backoff => &[SchedulerState::Backoff],
        SchedulerState::HalfOpen => &[SchedulerState::HalfOpen],
        SchedulerState::Paused => &[SchedulerState::Paused],
    }
}

/// The service filter as SQL conditions (appended, with ORDER BY) and
/// their parameters.
fn filter_sql(filter: &ServiceFilter, sql: &mut String) -> Vec<SqlValue> {
    let mut args: Vec<SqlValue> = Vec::new();
    if !filter.include_uninstalled {
        sql.push_str(" AND installed = 1");
    }
    if let Some((state, now_ms)) = filter.state {
        args.push(SqlValue::Integer(now_ms));
        let readings: Vec<String> = state_sql_readings(state)
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        sql.push_str(&format!(
            " AND ({}) IN ({})",
            state_sql(args.len()),
            readings.join(", ")
        ));
    }
    if let Some(tag) = &filter.tag {
        args.push(tag.clone().into());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(services.tags) WHERE value = ?{})",
            args.len()
        ));
    }
    if let Some(p) = &filter.profile {
        args.push(p.clone().into());
        sql.push_str(&format!(" AND profile = ?{}", args.len()));
    }
    if let Some(p) = &filter.platform {
        args.push(p.clone().into());
        sql.push_str(&format!(" AND platform = ?{}", args.len()));
    }
    sql.push_str(" ORDER BY service_id");
    args
}

fn parse_outcome(s: Option<&str>) -> Option<Outcome> {
    match s {
        Some("success") => Some(Outcome::Success),
        Some("degraded") => Some(Outcome::Degraded),
        Some("failed") => Some(Outcome::Failed),
        Some("crashed") => Some(Outcome::Crashed),
        _ => None,
    }
}

fn parse_pause_kind(s: Option<&str>) -> Option<PauseKind> {
    match s {
        Some("manual") => Some(PauseKind::Manual),
        Some("permanent") => Some(PauseKind::Permanent),
        Some("circuit_breaker") => Some(PauseKind::CircuitBreaker),
        _ => None,
    }
}

/// A JSON list column; the common empty list is not parsed.
fn json_list(text: Option<&str>) -> Vec<String> {
    match text {
        Some(t) if t != "[]" => serde_json::from_str(t).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn secs_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// A run's code in the registry: its pre-flight error, else the code of
/// the stage that failed it (what reports want to show).
fn run_error_code(run: &RunRecord) -> Option<&str> {
    run.error_code.as_deref().or_else(|| {
        let failed = || run.stage_results.iter().filter(|s| !s.success);
        failed()
            .find(|s| !s.optional)
            .or_else(|| failed().next())
            .and_then(|s| s.error_code.as_deref())
    })
}

/// The newest embedded migration's version (build.rs reads it from the
/// file names; a test checks it against refinery's own list).
fn latest_version() -> i64 {
    env!("SYNCFLEET_LATEST_MIGRATION")
        .parse()
        .expect("build.rs writes an integer")
}

/// Keep the WAL and its index (`-wal`, `-shm`) when the last connection
/// closes (SQLITE_FCNTL_PERSIST_WAL). Closing still checkpoints the WAL
/// into the database and fsyncs both, as before; only the two files stay.
/// Without this, every command (each `run` the scheduler starts) created
/// both files, fsynced the directory for the new WAL, and deleted both on
/// exit: three fsyncs' worth of I/O and two deletions (each a synchronous
/// discard on a filesystem mounted with `discard`) per process, for
/// nothing any reader needs. A failure only costs that time: a warning.
fn keep_wal_file(conn: &Connection) {
    let mut on: std::os::raw::c_int = 1;
    // SAFETY: `handle()` is this open connection's; the file control reads
    // and writes one c_int through the pointer, which outlives the call.
    #[allow(unsafe_code)]
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&raw mut on).cast(),
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        tracing::debug!(rc, "the registry's WAL will be deleted on close");
    }
}

impl Registry {
    /// Open (creating it and its directory when missing), set the pragmas,
    /// and apply pending migrations.
    pub fn open(path: &Path) -> Result<Registry> {
        Registry::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT, &crate::policy::SystemClock)
    }

    /// `open` with a given busy timeout (the run path uses a short one);
    /// `clock` stamps the migration lock's holder note.
    pub fn open_with_timeout(
        path: &Path,
        busy: Duration,
        clock: &dyn crate::policy::Clock,
    ) -> Result<Registry> {
        let dir = crate::fsutil::parent_dir(path);
        if !dir.exists() {
            crate::fsutil::create_private_dir(&dir).map_err(|e| Error::io("create", &dir, e))?;
        }
        check_registry_path(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| registry_error(path, "open", e))?;
        // Never through a link: the mode of its target is not ours to set.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            crate::fsutil::set_mode(path, 0o600).ok();
        }
        Registry::setup(conn, path, busy, true, clock)
    }

    /// A private in-memory registry (tests).
    pub fn open_in_memory() -> Result<Registry> {
        let conn = Connection::open_in_memory()
            .map_err(|e| registry_error(Path::new(":memory:"), "open", e))?;
        Registry::setup(
            conn,
            Path::new(":memory:"),
            DEFAULT_BUSY_TIMEOUT,
            false,
            &crate::policy::SystemClock,
        )
    }

    fn setup(
        mut conn: Connection,
        path: &Path,
        busy: Duration,
        wal: bool,
        clock: &dyn crate::policy::Clock,
    ) -> Result<Registry> {
        let err = |what: &str, e: rusqlite::Error| registry_error(path, what, e);
        conn.busy_timeout(busy)
            .map_err(|e| err("busy_timeout", e))?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(|e| err("pragmas", e))?;
        // Query planner stability: a cached statement keeps its plan when
        // new values are bound. Without it SQLite re-prepares (re-parses
        // and re-plans) a statement whose plan a bound value might change,
        // on every binding: a fleet report binds its range scan once per
        // service, and spent a fifth of its time re-preparing.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(|e| err("query planner stability", e))?;
        if wal {
            keep_wal_file(&conn);
            // Emptied (not deleted) by the checkpoint of the last close:
            // the next process then recovers nothing from it, and stale
            // frames never outlive a clean close.
            conn.execute_batch("PRAGMA journal_size_limit = 0")
                .map_err(|e| err("journal_size_limit", e))?;
        }
        // The fast path, taken by every open but the first: the schema is
        // current, so no lock and no refinery bookkeeping.
        let applied: Option<i64> = conn
            .query_row(
                "SELECT MAX(version) FROM refinery_schema_history",
                [],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .or_else(|e| match e {
                rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                    Ok(None)
                }
                other => Err(err("read schema version", other)),
            })?;
        let mut created = false;
        if applied.is_none_or(|v| v < latest_version()) {
            // Many runs may open a fresh registry at once: migrate one at
            // a time (refinery re-checks what is applied under the lock).
            let _guard = if wal {
                Some(crate::lock::acquire_within(
                    &path.with_extension("db.migrate.lock"),
                    busy.max(Duration::from_secs(2)),
                    "the registry migration",
                    clock,
                )?)
            } else {
                None
            };
            if wal {
                let mode: String = conn
                    .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                    .map_err(|e| err("journal_mode", e))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    tracing::warn!(mode, "the registry could not switch to WAL");
                }
            }
            let report = embedded::migrations::runner()
                .run(&mut conn)
                .map_err(|e| registry_error(path, "migrate", e))?;
            created = applied.is_none() && !report.applied_migrations().is_empty();
        }
        Ok(Registry {
            conn,
            path: path.to_path_buf(),
            created,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema was created by this open: the registry was new or lost,
    /// and must be filled from the files.
    pub fn was_created(&self) -> bool {
        self.created
    }

    fn err(&self, what: &str, e: rusqlite::Error) -> Error {
        registry_error(&self.path, what, e)
    }

    /// The cached statement for `sql`; a failure to prepare it is a
    /// registry error that names `what`.
    fn statement(&self, what: &str, sql: &str) -> Result<CachedStatement<'_>> {
        self.conn.prepare_cached(sql).map_err(|e| self.err(what, e))
    }

    /// Execute `sql` once; returns how many rows changed.
    fn execute(&self, what: &str, sql: &str, params: impl Params) -> Result<usize> {
        self.statement(what, sql)?
            .execute(params)
            .map_err(|e| self.err(what, e))
    }

    /// Every row of `sql`, each through `map`.
    fn rows<T>(
        &self,
        what: &str,
        sql: &str,
        params: impl Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.statement(what, sql)?
            .query_map(params, map)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(what, e))
    }

    /// The first row of `sql` through `map`, if there is one.
    fn row<T>(
        &self,
        what: &str,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        self.statement(what, sql)?
            .query_row(params, map)
            .optional()
            .map_err(|e| self.err(what, e))
    }

    /// Run statements that return nothing (pragmas, maintenance).
    fn batch(&self, what: &str, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(|e| self.err(what, e))
    }

    /// Run `f` in one write transaction (BEGIN IMMEDIATE, so concurrent
    /// writers queue on the busy timeout instead of failing on upgrade):
    /// committed when `f` succeeds, rolled back when it fails. Nested calls
    /// join the outer transaction.
    pub fn write<T>(&self, f: impl FnOnce(&Registry) -> Result<T>) -> Result<T> {
        self.transaction(TransactionBehavior::Immediate, f)
    }

    /// Run `f` (reads only) in one read transaction: one snapshot of the
    /// registry for all its queries, and one lock taken instead of one per
    /// statement (a fleet report asks two queries of each of 10,000
    /// services). Nested calls join the outer transaction.
    pub fn snapshot<T>(&self, f: impl FnOnce(&Registry) -> Result<T>) -> Result<T> {
        self.transaction(TransactionBehavior::Deferred, f)
    }

    /// `f` in one transaction begun as `behavior`, committed when `f`
    /// succeeds and rolled back when it fails; joined when one is open.
    fn transaction<T>(
        &self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Registry) -> Result<T>,
    ) -> Result<T> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        let tx =
            Transaction::new_unchecked(&self.conn, behavior).map_err(|e| self.err("begin", e))?;
        let out = f(self)?;
        tx.commit().map_err(|e| self.err("commit", e))?;
        Ok(out)
    }

    /// For a bulk import: a page cache large enough for the indexes of a
    /// million runs (the default 2 MB makes each insert miss).
    pub fn bulk_mode(&self) -> Result<()> {
        // The statement journals of a bulk load's inserts (the metrics
        // totals' triggers make each insert one) in memory, not in a temp
        // file written for every row.
        self.batch(
            "bulk mode",
            "PRAGMA cache_size = -131072; PRAGMA temp_store = MEMORY",
        )
    }

    /// Run `f` (a bulk load into an empty `runs`) in one transaction
    /// without what costs a random b-tree write per run: the time index
    /// and the metrics totals' trigger (an UPDATE of `run_totals` and of
    /// `error_totals` per run). The index is built once at the end (one
    /// sort) and the totals of the loaded runs added in one grouped pass
    /// each, exactly what the trigger would have added; then the trigger
    /// is created again from its own SQL, read back from `sqlite_master`
    /// (its definition stays in the migration that made it). A failure
    /// rolls everything back, index and trigger included. With runs
    /// already there, `f` runs as a plain write: their totals are counted
    /// and cannot be told apart from the new ones'.
    ///
    /// The rows checked: `insert_runs` writes its service row before its
    /// runs and a stage only with its new run, and takes trigger and
    /// outcome from their enums, so the per-row foreign key lookups and
    /// CHECK lists (an ephemeral table built per row) are switched off for
    /// the load. Both switches are this connection's alone; foreign keys
    /// can only be switched outside a transaction, so a load nested in
    /// another write keeps them.
    pub fn bulk_load<T>(&self, f: impl FnOnce(&Registry) -> Result<T>) -> Result<T> {
        if self.conn.is_autocommit() && self.count_runs(None)? == 0 {
            self.batch(
                "bulk load pragmas",
                "PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON",
            )?;
            let out = self.load_into_empty_runs(f);
            let restored = self.batch(
                "bulk load pragmas",
                "PRAGMA foreign_keys = ON; PRAGMA ignore_check_constraints = OFF",
            );
            return out.and_then(|out| restored.map(|_| out));
        }
        self.load_into_empty_runs(f)
    }

    fn load_into_empty_runs<T>(&self, f: impl FnOnce(&Registry) -> Result<T>) -> Result<T> {
        self.write(|reg| {
            if reg.count_runs(None)? > 0 {
                return f(reg);
            }
            let triggers = reg.rows(
                "read triggers",
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'runs'
                 ORDER BY name",
                [],
                |r| Ok((r.get::<_, String>("name")?, r.get::<_, String>("sql")?)),
            )?;
            for (name, _) in &triggers {
                reg.batch("drop trigger", &format!("DROP TRIGGER \"{name}\""))?;
            }
            reg.batch("drop time index", "DROP INDEX IF EXISTS runs_by_time")?;
            let out = f(reg)?;
            reg.batch(
                "create time index",
                "CREATE INDEX runs_by_time ON runs (started_at_ms)",
            )?;
            reg.add_loaded_runs_to_totals()?;
            for (_, sql) in &triggers {
                reg.batch("create trigger", sql)?;
            }
            Ok(out)
        })
    }

    /// What `runs_count_for_metrics` (migration V4) adds for each run, for
    /// every run in `runs` at once: counts add up, the latest times are
    /// the greater of the kept and the loaded one.
    fn add_loaded_runs_to_totals(&self) -> Result<()> {
        self.batch(
            "count loaded runs",
            "INSERT INTO run_totals (service_id, success, degraded, failed, crashed, last_run_ms,
                last_success_ms, le_1, le_5, le_15, le_60, le_300, le_900, le_3600, timed,
                duration_sum_ms)
             SELECT service_id,
                SUM(outcome = 'success'), SUM(outcome = 'degraded'), SUM(outcome = 'failed'),
                SUM(outcome = 'crashed'), MAX(started_at_ms),
                MAX(CASE WHEN outcome IN ('success', 'degraded') THEN started_at_ms END),
                SUM(outcome <> 'crashed' AND duration_ms <= 1000),
                SUM(outcome <> 'crashed' AND duration_ms <= 5000),
                SUM(outcome <> 'crashed' AND duration_ms <= 15000),
                SUM(outcome <> 'crashed' AND duration_ms <= 60000),
                SUM(outcome <> 'crashed' AND duration_ms <= 300000),
                SUM(outcome <> 'crashed' AND duration_ms <= 900000),
                SUM(outcome <> 'crashed' AND duration_ms <= 3600000),
                SUM(outcome <> 'crashed'),
                SUM(CASE WHEN outcome <> 'crashed' THEN duration_ms ELSE 0 END)
             FROM runs WHERE true GROUP BY service_id
             ON CONFLICT (service_id) DO UPDATE SET
                success = success + excluded.success,
                degraded = degraded + excluded.degraded,
                failed = failed + excluded.failed,
                crashed = crashed + excluded.crashed,
                last_run_ms = COALESCE(MAX(last_run_ms, excluded.last_run_ms),
                    last_run_ms, excluded.last_run_ms),
                last_success_ms = COALESCE(MAX(last_success_ms, excluded.last_success_ms),
                    last_success_ms, excluded.last_success_ms),
                le_1 = le_1 + excluded.le_1,
                le_5 = le_5 + excluded.le_5,
                le_15 = le_15 + excluded.le_15,
                le_60 = le_60 + excluded.le_60,
                le_300 = le_300 + excluded.le_300,
                le_900 = le_900 + excluded.le_900,
                le_3600 = le_3600 + excluded.le_3600,
                timed = timed + excluded.timed,
                duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms;
             INSERT INTO error_totals (service_id, error_code, n)
             SELECT service_id, error_code, COUNT(*) FROM runs
             WHERE error_code IS NOT NULL GROUP BY service_id, error_code
             ON CONFLICT (service_id, error_code) DO UPDATE SET n = n + excluded.n;",
        )
    }

    /// `PRAGMA quick_check`: empty when the file is sound.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let rows = self.rows("quick_check", "PRAGMA quick_check", [], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    /// A full import from the files has completed since the registry was
    /// created.
    pub fn is_filled(&self) -> Result<bool> {
        self.row(
            "read meta",
            "SELECT value FROM meta WHERE key = 'filled'",
            [],
            |r| r.get::<_, String>("value"),
        )
        .map(|v| v.is_some())
    }

    pub fn set_filled(&self, at_iso: &str) -> Result<()> {
        self.execute(
            "write meta",
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('filled', ?1)",
            [at_iso],
        )
        .map(|_| ())
    }

    // ---- services -------------------------------------------------------

    /// Make sure a row exists (a service known only from its history).
    pub fn ensure_service(&self, id: &str) -> Result<()> {
        self.execute(
            "insert service",
            "INSERT OR IGNORE INTO services (service_id) VALUES (?1)",
            [id],
        )
        .map(|_| ())
    }

    /// Record an install (or re-install) from its manifest.
    pub fn upsert_manifest(&self, m: &Manifest) -> Result<()> {
        self.execute(
            "upsert service",
            "INSERT INTO services (service_id, identity_hash, name, workspace_root, config_path,
                project_urls, tags, platform, interval_seconds, profile, lock_group, binary_path,
                spec_hash, max_transient_failures, cooldown_seconds, installed_at_iso,
                updated_at_iso, installed, uninstalled_at_ms, calendar)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 1, NULL, ?18)
             ON CONFLICT (service_id) DO UPDATE SET
                identity_hash = excluded.identity_hash, name = excluded.name,
                workspace_root = excluded.workspace_root, config_path = excluded.config_path,
                project_urls = excluded.project_urls, tags = excluded.tags,
                platform = excluded.platform, interval_seconds = excluded.interval_seconds,
                profile = excluded.profile, lock_group = excluded.lock_group,
                binary_path = excluded.binary_path, spec_hash = excluded.spec_hash,
                max_transient_failures = excluded.max_transient_failures,
                cooldown_seconds = excluded.cooldown_seconds,
                installed_at_iso = excluded.installed_at_iso,
                updated_at_iso = excluded.updated_at_iso,
                installed = 1, uninstalled_at_ms = NULL, calendar = excluded.calendar",
            params![
                m.service_id,
                m.identity_hash,
                m.name,
                m.workspace_root,
                m.config_path,
                to_json(&m.project_urls),
                to_json(&m.tags),
                m.platform,
                m.interval_seconds as i64,
                m.profile,
                m.lock_group,
                m.binary_path,
                m.spec_hash,
                m.max_transient_failures,
                m.circuit_breaker_cooldown_seconds as i64,
                m.installed_at_iso,
                m.updated_at_iso,
                m.calendar.as_ref().and_then(|c| serde_json::to_string(c).ok()),
            ],
        )
        .map(|_| ())
    }

    /// The service is no longer installed; its row and history stay.
    /// `at_ms` None keeps an earlier uninstall time.
    pub fn mark_uninstalled(&self, id: &str, at_ms: Option<i64>) -> Result<()> {
        self.ensure_service(id)?;
        self.execute(
            "mark uninstalled",
            "UPDATE services SET installed = 0,
                uninstalled_at_ms = COALESCE(?2, uninstalled_at_ms),
                current_run_pid = NULL, current_run_started_ms = NULL
             WHERE service_id = ?1",
            params![id, at_ms],
        )
        .map(|_| ())
    }

    /// Cache a status file. With `skip_events_at`, the increase of each
    /// skip counter over the cached one is also recorded as skip events
    /// at that time (for windowed reports).
    pub fn update_status(
        &self,
        id: &str,
        s: &StatusFile,
        skip_events_at: Option<i64>,
    ) -> Result<()> {
        self.write(|reg| {
            if let Some(at) = skip_events_at {
                reg.record_skip_events(id, &s.skipped, at)?;
            }
            reg.ensure_service(id)?;
            let last = s.last_run.as_ref();
            reg.execute(
                "update status",
                "UPDATE services SET consecutive_failures = ?2, next_retry_at_ms = ?3,
                    paused_reason = ?4, pause_kind = ?5, paused_at_ms = ?6, cb_paused_at_ms = ?7,
                    last_error_code = ?8, current_run_pid = ?9, current_run_started_ms = ?10,
                    last_run_id = ?11, last_run_ms = ?12, last_outcome = ?13,
                    skipped_backoff = ?14, skipped_paused = ?15, skipped_locked = ?16,
                    skipped_condition_on_ac_power = ?17, skipped_condition_reachable = ?18,
                    skipped_condition_quiet_hours = ?19
                 WHERE service_id = ?1",
                params![
                    id,
                    s.consecutive_failures,
                    s.next_retry_at_ms,
                    s.paused_reason,
                    s.pause_kind.map(|k| k.as_str()),
                    s.paused_at_ms,
                    s.circuit_breaker_paused_at_ms,
                    s.last_error_code,
                    s.current_run.as_ref().map(|c| c.pid),
                    s.current_run.as_ref().map(|c| c.started_at_ms),
                    last.map(|r| r.run_id.as_str()),
                    last.map(|r| r.timestamp_ms),
                    last.map(|r| r.outcome.as_str()),
                    s.skipped.backoff as i64,
                    s.skipped.paused as i64,
                    s.skipped.locked as i64,
                    s.skipped.condition.on_ac_power as i64,
                    s.skipped.condition.reachable as i64,
                    s.skipped.condition.quiet_hours as i64,
                ],
            )
            .map(|_| ())
        })
    }

    /// Record the growth of each skip counter over the cached one as a
    /// skip event at `at_ms`. A row seen for the first time has no counts
    /// to compare with: its past skips are not events of `at_ms`.
    fn record_skip_events(&self, id: &str, now: &SkipCounts, at_ms: i64) -> Result<()> {
        let before = self
            .row(
                "read skip counts",
                &format!(
                    "SELECT {} FROM services WHERE service_id = ?1",
                    select_list(&[SKIP_COLUMNS])
                ),
                [id],
                |r| Registry::skip_counts_at(r, 0),
            )?
            .unwrap_or_else(|| now.clone());
        self.ensure_service(id)?;
        for ((reason, now), (_, before)) in now.by_reason().into_iter().zip(before.by_reason()) {
            if now > before {
                self.execute(
                    "insert skip",
                    "INSERT INTO skips (service_id, at_ms, reason, count) VALUES (?1, ?2, ?3, ?4)",
                    params![id, at_ms, reason, (now - before) as i64],
                )?;
            }
        }
        Ok(())
    }

    /// The skip counters of a row whose SELECT has SKIP_COLUMNS from
    /// position `at`.
    fn skip_counts_at(r: &Row<'_>, at: usize) -> rusqlite::Result<SkipCounts> {
        let mut counts = SkipCounts::default();
        for (i, reason) in SkipCounts::REASONS.iter().enumerate() {
            *counts.of_mut(reason).expect("a known reason") = r.get::<_, i64>(at + i)? as u64;
        }
        Ok(counts)
    }

    /// The cached status of a `services` row whose SELECT has
    /// STATUS_COLUMNS from position `at` (its last_run carries only id,
    /// time and outcome).
    fn cached_status(r: &Row<'_>, at: usize) -> rusqlite::Result<StatusFile> {
        let last_run_ms: Option<i64> = r.get(at + col!(last_run_ms in STATUS_COLUMNS))?;
        let last_outcome = parse_outcome(
            r.get_ref(at + col!(last_outcome in STATUS_COLUMNS))?
                .as_str_or_null()?,
        );
        let last_run = match (last_run_ms, last_outcome) {
            (Some(ms), Some(outcome)) => Some(RunRecord {
                run_id: r
                    .get::<_, Option<String>>(at + col!(last_run_id in STATUS_COLUMNS))?
                    .unwrap_or_default(),
                service_id: String::new(),
                trigger: Trigger::Scheduled,
                timestamp_iso: crate::output::iso_ms(ms),
                timestamp_ms: ms,
                duration_seconds: 0.0,
                outcome,
                profile: None,
                stage_results: Vec::new(),
                error_code: None,
                error_message: None,
            }),
            _ => None,
        };
        let current_run = match (
            r.get::<_, Option<u32>>(at + col!(current_run_pid in STATUS_COLUMNS))?,
            r.get::<_, Option<i64>>(at + col!(current_run_started_ms in STATUS_COLUMNS))?,
        ) {
            (Some(pid), Some(started_at_ms)) => Some(CurrentRun {
                started_at_ms,
                pid,
                run_id: None,
                trigger: None,
            }),
            _ => None,
        };
        Ok(StatusFile {
            consecutive_failures: r.get(at + col!(consecutive_failures in STATUS_COLUMNS))?,
            next_retry_at_ms: r.get(at + col!(next_retry_at_ms in STATUS_COLUMNS))?,
            paused_reason: r.get(at + col!(paused_reason in STATUS_COLUMNS))?,
            pause_kind: parse_pause_kind(
                r.get_ref(at + col!(pause_kind in STATUS_COLUMNS))?
                    .as_str_or_null()?,
            ),
            paused_at_ms: r.get(at + col!(paused_at_ms in STATUS_COLUMNS))?,
            circuit_breaker_paused_at_ms: r.get(at + col!(cb_paused_at_ms in STATUS_COLUMNS))?,
            last_error_code: r.get(at + col!(last_error_code in STATUS_COLUMNS))?,
            current_run,
            last_run,
            skipped: Registry::skip_counts_at(r, at + col!(skipped_backoff in STATUS_COLUMNS))?,
            ..StatusFile::default()
        })
    }

    /// A row of `SELECT ENTRY_COLUMNS, STATUS_COLUMNS`.
    fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<ServiceEntry> {
        Ok(ServiceEntry {
            service_id: r.get(col!(service_id in ENTRY_COLUMNS))?,
            identity_hash: r.get(col!(identity_hash in ENTRY_COLUMNS))?,
            name: r.get(col!(name in ENTRY_COLUMNS))?,
            workspace_root: r.get(col!(workspace_root in ENTRY_COLUMNS))?,
            config_path: r.get(col!(config_path in ENTRY_COLUMNS))?,
            project_urls: json_list(
                r.get_ref(col!(project_urls in ENTRY_COLUMNS))?
                    .as_str_or_null()?,
            ),
            tags: json_list(r.get_ref(col!(tags in ENTRY_COLUMNS))?.as_str_or_null()?),
            platform: r.get(col!(platform in ENTRY_COLUMNS))?,
            interval_seconds: r
                .get::<_, Option<i64>>(col!(interval_seconds in ENTRY_COLUMNS))?
                .map(|v| v as u64),
            profile: r.get(col!(profile in ENTRY_COLUMNS))?,
            lock_group: r.get(col!(lock_group in ENTRY_COLUMNS))?,
            binary_path: r.get(col!(binary_path in ENTRY_COLUMNS))?,
            spec_hash: r.get(col!(spec_hash in ENTRY_COLUMNS))?,
            max_transient_failures: r.get(col!(max_transient_failures in ENTRY_COLUMNS))?,
            cooldown_seconds: r
                .get::<_, Option<i64>>(col!(cooldown_seconds in ENTRY_COLUMNS))?
                .map(|v| v as u64),
            installed_at_iso: r.get(col!(installed_at_iso in ENTRY_COLUMNS))?,
            updated_at_iso: r.get(col!(updated_at_iso in ENTRY_COLUMNS))?,
            installed: r.get::<_, i64>(col!(installed in ENTRY_COLUMNS))? != 0,
            uninstalled_at_ms: r.get(col!(uninstalled_at_ms in ENTRY_COLUMNS))?,
            status: Registry::cached_status(r, ENTRY_COLUMNS.len())?,
            runs_offset: r.get::<_, i64>(col!(runs_offset in ENTRY_COLUMNS))? as u64,
        })
    }

    /// Services matching the filter, by id. Uninstalled ones only with
    /// `include_uninstalled` (and only those that were ever installed or ran).
    pub fn services(&self, filter: &ServiceFilter) -> Result<Vec<ServiceEntry>> {
        let mut sql = format!(
            "SELECT {} FROM services WHERE 1 = 1",
            select_list(&[ENTRY_COLUMNS, STATUS_COLUMNS])
        );
        let args = filter_sql(filter, &mut sql);
        self.rows(
            "list services",
            &sql,
            params_from_iter(args.iter()),
            Registry::entry_from_row,
        )
    }

    /// What `list` shows, for the services matching the filter: only the
    /// columns it needs, because list must stay fast for 10,000 services.
    pub fn list_rows(&self, filter: &ServiceFilter) -> Result<Vec<ListRow>> {
        self.with_list_rows(filter, |rows| rows.collect())?
    }

    /// `list_rows` one at a time, none kept: `read` gets them in order
    /// straight from the statement (an error ends them), for a fleet too
    /// large to hold in memory at once.
    pub fn with_list_rows<T>(
        &self,
        filter: &ServiceFilter,
        read: impl FnOnce(&mut dyn Iterator<Item = Result<ListRow>>) -> T,
    ) -> Result<T> {
        let what = "list services";
        let mut sql = format!(
            "SELECT {} FROM services WHERE 1 = 1",
            select_list(&[LIST_COLUMNS, STATUS_COLUMNS])
        );
        let args = filter_sql(filter, &mut sql);
        let mut stmt = self.statement(what, &sql)?;
        let rows = stmt
            .query_map(params_from_iter(args.iter()), Registry::list_row_from)
            .map_err(|e| self.err(what, e))?;
        Ok(read(
            &mut rows.map(|row| row.map_err(|e| self.err(what, e))),
        ))
    }

    /// `list_rows` for one service, installed or not.
    pub fn list_row(&self, id: &str) -> Result<Option<ListRow>> {
        self.row(
            "read service",
            &format!(
                "SELECT {} FROM services WHERE service_id = ?1",
                select_list(&[LIST_COLUMNS, STATUS_COLUMNS])
            ),
            [id],
            Registry::list_row_from,
        )
    }

    fn list_row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<ListRow> {
        {
            let text = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
            Ok(ListRow {
                service_id: r.get(col!(service_id in LIST_COLUMNS))?,
                name: text(col!(name in LIST_COLUMNS))?,
                workspace_root: text(col!(workspace_root in LIST_COLUMNS))?.unwrap_or_default(),
                platform: text(col!(platform in LIST_COLUMNS))?.unwrap_or_default(),
                interval_seconds: r
                    .get::<_, Option<i64>>(col!(interval_seconds in LIST_COLUMNS))?
                    .unwrap_or(0) as u64,
                profile: text(col!(profile in LIST_COLUMNS))?.unwrap_or_default(),
                tags: json_list(r.get_ref(col!(tags in LIST_COLUMNS))?.as_str_or_null()?),
                installed: r.get::<_, i64>(col!(installed in LIST_COLUMNS))? != 0,
                uninstalled_at_ms: r.get(col!(uninstalled_at_ms in LIST_COLUMNS))?,
                max_transient_failures: r.get(col!(max_transient_failures in LIST_COLUMNS))?,
                cooldown_seconds: r
                    .get::<_, Option<i64>>(col!(cooldown_seconds in LIST_COLUMNS))?
                    .map(|v| v as u64),
                updated_at_iso: text(col!(updated_at_iso in LIST_COLUMNS))?,
                calendar: text(col!(calendar in LIST_COLUMNS))?
                    .and_then(|json| serde_json::from_str(&json).ok()),
                status: Registry::cached_status(r, LIST_COLUMNS.len())?,
            })
        }
    }

    /// Ids of the installed services.
    pub fn installed_ids(&self) -> Result<Vec<String>> {
        self.rows(
            "service ids",
            "SELECT service_id FROM services WHERE installed = 1 ORDER BY service_id",
            [],
            |r| r.get("service_id"),
        )
    }

    /// Every tag of an installed service, sorted, once each.
    pub fn installed_tags(&self) -> Result<Vec<String>> {
        self.rows(
            "installed tags",
            "SELECT DISTINCT json_each.value FROM services, json_each(services.tags)
             WHERE installed = 1 ORDER BY 1",
            [],
            |r| r.get(0),
        )
    }

    pub fn service(&self, id: &str) -> Result<Option<ServiceEntry>> {
        self.row(
            "read service",
            &format!(
                "SELECT {} FROM services WHERE service_id = ?1",
                select_list(&[ENTRY_COLUMNS, STATUS_COLUMNS])
            ),
            [id],
            Registry::entry_from_row,
        )
    }

    // ---- runs -----------------------------------------------------------

    /// Insert runs (and their stages) that are not there yet; returns how
    /// many were new. Idempotent by run id.
    pub fn insert_runs(&self, id: &str, runs: &[RunRecord]) -> Result<usize> {
        self.write(|reg| {
            reg.ensure_service(id)?;
            let mut run_stmt = reg.statement(
                "insert run",
                "INSERT OR IGNORE INTO runs (service_id, started_at_ms, run_id, trigger,
                    duration_ms, outcome, error_code, error_message, profile)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut stage_stmt = reg.statement(
                "insert stage",
                "INSERT OR IGNORE INTO stage_results (run_id, seq, stage, success, optional,
                    items_updated, error_code, error, exit_code, attempts, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut new = 0;
            for run in runs {
                // Records from before run ids existed get a stable one.
                let run_id = if run.run_id.is_empty() {
                    format!("{id}-{}", run.timestamp_ms)
                } else {
                    run.run_id.clone()
                };
                let inserted = run_stmt
                    .execute(params![
                        id,
                        run.timestamp_ms,
                        run_id,
                        run.trigger.as_str(),
                        secs_to_ms(run.duration_seconds),
                        run.outcome.as_str(),
                        run_error_code(run),
                        run.error_message,
                        run.profile,
                    ])
                    .map_err(|e| reg.err("insert run", e))?;
                if inserted == 0 {
                    continue;
                }
                new += 1;
                for (seq, s) in run.stage_results.iter().enumerate() {
                    stage_stmt
                        .execute(params![
                            run_id,
                            seq as i64,
                            s.stage,
                            s.success,
                            s.optional,
                            s.items_updated as i64,
                            s.error_code,
                            s.error,
                            s.exit_code,
                            s.attempts,
                            secs_to_ms(s.duration_seconds),
                        ])
                        .map_err(|e| reg.err("insert stage", e))?;
                }
            }
            Ok(new)
        })
    }

    /// The import marker: how many bytes of the service's runs.jsonl the
    /// registry holds. None for an unknown service.
    pub fn runs_offset(&self, id: &str) -> Result<Option<u64>> {
        self.row(
            "read import marker",
            "SELECT runs_offset FROM services WHERE service_id = ?1",
            [id],
            |r| r.get::<_, i64>("runs_offset"),
        )
        .map(|o| o.map(|v| v as u64))
    }

    pub fn set_runs_offset(&self, id: &str, offset: u64) -> Result<()> {
        self.ensure_service(id)?;
        self.execute(
            "write import marker",
            "UPDATE services SET runs_offset = ?2 WHERE service_id = ?1",
            params![id, offset as i64],
        )
        .map(|_| ())
    }

    /// Every service's import marker, for the doctor.
    pub fn runs_offsets(&self) -> Result<Vec<(String, u64)>> {
        self.rows(
            "read import markers",
            "SELECT service_id, runs_offset FROM services ORDER BY service_id",
            [],
            |r| Ok((r.get("service_id")?, r.get::<_, i64>("runs_offset")? as u64)),
        )
    }

    pub fn count_runs(&self, id: Option<&str>) -> Result<u64> {
        let n: Option<i64> = match id {
            Some(id) => self.row(
                "count runs",
                "SELECT COUNT(*) FROM runs WHERE service_id = ?1",
                [id],
                |r| r.get(0),
            ),
            None => self.row("count runs", "SELECT COUNT(*) FROM runs", [], |r| r.get(0)),
        }?;
        Ok(n.unwrap_or(0) as u64)
    }

    /// Runs matching the query, newest first.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<RunRow>> {
        let mut sql = format!(
            "SELECT {} FROM runs WHERE 1 = 1",
            select_list(&[RUN_COLUMNS])
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut placeholder = |v: rusqlite::types::Value| {
            args.push(v);
            format!("?{}", args.len())
        };
        if !q.service_ids.is_empty() {
            let list: Vec<String> = q
                .service_ids
                .iter()
                .map(|id| placeholder(id.clone().into()))
                .collect();
            sql.push_str(&format!(" AND service_id IN ({})", list.join(", ")));
        }
        if let Some(v) = q.since_ms {
            sql.push_str(&format!(" AND started_at_ms >= {}", placeholder(v.into())));
        }
        if let Some(v) = q.until_ms {
            sql.push_str(&format!(" AND started_at_ms < {}", placeholder(v.into())));
        }
        if let Some(v) = &q.outcome {
            sql.push_str(&format!(" AND outcome = {}", placeholder(v.clone().into())));
        }
        if let Some(v) = &q.trigger {
            sql.push_str(&format!(" AND trigger = {}", placeholder(v.clone().into())));
        }
        sql.push_str(" ORDER BY started_at_ms DESC, run_id DESC");
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut rows = self.rows("history", &sql, params_from_iter(args.iter()), |r| {
            Ok(RunRow {
                run_id: r.get(col!(run_id in RUN_COLUMNS))?,
                service_id: r.get(col!(service_id in RUN_COLUMNS))?,
                trigger: r.get(col!(trigger in RUN_COLUMNS))?,
                started_at_ms: r.get(col!(started_at_ms in RUN_COLUMNS))?,
                duration_ms: r.get(col!(duration_ms in RUN_COLUMNS))?,
                outcome: r.get(col!(outcome in RUN_COLUMNS))?,
                error_code: r.get(col!(error_code in RUN_COLUMNS))?,
                error_message: r.get(col!(error_message in RUN_COLUMNS))?,
                profile: r.get(col!(profile in RUN_COLUMNS))?,
                stages: None,
            })
        })?;
        if q.with_stages {
            for row in &mut rows {
                row.stages = Some(self.stages_of(&row.run_id)?);
            }
        }
        Ok(rows)
    }

    pub fn stages_of(&self, run_id: &str) -> Result<Vec<StageResult>> {
        self.rows(
            "stages",
            &format!(
                "SELECT {} FROM stage_results WHERE run_id = ?1 ORDER BY seq",
                select_list(&[STAGE_COLUMNS])
            ),
            [run_id],
            |r| {
                Ok(StageResult {
                    stage: r.get(col!(stage in STAGE_COLUMNS))?,
                    success: r.get(col!(success in STAGE_COLUMNS))?,
                    optional: r.get(col!(optional in STAGE_COLUMNS))?,
                    items_updated: r.get::<_, i64>(col!(items_updated in STAGE_COLUMNS))? as u64,
                    error_code: r.get(col!(error_code in STAGE_COLUMNS))?,
                    error: r.get(col!(error in STAGE_COLUMNS))?,
                    retry_after_seconds: None,
                    exit_code: r.get(col!(exit_code in STAGE_COLUMNS))?,
                    attempts: r.get(col!(attempts in STAGE_COLUMNS))?,
                    duration_seconds: r.get::<_, i64>(col!(duration_ms in STAGE_COLUMNS))? as f64
                        / 1000.0,
                })
            },
        )
    }

    /// The services a report covers, by id, with whether each is
    /// installed: every service the registry knows (uninstalled ones keep
    /// their history), only those with `tag` when given.
    pub fn report_services(&self, tag: Option<&str>) -> Result<Vec<(String, bool)>> {
        let mut sql = "SELECT service_id, installed FROM services WHERE 1 = 1".to_string();
        let args = filter_sql(
            &ServiceFilter {
                include_uninstalled: true,
                tag: tag.map(str::to_string),
                ..ServiceFilter::default()
            },
            &mut sql,
        );
        self.rows(
            "report services",
            &sql,
            params_from_iter(args.iter()),
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
        )
    }

    /// Stream one service's runs in `[since, until)` (REPORT_SQL) to `f`,
    /// oldest first.
    pub fn for_each_report_row(
        &self,
        service_id: &str,
        since_ms: i64,
        until_ms: i64,
        mut f: impl FnMut(ReportRow<'_>),
    ) -> Result<()> {
        let mut stmt = self.statement("report", REPORT_SQL)?;
        let mut rows = stmt
            .query(params![service_id, since_ms, until_ms])
            .map_err(|e| self.err("report", e))?;
        // Borrowed values, no conversions beyond what SQLite stored: this
        // is the hot loop of a fleet report (a million rows).
        while let Some(r) = rows.next().map_err(|e| self.err("report", e))? {
            let text = |i: usize| r.get_ref_unwrap(i).as_str().ok();
            f(ReportRow {
                started_at_ms: r.get_ref_unwrap(0).as_i64().unwrap_or(0),
                duration_ms: r.get_ref_unwrap(1).as_i64().unwrap_or(0),
                outcome: text(2).unwrap_or(""),
                error_code: text(3),
                trigger: text(4).unwrap_or(""),
            });
        }
        Ok(())
    }

    /// One service's skipped invocations in `[since, until)`, by reason
    /// (free text: backoff, paused, locked, and whatever newer gates record).
    pub fn skip_counts(
        &self,
        service_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(String, u64)>> {
        self.rows(
            "skips",
            SKIP_COUNTS_SQL,
            params![service_id, since_ms, until_ms],
            |r| Ok((r.get::<_, String>("reason")?, r.get::<_, i64>("n")? as u64)),
        )
    }

    /// Delete the service's runs (and skip events) older than `cutoff_ms`,
    /// except its `keep` most recent runs. Returns how many runs went.
    pub fn prune(&self, id: &str, cutoff_ms: i64, keep: usize) -> Result<usize> {
        self.write(|reg| {
            let n = reg.execute(
                "prune runs",
                "DELETE FROM runs WHERE service_id = ?1 AND started_at_ms < ?2
                   AND run_id NOT IN (SELECT run_id FROM runs WHERE service_id = ?1
                                      ORDER BY started_at_ms DESC LIMIT ?3)",
                params![id, cutoff_ms, keep as i64],
            )?;
            reg.execute(
                "prune skips",
                "DELETE FROM skips WHERE service_id = ?1 AND at_ms < ?2",
                params![id, cutoff_ms],
            )?;
            Ok(n)
        })
    }

    /// Every service id the registry knows.
    pub fn service_ids(&self) -> Result<Vec<String>> {
        self.rows(
            "service ids",
            "SELECT service_id FROM services ORDER BY service_id",
            [],
            |r| r.get("service_id"),
        )
    }

    /// Reclaim space after a large prune.
    pub fn vacuum(&self) -> Result<()> {
        self.batch("vacuum", "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
    }
}

// ---- metrics ------------------------------------------------------------

/// The upper bounds of the run duration histogram, in seconds: the
/// `le_*` columns of `run_totals` (migration V4), which its triggers fill.
pub const DURATION_BUCKETS_SECONDS: [u64; 7] = [1, 5, 15, 60, 300, 900, 3600];

/// A service's running totals over every run the registry was given
/// (prune never lowers them): what the metrics file's counters show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTotals {
    pub success: u64,
    pub degraded: u64,
    pub failed: u64,
    pub crashed: u64,
    pub last_run_ms: Option<i64>,
    /// The last run whose core stages all succeeded (success or degraded).
    pub last_success_ms: Option<i64>,
    /// Cumulative counts for DURATION_BUCKETS_SECONDS, of the runs that
    /// recorded a duration (all but crashed ones).
    pub duration_buckets: [u64; 7],
    pub timed_runs: u64,
    pub duration_sum_ms: i64,
}

/// A count per service and label (an error code, a skip reason).
pub type LabelledTotals = std::collections::HashMap<String, Vec<(String, u64)>>;

impl Registry {
    /// Every service's run totals, by service id: one indexed read of one
    /// row per service, whatever the history holds.
    pub fn run_totals(&self) -> Result<std::collections::HashMap<String, RunTotals>> {
        self.run_totals_where("", [])
    }

    /// One service's run totals (zero when it never ran): one row read.
    pub fn run_totals_of(&self, id: &str) -> Result<RunTotals> {
        let mut all = self.run_totals_where("WHERE service_id = ?1", [id])?;
        Ok(all.remove(id).unwrap_or_default())
    }

    fn run_totals_where<P: rusqlite::Params>(
        &self,
        condition: &str,
        params: P,
    ) -> Result<std::collections::HashMap<String, RunTotals>> {
        const BUCKETS: [&str; 7] = [
            "le_1", "le_5", "le_15", "le_60", "le_300", "le_900", "le_3600",
        ];
        let rows = self.rows(
            "read run totals",
            &format!(
                "SELECT service_id, success, degraded, failed, crashed, last_run_ms, last_success_ms,
                    le_1, le_5, le_15, le_60, le_300, le_900, le_3600, timed, duration_sum_ms
                 FROM run_totals {condition}"
            ),
            params,
            |r| {
                let count = |name: &str| r.get::<_, i64>(name).map(|v| v.max(0) as u64);
                let mut duration_buckets = [0; 7];
                for (slot, name) in duration_buckets.iter_mut().zip(BUCKETS) {
                    *slot = count(name)?;
                }
                Ok((
                    r.get::<_, String>("service_id")?,
                    RunTotals {
                        success: count("success")?,
                        degraded: count("degraded")?,
                        failed: count("failed")?,
                        crashed: count("crashed")?,
                        last_run_ms: r.get("last_run_ms")?,
                        last_success_ms: r.get("last_success_ms")?,
                        duration_buckets,
                        timed_runs: count("timed")?,
                        duration_sum_ms: r.get("duration_sum_ms")?,
                    },
                ))
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Runs with an error code, per service and code (codes sorted).
    pub fn error_totals(&self) -> Result<LabelledTotals> {
        self.labelled_totals(
            "read error totals",
            "SELECT service_id, error_code AS label, n FROM error_totals
             ORDER BY service_id, error_code",
        )
    }

    /// Skipped invocations, per service and reason (reasons sorted).
    pub fn skip_totals(&self) -> Result<LabelledTotals> {
        self.labelled_totals(
            "read skip totals",
            "SELECT service_id, reason AS label, n FROM skip_totals ORDER BY service_id, reason",
        )
    }

    /// `error_totals` of one service.
    pub fn error_totals_of(&self, id: &str) -> Result<Vec<(String, u64)>> {
        self.labelled_totals_of(
            "read error totals",
            "SELECT service_id, error_code AS label, n FROM error_totals
             WHERE service_id = ?1 ORDER BY error_code",
            id,
        )
    }

    /// `skip_totals` of one service.
    pub fn skip_totals_of(&self, id: &str) -> Result<Vec<(String, u64)>> {
        self.labelled_totals_of(
            "read skip totals",
            "SELECT service_id, reason AS label, n FROM skip_totals
             WHERE service_id = ?1 ORDER BY reason",
            id,
        )
    }

    /// One service's labelled totals (`sql` binds its id as ?1).
    fn labelled_totals_of(&self, what: &str, sql: &str, id: &str) -> Result<Vec<(String, u64)>> {
        let mut all = self.labelled_totals_where(what, sql, [id])?;
        Ok(all.remove(id).unwrap_or_default())
    }

    fn labelled_totals(&self, what: &str, sql: &str) -> Result<LabelledTotals> {
        self.labelled_totals_where(what, sql, [])
    }

    fn labelled_totals_where<P: rusqlite::Params>(
        &self,
        what: &str,
        sql: &str,
        params: P,
    ) -> Result<LabelledTotals> {
        let rows = self.rows(what, sql, params, |r| {
            Ok((
                r.get::<_, String>("service_id")?,
                r.get::<_, String>("label")?,
                r.get::<_, i64>("n")?.max(0) as u64,
            ))
        })?;
        let mut out = LabelledTotals::new();
        for (id, label, n) in rows {
            out.entry(id).or_default().push((label, n));
        }
        Ok(out)
    }
}

// ---- top ----------------------------------------------------------------
// `syncfleet top` redraws every second, so it reads the fleet in two
// statements whatever its size: the table, then the recent runs of the rows
// it shows.

/// What `top` shows of a service (then STATUS_COLUMNS): the list fields it
/// needs and the last run's duration, for the next-run estimate.
const TOP_COLUMNS: &[&str] = &[
    "service_id",
    "name",
    "tags",
    "platform",
    "interval_seconds",
    "installed",
    "max_transient_failures",
    "cooldown_seconds",
    "calendar",
    "last_duration_ms",
];

/// One row of `top`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopRow {
    pub service_id: String,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub platform: String,
    pub interval_seconds: u64,
    pub installed: bool,
    pub max_transient_failures: Option<u32>,
    pub cooldown_seconds: Option<u64>,
    /// A calendar service's schedule, for its next run.
    pub calendar: Option<crate::schedule::CalendarSchedule>,
    /// The duration of the run `status.last_run` names, when the registry
    /// has it.
    pub last_duration_ms: Option<i64>,
    /// The cached status (last_run carries only id, time and outcome).
    pub status: StatusFile,
}

/// One recent run of a service, for `top`'s sparkline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecentRun {
    pub outcome: Outcome,
    pub duration_ms: i64,
}

impl Registry {
    /// Every installed service, with what `top` shows: one statement (the
    /// last run's duration is one primary-key lookup per service).
    pub fn top_rows(&self) -> Result<Vec<TopRow>> {
        let columns: Vec<&str> = TOP_COLUMNS
            .iter()
            .map(|c| match *c {
                "last_duration_ms" => {
                    "(SELECT duration_ms FROM runs WHERE run_id = services.last_run_id) AS last_duration_ms"
                }
                c => c,
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM services WHERE installed = 1 ORDER BY service_id",
            select_list(&[&columns, STATUS_COLUMNS])
        );
        self.rows("top services", &sql, [], |r| {
            Ok(TopRow {
                service_id: r.get(col!(service_id in TOP_COLUMNS))?,
                name: r.get(col!(name in TOP_COLUMNS))?,
                tags: json_list(r.get_ref(col!(tags in TOP_COLUMNS))?.as_str_or_null()?),
                platform: r
                    .get::<_, Option<String>>(col!(platform in TOP_COLUMNS))?
                    .unwrap_or_default(),
                interval_seconds: r
                    .get::<_, Option<i64>>(col!(interval_seconds in TOP_COLUMNS))?
                    .unwrap_or(0) as u64,
                installed: r.get::<_, i64>(col!(installed in TOP_COLUMNS))? != 0,
                max_transient_failures: r.get(col!(max_transient_failures in TOP_COLUMNS))?,
                cooldown_seconds: r
                    .get::<_, Option<i64>>(col!(cooldown_seconds in TOP_COLUMNS))?
                    .map(|v| v as u64),
                calendar: r
                    .get::<_, Option<String>>(col!(calendar in TOP_COLUMNS))?
                    .and_then(|json| serde_json::from_str(&json).ok()),
                last_duration_ms: r.get(col!(last_duration_ms in TOP_COLUMNS))?,
                status: Registry::cached_status(r, TOP_COLUMNS.len())?,
            })
        })
    }

    /// The last `per_service` runs of each of `ids`, oldest first, in one
    /// statement. Each service costs a seek for its cut-off and a range
    /// of at most `per_service` rows of the (service, time) primary key:
    /// never a scan of its whole history.
    pub fn recent_runs(
        &self,
        ids: &[String],
        per_service: usize,
    ) -> Result<std::collections::HashMap<String, Vec<RecentRun>>> {
        let mut out: std::collections::HashMap<String, Vec<RecentRun>> = Default::default();
        if ids.is_empty() || per_service == 0 {
            return Ok(out);
        }
        let rows = self.rows(
            "recent runs",
            "WITH ids(id) AS (SELECT value FROM json_each(?1))
             SELECT runs.service_id, runs.outcome, runs.duration_ms FROM ids
             JOIN runs ON runs.service_id = ids.id
              AND runs.started_at_ms >= COALESCE(
                  (SELECT started_at_ms FROM runs AS r WHERE r.service_id = ids.id
                   ORDER BY started_at_ms DESC LIMIT 1 OFFSET ?2), -9223372036854775808)
             ORDER BY runs.service_id, runs.started_at_ms, runs.run_id",
            params![to_json(ids), (per_service - 1) as i64],
            |r| {
                Ok((
                    r.get::<_, String>("service_id")?,
                    parse_outcome(r.get_ref("outcome")?.as_str_or_null()?),
                    r.get::<_, i64>("duration_ms")?,
                ))
            },
        )?;
        for (id, outcome, duration_ms) in rows {
            let Some(outcome) = outcome else { continue };
            out.entry(id).or_default().push(RecentRun {
                outcome,
                duration_ms,
            });
        }
        // Runs that share the cut-off's start time may add a few.
        for runs in out.values_mut() {
            let extra = runs.len().saturating_sub(per_service);
            runs.drain(..extra);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::sample_manifest;
    use crate::store::status::make_run;

    fn run_of(id: &str, ts: i64, outcome: Outcome) -> RunRecord {
        let mut r = make_run(ts, outcome);
        r.service_id = id.into();
        r.run_id = format!("{id}-{ts}");
        r.stage_results = vec![StageResult::succeeded("issues", false, 3)];
        r
    }

    #[test]
    fn the_latest_version_is_refinerys_newest_migration() {
        let newest = embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .max();
        assert_eq!(Some(latest_version()), newest);
    }

    #[test]
    fn a_cached_statement_keeps_its_plan_when_rebound() {
        // Query planner stability (see setup): binding new values to a
        // cached range scan never re-prepares it.
        let reg = Registry::open_in_memory().unwrap();
        for i in 0..3 {
            let id = format!("svc{i}");
            reg.for_each_report_row(&id, i, 1000 + i, |_| {}).unwrap();
            reg.skip_counts(&id, i, 1000 + i).unwrap();
        }
        for sql in [REPORT_SQL, SKIP_COUNTS_SQL] {
            let stmt = reg.statement("test", sql).unwrap();
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    #[test]
    fn migrations_apply_on_a_new_file_and_reopen_is_the_fast_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/registry.db");
        let reg = Registry::open(&path).unwrap();
        assert!(reg.was_created());
        let mode: String = reg
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = reg
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        drop(reg);
        let again = Registry::open(&path).unwrap();
        assert!(!again.was_created());
        assert!(again.quick_check().unwrap().is_empty());
    }

    #[test]
    fn the_wal_outlives_the_connection_empty_so_the_next_one_neither_creates_nor_deletes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        let wal = dir.path().join("registry.db-wal");
        let reg = Registry::open(&path).unwrap();
        reg.ensure_service("aaa").unwrap();
        drop(reg);
        assert_eq!(
            std::fs::metadata(&wal).map(|m| m.len()).ok(),
            Some(0),
            "kept after the last connection closed, and emptied"
        );
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.service_ids().unwrap(), ["aaa"], "checkpointed on close");
        drop(reg);
        // The data is in the database file itself: it reads the same
        // without the WAL (a copy of registry.db alone is complete).
        std::fs::remove_file(&wal).unwrap();
        let _ = std::fs::remove_file(dir.path().join("registry.db-shm"));
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.service_ids().unwrap(), ["aaa"]);
    }

    #[test]
    fn a_garbage_file_is_a_registry_error_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let e = Registry::open(&path).err().expect("corrupt");
        assert_eq!(e.code, ErrorCode::RegistryError);
        assert!(e.suggestion.unwrap().contains("syncfleet reindex"));
    }

    #[test]
    fn the_crashed_outcome_migration_keeps_every_run_and_stage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
            embedded::migrations::runner()
                .set_target(refinery::Target::Version(1))
                .run(&mut conn)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO services (service_id) VALUES ('s');
                 INSERT INTO runs VALUES ('s', 1, 'r1', 'scheduled', 5, 'success', NULL, NULL, NULL);
                 INSERT INTO runs VALUES ('s', 2, 'r2', 'manual', 7, 'failed', 'X', 'boom', 'fast');
                 INSERT INTO stage_results (run_id, seq, stage, success, optional)
                     VALUES ('r1', 0, 'pull', 1, 0), ('r1', 1, 'docs', 0, 1), ('r2', 0, 'pull', 0, 0);",
            )
            .unwrap();
            assert!(
                conn.execute(
                    "INSERT INTO runs VALUES ('s', 3, 'r3', 'scheduled', 0, 'crashed', NULL, NULL, NULL)",
                    [],
                )
                .is_err(),
                "v1 refuses the new outcome"
            );
        }
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.count_runs(None).unwrap(), 2);
        assert_eq!(reg.stages_of("r1").unwrap().len(), 2);
        assert_eq!(reg.stages_of("r2").unwrap()[0].stage, "pull");
        let old = reg.history(&HistoryQuery::default()).unwrap();
        assert_eq!(old[0].error_message.as_deref(), Some("boom"));
        let mut crashed = run_of("s", 3, Outcome::Crashed);
        crashed.stage_results.clear();
        assert_eq!(reg.insert_runs("s", &[crashed]).unwrap(), 1);
        let only = reg
            .history(&HistoryQuery {
                outcome: Some("crashed".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(only.len(), 1);
        assert!(reg.quick_check().unwrap().is_empty());
        let fk: Vec<String> = reg
            .conn
            .prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(fk.is_empty(), "{fk:?}");
        // Deleting a run still takes its stages along.
        reg.prune("s", 100, 0).unwrap();
        let stages: i64 = reg
            .conn
            .query_row("SELECT COUNT(*) FROM stage_results", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stages, 0);
    }

    #[test]
    fn a_read_only_registry_points_at_permissions_not_at_reindex() {
        let e = registry_error(
            Path::new("/d/registry.db"),
            "begin",
            "attempt to write a readonly database",
        );
        let fix = e.suggestion.unwrap();
        assert!(fix.contains("write access to /d/registry.db"), "{fix}");
        assert!(!fix.contains("reindex"), "{fix}");
    }

    #[test]
    fn a_registry_path_that_is_no_file_is_named_with_the_real_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        std::fs::create_dir(&path).unwrap();
        let e = Registry::open(&path).err().expect("a directory");
        assert_eq!(e.code, ErrorCode::RegistryError);
        assert!(
            e.message
                .contains("is a directory, where the registry's database file belongs"),
            "{}",
            e.message
        );
        let fix = e.suggestion.unwrap();
        assert!(fix.contains(&format!("mv {}", path.display())), "{fix}");
        assert!(
            !fix.contains("reindex"),
            "reindex would fail the same way: {fix}"
        );
        std::fs::remove_dir(&path).unwrap();

        // A link to something that is not a file (here a directory and a
        // named pipe; /dev/null takes the same path) is refused before
        // anything opens or chmods its target.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        let e = Registry::open(&path).err().expect("a link to a directory");
        assert!(e.message.contains("a symlink to"), "{}", e.message);
        assert!(
            e.suggestion
                .unwrap()
                .contains(&format!("rm {}", path.display()))
        );
        std::fs::remove_file(&path).unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            std::os::unix::fs::symlink(&fifo, &path).unwrap();
            let before = crate::fsutil::mode_of(&fifo).unwrap();
            let e = Registry::open(&path).err().expect("a link to a pipe");
            assert!(e.message.contains("(a named pipe)"), "{}", e.message);
            assert_eq!(
                crate::fsutil::mode_of(&fifo).unwrap(),
                before,
                "target untouched"
            );
            std::fs::remove_file(&path).unwrap();
        }

        // A link to a regular file is a registry like any other.
        let real = dir.path().join("real.db");
        std::os::unix::fs::symlink(&real, &path).unwrap();
        std::fs::write(&real, b"").unwrap();
        Registry::open(&path).unwrap();
    }

    #[test]
    fn services_round_trip_with_filters_and_uninstall() {
        let reg = Registry::open_in_memory().unwrap();
        let mut a = sample_manifest("aaa");
        a.tags = vec!["team-a".into(), "x".into()];
        let mut b = sample_manifest("bbb");
        b.tags = vec!["team-b".into()];
        b.profile = "full".into();
        reg.upsert_manifest(&a).unwrap();
        reg.upsert_manifest(&b).unwrap();
        let all = reg.services(&ServiceFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].tags, ["team-a", "x"]);
        assert_eq!(all[0].interval_seconds, Some(900));
        let tagged = reg
            .services(&ServiceFilter {
                tag: Some("team-b".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(tagged.len(), 1);
        assert_eq!(tagged[0].service_id, "bbb");
        let full = reg
            .services(&ServiceFilter {
                profile: Some("full".into()),
                platform: Some("systemd".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(full.len(), 1);
        reg.mark_uninstalled("aaa", Some(5)).unwrap();
        assert_eq!(reg.services(&ServiceFilter::default()).unwrap().len(), 1);
        let with_old = reg
            .services(&ServiceFilter {
                include_uninstalled: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(with_old.len(), 2);
        assert!(!with_old[0].installed);
        assert_eq!(with_old[0].uninstalled_at_ms, Some(5));
        // Re-install clears the uninstall.
        reg.upsert_manifest(&a).unwrap();
        assert!(reg.service("aaa").unwrap().unwrap().installed);
    }

    #[test]
    fn runs_are_idempotent_by_id_and_keep_stages() {
        let reg = Registry::open_in_memory().unwrap();
        let runs = vec![
            run_of("s", 1_000, Outcome::Success),
            run_of("s", 2_000, Outcome::Failed),
        ];
        assert_eq!(reg.insert_runs("s", &runs).unwrap(), 2);
        assert_eq!(reg.insert_runs("s", &runs).unwrap(), 0);
        assert_eq!(reg.count_runs(Some("s")).unwrap(), 2);
        let h = reg
            .history(&HistoryQuery {
                with_stages: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(h[0].started_at_ms, 2_000, "newest first");
        assert_eq!(h[0].stages.as_ref().unwrap()[0].items_updated, 3);
        let failed = reg
            .history(&HistoryQuery {
                outcome: Some("failed".into()),
                service_ids: vec!["s".into()],
                since_ms: Some(1_500),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(failed.len(), 1);
    }

    #[test]
    fn status_cache_and_skip_events() {
        let reg = Registry::open_in_memory().unwrap();
        let mut s = StatusFile::default();
        // A service first seen with past skips: no events for them.
        s.skipped.paused = 7;
        reg.update_status("new", &s, Some(50)).unwrap();
        assert!(reg.skip_counts("s", 0, 1_000).unwrap().is_empty());
        s.skipped.paused = 0;
        reg.ensure_service("s").unwrap();
        s.record_run(run_of("s", 10, Outcome::Degraded));
        s.consecutive_failures = 2;
        s.skipped.locked = 3;
        reg.update_status("s", &s, Some(100)).unwrap();
        s.skipped.locked = 4;
        s.skipped.backoff = 1;
        reg.update_status("s", &s, Some(200)).unwrap();
        let e = reg.service("s").unwrap().unwrap();
        assert_eq!(e.status.consecutive_failures, 2);
        assert_eq!(e.status.last_run.unwrap().outcome, Outcome::Degraded);
        let all = reg.skip_counts("s", 0, 1_000).unwrap();
        assert_eq!(all, [("backoff".to_string(), 1), ("locked".to_string(), 4)]);
        let late = reg.skip_counts("s", 150, 1_000).unwrap();
        assert_eq!(
            late,
            [("backoff".to_string(), 1), ("locked".to_string(), 1)]
        );
        assert!(reg.skip_counts("other", 0, 1_000).unwrap().is_empty());
    }

    #[test]
    fn prune_keeps_the_most_recent_runs() {
        let reg = Registry::open_in_memory().unwrap();
        let runs: Vec<_> = (0..10)
            .map(|i| run_of("s", i * 1000, Outcome::Success))
            .collect();
        reg.insert_runs("s", &runs).unwrap();
        // Everything is older than the cutoff, but 3 stay.
        assert_eq!(reg.prune("s", 100_000, 3).unwrap(), 7);
        let left = reg.history(&HistoryQuery::default()).unwrap();
        assert_eq!(
            left.iter().map(|r| r.started_at_ms).collect::<Vec<_>>(),
            [9000, 8000, 7000]
        );
        let stages: i64 = reg
            .conn
            .query_row("SELECT COUNT(*) FROM stage_results", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stages, 3, "stage rows go with their runs");
    }

    #[test]
    fn a_failed_write_rolls_back_and_nested_writes_join_it() {
        let reg = Registry::open_in_memory().unwrap();
        let e = reg
            .write(|reg| {
                reg.ensure_service("a")?;
                reg.write(|reg| reg.ensure_service("b"))?;
                Err::<(), _>(Error::new(ErrorCode::InternalError, "stop"))
            })
            .unwrap_err();
        assert_eq!(e.message, "stop");
        assert!(
            reg.service_ids().unwrap().is_empty(),
            "the nested write went with the outer one"
        );
        assert!(reg.conn.is_autocommit(), "no transaction left open");
        reg.write(|reg| {
            reg.ensure_service("a")?;
            reg.write(|reg| reg.ensure_service("b"))
        })
        .unwrap();
        assert_eq!(reg.service_ids().unwrap(), ["a", "b"]);
        assert!(reg.conn.is_autocommit());
    }

    #[test]
    fn list_rows_and_services_read_the_same_cached_status() {
        let reg = Registry::open_in_memory().unwrap();
        let mut m = sample_manifest("svc");
        m.tags = vec!["t".into()];
        reg.upsert_manifest(&m).unwrap();
        let mut s = StatusFile::default();
        s.record_run(run_of("svc", 5_000, Outcome::Degraded));
        s.consecutive_failures = 3;
        s.next_retry_at_ms = Some(9_000);
        s.paused_reason = Some("CIRCUIT_BREAKER: too many".into());
        s.pause_kind = Some(PauseKind::CircuitBreaker);
        s.paused_at_ms = Some(6_000);
        s.circuit_breaker_paused_at_ms = Some(6_000);
        s.last_error_code = Some("NETWORK".into());
        s.current_run = Some(CurrentRun {
            started_at_ms: 7_000,
            pid: 42,
            run_id: None,
            trigger: None,
        });
        s.skipped = SkipCounts {
            backoff: 1,
            paused: 2,
            locked: 3,
            condition: crate::store::status::ConditionSkips {
                on_ac_power: 4,
                reachable: 5,
                quiet_hours: 6,
            },
        };
        reg.update_status("svc", &s, None).unwrap();
        let entry = reg.service("svc").unwrap().unwrap();
        let row = reg.list_rows(&ServiceFilter::default()).unwrap().remove(0);
        assert_eq!(row.status, entry.status);
        let cached = row.status;
        assert_eq!(cached.consecutive_failures, 3);
        assert_eq!(cached.next_retry_at_ms, Some(9_000));
        assert_eq!(cached.pause_kind, Some(PauseKind::CircuitBreaker));
        assert_eq!(cached.paused_at_ms, Some(6_000));
        assert_eq!(cached.circuit_breaker_paused_at_ms, Some(6_000));
        assert_eq!(cached.last_error_code.as_deref(), Some("NETWORK"));
        assert_eq!(cached.current_run.unwrap().pid, 42);
        assert_eq!(cached.skipped, s.skipped);
        let last = cached.last_run.unwrap();
        assert_eq!(
            (last.run_id.as_str(), last.timestamp_ms, last.outcome),
            ("svc-5000", 5_000, Outcome::Degraded)
        );
        assert_eq!(last.timestamp_iso, crate::output::iso_ms(5_000));
        assert_eq!(row.tags, ["t"]);
        assert_eq!(row.interval_seconds, 900);
        assert_eq!(entry.tags, ["t"]);
    }

    /// The services of `state_sql_is_scheduler_state_with_every_pid_alive`:
    /// every branch of `policy::scheduler_state` and its boundaries, each
    /// a service whose cached status is that case.
    fn state_cases(reg: &Registry, t0: i64) -> Vec<String> {
        let paused = |reason: &str, kind: Option<PauseKind>| StatusFile {
            paused_reason: Some(reason.into()),
            pause_kind: kind,
            paused_at_ms: Some(t0),
            circuit_breaker_paused_at_ms: Some(t0),
            ..StatusFile::default()
        };
        let mut degraded = StatusFile::default();
        degraded.record_run(run_of("x", t0 - 10, Outcome::Degraded));
        let mut succeeded = StatusFile::default();
        succeeded.record_run(run_of("x", t0 - 10, Outcome::Success));
        let running = StatusFile {
            current_run: Some(CurrentRun {
                started_at_ms: t0,
                pid: 42,
                run_id: None,
                trigger: None,
            }),
            ..degraded.clone()
        };
        let backoff = StatusFile {
            consecutive_failures: 2,
            next_retry_at_ms: Some(t0 + 5_000),
            ..degraded.clone()
        };
        let cases: Vec<(&str, bool, StatusFile)> = vec![
            ("uninstalled", false, running.clone()),
            ("fresh", true, StatusFile::default()),
            ("degraded", true, degraded.clone()),
            ("succeeded", true, succeeded),
            ("running", true, running.clone()),
            (
                "running-paused",
                true,
                StatusFile {
                    paused_reason: Some("MANUAL".into()),
                    ..running.clone()
                },
            ),
            ("manual", true, paused("MANUAL", Some(PauseKind::Manual))),
            (
                "permanent",
                true,
                paused("AUTH_FAILED", Some(PauseKind::Permanent)),
            ),
            (
                "breaker",
                true,
                paused(
                    "CIRCUIT_BREAKER: 10 failures",
                    Some(PauseKind::CircuitBreaker),
                ),
            ),
            // Schema 1 recorded no kind: the reason tells it, case and all.
            ("breaker-v1", true, paused("CIRCUIT_BREAKER: 10", None)),
            (
                "breaker-v1-lower",
                true,
                paused("circuit_breaker: 10", None),
            ),
            (
                "permanent-v1",
                true,
                StatusFile {
                    last_error_code: Some("AUTH_FAILED".into()),
                    ..paused("AUTH_FAILED", None)
                },
            ),
            (
                "breaker-no-time",
                true,
                StatusFile {
                    circuit_breaker_paused_at_ms: None,
                    ..paused("CIRCUIT_BREAKER: 10", Some(PauseKind::CircuitBreaker))
                },
            ),
            (
                "breaker-default-cooldown",
                true,
                paused("CIRCUIT_BREAKER", None),
            ),
            (
                "breaker-unknown-kind",
                true,
                paused("CIRCUIT_BREAKER", None),
            ),
            ("backoff", true, backoff.clone()),
            (
                "retry-without-failures",
                true,
                StatusFile {
                    consecutive_failures: 0,
                    ..backoff.clone()
                },
            ),
            (
                "backoff-paused",
                true,
                StatusFile {
                    paused_reason: Some("MANUAL".into()),
                    ..backoff
                },
            ),
        ];
        for (id, installed, status) in &cases {
            let mut m = sample_manifest(id);
            m.circuit_breaker_cooldown_seconds = 60;
            reg.upsert_manifest(&m).unwrap();
            reg.update_status(id, status, None).unwrap();
            if !installed {
                reg.mark_uninstalled(id, Some(t0)).unwrap();
            }
        }
        // What no manifest writes, but an older or hand-made row may hold.
        reg.execute(
            "test",
            "UPDATE services SET cooldown_seconds = NULL WHERE service_id = 'breaker-default-cooldown'",
            [],
        )
        .unwrap();
        reg.execute(
            "test",
            "UPDATE services SET pause_kind = 'snoozed' WHERE service_id = 'breaker-unknown-kind'",
            [],
        )
        .unwrap();
        cases.iter().map(|(id, ..)| id.to_string()).collect()
    }

    #[test]
    fn state_sql_is_scheduler_state_with_every_pid_alive() {
        use crate::policy::{Policy, STALE_RUN_MS, scheduler_state};
        use crate::store::manifest::DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS as DEFAULT;
        let reg = Registry::open_in_memory().unwrap();
        let t0 = 1_000_000_000;
        let ids = state_cases(&reg, t0);
        let every = ServiceFilter {
            include_uninstalled: true,
            ..ServiceFilter::default()
        };
        let rows = reg.list_rows(&every).unwrap();
        assert_eq!(rows.len(), ids.len());
        let rust = |row: &ListRow, now: i64, alive: bool| {
            let policy = Policy::with_defaults(
                row.interval_seconds,
                row.max_transient_failures,
                row.cooldown_seconds,
            );
            scheduler_state(&row.status, row.installed, &policy, now, &|_| alive)
        };
        let mut seen = std::collections::BTreeSet::new();
        // Each boundary, one ms either side.
        let instants = [
            0,
            5_000,
            60_000,
            DEFAULT as i64 * 1000,
            STALE_RUN_MS,
            STALE_RUN_MS + 1,
        ]
        .into_iter()
        .flat_map(|d| [t0 + d - 1, t0 + d, t0 + d + 1]);
        for now in instants {
            let sql: std::collections::HashMap<String, String> = reg
                .rows(
                    "test",
                    &format!("SELECT service_id, {} FROM services", state_sql(1)),
                    [now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
                .into_iter()
                .collect();
            for row in &rows {
                let alive = rust(row, now, true);
                seen.insert(alive.as_str());
                seen.insert(rust(row, now, false).as_str());
                assert_eq!(
                    sql[&row.service_id],
                    alive.as_str(),
                    "{} at t0{:+}",
                    row.service_id,
                    now - t0
                );
            }
            // The filter lists every service in the state asked for, and
            // no other whose process is alive.
            for state in SchedulerState::ALL {
                let listed: Vec<String> = reg
                    .list_rows(&ServiceFilter {
                        state: Some((state, now)),
                        ..every.clone()
                    })
                    .unwrap()
                    .into_iter()
                    .map(|r| r.service_id)
                    .collect();
                for row in &rows {
                    let id = &row.service_id;
                    if rust(row, now, false) == state || rust(row, now, true) == state {
                        assert!(listed.contains(id), "{id} {state:?} at t0{:+}", now - t0);
                    }
                    if listed.contains(id) {
                        assert!(
                            state_sql_readings(state).contains(&rust(row, now, true)),
                            "{id} listed as {state:?} at t0{:+}",
                            now - t0
                        );
                    }
                }
            }
        }
        let all: std::collections::BTreeSet<_> =
            SchedulerState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(seen, all, "the cases reach every state");
    }

    #[test]
    fn columns_are_found_by_name_in_their_list() {
        assert_eq!(position(&["a", "b", "c"], "a"), 0);
        assert_eq!(position(&["a", "b", "c"], "c"), 2);
        assert_eq!(col!(service_id in ENTRY_COLUMNS), 0);
        assert_eq!(
            select_list(&[&["a", "b"], &["c"]]),
            "a, b, c",
            "the SELECT lists the columns in the order col! counts them"
        );
    }

    #[test]
    fn report_rows_are_one_services_window_in_time_order() {
        let reg = Registry::open_in_memory().unwrap();
        reg.insert_runs("b", &[run_of("b", 5, Outcome::Success)])
            .unwrap();
        reg.insert_runs(
            "a",
            &[
                run_of("a", 9, Outcome::Failed),
                run_of("a", 1, Outcome::Success),
                run_of("a", 100, Outcome::Success),
            ],
        )
        .unwrap();
        let mut seen = Vec::new();
        reg.for_each_report_row("a", 0, 100, |r| {
            seen.push((
                r.started_at_ms,
                r.outcome.to_string(),
                r.trigger.to_string(),
            ))
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (1, "success".to_string(), "scheduled".to_string()),
                (9, "failed".to_string(), "scheduled".to_string())
            ]
        );
        assert_eq!(
            reg.report_services(None).unwrap(),
            [("a".to_string(), false), ("b".to_string(), false)]
        );
    }

    #[test]
    fn installed_tags_are_distinct_sorted_and_of_installed_services_only() {
        let reg = Registry::open_in_memory().unwrap();
        for (id, tags) in [("a", vec!["x", "b"]), ("b", vec!["b"]), ("c", vec!["gone"])] {
            let mut m = sample_manifest(id);
            m.service_id = id.into();
            m.tags = tags.into_iter().map(String::from).collect();
            reg.upsert_manifest(&m).unwrap();
        }
        reg.mark_uninstalled("c", Some(1)).unwrap();
        assert_eq!(reg.installed_tags().unwrap(), ["b", "x"]);
    }

    fn schema_names(reg: &Registry) -> Vec<String> {
        reg.rows(
            "schema",
            "SELECT type || ':' || name FROM sqlite_master
             WHERE type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_bulk_load_rebuilds_what_it_dropped_and_a_failed_one_keeps_it() {
        let reg = Registry::open_in_memory().unwrap();
        let schema = schema_names(&reg);
        assert!(schema.contains(&"index:runs_by_time".to_string()));
        assert!(schema.contains(&"trigger:runs_count_for_metrics".to_string()));
        let pragma = |reg: &Registry, name: &str| -> i64 {
            reg.row("pragma", &format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
                .unwrap()
        };
        reg.bulk_load(|reg| {
            let during = schema_names(reg);
            assert!(!during.contains(&"index:runs_by_time".to_string()));
            assert!(!during.contains(&"trigger:runs_count_for_metrics".to_string()));
            assert_eq!(pragma(reg, "foreign_keys"), 0);
            reg.insert_runs("s", &[run_of("s", 5, Outcome::Success)])
        })
        .unwrap();
        assert_eq!(schema_names(&reg), schema);
        assert_eq!(pragma(&reg, "foreign_keys"), 1);
        assert_eq!(pragma(&reg, "ignore_check_constraints"), 0);
        reg.prune("s", 10, 0).unwrap();
        let failed: Result<()> =
            reg.bulk_load(|_| Err(Error::new(ErrorCode::InternalError, "load failed")));
        assert!(failed.is_err());
        assert_eq!(schema_names(&reg), schema, "the rollback restores them");
        assert_eq!(pragma(&reg, "foreign_keys"), 1);
        assert_eq!(reg.count_runs(None).unwrap(), 0);
        assert_eq!(reg.run_totals_of("s").unwrap().success, 1);
    }

    /// Every row of the metrics totals, every column, in order.
    fn totals_dump(reg: &Registry) -> Vec<Vec<rusqlite::types::Value>> {
        let mut out = Vec::new();
        for table in ["run_totals", "error_totals", "skip_totals"] {
            let mut stmt = reg
                .conn
                .prepare(&format!("SELECT '{table}', * FROM {table} ORDER BY 2, 3"))
                .unwrap();
            let width = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..width)
                        .map(|i| r.get::<_, rusqlite::types::Value>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .unwrap();
            out.extend(rows.map(|r| r.unwrap()));
        }
        out
    }

    /// Runs of every kind the totals tell apart: each outcome, durations
    /// on and around every bucket bound, error codes or none, stages,
    /// times out of order, a run id repeated in its service and in another.
    fn varied_runs(id: &str, seed: i64) -> Vec<RunRecord> {
        let outcomes = [
            Outcome::Success,
            Outcome::Degraded,
            Outcome::Failed,
            Outcome::Crashed,
        ];
        let durations = [
            0.0, 0.999, 1.0, 1.001, 5.0, 14.5, 15.0, 60.0, 300.0, 900.0, 3600.0, 3600.5, 99_999.0,
        ];
        let mut runs: Vec<RunRecord> = (0..40)
            .map(|i: i64| {
                let ts = 1_000 * ((i * 7 + seed) % 40) + 100_000 * seed;
                let mut r = run_of(id, ts, outcomes[((i + seed) % 4) as usize]);
                r.duration_seconds = durations[(i % 13) as usize];
                r.error_code = match i % 5 {
                    0 | 1 => None,
                    2 => Some("TIMEOUT".into()),
                    _ => Some(format!("E{}", i % 3)),
                };
                r
            })
            .collect();
        let mut again = runs[3].clone();
        again.timestamp_ms += 500;
        runs.push(again);
        let mut stolen = run_of(id, 77_000, Outcome::Failed);
        stolen.run_id = "shared-id".into();
        runs.push(stolen);
        runs
    }

    #[test]
    fn a_bulk_load_counts_the_totals_the_triggers_count() {
        let services = ["a", "b", "only-failures"];
        let load = |reg: &Registry, seed: i64| -> Result<()> {
            for (n, id) in services.iter().enumerate() {
                let mut runs = varied_runs(id, seed + n as i64);
                if *id == "only-failures" {
                    runs.retain(|r| r.outcome == Outcome::Failed);
                }
                reg.insert_runs(id, &runs)?;
            }
            Ok(())
        };
        // Before the load: totals of runs since pruned, which stay
        // (counters never go down; their latest times are later than the
        // loaded runs'), and skips, which a load never adds.
        let history = |reg: &Registry| {
            load(reg, 11).unwrap();
            let mut status = StatusFile::default();
            reg.update_status("a", &status, Some(1)).unwrap();
            status.skipped.locked = 3;
            reg.update_status("a", &status, Some(2)).unwrap();
            for id in services {
                reg.prune(id, i64::MAX, 0).unwrap();
            }
        };
        let by_triggers = Registry::open_in_memory().unwrap();
        history(&by_triggers);
        by_triggers.write(|reg| load(reg, 0)).unwrap();
        let bulk = Registry::open_in_memory().unwrap();
        history(&bulk);
        bulk.bulk_load(|reg| load(reg, 0)).unwrap();
        assert!(!totals_dump(&bulk).is_empty());
        assert_eq!(totals_dump(&bulk), totals_dump(&by_triggers));
        assert_eq!(
            bulk.count_runs(None).unwrap(),
            by_triggers.count_runs(None).unwrap()
        );
        // From nothing, as `reindex` into a new registry loads.
        let fresh_by_triggers = Registry::open_in_memory().unwrap();
        fresh_by_triggers.write(|reg| load(reg, 5)).unwrap();
        let fresh_bulk = Registry::open_in_memory().unwrap();
        fresh_bulk.bulk_load(|reg| load(reg, 5)).unwrap();
        assert_eq!(totals_dump(&fresh_bulk), totals_dump(&fresh_by_triggers));
        // And the trigger counts the next run again after a bulk load.
        for reg in [&bulk, &by_triggers] {
            reg.insert_runs("a", &[run_of("a", 999_000, Outcome::Success)])
                .unwrap();
        }
        assert_eq!(totals_dump(&bulk), totals_dump(&by_triggers));
    }

    #[test]
    fn the_report_reads_a_range_of_the_primary_key_never_the_whole_table() {
        let reg = Registry::open_in_memory().unwrap();
        let plan: Vec<String> = reg
            .rows(
                "plan",
                &format!("EXPLAIN QUERY PLAN {REPORT_SQL}"),
                params!["a", 0, 1],
                |r| r.get::<_, String>(3),
            )
            .unwrap();
        assert_eq!(
            plan,
            [
                "SEARCH runs USING PRIMARY KEY (service_id=? AND started_at_ms>? AND started_at_ms<?)"
            ],
            "{plan:?}"
        );
    }

    #[test]
    fn run_and_skip_totals_count_inserts_and_prune_never_lowers_them() {
        let reg = Registry::open_in_memory().unwrap();
        let mut slow = run_of("s", 1_000, Outcome::Failed);
        slow.duration_seconds = 61.5;
        slow.error_code = Some("AUTH_FAILED".into());
        let mut crashed = run_of("s", 2_000, Outcome::Crashed);
        crashed.error_code = Some("CRASHED".into());
        crashed.duration_seconds = 0.0;
        let mut ok = run_of("s", 3_000, Outcome::Success);
        ok.duration_seconds = 0.5;
        let mut degraded = run_of("s", 4_000, Outcome::Degraded);
        degraded.duration_seconds = 4.0;
        let runs = [slow, crashed, ok, degraded];
        reg.insert_runs("s", &runs).unwrap();
        reg.insert_runs("s", &runs).unwrap();
        let expected = RunTotals {
            success: 1,
            degraded: 1,
            failed: 1,
            crashed: 1,
            last_run_ms: Some(4_000),
            last_success_ms: Some(4_000),
            duration_buckets: [1, 2, 2, 2, 3, 3, 3],
            timed_runs: 3,
            duration_sum_ms: 61_500 + 500 + 4_000,
        };
        assert_eq!(
            reg.run_totals().unwrap()["s"],
            expected,
            "a run inserted twice counts once"
        );
        assert_eq!(
            reg.error_totals().unwrap()["s"],
            [("AUTH_FAILED".to_string(), 1), ("CRASHED".to_string(), 1)]
        );
        let mut status = StatusFile::default();
        reg.update_status("s", &status, Some(10)).unwrap();
        status.skipped.locked = 2;
        status.skipped.backoff = 1;
        reg.update_status("s", &status, Some(20)).unwrap();
        status.skipped.locked = 5;
        reg.update_status("s", &status, Some(30)).unwrap();
        let skips = [("backoff".to_string(), 1), ("locked".to_string(), 5)];
        assert_eq!(reg.skip_totals().unwrap()["s"], skips);

        assert_eq!(reg.prune("s", 1_000_000, 0).unwrap(), 4);
        assert_eq!(reg.count_runs(Some("s")).unwrap(), 0);
        assert_eq!(reg.run_totals().unwrap()["s"], expected);
        assert_eq!(reg.skip_totals().unwrap()["s"], skips);
        assert_eq!(reg.error_totals().unwrap()["s"].len(), 2);
    }

    #[test]
    fn the_totals_migration_counts_what_an_older_registry_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            embedded::migrations::runner()
                .set_target(refinery::Target::Version(3))
                .run(&mut conn)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO services (service_id) VALUES ('s');
                 INSERT INTO runs VALUES ('s', 1, 'r1', 'scheduled', 500, 'success', NULL, NULL, NULL);
                 INSERT INTO runs VALUES ('s', 2, 'r2', 'manual', 7000, 'failed', 'TIMEOUT', 'slow', NULL);
                 INSERT INTO skips (service_id, at_ms, reason, count) VALUES ('s', 3, 'paused', 4);
                 INSERT INTO skips (service_id, at_ms, reason, count) VALUES ('s', 4, 'condition:reachable', 2);",
            )
            .unwrap();
        }
        let reg = Registry::open(&path).unwrap();
        let t = &reg.run_totals().unwrap()["s"];
        assert_eq!((t.success, t.failed, t.timed_runs), (1, 1, 2));
        assert_eq!(t.duration_buckets, [1, 1, 2, 2, 2, 2, 2]);
        assert_eq!((t.last_run_ms, t.last_success_ms), (Some(2), Some(1)));
        assert_eq!(t.duration_sum_ms, 7_500);
        assert_eq!(
            reg.error_totals().unwrap()["s"],
            [("TIMEOUT".to_string(), 1)]
        );
        assert_eq!(
            reg.skip_totals().unwrap()["s"],
            [
                ("condition:reachable".to_string(), 2),
                ("paused".to_string(), 4)
            ]
        );
    }

    /// A later migration that rebuilds `runs` or `skips` drops the
    /// trigger that keeps the metrics totals: it must create it again.
    #[test]
    fn metrics_triggers_survive_every_migration() {
        let reg = Registry::open_in_memory().unwrap();
        let triggers: Vec<String> = reg
            .conn
            .prepare("SELECT tbl_name || ':' || name FROM sqlite_master WHERE type = 'trigger' ORDER BY 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            triggers,
            [
                "runs:runs_count_for_metrics",
                "skips:skips_count_for_metrics"
            ]
        );
    }
}
