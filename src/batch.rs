//! Fleet operations over many services or workspaces: one result per item,
//! going on past failures, a progress bar on stderr (TTY only, never in
//! robot mode), and a non-zero exit when any item failed.

use crate::error::Error;
use crate::logging::Progress;
use crate::output::{Render, Ui};
use serde::Serialize;

/// One item of a batch: its result, or the error it failed with.
#[derive(Debug, Serialize)]
pub struct BatchItem<T> {
    /// The service id, or the workspace path for install.
    pub target: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

#[derive(Debug, Serialize)]
pub struct Batch<T> {
    pub items: Vec<BatchItem<T>>,
    pub succeeded: usize,
    pub failed: usize,
}

impl<T> Batch<T> {
    pub fn new() -> Batch<T> {
        Batch {
            items: Vec::new(),
            succeeded: 0,
            failed: 0,
        }
    }

    pub fn push(&mut self, target: impl Into<String>, result: Result<T, Error>) {
        let target = target.into();
        match result {
            Ok(v) => {
                self.succeeded += 1;
                self.items.push(BatchItem {
                    target,
                    ok: true,
                    result: Some(v),
                    error: None,
                });
            }
            Err(e) => {
                self.failed += 1;
                self.items.push(BatchItem {
                    target,
                    ok: false,
                    result: None,
                    error: Some(e),
                });
            }
        }
    }

    /// The first failure's exit status, so a batch of one kind of failure
    /// exits like that failure would alone.
    pub fn failure_exit_code(&self) -> u8 {
        self.items
            .iter()
            .find_map(|i| i.error.as_ref().map(Error::exit_code))
            .unwrap_or(0)
    }
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch::new()
    }
}

impl<T: Render> Batch<T> {
    pub fn human_items(&self, ui: &Ui) -> String {
        let mut out = String::new();
        for item in &self.items {
            match (&item.result, &item.error) {
                (Some(r), _) => match r.batch_line(ui) {
                    Some(line) => {
                        out.push_str(&line);
                        out.push('\n');
                    }
                    None => out.push_str(&r.human(ui)),
                },
                (_, Some(e)) => {
                    out.push_str(&format!(
                        "{} {}: {}\n",
                        ui.red("failed:"),
                        item.target,
                        e.message
                    ));
                    if let Some(s) = &e.suggestion {
                        out.push_str(&format!("  fix: {s}\n"));
                    }
                }
                _ => {}
            }
        }
        out
    }
}

impl<T: Render> Batch<T> {
    /// The first item's non-zero exit status, a failed item's or a
    /// result's own (a triggered run that failed), in order.
    pub fn items_exit_code(&self) -> u8 {
        self.items
            .iter()
            .map(|i| match (&i.error, &i.result) {
                (Some(e), _) => e.exit_code(),
                (None, Some(r)) => r.exit_code(),
                (None, None) => 0,
            })
            .find(|code| *code != 0)
            .unwrap_or(0)
    }
}

impl<T: Render> Render for Batch<T> {
    fn human(&self, ui: &Ui) -> String {
        let mut out = self.human_items(ui);
        out.push_str(&format!(
            "\n{} {} succeeded, {} failed\n",
            ui.bold("Done:"),
            self.succeeded,
            self.failed
        ));
        out
    }
    fn exit_code(&self) -> u8 {
        self.items_exit_code()
    }
}

/// A single-service command's result, or a batch's when several services
/// were selected. Robot output is the plain result or `{items, …}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Batch<T>),
}

impl<T: Render> Render for OneOrMany<T> {
    fn human(&self, ui: &Ui) -> String {
        match self {
            OneOrMany::One(r) => r.human(ui),
            OneOrMany::Many(b) => b.human(ui),
        }
    }
    fn exit_code(&self) -> u8 {
        match self {
            OneOrMany::One(r) => r.exit_code(),
            OneOrMany::Many(b) => b.exit_code(),
        }
    }
}

/// A progress bar for `len` items on stderr, or a hidden one when stderr
/// is not a terminal, in robot mode, or with -q.
pub fn progress(ui: &Ui, len: usize, what: &str) -> Progress {
    if !ui.interactive || ui.robot || ui.quiet || len < 2 {
        return Progress::new(indicatif::ProgressBar::hidden());
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    Progress::new(bar)
}

/// Apply `f` to each target, collecting a result per target.
pub fn for_each<T>(
    ui: &Ui,
    what: &str,
    targets: &[String],
    mut f: impl FnMut(&str) -> Result<T, Error>,
) -> Batch<T> {
    let bar = progress(ui, targets.len(), what);
    let mut batch = Batch::new();
    for t in targets {
        batch.push(t.clone(), f(t));
        bar.inc(1);
    }
    bar.finish_and_clear();
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[derive(Serialize)]
    struct Done(String);
    impl Render for Done {
        fn human(&self, _: &Ui) -> String {
            format!("done {}\n", self.0)
        }
    }

    #[test]
    fn a_batch_goes_on_past_failures_and_exits_like_the_first() {
        let ui = Ui::plain(80);
        let targets = vec!["a".to_string(), "b".into(), "c".into()];
        let batch = for_each(&ui, "x", &targets, |t| {
            if t == "b" {
                Err(Error::new(ErrorCode::ServiceNotFound, "no b"))
            } else {
                Ok(Done(t.to_string()))
            }
        });
        assert_eq!((batch.succeeded, batch.failed), (2, 1));
        assert_eq!(batch.exit_code(), ErrorCode::ServiceNotFound.exit_code());
        let text = batch.human(&ui);
        assert!(
            text.contains("done a") && text.contains("done c") && text.contains("failed: b: no b")
        );
        let v = serde_json::to_value(&batch).unwrap();
        assert_eq!(v["items"][1]["error"]["code"], "SERVICE_NOT_FOUND");
        assert_eq!(v["items"][0]["ok"], true);
    }
}
