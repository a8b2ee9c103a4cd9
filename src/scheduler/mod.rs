//! Scheduler backends behind one trait. Each renders its artifacts as
//! strings (pure), installs/activates them, reports state and checks its
//! prerequisites. External commands go through `process::run_checked`.

pub mod cron;
pub mod launchd;
pub mod schtasks;
pub mod systemd;
pub mod wrapper;

use crate::doctor_checks::Check;
use crate::error::{Error, ErrorCode, Result};
use crate::paths::Env;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    Systemd,
    Launchd,
    Schtasks,
    Cron,
}

impl SchedulerKind {
    pub const ALL: [SchedulerKind; 4] = [
        SchedulerKind::Systemd,
        SchedulerKind::Launchd,
        SchedulerKind::Schtasks,
        SchedulerKind::Cron,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerKind::Systemd => "systemd",
            SchedulerKind::Launchd => "launchd",
            SchedulerKind::Schtasks => "schtasks",
            SchedulerKind::Cron => "cron",
        }
    }

    /// The name recorded in a manifest's `platform`.
    pub fn parse(s: &str) -> Result<SchedulerKind> {
        SchedulerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Unsupported,
                    format!("scheduler '{s}' is not supported by this build of syncfleet"),
                )
                .with_suggestion("Use --scheduler systemd, launchd, schtasks or cron.")
            })
    }

    /// The OS default: systemd on Linux, launchd on macOS, schtasks on
    /// Windows, and cron on the other Unixes (the one scheduler they share).
    pub fn default_for_os() -> Result<SchedulerKind> {
        if cfg!(target_os = "linux") {
            Ok(SchedulerKind::Systemd)
        } else if cfg!(target_os = "macos") {
            Ok(SchedulerKind::Launchd)
        } else if cfg!(windows) {
            Ok(SchedulerKind::Schtasks)
        } else if cfg!(unix) {
            Ok(SchedulerKind::Cron)
        } else {
            Err(Error::new(
                ErrorCode::Unsupported,
                "no scheduler backend for this operating system",
            )
            .with_suggestion("syncfleet schedules with systemd, launchd, schtasks or cron."))
        }
    }
}

/// How the stage token reaches the scheduled run.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenPlacement {
    /// The workspace needs no token.
    None,
    /// A 0600 `VAR=value` file the scheduler (or wrapper) loads.
    EnvFile { var: String, path: PathBuf },
    /// The value written into the artifact itself (install warns).
    Embedded { var: String, value: String },
    /// The scheduler passes the user's own environment (Windows Task
    /// Scheduler): the user sets the variable, syncfleet stores nothing.
    SystemEnv { var: String },
}

impl TokenPlacement {
    /// The manifest's `token_source` values.
    pub const ENV_FILE: &'static str = "env_file";
    pub const EMBEDDED: &'static str = "embedded";
    pub const SYSTEM_ENV: &'static str = "system_env";

    pub fn source_name(&self) -> &'static str {
        match self {
            TokenPlacement::None | TokenPlacement::EnvFile { .. } => Self::ENV_FILE,
            TokenPlacement::Embedded { .. } => Self::EMBEDDED,
            TokenPlacement::SystemEnv { .. } => Self::SYSTEM_ENV,
        }
    }
}

/// The argv every scheduler runs for a service: the one place it is
/// spelled, so install renders it and status checks it the same way.
pub fn run_argv(binary_path: &str, service_id: &str) -> Vec<String> {
    vec![
        binary_path.to_string(),
        "--robot".into(),
        "run".into(),
        "--service-id".into(),
        service_id.to_string(),
    ]
}

/// Everything a backend needs to render one service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub service_id: String,
    pub binary_path: PathBuf,
    pub data_dir: PathBuf,
    pub workspace_root: PathBuf,
    /// The interval; for a calendar, its typical period (backoff and
    /// overdue checks use it).
    pub interval_seconds: u64,
    /// Set: the service runs on this calendar instead of the interval.
    pub calendar: Option<crate::schedule::CalendarSchedule>,
    /// Upper bound for one whole run (all stages, retries included).
    pub run_timeout_seconds: u64,
    pub token: TokenPlacement,
    pub stdout_log: PathBuf,
    pub stderr_log: PathBuf,
}

impl ServiceSpec {
    /// The argv the scheduler runs.
    pub fn run_argv(&self) -> Vec<String> {
        run_argv(&self.binary_path.to_string_lossy(), &self.service_id)
    }

    pub fn sync_command(&self) -> String {
        self.run_argv().join(" ")
    }
}

