//! `syncfleet report`: per service and for the fleet over a window (default
//! 30 days): runs, outcome counts and rates, p50/p95 duration, longest
//! failure streak, mean time to recover, last failure, skipped invocations;
//! `--by day|week` adds a trend table and a sparkline per service. One
//! ordered scan of the registry (`registry::REPORT_SQL`), aggregated here.

use crate::cli::{BucketArg, FormatArg, ReportArgs};
use crate::context::Context;
use crate::duration::format_elapsed;
use crate::error::{Error, Result};
use crate::output::{Render, TextTable, Ui, csv_row, iso_ms, json_text, table};
use crate::registry::Registry;
use crate::store::status::SkipCounts;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

const DAY_MS: i64 = 86_400_000;

/// One bucket of a trend: `[runs, success, degraded, failed]`, aligned
/// with the report's `buckets` (compact: a fleet report holds
/// services × buckets of them).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bucket {
    pub runs: u64,
    pub success: u64,
    pub degraded: u64,
    pub failed: u64,
}

impl Serialize for Bucket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.runs, self.success, self.degraded, self.failed].serialize(s)
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub service_id: String,
    pub runs: u64,
    pub success: u64,
    pub degraded: u64,
    /// Failed runs include these: runs that ended without a result.
    pub failed: u64,
    pub crashed: u64,
    pub success_rate: f64,
    pub degraded_rate: f64,
    pub failure_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_duration_ms: Option<i64>,
    pub longest_failure_streak: u64,
    /// Mean time from the first failure of a streak to the next good run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_time_to_recover_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_code: Option<String>,
    pub skipped: SkipCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Vec<Bucket>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparkline: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub since_iso: String,
    pub until_iso: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    /// First day (UTC) of each trend bucket, with `--by`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,
    pub fleet: Stats,
    pub services: Vec<Stats>,
    #[serde(skip)]
    format: Option<FormatArg>,
}

/// Running totals for one service (or the fleet) during the scan.
#[derive(Default)]
struct Acc {
    counts: [u64; 3],
    crashed: u64,
    durations: Vec<i64>,
    streak: u64,
    longest: u64,
    streak_start: Option<i64>,
    recoveries: Vec<i64>,
    last_failure: Option<(i64, Option<String>)>,
    buckets: Vec<[u64; 3]>,
}

impl Acc {
    /// Empty totals, with a trend of `bucketing`'s buckets.
    fn new(bucketing: Option<&Bucketing>) -> Acc {
        Acc {
            buckets: vec![[0; 3]; bucketing.map_or(0, |b| b.labels.len())],
            ..Acc::default()
        }
    }

    fn add(
        &mut self,
        ts: i64,
        duration: i64,
        outcome: &str,
        code: Option<&str>,
        bucket: Option<usize>,
    ) {
        let k = match outcome {
            "success" => 0,
            "degraded" => 1,
            _ => 2,
        };
        self.counts[k] += 1;
        if outcome == "crashed" {
            // Its duration is unknown (recorded as 0): it would skew p50/p95.
            self.crashed += 1;
        } else {
            self.durations.push(duration);
        }
        if let Some(b) = bucket
            && let Some(slot) = self.buckets.get_mut(b)
        {
            slot[k] += 1;
        }
        if k == 2 {
            self.streak += 1;
            self.longest = self.longest.max(self.streak);
            self.streak_start.get_or_insert(ts);
            self.last_failure = Some((ts, code.map(str::to_string)));
        } else {
            if let Some(start) = self.streak_start.take() {
                self.recoveries.push(ts - start);
            }
            self.streak = 0;
        }
    }

    fn merge_into(&self, fleet: &mut Acc) {
        for k in 0..3 {
            fleet.counts[k] += self.counts[k];
        }
        fleet.crashed += self.crashed;
        fleet.durations.extend_from_slice(&self.durations);
        fleet.longest = fleet.longest.max(self.longest);
        fleet.recoveries.extend_from_slice(&self.recoveries);
        if let Some((ts, code)) = &self.last_failure
            && fleet.last_failure.as_ref().is_none_or(|(t, _)| ts > t)
        {
            fleet.last_failure = Some((*ts, code.clone()));
        }
        for (f, s) in fleet.buckets.iter_mut().zip(&self.buckets) {
            for k in 0..3 {
                f[k] += s[k];
            }
        }
    }

