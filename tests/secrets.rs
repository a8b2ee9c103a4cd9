//! Tokens reach stages exactly and nowhere else: the env file reads back
//! as the token through systemd's own parser and through the cron/launchd
//! wrapper path, and no prefix of a token survives the truncation of a
//! stage error into any file or output.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// Tokens an env file must carry unchanged.
const AWKWARD: &[&str] = &[
    "plain-token-123",
    " lead",
    "trail ",
    "  both  ",
    "\"double\"",
    "'single'",
    "it's \"mixed\" 'both'",
    "a\\b",
    "trailing\\",
    "\\\\two",
    "$HOME",
    "${HOME}",
    "cost$$",
    "dollar at end $",
    "a $ b",
    "#hash",
    ";semi",
    "a=b==c",
    "=lead-eq",
    "`tick`",
    "ünïcødé ✓ 令牌",
];

const GENERATOR: &str =
    "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator";

/// environment.d (unlike EnvironmentFile=) expands `$NAME`, `${NAME}` and
/// `$$` after parsing: a token with those cannot be compared through the
/// generator, only through the real EnvironmentFile= loader (e2e).
fn expanded_by_environment_d(token: &str) -> bool {
    token.as_bytes().windows(2).any(|w| {
        w[0] == b'$'
            && (w[1] == b'{' || w[1] == b'$' || w[1] == b'_' || w[1].is_ascii_alphanumeric())
    })
}

