//! Calendar expressions in systemd's syntax (systemd.time(7), "CALENDAR
//! EVENTS"): parsing, the normalized form and the next elapse, computed the
//! way `systemd-analyze calendar` (systemd 252) computes them, so a schedule
//! means the same on every backend. `tests/calendar_oracle.rs` and the
//! corpus in `fixtures/calendar/` hold the two side by side.
//!
//! Syntax: `[WEEKDAYS] [DATE] [TIME] [ZONE]`, or a shorthand (`minutely`,
//! `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `semiannually`,
//! `yearly`/`annually`), or `@UNIXSECONDS`. Each date or time field is `*`
//! or a comma list of `N`, `N..M` and `N/REPEAT` / `N..M/REPEAT`; `~` in
//! place of the date's last `-` counts days from the end of the month;
//! seconds may have up to six decimals. A trailing IANA zone
//! (`Europe/Berlin`) or `UTC` says in which zone the fields are read;
//! without one they are read in the local zone (`TZ`, else
//! `/etc/localtime`). systemd also accepts the local zone's abbreviations
//! (`CET` on a Berlin machine); syncfleet refuses them, because their
//! meaning changes with the machine: write the IANA name instead.
//!
//! Daylight-saving changes behave as in systemd, because the next elapse
//! follows the same steps over the same `mktime(3)` semantics (glibc's):
//!
//! - A local time that does not exist (spring forward: 02:30 in Berlin on
//!   the last Sunday of March) is skipped: `*-*-* 02:30` does not fire that
//!   day, and `*:0/20` goes from 01:40 to 03:00.
//! - A local time that occurs twice (fall back: 02:30 in Berlin on the last
//!   Sunday of October) fires once, at its first occurrence (summer time);
//!   the repeated hour is skipped, so `hourly` goes from 02:00 CEST to
//!   03:00 CET. Only when the base time already lies inside the repeated
//!   hour (its second pass) do elapses continue within that second pass.

use crate::error::{Error, ErrorCode, Result};
use chrono::{
    DateTime, Datelike, Local, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike,
    Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 2199;
const USEC_PER_SEC: i64 = 1_000_000;
const ALL_WEEKDAYS: u8 = 0x7f;
/// systemd's limit on the length of one field's list.
const MAX_COMPONENTS: usize = 240;

/// One element of a field's list: `start`, `start..stop`, `start/repeat`
/// or `start..stop/repeat`. Seconds are in microseconds (`1.5` is
/// 1_500_000). With `end_of_month`, the day components count back from
/// the last day of the month (`~1` is the last day, `~3` the third last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Component {
    pub start: u32,
    /// The inclusive end of a range, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<u32>,
    /// The step; `start..stop` without a step has repeat 1 (1_000_000 for
    /// seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
}

/// The parsed fields of an expression, after systemd's normalisation
/// (sorted, duplicates dropped, two-digit years expanded, ranges trimmed to
/// a multiple of their step). `None` is `*` (every value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarFields {
    /// The weekdays it may fire on, Monday first; `None` is every day.
    pub weekdays: Option<Vec<Weekday>>,
    pub year: Option<Vec<Component>>,
    pub month: Option<Vec<Component>>,
    pub day: Option<Vec<Component>>,
    /// `day` counts from the end of the month (the `~` separator).
    pub end_of_month: bool,
    pub hour: Option<Vec<Component>>,
    pub minute: Option<Vec<Component>>,
    /// Seconds in microseconds; `*` is `[0/1_000_000]`, as in systemd.
    pub second_micros: Vec<Component>,
}

impl CalendarFields {
    /// Whether it only fires at whole seconds (no fractional part in any
    /// second component).
    pub fn whole_seconds(&self) -> bool {
        self.second_micros.iter().all(|c| {
            c.start as i64 % USEC_PER_SEC == 0
                && c.stop.is_none_or(|s| s as i64 % USEC_PER_SEC == 0)
                && c.repeat.is_none_or(|r| r as i64 % USEC_PER_SEC == 0)
        })
    }
}

/// The zone the fields are read in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Zone {
    Utc,
    Named(Tz),
    Local,
}

/// One parsed calendar expression, with its optional zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    original: String,
    weekdays: u8,
    year: Vec<Comp>,
    month: Vec<Comp>,
    day: Vec<Comp>,
    end_of_month: bool,
    hour: Vec<Comp>,
    minute: Vec<Comp>,
    usec: Vec<Comp>,
    utc: bool,
    timezone: Option<Tz>,
    fields: CalendarFields,
}

/// A component as systemd keeps it: `stop` -1 when there is no range,
/// `repeat` 0 when there is no step. An empty list is `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Comp {
    start: i64,
    stop: i64,
    repeat: i64,
}

impl Comp {
    fn single(value: i64) -> Comp {
        Comp {
            start: value,
            stop: -1,
            repeat: 0,
        }
    }

    fn public(&self) -> Component {
        Component {
            start: self.start as u32,
            stop: (self.stop >= 0).then_some(self.stop as u32),
            repeat: (self.repeat > 0).then_some(self.repeat as u32),
        }
    }
}

fn invalid(spec: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorCode::CalendarInvalid,
        format!("invalid calendar expression '{spec}': {what}"),
    )
    .with_suggestion(format!(
        "Use systemd's calendar syntax (man systemd.time, CALENDAR EVENTS), e.g. `Mon..Fri 09:30`, \
         `*-*-* 02:00:00 Europe/Berlin` or `*:0/15`; try it with `syncfleet calendar '{}'`.",
        spec.replace('\'', "")
    ))
}

