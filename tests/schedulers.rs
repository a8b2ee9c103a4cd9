//! The scheduler backends against real validators (systemd-analyze,
//! Python's plistlib, sh), and the cron, launchd and schtasks backends end
//! to end through the CLI with fakes of crontab, launchctl and schtasks
//! (tests/fake-bin/, on the shared harness). Nothing here touches the real crontab or scheduler of
//! the machine: the real ones are exercised by tests/e2e/run.sh.

mod common;

use common::TestEnv;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use syncfleet::paths::Env;
use syncfleet::schedule::{CalendarSchedule, CatchUp};
use syncfleet::scheduler::cron::{Cron, cron_unescape};
use syncfleet::scheduler::launchd::Launchd;
use syncfleet::scheduler::systemd::Systemd;
use syncfleet::scheduler::{Scheduler, ServiceSpec, TokenPlacement, installed_hash, spec_hash};

/// Every character the escaping must survive, in one directory name.
const AWKWARD: &str = "odd dir 100% \"dq\" 'sq' & <lt> $HOME `bt` \\bs\\% é漢";
/// systemd cannot execute a program whose path has a quote or a backslash
/// (it refuses the unit: "Executable name contains special characters"):
/// its binary lives under everything else.
const AWKWARD_EXEC_DIR: &str = "bin dir 100% & <lt> $HOME `bt` é漢";
/// …and in a token.
const TOKEN: &str = "glpat-&<>'\"$HOME`x`\\%%";

fn fake_crontab() -> PathBuf {
    common::repo().join("tests/fake-bin/crontab")
}

/// A spec whose every path runs through `AWKWARD`, with a real executable
/// (a symlink to `target`) as the binary.
struct Awkward {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    spec: ServiceSpec,
}

fn awkward(token: TokenPlacement, target: &Path, bin_dir: &str) -> Awkward {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(AWKWARD);
    let data = root.join("data");
    let bin_dir = tmp.path().join(bin_dir);
    fs::create_dir_all(&bin_dir).unwrap();
    fs::create_dir_all(data.join("services/abc123/logs")).unwrap();
    let binary = bin_dir.join("sync fleet");
    std::os::unix::fs::symlink(target, &binary).unwrap();
    let token = match token {
        TokenPlacement::EnvFile { var, .. } => TokenPlacement::EnvFile {
            var,
            path: data.join("services/abc123/env"),
        },
        other => other,
    };
    let spec = ServiceSpec {
        service_id: "abc123".into(),
        binary_path: binary,
        data_dir: data.clone(),
        workspace_root: root.join("work space"),
        interval_seconds: 900,
        calendar: None,
        run_timeout_seconds: 1500,
        token,
        stdout_log: data.join("services/abc123/logs/scheduler-stdout.log"),
        stderr_log: data.join("services/abc123/logs/scheduler-stderr.log"),
    };
    Awkward {
        _tmp: tmp,
        root,
        spec,
    }
}

fn env_for(root: &Path) -> Env {
    Env {
        home: root.join("home"),
        xdg_data_home: None,
        xdg_config_home: Some(root.join("config")),
    }
}

fn env_file() -> TokenPlacement {
    TokenPlacement::EnvFile {
        var: "GITLAB_TOKEN".into(),
        path: PathBuf::new(),
    }
}

fn embedded() -> TokenPlacement {
    TokenPlacement::Embedded {
        var: "GITLAB_TOKEN".into(),
        value: TOKEN.into(),
    }
}

