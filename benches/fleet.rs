//! Fleet benchmarks (not timed tests): builds a synthetic fleet in a temp
//! data dir and measures the built binary side by side with its baselines.
//! Run through `bench/run.sh`, which records the figures in
//! bench/RESULTS.md. Sizes: SYNCFLEET_BENCH_SERVICES (default 10000),
//! SYNCFLEET_BENCH_RUNS (runs per service in the 30-day window, default
//! 100), SYNCFLEET_BENCH_OLD_RUNS (older runs per service added for the
//! second point of the scale curve, default 900: 1M → 10M total),
//! SYNCFLEET_BENCH_BIG_FLEET (services of the large-fleet `list`, default
//! 100000; 0 skips it), SYNCFLEET_BENCH_INSTALLS (default 1000);
//! SYNCFLEET_BENCH_KEEP=1 keeps the temp dir (to profile against the same
//! fleet). The generated fleets are cached under
//! target/bench-cache/ (they are deterministic, their clock is stopped at
//! NOW_ISO), so a second run skips generating them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use syncfleet::store::manifest::Manifest;
use syncfleet::store::status::{Outcome, RunRecord, StageResult, StatusFile, Trigger};

const DAY_MS: i64 = 86_400_000;
/// The fleets' clock (SYNCFLEET_NOW): fixed, so a cached fleet stays valid.
const NOW_ISO: &str = "2026-11-01T00:00:00Z";

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
            .env("SYNCFLEET_NOW", NOW_ISO)
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
            // As install stamps it: just before the file is written (list
            // re-reads a manifest changed after its stamp).
            updated_at_iso: syncfleet::output::iso_ms(chrono::Utc::now().timestamp_millis()),
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
        // Plain writes: the fleet is a fixture, and an fsync per file would
        // be most of the generation time.
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
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
        status.updated_at_iso = NOW_ISO.into();
        std::fs::write(
            dir.join("status.json"),
            serde_json::to_vec(&status).unwrap(),
        )
        .unwrap();
    }
    total
}

/// What one command cost: wall time, CPU time (user + system: the figure
/// that a busy machine disturbs least) and peak RSS in KiB.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    rss_kib: u64,
}

/// `--measure-rss PROGRAM ARGS...`: run PROGRAM (environment and working
/// directory inherited), wait for it with wait4, print its cost. The bench
/// measures every command through this small re-executed copy of itself:
/// a child forked from the bench, whose RSS holds the generated fleet,
/// would inherit that high-water mark (Linux keeps the pre-exec maximum).
fn measure_child(args: &[String]) -> ! {
    let start = Instant::now();
    let child = Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid we hold; the Child handle
    // is not waited on again.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, pid, "wait4");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    println!("{} {} {}", wall.as_secs_f64(), cpu, usage.ru_maxrss);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        1
    };
    std::process::exit(code)
}

/// Write a fresh copy's dirty pages to disk before anything is timed: the
/// writeback of a copied fleet (0.5 GB) or registry (1.8 GB) otherwise runs
/// under the first measurements (`history` read 3.8 ms during it, 2.8 ms
/// after).
fn settle_disk() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// The cost of one command (through `measure_child`); panics when it fails.
fn time_rss(c: Command) -> Cost {
    let (cost, code) = time_rss_status(c);
    assert_eq!(code, 0, "the measured command failed");
    cost
}

/// The cost of one command and its exit status (doctor exits 10 when a
/// check fails, which a synthetic fleet without unit files does).
fn time_rss_status(c: Command) -> (Cost, i32) {
    let mut m = Command::new(std::env::current_exe().unwrap());
    m.arg("--measure-rss")
        .arg(c.get_program())
        .args(c.get_args())
        .env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(Stdio::null());
    if let Some(dir) = c.get_current_dir() {
        m.current_dir(dir);
    }
    let out = m.output().expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(
        v.len(),
        3,
        "{c:?} was not measured: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cost = Cost {
        wall: Duration::from_secs_f64(v[0]),
        cpu: Duration::from_secs_f64(v[1]),
        rss_kib: v[2] as u64,
    };
    (cost, out.status.code().unwrap_or(-1))
}

/// The median wall time, the median CPU time and the largest peak RSS of
/// `n` runs.
fn measure(n: usize, mut make: impl FnMut() -> Command) -> Cost {
    let runs: Vec<Cost> = (0..n).map(|_| time_rss(make())).collect();
    median_of(runs)
}

