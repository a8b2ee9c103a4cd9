//! Changing a fleet without surprises (issue 8): orphans and second
//! schedules found by fleet doctor and removed by `doctor --fix` and
//! `uninstall`; what fleet doctor sees is broken; stage commands checked
//! before install; `uninstall --all`/`--tag` confirmation; and `install`
//! killed at every scheduler step, then cleaned up. Fake schedulers only
//! (tests/fake-bin); the real ones are in tests/e2e.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A workspace whose one stage succeeds.
fn ws(env: &TestEnv, name: &str) -> PathBuf {
    env.workspace(name, &stages(&[stage("work", &["ok"], "")]), "")
}

fn install(env: &TestEnv, dir: &Path, extra: &[&str]) -> String {
    env.install_in(dir, &[&["--interval", "5m"], extra].concat())
}

fn has_cron_block(env: &TestEnv, id: &str) -> bool {
    env.crontab().contains(&format!("# BEGIN syncfleet {id}\n"))
}

/// Nothing of this service can fire: no enabled timer, no unit file, no
/// crontab block.
#[track_caller]
fn assert_nothing_firing(env: &TestEnv, id: &str, context: &str) {
    assert!(!env.timer_enabled(id), "{context}: timer still enabled");
    assert!(
        env.unit_files(id).is_empty(),
        "{context}: unit files left: {:?}",
        env.unit_files(id)
    );
    assert!(
        !has_cron_block(env, id),
        "{context}: crontab block left:\n{}",
        env.crontab()
    );
}

#[track_caller]
fn finding<'a>(doctor: &'a Value, id: &str, name: &str, status: &str) -> &'a Value {
    let c = named_check(doctor_service(doctor, id), name)
        .unwrap_or_else(|| panic!("no {name} check for {id} in {doctor}"));
    assert_eq!(c["status"], status, "{c}");
    c
}

/// A crontab block for `id`, as a switch away from cron used to leave it.
fn write_cron_block(env: &TestEnv, id: &str) {
    let mut tab = env.crontab();
    tab.push_str(&format!(
        "# BEGIN syncfleet {id}\n*/5 * * * * true\n# END syncfleet {id}\n"
    ));
    std::fs::write(env.crontab_path(), tab).unwrap();
}

#[test]
fn uninstall_removes_the_crontab_block_and_every_second_schedule() {
    let env = TestEnv::new();
    std::fs::write(env.crontab_path(), "MAILTO=me\n").unwrap();
    let cron_ws = ws(&env, "c");
    let c = install(&env, &cron_ws, &["--scheduler", "cron"]);
    assert!(has_cron_block(&env, &c));
    // Reinstalled on systemd: whatever install does with the old block,
    // uninstall leaves neither schedule.
    install(&env, &cron_ws, &["--scheduler", "systemd"]);
    data_of(&env.run_in(&cron_ws, &["--robot", "uninstall"]));
    assert_nothing_firing(&env, &c, "uninstall after a switch");
    assert_eq!(env.crontab(), "MAILTO=me\n");

    // A second schedule (a crontab block beside the systemd timer): fleet
    // doctor names it and the fix; uninstall --all removes both.
    let a = install(&env, &ws(&env, "a"), &[]);
    write_cron_block(&env, &a);
    let sick = env.run(&["--robot", "doctor", "--offline"]);
    assert_eq!(sick.code, 10, "{}", sick.stdout);
    let d = data_of(&sick);
    let f = finding(&d, &a, "second_schedule", "fail");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("cron: crontab block"),
        "{f}"
    );
    assert!(
        f["action"]
            .as_str()
            .unwrap()
            .starts_with("syncfleet doctor --fix"),
        "{f}"
    );
    let u = data_of(&env.run(&["--robot", "uninstall", "--all", "--yes"]));
    assert_eq!(u["removed"], 1, "{u}");
    assert_eq!(u["services"][0]["platform"], "systemd", "{u}");
    assert_eq!(u["services"][0]["other_platforms"][0], "cron", "{u}");
    assert_nothing_firing(&env, &a, "uninstall --all");
    assert_eq!(env.crontab(), "MAILTO=me\n");
}

