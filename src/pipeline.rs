//! Running a workspace's stages: each a subprocess in the workspace root,
//! in its own process group, with a timeout that kills the whole group;
//! output appended to the service log with run/stage headers; results read
//! by the stage outcome contract (`classify`). One jittered in-run retry
//! for a transient core-stage failure.

use crate::classify::{self, StageExit};
use crate::config::{Profile, Stage, WorkspaceConfig};
use crate::policy::{Clock, JitterRng, is_permanent_code};
use crate::process::{self, Sink};
use crate::redact::Redactor;
use crate::store::status::StageResult;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The service log rotates at this size, keeping LOG_KEEP old files; also
/// during a run, so one run cannot grow it without bound.
pub const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
pub const LOG_KEEP: u32 = 5;
/// Longest line kept for classification and messages.
const MAX_LINE: usize = 4096;
/// A line longer than this reaches the log in pieces of this size: a stage
/// printing one huge line never makes syncfleet hold it whole.
const LOG_PIECE: usize = 64 * 1024;
/// Output logged per stream and attempt of a stage; the rest is counted,
/// not logged, so one chatty stage cannot rotate earlier runs away.
pub const STAGE_LOG_CAP: u64 = 4 * 1024 * 1024;

/// Shared, line-oriented writer to the service log; redacts secrets.
#[derive(Clone)]
pub struct ServiceLog {
    file: Option<Arc<Mutex<LogFile>>>,
    redactor: Arc<Redactor>,
}

struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
}

