//! Helpers of the fault-injection suite (tests/faults.rs): seeded
//! randomness, commands that are SIGKILLed or bounded in time and memory,
//! reading every state file back, finding stage processes by an
//! environment marker, and the figures block each test prints.

use crate::common::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A seeded RNG; the seed is printed so that a failing sequence of kill
/// moments can be replayed with `SYNCFLEET_FAULTS_SEED`.
pub fn rng(test: &str) -> StdRng {
    let seed = std::env::var("SYNCFLEET_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{test}: SYNCFLEET_FAULTS_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// Put this test binary's temp dirs on a tmpfs when one is usable
/// (`SYNCFLEET_FAULTS_TMPDIR`, else /dev/shm, with at least 2 GiB free).
/// The faults here are process kills, not power losses: what a SIGKILLed
/// writer leaves is the same in the page cache of a tmpfs as of a disk,
/// and fsync stalls of a disk the machine shares would otherwise eat the
/// suite's 10-minute budget. (The suite's own scripts run as `sh FILE`,
/// so a tmpfs mounted noexec serves too.)
pub fn use_tmpfs() {
    let base = std::env::var_os("SYNCFLEET_FAULTS_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/shm"));
    if free_bytes(&base).is_some_and(|free| free >= 2 << 30) {
        // Err only when another test of this binary already set it.
        let _ = tempfile::env::override_temp_dir(&base);
    }
}

/// Bytes free for us under `dir`, if it is a writable directory.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let probe = tempfile::Builder::new()
        .prefix("syncfleet-probe-")
        .tempfile_in(dir)
        .ok()?;
    drop(probe);
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs(2) writes only into the zeroed struct we pass.
    #[allow(unsafe_code)]
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c_path.as_ptr(), &mut st) == 0)
            .then(|| st.f_bavail as u64 * st.f_frsize as u64)
    }
}

/// How many `run`s the kill test SIGKILLs (`SYNCFLEET_FAULTS_KILLS`, 200).
pub fn kills_wanted() -> usize {
    std::env::var("SYNCFLEET_FAULTS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

/// How a bounded command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// Killed by a signal we did not send (abort, out of memory...).
    Signaled(i32),
    /// Still running at its deadline: we SIGKILLed it.
    Killed,
}

pub struct Finished {
    pub ending: Ending,
    pub run: Run,
    pub elapsed: Duration,
}

impl Finished {
    /// A panic, or a crash by signal that nobody sent.
    pub fn panicked(&self) -> bool {
        self.run.stderr.contains("panicked")
            || self.ending == Ending::Exited(101)
            || matches!(self.ending, Ending::Signaled(_))
    }
}

fn spawn_piped(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn syncfleet")
}

/// Drain both pipes on threads so a chatty child never blocks on a full
/// pipe while we wait for its deadline.
fn drain(child: &mut Child) -> [std::thread::JoinHandle<Vec<u8>>; 2] {
    let out = child
        .stdout
        .take()
        .map(|p| Box::new(p) as Box<dyn Read + Send>);
    let err = child
        .stderr
        .take()
        .map(|p| Box::new(p) as Box<dyn Read + Send>);
    [out, err].map(|pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    })
}

/// Run `cmd`; SIGKILL it (by its PID, which we own) if it is still running
/// after `deadline`.
pub fn run_until(cmd: Command, deadline: Duration) -> Finished {
    let started = Instant::now();
    let mut child = spawn_piped(cmd);
    let pipes = drain(&mut child);
    let ending = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break ending_of(status);
        }
        if started.elapsed() >= deadline {
            child.kill().expect("SIGKILL our child");
            child.wait().expect("reap our child");
            break Ending::Killed;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let elapsed = started.elapsed();
    let [out, err] = pipes.map(|h| h.join().unwrap_or_default());
    Finished {
        ending,
        run: Run {
            code: match ending {
                Ending::Exited(c) => c,
                _ => -1,
            },
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        },
        elapsed,
    }
}

fn ending_of(status: std::process::ExitStatus) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Ending::Exited(c),
        (None, Some(s)) => Ending::Signaled(s),
        (None, None) => Ending::Signaled(0),
    }
}

/// Cap the address space of a command, so that an input that makes
/// syncfleet allocate without bound fails fast instead of eating the
/// shared machine's memory.
pub fn limit_memory(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit(2) is async-signal-safe and only reads the struct
    // on this child's stack.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}

/// The same command, made to honour file modes even when the tests run as
/// root (CI does): root without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and
/// CAP_FOWNER is refused a write to its own 0400 file like anyone else.
pub fn without_root_file_powers(cmd: Command) -> Command {
    if !is_root() || !tool_available("setpriv", "read-only files for a root test user") {
        return cmd;
    }
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args([
            "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search,-fowner",
            "--",
        ])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// One state file that does not read back.
pub fn state_problems(data_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let services = data_dir.join("services");
    for entry in std::fs::read_dir(&services).into_iter().flatten().flatten() {
        let dir = entry.path();
        for name in ["manifest.json", "status.json"] {
            let path = dir.join(name);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) if v["schema_version"].is_u64() => {}
                Ok(_) => problems.push(format!("{}: no schema_version", path.display())),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        let runs = dir.join("runs.jsonl");
        let history = runs_file(&runs);
        for bad in history.bad_lines {
            problems.push(format!("{}: {bad}", runs.display()));
        }
    }
    problems
}

/// runs.jsonl read back: run ids of the complete lines, the complete
/// lines that do not parse, and whether the file ends with a torn line.
pub struct RunsFile {
    pub run_ids: Vec<String>,
    pub bad_lines: Vec<String>,
    pub torn_tail: bool,
}

pub fn runs_file(path: &Path) -> RunsFile {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut out = RunsFile {
        run_ids: Vec::new(),
        bad_lines: Vec::new(),
        torn_tail: false,
    };
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // The piece after the last newline: empty, or a torn final line.
    let tail = lines.pop().unwrap_or_default();
    out.torn_tail = !tail.is_empty();
    for (n, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v) if v["run_id"].is_string() => {
                out.run_ids.push(v["run_id"].as_str().unwrap().to_string())
            }
            _ => out.bad_lines.push(format!(
                "line {} does not parse: {}",
                n + 1,
                String::from_utf8_lossy(&line[..line.len().min(120)])
            )),
        }
    }
    out
}

