//! `syncfleet top` through the binary: `--once` and `-J` on a small fleet
//! at a stopped clock, and a smoke test that drives the live dashboard in
//! a real terminal (tmux): filter, detail, quit.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

const NOW: &str = "2026-12-02T10:00:00Z";

/// Three services at a stopped clock: `api` succeeded, `web` failed
/// (backoff), `docs` succeeded and was paused.
fn fleet() -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("SYNCFLEET_NOW", NOW);
    let ok = stages(&[stage("issues", &["ok", "3"], "")]);
    let fail = stages(&[stage("issues", &["fail"], "")]);
    for (name, tags, stages) in [
        ("api", r#""tags": ["team-a"]"#, &ok),
        ("web", r#""tags": ["team-b"]"#, &fail),
        ("docs", r#""tags": ["team-a", "nightly"]"#, &ok),
    ] {
        let ws = env.workspace(name, stages, tags);
        env.install_in(&ws, &["--name", name]);
        env.run_service(name);
    }
    data_of(&env.run(&["-J", "pause", "--service", "docs"]));
    env
}

fn plain_lines(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let r = env.run(args).ok();
    assert!(!r.stdout.contains('\x1b'), "{}", r.stdout);
    r.stdout.lines().map(str::to_string).collect()
}

#[test]
fn once_prints_one_plain_frame_sorted_with_every_service() {
    let env = fleet();
    let lines = plain_lines(&env, &["top", "--once", "--width", "90"]);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(
        lines[0],
        format!(
            "syncfleet · 3 services: 1 paused, 1 backoff, 1 idle{}10:00:00 UTC",
            " ".repeat(90 - 51 - 12)
        )
    );
    assert!(lines[1].starts_with("STATE         SERVICE OUTCOME  LAST RUN NEXT RUN RECENT"));
    let cells =
        |i: usize| -> Vec<String> { lines[i].split_whitespace().map(str::to_string).collect() };
    // Paused first, then the failing one, then the healthy one.
    assert_eq!(cells(2)[..5], ["paused", "docs", "success", "just", "now"]);
    assert_eq!(cells(3)[..2], ["backoff", "web"]);
    assert!(
        lines[3].contains(" × "),
        "a failed run is a ×: {}",
        lines[3]
    );
    assert!(lines[3].contains("team-b"));
    assert_eq!(cells(4)[..2], ["idle", "api"]);
    assert!(lines[4].contains("in 30m"), "next run: {}", lines[4]);
    assert!(lines.iter().all(|l| l.chars().count() <= 90));

    // The width comes from COLUMNS when not given.
    let mut narrow = fleet_env_with_columns(&env, "60");
    narrow.stdout(std::process::Stdio::piped());
    let out = narrow.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");

    // Colour only when forced.
    let r = env.run(&["--color", "always", "top", "--once"]).ok();
    assert!(r.stdout.contains("\x1b[31m"), "{}", r.stdout);
}

fn fleet_env_with_columns(env: &TestEnv, columns: &str) -> std::process::Command {
    let mut c = env.command(env.dir.path(), &["top", "--once"]);
    c.env("COLUMNS", columns);
    c
}

#[test]
fn robot_top_prints_the_rows_as_json_and_a_pipe_is_refused_the_live_view() {
    let env = fleet();
    let data = data_of(&env.run(&["-J", "top"]));
    assert_eq!(data["now_iso"], "2026-12-02T10:00:00.000Z");
    let rows = data["services"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["docs", "web", "api"]);
    assert_eq!(rows[1]["state"], "backoff");
    assert_eq!(rows[1]["consecutive_failures"], 1);
    assert_eq!(rows[1]["recent"][0]["outcome"], "failed");
    assert_eq!(
        rows[2]["next_run_iso"].as_str().unwrap()[..16],
        *"2026-12-02T10:30"
    );
    assert_eq!(rows[0]["paused_reason"], "Manually paused");

    // Without a terminal, the live view says what to run instead.
    let r = env.run(&["top"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("syncfleet top --once"), "{}", r.stderr);
}

/// A tmux server of this test's own: its socket is a file in the test's
/// temp dir (so none is left behind), and the server is killed at the end
/// through that socket only.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    /// Wait for the screen to show every one of `texts` at once (a
    /// capture may catch a frame half drawn); the screen when it does.
    #[track_caller]
    fn wait_for(&self, texts: &[&str]) -> String {
        let mut last = String::new();
        let found = wait_for(Duration::from_secs(20), || {
            last = self.capture();
            texts.iter().all(|t| last.contains(t))
        });
        assert!(
            found,
            "the screen never showed all of {texts:?}; it shows:\n{last}"
        );
        last
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The shell line that starts `top` in the test's hermetic environment and
/// records its exit status.
fn top_command(env: &TestEnv, status_file: &Path) -> String {
    let command = env.command(env.dir.path(), &["top"]);
    let mut line = String::from("cd ");
    line.push_str(&shell_words::quote(&env.dir.path().display().to_string()));
    line.push_str(" && env -i");
    for (k, v) in command.get_envs() {
        if let (Some(k), Some(v)) = (k.to_str(), v.and_then(|v| v.to_str())) {
            line.push_str(&format!(" {k}={}", shell_words::quote(v)));
        }
    }
    line.push_str(" TERM=xterm-256color ");
    line.push_str(&shell_words::quote(BIN));
    line.push_str(" top; echo $? > ");
    line.push_str(&shell_words::quote(&status_file.display().to_string()));
    // The pane stays (until the server is killed) so the screen top
    // leaves behind can be read.
    line.push_str("; sleep 60");
    line
}

#[test]
fn the_live_dashboard_filters_opens_a_detail_and_quits_in_a_real_terminal() {
    if !tool_available("tmux", "the live dashboard's smoke test in a real terminal") {
        return;
    }
    let env = fleet();
    let status_file = env.path("top-exit");
    let tmux = Tmux {
        socket: env.path("tmux.sock"),
    };
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "110",
        "-y",
        "30",
        &top_command(&env, &status_file),
    ]);
    assert!(started.status.success(), "{started:?}");

    tmux.wait_for(&["3 services", "backoff", "q quit"]);

    tmux.keys(&["/"]);
    tmux.keys(&["-l", "team-b"]);
    tmux.wait_for(&["(1 shown)", "web", "/team-b"]);
    let api_gone = wait_for(Duration::from_secs(20), || {
        !tmux.capture().contains(" api ")
    });
    assert!(
        api_gone,
        "the filter left api on screen:\n{}",
        tmux.capture()
    );

    tmux.keys(&["Enter"]); // keep the filter
    tmux.keys(&["Enter"]); // open the detail
    tmux.wait_for(&[
        "web (web)",
        "Stages of the last run",
        "STAGE_FAILED",
        "Log ",
        "Esc back",
    ]);

    tmux.keys(&["Escape"]);
    tmux.wait_for(&["STATE"]);
    // Actions on the selected row (web, the only one the filter shows),
    // each after a confirmation: n cancels, y runs it.
    tmux.keys(&["p"]);
    tmux.wait_for(&["Pause web? y/n"]);
    tmux.keys(&["n"]);
    tmux.wait_for(&["pause web: cancelled"]);
    tmux.keys(&["p"]);
    tmux.keys(&["y"]);
    tmux.wait_for(&["web paused: Manually paused"]);
    tmux.wait_for(&["paused        web"]);
    // A trigger runs in its own process; the paused service does not run.
    tmux.keys(&["t"]);
    tmux.keys(&["y"]);
    tmux.wait_for(&["trigger web: paused"]);
    tmux.keys(&["r"]);
    tmux.keys(&["y"]);
    tmux.wait_for(&["web resumed"]);
    let status = data_of(&env.run(&["-J", "status", "--service", "web"]));
    assert_eq!(status["scheduler_state"], "idle", "{status}");
    tmux.keys(&["q"]);
    let exited = wait_for(Duration::from_secs(10), || status_file.exists());
    assert!(exited, "top did not exit after q:\n{}", tmux.capture());
    assert_eq!(
        std::fs::read_to_string(&status_file).unwrap().trim(),
        "0",
        "top's exit status"
    );
    // The terminal was restored: the shell's screen is back, not top's.
    let screen = tmux.capture();
    assert!(!screen.contains("q quit"), "{screen}");
}
