//! pause / resume / repair / logs / doctor / list, service selection and
//! config errors.

mod common;
use common::*;
use serde_json::json;

#[test]
fn pause_resume_cycle_without_touching_the_scheduler() {
    let env = TestEnv::new();
    let ws = env.workspace("p", &stages(&[stage("pull", &["ok"], "")]), "");
    let id = env.install_in(&ws, &[]);
    let calls = env.systemctl_calls().len();
    let p = env.json_in(&ws, &["pause", "--reason", "GitLab maintenance window"]);
    assert_eq!(
        p["data"],
        json!({"service_id": id, "paused": true, "reason": "GitLab maintenance window", "already_paused": false, "reason_updated": false})
    );
    let p2 = env.json_in(&ws, &["pause", "--reason", "longer"]);
    assert_eq!(p2["data"]["already_paused"], true);
    let st = env.json_in(&ws, &["status"])["data"].clone();
    assert_eq!(st["scheduler_state"], "paused");
    assert_eq!(st["paused_reason"], "longer");
    assert_eq!(st["paused_kind"], "manual");
    let r = env.json(&["run", "--service-id", &id]);
    assert_eq!(r["data"]["action"], "paused");
    assert_eq!(r["data"]["reason"], "MANUAL");
    assert_eq!(env.status_file(&id)["skipped"]["paused"], 1);
    assert!(
        env.systemctl_calls()[calls..]
            .iter()
            .all(|c| c.starts_with("--user show")),
        "pause never touches the scheduler"
    );
    let res = env.json_in(&ws, &["resume"]);
    assert_eq!(res["data"]["was_paused"], true);
    assert_eq!(res["data"]["previous_reason"], "longer");
    assert_eq!(
        env.json(&["run", "--service-id", &id])["data"]["action"],
        "sync_completed"
    );
    let human = env.run_in(&ws, &["pause"]).ok().stdout;
    assert!(
        human.contains("Manually paused") && human.contains("syncfleet resume"),
        "{human}"
    );
}

#[test]
fn pause_and_trigger_need_an_installed_service() {
    let env = TestEnv::new();
    let ws = env.workspace("n", &stages(&[stage("pull", &["ok"], "")]), "");
    let r = env.run_in(&ws, &["-J", "pause"]);
    assert_eq!(r.code, 6);
    assert_eq!(r.json()["error"]["code"], "SERVICE_NOT_FOUND");
    let r = env.run_in(&ws, &["trigger"]);
    assert_eq!(r.code, 6);
    assert!(r.stderr.contains("syncfleet install"), "{}", r.stderr);
    let r = env.json_in(&ws, &["resume"]);
    assert_eq!(r["data"]["installed"], false);
}

#[test]
fn repair_backs_up_corrupt_files_and_never_deletes() {
    let env = TestEnv::new();
    let ws = env.workspace("rep", &stages(&[stage("pull", &["ok"], "")]), "");
    let id = env.install_in(&ws, &[]);
    assert_eq!(env.json_in(&ws, &["repair"])["data"]["repaired"], false);
    let status = env.service_dir(&id).join("status.json");
    std::fs::write(&status, "{{{").unwrap();
    // status reports the corruption but still answers (exit 0).
    let st = env.run_in(&ws, &["-J", "status"]).ok().json();
    assert!(
        st["data"]["status_error"]
            .as_str()
            .unwrap()
            .contains("corrupt")
    );
    // pause refuses and points at repair.
    let r = env.run_in(&ws, &["-J", "pause"]);
    let e = error_of(&r, 23, "SERVICE_CORRUPT_STATE");
    assert!(
        e["suggestion"].to_string().contains("syncfleet repair"),
        "{e}"
    );
    let rep = env.json_in(&ws, &["repair"])["data"].clone();
    assert_eq!(rep["repaired"], true);
    assert_eq!(rep["needs_reinstall"], false);
    assert_eq!(rep["actions"][0]["action"], "reinitialized");
    let backup = rep["actions"][0]["backup"].as_str().unwrap();
    assert!(backup.contains("status.json.corrupt."));
    assert_eq!(std::fs::read_to_string(backup).unwrap(), "{{{");
    assert_eq!(env.status_file(&id)["schema_version"], 2);

    // A corrupt manifest: backed up, reinstall advised; by id it still resolves.
    std::fs::write(env.service_dir(&id).join("manifest.json"), "nope").unwrap();
    let rep = env.json(&["repair", "--service", &id])["data"].clone();
    assert_eq!(rep["needs_reinstall"], true);
    assert!(env.run_in(&ws, &["install"]).code == 0);
}

