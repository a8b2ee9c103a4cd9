//! The one way syncfleet runs an external command: stages, hooks, token
//! checks and scheduler tools (systemctl, crontab, launchctl, schtasks) all
//! go through [`spawn`]. It owns the whole life of the process:
//!
//! - its own process group, so a timeout or the end of the command kills
//!   everything it started in that group (no process left behind);
//! - optionally a *guardian* (see [`Options::guard`]): when syncfleet
//!   itself dies, even by SIGKILL, the command's whole group is killed, so
//!   no stage outlives its runner and overlaps the next run;
//! - output read concurrently (a chatty command cannot deadlock on a full
//!   pipe) into bounded sinks, whatever the command prints;
//! - a drain deadline after exit: a daemonised grandchild (`setsid … &`)
//!   may keep a pipe open forever, and must not hang the caller;
//! - reaping: no zombie.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long output is still read after the command has exited: enough for
/// the kernel to hand over what is buffered, short enough that a daemonised
/// grandchild holding the pipe cannot hang the run.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Most bytes [`capture`] keeps per stream; what comes after is dropped
/// and flagged (`Captured::truncated`).
pub const CAPTURE_CAP: usize = 16 * 1024 * 1024;

/// Where one output stream of a command goes, chunk by chunk. A sink must
/// keep its memory bounded whatever the command prints.
pub trait Sink: Send + 'static {
    type Output;
    fn write(&mut self, chunk: &[u8]);
    /// The stream ended (or the caller stopped waiting for it).
    fn finish(&mut self) -> Self::Output;
}

/// Discards everything.
pub struct Discard;

impl Sink for Discard {
    type Output = ();
    fn write(&mut self, _chunk: &[u8]) {}
    fn finish(&mut self) {}
}

/// Keeps the first `cap` bytes.
pub struct Head {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Head {
    pub fn new(cap: usize) -> Head {
        Head {
            buf: Vec::new(),
            cap,
            truncated: false,
        }
    }
}

impl Sink for Head {
    /// The bytes kept, and whether more were dropped.
    type Output = (Vec<u8>, bool);
    fn write(&mut self, chunk: &[u8]) {
        let room = self.cap.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.truncated |= chunk.len() > room;
    }
    fn finish(&mut self) -> (Vec<u8>, bool) {
        (std::mem::take(&mut self.buf), self.truncated)
    }
}

/// How to run a command.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    /// Bytes fed on stdin (then closed); None: stdin is /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// Reading output stops this long after the command exited.
    pub drain_grace: Duration,
    /// Kill the command's process group if syncfleet dies while it runs
    /// (stages, hooks). Costs one `sh` per command, so scheduler tools,
    /// which start nothing lasting, go without.
    pub guard: bool,
}

impl Options {
    pub fn new(timeout: Duration) -> Options {
        Options {
            timeout,
            stdin: None,
            drain_grace: DRAIN_GRACE,
            guard: false,
        }
    }
}

/// How a command ended, with what its sinks made of its output.
#[derive(Debug)]
pub struct Finished<O, E> {
    /// Exit status; None when killed by a signal.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Killed by the timeout.
    pub timed_out: bool,
    /// A stream was still open at the drain deadline (a daemonised
    /// grandchild holds it); its sink has what arrived until then.
    pub abandoned_output: bool,
    pub stdout: O,
    pub stderr: E,
}

/// Run `command` to completion under `options`, its stdout and stderr
/// going to the sinks. Err only when the program cannot be started.
pub fn spawn<O: Sink, E: Sink>(
    command: &mut Command,
    options: &Options,
    stdout: O,
    stderr: E,
) -> std::io::Result<Finished<O::Output, E::Output>> {
    command
        .stdin(if options.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The guardian first, and the command joins the guardian's group: from
    // the moment the command exists its group is guarded, so there is no
    // window in which a dying syncfleet leaves it behind.
    let guardian = options.guard.then(Guardian::start).flatten();
    isolate(command, guardian.as_ref().map(Guardian::pgid));
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            if let Some(g) = guardian {
                g.stand_down();
            }
            return Err(e);
        }
    };
    let pid = child.id();
    let group = guardian.as_ref().map_or(pid, Guardian::pgid);
    if let (Some(input), Some(mut pipe)) = (options.stdin.clone(), child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let out = read_into(child.stdout.take(), stdout, done_tx.clone());
    let err = read_into(child.stderr.take(), stderr, done_tx);

    let (timed_out, status) = wait_with_timeout(child, group, options.timeout);
    // The command is gone; whatever it left running in its group goes too
    // (the guardian with it, when it shares the group).
    kill_process_group(group);
    if let Some(g) = guardian {
        g.stand_down();
    }
    let deadline = Instant::now() + options.drain_grace;
    let mut open = 2;
    while open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
        open -= 1;
    }
    let (code, signal) = match &status {
        Ok(s) => (s.code(), signal_of(s)),
        Err(_) => (None, None),
    };
    Ok(Finished {
        code,
        signal,
        timed_out,
        abandoned_output: open > 0,
        stdout: finish(&out),
        stderr: finish(&err),
    })
}

