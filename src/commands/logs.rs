//! `syncfleet logs`: print, follow or open the service log.

use crate::cli::LogsArgs;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::output::{Render, Ui};
use crate::service;
use serde::Serialize;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

const DEFAULT_LINES: usize = 100;
const ROBOT_MAX_LINES: usize = 100;

#[derive(Debug, Serialize)]
pub struct LogsReport {
    pub service_id: String,
    pub log_path: String,
    pub exists: bool,
    pub size_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_lines: Option<Vec<String>>,
}

impl Render for LogsReport {
    fn human(&self, _ui: &Ui) -> String {
        if !self.exists {
            return format!(
                "No log file found yet: {}\nIt appears after the first run (syncfleet trigger).\n",
                self.log_path
            );
        }
        self.last_lines
            .as_ref()
            .map(|l| l.iter().map(|l| format!("{l}\n")).collect())
            .unwrap_or_default()
    }
}

/// The last `n` lines of a file, reading from the end in blocks.
pub fn tail_lines(path: &Path, n: usize) -> std::io::Result<Vec<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    while pos > 0 && buf.iter().filter(|&&b| b == b'\n').count() <= n {
        let step = pos.min(64 * 1024);
        pos -= step;
        file.seek(SeekFrom::Start(pos))?;
        let mut chunk = vec![0; step as usize];
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect())
}

pub fn run(ctx: &Context, args: &LogsArgs) -> Result<LogsReport> {
    let target = service::resolve(ctx, args.service.as_deref())?;
    let path = ctx.data_dir.service_log_path(&target.id);
    let meta = std::fs::metadata(&path).ok();
    let mut report = LogsReport {
        service_id: target.id.clone(),
        log_path: path.display().to_string(),
        exists: meta.is_some(),
        size_bytes: meta.map(|m| m.len()).unwrap_or(0),
        last_lines: None,
    };
    if ctx.ui.robot {
        if args.follow {
            return Err(Error::invalid_argument(
                "follow mode requires an interactive terminal, not robot mode",
            )
            .with_suggestion("Drop --robot, or poll with --tail."));
        }
        if let Some(n) = args.tail
            && report.exists
        {
            report.last_lines = Some(
                tail_lines(&path, n.min(ROBOT_MAX_LINES))
                    .map_err(|e| Error::io("read", &path, e))?,
            );
        }
        return Ok(report);
    }
    if args.open {
        open_in_editor(&path)?;
        report.last_lines = Some(Vec::new());
        return Ok(report);
    }
    if report.exists {
        report.last_lines = Some(
            tail_lines(&path, args.tail.unwrap_or(DEFAULT_LINES))
                .map_err(|e| Error::io("read", &path, e))?,
        );
    }
    if args.follow {
        print!("{}", report.human(&ctx.ui));
        follow(&path)?;
    }
    Ok(report)
}

fn open_in_editor(path: &Path) -> Result<()> {
    if !path.exists() {
        return Err(Error::new(
            ErrorCode::ServiceError,
            format!("no log file yet at {}", path.display()),
        )
        .with_suggestion("Run the service once: syncfleet trigger"));
    }
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| {
            if cfg!(windows) {
                "notepad".into()
            } else {
                "less".into()
            }
        });
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("less");
    let status = std::process::Command::new(program)
        .args(parts)
        .arg(path)
        .status()
        .map_err(|e| {
            Error::new(
                ErrorCode::ServiceError,
                format!("cannot start editor '{program}': {e}"),
            )
            .with_suggestion("Set $VISUAL or $EDITOR to an editor that exists, or install less.")
        })?;
    if !status.success() {
        return Err(Error::new(
            ErrorCode::ServiceError,
            format!("editor '{program}' exited with {status}"),
        ));
    }
    Ok(())
}

/// Print new bytes as they are appended; survives rotation (reopens when
/// the file shrinks or is replaced). Ends on Ctrl-C.
fn follow(path: &Path) -> Result<()> {
    let mut pos = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut out = std::io::stdout();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let Ok(mut file) = std::fs::File::open(path) else {
            continue;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < pos {
            pos = 0;
        }
        if len > pos {
            file.seek(SeekFrom::Start(pos))
                .map_err(|e| Error::io("read", path, e))?;
            let mut buf = Vec::new();
            file.take(len - pos)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("read", path, e))?;
            pos = len;
            if out.write_all(&buf).and_then(|_| out.flush()).is_err() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_reads_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        assert_eq!(tail_lines(&path, 2).unwrap(), ["line 99998", "line 99999"]);
        assert_eq!(tail_lines(&path, 0).unwrap(), Vec::<String>::new());
        std::fs::write(&path, "a\nb").unwrap();
        assert_eq!(tail_lines(&path, 5).unwrap(), ["a", "b"]);
    }
}
