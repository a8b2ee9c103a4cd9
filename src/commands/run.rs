//! The hidden `run --service-id`: what the scheduler invokes. Always robot
//! output, always exit 0 — the policy, not the scheduler, decides retries.

use crate::cli::RunArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::identity::is_valid_service_id;
use crate::runner::{self, RunReport};
use crate::schedule::CatchUp;
use crate::store::manifest::Manifest;
use crate::store::status::{StatusFile, Trigger};

pub fn run(ctx: &Context, args: &RunArgs) -> Result<RunReport> {
    if !is_valid_service_id(&args.service_id) {
        return Err(Error::invalid_argument(format!(
            "'{}' is not a valid service id",
            args.service_id
        )));
    }
    if std::env::var(CATCH_UP_ENV).as_deref() == Ok("1")
        && let Some(nothing) = nothing_missed(ctx, &args.service_id)?
    {
        return Ok(nothing);
    }
    runner::execute(ctx, &args.service_id, Trigger::Scheduled, false, false)
}

/// Set to 1 by the boot or login entry of a calendar service on a
/// scheduler that does not catch up by itself (cron's `@reboot` line):
/// the run goes ahead only when a slot passed since the last run, once
/// however many passed.
pub const CATCH_UP_ENV: &str = "SYNCFLEET_CATCH_UP";

/// The report of a catch-up start with nothing to catch up, or None when
/// a slot was missed (the run goes ahead).
fn nothing_missed(ctx: &Context, id: &str) -> Result<Option<RunReport>> {
    let Some(manifest) = Manifest::read(&ctx.data_dir.manifest_path(id))? else {
        return Ok(None);
    };
    let Some(calendar) = manifest
        .calendar
        .as_ref()
        .filter(|c| c.catch_up == CatchUp::Latest)
    else {
        return Ok(Some(RunReport::nothing_to_catch_up(
            id,
            "the service does not catch up missed runs".into(),
        )));
    };
    let status = StatusFile::read(&ctx.data_dir.status_path(id))
        .ok()
        .flatten()
        .unwrap_or_default();
    let since_ms = status
        .last_run
        .as_ref()
        .map(|r| r.timestamp_ms)
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&manifest.installed_at_iso)
                .ok()
                .map(|t| t.timestamp_millis())
        })
        .unwrap_or(i64::MAX);
    let (Some(since), Some(now)) = (
        chrono::DateTime::from_timestamp_millis(since_ms),
        chrono::DateTime::from_timestamp_millis(ctx.now_ms()),
    ) else {
        return Ok(None);
    };
    Ok(match calendar.slot_between(since, now) {
        Some(_) => None,
        None => Some(RunReport::nothing_to_catch_up(
            id,
            format!(
                "no slot of {} passed since {}",
                calendar.describe(),
                crate::output::iso_ms(since_ms)
            ),
        )),
    })
}
