//! The Prometheus metrics file and `syncfleet metrics`, through the real
//! binary: the exact exposition of a small fleet, the file following runs
//! and admin changes, a failed write that never fails a run, and the real
//! `promtool` on the output and on the shipped alert rules.
mod common;

use common::{TestEnv, stage, stages, tool_available, write_executable};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TOKEN: &str = "Zq8vW3xY7kPm4Rt";
const NOW: &str = "2026-03-01T12:00:00Z";

fn metrics_file(env: &TestEnv) -> PathBuf {
    env.data_dir().join("metrics/syncfleet.prom")
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Three services at a fixed time: "alpha" (named, tagged) succeeds;
/// the one in a directory named with a quote and a backslash fails
/// transiently with a token in its environment, then skips in backoff;
/// "gamma" hits a permanent error and pauses.
fn small_fleet(env: &mut TestEnv) -> Vec<String> {
    env.set_env("SYNCFLEET_NOW", NOW);
    env.set_env("SF_TOKEN", TOKEN);
    let alpha = env.workspace(
        "alpha",
        &stages(&[stage("pull", &["ok", "2"], "")]),
        r#""name": "alpha", "tags": ["team-b", "x\"y\\z"]"#,
    );
    let leaky = env.path("leaky.sh");
    write_executable(&leaky, "#!/bin/sh\necho \"using $SF_TOKEN\" >&2\nexit 1\n");
    let weird = env.workspace(
        "we\"ird\\ws",
        &format!(
            r#"[{{"name": "pull", "command": ["{}"]}}]"#,
            leaky.display()
        ),
        r#""token_env_var": "SF_TOKEN""#,
    );
    let gamma = env.workspace(
        "gamma",
        &stages(&[stage("pull", &["permanent"], "")]),
        r#""name": "gamma""#,
    );
    let mut ids = Vec::new();
    for ws in [&alpha, &weird, &gamma] {
        let id = env.install_in(ws, &["--interval", "15m"]);
        env.run_in(ws, &["trigger"]);
        ids.push(id);
    }
    // In backoff now: a skip, counted by reason.
    assert_eq!(env.run_in(&weird, &["trigger"]).code, 0);
    ids
}

/// The exposition with what varies from machine to machine replaced: the
/// temp root, the id hashed from it, the version, and the sums of run
/// durations.
fn normalized(env: &TestEnv, text: &str, hashed_id: &str) -> String {
    let sums = varying_values_out(text);
    let replaced = sums
        .replace(&env.dir.path().display().to_string(), "[TMP]")
        .replace(hashed_id, "[ID]")
        .replace(
            &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
            "version=\"[VERSION]\"",
        );
    samples_sorted_within_families(&replaced)
}

/// The hashed id moves with the temp root, and with it the service's place
/// among the others (services are in id order): each family's samples
/// sorted, so that the snapshot does not depend on it.
fn samples_sorted_within_families(text: &str) -> String {
    let mut out = String::new();
    let mut samples: Vec<&str> = Vec::new();
    let flush = |samples: &mut Vec<&str>, out: &mut String| {
        samples.sort();
        for s in samples.drain(..) {
            out.push_str(s);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut samples, &mut out);
            out.push_str(line);
            out.push('\n');
        } else {
            samples.push(line);
        }
    }
    flush(&mut samples, &mut out);
    out
}

/// `…_sum{…} 0.123` → `…_sum{…} [SUM]`, and the same for the 1 s and 5 s
/// buckets: real runs take a few milliseconds, or seconds on a loaded
/// machine. (The unit tests of `metrics` check the histogram exactly.)
fn varying_values_out(text: &str) -> String {
    text.lines()
        .map(|line| {
            let varies = !line.starts_with('#')
                && (line.contains("_seconds_sum{")
                    || line.ends_with("le=\"1\"} 1")
                    || line.ends_with("le=\"1\"} 0")
                    || line.ends_with("le=\"5\"} 1")
                    || line.ends_with("le=\"5\"} 0"));
            match line.rsplit_once(' ') {
                Some((series, _)) if varies => format!("{series} [VARIES]\n"),
                _ => format!("{line}\n"),
            }
        })
        .collect()
}

#[test]
fn the_exposition_of_a_small_fleet_is_exact_escaped_and_tokenless() {
    let mut env = TestEnv::new();
    let ids = small_fleet(&mut env);
    let printed = env.run(&["metrics"]).ok().stdout;
    let file = std::fs::read_to_string(metrics_file(&env)).unwrap();
    assert_eq!(printed, file, "the command prints what the file holds");
    for i in 0..=TOKEN.len() - 6 {
        assert!(!printed.contains(&TOKEN[i..i + 6]), "a piece of the token");
    }
    insta::assert_snapshot!(
        "exposition_small_fleet",
        normalized(&env, &printed, &ids[1])
    );

    let robot = env.json(&["metrics"]);
    assert_eq!(robot["ok"], true);
    assert_eq!(robot["data"]["exposition"], printed.as_str());
    assert_eq!(
        robot["data"]["path"],
        metrics_file(&env).display().to_string()
    );
    assert_eq!(mode_of(&metrics_file(&env)), 0o644);
    for (path, bytes) in env.all_files() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(TOKEN) || path.ends_with("env"), "{path:?}");
    }
}

