//! Healthchecks-compatible pings (`ping` in syncfleet.json): a run pings
//! `<url>/start?rid=<uuid>` when it begins and `<url>?rid=` (success) or
//! `<url>/fail?rid=` (failure) when it ends, with the tail of its log as
//! the body; a skip sends nothing, or `<url>/log` when configured. The
//! protocol is healthchecks.io's, which Uptime Kuma, Cronitor and others
//! accept too.
//!
//! A ping never changes a run's outcome and never holds the run up longer
//! than its timeout (retries included): the start ping goes out on its own
//! thread while the stages run, and the end ping waits for it within the
//! end's own budget. Failures go to the service log. The URL is a
//! capability (whoever knows it can report for the check): messages name
//! its host only.

use crate::pipeline::ServiceLog;
use crate::redact::Redactor;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_BASE_URL: &str = "https://hc-ping.com";
/// The body's size: the tail of the run's log. Healthchecks keeps up to
/// 100 KB; 10 KB holds the stage results and the last errors.
pub const BODY_LIMIT: usize = 10 * 1024;
/// How much of the service log's end is searched for the run's first line.
const LOG_SCAN: u64 = 1024 * 1024;

/// How a degraded run (an optional stage failed) is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DegradedAs {
    Success,
    Fail,
}

/// What a skipped run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSkip {
    Nothing,
    Log,
}

/// The validated `ping` of a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct PingConfig {
    /// The check's ping URL, without a trailing `/`.
    pub url: String,
    /// The budget of one ping, retries included.
    pub timeout_ms: u64,
    pub retries: u32,
    pub degraded: DegradedAs,
    pub on_skip: OnSkip,
}

/// The healthchecks endpoints syncfleet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Start,
    Success,
    Fail,
    Log,
}

impl Signal {
    fn suffix(self) -> &'static str {
        match self {
            Signal::Start => "/start",
            Signal::Success => "",
            Signal::Fail => "/fail",
            Signal::Log => "/log",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Signal::Start => "start",
            Signal::Success => "success",
            Signal::Fail => "fail",
            Signal::Log => "log",
        }
    }
}

/// The ping URL of `url` for `signal`; with `rid`, the run id that pairs
/// a start with its end.
pub fn signal_url(url: &str, signal: Signal, rid: Option<&str>) -> String {
    match rid {
        Some(rid) => format!("{url}{}?rid={rid}", signal.suffix()),
        None => format!("{url}{}", signal.suffix()),
    }
}

/// The `rid` of a run: healthchecks wants a UUID, and syncfleet's run ids
/// are not one. A version-8 UUID from the SHA-256 of the run id: the same
/// run always gets the same rid, and the service log names both.
pub fn rid_of(run_id: &str) -> String {
    let digest = Sha256::digest(run_id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The host (and port) of a URL, the only part of it messages show.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// Send `signal` with `body`, retrying a connection error, a timeout, a
/// 429 or a 5xx while the budget lasts. Ok(status) for a 2xx; Err(why)
/// with the host only.
pub fn send(
    config: &PingConfig,
    signal: Signal,
    rid: Option<&str>,
    body: &[u8],
    deadline: Instant,
) -> Result<u16, String> {
    let url = signal_url(&config.url, signal, rid);
    let host = host_of(&config.url).to_string();
    let mut why = format!("{host}: no time left to send it");
    let mut attempts = 0;
    for attempt in 0..=config.retries {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        attempts += 1;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(left))
            .http_status_as_error(false)
            .user_agent(concat!("syncfleet/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let result = agent
            .post(&url)
            .header("Content-Type", "text/plain; charset=utf-8")
            .send(body);
        let retry = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(status);
                }
                why = format!("{host} answered HTTP {status}");
                status == 429 || status >= 500
            }
            Err(e) => {
                why = format!("{host}: {}", scrub(&e.to_string(), &config.url));
                true
            }
        };
        if !retry {
            return Err(why);
        }
        if attempt < config.retries {
            let pause = Duration::from_millis(200 << attempt.min(5));
            std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        }
    }
    Err(format!(
        "{why} ({attempts} attempts within the {}s timeout)",
        config.timeout_ms as f64 / 1000.0
    ))
}

/// An error text with the URL (and its path, which holds the check's key)
/// taken out.
fn scrub(text: &str, url: &str) -> String {
    let host = host_of(url);
    let path = url
        .split_once(host)
        .map(|(_, p)| p)
        .filter(|p| p.len() > 1)
        .unwrap_or("");
    let mut out = text.replace(url, host);
    if !path.is_empty() {
        out = out.replace(path, "/…");
    }
    out
}

/// A run's pings: the start sent on its own thread, the end after the run
/// is recorded.
pub struct RunPings {
    config: PingConfig,
    rid: String,
    run_id: String,
    started: mpsc::Receiver<Result<u16, String>>,
}

