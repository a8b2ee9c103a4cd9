//! Windows Task Scheduler through `schtasks.exe`: task `SyncFleet-<id>`,
//! defined as Task Scheduler 1.2 XML and registered with `schtasks /create
//! /xml`. An interval is a time trigger repeating every interval (rounded up
//! to whole minutes); a calendar is one calendar trigger per time, in the
//! machine's local time; `--catch-up latest` is the task's
//! `StartWhenAvailable`. Tasks inherit the user's environment, so the token
//! is the user's own variable (`system_env`): syncfleet stores no token on
//! Windows.
//!
//! The rendered artifact is the task XML, kept in
//! `$XDG_CONFIG_HOME/syncfleet/schtasks/` as UTF-16 LE with a byte-order
//! mark (what `schtasks /xml` reads), so `activate` registers exactly what
//! install rendered and drift has a file to compare.

use super::launchd::xml_escape;
use super::{
    Artifact, ArtifactListing, PlatformState, Scheduler, SchedulerKind, ServiceSpec,
    TokenPlacement, check_spec, ids_in_dir,
};
use crate::calendar::Component;
use crate::doctor_checks::Check;
use crate::error::{Error, Result};
use crate::paths::Env;
use crate::process::{self, DEFAULT_TIMEOUT};
use crate::schedule::{CalendarSchedule, CatchUp};
use std::path::{Path, PathBuf};

pub struct Schtasks {
    staging_dir: PathBuf,
    /// `schtasks`, or `SYNCFLEET_SCHTASKS` (tests).
    schtasks: String,
}

pub fn task_name(service_id: &str) -> String {
    format!("SyncFleet-{service_id}")
}

/// Quote one word for a Windows command line: in double quotes when it
/// has a space or is empty. Windows paths cannot contain `"`.
fn win_quote(word: &str) -> String {
    if word.is_empty() || word.contains([' ', '\t']) {
        format!("\"{word}\"")
    } else {
        word.to_string()
    }
}

/// Split a `Task To Run` command line on unquoted blanks.
pub fn win_split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut in_quotes, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            ' ' | '\t' if !in_quotes => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The program and the arguments the task runs, each quoted for a Windows
/// command line. Tasks have no per-task environment, so the data
/// directory travels as `--data-dir`.
pub fn task_command(spec: &ServiceSpec) -> Result<(String, String)> {
    check_spec("scheduled task", spec)?;
    let data_dir = spec.data_dir.to_string_lossy();
    for (what, v) in [
        ("the binary path", spec.binary_path.to_string_lossy()),
        ("the data directory path", data_dir.clone()),
    ] {
        if v.contains('"') {
            return Err(Error::invalid_argument(format!(
                "{what} contains a double quote, which a Windows command line cannot carry"
            )));
        }
    }
    let mut argv = spec.run_argv();
    argv.splice(2..2, ["--data-dir".to_string(), data_dir.into_owned()]);
    let mut words = argv.iter().map(|w| win_quote(w));
    let command = words.next().unwrap_or_default();
    Ok((command, words.collect::<Vec<_>>().join(" ")))
}

/// The namespace of the Task Scheduler 1.2 task schema.
pub const TASK_XMLNS: &str = "http://schemas.microsoft.com/windows/2004/02/mit/task";

/// The date every trigger starts from: fixed, so that rendering is pure (a
/// reinstall renders the same task and drift compares equal), and past, so
/// that the schedule holds from registration on. Without a zone suffix a
/// boundary is the machine's local time. 2001-01-01 is a Monday.
const START_DATE: &str = "2001-01-01";

fn boundary(hour: u32, minute: u32) -> String {
    format!("{START_DATE}T{hour:02}:{minute:02}:00")
}

/// An `xs:duration` of whole seconds, largest units first (`PT1H30M`).
pub fn xml_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::from("PT");
    for (n, unit) in [(h, 'H'), (m, 'M'), (s, 'S')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.len() == 2 {
        out.push_str("0S");
    }
    out
}

/// An interval in whole minutes, rounded up (a task repeats by minutes).
pub fn interval_minutes(interval_seconds: u64) -> u64 {
    interval_seconds.div_ceil(60).max(1)
}