const WEEKDAY_NAMES: [(&str, u8); 14] = [
    ("Monday", 0),
    ("Mon", 0),
    ("Tuesday", 1),
    ("Tue", 1),
    ("Wednesday", 2),
    ("Wed", 2),
    ("Thursday", 3),
    ("Thu", 3),
    ("Friday", 4),
    ("Fri", 4),
    ("Saturday", 5),
    ("Sat", 5),
    ("Sunday", 6),
    ("Sun", 6),
];
const WEEKDAY_ABBREVS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A cursor over the expression, reporting errors with the part it was at.
struct Parser<'a> {
    spec: &'a str,
    rest: &'a str,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &str) -> Error {
        let at: String = self.rest.chars().take(24).collect();
        if at.is_empty() {
            invalid(self.spec, format!("{what} at its end"))
        } else {
            invalid(self.spec, format!("{what} at '{at}'"))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.rest.as_bytes().first().copied()
    }

    fn peek2(&self) -> Option<u8> {
        self.rest.as_bytes().get(1).copied()
    }

    fn bump(&mut self, n: usize) {
        self.rest = &self.rest[n..];
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches(' ');
    }

    /// Weekday names with `,` lists and `..` (or `-`) ranges; returns the
    /// bits (Monday = bit 0), 0 when the expression starts with no weekday.
    fn weekdays(&mut self) -> Result<u8> {
        let mut bits = 0u8;
        let mut range_from: Option<u8> = None;
        let mut first = true;
        loop {
            let found = WEEKDAY_NAMES.iter().find(|(name, _)| {
                self.rest.len() >= name.len()
                    && self.rest.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            });
            let Some(&(name, nr)) = found else {
                if first {
                    return Ok(0);
                }
                return Err(self.err("expected a weekday (Mon, Tue, ... Sun)"));
            };
            let after = self.rest.as_bytes().get(name.len()).copied();
            if !matches!(after, None | Some(b'-' | b'.' | b',' | b' ')) {
                return Err(self.err("unknown weekday"));
            }
            bits |= 1 << nr;
            if let Some(from) = range_from {
                if from > nr {
                    return Err(self.err(
                        "weekday range runs backwards (ranges go Mon..Sun; list both ends instead)",
                    ));
                }
                for d in from + 1..nr {
                    bits |= 1 << d;
                }
            }
            self.bump(name.len());
            match self.peek() {
                None => return Ok(bits),
                Some(b' ') => {
                    self.skip_spaces();
                    return Ok(bits);
                }
                Some(b'.') => {
                    if range_from.is_some() || self.peek2() != Some(b'.') {
                        return Err(self.err("bad weekday range (write Mon..Fri)"));
                    }
                    range_from = Some(nr);
                    self.bump(2);
                }
                Some(b'-') => {
                    if range_from.is_some() {
                        return Err(self.err("bad weekday range (write Mon..Fri)"));
                    }
                    range_from = Some(nr);
                    self.bump(1);
                }
                Some(_) => {
                    // ','
                    range_from = None;
                    self.bump(1);
                }
            }
            if matches!(self.peek(), None | Some(b' ')) {
                self.skip_spaces();
                if range_from.is_some() {
                    return Err(self.err("weekday range without an end"));
                }
                return Ok(bits);
            }
            first = false;
        }
    }

    /// A decimal number; for seconds (`usec`), in microseconds with up to
    /// six decimals (a seventh rounds).
    fn number(&mut self, usec: bool) -> Result<i64> {
        let digits = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(self.err("expected a number or *"));
        }
        let mut value: i64 = self.rest[..digits]
            .parse::<u64>()
            .ok()
            .and_then(|v| i64::try_from(v).ok())
            .filter(|v| *v <= i32::MAX as i64)
            .ok_or_else(|| self.err("number out of range"))?;
        self.bump(digits);
        if usec {
            value = value
                .checked_mul(USEC_PER_SEC)
                .ok_or_else(|| self.err("number out of range"))?;
            if self.peek() == Some(b'.') && self.peek2() != Some(b'.') {
                self.bump(1);
                let frac: Vec<u8> = self.rest.bytes().take_while(u8::is_ascii_digit).collect();
                if frac.is_empty() {
                    return Err(self.err("expected digits after the decimal point"));
                }
                let mut add: i64 = 0;
                for i in 0..6 {
                    add = add * 10 + frac.get(i).map_or(0, |d| (d - b'0') as i64);
                }
                if frac.get(6).is_some_and(|d| *d >= b'5') {
                    add += 1;
                }
                value += add;
                self.bump(frac.len());
            }
        }
        if value > i32::MAX as i64 {
            return Err(self.err("number out of range"));
        }
        Ok(value)
    }

    /// `*` or a comma list of components; an empty list is `*` (for
    /// seconds, `*` is 0/1s as in systemd).
    fn chain(&mut self, usec: bool) -> Result<Vec<Comp>> {
        if self.peek() == Some(b'*') {
            self.bump(1);
            return Ok(if usec {
                vec![Comp {
                    start: 0,
                    stop: -1,
                    repeat: USEC_PER_SEC,
                }]
            } else {
                Vec::new()
            });
        }
        let mut out = Vec::new();
        loop {
            if out.len() > MAX_COMPONENTS {
                return Err(self.err("list too long"));
            }
            let start = self.number(usec)?;
            let mut stop = -1;
            let mut repeat = 0;
            if self.peek() == Some(b'.') && self.peek2() == Some(b'.') {
                self.bump(2);
                stop = self.number(usec)?;
                repeat = if usec { USEC_PER_SEC } else { 1 };
            }
            if self.peek() == Some(b'/') {
                self.bump(1);
                repeat = self.number(usec)?;
                if repeat == 0 {
                    return Err(self.err("a repetition of 0"));
                }
            }
            if !matches!(self.peek(), None | Some(b' ' | b',' | b'-' | b'~' | b':')) {
                return Err(self.err("unexpected character"));
            }
            out.push(Comp {
                start,
                stop,
                repeat,
            });
            if self.peek() == Some(b',') {
                self.bump(1);
                continue;
            }
            return Ok(out);
        }
    }
}

/// Parsing state before normalisation.
#[derive(Default)]
struct Raw {
    weekdays: u8,
    year: Vec<Comp>,
    month: Vec<Comp>,
    day: Vec<Comp>,
    end_of_month: bool,
    hour: Vec<Comp>,
    minute: Vec<Comp>,
    usec: Vec<Comp>,
    utc: bool,
}

