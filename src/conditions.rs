//! Run conditions, `conditions` in syncfleet.json: on AC power, endpoints
//! reachable, outside quiet hours. The runner's gate checks them before a
//! scheduled or triggered run (ARCHITECTURE.md, "The run path"); an unmet
//! one skips the run with reason `condition:<name>`, counted like the other
//! skips and never a failure. `sync` does not check them.

use chrono_tz::Tz;
use serde::Serialize;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long all `reachable` endpoints together may take: resolving and
/// connecting run in parallel, and a run is never held up longer.
pub const REACHABLE_BUDGET: Duration = Duration::from_secs(2);
/// Points the power-supply reading at another directory (tests).
pub const POWER_SUPPLY_DIR_VAR: &str = "SYNCFLEET_POWER_SUPPLY_DIR";
const LINUX_POWER_SUPPLY_DIR: &str = "/sys/class/power_supply";

/// One kind of condition; `condition:<name>` is its skip reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    OnAcPower,
    Reachable,
    QuietHours,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::OnAcPower => "on_ac_power",
            Condition::Reachable => "reachable",
            Condition::QuietHours => "quiet_hours",
        }
    }

    /// The skip reason: `condition:reachable`.
    pub fn reason(self) -> String {
        format!("condition:{}", self.as_str())
    }
}

/// The validated `conditions` of a workspace; the default has none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    pub on_ac_power: bool,
    /// Every endpoint must accept a TCP connection.
    pub reachable: Vec<Endpoint>,
    /// No run inside any of these ranges.
    pub quiet_hours: Vec<QuietHours>,
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        !self.on_ac_power && self.reachable.is_empty() && self.quiet_hours.is_empty()
    }
}

/// A `host:port` (`[v6addr]:port` for an IPv6 literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| {
            format!(
                "'{text}' {why}: write host:port, e.g. \"gitlab.example.com:443\" or \"[2001:db8::1]:22\""
            )
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner
                .strip_suffix(']')
                .ok_or_else(|| bad("has an unclosed '['"))?,
            None if host.contains(':') => return Err(bad("is an IPv6 address without brackets")),
            None => host,
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(bad("has no valid host"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("has no valid port (1-65535)"))?;
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A daily range of wall-clock time, `HH:MM-HH:MM`, start included and
/// end excluded; a start after the end crosses midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start_minute: u16,
    end_minute: u16,
}

impl QuietHours {
    pub fn parse(text: &str) -> Result<QuietHours, String> {
        let bad = |why: &str| {
            format!("'{text}' {why}: write HH:MM-HH:MM in 24-hour time, e.g. \"22:00-07:00\"")
        };
        let (start, end) = text.split_once('-').ok_or_else(|| bad("is not a range"))?;
        let minute = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && t.trim().len() == 5).then_some(h * 60 + m)
        };
        let (Some(start_minute), Some(end_minute)) = (minute(start), minute(end)) else {
            return Err(bad("has a time that is not HH:MM"));
        };
        if start_minute == end_minute {
            return Err(bad("is empty (start equals end)"));
        }
        Ok(QuietHours {
            start_minute,
            end_minute,
        })
    }

    /// Whether `minute` of the day (0..1440) falls inside the range.
    pub fn contains(&self, minute: u16) -> bool {
        if self.start_minute < self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

impl std::fmt::Display for QuietHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start_minute), hm(self.end_minute))
    }
}

/// The first condition that is not met, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub condition: Condition,
    pub detail: String,
}

/// What checking the conditions found: the first unmet one, and notes for
/// the service log (a condition that could not be read and counts as met).
#[derive(Debug, Default)]
pub struct Verdict {
    pub unmet: Option<Unmet>,
    pub notes: Vec<String>,
}