    fn finish(mut self, id: &str, skipped: SkipCounts, trend: bool) -> Stats {
        let runs: u64 = self.counts.iter().sum();
        let rate = |n: u64| {
            if runs == 0 {
                0.0
            } else {
                (n as f64 / runs as f64 * 10_000.0).round() / 10_000.0
            }
        };
        let (p50, p95) = (
            percentile(&mut self.durations, 50),
            percentile(&mut self.durations, 95),
        );
        let trend = trend.then(|| {
            self.buckets
                .iter()
                .map(|b| Bucket {
                    runs: b.iter().sum(),
                    success: b[0],
                    degraded: b[1],
                    failed: b[2],
                })
                .collect::<Vec<_>>()
        });
        Stats {
            service_id: id.to_string(),
            runs,
            success: self.counts[0],
            degraded: self.counts[1],
            failed: self.counts[2],
            crashed: self.crashed,
            success_rate: rate(self.counts[0]),
            degraded_rate: rate(self.counts[1]),
            failure_rate: rate(self.counts[2]),
            p50_duration_ms: p50,
            p95_duration_ms: p95,
            longest_failure_streak: self.longest,
            mean_time_to_recover_ms: (!self.recoveries.is_empty())
                .then(|| self.recoveries.iter().sum::<i64>() / self.recoveries.len() as i64),
            last_failure_iso: self.last_failure.as_ref().map(|(ts, _)| iso_ms(*ts)),
            last_failure_code: self.last_failure.and_then(|(_, c)| c),
            skipped,
            sparkline: trend.as_ref().map(|t| sparkline(t)),
            trend,
        }
    }
}

/// Nearest-rank percentile (reorders `values`).
pub fn percentile(values: &mut [i64], p: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let rank = (p * values.len()).div_ceil(100).max(1) - 1;
    let (_, v, _) = values.select_nth_unstable(rank.min(values.len() - 1));
    Some(*v)
}

/// One character per bucket: the share of good (success or degraded) runs,
/// ▁ (none) to █ (all); a space where there were no runs.
pub fn sparkline(buckets: &[Bucket]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    buckets
        .iter()
        .map(|b| {
            if b.runs == 0 {
                ' '
            } else {
                let good = (b.success + b.degraded) as f64 / b.runs as f64;
                BARS[((good * 7.0).round() as usize).min(7)]
            }
        })
        .collect()
}

/// The trend's buckets over `[since, until)`: days, or weeks that start
/// on Monday, each labelled with its first day.
struct Bucketing {
    /// Days per bucket.
    width: i64,
    /// Days from the epoch's weekday to the bucket's first (1970-01-01 was
    /// a Thursday).
    offset: i64,
    /// The number of the window's first bucket.
    first: i64,
    labels: Vec<String>,
}

impl Bucketing {
    fn new(by: BucketArg, since_ms: i64, until_ms: i64) -> Bucketing {
        let (width, offset) = match by {
            BucketArg::Day => (1, 0),
            BucketArg::Week => (7, 3),
        };
        let number = |ts: i64| (ts.div_euclid(DAY_MS) + offset).div_euclid(width);
        let first = number(since_ms);
        let labels = (first..=number(until_ms - 1))
            .map(|b| {
                let day = b * width - offset;
                chrono::DateTime::from_timestamp_millis(day * DAY_MS)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            })
            .collect();
        Bucketing {
            width,
            offset,
            first,
            labels,
        }
    }

    /// The bucket of a run at `ts_ms` (inside the window).
    fn index(&self, ts_ms: i64) -> usize {
        ((ts_ms.div_euclid(DAY_MS) + self.offset).div_euclid(self.width) - self.first) as usize
    }
}

