//! `syncfleet metrics`: the fleet's Prometheus text exposition on stdout,
//! one document with each family once: the series the files of the
//! metrics directory hold between them (see `crate::metrics`). It also
//! brings every file up to date, so that `path` holds what was printed.

use crate::cli::MetricsArgs;
use crate::context::Context;
use crate::error::Result;
use crate::output::{Render, Ui};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    /// The text exposition (Prometheus format 0.0.4).
    pub exposition: String,
    /// The metrics directory (`syncfleet-fleet.prom` and one
    /// `syncfleet-svc-<id>.prom` per installed service).
    pub path: String,
    /// Whether the files were brought up to date with this text (a failure
    /// is a warning on stderr).
    pub written: bool,
}

impl Render for MetricsReport {
    /// The exposition itself, so that it pipes into promtool or curl.
    fn human(&self, _ui: &Ui) -> String {
        self.exposition.clone()
    }
}

pub fn run(ctx: &Context, args: &MetricsArgs) -> Result<MetricsReport> {
    let reg = crate::index::open_for_reading(ctx)?;
    if let Some(dir) = &args.dir {
        // Moved: the files follow, and the old directory keeps none of them.
        let before = crate::metrics::dir_of(ctx);
        crate::metrics::save_dir(&ctx.data_dir, std::path::Path::new(dir))?;
        if crate::metrics::dir_of(ctx) != before {
            crate::metrics::remove_files(&before)?;
        }
    }
    let (path, exposition, written) = match crate::metrics::rewrite(ctx) {
        Ok((path, text)) => (path, text, true),
        Err(e) => {
            tracing::warn!("the metrics files were not rewritten: {}", e.message);
            let text = crate::metrics::exposition(ctx, reg)?;
            (crate::metrics::dir_of(ctx), text, false)
        }
    };
    Ok(MetricsReport {
        exposition,
        path: path.display().to_string(),
        written,
    })
}