fn write_artifacts(artifacts: &[syncfleet::scheduler::Artifact]) {
    for a in artifacts {
        fs::create_dir_all(a.path.parent().unwrap()).unwrap();
        fs::write(&a.path, &a.content).unwrap();
        syncfleet::fsutil::set_mode(&a.path, a.mode).unwrap();
    }
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    if !common::tool_available("systemd-analyze", "verifying rendered units") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let schedules = [
        None,
        Some(calendar_sample(CatchUp::Latest)),
        Some(calendar_sample(CatchUp::None)),
    ];
    for (token, calendar) in [TokenPlacement::None, env_file(), embedded()]
        .into_iter()
        .flat_map(|t| schedules.clone().map(|c| (t.clone(), c)))
    {
        let mut a = awkward(token, &exe, AWKWARD_EXEC_DIR);
        a.spec.calendar = calendar;
        let backend = Systemd::new(&env_for(&a.root));
        let artifacts = backend.render(&a.spec).unwrap();
        write_artifacts(&artifacts);
        let runtime = tempfile::tempdir().unwrap();
        // --man=no: verify would otherwise run man(1) for the unit's
        // Documentation=man:syncfleet(1), which a test machine need not have.
        let out = Command::new("systemd-analyze")
            .args(["verify", "--user", "--man=no"])
            .args(artifacts.iter().map(|a| &a.path))
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("XDG_CONFIG_HOME", a.root.join("config"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "systemd-analyze verify: {:?}\n{stderr}\n{}",
            out.status,
            artifacts[0].content
        );
        assert_eq!(
            backend.installed_command("abc123").unwrap(),
            a.spec.run_argv()
        );
    }
}

/// Two calendar expressions in a zone other than the machine's, one with
/// a weekday range and one with seconds and a repetition.
fn calendar_sample(catch_up: CatchUp) -> CalendarSchedule {
    CalendarSchedule {
        at: vec!["Mon..Fri *-*-* 09:30:00".into(), "*-*-* *:00/20:00".into()],
        timezone: Some("Europe/Berlin".into()),
        catch_up,
    }
}

/// The plist as Python's plistlib reads it, as JSON.
fn plistlib(path: &Path) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import plistlib,sys,json; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "plistlib rejected {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn launchd_plists_load_with_plistlib_and_keep_every_value() {
    if !common::tool_available("python3", "plistlib, a strict plist parser") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for token in [TokenPlacement::None, env_file(), embedded()] {
        let a = awkward(token.clone(), &exe, AWKWARD);
        let backend = Launchd::new(&env_for(&a.root));
        let artifacts = backend.render(&a.spec).unwrap();
        write_artifacts(&artifacts);
        let plist = plistlib(&artifacts.last().unwrap().path);
        assert_eq!(plist["Label"], "dev.syncfleet.abc123");
        assert_eq!(plist["StartInterval"], 900);
        assert_eq!(plist["RunAtLoad"], true);
        assert_eq!(
            plist["StandardOutPath"],
            a.spec.stdout_log.to_str().unwrap()
        );
        let args: Vec<String> = serde_json::from_value(plist["ProgramArguments"].clone()).unwrap();
        match &token {
            TokenPlacement::EnvFile { .. } => {
                assert_eq!(args, [artifacts[0].path.to_str().unwrap()]);
                assert!(plist.get("EnvironmentVariables").is_none());
            }
            _ => {
                assert_eq!(args, a.spec.run_argv());
                assert_eq!(
                    plist["EnvironmentVariables"]["SYNCFLEET_DATA_DIR"],
                    a.spec.data_dir.to_str().unwrap()
                );
            }
        }
        if let TokenPlacement::Embedded { .. } = token {
            assert_eq!(plist["EnvironmentVariables"]["GITLAB_TOKEN"], TOKEN);
        }
        assert_eq!(
            backend.installed_command("abc123").unwrap(),
            a.spec.run_argv()
        );
    }
}

#[test]
fn launchd_calendar_plists_load_with_plistlib() {
    if !common::tool_available("python3", "plistlib, a strict plist parser") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for catch_up in [CatchUp::Latest, CatchUp::None] {
        let mut a = awkward(env_file(), &exe, AWKWARD);
        let calendar = CalendarSchedule {
            timezone: None,
            ..calendar_sample(catch_up)
        };
        let offset = calendar.minute_offset("abc123", a.spec.interval_seconds);
        a.spec.calendar = Some(calendar);
        let backend = Launchd::new(&env_for(&a.root));
        let artifacts = backend.render(&a.spec).unwrap();
        write_artifacts(&artifacts);
        let plist = plistlib(&artifacts.last().unwrap().path);
        assert!(plist.get("StartInterval").is_none(), "{plist}");
        let entries = plist["StartCalendarInterval"].as_array().unwrap();
        let o = u64::from(offset);
        let mut expected: Vec<Value> = (1..=5)
            .map(|d| serde_json::json!({"Weekday": d, "Hour": 9, "Minute": 30 + o}))
            .collect();
        expected.extend([0, 20, 40].map(|m| serde_json::json!({"Minute": m + o})));
        assert_eq!(entries, &expected, "{plist}");
        let latest = catch_up == CatchUp::Latest;
        assert_eq!(plist["RunAtLoad"], latest);
        assert_eq!(
            plist["EnvironmentVariables"]["SYNCFLEET_CATCH_UP"],
            if latest {
                Value::from("1")
            } else {
                Value::Null
            }
        );
    }
}