fn shorthand(name: &str) -> Option<Raw> {
    let zero = || vec![Comp::single(0)];
    let one = || vec![Comp::single(1)];
    let months = |ms: &[i64]| ms.iter().map(|m| Comp::single(*m)).collect::<Vec<_>>();
    let at_midnight = |raw: Raw| Raw {
        hour: zero(),
        minute: zero(),
        usec: zero(),
        ..raw
    };
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "minutely" => Raw {
            usec: zero(),
            ..Raw::default()
        },
        "hourly" => Raw {
            minute: zero(),
            usec: zero(),
            ..Raw::default()
        },
        "daily" => at_midnight(Raw::default()),
        "weekly" => at_midnight(Raw {
            weekdays: 1,
            ..Raw::default()
        }),
        "monthly" => at_midnight(Raw {
            day: one(),
            ..Raw::default()
        }),
        "quarterly" => at_midnight(Raw {
            month: months(&[1, 4, 7, 10]),
            day: one(),
            ..Raw::default()
        }),
        "semiannually" | "semi-annually" | "biannually" | "bi-annually" => at_midnight(Raw {
            month: months(&[1, 7]),
            day: one(),
            ..Raw::default()
        }),
        "yearly" | "annually" | "anually" => at_midnight(Raw {
            month: one(),
            day: one(),
            ..Raw::default()
        }),
        _ => return None,
    })
}

/// The date part; returns true when it was `@SECONDS` (no time follows).
fn parse_date(p: &mut Parser, raw: &mut Raw) -> Result<bool> {
    if p.rest.is_empty() {
        return Ok(false);
    }
    if p.peek() == Some(b'@') {
        p.bump(1);
        let digits = p.rest.bytes().take_while(u8::is_ascii_digit).count();
        let seconds: i64 = p.rest[..digits]
            .parse()
            .map_err(|_| p.err("expected seconds since 1970 after '@'"))?;
        p.bump(digits);
        let t = DateTime::<Utc>::from_timestamp(seconds, 0)
            .ok_or_else(|| p.err("timestamp out of range"))?;
        raw.year = vec![Comp::single(t.year() as i64)];
        raw.month = vec![Comp::single(t.month() as i64)];
        raw.day = vec![Comp::single(t.day() as i64)];
        raw.hour = vec![Comp::single(t.hour() as i64)];
        raw.minute = vec![Comp::single(t.minute() as i64)];
        raw.usec = vec![Comp::single(t.second() as i64 * USEC_PER_SEC)];
        raw.utc = true;
        return Ok(true);
    }
    let start = p.rest;
    let first = p.chain(false)?;
    if matches!(p.peek(), None | Some(b':')) {
        // A time, not a date.
        p.rest = start;
        return Ok(false);
    }
    match p.peek() {
        Some(b'~') => raw.end_of_month = true,
        Some(b'-') => {}
        _ => return Err(p.err("expected '-' between date fields")),
    }
    p.bump(1);
    let second = p.chain(false)?;
    if matches!(p.peek(), None | Some(b' ')) {
        p.skip_spaces();
        raw.month = first;
        raw.day = second;
        return Ok(false);
    }
    if raw.end_of_month {
        return Err(p.err("'~' must be the date's last separator"));
    }
    match p.peek() {
        Some(b'~') => raw.end_of_month = true,
        Some(b'-') => {}
        _ => return Err(p.err("expected '-' between date fields")),
    }
    p.bump(1);
    let third = p.chain(false)?;
    if !matches!(p.peek(), None | Some(b' ')) {
        return Err(p.err("expected a space after the date"));
    }
    p.skip_spaces();
    raw.year = first;
    raw.month = second;
    raw.day = third;
    Ok(false)
}

fn parse_time(p: &mut Parser, raw: &mut Raw) -> Result<()> {
    if p.rest.is_empty() {
        raw.hour = vec![Comp::single(0)];
        raw.minute = vec![Comp::single(0)];
        raw.usec = vec![Comp::single(0)];
        return Ok(());
    }
    raw.hour = p.chain(false)?;
    if p.peek() != Some(b':') {
        return Err(p.err("expected ':' after the hour (times are H:M or H:M:S)"));
    }
    p.bump(1);
    raw.minute = p.chain(false)?;
    if p.rest.is_empty() {
        raw.usec = vec![Comp::single(0)];
        return Ok(());
    }
    if p.peek() != Some(b':') {
        return Err(p.err("expected ':' before the seconds or the end of the time"));
    }
    p.bump(1);
    raw.usec = p.chain(true)?;
    if !p.rest.is_empty() {
        return Err(p.err("unexpected text after the time"));
    }
    Ok(())
}

fn normalize_chain(chain: &mut Vec<Comp>) {
    for c in chain.iter_mut() {
        if c.stop > c.start && c.repeat > 0 {
            c.stop -= (c.stop - c.start) % c.repeat;
        }
        // A range or step that can only match once is that one value.
        if c.stop == c.start {
            c.stop = -1;
            c.repeat = 0;
        }
    }
    chain.sort();
    chain.dedup();
}

fn fix_year(chain: &mut [Comp]) {
    for c in chain {
        for v in [&mut c.start, &mut c.stop] {
            if (0..70).contains(v) {
                *v += 2000;
            } else if (70..100).contains(v) {
                *v += 1900;
            }
        }
    }
}

/// systemd's bounds: every value in range, every step short enough to
/// repeat at least once inside it.
fn chain_valid(chain: &[Comp], from: i64, to: i64, end_of_month: bool) -> bool {
    let to = if end_of_month { to - 3 } else { to };
    chain.iter().all(|c| {
        if c.start < from || c.start > to || c.repeat > to - from {
            return false;
        }
        if c.stop >= 0 {
            c.stop >= from && c.stop <= to && c.start + c.repeat <= c.stop
        } else if end_of_month {
            c.start - c.repeat >= from
        } else {
            c.start + c.repeat <= to
        }
    })
}

