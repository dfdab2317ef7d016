//! PutResourcePolicy: attach a resource-based policy to a stream or consumer.
//!
//! Strait stores the document verbatim and evaluates nothing; it only checks that the
//! document is JSON, since a policy that is not could never be evaluated by anyone.

use strait_core::{StraitError, StreamOperations};

use super::common::Checks;
use super::{Context, Reply, resources};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let arn = resources::read_resource_arn(input, &mut checks)?;
    let policy = checks.required_string(input, "Policy", "policy")?;
    checks.finish()?;
    let target = resources::resolve(&arn.unwrap_or_default())?;
    let policy = policy.unwrap_or_default();
    if serde_json::from_str::<serde_json::Value>(&policy).is_err() {
        return Err(StraitError::invalid_argument("The policy document is not valid JSON.").into());
    }
    context
        .operations
        .set_resource_policy(target, Some(policy))
        .await?;
    Ok(Reply::Empty)
}
