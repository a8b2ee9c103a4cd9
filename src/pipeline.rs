//! Running a workspace's stages: each a subprocess in the workspace root,
//! in its own process group, with a timeout that kills the whole group;
//! output appended to the service log with run/stage headers; results read
//! by the stage outcome contract (`classify`). One jittered in-run retry
//! for a transient core-stage failure.

use crate::classify::{self, StageExit};
use crate::config::{Profile, Stage, WorkspaceConfig};
use crate::policy::{JitterRng, is_permanent_code};
use crate::store::status::StageResult;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The service log rotates at this size, keeping LOG_KEEP old files.
pub const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
pub const LOG_KEEP: u32 = 5;
const REDACTED: &str = "[REDACTED]";
/// Longest line kept for classification and messages.
const MAX_LINE: usize = 4096;

/// Shared, line-oriented writer to the service log; redacts secrets.
#[derive(Clone)]
pub struct ServiceLog {
    file: Option<Arc<Mutex<File>>>,
    secrets: Arc<Vec<String>>,
}

impl ServiceLog {
    /// Open (append) the log, rotating it first when it is over the limit.
    /// A log that cannot be opened is not fatal: the run goes on unlogged.
    pub fn open(path: &Path, secrets: Vec<String>) -> ServiceLog {
        if let Some(dir) = path.parent() {
            let _ = crate::fsutil::create_dirs(dir);
        }
        rotate_if_needed(path, LOG_ROTATE_BYTES, LOG_KEEP);
        let file = crate::fsutil::open_append(path)
            .map_err(
                |e| tracing::warn!(path = %path.display(), error = %e, "cannot open service log"),
            )
            .ok()
            .map(|f| Arc::new(Mutex::new(f)));
        ServiceLog {
            file,
            secrets: Arc::new(secrets.into_iter().filter(|s| !s.is_empty()).collect()),
        }
    }

    pub fn disabled() -> ServiceLog {
        ServiceLog {
            file: None,
            secrets: Arc::new(Vec::new()),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |acc, secret| {
            acc.replace(secret.as_str(), REDACTED)
        })
    }

    pub fn line(&self, text: &str) {
        if let Some(file) = &self.file {
            let mut line = self.redact(text);
            line.push('\n');
            if let Ok(mut f) = file.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

/// service.log → .1 → … → .keep; the oldest is dropped.
pub fn rotate_if_needed(path: &Path, limit: u64, keep: u32) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.len() < limit {
        return;
    }
    let numbered = |n: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        std::path::PathBuf::from(p)
    };
    let _ = std::fs::remove_file(numbered(keep));
    for n in (1..keep).rev() {
        let _ = std::fs::rename(numbered(n), numbered(n + 1));
    }
    let _ = std::fs::rename(path, numbered(1));
}

/// Everything a pipeline run needs besides the stages.
pub struct PipelineRun<'a> {
    pub config: &'a WorkspaceConfig,
    pub profile: Profile,
    pub service_id: &'a str,
    /// Extra environment for every stage (e.g. the token from the env file).
    pub env: Vec<(String, String)>,
    pub log: &'a ServiceLog,
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl PipelineRun<'_> {
    /// Run the profile's stages in order. A core stage failing with a
    /// permanent error stops the pipeline: later stages could only fail
    /// the same way (bad token, bad config).
    pub fn run(&self, rng: &mut dyn JitterRng) -> Vec<StageResult> {
        let mut results = Vec::new();
        for stage in self.config.stages_for(self.profile) {
            let result = self.run_with_retry(stage, rng);
            let stop = !result.success
                && !stage.optional
                && result.error_code.as_deref().is_some_and(is_permanent_code);
            results.push(result);
            if stop {
                self.log.line(&format!(
                    "{} pipeline stopped: core stage '{}' failed permanently",
                    now_iso(),
                    stage.name
                ));
                break;
            }
        }
        results
    }

