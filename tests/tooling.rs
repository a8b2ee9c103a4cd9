//! Completions, robot-docs and init.

mod common;
use common::*;
use std::path::PathBuf;
use syncfleet::cli::ShellArg;

const SHELLS: [(ShellArg, &str); 3] = [
    (ShellArg::Bash, "syncfleet.bash"),
    (ShellArg::Zsh, "_syncfleet"),
    (ShellArg::Fish, "syncfleet.fish"),
];

fn completions_dir() -> PathBuf {
    repo().join("completions")
}

#[test]
fn checked_in_completions_are_fresh() {
    let bless = std::env::var_os("SYNCFLEET_BLESS").is_some();
    for (shell, file) in SHELLS {
        let script = syncfleet::commands::completions::script(shell);
        let path = completions_dir().join(file);
        if bless {
            std::fs::create_dir_all(completions_dir()).unwrap();
            std::fs::write(&path, &script).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).ok(),
            Some(script),
            "{file} is stale: run SYNCFLEET_BLESS=1 cargo test --test tooling"
        );
    }
}

#[test]
fn completions_load_in_the_real_shells() {
    let dir = completions_dir();
    let checks = [
        (
            "bash",
            format!(
                "source {}/syncfleet.bash && complete -p syncfleet",
                dir.display()
            ),
        ),
        (
            "zsh",
            format!(
                "autoload -U compinit && compinit -u && source {}/_syncfleet && print ok",
                dir.display()
            ),
        ),
        (
            "fish",
            format!(
                "source {}/syncfleet.fish && complete -c syncfleet | string match -q '*install*' && echo ok",
                dir.display()
            ),
        ),
    ];
    for (shell, script) in checks {
        if !tool_available(shell, "loading the generated completions") {
            continue;
        }
        let home = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(shell)
            .args(["-c", &script])
            .env("HOME", home.path())
            .output()
            .unwrap_or_else(|e| {
                panic!("{shell} must be installed (.ci/run installs bash, zsh and fish): {e}")
            });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{shell} failed to load its completions: {stderr}"
        );
    }
    // And the command prints the same script.
    let env = TestEnv::new();
    let r = env.run(&["completions", "bash"]).ok();
    assert_eq!(
        r.stdout.as_bytes(),
        syncfleet::commands::completions::script(ShellArg::Bash).as_slice()
    );
}

#[test]
fn robot_docs_cover_every_command_and_their_examples_parse() {
    use clap::{CommandFactory, Parser};
    let env = TestEnv::new();
    let docs = env.json(&["robot-docs"]);
    let commands = docs["data"]["commands"].as_object().unwrap();
    let cli = syncfleet::cli::Cli::command();
    for sub in cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let entry = commands
            .get(sub.get_name())
            .unwrap_or_else(|| panic!("robot-docs lacks {}", sub.get_name()));
        let flags: Vec<&str> = entry["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["flag"].as_str().unwrap())
            .collect();
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let name = format!("--{long}");
                assert!(
                    flags.contains(&name.as_str()) || long == "help",
                    "{} lacks {name}",
                    sub.get_name()
                );
            }
        }
        for ex in entry["examples"].as_array().unwrap() {
            let line = ex["command"].as_str().unwrap();
            let line = line
                .split(" | ")
                .next()
                .unwrap()
                .split(" > ")
                .next()
                .unwrap();
            let argv = shell_words::split(line).unwrap();
            assert!(
                syncfleet::cli::Cli::try_parse_from(&argv).is_ok(),
                "example does not parse: {line}"
            );
        }
    }
    assert!(
        commands.get("run").is_none(),
        "the hidden run is not advertised"
    );
    let codes = docs["data"]["exit_codes"].as_array().unwrap();
    assert!(
        codes
            .iter()
            .any(|c| c["code"] == "SERVICE_CORRUPT_STATE" && c["exit"] == 23)
    );
    // A reinstall keeps what is installed, so the flag has no fixed
    // default; its help says what applies.
    let interval = commands["install"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag"] == "--interval")
        .unwrap();
    assert!(interval.get("default").is_none(), "{interval}");
    assert!(
        interval.to_string().contains("the installed one, else 30m"),
        "{interval}"
    );
}

