//! How a service is scheduled: an interval (the manifest's
//! `interval_seconds` alone), or calendar expressions (`--at`, systemd's
//! calendar syntax) with a time zone and a catch-up policy. The spread
//! offsets that keep a fleet from firing in the same second live here too,
//! so every backend spreads the same way.

use crate::calendar::Calendar;
use crate::error::{Error, ErrorCode, Result};
use crate::policy::SchedulerState;
use crate::store::manifest::Manifest;
use crate::store::status::StatusFile;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a calendar service does about slots missed while the machine was
/// off, asleep or logged out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    /// Run once at the next opportunity, never once per missed slot.
    #[default]
    Latest,
    /// Wait for the next slot.
    None,
}

impl CatchUp {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Latest => "latest",
            CatchUp::None => "none",
        }
    }
}

/// A calendar schedule as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSchedule {
    /// The expressions, normalised, in the order `--at` gave them; without
    /// their zone (`timezone` holds it for all of them).
    pub at: Vec<String>,
    /// The IANA zone the expressions are read in; none: the machine's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default)]
    pub catch_up: CatchUp,
}

impl CalendarSchedule {
    /// One line for people and for install's `changed` list.
    pub fn describe(&self) -> String {
        let zone = self
            .timezone
            .as_deref()
            .map(|z| format!(" {z}"))
            .unwrap_or_default();
        let specs: Vec<String> = self.at.iter().map(|s| format!("{s}{zone}")).collect();
        specs.join("; ")
    }

    /// One expression with its zone, as systemd's OnCalendar= and
    /// `syncfleet calendar` take it.
    pub fn with_zone(&self, spec: &str) -> String {
        match &self.timezone {
            Some(z) => format!("{spec} {z}"),
            None => spec.to_string(),
        }
    }
}

impl CalendarSchedule {
    /// `--at` expressions read in `--timezone` (or the zone they name):
    /// each normalised, one zone for all of them. An expression that fires
    /// at most once is refused: a service syncs on a repeating schedule.
    pub fn parse(
        at: &[String],
        timezone: Option<&str>,
        catch_up: CatchUp,
        now: DateTime<Utc>,
    ) -> Result<CalendarSchedule> {
        let tz = timezone
            .map(|name| {
                name.parse::<chrono_tz::Tz>().map_err(|_| {
                    Error::new(
                        ErrorCode::CalendarInvalid,
                        format!("--timezone: unknown time zone '{name}'"),
                    )
                    .with_suggestion(
                        "Use an IANA zone name such as Europe/Berlin, America/New_York or UTC.",
                    )
                })
            })
            .transpose()?;
        let mut zone: Option<Option<chrono_tz::Tz>> = None;
        let mut specs = Vec::with_capacity(at.len());
        for text in at {
            let mut calendar = Calendar::parse(text.trim())?;
            if let Some(tz) = tz {
                calendar = calendar.with_timezone(tz)?;
            }
            let own = calendar.timezone();
            match zone {
                Some(first) if first != own => {
                    return Err(Error::new(
                        ErrorCode::CalendarInvalid,
                        format!(
                            "the --at schedules name different time zones ({} and {}): a service has one zone",
                            zone_name(first),
                            zone_name(own)
                        ),
                    )
                    .with_suggestion("Give the zone once with --timezone TZ, or install the schedules as separate services."));
                }
                _ => zone = Some(own),
            }
            if calendar.next_elapses(now, 2).len() < 2 {
                return Err(Error::new(
                    ErrorCode::CalendarInvalid,
                    format!("'{text}' fires at most once more: a service syncs on a repeating schedule"),
                )
                .with_suggestion("Use a repeating expression such as `daily`, `Mon..Fri 09:30` or `*:0/15`; try it with syncfleet calendar SPEC."));
            }
            let normalized = calendar.normalized();
            let bare = match own {
                Some(z) => normalized
                    .strip_suffix(&format!(" {}", z.name()))
                    .unwrap_or(&normalized)
                    .to_string(),
                None => normalized,
            };
            if !specs.contains(&bare) {
                specs.push(bare);
            }
        }
        Ok(CalendarSchedule {
            at: specs,
            timezone: zone.flatten().map(|z| z.name().to_string()),
            catch_up,
        })
    }

    /// The expressions, parsed with their zone.
    pub fn calendars(&self) -> Result<Vec<Calendar>> {
        self.at
            .iter()
            .map(|at| Calendar::parse(&self.with_zone(at)))
            .collect()
    }