/// The task, as Task Scheduler 1.2 XML: one trigger per schedule, the
/// settings, and the command. `StartWhenAvailable` is the catch-up of
/// missed runs (`--catch-up latest`): a slot missed while the machine was
/// off or asleep runs once at the next opportunity.
pub fn task_xml(spec: &ServiceSpec) -> Result<String> {
    let (command, arguments) = task_command(spec)?;
    let triggers = match &spec.calendar {
        Some(c) => calendar_triggers(c, c.minute_offset(&spec.service_id, spec.interval_seconds))?,
        None => vec![interval_trigger(&spec.service_id, spec.interval_seconds)],
    };
    let start_when_available = spec
        .calendar
        .as_ref()
        .is_some_and(|c| c.catch_up == CatchUp::Latest);
    let description = format!(
        "syncfleet service {} (workspace {})",
        spec.service_id,
        spec.workspace_root.display()
    );
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n\
         <Task version=\"1.2\" xmlns=\"{TASK_XMLNS}\">\n  \
           <RegistrationInfo>\n    \
             <Author>syncfleet</Author>\n    \
             <Description>{description}</Description>\n  \
           </RegistrationInfo>\n  \
           <Triggers>\n{triggers}  </Triggers>\n  \
           <Settings>\n    \
             <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n    \
             <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n    \
             <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n    \
             <StartWhenAvailable>{start_when_available}</StartWhenAvailable>\n    \
             <ExecutionTimeLimit>{limit}</ExecutionTimeLimit>\n    \
             <Enabled>true</Enabled>\n  \
           </Settings>\n  \
           <Actions>\n    \
             <Exec>\n      \
               <Command>{command}</Command>\n      \
               <Arguments>{arguments}</Arguments>\n    \
             </Exec>\n  \
           </Actions>\n\
         </Task>\n",
        description = xml_escape(&description),
        triggers = triggers.concat(),
        limit = xml_duration(spec.run_timeout_seconds.max(60)),
        command = xml_escape(&command),
        arguments = xml_escape(&arguments),
    ))
}

/// The repetition of a trigger: every `every_seconds` for `duration`
/// (none: for ever) from its start.
fn repetition(every_seconds: u64, duration: Option<&str>) -> String {
    format!(
        "      <Repetition>\n        <Interval>{}</Interval>\n{}        <StopAtDurationEnd>false</StopAtDurationEnd>\n      </Repetition>\n",
        xml_duration(every_seconds),
        duration.map_or(String::new(), |d| format!(
            "        <Duration>{d}</Duration>\n"
        )),
    )
}

/// An interval: a time trigger repeating every interval for ever, from
/// the service's own stable offset within the period, so that a fleet
/// spreads. (Intervals end at 24 h; a repetition may be up to 31 days.)
pub fn interval_trigger(service_id: &str, interval_seconds: u64) -> String {
    let minutes = interval_minutes(interval_seconds);
    let start = crate::schedule::spread_offset_seconds(service_id, minutes * 60) / 60 % 1440;
    let start = u32::try_from(start).unwrap_or(0);
    format!(
        "    <TimeTrigger>\n      <Enabled>true</Enabled>\n      <StartBoundary>{}</StartBoundary>\n{}    </TimeTrigger>\n",
        boundary(start / 60, start % 60),
        repetition(minutes * 60, None),
    )
}

