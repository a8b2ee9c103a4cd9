//! The bad-input corpus: each case plants one hostile input (config, state
//! file, registry, name, path or token) in a fresh fleet of two installed
//! services with one run each, runs one command in robot mode, bounded in
//! time and memory, and checks:
//! - no panic (no "panicked" on stderr, never exit 101, no crash by signal)
//!   and no hang;
//! - exactly one JSON envelope on stdout, with the expected result: ok, or
//!   `error.code` among the expected ones and the exit status documented
//!   for it (the scheduler's `run` always exits 0);
//! - an actionable error: non-empty `error.message` and `error.suggestion`;
//! - the case's own invariant (e.g. "the stage did not run");
//! - nothing lost: the other service's files and workspace are unchanged
//!   byte for byte, both services' recorded runs are still in their
//!   runs.jsonl and in `history`, before and after the fault is healed.

use crate::common::*;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CASE_DEADLINE: Duration = Duration::from_secs(15);
/// No input may make syncfleet need more address space than this.
const CASE_MEMORY: u64 = 2 << 30;

/// Two installed services with one recorded run each: `keeper`, which no
/// case touches, and `victim`, whose files the state cases damage. The
/// victim's stage touches `ran` so a case can tell whether it ran.
pub struct Fleet {
    pub env: TestEnv,
    pub keeper: String,
    pub keeper_ws: PathBuf,
    pub victim: String,
    pub victim_ws: PathBuf,
    pub ran: PathBuf,
    /// The run each service recorded before the case.
    pub baseline_runs: Vec<(String, String)>,
}

impl Fleet {
    fn new() -> Fleet {
        let env = TestEnv::new();
        let ran = env.path("victim-ran");
        let keeper_ws = env.workspace("keeper", &stages(&[stage("pull", &["ok", "1"], "")]), "");
        let victim_ws = env.workspace(
            "victim",
            &stages(&[stage("pull", &["touch", ran.to_str().unwrap()], "")]),
            "",
        );
        let mut ids = Vec::new();
        let mut baseline_runs = Vec::new();
        for (ws, name) in [(&keeper_ws, "keeper"), (&victim_ws, "victim")] {
            let out = env.json_in(ws, &["install", "--name", name]);
            assert_eq!(out["ok"], true, "{out}");
            let id = out["data"]["service_id"].as_str().unwrap().to_string();
            let run = env.run(&["run", "--service-id", &id]).json();
            assert_eq!(run["data"]["action"], "sync_completed", "{run}");
            baseline_runs.push((
                id.clone(),
                run["data"]["run_id"].as_str().unwrap().to_string(),
            ));
            ids.push(id);
        }
        std::fs::remove_file(&ran).unwrap();
        Fleet {
            keeper: ids[0].clone(),
            victim: ids[1].clone(),
            env,
            keeper_ws,
            victim_ws,
            ran,
            baseline_runs,
        }
    }

    /// A run a case's setup recorded, which must not be lost either.
    fn expect_run(&self, id: &str, run_id: &str) {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.env.path("expected-runs"))
            .and_then(|mut f| writeln!(f, "{id} {run_id}"))
            .unwrap();
    }

    fn expected_runs(&self) -> Vec<(String, String)> {
        let mut runs = self.baseline_runs.clone();
        let extra = std::fs::read_to_string(self.env.path("expected-runs")).unwrap_or_default();
        runs.extend(extra.lines().filter_map(|l| {
            let (id, run) = l.split_once(' ')?;
            Some((id.to_string(), run.to_string()))
        }));
        runs
    }

    /// A command as the case runs it (without root's file powers when the
    /// case needs modes to hold).
    fn command(&self, cwd: &Path, args: &[&str], honour_modes: bool) -> std::process::Command {
        let cmd = self.env.command(cwd, args);
        if honour_modes {
            without_root_file_powers(cmd)
        } else {
            cmd
        }
    }

    /// Run ids `history` shows, run the way the case's command ran.
    fn history(&self, honour_modes: bool) -> Result<std::collections::BTreeSet<String>, String> {
        let cmd = self.command(
            self.env.dir.path(),
            &["-J", "history", "--limit", "1000000"],
            honour_modes,
        );
        let done = run_until(cmd, CASE_DEADLINE);
        let v: Value = serde_json::from_str(&done.run.stdout)
            .map_err(|e| format!("history printed no JSON ({e}): {}", done.run.stderr))?;
        if v["ok"] != true {
            return Err(format!("history failed: {}", v["error"]));
        }
        Ok(v["data"]["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["run_id"].as_str().map(str::to_string))
            .collect())
    }

    fn victim_file(&self, name: &str) -> PathBuf {
        self.env.service_dir(&self.victim).join(name)
    }

    fn registry(&self) -> PathBuf {
        self.env.data_dir().join("registry.db")
    }

    /// A new workspace whose syncfleet.json holds exactly `bytes`.
    fn raw_workspace(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let root = self.env.path(&format!("ws/{name}"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("syncfleet.json"), bytes).unwrap();
        root
    }

    /// A new workspace whose only stage checks that variable SFTOK holds
    /// exactly `token` (kept in a file next to it, which the scan of the
    /// secret test excludes; here no scan runs).
    fn token_workspace(&self, name: &str, token: &str) -> PathBuf {
        let expected = self.env.path(&format!("expected-{name}"));
        std::fs::write(&expected, token).unwrap();
        self.env.workspace(
            name,
            &stages(&[stage(
                "check",
                &["check-token", "SFTOK", expected.to_str().unwrap()],
                "",
            )]),
            r#""token_env_var": "SFTOK""#,
        )
    }

    /// Files that only the keeper owns, to compare before and after.
    fn keeper_files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = files_under(&self.env.service_dir(&self.keeper));
        files.extend(files_under(&self.keeper_ws));
        files.extend(
            files_under(&self.env.unit_dir())
                .into_iter()
                .filter(|p| p.to_string_lossy().contains(&self.keeper)),
        );
        files
            .into_iter()
            .filter_map(|p| Some((p.clone(), std::fs::read(&p).ok()?)))
            .collect()
    }

    /// `run` the service of `id` now (as the scheduler would, without the
    /// installer's environment) and return its envelope.
    fn scheduled_run(&self, id: &str) -> Value {
        self.env.run(&["run", "--service-id", id]).json()
    }
}

/// One command of a case.
pub struct Invocation {
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    /// Run without root's power to ignore file modes (read-only cases).
    honour_modes: bool,
}