#[test]
fn the_file_follows_runs_and_admin_changes_in_the_metrics_dir() {
    let mut env = TestEnv::new();
    let dir = env.path("textfile/collector");
    env.set_env("SYNCFLEET_METRICS_DIR", &dir.display().to_string());
    let ws = env.workspace("one", &stages(&[stage("pull", &["ok"], "")]), "");
    let file = dir.join("syncfleet.prom");
    let read = || std::fs::read_to_string(&file).unwrap();
    let series = |text: &str, prefix: &str| -> String {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit_once(' ').unwrap().1.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };

    // A command that fails on an empty machine writes nothing.
    assert_ne!(env.run_in(&ws, &["pause"]).code, 0);
    assert!(!dir.exists());

    let id = env.install_in(&ws, &[]);
    assert_eq!(mode_of(&dir), 0o755, "node_exporter must reach the file");
    assert_eq!(mode_of(&file), 0o644);
    assert!(!env.data_dir().join("metrics").exists(), "only one file");
    assert_eq!(series(&read(), "syncfleet_service_runs_total{"), "0 0 0 0");

    env.run_service(&id);
    assert_eq!(series(&read(), "syncfleet_service_runs_total{"), "1 0 0 0");

    env.run_in(&ws, &["pause", "--reason", "maintenance"]).ok();
    assert_eq!(series(&read(), "syncfleet_service_paused{"), "1 0 0");
    assert_eq!(
        series(&read(), "syncfleet_service_state{"),
        "0 0 0 0 0 0 0 1",
        "one-hot: paused"
    );
    env.run_service(&id);
    let text = read();
    assert!(
        text.contains(&format!(
            "syncfleet_service_skips_total{{service_id=\"{id}\""
        )) && series(&text, "syncfleet_service_skips_total{") == "0 0 1",
        "{text}"
    );
    env.run_in(&ws, &["resume"]).ok();
    assert_eq!(series(&read(), "syncfleet_service_paused{"), "0 0 0");

    env.run_in(&ws, &["uninstall", "--yes"]).ok();
    assert!(!read().contains("syncfleet_service_"), "{}", read());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["syncfleet.prom"], "no temporary file left");
}

#[test]
fn a_metrics_file_that_cannot_be_written_is_a_warning_never_a_failed_run() {
    let mut env = TestEnv::new();
    let blocker = env.path("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    env.set_env(
        "SYNCFLEET_METRICS_DIR",
        &blocker.join("sub").display().to_string(),
    );
    let ws = env.workspace("one", &stages(&[stage("pull", &["ok"], "")]), "");
    let id = env.install_in(&ws, &[]);
    let r = env.run(&["run", "--service-id", &id]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["data"]["outcome"], "success", "{}", r.stdout);
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    assert!(
        log.contains("warning: the metrics file was not rewritten"),
        "{log}"
    );
    // An admin command says so on stderr and still succeeds.
    let paused = env.run_in(&ws, &["pause"]).ok();
    assert!(
        paused.stderr.contains("the metrics file was not rewritten"),
        "{}",
        paused.stderr
    );
}

/// `promtool check metrics` (stdin) on the real output: exit 0, no lint.
fn promtool_check_metrics(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && said.trim().is_empty(), said)
}

#[test]
fn promtool_accepts_the_real_output() {
    if !tool_available("promtool", "checking the metrics exposition") {
        return;
    }
    let mut env = TestEnv::new();
    small_fleet(&mut env);
    let text = env.run(&["metrics"]).ok().stdout;
    let (ok, said) = promtool_check_metrics(&text);
    assert!(ok, "promtool check metrics: {said}\n{text}");
    // The check can fail: a counter without its _total suffix is linted.
    let broken = text.replace(
        "syncfleet_service_runs_total",
        "syncfleet_service_runs_count",
    );
    assert!(!promtool_check_metrics(&broken).0);
    // An empty fleet is a valid file too.
    let empty = TestEnv::new();
    let (ok, said) = promtool_check_metrics(&empty.run(&["metrics"]).ok().stdout);
    assert!(ok, "{said}");
}

#[test]
fn promtool_checks_and_tests_the_shipped_alert_rules() {
    if !tool_available("promtool", "checking and testing the alert rules") {
        return;
    }
    let dir = common::repo().join("contrib/prometheus");
    for args in [
        ["check", "rules", "syncfleet.rules.yml"],
        ["test", "rules", "syncfleet.rules.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
