//! Nothing lost: bad bytes in the history, torn appends, unreadable or
//! newer state files and a failing registry never hide or drop a run, and
//! every such fault is reported with the command that fixes it.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `-J` command that must succeed; its data.
fn ok(env: &TestEnv, args: &[&str]) -> Value {
    let v = env.json(args);
    assert_eq!(v["ok"], true, "{args:?}: {v}");
    v["data"].clone()
}

fn history_len(env: &TestEnv) -> usize {
    ok(env, &["history", "--limit", "1000"])["runs"]
        .as_array()
        .unwrap()
        .len()
}

fn runs_path(env: &TestEnv, id: &str) -> PathBuf {
    env.service_dir(id).join("runs.jsonl")
}

fn append_raw(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn check<'a>(doctor: &'a Value, name: &str) -> &'a Value {
    named_check(doctor, name).unwrap_or_else(|| panic!("no check {name}: {doctor}"))
}

const BAD_LINES: &[u8] = b"\xff\xfe not UTF-8 \xc3\x28\n{\"not\": json\n{\"schema_version\": 7, \"from\": \"the future\"}\n";

#[test]
fn bad_history_lines_are_skipped_everywhere_reported_and_moved_aside_by_repair() {
    let env = TestEnv::new();
    let a = env.install_in(
        &env.workspace("a", &stages(&[stage("pull", &["ok"], "")]), ""),
        &[],
    );
    let b = env.install_in(
        &env.workspace("b", &stages(&[stage("pull", &["ok"], "")]), ""),
        &[],
    );
    for id in [&a, &a, &b] {
        assert_eq!(env.run_service(id)["data"]["outcome"], "success");
    }
    append_raw(&runs_path(&env, &a), BAD_LINES);

    // reindex: every run of every service, the bad lines counted.
    let r = ok(&env, &["reindex"]);
    assert_eq!(r["runs_total"], 3, "{r}");
    assert_eq!(r["lines_skipped"], 3);
    assert_eq!(r["bad_lines"][0]["service_id"], a.as_str());
    assert_eq!(r["bad_lines"][0]["not_utf8"], 1);
    assert_eq!(r["bad_lines"][0]["not_json"], 1);
    assert_eq!(r["bad_lines"][0]["newer_schema"], 1);
    let human = env.run(&["reindex"]).ok();
    assert!(
        human
            .stdout
            .contains(&format!("fix: syncfleet repair --service {a}")),
        "{}",
        human.stdout
    );

    // A registry filled from scratch, and an import past the bad lines.
    std::fs::remove_file(env.data_dir().join("registry.db")).unwrap();
    assert_eq!(history_len(&env), 3);
    assert_eq!(env.run_service(&a)["data"]["outcome"], "success");
    assert_eq!(history_len(&env), 4);
    assert_eq!(ok(&env, &["report"])["fleet"]["runs"], 4);

    // doctor names the service, the count and the fix.
    let d = ok(&env, &["doctor", "--offline", "--service", &a]);
    let c = check(&d, "history_lines");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("3 unreadable lines"),
        "{c}"
    );
    assert!(
        c["action"]
            .as_str()
            .unwrap()
            .starts_with(&format!("syncfleet repair --service {a}")),
        "{c}"
    );
    let fleet = ok(&env, &["doctor", "--offline"]);
    let svc = fleet["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_id"] == a.as_str())
        .unwrap();
    assert_eq!(check(svc, "history_lines")["status"], "warn");

    // repair moves the corrupt lines aside, verbatim, and keeps every run
    // and the newer record.
    let rep = ok(&env, &["repair", "--service", &a]);
    assert_eq!(rep["repaired"], true, "{rep}");
    let action = &rep["actions"][0];
    assert_eq!(action["action"], "lines_moved_aside");
    assert_eq!(action["lines_moved"], 2);
    assert_eq!(action["lines_kept"], 4);
    let backup = PathBuf::from(action["backup"].as_str().unwrap());
    assert!(
        backup
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("runs.jsonl.bad-")
    );
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        b"\xff\xfe not UTF-8 \xc3\x28\n{\"not\": json\n"
    );
    let text = std::fs::read_to_string(runs_path(&env, &a)).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(text.contains("the future"), "a newer record is not corrupt");
    assert_eq!(history_len(&env), 4);
    let d = ok(&env, &["doctor", "--offline", "--service", &a]);
    assert!(
        check(&d, "history_lines")["message"]
            .as_str()
            .unwrap()
            .contains("newer syncfleet")
    );
    // Twice: nothing more to do.
    assert_eq!(ok(&env, &["repair", "--service", &a])["repaired"], false);
    // A full rebuild after the repair agrees.
    assert_eq!(ok(&env, &["reindex"])["runs_total"], 4);
}

