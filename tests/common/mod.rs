//! The hermetic test environment: the built binary with a cleared
//! environment, HOME / XDG_* / SYNCFLEET_DATA_DIR in a temp dir, and a
//! fake `systemctl` (and `loginctl`) first on PATH that records its
//! arguments and answers `show` queries as a healthy user manager would.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct TestEnv {
    pub root: tempfile::TempDir,
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    pub fn data(&self) -> Value {
        let v = self.json();
        assert_eq!(v["ok"], true, "{v}\nstderr: {}", self.stderr);
        v["data"].clone()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            status: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "__LOG__"
case "$*" in
  *"show -p Version"*) echo 255 ;;
  *"show -p LoadState"*)
    printf 'LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNextElapseUSecRealtime=\n' ;;
esac
exit 0
"#;

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::tempdir().unwrap();
        let env = TestEnv { root };
        for d in ["home", "config", "data", "bin", "ws"] {
            std::fs::create_dir_all(env.path(d)).unwrap();
        }
        let log = env.path("systemctl.log");
        env.write_exe(
            "bin/systemctl",
            &FAKE_SYSTEMCTL.replace("__LOG__", &log.display().to_string()),
        );
        env.write_exe("bin/loginctl", "#!/bin/sh\necho Linger=yes\n");
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("data/syncfleet")
    }

    pub fn write_exe(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A workspace directory with a one-stage pipeline.
    pub fn workspace(&self, name: &str, tags: &[&str], stage: &[&str]) -> PathBuf {
        let dir = self.path(&format!("ws/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = serde_json::json!({
            "projects": [format!("https://gitlab.example.com/g/{name}")],
            "tags": tags,
            "retry_delay": {"min": "1ms", "max": "2ms"},
            "stages": [{"name": "work", "command": stage}],
        });
        std::fs::write(dir.join("syncfleet.json"), config.to_string()).unwrap();
        dir
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_syncfleet"));
        c.args(args)
            .env_clear()
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("SYNCFLEET_DATA_DIR", self.data_dir())
            .env("USER", "tester")
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("bin").display()),
            )
            .current_dir(self.path("home"))
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().unwrap().into()
    }

    /// `run` in robot mode; asserts ok and returns `data`.
    pub fn ok(&self, args: &[&str]) -> Value {
        let mut full = vec!["--robot"];
        full.extend_from_slice(args);
        let r = self.run(&full);
        let data = r.data();
        assert_eq!(r.status, 0, "{args:?}: {}", r.stdout);
        data
    }

    pub fn systemctl_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("systemctl.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn count_calls(&self, needle: &str) -> usize {
        self.systemctl_calls()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Install workspaces in one batch; returns their service ids.
    pub fn install_all(&self, dirs: &[PathBuf]) -> Vec<String> {
        let mut args = vec!["install".to_string(), "--interval".into(), "5m".into()];
        for d in dirs {
            args.push("--workspace".into());
            args.push(d.display().to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let data = self.ok(&refs);
        data["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["result"]["service_id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_else(|| vec![data["service_id"].as_str().unwrap().to_string()])
    }

    pub fn file_exists(&self, p: &Path) -> bool {
        p.exists()
    }
}
