//! `syncfleet metrics`: the fleet's Prometheus text exposition on stdout,
//! the same text the metrics file holds (see `crate::metrics`). It also
//! rewrites the file, so that `path` holds exactly what was printed.

use crate::cli::MetricsArgs;
use crate::context::Context;
use crate::error::Result;
use crate::output::{Render, Ui};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    /// The text exposition (Prometheus format 0.0.4).
    pub exposition: String,
    /// The metrics file.
    pub path: String,
    /// Whether the file was rewritten with this text (a failure is a
    /// warning on stderr).
    pub written: bool,
}

impl Render for MetricsReport {
    /// The exposition itself, so that it pipes into promtool or curl.
    fn human(&self, _ui: &Ui) -> String {
        self.exposition.clone()
    }
}

pub fn run(ctx: &Context, _args: &MetricsArgs) -> Result<MetricsReport> {
    let reg = crate::index::open_for_reading(ctx)?;
    let (path, exposition, written) = match crate::metrics::rewrite(ctx) {
        Ok((path, text)) => (path, text, true),
        Err(e) => {
            tracing::warn!("the metrics file was not rewritten: {}", e.message);
            let text = crate::metrics::exposition(ctx, reg)?;
            (crate::metrics::file_path(ctx), text, false)
        }
    };
    Ok(MetricsReport {
        exposition,
        path: path.display().to_string(),
        written,
    })
}