/// A value as the generator prints it: as is, or double-quoted with `"`,
/// `\`, `` ` `` and `$` backslash-escaped (shell style).
fn unquote_generator_value(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// Each token goes through `install` (the env file it really writes) and
/// then through systemd's own env-file parser.
#[test]
fn systemds_env_file_parser_reads_back_every_awkward_token() {
    if !Path::new(GENERATOR).is_file() {
        assert!(
            std::env::var("SYNCFLEET_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{GENERATOR} is required here (SYNCFLEET_REQUIRE_TOOLS=1)"
        );
        eprintln!(
            "SKIP: {GENERATOR} is not installed (systemd's env-file parser); .ci/run installs systemd"
        );
        return;
    }
    let mut env = TestEnv::new();
    let ws = env.workspace(
        "gen",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "SF_TOK""#,
    );
    let generator_home = env.path("generator-home");
    let conf = generator_home.join("config/environment.d");
    std::fs::create_dir_all(&conf).unwrap();
    let mut compared = 0;
    for token in AWKWARD {
        if expanded_by_environment_d(token) {
            eprintln!("not through the generator (environment.d expands `$`): {token:?}");
            continue;
        }
        env.set_env("SF_TOK", token);
        let v = env.json_in(&ws, &["install"]);
        assert_eq!(v["ok"], true, "{v}");
        let id = v["data"]["service_id"].as_str().unwrap();
        std::fs::copy(env.service_dir(id).join("env"), conf.join("50-token.conf")).unwrap();
        let out = Command::new(GENERATOR)
            .env_clear()
            .env("HOME", &generator_home)
            .env("XDG_CONFIG_HOME", generator_home.join("config"))
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let printed = String::from_utf8(out.stdout).unwrap();
        let line = printed
            .lines()
            .find(|l| l.starts_with("SF_TOK="))
            .unwrap_or_else(|| panic!("SF_TOK missing for {token:?} from:\n{printed}"));
        assert_eq!(
            unquote_generator_value(&line["SF_TOK=".len()..]),
            *token,
            "systemd read back something else for {token:?} (line {line:?})"
        );
        compared += 1;
    }
    assert!(compared >= 15, "the corpus must mostly go through systemd");
}

#[test]
fn install_writes_the_quoted_env_file_and_refuses_control_characters() {
    let mut env = TestEnv::new();
    let ws = env.workspace(
        "ef",
        &stages(&[stage("pull", &["ok"], "")]),
        r#""token_env_var": "SF_TOK""#,
    );
    env.set_env("SF_TOK", " it's a \"tok\\en\" $x ");
    let id = env.install_in(&ws, &[]);
    assert_eq!(
        std::fs::read_to_string(env.service_dir(&id).join("env")).unwrap(),
        "SF_TOK=\" it's a \\\"tok\\\\en\\\" \\$x \"\n"
    );
    env.set_env("SF_TOK", "tab\there-long-enough");
    let v = env.json_in(&ws, &["install"]);
    assert_eq!(v["error"]["code"], "INVALID_ARGUMENT", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("control character"), "{message}");
    assert!(
        !message.contains("here-long-enough"),
        "never the token: {message}"
    );
}

/// The cron (and launchd) path: the scheduler runs the wrapper with no
/// token in its environment; the stage must get exactly the token.
#[test]
fn the_cron_wrapper_path_reads_awkward_tokens_exactly() {
    let mut env = TestEnv::new();
    let expected = env.path("expected-token");
    let ws = env.workspace(
        "cw",
        &stages(&[stage(
            "pull",
            &["check-token", "SF_TOK", expected.to_str().unwrap()],
            "",
        )]),
        r#""token_env_var": "SF_TOK""#,
    );
    for token in AWKWARD {
        env.set_env("SF_TOK", token);
        let v = env.json_in(
            &ws,
            &["install", "--scheduler", "cron", "--interval", "15m"],
        );
        assert_eq!(v["ok"], true, "{v}");
        let id = v["data"]["service_id"].as_str().unwrap().to_string();
        std::fs::write(&expected, token).unwrap();
        let wrapper = env.service_dir(&id).join("run.sh");
        let out = Command::new(&wrapper)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", env.home())
            .env("SF_TOK", "stale value in cron's environment")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            report["data"]["outcome"], "success",
            "the stage saw another token than {token:?}: {report}"
        );
    }
}

/// A core stage fails with an error line in which the token straddles the
/// 4,096-byte cut of stage errors, at several offsets.
#[test]
fn no_token_prefix_survives_the_cut_of_a_stage_error() {
    let mut env = TestEnv::new();
    let token = "glpat-Zq8xW3vN5mK7pL2rT9";
    env.set_env("SF_TOK", token);
    let failing = |name: &str, before: usize, optional: bool| {
        format!(
            r#"{{"name": "{name}", "optional": {optional}, "command": ["sh", "-c", "printf '%s%s and more\n' \"$(head -c {before} /dev/zero | tr '\\0' x)\" \"$SF_TOK\" >&2; exit 1"]}}"#
        )
    };
    let list = [
        failing("core", 4096 - 6, false),
        failing("near", 4096 - token.len() + 1, true),
        failing("at", 4096, true),
        failing("late", 4090, true),
    ];
    let ws = env.workspace("leak", &stages(&list), r#""token_env_var": "SF_TOK""#);
    let mut outputs = Vec::new();
    let install = env.run_in(&ws, &["-J", "install"]).ok();
    let id = install.json()["data"]["service_id"]
        .as_str()
        .unwrap()
        .to_string();
    outputs.push(install);
    outputs.push(env.run(&["-J", "run", "--service-id", &id]));
    outputs.push(env.run_in(&ws, &["trigger", "--ignore-backoff"]));
    outputs.push(env.run_in(&ws, &["sync"]));
    for args in [
        &["status"][..],
        &["-J", "status"],
        &["logs", "--tail", "100"],
        &["-J", "logs", "--tail", "100"],
        &["history"],
        &["-J", "history"],
        &["-J", "report"],
        &["list"],
        &["-J", "doctor", "--offline"],
    ] {
        outputs.push(env.run_in(&ws, args));
    }
    let stored = std::fs::read_to_string(env.service_dir(&id).join("runs.jsonl")).unwrap();
    assert!(
        stored.contains("xxxxxxxxxx"),
        "the stage errors are recorded (the test must see them): {stored}"
    );
    let prefix = &token[..6];
    // The env file is where the token belongs.
    let env_file = env.service_dir(&id).join("env");
    for (path, bytes) in env.all_files().into_iter().filter(|(p, _)| *p != env_file) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(prefix),
            "{} holds a token prefix",
            path.display()
        );
    }
    for out in &outputs {
        assert!(
            !out.stdout.contains(prefix) && !out.stderr.contains(prefix),
            "output holds a token prefix:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}
