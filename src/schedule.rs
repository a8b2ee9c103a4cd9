//! How a service is scheduled: an interval (the manifest's
//! `interval_seconds` alone), or calendar expressions (`--at`, systemd's
//! calendar syntax) with a time zone and a catch-up policy. The spread
//! offsets that keep a fleet from firing in the same second live here too,
//! so every backend spreads the same way.

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
