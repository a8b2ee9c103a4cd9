//! The Prometheus metrics files: the fleet in the text exposition format,
//! derived from the registry alone (no per-service state file), for
//! node_exporter's textfile collector, which merges the families of every
//! `*.prom` file in its directory. `syncfleet-fleet.prom` holds the
//! fleet-wide series and `syncfleet-svc-<id>.prom` each service's, so a run
//! rewrites only its own service's file (O(1 service)) and an admin change
//! compares every file and rewrites those that changed (`after_command`,
//! the one hook, decides). `syncfleet metrics` prints the union as one
//! exposition. No daemon: the files are the interface.

use crate::cli::Command;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::paths::DataDir;
use crate::policy::{self, Policy, SchedulerState};
use crate::registry::{DURATION_BUCKETS_SECONDS, ListRow, Registry, RunTotals, ServiceFilter};
use crate::store::status::PauseKind;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the file goes instead of `$SYNCFLEET_DATA_DIR/metrics`: point it
/// at node_exporter's `--collector.textfile.directory`. syncfleet has no
/// user config file, so this variable is the one setting.
pub const METRICS_DIR_VAR: &str = "SYNCFLEET_METRICS_DIR";
/// node_exporter reads every `*.prom` file of its directory and merges
/// the families across files (checked with node_exporter 1.5), so each
/// service has its own file and a run rewrites only its own: O(1 service)
/// however large the fleet. The temporary file of an atomic write
/// (`.tmp-*`) is never taken for one.
pub const FLEET_FILE: &str = "syncfleet-fleet.prom";
/// `syncfleet-svc-<service id>.prom`: all of that service's series.
pub const SERVICE_FILE_PREFIX: &str = "syncfleet-svc-";
/// The single file of earlier versions, removed by the first write.
pub const LEGACY_FILE: &str = "syncfleet.prom";
/// Readable by node_exporter, which runs as another user.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// The skip reasons every service reports, at zero when they never
/// happened (others, such as `condition:<name>`, appear once counted).
const SKIP_REASONS: [&str; 3] = ["backoff", "locked", "paused"];
const PAUSE_KINDS: [PauseKind; 3] = [
    PauseKind::Manual,
    PauseKind::Permanent,
    PauseKind::CircuitBreaker,
];

/// The metrics directory: `SYNCFLEET_METRICS_DIR` (`configured`), else
/// `metrics/` in the data directory. A relative value is taken from the
/// current directory.
pub fn metrics_dir(data_dir: &DataDir, configured: Option<&Path>) -> PathBuf {
    match configured.filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => crate::paths::absolute(dir),
        None => data_dir.root().join("metrics"),
    }
}

/// The file in the data directory that keeps `syncfleet metrics --dir`:
/// every process of the fleet (scheduled runs included, whatever their
/// scheduler's environment) reads the directory from it.
const SETTING_FILE: &str = "metrics-dir";

/// The directory this process writes: `SYNCFLEET_METRICS_DIR`, else the
/// one `metrics --dir` set, else `metrics/` in the data directory.
pub fn dir_of(ctx: &Context) -> PathBuf {
    let configured = std::env::var_os(METRICS_DIR_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| saved_dir(&ctx.data_dir));
    metrics_dir(&ctx.data_dir, configured.as_deref())
}

/// The directory `metrics --dir` saved, if any.
fn saved_dir(data_dir: &DataDir) -> Option<PathBuf> {
    let text = std::fs::read_to_string(data_dir.root().join(SETTING_FILE)).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| PathBuf::from(line))
}

/// `metrics --dir DIR`: keep DIR (absolute) as the fleet's metrics
/// directory; an empty DIR goes back to the default. Files of the old
/// directory are left for the caller to remove.
pub fn save_dir(data_dir: &DataDir, dir: &Path) -> Result<()> {
    let path = data_dir.root().join(SETTING_FILE);
    if dir.as_os_str().is_empty() {
        return remove_if_present(&path);
    }
    let absolute = crate::paths::absolute(dir);
    let text = absolute
        .to_str()
        .filter(|t| !t.contains('\n'))
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "--dir {} is not a path syncfleet can keep (not UTF-8, or a newline in it)",
                dir.display()
            ))
        })?;
    std::fs::create_dir_all(data_dir.root())
        .map_err(|e| Error::io("create", data_dir.root(), e))?;
    crate::fsutil::write_atomic(&path, format!("{text}\n").as_bytes())
        .map_err(|e| Error::io("write", &path, e))
}

