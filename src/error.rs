//! The one error type of the CLI layer: a stable code, an exit status, a
//! message that names the problem, a suggestion that names the fix, and
//! follow-up commands.
//!
//! Every module builds this type where the failure is known, because that
//! is where the fix command can be named; there are no per-module error
//! enums to convert from (hence no thiserror). A module that grows errors
//! worth matching on should still end in an `Error` with a code here.

use serde::Serialize;
use std::fmt;

/// Declares every error code once, in the order of the exit-status table:
/// its variant, its stable string, its exit status, its one-line meaning
/// (the man pages' EXIT STATUS table and robot-docs) and the next step it
/// suggests when the error itself names nothing better.
macro_rules! error_codes {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal, exit $exit:literal,
            meaning $meaning:literal,
            suggest $suggestion:literal;
    )+) => {
        /// Stable, machine-readable error codes. The string form and the
        /// exit status of each are part of the public interface
        /// (documented in the man pages).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order of the exit-status table.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }

            /// Process exit status.
            pub fn exit_code(self) -> u8 {
                match self {
                    $(ErrorCode::$variant => $exit,)+
                }
            }

            /// One line for the EXIT STATUS table of the man pages.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)+
                }
            }

            /// What to do next when the error itself names nothing better,
            /// so that every error tells the user a next step.
            pub fn default_suggestion(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $suggestion,)+
                }
            }
        }
    };
}

error_codes! {
    InternalError = "INTERNAL_ERROR", exit 1,
        meaning "an unexpected internal error",
        suggest "This is a bug: rerun with -vv and report the output.";
    /// 2 is shared with clap's usage errors on purpose: a bad flag value is
    /// a usage error whether clap or syncfleet detects it.
    InvalidArgument = "INVALID_ARGUMENT", exit 2,
        meaning "a flag value is invalid (clap usage errors also exit 2)",
        suggest "Check the command's flags with --help (or man syncfleet-<command>).";
    ConfigNotFound = "CONFIG_NOT_FOUND", exit 3,
        meaning "no syncfleet.json was found",
        suggest "Run inside a workspace, pass --config <file>, or create one with syncfleet init.";
    ConfigInvalid = "CONFIG_INVALID", exit 4,
        meaning "syncfleet.json is not valid",
        suggest "Fix the key named above in syncfleet.json.";
    TokenNotSet = "TOKEN_NOT_SET", exit 5,
        meaning "the workspace's token environment variable is not set",
        suggest "Export the token variable, then rerun.";
    ServiceNotFound = "SERVICE_NOT_FOUND", exit 6,
        meaning "the selected service is not known",
        suggest "See the installed services with syncfleet list.";
    AmbiguousService = "AMBIGUOUS_SERVICE", exit 7,
        meaning "several services match; select one with --service",
        suggest "Pick one with --service <id|name> (see syncfleet list).";
    NameConflict = "NAME_CONFLICT", exit 8,
        meaning "the --name is taken by a service of another workspace",
        suggest "Choose another --name (see syncfleet list).";
    Locked = "LOCKED", exit 9,
        meaning "another run holds the pipeline lock",
        suggest "Wait for the other syncfleet process to finish, then retry.";
    DoctorFailed = "DOCTOR_FAILED", exit 10,
        meaning "doctor found at least one failing check",
        suggest "Run syncfleet doctor and follow its Fix lines.";
    SyncFailed = "SYNC_FAILED", exit 11,
        meaning "a sync or trigger run failed (the scheduler's run still exits 0)",
        suggest "Read the stage output with syncfleet logs.";
    RegistryError = "REGISTRY_ERROR", exit 12,
        meaning "the SQLite registry could not be used",
        suggest "Rebuild the registry from the files with syncfleet reindex.";
    IoError = "IO_ERROR", exit 13,
        meaning "a file could not be read or written",
        suggest "Check that the path exists and that you may write to it.";
    CommandNotFound = "COMMAND_NOT_FOUND", exit 14,
        meaning "a stage command of the workspace cannot be found or run",
        suggest "Fix the stage's command in syncfleet.json, or install the program it names.";
    ServiceError = "SERVICE_ERROR", exit 21,
        meaning "a service operation failed",
        suggest "Check the service with syncfleet status and syncfleet doctor.";
    ServiceCommandFailed = "SERVICE_COMMAND_FAILED", exit 22,
        meaning "a scheduler command (systemctl, crontab, ...) failed",
        suggest "Run syncfleet doctor to check the scheduler, then retry.";
    ServiceCorruptState = "SERVICE_CORRUPT_STATE", exit 23,
        meaning "a state file is corrupt or from a newer syncfleet",
        suggest "Run syncfleet repair, then reinstall if told to.";
    Unsupported = "UNSUPPORTED", exit 24,
        meaning "the scheduler is not supported on this machine",
        suggest "Choose a scheduler this machine has (see syncfleet install --help).";
    CalendarInvalid = "CALENDAR_INVALID", exit 25,
        meaning "a calendar expression (systemd.time(7) syntax) or its time zone is invalid",
        suggest "Write it like `Mon..Fri 09:30` or `*-*-* 02:00:00 Europe/Berlin`; try it with syncfleet calendar SPEC.";
}