/// A stand-in for the syncfleet binary that checks what it is handed: the
/// exact token when one is embedded (`expected-token`), else no token
/// variable at all (the run reads the env file itself, see
/// tests/secrets.rs), the data directory and the arguments.
const CHECKER: &str = r#"#!/bin/sh
if [ -e "$(dirname "$0")/expected-token" ]; then
    expected_token=$(cat "$(dirname "$0")/expected-token")
    [ "$GITLAB_TOKEN" = "$expected_token" ] || { echo "token differs: [$GITLAB_TOKEN]" >&2; exit 3; }
else
    [ -z "${GITLAB_TOKEN+set}" ] || { echo "a token variable reached the run" >&2; exit 3; }
fi
[ "$SYNCFLEET_DATA_DIR" = "$(cat "$(dirname "$0")/expected-data-dir")" ] || { echo "data dir differs" >&2; exit 4; }
[ "$*" = "--robot run --service-id abc123" ] || { echo "args differ: $*" >&2; exit 5; }
[ -z "${SYNCFLEET_CATCH_UP+set}" ] || { echo "checked catch-up"; exit 0; }
echo checked
"#;

#[test]
fn wrapper_passes_sh_n_and_leaves_the_token_to_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let checker = tmp.path().join("checker.sh");
    fs::write(&checker, CHECKER).unwrap();
    syncfleet::fsutil::set_mode(&checker, 0o755).unwrap();
    let a = awkward(env_file(), &checker, AWKWARD);
    fs::write(
        a.spec
            .binary_path
            .parent()
            .unwrap()
            .join("expected-data-dir"),
        a.spec.data_dir.to_str().unwrap(),
    )
    .unwrap();
    let TokenPlacement::EnvFile { path, .. } = &a.spec.token else {
        unreachable!()
    };
    fs::write(path, format!("GITLAB_TOKEN={TOKEN}\n")).unwrap();
    let wrapper = syncfleet::scheduler::wrapper::render(&a.spec)
        .unwrap()
        .unwrap();
    write_artifacts(std::slice::from_ref(&wrapper));
    let syntax = Command::new("sh")
        .arg("-n")
        .arg(&wrapper.path)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "sh -n: {syntax:?}");
    let run = Command::new(&wrapper.path)
        .env(
            "GITLAB_TOKEN",
            "stale value from the scheduler's environment",
        )
        .env_remove("SYNCFLEET_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stderr),
        wrapper.content
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), "checked\n");
}

