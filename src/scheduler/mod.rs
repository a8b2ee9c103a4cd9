//! Scheduler backends behind one trait. Each renders its artifacts as
//! strings (pure), installs/activates them, reports state and checks its
//! prerequisites. External commands go through `process::run_checked`.

pub mod systemd;

use crate::doctor_checks::Check;
use crate::error::{Error, ErrorCode, Result};
use crate::paths::Env;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    Systemd,
}

impl SchedulerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerKind::Systemd => "systemd",
        }
    }

    pub fn parse(s: &str) -> Result<SchedulerKind> {
        match s {
            "systemd" => Ok(SchedulerKind::Systemd),
            other => Err(Error::new(
                ErrorCode::Unsupported,
                format!("scheduler '{other}' is not supported by this build of syncfleet"),
            )
            .with_suggestion("Use --scheduler systemd.")),
        }
    }

    /// The OS default.
    pub fn default_for_os() -> Result<SchedulerKind> {
        if cfg!(target_os = "linux") {
            Ok(SchedulerKind::Systemd)
        } else {
            Err(Error::new(
                ErrorCode::Unsupported,
                "no scheduler backend for this operating system yet",
            )
            .with_suggestion("syncfleet schedules with systemd user timers on Linux."))
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
}

impl TokenPlacement {
    pub fn source_name(&self) -> &'static str {
        match self {
            TokenPlacement::None | TokenPlacement::EnvFile { .. } => "env_file",
            TokenPlacement::Embedded { .. } => "embedded",
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

pub trait Scheduler {
    fn kind(&self) -> SchedulerKind;
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
    fn prerequisites(&self) -> Vec<Check>;
    /// Safe repair doctor --fix may apply (e.g. daemon-reload).
    fn safe_fix(&self) -> Option<(String, Result<()>)> {
        None
    }
}

pub fn backend(kind: SchedulerKind, env: &Env) -> Box<dyn Scheduler> {
    match kind {
        SchedulerKind::Systemd => Box::new(systemd::Systemd::new(env)),
    }
}

/// Read back the artifacts of an installed service and hash them like
/// `spec_hash`; None when any is missing.
pub fn on_disk_hash(paths: &[PathBuf]) -> Option<String> {
    let artifacts = paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p).ok().map(|content| Artifact {
                path: p.clone(),
                content,
                mode: 0,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(spec_hash(&artifacts))
}