/// Check `conditions` at `now_ms`, quiet hours in `zone` (the local zone
/// when None). Cheapest first: the clock, then the power supply, then
/// the network, which stops at the first unmet one.
pub fn check(conditions: &Conditions, now_ms: i64, zone: Option<Tz>) -> Verdict {
    let mut verdict = Verdict::default();
    if let Some(detail) = quiet_hours_unmet(&conditions.quiet_hours, now_ms, zone) {
        verdict.unmet = Some(Unmet {
            condition: Condition::QuietHours,
            detail,
        });
        return verdict;
    }
    if conditions.on_ac_power {
        match power_state() {
            PowerState::Ac => {}
            PowerState::Battery(detail) => {
                verdict.unmet = Some(Unmet {
                    condition: Condition::OnAcPower,
                    detail,
                });
                return verdict;
            }
            PowerState::Unknown(why) => verdict.notes.push(format!(
                "on_ac_power: the power source is unknown ({why}); treated as on AC power"
            )),
        }
    }
    let unreachable = unreachable_endpoints(&conditions.reachable, REACHABLE_BUDGET);
    if !unreachable.is_empty() {
        verdict.unmet = Some(Unmet {
            condition: Condition::Reachable,
            detail: unreachable.join("; "),
        });
    }
    verdict
}

/// The wall-clock minute of the day at `now_ms` in `zone` (local when
/// None), and the zone's name for messages.
fn minute_of_day(now_ms: i64, zone: Option<Tz>) -> (u16, String) {
    use chrono::Timelike;
    let utc = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let (h, m, name) = match zone {
        Some(tz) => {
            let t = utc.with_timezone(&tz);
            (t.hour(), t.minute(), tz.name().to_string())
        }
        None => {
            let t = utc.with_timezone(&chrono::Local);
            (
                t.hour(),
                t.minute(),
                format!("local time, UTC{}", t.format("%:z")),
            )
        }
    };
    ((h * 60 + m) as u16, name)
}

/// Why `now_ms` is inside quiet hours, or None.
fn quiet_hours_unmet(ranges: &[QuietHours], now_ms: i64, zone: Option<Tz>) -> Option<String> {
    if ranges.is_empty() {
        return None;
    }
    let (minute, zone_name) = minute_of_day(now_ms, zone);
    let range = ranges.iter().find(|r| r.contains(minute))?;
    Some(format!(
        "{:02}:{:02} ({zone_name}) is within quiet hours {range}",
        minute / 60,
        minute % 60
    ))
}

/// Where the machine draws its power from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerState {
    Ac,
    /// On battery (or a UPS's battery), with what said so.
    Battery(String),
    /// This machine's power source cannot be read here; why.
    Unknown(String),
}

/// The power source: from `SYNCFLEET_POWER_SUPPLY_DIR` when set (tests),
/// else Linux's /sys/class/power_supply, macOS's `pmset -g batt`. Other
/// systems are unknown, which counts as on AC power (and is logged): a
/// condition syncfleet cannot read must not stop every run.
pub fn power_state() -> PowerState {
    if let Some(dir) = std::env::var_os(POWER_SUPPLY_DIR_VAR).filter(|d| !d.is_empty()) {
        return sysfs_power_state(Path::new(&dir));
    }
    if cfg!(target_os = "linux") {
        sysfs_power_state(Path::new(LINUX_POWER_SUPPLY_DIR))
    } else if cfg!(target_os = "macos") {
        pmset_power_state()
    } else {
        PowerState::Unknown(format!(
            "syncfleet cannot read the power source on {}",
            std::env::consts::OS
        ))
    }
}