fn format_chain(out: &mut String, width: usize, chain: &[Comp], usec: bool) {
    let d = if usec { USEC_PER_SEC } else { 1 };
    if chain.is_empty() {
        out.push('*');
        return;
    }
    if usec && chain.len() == 1 && chain[0].start == 0 && chain[0].repeat == USEC_PER_SEC {
        out.push('*');
        return;
    }
    for (i, c) in chain.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{:0width$}", c.start / d);
        if c.start % d > 0 {
            let _ = write!(out, ".{:06}", c.start % d);
        }
        if c.stop > 0 {
            let _ = write!(out, "..{:0width$}", c.stop / d);
        }
        if c.stop % d > 0 {
            let _ = write!(out, ".{:06}", c.stop % d);
        }
        if c.repeat > 0 && !(c.stop > 0 && c.repeat == d) {
            let _ = write!(out, "/{}", c.repeat / d);
        }
        if c.repeat % d > 0 {
            let _ = write!(out, ".{:06}", c.repeat % d);
        }
    }
}

fn format_weekdays(out: &mut String, bits: u8) {
    let mut run_start: Option<usize> = None;
    let mut need_comma = false;
    let close = |out: &mut String, l: usize, x: usize| {
        if x > l + 1 {
            out.push_str(if x > l + 2 { ".." } else { "," });
            out.push_str(WEEKDAY_ABBREVS[x - 1]);
        }
    };
    for (x, abbrev) in WEEKDAY_ABBREVS.iter().enumerate() {
        if bits & (1 << x) != 0 {
            if run_start.is_none() {
                if need_comma {
                    out.push(',');
                }
                need_comma = true;
                out.push_str(abbrev);
                run_start = Some(x);
            }
        } else if let Some(l) = run_start.take() {
            close(out, l, x);
        }
    }
    if let Some(l) = run_start {
        close(out, l, 7);
    }
}

impl Calendar {
    /// Parse an expression in systemd's calendar syntax, with an optional
    /// trailing `UTC` or IANA zone.
    pub fn parse(spec: &str) -> Result<Calendar> {
        let mut body = spec;
        let mut utc = false;
        let mut timezone = None;
        if body.len() >= 4
            && body.is_char_boundary(body.len() - 4)
            && body[body.len() - 4..].eq_ignore_ascii_case(" UTC")
        {
            utc = true;
            body = &body[..body.len() - 4];
        } else if let Some(space) = body.rfind(' ') {
            let name = &body[space + 1..];
            if let Ok(tz) = name.parse::<Tz>() {
                timezone = Some(tz);
                body = &body[..space];
            } else if name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.contains('/') {
                return Err(invalid(
                    spec,
                    format!("unknown time zone '{name}' (use an IANA name like Europe/Berlin)"),
                ));
            }
        }
        if body.is_empty() {
            return Err(invalid(spec, "it is empty"));
        }
        let mut raw = if let Some(raw) = shorthand(body) {
            raw
        } else {
            let mut p = Parser { spec, rest: body };
            let mut raw = Raw {
                weekdays: p.weekdays()?,
                ..Raw::default()
            };
            if !parse_date(&mut p, &mut raw)? {
                parse_time(&mut p, &mut raw)?;
            }
            if !p.rest.is_empty() {
                return Err(p.err("unexpected text"));
            }
            raw
        };
        raw.utc |= utc;
        if timezone.is_some_and(|tz| tz.name() == "UTC") {
            raw.utc = true;
            timezone = None;
        }
        let weekdays = if raw.weekdays == 0 || raw.weekdays >= ALL_WEEKDAYS {
            ALL_WEEKDAYS
        } else {
            raw.weekdays
        };
        if raw.end_of_month && raw.day.is_empty() {
            raw.end_of_month = false;
        }
        fix_year(&mut raw.year);
        for chain in [
            &mut raw.year,
            &mut raw.month,
            &mut raw.day,
            &mut raw.hour,
            &mut raw.minute,
            &mut raw.usec,
        ] {
            normalize_chain(chain);
        }
        let checks: [(&str, &[Comp], i64, i64, bool); 6] = [
            ("year (1970..2199)", &raw.year, MIN_YEAR, MAX_YEAR, false),
            ("month (1..12)", &raw.month, 1, 12, false),
            (
                if raw.end_of_month {
                    "day from the end of the month (1..28)"
                } else {
                    "day (1..31)"
                },
                &raw.day,
                1,
                31,
                raw.end_of_month,
            ),
            ("hour (0..23)", &raw.hour, 0, 23, false),
            ("minute (0..59)", &raw.minute, 0, 59, false),
            ("second (0..59)", &raw.usec, 0, 60 * USEC_PER_SEC - 1, false),
        ];
        for (what, chain, from, to, eom) in checks {
            if !chain_valid(chain, from, to, eom) {
                return Err(invalid(
                    spec,
                    format!(
                        "the {what} is out of range, or a step is too long to repeat within it"
                    ),
                ));
            }
        }
        let mut calendar = Calendar {
            original: spec.to_string(),
            weekdays,
            year: raw.year,
            month: raw.month,
            day: raw.day,
            end_of_month: raw.end_of_month,
            hour: raw.hour,
            minute: raw.minute,
            usec: raw.usec,
            utc: raw.utc,
            timezone,
            fields: CalendarFields::default(),
        };
        calendar.fields = calendar.compute_fields();
        Ok(calendar)
    }

    /// The expression as given.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Read the fields in `tz` (for `--timezone`); an expression that names
    /// another zone is refused rather than silently overridden.
    pub fn with_timezone(mut self, tz: Tz) -> Result<Calendar> {
        if let Some(own) = self.timezone() {
            if own != tz {
                return Err(invalid(
                    &self.original,
                    format!(
                        "it names the zone {} and --timezone gives {}; keep one",
                        own.name(),
                        tz.name()
                    ),
                ));
            }
            return Ok(self);
        }
        if tz.name() == "UTC" {
            self.utc = true;
        } else {
            self.timezone = Some(tz);
        }
        Ok(self)
    }

    /// The zone named in the expression (`UTC` included); `None` means the
    /// local zone.
    pub fn timezone(&self) -> Option<Tz> {
        if self.utc {
            Some(chrono_tz::UTC)
        } else {
            self.timezone
        }
    }

