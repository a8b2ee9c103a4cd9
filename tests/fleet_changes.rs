//! Changing a fleet without surprises (issue 8): moving a workspace,
//! one reading of every manifest, and fleet selection that acts as
//! people expect.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn ok_stage() -> String {
    stages(&[stage("pull", &["ok", "1"], "")])
}

fn canonical(p: &Path) -> String {
    p.canonicalize().unwrap().display().to_string()
}

#[track_caller]
// --- item 6: a moved workspace can be re-attached ---------------------
#[test]
fn move_reattaches_a_moved_workspace_keeping_id_history_status_and_settings() {
    let env = TestEnv::new();
    let old = env.workspace("a", &ok_stage(), r#""tags": ["team-a"]"#);
    let old_root = canonical(&old);
    let id = env.install_in(&old, &["--interval", "1h", "--profile", "fast"]);
    assert_eq!(
        env.json_in(&old, &["trigger"])["data"]["outcome"],
        "success"
    );
    env.json_in(&old, &["pause", "--reason", "moving house"]);

    let new = env.path("moved/b");
    std::fs::create_dir_all(new.parent().unwrap()).unwrap();
    std::fs::rename(&old, &new).unwrap();
    let new_root = canonical(&new);

    // The service whose workspace is gone says so, with the command.
    let st = env.json(&["status", "--service", &id])["data"].clone();
    assert_eq!(st["workspace_missing"], true, "{st}");
    let human = env.run(&["status", "--service", &id]).ok().stdout;
    assert!(
        human.contains("(gone)") && human.contains(&format!("syncfleet move --service {id} ")),
        "{human}"
    );
    // Inside the moved workspace: not installed here, and which command
    // re-attaches it.
    let here = env.json_in(&new, &["status"])["data"].clone();
    assert_eq!(here["installed"], false);
    assert_eq!(here["moved_from"][0]["service_id"], id.as_str(), "{here}");
    assert_eq!(here["moved_from"][0]["previous_workspace_root"], old_root);
    let command = format!("syncfleet move --service {id} {new_root}");
    assert_eq!(here["moved_from"][0]["command"], command.as_str());
    let human = env.run_in(&new, &["status"]).ok().stdout;
    assert!(human.contains(&command), "{human}");

    // Re-attach, by a prefix of the id and a relative directory.
    let before = env.manifest(&id);
    let r = env.run_in(
        &env.path("moved"),
        &["-J", "move", "--service", &id[..6], "b"],
    );
    let moved = r.ok().json()["data"].clone();
    assert_eq!(moved["service_id"], id.as_str());
    assert_eq!(moved["previous_workspace_root"], old_root);
    assert_eq!(moved["workspace_root"], new_root);
    assert_eq!(moved["no_change"], false);
    assert_eq!(moved["paused_reason"], "moving house");

    let after = env.manifest(&id);
    assert_eq!(after["service_id"], id.as_str(), "the id stays");
    assert_eq!(after["workspace_root"], new_root);
    assert_eq!(
        after["config_path"],
        format!("{new_root}/syncfleet.json").as_str()
    );
    assert_ne!(after["identity_hash"], before["identity_hash"]);
    for kept in [
        "interval_seconds",
        "profile",
        "platform",
        "token_source",
        "tags",
        "installed_at_iso",
        "lock_group",
    ] {
        assert_eq!(after[kept], before[kept], "{kept}");
    }
    // The artifacts were re-rendered for the new place.
    let unit =
        std::fs::read_to_string(env.unit_dir().join(format!("syncfleet-{id}.service"))).unwrap();
    assert!(
        unit.contains(&new_root) && !unit.contains(&old_root),
        "{unit}"
    );
    // Status, history and the registry follow.
    let st = env.json_in(&new, &["status"])["data"].clone();
    assert_eq!(st["service_id"], id.as_str());
    assert_eq!(st["installed"], true);
    assert_eq!(st["paused_reason"], "moving house");
    assert!(st.get("workspace_missing").is_none(), "{st}");
    let history = env.json(&["history", "--service", &id])["data"]["runs"].clone();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    let list = env.json(&["list"])["data"]["services"].clone();
    assert_eq!(list[0]["workspace_root"], new_root);
    assert_eq!(list[0]["interval_seconds"], 3600);

    // Twice is a no-op; and install in the new place keeps the id.
    let again = env.json(&["move", "--service", &id, new.to_str().unwrap()])["data"].clone();
    assert_eq!(again["no_change"], true, "{again}");
    assert_eq!(
        env.install_in(&new, &["--interval", "1h", "--profile", "fast"]),
        id
    );
    // And it runs from there.
    env.json_in(&new, &["resume"]);
    assert_eq!(
        env.json(&["run", "--service-id", &id])["data"]["outcome"],
        "success"
    );
}

#[test]
fn move_refuses_a_dir_without_config_and_another_services_workspace() {
    let env = TestEnv::new();
    let a = env.workspace("a", &ok_stage(), "");
    let b = env.workspace("b", &ok_stage(), "");
    let ida = env.install_in(&a, &[]);
    let idb = env.install_in(&b, &[]);
    let empty = env.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let before = env.manifest(&ida);

    let r = env.run(&["-J", "move", "--service", &ida, empty.to_str().unwrap()]);
    let e = error_of(&r, 3, "CONFIG_NOT_FOUND");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("has no syncfleet.json"),
        "{e}"
    );

    let r = env.run(&["-J", "move", "--service", &ida, b.to_str().unwrap()]);
    let e = error_of(&r, 8, "NAME_CONFLICT");
    assert!(e["message"].as_str().unwrap().contains(&idb), "{e}");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains(&format!("syncfleet uninstall --service {idb}"))
    );

    let r = env.run(&["-J", "move", "--service", "nosuch", a.to_str().unwrap()]);
    error_of(&r, 6, "SERVICE_NOT_FOUND");
    assert_eq!(env.manifest(&ida), before, "a refused move changes nothing");
}

