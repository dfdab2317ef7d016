//! RemoveTagsFromStream: remove tags by key; unknown keys are ignored.

use strait_core::StreamOperations;

use super::common::{Checks, StreamMembers};
use super::{Context, Reply, tags};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let keys = tags::read_tag_keys(input, &mut checks)?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    context
        .operations
        .remove_tags(&namespace, &name, keys.unwrap_or_default())
        .await?;
    Ok(Reply::Empty)
}