    /// Byte-identical to `systemd-analyze calendar`'s "Normalized form:".
    pub fn normalized(&self) -> String {
        let mut out = String::new();
        if self.weekdays != ALL_WEEKDAYS {
            format_weekdays(&mut out, self.weekdays);
            out.push(' ');
        }
        format_chain(&mut out, 4, &self.year, false);
        out.push('-');
        format_chain(&mut out, 2, &self.month, false);
        out.push(if self.end_of_month { '~' } else { '-' });
        format_chain(&mut out, 2, &self.day, false);
        out.push(' ');
        format_chain(&mut out, 2, &self.hour, false);
        out.push(':');
        format_chain(&mut out, 2, &self.minute, false);
        out.push(':');
        format_chain(&mut out, 2, &self.usec, true);
        if self.utc {
            out.push_str(" UTC");
        } else if let Some(tz) = self.timezone {
            out.push(' ');
            out.push_str(tz.name());
        }
        out
    }

    /// The parsed fields, for backends that render them natively.
    pub fn fields(&self) -> &CalendarFields {
        &self.fields
    }

    fn compute_fields(&self) -> CalendarFields {
        let list = |chain: &[Comp]| {
            (!chain.is_empty()).then(|| chain.iter().map(Comp::public).collect::<Vec<_>>())
        };
        CalendarFields {
            weekdays: (self.weekdays != ALL_WEEKDAYS).then(|| {
                (0..7u8)
                    .filter(|d| self.weekdays & (1 << d) != 0)
                    .map(|d| Weekday::try_from(d).expect("0..7 is a weekday"))
                    .collect()
            }),
            year: list(&self.year),
            month: list(&self.month),
            day: list(&self.day),
            end_of_month: self.end_of_month,
            hour: list(&self.hour),
            minute: list(&self.minute),
            second_micros: self.usec.iter().map(Comp::public).collect(),
        }
    }

    fn zone(&self) -> Zone {
        match (self.utc, self.timezone) {
            (true, _) => Zone::Utc,
            (false, Some(tz)) => Zone::Named(tz),
            // The local zone by its IANA name when it has one, so the
            // answer comes from the same (bundled) database as a named
            // zone's, even on a machine without tzdata.
            (false, None) => local_zone().map_or(Zone::Local, Zone::Named),
        }
    }

    /// The first elapse strictly after `after` (to the microsecond), as
    /// systemd computes it; `None` when it never elapses again (a past
    /// year, or a date that does not exist such as `*-02-30`), or where
    /// systemd cannot compute one either (see `find_next`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let usec = after.timestamp_micros().checked_add(1)?;
        let mut clock = Mktime {
            zone: self.zone(),
            cached_offset: 0,
        };
        let t = usec.div_euclid(USEC_PER_SEC);
        let mut tm = clock.localtime(t)?;
        let mut tm_usec = usec.rem_euclid(USEC_PER_SEC);
        self.find_next(&mut clock, &mut tm, &mut tm_usec)?;
        let t = clock.mktime(&mut tm)?;
        DateTime::<Utc>::from_timestamp_micros(t.checked_mul(USEC_PER_SEC)? + tm_usec)
    }

    /// The next `n` elapses after `after`.
    pub fn next_elapses(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut at = after;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }

    /// The smallest gap among the next few elapses after `from`: the
    /// period spread windows and missed-run checks work with. An
    /// expression that elapses once or never has no period: `Duration::MAX`.
    pub fn typical_period(&self, from: DateTime<Utc>) -> Duration {
        let elapses = self.next_elapses(from, 8);
        elapses
            .windows(2)
            .filter_map(|w| (w[1] - w[0]).to_std().ok())
            .min()
            .unwrap_or(Duration::MAX)
    }

    /// systemd's `find_next`: walk the broken-down local time field by
    /// field, from the year down to the microsecond, letting `mktime`
    /// normalise (and so skip nonexistent local times) at every step.
    fn find_next(&self, clock: &mut Mktime, c: &mut Tm, tm_usec: &mut i64) -> Option<()> {
        let reset_below_day = |c: &mut Tm, usec: &mut i64| {
            c.hour = 0;
            c.min = 0;
            c.sec = 0;
            *usec = 0;
        };
        // Every pass starts later than the one before, or the walk is
        // going in circles: a time read with the DST offset of another
        // date can normalise to before where it started, where systemd
        // stops with EDEADLK ("Resource deadlock avoided"). No elapse then.
        let mut last_start: Option<i64> = None;
        loop {
            let start = clock.mktime(c)? * USEC_PER_SEC + *tm_usec;
            if last_start.is_some_and(|last| start <= last) {
                return None;
            }
            last_start = Some(start);
            c.offset_hint = None;

            let r = self.match_component(clock, &self.year, false, c, c.year);
            let (year, changed) = r?;
            c.year = year;
            if changed {
                c.mon = 0;
                c.mday = 1;
                reset_below_day(c, tm_usec);
            }
            if !matches!(clock.within_bounds(c), Some(true)) {
                return None;
            }

            let r = self.match_component(clock, &self.month, false, c, c.mon + 1);
            let bounds = r.map(|(mon, changed)| {
                c.mon = mon - 1;
                if changed {
                    c.mday = 1;
                    reset_below_day(c, tm_usec);
                }
                clock.within_bounds(c)
            });
            match bounds {
                None | Some(None) => {
                    c.year += 1;
                    c.mon = 0;
                    c.mday = 1;
                    reset_below_day(c, tm_usec);
                    continue;
                }
                Some(Some(false)) => continue,
                Some(Some(true)) => {}
            }

            let r = self.match_component(clock, &self.day, true, c, c.mday);
            let bounds = r.map(|(mday, changed)| {
                c.mday = mday;
                if changed {
                    reset_below_day(c, tm_usec);
                }
                clock.within_bounds(c)
            });
            match bounds {
                None | Some(None) => {
                    c.mon += 1;
                    c.mday = 1;
                    reset_below_day(c, tm_usec);
                    continue;
                }
                Some(Some(false)) => continue,
                Some(Some(true)) => {}
            }

            if !clock.matches_weekday(self.weekdays, c) {
                c.mday += 1;
                reset_below_day(c, tm_usec);
                continue;
            }

            let r = self.match_component(clock, &self.hour, false, c, c.hour);
            let bounds = r.map(|(hour, changed)| {
                c.hour = hour;
                if changed {
                    c.min = 0;
                    c.sec = 0;
                    *tm_usec = 0;
                }
                clock.within_bounds(c)
            });
            match bounds {
                None | Some(None) => {
                    c.mday += 1;
                    reset_below_day(c, tm_usec);
                    continue;
                }
                // The hour just set may not exist (a DST change): start
                // again from the normalised time.
                Some(Some(false)) => continue,
                Some(Some(true)) => {}
            }

            let r = self.match_component(clock, &self.minute, false, c, c.min);
            let bounds = r.map(|(min, changed)| {
                c.min = min;
                if changed {
                    c.sec = 0;
                    *tm_usec = 0;
                }
                clock.within_bounds(c)
            });
            match bounds {
                None | Some(None) => {
                    c.hour += 1;
                    c.min = 0;
                    c.sec = 0;
                    *tm_usec = 0;
                    continue;
                }
                Some(Some(false)) => continue,
                Some(Some(true)) => {}
            }

            let value = c.sec * USEC_PER_SEC + *tm_usec;
            let r = self.match_component(clock, &self.usec, false, c, value);
            let bounds = r.map(|(v, _)| {
                *tm_usec = v % USEC_PER_SEC;
                c.sec = v / USEC_PER_SEC;
                clock.within_bounds(c)
            });
            match bounds {
                None | Some(None) => {
                    c.min += 1;
                    c.sec = 0;
                    *tm_usec = 0;
                    continue;
                }
                Some(Some(false)) => continue,
                Some(Some(true)) => {}
            }
            return Some(());
        }
    }

    /// The smallest value of `chain` at or after `val`: `Some((value,
    /// changed))`, or `None` when none is left in this field. An empty
    /// chain (`*`) matches anything.
    fn match_component(
        &self,
        clock: &mut Mktime,
        chain: &[Comp],
        is_day: bool,
        tm: &Tm,
        val: i64,
    ) -> Option<(i64, bool)> {
        if chain.is_empty() {
            return Some((val, false));
        }
        let mut best: Option<i64> = None;
        for comp in chain {
            let (mut start, mut stop) = (comp.start, comp.stop);
            if self.end_of_month && is_day {
                start = clock.end_of_month(tm, start);
                stop = clock.end_of_month(tm, stop);
                if stop > 0 {
                    std::mem::swap(&mut start, &mut stop);
                }
            }
            if start >= val {
                if best.is_none_or(|d| start < d) {
                    best = Some(start);
                }
            } else if comp.repeat > 0 {
                let k = start + comp.repeat * ((val - start + comp.repeat - 1) / comp.repeat);
                if best.is_none_or(|d| k < d) && (stop < 0 || k <= stop) {
                    best = Some(k);
                }
            }
        }
        best.map(|d| (d, d != val))
    }
}

