//! `syncfleet list`: the fleet at a glance, from the registry's cached
//! state (no scheduler query per service: drift belongs to status and
//! doctor). With the registry unusable it falls back to the manifests.

use crate::cli::{FormatArg, ListArgs, ProfileArg};
use crate::context::Context;
use crate::duration::format_interval;
use crate::error::{Error, Result};
use crate::output::{Render, Ui, csv_row, iso_ms, json_text, table};
use crate::policy::{self, Policy, SchedulerState};
use crate::process::pid_alive;
use crate::registry::{ListRow, ServiceFilter};
use crate::store::manifest::Manifest;
use crate::store::status::StatusFile;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ListedService {
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub workspace_root: String,
    pub platform: String,
    pub interval_seconds: u64,
    pub profile: String,
    pub tags: Vec<String>,
    pub installed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uninstalled_at_iso: Option<String>,
    pub scheduler_state: SchedulerState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<&'static str>,
    /// The next run computed from the schedule, the service's offset and
    /// its last run (list never asks the scheduler).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_iso: Option<String>,
    pub consecutive_failures: u32,
}

#[derive(Debug, Serialize)]
pub struct ListReport {
    pub services: Vec<ListedService>,
    /// `registry`, or `files` when it fell back to the manifests.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip)]
    format: Option<FormatArg>,
    /// When the list was made: the table's "LAST RUN" is relative to it.
    #[serde(skip)]
    now_ms: i64,
    /// Nothing matched: which filter, and what would have.
    #[serde(skip)]
    unmatched: Option<String>,
}

/// Manifests written after the registry last read them (by a newer
/// syncfleet, or by hand) are read again, so that `list` says of one it
/// cannot read what every other command says. One `stat` per service,
/// relative to the open services directory: the registry stays the fast
/// path.
struct ManifestStamps {
    services: crate::fsutil::DirMtimes,
}

impl ManifestStamps {
    fn open(ctx: &Context) -> ManifestStamps {
        ManifestStamps {
            services: crate::fsutil::DirMtimes::open(&ctx.data_dir.services_dir()),
        }
    }

    /// The manifest of service `id`, which the registry read as stamped
    /// `updated_at_iso`, was written after that.
    fn changed(&self, id: &str, updated_at_iso: Option<&str>) -> bool {
        // install writes the manifest moments after it stamps it.
        const SLACK: std::time::Duration = std::time::Duration::from_secs(2);
        let Some(written) = self.services.modified(&format!("{id}/manifest.json")) else {
            return false;
        };
        let known = updated_at_iso
            .and_then(|iso| chrono::DateTime::parse_from_rfc3339(iso).ok())
            .map(std::time::SystemTime::from);
        known.is_none_or(|known| written > known + SLACK)
    }
}

/// What reading the `changed` manifests again says of those that cannot
/// be read.
fn changed_manifest_warnings(ctx: &Context, changed: &[String]) -> Vec<String> {
    changed
        .iter()
        .filter_map(|id| {
            crate::service::read_manifest(ctx, id).err().map(|e| {
                format!(
                    "service {id}: {} {}",
                    e.message,
                    e.suggestion.as_deref().unwrap_or_default()
                )
            })
        })
        .collect()
}

/// For an empty list: the filters given, and with `--tag` the tags that
/// exist (an unknown tag is the likeliest reason).
fn unmatched_filter(ctx: &Context, args: &ListArgs) -> Option<String> {
    let mut given = Vec::new();
    if let Some(t) = &args.tag {
        given.push(format!("--tag {t}"));
    }
    if let Some(p) = args.profile {
        given.push(format!("--profile {}", profile_name(p)));
    }
    if let Some(p) = &args.platform {
        given.push(format!("--platform {p}"));
    }
    if let Some(s) = &args.state {
        given.push(format!("--state {s}"));
    }
    if given.is_empty() {
        return None;
    }
    let given = given.join(" ");
    if args.tag.is_none() {
        return Some(format!("No services match {given}."));
    }
    // From the registry (one query, not a read of every manifest), else
    // from the manifests.
    let mut tags: Vec<String> = match ctx.registry().and_then(|reg| reg.installed_tags()) {
        Ok(tags) => tags,
        Err(_) => crate::service::installed(ctx)
            .into_iter()
            .flat_map(|m| m.tags)
            .collect(),
    };
    tags.sort();
    tags.dedup();
    let known = if tags.is_empty() {
        "no installed service has a tag".to_string()
    } else {
        format!("known tags: {}", tags.join(", "))
    };
    Some(format!("No services match {given} ({known})."))
}

