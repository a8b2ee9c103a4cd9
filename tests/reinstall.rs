//! Changing an installed fleet: a reinstall keeps what no flag changes, a
//! scheduler switch leaves exactly one schedule, and parallel installs
//! never claim one name twice.

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn token_workspace(env: &TestEnv, name: &str) -> PathBuf {
    env.workspace(
        name,
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""token_env_var": "GITLAB_TOKEN""#,
    )
}

#[test]
fn a_reinstall_without_flags_keeps_every_installed_setting() {
    let mut env = TestEnv::new();
    env.set_env("GITLAB_TOKEN", "glpat-first-token-value");
    let ws = token_workspace(&env, "keep");
    let first = env.json_in(
        &ws,
        &[
            "install",
            "--interval",
            "2h",
            "--profile",
            "fast",
            "--name",
            "keeper",
        ],
    );
    assert_eq!(first["ok"], true, "{first}");
    // The fake user manager has run for long: OnStartupSec= has passed,
    // so the timer fires as soon as it is enabled.
    assert_eq!(
        first["data"]["first_run"],
        "within a few seconds, then 2h after each run ends"
    );

    // No flags, no --name: the same service, nothing changed.
    let again = env.json_in(&ws, &["install"]);
    assert_eq!(again["ok"], true, "{again}");
    let d = &again["data"];
    assert_eq!(d["service_id"], "keeper");
    assert_eq!(d["no_change"], true, "{d}");
    assert_eq!(d["interval_seconds"], 7200);
    assert_eq!(d["profile"], "fast");
    let m = env.manifest("keeper");
    assert_eq!(
        (m["interval_seconds"].as_u64(), m["profile"].as_str()),
        (Some(7200), Some("fast"))
    );

    // Token rotation changes the token and nothing else.
    env.set_env("GITLAB_TOKEN", "glpat-rotated-token-value");
    let rotated = env.run_in(&ws, &["-J", "install"]).ok();
    let d = rotated.json()["data"].clone();
    assert_eq!(d["changes"], json!(["token"]), "{d}");
    assert_eq!(
        (d["interval_seconds"].as_u64(), d["profile"].as_str()),
        (Some(7200), Some("fast"))
    );
    assert!(!rotated.stdout.contains("glpat"));
    assert_eq!(
        std::fs::read_to_string(env.service_dir("keeper").join("env")).unwrap(),
        "GITLAB_TOKEN=\"glpat-rotated-token-value\"\n"
    );

    // One flag changes one setting, and the result says from what to what.
    let profile = env.json_in(&ws, &["install", "--profile", "full"]);
    let d = &profile["data"];
    assert_eq!(d["changes"], json!(["profile"]), "{d}");
    assert_eq!(
        d["changed"],
        json!([{"what": "profile", "from": "fast", "to": "full"}])
    );
    assert_eq!(d["interval_seconds"], 7200);
    let human = env.run_in(&ws, &["install", "--interval", "15m"]).ok();
    assert!(
        human.stdout.contains("interval (2h → 15m)"),
        "{}",
        human.stdout
    );
    let m = env.manifest("keeper");
    assert_eq!(
        (m["interval_seconds"].as_u64(), m["profile"].as_str()),
        (Some(900), Some("full"))
    );
}

#[test]
fn a_reinstall_keeps_an_embedded_token_source() {
    let mut env = TestEnv::new();
    env.set_env("GITLAB_TOKEN", "glpat-embedded-value");
    let ws = token_workspace(&env, "emb");
    let first = env.json_in(&ws, &["install", "--token-source", "embedded"]);
    let id = first["data"]["service_id"].as_str().unwrap().to_string();
    let again = env.json_in(&ws, &["install"]);
    assert_eq!(again["data"]["token_source"], "embedded", "{again}");
    assert_eq!(again["data"]["no_change"], true, "{again}");
    assert_eq!(env.manifest(&id)["token_source"], "embedded");
}

