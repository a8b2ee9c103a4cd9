//! Windows Task Scheduler through `schtasks.exe`: task `SyncFleet-<id>`,
//! repeating every interval (rounded up to whole minutes). Tasks inherit
//! the user's environment, so the token is the user's own variable
//! (`system_env`): syncfleet stores no token on Windows.
//!
//! The rendered artifact is the `schtasks /create` argument vector, one
//! argument per line, kept in `$XDG_CONFIG_HOME/syncfleet/schtasks/` so
//! `activate` creates the task from exactly what install rendered and drift
//! has a file to compare.

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
use std::path::PathBuf;

/// The longest `/tr` value schtasks accepts.
pub const MAX_TASK_RUN_CHARS: usize = 261;

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

/// The command the task runs. Tasks have no per-task environment, so the
/// data directory travels as `--data-dir`.
pub fn task_to_run(spec: &ServiceSpec) -> Result<String> {
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
    let line = argv
        .iter()
        .map(|w| win_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() > MAX_TASK_RUN_CHARS {
        return Err(Error::invalid_argument(format!(
            "the task command is {} characters; schtasks accepts at most {MAX_TASK_RUN_CHARS}",
            line.chars().count()
        ))
        .with_suggestion(
            "Install syncfleet and the data directory (--data-dir) under shorter paths.",
        ));
    }
    Ok(line)
}

/// `/sc` and `/mo` for an interval: minutes up to a day, else daily.
pub fn schedule(interval_seconds: u64) -> (&'static str, u64) {
    let minutes = interval_seconds.div_ceil(60).max(1);
    if minutes >= 1440 {
        ("daily", minutes / 1440)
    } else {
        ("minute", minutes)
    }
}

pub fn create_args(spec: &ServiceSpec) -> Result<Vec<String>> {
    let when = match &spec.calendar {
        Some(c) => calendar_args(c, c.minute_offset(&spec.service_id, spec.interval_seconds))?,
        None => {
            let (sc, mo) = schedule(spec.interval_seconds);
            // The task repeats from its start time: each service starts at
            // its own stable offset within the period, so a fleet spreads.
            let period_minutes = match sc {
                "daily" => 1440 * mo,
                _ => mo,
            };
            let start =
                crate::schedule::spread_offset_seconds(&spec.service_id, period_minutes * 60) / 60
                    % 1440;
            vec![
                "/sc".into(),
                sc.into(),
                "/mo".into(),
                mo.to_string(),
                "/st".into(),
                format!("{:02}:{:02}", start / 60, start % 60),
            ]
        }
    };
    let mut args = vec![
        "/create".into(),
        "/tn".into(),
        task_name(&spec.service_id),
        "/tr".into(),
        task_to_run(spec)?,
    ];
    args.extend(when);
    args.push("/f".into());
    Ok(args)
}

const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// `/sc` and its companions for a calendar: one time a day (DAILY), on
/// weekdays (WEEKLY /d), on days of the month (MONTHLY /d /m), or a
/// repetition within the day (MINUTE, HOURLY /mo from /st), minutes
/// shifted by the service's offset. What one task trigger cannot express
/// is refused with the reason and the nearest schedule it can.
pub fn calendar_args(calendar: &CalendarSchedule, offset_minutes: u32) -> Result<Vec<String>> {
    let first = &calendar.at[0];
    let refuse = |why: String, nearest: String| {
        Err(Error::invalid_argument(format!(
            "Windows Task Scheduler cannot run '{}': {why}",
            calendar.at.join("; ")
        ))
        .with_suggestion(nearest))
    };
    if calendar.catch_up == CatchUp::Latest {
        return refuse(
            "catching up missed runs needs the task's StartWhenAvailable, which schtasks /create cannot set".into(),
            "Add --catch-up none (the run waits for the next slot), or use another --scheduler.".into(),
        );
    }
    if let Some(zone) = &calendar.timezone
        && !super::cron::is_local_zone(zone)
    {
        return refuse(
            format!("a task's trigger runs in the machine's time zone, not {zone}"),
            "Give --at the times as they fall in the machine's zone, without --timezone (they then shift by an hour while only one of the two zones keeps daylight saving time).".into(),
        );
    }
    if calendar.at.len() > 1 {
        return refuse(
            "one task has one schedule".into(),
            format!(
                "Use one --at (e.g. --at '{first}'), or install the schedules as separate services."
            ),
        );
    }
    let calendars = calendar.calendars()?;
    let f = calendars[0].fields();
    let whole_minute = matches!(f.second_micros.as_slice(), [only] if only.start == 0 && only.stop.is_none() && only.repeat.is_none());
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
    let time = |h: u32, m: u32| format!("{h:02}:{:02}", m + offset_minutes);
    let days_free =
        f.weekdays.is_none() && f.day.is_none() && f.month.is_none() && f.year.is_none();
    let daily_nearest = || {
        let h = f.hour.as_ref().map_or(0, |l| l[0].start);
        let m = f.minute.as_ref().map_or(0, |l| l[0].start);
        format!(
            "Use --at '{h:02}:{m:02}' (once a day, the nearest a task trigger keeps), or another --scheduler."
        )
    };
    if !whole_minute || f.year.is_some() || f.end_of_month {
        return refuse(
            "a task trigger has no seconds, years or days counted from the end of the month".into(),
            daily_nearest(),
        );
    }
    let (hour, minute) = (single(&f.hour), single(&f.minute));
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    match (hour, minute) {
        (Some(h), Some(m)) => {
            let st = time(h, m);
            match (&f.weekdays, &f.day, &f.month) {
                (None, None, None) => Ok(args(&["/sc", "daily", "/st", &st])),
                (Some(days), None, None) => {
                    let d: Vec<&str> = days
                        .iter()
                        .map(|d| WEEKDAYS[d.num_days_from_sunday() as usize])
                        .collect();
                    Ok(args(&["/sc", "weekly", "/d", &d.join(","), "/st", &st]))
                }
                (None, Some(days), months) => {
                    let d = crate::schedule::expand(days, 31);
                    let mut out = args(&["/sc", "monthly", "/d"]);
                    out.push(d.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
                    if let Some(months) = months {
                        out.push("/m".into());
                        out.push(
                            crate::schedule::expand(months, 12)
                                .iter()
                                .map(|m| MONTHS[(*m as usize).saturating_sub(1)])
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                    }
                    out.extend(args(&["/st", &st]));
                    Ok(out)
                }
                _ => refuse(
                    "a task trigger takes weekdays or days of the month, not both, and months only with days".into(),
                    daily_nearest(),
                ),
            }
        }
        (None, _) if days_free && f.hour.is_none() => {
            match (f.minute.as_ref(), step_from_zero(&f.minute, 60)) {
                (None, _) => Ok(args(&["/sc", "minute", "/mo", "1"])),
                (_, None) if minute.is_some() => Ok(args(&[
                    "/sc",
                    "hourly",
                    "/mo",
                    "1",
                    "/st",
                    &time(0, minute.unwrap_or(0)),
                ])),
                (_, Some((start, every))) => Ok(args(&[
                    "/sc",
                    "minute",
                    "/mo",
                    &every.to_string(),
                    "/st",
                    &time(0, start),
                ])),
                _ => refuse(
                    "a task repeats every N minutes from one start, not at a list of minutes"
                        .into(),
                    daily_nearest(),
                ),
            }
        }
        (None, Some(m)) if days_free => match step_from_zero(&f.hour, 24) {
            Some((start, every)) => Ok(args(&[
                "/sc",
                "hourly",
                "/mo",
                &every.to_string(),
                "/st",
                &time(start, m),
            ])),
            None => refuse(
                "a task repeats every N hours from one start, not at a list of hours".into(),
                daily_nearest(),
            ),
        },
        _ => refuse(
            "a task trigger runs once a day, or every N minutes or hours on every day".into(),
            daily_nearest(),
        ),
    }
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

    pub fn args_path(&self, service_id: &str) -> PathBuf {
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
        let mut content = create_args(spec)?.join("\n");
        content.push('\n');
        Ok(vec![Artifact {
            path: self.args_path(&spec.service_id),
            content,
            mode: 0o644,
        }])
    }

    fn artifact_paths(&self, service_id: &str) -> Vec<PathBuf> {
        vec![self.args_path(service_id)]
    }

    fn planned_commands(&self, service_ids: &[&str]) -> Vec<String> {
        service_ids
            .iter()
            .map(|id| format!("schtasks (arguments in {})", self.args_path(id).display()))
            .collect()
    }

    fn activate(&self, service_ids: &[&str]) -> Result<()> {
        for id in service_ids {
            let path = self.args_path(id);
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            let args: Vec<String> = text.lines().map(str::to_string).collect();
            self.schtasks(&args)?;
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

    fn calendar(at: &str, catch_up: CatchUp) -> CalendarSchedule {
        let now = chrono::DateTime::from_timestamp(1_796_205_600, 0).unwrap();
        CalendarSchedule::parse(&[at.to_string()], None, catch_up, now).unwrap()
    }

    /// The vectors Task Scheduler gets for each calendar shape it has.
    #[test]
    fn calendars_map_to_task_triggers() {
        for (at, offset, expected) in [
            ("daily", 3, "/sc daily /st 00:03"),
            (
                "Mon..Fri 09:30",
                0,
                "/sc weekly /d MON,TUE,WED,THU,FRI /st 09:30",
            ),
            ("Sat,Sun 10:00", 4, "/sc weekly /d SAT,SUN /st 10:04"),
            ("*-*-1,15 02:00", 0, "/sc monthly /d 1,15 /st 02:00"),
            (
                "*-01,07-01 02:00",
                0,
                "/sc monthly /d 1 /m JAN,JUL /st 02:00",
            ),
            ("*:0/15", 7, "/sc minute /mo 15 /st 00:07"),
            ("hourly", 12, "/sc hourly /mo 1 /st 00:12"),
            ("*-*-* 0/2:30", 0, "/sc hourly /mo 2 /st 00:30"),
            ("*:*", 0, "/sc minute /mo 1"),
        ] {
            let c = calendar(at, CatchUp::None);
            assert_eq!(
                calendar_args(&c, offset).unwrap().join(" "),
                expected,
                "{at}"
            );
        }
    }

    #[test]
    fn calendars_a_task_cannot_keep_are_refused_with_the_nearest() {
        for (at, why, nearest) in [
            ("*:0/20:30", "no seconds", "--at '00:00'"),
            ("Mon..Fri 09,17:30", "once a day", "--at '09:30'"),
            ("*:5,35", "list of minutes", "--at '00:05'"),
        ] {
            let e = calendar_args(&calendar(at, CatchUp::None), 0).unwrap_err();
            assert!(e.message.contains(why), "{at}: {}", e.message);
            assert!(
                e.suggestion.as_deref().unwrap().contains(nearest),
                "{at}: {e:?}"
            );
        }
        let e = calendar_args(&calendar("daily", CatchUp::Latest), 0).unwrap_err();
        assert!(e.message.contains("StartWhenAvailable"), "{}", e.message);
        assert!(e.suggestion.unwrap().contains("--catch-up none"));
    }

    /// 100 services every 15 minutes start their repetition at most of
    /// the 15 minutes of the quarter hour.
    #[test]
    fn a_fleet_of_100_interval_tasks_spreads_its_start_times() {
        let starts: std::collections::BTreeSet<String> = (0..100)
            .map(|i| {
                let mut s = spec(TokenPlacement::None);
                s.service_id = format!("svc{i:03}");
                let args = create_args(&s).unwrap();
                let at = args.iter().position(|a| a == "/st").unwrap();
                args[at + 1].clone()
            })
            .collect();
        assert!(starts.len() >= 13, "{starts:?}");
        assert!(starts.iter().all(|st| st.as_str() < "00:15"), "{starts:?}");
    }

    #[test]
    fn create_args_follow_the_plan() {
        let mut s = spec(TokenPlacement::None);
        s.binary_path = "C:\\Program Files\\syncfleet\\syncfleet.exe".into();
        s.data_dir = "C:\\data".into();
        s.interval_seconds = 1830;
        assert_eq!(
            create_args(&s).unwrap(),
            [
                "/create",
                "/tn",
                "SyncFleet-abc123",
                "/tr",
                "\"C:\\Program Files\\syncfleet\\syncfleet.exe\" --robot --data-dir C:\\data run --service-id abc123",
                "/sc",
                "minute",
                "/mo",
                "31",
                "/st",
                "00:13",
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

    #[test]
    fn intervals_round_up_to_minutes_and_days() {
        assert_eq!(schedule(300), ("minute", 5));
        assert_eq!(schedule(301), ("minute", 6));
        assert_eq!(schedule(3600), ("minute", 60));
        assert_eq!(schedule(86_400), ("daily", 1));
    }

    #[test]
    fn long_commands_are_refused() {
        let mut s = spec(TokenPlacement::None);
        s.binary_path = format!("C:\\{}\\syncfleet.exe", "x".repeat(250)).into();
        assert_eq!(
            create_args(&s).unwrap_err().code,
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
