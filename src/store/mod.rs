//! The per-service JSON files: the source of truth for the run path.
//! manifest.json (install config), status.json (run state), runs.jsonl
//! (append-only history). Reads tell missing (Ok(None)) from corrupt (Err);
//! older schema versions migrate on read, newer ones are refused.

pub mod health;
pub mod manifest;
pub mod runs;
pub mod status;

use crate::error::{Error, ErrorCode, Result};
use crate::fsutil;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// The words that set a newer-schema refusal apart from corruption.
/// Whether a read error is a file from a newer syncfleet (good data to
/// leave alone) rather than a corrupt one (for `repair`).
pub fn is_newer_schema(e: &Error) -> bool {
    e.is_newer_schema()
}

/// Whether a read error is a corrupt file: `repair` backs it up.
pub fn is_corrupt(e: &Error) -> bool {
    e.code == ErrorCode::ServiceCorruptState && !is_newer_schema(e)
}

/// A JSON document with a `schema_version` that knows how to upgrade an
/// older version of itself.
pub trait Versioned: Serialize + DeserializeOwned {
    const CURRENT_VERSION: u32;
    /// Upgrade `doc` from `from_version` to the next version, in place.
    fn migrate(doc: &mut Value, from_version: u32) -> Result<(), String>;
}

/// Read a versioned JSON file: Ok(None) when missing, an actionable
/// SERVICE_CORRUPT_STATE error when unparseable or from a newer syncfleet.
/// An older version is migrated in memory and written back atomically.
pub fn read_versioned<T: Versioned>(path: &Path) -> Result<Option<T>> {
    let Some(bytes) = fsutil::read_optional(path).map_err(|e| Error::io("read", path, e))? else {
        return Ok(None);
    };
    let mut doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt_state(path, format!("not valid JSON ({e})")))?;
    let version = doc
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::corrupt_state(path, "missing `schema_version`"))?;
    let version = u32::try_from(version).unwrap_or(u32::MAX);
    if version > T::CURRENT_VERSION {
        return Err(Error::newer_schema(path, version, T::CURRENT_VERSION));
    }
    if version == 0 {
        return Err(Error::corrupt_state(path, "schema_version 0 is not valid"));
    }
    let migrated = version < T::CURRENT_VERSION;
    for from in version..T::CURRENT_VERSION {
        T::migrate(&mut doc, from).map_err(|e| Error::corrupt_state(path, e))?;
        doc["schema_version"] = Value::from(from + 1);
    }
    let value: T = serde_json::from_value(doc)
        .map_err(|e| Error::corrupt_state(path, format!("unexpected content ({e})")))?;
    if migrated {
        // Best effort: a read-only data dir must not make the read fail.
        // The write-back keeps the file's mtime: only the schema changed,
        // and `list` takes a manifest newer than its stamp for one edited
        // by hand (to be read again on every listing).
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let written = write_json(path, &value).and_then(|()| {
            let Some(modified) = modified else {
                return Ok(());
            };
            std::fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(modified))
                .map_err(|e| Error::io("keep the mtime of", path, e))
        });
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e.message, "could not write migrated file back");
        }
    }
    Ok(Some(value))
}

/// Serialize and write atomically (0600).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| {
        Error::new(
            ErrorCode::InternalError,
            format!("serialize {}: {e}", path.display()),
        )
    })?;
    bytes.push(b'\n');
    fsutil::write_atomic(path, &bytes).map_err(|e| Error::io("write", path, e))
}

/// Move a corrupt file aside as `<name>.corrupt.<unix seconds>`; never delete.
pub fn back_up_corrupt(path: &Path, now_secs: i64) -> Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut backup = path.with_file_name(format!("{name}.corrupt.{now_secs}"));
    let mut n = 1;
    while backup.exists() {
        backup = path.with_file_name(format!("{name}.corrupt.{now_secs}.{n}"));
        n += 1;
    }
    std::fs::rename(path, &backup).map_err(|e| Error::io("back up", path, e))?;
    fsutil::sync_dir(&fsutil::parent_dir(path)).map_err(|e| Error::io("sync", path, e))?;
    Ok(backup)
}