/// Run ids the registry shows (`history -J`), or why it could not say.
pub fn history_ids(env: &TestEnv, service: Option<&str>) -> Result<BTreeSet<String>, String> {
    let mut args = vec!["-J", "history", "--limit", "1000000"];
    if let Some(s) = service {
        args.extend(["--service", s]);
    }
    let r = env.run(&args);
    let v: Value = serde_json::from_str(&r.stdout)
        .map_err(|e| format!("history printed no JSON ({e}): {} {}", r.stdout, r.stderr))?;
    if v["ok"] != true {
        return Err(format!("history failed: {}", v["error"]));
    }
    Ok(v["data"]["runs"]
        .as_array()
        .ok_or_else(|| format!("history without data.runs: {v}"))?
        .iter()
        .filter_map(|r| r["run_id"].as_str().map(str::to_string))
        .collect())
}

/// Live (not zombie) processes whose environment carries
/// `FAULTS_TAG=<tag>`: a test's stages and everything they started.
pub fn marked_processes(tag: &str) -> Vec<(u32, String)> {
    let marker = format!("FAULTS_TAG={tag}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        if matches!(state, Some(Some('Z' | 'X')) | None) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        found.push((pid, cmdline.trim().to_string()));
    }
    found
}

/// Wait up to `grace` for every marked process to end; SIGKILL (by PID)
/// and return those still alive then.
pub fn reap_marked(tag: &str, grace: Duration) -> Vec<String> {
    let deadline = Instant::now() + grace;
    loop {
        let left = marked_processes(tag);
        if left.is_empty() {
            return Vec::new();
        }
        if Instant::now() >= deadline {
            for (pid, _) in &left {
                // SAFETY: kill(2) on a pid we just found carrying this
                // test's own marker; it takes no pointers.
                #[allow(unsafe_code)]
                unsafe {
                    libc::kill(*pid as libc::pid_t, libc::SIGKILL);
                }
            }
            return left
                .into_iter()
                .map(|(pid, cmd)| format!("pid {pid}: {cmd}"))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every enabled fake systemd timer, crontab block, launchd agent and
/// scheduled task whose service has no manifest: a schedule that keeps
/// firing for a service syncfleet does not know.
pub fn schedules_without_manifest(env: &TestEnv) -> Vec<String> {
    scheduled_ids(env)
        .into_iter()
        .filter(|(id, _)| !env.service_dir(id).join("manifest.json").exists())
        .map(|(id, what)| format!("{what} for {id} has no manifest"))
        .collect()
}

/// (service id, what) of every schedule the fake schedulers hold.
pub fn scheduled_ids(env: &TestEnv) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(env.path("fake-systemctl/enabled"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name
            .strip_prefix("syncfleet-")
            .and_then(|n| n.strip_suffix(".timer"))
        {
            out.push((id.to_string(), format!("enabled timer {name}")));
        }
    }
    let crontab = std::fs::read_to_string(env.crontab_path()).unwrap_or_default();
    for line in crontab.lines() {
        if let Some(id) = line.strip_prefix("# BEGIN syncfleet ") {
            out.push((id.trim().to_string(), "crontab block".to_string()));
        }
    }
    out
}

/// Paths of every file under `dir`, for "what did this leave behind".
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What each test reports, in one block.
#[derive(Debug, Default)]
pub struct Figures {
    pub commands: usize,
    pub runs_killed: usize,
    pub files_corrupt: usize,
    pub runs_lost: usize,
    pub processes_left: usize,
    pub inputs_tried: usize,
    pub inputs_handled: usize,
    pub panics: usize,
    pub failures: Vec<String>,
}

impl Figures {
    /// Count a finished command's panic, naming it.
    pub fn saw(&mut self, what: &str, f: &Finished) {
        self.commands += 1;
        if f.panicked() {
            self.panics += 1;
            self.failures.push(format!(
                "{what}: panic or crash ({:?}); stderr: {}",
                f.ending,
                f.run.stderr.trim()
            ));
        }
    }

    pub fn fail(&mut self, what: impl Into<String>) {
        self.failures.push(what.into());
    }

    /// Print the block, then fail the test listing every failure.
    pub fn finish(self, test: &str, started: Instant) {
        let block = format!(
            "\n=== faults: {test} ({:.1}s, {} commands) ===\n\
             runs killed:      {}\n\
             files corrupt:    {}\n\
             runs lost:        {}\n\
             processes left:   {}\n\
             inputs tried:     {}\n\
             inputs handled:   {}\n\
             panics:           {}\n\
             failures:         {}\n",
            started.elapsed().as_secs_f64(),
            self.commands,
            self.runs_killed,
            self.files_corrupt,
            self.runs_lost,
            self.processes_left,
            self.inputs_tried,
            self.inputs_handled,
            self.panics,
            self.failures.len(),
        );
        let mut listing = String::new();
        for f in &self.failures {
            listing.push_str(&format!("  - {f}\n"));
        }
        // One write, so parallel tests do not interleave their blocks.
        eprint!("{block}{listing}");
        assert!(
            self.failures.is_empty(),
            "{test}: {} failures (see the block above)",
            self.failures.len()
        );
    }
}