/// The days a calendar trigger fires on.
enum Days {
    Every,
    Week(Vec<chrono::Weekday>),
    /// Days of the month, in these months (all when none).
    Month(Vec<u32>, Option<Vec<u32>>),
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// One calendar trigger: on `days`, at `start` (hour, minute), repeated
/// every `every_seconds` through the day when given.
fn calendar_trigger(days: &Days, start: (u32, u32), every_seconds: Option<u64>) -> String {
    let schedule = match days {
        Days::Every => {
            "      <ScheduleByDay>\n        <DaysInterval>1</DaysInterval>\n      </ScheduleByDay>\n"
                .to_string()
        }
        Days::Week(weekdays) => format!(
            "      <ScheduleByWeek>\n        <WeeksInterval>1</WeeksInterval>\n        <DaysOfWeek>\n{}        </DaysOfWeek>\n      </ScheduleByWeek>\n",
            weekdays
                .iter()
                .map(|d| format!("          <{}/>\n", weekday_name(*d)))
                .collect::<String>()
        ),
        Days::Month(days, months) => {
            let months: Vec<u32> = months.clone().unwrap_or_else(|| (1..=12).collect());
            format!(
                "      <ScheduleByMonth>\n        <DaysOfMonth>\n{}        </DaysOfMonth>\n        <Months>\n{}        </Months>\n      </ScheduleByMonth>\n",
                days.iter()
                    .map(|d| format!("          <Day>{d}</Day>\n"))
                    .collect::<String>(),
                months
                    .iter()
                    .map(|m| format!(
                        "          <{}/>\n",
                        MONTH_NAMES[(*m as usize).clamp(1, 12) - 1]
                    ))
                    .collect::<String>()
            )
        }
    };
    format!(
        "    <CalendarTrigger>\n      <Enabled>true</Enabled>\n      <StartBoundary>{}</StartBoundary>\n{}{schedule}    </CalendarTrigger>\n",
        boundary(start.0, start.1),
        every_seconds.map_or(String::new(), |s| repetition(s, Some("P1D"))),
    )
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match day {
        Mon => "Monday",
        Tue => "Tuesday",
        Wed => "Wednesday",
        Thu => "Thursday",
        Fri => "Friday",
        Sat => "Saturday",
        Sun => "Sunday",
    }
}

/// The most triggers one expression's list of times may become.
const MAX_TRIGGERS_PER_EXPRESSION: usize = 24;

/// One or more calendar triggers per expression: the days (every day,
/// weekdays, or days of the month in some months) and the times (one, a
/// short list, or a repetition every N minutes or hours through the day),
/// minutes shifted by the service's offset. What the triggers cannot
/// express is refused with the reason and the nearest schedule they can.
pub fn calendar_triggers(calendar: &CalendarSchedule, offset_minutes: u32) -> Result<Vec<String>> {
    let all = calendar.at.join("; ");
    if let Some(zone) = &calendar.timezone
        && !super::cron::is_local_zone(zone)
    {
        return Err(Error::invalid_argument(format!(
            "Windows Task Scheduler cannot run '{all}': a task's trigger runs in the machine's time zone, not {zone}"
        ))
        .with_suggestion("Give --at the times as they fall in the machine's zone, without --timezone (they then shift by an hour while only one of the two zones keeps daylight saving time)."));
    }
    let mut triggers = Vec::new();
    for (at, cal) in calendar.at.iter().zip(calendar.calendars()?) {
        triggers.extend(expression_triggers(at, cal.fields(), offset_minutes)?);
    }
    Ok(triggers)
}

fn expression_triggers(
    at: &str,
    f: &crate::calendar::CalendarFields,
    offset_minutes: u32,
) -> Result<Vec<String>> {
    let refuse = |why: &str| -> Result<Vec<String>> {
        let h = f.hour.as_ref().map_or(0, |l| l[0].start);
        let m = f.minute.as_ref().map_or(0, |l| l[0].start);
        Err(Error::invalid_argument(format!(
            "Windows Task Scheduler cannot run '{at}': {why}"
        ))
        .with_suggestion(format!(
            "Use --at '{h:02}:{m:02}' (once a day, the nearest a task trigger keeps), or another --scheduler."
        )))
    };
    let whole_minute = matches!(f.second_micros.as_slice(), [only] if only.start == 0 && only.stop.is_none() && only.repeat.is_none());
    if !whole_minute || f.year.is_some() || f.end_of_month {
        return refuse(
            "a task trigger has no seconds, years or days counted from the end of the month",
        );
    }
    let days = match (&f.weekdays, &f.day, &f.month) {
        (None, None, None) => Days::Every,
        (Some(weekdays), None, None) => Days::Week(weekdays.clone()),
        (None, Some(days), months) => Days::Month(
            crate::schedule::expand(days, 31),
            months.as_ref().map(|m| crate::schedule::expand(m, 12)),
        ),
        _ => {
            return refuse(
                "a task trigger takes weekdays or days of the month, not both, and months only with days",
            );
        }
    };
    let single = |list: &Option<Vec<Component>>| match list.as_deref() {
        Some([c]) if c.stop.is_none() && c.repeat.is_none() => Some(c.start),
        _ => None,
    };
    let step_from_zero = |list: &Option<Vec<Component>>, period: u32| match list.as_deref() {
        Some([c])
            if c.stop.is_none()
                && c.repeat.is_some_and(|r| period.is_multiple_of(r))
                && c.start < c.repeat.unwrap_or(0) =>
        {
            Some((c.start, c.repeat.unwrap_or(1)))
        }
        _ => None,
    };
    let one = |h: u32, m: u32, every_minutes: Option<u32>| {
        calendar_trigger(
            &days,
            (h, m + offset_minutes),
            every_minutes.map(|e| u64::from(e) * 60),
        )
    };
    match (&f.hour, &f.minute) {
        (None, None) => Ok(vec![one(0, 0, Some(1))]),
        (None, Some(_)) => match (single(&f.minute), step_from_zero(&f.minute, 60)) {
            (Some(m), _) => Ok(vec![one(0, m, Some(60))]),
            (_, Some((start, every))) => Ok(vec![one(0, start, Some(every))]),
            _ => refuse("a task repeats every N minutes from one start, not at a list of minutes"),
        },
        (Some(hours), Some(minutes)) => {
            if let (Some(m), Some((start, every))) =
                (single(&f.minute), step_from_zero(&f.hour, 24))
            {
                return Ok(vec![one(start, m, Some(every * 60))]);
            }
            // One time, or a short list of times: a trigger each.
            let hours = crate::schedule::expand(hours, 23);
            let minutes = crate::schedule::expand(minutes, 59);
            if hours.len() * minutes.len() > MAX_TRIGGERS_PER_EXPRESSION {
                return refuse(&format!(
                    "a task runs at up to {MAX_TRIGGERS_PER_EXPRESSION} times a day, or every N minutes or hours from one start"
                ));
            }
            Ok(hours
                .iter()
                .flat_map(|h| minutes.iter().map(move |m| one(*h, *m, None)))
                .collect())
        }
        (Some(_), None) => {
            refuse("a task repeats every N minutes through the whole day, not within some hours")
        }
    }
}

/// The `schtasks` arguments that register the task from its XML file.
pub fn create_args(service_id: &str, xml_path: &Path) -> Vec<String> {
    vec![
        "/create".into(),
        "/tn".into(),
        task_name(service_id),
        "/xml".into(),
        xml_path.display().to_string(),
        "/f".into(),
    ]
}

/// The bytes of a task XML file: UTF-16 little endian with a byte-order
/// mark, the one encoding `schtasks /create /xml` reads whatever the
/// declaration says.
pub fn utf16_file(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// A task XML file read back; None when it is not UTF-16 LE with a BOM.
pub fn read_utf16_file(bytes: &[u8]) -> Option<String> {
    let body = bytes.strip_prefix(&[0xFF, 0xFE])?;
    if body.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

pub fn delete_args(service_id: &str) -> Vec<String> {
    vec![
        "/delete".into(),
        "/tn".into(),
        task_name(service_id),
        "/f".into(),
    ]
}

/// Every task, one CSV row each (`TaskName` first).
pub fn list_args() -> Vec<String> {
    vec!["/query".into(), "/fo".into(), "CSV".into()]
}

/// The service ids of the `SyncFleet-<id>` tasks in a `schtasks /query
/// /fo CSV` listing (header rows, repeated per folder, name no task).
pub fn task_ids(listing: &str) -> Vec<String> {
    parse_csv(listing)
        .into_iter()
        .filter_map(|row| {
            let name = row.first()?.trim_start_matches('\\');
            let id = name.strip_prefix("SyncFleet-")?;
            crate::identity::is_valid_service_id(id).then(|| id.to_string())
        })
        .collect()
}

pub fn query_args(service_id: &str) -> Vec<String> {
    vec![
        "/query".into(),
        "/tn".into(),
        task_name(service_id),
        "/fo".into(),
        "CSV".into(),
        "/v".into(),
    ]
}

/// Parse CSV as schtasks writes it. Lenient on quotes: a `"` inside a
/// quoted field that neither doubles nor ends the field is literal, which
/// reads both RFC 4180 doubling and the unescaped quotes some Windows
/// versions print in `Task To Run`.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let chars: Vec<char> = line.trim_end_matches('\r').chars().collect();
            let mut fields = Vec::new();
            let mut i = 0;
            loop {
                let mut field = String::new();
                if chars.get(i) == Some(&'"') {
                    i += 1;
                    while i < chars.len() {
                        match (chars[i], chars.get(i + 1)) {
                            ('"', Some('"')) => {
                                field.push('"');
                                i += 2;
                            }
                            ('"', None | Some(',')) => {
                                i += 1;
                                break;
                            }
                            (c, _) => {
                                field.push(c);
                                i += 1;
                            }
                        }
                    }
                } else {
                    while i < chars.len() && chars[i] != ',' {
                        field.push(chars[i]);
                        i += 1;
                    }
                }
                fields.push(field);
                if chars.get(i) == Some(&',') {
                    i += 1;
                } else {
                    break;
                }
            }
            fields
        })
        .collect()
}