// --- item 8: one reading of every manifest ----------------------------

#[test]
fn a_manifest_from_a_newer_syncfleet_says_upgrade_in_every_command() {
    let env = TestEnv::new();
    let ws = env.workspace("fut", &ok_stage(), "");
    let id = env.install_in(&ws, &[]);
    let path = env.service_dir(&id).join("manifest.json");
    let mut m = env.manifest(&id);
    m["schema_version"] = json!(99);
    let text = serde_json::to_string_pretty(&m).unwrap();
    std::fs::write(&path, &text).unwrap();

    #[track_caller]
    fn says_upgrade(message: &str, fix: &str) {
        assert!(
            message.contains("written by a newer syncfleet")
                && message.contains("schema_version 99"),
            "{message}"
        );
        assert!(fix.contains("upgrade syncfleet"), "{fix}");
        assert!(!fix.contains("repair") && !fix.contains("install"), "{fix}");
        assert!(!message.contains("not installed"), "{message}");
    }

    let in_ws: &[&[&str]] = &[
        &["status"],
        &["trigger"],
        &["repair"],
        &["pause"],
        &["resume"],
        &["sync"],
    ];
    for args in in_ws {
        let mut full = vec!["-J"];
        full.extend_from_slice(args);
        let e = error_of(&env.run_in(&ws, &full), 23, "SERVICE_CORRUPT_STATE");
        says_upgrade(
            e["message"].as_str().unwrap(),
            e["suggestion"].as_str().unwrap(),
        );
    }
    let by_id: &[&[&str]] = &[
        &["status", "--service", &id],
        &["trigger", "--service", &id],
        &["repair", "--service", &id],
        &["status", "--service", &id[..5]],
    ];
    for args in by_id {
        let mut full = vec!["-J"];
        full.extend_from_slice(args);
        let e = error_of(&env.run(&full), 23, "SERVICE_CORRUPT_STATE");
        says_upgrade(
            e["message"].as_str().unwrap(),
            e["suggestion"].as_str().unwrap(),
        );
    }
    // A batch reports it per service.
    let all = env.run(&["-J", "trigger", "--all"]);
    assert_eq!(all.code, 23);
    let item = all.json()["data"]["items"][0]["error"].clone();
    says_upgrade(
        item["message"].as_str().unwrap(),
        item["suggestion"].as_str().unwrap(),
    );

    // doctor, for the workspace and for the fleet: the same words.
    for (cwd, args) in [
        (ws.as_path(), vec!["-J", "doctor", "--offline"]),
        (env.dir.path(), vec!["-J", "doctor", "--offline"]),
        (
            env.dir.path(),
            vec!["-J", "doctor", "--offline", "--service", &id],
        ),
    ] {
        let r = env.run_in(cwd, &args);
        assert_eq!(r.code, 10, "{}", r.stdout);
        let v = r.json()["data"].clone();
        let checks: Vec<Value> = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .chain(
                v["services"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| s["checks"].as_array().unwrap()),
            )
            .cloned()
            .collect();
        let newer = checks
            .iter()
            .find(|c| c["status"] == "fail" && c["message"].as_str().unwrap().contains("newer"))
            .unwrap_or_else(|| panic!("{args:?}: {v}"));
        says_upgrade(
            newer["message"].as_str().unwrap(),
            newer["action"].as_str().unwrap(),
        );
    }

    // list from the files names it instead of dropping it silently.
    let list = env.json(&["list", "--from-files"])["data"].clone();
    assert_eq!(list["services"], json!([]));
    let warning = list["warnings"][0].as_str().unwrap();
    assert!(warning.contains(&id), "{warning}");
    says_upgrade(warning, warning);

    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "nothing touched the newer file"
    );
}

