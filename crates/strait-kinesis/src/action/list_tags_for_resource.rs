//! ListTagsForResource: every tag of the stream an ARN names.

use strait_core::StreamOperations;

use super::common::Checks;
use super::{Context, Reply, resources, tags};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let arn = resources::read_resource_arn(input, &mut checks)?;
    checks.finish()?;
    let (namespace, name) = tags::resolve_resource(&arn.unwrap_or_default())?;
    let all = context.operations.list_tags(&namespace, &name).await?;
    Ok(Reply::Document(Value::structure([("Tags", tags::render(all))])))
}