/// A generated file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    pub path: PathBuf,
    pub content: String,
    #[serde(skip)]
    pub mode: u32,
}

/// SHA-256 over every artifact's path and content, in order.
pub fn spec_hash(artifacts: &[Artifact]) -> String {
    let mut h = Sha256::new();
    for a in artifacts {
        h.update(a.path.to_string_lossy().as_bytes());
        h.update(b"\0");
        h.update(a.content.as_bytes());
        h.update(b"\0");
    }
    hex::encode(h.finalize())
}

pub use crate::schedule::spread_offset_seconds;

/// What the OS scheduler says about one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformState {
    /// Known to the scheduler and set to fire.
    pub loaded: bool,
    /// Short human word: active, inactive, not-found, unknown…
    pub state: String,
    /// The next firing as the scheduler prints it, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    /// The same instant, when the scheduler's words could be read as one.
    #[serde(skip)]
    pub next_run_ms: Option<i64>,
    /// Why the state could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PlatformState {
    /// What the scheduler said, without a next firing time.
    pub fn known(loaded: bool, state: impl Into<String>) -> PlatformState {
        PlatformState {
            loaded,
            state: state.into(),
            next_run: None,
            next_run_ms: None,
            error: None,
        }
    }

    /// The scheduler could not be asked.
    pub fn unknown(error: impl Into<String>) -> PlatformState {
        PlatformState {
            error: Some(error.into()),
            ..PlatformState::known(false, "unknown")
        }
    }
}

/// What one backend has on this machine, by service id: a description of
/// each artifact found (a file path, a crontab block, a task), whether or
/// not a manifest knows the service.
pub type ArtifactListing = BTreeMap<String, Vec<String>>;

/// What removing one service's artifacts from one backend did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Removal {
    /// The schedule that was stopped, for people (e.g. "crontab block …").
    pub schedules: Vec<String>,
    /// The files that were deleted.
    pub files: Vec<String>,
    /// What could not be done and may still be there.
    pub warnings: Vec<String>,
}

