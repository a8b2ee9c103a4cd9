//! `syncfleet report`: per service and for the fleet over a window (default
//! 30 days): runs, outcome counts and rates, p50/p95 duration, longest
//! failure streak, mean time to recover, last failure, skipped invocations;
//! `--by day|week` adds a trend table and a sparkline per service. Each
//! service's window is one range scan of the registry
//! (`registry::REPORT_SQL`), aggregated here and dropped before the next:
//! the cost follows the rows asked about, not the history kept, and the
//! percentiles stay exact (nearest rank over every duration).

use crate::cli::{BucketArg, FormatArg, ReportArgs};
use crate::context::Context;
use crate::duration::format_elapsed;
use crate::error::{Error, Result};
use crate::output::{Render, TextTable, Ui, csv_row, iso_ms, json_text, table};
use crate::registry::{Registry, ReportRow};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Runs started by hand (`sync`): counted, but kept out of failure
    /// streaks and time to recover, which measure the schedule.
    pub manual: u64,
    /// None (null) without runs in the window: no rate, not 0%.
    pub success_rate: Option<f64>,
    pub degraded_rate: Option<f64>,
    pub failure_rate: Option<f64>,
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
    /// Skipped invocations by reason (backoff, paused and locked always;
    /// any other reason the registry recorded, such as `condition:<name>`).
    pub skipped: Skips,
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

/// Skipped invocations by reason.
pub type Skips = BTreeMap<String, u64>;

/// The reasons every report lists, even at zero.
const BASE_SKIP_REASONS: [&str; 3] = ["backoff", "paused", "locked"];

fn skips_from(counts: impl IntoIterator<Item = (String, u64)>) -> Skips {
    let mut out: Skips = BASE_SKIP_REASONS
        .iter()
        .map(|r| (r.to_string(), 0))
        .collect();
    for (reason, n) in counts {
        *out.entry(reason).or_default() += n;
    }
    out
}

/// Running totals for one service (or the fleet) during the scan.
#[derive(Default)]
struct Acc {
    counts: [u64; 3],
    crashed: u64,
    manual: u64,
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

    fn add(&mut self, run: ReportRow<'_>, bucket: Option<usize>) {
        let k = match run.outcome {
            "success" => 0,
            "degraded" => 1,
            _ => 2,
        };
        self.counts[k] += 1;
        if run.outcome == "crashed" {
            // Its duration is unknown (recorded as 0): it would skew p50/p95.
            self.crashed += 1;
        } else {
            self.durations.push(run.duration_ms);
        }
        if let Some(b) = bucket
            && let Some(slot) = self.buckets.get_mut(b)
        {
            slot[k] += 1;
        }
        if k == 2 {
            self.last_failure = Some((run.started_at_ms, run.error_code.map(str::to_string)));
        }
        if run.trigger == "manual" {
            // Someone trying a fix by hand neither breaks nor ends the
            // schedule's streak.
            self.manual += 1;
            return;
        }
        if k == 2 {
            self.streak += 1;
            self.longest = self.longest.max(self.streak);
            self.streak_start.get_or_insert(run.started_at_ms);
        } else {
            if let Some(start) = self.streak_start.take() {
                self.recoveries.push(run.started_at_ms - start);
            }
            self.streak = 0;
        }
    }

