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
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Everything a backend needs to render one service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub service_id: String,
    pub binary_path: PathBuf,
    pub data_dir: PathBuf,
    pub workspace_root: PathBuf,
    pub interval_seconds: u64,
    /// Upper bound for one whole run (all stages, retries included).
    pub run_timeout_seconds: u64,
    pub token: TokenPlacement,
    pub stdout_log: PathBuf,
    pub stderr_log: PathBuf,
}

impl ServiceSpec {
    /// The argv the scheduler runs.
    pub fn run_argv(&self) -> Vec<String> {
        vec![
            self.binary_path.to_string_lossy().into_owned(),
            "--robot".into(),
            "run".into(),
            "--service-id".into(),
            self.service_id.clone(),
        ]
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

/// A stable offset in `0..window` seconds derived from the service id, so
/// that a fleet's services spread their start times the same way on every
/// render (a random delay would change the artifacts and every run).
pub fn spread_offset_seconds(service_id: &str, window: u64) -> u64 {
    let digest = Sha256::digest(service_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % window.max(1)
}

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

pub trait Scheduler {
    fn kind(&self) -> SchedulerKind;
    /// Where this scheduler can put the token the user asked to place
    /// (`wanted`). Most take it as asked.
    fn token_placement(&self, wanted: TokenPlacement) -> TokenPlacement {
        wanted
    }
    /// When the first scheduled run happens after install, for people.
    fn first_run(&self, interval_seconds: u64) -> String;
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
    /// The command line the installed artifact runs, parsed back.
    fn installed_command(&self, service_id: &str) -> Option<Vec<String>>;
    /// The content of one installed artifact as the scheduler has it: the
    /// file by default; cron overrides it to read its block back from the
    /// crontab, which is what actually runs.
    fn read_installed(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
    fn prerequisites(&self) -> Vec<Check>;
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
        run_timeout_seconds: 1500,
        token,
        stdout_log: "/data/services/abc123/logs/scheduler-stdout.log".into(),
        stderr_log: "/data/services/abc123/logs/scheduler-stderr.log".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::spread_offset_seconds;

    #[test]
    fn spread_offsets_are_stable_and_within_their_window() {
        // Literal values: a change here reschedules every installed fleet.
        assert_eq!(spread_offset_seconds("abc123", 45), 7);
        assert_eq!(spread_offset_seconds("abc123", 1), 0);
        assert_eq!(spread_offset_seconds("abc123", 0), 0);
        for id in ["a", "b", "c", "0123456789ab"] {
            assert!(spread_offset_seconds(id, 300) < 300);
        }
    }
}
