//! `syncfleet top`: the fleet, live, in the terminal (see `src/top/`).
//!
//! ratatui draws (its `TestBackend` makes each frame a testable buffer)
//! and crossterm, re-exported by ratatui, drives the terminal. The loop
//! refreshes from the registry every second; pause and resume run
//! in-process through their commands; a trigger runs our own binary in a
//! thread (see [`spawn_trigger`]), so the dashboard stays live during it.

use crate::batch::OneOrMany;
use crate::cli::{PauseArgs, ResumeArgs, TopArgs};
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::output::{Render, Ui, iso_ms};
use crate::process::{self, Head, pid_alive};
use crate::top::app::{Act, App, Command, View};
use crate::top::data::{self, Snapshot, SnapshotRow};
use crate::top::render;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const REFRESH: Duration = Duration::from_secs(1);
/// A triggered run ends by its stages' own timeouts; this only bounds a
/// run that never would.
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// What `top` returns: one frame (`--once`, `--robot`), or nothing after
/// an interactive session.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum TopReport {
    Frame {
        #[serde(flatten)]
        snapshot: Snapshot,
        #[serde(skip)]
        text: String,
    },
    Closed {},
}

impl Render for TopReport {
    fn human(&self, _ui: &Ui) -> String {
        match self {
            TopReport::Frame { text, .. } => text.clone(),
            TopReport::Closed {} => String::new(),
        }
    }
}

pub fn run(ctx: &Context, args: &TopArgs) -> Result<TopReport> {
    if args.once || ctx.ui.robot {
        return once(ctx, args);
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(
            Error::invalid_argument("syncfleet top needs a terminal (stdin and stdout)")
                .with_suggestion("For one frame as text, run: syncfleet top --once"),
        );
    }
    interactive(ctx)?;
    Ok(TopReport::Closed {})
}

/// The fleet's rows now, and the sparklines of `app`'s rows on screen.
fn refresh(ctx: &Context, app: &mut App) -> Result<()> {
    let reg = crate::index::open_for_reading(ctx)?;
    let now = ctx.now_ms();
    app.set_rows(data::load_rows(reg, now, &pid_alive)?, now);
    refresh_sparks(ctx, app)?;
    if let View::Detail(id) = &app.view {
        app.detail = Some(data::load_detail(reg, &ctx.data_dir, id)?);
    }
    Ok(())
}

fn refresh_sparks(ctx: &Context, app: &mut App) -> Result<()> {
    let stale = app.stale_sparks();
    if !stale.is_empty() {
        let runs = ctx.registry()?.recent_runs(&stale, data::SPARK_RUNS)?;
        app.set_sparks(&stale, runs);
    }
    Ok(())
}

fn once(ctx: &Context, args: &TopArgs) -> Result<TopReport> {
    let mut app = App::new(ctx.now_ms(), false);
    refresh(ctx, &mut app)?;
    let width = args
        .width
        .unwrap_or_else(|| ctx.ui.width.clamp(40, usize::from(u16::MAX)) as u16);
    // A frame for scripts: escapes only when asked for, even on a terminal.
    let color = ctx.global.color == crate::cli::ColorChoice::Always;
    let text = frame_text(&app, width, render::once_height(&app), color);
    let snapshot = Snapshot {
        now_iso: iso_ms(app.now_ms),
        services: app
            .rows
            .iter()
            .map(|r| {
                let recent = app.sparks.get(&r.service_id).map_or(&[][..], |s| &s.runs);
                SnapshotRow::new(r.clone(), recent)
            })
            .collect(),
    };
    Ok(TopReport::Frame { snapshot, text })
}

/// One frame of `app`, `width` × `height`, as text.
pub fn frame_text(app: &App, width: u16, height: u16, color: bool) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height))
        .expect("a test backend cannot fail to start");
    terminal
        .draw(|f| render::draw(f, app))
        .expect("a test backend cannot fail to draw");
    render::buffer_text(terminal.backend().buffer(), color)
}

/// Leaves the alternate screen and raw mode when dropped: on a normal
/// exit and on an error; ratatui's panic hook covers a panic.
struct RestoreTerminal;