    fn run_with_retry(&self, stage: &Stage, rng: &mut dyn JitterRng) -> StageResult {
        let first = self.run_once(stage, 1);
        let retryable = !first.success
            && !stage.optional
            && !first.error_code.as_deref().is_some_and(is_permanent_code);
        if !retryable {
            return first;
        }
        let (min, max) = self.config.retry_delay_ms;
        let delay = min + ((max - min) as f64 * rng.next_f64()) as u64;
        self.log.line(&format!(
            "{} stage '{}' failed transiently ({}); retrying once in {} ms",
            now_iso(),
            stage.name,
            first.error_code.as_deref().unwrap_or("?"),
            delay
        ));
        std::thread::sleep(Duration::from_millis(delay));
        let mut second = self.run_once(stage, 2);
        second.duration_seconds += first.duration_seconds;
        second
    }

    fn run_once(&self, stage: &Stage, attempt: u32) -> StageResult {
        let log = self.log;
        log.line(&format!(
            "{} --- stage {} (attempt {attempt}) started: {}",
            now_iso(),
            stage.name,
            stage.command.join(" ")
        ));
        let started = Instant::now();
        let (exit, last_out, last_err) = self.spawn_and_wait(stage);
        let elapsed = started.elapsed().as_secs_f64();
        let mut result = match &exit {
            StageExit::Exited(0) => StageResult::succeeded(
                &stage.name,
                stage.optional,
                classify::items_updated(last_out.as_deref()),
            ),
            _ => {
                let c = classify::classify_failure(
                    &exit,
                    last_out.as_deref(),
                    last_err.as_deref(),
                    &stage.permanent_exit_codes,
                );
                let mut r = StageResult::failed(
                    &stage.name,
                    stage.optional,
                    &c.code,
                    &log.redact(&c.message),
                );
                r.retry_after_seconds = c.retry_after_seconds;
                r
            }
        };
        result.exit_code = match exit {
            StageExit::Exited(code) => Some(code),
            _ => None,
        };
        result.attempts = attempt;
        result.duration_seconds = elapsed;
        log.line(&format!(
            "{} --- stage {} (attempt {attempt}) {} in {:.3}s{}",
            now_iso(),
            stage.name,
            if result.success {
                "succeeded"
            } else {
                "failed"
            },
            elapsed,
            result
                .error_code
                .as_ref()
                .map(|c| format!(": {c}: {}", result.error.as_deref().unwrap_or("")))
                .unwrap_or_default()
        ));
        result
    }

    /// Spawn the stage, stream its output to the log, enforce the timeout.
    /// Returns how it ended and its last non-empty stdout/stderr lines.
    fn spawn_and_wait(&self, stage: &Stage) -> (StageExit, Option<String>, Option<String>) {
        // "./script" means the workspace's script, whatever our own cwd.
        let program = Path::new(&stage.command[0]);
        let program = if program.is_relative() && program.components().count() > 1 {
            self.config.root.join(program)
        } else {
            program.to_path_buf()
        };
        let mut command = Command::new(&program);
        command
            .args(&stage.command[1..])
            .current_dir(&self.config.root)
            .env("SYNCFLEET_SERVICE_ID", self.service_id)
            .env("SYNCFLEET_STAGE", &stage.name)
            .env("SYNCFLEET_PROFILE", self.profile.as_str())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        isolate(&mut command);
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                let reason = format!("cannot run '{}': {e}", stage.command[0]);
                self.log.line(&format!("{} {reason}", now_iso()));
                return (StageExit::SpawnFailed(reason), None, None);
            }
        };
        let pid = child.id();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .zip(["out", "err"])
        .map(|(pipe, stream)| {
            let log = self.log.clone();
            let name = stage.name.clone();
            let done = done_tx.clone();
            let (last_tx, last_rx) = mpsc::channel::<Option<String>>();
            std::thread::spawn(move || {
                let last = pipe
                    .map(|p| stream_lines(p, &log, &name, stream))
                    .unwrap_or(None);
                let _ = last_tx.send(last);
                let _ = done.send(());
            });
            last_rx
        })
        .collect();
        drop(done_tx);

        let (status_tx, status_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = status_tx.send(child.wait());
        });
        let timeout = Duration::from_millis(stage.timeout_ms);
        let exit = match status_rx.recv_timeout(timeout) {
            Ok(status) => exit_of(status),
            Err(_) => {
                crate::process::kill_process_group(pid);
                let _ = status_rx.recv();
                self.log.line(&format!(
                    "{} stage {} timed out after {} ms; killed its process group",
                    now_iso(),
                    stage.name,
                    stage.timeout_ms
                ));
                StageExit::TimedOut {
                    after_ms: stage.timeout_ms,
                }
            }
        };
        // A daemonized grandchild may keep a pipe open forever: give the
        // readers a moment, then classify with what they have.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut pending = 2;
        while pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
            pending -= 1;
        }
        let mut lasts = readers.into_iter().map(|rx| rx.try_recv().ok().flatten());
        let last_out = lasts.next().flatten().map(|l| self.log.redact(&l));
        let last_err = lasts.next().flatten().map(|l| self.log.redact(&l));
        (exit, last_out, last_err)
    }
}

