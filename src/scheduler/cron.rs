//! cron: one block per service in the user's crontab,
//!
//! ```text
//! # BEGIN syncfleet <id>
//! */15 * * * * SYNCFLEET_DATA_DIR='…' '/path/syncfleet' '--robot' 'run' … >>'…/scheduler-stdout.log' 2>>'…'
//! # END syncfleet <id>
//! ```
//!
//! Every other byte of the crontab is kept as it was. Install renders the
//! block into a staged file (`$XDG_CONFIG_HOME/syncfleet/cron/`), and
//! `activate` splices the staged blocks into the crontab in one `crontab -`
//! write, reads it back, and restores the previous crontab if the read-back
//! differs. Drift compares the block in the crontab itself, which is what
//! cron runs. `SYNCFLEET_CRONTAB` names the crontab program (tests use a
//! fake that stores to a file; see `process::scheduler_program`).

use super::wrapper::{self, sh_quote};
use super::{
    Artifact, ArtifactListing, PlatformState, Scheduler, SchedulerKind, ServiceSpec,
    TokenPlacement, check_spec, ids_in_dir,
};
use crate::calendar::{CalendarFields, Component};
use crate::doctor_checks::Check;
use crate::error::{Error, ErrorCode, Result};
use crate::paths::Env;
use crate::process::{self, DEFAULT_TIMEOUT};
use crate::schedule::{CalendarSchedule, CatchUp};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

const BLOCK_FILE_PREFIX: &str = "syncfleet-";
const BLOCK_FILE_SUFFIX: &str = ".cron";

pub struct Cron {
    staging_dir: PathBuf,
    crontab: String,
}

pub fn begin_marker(service_id: &str) -> String {
    format!("# BEGIN syncfleet {service_id}")
}

pub fn end_marker(service_id: &str) -> String {
    format!("# END syncfleet {service_id}")
}

/// The cron schedule for an interval cron can express exactly: a divisor
/// of an hour in minutes, or whole hours dividing a day. Anything else is
/// refused with the nearest intervals that work.
///
/// Each service starts at its own stable offset within the period
/// (`schedule::spread_offset_seconds` of its id, in whole minutes): a
/// fleet every 15 minutes fires as `7-59/15`, `3-59/15`… instead of all at
/// `*/15`.
pub fn schedule(interval_seconds: u64, service_id: &str) -> Result<String> {
    const MINUTES: [u64; 12] = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
    const HOURS: [u64; 8] = [1, 2, 3, 4, 6, 8, 12, 24];
    let offset = crate::schedule::spread_offset_seconds(service_id, interval_seconds);
    if interval_seconds.is_multiple_of(60) {
        let minutes = interval_seconds / 60;
        if minutes == 1 {
            return Ok("* * * * *".into());
        }
        if minutes < 60 && MINUTES.contains(&minutes) {
            return Ok(format!("{}-59/{minutes} * * * *", offset / 60));
        }
        if minutes.is_multiple_of(60) && HOURS.contains(&(minutes / 60)) {
            let (hour, minute) = (offset / 3600, offset % 3600 / 60);
            return Ok(match minutes / 60 {
                1 => format!("{minute} * * * *"),
                24 => format!("{minute} {hour} * * *"),
                h => format!("{minute} {hour}-23/{h} * * *"),
            });
        }
    }
    let valid: Vec<u64> = MINUTES
        .iter()
        .map(|m| m * 60)
        .chain(HOURS.iter().map(|h| h * 3600))
        .filter(|s| *s >= 300)
        .collect();
    let below = valid.iter().rev().find(|s| **s < interval_seconds);
    let above = valid.iter().find(|s| **s > interval_seconds);
    let nearest: Vec<String> = below
        .into_iter()
        .chain(above)
        .map(|s| crate::duration::format_interval(*s))
        .collect();
    Err(Error::invalid_argument(format!(
        "cron cannot run every {} exactly: it needs a divisor of an hour (5m, 6m, 10m, 12m, 15m, 20m, 30m) or of a day in hours (1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h)",
        crate::duration::format_interval(interval_seconds)
    ))
    .with_suggestion(format!(
        "Use --interval {} (the nearest intervals cron can keep), or another --scheduler.",
        nearest.join(" or --interval ")
    )))
}