fn median_of(runs: Vec<Cost>) -> Cost {
    let n = runs.len();
    let mut wall: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    let mut cpu: Vec<Duration> = runs.iter().map(|r| r.cpu).collect();
    wall.sort();
    cpu.sort();
    Cost {
        wall: wall[n / 2],
        cpu: cpu[n / 2],
        rss_kib: runs.iter().map(|r| r.rss_kib).max().unwrap_or(0),
    }
}

/// "123.4 ms (cpu 98.7 ms)".
fn cost(c: Cost) -> String {
    format!("{} (cpu {})", ms(c.wall), ms(c.cpu))
}

fn mb(kib: u64) -> String {
    format!("{:.0} MB", kib as f64 / 1024.0)
}

fn sqlite3(db: &Path, sql: &str) -> Command {
    let mut c = Command::new("sqlite3");
    c.arg(db)
        .arg(sql)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// The per-service-per-day aggregates a user would write in the sqlite3
/// shell: the stricter baseline of `report --by day`.
fn group_by_sql(since: i64, until: i64) -> String {
    format!(
        "SELECT service_id, started_at_ms / 86400000 AS day, COUNT(*), \
         SUM(outcome = 'success'), SUM(outcome = 'degraded'), SUM(outcome IN ('failed', 'crashed')), \
         AVG(duration_ms) FROM runs WHERE started_at_ms >= {since} AND started_at_ms < {until} \
         GROUP BY service_id, day"
    )
}

/// What the report read before it used range scans: every row of the
/// table in key order, filtered by time.
fn row_dump_sql(since: i64, until: i64) -> String {
    format!(
        "SELECT service_id, started_at_ms, duration_ms, outcome, error_code FROM runs \
         WHERE +started_at_ms >= {since} AND +started_at_ms < {until} \
         ORDER BY service_id, started_at_ms"
    )
}

/// Add `old` runs per service, 31–310 days back, straight into the
/// registry in one transaction (the second point of the scale curve: the
/// same window, ten times the history). Stage rows are left out: no
/// query measured here reads them for old runs.
fn add_old_runs(db: &Path, old: usize, now: i64) -> usize {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;",
    )
    .unwrap();
    let ids: Vec<String> = conn
        .prepare("SELECT service_id FROM services ORDER BY service_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let tx = conn.transaction().unwrap();
    let mut rng = Rng(0x01d_5eed);
    let mut total = 0;
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO runs (service_id, started_at_ms, run_id, trigger, duration_ms, outcome, error_code, profile)
                 VALUES (?1, ?2, ?3, 'scheduled', ?4, ?5, ?6, 'balanced')",
            )
            .unwrap();
        let span = 279 * DAY_MS;
        for id in &ids {
            let step = span / old.max(1) as i64;
            for i in 0..old {
                let ts = now - 310 * DAY_MS + i as i64 * step + rng.below(60_000) as i64;
                let (outcome, code) = match rng.below(100) {
                    0..=89 => ("success", None),
                    90..=95 => ("degraded", None),
                    _ => ("failed", Some("TIMEOUT")),
                };
                stmt.execute(rusqlite::params![
                    id,
                    ts,
                    format!("{id}-old{i:05}"),
                    500 + rng.below(30_000) as i64,
                    outcome,
                    code
                ])
                .unwrap();
                total += 1;
            }
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    total
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// A cached fleet: `make` fills `dir` once (into a temp name, renamed when
/// complete, so an interrupted bench never leaves half a cache).
fn cached(dir: &Path, make: impl FnOnce(&Path)) -> bool {
    if dir.join(".complete").exists() {
        return true;
    }
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(&tmp).unwrap();
    make(&tmp);
    std::fs::write(tmp.join(".complete"), "").unwrap();
    std::fs::rename(&tmp, dir).unwrap();
    false
}

struct Row {
    what: String,
    /// The figure issue 13 measured before this work, where it has one.
    before: &'static str,
    ours: String,
    rss: String,
    group_by: String,
    dump: String,
    result: String,
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--measure-rss") {
        measure_child(&argv[2..]);
    }
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let services = env_usize("SYNCFLEET_BENCH_SERVICES", 10_000);
    let runs = env_usize("SYNCFLEET_BENCH_RUNS", 100);
    let old = env_usize("SYNCFLEET_BENCH_OLD_RUNS", 900);
    let big_fleet = env_usize("SYNCFLEET_BENCH_BIG_FLEET", 100_000);
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
        "#!/bin/sh\necho \"$*\" >> {}\ncase \"$*\" in *\"show -p Version\"*) echo 255;; *\"show -p LoadState\"*) printf 'LoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n';; *\"show -p Id,\"*) for u; do case $u in syncfleet-*) printf 'Id=%s\\nLoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n\\n' \"$u\";; esac; done;; esac\nexit 0\n",
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
    let now = chrono::DateTime::parse_from_rfc3339(NOW_ISO)
        .unwrap()
        .timestamp_millis();
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-cache")
        .join(format!("v1-{services}x{runs}"));
    std::fs::create_dir_all(&cache).unwrap();
    let mut rows: Vec<Row> = Vec::new();
    let row = |what: String, ours: String, rss: String, result: String| Row {
        what,
        before: "-",
        ours,
        rss,
        group_by: "-".into(),
        dump: "-".into(),
        result,
    };

    // The synthetic fleet's files (cached), then reindex from scratch:
    // the registry is thrown away first.
    let files = cache.join("files");
    let t = Instant::now();
    let reused = cached(&files, |dir| {
        let total = generate(dir, services, runs, now);
        eprintln!("generated {services} services, {total} runs");
    });
    eprintln!(
        "fleet files ({}) in {:.1}s",
        if reused { "cached" } else { "generated" },
        t.elapsed().as_secs_f64()
    );
    let fleet = bench.path("fleet");
    copy_dir(&files, &fleet);
    settle_disk();
    let total = services * runs;
    // Twice: into a data directory never indexed (reindex then also
    // writes every service's metrics file for the first time: 10,001 new
    // files), then with the registry lost again and the metrics files in
    // place, as in any data directory that has run before.
    let first = time_rss(bench.command(&fleet, &["--robot", "reindex"]));
    for side in ["registry.db", "registry.db-wal", "registry.db-shm"] {
        let _ = std::fs::remove_file(fleet.join(side));
    }
    let again = time_rss(bench.command(&fleet, &["--robot", "reindex"]));
    for (what, reindex) in [
        ("from no registry, no metrics files yet", first),
        ("registry lost, metrics files in place", again),
    ] {
        rows.push(Row {
            before: "14.6 s (1M)",
            ..row(
                format!("reindex ({services} services, {total} runs, {what})"),
                cost(reindex),
                mb(reindex.rss_kib),
                format!(
                    "{:.1} s per 1M runs, cpu {:.1} s (goal <=5 s)",
                    reindex.wall.as_secs_f64() * 1e6 / total.max(1) as f64,
                    reindex.cpu.as_secs_f64() * 1e6 / total.max(1) as f64
                ),
            )
        });
    }

    // fleet doctor against the fake systemctl: the scheduler is asked
    // once for every timer, not once per service. The synthetic manifests
    // list no unit files, so every service fails its drift check (exit
    // 10): the cost is that of a fleet whose every check runs.
    let _ = std::fs::remove_file(&log);
    let (doctor, code) =
        time_rss_status(bench.command(&fleet, &["--robot", "doctor", "--offline"]));
    assert!(code == 0 || code == 10, "doctor exited {code}");
    let shows = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" show ") && l.contains("syncfleet-"))
        .count();
    rows.push(row(
        format!("doctor --offline, fleet of {services} services (fake systemctl)"),
        cost(doctor),
        mb(doctor.rss_kib),
        format!("{shows} systemctl show call(s) for the states (goal: batched, <=10 s)"),
    ));

    // The 10x registry: the same window, 9x older history (cached).
    let db1 = fleet.join("registry.db");
    let ten = cache.join(format!("registry-old{old}"));
    let t = Instant::now();
    let reused = cached(&ten, |dir| {
        std::fs::copy(&db1, dir.join("registry.db")).unwrap();
        let added = add_old_runs(&dir.join("registry.db"), old, now);
        eprintln!("added {added} older runs");
    });
    eprintln!(
        "10x registry ({}) in {:.1}s",
        if reused { "cached" } else { "generated" },
        t.elapsed().as_secs_f64()
    );
    let fleet10 = bench.path("fleet10");
    std::fs::create_dir_all(&fleet10).unwrap();
    // The same files (the registry is filled and current: no import).
    std::os::unix::fs::symlink(fleet.join("services"), fleet10.join("services")).unwrap();
    std::fs::copy(ten.join("registry.db"), fleet10.join("registry.db")).unwrap();
    settle_disk();
    let total10 = total + services * old;

    let since = now - 30 * DAY_MS;
    let first_id = format!("{:012x}", 0xa000_0000_0000u64);
    let mut fleet_report: [Option<Cost>; 2] = [None; 2];
    for (i, (data, n)) in [(&fleet, total), (&fleet10, total10)]
        .into_iter()
        .enumerate()
    {
        let db = data.join("registry.db");
        // Interleaved, so that a noisy neighbour slows each side alike.
        let (mut ours, mut by, mut dump) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            ours.push(time_rss(bench.command(data, &["report", "--by", "day"])));
            by.push(time_rss(sqlite3(&db, &group_by_sql(since, now))));
            dump.push(time_rss(sqlite3(&db, &row_dump_sql(since, now))));
        }
        let (report, group_by, row_dump) = (median_of(ours), median_of(by), median_of(dump));
        fleet_report[i] = Some(report);
        rows.push(Row {
            before: ["0.40 s, 267 MB (1M)", "1.0 s, 1.09 GB (10M)"][i],
            what: format!("report --by day, fleet, 30 days ({n} runs total)"),
            ours: cost(report),
            rss: mb(report.rss_kib),
            group_by: format!("{}, {}", cost(group_by), mb(group_by.rss_kib)),
            dump: format!("{}, {}", cost(row_dump), mb(row_dump.rss_kib)),
            result: format!(
                "{:.2}x the GROUP BY's cpu (RSS goal <150 MB)",
                report.cpu.as_secs_f64() / group_by.cpu.as_secs_f64()
            ),
        });
    }
    let [Some(fleet1), Some(fleet10_report)] = fleet_report else {
        unreachable!("both sizes measured")
    };
    rows.push(row(
        "scale: fleet report at 10x history / at 1x".into(),
        format!(
            "{:.2}x wall, {:.2}x cpu",
            fleet10_report.wall.as_secs_f64() / fleet1.wall.as_secs_f64(),
            fleet10_report.cpu.as_secs_f64() / fleet1.cpu.as_secs_f64()
        ),
        "-".into(),
        "goal <=1.25x".into(),
    ));
    // Ratios to the fleet report at 10x, by CPU time (wall time on a
    // shared machine measures the neighbours).
    let share = |c: Cost| fleet10_report.cpu.as_secs_f64() / c.cpu.as_secs_f64().max(1e-6);
    let db10 = fleet10.join("registry.db");
    let one_sql = |extra: &str| {
        format!(
            "SELECT COUNT(*), SUM(outcome = 'success') FROM runs WHERE {extra} AND started_at_ms >= {since} AND started_at_ms < {now}"
        )
    };
    let tag_sql = one_sql(
        "service_id IN (SELECT service_id FROM services, json_each(services.tags) WHERE json_each.value = 'team-3')",
    );
    let svc_sql = one_sql(&format!("service_id = '{first_id}'"));
    for (what, before, args, baseline) in [
        (
            "report --service ONE (10x history)",
            "0.83 s, 1.06 GB (10M)",
            vec!["report", "--service", first_id.as_str()],
            svc_sql.as_str(),
        ),
        (
            "report --tag T (1/20 of the fleet, 10x history)",
            "-",
            vec!["report", "--tag", "team-3"],
            tag_sql.as_str(),
        ),
    ] {
        let t = measure(7, || bench.command(&fleet10, &args));
        let b = measure(7, || sqlite3(&db10, baseline));
        rows.push(Row {
            what: what.into(),
            before,
            ours: cost(t),
            rss: mb(t.rss_kib),
            group_by: cost(b),
            dump: "-".into(),
            result: format!(
                "1/{:.0} of the fleet report's cpu (goal ONE <=1/50)",
                share(t)
            ),
        });
    }
    for (what, before, args) in [
        (
            "history --since 1d (10x history)",
            "-",
            vec!["history", "--since", "1d"],
        ),
        (
            "history --service ONE --limit 20 (10x history)",
            "< 10 ms (10M)",
            vec!["history", "--service", first_id.as_str(), "--limit", "20"],
        ),
    ] {
        let t = measure(7, || bench.command(&fleet10, &args));
        rows.push(Row {
            before,
            ..row(
                what.into(),
                cost(t),
                mb(t.rss_kib),
                format!(
                    "1/{:.0} of the fleet report's cpu (goal --since 1d <=1/100)",
                    share(t)
                ),
            )
        });
    }

    // The metrics files: a fleet pass (admin changes, `syncfleet metrics`)
    // writes every service's file the first time and only the changed ones
    // after; a run rewrites one service's file and the fleet file (in
    // process, median of 5), then the whole command.
    {
        let reg = syncfleet::registry::Registry::open(&fleet.join("registry.db")).unwrap();
        let dir = bench.path("metrics");
        let median = |f: &mut dyn FnMut() -> Duration| {
            let mut times: Vec<Duration> = (0..5).map(|_| f()).collect();
            times.sort();
            times[2]
        };
        let mut fleet_now = None;
        let read = median(&mut || {
            let t = Instant::now();
            fleet_now = Some(syncfleet::metrics::collect(&reg, now, &|_| false).unwrap());
            t.elapsed()
        });
        let fleet_now = fleet_now.unwrap();
        let mut text = String::new();
        let render = median(&mut || {
            let t = Instant::now();
            text = syncfleet::metrics::render(&fleet_now);
            t.elapsed()
        });
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        // The writes, with this process's cpu time (user + system) too:
        // (wall, cpu) medians of 5.
        let self_cpu = || {
            // SAFETY: a zeroed rusage is a valid value for getrusage to fill.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: RUSAGE_SELF with a valid pointer.
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            tv(usage.ru_utime) + tv(usage.ru_stime)
        };
        let timed = |f: &mut dyn FnMut()| {
            let (mut walls, mut cpus) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                let (t, c) = (Instant::now(), self_cpu());
                f();
                walls.push(t.elapsed());
                cpus.push(self_cpu() - c);
            }
            walls.sort();
            cpus.sort();
            format!("{} (cpu {})", ms(walls[2]), ms(cpus[2]))
        };
        let first_write = timed(&mut || {
            let _ = std::fs::remove_dir_all(&dir);
            syncfleet::metrics::write_fleet_files(&reg, &dir, now, &|_| false).unwrap();
        });
        let unchanged = timed(&mut || {
            syncfleet::metrics::write_fleet_files(&reg, &dir, now, &|_| false).unwrap();
        });
        let one = fleet_now.services[0].row.service_id.clone();
        let one_service = timed(&mut || {
            syncfleet::metrics::write_service_file(&reg, &dir, &one, now, &|_| false).unwrap();
            syncfleet::metrics::write_fleet_file(&dir, now).unwrap();
        });
        let one_size = std::fs::metadata(dir.join(syncfleet::metrics::service_file_name(&one)))
            .map(|m| m.len())
            .unwrap_or(0);
        rows.push(row(
            format!("metrics files, {services} services: fleet pass writing every file"),
            first_write,
            "-".into(),
            format!(
                "{} files; registry read {} + one-document render {} (for scale); {series} series, {:.1} MB in all",
                services + 1,
                ms(read),
                ms(render),
                text.len() as f64 / 1e6
            ),
        ));
        rows.push(row(
            format!("metrics files, {services} services: fleet pass, nothing changed"),
            unchanged,
            "-".into(),
            "reads and compares every file, writes the fleet file only".into(),
        ));
        rows.push(row(
            format!("metrics files, {services} services: one service's update (a run)"),
            one_service,
            "-".into(),
            format!("4 indexed registry reads + 2 atomic writes ({one_size} B service file)"),
        ));
        let command = measure(5, || bench.command(&fleet, &["metrics"]));
        rows.push(row(
            format!("`syncfleet metrics`, {services} services (prints, fleet pass)"),
            cost(command),
            mb(command.rss_kib),
            "-".into(),
        ));
    }

    // list: registry vs scanning the manifests, and the human table.
    let list_reg = measure(7, || bench.command(&fleet, &["--robot", "list"]));
    let list_scan = measure(3, || {
        bench.command(&fleet, &["--robot", "list", "--from-files"])
    });
    rows.push(Row {
        before: "35 ms",
        what: format!("list, {services} services (registry; baseline: manifest scan)"),
        ours: cost(list_reg),
        rss: mb(list_reg.rss_kib),
        group_by: cost(list_scan),
        dump: "-".into(),
        result: format!(
            "{:.1}x faster than the scan (cpu)",
            list_scan.cpu.as_secs_f64() / list_reg.cpu.as_secs_f64()
        ),
    });
    let list_table = measure(7, || bench.command(&fleet, &["list"]));
    rows.push(row(
        format!("list, {services} services: human table"),
        cost(list_table),
        mb(list_table.rss_kib),
        format!(
            "{:.1}x the JSON's cpu",
            list_table.cpu.as_secs_f64() / list_reg.cpu.as_secs_f64()
        ),
    ));
    if big_fleet > 0 {
        let big = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/bench-cache")
            .join(format!("v1-list-{big_fleet}"));
        let t = Instant::now();
        let bin = bench.bin.clone();
        let reused = cached(&big, |dir| {
            generate(dir, big_fleet, 1, now);
            let b = Bench {
                root: bench.root.clone(),
                _temp: None,
                bin,
            };
            b.time(b.command(dir, &["--robot", "reindex"]));
        });
        eprintln!(
            "{big_fleet}-service fleet ({}) in {:.1}s",
            if reused { "cached" } else { "generated" },
            t.elapsed().as_secs_f64()
        );
        for (what, args) in [
            ("list", vec!["--robot", "list"]),
            (
                "list --tag team-3",
                vec!["--robot", "list", "--tag", "team-3"],
            ),
            (
                "list --state backoff",
                vec!["--robot", "list", "--state", "backoff"],
            ),
        ] {
            let t = measure(5, || bench.command(&big, &args));
            rows.push(row(
                format!("{what}, {big_fleet} services"),
                cost(t),
                mb(t.rss_kib),
                "goal <=300 ms".into(),
            ));
        }
    }

    // top: one refresh of the live dashboard (the table's statement, the
    // state of every service, the sparklines of a screenful of rows, one
    // 200x60 frame), in-process as the dashboard does it every second; and
    // `top --once`, which draws every service with its sparkline.
    {
        use syncfleet::top::{app::App, data, render};
        let reg = syncfleet::registry::Registry::open(&fleet.join("registry.db")).unwrap();
        let mut times: Vec<Duration> = (0..7)
            .map(|_| {
                let start = Instant::now();
                let mut app = App::new(now, true);
                app.set_page(render::table_page(60, true));
                app.set_rows(data::load_rows(&reg, now, &|_| true).unwrap(), now);
                let ids = app.stale_sparks();
                let runs = reg.recent_runs(&ids, data::SPARK_RUNS).unwrap();
                app.set_sparks(&ids, runs);
                let frame = syncfleet::commands::top::frame_text(&app, 200, 60, false);
                assert!(frame.lines().count() > 50);
                start.elapsed()
            })
            .collect();
        times.sort();
        let once = measure(5, || {
            bench.command(&fleet, &["top", "--once", "--width", "200"])
        });
        rows.push(row(
            format!("top, {services} services: one refresh (in-process); top --once (every row)"),
            ms(times[3]),
            "-".into(),
            format!("top --once: {} (refresh every 1000 ms)", cost(once)),
        ));
    }

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
    rows.push(row(
        format!("install {installs} workspaces in one batch"),
        ms(install),
        "-".into(),
        format!("{reloads} daemon-reload call(s) (goal 1)"),
    ));

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
    let run = measure(31, || {
        bench.command(&install_data, &["--robot", "run", "--service-id", &first])
    });
    let stage = measure(31, || {
        let mut c = Command::new("true");
        c.stdout(Stdio::null());
        c
    });
    let metrics_files = std::fs::read_dir(install_data.join("metrics"))
        .map(|d| d.count())
        .unwrap_or(0);
    rows.push(row(
        format!(
            "run with one no-op stage, {installs} services installed (median of 31; baseline: the stage alone; includes the metrics update, {metrics_files} metrics files)"
        ),
        cost(run),
        mb(run.rss_kib),
        format!(
            "overhead {} wall, {} cpu over {} (goal <=10 ms)",
            ms(run.wall.saturating_sub(stage.wall)),
            ms(run.cpu.saturating_sub(stage.cpu)),
            ms(stage.wall)
        ),
    ));

    println!(
        "| measurement | before (issue 13) | syncfleet | peak RSS | sqlite3 GROUP BY / baseline | sqlite3 row dump (old report) | result |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.what, r.before, r.ours, r.rss, r.group_by, r.dump, r.result
        );
    }
}