#[test]
fn a_corrupt_manifest_names_the_exact_repair_command() {
    let env = TestEnv::new();
    let ws = env.workspace("bad", &ok_stage(), "");
    let id = env.install_in(&ws, &[]);
    std::fs::write(env.service_dir(&id).join("manifest.json"), "{{{").unwrap();
    let e = error_of(
        &env.run_in(&ws, &["-J", "status"]),
        23,
        "SERVICE_CORRUPT_STATE",
    );
    let repair = format!("syncfleet repair --service {id}");
    assert!(e["suggestion"].as_str().unwrap().contains(&repair), "{e}");
    // repair finds it from the workspace, not only by id.
    let rep = env.json_in(&ws, &["repair"])["data"].clone();
    assert_eq!(rep["needs_reinstall"], true, "{rep}");
}

// --- item 9: fleet commands that act as people expect -----------------

fn named_fleet(env: &TestEnv, names: &[&str]) {
    let mut args = vec!["--robot".to_string(), "install".into()];
    for (i, n) in names.iter().enumerate() {
        let ws = env.workspace(
            n,
            &ok_stage(),
            &format!(r#""name": "{n}", "tags": ["group-{}"]"#, i % 2),
        );
        args.push("--workspace".into());
        args.push(ws.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&refs).ok();
}

#[test]
fn service_accepts_a_unique_prefix_and_lists_a_handful_of_candidates() {
    let env = TestEnv::new();
    named_fleet(
        &env,
        &[
            "api-one", "api-two", "web-1", "web-2", "web-3", "web-4", "web-5", "web-6",
        ],
    );
    assert_eq!(
        env.json(&["status", "--service", "api-o"])["data"]["service_id"],
        "api-one"
    );
    assert_eq!(
        env.json(&["history", "--service", "api-t"])["ok"],
        true,
        "history takes a prefix too"
    );
    let e = error_of(
        &env.run(&["-J", "pause", "--service", "api"]),
        7,
        "AMBIGUOUS_SERVICE",
    );
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("api-one") && msg.contains("api-two"), "{msg}");
    assert!(!msg.contains("more"), "{msg}");

    // Six candidates: five shown, then how to see them all.
    let e = error_of(
        &env.run(&["-J", "status", "--service", "web"]),
        7,
        "AMBIGUOUS_SERVICE",
    );
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("web-5") && !msg.contains("web-6"), "{msg}");
    assert!(
        msg.contains("… and 1 more; see all with `syncfleet list`"),
        "{msg}"
    );
    let e = error_of(
        &env.run(&["-J", "status", "--service", "nosuch"]),
        6,
        "SERVICE_NOT_FOUND",
    );
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("… and 3 more; see all with `syncfleet list`"),
        "{msg}"
    );
    assert_eq!(msg.matches(" (/").count(), 5, "{msg}");
    // Outside any workspace with several services: the same cap.
    let e = error_of(&env.run(&["-J", "status"]), 7, "AMBIGUOUS_SERVICE");
    assert!(
        e["message"].as_str().unwrap().contains("… and 3 more"),
        "{e}"
    );
}

#[test]
fn a_tag_no_service_has_is_an_error_listing_the_known_tags() {
    let env = TestEnv::new();
    named_fleet(&env, &["one", "two"]);
    for cmd in ["pause", "resume", "trigger"] {
        let e = error_of(
            &env.run(&["-J", cmd, "--tag", "nosuch"]),
            6,
            "SERVICE_NOT_FOUND",
        );
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains("'nosuch'") && msg.contains("known tags: group-0, group-1"),
            "{cmd}: {msg}"
        );
    }
    let batch = env.json(&["pause", "--tag", "group-1"])["data"].clone();
    assert_eq!(batch["succeeded"], 1, "{batch}");
}