const HEADER: [&str; 12] = [
    "ID",
    "NAME",
    "WORKSPACE",
    "PLATFORM",
    "EVERY",
    "PROFILE",
    "STATE",
    "LAST RUN",
    "NEXT RUN",
    "OUTCOME",
    "FAILS",
    "TAGS",
];

fn row(s: &ListedService) -> [String; 12] {
    [
        s.service_id.clone(),
        s.name.clone().unwrap_or_default(),
        s.workspace_root.clone(),
        s.platform.clone(),
        format_interval(s.interval_seconds),
        s.profile.clone(),
        if s.installed {
            s.scheduler_state.as_str().to_string()
        } else {
            "uninstalled".into()
        },
        s.last_run_iso.clone().unwrap_or_default(),
        s.next_run_iso.clone().unwrap_or_default(),
        s.last_outcome.unwrap_or_default().to_string(),
        s.consecutive_failures.to_string(),
        s.tags.join(" "),
    ]
}

impl Render for ListReport {
    fn human(&self, ui: &Ui) -> String {
        crate::output::warn_all(&self.warnings);
        let services = &self.services;
        match self.format.unwrap_or(FormatArg::Table) {
            FormatArg::Json => json_text(services),
            FormatArg::Csv => {
                let mut out = csv_row(&HEADER);
                for s in services {
                    out.push_str(&csv_row(&row(s)));
                }
                out
            }
            FormatArg::Table => {
                if services.is_empty() {
                    return match &self.unmatched {
                        Some(why) => format!("{why}\n"),
                        None => {
                            "No services installed. Install one with: syncfleet install\n".into()
                        }
                    };
                }
                let mut t = table(HEADER.to_vec());
                for s in services {
                    let mut r = row(s);
                    let relative = |iso: &Option<String>| {
                        iso.as_deref()
                            .and_then(|iso| chrono::DateTime::parse_from_rfc3339(iso).ok())
                            .map(|t| {
                                crate::output::relative_time(t.timestamp_millis(), self.now_ms)
                            })
                            .unwrap_or_default()
                    };
                    r[7] = relative(&s.last_run_iso);
                    r[8] = relative(&s.next_run_iso);
                    t.add_row(r);
                }
                t.fit(
                    ui.width,
                    Some("WORKSPACE"),
                    &["TAGS", "NAME", "PLATFORM", "PROFILE", "OUTCOME"],
                );
                format!(
                    "{}\n{t}\n",
                    ui.bold(&format!("{} services:", services.len()))
                )
            }
        }
    }
}

fn state_of(status: &StatusFile, installed: bool, policy: &Policy, now_ms: i64) -> SchedulerState {
    policy::scheduler_state(status, installed, policy, now_ms, &pid_alive)
}

fn from_row(mut e: ListRow, now_ms: i64) -> ListedService {
    let policy = Policy::with_defaults(
        e.interval_seconds,
        e.max_transient_failures,
        e.cooldown_seconds,
    );
    let state = state_of(&e.status, e.installed, &policy, now_ms);
    let service = crate::schedule::ScheduledService {
        service_id: &e.service_id,
        platform: &e.platform,
        interval_seconds: e.interval_seconds,
        calendar: e.calendar.as_ref(),
    };
    let next_run_iso = service
        .expected_next_run_ms(&e.status, state, None, now_ms)
        .map(iso_ms);
    // Taken, not copied: nothing reads the row's last run after this.
    let last = e.status.last_run.take();
    ListedService {
        next_run_iso,
        scheduler_state: state,
        last_outcome: last.as_ref().map(|r| r.outcome.as_str()),
        last_run_iso: last.map(|r| r.timestamp_iso),
        consecutive_failures: e.status.consecutive_failures,
        service_id: e.service_id,
        name: e.name,
        workspace_root: e.workspace_root,
        platform: e.platform,
        interval_seconds: e.interval_seconds,
        profile: e.profile,
        tags: e.tags,
        installed: e.installed,
        uninstalled_at_iso: e.uninstalled_at_ms.map(iso_ms),
    }
}

