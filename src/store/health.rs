//! Doctor checks over the state files themselves: lines of runs.jsonl that
//! are not readable runs, and temporary files that interrupted atomic
//! writes left behind. Self-contained so that doctor only calls them.

use crate::doctor_checks::{Check, CheckStatus};
use crate::paths::DataDir;
use crate::store::runs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A `.tmp-*` file younger than this may belong to a writer that is still
/// running (an atomic write lasts milliseconds): only older ones are
/// reported and removed.
pub const TEMP_FILE_MIN_AGE: Duration = Duration::from_secs(3600);

/// The prefix `fsutil::write_atomic` gives its temporary files.
const TEMP_PREFIX: &str = ".tmp-";

/// runs.jsonl of one service: every line a readable run?
pub fn runs_file_check(data_dir: &DataDir, id: &str) -> Check {
    let path = data_dir.runs_path(id);
    let (runs, skipped) = match runs::read_all(&path) {
        Ok(read) => read,
        Err(e) => return Check::fail("history_lines", e.message, e.suggestion.unwrap_or_default()),
    };
    if skipped.corrupt() > 0 {
        return Check::warn(
            "history_lines",
            format!(
                "{} has {} unreadable lines ({}), skipped by history and report; {} runs are readable",
                path.display(),
                skipped.total(),
                skipped.describe(),
                runs.len()
            ),
            format!(
                "syncfleet repair --service {id} (moves the corrupt lines to runs.jsonl.bad-<time>, keeps every run)"
            ),
        );
    }
    if skipped.newer_schema > 0 {
        return Check::warn(
            "history_lines",
            format!(
                "{} has {} records from a newer syncfleet, skipped by history and report",
                path.display(),
                skipped.newer_schema
            ),
            "Upgrade syncfleet to read them (they are left untouched).",
        );
    }
    Check::pass(
        "history_lines",
        format!("runs.jsonl: all {} records readable", runs.len()),
    )
}

/// Temporary files of atomic writes older than TEMP_FILE_MIN_AGE, in the
/// data dir, the registry-pending dir and every service dir.
pub fn stale_temp_files(data_dir: &DataDir, now: SystemTime) -> Vec<PathBuf> {
    let mut dirs = vec![
        data_dir.root().to_path_buf(),
        data_dir.registry_pending_dir(),
        data_dir.locks_dir(),
    ];
    for id in data_dir.service_ids() {
        dirs.push(data_dir.service_dir(&id));
        dirs.push(data_dir.logs_dir(&id));
    }
    let mut found: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        .filter(|e| {
            e.metadata().is_ok_and(|m| {
                m.is_file()
                    && m.modified()
                        .ok()
                        .and_then(|t| now.duration_since(t).ok())
                        .is_some_and(|age| age >= TEMP_FILE_MIN_AGE)
            })
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

fn list(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > SHOWN {
        names.push(format!("and {} more", paths.len() - SHOWN));
    }
    names.join(", ")
}

/// Leftover temporary files of interrupted atomic writes.
pub fn temp_files_check(data_dir: &DataDir, now: SystemTime) -> Check {
    let stale = stale_temp_files(data_dir, now);
    if stale.is_empty() {
        return Check::pass("temp_files", "No leftover temporary files");
    }
    Check::warn(
        "temp_files",
        format!(
            "{} leftover temporary files of interrupted writes (older than {}): {}",
            stale.len(),
            crate::duration::format_elapsed(TEMP_FILE_MIN_AGE.as_secs_f64()),
            list(&stale)
        ),
        "syncfleet doctor --fix (removes them; the files they were written for are intact)",
    )
}

/// `doctor --fix`: remove the leftover temporary files a `temp_files`
/// check found (re-listed now, so a file that a writer has renamed since
/// is not touched) and mark the check fixed.
pub fn fix_temp_files(data_dir: &DataDir, checks: &mut [Check], now: SystemTime) {
    let Some(check) = checks
        .iter_mut()
        .find(|c| c.name == "temp_files" && c.status == CheckStatus::Warn)
    else {
        return;
    };
    let stale = stale_temp_files(data_dir, now);
    let failed: Vec<String> = stale.iter().filter_map(|p| remove(p).err()).collect();
    if failed.is_empty() {
        check.status = CheckStatus::Fixed;
        check.message = Some(format!("Removed {} leftover temporary files", stale.len()));
        check.action = None;
    } else {
        check.message = Some(format!("could not remove: {}", failed.join("; ")));
    }
}

fn remove(path: &Path) -> Result<(), String> {
    crate::fsutil::remove_if_exists(path)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status::{Outcome, make_run};

    /// 2026-01-01T00:00:00Z, the doctor's "now".
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    /// Make `path` modified `by` before `now()`.
    fn age(path: &Path, by: Duration) {
        let when = now() - by;
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_times(std::fs::FileTimes::new().set_modified(when))
            .unwrap();
    }

    #[test]
    fn only_old_temp_files_are_reported_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::create_dir_all(data.service_dir("aaa")).unwrap();
        let old = data.service_dir("aaa").join(".tmp-AbC123");
        let live = data.root().join(".tmp-XyZ789");
        let other = data.service_dir("aaa").join("status.json");
        for p in [&old, &live, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        age(&old, TEMP_FILE_MIN_AGE);
        age(&live, TEMP_FILE_MIN_AGE - Duration::from_secs(1));
        age(&other, Duration::from_secs(7200));
        assert_eq!(stale_temp_files(&data, now()), vec![old.clone()]);
        let mut checks = vec![temp_files_check(&data, now())];
        assert_eq!(checks[0].status, CheckStatus::Warn);
        assert!(checks[0].message.as_ref().unwrap().contains(".tmp-AbC123"));
        fix_temp_files(&data, &mut checks, now());
        assert_eq!(checks[0].status, CheckStatus::Fixed);
        assert!(!old.exists());
        assert!(live.exists(), "a young temp file may be a live writer's");
        assert!(other.exists());
        assert_eq!(temp_files_check(&data, now()).status, CheckStatus::Pass);
    }

    #[test]
    fn unreadable_history_lines_are_reported_with_the_repair_command() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let path = data.runs_path("aaa");
        runs::append(&path, &make_run(1, Outcome::Success)).unwrap();
        assert_eq!(runs_file_check(&data, "aaa").status, CheckStatus::Pass);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"\xff\xfe\n");
        std::fs::write(&path, &bytes).unwrap();
        let c = runs_file_check(&data, "aaa");
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.message.unwrap().contains("1 not UTF-8"));
        assert!(
            c.action
                .unwrap()
                .starts_with("syncfleet repair --service aaa")
        );
    }
}
