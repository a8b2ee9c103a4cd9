//! Healthchecks-compatible pings (`ping` in syncfleet.json), end to end:
//! the binary's runs against an HTTP server on 127.0.0.1 in this test
//! that records every request. Order (start before end), one rid per run,
//! success / fail / degraded, skips, redacted bodies, a server that never
//! answers, and the check's key kept out of logs and output.

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The check's key in the ping URL: a capability, kept out of logs.
const CHECK: &str = "5f1c3a7e-2b4d-4e6f-8a9b-0c1d2e3f4a5b";
/// Mixed-case letters and digits: no 6-character piece of it occurs by
/// chance in a log, an id or a time.
const TOKEN: &str = "Hx7qR2wLm9ZtK4vBn3Pd";

/// No request line or body holds the token or any 6-character piece of it.
fn assert_no_token_piece(seen: &Seen) {
    let pieces: Vec<&str> = (0..=TOKEN.len() - 6).map(|i| &TOKEN[i..i + 6]).collect();
    for r in seen.lock().unwrap().iter() {
        for piece in &pieces {
            assert!(
                !r.line.contains(piece) && !r.body.contains(piece),
                "a piece of the token ({piece}) in {r:?}"
            );
        }
    }
}

#[derive(Debug, Clone)]
struct Request {
    line: String,
    body: String,
}

type Seen = Arc<Mutex<Vec<Request>>>;

/// An HTTP server answering 200 (or never, with `answer` false); its base
/// URL and what it saw.
fn server(answer: bool) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                // Closed before a request: a client out of time.
                continue;
            }
            let mut length = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            record.lock().unwrap().push(Request {
                line: line.trim().to_string(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            if answer {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                );
            } else {
                // Hold the connection open, never answering.
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(60));
                    drop(stream);
                });
            }
        }
    });
    (base, seen)
}

/// A service with `stages` and `ping` (JSON, `{url}` replaced by the
/// server's check URL), the token set.
fn service(env: &mut TestEnv, name: &str, stages: &str, ping: &str, base: &str) -> String {
    env.set_env("SF_TOK", TOKEN);
    env.set_env("TZ", "UTC");
    let ping = ping.replace("{url}", &format!("{base}/{CHECK}"));
    let ws = env.workspace(
        name,
        stages,
        &format!(r#""token_env_var": "SF_TOK", "ping": {ping}"#),
    );
    env.install_in(&ws, &[])
}

fn run(env: &TestEnv, id: &str) -> Value {
    let v = env.run_service(id);
    assert_eq!(v["ok"], true, "{v}");
    assert!(!v.to_string().contains(CHECK), "the key stays out: {v}");
    v["data"].clone()
}

fn service_log(env: &TestEnv, id: &str) -> String {
    std::fs::read_to_string(env.service_dir(id).join("logs/service.log")).unwrap()
}

fn workspace_of(env: &TestEnv, name: &str) -> PathBuf {
    env.path(&format!("ws/{name}"))
}

/// The rid of a request line, checking it is a UUID.
fn rid(line: &str) -> String {
    let rid = line
        .split("rid=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no rid in {line}"))
        .to_string();
    let lens: Vec<usize> = rid.split('-').map(str::len).collect();
    assert_eq!(lens, [8, 4, 4, 4, 12], "{rid} is a UUID");
    rid
}

#[test]
fn a_run_pings_start_then_success_with_its_redacted_log() {
    let (base, seen) = server(true);
    let mut env = TestEnv::new();
    let id = service(
        &mut env,
        "ok",
        &stages(&[stage("pull", &["echo-token", "SF_TOK"], "")]),
        r#"{"url": "{url}"}"#,
        &base,
    );
    let d = run(&env, &id);
    assert_eq!(d["outcome"], "success");
    let first = seen.lock().unwrap().clone();
    assert_eq!(first.len(), 2, "{first:?}");
    let seen_first = first;
    let seen_all = seen;
    let seen = seen_first;
    let r = rid(&seen[0].line);
    assert_eq!(
        seen[0].line,
        format!("POST /{CHECK}/start?rid={r} HTTP/1.1")
    );
    assert_eq!(seen[1].line, format!("POST /{CHECK}?rid={r} HTTP/1.1"));
    assert_eq!(seen[0].body, "");
    let body = &seen[1].body;
    let run_id = d["run_id"].as_str().unwrap();
    assert!(
        body.contains(&format!("=== run {run_id} (scheduled")),
        "{body}"
    );
    assert!(body.contains("token is [REDACTED]"), "{body}");
    assert_no_token_piece(&seen_all);
    let log = service_log(&env, &id);
    assert!(
        log.contains(&format!("ping: rid {r} to 127.0.0.1:")),
        "{log}"
    );
    assert!(!log.contains(CHECK), "the key is never logged: {log}");
    // A second run gets its own rid, the same for its start and end.
    run(&env, &id);
    let all = seen_all.lock().unwrap().clone();
    assert_eq!(all.len(), 4);
    let r2 = rid(&all[2].line);
    assert_ne!(r2, r);
    assert_eq!(all[3].line, format!("POST /{CHECK}?rid={r2} HTTP/1.1"));
}

