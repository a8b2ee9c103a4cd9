//! The dashboard's state and what each key does to it. Pure: no terminal,
//! no registry; the event loop (`commands/top.rs`) carries out the
//! [`Command`] a key returns.

use super::data::{Detail, ServiceRow};
use crate::registry::RecentRun;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashMap;

/// An action on one service, run only after a `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Trigger,
    Pause,
    Resume,
}

impl Act {
    pub fn verb(self) -> &'static str {
        match self {
            Act::Trigger => "trigger",
            Act::Pause => "pause",
            Act::Resume => "resume",
        }
    }
}

/// What the keyboard is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing the filter after `/`.
    Filter,
    /// Waiting for y/n on an action; the service's id and label.
    Confirm(Act, String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Table,
    /// One service's detail, by id.
    Detail(String),
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Nothing,
    Quit,
    /// Load the detail of this service now (not at the next tick).
    OpenDetail(String),
    Run(Act, String),
}

/// The sparkline runs of a service, and the last run they were read after.
#[derive(Debug, Clone, PartialEq)]
pub struct Spark {
    pub last_run_id: Option<String>,
    pub runs: Vec<RecentRun>,
}

#[derive(Debug, Clone)]
pub struct App {
    /// The whole fleet, sorted as shown.
    pub rows: Vec<ServiceRow>,
    pub sparks: HashMap<String, Spark>,
    pub filter: String,
    pub mode: Mode,
    pub view: View,
    pub detail: Option<Detail>,
    /// Position in the filtered rows.
    pub selected: usize,
    /// First filtered row on screen.
    pub offset: usize,
    /// Rows the table has room for.
    pub page: usize,
    /// The outcome of the last action, or why the last refresh failed.
    pub status: Option<String>,
    pub now_ms: i64,
    /// Draw the key help line (not in `top --once`).
    pub interactive: bool,
}

impl App {
    pub fn new(now_ms: i64, interactive: bool) -> App {
        App {
            rows: Vec::new(),
            sparks: HashMap::new(),
            filter: String::new(),
            mode: Mode::Normal,
            view: View::Table,
            detail: None,
            selected: 0,
            offset: 0,
            page: usize::MAX,
            status: None,
            now_ms,
            interactive,
        }
    }

    /// The rows the filter lets through, in order.
    pub fn visible(&self) -> Vec<&ServiceRow> {
        self.rows
            .iter()
            .filter(|r| r.matches(&self.filter))
            .collect()
    }

    pub fn selected_row(&self) -> Option<&ServiceRow> {
        self.visible().get(self.selected).copied()
    }

    /// New rows from a refresh; the selection stays on the same service
    /// when it is still shown.
    pub fn set_rows(&mut self, rows: Vec<ServiceRow>, now_ms: i64) {
        let keep = self.selected_row().map(|r| r.service_id.clone());
        self.rows = rows;
        self.now_ms = now_ms;
        if let Some(id) = keep
            && let Some(i) = self.visible().iter().position(|r| r.service_id == id)
        {
            self.selected = i;
        }
        self.clamp();
    }

    /// The ids of the rows on screen whose sparkline is missing or older
    /// than their last run.
    pub fn stale_sparks(&self) -> Vec<String> {
        self.visible()
            .into_iter()
            .skip(self.offset)
            .take(self.page)
            .filter(|r| {
                self.sparks
                    .get(&r.service_id)
                    .is_none_or(|s| s.last_run_id != r.last_run_id)
            })
            .map(|r| r.service_id.clone())
            .collect()
    }

    /// Store sparkline runs read for `ids` (a service without runs gets an
    /// empty one, so it is not asked for again until it runs).
    pub fn set_sparks(&mut self, ids: &[String], mut runs: HashMap<String, Vec<RecentRun>>) {
        let last: HashMap<&str, Option<String>> = self
            .rows
            .iter()
            .map(|r| (r.service_id.as_str(), r.last_run_id.clone()))
            .collect();
        for id in ids {
            let spark = Spark {
                last_run_id: last.get(id.as_str()).cloned().flatten(),
                runs: runs.remove(id).unwrap_or_default(),
            };
            self.sparks.insert(id.clone(), spark);
        }
    }

