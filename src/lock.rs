//! Kernel advisory locks (flock): a crashed holder never leaves a stale
//! lock. The holder writes its pid and start time into the file, for
//! diagnostics only.

use crate::error::{Error, ErrorCode, Result};
use crate::policy::Clock;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        crate::fsutil::create_dirs(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| Error::io("open lock", path, e))
}

/// Overwrite the note in place, then cut what is left of a longer one.
/// Never truncated to 0 first: that frees the file's block, and a freed
/// block costs a synchronous discard on a filesystem mounted with
/// `discard` (a run takes four locks).
fn stamp(file: &mut File, clock: &dyn Clock) {
    let started_at = chrono::DateTime::from_timestamp_millis(clock.now_ms())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let note = format!("pid={} started_at={started_at}\n", std::process::id());
    let _ = file.seek(SeekFrom::Start(0));
    if file.write_all(note.as_bytes()).is_ok()
        && file.metadata().is_ok_and(|m| m.len() > note.len() as u64)
    {
        let _ = file.set_len(note.len() as u64);
    }
}

/// Take the lock if it is free; Ok(None) when another process holds it.
/// The holder's note says when it took the lock, by `clock`.
pub fn try_acquire(path: &Path, clock: &dyn Clock) -> Result<Option<LockGuard>> {
    let mut file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => {
            stamp(&mut file, clock);
            Ok(Some(LockGuard {
                file,
                path: path.to_path_buf(),
            }))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
    }
}

/// Wait up to `timeout` for the lock; a LOCKED error naming the holder after.
pub fn acquire_within(
    path: &Path,
    timeout: Duration,
    what: &str,
    clock: &dyn Clock,
) -> Result<LockGuard> {
    let deadline = Instant::now() + timeout;
    const FIRST_PAUSE: Duration = Duration::from_millis(2);
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(guard) = try_acquire(path, clock)? {
            return Ok(guard);
        }
        if Instant::now() >= deadline {
            return Err(locked_error(path, what));
        }
        if pause == FIRST_PAUSE {
            tracing::debug!(lock = %path.display(), what, "waiting for the lock");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

pub fn locked_error(path: &Path, what: &str) -> Error {
    let holder = holder_note(path)
        .map(|h| format!(" (held by {h})"))
        .unwrap_or_default();
    Error::new(
        ErrorCode::Locked,
        format!("{what} is locked{holder}: {}", path.display()),
    )
    .with_suggestion("Wait for the other syncfleet process to finish, then retry.")
}

/// The holder's diagnostic note, e.g. `pid=123 started_at=…`.
pub fn holder_note(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim().to_string();
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::FixedClock;

    /// 2026-01-01T00:00:00Z.
    const CLOCK: FixedClock = FixedClock(1_767_225_600_000);

    #[test]
    fn second_acquire_fails_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/pipeline-x.lock");
        let guard = try_acquire(&path, &CLOCK).unwrap().expect("free lock");
        assert!(try_acquire(&path, &CLOCK).unwrap().is_none());
        assert_eq!(
            holder_note(&path).unwrap(),
            format!("pid={} started_at=2026-01-01T00:00:00Z", std::process::id())
        );
        let err =
            acquire_within(&path, Duration::from_millis(20), "the pipeline", &CLOCK).unwrap_err();
        assert_eq!(err.code, ErrorCode::Locked);
        assert!(err.message.contains("held by pid="), "{}", err.message);
        drop(guard);
        assert!(try_acquire(&path, &CLOCK).unwrap().is_some());
    }

    #[test]
    fn a_shorter_note_replaces_a_longer_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        std::fs::write(
            &path,
            "pid=123456789 started_at=1999-01-01T00:00:00Z and more\n",
        )
        .unwrap();
        drop(try_acquire(&path, &CLOCK).unwrap().expect("free lock"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "pid={} started_at=2026-01-01T00:00:00Z\n",
                std::process::id()
            )
        );
    }
}
