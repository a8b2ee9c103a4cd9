//! Fleet benchmarks (not timed tests): builds a synthetic fleet in a temp
//! data dir and measures the built binary side by side with its baselines.
//! Run through `bench/run.sh`, which records the figures in
//! bench/RESULTS.md. Sizes: SYNCFLEET_BENCH_SERVICES (default 10000),
//! SYNCFLEET_BENCH_RUNS (runs per service, default 100),
//! SYNCFLEET_BENCH_INSTALLS (default 1000); SYNCFLEET_BENCH_KEEP=1 keeps the
//! temp dir (to profile against the same fleet).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use syncfleet::store::manifest::Manifest;
use syncfleet::store::status::{Outcome, RunRecord, StageResult, StatusFile, Trigger};

const DAY_MS: i64 = 86_400_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic xorshift, so every run of the bench builds the same fleet.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Bench {
    /// Removed at the end unless SYNCFLEET_BENCH_KEEP is set (to profile).
    root: PathBuf,
    _temp: Option<tempfile::TempDir>,
    bin: PathBuf,
}

impl Bench {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn command(&self, data_dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env_clear()
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("SYNCFLEET_DATA_DIR", data_dir)
            .env("USER", "bench")
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("bin").display()),
            )
            .current_dir(self.path("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Wall time of one invocation; panics when it fails.
    fn time(&self, mut c: Command) -> Duration {
        let start = Instant::now();
        let out = c.output().expect("spawn");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{c:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    }

    fn median(&self, n: usize, mut make: impl FnMut() -> Command) -> Duration {
        let mut times: Vec<Duration> = (0..n).map(|_| self.time(make())).collect();
        times.sort();
        times[n / 2]
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Write the synthetic fleet's files (manifests, status, history).
fn generate(data: &Path, services: usize, runs: usize, now: i64) -> usize {
    let mut rng = Rng(0x5eed_f1ee7);
    let mut total = 0;
    for s in 0..services {
        let id = format!("{:012x}", 0xa000_0000_0000u64 + s as u64);
        let dir = data.join("services").join(&id);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let manifest = Manifest {
            schema_version: 2,
            service_id: id.clone(),
            identity_hash: id.clone(),
            name: None,
            workspace_root: format!("/srv/ws/{s}"),
            config_path: format!("/srv/ws/{s}/syncfleet.json"),
            project_urls: vec![format!("https://gitlab.example.com/g/p{s}")],
            tags: vec![format!("team-{}", s % 20)],
            lock_group: id.clone(),
            installed_at_iso: "2026-01-01T00:00:00.000Z".into(),
            updated_at_iso: "2026-01-01T00:00:00.000Z".into(),
            platform: "systemd".into(),
            interval_seconds: 1800,
            calendar: None,
            profile: ["fast", "balanced", "full"][s % 3].into(),
            binary_path: "/usr/local/bin/syncfleet".into(),
            data_dir: data.display().to_string(),
            token_source: "env_file".into(),
            token_env_var: None,
            service_files: vec![],
            sync_command: format!("/usr/local/bin/syncfleet --robot run --service-id {id}"),
            max_transient_failures: 10,
            circuit_breaker_cooldown_seconds: 1800,
            spec_hash: "0".repeat(64),
            stage_path: None,
        };
        manifest.write_atomic(&dir.join("manifest.json")).unwrap();
        let mut status = StatusFile::default();
        let mut text = String::with_capacity(runs * 420);
        let step = 29 * DAY_MS / runs.max(1) as i64;
        for i in 0..runs {
            let ts = now - 29 * DAY_MS + i as i64 * step + rng.below(60_000) as i64;
            let roll = rng.below(100);
            let (outcome, code) = match roll {
                0..=89 => (Outcome::Success, None),
                90..=95 => (Outcome::Degraded, None),
                96..=97 => (Outcome::Failed, Some("TIMEOUT")),
                _ => (Outcome::Failed, Some("STAGE_FAILED")),
            };
            let mut stage = StageResult::succeeded("issues", false, rng.below(50));
            if let Some(c) = code {
                stage = StageResult::failed("issues", false, c, "synthetic failure");
            }
            let run = RunRecord {
                run_id: format!("{id}-{i:05}"),
                service_id: id.clone(),
                trigger: if i % 10 == 0 {
                    Trigger::Trigger
                } else {
                    Trigger::Scheduled
                },
                timestamp_iso: syncfleet::output::iso_ms(ts),
                timestamp_ms: ts,
                duration_seconds: 0.5 + rng.below(30_000) as f64 / 1000.0,
                outcome,
                profile: Some(manifest.profile.clone()),
                stage_results: vec![stage],
                error_code: None,
                error_message: None,
            };
            text.push_str(&serde_json::to_string(&run).unwrap());
            text.push('\n');
            if outcome == Outcome::Failed {
                status.consecutive_failures += 1;
            } else {
                status.consecutive_failures = 0;
            }
            if i + 1 == runs {
                status.record_run(run);
            }
            total += 1;
        }
        std::fs::write(dir.join("runs.jsonl"), text).unwrap();
        status
            .write_atomic(&dir.join("status.json"), "now")
            .unwrap();
    }
    total
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let services = env_usize("SYNCFLEET_BENCH_SERVICES", 10_000);
    let runs = env_usize("SYNCFLEET_BENCH_RUNS", 100);
    let installs = env_usize("SYNCFLEET_BENCH_INSTALLS", 1_000);
    let temp = tempfile::tempdir().unwrap();
    let bench = Bench {
        root: temp.path().to_path_buf(),
        _temp: match std::env::var_os("SYNCFLEET_BENCH_KEEP") {
            Some(_) => {
                eprintln!("keeping {}", temp.path().display());
                let _ = temp.keep();
                None
            }
            None => Some(temp),
        },
        bin: PathBuf::from(env!("CARGO_BIN_EXE_syncfleet")),
    };
    for d in ["home", "config", "data", "bin", "ws"] {
        std::fs::create_dir_all(bench.path(d)).unwrap();
    }
    let log = bench.path("systemctl.log");
    let fake = format!(
        "#!/bin/sh\necho \"$*\" >> {}\ncase \"$*\" in *\"show -p Version\"*) echo 255;; *\"show -p LoadState\"*) printf 'LoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n';; esac\nexit 0\n",
        log.display()
    );
    for (name, text) in [
        ("bin/systemctl", fake.as_str()),
        ("bin/loginctl", "#!/bin/sh\necho Linger=yes\n"),
    ] {
        let p = bench.path(name);
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut rows: Vec<[String; 4]> = Vec::new();

    // The synthetic fleet.
    let fleet = bench.path("fleet");
    let t = Instant::now();
    let total = generate(&fleet, services, runs, now);
    eprintln!(
        "generated {services} services, {total} runs in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // reindex: the whole registry from the files.
    let reindex = bench.time(bench.command(&fleet, &["--robot", "reindex"]));
    rows.push([
        format!("reindex ({services} services, {total} runs)"),
        ms(reindex),
        "-".into(),
        "-".into(),
    ]);

    // list: registry vs scanning the manifests.
    let list_reg = bench.median(7, || bench.command(&fleet, &["--robot", "list"]));
    let list_scan = bench.median(3, || {
        bench.command(&fleet, &["--robot", "list", "--from-files"])
    });
    rows.push([
        format!("list, {services} services: registry vs manifest scan"),
        ms(list_reg),
        ms(list_scan),
        format!(
            "{:.1}x faster (goal <=100 ms, >=5x)",
            list_scan.as_secs_f64() / list_reg.as_secs_f64()
        ),
    ]);

    // list as a table for people (comfy-table's layout) vs robot JSON: the
    // measure for whether the human table ever needs a hand-written path.
    let list_table = bench.median(7, || bench.command(&fleet, &["list"]));
    rows.push([
        format!("list, {services} services: human table vs robot JSON"),
        ms(list_table),
        ms(list_reg),
        format!(
            "{:.1}x the JSON's time",
            list_table.as_secs_f64() / list_reg.as_secs_f64()
        ),
    ]);

    // report --by day vs the same SQL through the sqlite3 shell.
    let since = syncfleet::output::iso_ms(now - 30 * DAY_MS);
    let until = syncfleet::output::iso_ms(now + 1);
    let sql = syncfleet::registry::REPORT_SQL
        .replace("?1", &(now - 30 * DAY_MS).to_string())
        .replace("?2", &(now + 1).to_string());
    let db = fleet.join("registry.db");
    // Interleaved, so that a noisy neighbour on a shared machine slows
    // both sides alike.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        ours.push(bench.time(bench.command(
            &fleet,
            &[
                "report", "--by", "day", "--since", &since, "--until", &until,
            ],
        )));
        let mut c = Command::new("sqlite3");
        c.arg(&db).arg(&sql).stdout(Stdio::null());
        theirs.push(bench.time(c));
    }
    ours.sort();
    theirs.sort();
    let (report, shell) = (ours[3], theirs[3]);
    rows.push([
        format!("report --by day over {total} runs vs sqlite3 shell (same SQL)"),
        ms(report),
        ms(shell),
        format!(
            "{:.2}x the shell (goal <=500 ms, <=1.5x)",
            report.as_secs_f64() / shell.as_secs_f64()
        ),
    ]);

    // install of many workspaces in one batch against the fake systemctl.
    let install_data = bench.path("install-data");
    let mut list = String::new();
    for i in 0..installs {
        let dir = bench.path(&format!("ws/w{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("syncfleet.json"),
            format!(
                r#"{{"projects":["https://gitlab.example.com/g/w{i}"],"stages":[{{"name":"noop","command":["true"]}}]}}"#
            ),
        )
        .unwrap();
        list.push_str(&format!("{}\n", dir.display()));
    }
    let list_file = bench.path("workspaces.txt");
    std::fs::write(&list_file, list).unwrap();
    let _ = std::fs::remove_file(&log);
    let install = bench.time(bench.command(
        &install_data,
        &[
            "--robot",
            "install",
            "--workspaces-from",
            list_file.to_str().unwrap(),
        ],
    ));
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let reloads = calls
        .lines()
        .filter(|l| l.contains("daemon-reload"))
        .count();
    rows.push([
        format!("install {installs} workspaces in one batch"),
        ms(install),
        "-".into(),
        format!("{reloads} daemon-reload call(s) (goal 1)"),
    ]);

    // run overhead: one no-op stage through the whole policy path vs the
    // stage alone.
    let first = std::fs::read_dir(install_data.join("services"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let run = bench.median(31, || {
        bench.command(&install_data, &["--robot", "run", "--service-id", &first])
    });
    let stage = bench.median(31, || {
        let mut c = Command::new("true");
        c.stdout(Stdio::null());
        c
    });
    rows.push([
        "run with one no-op stage vs the stage alone (median of 31)".into(),
        ms(run),
        ms(stage),
        format!("overhead {} (goal <=15 ms)", ms(run.saturating_sub(stage))),
    ]);

    println!("| measurement | syncfleet | baseline | result |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
    }
}
