//! `syncfleet reindex`: rebuild the registry from the service files. Safe
//! to repeat (run ids are unique); a corrupt registry is moved aside first.

use crate::cli::ReindexArgs;
use crate::context::Context;
use crate::error::Result;
use crate::index::{self, RebuildReport};
use crate::output::{Render, Ui};

impl Render for RebuildReport {
    fn human(&self, ui: &Ui) -> String {
        let mut out = String::new();
        if let Some(b) = &self.corrupt_backup {
            out.push_str(&format!(
                "{} the registry was unusable; moved it to {b}\n",
                ui.yellow("warning:")
            ));
        }
        out.push_str(&format!(
            "{}\n  Service directories: {}\n  Installed services:  {}\n  Runs imported:       {} new, {} in total\n",
            ui.bold("Registry rebuilt from the service files:"),
            self.fill.services,
            self.fill.installed,
            self.fill.runs_imported,
            self.fill.runs_total
        ));
        if self.fill.lines_skipped > 0 {
            out.push_str(&format!(
                "{} {} history lines are not readable runs and were skipped:\n",
                ui.yellow("warning:"),
                self.fill.lines_skipped
            ));
            for b in &self.fill.bad_lines {
                let fix = if b.skipped.corrupt() > 0 {
                    format!("syncfleet repair --service {}", b.service_id)
                } else {
                    "upgrade syncfleet to read them".to_string()
                };
                out.push_str(&format!(
                    "  {}: {}; fix: {fix}\n",
                    b.service_id,
                    b.skipped.describe(),
                ));
            }
        }
        out
    }
}

pub fn run(ctx: &Context, _args: &ReindexArgs) -> Result<RebuildReport> {
    index::rebuild(&ctx.data_dir, ctx.now_ms())
}
