//! install / uninstall against a fake systemctl, and the rendered units
//! against `systemd-analyze verify --user`.

mod common;
use common::*;
use std::path::Path;

fn simple_workspace(env: &TestEnv, name: &str) -> std::path::PathBuf {
    env.workspace(name, &stages(&[stage("pull", &["ok", "3"], "")]), "")
}

#[test]
fn install_writes_units_env_and_manifest_then_is_idempotent() {
    let mut env = TestEnv::new();
    env.set_env("GITLAB_TOKEN", "glpat-secret-value");
    let ws = env.workspace(
        "alpha",
        &stages(&[stage("pull", &["ok", "1"], "")]),
        r#""token_env_var": "GITLAB_TOKEN""#,
    );
    let out = env.json_in(&ws, &["install", "--interval", "15m", "--profile", "fast"]);
    assert_eq!(out["ok"], true, "{out}");
    let d = &out["data"];
    let id = d["service_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 12);
    assert_eq!(d["platform"], "systemd");
    assert_eq!(d["interval_seconds"], 900);
    assert_eq!(d["profile"], "fast");
    assert_eq!(d["token_source"], "env_file");
    assert_eq!(d["no_change"], false);
    assert!(
        d["sync_command"]
            .as_str()
            .unwrap()
            .ends_with(&format!("--robot run --service-id {id}"))
    );

    let service = env.unit_dir().join(format!("syncfleet-{id}.service"));
    let timer = env.unit_dir().join(format!("syncfleet-{id}.timer"));
    let unit = std::fs::read_to_string(&service).unwrap();
    assert!(unit.contains(&format!(
        "EnvironmentFile=-{}",
        env.service_dir(&id).join("env").display()
    )));
    assert!(
        !unit.contains("glpat"),
        "env-file mode keeps the token out of the unit"
    );
    assert!(
        std::fs::read_to_string(&timer)
            .unwrap()
            .contains("OnUnitInactiveSec=900s")
    );
    let env_file = env.service_dir(&id).join("env");
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "GITLAB_TOKEN=\"glpat-secret-value\"\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(env.data_dir())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.service_dir(&id).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["service_id"], id.as_str());
    assert_eq!(manifest["identity_hash"], id.as_str());
    assert_eq!(manifest["spec_hash"].as_str().unwrap().len(), 64);

    let calls = env.systemctl_calls();
    assert!(
        calls.contains(&"--user daemon-reload".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&format!("--user enable --now syncfleet-{id}.timer")),
        "{calls:?}"
    );

    // Same again: nothing to do, nothing run.
    let before = env.systemctl_calls().len();
    let again = env.json_in(&ws, &["install", "--interval", "15m", "--profile", "fast"]);
    assert_eq!(again["data"]["no_change"], true, "{again}");
    assert!(
        !env.systemctl_calls()[before..]
            .iter()
            .any(|c| c.contains("enable") || c.contains("daemon-reload"))
    );

    // A different interval: reported, applied.
    let changed = env.json_in(&ws, &["install", "--interval", "1h", "--profile", "fast"]);
    assert_eq!(changed["data"]["no_change"], false);
    assert_eq!(changed["data"]["changes"], serde_json::json!(["interval"]));
    assert!(
        std::fs::read_to_string(&timer)
            .unwrap()
            .contains("OnUnitInactiveSec=3600s")
    );

    // Token rotation is a change too, reported without the value.
    env.set_env("GITLAB_TOKEN", "glpat-rotated");
    let rotated = env
        .run_in(
            &ws,
            &["-J", "install", "--interval", "1h", "--profile", "fast"],
        )
        .ok();
    assert_eq!(
        rotated.json()["data"]["changes"],
        serde_json::json!(["token"])
    );
    assert!(!rotated.stdout.contains("glpat"));
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "GITLAB_TOKEN=\"glpat-rotated\"\n"
    );

    // status sees it installed and undrifted.
    let st = env.json_in(&ws, &["status"]);
    assert_eq!(st["data"]["installed"], true);
    assert_eq!(st["data"]["scheduler_state"], "idle");
    assert_eq!(
        st["data"]["drift"],
        serde_json::json!({"platform_drift": false, "spec_drift": false, "command_drift": false})
    );

    // Uninstall removes config, keeps data; twice is fine.
    std::fs::create_dir_all(env.service_dir(&id).join("logs")).unwrap();
    std::fs::write(env.service_dir(&id).join("runs.jsonl"), "").unwrap();
    let un = env.json_in(&ws, &["uninstall"]);
    assert_eq!(un["data"]["was_installed"], true, "{un}");
    for p in [
        &service,
        &timer,
        &env_file,
        &env.service_dir(&id).join("manifest.json"),
    ] {
        assert!(!p.exists(), "{} should be removed", p.display());
    }
    assert!(env.service_dir(&id).join("runs.jsonl").exists());
    assert!(env.service_dir(&id).join("logs").exists());
    assert!(
        env.systemctl_calls()
            .contains(&format!("--user disable --now syncfleet-{id}.timer"))
    );
    let un2 = env.run_in(&ws, &["uninstall"]).ok();
    assert!(un2.stdout.contains("not installed"), "{}", un2.stdout);
    let st = env.json_in(&ws, &["status"]);
    assert_eq!(st["data"]["scheduler_state"], "not_installed");
}