impl LogFile {
    /// Rotate before a write would take the file over the limit.
    fn write_line(&mut self, line: &[u8]) {
        if self.size > 0 && self.size + line.len() as u64 > LOG_ROTATE_BYTES {
            rotate_if_needed(&self.path, 0, LOG_KEEP);
            match crate::fsutil::open_append(&self.path) {
                Ok(f) => {
                    self.file = f;
                    self.size = 0;
                }
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot reopen service log after rotation");
                }
            }
        }
        if self.file.write_all(line).is_ok() {
            self.size += line.len() as u64;
        }
    }
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
            .map(|file| {
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                Arc::new(Mutex::new(LogFile {
                    path: path.to_path_buf(),
                    file,
                    size,
                }))
            });
        ServiceLog {
            file,
            redactor: Arc::new(Redactor::new(secrets)),
        }
    }

    pub fn disabled() -> ServiceLog {
        ServiceLog {
            file: None,
            redactor: Arc::new(Redactor::default()),
        }
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// One line of the run's story: into the service log, and to -v.
    pub fn line(&self, text: &str) {
        let mut line = self.redact(text);
        tracing::info!("{line}");
        if let Some(file) = &self.file {
            line.push('\n');
            if let Ok(mut f) = file.lock() {
                f.write_line(line.as_bytes());
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
    /// Stamps the log lines.
    pub clock: &'a dyn Clock,
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
                    self.clock.now_iso(),
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
            self.clock.now_iso(),
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
            self.clock.now_iso(),
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
            self.clock.now_iso(),
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

    /// Run the stage through the one spawn helper: its output streamed to
    /// the log, its process group guarded and killed at the timeout.
    /// Returns how it ended and its last non-empty stdout/stderr lines,
    /// redacted and then cut to `MAX_LINE`.
    fn spawn_and_wait(&self, stage: &Stage) -> (StageExit, Option<String>, Option<String>) {
        let mut command = self.stage_command(stage);
        let options = process::Options {
            guard: true,
            ..process::Options::new(Duration::from_millis(stage.timeout_ms))
        };
        let output = |stream| StageOutput::new(self.log.clone(), &stage.name, stream);
        let finished = match process::spawn(&mut command, &options, output("out"), output("err")) {
            Ok(f) => f,
            Err(e) => {
                let reason = format!("cannot run '{}': {e}", stage.command[0]);
                self.log.line(&format!("{} {reason}", self.clock.now_iso()));
                return (StageExit::SpawnFailed(reason), None, None);
            }
        };
        let exit = if finished.timed_out {
            self.log.line(&format!(
                "{} stage {} timed out after {} ms; killed its process group",
                self.clock.now_iso(),
                stage.name,
                stage.timeout_ms
            ));
            StageExit::TimedOut {
                after_ms: stage.timeout_ms,
            }
        } else {
            match (finished.code, finished.signal) {
                (Some(code), _) => StageExit::Exited(code),
                (None, signal) => StageExit::Signaled(signal.unwrap_or(0)),
            }
        };
        (exit, finished.stdout, finished.stderr)
    }

    fn stage_command(&self, stage: &Stage) -> Command {
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
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }
}

/// One output stream of a stage attempt: lines to the service log (long
/// lines in pieces, the stream capped at `STAGE_LOG_CAP`), and the head of
/// the last non-empty line kept for classification. Memory stays bounded
/// whatever the stage prints.
struct StageOutput {
    log: ServiceLog,
    prefix: String,
    /// Not yet logged: the current line, up to `LOG_PIECE` bytes.
    pending: Vec<u8>,
    /// A piece of the current line was already logged.
    continued: bool,
    logged: u64,
    omitted: u64,
    current: LineHead,
    last: Option<LineHead>,
}

/// The first bytes of a line (enough for `MAX_LINE` after redaction),
/// whether it was longer, and whether it has any visible text.
#[derive(Default, Clone)]
struct LineHead {
    bytes: Vec<u8>,
    cut: bool,
    has_text: bool,
}

impl StageOutput {
    fn new(log: ServiceLog, stage: &str, stream: &str) -> StageOutput {
        StageOutput {
            log,
            prefix: format!("[{stage}:{stream}]"),
            pending: Vec::new(),
            continued: false,
            logged: 0,
            omitted: 0,
            current: LineHead::default(),
            last: None,
        }
    }

    /// Bytes of a line kept for classification: a secret straddling
    /// `MAX_LINE` must be whole in the head to be redacted.
    fn head_limit(&self) -> usize {
        MAX_LINE + self.log.redactor().longest()
    }

    fn segment(&mut self, part: &[u8], ends_line: bool) {
        let room = self.head_limit().saturating_sub(self.current.bytes.len());
        self.current
            .bytes
            .extend_from_slice(&part[..room.min(part.len())]);
        self.current.cut |= part.len() > room;
        self.current.has_text |= part.iter().any(|b| !b.is_ascii_whitespace());
        if self.logged < STAGE_LOG_CAP {
            self.pending.extend_from_slice(part);
            while self.pending.len() >= LOG_PIECE {
                self.log_piece();
            }
        } else {
            self.omitted += part.len() as u64 + u64::from(ends_line);
        }
        if ends_line {
            self.end_line();
        }
    }

    /// Log the first `LOG_PIECE` bytes of an unfinished line. Redacted
    /// first; a tail that may be the start of a secret is held back for
    /// the next piece, so a secret split between pieces is still caught.
    fn log_piece(&mut self) {
        let mut cut = LOG_PIECE.min(self.pending.len());
        // Not inside a UTF-8 sequence.
        while cut > 0 && cut < self.pending.len() && (self.pending[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        let text = String::from_utf8_lossy(&self.pending[..cut]).into_owned();
        let mut redacted = self.log.redact(&text);
        let held = self.log.redactor().partial_suffix_len(&redacted);
        let carry = redacted.split_off(redacted.len() - held);
        self.write_log(&redacted);
        let mut rest = carry.into_bytes();
        rest.extend_from_slice(&self.pending[cut..]);
        self.pending = rest;
        self.continued = true;
    }

    fn end_line(&mut self) {
        if self.logged < STAGE_LOG_CAP || !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.write_log(text.trim_end_matches(['\n', '\r']));
        }
        self.pending.clear();
        self.continued = false;
        let line = std::mem::take(&mut self.current);
        if line.has_text {
            self.last = Some(line);
        }
    }

    fn write_log(&mut self, text: &str) {
        let mark = if self.continued { "+" } else { "" };
        self.logged += text.len() as u64 + 1;
        self.log.line(&format!("{}{mark} {text}", self.prefix));
        if self.logged >= STAGE_LOG_CAP {
            self.log.line(&format!(
                "{} (output beyond {} MiB is not logged)",
                self.prefix,
                STAGE_LOG_CAP / (1024 * 1024)
            ));
        }
    }
}

impl Sink for StageOutput {
    /// The last non-empty line: redacted, then cut to `MAX_LINE`.
    type Output = Option<String>;

    fn write(&mut self, mut chunk: &[u8]) {
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            self.segment(&chunk[..nl], true);
            chunk = &chunk[nl + 1..];
        }
        if !chunk.is_empty() {
            self.segment(chunk, false);
        }
    }

    fn finish(&mut self) -> Option<String> {
        if !self.current.bytes.is_empty() || !self.pending.is_empty() {
            self.end_line();
        }
        if self.omitted > 0 {
            self.log.line(&format!(
                "{} {} bytes of output not logged",
                self.prefix, self.omitted
            ));
            self.omitted = 0;
        }
        let line = self.last.take()?;
        let text = String::from_utf8_lossy(&line.bytes);
        let text = text.trim_end_matches(['\n', '\r']);
        Some(
            self.log
                .redactor()
                .redact_then_truncate(text, line.cut, MAX_LINE),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG_FILE_NAME;
    use crate::policy::FixedClock;

    /// 2026-01-01T00:00:00Z: the log lines are stamped by the run's clock.
    const T0: i64 = 1_767_225_600_000;

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
            env: vec![("SECRET_TOKEN".into(), "s3cr3t-t0ken".into())],
            log,
            clock: &FixedClock(T0),
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
        assert!(
            text.contains("2026-01-01T00:00:00.000Z --- stage a (attempt 1) started"),
            "{text}"
        );
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
        let child = crate::testkit::pid_from_file(&dir.path().join("child"));
        assert!(
            crate::testkit::wait_until_gone(child, Duration::from_secs(5)),
            "grandchild {child} survived"
        );
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
        let log = ServiceLog::open(&log_path, vec!["s3cr3t-t0ken".into()]);
        let results = run(&cfg, &log, Profile::Fast);
        assert_eq!(results[0].error.as_deref(), Some("bad [REDACTED]"));
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(!text.contains("s3cr3t-t0ken"), "{text}");
        assert!(text.contains("token is [REDACTED]"));
    }

    /// Feed `text` to a stage output sink in chunks of `chunk` bytes.
    fn sink_output(log: &ServiceLog, text: &[u8], chunk: usize) -> Option<String> {
        let mut sink = StageOutput::new(log.clone(), "s", "err");
        for part in text.chunks(chunk) {
            sink.write(part);
        }
        sink.finish()
    }

    #[test]
    fn a_secret_straddling_the_line_limit_leaks_no_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let token = "glpat-0123456789abcdef";
        let log_path = dir.path().join("service.log");
        let log = ServiceLog::open(&log_path, vec![token.to_string()]);
        for start in MAX_LINE - token.len()..=MAX_LINE + 1 {
            let line = format!("{}{token}{}\n", "x".repeat(start), "y".repeat(3000));
            let kept = sink_output(&log, line.as_bytes(), 1000).unwrap();
            assert!(kept.len() <= MAX_LINE);
            for n in 6..=token.len() {
                assert!(!kept.contains(&token[..n]), "start {start}: {kept}");
            }
        }
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(!text.contains(&token[..6]), "the log leaks a prefix");
    }

    #[test]
    fn a_secret_split_between_log_pieces_is_still_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let token = "glpat-0123456789abcdef";
        let log_path = dir.path().join("service.log");
        let log = ServiceLog::open(&log_path, vec![token.to_string()]);
        // One line, longer than a piece, with the token across each
        // possible piece boundary position nearby.
        for offset in 0..token.len() {
            let line = format!(
                "{}{token}{}\n",
                "x".repeat(LOG_PIECE - offset),
                "y".repeat(LOG_PIECE)
            );
            sink_output(&log, line.as_bytes(), 7919);
        }
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(
            !text.contains(&token[..6]),
            "a piece boundary leaks a prefix"
        );
        assert_eq!(text.matches("[REDACTED]").count(), token.len());
        assert!(text.contains("[s:err]+ "), "continuation pieces are marked");
    }

    #[test]
    fn a_huge_line_is_logged_up_to_the_cap_and_kept_short() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("service.log");
        let log = ServiceLog::open(&log_path, vec![]);
        let mut sink = StageOutput::new(log.clone(), "s", "out");
        let chunk = vec![b'z'; 64 * 1024];
        for _ in 0..(3 * STAGE_LOG_CAP as usize / chunk.len()) {
            sink.write(&chunk);
            assert!(sink.pending.len() <= 2 * LOG_PIECE);
            assert!(sink.current.bytes.len() <= MAX_LINE);
        }
        sink.write(b"\nlast words\n");
        assert_eq!(sink.finish().as_deref(), Some("last words"));
        let size = std::fs::metadata(&log_path).unwrap().len();
        assert!(
            size < STAGE_LOG_CAP + 2 * LOG_PIECE as u64,
            "log grew to {size}"
        );
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(text.contains("is not logged"), "the cap is said");
        assert!(text.contains("bytes of output not logged"));
    }

    #[test]
    fn the_log_rotates_during_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("service.log");
        let log = ServiceLog::open(&log_path, vec![]);
        let line = "w".repeat(1024 * 1024);
        for _ in 0..25 {
            log.line(&line);
        }
        for p in [log_path.clone(), dir.path().join("service.log.1")] {
            let size = std::fs::metadata(&p).unwrap().len();
            assert!(size <= LOG_ROTATE_BYTES, "{} is {size}", p.display());
        }
        assert!(dir.path().join("service.log.2").exists());
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