/// One task as `schtasks /query /fo CSV /v` describes it (first trigger row).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskInfo {
    pub status: String,
    pub next_run: Option<String>,
    pub enabled: bool,
    pub task_to_run: String,
}

pub fn parse_query(text: &str) -> Option<TaskInfo> {
    let rows = parse_csv(text);
    let header = rows.first()?;
    let col =
        |name: &str, fallback: usize| header.iter().position(|h| h == name).unwrap_or(fallback);
    let (status, next, run, state) = (
        col("Status", 3),
        col("Next Run Time", 2),
        col("Task To Run", 8),
        col("Scheduled Task State", 11),
    );
    // /v repeats the header before each folder's tasks: skip those rows.
    let row = rows.iter().skip(1).find(|r| *r != header)?;
    let get = |i: usize| row.get(i).cloned().unwrap_or_default();
    let next_run = get(next);
    Some(TaskInfo {
        status: get(status),
        next_run: (!next_run.is_empty() && next_run != "N/A").then_some(next_run),
        enabled: get(state) != "Disabled" && get(status) != "Disabled",
        task_to_run: get(run),
    })
}

impl Schtasks {
    pub fn new(env: &Env) -> Schtasks {
        Schtasks {
            staging_dir: env.xdg_config_home().join("syncfleet/schtasks"),
            schtasks: process::scheduler_program("schtasks"),
        }
    }

    pub fn xml_path(&self, service_id: &str) -> PathBuf {
        self.staging_dir
            .join(format!("{}.xml", task_name(service_id)))
    }

    /// Where versions before the task XML kept the `schtasks /create`
    /// arguments: removed with the service's other artifacts.
    fn legacy_args_path(&self, service_id: &str) -> PathBuf {
        self.staging_dir
            .join(format!("{}.args", task_name(service_id)))
    }

    fn schtasks(&self, args: &[String]) -> Result<process::Captured> {
        process::run_checked(&self.schtasks, args, DEFAULT_TIMEOUT)
    }

    fn query(&self, service_id: &str) -> Result<TaskInfo> {
        let out = self.schtasks(&query_args(service_id))?;
        parse_query(&out.stdout).ok_or_else(|| {
            Error::service_error(format!(
                "cannot read task {} from schtasks /query output",
                task_name(service_id)
            ))
        })
    }
}