/// One service's series, as read from the registry.
#[derive(Debug, Clone)]
pub struct ServiceMetrics {
    pub row: ListRow,
    pub state: SchedulerState,
    pub totals: RunTotals,
    /// (error code, runs), codes sorted.
    pub errors: Vec<(String, u64)>,
    /// (reason, skips), reasons sorted.
    pub skips: Vec<(String, u64)>,
}

/// Everything the file says.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub generated_ms: i64,
    /// Installed services, by id.
    pub services: Vec<ServiceMetrics>,
}

/// A row's scheduler state, read from its cached status with its policy
/// (as `list` does).
fn state_of_row(row: &ListRow, now_ms: i64, pid_alive: &dyn Fn(u32) -> bool) -> SchedulerState {
    let policy = Policy::with_defaults(
        row.interval_seconds,
        row.max_transient_failures,
        row.cooldown_seconds,
    );
    policy::scheduler_state(&row.status, row.installed, &policy, now_ms, pid_alive)
}

/// Read the fleet from the registry: four queries, whatever its size.
pub fn collect(reg: &Registry, now_ms: i64, pid_alive: &dyn Fn(u32) -> bool) -> Result<Fleet> {
    let rows = reg.list_rows(&ServiceFilter::default())?;
    let mut totals = reg.run_totals()?;
    let mut errors = reg.error_totals()?;
    let mut skips = reg.skip_totals()?;
    let services = rows
        .into_iter()
        .map(|row| {
            let state = state_of_row(&row, now_ms, pid_alive);
            let id = row.service_id.as_str();
            ServiceMetrics {
                state,
                totals: totals.remove(id).unwrap_or_default(),
                errors: errors.remove(id).unwrap_or_default(),
                skips: skips.remove(id).unwrap_or_default(),
                row,
            }
        })
        .collect();
    Ok(Fleet {
        generated_ms: now_ms,
        services,
    })
}

/// A label value as the exposition format wants it: backslash, double
/// quote and line feed escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Milliseconds as seconds, exactly (no float rounding).
fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    format!("{sign}{}.{:03}", ms / 1000, ms % 1000)
}

/// The labels every series of a service carries.
fn service_labels(row: &ListRow) -> String {
    let mut tags = row.tags.clone();
    tags.sort();
    format!(
        "service_id=\"{}\",name=\"{}\",workspace=\"{}\",platform=\"{}\",tags=\"{}\"",
        escape_label(&row.service_id),
        escape_label(row.name.as_deref().unwrap_or_default()),
        escape_label(&row.workspace_root),
        escape_label(&row.platform),
        escape_label(&tags.join(","))
    )
}

/// One metric family: HELP, TYPE and its samples, contiguous as the
/// format requires. A family without samples is left out.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    body: String,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            body: String::new(),
        }
    }

    /// `name{labels,extra} value`; `suffix` for a histogram's series.
    fn sample(&mut self, suffix: &str, labels: &str, extra: &str, value: impl std::fmt::Display) {
        let name = self.name;
        let _ = match (labels.is_empty(), extra.is_empty()) {
            (true, true) => writeln!(self.body, "{name}{suffix} {value}"),
            (false, false) => writeln!(self.body, "{name}{suffix}{{{labels},{extra}}} {value}"),
            _ => writeln!(self.body, "{name}{suffix}{{{labels}{extra}}} {value}"),
        };
    }

    fn write_to(self, out: &mut String) {
        if self.body.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        out.push_str(&self.body);
    }
}

/// When the next run can start, as `list` and `top` estimate it.
fn next_run_ms(s: &ServiceMetrics, now_ms: i64) -> Option<i64> {
    crate::schedule::ScheduledService {
        service_id: &s.row.service_id,
        platform: &s.row.platform,
        interval_seconds: s.row.interval_seconds,
        calendar: s.row.calendar.as_ref(),
    }
    .expected_next_run_ms(&s.row.status, s.state, None, now_ms)
}