/// One service from its files (the fallback, and the benchmark's baseline).
pub fn from_files(ctx: &Context, m: &Manifest) -> ListedService {
    let status = crate::service::read_status(ctx, &m.service_id)
        .0
        .unwrap_or_default();
    let last = status.last_run.as_ref();
    let state = state_of(&status, true, &crate::runner::policy_of(m), ctx.now_ms());
    ListedService {
        service_id: m.service_id.clone(),
        name: m.name.clone(),
        workspace_root: m.workspace_root.clone(),
        platform: m.platform.clone(),
        interval_seconds: m.interval_seconds,
        profile: m.profile.clone(),
        tags: m.tags.clone(),
        installed: true,
        uninstalled_at_iso: None,
        next_run_iso: crate::schedule::ScheduledService {
            service_id: &m.service_id,
            platform: &m.platform,
            interval_seconds: m.interval_seconds,
            calendar: m.calendar.as_ref(),
        }
        .expected_next_run_ms(&status, state, None, ctx.now_ms())
        .map(iso_ms),
        scheduler_state: state,
        last_run_iso: last.map(|r| r.timestamp_iso.clone()),
        last_outcome: last.map(|r| r.outcome.as_str()),
        consecutive_failures: status.consecutive_failures,
    }
}

/// Service directories without a manifest (uninstalled; history kept),
/// for `--all` without the registry: only what the files still say.
fn uninstalled_from_files(ctx: &Context) -> Vec<ListedService> {
    ctx.data_dir
        .service_ids()
        .into_iter()
        .filter(|id| !ctx.data_dir.manifest_path(id).exists())
        .map(|id| {
            let status = crate::service::read_status(ctx, &id).0.unwrap_or_default();
            let last = status.last_run.as_ref();
            ListedService {
                last_run_iso: last.map(|r| r.timestamp_iso.clone()),
                last_outcome: last.map(|r| r.outcome.as_str()),
                consecutive_failures: status.consecutive_failures,
                service_id: id,
                name: None,
                workspace_root: String::new(),
                platform: String::new(),
                interval_seconds: 0,
                profile: String::new(),
                tags: Vec::new(),
                installed: false,
                uninstalled_at_iso: None,
                next_run_iso: None,
                scheduler_state: SchedulerState::NotInstalled,
            }
        })
        .collect()
}

fn profile_name(p: ProfileArg) -> &'static str {
    match p {
        ProfileArg::Fast => "fast",
        ProfileArg::Balanced => "balanced",
        ProfileArg::Full => "full",
    }
}

/// `--state`, and the filter of the arguments for the registry.
fn filter_of(args: &ListArgs, now_ms: i64) -> Result<(Option<SchedulerState>, ServiceFilter)> {
    let state = args.state.as_deref().map(parse_state).transpose()?;
    let filter = ServiceFilter {
        include_uninstalled: args.all,
        tag: args.tag.clone(),
        profile: args.profile.map(|p| profile_name(p).to_string()),
        platform: args.platform.clone(),
        state: state.map(|s| (s, now_ms)),
    };
    Ok((state, filter))
}

/// Run and print `list`. In robot mode the services from the registry go
/// to stdout as they are read, never all held (100,000 services are 32 MB
/// of JSON); the rest, and any failure before the first byte, goes
/// through `run` and `emit`.
pub fn emit(ctx: &Context, args: &ListArgs, started: std::time::Instant) -> std::process::ExitCode {
    let ui = ctx.ui;
    if ui.robot && !args.from_files {
        // A failure here printed nothing: `run` meets it again, and falls
        // back to the manifests or reports it.
        if let Ok(code) =
            crate::output::emit_streamed(&ui, started, |out| write_robot(ctx, args, out))
        {
            return code;
        }
    }
    match run(ctx, args) {
        Ok(report) => crate::output::emit(&ui, started, &report),
        Err(error) => crate::output::emit_error(&ui, started, &error),
    }
}

/// The robot `data` of a listing from the registry, written to `out` as
/// `ListReport` serializes (`robot_writes_are_the_report_serialized` holds
/// them together).
fn write_robot(ctx: &Context, args: &ListArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let (state, filter) = filter_of(args, ctx.now_ms())?;
    let json_failed = |e: std::io::Error| {
        Error::new(
            crate::error::ErrorCode::IoError,
            format!("could not write the list: {e}"),
        )
    };
    let ((), changed) = list_from_registry(ctx, &filter, state, |services| {
        write_robot_services(out, services).map_err(json_failed)
    })?;
    write_robot_tail(out, &changed_manifest_warnings(ctx, &changed)).map_err(json_failed)
}