fn pct(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

fn ms(v: Option<i64>) -> String {
    v.map(|v| format_elapsed(v as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

const HEADER: [&str; 13] = [
    "SERVICE",
    "RUNS",
    "SUCCESS",
    "DEGRADED",
    "FAILED",
    "P50",
    "P95",
    "STREAK",
    "MTTR",
    "LAST FAILURE",
    "CODE",
    "SKIPPED b/p/l/c",
    "TREND",
];

fn row(s: &Stats) -> Vec<String> {
    vec![
        s.service_id.clone(),
        s.runs.to_string(),
        pct(s.success_rate),
        pct(s.degraded_rate),
        pct(s.failure_rate),
        ms(s.p50_duration_ms),
        ms(s.p95_duration_ms),
        s.longest_failure_streak.to_string(),
        ms(s.mean_time_to_recover_ms),
        s.last_failure_iso
            .as_deref()
            .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
            .unwrap_or_else(|| "-".into()),
        s.last_failure_code.clone().unwrap_or_else(|| "-".into()),
        format!(
            "{}/{}/{}/{}",
            s.skipped.backoff,
            s.skipped.paused,
            s.skipped.locked,
            s.skipped.condition.total()
        ),
        s.sparkline.clone().unwrap_or_default(),
    ]
}

impl Render for Report {
    fn human(&self, ui: &Ui) -> String {
        match self.format.unwrap_or(FormatArg::Table) {
            FormatArg::Json => json_text(self),
            FormatArg::Csv if self.by.is_some() => self.trend_csv(),
            FormatArg::Csv => self.stats_csv(),
            FormatArg::Table => {
                let mut out = self.human_summary(ui);
                out.push_str(&format!("{}\n", self.services_table(ui)));
                if let Some(by) = self.by {
                    out.push_str(&format!(
                        "\n{}\n{}\n",
                        ui.bold(&format!("Fleet trend by {by}:")),
                        self.trend_table()
                    ));
                }
                out
            }
        }
    }
}

impl Report {
    /// One CSV row per service and trend bucket (fleet last).
    fn trend_csv(&self) -> String {
        let mut out = csv_row(&["service", "bucket", "runs", "success", "degraded", "failed"]);
        for s in self.services.iter().chain([&self.fleet]) {
            for (label, b) in self.buckets.iter().zip(s.trend.iter().flatten()) {
                out.push_str(&csv_row(&[
                    s.service_id.clone(),
                    label.clone(),
                    b.runs.to_string(),
                    b.success.to_string(),
                    b.degraded.to_string(),
                    b.failed.to_string(),
                ]));
            }
        }
        out
    }

    /// One CSV row of statistics per service (fleet last).
    fn stats_csv(&self) -> String {
        let mut out = csv_row(&HEADER[..12]);
        for s in self.services.iter().chain([&self.fleet]) {
            let mut r = row(s);
            r.truncate(12);
            out.push_str(&csv_row(&r));
        }
        out
    }

    /// The title and the fleet's numbers in two lines.
    fn human_summary(&self, ui: &Ui) -> String {
        let f = &self.fleet;
        format!(
            "{}\nFleet: {} runs over {} services: {} success, {} degraded, {} failed{}\n       p50 {}, p95 {}; longest failure streak {}; mean time to recover {}{}\n\n",
            ui.bold(&format!(
                "Report {} → {}",
                &self.since_iso[..16.min(self.since_iso.len())],
                &self.until_iso[..16.min(self.until_iso.len())]
            )),
            f.runs,
            self.services.len(),
            pct(f.success_rate),
            pct(f.degraded_rate),
            pct(f.failure_rate),
            if f.crashed > 0 {
                format!(" ({} crashed)", f.crashed)
            } else {
                String::new()
            },
            ms(f.p50_duration_ms),
            ms(f.p95_duration_ms),
            f.longest_failure_streak,
            ms(f.mean_time_to_recover_ms),
            match f.skipped.describe() {
                Some(skips) => format!("\n       skipped (never failures): {skips}"),
                None => String::new(),
            },
        )
    }

    /// A row per service; with --by, the sparkline column too.
    fn services_table(&self, ui: &Ui) -> TextTable {
        let header: Vec<&str> = if self.by.is_some() {
            HEADER.to_vec()
        } else {
            HEADER[..12].to_vec()
        };
        let mut t = table(header.clone());
        for s in &self.services {
            let mut r = row(s);
            r.truncate(header.len());
            t.add_row(r);
        }
        t.fit(
            ui.width,
            Some("SERVICE"),
            &[
                "SKIPPED b/p/l/c",
                "LAST FAILURE",
                "CODE",
                "DEGRADED",
                "MTTR",
                "P95",
                "STREAK",
            ],
        );
        t
    }

    /// The fleet's runs per bucket.
    fn trend_table(&self) -> TextTable {
        let mut t = table(vec![
            "FROM", "RUNS", "SUCCESS", "DEGRADED", "FAILED", "GOOD",
        ]);
        for (label, b) in self.buckets.iter().zip(self.fleet.trend.iter().flatten()) {
            let good = if b.runs == 0 {
                "-".to_string()
            } else {
                pct((b.success + b.degraded) as f64 / b.runs as f64)
            };
            t.add_row(vec![
                label.clone(),
                b.runs.to_string(),
                b.success.to_string(),
                b.degraded.to_string(),
                b.failed.to_string(),
                good,
            ]);
        }
        t
    }
}

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<Report> {
    let now = ctx.now_ms();
    let since = crate::commands::history::when("--since", Some(&args.since), now)?.unwrap_or(0);
    let until =
        crate::commands::history::when("--until", args.until.as_deref(), now)?.unwrap_or(now);
    if since >= until {
        return Err(Error::invalid_argument("--since must be before --until"));
    }
    let reg = crate::index::open_for_reading(ctx)?;
    reg.scan_mode()?;
    let only: Option<HashSet<String>> = if args.services.is_empty() {
        None
    } else {
        Some(
            args.services
                .iter()
                .map(|s| crate::service::resolve_recorded(reg, s))
                .collect::<Result<_>>()?,
        )
    };
    let bucketing = args.by.map(|by| Bucketing::new(by, since, until));
    let per_service = scan(reg, (since, until), only.as_ref(), bucketing.as_ref())?;
    let mut skips: HashMap<String, SkipCounts> = reg.skip_counts(since, until)?;
    let trend = bucketing.is_some();
    let mut fleet = Acc::new(bucketing.as_ref());
    let mut fleet_skips = SkipCounts::default();
    let services: Vec<Stats> = per_service
        .into_iter()
        .map(|(id, acc)| {
            acc.merge_into(&mut fleet);
            let sk = skips.remove(&id).unwrap_or_default();
            fleet_skips.add(&sk);
            acc.finish(&id, sk, trend)
        })
        .collect();
    Ok(Report {
        since_iso: iso_ms(since),
        until_iso: iso_ms(until),
        buckets: bucketing.map(|b| b.labels).unwrap_or_default(),
        by: args.by.map(|b| match b {
            BucketArg::Day => "day",
            BucketArg::Week => "week",
        }),
        fleet: fleet.finish("fleet", fleet_skips, trend),
        services,
        format: Some(args.format),
    })
}

/// One ordered scan of the runs in `[since, until)`, totalled per service
/// (only the `only` ones, when given), in id order. Installed services
/// without a run in the window are part of the report too: a silent
/// service is news.
fn scan(
    reg: &Registry,
    (since, until): (i64, i64),
    only: Option<&HashSet<String>>,
    bucketing: Option<&Bucketing>,
) -> Result<Vec<(String, Acc)>> {
    let wanted = |id: &str| only.is_none_or(|o| o.contains(id));
    let mut per_service: Vec<(String, Acc)> = Vec::new();
    let mut current: Option<(String, Acc)> = None;
    reg.for_each_report_row(since, until, |id, ts, duration, outcome, code| {
        if !wanted(id) {
            return;
        }
        if current.as_ref().is_none_or(|(c, _)| c != id) {
            per_service.extend(current.take());
            current = Some((id.to_string(), Acc::new(bucketing)));
        }
        if let Some((_, acc)) = current.as_mut() {
            acc.add(ts, duration, outcome, code, bucketing.map(|b| b.index(ts)));
        }
    })?;
    per_service.extend(current);
    let seen: HashSet<String> = per_service.iter().map(|(id, _)| id.clone()).collect();
    for id in reg.installed_ids()? {
        if !seen.contains(&id) && wanted(&id) {
            per_service.push((id, Acc::new(bucketing)));
        }
    }
    per_service.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(per_service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&mut v, 50), Some(50));
        assert_eq!(percentile(&mut v, 95), Some(95));
        assert_eq!(percentile(&mut [7], 95), Some(7));
        assert_eq!(percentile(&mut [], 50), None);
    }

    #[test]
    fn streaks_and_time_to_recover() {
        let mut acc = Acc::default();
        for (ts, o) in [
            (0, "success"),
            (10, "failed"),
            (20, "failed"),
            (30, "failed"),
            (45, "degraded"),
            (50, "failed"),
            (60, "success"),
        ] {
            acc.add(ts, 5, o, Some("TIMEOUT"), None);
        }
        let s = acc.finish("s", SkipCounts::default(), false);
        assert_eq!((s.runs, s.success, s.degraded, s.failed), (7, 2, 1, 4));
        assert_eq!(s.longest_failure_streak, 3);
        // Recoveries: 45-10 = 35 and 60-50 = 10.
        assert_eq!(s.mean_time_to_recover_ms, Some(22));
        assert_eq!(s.last_failure_code.as_deref(), Some("TIMEOUT"));
        assert_eq!(s.failure_rate, 0.5714);
    }

    #[test]
    fn weeks_start_on_monday_and_sparkline_shows_good_share() {
        // 2026-01-07 is a Wednesday; its week starts Monday 2026-01-05.
        let wed = chrono::DateTime::parse_from_rfc3339("2026-01-07T12:00:00Z")
            .unwrap()
            .timestamp_millis();
        let weeks = Bucketing::new(BucketArg::Week, wed, wed + 8 * DAY_MS);
        assert_eq!(weeks.labels, ["2026-01-05", "2026-01-12"]);
        assert_eq!(weeks.index(wed), 0);
        assert_eq!(weeks.index(wed + 5 * DAY_MS), 1, "the next Monday");
        let days = Bucketing::new(BucketArg::Day, wed, wed + 2 * DAY_MS);
        assert_eq!(days.labels, ["2026-01-07", "2026-01-08", "2026-01-09"]);
        let b = |runs, success| Bucket {
            runs,
            success,
            ..Bucket::default()
        };
        assert_eq!(sparkline(&[b(4, 4), b(0, 0), b(4, 0), b(2, 1)]), "█ ▁▅");
    }
}
