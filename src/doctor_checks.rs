//! A diagnostic check result, shared by doctor, install's pre-flight and
//! the scheduler backends' prerequisite checks; and the check that every
//! stage command of a profile resolves, shared by doctor and install.

use crate::config::{Profile, WorkspaceConfig};
use crate::error::{Error, ErrorCode, Result};
use serde::Serialize;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

macro_rules! check_ids {
    ($($variant:ident => $name:literal,)*) => {
        /// The checks doctor runs and fixes, by the name its output carries.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum CheckId {
            $($variant,)*
        }

        impl CheckId {
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $name,)*
                }
            }
        }
    };
}

check_ids! {
    Config => "config",
    TokenPresent => "token_present",
    TokenValid => "token_valid",
    BinaryPath => "binary_path",
    DataDirectory => "data_directory",
    FixDataDirectory => "fix_data_directory",
    InstallState => "install_state",
    ScheduledBinary => "scheduled_binary",
    FileModes => "file_modes",
    StatusFile => "status_file",
    StaleRun => "stale_run",
    SchedulerReload => "scheduler_reload",
    Registry => "registry",
    RegistryIntegrity => "registry_integrity",
    RegistryFilled => "registry_filled",
    PendingImports => "pending_imports",
    PendingImport => "pending_import",
    RegistryAgreement => "registry_agreement",
    Reindex => "reindex",
    Manifest => "manifest",
    MissedRuns => "missed_runs",
    Workspace => "workspace",
    StageCommands => "stage_commands",
    Paused => "paused",
    SecondSchedule => "second_schedule",
    Orphan => "orphan",
    ArtifactListing => "artifact_listing",
}

impl CheckId {
    /// Checks `doctor --fix` repairs by rebuilding the registry.
    pub fn fixed_by_reindex(self) -> bool {
        matches!(
            self,
            CheckId::Registry
                | CheckId::RegistryIntegrity
                | CheckId::RegistryFilled
                | CheckId::PendingImports
                | CheckId::RegistryAgreement
                | CheckId::PendingImport
        )
    }
}

impl AsRef<str> for CheckId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

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
    pub fn new(name: impl AsRef<str>, status: CheckStatus, message: impl Into<String>) -> Check {
        Check {
            name: name.as_ref().to_string(),
            status,
            message: Some(message.into()),
            action: None,
        }
    }
    pub fn pass(name: impl AsRef<str>, message: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Pass, message)
    }
    /// A check that did not apply, with why.
    pub fn skip(name: impl AsRef<str>, message: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Skip, message)
    }
    /// A finding to look at, with what fixes it.
    pub fn warn(
        name: impl AsRef<str>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(name, CheckStatus::Warn, message).with_action(fix)
    }
    /// A finding that breaks something, with what fixes it.
    pub fn fail(
        name: impl AsRef<str>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(name, CheckStatus::Fail, message).with_action(fix)
    }
    fn with_action(self, action: impl Into<String>) -> Check {
        Check {
            action: Some(action.into()),
            ..self
        }
    }

    /// Which doctor check this is, when it is one of doctor's own.
    pub fn id(&self) -> Option<CheckId> {
        CheckId::ALL
            .iter()
            .copied()
            .find(|id| id.as_str() == self.name)
    }

    /// A finding: neither passed nor skipped.
    pub fn is_finding(&self) -> bool {
        !matches!(self.status, CheckStatus::Pass | CheckStatus::Skip)
    }

    /// Mark a finding as repaired by `doctor --fix`.
    pub fn mark_fixed(&mut self, message: impl Into<String>) {
        self.status = CheckStatus::Fixed;
        self.message = Some(message.into());
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

/// A stage whose program cannot be run.
#[derive(Debug, Clone, PartialEq)]
pub struct UnresolvedStage {
    pub stage: String,
    pub program: String,
    /// Why, e.g. "not found on PATH" or "not executable".
    pub problem: String,
}

/// Where the pipeline finds a stage's program: an absolute path as is;
/// `./x` or `dir/x` in the workspace root; a bare name in the directories
/// of `path` (an empty or relative entry is relative to the workspace
/// root, where stages run). Err says why it cannot be run.
pub fn resolve_program(
    program: &str,
    root: &Path,
    path: Option<&OsStr>,
) -> Result<PathBuf, String> {
    let as_given = Path::new(program);
    if as_given.is_absolute() || as_given.components().count() > 1 {
        let full = root.join(as_given);
        return match executable(&full) {
            Ok(()) => Ok(full),
            Err(problem) => Err(format!("{} {problem}", full.display())),
        };
    }
    // A bare name never means the workspace's file: it is a PATH lookup,
    // as for execvp.
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let mut not_executable = None;
    for dir in dirs {
        let candidate = root.join(dir).join(program);
        match executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(problem) if candidate.exists() && not_executable.is_none() => {
                not_executable = Some(format!("{} {problem}", candidate.display()));
            }
            Err(_) => {}
        }
    }
    Err(not_executable.unwrap_or_else(|| "not found on PATH".to_string()))
}

fn executable(path: &Path) -> Result<(), &'static str> {
    let meta = std::fs::metadata(path).map_err(|_| "does not exist")?;
    if !meta.is_file() {
        return Err("is not a file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err("is not executable");
        }
    }
    Ok(())
}

