//! The shared context a command runs in, built once by the dispatcher.

use crate::cli::GlobalArgs;
use crate::config::WorkspaceConfig;
use crate::error::Result;
use crate::output::Ui;
use crate::paths::{DataDir, Env};
use crate::policy::{Clock, FixedClock, SystemClock};
use crate::registry::Registry;
use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::Duration;

pub struct Context {
    pub global: GlobalArgs,
    pub env: Env,
    pub data_dir: DataDir,
    pub cwd: PathBuf,
    pub ui: Ui,
    pub clock: Box<dyn Clock>,
    /// How long registry writes wait for another writer: short on the run
    /// path, where the registry is best-effort.
    pub registry_busy: Duration,
    /// Opened on first use: commands that need no registry never open it.
    registry: OnceCell<Result<Registry>>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Context {
        let env = Env::from_process();
        let data_dir = DataDir::resolve(global.data_dir.as_deref(), &env);
        let ui = Ui::new(global.robot, global.color, global.quiet);
        Context {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            global,
            env,
            data_dir,
            ui,
            clock: clock_from_env(),
            registry_busy: crate::registry::DEFAULT_BUSY_TIMEOUT,
            registry: OnceCell::new(),
        }
    }

    /// The registry, opened (and migrated) once per process.
    pub fn registry(&self) -> Result<&Registry> {
        self.registry
            .get_or_init(|| {
                Registry::open_with_timeout(
                    &self.data_dir.registry_path(),
                    self.registry_busy,
                    self.clock(),
                )
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn now_iso(&self) -> String {
        self.clock.now_iso()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The workspace config: `--config`/`SYNCFLEET_CONFIG`, else found
    /// upward from the current directory.
    pub fn workspace(&self) -> Result<WorkspaceConfig> {
        match &self.global.config {
            Some(path) => WorkspaceConfig::load(&self.cwd.join(path)),
            None => WorkspaceConfig::discover(&self.cwd),
        }
    }
}

/// The environment variable that stops the clock at an RFC 3339 instant,
/// so that tests can assert exact times (jj's `JJ_TIMESTAMP` does the same).
pub const NOW_VAR: &str = "SYNCFLEET_NOW";

/// A clock stopped at `SYNCFLEET_NOW` when it is set, else the system
/// clock. A value that is not an RFC 3339 time is ignored with a warning:
/// running on the real time is safer than refusing to run.
fn clock_from_env() -> Box<dyn Clock> {
    let Some(value) = std::env::var(NOW_VAR).ok().filter(|v| !v.is_empty()) else {
        return Box::new(SystemClock);
    };
    match chrono::DateTime::parse_from_rfc3339(&value) {
        Ok(at) => Box::new(FixedClock(at.timestamp_millis())),
        Err(e) => {
            tracing::warn!(value, error = %e, "{NOW_VAR} is not an RFC 3339 time; using the system clock");
            Box::new(SystemClock)
        }
    }
}
