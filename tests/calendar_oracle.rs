//! The calendar engine against systemd itself. `fixtures/calendar/corpus.json`
//! holds expressions with base times on both sides of the daylight-saving
//! changes of Europe/Berlin, America/New_York and Australia/Sydney (times
//! that do not exist and times that occur twice included), and what
//! `systemd-analyze calendar` (systemd 252) answered for each. Every run
//! compares `syncfleet --robot calendar` with that record; where
//! `systemd-analyze` is installed, it is also asked live, once per case.
//! `SYNCFLEET_BLESS=1` re-records the answers from the live tool.
mod common;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn corpus_path() -> PathBuf {
    common::repo().join("fixtures/calendar/corpus.json")
}

fn load_corpus() -> Value {
    let text = std::fs::read_to_string(corpus_path()).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// The normalized form and the elapses in UTC, to the second (the
    /// precision systemd-analyze prints).
    Elapses(String, Vec<String>),
    Refused,
}

impl Answer {
    fn to_json(&self) -> Value {
        match self {
            Answer::Elapses(normalized, elapses) => {
                json!({"normalized": normalized, "next_elapse_utc": elapses})
            }
            Answer::Refused => json!({"error": true}),
        }
    }

    fn recorded(case: &Value) -> Option<Answer> {
        if case.get("error").and_then(Value::as_bool) == Some(true) {
            return Some(Answer::Refused);
        }
        let normalized = case.get("normalized")?.as_str()?.to_string();
        let elapses = case["next_elapse_utc"]
            .as_array()?
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        Some(Answer::Elapses(normalized, elapses))
    }
}

fn input(case: &Value) -> (&str, &str, &str, u64) {
    (
        case["spec"].as_str().unwrap(),
        case["tz"].as_str().unwrap(),
        case["base"].as_str().unwrap(),
        case["iterations"].as_u64().unwrap(),
    )
}

fn utc_second(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn syncfleet_answer(env: &common::TestEnv, case: &Value) -> Answer {
    let (spec, tz, base, iterations) = input(case);
    let mut cmd = env.command(env.dir.path(), &["-J", "calendar", "--base-time", base]);
    cmd.args(["--iterations", &iterations.to_string(), "--", spec])
        .env("TZ", tz);
    let out = cmd.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{spec}: not JSON ({e}): {out:?}"));
    if doc["ok"] == false {
        assert_eq!(doc["error"]["code"], "CALENDAR_INVALID", "{spec}: {doc}");
        assert_eq!(out.status.code(), Some(25), "{spec}");
        return Answer::Refused;
    }
    let data = &doc["data"];
    let elapses = data["next_elapse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let t = DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
            utc_second(t.to_utc())
        })
        .collect();
    Answer::Elapses(data["normalized"].as_str().unwrap().to_string(), elapses)
}

/// Ask systemd-analyze, in the case's TZ, and read its lines: the
/// normalized form, then per elapse the "(in UTC)" line, or the elapse
/// line itself when the local zone is UTC.
fn systemd_answer(case: &Value) -> Answer {
    let (spec, tz, base, iterations) = input(case);
    let out = Command::new("systemd-analyze")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TZ", tz)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "cat")
        .arg("calendar")
        .arg(format!("--base-time={base}"))
        .arg(format!("--iterations={iterations}"))
        .arg("--")
        .arg(spec)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Failed to parse calendar specification"),
            "{spec}: systemd-analyze failed otherwise: {stderr}"
        );
        return Answer::Refused;
    }
    let mut normalized = None;
    let mut elapses: Vec<String> = Vec::new();
    let mut pending: Option<String> = None;
    let parse = |text: &str| {
        let t = text.trim();
        let (stamp, zone) = t.rsplit_once(' ').unwrap();
        (
            NaiveDateTime::parse_from_str(stamp, "%a %Y-%m-%d %H:%M:%S")
                .unwrap_or_else(|e| panic!("{spec}: cannot read '{t}': {e}")),
            zone.to_string(),
        )
    };
    for line in stdout.lines() {
        let Some((label, value)) = line.split_once(": ") else {
            continue;
        };
        match label.trim() {
            "Normalized form" => normalized = Some(value.to_string()),
            "Next elapse" if value == "never" => {}
            l if l == "Next elapse" || l.starts_with("Iter. #") => {
                if let Some(p) = pending.take() {
                    elapses.push(p);
                }
                let (t, zone) = parse(value);
                // Only taken as is when the local zone is UTC; otherwise
                // the "(in UTC)" line that follows replaces it.
                pending = Some(if zone == "UTC" {
                    format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S"))
                } else {
                    format!("local {value}")
                });
            }
            "(in UTC)" => {
                let (t, zone) = parse(value);
                assert_eq!(zone, "UTC", "{spec}: {line}");
                pending = Some(format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S")));
            }
            _ => {}
        }
    }
    if let Some(p) = pending.take() {
        elapses.push(p);
    }
    assert!(
        elapses.iter().all(|e| !e.starts_with("local ")),
        "{spec}: an elapse without its UTC time: {stdout}"
    );
    Answer::Elapses(
        normalized.unwrap_or_else(|| panic!("{spec}: no normalized form in {stdout}")),
        elapses,
    )
}

