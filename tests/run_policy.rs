//! The scheduled run path (`run`, `trigger`) and `sync`, end to end through
//! the binary: outcomes, backoff, pauses, the circuit breaker, timeouts,
//! stale runs and locks.

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn install(env: &TestEnv, ws: &Path) -> String {
    env.install_in(ws, &["--profile", "full"])
}

fn run(env: &TestEnv, id: &str) -> Value {
    let v = env.run_service(id);
    assert_eq!(v["ok"], true, "{v}");
    v["data"].clone()
}

fn runs_jsonl(env: &TestEnv, id: &str) -> Vec<Value> {
    std::fs::read_to_string(env.service_dir(id).join("runs.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn success_then_degraded_with_items_and_history() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "w",
        &stages(&[
            stage("issues", &["ok", "5"], ""),
            stage("mrs", &["ok-data", "3"], ""),
            stage(
                "docs",
                &["ok", "12"],
                r#""optional": true, "profile": "balanced""#,
            ),
            stage(
                "embeddings",
                &["fail"],
                r#""optional": true, "profile": "full""#,
            ),
        ]),
        "",
    );
    let id = install(&env, &ws);
    let d = run(&env, &id);
    assert_eq!(d["action"], "sync_completed");
    assert_eq!(d["outcome"], "degraded");
    assert_eq!(d["trigger"], "scheduled");
    let items: Vec<i64> = d["stage_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["items_updated"].as_i64().unwrap())
        .collect();
    assert_eq!(items, [5, 3, 12, 0]);
    assert_eq!(
        d["stage_results"][3]["attempts"], 1,
        "optional stages are not retried"
    );
    assert_eq!(d["consecutive_failures"], 0);
    let st = env.json(&["status", "--service", &id])["data"].clone();
    assert_eq!(st["scheduler_state"], "degraded");
    assert_eq!(st["last_sync"]["outcome"], "degraded");
    assert_eq!(st["recent_runs"].as_array().unwrap().len(), 1);
    // The fake scheduler, like systemd for monotonic timers, gives no next
    // time: status estimates it from the last run and the interval.
    assert_eq!(st["next_run_estimated"], true, "{st}");
    assert!(st["next_run"].as_str().unwrap().starts_with("20"));
    let human = env.run(&["status", "--service", &id]).ok().stdout;
    assert!(
        human.contains("DEGRADED") && human.contains("Failed stages: embeddings"),
        "{human}"
    );
    let history = runs_jsonl(&env, &id);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["run_id"], d["run_id"]);
    assert_eq!(history[0]["stage_results"].as_array().unwrap().len(), 4);
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    assert!(
        log.contains("=== run ") && log.contains("--- stage issues (attempt 1) started"),
        "{log}"
    );
}

/// The stopped clock of the tests that assert times (`SYNCFLEET_NOW`).
const NOW_ISO: &str = "2026-01-01T00:00:00Z";
const NOW_MS: i64 = 1_767_225_600_000;

#[test]
fn transient_failure_backs_off_and_trigger_can_ignore_it() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", NOW_ISO);
    let ws = env.workspace("t", &stages(&[stage("pull", &["fail"], "")]), "");
    let id = install(&env, &ws);
    let d = run(&env, &id);
    assert_eq!(d["outcome"], "failed");
    assert_eq!(d["action"], "sync_completed");
    assert_eq!(d["consecutive_failures"], 1);
    assert_eq!(d["stage_results"][0]["attempts"], 2, "one in-run retry");
    assert_eq!(d["stage_results"][0]["error_code"], "STAGE_FAILED");
    // First failure: exactly one interval (30m default).
    assert_eq!(d["remaining_seconds"], 1800);
    assert_eq!(d["next_retry_iso"], "2026-01-01T00:30:00.000Z");
    let skipped = run(&env, &id);
    assert_eq!(skipped["action"], "skipped");
    assert_eq!(skipped["reason"], "backoff");
    assert_eq!(skipped["remaining_seconds"], 1800);
    assert_eq!(skipped["next_retry_iso"], "2026-01-01T00:30:00.000Z");
    assert_eq!(
        env.json(&["status", "--service", &id])["data"]["scheduler_state"],
        "backoff"
    );
    let trig = env.json_in(&ws, &["trigger"]);
    assert_eq!(
        trig["data"]["action"], "skipped",
        "trigger respects backoff by default"
    );
    let forced = env.json_in(&ws, &["trigger", "--ignore-backoff"]);
    assert_eq!(forced["data"]["action"], "sync_completed");
    assert_eq!(forced["data"]["trigger"], "trigger");
    assert_eq!(forced["data"]["consecutive_failures"], 2);
    assert_eq!(env.status_file(&id)["skipped"]["backoff"], 2);
    assert_eq!(runs_jsonl(&env, &id).len(), 2, "skips are not runs");
}