/// The five-field lines of a calendar schedule, one per expression, with
/// the minutes shifted by the service's spread offset; or a refusal that
/// names what this cron cannot do and the nearest schedule it can.
pub fn calendar_lines(calendar: &CalendarSchedule, offset_minutes: u32) -> Result<Vec<String>> {
    if let Some(zone) = &calendar.timezone
        && !is_local_zone(zone)
    {
        return Err(Error::invalid_argument(format!(
            "cron reads every line in the machine's time zone ({}) and Debian's cron has no CRON_TZ: it cannot run '{}' in {zone}",
            local_zone_name().unwrap_or_else(|| "unknown".into()),
            calendar.at.join("; "),
        ))
        .with_suggestion(
            "Use --scheduler systemd (OnCalendar= keeps the zone), or give --at the times as they fall in the machine's zone, without --timezone (they then shift by an hour while only one of the two zones keeps daylight saving time).",
        ));
    }
    calendar
        .calendars()?
        .iter()
        .zip(&calendar.at)
        .map(|(c, text)| calendar_line(c.fields(), text, offset_minutes))
        .collect()
}

fn calendar_line(f: &CalendarFields, text: &str, offset_minutes: u32) -> Result<String> {
    let refuse = |why: &str, nearest: String| {
        Err(Error::invalid_argument(format!(
            "cron cannot run '{text}': {why}"
        ))
        .with_suggestion(format!(
            "Use --at '{nearest}' (the nearest schedule cron can keep), or --scheduler systemd."
        )))
    };
    let [only] = f.second_micros.as_slice() else {
        return refuse("cron has no seconds", at_minute_zero(text));
    };
    if only.start != 0 || only.stop.is_some() || only.repeat.is_some() {
        return refuse("cron has no seconds", at_minute_zero(text));
    }
    if f.year.is_some() {
        return refuse(
            "cron has no year field",
            "*-".to_string() + text.split_once('-').map_or(text, |(_, rest)| rest),
        );
    }
    if f.end_of_month {
        return refuse(
            "cron cannot count days from the end of the month",
            text.replace('~', "-"),
        );
    }
    if f.weekdays.is_some() && f.day.is_some() {
        // cron runs when EITHER matches; systemd when both do.
        let without_days = text
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ");
        return refuse(
            "cron runs a line restricted by both weekday and day of month on either, not on both",
            without_days,
        );
    }
    let minute = match &f.minute {
        Some(list) => cron_field(list, 59, offset_minutes),
        None => "*".into(),
    };
    let field = |list: &Option<Vec<Component>>, max: u32| {
        list.as_ref()
            .map_or_else(|| "*".to_string(), |l| cron_field(l, max, 0))
    };
    let weekdays = f.weekdays.as_ref().map_or_else(
        || "*".to_string(),
        |days| {
            days.iter()
                .map(|d| d.num_days_from_sunday().to_string())
                .collect::<Vec<_>>()
                .join(",")
        },
    );
    Ok(format!(
        "{minute} {} {} {} {weekdays}",
        field(&f.hour, 23),
        field(&f.day, 31),
        field(&f.month, 12),
    ))
}

