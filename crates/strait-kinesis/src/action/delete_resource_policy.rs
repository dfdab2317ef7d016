//! DeleteResourcePolicy: remove the policy attached to a stream or consumer. A resource
//! without one answers ResourceNotFoundException ("No resource policy found for resource
//! ARN <arn>.").

use strait_core::StreamOperations;

use super::common::Checks;
use super::{Context, Reply, resources};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let arn = resources::read_resource_arn(input, &mut checks)?;
    checks.finish()?;
    let target = resources::resolve(&arn.unwrap_or_default())?;
    context.operations.set_resource_policy(target, None).await?;
    Ok(Reply::Empty)
}
