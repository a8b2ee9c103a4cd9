//! How results, errors, warnings and traces reach the terminal: stdout
//! write errors, the one stderr channel and the -v/-vv levels.
mod common;

use common::{TestEnv, stage, stages};
use std::process::Stdio;

#[test]
fn a_closed_pipe_is_a_clean_exit_but_a_full_disk_is_an_error() {
    let env = TestEnv::new();
    // The reader is gone before syncfleet writes a byte: every write is EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let closed = env
        .command(env.dir.path(), &["robot-docs"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(closed.status.code(), Some(0), "{closed:?}");
    assert!(closed.stderr.is_empty(), "{closed:?}");

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = env
        .command(env.dir.path(), &["robot-docs"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(13), "{stderr}");
    assert!(
        stderr.contains("error: could not write the output to stdout"),
        "{stderr}"
    );
}

#[test]
fn warnings_and_traces_go_through_one_labelled_channel() {
    let mut env = TestEnv::new();
    env.set_env("SHORT_TOKEN", "abc");
    let ws = env.workspace(
        "v",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "SHORT_TOKEN""#,
    );
    env.json_in(&ws, &["install"]);

    // A report's warnings (a token too short to redact) go to stderr,
    // never into the report on stdout.
    let again = env.run_in(&ws, &["install"]).ok();
    assert!(!again.stdout.contains("too short"), "{}", again.stdout);
    assert!(
        again
            .stderr
            .starts_with("warning: SHORT_TOKEN is 3 characters long"),
        "{}",
        again.stderr
    );

    // Quiet by default: no traces.
    let plain = env.run_in(&ws, &["trigger"]).ok();
    assert!(plain.stderr.is_empty(), "{}", plain.stderr);

    // -v: what the run does, step by step.
    let info = env.run_in(&ws, &["-v", "trigger", "--ignore-backoff"]).ok();
    assert!(info.stderr.contains("info: "), "{}", info.stderr);
    assert!(!info.stderr.contains("debug: "), "{}", info.stderr);
    assert!(
        info.stderr.lines().all(|l| l.starts_with("info: ")),
        "{}",
        info.stderr
    );

    // -vv: the details too (scheduler calls, lock waits).
    let debug = env.run_in(&ws, &["-vv", "status"]).ok();
    assert!(debug.stderr.contains("debug: "), "{}", debug.stderr);

    // A warning is labelled the same way, and -q silences it.
    std::fs::write(env.data_dir().join("registry.db"), vec![b'x'; 4096]).unwrap();
    let _ = std::fs::remove_file(env.data_dir().join("registry.db-wal"));
    let _ = std::fs::remove_file(env.data_dir().join("registry.db-shm"));
    let warned = env.run(&["list"]).ok();
    assert!(warned.stderr.starts_with("warning: "), "{}", warned.stderr);
    let quiet = env.run(&["-q", "list"]).ok();
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
}

#[test]
fn errors_are_coloured_by_what_stderr_is() {
    let mut env = TestEnv::new();
    // Neither stream is a terminal: no colour anywhere.
    let plain = env.run(&["status", "--service", "nosuchservice"]);
    assert_ne!(plain.code, 0);
    assert!(plain.stderr.starts_with("error: "), "{}", plain.stderr);
    // anstream reads the environment per stream: CLICOLOR_FORCE colours
    // stderr even though it is a pipe.
    env.set_env("CLICOLOR_FORCE", "1");
    let forced = env.run(&["status", "--service", "nosuchservice"]);
    assert!(
        forced.stderr.starts_with("\x1b[31merror:\x1b[0m"),
        "{:?}",
        forced.stderr
    );
    // --color never still wins.
    let never = env.run(&["--color", "never", "status", "--service", "nosuchservice"]);
    assert!(!never.stderr.contains('\x1b'), "{:?}", never.stderr);
}

#[test]
fn every_command_says_not_installed_the_same_way() {
    let env = TestEnv::new();
    let ws = env.workspace("n", &stages(&[stage("pull", &["ok"], "")]), "");
    // Installed once, so every command (move too) knows the id.
    let id = env.json_in(&ws, &["install"])["data"]["service_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.json_in(&ws, &["uninstall"]);
    let wording = format!("service '{id}' is not installed");
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for args in [
        vec!["pause"],
        vec!["trigger"],
        vec![
            "move",
            "--service",
            id.as_str(),
            elsewhere.to_str().unwrap(),
        ],
    ] {
        let r = env.json_in(&ws, &args);
        assert_eq!(r["error"]["code"], "SERVICE_NOT_FOUND", "{args:?}: {r}");
        assert_eq!(r["error"]["message"], wording.as_str(), "{args:?}: {r}");
    }
    for args in [["resume"], ["uninstall"]] {
        let out = env.run_in(&ws, &args).ok().stdout;
        assert!(out.contains(&wording), "{args:?}: {out}");
    }
}