/// One cron field from a calendar field's components, each shifted by
/// `shift` (which keeps every value within `max`: see
/// `CalendarSchedule::minute_offset`).
fn cron_field(list: &[Component], max: u32, shift: u32) -> String {
    list.iter()
        .map(|c| match (c.stop, c.repeat) {
            (None, None) => (c.start + shift).to_string(),
            (Some(stop), None | Some(1)) => format!("{}-{}", c.start + shift, stop + shift),
            (Some(stop), Some(r)) => format!("{}-{}/{r}", c.start + shift, stop + shift),
            (None, Some(r)) => format!("{}-{max}/{r}", c.start + shift),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The expression with its seconds dropped (`*:0/20:30` → `*:0/20`).
fn at_minute_zero(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((last, rest)) = words.split_last() else {
        return text.to_string();
    };
    let parts: Vec<&str> = last.split(':').collect();
    let time = if parts.len() == 3 {
        format!("{}:{}:00", parts[0], parts[1])
    } else {
        last.to_string()
    };
    rest.iter()
        .map(|w| w.to_string())
        .chain(std::iter::once(time))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The machine's zone as cron reads it: `TZ`, else /etc/timezone, else
/// the /etc/localtime link.
pub fn local_zone_name() -> Option<String> {
    if let Ok(tz) = std::env::var("TZ")
        && !tz.is_empty()
    {
        return Some(tz.trim_start_matches(':').to_string());
    }
    if let Ok(name) = std::fs::read_to_string("/etc/timezone") {
        return Some(name.trim().to_string());
    }
    let link = std::fs::read_link("/etc/localtime").ok()?;
    let link = link.to_string_lossy();
    link.split_once("zoneinfo/")
        .map(|(_, zone)| zone.to_string())
}

pub fn is_local_zone(zone: &str) -> bool {
    let utc = |z: &str| {
        matches!(
            z,
            "UTC" | "Etc/UTC" | "UCT" | "Etc/UCT" | "Universal" | "Zulu"
        )
    };
    match local_zone_name() {
        Some(local) => local == zone || (utc(&local) && utc(zone)),
        None => false,
    }
}

/// The calendar expression (systemd syntax) equal to the line `schedule`
/// renders for an interval, so the next run of an interval service on
/// cron is computed from the slots cron keeps; None for an interval cron
/// refuses.
pub fn interval_calendar(interval_seconds: u64, service_id: &str) -> Option<String> {
    let line = schedule(interval_seconds, service_id).ok()?;
    let fields: Vec<&str> = line.split(' ').collect();
    let as_calendar = |field: &str| match field.split_once('/') {
        _ if field == "*" => "*".to_string(),
        Some((range, step)) => {
            let start = range.split('-').next().unwrap_or("0");
            format!("{start}/{step}")
        }
        None => field.to_string(),
    };
    Some(format!(
        "*-*-* {}:{}:00",
        as_calendar(fields[1]),
        as_calendar(fields[0])
    ))
}

/// Escape a command for cron, which turns an unescaped `%` into a newline
/// (the rest becoming stdin) and `\%` into `%`. A `\` right before a `%`
/// cannot be written for cron at all, so the single-quoted sh word is split
/// there (`'a\''\%b'` reaches sh as `'a\''%b'`, i.e. `a\%b`).
pub fn cron_escape(command: &str) -> String {
    let mut out = String::with_capacity(command.len());
    for c in command.chars() {
        if c == '%' {
            if out.ends_with('\\') {
                out.push_str("''");
            }
            out.push_str("\\%");
        } else {
            out.push(c);
        }
    }
    out
}

/// What cron hands to sh for a command field (the inverse of `cron_escape`).
pub fn cron_unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut escaped = false;
    for c in field.chars() {
        if escaped {
            if c == '%' {
                out.pop();
            }
            out.push(c);
            escaped = false;
            continue;
        }
        if c == '%' {
            break;
        }
        escaped = c == '\\';
        out.push(c);
    }
    out
}

/// The block's text, markers included.
pub fn render_block(spec: &ServiceSpec) -> Result<String> {
    check_spec("crontab", spec)?;
    let schedules = match &spec.calendar {
        Some(c) => calendar_lines(c, c.minute_offset(&spec.service_id, spec.interval_seconds))?,
        None => vec![schedule(spec.interval_seconds, &spec.service_id)?],
    };
    let mut words = Vec::new();
    match wrapper::used(spec) {
        // The wrapper sets the data dir and reads the token file.
        Some(path) => words.push(sh_quote(&path.to_string_lossy())),
        None => {
            words.push(format!(
                "SYNCFLEET_DATA_DIR={}",
                sh_quote(&spec.data_dir.to_string_lossy())
            ));
            if let TokenPlacement::Embedded { var, value } = &spec.token {
                words.push(format!("{var}={}", sh_quote(value)));
            }
            words.extend(spec.run_argv().iter().map(|w| sh_quote(w)));
        }
    }
    words.push(format!(
        ">>{}",
        sh_quote(&spec.stdout_log.to_string_lossy())
    ));
    words.push(format!(
        "2>>{}",
        sh_quote(&spec.stderr_log.to_string_lossy())
    ));
    let command = cron_escape(&words.join(" "));
    let mut lines: String = schedules
        .iter()
        .map(|schedule| format!("{schedule} {command}\n"))
        .collect();
    // cron does not run what was missed while the machine was off: at
    // boot, the run goes ahead only if a slot passed since the last run.
    if spec
        .calendar
        .as_ref()
        .is_some_and(|c| c.catch_up == CatchUp::Latest)
    {
        lines.push_str(&format!(
            "@reboot {}=1 {command}\n",
            crate::commands::run::CATCH_UP_ENV
        ));
    }
    Ok(format!(
        "{begin}\n\
         # Generated by syncfleet install; do not edit (syncfleet install regenerates it). Workspace: {ws}\n\
         # {owner}\n\
         {lines}\
         {end}\n",
        begin = begin_marker(&spec.service_id),
        ws = spec.workspace_root.to_string_lossy(),
        owner = super::owner_tag(&spec.data_dir),
        end = end_marker(&spec.service_id),
    ))
}

/// Byte range of a service's block (markers and their newlines included).
fn block_range(crontab: &[u8], service_id: &str) -> Result<Option<(usize, usize)>> {
    let (begin, end) = (begin_marker(service_id), end_marker(service_id));
    let mut start = None;
    let mut pos = 0;
    for line in crontab.split_inclusive(|b| *b == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        if start.is_none() && text == begin.as_bytes() {
            start = Some(pos);
        } else if let Some(s) = start
            && text == end.as_bytes()
        {
            return Ok(Some((s, pos + line.len())));
        }
        pos += line.len();
    }
    match start {
        None => Ok(None),
        Some(_) => Err(Error::new(
            ErrorCode::ServiceCorruptState,
            format!("the crontab has `{begin}` without `{end}`"),
        )
        .with_suggestion("Fix or remove the syncfleet block with `crontab -e`, then rerun.")),
    }
}

/// The services whose block is whole in a crontab (a begin marker, then
/// its end marker), in one pass: `block_range` for every id at once.
fn complete_blocks(crontab: &[u8]) -> HashSet<String> {
    let mut open = HashSet::new();
    let mut complete = HashSet::new();
    for line in crontab.split(|b| *b == b'\n') {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        if let Some(id) = text.strip_prefix("# BEGIN syncfleet ") {
            if !complete.contains(id) {
                open.insert(id.to_string());
            }
        } else if let Some(id) = text.strip_prefix("# END syncfleet ")
            && open.remove(id)
        {
            complete.insert(id.to_string());
        }
    }
    complete
}

/// The block of a service in a crontab, as text.
pub fn extract_block(crontab: &[u8], service_id: &str) -> Option<String> {
    let (s, e) = block_range(crontab, service_id).ok()??;
    Some(String::from_utf8_lossy(&crontab[s..e]).into_owned())
}

/// Put `block` in place of the service's block (appending when there is
/// none), or remove it when `block` is None. Every other byte stays.
pub fn splice(crontab: &[u8], service_id: &str, block: Option<&str>) -> Result<Vec<u8>> {
    let block = block.unwrap_or("").as_bytes();
    Ok(match block_range(crontab, service_id)? {
        Some((s, e)) => [&crontab[..s], block, &crontab[e..]].concat(),
        None if block.is_empty() => crontab.to_vec(),
        None => {
            let mut out = crontab.to_vec();
            // crontab refuses a last line without a newline anyway.
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(block);
            out
        }
    })
}

/// The command of a block's schedule line, as sh receives it.
fn block_command(block: &str) -> Option<String> {
    let line = block
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())?;
    // Five schedule fields, then the command.
    let mut rest = line.trim_start();
    for _ in 0..5 {
        let end = rest.find([' ', '\t'])?;
        rest = rest[end..].trim_start();
    }
    Some(cron_unescape(rest))
}

impl Cron {
    pub fn new(env: &Env) -> Cron {
        Cron {
            staging_dir: env.xdg_config_home().join("syncfleet/cron"),
            crontab: process::scheduler_program("crontab"),
        }
    }

    pub fn block_path(&self, service_id: &str) -> PathBuf {
        self.staging_dir.join(format!(
            "{BLOCK_FILE_PREFIX}{service_id}{BLOCK_FILE_SUFFIX}"
        ))
    }

    fn service_id_of(&self, path: &Path) -> Option<String> {
        (path.parent()? == self.staging_dir).then_some(())?;
        let name = path.file_name()?.to_str()?;
        name.strip_prefix(BLOCK_FILE_PREFIX)?
            .strip_suffix(BLOCK_FILE_SUFFIX)
            .map(str::to_string)
    }

    /// The user's crontab; empty when there is none (`crontab -l` then
    /// says "no crontab for USER" and exits 1).
    pub fn read_crontab(&self) -> Result<Vec<u8>> {
        self.read_crontab_if_installed()?.ok_or_else(|| {
            Error::command_failed(
                &format!("{} -l", self.crontab),
                None,
                "the crontab program was not found",
            )
        })
    }

    /// `read_crontab`, or None when there is no crontab program here.
    fn read_crontab_if_installed(&self) -> Result<Option<Vec<u8>>> {
        let shown = format!("{} -l", self.crontab);
        let c = match process::capture(
            std::process::Command::new(&self.crontab).arg("-l"),
            None,
            DEFAULT_TIMEOUT,
        ) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::command_failed(&shown, None, &e.to_string())),
        };
        if c.success() {
            Ok(Some(c.stdout_bytes))
        } else if !c.timed_out && c.stderr.contains("no crontab for") {
            Ok(Some(Vec::new()))
        } else {
            Err(Error::command_failed(&shown, c.code, &c.stderr))
        }
    }

    fn write_crontab(&self, content: &[u8]) -> Result<()> {
        // Nothing left: remove the crontab rather than leave an empty one
        // where the user had none.
        if content.is_empty() {
            return process::run_checked(&self.crontab, &["-r".to_string()], DEFAULT_TIMEOUT)
                .map(|_| ());
        }
        process::run_checked_with_input(
            &self.crontab,
            &["-".to_string()],
            Some(content),
            DEFAULT_TIMEOUT,
        )
        .map(|_| ())
    }

    /// Replace the crontab and check that cron kept it byte for byte; on
    /// any failure the previous crontab is put back.
    fn replace_crontab(&self, old: &[u8], new: &[u8]) -> Result<()> {
        if old == new {
            return Ok(());
        }
        let result = self.write_crontab(new).and_then(|()| {
            let back = self.read_crontab()?;
            if back == new {
                Ok(())
            } else {
                Err(Error::service_error(format!(
                    "`{} -` changed the crontab it was given (read back {} bytes, wrote {})",
                    self.crontab,
                    back.len(),
                    new.len()
                )))
            }
        });
        if result.is_err() {
            let _ = self.write_crontab(old);
        }
        result
    }
}