/// Run a crontab command line the way cron does: `%` handling, then sh.
fn run_like_cron(line: &str, env: &[(&str, &Path)]) -> Output {
    let mut fields = line.splitn(6, ' ');
    let command = fields.nth(5).unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(cron_unescape(command))
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn cron_blocks_round_trip_through_crontab_and_run_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let checker = tmp.path().join("checker.sh");
    fs::write(&checker, CHECKER).unwrap();
    syncfleet::fsutil::set_mode(&checker, 0o755).unwrap();
    let boot_catch_up = CalendarSchedule {
        timezone: None,
        ..calendar_sample(CatchUp::Latest)
    };
    for (token, calendar) in [
        (env_file(), None),
        (embedded(), None),
        (env_file(), Some(boot_catch_up.clone())),
        (embedded(), Some(boot_catch_up)),
    ] {
        let mut a = awkward(token.clone(), &checker, AWKWARD);
        a.spec.calendar = calendar;
        let bin_dir = a.spec.binary_path.parent().unwrap();
        if matches!(a.spec.token, TokenPlacement::Embedded { .. }) {
            fs::write(bin_dir.join("expected-token"), TOKEN).unwrap();
        } else {
            let _ = fs::remove_file(bin_dir.join("expected-token"));
        }
        fs::write(
            bin_dir.join("expected-data-dir"),
            a.spec.data_dir.to_str().unwrap(),
        )
        .unwrap();
        if let TokenPlacement::EnvFile { path, .. } = &a.spec.token {
            fs::write(path, format!("GITLAB_TOKEN={TOKEN}\n")).unwrap();
        }
        let table = a.root.join("crontab");
        let before = b"MAILTO=\"\"\n# caf\xe9: not UTF-8, kept as is\n17 3 * * * /bin/true \\%x\n";
        fs::write(&table, before).unwrap();
        // Cron::new reads SYNCFLEET_CRONTAB; the fake reads FAKE_CRONTAB_FILE.
        // Both are process-wide, so this test sets them once, consistently.
        // SAFETY: no other test in this binary reads or writes these variables.
        unsafe {
            std::env::set_var("SYNCFLEET_CRONTAB", fake_crontab());
            std::env::set_var("FAKE_CRONTAB_FILE", &table);
        }
        let backend = Cron::new(&env_for(&a.root));
        let artifacts = backend.render(&a.spec).unwrap();
        write_artifacts(&artifacts);
        backend.activate(&["abc123"]).unwrap();
        let after = fs::read(&table).unwrap();
        assert!(after.starts_with(before), "other lines kept byte for byte");
        let paths: Vec<PathBuf> = artifacts.iter().map(|a| a.path.clone()).collect();
        assert_eq!(
            installed_hash(&backend, &paths),
            Some(spec_hash(&artifacts)),
            "the crontab block reads back exactly as rendered"
        );
        assert_eq!(
            backend.installed_command("abc123").unwrap(),
            a.spec.run_argv()
        );
        assert!(backend.state("abc123").loaded);
        let text = String::from_utf8_lossy(&after).into_owned();
        let line = text
            .lines()
            .skip_while(|l| *l != "# BEGIN syncfleet abc123")
            .find(|l| !l.starts_with('#'))
            .unwrap();
        let out = run_like_cron(line, &[]);
        assert!(out.status.success(), "{out:?}\n{line}");
        assert_eq!(
            fs::read_to_string(&a.spec.stdout_log).unwrap(),
            "checked\n",
            "output is appended to the service's log"
        );
        if a.spec.calendar.is_some() {
            // One line per expression, then the boot line of the catch-up.
            let lines: Vec<&str> = text
                .lines()
                .skip_while(|l| *l != "# BEGIN syncfleet abc123")
                .filter(|l| !l.starts_with('#'))
                .collect();
            assert_eq!(lines.len(), 3, "{text}");
            let boot = lines[2].strip_prefix("@reboot ").unwrap();
            let out = run_like_cron(&format!("x x x x x {boot}"), &[]);
            assert!(out.status.success(), "{out:?}\n{boot}");
            assert_eq!(
                fs::read_to_string(&a.spec.stdout_log).unwrap(),
                "checked\nchecked catch-up\n"
            );
        }
        backend.deactivate("abc123").unwrap();
        assert_eq!(fs::read(&table).unwrap(), before);
        assert!(!backend.state("abc123").loaded);
    }
}

// ---- the CLI on the shared harness (fake crontab, launchctl, schtasks) ----

/// The harness with a workspace under an awkward path whose one stage
/// checks that it gets exactly `TOKEN`, and an awkward data directory.
struct Cli {
    env: TestEnv,
    workspace: PathBuf,
    table: PathBuf,
}

impl Cli {
    fn new() -> Cli {
        let mut env = TestEnv::new();
        let workspace = env.path("my work 100% & <co> 'q' $x é");
        fs::create_dir_all(workspace.join("stages")).unwrap();
        fs::write(
            workspace.join("stages/check-token.sh"),
            "#!/bin/sh\n[ \"$GITLAB_TOKEN\" = \"$(cat expected-token)\" ] || { echo token differs >&2; exit 3; }\necho '{\"ok\":true,\"data\":{\"items_updated\":7}}'\n",
        )
        .unwrap();
        syncfleet::fsutil::set_mode(&workspace.join("stages/check-token.sh"), 0o755).unwrap();
        fs::write(workspace.join("expected-token"), TOKEN).unwrap();
        fs::write(
            workspace.join("syncfleet.json"),
            r#"{"name": "cronws", "projects": ["https://example.com/a"], "token_env_var": "GITLAB_TOKEN",
                "stages": [{"name": "check", "command": ["./stages/check-token.sh"]}]}"#,
        )
        .unwrap();
        let data_dir = env.path("data dir %");
        env.set_env("SYNCFLEET_DATA_DIR", data_dir.to_str().unwrap());
        let table = env.crontab_path();
        Cli {
            env,
            workspace,
            table,
        }
    }

    fn home(&self) -> PathBuf {
        self.env.home()
    }

    fn config(&self) -> PathBuf {
        self.env.path("config")
    }

    fn data_dir(&self) -> PathBuf {
        self.env.path("data dir %")
    }

    /// `--robot` in the workspace, with extra environment for this run.
    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> (Value, Output) {
        let mut cmd = self.env.command(&self.workspace, &["--robot"]);
        cmd.args(args).envs(extra.iter().copied());
        let out = cmd.output().unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (json, out)
    }
}

