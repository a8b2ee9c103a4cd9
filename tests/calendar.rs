//! `syncfleet calendar` as people and programs read it: snapshots of the
//! human and the robot output with the clock stopped (SYNCFLEET_NOW) and
//! the local zone fixed, so every time in them is exact. The elapses
//! themselves are proven against systemd in tests/calendar_oracle.rs.
mod common;

use common::TestEnv;

fn env_in(tz: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("TZ", tz);
    env.set_env("SYNCFLEET_NOW", "2026-12-02T09:52:00Z");
    env
}

/// stdout, then stderr when there is any, then the exit status.
fn output(env: &TestEnv, args: &[&str]) -> String {
    let r = env.run(args);
    let mut text = r.stdout;
    if !r.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&r.stderr);
    }
    text.push_str(&format!("--- exit {}\n", r.code));
    text
}

macro_rules! snap {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![(r#""elapsed_ms":\d+"#, r#""elapsed_ms":[MS]"#)],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

#[test]
fn human_output() {
    let env = env_in("Europe/Berlin");
    snap!(
        "calendar_human_zone",
        output(
            &env,
            &[
                "calendar",
                "Mon..Fri 09:30 America/New_York",
                "--iterations",
                "3"
            ]
        )
    );
    snap!(
        "calendar_human_local_dst",
        output(
            &env,
            &[
                "calendar",
                "*-*-* 02:30",
                "--iterations",
                "2",
                "--base-time",
                "2026-03-28 00:00",
            ]
        )
    );
    snap!(
        "calendar_human_never",
        output(&env, &["calendar", "*-02-30"])
    );
    snap!(
        "calendar_human_invalid",
        output(&env, &["calendar", "Mon..Fry 10:00"])
    );
}

#[test]
fn robot_output() {
    let env = env_in("UTC");
    snap!(
        "calendar_robot_timezone_flag",
        output(
            &env,
            &[
                "-J",
                "calendar",
                "*:0/20",
                "--timezone",
                "Europe/Berlin",
                "--base-time",
                "2026-10-25T00:10:00Z",
                "--iterations",
                "4",
            ]
        )
    );
    snap!(
        "calendar_robot_local",
        output(&env, &["-J", "calendar", "hourly", "--iterations", "2"])
    );
    snap!(
        "calendar_robot_bad_timezone",
        output(
            &env,
            &["-J", "calendar", "daily", "--timezone", "Mars/Olympus"]
        )
    );
    snap!(
        "calendar_robot_bad_base_time",
        output(
            &env,
            &["-J", "calendar", "daily", "--base-time", "tomorrow"]
        )
    );
}

#[test]
fn zone_conflict_and_iterations_bounds() {
    let env = env_in("UTC");
    let r = env.run(&[
        "-J",
        "calendar",
        "daily Europe/Berlin",
        "--timezone",
        "America/New_York",
    ]);
    let err = common::error_of(&r, 25, "CALENDAR_INVALID");
    assert!(
        err["message"].as_str().unwrap().contains("Europe/Berlin"),
        "{err}"
    );
    let r = env.run(&["-J", "calendar", "daily", "--iterations", "0"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    // The same zone twice is no conflict.
    let data = common::data_of(&env.run(&[
        "-J",
        "calendar",
        "daily Europe/Berlin",
        "--timezone",
        "Europe/Berlin",
    ]));
    assert_eq!(data["timezone_from"], "expression");
    assert_eq!(data["next_elapse"][0], "2026-12-03T00:00:00+01:00");
}
