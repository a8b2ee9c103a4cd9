//! A fixed fleet at a fixed time, drawn with ratatui's `TestBackend`: the
//! table, the filter and the detail view as snapshots, and the registry
//! reads `top` relies on.

use super::app::App;
use super::data::{self, SPARK_RUNS};
use super::render;
use crate::paths::DataDir;
use crate::registry::Registry;
use crate::store::manifest::sample_manifest;
use crate::store::status::{Outcome, PauseKind, RunRecord, StageResult, StatusFile, Trigger};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// 2026-12-02T10:00:00Z, the frames' "now".
const NOW: i64 = 1_796_205_600_000;
const MIN: i64 = 60_000;

fn run(id: &str, n: usize, at: i64, outcome: Outcome, duration_ms: i64) -> RunRecord {
    let stages = match outcome {
        Outcome::Failed => vec![
            StageResult::succeeded("issues", false, 4),
            StageResult::failed("mrs", false, "STAGE_FAILED", "exit 1: connection reset"),
        ],
        Outcome::Degraded => vec![
            StageResult::succeeded("issues", false, 7),
            StageResult::failed("docs", true, "TIMEOUT", "timed out after 10m"),
        ],
        _ => vec![
            StageResult::succeeded("issues", false, 12),
            StageResult::succeeded("mrs", false, 3),
        ],
    };
    let share = duration_ms as f64 / 1000.0 / stages.len() as f64;
    let stages = stages
        .into_iter()
        .map(|s| StageResult {
            duration_seconds: share,
            ..s
        })
        .collect();
    RunRecord {
        run_id: format!("{id}-{n:03}"),
        service_id: id.into(),
        trigger: if n.is_multiple_of(5) {
            Trigger::Trigger
        } else {
            Trigger::Scheduled
        },
        timestamp_iso: crate::output::iso_ms(at),
        timestamp_ms: at,
        duration_seconds: duration_ms as f64 / 1000.0,
        outcome,
        profile: Some("fast".into()),
        stage_results: stages,
        error_code: None,
        error_message: None,
    }
}

/// Install `id` in `reg` with `runs` (oldest first) and a status shaped by
/// `status`.
fn service(
    reg: &Registry,
    id: &str,
    name: Option<&str>,
    tags: &[&str],
    runs: &[(Outcome, i64)],
    status: impl FnOnce(&mut StatusFile),
) {
    let mut m = sample_manifest(id);
    m.name = name.map(str::to_string);
    m.tags = tags.iter().map(|t| t.to_string()).collect();
    reg.upsert_manifest(&m).unwrap();
    let records: Vec<RunRecord> = runs
        .iter()
        .enumerate()
        .map(|(i, (outcome, duration))| {
            let at = NOW - (runs.len() - i) as i64 * 15 * MIN + 2 * MIN;
            run(id, i, at, *outcome, *duration)
        })
        .collect();
    reg.insert_runs(id, &records).unwrap();
    let mut s = StatusFile::default();
    for r in &records {
        s.record_run(r.clone());
        s.consecutive_failures = match r.outcome {
            Outcome::Failed | Outcome::Crashed => s.consecutive_failures + 1,
            _ => 0,
        };
    }
    status(&mut s);
    reg.update_status(id, &s, None).unwrap();
}

use Outcome::{Degraded as D, Failed as F, Success as S};

fn fleet() -> Registry {
    let reg = Registry::open_in_memory().unwrap();
    service(
        &reg,
        "a1b2c3d4e5f6",
        Some("api"),
        &["team-a"],
        &[
            (S, 4000),
            (S, 5000),
            (F, 900),
            (S, 12_000),
            (S, 6000),
            (D, 8000),
            (S, 3000),
        ],
        |_| {},
    );
    service(
        &reg,
        "b0b0b0b0b0b0",
        Some("web"),
        &["team-b"],
        &[(S, 2000), (S, 2500), (F, 30_000), (F, 31_000), (F, 29_000)],
        |s| {
            s.next_retry_at_ms = Some(NOW + 10 * MIN);
            s.last_error_code = Some("STAGE_FAILED".into());
        },
    );
    service(
        &reg,
        "d0c5d0c5d0c5",
        Some("docs"),
        &["team-a", "nightly"],
        &[(S, 1000), (F, 200)],
        |s| {
            s.paused_reason = Some("AUTH_FAILED: 401 Unauthorized".into());
            s.pause_kind = Some(PauseKind::Permanent);
            s.paused_at_ms = Some(NOW - 13 * MIN);
        },
    );
    service(
        &reg,
        "0123456789ab",
        None,
        &[],
        &[(S, 60_000), (D, 70_000)],
        |_| {},
    );
    service(
        &reg,
        "e71e71e71e71",
        Some("etl"),
        &["team-b"],
        &[(F, 500), (F, 500), (F, 500)],
        |s| {
            s.paused_reason = Some("CIRCUIT_BREAKER: 10 consecutive transient failures".into());
            s.pause_kind = Some(PauseKind::CircuitBreaker);
            s.circuit_breaker_paused_at_ms = Some(NOW - 40 * MIN);
        },
    );
    service(
        &reg,
        "fe11fe11fe11",
        Some("fresh"),
        &["team-c"],
        &[],
        |_| {},
    );
    reg
}