#[test]
fn a_cron_service_stays_on_cron_and_a_switch_leaves_one_schedule() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "sw",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "sw""#,
    );
    let cron = env.json_in(
        &ws,
        &["install", "--scheduler", "cron", "--interval", "15m"],
    );
    assert_eq!(cron["data"]["platform"], "cron", "{cron}");
    assert!(env.crontab().contains("# BEGIN syncfleet sw\n"));

    // Reinstalled without --scheduler: still cron, nothing on systemd.
    let again = env.json_in(&ws, &["install"]);
    assert_eq!(again["data"]["platform"], "cron", "{again}");
    assert_eq!(again["data"]["no_change"], true, "{again}");
    assert!(env.unit_files("sw").is_empty());
    assert!(!env.systemctl_calls().iter().any(|c| c.contains("enable")));

    // An explicit switch: systemd has it, cron no longer does.
    let to_systemd = env.json_in(&ws, &["install", "--scheduler", "systemd"]);
    assert_eq!(to_systemd["ok"], true, "{to_systemd}");
    assert_eq!(
        to_systemd["data"]["changed"][0],
        json!({"what": "platform", "from": "cron", "to": "systemd"})
    );
    assert_eq!(
        to_systemd["data"]["interval_seconds"], 900,
        "the interval stays"
    );
    assert!(!env.crontab().contains("syncfleet sw"), "{}", env.crontab());
    assert_eq!(env.unit_files("sw").len(), 2);
    assert!(env.timer_enabled("sw"));
    assert!(
        !env.service_dir("sw").join("run.sh").exists(),
        "cron's wrapper is gone"
    );
    assert_eq!(env.manifest("sw")["platform"], "systemd");

    // And back: the units are disabled and removed.
    let to_cron = env.json_in(&ws, &["install", "--scheduler", "cron"]);
    assert_eq!(to_cron["ok"], true, "{to_cron}");
    assert!(env.crontab().contains("# BEGIN syncfleet sw\n"));
    assert!(env.unit_files("sw").is_empty());
    assert!(!env.timer_enabled("sw"));
    let status = env.json(&["status", "--service", "sw"]);
    assert_eq!(status["data"]["platform"], "cron", "{status}");
    // The user had no crontab: none is left behind, not an empty one.
    env.json_in(&ws, &["install", "--scheduler", "systemd"]);
    assert!(!env.crontab_path().exists(), "an empty crontab was left");
}

#[test]
fn a_switch_that_cannot_remove_the_old_schedule_keeps_the_service_where_it_was() {
    let mut env = TestEnv::new();
    let ws = env.workspace(
        "stay",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "stay""#,
    );
    // A line of the user's own: removing the block rewrites the crontab.
    std::fs::write(env.crontab_path(), "MAILTO=me\n").unwrap();
    env.json_in(
        &ws,
        &["install", "--scheduler", "cron", "--interval", "15m"],
    );
    let before = env.crontab();
    env.set_env("FAKE_CRONTAB_FAIL_WRITE", "1");
    let r = env.run_in(&ws, &["-J", "install", "--scheduler", "systemd"]);
    assert_ne!(r.code, 0);
    let v = r.json();
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("stays on cron"),
        "{v}"
    );
    // Exactly one schedule: the old one, untouched.
    assert_eq!(env.crontab(), before);
    assert!(env.unit_files("stay").is_empty());
    assert!(!env.timer_enabled("stay"));
    assert_eq!(env.manifest("stay")["platform"], "cron");
}

#[test]
fn a_dry_run_switch_shows_the_old_schedule_going() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "dry",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "dry""#,
    );
    env.json_in(
        &ws,
        &["install", "--scheduler", "cron", "--interval", "15m"],
    );
    let v = env.json_in(&ws, &["install", "--scheduler", "systemd", "--dry-run"]);
    let planned = v["data"]["planned_commands"].to_string();
    assert!(planned.contains("disable service dry on cron"), "{planned}");
    assert!(
        env.crontab().contains("# BEGIN syncfleet dry\n"),
        "a dry run changes nothing"
    );
}

