//! Where things live: the data directory layout (ARCHITECTURE.md), and the
//! user's home/config directories, all derived from the environment once.

use std::path::{Path, PathBuf};

/// The data directory and every path inside it.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// `--data-dir`/`SYNCFLEET_DATA_DIR`, else `$XDG_DATA_HOME/syncfleet`,
    /// else `~/.local/share/syncfleet`. Relative overrides are made absolute
    /// because the path is written into scheduler artifacts.
    pub fn resolve(override_dir: Option<&Path>, env: &Env) -> Self {
        let root = match override_dir {
            Some(dir) => absolute(dir),
            None => env.xdg_data_home().join("syncfleet"),
        };
        DataDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn registry_path(&self) -> PathBuf {
        self.root.join("registry.db")
    }
    /// Markers of services whose last registry write failed: the next
    /// reader imports just those (see `index`).
    pub fn registry_pending_dir(&self) -> PathBuf {
        self.root.join("registry-pending")
    }
    pub fn services_dir(&self) -> PathBuf {
        self.root.join("services")
    }
    pub fn service_dir(&self, id: &str) -> PathBuf {
        self.services_dir().join(id)
    }
    pub fn manifest_path(&self, id: &str) -> PathBuf {
        self.service_dir(id).join("manifest.json")
    }
    pub fn status_path(&self, id: &str) -> PathBuf {
        self.service_dir(id).join("status.json")
    }
    pub fn runs_path(&self, id: &str) -> PathBuf {
        self.service_dir(id).join("runs.jsonl")
    }
    pub fn env_path(&self, id: &str) -> PathBuf {
        self.service_dir(id).join("env")
    }
    pub fn wrapper_path(&self, id: &str) -> PathBuf {
        self.service_dir(id).join("run.sh")
    }
    pub fn logs_dir(&self, id: &str) -> PathBuf {
        self.service_dir(id).join("logs")
    }
    pub fn service_log_path(&self, id: &str) -> PathBuf {
        self.logs_dir(id).join("service.log")
    }
    /// Where the scheduler appends the `run` process's own stdout/stderr.
    pub fn scheduler_log_path(&self, id: &str, stream: &str) -> PathBuf {
        self.logs_dir(id).join(format!("scheduler-{stream}.log"))
    }
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
    pub fn admin_lock_path(&self, id: &str) -> PathBuf {
        self.locks_dir().join(format!("admin-{id}.lock"))
    }
    pub fn pipeline_lock_path(&self, group: &str) -> PathBuf {
        self.locks_dir()
            .join(format!("pipeline-{}.lock", lock_file_stem(group)))
    }

    /// Ids of every service directory (installed or not), sorted.
    pub fn service_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.services_dir())
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                entry.file_type().ok()?.is_dir().then_some(())?;
                entry.file_name().into_string().ok()
            })
            .collect();
        ids.sort();
        ids
    }
}

/// Lock groups are user-chosen strings; keep file names tame.
fn lock_file_stem(group: &str) -> String {
    group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The environment values syncfleet reads, captured once so that commands
/// and tests agree on HOME and the XDG directories.
#[derive(Debug, Clone)]
pub struct Env {
    pub home: PathBuf,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Self {
        let non_empty = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        Env {
            home: non_empty("HOME").unwrap_or_else(|| PathBuf::from("/")),
            xdg_data_home: non_empty("XDG_DATA_HOME"),
            xdg_config_home: non_empty("XDG_CONFIG_HOME"),
        }
    }

    pub fn xdg_data_home(&self) -> PathBuf {
        self.xdg_data_home
            .clone()
            .unwrap_or_else(|| self.home.join(".local/share"))
    }

    pub fn xdg_config_home(&self) -> PathBuf {
        self.xdg_config_home
            .clone()
            .unwrap_or_else(|| self.home.join(".config"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_design() {
        let d = DataDir::new("/d");
        assert_eq!(
            d.manifest_path("abc"),
            Path::new("/d/services/abc/manifest.json")
        );
        assert_eq!(
            d.status_path("abc"),
            Path::new("/d/services/abc/status.json")
        );
        assert_eq!(d.runs_path("abc"), Path::new("/d/services/abc/runs.jsonl"));
        assert_eq!(d.env_path("abc"), Path::new("/d/services/abc/env"));
        assert_eq!(d.wrapper_path("abc"), Path::new("/d/services/abc/run.sh"));
        assert_eq!(
            d.service_log_path("abc"),
            Path::new("/d/services/abc/logs/service.log")
        );
        assert_eq!(
            d.admin_lock_path("abc"),
            Path::new("/d/locks/admin-abc.lock")
        );
        assert_eq!(
            d.pipeline_lock_path("lore db/x"),
            Path::new("/d/locks/pipeline-lore_db_x.lock")
        );
        assert_eq!(d.registry_path(), Path::new("/d/registry.db"));
    }

    #[test]
    fn default_data_dir_follows_xdg_then_home() {
        let mut env = Env {
            home: "/h".into(),
            xdg_data_home: None,
            xdg_config_home: None,
        };
        assert_eq!(
            DataDir::resolve(None, &env).root(),
            Path::new("/h/.local/share/syncfleet")
        );
        env.xdg_data_home = Some("/x".into());
        assert_eq!(
            DataDir::resolve(None, &env).root(),
            Path::new("/x/syncfleet")
        );
        assert_eq!(
            DataDir::resolve(Some(Path::new("/o")), &env).root(),
            Path::new("/o")
        );
    }
}
