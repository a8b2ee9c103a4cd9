//! The hidden `run --service-id`: what the scheduler invokes. Always robot
//! output, always exit 0 — the policy, not the scheduler, decides retries.

use crate::cli::RunArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::identity::is_valid_service_id;
use crate::runner::{self, RunReport};
use crate::store::status::Trigger;

pub fn run(ctx: &Context, args: &RunArgs) -> Result<RunReport> {
    if !is_valid_service_id(&args.service_id) {
        return Err(Error::invalid_argument(format!(
            "'{}' is not a valid service id",
            args.service_id
        )));
    }
    runner::execute(ctx, &args.service_id, Trigger::Scheduled, false, false)
}