/// Two installs started together; their robot results.
fn install_together(env: &TestEnv, a: (&Path, &[&str]), b: (&Path, &[&str])) -> [Value; 2] {
    let spawn = |(cwd, args): (&Path, &[&str])| {
        let mut full = vec!["-J", "install"];
        full.extend_from_slice(args);
        env.command(cwd, &full)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(a), spawn(b));
    [first, second].map(|child| {
        let out = child.wait_with_output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    })
}

fn outcome(results: &[Value; 2]) -> Vec<String> {
    let mut v: Vec<String> = results
        .iter()
        .map(|r| {
            if r["ok"] == true {
                "ok".to_string()
            } else {
                r["error"]["code"].as_str().unwrap().to_string()
            }
        })
        .collect();
    v.sort();
    v
}

#[test]
fn parallel_installs_never_claim_one_name_or_workspace_twice() {
    let mut env = TestEnv::new();
    // A slow `enable` makes the two installs overlap.
    env.set_env("FAKE_SYSTEMCTL_ENABLE_SLEEP", "0.5");
    let one = env.workspace("one", &stages(&[stage("pull", &["ok", "1"], "")]), "");
    let two = env.workspace("two", &stages(&[stage("pull", &["ok", "1"], "")]), "");
    let r = install_together(
        &env,
        (&one, &["--name", "shared"]),
        (&two, &["--name", "shared"]),
    );
    assert_eq!(outcome(&r), ["NAME_CONFLICT", "ok"], "{r:?}");

    let three = env.workspace("three", &stages(&[stage("pull", &["ok", "1"], "")]), "");
    let r = install_together(
        &env,
        (&three, &["--name", "left"]),
        (&three, &["--name", "right"]),
    );
    assert_eq!(outcome(&r), ["NAME_CONFLICT", "ok"], "{r:?}");
    let list = env.json(&["list"]);
    let ids: Vec<&str> = list["data"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
}

#[test]
fn another_data_directorys_service_of_the_same_id_is_never_taken_for_ours() {
    let mut env = TestEnv::new();
    let ws_a = env.workspace(
        "a",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "demo""#,
    );
    let ws_b = env.workspace(
        "b",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "demo""#,
    );
    let on_systemd = env.json_in(&ws_a, &["install", "--interval", "15m"]);
    assert_eq!(on_systemd["ok"], true, "{on_systemd}");
    // The same user, another data directory, the same id, on cron.
    let other_data = env.path("other-data");
    env.set_env("SYNCFLEET_DATA_DIR", other_data.to_str().unwrap());
    let on_cron = env.json_in(
        &ws_b,
        &["install", "--scheduler", "cron", "--interval", "15m"],
    );
    assert_eq!(on_cron["ok"], true, "{on_cron}");
    let data = env.data_dir();
    env.set_env("SYNCFLEET_DATA_DIR", data.to_str().unwrap());

    let doctor = env.json(&["doctor", "--offline"]);
    assert!(
        !doctor
            .to_string()
            .contains("second_schedule\",\"status\":\"fail"),
        "the other fleet's crontab block is not ours: {doctor}"
    );
    let gone = env.json(&["uninstall", "--service", "demo"]);
    assert_eq!(gone["ok"], true, "{gone}");
    assert!(
        env.crontab().contains("# BEGIN syncfleet demo\n"),
        "uninstall removed another data directory's schedule"
    );
    let all = env.json(&["uninstall", "--all", "--yes"]);
    assert_eq!(all["ok"], true, "{all}");
    assert!(env.crontab().contains("# BEGIN syncfleet demo\n"));
}

#[test]
fn an_unreachable_scheduler_is_not_called_drift() {
    let mut env = TestEnv::new();
    let ws = env.workspace("down", &stages(&[stage("pull", &["ok", "1"], "")]), "");
    env.json_in(&ws, &["install"]);
    env.set_env("FAKE_SYSTEMCTL_FAIL", "unreachable");
    let doctor = env.json_in(&ws, &["doctor", "--offline"]);
    let checks = doctor["data"]["checks"].as_array().unwrap();
    let install_state = checks
        .iter()
        .find(|c| c["name"] == "install_state")
        .unwrap();
    assert_eq!(install_state["status"], "skip", "{install_state}");
    assert!(!doctor.to_string().contains("has drifted"), "{doctor}");
    // The failing check says how to reach the scheduler.
    let manager = checks
        .iter()
        .find(|c| c["name"] == "systemd_user_manager")
        .unwrap();
    assert_eq!(manager["status"], "fail", "{manager}");
}

#[test]
fn doctor_in_a_moved_workspace_names_the_command_that_reattaches_it() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "old-place",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "mover""#,
    );
    env.json_in(&ws, &["install"]);
    let moved = env.path("ws/new-place");
    std::fs::rename(&ws, &moved).unwrap();
    let doctor = env.json_in(&moved, &["doctor", "--offline"]);
    let check = doctor["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "workspace")
        .unwrap_or_else(|| panic!("no workspace check: {doctor}"))
        .clone();
    assert_eq!(check["status"], "warn", "{check}");
    assert_eq!(
        check["action"],
        format!("syncfleet move --service mover {}", moved.display())
    );
}