/// Linux's power-supply class: on AC when an adapter (Mains, USB, …)
/// is online; on battery when a system battery or UPS is discharging, or
/// when adapters exist and all are offline next to a battery. No supply
/// at all is a desktop or a server: on AC. Peripheral batteries (a mouse:
/// `scope` Device) do not count.
pub fn sysfs_power_state(dir: &Path) -> PowerState {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return PowerState::Ac,
        Err(e) => return PowerState::Unknown(format!("cannot read {}: {e}", dir.display())),
    };
    let read = |supply: &Path, attr: &str| {
        std::fs::read_to_string(supply.join(attr))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let (mut adapters_offline, mut battery, mut discharging) = (Vec::new(), None, None);
    for entry in entries.flatten() {
        let supply = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        match read(&supply, "type").as_str() {
            "" => continue,
            "Battery" | "UPS" if read(&supply, "scope") == "Device" => continue,
            "Battery" | "UPS" => {
                if read(&supply, "status") == "Discharging" {
                    discharging = Some(name.clone());
                }
                battery = Some(name);
            }
            _ if read(&supply, "online") == "1" => return PowerState::Ac,
            _ => adapters_offline.push(name),
        }
    }
    match (discharging, battery) {
        (Some(b), _) => PowerState::Battery(format!("on battery ({b} is discharging)")),
        (None, Some(b)) if !adapters_offline.is_empty() => PowerState::Battery(format!(
            "on battery ({} offline, {b} present)",
            adapters_offline.join(", ")
        )),
        _ => PowerState::Ac,
    }
}

/// macOS: `pmset -g batt` says "Now drawing from 'AC Power'" (or
/// 'Battery Power', 'UPS Power').
fn pmset_power_state() -> PowerState {
    let mut command = std::process::Command::new("pmset");
    command.args(["-g", "batt"]);
    match crate::process::capture(&mut command, None, Duration::from_secs(2)) {
        Ok(out) if out.success() => parse_pmset(&out.stdout),
        Ok(out) => PowerState::Unknown(format!("pmset -g batt failed: {}", out.stderr.trim())),
        Err(e) => PowerState::Unknown(format!("cannot run pmset: {e}")),
    }
}

pub fn parse_pmset(output: &str) -> PowerState {
    let source = output
        .lines()
        .find_map(|l| l.split_once("drawing from '"))
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(source, _)| source);
    match source {
        Some("AC Power") => PowerState::Ac,
        Some(s @ ("Battery Power" | "UPS Power")) => {
            PowerState::Battery(format!("on battery (pmset: drawing from {s})"))
        }
        other => PowerState::Unknown(format!(
            "pmset -g batt names no known power source ({})",
            other.unwrap_or("none")
        )),
    }
}

/// The endpoints that did not accept a TCP connection within `budget`
/// (all probed at once), each with why.
pub fn unreachable_endpoints(endpoints: &[Endpoint], budget: Duration) -> Vec<String> {
    unreachable_with(endpoints, budget, probe)
}

/// `unreachable_endpoints` with the probe given (tests slow it down).
fn unreachable_with(
    endpoints: &[Endpoint],
    budget: Duration,
    probe: fn(&Endpoint, Instant) -> Result<(), String>,
) -> Vec<String> {
    if endpoints.is_empty() {
        return Vec::new();
    }
    let deadline = Instant::now() + budget;
    let (tx, rx) = mpsc::channel();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let (tx, endpoint) = (tx.clone(), endpoint.clone());
        // Detached: a resolver that hangs past the deadline only keeps
        // its own thread, never the run.
        std::thread::spawn(move || {
            let _ = tx.send((i, probe(&endpoint, deadline)));
        });
    }
    drop(tx);
    let mut results: Vec<Option<Result<(), String>>> = vec![None; endpoints.len()];
    while results.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, r)) => results[i] = Some(r),
            Err(_) => break,
        }
    }
    endpoints
        .iter()
        .zip(results)
        .filter_map(|(e, r)| match r {
            Some(Ok(())) => None,
            Some(Err(why)) => Some(format!("{e} is not reachable: {why}")),
            None => Some(format!(
                "{e} is not reachable: no answer within {}s",
                budget.as_secs_f64()
            )),
        })
        .collect()
}

