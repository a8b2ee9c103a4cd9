//! The Prometheus metrics files and `syncfleet metrics`, through the real
//! binary: the exact exposition of a small fleet, the files following runs
//! (a run rewrites only its own service's file) and admin changes, the
//! migration from the single file, a failed write that never fails a run,
//! and the real `promtool` on the output, on each file and on the shipped
//! alert rules.
mod common;

use common::{TestEnv, stage, stages, tool_available, write_executable};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TOKEN: &str = "Zq8vW3xY7kPm4Rt";
const NOW: &str = "2026-03-01T12:00:00Z";

fn metrics_dir(env: &TestEnv) -> PathBuf {
    env.data_dir().join("metrics")
}

/// The files of a metrics directory, by name (sorted), with their text.
fn files_in(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The samples of a text, sorted: what node_exporter merges across files.
fn samples(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

/// Every file of the directory, concatenated in name order.
fn all_text(dir: &Path) -> String {
    files_in(dir).into_iter().map(|(_, text)| text).collect()
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
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
/// durations. The hashed id sorts before or after the named services
/// depending on the temp root, so its samples are moved first in each
/// family (a stable move: the order within a service stays).
fn normalized(env: &TestEnv, text: &str, hashed_id: &str) -> String {
    let sums = varying_values_out(text);
    let replaced = sums
        .replace(&env.dir.path().display().to_string(), "[TMP]")
        .replace(hashed_id, "[ID]")
        .replace(
            &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
            "version=\"[VERSION]\"",
        );
    let mut out = String::with_capacity(replaced.len());
    let mut family: Vec<&str> = Vec::new();
    let flush = |family: &mut Vec<&str>, out: &mut String| {
        family.sort_by_key(|line| !line.contains("service_id=\"[ID]\""));
        for line in family.drain(..) {
            out.push_str(line);
            out.push('\n');
        }
    };
    for line in replaced.lines() {
        if line.starts_with('#') {
            flush(&mut family, &mut out);
            out.push_str(line);
            out.push('\n');
        } else {
            family.push(line);
        }
    }
    flush(&mut family, &mut out);
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
    let dir = metrics_dir(&env);
    let files = files_in(&dir);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    let mut expected = vec!["syncfleet-fleet.prom".to_string()];
    expected.extend(ids.iter().map(|id| format!("syncfleet-svc-{id}.prom")));
    expected.sort();
    assert_eq!(names, expected, "one file per service, one for the fleet");
    assert_eq!(
        samples(&printed),
        samples(&all_text(&dir)),
        "the command prints what the files hold between them"
    );
    for (name, text) in &files[1..] {
        let id = &name["syncfleet-svc-".len()..name.len() - ".prom".len()];
        for line in samples(text) {
            assert!(
                line.contains(&format!("service_id=\"{id}\"")),
                "{name}: {line}"
            );
        }
    }
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
    assert_eq!(robot["data"]["path"], dir.display().to_string());
    for (name, _) in &files {
        assert_eq!(mode_of(&dir.join(name)), 0o644, "{name}");
    }
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
    let fleet_file = dir.join("syncfleet-fleet.prom");
    let read = || all_text(&dir);
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

    // The single file of earlier versions goes on the first write; files
    // not named syncfleet-* are never touched.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("syncfleet.prom"), "syncfleet_old 1\n").unwrap();
    std::fs::write(dir.join("other.prom"), "other 1\n").unwrap();
    let id = env.install_in(&ws, &[]);
    assert_eq!(mode_of(&dir), 0o755, "node_exporter must reach the files");
    let own = dir.join(format!("syncfleet-svc-{id}.prom"));
    assert_eq!(mode_of(&fleet_file), 0o644);
    assert_eq!(mode_of(&own), 0o644);
    assert!(!dir.join("syncfleet.prom").exists(), "the old file is gone");
    std::fs::remove_file(dir.join("other.prom")).unwrap();
    assert!(
        !env.data_dir().join("metrics").exists(),
        "only one directory"
    );
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
    assert_eq!(
        leftovers,
        ["syncfleet-fleet.prom"],
        "no temporary file left"
    );
}

#[test]
fn a_run_rewrites_only_its_own_service_file() {
    let env = TestEnv::new();
    let a = env.workspace("a", &stages(&[stage("pull", &["ok"], "")]), "");
    let b = env.workspace("b", &stages(&[stage("pull", &["ok"], "")]), "");
    let id_a = env.install_in(&a, &[]);
    let id_b = env.install_in(&b, &[]);
    let dir = metrics_dir(&env);
    let file_a = dir.join(format!("syncfleet-svc-{id_a}.prom"));
    let file_b = dir.join(format!("syncfleet-svc-{id_b}.prom"));
    let fleet_file = dir.join("syncfleet-fleet.prom");
    let (ino_a, ino_b, ino_fleet) = (inode(&file_a), inode(&file_b), inode(&fleet_file));
    let before_b = std::fs::read_to_string(&file_b).unwrap();

    env.run_service(&id_a);
    assert_ne!(inode(&file_a), ino_a, "a's file was replaced");
    assert_ne!(inode(&fleet_file), ino_fleet, "the fleet file too");
    assert_eq!(inode(&file_b), ino_b, "b's file was left alone");
    assert_eq!(std::fs::read_to_string(&file_b).unwrap(), before_b);
    let text_a = std::fs::read_to_string(&file_a).unwrap();
    assert!(
        text_a.contains(&format!(
            "syncfleet_service_runs_total{{service_id=\"{id_a}\""
        )) && text_a.contains("outcome=\"success\"} 1"),
        "{text_a}"
    );

    // An admin change rewrites only the files that changed, and removes
    // the file of a service that is no longer installed.
    let stale = dir.join("syncfleet-svc-gone.prom");
    std::fs::write(&stale, "").unwrap();
    let ino_a = inode(&file_a);
    env.run_in(&b, &["pause"]).ok();
    assert_eq!(inode(&file_a), ino_a, "a did not change");
    assert!(
        std::fs::read_to_string(&file_b)
            .unwrap()
            .contains("kind=\"manual\"} 1")
    );
    assert!(!stale.exists(), "a stale service file is removed");

    // A fleet file of another layout (another version wrote it) makes the
    // next run rewrite every file: node_exporter drops a family whose
    // HELP differs between files.
    let fleet_text = std::fs::read_to_string(&fleet_file).unwrap();
    let (first, rest) = fleet_text.split_once('\n').unwrap();
    assert!(first.starts_with("# syncfleet metrics layout "), "{first}");
    std::fs::write(
        &fleet_file,
        format!("# syncfleet metrics layout old\n{rest}"),
    )
    .unwrap();
    std::fs::write(&file_b, "# HELP syncfleet_service_paused old\n").unwrap();
    env.run_service(&id_a);
    assert!(
        std::fs::read_to_string(&file_b)
            .unwrap()
            .contains("kind=\"manual\"} 1")
    );
    assert_eq!(
        std::fs::read_to_string(&fleet_file).unwrap().lines().next(),
        Some(first)
    );

    // Uninstalling removes the service's file.
    env.run_in(&a, &["uninstall", "--yes"]).ok();
    assert!(!file_a.exists());
    assert!(file_b.exists());
}

#[test]
fn metrics_dir_is_kept_for_every_later_command_and_scheduled_run() {
    let env = TestEnv::new();
    let ws = env.workspace("a", &stages(&[stage("pull", &["ok"], "")]), "");
    let id = env.install_in(&ws, &[]);
    let default_dir = metrics_dir(&env);
    let textfile = env.path("textfile");
    assert!(default_dir.join("syncfleet-fleet.prom").exists());

    let moved = env.json(&["metrics", "--dir", textfile.to_str().unwrap()]);
    assert_eq!(moved["ok"], true, "{moved}");
    assert_eq!(moved["data"]["path"], textfile.display().to_string());
    assert!(textfile.join("syncfleet-fleet.prom").exists());
    assert!(textfile.join(format!("syncfleet-svc-{id}.prom")).exists());
    assert!(
        files_in(&default_dir).is_empty(),
        "the old directory keeps none of the files: {:?}",
        files_in(&default_dir)
    );
    // A scheduled run, with no SYNCFLEET_METRICS_DIR in its environment,
    // writes where `--dir` said.
    env.run_service(&id);
    let text = std::fs::read_to_string(textfile.join(format!("syncfleet-svc-{id}.prom"))).unwrap();
    assert!(text.contains("outcome=\"success\"} 1"), "{text}");
    assert!(files_in(&default_dir).is_empty());

    // '' goes back to the data directory.
    let back = env.json(&["metrics", "--dir", ""]);
    assert_eq!(back["data"]["path"], default_dir.display().to_string());
    assert!(
        default_dir
            .join(format!("syncfleet-svc-{id}.prom"))
            .exists()
    );
    assert!(files_in(&textfile).is_empty(), "{:?}", files_in(&textfile));
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
        log.contains("warning: the metrics files were not rewritten"),
        "{log}"
    );
    // An admin command says so on stderr and still succeeds.
    let paused = env.run_in(&ws, &["pause"]).ok();
    assert!(
        paused
            .stderr
            .contains("the metrics files were not rewritten"),
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
    // Each file on its own passes too (node_exporter parses them one by one).
    let dir = metrics_dir(&env);
    for (name, text) in files_in(&dir) {
        let (ok, said) = promtool_check_metrics(&text);
        assert!(ok, "promtool check metrics {name}: {said}\n{text}");
    }
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