/// The IANA name of the local zone, when it has one: `TZ` (a name, with
/// or without the leading ':'), else `/etc/timezone`, else the target of
/// the `/etc/localtime` link. `None` for a POSIX `TZ` rule or an unnamed
/// zone file; computations then still use the local zone, only its name
/// is unknown.
pub fn local_zone() -> Option<Tz> {
    if let Ok(tz) = std::env::var("TZ") {
        let name = tz.strip_prefix(':').unwrap_or(&tz);
        if name.is_empty() {
            return Some(chrono_tz::UTC);
        }
        let name = name.split_once("zoneinfo/").map_or(name, |(_, rest)| rest);
        return name.parse().ok();
    }
    if let Ok(text) = std::fs::read_to_string("/etc/timezone")
        && let Ok(tz) = text.trim().parse()
    {
        return Some(tz);
    }
    let target = std::fs::read_link("/etc/localtime").ok()?;
    let target = target.to_string_lossy();
    target.split_once("zoneinfo/")?.1.parse().ok()
}

impl std::fmt::Display for Calendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.normalized())
    }
}

/// A broken-down local time like C's `struct tm` (full year, month from
/// 0), whose fields may be out of range until `mktime` normalises them.
/// `offset_hint` plays `tm_isdst`: the UTC offset the fields were read
/// with, or `None` for "find out" (-1).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    offset_hint: Option<i32>,
}

/// glibc's `mktime`/`localtime` over one zone, including the state it
/// keeps between calls (the last offset found), which decides which of two
/// occurrences of a repeated local time a "find out" call lands on.
struct Mktime {
    zone: Zone,
    cached_offset: i32,
}

fn days_from_civil(year: i64, month0: i64, mday: i64) -> Option<i64> {
    let year = year + month0.div_euclid(12);
    let month = month0.rem_euclid(12) as u32 + 1;
    let first = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, 1)?;
    Some(first.num_days_from_ce() as i64 - 719_163 + mday - 1)
}

impl Mktime {
    fn offset_at(&self, t: i64) -> Option<i32> {
        let utc = DateTime::<Utc>::from_timestamp(t, 0)?.naive_utc();
        Some(match self.zone {
            Zone::Utc => 0,
            Zone::Named(tz) => tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
            Zone::Local => Local.offset_from_utc_datetime(&utc).local_minus_utc(),
        })
    }

    /// The instants whose local time is `local` (0, 1 or 2 of them).
    fn instants(&self, local: &NaiveDateTime) -> LocalResult<i64> {
        match self.zone {
            Zone::Utc => LocalResult::Single(local.and_utc().timestamp()),
            Zone::Named(tz) => tz.from_local_datetime(local).map(|d| d.timestamp()),
            Zone::Local => Local.from_local_datetime(local).map(|d| d.timestamp()),
        }
    }

    fn localtime(&self, t: i64) -> Option<Tm> {
        let offset = self.offset_at(t)?;
        let local = DateTime::<Utc>::from_timestamp(t + offset as i64, 0)?.naive_utc();
        Some(Tm {
            year: local.year() as i64,
            mon: local.month0() as i64,
            mday: local.day() as i64,
            hour: local.hour() as i64,
            min: local.minute() as i64,
            sec: local.second() as i64,
            offset_hint: Some(offset),
        })
    }