#[test]
fn a_torn_last_line_does_not_swallow_the_next_run() {
    let env = TestEnv::new();
    let id = env.install_in(
        &env.workspace("t", &stages(&[stage("pull", &["ok"], "")]), ""),
        &[],
    );
    env.run_service(&id);
    // A crash mid-append leaves half a record and no newline.
    append_raw(
        &runs_path(&env, &id),
        br#"{"run_id":"0190-torn","service_id":"#,
    );
    let next = env.run_service(&id)["data"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(runs_path(&env, &id)).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["run_id"], next.as_str(), "the new record is whole");
    let h = ok(&env, &["history"]);
    assert_eq!(h["runs"].as_array().unwrap().len(), 2);
    assert_eq!(h["runs"][0]["run_id"], next.as_str());
    // The fragment is one bad line: reported, and repair sets it aside.
    let rep = ok(&env, &["repair", "--service", &id]);
    assert_eq!(rep["actions"][0]["lines_moved"], 1, "{rep}");
    assert_eq!(history_len(&env), 2);
}

/// Hold the registry's write lock from another connection: every write
/// waits out its busy timeout and fails, reads still get through.
fn hold_registry(env: &TestEnv) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(env.data_dir().join("registry.db")).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE; INSERT INTO meta VALUES ('hold', '1');")
        .unwrap();
    conn
}

#[test]
fn a_failing_registry_never_hides_runs() {
    let env = TestEnv::new();
    let id = env.install_in(
        &env.workspace("f", &stages(&[stage("pull", &["ok"], "")]), ""),
        &[],
    );
    env.run_service(&id);
    assert_eq!(history_len(&env), 1);
    let holder = hold_registry(&env);
    // The run works; the registry write fails and leaves a marker.
    assert_eq!(env.run_service(&id)["data"]["outcome"], "success");
    assert!(env.pending_marker(&id));
    // The import fails: history says so, and the marker stays.
    let r = env.run(&["-J", "history"]);
    assert_eq!(r.code, 12, "{}", r.stdout);
    assert_eq!(r.json()["error"]["code"], "REGISTRY_ERROR");
    assert!(
        env.pending_marker(&id),
        "the marker outlives a failed import"
    );
    drop(holder);
    // Fixed: every run is there, and the marker went with its import.
    assert_eq!(history_len(&env), 2);
    assert!(!env.pending_marker(&id));
}

fn status_bytes(env: &TestEnv, id: &str) -> Vec<u8> {
    std::fs::read(env.service_dir(id).join("status.json")).unwrap()
}

fn service_log(env: &TestEnv, id: &str) -> String {
    std::fs::read_to_string(env.service_dir(id).join("logs/service.log")).unwrap_or_default()
}