/// The families of the fleet-wide series.
fn fleet_families(generated_ms: i64) -> [Family; 2] {
    let mut build = Family::new(
        "syncfleet_build_info",
        "gauge",
        "The syncfleet version that wrote this file (always 1).",
    );
    build.sample(
        "",
        "",
        &format!("version=\"{}\"", escape_label(env!("CARGO_PKG_VERSION"))),
        1,
    );
    let mut generated = Family::new(
        "syncfleet_metrics_generated_timestamp_seconds",
        "gauge",
        "When this file was written, from the registry.",
    );
    generated.sample("", "", "", seconds(generated_ms));
    [build, generated]
}

/// The per-service families, filled one service at a time.
struct ServiceFamilies {
    runs: Family,
    last_run: Family,
    last_success: Family,
    duration: Family,
    failures: Family,
    state: Family,
    breaker: Family,
    paused: Family,
    skips: Family,
    errors: Family,
    next_run: Family,
    period: Family,
}

impl ServiceFamilies {
    fn new() -> ServiceFamilies {
        ServiceFamilies {
            runs: Family::new(
                "syncfleet_service_runs_total",
                "counter",
                "Runs recorded, by outcome (crashed: killed or crashed, found by the next run).",
            ),
            last_run: Family::new(
                "syncfleet_service_last_run_timestamp_seconds",
                "gauge",
                "When the service's last run started.",
            ),
            last_success: Family::new(
                "syncfleet_service_last_success_timestamp_seconds",
                "gauge",
                "When the service's last run whose core stages all succeeded (success or degraded) started.",
            ),
            duration: Family::new(
                "syncfleet_service_run_duration_seconds",
                "histogram",
                "How long runs took (crashed runs, whose duration is unknown, are left out).",
            ),
            failures: Family::new(
                "syncfleet_service_consecutive_failures",
                "gauge",
                "Failed runs in a row since the last good one.",
            ),
            state: Family::new(
                "syncfleet_service_state",
                "gauge",
                "The service's scheduler state, as `syncfleet list` shows it: 1 for the current state, 0 for the others.",
            ),
            breaker: Family::new(
                "syncfleet_service_circuit_breaker_open",
                "gauge",
                "1 while the circuit breaker holds the service paused after too many transient failures.",
            ),
            paused: Family::new(
                "syncfleet_service_paused",
                "gauge",
                "1 for the kind of pause the service is in (manual, permanent error, circuit breaker), 0 for the others.",
            ),
            skips: Family::new(
                "syncfleet_service_skips_total",
                "counter",
                "Scheduled invocations that did not run the pipeline, by reason.",
            ),
            errors: Family::new(
                "syncfleet_service_errors_total",
                "counter",
                "Runs that ended with an error code, by code and class (transient errors are retried with backoff, permanent ones pause).",
            ),
            next_run: Family::new(
                "syncfleet_service_next_run_timestamp_seconds",
                "gauge",
                "When the next scheduled run is due, as list and top estimate it (absent while paused or running, and for an interval timer that has not run yet).",
            ),
            period: Family::new(
                "syncfleet_service_schedule_period_seconds",
                "gauge",
                "How long a healthy service can go between runs: its interval, or its calendar's longest gap between slots (a weekday schedule's weekend).",
            ),
        }
    }

