//! The stage outcome contract (README, "How a stage's result is read"): how a finished stage process is
//! read. Pure: it sees the exit, the last lines of output and the stage's
//! permanent exit codes, nothing else.

use serde_json::Value;

/// How a stage process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StageExit {
    Exited(i32),
    Signaled(i32),
    TimedOut {
        after_ms: u64,
    },
    /// The program could not be started (missing, not executable).
    SpawnFailed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub code: String,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

/// The JSON error shape of lore's robot mode:
/// `{"ok":false,"error":{"code":"AUTH_FAILED","message":"…","retry_after_seconds":60}}`.
fn json_error(line: &str) -> Option<Classified> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    if v.get("ok").and_then(Value::as_bool) != Some(false) {
        return None;
    }
    let err = v.get("error")?;
    let code = err.get("code")?.as_str()?.to_string();
    if code.is_empty() {
        return None;
    }
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or(&code)
        .to_string();
    let retry_after_seconds = err.get("retry_after_seconds").and_then(Value::as_u64);
    Some(Classified {
        code,
        message,
        retry_after_seconds,
    })
}

fn sysexit_code(status: i32) -> Option<&'static str> {
    match status {
        77 => Some("AUTH_FAILED"),
        64 | 78 => Some("CONFIG_INVALID"),
        75 => Some("TEMPFAIL"),
        126 | 127 => Some("COMMAND_NOT_FOUND"),
        _ => None,
    }
}

const FALLBACK_STRINGS: [(&str, &str); 5] = [
    ("401 Unauthorized", "AUTH_FAILED"),
    ("TokenNotSet", "TOKEN_NOT_SET"),
    ("ConfigNotFound", "CONFIG_NOT_FOUND"),
    ("ConfigInvalid", "CONFIG_INVALID"),
    ("MigrationFailed", "MIGRATION_FAILED"),
];

/// The string fallback for output that carries no code (`401 Unauthorized`…).
pub fn fallback_code(text: &str) -> Option<&'static str> {
    FALLBACK_STRINGS
        .iter()
        .find(|(needle, _)| text.contains(needle))
        .map(|(_, code)| *code)
}

/// Classify a failed stage, in the contract's order: JSON error on the
/// last stdout or stderr line; the stage's permanent exit codes; sysexits;
/// the fallback strings; otherwise transient STAGE_FAILED. A timeout is
/// transient TIMEOUT whatever was printed.
pub fn classify_failure(
    exit: &StageExit,
    last_stdout: Option<&str>,
    last_stderr: Option<&str>,
    permanent_exit_codes: &[i32],
) -> Classified {
    let plain = |code: &str, message: String| Classified {
        code: code.to_string(),
        message,
        retry_after_seconds: None,
    };
    let status = match exit {
        StageExit::TimedOut { after_ms } => {
            return plain(
                "TIMEOUT",
                format!(
                    "timed out after {} and was killed",
                    crate::duration::format_elapsed(*after_ms as f64 / 1000.0)
                ),
            );
        }
        StageExit::SpawnFailed(reason) => return plain("COMMAND_NOT_FOUND", reason.clone()),
        StageExit::Exited(code) => Some(*code),
        StageExit::Signaled(_) => None,
    };
    if let Some(found) = [last_stdout, last_stderr]
        .into_iter()
        .flatten()
        .find_map(json_error)
    {
        return found;
    }
    let message = last_stderr
        .or(last_stdout)
        .map(str::to_string)
        .unwrap_or_else(|| match exit {
            StageExit::Exited(c) => format!("exited with status {c}"),
            StageExit::Signaled(s) => format!("killed by signal {s}"),
            _ => unreachable!("handled above"),
        });
    if let Some(code) = status {
        if permanent_exit_codes.contains(&code) {
            return plain(
                "PERMANENT_EXIT_CODE",
                format!("{message} (exit {code} is listed in permanent_exit_codes)"),
            );
        }
        if let Some(sysexit) = sysexit_code(code) {
            return plain(sysexit, message);
        }
    }
    let text = format!(
        "{} {}",
        last_stdout.unwrap_or(""),
        last_stderr.unwrap_or("")
    );
    if let Some(code) = fallback_code(&text) {
        return plain(code, message);
    }
    plain("STAGE_FAILED", message)
}