    /// The first slot strictly after `after`, over all expressions.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_of(&self.calendars().ok()?, after)
    }

    /// The latest slot in `(since, until]`, if one passed: a run missed
    /// when the service has not run since `since`.
    pub fn slot_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let calendars = self.calendars().ok()?;
        let first = next_of(&calendars, since).filter(|t| *t <= until)?;
        // Walk forward to the last slot before `until` (bounded: a missed
        // run is reported once, however many slots passed).
        let mut last = first;
        for _ in 0..10_000 {
            match next_of(&calendars, last) {
                Some(t) if t <= until => last = t,
                _ => break,
            }
        }
        Some(last)
    }

    /// The longest gap between consecutive slots over the next 64 (a
    /// weekday schedule's weekend, a monthly one's longest month), in
    /// seconds: how long a healthy service can go without a run, which is
    /// what a missed-run alert must wait for.
    pub fn longest_gap_seconds(&self, from: DateTime<Utc>) -> u64 {
        let Ok(calendars) = self.calendars() else {
            return 86_400;
        };
        let mut longest = 0;
        let mut last = next_of(&calendars, from);
        for _ in 0..64 {
            let (Some(a), Some(b)) = (last, last.and_then(|t| next_of(&calendars, t))) else {
                break;
            };
            longest = longest.max((b - a).num_seconds().max(0) as u64);
            last = Some(b);
        }
        if longest == 0 { 86_400 } else { longest }
    }

    /// The smallest gap between slots, in seconds: what backoff caps,
    /// overdue checks and the spread window measure against.
    pub fn period_seconds(&self, from: DateTime<Utc>) -> u64 {
        self.calendars()
            .unwrap_or_default()
            .iter()
            .map(|c| c.typical_period(from).as_secs())
            .min()
            .unwrap_or(86_400)
            .clamp(1, 366 * 86_400)
    }
}

impl CalendarSchedule {
    /// The whole minutes this service's slots are shifted by on schedulers
    /// without a delay of their own (cron, launchd, schtasks): its spread
    /// offset, reduced so that no minute of the expressions moves past the
    /// hour (`*:50` shifts by at most 9). Expressions that fire every
    /// minute are not shifted.
    pub fn minute_offset(&self, service_id: &str, period_seconds: u64) -> u32 {
        let offset =
            spread_offset_seconds(service_id, calendar_spread_seconds(period_seconds)) / 60;
        let latest_minute = self
            .calendars()
            .unwrap_or_default()
            .iter()
            .map(|c| match &c.fields().minute {
                Some(list) => expand(list, 59).into_iter().max().unwrap_or(59),
                None => 59,
            })
            .max()
            .unwrap_or(59);
        (offset % u64::from(60 - latest_minute)) as u32
    }

    /// The first run strictly after `after` with the slots shifted by
    /// `offset_minutes`.
    pub fn next_run(&self, after: DateTime<Utc>, offset_minutes: u32) -> Option<DateTime<Utc>> {
        let shift = chrono::Duration::minutes(i64::from(offset_minutes));
        self.next_after(after - shift).map(|t| t + shift)
    }
}

/// The values a field's components cover, up to `max` (inclusive).
pub fn expand(list: &[crate::calendar::Component], max: u32) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for c in list {
        let stop = match (c.stop, c.repeat) {
            (Some(stop), _) => stop.min(max),
            (None, Some(_)) => max,
            (None, None) => c.start,
        };
        let step = c.repeat.unwrap_or(1).max(1) as usize;
        out.extend((c.start..=stop).step_by(step));
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn next_of(calendars: &[Calendar], after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    calendars.iter().filter_map(|c| c.next_after(after)).min()
}

fn zone_name(zone: Option<chrono_tz::Tz>) -> String {
    zone.map(|z| z.name().to_string())
        .unwrap_or_else(|| "the local zone".into())
}

/// The next run as computed from the schedule, in Unix milliseconds: a
/// calendar's next slot (with the offset syncfleet rendered), an interval
/// service's next cron slot, else an interval after the last run ended
/// (timers fire an interval after the previous run ended). None for an
/// interval service that never ran on a timer.
pub fn computed_next_run_ms(
    m: &Manifest,
    last_run_end_ms: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    ScheduledService::of(m).next_run_ms(last_run_end_ms, now_ms)
}

/// What a service's next run is computed from (a manifest, or a registry
/// row for `list`).
pub struct ScheduledService<'a> {
    pub service_id: &'a str,
    pub platform: &'a str,
    pub interval_seconds: u64,
    pub calendar: Option<&'a CalendarSchedule>,
}