#[test]
fn doctor_fix_removes_a_second_schedule_and_keeps_the_recorded_one() {
    let env = TestEnv::new();
    let a = install(&env, &ws(&env, "a"), &[]);
    write_cron_block(&env, &a);
    let fixed = data_of(&env.run(&["--robot", "doctor", "--offline", "--fix"]));
    finding(&fixed, &a, "second_schedule", "fixed");
    assert!(!has_cron_block(&env, &a), "{}", env.crontab());
    assert!(env.timer_enabled(&a) && env.unit_files(&a).len() == 2);
    let again = data_of(&env.run(&["--robot", "doctor", "--offline"]));
    finding(&again, &a, "second_schedule", "pass");
}

#[test]
fn orphans_are_reported_and_removed_by_doctor_fix() {
    let env = TestEnv::new();
    let a = install(&env, &ws(&env, "a"), &[]);
    let b = install(&env, &ws(&env, "b"), &[]);
    let c = install(&env, &ws(&env, "c"), &["--scheduler", "cron"]);
    // Manifests deleted by hand: the schedules of a and c still fire.
    for id in [&a, &c] {
        std::fs::remove_file(env.service_dir(id).join("manifest.json")).unwrap();
    }
    let sick = env.run(&["--robot", "doctor", "--offline"]);
    assert_eq!(sick.code, 10, "{}", sick.stdout);
    let d = data_of(&sick);
    for (id, what) in [(&a, "systemd: "), (&c, "cron: crontab block")] {
        let f = finding(&d, id, "orphan", "fail");
        assert!(f["message"].as_str().unwrap().contains(what), "{f}");
        assert_eq!(
            f["action"],
            format!("syncfleet uninstall --service {id} (or syncfleet doctor --fix)")
        );
    }
    assert!(named_check(doctor_service(&d, &b), "orphan").is_none());
    // The fleet checks cron's prerequisites: it has artifacts.
    assert!(named_check(&d, "crontab").is_some(), "{d}");
    let human = env.run(&["doctor", "--offline"]);
    assert!(
        human
            .stdout
            .contains(&format!("Fix: syncfleet uninstall --service {a}")),
        "{}",
        human.stdout
    );

    let fixed = data_of(&env.run(&["--robot", "doctor", "--offline", "--fix"]));
    finding(&fixed, &a, "orphan", "fixed");
    finding(&fixed, &c, "orphan", "fixed");
    assert_nothing_firing(&env, &a, "doctor --fix");
    assert_nothing_firing(&env, &c, "doctor --fix");
    assert!(
        env.timer_enabled(&b),
        "the healthy service keeps its schedule"
    );
    // A second look finds nothing to fix.
    let again = env.run(&["--robot", "doctor", "--offline"]);
    let d = data_of(&again);
    assert!(
        named_check(doctor_service(&d, &a), "orphan").is_none(),
        "{d}"
    );
}

#[test]
fn uninstall_service_and_all_remove_orphans() {
    let env = TestEnv::new();
    let a = install(&env, &ws(&env, "a"), &[]);
    let b = install(&env, &ws(&env, "b"), &[]);
    std::fs::remove_file(env.service_dir(&a).join("manifest.json")).unwrap();
    // --all includes the orphan.
    let u = data_of(&env.run(&["--robot", "uninstall", "--all", "--yes"]));
    assert_eq!(u["removed"], 2, "{u}");
    let orphan = u["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_id"] == a.as_str())
        .unwrap();
    assert_eq!(orphan["orphan"], true, "{u}");
    assert_nothing_firing(&env, &a, "uninstall --all");
    assert_nothing_firing(&env, &b, "uninstall --all");

    // An orphan whose data directory is gone too: doctor warns (it may be
    // another data directory's), and --service ID removes it.
    let c = install(&env, &ws(&env, "c"), &[]);
    std::fs::remove_dir_all(env.service_dir(&c)).unwrap();
    let d = data_of(&env.run(&["--robot", "doctor", "--offline"]));
    let unknown = d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "orphan")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(unknown["status"], "warn");
    assert!(
        unknown["action"]
            .as_str()
            .unwrap()
            .ends_with(&format!("syncfleet uninstall --service {c}")),
        "{unknown}"
    );
    let one = data_of(&env.run(&["--robot", "uninstall", "--service", &c]));
    assert_eq!(one["was_installed"], true, "{one}");
    assert_eq!(one["orphan"], true, "{one}");
    assert_nothing_firing(&env, &c, "uninstall --service");
}