#[test]
fn newer_schema_is_refused_with_an_upgrade_hint() {
    let env = TestEnv::new();
    let ws = env.workspace("fut", &stages(&[stage("pull", &["ok"], "")]), "");
    let id = env.install_in(&ws, &[]);
    env.write_status(&id, &json!({"schema_version": 99, "updated_at_iso": ""}));
    // A newer file is not corrupt: repair says the same as resume, and
    // touches nothing.
    for command in ["resume", "repair"] {
        let r = env.run_in(&ws, &["-J", command]);
        let e = error_of(&r, 23, "SERVICE_CORRUPT_STATE");
        let upgrade = e["suggestion"].to_string().contains("upgrade syncfleet");
        assert!(upgrade, "{command}: {e}");
    }
    assert_eq!(env.status_file(&id)["schema_version"], 99);
}

#[test]
fn v1_status_files_from_the_plan_are_migrated() {
    let env = TestEnv::new();
    let ws = env.workspace("v1", &stages(&[stage("pull", &["ok"], "")]), "");
    let id = env.install_in(&ws, &[]);
    env.write_status(&id, &json!({
        "schema_version": 1, "updated_at_iso": "2026-02-09T10:00:00Z",
        "last_run": {"timestamp_iso":"2026-02-09T10:00:00Z","timestamp_ms":0,"duration_seconds":1.0,"outcome":"failed","stage_results":[],"error_message":"401 Unauthorized"},
        "recent_runs": [], "consecutive_failures": 1, "next_retry_at_ms": null,
        "paused_reason": "AUTH_FAILED: 401 Unauthorized", "last_error_code": "AUTH_FAILED",
        "last_error_message": "401 Unauthorized", "circuit_breaker_paused_at_ms": null
    }));
    assert_eq!(
        env.json(&["run", "--service-id", &id])["data"]["action"],
        "paused"
    );
    assert_eq!(
        env.json_in(&ws, &["status"])["data"]["paused_kind"],
        "permanent"
    );
    assert_eq!(env.status_file(&id)["schema_version"], 2);
}

#[test]
fn logs_tail_in_robot_and_human_mode() {
    let env = TestEnv::new();
    let ws = env.workspace("logs", &stages(&[stage("pull", &["ok", "9"], "")]), "");
    let r = env.json_in(&ws, &["logs"]);
    assert_eq!(r["data"]["exists"], false);
    env.json_in(&ws, &["install"]);
    env.json_in(&ws, &["trigger"]);
    let r = env.json_in(&ws, &["logs", "--tail", "3"])["data"].clone();
    assert_eq!(r["exists"], true);
    assert_eq!(r["last_lines"].as_array().unwrap().len(), 3);
    assert!(
        r["last_lines"][2]
            .as_str()
            .unwrap()
            .contains("finished: success")
    );
    assert!(
        env.json_in(&ws, &["logs"])["data"]
            .get("last_lines")
            .is_none(),
        "paths only without --tail"
    );
    let human = env.run_in(&ws, &["logs", "--tail", "2"]).ok().stdout;
    assert_eq!(human.lines().count(), 2);
    let follow = env.run_in(&ws, &["-J", "logs", "--follow"]);
    assert_eq!(follow.code, 2);
}

