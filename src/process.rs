//! Running external commands (systemctl, crontab, launchctl, hooks,
//! token checks) with a timeout that kills and reaps: no zombie, no
//! process left behind, and output drained concurrently so a chatty
//! command cannot deadlock on a full pipe.

use crate::error::{Error, Result};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Captured {
    pub code: Option<i32>,
    pub stdout: String,
    /// stdout as bytes, for callers that must hand it back unchanged
    /// (a user's crontab need not be UTF-8).
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
    pub timed_out: bool,
}

impl Captured {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
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

/// Run and capture. Err only when the program cannot be started.
pub fn capture(
    command: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<Captured> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(());
        status
    });
    let timed_out = rx.recv_timeout(timeout).is_err();
    if timed_out {
        kill_process_group(pid);
    }
    let status = waiter.join().expect("waiter thread")?;
    let stdout_bytes = out.join().unwrap_or_default();
    Ok(Captured {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        timed_out,
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
    let shown = display_command(program, args);
    let captured = capture(Command::new(program).args(args), stdin, timeout)
        .map_err(|e| Error::command_failed(&shown, None, &e.to_string()))?;
    if captured.timed_out {
        return Err(Error::command_failed(
            &shown,
            None,
            &format!("timed out after {}s and was killed", timeout.as_secs()),
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
    fn pid_alive_for_self_not_for_nonsense() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }
}