    fn runs(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn merge_into(&self, fleet: &mut Acc) {
        for k in 0..3 {
            fleet.counts[k] += self.counts[k];
        }
        fleet.crashed += self.crashed;
        fleet.manual += self.manual;
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

    fn finish(mut self, id: &str, skipped: Skips, trend: bool) -> Stats {
        let runs = self.runs();
        let rate =
            |n: u64| (runs > 0).then(|| (n as f64 / runs as f64 * 10_000.0).round() / 10_000.0);
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
            manual: self.manual,
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

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn ms(v: Option<i64>) -> String {
    v.map(|v| format_elapsed(v as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

/// "backoff 3, condition:wifi 1": the reasons with skips, or "-".
fn skips_text(s: &Skips) -> String {
    let parts: Vec<String> = s
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// A time as "YYYY-MM-DD HH:MM" (UTC, as the window is given).
fn minute(iso: &str) -> String {
    iso.get(..16).unwrap_or(iso).replace('T', " ")
}

const HEADER: [&str; 10] = [
    "SERVICE", "RUNS", "SUCCESS", "DEGRADED", "FAILED", "P50", "P95", "STREAK", "MTTR", "TREND",
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
                out.push_str(&self.failures_and_skips(ui));
                if let Some(by) = self.by {
                    out.push_str(&format!(
                        "\n{} {}\n{}",
                        ui.bold(&format!("Fleet trend by {by}:")),
                        self.fleet.sparkline.as_deref().unwrap_or_default(),
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

    /// Every statistic of every service (fleet last), as numbers a
    /// spreadsheet can use: counts, rates as fractions (empty without
    /// runs), durations in ms, one SKIPPED_<REASON> column per reason.
    fn stats_csv(&self) -> String {
        let reasons: Vec<&String> = self.fleet.skipped.keys().collect();
        let mut header: Vec<String> = [
            "SERVICE",
            "RUNS",
            "SUCCESS",
            "DEGRADED",
            "FAILED",
            "CRASHED",
            "MANUAL",
            "SUCCESS_RATE",
            "DEGRADED_RATE",
            "FAILURE_RATE",
            "P50_MS",
            "P95_MS",
            "LONGEST_FAILURE_STREAK",
            "MTTR_MS",
            "LAST_FAILURE",
            "LAST_FAILURE_CODE",
        ]
        .map(String::from)
        .to_vec();
        header.extend(
            reasons
                .iter()
                .map(|r| format!("SKIPPED_{}", r.to_uppercase())),
        );
        let mut out = csv_row(&header);
        let opt = |v: Option<String>| v.unwrap_or_default();
        for s in self.services.iter().chain([&self.fleet]) {
            let mut r = vec![
                s.service_id.clone(),
                s.runs.to_string(),
                s.success.to_string(),
                s.degraded.to_string(),
                s.failed.to_string(),
                s.crashed.to_string(),
                s.manual.to_string(),
                opt(s.success_rate.map(|v| v.to_string())),
                opt(s.degraded_rate.map(|v| v.to_string())),
                opt(s.failure_rate.map(|v| v.to_string())),
                opt(s.p50_duration_ms.map(|v| v.to_string())),
                opt(s.p95_duration_ms.map(|v| v.to_string())),
                s.longest_failure_streak.to_string(),
                opt(s.mean_time_to_recover_ms.map(|v| v.to_string())),
                opt(s.last_failure_iso.clone()),
                opt(s.last_failure_code.clone()),
            ];
            r.extend(
                reasons
                    .iter()
                    .map(|k| s.skipped.get(*k).copied().unwrap_or(0).to_string()),
            );
            out.push_str(&csv_row(&r));
        }
        out
    }

    /// The title and the fleet's numbers.
    fn human_summary(&self, ui: &Ui) -> String {
        let f = &self.fleet;
        let title = ui.bold(&format!(
            "Report {} → {}",
            minute(&self.since_iso),
            minute(&self.until_iso)
        ));
        let mut out = if f.runs == 0 {
            format!(
                "{title}\nFleet: no runs over {}\n",
                counted(self.services.len(), "service")
            )
        } else {
            format!(
                "{title}\nFleet: {} over {}: {} success, {} degraded, {} failed{}{}\n       p50 {}, p95 {}; longest failure streak {}; mean time to recover {}\n",
                counted(f.runs as usize, "run"),
                counted(self.services.len(), "service"),
                pct(f.success_rate),
                pct(f.degraded_rate),
                pct(f.failure_rate),
                if f.crashed > 0 {
                    format!(" ({} crashed)", f.crashed)
                } else {
                    String::new()
                },
                if f.manual > 0 {
                    format!("; {} by hand (not in streaks)", f.manual)
                } else {
                    String::new()
                },
                ms(f.p50_duration_ms),
                ms(f.p95_duration_ms),
                f.longest_failure_streak,
                ms(f.mean_time_to_recover_ms),
            )
        };
        out.push_str(&format!(
            "       skipped (never failures): {}\n\n",
            skips_text(&f.skipped)
        ));
        out
    }

    /// A row per service; with --by, the sparkline column too.
    fn services_table(&self, ui: &Ui) -> TextTable {
        let columns = if self.by.is_some() {
            HEADER.len()
        } else {
            HEADER.len() - 1
        };
        let mut t = table(HEADER[..columns].to_vec());
        for s in &self.services {
            let mut r = row(s);
            r.truncate(columns);
            t.add_row(r);
        }
        t.fit(
            ui.width,
            Some("SERVICE"),
            &["DEGRADED", "MTTR", "P95", "STREAK"],
        );
        t
    }

    /// What the services table has no room for, never dropped: each
    /// service's last failure with its code, and its skips by reason
    /// (only the services that have them).
    fn failures_and_skips(&self, ui: &Ui) -> String {
        let mut out = String::new();
        let failed: Vec<&Stats> = self
            .services
            .iter()
            .filter(|s| s.last_failure_iso.is_some())
            .collect();
        if !failed.is_empty() {
            let mut t = table(vec!["SERVICE", "LAST FAILURE", "CODE"]);
            for s in failed {
                t.add_row(vec![
                    s.service_id.clone(),
                    minute(s.last_failure_iso.as_deref().unwrap_or_default()),
                    s.last_failure_code.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            t.fit(ui.width, Some("SERVICE"), &[]);
            out.push_str(&format!("\n{}\n{t}\n", ui.bold("Last failures:")));
        }
        let skipped: Vec<&Stats> = self
            .services
            .iter()
            .filter(|s| s.skipped.values().any(|n| *n > 0))
            .collect();
        if !skipped.is_empty() {
            let mut t = table(vec!["SERVICE", "SKIPPED"]);
            for s in skipped {
                t.add_row(vec![s.service_id.clone(), skips_text(&s.skipped)]);
            }
            t.fit(ui.width, Some("SERVICE"), &[]);
            out.push_str(&format!("\n{}\n{t}\n", ui.bold("Skipped invocations:")));
        }
        out
    }

    /// The fleet's runs per bucket; a stretch of empty buckets is one row.
    fn trend_table(&self) -> String {
        let trend: Vec<Bucket> = self.fleet.trend.clone().unwrap_or_default();
        if trend.iter().all(|b| b.runs == 0) {
            return "  no runs in the window\n".into();
        }
        let mut t = table(vec![
            "FROM", "RUNS", "SUCCESS", "DEGRADED", "FAILED", "GOOD",
        ]);
        let mut i = 0;
        while i < trend.len() {
            let b = trend[i];
            if b.runs == 0 {
                let start = i;
                while i + 1 < trend.len() && trend[i + 1].runs == 0 {
                    i += 1;
                }
                let label = if i == start {
                    self.buckets[start].clone()
                } else {
                    format!("{} … {}", self.buckets[start], self.buckets[i])
                };
                t.add_row(vec![
                    label,
                    "0".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]);
            } else {
                t.add_row(vec![
                    self.buckets[i].clone(),
                    b.runs.to_string(),
                    b.success.to_string(),
                    b.degraded.to_string(),
                    b.failed.to_string(),
                    pct(Some((b.success + b.degraded) as f64 / b.runs as f64)),
                ]);
            }
            i += 1;
        }
        format!("{t}\n")
    }
}

/// "1 run", "2 runs": a count with its noun.
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
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
    reg.snapshot(|reg| report_from(reg, args, since, until))
}

/// The report over `[since, until)`, read from one registry snapshot.
fn report_from(reg: &Registry, args: &ReportArgs, since: i64, until: i64) -> Result<Report> {
    // The services asked about (each shown even without runs), else the
    // tag's or the fleet's: installed ones always, uninstalled ones when
    // they ran in the window.
    let targets: Vec<(String, bool)> = if args.services.is_empty() {
        reg.report_services(args.tag.as_deref())?
    } else {
        let mut ids = args
            .services
            .iter()
            .map(|s| crate::service::resolve_recorded(reg, s).map(|id| (id, true)))
            .collect::<Result<Vec<_>>>()?;
        ids.sort();
        ids.dedup();
        ids
    };
    let bucketing = args.by.map(|by| Bucketing::new(by, since, until));
    let trend = bucketing.is_some();
    let mut fleet = Acc::new(bucketing.as_ref());
    let mut fleet_skips = skips_from([]);
    let mut services = Vec::new();
    for (id, shown_without_runs) in targets {
        let mut acc = Acc::new(bucketing.as_ref());
        reg.for_each_report_row(&id, since, until, |r| {
            acc.add(r, bucketing.as_ref().map(|b| b.index(r.started_at_ms)))
        })?;
        if acc.runs() == 0 && !shown_without_runs {
            continue;
        }
        let skipped = skips_from(reg.skip_counts(&id, since, until)?);
        for (reason, n) in &skipped {
            *fleet_skips.entry(reason.clone()).or_default() += n;
        }
        acc.merge_into(&mut fleet);
        services.push(acc.finish(&id, skipped, trend));
    }
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
        for (ts, o, trigger) in [
            (0, "success", "scheduled"),
            (10, "failed", "scheduled"),
            (15, "success", "manual"),
            (20, "failed", "trigger"),
            (25, "failed", "manual"),
            (30, "failed", "scheduled"),
            (45, "degraded", "scheduled"),
            (50, "failed", "scheduled"),
            (60, "success", "scheduled"),
        ] {
            let run = ReportRow {
                started_at_ms: ts,
                duration_ms: 5,
                outcome: o,
                error_code: Some("TIMEOUT"),
                trigger,
            };
            acc.add(run, None);
        }
        let s = acc.finish("s", skips_from([]), false);
        // The manual runs count as runs, never in the streaks: the manual
        // success at 15 does not end the streak that began at 10.
        assert_eq!((s.runs, s.manual), (9, 2));
        assert_eq!(s.failed, 5);
        assert_eq!(s.longest_failure_streak, 3);
        // Recoveries: 45-10 = 35 and 60-50 = 10.
        assert_eq!(s.mean_time_to_recover_ms, Some(22));
        assert_eq!(s.last_failure_code.as_deref(), Some("TIMEOUT"));
        assert_eq!(s.failure_rate, Some(0.5556));
        let empty = Acc::default().finish("e", skips_from([("condition:wifi".into(), 2)]), false);
        assert_eq!(empty.success_rate, None, "no runs: no rate, not 0%");
        assert_eq!(skips_text(&empty.skipped), "condition:wifi 2");
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