const OTHER_LINES: &[u8] =
    b"# my own jobs\nMAILTO=me@example.com\n*/7 * * * * /usr/bin/backup --tag \\%Y \xff\n";

#[test]
fn cli_cron_install_status_drift_run_uninstall() {
    let cli = Cli::new();
    fs::write(&cli.table, OTHER_LINES).unwrap();
    let token = [("GITLAB_TOKEN", TOKEN)];

    let (v, out) = cli.run(
        &["install", "--scheduler", "cron", "--interval", "25m"],
        &token,
    );
    assert_eq!(v["error"]["code"], "INVALID_ARGUMENT", "{v}");
    assert_eq!(out.status.code(), Some(2));
    let suggestion = v["error"]["suggestion"].as_str().unwrap();
    assert!(
        suggestion.contains("20m") && suggestion.contains("30m"),
        "{suggestion}"
    );

    let (v, _) = cli.run(
        &["install", "--scheduler", "cron", "--interval", "15m"],
        &token,
    );
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["data"]["platform"], "cron");
    let table = fs::read(&cli.table).unwrap();
    assert!(table.starts_with(OTHER_LINES));
    let text = String::from_utf8_lossy(&table).into_owned();
    assert!(text.contains("# BEGIN syncfleet cronws\n"), "{text}");
    assert!(text.contains("-59/15 * * * * '"), "{text}");
    assert!(!text.contains("glpat"), "env-file mode keeps the token out");
    let wrapper = cli.data_dir().join("services/cronws/run.sh");
    assert_eq!(syncfleet::fsutil::mode_of(&wrapper).unwrap(), 0o700);

    let (v, _) = cli.run(
        &["install", "--scheduler", "cron", "--interval", "15m"],
        &token,
    );
    assert_eq!(v["data"]["no_change"], true, "idempotent: {v}");
    let (v, _) = cli.run(&["status"], &[]);
    assert_eq!(v["data"]["platform"], "cron", "{v}");
    assert_eq!(v["data"]["service_state"], "scheduled");
    assert_eq!(v["data"]["drift"]["spec_drift"], false, "{v}");
    assert_eq!(v["data"]["drift"]["command_drift"], false, "{v}");
    // list answers from the registry and never asks the scheduler (drift
    // is status's and doctor's job): it knows the platform.
    let (v, _) = cli.run(&["list"], &[]);
    assert_eq!(v["data"]["services"][0]["platform"], "cron", "{v}");
    assert_list_drift(&v, false);

    // The scheduled line, run as cron runs it, without the token in the
    // environment: the wrapper reads it from the env file.
    let line = text
        .lines()
        .skip_while(|l| *l != "# BEGIN syncfleet cronws")
        .find(|l| !l.starts_with('#'))
        .unwrap();
    let out = run_like_cron(line, &[("HOME", &cli.home())]);
    assert!(out.status.success(), "{out:?}");
    let runs = fs::read_to_string(cli.data_dir().join("services/cronws/runs.jsonl")).unwrap();
    let run: Value = serde_json::from_str(runs.lines().last().unwrap()).unwrap();
    assert_eq!(run["outcome"], "success", "{run}");
    assert_eq!(run["trigger"], "scheduled");

    // Someone edits the block: status and doctor see it; install repairs.
    let at = text.find("-59/15 * * * *").unwrap();
    let mut edited = table.clone();
    edited.splice(at..at + 6, b"-59/5".iter().copied());
    fs::write(&cli.table, edited).unwrap();
    let (v, _) = cli.run(&["status"], &[]);
    assert_eq!(v["data"]["drift"]["spec_drift"], true, "{v}");
    let (v, _) = cli.run(&["doctor", "--offline"], &[]);
    let checks = v["data"]["checks"].as_array().unwrap();
    let state = checks
        .iter()
        .find(|c| c["name"] == "install_state")
        .unwrap();
    assert_eq!(state["status"], "fail", "{v}");
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "crontab" && c["status"] == "pass")
    );
    let (v, _) = cli.run(
        &["install", "--scheduler", "cron", "--interval", "15m"],
        &token,
    );
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["data"]["changes"].to_string().contains("repaired"), "{v}");
    let (v, _) = cli.run(&["status"], &[]);
    assert_eq!(v["data"]["drift"]["spec_drift"], false, "{v}");

    let (v, _) = cli.run(&["uninstall"], &[]);
    assert_eq!(v["data"]["was_installed"], true, "{v}");
    assert_eq!(fs::read(&cli.table).unwrap(), OTHER_LINES);
    assert!(!wrapper.exists());
    assert!(!cli.data_dir().join("services/cronws/env").exists());
}