fn app_of(reg: &Registry, interactive: bool) -> App {
    let mut app = App::new(NOW, interactive);
    app.set_rows(data::load_rows(reg, NOW, &|_| false).unwrap(), NOW);
    let ids = app.stale_sparks();
    let runs = reg.recent_runs(&ids, SPARK_RUNS).unwrap();
    app.set_sparks(&ids, runs);
    app
}

fn frame(app: &mut App, width: u16, height: u16) -> String {
    app.set_page(render::table_page(height, app.interactive));
    crate::commands::top::frame_text(app, width, height, false)
}

fn key(app: &mut App, code: KeyCode) -> super::app::Command {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn the_table_puts_paused_and_failing_services_first() {
    let reg = fleet();
    let mut app = app_of(&reg, true);
    let order: Vec<&str> = app.rows.iter().map(|r| r.label()).collect();
    assert_eq!(
        order,
        ["docs", "etl", "web", "0123456789ab", "api", "fresh"]
    );
    insta::assert_snapshot!("table", frame(&mut app, 100, 12));
}

#[test]
fn the_filter_narrows_by_tag_or_name() {
    let reg = fleet();
    let mut app = app_of(&reg, true);
    key(&mut app, KeyCode::Char('/'));
    for c in "team-a".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    insta::assert_snapshot!("filter", frame(&mut app, 100, 12));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected_row().unwrap().label(), "api");
}

#[test]
fn the_detail_shows_runs_stages_and_the_log_tail() {
    let reg = fleet();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let id = "b0b0b0b0b0b0";
    std::fs::create_dir_all(data_dir.logs_dir(id)).unwrap();
    let log: String = (1..=30)
        .map(|i| format!("2026-12-02T09:{i:02}:00Z [mrs] line {i}\n"))
        .collect();
    std::fs::write(data_dir.service_log_path(id), log).unwrap();
    let mut app = app_of(&reg, true);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        super::app::Command::OpenDetail(id.into())
    );
    app.detail = Some(data::load_detail(&reg, &data_dir, id).unwrap());
    let text = frame(&mut app, 100, 30);
    // Paths differ per run: the log block's title is normalised.
    let text = text.replace(
        &data_dir.service_log_path(id).display().to_string(),
        "[LOG]",
    );
    insta::assert_snapshot!("detail", text);
}

#[test]
fn once_gives_every_service_a_row_without_key_help() {
    let reg = fleet();
    let app = app_of(&reg, false);
    let text = crate::commands::top::frame_text(&app, 90, render::once_height(&app), false);
    assert_eq!(text.lines().count(), 2 + 6, "{text}");
    assert!(!text.contains("quit"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");
    // Forced colour: the same text, with the states and outcomes painted.
    let colored = crate::commands::top::frame_text(&app, 90, render::once_height(&app), true);
    assert!(colored.contains("\x1b[31m"), "{colored}");
    let mut stripped = String::new();
    let mut in_escape = false;
    for c in colored.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, c) => stripped.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    assert_eq!(stripped, text);
}

#[test]
fn recent_runs_are_the_last_n_of_each_service_oldest_first_in_one_query() {
    let reg = fleet();
    let ids: Vec<String> = ["a1b2c3d4e5f6", "fe11fe11fe11", "nope"]
        .map(String::from)
        .to_vec();
    let got = reg.recent_runs(&ids, 3).unwrap();
    let api: Vec<(Outcome, i64)> = got["a1b2c3d4e5f6"]
        .iter()
        .map(|r| (r.outcome, r.duration_ms))
        .collect();
    assert_eq!(api, [(S, 6000), (D, 8000), (S, 3000)]);
    assert!(!got.contains_key("fe11fe11fe11"));
    assert!(!got.contains_key("nope"));
    assert!(reg.recent_runs(&[], 3).unwrap().is_empty());
    // Fewer runs than asked for: all of them.
    let all = reg.recent_runs(&ids, 50).unwrap();
    assert_eq!(all["a1b2c3d4e5f6"].len(), 7);
}

#[test]
fn top_rows_carry_the_cached_state_and_the_last_runs_duration() {
    let reg = fleet();
    let rows = reg.top_rows().unwrap();
    assert_eq!(rows.len(), 6);
    let web = rows
        .iter()
        .find(|r| r.service_id == "b0b0b0b0b0b0")
        .unwrap();
    assert_eq!(web.last_duration_ms, Some(29_000));
    assert_eq!(web.status.consecutive_failures, 3);
    assert_eq!(web.tags, ["team-b"]);
    let fresh = rows
        .iter()
        .find(|r| r.service_id == "fe11fe11fe11")
        .unwrap();
    assert_eq!(fresh.last_duration_ms, None);
    // An uninstalled service is not on the dashboard.
    reg.mark_uninstalled("fe11fe11fe11", Some(NOW)).unwrap();
    assert_eq!(reg.top_rows().unwrap().len(), 5);
}
