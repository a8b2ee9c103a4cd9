//! Calendar schedules through the CLI (fake systemctl and crontab):
//! `install --at/--timezone/--catch-up` and what a reinstall keeps, cron's
//! lines and refusals, the boot-time catch-up run, and the next and missed
//! runs `status` shows. The clock is stopped with SYNCFLEET_NOW.

mod common;
use common::*;
use serde_json::json;

/// Wednesday 2 December 2026, 09:00 UTC.
const NOW: &str = "2026-12-02T09:00:00Z";

fn env_at(now: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", now);
    env.set_env("TZ", "UTC");
    env
}

fn workspace(env: &TestEnv) -> std::path::PathBuf {
    env.workspace("cal", &stages(&[stage("pull", &["ok", "1"], "")]), "")
}

#[test]
fn install_at_renders_on_calendar_and_a_reinstall_keeps_what_no_flag_names() {
    let env = env_at(NOW);
    let ws = workspace(&env);
    let v = env.json_in(
        &ws,
        &[
            "install",
            "--at",
            "Mon..Fri 09:30",
            "--at",
            "Sat,Sun 10:00",
            "--timezone",
            "Europe/Berlin",
        ],
    );
    assert_eq!(v["ok"], true, "{v}");
    let d = &v["data"];
    let id = d["service_id"].as_str().unwrap().to_string();
    assert_eq!(
        d["calendar"],
        json!({"at": ["Mon..Fri *-*-* 09:30:00", "Sat,Sun *-*-* 10:00:00"],
               "timezone": "Europe/Berlin", "catch_up": "latest"})
    );
    // 09:30 in Berlin on Wednesday is 08:30 UTC, already past: Thursday's.
    // (The fake systemctl reports no next elapse, so it is computed.)
    assert_eq!(d["first_run_iso"], "2026-12-03T08:30:00.000Z", "{d}");
    assert_eq!(d["interval_seconds"], 86_400);
    let timer =
        std::fs::read_to_string(env.unit_dir().join(format!("syncfleet-{id}.timer"))).unwrap();
    assert!(
        timer.contains(
            "OnCalendar=Mon..Fri *-*-* 09:30:00 Europe/Berlin\nOnCalendar=Sat,Sun *-*-* 10:00:00 Europe/Berlin\n"
        ),
        "{timer}"
    );
    assert!(timer.contains("Persistent=true\n"), "{timer}");
    let m = env.manifest(&id);
    assert_eq!(m["schema_version"], 2);
    assert_eq!(m["calendar"]["timezone"], "Europe/Berlin");

    let again = env.json_in(&ws, &["install"]);
    assert_eq!(again["data"]["no_change"], true, "{again}");

    let v = env.json_in(&ws, &["install", "--catch-up", "none"]);
    assert_eq!(
        v["data"]["changed"],
        json!([{"what": "catch_up", "from": "latest", "to": "none"}]),
        "{v}"
    );
    assert_eq!(v["data"]["calendar"]["timezone"], "Europe/Berlin");

    // A new --at without a zone keeps the installed zone.
    let v = env.json_in(&ws, &["install", "--at", "daily"]);
    assert_eq!(
        v["data"]["calendar"]["at"],
        json!(["*-*-* 00:00:00"]),
        "{v}"
    );
    assert_eq!(v["data"]["calendar"]["timezone"], "Europe/Berlin");
    assert_eq!(v["data"]["calendar"]["catch_up"], "none");

    let v = env.json_in(&ws, &["install", "--interval", "15m"]);
    assert_eq!(
        v["data"]["changed"][0],
        json!({"what": "schedule", "from": "*-*-* 00:00:00 Europe/Berlin", "to": "every 15m"}),
        "{v}"
    );
    assert!(env.manifest(&id).get("calendar").is_none());

    let v = env.json_in(&ws, &["install", "--timezone", "Europe/Berlin"]);
    assert_eq!(v["error"]["code"], "INVALID_ARGUMENT", "{v}");
    assert!(
        v["error"]["suggestion"].as_str().unwrap().contains("--at"),
        "{v}"
    );
}