fn stream_lines(
    pipe: Box<dyn Read + Send>,
    log: &ServiceLog,
    stage: &str,
    stream: &str,
) -> Option<String> {
    let mut reader = BufReader::new(pipe);
    let mut last = None;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let text = text.trim_end_matches(['\n', '\r']);
                log.line(&format!("[{stage}:{stream}] {text}"));
                if !text.trim().is_empty() {
                    let mut kept = text.to_string();
                    if kept.len() > MAX_LINE {
                        let mut cut = MAX_LINE;
                        while !kept.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        kept.truncate(cut);
                    }
                    last = Some(kept);
                }
            }
        }
    }
    last
}

fn exit_of(status: std::io::Result<std::process::ExitStatus>) -> StageExit {
    match status {
        Ok(s) => match s.code() {
            Some(code) => StageExit::Exited(code),
            None => {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    StageExit::Signaled(s.signal().unwrap_or(0))
                }
                #[cfg(not(unix))]
                StageExit::Signaled(0)
            }
        },
        Err(e) => StageExit::SpawnFailed(format!("wait failed: {e}")),
    }
}

/// Own process group (so a timeout kills the stage's children too), and on
/// Linux a parent-death signal: a runner killed with SIGKILL must not leave
/// its stage running into the next run.
fn isolate(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches
        // no memory of the parent.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(|| {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG_FILE_NAME;

    struct Fixed(f64);
    impl JitterRng for Fixed {
        fn next_f64(&mut self) -> f64 {
            self.0
        }
    }

    fn config(dir: &Path, stages: &str) -> WorkspaceConfig {
        let path = dir.join(CONFIG_FILE_NAME);
        std::fs::write(
            &path,
            format!(r#"{{"retry_delay": {{"min": "0s", "max": "10ms"}}, "stages": {stages}}}"#),
        )
        .unwrap();
        WorkspaceConfig::load(&path).unwrap()
    }

    fn run(cfg: &WorkspaceConfig, log: &ServiceLog, profile: Profile) -> Vec<StageResult> {
        PipelineRun {
            config: cfg,
            profile,
            service_id: "svc",
            env: vec![("SECRET_TOKEN".into(), "s3cr3t".into())],
            log,
        }
        .run(&mut Fixed(0.5))
    }

    #[test]
    fn stages_run_in_the_workspace_with_env_and_items() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            r#"[
            {"name": "a", "command": ["sh", "-c", "pwd > where; echo \"$SYNCFLEET_SERVICE_ID $SYNCFLEET_STAGE $SYNCFLEET_PROFILE\" > env; echo '{\"items_updated\": 7}'"]},
            {"name": "b", "command": ["sh", "-c", "exit 1"], "optional": true, "profile": "balanced"},
            {"name": "c", "command": ["true"], "profile": "full"}
        ]"#,
        );
        let log_path = dir.path().join("logs/service.log");
        let log = ServiceLog::open(&log_path, vec![]);
        let results = run(&cfg, &log, Profile::Balanced);
        assert_eq!(results.len(), 2);
        assert!(results[0].success);
        assert_eq!(results[0].items_updated, 7);
        assert!(!results[1].success && results[1].optional);
        assert_eq!(results[1].attempts, 1, "optional stages are not retried");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("env")).unwrap(),
            "svc a balanced\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("where"))
                .unwrap()
                .trim(),
            cfg.root.to_str().unwrap()
        );
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(text.contains("--- stage a (attempt 1) started"), "{text}");
        assert!(text.contains("[a:out] {\"items_updated\": 7}"), "{text}");
    }

    #[test]
    fn transient_core_failure_is_retried_once_permanent_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            r#"[
            {"name": "flaky", "command": ["sh", "-c", "if [ -e once ]; then exit 0; fi; touch once; exit 1"]},
            {"name": "auth", "command": ["sh", "-c", "echo denied >&2; exit 77"]},
            {"name": "never", "command": ["touch", "never-ran"]}
        ]"#,
        );
        let results = run(&cfg, &ServiceLog::disabled(), Profile::Fast);
        assert!(results[0].success);
        assert_eq!(results[0].attempts, 2);
        assert!(!results[1].success);
        assert_eq!(results[1].attempts, 1);
        assert_eq!(results[1].error_code.as_deref(), Some("AUTH_FAILED"));
        assert_eq!(results[1].error.as_deref(), Some("denied"));
        assert_eq!(
            results.len(),
            2,
            "a permanent core failure stops the pipeline"
        );
        assert!(!dir.path().join("never-ran").exists());
    }

    #[test]
    fn timeout_kills_the_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            r#"[{"name": "hang", "command": ["sh", "-c", "sleep 60 & echo $! > child; sleep 60"], "timeout": "300ms", "optional": false}]"#,
        );
        let start = Instant::now();
        let results = run(&cfg, &ServiceLog::disabled(), Profile::Fast);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(results[0].error_code.as_deref(), Some("TIMEOUT"));
        assert_eq!(
            results[0].attempts, 2,
            "a timeout is transient: retried once"
        );
        let child: u32 = std::fs::read_to_string(dir.path().join("child"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !crate::process::pid_alive(child) || is_zombie(child),
            "grandchild {child} survived"
        );
    }

    fn is_zombie(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    }

    #[test]
    fn missing_program_is_command_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            r#"[{"name": "x", "command": ["/nonexistent/tool"]}]"#,
        );
        let results = run(&cfg, &ServiceLog::disabled(), Profile::Fast);
        assert_eq!(results[0].error_code.as_deref(), Some("COMMAND_NOT_FOUND"));
        assert_eq!(results[0].attempts, 1);
    }

    #[test]
    fn secrets_are_redacted_from_log_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            r#"[{"name": "leak", "command": ["sh", "-c", "echo token is $SECRET_TOKEN; echo bad $SECRET_TOKEN >&2; exit 77"]}]"#,
        );
        let log_path = dir.path().join("service.log");
        let log = ServiceLog::open(&log_path, vec!["s3cr3t".into()]);
        let results = run(&cfg, &log, Profile::Fast);
        assert_eq!(results[0].error.as_deref(), Some("bad [REDACTED]"));
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("token is [REDACTED]"));
    }

    #[test]
    fn rotation_keeps_five() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.log");
        for i in 0..8 {
            std::fs::write(&path, format!("gen {i} ")).unwrap();
            rotate_if_needed(&path, 1, 5);
        }
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("service.log.1")).unwrap(),
            "gen 7 "
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("service.log.5")).unwrap(),
            "gen 3 "
        );
        assert!(!dir.path().join("service.log.6").exists());
    }
}
