//! A diagnostic check result, shared by doctor, install's pre-flight and
//! the scheduler backends' prerequisite checks.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Skip,
    Fixed,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Skip => "SKIP",
            CheckStatus::Fixed => "FIXED",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A command or step that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Check {
    pub fn new(name: &str, status: CheckStatus, message: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            status,
            message: Some(message.into()),
            action: None,
        }
    }
    pub fn pass(name: &str, message: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Pass, message)
    }
    pub fn warn(name: &str, message: impl Into<String>, action: impl Into<String>) -> Check {
        Check {
            action: Some(action.into()),
            ..Check::new(name, CheckStatus::Warn, message)
        }
    }
    pub fn fail(name: &str, message: impl Into<String>, action: impl Into<String>) -> Check {
        Check {
            action: Some(action.into()),
            ..Check::new(name, CheckStatus::Fail, message)
        }
    }
}

/// The worst status among checks: pass < skip < fixed < warn < fail, with
/// skip and fixed reported as pass overall.
pub fn overall(checks: &[Check]) -> CheckStatus {
    match checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Pass)
    {
        CheckStatus::Skip | CheckStatus::Fixed => CheckStatus::Pass,
        other => other,
    }
}