#[test]
fn a_newer_status_file_is_refused_untouched_and_nothing_runs() {
    let env = TestEnv::new();
    let ran = env.path("stage-ran");
    let ws = env.workspace(
        "new",
        &stages(&[stage("pull", &["touch", ran.to_str().unwrap()], "")]),
        "",
    );
    let id = env.install_in(&ws, &[]);
    let status = serde_json::json!({
        "schema_version": 99, "updated_at_iso": "2030-01-01T00:00:00Z",
        "paused_reason": "maintenance", "pause_kind": "manual", "new_field": [1, 2]
    });
    env.write_status(&id, &status);
    let before = status_bytes(&env, &id);
    let r = env.run_service(&id);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "SERVICE_CORRUPT_STATE");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("run skipped"),
        "{r}"
    );
    assert!(
        r["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("Upgrade syncfleet"),
        "{r}"
    );
    let t = env.run_in(&ws, &["-J", "trigger"]);
    assert_eq!(t.code, 23, "{}", t.stdout);
    assert!(!ran.exists(), "no stage ran");
    assert_eq!(status_bytes(&env, &id), before, "the file is untouched");
    assert!(!runs_path(&env, &id).exists(), "no run was recorded");
    let names: Vec<String> = std::fs::read_dir(env.service_dir(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("corrupt")), "{names:?}");
    // Visible where people look.
    assert!(service_log(&env, &id).contains("run skipped"));
    let st = ok(&env, &["status", "--service", &id]);
    assert!(
        st["status_error"]
            .as_str()
            .unwrap()
            .contains("schema_version 99"),
        "{st}"
    );
    let d = ok(&env, &["doctor", "--offline", "--service", &id]);
    let c = check(&d, "status_file");
    assert_eq!(c["status"], "fail");
    assert!(
        c["action"].as_str().unwrap().contains("upgrade syncfleet"),
        "{c}"
    );
    // repair says what every command says of a newer file, and leaves it.
    let rep = env.json(&["repair", "--service", &id]);
    assert_eq!(rep["error"]["code"], "SERVICE_CORRUPT_STATE", "{rep}");
    assert!(
        rep["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("upgrade syncfleet"),
        "{rep}"
    );
    assert_eq!(status_bytes(&env, &id), before);
}

#[test]
fn a_corrupt_status_file_keeps_the_service_paused_until_repair_restores_the_pause() {
    let env = TestEnv::new();
    let ran = env.path("stage-ran");
    let ws = env.workspace(
        "cor",
        &stages(&[stage("pull", &["touch", ran.to_str().unwrap()], "")]),
        "",
    );
    let id = env.install_in(&ws, &[]);
    ok(
        &env,
        &["pause", "--service", &id, "--reason", "GitLab maintenance"],
    );
    std::fs::write(env.service_dir(&id).join("status.json"), "{\"schema_vers").unwrap();
    let r = env.run_service(&id);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "SERVICE_CORRUPT_STATE");
    assert!(
        r["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains(&format!("syncfleet repair --service {id}")),
        "{r}"
    );
    assert!(!ran.exists(), "the run did not go ahead blind");
    assert_eq!(
        status_bytes(&env, &id),
        b"{\"schema_vers",
        "renaming is repair's job"
    );
    assert!(service_log(&env, &id).contains("it is corrupt"));
    let d = ok(&env, &["doctor", "--offline", "--service", &id]);
    assert_eq!(
        check(&d, "status_file")["action"],
        format!("syncfleet repair --service {id}").as_str()
    );

    // repair backs it up and brings the pause back from the registry.
    let rep = ok(&env, &["repair", "--service", &id]);
    let action = &rep["actions"][0];
    assert_eq!(action["action"], "reinitialized", "{rep}");
    assert_eq!(action["restored_from_registry"], true);
    assert_eq!(action["paused_reason"], "GitLab maintenance");
    assert_eq!(
        std::fs::read(action["backup"].as_str().unwrap()).unwrap(),
        b"{\"schema_vers"
    );
    let human = env.run(&["repair", "--service", &id]).ok().stdout;
    assert!(human.contains("No repair needed"), "{human}");
    let r = env.run_service(&id);
    assert_eq!(r["data"]["action"], "paused", "{r}");
    assert!(!ran.exists());
    ok(&env, &["resume", "--service", &id]);
    assert_eq!(env.run_service(&id)["data"]["outcome"], "success");
    assert!(ran.exists());
}

#[test]
fn reindex_on_a_registry_that_is_no_file_names_the_problem_and_the_real_fix() {
    let env = TestEnv::new();
    let id = env.install_in(
        &env.workspace("r", &stages(&[stage("pull", &["ok"], "")]), ""),
        &[],
    );
    env.run_service(&id);
    let db = env.data_dir().join("registry.db");
    for side in ["registry.db", "registry.db-wal", "registry.db-shm"] {
        let _ = std::fs::remove_file(env.data_dir().join(side));
    }
    std::fs::create_dir(&db).unwrap();
    let r = env.run(&["-J", "reindex"]);
    assert_eq!(r.code, 12, "{}", r.stdout);
    let e = r.json()["error"].clone();
    assert!(
        e["message"].as_str().unwrap().contains("is a directory"),
        "{e}"
    );
    let fix = e["suggestion"].as_str().unwrap();
    assert!(!fix.contains("reindex"), "{fix}");
    assert!(fix.contains(&format!("mv {}", db.display())), "{fix}");
    let human = env.run(&["reindex"]);
    assert!(!human.stderr.contains("reindex"), "{}", human.stderr);
    // The fix it names works.
    std::fs::rename(&db, env.data_dir().join("registry.db.aside")).unwrap();
    assert_eq!(history_len(&env), 1);
}

#[test]
fn a_killed_run_is_recorded_as_crashed_and_shows_in_history_and_report() {
    let env = TestEnv::new();
    let id = env.install_in(
        &env.workspace("k", &stages(&[stage("pull", &["ok"], "")]), ""),
        &[],
    );
    let first = env.run_service(&id)["data"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // What a run killed mid-pipeline leaves: its in-flight marker.
    let mut status = env.status_file(&id);
    let started = status["last_run"]["timestamp_ms"].as_i64().unwrap() + 1;
    status["current_run"] = serde_json::json!({
        "started_at_ms": started, "pid": 999_999, "run_id": "killed-run", "trigger": "trigger"
    });
    env.write_status(&id, &status);
    let next = env.run_service(&id)["data"].clone();
    assert_eq!(next["previous_run_stale"]["pid"], 999_999, "{next}");
    assert_eq!(next["outcome"], "success");

    let h = ok(&env, &["history", "--outcome", "crashed"]);
    let crashed = &h["runs"][0];
    assert_eq!(crashed["run_id"], "killed-run", "{h}");
    assert_eq!(crashed["outcome"], "crashed");
    assert_eq!(crashed["trigger"], "trigger");
    assert_eq!(crashed["started_at_ms"], started);
    assert_eq!(crashed["error_code"], "CRASHED");
    assert!(
        crashed["error_message"]
            .as_str()
            .unwrap()
            .contains("pid 999999")
    );
    assert_eq!(history_len(&env), 3);
    let table = env.run(&["history"]).ok().stdout;
    assert!(table.contains("crashed"), "{table}");
    let report = ok(&env, &["report"]);
    assert_eq!(report["fleet"]["runs"], 3);
    assert_eq!(report["fleet"]["crashed"], 1);
    assert_eq!(report["fleet"]["failed"], 1);
    assert_eq!(report["fleet"]["last_failure_code"], "CRASHED");
    // A full rebuild from the files finds it too.
    assert_eq!(ok(&env, &["reindex"])["runs_total"], 3);

    // A run that recorded itself and died before clearing its marker is
    // not recorded twice.
    let mut status = env.status_file(&id);
    status["current_run"] = serde_json::json!({
        "started_at_ms": started, "pid": 999_998, "run_id": first
    });
    env.write_status(&id, &status);
    env.run_service(&id);
    assert_eq!(history_len(&env), 4, "only the new run was added");
    let lines = std::fs::read_to_string(runs_path(&env, &id)).unwrap();
    assert_eq!(lines.matches(&first).count(), 1);
}

#[test]
fn usage_errors_in_robot_mode_are_the_json_envelope_on_stdout() {
    let mut env = TestEnv::new();
    for args in [
        &["-J", "frobnicate"][..],
        &["--robot", "list", "--bogus"],
        &["history", "--outcome", "nope", "--json"],
        &["-vJ", "report", "--by", "hour"],
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 2, "{args:?}");
        let v = r.json();
        assert_eq!(v["ok"], false, "{args:?}: {v}");
        assert_eq!(v["error"]["code"], "INVALID_ARGUMENT");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        assert!(
            v["error"]["suggestion"]
                .as_str()
                .unwrap()
                .contains("--help")
        );
    }
    let r = env.run(&["history", "--outcome", "nope", "-J"]);
    assert!(
        r.json()["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("crashed")
    );
    // Outside robot mode clap's text stays on stderr.
    let r = env.run(&["frobnicate"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("unrecognized subcommand"));
    // Help is what was asked for, even with -J.
    let r = env.run(&["-J", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Usage"));
    env.set_env("SYNCFLEET_ROBOT", "1");
    let r = env.run(&["frobnicate"]);
    assert_eq!((r.code, r.json()["ok"].clone()), (2, Value::Bool(false)));
    env.set_env("SYNCFLEET_ROBOT", "0");
    assert!(env.run(&["frobnicate"]).stdout.is_empty());
}

#[test]
fn a_nul_in_a_stage_argument_is_refused_by_install_not_at_run_time() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "nul",
        &stages(&[stage("pull", &["ok", "1\\u00002"], "")]),
        "",
    );
    let r = env.run_in(&ws, &["-J", "install"]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    let e = r.json()["error"].clone();
    assert_eq!(e["code"], "CONFIG_INVALID");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("`stages[0].command[2]` of stage 'pull'"), "{m}");
    assert!(
        !env.data_dir().join("services").exists()
            || std::fs::read_dir(env.data_dir().join("services"))
                .unwrap()
                .next()
                .is_none(),
        "nothing was installed"
    );
}

#[test]
fn a_name_with_diacritics_is_transliterated_and_the_install_says_so() {
    let env = TestEnv::new();
    let ws = env.workspace("dia", &stages(&[stage("pull", &["ok"], "")]), "");
    let out = env.json_in(&ws, &["install", "--name", "ŝérvice"]);
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["data"]["service_id"], "service");
    let warnings = out["data"]["warnings"].to_string();
    assert!(
        warnings.contains("'ŝérvice' was transliterated to 'service' (ŝ→s, é→e)"),
        "{warnings}"
    );
    let human = env.run_in(&ws, &["install", "--name", "ŝérvice"]).ok();
    assert!(human.stderr.contains("transliterated"), "{}", human.stderr);
    // No ASCII spelling: refused, nothing cut away.
    let ws2 = env.workspace("cjk", &stages(&[stage("pull", &["ok"], "")]), "");
    let r = env.run_in(&ws2, &["-J", "install", "--name", "服务"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no ASCII spelling")
    );
}

#[test]
fn doctor_reports_leftover_temp_files_and_fix_removes_only_old_ones() {
    let env = TestEnv::new();
    let id = env.install_in(
        &env.workspace("tmp", &stages(&[stage("pull", &["ok"], "")]), ""),
        &[],
    );
    let old = env.service_dir(&id).join(".tmp-Ab12Cd");
    let young = env.data_dir().join(".tmp-Ef34Gh");
    for p in [&old, &young] {
        std::fs::write(p, b"half a status file").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(two_hours_ago))
        .unwrap();
    let d = ok(&env, &["doctor", "--offline", "--service", &id]);
    let c = check(&d, "temp_files");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains(".tmp-Ab12Cd"),
        "{c}"
    );
    assert!(
        !c["message"].as_str().unwrap().contains(".tmp-Ef34Gh"),
        "{c}"
    );
    assert_eq!(
        c["action"]
            .as_str()
            .unwrap()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>(),
        ["syncfleet", "doctor", "--fix"]
    );
    // The fleet doctor reports it too, and --fix removes it.
    assert_eq!(
        check(&ok(&env, &["doctor", "--offline"]), "temp_files")["status"],
        "warn"
    );
    let fixed = env.json(&["doctor", "--offline", "--fix"]);
    assert_eq!(
        check(&fixed["data"], "temp_files")["status"],
        "fixed",
        "{fixed}"
    );
    assert!(!old.exists());
    assert!(
        young.exists(),
        "a young temp file may belong to a live writer"
    );
    assert_eq!(
        check(&ok(&env, &["doctor", "--offline"]), "temp_files")["status"],
        "pass"
    );
}