/// A sink shared with its reader thread: after the drain deadline the
/// caller finishes it while the reader may still be blocked on the pipe.
type Shared<S> = Arc<Mutex<S>>;

fn read_into<S: Sink>(
    pipe: Option<impl Read + Send + 'static>,
    sink: S,
    done: mpsc::Sender<()>,
) -> Shared<S> {
    let shared = Arc::new(Mutex::new(sink));
    let reader_side = Arc::clone(&shared);
    std::thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => match reader_side.lock() {
                        Ok(mut sink) => sink.write(&buf[..n]),
                        Err(_) => break,
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let _ = done.send(());
    });
    shared
}

fn finish<S: Sink>(shared: &Shared<S>) -> S::Output {
    match shared.lock() {
        Ok(mut sink) => sink.finish(),
        Err(poisoned) => poisoned.into_inner().finish(),
    }
}

/// Wait for the child, killing its group at the timeout. Returns whether
/// it timed out, and its (reaped) exit status.
fn wait_with_timeout(
    mut child: Child,
    pid: u32,
    timeout: Duration,
) -> (bool, std::io::Result<std::process::ExitStatus>) {
    let (tx, rx) = mpsc::channel();
    // The waiter owns the child: waiting and reaping happen in one place.
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(());
        status
    });
    let timed_out = rx.recv_timeout(timeout).is_err();
    if timed_out {
        kill_process_group(pid);
    }
    let status = waiter
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("waiter thread panicked")));
    (timed_out, status)
}

fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal()
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        None
    }
}

/// A process group of its own (so killing the group reaches the command's
/// children), or the guardian's group `guarded_by`; when guarded, on Linux,
/// also a parent-death signal for the command itself.
fn isolate(command: &mut Command, guarded_by: Option<u32>) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(guarded_by.map_or(0, |pgid| pgid as i32));
    }
    #[cfg(target_os = "linux")]
    if guarded_by.is_some() {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches
        // no memory of the parent. It fires when the spawning *thread*
        // exits; `spawn` waits for the child on that same thread.
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
    #[cfg(not(target_os = "linux"))]
    let _ = guarded_by;
}

/// A tiny `sh` that leads a process group the command then joins, holding
/// the read end of a pipe whose write end only syncfleet has. A normal end
/// writes a line and the guardian exits quietly; if syncfleet dies first,
/// however it dies, the kernel closes the pipe, `read` sees end-of-file,
/// and the guardian kills its whole group: the command and everything it
/// started that did not leave the group.
struct Guardian {
    child: Child,
}

