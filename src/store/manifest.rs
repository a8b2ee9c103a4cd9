//! manifest.json: what was installed, written last by `install`.

use super::{Versioned, read_versioned, write_json};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

pub const DEFAULT_MAX_TRANSIENT_FAILURES: u32 = 10;
pub const DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS: u64 = 1800;

/// What install decided for one service: its identity, settings and
/// artifacts (ARCHITECTURE.md, "Files versus registry").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub service_id: String,
    /// The composite fingerprint, also when `service_id` is a `--name`.
    pub identity_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub workspace_root: String,
    pub config_path: String,
    #[serde(default)]
    pub project_urls: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Pipeline lock group; the service id when the config sets none.
    pub lock_group: String,
    pub installed_at_iso: String,
    pub updated_at_iso: String,
    pub platform: String,
    /// The interval; for a calendar service, its typical period (what
    /// backoff caps and overdue checks measure against).
    pub interval_seconds: u64,
    /// Set: the service runs on this calendar, not every `interval_seconds`
    /// (schema 2; a schema-1 manifest is an interval service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<crate::schedule::CalendarSchedule>,
    pub profile: String,
    pub binary_path: String,
    pub data_dir: String,
    /// env_file, embedded or system_env.
    pub token_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env_var: Option<String>,
    pub service_files: Vec<String>,
    pub sync_command: String,
    pub max_transient_failures: u32,
    pub circuit_breaker_cooldown_seconds: u64,
    /// SHA-256 over the generated scheduler artifacts, for spec drift.
    pub spec_hash: String,
    /// The PATH of the shell that installed the service: schedulers start
    /// runs with a minimal PATH (cron: /usr/bin:/bin), so stages and hooks
    /// get this one to find the same programs the user's `sync` finds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_path: Option<String>,
}

impl Versioned for Manifest {
    /// 2 added `calendar`: a syncfleet that knows only intervals must
    /// refuse a calendar service rather than reinstall it as an interval.
    const CURRENT_VERSION: u32 = 2;
    fn migrate(_doc: &mut Value, from_version: u32) -> Result<(), String> {
        match from_version {
            // A schema-1 manifest is an interval service: nothing to add.
            1 => Ok(()),
            _ => Err(format!(
                "no migration from manifest schema_version {from_version}"
            )),
        }
    }
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Option<Manifest>> {
        read_versioned(path)
    }
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

#[cfg(test)]
pub(crate) fn sample_manifest(id: &str) -> Manifest {
    Manifest {
        schema_version: 2,
        service_id: id.to_string(),
        identity_hash: "a1b2c3d4e5f6".to_string(),
        name: None,
        workspace_root: "/home/x/project".to_string(),
        config_path: "/home/x/project/syncfleet.json".to_string(),
        project_urls: vec!["https://gitlab.example.com/g/p".to_string()],
        tags: vec!["team-a".to_string()],
        lock_group: id.to_string(),
        installed_at_iso: "2026-02-09T10:00:00Z".to_string(),
        updated_at_iso: "2026-02-09T10:00:00Z".to_string(),
        platform: "systemd".to_string(),
        interval_seconds: 900,
        calendar: None,
        profile: "fast".to_string(),
        binary_path: "/usr/local/bin/syncfleet".to_string(),
        data_dir: "/home/x/.local/share/syncfleet".to_string(),
        token_source: "env_file".to_string(),
        token_env_var: Some("GITLAB_TOKEN".to_string()),
        service_files: vec![
            "/home/x/.config/systemd/user/syncfleet-a1b2c3d4e5f6.service".to_string(),
        ],
        sync_command: "/usr/local/bin/syncfleet --robot run --service-id a1b2c3d4e5f6".to_string(),
        max_transient_failures: DEFAULT_MAX_TRANSIENT_FAILURES,
        circuit_breaker_cooldown_seconds: DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS,
        spec_hash: "abc123def456".to_string(),
        stage_path: Some("/usr/local/bin:/usr/bin:/bin".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn manifest_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let manifest = sample_manifest("a1b2c3d4e5f6");
        manifest.write_atomic(&path).unwrap();
        let loaded = Manifest::read(&path).unwrap().unwrap();
        assert_eq!(loaded, manifest);
        assert_eq!(loaded.max_transient_failures, 10);
        assert_eq!(loaded.circuit_breaker_cooldown_seconds, 1800);
    }

    #[test]
    fn a_schema_1_manifest_reads_as_an_interval_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let mut v = serde_json::to_value(sample_manifest("old")).unwrap();
        v["schema_version"] = 1.into();
        v.as_object_mut().unwrap().remove("calendar");
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let loaded = Manifest::read(&path).unwrap().unwrap();
        assert_eq!(loaded.calendar, None);
        assert_eq!(loaded.interval_seconds, 900);
        assert_eq!(loaded.schema_version, 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"schema_version\": 2"),
            "written back: {text}"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            old,
            "the write-back keeps the mtime, so list does not take it for a hand edit"
        );
    }

    #[test]
    fn a_calendar_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let mut m = sample_manifest("cal");
        m.calendar = Some(crate::schedule::CalendarSchedule {
            at: vec!["*-*-* 02:00:00".into()],
            timezone: Some("Europe/Berlin".into()),
            catch_up: crate::schedule::CatchUp::None,
        });
        m.write_atomic(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"catch_up\": \"none\""), "{text}");
        assert_eq!(Manifest::read(&path).unwrap().unwrap(), m);
    }

    #[test]
    fn manifest_read_missing_returns_ok_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Manifest::read(&dir.path().join("nope.json"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn manifest_read_corrupt_returns_err() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{{{{").unwrap();
        let e = Manifest::read(&path).unwrap_err();
        assert_eq!(e.code, ErrorCode::ServiceCorruptState);
        assert!(e.suggestion.unwrap().contains("syncfleet repair"));
    }

    #[test]
    fn manifest_from_the_future_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let mut v = serde_json::to_value(sample_manifest("x")).unwrap();
        v["schema_version"] = 99.into();
        let text = serde_json::to_string(&v).unwrap();
        std::fs::write(&path, &text).unwrap();
        let e = Manifest::read(&path).unwrap_err();
        assert_eq!(e.code, ErrorCode::ServiceCorruptState);
        assert!(e.message.contains("schema_version 99"), "{}", e.message);
        assert!(e.suggestion.unwrap().contains("upgrade syncfleet"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
