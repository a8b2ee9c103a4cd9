//! `syncfleet calendar SPEC`: a calendar expression's normalized form and
//! next elapses, as `systemd-analyze calendar` shows them (the engine is
//! `crate::calendar`). Nothing is read or written: it only computes.

use crate::calendar::{Calendar, local_zone};
use crate::cli::CalendarArgs;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::output::{Render, Ui};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct CalendarReport {
    /// The expression as given.
    pub original: String,
    /// systemd's normalized form.
    pub normalized: String,
    /// The zone the expression is read in: its own, --timezone's, or the
    /// local zone's name ("localtime" when the local zone has no IANA name).
    pub timezone: String,
    /// Where that zone comes from: `expression`, `option` or `local`.
    pub timezone_from: &'static str,
    /// The time the elapses are computed from, RFC 3339.
    pub base_time: String,
    /// The next elapses, RFC 3339 with the offset of `timezone`.
    pub next_elapse: Vec<String>,
    #[serde(skip)]
    elapses: Vec<DateTime<Utc>>,
    #[serde(skip)]
    zone: Option<Tz>,
    #[serde(skip)]
    now: DateTime<Utc>,
}

pub fn run(ctx: &Context, args: &CalendarArgs) -> Result<CalendarReport> {
    let mut calendar = Calendar::parse(&args.spec)?;
    let own_zone = calendar.timezone();
    if let Some(name) = &args.timezone {
        let tz = parse_zone(name).ok_or_else(|| {
            Error::new(
                ErrorCode::CalendarInvalid,
                format!("unknown time zone '{name}' for --timezone"),
            )
            .with_suggestion(
                "Give an IANA zone name such as Europe/Berlin, America/New_York or UTC \
                 (see /usr/share/zoneinfo).",
            )
        })?;
        calendar = calendar.with_timezone(tz)?;
    }
    let zone = calendar.timezone();
    let (timezone, timezone_from) = match (zone, own_zone) {
        (Some(tz), Some(_)) => (tz.name().to_string(), "expression"),
        (Some(tz), None) => (tz.name().to_string(), "option"),
        (None, _) => (
            local_zone().map_or_else(|| "localtime".to_string(), |tz| tz.name().to_string()),
            "local",
        ),
    };
    let now = DateTime::<Utc>::from_timestamp_millis(ctx.now_ms()).unwrap_or_else(Utc::now);
    let base = match &args.base_time {
        Some(text) => parse_base_time(text)?,
        None => now,
    };
    let elapses = calendar.next_elapses(base, args.iterations as usize);
    Ok(CalendarReport {
        original: calendar.original().to_string(),
        normalized: calendar.normalized(),
        timezone,
        timezone_from,
        base_time: rfc3339_in(base, zone),
        next_elapse: elapses.iter().map(|t| rfc3339_in(*t, zone)).collect(),
        elapses,
        zone,
        now,
    })
}

fn parse_zone(name: &str) -> Option<Tz> {
    if name.eq_ignore_ascii_case("UTC") {
        return Some(chrono_tz::UTC);
    }
    name.parse().ok()
}

/// An instant as RFC 3339 with the offset of `zone` (the local zone when
/// `None`), with fractional seconds only when there are any.
fn rfc3339_in(t: DateTime<Utc>, zone: Option<Tz>) -> String {
    match zone.or_else(local_zone) {
        Some(tz) => t
            .with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false),
        None => t
            .with_timezone(&Local)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false),
    }
}

fn base_time_error(text: &str, why: &str) -> Error {
    Error::invalid_argument(format!("invalid --base-time '{text}': {why}")).with_suggestion(
        "Give RFC 3339 (2026-03-29T01:30:00+01:00) or 'YYYY-MM-DD HH:MM[:SS] [ZONE]' \
         (2026-03-29 01:30:00 Europe/Berlin; no zone is the local zone).",
    )
}

/// `--base-time`: RFC 3339, or systemd's `YYYY-MM-DD HH:MM[:SS[.frac]]
/// [ZONE]` with ZONE `UTC` or an IANA name, the local zone without one.
pub fn parse_base_time(text: &str) -> Result<DateTime<Utc>> {
    let text_trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text_trimmed) {
        return Ok(t.with_timezone(&Utc));
    }
    let (body, zone) = match text_trimmed.rsplit_once(' ') {
        Some((body, last)) if parse_zone(last).is_some() => (body.trim_end(), parse_zone(last)),
        _ => (text_trimmed, None),
    };
    let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(body, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(body, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| base_time_error(text, "not a date and time"))?;
    let resolved = match zone {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.to_utc()),
        None => Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.to_utc()),
    };
    resolved.ok_or_else(|| {
        base_time_error(
            text,
            "that local time does not exist in its zone (a daylight-saving change)",
        )
    })
}