/// `items_updated` from the last stdout line, top level or under `data`.
pub fn items_updated(last_stdout: Option<&str>) -> u64 {
    let Some(v) = last_stdout.and_then(|l| serde_json::from_str::<Value>(l.trim()).ok()) else {
        return 0;
    };
    v.get("items_updated")
        .or_else(|| v.get("data").and_then(|d| d.get("items_updated")))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::is_permanent_code;

    fn classify(exit: StageExit, out: Option<&str>, err: Option<&str>) -> Classified {
        classify_failure(&exit, out, err, &[3, 4])
    }

    #[test]
    fn json_error_on_stdout_or_stderr_wins() {
        let line = r#"{"ok":false,"error":{"code":"RATE_LIMITED","message":"slow down","retry_after_seconds":60}}"#;
        for (out, err) in [
            (Some(line), None),
            (None, Some(line)),
            (Some("noise"), Some(line)),
        ] {
            let c = classify(StageExit::Exited(77), out, err);
            assert_eq!(c.code, "RATE_LIMITED", "JSON beats sysexits");
            assert_eq!(c.retry_after_seconds, Some(60));
            assert_eq!(c.message, "slow down");
        }
        let auth = r#"{"ok":false,"error":{"code":"AUTH_FAILED","message":"GitLab returned 401"}}"#;
        assert!(is_permanent_code(
            &classify(StageExit::Exited(1), Some(auth), None).code
        ));
    }

    #[test]
    fn permanent_exit_codes_then_sysexits() {
        assert_eq!(
            classify(StageExit::Exited(3), None, Some("bad")).code,
            "PERMANENT_EXIT_CODE"
        );
        assert_eq!(
            classify(StageExit::Exited(77), None, Some("denied")).code,
            "AUTH_FAILED"
        );
        assert_eq!(
            classify(StageExit::Exited(78), None, None).code,
            "CONFIG_INVALID"
        );
        assert_eq!(
            classify(StageExit::Exited(64), None, None).code,
            "CONFIG_INVALID"
        );
        assert_eq!(classify(StageExit::Exited(75), None, None).code, "TEMPFAIL");
        assert_eq!(
            classify(StageExit::Exited(127), None, None).code,
            "COMMAND_NOT_FOUND"
        );
        assert!(!is_permanent_code("TEMPFAIL"));
        assert!(is_permanent_code("PERMANENT_EXIT_CODE"));
    }

    #[test]
    fn string_fallback_then_transient() {
        assert_eq!(
            classify(StageExit::Exited(1), None, Some("HTTP 401 Unauthorized")).code,
            "AUTH_FAILED"
        );
        let c = classify(StageExit::Exited(1), None, Some("connection reset"));
        assert_eq!(c.code, "STAGE_FAILED");
        assert_eq!(c.message, "connection reset");
        assert_eq!(
            classify(StageExit::Exited(2), None, None).message,
            "exited with status 2"
        );
        assert_eq!(
            classify(StageExit::Signaled(9), None, None).message,
            "killed by signal 9"
        );
    }

    #[test]
    fn timeout_and_spawn_failure() {
        let c = classify(
            StageExit::TimedOut { after_ms: 2000 },
            Some(r#"{"ok":false,"error":{"code":"AUTH_FAILED"}}"#),
            None,
        );
        assert_eq!(c.code, "TIMEOUT");
        assert!(!is_permanent_code(&c.code));
        assert_eq!(
            classify(StageExit::SpawnFailed("no such file".into()), None, None).code,
            "COMMAND_NOT_FOUND"
        );
    }

    #[test]
    fn items_updated_top_level_or_data() {
        assert_eq!(items_updated(Some(r#"{"items_updated": 5}"#)), 5);
        assert_eq!(
            items_updated(Some(r#"{"ok":true,"data":{"items_updated":12}}"#)),
            12
        );
        assert_eq!(items_updated(Some("done")), 0);
        assert_eq!(items_updated(Some(r#"{"items_updated": -1}"#)), 0);
        assert_eq!(items_updated(None), 0);
    }
}