impl<'a> ScheduledService<'a> {
    /// What a manifest schedules.
    pub fn of(m: &'a Manifest) -> ScheduledService<'a> {
        ScheduledService {
            service_id: &m.service_id,
            platform: &m.platform,
            interval_seconds: m.interval_seconds,
            calendar: m.calendar.as_ref(),
        }
    }
}

impl ScheduledService<'_> {
    /// The next run of a service in `state`, as computed from its schedule
    /// (the one estimate `list`, `top` and the metrics share; `status` and
    /// `install` prefer the scheduler's own answer where it gives one): the
    /// next slot for an idle, degraded or half-open service; in backoff, the
    /// first slot at or after the backoff ends (runs before it are skipped);
    /// none while paused, running or uninstalled. `last_duration_ms` is the
    /// last run's duration where the caller knows it better than `status`
    /// (the registry's cached status carries none).
    pub fn expected_next_run_ms(
        &self,
        status: &StatusFile,
        state: SchedulerState,
        last_duration_ms: Option<i64>,
        now_ms: i64,
    ) -> Option<i64> {
        let last_end = status.last_run.as_ref().map(|r| {
            r.timestamp_ms + last_duration_ms.unwrap_or((r.duration_seconds * 1000.0) as i64)
        });
        match state {
            SchedulerState::Idle | SchedulerState::Degraded | SchedulerState::HalfOpen => {
                self.next_run_ms(last_end, now_ms)
            }
            SchedulerState::Backoff => {
                let retry = status.next_retry_at_ms?;
                let from = retry.max(now_ms) - 1;
                Some(
                    self.next_run_ms(last_end, from)
                        .map_or(retry, |n| n.max(retry)),
                )
            }
            _ => None,
        }
    }

    /// See `computed_next_run_ms`.
    pub fn next_run_ms(&self, last_run_end_ms: Option<i64>, now_ms: i64) -> Option<i64> {
        match self.calendar {
            Some(c) => {
                let now = DateTime::from_timestamp_millis(now_ms)?;
                // None on systemd, which spreads with its own fixed delay.
                let offset = if self.platform == "systemd" {
                    0
                } else {
                    c.minute_offset(self.service_id, self.interval_seconds)
                };
                c.next_run(now, offset).map(|t| t.timestamp_millis())
            }
            // cron keeps fixed slots (`7-59/15`), not an interval after
            // the last run.
            None if self.platform == "cron" => {
                let at = crate::scheduler::cron::interval_calendar(
                    self.interval_seconds,
                    self.service_id,
                )?;
                let calendar = Calendar::parse(&at).ok()?;
                let now = DateTime::from_timestamp_millis(now_ms)?;
                calendar.next_after(now).map(|t| t.timestamp_millis())
            }
            None => last_run_end_ms.map(|end| end + self.interval_seconds as i64 * 1000),
        }
    }
}

/// A calendar slot that passed with no run since `since_ms` (the last
/// run's start, else the install), allowing for the spread and a minute of
/// start-up: a missed run, in Unix milliseconds. Never for intervals
/// (doctor's overdue check covers them).
pub fn missed_slot_ms(m: &Manifest, since_ms: i64, now_ms: i64) -> Option<i64> {
    let c = m.calendar.as_ref()?;
    let grace_ms = (calendar_spread_seconds(m.interval_seconds) as i64 + 60) * 1000;
    let since = DateTime::from_timestamp_millis(since_ms)?;
    let until = DateTime::from_timestamp_millis(now_ms - grace_ms)?;
    (until > since)
        .then(|| c.slot_between(since, until))
        .flatten()
        .map(|t| t.timestamp_millis())
}

/// The schedule of one service, for people: `every 15m` or the calendar.
pub fn describe(interval_seconds: u64, calendar: Option<&CalendarSchedule>) -> String {
    match calendar {
        Some(c) => c.describe(),
        None => format!(
            "every {}",
            crate::duration::format_interval(interval_seconds)
        ),
    }
}

