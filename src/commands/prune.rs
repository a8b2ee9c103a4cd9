//! `syncfleet prune --older-than 90d`: drop old runs from the registry and
//! compact each runs.jsonl atomically, always keeping a service's most
//! recent runs. Each file is rewritten under its pipeline lock, so a run
//! cannot append to the old file while the new one replaces it.

use crate::cli::PruneArgs;
use crate::context::Context;
use crate::duration::parse_duration_ms;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::output::{Render, Ui, iso_ms};
use serde::Serialize;

/// Every service keeps at least this many of its most recent runs.
pub const KEEP_RECENT: usize = 100;

#[derive(Debug, Serialize)]
pub struct PrunedService {
    pub service_id: String,
    pub removed: usize,
    pub kept: usize,
}

#[derive(Debug, Serialize)]
pub struct PruneReport {
    pub cutoff_iso: String,
    pub dry_run: bool,
    pub removed_runs: usize,
    pub services: Vec<PrunedService>,
}

impl Render for PruneReport {
    fn human(&self, ui: &Ui) -> String {
        let verb = if self.dry_run {
            "Would remove"
        } else {
            "Removed"
        };
        let mut out = format!(
            "{} {} runs started before {} from {} services (each keeps its {KEEP_RECENT} most recent).\n",
            ui.bold(verb),
            self.removed_runs,
            self.cutoff_iso,
            self.services.len()
        );
        for s in &self.services {
            out.push_str(&format!(
                "  {:<14} -{} (kept {})\n",
                s.service_id, s.removed, s.kept
            ));
        }
        out
    }
}

/// Which lines of a history file stay: runs at or after the cutoff, the
/// `keep` most recent, and lines that are not readable runs, byte for byte
/// (never drop or re-encode what we do not understand: `repair` owns them).
pub fn lines_to_keep(bytes: &[u8], cutoff_ms: i64, keep: usize) -> (Vec<&[u8]>, usize) {
    let lines: Vec<(&[u8], Option<i64>)> = crate::store::runs::split_lines(bytes)
        .filter_map(|l| match crate::store::runs::classify(l) {
            crate::store::runs::Line::Blank => None,
            crate::store::runs::Line::Run(r) => Some((l, Some(r.timestamp_ms))),
            crate::store::runs::Line::Bad(_) => Some((l, None)),
        })
        .collect();
    let mut times: Vec<i64> = lines.iter().filter_map(|(_, t)| *t).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    // The keep-th most recent start; runs at or after it stay.
    let floor = times
        .get(keep.saturating_sub(1))
        .copied()
        .unwrap_or(i64::MIN);
    let threshold = cutoff_ms.min(if times.len() > keep { floor } else { i64::MIN });
    let mut removed = 0;
    let kept = lines
        .into_iter()
        .filter(|(_, t)| match t {
            Some(t) if *t < threshold => {
                removed += 1;
                false
            }
            _ => true,
        })
        .map(|(l, _)| l)
        .collect();
    (kept, removed)
}

pub fn run(ctx: &Context, args: &PruneArgs) -> Result<PruneReport> {
    let age = parse_duration_ms(&args.older_than)
        .map_err(|e| Error::invalid_argument(format!("--older-than: {e}")))?;
    let cutoff = ctx.now_ms() - age as i64;
    let reg = crate::index::open_for_reading(ctx)?;
    let entries = reg.services(&crate::registry::ServiceFilter {
        include_uninstalled: true,
        ..Default::default()
    })?;
    let bar = crate::batch::progress(&ctx.ui, entries.len(), "prune");
    let mut services = Vec::new();
    for e in &entries {
        bar.inc(1);
        let id = &e.service_id;
        let path = ctx.data_dir.runs_path(id);
        let group = e.lock_group.clone().unwrap_or_else(|| id.clone());
        let _pipeline = if args.dry_run {
            None
        } else {
            Some(crate::service::pipeline_lock(ctx, &group)?)
        };
        let bytes = fsutil::read_optional(&path)
            .map_err(|e| Error::io("read", &path, e))?
            .unwrap_or_default();
        let (kept, removed) = lines_to_keep(&bytes, cutoff, KEEP_RECENT);
        if removed == 0 {
            continue;
        }
        if !args.dry_run {
            let mut content = kept.join(&b'\n');
            content.push(b'\n');
            fsutil::write_atomic(&path, &content).map_err(|e| Error::io("write", &path, e))?;
            reg.write(|reg| {
                reg.prune(id, cutoff, KEEP_RECENT)?;
                // The file was rewritten: re-read it from the start (run
                // ids make that idempotent) so the marker fits the new file.
                reg.set_runs_offset(id, 0)?;
                crate::index::import_runs(reg, &ctx.data_dir, id).map(|_| ())
            })?;
        }
        services.push(PrunedService {
            service_id: id.clone(),
            removed,
            kept: kept.len(),
        });
    }
    bar.finish_and_clear();
    Ok(PruneReport {
        cutoff_iso: iso_ms(cutoff),
        dry_run: args.dry_run,
        removed_runs: services.iter().map(|s| s.removed).sum(),
        services,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status::{Outcome, make_run};

    #[test]
    fn keeps_recent_runs_and_unparseable_lines() {
        let mut text = String::new();
        for ts in 0..10 {
            text.push_str(&serde_json::to_string(&make_run(ts * 100, Outcome::Success)).unwrap());
            text.push('\n');
        }
        text.push_str("not json\n");
        let mut text = text.into_bytes();
        text.extend_from_slice(b"\xff not utf-8\n");
        // Cutoff 550: runs 0..=500 are old, but 3 most recent must stay anyway.
        let (kept, removed) = lines_to_keep(&text, 550, 3);
        assert_eq!(removed, 6);
        assert_eq!(kept.len(), 6, "600..900 and the two unreadable lines");
        assert_eq!(kept[5], b"\xff not utf-8", "kept byte for byte");
        // With keep larger than the history, nothing goes.
        let (_, removed) = lines_to_keep(&text, 550, 100);
        assert_eq!(removed, 0);
        // Keep 1 with an old history: only the newest stays.
        let (kept, removed) = lines_to_keep(&text, 10_000, 1);
        assert_eq!((kept.len(), removed), (3, 9));
    }
}
