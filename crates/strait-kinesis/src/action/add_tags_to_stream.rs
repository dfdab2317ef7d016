//! AddTagsToStream: add or overwrite a stream's tags (at most 50 in all).

use strait_core::StreamOperations;

use super::common::{Checks, StreamMembers};
use super::{Context, Reply, tags};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let new_tags = tags::read_tags(input, &mut checks)?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    context
        .operations
        .add_tags(&namespace, &name, new_tags.unwrap_or_default())
        .await?;
    Ok(Reply::Empty)
}