#[test]
fn failed_enable_leaves_nothing_behind() {
    let mut env = TestEnv::new();
    env.set_env("T", "secret");
    env.set_env("FAKE_SYSTEMCTL_FAIL", "enable");
    let ws = env.workspace(
        "beta",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "T""#,
    );
    let r = env.run_in(&ws, &["-J", "install"]);
    assert_eq!(r.code, 22, "{}", r.stdout);
    let e = r.json();
    assert_eq!(e["ok"], false);
    assert_eq!(e["error"]["code"], "SERVICE_COMMAND_FAILED");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad setting")
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.unit_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let id = env.json_in(&ws, &["status"])["data"]["service_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!env.service_dir(&id).join("manifest.json").exists());
    assert!(!env.service_dir(&id).join("env").exists());
}

#[test]
fn dry_run_writes_and_runs_nothing_and_hides_the_token() {
    let mut env = TestEnv::new();
    env.set_env("T", "tok-DRYRUN-secret");
    let ws = env.workspace(
        "gamma",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "T""#,
    );
    let r = env
        .run_in(
            &ws,
            &["-J", "install", "--dry-run", "--token-source", "embedded"],
        )
        .ok();
    assert!(!r.stdout.contains("tok-DRYRUN-secret"), "{}", r.stdout);
    let d = r.json()["data"].clone();
    assert_eq!(d["dry_run"], true);
    let rendered = d["rendered"].as_array().unwrap();
    assert_eq!(rendered.len(), 2);
    assert!(
        rendered[0]["content"]
            .as_str()
            .unwrap()
            .contains("Environment=\"T=<redacted>\"")
    );
    assert!(
        d["planned_commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("enable --now"))
    );
    assert!(!env.unit_dir().exists());
    assert!(!env.data_dir().join("services").exists());
    assert!(
        env.systemctl_calls()
            .iter()
            .all(|c| c.starts_with("--user show")),
        "{:?}",
        env.systemctl_calls()
    );
    let human = env.run_in(&ws, &["install", "--dry-run"]).ok();
    assert!(
        human.stdout.contains("Dry run") && human.stdout.contains("[Timer]"),
        "{}",
        human.stdout
    );
}

#[test]
fn missing_token_and_bad_flags_are_clear_errors() {
    let env = TestEnv::new();
    let ws = env.workspace(
        "delta",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "NOPE_TOKEN""#,
    );
    let r = env.run_in(&ws, &["-J", "install"]);
    assert_eq!(r.code, 5);
    assert_eq!(r.json()["error"]["code"], "TOKEN_NOT_SET");
    let r = env.run_in(&ws, &["install", "--interval", "4m"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("minimum interval is 5m"), "{}", r.stderr);
    let r = env.run_in(&ws, &["install", "--name", "!!!"]);
    assert_eq!(r.code, 2);
    let r = env.run_in(&ws, &["install", "--profile", "huge"]);
    assert_eq!(r.code, 2, "clap usage error");
}

#[test]
fn names_are_sanitized_and_collisions_refused() {
    let env = TestEnv::new();
    let a = simple_workspace(&env, "one");
    let b = simple_workspace(&env, "two");
    let out = env.json_in(&a, &["install", "--name", "My Project"]);
    assert_eq!(out["data"]["service_id"], "my-project", "{out}");
    assert!(env.unit_dir().join("syncfleet-my-project.timer").exists());
    let r = env.run_in(&b, &["-J", "install", "--name", "my-project"]);
    assert_eq!(r.code, 8);
    let e = r.json();
    assert_eq!(e["error"]["code"], "NAME_CONFLICT");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("ws/one"),
        "{e}"
    );
    // The same workspace under another name is refused too.
    let r = env.run_in(&a, &["-J", "install", "--name", "other"]);
    assert_eq!(r.json()["error"]["code"], "NAME_CONFLICT");
    // Status by name, from anywhere.
    let st = env.json(&["status", "--service", "my-project"]);
    assert_eq!(st["data"]["installed"], true);
}

fn verify_units(env: &TestEnv, unit_files: &[&Path]) {
    if !tool_available("systemd-analyze", "verifying installed units") {
        return;
    }
    let runtime = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .args(unit_files)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("HOME", env.home())
        .env("XDG_CONFIG_HOME", env.path("config"))
        .output()
        .expect("systemd-analyze must be installed (apt-get install systemd); .ci/run installs it");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify failed ({:?}):\n{stderr}",
        out.status
    );
}

#[test]
fn rendered_units_pass_systemd_analyze_verify_even_with_awkward_paths() {
    for (name, token_source, token) in [
        ("plain", "env-file", "glpat-abc"),
        (
            "my space %d & <x> $HOME 'q' \"dq\" ünï",
            "embedded",
            "tok&en<>'\"$X%n",
        ),
    ] {
        let mut env = TestEnv::new();
        env.set_env("T", token);
        let ws = env.workspace(
            name,
            &stages(&[stage("pull", &["ok"], "")]),
            r#""token_env_var": "T""#,
        );
        let data = env.path(&format!("data dir %i {name}"));
        env.set_env("SYNCFLEET_DATA_DIR", data.to_str().unwrap());
        let out = env.json_in(&ws, &["install", "--token-source", token_source]);
        assert_eq!(out["ok"], true, "{out}");
        let files: Vec<String> = out["data"]["service_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        let paths: Vec<&Path> = files.iter().map(Path::new).collect();
        verify_units(&env, &paths);
        let unit = std::fs::read_to_string(paths[0]).unwrap();
        if token_source == "embedded" {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(paths[0]).unwrap().permissions().mode() & 0o777,
                0o600,
                "a unit holding a token is private"
            );
            assert!(unit.contains("tok&en<>'\\\"$X%%n"), "{unit}");
        }
        // The command read back from the unit is exactly the manifest's.
        let st = env.json_in(&ws, &["status"]);
        assert_eq!(st["data"]["drift"]["command_drift"], false, "{st}");
        assert_eq!(st["data"]["drift"]["spec_drift"], false, "{st}");
    }
}

#[test]
fn editing_a_unit_is_reported_as_drift_and_reinstall_repairs_it() {
    let env = TestEnv::new();
    let ws = simple_workspace(&env, "drifty");
    let id = env.install_in(&ws, &[]);
    let service = env.unit_dir().join(format!("syncfleet-{id}.service"));
    let text = std::fs::read_to_string(&service)
        .unwrap()
        .replace("\"--robot\"", "\"--robot\" \"--verbose\"");
    std::fs::write(&service, text).unwrap();
    let st = env.json_in(&ws, &["status"]);
    assert_eq!(st["data"]["drift"]["spec_drift"], true);
    assert_eq!(st["data"]["drift"]["command_drift"], true);
    let doc = env.run_in(&ws, &["-J", "doctor", "--offline"]);
    assert_eq!(doc.code, 10, "doctor fails on drift: {}", doc.stdout);
    let re = env.json_in(&ws, &["install"]);
    assert_eq!(
        re["data"]["changes"],
        serde_json::json!(["repaired drifted artifacts"]),
        "{re}"
    );
    assert_eq!(
        env.json_in(&ws, &["status"])["data"]["drift"]["spec_drift"],
        false
    );
}

#[test]
fn unreachable_user_manager_blocks_install_with_an_actionable_error() {
    let mut env = TestEnv::new();
    env.set_env("FAKE_SYSTEMCTL_FAIL", "unreachable");
    let ws = simple_workspace(&env, "nobus");
    let r = env.run_in(&ws, &["-J", "install"]);
    assert_eq!(r.code, 10);
    let e = r.json();
    assert_eq!(e["error"]["code"], "DOCTOR_FAILED");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("systemctl --user is not reachable"),
        "{e}"
    );
    assert!(!env.unit_dir().exists());
}

#[test]
fn uninstall_removes_the_timer_stamp_of_a_persistent_calendar() {
    let env = TestEnv::new();
    let ws = simple_workspace(&env, "stamped");
    let id = env.install_in(&ws, &["--at", "daily"]);
    // What the user manager writes for a `Persistent=` timer that fired.
    let stamps = env.path("share").join("systemd/timers");
    std::fs::create_dir_all(&stamps).unwrap();
    let stamp = stamps.join(format!("stamp-syncfleet-{id}.timer"));
    std::fs::write(&stamp, "").unwrap();
    let un = env.json_in(&ws, &["uninstall"]);
    assert_eq!(un["ok"], true, "{un}");
    assert!(
        !stamp.exists(),
        "a later timer of this name would catch up from it"
    );
    assert!(
        un.to_string()
            .contains(&format!("stamp-syncfleet-{id}.timer")),
        "listed among the removed files: {un}"
    );
}