fn inv(cwd: &Path, args: &[&str]) -> Invocation {
    let mut full: Vec<OsString> = vec!["-J".into()];
    full.extend(args.iter().map(OsString::from));
    Invocation {
        args: full,
        cwd: cwd.to_path_buf(),
        env: Vec::new(),
        honour_modes: false,
    }
}

impl Invocation {
    fn with_env(mut self, k: &str, v: &str) -> Invocation {
        self.env.push((k.into(), v.into()));
        self
    }
    fn honouring_modes(mut self) -> Invocation {
        self.honour_modes = true;
        self
    }
    fn is_scheduled_run(&self) -> bool {
        self.args.iter().any(|a| a == "run")
    }
}

type Setup = Box<dyn Fn(&Fleet) -> Invocation>;
type Check = Box<dyn Fn(&Fleet, &Value) -> Result<(), String>>;
type Heal = Box<dyn Fn(&Fleet)>;

pub struct Case {
    name: String,
    area: &'static str,
    setup: Setup,
    /// "OK", or the error codes that are right for this input.
    expect: &'static [&'static str],
    check: Option<Check>,
    /// Undo the fault (or apply its documented fix) before the final
    /// "nothing lost" look at history.
    heal: Option<Heal>,
}

fn case(
    area: &'static str,
    name: impl Into<String>,
    expect: &'static [&'static str],
    setup: impl Fn(&Fleet) -> Invocation + 'static,
) -> Case {
    Case {
        name: name.into(),
        area,
        setup: Box::new(setup),
        expect,
        check: None,
        heal: None,
    }
}

impl Case {
    fn check(mut self, f: impl Fn(&Fleet, &Value) -> Result<(), String> + 'static) -> Case {
        self.check = Some(Box::new(f));
        self
    }
    fn heal(mut self, f: impl Fn(&Fleet) + 'static) -> Case {
        self.heal = Some(Box::new(f));
        self
    }
}

const CONFIG_INVALID: &[&str] = &["CONFIG_INVALID"];
const INVALID_ARGUMENT: &[&str] = &["INVALID_ARGUMENT"];
const OK: &[&str] = &["OK"];

fn project(name: &str) -> String {
    format!(r#""projects": ["https://gitlab.example.com/{name}"]"#)
}

/// `install` in a workspace holding exactly `bytes`.
fn config_bytes(name: &str, bytes: Vec<u8>, expect: &'static [&'static str]) -> Case {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    case("config", name, expect, move |f| {
        inv(&f.raw_workspace(&slug, &bytes), &["install"])
    })
}

fn config(name: &str, json: &str, expect: &'static [&'static str]) -> Case {
    config_bytes(name, json.as_bytes().to_vec(), expect)
}