/// Run with a terminal as stdin (a pty) that has `answer` typed into it.
#[allow(unsafe_code)]
fn run_with_terminal(env: &TestEnv, args: &[&str], answer: &str) -> Run {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two fds we then own; the other pointers may
    // be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both fds were just opened by openpty and are owned here.
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    master.write_all(answer.as_bytes()).unwrap();
    let mut cmd = env.command(env.dir.path(), args);
    cmd.stdin(slave);
    cmd.output().unwrap().into()
}

#[test]
fn uninstall_all_and_tag_ask_first_and_robots_must_pass_yes() {
    let env = TestEnv::new();
    let red = env.workspace(
        "r",
        &stages(&[stage("work", &["ok"], "")]),
        r#""tags": ["red"]"#,
    );
    let r = install(&env, &red, &[]);
    let b = install(&env, &ws(&env, "b"), &[]);

    for args in [
        &["--robot", "uninstall", "--all"][..],
        &["--robot", "uninstall", "--tag", "red"],
        // Not robot, but no terminal to ask on.
        &["uninstall", "--all"],
    ] {
        let refused = env.run(args);
        assert_eq!(refused.code, 2, "{args:?}: {}", refused.stdout);
        let text = format!("{}{}", refused.stdout, refused.stderr);
        assert!(text.contains("--yes"), "{args:?}: {text}");
    }
    assert!(
        env.timer_enabled(&r) && env.timer_enabled(&b),
        "nothing removed"
    );

    // "No" is an answer, not an error.
    let declined = run_with_terminal(&env, &["uninstall", "--tag", "red"], "n\n");
    assert_eq!(declined.code, 0, "{}", declined.stdout);
    assert_eq!(declined.stdout, "Nothing uninstalled.\n");
    assert!(
        declined.stderr.contains("Uninstall 1 services"),
        "{}",
        declined.stderr
    );
    assert!(env.timer_enabled(&r), "declined: nothing removed");

    let tagged = run_with_terminal(&env, &["uninstall", "--tag", "red"], "y\n").ok();
    assert!(!env.timer_enabled(&r) && env.timer_enabled(&b));
    assert_eq!(
        tagged.stdout,
        format!("removed {r} (systemd)\n\nDone: 1 removed, 0 failed\n")
    );
    let all = env.run(&["uninstall", "--all", "--yes"]).ok();
    assert_eq!(
        all.stdout,
        format!("removed {b} (systemd)\n\nDone: 1 removed, 0 failed\n")
    );
    assert_nothing_firing(&env, &b, "uninstall --all --yes");
}

#[test]
fn install_refuses_stage_commands_that_do_not_resolve() {
    let env = TestEnv::new();
    let dir = env.workspace(
        "typo",
        r#"[{"name": "pull", "command": ["gti", "pull"]}, {"name": "local", "command": ["./sync.sh"]}]"#,
        "",
    );
    std::fs::write(dir.join("sync.sh"), "#!/bin/sh\n").unwrap();
    let r = env.run_in(&dir, &["--robot", "install"]);
    assert_eq!(r.code, 14, "{}", r.stdout);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "COMMAND_NOT_FOUND");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("stage 'pull': `gti` not found on PATH"),
        "{message}"
    );
    assert!(
        message.contains("stage 'local': `./sync.sh`") && message.contains("is not executable"),
        "{message}"
    );
    // Nothing was written or scheduled.
    assert!(!env.unit_dir().exists() || std::fs::read_dir(env.unit_dir()).unwrap().count() == 0);
    assert!(env.systemctl_calls().iter().all(|c| !c.contains("enable")));
    assert!(
        !env.data_dir().join("services").exists()
            || env
                .all_files()
                .iter()
                .all(|(p, _)| !p.ends_with("manifest.json"))
    );
    // Single-service doctor says the same.
    let d = env.run_in(&dir, &["--robot", "doctor", "--offline"]);
    assert_eq!(d.code, 10);
    let c = named_check(&data_of(&d), "stage_commands").unwrap().clone();
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["message"].as_str().unwrap().contains("`gti`"), "{c}");
}

