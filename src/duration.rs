//! Durations as people write them: the schedule interval (`15m`, `1h`: whole
//! minutes or hours, 5m to 24h) and free durations for timeouts and windows
//! (`500ms`, `30s`, `20m`, `7d`).

/// Parse a schedule interval: minutes or hours only, 5m..=24h.
pub fn parse_interval(input: &str) -> Result<u64, String> {
    parse_interval_with_min(input, 300)
}

/// `parse_interval` with another lower bound (in seconds, whole minutes):
/// end-to-end tests use 1m so a real scheduler fires within a minute.
pub fn parse_interval_with_min(input: &str, min_seconds: u64) -> Result<u64, String> {
    let input = input.trim();
    let (num_str, multiplier) = if let Some(n) = input.strip_suffix('m') {
        (n, 60u64)
    } else if let Some(n) = input.strip_suffix('h') {
        (n, 3600u64)
    } else {
        return Err(format!(
            "invalid interval '{input}': use minutes or hours, like 15m, 30m, 1h, 2h"
        ));
    };
    let num: u64 = num_str.parse().map_err(|_| {
        format!("invalid number in interval '{input}': use a whole number like 15m")
    })?;
    let min = format_interval(min_seconds);
    if num == 0 {
        return Err(format!("interval must be greater than 0 (minimum {min})"));
    }
    let seconds = num.saturating_mul(multiplier);
    if seconds < min_seconds {
        return Err(format!(
            "minimum interval is {min} (got {input}, which is {seconds}s)"
        ));
    }
    if seconds > 86_400 {
        return Err(format!(
            "maximum interval is 24h (got {input}, which is {seconds}s)"
        ));
    }
    Ok(seconds)
}

/// Parse a duration with a unit: ms, s, m, h, d. Returns milliseconds.
pub fn parse_duration_ms(input: &str) -> Result<u64, String> {
    let input = input.trim();
    let split = input.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
        format!("duration '{input}' needs a unit: ms, s, m, h or d (e.g. 30s, 20m)")
    })?;
    let (num_str, unit) = input.split_at(split);
    let num: u64 = num_str.parse().map_err(|_| {
        format!("invalid duration '{input}': expected a number then a unit, like 20m")
    })?;
    let per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "invalid duration unit in '{input}': use ms, s, m, h or d"
            ));
        }
    };
    Ok(num.saturating_mul(per_unit))
}

/// A point in time as fleet filters take it: a duration ago (`7d`, `12h`,
/// `30m`) or an RFC 3339 time. Returns milliseconds since the epoch.
pub fn parse_when(input: &str, now_ms: i64) -> Result<i64, String> {
    let input = input.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(input) {
        return Ok(t.timestamp_millis());
    }
    match parse_duration_ms(input) {
        Ok(ago) => Ok(now_ms.saturating_sub(ago as i64)),
        Err(_) => Err(format!(
            "'{input}' is neither a duration ago (7d, 12h, 30m) nor an RFC 3339 time (2026-01-31T12:00:00Z)"
        )),
    }
}

/// `1800` → `30m`, `5400` → `1h30m`, `86400` → `24h`.
pub fn format_interval(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A compact human duration for elapsed times: `850ms`, `12.5s`, `3m05s`, `2h10m`.
pub fn format_elapsed(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{}ms", (seconds * 1000.0).round() as u64)
    } else if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        let s = seconds as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let s = seconds as u64;
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_interval_valid_minutes() {
        assert_eq!(parse_interval("5m").unwrap(), 300);
        assert_eq!(parse_interval("15m").unwrap(), 900);
        assert_eq!(parse_interval("30m").unwrap(), 1800);
    }

    #[test]
    fn parse_interval_valid_hours() {
        assert_eq!(parse_interval("1h").unwrap(), 3600);
        assert_eq!(parse_interval("2h").unwrap(), 7200);
        assert_eq!(parse_interval("12h").unwrap(), 43_200);
        assert_eq!(parse_interval("24h").unwrap(), 86_400);
    }

    #[test]
    fn parse_interval_too_short() {
        assert!(parse_interval("1m").is_err());
        assert!(
            parse_interval("4m")
                .unwrap_err()
                .contains("minimum interval is 5m")
        );
    }

    #[test]
    fn parse_interval_too_long() {
        assert!(
            parse_interval("25h")
                .unwrap_err()
                .contains("maximum interval is 24h")
        );
        assert!(parse_interval("1441m").is_err());
    }

    #[test]
    fn parse_interval_invalid() {
        for bad in [
            "0m",
            "abc",
            "",
            "m",
            "10x",
            "30s",
            "-5m",
            "1.5h",
            "99999999999999999999h",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn parse_interval_trims_whitespace() {
        assert_eq!(parse_interval(" 30m ").unwrap(), 1800);
    }

    #[test]
    fn parse_duration_units() {
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert_eq!(parse_duration_ms("30s").unwrap(), 30_000);
        assert_eq!(parse_duration_ms("20m").unwrap(), 1_200_000);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration_ms("7d").unwrap(), 604_800_000);
        assert_eq!(parse_duration_ms("0s").unwrap(), 0);
        for bad in ["", "20", "m", "1w", "1.5s", "s10"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_interval(1800), "30m");
        assert_eq!(format_interval(5400), "1h30m");
        assert_eq!(format_interval(86_400), "24h");
        assert_eq!(format_elapsed(0.25), "250ms");
        assert_eq!(format_elapsed(12.5), "12.5s");
        assert_eq!(format_elapsed(185.0), "3m05s");
    }

    #[test]
    fn when_is_a_duration_ago_or_rfc3339() {
        let now = 10 * 86_400_000;
        assert_eq!(parse_when("7d", now), Ok(3 * 86_400_000));
        assert_eq!(parse_when("12h", now), Ok(now - 12 * 3_600_000));
        assert_eq!(parse_when("1970-01-02T00:00:00Z", now), Ok(86_400_000));
        assert!(
            parse_when("yesterday", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