/// systemd's relative form ("14h left", "1 day 19h left", "2 months 3
/// days ago"), so the lines read like systemd-analyze's.
pub fn from_now(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    const MIN: i64 = 60_000_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    const WEEK: i64 = 7 * DAY;
    const MONTH: i64 = 2_629_800_000_000;
    const YEAR: i64 = 31_557_600_000_000;
    let delta = then.timestamp_micros() - now.timestamp_micros();
    let (d, word) = if delta > 0 {
        (delta, "left")
    } else {
        (-delta, "ago")
    };
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match d {
        0 => "now".into(),
        d if d >= YEAR => format!(
            "{} {} {word}",
            plural(d / YEAR, "year", "years"),
            plural(d % YEAR / MONTH, "month", "months")
        ),
        d if d >= MONTH => format!(
            "{} {} {word}",
            plural(d / MONTH, "month", "months"),
            plural(d % MONTH / DAY, "day", "days")
        ),
        d if d >= WEEK => format!(
            "{} {} {word}",
            plural(d / WEEK, "week", "weeks"),
            plural(d % WEEK / DAY, "day", "days")
        ),
        d if d >= 2 * DAY => format!("{} days {word}", d / DAY),
        d if d >= 25 * HOUR => format!("1 day {}h {word}", (d - DAY) / HOUR),
        d if d >= 6 * HOUR => format!("{}h {word}", d / HOUR),
        d if d >= HOUR => format!("{}h {}min {word}", d / HOUR, d % HOUR / MIN),
        d if d >= 5 * MIN => format!("{}min {word}", d / MIN),
        d if d >= MIN => format!("{}min {}s {word}", d / MIN, d % MIN / 1_000_000),
        d if d >= 1_000_000 => format!("{}s {word}", d / 1_000_000),
        d if d >= 1000 => format!("{}ms {word}", d / 1000),
        d => format!("{d}us {word}"),
    }
}

/// An instant as systemd prints it ("Thu 2026-12-03 00:00:00 CET"), in
/// `zone`, or in the local zone.
fn pretty(t: DateTime<Utc>, zone: Option<Tz>) -> String {
    const FORMAT: &str = "%a %Y-%m-%d %H:%M:%S %Z";
    match zone.or_else(local_zone) {
        Some(tz) => t.with_timezone(&tz).format(FORMAT).to_string(),
        None => t.with_timezone(&Local).format(FORMAT).to_string(),
    }
}

impl Render for CalendarReport {
    fn human(&self, _ui: &Ui) -> String {
        let mut lines: Vec<(String, String)> = vec![
            ("Original form".into(), self.original.clone()),
            ("Normalized form".into(), self.normalized.clone()),
        ];
        if self.elapses.is_empty() {
            lines.push(("Next elapse".into(), "never".into()));
        }
        let local = local_zone();
        let local_is_utc = local.is_some_and(|tz| tz.name() == "UTC" || tz.name() == "Etc/UTC");
        for (i, t) in self.elapses.iter().enumerate() {
            let label = if i == 0 {
                "Next elapse".to_string()
            } else {
                format!("Iter. #{}", i + 1)
            };
            lines.push((label, pretty(*t, None)));
            if !local_is_utc {
                lines.push(("(in UTC)".into(), pretty(*t, Some(chrono_tz::UTC))));
            }
            if let Some(tz) = self
                .zone
                .filter(|tz| tz.name() != "UTC" && Some(*tz) != local)
            {
                lines.push((format!("(in {})", tz.name()), pretty(*t, Some(tz))));
            }
            lines.push(("From now".into(), from_now(*t, self.now)));
        }
        // Labels right-aligned as systemd-analyze does, wider when a
        // zone's name needs it.
        let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        lines
            .iter()
            .map(|(label, value)| format!("{label:>width$}: {value}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn from_now_reads_like_systemd() {
        let now = at("2026-12-02T09:52:00Z");
        for (then, want) in [
            ("2026-12-02T10:00:00Z", "8min left"),
            ("2026-12-02T11:00:00Z", "1h 8min left"),
            ("2026-12-03T05:00:00Z", "19h left"),
            ("2026-12-04T05:00:00Z", "1 day 19h left"),
            ("2026-03-30T00:30:00Z", "8 months 3 days ago"),
            ("2026-12-02T09:52:00Z", "now"),
            ("2026-12-02T09:52:30Z", "30s left"),
        ] {
            assert_eq!(from_now(at(then), now), want, "{then}");
        }
    }

    #[test]
    fn base_time_forms() {
        let want = at("2026-03-29T00:50:00Z");
        for text in [
            "2026-03-29T01:50:00+01:00",
            "2026-03-29 00:50:00 UTC",
            "2026-03-29 01:50 Europe/Berlin",
            "2026-03-29 01:50:00.000 Europe/Berlin",
        ] {
            assert_eq!(parse_base_time(text).unwrap(), want, "{text}");
        }
        let err = parse_base_time("2026-03-29 02:30 Europe/Berlin").unwrap_err();
        assert!(err.message.contains("does not exist"), "{}", err.message);
        let err = parse_base_time("yesterday").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }
}