#[test]
fn init_writes_a_valid_config_and_never_overwrites_silently() {
    let env = TestEnv::new();
    let dir = env.path("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    let r = env.run_in(
        &dir,
        &[
            "-J",
            "init",
            "--project",
            "https://gitlab.example.com/g/p",
            "--stage",
            "pull=git pull --ff-only",
            "--optional-stage",
            "docs=sh -c 'make docs'",
            "--tag",
            "team-a",
        ],
    );
    let v = r.ok().json();
    assert_eq!(v["data"]["stages"], serde_json::json!(["pull", "docs"]));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("syncfleet.json")).unwrap())
            .unwrap();
    assert_eq!(
        written["stages"][1]["command"],
        serde_json::json!(["sh", "-c", "make docs"])
    );
    assert_eq!(written["stages"][1]["optional"], true);
    // The result loads as a workspace.
    assert_eq!(env.json_in(&dir, &["status"])["data"]["installed"], false);
    let again = env.run_in(&dir, &["init", "--stage", "x=true"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let lore = env
        .run_in(&dir, &["-J", "init", "--preset", "lore", "--force"])
        .ok()
        .json();
    assert_eq!(
        lore["data"]["stages"],
        serde_json::json!(["issues", "mrs", "docs", "embeddings"])
    );
    assert_eq!(lore["data"]["overwritten"], true);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("syncfleet.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["token_env_var"], "GITLAB_TOKEN");
    assert_eq!(
        cfg["stages"][0]["command"],
        serde_json::json!(["lore", "--robot", "sync", "--only", "issues"])
    );
    let empty = env.path("ws-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let none = env.run_in(&empty, &["init"]);
    assert_ne!(none.code, 0);
}

#[test]
fn colour_follows_the_flag_and_never_reaches_robot_output() {
    let mut env = TestEnv::new();
    let ws = env.workspace("c", &stages(&[stage("pull", &["ok"], "")]), "");
    env.json_in(&ws, &["install"]);
    let always = env
        .run_in(&ws, &["--color", "always", "trigger"])
        .ok()
        .stdout;
    assert!(always.contains("\x1b["), "{always}");
    let never = env
        .run_in(&ws, &["--color", "never", "trigger", "--ignore-backoff"])
        .ok()
        .stdout;
    assert!(!never.contains("\x1b["), "{never}");
    // Not a terminal: auto means no colour.
    assert!(!env.run_in(&ws, &["status"]).ok().stdout.contains("\x1b["));
    env.set_env("NO_COLOR", "1");
    assert!(
        env.run_in(&ws, &["--color", "always", "status"])
            .ok()
            .stdout
            .contains("\x1b["),
        "--color always beats NO_COLOR"
    );
    assert!(
        !env.run_in(&ws, &["--color", "always", "-J", "status"])
            .stdout
            .contains("\x1b[")
    );
}

#[test]
fn fleet_tables_fit_an_80_column_terminal() {
    let env = TestEnv::new();
    for name in [
        "a-workspace-with-a-rather-long-directory-name-one",
        "a-workspace-with-a-rather-long-directory-name-two",
    ] {
        let ws = env.workspace(
            name,
            &stages(&[stage("pull", &["fail"], "")]),
            r#""tags": ["team-alpha", "nightly-builds"]"#,
        );
        env.json_in(&ws, &["install"]);
        env.json_in(&ws, &["trigger"]);
    }
    for args in [
        vec!["list"],
        vec!["history"],
        vec!["history", "--stages"],
        vec!["report"],
        vec!["report", "--by", "day"],
    ] {
        let out = env.run(&args).ok().stdout;
        for line in out.lines() {
            assert!(
                line.chars().count() <= 80,
                "{args:?}: {} columns:\n{line}\n{out}",
                line.chars().count()
            );
        }
    }
    // A wider terminal gets every column.
    let mut env = env;
    env.set_env("COLUMNS", "250");
    assert!(env.run(&["list"]).ok().stdout.contains("TAGS"));
}
