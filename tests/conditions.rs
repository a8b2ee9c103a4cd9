//! `conditions` in syncfleet.json, end to end through the binary: each
//! condition met and unmet (a fake power-supply directory, a listening and
//! a closed port on 127.0.0.1, quiet hours across midnight on a stopped
//! clock), skips that never count as failures, `trigger
//! --ignore-conditions`, and what status and report show.

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A service whose workspace has `conditions` (JSON) and one core stage
/// (`mode`: ok or fail), on a clock stopped at `now` in UTC.
fn service(env: &mut TestEnv, name: &str, mode: &str, conditions: &str) -> (PathBuf, String) {
    env.set_env("TZ", "UTC");
    let ws = env.workspace(
        name,
        &stages(&[stage("pull", &[mode], "")]),
        &format!(r#""conditions": {conditions}"#),
    );
    let id = env.install_in(&ws, &[]);
    (ws, id)
}

fn run(env: &TestEnv, id: &str) -> Value {
    let v = env.run_service(id);
    assert_eq!(v["ok"], true, "{v}");
    v["data"].clone()
}

fn runs_recorded(env: &TestEnv, id: &str) -> usize {
    std::fs::read_to_string(env.service_dir(id).join("runs.jsonl"))
        .unwrap_or_default()
        .lines()
        .count()
}

fn power_supply(dir: &Path, name: &str, attrs: &[(&str, &str)]) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (k, v) in attrs {
        std::fs::write(d.join(k), format!("{v}\n")).unwrap();
    }
}

#[test]
fn quiet_hours_across_midnight_skip_scheduled_runs_with_their_reason() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:30:00Z");
    let (_, id) = service(&mut env, "q", "ok", r#"{"quiet_hours": ["22:00-07:00"]}"#);
    let skipped = run(&env, &id);
    assert_eq!(
        skipped,
        json!({
            "service_id": id,
            "action": "skipped",
            "trigger": "scheduled",
            "reason": "condition:quiet_hours",
            "message": "23:30 (local time, UTC+00:00) is within quiet hours 22:00-07:00",
            "suggestion": "Run now anyway: syncfleet trigger --ignore-conditions",
            "consecutive_failures": 0
        }),
        "the robot shape of a condition skip"
    );
    // After midnight, still inside the range.
    env.set_env("SYNCFLEET_NOW", "2026-01-02T06:59:00Z");
    assert_eq!(run(&env, &id)["reason"], "condition:quiet_hours");
    // Its end is excluded: at 07:00 the run goes ahead.
    env.set_env("SYNCFLEET_NOW", "2026-01-02T07:00:00Z");
    let ran = run(&env, &id);
    assert_eq!(ran["action"], "sync_completed", "{ran}");
    assert_eq!(ran["outcome"], "success");
    assert_eq!(runs_recorded(&env, &id), 1, "skips are not runs");
    let skipped = &env.status_file(&id)["skipped"];
    assert_eq!(
        skipped["condition"],
        json!({"on_ac_power": 0, "reachable": 0, "quiet_hours": 2})
    );
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    assert!(
        log.contains("2026-01-01T23:30:00.000Z run skipped (condition:quiet_hours): 23:30 (local time, UTC+00:00) is within quiet hours 22:00-07:00"),
        "{log}"
    );
}

#[test]
fn quiet_hours_are_read_in_the_calendar_zone_of_the_service() {
    let mut env = TestEnv::new();
    env.set_env("TZ", "UTC");
    // 23:30 UTC is 18:30 in New York: outside 22:00-07:00 there, inside in UTC.
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:30:00Z");
    let ws = env.workspace(
        "z",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""conditions": {"quiet_hours": ["22:00-07:00"]}"#,
    );
    let id = env.install_in(&ws, &["--at", "daily", "--timezone", "America/New_York"]);
    let ran = run(&env, &id);
    assert_eq!(ran["action"], "sync_completed", "{ran}");
    // 03:30 UTC is 22:30 the evening before in New York: quiet there.
    env.set_env("SYNCFLEET_NOW", "2026-01-02T03:30:00Z");
    let skipped = run(&env, &id);
    assert_eq!(skipped["reason"], "condition:quiet_hours", "{skipped}");
    assert!(
        skipped["message"].as_str().unwrap().starts_with("22:30"),
        "{skipped}"
    );
}

