//! The secret scan (issue 9): a representative fleet whose stages echo
//! their tokens and fail with errors longer than the 4,096-byte cut with
//! the token straddling it, driven through every command that shows
//! runs, in human and robot mode. Then every output, every file under the
//! test's temp dir (state, logs, units, crontab, hook dumps) and every
//! registry byte is searched for each test token and for every
//! 6-character piece of it. The only places a token may be are the ones
//! the user chose for it: the env file (env-file mode) and the scheduler
//! artifact (embedded mode), each for its own service's token alone.

mod common;
use common::*;
use std::path::PathBuf;

/// Mixed-case letters and digits: no 6-character piece of these occurs
/// by chance in hex ids, timestamps or English.
const ENV_FILE_TOKEN: &str = "Qz7vK2mXw9LpT4rN8sJdHfYc";
const EMBEDDED_TOKEN: &str = "Wm4PxR9tLq2ZvN7kJc5HdGsB";
const CRON_TOKEN: &str = "Yt6NbV3cXz8MqL1pKr5WjDhF";

/// Prints `PAD` bytes, then the token in `$1`, on one stderr line longer
/// than the 4,096 bytes kept for classification; the cut falls inside the
/// token after `$2` of its characters.
const STRADDLE: &str = r#"#!/bin/sh
eval "tok=\${$1}"
head -c "$((4096 - $2))" /dev/zero | tr '\0' 'e' >&2
printf '%s and then more text after the token\n' "$tok" >&2
exit 1
"#;

/// A JSON error on stdout whose message holds the token near its end,
/// under the cut: what is kept after parsing must still be redacted.
const JSON_ERROR: &str = r#"#!/bin/sh
eval "tok=\${$1}"
pad=$(head -c 3900 /dev/zero | tr '\0' 'j')
printf '{"ok":false,"error":{"code":"UPSTREAM_ERROR","message":"%s token %s end"}}\n' "$pad" "$tok"
exit 1
"#;

struct Service {
    var: &'static str,
    token: &'static str,
    ws: PathBuf,
    install: &'static [&'static str],
    embedded: bool,
}

fn stage_json(name: &str, command: &[&str], optional: bool) -> String {
    format!(
        r#"{{"name": "{name}", "command": {}, "optional": {optional}}}"#,
        serde_json::to_string(command).unwrap()
    )
}

/// Every 6-character piece of `token` (the whole token included).
fn pieces(token: &str) -> Vec<&str> {
    (0..=token.len() - 6).map(|i| &token[i..i + 6]).collect()
}

fn find(haystack: &[u8], needle: &str) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