    /// The samples of one service, in every family.
    fn add(&mut self, s: &ServiceMetrics, now_ms: i64) {
        let l = service_labels(&s.row);
        let l = l.as_str();
        let t = &s.totals;
        for (outcome, n) in [
            ("success", t.success),
            ("degraded", t.degraded),
            ("failed", t.failed),
            ("crashed", t.crashed),
        ] {
            self.runs
                .sample("", l, &format!("outcome=\"{outcome}\""), n);
        }
        if let Some(ms) = t.last_run_ms {
            self.last_run.sample("", l, "", seconds(ms));
        }
        if let Some(ms) = t.last_success_ms {
            self.last_success.sample("", l, "", seconds(ms));
        }
        for (le, n) in DURATION_BUCKETS_SECONDS.iter().zip(t.duration_buckets) {
            self.duration
                .sample("_bucket", l, &format!("le=\"{le}\""), n);
        }
        self.duration
            .sample("_bucket", l, "le=\"+Inf\"", t.timed_runs);
        self.duration
            .sample("_sum", l, "", seconds(t.duration_sum_ms));
        self.duration.sample("_count", l, "", t.timed_runs);
        self.failures
            .sample("", l, "", s.row.status.consecutive_failures);
        for candidate in SchedulerState::ALL {
            let on = u8::from(candidate == s.state);
            self.state
                .sample("", l, &format!("state=\"{}\"", candidate.as_str()), on);
        }
        let kind = s.row.status.pause_kind();
        self.breaker
            .sample("", l, "", u8::from(kind == Some(PauseKind::CircuitBreaker)));
        for k in PAUSE_KINDS {
            let on = u8::from(kind == Some(k));
            self.paused
                .sample("", l, &format!("kind=\"{}\"", k.as_str()), on);
        }
        let mut reasons: Vec<(&str, u64)> = SKIP_REASONS.iter().map(|r| (*r, 0)).collect();
        for (reason, n) in &s.skips {
            match reasons.iter_mut().find(|(r, _)| r == reason) {
                Some(slot) => slot.1 += n,
                None => reasons.push((reason, *n)),
            }
        }
        reasons.sort();
        for (reason, n) in reasons {
            self.skips
                .sample("", l, &format!("reason=\"{}\"", escape_label(reason)), n);
        }
        for (code, n) in &s.errors {
            let class = if policy::is_permanent_code(code) {
                "permanent"
            } else {
                "transient"
            };
            let extra = format!("code=\"{}\",class=\"{class}\"", escape_label(code));
            self.errors.sample("", l, &extra, n);
        }
        if let Some(ms) = next_run_ms(s, now_ms) {
            self.next_run.sample("", l, "", seconds(ms));
        }
        let period = match &s.row.calendar {
            Some(calendar) => chrono::DateTime::from_timestamp_millis(now_ms)
                .map_or(s.row.interval_seconds, |now| {
                    calendar.longest_gap_seconds(now)
                }),
            None => s.row.interval_seconds,
        };
        if period > 0 {
            self.period.sample("", l, "", period);
        }
    }

    fn write_to(self, out: &mut String) {
        for family in self.into_array() {
            family.write_to(out);
        }
    }

    fn into_array(self) -> [Family; 12] {
        [
            self.runs,
            self.last_run,
            self.last_success,
            self.duration,
            self.failures,
            self.state,
            self.breaker,
            self.paused,
            self.skips,
            self.errors,
            self.next_run,
            self.period,
        ]
    }
}

/// The exposition text of `fleet`, as one document: each family once,
/// with the samples of every service (what `syncfleet metrics` prints).
pub fn render(fleet: &Fleet) -> String {
    let mut out = String::with_capacity(fleet.services.len() * 40 * 200 + 1024);
    for family in fleet_families(fleet.generated_ms) {
        family.write_to(&mut out);
    }
    let mut families = ServiceFamilies::new();
    for s in &fleet.services {
        families.add(s, fleet.generated_ms);
    }
    families.write_to(&mut out);
    out
}

/// The text of one service's file at `now_ms`: its series in every family.
pub fn render_service(s: &ServiceMetrics, now_ms: i64) -> String {
    let mut families = ServiceFamilies::new();
    families.add(s, now_ms);
    let mut out = String::with_capacity(8 * 1024);
    families.write_to(&mut out);
    out
}

/// The fleet file's first line names the layout of the service files
/// (family names, HELP, TYPE, label names) and the version: node_exporter
/// drops a family whose HELP differs between two files, so a writer that
/// finds another layout rewrites every file, not only its service's.
const LAYOUT_PREFIX: &str = "# syncfleet metrics layout ";

