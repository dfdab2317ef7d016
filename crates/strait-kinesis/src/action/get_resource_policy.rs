//! GetResourcePolicy: the policy attached to a stream or consumer, verbatim.
//!
//! A resource without a policy answers `{}` (an empty policy document), as moto does; the
//! API notes leave AWS's answer in that case unconfirmed.

use strait_core::StreamOperations;

use super::common::Checks;
use super::{Context, Reply, resources};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The document returned for a resource that has no policy.
const NO_POLICY: &str = "{}";

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let arn = resources::read_resource_arn(input, &mut checks)?;
    checks.finish()?;
    let target = resources::resolve(&arn.unwrap_or_default())?;
    let policy = context.operations.resource_policy(target).await?;
    Ok(Reply::Document(Value::structure([(
        "Policy",
        Value::string(policy.unwrap_or_else(|| NO_POLICY.to_owned())),
    )])))
}