#[test]
#[ignore = "the secret scan: .ci/run runs it with --ignored at the end of the suite"]
fn no_token_or_six_character_piece_of_one_leaks_anywhere() {
    let mut env = TestEnv::new();
    let straddle = env.path("straddle.sh");
    write_executable(&straddle, STRADDLE);
    let json_error = env.path("json-error.sh");
    write_executable(&json_error, JSON_ERROR);
    let hook_dumps = env.path("hook-dumps");
    std::fs::create_dir_all(&hook_dumps).unwrap();
    let straddle = straddle.to_str().unwrap();
    let json_error = json_error.to_str().unwrap();
    // The failure hook writes what syncfleet gives it (its SYNCFLEET_*
    // variables, and whether its own token variable was withheld) where
    // the scan looks. The rest of its environment is the person's shell,
    // where every test token is exported on purpose.
    let hook = |var: &str| {
        format!(
            r#""hooks": {{"failure": ["sh", "-c", "{{ env | grep ^SYNCFLEET_; echo own token: ${{{var}-withheld}}; }} > {}/failure-$SYNCFLEET_SERVICE_ID-$SYNCFLEET_RUN_ID"]}}"#,
            hook_dumps.display()
        )
    };
    let script = stage_script();
    let mut fleet = Vec::new();
    for (name, var, token, install, embedded, core_fails) in [
        (
            "envfile",
            "SF_TOKEN_ENV",
            ENV_FILE_TOKEN,
            &[][..],
            false,
            false,
        ),
        (
            "embedded",
            "SF_TOKEN_EMB",
            EMBEDDED_TOKEN,
            &["--token-source", "embedded"][..],
            true,
            false,
        ),
        (
            "cron",
            "SF_TOKEN_CRON",
            CRON_TOKEN,
            &["--scheduler", "cron", "--token-source", "embedded"][..],
            true,
            true,
        ),
    ] {
        let mut stages = vec![
            stage_json("echo", &[&script, "echo-token", var], false),
            stage_json("cut6", &[straddle, var, "6"], true),
            stage_json("cut13", &[straddle, var, "13"], true),
            stage_json("cut23", &[straddle, var, "23"], true),
            stage_json("json", &[json_error, var], true),
        ];
        if core_fails {
            // A failed run: status, backoff, the failure hook.
            stages.push(stage_json("core-cut9", &[straddle, var, "9"], false));
        }
        let ws = env.workspace(
            name,
            &format!("[{}]", stages.join(", ")),
            &format!(r#""token_env_var": "{var}", {}"#, hook(var)),
        );
        fleet.push(Service {
            var,
            token,
            ws,
            install,
            embedded,
        });
    }

    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut record = |label: String, r: Run| {
        outputs.push((label, format!("{}\n{}", r.stdout, r.stderr)));
    };
    // A person's shell: every token exported.
    for s in &fleet {
        env.set_env(s.var, s.token);
    }
    let mut ids = Vec::new();
    for s in &fleet {
        for robot in [true, false] {
            let mut args = if robot { vec!["-J"] } else { vec![] };
            args.push("install");
            args.extend_from_slice(s.install);
            let r = env.run_in(&s.ws, &args);
            assert_eq!(r.code, 0, "install {args:?}: {} {}", r.stdout, r.stderr);
            record(format!("{} {args:?}", s.ws.display()), r);
        }
        let dry = env.run_in(&s.ws, &["-J", "install", "--dry-run"]);
        record(format!("{} install --dry-run", s.ws.display()), dry);
        ids.push(
            env.json_in(&s.ws, &["status"])["data"]["service_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }

    // Scheduled runs see only what the scheduler gives them: the env file
    // (env-file mode) or the unit's own environment (embedded mode).
    let shell_env = env.extra_env.clone();
    for (s, id) in fleet.iter().zip(&ids) {
        env.extra_env.retain(|(k, _)| !k.starts_with("SF_TOKEN_"));
        if s.embedded {
            env.set_env(s.var, s.token);
        }
        for n in 0..2 {
            let r = env.run(&["run", "--service-id", id]);
            record(format!("run {id} #{n}"), r);
        }
        env.extra_env = shell_env.clone();
    }
    for (s, id) in fleet.iter().zip(&ids) {
        let ws = &s.ws;
        for args in [
            &["trigger", "--ignore-backoff"][..],
            &["-J", "trigger", "--ignore-backoff"],
            &["-v", "trigger", "--ignore-backoff"],
            &["sync"],
            &["-J", "sync"],
            &["status"],
            &["-J", "status"],
            &["logs", "--tail", "500"],
            &["-J", "logs", "--tail", "500"],
            &["doctor", "--offline"],
            &["-J", "doctor", "--offline"],
        ] {
            let r = env.run_in(ws, args);
            assert_ne!(r.code, 101, "{args:?} panicked: {}", r.stderr);
            record(format!("{id} {args:?}"), r);
        }
        for args in [
            vec!["history", "--stages", "--service", id],
            vec!["-J", "history", "--stages", "--service", id],
            vec!["history", "--stages", "--service", id, "--format", "csv"],
        ] {
            let r = env.run(&args);
            record(format!("{args:?}"), r);
        }
    }
    for args in [
        &["list"][..],
        &["-J", "list"],
        &["list", "--format", "csv"],
        &["history", "--stages"],
        &["-J", "history", "--stages"],
        &["report"],
        &["-J", "report"],
        &["report", "--by", "day"],
        &["doctor", "--offline"],
        &["-J", "doctor", "--offline"],
        &["-J", "reindex"],
        &["-J", "history", "--stages", "--format", "json"],
    ] {
        let r = env.run(args);
        assert_ne!(r.code, 101, "{args:?} panicked: {}", r.stderr);
        record(format!("{args:?}"), r);
    }

    // The runs really did what the scan relies on: the stages printed the
    // token and failed past the cut, and the failure hook ran.
    let history = env.json(&["history", "--stages", "--limit", "1000"]);
    let runs = history["data"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(runs.len() >= 3 * 5, "{history}");
    let dumps = std::fs::read_dir(&hook_dumps).unwrap().count();
    assert!(dumps > 0, "the failure hook never ran");

    // Where each token may legitimately be: its own service's env file
    // (env-file mode) or scheduler artifact (embedded mode: the unit, or
    // the rendered crontab block and the crontab itself). syncfleet writes
    // those 0600; the fake crontab stands for cron's own spool.
    let allowed = |token: &str| -> Vec<PathBuf> {
        let Some((s, id)) = fleet.iter().zip(&ids).find(|(s, _)| s.token == token) else {
            return Vec::new();
        };
        if !s.embedded {
            vec![env.service_dir(id).join("env")]
        } else if s.install.contains(&"cron") {
            vec![
                env.crontab_path(),
                env.path(&format!("config/syncfleet/cron/syncfleet-{id}.cron")),
            ]
        } else {
            vec![env.unit_dir().join(format!("syncfleet-{id}.service"))]
        }
    };
    let mut leaks = Vec::new();
    let mut scanned_bytes = 0;
    let files = env.all_files();
    for s in &fleet {
        let pieces = pieces(s.token);
        for (label, text) in &outputs {
            if let Some(p) = pieces.iter().find(|p| text.contains(**p)) {
                leaks.push(format!("{} piece {p:?} in the output of {label}", s.var));
            }
        }
        let own = allowed(s.token);
        for (path, bytes) in &files {
            if own.contains(path) {
                if *path != env.crontab_path() && find(bytes, s.token).is_some() {
                    let mode = std::os::unix::fs::PermissionsExt::mode(
                        &std::fs::metadata(path).unwrap().permissions(),
                    );
                    if mode & 0o077 != 0 {
                        leaks.push(format!(
                            "{} is in {} as it should be, but that file is {mode:o}, not 0600",
                            s.var,
                            path.display()
                        ));
                    }
                }
                continue;
            }
            for p in &pieces {
                if let Some(at) = find(bytes, p) {
                    leaks.push(format!(
                        "{} piece {p:?} in {} at byte {at}",
                        s.var,
                        path.display()
                    ));
                    break;
                }
            }
        }
    }
    for (_, bytes) in &files {
        scanned_bytes += bytes.len();
    }
    let registry_files = files
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("registry.db"))
        .count();
    assert!(registry_files > 0, "the scan must cover the registry");
    eprintln!(
        "secret scan: {} outputs, {} files ({} of the registry), {scanned_bytes} bytes, {} tokens x {} pieces; {} leaks",
        outputs.len(),
        files.len(),
        registry_files,
        fleet.len(),
        pieces(ENV_FILE_TOKEN).len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "token leaks:\n{}", leaks.join("\n"));
}