#[test]
fn permanent_failures_pause_immediately_and_resume_clears() {
    for (mode, code) in [("permanent", "AUTH_FAILED"), ("auth-json", "AUTH_FAILED")] {
        let env = TestEnv::new();
        let ws = env.workspace(
            "p",
            &stages(&[stage("pull", &[mode], ""), stage("after", &["ok"], "")]),
            "",
        );
        let id = install(&env, &ws);
        let d = run(&env, &id);
        assert_eq!(d["action"], "paused", "{d}");
        assert_eq!(d["reason"], code);
        assert_eq!(
            d["stage_results"][0]["attempts"], 1,
            "permanent errors are not retried"
        );
        assert_eq!(
            d["stage_results"].as_array().unwrap().len(),
            1,
            "the pipeline stops"
        );
        let again = run(&env, &id);
        assert_eq!(again["action"], "paused");
        assert!(
            again["suggestion"]
                .as_str()
                .unwrap()
                .contains("syncfleet resume")
        );
        let st = env.json(&["status", "--service", &id])["data"].clone();
        assert_eq!(st["scheduler_state"], "paused");
        assert!(
            st["paused_reason"]
                .as_str()
                .unwrap()
                .starts_with("AUTH_FAILED: "),
            "{st}"
        );
        let human = env.run(&["status", "--service", &id]).stdout;
        assert!(human.contains("PAUSED - AUTH_FAILED"), "{human}");
        // --ignore-backoff never bypasses a pause.
        assert_eq!(
            env.json_in(&ws, &["trigger", "--ignore-backoff"])["data"]["action"],
            "paused"
        );
        let res = env.json_in(&ws, &["resume"]);
        assert_eq!(res["data"]["was_paused"], true);
        assert_eq!(res["data"]["previous_kind"], "permanent");
        assert_eq!(
            env.json(&["status", "--service", &id])["data"]["scheduler_state"],
            "idle"
        );
        assert!(
            env.run_in(&ws, &["resume"])
                .ok()
                .stdout
                .contains("not paused")
        );
    }
}

#[test]
fn retry_after_hint_is_a_floor() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "r",
        &stages(&[stage("pull", &["retry-after", "7200"], "")]),
        "",
    );
    let id = install(&env, &ws);
    let d = run(&env, &id);
    assert_eq!(d["stage_results"][0]["error_code"], "RATE_LIMITED");
    assert!(d["remaining_seconds"].as_u64().unwrap() >= 7190, "{d}");
    assert_eq!(env.status_file(&id)["backoff_reason"], "server_hint");
}

