//! The fault-injection suite (issue 9): SIGKILLed runs and admin commands,
//! 50 services at once, simultaneous triggers of one service, and a
//! corpus of hostile inputs. Every check is an invariant that must hold:
//! state files parse, no completed run is lost, no stage process outlives
//! its runner, nothing panics, every error has a stable code and a fix.
//!
//! Ignored by default (slow, and it SIGKILLs processes); `.ci/run` runs
//! `cargo test --test faults -- --ignored --nocapture`. Each test prints
//! its figures in one block. `SYNCFLEET_FAULTS_KILLS` (200) sets how many
//! runs are killed; `SYNCFLEET_FAULTS_SEED` replays a sequence of kill
//! moments (each test prints its seed).

mod common;
#[path = "faults/corpus.rs"]
mod corpus;
#[path = "faults/support.rs"]
mod support;

use common::*;
use rand::Rng;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

/// Generous: a debug binary on a busy 2-core machine.
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// A unique value for `FAULTS_TAG`: every process a test's stages start
/// inherits it, which is how leftovers are found in /proc.
fn tag_of(env: &TestEnv) -> String {
    env.dir.path().display().to_string()
}

fn install(env: &TestEnv, ws: &Path, extra: &[&str]) -> String {
    let mut args = vec!["install"];
    args.extend_from_slice(extra);
    let out = env.json_in(ws, &args);
    assert_eq!(out["ok"], true, "{out}");
    out["data"]["service_id"].as_str().unwrap().to_string()
}

fn envelope(f: &Finished) -> Option<Value> {
    serde_json::from_str(&f.run.stdout).ok()
}

/// The run ids service.log says finished ("=== run ID finished: …").
fn finished_in_log(env: &TestEnv, id: &str) -> BTreeSet<String> {
    let logs = env.service_dir(id).join("logs");
    let mut ids = BTreeSet::new();
    for path in files_under(&logs) {
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("service.log"))
        {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        for line in text.lines() {
            if let Some(rest) = line.split_once("=== run ").map(|(_, r)| r)
                && let Some((run_id, tail)) = rest.split_once(' ')
                && tail.starts_with("finished")
            {
                ids.insert(run_id.to_string());
            }
        }
    }
    ids
}

/// A stage that starts a helper process (a grandchild of the runner) and
/// cleans it up itself when it finishes normally: killed mid-stage, the
/// helper is what outlives a runner that does not take its stages down.
const STAGE_WITH_HELPER: &str = r#"#!/bin/sh
sleep 600 &
helper=$!
sleep 0.1
kill "$helper" 2>/dev/null
wait "$helper" 2>/dev/null
echo '{"items_updated": 1}'
"#;