#[test]
fn status_of_an_orphan_says_its_schedule_may_still_fire() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "orph",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "orph""#,
    );
    env.json_in(&ws, &["install"]);
    std::fs::remove_file(env.service_dir("orph").join("manifest.json")).unwrap();
    let status = env.json(&["status", "--service", "orph"]);
    assert_eq!(status["data"]["installed"], false, "{status}");
    assert_eq!(status["data"]["orphan_schedules"], json!(["systemd"]));
    let human = env.run(&["status", "--service", "orph"]).ok().stdout;
    assert!(
        human.contains("Remove it: syncfleet uninstall --service orph"),
        "{human}"
    );
}

#[test]
fn an_empty_list_names_the_filter_and_the_known_tags() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "tagged",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""tags": ["red"]"#,
    );
    env.json_in(&ws, &["install"]);
    let out = env.run(&["list", "--tag", "nope"]).ok().stdout;
    assert_eq!(out, "No services match --tag nope (known tags: red).\n");
    // Tags are no reason when no tag was asked for.
    let out = env.run(&["list", "--state", "paused"]).ok().stdout;
    assert_eq!(out, "No services match --state paused.\n");
}

#[test]
fn list_says_when_a_manifest_was_rewritten_by_a_newer_syncfleet() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "nw",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""name": "nw""#,
    );
    env.json_in(&ws, &["install"]);
    let path = env.service_dir("nw").join("manifest.json");
    let mut m = env.manifest("nw");
    m["schema_version"] = 99.into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    // Rewritten a minute after install, as a newer syncfleet would.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    let list = env.json(&["list"]);
    let warnings = list["data"]["warnings"].to_string();
    assert!(
        warnings.contains("written by a newer syncfleet") && warnings.contains("upgrade syncfleet"),
        "{list}"
    );
}

#[test]
fn fleet_doctor_checks_only_the_schedulers_the_fleet_uses() {
    let mut env = TestEnv::new();
    let ws = env.workspace("c", &stages(&[stage("pull", &["ok", "1"], "")]), "");
    env.json_in(
        &ws,
        &["install", "--scheduler", "cron", "--interval", "15m"],
    );
    // A container: no user manager at all.
    env.set_env("FAKE_SYSTEMCTL_FAIL", "unreachable");
    let doctor = env.json(&["doctor", "--offline"]);
    assert!(
        !doctor.to_string().contains("systemd_user_manager"),
        "a cron-only fleet is not judged by systemd: {doctor}"
    );
    assert_ne!(doctor["data"]["overall"], "fail", "{doctor}");
}