impl RunPings {
    /// Send the start ping of `run_id` in the background.
    pub fn start(config: &PingConfig, run_id: &str) -> RunPings {
        let rid = rid_of(run_id);
        let (tx, started) = mpsc::channel();
        let (c, r) = (config.clone(), rid.clone());
        let deadline = Instant::now() + Duration::from_millis(config.timeout_ms);
        std::thread::spawn(move || {
            let _ = tx.send(send(&c, Signal::Start, Some(&r), b"", deadline));
        });
        RunPings {
            config: config.clone(),
            rid,
            run_id: run_id.to_string(),
            started,
        }
    }

    /// The end of the run: `failed` or `degraded` as the run ended. Waits
    /// for the start ping (within this ping's budget, so the end never
    /// overtakes it), then sends the end with the tail of the run's log,
    /// redacted with `redactor`. Failures go to `log`.
    pub fn finish(
        self,
        failed: bool,
        degraded: bool,
        log_path: &Path,
        redactor: &Redactor,
        log: &ServiceLog,
        now_iso: impl Fn() -> String,
    ) {
        let deadline = Instant::now() + Duration::from_millis(self.config.timeout_ms);
        let host = host_of(&self.config.url).to_string();
        let started = self
            .started
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let signal = if failed || (degraded && self.config.degraded == DegradedAs::Fail) {
            Signal::Fail
        } else {
            Signal::Success
        };
        match started {
            Ok(Ok(_)) => {}
            Ok(Err(why)) => log.line(&format!(
                "{} ping start (rid {}) failed: {why}",
                now_iso(),
                self.rid
            )),
            Err(_) => {
                log.line(&format!(
                    "{} ping start (rid {}) to {host} got no answer in time; the {} ping is not sent, so that it never arrives before its start",
                    now_iso(),
                    self.rid,
                    signal.as_str()
                ));
                return;
            }
        }
        let body = run_log_tail(log_path, &self.run_id, redactor);
        if let Err(why) = send(
            &self.config,
            signal,
            Some(&self.rid),
            body.as_bytes(),
            deadline,
        ) {
            log.line(&format!(
                "{} ping {} (rid {}) failed: {why}",
                now_iso(),
                signal.as_str(),
                self.rid
            ));
        }
    }
}

/// A skipped run's `/log` ping, when `on_skip` asks for it: `text` says
/// why it was skipped. Failures go to `log`.
pub fn skip(config: &PingConfig, text: &str, log: &ServiceLog, now_iso: &str) {
    if config.on_skip != OnSkip::Log {
        return;
    }
    let deadline = Instant::now() + Duration::from_millis(config.timeout_ms);
    if let Err(why) = send(config, Signal::Log, None, text.as_bytes(), deadline) {
        log.line(&format!("{now_iso} ping log (skipped run) failed: {why}"));
    }
}

