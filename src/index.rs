//! Keeping the registry true to the files. Writers (install, uninstall,
//! pause, resume, repair, every run) update it best-effort: a failure is a
//! warning plus a marker file in `registry-pending/`, never a failed
//! command. Readers (`open_for_reading`) first import what the markers name,
//! reading runs.jsonl only past each service's import offset; a registry
//! that was created after the files (lost, deleted, rebuilt) is filled
//! from all of them once. `reindex` rebuilds everything, idempotently.

use crate::context::Context;
use crate::error::{ErrorCode, Result};
use crate::fsutil;
use crate::paths::DataDir;
use crate::registry::Registry;
use crate::store::manifest::Manifest;
use crate::store::runs;
use crate::store::status::StatusFile;
use serde::Serialize;

/// Record that `id`'s registry entry may be behind its files. Every
/// marker gets a name of its own (`<id>.<unique>`): a reader removes
/// exactly the markers it saw before its import committed, so a marker
/// written during that import survives for the next reader. The name
/// starts with the time (`now_ms`), for whoever lists the directory.
pub fn mark_pending(data_dir: &DataDir, id: &str, now_ms: i64) {
    let dir = data_dir.registry_pending_dir();
    let name = format!(
        "{id}.{now_ms:x}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let made =
        fsutil::create_private_dir(&dir).and_then(|_| fsutil::write_atomic(&dir.join(name), b""));
    if let Err(e) = made {
        tracing::warn!(error = %e, "could not write the registry-pending marker");
    }
}

/// Every pending-import marker as (service id, path), by id. A bare `<id>`
/// is a marker from before markers had unique names.
fn pending_markers(data_dir: &DataDir) -> Vec<(String, std::path::PathBuf)> {
    let mut markers: Vec<(String, std::path::PathBuf)> =
        std::fs::read_dir(data_dir.registry_pending_dir())
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                if name.starts_with('.') {
                    return None;
                }
                let id = name.split('.').next().unwrap_or_default().to_string();
                Some((id, e.path()))
            })
            .collect();
    markers.sort();
    markers
}

/// Ids with a pending-import marker.
pub fn pending_ids(data_dir: &DataDir) -> Vec<String> {
    let mut ids: Vec<String> = pending_markers(data_dir)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.dedup();
    ids
}

fn remove_markers<'a>(markers: impl IntoIterator<Item = &'a std::path::PathBuf>) {
    for path in markers {
        if let Err(e) = fsutil::remove_if_exists(path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove an imported registry-pending marker");
        }
    }
}

/// Run a registry write best-effort: on any failure, warn and leave a
/// marker so the next reader catches up from the files.
pub fn best_effort(ctx: &Context, id: &str, what: &str, f: impl FnOnce(&Registry) -> Result<()>) {
    let result = ctx.registry().and_then(f);
    if let Err(e) = result {
        tracing::warn!(service = id, error = %e.message, "registry not updated ({what}); the next reader imports it");
        mark_pending(&ctx.data_dir, id, ctx.now_ms());
    }
}

/// What an import read from a runs.jsonl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Runs new to the registry.
    pub runs: usize,
    /// Lines that were not readable runs (skipped, never fatal).
    pub skipped: runs::Skipped,
}

/// Runs read and inserted at a time by an import.
const IMPORT_CHUNK: usize = 10_000;

/// How many services `fill` reads ahead of the one it writes.
const READ_AHEAD: usize = 4;