#[test]
fn cli_cron_install_is_transactional() {
    let cli = Cli::new();
    fs::write(&cli.table, OTHER_LINES).unwrap();
    let (v, _) = cli.run(
        &["install", "--scheduler", "cron", "--interval", "1h"],
        &[("GITLAB_TOKEN", TOKEN), ("FAKE_CRONTAB_FAIL_WRITE", "1")],
    );
    assert_eq!(v["error"]["code"], "SERVICE_COMMAND_FAILED", "{v}");
    assert_eq!(fs::read(&cli.table).unwrap(), OTHER_LINES);
    assert!(
        !cli.data_dir()
            .join("services/cronws/manifest.json")
            .exists()
    );
    assert!(!cli.data_dir().join("services/cronws/run.sh").exists());
    assert!(!cli.data_dir().join("services/cronws/env").exists());
    let staged = cli.config().join("syncfleet/cron/syncfleet-cronws.cron");
    assert!(!staged.exists());
}

#[test]
fn cli_dry_run_never_shows_an_embedded_token() {
    let cli = Cli::new();
    for scheduler in ["cron", "systemd"] {
        let (v, out) = cli.run(
            &[
                "install",
                "--scheduler",
                scheduler,
                "--token-source",
                "embedded",
                "--dry-run",
            ],
            &[("GITLAB_TOKEN", TOKEN)],
        );
        if v["ok"] == false {
            // No user manager here: the pre-flight refuses systemd.
            assert_eq!(v["error"]["code"], "DOCTOR_FAILED", "{v}");
            continue;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("<redacted>"), "{stdout}");
        assert!(!stdout.contains("glpat"), "{scheduler}: {stdout}");
    }
}

/// `list` reports drift per service where it queries the scheduler; a
/// registry-backed `list` that leaves drift to `status` and `doctor` (the
/// registry branch's fast path) has no `drift` field, and is not wrong.
#[track_caller]
fn assert_list_drift(list: &Value, expected: bool) {
    if let Some(d) = list["data"]["services"][0].get("drift") {
        assert_eq!(d, expected, "{list}");
    }
}

/// Replace the first `from` in a file by `to`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn drift(cli: &Cli) -> Value {
    let (v, _) = cli.run(&["status"], &[]);
    v["data"]["drift"].clone()
}

#[test]
fn cli_launchd_with_a_fake_launchctl() {
    let cli = Cli::new();
    let token = [("GITLAB_TOKEN", TOKEN)];
    let (v, _) = cli.run(&["install", "--scheduler", "launchd"], &token);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["data"]["first_run"], "right away (RunAtLoad)");
    let plist = cli
        .home()
        .join("Library/LaunchAgents/dev.syncfleet.cronws.plist");
    let loaded = cli.env.path("fake-launchd/dev.syncfleet.cronws");
    assert_eq!(fs::read(&plist).unwrap(), fs::read(&loaded).unwrap());
    assert!(!fs::read_to_string(&plist).unwrap().contains("glpat"));

    let (v, _) = cli.run(&["install", "--scheduler", "launchd"], &token);
    assert_eq!(v["data"]["no_change"], true, "idempotent: {v}");
    let (v, _) = cli.run(&["status"], &[]);
    assert_eq!(v["data"]["platform"], "launchd", "{v}");
    assert_eq!(v["data"]["service_state"], "loaded (last exit 0)");
    assert_eq!(
        v["data"]["drift"],
        serde_json::json!({"platform_drift": false, "spec_drift": false, "command_drift": false})
    );

    // The wrapper now runs something else: both drifts, in status, list
    // and doctor; install puts it back.
    let wrapper = cli.data_dir().join("services/cronws/run.sh");
    edit(&wrapper, "'run'", "'sync'");
    let d = drift(&cli);
    assert_eq!(
        (d["spec_drift"].clone(), d["command_drift"].clone()),
        (true.into(), true.into()),
        "{d}"
    );
    let (v, _) = cli.run(&["list"], &[]);
    assert_list_drift(&v, true);
    let (v, _) = cli.run(&["doctor", "--offline"], &[]);
    assert!(
        v["data"]["checks"].to_string().contains("has drifted"),
        "{v}"
    );
    let (v, _) = cli.run(&["install", "--scheduler", "launchd"], &token);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(drift(&cli)["command_drift"], false);

    // Unloaded behind syncfleet's back: platform drift.
    fs::remove_file(&loaded).unwrap();
    assert_eq!(drift(&cli)["platform_drift"], true);
    let (v, _) = cli.run(&["install", "--scheduler", "launchd"], &token);
    assert!(
        v["data"]["changes"].to_string().contains("re-enabled"),
        "{v}"
    );
    assert!(loaded.exists());

    let (v, _) = cli.run(&["doctor", "--offline"], &[("FAKE_LAUNCHD_NO_GUI", "1")]);
    let gui = v["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "launchd_gui_session")
        .unwrap()
        .clone();
    assert_eq!(gui["status"], "warn", "{gui}");

    let (v, _) = cli.run(&["uninstall"], &[]);
    assert_eq!(v["data"]["was_installed"], true, "{v}");
    assert!(!plist.exists() && !loaded.exists() && !wrapper.exists());
}

