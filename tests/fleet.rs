//! The fleet layer end to end, through the built binary in a hermetic
//! environment (see tests/common).

mod common;

use common::{Run, TestEnv, data_of, doctor_service, named_check, wait_for};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Fleet helpers over the shared harness.
trait Fleet {
    fn ws(&self, name: &str, tags: &[&str], command: &[&str]) -> PathBuf;
    fn cmd(&self, args: &[&str]) -> std::process::Command;
    fn ok(&self, args: &[&str]) -> Value;
    fn triggered(&self, args: &[&str]) -> Value;
    fn count_calls(&self, needle: &str) -> usize;
    fn install_all(&self, dirs: &[PathBuf]) -> Vec<String>;
    fn with_workspaces(&self, args: &[&str], dirs: &[&Path]) -> Run;
    fn write_exe(&self, rel: &str, text: &str);
}

impl Fleet for TestEnv {
    /// A workspace with one stage running `command`, and these tags.
    fn ws(&self, name: &str, tags: &[&str], command: &[&str]) -> PathBuf {
        let stages = serde_json::json!([{"name": "work", "command": command}]).to_string();
        let extra = format!("\"tags\": {}", serde_json::json!(tags));
        self.workspace(name, &stages, &extra)
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        self.command(self.dir.path(), args)
    }