/// Import the service's runs.jsonl past the registry's marker. Cheap when
/// nothing is new (one stat, one indexed read). Bad lines are skipped and
/// counted (with a warning that names the fix), never an error.
pub fn import_runs(reg: &Registry, data_dir: &DataDir, id: &str) -> Result<Imported> {
    let path = data_dir.runs_path(id);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    reg.write(|reg| {
        let mut offset = reg.runs_offset(id)?.unwrap_or(0);
        if size == offset {
            return Ok(Imported::default());
        }
        if size < offset {
            // Rewritten behind our back (restored, compacted elsewhere):
            // read it all again; run ids keep it idempotent.
            offset = 0;
        }
        // In chunks, so that memory stays bounded by the chunk whatever
        // the history's length; one transaction all the same.
        let (mut new, mut skipped) = (0, runs::Skipped::default());
        loop {
            let (records, bad, end) = runs::read_chunk(&path, offset, IMPORT_CHUNK)?;
            skipped.merge(bad);
            new += reg.insert_runs(id, &records)?;
            let done = end == offset || records.len() < IMPORT_CHUNK;
            offset = end;
            if done {
                break;
            }
        }
        imported(reg, data_dir, id, new, skipped, offset)
    })
}

/// The end of an import: warn of unreadable lines, record the offset.
fn imported(
    reg: &Registry,
    data_dir: &DataDir,
    id: &str,
    new: usize,
    skipped: runs::Skipped,
    offset: u64,
) -> Result<Imported> {
    if skipped.total() > 0 {
        tracing::warn!(
            service = id,
            "{} has {} unreadable lines ({}), skipped; `syncfleet doctor` reports them, `syncfleet repair --service {id}` moves the corrupt ones aside",
            data_dir.runs_path(id).display(),
            skipped.total(),
            skipped.describe()
        );
    }
    reg.set_runs_offset(id, offset)?;
    tracing::debug!(
        service = id,
        runs = new,
        to = offset,
        "imported runs into the registry"
    );
    Ok(Imported { runs: new, skipped })
}

/// After a status write: the cached state, skip events, and any new runs.
pub fn status_written(ctx: &Context, id: &str, status: &StatusFile) {
    best_effort(ctx, id, "status", |reg| {
        reg.write(|reg| {
            import_runs(reg, &ctx.data_dir, id)?;
            reg.update_status(id, status, Some(ctx.now_ms()))
        })
    });
}

/// After a run was appended outside the policy (`sync`).
pub fn runs_appended(ctx: &Context, id: &str) {
    best_effort(ctx, id, "run", |reg| {
        import_runs(reg, &ctx.data_dir, id).map(|_| ())
    });
}

/// After install wrote the manifest.
pub fn installed(ctx: &Context, manifest: &Manifest) {
    best_effort(ctx, &manifest.service_id, "install", |reg| {
        // A registry this process created is filled now, while the data
        // directory holds little more than this service: otherwise the
        // first reader after a fleet's first (batch) install re-imports
        // every service install has just indexed.
        if reg.was_created() && !reg.is_filled()? {
            return fill(reg, &ctx.data_dir, ctx.now_ms(), false).map(|_| ());
        }
        reg.upsert_manifest(manifest)
    });
}

/// After uninstall removed the manifest.
pub fn uninstalled(ctx: &Context, id: &str) {
    best_effort(ctx, id, "uninstall", |reg| {
        reg.mark_uninstalled(id, Some(ctx.now_ms()))
    });
}

/// After repair (or anything else that changed files wholesale): runs.jsonl
/// may have been rewritten, so its import marker means nothing any more
/// and the history is re-read from the start (run ids keep it idempotent).
pub fn refreshed(ctx: &Context, id: &str) {
    best_effort(ctx, id, "refresh", |reg| {
        refresh_service(reg, &ctx.data_dir, id, ctx.now_ms(), true).map(|_| ())
    });
}

/// Bring one service's row in step with its files: install state from the
/// manifest, cached state from status.json, runs from runs.jsonl (from the
/// marker, or from the start with `full`). Unreadable files leave the row
/// as it was. Returns what the import read.
pub fn refresh_service(
    reg: &Registry,
    data_dir: &DataDir,
    id: &str,
    now_ms: i64,
    full: bool,
) -> Result<Imported> {
    // The files are read under the write lock, as `fill` reads them: a
    // run that writes newer ones waits, then updates the registry after us.
    reg.write(|reg| {
        let files = ServiceFiles::read(data_dir, id, false);
        apply_files(reg, data_dir, files, now_ms, full)
    })
}

