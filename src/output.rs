//! Compute, then render: every command returns a `Serialize` value; this
//! module prints it either as human text or as the one JSON envelope of
//! robot mode, and prints errors the same two ways.

use crate::error::Error;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

/// How to talk to the user, decided once from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub robot: bool,
    pub color: bool,
    pub quiet: bool,
    /// stderr is a terminal (progress bars may be drawn).
    pub interactive: bool,
}

impl Ui {
    /// `--color always|never` wins; otherwise NO_COLOR (low priority), then
    /// whether stdout is a terminal.
    pub fn new(robot: bool, color: crate::cli::ColorChoice, quiet: bool) -> Ui {
        use crate::cli::ColorChoice;
        let color = !robot
            && match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                        && std::io::stdout().is_terminal()
                }
            };
        Ui {
            robot,
            color,
            quiet,
            interactive: !robot && std::io::stderr().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// A warning on stderr (human mode only, not with -q).
    pub fn warn(&self, text: &str) {
        if !self.robot && !self.quiet {
            eprintln!("{} {text}", self.yellow("warning:"));
        }
    }
}

/// A command result that knows its human form.
pub trait Render: Serialize {
    fn human(&self, ui: &Ui) -> String;
    /// Non-zero for results that are reports of failure (doctor, sync).
    fn exit_code(&self) -> u8 {
        0
    }
    /// One line for this result inside a batch of many (None: the full
    /// human form).
    fn batch_line(&self, _ui: &Ui) -> Option<String> {
        None
    }
}

#[derive(Serialize)]
struct Meta {
    elapsed_ms: u128,
}

#[derive(Serialize)]
struct Success<'a, T: Serialize> {
    ok: bool,
    data: &'a T,
    meta: Meta,
}

#[derive(Serialize)]
struct Failure<'a> {
    ok: bool,
    error: &'a Error,
    meta: Meta,
}

/// Write to stdout; a closed pipe (`syncfleet list | head`) is a clean exit.
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

pub fn emit<T: Render>(ui: &Ui, started: Instant, value: &T) -> ExitCode {
    if ui.robot {
        let doc = Success {
            ok: true,
            data: value,
            meta: Meta {
                elapsed_ms: started.elapsed().as_millis(),
            },
        };
        let mut text = serde_json::to_string(&doc).unwrap_or_else(|e| {
            format!(
                "{{\"ok\":false,\"error\":{{\"code\":\"INTERNAL_ERROR\",\"message\":\"{e}\"}}}}"
            )
        });
        text.push('\n');
        print_stdout(&text);
    } else {
        let mut text = value.human(ui);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        print_stdout(&text);
    }
    ExitCode::from(value.exit_code())
}

pub fn emit_error(ui: &Ui, started: Instant, error: &Error) -> ExitCode {
    if ui.robot {
        let doc = Failure {
            ok: false,
            error,
            meta: Meta {
                elapsed_ms: started.elapsed().as_millis(),
            },
        };
        let mut text = serde_json::to_string(&doc).unwrap_or_default();
        text.push('\n');
        print_stdout(&text);
    } else {
        let mut text = format!("{} {}\n", ui.red("error:"), error.message);
        if let Some(s) = &error.suggestion {
            text.push_str(&format!("  {} {s}\n", ui.bold("fix:")));
        }
        text.push_str(&format!(
            "  {}\n",
            ui.dim(&format!("({}, exit {})", error.code, error.exit_code()))
        ));
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
    ExitCode::from(error.exit_code())
}

/// `/home/u/x` → `~/x` for human output.
pub fn tilde(path: &std::path::Path, home: &std::path::Path) -> String {
    match path.strip_prefix(home) {
        Ok(rest) if home != std::path::Path::new("/") => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

/// Milliseconds since the epoch → RFC 3339 UTC with milliseconds.
pub fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Milliseconds since the epoch → local time for people.
pub fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
}

/// One CSV record (RFC 4180: fields with a comma, quote or newline are
/// quoted, quotes doubled), newline-terminated.
pub fn csv_row<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = fields
        .iter()
        .map(|f| {
            let f = f.as_ref();
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    out
}

/// Pretty JSON of a value, newline-terminated (`--format json`).
pub fn json_text<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// A borderless table with a header row, for the fleet commands: columns
/// padded to their widest cell, two spaces apart. (comfy-table's layout
/// engine costs ~20 µs a row, too slow for a 10,000-service list.)
pub fn table<S: Into<String>>(header: Vec<S>) -> TextTable {
    TextTable {
        rows: vec![header.into_iter().map(Into::into).collect()],
    }
}

pub struct TextTable {
    rows: Vec<Vec<String>>,
}

/// Display width of a cell: characters, not counting colour escapes.
fn visible_width(cell: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in cell.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

impl TextTable {
    pub fn add_row<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) -> &mut Self {
        self.rows.push(row.into_iter().map(Into::into).collect());
        self
    }
}

impl std::fmt::Display for TextTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(visible_width(cell));
            }
        }
        let mut line = String::new();
        for (i, row) in self.rows.iter().enumerate() {
            line.clear();
            for (j, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if j + 1 < row.len() {
                    let pad = widths[j] - visible_width(cell) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            let end = if i + 1 < self.rows.len() { "\n" } else { "" };
            write!(f, "{}{end}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn columns_align_ignoring_colour_escapes() {
        let mut t = table(vec!["ID", "STATE"]);
        t.add_row(["abc", "\x1b[32mok\x1b[0m"]);
        t.add_row(["a", "failed"]);
        assert_eq!(
            t.to_string(),
            "ID   STATE\nabc  \x1b[32mok\x1b[0m\na    failed"
        );
    }
}