#[test]
#[ignore = "fault-injection suite: .ci/run runs it with --ignored"]
fn sigkilled_runs_lose_nothing_and_leave_no_stage_process() {
    use_tmpfs();
    let started = Instant::now();
    let mut fig = Figures::default();
    let mut rng = rng("sigkilled_runs");
    let mut env = TestEnv::new();
    let tag = tag_of(&env);
    env.set_env("FAULTS_TAG", &tag);
    let helper = env.path("stage-with-helper.sh");
    std::fs::write(&helper, STAGE_WITH_HELPER).unwrap();
    let ws = env.workspace(
        "killed",
        &stages(&[
            format!(
                r#"{{"name": "work", "command": ["sh", {}]}}"#,
                serde_json::to_string(&helper.display().to_string()).unwrap()
            ),
            stage("after", &["ok", "1"], ""),
        ]),
        "",
    );
    let id = install(&env, &ws, &[]);
    let run_cmd = || env.command(env.dir.path(), &["run", "--service-id", &id]);

    // Completed runs, as the runs reported them (stdout) and as the log did.
    let mut completed: BTreeSet<String> = BTreeSet::new();
    let first = run_until(run_cmd(), COMMAND_DEADLINE);
    fig.saw("first run", &first);
    let v = envelope(&first).expect("the undisturbed run prints JSON");
    assert_eq!(v["data"]["action"], "sync_completed", "{v}");
    completed.insert(v["data"]["run_id"].as_str().unwrap().to_string());
    // Kill moments spread over a whole run, from process start to exit.
    let span_ms = (first.elapsed.as_millis() as u64 * 13 / 10).max(50);

    let mut corrupt: BTreeSet<String> = BTreeSet::new();
    let n = kills_wanted();
    let mut attempts = 0;
    while fig.runs_killed < n && attempts < n * 3 {
        attempts += 1;
        let delay = Duration::from_millis(rng.random_range(0..span_ms));
        let f = run_until(run_cmd(), delay);
        fig.saw("run", &f);
        match f.ending {
            Ending::Killed => fig.runs_killed += 1,
            Ending::Exited(0) => match envelope(&f) {
                Some(v) if v["data"]["action"] == "sync_completed" => {
                    completed.insert(v["data"]["run_id"].as_str().unwrap().to_string());
                }
                Some(v) if v["ok"] == true => {}
                other => fig.fail(format!("run printed {other:?}; stderr {}", f.run.stderr)),
            },
            other => fig.fail(format!("run ended {other:?} (the scheduler's run exits 0)")),
        }
        corrupt.extend(state_problems(&env.data_dir()));
    }

    // The next run works: it completes and is recorded.
    let next = run_until(run_cmd(), COMMAND_DEADLINE);
    fig.saw("run after the kills", &next);
    match envelope(&next) {
        Some(v) if v["data"]["action"] == "sync_completed" => {
            completed.insert(v["data"]["run_id"].as_str().unwrap().to_string());
        }
        other => fig.fail(format!(
            "the run after {} kills did not complete: {other:?} {}",
            fig.runs_killed, next.run.stderr
        )),
    }
    corrupt.extend(state_problems(&env.data_dir()));
    let status = env.json(&["status", "--service", &id]);
    if status["ok"] != true {
        fig.fail(format!("status after the kills: {status}"));
    }

    // No completed run lost: in runs.jsonl, and in history.
    completed.extend(finished_in_log(&env, &id));
    let file = runs_file(&env.service_dir(&id).join("runs.jsonl"));
    let in_file: BTreeSet<String> = file.run_ids.iter().cloned().collect();
    let mut lost: BTreeSet<String> = completed.difference(&in_file).cloned().collect();
    for run in &lost {
        fig.fail(format!("completed run {run} is not in runs.jsonl"));
    }
    match history_ids(&env, Some(&id)) {
        Ok(history) => {
            for run in in_file.union(&completed).filter(|r| !history.contains(*r)) {
                fig.fail(format!("run {run} is not in history"));
                lost.insert(run.clone());
            }
        }
        Err(e) => fig.fail(format!("history after the kills: {e}")),
    }
    fig.runs_lost = lost.len();

    // No stage process left, after a bounded wait.
    let left = reap_marked(&tag, Duration::from_secs(3));
    fig.processes_left = left.len();
    if !left.is_empty() {
        fig.fail(format!(
            "{} stage processes outlived their killed runner, e.g. {}",
            left.len(),
            left[0]
        ));
    }
    fig.files_corrupt = corrupt.len();
    for c in corrupt {
        fig.fail(format!("corrupt: {c}"));
    }
    eprintln!(
        "sigkilled runs: {} attempts, {} completed runs recorded, run span {span_ms} ms",
        attempts,
        completed.len()
    );
    fig.finish("sigkilled runs", started);
}

/// Whether this syncfleet's `uninstall` has `--yes` (added with issue 8;
/// robot mode then requires it for `--all`).
fn uninstall_takes_yes(env: &TestEnv) -> bool {
    env.run(&["uninstall", "--help"]).stdout.contains("--yes")
}

