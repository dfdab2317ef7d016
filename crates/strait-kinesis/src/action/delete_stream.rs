//! DeleteStream: the stream and its records go away.

use strait_core::{StraitError, StreamOperations};

use super::common::{Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let enforce = input.boolean("EnforceConsumerDeletion")?.unwrap_or(false);
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    // Registered consumers block the deletion unless the caller asks for them to go too;
    // they are then dropped with the stream's other settings.
    if !enforce
        && !context
            .operations
            .list_consumers(&namespace, &name)
            .await?
            .is_empty()
    {
        return Err(StraitError::resource_in_use(format!(
            "Stream {name} under account {} has registered consumers; deregister them or set EnforceConsumerDeletion.",
            namespace.account
        ))
        .into());
    }
    context.operations.delete_stream(&namespace, &name).await?;
    Ok(Reply::Empty)
}
