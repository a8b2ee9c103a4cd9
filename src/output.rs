//! Compute, then render: every command returns a `Serialize` value; this
//! module prints it either as human text or as the one JSON envelope of
//! robot mode, and prints errors the same two ways.

use crate::error::Error;
use anstyle::{AnsiColor, Color, Style};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

/// How to talk to the user, decided once from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub robot: bool,
    /// Colour in what goes to stdout (reports).
    pub color: bool,
    /// Colour in what goes to stderr (errors, warnings, log lines): decided
    /// by stderr's own terminal, so `syncfleet … | less` still gets
    /// coloured errors on the terminal.
    pub stderr_color: bool,
    pub quiet: bool,
    /// stderr is a terminal (progress bars may be drawn).
    pub interactive: bool,
    /// Columns human tables must fit in.
    pub width: usize,
}

/// The terminal's width when stdout is one, else $COLUMNS, else 80.
fn terminal_width() -> usize {
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size_of(std::io::stdout())
        && w > 0
    {
        return w as usize;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 20)
        .unwrap_or(80)
}

/// Whether to colour one stream: `--color always|never` wins; otherwise
/// anstream's reading of that stream (a terminal, TERM, NO_COLOR,
/// CLICOLOR, CLICOLOR_FORCE).
pub fn stream_color<S: anstream::stream::RawStream>(
    choice: crate::cli::ColorChoice,
    stream: &S,
) -> bool {
    use crate::cli::ColorChoice;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => matches!(
            anstream::AutoStream::choice(stream),
            anstream::ColorChoice::Always | anstream::ColorChoice::AlwaysAnsi
        ),
    }
}

/// `text` in `style` when `enabled`, else as it is.
pub fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RED: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Red)));
const GREEN: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Green)));
const YELLOW: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Yellow)));

impl Ui {
    pub fn new(robot: bool, color: crate::cli::ColorChoice, quiet: bool) -> Ui {
        Ui {
            robot,
            color: !robot && stream_color(color, &std::io::stdout()),
            stderr_color: stream_color(color, &std::io::stderr()),
            quiet,
            interactive: !robot && std::io::stderr().is_terminal(),
            width: terminal_width(),
        }
    }

    /// Human mode without colour or terminal, `width` columns wide: what
    /// tests render with.
    pub fn plain(width: usize) -> Ui {
        Ui {
            robot: false,
            color: false,
            stderr_color: false,
            quiet: false,
            interactive: false,
            width,
        }
    }

    /// The same, painting for stderr instead of stdout.
    pub fn for_stderr(&self) -> Ui {
        Ui {
            color: self.stderr_color,
            ..*self
        }
    }

    pub fn bold(&self, text: &str) -> String {
        paint(self.color, BOLD, text)
    }
    pub fn red(&self, text: &str) -> String {
        paint(self.color, RED, text)
    }
    pub fn green(&self, text: &str) -> String {
        paint(self.color, GREEN, text)
    }
    pub fn yellow(&self, text: &str) -> String {
        paint(self.color, YELLOW, text)
    }
    pub fn dim(&self, text: &str) -> String {
        paint(self.color, DIM, text)
    }

    /// A run's outcome in its colour: green, yellow, red (and `-`, red,
    /// for none).
    pub fn outcome(&self, outcome: Option<crate::store::status::Outcome>) -> String {
        use crate::store::status::Outcome;
        let text = outcome.map_or("-", Outcome::as_str);
        match outcome {
            Some(Outcome::Success) => self.green(text),
            Some(Outcome::Degraded) => self.yellow(text),
            Some(Outcome::Failed | Outcome::Crashed) | None => self.red(text),
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

/// Write to stdout. A closed pipe (`syncfleet list | head`) is a clean
/// exit; any other write error (a full disk behind `> file`) is an error.
fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        result => result,
    }
}

/// The exit status after printing a result: the result's own, or an I/O
/// error's (reported on stderr) when stdout could not take it.
fn printed(ui: &Ui, started: Instant, result: std::io::Result<()>, code: u8) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(code),
        Err(e) => {
            let error = Error::new(
                crate::error::ErrorCode::IoError,
                format!("could not write the output to stdout: {e}"),
            )
            .with_suggestion(
                "Check where stdout goes (a full disk, a closed file), then run the command again.",
            );
            // stdout just failed: the report goes to stderr, the human way.
            let ui = Ui {
                robot: false,
                ..*ui
            };
            emit_error(&ui, started, &error)
        }
    }
}

pub fn emit<T: Render>(ui: &Ui, started: Instant, value: &T) -> ExitCode {
    let text = if ui.robot {
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
        text
    } else {
        let mut text = value.human(ui);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text
    };
    printed(ui, started, print_stdout(&text), value.exit_code())
}

/// The envelope of a result up to its `data`, as `Success` serializes.
const ROBOT_HEAD: &[u8] = br#"{"ok":true,"data":"#;

