//! UpdateAccountSettings: enable or disable the minimum throughput billing commitment.
//!
//! The change is synchronous: the answer holds the settings as they now are. A commitment
//! lasts at least 24 hours; disabling it earlier leaves it
//! `ENABLED_UNTIL_EARLIEST_ALLOWED_END`, and enabling it again before then cancels the end.

use strait_core::{StreamOperations, Violation};

use super::common::Checks;
use super::{Context, Reply, account};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The statuses a request may ask for.
const STATUSES: [&str; 2] = ["ENABLED", "DISABLED"];

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let field = "minimumThroughputBillingCommitment.status";
    let status = match input.structure("MinimumThroughputBillingCommitment")? {
        None => {
            checks.push(Violation::missing("minimumThroughputBillingCommitment"));
            None
        }
        Some(commitment) => checks.required_string(&commitment, "Status", field)?,
    };
    if let Some(status) = status.as_deref().filter(|s| !STATUSES.contains(s)) {
        checks.push(Violation::enum_value(status, field, &STATUSES));
    }
    checks.finish()?;
    let enabled = status.as_deref() == Some("ENABLED");
    let settings = context
        .operations
        .set_billing_commitment(&context.namespace, enabled)
        .await?;
    Ok(Reply::Document(Value::structure([(
        "MinimumThroughputBillingCommitment",
        account::commitment(&settings),
    )])))
}