impl Drop for RestoreTerminal {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn terminal_error(e: std::io::Error) -> Error {
    Error::new(ErrorCode::IoError, format!("terminal: {e}"))
        .with_suggestion("Run syncfleet top in a terminal, or use syncfleet top --once.")
}

fn interactive(ctx: &Context) -> Result<()> {
    let mut app = App::new(ctx.now_ms(), true);
    let mut terminal = ratatui::try_init().map_err(terminal_error)?;
    let _restore = RestoreTerminal;
    let (results, finished) = mpsc::channel::<String>();
    let mut last_refresh: Option<Instant> = None;
    loop {
        let size = terminal.size().map_err(terminal_error)?;
        app.set_page(render::table_page(size.height, true));
        if last_refresh.is_none_or(|t| t.elapsed() >= REFRESH) {
            if let Err(e) = refresh(ctx, &mut app) {
                app.status = Some(format!("refresh failed: {}", e.message));
            }
            last_refresh = Some(Instant::now());
        } else if let Err(e) = refresh_sparks(ctx, &mut app) {
            app.status = Some(format!("refresh failed: {}", e.message));
        }
        while let Ok(message) = finished.try_recv() {
            app.status = Some(message);
            // The run changed the fleet: show it now.
            last_refresh = None;
        }
        terminal
            .draw(|f| render::draw(f, &app))
            .map_err(terminal_error)?;
        let wait = last_refresh.map_or(Duration::ZERO, |t| REFRESH.saturating_sub(t.elapsed()));
        if !event::poll(wait).map_err(terminal_error)? {
            continue;
        }
        let Event::Key(key) = event::read().map_err(terminal_error)? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match app.handle_key(key) {
            Command::Nothing => {}
            Command::Quit => return Ok(()),
            Command::OpenDetail(_) => last_refresh = None,
            Command::Run(Act::Trigger, id) => {
                spawn_trigger(ctx, id, results.clone());
            }
            Command::Run(act, id) => {
                app.status = Some(admin(ctx, act, &id));
                last_refresh = None;
                // A warning the command logged went to stderr, the same
                // terminal: draw every cell again.
                terminal.clear().map_err(terminal_error)?;
            }
        }
    }
}

/// Pause or resume through the commands themselves (the admin lock, the
/// policy's transition check, the registry update), and their one-line
/// result.
fn admin(ctx: &Context, act: Act, id: &str) -> String {
    let select = crate::cli::FleetSelector {
        services: vec![id.to_string()],
        ..Default::default()
    };
    let plain = Ui::plain(200);
    // One service is never a batch; its report's batch line is the
    // one-line result.
    fn line_of<T: Render>(result: Result<OneOrMany<T>>, ui: &Ui) -> Result<Option<String>> {
        result.map(|r| match r {
            OneOrMany::One(r) => r.batch_line(ui),
            OneOrMany::Many(b) => Some(b.human(ui).trim().to_string()),
        })
    }
    let line = match act {
        Act::Pause => line_of(
            crate::commands::pause::run(
                ctx,
                &PauseArgs {
                    reason: None,
                    select,
                },
            ),
            &plain,
        ),
        Act::Resume => line_of(
            crate::commands::resume::run(ctx, &ResumeArgs { select }),
            &plain,
        ),
        Act::Trigger => unreachable!("a trigger runs in its own process"),
    };
    match line {
        Ok(line) => line.unwrap_or_else(|| format!("{} {id}: done", act.verb())),
        Err(e) => format!("{} {id} failed: {} ({})", act.verb(), e.message, e.code),
    }
}

/// Trigger `id` by running `syncfleet --robot trigger` (this very binary)
/// through `process::spawn`, in a thread: a run takes as long as its
/// stages, and calling `runner::execute` here would freeze the dashboard
/// meanwhile and let the run's log lines land on the dashboard's screen.
/// The child gets its own process group without a guardian, so quitting
/// `top` does not kill a run the user asked for.
fn spawn_trigger(ctx: &Context, id: String, done: mpsc::Sender<String>) {
    let data_dir = ctx.data_dir.root().to_path_buf();
    std::thread::spawn(move || {
        let message = match std::env::current_exe() {
            Ok(exe) => {
                let mut command = std::process::Command::new(exe);
                command
                    .arg("--robot")
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .args(["trigger", "--service", &id]);
                let options = process::Options::new(TRIGGER_TIMEOUT);
                match process::spawn(
                    &mut command,
                    &options,
                    Head::new(1 << 20),
                    Head::new(1 << 16),
                ) {
                    Ok(finished) => trigger_summary(&id, &finished.stdout.0),
                    Err(e) => format!("trigger {id} failed to start: {e}"),
                }
            }
            Err(e) => format!("trigger {id} failed to start: cannot find syncfleet's binary: {e}"),
        };
        let _ = done.send(message);
    });
}

/// One line from trigger's robot envelope.
pub fn trigger_summary(id: &str, stdout: &[u8]) -> String {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(stdout) else {
        return format!("trigger {id}: no result (see syncfleet logs --service {id})");
    };
    if doc["ok"] != true {
        let e = &doc["error"];
        return format!(
            "trigger {id} failed: {} {}",
            e["code"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or("")
        );
    }
    let d = &doc["data"];
    match (d["outcome"].as_str(), d["action"].as_str()) {
        (Some(outcome), _) => format!(
            "trigger {id}: {outcome} in {}",
            crate::duration::format_elapsed(d["duration_seconds"].as_f64().unwrap_or(0.0))
        ),
        (None, action) => format!(
            "trigger {id}: {} ({})",
            action.unwrap_or("not run"),
            d["reason"]
                .as_str()
                .or(d["message"].as_str())
                .unwrap_or("no reason given")
        ),
    }
}