/// `ListReport` up to the end of its services.
fn write_robot_services(
    out: &mut dyn std::io::Write,
    services: &mut dyn Iterator<Item = ListedService>,
) -> std::io::Result<()> {
    // Serialized into a buffer a few services at a time, then written at
    // once: serde_json's many small writes cost more through a `dyn
    // Write` than in a `Vec`.
    const CHUNK: usize = 1 << 16;
    let mut chunk = Vec::with_capacity(CHUNK + 4096);
    chunk.extend_from_slice(br#"{"services":["#);
    for (i, service) in services.enumerate() {
        if i > 0 {
            chunk.push(b',');
        }
        serde_json::to_writer(&mut chunk, &service)?;
        if chunk.len() >= CHUNK {
            out.write_all(&chunk)?;
            chunk.clear();
        }
    }
    chunk.push(b']');
    out.write_all(&chunk)
}

/// What follows the services in `ListReport` from the registry.
fn write_robot_tail(out: &mut dyn std::io::Write, warnings: &[String]) -> std::io::Result<()> {
    out.write_all(br#","source":"registry""#)?;
    if !warnings.is_empty() {
        out.write_all(br#","warnings":"#)?;
        serde_json::to_writer(&mut *out, warnings)?;
    }
    out.write_all(b"}")
}

pub fn run(ctx: &Context, args: &ListArgs) -> Result<ListReport> {
    let now = ctx.now_ms();
    let (state, filter) = filter_of(args, now)?;
    let mut warnings = Vec::new();
    let from_registry = if args.from_files {
        None
    } else {
        match list_from_registry(ctx, &filter, state, |services| Ok(services.collect())) {
            Ok(found) => Some(found),
            Err(e) => {
                warnings.push(format!(
                    "the registry is unusable ({}); listed from the manifests instead. Fix: syncfleet reindex (see syncfleet doctor)",
                    e.message
                ));
                None
            }
        }
    };
    let (source, services) = match from_registry {
        Some((services, changed)) => {
            warnings.extend(changed_manifest_warnings(ctx, &changed));
            ("registry", services)
        }
        None => {
            let mut services = list_from_files(ctx, &filter, &mut warnings);
            if let Some(state) = state {
                services.retain(|s| s.scheduler_state == state);
            }
            ("files", services)
        }
    };
    let unmatched = if services.is_empty() {
        unmatched_filter(ctx, args)
    } else {
        None
    };
    Ok(ListReport {
        services,
        source,
        warnings,
        format: Some(args.format),
        now_ms: now,
        unmatched,
    })
}

/// The services from the registry, every filter applied in SQL (a state
/// that depends on whether a run's process is alive is checked here, for
/// the few rows with a run in flight), handed to `read` as they come,
/// with the ids of the manifests written since the registry read them.
/// The first row is read before `read` is called: a registry that fails
/// at once fails here, before `read` has written anything.
fn list_from_registry<T>(
    ctx: &Context,
    filter: &ServiceFilter,
    state: Option<SchedulerState>,
    read: impl FnOnce(&mut dyn Iterator<Item = ListedService>) -> Result<T>,
) -> Result<(T, Vec<String>)> {
    let reg = crate::index::open_for_reading(ctx)?;
    let now = ctx.now_ms();
    let stamps = ManifestStamps::open(ctx);
    // (id, stamp) of installed services, a batch at a time: one message
    // per row would cost more in wake-ups than the stats it hands over.
    const BATCH: usize = 4096;
    let (stamped, stamps_to_check) = std::sync::mpsc::channel::<Vec<(String, Option<String>)>>();
    std::thread::scope(|scope| {
        // A stat per manifest is as much work as the rest of a listing:
        // on a thread of its own, beside the rows' JSON.
        let checker = scope.spawn(move || {
            stamps_to_check
                .into_iter()
                .flatten()
                .filter(|(id, iso)| stamps.changed(id, iso.as_deref()))
                .map(|(id, _)| id)
                .collect::<Vec<String>>()
        });
        let listed = reg.with_list_rows(filter, |rows| {
            let failed = std::cell::Cell::new(None);
            let mut batch = Vec::with_capacity(BATCH);
            let mut services = rows
                .map_while(|row| row.map_err(|e| failed.set(Some(e))).ok())
                .inspect(|row| {
                    if row.installed {
                        batch.push((row.service_id.clone(), row.updated_at_iso.clone()));
                    }
                    if batch.len() == BATCH {
                        // The receiver lives until the sender is dropped.
                        let _ =
                            stamped.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    }
                })
                .map(|row| from_row(row, now))
                .filter(|s| state.is_none_or(|state| s.scheduler_state == state))
                .peekable();
            services.peek();
            if let Some(e) = failed.take() {
                return Err(e);
            }
            let listed = read(&mut services)?;
            drop(services);
            let _ = stamped.send(batch);
            match failed.take() {
                Some(e) => Err(e),
                None => Ok(listed),
            }
        });
        drop(stamped);
        let changed = checker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok((listed??, changed))
    })
}

/// `--state`: one of the scheduler states.
fn parse_state(s: &str) -> Result<SchedulerState> {
    SchedulerState::parse(s).ok_or_else(|| {
        Error::invalid_argument(format!("--state: unknown state '{s}'")).with_suggestion(format!(
            "Use one of: {}",
            SchedulerState::ALL.map(|s| s.as_str()).join(", ")
        ))
    })
}

/// The fleet from the manifests (the registry unusable, or
/// `--from-files`), filtered as the registry would filter it. A manifest
/// that cannot be read is a warning with the one reading's error, as every
/// other command would say it.
fn list_from_files(
    ctx: &Context,
    filter: &ServiceFilter,
    warnings: &mut Vec<String>,
) -> Vec<ListedService> {
    let found = crate::service::scan(ctx);
    warnings.extend(found.unreadable.iter().map(|u| {
        format!(
            "service {} is not listed: {}. {}",
            u.id,
            u.error.message,
            u.error.suggestion.as_deref().unwrap_or_default()
        )
    }));
    let uninstalled = filter
        .include_uninstalled
        .then(|| uninstalled_from_files(ctx))
        .into_iter()
        .flatten();
    found
        .manifests
        .iter()
        .filter(|m| filter.tag.as_ref().is_none_or(|t| m.tags.contains(t)))
        .filter(|m| filter.profile.as_ref().is_none_or(|p| &m.profile == p))
        .filter(|m| filter.platform.as_ref().is_none_or(|p| &m.platform == p))
        .map(|m| from_files(ctx, m))
        .chain(uninstalled)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(i: usize) -> ListedService {
        ListedService {
            service_id: format!("s{i:05}"),
            name: i.is_multiple_of(2).then(|| format!("name \"{i}\" \u{e9}")),
            workspace_root: format!("/w/{i}"),
            platform: "linux".into(),
            interval_seconds: 60,
            profile: "fast".into(),
            tags: vec!["a".into(), format!("t{i}")],
            installed: !i.is_multiple_of(3),
            uninstalled_at_iso: i.is_multiple_of(3).then(|| iso_ms(i as i64)),
            scheduler_state: SchedulerState::Idle,
            last_run_iso: None,
            last_outcome: Some("success"),
            next_run_iso: None,
            consecutive_failures: i as u32,
        }
    }

    #[test]
    fn robot_writes_are_the_report_serialized() {
        // 0, 1, and more services than one chunk holds; with and without
        // warnings.
        for (count, warnings) in [
            (0, vec![]),
            (1, vec!["w \"1\"".to_string()]),
            (1000, vec![]),
        ] {
            let services: Vec<ListedService> = (0..count).map(service).collect();
            let mut written = Vec::new();
            write_robot_services(&mut written, &mut services.clone().into_iter()).unwrap();
            write_robot_tail(&mut written, &warnings).unwrap();
            let report = ListReport {
                services,
                source: "registry",
                warnings,
                format: None,
                now_ms: 0,
                unmatched: None,
            };
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&report).unwrap(),
                "{count} services"
            );
        }
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(
            csv_row(&["a", "b c", "x,y", "say \"hi\""]),
            "a,b c,\"x,y\",\"say \"\"hi\"\"\"\n"
        );
    }
}