pub trait Scheduler {
    fn kind(&self) -> SchedulerKind;
    /// Where this scheduler can put the token the user asked to place
    /// (`wanted`). Most take it as asked.
    fn token_placement(&self, wanted: TokenPlacement) -> TokenPlacement {
        wanted
    }
    /// When the first scheduled run happens after install, for people.
    fn first_run(&self, spec: &ServiceSpec) -> String;
    /// Render the artifacts for a service (pure).
    fn render(&self, spec: &ServiceSpec) -> Result<Vec<Artifact>>;
    /// Paths of the artifacts a service of this id has, rendered or not.
    fn artifact_paths(&self, service_id: &str) -> Vec<PathBuf>;
    /// The commands `activate` would run, for --dry-run.
    fn planned_commands(&self, service_ids: &[&str]) -> Vec<String>;
    /// After the artifacts are on disk: reload once, enable each.
    fn activate(&self, service_ids: &[&str]) -> Result<()>;
    /// Stop and disable one service (its files are removed by the caller).
    fn deactivate(&self, service_id: &str) -> Result<()>;
    /// Make the scheduler forget removed artifacts.
    fn reload(&self) -> Result<()>;
    fn state(&self, service_id: &str) -> PlatformState;
    /// The state of each of many services, by id. A backend whose
    /// scheduler can report many at once asks it once: a fleet command
    /// asking one by one spawns a process per service (10,000 services,
    /// 10,000 `systemctl show`). By default, one `state` per service.
    fn states(&self, service_ids: &[&str]) -> HashMap<String, PlatformState> {
        service_ids
            .iter()
            .map(|id| (id.to_string(), self.state(id)))
            .collect()
    }
    /// The command line the installed artifact runs, parsed back.
    fn installed_command(&self, service_id: &str) -> Option<Vec<String>>;
    /// The content of one installed artifact as the scheduler has it: the
    /// file by default; cron overrides it to read its block back from the
    /// crontab, which is what actually runs.
    fn read_installed(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
    /// The bytes written for one rendered artifact: its text as UTF-8 by
    /// default; schtasks writes UTF-16, the encoding `schtasks /xml` reads.
    fn file_bytes(&self, artifact: &Artifact) -> Vec<u8> {
        artifact.content.as_bytes().to_vec()
    }
    fn prerequisites(&self) -> Vec<Check>;
    /// How a service's schedule is named on this scheduler, for people.
    fn schedule_label(&self, service_id: &str) -> String;
    /// Every service with an artifact of this backend here, manifest or
    /// not (orphans of a killed install or a deleted manifest, second
    /// schedules). A scheduler whose tool is not installed here has no
    /// artifacts: that is an empty listing, not an error.
    fn list_artifacts(&self) -> Result<ArtifactListing>;
    /// Remove one service's artifacts knowing only its id: deactivate its
    /// schedule, then delete its files. The caller reloads the scheduler.
    fn remove_artifacts(&self, service_id: &str) -> Result<Removal> {
        remove_artifacts_by_default(self, service_id)
    }
    /// Safe repair doctor --fix may apply (e.g. daemon-reload).
    fn safe_fix(&self) -> Option<(String, Result<()>)> {
        None
    }
}

pub fn backend(kind: SchedulerKind, env: &Env) -> Box<dyn Scheduler> {
    match kind {
        SchedulerKind::Systemd => Box::new(systemd::Systemd::new(env)),
        SchedulerKind::Launchd => Box::new(launchd::Launchd::new(env)),
        SchedulerKind::Schtasks => Box::new(schtasks::Schtasks::new(env)),
        SchedulerKind::Cron => Box::new(cron::Cron::new(env)),
    }
}

/// `Scheduler::remove_artifacts` as most backends do it: deactivate the
/// schedule, then delete the files `artifact_paths` names.
pub fn remove_artifacts_by_default<S: Scheduler + ?Sized>(
    backend: &S,
    service_id: &str,
) -> Result<Removal> {
    let mut out = Removal::default();
    let label = backend.schedule_label(service_id);
    let was_scheduled = backend.state(service_id).loaded;
    match backend.deactivate(service_id) {
        Ok(()) if was_scheduled => out.schedules.push(label),
        Ok(()) => {}
        // Deactivating what is not scheduled fails on most schedulers:
        // only a schedule that is still there afterwards matters. Its
        // files stay: a schedule that may still fire must stay visible to
        // doctor's listing (and to a switch that must undo itself).
        Err(e) if was_scheduled || backend.state(service_id).loaded => {
            out.warnings.push(format!(
                "could not stop {label} (it may still fire): {}",
                e.message
            ));
            return Ok(out);
        }
        Err(_) => {}
    }
    remove_artifact_files(backend, service_id, &mut out)?;
    Ok(out)
}

/// Delete a service's artifact files, noting each one deleted.
pub fn remove_artifact_files<S: Scheduler + ?Sized>(
    backend: &S,
    service_id: &str,
    out: &mut Removal,
) -> Result<()> {
    for p in backend.artifact_paths(service_id) {
        if crate::fsutil::remove_if_exists(&p).map_err(|e| Error::io("remove", &p, e))? {
            out.files.push(p.display().to_string());
        }
    }
    Ok(())
}

const OWNER_TAG_PREFIX: &str = "syncfleet-data-dir: ";

/// The line (a comment in each format) that says which data directory an
/// artifact's service belongs to, by a hash of its path: two data
/// directories may hold services of one id on one machine (two users of
/// `--data-dir`, the end-to-end suites), and one's fleet commands must
/// never take the other's schedule for a second schedule or an orphan.
pub fn owner_tag(data_dir: &Path) -> String {
    let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = hex::encode(Sha256::digest(canonical.to_string_lossy().as_bytes()));
    format!("{OWNER_TAG_PREFIX}{}", &digest[..16])
}

/// The owner tag the installed artifacts of a service carry, when any does
/// (artifacts rendered before tags, and scheduled tasks, carry none).
pub fn installed_owner(backend: &dyn Scheduler, service_id: &str) -> Option<String> {
    backend
        .artifact_paths(service_id)
        .iter()
        .filter_map(|p| backend.read_installed(p))
        .find_map(|content| {
            content.lines().find_map(|line| {
                let at = line.find(OWNER_TAG_PREFIX)?;
                let hash: String = line[at + OWNER_TAG_PREFIX.len()..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                Some(format!("{OWNER_TAG_PREFIX}{hash}"))
            })
        })
}

/// Every backend's artifacts on this machine, listed once for a fleet
/// command (fleet doctor, `uninstall --all`).
#[derive(Debug, Default)]
pub struct Inventory {
    /// Service id → the backends with its artifacts, and what each has.
    pub by_service: BTreeMap<String, BTreeMap<SchedulerKind, Vec<String>>>,
    /// Backends whose artifacts could not be listed, and why.
    pub errors: Vec<(SchedulerKind, Error)>,
}

impl Inventory {
    /// List every backend (each lists only what is on this machine),
    /// leaving out the artifacts that carry another data directory's owner
    /// tag: they are another fleet's, never this one's to report or remove.
    pub fn take(env: &Env, data_dir: &Path) -> Inventory {
        let mut inventory = Inventory::default();
        let ours = owner_tag(data_dir);
        for kind in SchedulerKind::ALL {
            let backend = backend(kind, env);
            match backend.list_artifacts() {
                Ok(listing) => {
                    for (id, what) in listing {
                        if installed_owner(backend.as_ref(), &id).is_some_and(|tag| tag != ours) {
                            continue;
                        }
                        inventory
                            .by_service
                            .entry(id)
                            .or_default()
                            .insert(kind, what);
                    }
                }
                Err(e) => inventory.errors.push((kind, e)),
            }
        }
        inventory
    }

    /// The backends that have artifacts of this service.
    pub fn kinds_of(&self, service_id: &str) -> Vec<SchedulerKind> {
        self.by_service
            .get(service_id)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// What a backend has of this service (empty when nothing).
    pub fn found(&self, service_id: &str, kind: SchedulerKind) -> &[String] {
        self.by_service
            .get(service_id)
            .and_then(|m| m.get(&kind))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every backend with an artifact of any service.
    pub fn kinds_in_use(&self) -> Vec<SchedulerKind> {
        let mut kinds: Vec<SchedulerKind> = self
            .by_service
            .values()
            .flat_map(|m| m.keys().copied())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// The ids a directory holds as `<prefix><id><suffix>` files (dangling
/// symlinks included: an enable link whose unit is gone is a leftover
/// too), with their paths; nothing when the directory does not exist.
pub(crate) fn ids_in_dir(dir: &Path, prefix: &str, suffix: &str, into: &mut ArtifactListing) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
            crate::identity::is_valid_service_id(id).then(|| (id.to_string(), e.path()))
        })
        .collect();
    found.sort();
    for (id, path) in found {
        into.entry(id).or_default().push(path.display().to_string());
    }
}

/// Read back the artifacts of an installed service as the scheduler has
/// them and hash them like `spec_hash`; None when any is missing.
pub fn installed_hash(backend: &dyn Scheduler, paths: &[PathBuf]) -> Option<String> {
    let artifacts = paths
        .iter()
        .map(|p| {
            backend.read_installed(p).map(|content| Artifact {
                path: p.clone(),
                content,
                mode: 0,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(spec_hash(&artifacts))
}

/// Refuse values an artifact cannot carry (line breaks, NUL and the other
/// C0 controls but tab): every backend writes line-oriented text.
fn reject_unrepresentable(scheduler: &str, what: &str, value: &str) -> Result<()> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Error::invalid_argument(format!(
            "{what} contains a line break or control character, which a {scheduler} artifact cannot represent"
        ))
        .with_suggestion(
            "Use paths and token values without control characters (move the workspace or data directory, or rotate the token).",
        ));
    }
    Ok(())
}

/// The text of the service's identifying values a backend writes, checked
/// with `reject_unrepresentable` once for all backends.
pub fn check_spec(scheduler: &str, spec: &ServiceSpec) -> Result<()> {
    for (what, value) in [
        ("the data directory path", spec.data_dir.to_string_lossy()),
        ("the workspace path", spec.workspace_root.to_string_lossy()),
        ("the binary path", spec.binary_path.to_string_lossy()),
        ("the log path", spec.stdout_log.to_string_lossy()),
        ("the log path", spec.stderr_log.to_string_lossy()),
    ] {
        reject_unrepresentable(scheduler, what, &value)?;
    }
    if let TokenPlacement::Embedded { value, .. } = &spec.token {
        reject_unrepresentable(scheduler, "the token", value)?;
    }
    if let TokenPlacement::EnvFile { path, .. } = &spec.token {
        reject_unrepresentable(scheduler, "the env file path", &path.to_string_lossy())?;
    }
    Ok(())
}

/// The service spec the backends' unit tests render.
#[cfg(test)]
pub(crate) fn test_spec(token: TokenPlacement) -> ServiceSpec {
    ServiceSpec {
        service_id: "abc123".into(),
        binary_path: "/usr/local/bin/syncfleet".into(),
        data_dir: "/data".into(),
        workspace_root: "/work/space".into(),
        interval_seconds: 900,
        calendar: None,
        run_timeout_seconds: 1500,
        token,
        stdout_log: "/data/services/abc123/logs/scheduler-stdout.log".into(),
        stderr_log: "/data/services/abc123/logs/scheduler-stderr.log".into(),
    }
}