#[test]
fn doctor_passes_warns_fails_and_fixes_modes() {
    let mut env = TestEnv::new();
    env.set_env("TOK", "x");
    let ws = env.workspace(
        "doc",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "TOK", "token_check": ["sh", "-c", "test \"$TOK\" = x"]"#,
    );
    let d = env.run_in(&ws, &["-J", "doctor"]).ok().json()["data"].clone();
    assert_eq!(d["overall"], "warn", "linger cannot be read here: {d}");
    let names: Vec<&str> = d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in [
        "config",
        "token_present",
        "token_valid",
        "binary_path",
        "data_directory",
        "systemd_user_manager",
        "linger",
        "install_state",
    ] {
        assert!(names.contains(&n), "missing {n} in {names:?}");
    }
    let token_valid = d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "token_valid")
        .unwrap()
        .clone();
    assert_eq!(token_valid["status"], "pass");
    let offline = env.json_in(&ws, &["doctor", "--offline"])["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "token_valid")
        .unwrap()["status"]
        .clone();
    assert_eq!(offline, "skip");

    let id = env.install_in(&ws, &[]);
    let env_file = env.service_dir(&id).join("env");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bad = env.run_in(&ws, &["-J", "doctor"]);
    assert_eq!(bad.code, 10);
    let fixed = env.run_in(&ws, &["-J", "doctor", "--fix"]).ok().json()["data"].clone();
    let statuses: Vec<(String, String)> = fixed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("file_modes".into(), "fixed".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("scheduler_reload".into(), "fixed".into())),
        "{statuses:?}"
    );
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        env.systemctl_calls()
            .iter()
            .filter(|c| *c == "--user daemon-reload")
            .count()
            >= 2
    );

    env.set_env("FAKE_SYSTEMCTL_FAIL", "unreachable");
    let r = env.run_in(&ws, &["doctor", "--offline"]);
    assert_eq!(r.code, 10);
    assert!(
        r.stdout
            .contains("[FAIL] systemctl --user is not reachable"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Overall: FAIL"), "{}", r.stdout);
}

#[test]
fn selection_from_workspace_and_ambiguity_lists_candidates() {
    let env = TestEnv::new();
    let a = env.workspace("a", &stages(&[stage("pull", &["ok"], "")]), "");
    let b = env.workspace("b", &stages(&[stage("pull", &["ok"], "")]), "");
    // A subdirectory of a workspace finds it, like git.
    let sub = a.join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    let ida = env.install_in(&sub, &[]);
    // Outside any workspace with one service: that one.
    assert_eq!(env.json(&["status"])["data"]["service_id"], ida.as_str());
    let idb = env.install_in(&b, &[]);
    let r = env.run(&["-J", "status"]);
    assert_eq!(r.code, 7);
    let e = r.json();
    assert_eq!(e["error"]["code"], "AMBIGUOUS_SERVICE");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&ida) && msg.contains(&idb), "{msg}");
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("--service")
    );
    let cfg = a.join("syncfleet.json");
    assert_eq!(
        env.json(&["--config", cfg.to_str().unwrap(), "status"])["data"]["service_id"],
        ida.as_str()
    );
    let r = env.run(&["-J", "status", "--service", "zzz"]);
    assert_eq!(r.code, 6);
    let list = env.json(&["list"])["data"]["services"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(list, 2);
}

#[test]
fn config_errors_have_codes_and_name_the_key() {
    let env = TestEnv::new();
    let r = env.run(&["-J", "sync"]);
    assert_eq!(r.code, 3);
    assert_eq!(r.json()["error"]["code"], "CONFIG_NOT_FOUND");
    let ws = env.path("bad");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        ws.join("syncfleet.json"),
        r#"{"stages": [{"name": "a", "command": ["x"], "timeout": "forever"}]}"#,
    )
    .unwrap();
    let r = env.run_in(&ws, &["sync"]);
    assert_eq!(r.code, 4);
    assert!(r.stderr.contains("`stages[0].timeout`"), "{}", r.stderr);
    assert!(r.stderr.contains("fix:"), "{}", r.stderr);
}

#[test]
fn robot_mode_from_the_environment_and_usage_errors() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_ROBOT", "1");
    let r = env.run(&["list"]);
    assert_eq!(r.json()["data"]["services"], json!([]));
    let r = env.run(&["frobnicate"]);
    assert_eq!(r.code, 2);
}