/// Run `answer` over every case, two at a time (the machines have few
/// cores), keeping the corpus order.
fn answers<F: Fn(&Value) -> Answer + Sync>(cases: &[Value], answer: F) -> Vec<Answer> {
    let half = cases.len().div_ceil(2);
    std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(half.max(1))
            .map(|chunk| s.spawn(|| chunk.iter().map(&answer).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn describe(case: &Value) -> String {
    let (spec, tz, base, n) = input(case);
    format!("'{spec}' TZ={tz} --base-time='{base}' --iterations={n}")
}

fn mismatches(
    cases: &[Value],
    left: &[Answer],
    right: &[Answer],
    names: (&str, &str),
) -> Vec<String> {
    cases
        .iter()
        .zip(left.iter().zip(right))
        .filter(|(_, (l, r))| l != r)
        .map(|(case, (l, r))| {
            format!(
                "{}\n  {}: {:?}\n  {}: {:?}",
                describe(case),
                names.0,
                l,
                names.1,
                r
            )
        })
        .collect()
}

#[test]
fn corpus_is_large_and_covers_dst_changes() {
    let corpus = load_corpus();
    let cases = corpus["cases"].as_array().unwrap();
    let specs: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c["spec"].as_str().unwrap()).collect();
    assert!(specs.len() >= 40, "{} expressions", specs.len());
    for zone in ["Europe/Berlin", "America/New_York", "Australia/Sydney"] {
        let in_zone = cases
            .iter()
            .filter(|c| c["tz"] == zone || c["spec"].as_str().unwrap().ends_with(zone))
            .count();
        assert!(in_zone >= 20, "{zone}: {in_zone} cases");
    }
    let recorded = cases
        .iter()
        .filter(|c| Answer::recorded(c).is_some())
        .count();
    assert_eq!(
        recorded,
        cases.len(),
        "cases without a recorded answer: re-record with SYNCFLEET_BLESS=1"
    );
}

#[test]
fn syncfleet_matches_the_recorded_systemd_answers() {
    let corpus = load_corpus();
    let cases = corpus["cases"].as_array().unwrap();
    let env = common::TestEnv::new();
    let ours = answers(cases, |c| syncfleet_answer(&env, c));
    let recorded: Vec<Answer> = cases
        .iter()
        .map(|c| Answer::recorded(c).unwrap_or(Answer::Refused))
        .collect();
    let bad = mismatches(cases, &ours, &recorded, ("syncfleet", "recorded"));
    println!(
        "calendar corpus: {} cases, {} agree with the recorded systemd answers",
        cases.len(),
        cases.len() - bad.len()
    );
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn syncfleet_matches_live_systemd_analyze() {
    if !common::tool_available("systemd-analyze", "the calendar oracle") {
        return;
    }
    let mut corpus = load_corpus();
    let cases = corpus["cases"].as_array().unwrap().clone();
    let started = std::time::Instant::now();
    let live = answers(&cases, systemd_answer);
    let systemd_time = started.elapsed();
    if std::env::var("SYNCFLEET_BLESS").as_deref() == Ok("1") {
        let recorded: Vec<Value> = cases
            .iter()
            .zip(&live)
            .map(|(case, answer)| {
                let mut entry = json!({
                    "spec": case["spec"], "tz": case["tz"],
                    "base": case["base"], "iterations": case["iterations"],
                });
                for (k, v) in answer.to_json().as_object().unwrap() {
                    entry[k] = v.clone();
                }
                entry
            })
            .collect();
        corpus["cases"] = Value::Array(recorded);
        std::fs::write(
            corpus_path(),
            serde_json::to_string_pretty(&corpus).unwrap() + "\n",
        )
        .unwrap();
    }
    let env = common::TestEnv::new();
    let ours = answers(&cases, |c| syncfleet_answer(&env, c));
    let bad = mismatches(&cases, &ours, &live, ("syncfleet", "systemd-analyze"));
    let elapses: usize = live
        .iter()
        .map(|a| match a {
            Answer::Elapses(_, e) => e.len(),
            Answer::Refused => 0,
        })
        .sum();
    println!(
        "calendar oracle: {} cases, {} elapses compared, {} mismatches; systemd-analyze took {:?}",
        cases.len(),
        elapses,
        bad.len(),
        systemd_time
    );
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
