//! Notification hooks: failure, pause and recover, with event details in
//! the environment; a failing or hanging hook never changes the run.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn hook(out: &std::path::Path, event: &str) -> String {
    format!(
        r#"["sh", "-c", "env | grep -E '^(SYNCFLEET_|HOOKTOK)' | sort > {}/{event}.env"]"#,
        out.display()
    )
}

/// Rewrite the workspace config: the same hooks, one `pull` stage in `mode`.
fn set_stage(ws: &std::path::Path, hooks: &str, mode: &str) {
    std::fs::write(
        ws.join("syncfleet.json"),
        format!(
            r#"{{"projects": ["https://gitlab.example.com/h"], {hooks}, "retry_delay": {{"min": "0s", "max": "0s"}}, "stages": [{}]}}"#,
            stage("pull", &[mode], "")
        ),
    )
    .unwrap();
}

#[test]
fn hooks_fire_on_failure_pause_and_recover_without_the_token() {
    let mut env = TestEnv::new();
    env.set_env("HOOKTOK", "hook-secret-xyz");
    let out = env.path("hook-out");
    std::fs::create_dir_all(&out).unwrap();
    let hooks = format!(
        r#""token_env_var": "HOOKTOK", "hooks": {{"failure": {}, "pause": {}, "recover": {}, "timeout": "5s"}}"#,
        hook(&out, "failure"),
        hook(&out, "pause"),
        hook(&out, "recover")
    );
    let ws = env.workspace("h", &stages(&[stage("pull", &["fail"], "")]), &hooks);
    let id = env.install_in(&ws, &[]);
    env.json(&["run", "--service-id", &id]);
    let failure = std::fs::read_to_string(out.join("failure.env")).unwrap();
    assert!(failure.contains("SYNCFLEET_EVENT=failure"), "{failure}");
    assert!(failure.contains(&format!("SYNCFLEET_SERVICE_ID={id}")));
    assert!(failure.contains("SYNCFLEET_OUTCOME=failed"));
    assert!(failure.contains("SYNCFLEET_ERROR_CODE=STAGE_FAILED"));
    assert!(failure.contains("SYNCFLEET_ERROR_MESSAGE=connection reset by peer"));
    assert!(failure.contains("SYNCFLEET_CONSECUTIVE_FAILURES=1"));
    assert!(failure.contains("SYNCFLEET_LOG_PATH="));
    assert!(
        !failure.contains("hook-secret-xyz") && !failure.contains("HOOKTOK="),
        "hooks never see the token: {failure}"
    );
    assert!(!out.join("pause.env").exists());

    // A permanent failure: failure and pause.
    set_stage(&ws, &hooks, "permanent");
    env.json_in(&ws, &["trigger", "--ignore-backoff"]);
    let pause = std::fs::read_to_string(out.join("pause.env")).unwrap();
    assert!(
        pause.contains("SYNCFLEET_PAUSED_REASON=AUTH_FAILED: permission denied"),
        "{pause}"
    );

    // First success after failures: recover.
    env.json_in(&ws, &["resume"]);
    set_stage(&ws, &hooks, "ok");
    // resume cleared the streak, so a success now is not a recovery...
    env.json_in(&ws, &["trigger"]);
    assert!(!out.join("recover.env").exists());
    // ...but a success right after a failure is.
    set_stage(&ws, &hooks, "fail");
    env.json_in(&ws, &["trigger"]);
    set_stage(&ws, &hooks, "ok");
    env.json_in(&ws, &["trigger", "--ignore-backoff"]);
    let recover = std::fs::read_to_string(out.join("recover.env")).unwrap();
    assert!(
        recover.contains("SYNCFLEET_EVENT=recover")
            && recover.contains("SYNCFLEET_OUTCOME=success"),
        "{recover}"
    );
}

#[test]
fn a_failing_or_hanging_hook_is_logged_and_changes_nothing() {
    let env = TestEnv::new();
    let hooks = r#""hooks": {"failure": ["sh", "-c", "sleep 30"], "pause": ["/nonexistent/notify"], "timeout": "300ms"}"#;
    let ws = env.workspace("hh", &stages(&[stage("pull", &["permanent"], "")]), hooks);
    let id = env.install_in(&ws, &[]);
    let started = Instant::now();
    let r = env.run(&["-J", "run", "--service-id", &id]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["data"]["action"], "paused");
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    assert!(
        log.contains("hook failure (sh) failed (timed out after 300 ms"),
        "{log}"
    );
    assert!(
        log.contains("hook pause could not start '/nonexistent/notify'"),
        "{log}"
    );
}

#[test]
fn a_daemonising_hook_does_not_hang_the_run() {
    let env = TestEnv::new();
    let pidfile = env.path("daemon.pid");
    // The daemon leaves the hook's process group and session but keeps
    // the hook's stdout and stderr open.
    let hooks = format!(
        r#""hooks": {{"failure": ["sh", "-c", "setsid sh -c 'echo $$ > \"$1.tmp\"; mv \"$1.tmp\" \"$1\"; exec sleep 60' sh \"$0\" & while [ ! -s \"$0\" ]; do sleep 0.05; done; echo notified", {}], "timeout": "20s"}}"#,
        serde_json::to_string(pidfile.to_str().unwrap()).unwrap()
    );
    let ws = env.workspace("hd", &stages(&[stage("pull", &["fail"], "")]), &hooks);
    let id = env.install_in(&ws, &[]);
    let started = Instant::now();
    let r = env.run(&["-J", "run", "--service-id", &id]);
    let elapsed = started.elapsed();
    let daemon = pid_from_file(&pidfile);
    let daemon_was_running = process_running(daemon);
    kill_pid(daemon);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        daemon_was_running,
        "the test's daemon must still hold the pipes"
    );
    assert!(
        elapsed < Duration::from_secs(8),
        "run took {elapsed:?} with a daemonised hook"
    );
    let log = std::fs::read_to_string(env.service_dir(&id).join("logs/service.log")).unwrap();
    assert!(log.contains("hook failure (sh) succeeded"), "{log}");
}