/// stdout for a robot result too large to hold as text: locked,
/// buffered, the envelope's head (as `emit` writes it) put before the
/// first byte of data, the first write error kept for `emit_streamed`.
pub struct RobotStream {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    begun: bool,
    failed: Option<std::io::Error>,
}

impl Write for RobotStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = if self.begun {
            self.out.write(buf)
        } else {
            self.begun = true;
            self.out
                .write_all(ROBOT_HEAD)
                .and_then(|_| self.out.write(buf))
        };
        written.inspect_err(|e| {
            if self.failed.is_none() {
                self.failed = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// `emit` in robot mode for a result written as it is made:
/// `write_data` writes the `data` value (JSON, as serde_json would write
/// the result) to stdout, then the envelope is closed. An error before
/// `write_data` wrote anything comes back to the caller (nothing was
/// printed; it may still fall back or `emit_error` it). One after is too
/// late for the envelope: what was written stays, unterminated, so that
/// no parser takes it for a whole result, and the error goes to stderr
/// with its exit status.
pub fn emit_streamed(
    ui: &Ui,
    started: Instant,
    write_data: impl FnOnce(&mut RobotStream) -> Result<(), Error>,
) -> Result<ExitCode, Error> {
    let mut stream = RobotStream {
        out: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
        begun: false,
        failed: None,
    };
    let result = write_data(&mut stream);
    let written = match (stream.failed.take(), result) {
        (Some(e), _) => Err(e),
        (None, Err(e)) if !stream.begun => return Err(e),
        (None, Err(e)) => {
            let _ = stream.flush();
            let _ = std::io::stderr().write_all(human_error(&ui.for_stderr(), &e).as_bytes());
            return Ok(ExitCode::from(e.exit_code()));
        }
        (None, Ok(())) => {
            let meta = Meta {
                elapsed_ms: started.elapsed().as_millis(),
            };
            let head = if stream.begun { &[][..] } else { ROBOT_HEAD };
            stream
                .out
                .write_all(head)
                .and_then(|_| stream.out.write_all(b",\"meta\":"))
                .and_then(|_| serde_json::to_writer(&mut stream.out, &meta).map_err(Into::into))
                .and_then(|_| stream.out.write_all(b"}\n"))
                .and_then(|_| stream.out.flush())
        }
    };
    Ok(printed(
        ui,
        started,
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            written => written,
        },
        0,
    ))
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
        if let Err(e) = print_stdout(&text) {
            // Nowhere left to say it but stderr.
            let _ = writeln!(std::io::stderr(), "error: could not write to stdout: {e}");
        }
    } else {
        let _ = std::io::stderr().write_all(human_error(&ui.for_stderr(), error).as_bytes());
    }
    ExitCode::from(error.exit_code())
}

/// An error for people: the message, the fix, and the code with its exit
/// status.
pub fn human_error(ui: &Ui, error: &Error) -> String {
    let mut text = format!("{} {}\n", ui.red("error:"), error.message);
    if let Some(s) = &error.suggestion {
        text.push_str(&format!("  {} {s}\n", ui.bold("fix:")));
    }
    text.push_str(&format!(
        "  {}\n",
        ui.dim(&format!("({}, exit {})", error.code, error.exit_code()))
    ));
    text
}

/// One `  Key:        value` line of a human report block.
pub fn field(out: &mut String, key: &str, value: &str) {
    out.push_str(&format!("  {key:<11} {value}\n"));
}

/// A report's warnings, through the one warnings channel (stderr, see
/// `logging`), never mixed into the report on stdout.
pub fn warn_all(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
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

/// `then` relative to `now`, the way people say it: `just now`, `45s ago`,
/// `12m ago`, `3h ago`, `2d ago`, or `in 5m` for the future.
pub fn relative_time(then_ms: i64, now_ms: i64) -> String {
    let delta = (now_ms - then_ms) / 1000;
    let (n, future) = (delta.unsigned_abs(), delta < 0);
    let amount = match n {
        0..=4 => return "just now".into(),
        5..=59 => format!("{n}s"),
        60..=3599 => format!("{}m", n / 60),
        3600..=86_399 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// Local time without the zone, for table cells.
pub fn local_time_short(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
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
/// two spaces apart, laid out by comfy-table.
pub fn table<S: Into<String>>(header: Vec<S>) -> TextTable {
    TextTable {
        rows: vec![header.into_iter().map(Into::into).collect()],
        fit: None,
    }
}

pub struct TextTable {
    rows: Vec<Vec<String>>,
    fit: Option<Fit>,
}

/// How a table gives way to a narrow terminal: drop the `droppable`
/// columns (by header, first named first) until it fits, then shorten the
/// `flex` column, keeping the end of each cell (paths: the end is what
/// tells them apart).
struct Fit {
    width: usize,
    flex: Option<String>,
    droppable: Vec<String>,
}

/// `…` plus the last `width - 1` characters of a cell wider than `width`.
fn keep_tail(cell: &str, width: usize) -> String {
    let count = cell.chars().count();
    if count <= width || width == 0 {
        return cell.to_string();
    }
    let tail: String = cell.chars().skip(count - (width - 1)).collect();
    format!("…{tail}")
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

    /// Fit the table into `width` columns (see `Fit`).
    pub fn fit(&mut self, width: usize, flex: Option<&str>, droppable: &[&str]) -> &mut Self {
        self.fit = Some(Fit {
            width,
            flex: flex.map(str::to_string),
            droppable: droppable.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    fn widths(rows: &[Vec<String>]) -> Vec<usize> {
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(visible_width(cell));
            }
        }
        widths
    }

    /// The rows to print, after dropping and shortening columns to fit.
    fn fitted(&self) -> Vec<Vec<String>> {
        let Some(fit) = &self.fit else {
            return self.rows.clone();
        };
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
        let header = self.rows.first().cloned().unwrap_or_default();
        let mut keep: Vec<bool> = vec![true; header.len()];
        let mut widths = Self::widths(&self.rows);
        let kept = |keep: &[bool], widths: &[usize]| -> Vec<usize> {
            widths
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(w, _)| *w)
                .collect()
        };
        for name in &fit.droppable {
            if total(&kept(&keep, &widths)) <= fit.width {
                break;
            }
            if let Some(i) = header.iter().position(|h| h == name) {
                keep[i] = false;
            }
        }
        let excess = total(&kept(&keep, &widths)).saturating_sub(fit.width);
        let flex = fit
            .flex
            .as_ref()
            .and_then(|f| header.iter().position(|h| h == f))
            .filter(|&i| keep[i]);
        if let (Some(i), true) = (flex, excess > 0) {
            widths[i] = widths[i]
                .saturating_sub(excess)
                .max(header[i].chars().count().max(8));
        }
        self.rows
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(j, _)| keep.get(*j).copied().unwrap_or(true))
                    .map(|(j, cell)| {
                        if Some(j) == flex {
                            keep_tail(cell, widths[j])
                        } else {
                            cell.clone()
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

impl std::fmt::Display for TextTable {
    /// comfy-table lays the fitted rows out; with a width to fit, its
    /// dynamic arrangement wraps whatever the dropped columns and the
    /// shortened flex column did not make fit.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rows = self.fitted().into_iter();
        let Some(header) = rows.next() else {
            return Ok(());
        };
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::NOTHING)
            .set_header(header)
            .add_rows(rows);
        if let Some(fit) = &self.fit {
            t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
                .set_width(u16::try_from(fit.width).unwrap_or(u16::MAX));
        }
        let last = t.column_count().saturating_sub(1);
        for (i, column) in t.column_iter_mut().enumerate() {
            column.set_padding((0, if i < last { 2 } else { 0 }));
        }
        let text = t.to_string();
        let mut lines = text.lines().map(str::trim_end).peekable();
        while let Some(line) = lines.next() {
            let end = if lines.peek().is_some() { "\n" } else { "" };
            write!(f, "{line}{end}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(relative_time(1_000, 2_000), "just now");
        assert_eq!(relative_time(0, 45_000), "45s ago");
        assert_eq!(relative_time(0, 12 * 60_000 + 5), "12m ago");
        assert_eq!(relative_time(0, 3 * 3_600_000), "3h ago");
        assert_eq!(relative_time(0, 2 * 86_400_000), "2d ago");
        assert_eq!(relative_time(300_000, 0), "in 5m");
    }

    #[test]
    fn narrow_tables_drop_columns_then_shorten_the_flex_one() {
        let mut t = table(vec!["ID", "WORKSPACE", "TAGS", "STATE"]);
        t.add_row([
            "abc",
            "/home/someone/src/a/very/long/path/to/workspace-one",
            "team-a team-b",
            "idle",
        ]);
        t.fit(40, Some("WORKSPACE"), &["TAGS"]);
        let text = t.to_string();
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
        assert!(!text.contains("TAGS"));
        assert!(
            text.contains("…") && text.contains("workspace-one"),
            "{text}"
        );
        let mut wide = table(vec!["ID", "WORKSPACE"]);
        wide.add_row(["abc", "/short"]);
        wide.fit(80, Some("WORKSPACE"), &[]);
        assert_eq!(wide.to_string(), "ID   WORKSPACE\nabc  /short");
    }

    #[test]
    fn what_cannot_be_dropped_or_shortened_wraps_to_fit() {
        let mut t = table(vec!["ID", "ERROR"]);
        t.add_row([
            "abc",
            "the server closed the connection while the pull was still reading",
        ]);
        t.fit(40, None, &[]);
        let text = t.to_string();
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
        assert!(text.contains("abc") && text.contains("reading"), "{text}");
    }

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
