//! The one channel for diagnostics: every warning, and the `-v` (info) and
//! `-vv` (debug) traces, are `tracing` events written to stderr as
//! `warning: …`, `info: …`, `debug: …`, coloured by stderr's terminal. A
//! progress bar being drawn is hidden while a line is written, so the two
//! never garble each other.

use crate::output::paint;
use anstyle::{AnsiColor, Color, Style};
use std::io::Write;
use std::sync::Mutex;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The progress bar on screen now, if any (see `Progress`).
static DRAWN_BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// The level `-q`, nothing, `-v` and `-vv` select.
pub fn level(quiet: bool, verbose: u8) -> Level {
    match (quiet, verbose) {
        (true, _) => Level::ERROR,
        (false, 0) => Level::WARN,
        (false, 1) => Level::INFO,
        (false, _) => Level::DEBUG,
    }
}

/// Install the stderr subscriber (once per process; later calls are no-ops).
pub fn init(level: Level, color: bool) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(StderrAroundBar)
        .with_ansi(color)
        .event_format(Lines { color })
        .try_init();
}

/// One line per event: `label: message key=value…`.
struct Lines {
    color: bool,
}

fn label(level: Level) -> (&'static str, Style) {
    let colored = |c: AnsiColor| Style::new().fg_color(Some(Color::Ansi(c)));
    match level {
        Level::ERROR => ("error:", colored(AnsiColor::Red)),
        Level::WARN => ("warning:", colored(AnsiColor::Yellow)),
        Level::INFO => ("info:", colored(AnsiColor::Cyan)),
        Level::DEBUG => ("debug:", Style::new().dimmed()),
        Level::TRACE => ("trace:", Style::new().dimmed()),
    }
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let (text, style) = label(*event.metadata().level());
        write!(writer, "{} ", paint(self.color, style, text))?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// stderr, with the drawn progress bar suspended around each write.
struct StderrAroundBar;

impl<'a> MakeWriter<'a> for StderrAroundBar {
    type Writer = StderrAroundBar;
    fn make_writer(&'a self) -> Self::Writer {
        StderrAroundBar
    }
}

impl Write for StderrAroundBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = DRAWN_BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A progress bar that log lines make way for while it lives.
pub struct Progress {
    bar: indicatif::ProgressBar,
    /// This bar is the one in `DRAWN_BAR` (a hidden one never is).
    drawn: bool,
}

impl Progress {
    pub fn new(bar: indicatif::ProgressBar) -> Progress {
        let drawn = !bar.is_hidden()
            && DRAWN_BAR
                .lock()
                .map(|mut drawn| *drawn = Some(bar.clone()))
                .is_ok();
        Progress { bar, drawn }
    }
}

impl std::ops::Deref for Progress {
    type Target = indicatif::ProgressBar;
    fn deref(&self) -> &indicatif::ProgressBar {
        &self.bar
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.drawn
            && let Ok(mut drawn) = DRAWN_BAR.lock()
        {
            *drawn = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_selects_the_level() {
        assert_eq!(level(true, 2), Level::ERROR);
        assert_eq!(level(false, 0), Level::WARN);
        assert_eq!(level(false, 1), Level::INFO);
        assert_eq!(level(false, 2), Level::DEBUG);
    }

    #[test]
    fn a_drawn_bar_is_known_while_it_lives_and_forgotten_after() {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(3),
            indicatif::ProgressDrawTarget::hidden(),
        );
        // A hidden bar is never registered: nothing to suspend.
        drop(Progress::new(bar));
        assert!(DRAWN_BAR.lock().unwrap().is_none());
        let visible = indicatif::ProgressBar::with_draw_target(
            Some(3),
            indicatif::ProgressDrawTarget::term_like(Box::new(NullTerm)),
        );
        let progress = Progress::new(visible);
        assert!(progress.drawn && DRAWN_BAR.lock().unwrap().is_some());
        drop(progress);
        assert!(DRAWN_BAR.lock().unwrap().is_none());
    }

    /// A terminal that swallows everything, so a bar counts as visible.
    #[derive(Debug)]
    struct NullTerm;
    impl indicatif::TermLike for NullTerm {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, _: &str) -> std::io::Result<()> {
            Ok(())
        }
        fn write_str(&self, _: &str) -> std::io::Result<()> {
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
