//! What a stage starts stays contained: no stage process survives a
//! runner killed with SIGKILL (on the path systemd's ExecStart= takes and
//! on the cron/launchd wrapper path), and whatever a stage prints,
//! syncfleet's memory and the service log stay bounded.

mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A stage whose shell (the group leader) waits on a background
/// grandchild, both pids written (atomically) into `dir`.
fn grandchild_stage(dir: &Path) -> String {
    let d = dir.to_str().unwrap();
    format!(
        r#"[{{"name": "hold", "timeout": "10m", "command": ["sh", "-c", "sleep 300 & echo $! > \"$0/gc.tmp\"; echo $$ > \"$0/leader.tmp\"; mv \"$0/leader.tmp\" \"$0/leader\"; mv \"$0/gc.tmp\" \"$0/gc\"; wait", {}]}}]"#,
        serde_json::to_string(d).unwrap()
    )
}

/// The scheduler's `run` of the service, started in the background.
fn spawn_run(env: &TestEnv, id: &str) -> Child {
    env.command(env.dir.path(), &["--robot", "run", "--service-id", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// SIGKILL `runner` once the stage's grandchild exists, then check that
/// neither the stage's shell nor its grandchild outlives it. Everything
/// this started is killed by pid at the end, whatever happened.
fn kill_runner_and_check(mut runner: Child, pids: &Path) {
    let leader = pid_from_file(&pids.join("leader"));
    let grandchild = pid_from_file(&pids.join("gc"));
    assert!(
        process_running(grandchild),
        "the grandchild must be running"
    );
    kill_pid(runner.id());
    let _ = runner.wait();
    let leader_gone = wait_until_gone(leader, Duration::from_secs(5));
    let grandchild_gone = wait_until_gone(grandchild, Duration::from_secs(5));
    for pid in [leader, grandchild] {
        kill_pid(pid);
    }
    assert!(
        leader_gone,
        "the stage's shell {leader} outlived its runner"
    );
    assert!(
        grandchild_gone,
        "the stage's grandchild {grandchild} outlived its runner"
    );
}

#[test]
fn no_stage_process_survives_a_killed_run() {
    let env = TestEnv::new();
    let pids = env.path("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let ws = env.workspace("kill", &grandchild_stage(&pids), "");
    let id = env.install_in(&ws, &[]);
    // What the systemd unit's ExecStart= runs.
    let runner = spawn_run(&env, &id);
    kill_runner_and_check(runner, &pids);
}

#[test]
fn no_stage_process_survives_a_killed_run_through_the_cron_wrapper() {
    let mut env = TestEnv::new();
    env.set_env("SF_TOK", "wrapper-path-token");
    let pids = env.path("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let ws = env.workspace(
        "killw",
        &grandchild_stage(&pids),
        r#""token_env_var": "SF_TOK""#,
    );
    let v = env.json_in(
        &ws,
        &["install", "--scheduler", "cron", "--interval", "15m"],
    );
    let id = v["data"]["service_id"].as_str().unwrap().to_string();
    // What cron (and launchd) run: the wrapper, which execs the run.
    let runner = Command::new(env.service_dir(&id).join("run.sh"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", env.home())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_runner_and_check(runner, &pids);
}

/// Peak resident memory (KiB) of a finished child, with its own children.
fn wait_for_peak_rss_kib(child: Child) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
    #[allow(unsafe_code)]
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; both pointers are valid.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(rc, child.id() as libc::pid_t, "wait4 failed");
    (status, usage.ru_maxrss)
}

#[test]
fn a_stage_printing_one_huge_line_keeps_memory_and_the_log_bounded() {
    let env = TestEnv::new();
    let stage = r#"[{"name": "flood", "command": ["sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' x; echo; echo done"]}]"#;
    let ws = env.workspace("flood", stage, "");
    let id = env.install_in(&ws, &[]);
    let started = Instant::now();
    let runner = spawn_run(&env, &id);
    let (status, peak_kib) = wait_for_peak_rss_kib(runner);
    assert_eq!(status, 0, "run failed");
    eprintln!(
        "50 MB one-line stage: peak RSS {} MiB, {:?}",
        peak_kib / 1024,
        started.elapsed()
    );
    assert!(
        peak_kib < 40 * 1024,
        "syncfleet peaked at {peak_kib} KiB for a 50 MB line"
    );
    let logs = env.service_dir(&id).join("logs");
    let total: u64 = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        // 4 MiB of stage output logged per stream, plus the run's lines.
        total < 5 * 1024 * 1024,
        "the logs hold {total} bytes"
    );
    let runs = std::fs::read_to_string(env.service_dir(&id).join("runs.jsonl")).unwrap();
    assert!(runs.contains(r#""outcome":"success""#), "{runs}");
}