#[test]
fn cli_schtasks_with_a_fake_schtasks() {
    let cli = Cli::new();
    let (v, _) = cli.run(
        &["install", "--scheduler", "schtasks", "--interval", "30m"],
        &[("GITLAB_TOKEN", TOKEN)],
    );
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["data"]["token_source"], "system_env");
    assert!(
        v["data"]["warnings"]
            .to_string()
            .contains("setx GITLAB_TOKEN"),
        "install says what to set: {v}"
    );
    assert!(!cli.data_dir().join("services/cronws/env").exists());
    let task = cli.env.path("fake-schtasks/SyncFleet-cronws");
    let run = fs::read_to_string(&task).unwrap();
    assert!(run.contains(" --robot --data-dir \""), "{run}");

    let (v, _) = cli.run(
        &["install", "--scheduler", "schtasks", "--interval", "30m"],
        &[("GITLAB_TOKEN", TOKEN)],
    );
    assert_eq!(v["data"]["no_change"], true, "idempotent: {v}");
    let (v, _) = cli.run(&["status"], &[]);
    assert_eq!(v["data"]["platform"], "schtasks", "{v}");
    assert_eq!(v["data"]["service_state"], "ready");
    assert_eq!(v["data"]["next_run"], "11/22/2026 4:15:00 AM");
    assert_eq!(
        v["data"]["drift"],
        serde_json::json!({"platform_drift": false, "spec_drift": false, "command_drift": false})
    );

    edit(&task, "--service-id cronws", "--service-id other");
    assert_eq!(drift(&cli)["command_drift"], true);
    let (v, _) = cli.run(
        &["install", "--scheduler", "schtasks", "--interval", "30m"],
        &[("GITLAB_TOKEN", TOKEN)],
    );
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(drift(&cli)["command_drift"], false);

    // The arguments file of versions before the task XML goes with it.
    let legacy = cli
        .config()
        .join("syncfleet/schtasks/SyncFleet-cronws.args");
    fs::write(&legacy, "/create\n/tn\nSyncFleet-cronws\n").unwrap();
    let (v, _) = cli.run(&["uninstall"], &[]);
    assert_eq!(v["data"]["was_installed"], true, "{v}");
    assert!(!task.exists());
    assert!(!legacy.exists());
    assert!(
        !cli.config()
            .join("syncfleet/schtasks/SyncFleet-cronws.xml")
            .exists()
    );
}

/// The task XML as Python's xml.etree reads it: each element's local name
/// and text, in document order, as JSON pairs.
fn etree(xml_utf8: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.xml");
    // The file as schtasks gets it: UTF-16 LE with a byte-order mark.
    let mut bytes = vec![0xFF, 0xFE];
    for unit in xml_utf8.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    fs::write(&path, bytes).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys,json,xml.etree.ElementTree as E\n\
             root=E.parse(sys.argv[1]).getroot()\n\
             assert root.tag=='{http://schemas.microsoft.com/windows/2004/02/mit/task}Task', root.tag\n\
             assert root.get('version')=='1.2'\n\
             print(json.dumps([(e.tag.split('}')[1], (e.text or '').strip()) for e in root.iter()]))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xml.etree rejected the task: {}\n{xml_utf8}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn element<'a>(tree: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    tree.iter()
        .filter(|(n, _)| n == name)
        .map(|(_, t)| t.as_str())
        .collect()
}