#[test]
fn on_ac_power_reads_the_power_supply_directory() {
    let mut env = TestEnv::new();
    let supplies = env.path("power_supply");
    env.set_env("SYNCFLEET_POWER_SUPPLY_DIR", supplies.to_str().unwrap());
    let (_, id) = service(&mut env, "p", "ok", r#"{"on_ac_power": true}"#);
    // No power supply at all: a desktop or a server, on AC.
    assert_eq!(run(&env, &id)["outcome"], "success");
    power_supply(&supplies, "AC", &[("type", "Mains"), ("online", "0")]);
    power_supply(
        &supplies,
        "BAT0",
        &[("type", "Battery"), ("status", "Discharging")],
    );
    let skipped = run(&env, &id);
    assert_eq!(skipped["action"], "skipped");
    assert_eq!(skipped["reason"], "condition:on_ac_power");
    assert_eq!(skipped["message"], "on battery (BAT0 is discharging)");
    power_supply(&supplies, "AC", &[("online", "1")]);
    power_supply(&supplies, "BAT0", &[("status", "Charging")]);
    assert_eq!(run(&env, &id)["outcome"], "success");
    assert_eq!(
        env.status_file(&id)["skipped"]["condition"]["on_ac_power"],
        1
    );
    assert_eq!(runs_recorded(&env, &id), 2);
}

#[test]
fn reachable_needs_every_endpoint_to_accept_a_connection() {
    let mut env = TestEnv::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (ws, id) = service(
        &mut env,
        "r",
        "ok",
        &format!(r#"{{"reachable": ["{open}"]}}"#),
    );
    assert_eq!(run(&env, &id)["outcome"], "success");
    let config = ws.join("syncfleet.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            &format!(r#"["{open}"]"#),
            &format!(r#"["{open}", "{closed}"]"#),
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let skipped = run(&env, &id);
    eprintln!(
        "a run skipped for a closed endpoint took {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(skipped["reason"], "condition:reachable", "{skipped}");
    let message = skipped["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{closed} is not reachable: ")) && !message.contains(&open),
        "{message}"
    );
    drop(listener);
}

#[test]
fn a_condition_skip_is_never_a_failure_streak_backoff_and_breaker_stay() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", "2026-01-01T12:00:00Z");
    let (_, id) = service(&mut env, "f", "fail", r#"{"quiet_hours": ["22:00-07:00"]}"#);
    let failed = run(&env, &id);
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["consecutive_failures"], 1);
    // Past the backoff (30 min), inside quiet hours: a condition skip.
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:00:00Z");
    let before = env.status_file(&id);
    for _ in 0..3 {
        assert_eq!(run(&env, &id)["reason"], "condition:quiet_hours");
    }
    let after = env.status_file(&id);
    for key in [
        "consecutive_failures",
        "next_retry_at_ms",
        "last_run",
        "recent_runs",
        "last_error_code",
    ] {
        assert_eq!(after[key], before[key], "{key} is untouched by skips");
    }
    assert_eq!(after["skipped"]["condition"]["quiet_hours"], 3);
    // One failure short of the breaker: skips never trip it.
    let mut near_breaker = after.clone();
    near_breaker["consecutive_failures"] = json!(9);
    env.write_status(&id, &near_breaker);
    for _ in 0..5 {
        assert_eq!(run(&env, &id)["reason"], "condition:quiet_hours");
    }
    let s = env.status_file(&id);
    assert_eq!(s["consecutive_failures"], 9);
    assert!(s.get("paused_reason").is_none(), "{s}");
    // An open breaker whose cooldown is over: the probe waits for the
    // condition, and the breaker keeps its pause time.
    let mut open = s.clone();
    open["paused_reason"] = json!("CIRCUIT_BREAKER: 10 consecutive transient failures");
    open["pause_kind"] = json!("circuit_breaker");
    open["circuit_breaker_paused_at_ms"] = json!(1_767_225_600_000_i64);
    open["consecutive_failures"] = json!(10);
    env.write_status(&id, &open);
    assert_eq!(run(&env, &id)["reason"], "condition:quiet_hours");
    let s = env.status_file(&id);
    assert_eq!(s["circuit_breaker_paused_at_ms"], 1_767_225_600_000_i64);
    assert_eq!(s["consecutive_failures"], 10);
    assert_eq!(s["skipped"]["condition"]["quiet_hours"], 9);
    assert_eq!(runs_recorded(&env, &id), 1);
    // The report's rates count the one run only; the skips are listed.
    // (Its window ends before now: look a minute later.)
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:01:00Z");
    let report = env.json(&["report", "--since", "30d"])["data"].clone();
    let svc = &report["services"][0];
    assert_eq!(svc["runs"], 1);
    assert_eq!(svc["failure_rate"], 1.0);
    assert_eq!(svc["longest_failure_streak"], 1);
    assert_eq!(svc["skipped"]["condition:quiet_hours"], 9, "{svc}");
    assert_eq!(report["fleet"]["skipped"]["condition:quiet_hours"], 9);
}

#[test]
fn a_paused_service_says_paused_before_any_condition() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:00:00Z");
    let (ws, id) = service(&mut env, "pz", "ok", r#"{"quiet_hours": ["22:00-07:00"]}"#);
    assert_eq!(env.json_in(&ws, &["pause"])["ok"], true);
    let d = run(&env, &id);
    assert_eq!(d["action"], "paused", "{d}");
    let s = env.status_file(&id);
    assert_eq!(s["skipped"]["paused"], 1);
    assert_eq!(s["skipped"]["condition"]["quiet_hours"], 0);
}

#[test]
fn trigger_names_the_blocking_condition_and_can_ignore_it_sync_never_checks() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:00:00Z");
    let (ws, id) = service(&mut env, "t", "ok", r#"{"quiet_hours": ["22:00-07:00"]}"#);
    let human = env.run_in(&ws, &["trigger"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    insta::assert_snapshot!("trigger_condition", human.stdout.replace(&id, "[ID]"));
    let forced = env.json_in(&ws, &["trigger", "--ignore-conditions"]);
    assert_eq!(forced["data"]["action"], "sync_completed", "{forced}");
    assert_eq!(forced["data"]["trigger"], "trigger");
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    assert!(
        log.contains("conditions not checked (trigger --ignore-conditions)"),
        "the bypass is in the service log: {log}"
    );
    let sync = env.json_in(&ws, &["sync"]);
    assert_eq!(sync["data"]["outcome"], "success", "{sync}");
    assert_eq!(runs_recorded(&env, &id), 2);
    let s = env.status_file(&id);
    assert_eq!(s["skipped"]["condition"]["quiet_hours"], 1);
    // status shows the count by reason, robot and human.
    let st = env.json_in(&ws, &["status"])["data"].clone();
    assert_eq!(st["skipped"]["condition"]["quiet_hours"], 1, "{st}");
    let text = env.run_in(&ws, &["status"]).ok().stdout;
    assert!(
        text.contains("Skipped:") && text.contains("condition:quiet_hours 1 (never failures)"),
        "{text}"
    );
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:01:00Z");
    let report = env.run_in(&ws, &["report", "--since", "30d"]).ok().stdout;
    assert!(
        report.contains("skipped (never failures): condition:quiet_hours 1"),
        "{report}"
    );
}

#[test]
fn bad_conditions_are_refused_at_install_with_the_key() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "bad",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""conditions": {"quiet_hours": ["22-07"]}"#,
    );
    let r = env.run_in(&ws, &["-J", "install"]);
    let e = error_of(&r, 4, "CONFIG_INVALID");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("`conditions.quiet_hours[0]` '22-07' has a time that is not HH:MM"),
        "{message}"
    );
}