/// The stages of `profile` whose program does not resolve on `path`.
pub fn unresolved_stages(
    config: &WorkspaceConfig,
    profile: Profile,
    path: Option<&OsStr>,
) -> Vec<UnresolvedStage> {
    config
        .stages_for(profile)
        .filter_map(|stage| {
            let program = stage.command.first()?;
            resolve_program(program, &config.root, path)
                .err()
                .map(|problem| UnresolvedStage {
                    stage: stage.name.clone(),
                    program: program.clone(),
                    problem,
                })
        })
        .collect()
}

/// "stage 'pull': `gti` not found on PATH; …", for messages.
pub fn describe_unresolved(unresolved: &[UnresolvedStage]) -> String {
    unresolved
        .iter()
        .map(|u| format!("stage '{}': `{}` {}", u.stage, u.program, u.problem))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The check doctor reports: every stage command of `profile` resolves on
/// `path` (described as `path_origin`), or what does not, with `action`.
pub fn stage_commands_check(
    config: &WorkspaceConfig,
    profile: Profile,
    path: Option<&OsStr>,
    path_origin: &str,
    action: impl Into<String>,
) -> Check {
    let unresolved = unresolved_stages(config, profile, path);
    if unresolved.is_empty() {
        Check::pass(
            CheckId::StageCommands,
            format!(
                "Every {profile} stage command resolves on {path_origin} ({} stages)",
                config.stages_for(profile).count()
            ),
        )
    } else {
        Check::fail(
            CheckId::StageCommands,
            format!(
                "{} (looked up on {path_origin})",
                describe_unresolved(&unresolved)
            ),
            action,
        )
    }
}

/// Install's pre-flight: refuse a profile whose stage commands do not
/// resolve on the PATH install records for scheduled runs (this shell's),
/// before anything is written.
pub fn require_stage_commands(config: &WorkspaceConfig, profile: Profile) -> Result<()> {
    let path = std::env::var_os("PATH");
    let unresolved = unresolved_stages(config, profile, path.as_deref());
    if unresolved.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::CommandNotFound,
        format!(
            "{} (the {profile} profile's stages run with this shell's PATH)",
            describe_unresolved(&unresolved)
        ),
    )
    .with_suggestion(format!(
        "Fix the stage command in {} (or install the program, or add its directory to PATH), then rerun syncfleet install.",
        config.path.display()
    ))
    .with_actions(["syncfleet doctor"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(dir: &Path, commands: &[(&str, &str, &str)]) -> WorkspaceConfig {
        let stages: Vec<serde_json::Value> = commands
            .iter()
            .map(|(name, program, profile)| {
                serde_json::json!({"name": name, "command": [program, "arg"], "profile": profile})
            })
            .collect();
        let text = serde_json::json!({ "stages": stages }).to_string();
        WorkspaceConfig::parse_bytes(
            text.as_bytes(),
            dir.join("syncfleet.json"),
            dir.to_path_buf(),
        )
        .unwrap()
    }

    fn write(path: &Path, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        crate::fsutil::set_mode(path, mode).unwrap();
    }

    #[test]
    fn programs_resolve_like_the_pipeline_runs_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        let bin = tmp.path().join("bin");
        write(&bin.join("git"), 0o755);
        write(&bin.join("plain"), 0o644);
        write(&root.join("scripts/sync.sh"), 0o755);
        write(&root.join("local"), 0o755);
        let path = bin.clone().into_os_string();
        let path = Some(path.as_os_str());
        assert_eq!(resolve_program("git", &root, path), Ok(bin.join("git")));
        assert_eq!(
            resolve_program("./scripts/sync.sh", &root, path),
            Ok(root.join("./scripts/sync.sh"))
        );
        let abs = bin.join("git").display().to_string();
        assert_eq!(resolve_program(&abs, &root, path), Ok(bin.join("git")));
        assert_eq!(
            resolve_program("gti", &root, path).unwrap_err(),
            "not found on PATH"
        );
        // A bare name is a PATH lookup, never the workspace's own file.
        assert!(resolve_program("local", &root, path).is_err());
        assert!(
            resolve_program("plain", &root, path)
                .unwrap_err()
                .ends_with("is not executable")
        );
        assert!(
            resolve_program("./missing.sh", &root, path)
                .unwrap_err()
                .ends_with("does not exist")
        );
        assert!(
            resolve_program("./scripts", &root, path)
                .unwrap_err()
                .ends_with("is not a file")
        );
        assert!(resolve_program("git", &root, None).is_err());
    }

    #[test]
    fn only_the_profiles_stages_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        write(&bin.join("git"), 0o755);
        let config = workspace(
            tmp.path(),
            &[("pull", "git", "fast"), ("embed", "gti", "full")],
        );
        let path = bin.into_os_string();
        let path = Some(path.as_os_str());
        assert!(unresolved_stages(&config, Profile::Balanced, path).is_empty());
        let missing = unresolved_stages(&config, Profile::Full, path);
        assert_eq!(
            describe_unresolved(&missing),
            "stage 'embed': `gti` not found on PATH"
        );
        let check = stage_commands_check(&config, Profile::Full, path, "PATH", "fix it");
        assert_eq!(check.status, CheckStatus::Fail);
        assert_eq!(check.id(), Some(CheckId::StageCommands));
        assert_eq!(
            stage_commands_check(&config, Profile::Fast, path, "PATH", "x").status,
            CheckStatus::Pass
        );
    }
}
