//! The one hermetic test harness: every test gets a temp HOME, XDG dirs and
//! data dir, a PATH whose first entry holds fake `systemctl`/`loginctl`,
//! `crontab`, `launchctl` and `schtasks` (their state in the temp dir), and
//! drives the real binary. Nothing touches the real home or scheduler.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
// What testkit takes from its includer.
use syncfleet::process::pid_alive;

/// The waiting helpers the unit tests use too: wait for a condition with a
/// deadline, pids from files, whether a process is gone.
#[path = "../../src/testkit.rs"]
mod testkit;
#[allow(unused_imports)] // not every test file waits for something
pub use testkit::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_syncfleet");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The configurable test stage (`fixtures/stages/stage.sh MODE ARGS…`).
pub fn stage_script() -> String {
    repo()
        .join("fixtures/stages/stage.sh")
        .display()
        .to_string()
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub extra_env: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
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
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("sf-test-")
            .tempdir()
            .unwrap();
        for sub in ["home", "config", "share", "data", "fake-systemctl"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        TestEnv {
            dir,
            extra_env: Vec::new(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }
    pub fn unit_dir(&self) -> PathBuf {
        self.path("config/systemd/user")
    }
    /// Where the fake `crontab` keeps the user's crontab.
    pub fn crontab_path(&self) -> PathBuf {
        self.path("crontab")
    }
    pub fn service_dir(&self, id: &str) -> PathBuf {
        self.data_dir().join("services").join(id)
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.extra_env.retain(|(key, _)| key != k);
        self.extra_env.push((k.to_string(), v.to_string()));
    }

    /// A command with a cleared environment pointing everything at the
    /// temp dir.
    pub fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(cwd)
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    repo().join("tests/fake-bin").display()
                ),
            )
            .env("HOME", self.home())
            .env("USER", "tester")
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("share"))
            .env("SYNCFLEET_DATA_DIR", self.data_dir())
            .env("FAKE_SYSTEMCTL_DIR", self.path("fake-systemctl"))
            .env("FAKE_CRONTAB_FILE", self.crontab_path())
            .env("FAKE_LAUNCHD_DIR", self.path("fake-launchd"))
            .env("FAKE_SCHTASKS_DIR", self.path("fake-schtasks"))
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        c
    }

    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        self.command(cwd, args).output().unwrap().into()
    }

    /// Run in the temp root (no workspace there).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(self.dir.path(), args)
    }

    /// `-J` run in `cwd`, returning the envelope.
    pub fn json_in(&self, cwd: &Path, args: &[&str]) -> Value {
        let mut full = vec!["-J"];
        full.extend_from_slice(args);
        self.run_in(cwd, &full).json()
    }

    /// `-J` run outside any workspace.
    pub fn json(&self, args: &[&str]) -> Value {
        self.json_in(self.dir.path(), args)
    }

    /// Create a workspace with the given `stages` JSON (and extra top-level
    /// keys) and return its root.
    pub fn workspace(&self, name: &str, stages: &str, extra: &str) -> PathBuf {
        let root = self.path(&format!("ws/{name}"));
        std::fs::create_dir_all(&root).unwrap();
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("{extra},")
        };
        std::fs::write(
            root.join("syncfleet.json"),
            format!(
                r#"{{{extra} "projects": [{}], "retry_delay": {{"min": "0s", "max": "20ms"}}, "stages": {stages}}}"#,
                serde_json::to_string(&format!("https://gitlab.example.com/{name}")).unwrap()
            ),
        )
        .unwrap();
        root
    }

    /// `-J install` in `ws` with `extra` flags, which must succeed; the
    /// installed service's id.
    #[track_caller]
    pub fn install_in(&self, ws: &Path, extra: &[&str]) -> String {
        let mut args = vec!["install"];
        args.extend_from_slice(extra);
        let v = self.json_in(ws, &args);
        assert_eq!(v["ok"], true, "{v}");
        v["data"]["service_id"].as_str().unwrap().to_string()
    }

    /// The scheduler's `run` of a service, which always exits 0; its
    /// envelope (run always prints one).
    #[track_caller]
    pub fn run_service(&self, id: &str) -> Value {
        let r = self.run(&["run", "--service-id", id]);
        assert_eq!(r.code, 0, "run always exits 0: {}", r.stderr);
        r.json()
    }

    pub fn manifest(&self, id: &str) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.service_dir(id).join("manifest.json")).unwrap(),
        )
        .unwrap()
    }

    /// The fake crontab ("" when there is none).
    pub fn crontab(&self) -> String {
        std::fs::read_to_string(self.crontab_path()).unwrap_or_default()
    }

    /// The service's systemd unit files that exist.
    pub fn unit_files(&self, id: &str) -> Vec<PathBuf> {
        ["service", "timer"]
            .iter()
            .map(|s| self.unit_dir().join(format!("syncfleet-{id}.{s}")))
            .filter(|p| p.exists())
            .collect()
    }

    /// Whether the fake user manager has the service's timer enabled.
    pub fn timer_enabled(&self, id: &str) -> bool {
        self.path(&format!("fake-systemctl/enabled/syncfleet-{id}.timer"))
            .exists()
    }

    /// The fake systemctl's recorded calls.
    pub fn systemctl_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("fake-systemctl/calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn status_file(&self, id: &str) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.service_dir(id).join("status.json")).unwrap(),
        )
        .unwrap()
    }

    pub fn write_status(&self, id: &str, v: &Value) {
        std::fs::write(
            self.service_dir(id).join("status.json"),
            serde_json::to_string_pretty(v).unwrap(),
        )
        .unwrap();
    }

    /// Whether a registry-pending marker names the service (markers are
    /// `<id>.<unique>`; a bare `<id>` is an older one).
    pub fn pending_marker(&self, id: &str) -> bool {
        std::fs::read_dir(self.data_dir().join("registry-pending"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name == id || name.starts_with(&format!("{id}."))
            })
    }

    /// Every file under the temp root, as (path, bytes), for leak checks.
    pub fn all_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if let Ok(b) = std::fs::read(&p) {
                    out.push((p, b));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

/// The `data` of a successful robot envelope.
#[track_caller]
pub fn data_of(r: &Run) -> Value {
    let v = r.json();
    assert_eq!(v["ok"], true, "{v}\nstderr: {}", r.stderr);
    v["data"].clone()
}

/// The error of a robot envelope that failed with exit status `code` and
/// error code `name`.
#[track_caller]
pub fn error_of(r: &Run, code: i32, name: &str) -> Value {
    assert_eq!(r.code, code, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["error"]["code"], name, "{v}");
    v["error"].clone()
}

/// A fleet doctor's report on one service.
#[track_caller]
pub fn doctor_service<'a>(doctor: &'a Value, id: &str) -> &'a Value {
    doctor["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_id"] == id)
        .unwrap_or_else(|| panic!("no service {id} in {doctor}"))
}