/// A calendar service on schtasks: the task XML reaches schtasks as a
/// UTF-16 file through /xml, parses, catches up missed runs by default
/// (StartWhenAvailable) and not with --catch-up none, holds one trigger
/// per --at, and never the token.
#[test]
fn cli_schtasks_calendar_task_xml() {
    if !common::tool_available("python3", "xml.etree, to parse the task XML") {
        return;
    }
    let cli = Cli::new();
    let staged = cli.config().join("syncfleet/schtasks/SyncFleet-cronws.xml");
    let received = cli.env.path("fake-schtasks/.SyncFleet-cronws.xml");
    for (catch_up, start_when_available) in [(None, "true"), (Some("none"), "false")] {
        let mut args = vec![
            "install",
            "--scheduler",
            "schtasks",
            "--at",
            "Mon..Fri 09:30",
            "--at",
            "*-*-1 02:00",
        ];
        if let Some(c) = catch_up {
            args.extend(["--catch-up", c]);
        }
        let (v, _) = cli.run(&args, &[("GITLAB_TOKEN", TOKEN)]);
        assert_eq!(v["ok"], true, "{v}");
        let bytes = fs::read(&staged).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xFE], "UTF-16 LE with a BOM");
        let text = String::from_utf8(fs::read(&received).unwrap()).unwrap();
        assert!(!text.contains(TOKEN) && !text.contains("glpat-"), "{text}");
        let tree = etree(&text);
        assert_eq!(
            element(&tree, "StartWhenAvailable"),
            [start_when_available],
            "{text}"
        );
        assert_eq!(element(&tree, "CalendarTrigger").len(), 2, "{text}");
        assert_eq!(element(&tree, "DaysOfWeek").len(), 1, "{text}");
        assert_eq!(element(&tree, "Day"), ["1"], "{text}");
        assert_eq!(element(&tree, "MultipleInstancesPolicy"), ["IgnoreNew"]);
        let starts = element(&tree, "StartBoundary");
        assert!(starts[0].starts_with("2001-01-01T09:3"), "{starts:?}");
        assert!(starts[1].starts_with("2001-01-01T02:0"), "{starts:?}");
        let (v, _) = cli.run(&["status"], &[]);
        assert_eq!(
            v["data"]["drift"],
            serde_json::json!({"platform_drift": false, "spec_drift": false, "command_drift": false}),
            "{v}"
        );
    }
    // A hand edit of the staged task is drift.
    let text = String::from_utf8(fs::read(&received).unwrap()).unwrap();
    let edited = text.replace("<StartWhenAvailable>false<", "<StartWhenAvailable>true<");
    assert_ne!(edited, text);
    let mut bytes = vec![0xFF, 0xFE];
    for unit in edited.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    fs::write(&staged, bytes).unwrap();
    assert_eq!(drift(&cli)["spec_drift"], true);
    // Times Task Scheduler cannot keep are refused with the nearest.
    let (v, _) = cli.run(
        &["install", "--scheduler", "schtasks", "--at", "*:5,35"],
        &[("GITLAB_TOKEN", TOKEN)],
    );
    assert_eq!(v["ok"], false, "{v}");
    assert!(v.to_string().contains("list of minutes"), "{v}");
}

#[test]
fn cli_dry_runs_show_what_each_scheduler_would_get() {
    let cli = Cli::new();
    for (scheduler, needle) in [
        ("launchd", "<key>StartInterval</key>"),
        ("schtasks", "<TimeTrigger>"),
        ("cron", "# BEGIN syncfleet cronws\\n"),
    ] {
        let (v, _) = cli.run(
            &["install", "--scheduler", scheduler, "--dry-run"],
            &[("GITLAB_TOKEN", TOKEN)],
        );
        assert_eq!(v["data"]["platform"], scheduler, "{v}");
        assert!(v["data"]["rendered"].to_string().contains(needle), "{v}");
    }
    assert!(
        !cli.data_dir().join("services").exists(),
        "dry run writes nothing"
    );
}
