//! The SQLite registry (`registry.db`): an index of every service and of
//! every run, for the fleet commands. All SQL of syncfleet lives in this
//! module; callers get typed methods. The per-service files stay the source
//! of truth (see `index` for how the two are kept in step).

use crate::error::{Error, ErrorCode, Result};
use crate::store::manifest::Manifest;
use crate::store::status::{
    CurrentRun, Outcome, PauseKind, RunRecord, SkipCounts, StageResult, StatusFile, Trigger,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use serde::Serialize;
use std::cell::Cell;
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

/// The rows the report aggregates, in the order it needs them. Public so the
/// benchmark can run exactly this statement through the `sqlite3` shell.
/// The unary `+` keeps SQLite off the time index: one scan in primary-key
/// order (service, time) needs no sort, where the index would make it sort
/// a whole window of rows in a temporary b-tree.
pub const REPORT_SQL: &str = "SELECT service_id, started_at_ms, duration_ms, outcome, error_code \
     FROM runs WHERE +started_at_ms >= ?1 AND +started_at_ms < ?2 \
     ORDER BY service_id, started_at_ms";

const SERVICE_COLUMNS: &str = "service_id, identity_hash, name, workspace_root, config_path, \
     project_urls, tags, platform, interval_seconds, profile, lock_group, binary_path, spec_hash, \
     max_transient_failures, cooldown_seconds, installed_at_iso, updated_at_iso, installed, \
     uninstalled_at_ms, consecutive_failures, next_retry_at_ms, paused_reason, pause_kind, \
     paused_at_ms, cb_paused_at_ms, last_error_code, current_run_pid, current_run_started_ms, \
     last_run_id, last_run_ms, last_outcome, skipped_backoff, skipped_paused, skipped_locked, \
     runs_offset";

pub struct Registry {
    conn: Connection,
    path: PathBuf,
    /// The schema was created by this open (a new or emptied file).
    created: bool,
    in_tx: Cell<bool>,
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
    pub consecutive_failures: u32,
    pub next_retry_at_ms: Option<i64>,
    pub paused_reason: Option<String>,
    pub pause_kind: Option<PauseKind>,
    pub cb_paused_at_ms: Option<i64>,
    pub current_run: Option<CurrentRun>,
    pub last_run_ms: Option<i64>,
    pub last_outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    pub include_uninstalled: bool,
    pub tag: Option<String>,
    pub profile: Option<String>,
    pub platform: Option<String>,
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

/// The service filter as SQL conditions (appended, with ORDER BY) and
/// their parameters.
fn filter_sql(filter: &ServiceFilter, sql: &mut String) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if !filter.include_uninstalled {
        sql.push_str(" AND installed = 1");
    }
    if let Some(tag) = &filter.tag {
        args.push(tag.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(services.tags) WHERE value = ?{})",
            args.len()
        ));
    }
    if let Some(p) = &filter.profile {
        args.push(p.clone());
        sql.push_str(&format!(" AND profile = ?{}", args.len()));
    }
    if let Some(p) = &filter.platform {
        args.push(p.clone());
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

fn json_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn secs_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

fn latest_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
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
            in_tx: Cell::new(false),
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

    /// Run `f` in one write transaction (BEGIN IMMEDIATE, so concurrent
    /// writers queue on the busy timeout instead of failing on upgrade).
    /// Nested calls join the outer transaction.
    pub fn write<T>(&self, f: impl FnOnce(&Registry) -> Result<T>) -> Result<T> {
        if self.in_tx.get() {
            return f(self);
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err("begin", e))?;
        self.in_tx.set(true);
        let out = f(self);
        self.in_tx.set(false);
        match out {
            Ok(v) => {
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(self.err("commit", e));
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// For a bulk import: a page cache large enough for the indexes of a
    /// million runs (the default 2 MB makes each insert miss).
    pub fn bulk_mode(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA cache_size = -131072")
            .map_err(|e| self.err("cache_size", e))
    }

    /// For a large read (the report's scan): map the file instead of
    /// copying each page through a read() call into a small page cache.
    pub fn scan_mode(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA mmap_size = 1073741824")
            .map_err(|e| self.err("mmap_size", e))
    }

    /// `PRAGMA quick_check`: empty when the file is sound.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check")
            .map_err(|e| self.err("quick_check", e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err("quick_check", e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err("quick_check", e))?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    /// A full import from the files has completed since the registry was
    /// created.
    pub fn is_filled(&self) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'filled'")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, String>(0)).optional())
            .map(|v| v.is_some())
            .map_err(|e| self.err("read meta", e))
    }

    pub fn set_filled(&self, at_iso: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('filled', ?1)")
            .and_then(|mut s| s.execute([at_iso]))
            .map(|_| ())
            .map_err(|e| self.err("write meta", e))
    }

    // ---- services -------------------------------------------------------

    /// Make sure a row exists (a service known only from its history).
    pub fn ensure_service(&self, id: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO services (service_id) VALUES (?1)")
            .and_then(|mut s| s.execute([id]))
            .map(|_| ())
            .map_err(|e| self.err("insert service", e))
    }

    /// Record an install (or re-install) from its manifest.
    pub fn upsert_manifest(&self, m: &Manifest) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO services (service_id, identity_hash, name, workspace_root, config_path,
                    project_urls, tags, platform, interval_seconds, profile, lock_group, binary_path,
                    spec_hash, max_transient_failures, cooldown_seconds, installed_at_iso,
                    updated_at_iso, installed, uninstalled_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 1, NULL)
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
                    installed = 1, uninstalled_at_ms = NULL",
            )
            .and_then(|mut s| {
                s.execute(params![
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
                ])
            })
            .map(|_| ())
            .map_err(|e| self.err("upsert service", e))
    }

    /// The service is no longer installed; its row and history stay.
    /// `at_ms` None keeps an earlier uninstall time.
    pub fn mark_uninstalled(&self, id: &str, at_ms: Option<i64>) -> Result<()> {
        self.ensure_service(id)?;
        self.conn
            .prepare_cached(
                "UPDATE services SET installed = 0,
                    uninstalled_at_ms = COALESCE(?2, uninstalled_at_ms),
                    current_run_pid = NULL, current_run_started_ms = NULL
                 WHERE service_id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, at_ms]))
            .map(|_| ())
            .map_err(|e| self.err("mark uninstalled", e))
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
                // A row seen for the first time has no counts to compare
                // with: its past skips are not events of `at`.
                let old: Option<(i64, i64, i64)> = reg
                    .conn
                    .prepare_cached(
                        "SELECT skipped_backoff, skipped_paused, skipped_locked FROM services WHERE service_id = ?1",
                    )
                    .and_then(|mut st| {
                        st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                            .optional()
                    })
                    .map_err(|e| reg.err("read skip counts", e))?;
                reg.ensure_service(id)?;
                let (b, p, l) = old.unwrap_or((
                    s.skipped.backoff as i64,
                    s.skipped.paused as i64,
                    s.skipped.locked as i64,
                ));
                for (reason, now, before) in [
                    ("backoff", s.skipped.backoff as i64, b),
                    ("paused", s.skipped.paused as i64, p),
                    ("locked", s.skipped.locked as i64, l),
                ] {
                    if now > before {
                        reg.conn
                            .prepare_cached(
                                "INSERT INTO skips (service_id, at_ms, reason, count) VALUES (?1, ?2, ?3, ?4)",
                            )
                            .and_then(|mut st| st.execute(params![id, at, reason, now - before]))
                            .map_err(|e| reg.err("insert skip", e))?;
                    }
                }
            }
            reg.ensure_service(id)?;
            let last = s.last_run.as_ref();
            reg.conn
                .prepare_cached(
                    "UPDATE services SET consecutive_failures = ?2, next_retry_at_ms = ?3,
                        paused_reason = ?4, pause_kind = ?5, paused_at_ms = ?6, cb_paused_at_ms = ?7,
                        last_error_code = ?8, current_run_pid = ?9, current_run_started_ms = ?10,
                        last_run_id = ?11, last_run_ms = ?12, last_outcome = ?13,
                        skipped_backoff = ?14, skipped_paused = ?15, skipped_locked = ?16
                     WHERE service_id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![
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
                    ])
                })
                .map(|_| ())
                .map_err(|e| reg.err("update status", e))
        })
    }

    fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ServiceEntry> {
        let pause_kind = parse_pause_kind(r.get_ref(22)?.as_str_or_null()?);
        let pid: Option<u32> = r.get(26)?;
        let started: Option<i64> = r.get(27)?;
        let last_run_id: Option<String> = r.get(28)?;
        let last_run_ms: Option<i64> = r.get(29)?;
        let outcome = parse_outcome(r.get_ref(30)?.as_str_or_null()?);
        let last_run = match (last_run_ms, outcome) {
            (Some(ms), Some(outcome)) => Some(RunRecord {
                run_id: last_run_id.unwrap_or_default(),
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
        let status = StatusFile {
            consecutive_failures: r.get(19)?,
            next_retry_at_ms: r.get(20)?,
            paused_reason: r.get(21)?,
            pause_kind,
            paused_at_ms: r.get(23)?,
            circuit_breaker_paused_at_ms: r.get(24)?,
            last_error_code: r.get(25)?,
            current_run: match (pid, started) {
                (Some(pid), Some(started_at_ms)) => Some(CurrentRun {
                    started_at_ms,
                    pid,
                    run_id: None,
                    trigger: None,
                }),
                _ => None,
            },
            last_run,
            skipped: SkipCounts {
                backoff: r.get::<_, i64>(31)? as u64,
                paused: r.get::<_, i64>(32)? as u64,
                locked: r.get::<_, i64>(33)? as u64,
            },
            ..StatusFile::default()
        };
        Ok(ServiceEntry {
            service_id: r.get(0)?,
            identity_hash: r.get(1)?,
            name: r.get(2)?,
            workspace_root: r.get(3)?,
            config_path: r.get(4)?,
            project_urls: json_list(r.get(5)?),
            tags: json_list(r.get(6)?),
            platform: r.get(7)?,
            interval_seconds: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
            profile: r.get(9)?,
            lock_group: r.get(10)?,
            binary_path: r.get(11)?,
            spec_hash: r.get(12)?,
            max_transient_failures: r.get(13)?,
            cooldown_seconds: r.get::<_, Option<i64>>(14)?.map(|v| v as u64),
            installed_at_iso: r.get(15)?,
            updated_at_iso: r.get(16)?,
            installed: r.get::<_, i64>(17)? != 0,
            uninstalled_at_ms: r.get(18)?,
            status,
            runs_offset: r.get::<_, i64>(34)? as u64,
        })
    }

    /// Services matching the filter, by id. Uninstalled ones only with
    /// `include_uninstalled` (and only those that were ever installed or ran).
    pub fn services(&self, filter: &ServiceFilter) -> Result<Vec<ServiceEntry>> {
        let mut sql = format!("SELECT {SERVICE_COLUMNS} FROM services WHERE 1 = 1");
        let args = filter_sql(filter, &mut sql);
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| self.err("list services", e))?;
        stmt.query_map(params_from_iter(args.iter()), Registry::entry_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err("list services", e))
    }

    /// What `list` shows, for the services matching the filter: only the
    /// columns it needs, because list must stay fast for 10,000 services.
    pub fn list_rows(&self, filter: &ServiceFilter) -> Result<Vec<ListRow>> {
        let mut sql = String::from(
            "SELECT service_id, name, workspace_root, platform, interval_seconds, profile, tags,
                    installed, uninstalled_at_ms, max_transient_failures, cooldown_seconds,
                    consecutive_failures, next_retry_at_ms, paused_reason, pause_kind,
                    cb_paused_at_ms, current_run_pid, current_run_started_ms, last_run_ms,
                    last_outcome
             FROM services WHERE 1 = 1",
        );
        let args = filter_sql(filter, &mut sql);
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| self.err("list services", e))?;
        stmt.query_map(params_from_iter(args.iter()), |r| {
            let text = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
            let tags = match r.get_ref(6)?.as_str_or_null()? {
                Some(t) if t != "[]" => serde_json::from_str(t).unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok(ListRow {
                service_id: r.get(0)?,
                name: text(1)?,
                workspace_root: text(2)?.unwrap_or_default(),
                platform: text(3)?.unwrap_or_default(),
                interval_seconds: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
                profile: text(5)?.unwrap_or_default(),
                tags,
                installed: r.get::<_, i64>(7)? != 0,
                uninstalled_at_ms: r.get(8)?,
                max_transient_failures: r.get(9)?,
                cooldown_seconds: r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
                consecutive_failures: r.get(11)?,
                next_retry_at_ms: r.get(12)?,
                paused_reason: text(13)?,
                pause_kind: parse_pause_kind(r.get_ref(14)?.as_str_or_null()?),
                cb_paused_at_ms: r.get(15)?,
                current_run: match (r.get::<_, Option<u32>>(16)?, r.get::<_, Option<i64>>(17)?) {
                    (Some(pid), Some(started_at_ms)) => Some(CurrentRun {
                        started_at_ms,
                        pid,
                        run_id: None,
                        trigger: None,
                    }),
                    _ => None,
                },
                last_run_ms: r.get(18)?,
                last_outcome: parse_outcome(r.get_ref(19)?.as_str_or_null()?),
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| self.err("list services", e))
    }

    /// Ids of the installed services.
    pub fn installed_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT service_id FROM services WHERE installed = 1 ORDER BY service_id",
            )
            .map_err(|e| self.err("service ids", e))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err("service ids", e))
    }

    pub fn service(&self, id: &str) -> Result<Option<ServiceEntry>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SERVICE_COLUMNS} FROM services WHERE service_id = ?1"
            ))
            .and_then(|mut s| s.query_row([id], Registry::entry_from_row).optional())
            .map_err(|e| self.err("read service", e))
    }

    // ---- runs -----------------------------------------------------------

    /// Insert runs (and their stages) that are not there yet; returns how
    /// many were new. Idempotent by run id.
    pub fn insert_runs(&self, id: &str, runs: &[RunRecord]) -> Result<usize> {
        self.write(|reg| {
            reg.ensure_service(id)?;
            let mut run_stmt = reg
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO runs (service_id, started_at_ms, run_id, trigger,
                        duration_ms, outcome, error_code, error_message, profile)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(|e| reg.err("insert run", e))?;
            let mut stage_stmt = reg
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO stage_results (run_id, seq, stage, success, optional,
                        items_updated, error_code, error, exit_code, attempts, duration_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(|e| reg.err("insert stage", e))?;
            let mut new = 0;
            for run in runs {
                // Records from before run ids existed get a stable one.
                let run_id = if run.run_id.is_empty() {
                    format!("{id}-{}", run.timestamp_ms)
                } else {
                    run.run_id.clone()
                };
                // A run's code is its pre-flight error, else the code of
                // the stage that failed it (what reports want to show).
                let error_code = run.error_code.as_deref().or_else(|| {
                    let failed = || run.stage_results.iter().filter(|s| !s.success);
                    failed()
                        .find(|s| !s.optional)
                        .or_else(|| failed().next())
                        .and_then(|s| s.error_code.as_deref())
                });
                let n = run_stmt
                    .execute(params![
                        id,
                        run.timestamp_ms,
                        run_id,
                        run.trigger.as_str(),
                        secs_to_ms(run.duration_seconds),
                        run.outcome.as_str(),
                        error_code,
                        run.error_message,
                        run.profile,
                    ])
                    .map_err(|e| reg.err("insert run", e))?;
                if n == 0 {
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
        self.conn
            .prepare_cached("SELECT runs_offset FROM services WHERE service_id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get::<_, i64>(0)).optional())
            .map(|o| o.map(|v| v as u64))
            .map_err(|e| self.err("read import marker", e))
    }

    pub fn set_runs_offset(&self, id: &str, offset: u64) -> Result<()> {
        self.ensure_service(id)?;
        self.conn
            .prepare_cached("UPDATE services SET runs_offset = ?2 WHERE service_id = ?1")
            .and_then(|mut s| s.execute(params![id, offset as i64]))
            .map(|_| ())
            .map_err(|e| self.err("write import marker", e))
    }

    /// Every service's import marker, for the doctor.
    pub fn runs_offsets(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT service_id, runs_offset FROM services ORDER BY service_id")
            .map_err(|e| self.err("read import markers", e))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err("read import markers", e))
    }

    pub fn count_runs(&self, id: Option<&str>) -> Result<u64> {
        let n: i64 = match id {
            Some(id) => self.conn.query_row(
                "SELECT COUNT(*) FROM runs WHERE service_id = ?1",
                [id],
                |r| r.get(0),
            ),
            None => self
                .conn
                .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)),
        }
        .map_err(|e| self.err("count runs", e))?;
        Ok(n as u64)
    }

    /// Runs matching the query, newest first.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<RunRow>> {
        let mut sql = String::from(
            "SELECT run_id, service_id, trigger, started_at_ms, duration_ms, outcome, error_code,
                    error_message, profile FROM runs WHERE 1 = 1",
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
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| self.err("history", e))?;
        let mut rows = stmt
            .query_map(params_from_iter(args.iter()), |r| {
                Ok(RunRow {
                    run_id: r.get(0)?,
                    service_id: r.get(1)?,
                    trigger: r.get(2)?,
                    started_at_ms: r.get(3)?,
                    duration_ms: r.get(4)?,
                    outcome: r.get(5)?,
                    error_code: r.get(6)?,
                    error_message: r.get(7)?,
                    profile: r.get(8)?,
                    stages: None,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err("history", e))?;
        if q.with_stages {
            for row in &mut rows {
                row.stages = Some(self.stages_of(&row.run_id)?);
            }
        }
        Ok(rows)
    }

    pub fn stages_of(&self, run_id: &str) -> Result<Vec<StageResult>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT stage, success, optional, items_updated, error_code, error, exit_code,
                        attempts, duration_ms
                 FROM stage_results WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err("stages", e))?;
        stmt.query_map([run_id], |r| {
            Ok(StageResult {
                stage: r.get(0)?,
                success: r.get(1)?,
                optional: r.get(2)?,
                items_updated: r.get::<_, i64>(3)? as u64,
                error_code: r.get(4)?,
                error: r.get(5)?,
                retry_after_seconds: None,
                exit_code: r.get(6)?,
                attempts: r.get(7)?,
                duration_seconds: r.get::<_, i64>(8)? as f64 / 1000.0,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err("stages", e))
    }

    /// Stream the report rows of `[since, until)` (REPORT_SQL) to `f`:
    /// service id, start ms, duration ms, outcome, error code.
    pub fn for_each_report_row(
        &self,
        since_ms: i64,
        until_ms: i64,
        mut f: impl FnMut(&str, i64, i64, &str, Option<&str>),
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(REPORT_SQL)
            .map_err(|e| self.err("report", e))?;
        let mut rows = stmt
            .query(params![since_ms, until_ms])
            .map_err(|e| self.err("report", e))?;
        // The hot loop of a fleet report (a million rows): borrowed values,
        // no conversions beyond what SQLite stored.
        while let Some(r) = rows.next().map_err(|e| self.err("report", e))? {
            let text = |i: usize| r.get_ref_unwrap(i).as_str().ok();
            let int = |i: usize| r.get_ref_unwrap(i).as_i64().unwrap_or(0);
            f(
                text(0).unwrap_or(""),
                int(1),
                int(2),
                text(3).unwrap_or(""),
                text(4),
            );
        }
        Ok(())
    }

    /// Skip events per service in `[since, until)`.
    pub fn skip_counts(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<std::collections::HashMap<String, SkipCounts>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT service_id, reason, SUM(count) FROM skips
                 WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY service_id, reason",
            )
            .map_err(|e| self.err("skips", e))?;
        let mut out: std::collections::HashMap<String, SkipCounts> = Default::default();
        let rows = stmt
            .query_map(params![since_ms, until_ms], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err("skips", e))?;
        for (id, reason, n) in rows {
            let c = out.entry(id).or_default();
            match reason.as_str() {
                "backoff" => c.backoff += n as u64,
                "paused" => c.paused += n as u64,
                _ => c.locked += n as u64,
            }
        }
        Ok(out)
    }

    /// Delete the service's runs (and skip events) older than `cutoff_ms`,
    /// except its `keep` most recent runs. Returns how many runs went.
    pub fn prune(&self, id: &str, cutoff_ms: i64, keep: usize) -> Result<usize> {
        self.write(|reg| {
            let n = reg
                .conn
                .prepare_cached(
                    "DELETE FROM runs WHERE service_id = ?1 AND started_at_ms < ?2
                       AND run_id NOT IN (SELECT run_id FROM runs WHERE service_id = ?1
                                          ORDER BY started_at_ms DESC LIMIT ?3)",
                )
                .and_then(|mut s| s.execute(params![id, cutoff_ms, keep as i64]))
                .map_err(|e| reg.err("prune runs", e))?;
            reg.conn
                .prepare_cached("DELETE FROM skips WHERE service_id = ?1 AND at_ms < ?2")
                .and_then(|mut s| s.execute(params![id, cutoff_ms]))
                .map_err(|e| reg.err("prune skips", e))?;
            Ok(n)
        })
    }

    /// Every service id the registry knows.
    pub fn service_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT service_id FROM services ORDER BY service_id")
            .map_err(|e| self.err("service ids", e))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err("service ids", e))
    }

    /// Reclaim space after a large prune.
    pub fn vacuum(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
            .map_err(|e| self.err("vacuum", e))
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
        assert!(reg.skip_counts(0, 1_000).unwrap().is_empty());
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
        let all = reg.skip_counts(0, 1_000).unwrap();
        assert_eq!(all["s"].locked, 4);
        assert_eq!(all["s"].backoff, 1);
        let late = reg.skip_counts(150, 1_000).unwrap();
        assert_eq!(late["s"].locked, 1);
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
    fn report_rows_stream_in_service_then_time_order() {
        let reg = Registry::open_in_memory().unwrap();
        reg.insert_runs("b", &[run_of("b", 5, Outcome::Success)])
            .unwrap();
        reg.insert_runs(
            "a",
            &[
                run_of("a", 9, Outcome::Failed),
                run_of("a", 1, Outcome::Success),
            ],
        )
        .unwrap();
        let mut seen = Vec::new();
        reg.for_each_report_row(0, 100, |id, ts, _, outcome, _| {
            seen.push((id.to_string(), ts, outcome.to_string()))
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                ("a".to_string(), 1, "success".to_string()),
                ("a".to_string(), 9, "failed".to_string()),
                ("b".to_string(), 5, "success".to_string())
            ]
        );
    }
}