/// The check called `name` among `report["checks"]` (a doctor report, or
/// one service of a fleet doctor's).
pub fn named_check<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

/// A stage JSON object running the test stage script.
pub fn stage(name: &str, mode_and_args: &[&str], extra: &str) -> String {
    let mut cmd = vec![format!("\"{}\"", stage_script())];
    cmd.extend(mode_and_args.iter().map(|a| format!("\"{a}\"")));
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        r#"{{"name": "{name}", "command": [{}]{extra}}}"#,
        cmd.join(", ")
    )
}

pub fn stages(list: &[String]) -> String {
    format!("[{}]", list.join(", "))
}

/// Whether an external tool a test needs is on PATH. When it is not, the
/// test prints why it skips and returns; `.ci/run` installs every such
/// tool and sets `SYNCFLEET_REQUIRE_TOOLS=1`, which turns a skip into a
/// failure so CI can never pass by skipping.
pub fn tool_available(tool: &str, why: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let p = dir.join(tool);
            p.is_file()
                && std::fs::metadata(&p)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                    .unwrap_or(false)
        })
    });
    if !found {
        assert!(
            std::env::var("SYNCFLEET_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{tool} is required here (SYNCFLEET_REQUIRE_TOOLS=1) for {why}"
        );
        eprintln!("SKIP: {tool} is not installed ({why}); .ci/run installs it");
    }
    found
}

/// SIGKILL a process this test started (cleanup; by pid, never by name).
pub fn kill_pid(pid: u32) {
    // SAFETY: kill(2) takes no pointers.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Write an executable (0755) script, e.g. a stage that records what it did.
pub fn write_executable(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