impl Scheduler for Cron {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Cron
    }

    fn first_run(&self, spec: &ServiceSpec) -> String {
        let interval_seconds = spec.interval_seconds;
        if spec.calendar.is_some() {
            return "at the next slot of its calendar".into();
        }
        format!(
            "at the next time the schedule `{}` matches",
            schedule(interval_seconds, &spec.service_id).unwrap_or_default()
        )
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<Artifact>> {
        let mut artifacts: Vec<Artifact> = wrapper::render(spec)?.into_iter().collect();
        artifacts.push(Artifact {
            path: self.block_path(&spec.service_id),
            content: render_block(spec)?,
            mode: 0o600,
        });
        Ok(artifacts)
    }

    fn artifact_paths(&self, service_id: &str) -> Vec<PathBuf> {
        vec![self.block_path(service_id)]
    }

    fn planned_commands(&self, service_ids: &[&str]) -> Vec<String> {
        vec![format!(
            "{0} -l | (replace the blocks of {1}) | {0} -",
            self.crontab,
            service_ids.join(", ")
        )]
    }

    fn activate(&self, service_ids: &[&str]) -> Result<()> {
        let old = self.read_crontab()?;
        let mut new = old.clone();
        for id in service_ids {
            let path = self.block_path(id);
            let block = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            new = splice(&new, id, Some(&block))?;
        }
        self.replace_crontab(&old, &new)
    }

    fn deactivate(&self, service_id: &str) -> Result<()> {
        let old = self.read_crontab()?;
        let new = splice(&old, service_id, None)?;
        self.replace_crontab(&old, &new)
    }

    /// cron rereads crontabs by itself.
    fn reload(&self) -> Result<()> {
        Ok(())
    }

    fn state(&self, service_id: &str) -> PlatformState {
        match self.read_crontab() {
            Ok(tab) => {
                let present = matches!(block_range(&tab, service_id), Ok(Some(_)));
                PlatformState::known(present, if present { "scheduled" } else { "not-found" })
            }
            Err(e) => PlatformState::unknown(e.message),
        }
    }

    /// One `crontab -l` for all of them.
    fn states(&self, service_ids: &[&str]) -> HashMap<String, PlatformState> {
        let present = self
            .read_crontab()
            .map(|tab| complete_blocks(&tab))
            .map_err(|e| e.message);
        service_ids
            .iter()
            .map(|id| {
                let state = match &present {
                    Ok(present) => {
                        let here = present.contains(*id);
                        PlatformState::known(here, if here { "scheduled" } else { "not-found" })
                    }
                    Err(message) => PlatformState::unknown(message.clone()),
                };
                (id.to_string(), state)
            })
            .collect()
    }

    fn installed_command(&self, service_id: &str) -> Option<Vec<String>> {
        let block = extract_block(&self.read_crontab().ok()?, service_id)?;
        let words: Vec<String> = shell_words::split(&block_command(&block)?)
            .ok()?
            .into_iter()
            // Redirections and the environment assignments are how the
            // command runs, not which command.
            .take_while(|w| !w.starts_with(">>") && !w.starts_with("2>>"))
            .skip_while(|w| {
                w.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
            .collect();
        match words.as_slice() {
            [only] => wrapper::installed_command(Path::new(only)),
            _ => Some(words),
        }
    }

    fn schedule_label(&self, service_id: &str) -> String {
        format!("crontab block `{}`", begin_marker(service_id))
    }

    fn list_artifacts(&self) -> Result<ArtifactListing> {
        let mut listing = ArtifactListing::new();
        for line in self
            .read_crontab_if_installed()?
            .unwrap_or_default()
            .split(|b| *b == b'\n')
        {
            if let Some(id) = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.strip_prefix("# BEGIN syncfleet "))
                .filter(|id| crate::identity::is_valid_service_id(id))
            {
                listing
                    .entry(id.to_string())
                    .or_default()
                    .push(self.schedule_label(id));
            }
        }
        ids_in_dir(
            &self.staging_dir,
            BLOCK_FILE_PREFIX,
            BLOCK_FILE_SUFFIX,
            &mut listing,
        );
        Ok(listing)
    }

    fn read_installed(&self, path: &Path) -> Option<String> {
        match self.service_id_of(path) {
            Some(id) => extract_block(&self.read_crontab().ok()?, &id),
            None => std::fs::read_to_string(path).ok(),
        }
    }

    fn prerequisites(&self) -> Vec<Check> {
        let mut checks = vec![match self.read_crontab() {
            Ok(_) => Check::pass("crontab", format!("`{} -l` works", self.crontab)),
            Err(e) => Check::fail(
                "crontab",
                format!("cannot read the crontab: {}", e.message),
                "Install cron (Debian/Ubuntu: apt-get install cron) and check that you may use crontab (cron.allow/cron.deny).",
            ),
        }];
        checks.push(match cron_daemon() {
            Some(Some(name)) => Check::pass("cron_daemon", format!("cron daemon running ({name})")),
            // A daemon in another PID namespace, or under a name we do not
            // know, is invisible here: a warning, not a block.
            Some(None) => Check::warn(
                "cron_daemon",
                "no cron daemon process found: crontab entries will not fire until one runs",
                "Start cron (e.g. `service cron start`, or `cron` as root).",
            ),
            None => Check {
                name: "cron_daemon".into(),
                status: crate::doctor_checks::CheckStatus::Skip,
                message: Some("cannot list processes here to look for a cron daemon".into()),
                action: None,
            },
        });
        checks
    }
}

/// The name of a running cron daemon, by scanning /proc; None when /proc
/// cannot be read (not Linux).
fn cron_daemon() -> Option<Option<String>> {
    const NAMES: [&str; 5] = ["cron", "crond", "cronie", "fcron", "dcron"];
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(entries.flatten().find_map(|e| {
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        let comm = comm.trim();
        NAMES.contains(&comm).then(|| comm.to_string())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_spec as spec;

    #[test]
    fn complete_blocks_agrees_with_block_range_for_every_id() {
        let tab = b"MAILTO=x\n# BEGIN syncfleet aa\n* * * * * a\n# END syncfleet aa\n\
# BEGIN syncfleet bb\n* * * * * b\n\
# END syncfleet cc\n# BEGIN syncfleet cc\n# BEGIN syncfleet cc\n# END syncfleet cc\n\
# BEGIN syncfleet aa-x\n# END syncfleet aa-x \n";
        let complete = complete_blocks(tab);
        for id in ["aa", "bb", "cc", "aa-x", "dd"] {
            assert_eq!(
                complete.contains(id),
                matches!(block_range(tab, id), Ok(Some(_))),
                "{id}"
            );
        }
        assert_eq!(complete.len(), 2, "{complete:?}");
    }

    #[test]
    fn exact_intervals_map_to_schedules_at_the_service_offset() {
        // Literal values: a change here reschedules every installed fleet.
        assert_eq!(schedule(300, "abc123").unwrap(), "0-59/5 * * * *");
        assert_eq!(schedule(900, "abc123").unwrap(), "0-59/15 * * * *");
        assert_eq!(schedule(1800, "abc123").unwrap(), "15-59/30 * * * *");
        assert_eq!(schedule(3600, "abc123").unwrap(), "45 * * * *");
        assert_eq!(schedule(7200, "abc123").unwrap(), "45 1-23/2 * * *");
        assert_eq!(schedule(6 * 3600, "abc123").unwrap(), "45 3-23/6 * * *");
        assert_eq!(schedule(86_400, "abc123").unwrap(), "45 15 * * *");
        assert_eq!(schedule(60, "abc123").unwrap(), "* * * * *");
        assert_eq!(schedule(900, "svc001").unwrap(), "9-59/15 * * * *");
    }

    /// A fleet of 100 services every 15 minutes: the cron lines use most
    /// of the 15 minute offsets, none holding a fifth of the fleet.
    #[test]
    fn a_fleet_of_100_spreads_over_the_quarter_hour() {
        let mut per_offset = std::collections::BTreeMap::<String, u32>::new();
        for i in 0..100 {
            let line = schedule(900, &format!("svc{i:03}")).unwrap();
            let first = line.split(' ').next().unwrap().to_string();
            assert!(first.ends_with("-59/15"), "{line}");
            *per_offset.entry(first).or_default() += 1;
        }
        assert!(per_offset.len() >= 13, "{per_offset:?}");
        assert!(per_offset.values().all(|n| *n <= 20), "{per_offset:?}");
    }

    fn local(at: &[&str], catch_up: CatchUp) -> CalendarSchedule {
        CalendarSchedule::parse(
            &at.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            None,
            catch_up,
            chrono::DateTime::from_timestamp(1_796_205_600, 0).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn calendars_render_as_five_field_lines_at_the_offset() {
        let c = local(
            &[
                "*:0/15",
                "Mon..Fri 09:30",
                "Sat,Sun 10:00",
                "*-*-1,15 02:00",
            ],
            CatchUp::Latest,
        );
        assert_eq!(
            calendar_lines(&c, 7).unwrap(),
            [
                "7-59/15 * * * *",
                "37 9 * * 1,2,3,4,5",
                "7 10 * * 6,0",
                "7 2 1,15 * *",
            ]
        );
        assert_eq!(
            calendar_lines(&local(&["daily"], CatchUp::None), 0).unwrap(),
            ["0 0 * * *"]
        );
        assert_eq!(
            calendar_lines(&local(&["*-01..06-* 08..18:00"], CatchUp::None), 0).unwrap(),
            ["0 8-18 * 1-6 *"]
        );
    }

    #[test]
    fn what_cron_cannot_keep_is_refused_with_the_nearest() {
        for (at, why, nearest) in [
            ("*:0/20:30", "no seconds", "--at '*-*-* *:00/20:00'"),
            ("2027-*-* 02:00", "no year", "--at '*-*-* 02:00:00'"),
            ("Mon *-*-1 02:00", "either", "--at '*-*-01 02:00:00'"),
        ] {
            let e = calendar_lines(&local(&[at], CatchUp::None), 0).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument);
            assert!(e.message.contains(why), "{at}: {}", e.message);
            let s = e.suggestion.unwrap();
            assert!(s.contains(nearest), "{at}: {s}");
        }
        let mut zoned = local(&["daily"], CatchUp::None);
        zoned.timezone = Some(if is_local_zone("Pacific/Chatham") {
            "Europe/Berlin".into()
        } else {
            "Pacific/Chatham".into()
        });
        let e = calendar_lines(&zoned, 0).unwrap_err();
        assert!(e.message.contains("CRON_TZ"), "{}", e.message);
    }

    #[test]
    fn catch_up_adds_a_boot_line_that_runs_only_if_a_slot_was_missed() {
        let mut s = spec(TokenPlacement::None);
        s.calendar = Some(local(&["*-*-* 02:00"], CatchUp::Latest));
        s.interval_seconds = 86_400;
        let block = render_block(&s).unwrap();
        let lines: Vec<&str> = block.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 2, "{block}");
        assert!(
            lines[0].starts_with("0 2 * * * SYNCFLEET_DATA_DIR="),
            "{block}"
        );
        assert!(
            lines[1].starts_with("@reboot SYNCFLEET_CATCH_UP=1 SYNCFLEET_DATA_DIR="),
            "{block}"
        );
        s.calendar.as_mut().unwrap().catch_up = CatchUp::None;
        assert!(!render_block(&s).unwrap().contains("@reboot"));
    }

    /// The calendar an interval's next run is computed from renders back
    /// to the very line cron runs.
    #[test]
    fn interval_calendars_render_back_to_the_interval_line() {
        for interval in [60, 300, 600, 900, 1200, 1800, 3600, 7200, 6 * 3600, 86_400] {
            for id in ["abc123", "svc001", "zz"] {
                let at = interval_calendar(interval, id).unwrap();
                let c = local(&[&at], CatchUp::None);
                assert_eq!(
                    calendar_lines(&c, 0).unwrap(),
                    [schedule(interval, id).unwrap()],
                    "{interval} {id}: {at}"
                );
            }
        }
        assert_eq!(interval_calendar(25 * 60, "x"), None);
    }

    #[test]
    fn other_intervals_are_refused_with_the_nearest() {
        let e = schedule(25 * 60, "x").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(e.message.contains("25m"), "{}", e.message);
        let s = e.suggestion.unwrap();
        assert!(s.contains("--interval 20m or --interval 30m"), "{s}");
        let s = schedule(5 * 3600, "x").unwrap_err().suggestion.unwrap();
        assert!(s.contains("--interval 4h or --interval 6h"), "{s}");
        let s = schedule(90 * 60, "x").unwrap_err().suggestion.unwrap();
        assert!(s.contains("--interval 1h or --interval 2h"), "{s}");
    }

    #[test]
    fn percent_escaping_round_trips() {
        for s in ["100%", "a\\%b", "%%", "\\", "no percent", "'\\''%"] {
            let q = sh_quote(s);
            let escaped = cron_escape(&q);
            assert!(!cron_unescape(&escaped).is_empty());
            assert_eq!(
                shell_words::split(&cron_unescape(&escaped)).unwrap(),
                vec![s.to_string()],
                "{s}"
            );
        }
    }

    #[test]
    fn block_runs_the_command_with_the_data_dir_and_logs() {
        let block = render_block(&spec(TokenPlacement::None)).unwrap();
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], "# BEGIN syncfleet abc123");
        assert_eq!(
            lines[2],
            format!("# {}", super::super::owner_tag(Path::new("/data")))
        );
        assert_eq!(lines[4], "# END syncfleet abc123");
        assert_eq!(
            lines[3],
            "0-59/15 * * * * SYNCFLEET_DATA_DIR='/data' '/usr/local/bin/syncfleet' '--robot' 'run' '--service-id' 'abc123' >>'/data/services/abc123/logs/scheduler-stdout.log' 2>>'/data/services/abc123/logs/scheduler-stderr.log'"
        );
        assert_eq!(
            shell_words::split(&block_command(&block).unwrap()).unwrap()[1..6],
            spec(TokenPlacement::None).run_argv()
        );
    }

    #[test]
    fn env_file_mode_runs_the_wrapper() {
        let s = spec(TokenPlacement::EnvFile {
            var: "GITLAB_TOKEN".into(),
            path: "/data/services/abc123/env".into(),
        });
        let block = render_block(&s).unwrap();
        assert!(block.contains("0-59/15 * * * * '/data/services/abc123/run.sh' >>"));
        assert!(!block.contains("GITLAB_TOKEN"));
        let c = Cron {
            staging_dir: "/c".into(),
            crontab: "crontab".into(),
        };
        let a = c.render(&s).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].mode, 0o700);
        assert_eq!(a[1].path, Path::new("/c/syncfleet-abc123.cron"));
        assert_eq!(c.service_id_of(&a[1].path).as_deref(), Some("abc123"));
        assert_eq!(c.service_id_of(Path::new("/other/syncfleet-x.cron")), None);
    }

    #[test]
    fn embedded_token_is_quoted_and_escaped() {
        let s = spec(TokenPlacement::Embedded {
            var: "GITLAB_TOKEN".into(),
            value: "t%k'&<\"$x".into(),
        });
        let block = render_block(&s).unwrap();
        let words = shell_words::split(&block_command(&block).unwrap()).unwrap();
        assert_eq!(words[1], "GITLAB_TOKEN=t%k'&<\"$x");
    }

    #[test]
    fn splice_keeps_every_other_byte() {
        let tab = b"MAILTO=me\n# caf\xe9\n*/5 * * * * other job \\% x\n\n# tail no newline";
        let block = "# BEGIN syncfleet abc\n* * * * * x\n# END syncfleet abc\n";
        let added = splice(tab, "abc", Some(block)).unwrap();
        assert!(added.starts_with(tab));
        assert_eq!(&added[tab.len()..], format!("\n{block}").as_bytes());
        let replaced = splice(&added, "abc", Some(&block.replace("x\n", "y\n"))).unwrap();
        assert_eq!(replaced.len(), added.len());
        assert!(String::from_utf8_lossy(&replaced).contains("* * * * * y\n"));
        let removed = splice(&replaced, "abc", None).unwrap();
        assert_eq!(removed, [&tab[..], b"\n"].concat());
        // Blocks of other services are left alone.
        let two = splice(&added, "abd", Some(&block.replace("abc", "abd"))).unwrap();
        let back = splice(&two, "abc", None).unwrap();
        assert!(extract_block(&back, "abd").is_some());
        assert!(extract_block(&back, "abc").is_none());
    }

    #[test]
    fn unterminated_block_is_an_error() {
        let e = splice(b"# BEGIN syncfleet abc\n* * * * * x\n", "abc", None).unwrap_err();
        assert_eq!(e.code, ErrorCode::ServiceCorruptState);
    }
}