/// The layout line this build writes: a hash (FNV-1a, stable across
/// builds) of every family's header and of one sample service's file.
fn layout_line() -> String {
    let row = ListRow {
        service_id: "layout".into(),
        name: None,
        workspace_root: String::new(),
        platform: String::new(),
        interval_seconds: 1,
        calendar: None,
        profile: String::new(),
        tags: Vec::new(),
        installed: true,
        uninstalled_at_ms: None,
        max_transient_failures: None,
        cooldown_seconds: None,
        updated_at_iso: None,
        status: Default::default(),
    };
    let sample = ServiceMetrics {
        row,
        state: SchedulerState::Idle,
        totals: RunTotals {
            last_run_ms: Some(1),
            last_success_ms: Some(1),
            ..RunTotals::default()
        },
        errors: vec![("TIMEOUT".into(), 1)],
        skips: Vec::new(),
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut text = format!(
        "{}\n{}",
        env!("CARGO_PKG_VERSION"),
        render_service(&sample, 0)
    );
    for family in ServiceFamilies::new().into_array() {
        text.push_str(&format!(
            "{} {} {}\n",
            family.name, family.kind, family.help
        ));
    }
    for byte in text.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{LAYOUT_PREFIX}{hash:016x}")
}

/// The text of the fleet file: the layout line, then the fleet-wide series.
pub fn render_fleet_file(generated_ms: i64) -> String {
    let mut out = layout_line();
    out.push('\n');
    for family in fleet_families(generated_ms) {
        family.write_to(&mut out);
    }
    out
}

/// The file name of a service's series.
pub fn service_file_name(service_id: &str) -> String {
    format!("{SERVICE_FILE_PREFIX}{service_id}.prom")
}

/// Write `text` to `path` atomically (temp file in the same directory,
/// then rename: node_exporter never reads half a file), mode 0644; the
/// directory is created (0755) when missing. No fsync: the files are
/// derived, and a lost write is repaired by the next one (a whole-fleet
/// pass compares every file with what it should hold).
pub fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = crate::fsutil::parent_dir(path);
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(DIR_MODE);
        }
        builder.create(&dir)?;
    }
    crate::fsutil::write_atomic_mode_unsynced(path, text.as_bytes(), FILE_MODE)
}

/// Every file syncfleet writes in `dir` (when the fleet's metrics move
/// elsewhere); other files are left alone.
pub fn remove_files(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name == FLEET_FILE
            || name == LEGACY_FILE
            || (name.starts_with(SERVICE_FILE_PREFIX) && name.ends_with(".prom"));
        if ours {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// The exposition of the fleet now, from `reg`.
pub fn exposition(ctx: &Context, reg: &Registry) -> Result<String> {
    collect(reg, ctx.now_ms(), &crate::process::pid_alive).map(|f| render(&f))
}

/// What a write covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every service: files that differ from what they should hold are
    /// rewritten, stale ones removed (O(fleet) reads, writes only changes).
    Fleet,
    /// One service's file (rewritten, or removed when it is not installed)
    /// and the fleet file: O(1 service), what a run does.
    Service(String),
}

/// How long a writer waits for another one to finish its files.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Update the metrics directory for `scope`; returns the directory.
/// Writers take turns (a lock in the data directory), each reading the
/// registry once it has its turn: two runs ending together could otherwise
/// rename their files in the opposite order and leave the older view in
/// place. A one-service write becomes a fleet pass when the fleet file is
/// missing or of another layout (first write, upgrade, the old single
/// file still there).
pub fn refresh(ctx: &Context, scope: &Scope) -> Result<PathBuf> {
    let _turn = take_turn(ctx)?;
    let dir = dir_of(ctx);
    match scope {
        Scope::Service(id) if layout_is_current(&dir) => {
            let reg = ctx.registry()?;
            write_service_file(reg, &dir, id, ctx.now_ms(), &crate::process::pid_alive)?;
            write_fleet_file(&dir, ctx.now_ms())?;
        }
        _ => {
            let reg = ctx.registry()?;
            write_fleet_files(reg, &dir, ctx.now_ms(), &crate::process::pid_alive)?;
        }
    }
    Ok(dir)
}

/// A fleet pass, also returning the whole exposition (`syncfleet metrics`).
pub fn rewrite(ctx: &Context) -> Result<(PathBuf, String)> {
    let _turn = take_turn(ctx)?;
    let dir = dir_of(ctx);
    let fleet = write_fleet_files(
        ctx.registry()?,
        &dir,
        ctx.now_ms(),
        &crate::process::pid_alive,
    )?;
    Ok((dir, render(&fleet)))
}

fn take_turn(ctx: &Context) -> Result<crate::lock::LockGuard> {
    crate::lock::acquire_within(
        &ctx.data_dir.locks_dir().join("metrics.lock"),
        WRITER_WAIT,
        "the metrics file",
        ctx.clock(),
    )
}

fn layout_is_current(dir: &Path) -> bool {
    let current = std::fs::read_to_string(dir.join(FLEET_FILE))
        .is_ok_and(|text| text.lines().next() == Some(layout_line().as_str()));
    current && !dir.join(LEGACY_FILE).exists()
}

pub fn write_fleet_file(dir: &Path, now_ms: i64) -> Result<()> {
    let path = dir.join(FLEET_FILE);
    write_file(&path, &render_fleet_file(now_ms)).map_err(|e| Error::io("write", &path, e))
}

/// One service's file from its registry rows (four indexed reads), or
/// its removal when the service is not installed.
pub fn write_service_file(
    reg: &Registry,
    dir: &Path,
    id: &str,
    now_ms: i64,
    pid_alive: &dyn Fn(u32) -> bool,
) -> Result<()> {
    let path = dir.join(service_file_name(id));
    let Some(row) = reg.list_row(id)?.filter(|row| row.installed) else {
        return remove_if_present(&path);
    };
    let state = state_of_row(&row, now_ms, pid_alive);
    let service = ServiceMetrics {
        state,
        totals: reg.run_totals_of(id)?,
        errors: reg.error_totals_of(id)?,
        skips: reg.skip_totals_of(id)?,
        row,
    };
    write_file(&path, &render_service(&service, now_ms)).map_err(|e| Error::io("write", &path, e))
}

/// Every file: the old single file removed first (its series would be
/// served twice), each service's file written when it differs, stale
/// service files removed, the fleet file (with the layout line) last.
pub fn write_fleet_files(
    reg: &Registry,
    dir: &Path,
    now_ms: i64,
    pid_alive: &dyn Fn(u32) -> bool,
) -> Result<Fleet> {
    let fleet = collect(reg, now_ms, pid_alive)?;
    remove_if_present(&dir.join(LEGACY_FILE))?;
    let mut wanted = std::collections::HashSet::with_capacity(fleet.services.len());
    for s in &fleet.services {
        let name = service_file_name(&s.row.service_id);
        let path = dir.join(&name);
        let text = render_service(s, now_ms);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            write_file(&path, &text).map_err(|e| Error::io("write", &path, e))?;
        }
        wanted.insert(name);
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(SERVICE_FILE_PREFIX)
                && name.ends_with(".prom")
                && !wanted.contains(&name)
            {
                remove_if_present(&entry.path())?;
            }
        }
    }
    write_fleet_file(dir, fleet.generated_ms)?;
    Ok(fleet)
}