impl Scheduler for Schtasks {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Schtasks
    }

    /// Scheduled tasks run with the user's environment; env files and
    /// embedded values do not apply.
    fn token_placement(&self, wanted: TokenPlacement) -> TokenPlacement {
        match wanted {
            TokenPlacement::EnvFile { var, .. }
            | TokenPlacement::Embedded { var, .. }
            | TokenPlacement::SystemEnv { var } => TokenPlacement::SystemEnv { var },
            TokenPlacement::None => TokenPlacement::None,
        }
    }

    fn first_run(&self, spec: &ServiceSpec) -> String {
        let interval_seconds = spec.interval_seconds;
        if spec.calendar.is_some() {
            return "at the next slot of its calendar".into();
        }
        format!(
            "in about {}",
            crate::duration::format_interval(interval_seconds)
        )
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<Artifact>> {
        Ok(vec![Artifact {
            path: self.xml_path(&spec.service_id),
            content: task_xml(spec)?,
            mode: 0o644,
        }])
    }

    fn file_bytes(&self, artifact: &Artifact) -> Vec<u8> {
        utf16_file(&artifact.content)
    }

    /// The task XML as text; a file that is not UTF-16 (edited by hand, or
    /// the arguments of an older version) as it is, so it hashes apart.
    fn read_installed(&self, path: &Path) -> Option<String> {
        let bytes = std::fs::read(path).ok()?;
        Some(
            read_utf16_file(&bytes).unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
        )
    }

    fn artifact_paths(&self, service_id: &str) -> Vec<PathBuf> {
        vec![self.xml_path(service_id), self.legacy_args_path(service_id)]
    }

    fn planned_commands(&self, service_ids: &[&str]) -> Vec<String> {
        service_ids
            .iter()
            .map(|id| {
                process::display_command(&self.schtasks, &create_args(id, &self.xml_path(id)))
            })
            .collect()
    }

    fn activate(&self, service_ids: &[&str]) -> Result<()> {
        for id in service_ids {
            self.schtasks(&create_args(id, &self.xml_path(id)))?;
        }
        Ok(())
    }

    fn deactivate(&self, service_id: &str) -> Result<()> {
        self.schtasks(&delete_args(service_id)).map(|_| ())
    }

    fn reload(&self) -> Result<()> {
        Ok(())
    }

    fn state(&self, service_id: &str) -> PlatformState {
        match self.query(service_id) {
            Ok(t) => PlatformState {
                next_run: t.next_run,
                ..PlatformState::known(
                    t.enabled,
                    if t.enabled {
                        t.status.to_lowercase()
                    } else {
                        "disabled".into()
                    },
                )
            },
            // schtasks says only "cannot find the file": most likely no task.
            Err(e) => PlatformState {
                error: Some(e.message),
                ..PlatformState::known(false, "not-found")
            },
        }
    }

    fn installed_command(&self, service_id: &str) -> Option<Vec<String>> {
        let mut argv = win_split(&self.query(service_id).ok()?.task_to_run);
        // The data directory is how the task finds its state, not part of
        // the command the manifest records.
        if let Some(i) = argv.iter().position(|w| w == "--data-dir")
            && i + 1 < argv.len()
        {
            argv.drain(i..i + 2);
        }
        Some(argv)
    }

    fn schedule_label(&self, service_id: &str) -> String {
        format!("scheduled task {}", task_name(service_id))
    }

    fn list_artifacts(&self) -> Result<ArtifactListing> {
        let mut listing = ArtifactListing::new();
        let shown = process::display_command(&self.schtasks, &list_args());
        match process::capture(
            std::process::Command::new(&self.schtasks).args(list_args()),
            None,
            DEFAULT_TIMEOUT,
        ) {
            Ok(c) if c.success() => {
                for id in task_ids(&c.stdout) {
                    let label = self.schedule_label(&id);
                    listing.entry(id).or_default().push(label);
                }
            }
            Ok(c) => return Err(Error::command_failed(&shown, c.code, &c.stderr)),
            // No schtasks here (not Windows): no tasks.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::command_failed(&shown, None, &e.to_string())),
        }
        ids_in_dir(&self.staging_dir, "SyncFleet-", ".xml", &mut listing);
        ids_in_dir(&self.staging_dir, "SyncFleet-", ".args", &mut listing);
        Ok(listing)
    }

    fn prerequisites(&self) -> Vec<Check> {
        match process::capture(
            std::process::Command::new(&self.schtasks).arg("/?"),
            None,
            DEFAULT_TIMEOUT,
        ) {
            Ok(c) if c.success() => vec![Check::pass("schtasks", "schtasks.exe is available")],
            Ok(c) => vec![Check::fail(
                "schtasks",
                format!("schtasks /? exited {:?}", c.code),
                "Check that the Task Scheduler service is running.",
            )],
            Err(e) => vec![Check::fail(
                "schtasks",
                format!("schtasks.exe cannot run here: {e}"),
                "schtasks exists on Windows only; elsewhere use --scheduler systemd, launchd or cron.",
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_spec as spec;

    const HEADER: &str = r#""HostName","TaskName","Next Run Time","Status","Logon Mode","Last Run Time","Last Result","Author","Task To Run","Start In","Comment","Scheduled Task State","Idle Time","Power Management","Run As User","Delete Task If Not Rescheduled","Stop Task If Runs X Hours and X Mins","Schedule","Schedule Type","Start Time","Start Date","End Date","Days","Months","Repeat: Every","Repeat: Until: Time","Repeat: Until: Duration","Repeat: Stop If Still Running""#;

    /// Real output shape: the quotes inside `Task To Run` are not doubled.
    fn fixture_unescaped() -> String {
        format!(
            "\r\n{HEADER}\r\n\"DESKTOP-7Q2\",\"\\SyncFleet-abc123\",\"11/22/2026 4:15:00 AM\",\"Ready\",\"Interactive only\",\"11/22/2026 3:45:00 AM\",\"0\",\"DESKTOP-7Q2\\ana\",\"\"C:\\Program Files\\syncfleet\\syncfleet.exe\" --robot --data-dir \"C:\\Users\\ana\\AppData\\Local\\syncfleet\" run --service-id abc123\",\"N/A\",\"N/A\",\"Enabled\",\"Disabled\",\"Stop On Battery Mode, No Start On Batteries\",\"ana\",\"Disabled\",\"72:00:00\",\"Scheduling data is not available in this format.\",\"One Time Only, Minutes\",\"3:45:00 AM\",\"11/22/2026\",\"N/A\",\"N/A\",\"N/A\",\"0 Hour(s), 30 Minute(s)\",\"None\",\"Disabled\",\"Disabled\"\r\n"
        )
    }

    fn calendar(at: &[&str], catch_up: CatchUp) -> CalendarSchedule {
        let now = chrono::DateTime::from_timestamp(1_796_205_600, 0).unwrap();
        let at: Vec<String> = at.iter().map(|a| a.to_string()).collect();
        CalendarSchedule::parse(&at, None, catch_up, now).unwrap()
    }

    fn daily_at(time: &str) -> String {
        format!(
            "    <CalendarTrigger>\n      <Enabled>true</Enabled>\n      <StartBoundary>2001-01-01T{time}:00</StartBoundary>\n      <ScheduleByDay>\n        <DaysInterval>1</DaysInterval>\n      </ScheduleByDay>\n    </CalendarTrigger>\n"
        )
    }

    /// The triggers Task Scheduler gets for each calendar shape it has.
    #[test]
    fn calendars_map_to_task_triggers() {
        let weekdays = "    <CalendarTrigger>
      <Enabled>true</Enabled>
      <StartBoundary>2001-01-01T09:30:00</StartBoundary>
      <ScheduleByWeek>
        <WeeksInterval>1</WeeksInterval>
        <DaysOfWeek>
          <Monday/>
          <Tuesday/>
          <Wednesday/>
          <Thursday/>
          <Friday/>
        </DaysOfWeek>
      </ScheduleByWeek>
    </CalendarTrigger>
";
        let monthly = "    <CalendarTrigger>
      <Enabled>true</Enabled>
      <StartBoundary>2001-01-01T02:00:00</StartBoundary>
      <ScheduleByMonth>
        <DaysOfMonth>
          <Day>1</Day>
          <Day>15</Day>
        </DaysOfMonth>
        <Months>
          <January/>
          <July/>
        </Months>
      </ScheduleByMonth>
    </CalendarTrigger>
";
        let every_15_minutes = "    <CalendarTrigger>
      <Enabled>true</Enabled>
      <StartBoundary>2001-01-01T00:07:00</StartBoundary>
      <Repetition>
        <Interval>PT15M</Interval>
        <Duration>P1D</Duration>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
";
        for (at, offset, expected) in [
            (&["daily"][..], 3, daily_at("00:03")),
            (&["Mon..Fri 09:30"], 0, weekdays.to_string()),
            (&["*-01,07-01,15 02:00"], 0, monthly.to_string()),
            (&["*:0/15"], 7, every_15_minutes.to_string()),
            (
                &["07:00", "19:45"],
                0,
                daily_at("07:00") + &daily_at("19:45"),
            ),
            (&["09,17:30"], 2, daily_at("09:32") + &daily_at("17:32")),
        ] {
            let c = calendar(at, CatchUp::Latest);
            assert_eq!(
                calendar_triggers(&c, offset).unwrap().concat(),
                expected,
                "{at:?}"
            );
        }
        for (at, offset, start, every) in [
            ("hourly", 12, "00:12", "PT1H"),
            ("*-*-* 0/2:30", 0, "00:30", "PT2H"),
            ("*:*", 0, "00:00", "PT1M"),
        ] {
            let t = calendar_triggers(&calendar(&[at], CatchUp::None), offset)
                .unwrap()
                .concat();
            assert!(
                t.contains(&format!("<Interval>{every}</Interval>")),
                "{at}: {t}"
            );
            assert!(
                t.contains(&format!("T{start}:00</StartBoundary>")),
                "{at}: {t}"
            );
            assert!(t.contains("<Duration>P1D</Duration>"), "{at}: {t}");
        }
        let three = calendar_triggers(&calendar(&["Sat 09:0/20"], CatchUp::None), 0).unwrap();
        assert_eq!(three.len(), 3, "{three:?}");
        assert!(three[2].contains("T09:40:00<"), "{three:?}");
        let weekday_repeat = calendar_triggers(&calendar(&["Sat,Sun *:0/30"], CatchUp::None), 0)
            .unwrap()
            .concat();
        assert!(
            weekday_repeat.contains("<Saturday/>\n          <Sunday/>"),
            "{weekday_repeat}"
        );
        assert!(
            weekday_repeat.contains("<Interval>PT30M</Interval>"),
            "{weekday_repeat}"
        );
    }

    #[test]
    fn calendars_a_task_cannot_keep_are_refused_with_the_nearest() {
        for (at, why, nearest) in [
            ("*:0/20:30", "no seconds", "--at '00:00'"),
            ("*-*-* 0..23:0,30", "up to 24 times a day", "--at '00:00'"),
            ("*:5,35", "list of minutes", "--at '00:05'"),
            ("Mon *-*-1 10:00", "not both", "--at '10:00'"),
            ("09:*", "whole day", "--at '09:00'"),
        ] {
            let e = calendar_triggers(&calendar(&[at], CatchUp::Latest), 0).unwrap_err();
            assert!(e.message.contains(why), "{at}: {}", e.message);
            assert!(
                e.message
                    .contains(&format!("'{}'", calendar(&[at], CatchUp::Latest).at[0])),
                "{at}: {}",
                e.message
            );
            assert!(
                e.suggestion.as_deref().unwrap().contains(nearest),
                "{at}: {e:?}"
            );
        }
        let now = chrono::DateTime::from_timestamp(1_796_205_600, 0).unwrap();
        let berlin = CalendarSchedule::parse(
            &["Mon..Fri 09:30".to_string()],
            Some("Europe/Berlin"),
            CatchUp::Latest,
            now,
        )
        .unwrap();
        if !crate::scheduler::cron::is_local_zone("Europe/Berlin") {
            let e = calendar_triggers(&berlin, 0).unwrap_err();
            assert!(e.message.contains("not Europe/Berlin"), "{}", e.message);
            assert!(e.suggestion.unwrap().contains("without --timezone"));
        }
    }

    /// 100 services every 15 minutes start their repetition at most of
    /// the 15 minutes of the quarter hour.
    #[test]
    fn a_fleet_of_100_interval_tasks_spreads_its_start_times() {
        let starts: std::collections::BTreeSet<String> = (0..100)
            .map(|i| {
                let t = interval_trigger(&format!("svc{i:03}"), 900);
                let at = t.find("<StartBoundary>2001-01-01T").unwrap() + 26;
                t[at..at + 5].to_string()
            })
            .collect();
        assert!(starts.len() >= 13, "{starts:?}");
        assert!(starts.iter().all(|st| st.as_str() < "00:15"), "{starts:?}");
    }

    /// The whole task for an interval service, and how it is registered.
    #[test]
    fn an_interval_task_as_xml_and_its_registration() {
        let mut s = spec(TokenPlacement::SystemEnv {
            var: "GITLAB_TOKEN".into(),
        });
        s.binary_path = "C:\\Program Files\\syncfleet\\syncfleet.exe".into();
        s.data_dir = "C:\\data & more".into();
        s.workspace_root = "C:\\work\\<space>".into();
        s.interval_seconds = 1830;
        assert_eq!(
            task_xml(&s).unwrap(),
            r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Author>syncfleet</Author>
    <Description>syncfleet service abc123 (workspace C:\work\&lt;space&gt;)</Description>
  </RegistrationInfo>
  <Triggers>
    <TimeTrigger>
      <Enabled>true</Enabled>
      <StartBoundary>2001-01-01T00:13:00</StartBoundary>
      <Repetition>
        <Interval>PT31M</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
    </TimeTrigger>
  </Triggers>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>false</StartWhenAvailable>
    <ExecutionTimeLimit>PT25M</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions>
    <Exec>
      <Command>&quot;C:\Program Files\syncfleet\syncfleet.exe&quot;</Command>
      <Arguments>--robot --data-dir &quot;C:\data &amp; more&quot; run --service-id abc123</Arguments>
    </Exec>
  </Actions>
</Task>
"#
        );
        assert_eq!(
            create_args("abc123", Path::new("C:\\cfg\\SyncFleet-abc123.xml")),
            [
                "/create",
                "/tn",
                "SyncFleet-abc123",
                "/xml",
                "C:\\cfg\\SyncFleet-abc123.xml",
                "/f"
            ]
        );
        assert_eq!(
            delete_args("abc123"),
            ["/delete", "/tn", "SyncFleet-abc123", "/f"]
        );
        assert_eq!(
            query_args("abc123"),
            ["/query", "/tn", "SyncFleet-abc123", "/fo", "CSV", "/v"]
        );
    }

    /// Catch-up is StartWhenAvailable; several --at are several triggers
    /// of one task.
    #[test]
    fn a_calendar_task_catches_up_only_when_asked() {
        let mut s = spec(TokenPlacement::None);
        for (catch_up, want) in [(CatchUp::Latest, true), (CatchUp::None, false)] {
            s.calendar = Some(calendar(&["Mon..Fri 09:30", "Sat 11:00"], catch_up));
            let xml = task_xml(&s).unwrap();
            assert!(
                xml.contains(&format!("<StartWhenAvailable>{want}</StartWhenAvailable>")),
                "{xml}"
            );
            assert_eq!(xml.matches("<CalendarTrigger>").count(), 2, "{xml}");
        }
    }

    #[test]
    fn durations_and_intervals() {
        assert_eq!(interval_minutes(300), 5);
        assert_eq!(interval_minutes(301), 6);
        assert_eq!(interval_minutes(86_400), 1440);
        assert_eq!(xml_duration(1500), "PT25M");
        assert_eq!(xml_duration(5430), "PT1H30M30S");
        assert_eq!(xml_duration(86_400), "PT24H");
        assert_eq!(xml_duration(0), "PT0S");
    }

    #[test]
    fn task_files_are_utf16_with_a_byte_order_mark() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<a>é漢</a>\n";
        let bytes = utf16_file(text);
        assert_eq!(&bytes[..4], &[0xFF, 0xFE, b'<', 0]);
        assert_eq!(read_utf16_file(&bytes).as_deref(), Some(text));
        assert_eq!(read_utf16_file(text.as_bytes()), None);
        assert_eq!(read_utf16_file(&bytes[..5]), None);
    }

    #[test]
    fn quotes_in_paths_are_refused() {
        let mut s = spec(TokenPlacement::None);
        s.data_dir = "C:\\a\"b".into();
        assert_eq!(
            task_xml(&s).unwrap_err().code,
            crate::error::ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn token_is_always_the_users_environment() {
        let s = Schtasks {
            staging_dir: "/c".into(),
            schtasks: "schtasks".into(),
        };
        assert_eq!(
            s.token_placement(TokenPlacement::EnvFile {
                var: "T".into(),
                path: "/e".into()
            }),
            TokenPlacement::SystemEnv { var: "T".into() }
        );
        assert_eq!(
            s.token_placement(TokenPlacement::None),
            TokenPlacement::None
        );
    }

    #[test]
    fn csv_reads_quoted_fields_both_ways() {
        assert_eq!(
            parse_csv("\"a\",\"b, c\",\"say \"\"hi\"\"\",plain,\"\"\n"),
            vec![vec!["a", "b, c", "say \"hi\"", "plain", ""]]
        );
        assert_eq!(
            parse_csv("\"\"C:\\x y\\a.exe\" run\",\"z\""),
            vec![vec!["\"C:\\x y\\a.exe\" run", "z"]]
        );
    }

    #[test]
    fn query_output_with_unescaped_quotes() {
        let t = parse_query(&fixture_unescaped()).unwrap();
        assert_eq!(t.status, "Ready");
        assert!(t.enabled);
        assert_eq!(t.next_run.as_deref(), Some("11/22/2026 4:15:00 AM"));
        assert_eq!(
            win_split(&t.task_to_run),
            [
                "C:\\Program Files\\syncfleet\\syncfleet.exe",
                "--robot",
                "--data-dir",
                "C:\\Users\\ana\\AppData\\Local\\syncfleet",
                "run",
                "--service-id",
                "abc123"
            ]
        );
    }

    #[test]
    fn query_output_rfc_doubled_and_disabled() {
        let row = "\"HOST\",\"\\SyncFleet-abc123\",\"N/A\",\"Disabled\",\"Interactive only\",\"N/A\",\"267011\",\"HOST\\ana\",\"\"\"C:\\Program Files\\sf.exe\"\" --robot run --service-id abc123\",\"N/A\",\"N/A\",\"Disabled\"";
        let t = parse_query(&format!("{HEADER}\n{row}\n")).unwrap();
        assert!(!t.enabled);
        assert_eq!(t.next_run, None);
        assert_eq!(
            t.task_to_run,
            "\"C:\\Program Files\\sf.exe\" --robot run --service-id abc123"
        );
    }

    #[test]
    fn task_listing_names_only_syncfleet_tasks() {
        let listing = "\r\n\"TaskName\",\"Next Run Time\",\"Status\"\r\n\"\\SyncFleet-abc123\",\"N/A\",\"Ready\"\r\n\"\\Other\",\"N/A\",\"Ready\"\r\n\"TaskName\",\"Next Run Time\",\"Status\"\r\n\"\\SyncFleet-my-name\",\"N/A\",\"Ready\"\r\n\"\\SyncFleet-Bad/Id\",\"N/A\",\"Ready\"\r\n";
        assert_eq!(task_ids(listing), ["abc123", "my-name"]);
    }

    #[test]
    fn repeated_headers_are_skipped() {
        let text = format!("{HEADER}\n{HEADER}\n{}", fixture_unescaped());
        assert_eq!(parse_query(&text).unwrap().status, "Ready");
        assert_eq!(parse_query(""), None);
    }
}