#[test]
fn at_and_interval_exclude_each_other_and_bad_expressions_say_why() {
    let env = env_at(NOW);
    let ws = workspace(&env);
    let r = env.run_in(&ws, &["install", "--at", "daily", "--interval", "15m"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    let v = env.json_in(&ws, &["install", "--at", "Mon..Fri 25:00"]);
    assert_eq!(v["error"]["code"], "CALENDAR_INVALID", "{v}");
    let v = env.json_in(
        &ws,
        &["install", "--at", "daily", "--timezone", "Mars/Base"],
    );
    assert_eq!(v["error"]["code"], "CALENDAR_INVALID", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mars/Base")
    );
}

#[test]
fn cron_runs_calendar_lines_at_the_service_offset_and_refuses_seconds() {
    let env = env_at(NOW);
    let ws = workspace(&env);
    let v = env.json_in(
        &ws,
        &["install", "--scheduler", "cron", "--at", "*:0/20:30"],
    );
    assert_eq!(v["error"]["code"], "INVALID_ARGUMENT", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no seconds")
    );
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("--at '*-*-* *:00/20:00'"),
        "{v}"
    );
    let id = env.install_in(&ws, &["--scheduler", "cron", "--at", "*:0/20"]);
    let tab = env.crontab();
    let line = tab
        .lines()
        .find(|l| l.contains("-59/20 * * * * "))
        .unwrap_or_else(|| panic!("{tab}"));
    let offset: i64 = line.split('-').next().unwrap().parse().unwrap();
    assert!((0..20).contains(&offset), "{line}");
    assert!(
        tab.contains("\n@reboot SYNCFLEET_CATCH_UP=1 "),
        "catch-up latest on cron is a boot line: {tab}"
    );
    let st = env.json(&["status", "--service", &id]);
    // The slots are at the offset past each third of the hour; at 09:00
    // the next is 09:00 + the offset, unless that is 09:00 itself.
    let next = if offset == 0 { 20 } else { offset };
    assert_eq!(
        st["data"]["next_run_iso"],
        format!("2026-12-02T09:{next:02}:00.000Z"),
        "{st}"
    );
    let list = env.json(&["list"]);
    assert_eq!(
        list["data"]["services"][0]["next_run_iso"], st["data"]["next_run_iso"],
        "{list}"
    );
}

#[test]
fn switching_a_cron_calendar_to_an_interval_reports_the_cron_slots() {
    let env = env_at(NOW);
    let ws = workspace(&env);
    env.install_in(&ws, &["--scheduler", "cron", "--at", "*:0/20"]);
    let v = env.json_in(&ws, &["install", "--interval", "20m"]);
    assert_eq!(v["ok"], true, "{v}");
    let first = v["data"]["first_run"].as_str().unwrap();
    assert!(
        first.starts_with("at the next time the schedule `") && first.contains("-59/20 * * * *"),
        "cron keeps fixed slots, not an interval after the previous run: {v}"
    );
}

#[test]
fn a_boot_time_catch_up_runs_only_when_a_slot_was_missed() {
    let mut env = env_at(NOW);
    let ws = workspace(&env);
    let id = env.install_in(&ws, &["--scheduler", "cron", "--at", "*-*-* 02:00"]);
    env.set_env("SYNCFLEET_CATCH_UP", "1");
    // Installed at 09:00, booted at 09:00: no 02:00 slot passed since.
    let v = env.run_service(&id);
    assert_eq!(v["data"]["action"], "skipped", "{v}");
    assert_eq!(v["data"]["reason"], "catch_up:none_missed", "{v}");
    assert!(!env.service_dir(&id).join("runs.jsonl").exists());

    // Booted the next day at 07:00: the 02:00 slot was missed. status and
    // doctor say so; the boot run catches up once.
    env.set_env("SYNCFLEET_NOW", "2026-12-03T07:00:00Z");
    let st = env.json(&["status", "--service", &id]);
    assert_eq!(
        st["data"]["missed_run_iso"], "2026-12-03T02:00:00.000Z",
        "{st}"
    );
    let doctor = data_of(&env.run(&["--robot", "doctor", "--offline"]));
    let check = named_check(doctor_service(&doctor, &id), "missed_runs")
        .unwrap_or_else(|| panic!("{doctor}"));
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("missed run: the 2026-12-03T02:00:00.000Z slot"),
        "{check}"
    );
    let v = env.run_service(&id);
    assert_eq!(v["data"]["action"], "sync_completed", "{v}");
    // Caught up: a second boot the same morning finds nothing missed.
    let v = env.run_service(&id);
    assert_eq!(v["data"]["reason"], "catch_up:none_missed", "{v}");
    let st = env.json(&["status", "--service", &id]);
    assert!(st["data"].get("missed_run_iso").is_none(), "{st}");
}

#[test]
fn an_interval_service_on_cron_runs_next_at_its_own_slot() {
    let env = env_at(NOW);
    let ws = workspace(&env);
    let id = env.install_in(&ws, &["--scheduler", "cron", "--interval", "15m"]);
    let tab = env.crontab();
    let line = tab
        .lines()
        .find(|l| l.contains("-59/15 * * * * "))
        .unwrap_or_else(|| panic!("{tab}"));
    let offset: u32 = line.split('-').next().unwrap().parse().unwrap();
    let next = if offset == 0 { 15 } else { offset };
    let st = env.json(&["status", "--service", &id]);
    assert_eq!(
        st["data"]["next_run_iso"],
        format!("2026-12-02T09:{next:02}:00.000Z"),
        "{st}"
    );
}
