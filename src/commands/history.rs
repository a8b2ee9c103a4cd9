//! `syncfleet history`: past runs from the registry, newest first, with
//! filters; runs the registry missed are imported first.

use crate::cli::{FormatArg, HistoryArgs, OutcomeArg, TriggerArg};
use crate::context::Context;
use crate::duration::{format_elapsed, parse_when};
use crate::error::{Error, Result};
use crate::output::{Render, Ui, csv_row, iso_ms, json_text, table};
use crate::registry::{HistoryQuery, RunRow};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct HistoryReport {
    pub runs: Vec<RunRow>,
    #[serde(skip)]
    format: Option<FormatArg>,
}

fn stages_summary(r: &RunRow) -> String {
    r.stages
        .iter()
        .flatten()
        .map(|s| {
            if s.success {
                format!("{}:ok", s.stage)
            } else {
                format!(
                    "{}:{}",
                    s.stage,
                    s.error_code.as_deref().unwrap_or("failed")
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Render for HistoryReport {
    fn human(&self, ui: &Ui) -> String {
        let header = [
            "STARTED", "SERVICE", "TRIGGER", "OUTCOME", "DURATION", "ERROR", "RUN",
        ];
        match self.format.unwrap_or(FormatArg::Table) {
            FormatArg::Json => json_text(&self.runs),
            FormatArg::Csv => {
                let mut h: Vec<&str> = header.to_vec();
                h.push("STAGES");
                let mut out = csv_row(&h);
                for r in &self.runs {
                    out.push_str(&csv_row(&[
                        iso_ms(r.started_at_ms),
                        r.service_id.clone(),
                        r.trigger.clone(),
                        r.outcome.clone(),
                        format!("{:.3}", r.duration_ms as f64 / 1000.0),
                        r.error_code.clone().unwrap_or_default(),
                        r.run_id.clone(),
                        stages_summary(r),
                    ]));
                }
                out
            }
            FormatArg::Table => {
                if self.runs.is_empty() {
                    return "No runs match.\n".into();
                }
                // Codes have a column of their own that is never shortened;
                // only the free-text messages give way to a narrow terminal.
                let has_message = self.runs.iter().any(|r| {
                    r.error_message.is_some()
                        || r.stages.iter().flatten().any(|s| s.error.is_some())
                });
                let mut header = vec![
                    "STARTED", "SERVICE", "TRIGGER", "OUTCOME", "DURATION", "CODE", "MESSAGE",
                    "RUN",
                ];
                if !has_message {
                    header.retain(|h| *h != "MESSAGE");
                }
                let mut t = table(header.clone());
                let mut add = |mut row: Vec<String>| {
                    if !has_message {
                        row.remove(6);
                    }
                    t.add_row(row);
                };
                for r in &self.runs {
                    let outcome = match r.outcome.as_str() {
                        "success" => ui.green(&r.outcome),
                        "degraded" => ui.yellow(&r.outcome),
                        _ => ui.red(&r.outcome),
                    };
                    add(vec![
                        crate::output::local_time_short(r.started_at_ms),
                        r.service_id.clone(),
                        r.trigger.clone(),
                        outcome,
                        format_elapsed(r.duration_ms as f64 / 1000.0),
                        r.error_code.clone().unwrap_or_default(),
                        r.error_message.clone().unwrap_or_default(),
                        r.run_id.clone(),
                    ]);
                    for s in r.stages.iter().flatten() {
                        add(vec![
                            String::new(),
                            format!("  {}", s.stage),
                            String::new(),
                            if s.success { "ok" } else { "failed" }.to_string(),
                            format_elapsed(s.duration_seconds),
                            s.error_code.clone().unwrap_or_default(),
                            s.error.clone().unwrap_or_default(),
                            format!("{} items", s.items_updated),
                        ]);
                    }
                }
                t.fit(ui.width, Some("MESSAGE"), &["TRIGGER", "RUN"]);
                format!("{t}\n")
            }
        }
    }
}

pub fn outcome_name(o: OutcomeArg) -> &'static str {
    match o {
        OutcomeArg::Success => "success",
        OutcomeArg::Degraded => "degraded",
        OutcomeArg::Failed => "failed",
        OutcomeArg::Crashed => "crashed",
    }
}

pub fn trigger_name(t: TriggerArg) -> &'static str {
    match t {
        TriggerArg::Scheduled => "scheduled",
        TriggerArg::Trigger => "trigger",
        TriggerArg::Manual => "manual",
    }
}

pub fn when(flag: &str, value: Option<&str>, now_ms: i64) -> Result<Option<i64>> {
    value
        .map(|v| parse_when(v, now_ms).map_err(|e| Error::invalid_argument(format!("{flag}: {e}"))))
        .transpose()
}

pub fn run(ctx: &Context, args: &HistoryArgs) -> Result<HistoryReport> {
    let now = ctx.now_ms();
    let since_ms = when("--since", args.since.as_deref(), now)?;
    let until_ms = when("--until", args.until.as_deref(), now)?;
    let reg = crate::index::open_for_reading(ctx)?;
    let service_ids = args
        .services
        .iter()
        .map(|s| crate::service::resolve_recorded(reg, s))
        .collect::<Result<Vec<_>>>()?;
    let runs = reg.history(&HistoryQuery {
        service_ids,
        since_ms,
        until_ms,
        outcome: args.outcome.map(|o| outcome_name(o).to_string()),
        trigger: args.trigger.map(|t| trigger_name(t).to_string()),
        limit: Some(args.limit),
        with_stages: args.stages,
    })?;
    Ok(HistoryReport {
        runs,
        format: Some(args.format),
    })
}