    /// Room for `page` rows: keep the selection on screen.
    pub fn set_page(&mut self, page: usize) {
        self.page = page.max(1);
        self.clamp();
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        self.selected = self.selected.min(n.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        }
        if self.page != usize::MAX && self.selected >= self.offset + self.page {
            self.offset = self.selected + 1 - self.page;
        }
        self.offset = self.offset.min(n.saturating_sub(1));
    }

    fn move_by(&mut self, delta: isize) {
        let n = self.visible().len();
        if n == 0 {
            return;
        }
        self.selected = self.selected.saturating_add_signed(delta).min(n - 1);
        self.clamp();
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Command {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Command::Quit;
        }
        match self.mode.clone() {
            Mode::Filter => self.filter_key(key),
            Mode::Confirm(act, id, label) => self.confirm_key(key, act, id, label),
            Mode::Normal => self.normal_key(key),
        }
    }

    fn filter_key(&mut self, key: KeyEvent) -> Command {
        match key.code {
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Esc => {
                self.filter.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) => self.filter.push(c),
            _ => {}
        }
        self.selected = 0;
        self.offset = 0;
        self.clamp();
        Command::Nothing
    }

    fn confirm_key(&mut self, key: KeyEvent, act: Act, id: String, label: String) -> Command {
        self.mode = Mode::Normal;
        match key.code {
            KeyCode::Char('y' | 'Y') => {
                self.status = Some(format!("{} {label}: working…", act.verb()));
                Command::Run(act, id)
            }
            _ => {
                self.status = Some(format!("{} {label}: cancelled", act.verb()));
                Command::Nothing
            }
        }
    }