#[test]
fn fleet_doctor_sees_moved_workspaces_missing_commands_and_pauses() {
    let env = TestEnv::new();
    let moved = ws(&env, "moved");
    let m = install(&env, &moved, &[]);
    let typo_dir = ws(&env, "typo");
    let t = install(&env, &typo_dir, &[]);
    let p = install(&env, &ws(&env, "paused"), &[]);
    let k = install(&env, &ws(&env, "breaker"), &[]);
    let healthy = data_of(&env.run(&["--robot", "doctor", "--offline"]));
    for id in [&m, &t, &p, &k] {
        finding(&healthy, id, "workspace", "pass");
        finding(&healthy, id, "stage_commands", "pass");
        finding(&healthy, id, "paused", "pass");
    }

    std::fs::rename(&moved, env.path("ws/moved-elsewhere")).unwrap();
    std::fs::write(
        typo_dir.join("syncfleet.json"),
        r#"{"projects": ["https://gitlab.example.com/typo"], "stages": [{"name": "pull", "command": ["gti", "pull"]}]}"#,
    )
    .unwrap();
    env.write_status(
        &p,
        &serde_json::json!({"schema_version": 2, "updated_at_iso": "",
            "paused_reason": "AUTH_FAILED: 401 Unauthorized", "pause_kind": "permanent",
            "last_error_code": "AUTH_FAILED"}),
    );
    env.write_status(
        &k,
        &serde_json::json!({"schema_version": 2, "updated_at_iso": "", "consecutive_failures": 10,
            "paused_reason": "CIRCUIT_BREAKER: 10 transient failures", "pause_kind": "circuit_breaker"}),
    );
    let sick = env.run(&["--robot", "doctor", "--offline"]);
    assert_eq!(sick.code, 10);
    let d = data_of(&sick);
    let w = finding(&d, &m, "workspace", "fail");
    assert!(
        w["action"]
            .as_str()
            .unwrap()
            .contains(&format!("syncfleet move --service {m} NEW_DIR")),
        "{w}"
    );
    assert!(
        w["action"]
            .as_str()
            .unwrap()
            .contains(&format!("syncfleet uninstall --service {m}")),
        "{w}"
    );
    let s = finding(&d, &t, "stage_commands", "fail");
    assert!(s["message"].as_str().unwrap().contains("`gti`"), "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("the PATH recorded at install"),
        "{s}"
    );
    let a = finding(&d, &p, "paused", "fail");
    assert!(
        a["action"]
            .as_str()
            .unwrap()
            .ends_with(&format!("syncfleet resume --service {p}")),
        "{a}"
    );
    let b = finding(&d, &k, "paused", "warn");
    assert!(
        b["action"]
            .as_str()
            .unwrap()
            .contains(&format!("syncfleet resume --service {k}")),
        "{b}"
    );
    // Every finding names a command.
    for s in d["services"].as_array().unwrap() {
        for c in s["checks"].as_array().unwrap() {
            if c["status"] == "fail" || c["status"] == "warn" {
                assert!(
                    c["action"].as_str().unwrap_or("").contains("syncfleet "),
                    "{c}"
                );
            }
        }
    }
    // Single-service doctor of the moved service: not `syncfleet init`.
    let one = data_of(&env.run(&["--robot", "doctor", "--offline", "--service", &m]));
    let config = named_check(&one, "config").unwrap();
    assert!(
        config["action"]
            .as_str()
            .unwrap()
            .contains(&format!("syncfleet move --service {m} NEW_DIR")),
        "{config}"
    );
}

/// Where `install` is killed: a fake scheduler command blocks there (see
/// tests/fake-bin) and the test SIGKILLs install while it waits.
#[derive(Debug, Clone, Copy)]
struct KillPoint {
    scheduler: &'static str,
    hook: &'static str,
    step: &'static str,
    pid_file: &'static str,
    /// Install writes the manifest before it activates the schedule: a
    /// kill after the files are written leaves a complete service (one
    /// that may not fire yet), never a schedule without a manifest.
    manifest_written: bool,
    /// The schedule was active when install was killed.
    firing: bool,
}

const KILL_POINTS: [KillPoint; 6] = [
    // Pre-flight: nothing written yet.
    KillPoint {
        scheduler: "systemd",
        hook: "FAKE_SYSTEMCTL_HANG",
        step: "show",
        manifest_written: false,
        firing: false,
        pid_file: "fake-systemctl/hang.pid",
    },
    // Units written, not loaded.
    KillPoint {
        scheduler: "systemd",
        hook: "FAKE_SYSTEMCTL_HANG",
        step: "daemon-reload",
        manifest_written: true,
        firing: false,
        pid_file: "fake-systemctl/hang.pid",
    },
    // Units loaded, timer not enabled.
    KillPoint {
        scheduler: "systemd",
        hook: "FAKE_SYSTEMCTL_HANG",
        step: "enable",
        manifest_written: true,
        firing: false,
        pid_file: "fake-systemctl/hang.pid",
    },
    // Timer enabled, manifest not written yet.
    KillPoint {
        scheduler: "systemd",
        hook: "FAKE_SYSTEMCTL_HANG_AFTER",
        step: "enable",
        manifest_written: true,
        firing: true,
        pid_file: "fake-systemctl/hang.pid",
    },
    // Block staged, crontab not written.
    KillPoint {
        scheduler: "cron",
        hook: "FAKE_CRONTAB_HANG",
        step: "write",
        manifest_written: true,
        firing: false,
        pid_file: "crontab.hang.pid",
    },
    // Crontab written, manifest not.
    KillPoint {
        scheduler: "cron",
        hook: "FAKE_CRONTAB_HANG",
        step: "written",
        manifest_written: true,
        firing: true,
        pid_file: "crontab.hang.pid",
    },
];