/// A config whose stages are `stages_json`.
fn stages_config(name: &str, stages_json: &str) -> Case {
    config(
        name,
        &format!(r#"{{{}, "stages": {stages_json}}}"#, project(name)),
        CONFIG_INVALID,
    )
}

fn ok_stage() -> String {
    stage("pull", &["ok", "1"], "")
}

fn config_cases() -> Vec<Case> {
    let ok = ok_stage();
    let with = |extra: &str| format!(r#"{{{}, {extra}, "stages": [{ok}]}}"#, project("x"));
    let mut cases = vec![
        config("syntax error", r#"{"stages": ["#, CONFIG_INVALID),
        config("empty file", "", CONFIG_INVALID),
        config("only whitespace", " \n\t\n", CONFIG_INVALID),
        config("top level is an array", "[]", CONFIG_INVALID),
        config("top level is null", "null", CONFIG_INVALID),
        config("top level is a string", r#""stages""#, CONFIG_INVALID),
        stages_config("stages is a string", r#""git pull""#),
        stages_config("stages is empty", "[]"),
        stages_config("a stage is a number", "[42]"),
        stages_config("stage without command", r#"[{"name": "a"}]"#),
        stages_config("empty command", r#"[{"name": "a", "command": []}]"#),
        stages_config("empty program", r#"[{"name": "a", "command": [""]}]"#),
        stages_config("program is a number", r#"[{"name": "a", "command": [42]}]"#),
        stages_config(
            "stage name is empty",
            r#"[{"name": "", "command": ["true"]}]"#,
        ),
        stages_config(
            "duplicate stage names",
            r#"[{"name": "a", "command": ["true"]}, {"name": "a", "command": ["true"]}]"#,
        ),
        stages_config(
            "unknown stage key",
            r#"[{"name": "a", "command": ["true"], "retries": 3}]"#,
        ),
        stages_config(
            "timeout is not a duration",
            r#"[{"name": "a", "command": ["true"], "timeout": "soon"}]"#,
        ),
        stages_config(
            "negative timeout",
            r#"[{"name": "a", "command": ["true"], "timeout": "-5m"}]"#,
        ),
        stages_config(
            "unknown profile",
            r#"[{"name": "a", "command": ["true"], "profile": "ultra"}]"#,
        ),
        stages_config(
            "optional is a string",
            r#"[{"name": "a", "command": ["true"], "optional": "yes"}]"#,
        ),
        stages_config(
            "exit codes are strings",
            r#"[{"name": "a", "command": ["true"], "permanent_exit_codes": ["x"]}]"#,
        ),
        stages_config(
            "NUL in a stage argument",
            r#"[{"name": "a", "command": ["echo", "a\u0000b"]}]"#,
        ),
        stages_config(
            "NUL in the program",
            r#"[{"name": "a", "command": ["tr\u0000ue"]}]"#,
        ),
        config(
            "unknown top-level key",
            &with(r#""frobnicate": 1"#),
            CONFIG_INVALID,
        ),
        config(
            "token_env_var is a number",
            &with(r#""token_env_var": 42"#),
            CONFIG_INVALID,
        ),
        config(
            "token_env_var is not a variable name",
            &with(r#""token_env_var": "BAD=NAME""#),
            CONFIG_INVALID,
        ),
        config(
            "retry_delay min above max",
            &with(r#""retry_delay": {"min": "10s", "max": "1s"}"#),
            CONFIG_INVALID,
        ),
        config(
            "retry_delay is a string",
            &with(r#""retry_delay": "1s""#),
            CONFIG_INVALID,
        ),
        config(
            "unknown hook event",
            &with(r#""hooks": {"success": ["true"]}"#),
            CONFIG_INVALID,
        ),
        config(
            "empty hook command",
            &with(r#""hooks": {"failure": []}"#),
            CONFIG_INVALID,
        ),
        config("tags is a string", &with(r#""tags": "a""#), CONFIG_INVALID),
        config(
            "lock_group is an object",
            &with(r#""lock_group": {}"#),
            CONFIG_INVALID,
        ),
        config_bytes(
            "non-UTF-8 inside a string",
            [
                br#"{"name": "x"#.as_slice(),
                &[0xff, 0xfe],
                br#"", "stages": [{"name": "a", "command": ["true"]}]}"#,
            ]
            .concat(),
            CONFIG_INVALID,
        ),
        config_bytes(
            "binary garbage",
            (0..4096u32).map(|i| (i * 151 % 251) as u8).collect(),
            CONFIG_INVALID,
        ),
        config_bytes(
            "nested 100000 levels deep",
            [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
            CONFIG_INVALID,
        ),
        // A valid config after 32 MiB of blanks: configs are bounded.
        config_bytes(
            "32 MiB config",
            [
                vec![b' '; 32 << 20],
                format!(r#"{{{}, "stages": [{ok}]}}"#, project("huge")).into_bytes(),
            ]
            .concat(),
            CONFIG_INVALID,
        ),
        case("config", "--config /dev/zero", CONFIG_INVALID, |f| {
            inv(f.env.dir.path(), &["--config", "/dev/zero", "install"])
        }),
        case("config", "--config a FIFO", CONFIG_INVALID, |f| {
            let fifo = f.env.path("config.fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            inv(
                f.env.dir.path(),
                &["--config", fifo.to_str().unwrap(), "install"],
            )
        }),
        case(
            "config",
            "--config a directory",
            &["CONFIG_INVALID", "CONFIG_NOT_FOUND"],
            |f| {
                let dir = f.env.path("not-a-file");
                std::fs::create_dir_all(&dir).unwrap();
                inv(
                    f.env.dir.path(),
                    &["--config", dir.to_str().unwrap(), "install"],
                )
            },
        ),
        case(
            "config",
            "--config a missing file",
            &["CONFIG_NOT_FOUND"],
            |f| {
                inv(
                    f.env.dir.path(),
                    &["--config", "/nonexistent/syncfleet.json", "install"],
                )
            },
        ),
        case(
            "config",
            "config is a symlink to /dev/null",
            CONFIG_INVALID,
            |f| {
                let root = f.env.path("ws/devnull");
                std::fs::create_dir_all(&root).unwrap();
                std::os::unix::fs::symlink("/dev/null", root.join("syncfleet.json")).unwrap();
                inv(&root, &["install"])
            },
        ),
        // Discovery must stop at a syncfleet.json that is not a regular
        // file, not walk past it to a parent workspace's config.
        case(
            "config",
            "a FIFO syncfleet.json inside another workspace",
            &["CONFIG_INVALID", "CONFIG_NOT_FOUND"],
            |f| {
                let sub = f.victim_ws.join("sub");
                std::fs::create_dir_all(&sub).unwrap();
                let made = std::process::Command::new("mkfifo")
                    .arg(sub.join("syncfleet.json"))
                    .status()
                    .unwrap();
                assert!(made.success());
                inv(&sub, &["install", "--interval", "2h"])
            },
        )
        .check(|f, _| {
            let m: Value = serde_json::from_slice(
                &std::fs::read(f.victim_file("manifest.json")).unwrap_or_default(),
            )
            .unwrap_or_default();
            (m["interval_seconds"] != 7200)
                .then_some(())
                .ok_or_else(|| "install changed the parent workspace's service".to_string())
        }),
        case(
            "config",
            "no config anywhere upward",
            &["CONFIG_NOT_FOUND"],
            |f| {
                let root = f.env.path("empty-dir");
                std::fs::create_dir_all(&root).unwrap();
                inv(&root, &["install"])
            },
        ),
    ];
    // Flags are input too.
    let victim = |args: &'static [&'static str], expect: &'static [&'static str]| {
        case("flags", args.join(" "), expect, move |f| {
            inv(&f.victim_ws, args)
        })
    };
    cases.extend([
        victim(&["install", "--interval", "3s"], INVALID_ARGUMENT),
        victim(&["install", "--interval", "abc"], INVALID_ARGUMENT),
        victim(
            &["install", "--interval", "99999999999999999999h"],
            INVALID_ARGUMENT,
        ),
        victim(&["history", "--since", "garbage"], INVALID_ARGUMENT),
        victim(&["prune", "--older-than", "-1d"], INVALID_ARGUMENT),
        victim(&["history", "--limit", "-1"], INVALID_ARGUMENT),
        victim(&["frobnicate"], INVALID_ARGUMENT),
        victim(
            &["logs", "--tail", "99999999999999999999999"],
            INVALID_ARGUMENT,
        ),
        victim(
            &["report", "--since", "99999999999d"],
            &["OK", "INVALID_ARGUMENT"],
        ),
        victim(&["run", "--service-id", "../../etc"], INVALID_ARGUMENT),
    ]);
    cases
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::write(path, bytes).unwrap();
}

fn truncated(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    write(path, &bytes[..bytes.len() / 2]);
}

/// The file must be byte for byte what the case planted.
fn untouched(path: PathBuf, planted: impl Fn(&Fleet) -> Vec<u8> + 'static) -> Check {
    Box::new(move |f, _| {
        let now = std::fs::read(&path).ok();
        (now.as_deref() == Some(planted(f).as_slice()))
            .then_some(())
            .ok_or_else(|| format!("{} was changed or removed", path.display()))
    })
}

fn stage_did_not_run(f: &Fleet, _: &Value) -> Result<(), String> {
    if f.ran.exists() {
        Err("the victim's stage ran".into())
    } else {
        Ok(())
    }
}

/// The victim paused by hand, so that losing the pause shows as a run.
fn paused_status(schema_version: u32) -> Value {
    json!({
        "schema_version": schema_version,
        "updated_at_iso": "2025-01-01T00:00:00Z",
        "consecutive_failures": 0,
        "paused_reason": "maintenance",
        "pause_kind": "manual"
    })
}

fn state_cases() -> Vec<Case> {
    // An unreadable status file may also be reported as IO_ERROR.
    const SAFE: &[&str] = &["OK", "SERVICE_CORRUPT_STATE", "IO_ERROR"];
    let status_cases = |what: &'static str, plant: fn(&Fleet)| {
        let run_case = case(
            "state",
            format!("status.json {what}: run"),
            SAFE,
            move |f| {
                plant(f);
                inv(f.env.dir.path(), &["run", "--service-id", &f.victim])
            },
        )
        .check(stage_did_not_run);
        let status_case = case(
            "state",
            format!("status.json {what}: status"),
            SAFE,
            move |f| {
                plant(f);
                inv(f.env.dir.path(), &["status", "--service", &f.victim])
            },
        );
        let trigger_case = case(
            "state",
            format!("status.json {what}: trigger"),
            SAFE,
            move |f| {
                plant(f);
                inv(&f.victim_ws, &["trigger"])
            },
        )
        .check(stage_did_not_run);
        [run_case, status_case, trigger_case]
    };
    let mut cases = Vec::new();
    cases.extend(status_cases("truncated", |f| {
        write(
            &f.victim_file("status.json"),
            serde_json::to_vec_pretty(&paused_status(2)).unwrap(),
        );
        truncated(&f.victim_file("status.json"));
    }));
    cases.extend(status_cases("garbage", |f| {
        write(&f.victim_file("status.json"), b"\x00\x01garbage\xff");
    }));
    cases.extend(status_cases("with wrong types", |f| {
        let mut s = paused_status(2);
        s["consecutive_failures"] = "many".into();
        write(
            &f.victim_file("status.json"),
            serde_json::to_vec(&s).unwrap(),
        );
    }));
    cases.extend(status_cases("is a directory", |f| {
        std::fs::remove_file(f.victim_file("status.json")).unwrap();
        std::fs::create_dir(f.victim_file("status.json")).unwrap();
    }));
    let newer = || serde_json::to_vec(&paused_status(99)).unwrap();
    // `status` may show the file's problem as data; acting on it may not.
    let refused: &'static [&'static str] = &["SERVICE_CORRUPT_STATE"];
    let shown: &'static [&'static str] = &["OK", "SERVICE_CORRUPT_STATE"];
    for (what, args, expect) in [
        ("run", vec!["run", "--service-id", "victim"], refused),
        ("trigger", vec!["trigger", "--service", "victim"], refused),
        ("status", vec!["status", "--service", "victim"], shown),
        ("resume", vec!["resume", "--service", "victim"], refused),
    ] {
        cases.push(
            case(
                "state",
                format!("status.json from a newer syncfleet: {what}"),
                expect,
                move |f| {
                    write(&f.victim_file("status.json"), newer());
                    inv(f.env.dir.path(), &args)
                },
            )
            .check(move |f, v| {
                stage_did_not_run(f, v)?;
                untouched(f.victim_file("status.json"), move |_| newer())(f, v)
            }),
        );
    }
    cases.push(
        case("state", "status.json truncated: repair", OK, |f| {
            truncated(&f.victim_file("status.json"));
            inv(f.env.dir.path(), &["repair", "--service", "victim"])
        })
        .check(|f, _| {
            let dir = f.env.service_dir(&f.victim);
            let backed_up = files_under(&dir)
                .iter()
                .any(|p| p.to_string_lossy().contains("status.json.corrupt."));
            let parses = std::fs::read(dir.join("status.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some();
            (backed_up && parses)
                .then_some(())
                .ok_or_else(|| format!("backup made: {backed_up}, status.json parses: {parses}"))
        }),
    );

    // manifest.json
    let newer_manifest = |f: &Fleet| {
        let path = f.victim_file("manifest.json");
        let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        m["schema_version"] = 99.into();
        write(&path, serde_json::to_vec(&m).unwrap());
        // As a newer syncfleet would: some time after this one installed
        // it (list notices manifests written after the registry read them).
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
    };
    for (what, args) in [
        ("status", vec!["status", "--service", "victim"]),
        ("trigger", vec!["trigger", "--service", "victim"]),
        ("repair", vec!["repair", "--service", "victim"]),
        ("doctor", vec!["doctor", "--service", "victim", "--offline"]),
        ("run", vec!["run", "--service-id", "victim"]),
        ("list", vec!["list"]),
    ] {
        // doctor and list report the file among their findings.
        let expect: &'static [&'static str] = if matches!(what, "doctor" | "list") {
            shown
        } else {
            refused
        };
        cases.push(
            case(
                "state",
                format!("manifest.json from a newer syncfleet: {what}"),
                expect,
                move |f| {
                    newer_manifest(f);
                    let args: Vec<String> = args
                        .iter()
                        .map(|a| a.replace("victim", &f.victim))
                        .collect();
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    inv(f.env.dir.path(), &args)
                },
            )
            .check(|f, v| {
                stage_did_not_run(f, v)?;
                // A refusal says it in its error; doctor and list among
                // their findings.
                let said = if v["ok"] == true {
                    v["data"].to_string()
                } else {
                    format!("{} {}", v["error"]["message"], v["error"]["suggestion"])
                };
                if !said.contains("newer") {
                    return Err(format!(
                        "does not say the file is from a newer syncfleet: {said}"
                    ));
                }
                if v["error"]["suggestion"]
                    .as_str()
                    .unwrap_or("")
                    .contains("syncfleet repair")
                {
                    return Err(format!("suggests repair for a newer file: {said}"));
                }
                Ok(())
            }),
        );
    }
    cases.extend([
        case(
            "state",
            "manifest.json truncated: status",
            &["SERVICE_CORRUPT_STATE"],
            |f| {
                truncated(&f.victim_file("manifest.json"));
                inv(f.env.dir.path(), &["status", "--service", &f.victim])
            },
        ),
        case(
            "state",
            "manifest.json garbage: run",
            &["SERVICE_CORRUPT_STATE"],
            |f| {
                write(&f.victim_file("manifest.json"), b"{{{{");
                inv(f.env.dir.path(), &["run", "--service-id", &f.victim])
            },
        )
        .check(stage_did_not_run),
        case(
            "state",
            "manifest.json with wrong types: trigger",
            &["SERVICE_CORRUPT_STATE"],
            |f| {
                let path = f.victim_file("manifest.json");
                let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                m["interval_seconds"] = "often".into();
                write(&path, serde_json::to_vec(&m).unwrap());
                inv(f.env.dir.path(), &["trigger", "--service", &f.victim])
            },
        )
        .check(stage_did_not_run),
        case("state", "manifest.json garbage: list", &["OK"], |f| {
            write(&f.victim_file("manifest.json"), b"\xff\xfe not json");
            inv(f.env.dir.path(), &["list", "--from-files"])
        }),
    ]);

    // runs.jsonl: bad lines are skipped and counted, never fatal.
    let append = |f: &Fleet, bytes: &[u8]| {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(f.victim_file("runs.jsonl"))
            .unwrap()
            .write_all(bytes)
            .unwrap();
    };
    let future_record = |f: &Fleet| {
        let line = std::fs::read_to_string(f.victim_file("runs.jsonl")).unwrap();
        let mut v: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        v["run_id"] = "from-the-future".into();
        v["schema_version"] = 99.into();
        v["outcome"] = "transcended".into();
        format!("{v}\n").into_bytes()
    };
    cases.extend([
        case(
            "state",
            "runs.jsonl non-UTF-8 line: history",
            OK,
            move |f| {
                append(f, b"\xff\xfe\xfd not utf-8\n");
                // What a run whose registry write failed leaves: the next
                // reader imports the file past its offset.
                let pending = f.env.data_dir().join("registry-pending");
                std::fs::create_dir_all(&pending).unwrap();
                write(&pending.join(&f.victim), b"");
                inv(f.env.dir.path(), &["history"])
            },
        ),
        case(
            "state",
            "runs.jsonl non-UTF-8 line: reindex",
            OK,
            move |f| {
                append(f, b"{\"run_id\": \"\xff\"}\n");
                inv(f.env.dir.path(), &["reindex"])
            },
        ),
        case(
            "state",
            "runs.jsonl invalid JSON line: history",
            OK,
            move |f| {
                append(f, b"{\"run_id\": \n");
                f.env.run(&["reindex"]);
                inv(f.env.dir.path(), &["history"])
            },
        ),
        case(
            "state",
            "runs.jsonl future-schema record: reindex",
            OK,
            move |f| {
                append(f, &future_record(f));
                inv(f.env.dir.path(), &["reindex"])
            },
        ),
        case("state", "runs.jsonl torn last line: run", OK, move |f| {
            append(f, br#"{"run_id": "torn", "service_"#);
            inv(f.env.dir.path(), &["run", "--service-id", &f.victim])
        })
        .check(|f, v| {
            let run_id = v["data"]["run_id"].as_str().unwrap_or("?").to_string();
            let file = runs_file(&f.victim_file("runs.jsonl"));
            file.run_ids
                .contains(&run_id)
                .then_some(())
                .ok_or_else(|| format!("the run after a torn line ({run_id}) was lost"))
        }),
        case("state", "runs.jsonl bad lines: repair", OK, move |f| {
            append(f, b"\xff\xfe garbage\n{\"run_id\": \n");
            inv(f.env.dir.path(), &["repair", "--service", &f.victim])
        })
        .check(|f, _| {
            let file = runs_file(&f.victim_file("runs.jsonl"));
            if !file.bad_lines.is_empty() {
                return Err(format!("repair left bad lines: {:?}", file.bad_lines));
            }
            let kept = &f.baseline_runs[1].1;
            if !file.run_ids.contains(kept) {
                return Err(format!("repair lost the good run {kept}"));
            }
            Ok(())
        }),
    ]);
    cases
}

/// The documented fix of a broken registry.
fn reindex(f: &Fleet) {
    f.env.run(&["reindex"]);
}

fn suggestion_is_not_reindex(_: &Fleet, v: &Value) -> Result<(), String> {
    let s = v["error"]["suggestion"].as_str().unwrap_or("");
    if v["ok"] == false && s.contains("syncfleet reindex") {
        Err(format!(
            "suggests reindex for a registry reindex cannot fix: {s}"
        ))
    } else {
        Ok(())
    }
}

fn registry_cases() -> Vec<Case> {
    let garbage = |f: &Fleet| {
        let reg = f.registry();
        write(&reg, vec![b'z'; 8192]);
        for side in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{side}", reg.display()));
        }
    };
    let directory = |f: &Fleet| {
        let reg = f.registry();
        std::fs::remove_file(&reg).unwrap();
        std::fs::create_dir(&reg).unwrap();
        std::fs::write(reg.join("inside"), b"x").unwrap();
    };
    let undo_directory = |f: &Fleet| {
        let _ = std::fs::remove_dir_all(f.registry());
        reindex(f);
    };
    let dev_null = |f: &Fleet| {
        let reg = f.registry();
        std::fs::remove_file(&reg).unwrap();
        std::os::unix::fs::symlink("/dev/null", &reg).unwrap();
    };
    let undo_symlink = |f: &Fleet| {
        let reg = f.registry();
        if reg.is_symlink() {
            std::fs::remove_file(&reg).unwrap();
        }
        reindex(f);
    };
    let read_only = |f: &Fleet| {
        use std::os::unix::fs::PermissionsExt;
        // A checkpoint first, so the whole registry is in the main file.
        f.env.run(&["reindex"]).ok();
        for p in files_under(&f.env.data_dir()) {
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("registry.db"))
            {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
            }
        }
    };
    let writable = |f: &Fleet| {
        use std::os::unix::fs::PermissionsExt;
        for p in files_under(&f.env.data_dir()) {
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("registry.db"))
            {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    };
    let truncate_registry = |f: &Fleet| {
        f.env.run(&["reindex"]).ok();
        truncated(&f.registry());
    };
    vec![
        case(
            "registry",
            "garbage registry: history",
            &["REGISTRY_ERROR"],
            move |f| {
                garbage(f);
                inv(f.env.dir.path(), &["history"])
            },
        )
        .heal(reindex),
        case("registry", "garbage registry: reindex", OK, move |f| {
            garbage(f);
            inv(f.env.dir.path(), &["reindex"])
        })
        .check(|_, v| {
            v["data"]["corrupt_backup"]
                .is_string()
                .then_some(())
                .ok_or_else(|| format!("no corrupt_backup reported: {v}"))
        }),
        case("registry", "garbage registry: list", OK, move |f| {
            garbage(f);
            inv(f.env.dir.path(), &["list"])
        })
        .heal(reindex),
        case("registry", "garbage registry: run", OK, move |f| {
            garbage(f);
            inv(f.env.dir.path(), &["run", "--service-id", &f.victim])
        })
        .heal(reindex),
        case(
            "registry",
            "registry is a directory: reindex",
            &["REGISTRY_ERROR", "IO_ERROR"],
            move |f| {
                directory(f);
                inv(f.env.dir.path(), &["reindex"])
            },
        )
        .check(suggestion_is_not_reindex)
        .heal(undo_directory),
        case(
            "registry",
            "registry is a directory: history",
            &["REGISTRY_ERROR", "IO_ERROR"],
            move |f| {
                directory(f);
                inv(f.env.dir.path(), &["history"])
            },
        )
        .check(suggestion_is_not_reindex)
        .heal(undo_directory),
        case(
            "registry",
            "registry is a symlink to /dev/null: reindex",
            &["OK", "REGISTRY_ERROR", "IO_ERROR"],
            move |f| {
                dev_null(f);
                inv(f.env.dir.path(), &["reindex"])
            },
        )
        .check(suggestion_is_not_reindex)
        .heal(undo_symlink),
        case(
            "registry",
            "registry is a symlink to /dev/null: history",
            &["OK", "REGISTRY_ERROR", "IO_ERROR"],
            move |f| {
                dev_null(f);
                inv(f.env.dir.path(), &["history"])
            },
        )
        .check(suggestion_is_not_reindex)
        .heal(undo_symlink),
        case(
            "registry",
            "read-only registry: history",
            &["OK", "REGISTRY_ERROR"],
            move |f| {
                read_only(f);
                inv(f.env.dir.path(), &["history"]).honouring_modes()
            },
        )
        .heal(writable),
        case("registry", "read-only registry: run", OK, move |f| {
            read_only(f);
            inv(f.env.dir.path(), &["run", "--service-id", &f.victim]).honouring_modes()
        })
        .heal(writable),
        // A run the registry missed leaves a marker; a failing reader
        // must not clear it before its import committed.
        case(
            "registry",
            "read-only registry: a run, then history",
            &["OK", "REGISTRY_ERROR"],
            move |f| {
                read_only(f);
                let run = f.command(f.env.dir.path(), &["run", "--service-id", &f.victim], true);
                let done = run_until(run, CASE_DEADLINE);
                let v: Value = serde_json::from_str(&done.run.stdout).unwrap();
                f.expect_run(&f.victim, v["data"]["run_id"].as_str().unwrap());
                std::fs::remove_file(&f.ran).unwrap();
                inv(f.env.dir.path(), &["history"]).honouring_modes()
            },
        )
        .heal(writable),
        case(
            "registry",
            "truncated registry: history",
            &["OK", "REGISTRY_ERROR"],
            move |f| {
                truncate_registry(f);
                inv(f.env.dir.path(), &["history"])
            },
        )
        .heal(reindex),
        case("registry", "truncated registry: reindex", OK, move |f| {
            truncate_registry(f);
            inv(f.env.dir.path(), &["reindex"])
        }),
        case(
            "registry",
            "garbage write-ahead log: history",
            &["OK", "REGISTRY_ERROR"],
            |f| {
                write(
                    &PathBuf::from(format!("{}-wal", f.registry().display())),
                    vec![0x5a; 65536],
                );
                inv(f.env.dir.path(), &["history"])
            },
        )
        .heal(reindex),
        case("registry", "registry-pending is a file: run", OK, |f| {
            let pending = f.env.data_dir().join("registry-pending");
            let _ = std::fs::remove_dir_all(&pending);
            write(&pending, b"not a directory");
            inv(f.env.dir.path(), &["run", "--service-id", &f.victim])
        }),
    ]
}

/// A name may be made a slug (separators become '-'), but nothing dropped.
fn slug_is(expected: &'static str) -> impl Fn(&Fleet, &Value) -> Result<(), String> {
    move |_, v| {
        if v["ok"] == true && v["data"]["service_id"] != expected {
            Err(format!(
                "became {}, not {expected}",
                v["data"]["service_id"]
            ))
        } else {
            Ok(())
        }
    }
}

fn name_cases() -> Vec<Case> {
    let named = |label: &'static str, name: &'static str, expect: &'static [&'static str]| {
        case("names", format!("--name {label}"), expect, move |f| {
            let ws = f.env.workspace(
                &format!("named-{}", label.len()),
                &stages(&[ok_stage()]),
                "",
            );
            inv(&ws, &["install", "--name", name])
        })
    };
    let service = |label: &'static str, sel: &'static str| {
        case(
            "names",
            format!("--service {label}"),
            &["SERVICE_NOT_FOUND", "INVALID_ARGUMENT"],
            move |f| inv(f.env.dir.path(), &["status", "--service", sel]),
        )
    };
    vec![
        named(
            "with accents (ŝérvice)",
            "ŝérvice",
            &["OK", "INVALID_ARGUMENT"],
        )
        .check(|_, v| {
            if v["ok"] == true && v["data"]["service_id"] != "service" {
                Err(format!("ŝérvice became {}", v["data"]["service_id"]))
            } else {
                Ok(())
            }
        }),
        named("empty", "", INVALID_ARGUMENT),
        named(
            "33 characters",
            "abcdefghijklmnopqrstuvwxyz0123456",
            INVALID_ARGUMENT,
        ),
        named("with a slash", "a/b", &["OK", "INVALID_ARGUMENT"]).check(slug_is("a-b")),
        named("dot-dot", "..", INVALID_ARGUMENT),
        named("all CJK", "日本語", INVALID_ARGUMENT),
        named("with a newline", "a\nb", &["OK", "INVALID_ARGUMENT"]).check(slug_is("a-b")),
        named("with a space", "my service", &["OK", "INVALID_ARGUMENT"])
            .check(slug_is("my-service")),
        named("taken by another workspace", "keeper", &["NAME_CONFLICT"]),
        case("names", "--name not UTF-8", INVALID_ARGUMENT, |f| {
            let ws = f.env.workspace("named-bytes", &stages(&[ok_stage()]), "");
            let mut i = inv(&ws, &["install", "--name"]);
            i.args.push(OsString::from_vec(b"sv\xff\xfe".to_vec()));
            i
        }),
        service("empty", ""),
        service("with a path", "../victim"),
        service(
            "300 characters",
            Box::leak("x".repeat(300).into_boxed_str()),
        ),
    ]
}

/// The install must work and the service's scheduled run must succeed.
fn installs_and_runs(f: &Fleet, v: &Value) -> Result<(), String> {
    if v["ok"] != true {
        return Ok(());
    }
    let id = v["data"]["service_id"].as_str().ok_or("no service_id")?;
    let run = f.scheduled_run(id);
    if run["data"]["outcome"] == "success" {
        Ok(())
    } else {
        Err(format!(
            "the installed service's run did not succeed: {run}"
        ))
    }
}

fn path_cases() -> Vec<Case> {
    let at = |label: &'static str, dir: &'static str, expect: &'static [&'static str]| {
        case("paths", format!("workspace {label}"), expect, move |f| {
            let ws = f.env.workspace(dir, &stages(&[ok_stage()]), "");
            inv(&ws, &["install"])
        })
        .check(installs_and_runs)
    };
    vec![
        at("with spaces", "my work space", OK),
        at("with quotes and $", r#"q"u'o$te`x"#, OK),
        at("with a backslash and %", r"back\slash%h", OK),
        at(
            "with a newline",
            "new\nline",
            &["OK", "INVALID_ARGUMENT", "CONFIG_INVALID"],
        ),
        at("with unicode", "wörk-ßpace-日本", OK),
        case(
            "paths",
            "install --workspace a missing dir",
            &["CONFIG_NOT_FOUND"],
            |f| {
                inv(
                    f.env.dir.path(),
                    &["install", "--workspace", "/nonexistent/ws"],
                )
            },
        ),
        case("paths", "--data-dir is a file", &["IO_ERROR"], |f| {
            let file = f.env.path("data-file");
            write(&file, b"x");
            inv(
                &f.victim_ws,
                &["--data-dir", file.to_str().unwrap(), "install"],
            )
        }),
        case("paths", "--data-dir under missing dirs", OK, |f| {
            let dir = f.env.path("fresh/a/b/c");
            inv(
                f.env.dir.path(),
                &["--data-dir", dir.to_str().unwrap(), "list"],
            )
        }),
        case(
            "paths",
            "--workspaces-from a missing file",
            &["IO_ERROR", "INVALID_ARGUMENT", "CONFIG_NOT_FOUND"],
            |f| {
                inv(
                    f.env.dir.path(),
                    &["install", "--workspaces-from", "/nonexistent/list"],
                )
            },
        ),
    ]
}

/// After an install that kept the token, a scheduled run (without the
/// installer's environment) must hand the stage exactly that token.
fn token_round_trips(f: &Fleet, v: &Value) -> Result<(), String> {
    if v["ok"] != true {
        return Ok(());
    }
    let id = v["data"]["service_id"].as_str().ok_or("no service_id")?;
    let run = f.scheduled_run(id);
    if run["data"]["stage_results"][0]["success"] == true {
        Ok(())
    } else {
        Err(format!(
            "the stage did not get the exact token: {}",
            run["data"]["stage_results"][0]
        ))
    }
}

fn token_cases() -> Vec<Case> {
    let token = |label: &'static str, value: String, expect: &'static [&'static str]| {
        let slug = format!("tok-{}", label.len());
        case("tokens", format!("token {label}"), expect, move |f| {
            let ws = f.token_workspace(&slug, &value);
            inv(&ws, &["install"]).with_env("SFTOK", &value)
        })
        .check(token_round_trips)
    };
    vec![
        token("empty", String::new(), &["TOKEN_NOT_SET"]),
        case("tokens", "token unset", &["TOKEN_NOT_SET"], |f| {
            inv(&f.token_workspace("tok-unset", "x"), &["install"])
        }),
        token("with a newline", "abc\ndef".into(), INVALID_ARGUMENT),
        token(
            "with a carriage return",
            "abc\rdef".into(),
            INVALID_ARGUMENT,
        ),
        token(
            "with a control character",
            "abc\x01def".into(),
            &["OK", "INVALID_ARGUMENT"],
        ),
        token("in double quotes", r#""quoted""#.into(), OK),
        token("in single quotes", "'single quoted'".into(), OK),
        token("with backslashes", r"a\b\\c".into(), OK),
        token("ending in a backslash", r"abc\".into(), OK),
        token("with a leading space", "  lead".into(), OK),
        token("with a trailing space", "trail  ".into(), OK),
        token("with $ and `", "$HOME`id`".into(), OK),
        token("starting with #", "#not-a-comment".into(), OK),
        token("with % specifiers", "%h%n%%".into(), OK),
        token(
            "of 64 KiB",
            "k".repeat(64 << 10),
            &["OK", "INVALID_ARGUMENT"],
        ),
        case("tokens", "embedded token with quotes", OK, |f| {
            let value = r#"emb "q" 'x' \ %h $X"#;
            let ws = f.token_workspace("tok-embedded", value);
            inv(&ws, &["install", "--token-source", "embedded"]).with_env("SFTOK", value)
        }),
        // One-letter tokens must not blank every "x" of the stage output.
        case("tokens", "token of one character", OK, |f| {
            let ws = f.env.workspace(
                "tok-short",
                &stages(&[
                    stage("echo", &["echo-token", "SFTOK"], ""),
                    r#"{"name": "word", "command": ["echo", "xylophone xerox"]}"#.to_string(),
                ]),
                r#""token_env_var": "SFTOK""#,
            );
            inv(&ws, &["install"]).with_env("SFTOK", "x")
        })
        .check(|f, v| {
            let id = v["data"]["service_id"].as_str().ok_or("no service_id")?;
            f.scheduled_run(id);
            let log = std::fs::read_to_string(f.env.service_dir(id).join("logs/service.log"))
                .unwrap_or_default();
            log.contains("xylophone xerox")
                .then_some(())
                .ok_or_else(|| "the log lost every 'x' to a one-letter token".to_string())
        }),
    ]
}

pub fn all_cases() -> Vec<Case> {
    let mut cases = config_cases();
    cases.extend(state_cases());
    cases.extend(registry_cases());
    cases.extend(name_cases());
    cases.extend(path_cases());
    cases.extend(token_cases());
    cases
}

/// Documented exit status of an error code (README, "Robot mode").
fn exit_of(code: &str) -> Option<i32> {
    Some(match code {
        "INTERNAL_ERROR" => 1,
        "INVALID_ARGUMENT" => 2,
        "CONFIG_NOT_FOUND" => 3,
        "CONFIG_INVALID" => 4,
        "TOKEN_NOT_SET" => 5,
        "SERVICE_NOT_FOUND" => 6,
        "AMBIGUOUS_SERVICE" => 7,
        "NAME_CONFLICT" => 8,
        "LOCKED" => 9,
        "DOCTOR_FAILED" => 10,
        "SYNC_FAILED" => 11,
        "REGISTRY_ERROR" => 12,
        "IO_ERROR" => 13,
        "SERVICE_ERROR" => 21,
        "SERVICE_COMMAND_FAILED" => 22,
        "SERVICE_CORRUPT_STATE" => 23,
        "UNSUPPORTED" => 24,
        _ => return None,
    })
}

/// Every way the case's command went wrong (empty: handled).
fn judge(c: &Case, f: &Fleet, i: &Invocation, done: &Finished) -> Vec<String> {
    let mut wrong = Vec::new();
    if done.panicked() {
        wrong.push(format!(
            "panic or crash ({:?}): {}",
            done.ending,
            done.run.stderr.trim()
        ));
    }
    if done.ending == Ending::Killed {
        wrong.push(format!("still running after {CASE_DEADLINE:?} (killed)"));
        return wrong;
    }
    let v: Value = match serde_json::from_str(&done.run.stdout) {
        Ok(v) => v,
        Err(_) => {
            wrong.push(format!(
                "stdout is not one JSON envelope (exit {:?}): {:?}; stderr: {}",
                done.ending,
                done.run.stdout.chars().take(200).collect::<String>(),
                done.run.stderr.trim().chars().take(300).collect::<String>()
            ));
            return wrong;
        }
    };
    let scheduled = i.is_scheduled_run();
    // doctor reports failing checks as data, with exit 10 (DOCTOR_FAILED).
    let doctor = i.args.iter().any(|a| a == "doctor");
    if v["ok"] == true {
        if !c.expect.contains(&"OK") {
            let data = v["data"].to_string();
            wrong.push(format!(
                "succeeded (service_id {}); expected {:?}; data: {}",
                v["data"]["service_id"],
                c.expect,
                data.chars().take(200).collect::<String>()
            ));
        }
        if done.run.code != 0 && !(doctor && done.run.code == 10) {
            wrong.push(format!("ok:true but exit {}", done.run.code));
        }
    } else {
        let code = v["error"]["code"].as_str().unwrap_or("");
        if !c.expect.contains(&code) {
            wrong.push(format!(
                "error {code} ({}); expected {:?}",
                v["error"]["message"], c.expect
            ));
        }
        let documented = if scheduled { Some(0) } else { exit_of(code) };
        if documented != Some(done.run.code) {
            wrong.push(format!(
                "exit {} for {code}; documented: {documented:?}",
                done.run.code
            ));
        }
        for field in ["message", "suggestion"] {
            if v["error"][field]
                .as_str()
                .is_none_or(|s| s.trim().is_empty())
            {
                wrong.push(format!("error without a {field}: {v}"));
            }
        }
    }
    if let Some(check) = &c.check
        && let Err(e) = check(f, &v)
    {
        wrong.push(e);
    }
    wrong
}

/// Nothing lost: the keeper's files unchanged, both services' runs still
/// in their runs.jsonl and (when history answers, and always once the
/// fault is healed) in history.
fn nothing_lost(
    c: &Case,
    f: &Fleet,
    i: &Invocation,
    keeper_before: &BTreeMap<PathBuf, Vec<u8>>,
    reported: Option<String>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let keeper_after = f.keeper_files();
    for (path, bytes) in keeper_before {
        if keeper_after.get(path) != Some(bytes) {
            wrong.push(format!("changed a file not involved: {}", path.display()));
        }
    }
    let mut expected = f.expected_runs();
    if let Some(run) = reported {
        expected.push((f.victim.clone(), run));
    }
    for (id, run) in &expected {
        if !runs_file(&f.env.service_dir(id).join("runs.jsonl"))
            .run_ids
            .contains(run)
        {
            wrong.push(format!("run {run} is gone from {id}'s runs.jsonl"));
        }
    }
    let look =
        |when: &str, must_answer: bool, wrong: &mut Vec<String>| match f.history(i.honour_modes) {
            Ok(h) => {
                for (_, run) in &expected {
                    if !h.contains(run) {
                        wrong.push(format!("history {when} answers ok without run {run}"));
                    }
                }
            }
            Err(e) if must_answer => wrong.push(format!("history {when}: {e}")),
            Err(_) => {}
        };
    look("with the fault in place", false, &mut wrong);
    if let Some(heal) = &c.heal {
        heal(f);
    }
    look("once the fault is healed", true, &mut wrong);
    wrong
}

pub fn run_all() {
    let started = Instant::now();
    let mut fig = Figures::default();
    // SYNCFLEET_FAULTS_CASES=text: only the cases whose name contains it.
    let only = std::env::var("SYNCFLEET_FAULTS_CASES").unwrap_or_default();
    let cases: Vec<Case> = all_cases()
        .into_iter()
        .filter(|c| c.name.contains(&only))
        .collect();
    let mut by_area: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in &cases {
        let f = Fleet::new();
        let i = (c.setup)(&f);
        let keeper_before = f.keeper_files();
        let mut cmd = f.env.command(&i.cwd, &[]);
        cmd.args(&i.args);
        for (k, v) in &i.env {
            cmd.env(k, v);
        }
        if i.honour_modes {
            cmd = without_root_file_powers(cmd);
        }
        limit_memory(&mut cmd, CASE_MEMORY);
        let done = run_until(cmd, CASE_DEADLINE);
        fig.commands += 1;
        fig.inputs_tried += 1;
        if done.panicked() {
            fig.panics += 1;
        }
        let mut wrong = judge(c, &f, &i, &done);
        let reported = serde_json::from_str::<Value>(&done.run.stdout)
            .ok()
            .filter(|v| {
                v["data"]["action"] == "sync_completed"
                    && v["data"]["service_id"] == f.victim.as_str()
            })
            .and_then(|v| v["data"]["run_id"].as_str().map(str::to_string));
        wrong.extend(nothing_lost(c, &f, &i, &keeper_before, reported));
        let area = by_area.entry(c.area).or_default();
        area.0 += 1;
        if wrong.is_empty() {
            fig.inputs_handled += 1;
            area.1 += 1;
        } else {
            fig.fail(format!("[{}] {}: {}", c.area, c.name, wrong.join("; ")));
        }
    }
    let areas: Vec<String> = by_area
        .iter()
        .map(|(a, (tried, ok))| format!("{a} {ok}/{tried}"))
        .collect();
    eprintln!("bad inputs handled per area: {}", areas.join(", "));
    assert!(
        !only.is_empty() || fig.inputs_tried >= 60,
        "the corpus has at least 60 cases"
    );
    fig.finish("bad inputs", started);
}