#[test]
fn circuit_breaker_trips_half_opens_and_a_probe_closes_it() {
    let env = TestEnv::new();
    let ws = env.workspace("cb", &stages(&[stage("pull", &["fail"], "")]), "");
    let id = install(&env, &ws);
    // Nine failures so far, backoff expired: the tenth trips the breaker.
    let mut st = json!({"schema_version": 2, "updated_at_iso": "", "consecutive_failures": 9, "next_retry_at_ms": now_ms() - 1000});
    env.write_status(&id, &st);
    let d = run(&env, &id);
    assert_eq!(d["action"], "paused");
    assert_eq!(d["reason"], "CIRCUIT_BREAKER");
    assert_eq!(d["consecutive_failures"], 10);
    assert_eq!(run(&env, &id)["action"], "paused", "cooling down");
    let status = env.json(&["status", "--service", &id])["data"].clone();
    assert_eq!(status["scheduler_state"], "paused");
    assert!(
        status["paused_reason"]
            .as_str()
            .unwrap()
            .starts_with("CIRCUIT_BREAKER: 10 consecutive transient failures")
    );
    // Cooldown over: half-open, and a successful probe closes the breaker.
    st = env.status_file(&id);
    st["circuit_breaker_paused_at_ms"] = json!(now_ms() - 31 * 60 * 1000);
    env.write_status(&id, &st);
    assert_eq!(
        env.json(&["status", "--service", &id])["data"]["scheduler_state"],
        "half_open"
    );
    std::fs::write(
        ws.join("syncfleet.json"),
        format!(
            r#"{{"projects": ["https://gitlab.example.com/cb"], "stages": [{}]}}"#,
            stage("pull", &["ok", "1"], "")
        ),
    )
    .unwrap();
    let probe = run(&env, &id);
    assert_eq!(probe["probe"], true);
    assert_eq!(probe["outcome"], "success");
    assert_eq!(probe["consecutive_failures"], 0);
    assert_eq!(
        env.json(&["status", "--service", &id])["data"]["scheduler_state"],
        "idle"
    );
}

#[test]
fn failed_probe_re_pauses() {
    let env = TestEnv::new();
    let ws = env.workspace("cb2", &stages(&[stage("pull", &["fail"], "")]), "");
    let id = install(&env, &ws);
    let paused_at = now_ms() - 31 * 60 * 1000;
    env.write_status(&id, &json!({
        "schema_version": 2, "updated_at_iso": "", "consecutive_failures": 10,
        "paused_reason": "CIRCUIT_BREAKER: 10 consecutive transient failures (last: STAGE_FAILED: x)",
        "pause_kind": "circuit_breaker", "circuit_breaker_paused_at_ms": paused_at
    }));
    let d = run(&env, &id);
    assert_eq!(d["probe"], true);
    assert_eq!(d["action"], "paused");
    assert!(
        env.status_file(&id)["circuit_breaker_paused_at_ms"]
            .as_i64()
            .unwrap()
            > paused_at
    );
}