    /// The service an action or Enter applies to: the one in the detail
    /// view, else the selected row.
    fn target(&self) -> Option<(String, String)> {
        match &self.view {
            View::Detail(id) => {
                let label = self
                    .rows
                    .iter()
                    .find(|r| &r.service_id == id)
                    .map_or(id.as_str(), |r| r.label());
                Some((id.clone(), label.to_string()))
            }
            View::Table => self
                .selected_row()
                .map(|r| (r.service_id.clone(), r.label().to_string())),
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Command {
        let in_detail = matches!(self.view, View::Detail(_));
        match key.code {
            KeyCode::Char('q') => return Command::Quit,
            KeyCode::Esc if in_detail => {
                self.view = View::Table;
                self.detail = None;
            }
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.clamp();
            }
            KeyCode::Esc => return Command::Quit,
            KeyCode::Down | KeyCode::Char('j') if !in_detail => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') if !in_detail => self.move_by(-1),
            KeyCode::PageDown if !in_detail => self.move_by(self.page.min(1000) as isize),
            KeyCode::PageUp if !in_detail => self.move_by(-(self.page.min(1000) as isize)),
            KeyCode::Home | KeyCode::Char('g') if !in_detail => self.move_by(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') if !in_detail => self.move_by(isize::MAX / 2),
            KeyCode::Char('/') if !in_detail => self.mode = Mode::Filter,
            KeyCode::Enter if !in_detail => {
                if let Some((id, _)) = self.target() {
                    self.view = View::Detail(id.clone());
                    return Command::OpenDetail(id);
                }
            }
            KeyCode::Char(c @ ('t' | 'p' | 'r')) => {
                let act = match c {
                    't' => Act::Trigger,
                    'p' => Act::Pause,
                    _ => Act::Resume,
                };
                if let Some((id, label)) = self.target() {
                    self.mode = Mode::Confirm(act, id, label);
                }
            }
            _ => {}
        }
        Command::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SchedulerState;

    fn row(id: &str, name: &str, tags: &[&str]) -> ServiceRow {
        ServiceRow {
            service_id: id.into(),
            name: Some(name.into()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            state: SchedulerState::Idle,
            last_outcome: None,
            last_run_ms: None,
            next_run_ms: None,
            consecutive_failures: 0,
            paused_reason: None,
            last_run_id: None,
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app() -> App {
        let mut app = App::new(0, true);
        app.set_rows(
            vec![
                row("a1", "api", &["team-a"]),
                row("b2", "web", &["team-b"]),
                row("c3", "docs", &["team-a", "nightly"]),
            ],
            0,
        );
        app
    }

    #[test]
    fn the_filter_matches_name_id_or_tag_and_esc_clears_it() {
        let mut app = app();
        assert_eq!(app.handle_key(key(KeyCode::Char('/'))), Command::Nothing);
        for c in "TEAM-A".chars() {
            app.handle_key(key(KeyCode::Char(c)));
        }
        let shown: Vec<&str> = app.visible().iter().map(|r| r.label()).collect();
        assert_eq!(shown, ["api", "docs"]);
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(app.mode, Mode::Normal);
        app.handle_key(key(KeyCode::Down));
        assert_eq!(app.selected_row().unwrap().label(), "docs");
        // Esc with a filter clears it (and does not quit)...
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Command::Nothing);
        assert_eq!(app.visible().len(), 3);
        // ...and without one, quits.
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Command::Quit);
        app.filter = "b2".into();
        assert_eq!(app.visible()[0].label(), "web");
    }

    #[test]
    fn an_action_runs_only_after_yes() {
        let mut app = app();
        app.handle_key(key(KeyCode::Char('j')));
        app.handle_key(key(KeyCode::Char('p')));
        assert_eq!(
            app.mode,
            Mode::Confirm(Act::Pause, "b2".into(), "web".into())
        );
        assert_eq!(app.handle_key(key(KeyCode::Char('n'))), Command::Nothing);
        assert_eq!(app.status.as_deref(), Some("pause web: cancelled"));
        app.handle_key(key(KeyCode::Char('t')));
        assert_eq!(
            app.handle_key(key(KeyCode::Char('y'))),
            Command::Run(Act::Trigger, "b2".into())
        );
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn enter_opens_the_detail_and_esc_goes_back_to_the_same_row() {
        let mut app = app();
        app.handle_key(key(KeyCode::Down));
        app.handle_key(key(KeyCode::Down));
        assert_eq!(
            app.handle_key(key(KeyCode::Enter)),
            Command::OpenDetail("c3".into())
        );
        assert_eq!(app.view, View::Detail("c3".into()));
        // Movement keys do nothing in the detail; actions apply to it.
        app.handle_key(key(KeyCode::Up));
        app.handle_key(key(KeyCode::Char('r')));
        assert_eq!(
            app.mode,
            Mode::Confirm(Act::Resume, "c3".into(), "docs".into())
        );
        app.handle_key(key(KeyCode::Char('n')));
        app.handle_key(key(KeyCode::Esc));
        assert_eq!(app.view, View::Table);
        assert_eq!(app.selected_row().unwrap().label(), "docs");
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Command::Quit);
    }

    #[test]
    fn the_selection_follows_its_service_across_refreshes_and_stays_on_screen() {
        let mut app = app();
        app.set_page(2);
        app.handle_key(key(KeyCode::End));
        assert_eq!((app.selected, app.offset), (2, 1));
        // docs moves to the top (say it failed): the selection follows it.
        let mut rows = app.rows.clone();
        rows.rotate_right(1);
        app.set_rows(rows, 1);
        assert_eq!(app.selected_row().unwrap().label(), "docs");
        assert_eq!((app.selected, app.offset), (0, 0));
        assert_eq!(app.stale_sparks(), ["c3", "a1"]);
    }
}
