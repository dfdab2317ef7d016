//! UntagResource: RemoveTagsFromStream addressed by the stream's ARN.

use strait_core::StreamOperations;

use super::common::Checks;
use super::{Context, Reply, resources, tags};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let arn = resources::read_resource_arn(input, &mut checks)?;
    let keys = tags::read_tag_keys(input, &mut checks)?;
    checks.finish()?;
    let (namespace, name) = tags::resolve_resource(&arn.unwrap_or_default())?;
    context
        .operations
        .remove_tags(&namespace, &name, keys.unwrap_or_default())
        .await?;
    Ok(Reply::Empty)
}