/// What a command's write covers: a run, its service; any other change
/// (admin commands, which may touch any number of services), the fleet.
pub fn scope_of(command: &Command) -> Scope {
    match command {
        Command::Run(args) if crate::identity::is_valid_service_id(&args.service_id) => {
            Scope::Service(args.service_id.clone())
        }
        _ => Scope::Fleet,
    }
}

/// Whether `command` may change what the file says: runs and admin
/// changes. Read-only commands leave the file alone.
fn changes_fleet(command: &Command) -> bool {
    use Command::*;
    match command {
        Install(_) | Uninstall(_) | Pause(_) | Resume(_) | Trigger(_) | Move(_) | Repair(_)
        | Sync(_) | Prune(_) | Reindex(_) | Doctor(_) | Run(_) => true,
        List(_) | Status(_) | Logs(_) | History(_) | Report(_) | Init(_) | Metrics(_)
        | Calendar(_) | Top(_) | Completions(_) | RobotDocs | Complete(_) => false,
    }
}

/// The one hook: after a command that may have changed the fleet (a run,
/// an admin change, whether it succeeded or not: a batch can fail in part),
/// rewrite the file. Best effort: a failure is a warning (for a scheduled
/// run, in the service log too), never the command's failure. Nothing is
/// written where there is no registry yet (a command that failed on an
/// empty machine creates no data).
pub fn after_command(ctx: &Context, command: &Command) {
    if !changes_fleet(command) || !ctx.data_dir.registry_path().exists() {
        return;
    }
    if let Err(e) = refresh(ctx, &scope_of(command)) {
        let warning = format!(
            "the metrics files were not rewritten: {}{}",
            e.message,
            e.suggestion
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        );
        tracing::warn!("{warning}");
        if let Command::Run(args) = command
            && crate::identity::is_valid_service_id(&args.service_id)
            && ctx.data_dir.service_dir(&args.service_id).is_dir()
        {
            crate::pipeline::ServiceLog::open(
                &ctx.data_dir.service_log_path(&args.service_id),
                Vec::new(),
            )
            .line(&format!("{} warning: {warning}", ctx.now_iso()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status::StatusFile;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("plain ü,;{}="), "plain ü,;{}=");
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(1_700_000_000_123), "1700000000.123");
        assert_eq!(seconds(5), "0.005");
        assert_eq!(seconds(-1500), "-1.500");
    }

    #[test]
    fn the_metrics_dir_is_the_variable_else_the_data_dir() {
        let data = DataDir::new("/d");
        assert_eq!(metrics_dir(&data, None), Path::new("/d/metrics"));
        assert_eq!(
            metrics_dir(&data, Some(Path::new(""))),
            Path::new("/d/metrics")
        );
        assert_eq!(
            metrics_dir(&data, Some(Path::new("/var/lib/node_exporter"))),
            Path::new("/var/lib/node_exporter")
        );
    }

    fn row(id: &str) -> ListRow {
        ListRow {
            service_id: id.into(),
            name: None,
            workspace_root: format!("/w/{id}"),
            platform: "cron".into(),
            interval_seconds: 600,
            calendar: None,
            profile: "fast".into(),
            tags: Vec::new(),
            installed: true,
            uninstalled_at_ms: None,
            max_transient_failures: None,
            cooldown_seconds: None,
            updated_at_iso: None,
            status: StatusFile::default(),
        }
    }

    #[test]
    fn next_run_follows_the_state_as_list_and_top_estimate_it() {
        let mut s = ServiceMetrics {
            row: ListRow {
                platform: "systemd".into(),
                ..row("a")
            },
            state: SchedulerState::Idle,
            totals: RunTotals::default(),
            errors: Vec::new(),
            skips: Vec::new(),
        };
        assert_eq!(next_run_ms(&s, 20_000), None, "never ran");
        s.row.status.record_run(crate::store::status::make_run(
            10_000,
            crate::store::status::Outcome::Failed,
        ));
        let ran = s.row.status.last_run.as_ref().unwrap();
        let end = 10_000 + (ran.duration_seconds * 1000.0) as i64;
        assert_eq!(next_run_ms(&s, 20_000), Some(end + 600_000));
        s.state = SchedulerState::Backoff;
        s.row.status.next_retry_at_ms = Some(end + 900_000);
        assert_eq!(next_run_ms(&s, 20_000), Some(end + 900_000));
        s.state = SchedulerState::Paused;
        assert_eq!(next_run_ms(&s, 20_000), None, "paused");
    }

    #[test]
    fn an_empty_fleet_has_only_the_fleet_wide_series() {
        let text = render(&Fleet {
            generated_ms: 1_000,
            services: Vec::new(),
        });
        assert_eq!(
            text,
            format!(
                "# HELP syncfleet_build_info The syncfleet version that wrote this file (always 1).\n\
                 # TYPE syncfleet_build_info gauge\n\
                 syncfleet_build_info{{version=\"{}\"}} 1\n\
                 # HELP syncfleet_metrics_generated_timestamp_seconds When this file was written, from the registry.\n\
                 # TYPE syncfleet_metrics_generated_timestamp_seconds gauge\n\
                 syncfleet_metrics_generated_timestamp_seconds 1.000\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn every_family_of_one_service_is_exact() {
        let mut r = row("svc");
        r.name = Some("api \"v2\"".into());
        r.workspace_root = "C:\\w\nx".into();
        r.tags = vec!["z".into(), "a,b".into()];
        r.status.consecutive_failures = 11;
        r.status.paused_reason = Some("CIRCUIT_BREAKER: 10 failures".into());
        r.status.pause_kind = Some(PauseKind::CircuitBreaker);
        let fleet = Fleet {
            generated_ms: 2_000,
            services: vec![ServiceMetrics {
                row: r,
                state: SchedulerState::Paused,
                totals: RunTotals {
                    success: 3,
                    degraded: 1,
                    failed: 11,
                    crashed: 1,
                    last_run_ms: Some(1_500),
                    last_success_ms: Some(1_000),
                    duration_buckets: [2, 4, 10, 12, 14, 15, 15],
                    timed_runs: 15,
                    duration_sum_ms: 123_456,
                },
                errors: vec![("CRASHED".into(), 1), ("TIMEOUT".into(), 11)],
                skips: vec![("condition:on_ac_power".into(), 4), ("paused".into(), 2)],
            }],
        };
        let text = render(&fleet);
        let l = r#"service_id="svc",name="api \"v2\"",workspace="C:\\w\nx",platform="cron",tags="a,b,z""#;
        let body: Vec<String> = text
            .lines()
            .filter(|line| line.starts_with("syncfleet_service_"))
            .map(|line| line.replace(l, "L"))
            .collect();
        assert_eq!(
            body,
            [
                r#"syncfleet_service_runs_total{L,outcome="success"} 3"#,
                r#"syncfleet_service_runs_total{L,outcome="degraded"} 1"#,
                r#"syncfleet_service_runs_total{L,outcome="failed"} 11"#,
                r#"syncfleet_service_runs_total{L,outcome="crashed"} 1"#,
                "syncfleet_service_last_run_timestamp_seconds{L} 1.500",
                "syncfleet_service_last_success_timestamp_seconds{L} 1.000",
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="1"} 2"#,
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="5"} 4"#,
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="15"} 10"#,
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="60"} 12"#,
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="300"} 14"#,
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="900"} 15"#,
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="3600"} 15"#,
                r#"syncfleet_service_run_duration_seconds_bucket{L,le="+Inf"} 15"#,
                "syncfleet_service_run_duration_seconds_sum{L} 123.456",
                "syncfleet_service_run_duration_seconds_count{L} 15",
                "syncfleet_service_consecutive_failures{L} 11",
                r#"syncfleet_service_state{L,state="not_installed"} 0"#,
                r#"syncfleet_service_state{L,state="idle"} 0"#,
                r#"syncfleet_service_state{L,state="running"} 0"#,
                r#"syncfleet_service_state{L,state="running_stale"} 0"#,
                r#"syncfleet_service_state{L,state="degraded"} 0"#,
                r#"syncfleet_service_state{L,state="backoff"} 0"#,
                r#"syncfleet_service_state{L,state="half_open"} 0"#,
                r#"syncfleet_service_state{L,state="paused"} 1"#,
                "syncfleet_service_circuit_breaker_open{L} 1",
                r#"syncfleet_service_paused{L,kind="manual"} 0"#,
                r#"syncfleet_service_paused{L,kind="permanent"} 0"#,
                r#"syncfleet_service_paused{L,kind="circuit_breaker"} 1"#,
                r#"syncfleet_service_skips_total{L,reason="backoff"} 0"#,
                r#"syncfleet_service_skips_total{L,reason="condition:on_ac_power"} 4"#,
                r#"syncfleet_service_skips_total{L,reason="locked"} 0"#,
                r#"syncfleet_service_skips_total{L,reason="paused"} 2"#,
                r#"syncfleet_service_errors_total{L,code="CRASHED",class="transient"} 1"#,
                r#"syncfleet_service_errors_total{L,code="TIMEOUT",class="transient"} 11"#,
                "syncfleet_service_schedule_period_seconds{L} 600",
            ]
        );
        // Each family once, HELP then TYPE, in the order of its samples.
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        assert_eq!(types.len(), 13, "no next run while paused: {types:?}");
        assert!(types.contains(&"# TYPE syncfleet_service_run_duration_seconds histogram"));
    }

    #[test]
    fn the_files_hold_the_samples_of_the_one_exposition_between_them() {
        let mut tagged = row("b");
        tagged.tags = vec!["t".into()];
        let services: Vec<ServiceMetrics> = [row("a"), tagged]
            .into_iter()
            .map(|row| ServiceMetrics {
                row,
                state: SchedulerState::Idle,
                totals: RunTotals::default(),
                errors: vec![("TIMEOUT".into(), 2)],
                skips: Vec::new(),
            })
            .collect();
        let samples = |text: &str| {
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(String::from)
                .collect();
            lines.sort();
            lines
        };
        let mut files = render_fleet_file(5_000);
        assert!(files.starts_with(LAYOUT_PREFIX), "{files}");
        for s in &services {
            let text = render_service(s, 5_000);
            let mut helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP")).collect();
            let all = helps.len();
            helps.dedup();
            assert_eq!(all, helps.len(), "each family once");
            assert!(
                all >= 9,
                "every family of a service that has not run yet: {all}"
            );
            files.push_str(&text);
        }
        let one = render(&Fleet {
            generated_ms: 5_000,
            services,
        });
        assert_eq!(samples(&one), samples(&files));
        assert_eq!(layout_line(), layout_line(), "stable");
        assert_eq!(service_file_name("ab-1"), "syncfleet-svc-ab-1.prom");
    }
}