#[test]
fn timeout_kills_the_stage_and_is_transient() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "to",
        &stages(&[stage("slow", &["hang", "30"], r#""timeout": "300ms""#)]),
        "",
    );
    let id = install(&env, &ws);
    let started = Instant::now();
    let d = run(&env, &id);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(d["stage_results"][0]["error_code"], "TIMEOUT");
    assert_eq!(d["action"], "sync_completed");
    assert_eq!(d["consecutive_failures"], 1);
}

#[test]
fn run_for_an_unknown_service_still_exits_zero_with_one_json_document() {
    let env = TestEnv::new();
    let r = env.run(&["run", "--service-id", "nope"]);
    assert_eq!(r.code, 0);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "SERVICE_NOT_FOUND");
    let r = env.run(&["run", "--service-id", "../../etc"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["error"]["code"], "INVALID_ARGUMENT");
}

#[test]
fn broken_config_or_missing_token_at_run_time_pause_with_the_reason() {
    let mut env = TestEnv::new();
    env.set_env("MYTOK", "secret-1");
    let ws = env.workspace(
        "cfg",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "MYTOK""#,
    );
    let id = install(&env, &ws);
    // The scheduler's environment has no token: it comes from the env file.
    env.extra_env.retain(|(k, _)| k != "MYTOK");
    assert_eq!(run(&env, &id)["outcome"], "success");
    std::fs::remove_file(env.service_dir(&id).join("env")).unwrap();
    let d = run(&env, &id);
    assert_eq!(d["action"], "paused");
    assert_eq!(d["reason"], "TOKEN_NOT_SET");
    env.json_in(&ws, &["resume"]);
    std::fs::write(ws.join("syncfleet.json"), "{broken").unwrap();
    let d = run(&env, &id);
    assert_eq!(d["reason"], "CONFIG_INVALID", "{d}");
}

#[test]
fn a_run_killed_with_sigkill_reads_as_stale_and_the_next_run_proceeds() {
    let env = TestEnv::new();
    let pidfile: PathBuf = env.path("stage.pid");
    let ws = env.workspace(
        "kill",
        &stages(&[stage(
            "slow",
            &["hang", "60", pidfile.to_str().unwrap()],
            "",
        )]),
        "",
    );
    let id = install(&env, &ws);
    let mut child = env
        .command(env.dir.path(), &["run", "--service-id", &id])
        .spawn()
        .unwrap();
    let stage_pid = pid_from_file(&pidfile);
    let st = env.json(&["status", "--service", &id])["data"].clone();
    assert_eq!(st["scheduler_state"], "running", "{st}");
    // The pipeline lock is held: a concurrent sync fails clearly.
    let sync = env.run_in(&ws, &["-J", "sync"]);
    assert_eq!(sync.code, 9, "{}", sync.stdout);
    assert_eq!(sync.json()["error"]["code"], "LOCKED");
    let concurrent = env.json_in(&ws, &["trigger"]);
    assert_eq!(concurrent["data"]["action"], "skipped");
    assert_eq!(concurrent["data"]["reason"], "locked");

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The orphaned stage dies with its runner (parent-death signal).
    assert!(
        wait_until_gone(stage_pid, Duration::from_secs(20)),
        "the stage {stage_pid} outlived its runner"
    );
    let st = env.json(&["status", "--service", &id])["data"].clone();
    assert_eq!(st["scheduler_state"], "running_stale", "{st}");
    assert_eq!(st["current_run"]["stale"], true);

    std::fs::write(
        ws.join("syncfleet.json"),
        format!(
            r#"{{"projects": ["https://gitlab.example.com/kill"], "stages": [{}]}}"#,
            stage("fast", &["ok", "2"], "")
        ),
    )
    .unwrap();
    let next = run(&env, &id);
    assert_eq!(next["outcome"], "success");
    assert_eq!(next["previous_run_stale"]["pid"], st["current_run"]["pid"]);
    assert_eq!(
        env.json(&["status", "--service", &id])["data"]["scheduler_state"],
        "idle"
    );
}

#[test]
fn manual_sync_ignores_policy_state_but_records_history() {
    let env = TestEnv::new();
    let ws = env.workspace("man", &stages(&[stage("pull", &["ok", "4"], "")]), "");
    let id = install(&env, &ws);
    env.write_status(&id, &json!({"schema_version": 2, "updated_at_iso": "", "consecutive_failures": 5, "next_retry_at_ms": now_ms() + 999_999_999, "paused_reason": "x", "pause_kind": "manual"}));
    let before = std::fs::read_to_string(env.service_dir(&id).join("status.json")).unwrap();
    let d = env.json_in(&ws, &["sync"]);
    assert_eq!(d["data"]["outcome"], "success");
    assert_eq!(d["data"]["trigger"], "manual");
    assert_eq!(
        std::fs::read_to_string(env.service_dir(&id).join("status.json")).unwrap(),
        before,
        "sync never writes status"
    );
    assert_eq!(runs_jsonl(&env, &id)[0]["trigger"], "manual");
    // A failing manual sync exits non-zero (a person is watching).
    std::fs::write(
        ws.join("syncfleet.json"),
        format!(r#"{{"stages": [{}]}}"#, stage("pull", &["permanent"], "")),
    )
    .unwrap();
    assert_eq!(env.run_in(&ws, &["sync"]).code, 11);
}

#[test]
fn the_token_never_leaks_into_output_logs_or_state() {
    let mut env = TestEnv::new();
    let secret = "tok-SUPER-SECRET-4711";
    env.set_env("LEAKY", secret);
    let expected = env.path("expected-token");
    std::fs::write(&expected, secret).unwrap();
    let ws = env.workspace(
        "leak",
        &stages(&[
            stage(
                "check",
                &["check-token", "LEAKY", expected.to_str().unwrap()],
                "",
            ),
            stage("echo", &["echo-token", "LEAKY"], r#""optional": true"#),
            stage("bad", &["auth-json"], r#""optional": true"#),
        ]),
        r#""token_env_var": "LEAKY""#,
    );
    let mut outputs = Vec::new();
    for args in [
        vec!["install"],
        vec!["-J", "install", "--dry-run"],
        vec!["trigger"],
        vec!["-J", "trigger"],
        vec!["status"],
        vec!["-J", "status"],
        vec!["logs"],
        vec!["-J", "logs", "--tail", "50"],
        vec!["doctor"],
        vec!["sync"],
        vec!["-v", "trigger"],
    ] {
        let r = env.run_in(&ws, &args);
        outputs.push(format!("{args:?}\n{}\n{}", r.stdout, r.stderr));
    }
    for o in &outputs {
        assert!(!o.contains(secret), "token leaked in output of {o}");
    }
    let id = env.json_in(&ws, &["status"])["data"]["service_id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = env.json_in(&ws, &["trigger"]);
    assert_eq!(
        d["data"]["stage_results"][0]["success"], true,
        "the stage got the exact token: {d}"
    );
    for (path, bytes) in env.all_files() {
        if path == env.service_dir(&id).join("env") || path == expected {
            continue;
        }
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "token leaked into {}",
            path.display()
        );
    }
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    assert!(log.contains("token is [REDACTED]"), "{log}");
}

#[test]
fn scheduled_runs_find_programs_on_the_installers_path() {
    let mut env = TestEnv::new();
    let tools = env.path("my-tools");
    std::fs::create_dir_all(&tools).unwrap();
    let tool = tools.join("mytool");
    std::fs::write(&tool, "#!/bin/sh\necho '{\"items_updated\": 7}'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ws = env.workspace("p", r#"[{"name": "pull", "command": ["mytool"]}]"#, "");
    // The person installing has ~/my-tools on PATH...
    let default_path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        repo().join("tests/fake-bin").display()
    );
    env.set_env("PATH", &format!("{}:{default_path}", tools.display()));
    let id = install(&env, &ws);
    // ...the scheduler does not.
    env.set_env("PATH", "/usr/bin:/bin");
    let d = run(&env, &id);
    assert_eq!(d["outcome"], "success", "{d}");
    assert_eq!(d["stage_results"][0]["items_updated"], 7);
}

#[test]
fn every_time_a_run_records_comes_from_the_clock() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", NOW_ISO);
    let ws = env.workspace(
        "clock",
        &stages(&[stage("pull", &["fail"], "")]),
        r#""hooks": {"failure": ["true"]}"#,
    );
    let id = install(&env, &ws);
    let d = run(&env, &id);
    assert_eq!(d["outcome"], "failed");
    assert!(
        d["run_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{NOW_MS:013x}-")),
        "{d}"
    );
    let history = runs_jsonl(&env, &id);
    assert_eq!(history[0]["timestamp_ms"], NOW_MS);
    assert_eq!(history[0]["timestamp_iso"], "2026-01-01T00:00:00.000Z");
    let status = env.status_file(&id);
    assert_eq!(status["updated_at_iso"], "2026-01-01T00:00:00.000Z");
    assert_eq!(status["next_retry_at_ms"], NOW_MS + 1_800_000);

    // Run, stage, retry and hook lines of the service log: all stamped now.
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    let stamped: Vec<&str> = log.lines().filter(|l| !l.starts_with('[')).collect();
    for needle in [
        "=== run ",
        "--- stage pull (attempt 1) started",
        "retrying once",
        "--- stage pull (attempt 2) failed",
        "hook failure (true) succeeded",
    ] {
        assert!(
            stamped.iter().any(|l| l.contains(needle)),
            "no {needle:?} line in {log}"
        );
    }
    for line in &stamped {
        assert!(
            line.starts_with("2026-01-01T00:00:00.000Z "),
            "not stamped by the clock: {line}"
        );
    }

    // The pipeline lock's holder note.
    let locks: Vec<String> = std::fs::read_dir(env.data_dir().join("locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("pipeline-"))
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    let note = std::fs::read_to_string(env.data_dir().join("locks").join(&locks[0])).unwrap();
    assert!(note.contains("started_at=2026-01-01T00:00:00Z"), "{note}");
}
