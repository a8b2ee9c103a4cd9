//! Waiting helpers for tests, one copy for both kinds: the unit tests use
//! it as `crate::testkit`, the integration tests include this file by path
//! (`tests/common/mod.rs`). A test waits for a condition with a deadline,
//! never for a fixed time, and a check that needs /proc never passes just
//! because /proc is missing.
#![allow(dead_code)] // each crate that includes it uses a different part

// The includer's `syncfleet::process::pid_alive`: kill with signal 0, which
// needs no /proc and counts a zombie as alive.
use super::pid_alive;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

/// Poll `done` until it holds or `limit` has passed; whether it held.
pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// The pid a test process wrote to `file` (written whole, e.g. via a
/// rename), waiting up to 10 s for it.
#[track_caller]
pub fn pid_from_file(file: &Path) -> u32 {
    let mut pid = None;
    let read = wait_for(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        pid.is_some()
    });
    assert!(read, "{} was never written", file.display());
    pid.unwrap_or_default()
}

/// Whether `pid` is a zombie (exited, not yet reaped): read from /proc,
/// and false where /proc cannot tell, so that a zombie then counts as a
/// live process and a check that a process is gone fails rather than
/// passes by accident.
pub fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

/// Whether `pid` runs: it exists and is no zombie.
pub fn process_running(pid: u32) -> bool {
    pid_alive(pid) && !is_zombie(pid)
}

/// Wait up to `limit` for `pid` to stop running; true when it did.
pub fn wait_until_gone(pid: u32, limit: Duration) -> bool {
    wait_for(limit, || !process_running(pid))
}