/// Resolve `endpoint` and connect to its addresses in turn until one
/// accepts, before `deadline`.
fn probe(endpoint: &Endpoint, deadline: Instant) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", endpoint.host))?
        .collect();
    let mut last = format!("{} resolves to no address", endpoint.host);
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{last}; out of time"));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn endpoints_parse_names_v4_and_bracketed_v6() {
        let e = Endpoint::parse("gitlab.example.com:443").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("gitlab.example.com", 443));
        assert_eq!(Endpoint::parse("10.0.0.1:22").unwrap().port, 22);
        let v6 = Endpoint::parse("[::1]:8080").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert_eq!(v6.to_string(), "[::1]:8080");
        for (bad, why) in [
            ("gitlab.example.com", "has no port"),
            ("::1:443", "IPv6 address without brackets"),
            ("[::1:443", "unclosed"),
            (":443", "no valid host"),
            ("host:0", "no valid port"),
            ("host:70000", "no valid port"),
            ("host:https", "no valid port"),
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.contains("host:port"), "{e}");
        }
    }

    #[test]
    fn quiet_hours_cross_midnight_start_included_end_excluded() {
        let night = QuietHours::parse("22:00-07:00").unwrap();
        assert_eq!(night.to_string(), "22:00-07:00");
        for (minute, inside) in [
            (21 * 60 + 59, false),
            (22 * 60, true),
            (23 * 60 + 59, true),
            (0, true),
            (6 * 60 + 59, true),
            (7 * 60, false),
            (12 * 60, false),
        ] {
            assert_eq!(night.contains(minute), inside, "minute {minute}");
        }
        let lunch = QuietHours::parse("12:00-13:30").unwrap();
        assert!(lunch.contains(12 * 60) && lunch.contains(13 * 60 + 29));
        assert!(!lunch.contains(13 * 60 + 30) && !lunch.contains(0));
        for bad in [
            "22:00",
            "24:00-07:00",
            "22:60-07:00",
            "7:00-08:00",
            "09:00-09:00",
            "a-b",
        ] {
            let e = QuietHours::parse(bad).unwrap_err();
            assert!(e.contains("HH:MM-HH:MM"), "{bad}: {e}");
        }
    }

    #[test]
    fn quiet_hours_are_read_in_the_given_zone_across_dst() {
        let ranges = [QuietHours::parse("22:00-07:00").unwrap()];
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        let berlin: Option<Tz> = Some(chrono_tz::Europe::Berlin);
        // 21:30 UTC in winter is 22:30 in Berlin (UTC+1): quiet.
        let m = quiet_hours_unmet(&ranges, at("2026-01-15T21:30:00Z"), berlin).unwrap();
        assert_eq!(m, "22:30 (Europe/Berlin) is within quiet hours 22:00-07:00");
        // 05:30 UTC in summer is 07:30 in Berlin (UTC+2): not quiet.
        assert!(quiet_hours_unmet(&ranges, at("2026-07-15T05:30:00Z"), berlin).is_none());
        // ...but in winter 05:30 UTC is 06:30: quiet.
        assert!(quiet_hours_unmet(&ranges, at("2026-01-15T05:30:00Z"), berlin).is_some());
        assert!(quiet_hours_unmet(&ranges, at("2026-01-15T12:00:00Z"), Some(Tz::UTC)).is_none());
        assert!(quiet_hours_unmet(&[], at("2026-01-15T23:00:00Z"), Some(Tz::UTC)).is_none());
    }

    fn supply(dir: &Path, name: &str, attrs: &[(&str, &str)]) {
        let d = dir.join(name);
        fs::create_dir_all(&d).unwrap();
        for (k, v) in attrs {
            fs::write(d.join(k), format!("{v}\n")).unwrap();
        }
    }

    #[test]
    fn sysfs_power_supplies_tell_ac_from_battery() {
        let root = tempfile::tempdir().unwrap();
        // No power_supply class at all, or an empty one: a desktop.
        assert_eq!(sysfs_power_state(&root.path().join("none")), PowerState::Ac);
        assert_eq!(sysfs_power_state(root.path()), PowerState::Ac);
        let laptop = root.path().join("laptop");
        supply(&laptop, "AC", &[("type", "Mains"), ("online", "1")]);
        supply(
            &laptop,
            "BAT0",
            &[("type", "Battery"), ("status", "Charging")],
        );
        assert_eq!(sysfs_power_state(&laptop), PowerState::Ac);
        supply(&laptop, "AC", &[("online", "0")]);
        supply(&laptop, "BAT0", &[("status", "Discharging")]);
        assert_eq!(
            sysfs_power_state(&laptop),
            PowerState::Battery("on battery (BAT0 is discharging)".into())
        );
        // Firmware that says "Unknown" on battery: the offline adapter tells.
        supply(&laptop, "BAT0", &[("status", "Unknown")]);
        assert!(matches!(sysfs_power_state(&laptop), PowerState::Battery(_)));
        // A USB-C adapter online wins.
        supply(
            &laptop,
            "ucsi-source-psy-1",
            &[("type", "USB"), ("online", "1")],
        );
        assert_eq!(sysfs_power_state(&laptop), PowerState::Ac);
        // A battery alone, full: on AC. A discharging mouse is no system battery.
        let desk = root.path().join("desk");
        supply(&desk, "BAT1", &[("type", "Battery"), ("status", "Full")]);
        supply(
            &desk,
            "hidpp_battery_0",
            &[
                ("type", "Battery"),
                ("scope", "Device"),
                ("status", "Discharging"),
            ],
        );
        assert_eq!(sysfs_power_state(&desk), PowerState::Ac);
    }

    #[test]
    fn pmset_output_is_read() {
        let ac = "Now drawing from 'AC Power'\n -InternalBattery-0 (id=1)\t100%; charged; 0:00 remaining present: true\n";
        assert_eq!(parse_pmset(ac), PowerState::Ac);
        let batt =
            "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=1)\t80%; discharging\n";
        assert!(matches!(parse_pmset(batt), PowerState::Battery(_)));
        assert!(matches!(parse_pmset(""), PowerState::Unknown(_)));
    }

    #[test]
    fn a_listening_port_is_reachable_and_a_closed_one_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = Endpoint::parse(&listener.local_addr().unwrap().to_string()).unwrap();
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let closed = Endpoint::parse(&format!("127.0.0.1:{closed_port}")).unwrap();
        assert!(unreachable_endpoints(std::slice::from_ref(&open), REACHABLE_BUDGET).is_empty());
        let started = Instant::now();
        let down = unreachable_endpoints(&[open, closed], REACHABLE_BUDGET);
        assert_eq!(down.len(), 1, "{down:?}");
        assert!(
            down[0].starts_with(&format!("127.0.0.1:{closed_port} is not reachable: ")),
            "{down:?}"
        );
        assert!(started.elapsed() < REACHABLE_BUDGET + Duration::from_secs(1));
        let v6 = Endpoint::parse("localhost:1").unwrap();
        assert_eq!(unreachable_endpoints(&[v6], REACHABLE_BUDGET).len(), 1);
    }

    #[test]
    fn a_probe_that_never_answers_ends_at_the_budget() {
        // A resolver or a connect that hangs: the run waits no longer
        // than the budget, and the endpoint counts as unreachable.
        fn hangs(_: &Endpoint, _: Instant) -> Result<(), String> {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        }
        let slow = Endpoint::parse("slow.example:443").unwrap();
        let started = Instant::now();
        let down = unreachable_with(&[slow], Duration::from_millis(300), hangs);
        assert_eq!(
            down,
            ["slow.example:443 is not reachable: no answer within 0.3s"]
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(1),
            "{took:?}"
        );
    }

    #[test]
    fn condition_reasons() {
        assert_eq!(Condition::OnAcPower.reason(), "condition:on_ac_power");
        assert_eq!(Condition::Reachable.reason(), "condition:reachable");
        assert_eq!(Condition::QuietHours.reason(), "condition:quiet_hours");
        assert!(Conditions::default().is_empty());
    }
}