#[test]
fn failure_and_degraded_ping_fail_or_success_as_configured() {
    let (base, seen) = server(true);
    let mut env = TestEnv::new();
    let failing = service(
        &mut env,
        "bad",
        &stages(&[stage("pull", &["fail"], "")]),
        r#"{"url": "{url}"}"#,
        &base,
    );
    assert_eq!(run(&env, &failing)["outcome"], "failed");
    let degraded = stages(&[
        stage("pull", &["ok"], ""),
        stage("docs", &["fail"], r#""optional": true"#),
    ]);
    let lenient = service(&mut env, "deg", &degraded, r#"{"url": "{url}"}"#, &base);
    assert_eq!(run(&env, &lenient)["outcome"], "degraded");
    let strict = service(
        &mut env,
        "strict",
        &degraded,
        r#"{"url": "{url}", "degraded": "fail"}"#,
        &base,
    );
    assert_eq!(run(&env, &strict)["outcome"], "degraded");
    let ends: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| !r.line.contains("/start"))
        .map(|r| r.line.split('?').next().unwrap().to_string())
        .collect();
    assert_eq!(
        ends,
        [
            format!("POST /{CHECK}/fail"),
            format!("POST /{CHECK}"),
            format!("POST /{CHECK}/fail"),
        ]
    );
    assert_no_token_piece(&seen);
    let bodies = seen.lock().unwrap().clone();
    assert!(
        bodies[1].body.contains("connection reset by peer"),
        "{bodies:?}"
    );
}

#[test]
fn a_server_that_never_answers_delays_the_run_by_its_timeout_at_most() {
    let (base, seen) = server(false);
    let mut env = TestEnv::new();
    let id = service(
        &mut env,
        "slow",
        &stages(&[stage("pull", &["ok"], "")]),
        r#"{"url": "{url}", "timeout": 1, "retries": 2}"#,
        &base,
    );
    let started = Instant::now();
    let d = run(&env, &id);
    let took = started.elapsed();
    eprintln!("a run pinging a server that never answers (timeout 1s, retries 2) took {took:?}");
    assert_eq!(d["outcome"], "success", "a ping never changes the outcome");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let st = env.status_file(&id);
    assert_eq!(st["consecutive_failures"], 0);
    let log = service_log(&env, &id);
    assert!(
        log.contains("ping start (rid ") && log.contains("127.0.0.1:"),
        "the failure is in the service log: {log}"
    );
    assert!(!log.contains(CHECK), "{log}");
    // The start tried once within its budget (a hanging attempt uses it
    // up); the end, sent only after the start had given up, had what was
    // left of its own budget: it may not have got its request out.
    let lines: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.line.clone())
        .collect();
    let r = rid(&lines[0]);
    assert_eq!(lines[0], format!("POST /{CHECK}/start?rid={r} HTTP/1.1"));
    assert!(
        lines.len() == 1 || lines[1..] == [format!("POST /{CHECK}?rid={r} HTTP/1.1")],
        "{lines:?}"
    );
    // The end failed in turn, or (when the start's timeout ran a little
    // over) was held back so as not to overtake the start.
    assert!(
        log.contains("ping success (rid ") || log.contains("the success ping is not sent"),
        "{log}"
    );
}

#[test]
fn skips_send_nothing_or_a_log_ping_and_sync_never_pings() {
    let (base, seen) = server(true);
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", "2026-01-01T23:00:00Z");
    let quiet = r#""conditions": {"quiet_hours": ["22:00-07:00"]}"#;
    let mk = |env: &mut TestEnv, name: &str, ping: &str| {
        env.set_env("SF_TOK", TOKEN);
        env.set_env("TZ", "UTC");
        let ping = ping.replace("{url}", &format!("{base}/{CHECK}"));
        let ws = env.workspace(
            name,
            &stages(&[stage("pull", &["ok"], "")]),
            &format!(r#""token_env_var": "SF_TOK", "ping": {ping}, {quiet}"#),
        );
        env.install_in(&ws, &[])
    };
    let silent = mk(&mut env, "silent", r#"{"url": "{url}"}"#);
    assert_eq!(run(&env, &silent)["reason"], "condition:quiet_hours");
    assert!(
        seen.lock().unwrap().is_empty(),
        "a skip sends nothing by default"
    );
    let told = mk(&mut env, "told", r#"{"url": "{url}", "on_skip": "log"}"#);
    assert_eq!(run(&env, &told)["reason"], "condition:quiet_hours");
    let seen_now = seen.lock().unwrap().clone();
    assert_eq!(seen_now.len(), 1, "{seen_now:?}");
    assert_eq!(seen_now[0].line, format!("POST /{CHECK}/log HTTP/1.1"));
    assert!(
        seen_now[0].body.contains("scheduled run of ")
            && seen_now[0]
                .body
                .contains("skipped: condition:quiet_hours: 23:00"),
        "{}",
        seen_now[0].body
    );
    // `sync` is outside the policy: no pings.
    let sync = env.json_in(&workspace_of(&env, "told"), &["sync"]);
    assert_eq!(sync["data"]["outcome"], "success", "{sync}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    // A trigger that runs pings like a scheduled run.
    let forced = env.json_in(
        &workspace_of(&env, "told"),
        &["trigger", "--ignore-conditions"],
    );
    assert_eq!(forced["data"]["outcome"], "success", "{forced}");
    let lines: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.line.clone())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].contains("/start?rid=") && lines[2].contains(&format!("/{CHECK}?rid=")));
    assert_no_token_piece(&seen);
}
