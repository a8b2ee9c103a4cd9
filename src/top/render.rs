//! The dashboard drawn into a ratatui buffer, and a buffer as text. Every
//! time shown is relative to `App::now_ms` (the context's clock), so a
//! frame is a pure function of the state: snapshots fix the clock with
//! `SYNCFLEET_NOW` like every other command's tests.

use super::app::{App, Mode, Spark, View};
use super::data::{Detail, ServiceRow};
use crate::duration::format_elapsed;
use crate::output::{iso_ms, relative_time};
use crate::policy::SchedulerState;
use crate::store::status::Outcome;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};

/// Lines around the table: the title above, the filter and the key help
/// (or the last action's result) below.
const TITLE_LINES: u16 = 1;
const FOOTER_LINES: u16 = 2;

/// How many service rows fit in a terminal `height` lines tall.
pub fn table_page(height: u16, interactive: bool) -> usize {
    let chrome = TITLE_LINES + 1 + if interactive { FOOTER_LINES } else { 0 };
    usize::from(height.saturating_sub(chrome)).max(1)
}

/// The height of a `top --once` frame: every service gets a row.
pub fn once_height(app: &App) -> u16 {
    let rows = app.visible().len().max(1);
    (rows + usize::from(TITLE_LINES) + 1).min(usize::from(u16::MAX)) as u16
}

pub fn state_style(state: SchedulerState) -> Style {
    let s = Style::new();
    match state {
        SchedulerState::Paused => s.fg(Color::Red).add_modifier(Modifier::BOLD),
        SchedulerState::HalfOpen => s.fg(Color::Magenta),
        SchedulerState::Backoff | SchedulerState::RunningStale => s.fg(Color::Red),
        SchedulerState::Degraded => s.fg(Color::Yellow),
        SchedulerState::Running => s.fg(Color::Cyan),
        SchedulerState::Idle => s.fg(Color::Green),
        SchedulerState::NotInstalled => s.fg(Color::DarkGray),
    }
}

fn outcome_style(outcome: Option<Outcome>) -> Style {
    match outcome {
        Some(Outcome::Success) => Style::new().fg(Color::Green),
        Some(Outcome::Degraded) => Style::new().fg(Color::Yellow),
        Some(Outcome::Failed | Outcome::Crashed) => Style::new().fg(Color::Red),
        None => Style::new().fg(Color::DarkGray),
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Recent runs, oldest left: a bar as high as the run was long (against
/// the longest of them) in the outcome's colour; a failed or crashed run
/// is a red `×`, readable without colour too. Right-aligned in `width`.
pub fn sparkline(spark: Option<&Spark>, width: usize) -> Line<'static> {
    let runs = spark.map_or(&[][..], |s| &s.runs[..]);
    let runs = &runs[runs.len().saturating_sub(width)..];
    let longest = runs.iter().map(|r| r.duration_ms).max().unwrap_or(0).max(1);
    let mut spans = vec![Span::raw(" ".repeat(width - runs.len()))];
    for r in runs {
        let glyph = match r.outcome {
            Outcome::Failed | Outcome::Crashed => '×',
            _ => {
                let level = (r.duration_ms.max(0) * 7 + longest / 2) / longest;
                BARS[level.clamp(0, 7) as usize]
            }
        };
        spans.push(Span::styled(
            glyph.to_string(),
            outcome_style(Some(r.outcome)),
        ));
    }
    Line::from(spans)
}

fn when(ms: Option<i64>, now_ms: i64) -> String {
    ms.map_or_else(|| "-".into(), |ms| relative_time(ms, now_ms))
}

/// The next run: `in 5m`, or `due` once its time has passed.
fn next_run(row: &ServiceRow, now_ms: i64) -> String {
    match (row.state, row.next_run_ms) {
        (SchedulerState::Paused, _) => "paused".into(),
        (SchedulerState::Running, _) => "running".into(),
        (_, Some(ms)) if ms <= now_ms => "due".into(),
        (_, ms) => when(ms, now_ms),
    }
}

/// State counts for the title, in sort order: `2 paused, 9 idle`.
fn counts(rows: &[ServiceRow]) -> String {
    let mut by_state: Vec<(SchedulerState, usize)> = Vec::new();
    for r in rows {
        match by_state.iter_mut().find(|(s, _)| *s == r.state) {
            Some((_, n)) => *n += 1,
            None => by_state.push((r.state, 1)),
        }
    }
    by_state.sort_by_key(|(s, _)| super::data::state_rank(*s));
    by_state
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn title(app: &App) -> Line<'static> {
    let visible = app.visible().len();
    let mut text = format!("syncfleet · {} services", app.rows.len());
    if visible != app.rows.len() {
        text.push_str(&format!(" ({visible} shown)"));
    }
    if !app.rows.is_empty() {
        text.push_str(&format!(": {}", counts(&app.rows)));
    }
    Line::styled(text, Style::new().add_modifier(Modifier::BOLD))
}

/// The frame's time, UTC to the second, at the title's right.
fn clock(now_ms: i64) -> Line<'static> {
    let text = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.format("%H:%M:%S UTC").to_string())
        .unwrap_or_default();
    Line::raw(text).right_aligned()
}