    /// Normalise `tm` in place and return its instant, as glibc's mktime:
    /// a nonexistent local time is read with the offset in force before the
    /// change (so it moves forward by the gap); a repeated one takes the
    /// offset `tm` was read with, else the one the previous call found.
    fn mktime(&mut self, tm: &mut Tm) -> Option<i64> {
        let days = days_from_civil(tm.year, tm.mon, tm.mday)?;
        let local_seconds = days
            .checked_mul(86_400)?
            .checked_add(tm.hour.checked_mul(3600)?)?
            .checked_add(tm.min.checked_mul(60)?)?
            .checked_add(tm.sec)?;
        let local = DateTime::<Utc>::from_timestamp(local_seconds, 0)?.naive_utc();
        let t = match self.instants(&local) {
            LocalResult::Single(t) => match tm.offset_hint {
                Some(hint) if self.offset_at(t)? != hint => local_seconds - hint as i64,
                _ => t,
            },
            LocalResult::Ambiguous(a, b) => {
                let wanted = tm.offset_hint.unwrap_or(self.cached_offset);
                if self.offset_at(b)? == wanted && self.offset_at(a)? != wanted {
                    b
                } else {
                    a
                }
            }
            LocalResult::None => {
                let before = self.offset_at(local_seconds - 86_400)?;
                let after = self.offset_at(local_seconds + 86_400)?;
                (local_seconds - before as i64).max(local_seconds - after as i64)
            }
        };
        let normalised = self.localtime(t)?;
        self.cached_offset = normalised.offset_hint.unwrap_or(0);
        *tm = normalised;
        Some(t)
    }

    /// systemd's `tm_within_bounds`: `Some(true)` when `tm` needs no
    /// normalising; `Some(false)` after replacing it with its normalised
    /// value, the fields below the first changed one reset; `None` past
    /// the last year or when normalising would go backwards.
    fn within_bounds(&mut self, tm: &mut Tm) -> Option<bool> {
        if tm.year > MAX_YEAR {
            return None;
        }
        let mut t = *tm;
        self.mktime(&mut t)?;
        use std::cmp::Ordering;
        let cmp = if t.year != tm.year {
            t.mon = 0;
            t.year.cmp(&tm.year)
        } else if t.mon != tm.mon {
            t.mday = 1;
            t.mon.cmp(&tm.mon)
        } else if t.mday != tm.mday {
            t.hour = 0;
            t.mday.cmp(&tm.mday)
        } else if t.hour != tm.hour {
            t.min = 0;
            t.hour.cmp(&tm.hour)
        } else if t.min != tm.min {
            t.sec = 0;
            t.min.cmp(&tm.min)
        } else {
            t.sec.cmp(&tm.sec)
        };
        match cmp {
            Ordering::Less => None,
            Ordering::Equal => Some(true),
            Ordering::Greater => {
                *tm = t;
                Some(false)
            }
        }
    }

    fn matches_weekday(&mut self, bits: u8, tm: &Tm) -> bool {
        if bits == ALL_WEEKDAYS {
            return true;
        }
        let mut t = *tm;
        let Some(instant) = self.mktime(&mut t) else {
            return false;
        };
        let _ = instant;
        let weekday = NaiveDate::from_ymd_opt(t.year as i32, t.mon as u32 + 1, t.mday as u32)
            .map(|d| d.weekday().num_days_from_monday());
        weekday.is_some_and(|k| bits & (1 << k) != 0)
    }