/// A service's files as read before its registry write: `fill` reads the
/// next services on another thread while this one is written (reading
/// and parsing were a third of a reindex).
struct ServiceFiles {
    id: String,
    manifest: Result<Option<Manifest>>,
    status: Option<StatusFile>,
    /// runs.jsonl from its start, when it was read ahead and fit in one
    /// chunk: (runs, unreadable lines, the offset after the last whole line).
    runs_from_start: Option<(Vec<crate::store::status::RunRecord>, runs::Skipped, u64)>,
}

impl ServiceFiles {
    fn read(data_dir: &DataDir, id: &str, runs_ahead: bool) -> ServiceFiles {
        let runs_from_start = runs_ahead
            .then(|| runs::read_chunk(&data_dir.runs_path(id), 0, IMPORT_CHUNK).ok())
            .flatten()
            // A longer history is imported in chunks as it is read.
            .filter(|(records, _, _)| records.len() < IMPORT_CHUNK);
        ServiceFiles {
            id: id.to_string(),
            manifest: Manifest::read(&data_dir.manifest_path(id)),
            status: StatusFile::read(&data_dir.status_path(id)).ok().flatten(),
            runs_from_start,
        }
    }
}

/// Bring the registry's row and runs of one service up to its files.
fn apply_files(
    reg: &Registry,
    data_dir: &DataDir,
    files: ServiceFiles,
    now_ms: i64,
    full: bool,
) -> Result<Imported> {
    let id = files.id.as_str();
    reg.write(|reg| {
        match files.manifest {
            Ok(Some(m)) => reg.upsert_manifest(&m)?,
            // Uninstalled since the registry last looked; or a service that
            // only ever ran `sync` (known for its history alone).
            Ok(None) => match reg.service(id)? {
                Some(e) if e.installed => reg.mark_uninstalled(id, Some(now_ms))?,
                Some(_) => {}
                None => reg.ensure_service(id)?,
            },
            Err(e) => tracing::warn!(
                service = id,
                "{} {} (its registry row is kept)",
                e.message,
                e.suggestion.as_deref().unwrap_or_default()
            ),
        }
        if let Some(status) = &files.status {
            reg.update_status(id, status, None)?;
        }
        if full {
            reg.set_runs_offset(id, 0)?;
        }
        // Runs read ahead from the start are what an import would read
        // only when the registry has none of them yet.
        match files.runs_from_start {
            Some((records, skipped, end)) if reg.runs_offset(id)?.unwrap_or(0) == 0 => {
                let new = reg.insert_runs(id, &records)?;
                imported(reg, data_dir, id, new, skipped, end)
            }
            _ => import_runs(reg, data_dir, id),
        }
    })
}

/// The registry, caught up with the files: filled when new, pending
/// markers imported. For every command that reads history or state.
pub fn open_for_reading(ctx: &Context) -> Result<&Registry> {
    let reg = ctx.registry()?;
    catch_up(reg, &ctx.data_dir, ctx.now_ms())?;
    Ok(reg)
}