/// Serialized as its stable string, the same one `as_str` and the man
/// pages give.
impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const NEWER_SCHEMA_MARK: &str = "was written by a newer syncfleet";

/// An error as the user sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with the code's default next step; `with_suggestion`
    /// replaces it with a more specific one.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            suggestion: Some(code.default_suggestion().to_string()),
            actions: Vec::new(),
        }
    }

    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    pub fn with_actions<I, S>(mut self, actions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.actions = actions.into_iter().map(Into::into).collect();
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    pub fn config_invalid(path: &std::path::Path, message: impl Into<String>) -> Self {
        Error::new(
            ErrorCode::ConfigInvalid,
            format!("{}: {}", path.display(), message.into()),
        )
        .with_suggestion("Fix the key named above in syncfleet.json (see `man syncfleet`, FILES).")
    }

    /// An I/O failure on a named path.
    pub fn io(action: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        Error::new(
            ErrorCode::IoError,
            format!("could not {action} {}: {err}", path.display()),
        )
        .with_suggestion("Check that the path exists and that you may write to it.")
    }

    pub fn corrupt_state(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Error::new(
            ErrorCode::ServiceCorruptState,
            format!("state file {} is corrupt: {}", path.display(), reason.into()),
        )
        .with_suggestion("Run `syncfleet repair` (it backs the file up, never deletes it), then reinstall if told to.")
        .with_actions(["syncfleet repair", "syncfleet install"])
    }

    /// A state file written by a newer syncfleet: the one error every
    /// command gives for it, pointing at an upgrade (never at `repair`,
    /// which must leave such a file alone).
    pub fn newer_schema(path: &std::path::Path, found: u32, understood: u32) -> Self {
        Error::new(
            ErrorCode::ServiceCorruptState,
            format!(
                "{} {NEWER_SCHEMA_MARK} (schema_version {found}; this syncfleet {} understands up to {understood})",
                path.display(),
                env!("CARGO_PKG_VERSION")
            ),
        )
        .with_suggestion(
            "This syncfleet is older than the one that wrote the file: upgrade syncfleet, then rerun (the file is left untouched).",
        )
    }

    /// Whether this is [`Error::newer_schema`]: such a file is not corrupt.
    pub fn is_newer_schema(&self) -> bool {
        self.code == ErrorCode::ServiceCorruptState && self.message.contains(NEWER_SCHEMA_MARK)
    }

    pub fn service_error(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::ServiceError, message)
            .with_suggestion("Check the service: syncfleet status; diagnose: syncfleet doctor; read: syncfleet logs")
            .with_actions(["syncfleet status", "syncfleet doctor", "syncfleet logs"])
    }

    pub fn command_failed(cmd: &str, exit_code: Option<i32>, stderr: &str) -> Self {
        let exit = exit_code.map_or_else(|| "no exit status".to_string(), |c| format!("exit {c}"));
        let stderr = stderr.trim();
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        };
        Error::new(
            ErrorCode::ServiceCommandFailed,
            format!("scheduler command failed: {cmd} ({exit}){detail}"),
        )
        .with_suggestion("Run `syncfleet doctor` to check the scheduler, then retry the command.")
        .with_actions(["syncfleet doctor", "syncfleet logs"])
    }

    pub fn exit_code(&self) -> u8 {
        self.code.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_plan_exit_codes_hold() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        let exits: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.exit_code()).collect();
        assert_eq!(exits.len(), ErrorCode::ALL.len(), "one exit status a code");
        assert_eq!(ErrorCode::ServiceError.exit_code(), 21);
        assert_eq!(ErrorCode::ServiceCommandFailed.exit_code(), 22);
        assert_eq!(ErrorCode::ServiceCorruptState.exit_code(), 23);
        assert!(ErrorCode::ALL.iter().all(|c| c.exit_code() != 0));
    }

    #[test]
    fn every_error_says_what_to_do_next() {
        for &code in ErrorCode::ALL {
            let e = Error::new(code, "x");
            assert!(
                e.suggestion.as_deref().is_some_and(|s| !s.is_empty()),
                "{code}"
            );
        }
    }

    #[test]
    fn serializes_code_as_screaming_snake_case() {
        let e = Error::new(ErrorCode::TokenNotSet, "x");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "TOKEN_NOT_SET");
        assert_eq!(v["code"], ErrorCode::TokenNotSet.as_str());
    }
}
