//! The workspace config, `syncfleet.json`: discovery (upward from the
//! current directory, like git), parsing, and validation with errors that
//! name the key and the fix.

use crate::conditions::{Conditions, Endpoint, QuietHours};
use crate::duration::parse_duration_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::ping::{DegradedAs, OnSkip, PingConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE_NAME: &str = "syncfleet.json";
pub const DEFAULT_STAGE_TIMEOUT_MS: u64 = 10 * 60 * 1000;
pub const DEFAULT_RETRY_DELAY_MS: (u64, u64) = (1_000, 5_000);
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 10_000;

/// Sync profiles, ordered: a stage runs under its own profile and every
/// larger one (`fast` ⊂ `balanced` ⊂ `full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Fast,
    Balanced,
    Full,
}

impl Profile {
    pub fn parse(s: &str) -> Result<Profile, String> {
        match s {
            "fast" => Ok(Profile::Fast),
            "balanced" => Ok(Profile::Balanced),
            "full" => Ok(Profile::Full),
            other => Err(format!(
                "unknown profile '{other}': use fast, balanced or full"
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fast => "fast",
            Profile::Balanced => "balanced",
            Profile::Full => "full",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Option<String>,
    #[serde(default)]
    projects: Vec<String>,
    token_env_var: Option<String>,
    token_check: Option<Vec<String>>,
    lock_group: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    retry_delay: Option<RawRetryDelay>,
    #[serde(default)]
    hooks: RawHooks,
    #[serde(default)]
    conditions: RawConditions,
    ping: Option<RawPing>,
    stages: Option<Vec<RawStage>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPing {
    url: Option<String>,
    ping_key: Option<String>,
    slug: Option<String>,
    base_url: Option<String>,
    /// Seconds, or a duration like "15s".
    timeout: Option<serde_json::Value>,
    retries: Option<u32>,
    degraded: Option<String>,
    on_skip: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConditions {
    #[serde(default)]
    on_ac_power: bool,
    #[serde(default)]
    reachable: Vec<String>,
    #[serde(default)]
    quiet_hours: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetryDelay {
    min: String,
    max: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHooks {
    failure: Option<Vec<String>>,
    pause: Option<Vec<String>>,
    recover: Option<Vec<String>>,
    timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    command: Vec<String>,
    #[serde(default)]
    optional: bool,
    profile: Option<String>,
    timeout: Option<String>,
    #[serde(default)]
    permanent_exit_codes: Vec<i32>,
}

/// One stage of the pipeline, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub command: Vec<String>,
    pub optional: bool,
    pub profile: Profile,
    pub timeout_ms: u64,
    pub permanent_exit_codes: Vec<i32>,
}

/// Notification commands run on run events (argv, no shell).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    pub failure: Option<Vec<String>>,
    pub pause: Option<Vec<String>>,
    pub recover: Option<Vec<String>>,
    pub timeout_ms: u64,
}

/// A loaded, validated workspace config.
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// Canonical path of the syncfleet.json file.
    pub path: PathBuf,
    /// Canonical workspace root (the directory holding the file).
    pub root: PathBuf,
    pub name: Option<String>,
    pub projects: Vec<String>,
    pub token_env_var: Option<String>,
    pub token_check: Option<Vec<String>>,
    pub lock_group: Option<String>,
    pub tags: Vec<String>,
    pub retry_delay_ms: (u64, u64),
    pub hooks: Hooks,
    /// Checked before each scheduled or triggered run (`conditions`).
    pub conditions: Conditions,
    /// Healthchecks-style pings of each scheduled or triggered run.
    pub ping: Option<PingConfig>,
    pub stages: Vec<Stage>,
}

impl WorkspaceConfig {
    /// Stages that run under `profile`, in config order.
    pub fn stages_for(&self, profile: Profile) -> impl Iterator<Item = &Stage> {
        self.stages.iter().filter(move |s| s.profile <= profile)
    }

    pub fn project_refs(&self) -> Vec<&str> {
        self.projects.iter().map(String::as_str).collect()
    }

    /// Load from an explicit path (from `--config`/`SYNCFLEET_CONFIG`).
    pub fn load(path: &Path) -> Result<WorkspaceConfig> {
        let bytes = match read_config_file(path) {
            Ok(b) => b,
            Err(ConfigRead::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not_found(&format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            Err(ConfigRead::Io(e)) if e.kind() == std::io::ErrorKind::IsADirectory => {
                return Err(not_found(&format!(
                    "{} is a directory; pass the syncfleet.json file inside it",
                    path.display()
                )));
            }
            Err(ConfigRead::Io(e)) => return Err(Error::io("read", path, e)),
            Err(ConfigRead::Invalid(why)) => {
                return Err(Error::config_invalid(path, why).with_suggestion(format!(
                    "Pass a regular JSON file of at most {} KiB, e.g. --config path/to/{CONFIG_FILE_NAME}.",
                    MAX_CONFIG_BYTES / 1024
                )));
            }
        };
        let canonical = path
            .canonicalize()
            .map_err(|e| Error::io("resolve", path, e))?;
        let root = canonical
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        parse(&bytes, canonical, root)
    }

    /// Validate config text as if it were the file at `path` (for init).
    pub fn parse_bytes(bytes: &[u8], path: PathBuf, root: PathBuf) -> Result<WorkspaceConfig> {
        parse(bytes, path, root)
    }

    /// Find `syncfleet.json` in `start` or any ancestor, and load it.
    pub fn discover(start: &Path) -> Result<WorkspaceConfig> {
        match find_upward(start) {
            Some(path) => WorkspaceConfig::load(&path),
            None => Err(not_found(&format!(
                "no {CONFIG_FILE_NAME} in {} or any parent directory",
                start.display()
            ))),
        }
    }
}

/// Largest config file read. A workspace config is a few KiB; the bound
/// keeps `--config /dev/zero` or a runaway file from eating memory.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

enum ConfigRead {
    Io(std::io::Error),
    Invalid(String),
}

/// The bytes of a config file, which must be a regular file of at most
/// `MAX_CONFIG_BYTES`. Opened without blocking, so a FIFO (or a device)
/// is refused instead of waiting for a writer.
fn read_config_file(path: &Path) -> std::result::Result<Vec<u8>, ConfigRead> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(ConfigRead::Io)?;
    let meta = file.metadata().map_err(ConfigRead::Io)?;
    if meta.is_dir() {
        return Err(ConfigRead::Io(std::io::ErrorKind::IsADirectory.into()));
    }
    if !meta.is_file() {
        return Err(ConfigRead::Invalid(
            "is not a regular file (a device, FIFO or socket cannot be a config)".into(),
        ));
    }
    let too_big = || {
        ConfigRead::Invalid(format!(
            "is larger than {} KiB; a syncfleet config is a small JSON file",
            MAX_CONFIG_BYTES / 1024
        ))
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    // The file may grow after the size check: read one byte past the limit.
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ConfigRead::Io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The nearest `syncfleet.json` upward from `start`. Any entry of that
/// name ends the search, file or not: walking past a FIFO, a device or a
/// directory named syncfleet.json would silently act on a parent
/// workspace; loading it instead says what is wrong with it.
pub fn find_upward(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE_NAME))
        .find(|candidate| candidate.symlink_metadata().is_ok())
}

fn not_found(message: &str) -> Error {
    Error::new(ErrorCode::ConfigNotFound, message)
        .with_suggestion(format!(
            "Run syncfleet inside a workspace (a directory with {CONFIG_FILE_NAME}), pass --config <file>, or create one with `syncfleet init`."
        ))
        .with_actions(["syncfleet init"])
}

fn parse(bytes: &[u8], path: PathBuf, root: PathBuf) -> Result<WorkspaceConfig> {
    let mut raw: RawConfig =
        serde_json::from_slice(bytes).map_err(|e| Error::config_invalid(&path, format!("{e}")))?;
    let invalid = |msg: String| Error::config_invalid(&path, msg);
    let stages = parse_stages(raw.stages.take()).map_err(invalid)?;
    check_workspace_keys(&raw).map_err(invalid)?;
    let retry_delay_ms = parse_retry_delay(raw.retry_delay.as_ref()).map_err(invalid)?;
    let hooks = parse_hooks(&raw.hooks).map_err(invalid)?;
    let conditions = parse_conditions(&raw.conditions).map_err(invalid)?;
    let ping = raw
        .ping
        .as_ref()
        .map(parse_ping)
        .transpose()
        .map_err(invalid)?;
    Ok(WorkspaceConfig {
        path,
        root,
        name: raw.name,
        projects: raw.projects,
        token_env_var: raw.token_env_var,
        token_check: raw.token_check,
        lock_group: raw.lock_group,
        tags: raw.tags,
        retry_delay_ms,
        hooks,
        conditions,
        ping,
        stages,
    })
}

/// The stages: at least one, names unique, at least one core stage.
fn parse_stages(raw: Option<Vec<RawStage>>) -> Result<Vec<Stage>, String> {
    let raw = raw.ok_or("missing key `stages`: list at least one stage, e.g. {\"name\": \"pull\", \"command\": [\"git\", \"pull\"]}")?;
    if raw.is_empty() {
        return Err("`stages` is empty: list at least one stage".into());
    }
    let mut stages: Vec<Stage> = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        let key = format!("stages[{i}]");
        if stages.iter().any(|t| t.name == s.name) {
            return Err(format!(
                "`{key}.name` '{}' is used by another stage; stage names must be unique",
                s.name
            ));
        }
        stages.push(parse_stage(&key, s)?);
    }
    if !stages.iter().any(|s| !s.optional) {
        return Err(
            "every stage is optional: mark at least one stage as core (\"optional\": false)".into(),
        );
    }
    Ok(stages)
}

/// One stage, `key` naming it in errors (`stages[2]`).
fn parse_stage(key: &str, s: RawStage) -> Result<Stage, String> {
    let name_ok = !s.name.is_empty()
        && s.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!(
            "`{key}.name` '{}' must be non-empty letters, digits, '-' or '_'",
            s.name
        ));
    }
    check_command(
        &format!("{key}.command"),
        &s.command,
        "give the program and its arguments, e.g. [\"git\", \"pull\"]",
        &format!(" of stage '{}'", s.name),
    )?;
    let profile = match &s.profile {
        Some(p) => Profile::parse(p).map_err(|e| format!("`{key}.profile`: {e}"))?,
        None => Profile::Fast,
    };
    let timeout_ms = match &s.timeout {
        Some(t) => parse_duration_ms(t).map_err(|e| format!("`{key}.timeout`: {e}"))?,
        None => DEFAULT_STAGE_TIMEOUT_MS,
    };
    if timeout_ms == 0 {
        return Err(format!("`{key}.timeout` must be greater than 0"));
    }
    Ok(Stage {
        name: s.name,
        command: s.command,
        optional: s.optional,
        profile,
        timeout_ms,
        permanent_exit_codes: s.permanent_exit_codes,
    })
}

/// A command (argv, no shell) at `key`: a program, and no NUL anywhere,
/// since the OS takes argv as C strings and such a command could only fail
/// when it runs. `fix` says what to give when it is empty; `whose` is
/// added after the key in the NUL error.
fn check_command(key: &str, argv: &[String], fix: &str, whose: &str) -> Result<(), String> {
    if argv.first().is_none_or(String::is_empty) {
        return Err(format!("`{key}` is empty: {fix}"));
    }
    match argv.iter().position(|a| a.contains('\0')) {
        Some(j) => Err(format!(
            "`{key}[{j}]`{whose} contains a NUL character (\\u0000), which no program or argument can carry: remove it"
        )),
        None => Ok(()),
    }
}

/// The workspace-level keys besides stages, retry_delay and hooks.
fn check_workspace_keys(raw: &RawConfig) -> Result<(), String> {
    if let Some(var) = &raw.token_env_var
        && !is_env_var_name(var)
    {
        return Err(format!(
            "`token_env_var` '{var}' is not a valid environment variable name (letters, digits, '_')"
        ));
    }
    if let Some(cmd) = &raw.token_check {
        let fix = "give a command, e.g. [\"glab\", \"auth\", \"status\"]";
        check_command("token_check", cmd, fix, "")?;
    }
    if raw.lock_group.as_ref().is_some_and(|g| g.trim().is_empty()) {
        return Err("`lock_group` is empty: remove it or give a name".into());
    }
    if let Some(name) = &raw.name {
        crate::identity::sanitize_service_name(name).map_err(|e| format!("`name`: {e}"))?;
    }
    if let Some(i) = raw.projects.iter().position(|url| url.trim().is_empty()) {
        return Err(format!("`projects[{i}]` is empty"));
    }
    for (i, tag) in raw.tags.iter().enumerate() {
        if tag.is_empty() || tag.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(format!(
                "`tags[{i}]` '{tag}' must be non-empty without spaces or commas"
            ));
        }
    }
    Ok(())
}

/// The in-run retry's delay range, in ms.
fn parse_retry_delay(raw: Option<&RawRetryDelay>) -> Result<(u64, u64), String> {
    let Some(r) = raw else {
        return Ok(DEFAULT_RETRY_DELAY_MS);
    };
    let min = parse_duration_ms(&r.min).map_err(|e| format!("`retry_delay.min`: {e}"))?;
    let max = parse_duration_ms(&r.max).map_err(|e| format!("`retry_delay.max`: {e}"))?;
    if min > max {
        return Err("`retry_delay.min` is larger than `retry_delay.max`".into());
    }
    Ok((min, max))
}

fn parse_hooks(h: &RawHooks) -> Result<Hooks, String> {
    for (key, cmd) in [
        ("failure", &h.failure),
        ("pause", &h.pause),
        ("recover", &h.recover),
    ] {
        if let Some(cmd) = cmd {
            let fix = "give a command or remove the key";
            check_command(&format!("hooks.{key}"), cmd, fix, "")?;
        }
    }
    let timeout_ms = match &h.timeout {
        Some(t) => parse_duration_ms(t).map_err(|e| format!("`hooks.timeout`: {e}"))?,
        None => DEFAULT_HOOK_TIMEOUT_MS,
    };
    Ok(Hooks {
        failure: h.failure.clone(),
        pause: h.pause.clone(),
        recover: h.recover.clone(),
        timeout_ms,
    })
}

/// `conditions`: each endpoint `host:port`, each quiet range `HH:MM-HH:MM`.
fn parse_conditions(c: &RawConditions) -> Result<Conditions, String> {
    let reachable = c
        .reachable
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Endpoint::parse(e).map_err(|why| format!("`conditions.reachable[{i}]` {why}"))
        })
        .collect::<Result<_, _>>()?;
    let quiet_hours = c
        .quiet_hours
        .iter()
        .enumerate()
        .map(|(i, q)| {
            QuietHours::parse(q).map_err(|why| format!("`conditions.quiet_hours[{i}]` {why}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Conditions {
        on_ac_power: c.on_ac_power,
        reachable,
        quiet_hours,
    })
}

/// `ping`: a whole `url`, or `ping_key` + `slug` (on `base_url`, default
/// hc-ping.com); the URL gets `/start`, `/fail`, `/log` and `?rid=`
/// appended, so it takes no query or fragment of its own.
fn parse_ping(p: &RawPing) -> Result<PingConfig, String> {
    let url = match (&p.url, &p.ping_key, &p.slug) {
        (Some(url), None, None) if p.base_url.is_none() => url.trim_end_matches('/').to_string(),
        (None, Some(key), Some(slug)) => {
            let url_safe = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            if !url_safe(key) {
                return Err(
                    "`ping.ping_key` must be the project's ping key: letters, digits, '-' or '_'"
                        .into(),
                );
            }
            if !url_safe(slug) {
                return Err(format!(
                    "`ping.slug` '{slug}' must be letters, digits, '-' or '_' (healthchecks slugs are lowercase, e.g. \"nightly-backup\")"
                ));
            }
            let base = p
                .base_url
                .as_deref()
                .unwrap_or(crate::ping::DEFAULT_BASE_URL);
            format!("{}/{key}/{slug}", base.trim_end_matches('/'))
        }
        _ => {
            return Err(
                "`ping` needs either `url` (\"https://hc-ping.com/<uuid>\") or `ping_key` and `slug` (with an optional `base_url`), not both".into(),
            );
        }
    };
    let key = if p.url.is_some() {
        "ping.url"
    } else {
        "ping.base_url"
    };
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || crate::ping::host_of(&url).is_empty() {
        return Err(format!("`{key}` must be an http:// or https:// URL"));
    }
    if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{key}` must have no query, fragment or spaces: syncfleet appends /start, /fail, /log and ?rid= to it"
        ));
    }
    let timeout_ms = match &p.timeout {
        None => crate::ping::DEFAULT_TIMEOUT_MS,
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .filter(|s| *s > 0.0)
            .map(|s| (s * 1000.0) as u64)
            .ok_or("`ping.timeout` must be a positive number of seconds")?,
        Some(serde_json::Value::String(t)) => {
            parse_duration_ms(t).map_err(|e| format!("`ping.timeout`: {e}"))?
        }
        Some(_) => {
            return Err("`ping.timeout` must be seconds (10) or a duration (\"10s\")".into());
        }
    };
    if timeout_ms == 0 || timeout_ms > 120_000 {
        return Err(
            "`ping.timeout` must be more than 0 and at most 2m: a ping never holds a run up longer"
                .into(),
        );
    }
    let retries = p.retries.unwrap_or(crate::ping::DEFAULT_RETRIES);
    if retries > 10 {
        return Err("`ping.retries` must be at most 10".into());
    }
    let degraded = match p.degraded.as_deref() {
        None | Some("success") => DegradedAs::Success,
        Some("fail") => DegradedAs::Fail,
        Some(other) => {
            return Err(format!(
                "`ping.degraded` '{other}' must be \"success\" or \"fail\""
            ));
        }
    };
    let on_skip = match p.on_skip.as_deref() {
        None | Some("none") => OnSkip::Nothing,
        Some("log") => OnSkip::Log,
        Some(other) => {
            return Err(format!(
                "`ping.on_skip` '{other}' must be \"none\" or \"log\""
            ));
        }
    };
    Ok(PingConfig {
        url,
        timeout_ms,
        retries,
        degraded,
        on_skip,
    })
}

/// A portable environment variable name: letters, digits and `_`, not
/// starting with a digit (also what sh can assign and sed can match).
pub fn is_env_var_name(var: &str) -> bool {
    !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(json: &str) -> Result<WorkspaceConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(&path, json).unwrap();
        WorkspaceConfig::load(&path)
    }

    fn err_message(json: &str) -> String {
        let e = load_str(json).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid, "{e}");
        e.message
    }

    const FULL: &str = r#"{
        "name": "backend",
        "projects": ["https://gitlab.example.com/group/api"],
        "token_env_var": "GITLAB_TOKEN",
        "lock_group": "lore-db",
        "tags": ["team-a"],
        "stages": [
            {"name": "issues", "command": ["lore", "--robot", "sync", "--only", "issues"]},
            {"name": "mrs", "command": ["lore", "--robot", "sync", "--only", "mrs"]},
            {"name": "docs", "command": ["lore", "docs"], "optional": true, "profile": "balanced"},
            {"name": "embeddings", "command": ["lore", "embed"], "optional": true, "profile": "full",
             "timeout": "20m", "permanent_exit_codes": [3, 4, 5, 11, 20]}
        ]
    }"#;

    #[test]
    fn parses_the_design_example() {
        let c = load_str(FULL).unwrap();
        assert_eq!(c.name.as_deref(), Some("backend"));
        assert_eq!(c.stages.len(), 4);
        assert_eq!(c.stages[3].timeout_ms, 20 * 60 * 1000);
        assert_eq!(c.stages[0].timeout_ms, DEFAULT_STAGE_TIMEOUT_MS);
        assert_eq!(c.stages[3].permanent_exit_codes, vec![3, 4, 5, 11, 20]);
        assert_eq!(c.retry_delay_ms, DEFAULT_RETRY_DELAY_MS);
        assert_eq!(c.root, c.path.parent().unwrap());
    }

    #[test]
    fn profiles_nest() {
        let c = load_str(FULL).unwrap();
        let names = |p| c.stages_for(p).map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(Profile::Fast), ["issues", "mrs"]);
        assert_eq!(names(Profile::Balanced), ["issues", "mrs", "docs"]);
        assert_eq!(
            names(Profile::Full),
            ["issues", "mrs", "docs", "embeddings"]
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let m = err_message(r#"{"stages": [{"name": "a", "command": ["true"]}], "stagez": 1}"#);
        assert!(m.contains("stagez"), "{m}");
        let m = err_message(r#"{"stages": [{"name": "a", "command": ["true"], "optinal": true}]}"#);
        assert!(m.contains("optinal"), "{m}");
    }

    #[test]
    fn missing_or_empty_stages() {
        assert!(err_message(r#"{"projects": []}"#).contains("missing key `stages`"));
        assert!(err_message(r#"{"stages": []}"#).contains("`stages` is empty"));
    }

    #[test]
    fn empty_command_bad_duration_bad_profile() {
        assert!(
            err_message(r#"{"stages": [{"name": "a", "command": []}]}"#)
                .contains("`stages[0].command` is empty")
        );
        let m = err_message(r#"{"stages": [{"name": "a", "command": ["x"], "timeout": "soon"}]}"#);
        assert!(m.contains("`stages[0].timeout`"), "{m}");
        let m = err_message(r#"{"stages": [{"name": "a", "command": ["x"], "profile": "huge"}]}"#);
        assert!(m.contains("`stages[0].profile`"), "{m}");
        let m = err_message(
            r#"{"stages": [{"name": "a", "command": ["x"]}], "retry_delay": {"min": "5s", "max": "1s"}}"#,
        );
        assert!(m.contains("retry_delay"), "{m}");
    }

    #[test]
    fn duplicate_and_all_optional_stages() {
        let m = err_message(
            r#"{"stages": [{"name": "a", "command": ["x"]}, {"name": "a", "command": ["y"]}]}"#,
        );
        assert!(m.contains("unique"), "{m}");
        let m = err_message(r#"{"stages": [{"name": "a", "command": ["x"], "optional": true}]}"#);
        assert!(m.contains("core"), "{m}");
    }

    #[test]
    fn a_nul_in_any_command_is_invalid_and_names_where() {
        let m = err_message(r#"{"stages": [{"name": "pull", "command": ["git", "pu\u0000ll"]}]}"#);
        assert!(m.contains("`stages[0].command[1]` of stage 'pull'"), "{m}");
        assert!(m.contains("NUL"), "{m}");
        let m = err_message(r#"{"stages": [{"name": "a", "command": ["\u0000"]}]}"#);
        assert!(m.contains("`stages[0].command[0]`"), "{m}");
        let m = err_message(
            r#"{"stages": [{"name": "a", "command": ["x"]}], "token_check": ["glab", "a\u0000"]}"#,
        );
        assert!(m.contains("`token_check[1]`"), "{m}");
        let m = err_message(
            r#"{"stages": [{"name": "a", "command": ["x"]}], "hooks": {"failure": ["n\u0000"]}}"#,
        );
        assert!(m.contains("`hooks.failure[0]`"), "{m}");
    }

    #[test]
    fn every_empty_command_names_its_key_and_the_fix() {
        for (json, expected) in [
            (
                r#"{"stages": [{"name": "a", "command": [""]}]}"#,
                r#"`stages[0].command` is empty: give the program and its arguments, e.g. ["git", "pull"]"#,
            ),
            (
                r#"{"stages": [{"name": "a", "command": ["x"]}], "token_check": []}"#,
                r#"`token_check` is empty: give a command, e.g. ["glab", "auth", "status"]"#,
            ),
            (
                r#"{"stages": [{"name": "a", "command": ["x"]}], "hooks": {"pause": [""]}}"#,
                "`hooks.pause` is empty: give a command or remove the key",
            ),
        ] {
            let m = err_message(json);
            assert!(m.ends_with(expected), "{m}");
        }
        let m = err_message(
            r#"{"stages": [{"name": "a", "command": ["x"]}], "hooks": {"recover": ["x", "\u0000"]}}"#,
        );
        assert!(
            m.ends_with("`hooks.recover[1]` contains a NUL character (\\u0000), which no program or argument can carry: remove it"),
            "{m}"
        );
    }

    #[test]
    fn bad_token_var_and_json_syntax() {
        let m = err_message(
            r#"{"token_env_var": "MY-TOKEN", "stages": [{"name": "a", "command": ["x"]}]}"#,
        );
        assert!(m.contains("token_env_var"), "{m}");
        let m = err_message("{not json");
        assert!(m.contains("line 1"), "{m}");
    }

    #[test]
    fn conditions_parse_and_bad_ones_name_their_key() {
        let c = load_str(
            r#"{"stages": [{"name": "a", "command": ["x"]}], "conditions": {
                "on_ac_power": true, "reachable": ["gitlab.example.com:443", "[::1]:22"],
                "quiet_hours": ["22:00-07:00", "12:00-13:00"]}}"#,
        )
        .unwrap();
        assert!(c.conditions.on_ac_power);
        assert_eq!(c.conditions.reachable[1].to_string(), "[::1]:22");
        assert_eq!(c.conditions.quiet_hours[1].to_string(), "12:00-13:00");
        assert!(
            load_str(r#"{"stages": [{"name": "a", "command": ["x"]}]}"#)
                .unwrap()
                .conditions
                .is_empty()
        );
        for (conditions, expected) in [
            (
                r#"{"reachable": ["gitlab"]}"#,
                "`conditions.reachable[0]` 'gitlab' has no port: write host:port",
            ),
            (
                r#"{"quiet_hours": ["22:00-07:00", "late"]}"#,
                "`conditions.quiet_hours[1]` 'late' is not a range: write HH:MM-HH:MM",
            ),
            (r#"{"on_battery": true}"#, "on_battery"),
            (r#"{"on_ac_power": "yes"}"#, "expected a boolean"),
        ] {
            let m = err_message(&format!(
                r#"{{"stages": [{{"name": "a", "command": ["x"]}}], "conditions": {conditions}}}"#
            ));
            assert!(m.contains(expected), "{m}");
        }
    }

    #[test]
    fn ping_takes_a_url_or_a_key_and_slug_and_names_bad_keys() {
        let with = |ping: &str| {
            load_str(&format!(
                r#"{{"stages": [{{"name": "a", "command": ["x"]}}], "ping": {ping}}}"#
            ))
        };
        let p = with(r#"{"url": "https://hc-ping.com/abc-123/"}"#)
            .unwrap()
            .ping
            .unwrap();
        assert_eq!(p.url, "https://hc-ping.com/abc-123");
        assert_eq!((p.timeout_ms, p.retries), (10_000, 2));
        assert_eq!(
            (p.degraded, p.on_skip),
            (DegradedAs::Success, OnSkip::Nothing)
        );
        let p = with(
            r#"{"ping_key": "k3y_A", "slug": "nightly-db", "timeout": 3, "retries": 0,
                "degraded": "fail", "on_skip": "log"}"#,
        )
        .unwrap()
        .ping
        .unwrap();
        assert_eq!(p.url, "https://hc-ping.com/k3y_A/nightly-db");
        assert_eq!((p.timeout_ms, p.retries), (3_000, 0));
        assert_eq!((p.degraded, p.on_skip), (DegradedAs::Fail, OnSkip::Log));
        let p = with(
            r#"{"ping_key": "k", "slug": "s", "base_url": "http://hc.local:8000/ping/", "timeout": "1500ms"}"#,
        )
        .unwrap()
        .ping
        .unwrap();
        assert_eq!(
            (p.url.as_str(), p.timeout_ms),
            ("http://hc.local:8000/ping/k/s", 1_500)
        );
        assert!(with(r#"{"url": "x"}"#).is_err());
        for (ping, expected) in [
            (
                r#"{"url": "hc-ping.com/x"}"#,
                "`ping.url` must be an http:// or https:// URL",
            ),
            (r#"{"url": "https://hc-ping.com/x?create=1"}"#, "no query"),
            (r#"{"url": "https://h/x", "slug": "s"}"#, "not both"),
            (r#"{"slug": "s"}"#, "either `url`"),
            (r#"{"ping_key": "k", "slug": "a b"}"#, "`ping.slug` 'a b'"),
            (r#"{"url": "https://h/x", "timeout": 0}"#, "`ping.timeout`"),
            (r#"{"url": "https://h/x", "timeout": "1h"}"#, "at most 2m"),
            (
                r#"{"url": "https://h/x", "degraded": "ok"}"#,
                "`ping.degraded` 'ok'",
            ),
            (
                r#"{"url": "https://h/x", "on_skip": "all"}"#,
                "`ping.on_skip` 'all'",
            ),
            (r#"{"url": "https://h/x", "retries": 99}"#, "`ping.retries`"),
            (r#"{"url": "https://h/x", "uri": 1}"#, "uri"),
        ] {
            let m = err_message(&format!(
                r#"{{"stages": [{{"name": "a", "command": ["x"]}}], "ping": {ping}}}"#
            ));
            assert!(m.contains(expected), "{ping}: {m}");
        }
    }

    #[test]
    fn missing_file_is_config_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let e = WorkspaceConfig::load(&dir.path().join("nope.json")).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigNotFound);
        let e = WorkspaceConfig::discover(dir.path()).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigNotFound);
    }

    #[test]
    fn only_bounded_regular_files_are_read() {
        for special in ["/dev/zero", "/dev/null"] {
            let e = WorkspaceConfig::load(Path::new(special)).unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{special}: {e}");
            assert!(e.message.contains("not a regular file"), "{}", e.message);
        }
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(&big, vec![b' '; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let e = WorkspaceConfig::load(&big).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid);
        assert!(e.message.contains("larger than 1024 KiB"), "{}", e.message);
        assert!(
            e.suggestion
                .as_deref()
                .unwrap()
                .contains("regular JSON file")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(CONFIG_FILE_NAME);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0);
        let started = std::time::Instant::now();
        let e = WorkspaceConfig::load(&fifo).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid, "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn discovers_upward() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            r#"{"stages": [{"name": "a", "command": ["true"]}]}"#,
        )
        .unwrap();
        let deep = dir.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        let c = WorkspaceConfig::discover(&deep).unwrap();
        assert_eq!(c.root, dir.path().canonicalize().unwrap());
    }

    #[test]
    fn discovery_stops_at_a_config_that_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            r#"{"stages": [{"name": "a", "command": ["true"]}]}"#,
        )
        .unwrap();
        let as_dir = dir.path().join("a");
        std::fs::create_dir_all(as_dir.join(CONFIG_FILE_NAME)).unwrap();
        let e = WorkspaceConfig::discover(&as_dir).unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
        let as_device = dir.path().join("b");
        std::fs::create_dir_all(&as_device).unwrap();
        std::os::unix::fs::symlink("/dev/null", as_device.join(CONFIG_FILE_NAME)).unwrap();
        let e = WorkspaceConfig::discover(&as_device).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalid, "{e}");
        let dangling = dir.path().join("c");
        std::fs::create_dir_all(&dangling).unwrap();
        std::os::unix::fs::symlink("/nonexistent", dangling.join(CONFIG_FILE_NAME)).unwrap();
        let e = WorkspaceConfig::discover(&dangling).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
    }
}