/// Import what the pending markers name; fill a registry never filled.
/// A marker goes only once its import has committed: a failing registry
/// leaves it for the next reader, so no run is ever hidden by a failure.
/// (Call it outside any `Registry::write`, or "committed" would be a lie.)
pub fn catch_up(reg: &Registry, data_dir: &DataDir, now_ms: i64) -> Result<usize> {
    if !reg.is_filled()? {
        tracing::info!("the registry is empty: filling it from the data directory");
        return fill(reg, data_dir, now_ms, false).map(|r| r.runs_imported);
    }
    let markers = pending_markers(data_dir);
    if !markers.is_empty() {
        tracing::debug!(
            markers = markers.len(),
            "importing runs the registry missed"
        );
    }
    let mut imported = 0;
    let mut first_error = None;
    for group in markers.chunk_by(|a, b| a.0 == b.0) {
        let id = &group[0].0;
        match refresh_service(reg, data_dir, id, now_ms, false) {
            Ok(done) => {
                imported += done.runs;
                remove_markers(group.iter().map(|(_, path)| path));
            }
            Err(e) => {
                tracing::warn!(service = %id, error = %e.message, "pending registry import failed; its marker stays");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(imported),
    }
}

/// A service whose runs.jsonl has lines that are not readable runs.
#[derive(Debug, Clone, Serialize)]
pub struct BadLines {
    pub service_id: String,
    #[serde(flatten)]
    pub skipped: runs::Skipped,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FillReport {
    pub services: usize,
    pub installed: usize,
    pub runs_imported: usize,
    pub runs_total: u64,
    /// Lines skipped because they are not readable runs, in all services.
    pub lines_skipped: usize,
    /// The services with skipped lines, by reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bad_lines: Vec<BadLines>,
}

/// Import every service directory; services the registry knows without a
/// directory are marked uninstalled (their history stays).
fn fill(reg: &Registry, data_dir: &DataDir, now_ms: i64, full: bool) -> Result<FillReport> {
    let ids = data_dir.service_ids();
    // Markers written before now are covered by this import; they go once
    // it has committed.
    let markers = pending_markers(data_dir);
    let mut report = FillReport {
        services: ids.len(),
        ..FillReport::default()
    };
    let import = |reg: &Registry| {
        std::thread::scope(|scope| {
            // The next services' files are read and parsed on another
            // thread while this one's are written: a few services ahead
            // (each at most one chunk of runs), so memory stays bounded.
            let (ahead, read) = std::sync::mpsc::sync_channel::<ServiceFiles>(READ_AHEAD);
            let ids = &ids;
            scope.spawn(move || {
                for id in ids {
                    if ahead.send(ServiceFiles::read(data_dir, id, true)).is_err() {
                        break; // the import stopped on an error
                    }
                }
            });
            for files in read {
                let id = files.id.clone();
                let done = apply_files(reg, data_dir, files, now_ms, full)?;
                report.runs_imported += done.runs;
                if done.skipped.total() > 0 {
                    report.lines_skipped += done.skipped.total();
                    report.bad_lines.push(BadLines {
                        service_id: id,
                        skipped: done.skipped,
                    });
                }
            }
            Ok::<(), crate::error::Error>(())
        })?;
        let on_disk: std::collections::HashSet<&String> = ids.iter().collect();
        for id in reg.service_ids()? {
            if !on_disk.contains(&id) {
                reg.mark_uninstalled(&id, None)?;
            }
        }
        reg.set_filled(&crate::output::iso_ms(now_ms))
    };
    // Into an empty registry (a new or rebuilt one) this is a bulk load:
    // indexes and totals are built once at the end, not row by row.
    reg.bulk_load(import)?;
    remove_markers(markers.iter().map(|(_, path)| path));
    report.installed = reg
        .services(&crate::registry::ServiceFilter::default())?
        .len();
    report.runs_total = reg.count_runs(None)?;
    Ok(report)
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    #[serde(flatten)]
    pub fill: FillReport,
    /// Where a corrupt registry was moved before the rebuild.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrupt_backup: Option<String>,
}

/// `reindex`: rebuild the registry from the files. A registry that cannot
/// be opened or fails `quick_check` is moved aside (never deleted) first.
pub fn rebuild(data_dir: &DataDir, now_ms: i64) -> Result<RebuildReport> {
    let path = data_dir.registry_path();
    // Only a damaged file goes aside: a busy or unreadable one is an error
    // to report (other processes may still be writing to it).
    let damaged = |m: &str| {
        ["not a database", "malformed", "corrupt"]
            .iter()
            .any(|k| m.contains(k))
    };
    let sound = match Registry::open(&path) {
        Ok(reg) => match reg.quick_check() {
            Ok(problems) if problems.is_empty() => Some(reg),
            Ok(_) => None,
            Err(e) if damaged(&e.message) => None,
            Err(e) => return Err(e),
        },
        Err(e) if e.code == ErrorCode::RegistryError && damaged(&e.message) => None,
        Err(e) => return Err(e),
    };
    let mut corrupt_backup = None;
    let reg = match sound {
        Some(reg) => reg,
        None => {
            let backup = path.with_extension(format!("db.corrupt.{}", now_ms / 1000));
            std::fs::rename(&path, &backup)
                .map_err(|e| crate::error::Error::io("move aside", &path, e))?;
            for suffix in ["-wal", "-shm"] {
                let side = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
                let _ = fsutil::remove_if_exists(&side);
            }
            corrupt_backup = Some(backup.display().to_string());
            Registry::open(&path)?
        }
    };
    reg.bulk_mode()?;
    let fill = fill(&reg, data_dir, now_ms, true)?;
    Ok(RebuildReport {
        fill,
        corrupt_backup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::sample_manifest;
    use crate::store::status::{Outcome, make_run};

    fn fleet(dir: &std::path::Path, ids: &[&str], runs_each: i64) -> DataDir {
        let data = DataDir::new(dir);
        for id in ids {
            sample_manifest(id)
                .write_atomic(&data.manifest_path(id))
                .unwrap();
            for i in 0..runs_each {
                let mut r = make_run(i * 1000, Outcome::Success);
                r.run_id = format!("{id}-{i}");
                runs::append(&data.runs_path(id), &r).unwrap();
            }
        }
        data
    }

    #[test]
    fn a_new_registry_is_filled_by_the_first_reader_and_imports_are_incremental() {
        let dir = tempfile::tempdir().unwrap();
        let data = fleet(dir.path(), &["aaa", "bbb"], 3);
        let reg = Registry::open(&data.registry_path()).unwrap();
        assert_eq!(catch_up(&reg, &data, 0).unwrap(), 6);
        assert_eq!(catch_up(&reg, &data, 0).unwrap(), 0, "nothing pending");
        // A run the registry missed: appended, marked, imported alone.
        let mut r = make_run(9_000, Outcome::Failed);
        r.run_id = "aaa-late".into();
        runs::append(&data.runs_path("aaa"), &r).unwrap();
        mark_pending(&data, "aaa", 9_000);
        assert_eq!(pending_ids(&data), ["aaa"]);
        assert_eq!(catch_up(&reg, &data, 0).unwrap(), 1);
        assert!(pending_ids(&data).is_empty());
        assert_eq!(reg.count_runs(None).unwrap(), 7);
    }

    #[test]
    fn rebuild_is_idempotent_and_keeps_uninstalled_history() {
        let dir = tempfile::tempdir().unwrap();
        let data = fleet(dir.path(), &["aaa", "bbb"], 2);
        let first = rebuild(&data, 0).unwrap();
        assert_eq!(first.fill.runs_total, 4);
        assert_eq!(first.fill.installed, 2);
        std::fs::remove_file(data.manifest_path("bbb")).unwrap();
        let second = rebuild(&data, 0).unwrap();
        assert_eq!(second.fill.runs_imported, 0);
        assert_eq!(second.fill.runs_total, 4);
        assert_eq!(second.fill.installed, 1);
    }

    #[test]
    fn a_corrupt_registry_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let data = fleet(dir.path(), &["aaa"], 2);
        std::fs::write(data.registry_path(), vec![b'z'; 8192]).unwrap();
        let r = rebuild(&data, 1_000_000).unwrap();
        assert!(r.corrupt_backup.unwrap().contains("corrupt"));
        assert_eq!(r.fill.runs_total, 2);
    }

    #[test]
    fn a_truncated_history_file_is_reimported_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let data = fleet(dir.path(), &["aaa"], 3);
        let reg = Registry::open(&data.registry_path()).unwrap();
        catch_up(&reg, &data, 0).unwrap();
        std::fs::write(data.runs_path("aaa"), "").unwrap();
        let mut r = make_run(50_000, Outcome::Success);
        r.run_id = "fresh".into();
        runs::append(&data.runs_path("aaa"), &r).unwrap();
        assert_eq!(import_runs(&reg, &data, "aaa").unwrap().runs, 1);
    }
}