/// The end of the service log from this run's first line, redacted, at
/// most BODY_LIMIT bytes (its last ones, from a line start).
pub fn run_log_tail(log_path: &Path, run_id: &str, redactor: &Redactor) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(log_path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(LOG_SCAN);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err()
        || file.take(LOG_SCAN).read_to_end(&mut bytes).is_err()
    {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let header = format!("=== run {run_id} (");
    let run_text = match text.rfind(&header) {
        // From the start of the header's line.
        Some(at) => &text[text[..at].rfind('\n').map_or(0, |nl| nl + 1)..],
        // Not found (the log rotated during the run): what is there, from
        // a whole line.
        None if from > 0 => text.split_once('\n').map_or("", |(_, rest)| rest),
        None => &text,
    };
    let redacted = redactor.redact(run_text);
    if redacted.len() <= BODY_LIMIT {
        return redacted;
    }
    let marker = "[… earlier lines cut …]\n";
    let mut cut = redacted.len() - (BODY_LIMIT - marker.len());
    while !redacted.is_char_boundary(cut) {
        cut += 1;
    }
    let tail = &redacted[cut..];
    let tail = tail.split_once('\n').map_or(tail, |(_, rest)| rest);
    format!("{marker}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    #[test]
    fn rids_are_stable_version_8_uuids() {
        let rid = rid_of("019a2b3c4d5e6-0badcafe");
        assert_eq!(rid, rid_of("019a2b3c4d5e6-0badcafe"));
        assert_ne!(rid, rid_of("019a2b3c4d5e6-0badcaff"));
        let parts: Vec<&str> = rid.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('8'), "{rid}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{rid}");
        assert!(rid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn signal_urls_and_hosts() {
        let url = "https://hc-ping.com/0e4f6a2b-0000-4000-8000-000000000001";
        assert_eq!(
            signal_url(url, Signal::Start, Some("r")),
            format!("{url}/start?rid=r")
        );
        assert_eq!(
            signal_url(url, Signal::Success, Some("r")),
            format!("{url}?rid=r")
        );
        assert_eq!(
            signal_url(url, Signal::Fail, Some("r")),
            format!("{url}/fail?rid=r")
        );
        assert_eq!(signal_url(url, Signal::Log, None), format!("{url}/log"));
        assert_eq!(host_of(url), "hc-ping.com");
        assert_eq!(host_of("http://127.0.0.1:8000/key/slug"), "127.0.0.1:8000");
        let scrubbed = scrub(&format!("error for {url}/start?rid=x"), url);
        assert_eq!(scrubbed, "error for hc-ping.com/start?rid=x");
        let scrubbed = scrub("GET /0e4f6a2b-0000-4000-8000-000000000001/start", url);
        assert!(!scrubbed.contains("0e4f6a2b"), "{scrubbed}");
    }

    #[test]
    fn the_body_is_this_runs_log_tail_redacted_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.log");
        let secret = "glpat-SECRETSECRET".to_string();
        let mut text =
            String::from("2026 === run old-1 (scheduled, profile fast) started ===\nold line\n");
        text.push_str("2026 === run new-2 (scheduled, profile fast) started ===\n");
        text.push_str(&format!("token {secret} leaked\n"));
        std::fs::write(&path, &text).unwrap();
        let redactor = Redactor::new([secret.clone()]);
        let body = run_log_tail(&path, "new-2", &redactor);
        assert!(body.starts_with("2026 === run new-2"), "{body}");
        assert!(
            !body.contains("old line") && !body.contains(&secret),
            "{body}"
        );
        assert!(body.contains("[REDACTED]"));
        // A long run: its last lines, from a line start, within the limit.
        let mut long = text.clone();
        for i in 0..2000 {
            long.push_str(&format!("line {i} of output é\n"));
        }
        std::fs::write(&path, &long).unwrap();
        let body = run_log_tail(&path, "new-2", &redactor);
        assert!(body.len() <= BODY_LIMIT, "{}", body.len());
        assert!(body.starts_with("[… earlier lines cut …]\nline "), "{body}");
        assert!(body.ends_with("line 1999 of output é\n"));
        assert_eq!(run_log_tail(&dir.path().join("none"), "x", &redactor), "");
    }

    /// A request the test server saw: the request line and the body.
    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    /// An HTTP server on 127.0.0.1 answering each request with the next
    /// status of `statuses` (the last one repeats); 0 means never answer.
    fn server(statuses: Vec<u16>) -> (String, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/check-key", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let record = seen.clone();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut length = 0;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                record.lock().unwrap().push((
                    line.trim().to_string(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let status = *statuses.get(i).or(statuses.last()).unwrap();
                if status == 0 {
                    std::thread::sleep(Duration::from_secs(30));
                    continue;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"
                );
            }
        });
        (url, seen)
    }

    fn config(url: &str, timeout_ms: u64, retries: u32) -> PingConfig {
        PingConfig {
            url: url.to_string(),
            timeout_ms,
            retries,
            degraded: DegradedAs::Success,
            on_skip: OnSkip::Nothing,
        }
    }

    #[test]
    fn a_5xx_is_retried_a_4xx_is_not() {
        let (url, seen) = server(vec![503, 500, 200]);
        let c = config(&url, 5_000, 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            send(&c, Signal::Success, Some("r"), b"body", deadline),
            Ok(200)
        );
        let lines: Vec<String> = seen.lock().unwrap().iter().map(|r| r.0.clone()).collect();
        assert_eq!(lines, vec!["POST /check-key?rid=r HTTP/1.1"; 3]);
        assert_eq!(seen.lock().unwrap()[0].1, "body");

        let (url, seen) = server(vec![404]);
        let e = send(
            &config(&url, 5_000, 2),
            Signal::Fail,
            Some("r"),
            b"",
            deadline,
        )
        .unwrap_err();
        assert!(e.ends_with("answered HTTP 404"), "{e}");
        assert!(!e.contains("check-key"), "the key stays out: {e}");
        assert_eq!(seen.lock().unwrap().len(), 1);

        let (url, seen) = server(vec![500]);
        let e = send(
            &config(&url, 5_000, 1),
            Signal::Start,
            Some("r"),
            b"",
            deadline,
        )
        .unwrap_err();
        assert!(e.contains("answered HTTP 500"), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 2, "one try and one retry");
    }

    #[test]
    fn a_server_that_never_answers_costs_the_timeout_and_no_more() {
        let (url, seen) = server(vec![0]);
        let c = config(&url, 700, 3);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(c.timeout_ms);
        let e = send(&c, Signal::Success, Some("r"), b"", deadline).unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1_500), "{took:?}");
        assert!(!e.contains("check-key"), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn nothing_listening_is_an_error_naming_the_host_only() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/secret-key/slug");
        let deadline = Instant::now() + Duration::from_secs(2);
        let e = send(&config(&url, 2_000, 0), Signal::Start, None, b"", deadline).unwrap_err();
        assert!(e.starts_with(&format!("127.0.0.1:{port}")), "{e}");
        assert!(!e.contains("secret-key"), "{e}");
    }
}