/// Synthetic runs of `id` from `days_ago` days back, one second apart,
/// shaped like `template` (a real line of its runs.jsonl).
fn old_runs(template: &Value, prefix: &str, count: usize, days_ago: i64) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    let mut out = String::new();
    for n in 0..count {
        let mut r = template.clone();
        let at = now - days_ago * 86_400_000 - n as i64 * 1000;
        r["run_id"] = format!("{prefix}-{n}").into();
        r["timestamp_ms"] = at.into();
        r["timestamp_iso"] = chrono::DateTime::from_timestamp_millis(at)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into();
        out.push_str(&serde_json::to_string(&r).unwrap());
        out.push('\n');
    }
    out
}

/// Run ids of every service's runs.jsonl, with their start times.
fn all_runs_on_disk(env: &TestEnv) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(env.data_dir().join("services"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let id = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path().join("runs.jsonl")).unwrap_or_default();
        let runs: Vec<(i64, String)> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                Some((
                    v["timestamp_ms"].as_i64()?,
                    v["run_id"].as_str()?.to_string(),
                ))
            })
            .collect();
        out.insert(id, runs);
    }
    out
}

#[test]
#[ignore = "fault-injection suite: .ci/run runs it with --ignored"]
fn admin_commands_killed_midway_leave_state_that_recovers() {
    use_tmpfs();
    let started = Instant::now();
    let mut fig = Figures::default();
    let mut rng = rng("killed admin commands");
    let mut env = TestEnv::new();
    let per_command: usize = std::env::var("SYNCFLEET_FAULTS_ADMIN_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let root = env.dir.path().to_path_buf();
    let tag = tag_of(&env);
    env.set_env("FAULTS_TAG", &tag);
    let mut corrupt: BTreeSet<String> = BTreeSet::new();
    let mut lost: BTreeSet<String> = BTreeSet::new();
    // A killed command's scheduler tool (e.g. a slow `systemctl enable`)
    // runs on in its own process group and finishes its step, as the real
    // one would: wait for it before judging the state.
    let check_state = |env: &TestEnv, corrupt: &mut BTreeSet<String>, fig: &mut Figures| {
        let left = reap_marked(&tag, Duration::from_secs(10));
        fig.processes_left += left.len();
        for l in left {
            fig.fail(format!("a killed command's child never finished: {l}"));
        }
        corrupt.extend(state_problems(&env.data_dir()));
    };
    // After each kill: doctor --fix, then no schedule may be left firing
    // for a service without a manifest (each orphan reported once).
    let mut orphans: BTreeSet<String> = BTreeSet::new();
    let recover = |env: &TestEnv, fig: &mut Figures, orphans: &mut BTreeSet<String>, what: &str| {
        let doc = run_until(
            env.command(&root, &["-J", "doctor", "--fix"]),
            COMMAND_DEADLINE,
        );
        fig.saw("doctor --fix", &doc);
        if envelope(&doc).is_none() {
            fig.fail(format!(
                "doctor --fix after {what} printed no JSON: {}",
                doc.run.stderr
            ));
        }
        for orphan in schedules_without_manifest(env) {
            if orphans.insert(orphan.clone()) {
                fig.fail(format!("after {what} and doctor --fix: {orphan}"));
            }
        }
    };
    // `command` in `ws`, SIGKILLed after `delay`; then the state it left
    // is checked and recovered.
    let kill_midway = |env: &TestEnv,
                       fig: &mut Figures,
                       corrupt: &mut BTreeSet<String>,
                       orphans: &mut BTreeSet<String>,
                       ws: &std::path::Path,
                       command: &str,
                       delay: Duration| {
        let f = run_until(env.command(ws, &["-J", command]), delay);
        fig.saw(command, &f);
        fig.runs_killed += usize::from(f.ending == Ending::Killed);
        check_state(env, corrupt, fig);
        recover(
            env,
            fig,
            orphans,
            &format!("{command} killed after {delay:?}"),
        );
    };
    // The same command again, undisturbed: it must succeed.
    let run_again = |env: &TestEnv, fig: &mut Figures, ws: &std::path::Path, command: &str| {
        let what = format!("{command} after a killed {command}");
        let again = run_until(env.command(ws, &["-J", command]), COMMAND_DEADLINE);
        fig.saw(&what, &again);
        if again.run.code != 0 {
            fig.fail(format!("{what}: {} {}", again.run.stdout, again.run.stderr));
        }
    };
    // How long each command takes undisturbed, to spread the kills over it.
    let span = |f: &Finished| (f.elapsed.as_millis() as u64 * 13 / 10).max(20);

    // install: half the kills with a slow `systemctl enable`, so that they
    // also land between enabling the timer and writing the manifest.
    let workspaces: Vec<_> = (0..per_command)
        .map(|i| {
            env.workspace(
                &format!("adm{i}"),
                &stages(&[stage("pull", &["ok", "1"], "")]),
                "",
            )
        })
        .collect();
    env.set_env("FAKE_SYSTEMCTL_ENABLE_SLEEP", "0.2");
    let probe_ws = env.workspace("probe", &stages(&[stage("pull", &["ok", "1"], "")]), "");
    let probe = run_until(env.command(&probe_ws, &["-J", "install"]), COMMAND_DEADLINE);
    fig.saw("install", &probe);
    let install_span = span(&probe);
    for (i, ws) in workspaces.iter().enumerate() {
        if i % 2 == 1 {
            env.set_env("FAKE_SYSTEMCTL_ENABLE_SLEEP", "0.2");
        } else {
            env.extra_env
                .retain(|(k, _)| k != "FAKE_SYSTEMCTL_ENABLE_SLEEP");
        }
        let delay = Duration::from_millis(rng.random_range(0..install_span));
        kill_midway(
            &env,
            &mut fig,
            &mut corrupt,
            &mut orphans,
            ws,
            "install",
            delay,
        );
        if i % 4 == 3 {
            // Left as the kill left it, for `uninstall --all` at the end.
            continue;
        }
        run_again(&env, &mut fig, ws, "install");
    }
    env.extra_env
        .retain(|(k, _)| k != "FAKE_SYSTEMCTL_ENABLE_SLEEP");

    // uninstall
    let probe = run_until(
        env.command(&probe_ws, &["-J", "uninstall"]),
        COMMAND_DEADLINE,
    );
    fig.saw("uninstall", &probe);
    let uninstall_span = span(&probe);
    for ws in &workspaces {
        let delay = Duration::from_millis(rng.random_range(0..uninstall_span));
        kill_midway(
            &env,
            &mut fig,
            &mut corrupt,
            &mut orphans,
            ws,
            "uninstall",
            delay,
        );
        run_again(&env, &mut fig, ws, "uninstall");
    }

    // reindex and prune, over a fleet with history.
    let fleet: Vec<String> = workspaces
        .iter()
        .take(5)
        .map(|ws| install(&env, ws, &[]))
        .collect();
    for id in &fleet {
        for _ in 0..2 {
            let r = env.run(&["run", "--service-id", id]);
            assert_eq!(r.json()["data"]["action"], "sync_completed", "{}", r.stdout);
        }
    }
    let every_run = |env: &TestEnv| -> BTreeSet<String> {
        all_runs_on_disk(env)
            .into_values()
            .flatten()
            .map(|(_, r)| r)
            .collect()
    };
    let history_matches_files =
        |env: &TestEnv, fig: &mut Figures, lost: &mut BTreeSet<String>, what: &str| {
            let on_disk = every_run(env);
            match history_ids(env, None) {
                Ok(h) => {
                    for r in on_disk.difference(&h) {
                        fig.fail(format!(
                            "after {what}: run {r} of runs.jsonl is not in history"
                        ));
                        lost.insert(r.clone());
                    }
                }
                Err(e) => fig.fail(format!("history after {what}: {e}")),
            }
        };
    let probe = run_until(env.command(&root, &["-J", "reindex"]), COMMAND_DEADLINE);
    fig.saw("reindex", &probe);
    let reindex_span = span(&probe);
    for _ in 0..per_command {
        let delay = Duration::from_millis(rng.random_range(0..reindex_span));
        let f = run_until(env.command(&root, &["-J", "reindex"]), delay);
        fig.saw("reindex", &f);
        fig.runs_killed += usize::from(f.ending == Ending::Killed);
        check_state(&env, &mut corrupt, &mut fig);
        history_matches_files(
            &env,
            &mut fig,
            &mut lost,
            &format!("reindex killed after {delay:?}"),
        );
        let again = run_until(env.command(&root, &["-J", "reindex"]), COMMAND_DEADLINE);
        fig.saw("reindex after a killed reindex", &again);
        if again.run.code != 0 {
            fig.fail(format!(
                "reindex after a killed reindex: {}",
                again.run.stdout
            ));
        }
    }

    // prune: each service gets old runs to remove; it must keep every run
    // newer than the cutoff and its 100 most recent.
    let template: Value = serde_json::from_str(
        std::fs::read_to_string(env.service_dir(&fleet[0]).join("runs.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let seed_old = |env: &TestEnv, id: &str, round: usize, count: usize| {
        let path = env.service_dir(id).join("runs.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&old_runs(
            &template,
            &format!("old{round}-{id}"),
            count,
            400,
        ));
        std::fs::write(&path, text).unwrap();
    };
    for id in &fleet {
        seed_old(&env, id, 0, 110);
    }
    env.run(&["reindex"]).ok();
    let cutoff_ms = chrono::Utc::now().timestamp_millis() - 90 * 86_400_000;
    let must_keep = |env: &TestEnv| -> BTreeSet<String> {
        let mut keep = BTreeSet::new();
        for (_, mut runs) in all_runs_on_disk(env) {
            runs.sort();
            let n = runs.len();
            for (i, (at, id)) in runs.into_iter().enumerate() {
                if at >= cutoff_ms || i + 100 >= n {
                    keep.insert(id);
                }
            }
        }
        keep
    };
    let probe = run_until(
        env.command(&root, &["-J", "prune", "--older-than", "90d", "--dry-run"]),
        COMMAND_DEADLINE,
    );
    fig.saw("prune --dry-run", &probe);
    let prune_span = span(&probe) * 2;
    for round in 1..=per_command {
        seed_old(&env, &fleet[round % fleet.len()], round, 20);
        env.run(&["reindex"]).ok();
        let keep = must_keep(&env);
        let delay = Duration::from_millis(rng.random_range(0..prune_span));
        let f = run_until(
            env.command(&root, &["-J", "prune", "--older-than", "90d"]),
            delay,
        );
        fig.saw("prune", &f);
        fig.runs_killed += usize::from(f.ending == Ending::Killed);
        check_state(&env, &mut corrupt, &mut fig);
        let left = every_run(&env);
        for r in keep.difference(&left) {
            fig.fail(format!(
                "prune killed after {delay:?} lost run {r}, which it must keep"
            ));
            lost.insert(r.clone());
        }
        let again = run_until(
            env.command(&root, &["-J", "prune", "--older-than", "90d"]),
            COMMAND_DEADLINE,
        );
        fig.saw("prune after a killed prune", &again);
        if again.run.code != 0 {
            fig.fail(format!("prune after a killed prune: {}", again.run.stdout));
        }
        history_matches_files(
            &env,
            &mut fig,
            &mut lost,
            &format!("prune killed after {delay:?}"),
        );
    }

    // Finally the whole fleet goes: nothing may keep firing.
    let mut args = vec!["-J", "uninstall", "--all"];
    if uninstall_takes_yes(&env) {
        args.push("--yes");
    } else {
        eprintln!("note: this syncfleet's uninstall has no --yes; ran uninstall --all without it");
    }
    let all = run_until(env.command(&root, &args), COMMAND_DEADLINE);
    fig.saw("uninstall --all", &all);
    if all.run.code != 0 {
        fig.fail(format!(
            "uninstall --all: {} {}",
            all.run.stdout, all.run.stderr
        ));
    }
    for (id, what) in scheduled_ids(&env) {
        fig.fail(format!(
            "after uninstall --all: {what} for {id} is still there"
        ));
    }
    check_state(&env, &mut corrupt, &mut fig);
    fig.files_corrupt = corrupt.len();
    for c in corrupt {
        fig.fail(format!("corrupt: {c}"));
    }
    fig.runs_lost = lost.len();
    fig.finish("killed admin commands", started);
}

#[test]
#[ignore = "fault-injection suite: .ci/run runs it with --ignored"]
fn fifty_services_run_at_once_and_all_are_recorded() {
    use_tmpfs();
    let started = Instant::now();
    let mut fig = Figures::default();
    let mut env = TestEnv::new();
    let tag = tag_of(&env);
    env.set_env("FAULTS_TAG", &tag);
    let workspaces: Vec<_> = (0..50)
        .map(|i| {
            env.workspace(
                &format!("par{i:02}"),
                &stages(&[stage("pull", &["ok", "1"], "")]),
                "",
            )
        })
        .collect();
    let mut args: Vec<String> = vec!["-J".into(), "install".into()];
    for ws in &workspaces {
        args.push("--workspace".into());
        args.push(ws.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let batch = env.run(&args);
    assert_eq!(batch.code, 0, "{} {}", batch.stdout, batch.stderr);
    let ids: Vec<String> = workspaces
        .iter()
        .map(|ws| {
            env.json_in(ws, &["status"])["data"]["service_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();

    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    let rounds = 2;
    for round in 0..rounds {
        let children: Vec<_> = ids
            .iter()
            .map(|id| {
                let cmd = env.command(env.dir.path(), &["run", "--service-id", id]);
                std::thread::spawn(move || run_until(cmd, COMMAND_DEADLINE))
            })
            .collect();
        for (id, child) in ids.iter().zip(children) {
            let f = child.join().unwrap();
            fig.saw("run", &f);
            match envelope(&f) {
                Some(v) if v["data"]["action"] == "sync_completed" && f.run.code == 0 => {
                    recorded.insert(
                        v["data"]["run_id"].as_str().unwrap().to_string(),
                        id.clone(),
                    );
                }
                other => fig.fail(format!(
                    "round {round}: run of {id} did not complete: {other:?} {}",
                    f.run.stderr
                )),
            }
        }
    }
    let mut lost = 0;
    for (run, id) in &recorded {
        if !runs_file(&env.service_dir(id).join("runs.jsonl"))
            .run_ids
            .contains(run)
        {
            fig.fail(format!("run {run} of {id} is not in its runs.jsonl"));
            lost += 1;
        }
    }
    match history_ids(&env, None) {
        Ok(h) => {
            for run in recorded.keys().filter(|r| !h.contains(*r)) {
                fig.fail(format!("run {run} is not in history"));
                lost += 1;
            }
        }
        Err(e) => fig.fail(format!("history: {e}")),
    }
    let list = env.json(&["list"]);
    let listed = list["data"]["services"].as_array().map_or(0, Vec::len);
    if listed != 50 {
        fig.fail(format!("list shows {listed} services, not 50: {list}"));
    }
    let problems = state_problems(&env.data_dir());
    fig.files_corrupt = problems.len();
    for p in problems {
        fig.fail(format!("corrupt: {p}"));
    }
    let left = reap_marked(&tag, Duration::from_secs(3));
    fig.processes_left = left.len();
    for l in left {
        fig.fail(format!("stage process left: {l}"));
    }
    fig.runs_lost = lost;
    eprintln!(
        "50 services: {} of {} runs recorded",
        recorded.len(),
        50 * rounds
    );
    fig.finish("50 services at once", started);
}

/// A stage that records when it ran: "START END" in nanoseconds.
const STAGE_INTERVAL: &str = r#"#!/bin/sh
start=$(date +%s%N)
sleep 0.15
end=$(date +%s%N)
echo "$start $end" >> "$1"
echo '{"items_updated": 1}'
"#;

#[test]
#[ignore = "fault-injection suite: .ci/run runs it with --ignored"]
fn simultaneous_triggers_of_one_service_never_overlap() {
    use_tmpfs();
    let started = Instant::now();
    let mut fig = Figures::default();
    let mut rng = rng("simultaneous triggers");
    let env = TestEnv::new();
    let script = env.path("interval.sh");
    std::fs::write(&script, STAGE_INTERVAL).unwrap();
    let intervals = env.path("intervals.txt");
    let ws = env.workspace(
        "trig",
        &format!(
            r#"[{{"name": "work", "command": ["sh", {}, {}]}}]"#,
            serde_json::to_string(&script.display().to_string()).unwrap(),
            serde_json::to_string(&intervals.display().to_string()).unwrap()
        ),
        "",
    );
    let id = install(&env, &ws, &[]);
    let documented: BTreeSet<i32> = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 21, 22, 23, 24]
        .into_iter()
        .collect();
    let mut completed = 0;
    for round in 0..3 {
        // Ten triggers, two scheduled runs and two manual syncs at once.
        let mut invocations: Vec<Vec<String>> = vec![vec!["-J".into(), "trigger".into()]; 10];
        invocations.extend(vec![
            vec!["run".into(), "--service-id".into(), id.clone()];
            2
        ]);
        invocations.extend(vec![vec!["-J".into(), "sync".into()]; 2]);
        let children: Vec<_> = invocations
            .iter()
            .map(|args| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let cmd = env.command(&ws, &args);
                // Spread over four stage lengths: some start together,
                // some while a run is in flight, some after it ended.
                let jitter = Duration::from_millis(rng.random_range(0..600));
                std::thread::spawn(move || {
                    std::thread::sleep(jitter);
                    run_until(cmd, COMMAND_DEADLINE)
                })
            })
            .collect();
        for (args, child) in invocations.iter().zip(children) {
            let f = child.join().unwrap();
            let what = format!("round {round}: {}", args.join(" "));
            fig.saw(&what, &f);
            let Some(v) = envelope(&f) else {
                fig.fail(format!(
                    "{what}: stdout is not one JSON document: {:?}",
                    f.run.stdout
                ));
                continue;
            };
            if !documented.contains(&f.run.code) {
                fig.fail(format!(
                    "{what}: exit {} is not a documented status",
                    f.run.code
                ));
            }
            if v["ok"] == true {
                match v["data"]["action"].as_str() {
                    Some("sync_completed") => completed += 1,
                    Some("skipped") if v["data"]["reason"] == "locked" => {}
                    _ => fig.fail(format!("{what}: unexpected result {v}")),
                }
            } else {
                let code = v["error"]["code"].as_str().unwrap_or("");
                if code != "LOCKED" || f.run.code != 9 {
                    fig.fail(format!("{what}: exit {} with {}", f.run.code, v["error"]));
                }
                if v["error"]["suggestion"].as_str().is_none_or(str::is_empty) {
                    fig.fail(format!("{what}: error without a suggestion: {v}"));
                }
            }
        }
    }
    let text = std::fs::read_to_string(&intervals).unwrap_or_default();
    let mut spans: Vec<(u128, u128)> = text
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    spans.sort();
    let mut overlaps = 0;
    for pair in spans.windows(2) {
        if pair[1].0 < pair[0].1 {
            overlaps += 1;
            fig.fail(format!(
                "stage runs overlap: {:?} and {:?} (ns)",
                pair[0], pair[1]
            ));
        }
    }
    if spans.len() != completed {
        fig.fail(format!(
            "{completed} runs completed but the stage ran {} times",
            spans.len()
        ));
    }
    let recorded = runs_file(&env.service_dir(&id).join("runs.jsonl"))
        .run_ids
        .len();
    if recorded != completed {
        fig.fail(format!(
            "{completed} runs completed, {recorded} in runs.jsonl"
        ));
        fig.runs_lost = completed.abs_diff(recorded);
    }
    eprintln!(
        "simultaneous triggers: {completed} runs completed, {} stage intervals, {overlaps} overlaps",
        spans.len()
    );
    fig.files_corrupt = state_problems(&env.data_dir()).len();
    fig.finish("simultaneous triggers", started);
}

#[test]
#[ignore = "fault-injection suite: .ci/run runs it with --ignored"]
fn bad_inputs_are_refused_with_a_code_and_a_fix_and_lose_nothing() {
    use_tmpfs();
    corpus::run_all();
}