/// Start `install`, wait until the fake blocks at the kill point, SIGKILL
/// install, then end the blocked fake (both started by this test).
fn kill_install_at(env: &TestEnv, dir: &Path, point: KillPoint) {
    let mut cmd = env.command(
        dir,
        &[
            "--robot",
            "install",
            "--interval",
            "5m",
            "--scheduler",
            point.scheduler,
        ],
    );
    cmd.env(point.hook, point.step)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let pid_file = env.path(point.pid_file);
    let reached = wait_for(Duration::from_secs(30), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{point:?}: install ended ({status}) before the kill point");
        }
        pid_file.exists()
    });
    assert!(reached, "{point:?}: never reached");
    child.kill().unwrap();
    child.wait().unwrap();
    kill_pid(pid_from_file(&pid_file));
    std::fs::remove_file(&pid_file).unwrap();
}

#[test]
fn install_killed_at_any_step_is_found_and_cleaned_up() {
    for point in KILL_POINTS {
        for cleanup in [
            &["--robot", "doctor", "--offline", "--fix"][..],
            &["--robot", "uninstall", "--all", "--yes"],
        ] {
            let context = format!("{point:?} then {cleanup:?}");
            let env = TestEnv::new();
            std::fs::write(env.crontab_path(), "MAILTO=me\n").unwrap();
            // A healthy neighbour on the same scheduler.
            let other = install(&env, &ws(&env, "other"), &["--scheduler", point.scheduler]);
            let dir = ws(&env, "killed");
            let id = env
                .run_in(&dir, &["--robot", "install", "--dry-run"])
                .json()["data"]["service_id"]
                .as_str()
                .unwrap()
                .to_string();
            kill_install_at(&env, &dir, point);

            // Either a complete service or nothing that fires; files
            // without a manifest are an orphan that fleet doctor reports
            // with the command removing it.
            let complete = env.service_dir(&id).join("manifest.json").exists();
            let firing = env.timer_enabled(&id) || has_cron_block(&env, &id);
            assert_eq!(complete, point.manifest_written, "{context}");
            assert_eq!(firing, point.firing, "{context}");
            assert!(
                !firing || complete,
                "{context}: a schedule fires without a manifest"
            );
            if !complete && (firing || !env.unit_files(&id).is_empty()) {
                let d = data_of(&env.run(&["--robot", "doctor", "--offline"]));
                let f = finding(&d, &id, "orphan", "fail");
                assert!(
                    f["action"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("syncfleet uninstall --service {id}")),
                    "{context}: {f}"
                );
            }
            if complete {
                // A complete service: install finishes it, uninstall removes it.
                let again = env.run_in(&dir, &["--robot", "install"]);
                assert_eq!(again.code, 0, "{context}: {}", again.stdout);
                assert!(
                    env.timer_enabled(&id) || has_cron_block(&env, &id),
                    "{context}"
                );
                let gone = env.run(&["--robot", "uninstall", "--service", &id]);
                assert_eq!(gone.code, 0, "{context}: {}", gone.stdout);
            }
            let r = env.run(cleanup);
            assert!(r.code == 0 || r.code == 10, "{context}: {}", r.stdout);
            assert_nothing_firing(&env, &id, &context);
            // The neighbour is untouched by doctor --fix.
            if cleanup[1] == "doctor" {
                let scheduled = env.timer_enabled(&other) || has_cron_block(&env, &other);
                assert!(
                    scheduled,
                    "{context}: the healthy service lost its schedule"
                );
            } else {
                assert_nothing_firing(&env, &other, &context);
            }
        }
    }
}