    /// The day of the month that is `day`-1 days before its last day (`~1`
    /// is the last day); -1 when that falls outside the month.
    fn end_of_month(&mut self, tm: &Tm, day: i64) -> i64 {
        let mut t = *tm;
        t.mon += 1;
        t.mday = 1 - day;
        if self.mktime(&mut t).is_none() || t.mon != tm.mon {
            return -1;
        }
        t.mday
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn norm(spec: &str) -> String {
        Calendar::parse(spec).unwrap().normalized()
    }

    fn next(spec: &str, base: &str, n: usize) -> Vec<String> {
        Calendar::parse(spec)
            .unwrap()
            .next_elapses(at(base), n)
            .iter()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
            .collect()
    }

    #[test]
    fn normalizes_like_systemd() {
        // Each expected value is systemd-analyze 252's "Normalized form:".
        let cases = [
            ("minutely", "*-*-* *:*:00"),
            ("hourly", "*-*-* *:00:00"),
            ("daily", "*-*-* 00:00:00"),
            ("weekly", "Mon *-*-* 00:00:00"),
            ("monthly", "*-*-01 00:00:00"),
            ("quarterly", "*-01,04,07,10-01 00:00:00"),
            ("semiannually", "*-01,07-01 00:00:00"),
            ("yearly", "*-01-01 00:00:00"),
            ("daily utc", "*-*-* 00:00:00 UTC"),
            (
                "Mon,Tue,Wed,Fri,Sat 1:2:3.5",
                "Mon..Wed,Fri,Sat *-*-* 01:02:03.500000",
            ),
            ("Sun,Mon..Wed *-*~3", "Mon..Wed,Sun *-*~03 00:00:00"),
            ("Mon-Wed,Fri", "Mon..Wed,Fri *-*-* 00:00:00"),
            ("12-24", "*-12-24 00:00:00"),
            ("wed *-1", "Wed *-*-01 00:00:00"),
            ("*:*:*", "*-*-* *:*:*"),
            ("2026-*-* *:*:0/0.5", "2026-*-* *:*:00/0.500000"),
            ("*:*:1..10/3", "*-*-* *:*:01..10/3"),
            ("*:0/20", "*-*-* *:00/20:00"),
            ("*-*-1,31", "*-*-01,31 00:00:00"),
            ("Mon *-*-* UTC", "Mon *-*-* 00:00:00 UTC"),
            ("*:0/20 Europe/Berlin", "*-*-* *:00/20:00 Europe/Berlin"),
            // Found by comparing random expressions with systemd-analyze:
            // a range or step that matches once is that one value, and a
            // last word with a '/' is a zone only if it starts like one.
            (
                "1,12..12/1-20 *:4..58:29..47 UTC",
                "*-01,12-20 *:04..58:29..47 UTC",
            ),
            ("Fri..Sun 22..22/3:*", "Fri..Sun *-*-* 22:*:00"),
            ("*-6/4~2,1..1/1,5 *:35:29", "*-06/4~01,02,05 *:35:29"),
            ("Wed,Sat *-7/1,8~5", "Wed,Sat *-07/1,08~05 00:00:00"),
            ("@6939799293", "2189-11-29 18:01:33 UTC"),
        ];
        for (spec, want) in cases {
            assert_eq!(norm(spec), want, "{spec}");
        }
    }

    #[test]
    fn refuses_what_systemd_refuses_and_names_the_part() {
        for spec in [
            "Sun..Sat",
            "",
            "Mon..",
            "*-*-* 25:00",
            "*-02-32",
            "*:0/0",
            "Fry 10:00",
            "10:00 Mars/Olympus",
        ] {
            let err = Calendar::parse(spec).unwrap_err();
            assert_eq!(err.code, ErrorCode::CalendarInvalid, "{spec}");
            assert!(
                err.message.contains(&format!("'{spec}'")),
                "{}",
                err.message
            );
            assert!(
                err.suggestion
                    .as_deref()
                    .unwrap()
                    .contains("syncfleet calendar"),
                "{err:?}"
            );
        }
        let err = Calendar::parse("10:00 Mars/Olympus").unwrap_err();
        assert!(
            err.message.contains("unknown time zone 'Mars/Olympus'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn next_elapses_in_utc() {
        assert_eq!(
            next("*-*-1,31 UTC", "2026-02-15T01:10:00Z", 3),
            [
                "2026-03-01T00:00:00+00:00",
                "2026-03-31T00:00:00+00:00",
                "2026-04-01T00:00:00+00:00"
            ]
        );
        assert_eq!(
            next("Mon..Fri 09:30 UTC", "2026-12-04T09:30:00Z", 2),
            ["2026-12-07T09:30:00+00:00", "2026-12-08T09:30:00+00:00"]
        );
        assert_eq!(
            next("*:*:0/0.5 UTC", "2026-12-04T09:30:00Z", 2),
            ["2026-12-04T09:30:00.500+00:00", "2026-12-04T09:30:01+00:00"]
        );
        assert!(next("2020-*-* UTC", "2026-12-04T09:30:00Z", 1).is_empty());
        assert!(next("*-02-30 UTC", "2026-12-04T09:30:00Z", 1).is_empty());
    }

    #[test]
    fn dst_changes_follow_systemd() {
        // Spring forward in Berlin (2026-03-29 01:00 UTC): 02:30 does not
        // exist that day and is skipped; *:0/20 jumps from 01:40 to 03:00.
        assert_eq!(
            next("*-*-* 02:30 Europe/Berlin", "2026-03-29T00:50:00Z", 1),
            ["2026-03-30T00:30:00+00:00"]
        );
        assert_eq!(
            next("*:0/20 Europe/Berlin", "2026-03-29T00:50:00Z", 3),
            [
                "2026-03-29T01:00:00+00:00",
                "2026-03-29T01:20:00+00:00",
                "2026-03-29T01:40:00+00:00"
            ]
        );
        // Fall back (2026-10-25 01:00 UTC): the repeated hour fires once,
        // at its first pass ...
        assert_eq!(
            next("*:0/20 Europe/Berlin", "2026-10-25T00:30:00Z", 2),
            ["2026-10-25T00:40:00+00:00", "2026-10-25T02:00:00+00:00"]
        );
        // ... unless the base time is already in the second pass.
        assert_eq!(
            next("*:0/20 Europe/Berlin", "2026-10-25T01:10:00Z", 2),
            ["2026-10-25T01:20:00+00:00", "2026-10-25T01:40:00+00:00"]
        );
    }

    #[test]
    fn a_walk_that_would_circle_ends() {
        // systemd 252 fails here with EDEADLK: the 35th of September
        // normalises into October's summer time, and the 1st of October
        // read with that offset lies before where the walk started.
        let cal = Calendar::parse("Mon *-*-17/6,18 5:14 Australia/Sydney").unwrap();
        assert_eq!(
            cal.next_elapses(at("2026-03-28T22:40:00Z"), 2),
            [at("2026-05-17T19:14:00Z"), at("2026-06-28T19:14:00Z")]
        );
        assert_eq!(cal.next_after(at("2026-08-16T19:14:00Z")), None);
    }

    #[test]
    fn fields_and_period() {
        let cal = Calendar::parse("Mon..Fri *-*-* 09:30 Europe/Berlin").unwrap();
        let f = cal.fields();
        assert_eq!(
            f.weekdays,
            Some(vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri
            ])
        );
        assert_eq!(f.year, None);
        assert_eq!(
            f.hour,
            Some(vec![Component {
                start: 9,
                stop: None,
                repeat: None
            }])
        );
        assert!(f.whole_seconds());
        assert_eq!(cal.timezone(), Some(chrono_tz::Europe::Berlin));
        assert_eq!(
            cal.typical_period(at("2026-12-02T00:00:00Z")),
            Duration::from_secs(86_400)
        );
        let every20 = Calendar::parse("*:0/20").unwrap();
        assert_eq!(
            every20.typical_period(at("2026-12-02T00:00:00Z")),
            Duration::from_secs(1200)
        );
        assert_eq!(
            every20.fields().minute,
            Some(vec![Component {
                start: 0,
                stop: None,
                repeat: Some(20)
            }])
        );
        let once = Calendar::parse("2026-12-24 18:00 UTC").unwrap();
        assert_eq!(
            once.typical_period(at("2026-12-02T00:00:00Z")),
            Duration::MAX
        );
    }

    #[test]
    fn with_timezone_sets_or_refuses() {
        let cal = Calendar::parse("daily")
            .unwrap()
            .with_timezone(chrono_tz::America::New_York)
            .unwrap();
        assert_eq!(cal.normalized(), "*-*-* 00:00:00 America/New_York");
        let utc = Calendar::parse("daily")
            .unwrap()
            .with_timezone(chrono_tz::UTC)
            .unwrap();
        assert_eq!(utc.normalized(), "*-*-* 00:00:00 UTC");
        let err = Calendar::parse("daily Europe/Berlin")
            .unwrap()
            .with_timezone(chrono_tz::America::New_York)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::CalendarInvalid);
    }
}