impl Guardian {
    fn start() -> Option<Guardian> {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            let child = Command::new("/bin/sh")
                .args(["-c", "read -r _ || kill -s KILL 0", "syncfleet-guardian"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| tracing::warn!(error = %e, "cannot start the process guardian"))
                .ok()?;
            Some(Guardian { child })
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// The group the guarded command joins: the guardian leads it.
    fn pgid(&self) -> u32 {
        self.child.id()
    }

    /// The command is over: let the guardian go without killing anything.
    fn stand_down(mut self) {
        if let Some(mut pipe) = self.child.stdin.take() {
            let _ = pipe.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct Captured {
    pub code: Option<i32>,
    pub stdout: String,
    /// stdout as bytes, for callers that must hand it back unchanged
    /// (a user's crontab need not be UTF-8).
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
    pub timed_out: bool,
    /// stdout or stderr was longer than `CAPTURE_CAP` and was cut.
    pub truncated: bool,
}

impl Captured {
    /// Exit 0 in time, with all its output: a cut output (a crontab, a
    /// listing) must never be taken for the whole.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out && !self.truncated
    }
}

/// The program to run for a scheduler tool (`crontab`, `launchctl`,
/// `schtasks`): `SYNCFLEET_<TOOL>` when set, else the tool's name. Tests
/// point it at a fake, so no test touches the machine's real scheduler.
pub fn scheduler_program(tool: &str) -> String {
    std::env::var(format!("SYNCFLEET_{}", tool.to_ascii_uppercase()))
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| tool.to_string())
}

/// A command line for messages: program and args, space-separated.
pub fn display_command(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run and capture both streams (each up to `CAPTURE_CAP` bytes). Err only
/// when the program cannot be started.
pub fn capture(
    command: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<Captured> {
    capture_with(
        command,
        &Options {
            stdin: stdin.map(<[u8]>::to_vec),
            ..Options::new(timeout)
        },
    )
}

/// `capture` with full options (e.g. `guard` for hooks and token checks).
pub fn capture_with(command: &mut Command, options: &Options) -> std::io::Result<Captured> {
    let f = spawn(
        command,
        options,
        Head::new(CAPTURE_CAP),
        Head::new(CAPTURE_CAP),
    )?;
    let ((stdout_bytes, out_cut), (stderr_bytes, err_cut)) = (f.stdout, f.stderr);
    Ok(Captured {
        code: f.code,
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr: String::from_utf8_lossy(&stderr_bytes).into_owned(),
        timed_out: f.timed_out,
        truncated: out_cut || err_cut,
    })
}

/// Run a scheduler command; SERVICE_COMMAND_FAILED with the command, exit
/// status and stderr when it fails or cannot start.
pub fn run_checked(program: &str, args: &[String], timeout: Duration) -> Result<Captured> {
    run_checked_with_input(program, args, None, timeout)
}

/// `run_checked` with bytes fed on stdin (e.g. `crontab -`).
pub fn run_checked_with_input(
    program: &str,
    args: &[String],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Captured> {
    checked(
        Command::new(program).args(args),
        program,
        args,
        stdin,
        timeout,
    )
}

/// `run_checked` with `TZ=UTC`: a tool that prints local times
/// (`systemctl show`'s timestamps) then prints them in UTC, which parse
/// without guessing what a zone abbreviation means.
pub fn run_checked_utc(program: &str, args: &[String], timeout: Duration) -> Result<Captured> {
    checked(
        Command::new(program).args(args).env("TZ", "UTC"),
        program,
        args,
        None,
        timeout,
    )
}

fn checked(
    command: &mut Command,
    program: &str,
    args: &[String],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Captured> {
    let shown = display_command(program, args);
    tracing::debug!(command = %shown, "scheduler command");
    let captured = capture(command, stdin, timeout)
        .map_err(|e| Error::command_failed(&shown, None, &e.to_string()))?;
    if captured.timed_out {
        return Err(Error::command_failed(
            &shown,
            None,
            &format!("timed out after {}s and was killed", timeout.as_secs()),
        ));
    }
    if captured.truncated {
        // A cut crontab or unit listing written back would lose entries.
        return Err(Error::command_failed(
            &shown,
            captured.code,
            &format!("printed more than {CAPTURE_CAP} bytes; its output was not used"),
        ));
    }
    if !captured.success() {
        return Err(Error::command_failed(
            &shown,
            captured.code,
            &captured.stderr,
        ));
    }
    Ok(captured)
}

/// SIGKILL a whole process group (the child was made its leader).
pub fn kill_process_group(pgid: u32) {
    #[cfg(unix)]
    {
        // SAFETY: kill(2) with a negative pid signals the process group; it
        // takes no pointers and the pgid is our own child's.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pgid;
}

/// Whether a process with this pid exists (and we may signal it).
pub fn pid_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        if pid == 0 || pid > i32::MAX as u32 {
            return false;
        }
        // SAFETY: signal 0 performs only the existence/permission check.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{pid_from_file, wait_until_gone};

    #[test]
    fn captures_output_and_status() {
        let c = capture(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            None,
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(c.code, Some(3));
        assert_eq!(c.stdout, "out\n");
        assert_eq!(c.stderr, "err\n");
        assert!(!c.success());
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let start = std::time::Instant::now();
        let c = capture(
            Command::new("sh").args(["-c", "sleep 30 & sleep 30"]),
            None,
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(c.timed_out);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "grandchild must not hold the pipes open"
        );
    }

    #[test]
    fn stdin_is_fed() {
        let c = capture(&mut Command::new("cat"), Some(b"hello"), DEFAULT_TIMEOUT).unwrap();
        assert_eq!(c.stdout, "hello");
    }

    #[test]
    fn run_checked_reports_command_and_stderr() {
        let e = run_checked(
            "sh",
            &["-c".into(), "echo nope >&2; exit 4".into()],
            DEFAULT_TIMEOUT,
        )
        .unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::ServiceCommandFailed);
        assert!(
            e.message.contains("exit 4") && e.message.contains("nope"),
            "{}",
            e.message
        );
        let e = run_checked("/nonexistent/prog", &[], DEFAULT_TIMEOUT).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::ServiceCommandFailed);
    }

    #[test]
    fn a_daemonised_grandchild_holding_the_pipes_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("daemon");
        let start = Instant::now();
        let c = capture(
            Command::new("sh").args([
                "-c",
                // Waits until the daemon is set up: one still starting
                // when its parent exits is killed with the group.
                "setsid sh -c 'echo $$ > \"$1.tmp\"; mv \"$1.tmp\" \"$1\"; exec sleep 60' sh \"$1\" &
                 while [ ! -s \"$1\" ]; do sleep 0.05; done; echo started",
                "sh",
                pidfile.to_str().unwrap(),
            ]),
            None,
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        let daemon = pid_from_file(&pidfile);
        kill_process_group(daemon);
        assert!(c.success(), "{c:?}");
        assert_eq!(c.stdout, "started\n");
        assert!(
            start.elapsed() < DRAIN_GRACE + Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn children_left_in_the_group_are_killed_when_the_command_ends() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg");
        let start = Instant::now();
        let c = capture(
            Command::new("sh").args([
                "-c",
                "sleep 60 > /dev/null 2>&1 & echo $! > \"$1\"",
                "sh",
                pidfile.to_str().unwrap(),
            ]),
            None,
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert!(c.success());
        let bg = pid_from_file(&pidfile);
        assert!(
            wait_until_gone(bg, Duration::from_secs(5)),
            "background child {bg} survived"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn output_beyond_the_cap_is_dropped_and_flagged() {
        let f = spawn(
            Command::new("sh").args(["-c", "head -c 300000 /dev/zero; echo err >&2"]),
            &Options::new(DEFAULT_TIMEOUT),
            Head::new(1000),
            Head::new(1000),
        )
        .unwrap();
        assert_eq!(f.code, Some(0));
        assert_eq!(f.stdout.0.len(), 1000);
        assert!(f.stdout.1, "the cut is flagged");
        assert_eq!(f.stderr, (b"err\n".to_vec(), false));
        let e = run_checked(
            "sh",
            &[
                "-c".into(),
                format!("head -c {} /dev/zero", CAPTURE_CAP + 1),
            ],
            DEFAULT_TIMEOUT,
        )
        .unwrap_err();
        assert!(e.message.contains("was not used"), "{}", e.message);
    }

    #[test]
    fn a_zombie_is_gone_only_where_proc_says_so() {
        use crate::testkit::{is_zombie, process_running, wait_for};
        // Where /proc has no entry, nothing is a zombie: a check that a
        // process is gone cannot pass for want of /proc.
        assert!(!is_zombie(u32::MAX));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let proc_fs = std::path::Path::new("/proc/self/stat").exists();
        if proc_fs {
            assert!(
                wait_for(Duration::from_secs(5), || is_zombie(pid)),
                "an exited, unreaped child is a zombie"
            );
            assert!(pid_alive(pid), "kill(0) still finds the zombie");
            assert!(!process_running(pid));
            assert!(wait_until_gone(pid, Duration::ZERO));
        } else {
            assert!(process_running(pid), "without /proc a zombie runs");
        }
        child.wait().unwrap();
        assert!(!process_running(pid));
    }

    #[test]
    fn pid_alive_for_self_not_for_nonsense() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }
}