pub fn draw(frame: &mut Frame, app: &App) {
    let footer = if app.interactive { FOOTER_LINES } else { 0 };
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(TITLE_LINES),
        Constraint::Min(1),
        Constraint::Length(footer),
    ])
    .areas(frame.area());
    let [top, time] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(13)]).areas(top);
    frame.render_widget(Paragraph::new(clock(app.now_ms)), time);
    match &app.view {
        View::Table => {
            frame.render_widget(Paragraph::new(title(app)), top);
            draw_table(frame, app, body);
        }
        View::Detail(id) => {
            let row = app.rows.iter().find(|r| &r.service_id == id);
            frame.render_widget(Paragraph::new(detail_title(id, row)), top);
            draw_detail(frame, app, body);
        }
    }
    if app.interactive {
        draw_footer(frame, app, bottom);
    }
}

fn draw_table(frame: &mut Frame, app: &App, area: Rect) {
    let visible = app.visible();
    if visible.is_empty() {
        let text = if app.rows.is_empty() {
            "No services installed. Install one with: syncfleet install".to_string()
        } else {
            format!("No service matches \"{}\".", app.filter)
        };
        frame.render_widget(Paragraph::new(text), area);
        return;
    }
    let page = if app.interactive {
        app.page
    } else {
        visible.len()
    };
    let shown = &visible[app.offset.min(visible.len())..];
    let shown = &shown[..page.min(shown.len())];
    let label_width = shown
        .iter()
        .map(|r| r.label().chars().count())
        .max()
        .unwrap_or(0)
        .clamp(7, 32) as u16;
    let spark_width = super::data::SPARK_RUNS;
    let rows = shown.iter().map(|r| {
        let spark = app.sparks.get(&r.service_id);
        Row::new(vec![
            Line::styled(r.state.as_str(), state_style(r.state)),
            Line::raw(r.label().to_string()),
            Line::styled(
                r.last_outcome.map_or("-", Outcome::as_str),
                outcome_style(r.last_outcome),
            ),
            Line::raw(when(r.last_run_ms, app.now_ms)),
            Line::raw(next_run(r, app.now_ms)),
            sparkline(spark, spark_width),
            Line::styled(
                r.consecutive_failures.to_string(),
                if r.consecutive_failures > 0 {
                    Style::new().fg(Color::Red)
                } else {
                    Style::new()
                },
            )
            .right_aligned(),
            Line::raw(r.tags.join(" ")),
        ])
    });
    let header = Row::new([
        "STATE", "SERVICE", "OUTCOME", "LAST RUN", "NEXT RUN", "RECENT", "FAILS", "TAGS",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(13),
        Constraint::Length(label_width),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(spark_width as u16),
        Constraint::Length(5),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▶ ");
    let mut state = TableState::default();
    if app.interactive {
        state.select(Some(app.selected.saturating_sub(app.offset)));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

fn detail_title(id: &str, row: Option<&ServiceRow>) -> Line<'static> {
    let Some(row) = row else {
        return Line::from(format!("{id}: no longer installed"));
    };
    let mut spans = vec![
        Span::styled(
            match &row.name {
                Some(name) => format!("{name} ({id})"),
                None => id.to_string(),
            },
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw("  "),
        Span::styled(row.state.as_str(), state_style(row.state)),
    ];
    if row.consecutive_failures > 0 {
        spans.push(Span::styled(
            format!("  {} consecutive failures", row.consecutive_failures),
            Style::new().fg(Color::Red),
        ));
    }
    if let Some(reason) = &row.paused_reason {
        spans.push(Span::raw(format!("  paused: {reason}")));
    }
    if !row.tags.is_empty() {
        spans.push(Span::raw(format!("  tags: {}", row.tags.join(" "))));
    }
    Line::from(spans)
}

fn boxed(title: String) -> Block<'static> {
    Block::new().borders(Borders::TOP).title(title)
}

fn draw_detail(frame: &mut Frame, app: &App, area: Rect) {
    let Some(detail) = &app.detail else {
        frame.render_widget(Paragraph::new("loading…"), area);
        return;
    };
    let runs_height = detail.runs.len().max(1) as u16 + 2;
    let stages_height = detail.stages.len().max(1) as u16 + 2;
    let [runs, stages, log] = Layout::vertical([
        Constraint::Length(runs_height),
        Constraint::Length(stages_height),
        Constraint::Min(3),
    ])
    .areas(area);
    draw_runs(frame, detail, app.now_ms, runs);
    draw_stages(frame, detail, stages);
    draw_log(frame, detail, log);
}

fn draw_runs(frame: &mut Frame, detail: &Detail, now_ms: i64, area: Rect) {
    let block = boxed(format!("Recent runs ({})", detail.runs.len()));
    if detail.runs.is_empty() {
        frame.render_widget(Paragraph::new("no runs yet").block(block), area);
        return;
    }
    let rows = detail.runs.iter().map(|r| {
        let outcome = parse_outcome(&r.outcome);
        Row::new(vec![
            Line::raw(relative_time(r.started_at_ms, now_ms)),
            Line::raw(iso_ms(r.started_at_ms)),
            Line::raw(r.trigger.clone()),
            Line::styled(r.outcome.clone(), outcome_style(outcome)),
            Line::raw(format_elapsed(r.duration_ms as f64 / 1000.0)).right_aligned(),
            Line::raw(
                [r.error_code.as_deref(), r.error_message.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": "),
            ),
        ])
    });
    let header = Row::new(["WHEN", "STARTED", "TRIGGER", "OUTCOME", "DURATION", "ERROR"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(8),
        Constraint::Length(24),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn parse_outcome(s: &str) -> Option<Outcome> {
    [
        Outcome::Success,
        Outcome::Degraded,
        Outcome::Failed,
        Outcome::Crashed,
    ]
    .into_iter()
    .find(|o| o.as_str() == s)
}

fn draw_stages(frame: &mut Frame, detail: &Detail, area: Rect) {
    let block = boxed("Stages of the last run".into());
    if detail.stages.is_empty() {
        frame.render_widget(Paragraph::new("no stage results").block(block), area);
        return;
    }
    let rows = detail.stages.iter().map(|s| {
        let (text, style) = match (s.success, s.optional) {
            (true, _) => ("ok", outcome_style(Some(Outcome::Success))),
            (false, true) => ("failed (optional)", outcome_style(Some(Outcome::Degraded))),
            (false, false) => ("failed", outcome_style(Some(Outcome::Failed))),
        };
        Row::new(vec![
            Line::raw(s.stage.clone()),
            Line::styled(text, style),
            Line::raw(s.items_updated.to_string()).right_aligned(),
            Line::raw(format_elapsed(s.duration_seconds)).right_aligned(),
            Line::raw(
                [s.error_code.as_deref(), s.error.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": "),
            ),
        ])
    });
    let header = Row::new(["STAGE", "RESULT", "ITEMS", "DURATION", "ERROR"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(16),
        Constraint::Length(17),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn draw_log(frame: &mut Frame, detail: &Detail, area: Rect) {
    let block = boxed(format!("Log {}", detail.log_path));
    let room = usize::from(area.height.saturating_sub(1));
    let lines: Vec<Line> = match &detail.log_error {
        Some(e) => vec![Line::styled(e.clone(), Style::new().fg(Color::DarkGray))],
        None => detail.log_tail[detail.log_tail.len().saturating_sub(room)..]
            .iter()
            .map(|l| Line::raw(l.clone()))
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let [first, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let key = Style::new().add_modifier(Modifier::BOLD);
    let prompt = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("/", key),
            Span::raw(app.filter.clone()),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::raw("  (name, id or tag; Enter keeps it, Esc clears it)"),
        ]),
        Mode::Confirm(act, _, label) => Line::from(vec![Span::styled(
            format!("{} {label}? y/n", capitalized(act.verb())),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )]),
        Mode::Normal => match &app.status {
            Some(s) => Line::raw(s.clone()),
            None if !app.filter.is_empty() => Line::raw(format!("filter: {}", app.filter)),
            None => Line::raw(""),
        },
    };
    frame.render_widget(Paragraph::new(prompt), first);
    let help: &[(&str, &str)] = match app.view {
        View::Table => &[
            ("q", "quit"),
            ("↑↓/jk", "move"),
            ("/", "filter"),
            ("Enter", "detail"),
            ("t", "trigger"),
            ("p", "pause"),
            ("r", "resume"),
        ],
        View::Detail(_) => &[
            ("Esc", "back"),
            ("q", "quit"),
            ("t", "trigger"),
            ("p", "pause"),
            ("r", "resume"),
        ],
    };
    let mut spans = Vec::new();
    for (k, what) in help {
        spans.push(Span::styled(*k, key));
        spans.push(Span::styled(
            format!(" {what}  "),
            Style::new().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), second);
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The buffer as text, one line per row: trailing blanks dropped, and
/// with `color` the cells' styles as ANSI escapes (only where a style
/// starts or ends, so the text stays greppable).
pub fn buffer_text(buffer: &Buffer, color: bool) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        let mut current = anstyle::Style::new();
        let mut hidden = 0;
        // Trailing blanks are dropped, styled or not (a bold header row
        // would otherwise carry its style to the frame's edge).
        let end = (area.left()..area.right())
            .rev()
            .find(|&x| buffer[(x, y)].symbol() != " ")
            .map_or(area.left(), |x| x + 1);
        for x in area.left()..end {
            let cell = &buffer[(x, y)];
            if hidden > 0 {
                hidden -= 1;
                continue;
            }
            hidden = unicode_width::UnicodeWidthStr::width(cell.symbol()).saturating_sub(1);
            if color {
                let style = ansi_style(cell.fg, cell.modifier);
                if style != current {
                    line.push_str(&format!("{current:#}{style}"));
                    current = style;
                }
            }
            line.push_str(cell.symbol());
        }
        if color {
            line.push_str(&format!("{current:#}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    // The frame's height is the terminal's: blank lines below are not
    // part of what it says.
    let kept = out.trim_end_matches('\n').len();
    out.truncate(kept);
    out.push('\n');
    out
}

fn ansi_style(fg: Color, modifier: Modifier) -> anstyle::Style {
    use anstyle::AnsiColor as A;
    let fg = match fg {
        Color::Red => Some(A::Red),
        Color::Green => Some(A::Green),
        Color::Yellow => Some(A::Yellow),
        Color::Blue => Some(A::Blue),
        Color::Magenta => Some(A::Magenta),
        Color::Cyan => Some(A::Cyan),
        Color::DarkGray => Some(A::BrightBlack),
        _ => None,
    };
    let mut style = anstyle::Style::new().fg_color(fg.map(anstyle::Color::Ansi));
    if modifier.contains(Modifier::BOLD) {
        style = style.bold();
    }
    style
}
