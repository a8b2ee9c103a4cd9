//! Snapshots of the human output of every `Render` implementation, driven
//! through the real binary: a change to what people read shows up in
//! review as a snapshot diff. Paths, ids, times and durations are
//! normalised; the temp root has a fixed length so table layouts are
//! stable across machines.
mod common;

use common::{TestEnv, stage, stages};
use std::path::Path;

fn snapshot_env() -> TestEnv {
    let dir = tempfile::Builder::new()
        .prefix("sf-snap-")
        .rand_bytes(6)
        .tempdir_in("/tmp")
        .unwrap();
    for sub in ["home", "config", "share", "data", "fake-systemctl"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let mut env = TestEnv {
        dir,
        extra_env: Vec::new(),
    };
    env.set_env("TZ", "UTC");
    env.set_env("COLUMNS", "80");
    env
}

/// stdout (and stderr, when there is any) of a human-mode run, with the
/// temp root and the binary's path replaced.
fn human(env: &TestEnv, cwd: &Path, args: &[&str]) -> String {
    let r = env.run_in(cwd, args);
    let mut text = r.stdout;
    if !r.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&r.stderr);
    }
    text.push_str(&format!("--- exit {}\n", r.code));
    text.replace(common::BIN, "[BIN]")
        .replace(&env.dir.path().display().to_string(), "[TMP]")
}

macro_rules! snap {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![
                // The owner tag hashes the (temporary) data directory.
                (r"syncfleet-data-dir: [0-9a-f]{16}", "syncfleet-data-dir: [OWNER]"),
                (r"\b[0-9a-f]{13}-[0-9a-f]{8}\b", "[RUN]"),
                (r"\b[0-9a-f]{12}\b", "[ID]"),
                (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[ISO]"),
                (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?( [+-]\d{2}:\d{2}| UTC)?", "[TIME]"),
                (r"\d{4}-\d{2}-\d{2}", "[DATE]"),
                (r"\(in \d+m\d+s\)", "(in [LEFT])"),
                (r"\b\d+\.\d{3}s\b", "[SECS]"),
                // Run durations vary, and so does the padding that aligns
                // them: both go.
                (r" *\b(\d{1,3}ms|\d{1,2}\.\ds)\b *", " [DUR] "),
                // Columns as wide as a duration, so with varying padding.
                (r"\b(P50|P95) +", "$1 "),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

#[test]
fn a_service_through_its_life() {
    let env = snapshot_env();
    let ws = env.workspace(
        "alpha",
        &stages(&[
            stage("pull", &["ok", "3"], ""),
            stage("docs", &["fail"], r#""optional": true"#),
        ]),
        r#""name": "alpha", "tags": ["team-a"]"#,
    );
    snap!(
        "init_existing",
        human(&env, &ws, &["init", "--stage", "x=true"])
    );
    snap!("status_not_installed", human(&env, &ws, &["status"]));
    snap!("install", human(&env, &ws, &["install"]));
    snap!("install_again", human(&env, &ws, &["install"]));
    snap!(
        "install_dry_run",
        human(&env, &ws, &["install", "--dry-run", "--interval", "1h"])
    );
    snap!("trigger_degraded", human(&env, &ws, &["trigger"]));
    snap!("status_degraded", human(&env, &ws, &["status"]));
    snap!("list", human(&env, &ws, &["list"]));
    snap!("history", human(&env, &ws, &["history", "--stages"]));
    snap!("report", human(&env, &ws, &["report"]));
    snap!(
        "report_by_day",
        human(&env, &ws, &["report", "--by", "day"])
    );
    snap!("logs", human(&env, &ws, &["logs", "--tail", "3"]));
    snap!(
        "pause",
        human(&env, &ws, &["pause", "--reason", "maintenance"])
    );
    snap!("status_paused", human(&env, &ws, &["status"]));
    snap!("trigger_paused", human(&env, &ws, &["trigger"]));
    snap!("resume", human(&env, &ws, &["resume"]));
    snap!("resume_not_paused", human(&env, &ws, &["resume"]));
    snap!("repair_nothing", human(&env, &ws, &["repair"]));
    snap!(
        "prune_dry_run",
        human(&env, &ws, &["prune", "--older-than", "0s", "--dry-run"])
    );
    snap!("reindex", human(&env, &ws, &["reindex"]));
    let new_home = env.path("ws/alpha-moved");
    std::fs::rename(&ws, &new_home).unwrap();
    snap!(
        "status_workspace_gone",
        human(&env, &new_home, &["status", "--service", "alpha"])
    );
    snap!(
        "move",
        human(
            &env,
            &new_home,
            &["move", "--service", "alpha", new_home.to_str().unwrap()]
        )
    );
    snap!("uninstall", human(&env, &new_home, &["uninstall"]));
    snap!("uninstall_again", human(&env, &new_home, &["uninstall"]));
}

#[test]
fn failures_backoff_and_batches() {
    let env = snapshot_env();
    let ws = env.workspace(
        "beta",
        &stages(&[stage("pull", &["fail"], "")]),
        r#""name": "beta""#,
    );
    let other = env.workspace(
        "gamma",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""name": "gamma""#,
    );
    human(&env, &ws, &["install"]);
    human(&env, &other, &["install"]);
    snap!("trigger_failed", human(&env, &ws, &["trigger"]));
    snap!("status_backoff", human(&env, &ws, &["status"]));
    snap!("trigger_backoff", human(&env, &ws, &["trigger"]));
    snap!(
        "trigger_batch",
        human(
            &env,
            &ws,
            &[
                "trigger",
                "--service",
                "beta",
                "--service",
                "gamma",
                "--ignore-backoff"
            ]
        )
    );
    snap!("sync", human(&env, &other, &["sync"]));
    std::fs::remove_file(env.unit_dir().join("syncfleet-gamma.timer")).unwrap();
    snap!("status_drift", human(&env, &other, &["status"]));
    snap!(
        "error_unknown_service",
        human(&env, &ws, &["status", "--service", "nosuch"])
    );
    snap!(
        "doctor_offline",
        human(&env, &other, &["doctor", "--offline"])
    );
    snap!(
        "uninstall_all",
        human(&env, &ws, &["uninstall", "--all", "--yes"])
    );
}

#[test]
fn robot_docs_and_init() {
    let env = snapshot_env();
    let dir = env.path("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    snap!(
        "init",
        human(
            &env,
            &dir,
            &[
                "init",
                "--stage",
                "pull=git pull --ff-only",
                "--optional-stage",
                "docs=make docs"
            ]
        )
    );
    let docs = human(&env, &dir, &["robot-docs"]);
    snap!(
        "robot_docs_head",
        docs.lines().take(20).collect::<Vec<_>>().join("\n")
    );
}