#[test]
fn pause_without_a_reason_keeps_the_first_one() {
    let env = TestEnv::new();
    let ws = env.workspace("p", &ok_stage(), "");
    env.install_in(&ws, &[]);
    env.json_in(&ws, &["pause", "--reason", "GitLab maintenance"]);
    let again = env.json_in(&ws, &["pause"])["data"].clone();
    assert_eq!(again["already_paused"], true);
    assert_eq!(again["reason_updated"], false);
    assert_eq!(again["reason"], "GitLab maintenance");
    assert_eq!(
        env.json_in(&ws, &["status"])["data"]["paused_reason"],
        "GitLab maintenance"
    );
    let human = env.run_in(&ws, &["pause"]).ok().stdout;
    assert!(
        human.contains("reason kept") && human.contains("GitLab maintenance"),
        "{human}"
    );
    // A new reason, given, replaces it.
    let updated = env.json_in(&ws, &["pause", "--reason", "longer"])["data"].clone();
    assert_eq!(updated["reason_updated"], true);
    assert_eq!(
        env.json_in(&ws, &["status"])["data"]["paused_reason"],
        "longer"
    );
}

#[test]
fn trigger_exits_non_zero_when_its_run_fails_and_run_does_not() {
    let env = TestEnv::new();
    let ws = env.workspace("f", &stages(&[stage("pull", &["fail"], "")]), "");
    let id = env.install_in(&ws, &[]);
    let r = env.run_in(&ws, &["-J", "trigger"]);
    assert_eq!(r.code, 11, "{}", r.stdout);
    assert_eq!(r.json()["data"]["outcome"], "failed");
    let r = env.run(&["-J", "trigger", "--all", "--ignore-backoff"]);
    assert_eq!(
        r.code, 11,
        "a batch exits like its failed run: {}",
        r.stdout
    );
    let r = env.run(&["run", "--service-id", &id]);
    assert_eq!(r.code, 0, "the scheduler's run always exits 0");
    // A run that succeeds exits 0.
    let good = env.workspace("g", &ok_stage(), "");
    env.install_in(&good, &[]);
    assert_eq!(env.run_in(&good, &["trigger"]).code, 0);
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_private_whichever_command_creates_it() {
    use std::os::unix::fs::PermissionsExt;
    // Every command that can be the first to write into a fresh data dir.
    let commands: &[&[&str]] = &[&["sync"], &["list"], &["history"], &["install"]];
    for args in commands {
        let mut env = TestEnv::new();
        let data = env.path("fresh/syncfleet");
        env.set_env("SYNCFLEET_DATA_DIR", data.to_str().unwrap());
        let ws = env.workspace("d", &ok_stage(), "");
        let _ = env.run_in(&ws, args);
        let mode = std::fs::metadata(&data)
            .unwrap_or_else(|e| panic!("{args:?} created no data dir: {e}"))
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{args:?} created the data dir {mode:o}");
        for sub in ["locks", "services"] {
            let p = data.join(sub);
            if p.exists() {
                let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(m, 0o700, "{args:?}: {sub} is {m:o}");
            }
        }
    }
}

#[test]
fn completions_offer_the_fleets_services_and_tags() {
    let env = TestEnv::new();
    named_fleet(&env, &["alpha", "beta"]);
    let unnamed = env.workspace("plain", &ok_stage(), r#""tags": ["extra"]"#);
    let plain = env.install_in(&unnamed, &[]);
    let services = env.run(&["__complete", "services"]).ok().stdout;
    let mut expected = vec!["alpha".to_string(), "beta".into(), plain.clone()];
    expected.sort();
    assert_eq!(services.lines().collect::<Vec<_>>(), expected);
    let tags = env.run(&["--robot", "__complete", "tags"]).ok().stdout;
    assert_eq!(tags, "extra\ngroup-0\ngroup-1\n");
    // Without a registry (lost), from the manifests.
    std::fs::remove_file(env.data_dir().join("registry.db")).unwrap();
    assert_eq!(env.run(&["__complete", "tags"]).ok().stdout, tags);
    assert!(
        !env.data_dir().join("registry.db").exists(),
        "completion never creates the registry"
    );

    // The checked-in bash script asks it after --service and --tag.
    if !tool_available("bash", "running the bash completion") {
        return;
    }
    let script = repo().join("completions/syncfleet.bash");
    let bin_dir = PathBuf::from(BIN).parent().unwrap().to_path_buf();
    let complete = |line: &str| -> String {
        let shell = format!(
            "source {} && COMP_WORDS=({line}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) && _syncfleet_fleet syncfleet && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &shell])
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
            )
            .env("HOME", env.home())
            .env("SYNCFLEET_DATA_DIR", env.data_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(complete("syncfleet status --service al"), "alpha\n");
    assert_eq!(
        complete("syncfleet pause --tag group"),
        "group-0\ngroup-1\n"
    );
    // Every other word still goes to clap's generated completion.
    assert!(complete("syncfleet stat").contains("status"));
}