    /// Robot mode outside any workspace; asserts success, returns `data`.
    fn ok(&self, args: &[&str]) -> Value {
        let mut full = vec!["--robot"];
        full.extend_from_slice(args);
        let r = self.run(&full);
        let d = data_of(&r);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stdout);
        d
    }

    /// A `trigger` that ran: exit 11 exactly when its run failed.
    fn triggered(&self, args: &[&str]) -> Value {
        let mut full = vec!["--robot", "trigger"];
        full.extend_from_slice(args);
        let r = self.run(&full);
        let d = data_of(&r);
        let failed = d["outcome"] == "failed";
        assert_eq!(
            r.code,
            if failed { 11 } else { 0 },
            "{args:?}: {}",
            r.stdout
        );
        d
    }

    fn count_calls(&self, needle: &str) -> usize {
        self.systemctl_calls()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Install workspaces in one batch; returns their service ids.
    fn install_all(&self, dirs: &[PathBuf]) -> Vec<String> {
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let r = self.with_workspaces(&["--robot", "install", "--interval", "5m"], &dirs);
        let data = data_of(&r);
        assert_eq!(r.code, 0, "{}", r.stdout);
        match data["items"].as_array() {
            Some(items) => items
                .iter()
                .map(|i| i["result"]["service_id"].as_str().unwrap().to_string())
                .collect(),
            None => vec![data["service_id"].as_str().unwrap().to_string()],
        }
    }

    /// `args`, then `--workspace DIR` for each of `dirs`, outside any
    /// workspace.
    fn with_workspaces(&self, args: &[&str], dirs: &[&Path]) -> Run {
        let mut full: Vec<&str> = args.to_vec();
        for d in dirs {
            full.push("--workspace");
            full.push(d.to_str().unwrap());
        }
        self.run(&full)
    }

    fn write_exe(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn ids_of(list: &Value) -> Vec<String> {
    list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn batch_install_reloads_once_reports_each_and_goes_on_past_failures() {
    let env = TestEnv::new();
    let a = env.ws("a", &["team-a"], &["true"]);
    let b = env.ws("b", &["team-b"], &["true"]);
    let missing = env.path("ws/missing");
    let list_file = env.path("list.txt");
    std::fs::write(
        &list_file,
        format!("# fleet\n{}\n\n{}\n", b.display(), missing.display()),
    )
    .unwrap();
    let r = env.run(&[
        "--robot",
        "install",
        "--workspace",
        a.to_str().unwrap(),
        "--workspaces-from",
        list_file.to_str().unwrap(),
    ]);
    let data = data_of(&r);
    assert_eq!(
        r.code, 3,
        "a failed item makes the batch exit non-zero (CONFIG_NOT_FOUND)"
    );
    assert_eq!(data["succeeded"], 2);
    assert_eq!(data["failed"], 1);
    assert_eq!(data["items"][2]["error"]["code"], "CONFIG_NOT_FOUND");
    assert_eq!(
        env.count_calls("daemon-reload"),
        1,
        "{:?}",
        env.systemctl_calls()
    );
    assert_eq!(env.count_calls("enable --now"), 2);

    // The registry knows both, with their tags.
    let list = env.ok(&["list"]);
    assert_eq!(list["source"], "registry");
    assert_eq!(ids_of(&list).len(), 2);
    let team_a = env.ok(&["list", "--tag", "team-a"]);
    assert_eq!(ids_of(&team_a).len(), 1);
    assert_eq!(team_a["services"][0]["scheduler_state"], "idle");
    // list never asks the scheduler per service.
    let shows = env.count_calls("show -p LoadState");
    env.ok(&["list"]);
    assert_eq!(env.count_calls("show -p LoadState"), shows);

    // Stdin works too, and re-installing is a no-op per workspace.
    let mut c = env.cmd(&["--robot", "install", "--workspaces-from", "-"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    writeln!(
        child.stdin.take().unwrap(),
        "{}\n{}",
        a.display(),
        b.display()
    )
    .unwrap();
    let out: Run = child.wait_with_output().unwrap().into();
    let data = data_of(&out);
    assert_eq!(data["items"][0]["result"]["no_change"], true);
    assert_eq!(data["items"][1]["result"]["no_change"], true);
}

#[test]
fn list_state_tells_a_live_run_from_a_dead_one_by_its_pid() {
    let env = TestEnv::new();
    let dirs = [
        env.ws("a", &[], &["true"]),
        env.ws("b", &[], &["true"]),
        env.ws("c", &[], &["true"]),
    ];
    let mut ids = env.install_all(&dirs);
    ids.sort();
    // A run in flight for a minute: in a live process (this test's) for
    // ids[0], in one that is gone for ids[1]. The registry learns of them
    // as it would of any status file changed behind its back.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let started = chrono::Utc::now().timestamp_millis() - 60_000;
    for (id, pid) in [(&ids[0], std::process::id()), (&ids[1], gone_pid)] {
        std::fs::write(
            env.data_dir().join("services").join(id).join("status.json"),
            serde_json::json!({"schema_version": 2, "updated_at_iso": "",
                               "current_run": {"started_at_ms": started, "pid": pid}})
            .to_string(),
        )
        .unwrap();
    }
    env.ok(&["reindex"]);
    let listed = |state: &str| ids_of(&env.ok(&["list", "--state", state]));
    assert_eq!(listed("running"), [ids[0].clone()]);
    assert_eq!(listed("running_stale"), [ids[1].clone()]);
    assert_eq!(listed("idle"), [ids[2].clone()]);
    assert!(listed("backoff").is_empty());
    let states: Vec<Value> = env.ok(&["list"])["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scheduler_state"].clone())
        .collect();
    assert_eq!(states, ["running", "running_stale", "idle"]);
}

#[test]
fn robot_list_falls_back_before_its_first_byte_and_never_prints_half_a_result_as_whole() {
    let env = TestEnv::new();
    let dirs = [env.ws("a", &[], &["true"]), env.ws("b", &[], &["true"])];
    let mut ids = env.install_all(&dirs);
    ids.sort();
    // Whatever install left for the registry to import, imported (it
    // would rewrite the rows made unreadable below).
    assert_eq!(ids_of(&env.ok(&["list"])), ids);
    let unreadable = |id: &str| {
        let conn = rusqlite::Connection::open(env.data_dir().join("registry.db")).unwrap();
        let changed = conn
            .execute(
                "UPDATE services SET interval_seconds = 'often' WHERE service_id = ?1",
                [id],
            )
            .unwrap();
        assert_eq!(changed, 1);
    };
    // The last row unreadable: the services before it are already out.
    unreadable(&ids[1]);
    let cut = env.run(&["--robot", "list"]);
    assert_ne!(cut.code, 0, "{}", cut.stdout);
    assert!(cut.stdout.contains(ids[0].as_str()), "{}", cut.stdout);
    assert!(
        serde_json::from_str::<Value>(&cut.stdout).is_err(),
        "{}",
        cut.stdout
    );
    assert!(cut.stderr.contains("error:"), "{}", cut.stderr);
    // People get the whole list from the manifests, with a warning.
    let human = env.run(&["list"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stderr.contains("syncfleet reindex"),
        "{}",
        human.stderr
    );
    // The first row unreadable: nothing was printed yet, so robot mode
    // falls back to the manifests too.
    unreadable(&ids[0]);
    let fallback = env.ok(&["list"]);
    assert_eq!(fallback["source"], "files");
    assert_eq!(ids_of(&fallback), ids);
    assert!(
        fallback["warnings"][0]
            .as_str()
            .unwrap()
            .contains("syncfleet reindex")
    );
}

#[test]
fn list_formats_filters_and_fallback_to_manifests() {
    let env = TestEnv::new();
    let dirs = [
        env.ws("a", &["x"], &["true"]),
        env.ws("b", &["y"], &["true"]),
    ];
    let ids = env.install_all(&dirs);
    env.ok(&["pause", "--service", &ids[0], "--reason", "maint"]);
    let paused = env.ok(&["list", "--state", "paused"]);
    assert_eq!(ids_of(&paused), [ids[0].clone()]);

    let csv = env.run(&["list", "--format", "csv"]);
    assert_eq!(csv.code, 0);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert!(lines[0].starts_with("ID,NAME,WORKSPACE"), "{}", csv.stdout);
    assert_eq!(lines.len(), 3);
    let json = env.run(&["list", "--format", "json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let table = env.run(&["list"]);
    assert!(
        table.stdout.contains("paused") && table.stdout.contains("2 services"),
        "{}",
        table.stdout
    );

    // A corrupt registry: list still answers from the manifests, warning.
    std::fs::write(env.data_dir().join("registry.db"), vec![b'x'; 4096]).unwrap();
    let _ = std::fs::remove_file(env.data_dir().join("registry.db-wal"));
    let _ = std::fs::remove_file(env.data_dir().join("registry.db-shm"));
    let fallback = env.ok(&["list"]);
    assert_eq!(fallback["source"], "files");
    assert_eq!(ids_of(&fallback).len(), 2);
    assert_eq!(
        ids_of(&env.ok(&["list", "--from-files", "--all", "--state", "paused"])),
        [ids[0].clone()]
    );
    assert!(
        fallback["warnings"][0]
            .as_str()
            .unwrap()
            .contains("syncfleet reindex")
    );
    let human = env.run(&["list"]);
    assert!(human.stderr.contains("warning:"), "{}", human.stderr);
    // A run never fails because of the registry: it warns and leaves a
    // marker for the next reader.
    let run = env.ok(&["trigger", "--service", &ids[1]]);
    assert_eq!(run["outcome"], "success");
    assert!(env.pending_marker(&ids[1]));
    // doctor says how to fix it, and reindex does.
    let doctor = env.run(&["--robot", "doctor", "--offline"]);
    assert!(
        doctor.stdout.contains("syncfleet reindex"),
        "{}",
        doctor.stdout
    );
    let re = env.ok(&["reindex"]);
    assert!(re["corrupt_backup"].is_string());
    assert_eq!(re["installed"], 2);
    assert_eq!(env.ok(&["list"])["source"], "registry");
}

#[test]
fn runs_land_in_the_registry_and_missed_ones_are_imported_by_the_next_reader() {
    let env = TestEnv::new();
    let dirs = [env.ws("a", &[], &["true"])];
    let ids = env.install_all(&dirs);
    let id = &ids[0];
    let run = env.ok(&["run", "--service-id", id]);
    assert_eq!(run["outcome"], "success");
    let h = env.ok(&["history", "--service", id]);
    assert_eq!(h["runs"].as_array().unwrap().len(), 1);
    assert_eq!(h["runs"][0]["trigger"], "scheduled");

    // Make the registry unwritable for the run path: the run still works.
    let db = env.data_dir().join("registry.db");
    let holder = rusqlite_hold(&db);
    let run = env.run(&["--robot", "run", "--service-id", id]);
    assert_eq!(run.code, 0);
    assert_eq!(data_of(&run)["outcome"], "success");
    drop(holder);
    assert!(env.pending_marker(id));
    // The next reader imports it.
    let h = env.ok(&["history", "--service", id, "--stages"]);
    assert_eq!(h["runs"].as_array().unwrap().len(), 2);
    assert_eq!(h["runs"][0]["stages"][0]["stage"], "work");
    assert!(!env.pending_marker(id));

    // Manual syncs are recorded too.
    let r = env
        .command(&dirs[0], &["--robot", "sync"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stdout));
    let manual = env.ok(&["history", "--trigger", "manual"]);
    assert_eq!(manual["runs"].as_array().unwrap().len(), 1);

    // Uninstalled services keep their history.
    env.ok(&["uninstall", "--service", id]);
    assert!(ids_of(&env.ok(&["list"])).is_empty());
    let all = env.ok(&["list", "--all"]);
    assert_eq!(all["services"][0]["installed"], false);
    let scan = env.ok(&["list", "--all", "--from-files"]);
    assert_eq!(scan["services"][0]["service_id"], id.as_str());
    assert_eq!(scan["services"][0]["installed"], false);
    assert_eq!(env.ok(&["history"])["runs"].as_array().unwrap().len(), 3);
    // Reindex is idempotent.
    let first = env.ok(&["reindex"]);
    let second = env.ok(&["reindex"]);
    assert_eq!(first["runs_total"], 3);
    assert_eq!(second["runs_total"], 3);
    assert_eq!(second["runs_imported"], 0);
}

/// Hold the registry's write lock from another connection (in WAL mode an
/// exclusive transaction blocks writers; readers still get through).
fn rusqlite_hold(db: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE; INSERT INTO meta VALUES ('hold', '1');")
        .unwrap();
    conn
}

#[test]
fn bulk_pause_resume_trigger_uninstall_by_tag_and_all() {
    let env = TestEnv::new();
    let dirs = [
        env.ws("a", &["red"], &["true"]),
        env.ws("b", &["red"], &["true"]),
        env.ws("c", &["blue"], &["true"]),
    ];
    env.install_all(&dirs);
    let p = env.ok(&["pause", "--tag", "red"]);
    assert_eq!(p["succeeded"], 2);
    assert_eq!(
        env.ok(&["list", "--state", "paused"])["services"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let t = env.ok(&["trigger", "--all"]);
    assert_eq!(t["succeeded"], 3);
    let actions: Vec<&str> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["result"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "paused").count(), 2);
    assert_eq!(
        actions.iter().filter(|a| **a == "sync_completed").count(),
        1
    );
    let r = env.ok(&["resume", "--all"]);
    assert_eq!(r["succeeded"], 3);
    assert!(
        env.ok(&["list", "--state", "paused"])["services"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Several --service values, one unknown: the others still go.
    let ids = ids_of(&env.ok(&["list"]));
    let r = env.run(&[
        "--robot",
        "pause",
        "--service",
        &ids[0],
        "--service",
        "nope-nope",
    ]);
    assert_eq!(r.code, 6);
    assert_eq!(data_of(&r)["failed"], 1);

    let reloads = env.count_calls("daemon-reload");
    let u = env.ok(&["uninstall", "--tag", "blue", "--yes"]);
    assert_eq!(u["services"].as_array().unwrap().len(), 1);
    let u = env.ok(&["uninstall", "--all", "--yes"]);
    assert_eq!(u["services"].as_array().unwrap().len(), 2);
    assert_eq!(
        env.count_calls("daemon-reload"),
        reloads + 2,
        "one reload per batch"
    );
    assert!(ids_of(&env.ok(&["list"])).is_empty());
}

#[test]
fn fifty_parallel_runs_all_reach_the_registry() {
    let env = TestEnv::new();
    let dirs: Vec<_> = (0..50)
        .map(|i| env.ws(&format!("w{i}"), &[], &["true"]))
        .collect();
    let ids = env.install_all(&dirs);
    assert_eq!(ids.len(), 50);
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            env.cmd(&["--robot", "trigger", "--service", id])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out: Run = c.wait_with_output().unwrap().into();
        assert_eq!(data_of(&out)["outcome"], "success", "{}", out.stdout);
    }
    // Read the registry directly: no import may have been needed.
    let db = env.data_dir().join("registry.db");
    let n: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    let pending = env.data_dir().join("registry-pending");
    let pending_n = std::fs::read_dir(&pending).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 50, "pending markers: {pending_n}");
    assert_eq!(
        env.ok(&["history", "--limit", "1000"])["runs"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
}

#[test]
fn two_triggers_of_one_service_run_the_pipeline_once() {
    let env = TestEnv::new();
    let marker = env.path("ran.log");
    let release = env.path("release");
    let script = env.path("bin/held-stage");
    // The stage holds the pipeline lock until the test releases it (30 s
    // at the most), so the second trigger always finds it held.
    env.write_exe(
        "bin/held-stage",
        &format!(
            "#!/bin/sh\necho run >> '{}'\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done\n",
            marker.display(),
            release.display()
        ),
    );
    let dirs = [env.ws("a", &[], &[script.to_str().unwrap()])];
    let ids = env.install_all(&dirs);
    let spawn = || {
        env.cmd(&["--robot", "trigger", "--service", &ids[0]])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    let one_ended = wait_for(std::time::Duration::from_secs(30), || {
        a.try_wait().unwrap().is_some() || b.try_wait().unwrap().is_some()
    });
    std::fs::write(&release, "").unwrap();
    assert!(
        one_ended,
        "neither trigger ended while the stage held the lock"
    );
    let outs: Vec<Run> = [a, b]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().into())
        .collect();
    let actions: Vec<String> = outs
        .iter()
        .map(|o| data_of(o)["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"sync_completed".to_string()),
        "{actions:?}"
    );
    let skipped = outs
        .iter()
        .map(data_of)
        .find(|d| d["action"] == "skipped")
        .expect("one skipped");
    assert_eq!(skipped["reason"], "locked");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 1);
    let report = env.ok(&["report"]);
    assert_eq!(report["fleet"]["runs"], 1);
    assert_eq!(report["services"][0]["skipped"]["locked"], 1);
}

#[test]
fn history_filters_report_trend_and_prune() {
    let env = TestEnv::new();
    let ok = env.ws("ok", &[], &["true"]);
    let bad = env.ws("bad", &[], &["false"]);
    let ids = env.install_all(&[ok, bad.clone()]);
    for _ in 0..3 {
        for id in &ids {
            env.triggered(&["--service", id, "--ignore-backoff"]);
        }
    }
    let failed = env.ok(&["history", "--outcome", "failed", "--format", "table"]);
    assert_eq!(failed["runs"].as_array().unwrap().len(), 3);
    let limited = env.ok(&["history", "--limit", "2", "--since", "1h"]);
    assert_eq!(limited["runs"].as_array().unwrap().len(), 2);
    let none = env.ok(&["history", "--until", "2000-01-01T00:00:00Z"]);
    assert!(none["runs"].as_array().unwrap().is_empty());
    let bad_when = env.run(&["--robot", "history", "--since", "soon"]);
    assert_eq!(bad_when.code, 2);
    let csv = env.run(&["history", "--format", "csv", "--stages"]);
    assert!(
        csv.stdout.lines().next().unwrap().ends_with("STAGES"),
        "{}",
        csv.stdout
    );

    let report = env.ok(&["report", "--by", "day"]);
    assert_eq!(report["fleet"]["runs"], 6);
    assert_eq!(report["fleet"]["failed"], 3);
    assert_eq!(report["fleet"]["failure_rate"], 0.5);
    let bad_stats = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["failed"] == 3)
        .unwrap();
    assert_eq!(bad_stats["longest_failure_streak"], 3);
    assert_eq!(bad_stats["last_failure_code"], "STAGE_FAILED");
    assert!(bad_stats["sparkline"].as_str().unwrap().contains('▁'));
    let human = env.run(&["report", "--by", "week"]);
    assert!(
        human.stdout.contains("Fleet trend by week"),
        "{}",
        human.stdout
    );
    // The human report names each service's last failure with its code,
    // which the services table has no room for.
    assert!(human.stdout.contains("Last failures:"), "{}", human.stdout);
    assert!(human.stdout.contains("STAGE_FAILED"), "{}", human.stdout);

    // A failing sync by hand counts as a run, but not in the streak.
    let r = env.command(&bad, &["--robot", "sync"]).output().unwrap();
    assert!(!r.stdout.is_empty());
    let report = env.ok(&["report"]);
    let bad_stats = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["failed"] == 4)
        .unwrap();
    assert_eq!(bad_stats["manual"], 1);
    assert_eq!(bad_stats["longest_failure_streak"], 3);
    let by_tag = env.ok(&["report", "--tag", "no-such-tag"]);
    assert_eq!(by_tag["services"], serde_json::json!([]));
    assert_eq!(by_tag["fleet"]["success_rate"], Value::Null);

    // Prune keeps the 100 most recent: nothing goes here.
    let p = env.ok(&["prune", "--older-than", "0d"]);
    assert_eq!(p["removed_runs"], 0);
    assert_eq!(
        env.ok(&["history", "--limit", "100"])["runs"]
            .as_array()
            .unwrap()
            .len(),
        7,
        "six triggered runs and the sync"
    );
}

#[test]
fn fleet_doctor_asks_systemd_the_state_of_every_timer_in_one_call() {
    let env = TestEnv::new();
    let dirs: Vec<PathBuf> = (0..5)
        .map(|i| env.ws(&format!("w{i}"), &[], &["true"]))
        .collect();
    let ids = env.install_all(&dirs);
    // One timer stopped behind syncfleet's back: the batched answer must
    // still be read per unit.
    std::fs::remove_file(env.path(&format!(
        "fake-systemctl/enabled/syncfleet-{}.timer",
        ids[2]
    )))
    .unwrap();
    let before = env.systemctl_calls().len();
    let r = env.run(&["--robot", "doctor", "--offline"]);
    let data = data_of(&r);
    let shows: Vec<String> = env.systemctl_calls()[before..]
        .iter()
        .filter(|l| l.contains("syncfleet-"))
        .cloned()
        .collect();
    assert_eq!(shows.len(), 1, "one show for the fleet: {shows:?}");
    for id in &ids {
        assert!(
            shows[0].contains(&format!("syncfleet-{id}.timer")),
            "{shows:?}"
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let check = named_check(doctor_service(&data, id), "install_state").unwrap();
        let expected = if i == 2 { "fail" } else { "pass" };
        assert_eq!(check["status"], expected, "{id}: {check}");
    }
    assert!(
        named_check(doctor_service(&data, &ids[2]), "install_state").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("inactive (disabled)"),
        "{data}"
    );
}

#[test]
fn fleet_doctor_checks_every_service_and_fixes_only_safe_things() {
    let env = TestEnv::new();
    let dirs = [env.ws("a", &[], &["true"]), env.ws("b", &[], &["true"])];
    let ids = env.install_all(&dirs);
    let healthy = env.run(&["--robot", "doctor", "--offline"]);
    let data = data_of(&healthy);
    assert_eq!(data["services"].as_array().unwrap().len(), 2, "{data}");
    for s in data["services"].as_array().unwrap() {
        assert_eq!(s["overall"], "pass", "{data}");
    }
    assert!(named_check(&data, "registry_integrity").is_some());

    // a: manifest edited behind the registry's back, installed long ago,
    // a stale in-flight run, a history line the registry never saw.
    let svc = env.data_dir().join("services").join(&ids[0]);
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(svc.join("manifest.json")).unwrap()).unwrap();
    m["tags"] = serde_json::json!(["edited"]);
    m["installed_at_iso"] = "2020-01-01T00:00:00.000Z".into();
    std::fs::write(svc.join("manifest.json"), m.to_string()).unwrap();
    std::fs::write(
        svc.join("status.json"),
        r#"{"schema_version":2,"updated_at_iso":"","current_run":{"started_at_ms":1,"pid":999999}}"#,
    )
    .unwrap();
    std::fs::write(
        svc.join("runs.jsonl"),
        format!(
            "{}\n",
            serde_json::json!({"run_id":"x1","service_id":ids[0],"timestamp_iso":"","timestamp_ms":5,
                               "duration_seconds":1.0,"outcome":"success"})
        ),
    )
    .unwrap();
    // b: a scheduler artifact removed.
    let unit = env
        .path("config/systemd/user")
        .join(format!("syncfleet-{}.timer", ids[1]));
    std::fs::remove_file(&unit).unwrap();

    let sick = env.run(&["--robot", "doctor", "--offline"]);
    assert_eq!(sick.code, 10);
    let data = data_of(&sick);
    let a = doctor_service(&data, &ids[0]);
    let b = doctor_service(&data, &ids[1]);
    assert_eq!(
        named_check(a, "registry_agreement").unwrap()["status"],
        "fail"
    );
    assert_eq!(named_check(a, "pending_import").unwrap()["status"], "warn");
    assert_eq!(named_check(a, "stale_run").unwrap()["status"], "warn");
    assert_eq!(named_check(a, "missed_runs").unwrap()["status"], "warn");
    assert_eq!(named_check(b, "install_state").unwrap()["status"], "fail");
    let human = env.run(&["doctor", "--offline"]);
    assert!(
        human.stdout.contains(&format!("Service {}:", ids[1])),
        "{}",
        human.stdout
    );

    let fixed = env.run(&["--robot", "doctor", "--offline", "--fix"]);
    let data = data_of(&fixed);
    assert_eq!(
        named_check(&data, "reindex").unwrap()["status"],
        "fixed",
        "{data}"
    );
    assert_eq!(
        named_check(&data, "scheduler_reload").unwrap()["status"],
        "fixed"
    );
    assert_eq!(
        named_check(doctor_service(&data, &ids[0]), "registry_agreement").unwrap()["status"],
        "fixed"
    );
    // Drift is not a safe fix: it stays failing (install repairs it).
    assert_eq!(fixed.code, 10);
    let after = env.ok(&["history", "--service", &ids[0]]);
    assert_eq!(after["runs"][0]["run_id"], "x1");
    let again = data_of(&env.run(&["--robot", "doctor", "--offline"]));
    assert_eq!(
        named_check(doctor_service(&again, &ids[0]), "registry_agreement").unwrap()["status"],
        "pass"
    );
}

#[test]
fn prune_compacts_history_and_keeps_the_last_100_runs() {
    let env = TestEnv::new();
    let ids = env.install_all(&[env.ws("p", &[], &["true"])]);
    let id = &ids[0];
    let runs = env.data_dir().join("services").join(id).join("runs.jsonl");
    let old = chrono::Utc::now().timestamp_millis() - 200 * 86_400_000;
    let mut text = String::new();
    for i in 0..150 {
        text.push_str(
            &serde_json::json!({
                "run_id": format!("old-{i:03}"), "service_id": id, "timestamp_iso": "",
                "timestamp_ms": old + i * 60_000, "duration_seconds": 1.0, "outcome": "success"
            })
            .to_string(),
        );
        text.push('\n');
    }
    std::fs::write(&runs, text).unwrap();
    for _ in 0..5 {
        env.ok(&["trigger", "--service", id]);
    }
    assert_eq!(
        env.ok(&["history", "--limit", "1000"])["runs"]
            .as_array()
            .unwrap()
            .len(),
        155
    );
    let dry = env.ok(&["prune", "--older-than", "90d", "--dry-run"]);
    assert_eq!(dry["removed_runs"], 55);
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 155);
    let p = env.ok(&["prune", "--older-than", "90d"]);
    assert_eq!(p["removed_runs"], 55);
    assert_eq!(p["services"][0]["kept"], 100);
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 100);
    let h = env.ok(&["history", "--limit", "1000"]);
    let left = h["runs"].as_array().unwrap();
    assert_eq!(left.len(), 100);
    assert_eq!(left.last().unwrap()["run_id"], "old-055", "the oldest kept");
    // Idempotent, and new runs still import after the rewrite.
    assert_eq!(env.ok(&["prune", "--older-than", "90d"])["removed_runs"], 0);
    env.ok(&["trigger", "--service", id]);
    assert_eq!(
        env.ok(&["history", "--limit", "1000"])["runs"]
            .as_array()
            .unwrap()
            .len(),
        101
    );
    let report = env.ok(&["report", "--since", "365d", "--by", "week"]);
    assert_eq!(report["fleet"]["runs"], 101);
    assert!(report["buckets"].as_array().unwrap().len() >= 52);
}

#[test]
fn tokens_never_enter_the_registry() {
    let mut env = TestEnv::new();
    env.set_env("SF_TOKEN", "tok-s3cr3t-value");
    // The stage keeps what it was handed, so the test knows the token
    // reached it (and its error output) rather than an empty variable.
    let stages = serde_json::json!([{"name": "leaky", "command":
        ["sh", "-c", "printf %s \"$SF_TOKEN\" > seen-token; echo \"auth with $SF_TOKEN failed\" >&2; exit 1"]}])
    .to_string();
    let dir = env.workspace("t", &stages, "\"token_env_var\": \"SF_TOKEN\"");
    let ids = env.install_all(std::slice::from_ref(&dir));
    env.triggered(&["--service", &ids[0]]);
    assert_eq!(
        std::fs::read_to_string(dir.join("seen-token")).unwrap(),
        "tok-s3cr3t-value",
        "the stage saw the token"
    );
    let history = env.ok(&["history", "--stages"]);
    let error = &history["runs"][0]["stages"][0]["error"];
    assert_eq!(
        error.as_str(),
        Some("auth with [REDACTED] failed"),
        "the registry got the stage's error, token redacted: {history}"
    );
    env.ok(&["reindex"]);
    for name in ["registry.db", "registry.db-wal"] {
        let bytes = std::fs::read(env.data_dir().join(name)).unwrap_or_default();
        assert!(
            !bytes
                .windows(b"tok-s3cr3t-value".len())
                .any(|w| w == b"tok-s3cr3t-value"),
            "{name} holds the token"
        );
    }
}

#[test]
fn batch_flags_filters_and_formats() {
    let env = TestEnv::new();
    let a = env.ws("a", &["x"], &["true"]);
    let b = env.ws("b", &["x"], &["true"]);
    let named = env.with_workspaces(&["--robot", "install", "--name", "one"], &[&a, &b]);
    assert_eq!(
        named.code, 2,
        "--name cannot name a batch: {}",
        named.stdout
    );
    let twice = env.with_workspaces(&["--robot", "install"], &[&a, &a]);
    assert_eq!(data_of(&twice)["failed"], 1, "a workspace listed twice");
    let ids = env.install_all(std::slice::from_ref(&b));
    assert_eq!(ids.len(), 1);
    let r = env.with_workspaces(
        &["--robot", "install", "--profile", "full"],
        &[&env.ws("c", &[], &["true"]), &env.ws("d", &[], &["true"])],
    );
    assert_eq!(data_of(&r)["succeeded"], 2);
    assert_eq!(
        env.ok(&["list", "--profile", "full"])["services"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        env.ok(&["list", "--platform", "systemd"])["services"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(
        env.ok(&["list", "--platform", "cron"])["services"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let bad = env.run(&["--robot", "list", "--state", "sleepy"]);
    assert_eq!(bad.code, 2);
    let human = env.run(&["doctor", "--offline"]);
    assert!(
        human.stdout.contains("Fleet doctor (4 services)"),
        "{}",
        human.stdout
    );

    // Human batch output: one line per item, then the tally.
    let human = env.with_workspaces(
        &["install", "--interval", "5m"],
        &[&env.ws("e", &[], &["true"]), &b],
    );
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert!(lines[0].starts_with("installed "), "{}", human.stdout);
    assert!(lines[1].starts_with("unchanged "), "{}", human.stdout);
    assert!(
        lines[3].contains("2 succeeded, 0 failed"),
        "{}",
        human.stdout
    );
    let trig = env.run(&["trigger", "--all"]);
    assert_eq!(
        trig.stdout
            .lines()
            .filter(|l| l.contains(": success in "))
            .count(),
        5,
        "{}",
        trig.stdout
    );
    let csv = env.run(&["report", "--format", "csv"]);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert!(lines[0].starts_with("SERVICE,RUNS"), "{}", csv.stdout);
    assert_eq!(lines.len(), 1 + 5 + 1, "services and the fleet");
    let trend = env.run(&["report", "--by", "day", "--format", "csv"]);
    assert!(
        trend.stdout.starts_with("service,bucket,runs"),
        "{}",
        trend.stdout
    );
    let json = env.run(&["history", "--format", "json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
}

#[test]
fn history_and_report_find_a_service_by_name_even_uninstalled() {
    let env = TestEnv::new();
    let dir = env.ws("n", &[], &["true"]);
    let r = env.with_workspaces(&["--robot", "install", "--name", "demo"], &[&dir]);
    assert_eq!(data_of(&r)["service_id"], "demo");
    let run = env.ok(&["trigger", "--service", "demo"]);
    let h = env.run(&["history", "--service", "demo"]);
    assert!(
        h.stdout.contains(run["run_id"].as_str().unwrap()),
        "{}",
        h.stdout
    );
    env.ok(&["uninstall", "--service", "demo"]);
    assert_eq!(
        env.ok(&["history", "--service", "demo"])["runs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        env.ok(&["report", "--service", "demo"])["services"][0]["runs"],
        1
    );
    let unknown = env.run(&["--robot", "history", "--service", "nope"]);
    assert_eq!(unknown.code, 6);
}

#[test]
fn list_says_how_long_ago_by_the_clock() {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", "2026-01-01T00:00:00Z");
    let ids = env.install_all(&[env.ws("ago", &[], &["true"])]);
    env.ok(&["trigger", "--service", &ids[0]]);
    env.set_env("SYNCFLEET_NOW", "2026-01-01T03:00:00Z");
    let table = env.run(&["list"]).ok().stdout;
    assert!(table.contains("3h ago"), "{table}");
}

#[test]
fn a_fleets_first_batch_install_leaves_the_registry_filled_for_its_first_reader() {
    let env = TestEnv::new();
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| env.ws(&format!("batch{i}"), &[], &["true"]))
        .collect();
    let ids = env.install_all(&dirs);
    // Read the registry directly: marked filled by install, and holding
    // every service of the batch, so no reader has to import the fleet.
    let conn = rusqlite::Connection::open(env.data_dir().join("registry.db")).unwrap();
    let filled: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'filled'", [], |r| {
            r.get(0)
        })
        .ok();
    assert!(filled.is_some(), "install left the new registry unfilled");
    let mut indexed: Vec<String> = conn
        .prepare("SELECT service_id FROM services WHERE installed = 1 ORDER BY service_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    indexed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(indexed, expected);
}