/// The window a calendar service's start is spread over: the whole period
/// for schedules that repeat within the hour (a fleet every 15 minutes
/// spreads over the 15 minutes), and at most five minutes for longer
/// periods, whose expression names a time of day the user expects.
pub fn calendar_spread_seconds(period_seconds: u64) -> u64 {
    if period_seconds <= 3600 {
        period_seconds
    } else {
        300
    }
}

/// A stable offset in `0..window` seconds derived from the service id, so
/// that a fleet's services spread their start times the same way on every
/// render (a random delay would change the artifacts and every run).
pub fn spread_offset_seconds(service_id: &str, window: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(service_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % window.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_offsets_are_stable_and_within_their_window() {
        // Literal values: a change here reschedules every installed fleet.
        assert_eq!(spread_offset_seconds("abc123", 45), 7);
        assert_eq!(spread_offset_seconds("abc123", 1), 0);
        assert_eq!(spread_offset_seconds("abc123", 0), 0);
        for id in ["a", "b", "c", "0123456789ab"] {
            assert!(spread_offset_seconds(id, 300) < 300);
        }
    }

    /// 100 services every 15 minutes: their offsets cover the period
    /// instead of piling up (no minute holds more than a fifth of them,
    /// most minutes are used).
    #[test]
    fn a_fleet_of_100_spreads_over_its_period() {
        let ids: Vec<String> = (0..100).map(|i| format!("svc{i:03}")).collect();
        let mut per_minute = [0u32; 15];
        for id in &ids {
            let offset = spread_offset_seconds(id, calendar_spread_seconds(900));
            assert!(offset < 900);
            per_minute[(offset / 60) as usize] += 1;
        }
        let used = per_minute.iter().filter(|n| **n > 0).count();
        let busiest = *per_minute.iter().max().unwrap();
        assert!(used >= 13, "{per_minute:?}");
        assert!(busiest <= 20, "{per_minute:?}");
        let distinct: std::collections::BTreeSet<u64> = ids
            .iter()
            .map(|id| spread_offset_seconds(id, 900))
            .collect();
        assert!(distinct.len() >= 90, "{}", distinct.len());
    }

    #[test]
    fn long_periods_keep_their_named_time_within_five_minutes() {
        assert_eq!(calendar_spread_seconds(900), 900);
        assert_eq!(calendar_spread_seconds(3600), 3600);
        assert_eq!(calendar_spread_seconds(86_400), 300);
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn at_expressions_are_normalised_with_one_zone() {
        let now = at("2026-12-02T09:00:00Z");
        let c = CalendarSchedule::parse(
            &[
                "Mon..Fri 09:30".into(),
                "Sat,Sun 10:00 Europe/Berlin".into(),
            ],
            Some("Europe/Berlin"),
            CatchUp::Latest,
            now,
        )
        .unwrap();
        assert_eq!(c.at, ["Mon..Fri *-*-* 09:30:00", "Sat,Sun *-*-* 10:00:00"]);
        assert_eq!(c.timezone.as_deref(), Some("Europe/Berlin"));
        // Wednesday 2 December 2026, 09:30 in Berlin is 08:30 UTC: past;
        // the next is Thursday's.
        assert_eq!(c.next_after(now), Some(at("2026-12-03T08:30:00Z")));
        assert_eq!(c.period_seconds(now), 86_400);
        let e = CalendarSchedule::parse(
            &[
                "daily Europe/Berlin".into(),
                "hourly America/New_York".into(),
            ],
            None,
            CatchUp::Latest,
            now,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::CalendarInvalid);
        assert!(e.message.contains("different time zones"), "{}", e.message);
        let e = CalendarSchedule::parse(
            &["daily".into()],
            Some("Mars/Olympus"),
            CatchUp::Latest,
            now,
        )
        .unwrap_err();
        assert!(e.message.contains("Mars/Olympus"), "{}", e.message);
        let e = CalendarSchedule::parse(&["2020-01-01 00:00".into()], None, CatchUp::Latest, now)
            .unwrap_err();
        assert!(e.message.contains("at most once"), "{}", e.message);
    }

    #[test]
    fn the_latest_missed_slot_is_found_once() {
        let c = CalendarSchedule {
            at: vec!["*-*-* *:00/15:00".into()],
            timezone: Some("UTC".into()),
            catch_up: CatchUp::Latest,
        };
        let since = at("2026-12-02T08:01:00Z");
        assert_eq!(c.slot_between(since, at("2026-12-02T08:14:59Z")), None);
        assert_eq!(
            c.slot_between(since, at("2026-12-02T09:20:00Z")),
            Some(at("2026-12-02T09:15:00Z"))
        );
        assert_eq!(c.period_seconds(since), 900);
    }

    #[test]
    fn minute_offsets_stay_within_the_hour() {
        let c = |spec: &str| CalendarSchedule {
            at: vec![spec.into()],
            timezone: Some("UTC".into()),
            catch_up: CatchUp::Latest,
        };
        let now = at("2026-12-02T09:00:00Z");
        let quarter = c("*-*-* *:00/15:00");
        for i in 0..100 {
            let id = format!("svc{i:03}");
            let o = quarter.minute_offset(&id, 900);
            assert!(o < 15, "{o}");
            let next = quarter.next_run(now, o).unwrap();
            assert_eq!(next.timestamp() % 900, i64::from(o) * 60 % 900, "{id}");
        }
        assert!(c("*-*-* *:50:00").minute_offset("abc123", 3600) < 10);
        assert_eq!(c("*-*-* *:*:00").minute_offset("abc123", 60), 0);
        // Daily at 02:00: within five minutes of it.
        let daily = c("*-*-* 02:00:00");
        let o = daily.minute_offset("abc123", 86_400);
        assert!(o < 5);
        assert_eq!(
            daily.next_run(now, o),
            Some(at("2026-12-03T02:00:00Z") + chrono::Duration::minutes(i64::from(o)))
        );
    }

    #[test]
    fn the_expected_next_run_follows_the_state() {
        let daily = CalendarSchedule {
            at: vec!["*-*-* 02:00:00".into()],
            timezone: Some("UTC".into()),
            catch_up: CatchUp::Latest,
        };
        let service = ScheduledService {
            service_id: "abc123",
            platform: "systemd",
            interval_seconds: 86_400,
            calendar: Some(&daily),
        };
        let now = at("2026-12-02T09:00:00Z").timestamp_millis();
        let mut status = StatusFile::default();
        let next =
            |status: &StatusFile, state| service.expected_next_run_ms(status, state, None, now);
        assert_eq!(
            next(&status, SchedulerState::Idle),
            Some(at("2026-12-03T02:00:00Z").timestamp_millis())
        );
        // A backoff that ends after the next slot: the slot after it.
        status.next_retry_at_ms = Some(at("2026-12-03T05:00:00Z").timestamp_millis());
        assert_eq!(
            next(&status, SchedulerState::Backoff),
            Some(at("2026-12-04T02:00:00Z").timestamp_millis())
        );
        for state in [
            SchedulerState::Paused,
            SchedulerState::Running,
            SchedulerState::NotInstalled,
        ] {
            assert_eq!(next(&status, state), None, "{state:?}");
        }
        // An interval timer: an interval after the last run ended.
        let timer = ScheduledService {
            calendar: None,
            interval_seconds: 600,
            ..service
        };
        status.record_run(crate::store::status::make_run(
            now,
            crate::store::status::Outcome::Success,
        ));
        assert_eq!(
            timer.expected_next_run_ms(&status, SchedulerState::Idle, Some(5_000), now),
            Some(now + 5_000 + 600_000)
        );
    }

    #[test]
    fn the_longest_gap_spans_a_weekend() {
        let weekdays = CalendarSchedule {
            at: vec!["Mon..Fri *-*-* 09:30:00".into()],
            timezone: Some("UTC".into()),
            catch_up: CatchUp::Latest,
        };
        let from = at("2026-12-02T00:00:00Z");
        assert_eq!(weekdays.period_seconds(from), 86_400);
        assert_eq!(weekdays.longest_gap_seconds(from), 3 * 86_400);
        let quarter = CalendarSchedule {
            at: vec!["*-*-* *:00/15:00".into()],
            ..weekdays
        };
        assert_eq!(quarter.longest_gap_seconds(from), 900);
    }

    #[test]
    fn a_calendar_is_described_with_its_zone() {
        let c = CalendarSchedule {
            at: vec![
                "Mon..Fri *-*-* 09:30:00".into(),
                "Sat *-*-* 10:00:00".into(),
            ],
            timezone: Some("Europe/Berlin".into()),
            catch_up: CatchUp::Latest,
        };
        assert_eq!(
            c.describe(),
            "Mon..Fri *-*-* 09:30:00 Europe/Berlin; Sat *-*-* 10:00:00 Europe/Berlin"
        );
        assert_eq!(describe(900, None), "every 15m");
    }
}
